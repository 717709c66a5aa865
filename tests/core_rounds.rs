#![cfg(test)]
//! How many load rounds a write asks its shell for. Each round is one read of the Worker's
//! SQLite (its users and index lists), on top of the app-settings read, so these pin the storage
//! cost that BENCHMARKS.md reports. A batch write (`POST /users`, `PATCH /users`) reads its
//! stored users once, for the record path (`src/edge/writer/records.rs`), then its uniqueness
//! check (`ops::finish_written`) asks for one round of index lists whatever is stored, and one
//! more only to verify other holders.

use roster::core::access::auth::Caller;
use roster::core::engine::batch;
use roster::core::engine::memory::MemoryStore;
use roster::core::ops::{self, Commit, Snapshot, Step};
use roster::core::wire::error::Result;
use roster::core::wire::json;
use roster::core::wire::time::Timestamp;
use serde_json::{json, Map, Value};

// tests/wasm.rs runs these same cases compiled to wasm (headless Chromium and Firefox, and Node).
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

const NOW: i64 = 1_700_000_000_000;

/// Runs an operation from `snap` (what the shell has loaded) against the store's data as a
/// shell would; returns the rounds it asked for (how many users and names each asked for) and
/// its commit, which is not applied.
fn try_run(
    store: &MemoryStore,
    mut snap: Snapshot,
    op: impl Fn(&Snapshot) -> Result<Step>,
) -> (Vec<(usize, usize)>, Result<Commit>) {
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

/// A batch write as the Worker's Writer runs it: the record path over the stored users' texts
/// (read once, and held by the snapshot as the Writer holds them), then the uniqueness check
/// through the rounds it asks for. Returns those rounds and the commit, which is not applied.
fn writer_write(store: &MemoryStore, upsert: bool, body: &Value) -> (Vec<(usize, usize)>, Result<Commit>) {
    let now = Timestamp::from_millis(NOW + 1);
    let text = json::text(body);
    let mut read = Vec::new();
    let load = &mut |ids: &[&str]| {
        read.extend(ids.iter().map(|id| id.to_string()));
        Ok(ids.iter().map(|id| store.user(id).map(|u| json::text(&Value::Object(u.clone())))).collect())
    };
    let settings = &store.settings;
    let written = match upsert {
        true => batch::upsert(&text, load, &Caller::Server, settings, now),
        false => batch::partial_update(&text, load, &Caller::Server, settings, now),
    };
    let written = match written {
        Ok(w) => w,
        Err(e) => return (Vec::new(), Err(e)),
    };
    let mut snap = Snapshot::new(settings.clone());
    for id in read {
        let user = store.user(&id).cloned();
        snap.load_user(id, user);
    }
    let afters: Vec<_> = written.trees(upsert).unwrap().into_iter().map(|(_, tree, _)| tree).collect();
    let response = written.answer(&Caller::Server, settings).unwrap();
    try_run(store, snap, |s| ops::finish_written(s, &afters, &response, 201))
}

#[test]
fn a_100_user_upsert_reads_its_names_in_one_round_whatever_is_stored() {
    for stored in [0, 100, 1000, 5000] {
        let s = store_with(stored, "no");
        // The first 100 users again (stored ones unless the store is empty), names unchanged.
        let (rounds, commit) = writer_write(&s, true, &batch(0..100, |i| format!("User {i}")));
        let commit = commit.unwrap();
        assert_eq!(rounds, vec![(0, 100)], "{stored} stored users");
        assert_eq!(commit.users.len(), 100);
        assert_eq!(commit.releases.len(), 0);
        assert_eq!(commit.claims.len(), if stored == 0 { 100 } else { 0 }, "only new holders claim");
    }
}

#[test]
fn renames_read_the_old_and_new_names_in_the_same_round() {
    let s = store_with(1000, "no");
    let (rounds, commit) = writer_write(&s, true, &batch(0..100, |i| format!("Renamed {i}")));
    let commit = commit.unwrap();
    assert_eq!(rounds, vec![(0, 200)], "the old names are known with the users");
    assert_eq!((commit.claims.len(), commit.releases.len()), (100, 100));
}

#[test]
fn uniqueness_checks_read_other_holders_in_a_second_round() {
    let mut s = store_with(200, "app");
    // u0..u99 are stored; u100..u199 hold "User 100".."User 199". Renaming u0..u99 to those
    // names: the second round reads the holders to verify.
    let (rounds, result) = writer_write(&s, true, &batch(0..100, |i| format!("User {}", i + 100)));
    assert_eq!(result.unwrap_err().code, 6, "the names are taken");
    assert_eq!(rounds, vec![(0, 200), (100, 0)]);
    // Without the conflict (the holders deactivated), no holder to verify: one round.
    for i in 100..200 {
        s.deactivate_user(&format!("u{i}"), &json!({}), &Caller::Server, Timestamp::from_millis(NOW)).unwrap();
    }
    let (rounds, commit) = writer_write(&s, true, &batch(0..100, |i| format!("User {}", i + 100)));
    assert_eq!(rounds, vec![(0, 200)], "deactivated holders left the index");
    assert_eq!(commit.unwrap().claims.len(), 100);
}

#[test]
fn a_one_user_partial_update_reads_its_name_in_one_round() {
    let s = store_with(1000, "no");
    let body = json!({"users": [{"id": "u7", "set": {"address.city": "Oslo"}, "unset": ["score"]}]});
    let (rounds, commit) = writer_write(&s, false, &body);
    assert_eq!(rounds, vec![(0, 1)]);
    assert_eq!(commit.unwrap().users.len(), 1);
}
