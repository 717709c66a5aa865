//! Who watches whom: the users each connection subscribed to with `presence: true` queries.

use super::*;
use std::collections::BTreeMap;

/// The connections watching each of these users (one query for a whole batch).
pub fn watchers(db: &Db, ids: &[&str]) -> Result<BTreeMap<String, Vec<String>>, ApiError> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let list = json::text(&Value::from(ids.iter().map(|i| Value::from(*i)).collect::<Vec<_>>()));
    let sql = "SELECT user_id, connection_id FROM subscriptions WHERE user_id IN (SELECT value FROM json_each(?))";
    for row in db.rows(sql, &[list.as_str().into()])? {
        let row = row?;
        if let (Some(user), Some(connection)) = (row.text(0), row.text(1)) {
            out.entry(user).or_default().push(connection);
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
