//! An in-memory store that runs the core's operations: the npm package's `UserStore` and the
//! reference the Worker is tested against. It is the shell's loop in its simplest form: load
//! what an operation needs from maps, run it again, apply the commit.

use super::auth::{self, Caller, Claims};
use super::error::{ApiError, Operation, Result};
use super::json::object;
use super::ops::{self, Commit, Snapshot, Step};
use super::query;
use super::settings::AppSettings;
use super::time::Timestamp;
use super::user::{self, User};
use super::username;
use serde_json::Value;
use std::collections::BTreeMap;

/// An error with the operation it came from, as Stream reports it.
#[derive(Clone, Debug, PartialEq)]
pub struct OpError {
    pub op: Operation,
    pub error: ApiError,
}

impl OpError {
    pub fn message(&self) -> String {
        self.error.message(self.op)
    }
}

#[derive(Clone, Debug, Default)]
pub struct MemoryStore {
    pub settings: AppSettings,
    pub users: BTreeMap<String, User>,
    pub names: BTreeMap<String, Vec<String>>,
}

/// An operation over a snapshot, as the core defines them.
pub type OpFn<'a> = dyn Fn(&Snapshot) -> Result<Step> + 'a;

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs an operation to completion and applies its writes; returns the response body.
    pub fn run(&mut self, op: Operation, f: &OpFn<'_>) -> std::result::Result<Commit, OpError> {
        let mut snap = Snapshot::new(self.settings.clone());
        // Each round loads strictly more, so this ends; the bound guards against a core bug.
        for _ in 0..8 {
            match f(&snap).map_err(|error| OpError { op, error })? {
                Step::Need(need) => {
                    let mut names = need.names;
                    for id in need.users {
                        let u = self.users.get(&id).cloned();
                        // In memory a user's index list costs nothing to fetch with it: the
                        // operation then needs no round for its names (renames included).
                        names.extend(u.as_ref().and_then(username::held_name));
                        snap.load_user(id, u);
                    }
                    for n in names {
                        let ids = self.names.get(&n).cloned().unwrap_or_default();
                        snap.names.insert(n, ids);
                    }
                }
                Step::Done(commit) => {
                    self.apply(&commit);
                    return Ok(commit);
                }
            }
        }
        Err(OpError { op, error: ApiError::internal("operation did not converge") })
    }

    fn apply(&mut self, c: &Commit) {
        for (n, ids) in c.claims.iter().chain(&c.releases) {
            if ids.is_empty() {
                self.names.remove(n);
            } else {
                self.names.insert(n.clone(), ids.clone());
            }
        }
        for u in &c.users {
            if let Some(id) = u.get("id").and_then(Value::as_str) {
                self.users.insert(id.to_string(), u.clone());
            }
        }
    }

    pub fn upsert_users(
        &mut self,
        body: &Value,
        caller: &Caller,
        now: Timestamp,
    ) -> std::result::Result<Commit, OpError> {
        self.run(Operation::UpdateUsers, &|s| ops::upsert_users(body, caller, now, s))
    }
    pub fn partial_update_users(
        &mut self,
        body: &Value,
        caller: &Caller,
        now: Timestamp,
    ) -> std::result::Result<Commit, OpError> {
        self.run(Operation::UpdateUsersPartial, &|s| ops::partial_update_users(body, caller, now, s))
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
    pub fn query_users(&self, payload: &Value) -> std::result::Result<Value, OpError> {
        let q = query::parse_value(payload).map_err(|error| OpError { op: Operation::QueryUsers, error })?;
        let found: Vec<Value> =
            query::run(&q, self.users.values()).into_iter().map(|u| Value::Object(user::public_view(u))).collect();
        Ok(object([("users", Value::Array(found))]))
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
