//! Client/server rules and small helpers shared by several operations.

use super::{need_users, Snapshot, Step};
use crate::core::access::auth::Caller;
use crate::core::model::fields::{self, Kind};
use crate::core::model::set;
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

pub(super) fn check_batch_len(n: usize, what: &str) -> Result<()> {
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

pub(super) fn gone(u: Option<&User>, id: &str) -> Result<()> {
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

pub(super) fn ts(now: Timestamp) -> Value {
    Value::String(now.to_string())
}

/// Copies server-computed state from the stored user and sets timestamps.
pub(super) fn carry_server_state(old: Option<&User>, new: &mut User, now: Timestamp, bump: bool) {
    if let Some(old) = old {
        for f in fields::keys(Kind::is_carried) {
            match old.get(f) {
                Some(v) => new.insert(f.to_string(), v.clone()),
                None => new.remove(f),
            };
        }
    }
    new.entry("created_at").or_insert_with(|| ts(now));
    for (key, text) in fields::DEFAULTS {
        if !new.contains_key(*key) {
            new.insert((*key).to_string(), crate::core::wire::json::parse(text).unwrap_or(Value::Null));
        }
    }
    new.insert("online".into(), Value::Bool(false));
    if bump || !new.contains_key("updated_at") {
        new.insert("updated_at".into(), ts(now));
    }
}

/// The set of team names in a `teams` value.
pub(super) fn teams_set(v: Option<&Value>) -> Vec<&str> {
    match v {
        Some(Value::Array(a)) => set::of(a.iter().filter_map(Value::as_str)),
        _ => Vec::new(),
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
        Some(u) if !user::is_hard_deleted(u.borrow()) => Ok(u),
        _ => Err(ApiError::not_found(format!("user '{id}' does not exist"))),
    }
}

pub(super) fn opt_body(body: &Value) -> Result<Map<String, Value>> {
    match body {
        Value::Null => Ok(Map::new()),
        Value::Object(m) => Ok(m.clone()),
        _ => Err(ApiError::input("request body must be a JSON object")),
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
