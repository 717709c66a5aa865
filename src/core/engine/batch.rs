//! Batch operations over JSON text, one call per batch: what a server or a Worker holds (the
//! request body, the stored users as text) in, the response body and the new stored records as
//! text out. The npm package's `upsertUsers`, `partialUpdateUsers` and `normalizeUsernames`.
//!
//! Each operation first runs over [`Record`]s: typed top-level fields over the JSON text, custom
//! data copied as text and never built into a tree (a partial update parses only the fields its
//! dotted paths reach into), the body read once, validation done while reading. That path
//! accepts only what it can decide exactly; anything else — every error, and the rare inputs it
//! cannot measure exactly (escaped keys, custom data within a few bytes of the limit, numbers
//! that may not fit a float, …) — runs the same operation over `serde_json` trees
//! ([`ops::merge_upsert_batch`], [`ops::partial_update_batch`]), which decides and words every
//! error exactly as `POST /users` and `PATCH /users` do. Both paths give equal JSON for the
//! same input (`tests/core_batch.rs` compares them on a seeded corpus).

use crate::core::access::auth::Caller;
use crate::core::model::edit::FieldEdit;
use crate::core::model::partial::{self, FieldPath};
use crate::core::model::record::{team_names, Field, Kind, Record, FIELD_DEPTH};
use crate::core::model::scan::{Measure, Scan};
use crate::core::model::user::{self, User, MAX_BATCH, MAX_NESTING};
use crate::core::model::username::{Normalizer, Sink};
use crate::core::ops;
use crate::core::wire::error::{ApiError, Result};
use crate::core::wire::json;
use crate::core::wire::time::Timestamp;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::ops::Range;

/// What a batch write returns: the response body, and where each user's new record is in it
/// (`body[range]` is the record to store; it is also the user as the response shows it).
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

/// [`upsert`] over `serde_json` trees alone: the reference the record path must agree with.
pub fn upsert_trees(body: &str, stored: &mut Load<'_>, caller: &Caller, now: Timestamp) -> Result<Written> {
    let tree = parse_body(body)?;
    let users = ops::merge_upsert_batch(&tree, &mut |id| load_tree(stored, id), caller, now)?;
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

/// [`partial_update`] over `serde_json` trees alone: the reference the record path must agree with.
pub fn partial_trees(body: &str, stored: &mut Load<'_>, caller: &Caller, now: Timestamp) -> Result<Written> {
    let tree = parse_body(body)?;
    let users = ops::partial_update_batch(&tree, &mut |id| load_tree(stored, id), caller, now)?;
    Ok(write_trees(&users, false))
}

/// Normalizes a JSON array of names (`["John Doe", …]`) into the JSON array of their
/// normalized forms ([`username::normalize`]).
pub fn normalize_names(names: &str) -> Result<String> {
    normalize_list(names)
}

/// [`normalize_names`], written as UTF-16 code units.
pub fn normalize_names_utf16(names: &str) -> Result<Vec<u16>> {
    normalize_list(names)
}

fn normalize_list<S: Sink>(names: &str) -> Result<S> {
    if let Some(out) = normalize_text(names) {
        return Ok(out);
    }
    // What the scanner cannot read (it reads every valid array of strings but those with
    // escaped surrogates), and every error, as serde_json reads it.
    let bad = || ApiError::input("names must be a JSON array of strings");
    let Value::Array(list) = json::parse(names).map_err(|e| ApiError::input(format!("invalid JSON names: {e}")))?
    else {
        return Err(bad());
    };
    let mut out = S::with_capacity(names.len());
    out.ascii(b'[');
    let mut normalizer = Normalizer::default();
    for (i, name) in list.iter().enumerate() {
        let name = name.as_str().ok_or_else(bad)?;
        push_name(&mut out, i, |out| normalizer.push(name, out));
    }
    out.ascii(b']');
    Ok(out)
}

fn normalize_text<S: Sink>(names: &str) -> Option<S> {
    let mut scan = Scan::new(names);
    let mut out = S::with_capacity(names.len());
    out.ascii(b'[');
    let mut more = scan.open(b'[', b']')?;
    let mut i = 0;
    let mut normalizer = Normalizer::default();
    while more {
        let token = scan.string()?;
        push_name(&mut out, i, |out| normalizer.push_json(token.raw, out))?;
        i += 1;
        more = scan.more(b']')?;
    }
    out.ascii(b']');
    scan.at_end().then_some(out)
}

/// Appends `,"<normalized name>"` (a normalized name is letters and digits, never escaped),
/// the name written by `name`; returns what `name` does.
fn push_name<S: Sink, T>(out: &mut S, i: usize, name: impl FnOnce(&mut S) -> T) -> T {
    if i > 0 {
        out.ascii(b',');
    }
    out.ascii(b'"');
    let done = name(out);
    out.ascii(b'"');
    done
}

fn parse_body(body: &str) -> Result<Value> {
    json::parse(body).map_err(|e| ApiError::input(format!("invalid JSON body: {e}")))
}

fn load_tree(stored: &mut Load<'_>, id: &str) -> Result<Option<User>> {
    let Some(text) = stored(id)? else { return Ok(None) };
    match json::parse(&text) {
        Ok(Value::Object(user)) => Ok(Some(user)),
        _ => Err(ApiError::input(format!("stored user '{id}' is not a JSON object"))),
    }
}

/// The response of the tree path, in the same layout as the record path's.
fn write_trees(users: &[User], upsert: bool) -> Written {
    let mut w = Writer::new(upsert, 0);
    for u in users {
        let id = u.get("id").and_then(Value::as_str).unwrap_or_default();
        w.user(id, |out| out.push_str(&json::text(&Value::Object(user::public_view(u)))));
    }
    w.finish()
}

/// Writes `{"users":{"<id>":<record>,…}` and the tail of the response.
struct Writer {
    w: Written,
    upsert: bool,
}

impl Writer {
    /// A writer whose body has room for about `capacity` bytes.
    fn new(upsert: bool, capacity: usize) -> Self {
        let mut body = String::with_capacity(capacity);
        body.push_str("{\"users\":{");
        Writer { w: Written { body, users: Vec::new() }, upsert }
    }
    fn user(&mut self, id: &str, write: impl FnOnce(&mut String)) {
        let body = &mut self.w.body;
        if !self.w.users.is_empty() {
            body.push(',');
        }
        // Ids are `[A-Za-z0-9@_-]`: nothing to escape.
        body.push('"');
        body.push_str(id);
        body.push_str("\":");
        let start = body.len();
        write(body);
        self.w.users.push((id.to_string(), start..body.len()));
    }
    fn finish(mut self) -> Written {
        self.w.body.push_str(if self.upsert { "},\"membership_deletion_task_id\":\"\"}" } else { "}}" });
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
    let mut seen: Vec<&'a str> = Vec::new();
    let mut more = scan.open(b'{', b'}')?;
    while more {
        let key = scan.string()?.plain()?;
        if seen.contains(&key) {
            return None;
        }
        seen.push(key);
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

// ---------------------------------------------------------------- upsert over records

/// [`upsert`] over records alone: `Ok(None)` when it leaves the batch to the tree path.
pub fn upsert_records(body: &str, stored: &mut Load<'_>, caller: &Caller, now: Timestamp) -> Result<Option<Written>> {
    let now = &format!("\"{now}\"");
    let Some(batch) = read_users(body, |scan| {
        let mut batch: Vec<(&str, Record<'_>)> = Vec::new();
        members(scan, |scan, key| {
            batch.push((key, Record::read(scan)?));
            Some(())
        })?;
        Some(batch)
    }) else {
        return Ok(None);
    };
    if batch.is_empty() || batch.len() > MAX_BATCH {
        return Ok(None);
    }
    let mut inputs = Vec::with_capacity(batch.len());
    for (key, input) in batch {
        match clean_input(key, input, caller) {
            Some(input) => inputs.push((key, input)),
            None => return Ok(None),
        }
    }
    let texts = load_texts(inputs.iter().map(|(id, _)| *id), stored)?;
    // The new records are about the input users plus the server's fields.
    let mut w = Writer::new(true, body.len() + 160 * texts.len());
    for ((id, input), text) in inputs.into_iter().zip(&texts) {
        let old = match text {
            Some(t) => match Record::parse(t) {
                Some(r) => Some(r),
                None => return Ok(None),
            },
            None => None,
        };
        let Some(new) = merge_records(old.as_ref(), input, caller, now) else { return Ok(None) };
        w.user(id, |out| new.write(out));
    }
    Ok(Some(w.finish()))
}

/// An upsert's input user keyed `key`, checked: its id, no reserved fields, built-in fields of
/// the right types, custom data within the limit; without nulls and server-computed fields.
fn clean_input<'a>(key: &str, mut input: Record<'a>, caller: &Caller) -> Option<Record<'a>> {
    let id = input.get("id")?.plain_str()?;
    if id != key || user::validate_id(id).is_err() || input.fields.iter().any(|f| f.kind.is_reserved()) {
        return None;
    }
    if let Caller::User(me) = caller {
        if me != id {
            return None;
        }
    }
    input.fields.retain(|f| !f.is_null() && !f.kind.is_server_computed());
    input.check()?;
    Some(input)
}

/// The sorted, distinct team names of a `teams` field (none when absent).
fn teams_set<'r>(r: Option<&'r Record<'_>>) -> Option<Vec<&'r str>> {
    let Some(field) = r.and_then(|r| r.get("teams")) else { return Some(Vec::new()) };
    let mut names = team_names(&field.value)?;
    names.sort_unstable();
    names.dedup();
    Some(names)
}

/// The merge of `POST /users` for one user (`ops::merge_upsert_batch` over trees).
fn merge_records<'a>(old: Option<&Record<'a>>, input: Record<'a>, caller: &Caller, now: &'a str) -> Option<Record<'a>> {
    if old.is_some_and(|o| o.is_deleted() || o.is_deactivated()) {
        return None;
    }
    let client = matches!(caller, Caller::User(_));
    if client {
        let old_role = old.map_or(Some("user"), Record::role)?;
        if input.get("role").is_some_and(|r| r.plain_str() != Some(old_role)) || input.has("teams_role") {
            return None;
        }
        let given = teams_set(Some(&input))?;
        if !given.is_empty() && given != teams_set(old)? {
            return None;
        }
    }
    let mut new = input;
    if client && teams_set(Some(&new))?.is_empty() {
        new.remove("teams"); // client-side `teams: []` means "not changing teams"
    }
    if let Some(old) = old {
        for keep in ["role", "teams", "teams_role"] {
            if !new.has(keep) {
                if let Some(f) = old.get(keep) {
                    new.fields.push(f.clone());
                }
            }
        }
    }
    carry_server_state(old, &mut new, now);
    Some(new)
}

/// Server-computed state copied from the stored user, defaults and timestamps: what
/// `ops::rules::carry_server_state` does to a tree, with `updated_at` always bumped.
fn carry_server_state<'a>(old: Option<&Record<'a>>, new: &mut Record<'a>, now: &'a str) {
    if let Some(old) = old {
        new.fields.retain(|f| !f.kind.is_carried());
        new.fields.extend(old.fields.iter().filter(|f| f.kind.is_carried()).cloned());
    }
    // One pass for what is present; `online` and `updated_at` are set in place or added.
    let (mut created, mut role, mut teams, mut banned) = (false, false, false, false);
    for f in &mut new.fields {
        match f.kind {
            Kind::CreatedAt => created = true,
            Kind::Role => role = true,
            Kind::Teams => teams = true,
            Kind::Server if f.key == "banned" => banned = true,
            Kind::Online => *f = Field::fixed("online", Kind::Online, Cow::Borrowed("false")),
            Kind::UpdatedAt => *f = Field::fixed("updated_at", Kind::UpdatedAt, Cow::Borrowed(now)),
            _ => {}
        }
    }
    for (present, key, kind, default) in [
        (created, "created_at", Kind::CreatedAt, now),
        (role, "role", Kind::Role, "\"user\""),
        (teams, "teams", Kind::Teams, "[]"),
        (banned, "banned", Kind::Server, "false"),
    ] {
        if !present {
            new.fields.push(Field::fixed(key, kind, Cow::Borrowed(default)));
        }
    }
    if !new.fields.iter().any(|f| f.kind == Kind::Online) {
        new.fields.push(Field::fixed("online", Kind::Online, Cow::Borrowed("false")));
    }
    if !new.fields.iter().any(|f| f.kind == Kind::UpdatedAt) {
        new.fields.push(Field::fixed("updated_at", Kind::UpdatedAt, Cow::Borrowed(now)));
    }
}

// ---------------------------------------------------------------- partial update over records

/// One `{id, set, unset}` entry, checked; `set` sorted by path as `ops` applies it.
struct Entry<'a> {
    id: &'a str,
    set: Vec<(Path<'a>, &'a str, Measure)>,
    unset: Vec<Path<'a>>,
    /// The top-level fields edited as a whole: reached by a dotted path, or `privacy_settings`
    /// (which merges).
    edited: Vec<&'a str>,
}

/// A dotted path and its first segment.
#[derive(Clone, Copy)]
struct Path<'a> {
    raw: &'a str,
    top: &'a str,
}

impl<'a> Path<'a> {
    fn new(raw: &'a str) -> Self {
        let end = raw.bytes().position(|b| b == b'.').unwrap_or(raw.len());
        Path { raw, top: raw.get(..end).unwrap_or(raw) }
    }
    fn is_dotted(self) -> bool {
        self.top.len() < self.raw.len()
    }
}

/// [`partial_update`] over records alone: `Ok(None)` when it leaves the batch to the tree path.
pub fn partial_records(body: &str, stored: &mut Load<'_>, caller: &Caller, now: Timestamp) -> Result<Option<Written>> {
    let now = &format!("\"{now}\"");
    let Some(entries) = read_users(body, |scan| {
        let mut entries = Vec::new();
        let mut more = scan.open(b'[', b']')?;
        while more {
            entries.push(read_entry(scan, caller)?);
            more = scan.more(b']')?;
        }
        Some(entries)
    }) else {
        return Ok(None);
    };
    if entries.is_empty() || entries.len() > MAX_BATCH {
        return Ok(None);
    }
    for (i, e) in entries.iter().enumerate() {
        if entries.iter().take(i).any(|other| other.id == e.id) {
            return Ok(None);
        }
    }
    let texts = load_texts(entries.iter().map(|e| e.id), stored)?;
    // The new records are about the stored ones plus what the entries set.
    let mut w = Writer::new(false, body.len() + texts.iter().flatten().map(String::len).sum::<usize>());
    for (entry, text) in entries.iter().zip(&texts) {
        let Some(old) = text.as_deref().and_then(Record::parse) else { return Ok(None) };
        if matches!(caller, Caller::User(_)) && old.is_deactivated() {
            return Ok(None); // refused: the tree path words the error
        }
        let Some(new) = apply_entry(&old, entry, now) else { return Ok(None) };
        w.user(entry.id, |out| new.write(out));
    }
    Ok(Some(w.finish()))
}

fn read_entry<'a>(scan: &mut Scan<'a>, caller: &Caller) -> Option<Entry<'a>> {
    let mut entry = Entry { id: "", set: Vec::new(), unset: Vec::new(), edited: Vec::new() };
    members(scan, |scan, key| {
        match key {
            "id" => entry.id = scan.string()?.plain()?,
            "set" if scan.peek()? == b'{' => {
                let mut more = scan.open(b'{', b'}')?;
                while more {
                    let path = Path::new(scan.string()?.plain()?);
                    scan.eat(b':')?;
                    let (value, m) = scan.value(FIELD_DEPTH)?;
                    // A repeated path: the last one wins, as in serde_json's maps.
                    entry.set.retain(|(p, _, _)| p.raw != path.raw);
                    entry.set.push((path, value, m));
                    more = scan.more(b'}')?;
                }
            }
            "unset" if scan.peek()? == b'[' => {
                let mut more = scan.open(b'[', b']')?;
                while more {
                    entry.unset.push(Path::new(scan.string()?.plain()?));
                    more = scan.more(b']')?;
                }
            }
            "set" | "unset" => {
                if scan.value(0)?.0 != "null" {
                    return None;
                }
            }
            _ => return None,
        }
        Some(())
    })?;
    user::validate_id(entry.id).ok()?;
    if matches!(caller, Caller::User(me) if me != entry.id) {
        return None;
    }
    let paths = entry.set.iter().map(|(p, _, _)| *p).chain(entry.unset.iter().copied());
    for path in paths {
        let top = path.top;
        if !path_is_valid(path.raw)
            || Kind::of(top).is_reserved()
            || matches!(top, "id" | "deactivated_at" | "deleted_at" | user::HARD_DELETED)
        {
            return None;
        }
        if matches!(caller, Caller::User(_)) && matches!(top, "role" | "teams" | "teams_role") {
            return None;
        }
        if (path.is_dotted() || top == "privacy_settings") && !entry.edited.contains(&top) {
            entry.edited.push(top);
        }
    }
    let overlaps = |a: Path, b: Path| a.top == b.top && a.raw.split('.').zip(b.raw.split('.')).all(|(x, y)| x == y);
    if entry.set.iter().any(|(s, _, _)| entry.unset.iter().any(|u| overlaps(*s, *u))) {
        return None;
    }
    entry.set.sort_unstable_by(|a, b| a.0.raw.cmp(b.0.raw));
    Some(entry)
}

/// [`FieldPath::parse`]'s rules: 1 to [`MAX_NESTING`] segments, none empty or with whitespace.
fn path_is_valid(path: &str) -> bool {
    let (mut segments, mut len) = (1, 0);
    for c in path.chars() {
        if c == '.' {
            if len == 0 {
                return false;
            }
            segments += 1;
            len = 0;
        } else if c.is_whitespace() {
            return false;
        } else {
            len += 1;
        }
    }
    len > 0 && segments <= MAX_NESTING
}

/// `ops`' partial update of one stored user, over records. Each path touches only its
/// top-level field, so the fields are edited one at a time: as text when every path on the
/// field is the field itself or a dotted path into it ([`FieldEdit`]: only the objects on the
/// path are opened), as a tree when `privacy_settings` (which merges) is written.
fn apply_entry<'a>(old: &Record<'a>, entry: &Entry<'a>, now: &'a str) -> Option<Record<'a>> {
    if old.is_deleted() {
        return None;
    }
    let edited = &entry.edited;
    let mut new = old.clone();
    for &t in edited {
        if t == "privacy_settings" {
            edit_tree(&mut new, t, |tree| {
                for path in entry.unset.iter().filter(|p| p.top == t) {
                    let segments: Vec<String> = path.raw.split('.').map(str::to_string).collect();
                    partial::unset_path(tree, &segments);
                }
                for (path, value, _) in entry.set.iter().filter(|(p, _, _)| p.top == t) {
                    let path = FieldPath::parse(path.raw).ok()?;
                    partial::set_path(tree, &path, json::parse(value).ok()?).ok()?;
                }
                Some(())
            })?;
        } else {
            edit_text(&mut new, old, entry, t)?;
        }
    }
    for path in entry.unset.iter().filter(|p| !edited.contains(&p.top)) {
        new.remove(path.raw);
        match path.raw {
            "role" => new.put(Field::fixed("role", Kind::Role, Cow::Borrowed("\"user\""))),
            "teams" => new.put(Field::fixed("teams", Kind::Teams, Cow::Borrowed("[]"))),
            _ => {}
        }
    }
    for &(path, value, measure) in entry.set.iter().filter(|(p, _, _)| !edited.contains(&p.top)) {
        let key = path.raw;
        new.put(Field { key: Cow::Borrowed(key), kind: Kind::of(key), value: Cow::Borrowed(value), measure });
    }
    let revoke = new.remove("revoke_tokens_issued_before");
    carry_server_state(Some(old), &mut new, now);
    match revoke {
        Some(f) if !f.is_null() => new.put(f),
        _ => {
            new.remove("revoke_tokens_issued_before");
        }
    }
    new.check()?;
    Some(new)
}

/// Edits top-level field `top` (reached by dotted paths) as text.
fn edit_text<'a>(record: &mut Record<'a>, old: &Record<'a>, entry: &Entry<'a>, top: &'a str) -> Option<()> {
    let mut edit = FieldEdit::new(top, old.get(top).map(|f| f.value.as_ref()));
    for path in entry.unset.iter().filter(|p| p.top == top) {
        edit.unset(path.raw)?;
    }
    for (path, value, _) in entry.set.iter().filter(|(p, _, _)| p.top == top) {
        edit.set(path.raw, value)?;
    }
    let Some(text) = edit.finish() else {
        record.remove(top);
        return Some(());
    };
    let (_, measure) = Scan::new(&text).value(FIELD_DEPTH)?;
    record.put(Field { key: Cow::Borrowed(top), kind: Kind::of(top), value: Cow::Owned(text), measure });
    Some(())
}

/// Edits `privacy_settings` as a tree: the one place a partial update parses a field.
fn edit_tree<'a>(
    record: &mut Record<'a>,
    top: &'a str,
    edit: impl FnOnce(&mut Map<String, Value>) -> Option<()>,
) -> Option<()> {
    let mut tree = Map::new();
    if let Some(field) = record.get(top) {
        tree.insert(top.to_string(), json::parse(&field.value).ok()?);
    }
    edit(&mut tree)?;
    match tree.get(top) {
        Some(value) => {
            let text = json::text(value);
            let (_, measure) = Scan::new(&text).value(FIELD_DEPTH)?;
            let kind = Kind::of(top);
            record.put(Field { key: Cow::Borrowed(top), kind, value: Cow::Owned(text), measure });
        }
        None => {
            record.remove(top);
        }
    }
    Some(())
}
