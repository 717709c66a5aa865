//! `PATCH /users`: partial update (`set`/`unset`) of a batch of users.

use super::rules::{carry_server_state, deactivated, gone, require_self, ts_text};
use crate::core::access::auth::Caller;
use crate::core::model::fields::{self, Key};
use crate::core::model::form::UserForm;
use crate::core::model::partial::PartialUpdate;
use crate::core::model::set;
use crate::core::model::settings::AppSettings;
use crate::core::model::user::User;
use crate::core::model::validate;
use crate::core::query::tenancy;
use crate::core::wire::error::{ApiError, Result};
use crate::core::wire::time::Timestamp;
use serde_json::Value;

/// The error of a `PATCH /users` body whose `users` is not an array.
pub fn users_not_a_list() -> ApiError {
    ApiError::field("users", "users must be an array of {id, set, unset}")
}

/// One entry of `PATCH /users` as a tree, parsed and checked as the batch checks each, in
/// order: its shape, then whether an earlier entry (`seen`, their ids) names the same user,
/// then who may write what.
pub fn partial_entry(
    entry: &Value,
    caller: &Caller,
    settings: &AppSettings,
    seen: &mut Vec<String>,
) -> Result<PartialUpdate> {
    let upd = PartialUpdate::parse(entry)?;
    check_once(seen, &upd.id)?;
    check_entry(&upd, caller, settings)?;
    Ok(upd)
}

/// Refuses an entry whose user an earlier one of the batch names (`seen`: their ids, sorted;
/// `id` is added).
pub fn check_once(seen: &mut Vec<String>, id: &str) -> Result<()> {
    match set::insert(seen, id.to_string()) {
        true => Ok(()),
        false => Err(ApiError::field("users", format!("user '{id}' appears more than once in the batch"))),
    }
}

/// The checks of one parsed entry that need no stored data: who may write what, and tenancy.
fn check_entry(upd: &PartialUpdate, caller: &Caller, settings: &AppSettings) -> Result<()> {
    check_update_permissions(upd, caller)?;
    tenancy::check_partial(upd, caller, settings)
}

/// Who may write what in a `PATCH /users` entry, for both paths: a user token only its own
/// user, and never its role or teams. `touches` tells whether the entry's paths reach a
/// top-level field.
pub fn check_partial_permissions(caller: &Caller, id: &str, touches: &dyn Fn(&str) -> bool) -> Result<()> {
    require_self(caller, id, "UpdateUserPartial")?;
    if let Caller::User(_) = caller {
        if touches("role") {
            return Err(ApiError::not_allowed("user role can only be changed server-side"));
        }
        if touches("teams") || touches("teams_role") {
            return Err(ApiError::not_allowed("user teams can only be updated server-side"));
        }
    }
    Ok(())
}

/// [`check_partial_permissions`] of a parsed entry.
fn check_update_permissions(upd: &PartialUpdate, caller: &Caller) -> Result<()> {
    let touches = |top: &str| upd.set.iter().map(|(p, _)| p).chain(&upd.unset).any(|p| p.top() == top);
    check_partial_permissions(caller, &upd.id, &touches)
}

/// The stored user a `PATCH /users` entry may change, in either form: there, not deleted, and
/// not deactivated when its own token asks.
pub fn partial_target<'u, 'a, U: UserForm<'a>>(old: Option<&'u U>, id: &str, caller: &Caller) -> Result<&'u U> {
    let Some(old) = old else {
        return Err(ApiError::field(format!("users[{id}]"), format!("user '{id}' does not exist")));
    };
    gone(Some(old), id)?;
    // A deactivated user changes only server-side (revoking its tokens, say): its own token is
    // refused here as on upsert and connect.
    if matches!(caller, Caller::User(_)) && old.is_deactivated() {
        return Err(deactivated(id));
    }
    Ok(old)
}

/// The server state of a partially updated user, in either form: as stored, except
/// `revoke_tokens_issued_before`, the one server field a partial update may set (null removes
/// it); `now` is the write's time as JSON text.
pub fn carry_partial<'a, U: UserForm<'a>>(old: &U, new: &mut U, now: &'a str) {
    const REVOKE: Key = fields::REVOKE;
    let revoke = new.take(REVOKE);
    carry_server_state(Some(old), new, now, true);
    match revoke {
        Some(v) if !U::is_null(&v) => new.put(REVOKE, v),
        _ => {
            new.take(REVOKE);
        }
    }
}

/// One checked entry of `PATCH /users` applied to the stored user (a tree).
pub fn apply_partial(old: Option<&User>, upd: &PartialUpdate, caller: &Caller, now: Timestamp) -> Result<User> {
    let old = partial_target(old, &upd.id, caller)?;
    let mut new = upd.apply(old)?;
    carry_partial(old, &mut new, &ts_text(now));
    validate::validate(&new, &upd.id)?;
    Ok(new)
}
