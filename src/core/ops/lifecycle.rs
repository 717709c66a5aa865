//! Deactivate, reactivate, delete and restore users.

use super::rules::{body_object, check_batch_len, check_opts, existing, load_one, opt_body, require_server, ts};
use super::{finish, need_users, Snapshot, Step};
use crate::core::access::auth::Caller;
use crate::core::model::form::UserForm;
use crate::core::model::set;
use crate::core::model::user;
use crate::core::wire::error::{ApiError, Result};
use crate::core::wire::json::object;
use crate::core::wire::time::Timestamp;
use serde_json::{Map, Value};

/// `POST /users/{id}/deactivate`: sets `deactivated_at`, freeing the user's name.
pub fn deactivate_user(id: &str, body: &Value, caller: &Caller, now: Timestamp, snap: &Snapshot) -> Result<Step> {
    require_server(caller, "DeactivateUser")?;
    let opts = opt_body(body)?;
    check_opts(&opts, &["mark_messages_deleted", "mark_channels_deleted"], &["created_by_id"])?;
    let old = match load_one(snap, id)? {
        Ok(u) => existing(u, id)?,
        Err(step) => return Ok(step),
    };
    if old.is_deleted() {
        return Err(ApiError::not_found(format!("user '{id}' does not exist")));
    }
    let mut new = old.clone();
    if !old.is_deactivated() {
        new.insert("deactivated_at".into(), ts(now));
        new.insert("updated_at".into(), ts(now));
    }
    let resp = object([("user", Value::Object(user::public_view(&new)))]);
    finish(snap, vec![(Some(&old), new)], resp, 201)
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
    if old.is_deleted() {
        return Err(ApiError::not_found(format!("user '{id}' does not exist")));
    }
    if !old.is_deactivated() {
        return Err(ApiError::input(format!("user '{id}' is not deactivated")));
    }
    let mut new = old.clone();
    new.remove("deactivated_at");
    if let Some(Value::String(name)) = opts.get("name") {
        new.insert("name".into(), Value::from(name.as_str()));
    }
    new.insert("updated_at".into(), ts(now));
    let resp = object([("user", Value::Object(user::public_view(&new)))]);
    finish(snap, vec![(Some(&old), new)], resp, 201)
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
    finish(snap, vec![(Some(&old), new)], resp, 200)
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
        let old = existing(snap.stored(id), id)?;
        if !old.is_deleted() {
            return Err(ApiError::input(format!("user \"{id}\" is not deleted, it can't be restored")));
        }
        let mut new = old.clone();
        new.remove("deleted_at");
        new.insert("updated_at".into(), ts(now));
        changes.push((Some(old), new));
    }
    finish(snap, changes, object([]), 201)
}
