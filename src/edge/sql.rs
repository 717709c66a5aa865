//! The Writer's SQLite storage through the runtime's own methods: `sql.exec(query, ...bindings)`
//! with rows read as arrays of plain values, and `transactionSync(fn)`, which commits every
//! statement `fn` runs or, when it throws, none.
//!
//! Every call here is synchronous: between reading state and committing, the Writer awaits
//! nothing, so no other request can run in between (the runtime's input gate stays closed).
//! workers-rs' `SqlStorage` converts each row with serde-wasm-bindgen; Roster reads a handful
//! of text and number columns, so it binds the methods directly, as `kv.rs` does for KV.

use crate::core::wire::error::ApiError;
use js_sys::{Array, Function};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    /// `ctx.storage`: a Durable Object's storage.
    #[derive(Clone)]
    pub type DoStorage;

    #[wasm_bindgen(method, getter)]
    fn sql(this: &DoStorage) -> SqlStorage;

    /// `get(key)`: a value of the key-value API (the previous version's Writer kept users there).
    #[wasm_bindgen(method, catch, js_name = get)]
    fn kv_get(this: &DoStorage, key: &str) -> Result<js_sys::Promise, JsValue>;

    /// `list({prefix})`: a `Map` of the key-value API's keys with that prefix.
    #[wasm_bindgen(method, catch, js_name = list)]
    fn kv_list(this: &DoStorage, options: &JsValue) -> Result<js_sys::Promise, JsValue>;

    /// `transactionSync(fn)`: runs `fn` in a transaction, rolled back if it throws.
    #[wasm_bindgen(method, catch, js_name = transactionSync)]
    fn transaction_sync(this: &DoStorage, f: &Function) -> Result<JsValue, JsValue>;

    #[derive(Clone)]
    type SqlStorage;

    #[wasm_bindgen(method, catch, variadic)]
    fn exec(this: &SqlStorage, query: &str, bindings: &Array) -> Result<Cursor, JsValue>;

    /// A query's result: rows on demand.
    pub type Cursor;

    /// An iterator of rows, each an array of column values.
    #[wasm_bindgen(method)]
    fn raw(this: &Cursor) -> js_sys::Iterator;

    #[wasm_bindgen(method, getter, js_name = rowsWritten)]
    fn rows_written(this: &Cursor) -> f64;
}

/// A storage fault (500) carrying what SQLite said.
pub fn sql_error(e: &JsValue) -> ApiError {
    ApiError::internal(format!("storage error: sql: {}", js_message(e)))
}

fn js_message(e: &JsValue) -> String {
    js_sys::Reflect::get(e, &JsValue::from_str("message"))
        .ok()
        .and_then(|m| m.as_string())
        .unwrap_or_else(|| format!("{e:?}"))
}

/// A value bound to a `?` placeholder.
pub enum Arg<'a> {
    Text(&'a str),
    Int(i64),
    Null,
}

impl From<&Arg<'_>> for JsValue {
    fn from(a: &Arg<'_>) -> JsValue {
        match a {
            Arg::Text(s) => JsValue::from_str(s),
            // Values here are counts, sequence numbers and epoch milliseconds: far below 2^53.
            Arg::Int(n) => JsValue::from_f64(*n as f64),
            Arg::Null => JsValue::NULL,
        }
    }
}

impl<'a> From<&'a str> for Arg<'a> {
    fn from(s: &'a str) -> Self {
        Arg::Text(s)
    }
}

impl<'a> From<Option<&'a str>> for Arg<'a> {
    fn from(s: Option<&'a str>) -> Self {
        s.map_or(Arg::Null, Arg::Text)
    }
}

impl From<i64> for Arg<'_> {
    fn from(n: i64) -> Self {
        Arg::Int(n)
    }
}

impl From<bool> for Arg<'_> {
    fn from(b: bool) -> Self {
        Arg::Int(i64::from(b))
    }
}

/// One row: its column values, in the order the query selects them.
pub struct Row(Array);

impl Row {
    pub fn text(&self, i: u32) -> Option<String> {
        self.0.get(i).as_string()
    }
    pub fn int(&self, i: u32) -> Option<i64> {
        self.0.get(i).as_f64().map(|f| f as i64)
    }
}

/// The rows of a query, read one at a time (a caller may stop early).
pub struct Rows(js_sys::Iterator);

impl Iterator for Rows {
    type Item = Result<Row, ApiError>;
    fn next(&mut self) -> Option<Self::Item> {
        match self.0.next() {
            Ok(step) if step.done() => None,
            Ok(step) => Some(Ok(Row(step.value().unchecked_into()))),
            Err(e) => Some(Err(sql_error(&e))),
        }
    }
}

/// A Durable Object's SQLite database.
#[derive(Clone)]
pub struct Db {
    storage: DoStorage,
    sql: SqlStorage,
}

impl Db {
    pub fn new(storage: &JsValue) -> Db {
        let storage: DoStorage = storage.clone().unchecked_into();
        let sql = storage.sql();
        Db { storage, sql }
    }

    fn cursor(&self, query: &str, args: &[Arg<'_>]) -> Result<Cursor, ApiError> {
        let bindings: Array = args.iter().map(JsValue::from).collect();
        self.sql.exec(query, &bindings).map_err(|e| sql_error(&e))
    }

    /// Runs a statement; returns how many rows it wrote.
    pub fn run(&self, query: &str, args: &[Arg<'_>]) -> Result<u64, ApiError> {
        let cursor = self.cursor(query, args)?;
        // Statements run when their cursor is read: drain it.
        for row in Rows(cursor.raw()) {
            row?;
        }
        Ok(cursor.rows_written() as u64)
    }

    /// The rows of a query.
    pub fn rows(&self, query: &str, args: &[Arg<'_>]) -> Result<Rows, ApiError> {
        Ok(Rows(self.cursor(query, args)?.raw()))
    }

    /// The first row of a query, if any.
    pub fn first(&self, query: &str, args: &[Arg<'_>]) -> Result<Option<Row>, ApiError> {
        self.rows(query, args)?.next().transpose()
    }

    /// The text value of `key` in the object's key-value storage (not SQL), if any.
    pub async fn legacy_get(&self, key: &str) -> Result<Option<String>, ApiError> {
        let promise = self.storage.kv_get(key).map_err(|e| sql_error(&e))?;
        Ok(wasm_bindgen_futures::JsFuture::from(promise).await.map_err(|e| sql_error(&e))?.as_string())
    }

    /// Every `(key, text value)` with `prefix` in the object's key-value storage (not SQL).
    pub async fn legacy_list(&self, prefix: &str) -> Result<Vec<(String, String)>, ApiError> {
        let options = js_sys::Object::new();
        js_sys::Reflect::set(&options, &JsValue::from_str("prefix"), &JsValue::from_str(prefix))
            .map_err(|e| sql_error(&e))?;
        let promise = self.storage.kv_list(&options).map_err(|e| sql_error(&e))?;
        let map: js_sys::Map =
            wasm_bindgen_futures::JsFuture::from(promise).await.map_err(|e| sql_error(&e))?.unchecked_into();
        let mut out = Vec::new();
        map.for_each(&mut |value, key| {
            if let (Some(k), Some(v)) = (key.as_string(), value.as_string()) {
                out.push((k, v));
            }
        });
        Ok(out)
    }

    /// Runs `body` in one transaction: all of its statements commit, or (when it fails) none.
    pub fn transaction(&self, body: impl FnOnce(&Db) -> Result<(), ApiError> + 'static) -> Result<(), ApiError> {
        let db = self.clone();
        let failure: std::rc::Rc<std::cell::RefCell<Option<ApiError>>> = std::rc::Rc::default();
        let slot = failure.clone();
        let f = Closure::once(move || -> Result<(), JsValue> {
            body(&db).map_err(|e| {
                let thrown = JsValue::from_str(&e.reason);
                *slot.borrow_mut() = Some(e);
                thrown
            })
        });
        let outcome = self.storage.transaction_sync(f.as_ref().unchecked_ref());
        drop(f);
        let failed = failure.borrow_mut().take();
        match (outcome, failed) {
            (_, Some(e)) => Err(e),
            (Err(e), None) => Err(sql_error(&e)),
            (Ok(_), None) => Ok(()),
        }
    }
}
