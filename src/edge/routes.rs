//! Every endpoint of the Worker, once: the one table from which the router (`Route::of`), the
//! command's wire name (`Route::wire`, `Route::from_wire`), the operation Stream's errors name
//! (`Route::op`) and whether the operation reads the body (`Route::has_body`) are derived. A new
//! endpoint is one row here and its handler.
//!
//! A row: `Variant(capture)? = METHODS [path segments] "wire name" Operation body v1|both gate;`
//! where a segment is a literal or the capture, `body` is whether the operation reads the
//! request body, `both` serves the row under `/api/v2` too, and `hooks` gates a row on the test
//! hooks (`super::test_hooks`).

use super::params::percent_decode;
use crate::core::wire::error::Operation;
use worker::Method;

/// `String`, for a row whose path captures a segment.
macro_rules! captured {
    ($capture:ident) => {
        String
    };
}

macro_rules! routes {
    (@target) => { None };
    (@target $capture:ident) => { Some($capture.as_str()) };
    (@sent) => { _ };
    (@sent $capture:ident) => { Some($capture) };
    (@open $hooks:ident always) => { true };
    (@open $hooks:ident hooks) => { $hooks };
    (@v2 v1) => { false };
    (@v2 both) => { true };
    ($(
        $(#[doc = $doc:literal])*
        $variant:ident $(($capture:ident))? = $($method:ident)|+ [$($segment:tt),*] $wire:literal $op:ident
            $body:literal $api:ident $gate:ident;
    )*) => {
        #[derive(Clone, Debug, PartialEq)]
        pub(crate) enum Route {
            $($(#[doc = $doc])* $variant $((captured!($capture)))?,)*
            /// No endpoint.
            NotFound,
        }

        impl Route {
            /// The route of a path (its segments, percent-decoded) under one API version.
            pub(crate) fn of(method: &Method, segments: &[&str], v2: bool, hooks: bool) -> Route {
                match (method, segments) {
                    $(
                        ($(Method::$method)|+, [$($segment),*])
                            if routes!(@open hooks $gate) && (!v2 || routes!(@v2 $api)) =>
                        {
                            Route::$variant $(((*$capture).to_string()))?
                        }
                    )*
                    _ => Route::NotFound,
                }
            }

            /// The operation Stream's errors and rate limits name.
            pub(crate) fn op(&self) -> Operation {
                match self {
                    $(Route::$variant { .. } => Operation::$op,)*
                    Route::NotFound => Operation::Request,
                }
            }

            /// Whether the operation reads the request body.
            pub(crate) fn has_body(&self) -> bool {
                match self {
                    $(Route::$variant { .. } => $body,)*
                    Route::NotFound => false,
                }
            }

            /// The route's name and captured segment in a command.
            pub(crate) fn wire(&self) -> (&'static str, Option<&str>) {
                match self {
                    $(Route::$variant $(($capture))? => ($wire, routes!(@target $($capture)?)),)*
                    Route::NotFound => ("not_found", None),
                }
            }

            /// The route a command names (`None`: no such route, or a captured segment missing).
            pub(crate) fn from_wire(name: &str, target: Option<String>) -> Option<Route> {
                match (name, target) {
                    $(($wire, routes!(@sent $($capture)?)) => Some(Route::$variant $(($capture))?),)*
                    _ => None,
                }
            }
        }
    };
}

routes! {
    Upsert = Post ["users"] "upsert" UpdateUsers true both always;
    Partial = Patch ["users"] "partial" UpdateUsersPartial true both always;
    Query = Get ["users"] "query" QueryUsers false both always;
    GetApp = Get ["app"] "get_app" GetApp false both always;
    UpdateApp = Patch ["app"] "update_app" UpdateApp true both always;
    /// `GET /connect`: the client's WebSocket (v1 only).
    Connect = Get ["connect"] "connect" Connect false v1 always;
    Restore = Post ["users", "restore"] "restore" RestoreUsers true both always;
    DeleteUsers = Post ["users", "delete"] "delete_users" DeleteUsers true both always;
    DeactivateUsers = Post ["users", "deactivate"] "deactivate_users" DeactivateUsers true both always;
    ReactivateUsers = Post ["users", "reactivate"] "reactivate_users" ReactivateUsers true both always;
    /// `GET /users/changes`: Roster's change feed (`core::query::feed`).
    Changes = Get ["users", "changes"] "changes" GetUserChanges false both always;
    Deactivate(id) = Post ["users", id, "deactivate"] "deactivate" DeactivateUser true both always;
    Reactivate(id) = Post ["users", id, "reactivate"] "reactivate" ReactivateUser true both always;
    /// `DELETE /users/{id}` (v1 only: the current SDKs delete in batches).
    Delete(id) = Delete ["users", id] "delete" DeleteUser false v1 always;
    ExportUsers = Post ["export", "users"] "export_users" ExportUsers true both always;
    GetTask(id) = Get ["tasks", id] "get_task" GetTask false both always;
    ExportUser(id) = Get ["users", id, "export"] "export_user" ExportUser false both always;
    /// `POST /guest`: creates a guest user; needs no token.
    Guest = Post ["guest"] "guest" CreateGuest true both always;
    /// `POST /users/{id}/event`: a custom event to the user's connections (the current SDKs
    /// send it to `/api/v2/chat/users/{id}/event`: `super::Route::parse`).
    SendEvent(id) = Post ["users", id, "event"] "send_event" SendUserCustomEvent true both always;
    /// `GET /rate_limits`: this minute's budget per platform and endpoint.
    RateLimits = Get ["rate_limits"] "rate_limits" GetRateLimits false both always;
    /// `GET /roster/stats`: the operator's view of the Writer (server token only).
    Stats = Get ["roster", "stats"] "stats" GetStats false both always;
    /// `/__roster/test/<what>`: test-only hooks (v1, only in a test build with them on).
    Test(what) = Get | Post ["__roster", "test", what] "test" Request true v1 hooks;
}

impl Route {
    /// The route of a request, and whether it came through Stream's current API (`/api/v2`,
    /// custom data nested in `custom`). Both versions share one table; `/api/v2` has no
    /// connect, no single-user delete and no test hooks.
    pub(crate) fn parse(method: &Method, path: &str, hooks: bool) -> (Route, bool) {
        let segments: Vec<String> = path.trim_matches('/').split('/').map(percent_decode).collect();
        let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
        match segs.as_slice() {
            // Both current SDKs send a custom user event to the chat product's path.
            ["api", "v2", "chat", "users", id, "event"] if *method == Method::Post => {
                (Route::SendEvent((*id).to_string()), true)
            }
            ["api", "v2", rest @ ..] => (Route::of(method, rest, true, hooks), true),
            all => (Route::of(method, all, false, hooks), false),
        }
    }
}
