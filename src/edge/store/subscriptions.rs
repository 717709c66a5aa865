//! Who watches whom: the users each connection subscribed to with `presence: true` queries.

use super::*;
use crate::core::model::pairs;

/// A watching connection and the hub that holds it.
pub struct Watcher {
    pub connection: String,
    pub hub: String,
}

/// The connections watching each of these users, with their hubs (one query for a whole
/// batch). A subscription's hub is its connection's, recorded when the connection opened.
pub fn watchers(db: &Db, ids: &[&str]) -> Result<Vec<(String, Vec<Watcher>)>, ApiError> {
    let mut out = Vec::new();
    let list = json::text(&Value::from(ids.iter().map(|i| Value::from(*i)).collect::<Vec<_>>()));
    let sql = "SELECT s.user_id, s.connection_id, c.hub FROM subscriptions s \
               JOIN connections c ON c.connection_id = s.connection_id \
               WHERE s.user_id IN (SELECT value FROM json_each(?))";
    for row in db.rows(sql, &[list.as_str().into()])? {
        let row = row?;
        if let (Some(user), Some(connection), Some(hub)) = (row.text(0), row.text(1), row.text(2)) {
            pairs::push(&mut out, user, Watcher { connection, hub });
        }
    }
    Ok(out)
}

/// How many users a connection watches now, and how many of `ids` it would add.
pub fn watch_counts(db: &Db, connection: &str, ids: &[String]) -> Result<(i64, i64), ApiError> {
    let list = json::text(&Value::from(ids.to_vec()));
    let count = |sql: &str, args: &[Arg<'_>]| db.first(sql, args).map(|r| r.and_then(|r| r.int(0)).unwrap_or(0));
    let have = count("SELECT count(*) FROM subscriptions WHERE connection_id = ?", &[connection.into()])?;
    let new = count(
        "SELECT count(*) FROM json_each(?1) WHERE value NOT IN (SELECT user_id FROM subscriptions WHERE connection_id = ?2)",
        &[list.as_str().into(), connection.into()],
    )?;
    Ok((have, new))
}

/// Subscribes a connection to these users (those it already watches stay once).
pub fn subscribe(db: &Db, connection: &str, ids: &[String]) -> Result<(), ApiError> {
    let list = json::text(&Value::from(ids.to_vec()));
    db.run(
        "INSERT OR IGNORE INTO subscriptions (connection_id, user_id) SELECT ?2, value FROM json_each(?1)",
        &[list.as_str().into(), connection.into()],
    )
    .map(|_| ())
}

/// A connection closed: its subscriptions go.
pub fn unsubscribe_all(db: &Db, connection: &str) -> Result<(), ApiError> {
    db.run("DELETE FROM subscriptions WHERE connection_id = ?", &[connection.into()]).map(|_| ())
}
