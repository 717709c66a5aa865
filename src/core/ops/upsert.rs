//! `POST /users`: upsert a batch of users.

use super::rules::{
    body_object, carry_server_state, check_batch_len, deactivated, gone, require_self, ts_text, users_required,
};
use super::{finish, users_response, Need, Snapshot, Step};
use crate::core::access::auth::Caller;
use crate::core::model::fields;
use crate::core::model::form::UserForm;
use crate::core::model::set;
use crate::core::model::user::User;
use crate::core::model::username;
use crate::core::model::validate;
use crate::core::query::tenancy;
use crate::core::wire::error::{ApiError, Result};
use crate::core::wire::json::object;
use crate::core::wire::time::Timestamp;
use serde_json::Value;

/// Parses `POST /users` `{users: {id: user}}` and checks everything that needs no stored data.
/// The users move out of the body.
fn parse_upsert(body: Value, caller: &Caller) -> Result<Vec<(String, User)>> {
    body_object(&body)?;
    let users = match body {
        Value::Object(mut body) => body.remove("users"),
        _ => None,
    };
    let users = match users {
        Some(Value::Object(m)) => m,
        None | Some(Value::Null) => return Err(users_required()),
        Some(_) => return Err(users_not_a_map()),
    };
    check_batch_len(users.len(), "users")?;
    let mut out = Vec::with_capacity(users.len());
    for (key, value) in users {
        let user = parse_upsert_user(&key, value, caller)?;
        out.push((key, user));
    }
    Ok(out)
}

/// One user of `POST /users`, keyed `key`: the checks that need no stored data. Returns it
/// without nulls and server-computed fields.
fn parse_upsert_user(key: &str, value: Value, caller: &Caller) -> Result<User> {
    let Value::Object(input) = value else { return Err(user_not_an_object(key)) };
    clean_input(key, input, caller)
}

/// The error of a `POST /users` body whose `users` is not an object.
pub fn users_not_a_map() -> ApiError {
    ApiError::field("users", "users must be an object keyed by user id")
}

/// The error of a user of `POST /users`, keyed `key`, that is not an object.
pub fn user_not_an_object(key: &str) -> ApiError {
    ApiError::field(format!("users[{key}]"), format!("users[{key}] must be an object"))
}

/// One input user of `POST /users` keyed `key`, in either form: its id, no reserved fields
/// (echoes of what the server answers are ignored), built-in fields of the right types, custom
/// data within the limit, and a user token writing only its own user. Returns it without
/// nulls, server-computed fields and echoes.
pub fn clean_input<'a, U: UserForm<'a>>(key: &str, mut input: U, caller: &Caller) -> Result<U> {
    let id = validate::id_of(&input)?;
    if id != key {
        return Err(ApiError::field(
            format!("users[{key}].id"),
            format!("users[{key}].id must match its key, got '{id}'"),
        ));
    }
    input.try_each(|f, kind, v| match validate::refuses_reserved::<U>(kind, v) {
        true => Err(ApiError::field(format!("users[{key}].{f}"), format!("users[{key}].{f} is a reserved field"))),
        false => Ok(()),
    })?;
    // Null means "not given"; server-computed fields and echoed reserved ones are ignored.
    input.retain(|kind, v| !U::is_null(v) && !kind.is_server_computed() && !kind.is_reserved());
    validate::validate(&input, key)?;
    require_self(caller, key, "UpdateUser")?;
    Ok(input)
}

/// The merge of `POST /users` for one user, in either form: a parsed input (checked, without
/// nulls and server-computed fields) over the stored user, taken to become the new state
/// without a copy; `now` is the write's time as JSON text ([`ts_text`]).
pub fn merge_user<'a, U: UserForm<'a>>(
    old: Option<&U>,
    input: U,
    id: &str,
    caller: &Caller,
    now: &'a str,
) -> Result<U> {
    gone(old, id)?;
    if old.is_some_and(|o| o.is_deactivated()) {
        return Err(deactivated(id));
    }
    let client = matches!(caller, Caller::User(_));
    if client {
        // A role that is not a string was refused by the checks (an input) or never stored.
        let old_role = old.map_or(Some(std::borrow::Cow::Borrowed("user")), |o| o.role());
        if input.has(fields::ROLE) && input.role() != old_role {
            return Err(ApiError::not_allowed("user role can only be changed server-side"));
        }
        let given = input.teams();
        if !given.is_empty() && given != old.map_or_else(Vec::new, |o| o.teams()) {
            return Err(ApiError::not_allowed("user teams can only be updated server-side"));
        }
        if input.has(fields::TEAMS_ROLE) && !old.is_some_and(|o| input.same(o, fields::TEAMS_ROLE)) {
            return Err(ApiError::not_allowed("user teams can only be updated server-side"));
        }
    }
    let mut new = input;
    if client && new.teams().is_empty() {
        new.take(fields::TEAMS); // client-side `teams: []` means "not changing teams"
    }
    if let Some(old) = old {
        // Replace wholesale, except that role and teams are kept when omitted.
        for keep in fields::MEMBERSHIP {
            if !new.has(keep) {
                if let Some(v) = old.value(keep) {
                    new.put(keep, v.clone());
                }
            }
        }
    }
    carry_server_state(old, &mut new, now, true);
    Ok(new)
}

/// [`merge_user`] of a tree.
fn merge_upsert_one(old: Option<&User>, input: User, caller: &Caller, now: Timestamp) -> Result<User> {
    let id = input.get("id").and_then(Value::as_str).unwrap_or_default().to_string();
    merge_user(old, input, &id, caller, &ts_text(now))
}

/// `POST /users`'s body, parsed and checked once (everything that needs no stored data): a
/// shell parses it before the load loop ([`crate::core::engine::drive`]), whose rounds then re-run only
/// what depends on the users loaded.
pub struct UpsertBatch(Vec<(String, User)>);

impl UpsertBatch {
    /// The batch of `body`, whose users it takes.
    pub fn parse(body: Value, caller: &Caller) -> Result<Self> {
        parse_upsert(body, caller).map(UpsertBatch)
    }
}

/// `POST /users`: creates missing users, replaces existing ones' data. All or nothing.
pub fn upsert_users(body: &Value, caller: &Caller, now: Timestamp, snap: &Snapshot) -> Result<Step> {
    upsert_parsed(&UpsertBatch::parse(body.clone(), caller)?, caller, now, snap)
}

/// [`upsert_users`] of a parsed batch.
pub fn upsert_parsed(batch: &UpsertBatch, caller: &Caller, now: Timestamp, snap: &Snapshot) -> Result<Step> {
    let batch = &batch.0;
    let missing = snap.missing_users(batch.iter().map(|(id, _)| id.as_str()));
    if !missing.is_empty() {
        // The names the batch will hold are its inputs' names: their index lists load in the
        // same round as the users (an unchanged name then needs no second round).
        let held = batch.iter().filter_map(|(_, input)| username::held_key(input));
        let names = set::of(held.filter(|n| !snap.has_names(n)));
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

/// The checks `upsert_users` makes on one user before it looks at stored data: an object with
/// a valid `id`, no reserved fields, built-in fields of the right types, custom data ≤ 5 KiB.
pub fn validate_user(input: &Value) -> Result<()> {
    let id = input.get("id").and_then(Value::as_str).unwrap_or_default();
    parse_upsert_user(id, input.clone(), &Caller::Server).map(|_| ())
}
