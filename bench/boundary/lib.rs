//! The same core calls behind two boundaries. `json`: `JSON.stringify` → `serde_json` in, and
//! `serde_json` → `JSON.parse` out (what src/js does). `swb`: serde-wasm-bindgen both ways,
//! with `Serializer::json_compatible()` so maps come out as plain objects.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use roster::core::access::auth::Caller;
use roster::core::engine::memory::MemoryStore;
use roster::core::wire::time::Timestamp;
use serde_json::{json, Value};
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
#[derive(Default)]
pub struct Store(MemoryStore);

#[wasm_bindgen]
impl Store {
    #[wasm_bindgen(constructor)]
    pub fn new() -> Store {
        Store::default()
    }
}

fn upsert(store: &mut Store, users: Value) -> Value {
    let r = store.0.upsert_users(&json!({ "users": users }), &Caller::Server, Timestamp(0));
    r.map(|c| c.response).unwrap_or(Value::Null)
}

fn query(store: &Store, payload: Value) -> Value {
    store.0.query_users(&payload).unwrap_or(Value::Null)
}

#[cfg(feature = "json")]
mod text {
    use super::*;

    fn read(v: &JsValue) -> Value {
        let s = js_sys::JSON::stringify(v).unwrap().as_string().unwrap_or_default();
        serde_json::from_slice(s.as_bytes()).unwrap_or(Value::Null)
    }
    fn write(v: &Value) -> JsValue {
        js_sys::JSON::parse(&serde_json::to_string(v).unwrap()).unwrap()
    }

    #[wasm_bindgen(js_name = echoJson)]
    pub fn echo(v: &JsValue) -> JsValue {
        write(&read(v))
    }
    #[wasm_bindgen(js_name = upsertJson)]
    pub fn upsert_users(store: &mut Store, users: &JsValue) -> JsValue {
        write(&upsert(store, read(users)))
    }
    #[wasm_bindgen(js_name = queryJson)]
    pub fn query_users(store: &Store, payload: &JsValue) -> JsValue {
        write(&query(store, read(payload)))
    }
}

#[cfg(feature = "swb")]
mod values {
    use super::*;
    use serde::Serialize;

    fn read(v: &JsValue) -> Value {
        serde_wasm_bindgen::from_value(v.clone()).unwrap_or(Value::Null)
    }
    fn write(v: &Value) -> JsValue {
        v.serialize(&serde_wasm_bindgen::Serializer::json_compatible()).unwrap()
    }

    #[wasm_bindgen(js_name = echoSwb)]
    pub fn echo(v: &JsValue) -> JsValue {
        write(&read(v))
    }
    #[wasm_bindgen(js_name = upsertSwb)]
    pub fn upsert_users(store: &mut Store, users: &JsValue) -> JsValue {
        write(&upsert(store, read(users)))
    }
    #[wasm_bindgen(js_name = querySwb)]
    pub fn query_users(store: &Store, payload: &JsValue) -> JsValue {
        write(&query(store, read(payload)))
    }
}
