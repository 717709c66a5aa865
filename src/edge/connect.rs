//! `GET /connect`: the WebSocket the JS SDK's `connectUser` opens. The first frame is a
//! `health.check` carrying `me`, or one `connection.error` frame followed by close code 1000
//! (the SDK treats 1000 as a permanent error and does not retry). The Worker checks what needs
//! no state and forwards the upgrade to the user's connection hub (`hub/`), which has the
//! Writer merge `user_details`, then holds the socket and answers its pings.

use super::command::Command;
use super::params::Params;
use super::{authenticate, now, Credentials, Route};
use crate::core::engine::hubs;
use crate::core::wire::error::{ApiError, Operation};
use crate::core::wire::json::{self, object};
use crate::core::wire::time::Timestamp;
use serde_json::Value;
use worker::{Env, Request, Response, WebSocket, WebSocketPair};

/// A random UUID v4, made inside the request (workerd forbids randomness at module scope).
pub(crate) fn uuid_v4() -> Result<String, ApiError> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).map_err(|e| ApiError::internal(format!("no randomness: {e}")))?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let mut out = String::with_capacity(36);
    for (i, x) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        out.push_str(&format!("{x:02x}"));
    }
    Ok(out)
}

fn param_or_header(req: &Request, params: &Params, name: &str) -> Option<String> {
    params.get(name).cloned().or_else(|| req.headers().get(name).ok().flatten())
}

pub fn health_check(connection_id: &str, at: Timestamp, me: Option<Value>) -> String {
    let mut frame = object([
        ("type", Value::from("health.check")),
        ("connection_id", Value::from(connection_id)),
        ("cid", Value::from("*")),
        ("created_at", Value::from(at.to_string())),
    ]);
    if let (Some(me), Value::Object(m)) = (me, &mut frame) {
        m.insert("me".into(), me);
    }
    json::text(&frame)
}

/// The edge's checks of a connect (api_key, the `json` parameter, the token): the command the
/// Writer runs, and the `json` parameter it merges.
async fn command(req: &Request, env: &Env, params: &Params) -> Result<(Command, String, String), ApiError> {
    let creds = Credentials::from_env(env)?;
    creds.check_key(params)?;
    let raw = params.get("json").ok_or_else(|| ApiError::input("json query parameter is required"))?;
    let payload = json::parse(raw).map_err(|e| ApiError::input(format!("invalid json query parameter: {e}")))?;
    let Some(user_id) = payload.get("user_id").and_then(Value::as_str).map(str::to_string) else {
        return Err(ApiError::input("json.user_id is a required field"));
    };
    let token = param_or_header(req, params, "authorization");
    let auth_type = param_or_header(req, params, "stream-auth-type");
    let (claims, unsigned) = authenticate(token, auth_type, &creds, env).await?;
    let mut cmd = Command::new(Route::Connect, claims, unsigned, worker::Date::now().as_millis());
    cmd.client = param_or_header(req, params, "x-stream-client");
    Ok((cmd, raw.clone(), user_id))
}

/// Percent-encodes a query parameter value.
fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A refused connect: the `connection.error` frame and the close reason.
pub fn refusal(e: &ApiError) -> (String, String) {
    let mut error = e.envelope(Operation::Connect, "");
    if let Value::Object(m) = &mut error {
        m.insert("duration".into(), Value::from(""));
    }
    let frame = object([
        ("type", Value::from("connection.error")),
        ("created_at", Value::from(now().to_string())),
        ("connection_id", Value::from("")),
        ("error", error),
    ]);
    // A close reason is at most 123 bytes of UTF-8 (RFC 6455 §5.5: 125 minus the code), or
    // close() throws before the 101 is returned and the client never sees the frame.
    let reason = e.reason.get(..e.reason.floor_char_boundary(123)).unwrap_or_default();
    (json::text(&frame), reason.to_string())
}

/// Sends a refusal on an accepted socket and closes it with 1000 (the SDK then does not retry).
pub fn send_refusal(server: &WebSocket, frame: &str, reason: &str) -> worker::Result<()> {
    server.send_with_str(frame)?;
    server.close(Some(1000), Some(reason))
}

/// `GET /connect`: the edge checks, then the user's hub takes the upgrade (`core::engine::hubs::index`
/// of the user id over `ROSTER_HUBS` hubs).
pub async fn handle(req: &Request, env: &Env, params: &Params) -> worker::Result<Response> {
    let upgrade = req.headers().get("upgrade")?.unwrap_or_default();
    if !upgrade.eq_ignore_ascii_case("websocket") {
        let t = super::http::Timing { started_ms: worker::Date::now().as_millis(), kv_ops: 0, rate: None };
        return super::http::failure(&ApiError::input("websocket upgrade required"), Operation::Connect, &t);
    }
    match command(req, env, params).await {
        Ok((cmd, raw, user_id)) => {
            let line = String::from_utf8_lossy(&cmd.encode(b"")).trim_end().to_string();
            let mut count = super::objects::hub_count(env);
            // Test builds: a connect may ask for another layout (`x-roster-test-hubs`), so that
            // one test can hold connections made under two `ROSTER_HUBS` at once, as during a
            // gradual deployment that changes it.
            if super::test_hooks(env) {
                if let Some(n) = req.headers().get("x-roster-test-hubs")? {
                    count = hubs::count(Some(&n));
                }
            }
            let hub = hubs::name(hubs::index(&user_id, count));
            let url = format!("https://hub/connect?hub={hub}&cmd={}&json={}", encode(&line), encode(&raw));
            // A plain runtime Request (workers-rs' RequestInit would link its serializers).
            let headers = worker::web_sys::Headers::new()?;
            headers.set("upgrade", "websocket")?;
            let init = worker::web_sys::RequestInit::new();
            init.set_headers(&headers);
            let inner = worker::web_sys::Request::new_with_str_and_init(&url, &init)?;
            super::objects::forward(env, super::objects::HUB, &hub, &inner).await
        }
        Err(e) => {
            let WebSocketPair { client, server } = WebSocketPair::new()?;
            server.accept()?;
            let (frame, reason) = refusal(&e);
            send_refusal(&server, &frame, &reason)?;
            Response::from_websocket(client)
        }
    }
}
