//! Commands that make or read whole accounts: guest users (`POST /guest`) and `GET
//! /users/{id}/export`.

use super::*;

/// `POST /guest` `{user}`: creates (or updates) a guest user, role `guest`, and answers it with
/// a user token. Only when the app has `roster_guests_enabled` on and is not multi-tenant (as
/// in Stream, guests and teams do not mix); an existing user that is no guest cannot be taken.
pub(super) fn guest(db: &Db, env: &Env, body: &[u8], v2: bool, at: Timestamp) -> Result<(Value, User), ApiError> {
    let settings = store::load_settings(db)?;
    if !settings.guests_enabled() || settings.multi_tenant() {
        return Err(ApiError::not_allowed("guest users are not enabled for this app"));
    }
    let body = parse_body(body)?;
    let Some(Value::Object(input)) = body.get("user") else {
        return Err(ApiError::field("user", "user is a required field and must be an object"));
    };
    let id = user::id_of(input)?.to_string();
    let mut input = match v2 {
        true => match v2::user_in(&v2::body_in(&Value::Object(input.clone())), "user")? {
            Value::Object(flat) => flat,
            _ => input.clone(),
        },
        false if input.contains_key(user::SHADOWED) => {
            let name = format!("user.{}", user::SHADOWED);
            return Err(ApiError::field(name.clone(), format!("{name} is a reserved field")));
        }
        false => input.clone(),
    };
    input.insert("role".into(), Value::from("guest"));
    input.remove("teams");
    let mut loader = SqlLoader { db, before: BTreeMap::new() };
    if store::load_user(db, &id)?.is_some_and(|u| user::role_of(&u) != "guest") {
        return Err(ApiError::not_allowed(format!("user '{id}' exists and is not a guest")));
    }
    let mut users = serde_json::Map::new();
    users.insert(id.clone(), Value::Object(input));
    let request = object([("users", Value::Object(users))]);
    let commit = drive::drive(&mut loader, Snapshot::new(settings), crate::core::Operation::CreateGuest, &|s| {
        ops::upsert_users(&request, &Caller::Server, at, s)
    })
    .map_err(|e| e.error)?;
    let secret = super::super::Credentials::from_env(env)?.secret;
    let token = auth::user_token(&id, None, Some(at.secs()), &secret);
    let shown = commit.response.get("users").and_then(|u| u.get(&id)).cloned().unwrap_or(Value::Null);
    let prepared = store::prepare(&commit, &loader.before);
    let now = at.0 / 1000;
    db.transaction(move |db| store::apply(db, &prepared, now))?;
    let stored = commit.users.first().cloned().unwrap_or_default();
    Ok((object([("user", shown), ("access_token", Value::from(token))]), stored))
}

/// The export of a user (`GET /users/{id}/export`, and each step of an export task): 404 for
/// an unknown or hard-deleted id.
pub(super) fn export(db: &Db, id: &str) -> Result<Value, ApiError> {
    match store::load_user(db, id)? {
        Some(u) if !user::is_hard_deleted(&u) => Ok(tasks::export_of(&u)),
        _ => Err(ApiError::not_found(format!("user '{id}' does not exist"))),
    }
}
