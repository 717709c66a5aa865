#![cfg(test)]
//! Keyset cursors (`core::query::cursor`): a cursor's text round trip, refusals and no panic on
//! any text; walks forward and back over random users and queries visit everyone once in order,
//! and a walk during writes neither repeats nor skips the unchanged; absent values sort last;
//! a cursor is bound to the caller's tenants.

use proptest::prelude::*;
use roster::core::access::auth::Caller;
use roster::core::model::settings::AppSettings;
use roster::core::model::user::User;
use roster::core::query::cursor::*;
use roster::core::query::order;
use roster::core::query::payload::{self, UserQuery};
use roster::core::query::tenancy;
use roster::core::wire::error::ApiError;
use roster::core::wire::time::Timestamp;
use serde_json::json;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

// tests/wasm.rs runs these same cases compiled to wasm (headless Chromium and Firefox, and Node).
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

fn ts(secs: i64) -> String {
    Timestamp::from_secs(1_700_000_000 + secs).to_string()
}

fn obj(v: Value) -> User {
    match v {
        Value::Object(m) => m,
        _ => unreachable!(),
    }
}

fn parse(payload: Value) -> UserQuery {
    payload::parse_value(&payload).unwrap()
}

fn with(q: &UserQuery, next: Option<&str>, prev: Option<&str>) -> UserQuery {
    UserQuery { next: next.map(str::to_string), prev: prev.map(str::to_string), ..q.clone() }
}

fn ids(users: &[User]) -> Vec<String> {
    users.iter().map(|u| u["id"].as_str().unwrap().to_string()).collect()
}

/// The page of `q` from the store in memory.
fn page(q: &UserQuery, users: &BTreeMap<String, User>) -> Result<Page, ApiError> {
    Ok(Walk::of(q)?.expect("an indexed sort").page_in(q, users.values()))
}

/// Everything `q` selects, in its order (a full scan).
fn everything(q: &UserQuery, users: &BTreeMap<String, User>) -> Vec<String> {
    let all = UserQuery { offset: 0, limit: usize::MAX, ..q.clone() };
    order::run(&all, users.values()).into_iter().map(|u| u["id"].as_str().unwrap().to_string()).collect()
}

/// Walks `q` forward from its first page, then back from its last page: both pages' users,
/// in the query's order.
fn walk(q: &UserQuery, users: &BTreeMap<String, User>) -> (Vec<String>, Vec<String>) {
    let mut p = page(q, users).unwrap();
    assert_eq!(p.prev, None, "the first page has no prev");
    let mut forward = ids(&p.users);
    let mut pages = 1;
    while let Some(next) = p.next.clone() {
        p = page(&with(q, Some(&next), None), users).unwrap();
        assert!(!p.users.is_empty(), "a next cursor leads to users");
        assert!(p.prev.is_some(), "a page reached by next has a prev");
        forward.extend(ids(&p.users));
        pages += 1;
        assert!(pages <= users.len() + 2, "the walk ends");
    }
    let mut backward = ids(&p.users);
    while let Some(prev) = p.prev.clone() {
        p = page(&with(q, None, Some(&prev)), users).unwrap();
        assert!(!p.users.is_empty(), "a prev cursor leads to users");
        assert!(p.next.is_some(), "a page reached by prev has a next");
        let mut earlier = ids(&p.users);
        earlier.extend(backward);
        backward = earlier;
    }
    (forward, backward)
}

fn arb_user(i: usize) -> impl Strategy<Value = User> {
    (0i64..4, 0i64..3, prop::option::of(0i64..3), any::<bool>(), 0u8..6).prop_map(move |(c, u, la, red, state)| {
        let mut m = json!({"id": format!("u{i:02}"), "created_at": ts(c), "updated_at": ts(c + u),
            "teams": if red { json!(["red"]) } else { json!(["blue"]) }});
        let o = m.as_object_mut().unwrap();
        if let Some(la) = la {
            o.insert("last_active".into(), json!(ts(la)));
        }
        match state {
            0 => o.insert("deactivated_at".into(), json!(ts(5))),
            1 => o.insert("deleted_at".into(), json!(ts(5))),
            _ => None,
        };
        o.clone()
    })
}

fn arb_users() -> impl Strategy<Value = BTreeMap<String, User>> {
    (0usize..30).prop_flat_map(|n| {
        (0..n)
            .map(arb_user)
            .collect::<Vec<_>>()
            .prop_map(|users| users.into_iter().map(|u| (u["id"].as_str().unwrap().to_string(), u)).collect())
    })
}

fn arb_query() -> impl Strategy<Value = UserQuery> {
    let sorts = prop_oneof![
        Just(json!([])),
        Just(json!([{"field": "created_at", "direction": 1}])),
        Just(json!([{"field": "last_active", "direction": -1}])),
        Just(json!([{"field": "last_active", "direction": 1}, {"field": "id", "direction": -1}])),
        Just(json!([{"field": "updated_at", "direction": -1}, {"field": "created_at"}])),
        Just(json!([{"field": "id", "direction": -1}])),
    ];
    let filters = prop_oneof![
        Just(json!({})),
        Just(json!({"teams": "red"})),
        Just(json!({"last_active": {"$exists": true}})),
        Just(json!({"$or": [{"teams": "blue"}, {"id": "u03"}]})),
    ];
    (filters, sorts, 1usize..7, any::<bool>()).prop_map(|(filter, sort, limit, deact)| {
        parse(json!({"filter_conditions": filter, "sort": sort, "limit": limit, "include_deactivated_users": deact}))
    })
}

proptest! {
    #[test]
    fn cursors_round_trip(
        key in prop::collection::vec(prop::option::of(any::<String>()), 0..5),
        binding in any::<u64>(), backward in any::<bool>(),
    ) {
        let s = Seek { key, backward };
        prop_assert_eq!(decode(&encode(binding, &s)), Some((binding, s)));
    }

    #[test]
    fn decode_never_panics(s in any::<String>(), bytes in prop::collection::vec(any::<u8>(), 0..80)) {
        let _ = decode(&s);
        let mut b64 = String::new();
        roster::core::access::auth::encode_into(&bytes, &mut b64);
        let _ = decode(&b64);
    }

    #[test]
    fn a_changed_cursor_is_refused_or_still_a_position(
        users in arb_users(), q in arb_query(), at in any::<prop::sample::Index>(), flip in 0u8..8,
    ) {
        let Some(next) = page(&q, &users).unwrap().next else { return Ok(()) };
        let mut bytes = next.into_bytes();
        let i = at.index(bytes.len());
        bytes[i] = if bytes[i] == b'A' + flip { b'z' } else { b'A' + flip };
        let mangled = String::from_utf8(bytes).unwrap();
        // Either 400 code 4, or a cursor whose binding survived: a position of this query.
        match page(&with(&q, Some(&mangled), None), &users) {
            Err(e) => prop_assert_eq!((e.status, e.code), (400, 4)),
            Ok(p) => prop_assert!(p.users.len() <= q.limit),
        }
    }

    #[test]
    fn walks_visit_every_user_once_in_order_both_ways(users in arb_users(), q in arb_query()) {
        let all = everything(&q, &users);
        let (forward, backward) = walk(&q, &users);
        prop_assert_eq!(&forward, &all);
        prop_assert_eq!(&backward, &all);
        // The first page is Stream's own page (offset 0), and the cursors do not depend on limit.
        let first = page(&q, &users).unwrap();
        prop_assert_eq!(ids(&first.users), ids(&order::run(&q, users.values()).into_iter().cloned().collect::<Vec<_>>()));
        if let Some(next) = first.next {
            let wider = UserQuery { limit: q.limit + 3, ..with(&q, Some(&next), None) };
            let p = page(&wider, &users).unwrap();
            prop_assert_eq!(ids(&p.users), all[q.limit..].iter().take(q.limit + 3).cloned().collect::<Vec<_>>());
        }
    }

    /// A walk in the default order while users are inserted, renamed and deleted between
    /// its pages: no user twice, and every user that stayed as it was from the start.
    #[test]
    fn a_walk_during_writes_never_repeats_nor_skips_the_unchanged(
        users in arb_users(), limit in 1usize..6,
        writes in prop::collection::vec((0u8..4, 0usize..40, 0i64..6), 0..40),
    ) {
        let mut users = users;
        let q = parse(json!({"limit": limit}));
        let before: BTreeSet<String> = everything(&q, &users).into_iter().collect();
        let mut touched = BTreeSet::new();
        let mut seen = Vec::new();
        let mut writes = writes.into_iter();
        let mut p = page(&q, &users).unwrap();
        let mut fresh = 0;
        loop {
            seen.extend(ids(&p.users));
            // Up to three writes between two pages.
            for (kind, who, when) in writes.by_ref().take(3) {
                let id = format!("u{:02}", who % 40);
                match kind {
                    0 => {
                        // An insert: created now or in the past (ties with walked users).
                        fresh += 1;
                        let id = format!("new{fresh:02}");
                        users.insert(id.clone(), obj(json!({"id": id, "created_at": ts(when), "updated_at": ts(when)})));
                    }
                    1 if users.contains_key(&id) => {
                        touched.insert(id.clone());
                        let u = users.get_mut(&id).unwrap();
                        u.insert("name".into(), json!(format!("renamed {when}")));
                        u.insert("updated_at".into(), json!(ts(10 + when)));
                    }
                    2 if users.contains_key(&id) => {
                        touched.insert(id.clone());
                        users.get_mut(&id).unwrap().insert("deleted_at".into(), json!(ts(10)));
                    }
                    3 => {
                        touched.insert(id.clone());
                        users.remove(&id);
                    }
                    _ => {}
                }
            }
            let Some(next) = p.next.clone() else { break };
            p = page(&with(&q, Some(&next), None), &users).unwrap();
        }
        let distinct: BTreeSet<&String> = seen.iter().collect();
        prop_assert_eq!(distinct.len(), seen.len(), "no user twice: {:?}", seen);
        for id in before.difference(&touched) {
            prop_assert!(seen.contains(id), "{} was skipped: {:?}", id, seen);
        }
    }
}

#[test]
fn absent_values_come_last_in_both_directions() {
    let users: BTreeMap<String, User> = [
        json!({"id": "a", "created_at": ts(0), "last_active": ts(2)}),
        json!({"id": "b", "created_at": ts(0)}),
        json!({"id": "c", "created_at": ts(0), "last_active": ts(1)}),
        json!({"id": "d", "created_at": ts(0), "last_active": null}),
        json!({"id": "e", "created_at": ts(0), "last_active": ts(2)}),
    ]
    .into_iter()
    .map(|u| (u["id"].as_str().unwrap().to_string(), obj(u)))
    .collect();
    for (dir, order) in [(1, ["c", "a", "e", "b", "d"]), (-1, ["a", "e", "c", "b", "d"])] {
        let q = parse(json!({"sort": [{"field": "last_active", "direction": dir}], "limit": 2}));
        assert_eq!(everything(&q, &users), order, "a scan: absent last");
        let (forward, backward) = walk(&q, &users);
        assert_eq!(forward, order, "direction {dir}");
        assert_eq!(backward, order, "direction {dir}");
    }
    // A page that ends on an absent value continues after it, by id.
    let q = parse(json!({"sort": [{"field": "last_active", "direction": -1}], "limit": 4}));
    let first = page(&q, &users).unwrap();
    assert_eq!(ids(&first.users), ["a", "e", "c", "b"]);
    let rest = page(&with(&q, first.next.as_deref(), None), &users).unwrap();
    assert_eq!((ids(&rest.users), rest.next), (vec!["d".to_string()], None));
}

#[test]
fn cursors_that_cannot_be_taken_are_400_code_4() {
    let users: BTreeMap<String, User> = (0..5)
        .map(|i| (format!("u{i}"), obj(json!({"id": format!("u{i}"), "created_at": ts(i), "teams": ["red"]}))))
        .collect();
    let q = parse(json!({"filter_conditions": {"teams": "red"}, "limit": 2}));
    let first = page(&q, &users).unwrap();
    let next = first.next.unwrap();
    let prev = page(&with(&q, Some(&next), None), &users).unwrap().prev.unwrap();
    let refused = |q: &UserQuery| {
        let e = Walk::of(q).unwrap_err();
        assert_eq!((e.status, e.code), (400, 4), "{}", e.reason);
        e.reason
    };
    let feed = roster::core::query::feed::encode(&roster::core::query::feed::Position { seq: 3, id: "u1".into() });
    let foreign = {
        let mut b = String::from("1n.0123456789abcdef.~.");
        roster::core::access::auth::encode_into(b"u1", &mut b);
        b
    };
    for bad in ["x", "eyJhbGciOiJIUzI1NiJ9", "====", &feed, &"A".repeat(5000), &prev] {
        assert!(refused(&with(&q, Some(bad), None)).contains("is not a next cursor"), "{bad}");
    }
    assert!(refused(&with(&q, Some(&foreign), None)).contains("belongs to another query"), "well-formed, not ours");
    assert!(refused(&with(&q, None, Some(&next))).contains("is not a prev cursor"));
    for other in [
        json!({"filter_conditions": {"teams": "blue"}, "limit": 2}),
        json!({"filter_conditions": {"teams": "red"}, "sort": [{"field": "id", "direction": -1}]}),
        json!({"filter_conditions": {"teams": "red"}, "sort": [{"field": "created_at", "direction": 1}]}),
        json!({"filter_conditions": {"teams": "red"}, "include_deactivated_users": true}),
        json!({}),
    ] {
        assert!(refused(&with(&parse(other), Some(&next), None)).contains("belongs to another query"));
    }
    assert!(refused(&UserQuery { offset: 1, ..with(&q, Some(&next), None) }).contains("offset"));
    assert!(refused(&with(&q, Some(&next), Some(&prev))).contains("not both"));
    let by_name = parse(json!({"sort": [{"field": "name"}]}));
    assert_eq!(Walk::of(&by_name).unwrap(), None, "an unindexed sort: Stream's page, no cursors");
    assert!(refused(&with(&by_name, Some(&next), None)).contains("indexed fields"));
    // The same filter written as the explicit default sort is the same query.
    let explicit = parse(json!({"filter_conditions": {"teams": "red"},
        "sort": [{"field": "created_at", "direction": -1}, {"field": "id", "direction": -1}]}));
    assert!(Walk::of(&with(&explicit, Some(&next), None)).is_ok());
    // `next` must be a string; empty or null is none.
    assert_eq!(payload::parse_value(&json!({"next": 3})).unwrap_err().code, 4);
    assert_eq!(parse(json!({"next": "", "prev": null})), UserQuery::default());
}

#[test]
fn a_cursor_is_bound_to_the_callers_tenants() {
    let settings = AppSettings::from_json(r#"{"multi_tenant_enabled":true}"#);
    let member = |team: &str| obj(json!({"id": format!("m-{team}"), "teams": [team]}));
    let (a, b) = (member("A"), member("B"));
    let users: BTreeMap<String, User> = (0..6)
        .map(|i| {
            let team = if i % 2 == 0 { "A" } else { "B" };
            (format!("u{i}"), obj(json!({"id": format!("u{i}"), "created_at": ts(i), "teams": [team]})))
        })
        .collect();
    let as_caller = |who: &User, q: UserQuery| {
        let id = who["id"].as_str().unwrap().to_string();
        tenancy::restrict_query(q, &Caller::User(id), Some(who), &settings).unwrap()
    };
    let q = parse(json!({"limit": 1}));
    let mine = as_caller(&a, q.clone());
    let (walked, _) = walk(&mine, &users);
    assert_eq!(walked, ["u4", "u2", "u0"], "team A only, on every page");
    let next = page(&mine, &users).unwrap().next.unwrap();
    // The same payload from a caller of team B: another (restricted) query.
    let e = Walk::of(&as_caller(&b, with(&q, Some(&next), None))).unwrap_err();
    assert_eq!((e.code, e.status), (4, 400));
    // And a server-side walk's cursor does not fit a user's.
    let server_next = page(&q, &users).unwrap().next.unwrap();
    assert_eq!(Walk::of(&as_caller(&a, with(&q, Some(&server_next), None))).unwrap_err().code, 4);
}
