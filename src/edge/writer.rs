//! The `Writer` Durable Object: one per app, it serializes every write so that concurrent
//! requests cannot interleave their read-merge-write (KV alone is last-write-wins).
//!
//! Its own transactional storage is the source of truth for writes; KV is the read replica
//! that queries and `GET /app` are served from. A write runs the core's loop against storage
//! (reads there hold the object's input gate, so no other request runs between a read and the
//! commit), commits all its keys in one synchronous batch (atomic), then writes the same keys
//! through to KV. Write-throughs are serialized by a lock and copy the *latest* stored values,
//! so KV converges to storage whatever order requests finish in.

use super::kv::{self, storage_error, KvNamespace};
use super::store::SETTINGS_KEY;
use super::store::{ids_text, name_key, names_from, parse_ids, user_key, user_text, users_from};
use super::store::{Backend, KvBackend, OpCounter};
use crate::core::error::ApiError;
use crate::core::json;
use crate::core::ops::Commit;
use crate::core::settings::AppSettings;
use crate::core::user::User;
use futures_util::lock::Mutex;
use serde_json::Value;
use wasm_bindgen::JsValue;
use worker::{durable_object, js_sys, DurableObject, Env, Request, Response, State, Storage};

/// Storage's limit on keys per `put`/`get`/`delete` call.
const STORAGE_BATCH: usize = 128;

#[durable_object]
pub struct Writer {
    state: State,
    env: Env,
    flush_lock: Mutex<()>,
}

impl DurableObject for Writer {
    fn new(state: State, env: Env) -> Self {
        Writer { state, env, flush_lock: Mutex::new(()) }
    }

    async fn fetch(&self, req: Request) -> worker::Result<Response> {
        let kv = match KvNamespace::from_env(&self.env, "USERS") {
            Ok(kv) => KvBackend::new(kv),
            Err(e) => return Response::error(e.reason, 500),
        };
        let backend = DoBackend { storage: self.state.storage(), kv, flush_lock: &self.flush_lock };
        super::serve_in_writer(req, &self.env, &backend).await
    }
}

pub struct DoBackend<'a> {
    storage: Storage,
    kv: KvBackend,
    flush_lock: &'a Mutex<()>,
}

impl DoBackend<'_> {
    /// Reads keys from storage as strings; absent keys are `None`.
    async fn get_strings(&self, keys: &[String]) -> Result<Vec<Option<String>>, ApiError> {
        let raw = self.storage.as_raw();
        let mut calls = Vec::new();
        for chunk in keys.chunks(STORAGE_BATCH) {
            let js: Vec<JsValue> = chunk.iter().map(|k| JsValue::from_str(k)).collect();
            calls.push(raw.get_multiple(js).map_err(|e| storage_error(&e))?);
        }
        self.kv.ops.add(calls.len());
        let maps = kv::all(calls).await?;
        let mut out = Vec::with_capacity(keys.len());
        for (chunk, map) in keys.chunks(STORAGE_BATCH).zip(&maps) {
            out.extend(kv::texts_of(map, chunk));
        }
        Ok(out)
    }

    /// Writes and deletes keys in one synchronous batch: the runtime commits writes issued
    /// without an intervening await atomically.
    async fn write_atomically(&self, puts: &[(String, String)], deletes: &[String]) -> Result<(), ApiError> {
        let raw = self.storage.as_raw();
        let mut calls = Vec::new();
        for chunk in puts.chunks(STORAGE_BATCH) {
            let obj = js_sys::Object::new();
            for (k, v) in chunk {
                js_sys::Reflect::set(&obj, &JsValue::from_str(k), &JsValue::from_str(v))
                    .map_err(|e| storage_error(&e))?;
            }
            calls.push(raw.put_multiple(obj.into()).map_err(|e| storage_error(&e))?);
        }
        for chunk in deletes.chunks(STORAGE_BATCH) {
            let js: Vec<JsValue> = chunk.iter().map(|k| JsValue::from_str(k)).collect();
            calls.push(raw.delete_multiple(js).map_err(|e| storage_error(&e))?);
        }
        self.kv.ops.add(calls.len());
        kv::all(calls).await.map(|_| ())
    }

    /// Copies the latest stored values of a commit's keys to KV, one flush at a time.
    async fn write_through(&self, claims: &[String], users: &[String], releases: &[String]) -> Result<(), ApiError> {
        let _guard = self.flush_lock.lock().await;
        let names_of = |norms: &[String], vals: Vec<Option<String>>| -> Vec<(String, Vec<String>)> {
            norms
                .iter()
                .zip(vals)
                .map(|(n, v)| (n.clone(), v.and_then(|s| parse_ids(n, &s).ok()).unwrap_or_default()))
                .collect()
        };
        let claim_keys: Vec<String> = claims.iter().map(|n| name_key(n)).collect();
        let release_keys: Vec<String> = releases.iter().map(|n| name_key(n)).collect();
        let user_keys: Vec<String> = users.iter().map(|id| user_key(id)).collect();
        let claimed = names_of(claims, self.get_strings(&claim_keys).await?);
        let released = names_of(releases, self.get_strings(&release_keys).await?);
        let stored_users: Vec<User> =
            self.get_strings(&user_keys).await?.into_iter().flatten().filter_map(|s| json::parse_object(&s)).collect();
        self.kv.put_names(&claimed).await?;
        self.kv.put_users(&stored_users).await?;
        self.kv.put_names(&released).await
    }
}

fn id_of(u: &User) -> String {
    u.get("id").and_then(Value::as_str).unwrap_or_default().to_string()
}

impl Backend for DoBackend<'_> {
    fn ops(&self) -> &OpCounter {
        &self.kv.ops
    }

    async fn load_settings(&self) -> Result<AppSettings, ApiError> {
        let v = self.get_strings(&[SETTINGS_KEY.to_string()]).await?;
        Ok(v.into_iter().next().flatten().map(|s| AppSettings::from_json(&s)).unwrap_or_default())
    }

    async fn save_settings(&self, s: &AppSettings) -> Result<(), ApiError> {
        self.write_atomically(&[(SETTINGS_KEY.to_string(), s.to_json())], &[]).await?;
        let _guard = self.flush_lock.lock().await;
        let latest = self.load_settings().await?;
        self.kv.save_settings(&latest).await
    }

    async fn load_users(&self, ids: &[String]) -> Result<Vec<(String, Option<User>)>, ApiError> {
        let keys: Vec<String> = ids.iter().map(|id| user_key(id)).collect();
        users_from(ids, &keys, self.get_strings(&keys).await?)
    }

    async fn load_names(&self, norms: &[String]) -> Result<Vec<(String, Vec<String>)>, ApiError> {
        let keys: Vec<String> = norms.iter().map(|n| name_key(n)).collect();
        names_from(norms, &keys, self.get_strings(&keys).await?)
    }

    async fn apply(&self, c: &Commit) -> Result<(), ApiError> {
        let mut puts = Vec::new();
        let mut deletes = Vec::new();
        for (norm, ids) in c.claims.iter().chain(&c.releases) {
            if ids.is_empty() {
                deletes.push(name_key(norm));
            } else {
                puts.push((name_key(norm), ids_text(ids)));
            }
        }
        for u in &c.users {
            puts.push((user_key(&id_of(u)), user_text(u)));
        }
        self.write_atomically(&puts, &deletes).await?;
        let claims: Vec<String> = c.claims.iter().map(|(n, _)| n.clone()).collect();
        let releases: Vec<String> = c.releases.iter().map(|(n, _)| n.clone()).collect();
        let users: Vec<String> = c.users.iter().map(id_of).collect();
        self.write_through(&claims, &users, &releases).await
    }

    async fn all_users(&self) -> Result<Vec<User>, ApiError> {
        self.kv.all_users().await
    }
}
