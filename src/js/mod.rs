//! The npm package's wasm-bindgen layer (cargo feature `js`): camelCase exports over the core.
//!
//! Thin by design: each export converts its arguments ([`convert`]), supplies the defaults
//! (the caller is the server, the time is `Date.now()`), calls one core function and maps a
//! failure to a `RosterError` in one place ([`error`]). The precise TypeScript declarations
//! are hand-written in `src/js/package/index.d.ts`, next to the per-environment entry modules.

mod batch;
mod boundary;
mod convert;
mod error;
mod store;

use crate::core::access::auth;
use crate::core::engine::batch::{self as writes, Written};
use crate::core::model::normalize::normalize;
use crate::core::model::settings::AppSettings;
use crate::core::{ops, ApiError, Operation};
use convert::throw;
use error::type_error;
use serde_json::Value;
use wasm_bindgen::prelude::*;

/// Runs when the module is instantiated: the core reads floats with JavaScript's `parseFloat`.
#[wasm_bindgen(start)]
pub fn start() {
    crate::core::wire::json::set_float_reader(|token| Some(js_sys::Number::parse_float(token)).filter(|f| !f.is_nan()));
}

/// `normalizeUsername(name)`: the form unique usernames are compared in.
#[wasm_bindgen(js_name = normalizeUsername)]
pub fn normalize_username(name: &JsValue) -> Result<String, JsValue> {
    Ok(normalize(&convert::string(name, "name")?))
}

/// `applyPartialUpdate(user, {id, set, unset}, {caller, now})`: one entry of `PATCH /users`,
/// applied to `user` by the batch entry point over records.
#[wasm_bindgen(js_name = applyPartialUpdate)]
pub fn apply_partial_update(user: &JsValue, update: &JsValue, options: &JsValue) -> Result<JsValue, JsValue> {
    let op = Operation::UpdateUsersPartial;
    let call = convert::call(options)?;
    let user = object_text(user, "user", op)?.ok_or_else(|| type_error("user must be an object"))?;
    let body = format!("{{\"users\":[{}]}}", throw(op, convert::to_text(update, "update"))?);
    let written = writes::partial_update(
        &body,
        &mut |ids| Ok(vec![Some(user.clone()); ids.len()]),
        &call.caller,
        &Default::default(),
        call.now,
    );
    one_record(op, "update", written)
}

/// `mergeUpsert(stored, input, {caller, now})`: what `POST /users` makes of one user (the batch
/// entry point over records, with `input` keyed by its `id`).
#[wasm_bindgen(js_name = mergeUpsert)]
pub fn merge_upsert(stored: &JsValue, input: &JsValue, options: &JsValue) -> Result<JsValue, JsValue> {
    let op = Operation::UpdateUsers;
    let call = convert::call(options)?;
    let stored = match stored.is_undefined() || stored.is_null() {
        true => None,
        false => Some(
            object_text(stored, "stored user", op)?
                .ok_or_else(|| type_error("stored user must be an object, null or undefined"))?,
        ),
    };
    // Keyed by its id as `UserStore.upsertUsers` keys each user (`boundary.js`); without a
    // string id, by "", which no valid id takes.
    let member = boundary::upsert_members(&js_sys::Array::of1(input)).map(|runs| runs.get(0).as_string());
    let member = throw(op, member.flatten().ok_or_else(|| ApiError::input("user cannot be serialized as JSON")))?;
    let body = format!("{{\"users\":{{{member}}}}}");
    let written = writes::upsert(
        &body,
        &mut |ids| Ok(vec![stored.clone(); ids.len()]),
        &call.caller,
        &Default::default(),
        call.now,
    );
    one_record(op, "user", written)
}

/// The JSON text of a plain-object argument (`None`: another value).
fn object_text(value: &JsValue, what: &str, op: Operation) -> Result<Option<String>, JsValue> {
    let text = throw(op, convert::to_text(value, what))?;
    Ok(text.starts_with('{').then_some(text))
}

/// The one user a batch write of one user wrote, as JavaScript values.
fn one_record(op: Operation, what: &str, written: Result<Written, ApiError>) -> Result<JsValue, JsValue> {
    let written = written.map_err(|e| error::roster_error(op, &convert::body_error(e, what)))?;
    let (_, record) = written.records().next().unwrap_or_default();
    throw(op, convert::parsed(record))
}

/// `validateUser(user)`: throws what `POST /users` would refuse in this user on its own.
#[wasm_bindgen(js_name = validateUser)]
pub fn validate_user(user: &JsValue) -> Result<(), JsValue> {
    let op = Operation::UpdateUsers;
    let user = throw(op, convert::to_json(user, "user"))?;
    throw(op, ops::validate_user(&user))
}

/// `createToken(secret, {server: true} | {user_id, exp?, iat?})`: an HS256 JWT as Stream's
/// server SDKs make them.
#[wasm_bindgen(js_name = createToken)]
pub fn create_token(secret: &JsValue, claims: &JsValue) -> Result<String, JsValue> {
    let secret = convert::string(secret, "secret")?;
    let get = |key: &str| convert::field(claims, key);
    if !claims.is_object() {
        return Err(type_error("claims must be {server: true} or {user_id: string, exp?: number, iat?: number}"));
    }
    if get("server")?.as_bool() == Some(true) {
        return Ok(auth::server_token(&secret));
    }
    match get("user_id")?.as_string() {
        Some(id) if !id.is_empty() => {
            Ok(auth::user_token(&id, seconds(&get("exp")?, "exp")?, seconds(&get("iat")?, "iat")?, &secret))
        }
        _ => Err(type_error("claims must be {server: true} or {user_id: string, exp?: number, iat?: number}")),
    }
}

/// An optional whole number of seconds.
fn seconds(value: &JsValue, what: &str) -> Result<Option<i64>, JsValue> {
    if value.is_undefined() || value.is_null() {
        return Ok(None);
    }
    match value.as_f64() {
        // Safe integers convert exactly.
        Some(s) if s.fract() == 0.0 && s.abs() <= 9_007_199_254_740_991.0 => Ok(Some(s as i64)),
        _ => Err(type_error(&format!("{what} must be a whole number of seconds"))),
    }
}

/// `verifyToken(token, secret, {now, settings})`: the caller a token speaks for, under the
/// auth policy of `settings` (`disable_auth_checks`, `revoke_tokens_issued_before`).
#[wasm_bindgen(js_name = verifyToken)]
pub fn verify_token(token: &JsValue, secret: &JsValue, options: &JsValue) -> Result<JsValue, JsValue> {
    let op = Operation::Request;
    let token = convert::string(token, "token")?;
    let secret = convert::string(secret, "secret")?;
    let now = convert::now_option(options)?;
    let settings = match throw(op, convert::to_json(&convert::field(options, "settings")?, "settings"))? {
        Value::Object(map) => AppSettings::from_stored(map),
        Value::Null => AppSettings::default(),
        _ => return Err(type_error("settings must be an object")),
    };
    let claims = throw(op, auth::verify(&token, &secret, &settings.auth_policy(), now))?;
    throw(op, convert::from_json(&convert::claims(&claims)))
}

/// `isRosterError(value)`: whether `value` is an error an operation threw.
#[wasm_bindgen(js_name = isRosterError)]
pub fn is_roster_error(value: &JsValue) -> bool {
    error::is_roster_error(value)
}
