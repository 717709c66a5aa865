//! The `Hub` Durable Object: one of an app's `H` connection hubs (`core::engine::hubs`). It holds the
//! WebSockets of the users whose ids hash to it, with the hibernation API, answers their pings
//! and drops the ones that stop pinging. It decides nothing about users: the Writer merges each
//! connect's `user_details` and keeps presence, from the hub's reports; the hub delivers the
//! frames the Writer's commits queue for it.
//!
//! One file per concept: this one is the object (its state, the entry, the alarm and the socket
//! events); `report.rs` is the group commit (what the hub tells the Writer, one command for every
//! connect and close that arrived meanwhile); `deliver.rs` the events the Writer sends; `hooks.rs`
//! the test-only switches.

mod deliver;
#[cfg(feature = "test-hooks")]
mod hooks;
mod report;

use super::now_ms;
use super::sql::Db;
use crate::core::engine::hubs;
use crate::core::wire::error::ApiError;
use crate::core::wire::json;
use report::Queue;
use std::cell::{Cell, RefCell};
use wasm_bindgen::{JsCast, JsValue};
use worker::{
    durable_object, js_sys, DurableObject, Env, Request, Response, State, WebSocket, WebSocketIncomingMessage,
};

/// A connection that has not pinged for this long is dropped (three missed 25 s pings).
const PING_TIMEOUT_MS: i64 = 75_000;

/// How often the alarm looks for such connections while any are open.
const SWEEP_MS: i64 = 30_000;

#[durable_object]
pub struct Hub {
    state: State,
    env: Env,
    /// Connects and closed connections waiting for the next report to the Writer.
    queue: RefCell<Queue>,
    /// A report is on its way to the Writer (one at a time).
    flying: Cell<bool>,
    /// Reports started and finished (each connect and close waits for the one that carries it).
    started: Cell<u64>,
    finished: Cell<u64>,
    /// Resolvers of the requests waiting for a report to finish.
    wakers: RefCell<Vec<js_sys::Function>>,
    alarm_set: Cell<bool>,
    ready: Cell<bool>,
    /// The hub's name, once read or told (it is kept in `hub_meta` for the alarm).
    name: RefCell<Option<String>>,
    /// Test hooks: reports wait while held; a muted hub reports nothing (a crashed one).
    held: Cell<bool>,
    muted: Cell<bool>,
}

impl DurableObject for Hub {
    fn new(state: State, env: Env) -> Self {
        Hub {
            state,
            env,
            queue: RefCell::default(),
            flying: Cell::new(false),
            started: Cell::new(0),
            finished: Cell::new(0),
            wakers: RefCell::default(),
            alarm_set: Cell::new(false),
            ready: Cell::new(false),
            name: RefCell::default(),
            held: Cell::new(false),
            muted: Cell::new(false),
        }
    }

    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        let target = super::Target::of(&req);
        let params = target.params();
        if let Some(name) = params.get("hub") {
            self.remember_name(name);
        }
        match target.path.as_str() {
            "/connect" => self.open(&params).await,
            "/deliver" => {
                let body = req.bytes().await?;
                self.deliver(&body).await
            }
            #[cfg(feature = "test-hooks")]
            p if p.starts_with("/test/") => self.test_hook(p.trim_start_matches("/test/")).await,
            _ => Response::error("no such hub route", 404),
        }
    }

    async fn alarm(&self) -> worker::Result<Response> {
        self.alarm_set.set(false);
        if !self.muted.get() {
            self.sweep();
            // The renewal: the full list of open connections, which also repairs anything a
            // failed report lost.
            self.queue.borrow_mut().sync = true;
            self.settle(self.started.get() + 1).await;
        }
        self.schedule().await;
        Response::ok("")
    }

    async fn websocket_message(&self, ws: WebSocket, message: WebSocketIncomingMessage) -> worker::Result<()> {
        if let WebSocketIncomingMessage::String(text) = message {
            if text.contains("health.check") {
                set_last_seen(&ws, now_ms());
                let connection = self.socket_ids(&ws).1;
                let at = crate::core::wire::time::Timestamp::from_millis(now_ms());
                let _ = ws.send_with_str(super::connect::health_check(&connection, at, None));
            }
        }
        Ok(())
    }

    async fn websocket_close(&self, ws: WebSocket, _code: usize, _reason: String, _clean: bool) -> worker::Result<()> {
        let _ = ws.close(Some(1000), Some("bye"));
        self.closed(&ws).await;
        Ok(())
    }

    async fn websocket_error(&self, ws: WebSocket, _error: worker::Error) -> worker::Result<()> {
        self.closed(&ws).await;
        Ok(())
    }
}

impl Hub {
    fn db(&self) -> Db {
        let db = Db::new(self.state.storage().as_raw());
        if !self.ready.get() {
            let _ = db.run("CREATE TABLE IF NOT EXISTS hub_meta (k TEXT PRIMARY KEY, v TEXT NOT NULL)", &[]);
            self.ready.set(true);
        }
        db
    }

    fn meta(&self, key: &str) -> Option<String> {
        self.db().first("SELECT v FROM hub_meta WHERE k = ?", &[key.into()]).ok().flatten().and_then(|r| r.text(0))
    }

    fn set_meta(&self, key: &str, value: &str) {
        let _ = self.db().run("INSERT OR REPLACE INTO hub_meta (k, v) VALUES (?, ?)", &[key.into(), value.into()]);
    }

    /// The hub's name (`hub-3`), as the Worker and the Writer address it; kept, so that an
    /// alarm knows it too.
    fn remember_name(&self, name: &str) {
        if self.name().as_str() != name {
            self.set_meta("name", name);
            *self.name.borrow_mut() = Some(name.to_string());
        }
    }

    fn name(&self) -> String {
        if let Some(name) = self.name.borrow().as_ref() {
            return name.clone();
        }
        let name = self.meta("name").unwrap_or_default();
        *self.name.borrow_mut() = Some(name.clone());
        name
    }

    /// A number the Writer last told the hub (`lease_ms`, `ping_timeout_ms`), or the default.
    fn told(&self, key: &str, default: i64) -> i64 {
        self.meta(key).and_then(|v| v.parse().ok()).unwrap_or(default)
    }

    /// The user and connection ids of a socket (its tags).
    fn socket_ids(&self, ws: &WebSocket) -> (String, String) {
        let tags = self.state.get_tags(ws);
        let tag = |p: &str| tags.iter().find_map(|t| t.strip_prefix(p)).unwrap_or_default().to_string();
        (tag("u:"), tag("c:"))
    }

    /// A socket closed or failed: the Writer hears of it in the next report.
    async fn closed(&self, ws: &WebSocket) {
        let connection = self.socket_ids(ws).1;
        if self.muted.get() || connection.is_empty() {
            return;
        }
        self.queue.borrow_mut().gone.push(connection);
        self.settle(self.started.get() + 1).await;
    }

    /// Closes the connections that stopped pinging (a client gone without closing its socket);
    /// the next report takes them off presence.
    fn sweep(&self) {
        let timeout = self.told("ping_timeout_ms", PING_TIMEOUT_MS);
        let now = now_ms();
        for ws in self.state.get_websockets() {
            if now - last_seen(&ws).unwrap_or(now) > timeout {
                let _ = ws.close(Some(1000), Some("missed pings"));
                let connection = self.socket_ids(&ws).1;
                if !connection.is_empty() {
                    self.queue.borrow_mut().gone.push(connection);
                }
            }
        }
    }

    /// While sockets are open, the alarm sweeps for missed pings and renews the hub's lease.
    async fn schedule(&self) {
        if self.alarm_set.get() || self.state.get_websockets().is_empty() {
            return;
        }
        let every = SWEEP_MS
            .min(self.told("ping_timeout_ms", PING_TIMEOUT_MS))
            .min(hubs::renew_every(self.told("lease_ms", hubs::LEASE_MS)));
        let at = js_sys::Date::new(&JsValue::from_f64((now_ms() + every) as f64));
        if self.state.storage().set_alarm(worker::ScheduledTime::new(at)).await.is_ok() {
            self.alarm_set.set(true);
        }
    }

    /// A promise that resolves at the next [`Hub::wake_all`].
    async fn wait(&self) {
        let wakers = &self.wakers;
        let promise = js_sys::Promise::new(&mut |resolve, _reject| wakers.borrow_mut().push(resolve));
        let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
    }

    fn wake_all(&self) {
        for f in self.wakers.take() {
            let _ = f.call0(&JsValue::NULL);
        }
    }
}

/// Records when a socket was last heard from, in its attachment (kept across hibernation).
fn set_last_seen(ws: &WebSocket, ms: i64) {
    let js: &JsValue = ws.as_ref();
    if let Ok(f) = js_sys::Reflect::get(js, &JsValue::from_str("serializeAttachment")) {
        let _ = f.unchecked_into::<js_sys::Function>().call1(js, &JsValue::from_f64(ms as f64));
    }
}

/// When a socket was last heard from (see [`set_last_seen`]).
fn last_seen(ws: &WebSocket) -> Option<i64> {
    let js: &JsValue = ws.as_ref();
    let f = js_sys::Reflect::get(js, &JsValue::from_str("deserializeAttachment")).ok()?;
    f.unchecked_into::<js_sys::Function>().call0(js).ok()?.as_f64().map(|v| v as i64)
}

/// A JSON answer.
fn reply(value: &serde_json::Value) -> worker::Result<Response> {
    Response::from_bytes(json::text(value).into_bytes())
}

/// An error answer the Writer or a test reads.
fn failed(e: &ApiError) -> worker::Result<Response> {
    Response::error(e.reason.clone(), 500)
}
