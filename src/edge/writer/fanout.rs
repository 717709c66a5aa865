//! Event fan-out: what a committed command tells the open connections (and queues for
//! webhooks), in the command's own turn, before any await.

use super::*;

/// What a committed command tells the connections and webhooks.
pub enum Publish {
    /// These users changed (their state after the commit).
    Users(UserChange, Vec<User>),
    /// A custom event for one user's connections.
    Custom(String, Value),
    /// A connect changed the user: `user.updated` to its other connections and its watchers.
    Connected(User, String),
}

impl Writer {
    /// Sends a frame to these watching connections (but the ones of `except_user`).
    pub(super) fn to_watchers(&self, connections: Option<&Vec<String>>, frame: &str, except_user: Option<&str>) {
        for c in connections.into_iter().flatten() {
            for ws in self.state.get_websockets_with_tag(&format!("c:{c}")) {
                if except_user.is_some_and(|u| self.socket_ids(&ws).0 == u) {
                    continue;
                }
                let _ = ws.send_with_str(frame);
            }
        }
    }

    /// Delivers a committed change: events to the users' own connections (with `me`) and to
    /// their watchers, and to the app's webhooks.
    pub(super) fn publish(&self, db: &Db, publish: Publish, at: Timestamp) {
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
}
