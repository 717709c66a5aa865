#![cfg(test)]
//! The query planner (`core::query::index`): reading only a plan's candidates, in the order storage
//! returns them, gives exactly what a full scan gives (`order::run` over every user in id
//! order). The Writer's SQL implements `Candidates::admits` and `index::storage_order`; the
//! Worker tests compare its answers with a scan too.

use proptest::prelude::*;
use roster::core::model::user::User;
use roster::core::query::cursor::{Page, Seek, Walk};
use roster::core::query::index::{self, Candidates, Column, CustomValue, Plan};
use roster::core::query::order::{self, InOrder};
use roster::core::query::payload::{self, UserQuery};
use roster::core::query::row;
use roster::core::wire::time::Timestamp;
use serde_json::{json, Value};
use std::collections::BTreeMap;

// tests/wasm.rs runs these same cases compiled to wasm (headless Chromium and Firefox, and Node).
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

/// The plan's candidates as the Writer's SQL returns them: past its `past` boundary, in storage
/// order (reversed when reading backward).
fn candidates<'a>(
    plan: &index::Plan,
    users: &'a BTreeMap<String, User>,
    past: impl Fn(&String, &row::IndexRow) -> bool,
    backward: bool,
) -> Vec<&'a User> {
    let mut rows: Vec<(&String, row::IndexRow, &User)> = users
        .iter()
        .map(|(id, u)| (id, row::index_row(u), u))
        .filter(|(_, row, _)| !row.deleted && (plan.include_deactivated || !row.deactivated))
        .filter(|(id, row, u)| plan.candidates.admits(id, row, u))
        .filter(|(id, row, _)| past(id, row))
        .collect();
    rows.sort_by(|a, b| index::storage_order(plan, (a.0, &a.1), (b.0, &b.1)));
    if backward {
        rows.reverse();
    }
    rows.into_iter().map(|(_, _, u)| u).collect()
}

/// Users offered in order to a page of `q` until it is full (`order::InOrder`).
fn fill(mut page: InOrder<'_>, users: Vec<&User>) -> Vec<User> {
    for u in users {
        if !page.offer(u.clone()) {
            break;
        }
    }
    page.page()
}

/// What the Writer does for a query: candidates from the plan, in storage order, then the
/// residual filter, sort and page.
fn planned(q: &UserQuery, users: &BTreeMap<String, User>) -> Vec<User> {
    let plan = index::plan(q);
    let rows = candidates(&plan, users, |_, _| true, false);
    if plan.order.is_some() {
        fill(InOrder::new(q), rows)
    } else {
        order::run(q, rows).into_iter().cloned().collect()
    }
}

fn scanned(q: &UserQuery, users: &BTreeMap<String, User>) -> Vec<User> {
    order::run(q, users.values()).into_iter().cloned().collect()
}

fn ts(secs: i64) -> String {
    Timestamp::from_secs(1_700_000_000 + secs).to_string()
}

fn arb_user(i: usize) -> impl Strategy<Value = User> {
    let names = prop_oneof![
        Just(None),
        Just(Some("John Doe")),
        Just(Some("john.doe")),
        Just(Some("Mary-Jo Jones")),
        Just(Some("Ünal Çelik")),
        Just(Some("ΣΟΦΟΣ σοφός")),
        Just(Some("  jo  ")),
        Just(Some("2024-01-01T00:00:00Z")),
        Just(Some(".net dev")),
    ];
    (
        names,
        prop::sample::subsequence(vec!["red", "blue", "green", "2024-01-01T00:00:00Z"], 0..3),
        prop_oneof![Just("user"), Just("admin"), Just("guest")],
        0i64..5,
        0i64..5,
        prop::option::of(0i64..5),
        prop::option::of(0i64..3),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(move |(name, teams, role, c, u, la, age, deact, del)| {
            let mut m = json!({"id": format!("u{i:02}"), "role": role, "teams": teams,
                "created_at": ts(c), "updated_at": ts(c + u)});
            let o = m.as_object_mut().unwrap();
            if let Some(n) = name {
                o.insert("name".into(), json!(n));
            }
            if let Some(la) = la {
                o.insert("last_active".into(), json!(ts(la)));
            }
            if let Some(age) = age {
                o.insert("age".into(), if i.is_multiple_of(4) { json!(age as f64) } else { json!(age) });
                o.insert("color".into(), json!(["red", "blue", "2024-01-01T00:00:00.000Z"][(age % 3) as usize]));
                o.insert("tags".into(), if i.is_multiple_of(2) { json!(["a", "b"]) } else { json!("b") });
            }
            if deact && i.is_multiple_of(3) {
                o.insert("deactivated_at".into(), json!(ts(9)));
            }
            if del && i.is_multiple_of(5) {
                o.insert("deleted_at".into(), json!(ts(9)));
            }
            o.clone()
        })
}

fn arb_users() -> impl Strategy<Value = BTreeMap<String, User>> {
    (0usize..24).prop_flat_map(|n| {
        (0..n)
            .map(arb_user)
            .collect::<Vec<_>>()
            .prop_map(|users| users.into_iter().map(|u| (u["id"].as_str().unwrap().to_string(), u)).collect())
    })
}

fn arb_condition() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!({"id": "u03"})),
        Just(json!({"id": {"$in": ["u01", "u04", "u07", "zz"]}})),
        Just(json!({"id": {"$in": []}})),
        Just(json!({"teams": {"$contains": "red"}})),
        Just(json!({"teams": "blue"})),
        Just(json!({"teams": {"$in": ["green", "blue"]}})),
        Just(json!({"teams": {"$contains": "2024-01-01T00:00:00.000Z"}})),
        Just(json!({"role": "admin"})),
        Just(json!({"role": {"$in": ["guest", "user"]}})),
        Just(json!({"name": "John Doe"})),
        Just(json!({"name": {"$eq": "johndoe"}})),
        Just(json!({"name": {"$autocomplete": "jo"}})),
        Just(json!({"name": {"$autocomplete": " JOHN D "}})),
        Just(json!({"name": {"$autocomplete": "σοφοσ"}})),
        Just(json!({"name": {"$autocomplete": ".ne"}})),
        Just(json!({"name": {"$autocomplete": "çel"}})),
        Just(json!({"created_at": {"$gte": ts(2)}})),
        Just(json!({"created_at": {"$gt": ts(1), "$lte": "2023-11-14T22:13:23+00:00"}})),
        Just(json!({"updated_at": {"$lt": ts(4)}})),
        Just(json!({"last_active": {"$gte": ts(1)}})),
        Just(json!({"age": {"$gte": 1}})),
        Just(json!({"age": 2})),
        Just(json!({"age": {"$eq": 1.0}})),
        Just(json!({"color": "red"})),
        Just(json!({"color": {"$eq": "2024-01-01T00:00:00Z"}})),
        Just(json!({"tags": "b"})),
        Just(json!({"$or": [{"role": "admin"}, {"teams": "red"}]})),
        Just(json!({"$nor": [{"role": "admin"}]})),
        Just(json!({"last_active": {"$exists": false}})),
        Just(json!({"id": {"$ne": "u02"}})),
    ]
}

fn arb_query() -> impl Strategy<Value = UserQuery> {
    let sorts = prop_oneof![
        Just(json!([])),
        Just(json!([{"field": "created_at", "direction": 1}])),
        Just(json!([{"field": "last_active", "direction": -1}])),
        Just(json!([{"field": "updated_at", "direction": -1}, {"field": "created_at"}])),
        Just(json!([{"field": "id", "direction": -1}])),
        Just(json!([{"field": "name"}])),
        Just(json!([{"field": "age", "direction": -1}])),
    ];
    (prop::collection::vec(arb_condition(), 0..3), sorts, 0usize..6, 0usize..4, any::<bool>()).prop_map(
        |(conds, sort, limit, offset, deact)| {
            let filter = if conds.len() == 1 { conds[0].clone() } else { json!({"$and": conds}) };
            let filter = if filter == json!({"$and": []}) { json!({}) } else { filter };
            payload::parse_value(&json!({"filter_conditions": filter, "sort": sort, "limit": limit,
                "offset": offset, "include_deactivated_users": deact}))
            .unwrap()
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(600))]
    #[test]
    fn planned_reads_answer_like_a_full_scan(users in arb_users(), q in arb_query()) {
        prop_assert_eq!(planned(&q, &users), scanned(&q, &users), "plan {:?}", index::plan(&q));
    }
}

/// The Writer's keyset read (`store::query_page`): the plan's candidates past `seek` (compared
/// on their index columns, as the SQL does), in storage order (reversed for a backward seek),
/// then the residual filter, `skip` and `take` (`InOrder::window`).
fn read_planned(
    q: &UserQuery,
    users: &BTreeMap<String, User>,
    walk: &Walk,
    seek: Option<&Seek>,
    skip: usize,
    take: usize,
) -> Vec<User> {
    let plan = index::plan(q);
    let past = |id: &String, row: &row::IndexRow| {
        let key: Vec<Option<String>> = walk.order().iter().map(|(c, _)| c.value(id, row).map(str::to_string)).collect();
        seek.is_none_or(|s| s.admits(walk.order(), &key))
    };
    let rows = candidates(&plan, users, past, seek.is_some_and(|s| s.backward));
    if take == 0 {
        return Vec::new();
    }
    fill(InOrder::window(q, skip, take), rows)
}

/// A page as the Writer answers it: a walk's keyset reads, or (no indexed sort) `planned`.
fn planned_page(q: &UserQuery, users: &BTreeMap<String, User>) -> Page {
    match Walk::of(q).unwrap() {
        Some(walk) => walk.page(|seek, skip, take| Ok(read_planned(q, users, &walk, seek, skip, take))).unwrap(),
        None => Page { users: planned(q, users), ..Page::default() },
    }
}

fn ids_of(users: &[User]) -> Vec<String> {
    users.iter().map(|u| u["id"].as_str().unwrap().to_string()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]
    /// Walking a query with its cursors, as the Writer reads them, visits exactly what a full
    /// scan returns, in its order, each user once: forward from its (offset) page to the end,
    /// then backward from there to the start; the first page is Stream's own.
    #[test]
    fn cursor_walks_answer_like_a_full_scan(users in arb_users(), q in arb_query()) {
        let first = planned_page(&q, &users);
        prop_assert_eq!(&first.users, &scanned(&q, &users));
        if Walk::of(&q).unwrap().is_none() {
            prop_assert_eq!((&first.next, &first.prev), (&None, &None), "no cursors for an unindexed sort");
            return Ok(());
        }
        let all = ids_of(&scanned(&UserQuery { offset: 0, limit: 10_000, ..q.clone() }, &users));
        prop_assert_eq!(first.prev.is_some(), q.offset > 0 && !first.users.is_empty() && q.offset <= all.len());
        let from = |next: Option<&String>, prev: Option<&String>| {
            UserQuery { offset: 0, next: next.cloned(), prev: prev.cloned(), ..q.clone() }
        };
        let mut page = first;
        let mut forward = ids_of(&page.users);
        while let Some(next) = page.next.clone() {
            page = planned_page(&from(Some(&next), None), &users);
            prop_assert!(!page.users.is_empty());
            forward.extend(ids_of(&page.users));
            prop_assert!(forward.len() <= all.len(), "no user twice");
        }
        prop_assert_eq!(&forward[..], all.get(q.offset.min(all.len())..).unwrap());
        let mut backward = ids_of(&page.users);
        while let Some(prev) = page.prev.clone() {
            page = planned_page(&from(None, Some(&prev)), &users);
            prop_assert!(!page.users.is_empty() && page.next.is_some());
            let mut earlier = ids_of(&page.users);
            earlier.extend(backward);
            backward = earlier;
            prop_assert!(backward.len() <= all.len(), "no user twice");
        }
        if !forward.is_empty() {
            prop_assert_eq!(&backward, &all);
        }
    }
}

fn parse(payload: Value) -> UserQuery {
    payload::parse_value(&payload).unwrap()
}

#[test]
fn selective_conditions_become_index_lookups() {
    let p = |filter: Value| index::plan(&parse(json!({"filter_conditions": filter}))).candidates;
    assert_eq!(p(json!({"id": {"$in": ["b", "a", "b"]}})), Candidates::Ids(vec!["a".into(), "b".into()]));
    assert_eq!(p(json!({"teams": {"$contains": "red"}, "id": "x"})), Candidates::Ids(vec!["x".into()]));
    assert_eq!(p(json!({"$and": [{"age": 3}, {"teams": "red"}]})), Candidates::Teams(vec!["red".into()]));
    assert_eq!(p(json!({"name": {"$autocomplete": " Jo "}})), Candidates::NamePrefix("jo".into()));
    assert_eq!(p(json!({"name": "John Doe"})), Candidates::NameNorm("johndoe".into()));
    assert_eq!(p(json!({"role": {"$in": ["admin"]}})), Candidates::Roles(vec!["admin".into()]));
    assert_eq!(p(json!({"$or": [{"id": "a"}, {"id": "b"}]})), Candidates::All, "a disjunction scans");
    assert_eq!(
        p(json!({"color": "red"})),
        Candidates::CustomEq { field: "color".into(), value: CustomValue::Text("red".into()) },
        "a custom field's equality is read inside storage"
    );
    assert_eq!(p(json!({"age": {"$gte": 3}})), Candidates::All, "other custom conditions scan");
    assert_eq!(p(json!({"age": 2.5})), Candidates::All, "floats compare as f64 in the core only");
    assert_eq!(p(json!({"big": 9_007_199_254_740_993_i64})), Candidates::All, "so do integers past 2^53");
    assert_eq!(
        p(json!({"teams": "2024-01-01T00:00:00Z"})),
        Candidates::All,
        "timestamp-like values compare as instants"
    );
    match p(json!({"created_at": {"$gt": "2024-01-01T00:00:00+01:00", "$lte": "2024-02-01T00:00:00Z"}})) {
        Candidates::Range { column: Column::CreatedAt, lower: Some(l), upper: Some(u) } => {
            assert_eq!((l.value.as_str(), l.inclusive), ("2023-12-31T23:00:00.000000Z", false));
            assert_eq!((u.value.as_str(), u.inclusive), ("2024-02-01T00:00:00.000000Z", true));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn sorts_on_indexed_columns_are_pushed_to_storage() {
    let order = |sort: Value| -> Plan { index::plan(&parse(json!({"sort": sort}))) };
    assert_eq!(order(json!([])).order, Some(vec![(Column::CreatedAt, true), (Column::Id, true)]), "the default sort");
    assert_eq!(
        order(json!([{"field": "last_active", "direction": -1}])).order,
        Some(vec![(Column::LastActive, true), (Column::Id, false)]),
        "ties by id, ascending, as a scan keeps them"
    );
    assert_eq!(order(json!([{"field": "name"}])).order, None, "names may be timestamps: sorted in the core");
}

#[test]
fn index_rows_hold_word_starts_and_canonical_times() {
    let u = json!({"id": "a", "name": "Mary-Jo  Jones", "teams": ["b", "a", "b"], "role": "admin",
        "created_at": "2024-01-01T01:00:00+01:00", "deactivated_at": null});
    let row = row::index_row(u.as_object().unwrap());
    assert_eq!(row.name_norm.as_deref(), Some("maryjojones"));
    assert_eq!(row.name_words, ["mary-jo  jones", "jo  jones", " jones", "jones"]);
    assert_eq!(row.teams, ["a", "b"]);
    assert_eq!(row.created_at.as_deref(), Some("2024-01-01T00:00:00.000000Z"));
    assert!(!row.deactivated && !row.deleted && !row.name_overflow);
    let long = json!({"id": "b", "name": "a ".repeat(100)});
    let row = row::index_row(long.as_object().unwrap());
    assert!(row.name_overflow, "more word starts than are indexed");
    assert!(row.name_words.iter().all(|w| w.chars().count() <= row::WORD_CHARS));
}
