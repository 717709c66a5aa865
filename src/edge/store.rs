//! Where the Worker keeps users: the [`Backend`] a core operation's loop loads from and commits
//! to, and [`KvBackend`], which keeps everything in the Workers KV namespace bound as `USERS`.
//!
//! KV layout (one namespace):
//! - `app`        → the app settings JSON object (what `PATCH /app` stored)
//! - `u:<id>`     → a user record, flat JSON; its KV metadata carries the same JSON when it
//!   fits in 1 KiB, so queries read whole pages of users from `list` alone
//! - `n:<name>`   → JSON array of ids of active users holding the normalized name `<name>`
//!   (`n:#<sha256>` for very long names)

use crate::core::error::{ApiError, Operation};
use crate::core::memory::OpError;
use crate::core::ops::{Commit, Snapshot, Step};
use crate::core::settings::AppSettings;
use crate::core::user::User;
use futures_util::future::try_join_all;
use serde_json::Value;
use sha2::{Digest, Sha256};
use worker::kv::KvStore;

/// KV's limit on a key's metadata, serialized.
const METADATA_LIMIT: usize = 1024;
/// Keys per bulk get.
const BULK: usize = 100;

pub fn user_key(id: &str) -> String {
    format!("u:{id}")
}

pub fn name_key(norm: &str) -> String {
    if norm.len() <= 400 {
        format!("n:{norm}")
    } else {
        let digest = Sha256::digest(norm.as_bytes());
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        format!("n:#{hex}")
    }
}

pub const SETTINGS_KEY: &str = "app";

fn storage_error(e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(format!("storage error: {e}"))
}

/// Counts the KV operations a request makes (reported in the `x-roster-kv-ops` header).
#[derive(Default)]
pub struct OpCounter(std::cell::Cell<u32>);

impl OpCounter {
    pub fn add(&self, n: usize) {
        self.0.set(self.0.get().saturating_add(u32::try_from(n).unwrap_or(u32::MAX)));
    }
    pub fn get(&self) -> u32 {
        self.0.get()
    }
}

/// Storage as a core operation's loop sees it.
#[allow(async_fn_in_trait)] // single-threaded wasm: no Send bounds wanted
pub trait Backend {
    fn ops(&self) -> &OpCounter;
    async fn load_settings(&self) -> Result<AppSettings, ApiError>;
    async fn save_settings(&self, s: &AppSettings) -> Result<(), ApiError>;
    async fn load_users(&self, ids: &[String]) -> Result<Vec<(String, Option<User>)>, ApiError>;
    async fn load_names(&self, norms: &[String]) -> Result<Vec<(String, Vec<String>)>, ApiError>;
    /// Writes a commit: claims, then users, then releases.
    async fn apply(&self, c: &Commit) -> Result<(), ApiError>;
    async fn all_users(&self) -> Result<Vec<User>, ApiError>;
}

/// Everything in KV, written directly: fast, but last-write-wins under concurrency (see the
/// `Writer` Durable Object for the serialized path).
pub struct KvBackend {
    pub kv: KvStore,
    pub ops: OpCounter,
    /// Test-only fault injection (`ROSTER_FAULT` var): fail a commit after this phase.
    pub fault: Option<String>,
}

impl KvBackend {
    pub fn new(kv: KvStore) -> Self {
        KvBackend { kv, ops: OpCounter::default(), fault: None }
    }

    async fn get_many(&self, keys: Vec<String>) -> Result<Vec<(String, Option<String>)>, ApiError> {
        let chunks = keys.chunks(BULK).map(|chunk| async move {
            self.ops.add(1);
            let found = self.kv.get_bulk(chunk).text().await.map_err(storage_error)?;
            Ok::<_, ApiError>(chunk.iter().map(|k| (k.clone(), found.get(k).cloned().flatten())).collect::<Vec<_>>())
        });
        Ok(try_join_all(chunks).await?.into_iter().flatten().collect())
    }

    pub async fn put_names(&self, lists: &[(String, Vec<String>)]) -> Result<(), ApiError> {
        let writes = lists.iter().map(|(norm, ids)| async move {
            self.ops.add(1);
            let key = name_key(norm);
            if ids.is_empty() {
                self.kv.delete(&key).await.map_err(storage_error)
            } else {
                let body = serde_json::to_string(ids).map_err(storage_error)?;
                self.kv.put(&key, body).map_err(storage_error)?.execute().await.map_err(storage_error)
            }
        });
        try_join_all(writes).await.map(|_| ())
    }

    pub async fn put_users(&self, users: &[User]) -> Result<(), ApiError> {
        let writes = users.iter().map(|u| async move {
            self.ops.add(1);
            let id = u.get("id").and_then(Value::as_str).unwrap_or_default();
            let body = serde_json::to_string(u).map_err(storage_error)?;
            let mut put = self.kv.put(&user_key(id), body.as_str()).map_err(storage_error)?;
            if body.len() <= METADATA_LIMIT - 16 {
                put = put.metadata(u).map_err(storage_error)?;
            }
            put.execute().await.map_err(storage_error)
        });
        try_join_all(writes).await.map(|_| ())
    }

    fn inject(&self, phase: &str) -> Result<(), ApiError> {
        match &self.fault {
            Some(f) if f == phase => Err(ApiError::internal(format!("storage error: injected fault after {phase}"))),
            _ => Ok(()),
        }
    }
}

impl Backend for KvBackend {
    fn ops(&self) -> &OpCounter {
        &self.ops
    }

    async fn load_settings(&self) -> Result<AppSettings, ApiError> {
        self.ops.add(1);
        let raw = self.kv.get(SETTINGS_KEY).text().await.map_err(storage_error)?;
        Ok(raw.map(|s| AppSettings::from_json(&s)).unwrap_or_default())
    }

    async fn save_settings(&self, s: &AppSettings) -> Result<(), ApiError> {
        self.ops.add(1);
        self.kv.put(SETTINGS_KEY, s.to_json()).map_err(storage_error)?.execute().await.map_err(storage_error)
    }

    async fn load_users(&self, ids: &[String]) -> Result<Vec<(String, Option<User>)>, ApiError> {
        let found = self.get_many(ids.iter().map(|id| user_key(id)).collect()).await?;
        ids.iter()
            .zip(found)
            .map(|(id, (key, raw))| Ok((id.clone(), raw.map(|s| parse_stored(&key, &s)).transpose()?)))
            .collect()
    }

    async fn load_names(&self, norms: &[String]) -> Result<Vec<(String, Vec<String>)>, ApiError> {
        let found = self.get_many(norms.iter().map(|n| name_key(n)).collect()).await?;
        norms
            .iter()
            .zip(found)
            .map(|(n, (key, raw))| {
                Ok((n.clone(), raw.map(|s| parse_stored(&key, &s)).transpose()?.unwrap_or_default()))
            })
            .collect()
    }

    /// Applies a commit in the order that keeps the index safe: claims, users, releases.
    async fn apply(&self, c: &Commit) -> Result<(), ApiError> {
        self.put_names(&c.claims).await?;
        self.inject("claims")?;
        self.put_users(&c.users).await?;
        self.inject("users")?;
        self.put_names(&c.releases).await
    }

    /// Every stored user record: list pages of `u:` keys, taking records from metadata where
    /// they fit and bulk-getting the rest.
    async fn all_users(&self) -> Result<Vec<User>, ApiError> {
        let mut users = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            self.ops.add(1);
            let mut list = self.kv.list().prefix("u:".into()).limit(1000);
            if let Some(c) = cursor.take() {
                list = list.cursor(c);
            }
            let page = list.execute().await.map_err(storage_error)?;
            let mut missing = Vec::new();
            for key in page.keys {
                match key.metadata {
                    Some(Value::Object(m)) => users.push(m),
                    _ => missing.push(key.name),
                }
            }
            for (key, raw) in self.get_many(missing).await? {
                users.extend(raw.map(|s| parse_stored::<User>(&key, &s)).transpose()?);
            }
            match page.cursor {
                Some(c) if !page.list_complete && !c.is_empty() => cursor = Some(c),
                _ => break,
            }
        }
        Ok(users)
    }
}

/// Parses a stored record. An unreadable one is a storage fault (500), never "missing": treating
/// it as absent would let the next write silently replace it.
pub fn parse_stored<T: serde::de::DeserializeOwned>(key: &str, raw: &str) -> Result<T, ApiError> {
    serde_json::from_str(raw)
        .map_err(|e| ApiError::internal(format!("storage error: record '{key}' is unreadable: {e}")))
}

/// Runs a core operation to completion against KV: load what it asks for, run it again, then
/// apply the commit. `prefill` seeds the snapshot with users already loaded (the caller's own
/// record, read for token revocation).
pub async fn run(
    backend: &impl Backend,
    settings: &AppSettings,
    prefill: Vec<(String, Option<User>)>,
    op: Operation,
    f: &dyn Fn(&Snapshot) -> Result<Step, ApiError>,
) -> Result<Commit, OpError> {
    let fail = |error| OpError { op, error };
    let mut snap = Snapshot::new(settings.clone());
    snap.load_users(prefill);
    for _ in 0..8 {
        match f(&snap).map_err(fail)? {
            Step::Need(need) => {
                let (users, names) =
                    futures_util::future::join(backend.load_users(&need.users), backend.load_names(&need.names)).await;
                snap.load_users(users.map_err(fail)?);
                snap.names.extend(names.map_err(fail)?);
            }
            Step::Done(commit) => {
                backend.apply(&commit).await.map_err(fail)?;
                return Ok(commit);
            }
        }
    }
    Err(fail(ApiError::internal("operation did not converge")))
}
