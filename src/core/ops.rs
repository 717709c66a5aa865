//! Store operations as pure functions over a [`Snapshot`] of what the caller has loaded.
//!
//! Each operation either asks for more data ([`Step::Need`]: users by id, username index
//! lists by normalized name) or returns a [`Commit`]: the index lists and user records to write
//! and the response body. A shell (the in-memory `UserStore`, the Worker over KV) runs it in a
//! loop: load what is needed, run again, and finally apply the commit in order — claims, users,
//! releases. Re-running is cheap and keeps every decision inside the core.

use super::auth::Caller;
use super::error::{ApiError, Result};
use super::json::{object, parse_object};
use super::partial::PartialUpdate;
use super::set;
use super::settings::AppSettings;
use super::tenancy;
use super::time::Timestamp;
use super::user::{self, User, MAX_BATCH};
use super::username::{self, Change, Holders};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// What a shell has loaded so far.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub settings: AppSettings,
    /// Loaded users that are stored, by id.
    users: BTreeMap<String, User>,
    /// Ids loaded and found not stored, sorted.
    absent: Vec<String>,
    /// Loaded username index lists: normalized name → ids of users holding it.
    pub names: BTreeMap<String, Vec<String>>,
}

impl Snapshot {
    pub fn new(settings: AppSettings) -> Self {
        Snapshot { settings, ..Default::default() }
    }
    /// Records a loaded user; `None` means loaded and not stored. Operations ask only for ids
    /// not loaded yet, so an id is loaded once; a repeated load is ignored.
    pub fn load_user(&mut self, id: String, user: Option<User>) {
        if self.is_loaded(&id) {
            return;
        }
        match user {
            Some(u) => {
                self.users.insert(id, u);
            }
            None => {
                set::insert(&mut self.absent, id);
            }
        }
    }
    /// [`Snapshot::load_user`] for each loaded user.
    pub fn load_users(&mut self, loaded: impl IntoIterator<Item = (String, Option<User>)>) {
        for (id, user) in loaded {
            self.load_user(id, user);
        }
    }
    /// Whether `id` was loaded (stored or not).
    pub fn is_loaded(&self, id: &str) -> bool {
        self.users.contains_key(id) || self.absent.binary_search_by(|a| a.as_str().cmp(id)).is_ok()
    }
    fn stored(&self, id: &str) -> Option<&User> {
        self.users.get(id)
    }
    /// A loaded user's stored record (`None`: not loaded, or not stored).
    pub fn stored_user(&self, id: &str) -> Option<&User> {
        self.users.get(id)
    }
    fn missing_users<'a>(&self, ids: impl IntoIterator<Item = &'a str>) -> Vec<String> {
        let missing = set::of(ids.into_iter().filter(|id| !self.is_loaded(id)));
        missing.into_iter().map(str::to_string).collect()
    }
}

/// Data an operation needs before it can decide.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Need {
    pub users: Vec<String>,
    pub names: Vec<String>,
}

/// The writes to make, in order, and what to answer.
#[derive(Clone, Debug, PartialEq)]
pub struct Commit {
    /// Index lists that gain a holder: write first.
    pub claims: Vec<(String, Vec<String>)>,
    /// User records to store.
    pub users: Vec<User>,
    /// Index lists that only lose holders: write last. An empty list may be deleted.
    pub releases: Vec<(String, Vec<String>)>,
    /// The response body, without `duration`.
    pub response: Value,
    /// The HTTP status of the response.
    pub status: u16,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    Need(Need),
    Done(Commit),
}

fn need_users(users: Vec<String>) -> Step {
    Step::Need(Need { users, names: Vec::new() })
}

/// The batch's new states layered over the snapshot, for uniqueness checks.
struct View<'a> {
    snap: &'a Snapshot,
    /// The batch's users by id (a batch holds each id once).
    batch: Vec<(&'a str, &'a User)>,
}

impl View<'_> {
    fn in_batch(&self, id: &str) -> Option<&User> {
        self.batch.iter().rev().find(|(b, _)| *b == id).map(|(_, u)| *u)
    }
}

impl Holders for View<'_> {
    fn holders(&self, norm: &str) -> &[String] {
        self.snap.names.get(norm).map_or(&[], Vec::as_slice)
    }
    fn user(&self, id: &str) -> Option<&User> {
        self.in_batch(id).or_else(|| self.snap.stored(id))
    }
    fn is_loaded(&self, id: &str) -> bool {
        self.in_batch(id).is_some() || self.snap.is_loaded(id)
    }
}

/// Shared tail of every write: load index lists and holders, check uniqueness, build the commit.
fn finish(snap: &Snapshot, changes: &[(Option<User>, User)], response: Value, status: u16) -> Result<Step> {
    let refs: Vec<Change<'_>> = changes.iter().map(|(b, a)| Change { before: b.as_ref(), after: a }).collect();
    let names: Vec<String> =
        username::names_touched(&refs).into_iter().filter(|n| !snap.names.contains_key(n)).collect();
    let view = View { snap, batch: changes.iter().filter_map(|(_, a)| Some((a.get("id")?.as_str()?, a))).collect() };
    let mode = snap.settings.unique_mode();
    // Holders come from the lists of the names the batch will hold. Once those are loaded (an
    // upsert asks for them with its users), holders and any other names (a renamed user's old
    // one) are asked for in one round: a read round trip less for the shell.
    let held_loaded = refs.iter().filter_map(|c| username::held_name(c.after)).all(|n| snap.names.contains_key(&n));
    let load = if held_loaded { username::holders_to_load(&refs, mode, &view) } else { Vec::new() };
    if !names.is_empty() || !load.is_empty() {
        return Ok(Step::Need(Need { users: load, names }));
    }
    username::check(&refs, mode, &view)?;
    let idx = username::index_updates(&refs, &view);
    Ok(Step::Done(Commit {
        claims: idx.claims,
        users: changes.iter().map(|(_, a)| a.clone()).collect(),
        releases: idx.releases,
        response,
        status,
    }))
}

/// `{id: user}` of the batch's new states, as callers see them.
fn users_response(changes: &[(Option<User>, User)], caller: &Caller, settings: &AppSettings) -> Value {
    let mut users = Map::new();
    for (_, after) in changes {
        if let Some(id) = after.get("id").and_then(Value::as_str) {
            users.insert(id.to_string(), Value::Object(tenancy::shown(after, caller, settings)));
        }
    }
    Value::Object(users)
}

/// Server-side operations: a user token gets 403 code 17.
pub fn require_server(caller: &Caller, action: &str) -> Result<()> {
    match caller {
        Caller::Server => Ok(()),
        Caller::User(id) => Err(ApiError::not_allowed(format!(
            "User '{id}' with role 'user' is not allowed to perform action {action} in scope 'app'"
        ))),
    }
}

fn require_self(caller: &Caller, target: &str, action: &str) -> Result<()> {
    match caller {
        Caller::User(id) if id != target => Err(ApiError::not_allowed(format!(
            "User '{id}' is not allowed to perform action {action} on user '{target}': client-side requests may only change the current user"
        ))),
        _ => Ok(()),
    }
}

fn check_batch_len(n: usize, what: &str) -> Result<()> {
    if n == 0 {
        return Err(ApiError::field(what.to_string(), format!("{what} is a required field and cannot be empty")));
    }
    if n > MAX_BATCH {
        return Err(ApiError::field(
            what.to_string(),
            format!("{what} contains {n} entries, the maximum per request is {MAX_BATCH}"),
        ));
    }
    Ok(())
}

pub(crate) fn body_object(body: &Value) -> Result<&Map<String, Value>> {
    body.as_object().ok_or_else(|| ApiError::input("request body must be a JSON object"))
}

fn gone(u: Option<&User>, id: &str) -> Result<()> {
    match u {
        Some(u) if user::is_hard_deleted(u) => {
            Err(ApiError::input(format!("user '{id}' was deleted and its id cannot be used again")))
        }
        Some(u) if user::is_deleted(u) => {
            Err(ApiError::input(format!("user '{id}' was deleted; restore it before changing it")))
        }
        _ => Ok(()),
    }
}

fn ts(now: Timestamp) -> Value {
    Value::String(now.to_string())
}

/// Copies server-computed state from the stored user and sets timestamps.
fn carry_server_state(old: Option<&User>, new: &mut User, now: Timestamp, bump: bool) {
    if let Some(old) = old {
        for f in user::SERVER_COMPUTED.iter().chain(["created_at", "last_active", "updated_at"].iter()) {
            match old.get(*f) {
                Some(v) => new.insert((*f).to_string(), v.clone()),
                None => new.remove(*f),
            };
        }
    }
    new.entry("created_at").or_insert_with(|| ts(now));
    new.entry("role").or_insert_with(|| Value::from("user"));
    new.entry("teams").or_insert_with(|| Value::Array(Vec::new()));
    new.entry("banned").or_insert(Value::Bool(false));
    new.insert("online".into(), Value::Bool(false));
    if bump || !new.contains_key("updated_at") {
        new.insert("updated_at".into(), ts(now));
    }
}

/// The set of team names in a `teams` value.
fn teams_set(v: Option<&Value>) -> Vec<&str> {
    match v {
        Some(Value::Array(a)) => set::of(a.iter().filter_map(Value::as_str)),
        _ => Vec::new(),
    }
}

// ---------------------------------------------------------------- upsert

/// Parses `POST /users` `{users: {id: user}}` and checks everything that needs no stored data.
fn parse_upsert(body: &Value, caller: &Caller) -> Result<Vec<(String, User)>> {
    let users = match body_object(body)?.get("users") {
        Some(Value::Object(m)) => m,
        Some(Value::Array(_)) => return Err(ApiError::field("users", "users must be an object keyed by user id")),
        None | Some(Value::Null) => return Err(ApiError::field("users", "users is a required field")),
        Some(_) => return Err(ApiError::field("users", "users must be an object keyed by user id")),
    };
    check_batch_len(users.len(), "users")?;
    let mut out = Vec::with_capacity(users.len());
    for (key, value) in users {
        out.push((key.clone(), parse_upsert_user(key, value, caller)?));
    }
    Ok(out)
}

/// One user of `POST /users`, keyed `key`: the checks that need no stored data. Returns it
/// without nulls and server-computed fields.
fn parse_upsert_user(key: &str, value: &Value, caller: &Caller) -> Result<User> {
    let Value::Object(input) = value else {
        return Err(ApiError::field(format!("users[{key}]"), format!("users[{key}] must be an object")));
    };
    let id = user::id_of(input)?;
    if id != key {
        return Err(ApiError::field(
            format!("users[{key}].id"),
            format!("users[{key}].id must match its key, got '{id}'"),
        ));
    }
    let label = format!("users[{id}]");
    if let Some(f) = input.keys().find(|k| user::is_reserved(k)) {
        let name = format!("{label}.{f}");
        return Err(ApiError::field(name.clone(), format!("{name} is a reserved field")));
    }
    // Null means "not given"; server-computed fields are ignored.
    let mut cleaned = User::new();
    for (k, v) in input {
        if !v.is_null() && !user::is_server_computed(k) {
            cleaned.insert(k.clone(), v.clone());
        }
    }
    user::validate_fields(&cleaned, &label)?;
    require_self(caller, id, "UpdateUser")?;
    Ok(cleaned)
}

/// Merges a parsed input (`parse_upsert_user`) into the stored user; takes the input to
/// become the new state without a copy.
fn merge_upsert_one(old: Option<&User>, input: User, caller: &Caller, now: Timestamp) -> Result<User> {
    let id = input.get("id").and_then(Value::as_str).unwrap_or_default();
    gone(old, id)?;
    if old.is_some_and(user::is_deactivated) {
        return Err(ApiError::input(format!("user '{id}' was deactivated")));
    }
    if let Caller::User(_) = caller {
        let old_role = old.map_or("user", user::role_of);
        if input.get("role").and_then(Value::as_str).is_some_and(|r| r != old_role) {
            return Err(ApiError::not_allowed("user role can only be changed server-side"));
        }
        let given = teams_set(input.get("teams"));
        if !given.is_empty() && given != teams_set(old.and_then(|o| o.get("teams"))) {
            return Err(ApiError::not_allowed("user teams can only be updated server-side"));
        }
        if input.contains_key("teams_role") && input.get("teams_role") != old.and_then(|o| o.get("teams_role")) {
            return Err(ApiError::not_allowed("user teams can only be updated server-side"));
        }
    }
    let mut new = input;
    if matches!(caller, Caller::User(_)) && teams_set(new.get("teams")).is_empty() {
        new.remove("teams"); // client-side `teams: []` means "not changing teams"
    }
    if let Some(old) = old {
        // Replace wholesale, except that role and teams are kept when omitted.
        for keep in ["role", "teams", "teams_role"] {
            if !new.contains_key(keep) {
                if let Some(v) = old.get(keep) {
                    new.insert(keep.to_string(), v.clone());
                }
            }
        }
    }
    carry_server_state(old, &mut new, now, true);
    Ok(new)
}

/// `POST /users`: creates missing users, replaces existing ones' data. All or nothing.
pub fn upsert_users(body: &Value, caller: &Caller, now: Timestamp, snap: &Snapshot) -> Result<Step> {
    let batch = parse_upsert(body, caller)?;
    let missing = snap.missing_users(batch.iter().map(|(id, _)| id.as_str()));
    if !missing.is_empty() {
        // The names the batch will hold are its inputs' names: their index lists load in the
        // same round as the users (an unchanged name then needs no second round).
        let held = batch.iter().filter_map(|(_, input)| username::held_name(input));
        let names = set::of(held.filter(|n| !snap.names.contains_key(n)));
        return Ok(Step::Need(Need { users: missing, names }));
    }
    let mut changes = Vec::with_capacity(batch.len());
    for (id, input) in batch {
        let old = snap.stored(&id);
        let guarded = matches!(caller, Caller::User(_)) && !snap.settings.server_only_fields().is_empty();
        let given = guarded.then(|| input.clone());
        let mut new = merge_upsert_one(old, input, caller, now)?;
        if let Some(given) = given {
            tenancy::guard_write(old, &given, &mut new, caller, &snap.settings)?;
        }
        changes.push((old.cloned(), new));
    }
    let users = users_response(&changes, caller, &snap.settings);
    let resp = object([("users", users), ("membership_deletion_task_id", Value::from(""))]);
    finish(snap, &changes, resp, 201)
}

/// The merge `upsert_users` applies to one user, exposed for callers that hold the user.
pub fn merge_upsert(old: Option<&User>, input: &Value, caller: &Caller, now: Timestamp) -> Result<User> {
    let id = input.get("id").and_then(Value::as_str).unwrap_or_default();
    merge_upsert_one(old, parse_upsert_user(id, input, caller)?, caller, now)
}

/// The checks `upsert_users` makes on one user before it looks at stored data: an object with
/// a valid `id`, no reserved fields, built-in fields of the right types, custom data ≤ 5 KiB.
pub fn validate_user(input: &Value) -> Result<()> {
    let id = input.get("id").and_then(Value::as_str).unwrap_or_default();
    parse_upsert_user(id, input, &Caller::Server).map(|_| ())
}

// ---------------------------------------------------------------- partial update

fn parse_partial(body: &Value, caller: &Caller, settings: &AppSettings) -> Result<Vec<PartialUpdate>> {
    let entries = match body_object(body)?.get("users") {
        Some(Value::Array(a)) => a,
        None | Some(Value::Null) => return Err(ApiError::field("users", "users is a required field")),
        Some(_) => return Err(ApiError::field("users", "users must be an array of {id, set, unset}")),
    };
    check_batch_len(entries.len(), "users")?;
    let mut seen = Vec::new();
    let mut out = Vec::with_capacity(entries.len());
    for e in entries {
        let upd = PartialUpdate::parse(e)?;
        if !set::insert(&mut seen, upd.id.clone()) {
            return Err(ApiError::field("users", format!("user '{}' appears more than once in the batch", upd.id)));
        }
        check_partial_permissions(&upd, caller)?;
        tenancy::check_partial(&upd, caller, settings)?;
        out.push(upd);
    }
    Ok(out)
}

fn check_partial_permissions(upd: &PartialUpdate, caller: &Caller) -> Result<()> {
    require_self(caller, &upd.id, "UpdateUserPartial")?;
    if let Caller::User(_) = caller {
        if upd.touches("role") {
            return Err(ApiError::not_allowed("user role can only be changed server-side"));
        }
        if upd.touches("teams") || upd.touches("teams_role") {
            return Err(ApiError::not_allowed("user teams can only be updated server-side"));
        }
    }
    Ok(())
}

fn apply_partial_one(old: Option<&User>, upd: &PartialUpdate, now: Timestamp) -> Result<User> {
    let Some(old) = old else {
        return Err(ApiError::field(format!("users[{}]", upd.id), format!("user '{}' does not exist", upd.id)));
    };
    gone(Some(old), &upd.id)?;
    let mut new = upd.apply(old)?;
    // Server-computed fields stay as stored; revoke_tokens_issued_before is the one a partial may set.
    let revoke = new.remove("revoke_tokens_issued_before");
    carry_server_state(Some(old), &mut new, now, true);
    match revoke {
        Some(Value::Null) | None => new.remove("revoke_tokens_issued_before"),
        Some(v) => new.insert("revoke_tokens_issued_before".into(), v),
    };
    user::validate_fields(&new, &format!("users[{}]", upd.id))?;
    Ok(new)
}

/// `PATCH /users`: `set`/`unset` on dotted paths for a batch of users. All or nothing.
pub fn partial_update_users(body: &Value, caller: &Caller, now: Timestamp, snap: &Snapshot) -> Result<Step> {
    let batch = parse_partial(body, caller, &snap.settings)?;
    let missing = snap.missing_users(batch.iter().map(|u| u.id.as_str()));
    if !missing.is_empty() {
        return Ok(need_users(missing));
    }
    let mut changes = Vec::with_capacity(batch.len());
    for upd in &batch {
        let old = snap.stored(&upd.id);
        changes.push((old.cloned(), apply_partial_one(old, upd, now)?));
    }
    finish(snap, &changes, object([("users", users_response(&changes, caller, &snap.settings))]), 200)
}

/// Applies one `{id, set, unset}` entry to a user, with the same rules as `PATCH /users`.
pub fn apply_partial_update(old: &User, entry: &Value, caller: &Caller, now: Timestamp) -> Result<User> {
    let upd = PartialUpdate::parse(entry)?;
    check_partial_permissions(&upd, caller)?;
    apply_partial_one(Some(old), &upd, now)
}

// ---------------------------------------------------------------- connect

/// Client-side connect: creates the user or merges `user_details` into it (sets, never removes).
/// `role` is ignored; a teams change is refused; reserved timestamps are refused.
pub fn connect_merge(old: Option<&User>, user_id: &str, details: &Value, now: Timestamp) -> Result<User> {
    user::validate_id(user_id)?;
    let details = match details {
        Value::Object(m) => m.clone(),
        Value::Null => Map::new(),
        _ => return Err(ApiError::input("user_details must be an object")),
    };
    if let Some(id) = details.get("id") {
        if id.as_str() != Some(user_id) {
            return Err(ApiError::auth(format!("user_details.id does not match user_id '{user_id}'")));
        }
    }
    let label = format!("users[{user_id}]");
    if let Some(f) = details.keys().find(|k| user::is_reserved(k)) {
        let name = format!("{label}.{f}");
        return Err(ApiError::field(name.clone(), format!("{name} is a reserved field")));
    }
    if old.is_some_and(user::is_deleted) {
        return Err(ApiError::not_found(format!("the user {user_id} was deleted")));
    }
    if old.is_some_and(user::is_deactivated) {
        return Err(ApiError::not_found(format!("the user {user_id} was deactivated")));
    }
    let given_teams = teams_set(details.get("teams"));
    let stored_teams = teams_set(old.and_then(|o| o.get("teams")));
    if details.get("teams").is_some_and(|t| !t.is_null()) && given_teams != stored_teams {
        return Err(ApiError::not_allowed("user teams cannot be changed at connection time"));
    }
    let mut new = old.cloned().unwrap_or_else(|| {
        let mut m = Map::new();
        m.insert("id".into(), Value::from(user_id));
        m
    });
    for (k, v) in &details {
        if v.is_null() || matches!(k.as_str(), "id" | "role" | "teams" | "teams_role") || user::is_server_computed(k) {
            continue;
        }
        new.insert(k.clone(), v.clone());
    }
    user::validate_fields(&new, &label)?;
    let changed = old.is_none_or(|o| *o != new);
    carry_server_state(old, &mut new, now, changed);
    new.insert("last_active".into(), ts(now));
    Ok(new)
}

/// A user whose last connection closed: `last_active` is now (kept when the user goes offline,
/// not on every ping).
pub fn went_offline(u: &User, now: Timestamp) -> User {
    let mut after = u.clone();
    after.insert("last_active".into(), ts(now));
    after
}

/// What `me` shows for the fields Roster does not track (devices, mutes, unread counts, …).
pub const OWN_USER_DEFAULTS: &str = r#"{"devices": [], "mutes": [], "channel_mutes": [], "blocked_user_ids": [],
    "invisible": false, "language": "", "unread_count": 0, "total_unread_count": 0, "unread_channels": 0,
    "unread_threads": 0}"#;

/// The `me` object of the first `health.check` frame.
pub fn own_user_view(u: &User) -> Value {
    let mut me = user::public_view(u);
    me.insert("online".into(), Value::Bool(true));
    for (k, v) in parse_object(OWN_USER_DEFAULTS).unwrap_or_default() {
        me.entry(k).or_insert(v);
    }
    Value::Object(me)
}

/// `GET /connect`: the connect merge with unique usernames; the response is `me`.
pub fn connect_user(user_id: &str, details: &Value, caller: &Caller, now: Timestamp, snap: &Snapshot) -> Result<Step> {
    match caller {
        Caller::User(id) if id == user_id => {}
        Caller::User(_) => return Err(ApiError::auth("the token does not belong to the connecting user")),
        Caller::Server => {}
    }
    user::validate_id(user_id)?;
    let missing = snap.missing_users([user_id]);
    if !missing.is_empty() {
        return Ok(need_users(missing));
    }
    let old = snap.stored(user_id);
    let mut new = connect_merge(old, user_id, details, now)?;
    if let Value::Object(given) = details {
        tenancy::guard_write(old, given, &mut new, caller, &snap.settings)?;
    }
    let me = own_user_view(&tenancy::shown(&new, caller, &snap.settings));
    finish(snap, &[(old.cloned(), new)], me, 200)
}

// ---------------------------------------------------------------- lifecycle

fn load_one(snap: &Snapshot, id: &str) -> Result<std::result::Result<Option<User>, Step>> {
    user::validate_id(id)?;
    if !snap.is_loaded(id) {
        return Ok(Err(need_users(vec![id.to_string()])));
    }
    Ok(Ok(snap.stored(id).cloned()))
}

fn existing(u: Option<User>, id: &str) -> Result<User> {
    match u {
        Some(u) if !user::is_hard_deleted(&u) => Ok(u),
        _ => Err(ApiError::not_found(format!("user '{id}' does not exist"))),
    }
}

fn opt_body(body: &Value) -> Result<Map<String, Value>> {
    match body {
        Value::Null => Ok(Map::new()),
        Value::Object(m) => Ok(m.clone()),
        _ => Err(ApiError::input("request body must be a JSON object")),
    }
}

fn check_opts(opts: &Map<String, Value>, bools: &[&str], strings: &[&str]) -> Result<()> {
    for (k, v) in opts {
        let ok = if bools.contains(&k.as_str()) {
            v.is_boolean() || v.is_null()
        } else if strings.contains(&k.as_str()) {
            v.is_string() || v.is_null()
        } else {
            true
        };
        if !ok {
            let what = if bools.contains(&k.as_str()) { "a boolean" } else { "a string" };
            return Err(ApiError::field(k.clone(), format!("{k} must be {what}")));
        }
    }
    Ok(())
}

/// `POST /users/{id}/deactivate`: sets `deactivated_at`, freeing the user's name.
pub fn deactivate_user(id: &str, body: &Value, caller: &Caller, now: Timestamp, snap: &Snapshot) -> Result<Step> {
    require_server(caller, "DeactivateUser")?;
    let opts = opt_body(body)?;
    check_opts(&opts, &["mark_messages_deleted", "mark_channels_deleted"], &["created_by_id"])?;
    let old = match load_one(snap, id)? {
        Ok(u) => existing(u, id)?,
        Err(step) => return Ok(step),
    };
    if user::is_deleted(&old) {
        return Err(ApiError::not_found(format!("user '{id}' does not exist")));
    }
    let mut new = old.clone();
    if !user::is_deactivated(&old) {
        new.insert("deactivated_at".into(), ts(now));
        new.insert("updated_at".into(), ts(now));
    }
    let resp = object([("user", Value::Object(user::public_view(&new)))]);
    finish(snap, &[(Some(old), new)], resp, 201)
}

/// `POST /users/{id}/reactivate`: clears `deactivated_at`, optionally renaming; code 6 if the
/// name was taken meanwhile.
pub fn reactivate_user(id: &str, body: &Value, caller: &Caller, now: Timestamp, snap: &Snapshot) -> Result<Step> {
    require_server(caller, "ReactivateUser")?;
    let opts = opt_body(body)?;
    check_opts(&opts, &["restore_messages"], &["name", "created_by_id"])?;
    let old = match load_one(snap, id)? {
        Ok(u) => existing(u, id)?,
        Err(step) => return Ok(step),
    };
    if user::is_deleted(&old) {
        return Err(ApiError::not_found(format!("user '{id}' does not exist")));
    }
    if !user::is_deactivated(&old) {
        return Err(ApiError::input(format!("user '{id}' is not deactivated")));
    }
    let mut new = old.clone();
    new.remove("deactivated_at");
    if let Some(Value::String(name)) = opts.get("name") {
        new.insert("name".into(), Value::from(name.as_str()));
    }
    new.insert("updated_at".into(), ts(now));
    let resp = object([("user", Value::Object(user::public_view(&new)))]);
    finish(snap, &[(Some(old), new)], resp, 201)
}

/// `DELETE /users/{id}`: soft by default (restorable); hard deletes keep a tombstone so the id
/// cannot be used again.
pub fn delete_user(id: &str, hard: bool, caller: &Caller, now: Timestamp, snap: &Snapshot) -> Result<Step> {
    require_server(caller, "DeleteUser")?;
    let old = match load_one(snap, id)? {
        Ok(u) => existing(u, id)?,
        Err(step) => return Ok(step),
    };
    let mut shown = old.clone();
    shown.entry("deleted_at").or_insert_with(|| ts(now));
    let new = if hard {
        let mut t = Map::new();
        t.insert("id".into(), Value::from(id));
        t.insert("deleted_at".into(), ts(now));
        t.insert(user::HARD_DELETED.into(), Value::Bool(true));
        t
    } else {
        shown.clone()
    };
    let resp = object([("user", Value::Object(user::public_view(&shown)))]);
    finish(snap, &[(Some(old), new)], resp, 200)
}

/// `POST /users/restore` `{user_ids}`: brings soft-deleted users back. All or nothing.
pub fn restore_users(body: &Value, caller: &Caller, now: Timestamp, snap: &Snapshot) -> Result<Step> {
    require_server(caller, "RestoreUsers")?;
    let ids = match body_object(body)?.get("user_ids") {
        Some(Value::Array(a)) => {
            let mut ids = Vec::new();
            for v in a {
                let id =
                    v.as_str().ok_or_else(|| ApiError::field("user_ids", "user_ids must be an array of strings"))?;
                set::insert(&mut ids, id.to_string());
            }
            ids
        }
        None | Some(Value::Null) => return Err(ApiError::field("user_ids", "user_ids is a required field")),
        Some(_) => return Err(ApiError::field("user_ids", "user_ids must be an array of strings")),
    };
    check_batch_len(ids.len(), "user_ids")?;
    for id in &ids {
        user::validate_id(id)?;
    }
    let missing = snap.missing_users(ids.iter().map(String::as_str));
    if !missing.is_empty() {
        return Ok(need_users(missing));
    }
    let mut changes = Vec::new();
    for id in &ids {
        let old = existing(snap.stored(id).cloned(), id)?;
        if !user::is_deleted(&old) {
            return Err(ApiError::input(format!("user '{id}' is not deleted")));
        }
        let mut new = old.clone();
        new.remove("deleted_at");
        new.insert("updated_at".into(), ts(now));
        changes.push((Some(old), new));
    }
    finish(snap, &changes, object([]), 201)
}

// ---------------------------------------------------------------- app settings

/// `PATCH /app`: server-side only; validates what Roster acts on, keeps the rest.
pub fn update_app(settings: &AppSettings, patch: &Value, caller: &Caller) -> Result<AppSettings> {
    require_server(caller, "UpdateApp")?;
    settings.update(patch)
}

/// `GET /app` body (without duration).
pub fn get_app(settings: &AppSettings) -> Value {
    object([("app", settings.public_view())])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn own_user_view_fills_untracked_fields() {
        let u = json!({"id": "u", "name": "U", "language": "fr", "__hard_deleted": true});
        assert_eq!(
            own_user_view(u.as_object().unwrap()),
            json!({"id": "u", "name": "U", "language": "fr", "online": true, "devices": [], "mutes": [],
                "channel_mutes": [], "blocked_user_ids": [], "invisible": false, "unread_count": 0,
                "total_unread_count": 0, "unread_channels": 0, "unread_threads": 0})
        );
    }
}
