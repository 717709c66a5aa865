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
//!
//! One file per concept: this one is the object (its state, the request entry, the alarm and its
//! scheduling, rate limits); `execute.rs` runs one command; `connections.rs` runs the hubs'
//! reports (connects, closes, presence, leases); `fanout.rs` queues for the hubs (and for
//! webhooks) what a commit changed; `delivery.rs` sends the hubs their events;
//! `webhooks.rs` delivers those; `outbox.rs` replicates to KV; `task_runs.rs` runs batch tasks;
//! `accounts.rs` guests and exports; `import.rs` the first start; `stats.rs` the operator's view
//! (`GET /roster/stats`); `hooks.rs` the test-only routes.

mod accounts;
mod connections;
mod delivery;
mod execute;
mod fanout;
#[cfg(feature = "test-hooks")]
mod hooks;
mod import;
mod outbox;
mod records;
mod stats;
mod task_runs;
mod webhooks;
use accounts::*;
use connections::*;
use execute::*;
use fanout::*;
use import::import;
use outbox::*;
use task_runs::*;

use super::command::Command;
use super::http::{self, Timing};
use super::kv::{self, KvNamespace};
use super::sql::Db;
use super::store::{self, SqlLoader, SETTINGS_KEY};
use super::{now, now_ms, Route};
use crate::core::access::auth::{self, Caller};
use crate::core::access::rate_limits;
use crate::core::engine::activity::{Activity, Ran};
use crate::core::engine::answers;
use crate::core::engine::drive;
use crate::core::engine::drive::OpFn;
use crate::core::engine::events::{self, UserChange};
use crate::core::engine::tasks::{self, TaskKind};
use crate::core::model::settings::AppSettings;
use crate::core::model::user::{self, User};
use crate::core::model::username;
use crate::core::model::v2;
use crate::core::ops::{self, Need, Snapshot};
use crate::core::query::feed;
use crate::core::query::payload;
use crate::core::query::precondition;
use crate::core::wire::error::OpError;
use crate::core::wire::error::{code, ApiError};
use crate::core::wire::json::{self, object};
use crate::core::wire::time::Timestamp;
use serde_json::Value;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use wasm_bindgen::{JsCast, JsValue};
use worker::{durable_object, js_sys, DurableObject, Env, Request, Response, State, Storage};

/// What the test hooks report about replication: KV writes made, failed, and refused because a
/// key was written again within a second (the deployed limit, simulated under test hooks).
#[derive(Default)]
struct KvStats {
    last_put: BTreeMap<String, i64>,
    puts: u64,
    failures: u64,
    too_fast: u64,
}

#[durable_object]
pub struct Writer {
    state: State,
    env: Env,
    ready: Cell<bool>,
    draining: Cell<bool>,
    delivering: Cell<bool>,
    /// The hubs a delivery of events is running to (`delivery.rs`), a sorted set.
    delivering_events: Rc<RefCell<Vec<String>>>,
    alarm_set: Cell<bool>,
    stats: RefCell<KvStats>,
    /// What ran here since this instance started (`GET /roster/stats`).
    activity: RefCell<Activity>,
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
            delivering_events: Rc::default(),
            alarm_set: Cell::new(false),
            stats: RefCell::default(),
            activity: RefCell::new(Activity::new(now_ms())),
            rates: RefCell::default(),
        }
    }

    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        let from_hub = super::Target::of(&req).path == "/hub";
        // The body first: this await opens the input gate, so it comes before any state is read.
        let raw = req.bytes().await?;
        if from_hub {
            return self.hub(&raw).await;
        }
        let (cmd, body) = match Command::decode(&raw) {
            Ok(c) => c,
            Err(e) => return http::failure(&e, Route::NotFound.op(), &Timing { started_ms: 0, kv_ops: 0, rate: None }),
        };
        // The Writer itself makes no KV operation while serving a request (only its alarm does).
        let mut t = Timing { started_ms: cmd.started_ms, kv_ops: cmd.kv_ops, rate: None };
        if !matches!(cmd.route, Route::Stats | Route::Test(_)) {
            self.activity.borrow_mut().record(Ran::Request, now_ms());
        }
        if let Err(e) = self.ensure_ready().await {
            return http::failure(&e, cmd.route.op(), &t);
        }
        let db = self.db();
        let at = now();
        #[cfg(feature = "test-hooks")]
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
        let response = self.run(&db, &cmd, &settings, body, at, &t);
        self.kick_delivery();
        self.schedule_drain(&db).await;
        response
    }

    async fn alarm(&self) -> worker::Result<Response> {
        self.alarm_set.set(false);
        if let Err(e) = self.ensure_ready().await {
            return Err(worker::Error::RustError(e.reason));
        }
        self.run_tasks(&self.db()).map_err(|e| worker::Error::RustError(e.reason))?;
        self.sweep_hubs(&self.db()).map_err(|e| worker::Error::RustError(e.reason))?;
        self.kick_delivery();
        self.deliver_webhooks().await.map_err(|e| worker::Error::RustError(e.reason))?;
        self.drain().await.map_err(|e| worker::Error::RustError(e.reason))?;
        Response::ok("")
    }
}

impl Writer {
    /// A hub's report (`connections.rs`): one command, answered with what the hub must do.
    async fn hub(&self, raw: &[u8]) -> worker::Result<Response> {
        if let Err(e) = self.ensure_ready().await {
            return Response::error(e.reason, 500);
        }
        let db = self.db();
        let answer = self.hub_report(&db, raw);
        self.kick_delivery();
        self.schedule_drain(&db).await;
        match answer {
            Ok(v) => Response::from_bytes(json::text(&v).into_bytes()),
            Err(e) => Response::error(e.reason, 500),
        }
    }

    /// One command after the request checks, synchronously: no await until it has committed.
    fn run(
        &self,
        db: &Db,
        cmd: &Command,
        settings: &AppSettings,
        body: &[u8],
        at: Timestamp,
        t: &Timing,
    ) -> worker::Result<Response> {
        let answer = match &cmd.route {
            Route::Stats => self.stats_view(db, cmd).map(|value| (value, 200, None)),
            Route::RateLimits => self.rate_limits(settings, cmd, at).map(|value| (value, 200, None)),
            Route::Connect => Err(ApiError::route_not_found()),
            Route::Guest => guest(db, &self.env, body, cmd.v2, at)
                .map(|(value, user)| (value, 201, Some(Publish::Users(UserChange::Updated, vec![user])))),
            _ => match execute(db, cmd, settings, body, at, self) {
                Ok(answer) => Ok(answer),
                Err(e) => return http::failure(&e.error, e.op, t),
            },
        };
        match answer {
            Ok(answer) => self.answered(db, cmd, answer, at, t),
            Err(e) => http::failure(&e, cmd.route.op(), t),
        }
    }

    /// A command's answer: its events published (before any await: their webhook rows commit
    /// with the write), the body in the caller's API version, versions and an `ETag` beside
    /// returned users.
    fn answered(&self, db: &Db, cmd: &Command, answer: Answer, at: Timestamp, t: &Timing) -> worker::Result<Response> {
        let (value, status, publish) = answer;
        if let Some(p) = publish {
            self.publish(db, p, at);
        }
        if matches!(cmd.route, Route::Stats | Route::RateLimits) {
            return http::success(value, status, t);
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
        let etag = if returns_users { attach_versions(db, &mut value) } else { Ok(None) };
        match (etag, http::success(value, status, t)) {
            (Ok(Some(v)), Ok(mut response)) => {
                response.headers_mut().set("etag", &precondition::etag(v))?;
                Ok(response)
            }
            (Err(e), _) => http::failure(&e, cmd.route.op(), t),
            (_, response) => response,
        }
    }

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
        let earliest = |queue| store::earliest_due(db, queue).ok().flatten();
        let tasks = self.tasks_runnable(db).then(now_ms);
        // While hubs hold connections, the alarm also looks for hubs whose lease lapsed.
        let lapse = store::next_lapse(db).ok().flatten().map(|l| l + 1);
        let due = [
            earliest(store::Queue::Outbox),
            earliest(store::Queue::Webhooks),
            earliest(store::Queue::HubEvents),
            tasks,
            lapse,
        ]
        .into_iter()
        .flatten()
        .min();
        if let Some(due) = due {
            let at = js_sys::Date::new(&JsValue::from_f64(due as f64));
            if self.state.storage().set_alarm(worker::ScheduledTime::new(at)).await.is_ok() {
                self.alarm_set.set(true);
            }
        }
    }
}
