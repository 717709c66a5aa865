#![cfg(test)]
//! The user read as a record over its JSON text (`core::model::record`): its field kinds agree
//! with the user's field lists, `validate` answers alike for a record and a tree, the custom-data size
//! limit is never passed wrongly (a record measures its values exactly in canonical form), and
//! what it cannot hold exactly is refused (a tree decides those).

use roster::core::model::fields::{self, Kind};
use roster::core::model::record::*;
use roster::core::model::user;
use roster::core::model::validate;
use roster::core::wire::json;

// tests/wasm.rs runs these same cases compiled to wasm (headless Chromium and Firefox, and Node).
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

#[test]
fn validate_answers_alike_in_both_forms() {
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
        let expected = validate::validate(tree.as_object().unwrap(), "u");
        assert_eq!(validate::validate(&record, "u"), expected, "{text}");
    }
}

#[test]
fn size_limit_is_never_passed_wrongly() {
    let at = |n: usize| format!(r#"{{"id":"u","k":"{}"}}"#, "x".repeat(n));
    // {"k":"…"} with a 5112-byte string is exactly 5120 bytes.
    let tree = |text: &str| validate::validate(json::parse(text).unwrap().as_object().unwrap(), "u");
    assert!(validate::validate(&Record::parse(&at(5112)).unwrap(), "u").is_ok());
    // One byte over: the record's size is exact, so it words the error itself, as the tree does.
    assert_eq!(validate::validate(&Record::parse(&at(5113)).unwrap(), "u"), tree(&at(5113)));
    assert!(tree(&at(5113)).is_err());
    // An escape shrinks in serde_json's output: past the limit by its upper bound, a record
    // measures its values in canonical form, so 1,700 escaped `é` (6 bytes each as written, 2 as
    // serde_json writes them) are within the limit.
    let escaped = format!(r#"{{"id":"u","k":"{}"}}"#, "\\u00e9".repeat(1_700));
    assert!(escaped.len() > 10_000);
    assert_eq!(validate::validate(&Record::parse(&escaped).unwrap(), "u"), Ok(()));
    assert_eq!(tree(&escaped), Ok(()));
    // Floats of 17 digits (which the scanner cannot tell are ryu's shortest form) are measured
    // exactly too: 290 of them, 5.1 KB as serde_json writes them.
    let floats: Vec<String> = (0..290u64).map(|i| format!("0.{:016}", 1_234_567_890_123_457 + i * 7_919)).collect();
    for n in [280, 290] {
        let text = format!(r#"{{"id":"u","k":[{}]}}"#, floats[..n].join(","));
        assert_eq!(validate::validate(&Record::parse(&text).unwrap(), "u"), tree(&text), "{n}");
    }
    // Decimals that serde_json writes as given are measured exactly: 700 coordinates, 4.9 KB
    // (counted at 24 bytes each, the most ryu writes, they would be 17 KB and left to the tree).
    let coords: Vec<String> = (0..700).map(|i| format!("{}.{}{}", 10 + i % 80, 10 + i % 89, 1 + i % 9)).collect();
    let text = format!(r#"{{"id":"u","k":[{}]}}"#, coords.join(","));
    let size = user::custom_data_size(json::parse(&text).unwrap().as_object().unwrap());
    assert!((4_800..=5_120).contains(&size), "{size}");
    assert_eq!(validate::validate(&Record::parse(&text).unwrap(), "u"), Ok(()));
}

#[test]
fn the_field_table_is_streams() {
    // Stream's user fields (../shared/stream-users-api.md), written out here as the spec the one
    // table (`core::model::fields`) must match.
    let settable = ["id", "role", "name", "image", "teams", "teams_role", "language", "invisible", "privacy_settings"];
    let reserved = ["created_at", "updated_at", "last_active", "online"];
    let server = [
        "banned",
        "shadow_banned",
        "ban_expires",
        "devices",
        "mutes",
        "channel_mutes",
        "blocked_user_ids",
        "unread_count",
        "total_unread_count",
        "unread_channels",
        "unread_threads",
        "total_unread_count_by_team",
        "latest_hidden_channels",
        "avg_response_time",
        "push_preferences",
        "deactivated_at",
        "deleted_at",
        "last_engaged_at",
        "revoke_tokens_issued_before",
        "bypass_moderation",
        "created_by_id",
    ];
    for key in settable {
        assert!(Kind::of(key).is_settable() && !user::is_custom(key), "{key}");
    }
    for key in reserved {
        assert!(Kind::of(key).is_reserved() && user::is_reserved(key), "{key}");
    }
    for key in server {
        assert!(Kind::of(key).is_server_computed() && user::is_server_computed(key), "{key}");
    }
    assert!(user::is_server_computed(user::HARD_DELETED));
    assert_eq!(fields::FIELDS.len(), settable.len() + reserved.len() + server.len() + 1);
    // Carried over on every write: the server's state and the timestamps, not `online`.
    let carried: Vec<&str> = fields::keys(Kind::is_carried).collect();
    assert_eq!(carried.len(), server.len() + 3);
    assert!(!carried.contains(&"online") && carried.contains(&"created_at"));
    // Custom keys near a built-in one (same length, same first byte, another case) are custom.
    let near = ["x", "Name", "ix", "rose", "nama", "imagE", "teamz", "mutex", "onlinE", "bannex", "created_by_iX"];
    let near2 =
        ["channel_muteX", "privacy_settingX", "push_preferenceX", "__hard_deleteX", "revoke_tokens_issued_afterX"];
    for key in near.iter().chain(near2.iter()) {
        assert!(Kind::of(key) == Kind::Custom && user::is_custom(key), "{key}");
    }
}

#[test]
fn refuses_what_it_cannot_hold_exactly() {
    let last_wins = Record::parse(r#"{"a":1,"\u0061":2}"#).unwrap();
    assert_eq!((last_wins.fields.len(), last_wins.get("a").map(|f| f.value.as_ref())), (1, Some("2")));
    assert!(Record::parse(r#"{"\"":1}"#).is_none());
    assert!(Record::parse(&format!("{{\"a\":{}{}}}", "[".repeat(63), "]".repeat(63))).is_some());
    assert!(Record::parse(&format!("{{\"a\":{}{}}}", "[".repeat(64), "]".repeat(64))).is_none());
}
