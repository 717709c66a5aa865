//! The Writer's tables: users as rows with the columns queries use, the username index, the
//! app settings, and the outbox that replicates them to Workers KV. Every function here is
//! synchronous (see `sql.rs`): a command reads, decides and commits without awaiting.
//!
//! SQL layout (README, "Storage"):
//! - `users(id, record, name_norm, name_overflow, role, created_at, updated_at, last_active,
//!   deactivated, deleted)`: the record as JSON text plus [`IndexRow`] columns;
//!   `user_teams(team, id)` and `name_words(word, id)` are their side tables.
//! - `names(norm, ids)`: the core's username index (normalized name → JSON array of holders),
//!   written in the same transaction as the users, so a uniqueness check and the write it
//!   allows are one atomic step.
//! - `settings(k, v)`: `app` → the app settings JSON.
//! - `outbox(key, value, seq, attempts, due_ms)`: the latest value of each KV key not yet
//!   replicated (`value` null: delete the key); `kv_sent(key, at_ms)`: when each key was last
//!   written to KV (at most one write per key per second); `meta(k, v)`: the sequence counter
//!   and the import marker.
//! - `subscriptions(connection_id, user_id)`: who watches whom (presence queries);
//!   `connections(connection_id, user_id, hub)`: every open connection and the hub holding it;
//!   `hubs(hub, lease_until, reported_ms)`: each hub's lease (`core::engine::hubs`);
//!   `hub_events(seq, hub, sends, attempts, due_ms)`: frames queued for a hub, in commit order;
//!   `webhooks(id, delivery_id, user_id, url, body, attempts, due_ms)`: event deliveries pending.
//! - `tasks(id, kind, user_ids, options, outcomes, done, total, created_at, updated_at)`: batch
//!   operations; each user's step commits with its outcome, so a task resumes where it stopped.
//! - `user_changes(id, seq)`: the change feed (`core::query::feed`): each user's latest commit
//!   sequence number — its version (`core::query::precondition`) — moved only when its record changes.

mod connections;
mod outbox;
mod pages;
mod subscriptions;
mod tasks;
mod users;
mod webhooks;
pub use connections::*;
pub use outbox::*;
pub use pages::*;
pub use subscriptions::*;
pub use tasks::*;
pub use users::*;
pub use webhooks::*;

use super::sql::{Arg, Db};
use crate::core::engine::drive::Loader;
use crate::core::model::settings::AppSettings;
use crate::core::model::skeleton;
use crate::core::model::user::User;
use crate::core::ops::Commit;
use crate::core::query::cursor::{Page, Seek, Walk};
use crate::core::query::index::{self, Candidates, CustomValue, Plan};
use crate::core::query::order::{self, InOrder};
use crate::core::query::payload::UserQuery;
use crate::core::query::row::{self, IndexRow};
use crate::core::wire::error::ApiError;
use crate::core::wire::json;
use serde_json::Value;

/// Workers KV key of a user record.
pub fn user_key(id: &str) -> String {
    format!("u:{id}")
}

/// Workers KV key of the app settings.
pub const SETTINGS_KEY: &str = "app";

const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS users (id TEXT PRIMARY KEY, record TEXT NOT NULL, name_norm TEXT, \
     name_overflow INTEGER NOT NULL, role TEXT, created_at TEXT, updated_at TEXT, last_active TEXT, \
     deactivated INTEGER NOT NULL, deleted INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS users_by_name ON users(name_norm)",
    "CREATE INDEX IF NOT EXISTS users_by_role ON users(role)",
    "CREATE INDEX IF NOT EXISTS users_by_created ON users(created_at, id)",
    "CREATE INDEX IF NOT EXISTS users_by_updated ON users(updated_at, id)",
    "CREATE INDEX IF NOT EXISTS users_by_last_active ON users(last_active, id)",
    "CREATE INDEX IF NOT EXISTS users_name_overflow ON users(id) WHERE name_overflow = 1",
    "CREATE TABLE IF NOT EXISTS user_teams (team TEXT NOT NULL, id TEXT NOT NULL, PRIMARY KEY (team, id)) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS user_teams_by_id ON user_teams(id)",
    "CREATE TABLE IF NOT EXISTS name_words (word TEXT NOT NULL, id TEXT NOT NULL, PRIMARY KEY (word, id)) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS name_words_by_id ON name_words(id)",
    "CREATE TABLE IF NOT EXISTS names (norm TEXT PRIMARY KEY, ids TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS settings (k TEXT PRIMARY KEY, v TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS outbox (key TEXT PRIMARY KEY, value TEXT, seq INTEGER NOT NULL, \
     attempts INTEGER NOT NULL, due_ms INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS outbox_by_due ON outbox(due_ms)",
    "CREATE TABLE IF NOT EXISTS kv_sent (key TEXT PRIMARY KEY, at_ms INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS tasks (id TEXT PRIMARY KEY, kind TEXT NOT NULL, user_ids TEXT NOT NULL, \
     options TEXT NOT NULL, outcomes TEXT NOT NULL, done INTEGER NOT NULL, total INTEGER NOT NULL, \
     created_at TEXT NOT NULL, updated_at TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS tasks_unfinished ON tasks(created_at) WHERE done < total",
    "CREATE TABLE IF NOT EXISTS subscriptions (connection_id TEXT NOT NULL, user_id TEXT NOT NULL, \
     PRIMARY KEY (connection_id, user_id)) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS subscriptions_by_user ON subscriptions(user_id)",
    "CREATE TABLE IF NOT EXISTS webhooks (id INTEGER PRIMARY KEY AUTOINCREMENT, delivery_id TEXT NOT NULL, \
     user_id TEXT NOT NULL, url TEXT NOT NULL, body TEXT NOT NULL, attempts INTEGER NOT NULL, due_ms INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS webhooks_by_user ON webhooks(user_id, id)",
    "CREATE TABLE IF NOT EXISTS connections (connection_id TEXT PRIMARY KEY, user_id TEXT NOT NULL, hub TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS connections_by_user ON connections(user_id)",
    "CREATE INDEX IF NOT EXISTS connections_by_hub ON connections(hub)",
    "CREATE TABLE IF NOT EXISTS hubs (hub TEXT PRIMARY KEY, lease_until INTEGER NOT NULL, reported_ms INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS hub_events (seq INTEGER PRIMARY KEY AUTOINCREMENT, hub TEXT NOT NULL, \
     sends TEXT NOT NULL, attempts INTEGER NOT NULL, due_ms INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS hub_events_by_hub ON hub_events(hub, seq)",
    "CREATE TABLE IF NOT EXISTS user_changes (id TEXT PRIMARY KEY, seq INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS user_changes_by_seq ON user_changes(seq, id)",
];

/// Creates the tables and indexes that are missing.
pub fn create_schema(db: &Db) -> Result<(), ApiError> {
    for statement in SCHEMA {
        db.run(statement, &[])?;
    }
    // Users stored before the change feed existed enter it once, at the sequence number the
    // app had then (a version 0 means "no such user"), before every later change.
    if meta(db, "feed")?.is_none() {
        let seq = current_seq(db)?;
        db.run("INSERT OR IGNORE INTO user_changes (id, seq) SELECT id, ? FROM users", &[seq.into()])?;
        set_meta(db, "feed", "1")?;
    }
    // Subscriptions of connections no hub reported (the Writer held its own sockets before hubs,
    // and those closed with it) go.
    db.run("DELETE FROM subscriptions WHERE connection_id NOT IN (SELECT connection_id FROM connections)", &[])?;
    if meta(db, "names_key")?.as_deref() != Some(skeleton::VERSION) {
        rebuild_names(db)?;
        set_meta(db, "names_key", skeleton::VERSION)?;
    }
    Ok(())
}

pub fn meta(db: &Db, key: &str) -> Result<Option<String>, ApiError> {
    Ok(db.first("SELECT v FROM meta WHERE k = ?", &[key.into()])?.and_then(|r| r.text(0)))
}

pub fn set_meta(db: &Db, key: &str, value: &str) -> Result<(), ApiError> {
    db.run("INSERT OR REPLACE INTO meta (k, v) VALUES (?, ?)", &[key.into(), value.into()]).map(|_| ())
}

/// Sets a meta value, or removes it when `value` is `None` (test hooks).
#[cfg(feature = "test-hooks")]
pub fn put_meta(db: &Db, key: &str, value: Option<&str>) -> Result<(), ApiError> {
    match value {
        Some(v) => set_meta(db, key, v),
        None => db.run("DELETE FROM meta WHERE k = ?", &[key.into()]).map(|_| ()),
    }
}

fn unreadable(what: &str, why: &str) -> ApiError {
    ApiError::internal(format!("storage error: record '{what}' is unreadable: {why}"))
}

fn json_list(items: &[String]) -> String {
    json::text(&Value::from(items.to_vec()))
}

pub fn load_settings(db: &Db) -> Result<AppSettings, ApiError> {
    let row = db.first("SELECT v FROM settings WHERE k = 'app'", &[])?;
    Ok(row.and_then(|r| r.text(0)).map(|s| AppSettings::from_json(&s)).unwrap_or_default())
}

/// The rows of `sql` (selecting key and text, keys bound as one JSON list), parsed, as
/// `keys` lists them (`None`: no row). A list, not a map: a batch names at most a few hundred
/// keys, and each map type would link a B-tree of its own.
fn load_keyed<T>(
    db: &Db,
    sql: &str,
    keys: &[String],
    parse: impl Fn(&str, &str) -> Result<T, ApiError>,
) -> Result<Vec<(String, Option<T>)>, ApiError> {
    let mut found: Vec<(String, Option<T>)> = keys.iter().map(|k| (k.clone(), None)).collect();
    for row in db.rows(sql, &[json_list(keys).as_str().into()])? {
        let row = row?;
        if let (Some(key), Some(text)) = (row.text(0), row.text(1)) {
            let value = parse(&key, &text)?;
            if let Some((_, slot)) = found.iter_mut().find(|(k, _)| *k == key) {
                *slot = Some(value);
            }
        }
    }
    Ok(found)
}

/// The next value of the commit sequence (every KV record carries the one that wrote it).
fn next_seq(db: &Db) -> Result<i64, ApiError> {
    let seq = current_seq(db)? + 1;
    set_meta(db, "seq", &seq.to_string())?;
    Ok(seq)
}

/// Stores new app settings and queues them for KV (call inside a transaction).
pub fn save_settings(db: &Db, settings_json: &str, now_ms: i64) -> Result<(), ApiError> {
    let seq = next_seq(db)?;
    put_settings(db, settings_json)?;
    enqueue(db, &[(SETTINGS_KEY.to_string(), Some(settings_json))], seq, now_ms)
}

/// Stores the app settings as they are (the first start's import replicates them itself).
pub fn put_settings(db: &Db, settings_json: &str) -> Result<(), ApiError> {
    db.run("INSERT OR REPLACE INTO settings (k, v) VALUES ('app', ?)", &[settings_json.into()]).map(|_| ())
}

/// The tables the Writer's operator view and scheduling count or wait on.
#[derive(Clone, Copy)]
pub enum Queue {
    Outbox,
    Webhooks,
    HubEvents,
    #[cfg(feature = "test-hooks")]
    Subscriptions,
}

impl Queue {
    fn table(self) -> &'static str {
        match self {
            Queue::Outbox => "outbox",
            Queue::Webhooks => "webhooks",
            Queue::HubEvents => "hub_events",
            #[cfg(feature = "test-hooks")]
            Queue::Subscriptions => "subscriptions",
        }
    }
}

/// How many rows a queue holds.
pub fn queue_len(db: &Db, queue: Queue) -> Result<i64, ApiError> {
    let row = db.first(&format!("SELECT count(*) FROM {}", queue.table()), &[])?;
    Ok(row.and_then(|r| r.int(0)).unwrap_or(0))
}

/// When a queue's earliest entry is due (outbox and webhooks), if it holds any.
pub fn earliest_due(db: &Db, queue: Queue) -> Result<Option<i64>, ApiError> {
    Ok(db.first(&format!("SELECT min(due_ms) FROM {}", queue.table()), &[])?.and_then(|r| r.int(0)))
}

/// The app's commit sequence number: the last one a write took.
pub fn current_seq(db: &Db) -> Result<i64, ApiError> {
    Ok(meta(db, "seq")?.and_then(|s| s.parse::<i64>().ok()).unwrap_or(0))
}
