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

/// Server-computed fields a write may not carry (`fields.rs`).
pub fn is_reserved(field: &str) -> bool {
    Kind::of(field).is_reserved()
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

/// The user's own `revoke_tokens_issued_before`: its tokens issued earlier are refused.
pub fn revocation_cutoff(user: &User) -> Option<crate::core::wire::time::Timestamp> {
    user.get("revoke_tokens_issued_before").and_then(Value::as_str).and_then(crate::core::wire::time::Timestamp::parse)
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
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

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
}
