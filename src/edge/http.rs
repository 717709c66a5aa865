//! Stream's transport rules: the success and error envelopes, `duration`, rate-limit and CORS
//! headers. The one place that turns results into HTTP responses.

use crate::core::error::{ApiError, Operation};
use crate::core::json;
use serde_json::Value;
use worker::{Headers, Response};

pub const CORS_ALLOW_HEADERS: &str =
    "Authorization, stream-auth-type, X-Stream-Client, x-client-request-id, Content-Type, Accept";
pub const CORS_ALLOW_METHODS: &str = "GET, POST, PUT, PATCH, DELETE, OPTIONS";
/// Advertised per-minute request budget (Roster does not rate-limit; the SDKs read these).
const RATE_LIMIT: u32 = 10_000;

/// Stream's `"<n.nn>ms"`. The clock has millisecond resolution (and stands still during
/// synchronous work in workerd), so this formats whole milliseconds without float formatting.
pub fn duration(started_ms: u64, now_ms: u64) -> String {
    format!("{}.00ms", now_ms.saturating_sub(started_ms))
}

fn headers(now_secs: u64, kv_ops: u32) -> worker::Result<Headers> {
    let h = Headers::new();
    h.set("content-type", "application/json")?;
    h.set("x-ratelimit-limit", &RATE_LIMIT.to_string())?;
    h.set("x-ratelimit-remaining", &(RATE_LIMIT - 1).to_string())?;
    h.set("x-ratelimit-reset", &(now_secs - now_secs % 60 + 60).to_string())?;
    h.set("x-roster-kv-ops", &kv_ops.to_string())?;
    add_cors(&h)?;
    Ok(h)
}

pub fn add_cors(h: &Headers) -> worker::Result<()> {
    h.set("access-control-allow-origin", "*")?;
    h.set("access-control-allow-headers", CORS_ALLOW_HEADERS)?;
    h.set("access-control-allow-methods", CORS_ALLOW_METHODS)?;
    h.set("access-control-expose-headers", "x-ratelimit-limit, x-ratelimit-remaining, x-ratelimit-reset")?;
    h.set("access-control-max-age", "86400")
}

pub struct Timing {
    pub started_ms: u64,
    pub kv_ops: u32,
}

impl Timing {
    fn finish(&self) -> (String, u64) {
        let now = worker::Date::now().as_millis();
        (duration(self.started_ms, now), now / 1000)
    }
}

/// A success: the body object with `duration` added.
pub fn success(mut body: Value, status: u16, t: &Timing) -> worker::Result<Response> {
    let (dur, now_secs) = t.finish();
    if let Value::Object(m) = &mut body {
        m.insert("duration".into(), Value::String(dur));
    }
    Ok(Response::from_bytes(json::text(&body).into_bytes())?
        .with_status(status)
        .with_headers(headers(now_secs, t.kv_ops)?))
}

/// An error in Stream's envelope, with its status.
pub fn failure(e: &ApiError, op: Operation, t: &Timing) -> worker::Result<Response> {
    let (dur, now_secs) = t.finish();
    let body = json::text(&e.envelope(op, &dur));
    Ok(Response::from_bytes(body.into_bytes())?.with_status(e.status).with_headers(headers(now_secs, t.kv_ops)?))
}

/// The answer to a CORS preflight.
pub fn preflight() -> worker::Result<Response> {
    let h = Headers::new();
    add_cors(&h)?;
    Ok(Response::empty()?.with_status(204).with_headers(h))
}
