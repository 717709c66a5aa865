//! App settings: every setting `PATCH /app` is given is kept as sent; the ones Roster acts on
//! are validated and read through typed accessors. A key that names no setting
//! ([`super::setting_keys`]) is ignored, as Stream ignores it.

use super::partial::FieldPath;
use crate::core::wire::error::{ApiError, Result};
use crate::core::wire::json::parse_object;
use crate::core::wire::time::Timestamp;
use serde_json::{Map, Value};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum UniqueMode {
    #[default]
    No,
    App,
    Team,
}

impl UniqueMode {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "no" => Some(UniqueMode::No),
            "app" => Some(UniqueMode::App),
            "team" => Some(UniqueMode::Team),
            _ => None,
        }
    }
}

/// What `GET /app` shows for every setting that was never set.
pub const APP_DEFAULTS: &str = r#"{
    "name": "roster",
    "organization": "roster",
    "placement": "edge",
    "suspended": false,
    "suspended_explanation": "",
    "enforce_unique_usernames": "no",
    "disable_auth_checks": false,
    "disable_permissions_checks": false,
    "multi_tenant_enabled": false,
    "permission_version": "v2",
    "revoke_tokens_issued_before": null,
    "user_search_disallowed_roles": [],
    "event_hooks": [],
    "webhook_url": "",
    "webhook_events": [],
    "custom_action_handler_url": "",
    "before_message_send_hook_url": "",
    "sqs_url": "",
    "sns_topic_arn": "",
    "channel_configs": {},
    "grants": {},
    "policies": {},
    "push_notifications": {"version": "v1", "offline_only": false, "providers": []},
    "file_upload_config": {"allowed_file_extensions": [], "blocked_file_extensions": [], "allowed_mime_types": [], "blocked_mime_types": []},
    "image_upload_config": {"allowed_file_extensions": [], "blocked_file_extensions": [], "allowed_mime_types": [], "blocked_mime_types": []}
}"#;

/// Settings `PATCH /app` cannot change (Stream's dashboard sets them).
const READ_ONLY: &[&str] = &["id", "name", "organization", "suspended", "suspended_explanation", "placement"];

/// Settings that `null` clears (for every other one `null` means "not given").
const NULL_CLEARS: &[&str] = &["revoke_tokens_issued_before", crate::core::access::rate_limits::SETTING];

/// A zero value as a typed SDK sends an unset field: `null`, `false`, `0`, `""`, `[]`, or an
/// object whose members are all zero values.
fn is_zero(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(m) => m.values().all(is_zero),
    }
}

/// The app's settings as stored: a JSON object of what was set, with typed views.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AppSettings {
    stored: Map<String, Value>,
}

impl AppSettings {
    pub fn from_stored(stored: Map<String, Value>) -> Self {
        AppSettings { stored }
    }
    /// Parses stored settings JSON; anything unreadable counts as no settings.
    pub fn from_json(s: &str) -> Self {
        parse_object(s).map(Self::from_stored).unwrap_or_default()
    }
    pub fn stored(&self) -> &Map<String, Value> {
        &self.stored
    }
    pub fn to_json(&self) -> String {
        crate::core::wire::json::object_text(&self.stored)
    }

    pub fn unique_mode(&self) -> UniqueMode {
        self.stored
            .get("enforce_unique_usernames")
            .and_then(Value::as_str)
            .and_then(UniqueMode::parse)
            .unwrap_or_default()
    }
    pub fn disable_auth_checks(&self) -> bool {
        self.stored.get("disable_auth_checks").and_then(Value::as_bool).unwrap_or(false)
    }
    pub fn revoke_tokens_issued_before(&self) -> Option<Timestamp> {
        self.stored.get("revoke_tokens_issued_before").and_then(Value::as_str).and_then(Timestamp::parse)
    }
    pub fn multi_tenant(&self) -> bool {
        self.stored.get("multi_tenant_enabled").and_then(Value::as_bool).unwrap_or(false)
    }
    /// `user_search_disallowed_roles`: roles whose user tokens may not query users.
    pub fn search_disallowed_roles(&self) -> Vec<String> {
        match self.stored.get("user_search_disallowed_roles") {
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(str::to_string).collect(),
            _ => Vec::new(),
        }
    }
    /// `roster_guests_enabled`: whether `POST /guest` may create guest users (off by default).
    pub fn guests_enabled(&self) -> bool {
        self.stored.get("roster_guests_enabled").and_then(Value::as_bool).unwrap_or(false)
    }
    /// `roster_username_skeletons`: whether lookalike usernames (UTS #39 skeletons) collide
    /// under `enforce_unique_usernames` (off by default: only normalized names do).
    pub fn username_skeletons(&self) -> bool {
        self.stored.get("roster_username_skeletons").and_then(Value::as_bool).unwrap_or(false)
    }
    /// `roster_connect_fill_only`: whether `connectUser` only fills fields the stored user
    /// lacks instead of overwriting them (off by default: Stream's merge).
    pub fn connect_fill_only(&self) -> bool {
        self.stored.get("roster_connect_fill_only").and_then(Value::as_bool).unwrap_or(false)
    }
    /// `roster_server_only_fields`: paths only a server token may write.
    pub fn server_only_fields(&self) -> Vec<FieldPath> {
        self.paths("roster_server_only_fields")
    }
    /// `roster_hidden_fields`: paths user tokens never see.
    pub fn hidden_fields(&self) -> Vec<FieldPath> {
        self.paths("roster_hidden_fields")
    }
    fn paths(&self, key: &str) -> Vec<FieldPath> {
        self.stored.get(key).and_then(|v| parse_paths(key, v).ok()).unwrap_or_default()
    }
    pub fn auth_policy(&self) -> crate::core::access::auth::AuthPolicy {
        crate::core::access::auth::AuthPolicy {
            disable_auth_checks: self.disable_auth_checks(),
            revoke_tokens_issued_before: self.revoke_tokens_issued_before(),
        }
    }

    /// Applies a `PATCH /app` body: validates the settings Roster acts on, keeps every other
    /// setting as sent, ignores keys that name no setting. An empty object changes nothing.
    ///
    /// A typed SDK sends every setting it knows (stream-chat-go's `UpdateAppSettings`: the
    /// read-only `name: ""`, `suspended: false`, `null`s, a zeroed `push_notifications`), so
    /// what a value means follows Stream: `null` is "not given" (except
    /// `revoke_tokens_issued_before`, where `null` clears the cut-off, as `RevokeTokens(nil)`
    /// asks, and `roster_rate_limits`), and so is an object whose every member is a zero value; a read-only setting is
    /// refused only when it would change (a zero value or the current one is fine).
    pub fn update(&self, patch: &Value) -> Result<AppSettings> {
        let Value::Object(patch) = patch else {
            return Err(ApiError::input("request body must be a JSON object"));
        };
        let mut stored = self.stored.clone();
        let current = self.public_view();
        for (key, value) in patch {
            if !super::setting_keys::is_setting(key) {
                continue;
            }
            if value.is_null() && NULL_CLEARS.contains(&key.as_str()) {
                stored.remove(key);
                continue;
            }
            // Roster's own settings (`roster_*`) no typed SDK sends: taken as given (a limit of 0).
            let own = key.starts_with("roster_");
            if value.is_null() || (value.is_object() && is_zero(value) && !own) {
                continue;
            }
            if READ_ONLY.contains(&key.as_str()) {
                if is_zero(value) || current.get(key) == Some(value) {
                    continue;
                }
                return Err(ApiError::field(key.clone(), format!("{key} cannot be changed")));
            }
            check_value(key, value)?;
            stored.insert(key.clone(), value.clone());
        }
        Ok(AppSettings { stored })
    }

    /// What `GET /app` returns in `app`: defaults for everything, overlaid with what was set.
    pub fn public_view(&self) -> Value {
        let mut app = parse_object(APP_DEFAULTS).unwrap_or_default();
        for (k, v) in self.stored.iter().filter(|(k, _)| super::setting_keys::is_setting(k)) {
            app.insert(k.clone(), v.clone());
        }
        Value::Object(app)
    }
}

/// Checks the value of one setting Roster acts on (others are kept as sent).
fn check_value(key: &str, value: &Value) -> Result<()> {
    match key {
        "enforce_unique_usernames" if value.as_str().and_then(UniqueMode::parse).is_none() => {
            return Err(ApiError::field(key, "enforce_unique_usernames must be one of [no app team]"));
        }
        "disable_auth_checks"
        | "disable_permissions_checks"
        | "multi_tenant_enabled"
        | "roster_guests_enabled"
        | "roster_connect_fill_only"
        | "roster_username_skeletons"
            if !value.is_boolean() =>
        {
            return Err(ApiError::field(key, format!("{key} must be a boolean")));
        }
        "revoke_tokens_issued_before" => {
            let ok = value.is_null() || value.as_str().and_then(Timestamp::parse).is_some();
            if !ok {
                return Err(ApiError::field(key, format!("{key} must be an RFC 3339 timestamp or null")));
            }
        }
        "user_search_disallowed_roles"
            if !(value.is_null() || value.as_array().is_some_and(|a| a.iter().all(Value::is_string))) =>
        {
            return Err(ApiError::field(key, format!("{key} must be an array of role names")));
        }
        "webhook_url" | "event_hooks" => check_hook_settings(key, value)?,
        crate::core::access::rate_limits::SETTING => crate::core::access::rate_limits::check_setting(value)?,
        "roster_server_only_fields" | "roster_hidden_fields" => {
            parse_paths(key, value)?;
        }
        _ => {}
    }
    Ok(())
}

/// Parses a list-of-paths setting (`roster_server_only_fields`, `roster_hidden_fields`).
pub fn parse_paths(key: &str, value: &Value) -> Result<Vec<FieldPath>> {
    let bad = || ApiError::field(key.to_string(), format!("{key} must be an array of field names (dotted paths)"));
    match value {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items.iter().map(|v| v.as_str().ok_or_else(bad).and_then(FieldPath::parse)).collect(),
        _ => Err(bad()),
    }
}

/// Validates `webhook_url` and `event_hooks` of a `PATCH /app` (400 code 4 for a URL that is not
/// http(s)).
pub fn check_hook_settings(key: &str, value: &Value) -> Result<()> {
    let bad = |what: &str| Err(ApiError::field(key.to_string(), format!("{key} {what}")));
    match key {
        "webhook_url" => match value {
            Value::Null => Ok(()),
            Value::String(s) if s.is_empty() || is_http_url(s) => Ok(()),
            _ => bad("must be an http or https URL"),
        },
        "event_hooks" => match value {
            Value::Null => Ok(()),
            Value::Array(hooks) => {
                for h in hooks {
                    let is_webhook = h.get("hook_type").and_then(Value::as_str).is_none_or(|t| t == "webhook");
                    let url = h.get("webhook_url").and_then(Value::as_str).unwrap_or_default();
                    if !h.is_object() || is_webhook && !is_http_url(url) {
                        return bad("webhook entries need an http or https webhook_url");
                    }
                }
                Ok(())
            }
            _ => bad("must be an array"),
        },
        _ => Ok(()),
    }
}

/// Whether `url` is an absolute http(s) URL (a webhook target).
pub(crate) fn is_http_url(url: &str) -> bool {
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
    rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/') && !r.chars().any(char::is_whitespace))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn defaults_are_stream_shaped() {
        let view = AppSettings::default().public_view();
        assert_eq!(
            view,
            json!({
                "name": "roster", "organization": "roster", "placement": "edge", "suspended": false,
                "suspended_explanation": "", "enforce_unique_usernames": "no", "disable_auth_checks": false,
                "disable_permissions_checks": false, "multi_tenant_enabled": false, "permission_version": "v2",
                "revoke_tokens_issued_before": null, "user_search_disallowed_roles": [], "event_hooks": [],
                "webhook_url": "", "webhook_events": [], "custom_action_handler_url": "",
                "before_message_send_hook_url": "", "sqs_url": "", "sns_topic_arn": "", "channel_configs": {},
                "grants": {}, "policies": {},
                "push_notifications": {"version": "v1", "offline_only": false, "providers": []},
                "file_upload_config": {"allowed_file_extensions": [], "blocked_file_extensions": [],
                    "allowed_mime_types": [], "blocked_mime_types": []},
                "image_upload_config": {"allowed_file_extensions": [], "blocked_file_extensions": [],
                    "allowed_mime_types": [], "blocked_mime_types": []},
            })
        );
        let set = AppSettings::default().update(&json!({"name": "x"}));
        assert!(set.is_err(), "name cannot be changed");
        let s = AppSettings::default()
            .update(
                &json!({"enforce_unique_usernames": "app", "sqs_url": "https://q", "enforce_unique_username": "team"}),
            )
            .unwrap();
        assert_eq!(s.public_view()["enforce_unique_usernames"], "app");
        assert_eq!(s.public_view()["sqs_url"], "https://q", "a setting Roster does not act on is kept");
        assert!(!s.stored().contains_key("enforce_unique_username"), "a key that is no setting is not stored");
        assert_eq!(s.public_view().get("enforce_unique_username"), None);
    }

    #[test]
    fn validates_what_it_acts_on_and_keeps_the_rest() {
        let s = AppSettings::default();
        assert_eq!(s.unique_mode(), UniqueMode::No);
        let e = s.update(&json!({"enforce_unique_usernames": "yes"})).unwrap_err();
        assert_eq!(e.reason, "enforce_unique_usernames must be one of [no app team]");
        assert_eq!((e.code, e.status), (4, 400));
        assert_eq!(s.update(&json!({})).unwrap(), s, "an empty body changes nothing");
        let hooks = json!([{"hook_type": "webhook", "webhook_url": "https://example.com/h"}]);
        let s2 = s.update(&json!({"enforce_unique_usernames": "team", "event_hooks": hooks})).unwrap();
        assert_eq!(s2.unique_mode(), UniqueMode::Team);
        assert_eq!(s2.public_view()["event_hooks"], hooks);
        assert_eq!(s2.public_view()["permission_version"], "v2");
        assert!(s.update(&json!({"disable_auth_checks": "true"})).is_err());
        assert!(s.update(&json!({"revoke_tokens_issued_before": "soon"})).is_err());
        let r = s.update(&json!({"revoke_tokens_issued_before": "2024-01-01T00:00:00Z"})).unwrap();
        assert_eq!(r.revoke_tokens_issued_before(), Timestamp::parse("2024-01-01T00:00:00Z"));
        assert!(s.update(&json!([1])).is_err());
        assert_eq!(AppSettings::from_json(&s2.to_json()), s2);
    }

    #[test]
    fn a_typed_sdk_body_of_zeros_and_nulls_changes_nothing_by_accident() {
        let s = AppSettings::default()
            .update(&json!({"enforce_unique_usernames": "app", "revoke_tokens_issued_before": "2024-01-01T00:00:00Z",
                "channel_configs": {"messaging": {"typing_events": true}},
                "push_notifications": {"version": "v2", "offline_only": true}, "roster_rate_limits": {"default": 5}}))
            .unwrap();
        // stream-chat-go's UpdateAppSettings({DisableAuthChecks: true}) as it goes on the wire.
        let go = json!({"name": "", "organization": "", "suspended": false, "disable_auth_checks": true,
            "channel_configs": null, "policies": null, "push_notifications": {"version": "", "offline_only": false,
            "apn": {"enabled": false, "host": ""}, "firebase": {"enabled": false}}, "webhook_url": ""});
        let after = s.update(&go).unwrap();
        let view = after.public_view();
        assert_eq!(view["disable_auth_checks"], true);
        assert_eq!(view["channel_configs"], json!({"messaging": {"typing_events": true}}), "null is not given");
        assert_eq!(view["push_notifications"], json!({"version": "v2", "offline_only": true}), "zeros are not given");
        assert_eq!(view["enforce_unique_usernames"], "app");
        assert_eq!(view["name"], "roster", "read-only, unchanged");
        assert_eq!(view["webhook_url"], "", "a zero scalar is a value");
        assert!(after.revoke_tokens_issued_before().is_some());
        // Read-only settings: the current value is fine, a new one is refused.
        assert!(s.update(&json!({"name": "roster", "suspended": false})).is_ok());
        for change in [json!({"name": "other"}), json!({"suspended": true}), json!({"organization": "x"})] {
            assert_eq!(s.update(&change).unwrap_err().code, 4, "{change}");
        }
        // null clears the revocation cut-off (RevokeTokens(nil)) and the rate limits.
        let cleared = s.update(&json!({"revoke_tokens_issued_before": null, "roster_rate_limits": null})).unwrap();
        assert_eq!(cleared.revoke_tokens_issued_before(), None);
        assert_eq!(cleared.public_view()["roster_rate_limits"], Value::Null);
        assert!(s.stored().contains_key("roster_rate_limits"));
        // Roster's own settings are taken as given, zeros and all.
        let zero = s.update(&json!({"roster_rate_limits": {"UpdateUsers": 0}})).unwrap();
        assert_eq!(zero.public_view()["roster_rate_limits"], json!({"UpdateUsers": 0}));
    }
}
