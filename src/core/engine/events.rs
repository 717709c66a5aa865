//! Events: what the `/connect` sockets and webhooks receive when users change, in Stream's
//! shapes (`{type, user, created_at}`, `me` for the user's own connections). The shell decides
//! who receives them (the user's own connections, the connections watching the user through a
//! `presence: true` query, the app's webhooks); this module builds them.

use crate::core::access::auth::Caller;
use crate::core::model::form::UserForm;
use crate::core::model::settings::{self, AppSettings};
use crate::core::model::user::{self, User};
use crate::core::ops::own_user_view;
use crate::core::query::tenancy;
use crate::core::wire::error::{ApiError, Result};
use crate::core::wire::json::{object, text};
use crate::core::wire::time::Timestamp;
use serde_json::{Map, Value};

/// Largest custom event, as JSON.
pub const MAX_CUSTOM_EVENT_BYTES: usize = 5 * 1024;

/// The event a committed change to a user is, by the operation that made it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserChange {
    Updated,
    Deactivated,
    Reactivated,
    Deleted,
}

impl UserChange {
    pub fn event_type(self) -> &'static str {
        match self {
            UserChange::Updated => "user.updated",
            UserChange::Deactivated => "user.deactivated",
            UserChange::Reactivated => "user.reactivated",
            UserChange::Deleted => "user.deleted",
        }
    }
}

/// A user as events show it: what a user token may see of it, with its presence.
pub fn event_user(u: &User, online: bool, settings: &AppSettings) -> Value {
    let mut shown = tenancy::shown(u, &Caller::User(String::new()), settings);
    shown.insert("online".into(), Value::Bool(online));
    shown.remove(user::SHADOWED); // events are /api/v1's shape
    Value::Object(shown)
}

/// `{type, user, created_at}`.
pub fn user_event(change: UserChange, u: &User, online: bool, settings: &AppSettings, at: Timestamp) -> Value {
    object([
        ("type", Value::from(change.event_type())),
        ("user", event_user(u, online, settings)),
        ("created_at", Value::from(at.to_string())),
    ])
}

/// The same event for the user's own connections: with `me`, the user as `connectUser` shows it.
pub fn for_self(event: &Value, u: &User, settings: &AppSettings) -> Value {
    let mut out = event.clone();
    if let Value::Object(m) = &mut out {
        m.insert("me".into(), own_user_view(&tenancy::shown(u, &Caller::User(String::new()), settings)));
    }
    out
}

/// `user.presence.changed`: the user came online or went offline.
pub fn presence_event(u: &User, online: bool, settings: &AppSettings, at: Timestamp) -> Value {
    object([
        ("type", Value::from("user.presence.changed")),
        ("user", event_user(u, online, settings)),
        ("created_at", Value::from(at.to_string())),
    ])
}

/// Whether a user shows as online while it has a connection: not when `invisible`.
pub fn visible(u: &User) -> bool {
    u.get("invisible").and_then(Value::as_bool) != Some(true) && u.is_active()
}

/// A custom event's target must be a stored user that is active (neither deactivated nor
/// deleted): otherwise 404, as Stream answers.
pub fn check_target(id: &str, stored: Option<&User>) -> Result<()> {
    match stored {
        Some(u) if u.is_active() => Ok(()),
        _ => Err(ApiError::not_found(format!("user '{id}' does not exist"))),
    }
}

/// `POST /users/{id}/event` `{event: {type, …}}`: the event delivered to the user's connections,
/// with `created_at` set. `type` is required; at most 5 KiB.
pub fn custom_event(body: &Value, at: Timestamp) -> Result<Value> {
    let Some(whole @ Value::Object(event)) = body.get("event") else {
        return Err(ApiError::field("event", "event is a required field and must be an object"));
    };
    match event.get("type") {
        Some(Value::String(t)) if !t.is_empty() => {}
        _ => return Err(ApiError::field("event.type", "event.type is a required field")),
    }
    let size = text(whole).len();
    if size > MAX_CUSTOM_EVENT_BYTES {
        return Err(ApiError::too_big(format!(
            "event is {size} bytes, larger than the limit of {MAX_CUSTOM_EVENT_BYTES} bytes (5KB)"
        )));
    }
    let mut out: Map<String, Value> = event.clone();
    out.insert("created_at".into(), Value::from(at.to_string()));
    Ok(Value::Object(out))
}

/// Whether `url` is an absolute http(s) URL.
/// The webhook URLs an event of this type goes to: `webhook_url`, and every enabled
/// `event_hooks` entry of type webhook whose `event_types` (if any) include it.
pub fn webhook_targets(settings: &AppSettings, event_type: &str) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(url) = settings.stored().get("webhook_url").and_then(Value::as_str).filter(|u| settings::is_http_url(u))
    {
        out.push(url.to_string());
    }
    if let Some(Value::Array(hooks)) = settings.stored().get("event_hooks") {
        for h in hooks {
            let webhook = h.get("hook_type").and_then(Value::as_str).is_none_or(|t| t == "webhook");
            let enabled = h.get("enabled").and_then(Value::as_bool) != Some(false);
            let wanted = match h.get("event_types") {
                Some(Value::Array(types)) if !types.is_empty() => {
                    types.iter().any(|t| t.as_str() == Some(event_type) || t.as_str() == Some("*"))
                }
                _ => true,
            };
            if let (true, true, true, Some(url)) =
                (webhook, enabled, wanted, h.get("webhook_url").and_then(Value::as_str))
            {
                if settings::is_http_url(url) && !out.iter().any(|u| u == url) {
                    out.push(url.to_string());
                }
            }
        }
    }
    out
}

/// The hex HMAC-SHA256 of a webhook body with the app secret: the `X-Signature` header that the
/// SDKs' `verifyWebhook` checks.
pub fn signature(body: &str, secret: &str) -> String {
    crate::core::access::auth::hmac_hex(secret, body.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn a_custom_events_target_must_be_active() {
        assert!(check_target("u", Some(json!({"id": "u"}).as_object().unwrap())).is_ok());
        let gone = json!({"id": "u", "deactivated_at": "2026-01-01T00:00:00Z"});
        for stored in [None, Some(gone.as_object().unwrap())] {
            let e = check_target("u", stored).unwrap_err();
            assert_eq!((e.status, e.reason.as_str()), (404, "user 'u' does not exist"));
        }
    }
}
