//! The operator's view (`GET /roster/stats`, server token only): what the Writer has run since
//! this instance started, its backlogs, and the connections each hub holds. The counters live in
//! memory (an evicted or restarted Writer starts again from zero, and says when it started); the
//! backlogs and socket counts are read when asked: a hub's count is as of its last report, which
//! goes with every connect and close and at least every `core::engine::hubs::renew_every` otherwise.

use super::*;

impl Writer {
    /// `GET /roster/stats`.
    pub(super) fn stats_view(&self, db: &Db, cmd: &Command) -> Result<Value, ApiError> {
        ops::require_server(&cmd.claims.caller, "GetStats")?;
        let activity = self.activity.borrow();
        let [requests, hub_reports] = activity.counts();
        let [connects, disconnects] = activity.connections();
        let at = now_ms();
        let writer = object([
            ("started_at", Value::from(Timestamp::from_millis(activity.started_ms()).to_string())),
            ("commands_total", Value::from(activity.total())),
            ("commands_per_minute", Value::from(activity.last_minute(at))),
            ("commands", object([("requests", Value::from(requests)), ("hub_reports", Value::from(hub_reports))])),
            ("connects", Value::from(connects)),
            ("disconnects", Value::from(disconnects)),
            ("outbox_backlog", Value::from(store::queue_len(db, store::Queue::Outbox)?)),
            ("event_backlog", Value::from(store::queue_len(db, store::Queue::HubEvents)?)),
            ("webhook_backlog", Value::from(store::queue_len(db, store::Queue::Webhooks)?)),
            ("seq", Value::from(store::current_seq(db)?)),
        ]);
        let hubs = store::hub_counts(db)?.into_iter().map(|(hub, sockets, reported_ms)| {
            object([
                ("hub", Value::from(hub)),
                ("sockets", Value::from(sockets)),
                ("as_of", Value::from(Timestamp::from_millis(reported_ms).to_string())),
            ])
        });
        Ok(object([("writer", writer), ("hubs", Value::Array(hubs.collect()))]))
    }
}
