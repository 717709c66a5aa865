//! Store operations as pure functions over a [`Snapshot`] of what the caller has loaded.
//!
//! Each operation either asks for more data ([`Step::Need`]: users by id, username index
//! lists by normalized name) or returns a [`Commit`]: the index lists and user records to write
//! and the response body. A shell (the in-memory `UserStore`, the Worker over KV) runs it in a
//! loop: load what is needed, run again, and finally apply the commit in order — claims, users,
//! releases. Re-running is cheap and keeps every decision inside the core.

mod connect;
mod guest;
mod lifecycle;
mod partial_update;
mod rules;
mod settings;
mod upsert;

pub use connect::{connect_merge, connect_user, offline_commit, own_user_view, went_offline, OWN_USER_DEFAULTS};
pub use guest::GuestRequest;
pub use lifecycle::{deactivate_user, delete_user, reactivate_user, restore_users};
pub use partial_update::{
    apply_partial, carry_partial, check_once, check_partial_permissions, partial_entry, partial_target,
    users_not_a_list,
};
pub(crate) use rules::body_object;
pub use rules::{carry_server_state, check_batch_len, not_an_object, require_server, ts_text, users_required};
pub use settings::{get_app, update_app};
pub use upsert::{clean_input, merge_user, user_not_an_object, users_not_a_map, validate_user};

use crate::core::model::settings::AppSettings;
use crate::core::model::user::User;
use crate::core::model::username::{self, Change, Held, Holders, Named};
use crate::core::model::{pairs, set};
use crate::core::wire::error::Result;
use serde_json::Value;

/// What a shell has loaded so far.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub settings: AppSettings,
    /// Loaded users that are stored, sorted by id (a list: a map type would link a B-tree).
    users: Vec<(String, User)>,
    /// The names the loaded users hold, by id (sorted): each is read once, at load.
    held: Vec<(String, Held)>,
    /// Ids loaded and found not stored, sorted.
    absent: Vec<String>,
    /// Loaded username index lists, sorted by name key: the ids of the users holding it.
    names: Vec<(String, Vec<String>)>,
}

impl Snapshot {
    pub fn new(settings: AppSettings) -> Self {
        Snapshot { settings, ..Default::default() }
    }
    /// Records a loaded user; `None` means loaded and not stored. Returns the index key of the
    /// name the user holds. Operations ask only for ids not loaded yet, so an id is loaded once;
    /// a repeated load is ignored.
    pub fn load_user(&mut self, id: String, user: Option<User>) -> Option<String> {
        if self.is_loaded(&id) {
            return None;
        }
        match user {
            Some(u) => {
                let held = Held::of(&u);
                let key = held.as_ref().map(|h| h.key.clone());
                if let Some(held) = held {
                    pairs::insert_sorted(&mut self.held, id.clone(), held);
                }
                pairs::insert_sorted(&mut self.users, id, u);
                key
            }
            None => {
                set::insert(&mut self.absent, id);
                None
            }
        }
    }
    /// Records a loaded username index list (name key → ids of holders); a list loaded already
    /// is kept.
    pub fn load_names(&mut self, key: String, ids: Vec<String>) {
        if !self.has_names(&key) {
            pairs::insert_sorted(&mut self.names, key, ids);
        }
    }
    /// Whether the index list of `key` was loaded.
    pub fn has_names(&self, key: &str) -> bool {
        pairs::get_sorted(&self.names, key).is_some()
    }
    /// The loaded index list of `key` (empty: not loaded, or no holders).
    fn names_of(&self, key: &str) -> &[String] {
        pairs::get_sorted(&self.names, key).map_or(&[], Vec::as_slice)
    }
    /// Whether `id` was loaded (stored or not).
    pub fn is_loaded(&self, id: &str) -> bool {
        self.stored(id).is_some() || set::contains(&self.absent, id)
    }
    /// A loaded user's stored record (`None`: not loaded, or not stored).
    pub fn stored(&self, id: &str) -> Option<&User> {
        pairs::get_sorted(&self.users, id)
    }
    /// The name a loaded, stored user holds.
    fn held(&self, id: &str) -> Option<&Held> {
        pairs::get_sorted(&self.held, id)
    }
    /// The loaded users that are stored, by id: what the snapshot gives back to its shell.
    pub fn into_users(self) -> impl Iterator<Item = (String, User)> {
        self.users.into_iter()
    }
    fn missing_users<'a>(&self, ids: impl IntoIterator<Item = &'a str>) -> Vec<String> {
        let missing = set::of(ids.into_iter().filter(|id| !self.is_loaded(id)));
        missing.into_iter().map(str::to_string).collect()
    }
}

/// Data an operation needs before it can decide.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Need {
    pub users: Vec<String>,
    pub names: Vec<String>,
}

/// The writes to make, in order, and what to answer.
#[derive(Clone, Debug, PartialEq)]
pub struct Commit {
    /// Index lists that gain a holder: write first.
    pub claims: Vec<(String, Vec<String>)>,
    /// User records to store.
    pub users: Vec<User>,
    /// Index lists that only lose holders: write last. An empty list may be deleted.
    pub releases: Vec<(String, Vec<String>)>,
    /// The response body, without `duration`.
    pub response: Value,
    /// The HTTP status of the response.
    pub status: u16,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    Need(Need),
    Done(Commit),
}

fn need_users(users: Vec<String>) -> Step {
    Step::Need(Need { users, names: Vec::new() })
}

/// The batch's new states layered over the snapshot, for uniqueness checks.
struct View<'a> {
    snap: &'a Snapshot,
    /// The batch's users by id (sorted; a batch holds each id once), with the names they hold.
    batch: Vec<(&'a str, (&'a User, Option<&'a Held>))>,
}

impl Holders for View<'_> {
    fn holders(&self, norm: &str) -> &[String] {
        self.snap.names_of(norm)
    }
    fn user(&self, id: &str) -> Option<(&dyn Named, Option<&Held>)> {
        match pairs::get_sorted(&self.batch, id) {
            Some((user, held)) => Some((*user as &dyn Named, *held)),
            None => self.snap.stored(id).map(|u| (u as &dyn Named, self.snap.held(id))),
        }
    }
    fn is_loaded(&self, id: &str) -> bool {
        pairs::get_sorted(&self.batch, id).is_some() || self.snap.is_loaded(id)
    }
}

/// The tail of a batch the record path wrote (`POST /users`, `PATCH /users` in the Worker):
/// `written`, each user's new state as its record reads, in the order the uniqueness check takes
/// them (an upsert's by id, a partial update's in the batch's order); their stored states are
/// the snapshot's (loaded first, when the shell has not). Loads index lists and holders, checks
/// uniqueness, builds the commit.
pub fn finish_written(snap: &Snapshot, written: &[User], response: &Value, status: u16) -> Result<Step> {
    fn id(u: &User) -> &str {
        u.get("id").and_then(Value::as_str).unwrap_or_default()
    }
    let missing = snap.missing_users(written.iter().map(id));
    if !missing.is_empty() {
        return Ok(need_users(missing));
    }
    let changes = written.iter().map(|u| (snap.stored(id(u)), u.clone())).collect();
    finish(snap, changes, response.clone(), status)
}

/// Shared tail of every write: load index lists and holders, check uniqueness, build the commit.
/// `changes` are each user's stored state (borrowed from the snapshot) and new state.
fn finish(snap: &Snapshot, changes: Vec<(Option<&User>, User)>, response: Value, status: u16) -> Result<Step> {
    let held = |u: &User| u.get("id").and_then(Value::as_str).and_then(|id| snap.held(id));
    let refs: Vec<Change<'_>> =
        changes.iter().map(|(b, a)| Change::new(b.map(|b| b as &dyn Named), held(a), a)).collect();
    let names: Vec<String> = username::names_touched(&refs).into_iter().filter(|n| !snap.has_names(n)).collect();
    let mut batch = Vec::with_capacity(refs.len());
    for ((_, a), c) in changes.iter().zip(&refs) {
        pairs::insert_sorted(&mut batch, c.after.id(), (a, c.after_name.as_ref()));
    }
    let view = View { snap, batch };
    let rule = username::Rule::of(&snap.settings);
    let mode = rule.mode;
    // Holders come from the lists of the names the batch will hold. Once those are loaded (an
    // upsert asks for them with its users), holders and any other names (a renamed user's old
    // one) are asked for in one round: a read round trip less for the shell.
    let held_loaded = refs.iter().filter_map(|c| c.after_name.as_ref()).all(|h| snap.has_names(&h.key));
    let load = if held_loaded { username::holders_to_load(&refs, mode, &view) } else { Vec::new() };
    if !names.is_empty() || !load.is_empty() {
        return Ok(Step::Need(Need { users: load, names }));
    }
    username::check(&refs, rule, &view)?;
    let idx = username::index_updates(&refs, &view);
    Ok(Step::Done(Commit {
        claims: idx.claims,
        users: changes.into_iter().map(|(_, a)| a).collect(),
        releases: idx.releases,
        response,
        status,
    }))
}
