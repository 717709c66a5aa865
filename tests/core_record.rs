#![cfg(test)]
//! The user read as a record over its JSON text (`core::model::record`): its field kinds agree
//! with the user's field lists, its checks agree with `validate_fields`, the custom-data size
//! limit is never passed wrongly, and what it cannot hold exactly is refused (the tree path
//! decides those).

use roster::core::model::record::*;
use roster::core::model::user;
use roster::core::wire::json;

// tests/wasm.rs runs these same cases compiled to wasm (headless Chromium and Firefox, and Node).
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

#[test]
fn check_agrees_with_validate_fields() {
    for text in [
        r#"{"id":"u","role":"admin","teams":["a","b"],"name":"N","x":{"y":[1,2]}}"#,
        r#"{"id":"u","role":""}"#,
        r#"{"id":"u","role":5}"#,
        r#"{"id":"u","name":1}"#,
        r#"{"id":"u","invisible":"yes"}"#,
        r#"{"id":"u","teams":[""]}"#,
        r#"{"id":"u","teams":[1]}"#,
        r#"{"id":"u","teams_role":{"a":"b"}}"#,
        r#"{"id":"u","teams_role":{"a":1}}"#,
        r#"{"id":"u","privacy_settings":{"read_receipts":{"enabled":false},"typing_indicators":null}}"#,
        r#"{"id":"u","privacy_settings":{"read_receipts":{"enabled":"no"}}}"#,
        r#"{"id":"u","privacy_settings":{"nope":{}}}"#,
        r#"{"id":"u","revoke_tokens_issued_before":"2024-01-01T00:00:00Z"}"#,
        r#"{"id":"u","revoke_tokens_issued_before":"yesterday"}"#,
    ] {
        let record = Record::parse(text).unwrap();
        let tree = json::parse(text).unwrap();
        let expected = user::validate_fields(tree.as_object().unwrap(), "u").is_ok();
        assert_eq!(record.check().is_some(), expected, "{text}");
    }
}

#[test]
fn size_limit_is_never_passed_wrongly() {
    let at = |n: usize| format!(r#"{{"id":"u","k":"{}"}}"#, "x".repeat(n));
    // {"k":"…"} with a 5112-byte string is exactly 5120 bytes.
    assert!(Record::parse(&at(5112)).unwrap().check().is_some());
    assert!(Record::parse(&at(5113)).unwrap().check().is_none());
    // An escape shrinks in serde_json's output: the bound is not exact, so it is left.
    assert!(Record::parse(r#"{"id":"u","k":"\u00e9"}"#).unwrap().check().is_some());
}

#[test]
fn kinds_agree_with_the_field_lists() {
    // Custom keys of the same length and first byte as a built-in one, too.
    let near = ["x", "Name", "ix", "rose", "nama", "imagE", "teamz", "mutex", "onlinE", "bannex", "created_by_iX"];
    let near2 =
        ["channel_muteX", "privacy_settingX", "push_preferenceX", "__hard_deleteX", "revoke_tokens_issued_afterX"];
    for key in user::SETTABLE
        .iter()
        .chain(user::RESERVED)
        .chain(user::SERVER_COMPUTED)
        .chain(&[user::HARD_DELETED])
        .chain(near.iter())
        .chain(near2.iter())
    {
        let kind = Kind::of(key);
        assert_eq!(kind.is_reserved(), user::is_reserved(key), "{key}");
        assert_eq!(kind.is_server_computed(), user::is_server_computed(key), "{key}");
        assert_eq!(kind == Kind::Custom, user::is_custom(key), "{key}");
    }
    assert!(Kind::of(user::HARD_DELETED).is_server_computed());
    use Kind::*;
    let kinds: Vec<Kind> = user::SETTABLE.iter().chain(user::RESERVED).map(|k| Kind::of(k)).collect();
    let expected = [Id, Role, Name, Image, Teams, TeamsRole, Language, Invisible, Privacy];
    assert_eq!(kinds, [&expected[..], &[CreatedAt, UpdatedAt, LastActive, Online]].concat());
    assert_eq!(Kind::of("revoke_tokens_issued_before"), Revoke);
}

#[test]
fn refuses_what_it_cannot_hold_exactly() {
    let last_wins = Record::parse(r#"{"a":1,"\u0061":2}"#).unwrap();
    assert_eq!((last_wins.fields.len(), last_wins.get("a").map(|f| f.value.as_ref())), (1, Some("2")));
    assert!(Record::parse(r#"{"\"":1}"#).is_none());
    assert!(Record::parse(&format!("{{\"a\":{}{}}}", "[".repeat(63), "]".repeat(63))).is_some());
    assert!(Record::parse(&format!("{{\"a\":{}{}}}", "[".repeat(64), "]".repeat(64))).is_none());
}
