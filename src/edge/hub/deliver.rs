//! Events from the Writer: each commit's frames for this hub, in commit order, with increasing
//! sequence numbers. Delivery is at least once (the Writer retries until acknowledged, across
//! restarts); the hub keeps the last sequence number it delivered and skips any at or below it,
//! so each connection sees each event once.

use super::*;
use crate::core::wire::json::object;
use serde_json::Value;

impl Hub {
    /// `POST /deliver`: `{events: [{seq, sends: [{tags, frame, except_connection, except_user}]}]}`.
    /// Answers the last sequence number delivered.
    pub(super) async fn deliver(&self, body: &[u8]) -> worker::Result<Response> {
        // A report on its way may carry a connect the Writer has already sent events for: its
        // socket is accepted when the report comes back, so wait for that first.
        self.settle(self.started.get()).await;
        let batch = match json::parse_slice(body) {
            Ok(v) => v,
            Err(e) => return failed(&ApiError::internal(format!("hub: bad delivery: {e}"))),
        };
        let mut last: i64 = self.told("delivered", 0);
        for event in batch.get("events").and_then(Value::as_array).into_iter().flatten() {
            let seq = event.get("seq").and_then(Value::as_i64).unwrap_or(0);
            if !hubs::is_new(seq, last) {
                continue;
            }
            for send in event.get("sends").and_then(Value::as_array).into_iter().flatten() {
                self.send(send);
            }
            last = seq;
        }
        self.set_meta("delivered", &last.to_string());
        reply(&object([("delivered", Value::from(last))]))
    }

    /// One frame to the sockets with these tags, but a connection or a user's own connections.
    fn send(&self, send: &Value) {
        let text = |k: &str| send.get(k).and_then(Value::as_str);
        let Some(frame) = text("frame") else { return };
        let (except_connection, except_user) = (text("except_connection"), text("except_user"));
        for tag in send.get("tags").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
            for ws in self.state.get_websockets_with_tag(tag) {
                let (user, connection) = self.socket_ids(&ws);
                if except_connection == Some(connection.as_str()) || except_user == Some(user.as_str()) {
                    continue;
                }
                let _ = ws.send_with_str(frame);
            }
        }
    }
}
