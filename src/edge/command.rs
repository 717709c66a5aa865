//! What the Worker sends the Writer: one typed command per request, never the HTTP request.
//!
//! The Worker has already checked the api_key, the route, the token's signature and expiry,
//! and the body's size. The command carries what is left to decide against state: the route,
//! who the caller is (and when its token was issued, for revocation cut-offs), the query
//! parameters the operation reads, and the body. On the wire it is one line of JSON, a newline,
//! then the request body as received.

use super::Route;
use crate::core::access::auth::{Caller, Claims};
use crate::core::wire::error::ApiError;
use crate::core::wire::json::{self, object};
use serde_json::Value;

#[derive(Clone, Debug, PartialEq)]
pub struct Command {
    pub route: Route,
    pub claims: Claims,
    /// The token's signature was not checked: acceptable only if the app has
    /// `disable_auth_checks` on (the Writer decides, from its own settings).
    pub unsigned: bool,
    /// `GET /users`: the `payload` parameter.
    pub payload: Option<String>,
    /// `DELETE /users/{id}`: `hard_delete`.
    pub hard: bool,
    /// Sent to `/api/v2/...`: users in and out carry custom data in `custom`.
    pub v2: bool,
    /// When the Worker received the request (for `duration`).
    pub started_ms: u64,
    /// KV operations the Worker made for this request (reported in `x-roster-kv-ops`).
    pub kv_ops: u32,
    /// The `connection_id` a connected client sends with its requests (presence queries).
    pub connection_id: Option<String>,
    /// The `X-Stream-Client` the SDK sent (its platform, for rate limits).
    pub client: Option<String>,
    /// `POST`/`PATCH /users`: the `If-Match` header (`core::query::precondition`).
    pub if_match: Option<String>,
}

impl Command {
    /// A command for a checked caller, with no parameters. The Worker's only KV operation is the
    /// settings read that admits an unsigned token, so that is what `kv_ops` counts.
    pub fn new(route: Route, claims: Claims, unsigned: bool, started_ms: u64) -> Command {
        Command {
            route,
            claims,
            unsigned,
            payload: None,
            hard: false,
            v2: false,
            started_ms,
            kv_ops: u32::from(unsigned),
            connection_id: None,
            client: None,
            if_match: None,
        }
    }

    /// The command line followed by the body: what the Worker posts to the Writer.
    /// The platform the request counts against (rate limits).
    pub fn platform(&self) -> crate::core::access::rate_limits::Platform {
        crate::core::access::rate_limits::Platform::of(self.claims.caller == Caller::Server, self.client.as_deref())
    }

    pub fn encode(&self, body: &[u8]) -> Vec<u8> {
        let (name, target) = self.route.wire();
        let user = match &self.claims.caller {
            Caller::Server => Value::Null,
            Caller::User(id) => Value::from(id.as_str()),
        };
        let line = object([
            ("op", Value::from(name)),
            ("target", target.map_or(Value::Null, Value::from)),
            ("user_id", user),
            ("iat", self.claims.iat.map_or(Value::Null, Value::from)),
            ("exp", self.claims.exp.map_or(Value::Null, Value::from)),
            ("unsigned", Value::Bool(self.unsigned)),
            ("payload", self.payload.as_deref().map_or(Value::Null, Value::from)),
            ("hard", Value::Bool(self.hard)),
            ("v2", Value::Bool(self.v2)),
            ("started_ms", Value::from(self.started_ms)),
            ("kv_ops", Value::from(self.kv_ops)),
            ("connection_id", self.connection_id.as_deref().map_or(Value::Null, Value::from)),
            ("client", self.client.as_deref().map_or(Value::Null, Value::from)),
            ("if_match", self.if_match.as_deref().map_or(Value::Null, Value::from)),
        ]);
        let mut out = json::text(&line).into_bytes();
        out.push(b'\n');
        out.extend_from_slice(body);
        out
    }

    /// Splits what the Writer received into the command and the body.
    pub fn decode(raw: &[u8]) -> Result<(Command, &[u8]), ApiError> {
        let bad = || ApiError::internal("writer: malformed command");
        let split = raw.iter().position(|b| *b == b'\n').ok_or_else(bad)?;
        let (line, body) = (raw.get(..split).ok_or_else(bad)?, raw.get(split + 1..).unwrap_or_default());
        let v = json::parse_slice(line).map_err(|_| bad())?;
        let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        let route = Route::from_wire(&text("op").unwrap_or_default(), text("target")).ok_or_else(bad)?;
        let caller = text("user_id").map_or(Caller::Server, Caller::User);
        let claims =
            Claims { caller, iat: v.get("iat").and_then(Value::as_i64), exp: v.get("exp").and_then(Value::as_i64) };
        let command = Command {
            route,
            claims,
            unsigned: v.get("unsigned").and_then(Value::as_bool).unwrap_or(false),
            payload: text("payload"),
            hard: v.get("hard").and_then(Value::as_bool).unwrap_or(false),
            v2: v.get("v2").and_then(Value::as_bool).unwrap_or(false),
            started_ms: v.get("started_ms").and_then(Value::as_u64).unwrap_or(0),
            connection_id: text("connection_id"),
            client: text("client"),
            if_match: text("if_match"),
            kv_ops: v.get("kv_ops").and_then(Value::as_u64).and_then(|n| u32::try_from(n).ok()).unwrap_or(0),
        };
        Ok((command, body))
    }
}
