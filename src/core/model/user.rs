//! The user object: a flat JSON map with built-in, custom and server-computed fields.
//! This module classifies fields, validates input and shapes what callers see.

use super::fields::Kind;
use crate::core::wire::error::{ApiError, Result};
use serde_json::{Map, Value};

/// A stored or returned user: flat JSON (`id`, `role`, `teams`, timestamps, custom keys, …).
pub type User = Map<String, Value>;

/// Internal marker of a hard-deleted id (never returned).
pub const HARD_DELETED: &str = "__hard_deleted";
/// Where a user keeps the custom keys named like built-in fields, which only `/api/v2` can
/// write (its `custom` is a map of its own): an ordinary custom field to the core, shown in
/// `custom` on `/api/v2` and not at all on `/api/v1` (`core::model::v2`).
pub const SHADOWED: &str = "__custom";

pub const MAX_ID_LEN: usize = 255;
pub const MAX_CUSTOM_BYTES: usize = 5 * 1024;
/// Longest role name, in bytes.
pub const MAX_ROLE_LEN: usize = 64;
pub const MAX_TEAMS: usize = 250;
pub const MAX_TEAM_NAME_BYTES: usize = 100;
pub const MAX_BATCH: usize = 100;
/// How deeply a user object may nest (the user itself is level 1). Far below serde_json's
/// parse limit of 128, so every stored record can be read back, and small enough that
/// recursive serialization never exhausts the wasm stack.
pub const MAX_NESTING: usize = 64;
const PRIVACY_KEYS: &[&str] = &["typing_indicators", "read_receipts", "delivery_receipts"];

/// Server-computed fields a write may not carry (`fields.rs`).
pub fn is_reserved(field: &str) -> bool {
    Kind::of(field).is_reserved()
}

/// Whether a whole-user write (upsert, connect's `user_details`) that carries the reserved
/// `field` with `value` is refused. One rule: a reserved field is ignored when its value only
/// echoes what the server could have answered, and refused as reserved otherwise. SDKs write
/// a user back as they read it (stream-chat-go's privacy-settings test upserts `created_at`
/// and `updated_at` as returned), so a timestamp that parses, `null` and `online: false` are
/// ignored; a value the server never writes (`created_at: "helloworld"`, a number) or a state
/// only the server sets (`online: true`, stream-chat-go issue 78) is refused.
pub fn refuses_reserved(field: &str, value: &Value) -> bool {
    match (field, value) {
        (_, Value::Null) => false,
        ("created_at" | "updated_at" | "last_active", Value::String(s)) => {
            crate::core::wire::time::Timestamp::parse(s).is_none()
        }
        ("online", Value::Bool(online)) => *online,
        _ => is_reserved(field),
    }
}
/// Server-computed fields that writes may carry and that are ignored (`fields.rs`).
pub fn is_server_computed(field: &str) -> bool {
    Kind::of(field).is_server_computed()
}
/// Custom data: every key that is neither built-in nor server-computed.
pub fn is_custom(field: &str) -> bool {
    Kind::of(field) == Kind::Custom
}

/// Ids are 1–255 characters of `[A-Za-z0-9@_-]`.
pub fn validate_id(id: &str) -> Result<()> {
    if id.is_empty() {
        return Err(ApiError::field("id", "user id is a required field and cannot be empty"));
    }
    if id.len() > MAX_ID_LEN {
        return Err(ApiError::field(
            "id",
            format!("user id '{}…' is longer than {MAX_ID_LEN} characters", truncate(id, 32)),
        ));
    }
    if !id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'@' | b'_' | b'-')) {
        return Err(ApiError::field(
            "id",
            format!("user id '{}' is invalid: it may contain only letters, numbers, @, _ and -", truncate(id, 64)),
        ));
    }
    Ok(())
}

fn truncate(s: &str, max_chars: usize) -> &str {
    s.char_indices().nth(max_chars).map_or(s, |(i, _)| s.get(..i).unwrap_or(s))
}

/// Reads a user's `id` from a JSON object, validating it.
pub fn id_of(obj: &Map<String, Value>) -> Result<&str> {
    match obj.get("id") {
        Some(Value::String(id)) => {
            validate_id(id)?;
            Ok(id)
        }
        None | Some(Value::Null) => Err(ApiError::field("id", "user id is a required field")),
        Some(_) => Err(ApiError::field("id", "user id must be a string")),
    }
}

/// Checks the types and limits of every built-in field present in `user` and the size of its
/// custom data. `label` prefixes field names in messages (`users[u1]`).
pub fn validate_fields(user: &User, label: &str) -> Result<()> {
    let bad = |field: &str, what: &str| {
        let name = format!("{label}.{field}");
        let msg = format!("{name} {what}");
        Err(ApiError::field(name, msg))
    };
    for (key, value) in user {
        if 1 + nesting_depth(value) > MAX_NESTING {
            return bad(key, &format!("is nested too deeply: a user may nest at most {MAX_NESTING} levels"));
        }
        match key.as_str() {
            "role" => match value {
                Value::String(s) if !s.is_empty() && s.len() <= MAX_ROLE_LEN => {}
                _ => return bad(key, "must be a non-empty string"),
            },
            "name" | "image" | "language" if !value.is_string() => {
                return bad(key, "must be a string");
            }
            "invisible" if !value.is_boolean() => {
                return bad(key, "must be a boolean");
            }
            "teams" => validate_teams(value, label)?,
            "teams_role" => match value {
                Value::Object(m) if m.values().all(Value::is_string) => {}
                _ => return bad(key, "must be an object of team name to role"),
            },
            "privacy_settings" => validate_privacy(value, label)?,
            "revoke_tokens_issued_before" => match value {
                Value::Null => {}
                Value::String(s) if crate::core::wire::time::Timestamp::parse(s).is_some() => {}
                _ => return bad(key, "must be an RFC 3339 timestamp or null"),
            },
            _ => {}
        }
    }
    let size = custom_data_size(user);
    if size > MAX_CUSTOM_BYTES {
        return Err(ApiError::too_big(format!(
            "{label} custom data is {size} bytes, larger than the limit of {MAX_CUSTOM_BYTES} bytes (5KB)"
        )));
    }
    Ok(())
}

fn validate_teams(value: &Value, label: &str) -> Result<()> {
    let field = format!("{label}.teams");
    let Value::Array(teams) = value else {
        return Err(ApiError::field(field.clone(), format!("{field} must be an array of strings")));
    };
    if teams.len() > MAX_TEAMS {
        return Err(ApiError::field(field.clone(), format!("{field} has more than {MAX_TEAMS} teams")));
    }
    for team in teams {
        match team {
            Value::String(t) if !t.is_empty() && t.len() <= MAX_TEAM_NAME_BYTES => {}
            Value::String(_) => {
                return Err(ApiError::field(
                    field.clone(),
                    format!("{field} names must be 1 to {MAX_TEAM_NAME_BYTES} bytes long"),
                ))
            }
            _ => return Err(ApiError::field(field.clone(), format!("{field} must be an array of strings"))),
        }
    }
    Ok(())
}

fn validate_privacy(value: &Value, label: &str) -> Result<()> {
    let field = format!("{label}.privacy_settings");
    let Value::Object(map) = value else {
        return Err(ApiError::field(field.clone(), format!("{field} must be an object")));
    };
    for (k, v) in map {
        if !PRIVACY_KEYS.contains(&k.as_str()) {
            return Err(ApiError::field(format!("{field}.{k}"), format!("{field}.{k} is not a privacy setting")));
        }
        let ok = match v {
            Value::Object(inner) => inner.iter().all(|(ik, iv)| ik != "enabled" || iv.is_boolean()),
            Value::Null => true,
            _ => false,
        };
        if !ok {
            return Err(ApiError::field(format!("{field}.{k}"), format!("{field}.{k} must be {{\"enabled\": bool}}")));
        }
    }
    Ok(())
}

/// Levels of arrays and objects in `value` (a scalar is 0, `[]` is 1, `[[1]]` is 2), counted
/// without recursion so that any input is safe to measure.
pub fn nesting_depth(value: &Value) -> usize {
    if !matches!(value, Value::Array(_) | Value::Object(_)) {
        return 0; // most fields: no stack to allocate
    }
    let mut deepest = 0;
    let mut stack = vec![(value, 0usize)];
    while let Some((v, depth)) = stack.pop() {
        match v {
            Value::Array(a) => {
                deepest = deepest.max(depth + 1);
                stack.extend(a.iter().map(|x| (x, depth + 1)));
            }
            Value::Object(m) => {
                deepest = deepest.max(depth + 1);
                stack.extend(m.values().map(|x| (x, depth + 1)));
            }
            _ => {}
        }
    }
    deepest
}

/// JSON byte size of the user's custom fields, as an object.
pub fn custom_data_size(user: &User) -> usize {
    // `{` + `"key":value` joined by `,` + `}`, written into one buffer (writing to a Vec
    // cannot fail) rather than a String per key and per value.
    let mut members = Vec::new();
    for (k, v) in user.iter().filter(|(k, _)| is_custom(k)) {
        members.push(if members.is_empty() { b'{' } else { b',' });
        let _ = serde_json::to_writer(&mut members, &Value::String(k.clone()));
        members.push(b':');
        let _ = serde_json::to_writer(&mut members, v);
    }
    members.len().max(1) + 1
}

/// Strips internal markers; what callers see of a stored user.
pub fn public_view(user: &User) -> User {
    let mut out = user.clone();
    out.remove(HARD_DELETED);
    out
}

pub fn is_deactivated(user: &User) -> bool {
    user.get("deactivated_at").is_some_and(|v| !v.is_null())
}
pub fn is_deleted(user: &User) -> bool {
    user.get("deleted_at").is_some_and(|v| !v.is_null()) || user.contains_key(HARD_DELETED)
}
pub fn is_hard_deleted(user: &User) -> bool {
    user.contains_key(HARD_DELETED)
}
/// Active: neither deactivated nor deleted. Only active users hold their name.
/// The user's own `revoke_tokens_issued_before`: its tokens issued earlier are refused.
pub fn revocation_cutoff(user: &User) -> Option<crate::core::wire::time::Timestamp> {
    user.get("revoke_tokens_issued_before").and_then(Value::as_str).and_then(crate::core::wire::time::Timestamp::parse)
}

pub fn is_active(user: &User) -> bool {
    !is_deactivated(user) && !is_deleted(user)
}

pub fn name_of(user: &User) -> Option<&str> {
    user.get("name").and_then(Value::as_str)
}
pub fn role_of(user: &User) -> &str {
    user.get("role").and_then(Value::as_str).unwrap_or("user")
}
pub fn teams_of(user: &User) -> Vec<&str> {
    match user.get("teams") {
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn user(v: Value) -> User {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn ids() {
        for ok in ["a", "A-Z_09@x", &"x".repeat(255)] {
            assert!(validate_id(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a b", "a|b", "ü", "a.b", "a/b", &"x".repeat(256)] {
            let e = validate_id(bad).unwrap_err();
            assert_eq!((e.code, e.status), (4, 400), "{bad}");
        }
    }

    #[test]
    fn custom_data_limit_is_5_kib_of_json() {
        let mut u = user(json!({"id": "u", "name": "x".repeat(9000)}));
        assert!(validate_fields(&u, "users[u]").is_ok(), "name is built-in");
        u.insert("a".into(), json!("x".repeat(3072)));
        u.insert("b".into(), json!("x".repeat(3072)));
        let e = validate_fields(&u, "users[u]").unwrap_err();
        assert_eq!((e.code, e.status), (22, 413));
        let mut v = user(json!({"id": "u"}));
        // {"k":"…"} with a 5112-byte string is exactly 5120 bytes
        v.insert("k".into(), json!("x".repeat(5112)));
        assert_eq!(custom_data_size(&v), 5120);
        assert!(validate_fields(&v, "u").is_ok());
        v.insert("k".into(), json!("x".repeat(5113)));
        assert_eq!(validate_fields(&v, "u").unwrap_err().code, 22);
    }

    #[test]
    fn nesting_is_bounded() {
        let nested =
            |n: usize| -> Value { serde_json::from_str(&format!("{}{}", "[".repeat(n), "]".repeat(n))).unwrap() };
        assert_eq!(nesting_depth(&json!(1)), 0);
        assert_eq!(nesting_depth(&json!({"a": [1, {"b": []}], "c": {}})), 4);
        assert_eq!(nesting_depth(&nested(100)), 100);
        let mut u = user(json!({"id": "u"}));
        u.insert("ok".into(), nested(MAX_NESTING - 1));
        assert!(validate_fields(&u, "users[u]").is_ok());
        u.insert("deep".into(), nested(MAX_NESTING));
        let e = validate_fields(&u, "users[u]").unwrap_err();
        assert_eq!((e.code, e.status), (4, 400));
        assert_eq!(e.reason, "users[u].deep is nested too deeply: a user may nest at most 64 levels");
    }

    #[test]
    fn builtin_types_and_team_limits() {
        let cases = [
            json!({"role": 5}),
            json!({"role": ""}),
            json!({"name": 1}),
            json!({"invisible": "yes"}),
            json!({"teams": "red"}),
            json!({"teams": [1]}),
            json!({"teams": [""]}),
            json!({"teams": ["x".repeat(101)]}),
            json!({"teams": (0..251).map(|i| format!("t{i}")).collect::<Vec<_>>()}),
            json!({"teams_role": {"red": 1}}),
            json!({"privacy_settings": {"typing_indicators": {"enabled": "no"}}}),
            json!({"privacy_settings": {"nope": {}}}),
            json!({"revoke_tokens_issued_before": "yesterday"}),
        ];
        for c in cases {
            let e = validate_fields(&user(c.clone()), "users[u]").unwrap_err();
            assert_eq!((e.code, e.status), (4, 400), "{c}");
            assert!(!e.fields.is_empty());
        }
        let fine = json!({"teams": ["x".repeat(100)], "teams_role": {"red": "admin"}, "invisible": true,
            "privacy_settings": {"read_receipts": {"enabled": false}}});
        assert!(validate_fields(&user(fine), "users[u]").is_ok());
    }
}
