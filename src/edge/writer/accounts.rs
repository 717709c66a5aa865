//! Commands that make or read whole accounts: guest users (`POST /guest`) and `GET
//! /users/{id}/export`.

use super::*;
use crate::core::model::form::UserForm;

/// `POST /guest` `{user}` (`core::ops::guest` decides): the guest user committed, answered with
/// a user token signed with the app secret.
pub(super) fn guest(db: &Db, env: &Env, body: &[u8], v2: bool, at: Timestamp) -> Result<(Value, User), ApiError> {
    let settings = store::load_settings(db)?;
    let request = ops::GuestRequest::parse(&parse_body(body)?, v2, &settings)?;
    let id = &request.id;
    let mut loader = SqlLoader { db, before: Vec::new() };
    request.check_stored(store::load_user(db, id)?.as_ref())?;
    let w = records::BatchWrite {
        db,
        op: crate::core::Operation::CreateGuest,
        upsert: true,
        caller: &Caller::Server,
        settings: &settings,
        at,
    };
    let mut snap = Snapshot::new(settings.clone());
    let commit = records::write(&w, &request.upsert_body(), &mut snap, &mut loader).map_err(|e| e.error)?;
    let secret = super::super::Credentials::from_env(env)?.secret;
    let token = auth::user_token(id, None, Some(at.secs()), &secret);
    let shown = commit.response.get("users").and_then(|u| u.get(id)).cloned().unwrap_or(Value::Null);
    let stored = commit.users.first().cloned().unwrap_or_default();
    Ok((object([("user", shown), ("access_token", Value::from(token))]), stored))
}

/// The export of a user (`GET /users/{id}/export`, and each step of an export task): 404 for
/// an unknown or hard-deleted id.
pub(super) fn export(db: &Db, id: &str) -> Result<Value, ApiError> {
    match store::load_user(db, id)? {
        Some(u) if !u.is_hard_deleted() => Ok(tasks::export_of(&u)),
        _ => Err(ApiError::not_found(format!("user '{id}' does not exist"))),
    }
}
