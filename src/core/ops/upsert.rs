//! `POST /users`: upsert a batch of users.

use super::rules::{carry_server_state, deactivated, gone, require_self};
use crate::core::access::auth::Caller;
use crate::core::model::fields;
use crate::core::model::form::UserForm;
use crate::core::model::user::User;
use crate::core::model::validate;
use crate::core::wire::error::{ApiError, Result};
use serde_json::Value;

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

/// The checks an upsert makes on one user before it looks at stored data: an object with
/// a valid `id`, no reserved fields, built-in fields of the right types, custom data ≤ 5 KiB.
pub fn validate_user(input: &Value) -> Result<()> {
    let id = input.get("id").and_then(Value::as_str).unwrap_or_default();
    parse_upsert_user(id, input.clone(), &Caller::Server).map(|_| ())
}
