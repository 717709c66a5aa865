//! Stream's routes that Roster does not serve. Roster is Stream's user API only; a request for
//! a channel, a message, moderation, push, roles or video is still Stream's 404 code 16, but its
//! message says which of Stream's APIs the path belongs to, so a caller who pointed a whole SDK
//! at Roster learns why (README, "What Roster is not").

use super::error::ApiError;

/// Stream's APIs by a path's first segment (after `/api/v2` and a product prefix).
const AREAS: &[(&[&str], &str)] = &[
    (
        &[
            "channels",
            "channel",
            "channeltypes",
            "messages",
            "message",
            "threads",
            "drafts",
            "polls",
            "search",
            "members",
            "query_members",
            "og",
            "commands",
            "blocklists",
            "reminders",
            "uploads",
            "unread",
            "unread_batch",
            "export_channels",
            "imports",
            "segments",
            "campaigns",
            "query_drafts",
            "query_reminders",
            "locations",
        ],
        "channels and messages",
    ),
    (
        &[
            "moderation",
            "ban",
            "query_banned_users",
            "flag",
            "unflag",
            "mute",
            "unmute",
            "block",
            "unblock",
            "blocked_users",
            "query_message_flags",
            "review_queue",
        ],
        "moderation",
    ),
    (
        &["devices", "push_preferences", "push_providers", "push_templates", "check_push", "check_sqs", "check_sns"],
        "push and webhook checks",
    ),
    (&["roles", "permissions"], "roles and permissions"),
    (&["video", "call", "calls", "call_types", "edges", "call_stats"], "video"),
    (&["feeds", "feed", "activities", "feed_groups"], "activity feeds"),
];

/// The products whose `/api/v2/<product>/…` paths are wholly outside Roster (`chat` is named
/// by its own segments: `/api/v2/chat/users/{id}/event` is served).
const PRODUCTS: &[(&str, &str)] = &[("video", "video"), ("moderation", "moderation"), ("feeds", "activity feeds")];

/// The Stream API a path belongs to, when it is one Roster does not serve.
fn area(path: &str) -> Option<&'static str> {
    let mut segs = path.trim_matches('/').split('/').filter(|s| !s.is_empty()).peekable();
    if segs.peek() == Some(&"api") {
        segs.next();
        if segs.peek() == Some(&"v2") {
            segs.next();
        }
    }
    let first = segs.next()?;
    if let Some((_, name)) = PRODUCTS.iter().find(|(p, _)| *p == first) {
        return Some(name);
    }
    let first = if first == "chat" { segs.next()? } else { first };
    AREAS.iter().find(|(segments, _)| segments.contains(&first)).map(|(_, name)| *name)
}

/// 404 code 16 for a path that is no route: `Not Found`, plus, for one of Stream's APIs that
/// Roster does not serve, which one.
pub fn route_not_found(path: &str) -> ApiError {
    match area(path) {
        Some(name) => ApiError::not_found(format!(
            "Not Found: Roster serves Stream's user API only; this path is Stream's {name} API, which stays with Stream"
        )),
        None => ApiError::route_not_found(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn names_the_stream_api_a_path_belongs_to() {
        for (path, name) in [
            ("/channels", "channels and messages"),
            ("/channels/messaging/general/query", "channels and messages"),
            ("/api/v2/chat/channels/messaging/x/query", "channels and messages"),
            ("/moderation/ban", "moderation"),
            ("/api/v2/moderation/mute", "moderation"),
            ("/api/v2/video/call/default/x", "video"),
            ("/roles", "roles and permissions"),
            ("/devices", "push and webhook checks"),
            ("/check_sqs", "push and webhook checks"),
        ] {
            let e = route_not_found(path);
            assert_eq!((e.code, e.status), (16, 404));
            assert!(e.reason.starts_with("Not Found: Roster serves Stream's user API only"), "{path}");
            assert!(e.reason.contains(name), "{path}: {}", e.reason);
        }
        for path in ["/", "/nope", "/users/x/y/z", "/api/v2/nope", "/api/v2/chat/users/x", ""] {
            assert_eq!(route_not_found(path).reason, "Not Found", "{path}");
        }
    }
}
