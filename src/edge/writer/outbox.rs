//! The outbox drain: the latest value of each changed KV key, written by the alarm at most once
//! per key per second, retried with backoff on any failure or 429 (through the test-only fault
//! switch).

use super::*;

/// Outbox entries written to KV per batch, and batches per drain.
pub(super) const DRAIN_BATCH: i64 = 100;

pub(super) const DRAIN_ROUNDS: usize = 10;

/// Workers KV takes one write per key per second.
pub(super) const KEY_INTERVAL_MS: i64 = 1000;

/// Retry delay after a failed KV write: doubling from 1 s up to this.
pub(super) const MAX_BACKOFF_MS: i64 = 60_000;

pub(super) fn backoff_ms(attempts: i64) -> i64 {
    (KEY_INTERVAL_MS << attempts.clamp(0, 6)).min(MAX_BACKOFF_MS)
}

/// The test-only KV fault switch as one drain batch sees it: the mode (`fail`, `429`,
/// `delay:<ms>` or none), the batch's time, and whether test hooks are on at all.
pub(super) struct FaultSwitch<'a> {
    mode: &'a str,
    now: i64,
    hooks: bool,
}

impl Writer {
    /// Writes due outbox entries to KV, a batch at a time, then sets the alarm for the rest.
    pub(super) async fn drain(&self) -> Result<(), ApiError> {
        if self.draining.replace(true) {
            return Ok(());
        }
        let result = self.drain_rounds().await;
        self.draining.set(false);
        let db = self.db();
        self.schedule_drain(&db).await;
        result
    }

    pub(super) async fn drain_rounds(&self) -> Result<(), ApiError> {
        let kv = KvNamespace::from_env(&self.env, "USERS")?;
        let hooks = super::super::test_hooks(&self.env);
        for _ in 0..DRAIN_ROUNDS {
            let db = self.db();
            let now = now_ms();
            let due = store::due_entries(&db, now, DRAIN_BATCH)?;
            if due.is_empty() {
                return Ok(());
            }
            let fault = if hooks { store::meta(&db, "kv_fault")?.unwrap_or_default() } else { String::new() };
            if let Some(ms) = fault.strip_prefix("delay:").and_then(|m| m.parse::<u64>().ok()) {
                worker::Delay::from(std::time::Duration::from_millis(ms)).await;
            }
            store::mark_sent(&db, &due, now)?;
            let switch = FaultSwitch { mode: &fault, now, hooks };
            let writes = due.iter().map(|d| self.kv_write(&kv, &d.key, d.value.as_deref(), d.seq, &switch)).collect();
            let outcomes = kv::settle(writes).await?;
            let db = self.db();
            let done = now_ms();
            let retry = |at: usize| match outcomes.get(at) {
                Some(false) | None => due.get(at).map(|d| (done + backoff_ms(d.attempts)).max(now + KEY_INTERVAL_MS)),
                Some(true) => None,
            };
            store::settle(&db, &due, retry, now + KEY_INTERVAL_MS, now - KEY_INTERVAL_MS)?;
        }
        Ok(())
    }

    /// Starts one KV write (`value` `None`: delete), through the test-only fault switch.
    pub(super) fn kv_write(
        &self,
        kv: &KvNamespace,
        key: &str,
        value: Option<&str>,
        seq: i64,
        switch: &FaultSwitch<'_>,
    ) -> Result<js_sys::Promise, ApiError> {
        if switch.hooks {
            let now = switch.now;
            let mut stats = self.stats.borrow_mut();
            let too_fast = stats.last_put.get(key).is_some_and(|at| now - at < KEY_INTERVAL_MS);
            stats.last_put.insert(key.to_string(), now);
            let refused = match switch.mode {
                "fail" => Some("KV PUT failed: 500 Internal Server Error (injected)"),
                "429" => Some("KV PUT failed: 429 Too Many Requests (injected)"),
                _ if too_fast => Some("KV PUT failed: 429 Too Many Requests (one write per key per second)"),
                _ => None,
            };
            stats.too_fast += u64::from(too_fast);
            if let Some(why) = refused {
                stats.failures += 1;
                return Ok(js_sys::Promise::reject(&JsValue::from_str(why)));
            }
            stats.puts += 1;
        }
        match value {
            Some(v) => kv.put_text(key, v, Some(&format!("{{\"seq\":{seq}}}"))),
            None => kv.remove(key),
        }
    }
}
