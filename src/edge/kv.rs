//! Workers KV through the namespace's own JavaScript methods, with values and metadata as JSON
//! text, and [`all`] to await many storage promises at once.
//!
//! workers-rs' `KvStore` converts every value, option object and list page with
//! serde-wasm-bindgen and links float formatting for numeric values; with `try_join_all` that
//! was about 31 KB of the Worker's 195 KB gzipped wasm. Roster stores only JSON text, so it
//! calls `get`, `put`, `delete` and `list` directly and crosses the boundary as strings, as the
//! npm package does.

use crate::core::wire::error::ApiError;
use crate::core::wire::json;
use js_sys::{Array, Object, Promise, Reflect, JSON};
use serde_json::Value;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

#[wasm_bindgen]
extern "C" {
    /// A KV namespace binding, such as `env.USERS`.
    #[derive(Clone)]
    pub type KvNamespace;

    /// `get(key | keys, {type})`: a value, or a `Map` of key → value for an array of keys.
    #[wasm_bindgen(method, catch)]
    fn get(this: &KvNamespace, keys: &JsValue, options: &JsValue) -> Result<Promise, JsValue>;

    /// `put(key, value, {metadata})`.
    #[wasm_bindgen(method, catch)]
    fn put(this: &KvNamespace, key: &str, value: &str, options: &JsValue) -> Result<Promise, JsValue>;

    /// `delete(key)`.
    #[wasm_bindgen(method, catch)]
    fn delete(this: &KvNamespace, key: &str) -> Result<Promise, JsValue>;

    /// `list({prefix, limit, cursor})`: `{keys: [{name, metadata}], list_complete, cursor}`.
    #[wasm_bindgen(method, catch)]
    fn list(this: &KvNamespace, options: &JsValue) -> Result<Promise, JsValue>;
}

/// A storage fault (500) carrying what JavaScript threw.
pub fn storage_error(e: &JsValue) -> ApiError {
    ApiError::internal(format!("storage error: js error: {e:?}"))
}

/// Awaits one promise, mapping a rejection to a storage fault.
pub async fn wait(promise: Promise) -> Result<JsValue, ApiError> {
    JsFuture::from(promise).await.map_err(|e| storage_error(&e))
}

/// Awaits every promise (`Promise.all`): the values in order, or the first rejection.
pub async fn all(promises: Vec<Promise>) -> Result<Vec<JsValue>, ApiError> {
    let array: Array = promises.into_iter().collect();
    let values = wait(Promise::all(&array)).await?;
    Ok(Array::from(&values).iter().collect())
}

/// Awaits every promise (`Promise.allSettled`): whether each one fulfilled, in order. Starting a
/// promise may itself fail; that counts as a rejection.
pub async fn settle(promises: Vec<Result<Promise, ApiError>>) -> Result<Vec<bool>, ApiError> {
    Ok(settle_values(promises).await?.iter().map(Option::is_some).collect())
}

/// Awaits every promise (`Promise.allSettled`): each one's value, or `None` if it was rejected.
pub async fn settle_values(promises: Vec<Result<Promise, ApiError>>) -> Result<Vec<Option<JsValue>>, ApiError> {
    let array: Array =
        promises.into_iter().map(|p| p.unwrap_or_else(|e| Promise::reject(&JsValue::from_str(&e.reason)))).collect();
    let results = wait(Promise::all_settled(&array)).await?;
    let field = |r: &JsValue, k: &str| Reflect::get(r, &JsValue::from_str(k)).ok();
    Ok(Array::from(&results)
        .iter()
        .map(|r| {
            (field(&r, "status").and_then(|s| s.as_string()).as_deref() == Some("fulfilled"))
                .then(|| field(&r, "value"))
                .flatten()
        })
        .collect())
}

/// `{key: value, …}` as a JavaScript object.
fn options(entries: &[(&str, JsValue)]) -> Result<JsValue, ApiError> {
    let object = Object::new();
    for (key, value) in entries {
        Reflect::set(&object, &JsValue::from_str(key), value).map_err(|e| storage_error(&e))?;
    }
    Ok(object.into())
}

fn text_type() -> Result<JsValue, ApiError> {
    options(&[("type", JsValue::from_str("text"))])
}

/// One page of `list`: each key's name and metadata, and the cursor of the next page.
pub struct ListPage {
    pub keys: Vec<(String, Option<Value>)>,
    pub cursor: Option<String>,
}

impl KvNamespace {
    /// The namespace bound as `name`, looked up on the Worker's `env`.
    pub fn from_env(env: &JsValue, name: &str) -> Result<KvNamespace, ApiError> {
        match Reflect::get(env, &JsValue::from_str(name)) {
            Ok(binding) if binding.is_object() => Ok(binding.unchecked_into()),
            _ => Err(ApiError::internal(format!("KV binding {name} is missing"))),
        }
    }

    /// Starts reading `keys` as text (one bulk `get`); resolves to a `Map`.
    pub fn get_texts(&self, keys: &[String]) -> Result<Promise, ApiError> {
        let array: Array = keys.iter().map(|k| JsValue::from_str(k)).collect();
        self.get(&array, &text_type()?).map_err(|e| storage_error(&e))
    }

    /// Reads one key as text; `None` when it is not stored.
    pub async fn get_text(&self, key: &str) -> Result<Option<String>, ApiError> {
        let promise = self.get(&JsValue::from_str(key), &text_type()?).map_err(|e| storage_error(&e))?;
        Ok(wait(promise).await?.as_string())
    }

    /// Starts writing `value` under `key`, with `metadata` (JSON text) when given.
    pub fn put_text(&self, key: &str, value: &str, metadata: Option<&str>) -> Result<Promise, ApiError> {
        let options = match metadata {
            Some(m) => options(&[("metadata", JSON::parse(m).map_err(|e| storage_error(&e))?)])?,
            None => options(&[])?,
        };
        KvNamespace::put(self, key, value, &options).map_err(|e| storage_error(&e))
    }

    /// Starts deleting `key`.
    pub fn remove(&self, key: &str) -> Result<Promise, ApiError> {
        self.delete(key).map_err(|e| storage_error(&e))
    }

    /// One page of the keys starting with `prefix`, at most `limit`, after `cursor`.
    pub async fn list_page(&self, prefix: &str, limit: u32, cursor: Option<String>) -> Result<ListPage, ApiError> {
        let mut entries = vec![("prefix", JsValue::from_str(prefix)), ("limit", JsValue::from(limit))];
        if let Some(c) = cursor {
            entries.push(("cursor", JsValue::from(c)));
        }
        let page = wait(self.list(&options(&entries)?).map_err(|e| storage_error(&e))?).await?;
        let field = |object: &JsValue, key: &str| Reflect::get(object, &JsValue::from_str(key)).unwrap_or_default();
        let mut keys = Vec::new();
        for key in Array::from(&field(&page, "keys")).iter() {
            let Some(name) = field(&key, "name").as_string() else { continue };
            keys.push((name, metadata_of(&field(&key, "metadata"))?));
        }
        let complete = field(&page, "list_complete").as_bool().unwrap_or(true);
        let cursor = field(&page, "cursor").as_string().filter(|c| !complete && !c.is_empty());
        Ok(ListPage { keys, cursor })
    }
}

/// A key's metadata as JSON (`None` when it has none).
fn metadata_of(metadata: &JsValue) -> Result<Option<Value>, ApiError> {
    if metadata.is_undefined() || metadata.is_null() {
        return Ok(None);
    }
    let text = JSON::stringify(metadata).map_err(|e| storage_error(&e))?;
    Ok(text.as_string().and_then(|t| json::parse(&t).ok()))
}

/// The text values of a bulk `get` result, in the order of `keys`.
pub fn texts_of(map: &JsValue, keys: &[String]) -> Vec<Option<String>> {
    let map = js_sys::Map::from(map.clone());
    keys.iter().map(|k| map.get(&JsValue::from_str(k)).as_string()).collect()
}
