#![cfg(test)]
//! Property tests: no input makes the core panic, a failed write changes nothing, and
//! set-then-unset of a fresh path round-trips.

use proptest::prelude::*;
use roster::core::access::auth::Caller;
use roster::core::engine::batch;
use roster::core::engine::memory::MemoryStore;
use roster::core::model::normalize::normalize;
use roster::core::wire::error::ApiError;
use roster::core::wire::json;
use roster::core::wire::time::Timestamp;
use serde_json::{json, Map, Value};

// tests/wasm.rs runs these same cases compiled to wasm (headless Chromium and Firefox, and Node).
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

/// One `PATCH /users` entry applied to `stored` by the batch entry point (as the package's
/// `applyPartialUpdate` applies it).
fn patch(stored: &Map<String, Value>, entry: Value, at: i64) -> Result<Map<String, Value>, ApiError> {
    let text = json::text(&Value::Object(stored.clone()));
    let body = json::text(&json!({ "users": [entry] }));
    let written = batch::partial_update(
        &body,
        &mut |ids| Ok(vec![Some(text.clone()); ids.len()]),
        &Caller::Server,
        &Default::default(),
        Timestamp(at),
    )?;
    let (_, record) = written.records().next().unwrap();
    Ok(json::parse(record).unwrap().as_object().unwrap().clone())
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        "[a-z .@_-]{0,8}".prop_map(Value::String),
        Just(json!("created_at")),
        Just(json!("a.b")),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                "(id|name|role|teams|set|unset|users|online|a|a\\.b|\\.x|[a-z]{1,3})",
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn seeded() -> MemoryStore {
    let mut s = MemoryStore::new();
    s.update_app(&json!({"enforce_unique_usernames": "team"}), &Caller::Server).unwrap();
    s.upsert_users(
        json!({"users": {"a": {"id": "a", "name": "Ann", "teams": ["red"]}, "b": {"id": "b", "name": "Bob", "x": {"y": 1}}}}),
        &Caller::Server,
        Timestamp(0),
    )
    .unwrap();
    s
}

proptest! {
    #[test]
    fn arbitrary_bodies_never_panic_and_failures_write_nothing(body in arb_json(), user_caller in any::<bool>()) {
        let caller = if user_caller { Caller::User("a".into()) } else { Caller::Server };
        for op in 0..4 {
            let mut s = seeded();
            let before = (s.trees(), s.names.clone());
            let r = match op {
                0 => s.upsert_users(body.clone(), &caller, Timestamp(1)).map(|_| ()),
                1 => s.partial_update_users(&body, &caller, Timestamp(1)).map(|_| ()),
                2 => s.connect_user("a", &body, &caller, Timestamp(1)).map(|_| ()),
                _ => s.restore_users(&body, &caller, Timestamp(1)).map(|_| ()),
            };
            if r.is_err() {
                prop_assert_eq!((s.trees(), s.names.clone()), before);
            }
        }
        let _ = seeded().query_users(&body, &Caller::Server);
    }

    #[test]
    fn wrapped_bodies_never_panic(users in prop::collection::btree_map("[a-c]{1,2}", arb_json(), 0..4), entries in prop::collection::vec(arb_json(), 0..4)) {
        let mut s = seeded();
        let _ = s.upsert_users(json!({"users": users}), &Caller::Server, Timestamp(1));
        let _ = s.partial_update_users(&json!({"users": entries}), &Caller::Server, Timestamp(1));
    }

    #[test]
    fn set_then_unset_round_trips(path in "[a-z]{1,4}(\\.[a-z]{1,4}){0,3}", value in arb_json()) {
        let top = path.split('.').next().unwrap().to_string();
        prop_assume!(!["id", "role", "teams", "name", "image", "language", "invisible"].contains(&top.as_str()));
        let stored: Map<String, Value> = json!({"id": "u", "role": "user", "teams": [], "created_at": "x", "updated_at": "x", "banned": false, "online": false}).as_object().unwrap().clone();
        let set = patch(&stored, json!({"id": "u", "set": {path.clone(): value}}), 5);
        let Ok(with) = set else { return Ok(()) }; // e.g. too big or a reserved top-level field
        let without = patch(&with, json!({"id": "u", "unset": [top.clone()]}), 6).unwrap();
        let mut expected = stored.clone();
        expected.insert("updated_at".into(), json!(Timestamp(6).to_string()));
        prop_assert_eq!(without, expected);
    }

    #[test]
    fn normalize_is_idempotent_and_alphanumeric(name in "\\PC{0,40}") {
        let n = normalize(&name);
        prop_assert_eq!(normalize(&n), n.clone());
        prop_assert!(n.chars().all(char::is_alphanumeric));
    }
}
