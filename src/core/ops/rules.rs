//! Client/server rules and small helpers shared by several operations.

use super::{need_users, Snapshot, Step};
use crate::core::access::auth::Caller;
use crate::core::model::fields::{self, Kind};
use crate::core::model::form::UserForm;
use crate::core::model::user::{self, User, MAX_BATCH};
use crate::core::wire::error::{ApiError, Result};
use crate::core::wire::time::Timestamp;
use serde_json::{Map, Value};

/// Server-side operations: a user token gets 403 code 17.
pub fn require_server(caller: &Caller, action: &str) -> Result<()> {
    match caller {
        Caller::Server => Ok(()),
        Caller::User(id) => Err(ApiError::not_allowed(format!(
            "User '{id}' with role 'user' is not allowed to perform action {action} in scope 'app'"
        ))),
    }
}

pub(super) fn require_self(caller: &Caller, target: &str, action: &str) -> Result<()> {
    match caller {
        Caller::User(id) if id != target => Err(ApiError::not_allowed(format!(
            "User '{id}' is not allowed to perform action {action} on user '{target}': client-side requests may only change the current user"
        ))),
        _ => Ok(()),
    }
}

/// A batch of `n` entries in field `what`: at least one, at most [`MAX_BATCH`].
pub fn check_batch_len(n: usize, what: &str) -> Result<()> {
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
    body.as_object().ok_or_else(not_an_object)
}

/// The error of a request body that is JSON but not an object.
pub fn not_an_object() -> ApiError {
    ApiError::input("request body must be a JSON object")
}

/// The error of a batch body without its `users`.
pub fn users_required() -> ApiError {
    ApiError::field("users", "users is a required field")
}

/// Refuses a write to a deleted user.
pub fn gone<'a, U: UserForm<'a>>(u: Option<&U>, id: &str) -> Result<()> {
    match u {
        Some(u) if u.is_hard_deleted() => {
            Err(ApiError::input(format!("user '{id}' was deleted and its id cannot be used again")))
        }
        Some(u) if u.is_deleted() => {
            Err(ApiError::input(format!("user '{id}' was deleted; restore it before changing it")))
        }
        _ => Ok(()),
    }
}

/// The error of a write a deactivated user may not make.
pub(super) fn deactivated(id: &str) -> ApiError {
    ApiError::input(format!("user '{id}' was deactivated"))
}

pub(super) fn ts(now: Timestamp) -> Value {
    Value::String(now.to_string())
}

/// `now` as JSON text, as [`carry_server_state`] takes it.
pub fn ts_text(now: Timestamp) -> String {
    format!("\"{now}\"")
}

/// Copies server-computed state from the stored user and sets the defaults and timestamps, in
/// either form; `now` is the write's time as JSON text ([`ts_text`]).
pub fn carry_server_state<'a, U: UserForm<'a>>(old: Option<&U>, new: &mut U, now: &'a str, bump: bool) {
    if let Some(old) = old {
        new.retain(|k, _| !k.is_carried());
        new.copy(old, Kind::is_carried);
    }
    new.or_text(fields::CREATED_AT, now);
    for (key, text) in fields::DEFAULTS {
        new.or_text(*key, text);
    }
    new.put_text(fields::ONLINE, "false");
    if bump || !new.has(fields::UPDATED_AT) {
        new.put_text(fields::UPDATED_AT, now);
    }
}

pub(super) fn load_one(snap: &Snapshot, id: &str) -> Result<std::result::Result<Option<User>, Step>> {
    user::validate_id(id)?;
    if !snap.is_loaded(id) {
        return Ok(Err(need_users(vec![id.to_string()])));
    }
    Ok(Ok(snap.stored(id).cloned()))
}

/// A stored user (owned or borrowed) that is there and not hard-deleted.
pub(super) fn existing<U: std::borrow::Borrow<User>>(u: Option<U>, id: &str) -> Result<U> {
    match u {
        Some(u) if !u.borrow().is_hard_deleted() => Ok(u),
        _ => Err(ApiError::not_found(format!("user '{id}' does not exist"))),
    }
}

pub(super) fn opt_body(body: &Value) -> Result<Map<String, Value>> {
    match body {
        Value::Null => Ok(Map::new()),
        Value::Object(m) => Ok(m.clone()),
        _ => Err(not_an_object()),
    }
}

pub(super) fn check_opts(opts: &Map<String, Value>, bools: &[&str], strings: &[&str]) -> Result<()> {
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
