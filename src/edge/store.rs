//! Where the Worker keeps users: the [`Backend`] a core operation's loop loads from and commits
//! to, and [`KvBackend`], which keeps everything in the Workers KV namespace bound as `USERS`.
//!
//! KV layout (one namespace):
//! - `app`        → the app settings JSON object (what `PATCH /app` stored)
//! - `u:<id>`     → a user record, flat JSON; its KV metadata carries the same JSON when it
//!   fits in 1 KiB, so queries read whole pages of users from `list` alone
//! - `n:<name>`   → JSON array of ids of active users holding the normalized name `<name>`
//!   (`n:#<sha256>` for very long names)

use super::kv::{self, KvNamespace};
use crate::core::error::{ApiError, Operation};
use crate::core::json;
use crate::core::memory::OpError;
use crate::core::ops::{Commit, Snapshot, Step};
use crate::core::settings::AppSettings;
use crate::core::user::User;
use serde_json::Value;
use sha2::{Digest, Sha256};

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
    pub kv: KvNamespace,
    pub ops: OpCounter,
    /// Test-only fault injection (`ROSTER_FAULT` var): fail a commit after this phase.
    pub fault: Option<String>,
}

impl KvBackend {
    pub fn new(kv: KvNamespace) -> Self {
        KvBackend { kv, ops: OpCounter::default(), fault: None }
    }

    /// Reads keys as text (absent keys are `None`), in bulk gets of [`BULK`] keys made
    /// concurrently.
    async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<String>>, ApiError> {
        let mut reads = Vec::new();
        for chunk in keys.chunks(BULK) {
            reads.push(self.kv.get_texts(chunk)?);
        }
        self.ops.add(reads.len());
        let maps = kv::all(reads).await?;
        let mut out = Vec::with_capacity(keys.len());
        for (chunk, map) in keys.chunks(BULK).zip(&maps) {
            out.extend(kv::texts_of(map, chunk));
        }
        Ok(out)
    }

    /// Writes index lists concurrently; an empty list is deleted.
    pub async fn put_names(&self, lists: &[(String, Vec<String>)]) -> Result<(), ApiError> {
        let mut writes = Vec::with_capacity(lists.len());
        for (norm, ids) in lists {
            let key = name_key(norm);
            writes.push(if ids.is_empty() {
                self.kv.remove(&key)?
            } else {
                self.kv.put_text(&key, &ids_text(ids), None)?
            });
        }
        self.ops.add(writes.len());
        kv::all(writes).await.map(|_| ())
    }

    /// Writes user records concurrently, each with a copy in its metadata when it fits.
    pub async fn put_users(&self, users: &[User]) -> Result<(), ApiError> {
        let mut writes = Vec::with_capacity(users.len());
        for u in users {
            let id = u.get("id").and_then(Value::as_str).unwrap_or_default();
            let body = user_text(u);
            let metadata = (body.len() <= METADATA_LIMIT - 16).then_some(body.as_str());
            writes.push(self.kv.put_text(&user_key(id), &body, metadata)?);
        }
        self.ops.add(writes.len());
        kv::all(writes).await.map(|_| ())
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
        let raw = self.kv.get_text(SETTINGS_KEY).await?;
        Ok(raw.map(|s| AppSettings::from_json(&s)).unwrap_or_default())
    }

    async fn save_settings(&self, s: &AppSettings) -> Result<(), ApiError> {
        self.ops.add(1);
        kv::wait(self.kv.put_text(SETTINGS_KEY, &s.to_json(), None)?).await.map(|_| ())
    }

    async fn load_users(&self, ids: &[String]) -> Result<Vec<(String, Option<User>)>, ApiError> {
        let keys: Vec<String> = ids.iter().map(|id| user_key(id)).collect();
        users_from(ids, &keys, self.get_many(&keys).await?)
    }

    async fn load_names(&self, norms: &[String]) -> Result<Vec<(String, Vec<String>)>, ApiError> {
        let keys: Vec<String> = norms.iter().map(|n| name_key(n)).collect();
        names_from(norms, &keys, self.get_many(&keys).await?)
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
            let page = self.kv.list_page("u:", 1000, cursor.take()).await?;
            let mut missing = Vec::new();
            for (name, metadata) in page.keys {
                match metadata {
                    Some(Value::Object(m)) => users.push(m),
                    _ => missing.push(name),
                }
            }
            let texts = self.get_many(&missing).await?;
            for (_, user) in users_from(&missing, &missing, texts)? {
                users.extend(user);
            }
            match page.cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        Ok(users)
    }
}

/// A user record as stored: compact JSON.
pub fn user_text(user: &User) -> String {
    json::text(&Value::Object(user.clone()))
}

/// An index list as stored: a compact JSON array of ids.
pub fn ids_text(ids: &[String]) -> String {
    json::text(&Value::from(ids.to_vec()))
}

/// Parses a stored record. An unreadable one is a storage fault (500), never "missing": treating
/// it as absent would let the next write silently replace it.
fn parse_stored(key: &str, raw: &str) -> Result<Value, ApiError> {
    json::parse(raw).map_err(|e| unreadable(key, &e.to_string()))
}

fn unreadable(key: &str, why: &str) -> ApiError {
    ApiError::internal(format!("storage error: record '{key}' is unreadable: {why}"))
}

/// A stored user record: a JSON object.
pub fn parse_user(key: &str, raw: &str) -> Result<User, ApiError> {
    match parse_stored(key, raw)? {
        Value::Object(user) => Ok(user),
        _ => Err(unreadable(key, "a user record must be a JSON object")),
    }
}

/// A stored index list: a JSON array of ids.
pub fn parse_ids(key: &str, raw: &str) -> Result<Vec<String>, ApiError> {
    let not_ids = || unreadable(key, "an index list must be a JSON array of strings");
    let Value::Array(items) = parse_stored(key, raw)? else { return Err(not_ids()) };
    let mut ids = Vec::with_capacity(items.len());
    for item in items {
        let Value::String(id) = item else { return Err(not_ids()) };
        ids.push(id);
    }
    Ok(ids)
}

/// Each id with its user, from the texts read under `keys` (one per id; `None`: not stored).
pub fn users_from(
    ids: &[String],
    keys: &[String],
    texts: Vec<Option<String>>,
) -> Result<Vec<(String, Option<User>)>, ApiError> {
    let mut users = Vec::with_capacity(ids.len());
    for ((id, key), text) in ids.iter().zip(keys).zip(texts) {
        let user = match text {
            Some(t) => Some(parse_user(key, &t)?),
            None => None,
        };
        users.push((id.clone(), user));
    }
    Ok(users)
}

/// Each normalized name with its index list, from the texts read under `keys` (one per name;
/// `None`: no list, so no holders).
pub fn names_from(
    norms: &[String],
    keys: &[String],
    texts: Vec<Option<String>>,
) -> Result<Vec<(String, Vec<String>)>, ApiError> {
    let mut lists = Vec::with_capacity(norms.len());
    for ((norm, key), text) in norms.iter().zip(keys).zip(texts) {
        let ids = match text {
            Some(t) => parse_ids(key, &t)?,
            None => Vec::new(),
        };
        lists.push((norm.clone(), ids));
    }
    Ok(lists)
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
