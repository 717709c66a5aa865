#![cfg(test)]
//! How many load rounds a write asks its shell for. Each round is one read round trip for the
//! Worker (its users and index lists load in parallel), on top of the app-settings read, so
//! these pin the storage cost that BENCHMARKS.md reports: a 100-user upsert needs one round
//! however many users are stored, unless it renames users or must verify other holders.

use roster::core::access::auth::Caller;
use roster::core::engine::memory::MemoryStore;
use roster::core::ops::{self, Commit, Snapshot, Step};
use roster::core::wire::error::Result;
use roster::core::wire::time::Timestamp;
use serde_json::{json, Map, Value};

// tests/wasm.rs runs these same cases compiled to wasm (headless Chromium and Firefox, and Node).
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

const NOW: i64 = 1_700_000_000_000;

/// Runs an operation against the store's data as a shell would; returns the rounds it asked
/// for (how many users and names each asked for) and its commit, which is not applied.
fn run(store: &MemoryStore, op: impl Fn(&Snapshot) -> Result<Step>) -> (Vec<(usize, usize)>, Commit) {
    let (rounds, result) = try_run(store, op);
    (rounds, result.unwrap())
}

fn try_run(store: &MemoryStore, op: impl Fn(&Snapshot) -> Result<Step>) -> (Vec<(usize, usize)>, Result<Commit>) {
    let mut snap = Snapshot::new(store.settings.clone());
    let mut rounds = Vec::new();
    for _ in 0..8 {
        let step = match op(&snap) {
            Ok(step) => step,
            Err(e) => return (rounds, Err(e)),
        };
        match step {
            Step::Need(need) => {
                rounds.push((need.users.len(), need.names.len()));
                for id in need.users {
                    let u = store.user(&id).cloned();
                    snap.load_user(id, u);
                }
                for n in need.names {
                    let ids = store.names.get(&n).cloned().unwrap_or_default();
                    snap.load_names(n, ids);
                }
            }
            Step::Done(commit) => return (rounds, Ok(commit)),
        }
    }
    panic!("did not converge: {rounds:?}");
}

fn batch(ids: impl Iterator<Item = usize>, name: impl Fn(usize) -> String) -> Value {
    let users: Map<String, Value> =
        ids.map(|i| (format!("u{i}"), json!({"id": format!("u{i}"), "name": name(i), "score": i}))).collect();
    json!({ "users": users })
}

/// A store with `n` users, named "User <i>" unless `name` says otherwise.
fn store_with(n: usize, unique: &str) -> MemoryStore {
    let mut s = MemoryStore::new();
    s.update_app(&json!({ "enforce_unique_usernames": unique }), &Caller::Server).unwrap();
    for chunk in (0..n).collect::<Vec<_>>().chunks(100) {
        let body = batch(chunk.iter().copied(), |i| format!("User {i}"));
        s.upsert_users(body, &Caller::Server, Timestamp::from_millis(NOW)).unwrap();
    }
    s
}

fn upsert(body: &Value) -> impl Fn(&Snapshot) -> Result<Step> + '_ {
    move |snap| ops::upsert_users(body, &Caller::Server, Timestamp::from_millis(NOW + 1), snap)
}

#[test]
fn a_100_user_upsert_loads_users_and_names_in_one_round_whatever_is_stored() {
    for stored in [0, 100, 1000, 5000] {
        let s = store_with(stored, "no");
        // The first 100 users again (stored ones unless the store is empty), names unchanged.
        let (rounds, commit) = run(&s, upsert(&batch(0..100, |i| format!("User {i}"))));
        assert_eq!(rounds, vec![(100, 100)], "{stored} stored users");
        assert_eq!(commit.users.len(), 100);
        assert_eq!(commit.releases.len(), 0);
        assert_eq!(commit.claims.len(), if stored == 0 { 100 } else { 0 }, "only new holders claim");
    }
}

#[test]
fn renames_take_a_second_round_for_the_old_names() {
    let s = store_with(1000, "no");
    let (rounds, commit) = run(&s, upsert(&batch(0..100, |i| format!("Renamed {i}"))));
    assert_eq!(rounds, vec![(100, 100), (0, 100)], "the old names are known once the users are");
    assert_eq!((commit.claims.len(), commit.releases.len()), (100, 100));
}

#[test]
fn uniqueness_checks_load_other_holders_with_the_remaining_names() {
    let mut s = store_with(200, "app");
    // u0..u99 are stored; u100..u199 hold "User 100".."User 199". Renaming u0..u99 to those
    // names: the second round asks for the old names and the holders to verify together.
    let (rounds, result) = try_run(&s, upsert(&batch(0..100, |i| format!("User {}", i + 100))));
    assert_eq!(result.unwrap_err().code, 6, "the names are taken");
    assert_eq!(rounds, vec![(100, 100), (100, 100)]);
    // Without the conflict (the holders deactivated), the same two rounds, then the commit.
    for i in 100..200 {
        s.deactivate_user(&format!("u{i}"), &json!({}), &Caller::Server, Timestamp::from_millis(NOW)).unwrap();
    }
    let (rounds, commit) = run(&s, upsert(&batch(0..100, |i| format!("User {}", i + 100))));
    assert_eq!(rounds, vec![(100, 100), (0, 100)], "deactivated holders left the index");
    assert_eq!(commit.claims.len(), 100);
}

#[test]
fn a_one_user_partial_update_loads_the_user_then_its_name() {
    let s = store_with(1000, "no");
    let body = json!({"users": [{"id": "u7", "set": {"address.city": "Oslo"}, "unset": ["score"]}]});
    let (rounds, commit) =
        run(&s, |snap| ops::partial_update_users(&body, &Caller::Server, Timestamp::from_millis(NOW + 1), snap));
    assert_eq!(rounds, vec![(1, 0), (0, 1)]);
    assert_eq!(commit.users.len(), 1);
}
