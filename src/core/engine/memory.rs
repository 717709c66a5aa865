//! An in-memory store that runs the core's operations: the npm package's `UserStore` and the
//! reference the Worker is tested against. It is the shell's loop in its simplest form: load
//! what an operation needs from maps, run it again, apply the commit.

use super::answers;
use super::drive::{self, Loader, OpFn};
use crate::core::access::auth::{self, Caller, Claims};
use crate::core::model::settings::AppSettings;
use crate::core::model::user::User;
use crate::core::ops::{self, Commit, Snapshot};
use crate::core::query::cursor::Page;
use crate::core::query::{order, payload};
use crate::core::wire::error::{OpError, Operation, Result};
use crate::core::wire::json::object;
use crate::core::wire::time::Timestamp;
use serde_json::Value;
use std::collections::BTreeMap;

/// Loads from the maps. Users move out into the snapshot, not copied: [`MemoryStore::run`]
/// moves them back when the operation ends.
struct MemoryLoader<'a>(&'a mut MemoryStore);

impl Loader for MemoryLoader<'_> {
    fn users(&mut self, ids: &[String]) -> Result<Vec<(String, Option<User>)>> {
        Ok(ids.iter().map(|id| (id.clone(), self.0.users.remove(id))).collect())
    }
    fn names(&mut self, keys: &[String]) -> Result<Vec<(String, Vec<String>)>> {
        Ok(keys.iter().map(|k| (k.clone(), self.0.names.get(k).cloned().unwrap_or_default())).collect())
    }
}

#[derive(Clone, Debug, Default)]
pub struct MemoryStore {
    pub settings: AppSettings,
    pub users: BTreeMap<String, User>,
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
        let result = drive::drive(&mut MemoryLoader(self), &mut snap, op, f);
        // The users the loader moved out come back, whatever the outcome; a commit then
        // replaces the ones it wrote.
        self.users.extend(snap.into_users());
        let mut commit = result?;
        self.apply(&mut commit);
        Ok(commit)
    }

    fn apply(&mut self, c: &mut Commit) {
        for (n, ids) in c.claims.iter().chain(&c.releases) {
            if ids.is_empty() {
                self.names.remove(n);
            } else {
                self.names.insert(n.clone(), ids.clone());
            }
        }
        for u in std::mem::take(&mut c.users) {
            if let Some(id) = u.get("id").and_then(Value::as_str) {
                self.users.insert(id.to_string(), u);
            }
        }
    }

    /// `POST /users`; the users move out of `body`.
    pub fn upsert_users(
        &mut self,
        body: Value,
        caller: &Caller,
        now: Timestamp,
    ) -> std::result::Result<Commit, OpError> {
        // Parsed once, not in every round of the load loop (the first round would fail alike).
        let op = Operation::UpdateUsers;
        let batch = ops::UpsertBatch::parse(body, caller).map_err(|error| OpError { op, error })?;
        self.run(op, &|s| ops::upsert_parsed(&batch, caller, now, s))
    }
    pub fn partial_update_users(
        &mut self,
        body: &Value,
        caller: &Caller,
        now: Timestamp,
    ) -> std::result::Result<Commit, OpError> {
        let op = Operation::UpdateUsersPartial;
        let batch = ops::PartialBatch::parse(body, caller, &self.settings).map_err(|error| OpError { op, error })?;
        self.run(op, &|s| ops::partial_update_parsed(&batch, caller, now, s))
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
                .users
                .get(id)
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
            Caller::User(id) => self.users.get(id),
            Caller::Server => None,
        };
        let (q, walk) = answers::for_caller(q, caller, me, &self.settings).map_err(fail)?;
        let page = match walk {
            Some(walk) => walk.page_in(&q, self.users.values()),
            None => {
                Page { users: order::run(&q, self.users.values()).into_iter().cloned().collect(), ..Page::default() }
            }
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
