//! Batch operations over JSON text, one call per batch: what a server or a Worker holds (the
//! request body, the stored users as text) in, the response body and the new stored records as
//! text out. The npm package's `upsertUsers`, `partialUpdateUsers` and `normalizeUsernames`, and
//! the writes of `UserStore`.
//!
//! Each operation runs over [`Record`]s: typed top-level fields over the JSON text, custom data
//! copied as text and never built into a tree (a partial update parses only the fields its
//! dotted paths reach into), the body read once, validation done while reading. The rules are
//! `ops`' own, written once over both forms of a user ([`crate::core::model::form`]), and the
//! errors are theirs, in the order the batch operations over trees met them before these
//! replaced them (issue 23): text that is not JSON (serde_json's words), the body's shape, each
//! user's own checks, then what needs the stored users. A record's checks word their errors
//! themselves. A user a record cannot hold exactly (an escaped quote in a key, a nested object
//! with a repeated member, a dotted path through an escaped member, …) goes through the same
//! rules as a `serde_json` tree, alone: the tree words its error, and the other users' records
//! are written as they would be without it. Records are written in canonical form ([`crate::core::model::scan::canonical`]).
//! `tests/core_batch.rs` checks the answers and errors against its corpus (`tests/corpus/`,
//! written from those operations over trees), on seeded cases and on bodies of every kind.

use crate::core::access::auth::Caller;
use crate::core::model::edit::FieldEdit;
use crate::core::model::fields::Kind;
use crate::core::model::form::UserForm;
use crate::core::model::pairs;
use crate::core::model::partial::{self, FieldPath};
use crate::core::model::record::{Field, Record, FIELD_DEPTH};
use crate::core::model::scan::{Measure, Scan};
use crate::core::model::set;
use crate::core::model::settings::AppSettings;
use crate::core::model::user::{self, User};
use crate::core::model::validate;
use crate::core::ops;
use crate::core::query::tenancy;
use crate::core::wire::error::{ApiError, Result};
use crate::core::wire::json;
use crate::core::wire::time::Timestamp;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::ops::Range;

mod merge;
mod names;
mod patch;
pub use merge::upsert;
pub use names::{normalize_names, normalize_names_utf16};
pub use patch::partial_update;

/// What a batch write returns: the response body, and where each user's new record is in it
/// (`body[range]` is the record to store; it is also the user as the response shows it). The
/// body lists the users by id, as `POST /users` and `PATCH /users` answer (their `users` object
/// is a map); `users` is in the batch's order.
#[derive(Clone, Debug, PartialEq)]
pub struct Written {
    pub body: String,
    pub users: Vec<(String, Range<usize>)>,
    /// What each user of `users` says about the name it holds, where the body has it (`None`:
    /// a user written as a tree): `UserStore`'s index reads it there, not reading each record
    /// again.
    pub namings: Vec<Option<Naming>>,
}

/// A written user as a tree: its id, its tree and its record text ([`Written::trees`]).
pub type TreeOf<'w> = (&'w str, User, &'w str);

/// Where a written user's `name` and `teams` values are in the body, and whether the user is
/// active (neither deactivated nor deleted).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Naming {
    pub name: Option<Range<usize>>,
    pub teams: Option<Range<usize>>,
    pub active: bool,
}

impl Written {
    /// Each user's id and record text.
    pub fn records(&self) -> impl Iterator<Item = (&str, &str)> {
        self.users.iter().map(|(id, r)| (id.as_str(), self.body.get(r.clone()).unwrap_or_default()))
    }
    /// The positions of `users` in the order the uniqueness check takes them, in every shell: an
    /// upsert's (`upsert`) by id, as serde_json's tree of its body's `users` object holds them; a
    /// partial update's in the batch's order.
    pub fn check_order(&self, upsert: bool) -> Vec<usize> {
        match upsert {
            true => pairs::positions_by_key(self.users.len(), &|i| self.users.get(i).map_or("", |(id, _)| id.as_str())),
            false => (0..self.users.len()).collect(),
        }
    }
    /// The written users as trees, each with its id and record text, for a shell whose commit reads
    /// trees (the Worker's Writer: its index columns, events and the uniqueness check through
    /// the driver, [`ops::finish_written`]), in [`Written::check_order`].
    pub fn trees(&self, upsert: bool) -> Result<Vec<TreeOf<'_>>> {
        let order = self.check_order(upsert);
        let mut out = Vec::with_capacity(order.len());
        for (id, range) in order.iter().filter_map(|&i| self.users.get(i)) {
            let text = self.body.get(range.clone()).unwrap_or_default();
            let tree = tree_of(text).ok_or_else(|| ApiError::internal("a written user is not a JSON object"))?;
            out.push((id.as_str(), tree, text));
        }
        Ok(out)
    }
    /// The response as `caller` sees it ([`shown`]: hidden fields removed).
    pub fn answer(&self, caller: &Caller, settings: &AppSettings) -> Result<Value> {
        match hides(caller, settings) {
            true => Ok(shown(&self.body, caller, settings)),
            false => json::parse(&self.body).map_err(|_| ApiError::internal("a written batch is not JSON")),
        }
    }
}

/// Loads stored users' record texts: given the batch's ids (each once), each one's text in the
/// same order (`None`: not stored). Called once per batch: a shell across a boundary (the npm
/// package's JavaScript) crosses it once.
pub type Load<'l> = dyn FnMut(&[&str]) -> Result<Vec<Option<String>>> + 'l;

/// Whether `caller` is a user token writing under the app's server-only fields: its users are
/// guarded as trees ([`tenancy::guard_write`], [`tenancy::check_partial`]).
fn guarded(caller: &Caller, settings: &AppSettings) -> bool {
    matches!(caller, Caller::User(_)) && !settings.server_only_fields().is_empty()
}

/// Whether `caller` is a user token that may not see some fields (`roster_hidden_fields`): a
/// batch's response is then shown to it without them ([`shown`]).
pub fn hides(caller: &Caller, settings: &AppSettings) -> bool {
    matches!(caller, Caller::User(_)) && !settings.hidden_fields().is_empty()
}

/// A batch response (`body`: its users as stored) as `caller` sees it, hidden fields removed.
pub fn shown(body: &str, caller: &Caller, settings: &AppSettings) -> Value {
    let mut response = json::parse(body).unwrap_or_default();
    if let Some(Value::Object(users)) = response.get_mut("users") {
        for user in users.values_mut() {
            if let Value::Object(u) = user {
                *u = tenancy::shown(u, caller, settings);
            }
        }
    }
    response
}

/// A request body as JSON, or Stream's error for text that is not JSON.
pub fn parse_body(body: &str) -> Result<Value> {
    json::parse(body).map_err(ApiError::invalid_body)
}

/// A user, in the form that holds it.
enum Held<'t> {
    Record(Record<'t>),
    Tree(User),
}

impl Held<'_> {
    /// Writes the user as it is stored and answered; a record's [`Naming`] too.
    fn write(&self, out: &mut String) -> Option<Naming> {
        match self {
            Held::Record(record) => {
                let mut naming = Naming { active: record.is_active(), ..Naming::default() };
                record.write_marking(out, &mut |kind, at| match kind {
                    Kind::Name => naming.name = Some(at),
                    Kind::Teams => naming.teams = Some(at),
                    _ => {}
                });
                Some(naming)
            }
            Held::Tree(user) => {
                out.push_str(&json::text(&Value::Object(user::public_view(user))));
                None
            }
        }
    }
}

/// A stored user as a tree (`text`: its stored text): what a record cannot hold or decide.
fn old_tree(old: Option<&Held<'_>>, text: Option<&str>) -> Option<User> {
    match old? {
        Held::Tree(old) => Some(old.clone()),
        Held::Record(_) => tree_of(text?),
    }
}

/// The tree of a user's text (`None`: not a JSON object).
fn tree_of(text: &str) -> Option<User> {
    match json::parse(text).ok()? {
        Value::Object(user) => Some(user),
        _ => None,
    }
}

/// Where a user's record went in the body, and its naming.
type Placed = (Range<usize>, Option<Naming>);

/// Writes `{"users":{"<id>":<record>,…}` and the tail of the response, the users in id order.
struct Writer {
    w: Written,
    upsert: bool,
    /// Each user's id and, once written, its record's place and naming, in the batch's order.
    slots: Vec<(String, Option<Placed>)>,
}

impl Writer {
    /// A writer of the users `ids` (in the batch's order) whose body has room for about
    /// `capacity` bytes.
    fn new(upsert: bool, capacity: usize, ids: Vec<String>) -> Self {
        let mut body = String::with_capacity(capacity);
        body.push_str("{\"users\":{");
        let mut slots = Vec::with_capacity(ids.len());
        for id in ids {
            slots.push((id, None));
        }
        Writer { w: Written { body, users: Vec::new(), namings: Vec::new() }, upsert, slots }
    }
    /// The batch's positions in id order: the order to write them in.
    fn order(&self) -> Vec<usize> {
        pairs::positions_by_key(self.slots.len(), &|i| self.slots.get(i).map_or("", |(id, _)| id.as_str()))
    }
    /// Makes room for about `more` bytes of records.
    fn reserve(&mut self, more: usize) {
        self.w.body.reserve(more);
    }
    /// Writes the user at position `at` of the batch.
    fn user(&mut self, at: usize, user: &Held<'_>) {
        let Some((id, range)) = self.slots.get_mut(at) else { return };
        let body = &mut self.w.body;
        if body.len() > "{\"users\":{".len() {
            body.push(',');
        }
        // Ids are `[A-Za-z0-9@_-]`: nothing to escape.
        body.push('"');
        body.push_str(id);
        body.push_str("\":");
        let start = body.len();
        let naming = user.write(body);
        *range = Some((start..body.len(), naming));
    }
    fn finish(mut self) -> Written {
        self.w.body.push_str(if self.upsert { "},\"membership_deletion_task_id\":\"\"}" } else { "}}" });
        for (id, written) in self.slots {
            if let Some((range, naming)) = written {
                self.w.users.push((id, range));
                self.w.namings.push(naming);
            }
        }
        self.w
    }
}

/// Reads the members of the object at the cursor, calling `member` with each key; keys must be
/// plain and distinct.
fn members<'a>(scan: &mut Scan<'a>, mut member: impl FnMut(&mut Scan<'a>, &'a str) -> Option<()>) -> Option<()> {
    // Sorted, so a batch of 100 ids is checked in about 700 comparisons rather than 5,000.
    let mut seen: Vec<&'a str> = Vec::new();
    let mut more = scan.open(b'{', b'}')?;
    while more {
        let key = scan.string()?.plain()?;
        if !set::insert(&mut seen, key) {
            return None;
        }
        scan.eat(b':')?;
        member(scan, key)?;
        more = scan.more(b'}')?;
    }
    Some(())
}

/// What a request body's `users` holds.
#[derive(PartialEq)]
enum Users {
    /// Nothing: missing or null.
    Absent,
    /// A value of another kind than the operation reads.
    Wrong,
    /// A value the operation read.
    Read,
}

/// A reader of a body's `users`: it reads the value at the cursor (`None`: text it could not
/// walk) and sets its second argument when it skipped a value without checking it.
type ReadUsers<'r, 'a> = dyn FnMut(&mut Scan<'a>, &mut bool) -> Option<()> + 'r;

/// Reads a request body `{users: …}`: `users` by `read` when its value opens with `open`, any
/// other member skipped (a repeated member: the last one counts, as in serde_json's maps). The
/// errors come first as serde_json's tree of the body gives them: text that is not JSON
/// (serde_json's words), then a body that is not an object. When a value was skipped unchecked
/// ([`Scan::skip`]), the whole body is parsed once, to tell whether it is JSON.
fn read_body<'a>(body: &'a str, open: u8, read: &mut ReadUsers<'_, 'a>) -> Result<Users> {
    let mut scan = Scan::new(body);
    let mut skipped = false;
    let users = read_members(&mut scan, open, &mut skipped, read);
    let users = match users {
        Some(users) if scan.at_end() => users,
        _ => return Err(not_json(body)),
    };
    if skipped {
        parse_body(body)?;
    }
    users.ok_or_else(ops::not_an_object)
}

/// The body's members (`None`: text the scanner could not walk; `Some(None)`: not an object).
fn read_members<'a>(
    scan: &mut Scan<'a>,
    open: u8,
    skipped: &mut bool,
    read: &mut ReadUsers<'_, 'a>,
) -> Option<Option<Users>> {
    if scan.peek()? != b'{' {
        scan.skip()?;
        *skipped = true;
        return Some(None);
    }
    let mut users = Users::Absent;
    let mut more = scan.open(b'{', b'}')?;
    while more {
        let key = scan.string()?.value()?;
        scan.eat(b':')?;
        let value = scan.peek()?;
        if key == "users" && value == open {
            read(scan, skipped)?;
            users = Users::Read;
        } else {
            let text = scan.skip()?;
            *skipped = true;
            if key == "users" {
                users = if text == "null" { Users::Absent } else { Users::Wrong };
            }
        }
        more = scan.more(b'}')?;
    }
    Some(Some(users))
}

/// serde_json's error for a body the scanner could not walk: it is not JSON.
fn not_json(body: &str) -> ApiError {
    match parse_body(body) {
        Err(e) => e,
        // The scanner walks any JSON text ([`Scan::skip`]): not reached.
        Ok(_) => ApiError::invalid_body("the body could not be read"),
    }
}

/// The tree of a user's text, or of an entry's, within a body that is JSON.
fn tree_in(body: &str, text: &str) -> Result<Value> {
    json::parse(text).map_err(|_| not_json(body))
}

/// The stored users of the batch's ids, as loaded and read (`None`: not stored). Loaded and
/// read in id order (as the batch operations over trees loaded them): the first unreadable one
/// is the error.
fn read_stored<'t>(texts: &'t [Option<String>], ids: &[&str], order: &[usize]) -> Result<Vec<Option<Held<'t>>>> {
    let mut olds: Vec<Option<Held<'t>>> = (0..texts.len()).map(|_| None).collect();
    for &at in order {
        let (Some(Some(text)), Some(slot)) = (texts.get(at), olds.get_mut(at)) else { continue };
        let id = ids.get(at).copied().unwrap_or_default();
        *slot = Some(match Record::parse(text) {
            Some(record) => Held::Record(record),
            None => Held::Tree(
                tree_of(text).ok_or_else(|| ApiError::input(format!("stored user '{id}' is not a JSON object")))?,
            ),
        });
    }
    Ok(olds)
}

/// The stored records of the batch's ids (`ids`, in the batch's order), as text, asked for in
/// `order`.
fn load_texts(ids: &[&str], order: &[usize], stored: &mut Load<'_>) -> Result<Vec<Option<String>>> {
    let asked: Vec<&str> = order.iter().filter_map(|&at| ids.get(at).copied()).collect();
    let mut texts = vec![None; ids.len()];
    for (&at, text) in order.iter().zip(stored(&asked)?) {
        if let Some(slot) = texts.get_mut(at) {
            *slot = text;
        }
    }
    Ok(texts)
}
