//! Users and the username index: reading them for the core's loader, and a command's commit
//! (its rows, side tables, index lists, outbox entries and change-feed sequence numbers in one
//! transaction); versions and the change feed read here too.

use super::*;
use crate::core::model::{pairs, set};

/// Rebuilds the username index from the users' columns: lists keyed by
/// [`crate::core::model::username::held_key`] (an index written before skeleton keys, or with
/// another table, lists names under other keys).
pub(super) fn rebuild_names(db: &Db) -> Result<(), ApiError> {
    let sql = "SELECT id, name_norm FROM users WHERE deactivated = 0 AND deleted = 0 AND name_norm != '' ORDER BY id";
    let mut held = Vec::new();
    for row in db.rows(sql, &[])? {
        let row = row?;
        if let (Some(id), Some(norm)) = (row.text(0), row.text(1)) {
            held.push((skeleton::key(&norm), id));
        }
    }
    db.run("DELETE FROM names", &[])?;
    put_names(db, &index_lists(held))
}

/// The username index lists of `held`, each user's name key and id: the ids holding each key,
/// in id order, the lists in key order. Sorted once (a map type would link a B-tree of its own).
pub fn index_lists(mut held: Vec<(String, String)>) -> Vec<(String, Vec<String>)> {
    set::sort_by(&mut held, |a, b| a.cmp(b));
    let mut lists: Vec<(String, Vec<String>)> = Vec::new();
    for (key, id) in held {
        match lists.last_mut() {
            Some((last, ids)) if *last == key => ids.push(id),
            _ => lists.push((key, vec![id])),
        }
    }
    lists
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

pub(super) fn parse_ids(norm: &str, text: &str) -> Result<Vec<String>, ApiError> {
    let bad = || unreadable(norm, "an index list must be a JSON array of strings");
    let Ok(Value::Array(items)) = json::parse(text) else { return Err(bad()) };
    items.into_iter().map(|v| if let Value::String(s) = v { Ok(s) } else { Err(bad()) }).collect()
}

/// Users by id, as stored (`None`: no row).
pub fn load_users(db: &Db, ids: &[String]) -> Result<Vec<(String, Option<User>)>, ApiError> {
    Ok(load_with_texts(db, ids)?.into_iter().map(|(id, u)| (id, u.map(|(u, _)| u))).collect())
}

/// Users as stored, each with its record text (what the record path reads). The one reader of
/// user rows: one instance of [`load_keyed`] for them all.
fn load_with_texts(db: &Db, ids: &[String]) -> Result<Vec<(String, Option<WithText>)>, ApiError> {
    let sql = "SELECT id, record FROM users WHERE id IN (SELECT value FROM json_each(?))";
    load_keyed(db, sql, ids, |id, text| Ok((parse_user(id, text)?, text.to_string())))
}

/// One user, as stored.
pub fn load_user(db: &Db, id: &str) -> Result<Option<User>, ApiError> {
    Ok(load_users(db, &[id.to_string()])?.pop().and_then(|(_, u)| u))
}

pub(super) fn load_names(db: &Db, norms: &[String]) -> Result<Vec<(String, Vec<String>)>, ApiError> {
    let sql = "SELECT norm, ids FROM names WHERE norm IN (SELECT value FROM json_each(?))";
    let found = load_keyed(db, sql, norms, parse_ids)?;
    Ok(found.into_iter().map(|(norm, ids)| (norm, ids.unwrap_or_default())).collect())
}

/// The core's loads, from SQL.
pub struct SqlLoader<'a> {
    pub db: &'a Db,
    /// The index columns of every user loaded (the state before the write), by id.
    pub before: Vec<(String, Option<IndexRow>)>,
}

/// A stored user read with its record text.
pub type WithText = (User, String);

impl SqlLoader<'_> {
    /// These users as stored, each with its record text (what the record path reads), their
    /// index columns kept as [`Loader::users`] keeps them.
    pub fn users_and_texts(&mut self, ids: &[String]) -> Result<Vec<(String, Option<WithText>)>, ApiError> {
        let users = load_with_texts(self.db, ids)?;
        for (id, u) in &users {
            pairs::put(&mut self.before, id.clone(), u.as_ref().map(|(u, _)| row::index_row(u)));
        }
        Ok(users)
    }
}

impl Loader for SqlLoader<'_> {
    fn users(&mut self, ids: &[String]) -> Result<Vec<(String, Option<User>)>, ApiError> {
        Ok(self.users_and_texts(ids)?.into_iter().map(|(id, u)| (id, u.map(|(u, _)| u))).collect())
    }
    fn names(&mut self, keys: &[String]) -> Result<Vec<(String, Vec<String>)>, ApiError> {
        load_names(self.db, keys)
    }
}

pub fn put_names(db: &Db, lists: &[(String, Vec<String>)]) -> Result<(), ApiError> {
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

/// What a commit writes: each user's row (`texts`: records written as text by the record path,
/// by id; any other user's is its tree's text) and the index lists.
pub fn prepare(commit: &Commit, before: &[(String, Option<IndexRow>)], texts: &[(&str, &str)]) -> Prepared {
    let users = commit
        .users
        .iter()
        .map(|u| {
            let id = u.get("id").and_then(Value::as_str).unwrap_or_default().to_string();
            let old = pairs::get(before, &id).cloned().flatten();
            let text = pairs::get(texts, &id.as_str()).map_or_else(|| json::object_text(u), |t| t.to_string());
            (id, text, row::index_row(u), old)
        })
        .collect();
    let names = commit.claims.iter().chain(&commit.releases).cloned().collect();
    Prepared { users, names }
}

/// Commits what the core decided, in one transaction: [`prepare`] (`before`: the index rows of
/// the users as loaded; `texts`: the records the record path wrote) then [`apply`] at the
/// command's time.
pub fn commit(
    db: &Db,
    commit: &Commit,
    before: &[(String, Option<IndexRow>)],
    texts: &[(&str, &str)],
    at: crate::core::wire::time::Timestamp,
) -> Result<(), ApiError> {
    let prepared = prepare(commit, before, texts);
    let now_ms = at.0 / 1000;
    db.transaction(move |db| apply(db, &prepared, now_ms))
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
pub(super) fn opt_text(v: Option<&str>) -> Value {
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
pub(super) fn replace_side_rows(
    db: &Db,
    table: &str,
    column: &str,
    users: &[(&str, &[String])],
) -> Result<(), ApiError> {
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
pub fn changes(
    db: &Db,
    since: &crate::core::query::feed::Position,
    limit: usize,
) -> Result<Vec<(i64, User)>, ApiError> {
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
