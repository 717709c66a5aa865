//! Connections and presence: `/connect` (the connect merge, then a socket accepted with the
//! hibernation API, tagged with its user and connection ids), pings and the missed-ping sweep,
//! `presence: true` subscriptions, and the online/offline transitions.

use super::*;

/// A connection that has not pinged for this long is dropped (three missed 25 s pings).
pub(super) const PING_TIMEOUT_MS: i64 = 75_000;

/// How often the alarm looks for such connections while any are open.
pub(super) const SWEEP_MS: i64 = 30_000;

/// Records when a socket was last heard from, in its attachment (kept across hibernation).
pub(super) fn set_last_seen(ws: &WebSocket, ms: i64) {
    let js: &JsValue = ws.as_ref();
    if let Ok(f) = js_sys::Reflect::get(js, &JsValue::from_str("serializeAttachment")) {
        let _ = f.unchecked_into::<js_sys::Function>().call1(js, &JsValue::from_f64(ms as f64));
    }
}

/// When a socket was last heard from (see [`set_last_seen`]).
pub(super) fn last_seen(ws: &WebSocket) -> Option<i64> {
    let js: &JsValue = ws.as_ref();
    let f = js_sys::Reflect::get(js, &JsValue::from_str("deserializeAttachment")).ok()?;
    f.unchecked_into::<js_sys::Function>().call0(js).ok()?.as_f64().map(|v| v as i64)
}

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
        !self.state.get_websockets_with_tag(&format!("u:{user_id}")).is_empty()
    }
    fn owner(&self, connection_id: &str) -> Option<String> {
        let ws = self.state.get_websockets_with_tag(&format!("c:{connection_id}")).into_iter().next()?;
        Some(self.socket_ids(&ws).0)
    }
}

/// The connections watching each of these users (one query for a whole batch; none if it
/// cannot be read: events then reach the users' own connections only).
pub(super) fn watchers(db: &Db, ids: &[&str]) -> BTreeMap<String, Vec<String>> {
    store::watchers(db, ids).unwrap_or_default()
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
/// Returns `me`, the user as stored, and whether its data changed (not just `last_active`).
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
    let (snap, mut loader) = authorize(db, cmd, settings)?;
    let caller = &cmd.claims.caller;
    let commit = drive::drive(&mut loader, snap, crate::core::Operation::Connect, &|s| {
        ops::connect_user(&user_id, &details, caller, at, s)
    })
    .map_err(|e| e.error)?;
    let stored = commit.users.first().cloned().unwrap_or_default();
    let before = loader.before.get(&user_id).cloned().flatten();
    let changed = before.is_none_or(|b| b.updated_at != crate::core::index::index_row(&stored).updated_at);
    store::commit(db, &commit, &loader.before, at)?;
    Ok((commit.response, stored, changed))
}

impl Writer {
    /// The user and connection ids of a socket (its tags).
    pub(super) fn socket_ids(&self, ws: &WebSocket) -> (String, String) {
        let tags = self.state.get_tags(ws);
        let tag = |p: &str| tags.iter().find_map(|t| t.strip_prefix(p)).unwrap_or_default().to_string();
        (tag("u:"), tag("c:"))
    }

    /// Sends a frame to every open socket with this tag (but the connection `except`).
    pub(super) fn send_tagged(&self, tag: &str, frame: &str, except: Option<&str>) {
        for ws in self.state.get_websockets_with_tag(tag) {
            if except.is_some_and(|c| self.socket_ids(&ws).1 == c) {
                continue;
            }
            let _ = ws.send_with_str(frame);
        }
    }

    /// `GET /connect`, forwarded by the Worker after its checks: the connect merge, then a socket
    /// accepted with the hibernation API and tagged with its user and connection ids.
    pub(super) async fn open_socket(&self, req: &Request) -> worker::Result<Response> {
        let params = super::super::Target::of(req).params();
        let line = params.get("cmd").cloned().unwrap_or_default();
        let json_param = params.get("json").cloned().unwrap_or_default();
        self.activity.borrow_mut().record(Ran::Connect, now_ms());
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
                        .and_then(|c| Ok((c, super::super::connect::uuid_v4()?, db, at)))
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
                server.send_with_str(super::super::connect::health_check(&connection_id, at, Some(me)))?;
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
                super::super::connect::refuse(&server, &e)?;
            }
        }
        Response::from_websocket(client)
    }

    /// A socket closed or failed: its subscriptions go, and when it was the user's last one the
    /// user goes offline (`last_active` written once, here, not on every ping).
    pub(super) async fn socket_gone(&self, ws: &WebSocket) {
        let (user_id, connection_id) = self.socket_ids(ws);
        let db = self.db();
        let _ = store::unsubscribe_all(&db, &connection_id);
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
        let Some(commit) = ops::offline_commit(&stored, at) else { return };
        let after = commit.users.first().cloned().unwrap_or_default();
        let mut before = BTreeMap::new();
        before.insert(user_id.clone(), Some(crate::core::index::index_row(&stored)));
        if store::commit(&db, &commit, &before, at).is_ok() && events::visible(&after) {
            self.presence_changed(&db, &after, false, at);
        }
        self.schedule_drain(&db).await;
    }

    /// How long a connection may go without a ping before it counts as dropped: three missed
    /// 25-second pings (the test hook `ping-timeout` shortens it).
    pub(super) fn ping_timeout(&self, db: &Db) -> i64 {
        let hooked = super::super::test_hooks(&self.env)
            .then(|| store::meta(db, "ping_timeout_ms").ok().flatten().and_then(|v| v.parse::<i64>().ok()))
            .flatten();
        hooked.unwrap_or(PING_TIMEOUT_MS)
    }

    /// Closes the connections that stopped pinging (a client gone without closing its socket)
    /// and takes them off presence as if they had closed.
    pub(super) async fn sweep_sockets(&self) {
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
    pub(super) fn presence_changed(&self, db: &Db, u: &User, online: bool, at: Timestamp) {
        let Ok(settings) = store::load_settings(db) else { return };
        let event = events::presence_event(u, online, &settings, at);
        let id = u.get("id").and_then(Value::as_str).unwrap_or_default();
        let watching = watchers(db, &[id]);
        self.to_watchers(watching.get(id), &json::text(&event), None);
        self.queue_webhooks(db, &settings, id, &event);
    }
}
