//! Roster's pure core: Stream Chat's user semantics with no JavaScript, Worker, clock,
//! randomness or storage inside. Callers pass the current users, the settings, the caller
//! and the time; the core returns the new users and the writes to make.

pub mod activity;
pub mod answers;
pub mod auth;
pub mod batch;
pub mod cors;
pub mod cursor;
pub mod drive;
pub mod edit;
pub mod error;
pub mod events;
pub mod feed;
pub mod fnv;
pub mod hubs;
pub mod index;
pub mod json;
pub mod query;
pub mod rate_limits;
pub mod time;

pub use error::{ApiError, Operation};
pub mod memory;
pub mod not_served;
pub mod ops;
pub mod partial;
pub mod precondition;
pub mod record;
pub mod scan;
pub mod set;
pub mod setting_keys;
pub mod settings;
pub mod skeleton;
pub mod tasks;
pub mod tenancy;
pub mod user;
pub mod username;
pub mod v2;
