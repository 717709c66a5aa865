//! The `Writer` Durable Object: one per app, the source of truth. It runs one command at a
//! time against its SQLite database and replicates to Workers KV through an outbox.
//!
//! - A command (see `command.rs`) arrives with its body; the Writer reads that body first,
//!   then reads state, lets the core decide and commits, all synchronously: no await between
//!   the first read and the commit, so no other request can interleave (the input gate stays
//!   closed) and a stale read is impossible. A write's rows and its outbox entries commit in one
//!   transaction, or nothing does.
//! - The response goes out as soon as the rows commit. An alarm drains the outbox to KV: the
//!   latest value per key, at most one write per key per second, retried with backoff on any
//!   failure or 429 until it lands. KV records carry the commit sequence number as metadata.
//! - On first use it imports what the previous version stored (its own key-value storage, then
//!   Workers KV) before serving anything (`blockConcurrencyWhile`).

use super::command::Command;
use super::http::{self, Timing};
use super::kv::{self, KvNamespace};
use super::sql::{Arg, Db};
use super::store::{self, SqlLoader, SETTINGS_KEY};
use super::Route;
use crate::core::auth::{self, Caller};
use crate::core::cursor;
use crate::core::drive::{self, Loader};
use crate::core::error::OpError;
use crate::core::error::{code, ApiError};
use crate::core::events::{self, UserChange};
use crate::core::feed;
use crate::core::json::{self, object};
use crate::core::memory::OpFn;
use crate::core::ops::{self, Need, Snapshot};
use crate::core::precondition;
use crate::core::query;
use crate::core::rate_limits;
use crate::core::settings::AppSettings;
use crate::core::tasks::{self, TaskKind};
use crate::core::tenancy;
use crate::core::time::Timestamp;
use crate::core::user::{self, User};
use crate::core::username;
use crate::core::v2;
use serde_json::Value;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use wasm_bindgen::{JsCast, JsValue};
use worker::{
    durable_object, js_sys, Date, DurableObject, Env, Request, Response, State, Storage, WebSocket,
    WebSocketIncomingMessage, WebSocketPair,
};

/// Outbox entries written to KV per batch, and batches per drain.
const DRAIN_BATCH: i64 = 100;
const DRAIN_ROUNDS: usize = 10;
/// Workers KV takes one write per key per second.
const KEY_INTERVAL_MS: i64 = 1000;
/// Task steps (one user each) per alarm run.
const TASK_STEPS: usize = 200;
/// Retry delay after a failed KV write: doubling from 1 s up to this.
const MAX_BACKOFF_MS: i64 = 60_000;

fn now_ms() -> i64 {
    i64::try_from(Date::now().as_millis()).unwrap_or(i64::MAX)
}

fn backoff_ms(attempts: i64) -> i64 {
    (KEY_INTERVAL_MS << attempts.clamp(0, 6)).min(MAX_BACKOFF_MS)
}

/// What the test hooks report about replication: KV writes made, failed, and refused because a
/// key was written again within a second (the deployed limit, simulated under test hooks).
#[derive(Default)]
struct KvStats {
    last_put: BTreeMap<String, i64>,
    puts: u64,
    failures: u64,
    too_fast: u64,
    /// Commands received (every request the Worker let through).
    commands: u64,
}

/// The test-only KV fault switch as one drain batch sees it: the mode (`fail`, `429`,
/// `delay:<ms>` or none), the batch's time, and whether test hooks are on at all.
struct FaultSwitch<'a> {
    mode: &'a str,
    now: i64,
    hooks: bool,
}

#[durable_object]
pub struct Writer {
    state: State,
    env: Env,
    ready: Cell<bool>,
    draining: Cell<bool>,
    delivering: Cell<bool>,
    alarm_set: Cell<bool>,
    stats: RefCell<KvStats>,
    /// This minute's requests per platform and endpoint (in memory: a restart starts the
    /// window afresh, which only ever lets more through).
    rates: RefCell<rate_limits::Counter>,
}

impl DurableObject for Writer {
    fn new(state: State, env: Env) -> Self {
        Writer {
            state,
            env,
            ready: Cell::new(false),
            draining: Cell::new(false),
            delivering: Cell::new(false),
            alarm_set: Cell::new(false),
            stats: RefCell::default(),
            rates: RefCell::default(),
        }
    }

    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        if req.headers().get("upgrade")?.is_some_and(|u| u.eq_ignore_ascii_case("websocket")) {
            return self.open_socket(&req).await;
        }
        // The body first: this await opens the input gate, so it comes before any state is read.
        let raw = req.bytes().await?;
        let (cmd, body) = match Command::decode(&raw) {
            Ok(c) => c,
            Err(e) => return http::failure(&e, Route::NotFound.op(), &Timing { started_ms: 0, kv_ops: 0, rate: None }),
        };
        // The Writer itself makes no KV operation while serving a request (only its alarm does).
        let mut t = Timing { started_ms: cmd.started_ms, kv_ops: cmd.kv_ops, rate: None };
        self.stats.borrow_mut().commands += 1;
        if let Err(e) = self.ensure_ready().await {
            return http::failure(&e, cmd.route.op(), &t);
        }
        let db = self.db();
        let at = now();
        if let Route::Test(what) = &cmd.route {
            if super::test_hooks(&self.env) {
                return self.test_hook(what, body).await;
            }
        }
        // Read once for the whole command, with no await before it commits. The request is
        // counted (and refused over a configured limit) before any work is done.
        let settings =
            match store::load_settings(&db).and_then(|s| self.count_request(&s, &cmd, &mut t, at).map(|()| s)) {
                Ok(s) => s,
                Err(e) => return http::failure(&e, cmd.route.op(), &t),
            };
        let response = match &cmd.route {
            Route::Connect => http::failure(&ApiError::route_not_found(), cmd.route.op(), &t),
            Route::RateLimits => match self.rate_limits(&settings, &cmd, at) {
                Ok(value) => http::success(value, 200, &t),
                Err(e) => http::failure(&e, cmd.route.op(), &t),
            },
            Route::Guest => match guest(&db, &self.env, body, cmd.v2, at) {
                Ok((value, user)) => {
                    self.publish(&db, Publish::Users(UserChange::Updated, vec![user]), at);
                    let value = if cmd.v2 { v2::response_out(value) } else { v2::v1_response_out(value) };
                    http::success(value, 201, &t)
                }
                Err(e) => http::failure(&e, cmd.route.op(), &t),
            },
            _ => {
                match execute(&db, &cmd, &settings, body, at, self) {
                    Ok((value, status, publish)) => {
                        // Before any await: the events' webhook rows commit with the write.
                        if let Some(p) = publish {
                            self.publish(&db, p, at);
                        }
                        let mut value = if cmd.v2 { v2::response_out(value) } else { v2::v1_response_out(value) };
                        let returns_users = matches!(
                            cmd.route,
                            Route::Upsert
                                | Route::Partial
                                | Route::Query
                                | Route::Deactivate(_)
                                | Route::Reactivate(_)
                                | Route::Delete(_)
                        );
                        let etag = if returns_users { attach_versions(&db, &mut value) } else { Ok(None) };
                        match (etag, http::success(value, status, &t)) {
                            (Ok(Some(v)), Ok(mut response)) => {
                                response.headers_mut().set("etag", &precondition::etag(v))?;
                                Ok(response)
                            }
                            (Err(e), _) => http::failure(&e, cmd.route.op(), &t),
                            (_, response) => response,
                        }
                    }
                    Err(e) => http::failure(&e.error, e.op, &t),
                }
            }
        };
        self.schedule_drain(&db).await;
        response
    }

    async fn alarm(&self) -> worker::Result<Response> {
        self.alarm_set.set(false);
        if let Err(e) = self.ensure_ready().await {
            return Err(worker::Error::RustError(e.reason));
        }
        self.run_tasks(&self.db()).map_err(|e| worker::Error::RustError(e.reason))?;
        self.sweep_sockets().await;
        self.deliver_webhooks().await.map_err(|e| worker::Error::RustError(e.reason))?;
        self.drain().await.map_err(|e| worker::Error::RustError(e.reason))?;
        Response::ok("")
    }

    async fn websocket_message(&self, ws: WebSocket, message: WebSocketIncomingMessage) -> worker::Result<()> {
        if let WebSocketIncomingMessage::String(text) = message {
            if text.contains("health.check") {
                set_last_seen(&ws, now_ms());
                let (_, connection) = self.socket_ids(&ws);
                let _ = ws.send_with_str(super::connect::health_check(&connection, now(), None));
            }
        }
        Ok(())
    }

    async fn websocket_close(&self, ws: WebSocket, _code: usize, _reason: String, _clean: bool) -> worker::Result<()> {
        let _ = ws.close(Some(1000), Some("bye"));
        self.socket_gone(&ws).await;
        Ok(())
    }

    async fn websocket_error(&self, ws: WebSocket, _error: worker::Error) -> worker::Result<()> {
        self.socket_gone(&ws).await;
        Ok(())
    }
}

/// What a committed command tells the connections and webhooks.
pub enum Publish {
    /// These users changed (their state after the commit).
    Users(UserChange, Vec<User>),
    /// A custom event for one user's connections.
    Custom(String, Value),
    /// A connect changed the user: `user.updated` to its other connections and its watchers.
    Connected(User, String),
}

/// A connection that has not pinged for this long is dropped (three missed 25 s pings).
const PING_TIMEOUT_MS: i64 = 75_000;
/// How often the alarm looks for such connections while any are open.
const SWEEP_MS: i64 = 30_000;

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

/// Most users one connection may watch through `presence: true` queries.
pub const MAX_SUBSCRIPTIONS: i64 = 1000;
/// How long a webhook receiver has to answer one delivery.
const WEBHOOK_TIMEOUT_MS: f64 = 10_000.0;
/// Delivery attempts of one webhook event before it is dropped (backoff 1 s doubling to 60 s).
const WEBHOOK_ATTEMPTS: i64 = 10;

/// What `execute` may ask about the open connections.
pub trait Presence {
    /// Whether the user has an open connection.
    fn connected(&self, user_id: &str) -> bool;
    /// The user a connection belongs to.
    fn owner(&self, connection_id: &str) -> Option<String>;
}

impl Presence for Writer {
    fn connected(&self, user_id: &str) -> bool {
        !self.state.get_websockets_with_tag(&format!("u:{user_id}")).is_empty()
    }
    fn owner(&self, connection_id: &str) -> Option<String> {
        let ws = self.state.get_websockets_with_tag(&format!("c:{connection_id}")).into_iter().next()?;
        Some(self.socket_ids(&ws).0)
    }
}

impl Writer {
    /// Counts a request against its endpoint's budget; its usage goes into the headers.
    fn count_request(
        &self,
        settings: &AppSettings,
        cmd: &Command,
        t: &mut Timing,
        at: Timestamp,
    ) -> Result<(), ApiError> {
        let (usage, allowed) = self.rates.borrow_mut().hit(cmd.platform(), cmd.route.op(), settings.stored(), at);
        t.rate = Some(usage);
        allowed
    }

    /// `GET /rate_limits` (server-side only): this minute's budgets.
    fn rate_limits(&self, settings: &AppSettings, cmd: &Command, at: Timestamp) -> Result<Value, ApiError> {
        ops::require_server(&cmd.claims.caller, "GetRateLimits")?;
        let asked = cmd.payload.as_deref().and_then(|p| json::parse(p).ok()).unwrap_or(Value::Null);
        let platforms: Vec<rate_limits::Platform> = rate_limits::Platform::ALL
            .into_iter()
            .filter(|p| {
                asked.get("platforms").and_then(Value::as_array).is_some_and(|a| a.iter().any(|n| n == p.name()))
            })
            .collect();
        let endpoints: Option<Vec<String>> = asked
            .get("endpoints")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect());
        Ok(self.rates.borrow_mut().view(&platforms, endpoints.as_deref(), settings.stored(), at))
    }

    fn db(&self) -> Db {
        Db::new(self.state.storage().as_raw())
    }

    /// Creates the schema and imports the previous version's data, once, before anything else
    /// is served.
    async fn ensure_ready(&self) -> Result<(), ApiError> {
        if self.ready.get() {
            return Ok(());
        }
        let (storage, env) = (self.state.storage(), self.env.clone());
        let imported = self
            .state
            .block_concurrency_while(async move { Ok(import(storage, env).await) })
            .await
            .map_err(|e| ApiError::internal(format!("storage error: import: {e}")))?;
        imported?;
        self.ready.set(true);
        Ok(())
    }

    /// Sets the alarm for the earliest due outbox entry, if there is one and no alarm is set.
    async fn schedule_drain(&self, db: &Db) {
        if self.alarm_set.get() || self.draining.get() {
            return;
        }
        let earliest = |table: &str| {
            db.first(&format!("SELECT min(due_ms) FROM {table}"), &[]).ok().flatten().and_then(|r| r.int(0))
        };
        let tasks = self.tasks_runnable(db).then(now_ms);
        // While sockets are open, the alarm also looks for connections that stopped pinging.
        let sweep = (!self.state.get_websockets().is_empty()).then(|| now_ms() + self.ping_timeout(db).min(SWEEP_MS));
        let due = [earliest("outbox"), earliest("webhooks"), tasks, sweep].into_iter().flatten().min();
        if let Some(due) = due {
            let at = js_sys::Date::new(&JsValue::from_f64(due as f64));
            if self.state.storage().set_alarm(worker::ScheduledTime::new(at)).await.is_ok() {
                self.alarm_set.set(true);
            }
        }
    }

    /// The user and connection ids of a socket (its tags).
    fn socket_ids(&self, ws: &WebSocket) -> (String, String) {
        let tags = self.state.get_tags(ws);
        let tag = |p: &str| tags.iter().find_map(|t| t.strip_prefix(p)).unwrap_or_default().to_string();
        (tag("u:"), tag("c:"))
    }

    /// Sends a frame to every open socket with this tag (but the connection `except`).
    fn send_tagged(&self, tag: &str, frame: &str, except: Option<&str>) {
        for ws in self.state.get_websockets_with_tag(tag) {
            if except.is_some_and(|c| self.socket_ids(&ws).1 == c) {
                continue;
            }
            let _ = ws.send_with_str(frame);
        }
    }

    /// `GET /connect`, forwarded by the Worker after its checks: the connect merge, then a socket
    /// accepted with the hibernation API and tagged with its user and connection ids.
    async fn open_socket(&self, req: &Request) -> worker::Result<Response> {
        let params = super::Target::of(req).params();
        let line = params.get("cmd").cloned().unwrap_or_default();
        let json_param = params.get("json").cloned().unwrap_or_default();
        let WebSocketPair { client, server } = WebSocketPair::new()?;
        let opened = match Command::decode(format!("{line}\n").as_bytes()) {
            Ok((cmd, _)) => match self.ensure_ready().await {
                Ok(()) => {
                    let db = self.db();
                    let at = now();
                    let mut t = Timing { started_ms: cmd.started_ms, kv_ops: 0, rate: None };
                    store::load_settings(&db)
                        .and_then(|s| self.count_request(&s, &cmd, &mut t, at).map(|()| s))
                        .and_then(|s| connect(&db, &cmd, &s, json_param.as_bytes(), at))
                        .and_then(|c| Ok((c, super::connect::uuid_v4()?, db, at)))
                }
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        };
        match opened {
            Ok(((me, user, changed), connection_id, db, at)) => {
                let id = user.get("id").and_then(Value::as_str).unwrap_or_default().to_string();
                let first = !self.connected(&id);
                let (user_tag, connection_tag) = (format!("u:{id}"), format!("c:{connection_id}"));
                self.state.accept_websocket_with_tags(&server, &[&user_tag, &connection_tag]);
                set_last_seen(&server, now_ms());
                server.send_with_str(super::connect::health_check(&connection_id, at, Some(me)))?;
                if changed {
                    self.publish(&db, Publish::Connected(user.clone(), connection_id.clone()), at);
                }
                if first && events::visible(&user) {
                    self.presence_changed(&db, &user, true, at);
                }
                self.schedule_drain(&db).await;
            }
            Err(e) => {
                server.accept()?;
                super::connect::refuse(&server, &e)?;
            }
        }
        Response::from_websocket(client)
    }

    /// A socket closed or failed: its subscriptions go, and when it was the user's last one the
    /// user goes offline (`last_active` written once, here, not on every ping).
    async fn socket_gone(&self, ws: &WebSocket) {
        let (user_id, connection_id) = self.socket_ids(ws);
        let db = self.db();
        let _ = db.run("DELETE FROM subscriptions WHERE connection_id = ?", &[connection_id.as_str().into()]);
        let others = self
            .state
            .get_websockets_with_tag(&format!("u:{user_id}"))
            .iter()
            .any(|o| self.socket_ids(o).1 != connection_id);
        if others || user_id.is_empty() {
            return;
        }
        let at = now();
        let Ok(Some(stored)) = store::load_user(&db, &user_id) else { return };
        if !user::is_active(&stored) {
            return;
        }
        let after = ops::went_offline(&stored, at);
        let mut before = BTreeMap::new();
        before.insert(user_id.clone(), Some(crate::core::index::index_row(&stored)));
        let commit = crate::core::ops::Commit {
            claims: Vec::new(),
            users: vec![after.clone()],
            releases: Vec::new(),
            response: Value::Null,
            status: 200,
        };
        let prepared = store::prepare(&commit, &before);
        let now_ms = at.0 / 1000;
        if db.transaction(move |db| store::apply(db, &prepared, now_ms)).is_ok() && events::visible(&after) {
            self.presence_changed(&db, &after, false, at);
        }
        self.schedule_drain(&db).await;
    }

    /// How long a connection may go without a ping before it counts as dropped: three missed
    /// 25-second pings (the test hook `ping-timeout` shortens it).
    fn ping_timeout(&self, db: &Db) -> i64 {
        let hooked = super::test_hooks(&self.env)
            .then(|| store::meta(db, "ping_timeout_ms").ok().flatten().and_then(|v| v.parse::<i64>().ok()))
            .flatten();
        hooked.unwrap_or(PING_TIMEOUT_MS)
    }

    /// Closes the connections that stopped pinging (a client gone without closing its socket)
    /// and takes them off presence as if they had closed.
    async fn sweep_sockets(&self) {
        let timeout = self.ping_timeout(&self.db());
        let now = now_ms();
        let stale: Vec<WebSocket> =
            self.state.get_websockets().into_iter().filter(|ws| now - last_seen(ws).unwrap_or(now) > timeout).collect();
        for ws in stale {
            let _ = ws.close(Some(1000), Some("missed pings"));
            self.socket_gone(&ws).await;
        }
    }

    /// `user.presence.changed` to the user's watchers and webhooks.
    fn presence_changed(&self, db: &Db, u: &User, online: bool, at: Timestamp) {
        let Ok(settings) = store::load_settings(db) else { return };
        let event = events::presence_event(u, online, &settings, at);
        let id = u.get("id").and_then(Value::as_str).unwrap_or_default();
        let watching = watchers(db, &[id]);
        self.to_watchers(watching.get(id), &json::text(&event), None);
        self.queue_webhooks(db, &settings, id, &event);
    }

    /// Sends a frame to these watching connections (but the ones of `except_user`).
    fn to_watchers(&self, connections: Option<&Vec<String>>, frame: &str, except_user: Option<&str>) {
        for c in connections.into_iter().flatten() {
            for ws in self.state.get_websockets_with_tag(&format!("c:{c}")) {
                if except_user.is_some_and(|u| self.socket_ids(&ws).0 == u) {
                    continue;
                }
                let _ = ws.send_with_str(frame);
            }
        }
    }

    /// Queues an event for each webhook the app has (after the write committed, before any
    /// await: the rows commit with it).
    fn queue_webhooks(&self, db: &Db, settings: &AppSettings, user_id: &str, event: &Value) {
        let kind = event.get("type").and_then(Value::as_str).unwrap_or_default();
        let body = json::text(event);
        for url in events::webhook_targets(settings, kind) {
            let Ok(delivery) = super::connect::uuid_v4() else { continue };
            let _ = db.run(
                "INSERT INTO webhooks (delivery_id, user_id, url, body, attempts, due_ms) VALUES (?, ?, ?, ?, 0, ?)",
                &[delivery.as_str().into(), user_id.into(), url.as_str().into(), body.as_str().into(), now_ms().into()],
            );
        }
    }

    /// Delivers a committed change: events to the users' own connections (with `me`) and to
    /// their watchers, and to the app's webhooks.
    fn publish(&self, db: &Db, publish: Publish, at: Timestamp) {
        let Ok(settings) = store::load_settings(db) else { return };
        let (change, users, except) = match publish {
            Publish::Users(change, users) => (change, users, None),
            Publish::Connected(user, connection) => (UserChange::Updated, vec![user], Some(connection)),
            Publish::Custom(user_id, event) => {
                self.send_tagged(&format!("u:{user_id}"), &json::text(&event), None);
                self.queue_webhooks(db, &settings, &user_id, &event);
                return;
            }
        };
        // Nothing to do without sockets (no one to tell, no one watching) and without webhooks:
        // a batch write then pays no per-user work here.
        let sockets = !self.state.get_websockets().is_empty();
        let hooks = !events::webhook_targets(&settings, change.event_type()).is_empty();
        if !sockets && !hooks {
            return;
        }
        let ids: Vec<&str> = users.iter().map(|u| u.get("id").and_then(Value::as_str).unwrap_or_default()).collect();
        let watching = if sockets { watchers(db, &ids) } else { BTreeMap::new() };
        for (u, id) in users.iter().zip(ids) {
            let online = sockets && self.connected(id) && events::visible(u);
            let event = events::user_event(change, u, online, &settings, at);
            if sockets {
                let own = json::text(&events::for_self(&event, u, &settings));
                self.send_tagged(&format!("u:{id}"), &own, except.as_deref());
                self.to_watchers(watching.get(id), &json::text(&event), Some(id));
            }
            if hooks {
                self.queue_webhooks(db, &settings, id, &event);
            }
        }
    }

    /// POSTs due webhook events, the oldest pending one of each user at a time (in order per
    /// user), signed with the app secret; a failure is retried with backoff up to
    /// [`WEBHOOK_ATTEMPTS`] times.
    async fn deliver_webhooks(&self) -> Result<(), ApiError> {
        // One delivery round at a time (the alarm and the test hook may both call it): two
        // rounds would send the same attempt twice.
        if self.delivering.replace(true) {
            return Ok(());
        }
        let result = self.deliver_round().await;
        self.delivering.set(false);
        result
    }

    async fn deliver_round(&self) -> Result<(), ApiError> {
        let db = self.db();
        let now = now_ms();
        let mut due = Vec::new();
        for row in db.rows(
            "SELECT w.id, w.delivery_id, w.url, w.body, w.attempts FROM webhooks w WHERE w.due_ms <= ? \
             AND w.id = (SELECT min(id) FROM webhooks WHERE user_id = w.user_id) ORDER BY w.id LIMIT 50",
            &[now.into()],
        )? {
            let row = row?;
            if let (Some(id), Some(delivery), Some(url), Some(body)) =
                (row.int(0), row.text(1), row.text(2), row.text(3))
            {
                due.push((id, delivery, url, body, row.int(4).unwrap_or(0)));
            }
        }
        if due.is_empty() {
            return Ok(());
        }
        let creds = super::Credentials::from_env(&self.env)?;
        let mut posts = Vec::with_capacity(due.len());
        for (_, delivery, url, body, attempts) in &due {
            posts.push(post_webhook(url, body, delivery, attempts + 1, &creds, now / 1000));
        }
        let answers = kv::settle_values(posts).await?;
        let db = self.db();
        let done = now_ms();
        for ((id, _, _, _, attempts), answer) in due.iter().zip(answers) {
            // Delivered: the receiver answered 2xx.
            let ok =
                answer.is_some_and(|r| js_sys::Reflect::get(&r, &JsValue::from_str("ok")).ok() == Some(JsValue::TRUE));
            if ok || attempts + 1 >= WEBHOOK_ATTEMPTS {
                db.run("DELETE FROM webhooks WHERE id = ?", &[(*id).into()])?;
                if !ok {
                    let dropped =
                        store::meta(&db, "webhooks_dropped")?.and_then(|v| v.parse::<i64>().ok()).unwrap_or(0);
                    store::set_meta(&db, "webhooks_dropped", &(dropped + 1).to_string())?;
                }
            } else {
                db.run(
                    "UPDATE webhooks SET attempts = attempts + 1, due_ms = ? WHERE id = ?",
                    &[(done + backoff_ms(*attempts)).into(), (*id).into()],
                )?;
            }
        }
        Ok(())
    }

    /// Test hook `task-budget`: how many more task steps may run (`None`: no limit). At 0 the
    /// Writer behaves as if it had been evicted mid-task, until the budget is lifted.
    fn task_budget(&self, db: &Db) -> Option<i64> {
        if !super::test_hooks(&self.env) {
            return None;
        }
        store::meta(db, "task_budget").ok().flatten().and_then(|v| v.parse::<i64>().ok())
    }

    fn tasks_runnable(&self, db: &Db) -> bool {
        self.task_budget(db) != Some(0) && store::next_task(db).ok().flatten().is_some()
    }

    /// Runs batch tasks, user by user, oldest first: each user's change commits in the same
    /// transaction as the task's progress, so a task resumes exactly where it stopped.
    fn run_tasks(&self, db: &Db) -> Result<(), ApiError> {
        for _ in 0..TASK_STEPS {
            let budget = self.task_budget(db);
            if budget == Some(0) {
                return Ok(());
            }
            let Some(mut task) = store::next_task(db)? else { return Ok(()) };
            let at = now();
            let changed = run_step(db, &mut task, budget, at)?;
            if let Some((change, user)) = changed {
                self.publish(db, Publish::Users(change, vec![user]), at);
            }
        }
        Ok(())
    }

    /// Writes due outbox entries to KV, a batch at a time, then sets the alarm for the rest.
    async fn drain(&self) -> Result<(), ApiError> {
        if self.draining.replace(true) {
            return Ok(());
        }
        let result = self.drain_rounds().await;
        self.draining.set(false);
        let db = self.db();
        self.schedule_drain(&db).await;
        result
    }

    async fn drain_rounds(&self) -> Result<(), ApiError> {
        let kv = KvNamespace::from_env(&self.env, "USERS")?;
        let hooks = super::test_hooks(&self.env);
        for _ in 0..DRAIN_ROUNDS {
            let db = self.db();
            let now = now_ms();
            let mut due = Vec::new();
            for row in db.rows(
                "SELECT key, value, seq, attempts FROM outbox WHERE due_ms <= ? ORDER BY due_ms LIMIT ?",
                &[now.into(), DRAIN_BATCH.into()],
            )? {
                let row = row?;
                if let (Some(key), Some(seq)) = (row.text(0), row.int(2)) {
                    due.push((key, row.text(1), seq, row.int(3).unwrap_or(0)));
                }
            }
            if due.is_empty() {
                return Ok(());
            }
            let fault = if hooks { store::meta(&db, "kv_fault")?.unwrap_or_default() } else { String::new() };
            if let Some(ms) = fault.strip_prefix("delay:").and_then(|m| m.parse::<u64>().ok()) {
                worker::Delay::from(std::time::Duration::from_millis(ms)).await;
            }
            let mut writes = Vec::with_capacity(due.len());
            for (key, value, seq, _) in &due {
                // Counted as written from the moment it is sent, whatever the outcome.
                db.run(
                    "INSERT OR REPLACE INTO kv_sent (key, at_ms) VALUES (?, ?)",
                    &[key.as_str().into(), now.into()],
                )?;
                let switch = FaultSwitch { mode: &fault, now, hooks };
                writes.push(self.kv_write(&kv, key, value.as_deref(), *seq, &switch));
            }
            let outcomes = kv::settle(writes).await?;
            let db = self.db();
            let done = now_ms();
            for ((key, _, seq, attempts), ok) in due.iter().zip(outcomes) {
                let key = key.as_str();
                if ok {
                    db.run("DELETE FROM outbox WHERE key = ? AND seq = ?", &[key.into(), (*seq).into()])?;
                    // A newer value that arrived meanwhile waits out the key's second.
                    db.run(
                        "UPDATE outbox SET due_ms = max(due_ms, ?) WHERE key = ?",
                        &[(now + KEY_INTERVAL_MS).into(), key.into()],
                    )?;
                } else {
                    db.run(
                        "UPDATE outbox SET attempts = attempts + 1, due_ms = ? WHERE key = ?",
                        &[(done + backoff_ms(*attempts)).max(now + KEY_INTERVAL_MS).into(), key.into()],
                    )?;
                }
            }
            db.run("DELETE FROM kv_sent WHERE at_ms < ?", &[(now - KEY_INTERVAL_MS).into()])?;
        }
        Ok(())
    }

    /// Starts one KV write (`value` `None`: delete), through the test-only fault switch.
    fn kv_write(
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

    /// Test-only routes (`ROSTER_TEST_HOOKS = "1"`): the KV fault switch, a forced drain, the
    /// outbox's state and the stored rows.
    async fn test_hook(&self, what: &str, body: &[u8]) -> worker::Result<Response> {
        let db = self.db();
        let reply = |v: Value| Response::from_bytes(json::text(&v).into_bytes());
        match what {
            "kv-fault" => {
                let mode = String::from_utf8_lossy(body).trim().to_string();
                let set = Some(mode.as_str()).filter(|m| !m.is_empty() && *m != "none");
                store::put_meta(&db, "kv_fault", set).map_err(|e| worker::Error::RustError(e.reason))?;
                reply(object([("kv_fault", Value::from(mode))]))
            }
            "ping-timeout" => {
                let ms = String::from_utf8_lossy(body).trim().to_string();
                store::set_meta(&db, "ping_timeout_ms", &ms).map_err(|e| worker::Error::RustError(e.reason))?;
                self.alarm_set.set(false);
                self.schedule_drain(&db).await;
                reply(object([("ping_timeout_ms", Value::from(ms))]))
            }
            "task-budget" => {
                let budget = String::from_utf8_lossy(body).trim().to_string();
                let set = Some(budget.as_str()).filter(|b| !b.is_empty());
                store::put_meta(&db, "task_budget", set).map_err(|e| worker::Error::RustError(e.reason))?;
                reply(object([("task_budget", Value::from(budget))]))
            }
            "drain" => {
                self.run_tasks(&db).map_err(|e| worker::Error::RustError(e.reason))?;
                db.run("UPDATE webhooks SET due_ms = min(due_ms, ?)", &[Arg::Int(now_ms())])
                    .map_err(|e| worker::Error::RustError(e.reason))?;
                self.deliver_webhooks().await.map_err(|e| worker::Error::RustError(e.reason))?;
                // Entries backing off are due again (once their key's second has passed).
                db.run(
                    "UPDATE outbox SET due_ms = max(?1, coalesce((SELECT at_ms + 1000 FROM kv_sent \
                     WHERE kv_sent.key = outbox.key), 0))",
                    &[Arg::Int(now_ms())],
                )
                .map_err(|e| worker::Error::RustError(e.reason))?;
                self.drain().await.map_err(|e| worker::Error::RustError(e.reason))?;
                reply(self.outbox_state(&db))
            }
            "outbox" => reply(self.outbox_state(&db)),
            "users" => {
                let rows = store::all_users(&db).map_err(|e| worker::Error::RustError(e.reason))?;
                let users: serde_json::Map<String, Value> = rows
                    .into_iter()
                    .map(|(id, text)| (id, json::parse(&text).unwrap_or(Value::String(text))))
                    .collect();
                reply(object([("users", Value::Object(users))]))
            }
            "scan" => {
                // The query answered by a full scan in the core, to compare with the indexed plan.
                let payload = String::from_utf8_lossy(body);
                let answer = store::all_users(&db).and_then(|rows| {
                    let q = query::parse(&payload)?;
                    let users = rows.iter().map(|(id, t)| store::parse_user(id, t)).collect::<Result<Vec<_>, _>>()?;
                    let found = query::run(&q, &users).into_iter().map(|u| Value::Object(user::public_view(u)));
                    Ok(object([("users", Value::Array(found.collect()))]))
                });
                reply(answer.map_err(|e| worker::Error::RustError(e.reason))?)
            }
            _ => Response::error("unknown test hook", 404),
        }
    }

    fn outbox_state(&self, db: &Db) -> Value {
        let count = |sql: &str| db.first(sql, &[]).ok().flatten().and_then(|r| r.int(0)).unwrap_or(-1);
        let stats = self.stats.borrow();
        object([
            ("pending", Value::from(count("SELECT count(*) FROM outbox"))),
            (
                "seq",
                Value::from(store::meta(db, "seq").ok().flatten().and_then(|s| s.parse::<i64>().ok()).unwrap_or(0)),
            ),
            ("kv_puts", Value::from(stats.puts)),
            ("kv_failures", Value::from(stats.failures)),
            ("kv_too_fast", Value::from(stats.too_fast)),
            ("commands", Value::from(stats.commands)),
            ("webhooks_pending", Value::from(count("SELECT count(*) FROM webhooks"))),
            ("subscriptions", Value::from(count("SELECT count(*) FROM subscriptions"))),
        ])
    }
}

fn now() -> Timestamp {
    Timestamp::from_millis(now_ms())
}

/// The request body as JSON: `null` when empty or blank.
fn parse_body(body: &[u8]) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    json::parse_slice(body).map_err(|e| ApiError::input(format!("invalid JSON body: {e}")))
}

/// The checks that need state: `disable_auth_checks` for an unsigned token, the app's and the
/// caller's own revocation cut-offs. Returns the snapshot to start from (holding the caller's
/// record, read for its cut-off) and the loader that read it.
fn authorize<'a>(db: &'a Db, cmd: &Command, settings: &AppSettings) -> Result<(Snapshot, SqlLoader<'a>), ApiError> {
    if cmd.unsigned && !settings.disable_auth_checks() {
        return Err(ApiError::new(code::TOKEN_SIGNATURE, 401, "Token signature is invalid"));
    }
    auth::check_user_revocation(&cmd.claims, settings.revoke_tokens_issued_before())?;
    let mut loader = SqlLoader { db, before: BTreeMap::new() };
    let mut snap = Snapshot::new(settings.clone());
    if let Caller::User(id) = &cmd.claims.caller {
        let loaded = loader.load(&Need { users: vec![id.clone()], names: Vec::new() })?;
        let cutoff = loaded
            .users
            .first()
            .and_then(|(_, u)| u.as_ref())
            .and_then(|u| u.get("revoke_tokens_issued_before"))
            .and_then(Value::as_str)
            .and_then(Timestamp::parse);
        auth::check_user_revocation(&cmd.claims, cutoff)?;
        snap.load_users(loaded.users);
        snap.names.extend(loaded.names);
    }
    Ok((snap, loader))
}

/// Runs one command: read, decide, commit. Synchronous from start to end.
fn execute(
    db: &Db,
    cmd: &Command,
    settings: &AppSettings,
    body: &[u8],
    at: Timestamp,
    presence: &dyn Presence,
) -> Result<(Value, u16, Option<Publish>), OpError> {
    let op = cmd.route.op();
    let fail = |error| OpError { op, error };
    let (snap, mut loader) = authorize(db, cmd, settings).map_err(fail)?;
    let mut body = parse_body(body).map_err(fail)?;
    if cmd.v2 {
        body = v2::body_in(&body);
        body = match cmd.route {
            Route::Upsert => v2::upsert_in(&body),
            Route::Partial => v2::partial_in(&body),
            _ => Ok(body),
        }
        .map_err(fail)?;
    } else if let (Route::Upsert | Route::Partial, Some(name)) = (&cmd.route, v2::v1_names_shadowed(&body)) {
        return Err(fail(ApiError::field(name.clone(), format!("{name} is a reserved field"))));
    }
    if matches!(cmd.route, Route::Upsert | Route::Partial) {
        // Checked here, with no await before the commit: two writers expecting one version
        // cannot both pass.
        let ids = batch_ids(&body);
        let expected = precondition::take(&mut body, cmd.if_match.as_deref(), &ids).map_err(fail)?;
        if !expected.is_empty() {
            let ids: Vec<String> = expected.iter().map(|(id, _)| id.clone()).collect();
            precondition::check(&expected, &store::versions(db, &ids).map_err(fail)?).map_err(fail)?;
        }
    }
    let (body, caller) = (&body, &cmd.claims.caller);
    let operation: Box<OpFn<'_>> = match &cmd.route {
        Route::GetApp => return Ok((ops::get_app(settings), 200, None)),
        Route::Query => {
            let payload = cmd.payload.as_deref().unwrap_or("{}");
            let q = match (cmd.v2, json::parse(payload)) {
                (true, Ok(p)) => query::parse_value(&v2::query_in(&p)),
                _ => query::parse(payload),
            }
            .map_err(fail)?;
            let me = match caller {
                Caller::User(id) => snap.stored_user(id),
                Caller::Server => None,
            };
            let q = tenancy::restrict_query(q, caller, me, settings).map_err(fail)?;
            let walk = cursor::Walk::of(&q).map_err(fail)?;
            let cursor::Page { users: found, next, prev } = store::query_page(db, &q, walk.as_ref()).map_err(fail)?;
            if let (true, Some(conn)) = (q.presence, &cmd.connection_id) {
                watch(db, presence, caller, conn, &found).map_err(fail)?;
            }
            let users = found
                .iter()
                .map(|u| {
                    let mut shown = tenancy::shown(u, caller, settings);
                    let id = u.get("id").and_then(Value::as_str).unwrap_or_default();
                    shown.insert("online".into(), Value::Bool(presence.connected(id) && events::visible(u)));
                    Value::Object(shown)
                })
                .collect();
            return Ok((cursor::with_cursors(object([("users", Value::Array(users))]), next, prev), 200, None));
        }
        Route::UpdateApp => {
            let patch = if body.is_null() { object([]) } else { body.clone() };
            let updated = ops::update_app(settings, &patch, caller).map_err(fail)?;
            if updated != *settings {
                let (text, now) = (updated.to_json(), at.0 / 1000);
                db.transaction(move |db| store::save_settings(db, &text, now)).map_err(fail)?;
            }
            return Ok((object([]), 200, None));
        }
        // Parsed once, not in every round of the load loop (the first round would fail alike).
        Route::Upsert => {
            let batch = ops::UpsertBatch::parse(body, caller).map_err(fail)?;
            Box::new(move |s| ops::upsert_parsed(&batch, caller, at, s))
        }
        Route::Partial => {
            let batch = ops::PartialBatch::parse(body, caller, settings).map_err(fail)?;
            Box::new(move |s| ops::partial_update_parsed(&batch, caller, at, s))
        }
        Route::Deactivate(id) => Box::new(move |s| ops::deactivate_user(id, body, caller, at, s)),
        Route::Reactivate(id) => Box::new(move |s| ops::reactivate_user(id, body, caller, at, s)),
        Route::Delete(id) => {
            let hard = cmd.hard;
            Box::new(move |s| ops::delete_user(id, hard, caller, at, s))
        }
        Route::Restore => Box::new(move |s| ops::restore_users(body, caller, at, s)),
        Route::DeleteUsers | Route::DeactivateUsers | Route::ReactivateUsers | Route::ExportUsers => {
            let request = match &cmd.route {
                Route::DeleteUsers => tasks::delete_users(body, caller),
                Route::DeactivateUsers => tasks::batch_lifecycle(TaskKind::Deactivate, body, caller),
                Route::ReactivateUsers => tasks::batch_lifecycle(TaskKind::Reactivate, body, caller),
                _ => tasks::export_users(body, caller),
            }
            .map_err(fail)?;
            let id = super::connect::uuid_v4().map_err(fail)?;
            let (task_id, stamp) = (id.clone(), at.to_string());
            db.transaction(move |db| store::insert_task(db, &task_id, &request, &stamp)).map_err(fail)?;
            let publish = run_task_now(db, &id, at).map_err(fail)?;
            return Ok((object([("task_id", Value::from(id))]), 201, publish));
        }
        Route::Changes => {
            ops::require_server(caller, "GetUserChanges").map_err(fail)?;
            let params = json::parse(cmd.payload.as_deref().unwrap_or("{}")).unwrap_or(Value::Null);
            let param = |name: &str| params.get(name).and_then(Value::as_str);
            let req =
                feed::request(param("since"), param("limit"), store::current_seq(db).map_err(fail)?).map_err(fail)?;
            let rows = store::changes(db, &req.since, req.limit).map_err(fail)?;
            return Ok((feed::page(&req, &rows), 200, None));
        }
        Route::GetTask(id) => {
            ops::require_server(caller, "GetTask").map_err(fail)?;
            let task = store::load_task(db, id).map_err(fail)?.ok_or_else(|| fail(tasks::unknown_task(id)))?;
            return Ok((task.state().view(), 200, None));
        }
        Route::ExportUser(id) => {
            tasks::check_export(caller).map_err(fail)?;
            user::validate_id(id).map_err(fail)?;
            return export(db, id).map(|e| (e, 200, None)).map_err(fail);
        }
        Route::SendEvent(id) => {
            ops::require_server(caller, "SendUserCustomEvent").map_err(fail)?;
            user::validate_id(id).map_err(fail)?;
            let event = events::custom_event(body, at).map_err(fail)?;
            if !store::load_user(db, id).map_err(fail)?.is_some_and(|u| user::is_active(&u)) {
                return Err(fail(ApiError::not_found(format!("user '{id}' does not exist"))));
            }
            let publish = Publish::Custom(id.clone(), event.clone());
            return Ok((object([("event", event)]), 201, Some(publish)));
        }
        Route::Connect | Route::Guest | Route::RateLimits | Route::Test(_) | Route::NotFound => {
            return Err(fail(ApiError::route_not_found()))
        }
    };
    let commit = drive::drive(&mut loader, snap, op, &*operation)?;
    let prepared = store::prepare(&commit, &loader.before);
    let now = at.0 / 1000;
    db.transaction(move |db| store::apply(db, &prepared, now)).map_err(fail)?;
    let change = match cmd.route {
        Route::Deactivate(_) => UserChange::Deactivated,
        Route::Reactivate(_) => UserChange::Reactivated,
        Route::Delete(_) => UserChange::Deleted,
        _ => UserChange::Updated,
    };
    Ok((commit.response, commit.status, Some(Publish::Users(change, commit.users))))
}

/// The user ids a body names: `users` as an object keyed by id (an upsert, its answer) or a
/// list of objects with `id` (a partial update, a query's answer).
fn batch_ids(body: &Value) -> Vec<String> {
    match body.get("users") {
        Some(Value::Object(m)) => m.keys().cloned().collect(),
        Some(Value::Array(a)) => a.iter().filter_map(|u| u.get("id")?.as_str().map(str::to_string)).collect(),
        _ => Vec::new(),
    }
}

/// Adds `versions: {id: version}` for the users an answer returns (`users` as an object or a
/// list, or one `user`), and the version when there is exactly one, for an `ETag` header.
fn attach_versions(db: &Db, value: &mut Value) -> Result<Option<i64>, ApiError> {
    let ids: Vec<String> = match (value.get("users"), value.get("user")) {
        (Some(Value::Object(_) | Value::Array(_)), _) => batch_ids(value),
        (None, Some(u)) => u.get("id").and_then(Value::as_str).map(str::to_string).into_iter().collect(),
        _ => return Ok(None),
    };
    let versions = store::versions(db, &ids)?;
    let single = match ids.as_slice() {
        [id] => precondition::version_of(&versions, id),
        _ => None,
    };
    if let Value::Object(m) = value {
        let shown = versions.into_iter().map(|(id, v)| (id, Value::from(v))).collect();
        m.insert("versions".into(), Value::Object(shown));
    }
    Ok(single)
}

/// The connections watching each of these users (one query for a whole batch).
fn watchers(db: &Db, ids: &[&str]) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let list = json::text(&Value::from(ids.iter().map(|i| Value::from(*i)).collect::<Vec<_>>()));
    let sql = "SELECT user_id, connection_id FROM subscriptions WHERE user_id IN (SELECT value FROM json_each(?))";
    if let Ok(rows) = db.rows(sql, &[list.as_str().into()]) {
        for row in rows.flatten() {
            if let (Some(user), Some(connection)) = (row.text(0), row.text(1)) {
                out.entry(user).or_default().push(connection);
            }
        }
    }
    out
}

/// Subscribes a connection to the users a `presence: true` query returned: the connection must
/// be open and the caller's own; at most [`MAX_SUBSCRIPTIONS`] users per connection.
fn watch(db: &Db, presence: &dyn Presence, caller: &Caller, connection: &str, found: &[User]) -> Result<(), ApiError> {
    let ok = match (caller, presence.owner(connection)) {
        (_, None) => false,
        (Caller::User(id), Some(o)) => *id == o,
        (Caller::Server, Some(_)) => true,
    };
    if !ok || found.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> =
        found.iter().filter_map(|u| u.get("id").and_then(Value::as_str).map(str::to_string)).collect();
    let list = json::text(&Value::from(ids));
    let count = |sql: &str, args: &[Arg<'_>]| db.first(sql, args).map(|r| r.and_then(|r| r.int(0)).unwrap_or(0));
    let have = count("SELECT count(*) FROM subscriptions WHERE connection_id = ?", &[connection.into()])?;
    let new = count(
        "SELECT count(*) FROM json_each(?1) WHERE value NOT IN (SELECT user_id FROM subscriptions WHERE connection_id = ?2)",
        &[list.as_str().into(), connection.into()],
    )?;
    if have + new > MAX_SUBSCRIPTIONS {
        return Err(ApiError::input(format!(
            "a connection may watch at most {MAX_SUBSCRIPTIONS} users through presence queries"
        )));
    }
    db.run(
        "INSERT OR IGNORE INTO subscriptions (connection_id, user_id) SELECT ?2, value FROM json_each(?1)",
        &[list.as_str().into(), connection.into()],
    )
    .map(|_| ())
}

/// POSTs one webhook event: Stream's headers and `X-Signature` (HMAC-SHA256 of the body with
/// the app secret, hex), plus the delivery id, the attempt and a timestamp.
fn post_webhook(
    url: &str,
    body: &str,
    delivery: &str,
    attempt: i64,
    creds: &super::Credentials,
    now_secs: i64,
) -> Result<js_sys::Promise, ApiError> {
    let fail = |e: JsValue| ApiError::internal(format!("webhook: {e:?}"));
    let headers = worker::web_sys::Headers::new().map_err(fail)?;
    for (k, v) in [
        ("content-type", "application/json".to_string()),
        ("x-signature", events::signature(body, &creds.secret)),
        ("x-api-key", creds.key.clone()),
        ("x-webhook-id", delivery.to_string()),
        ("x-webhook-attempt", attempt.to_string()),
        ("x-webhook-timestamp", now_secs.to_string()),
    ] {
        headers.set(k, &v).map_err(fail)?;
    }
    let init = worker::web_sys::RequestInit::new();
    init.set_method("POST");
    init.set_headers(&headers);
    init.set_body(&JsValue::from_str(body));
    // A receiver that does not answer within 10 s counts as a failed attempt (the alarm waits
    // for the batch, so a hung receiver must not hold replication up).
    let timeout = js_sys::Reflect::get(&js_sys::global(), &JsValue::from_str("AbortSignal"))
        .and_then(|a| js_sys::Reflect::get(&a, &JsValue::from_str("timeout")).map(|t| (a, t)))
        .and_then(|(a, t)| t.unchecked_into::<js_sys::Function>().call1(&a, &JsValue::from_f64(WEBHOOK_TIMEOUT_MS)));
    if let Ok(signal) = timeout {
        init.set_signal(Some(&signal.unchecked_into()));
    }
    let request = worker::web_sys::Request::new_with_str_and_init(url, &init).map_err(fail)?;
    let fetch: js_sys::Function =
        js_sys::Reflect::get(&js_sys::global(), &JsValue::from_str("fetch")).map_err(fail)?.unchecked_into();
    Ok(fetch.call1(&JsValue::UNDEFINED, &request).map_err(fail)?.unchecked_into())
}

/// Runs the next user's step of `task` and commits it with the task's progress (and, with the
/// test hook's budget, one less step to go). Returns the change to publish.
fn run_step(
    db: &Db,
    task: &mut store::TaskRow,
    budget: Option<i64>,
    at: Timestamp,
) -> Result<Option<(UserChange, User)>, ApiError> {
    let Some(id) = task.user_ids.get(task.outcomes.len()).cloned() else { return Ok(None) };
    let (outcome, prepared, changed) = match task_step(db, task, &id, at) {
        Ok((value, prepared, changed)) => (Ok(value), prepared, changed),
        Err(e) => (Err(e), None, None),
    };
    task.outcomes.push((id, outcome));
    task.updated_at = at.to_string();
    let now = at.0 / 1000;
    let progress = task.clone();
    db.transaction(move |db| {
        if let Some(p) = &prepared {
            store::apply(db, p, now)?;
        }
        if let Some(b) = budget {
            store::set_meta(db, "task_budget", &(b - 1).to_string())?;
        }
        store::save_task_progress(db, &progress)
    })?;
    Ok(changed)
}

/// A batch delete, deactivate or reactivate (at most 100 users) runs to its end in its own
/// command: Stream's suites query the users right after the call and expect them changed.
/// Each user's step commits with the task's progress, with no await between the steps, so the
/// task reports every user at once. An export task runs later, from the alarm.
fn run_task_now(db: &Db, id: &str, at: Timestamp) -> Result<Option<Publish>, ApiError> {
    let Some(mut task) = store::load_task(db, id)? else { return Ok(None) };
    if task.kind == TaskKind::Export {
        return Ok(None);
    }
    let (mut change, mut users) = (None, Vec::new());
    while task.outcomes.len() < task.user_ids.len() {
        if let Some((c, user)) = run_step(db, &mut task, None, at)? {
            change = Some(c);
            users.push(user);
        }
    }
    Ok(change.map(|c| Publish::Users(c, users)))
}

/// One user's step of a task: the user after it (or its export), the writes to commit, and
/// the change to publish.
type TaskStep = (Value, Option<store::Prepared>, Option<(UserChange, User)>);

/// Runs one user's step of a task.
fn task_step(db: &Db, task: &store::TaskRow, id: &str, at: Timestamp) -> Result<TaskStep, String> {
    let settings = store::load_settings(db).map_err(|e| e.reason)?;
    let mut loader = SqlLoader { db, before: BTreeMap::new() };
    let server = Caller::Server;
    let options = &task.options;
    let (op, step): (crate::core::Operation, Box<OpFn<'_>>) = match task.kind {
        TaskKind::SoftDelete => {
            (crate::core::Operation::DeleteUser, Box::new(|s| ops::delete_user(id, false, &server, at, s)))
        }
        TaskKind::HardDelete => {
            (crate::core::Operation::DeleteUser, Box::new(|s| ops::delete_user(id, true, &server, at, s)))
        }
        TaskKind::Deactivate => {
            (crate::core::Operation::DeactivateUser, Box::new(|s| ops::deactivate_user(id, options, &server, at, s)))
        }
        TaskKind::Reactivate => {
            (crate::core::Operation::ReactivateUser, Box::new(|s| ops::reactivate_user(id, options, &server, at, s)))
        }
        TaskKind::Export => return export(db, id).map(|e| (e, None, None)).map_err(|e| e.reason),
    };
    let commit = drive::drive(&mut loader, Snapshot::new(settings), op, &*step).map_err(|e| e.error.reason)?;
    let shown = commit.response.get("user").cloned().unwrap_or(Value::Null);
    let change = match task.kind {
        TaskKind::Deactivate => UserChange::Deactivated,
        TaskKind::Reactivate => UserChange::Reactivated,
        _ => UserChange::Deleted,
    };
    let changed = commit.users.first().cloned().map(|u| (change, u));
    Ok((shown, Some(store::prepare(&commit, &loader.before)), changed))
}

/// `POST /guest` `{user}`: creates (or updates) a guest user, role `guest`, and answers it with
/// a user token. Only when the app has `roster_guests_enabled` on and is not multi-tenant (as
/// in Stream, guests and teams do not mix); an existing user that is no guest cannot be taken.
fn guest(db: &Db, env: &Env, body: &[u8], v2: bool, at: Timestamp) -> Result<(Value, User), ApiError> {
    let settings = store::load_settings(db)?;
    if !settings.guests_enabled() || settings.multi_tenant() {
        return Err(ApiError::not_allowed("guest users are not enabled for this app"));
    }
    let body = parse_body(body)?;
    let Some(Value::Object(input)) = body.get("user") else {
        return Err(ApiError::field("user", "user is a required field and must be an object"));
    };
    let id = user::id_of(input)?.to_string();
    let mut input = match v2 {
        true => match v2::user_in(&v2::body_in(&Value::Object(input.clone())), "user")? {
            Value::Object(flat) => flat,
            _ => input.clone(),
        },
        false if input.contains_key(user::SHADOWED) => {
            let name = format!("user.{}", user::SHADOWED);
            return Err(ApiError::field(name.clone(), format!("{name} is a reserved field")));
        }
        false => input.clone(),
    };
    input.insert("role".into(), Value::from("guest"));
    input.remove("teams");
    let mut loader = SqlLoader { db, before: BTreeMap::new() };
    if store::load_user(db, &id)?.is_some_and(|u| user::role_of(&u) != "guest") {
        return Err(ApiError::not_allowed(format!("user '{id}' exists and is not a guest")));
    }
    let mut users = serde_json::Map::new();
    users.insert(id.clone(), Value::Object(input));
    let request = object([("users", Value::Object(users))]);
    let commit = drive::drive(&mut loader, Snapshot::new(settings), crate::core::Operation::CreateGuest, &|s| {
        ops::upsert_users(&request, &Caller::Server, at, s)
    })
    .map_err(|e| e.error)?;
    let secret = super::Credentials::from_env(env)?.secret;
    let token = auth::user_token(&id, None, Some(at.secs()), &secret);
    let shown = commit.response.get("users").and_then(|u| u.get(&id)).cloned().unwrap_or(Value::Null);
    let prepared = store::prepare(&commit, &loader.before);
    let now = at.0 / 1000;
    db.transaction(move |db| store::apply(db, &prepared, now))?;
    let stored = commit.users.first().cloned().unwrap_or_default();
    Ok((object([("user", shown), ("access_token", Value::from(token))]), stored))
}

/// The export of a user (`GET /users/{id}/export`, and each step of an export task): 404 for
/// an unknown or hard-deleted id.
fn export(db: &Db, id: &str) -> Result<Value, ApiError> {
    match store::load_user(db, id)? {
        Some(u) if !user::is_hard_deleted(&u) => Ok(tasks::export_of(&u)),
        _ => Err(ApiError::not_found(format!("user '{id}' does not exist"))),
    }
}

/// The connect merge: the body is the `json` query parameter, `{user_id, user_details}`.
/// Returns `me`, the user as stored, and whether its data changed (not just `last_active`).
fn connect(
    db: &Db,
    cmd: &Command,
    settings: &AppSettings,
    body: &[u8],
    at: Timestamp,
) -> Result<(Value, User, bool), ApiError> {
    let payload = json::parse_slice(body).map_err(|e| ApiError::input(format!("invalid json query parameter: {e}")))?;
    let user_id = payload
        .get("user_id")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::input("json.user_id is a required field"))?
        .to_string();
    let details = payload.get("user_details").cloned().unwrap_or(Value::Null);
    let (snap, mut loader) = authorize(db, cmd, settings)?;
    let caller = &cmd.claims.caller;
    let commit = drive::drive(&mut loader, snap, crate::core::Operation::Connect, &|s| {
        ops::connect_user(&user_id, &details, caller, at, s)
    })
    .map_err(|e| e.error)?;
    let stored = commit.users.first().cloned().unwrap_or_default();
    let before = loader.before.get(&user_id).cloned().flatten();
    let changed = before.is_none_or(|b| b.updated_at != crate::core::index::index_row(&stored).updated_at);
    let prepared = store::prepare(&commit, &loader.before);
    let now = at.0 / 1000;
    db.transaction(move |db| store::apply(db, &prepared, now))?;
    Ok((commit.response, stored, changed))
}

// ------------------------------------------------------------------------------------ import

/// What the previous version stored: user records by id, and the app settings.
#[derive(Default)]
struct Legacy {
    users: BTreeMap<String, (String, bool)>,
    settings: Option<String>,
    /// KV keys of the previous username index (`n:…`), to delete from KV.
    name_keys: Vec<String>,
}

/// Imports the previous version's data into empty tables, once: this object's own key-value
/// storage first (the previous Writer committed there before writing through to KV), then
/// Workers KV for what it lacks. Unreadable records are kept as they are: reading them is a
/// storage error (500), as before, never "missing".
async fn import(storage: Storage, env: Env) -> Result<(), ApiError> {
    let db = Db::new(storage.as_raw());
    store::create_schema(&db)?;
    if store::meta(&db, "imported")?.is_some() {
        return Ok(());
    }
    let mut legacy = Legacy::default();
    for (key, text) in db.legacy_list("u:").await? {
        if let Some(id) = key.strip_prefix("u:") {
            legacy.users.insert(id.to_string(), (text, true));
        }
    }
    legacy.settings = db.legacy_get(SETTINGS_KEY).await?;
    if let Ok(kv) = KvNamespace::from_env(&env, "USERS") {
        import_kv(&kv, &mut legacy).await?;
    }
    let now = now_ms();
    db.transaction(move |db| write_import(db, &legacy, now))
}

async fn import_kv(kv: &KvNamespace, legacy: &mut Legacy) -> Result<(), ApiError> {
    for prefix in ["u:", "n:"] {
        let mut cursor = None;
        loop {
            let page = kv.list_page(prefix, 1000, cursor.take()).await?;
            let keys: Vec<String> = page.keys.into_iter().map(|(k, _)| k).collect();
            if prefix == "n:" {
                legacy.name_keys.extend(keys);
            } else {
                let missing: Vec<String> =
                    keys.into_iter().filter(|k| !legacy.users.contains_key(k.get(2..).unwrap_or_default())).collect();
                let mut reads = Vec::new();
                for chunk in missing.chunks(100) {
                    reads.push(kv.get_texts(chunk)?);
                }
                let maps = kv::all(reads).await?;
                for (chunk, map) in missing.chunks(100).zip(&maps) {
                    for (key, text) in chunk.iter().zip(kv::texts_of(map, chunk)) {
                        if let (Some(id), Some(text)) = (key.get(2..), text) {
                            legacy.users.insert(id.to_string(), (text, false));
                        }
                    }
                }
            }
            match page.cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
    }
    if legacy.settings.is_none() {
        legacy.settings = kv.get_text(SETTINGS_KEY).await?;
    }
    Ok(())
}

fn write_import(db: &Db, legacy: &Legacy, now: i64) -> Result<(), ApiError> {
    let seq = 1;
    let mut names: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut rows = Vec::with_capacity(legacy.users.len());
    let mut stale: Vec<(String, Option<&str>)> = Vec::new();
    for (id, (text, own)) in &legacy.users {
        // An unreadable record is kept as it is, with no index columns: reading it stays a
        // storage error.
        let columns = match store::parse_user(id, text) {
            Ok(u) => {
                if let Some(n) = username::held_key(&u) {
                    names.entry(n).or_default().push(id.clone());
                }
                crate::core::index::index_row(&u)
            }
            Err(_) => crate::core::index::IndexRow::default(),
        };
        rows.push((id.clone(), text.clone(), columns, None));
        if *own {
            // KV may lag the previous Writer's own storage: bring it up to date.
            stale.push((store::user_key(id), Some(text.as_str())));
        }
    }
    for chunk in rows.chunks(1000) {
        store::put_users(db, chunk, seq)?;
    }
    for (norm, ids) in &names {
        let text = json::text(&Value::from(ids.clone()));
        db.run(
            "INSERT OR REPLACE INTO names (norm, ids) VALUES (?, ?)",
            &[norm.as_str().into(), text.as_str().into()],
        )?;
    }
    if let Some(s) = &legacy.settings {
        db.run("INSERT OR REPLACE INTO settings (k, v) VALUES ('app', ?)", &[s.as_str().into()])?;
    }
    stale.extend(legacy.name_keys.iter().map(|k| (k.clone(), None)));
    for chunk in stale.chunks(1000) {
        store::enqueue(db, chunk, seq, now)?;
    }
    store::set_meta(db, "seq", &seq.to_string())?;
    store::set_meta(db, "imported", &legacy.users.len().to_string())
}
