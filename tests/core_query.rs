#![cfg(test)]
//! `queryUsers` in memory (`core::query`): the payload's parsing and Stream's exact errors
//! (`payload.rs`), the filter's operators over a fixed set of users (`filter.rs`), sorting and
//! paging (`order.rs`), and that no payload or generated filter makes them panic.

use roster::core::query::filter::{parse_filter, Cond, Condition, Filter, AUTOCOMPLETE_INVALID, MAX_DEPTH};
use roster::core::query::order::run;
use roster::core::query::payload::{parse, parse_value, UserQuery};
use roster::core::wire::error::ApiError;
use serde_json::{Map, Value};

// tests/wasm.rs runs these same cases compiled to wasm (headless Chromium and Firefox, and Node).
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

type User = Map<String, Value>;

use proptest::prelude::*;
use serde_json::json;

fn obj(v: Value) -> User {
    match v {
        Value::Object(m) => m,
        _ => unreachable!(),
    }
}

fn fixture() -> Vec<User> {
    [
        json!({"id": "alice", "name": "Alice Liddell", "role": "admin", "teams": ["red", "blue"], "created_at": "2024-01-01T00:00:00.000000Z", "updated_at": "2024-02-01T00:00:00.000000Z", "age": 30, "race": "Human", "banned": false, "online": false, "last_active": "2024-03-01T10:00:00.5Z"}),
        json!({"id": "bob", "name": "Bob Stone", "role": "user", "teams": ["blue"], "created_at": "2024-01-02T00:00:00.000000Z", "updated_at": "2024-01-02T00:00:00.000000Z", "age": 25, "race": "Hobbit", "banned": true, "online": false, "last_active": "2024-03-01T10:00:00Z"}),
        json!({"id": "carol", "name": "carol o'neil", "role": "user", "teams": [], "created_at": "2024-01-03T00:00:00.000000Z", "updated_at": "2024-01-03T00:00:00.000000Z", "age": 50.5, "race": "Hobbit", "banned": false, "online": true, "tags": ["x", 1]}),
        json!({"id": "dave", "name": "Dave", "role": "guest", "created_at": "2024-01-03T00:00:00.000000Z", "updated_at": "2024-01-03T00:00:00.000000Z", "race": "Elf", "banned": false, "nick": null}),
        json!({"id": "erin", "name": "Erin", "role": "user", "teams": ["red"], "created_at": "2024-01-04T00:00:00.000000Z", "age": 40, "deactivated_at": "2024-01-05T00:00:00.000000Z"}),
        json!({"id": "frank", "name": "Frank", "role": "user", "teams": ["red"], "created_at": "2024-01-05T00:00:00.000000Z", "age": 45, "deleted_at": "2024-01-06T00:00:00.000000Z"}),
        json!({"id": "gus", "name": "Gus", "role": "user", "created_at": "2023-12-31T00:00:00.000000Z", "age": 28, "deactivated_at": null, "deleted_at": null}),
    ]
    .into_iter()
    .map(obj)
    .collect()
}

fn ids_of(q: &UserQuery) -> Vec<String> {
    let users = fixture();
    run(q, &users).into_iter().map(|u| u["id"].as_str().unwrap().to_string()).collect()
}

/// Ids matched by `filter` (default sort: newest first).
fn ids(payload: Value) -> Vec<String> {
    ids_of(&parse_value(&payload).unwrap())
}

fn filter(f: Value) -> Vec<String> {
    ids(json!({ "filter_conditions": f }))
}

fn error(payload: Value) -> ApiError {
    let e = parse(&payload.to_string()).unwrap_err();
    assert_eq!((e.code, e.status), (4, 400), "{payload}");
    e
}

fn filter_error(f: Value) -> String {
    error(json!({ "filter_conditions": f })).reason
}

#[test]
fn parses_defaults_and_options() {
    let q = parse(r#"{"filter_conditions":{},"sort":[],"presence":false}"#).unwrap();
    assert_eq!(q, UserQuery::default());
    assert_eq!(parse("{}").unwrap(), UserQuery::default());
    let q = parse(r#"{"filter_conditions":{"id":{"$in":["a","b"]}},"sort":[{"field":"last_active","direction":-1},{"field":"age"}],"limit":10,"offset":5,"include_deactivated_users":true,"user_id":"x","id_gt":"","whatever":[1]}"#).unwrap();
    let id_in = Cond::In(vec![json!("a"), json!("b")]);
    assert_eq!(q.filter, Filter { conditions: vec![Condition::Field { field: "id".into(), cond: id_in }] });
    assert_eq!(q.sort, vec![("last_active".to_string(), -1), ("age".to_string(), 1)]);
    assert_eq!((q.limit, q.offset, q.include_deactivated_users), (10, 5, true));
    assert!(parse(r#"{"presence":true}"#).unwrap().presence);
    assert_eq!(parse(r#"{"limit":0}"#).unwrap().limit, 30);
    assert_eq!(parse(r#"{"limit":100,"offset":1000}"#).unwrap().limit, 100);
    assert_eq!(parse(r#"{"limit":100,"offset":1000}"#).unwrap().offset, 1000);
    assert_eq!(parse(r#"{"limit":7.0}"#).unwrap().limit, 7);
    assert_eq!(
        parse(r#"{"filter_conditions":null,"sort":null,"limit":null,"offset":null,"presence":null}"#).unwrap(),
        UserQuery::default()
    );
}

#[test]
fn rejects_bad_payloads() {
    for bad in ["", "nope", "{", "[]", "null", "1", "\"{}\""] {
        let e = parse(bad).unwrap_err();
        assert_eq!((e.code, e.status), (4, 400), "{bad}");
    }
    assert_eq!(parse("{").unwrap_err().reason, "payload is not valid JSON");
    assert_eq!(parse("[]").unwrap_err().reason, "payload must be a JSON object");
    for payload in [
        json!({"filter_conditions": []}),
        json!({"filter_conditions": "id"}),
        json!({"limit": 101}),
        json!({"limit": -1}),
        json!({"limit": 1.5}),
        json!({"limit": "10"}),
        json!({"offset": 1001}),
        json!({"offset": -5}),
        json!({"offset": true}),
        json!({"sort": {"age": -1}}),
        json!({"sort": "age"}),
        json!({"sort": [{"field": "a"}, {"field": "b"}, {"field": "c"}, {"field": "d"}, {"field": "e"}, {"field": "f"}]}),
        json!({"sort": [{"field": "age", "direction": 0}]}),
        json!({"sort": [{"field": "age", "direction": 2}]}),
        json!({"sort": [{"field": "age", "direction": "-1"}]}),
        json!({"sort": [{"field": "", "direction": 1}]}),
        json!({"sort": [{"direction": 1}]}),
        json!({"sort": [{"field": 3, "direction": 1}]}),
        json!({"sort": ["age"]}),
        json!({"presence": "yes"}),
        json!({"include_deactivated_users": 1}),
        json!({"id_gt": 5}),
    ] {
        error(payload);
    }
    assert_eq!(error(json!({"limit": 101})).reason, "limit must be between 0 and 100");
    assert_eq!(error(json!({"offset": 1001})).reason, "offset must be between 0 and 1000");
    assert_eq!(
        error(json!({"sort": [{"field": "age", "direction": 0}]})).reason,
        "sort direction for field age must be 1 or -1"
    );
    let five: Vec<Value> = (0..5).map(|i| json!({"field": format!("f{i}"), "direction": -1})).collect();
    assert_eq!(parse_value(&json!({ "sort": five })).unwrap().sort.len(), 5);
}

#[test]
fn rejects_bad_filters() {
    assert_eq!(filter_error(json!({"id": {"$in": "notAnArray"}})), "$in on field id needs an array");
    assert_eq!(filter_error(json!({"id": {"$nin": {"a": 1}}})), "$nin on field id needs an array");
    assert_eq!(filter_error(json!({"teams": ""})), "$eq on field teams needs a non-empty team name or null");
    for f in [
        json!({"teams": {"$eq": ""}}),
        json!({"teams": {"$in": ["red", ""]}}),
        json!({"teams": {"$in": [null]}}),
        json!({"teams": {"$contains": ""}}),
        json!({"teams": 5}),
        json!({"teams": ["red"]}),
        json!({"age": {"$gt": null}}),
        json!({"age": {"$lte": [1]}}),
        json!({"age": {"$gte": true}}),
        json!({"age": {"$exists": "yes"}}),
        json!({"age": {"$exists": null}}),
        json!({"tags": {"$contains": null}}),
        json!({"tags": {"$contains": ["x"]}}),
        json!({"age": {}}),
        json!({"age": {"$eq": 1, "gt": 2}}),
        json!({"age": {"$regex": "x"}}),
        json!({"age": {"$elemMatch": {}}}),
        json!({"": 1}),
        json!({"$not": {"id": "a"}}),
        json!({"$text": "a"}),
        json!({"$and": {"id": "a"}}),
        json!({"$and": []}),
        json!({"$or": [1]}),
        json!({"$nor": [{"id": {"$in": 1}}]}),
        json!({"$or": [{"$and": [{"id": {"$q": "x"}}]}]}),
    ] {
        filter_error(f);
    }
    assert_eq!(filter_error(json!({"age": {"$regex": "x"}})), "unknown operator $regex for field age");
    assert_eq!(filter_error(json!({"$not": {}})), "unknown filter operator $not");
    assert_eq!(filter_error(json!({"$and": []})), "$and must be a non-empty array of filter conditions");
}

#[test]
fn exact_stream_error_texts() {
    assert_eq!(
        filter_error(json!({"mycustomfield": {"$q": "x"}})),
        "search is not enabled for field users.mycustomfield"
    );
    assert_eq!(filter_error(json!({"name": {"$q": "x"}})), "search is not enabled for field users.name");
    for bad in [json!(""), json!("   "), json!("!@#$%"), json!("-_."), json!(5), json!(null), json!(["a"])] {
        assert_eq!(filter_error(json!({"name": {"$autocomplete": bad}})), AUTOCOMPLETE_INVALID);
    }
    assert_eq!(
        AUTOCOMPLETE_INVALID,
        "$autocomplete field is empty or contains invalid characters. Please provide a valid string to autocomplete"
    );
}

#[test]
fn nesting_depth_is_bounded() {
    let mut f = json!({"id": "alice"});
    for _ in 0..MAX_DEPTH {
        f = json!({ "$and": [f] });
    }
    assert_eq!(filter(f.clone()), ["alice"]);
    let deeper = json!({ "$or": [f] });
    assert_eq!(filter_error(deeper), "filter_conditions are nested too deeply");
    // run on a hand-built, too-deep filter matches nothing rather than recursing on.
    let mut f = parse_filter(&json!({"id": "alice"})).unwrap();
    for _ in 0..=MAX_DEPTH {
        f = Filter { conditions: vec![Condition::And(vec![f])] };
    }
    let q = UserQuery { filter: f, ..UserQuery::default() };
    assert!(ids_of(&q).is_empty());
    // serde_json's own recursion limit turns absurd nesting into a parse error.
    let s = format!("{{\"filter_conditions\":{}{}}}", "{\"$and\":[".repeat(5000), "]}".repeat(5000));
    assert_eq!(parse(&s).unwrap_err().code, 4);
}

#[test]
fn visibility_and_default_sort() {
    // Newest first; carol and dave share created_at, so id descending breaks the tie.
    // erin is deactivated, frank is deleted; gus has null markers and is visible.
    assert_eq!(filter(json!({})), ["dave", "carol", "bob", "alice", "gus"]);
    assert_eq!(ids(json!({"include_deactivated_users": true})), ["erin", "dave", "carol", "bob", "alice", "gus"]);
    assert_eq!(
        ids(json!({"include_deactivated_users": true, "filter_conditions": {"id": "frank"}})),
        Vec::<String>::new()
    );
    assert!(filter(json!({"id": "erin"})).is_empty());
}

#[test]
fn eq_ne_and_bare_values() {
    assert_eq!(filter(json!({"id": "alice"})), ["alice"]);
    assert_eq!(filter(json!({"id": {"$eq": "alice"}})), ["alice"]);
    assert_eq!(filter(json!({"race": "Hobbit"})), ["carol", "bob"]);
    assert_eq!(filter(json!({"race": {"$ne": "Hobbit"}})), ["dave", "alice", "gus"]); // gus has no race
    assert_eq!(filter(json!({"banned": true})), ["bob"]);
    assert_eq!(filter(json!({"banned": {"$ne": true}})), ["dave", "carol", "alice", "gus"]);
    assert_eq!(filter(json!({"age": 30.0})), ["alice"]); // numbers compare numerically
    assert_eq!(filter(json!({"age": "30"})), Vec::<String>::new()); // but not across types
    assert_eq!(filter(json!({"age": null})), ["dave"]); // missing matches null
    assert_eq!(filter(json!({"nick": null})), ["dave", "carol", "bob", "alice", "gus"]); // null or missing
    assert_eq!(filter(json!({"nick": {"$ne": null}})), Vec::<String>::new());
    assert_eq!(filter(json!({"age": {"$ne": null}})), ["carol", "bob", "alice", "gus"]);
    assert_eq!(filter(json!({"name": "alice liddell"})), Vec::<String>::new()); // $eq is case-sensitive
    assert_eq!(filter(json!({"tags": {"$eq": ["x", 1]}})), ["carol"]); // array equality
                                                                       // Several conditions on one object and one operator object must all hold.
    assert_eq!(filter(json!({"race": "Hobbit", "banned": false})), ["carol"]);
    assert_eq!(filter(json!({"age": {"$gt": 20, "$lt": 30}})), ["bob", "gus"]);
    // Timestamps compare as instants.
    assert_eq!(filter(json!({"created_at": "2024-01-01T00:00:00Z"})), ["alice"]);
    assert_eq!(filter(json!({"created_at": "2024-01-01T01:00:00+01:00"})), ["alice"]);
}

#[test]
fn in_and_nin() {
    assert_eq!(filter(json!({"id": {"$in": ["alice", "bob", "nobody", "erin"]}})), ["bob", "alice"]);
    assert_eq!(filter(json!({"id": {"$in": []}})), Vec::<String>::new());
    assert_eq!(filter(json!({"id": {"$nin": ["alice", "bob"]}})), ["dave", "carol", "gus"]);
    assert_eq!(filter(json!({"id": {"$nin": []}})), ["dave", "carol", "bob", "alice", "gus"]);
    assert_eq!(filter(json!({"race": {"$nin": ["Hobbit", "Human"]}})), ["dave", "gus"]); // missing matches $nin
    assert_eq!(filter(json!({"race": {"$in": ["Elf", null]}})), ["dave", "gus"]);
    assert_eq!(filter(json!({"age": {"$in": [25, 50.5]}})), ["carol", "bob"]);
}

#[test]
fn ranges() {
    assert_eq!(filter(json!({"age": {"$gt": 30}})), ["carol"]);
    assert_eq!(filter(json!({"age": {"$gte": 30}})), ["carol", "alice"]);
    assert_eq!(filter(json!({"age": {"$lt": 30}})), ["bob", "gus"]);
    assert_eq!(filter(json!({"age": {"$lte": 30}})), ["bob", "alice", "gus"]);
    assert_eq!(filter(json!({"age": {"$gt": 50.4}})), ["carol"]);
    assert_eq!(filter(json!({"age": {"$gt": "1"}})), Vec::<String>::new()); // no cross-type comparison
    assert_eq!(filter(json!({"id": {"$gte": "c"}})), ["dave", "carol", "gus"]);
    assert_eq!(filter(json!({"name": {"$lt": "C"}})), ["bob", "alice"]); // byte order: 'c' > 'C'
    assert_eq!(filter(json!({"created_at": {"$gte": "2024-01-02T00:00:00Z"}})), ["dave", "carol", "bob"]);
    assert_eq!(filter(json!({"created_at": {"$lt": "2024-01-01T00:00:00.000001Z"}})), ["alice", "gus"]);
    assert_eq!(filter(json!({"created_at": {"$gt": "2023-12-31T23:00:00-02:00"}})), ["dave", "carol", "bob"]);
    // Fractional and whole-second forms of timestamps compare as instants, not as text.
    assert_eq!(filter(json!({"last_active": {"$gt": "2024-03-01T10:00:00Z"}})), ["alice"]);
    assert_eq!(filter(json!({"last_active": {"$lte": "2024-03-01T10:00:00.000000Z"}})), ["bob"]);
    // On array fields any element may satisfy the range.
    assert_eq!(filter(json!({"teams": {"$in": ["red"]}, "id": {"$lt": "b"}})), ["alice"]);
    assert_eq!(filter(json!({"tags": {"$gte": 1}})), ["carol"]);
    // Mixed-form id ranges via the documented id_gt… options.
    assert_eq!(ids(json!({"id_gt": "alice", "id_lte": "carol"})), ["carol", "bob"]);
    assert_eq!(ids(json!({"id_gte": "carol", "id_lt": "gus", "filter_conditions": {"role": "user"}})), ["carol"]);
}

#[test]
fn exists() {
    assert_eq!(filter(json!({"age": {"$exists": true}})), ["carol", "bob", "alice", "gus"]);
    assert_eq!(filter(json!({"age": {"$exists": false}})), ["dave"]);
    assert_eq!(filter(json!({"nick": {"$exists": true}})), Vec::<String>::new()); // null is absent
    assert_eq!(filter(json!({"teams": {"$exists": false}})), ["dave", "gus"]);
}

#[test]
fn autocomplete() {
    assert_eq!(filter(json!({"name": {"$autocomplete": "ali"}})), ["alice"]);
    assert_eq!(filter(json!({"name": {"$autocomplete": "LID"}})), ["alice"]); // second word, any case
    assert_eq!(filter(json!({"name": {"$autocomplete": "idd"}})), Vec::<String>::new()); // not mid-word
    assert_eq!(filter(json!({"name": {"$autocomplete": "NEIL"}})), ["carol"]); // after a symbol
    assert_eq!(filter(json!({"name": {"$autocomplete": "o'ne"}})), ["carol"]);
    assert_eq!(filter(json!({"name": {"$autocomplete": " alice lid "}})), ["alice"]);
    assert_eq!(filter(json!({"id": {"$autocomplete": "d"}})), ["dave"]);
    assert_eq!(filter(json!({"name": {"$autocomplete": "s"}})), ["bob"]); // "Stone"
    assert_eq!(filter(json!({"age": {"$autocomplete": "3"}})), Vec::<String>::new()); // numbers are not text
    assert_eq!(filter(json!({"teams": {"$autocomplete": "bl"}})), ["bob", "alice"]); // array of strings
    let u = [obj(json!({"id": "x", "name": "Élodie Ärger", "created_at": "2024-01-01T00:00:00Z"}))];
    let q = parse(r#"{"filter_conditions":{"name":{"$autocomplete":"ärg"}}}"#).unwrap();
    assert_eq!(run(&q, &u).len(), 1);
    let q = parse(r#"{"filter_conditions":{"name":{"$autocomplete":"ÉLO"}}}"#).unwrap();
    assert_eq!(run(&q, &u).len(), 1);
    // Greek: final sigma (ς) and σ are one letter, in the query and in the field.
    let g = [obj(json!({"id": "g", "name": "ΟΔΥΣΣΕΥΣ Ιθάκης", "created_at": "2024-01-01T00:00:00Z"}))];
    for query in ["οδυσσευσ", "οδυσσευς", "ΟΔΥΣ"] {
        let q = parse(&json!({"filter_conditions": {"name": {"$autocomplete": query}}}).to_string()).unwrap();
        assert_eq!(run(&q, &g).len(), 1, "{query}");
    }
}

#[test]
fn teams_and_contains() {
    assert_eq!(filter(json!({"teams": "blue"})), ["bob", "alice"]);
    assert_eq!(filter(json!({"teams": {"$eq": "red"}})), ["alice"]); // erin is deactivated
    assert_eq!(filter(json!({"teams": {"$in": ["red", "green"]}})), ["alice"]);
    assert_eq!(filter(json!({"teams": {"$in": ["blue", "red"]}})), ["bob", "alice"]);
    assert_eq!(filter(json!({"teams": {"$contains": "blue"}})), ["bob", "alice"]);
    assert_eq!(filter(json!({"teams": null})), ["dave", "carol", "gus"]); // none or empty
    assert_eq!(filter(json!({"teams": {"$ne": null}})), ["bob", "alice"]);
    assert_eq!(filter(json!({"teams": {"$ne": "red"}})), ["dave", "carol", "bob", "gus"]);
    assert_eq!(filter(json!({"teams": {"$nin": ["blue"]}})), ["dave", "carol", "gus"]);
    assert_eq!(filter(json!({"tags": {"$contains": 1}})), ["carol"]);
    assert_eq!(filter(json!({"tags": {"$contains": 1.0}})), ["carol"]);
    assert_eq!(filter(json!({"tags": {"$contains": "y"}})), Vec::<String>::new());
    assert_eq!(filter(json!({"name": {"$contains": "Bob"}})), Vec::<String>::new()); // not an array
    assert_eq!(filter(json!({"tags": "x"})), ["carol"]);
}

#[test]
fn logical_operators_and_nesting() {
    assert_eq!(filter(json!({"$or": [{"id": "alice"}, {"race": "Elf"}]})), ["dave", "alice"]);
    assert_eq!(filter(json!({"$and": [{"race": "Hobbit"}, {"age": {"$gt": 30}}]})), ["carol"]);
    assert_eq!(filter(json!({"$nor": [{"race": "Hobbit"}, {"role": "admin"}]})), ["dave", "gus"]);
    assert_eq!(
        filter(
            json!({"role": "user", "$or": [{"$and": [{"race": "Hobbit"}, {"banned": true}]}, {"age": {"$lt": 29}, "race": {"$exists": false}}]})
        ),
        ["bob", "gus"]
    );
    assert_eq!(filter(json!({"$and": [{}]})), ["dave", "carol", "bob", "alice", "gus"]);
    assert_eq!(filter(json!({"$or": [{}, {"id": "nobody"}]})).len(), 5);
    assert_eq!(filter(json!({"$nor": [{}]})), Vec::<String>::new());
    assert_eq!(filter(json!({"$or": [{"$nor": [{"id": {"$ne": "bob"}}]}]})), ["bob"]);
}

#[test]
fn sorting() {
    let sorted = |sort: Value| ids(json!({ "sort": sort }));
    // Numbers numerically; dave (no age) last in both directions.
    assert_eq!(sorted(json!([{"field": "age", "direction": -1}])), ["carol", "alice", "gus", "bob", "dave"]);
    assert_eq!(sorted(json!([{"field": "age", "direction": 1}])), ["bob", "gus", "alice", "carol", "dave"]);
    assert_eq!(sorted(json!([{"field": "id", "direction": 1}])), ["alice", "bob", "carol", "dave", "gus"]);
    assert_eq!(sorted(json!([{"field": "created_at", "direction": 1}])), ["gus", "alice", "bob", "carol", "dave"]);
    // Ties keep the input order; secondary fields break them.
    assert_eq!(sorted(json!([{"field": "race", "direction": 1}])), ["dave", "bob", "carol", "alice", "gus"]);
    assert_eq!(
        sorted(json!([{"field": "race", "direction": 1}, {"field": "id", "direction": -1}])),
        ["dave", "carol", "bob", "alice", "gus"]
    );
    assert_eq!(
        sorted(json!([{"field": "banned", "direction": -1}, {"field": "age", "direction": 1}])),
        ["bob", "alice", "carol", "dave", "gus"]
    );
    // Timestamps sort as instants even when written differently.
    assert_eq!(sorted(json!([{"field": "last_active", "direction": -1}])), ["alice", "bob", "carol", "dave", "gus"]);
    // Unknown field: everyone ties, input order.
    assert_eq!(sorted(json!([{"field": "nope", "direction": -1}])), ["alice", "bob", "carol", "dave", "gus"]);
    // Mixed types give a consistent order (bool < number < time < string < other).
    let users: Vec<User> = [
        json!(true),
        json!(3),
        json!("2024-01-01T00:00:00Z"),
        json!("abc"),
        json!([1]),
        json!({"a": 1}),
        json!(null),
        json!(-1.5),
        json!("2023-01-01T00:00:00Z"),
        json!("Abc"),
        json!(false),
    ]
    .into_iter()
    .enumerate()
    .map(|(i, v)| obj(json!({"id": format!("u{i}"), "v": v})))
    .collect();
    let q = UserQuery { sort: vec![("v".into(), 1)], ..UserQuery::default() };
    let got: Vec<&str> = run(&q, &users).iter().map(|u| u["id"].as_str().unwrap()).collect();
    assert_eq!(got, ["u10", "u0", "u7", "u1", "u8", "u2", "u9", "u3", "u4", "u5", "u6"]);
}

#[test]
fn pagination() {
    let page = |limit: usize, offset: usize| {
        ids(json!({"limit": limit, "offset": offset, "sort": [{"field": "id", "direction": 1}]}))
    };
    assert_eq!(page(2, 0), ["alice", "bob"]);
    assert_eq!(page(2, 2), ["carol", "dave"]);
    assert_eq!(page(2, 4), ["gus"]);
    assert!(page(2, 5).is_empty());
    assert!(page(100, 1000).is_empty());
    assert_eq!(page(0, 1), ["bob", "carol", "dave", "gus"]); // 0 means the default 30
    let many: Vec<User> =
        (0..150).map(|i| obj(json!({"id": format!("u{i:03}"), "created_at": "2024-01-01T00:00:00Z"}))).collect();
    assert_eq!(run(&parse("{}").unwrap(), &many).len(), 30);
    assert_eq!(run(&parse(r#"{"limit":100}"#).unwrap(), &many).len(), 100);
    let last = run(&parse(r#"{"limit":100,"offset":100}"#).unwrap(), &many);
    assert_eq!(last.len(), 50);
    assert_eq!(last[0]["id"], "u049"); // newest first, then id descending
                                       // A hand-built query with limit 0 also uses the default.
    let q = UserQuery { limit: 0, ..UserQuery::default() };
    assert_eq!(run(&q, &many).len(), 30);
}

#[test]
fn unvalidated_filters_are_not_expressions() {
    for f in [
        json!([]),
        json!("x"),
        json!({"$and": 1}),
        json!({"$nor": "x"}),
        json!({"$foo": 1}),
        json!({"id": {}}),
        json!({"id": {"$in": "alice"}}),
        json!({"age": {"$exists": 1}}),
        json!({"name": {"$autocomplete": "!!"}}),
        json!({"id": {"$bogus": 1}}),
    ] {
        assert!(parse_filter(&f).is_err(), "{f}");
    }
    // A hand-built `$autocomplete` without a letter or digit matches nothing.
    let text = "!!".to_string();
    let cond = Cond::Autocomplete { folded: text.clone(), text };
    let q = UserQuery {
        filter: Filter { conditions: vec![Condition::Field { field: "name".into(), cond }] },
        ..UserQuery::default()
    };
    assert!(ids_of(&q).is_empty());
}

proptest! {
    #[test]
    fn parse_never_panics(s in any::<String>()) {
        let _ = parse(&s);
    }

    #[test]
    fn parse_never_panics_on_jsonish(s in r#"[{}\[\]":,$a-z0-9 .\-]{0,80}"#) {
        let _ = parse(&s);
        let _ = parse(&format!(r#"{{"filter_conditions":{s}}}"#));
    }

    #[test]
    fn parse_and_run_never_panic_on_generated_filters(
        ops in proptest::collection::vec((
            proptest::sample::select(vec!["id", "name", "age", "teams", "tags", "created_at", "$and", "$or", "$nor"]),
            proptest::sample::select(vec!["$eq", "$ne", "$in", "$nin", "$gt", "$gte", "$lt", "$lte", "$exists", "$autocomplete", "$contains", "$q", "$x", ""]),
            0usize..10,
        ), 0..6),
        limit in 0i64..120, offset in -2i64..1100, dir in -2i64..3,
    ) {
        let samples = [json!(null), json!(""), json!("a"), json!(30), json!(true), json!(["red"]), json!([]), json!({}), json!("2024-01-02T00:00:00Z"), json!([{"id": "bob"}])];
        let mut f = Map::new();
        for (field, op, i) in ops {
            let v = samples[i % samples.len()].clone();
            let cond = if op.is_empty() { v } else { json!({ op: v }) };
            f.insert(field.to_string(), cond);
        }
        let payload = json!({"filter_conditions": f, "limit": limit, "offset": offset, "sort": [{"field": "age", "direction": dir}]});
        if let Ok(q) = parse(&payload.to_string()) {
            let users = fixture();
            let out = run(&q, &users);
            prop_assert!(out.len() <= q.limit);
        }
    }
}
