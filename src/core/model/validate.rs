//! The checks a user's fields must pass, written once over a field's JSON text, for both ways a
//! write holds a user: the record path checks the text it read, the tree path the text of its
//! value (built-in fields are small). A check decides without allocating and returns a
//! [`Fault`]; [`Fault::error`] words Stream's error once the field's label is known.
//!
//! Texts come from the scanner ([`super::scan`]) or from `serde_json`'s writer, so every text
//! checked here is one valid JSON value the scanner reads.

use super::check;
use super::fields::{self, Kind};
use super::form::UserForm;
use super::user::{validate_id, MAX_CUSTOM_BYTES, MAX_NESTING};
use crate::core::wire::error::{ApiError, Result};
use crate::core::wire::time::Timestamp;
use std::borrow::Cow;

/// Checks the types and limits of every built-in field of `user` and the size of its custom
/// data, in either form. Messages name fields as `users[<id>].<field>`; of several faults, the
/// first in key order is the error, whatever order the fields came in.
pub fn validate<'a, U: UserForm<'a>>(user: &U, id: &str) -> Result<()> {
    let label = || format!("users[{id}]");
    user.try_each(|key, kind, value| {
        if 1 + U::depth(value) > MAX_NESTING {
            return Err(too_deep(&label(), key));
        }
        if check::is_checked(kind) {
            U::check(kind, value).map_err(|f| f.error(&label(), key))?;
        }
        Ok(())
    })?;
    match user.custom_size() {
        size if size <= MAX_CUSTOM_BYTES => Ok(()),
        size => Err(ApiError::too_big(format!(
            "{} custom data is {size} bytes, larger than the limit of {MAX_CUSTOM_BYTES} bytes (5KB)",
            label()
        ))),
    }
}

/// A user's `id`, validated, in either form.
pub fn id_of<'u, 'a, U: UserForm<'a>>(user: &'u U) -> Result<Cow<'u, str>> {
    check_id(user.value(fields::ID).filter(|v| !U::is_null(v)).map(|_| user.str_of(fields::ID)))
}

/// An `id` member as read: absent or null (`None`), a string (its value) or another value
/// (`Some(None)`); validated.
pub fn check_id(id: Option<Option<Cow<'_, str>>>) -> Result<Cow<'_, str>> {
    match id {
        None => Err(ApiError::field("id", "user id is a required field")),
        Some(Some(id)) => validate_id(&id).map(|()| id),
        Some(None) => Err(ApiError::field("id", "user id must be a string")),
    }
}

/// Whether a whole-user write (upsert, connect's `user_details`) that carries the reserved
/// field of kind `kind` with `value` is refused. One rule: a reserved field is ignored when its
/// value only echoes what the server could have answered, and refused as reserved otherwise.
/// SDKs write a user back as they read it (stream-chat-go's privacy-settings test upserts
/// `created_at` and `updated_at` as returned), so a timestamp that parses, `null` and
/// `online: false` are ignored; a value the server never writes (`created_at: "helloworld"`,
/// a number) or a state only the server sets (`online: true`, stream-chat-go issue 78) is
/// refused.
pub fn refuses_reserved<'a, U: UserForm<'a>>(kind: Kind, value: &U::Value) -> bool {
    if U::is_null(value) {
        return false;
    }
    match kind {
        Kind::CreatedAt | Kind::UpdatedAt | Kind::LastActive => {
            U::str_value(value).is_none_or(|s| Timestamp::parse(&s).is_none())
        }
        Kind::Online => U::bool_value(value) != Some(false),
        _ => kind.is_reserved(),
    }
}

/// Stream's error for a field nesting deeper than a user may.
fn too_deep(label: &str, key: &str) -> ApiError {
    let name = format!("{label}.{key}");
    let msg = format!("{name} is nested too deeply: a user may nest at most {MAX_NESTING} levels");
    ApiError::field(name, msg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::model::user::User;
    use serde_json::{json, Value};
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn user(v: Value) -> User {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn custom_data_limit_is_5_kib_of_json() {
        let mut u = user(json!({"id": "u", "name": "x".repeat(9000)}));
        assert!(validate(&u, "u").is_ok(), "name is built-in");
        u.insert("a".into(), json!("x".repeat(3072)));
        u.insert("b".into(), json!("x".repeat(3072)));
        let e = validate(&u, "u").unwrap_err();
        assert_eq!((e.code, e.status), (22, 413));
        let mut v = user(json!({"id": "u"}));
        // {"k":"…"} with a 5112-byte string is exactly 5120 bytes
        v.insert("k".into(), json!("x".repeat(5112)));
        assert_eq!(super::super::user::custom_data_size(&v), 5120);
        assert!(validate(&v, "u").is_ok());
        v.insert("k".into(), json!("x".repeat(5113)));
        assert_eq!(validate(&v, "u").unwrap_err().code, 22);
    }

    #[test]
    fn nesting_is_bounded() {
        let nested =
            |n: usize| -> Value { serde_json::from_str(&format!("{}{}", "[".repeat(n), "]".repeat(n))).unwrap() };
        assert_eq!(super::super::user::nesting_depth(&json!(1)), 0);
        assert_eq!(super::super::user::nesting_depth(&json!({"a": [1, {"b": []}], "c": {}})), 4);
        assert_eq!(super::super::user::nesting_depth(&nested(100)), 100);
        let mut u = user(json!({"id": "u"}));
        u.insert("ok".into(), nested(MAX_NESTING - 1));
        assert!(validate(&u, "u").is_ok());
        u.insert("deep".into(), nested(MAX_NESTING));
        let e = validate(&u, "u").unwrap_err();
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
            let e = validate(&user(c.clone()), "u").unwrap_err();
            assert_eq!((e.code, e.status), (4, 400), "{c}");
            assert!(!e.fields.is_empty());
        }
        let fine = json!({"teams": ["x".repeat(100)], "teams_role": {"red": "admin"}, "invisible": true,
            "privacy_settings": {"read_receipts": {"enabled": false}}});
        assert!(validate(&user(fine), "u").is_ok());
    }
}
