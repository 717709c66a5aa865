//! What the Worker sends the Writer: one typed command per request, never the HTTP request.
//!
//! The Worker has already checked the api_key, the route, the token's signature and expiry,
//! and the body's size. The command carries what is left to decide against state: the route,
//! who the caller is (and when its token was issued, for revocation cut-offs), the query
//! parameters the operation reads, and the body. On the wire it is one line of JSON, a newline,
//! then the request body as received.

use super::Route;
use crate::core::auth::{Caller, Claims};
use crate::core::error::ApiError;
use crate::core::json::{self, object};
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
    /// `POST`/`PATCH /users`: the `If-Match` header (`core::precondition`).
    pub if_match: Option<String>,
}

fn route_parts(route: &Route) -> (&'static str, Option<&str>) {
    match route {
        Route::Upsert => ("upsert", None),
        Route::Partial => ("partial", None),
        Route::Query => ("query", None),
        Route::GetApp => ("get_app", None),
        Route::UpdateApp => ("update_app", None),
        Route::Connect => ("connect", None),
        Route::Deactivate(id) => ("deactivate", Some(id)),
        Route::Reactivate(id) => ("reactivate", Some(id)),
        Route::Delete(id) => ("delete", Some(id)),
        Route::Restore => ("restore", None),
        Route::DeleteUsers => ("delete_users", None),
        Route::DeactivateUsers => ("deactivate_users", None),
        Route::ReactivateUsers => ("reactivate_users", None),
        Route::ExportUsers => ("export_users", None),
        Route::GetTask(id) => ("get_task", Some(id)),
        Route::ExportUser(id) => ("export_user", Some(id)),
        Route::Guest => ("guest", None),
        Route::SendEvent(id) => ("send_event", Some(id)),
        Route::RateLimits => ("rate_limits", None),
        Route::Changes => ("changes", None),
        Route::Stats => ("stats", None),
        Route::Test(what) => ("test", Some(what)),
        Route::NotFound => ("not_found", None),
    }
}

fn route_of(name: &str, target: Option<String>) -> Option<Route> {
    Some(match (name, target) {
        ("upsert", _) => Route::Upsert,
        ("partial", _) => Route::Partial,
        ("query", _) => Route::Query,
        ("get_app", _) => Route::GetApp,
        ("update_app", _) => Route::UpdateApp,
        ("connect", _) => Route::Connect,
        ("deactivate", Some(id)) => Route::Deactivate(id),
        ("reactivate", Some(id)) => Route::Reactivate(id),
        ("delete", Some(id)) => Route::Delete(id),
        ("restore", _) => Route::Restore,
        ("delete_users", _) => Route::DeleteUsers,
        ("deactivate_users", _) => Route::DeactivateUsers,
        ("reactivate_users", _) => Route::ReactivateUsers,
        ("export_users", _) => Route::ExportUsers,
        ("get_task", Some(id)) => Route::GetTask(id),
        ("export_user", Some(id)) => Route::ExportUser(id),
        ("guest", _) => Route::Guest,
        ("send_event", Some(id)) => Route::SendEvent(id),
        ("rate_limits", _) => Route::RateLimits,
        ("changes", _) => Route::Changes,
        ("stats", _) => Route::Stats,
        ("test", Some(what)) => Route::Test(what),
        _ => return None,
    })
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
    pub fn platform(&self) -> crate::core::rate_limits::Platform {
        crate::core::rate_limits::Platform::of(self.claims.caller == Caller::Server, self.client.as_deref())
    }

    pub fn encode(&self, body: &[u8]) -> Vec<u8> {
        let (name, target) = route_parts(&self.route);
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
        let route = route_of(&text("op").unwrap_or_default(), text("target")).ok_or_else(bad)?;
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
