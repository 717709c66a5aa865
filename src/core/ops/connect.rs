//! `GET /connect`: the client-side connect merge and the `me` view.

use super::rules::{carry_server_state, ts, ts_text};
use super::{finish, need_users, Snapshot, Step};
use crate::core::access::auth::Caller;
use crate::core::model::fields::Kind;
use crate::core::model::form::UserForm;
use crate::core::model::user::{self, User};
use crate::core::model::validate;
use crate::core::query::tenancy;
use crate::core::wire::error::{ApiError, Result};
use crate::core::wire::json::parse_object;
use crate::core::wire::time::Timestamp;
use serde_json::{Map, Value};

/// Client-side connect: creates the user or merges `user_details` into it (sets, never removes).
/// `role` is ignored; a teams change is refused; reserved timestamps are refused. With
/// `fill_only` (the app setting `roster_connect_fill_only`) a stored user keeps every field it
/// has: only fields it does not have yet are taken from the client, so a client reconnecting
/// with a stale profile cannot roll back a server-side update.
pub fn connect_merge(
    old: Option<&User>,
    user_id: &str,
    details: &Value,
    fill_only: bool,
    now: Timestamp,
) -> Result<User> {
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
    let refused =
        |(k, v): &(&String, &Value)| validate::refuses_reserved::<User>(Kind::of(k), v) || *k == user::SHADOWED;
    if let Some((f, _)) = details.iter().find(refused) {
        let name = format!("{label}.{f}");
        return Err(ApiError::field(name.clone(), format!("{name} is a reserved field")));
    }
    if old.is_some_and(|o| o.is_deleted()) {
        return Err(ApiError::not_found(format!("the user {user_id} was deleted")));
    }
    if old.is_some_and(|o| o.is_deactivated()) {
        return Err(ApiError::not_found(format!("the user {user_id} was deactivated")));
    }
    let given_teams = details.teams();
    let stored_teams = old.map_or_else(Vec::new, |o| o.teams());
    if details.get("teams").is_some_and(|t| !t.is_null()) && given_teams != stored_teams {
        return Err(ApiError::not_allowed("user teams cannot be changed at connection time"));
    }
    let mut new = old.cloned().unwrap_or_else(|| {
        let mut m = Map::new();
        m.insert("id".into(), Value::from(user_id));
        m
    });
    for (k, v) in &details {
        if v.is_null()
            || k == "id"
            || Kind::of(k).is_membership()
            || user::is_server_computed(k)
            || user::is_reserved(k)
            || (fill_only && old.is_some_and(|o| o.get(k).is_some_and(|stored| !stored.is_null())))
        {
            continue;
        }
        new.insert(k.clone(), v.clone());
    }
    validate::validate(&new, user_id)?;
    let changed = old.is_none_or(|o| *o != new);
    carry_server_state(old, &mut new, &ts_text(now), changed);
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

/// The commit of a user's last connection closing: `last_active` written once, here; nothing
/// for a user that is no longer active (deactivated or deleted meanwhile).
pub fn offline_commit(stored: &User, now: Timestamp) -> Option<super::Commit> {
    if !stored.is_active() {
        return None;
    }
    Some(super::Commit {
        claims: Vec::new(),
        users: vec![went_offline(stored, now)],
        releases: Vec::new(),
        response: Value::Null,
        status: 200,
    })
}

/// What `me` shows for the fields Roster does not track (devices, mutes, unread counts, …).
pub const OWN_USER_DEFAULTS: &str = r#"{"devices": [], "mutes": [], "channel_mutes": [], "blocked_user_ids": [],
    "invisible": false, "language": "", "unread_count": 0, "total_unread_count": 0, "unread_channels": 0,
    "unread_threads": 0}"#;

/// The `me` object of the first `health.check` frame.
pub fn own_user_view(u: &User) -> Value {
    let mut me = user::public_view(u);
    me.remove(user::SHADOWED); // the socket speaks /api/v1's shape
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
    let mut new = connect_merge(old, user_id, details, snap.settings.connect_fill_only(), now)?;
    if let Value::Object(given) = details {
        tenancy::guard_write(old, given, &mut new, caller, &snap.settings)?;
    }
    let me = own_user_view(&tenancy::shown(&new, caller, &snap.settings));
    finish(snap, vec![(old, new)], me, 200)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn going_offline_writes_last_active_once_and_only_for_active_users() {
        let now = Timestamp::parse("2026-06-01T00:00:00Z").unwrap();
        let active = json!({"id": "u", "name": "A"});
        let commit = offline_commit(active.as_object().unwrap(), now).unwrap();
        assert_eq!(commit.users.len(), 1);
        assert_eq!(commit.users[0]["last_active"], "2026-06-01T00:00:00.000000Z");
        assert_eq!(commit.users[0]["name"], "A", "nothing else changes");
        assert!(commit.claims.is_empty() && commit.releases.is_empty());
        for gone in [
            json!({"id": "u", "deactivated_at": "2026-01-01T00:00:00Z"}),
            json!({"id": "u", "deleted_at": "2026-01-01T00:00:00Z"}),
        ] {
            assert!(offline_commit(gone.as_object().unwrap(), now).is_none());
        }
    }

    #[test]
    fn fill_only_takes_only_fields_the_stored_user_lacks() {
        let stored = json!({"id": "u", "name": "Server Name", "color": "red", "gone": null,
            "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"});
        let stored = stored.as_object().unwrap();
        let client = json!({"name": "Stale Name", "color": "blue", "mood": "ok", "gone": "back"});
        let now = Timestamp::parse("2026-06-01T00:00:00Z").unwrap();
        let filled = connect_merge(Some(stored), "u", &client, true, now).unwrap();
        assert_eq!(filled["name"], "Server Name");
        assert_eq!(filled["color"], "red");
        assert_eq!(filled["mood"], "ok", "a field the user lacks is filled");
        assert_eq!(filled["gone"], "back", "a stored null counts as missing");
        let merged = connect_merge(Some(stored), "u", &client, false, now).unwrap();
        assert_eq!((&merged["name"], &merged["color"]), (&json!("Stale Name"), &json!("blue")), "Stream's merge");
        let created = connect_merge(None, "u", &client, true, now).unwrap();
        assert_eq!(created["name"], "Stale Name", "a new user takes every field");
        let same = connect_merge(Some(stored), "u", &json!({"name": "Other"}), true, now).unwrap();
        assert_eq!(same["updated_at"], stored["updated_at"], "nothing changed: updated_at stays");
    }

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
