#![cfg(test)]
//! Native tests pinning Roster's user semantics (SPEC §4, stream-users-api.md §3–5), run
//! through the in-memory store that the npm package exposes as `UserStore`.

use roster::core::access::auth::Caller;
use roster::core::engine::memory::MemoryStore;
use roster::core::wire::error::OpError;
use roster::core::wire::time::Timestamp;
use roster::core::Operation;
use serde_json::{json, Value};

// tests/wasm.rs runs these same cases compiled to wasm (headless Chromium and Firefox, and Node).
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

const T0: i64 = 1_700_000_000_000; // ms

fn at(ms_after: i64) -> Timestamp {
    Timestamp::from_millis(T0 + ms_after)
}
fn server() -> Caller {
    Caller::Server
}
fn as_user(id: &str) -> Caller {
    Caller::User(id.into())
}

fn upsert(s: &mut MemoryStore, users: Value) -> Result<Value, OpError> {
    let map: serde_json::Map<String, Value> =
        users.as_array().unwrap().iter().map(|u| (u["id"].as_str().unwrap().to_string(), u.clone())).collect();
    s.upsert_users(json!({ "users": map }), &server(), at(0)).map(|c| c.response)
}
fn partial(s: &mut MemoryStore, caller: &Caller, entries: Value) -> Result<Value, OpError> {
    s.partial_update_users(&json!({ "users": entries }), caller, at(5)).map(|c| c.response)
}
fn get(s: &MemoryStore, id: &str) -> Value {
    Value::Object(s.user(id).cloned().unwrap_or_default())
}
fn set_mode(s: &mut MemoryStore, mode: &str) {
    s.update_app(&json!({ "enforce_unique_usernames": mode }), &server()).unwrap();
}
fn assert_err(r: Result<Value, OpError>, code: i32, status: u16, message: &str) -> OpError {
    let e = r.expect_err("expected an error");
    assert_eq!((e.error.code, e.error.status), (code, status), "{}", e.message());
    assert_eq!(e.message(), message);
    e
}
fn assert_code(r: Result<Value, OpError>, code: i32, status: u16) -> OpError {
    let e = r.expect_err("expected an error");
    assert_eq!((e.error.code, e.error.status), (code, status), "{}", e.message());
    e
}

// ------------------------------------------------------------------ upsert

#[test]
fn upsert_creates_with_defaults_and_answers_201() {
    let mut s = MemoryStore::new();
    let c = s.upsert_users(json!({"users": {"u1": {"id": "u1", "book": "dune"}}}), &server(), at(0)).unwrap();
    assert_eq!(c.status, 201);
    assert_eq!(c.response["membership_deletion_task_id"], "");
    let u = &c.response["users"]["u1"];
    assert_eq!(u["role"], "user");
    assert_eq!(u["teams"], json!([]));
    assert_eq!(u["book"], "dune");
    assert_eq!(u["banned"], false);
    assert_eq!(u["online"], false);
    assert_eq!(u["created_at"], at(0).to_string());
    assert_eq!(u["updated_at"], u["created_at"]);
    assert!(u["created_at"].as_str().unwrap().ends_with('Z'));
}

#[test]
fn upsert_replaces_custom_data_keeps_created_at_and_role() {
    let mut s = MemoryStore::new();
    upsert(&mut s, json!([{"id": "u1", "role": "admin", "favorite_color": "green", "name": "A", "teams": ["red"]}]))
        .unwrap();
    let c = s.upsert_users(json!({"users": {"u1": {"id": "u1", "book": "dune"}}}), &server(), at(1000)).unwrap();
    let u = &c.response["users"]["u1"];
    assert_eq!(u["book"], "dune");
    assert!(u.get("favorite_color").is_none(), "absent custom fields are removed");
    assert!(u.get("name").is_none(), "absent name is removed");
    assert_eq!(u["role"], "admin", "omitted role keeps the stored one");
    assert_eq!(u["teams"], json!(["red"]), "omitted teams keep the stored ones");
    assert_eq!(u["created_at"], at(0).to_string());
    assert_eq!(u["updated_at"], at(1000).to_string());
    let c = s.upsert_users(json!({"users": {"u1": {"id": "u1", "role": "user"}}}), &server(), at(2000)).unwrap();
    assert_eq!(c.response["users"]["u1"]["role"], "user", "a server token may change the role");
}

#[test]
fn upsert_reserved_fields_are_refused_and_server_fields_ignored() {
    let mut s = MemoryStore::new();
    // A value the server never writes is refused; the echo of one it writes is ignored (below).
    for (f, v) in [
        ("created_at", json!("helloworld")),
        ("updated_at", json!(1)),
        ("last_active", json!("")),
        ("online", json!(true)),
    ] {
        let e = assert_err(
            upsert(&mut s, json!([{"id": "u1", f: v}])),
            4,
            400,
            &format!("UpdateUsers failed with error: \"users[u1].{f} is a reserved field\""),
        );
        assert_eq!(e.error.fields, vec![(format!("users[u1].{f}"), format!("users[u1].{f} is a reserved field"))]);
    }
    assert!(s.trees().is_empty());
    let r =
        upsert(&mut s, json!([{"id": "u1", "banned": true, "shadow_banned": false, "devices": [], "unread_count": 3}]))
            .unwrap();
    assert_eq!(r["users"]["u1"]["banned"], false);
    assert!(r["users"]["u1"].get("unread_count").is_none());
    // stream-chat-go's privacy-settings test: the user written back exactly as it was returned.
    let mut echo = r["users"]["u1"].clone();
    echo["privacy_settings"] = json!({"typing_indicators": {"enabled": false}});
    echo["created_at"] = json!("1999-01-01T00:00:00Z"); // any well-formed time: the server keeps its own
    let again = s.upsert_users(json!({"users": {"u1": echo}}), &server(), at(7)).unwrap().response;
    let u = &again["users"]["u1"];
    assert_eq!(u["created_at"], r["users"]["u1"]["created_at"]);
    assert_ne!(u["updated_at"], r["users"]["u1"]["updated_at"]);
    assert_eq!(u["online"], false);
    assert_eq!(u["privacy_settings"]["typing_indicators"]["enabled"], false);
}

#[test]
fn upsert_batch_is_all_or_nothing() {
    let mut s = MemoryStore::new();
    upsert(&mut s, json!([{"id": "keep", "v": 1}])).unwrap();
    let before = s.trees();
    assert_code(
        upsert(&mut s, json!([{"id": "a", "v": 1}, {"id": "keep", "v": 2}, {"id": "z", "online": true}])),
        4,
        400,
    );
    assert_code(upsert(&mut s, json!([{"id": "a", "v": 1}, {"id": "b", "big": "x".repeat(6000)}])), 22, 413);
    assert_eq!(s.trees(), before, "a failed batch writes nothing");
}

#[test]
fn a_write_failing_after_its_loads_leaves_every_user_stored() {
    // The store lends the users an operation loads; they come back whatever the outcome.
    let mut s = MemoryStore::new();
    set_mode(&mut s, "app");
    upsert(&mut s, json!([{"id": "keep", "v": 1}, {"id": "holder", "name": "Taken"}])).unwrap();
    let before = s.trees();
    assert_code(upsert(&mut s, json!([{"id": "keep", "v": 2}, {"id": "new", "name": "taken"}])), 6, 400);
    assert_code(partial(&mut s, &as_user("keep"), json!([{"id": "holder", "set": {"v": 3}}])), 17, 403);
    assert_eq!(s.trees(), before, "every loaded user is back, unchanged");
    upsert(&mut s, json!([{"id": "keep", "v": 2}])).unwrap();
    assert_eq!(get(&s, "keep")["v"], 2);
    assert_eq!(get(&s, "holder")["name"], "Taken");
}

#[test]
fn upsert_batch_size_and_shape_errors() {
    let mut s = MemoryStore::new();
    let users: Vec<Value> = (0..101).map(|i| json!({"id": format!("u{i}")})).collect();
    let e = assert_code(upsert(&mut s, json!(users)), 4, 400);
    assert!(e.message().contains("maximum per request is 100"), "{}", e.message());
    let users: Vec<Value> = (0..100).map(|i| json!({"id": format!("u{i}")})).collect();
    upsert(&mut s, json!(users)).unwrap();
    assert_eq!(s.trees().len(), 100);
    for body in [
        json!({}),
        json!({"users": {}}),
        json!({"users": [{"id": "a"}]}),
        json!({"users": "a"}),
        json!([1]),
        json!({"users": {"a": 5}}),
        json!({"users": {"a": {"id": "b"}}}),
        json!({"users": {"a": {}}}),
        json!({"users": {"a": {"id": 7}}}),
        json!({"users": {"a b": {"id": "a b"}}}),
        json!({"users": {"a": {"id": "a", "teams": "red"}}}),
        json!({"users": {"a": {"id": "a", "role": 1}}}),
    ] {
        let e = s.upsert_users(body.clone(), &server(), at(0)).unwrap_err();
        assert_eq!((e.error.code, e.error.status), (4, 400), "{body}");
        assert_eq!(e.op, Operation::UpdateUsers);
    }
    assert_eq!(s.trees().len(), 100);
}

#[test]
fn upsert_ids_and_limits() {
    let mut s = MemoryStore::new();
    let long = "x".repeat(255);
    upsert(&mut s, json!([{"id": "A-z_0@9"}, {"id": long}])).unwrap();
    let too_long = "x".repeat(256);
    for bad in ["a b", "a|b", "é", "a.b", too_long.as_str()] {
        assert_code(upsert(&mut s, json!([{"id": bad}])), 4, 400);
    }
    let teams: Vec<String> = (0..250).map(|i| format!("team-{i}")).collect();
    upsert(&mut s, json!([{"id": "t", "teams": teams}])).unwrap();
    let teams: Vec<String> = (0..251).map(|i| format!("team-{i}")).collect();
    assert_code(upsert(&mut s, json!([{"id": "t", "teams": teams}])), 4, 400);
    assert_code(upsert(&mut s, json!([{"id": "t", "teams": ["x".repeat(101)]}])), 4, 400);
    let e = assert_code(upsert(&mut s, json!([{"id": "big", "a": "x".repeat(3072), "b": "x".repeat(3072)}])), 22, 413);
    assert!(e.message().starts_with("UpdateUsers failed with error: \""));
}

#[test]
fn upsert_with_a_user_token() {
    let mut s = MemoryStore::new();
    upsert(&mut s, json!([{"id": "me", "role": "admin", "teams": ["red"]}, {"id": "other"}])).unwrap();
    let me = as_user("me");
    let ok =
        s.upsert_users(json!({"users": {"me": {"id": "me", "color": "blue", "role": "admin"}}}), &me, at(1)).unwrap();
    assert_eq!(ok.response["users"]["me"]["color"], "blue");
    let r = s.upsert_users(json!({"users": {"other": {"id": "other", "x": 1}}}), &me, at(1)).map(|c| c.response);
    assert_code(r, 17, 403);
    let r = s.upsert_users(json!({"users": {"me": {"id": "me", "role": "user"}}}), &me, at(1)).map(|c| c.response);
    assert_code(r, 17, 403);
    let r = s.upsert_users(json!({"users": {"me": {"id": "me", "teams": ["blue"]}}}), &me, at(1)).map(|c| c.response);
    assert_err(r, 17, 403, "UpdateUsers failed with error: \"user teams can only be updated server-side\"");
    for same in [json!(["red"]), json!([]), Value::Null] {
        let r = s.upsert_users(json!({"users": {"me": {"id": "me", "teams": same}}}), &me, at(1)).map(|c| c.response);
        assert!(r.is_ok(), "teams {same} is not a change");
    }
    assert_eq!(get(&s, "other").get("x"), None);
    assert_eq!(get(&s, "me")["teams"], json!(["red"]));
}

// ------------------------------------------------------------------ partial update

#[test]
fn partial_update_set_unset_paths() {
    let mut s = MemoryStore::new();
    upsert(&mut s, json!([{"id": "u1", "role": "user"}, {"id": "u2"}])).unwrap();
    let r = partial(&mut s, &server(), json!([
        {"id": "u1", "set": {"role": "admin", "field": {"text": "value"}, "field2.subfield": "test", "test": {"passed": true}}},
        {"id": "u2", "unset": ["field.value"]}
    ])).unwrap();
    assert_eq!(r["users"]["u1"]["role"], "admin");
    assert_eq!(r["users"]["u1"]["field2"], json!({"subfield": "test"}));
    assert_eq!(r["users"]["u1"]["updated_at"], at(5).to_string());
    assert_eq!(r["users"]["u1"]["created_at"], at(0).to_string());
    let r = partial(&mut s, &server(), json!([{"id": "u1", "unset": ["test.passed"]}])).unwrap();
    assert_eq!(r["users"]["u1"]["test"], json!({}));
    assert_eq!(r["users"]["u1"]["field"], json!({"text": "value"}));
    let r =
        partial(&mut s, &server(), json!([{"id": "u1", "set": {"teams": ["blue"], "teams_role": {"blue": "admin"}}}]))
            .unwrap();
    assert_eq!(r["users"]["u1"]["teams"], json!(["blue"]));
    assert_eq!(r["users"]["u1"]["teams_role"], json!({"blue": "admin"}));
}

#[test]
fn partial_update_privacy_settings_merge() {
    let mut s = MemoryStore::new();
    let r = upsert(&mut s, json!([{"id": "u"}])).unwrap();
    assert!(r["users"]["u"].get("privacy_settings").is_none(), "absent until set");
    partial(
        &mut s,
        &server(),
        json!([{"id": "u", "set": {"privacy_settings": {"typing_indicators": {"enabled": true}}}}]),
    )
    .unwrap();
    let r = partial(
        &mut s,
        &server(),
        json!([{"id": "u", "set": {"privacy_settings": {"read_receipts": {"enabled": false}}}}]),
    )
    .unwrap();
    assert_eq!(
        r["users"]["u"]["privacy_settings"],
        json!({"typing_indicators": {"enabled": true}, "read_receipts": {"enabled": false}})
    );
}

#[test]
fn partial_update_bad_keys_and_conflicts_write_nothing() {
    let mut s = MemoryStore::new();
    upsert(&mut s, json!([{"id": "u", "a": {"b": 1}}])).unwrap();
    let before = s.trees();
    for key in ["test..test", " test.test", " test. test", " test.test ", ".test.test", "test.test."] {
        assert_code(partial(&mut s, &server(), json!([{"id": "u", "set": {key: 1}}])), 4, 400);
        assert_code(partial(&mut s, &server(), json!([{"id": "u", "unset": [key]}])), 4, 400);
    }
    assert_code(
        partial(&mut s, &server(), json!([{"id": "u", "set": {"field.path.name": 1}, "unset": ["field.path"]}])),
        4,
        400,
    );
    assert_code(partial(&mut s, &server(), json!([{"id": "u", "set": {"x": 1}, "unset": ["x"]}])), 4, 400);
    assert_code(
        partial(&mut s, &server(), json!([{"id": "u", "set": {"x": 1}}, {"id": "nobody", "set": {"x": 1}}])),
        4,
        400,
    );
    assert_code(
        partial(&mut s, &server(), json!([{"id": "u", "set": {"x": 1}}, {"id": "u", "set": {"y": 1}}])),
        4,
        400,
    );
    assert_code(partial(&mut s, &server(), json!([{"id": "u", "set": {"online": true}}])), 4, 400);
    assert_code(partial(&mut s, &server(), json!([{"id": "u", "set": {"teams": "red"}}])), 4, 400);
    assert_code(partial(&mut s, &server(), json!([{"id": "u", "set": {"big": "x".repeat(6000)}}])), 22, 413);
    let many: Vec<Value> = (0..101).map(|_| json!({"id": "u", "set": {"x": 1}})).collect();
    assert_code(partial(&mut s, &server(), json!(many)), 4, 400);
    assert_code(partial(&mut s, &server(), json!([])), 4, 400);
    assert_code(partial(&mut s, &server(), json!({"id": "u"})), 4, 400);
    assert_eq!(s.trees(), before);
}

#[test]
fn partial_update_client_side_rules() {
    let mut s = MemoryStore::new();
    upsert(&mut s, json!([{"id": "me", "role": "admin"}, {"id": "other"}])).unwrap();
    let me = as_user("me");
    let r = partial(&mut s, &me, json!([{"id": "me", "set": {"color": "red", "nested.deep": 1}}])).unwrap();
    assert_eq!(r["users"]["me"]["color"], "red");
    partial(&mut s, &me, json!([{"id": "me", "unset": ["color"]}])).unwrap();
    assert_eq!(get(&s, "me").get("color"), None);
    // Setting role client-side is refused even to the current value.
    assert_err(
        partial(&mut s, &me, json!([{"id": "me", "set": {"role": "admin"}}])),
        17,
        403,
        "UpdateUsersPartial failed with error: \"user role can only be changed server-side\"",
    );
    assert_code(partial(&mut s, &me, json!([{"id": "me", "unset": ["role"]}])), 17, 403);
    assert_code(partial(&mut s, &me, json!([{"id": "me", "set": {"teams": ["a"]}}])), 17, 403);
    assert_code(partial(&mut s, &me, json!([{"id": "other", "set": {"x": 1}}])), 17, 403);
    assert_eq!(get(&s, "other").get("x"), None);
    assert_eq!(get(&s, "me")["role"], "admin");
}

#[test]
fn partial_update_sets_token_revocation_and_ignores_server_fields() {
    let mut s = MemoryStore::new();
    upsert(&mut s, json!([{"id": "u"}])).unwrap();
    let r = partial(
        &mut s,
        &server(),
        json!([{"id": "u", "set": {"revoke_tokens_issued_before": "2024-01-01T00:00:00Z", "banned": true}}]),
    )
    .unwrap();
    assert_eq!(r["users"]["u"]["revoke_tokens_issued_before"], "2024-01-01T00:00:00Z");
    assert_eq!(r["users"]["u"]["banned"], false);
    let r = partial(&mut s, &server(), json!([{"id": "u", "set": {"revoke_tokens_issued_before": null}}])).unwrap();
    assert!(r["users"]["u"].get("revoke_tokens_issued_before").is_none());
    assert_code(
        partial(&mut s, &server(), json!([{"id": "u", "set": {"revoke_tokens_issued_before": "soon"}}])),
        4,
        400,
    );
}

// ------------------------------------------------------------------ connect

fn connect(s: &mut MemoryStore, id: &str, details: Value, ms: i64) -> Result<Value, OpError> {
    s.connect_user(id, &details, &as_user(id), at(ms)).map(|c| c.response)
}

#[test]
fn connect_creates_then_merges_without_removing() {
    let mut s = MemoryStore::new();
    let me =
        connect(&mut s, "john", json!({"id": "john", "name": "John", "role": "admin", "favorite_color": "green"}), 0)
            .unwrap();
    assert_eq!(me["role"], "user", "role from the client is ignored");
    assert_eq!(me["online"], true);
    assert_eq!(me["devices"], json!([]));
    assert_eq!(me["mutes"], json!([]));
    assert_eq!(me["channel_mutes"], json!([]));
    assert_eq!(me["last_active"], at(0).to_string());
    let me = connect(&mut s, "john", json!({"id": "john", "status": "busy"}), 1000).unwrap();
    assert_eq!(me["favorite_color"], "green", "connect never removes fields");
    assert_eq!(me["name"], "John");
    assert_eq!(me["status"], "busy");
    assert_eq!(me["updated_at"], at(1000).to_string());
    let me = connect(&mut s, "john", json!({"id": "john", "status": "busy"}), 2000).unwrap();
    assert_eq!(me["updated_at"], at(1000).to_string(), "no change, no updated_at bump");
    assert_eq!(me["last_active"], at(2000).to_string());
    // A server-upserted admin stays admin.
    upsert(&mut s, json!([{"id": "boss", "role": "admin"}])).unwrap();
    assert_eq!(connect(&mut s, "boss", json!({"id": "boss", "role": "user"}), 3000).unwrap()["role"], "admin");
}

#[test]
fn connect_rules_on_teams_reserved_size_and_state() {
    let mut s = MemoryStore::new();
    assert_code(connect(&mut s, "n", json!({"id": "n", "teams": ["red"]}), 0), 17, 403);
    upsert(&mut s, json!([{"id": "t", "teams": ["alpha", "bravo"]}])).unwrap();
    assert!(connect(&mut s, "t", json!({"id": "t", "teams": ["bravo", "alpha"]}), 0).is_ok(), "same set, other order");
    assert_err(
        connect(&mut s, "t", json!({"id": "t", "teams": ["alpha"]}), 0),
        17,
        403,
        "Connect failed with error: \"user teams cannot be changed at connection time\"",
    );
    assert_code(connect(&mut s, "r", json!({"id": "r", "created_at": "helloworld"}), 0), 4, 400);
    assert_code(connect(&mut s, "big", json!({"id": "big", "a": "x".repeat(3072), "b": "x".repeat(3072)}), 0), 22, 413);
    assert!(!s.trees().contains_key("big") && !s.trees().contains_key("r") && !s.trees().contains_key("n"));
    let e = assert_code(connect(&mut s, "a b", json!({}), 0), 4, 400);
    assert_eq!(e.op, Operation::Connect);
    // Android sends these; they are tolerated.
    assert!(connect(
        &mut s,
        "android",
        json!({"id": "android", "banned": false, "devices": [], "invisible": false}),
        0
    )
    .is_ok());
    // The token's user must be the connecting user.
    let r = s.connect_user("victim", &json!({}), &as_user("mallory"), at(0)).map(|c| c.response);
    assert_code(r, 5, 401);
}

// ------------------------------------------------------------------ unique usernames

#[test]
fn unique_usernames_app_mode() {
    let mut s = MemoryStore::new();
    set_mode(&mut s, "app");
    upsert(&mut s, json!([{"id": "a", "name": "John Doe"}])).unwrap();
    assert_err(
        upsert(&mut s, json!([{"id": "b", "name": "john.doe"}])),
        6,
        400,
        "UpdateUsers failed with error: \"username 'john.doe' already exists\"",
    );
    assert_err(
        upsert(&mut s, json!([{"id": "c", "name": "Jane"}, {"id": "d", "name": "jane"}])),
        6,
        400,
        "UpdateUsers failed with error: \"username 'jane' already exists\"",
    );
    assert!(!s.trees().contains_key("c"), "the batch failed whole");
    upsert(&mut s, json!([{"id": "b", "name": "Bob"}])).unwrap();
    assert_err(
        partial(&mut s, &server(), json!([{"id": "b", "set": {"name": "JOHN DOE"}}])),
        6,
        400,
        "UpdateUsersPartial failed with error: \"username 'JOHN DOE' already exists\"",
    );
    assert_code(upsert(&mut s, json!([{"id": "b", "name": "john doe"}])), 6, 400);
    assert_code(
        partial(&mut s, &server(), json!([{"id": "x", "set": {"name": "y"}}, {"id": "b", "set": {"name": "c"}}])),
        4,
        400,
    );
    // The user's own name never conflicts with itself.
    upsert(&mut s, json!([{"id": "a", "name": "john doe", "v": 2}])).unwrap();
    partial(&mut s, &server(), json!([{"id": "a", "set": {"name": "John  Doe"}}])).unwrap();
    // A rename frees the old name.
    partial(&mut s, &server(), json!([{"id": "a", "set": {"name": "Johnny"}}])).unwrap();
    partial(&mut s, &server(), json!([{"id": "b", "set": {"name": "John Doe"}}])).unwrap();
    // Connect is checked too.
    let e = connect(&mut s, "z", json!({"id": "z", "name": "johnny"}), 0).unwrap_err();
    assert_eq!(e.message(), "Connect failed with error: \"username 'johnny' already exists\"");
    // Names that normalize to nothing are not checked.
    upsert(&mut s, json!([{"id": "p1", "name": "..."}, {"id": "p2", "name": "!!"}])).unwrap();
}

#[test]
fn lookalike_usernames_collide_with_skeletons_on() {
    let mut s = MemoryStore::new();
    set_mode(&mut s, "app");
    upsert(&mut s, json!([{"id": "a", "name": "PayPal"}, {"id": "m", "name": "modern"}])).unwrap();
    // Off (the default): only normalized names collide; Cyrillic "а" and "rn" are other names.
    upsert(&mut s, json!([{"id": "cyr", "name": "Pаypаl"}])).unwrap();
    upsert(&mut s, json!([{"id": "rn", "name": "rnodern"}])).unwrap();
    let e = s.update_app(&json!({"roster_username_skeletons": "yes"}), &server()).unwrap_err();
    assert_eq!(e.message(), "UpdateApp failed with error: \"roster_username_skeletons must be a boolean\"");
    s.update_app(&json!({"roster_username_skeletons": true}), &server()).unwrap();
    // On: a new holder of a lookalike is refused, in every write that takes a name.
    assert_err(
        upsert(&mut s, json!([{"id": "b", "name": "PAYPA1"}])),
        6,
        400,
        "UpdateUsers failed with error: \"username 'PAYPA1' already exists\"",
    );
    assert_code(upsert(&mut s, json!([{"id": "b", "name": "b0b"}, {"id": "c", "name": "Bob"}])), 6, 400);
    assert!(!s.trees().contains_key("b"), "the batch failed whole");
    upsert(&mut s, json!([{"id": "b", "name": "bob"}])).unwrap();
    assert_code(partial(&mut s, &server(), json!([{"id": "m", "set": {"name": "B0B"}}])), 6, 400);
    let e = connect(&mut s, "z", json!({"id": "z", "name": "𝐛𝐨𝐛"}), 0).unwrap_err();
    assert_eq!(e.message(), "Connect failed with error: \"username '𝐛𝐨𝐛' already exists\"");
    // Users that already held lookalikes keep them (an unchanged name is not re-checked), and
    // a user's own lookalike never collides with itself.
    upsert(&mut s, json!([{"id": "cyr", "name": "Pаypаl", "v": 2}])).unwrap();
    partial(&mut s, &server(), json!([{"id": "b", "set": {"name": "B0b"}}])).unwrap();
    // Names with no lookalike in common stay free.
    upsert(&mut s, json!([{"id": "d", "name": "Bobby"}, {"id": "e", "name": "Павел"}])).unwrap();
    // Off again: the same index answers by normalized names.
    s.update_app(&json!({"roster_username_skeletons": false}), &server()).unwrap();
    upsert(&mut s, json!([{"id": "c", "name": "bob"}])).unwrap();
    assert_code(upsert(&mut s, json!([{"id": "f", "name": "BOBBY"}])), 6, 400);
}

#[test]
fn lookalike_usernames_collide_per_team() {
    let mut s = MemoryStore::new();
    set_mode(&mut s, "team");
    s.update_app(&json!({"roster_username_skeletons": true}), &server()).unwrap();
    upsert(&mut s, json!([{"id": "u", "name": "alice", "teams": ["T"]}])).unwrap();
    upsert(&mut s, json!([{"id": "other", "name": "аlice", "teams": ["S"]}])).unwrap();
    assert_err(
        upsert(&mut s, json!([{"id": "n", "name": "аlicе", "teams": ["A", "T"]}])),
        6,
        400,
        "UpdateUsers failed with error: \"username 'аlicе' already exists in team 'T'\"",
    );
    assert_code(partial(&mut s, &server(), json!([{"id": "other", "set": {"teams": ["T"]}}])), 6, 400);
}

#[test]
fn unique_usernames_team_mode() {
    let mut s = MemoryStore::new();
    set_mode(&mut s, "team");
    upsert(&mut s, json!([{"id": "u", "name": "Nick", "teams": ["T"]}])).unwrap();
    upsert(&mut s, json!([{"id": "free", "name": "nick"}])).unwrap();
    upsert(&mut s, json!([{"id": "free2", "name": "nick"}])).unwrap();
    upsert(&mut s, json!([{"id": "other-team", "name": "nick", "teams": ["S"]}])).unwrap();
    assert_err(
        upsert(&mut s, json!([{"id": "n", "name": "NICK", "teams": ["A", "T"]}])),
        6,
        400,
        "UpdateUsers failed with error: \"username 'NICK' already exists in team 'T'\"",
    );
    upsert(&mut s, json!([{"id": "m", "name": "Mike", "teams": ["T"]}])).unwrap();
    assert_code(upsert(&mut s, json!([{"id": "m", "name": "nick", "teams": ["T"]}])), 6, 400);
    assert_err(
        partial(&mut s, &server(), json!([{"id": "m", "set": {"name": "Nick"}}])),
        6,
        400,
        "UpdateUsersPartial failed with error: \"username 'Nick' already exists in team 'T'\"",
    );
    // Joining a team that already holds the name is blocked.
    assert_code(upsert(&mut s, json!([{"id": "free", "name": "nick", "teams": ["T"]}])), 6, 400);
    assert_code(partial(&mut s, &server(), json!([{"id": "free", "set": {"teams": ["T"]}}])), 6, 400);
    partial(&mut s, &server(), json!([{"id": "free", "set": {"teams": ["Q"]}}])).unwrap();
    // Two new users in one batch sharing a team.
    assert_code(
        upsert(
            &mut s,
            json!([{"id": "b1", "name": "Zed", "teams": ["Z"]}, {"id": "b2", "name": "zed", "teams": ["Z"]}]),
        ),
        6,
        400,
    );
}

#[test]
fn turning_uniqueness_on_does_not_check_existing_users() {
    let mut s = MemoryStore::new();
    upsert(&mut s, json!([{"id": "a", "name": "Sam"}, {"id": "b", "name": "sam"}])).unwrap();
    set_mode(&mut s, "app");
    partial(&mut s, &server(), json!([{"id": "a", "set": {"color": "red"}}])).unwrap();
    upsert(&mut s, json!([{"id": "b", "name": "sam", "v": 1}])).unwrap();
    assert_code(upsert(&mut s, json!([{"id": "c", "name": "SAM"}])), 6, 400);
    set_mode(&mut s, "no");
    upsert(&mut s, json!([{"id": "c", "name": "SAM"}])).unwrap();
    let e = s.update_app(&json!({"enforce_unique_usernames": "maybe"}), &server()).unwrap_err();
    assert_eq!(e.message(), "UpdateApp failed with error: \"enforce_unique_usernames must be one of [no app team]\"");
}

#[test]
fn stale_index_entries_are_ignored_and_repaired() {
    let mut s = MemoryStore::new();
    set_mode(&mut s, "app");
    upsert(&mut s, json!([{"id": "a", "name": "Ann"}])).unwrap();
    // Simulate a failure after a claim was written but before the user was: "ghost" claims "bob".
    s.names.insert("bob".into(), vec!["ghost".into()]);
    // And a failure before a release: "a" still listed under a name it no longer has.
    s.names.insert("old".into(), vec!["a".into()]);
    upsert(&mut s, json!([{"id": "b", "name": "Bob"}])).unwrap();
    assert_eq!(s.names.get("bob"), Some(&vec!["b".to_string()]), "the ghost entry was dropped");
    upsert(&mut s, json!([{"id": "c", "name": "Old"}])).unwrap();
    assert_eq!(s.names.get("old"), Some(&vec!["c".to_string()]));
    // A write that keeps its user's name repairs that name's list too.
    s.names.insert("bob".into(), vec!["b".into(), "ghost".into()]);
    upsert(&mut s, json!([{"id": "b", "name": "Bob", "v": 2}])).unwrap();
    assert_eq!(s.names.get("bob"), Some(&vec!["b".to_string()]), "the ghost entry was dropped");
}

#[test]
fn commits_order_claims_before_releases() {
    let mut s = MemoryStore::new();
    upsert(&mut s, json!([{"id": "a", "name": "One"}])).unwrap();
    let c = s.partial_update_users(&json!({"users": [{"id": "a", "set": {"name": "Two"}}]}), &server(), at(1)).unwrap();
    assert_eq!(c.claims, vec![("two".to_string(), vec!["a".to_string()])]);
    assert_eq!(c.releases, vec![("one".to_string(), vec![])]);
    assert!(!s.names.contains_key("one"));
}

// ------------------------------------------------------------------ lifecycle

#[test]
fn deactivation_frees_the_name_and_blocks_connect_and_upsert() {
    let mut s = MemoryStore::new();
    set_mode(&mut s, "app");
    upsert(&mut s, json!([{"id": "a", "name": "Neo"}])).unwrap();
    let c = s
        .deactivate_user(
            "a",
            &json!({"mark_messages_deleted": false, "mark_channels_deleted": false, "created_by_id": ""}),
            &server(),
            at(10),
        )
        .unwrap();
    assert_eq!(c.status, 201);
    assert_eq!(c.response["user"]["deactivated_at"], at(10).to_string());
    let e = connect(&mut s, "a", json!({"id": "a"}), 20).unwrap_err();
    assert_eq!((e.error.code, e.error.status), (16, 404));
    assert!(e.message().contains("was deactivated"));
    let e = upsert(&mut s, json!([{"id": "a", "name": "x"}])).unwrap_err();
    assert!(e.message().contains("was deactivated"), "{}", e.message());
    // One rule for every write path: a deactivated user's own token changes nothing (as its
    // upsert and connect); server-side, a partial update still may (revoking its tokens).
    let me = Caller::User("a".into());
    let e = partial(&mut s, &me, json!([{"id": "a", "set": {"mood": "x"}}])).unwrap_err();
    assert_eq!((e.error.code, e.error.status), (4, 400));
    assert_eq!(e.message(), "UpdateUsersPartial failed with error: \"user 'a' was deactivated\"");
    let e = s.upsert_users(json!({"users": {"a": {"id": "a"}}}), &me, at(21)).unwrap_err();
    assert!(e.message().contains("was deactivated"), "{}", e.message());
    let revoke = json!([{"id": "a", "set": {"revoke_tokens_issued_before": "2020-01-01T00:00:00Z"}}]);
    assert!(partial(&mut s, &server(), revoke).is_ok());
    upsert(&mut s, json!([{"id": "b", "name": "neo"}])).unwrap();
    let e = s.reactivate_user("a", &json!({}), &server(), at(30)).unwrap_err();
    assert_eq!(e.message(), "ReactivateUser failed with error: \"username 'Neo' already exists\"");
    assert_eq!(e.error.code, 6);
    assert!(s.trees()["a"].contains_key("deactivated_at"));
    let c = s.reactivate_user("a", &json!({"name": "Trinity", "restore_messages": false}), &server(), at(40)).unwrap();
    assert!(c.response["user"].get("deactivated_at").is_none());
    assert_eq!(c.response["user"]["name"], "Trinity");
    let e = s.reactivate_user("a", &json!({}), &server(), at(50)).unwrap_err();
    assert!(e.message().contains("is not deactivated"));
    let e = s.deactivate_user("nobody", &json!({}), &server(), at(0)).unwrap_err();
    assert_eq!((e.error.code, e.error.status), (16, 404));
    assert_eq!(s.deactivate_user("a", &json!({}), &as_user("a"), at(0)).unwrap_err().error.code, 17);
}

#[test]
fn delete_restore_and_hard_delete() {
    let mut s = MemoryStore::new();
    upsert(&mut s, json!([{"id": "a", "name": "A"}, {"id": "b"}])).unwrap();
    let c = s.delete_user("a", false, &server(), at(10)).unwrap();
    assert_eq!(c.response["user"]["deleted_at"], at(10).to_string());
    let q = s.query_users(&json!({"filter_conditions": {}}), &Caller::Server).unwrap();
    let ids: Vec<&str> = q["users"].as_array().unwrap().iter().map(|u| u["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec!["b"], "soft-deleted users vanish from queries");
    assert!(upsert(&mut s, json!([{"id": "a"}])).is_err());
    s.restore_users(&json!({"user_ids": ["a"]}), &server(), at(20)).unwrap();
    assert!(s.trees()["a"].get("deleted_at").is_none());
    assert_eq!(
        s.query_users(&json!({"filter_conditions": {"id": "a"}}), &Caller::Server).unwrap()["users"][0]["name"],
        "A"
    );
    assert_code(s.restore_users(&json!({"user_ids": ["a"]}), &server(), at(20)).map(|c| c.response), 4, 400);
    s.delete_user("b", true, &server(), at(30)).unwrap();
    let e = upsert(&mut s, json!([{"id": "b"}])).unwrap_err();
    assert!(e.message().contains("cannot be used again"));
    assert!(connect(&mut s, "b", json!({}), 40).is_err());
    assert_code(s.restore_users(&json!({"user_ids": ["b"]}), &server(), at(50)).map(|c| c.response), 16, 404);
    assert!(s.query_users(&json!({"filter_conditions": {"id": "b"}}), &Caller::Server).unwrap()["users"]
        .as_array()
        .unwrap()
        .is_empty());
}
