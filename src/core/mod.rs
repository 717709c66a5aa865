//! Roster's pure core: Stream Chat's user semantics with no JavaScript, Worker, clock,
//! randomness or storage inside. Callers pass the current users, the settings, the caller
//! and the time; the core returns the new users and the writes to make.
//!
//! Six folders, each a layer that uses only those before it (`tests/docs/architecture.test.mjs`
//! holds the order): `wire` (errors, JSON, time) → `access` (tokens, rate limits) → `model` (the
//! user, usernames, dotted paths, settings) → `query` (filters, indexes, cursors, tenancy) →
//! `ops` (each store operation as pure steps) → `engine` (the load loop, the in-memory store,
//! the batch entry points, tasks, events, hubs).

pub mod access;
pub mod engine;
pub mod model;
pub mod ops;
pub mod query;
pub mod wire;

pub use wire::error::{ApiError, Operation};
