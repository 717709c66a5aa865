//! Test-only routes (`ROSTER_TEST_HOOKS = "1"`): the KV fault switch, a forced drain, the
//! replication and Writer state the tests assert on.

use super::*;
use crate::core::query::order;
use crate::edge::sql::Arg;

impl Writer {
    /// Test-only routes (`ROSTER_TEST_HOOKS = "1"`): the KV fault switch, a forced drain, the
    /// outbox's state and the stored rows, the hubs' switches.
    pub(super) async fn test_hook(&self, what: &str, body: &[u8]) -> worker::Result<Response> {
        let db = self.db();
        let text = String::from_utf8_lossy(body).trim().to_string();
        let answer = match what {
            "kv-fault" => switch(&db, "kv_fault", text.as_str(), |m| !m.is_empty() && m != "none"),
            "task-budget" => switch(&db, "task_budget", text.as_str(), |b| !b.is_empty()),
            "ping-timeout" => {
                store::set_meta(&db, "ping_timeout_ms", &text).map_err(rust)?;
                self.alarm_set.set(false);
                self.schedule_drain(&db).await;
                Ok(object([("ping_timeout_ms", Value::from(text))]))
            }
            "lose-acks" => lose_acks(&db, body),
            "drain" => self.forced_drain(&db).await,
            "outbox" => Ok(self.outbox_state(&db)),
            "hubs" => self.hubs_hook(&db, body).await,
            "expire-hub" => self.expire_hub(&db, &text),
            "users" => all_users(&db),
            "scan" => scan(&db, &text),
            _ => return Response::error("unknown test hook", 404),
        };
        Response::from_bytes(json::text(&answer.map_err(rust)?).into_bytes())
    }

    /// `drain`: runs the tasks, and delivers the webhooks and the outbox now, entries backing
    /// off included (once their key's second has passed); answers the outbox's state.
    async fn forced_drain(&self, db: &Db) -> Result<Value, ApiError> {
        self.run_tasks(db)?;
        db.run("UPDATE webhooks SET due_ms = min(due_ms, ?)", &[Arg::Int(now_ms())])?;
        self.deliver_webhooks().await?;
        db.run(
            "UPDATE outbox SET due_ms = max(?1, coalesce((SELECT at_ms + 1000 FROM kv_sent \
             WHERE kv_sent.key = outbox.key), 0))",
            &[Arg::Int(now_ms())],
        )?;
        self.drain().await?;
        Ok(self.outbox_state(db))
    }

    /// `hubs` with `{hub, what}`: a hub's test switch (`hub/hooks.rs`), or every hub's when `hub`
    /// is null; answers each hub's state.
    async fn hubs_hook(&self, db: &Db, body: &[u8]) -> Result<Value, ApiError> {
        let asked = json::parse_slice(body).unwrap_or(Value::Null);
        let what = asked.get("what").and_then(Value::as_str).unwrap_or("state");
        let names = match asked.get("hub").and_then(Value::as_str) {
            Some(h) => vec![h.to_string()],
            None => self.every_hub(db)?,
        };
        let mut answers = Vec::new();
        for name in names {
            let url = format!("https://hub/test/{what}?hub={name}");
            let (status, body) =
                crate::edge::objects::post(&self.env, crate::edge::objects::HUB, &name, &url, b"").await?;
            if status != 200 {
                return Err(ApiError::internal(String::from_utf8_lossy(&body).to_string()));
            }
            answers.push(json::parse_slice(&body).unwrap_or(Value::Null));
        }
        Ok(object([("hubs", Value::Array(answers))]))
    }

    /// Every hub of the current layout, and any other that holds connections (made under an
    /// earlier `ROSTER_HUBS`).
    fn every_hub(&self, db: &Db) -> Result<Vec<String>, ApiError> {
        let count = crate::edge::objects::hub_count(&self.env);
        let mut names: Vec<String> = (0..count).map(crate::core::engine::hubs::name).collect();
        for (hub, _, _) in store::hub_counts(db)? {
            if !names.contains(&hub) {
                names.push(hub);
            }
        }
        Ok(names)
    }

    /// `expire-hub`: a hub's lease runs out now (as if it had stopped reporting for the lease's
    /// length): its connections are taken away.
    fn expire_hub(&self, db: &Db, hub: &str) -> Result<Value, ApiError> {
        db.run("UPDATE hubs SET lease_until = 0 WHERE hub = ?", &[hub.into()])?;
        self.sweep_hubs(db)?;
        self.kick_delivery();
        Ok(object([("expired", Value::from(hub))]))
    }

    pub(super) fn outbox_state(&self, db: &Db) -> Value {
        let stats = self.stats.borrow();
        object([
            ("pending", Value::from(store::queue_len(db, store::Queue::Outbox).unwrap_or(-1))),
            ("seq", Value::from(store::current_seq(db).unwrap_or(0))),
            ("kv_puts", Value::from(stats.puts)),
            ("kv_failures", Value::from(stats.failures)),
            ("kv_too_fast", Value::from(stats.too_fast)),
            ("webhooks_pending", Value::from(store::queue_len(db, store::Queue::Webhooks).unwrap_or(-1))),
            ("subscriptions", Value::from(store::queue_len(db, store::Queue::Subscriptions).unwrap_or(-1))),
        ])
    }
}

/// A core error as the runtime's (a test hook's failure is the test's to read).
fn rust(e: ApiError) -> worker::Error {
    worker::Error::RustError(e.reason)
}

/// A switch kept in the Writer's meta table: set to `value`, or cleared when `on` says no.
fn switch(db: &Db, key: &str, value: &str, on: impl Fn(&str) -> bool) -> Result<Value, ApiError> {
    store::put_meta(db, key, Some(value).filter(|v| on(v)))?;
    Ok(object([(key, Value::from(value))]))
}

/// `lose-acks` with `{hub, n}`: the hub's next n delivery acknowledgements are lost
/// (`delivery.rs`); answers how many of the previous setting were left.
fn lose_acks(db: &Db, body: &[u8]) -> Result<Value, ApiError> {
    let asked = json::parse_slice(body).unwrap_or(Value::Null);
    let hub = asked.get("hub").and_then(Value::as_str).unwrap_or_default();
    let n = asked.get("n").and_then(Value::as_i64).unwrap_or(0);
    let key = format!("lose_acks:{hub}");
    let left = store::meta(db, &key).ok().flatten().unwrap_or_default();
    store::set_meta(db, &key, &n.to_string())?;
    Ok(object([("hub", Value::from(hub)), ("lose_acks", Value::from(n)), ("left", Value::from(left))]))
}

/// `users`: every stored user row, `{id: record}`.
fn all_users(db: &Db) -> Result<Value, ApiError> {
    let users: serde_json::Map<String, Value> = store::all_users(db)?
        .into_iter()
        .map(|(id, text)| (id, json::parse(&text).unwrap_or(Value::String(text))))
        .collect();
    Ok(object([("users", Value::Object(users))]))
}

/// `scan`: the query answered by a full scan in the core, to compare with the indexed plan.
fn scan(db: &Db, payload: &str) -> Result<Value, ApiError> {
    let rows = store::all_users(db)?;
    let q = payload::parse(payload)?;
    let users = rows.iter().map(|(id, t)| store::parse_user(id, t)).collect::<Result<Vec<_>, _>>()?;
    let found = order::run(&q, &users).into_iter().map(|u| Value::Object(user::public_view(u)));
    Ok(object([("users", Value::Array(found.collect()))]))
}
