//! Test-only routes (`ROSTER_TEST_HOOKS = "1"`): the KV fault switch, a forced drain, the
//! replication and Writer state the tests assert on.

use super::*;
use crate::core::query::order;
use crate::edge::sql::Arg;

impl Writer {
    /// Test-only routes (`ROSTER_TEST_HOOKS = "1"`): the KV fault switch, a forced drain, the
    /// outbox's state and the stored rows.
    pub(super) async fn test_hook(&self, what: &str, body: &[u8]) -> worker::Result<Response> {
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
            // `{hub, n}`: the hub's next n delivery acknowledgements are lost (`delivery.rs`); answers
            // how many of the previous setting were left.
            "lose-acks" => {
                let asked = json::parse_slice(body).unwrap_or(Value::Null);
                let hub = asked.get("hub").and_then(Value::as_str).unwrap_or_default();
                let n = asked.get("n").and_then(Value::as_i64).unwrap_or(0);
                let left = store::meta(&db, &format!("lose_acks:{hub}")).ok().flatten().unwrap_or_default();
                store::set_meta(&db, &format!("lose_acks:{hub}"), &n.to_string())
                    .map_err(|e| worker::Error::RustError(e.reason))?;
                reply(object([("hub", Value::from(hub)), ("lose_acks", Value::from(n)), ("left", Value::from(left))]))
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
            // `{hub, what}`: a hub's test switch (`hub/hooks.rs`), or every hub's when `hub` is
            // null; answers each hub's state.
            "hubs" => {
                let asked = json::parse_slice(body).unwrap_or(Value::Null);
                let what = asked.get("what").and_then(Value::as_str).unwrap_or("state");
                let names: Vec<String> = match asked.get("hub").and_then(Value::as_str) {
                    Some(h) => vec![h.to_string()],
                    // Every hub of the current layout, and any other that holds connections
                    // (made under an earlier `ROSTER_HUBS`).
                    None => {
                        let count = crate::core::engine::hubs::count(
                            self.env.var("ROSTER_HUBS").ok().map(|v| v.to_string()).as_deref(),
                        );
                        let mut names: Vec<String> = (0..count).map(crate::core::engine::hubs::name).collect();
                        for (hub, _, _) in
                            crate::edge::store::hub_counts(&db).map_err(|e| worker::Error::RustError(e.reason))?
                        {
                            if !names.contains(&hub) {
                                names.push(hub);
                            }
                        }
                        names
                    }
                };
                let mut answers = Vec::new();
                for name in names {
                    let url = format!("https://hub/test/{what}?hub={name}");
                    let (status, body) =
                        crate::edge::objects::post(&self.env, crate::edge::objects::HUB, &name, &url, b"")
                            .await
                            .map_err(|e| worker::Error::RustError(e.reason))?;
                    if status != 200 {
                        return Response::error(String::from_utf8_lossy(&body).to_string(), 500);
                    }
                    answers.push(json::parse_slice(&body).unwrap_or(Value::Null));
                }
                reply(object([("hubs", Value::Array(answers))]))
            }
            // A hub's lease runs out now (as if it had stopped reporting for the lease's length):
            // its connections are taken away.
            "expire-hub" => {
                let hub = String::from_utf8_lossy(body).trim().to_string();
                db.run("UPDATE hubs SET lease_until = 0 WHERE hub = ?", &[hub.as_str().into()])
                    .map_err(|e| worker::Error::RustError(e.reason))?;
                self.sweep_hubs(&db).map_err(|e| worker::Error::RustError(e.reason))?;
                self.kick_delivery();
                reply(object([("expired", Value::from(hub))]))
            }
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
                    let q = payload::parse(&payload)?;
                    let users = rows.iter().map(|(id, t)| store::parse_user(id, t)).collect::<Result<Vec<_>, _>>()?;
                    let found = order::run(&q, &users).into_iter().map(|u| Value::Object(user::public_view(u)));
                    Ok(object([("users", Value::Array(found.collect()))]))
                });
                reply(answer.map_err(|e| worker::Error::RustError(e.reason))?)
            }
            _ => Response::error("unknown test hook", 404),
        }
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
