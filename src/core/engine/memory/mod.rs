//! An in-memory store that runs the core's operations: the npm package's `UserStore` and the
//! reference the Worker is tested against. It is the shell's loop in its simplest form: load
//! what an operation needs from maps, run it again, apply the commit. Users are held as record
//! text ([`Stored`]); the batch writes run over records (`records.rs`), the other operations
//! over trees parsed from the text.

mod records;
mod stored;

use super::answers;
use super::batch;
use super::drive::{self, Loader, OpFn};
use crate::core::access::auth::{self, Caller, Claims};
use crate::core::model::pairs;
use crate::core::model::settings::AppSettings;
use crate::core::model::user::User;
use crate::core::model::username::IndexUpdates;
use crate::core::ops::{self, Commit, Snapshot};
use crate::core::query::cursor::Page;
use crate::core::query::{order, payload};
use crate::core::wire::error::{OpError, Operation, Result};
use crate::core::wire::json::{self, object};
use crate::core::wire::time::Timestamp;
use serde_json::Value;
use std::collections::BTreeMap;
use stored::Stored;

/// Loads from the maps. Users move out into the snapshot as trees, not copied, their texts kept
/// aside: [`MemoryStore::run`] moves them back when the operation ends.
struct MemoryLoader<'a> {
    users: &'a mut BTreeMap<String, Stored>,
    names: &'a BTreeMap<String, Vec<String>>,
    /// The texts of the users moved out, sorted by id.
    texts: Vec<(String, String)>,
}

impl Loader for MemoryLoader<'_> {
    fn users(&mut self, ids: &[String]) -> Result<Vec<(String, Option<User>)>> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let user = self.users.remove(id).map(|stored| {
                let (text, tree) = stored.split();
                pairs::insert_sorted(&mut self.texts, id.clone(), text);
                tree
            });
            out.push((id.clone(), user));
        }
        Ok(out)
    }
    fn names(&mut self, keys: &[String]) -> Result<Vec<(String, Vec<String>)>> {
        Ok(keys.iter().map(|k| (k.clone(), self.names.get(k).cloned().unwrap_or_default())).collect())
    }
}

/// A batch write's response body: text when the write ran over records, JSON when over trees.
#[derive(Clone, Debug, PartialEq)]
pub enum Response {
    Text(String),
    Json(Value),
}

impl Response {
    pub fn into_json(self) -> Value {
        match self {
            Response::Text(text) => json::parse(&text).unwrap_or_default(),
            Response::Json(value) => value,
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct MemoryStore {
    pub settings: AppSettings,
    users: BTreeMap<String, Stored>,
    pub names: BTreeMap<String, Vec<String>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs an operation to completion and applies its writes; returns the commit, whose users
    /// have moved into the store (`users` is left empty: the response holds what callers see).
    pub fn run(&mut self, op: Operation, f: &OpFn<'_>) -> std::result::Result<Commit, OpError> {
        let mut snap = Snapshot::new(self.settings.clone());
        let mut loader = MemoryLoader { users: &mut self.users, names: &self.names, texts: Vec::new() };
        let result = drive::drive(&mut loader, &mut snap, op, f);
        // The users the loader moved out come back, whatever the outcome; a commit then
        // replaces the ones it wrote.
        let mut texts = loader.texts;
        for (id, tree) in snap.into_users() {
            let at = texts.binary_search_by(|(t, _)| t.as_str().cmp(&id)).ok();
            let stored = match at.and_then(|at| texts.get_mut(at)) {
                Some((_, text)) => Stored::with(std::mem::take(text), tree),
                None => Stored::of_tree(tree),
            };
            self.users.insert(id, stored);
        }
        let mut commit = result?;
        self.apply(&mut commit);
        Ok(commit)
    }

    fn apply(&mut self, c: &mut Commit) {
        for (n, ids) in c.claims.iter().chain(&c.releases) {
            self.put_names(n, ids);
        }
        for u in std::mem::take(&mut c.users) {
            if let Some(id) = u.get("id").and_then(Value::as_str) {
                self.users.insert(id.to_string(), Stored::of_tree(u));
            }
        }
    }

    /// Writes one index list (an empty one is removed).
    fn put_names(&mut self, name: &str, ids: &[String]) {
        if ids.is_empty() {
            self.names.remove(name);
        } else {
            self.names.insert(name.to_string(), ids.to_vec());
        }
    }

    /// A stored user (what queries and operations over trees read).
    pub fn user(&self, id: &str) -> Option<&User> {
        self.users.get(id).map(Stored::tree)
    }
    /// Every stored user, by id.
    pub fn users(&self) -> impl Iterator<Item = &User> + Clone + '_ {
        self.users.values().map(Stored::tree)
    }
    /// Every stored user as a tree, by id (a copy: what tests compare).
    pub fn trees(&self) -> BTreeMap<String, User> {
        self.users.iter().map(|(id, s)| (id.clone(), s.tree().clone())).collect()
    }

    /// `POST /users` of the body's text, over records.
    pub fn upsert_text(
        &mut self,
        body: &str,
        caller: &Caller,
        now: Timestamp,
    ) -> std::result::Result<Response, OpError> {
        self.write(Write::Upsert, body, caller, now).map(|(response, _)| response)
    }
    /// `POST /users` of a parsed body ([`MemoryStore::upsert_text`]).
    pub fn upsert_users(
        &mut self,
        body: Value,
        caller: &Caller,
        now: Timestamp,
    ) -> std::result::Result<Commit, OpError> {
        let written = self.write(Write::Upsert, &json::text(&body), caller, now)?;
        Ok(answered(written, 201))
    }
    /// `PATCH /users` of the body's text, as [`MemoryStore::upsert_text`] runs.
    pub fn partial_text(
        &mut self,
        body: &str,
        caller: &Caller,
        now: Timestamp,
    ) -> std::result::Result<Response, OpError> {
        self.write(Write::Partial, body, caller, now).map(|(response, _)| response)
    }
    /// `PATCH /users` of a parsed body ([`MemoryStore::partial_text`]).
    pub fn partial_update_users(
        &mut self,
        body: &Value,
        caller: &Caller,
        now: Timestamp,
    ) -> std::result::Result<Commit, OpError> {
        let written = self.write(Write::Partial, &json::text(body), caller, now)?;
        Ok(answered(written, 200))
    }
    /// A batch write of the body's text, over records: the batch path, then unique usernames
    /// and the index. A user token under hidden fields gets the response without them.
    fn write(
        &mut self,
        w: Write,
        body: &str,
        caller: &Caller,
        now: Timestamp,
    ) -> std::result::Result<Written, OpError> {
        let op = w.op();
        let fail = |error| OpError { op, error };
        let load =
            &mut |ids: &[&str]| Ok(ids.iter().map(|id| self.users.get(*id).map(|s| s.text().to_string())).collect());
        let written = match w {
            Write::Upsert => batch::upsert(body, load, caller, &self.settings, now),
            Write::Partial => batch::partial_update(body, load, caller, &self.settings, now),
        };
        // An upsert's users are checked in id order, as the tree of its body holds them.
        let by_id = matches!(w, Write::Upsert);
        let (body, idx) = self.commit_records(written.map_err(fail)?, by_id).map_err(fail)?;
        match batch::hides(caller, &self.settings) {
            true => Ok((Response::Json(batch::shown(&body, caller, &self.settings)), idx)),
            false => Ok((Response::Text(body), idx)),
        }
    }
    pub fn connect_user(
        &mut self,
        user_id: &str,
        details: &Value,
        caller: &Caller,
        now: Timestamp,
    ) -> std::result::Result<Commit, OpError> {
        self.run(Operation::Connect, &|s| ops::connect_user(user_id, details, caller, now, s))
    }
    pub fn deactivate_user(
        &mut self,
        id: &str,
        body: &Value,
        caller: &Caller,
        now: Timestamp,
    ) -> std::result::Result<Commit, OpError> {
        self.run(Operation::DeactivateUser, &|s| ops::deactivate_user(id, body, caller, now, s))
    }
    pub fn reactivate_user(
        &mut self,
        id: &str,
        body: &Value,
        caller: &Caller,
        now: Timestamp,
    ) -> std::result::Result<Commit, OpError> {
        self.run(Operation::ReactivateUser, &|s| ops::reactivate_user(id, body, caller, now, s))
    }
    pub fn delete_user(
        &mut self,
        id: &str,
        hard: bool,
        caller: &Caller,
        now: Timestamp,
    ) -> std::result::Result<Commit, OpError> {
        self.run(Operation::DeleteUser, &|s| ops::delete_user(id, hard, caller, now, s))
    }
    pub fn restore_users(
        &mut self,
        body: &Value,
        caller: &Caller,
        now: Timestamp,
    ) -> std::result::Result<Commit, OpError> {
        self.run(Operation::RestoreUsers, &|s| ops::restore_users(body, caller, now, s))
    }
    /// Verifies a token the way the Worker does for each request: the app's auth policy
    /// (`disable_auth_checks`, app-wide `revoke_tokens_issued_before`), then the stored user's
    /// own `revoke_tokens_issued_before`.
    pub fn verify_token(&self, token: &str, secret: &str, now: Timestamp) -> Result<Claims> {
        let claims = auth::verify(token, secret, &self.settings.auth_policy(), now)?;
        if let Caller::User(id) = &claims.caller {
            let cutoff = self
                .user(id)
                .and_then(|u| u.get("revoke_tokens_issued_before"))
                .and_then(Value::as_str)
                .and_then(Timestamp::parse);
            auth::check_user_revocation(&claims, cutoff)?;
        }
        Ok(claims)
    }
    /// `GET /users`: as `caller` may see it (tenants, search permissions, hidden fields).
    pub fn query_users(&self, payload: &Value, caller: &Caller) -> std::result::Result<Value, OpError> {
        let fail = |error| OpError { op: Operation::QueryUsers, error };
        let q = payload::parse_value(payload).map_err(fail)?;
        let me = match caller {
            Caller::User(id) => self.user(id),
            Caller::Server => None,
        };
        let (q, walk) = answers::for_caller(q, caller, me, &self.settings).map_err(fail)?;
        let page = match walk {
            Some(walk) => walk.page_in(&q, self.users()),
            None => Page { users: order::run(&q, self.users()).into_iter().cloned().collect(), ..Page::default() },
        };
        // A store in memory holds no connections: nobody is online.
        Ok(answers::users_answer(page, caller, &self.settings, |_| false))
    }
    pub fn get_app(&self) -> Value {
        ops::get_app(&self.settings)
    }
    pub fn update_app(&mut self, patch: &Value, caller: &Caller) -> std::result::Result<Value, OpError> {
        self.settings = ops::update_app(&self.settings, patch, caller)
            .map_err(|error| OpError { op: Operation::UpdateApp, error })?;
        Ok(object([]))
    }
}

/// The batch writes.
#[derive(Clone, Copy)]
enum Write {
    Upsert,
    Partial,
}

impl Write {
    fn op(self) -> Operation {
        match self {
            Write::Upsert => Operation::UpdateUsers,
            Write::Partial => Operation::UpdateUsersPartial,
        }
    }
}

/// What a batch write answers and the index lists it wrote.
type Written = (Response, IndexUpdates);

/// The commit a batch write answers with (its users are in the store).
fn answered((response, idx): Written, status: u16) -> Commit {
    Commit { claims: idx.claims, users: Vec::new(), releases: idx.releases, response: response.into_json(), status }
}
