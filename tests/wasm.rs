//! The core's cases compiled to wasm32 and run by wasm-bindgen-test, in headless Chromium and
//! Firefox (`wasm-pack test --headless --chrome -- --test wasm`, `--headless --firefox`) and in
//! Node (`wasm-pack test --node -- --test wasm`). The cases are the native suites themselves:
//! each file maps `#[test]` to `#[wasm_bindgen_test]` on wasm32, so one set of cases runs
//! natively, in V8 through Node and in both browsers, and a failing assertion fails every run.
//! Every core suite is here but `core_skeletons.rs`, whose oracle (the `unicode-security`
//! crate over all of Unicode) checks the table itself; the table's reader runs here through
//! `core_rules.rs`' lookalike cases.
#![cfg(target_arch = "wasm32")]
// Each suite that draws from `tests/support/rng.rs` declares it (natively each suite is a crate
// of its own), so here it is compiled once per such suite: 20 lines, on purpose.
#![allow(clippy::duplicate_mod)]

#[path = "core_auth.rs"]
mod core_auth;
#[path = "core_batch.rs"]
mod core_batch;
#[path = "core_cursor.rs"]
mod core_cursor;
#[path = "core_helpers.rs"]
mod core_helpers;
#[path = "core_index.rs"]
mod core_index;
#[path = "core_props.rs"]
mod core_props;
#[path = "core_query.rs"]
mod core_query;
#[path = "core_record.rs"]
mod core_record;
#[path = "core_rounds.rs"]
mod core_rounds;
#[path = "core_rules.rs"]
mod core_rules;
#[path = "core_store.rs"]
mod core_store;
#[path = "core_tenancy.rs"]
mod core_tenancy;
