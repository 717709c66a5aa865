//! Where the app's connections are: each open connection with its user and hub, each hub's
//! lease, and the frames queued for each hub (delivered in commit order, `seq` increasing).

use super::*;
use crate::core::model::pairs;

/// A new connection on a hub.
pub fn add_connection(db: &Db, connection: &str, user_id: &str, hub: &str) -> Result<(), ApiError> {
    db.run(
        "INSERT OR REPLACE INTO connections (connection_id, user_id, hub) VALUES (?, ?, ?)",
        &[connection.into(), user_id.into(), hub.into()],
    )
    .map(|_| ())
}

/// A connection closed: it and its subscriptions go. Returns its user, if it was open.
pub fn remove_connection(db: &Db, connection: &str) -> Result<Option<String>, ApiError> {
    let user = connection_owner(db, connection)?;
    db.run("DELETE FROM connections WHERE connection_id = ?", &[connection.into()])?;
    unsubscribe_all(db, connection)?;
    Ok(user)
}

/// The user a connection belongs to.
pub fn connection_owner(db: &Db, connection: &str) -> Result<Option<String>, ApiError> {
    Ok(db
        .first("SELECT user_id FROM connections WHERE connection_id = ?", &[connection.into()])?
        .and_then(|r| r.text(0)))
}

/// Whether the user has an open connection on any hub.
pub fn is_connected(db: &Db, user_id: &str) -> Result<bool, ApiError> {
    Ok(db.first("SELECT 1 FROM connections WHERE user_id = ? LIMIT 1", &[user_id.into()])?.is_some())
}

/// Whether any connection is open.
pub fn any_connection(db: &Db) -> Result<bool, ApiError> {
    Ok(db.first("SELECT 1 FROM connections LIMIT 1", &[])?.is_some())
}

/// The connections a hub holds, as the Writer knows them.
pub fn hub_connections(db: &Db, hub: &str) -> Result<Vec<String>, ApiError> {
    texts(db, "SELECT connection_id FROM connections WHERE hub = ?", &[hub.into()])
}

/// The hubs holding each of these users' connections, by user id.
pub fn user_hubs(db: &Db, ids: &[&str]) -> Result<Vec<(String, Vec<String>)>, ApiError> {
    let list = json::text(&Value::from(ids.iter().map(|i| Value::from(*i)).collect::<Vec<_>>()));
    let sql = "SELECT DISTINCT user_id, hub FROM connections WHERE user_id IN (SELECT value FROM json_each(?))";
    let mut out = Vec::new();
    for row in db.rows(sql, &[list.as_str().into()])? {
        let row = row?;
        if let (Some(user), Some(hub)) = (row.text(0), row.text(1)) {
            pairs::push(&mut out, user, hub);
        }
    }
    Ok(out)
}

/// A hub reported: its lease runs to `until`.
pub fn renew_hub(db: &Db, hub: &str, until: i64, now_ms: i64) -> Result<(), ApiError> {
    db.run(
        "INSERT OR REPLACE INTO hubs (hub, lease_until, reported_ms) VALUES (?, ?, ?)",
        &[hub.into(), until.into(), now_ms.into()],
    )
    .map(|_| ())
}

/// The hubs whose lease ran out before `now_ms`.
pub fn lapsed_hubs(db: &Db, now_ms: i64) -> Result<Vec<String>, ApiError> {
    texts(db, "SELECT hub FROM hubs WHERE lease_until < ?", &[now_ms.into()])
}

/// When the earliest lease of a hub holding connections runs out.
pub fn next_lapse(db: &Db) -> Result<Option<i64>, ApiError> {
    let sql = "SELECT min(lease_until) FROM hubs WHERE hub IN (SELECT hub FROM connections)";
    Ok(db.first(sql, &[])?.and_then(|r| r.int(0)))
}

/// A lapsed hub is forgotten (its connections are taken away by the caller first).
pub fn forget_hub(db: &Db, hub: &str) -> Result<(), ApiError> {
    db.run("DELETE FROM hubs WHERE hub = ?", &[hub.into()]).map(|_| ())
}

/// Each hub's connection count and when it last reported.
pub fn hub_counts(db: &Db) -> Result<Vec<(String, i64, i64)>, ApiError> {
    let sql = "SELECT h.hub, (SELECT count(*) FROM connections c WHERE c.hub = h.hub), h.reported_ms \
               FROM hubs h ORDER BY h.hub";
    let mut out = Vec::new();
    for row in db.rows(sql, &[])? {
        let row = row?;
        if let (Some(hub), Some(n), Some(at)) = (row.text(0), row.int(1), row.int(2)) {
            out.push((hub, n, at));
        }
    }
    Ok(out)
}

/// Queues frames for a hub (`sends`: their JSON list), due now.
pub fn queue_hub_event(db: &Db, hub: &str, sends: &str, now_ms: i64) -> Result<(), ApiError> {
    db.run(
        "INSERT INTO hub_events (hub, sends, attempts, due_ms) VALUES (?, ?, 0, ?)",
        &[hub.into(), sends.into(), now_ms.into()],
    )
    .map(|_| ())
}

/// The hubs with events due by `now_ms`.
pub fn hubs_due(db: &Db, now_ms: i64) -> Result<Vec<String>, ApiError> {
    texts(db, "SELECT DISTINCT hub FROM hub_events WHERE due_ms <= ?", &[now_ms.into()])
}

/// A hub's oldest queued events, in commit order: `(seq, sends)`, at most `limit`.
pub fn hub_events(db: &Db, hub: &str, limit: i64) -> Result<Vec<(i64, String)>, ApiError> {
    let sql = "SELECT seq, sends FROM hub_events WHERE hub = ? ORDER BY seq LIMIT ?";
    let mut out = Vec::new();
    for row in db.rows(sql, &[hub.into(), limit.into()])? {
        let row = row?;
        if let (Some(seq), Some(sends)) = (row.int(0), row.text(1)) {
            out.push((seq, sends));
        }
    }
    Ok(out)
}

/// A hub acknowledged its events up to `seq`.
pub fn delivered_hub_events(db: &Db, hub: &str, seq: i64) -> Result<(), ApiError> {
    db.run("DELETE FROM hub_events WHERE hub = ? AND seq <= ?", &[hub.into(), seq.into()]).map(|_| ())
}

/// The failed deliveries to a hub since it last acknowledged one.
pub fn hub_attempts(db: &Db, hub: &str) -> Result<i64, ApiError> {
    let row = db.first("SELECT max(attempts) FROM hub_events WHERE hub = ?", &[hub.into()])?;
    Ok(row.and_then(|r| r.int(0)).unwrap_or(0))
}

/// A delivery to a hub failed: its events are due again at `due_ms`.
pub fn retry_hub_events(db: &Db, hub: &str, due_ms: i64) -> Result<(), ApiError> {
    db.run("UPDATE hub_events SET attempts = attempts + 1, due_ms = ? WHERE hub = ?", &[due_ms.into(), hub.into()])
        .map(|_| ())
}

/// The first column of every row, as text.
fn texts(db: &Db, sql: &str, args: &[Arg<'_>]) -> Result<Vec<String>, ApiError> {
    let mut out = Vec::new();
    for row in db.rows(sql, args)? {
        out.extend(row?.text(0));
    }
    Ok(out)
}
