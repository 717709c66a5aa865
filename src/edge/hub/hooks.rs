//! Test-only switches of a hub (`ROSTER_TEST_HOOKS = "1"`, reached through the Writer's `hubs`
//! hook): hold reports (so that a test can queue connects and closes and see them go as one),
//! release them, make the next one a renewal, read the hub's state, and crash or restart it.

use super::*;
use crate::core::wire::json::object;
use serde_json::Value;

impl Hub {
    pub(super) async fn test_hook(&self, what: &str) -> worker::Result<Response> {
        if !crate::edge::test_hooks(&self.env) {
            return Response::error("test hooks are off", 404);
        }
        match what {
            "hold" => self.held.set(true),
            "release" => {
                self.held.set(false);
                self.wake_all();
            }
            // A crash: every socket closed at once and nothing reported (not the closes, not
            // the renewals), as if the object had gone with its connections.
            "crash" => {
                self.muted.set(true);
                for ws in self.state.get_websockets() {
                    let _ = ws.close(Some(1012), Some("hub restart"));
                }
            }
            // The next report is a renewal: it lists every open connection, as the alarm's does.
            "renew" => self.queue.borrow_mut().sync = true,
            // Back after a crash: the first report lists what is open (nothing).
            "restart" => {
                self.muted.set(false);
                self.queue.borrow_mut().sync = true;
                self.settle(self.started.get() + 1).await;
            }
            "state" => {}
            _ => return Response::error("unknown hub hook", 404),
        }
        let q = self.queue.borrow();
        let sockets = self.state.get_websockets();
        let mut users: Vec<String> = sockets.iter().map(|ws| self.socket_ids(ws).0).collect();
        users.sort();
        users.dedup();
        reply(&object([
            ("hub", Value::from(self.name())),
            ("queued_connects", Value::from(q.connects.len())),
            ("queued_gone", Value::from(q.gone.len())),
            ("sockets", Value::from(sockets.len())),
            ("users", Value::from(users)),
            ("reports", Value::from(self.finished.get())),
            ("delivered", Value::from(self.told("delivered", 0))),
            ("held", Value::Bool(self.held.get())),
        ]))
    }
}
