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
use crate::core::drive::{self, Loader};
use crate::core::error::{code, ApiError};
use crate::core::json::{self, object};
use crate::core::memory::{OpError, OpFn};
use crate::core::ops::{self, Need, Snapshot};
use crate::core::query;
use crate::core::settings::AppSettings;
use crate::core::tasks::{self, TaskKind};
use crate::core::tenancy;
use crate::core::time::Timestamp;
use crate::core::user;
use crate::core::username;
use crate::core::v2;
use serde_json::Value;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use wasm_bindgen::JsValue;
use worker::{durable_object, js_sys, Date, DurableObject, Env, Request, Response, State, Storage};

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
    alarm_set: Cell<bool>,
    stats: RefCell<KvStats>,
}

impl DurableObject for Writer {
    fn new(state: State, env: Env) -> Self {
        Writer {
            state,
            env,
            ready: Cell::new(false),
            draining: Cell::new(false),
            alarm_set: Cell::new(false),
            stats: RefCell::default(),
        }
    }

    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        // The body first: this await opens the input gate, so it comes before any state is read.
        let raw = req.bytes().await?;
        let (cmd, body) = match Command::decode(&raw) {
            Ok(c) => c,
            Err(e) => return http::failure(&e, Route::NotFound.op(), &Timing { started_ms: 0, kv_ops: 0 }),
        };
        // The Writer itself makes no KV operation while serving a request (only its alarm does).
        let t = Timing { started_ms: cmd.started_ms, kv_ops: cmd.kv_ops };
        self.stats.borrow_mut().commands += 1;
        if let Err(e) = self.ensure_ready().await {
            return http::failure(&e, cmd.route.op(), &t);
        }
        let db = self.db();
        let response = match &cmd.route {
            Route::Test(what) if super::test_hooks(&self.env) => return self.test_hook(what, body).await,
            Route::Connect => connect_reply(connect(&db, &cmd, body, now())),
            Route::Guest => match guest(&db, &self.env, body, now()) {
                Ok(value) => http::success(value, 201, &t),
                Err(e) => http::failure(&e, cmd.route.op(), &t),
            },
            _ => match execute(&db, &cmd, body, now()) {
                Ok((value, status)) if cmd.v2 => http::success(v2::response_out(value), status, &t),
                Ok((value, status)) => http::success(value, status, &t),
                Err(e) => http::failure(&e.error, e.op, &t),
            },
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
        self.drain().await.map_err(|e| worker::Error::RustError(e.reason))?;
        Response::ok("")
    }
}

impl Writer {
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
        let outbox = db.first("SELECT min(due_ms) FROM outbox", &[]).ok().flatten().and_then(|r| r.int(0));
        let tasks = self.tasks_runnable(db).then(now_ms);
        let due = match (outbox, tasks) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if let Some(due) = due {
            let at = js_sys::Date::new(&JsValue::from_f64(due as f64));
            if self.state.storage().set_alarm(worker::ScheduledTime::new(at)).await.is_ok() {
                self.alarm_set.set(true);
            }
        }
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
            let Some(id) = task.user_ids.get(task.outcomes.len()).cloned() else { return Ok(()) };
            let at = now();
            let (outcome, prepared) = match task_step(db, &task, &id, at) {
                Ok((value, prepared)) => (Ok(value), prepared),
                Err(e) => (Err(e), None),
            };
            task.outcomes.push((id, outcome));
            task.updated_at = at.to_string();
            let now = at.0 / 1000;
            db.transaction(move |db| {
                if let Some(p) = &prepared {
                    store::apply(db, p, now)?;
                }
                if let Some(b) = budget {
                    store::set_meta(db, "task_budget", &(b - 1).to_string())?;
                }
                store::save_task_progress(db, &task)
            })?;
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
                let set = if mode.is_empty() || mode == "none" {
                    db.run("DELETE FROM meta WHERE k = 'kv_fault'", &[]).map(|_| ())
                } else {
                    store::set_meta(&db, "kv_fault", &mode)
                };
                set.map_err(|e| worker::Error::RustError(e.reason))?;
                reply(object([("kv_fault", Value::from(mode))]))
            }
            "task-budget" => {
                let budget = String::from_utf8_lossy(body).trim().to_string();
                let set = if budget.is_empty() {
                    db.run("DELETE FROM meta WHERE k = 'task_budget'", &[]).map(|_| ())
                } else {
                    store::set_meta(&db, "task_budget", &budget)
                };
                set.map_err(|e| worker::Error::RustError(e.reason))?;
                reply(object([("task_budget", Value::from(budget))]))
            }
            "drain" => {
                self.run_tasks(&db).map_err(|e| worker::Error::RustError(e.reason))?;
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
fn execute(db: &Db, cmd: &Command, body: &[u8], at: Timestamp) -> Result<(Value, u16), OpError> {
    let op = cmd.route.op();
    let fail = |error| OpError { op, error };
    let settings = store::load_settings(db).map_err(fail)?;
    let (snap, mut loader) = authorize(db, cmd, &settings).map_err(fail)?;
    let mut body = parse_body(body).map_err(fail)?;
    if cmd.v2 {
        body = match cmd.route {
            Route::Upsert => v2::upsert_in(&body),
            Route::Partial => v2::partial_in(&body),
            _ => Ok(body),
        }
        .map_err(fail)?;
    }
    let (body, caller) = (&body, &cmd.claims.caller);
    let operation: Box<OpFn<'_>> = match &cmd.route {
        Route::GetApp => return Ok((ops::get_app(&settings), 200)),
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
            let q = tenancy::restrict_query(q, caller, me, &settings).map_err(fail)?;
            let found = store::query(db, &q).map_err(fail)?;
            let users = found.iter().map(|u| Value::Object(tenancy::shown(u, caller, &settings))).collect();
            return Ok((object([("users", Value::Array(users))]), 200));
        }
        Route::UpdateApp => {
            let patch = if body.is_null() { object([]) } else { body.clone() };
            let updated = ops::update_app(&settings, &patch, caller).map_err(fail)?;
            if updated != settings {
                let (text, now) = (updated.to_json(), at.0 / 1000);
                db.transaction(move |db| store::save_settings(db, &text, now)).map_err(fail)?;
            }
            return Ok((object([]), 200));
        }
        Route::Upsert => Box::new(move |s| ops::upsert_users(body, caller, at, s)),
        Route::Partial => Box::new(move |s| ops::partial_update_users(body, caller, at, s)),
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
            return Ok((object([("task_id", Value::from(id))]), 201));
        }
        Route::GetTask(id) => {
            tasks::check_server(caller, "GetTask").map_err(fail)?;
            let task = store::load_task(db, id).map_err(fail)?.ok_or_else(|| fail(tasks::unknown_task(id)))?;
            return Ok((task.state().view(), 200));
        }
        Route::ExportUser(id) => {
            tasks::check_export(caller).map_err(fail)?;
            user::validate_id(id).map_err(fail)?;
            let loaded = store::load_users(db, std::slice::from_ref(id)).map_err(fail)?;
            return match loaded.first().and_then(|(_, u)| u.as_ref()) {
                Some(u) if !user::is_hard_deleted(u) => Ok((tasks::export_of(u), 200)),
                _ => Err(fail(ApiError::not_found(format!("user '{id}' does not exist")))),
            };
        }
        Route::Connect | Route::Guest | Route::Test(_) | Route::NotFound => {
            return Err(fail(ApiError::route_not_found()))
        }
    };
    let commit = drive::drive(&mut loader, snap, op, &*operation)?;
    let prepared = store::prepare(&commit, &loader.before);
    let now = at.0 / 1000;
    db.transaction(move |db| store::apply(db, &prepared, now)).map_err(fail)?;
    Ok((commit.response, commit.status))
}

/// One user's step of a task: the user after it (or its export), and the writes to commit.
fn task_step(
    db: &Db,
    task: &store::TaskRow,
    id: &str,
    at: Timestamp,
) -> Result<(Value, Option<store::Prepared>), String> {
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
        TaskKind::Export => {
            let loaded = store::load_users(db, &[id.to_string()]).map_err(|e| e.reason)?;
            return match loaded.first().and_then(|(_, u)| u.as_ref()) {
                Some(u) if !user::is_hard_deleted(u) => Ok((tasks::export_of(u), None)),
                _ => Err(format!("user '{id}' does not exist")),
            };
        }
    };
    let commit = drive::drive(&mut loader, Snapshot::new(settings), op, &*step).map_err(|e| e.error.reason)?;
    let shown = commit.response.get("user").cloned().unwrap_or(Value::Null);
    Ok((shown, Some(store::prepare(&commit, &loader.before))))
}

/// `POST /guest` `{user}`: creates (or updates) a guest user, role `guest`, and answers it with
/// a user token. Only when the app has `roster_guests_enabled` on and is not multi-tenant (as
/// in Stream, guests and teams do not mix); an existing user that is no guest cannot be taken.
fn guest(db: &Db, env: &Env, body: &[u8], at: Timestamp) -> Result<Value, ApiError> {
    let settings = store::load_settings(db)?;
    if !settings.guests_enabled() || settings.multi_tenant() {
        return Err(ApiError::not_allowed("guest users are not enabled for this app"));
    }
    let body = parse_body(body)?;
    let Some(Value::Object(input)) = body.get("user") else {
        return Err(ApiError::field("user", "user is a required field and must be an object"));
    };
    let id = user::id_of(input)?.to_string();
    let mut input = input.clone();
    input.insert("role".into(), Value::from("guest"));
    input.remove("teams");
    let mut loader = SqlLoader { db, before: BTreeMap::new() };
    let existing = store::load_users(db, std::slice::from_ref(&id))?;
    if existing.first().and_then(|(_, u)| u.as_ref()).is_some_and(|u| user::role_of(u) != "guest") {
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
    Ok(object([("user", shown), ("access_token", Value::from(token))]))
}

/// The connect merge: the body is the `json` query parameter, `{user_id, user_details}`.
fn connect(db: &Db, cmd: &Command, body: &[u8], at: Timestamp) -> Result<Value, ApiError> {
    let payload = json::parse_slice(body).map_err(|e| ApiError::input(format!("invalid json query parameter: {e}")))?;
    let user_id = payload
        .get("user_id")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::input("json.user_id is a required field"))?
        .to_string();
    let details = payload.get("user_details").cloned().unwrap_or(Value::Null);
    let settings = store::load_settings(db)?;
    let (snap, mut loader) = authorize(db, cmd, &settings)?;
    let caller = &cmd.claims.caller;
    let commit = drive::drive(&mut loader, snap, crate::core::Operation::Connect, &|s| {
        ops::connect_user(&user_id, &details, caller, at, s)
    })
    .map_err(|e| e.error)?;
    let prepared = store::prepare(&commit, &loader.before);
    let now = at.0 / 1000;
    db.transaction(move |db| store::apply(db, &prepared, now))?;
    Ok(commit.response)
}

/// The connect merge's answer to the Worker: `{me}` or `{error: {code, status, reason}}`.
fn connect_reply(result: Result<Value, ApiError>) -> worker::Result<Response> {
    let body = match result {
        Ok(me) => object([("me", me)]),
        Err(e) => object([(
            "error",
            object([
                ("code", Value::from(e.code)),
                ("status", Value::from(e.status)),
                ("reason", Value::from(e.reason)),
            ]),
        )]),
    };
    Response::from_bytes(json::text(&body).into_bytes())
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
                if let Some(n) = username::held_name(&u) {
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
        store::put_users(db, chunk)?;
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
        store::enqueue_many(db, chunk, seq, now)?;
    }
    store::set_meta(db, "seq", &seq.to_string())?;
    store::set_meta(db, "imported", &legacy.users.len().to_string())
}
