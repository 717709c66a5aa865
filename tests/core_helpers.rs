#![cfg(test)]
//! The core helpers the npm package exposes beyond the store operations: `ops::validate_user`
//! (the package's `validateUser`) and `MemoryStore::verify_token` (`UserStore#verifyToken`).

use roster::core::access::auth::{self, Caller};
use roster::core::engine::memory::MemoryStore;
use roster::core::ops;
use roster::core::wire::time::Timestamp;
use serde_json::json;

// tests/wasm.rs runs these same cases compiled to wasm (headless Chromium and Firefox, and Node).
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

const T0: i64 = 1_700_000_000; // seconds

#[test]
fn validate_user_makes_the_checks_upsert_makes_on_one_user() {
    assert!(ops::validate_user(&json!({"id": "u1", "name": "Ann", "teams": ["red"], "x": {"y": 1}})).is_ok());
    assert!(ops::validate_user(&json!({"id": "u1", "banned": true, "devices": []})).is_ok(), "echoed server fields");
    // Reserved fields that echo what the server could have answered are ignored (a user
    // written back as read); any other value is refused.
    let echoed = json!({"id": "u1", "created_at": "2020-01-01T00:00:00Z", "updated_at": "2020-01-01T00:00:00.5Z",
        "last_active": null, "online": false});
    assert!(ops::validate_user(&echoed).is_ok());
    let e = ops::validate_user(&json!({"id": "u1", "updated_at": "helloworld"})).unwrap_err();
    assert_eq!((e.code, e.status, e.reason.as_str()), (4, 400, "users[u1].updated_at is a reserved field"));
    assert_eq!(
        e.fields,
        vec![("users[u1].updated_at".to_string(), "users[u1].updated_at is a reserved field".to_string())]
    );
    for refused in
        [json!({"online": true}), json!({"created_at": 5}), json!({"last_active": ""}), json!({"online": "no"})]
    {
        let mut u = refused.as_object().unwrap().clone();
        u.insert("id".into(), json!("u1"));
        let e = ops::validate_user(&serde_json::Value::Object(u)).unwrap_err();
        assert!(e.reason.ends_with("is a reserved field"), "{refused}: {}", e.reason);
    }
    for bad in [json!({}), json!({"id": ""}), json!({"id": "a b"}), json!({"id": 7}), json!("u1"), json!(null)] {
        assert_eq!(ops::validate_user(&bad).unwrap_err().code, 4, "{bad}");
    }
    assert_eq!(ops::validate_user(&json!({"id": "u", "teams": "red"})).unwrap_err().code, 4);
    assert_eq!(ops::validate_user(&json!({"id": "u", "big": "x".repeat(6000)})).unwrap_err().code, 22);
}

#[test]
fn store_verify_token_applies_app_policy_and_user_revocation() {
    let mut s = MemoryStore::new();
    let now = Timestamp::from_secs(T0);
    s.upsert_users(json!({"users": {"jo": {"id": "jo"}}}), &Caller::Server, now).unwrap();
    let old = auth::user_token("jo", None, Some(T0 - 10), "k");
    assert_eq!(s.verify_token(&old, "k", now).unwrap().caller, Caller::User("jo".into()));
    // Per-user cutoff, set by a partial update.
    let cutoff = Timestamp::from_secs(T0 - 5).to_string();
    s.partial_update_users(
        &json!({"users": [{"id": "jo", "set": {"revoke_tokens_issued_before": cutoff}}]}),
        &Caller::Server,
        now,
    )
    .unwrap();
    let e = s.verify_token(&old, "k", now).unwrap_err();
    assert_eq!((e.code, e.status, e.reason.as_str()), (40, 401, "JWTAuth error: token has been revoked"));
    assert!(s.verify_token(&auth::user_token("jo", None, Some(T0 - 5), "k"), "k", now).is_ok());
    // Unknown users and server tokens have no per-user cutoff.
    assert!(s.verify_token(&auth::user_token("ghost", None, Some(T0 - 10), "k"), "k", now).is_ok());
    // App-wide cutoff and disable_auth_checks come from the store's settings.
    s.update_app(&json!({"revoke_tokens_issued_before": Timestamp::from_secs(T0).to_string()}), &Caller::Server)
        .unwrap();
    assert_eq!(s.verify_token(&auth::user_token("ghost", None, Some(T0 - 1), "k"), "k", now).unwrap_err().code, 40);
    assert_eq!(s.verify_token(&auth::server_token("k"), "k", now).unwrap().caller, Caller::Server);
    let dev = auth::dev_token("ghost");
    assert_eq!(s.verify_token(&dev, "k", now).unwrap_err().code, 43);
    s.update_app(&json!({"disable_auth_checks": true, "revoke_tokens_issued_before": null}), &Caller::Server).unwrap();
    assert_eq!(s.verify_token(&dev, "k", now).unwrap().caller, Caller::User("ghost".into()));
    assert_eq!(s.verify_token(&auth::user_token("jo", None, Some(T0 - 10), "k"), "k", now).unwrap_err().code, 40);
}
