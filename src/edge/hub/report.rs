//! The group commit: a hub tells the Writer about its connects and closed connections in
//! reports, one at a time. A report carries everything that arrived while the previous one was
//! on its way, so N connects arriving together cost the Writer one command, not N. Each connect
//! waits for the report that carries it: the Writer's answer is its `health.check` (with `me`)
//! or its `connection.error`.

use super::*;
use crate::core::wire::json::object;
use crate::edge::objects::{self, WRITER};
use serde_json::Value;
use worker::WebSocketPair;

/// A connect waiting for its report: the command line and `json` parameter the Worker checked,
/// the connection id given to it, and the server end of its socket (accepted once the Writer
/// has answered).
pub(super) struct Waiting {
    connection_id: String,
    cmd: String,
    json: String,
    socket: WebSocket,
}

/// What the next report carries.
#[derive(Default)]
pub(super) struct Queue {
    pub(super) connects: Vec<Waiting>,
    pub(super) gone: Vec<String>,
    /// Send the full list of open connections (a renewal, or after a failed report).
    pub(super) sync: bool,
}

impl Hub {
    /// `GET /connect`, forwarded by the Worker after its checks: the socket is answered once the
    /// report carrying its connect comes back.
    pub(super) async fn open(&self, params: &crate::edge::params::Params) -> worker::Result<Response> {
        let WebSocketPair { client, server } = WebSocketPair::new()?;
        let connection_id = match crate::edge::connect::uuid_v4() {
            Ok(id) => id,
            Err(e) => {
                server.accept()?;
                let (frame, reason) = crate::edge::connect::refusal(&e);
                crate::edge::connect::send_refusal(&server, &frame, &reason)?;
                return Response::from_websocket(client);
            }
        };
        let text = |k: &str| params.get(k).cloned().unwrap_or_default();
        self.queue.borrow_mut().connects.push(Waiting {
            connection_id,
            cmd: text("cmd"),
            json: text("json"),
            socket: server,
        });
        self.settle(self.started.get() + 1).await;
        Response::from_websocket(client)
    }

    /// Waits until report `ticket` has finished, flying the next report whenever none is on its
    /// way (so whichever waiting request finds the hub idle carries everything queued).
    pub(super) async fn settle(&self, ticket: u64) {
        loop {
            if self.finished.get() >= ticket {
                return;
            }
            if !self.flying.get() && !self.held.get() {
                self.fly().await;
                continue;
            }
            self.wait().await;
        }
    }

    /// One report: everything queued goes to the Writer as one command, and its answer is
    /// carried out (sockets accepted or refused, connections the Writer does not know closed).
    async fn fly(&self) {
        self.flying.set(true);
        let number = self.started.get() + 1;
        self.started.set(number);
        let queue = self.queue.take();
        let open: Option<Vec<Value>> = queue.sync.then(|| {
            let sockets = self.state.get_websockets();
            sockets.iter().map(|ws| self.socket_ids(ws).1).filter(|c| !c.is_empty()).map(Value::from).collect()
        });
        let connects: Vec<Value> = queue
            .connects
            .iter()
            .map(|w| {
                object([
                    ("connection_id", Value::from(w.connection_id.as_str())),
                    ("cmd", Value::from(w.cmd.as_str())),
                    ("json", Value::from(w.json.as_str())),
                ])
            })
            .collect();
        let report = object([
            ("hub", Value::from(self.name())),
            ("connects", Value::Array(connects)),
            ("gone", Value::from(queue.gone.clone())),
            ("open", open.map_or(Value::Null, Value::Array)),
        ]);
        let answer = objects::post(&self.env, WRITER.0, WRITER.1, "https://writer/hub", json::text(&report).as_bytes())
            .await
            .and_then(|(status, body)| match status {
                200 => json::parse_slice(&body).map_err(|e| ApiError::internal(format!("writer: bad hub answer: {e}"))),
                _ => Err(ApiError::internal(format!("writer: hub report failed: {}", String::from_utf8_lossy(&body)))),
            });
        match answer {
            Ok(answer) => self.carry_out(&answer, queue.connects),
            Err(e) => {
                // The connects are refused (the SDK retries a close other than 1000 only, so
                // this one says 1011); closes are reported again with the full list next time.
                for w in queue.connects {
                    let _ = w.socket.accept();
                    let (frame, _) = crate::edge::connect::refusal(&e);
                    let _ = w.socket.send_with_str(&frame);
                    let _ = w.socket.close(Some(1011), Some("try again"));
                }
                let mut q = self.queue.borrow_mut();
                q.gone.extend(queue.gone);
                q.sync = true;
            }
        }
        self.finished.set(number);
        self.flying.set(false);
        self.wake_all();
        self.schedule().await;
    }

    /// The Writer's answer to a report: each connect's socket accepted (tagged with its user and
    /// connection) with its first frame, or refused; connections it does not know closed (a
    /// lease that lapsed: their clients reconnect); its lease and ping timeout kept.
    fn carry_out(&self, answer: &Value, connects: Vec<Waiting>) {
        for key in ["lease_ms", "ping_timeout_ms"] {
            if let Some(n) = answer.get(key).and_then(Value::as_i64) {
                if self.told(key, -1) != n {
                    self.set_meta(key, &n.to_string());
                }
            }
        }
        let results = answer.get("results").and_then(Value::as_array).cloned().unwrap_or_default();
        for (w, result) in connects.into_iter().zip(results.iter().map(Some).chain(std::iter::repeat(None))) {
            let text = |k: &str| result.and_then(|r| r.get(k)).and_then(Value::as_str).map(str::to_string);
            match (text("user_id"), text("frame"), text("reason")) {
                (Some(user), Some(frame), None) => {
                    let (user_tag, connection_tag) = (format!("u:{user}"), format!("c:{}", w.connection_id));
                    self.state.accept_websocket_with_tags(&w.socket, &[&user_tag, &connection_tag]);
                    set_last_seen(&w.socket, now_ms());
                    let _ = w.socket.send_with_str(&frame);
                }
                (_, Some(frame), Some(reason)) => {
                    let _ = w.socket.accept();
                    let _ = crate::edge::connect::send_refusal(&w.socket, &frame, &reason);
                }
                _ => {
                    let _ = w.socket.accept();
                    let _ = w.socket.close(Some(1011), Some("no answer"));
                }
            }
        }
        for c in answer.get("unknown").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
            for ws in self.state.get_websockets_with_tag(&format!("c:{c}")) {
                let _ = ws.close(Some(1012), Some("reconnect"));
            }
        }
    }
}
