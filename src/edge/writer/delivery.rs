//! Delivering queued events to the hubs (`fanout.rs` queues them with each commit): each hub's
//! events in commit order, up to 100 per request, removed once the hub acknowledges them;
//! retried with backoff when a hub cannot be reached (the rows stay, so a restart resumes). The
//! hubs de-duplicate by sequence number. One delivery run per hub at a time, the hubs side by
//! side, started after every command (without holding up its answer) and by the alarm.

use super::*;
use crate::core::model::set;
use crate::edge::objects::{self, HUB};
use std::rc::Rc;

/// Events per delivery request.
const BATCH: i64 = 100;

/// The wait before attempt `n + 1` to a hub that failed `n` times: 1 s doubling, at most 5 min.
fn backoff_ms(attempts: i64) -> i64 {
    1000_i64.saturating_mul(1_i64 << attempts.clamp(0, 9)).min(300_000)
}

impl Writer {
    /// Starts a delivery run for each hub with events due that has none going (they run on
    /// after this request is answered, side by side; each hub's own events stay in order).
    pub(super) fn kick_delivery(&self) {
        for hub in store::hubs_due(&self.db(), now_ms()).unwrap_or_default() {
            if !set::insert(&mut self.delivering_events.borrow_mut(), hub.clone()) {
                continue;
            }
            let (db, env, running) = (self.db(), self.env.clone(), Rc::clone(&self.delivering_events));
            wasm_bindgen_futures::spawn_local(async move {
                deliver_to(&db, &env, &hub).await;
                // No await between finding the hub's queue empty and leaving the set: a commit
                // that queues for this hub afterwards finds it gone and starts a new run.
                running.borrow_mut().retain(|h| *h != hub);
            });
        }
    }
}

/// One hub's events, batch by batch, until it has none or a delivery fails.
async fn deliver_to(db: &Db, env: &Env, hub: &str) {
    loop {
        let events = match store::hub_events(db, hub, BATCH) {
            Ok(e) if !e.is_empty() => e,
            _ => return,
        };
        let last = events.last().map_or(0, |(seq, _)| *seq);
        // The sends are stored as JSON text: spliced in, not parsed again.
        let items: Vec<String> =
            events.iter().map(|(seq, sends)| format!("{{\"seq\":{seq},\"sends\":{sends}}}")).collect();
        let body = format!("{{\"events\":[{}]}}", items.join(","));
        let url = format!("https://hub/deliver?hub={hub}");
        match objects::post(env, HUB, hub, &url, body.as_bytes()).await {
            Ok((200, _)) => {
                #[cfg(feature = "test-hooks")]
                if lose_ack(db, env, hub) {
                    continue; // as if the acknowledgement never came: the same events again
                }
                let _ = store::delivered_hub_events(db, hub, last);
            }
            _ => {
                let attempts = store::hub_attempts(db, hub).unwrap_or(0);
                let _ = store::retry_hub_events(db, hub, now_ms() + backoff_ms(attempts));
                return;
            }
        }
    }
}

/// Test hook `lose-acks`: the hub's next N acknowledgements are dropped, so it gets those events
/// again and must skip them.
#[cfg(feature = "test-hooks")]
fn lose_ack(db: &Db, env: &Env, hub: &str) -> bool {
    if !crate::edge::test_hooks(env) {
        return false;
    }
    let key = format!("lose_acks:{hub}");
    let left = store::meta(db, &key).ok().flatten().and_then(|v| v.parse::<i64>().ok()).unwrap_or(0);
    if left > 0 {
        let _ = store::set_meta(db, &key, &(left - 1).to_string());
    }
    left > 0
}
