//! Event fan-out: what a committed command tells the connections (and queues for webhooks).
//! The frames are queued for the hubs holding the changed users' own connections and their
//! watchers' connections, in the command's own turn, before any await: they commit with the
//! write (one `hub_events` row per hub per commit, in commit order), and `delivery.rs` sends them.

use super::*;
use crate::core::model::pairs;
use crate::edge::store::Watcher;

/// What a committed command tells the connections and webhooks.
pub enum Publish {
    /// These users changed (their state after the commit).
    Users(UserChange, Vec<User>),
    /// A custom event for one user's connections.
    Custom(String, Value),
    /// A connect changed the user: `user.updated` to its other connections and its watchers.
    Connected(User, String),
}

/// The frames of one commit, by hub: `{tags, frame, except_connection, except_user}` each.
#[derive(Default)]
pub(super) struct Sends(Vec<(String, Vec<Value>)>);

impl Sends {
    fn add(
        &mut self,
        hub: &str,
        tags: Vec<String>,
        frame: &str,
        except_connection: Option<&str>,
        except_user: Option<&str>,
    ) {
        let send = object([
            ("tags", Value::from(tags)),
            ("frame", Value::from(frame)),
            ("except_connection", except_connection.map_or(Value::Null, Value::from)),
            ("except_user", except_user.map_or(Value::Null, Value::from)),
        ]);
        pairs::push(&mut self.0, hub.to_string(), send);
    }

    /// A frame to a user's own connections on each of its hubs (but the connection `except`).
    pub(super) fn for_user(&mut self, hubs: Option<&Vec<String>>, user_id: &str, frame: &str, except: Option<&str>) {
        for hub in hubs.into_iter().flatten() {
            self.add(hub, vec![format!("u:{user_id}")], frame, except, None);
        }
    }

    /// A frame to these watching connections, grouped by hub (but the ones of `except_user`).
    pub(super) fn for_watchers(&mut self, watchers: Option<&Vec<Watcher>>, frame: &str, except_user: Option<&str>) {
        let mut by_hub: Vec<(&str, Vec<String>)> = Vec::new();
        for w in watchers.into_iter().flatten() {
            pairs::push(&mut by_hub, w.hub.as_str(), format!("c:{}", w.connection));
        }
        for (hub, tags) in by_hub {
            self.add(hub, tags, frame, None, except_user);
        }
    }

    /// Queues the frames: one event per hub, delivered in commit order.
    pub(super) fn queue(self, db: &Db, now_ms: i64) {
        for (hub, sends) in self.0 {
            let _ = store::queue_hub_event(db, &hub, &json::text(&Value::Array(sends)), now_ms);
        }
    }
}

impl Writer {
    /// Queues a committed change: events to the users' own connections (with `me`) and to their
    /// watchers, and to the app's webhooks.
    pub(super) fn publish(&self, db: &Db, publish: Publish, at: Timestamp) {
        let Ok(settings) = store::load_settings(db) else { return };
        let (change, users, except) = match publish {
            Publish::Users(change, users) => (change, users, None),
            Publish::Connected(user, connection) => (UserChange::Updated, vec![user], Some(connection)),
            Publish::Custom(user_id, event) => {
                let hubs = store::user_hubs(db, &[user_id.as_str()]).unwrap_or_default();
                let mut sends = Sends::default();
                sends.for_user(pairs::get(&hubs, &user_id), &user_id, &json::text(&event), None);
                sends.queue(db, now_ms());
                self.queue_webhooks(db, &settings, &user_id, &event);
                return;
            }
        };
        // Nothing to do without connections (no one to tell, no one watching) and without
        // webhooks: a batch write then pays no per-user work here.
        let sockets = store::any_connection(db).unwrap_or(false);
        let hooks = !events::webhook_targets(&settings, change.event_type()).is_empty();
        if !sockets && !hooks {
            return;
        }
        let ids: Vec<&str> = users.iter().map(|u| u.get("id").and_then(Value::as_str).unwrap_or_default()).collect();
        let (hubs, watching) = if sockets {
            (store::user_hubs(db, &ids).unwrap_or_default(), store::watchers(db, &ids).unwrap_or_default())
        } else {
            (Vec::new(), Vec::new())
        };
        let mut sends = Sends::default();
        for (u, id) in users.iter().zip(ids) {
            let online = pairs::get(&hubs, id).is_some() && events::visible(u);
            let event = events::user_event(change, u, online, &settings, at);
            if sockets {
                let own = json::text(&events::for_self(&event, u, &settings));
                sends.for_user(pairs::get(&hubs, id), id, &own, except.as_deref());
                sends.for_watchers(pairs::get(&watching, id), &json::text(&event), Some(id));
            }
            if hooks {
                self.queue_webhooks(db, &settings, id, &event);
            }
        }
        sends.queue(db, now_ms());
    }
}
