//! The batch operations over records (`core::engine::batch`: `POST /users` and `PATCH /users` in
//! the Worker's Writer, the npm batch exports and `UserStore`'s writes) on a large seeded corpus:
//! Unicode names, deep custom data, floats in every form, escapes, whitespace, duplicate keys,
//! sizes at the 5 KiB limit, nesting at the 64-level limit and every error case. Each case's
//! answer (the response and records as parsed JSON: every number to the last digit; or the
//! error's code and message) must be the one `tests/corpus/` holds for it. The corpus was
//! written from the operations over `serde_json` trees the Worker ran before issue 23 put its
//! Writer on records, with the record path answering the same on every case; it now pins those
//! answers without keeping that second implementation.
#![cfg(test)]

use roster::core::access::auth::Caller;
use roster::core::engine::batch::{self, Load, Written};
use roster::core::model::normalize::normalize;
use roster::core::model::settings::AppSettings;
use roster::core::wire::error::Result;
use roster::core::wire::json;
use roster::core::wire::time::Timestamp;
use serde_json::Value;
use std::collections::BTreeMap;

// tests/wasm.rs runs these same cases compiled to wasm (headless Chromium and Firefox, and Node).
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

#[path = "support/rng.rs"]
mod rng;
use rng::Rng;

#[path = "support/corpus.rs"]
mod corpus;
use corpus::Corpus;

/// A suite's corpus file, compiled in.
macro_rules! corpus {
    ($name:literal) => {
        Corpus::new(concat!("tests/corpus/", $name, ".txt"), include_str!(concat!("corpus/", $name, ".txt")))
    };
}

const NAMES: &[&str] = &[
    "John Doe",
    "José",
    "Ünal Çelik",
    "Δημήτρης",
    "ΣΩΚΡΑΤΗΣ",
    "Иван",
    "李小龙",
    "さくら",
    "محمد",
    "अमित",
    "STRAßE",
    "İlker",
    "Zoë 😀",
    "O'Brien",
    "a\\nb",
    "caf\\u00e9",
    "smile \\ud83d\\ude00",
    "\\uD835\\uDC00 bold",
    "q\\\"uote",
    "tab\\there",
    "Ⅻ ½",
    "",
];
const NUMBERS: &[&str] = &[
    "0",
    "7",
    "-3",
    "1.5",
    "1.0",
    "-0",
    "-0.0",
    "1e5",
    "1E-7",
    "2.5e+3",
    "0.1",
    "123456789012345678",
    "-123456789012345678",
    "12345678901234567890",
    "98765432109876543210123",
    "1.7976931348623157e308",
    "5e-324",
    "0.30000000000000004",
    "3.141592653589793238462643",
    "1e400",
    "-1e400",
];
const KEYS: &[&str] = &[
    "name",
    "image",
    "language",
    "invisible",
    "role",
    "teams",
    "teams_role",
    "privacy_settings",
    "favorite",
    "score",
    "address",
    "tags",
    "nickname",
    "created_at",
    "updated_at",
    "online",
    "banned",
    "devices",
    "deactivated_at",
    "deleted_at",
    "revoke_tokens_issued_before",
    "__hard_deleted",
    "x y",
    "ünïcode",
    "a\\u0062",
];

/// A random JSON value as text, up to `depth` levels deep, with random whitespace.
fn value(r: &mut Rng, depth: usize) -> String {
    let ws = |r: &mut Rng| if r.chance(10) { " " } else { "" };
    match r.below(if depth == 0 { 4 } else { 7 }) {
        0 => format!("\"{}\"", r.pick(NAMES)),
        1 => r.pick(NUMBERS).to_string(),
        2 => r.pick(&["true", "false", "null"]).to_string(),
        3 => format!("\"{}\"", "x".repeat(r.below(40))),
        4 | 5 => {
            let n = r.below(4);
            let members: Vec<String> = (0..n)
                .map(|_| {
                    format!(
                        "{}\"{}\"{}:{}",
                        ws(r),
                        r.pick(&["a", "b", "c", "geo", "city", "\\u0061"]),
                        ws(r),
                        value(r, depth - 1)
                    )
                })
                .collect();
            format!("{{{}}}", members.join(","))
        }
        _ => {
            let n = r.below(4);
            let items: Vec<String> = (0..n).map(|_| value(r, depth - 1)).collect();
            format!("[{}{}]", ws(r), items.join(", "))
        }
    }
}

/// A value of a built-in field, mostly of the right type.
fn builtin(r: &mut Rng, key: &str) -> String {
    if r.chance(8) {
        return value(r, 2);
    }
    match key {
        "name" | "image" | "language" => format!("\"{}\"", r.pick(NAMES)),
        "invisible" => r.pick(&["true", "false"]).to_string(),
        "role" => r.pick(&["\"user\"", "\"admin\"", "\"\"", "\"moderator\""]).to_string(),
        "teams" => {
            r.pick(&["[]", "[\"red\"]", "[\"red\",\"blue\"]", "[\"blue\",\"red\",\"red\"]", "[\"\"]"]).to_string()
        }
        "teams_role" => r.pick(&["{\"red\":\"admin\"}", "{}", "{\"red\":1}"]).to_string(),
        "privacy_settings" => r
            .pick(&[
                "{\"typing_indicators\":{\"enabled\":true}}",
                "{\"read_receipts\":{\"enabled\":false},\"typing_indicators\":null}",
                "{\"nope\":{}}",
                "{\"read_receipts\":{\"enabled\":\"no\"}}",
            ])
            .to_string(),
        "revoke_tokens_issued_before" => r.pick(&["null", "\"2024-01-01T00:00:00Z\"", "\"yesterday\""]).to_string(),
        "created_at" | "updated_at" | "deactivated_at" | "deleted_at" => {
            r.pick(&["\"2025-01-15T08:30:00.123000Z\"", "null"]).to_string()
        }
        _ => value(r, 3),
    }
}

/// A user object's text with id `id`: random built-in, server and custom fields.
fn user(r: &mut Rng, id: &str, input: bool) -> String {
    let mut members = vec![format!("\"id\":\"{id}\"")];
    for _ in 0..r.below(9) {
        let key = r.pick(KEYS);
        if input && matches!(key, "created_at" | "updated_at" | "online") && !r.chance(10) {
            continue;
        }
        members.push(format!("\"{key}\":{}", builtin(r, key)));
    }
    if r.chance(5) {
        // At the 5 KiB custom-data limit, give or take a few bytes.
        let n = 5100 + r.below(40);
        members.push(format!("\"big\":\"{}\"", "x".repeat(n)));
    }
    if r.chance(4) {
        let n = 60 + r.below(6);
        members.push(format!("\"deep\":{}{}", "[".repeat(n), "]".repeat(n)));
    }
    if r.chance(3) {
        members.push(format!("\"name\":\"{}\"", r.pick(NAMES))); // a duplicate key, maybe
    }
    format!("{{{}}}", members.join(","))
}

const NOW: Timestamp = Timestamp(1_764_244_800_456_000);

/// The stored users of a corpus case: upserted by the record path, some then changed by hand.
fn stored_users(r: &mut Rng, ids: &[String], clean: bool) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for id in ids {
        if !clean && r.chance(15) {
            continue; // not stored
        }
        let body = format!("{{\"users\":{{\"{id}\":{}}}}}", user(r, id, true));
        let none = BTreeMap::new();
        let day_before = Timestamp(NOW.0 - 86_400_000_000);
        let Ok(written) = upsert(&body, &mut loader(&none), &Caller::Server, day_before) else { continue };
        let mut record = written.records().next().unwrap().1.to_string();
        match if clean { 19 } else { r.below(20) } {
            0 => record = record.replacen('{', "{\"deactivated_at\":\"2025-02-01T00:00:00Z\",", 1),
            1 => record = record.replacen('{', "{\"deleted_at\":\"2025-02-01T00:00:00Z\",", 1),
            2 => record = record.replacen('{', "{\"__hard_deleted\":true,", 1),
            3 => record = record.replacen('{', "{\"ratio\":1.50, \"nested\": {\"k\": [1e2, -0]},", 1),
            4 => record = "[not json".to_string(),
            _ => {}
        }
        out.insert(id.clone(), record);
    }
    out
}

fn loader(
    stored: &BTreeMap<String, String>,
) -> impl FnMut(&[&str]) -> roster::core::wire::error::Result<Vec<Option<String>>> + '_ {
    |ids| Ok(ids.iter().map(|id| stored.get(*id).cloned()).collect())
}

/// The response and the records, as parsed JSON (the records by id: their order is free).
fn parsed(w: &Written) -> (Value, BTreeMap<String, Value>) {
    let records = w.records().map(|(id, text)| (id.to_string(), json::parse(text).unwrap())).collect();
    (json::parse(&w.body).unwrap(), records)
}

type Op = fn(&str, &mut Load<'_>, &Caller, Timestamp) -> Result<Written>;

/// The batch exports' upsert: default app settings.
fn upsert(body: &str, stored: &mut Load<'_>, caller: &Caller, now: Timestamp) -> Result<Written> {
    batch::upsert(body, stored, caller, &AppSettings::default(), now)
}

/// The batch exports' partial update: default app settings.
fn partial_update(body: &str, stored: &mut Load<'_>, caller: &Caller, now: Timestamp) -> Result<Written> {
    batch::partial_update(body, stored, caller, &AppSettings::default(), now)
}

/// Whether the batch path wrote some user of `w` as a record: a user written as a tree has its
/// members sorted (a record keeps their order, which a corpus user rarely has sorted).
fn on_records(w: &Written) -> bool {
    w.records().any(|(_, text)| json::text(&json::parse(text).unwrap()) != text)
}

/// An answer in the corpus's canonical form: the response and the records by id as parsed JSON,
/// or the error's code and message.
fn outcome(r: &Result<Written>) -> String {
    match r {
        Ok(w) => {
            let (response, records) = parsed(w);
            let records: serde_json::Map<String, Value> = records.into_iter().collect();
            format!("{}\n{}", json::text(&response), json::text(&Value::Object(records)))
        }
        Err(e) => format!("{} {}", e.code, e.reason),
    }
}

/// Runs one body on the batch path and checks its answer against the corpus `c`; returns whether
/// it succeeds and whether the batch path wrote a record itself.
fn compare(
    c: &mut Corpus,
    records: Op,
    body: &str,
    stored: &BTreeMap<String, String>,
    caller: &Caller,
) -> (bool, bool) {
    let fast = records(body, &mut loader(stored), caller, NOW);
    let answer = outcome(&fast);
    c.check(&answer, &|| format!("{body}\nstored: {stored:?}\ncaller: {caller:?}"));
    (fast.is_ok(), fast.as_ref().is_ok_and(on_records))
}

fn caller(r: &mut Rng, ids: &[String]) -> Caller {
    match r.below(10) {
        0 => Caller::User(ids[0].clone()),
        1 => Caller::User("someone-else".into()),
        _ => Caller::Server,
    }
}

fn ids(r: &mut Rng, clean: bool) -> Vec<String> {
    let n = 1 + r.below(6);
    (0..n).map(|i| if !clean && r.chance(3) { format!("bad id {i}") } else { format!("u{}-{i}", r.below(3)) }).collect()
}

#[test]
fn upsert_answers_its_corpus() {
    let mut c = corpus!("batch-upsert");
    let mut r = Rng(0x5eed_0001);
    let (mut succeeded, mut decided, cases) = (0, 0, 3000);
    for case in 0..cases {
        let clean = case % 2 == 0;
        let ids = ids(&mut r, clean);
        let stored = stored_users(&mut r, &ids, clean);
        let members: Vec<String> = ids
            .iter()
            .map(|id| {
                let key = if r.chance(3) { "other" } else { id.as_str() };
                format!("\"{key}\": {}", user(&mut r, id, true))
            })
            .collect();
        let body = match r.below(30) {
            0 => "{\"users\": []}".to_string(),
            1 => "{\"users\": {}}".to_string(),
            2 => "{\"users\": {\"a\": 1}".to_string(),
            3 => "[]".to_string(),
            _ => format!("{{\"users\": {{{}}}, \"extra\": [1, {{}}]}}", members.join(", ")),
        };
        let caller = if clean { Caller::Server } else { caller(&mut r, &ids) };
        let (ok, fast) = compare(&mut c, upsert, &body, &stored, &caller);
        succeeded += usize::from(ok);
        decided += usize::from(fast);
    }
    assert!(succeeded * 100 >= cases * 10, "only {succeeded} of {cases} upserts succeed: the corpus is too narrow");
    assert!(
        decided * 100 >= succeeded * 80,
        "the batch path wrote records itself in only {decided} of {succeeded} upserts that succeed"
    );
    c.finish();
}

/// A random dotted path: mostly valid, sometimes reserved, empty-segmented or spaced (never in
/// clean cases, whose dotted paths reach into custom data, present or not, object or not).
fn path(r: &mut Rng, clean: bool) -> String {
    match if clean { 3 + r.below(9) } else { r.below(12) } {
        0 => r.pick(&["created_at", "id", "deleted_at", "a..b", " a", "a. b", "", "online"]).to_string(),
        1 | 2 => r.pick(KEYS).to_string(),
        3 => format!("address.{}", r.pick(&["city", "geo.lat", "number", "x.y.z"])),
        4 if clean => format!(
            "{}.{}",
            r.pick(&["address", "favorite", "score", "tags", "nickname", "prefs"]),
            r.pick(&["a", "b", "city", "geo", "geo.lat", "a.b", "a.b.c"])
        ),
        4 => format!("{}.{}", r.pick(KEYS), r.pick(&["a", "b"])),
        5 => "privacy_settings".to_string(),
        _ => r.pick(&["favorite", "score", "tags", "nickname", "address", "prefs.theme", "name", "teams"]).to_string(),
    }
}

#[test]
fn partial_update_answers_its_corpus() {
    let mut c = corpus!("batch-partial");
    let mut r = Rng(0x5eed_0002);
    let (mut succeeded, mut decided, cases) = (0, 0, 3000);
    for case in 0..cases {
        let clean = case % 2 == 0;
        let ids = ids(&mut r, clean);
        let stored = stored_users(&mut r, &ids, clean);
        let entries: Vec<String> = ids
            .iter()
            .map(|id| {
                let sets: Vec<String> = (0..r.below(5))
                    .map(|_| {
                        let p = path(&mut r, clean);
                        let built_in = ["privacy_settings", "teams", "role", "name", "image", "language", "invisible"];
                        let v = if built_in.contains(&p.as_str()) || (!clean && p.starts_with("teams")) {
                            builtin(&mut r, &p)
                        } else {
                            value(&mut r, 3)
                        };
                        format!("\"{p}\": {v}")
                    })
                    .collect();
                let unsets: Vec<String> = (0..r.below(3)).map(|_| format!("\"{}\"", path(&mut r, clean))).collect();
                let extra = if !clean && r.chance(3) { ", \"sett\": {}" } else { "" };
                format!(
                    "{{\"id\": \"{id}\", \"set\": {{{}}}, \"unset\": [{}]{extra}}}",
                    sets.join(", "),
                    unsets.join(",")
                )
            })
            .collect();
        let body = match if clean { 29 } else { r.below(30) } {
            0 => "{\"users\": {}}".to_string(),
            1 => "{\"users\": []}".to_string(),
            2 => "{\"users\": [1]}".to_string(),
            _ => format!("{{\"users\": [{}]}}", entries.join(", ")),
        };
        let caller = if clean { Caller::Server } else { caller(&mut r, &ids) };
        let (ok, fast) = compare(&mut c, partial_update, &body, &stored, &caller);
        succeeded += usize::from(ok);
        decided += usize::from(fast);
    }
    assert!(
        succeeded * 100 >= cases * 5,
        "only {succeeded} of {cases} partial updates succeed: the corpus is too narrow"
    );
    assert!(
        decided * 100 >= succeeded * 80,
        "the batch path wrote records itself in only {decided} of {succeeded} partial updates that succeed"
    );
    c.finish();
}

/// Dotted paths into stored custom objects, one user per batch so that a declined edit leaves
/// only its own case: the record path's text edits must give the corpus's answers (the tree
/// edits', when it was written).
#[test]
fn dotted_edits_answer_their_corpus() {
    let mut c = corpus!("batch-dotted");
    let mut r = Rng(0x5eed_0004);
    let (mut succeeded, mut decided, cases) = (0, 0, 2000);
    for _ in 0..cases {
        let address = if r.chance(70) {
            value(&mut r, 3).replacen('{', "{\"city\":\"X\",\"geo\":null,", 1)
        } else {
            value(&mut r, 3)
        };
        let record = format!("{{\"id\":\"u\",\"role\":\"user\",\"teams\":[],\"address\":{address}}}");
        let stored = BTreeMap::from([("u".to_string(), record)]);
        let segment = ["city", "geo", "a", "b", "c"];
        let mut paths = Vec::new();
        for _ in 0..1 + r.below(4) {
            let depth = 1 + r.below(3);
            let rest: Vec<&str> = (0..depth).map(|_| r.pick(&segment)).collect();
            paths.push(format!("address.{}", rest.join(".")));
        }
        let (set, unset) = paths.split_at(r.below(paths.len() + 1));
        let sets: Vec<String> = set.iter().map(|p| format!("\"{p}\": {}", value(&mut r, 2))).collect();
        let unsets: Vec<String> = unset.iter().map(|p| format!("\"{p}\"")).collect();
        let body = format!(
            "{{\"users\": [{{\"id\": \"u\", \"set\": {{{}}}, \"unset\": [{}]}}]}}",
            sets.join(", "),
            unsets.join(", ")
        );
        let (ok, fast) = compare(&mut c, partial_update, &body, &stored, &Caller::Server);
        succeeded += usize::from(ok);
        decided += usize::from(fast);
    }
    assert!(succeeded * 100 >= cases * 40, "only {succeeded} of {cases} dotted edits succeed");
    assert!(
        decided * 100 >= succeeded * 70,
        "the batch path wrote records itself in only {decided} of {succeeded} dotted edits"
    );
    c.finish();
}

#[test]
fn normalize_names_agrees_with_normalize() {
    let mut r = Rng(0x5eed_0003);
    for _ in 0..300 {
        let mut names: Vec<String> = (0..r.below(50)).map(|_| format!("\"{}\"", r.pick(NAMES))).collect();
        if r.chance(10) {
            // Escaped surrogate pairs (an emoji, 𝐀 and 𠀀, letters beyond the BMP), read by the
            // scanner as one character each.
            names.push("\"Smile \\ud83d\\ude00 \\u0130\\u00c9 \\ud835\\udc00\\ud840\\udc00\"".to_string());
        }
        let text = format!("[{}]", names.join(", "));
        let expected: Vec<Value> = json::parse(&text)
            .unwrap()
            .as_array()
            .unwrap()
            .iter()
            .map(|n| Value::from(normalize(n.as_str().unwrap())))
            .collect();
        let out = batch::normalize_names(&text).unwrap();
        assert_eq!(json::parse(&out).unwrap(), Value::Array(expected), "{text}");
        assert_eq!(batch::normalize_names_utf16(&text).unwrap(), out.encode_utf16().collect::<Vec<_>>(), "{text}");
    }
    for bad in ["", "[1]", "{}", "[\"a\",]", "[\"\\ud800\"]"] {
        assert_eq!(batch::normalize_names(bad).unwrap_err().code, 4, "{bad}");
        assert_eq!(batch::normalize_names_utf16(bad).unwrap_err(), batch::normalize_names(bad).unwrap_err(), "{bad}");
    }
}

/// The record text of user `id` in a batch's result.
fn record_of(w: &Written, id: &str) -> String {
    w.records().find(|(i, _)| *i == id).map(|(_, text)| text.to_string()).unwrap_or_default()
}

#[test]
fn a_user_a_record_cannot_hold_leaves_the_others_as_they_are() {
    let mut c = corpus!("batch-cases");
    // `"a\"b"`: a key with an escaped quote, which a record does not hold; u1's record keeps
    // its members' order, which the tree path sorts.
    let u1 = r#""u1": {"id": "u1",  "name": "Ann", "x": {"b": 1, "a": [1, 2]}}"#;
    let u2 = r#""u2": {"id": "u2", "a\"b": 1}"#;
    let stored = BTreeMap::from([
        ("u1".to_string(), r#"{"id":"u1","role":"user","x":{"b":1},"created_at":"2024-01-01T00:00:00Z"}"#.to_string()),
        ("u2".to_string(), r#"{"id":"u2","a\"b":0,"created_at":"2024-01-01T00:00:00Z"}"#.to_string()),
    ]);
    let (_, alone) = one_user_alone(&mut c, upsert, &stored, &|us| format!("{{\"users\": {{{us}}}}}"), u1, u2);
    let u1 = record_of(&alone, "u1");
    assert_ne!(u1, sorted(&u1), "u1 is written as a record (its members kept in order), not as a tree");

    let e1 = r#"{"id": "u1", "set": {"x.c": 2,  "name": "Bo"}}"#;
    let e2 = r#"{"id": "u2", "set": {"a\"b": 2}}"#;
    one_user_alone(&mut c, partial_update, &stored, &|us| format!("{{\"users\": [{us}]}}"), e1, e2);
    c.finish();
}

/// A record's text as a tree writes it: members sorted.
fn sorted(text: &str) -> String {
    json::text(&json::parse(text).unwrap())
}

/// Runs `first` alone and `first, second` together (`body` wraps the users), the second being a
/// user the record path cannot hold: `first`'s record is as it is alone, `second`'s as a tree
/// writes it (members sorted), the answer together the corpus's. Returns the results together
/// and alone.
fn one_user_alone(
    c: &mut Corpus,
    records: Op,
    stored: &BTreeMap<String, String>,
    body: &dyn Fn(&str) -> String,
    first: &str,
    second: &str,
) -> (Written, Written) {
    let run = |text: &str| records(text, &mut loader(stored), &Caller::Server, NOW).unwrap();
    let alone = run(&body(first));
    let mixed_body = body(&format!("{first}, {second}"));
    let mixed = run(&mixed_body);
    assert_eq!(record_of(&mixed, "u1"), record_of(&alone, "u1"));
    let u2 = record_of(&mixed, "u2");
    assert_eq!(u2, sorted(&u2), "u2 is written as a tree writes it");
    compare(c, records, &mixed_body, stored, &Caller::Server);
    (mixed, alone)
}

#[test]
fn records_are_written_compact_whatever_the_spacing_of_the_body() {
    // `json.dumps` writes `", "` and `": "`; a pretty printer adds newlines. The records stored are
    // the same bytes as for the compact body.
    let stored = BTreeMap::from([(
        "u1".to_string(),
        "{ \"id\": \"u1\", \"role\": \"user\", \"x\": { \"a\": [1, 2.5], \"s\": \" in  string \" } }".to_string(),
    )]);
    let compact = r#"{"users":{"u1":{"id":"u1","name":"Ann","p":{"q":[1,{"r":"a b"}],"t":1.5}}}}"#;
    let spaced = "{\"users\": {\"u1\": {\"id\": \"u1\", \"name\": \"Ann\",\n  \"p\": {\"q\": [ 1, {\"r\": \"a b\"} ],\t\"t\": 1.5}}}}";
    let run = |body: &str| upsert(body, &mut loader(&stored), &Caller::Server, NOW).unwrap();
    assert_eq!(record_of(&run(spaced), "u1"), record_of(&run(compact), "u1"));
    assert!(record_of(&run(spaced), "u1").contains(r#""p":{"q":[1,{"r":"a b"}],"t":1.5}"#));
    let patch = |body: &str| partial_update(body, &mut loader(&stored), &Caller::Server, NOW).unwrap();
    let edited = record_of(&patch(r#"{"users": [{"id": "u1", "set": {"x.b": [ 1 , 2 ], "y": { "z": 1 }}}]}"#), "u1");
    assert!(edited.contains(r#""x":{"a":[1,2.5],"s":" in  string ","b":[1,2]}"#), "{edited}");
    assert!(edited.contains(r#""y":{"z":1}"#), "{edited}");
}

#[test]
fn surrogate_escapes_are_read_in_pairs() {
    // `json.dumps` (Python's default) writes every character beyond the BMP as an escaped pair:
    // the record path reads such users itself, as the tree path does.
    let mut c = corpus!("batch-surrogates");
    let none = BTreeMap::new();
    let body = r#"{"users": {"u1": {"id": "u1", "name": "Zo\u00eb \ud83d\ude00", "bio": "\ud835\udc00"}}}"#;
    assert_eq!(compare(&mut c, upsert, body, &none, &Caller::Server), (true, true));
    c.finish();
    let fast = upsert(body, &mut loader(&none), &Caller::Server, NOW).unwrap();
    // As a record, not as a tree alone: the record keeps the body's order (a tree's is sorted),
    // each value written as serde_json writes it (the characters, not their escapes).
    assert!(record_of(&fast, "u1").starts_with(r#"{"id":"u1","name":"Zoë 😀","bio":"𝐀""#));
    // A lone surrogate is refused, as serde_json words it.
    let lone = r#"{"users": {"u1": {"id": "u1", "name": "\ud83d"}}}"#;
    let e = upsert(lone, &mut loader(&none), &Caller::Server, NOW).unwrap_err();
    assert_eq!((e.code, e.reason.starts_with("invalid JSON body")), (4, true), "{e:?}");
}

#[test]
fn an_entry_with_many_paths_is_decided_alike() {
    // More paths than the record path holds (64): the tree decides that entry, alone.
    let mut c = corpus!("batch-many-paths");
    let stored = BTreeMap::from([("u1".to_string(), r#"{"id":"u1","role":"user"}"#.to_string())]);
    for n in [63, 64, 65, 300] {
        let set: Vec<String> = (0..n).rev().map(|i| format!("\"k{i}.v\": {i}")).collect();
        let unset: Vec<String> = (0..n).map(|i| format!("\"g{i}\"")).collect();
        let body =
            format!(r#"{{"users": [{{"id": "u1", "set": {{{}}}, "unset": [{}]}}]}}"#, set.join(","), unset.join(","));
        assert!(compare(&mut c, partial_update, &body, &stored, &Caller::Server).0, "{n} paths");
    }
    c.finish();
}

#[test]
fn responses_list_users_by_id_as_the_endpoints_do() {
    // `POST /users` and `PATCH /users` answer a map of users, which Stream (and the tree path)
    // writes sorted by id; `users` keeps the batch's order, each range pointing into the body.
    let stored = BTreeMap::from([("b".to_string(), r#"{"id":"b"}"#.to_string())]);
    let bodies = [
        (r#"{"users":{"c":{"id":"c"},"a":{"id":"a"},"b":{"id":"b","x":1}}}"#, true),
        // A repeated id: the last one counts, as in the tree of the body.
        (r#"{"users":{"c":{"id":"c"},"a":{"id":"a"},"c":{"id":"c","y":1}}}"#, true),
        (r#"{"users":[{"id":"b","set":{"x":2}}]}"#, false),
    ];
    for (body, is_upsert) in bodies {
        let run = |f: &dyn Fn(&str, &mut Load<'_>) -> roster::core::wire::error::Result<Written>| {
            f(body, &mut loader(&stored))
        };
        let written = match is_upsert {
            true => run(&|b, l| upsert(b, l, &Caller::Server, NOW)),
            false => run(&|b, l| partial_update(b, l, &Caller::Server, NOW)),
        };
        let w = written.unwrap();
        let batch_order: Vec<&str> = w.users.iter().map(|(id, _)| id.as_str()).collect();
        let mut starts: Vec<(usize, &str)> = w.users.iter().map(|(id, r)| (r.start, id.as_str())).collect();
        starts.sort();
        let in_body: Vec<&str> = starts.into_iter().map(|(_, id)| id).collect();
        let mut sorted = batch_order.clone();
        sorted.sort();
        assert_eq!(in_body, sorted, "{body}");
        if body.contains("\"b\":{\"id\":\"b\",\"x\":1}") {
            assert_eq!(batch_order, ["c", "a", "b"], "{body}");
        }
        for (id, text) in w.records() {
            assert_eq!(json::parse(text).unwrap()["id"], id, "{body}");
        }
    }
}

#[test]
fn a_repeated_id_in_a_partial_update_is_refused() {
    let stored = BTreeMap::from([
        ("a".to_string(), r#"{"id":"a"}"#.to_string()),
        ("b".to_string(), r#"{"id":"b"}"#.to_string()),
    ]);
    let body = r#"{"users":[{"id":"b","set":{"x":1}},{"id":"a","set":{"y":1}},{"id":"b","set":{"x":2}}]}"#;
    let e = partial_update(body, &mut loader(&stored), &Caller::Server, NOW).unwrap_err();
    // Stream refuses a batch that names a user twice.
    assert_eq!((e.code, e.reason.as_str()), (4, "user 'b' appears more than once in the batch"));
}

#[test]
fn every_body_is_decided_as_its_corpus_says() {
    let mut c = corpus!("batch-bodies");
    // Text the record reader does not hold, JSON or not: whatever it skips, the body is parsed
    // once, and the error (or the write) is the corpus's (the operations over trees' when it was
    // written).
    let stored = BTreeMap::from([("a".to_string(), r#"{"id":"a","role":"user"}"#.to_string())]);
    let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
    let nested = format!("{}1{}", "[".repeat(100), "]".repeat(100));
    let upserts = [
        r#"{"users": {"a": {"id": "a", "x": 1}}, "more": tru}"#.to_string(),
        r#"{"users": {"b": {"id": "a"}}, "more": tru}"#.to_string(),
        r#"{"users": {"a": {"id": "a", "x": 1}}} x"#.to_string(),
        r#"{"\u0075sers": {"a": {"id": "a", "x": 1}}}"#.to_string(),
        r#"{"users": {"\u0061": {"id": "a", "x": 1}}}"#.to_string(),
        r#"{"users": {"a": {"id": "a"}}, "users": {"a": {"id": "a", "y": 2}}}"#.to_string(),
        r#"{"users": {"a": {"id": "a"}}, "users": null}"#.to_string(),
        r#"{"users": null}"#.to_string(),
        r#"{"users": "a"}"#.to_string(),
        r#"{"users": {"a": 1, "b": {"id": "b", "role": 7}}}"#.to_string(),
        r#"{"users": {"b": {"id": "b", "role": 7}, "a": 1}}"#.to_string(),
        r#"{"users": {"a": {"id": "a", "x": 1.5e308, "y": 1e0001}}}"#.to_string(),
        r#"{"users": {"a": {"id": "a", "x": 1e400}}}"#.to_string(),
        r#"{"users": {"a": {"id": "a", "x": "\udc00"}}}"#.to_string(),
        r#"{"users": {"a": {"id": "a", "x": "\u00e9\/"}}}"#.to_string(),
        r#"{"users": {"a": {"id": "a", "x": 01}}}"#.to_string(),
        format!(r#"{{"users": {{"a": {{"id": "a"}}}}, "more": {deep}}}"#),
        format!(r#"{{"users": {{"a": {{"id": "a", "x": {deep}}}}}}}"#),
        format!(r#"{{"users": {{"a": {{"id": "a", "x": {nested}}}}}}}"#),
        "[]".to_string(),
        "\"users\"".to_string(),
        "null".to_string(),
        "".to_string(),
        "{".to_string(),
    ];
    for body in &upserts {
        compare(&mut c, upsert, body, &stored, &Caller::Server);
    }
    let partials = [
        r#"{"users": [{"id": "a", "set": {"x": 1}}], "more": tru}"#.to_string(),
        r#"{"users": [{"id": "b", "set": {"x": 1}}], "more": [1,]}"#.to_string(),
        r#"{"users": [{"id": "a", "set": {"x": 1}}, {"id": "a", "set": {"y": 1}}]}"#.to_string(),
        r#"{"users": [{"id": "a", "set": {"role": 1}}, {"id": "a", "set": {"y": 1}}]}"#.to_string(),
        r#"{"users": [{"id": "a", "set": {"\u0078": 1}, "unset": ["y"]}]}"#.to_string(),
        r#"{"users": [{"id": "b", "set": {"x": 1}}, {"id": "a", "set": {"created_at": 1}}]}"#.to_string(),
        r#"{"users": [{"id": "a", "set": {"x": 1}}, 7]}"#.to_string(),
        r#"{"users": {"a": 1}}"#.to_string(),
        r#"{"users": []}"#.to_string(),
        format!(r#"{{"users": [{{"id": "a", "set": {{"x": {deep}}}}}]}}"#),
        format!(r#"{{"users": [{{"id": "a", "set": {{"x": {nested}}}}}]}}"#),
    ];
    for body in &partials {
        compare(&mut c, partial_update, body, &stored, &Caller::Server);
    }
    // An entry's members are checked in the tree's order: the id, the first unknown member in
    // key order, `set`'s paths sorted, `unset`'s in order, the fields no path may write, a path
    // both set and unset; then a repeated entry, then who may write what.
    let entries = [
        r#"{"users": [{"id": "a", "zeta": 1, "beta": 2, "set": {"x": 1}}]}"#,
        r#"{"users": [{"id": 5, "bogus": 1}]}"#,
        r#"{"users": [{"id": null, "set": {"x": 1}}]}"#,
        r#"{"users": [{"set": 1, "id": "a", "unset": 2}]}"#,
        r#"{"users": [{"id": "a", "unset": ["x", 5, "a b"]}]}"#,
        r#"{"users": [{"id": "a", "unset": ["a b", 5]}]}"#,
        r#"{"users": [{"id": "a", "set": {"b.c": 1, "a b": 2}, "unset": ["b"]}]}"#,
        r#"{"users": [{"id": "a", "set": {"x": 1, "created_at": "x"}, "unset": ["id"]}]}"#,
        r#"{"users": [{"id": "a", "set": {"y.z": 1, "x": 1}, "unset": ["y", "x"]}]}"#,
        r#"{"users": [{"id": "a", "set": {"x": 1}}, {"id": "a", "set": {"role": "admin"}}]}"#,
        r#"{"users": [{"id": "a", "set": {"role": "admin"}}, {"id": "a", "set": {"x": 1}}]}"#,
        r#"{"users": [{"id": "\u0061", "set": {"x": 1}, "unset": null}]}"#,
        r#"{"users": [{"id": "a", "set": {"x": 1}, "unset": ["y"], "set": null}]}"#,
    ];
    for body in entries {
        for caller in [Caller::Server, Caller::User("a".into())] {
            compare(&mut c, partial_update, body, &stored, &caller);
        }
    }
    c.finish();
}

#[test]
fn a_record_decides_every_check_whatever_the_spelling() {
    let mut c = corpus!("batch-spellings");
    // A user's own write compares its role, teams and teams_role with the stored ones: equal
    // values spelled otherwise (escapes, spacing, members in another order) are equal. Of several
    // faults, the first in key order is the error, as over a tree (whose members are sorted).
    // Each write must be decided on records (members kept unsorted), not left to a tree.
    let stored = BTreeMap::from([(
        "a".to_string(),
        r#"{"id":"a","role":"user","teams":["red","blue"],"teams_role":{"red":"admin","blue":"member"}}"#.to_string(),
    )]);
    let me = Caller::User("a".into());
    let same = [
        r#"{"users": {"a": {"id": "a", "teams_role": {"blue": "member", "red": "admin"}, "role": "user"}}}"#,
        r#"{"users": {"a": {"id": "a", "teams_role": { "red" : "adm\u0069n", "blue":"member" }, "x": 1}}}"#,
        r#"{"users": {"a": {"id": "a", "teams": ["blue", "r\u0065d"], "role": "us\u0065r"}}}"#,
    ];
    for body in same {
        assert_eq!(compare(&mut c, upsert, body, &stored, &me), (true, true), "{body}");
    }
    let refused = [
        r#"{"users": {"a": {"id": "a", "teams_role": {"red": "member", "blue": "member"}, "role": "user"}}}"#,
        r#"{"users": {"a": {"id": "a", "teams": ["red"], "role": "user"}}}"#,
        r#"{"users": {"a": {"id": "a", "teams": [], "role": "ad\u006din"}}}"#,
        r#"{"users": {"a": {"id": "a", "role": 7, "name": 1, "invisible": "no"}}}"#,
        r#"{"users": {"a": {"id": "a", "privacy_settings": {"z": 1, "b": 2, "typing_indicators": 3}}}}"#,
    ];
    for body in refused {
        assert!(!compare(&mut c, upsert, body, &stored, &me).0, "{body}");
    }
    for body in refused.iter().skip(3) {
        assert!(!compare(&mut c, upsert, body, &stored, &Caller::Server).0, "{body}");
    }
    // A nested object with a repeated member, near the size limit: serde_json keeps the last
    // one, so the text is over the limit and the user is not.
    let big = "x".repeat(5080);
    let body = format!(r#"{{"users": {{"a": {{"id": "a", "s": {{"k": "{big}", "\u006b": 1}}, "t": "{big}"}}}}}}"#);
    assert!(compare(&mut c, upsert, &body, &stored, &Caller::Server).0);
    let body = format!(
        r#"{{"users": {{"a": {{"id": "a", "t": "{big}xxxxxxxxxxxxxxxxxxxxxxxxx", "s": {{"k": "{big}", "\u006b": 1}}}}}}}}"#
    );
    assert!(!compare(&mut c, upsert, &body, &stored, &Caller::Server).0);
    c.finish();
}

#[test]
fn a_user_is_stored_as_the_same_bytes_whichever_json_writer_sent_it() {
    // `JSON.stringify`, Python's `json.dumps` (ASCII-only, `\u` escapes, surrogate pairs, spaced)
    // and a writer that escapes `/` and writes numbers in other forms: one user, three bodies.
    let bodies = [
        r#"{"users":{"u1":{"id":"u1","name":"Zoë 😀","site":"a/b","score":1.5,"n":100,"tags":["é",{"k":"\n"}]}}}"#,
        r#"{"users": {"u1": {"id": "u1", "name": "Zo\u00eb \ud83d\ude00", "site": "a/b", "score": 1.5, "n": 100, "tags": ["\u00e9", {"k": "\n"}]}}}"#,
        "{\"users\":{\"u1\":{\n  \"id\":\"u1\",\"name\":\"Zo\\u00EB \\uD83D\\uDE00\",\"site\":\"a\\/b\",\"score\":1.50,\"n\":100,\n  \"tags\":[\"\\u00e9\",{\"k\":\"\\u000a\"}]}}}",
    ];
    let stored = BTreeMap::from([("u1".to_string(), r#"{"id":"u1","created_at":"2024-01-01T00:00:00Z"}"#.to_string())]);
    let records: Vec<String> = bodies
        .iter()
        .map(|body| record_of(&upsert(body, &mut loader(&stored), &Caller::Server, NOW).unwrap(), "u1"))
        .collect();
    assert_eq!(records[0], records[1]);
    assert_eq!(records[0], records[2]);
    assert!(records[0].contains(r#""name":"Zoë 😀","site":"a/b","score":1.5,"n":100,"tags":["é",{"k":"\n"}]"#));
    // A partial update's values likewise, and a stored record written otherwise is rewritten.
    let spaced =
        BTreeMap::from([("u1".to_string(), "{\"id\": \"u1\", \"x\": {\"a\": 1.50, \"b\": \"\\/\"}}".to_string())]);
    let sets = [
        r#"{"users":[{"id":"u1","set":{"x.c":"é","y":2.5}}]}"#,
        r#"{"users": [{"id": "u1", "set": {"x.c": "\u00e9", "y": 25e-1}}]}"#,
    ];
    let edited: Vec<String> = sets
        .iter()
        .map(|body| record_of(&partial_update(body, &mut loader(&spaced), &Caller::Server, NOW).unwrap(), "u1"))
        .collect();
    assert_eq!(edited[0], edited[1]);
    assert!(edited[0].starts_with(r#"{"id":"u1","x":{"a":1.5,"b":"/","c":"é"},"y":2.5"#), "{}", edited[0]);
    // Custom data near the 5 KiB limit, written raw and ASCII-only (three times longer): the same
    // bytes, decided on records both ways (the body's order kept: `z` before `bio`).
    let near = |bio: &str| format!(r#"{{"users":{{"u1":{{"id":"u1","z":1,"bio":"{bio}"}}}}}}"#);
    let (raw, ascii) = (near(&"é".repeat(2_540)), near(&"\\u00e9".repeat(2_540)));
    let stored =
        |body: &str| record_of(&upsert(body, &mut loader(&BTreeMap::new()), &Caller::Server, NOW).unwrap(), "u1");
    assert_eq!(stored(&raw), stored(&ascii));
    assert!(stored(&ascii).starts_with(r#"{"id":"u1","z":1,"bio":"éé"#));
}
