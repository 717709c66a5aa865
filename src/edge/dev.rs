//! `GET /_dev/token`: development credentials for the playground page (`www/`).
//!
//! The route exists only when the var `ROSTER_DEV_TOKENS` is `"1"`. `scripts/dev.sh` passes it
//! with `--var`; it is never in `wrangler.toml`, so a deployed Worker has no such route and the
//! page asks for a key and a token instead. When on, it answers only a loopback `Host` (a
//! DNS-rebinding page cannot read it) and sends no CORS headers (only pages this Worker serves,
//! same origin, can read it). It hands out the API key and a server token, never the secret.

use super::Credentials;
use crate::core::access::auth;
use crate::core::wire::json::{self, object};
use serde_json::Value;
use worker::{Env, Headers, Method, Request, Response};

const PATH: &str = "/_dev/token";

/// The answer to the dev-token route, or `None` when this request is not one it serves (the
/// Worker then routes it as usual: an unknown route).
pub fn token(req: &Request, env: &Env, path: &str) -> Option<worker::Result<Response>> {
    let enabled = env.var("ROSTER_DEV_TOKENS").is_ok_and(|v| v.to_string() == "1");
    if path != PATH || req.method() != Method::Get || !enabled || !is_loopback(&req.inner().url()) {
        return None;
    }
    let creds = Credentials::from_env(env).ok()?;
    let body = object([("api_key", Value::from(creds.key)), ("token", Value::from(auth::server_token(&creds.secret)))]);
    Some(respond(&json::text(&body)))
}

fn respond(body: &str) -> worker::Result<Response> {
    let h = Headers::new();
    h.set("content-type", "application/json")?;
    h.set("cache-control", "no-store")?;
    Ok(Response::from_bytes(body.as_bytes().to_vec())?.with_headers(h))
}

/// Whether the URL's host is 127.0.0.1, localhost or [::1] (any port).
fn is_loopback(url: &str) -> bool {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = after_scheme.split(['/', '?', '#']).next().unwrap_or_default();
    let authority = authority.rsplit('@').next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    matches!(host.to_ascii_lowercase().as_str(), "127.0.0.1" | "localhost" | "::1")
}
