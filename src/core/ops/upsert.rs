//! `POST /users`: upsert a batch of users.

use super::rules::{body_object, carry_server_state, check_batch_len, gone, require_self, teams_set};
use super::{finish, users_response, Need, Snapshot, Step};
use crate::core::access::auth::Caller;
use crate::core::model::fields::{self, Kind};
use crate::core::model::set;
use crate::core::model::user::{self, User};
use crate::core::model::username;
use crate::core::query::tenancy;
use crate::core::wire::error::{ApiError, Result};
use crate::core::wire::json::object;
use crate::core::wire::time::Timestamp;
use serde_json::Value;

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
    if let Some((f, _)) = input.iter().find(|(k, v)| user::refuses_reserved(k, v)) {
        let name = format!("{label}.{f}");
        return Err(ApiError::field(name.clone(), format!("{name} is a reserved field")));
    }
    // Null means "not given"; server-computed fields and echoed reserved ones are ignored.
    let mut cleaned = User::new();
    for (k, v) in input {
        if !v.is_null() && !user::is_server_computed(k) && !user::is_reserved(k) {
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
        for keep in fields::keys(Kind::is_membership) {
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

/// `POST /users`'s body, parsed and checked once (everything that needs no stored data): a
/// shell parses it before the load loop ([`crate::core::engine::drive`]), whose rounds then re-run only
/// what depends on the users loaded.
pub struct UpsertBatch(Vec<(String, User)>);

impl UpsertBatch {
    pub fn parse(body: &Value, caller: &Caller) -> Result<Self> {
        parse_upsert(body, caller).map(UpsertBatch)
    }
}

/// `POST /users`: creates missing users, replaces existing ones' data. All or nothing.
pub fn upsert_users(body: &Value, caller: &Caller, now: Timestamp, snap: &Snapshot) -> Result<Step> {
    upsert_parsed(&UpsertBatch::parse(body, caller)?, caller, now, snap)
}

/// [`upsert_users`] of a parsed batch.
pub fn upsert_parsed(batch: &UpsertBatch, caller: &Caller, now: Timestamp, snap: &Snapshot) -> Result<Step> {
    let batch = &batch.0;
    let missing = snap.missing_users(batch.iter().map(|(id, _)| id.as_str()));
    if !missing.is_empty() {
        // The names the batch will hold are its inputs' names: their index lists load in the
        // same round as the users (an unchanged name then needs no second round).
        let held = batch.iter().filter_map(|(_, input)| username::held_key(input));
        let names = set::of(held.filter(|n| !snap.names.contains_key(n)));
        return Ok(Step::Need(Need { users: missing, names }));
    }
    let mut changes = Vec::with_capacity(batch.len());
    for (id, input) in batch {
        let old = snap.stored(id);
        let mut new = merge_upsert_one(old, input.clone(), caller, now)?;
        if matches!(caller, Caller::User(_)) && !snap.settings.server_only_fields().is_empty() {
            tenancy::guard_write(old, input, &mut new, caller, &snap.settings)?;
        }
        changes.push((old, new));
    }
    let users = users_response(&changes, caller, &snap.settings);
    let resp = object([("users", users), ("membership_deletion_task_id", Value::from(""))]);
    finish(snap, changes, resp, 201)
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

/// `POST /users` over users the caller holds, without unique usernames: the new state of each
/// user of the batch, in the batch's order, all or nothing. `stored` loads a user by id. The
/// tree-building path of [`crate::core::engine::batch::upsert`].
pub fn merge_upsert_batch(
    body: &Value,
    stored: &mut dyn FnMut(&str) -> Result<Option<User>>,
    caller: &Caller,
    now: Timestamp,
) -> Result<Vec<User>> {
    let mut out = Vec::new();
    for (id, input) in parse_upsert(body, caller)? {
        let old = stored(&id)?;
        out.push(merge_upsert_one(old.as_ref(), input, caller, now)?);
    }
    Ok(out)
}
