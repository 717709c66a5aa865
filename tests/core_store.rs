//! `UserStore`'s batch writes (`MemoryStore::upsert_text`, `partial_text`: the record path, then
//! unique usernames and the index over records) against the same writes as the Worker's Writer
//! runs them (`src/edge/writer/records.rs`: the same record path, then the written users as
//! trees and unique usernames through the driver, `ops::finish_written`), in a second store of
//! the same type: on seeded random histories under every uniqueness rule, with colliding,
//! lookalike, escaped and inactive names, teams, user tokens (under server-only and hidden
//! fields too) and errors. After every step both stores must hold the same users and the same
//! index lists, and every write must answer the same JSON or the same error.
#![cfg(test)]

use roster::core::access::auth::Caller;
use roster::core::engine::batch;
use roster::core::engine::memory::{MemoryStore, Response};
use roster::core::ops;
use roster::core::wire::error::{OpError, Operation};
use roster::core::wire::json;
use roster::core::wire::time::Timestamp;
use serde_json::{json, Value};

// tests/wasm.rs runs these same cases compiled to wasm (headless Chromium and Firefox, and Node).
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

#[path = "support/rng.rs"]
mod rng;
use rng::Rng;

const IDS: &[&str] = &["a", "b", "c", "d", "e", "f"];
/// Names that collide when normalized ("Ann", "a.n.n"), as lookalikes (Cyrillic "Аnn", "b0b"
/// against "bob"), that normalize to nothing, and that are not ASCII.
const NAMES: &[&str] = &["Ann", "a.n.n", "Аnn", "Bob", "b0b", "bob", "Zoë", "zoe", "José", "!!", "Иван", "Li \"Q\""];
const TEAMS: &[&str] = &["red", "blue", "vért"];

/// JSON text of `value`, with each character beyond ASCII written as a `\u` escape when
/// `escape` (as Python's `json.dumps` writes it): the record path must read names either way.
fn text(value: &Value, escape: bool) -> String {
    let plain = json::text(value);
    if !escape {
        return plain;
    }
    let mut out = String::with_capacity(plain.len());
    for c in plain.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{u:04x}"));
            }
        }
    }
    out
}

fn user(r: &mut Rng, id: &str) -> Value {
    let mut u = json!({ "id": id });
    match r.below(10) {
        0 => {}
        1 => u["name"] = Value::Null,
        2 => u["name"] = json!(7),
        _ => u["name"] = json!(r.pick(NAMES)),
    }
    if r.chance(40) {
        let teams: Vec<&str> = (0..r.below(3)).map(|_| r.pick(TEAMS)).collect();
        u["teams"] = json!(teams);
    }
    if r.chance(30) {
        u["color"] = json!(r.pick(&["green", "blue"]));
    }
    if r.chance(20) {
        u["prefs"] = json!({"tier": r.pick(&["free", "pro"]), "theme": "dark"});
    }
    if r.chance(20) {
        u["secret"] = json!(r.pick(&["s1", "s2"]));
    }
    if r.chance(3) {
        u["created_at"] = json!("not a time"); // a reserved field: the batch fails
    }
    u
}

fn entry(r: &mut Rng) -> Value {
    let id = r.pick(IDS);
    match r.below(7) {
        0 => json!({"id": id, "unset": ["name"]}),
        5 => json!({"id": id, "set": {"prefs.tier": r.pick(&["free", "pro"]), "secret": "s3"}}),
        6 => json!({"id": id, "set": {"prefs.theme": "light"}, "unset": [r.pick(&["color", "prefs", "secret"])]}),
        1 => json!({"id": id, "set": {"teams": [r.pick(TEAMS)]}}),
        2 => json!({"id": id, "set": {"name": r.pick(NAMES), "color": "red"}, "unset": ["teams"]}),
        _ => json!({"id": id, "set": {"name": r.pick(NAMES)}}),
    }
}

/// The result of a write as both stores can answer it: the response, or the error.
fn outcome(r: Result<Value, OpError>) -> Result<Value, (i32, String)> {
    r.map_err(|e| (e.error.code, e.error.reason))
}

/// A batch write (`POST /users` when `upsert`, else `PATCH /users`) as the Worker's Writer runs
/// it: the record path over the stored users' texts, the written users as trees, then unique
/// usernames and the commit through the driver.
fn writer_write(
    s: &mut MemoryStore,
    upsert: bool,
    body: &str,
    caller: &Caller,
    now: Timestamp,
) -> Result<Value, OpError> {
    let op = if upsert { Operation::UpdateUsers } else { Operation::UpdateUsersPartial };
    let fail = |error| OpError { op, error };
    let settings = s.settings.clone();
    let written = {
        let store = &*s;
        let load = &mut |ids: &[&str]| {
            Ok(ids.iter().map(|id| store.user(id).map(|u| json::text(&Value::Object(u.clone())))).collect())
        };
        match upsert {
            true => batch::upsert(body, load, caller, &settings, now),
            false => batch::partial_update(body, load, caller, &settings, now),
        }
        .map_err(fail)?
    };
    let afters: Vec<_> = written.trees(upsert).map_err(fail)?.into_iter().map(|(_, tree, _)| tree).collect();
    let response = written.answer(caller, &settings).map_err(fail)?;
    let status = if upsert { 201 } else { 200 };
    s.run(op, &|snap| ops::finish_written(snap, &afters, &response, status)).map(|c| c.response)
}

/// Runs a history; returns how many writes succeeded, and how many of them a user token made
/// under server-only and hidden fields.
fn history(seed: u64, mode: &str, skeletons: bool) -> (usize, usize) {
    let guards = seed.is_multiple_of(3);
    let mut answered = (0, 0);
    let mut count = |r: &Result<Response, OpError>, caller: &Caller| {
        answered.0 += usize::from(r.is_ok());
        answered.1 += usize::from(r.is_ok() && guards && matches!(caller, Caller::User(_)));
    };
    let mut r = Rng(seed);
    let mut settings = json!({"enforce_unique_usernames": mode, "roster_username_skeletons": skeletons});
    if guards {
        // Paths a user token may not write, and paths it may not see.
        settings["roster_server_only_fields"] = json!(["color", "prefs.tier"]);
        settings["roster_hidden_fields"] = json!(["secret", "prefs.theme"]);
    }
    let (mut records, mut writer) = (MemoryStore::new(), MemoryStore::new());
    for s in [&mut records, &mut writer] {
        s.update_app(&settings, &Caller::Server).unwrap();
    }
    for step in 0..60 {
        let now = Timestamp::from_millis(1_700_000_000_000 + step * 1000);
        let caller = if r.chance(25) { Caller::User(r.pick(IDS).to_string()) } else { Caller::Server };
        let escape = r.chance(50);
        let (got, want) = match r.below(10) {
            0..=4 => {
                // Written in the order drawn (an id may come twice: the last one counts), so
                // the record path reads ids out of order, as the operation over trees does not.
                let mut ids: Vec<&str> = (0..1 + r.below(4)).map(|_| r.pick(IDS)).collect();
                // A user token mostly writes its own user, which it may.
                if let (Caller::User(me), true) = (&caller, r.chance(70)) {
                    ids = vec![me.as_str()];
                }
                let members: Vec<String> =
                    ids.iter().map(|id| format!("\"{id}\":{}", text(&user(&mut r, id), escape))).collect();
                let body_text = format!("{{\"users\":{{{}}}}}", members.join(","));
                let got = records.upsert_text(&body_text, &caller, now);
                count(&got, &caller);
                let got = got.map(Response::into_json);
                let want = writer_write(&mut writer, true, &body_text, &caller, now);
                (outcome(got), outcome(want))
            }
            5..=7 => {
                let mut entries: Vec<Value> = (0..1 + r.below(3)).map(|_| entry(&mut r)).collect();
                if let (Caller::User(me), true) = (&caller, r.chance(70)) {
                    entries.truncate(1);
                    entries[0]["id"] = json!(me);
                }
                let body = text(&json!({ "users": entries }), escape);
                let got = records.partial_text(&body, &caller, now);
                count(&got, &caller);
                let got = got.map(Response::into_json);
                let want = writer_write(&mut writer, false, &body, &caller, now);
                (outcome(got), outcome(want))
            }
            // Users leave and rejoin the index through the operations over trees, in both (as
            // the Writer's deactivate and reactivate run).
            n => {
                let id = r.pick(IDS);
                let run = |s: &mut MemoryStore| match n {
                    8 => s.deactivate_user(id, &json!({}), &Caller::Server, now).map(|c| c.response),
                    _ => s.reactivate_user(id, &json!({}), &Caller::Server, now).map(|c| c.response),
                };
                (outcome(run(&mut records)), outcome(run(&mut writer)))
            }
        };
        let at = format!("seed {seed}, {mode}, skeletons {skeletons}, step {step}");
        assert_eq!(got, want, "{at}");
        assert_eq!(records.trees(), writer.trees(), "{at}: users");
        assert_eq!(records.names, writer.names, "{at}: index");
    }
    answered
}

#[test]
fn user_store_batch_writes_agree_with_the_writers() {
    let (mut succeeded, mut guarded) = (0, 0);
    for seed in 1..=40u64 {
        for mode in ["no", "app", "team"] {
            let (s, g) = history(seed * 7919, mode, seed % 2 == 0);
            (succeeded, guarded) = (succeeded + s, guarded + g);
        }
    }
    assert!(succeeded > 1500, "{succeeded} writes succeeded");
    assert!(guarded > 40, "only {guarded} user-token writes under guarded fields succeeded");
}

#[test]
fn the_histories_reach_every_outcome() {
    // The generator is worth its name: names collide, and batches fail and succeed.
    let mut s = MemoryStore::new();
    s.update_app(&json!({"enforce_unique_usernames": "app"}), &Caller::Server).unwrap();
    let now = Timestamp::from_millis(1_700_000_000_000);
    s.upsert_text(r#"{"users":{"a":{"id":"a","name":"Ann"}}}"#, &Caller::Server, now).unwrap();
    let e = s.upsert_text(r#"{"users":{"b":{"id":"b","name":"a.n.n"}}}"#, &Caller::Server, now).unwrap_err();
    assert_eq!((e.error.code, e.error.reason.as_str()), (6, "username 'a.n.n' already exists"));
    let e = s.partial_text(r#"{"users":[{"id":"a","set":{"name":"B\u00f6b"}},{"id":"zz"}]}"#, &Caller::Server, now);
    assert_eq!(e.unwrap_err().error.code, 4, "a missing user fails the batch");
    assert_eq!(s.user("a").unwrap()["name"], "Ann", "and writes nothing");
    s.partial_text(r#"{"users":[{"id":"a","set":{"name":"B\u00f6b"}}]}"#, &Caller::Server, now).unwrap();
    assert_eq!(s.user("a").unwrap()["name"], "Böb");
    // Held as its value ("böb", whose index key is its skeleton), not as its escaped text.
    assert_eq!(s.names.iter().collect::<Vec<_>>(), [(&"bob".to_string(), &vec!["a".to_string()])]);
}
