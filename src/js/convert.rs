//! Conversions at the wasm boundary: JavaScript values to the core's JSON and back, and the
//! optional arguments every call shares (`caller`, `now`) with their defaults.
//!
//! Values cross as JSON text (`JSON.stringify` → `serde_json`, `serde_json` → `JSON.parse`).
//! The core works on `serde_json::Value` anyway, and for these JSON-shaped objects the text
//! boundary measured faster and smaller than serde-wasm-bindgen (see `bench/boundary`).

use super::error::{roster_error, type_error};
use crate::core::access::auth::{Caller, Claims};
use crate::core::wire::json;
use crate::core::wire::time::Timestamp;
use crate::core::{ApiError, Operation};
use serde_json::Value;
use wasm_bindgen::{JsCast, JsValue};

/// The largest distance from the epoch a JavaScript `Date` can hold, in milliseconds.
const MAX_DATE_MS: f64 = 8.64e15;

/// Runs the core's answer through the one error mapping, for operation `op`.
pub(crate) fn throw<T>(op: Operation, result: Result<T, ApiError>) -> Result<T, JsValue> {
    result.map_err(|e| roster_error(op, &e))
}

/// A JavaScript value as JSON; `undefined` (and whatever `JSON.stringify` drops) is `null`.
/// Data that JSON cannot carry (cycles, BigInt, nesting deeper than 128) is an input error.
pub(crate) fn to_json(value: &JsValue, what: &str) -> Result<Value, ApiError> {
    if value.is_undefined() || value.is_null() {
        return Ok(Value::Null);
    }
    let text =
        js_sys::JSON::stringify(value).map_err(|_| ApiError::input(format!("{what} cannot be serialized as JSON")))?;
    match text.as_string() {
        // `json::parse` is the instantiation the core already links.
        Some(text) => json::parse(&text).map_err(|_| unreadable(what)),
        None => Ok(Value::Null),
    }
}

/// The error for JSON text `JSON.stringify` wrote that serde_json refuses: it does so only when
/// the text nests deeper than 128 levels or holds an unpaired surrogate.
pub(crate) fn unreadable(what: &str) -> ApiError {
    ApiError::input(format!(
        "{what} cannot be read as JSON: it nests deeper than 128 levels or holds an unpaired surrogate"
    ))
}

/// An error of a write whose body holds the text `JSON.stringify` wrote of argument `what`:
/// text serde_json refuses is worded as for every other argument ([`unreadable`]).
pub(crate) fn body_error(error: ApiError, what: &str) -> ApiError {
    if error.reason.starts_with(crate::core::wire::error::INVALID_BODY) {
        unreadable(what)
    } else {
        error
    }
}

/// JSON text the core wrote, as JavaScript values.
pub(crate) fn parsed(text: &str) -> Result<JsValue, ApiError> {
    js_sys::JSON::parse(text).map_err(|_| ApiError::internal("the result could not be converted to a JavaScript value"))
}

/// A JavaScript value as JSON text, as `JSON.stringify` writes it (`undefined`, and whatever it
/// drops, is `null`).
pub(crate) fn to_text(value: &JsValue, what: &str) -> Result<String, ApiError> {
    if value.is_undefined() || value.is_null() {
        return Ok("null".into());
    }
    let text =
        js_sys::JSON::stringify(value).map_err(|_| ApiError::input(format!("{what} cannot be serialized as JSON")))?;
    Ok(text.as_string().unwrap_or_else(|| "null".into()))
}

/// A JSON value as a JavaScript value (plain objects and arrays).
pub(crate) fn from_json(value: &Value) -> Result<JsValue, ApiError> {
    let text = serde_json::to_string(value).unwrap_or_default();
    js_sys::JSON::parse(&text)
        .map_err(|_| ApiError::internal("the result could not be converted to a JavaScript value"))
}

/// A required string argument.
pub(crate) fn string(value: &JsValue, what: &str) -> Result<String, JsValue> {
    value.as_string().ok_or_else(|| type_error(&format!("{what} must be a string")))
}

/// Who calls and when: the optional options object of every write.
pub(crate) struct Call {
    pub caller: Caller,
    pub now: Timestamp,
}

/// Reads `{caller?, now?}`; the caller defaults to the server, the time to `Date.now()`.
pub(crate) fn call(options: &JsValue) -> Result<Call, JsValue> {
    Ok(Call { caller: caller(&field(options, "caller")?)?, now: now(&field(options, "now")?)? })
}

/// Reads `now` alone from an options object (for calls that have no caller).
pub(crate) fn now_option(options: &JsValue) -> Result<Timestamp, JsValue> {
    now(&field(options, "now")?)
}

/// `options[key]`, or `undefined` when `options` is `undefined` or `null`.
pub(crate) fn field(options: &JsValue, key: &str) -> Result<JsValue, JsValue> {
    if options.is_undefined() || options.is_null() {
        return Ok(JsValue::UNDEFINED);
    }
    if !options.is_object() {
        return Err(type_error("options must be an object"));
    }
    js_sys::Reflect::get(options, &JsValue::from_str(key))
}

/// `{server: true}` or `{user_id}`, the shapes of a token's claims; the server by default.
fn caller(value: &JsValue) -> Result<Caller, JsValue> {
    if value.is_undefined() || value.is_null() {
        return Ok(Caller::Server);
    }
    let bad = || type_error("caller must be {server: true} or {user_id: string}");
    if !value.is_object() {
        return Err(bad());
    }
    let get = |key: &str| js_sys::Reflect::get(value, &JsValue::from_str(key));
    if get("server")?.as_bool() == Some(true) {
        return Ok(Caller::Server);
    }
    match get("user_id")?.as_string() {
        Some(id) if !id.is_empty() => Ok(Caller::User(id)),
        _ => Err(bad()),
    }
}

/// A `Date`, milliseconds since the epoch, or an RFC 3339 string; `Date.now()` by default.
fn now(value: &JsValue) -> Result<Timestamp, JsValue> {
    let millis = if value.is_undefined() || value.is_null() {
        Some(js_sys::Date::now())
    } else if let Some(date) = value.dyn_ref::<js_sys::Date>() {
        Some(date.get_time())
    } else if let Some(text) = value.as_string() {
        return Timestamp::parse(&text).ok_or_else(bad_time);
    } else {
        value.as_f64()
    };
    match millis {
        // In range, the product fits an i64 exactly enough; `as` saturates regardless.
        Some(ms) if ms.is_finite() && ms.abs() <= MAX_DATE_MS => Ok(Timestamp((ms * 1000.0).floor() as i64)),
        _ => Err(bad_time()),
    }
}

fn bad_time() -> JsValue {
    type_error("now must be a valid Date, a number of milliseconds since the epoch or an RFC 3339 string")
}

/// Verified claims in the shape of a token's payload: `{server: true}` or `{user_id}`, plus
/// `iat` and `exp` (seconds) when the token has them. The result works as a `caller`.
pub(crate) fn claims(claims: &Claims) -> Value {
    let mut out = match &claims.caller {
        Caller::Server => json::object([("server", Value::Bool(true))]),
        Caller::User(id) => json::object([("user_id", Value::from(id.as_str()))]),
    };
    if let Value::Object(m) = &mut out {
        if let Some(iat) = claims.iat {
            m.insert("iat".into(), iat.into());
        }
        if let Some(exp) = claims.exp {
            m.insert("exp".into(), exp.into());
        }
    }
    out
}
