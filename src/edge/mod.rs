//! The Cloudflare Worker: Stream Chat's user endpoints over the core, persisted in Workers KV.
//! Thin on purpose: routing, credentials, body parsing and storage; every decision is the core's.

mod connect;
mod dev;
mod http;
mod kv;
mod params;
mod store;
mod writer;

use crate::core::auth::{self, Caller};
use crate::core::error::{ApiError, Operation};
use crate::core::json::object;
use crate::core::memory::{OpError, OpFn};
use crate::core::settings::AppSettings;
use crate::core::time::Timestamp;
use crate::core::user::{self, User};
use crate::core::{ops, query};
use http::Timing;
use js_sys::Reflect;
use params::Params;
use serde_json::Value;
use store::{Backend, KvBackend};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use worker::{event, web_sys, Context, Date, Env, Method, Request, Response};

/// Largest request body accepted (a full 100-user batch at the custom-data limit fits).
const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

#[derive(Clone, Debug, PartialEq)]
enum Route {
    Upsert,
    Partial,
    Query,
    GetApp,
    UpdateApp,
    Connect,
    Deactivate(String),
    Reactivate(String),
    Delete(String),
    Restore,
    NotFound,
}

impl Route {
    fn parse(method: &Method, path: &str) -> Route {
        let segments: Vec<String> = path.trim_matches('/').split('/').map(percent_decode).collect();
        let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
        match (method, segs.as_slice()) {
            (Method::Post, ["users"]) => Route::Upsert,
            (Method::Patch, ["users"]) => Route::Partial,
            (Method::Get, ["users"]) => Route::Query,
            (Method::Get, ["app"]) => Route::GetApp,
            (Method::Patch, ["app"]) => Route::UpdateApp,
            (Method::Get, ["connect"]) => Route::Connect,
            (Method::Post, ["users", "restore"]) => Route::Restore,
            (Method::Post, ["users", id, "deactivate"]) => Route::Deactivate((*id).to_string()),
            (Method::Post, ["users", id, "reactivate"]) => Route::Reactivate((*id).to_string()),
            (Method::Delete, ["users", id]) => Route::Delete((*id).to_string()),
            _ => Route::NotFound,
        }
    }

    fn op(&self) -> Operation {
        match self {
            Route::Upsert => Operation::UpdateUsers,
            Route::Partial => Operation::UpdateUsersPartial,
            Route::Query => Operation::QueryUsers,
            Route::GetApp => Operation::GetApp,
            Route::UpdateApp => Operation::UpdateApp,
            Route::Connect => Operation::Connect,
            Route::Deactivate(_) => Operation::DeactivateUser,
            Route::Reactivate(_) => Operation::ReactivateUser,
            Route::Delete(_) => Operation::DeleteUser,
            Route::Restore => Operation::RestoreUsers,
            Route::NotFound => Operation::Request,
        }
    }
}

/// The request's path and raw query string, read without a URL parser (the `url` crate's IDNA
/// tables would otherwise be linked in and roughly double the Worker's size).
struct Target {
    path: String,
    query: String,
}

impl Target {
    fn of(req: &Request) -> Target {
        let full = req.inner().url();
        let after_scheme = full.split_once("://").map_or(full.as_str(), |(_, rest)| rest);
        let from_path = after_scheme.find('/').and_then(|i| after_scheme.get(i..)).unwrap_or("/");
        let without_fragment = from_path.split('#').next().unwrap_or_default();
        let (path, query) = without_fragment.split_once('?').unwrap_or((without_fragment, ""));
        Target { path: path.to_string(), query: query.to_string() }
    }

    /// Query parameters, decoded (`+` is a space); the last of repeated names wins.
    fn params(&self) -> Params {
        self.query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (percent_decode(&k.replace('+', " ")), percent_decode(&v.replace('+', " ")))
            })
            .collect()
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b, hex) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The app's credentials: the API key is a var, the secret a Wrangler secret.
struct Credentials {
    key: String,
    secret: String,
}

impl Credentials {
    fn from_env(env: &Env) -> Result<Self, ApiError> {
        let get =
            |name: &str| env.secret(name).map(|s| s.to_string()).or_else(|_| env.var(name).map(|v| v.to_string()));
        let key = get("STREAM_API_KEY").map_err(|_| ApiError::internal("STREAM_API_KEY is not configured"))?;
        let secret = get("STREAM_API_SECRET").map_err(|_| {
            ApiError::internal("STREAM_API_SECRET is not configured: set it with `wrangler secret put`")
        })?;
        Ok(Credentials { key, secret })
    }

    /// `?api_key=` must be present and known: checked before anything else.
    fn check_key(&self, params: &Params) -> Result<(), ApiError> {
        match params.get("api_key") {
            None => Err(ApiError::new(2, 401, "api_key or app_id not provided")),
            Some(k) if k.is_empty() => Err(ApiError::new(2, 401, "api_key or app_id not provided")),
            Some(k) if !constant_time_eq(k.as_bytes(), self.key.as_bytes()) => {
                Err(ApiError::new(2, 401, "api_key not valid"))
            }
            Some(_) => Ok(()),
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn now() -> Timestamp {
    Timestamp::from_millis(i64::try_from(Date::now().as_millis()).unwrap_or(i64::MAX))
}

/// Verifies the token and, for a user token, loads that user to apply its own revocation
/// cut-off (the record then seeds the operation's snapshot, so it costs no extra read later).
async fn authenticate(
    token: Option<String>,
    auth_type: Option<String>,
    creds: &Credentials,
    settings: &AppSettings,
    backend: &impl Backend,
) -> Result<(Caller, Vec<(String, Option<User>)>), ApiError> {
    if auth_type.as_deref().is_some_and(|t| t.eq_ignore_ascii_case("anonymous")) {
        return Err(ApiError::auth("anonymous users are not supported"));
    }
    let token = token.filter(|t| !t.is_empty() && t != "undefined").ok_or_else(|| {
        ApiError::auth("JWTAuth error: missing Authorization header or authorization query parameter")
    })?;
    let claims = auth::verify(&token, &creds.secret, &settings.auth_policy(), now())?;
    let mut prefill = Vec::new();
    if let Caller::User(id) = &claims.caller {
        user::validate_id(id)
            .map_err(|_| ApiError::auth("JWTAuth error: the token's user_id is not a valid user id"))?;
        let loaded = backend.load_users(std::slice::from_ref(id)).await?;
        let cutoff = loaded
            .first()
            .and_then(|(_, u)| u.as_ref())
            .and_then(|u| u.get("revoke_tokens_issued_before"))
            .and_then(Value::as_str)
            .and_then(Timestamp::parse);
        auth::check_user_revocation(&claims, cutoff)?;
        prefill = loaded;
    }
    Ok((claims.caller, prefill))
}

impl Route {
    /// Writes go through the `Writer` Durable Object (unless `WRITE_PATH = "kv"`).
    fn is_write(&self) -> bool {
        matches!(
            self,
            Route::Upsert
                | Route::Partial
                | Route::UpdateApp
                | Route::Deactivate(_)
                | Route::Reactivate(_)
                | Route::Delete(_)
                | Route::Restore
        )
    }
}

/// How writes reach storage: `durable_object` (default; serialized, race-free) or `kv`
/// (direct, last-write-wins: kept to measure and compare).
fn writes_via_writer(env: &Env) -> bool {
    env.var("WRITE_PATH").map(|v| v.to_string() != "kv").unwrap_or(true)
}

#[wasm_bindgen]
extern "C" {
    /// What `fetch` forwards a request to: the Writer's stub, or the `ASSETS` binding.
    type Fetchable;
    #[wasm_bindgen(method, catch)]
    fn fetch(this: &Fetchable, req: &web_sys::Request) -> Result<js_sys::Promise, JsValue>;
}

fn writer_stub(env: &Env) -> worker::Result<worker::Stub> {
    env.durable_object("WRITER")?.get_by_name("app")
}

/// The backend a request is served against. One concrete type, so the request handling is
/// compiled once rather than once per backend (it keeps the Worker's wasm smaller).
pub(crate) enum Store<'a> {
    Kv(&'a KvBackend),
    Writer(&'a writer::DoBackend<'a>),
}

impl Backend for Store<'_> {
    fn ops(&self) -> &store::OpCounter {
        match self {
            Store::Kv(b) => b.ops(),
            Store::Writer(b) => b.ops(),
        }
    }
    async fn load_settings(&self) -> Result<AppSettings, ApiError> {
        match self {
            Store::Kv(b) => b.load_settings().await,
            Store::Writer(b) => b.load_settings().await,
        }
    }
    async fn save_settings(&self, s: &AppSettings) -> Result<(), ApiError> {
        match self {
            Store::Kv(b) => b.save_settings(s).await,
            Store::Writer(b) => b.save_settings(s).await,
        }
    }
    async fn load_users(&self, ids: &[String]) -> Result<Vec<(String, Option<User>)>, ApiError> {
        match self {
            Store::Kv(b) => b.load_users(ids).await,
            Store::Writer(b) => b.load_users(ids).await,
        }
    }
    async fn load_names(&self, norms: &[String]) -> Result<Vec<(String, Vec<String>)>, ApiError> {
        match self {
            Store::Kv(b) => b.load_names(norms).await,
            Store::Writer(b) => b.load_names(norms).await,
        }
    }
    async fn apply(&self, c: &crate::core::ops::Commit) -> Result<(), ApiError> {
        match self {
            Store::Kv(b) => b.apply(c).await,
            Store::Writer(b) => b.apply(c).await,
        }
    }
    async fn all_users(&self) -> Result<Vec<User>, ApiError> {
        match self {
            Store::Kv(b) => b.all_users().await,
            Store::Writer(b) => b.all_users().await,
        }
    }
}

fn kv_backend(env: &Env) -> Result<KvBackend, ApiError> {
    let kv = kv::KvNamespace::from_env(env, "USERS")?;
    let mut backend = KvBackend::new(kv);
    backend.fault = env.var("ROSTER_FAULT").ok().map(|v| v.to_string()).filter(|v| !v.is_empty());
    Ok(backend)
}

#[event(fetch)]
pub async fn fetch(req: Request, env: Env, _ctx: Context) -> worker::Result<Response> {
    let started_ms = Date::now().as_millis();
    if req.method() == Method::Options {
        return http::preflight();
    }
    let target = Target::of(&req);
    if let Some(response) = dev::token(&req, &env, &target.path) {
        return response;
    }
    let route = Route::parse(&req.method(), &target.path);
    // Writes go to the Writer. A GET/HEAD that is no API route goes to the playground page's
    // assets, and is served from there when it names a file (anything else is answered below).
    let page = route == Route::NotFound && matches!(req.method(), Method::Get | Method::Head);
    if page || route.is_write() && writes_via_writer(&env) {
        let to: Fetchable =
            if page { Reflect::get(&env, &"ASSETS".into())?.unchecked_into() } else { writer_stub(&env)?.into_rpc() };
        let promise = to.fetch(req.inner())?;
        let response = Response::from(JsFuture::from(promise).await?.unchecked_into::<web_sys::Response>());
        if !page || response.status_code() != 404 {
            return Ok(response);
        }
    }
    let backend = match kv_backend(&env) {
        Ok(b) => b,
        Err(e) => return http::failure(&e, route.op(), &Timing { started_ms, kv_ops: 0 }),
    };
    serve(req, &env, &Store::Kv(&backend), route, started_ms).await
}

/// Serves one request against a backend: the Worker's KV, or the Writer's storage.
async fn serve(
    mut req: Request,
    env: &Env,
    backend: &Store<'_>,
    route: Route,
    started_ms: u64,
) -> worker::Result<Response> {
    let params = Target::of(&req).params();
    if route == Route::Connect {
        return connect::handle(&req, env, &params, backend).await;
    }
    let result = handle(&mut req, env, &params, &route, backend).await;
    let t = Timing { started_ms, kv_ops: backend.ops().get() };
    match result {
        Ok((body, status)) => http::success(body, status, &t),
        Err(e) => http::failure(&e.error, e.op, &t),
    }
}

/// Entry point inside the Writer: the forwarded write request, or an internal connect merge.
pub(crate) async fn serve_in_writer(
    req: Request,
    env: &Env,
    backend: &writer::DoBackend<'_>,
) -> worker::Result<Response> {
    let started_ms = Date::now().as_millis();
    let target = Target::of(&req);
    let store = Store::Writer(backend);
    if target.path == connect::INTERNAL_PATH {
        return connect::open_internal(&req, env, &target.params(), &store).await;
    }
    let route = Route::parse(&req.method(), &target.path);
    serve(req, env, &store, route, started_ms).await
}

async fn read_json(req: &mut Request) -> Result<Value, ApiError> {
    // An oversized body is still read to its end (and dropped) before the 413, up to this bound:
    // answering while the client is still sending can reset the connection, and the client then
    // sees a network error instead of the envelope (issue 12). Beyond it, answer at once.
    const DRAIN_BYTES: usize = 16 * MAX_BODY_BYTES;
    let too_big = || ApiError::too_big(format!("request body is larger than {MAX_BODY_BYTES} bytes"));
    let unreadable = |_| ApiError::input("could not read the request body");
    let declared = req.headers().get("content-length").ok().flatten().and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > DRAIN_BYTES) {
        return Err(too_big());
    }
    let Some(body) = req.inner().body() else { return Ok(Value::Null) };
    let reader = web_sys::ReadableStreamDefaultReader::new(&body).map_err(unreadable)?;
    let (mut bytes, mut total) = (Vec::new(), 0usize);
    loop {
        let step = JsFuture::from(reader.read()).await.map_err(unreadable)?;
        if Reflect::get(&step, &"done".into()).map_err(unreadable)?.is_truthy() {
            break;
        }
        let chunk = js_sys::Uint8Array::new(&Reflect::get(&step, &"value".into()).map_err(unreadable)?);
        total = total.saturating_add(chunk.length() as usize);
        if total > DRAIN_BYTES {
            drop(reader.cancel());
            return Err(too_big());
        }
        if total <= MAX_BODY_BYTES {
            bytes.extend(chunk.to_vec());
        }
    }
    if total > MAX_BODY_BYTES {
        return Err(too_big());
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    crate::core::json::parse_slice(&bytes).map_err(|e| ApiError::input(format!("invalid JSON body: {e}")))
}

fn flag(params: &Params, name: &str) -> Result<bool, ApiError> {
    match params.get(name).map(String::as_str) {
        None | Some("" | "false" | "0") => Ok(false),
        Some("true" | "1") => Ok(true),
        Some(other) => Err(ApiError::field(name.to_string(), format!("{name} must be true or false, got '{other}'"))),
    }
}

async fn handle(
    req: &mut Request,
    env: &Env,
    params: &Params,
    route: &Route,
    backend: &impl Backend,
) -> Result<(Value, u16), OpError> {
    let op = route.op();
    let fail = |error| OpError { op, error };
    let creds = Credentials::from_env(env).map_err(fail)?;
    creds.check_key(params).map_err(fail)?;
    if *route == Route::NotFound {
        return Err(fail(ApiError::route_not_found()));
    }
    let settings = backend.load_settings().await.map_err(fail)?;
    let token = req.headers().get("authorization").ok().flatten();
    let auth_type = req.headers().get("stream-auth-type").ok().flatten();
    let (caller, prefill) = authenticate(token, auth_type, &creds, &settings, backend).await.map_err(fail)?;
    let at = now();
    // Routes that write read their body here, and every core operation runs through the one
    // `store::run` call below: one await point each, so a smaller state machine in the wasm.
    let body = match route {
        Route::UpdateApp
        | Route::Upsert
        | Route::Partial
        | Route::Deactivate(_)
        | Route::Reactivate(_)
        | Route::Restore => read_json(req).await.map_err(fail)?,
        _ => Value::Null,
    };
    let (body, caller) = (&body, &caller);
    let operation: Box<OpFn<'_>> = match route {
        Route::GetApp => return Ok((ops::get_app(&settings), 200)),
        Route::Query => {
            let payload = params.get("payload").map_or("{}", String::as_str);
            let q = query::parse(payload).map_err(fail)?;
            let all = backend.all_users().await.map_err(fail)?;
            let found: Vec<Value> =
                query::run(&q, &all).into_iter().map(|u| Value::Object(user::public_view(u))).collect();
            return Ok((object([("users", Value::Array(found))]), 200));
        }
        Route::UpdateApp => {
            let patch = if body.is_null() { object([]) } else { body.clone() };
            let updated = ops::update_app(&settings, &patch, caller).map_err(fail)?;
            if updated != settings {
                backend.save_settings(&updated).await.map_err(fail)?;
            }
            return Ok((object([]), 200));
        }
        Route::Upsert => Box::new(move |s| ops::upsert_users(body, caller, at, s)),
        Route::Partial => Box::new(move |s| ops::partial_update_users(body, caller, at, s)),
        Route::Deactivate(id) => Box::new(move |s| ops::deactivate_user(id, body, caller, at, s)),
        Route::Reactivate(id) => Box::new(move |s| ops::reactivate_user(id, body, caller, at, s)),
        Route::Delete(id) => {
            let hard = flag(params, "hard_delete").map_err(fail)?;
            flag(params, "mark_messages_deleted").map_err(fail)?;
            flag(params, "delete_conversation_channels").map_err(fail)?;
            Box::new(move |s| ops::delete_user(id, hard, caller, at, s))
        }
        Route::Restore => Box::new(move |s| ops::restore_users(body, caller, at, s)),
        Route::Connect | Route::NotFound => return Err(fail(ApiError::route_not_found())),
    };
    let commit = store::run(backend, &settings, prefill, op, &*operation).await?;
    Ok((commit.response, commit.status))
}
