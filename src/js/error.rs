//! The one place where a core error becomes a JavaScript `Error`.
//!
//! A failed operation throws an `Error` named `RosterError` whose `message` is Stream's
//! `<Operation> failed with error: "<reason>"` and whose own properties are the rest of the
//! envelope the Worker answers with (`code`, `StatusCode`, `more_info`, `details`, and
//! `exception_fields` for field errors), built by the core's [`ApiError::envelope`] so the two
//! cannot drift apart. Calling a function with arguments of the wrong JavaScript type (a number
//! where a string is required) throws a plain `TypeError` instead, as JavaScript APIs do.

use crate::core::{ApiError, Operation};
use serde_json::Value;
use wasm_bindgen::JsValue;

/// The `name` of every error an operation throws.
const NAME: &str = "RosterError";

/// A `RosterError` for `error` as operation `op` reports it.
pub(crate) fn roster_error(op: Operation, error: &ApiError) -> JsValue {
    let err = js_sys::Error::new(&error.message(op));
    err.set_name(NAME);
    if let Value::Object(envelope) = error.envelope(op, "") {
        for (key, value) in &envelope {
            // `message` is the Error's own; `duration` means nothing outside HTTP.
            if key != "message" && key != "duration" {
                // Setting a property on a fresh Error cannot fail.
                let _ = js_sys::Reflect::set(&err, &JsValue::from_str(key), &plain(value));
            }
        }
    }
    err.into()
}

/// A `TypeError` for an argument of the wrong JavaScript type.
pub(crate) fn type_error(message: &str) -> JsValue {
    js_sys::TypeError::new(message).into()
}

/// A JSON value as a JavaScript value, for the few small values of an error envelope.
fn plain(value: &Value) -> JsValue {
    match value {
        Value::Number(n) => n.as_f64().map_or(JsValue::NULL, JsValue::from_f64),
        Value::String(s) => JsValue::from_str(s),
        Value::Bool(b) => JsValue::from_bool(*b),
        Value::Null => JsValue::NULL,
        Value::Array(_) | Value::Object(_) => {
            js_sys::JSON::parse(&serde_json::to_string(value).unwrap_or_default()).unwrap_or(JsValue::NULL)
        }
    }
}

/// Whether `value` is an error an operation threw: named `RosterError` with a numeric `code`.
/// Checked by shape rather than `instanceof`, so it also holds across realms.
pub(crate) fn is_roster_error(value: &JsValue) -> bool {
    let get = |key: &str| js_sys::Reflect::get(value, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED);
    value.is_object() && get("name").as_string().as_deref() == Some(NAME) && get("code").as_f64().is_some()
}
