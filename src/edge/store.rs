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
//!   `webhooks(id, delivery_id, user_id, url, body, attempts, due_ms)`: event deliveries pending.
//! - `tasks(id, kind, user_ids, options, outcomes, done, total, created_at, updated_at)`: batch
//!   operations; each user's step commits with its outcome, so a task resumes where it stopped.
//! - `user_changes(id, seq)`: the change feed (`core::feed`): each user's latest commit
//!   sequence number — its version (`core::precondition`) — moved only when its record changes.

use super::sql::{Arg, Db};
use crate::core::cursor::{Page, Seek, Walk};
use crate::core::drive::{Loaded, Loader};
use crate::core::error::ApiError;
use crate::core::index::{self, Candidates, CustomValue, IndexRow, Plan};
use crate::core::json;
use crate::core::ops::{Commit, Need};
use crate::core::query::{self, InOrder, UserQuery};
use crate::core::settings::AppSettings;
use crate::core::skeleton;
use crate::core::user::User;
use crate::core::username;
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
    if meta(db, "names_key")?.as_deref() != Some(skeleton::VERSION) {
        rebuild_names(db)?;
        set_meta(db, "names_key", skeleton::VERSION)?;
    }
    Ok(())
}

/// Rebuilds the username index from the users' columns: lists keyed by [`username::held_key`]
/// (an index written before skeleton keys, or with another table, lists names under other keys).
fn rebuild_names(db: &Db) -> Result<(), ApiError> {
    let sql = "SELECT id, name_norm FROM users WHERE deactivated = 0 AND deleted = 0 AND name_norm != '' ORDER BY id";
    let mut lists: std::collections::BTreeMap<String, Vec<String>> = std::collections::BTreeMap::new();
    for row in db.rows(sql, &[])? {
        let row = row?;
        if let (Some(id), Some(norm)) = (row.text(0), row.text(1)) {
            lists.entry(skeleton::key(&norm)).or_default().push(id);
        }
    }
    db.run("DELETE FROM names", &[])?;
    put_names(db, &lists.into_iter().collect::<Vec<_>>())
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

/// A stored user record. An unreadable one is a storage fault (500), never "missing":
/// treating it as absent would let the next write silently replace it.
pub fn parse_user(id: &str, text: &str) -> Result<User, ApiError> {
    match json::parse(text) {
        Ok(Value::Object(u)) => Ok(u),
        Ok(_) => Err(unreadable(id, "a user record must be a JSON object")),
        Err(e) => Err(unreadable(id, &e.to_string())),
    }
}

fn parse_ids(norm: &str, text: &str) -> Result<Vec<String>, ApiError> {
    let bad = || unreadable(norm, "an index list must be a JSON array of strings");
    let Ok(Value::Array(items)) = json::parse(text) else { return Err(bad()) };
    items.into_iter().map(|v| if let Value::String(s) = v { Ok(s) } else { Err(bad()) }).collect()
}

fn json_list(items: &[String]) -> String {
    json::text(&Value::from(items.to_vec()))
}

pub fn load_settings(db: &Db) -> Result<AppSettings, ApiError> {
    let row = db.first("SELECT v FROM settings WHERE k = 'app'", &[])?;
    Ok(row.and_then(|r| r.text(0)).map(|s| AppSettings::from_json(&s)).unwrap_or_default())
}

/// The rows of `sql` (selecting key and text, keys bound as one JSON list), parsed, by key.
fn load_keyed<T>(
    db: &Db,
    sql: &str,
    keys: &[String],
    parse: impl Fn(&str, &str) -> Result<T, ApiError>,
) -> Result<std::collections::BTreeMap<String, T>, ApiError> {
    let mut found = std::collections::BTreeMap::new();
    for row in db.rows(sql, &[json_list(keys).as_str().into()])? {
        let row = row?;
        if let (Some(key), Some(text)) = (row.text(0), row.text(1)) {
            let value = parse(&key, &text)?;
            found.insert(key, value);
        }
    }
    Ok(found)
}

/// Users by id, as stored (`None`: no row).
pub fn load_users(db: &Db, ids: &[String]) -> Result<Vec<(String, Option<User>)>, ApiError> {
    let sql = "SELECT id, record FROM users WHERE id IN (SELECT value FROM json_each(?))";
    let mut found = load_keyed(db, sql, ids, parse_user)?;
    Ok(ids.iter().map(|id| (id.clone(), found.remove(id))).collect())
}

/// One user, as stored.
pub fn load_user(db: &Db, id: &str) -> Result<Option<User>, ApiError> {
    Ok(load_users(db, &[id.to_string()])?.pop().and_then(|(_, u)| u))
}

fn load_names(db: &Db, norms: &[String]) -> Result<Vec<(String, Vec<String>)>, ApiError> {
    let sql = "SELECT norm, ids FROM names WHERE norm IN (SELECT value FROM json_each(?))";
    let mut found = load_keyed(db, sql, norms, parse_ids)?;
    Ok(norms.iter().map(|n| (n.clone(), found.remove(n).unwrap_or_default())).collect())
}

/// The core's loads, from SQL. A loaded user's own index list comes with it (as in memory):
/// one round less for renames.
pub struct SqlLoader<'a> {
    pub db: &'a Db,
    /// The index columns of every user loaded (the state before the write), by id.
    pub before: std::collections::BTreeMap<String, Option<IndexRow>>,
}

impl Loader for SqlLoader<'_> {
    fn load(&mut self, need: &Need) -> Result<Loaded, ApiError> {
        let users = load_users(self.db, &need.users)?;
        for (id, u) in &users {
            self.before.insert(id.clone(), u.as_ref().map(index::index_row));
        }
        let mut norms = need.names.clone();
        norms.extend(users.iter().filter_map(|(_, u)| u.as_ref().and_then(username::held_key)));
        norms.sort();
        norms.dedup();
        let names = if norms.is_empty() { Vec::new() } else { load_names(self.db, &norms)? };
        Ok(Loaded { users, names })
    }
}

/// The next value of the commit sequence (every KV record carries the one that wrote it).
fn next_seq(db: &Db) -> Result<i64, ApiError> {
    let seq = current_seq(db)? + 1;
    set_meta(db, "seq", &seq.to_string())?;
    Ok(seq)
}

fn put_names(db: &Db, lists: &[(String, Vec<String>)]) -> Result<(), ApiError> {
    for (norm, ids) in lists {
        if ids.is_empty() {
            db.run("DELETE FROM names WHERE norm = ?", &[norm.as_str().into()])?;
        } else {
            db.run(
                "INSERT OR REPLACE INTO names (norm, ids) VALUES (?, ?)",
                &[norm.as_str().into(), json_list(ids).as_str().into()],
            )?;
        }
    }
    Ok(())
}

/// What a write commits, prepared before the transaction opens: each user's id, record text
/// and index columns (old and new).
pub struct Prepared {
    users: Vec<(String, String, IndexRow, Option<IndexRow>)>,
    names: Vec<(String, Vec<String>)>,
}

pub fn prepare(commit: &Commit, before: &std::collections::BTreeMap<String, Option<IndexRow>>) -> Prepared {
    let users = commit
        .users
        .iter()
        .map(|u| {
            let id = u.get("id").and_then(Value::as_str).unwrap_or_default().to_string();
            let old = before.get(&id).cloned().flatten();
            (id, json::object_text(u), index::index_row(u), old)
        })
        .collect();
    let names = commit.claims.iter().chain(&commit.releases).cloned().collect();
    Prepared { users, names }
}

/// Applies a prepared write and queues its KV records (call inside a transaction). A fixed
/// number of statements whatever the batch size: rows travel as one JSON array each.
pub fn apply(db: &Db, p: &Prepared, now_ms: i64) -> Result<(), ApiError> {
    if p.users.is_empty() && p.names.is_empty() {
        return Ok(());
    }
    let seq = next_seq(db)?;
    put_names(db, &p.names)?;
    put_users(db, &p.users, seq)?;
    let entries: Vec<(String, Option<&str>)> =
        p.users.iter().map(|(id, record, _, _)| (user_key(id), Some(record.as_str()))).collect();
    enqueue(db, &entries, seq, now_ms)
}

/// A JSON text value, or null.
fn opt_text(v: Option<&str>) -> Value {
    v.map_or(Value::Null, Value::from)
}

/// Writes users' rows, their place in the change feed (commit `seq`) and, where they changed,
/// their side-table rows: a handful of statements for the whole batch (`(id, record, columns,
/// columns before)`).
pub fn put_users(db: &Db, users: &[(String, String, IndexRow, Option<IndexRow>)], seq: i64) -> Result<(), ApiError> {
    if users.is_empty() {
        return Ok(());
    }
    let rows: Vec<Value> = users
        .iter()
        .map(|(id, record, row, _)| {
            Value::Array(vec![
                Value::from(id.as_str()),
                Value::from(record.as_str()),
                opt_text(row.name_norm.as_deref()),
                Value::from(i64::from(row.name_overflow)),
                opt_text(row.role.as_deref()),
                opt_text(row.created_at.as_deref()),
                opt_text(row.updated_at.as_deref()),
                opt_text(row.last_active.as_deref()),
                Value::from(i64::from(row.deactivated)),
                Value::from(i64::from(row.deleted)),
            ])
        })
        .collect();
    let rows = json::text(&Value::Array(rows));
    // A user's version moves only when its record does (before the rows are replaced).
    db.run(
        "INSERT INTO user_changes (id, seq) SELECT j.value->>0, ? FROM json_each(?) AS j \
         WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = j.value->>0 AND u.record = j.value->>1) \
         ON CONFLICT(id) DO UPDATE SET seq = excluded.seq",
        &[seq.into(), rows.as_str().into()],
    )?;
    db.run(
        "INSERT INTO users (id, record, name_norm, name_overflow, role, created_at, updated_at, last_active, \
         deactivated, deleted) SELECT value->>0, value->>1, value->>2, value->>3, value->>4, value->>5, value->>6, \
         value->>7, value->>8, value->>9 FROM json_each(?) WHERE true ON CONFLICT(id) DO UPDATE SET \
         record = excluded.record, name_norm = excluded.name_norm, name_overflow = excluded.name_overflow, \
         role = excluded.role, created_at = excluded.created_at, updated_at = excluded.updated_at, \
         last_active = excluded.last_active, deactivated = excluded.deactivated, deleted = excluded.deleted",
        &[rows.as_str().into()],
    )?;
    let teams: Vec<(&str, &[String])> = users
        .iter()
        .filter(|(_, _, row, before)| before.as_ref().is_none_or(|b| b.teams != row.teams))
        .map(|(id, _, row, _)| (id.as_str(), row.teams.as_slice()))
        .collect();
    replace_side_rows(db, "user_teams", "team", &teams)?;
    let words: Vec<(&str, &[String])> = users
        .iter()
        .filter(|(_, _, row, before)| before.as_ref().is_none_or(|b| b.name_words != row.name_words))
        .map(|(id, _, row, _)| (id.as_str(), row.name_words.as_slice()))
        .collect();
    replace_side_rows(db, "name_words", "word", &words)
}

/// Replaces the rows of a side table (`user_teams`, `name_words`) of these users.
fn replace_side_rows(db: &Db, table: &str, column: &str, users: &[(&str, &[String])]) -> Result<(), ApiError> {
    if users.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = users.iter().map(|(id, _)| (*id).to_string()).collect();
    db.run(
        &format!("DELETE FROM {table} WHERE id IN (SELECT value FROM json_each(?))"),
        &[json_list(&ids).as_str().into()],
    )?;
    let pairs: Vec<Value> = users
        .iter()
        .filter(|(_, values)| !values.is_empty())
        .map(|(id, values)| Value::Array(vec![Value::from(*id), Value::from(values.to_vec())]))
        .collect();
    if pairs.is_empty() {
        return Ok(());
    }
    db.run(
        &format!(
            "INSERT OR IGNORE INTO {table} ({column}, id) SELECT v.value, u.value->>0 \
             FROM json_each(?) AS u, json_each(u.value->1) AS v"
        ),
        &[json::text(&Value::Array(pairs)).as_str().into()],
    )
    .map(|_| ())
}

/// Queues KV writes (`(key, value)`, `None`: delete): the latest value per key wins, and a key
/// is due no sooner than a second after its last KV write.
pub fn enqueue(db: &Db, entries: &[(String, Option<&str>)], seq: i64, now_ms: i64) -> Result<(), ApiError> {
    if entries.is_empty() {
        return Ok(());
    }
    let items: Vec<Value> =
        entries.iter().map(|(k, v)| Value::Array(vec![Value::from(k.as_str()), opt_text(*v)])).collect();
    db.run(
        "INSERT INTO outbox (key, value, seq, attempts, due_ms) \
         SELECT j.value->>0, j.value->>1, ?2, 0, \
         max(?3, coalesce((SELECT at_ms + 1000 FROM kv_sent WHERE kv_sent.key = j.value->>0), 0)) \
         FROM json_each(?1) AS j WHERE true \
         ON CONFLICT(key) DO UPDATE SET value = excluded.value, seq = excluded.seq",
        &[json::text(&Value::Array(items)).as_str().into(), seq.into(), now_ms.into()],
    )
    .map(|_| ())
}

/// Stores new app settings and queues them for KV (call inside a transaction).
pub fn save_settings(db: &Db, settings_json: &str, now_ms: i64) -> Result<(), ApiError> {
    let seq = next_seq(db)?;
    db.run("INSERT OR REPLACE INTO settings (k, v) VALUES ('app', ?)", &[settings_json.into()])?;
    enqueue(db, &[(SETTINGS_KEY.to_string(), Some(settings_json))], seq, now_ms)
}

/// A value bound to the plan's SQL.
enum Bind {
    Text(String),
    Int(i64),
}

/// The SQL that reads a plan's candidates, with its bindings; past `seek` (a cursor's
/// boundary, `core::cursor`) and in reverse order for a backward one.
fn plan_sql(plan: &Plan, seek: Option<&Seek>) -> (String, Vec<Bind>) {
    let mut sql = String::from("SELECT id, record FROM users u WHERE u.deleted = 0");
    if !plan.include_deactivated {
        sql.push_str(" AND u.deactivated = 0");
    }
    let mut args = Vec::new();
    match &plan.candidates {
        Candidates::All => {}
        Candidates::Ids(ids) => {
            sql.push_str(" AND u.id IN (SELECT value FROM json_each(?))");
            args.push(Bind::Text(json_list(ids)));
        }
        Candidates::Teams(teams) => {
            sql.push_str(" AND u.id IN (SELECT id FROM user_teams WHERE team IN (SELECT value FROM json_each(?)))");
            args.push(Bind::Text(json_list(teams)));
        }
        Candidates::Roles(roles) => {
            sql.push_str(" AND u.role IN (SELECT value FROM json_each(?))");
            args.push(Bind::Text(json_list(roles)));
        }
        Candidates::NameNorm(norm) => {
            sql.push_str(" AND u.name_norm = ?");
            args.push(Bind::Text(norm.clone()));
        }
        Candidates::NamePrefix(word) => {
            sql.push_str(
                " AND u.id IN (SELECT id FROM name_words WHERE word >= ? AND word < ? \
                 UNION SELECT id FROM users WHERE name_overflow = 1)",
            );
            args.push(Bind::Text(word.clone()));
            args.push(Bind::Text(index::prefix_end(word)));
        }
        Candidates::CustomEq { field, value } => {
            // An array is a candidate too: `$eq` matches an array that contains the value.
            sql.push_str(" AND (json_extract(u.record, ?) = ? OR json_type(u.record, ?) = 'array')");
            let path = format!("$.\"{field}\"");
            args.push(Bind::Text(path.clone()));
            args.push(match value {
                CustomValue::Text(t) => Bind::Text(t.clone()),
                CustomValue::Int(i) => Bind::Int(*i),
            });
            args.push(Bind::Text(path));
        }
        Candidates::Range { column, lower, upper } => {
            for (bound, strict, loose) in [(lower, ">", ">="), (upper, "<", "<=")] {
                if let Some(b) = bound {
                    let op = if b.inclusive { loose } else { strict };
                    sql.push_str(&format!(" AND u.{} {op} ?", column.name()));
                    args.push(Bind::Text(b.value.clone()));
                }
            }
        }
    }
    if let (Some(order), Some(seek)) = (&plan.order, seek) {
        keyset_sql(order, seek, &mut sql, &mut args);
    }
    let backward = seek.is_some_and(|s| s.backward);
    match &plan.order {
        None => sql.push_str(" ORDER BY u.id"),
        Some(order) => {
            let terms: Vec<String> = order
                .iter()
                .map(|(c, desc)| {
                    let dir = if *desc != backward { "DESC" } else { "ASC" };
                    // Absent values sort last whatever the direction, as in the core (first
                    // when reading backward).
                    let last = if backward { " DESC" } else { "" };
                    let nulls = if c.nullable() { format!("(u.{} IS NULL){last}, ", c.name()) } else { String::new() };
                    format!("{nulls}u.{} {dir}", c.name())
                })
                .collect();
            sql.push_str(&format!(" ORDER BY {}", terms.join(", ")));
        }
    }
    (sql, args)
}

/// The keyset condition of a walk (`core::cursor`): users strictly past the boundary `seek`
/// in `order`, with absent values (nullable columns) last as `ORDER BY` puts them; strictly
/// before it for a backward seek. `c0 past v0 OR (c0 = v0 AND (c1 past v1 OR (…)))`, led by
/// `c0 >= v0` (or `<=`) so that an index on the first column serves the range.
fn keyset_sql(order: &[(index::Column, bool)], seek: &Seek, sql: &mut String, args: &mut Vec<Bind>) {
    let n = order.len().min(seek.key.len());
    if n == 0 {
        return;
    }
    let (mut terms, mut values) = (String::new(), Vec::new());
    for (i, ((column, desc), value)) in order.iter().zip(&seek.key).enumerate() {
        let on = |s: &mut String, op: &str| {
            s.push_str("u.");
            s.push_str(column.name());
            s.push_str(op);
        };
        let ahead = *desc != seek.backward;
        terms.push_str("((");
        match value {
            Some(v) => {
                if i == 0 && !column.nullable() {
                    sql.push_str(" AND ");
                    on(sql, if ahead { " <= ?" } else { " >= ?" });
                    args.push(Bind::Text(v.clone()));
                }
                on(&mut terms, if ahead { " < ?" } else { " > ?" });
                values.push(v.clone());
                // Absent values lie past every present one going forward, before them backward.
                if column.nullable() && !seek.backward {
                    terms.push_str(" OR ");
                    on(&mut terms, " IS NULL");
                }
            }
            None if seek.backward => on(&mut terms, " IS NOT NULL"),
            None => terms.push('0'),
        }
        terms.push(')');
        if i + 1 < n {
            terms.push_str(" OR (");
            match value {
                Some(v) => {
                    on(&mut terms, " = ?");
                    values.push(v.clone());
                }
                None => on(&mut terms, " IS NULL"),
            }
            terms.push_str(" AND ");
        }
    }
    // Each column opened `(` and, but the last, ` OR (`.
    terms.push_str(&")".repeat(2 * n - 1));
    sql.push_str(" AND ");
    sql.push_str(&terms);
    args.extend(values.into_iter().map(Bind::Text));
}

fn binds(args: &[Bind]) -> Vec<Arg<'_>> {
    args.iter()
        .map(|a| match a {
            Bind::Text(t) => Arg::Text(t),
            Bind::Int(i) => Arg::Int(*i),
        })
        .collect()
}

/// A page of `q` from SQL: the plan's candidates, then the filter in the core. A walk
/// (`core::cursor`: an indexed sort) reads in the plan's order past its cursor, each read
/// stopping once it has what it needs; otherwise every candidate is read and the core sorts
/// and pages them.
pub fn query_page(db: &Db, q: &UserQuery, walk: Option<&Walk>) -> Result<Page, ApiError> {
    let plan = index::plan(q);
    match walk {
        Some(walk) => walk.page(|seek, skip, take| {
            let mut page = InOrder::window(q, skip, take);
            if take > 0 {
                candidates(db, &plan, seek, |u| page.offer(u))?;
            }
            Ok(page.page())
        }),
        None => {
            let mut users = Vec::new();
            candidates(db, &plan, None, |u| {
                users.push(u);
                true
            })?;
            Ok(Page { users: query::run(q, &users).into_iter().cloned().collect(), ..Page::default() })
        }
    }
}

/// Reads a plan's candidates (past `seek`) in storage order, handing each to `each` until it
/// answers `false`.
fn candidates(db: &Db, plan: &Plan, seek: Option<&Seek>, mut each: impl FnMut(User) -> bool) -> Result<(), ApiError> {
    let (sql, args) = plan_sql(plan, seek);
    for row in db.rows(&sql, &binds(&args))? {
        let row = row?;
        let (Some(id), Some(text)) = (row.text(0), row.text(1)) else { continue };
        if !each(parse_user(&id, &text)?) {
            break;
        }
    }
    Ok(())
}

/// The app's commit sequence number: the last one a write took.
pub fn current_seq(db: &Db) -> Result<i64, ApiError> {
    Ok(meta(db, "seq")?.and_then(|s| s.parse::<i64>().ok()).unwrap_or(0))
}

/// The versions of these users (the sequence number of each one's latest change; a user with
/// no row is absent).
pub fn versions(db: &Db, ids: &[String]) -> Result<Vec<(String, i64)>, ApiError> {
    let mut out = Vec::new();
    if ids.is_empty() {
        return Ok(out);
    }
    let sql = "SELECT id, seq FROM user_changes WHERE id IN (SELECT value FROM json_each(?))";
    for row in db.rows(sql, &[json_list(ids).as_str().into()])? {
        let row = row?;
        if let (Some(id), Some(seq)) = (row.text(0), row.int(1)) {
            out.push((id, seq));
        }
    }
    Ok(out)
}

/// A page of the change feed: users whose latest change comes after `since`, in change order
/// (`(seq, id)`).
pub fn changes(db: &Db, since: &crate::core::feed::Position, limit: usize) -> Result<Vec<(i64, User)>, ApiError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let sql = "SELECT c.seq, c.id, u.record FROM user_changes c JOIN users u ON u.id = c.id \
               WHERE (c.seq, c.id) > (?, ?) ORDER BY c.seq, c.id LIMIT ?";
    let mut out = Vec::new();
    for row in db.rows(sql, &[since.seq.into(), since.id.as_str().into(), limit.into()])? {
        let row = row?;
        let (Some(seq), Some(id), Some(text)) = (row.int(0), row.text(1), row.text(2)) else { continue };
        out.push((seq, parse_user(&id, &text)?));
    }
    Ok(out)
}

/// Every stored user record, by id (test hook and import checks).
#[cfg(feature = "test-hooks")]
pub fn all_users(db: &Db) -> Result<Vec<(String, String)>, ApiError> {
    let mut out = Vec::new();
    for row in db.rows("SELECT id, record FROM users ORDER BY id", &[])? {
        let row = row?;
        if let (Some(id), Some(text)) = (row.text(0), row.text(1)) {
            out.push((id, text));
        }
    }
    Ok(out)
}

/// A stored task.
#[derive(Clone)]
pub struct TaskRow {
    pub id: String,
    pub kind: crate::core::tasks::TaskKind,
    pub user_ids: Vec<String>,
    pub options: Value,
    pub outcomes: Vec<(String, Result<Value, String>)>,
    pub created_at: String,
    pub updated_at: String,
}

impl TaskRow {
    pub fn state(&self) -> crate::core::tasks::TaskState<'_> {
        crate::core::tasks::TaskState {
            id: &self.id,
            kind: self.kind,
            total: self.user_ids.len(),
            outcomes: &self.outcomes,
            created_at: &self.created_at,
            updated_at: &self.updated_at,
        }
    }
}

fn outcomes_text(outcomes: &[(String, Result<Value, String>)]) -> String {
    let items = outcomes
        .iter()
        .map(|(id, o)| {
            let (k, v) = match o {
                Ok(v) => ("ok", v.clone()),
                Err(e) => ("error", Value::from(e.as_str())),
            };
            Value::Array(vec![Value::from(id.as_str()), crate::core::json::object([(k, v)])])
        })
        .collect();
    json::text(&Value::Array(items))
}

fn outcomes_of(text: &str) -> Vec<(String, Result<Value, String>)> {
    let Ok(Value::Array(items)) = json::parse(text) else { return Vec::new() };
    items
        .into_iter()
        .filter_map(|item| {
            let Value::Array(pair) = item else { return None };
            let id = pair.first()?.as_str()?.to_string();
            let o = pair.get(1)?;
            Some(match (o.get("ok"), o.get("error")) {
                (Some(v), _) => (id, Ok(v.clone())),
                (_, e) => (id, Err(e.and_then(Value::as_str).unwrap_or("failed").to_string())),
            })
        })
        .collect()
}

pub fn insert_task(db: &Db, id: &str, req: &crate::core::tasks::TaskRequest, now: &str) -> Result<(), ApiError> {
    db.run(
        "INSERT INTO tasks (id, kind, user_ids, options, outcomes, done, total, created_at, updated_at) \
         VALUES (?, ?, ?, ?, '[]', 0, ?, ?, ?)",
        &[
            id.into(),
            req.kind.name().into(),
            json_list(&req.user_ids).as_str().into(),
            json::text(&req.options).as_str().into(),
            i64::try_from(req.user_ids.len()).unwrap_or(0).into(),
            now.into(),
            now.into(),
        ],
    )
    .map(|_| ())
}

fn task_of(row: &super::sql::Row) -> Option<TaskRow> {
    let ids = match json::parse(&row.text(2)?) {
        Ok(Value::Array(a)) => a.into_iter().filter_map(|v| v.as_str().map(str::to_string)).collect(),
        _ => Vec::new(),
    };
    Some(TaskRow {
        id: row.text(0)?,
        kind: crate::core::tasks::TaskKind::parse(&row.text(1)?)?,
        user_ids: ids,
        options: json::parse(&row.text(3)?).unwrap_or(Value::Null),
        outcomes: outcomes_of(&row.text(4)?),
        created_at: row.text(5)?,
        updated_at: row.text(6)?,
    })
}

const TASK_COLUMNS: &str = "id, kind, user_ids, options, outcomes, created_at, updated_at";

pub fn load_task(db: &Db, id: &str) -> Result<Option<TaskRow>, ApiError> {
    let row = db.first(&format!("SELECT {TASK_COLUMNS} FROM tasks WHERE id = ?"), &[id.into()])?;
    Ok(row.as_ref().and_then(task_of))
}

/// The oldest task not finished yet.
pub fn next_task(db: &Db) -> Result<Option<TaskRow>, ApiError> {
    let row =
        db.first(&format!("SELECT {TASK_COLUMNS} FROM tasks WHERE done < total ORDER BY created_at, id LIMIT 1"), &[])?;
    Ok(row.as_ref().and_then(task_of))
}

/// Records a task's progress (call in the transaction that commits the user's step).
pub fn save_task_progress(db: &Db, t: &TaskRow) -> Result<(), ApiError> {
    db.run(
        "UPDATE tasks SET outcomes = ?, done = ?, updated_at = ? WHERE id = ?",
        &[
            outcomes_text(&t.outcomes).as_str().into(),
            i64::try_from(t.outcomes.len()).unwrap_or(0).into(),
            t.updated_at.as_str().into(),
            t.id.as_str().into(),
        ],
    )
    .map(|_| ())
}
