//! One error type for every operation: Stream's `code`, the HTTP status and the reason.
//!
//! The reason is the inner text; [`ApiError::message`] wraps it the way Stream does:
//! `<Operation> failed with error: "<reason>"`. Every layer (HTTP, WebSocket, JS) renders
//! errors through [`ApiError::envelope`], so the shapes cannot drift apart.

use super::json::object;
use serde_json::{Map, Value};
use std::fmt;

/// The operation whose name prefixes an error message (Stream's operationId).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    UpdateUsers,
    UpdateUsersPartial,
    QueryUsers,
    GetApp,
    UpdateApp,
    Connect,
    DeactivateUser,
    ReactivateUser,
    DeleteUser,
    RestoreUsers,
    DeleteUsers,
    DeactivateUsers,
    ReactivateUsers,
    GetTask,
    ExportUser,
    ExportUsers,
    CreateGuest,
    SendUserCustomEvent,
    GetRateLimits,
    /// `GET /users/changes`, Roster's change feed.
    GetUserChanges,
    /// `GET /roster/stats`, the operator's view.
    GetStats,
    /// Failures before a route is known (unknown route, bad api_key on an unknown path).
    Request,
}

impl Operation {
    pub fn name(self) -> &'static str {
        match self {
            Operation::UpdateUsers => "UpdateUsers",
            Operation::UpdateUsersPartial => "UpdateUsersPartial",
            Operation::QueryUsers => "QueryUsers",
            Operation::GetApp => "GetApp",
            Operation::UpdateApp => "UpdateApp",
            Operation::Connect => "Connect",
            Operation::DeactivateUser => "DeactivateUser",
            Operation::ReactivateUser => "ReactivateUser",
            Operation::DeleteUser => "DeleteUser",
            Operation::RestoreUsers => "RestoreUsers",
            Operation::DeleteUsers => "DeleteUsers",
            Operation::DeactivateUsers => "DeactivateUsers",
            Operation::ReactivateUsers => "ReactivateUsers",
            Operation::GetTask => "GetTask",
            Operation::ExportUser => "ExportUser",
            Operation::ExportUsers => "ExportUsers",
            Operation::CreateGuest => "CreateGuest",
            Operation::SendUserCustomEvent => "SendUserCustomEvent",
            Operation::GetRateLimits => "GetRateLimits",
            Operation::GetUserChanges => "GetUserChanges",
            Operation::GetStats => "GetStats",
            Operation::Request => "Request",
        }
    }
}

/// Stream's error codes used by Roster (`APIErrorCodes` in stream-chat-js).
pub mod code {
    pub const INTERNAL: i32 = -1;
    pub const ACCESS_KEY: i32 = 2;
    pub const INPUT: i32 = 4;
    pub const AUTH: i32 = 5;
    pub const DUPLICATE_USERNAME: i32 = 6;
    pub const RATE_LIMIT: i32 = 9;
    pub const DOES_NOT_EXIST: i32 = 16;
    pub const NOT_ALLOWED: i32 = 17;
    pub const PAYLOAD_TOO_BIG: i32 = 22;
    pub const TOKEN_EXPIRED: i32 = 40;
    pub const TOKEN_NOT_VALID_YET: i32 = 41;
    pub const TOKEN_USED_BEFORE_IAT: i32 = 42;
    pub const TOKEN_SIGNATURE: i32 = 43;
}

/// How a request body that is not JSON is worded: the start of [`ApiError::invalid_body`]'s
/// reason.
pub const INVALID_BODY: &str = "invalid JSON body";

#[derive(Clone, Debug, PartialEq)]
pub struct ApiError {
    /// Stream's machine-readable code (4 input, 6 duplicate username, 17 not allowed, …).
    pub code: i32,
    /// The HTTP status (`StatusCode` in the envelope).
    pub status: u16,
    /// The inner reason, without the operation prefix.
    pub reason: String,
    /// `exception_fields`: the offending field and its own message, for field errors.
    pub fields: Vec<(String, String)>,
}

impl ApiError {
    pub fn new(code: i32, status: u16, reason: impl Into<String>) -> Self {
        ApiError { code, status, reason: reason.into(), fields: Vec::new() }
    }
    /// 400, code 4: any validation failure.
    pub fn input(reason: impl Into<String>) -> Self {
        Self::new(code::INPUT, 400, reason)
    }
    /// 400, code 4, naming the offending field in `exception_fields`.
    pub fn field(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::field_error(field.into(), reason.into())
    }
    // The body of `field`, compiled once rather than once per pair of argument types.
    fn field_error(field: String, reason: String) -> Self {
        let mut e = Self::input(reason.clone());
        e.fields.push((field, reason));
        e
    }
    /// 403, code 17: the caller may not do this.
    pub fn not_allowed(reason: impl Into<String>) -> Self {
        Self::new(code::NOT_ALLOWED, 403, reason)
    }
    /// 404, code 16.
    pub fn not_found(reason: impl Into<String>) -> Self {
        Self::new(code::DOES_NOT_EXIST, 404, reason)
    }
    /// 401, code 5: a generic authentication failure (malformed token, wrong user, …).
    pub fn auth(reason: impl Into<String>) -> Self {
        Self::new(code::AUTH, 401, reason)
    }
    /// 400, code 6: a unique-username conflict.
    pub fn duplicate_username(reason: impl Into<String>) -> Self {
        Self::new(code::DUPLICATE_USERNAME, 400, reason)
    }
    /// 413, code 22.
    pub fn too_big(reason: impl Into<String>) -> Self {
        Self::new(code::PAYLOAD_TOO_BIG, 413, reason)
    }
    /// 500, code -1: a storage or runtime fault (never a client's mistake).
    pub fn internal(reason: impl Into<String>) -> Self {
        Self::new(code::INTERNAL, 500, reason)
    }
    /// 404, code 16, for an unknown route or a wrong method on a known one.
    pub fn route_not_found() -> Self {
        Self::not_found("Not Found")
    }
    /// 400, code 4: a request body that is not JSON, with the parser's reason (the reason starts
    /// with [`INVALID_BODY`]).
    pub fn invalid_body(reason: impl fmt::Display) -> Self {
        Self::input(format!("{INVALID_BODY}: {reason}"))
    }

    /// `<Operation> failed with error: "<reason>"`.
    pub fn message(&self, op: Operation) -> String {
        format!("{} failed with error: \"{}\"", op.name(), self.reason)
    }

    /// Stream's error envelope: `{code, message, StatusCode, duration, more_info, details}`
    /// plus `exception_fields` for field errors.
    pub fn envelope(&self, op: Operation, duration: &str) -> Value {
        let mut body = object([
            ("code", Value::from(self.code)),
            ("message", Value::from(self.message(op))),
            ("StatusCode", Value::from(self.status)),
            ("duration", Value::from(duration)),
            ("more_info", Value::from("https://getstream.io/chat/docs/api_errors_response")),
            ("details", Value::Array(Vec::new())),
        ]);
        if !self.fields.is_empty() {
            let mut fields = Map::new();
            for (k, v) in &self.fields {
                fields.insert(k.clone(), Value::String(v.clone()));
            }
            if let Some(obj) = body.as_object_mut() {
                obj.insert("exception_fields".into(), Value::Object(fields));
            }
        }
        body
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "code {} ({}): {}", self.code, self.status, self.reason)
    }
}

impl std::error::Error for ApiError {}

pub type Result<T, E = ApiError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn message_and_envelope_follow_stream() {
        let e = ApiError::field("users[u1].online", "users[u1].online is a reserved field");
        assert_eq!(
            e.message(Operation::UpdateUsers),
            "UpdateUsers failed with error: \"users[u1].online is a reserved field\""
        );
        let env = e.envelope(Operation::UpdateUsers, "0.00ms");
        assert_eq!(env["code"], 4);
        assert_eq!(env["StatusCode"], 400);
        assert_eq!(env["details"], json!([]));
        assert_eq!(env["exception_fields"]["users[u1].online"], "users[u1].online is a reserved field");
        let nf = ApiError::route_not_found().envelope(Operation::Request, "0.00ms");
        assert_eq!(nf["message"], "Request failed with error: \"Not Found\"");
        assert!(nf.get("exception_fields").is_none());
    }
}

/// An error with the operation it came from, as Stream reports it.
#[derive(Clone, Debug, PartialEq)]
pub struct OpError {
    pub op: Operation,
    pub error: ApiError,
}

impl OpError {
    pub fn message(&self) -> String {
        self.error.message(self.op)
    }
}
