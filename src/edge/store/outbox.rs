//! The outbox: the latest value of each changed KV key, queued in the commit that changed it,
//! and what the drain reads and marks.

use super::*;

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

/// One outbox entry due for KV: its key, value (`None`: delete), the sequence number that wrote
/// it, and the attempts made so far.
pub struct Due {
    pub key: String,
    pub value: Option<String>,
    pub seq: i64,
    pub attempts: i64,
}

/// The entries due at `now`, earliest first, at most `limit`.
pub fn due_entries(db: &Db, now: i64, limit: i64) -> Result<Vec<Due>, ApiError> {
    let mut due = Vec::new();
    let sql = "SELECT key, value, seq, attempts FROM outbox WHERE due_ms <= ? ORDER BY due_ms LIMIT ?";
    for row in db.rows(sql, &[now.into(), limit.into()])? {
        let row = row?;
        if let (Some(key), Some(seq)) = (row.text(0), row.int(2)) {
            due.push(Due { key, value: row.text(1), seq, attempts: row.int(3).unwrap_or(0) });
        }
    }
    Ok(due)
}

/// `[[key, seq, retry_ms], …]` of a batch of due entries as JSON text, the layout the statements
/// below read (`retry_ms` null: none).
fn rows(due: &[Due], retry: impl Fn(usize) -> Option<i64>) -> String {
    let mut rows = String::from("[");
    for (at, d) in due.iter().enumerate() {
        if at > 0 {
            rows.push(',');
        }
        rows.push('[');
        rows.push_str(&json::text(&Value::from(d.key.as_str())));
        rows.push(',');
        rows.push_str(&d.seq.to_string());
        rows.push(',');
        rows.push_str(&retry(at).map_or_else(|| "null".to_string(), |r| r.to_string()));
        rows.push(']');
    }
    rows.push(']');
    rows
}

/// Records that the entries `sent` were sent to KV at `at_ms` (counted from the moment they are
/// sent, whatever the outcome: KV takes one write per key per second). One statement for the
/// batch.
pub fn mark_sent(db: &Db, sent: &[Due], at_ms: i64) -> Result<(), ApiError> {
    db.run(
        "INSERT OR REPLACE INTO kv_sent (key, at_ms) SELECT value->>0, ?2 FROM json_each(?1)",
        &[rows(sent, |_| None).as_str().into(), at_ms.into()],
    )
    .map(|_| ())
}

/// The outcome of a batch of KV writes: `retry(i)` is when the `i`th entry of `sent` is tried
/// again (`None`: its write landed). A landed entry goes, unless a newer value arrived
/// meanwhile, which waits until `next_ms` (the key's next second); a failed one is tried again
/// at its time, one attempt more. Send times before `forget_ms` are forgotten (those keys are
/// free to be written again). Four statements for the batch.
pub fn settle(
    db: &Db,
    sent: &[Due],
    retry: impl Fn(usize) -> Option<i64>,
    next_ms: i64,
    forget_ms: i64,
) -> Result<(), ApiError> {
    let outcomes = rows(sent, retry);
    let outcomes = outcomes.as_str();
    db.run(
        "DELETE FROM outbox WHERE (key, seq) IN (SELECT value->>0, value->>1 FROM json_each(?1) WHERE value->>2 IS NULL)",
        &[outcomes.into()],
    )?;
    db.run(
        "UPDATE outbox SET due_ms = max(due_ms, ?2) WHERE key IN \
         (SELECT value->>0 FROM json_each(?1) WHERE value->>2 IS NULL)",
        &[outcomes.into(), next_ms.into()],
    )?;
    db.run(
        "UPDATE outbox SET attempts = attempts + 1, due_ms = j.value->>2 FROM json_each(?1) AS j \
         WHERE outbox.key = j.value->>0 AND j.value->>2 IS NOT NULL",
        &[outcomes.into()],
    )?;
    db.run("DELETE FROM kv_sent WHERE at_ms < ?", &[forget_ms.into()]).map(|_| ())
}
