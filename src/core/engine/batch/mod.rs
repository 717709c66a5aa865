//! Batch operations over JSON text, one call per batch: what a server or a Worker holds (the
//! request body, the stored users as text) in, the response body and the new stored records as
//! text out. The npm package's `upsertUsers`, `partialUpdateUsers` and `normalizeUsernames`.
//!
//! Each operation runs over [`Record`]s: typed top-level fields over the JSON text, custom data
//! copied as text and never built into a tree (a partial update parses only the fields its
//! dotted paths reach into), the body read once, validation done while reading. The rules are
//! `ops`' own, written once over both forms of a user ([`crate::core::model::form`]). A user a
//! record cannot hold exactly (an escaped key, custom data within a few bytes of the limit, a
//! path through an escaped member, …) goes through the same rules as a `serde_json` tree, alone,
//! so the other users' records are written as they would be without it. Every error leaves the
//! whole batch to the operation over trees ([`upsert_trees`], [`partial_trees`]: the operations
//! `UserStore` runs, through the same driver), which decides which error comes first and words
//! it exactly as `POST /users` and `PATCH /users` do. Both give equal JSON for the same input
//! (`tests/core_batch.rs` compares them on a seeded corpus).

use crate::core::access::auth::Caller;
use crate::core::engine::drive::{self, Loader, OpFn};
use crate::core::model::edit::FieldEdit;
use crate::core::model::fields::Kind;
use crate::core::model::partial::{self, FieldPath};
use crate::core::model::record::{Field, Record, FIELD_DEPTH};
use crate::core::model::scan::{Measure, Scan};
use crate::core::model::set;
use crate::core::model::settings::AppSettings;
use crate::core::model::user::{self, User, MAX_BATCH, MAX_NESTING};
use crate::core::model::validate;
use crate::core::ops::{self, Snapshot};
use crate::core::wire::error::{ApiError, Operation, Result};
use crate::core::wire::json;
use crate::core::wire::time::Timestamp;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::ops::Range;

mod merge;
mod names;
mod patch;
pub use merge::upsert_records;
pub use names::{normalize_names, normalize_names_utf16};
pub use patch::partial_records;

/// What a batch write returns: the response body, and where each user's new record is in it
/// (`body[range]` is the record to store; it is also the user as the response shows it). The
/// body lists the users by id, as `POST /users` and `PATCH /users` answer (their `users` object
/// is a map); `users` is in the batch's order.
#[derive(Clone, Debug, PartialEq)]
pub struct Written {
    pub body: String,
    pub users: Vec<(String, Range<usize>)>,
}

impl Written {
    /// Each user's id and record text.
    pub fn records(&self) -> impl Iterator<Item = (&str, &str)> {
        self.users.iter().map(|(id, r)| (id.as_str(), self.body.get(r.clone()).unwrap_or_default()))
    }
}

/// Loads a stored user's record text by id (`None`: not stored).
pub type Load<'l> = dyn FnMut(&str) -> Result<Option<String>> + 'l;

/// `POST /users` `{users: {id: user}}` over users the caller holds: creates missing users,
/// replaces existing ones' data (role and teams kept when omitted). All or nothing; unique
/// usernames are not checked (they need the index: `UserStore` and the Worker check them).
pub fn upsert(body: &str, stored: &mut Load<'_>, caller: &Caller, now: Timestamp) -> Result<Written> {
    match upsert_records(body, stored, caller, now)? {
        Some(written) => Ok(written),
        None => upsert_trees(body, stored, caller, now),
    }
}

/// [`upsert`] over `serde_json` trees alone, through the driver as `UserStore` runs it: the
/// reference the record path must agree with.
pub fn upsert_trees(body: &str, stored: &mut Load<'_>, caller: &Caller, now: Timestamp) -> Result<Written> {
    let batch = ops::UpsertBatch::parse(parse_body(body)?, caller)?;
    let users = drive_trees(stored, Operation::UpdateUsers, &|s| ops::upsert_parsed(&batch, caller, now, s))?;
    Ok(write_trees(&users, true))
}

/// `PATCH /users` `{users: [{id, set, unset}]}` over users the caller holds. All or nothing;
/// default app settings; unique usernames are not checked.
pub fn partial_update(body: &str, stored: &mut Load<'_>, caller: &Caller, now: Timestamp) -> Result<Written> {
    match partial_records(body, stored, caller, now)? {
        Some(written) => Ok(written),
        None => partial_trees(body, stored, caller, now),
    }
}

/// [`partial_update`] over `serde_json` trees alone, through the driver as `UserStore` runs
/// it: the reference the record path must agree with.
pub fn partial_trees(body: &str, stored: &mut Load<'_>, caller: &Caller, now: Timestamp) -> Result<Written> {
    let batch = ops::PartialBatch::parse(&parse_body(body)?, caller, &AppSettings::default())?;
    let users =
        drive_trees(stored, Operation::UpdateUsersPartial, &|s| ops::partial_update_parsed(&batch, caller, now, s))?;
    Ok(write_trees(&users, false))
}

/// Runs a write over trees through the driver with default app settings (unique usernames
/// off); returns the users it writes, in the batch's order.
fn drive_trees(stored: &mut Load<'_>, op: Operation, f: &OpFn<'_>) -> Result<Vec<User>> {
    let mut snap = Snapshot::new(AppSettings::default());
    let commit = drive::drive(&mut TreeLoader(stored), &mut snap, op, f).map_err(|e| e.error)?;
    Ok(commit.users)
}

/// The stored users as trees of the texts `stored` gives. No index lists: the batch exports
/// do not check unique usernames.
struct TreeLoader<'s, 'l>(&'s mut Load<'l>);

impl Loader for TreeLoader<'_, '_> {
    fn users(&mut self, ids: &[String]) -> Result<Vec<(String, Option<User>)>> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.push((id.clone(), load_tree(self.0, id)?));
        }
        Ok(out)
    }
    fn names(&mut self, keys: &[String]) -> Result<Vec<(String, Vec<String>)>> {
        Ok(keys.iter().map(|k| (k.clone(), Vec::new())).collect())
    }
}

/// A request body as JSON, or Stream's error for text that is not JSON.
pub fn parse_body(body: &str) -> Result<Value> {
    json::parse(body).map_err(ApiError::invalid_body)
}

fn load_tree(stored: &mut Load<'_>, id: &str) -> Result<Option<User>> {
    let Some(text) = stored(id)? else { return Ok(None) };
    tree_of(&text).map(Some).ok_or_else(|| ApiError::input(format!("stored user '{id}' is not a JSON object")))
}

/// The response of the tree path, in the same layout as the record path's.
fn write_trees(users: &[User], upsert: bool) -> Written {
    let id = |u: &User| u.get("id").and_then(Value::as_str).unwrap_or_default().to_string();
    let mut w = Writer::new(upsert, 0, users.iter().map(id).collect());
    for (at, u) in w.order().into_iter().filter_map(|at| Some((at, users.get(at)?))) {
        w.user(at, |out| write_tree(out, u));
    }
    w.finish()
}

/// A user held as a tree, as it is stored and answered.
fn write_tree(out: &mut String, user: &User) {
    out.push_str(&json::text(&Value::Object(user::public_view(user))));
}

/// The tree of a user's text (`None`: not a JSON object).
fn tree_of(text: &str) -> Option<User> {
    match json::parse(text).ok()? {
        Value::Object(user) => Some(user),
        _ => None,
    }
}

/// Writes `{"users":{"<id>":<record>,…}` and the tail of the response, the users in id order.
struct Writer {
    w: Written,
    upsert: bool,
    /// Each user's id and, once written, its record's place, in the batch's order.
    slots: Vec<(String, Option<Range<usize>>)>,
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
        Writer { w: Written { body, users: Vec::new() }, upsert, slots }
    }
    /// The batch's positions in id order: the order to write them in. Sorted by insertion (a
    /// sort would link a sorting routine of its own; a batch holds at most 100 users).
    fn order(&self) -> Vec<usize> {
        let mut order: Vec<usize> = Vec::with_capacity(self.slots.len());
        let id = |i: usize| self.slots.get(i).map_or("", |(id, _)| id.as_str());
        for i in 0..self.slots.len() {
            order.insert(order.partition_point(|&o| id(o) < id(i)), i);
        }
        order
    }
    /// Writes the user at position `at` of the batch.
    fn user(&mut self, at: usize, write: impl FnOnce(&mut String)) {
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
        write(body);
        *range = Some(start..body.len());
    }
    fn finish(mut self) -> Written {
        self.w.body.push_str(if self.upsert { "},\"membership_deletion_task_id\":\"\"}" } else { "}}" });
        for (id, range) in self.slots {
            if let Some(range) = range {
                self.w.users.push((id, range));
            }
        }
        self.w
    }
}

/// The stored records of the batch's ids, as text (loaded once, in the batch's order).
fn load_texts<'i>(ids: impl Iterator<Item = &'i str>, stored: &mut Load<'_>) -> Result<Vec<Option<String>>> {
    ids.map(stored).collect()
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

/// A request body `{users: …}`: `users` read by `read`, any other member skipped.
fn read_users<'a, T>(body: &'a str, mut read: impl FnMut(&mut Scan<'a>) -> Option<T>) -> Option<T> {
    let mut scan = Scan::new(body);
    let mut users = None;
    members(&mut scan, |scan, key| {
        if key == "users" {
            users = Some(read(scan)?);
        } else {
            scan.value(FIELD_DEPTH)?;
        }
        Some(())
    })?;
    if !scan.at_end() {
        return None;
    }
    users
}
