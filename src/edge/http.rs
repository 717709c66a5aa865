//! Stream's transport rules: the success and error envelopes, `duration`, rate-limit and CORS
//! headers. The one place that turns results into HTTP responses.

use crate::core::wire::error::{ApiError, Operation};
use crate::core::wire::json;
use serde_json::Value;
use worker::{Headers, Response};

pub const CORS_ALLOW_HEADERS: &str =
    "Authorization, stream-auth-type, X-Stream-Client, x-client-request-id, Content-Type, Accept, If-Match";
pub const CORS_ALLOW_METHODS: &str = "GET, POST, PUT, PATCH, DELETE, OPTIONS";
use crate::core::access::rate_limits::{Usage, DEFAULT_LIMIT};

/// Stream's `"<n.nn>ms"`. The clock has millisecond resolution (and stands still during
/// synchronous work in workerd), so this formats whole milliseconds without float formatting.
pub fn duration(started_ms: u64, now_ms: u64) -> String {
    format!("{}.00ms", now_ms.saturating_sub(started_ms))
}

fn headers(now_secs: u64, t: &Timing) -> worker::Result<Headers> {
    let h = Headers::new();
    h.set("content-type", "application/json")?;
    // A request the Writer counted reports its endpoint's budget; one answered before (a bad
    // key or token, an unknown route) reports a full default budget.
    let next_minute = i64::try_from(now_secs - now_secs % 60 + 60).unwrap_or(i64::MAX);
    let usage = t.rate.unwrap_or(Usage { limit: DEFAULT_LIMIT, remaining: DEFAULT_LIMIT, reset: next_minute });
    h.set("x-ratelimit-limit", &usage.limit.to_string())?;
    h.set("x-ratelimit-remaining", &usage.remaining.to_string())?;
    h.set("x-ratelimit-reset", &usage.reset.to_string())?;
    let kv_ops = t.kv_ops;
    h.set("x-roster-kv-ops", &kv_ops.to_string())?;
    add_cors(&h)?;
    Ok(h)
}

pub fn add_cors(h: &Headers) -> worker::Result<()> {
    h.set("access-control-allow-origin", "*")?;
    h.set("access-control-allow-headers", CORS_ALLOW_HEADERS)?;
    h.set("access-control-allow-methods", CORS_ALLOW_METHODS)?;
    h.set("access-control-expose-headers", "x-ratelimit-limit, x-ratelimit-remaining, x-ratelimit-reset, etag")?;
    h.set("access-control-max-age", "86400")
}

pub struct Timing {
    pub started_ms: u64,
    pub kv_ops: u32,
    /// The endpoint's rate-limit budget after this request, when the Writer counted it.
    pub rate: Option<Usage>,
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
    Ok(Response::from_bytes(json::text(&body).into_bytes())?.with_status(status).with_headers(headers(now_secs, t)?))
}

/// An error in Stream's envelope, with its status.
pub fn failure(e: &ApiError, op: Operation, t: &Timing) -> worker::Result<Response> {
    let (dur, now_secs) = t.finish();
    let body = json::text(&e.envelope(op, &dur));
    Ok(Response::from_bytes(body.into_bytes())?.with_status(e.status).with_headers(headers(now_secs, t)?))
}

/// Applies `ROSTER_CORS_ORIGINS` (`core::wire::cors`) to an answer: with no list it keeps `*`; with
/// one it echoes an allowed origin (and says the answer varies by `Origin`) or drops the header.
/// A WebSocket upgrade is left as it is (browsers do not apply CORS to WebSockets).
pub fn restrict_cors(response: Response, allow: crate::core::wire::cors::Allow) -> worker::Result<Response> {
    use crate::core::wire::cors::Allow;
    if allow == Allow::Any || response.status_code() == 101 {
        return Ok(response);
    }
    // A response that came from another object (the Writer, the assets) has immutable headers.
    let h = Headers(worker::web_sys::Headers::new_with_headers(&response.headers().0)?);
    match allow {
        Allow::Origin(origin) => h.set("access-control-allow-origin", origin)?,
        _ => h.delete("access-control-allow-origin")?,
    }
    h.append("vary", "Origin")?;
    Ok(response.with_headers(h))
}

/// The answer to a CORS preflight.
pub fn preflight() -> worker::Result<Response> {
    let h = Headers::new();
    add_cors(&h)?;
    Ok(Response::empty()?.with_status(204).with_headers(h))
}
