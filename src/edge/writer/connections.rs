//! Connections and presence, as the hubs report them (`hub/`): each report is one command that
//! merges every connect it carries (`user_details`, the same client rules and errors as
//! always), records where each connection lives, takes closed ones away, and turns the users'
//! online/offline transitions into events. The Writer holds no socket.

use super::*;
use crate::core::model::{pairs, set};

/// Most users one connection may watch through `presence: true` queries.
pub const MAX_SUBSCRIPTIONS: i64 = 1000;

/// What `execute` may ask about the open connections.
pub trait Presence {
    /// Whether the user has an open connection.
    fn connected(&self, user_id: &str) -> bool;
    /// The user a connection belongs to.
    fn owner(&self, connection_id: &str) -> Option<String>;
}

impl Presence for Writer {
    fn connected(&self, user_id: &str) -> bool {
        store::is_connected(&self.db(), user_id).unwrap_or(false)
    }
    fn owner(&self, connection_id: &str) -> Option<String> {
        store::connection_owner(&self.db(), connection_id).ok().flatten()
    }
}

/// Subscribes a connection to the users a `presence: true` query returned: the connection must
/// be open and the caller's own; at most [`MAX_SUBSCRIPTIONS`] users per connection.
pub(super) fn watch(
    db: &Db,
    presence: &dyn Presence,
    caller: &Caller,
    connection: &str,
    found: &[User],
) -> Result<(), ApiError> {
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
    let (have, new) = store::watch_counts(db, connection, &ids)?;
    if have + new > MAX_SUBSCRIPTIONS {
        return Err(ApiError::input(format!(
            "a connection may watch at most {MAX_SUBSCRIPTIONS} users through presence queries"
        )));
    }
    store::subscribe(db, connection, &ids)
}

/// The connect merge: the body is the `json` query parameter, `{user_id, user_details}`.
/// Returns `me`, the user as stored, and whether its data changed. A connect that changes
/// nothing writes nothing (`last_active` is written when the user goes offline).
pub(super) fn connect(
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
    let (mut snap, mut loader) = authorize(db, cmd, settings)?;
    let caller = &cmd.claims.caller;
    let commit = drive::drive(&mut loader, &mut snap, crate::core::Operation::Connect, &|s| {
        ops::connect_user(&user_id, &details, caller, at, s)
    })
    .map_err(|e| e.error)?;
    let stored = commit.users.first().cloned().unwrap_or_default();
    let before = pairs::get(&loader.before, &user_id).cloned().flatten();
    let changed = before.is_none_or(|b| b.updated_at != crate::core::query::row::index_row(&stored).updated_at);
    if changed {
        store::commit(db, &commit, &loader.before, &[], at)?;
    }
    Ok((commit.response, stored, changed))
}

/// One connect of a report: its command line (checked by the Worker) and `json` parameter.
struct Connect<'a> {
    connection_id: &'a str,
    line: &'a str,
    json: &'a str,
}

impl Writer {
    /// `POST /hub`: a hub's report, `{hub, connects: [{connection_id, cmd, json}], gone: [ids],
    /// open: [ids] | null}`, as one command. Answers each connect's first frame (`frame` with
    /// `user_id`, or `frame` with a close `reason`), the connections of `open` it does not know
    /// (`unknown`: the hub closes them), and the hub's lease and ping timeout.
    pub(super) fn hub_report(&self, db: &Db, body: &[u8]) -> Result<Value, ApiError> {
        let report = json::parse_slice(body).map_err(|e| ApiError::internal(format!("bad hub report: {e}")))?;
        let hub = report.get("hub").and_then(Value::as_str).filter(|h| !h.is_empty());
        let hub = hub.ok_or_else(|| ApiError::internal("bad hub report: no hub"))?;
        let (at, now) = (now(), now_ms());
        let lease = crate::core::engine::hubs::LEASE_MS;
        store::renew_hub(db, hub, now + lease, now)?;
        let settings = store::load_settings(db)?;
        let strs = |k: &str| -> Vec<&str> {
            report.get(k).and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect()
        };
        let connects: Vec<Connect<'_>> = report
            .get("connects")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|c| {
                let s = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or_default();
                Connect { connection_id: s("connection_id"), line: s("cmd"), json: s("json") }
            })
            .collect();
        let results: Vec<Value> = connects.iter().map(|c| self.connect_one(db, &settings, hub, c, at)).collect();
        // Sorted sets ([`set::of_many`]): a hub may hold thousands of connections.
        let mut gone: Vec<&str> = strs("gone");
        let mut unknown = Vec::new();
        let open = report.get("open").and_then(Value::as_array);
        // Outside the block below: `gone` borrows the connections it names from it.
        let known = match open {
            Some(_) => set::of_many(store::hub_connections(db, hub)?),
            None => Vec::new(),
        };
        if let Some(open) = open {
            let open = set::of_many(open.iter().filter_map(Value::as_str).collect());
            // The list was taken before this report's own connects were accepted: they are
            // open though not in it.
            let joining = set::of_many(connects.iter().map(|c| c.connection_id).collect());
            let open_or_joining = |c: &str| set::contains(&open, &c) || set::contains(&joining, &c);
            gone.extend(known.iter().map(String::as_str).filter(|c| !open_or_joining(c)));
            unknown.extend(open.iter().filter(|c| !set::contains(&known, **c)).map(|c| Value::from(*c)));
        }
        let gone = set::of_many(gone);
        self.connections_gone(db, &gone, at)?;
        {
            let mut activity = self.activity.borrow_mut();
            activity.record(Ran::HubReport, now);
            activity.record_connections(connects.len(), gone.len());
        }
        Ok(object([
            ("results", Value::Array(results)),
            ("unknown", Value::Array(unknown)),
            ("lease_ms", Value::from(lease)),
            ("ping_timeout_ms", Value::from(self.ping_timeout(db))),
        ]))
    }

    /// One connect: the request counted, the merge, the connection recorded on its hub, and the
    /// events (`user.updated` when the merge changed the user, `user.presence.changed` when this
    /// is the user's first connection anywhere).
    fn connect_one(&self, db: &Db, settings: &AppSettings, hub: &str, c: &Connect<'_>, at: Timestamp) -> Value {
        let merged = Command::decode(format!("{}\n", c.line).as_bytes()).and_then(|(cmd, _)| {
            let mut t = Timing { started_ms: cmd.started_ms, kv_ops: 0, rate: None };
            self.count_request(settings, &cmd, &mut t, at)?;
            connect(db, &cmd, settings, c.json.as_bytes(), at)
        });
        let recorded = merged.and_then(|(me, user, changed)| {
            let id = user.get("id").and_then(Value::as_str).unwrap_or_default().to_string();
            let first = !store::is_connected(db, &id)?;
            store::add_connection(db, c.connection_id, &id, hub)?;
            Ok((me, user, changed, id, first))
        });
        match recorded {
            Ok((me, user, changed, id, first)) => {
                if changed {
                    self.publish(db, Publish::Connected(user.clone(), c.connection_id.to_string()), at);
                }
                if first && events::visible(&user) {
                    self.presence_changed(db, &user, true, at);
                }
                let frame = super::super::connect::health_check(c.connection_id, at, Some(me));
                object([("user_id", Value::from(id)), ("frame", Value::from(frame))])
            }
            Err(e) => {
                let (frame, reason) = super::super::connect::refusal(&e);
                object([("frame", Value::from(frame)), ("reason", Value::from(reason))])
            }
        }
    }

    /// Connections closed (or lost with their hub): they and their subscriptions go, and each
    /// user left with none goes offline (`last_active` written once, here, not on every ping).
    pub(super) fn connections_gone(&self, db: &Db, gone: &[&str], at: Timestamp) -> Result<(), ApiError> {
        let mut users = Vec::new();
        for connection in gone {
            users.extend(store::remove_connection(db, connection)?);
        }
        let users = set::of_many(users);
        for user_id in users {
            if store::is_connected(db, &user_id)? {
                continue;
            }
            let Some(stored) = store::load_user(db, &user_id)? else { continue };
            let Some(commit) = ops::offline_commit(&stored, at) else { continue };
            let after = commit.users.first().cloned().unwrap_or_default();
            let before = vec![(user_id.clone(), Some(crate::core::query::row::index_row(&stored)))];
            store::commit(db, &commit, &before, &[], at)?;
            if events::visible(&after) {
                self.presence_changed(db, &after, false, at);
            }
        }
        Ok(())
    }

    /// Hubs whose lease ran out (crashed, or cut off): their connections are taken away as if
    /// closed. A hub that comes back lists what it holds, and closes what the Writer forgot.
    pub(super) fn sweep_hubs(&self, db: &Db) -> Result<(), ApiError> {
        let at = now();
        for hub in store::lapsed_hubs(db, now_ms())? {
            let gone = set::of_many(store::hub_connections(db, &hub)?);
            self.connections_gone(db, &gone.iter().map(String::as_str).collect::<Vec<_>>(), at)?;
            store::forget_hub(db, &hub)?;
        }
        Ok(())
    }

    /// How long a connection may go without a ping before its hub drops it: three missed
    /// 25-second pings (the test hook `ping-timeout` shortens it); told to the hubs.
    pub(super) fn ping_timeout(&self, db: &Db) -> i64 {
        let hooked = super::super::test_hooks(&self.env)
            .then(|| store::meta(db, "ping_timeout_ms").ok().flatten().and_then(|v| v.parse::<i64>().ok()))
            .flatten();
        hooked.unwrap_or(75_000)
    }

    /// `user.presence.changed` to the user's watchers and webhooks.
    pub(super) fn presence_changed(&self, db: &Db, u: &User, online: bool, at: Timestamp) {
        let Ok(settings) = store::load_settings(db) else { return };
        let event = events::presence_event(u, online, &settings, at);
        let id = u.get("id").and_then(Value::as_str).unwrap_or_default();
        let watching = store::watchers(db, &[id]).unwrap_or_default();
        let mut sends = Sends::default();
        sends.for_watchers(pairs::get(&watching, id), &json::text(&event), None);
        sends.queue(db, now_ms());
        self.queue_webhooks(db, &settings, id, &event);
    }
}
