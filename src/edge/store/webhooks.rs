//! Webhook deliveries: queued in the commit that made the event, read by the alarm (the oldest
//! pending one of each user: in order per user), dropped when delivered or out of attempts.

use super::*;

/// A webhook delivery due now.
pub struct Delivery {
    pub id: i64,
    pub delivery_id: String,
    pub url: String,
    pub body: String,
    pub attempts: i64,
}

/// Queues one delivery of `body` to `url`, due at `due_ms`.
pub fn queue_webhook(
    db: &Db,
    delivery_id: &str,
    user_id: &str,
    url: &str,
    body: &str,
    due_ms: i64,
) -> Result<(), ApiError> {
    db.run(
        "INSERT INTO webhooks (delivery_id, user_id, url, body, attempts, due_ms) VALUES (?, ?, ?, ?, 0, ?)",
        &[delivery_id.into(), user_id.into(), url.into(), body.into(), due_ms.into()],
    )
    .map(|_| ())
}

/// The deliveries due at `now`: each user's oldest pending one, oldest first, at most 50.
pub fn due_webhooks(db: &Db, now: i64) -> Result<Vec<Delivery>, ApiError> {
    let mut due = Vec::new();
    let sql = "SELECT w.id, w.delivery_id, w.url, w.body, w.attempts FROM webhooks w WHERE w.due_ms <= ? \
               AND w.id = (SELECT min(id) FROM webhooks WHERE user_id = w.user_id) ORDER BY w.id LIMIT 50";
    for row in db.rows(sql, &[now.into()])? {
        let row = row?;
        if let (Some(id), Some(delivery_id), Some(url), Some(body)) =
            (row.int(0), row.text(1), row.text(2), row.text(3))
        {
            due.push(Delivery { id, delivery_id, url, body, attempts: row.int(4).unwrap_or(0) });
        }
    }
    Ok(due)
}

/// A delivery is done with (delivered, or dropped after its last attempt: then counted).
pub fn finish_webhook(db: &Db, id: i64, dropped: bool) -> Result<(), ApiError> {
    db.run("DELETE FROM webhooks WHERE id = ?", &[id.into()])?;
    if dropped {
        let count = meta(db, "webhooks_dropped")?.and_then(|v| v.parse::<i64>().ok()).unwrap_or(0);
        set_meta(db, "webhooks_dropped", &(count + 1).to_string())?;
    }
    Ok(())
}

/// A delivery failed: tried again at `due_ms`, one attempt more.
pub fn retry_webhook(db: &Db, id: i64, due_ms: i64) -> Result<(), ApiError> {
    db.run("UPDATE webhooks SET attempts = attempts + 1, due_ms = ? WHERE id = ?", &[due_ms.into(), id.into()])
        .map(|_| ())
}
