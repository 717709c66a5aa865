#![cfg(test)]
//! Tenants, search permissions, server-only and hidden fields (issue 15), through the in-memory
//! store that runs the same core operations as the Worker.

use roster::core::access::auth::Caller;
use roster::core::engine::memory::MemoryStore;
use roster::core::wire::time::Timestamp;
use serde_json::{json, Value};

// tests/wasm.rs runs these same cases compiled to wasm (headless Chromium and Firefox, and Node).
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

const T0: Timestamp = Timestamp(1_700_000_000_000_000);

fn user(id: &str) -> Caller {
    Caller::User(id.to_string())
}

/// Two tenants with same-named users, a team-less user, and a settings patch.
fn store(settings: Value) -> MemoryStore {
    let mut s = MemoryStore::new();
    s.update_app(&settings, &Caller::Server).unwrap();
    s.upsert_users(
        json!({"users": {
            "a1": {"id": "a1", "name": "Ann", "teams": ["A"]},
            "a2": {"id": "a2", "name": "Bob", "teams": ["A"], "role": "guest"},
            "b1": {"id": "b1", "name": "Ann", "teams": ["B"], "secret": "b-only"},
            "b2": {"id": "b2", "name": "Cy", "teams": ["B", "C"]},
            "n1": {"id": "n1", "name": "Nomad"},
        }}),
        &Caller::Server,
        T0,
    )
    .unwrap();
    s
}

fn ids(s: &MemoryStore, filter: Value, caller: &Caller) -> Result<Vec<String>, (i32, u16, String)> {
    let payload = json!({"filter_conditions": filter, "sort": [{"field": "id", "direction": 1}], "limit": 100});
    match s.query_users(&payload, caller) {
        Ok(v) => Ok(v["users"].as_array().unwrap().iter().map(|u| u["id"].as_str().unwrap().to_string()).collect()),
        Err(e) => Err((e.error.code, e.error.status, e.message())),
    }
}

#[test]
fn a_multi_tenant_user_token_sees_only_its_teams() {
    let s = store(json!({"multi_tenant_enabled": true}));
    let a1 = user("a1");
    assert_eq!(ids(&s, json!({}), &a1).unwrap(), ["a1", "a2"], "no teams clause: limited to the caller's teams");
    assert_eq!(ids(&s, json!({"teams": "A"}), &a1).unwrap(), ["a1", "a2"]);
    for probe in [
        json!({"id": "b1"}),
        json!({"id": {"$in": ["b1", "b2", "a2"]}}),
        json!({"name": "Ann"}),
        json!({"$or": [{"id": "b1"}, {"name": {"$autocomplete": "ann"}}]}),
        json!({"$nor": [{"id": "a1"}]}),
        json!({"id": {"$gt": ""}}),
        json!({"teams": {"$exists": true}}),
        json!({"teams": null}),
    ] {
        let seen = ids(&s, probe.clone(), &a1).unwrap();
        assert!(seen.iter().all(|id| id.starts_with('a')), "{probe} showed {seen:?}");
    }
    for naming_b in [
        json!({"teams": "B"}),
        json!({"teams": {"$in": ["A", "B"]}}),
        json!({"teams": {"$contains": "C"}}),
        json!({"$or": [{"id": "a1"}, {"teams": "B"}]}),
        json!({"$nor": [{"teams": {"$nin": ["B"]}}]}),
        json!({"$and": [{"teams": {"$ne": "B"}}]}),
    ] {
        let (code, status, message) = ids(&s, naming_b.clone(), &a1).unwrap_err();
        assert_eq!((code, status), (17, 403), "{naming_b}");
        assert!(
            message.starts_with("QueryUsers failed with error: \"User 'a1' is not allowed to query users of team"),
            "{message}"
        );
    }
    // Paging through everything with every offset never reaches the other tenant.
    for offset in 0..6 {
        let payload = json!({"filter_conditions": {}, "sort": [{"field": "name"}], "limit": 1, "offset": offset});
        let page = s.query_users(&payload, &a1).unwrap();
        assert!(page["users"].as_array().unwrap().iter().all(|u| u["id"].as_str().unwrap().starts_with('a')));
    }
    assert_eq!(ids(&s, json!({}), &user("n1")).unwrap(), ["n1"], "a caller without teams sees team-less users");
    assert_eq!(ids(&s, json!({}), &user("ghost")).unwrap(), ["n1"], "an unknown caller has no teams");
    assert_eq!(ids(&s, json!({}), &Caller::Server).unwrap(), ["a1", "a2", "b1", "b2", "n1"], "server: unrestricted");
    assert_eq!(ids(&s, json!({"teams": "B"}), &Caller::Server).unwrap(), ["b1", "b2"]);
}

#[test]
fn without_multi_tenancy_user_tokens_see_everyone() {
    let s = store(json!({}));
    assert_eq!(ids(&s, json!({}), &user("a1")).unwrap(), ["a1", "a2", "b1", "b2", "n1"]);
}

#[test]
fn search_disallowed_roles_refuse_user_tokens() {
    let s = store(json!({"user_search_disallowed_roles": ["guest"]}));
    let (code, status, message) = ids(&s, json!({}), &user("a2")).unwrap_err();
    assert_eq!((code, status), (17, 403));
    assert!(message.contains("with role 'guest' is not allowed"), "{message}");
    assert!(ids(&s, json!({}), &user("a1")).is_ok(), "role user may search");
    assert!(ids(&s, json!({}), &Caller::Server).is_ok());
    let mut bad = MemoryStore::new();
    assert_eq!(
        bad.update_app(&json!({"user_search_disallowed_roles": "guest"}), &Caller::Server).unwrap_err().error.code,
        4
    );
}

fn guarded() -> MemoryStore {
    let mut s = store(json!({"roster_server_only_fields": ["verified", "billing.tier"]}));
    s.partial_update_users(
        &json!({"users": [{"id": "a1", "set": {"verified": true, "billing": {"tier": "pro", "card": "visa"}}}]}),
        &Caller::Server,
        T0,
    )
    .unwrap();
    s
}

fn refused(result: Result<roster::core::ops::Commit, roster::core::wire::error::OpError>, field: &str) {
    let e = result.unwrap_err();
    assert_eq!((e.error.code, e.error.status), (17, 403), "{}", e.message());
    assert!(e.error.reason.contains(&format!("field '{field}'")), "{}", e.error.reason);
}

#[test]
fn server_only_fields_refuse_user_token_writes_and_survive_them() {
    let mut s = guarded();
    let me = user("a1");
    let partial = |set: Value, unset: Value| json!({"users": [{"id": "a1", "set": set, "unset": unset}]});
    refused(s.partial_update_users(&partial(json!({"verified": true}), json!([])), &me, T0), "verified");
    refused(s.partial_update_users(&partial(json!({}), json!(["billing"])), &me, T0), "billing.tier");
    refused(s.partial_update_users(&partial(json!({"billing.tier.level": 2}), json!([])), &me, T0), "billing.tier");
    s.partial_update_users(&partial(json!({"billing.card": "amex", "mood": "ok"}), json!([])), &me, T0).unwrap();

    // An upsert replaces custom data wholesale, but what it omits of a server-only path stays.
    let upsert = |u: Value| json!({"users": {"a1": u}});
    s.upsert_users(upsert(json!({"id": "a1", "name": "Ann", "color": "red"})), &me, T0).unwrap();
    assert_eq!(s.trees()["a1"]["verified"], true);
    assert_eq!(s.trees()["a1"]["billing"], json!({"tier": "pro"}));
    s.upsert_users(upsert(json!({"id": "a1", "verified": true, "billing": {"tier": "pro", "x": 1}})), &me, T0).unwrap();
    refused(s.upsert_users(upsert(json!({"id": "a1", "verified": false})), &me, T0), "verified");
    refused(s.upsert_users(upsert(json!({"id": "a1", "billing": "none"})), &me, T0), "billing.tier");
    refused(s.upsert_users(upsert(json!({"id": "a1", "billing": {"tier": "free"}})), &me, T0), "billing.tier");

    // Connect: user_details may not change them either, and never removes them.
    refused(s.connect_user("a1", &json!({"verified": false}), &me, T0), "verified");
    let c = s.connect_user("a1", &json!({"billing": {"card": "visa"}}), &me, T0).unwrap();
    assert_eq!(c.response["billing"], json!({"card": "visa", "tier": "pro"}));

    // The server writes them freely.
    let p = partial(json!({"verified": false}), json!(["billing.tier"]));
    s.partial_update_users(&p, &Caller::Server, T0).unwrap();
    assert_eq!(s.trees()["a1"]["verified"], false);
    assert_eq!(s.trees()["a1"]["billing"], json!({"card": "visa"}));
}

#[test]
fn hidden_fields_are_never_shown_to_user_tokens_nor_searchable() {
    let mut s = store(json!({"roster_hidden_fields": ["secret", "billing.tier"]}));
    s.partial_update_users(
        &json!({"users": [{"id": "a1", "set": {"secret": "s", "billing": {"tier": "pro", "card": "visa"}}}]}),
        &Caller::Server,
        T0,
    )
    .unwrap();
    let me = user("a1");
    let seen = s.query_users(&json!({"filter_conditions": {"id": {"$in": ["a1", "b1"]}}}), &me).unwrap();
    for u in seen["users"].as_array().unwrap() {
        assert!(u.get("secret").is_none(), "{u}");
        assert!(u["billing"].get("tier").is_none() || u["id"] == "b1", "{u}");
    }
    let a1 = seen["users"].as_array().unwrap().iter().find(|u| u["id"] == "a1").unwrap();
    assert_eq!(a1["billing"], json!({"card": "visa"}), "the rest of the object stays");
    for hidden_filter in [
        json!({"secret": "b-only"}),
        json!({"$or": [{"id": "x"}, {"secret": {"$exists": true}}]}),
        json!({"billing": {"$exists": true}}),
    ] {
        let (code, status, _) = ids(&s, hidden_filter.clone(), &me).unwrap_err();
        assert_eq!((code, status), (17, 403), "{hidden_filter}");
    }
    let sort = json!({"filter_conditions": {}, "sort": [{"field": "secret"}]});
    assert_eq!(s.query_users(&sort, &me).unwrap_err().error.code, 17);
    let server = s.query_users(&json!({"filter_conditions": {"secret": "s"}}), &Caller::Server).unwrap();
    assert_eq!(server["users"][0]["secret"], "s", "the server sees and searches everything");

    let out = s.partial_update_users(&json!({"users": [{"id": "a1", "set": {"mood": "ok"}}]}), &me, T0).unwrap();
    assert!(out.response["users"]["a1"].get("secret").is_none(), "write responses hide them too");
    let c = s.connect_user("a1", &json!({}), &me, T0).unwrap();
    assert!(c.response.get("secret").is_none() && c.response["billing"].get("tier").is_none(), "and so does `me`");
    assert_eq!(s.trees()["a1"]["secret"], "s", "hidden is not removed");
}

#[test]
fn path_settings_are_validated() {
    let mut s = MemoryStore::new();
    for bad in [
        json!({"roster_server_only_fields": "verified"}),
        json!({"roster_hidden_fields": ["a..b"]}),
        json!({"roster_hidden_fields": [1]}),
    ] {
        assert_eq!(s.update_app(&bad, &Caller::Server).unwrap_err().error.code, 4, "{bad}");
    }
    s.update_app(&json!({"roster_server_only_fields": ["a.b", "c"], "roster_hidden_fields": null}), &Caller::Server)
        .unwrap();
}
