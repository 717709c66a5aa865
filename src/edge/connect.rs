//! `GET /connect`: the WebSocket the JS SDK's `connectUser` opens. The first frame is a
//! `health.check` carrying `me`, or one `connection.error` frame followed by close code 1000
//! (the SDK treats 1000 as a permanent error and does not retry). Pings are answered.

use super::command::Command;
use super::params::Params;
use super::{authenticate, now, Credentials, Route};
use crate::core::error::{ApiError, Operation};
use crate::core::json::{self, object};
use crate::core::time::Timestamp;
use futures_util::StreamExt;
use serde_json::Value;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;
use worker::{web_sys, Env, Request, Response, WebSocket, WebSocketPair, WebsocketEvent};

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

fn health_check(connection_id: &str, at: Timestamp, me: Option<Value>) -> String {
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

/// Checks what the edge can (api_key, the `json` parameter, the token), then has the Writer
/// run the connect merge; returns `me`.
async fn open(req: &Request, env: &Env, params: &Params) -> Result<Value, ApiError> {
    let creds = Credentials::from_env(env)?;
    creds.check_key(params)?;
    let raw = params.get("json").ok_or_else(|| ApiError::input("json query parameter is required"))?;
    let payload = json::parse(raw).map_err(|e| ApiError::input(format!("invalid json query parameter: {e}")))?;
    if payload.get("user_id").and_then(Value::as_str).is_none() {
        return Err(ApiError::input("json.user_id is a required field"));
    }
    let token = param_or_header(req, params, "authorization");
    let auth_type = param_or_header(req, params, "stream-auth-type");
    let (claims, unsigned) = authenticate(token, auth_type, &creds, env).await?;
    let started_ms = worker::Date::now().as_millis();
    let kv_ops = u32::from(unsigned);
    let cmd =
        Command { route: Route::Connect, claims, unsigned, payload: None, hard: false, v2: false, started_ms, kv_ops };
    let resp = super::send(env, &cmd, raw.as_bytes()).await?;
    // The body as text through the runtime's own `Response` (workers-rs reads a streamed body
    // with its stream adapters), then the core's one JSON parser.
    let unavailable = |e: JsValue| ApiError::internal(format!("writer unavailable: {e:?}"));
    let text = JsFuture::from(web_sys::Response::from(resp).text().map_err(unavailable)?).await.map_err(unavailable)?;
    let body = json::parse(&text.as_string().unwrap_or_default())
        .map_err(|e| ApiError::internal(format!("writer unavailable: {e}")))?;
    if let Some(me) = body.get("me") {
        return Ok(me.clone());
    }
    let err = body.get("error").cloned().unwrap_or(Value::Null);
    let code = err.get("code").and_then(Value::as_i64).and_then(|c| i32::try_from(c).ok()).unwrap_or(-1);
    let status = err.get("status").and_then(Value::as_u64).and_then(|s| u16::try_from(s).ok()).unwrap_or(500);
    let reason = err.get("reason").and_then(Value::as_str).unwrap_or("writer failed").to_string();
    Err(ApiError::new(code, status, reason))
}

pub async fn handle(req: &Request, env: &Env, params: &Params) -> worker::Result<Response> {
    let upgrade = req.headers().get("upgrade")?.unwrap_or_default();
    if !upgrade.eq_ignore_ascii_case("websocket") {
        let t = super::http::Timing { started_ms: worker::Date::now().as_millis(), kv_ops: 0 };
        return super::http::failure(&ApiError::input("websocket upgrade required"), Operation::Connect, &t);
    }
    let WebSocketPair { client, server } = WebSocketPair::new()?;
    server.accept()?;
    let opened = match open(req, env, params).await {
        Ok(me) => uuid_v4().map(|id| (id, me)),
        Err(e) => Err(e),
    };
    match opened {
        Ok((connection_id, me)) => {
            server.send_with_str(health_check(&connection_id, now(), Some(me)))?;
            wasm_bindgen_futures::spawn_local(serve(server, connection_id));
        }
        Err(e) => {
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
            server.send_with_str(json::text(&frame))?;
            // A close reason is at most 123 bytes of UTF-8 (RFC 6455 §5.5: 125 minus the code),
            // or close() throws before the 101 is returned and the client never sees the frame.
            let reason = e.reason.get(..e.reason.floor_char_boundary(123)).unwrap_or_default();
            server.close(Some(1000), Some(reason))?;
        }
    }
    Response::from_websocket(client)
}

/// Answers the client's `health.check` pings until it closes.
async fn serve(server: WebSocket, connection_id: String) {
    let Ok(mut events) = server.events() else { return };
    while let Some(event) = events.next().await {
        match event {
            Ok(WebsocketEvent::Message(msg)) => {
                if msg.text().is_some_and(|t| t.contains("health.check")) {
                    let _ = server.send_with_str(health_check(&connection_id, now(), None));
                }
            }
            Ok(WebsocketEvent::Close(_)) | Err(_) => {
                let _ = server.close(Some(1000), Some("bye"));
                break;
            }
        }
    }
}
