//! `UserStore`: the core's in-memory store ([`MemoryStore`]) as a JavaScript class.
//!
//! Every method takes the arguments the matching stream-chat SDK call takes, builds the request
//! body the SDK would send, runs the same core operation as the Worker's endpoint and returns
//! that endpoint's response body (without `duration`).

use super::boundary::upsert_members;
use super::convert::{self, throw};
use super::error::{roster_error, type_error};
use crate::core::engine::memory::{MemoryStore, Response};
use crate::core::wire::error::OpError;
use crate::core::wire::json::object;
use crate::core::{ApiError, Operation};
use serde_json::{Map, Value};
use wasm_bindgen::prelude::*;

/// Users, the username index and app settings, in memory.
#[wasm_bindgen]
#[derive(Default)]
pub struct UserStore {
    inner: MemoryStore,
}

/// The core's answer to operation `op`: its response body, or its error mapped in one place.
fn answer(op: Operation, result: Result<Value, OpError>) -> Result<JsValue, JsValue> {
    let response = result.map_err(|e| roster_error(e.op, &e.error))?;
    throw(op, convert::from_json(&response))
}

/// A batch write's answer, its response body as JavaScript values; `what` names the argument
/// whose text the body holds.
fn written(op: Operation, what: &str, result: Result<Response, OpError>) -> Result<JsValue, JsValue> {
    match result {
        Ok(Response::Text(text)) => throw(op, convert::parsed(&text)),
        Ok(Response::Json(value)) => answer(op, Ok(value)),
        Err(e) => Err(roster_error(e.op, &convert::body_error(e.error, what))),
    }
}

/// `POST /users`'s body of `users`: an array is keyed by each entry's `id`, in JavaScript
/// (`boundary.js`: one call, and one string per run of users, not three calls per user). An
/// entry without a string id goes under "", which no valid id can take, so the core still sees
/// it and refuses the batch; of entries with one id, the last is kept.
fn upsert_body(users: &JsValue) -> Result<String, ApiError> {
    let Some(list) = users.dyn_ref::<js_sys::Array>() else {
        return Ok(format!("{{\"users\":{}}}", convert::to_text(users, "users")?));
    };
    let members = upsert_members(list).ok_or_else(|| ApiError::input("users cannot be serialized as JSON"))?;
    let mut body = String::from("{\"users\":{");
    for (i, member) in members.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(&member.as_string().unwrap_or_default());
    }
    body.push_str("}}");
    Ok(body)
}

/// A JSON argument of operation `op` (`undefined` is `null`).
fn arg(value: &JsValue, what: &str, op: Operation) -> Result<Value, JsValue> {
    throw(op, convert::to_json(value, what))
}

#[wasm_bindgen]
impl UserStore {
    /// An empty store with default app settings.
    #[wasm_bindgen(constructor)]
    pub fn new() -> UserStore {
        UserStore::default()
    }

    /// `POST /users`: `users` is an array (as `client.upsertUsers` takes it) or the body's
    /// `{id: user}` map. Returns `{users: {id: user}, membership_deletion_task_id}`.
    #[wasm_bindgen(js_name = upsertUsers)]
    pub fn upsert_users(&mut self, users: &JsValue, options: &JsValue) -> Result<JsValue, JsValue> {
        let op = Operation::UpdateUsers;
        let call = convert::call(options)?;
        let body = throw(op, upsert_body(users))?;
        written(op, "users", self.inner.upsert_text(&body, &call.caller, call.now))
    }

    /// `PATCH /users` with `[{id, set, unset}]`. Returns `{users: {id: user}}`.
    #[wasm_bindgen(js_name = partialUpdateUsers)]
    pub fn partial_update_users(&mut self, updates: &JsValue, options: &JsValue) -> Result<JsValue, JsValue> {
        let op = Operation::UpdateUsersPartial;
        let call = convert::call(options)?;
        let body = format!("{{\"users\":{}}}", throw(op, convert::to_text(updates, "updates"))?);
        written(op, "updates", self.inner.partial_text(&body, &call.caller, call.now))
    }

    /// Client-side `connectUser(user)`: creates the user or merges the fields given. Returns
    /// the `me` object of the first `health.check` frame.
    #[wasm_bindgen(js_name = connectUser)]
    pub fn connect_user(&mut self, user: &JsValue, options: &JsValue) -> Result<JsValue, JsValue> {
        let op = Operation::Connect;
        let call = convert::call(options)?;
        let details = arg(user, "user", op)?;
        let id = details.get("id").and_then(Value::as_str).unwrap_or_default().to_string();
        answer(op, self.inner.connect_user(&id, &details, &call.caller, call.now).map(|c| c.response))
    }

    /// `GET /users?payload=…` from `queryUsers(filter, sort, options)`: `sort` is
    /// `[{field, direction}]`, `options` holds `limit`, `offset`, `include_deactivated_users`, …
    /// and the `caller` (a user caller sees what a user token sees: its tenants, no hidden fields).
    /// Returns `{users: [user]}`.
    #[wasm_bindgen(js_name = queryUsers)]
    pub fn query_users(&self, filter: &JsValue, sort: &JsValue, options: &JsValue) -> Result<JsValue, JsValue> {
        let op = Operation::QueryUsers;
        let call = convert::call(options)?;
        let mut payload = match arg(options, "options", op)? {
            Value::Object(map) => map,
            Value::Null => Map::new(),
            _ => return Err(type_error("options must be an object")),
        };
        payload.remove("caller");
        payload.remove("now");
        for (key, value) in [("filter_conditions", arg(filter, "filter", op)?), ("sort", arg(sort, "sort", op)?)] {
            if !value.is_null() {
                payload.insert(key.into(), value);
            }
        }
        answer(op, self.inner.query_users(&Value::Object(payload), &call.caller))
    }

    /// `GET /app`: `{app: settings}`, with defaults for what was never set.
    #[wasm_bindgen(js_name = getAppSettings)]
    pub fn get_app_settings(&self) -> Result<JsValue, JsValue> {
        throw(Operation::GetApp, convert::from_json(&self.inner.get_app()))
    }

    /// `PATCH /app`: stores every setting given, validating the ones Roster acts on. Returns `{}`.
    #[wasm_bindgen(js_name = updateAppSettings)]
    pub fn update_app_settings(&mut self, settings: &JsValue, options: &JsValue) -> Result<JsValue, JsValue> {
        let op = Operation::UpdateApp;
        let call = convert::call(options)?;
        let patch = arg(settings, "settings", op)?;
        answer(op, self.inner.update_app(&patch, &call.caller))
    }

    /// `POST /users/{id}/deactivate` with `{mark_messages_deleted, created_by_id, …}`.
    /// Returns `{user}`.
    #[wasm_bindgen(js_name = deactivateUser)]
    pub fn deactivate_user(&mut self, id: &JsValue, params: &JsValue, options: &JsValue) -> Result<JsValue, JsValue> {
        let op = Operation::DeactivateUser;
        let (id, call) = (convert::string(id, "user id")?, convert::call(options)?);
        let params = arg(params, "params", op)?;
        answer(op, self.inner.deactivate_user(&id, &params, &call.caller, call.now).map(|c| c.response))
    }

    /// `POST /users/{id}/reactivate` with `{name, restore_messages, …}`. Returns `{user}`.
    #[wasm_bindgen(js_name = reactivateUser)]
    pub fn reactivate_user(&mut self, id: &JsValue, params: &JsValue, options: &JsValue) -> Result<JsValue, JsValue> {
        let op = Operation::ReactivateUser;
        let (id, call) = (convert::string(id, "user id")?, convert::call(options)?);
        let params = arg(params, "params", op)?;
        answer(op, self.inner.reactivate_user(&id, &params, &call.caller, call.now).map(|c| c.response))
    }

    /// `DELETE /users/{id}`, soft unless `{hard_delete: true}`. Returns `{user}`.
    #[wasm_bindgen(js_name = deleteUser)]
    pub fn delete_user(&mut self, id: &JsValue, params: &JsValue, options: &JsValue) -> Result<JsValue, JsValue> {
        let op = Operation::DeleteUser;
        let (id, call) = (convert::string(id, "user id")?, convert::call(options)?);
        let hard = convert::field(params, "hard_delete")?;
        if !(hard.is_undefined() || hard.is_null() || hard.as_bool().is_some()) {
            return Err(type_error("hard_delete must be a boolean"));
        }
        answer(
            op,
            self.inner.delete_user(&id, hard.as_bool() == Some(true), &call.caller, call.now).map(|c| c.response),
        )
    }

    /// `POST /users/restore` with `{user_ids}`. Returns `{}`.
    #[wasm_bindgen(js_name = restoreUsers)]
    pub fn restore_users(&mut self, user_ids: &JsValue, options: &JsValue) -> Result<JsValue, JsValue> {
        let op = Operation::RestoreUsers;
        let call = convert::call(options)?;
        let ids = arg(user_ids, "user ids", op)?;
        answer(op, self.inner.restore_users(&object([("user_ids", ids)]), &call.caller, call.now).map(|c| c.response))
    }

    /// The caller a token speaks for, checked as the Worker checks each request: this app's
    /// auth policy, then the user's own `revoke_tokens_issued_before`.
    #[wasm_bindgen(js_name = verifyToken)]
    pub fn verify_token(&self, token: &JsValue, secret: &JsValue, options: &JsValue) -> Result<JsValue, JsValue> {
        let op = Operation::Request;
        let (token, secret) = (convert::string(token, "token")?, convert::string(secret, "secret")?);
        let now = convert::now_option(options)?;
        let claims = throw(op, self.inner.verify_token(&token, &secret, now))?;
        throw(op, convert::from_json(&convert::claims(&claims)))
    }
}
