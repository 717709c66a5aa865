//! The operator's view (`GET /roster/stats`, server token only): what the Writer has run since
//! this instance started, its backlogs, and the sockets it holds. The counters live in memory
//! (an evicted or restarted Writer starts again from zero, and says when it started); the
//! backlogs and socket counts are read when asked.

use super::*;

impl Writer {
    /// `GET /roster/stats`.
    pub(super) fn stats_view(&self, db: &Db, cmd: &Command) -> Result<Value, ApiError> {
        ops::require_server(&cmd.claims.caller, "GetStats")?;
        let activity = self.activity.borrow();
        let [requests, connects, disconnects, pings] = activity.counts();
        let at = now_ms();
        let writer = object([
            ("started_at", Value::from(Timestamp::from_millis(activity.started_ms()).to_string())),
            ("commands_total", Value::from(activity.total())),
            ("commands_per_minute", Value::from(activity.last_minute(at))),
            (
                "commands",
                object([
                    ("requests", Value::from(requests)),
                    ("connects", Value::from(connects)),
                    ("disconnects", Value::from(disconnects)),
                    ("pings", Value::from(pings)),
                ]),
            ),
            ("outbox_backlog", Value::from(store::queue_len(db, store::Queue::Outbox)?)),
            ("event_backlog", Value::from(store::queue_len(db, store::Queue::Webhooks)?)),
            ("seq", Value::from(store::current_seq(db)?)),
        ]);
        // Today every socket of the app is held by the Writer itself: one hub, named for it.
        let hub = object([
            ("hub", Value::from("writer")),
            ("sockets", Value::from(self.state.get_websockets().len())),
            ("as_of", Value::from(Timestamp::from_millis(at).to_string())),
        ]);
        Ok(object([("writer", writer), ("hubs", Value::Array(vec![hub]))]))
    }
}
