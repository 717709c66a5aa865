//! The Cloudflare Worker: Stream Chat's user endpoints. Thin on purpose: at the edge it routes,
//! checks the api_key and the token's signature and expiry (no state needed), reads and
//! size-checks the body, then sends the `Writer` Durable Object one typed command
//! (`command.rs`). The Writer holds the truth in SQLite and decides with the core
//! (`writer/`); Workers KV is its replica (`store/`, README "Storage").

mod command;
mod connect;
mod credentials;
mod dev;
mod http;
mod hub;
mod kv;
mod objects;
mod params;
mod routes;
mod sql;
mod store;
mod writer;

use crate::core::access::auth::{self, Claims};
use crate::core::wire::error::{ApiError, OpError};
use crate::core::wire::time::Timestamp;
use command::Command;
use credentials::{authenticate, Credentials};
use http::Timing;
use js_sys::Reflect;
use objects::{send, Fetchable};
use params::{Params, Target};
pub(crate) use routes::Route;
use serde_json::Value;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use worker::{event, web_sys, Context, Date, Env, Method, Request, Response};

/// Largest request body accepted (a full 100-user batch at the custom-data limit fits).
const MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// Runs when the module is instantiated (the Worker's and the Writer's isolates alike): the
/// core reads floats with JavaScript's `parseFloat`.
#[event(start)]
fn start() {
    crate::core::wire::json::set_float_reader(|token| Some(js_sys::Number::parse_float(token)).filter(|f| !f.is_nan()));
}

/// Whether the test-only hooks are on: compiled in (feature `test-hooks`, the build the tests
/// run) and switched on (`ROSTER_TEST_HOOKS = "1"`, passed with `--var` by the test harness;
/// never in wrangler.toml). In any other build this is `false` and the hooks' code is left out.
pub(crate) fn test_hooks(env: &Env) -> bool {
    cfg!(feature = "test-hooks") && env.var("ROSTER_TEST_HOOKS").is_ok_and(|v| v.to_string() == "1")
}

/// Whether the playground page is served at `/` (`ROSTER_PLAYGROUND = "on"`; wrangler.toml
/// says `"off"` and `scripts/dev.sh` turns it on). Off, its paths are API requests like any
/// other unknown route.
fn playground(env: &Env) -> bool {
    env.var("ROSTER_PLAYGROUND").is_ok_and(|v| v.to_string() == "on")
}

/// The runtime's clock, in milliseconds since the epoch.
pub(crate) fn now_ms() -> i64 {
    i64::try_from(Date::now().as_millis()).unwrap_or(i64::MAX)
}

/// The runtime's clock as a timestamp.
pub(crate) fn now() -> Timestamp {
    Timestamp::from_millis(now_ms())
}

#[event(fetch)]
pub async fn fetch(req: Request, env: Env, _ctx: Context) -> worker::Result<Response> {
    let origin = req.headers().get("origin").ok().flatten();
    let allowed = env.var("ROSTER_CORS_ORIGINS").map(|v| v.to_string()).ok();
    let allow = crate::core::wire::cors::allow(allowed.as_deref(), origin.as_deref());
    let response = answer(req, env).await?;
    http::restrict_cors(response, allow)
}

/// The answer to one request, before the CORS allow-list is applied.
async fn answer(req: Request, env: Env) -> worker::Result<Response> {
    let started_ms = Date::now().as_millis();
    if req.method() == Method::Options {
        return http::preflight();
    }
    let target = Target::of(&req);
    if let Some(response) = dev::token(&req, &env, &target.path) {
        return response;
    }
    let (route, v2) = Route::parse(&req.method(), &target.path, test_hooks(&env));
    // A GET/HEAD that is no API route goes to the playground page's assets, when the
    // playground is on, and is served from there when it names a file (anything else is
    // answered below).
    if route == Route::NotFound && matches!(req.method(), Method::Get | Method::Head) && playground(&env) {
        let assets: Fetchable = Reflect::get(&env, &"ASSETS".into())?.unchecked_into();
        let promise = assets.fetch(req.inner())?;
        let response = Response::from(JsFuture::from(promise).await?.unchecked_into::<web_sys::Response>());
        if response.status_code() != 404 {
            return Ok(response);
        }
    }
    let params = target.params();
    if route == Route::Connect {
        return connect::handle(&req, &env, &params).await;
    }
    let t = Timing { started_ms, kv_ops: 0, rate: None };
    if let (Route::Test(what), true) = (&route, test_hooks(&env)) {
        if what == "kv" {
            return test_kv_dump(&env, &params).await;
        }
    }
    let sent = match command_for(req, &env, &params, route, v2, started_ms).await {
        Ok((cmd, body)) => send(&env, &cmd, &body).await.map_err(|error| OpError { op: cmd.route.op(), error }),
        Err(e) => Err(e),
    };
    match sent {
        Ok(response) => Ok(response),
        Err(e) => http::failure(&e.error, e.op, &t),
    }
}

/// Everything the edge checks, in Stream's order (api_key, route, token), and the command.
async fn command_for(
    mut req: Request,
    env: &Env,
    params: &Params,
    route: Route,
    v2: bool,
    started_ms: u64,
) -> Result<(Command, Vec<u8>), OpError> {
    let op = route.op();
    let fail = |error| OpError { op, error };
    // The body is read (or drained, when too large) before anything is answered, whatever the
    // answer: a client still sending when the response comes can be reset and then sees a
    // network error instead of the envelope. Its own errors come after the token's.
    let body = read_body(&mut req).await;
    let creds = Credentials::from_env(env).map_err(fail)?;
    creds.check_key(params).map_err(fail)?;
    if route == Route::NotFound {
        let path = req.path();
        return Err(fail(crate::core::wire::not_served::route_not_found(&path)));
    }
    let token = req.headers().get("authorization").ok().flatten();
    let auth_type = req.headers().get("stream-auth-type").ok().flatten();
    // A guest is created without a token (the Writer checks that the app allows guests).
    let (claims, unsigned) = if route == Route::Guest {
        (Claims { caller: auth::Caller::User(String::new()), iat: None, exp: None }, false)
    } else {
        authenticate(token, auth_type, &creds, env).await.map_err(fail)?
    };
    let body = if route.has_body() { body.map_err(fail)? } else { Vec::new() };
    let mut cmd = Command::new(route, claims, unsigned, started_ms);
    if let Route::Delete(_) = cmd.route {
        cmd.hard = flag(params, "hard_delete").map_err(fail)?;
        flag(params, "mark_messages_deleted").map_err(fail)?;
        flag(params, "delete_conversation_channels").map_err(fail)?;
    }
    if cmd.route == Route::Query {
        cmd.payload = Some(params.get("payload").cloned().unwrap_or_else(|| "{}".into()));
    }
    if cmd.route == Route::RateLimits {
        cmd.payload = Some(rate_limits_query(params));
    }
    if cmd.route == Route::Changes {
        let param = |name: &str| params.get(name).map_or(Value::Null, |v| Value::from(v.as_str()));
        cmd.payload = Some(crate::core::wire::json::text(&crate::core::wire::json::object([
            ("since", param("since")),
            ("limit", param("limit")),
        ])));
    }
    cmd.client = req.headers().get("x-stream-client").ok().flatten();
    if matches!(cmd.route, Route::Upsert | Route::Partial) {
        cmd.if_match = req.headers().get("if-match").ok().flatten();
    }
    cmd.v2 = v2;
    cmd.connection_id = params.get("connection_id").filter(|c| !c.is_empty()).cloned();
    Ok((cmd, body))
}

/// Test hook `GET /__roster/test/kv?prefix=…`: what KV holds under a prefix, read directly
/// (values and metadata), to compare the replica with the Writer.
async fn test_kv_dump(env: &Env, params: &Params) -> worker::Result<Response> {
    let fail = |e: ApiError| worker::Error::RustError(e.reason);
    let kv = kv::KvNamespace::from_env(env, "USERS").map_err(fail)?;
    let prefix = params.get("prefix").cloned().unwrap_or_default();
    let mut out = serde_json::Map::new();
    let mut cursor = None;
    loop {
        let page = kv.list_page(&prefix, 1000, cursor.take()).await.map_err(fail)?;
        let keys: Vec<String> = page.keys.iter().map(|(k, _)| k.clone()).collect();
        let mut values = Vec::new();
        for chunk in keys.chunks(100) {
            let map = kv::wait(kv.get_texts(chunk).map_err(fail)?).await.map_err(fail)?;
            values.extend(kv::texts_of(&map, chunk));
        }
        for ((key, metadata), value) in page.keys.into_iter().zip(values) {
            let entry = crate::core::wire::json::object([
                ("value", value.map_or(serde_json::Value::Null, serde_json::Value::String)),
                ("metadata", metadata.unwrap_or(serde_json::Value::Null)),
            ]);
            out.insert(key, entry);
        }
        match page.cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    Response::from_bytes(crate::core::wire::json::text(&serde_json::Value::Object(out)).into_bytes())
}

/// The request body, at most [`MAX_BODY_BYTES`] (else 413 code 22).
async fn read_body(req: &mut Request) -> Result<Vec<u8>, ApiError> {
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
    let Some(body) = req.inner().body() else { return Ok(Vec::new()) };
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
    Ok(bytes)
}

fn flag(params: &Params, name: &str) -> Result<bool, ApiError> {
    match params.get(name).map(String::as_str) {
        None | Some("" | "false" | "0") => Ok(false),
        Some("true" | "1") => Ok(true),
        Some(other) => Err(ApiError::field(name.to_string(), format!("{name} must be true or false, got '{other}'"))),
    }
}

/// `GET /rate_limits`' parameters as a JSON object for the Writer: the platforms asked
/// (`server_side`, `android`, `ios`, `web`: `true` to include) and `endpoints` (comma-separated).
fn rate_limits_query(params: &Params) -> String {
    use crate::core::access::rate_limits::Platform;
    let platforms: Vec<Value> = Platform::ALL
        .iter()
        .filter(|p| params.get(p.name()).is_some_and(|v| v == "true" || v == "1"))
        .map(|p| Value::from(p.name()))
        .collect();
    let endpoints = params
        .get("endpoints")
        .filter(|e| !e.is_empty())
        .map_or(Value::Null, |e| Value::Array(e.split(',').map(|n| Value::from(n.trim())).collect()));
    crate::core::wire::json::text(&crate::core::wire::json::object([
        ("platforms", Value::Array(platforms)),
        ("endpoints", endpoints),
    ]))
}
