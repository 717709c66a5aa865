//! Stream's rate limits: requests counted per app, per platform, per endpoint, per minute
//! (a fixed window that resets on the minute, as Stream's `x-ratelimit-reset` says). The shell
//! keeps a [`Counter`] and reports each request's [`Usage`] in the `x-ratelimit-*` headers;
//! `GET /rate_limits` shows every endpoint's ([`view`]).
//!
//! Limits: the app setting `roster_rate_limits` (`{"default": n, "<Endpoint>": n}`, requests
//! per minute, the same for each platform) sets them, and while it is set a request over its
//! endpoint's limit is refused with 429 code 9 before any work is done. Without it nothing is
//! refused and the headers count against [`DEFAULT_LIMIT`].

use crate::core::wire::error::{ApiError, Operation, Result};
use crate::core::wire::json::object;
use crate::core::wire::time::Timestamp;
use serde_json::{Map, Value};

/// The per-minute budget reported for an endpoint when the app configured none (and not
/// enforced then).
pub const DEFAULT_LIMIT: u32 = 10_000;

/// The app setting that configures (and turns on) limits.
pub const SETTING: &str = "roster_rate_limits";

/// The endpoints counted, by Stream's operation names (the keys of `GET /rate_limits`).
pub const ENDPOINTS: &[Operation] = &[
    Operation::UpdateUsers,
    Operation::UpdateUsersPartial,
    Operation::QueryUsers,
    Operation::GetApp,
    Operation::UpdateApp,
    Operation::Connect,
    Operation::DeactivateUser,
    Operation::ReactivateUser,
    Operation::DeleteUser,
    Operation::RestoreUsers,
    Operation::DeleteUsers,
    Operation::DeactivateUsers,
    Operation::ReactivateUsers,
    Operation::GetTask,
    Operation::ExportUser,
    Operation::ExportUsers,
    Operation::CreateGuest,
    Operation::SendUserCustomEvent,
    Operation::GetRateLimits,
];

/// Where a request comes from: server-side, or the client SDK's platform.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Platform {
    ServerSide,
    Android,
    Ios,
    Web,
}

impl Platform {
    pub const ALL: [Platform; 4] = [Platform::ServerSide, Platform::Android, Platform::Ios, Platform::Web];

    pub fn name(self) -> &'static str {
        match self {
            Platform::ServerSide => "server_side",
            Platform::Android => "android",
            Platform::Ios => "ios",
            Platform::Web => "web",
        }
    }

    /// A server token's request is server-side; a user token's is the platform its
    /// `X-Stream-Client` names (`stream-chat-android-…`, `stream-chat-swift-…`), else web.
    pub fn of(server: bool, client: Option<&str>) -> Platform {
        let client = client.unwrap_or_default().to_ascii_lowercase();
        match () {
            _ if server => Platform::ServerSide,
            _ if client.contains("android") => Platform::Android,
            _ if client.contains("swift") || client.contains("ios") => Platform::Ios,
            _ => Platform::Web,
        }
    }
}

/// One endpoint's budget this minute, as the headers and `GET /rate_limits` show it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Usage {
    pub limit: u32,
    pub remaining: u32,
    /// When the window resets, in seconds since the epoch.
    pub reset: i64,
}

impl Usage {
    pub fn to_value(self) -> Value {
        object([
            ("limit", Value::from(self.limit)),
            ("remaining", Value::from(self.remaining)),
            ("reset", Value::from(self.reset)),
        ])
    }
}

/// The configured limit of an endpoint (by name): `None` when the app configured none.
pub fn configured(settings: &Map<String, Value>, endpoint: &str) -> Option<u32> {
    let limits = settings.get(SETTING)?.as_object()?;
    let per = |k: &str| limits.get(k).and_then(Value::as_u64).map(|n| u32::try_from(n).unwrap_or(u32::MAX));
    per(endpoint).or_else(|| per("default"))
}

/// Whether `name` reads as one of Stream's operation names (`SendMessage`, `QueryChannels`):
/// ASCII letters and digits, starting with a capital, at most 64 characters.
fn is_endpoint_name(name: &str) -> bool {
    name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_uppercase())
        && name.chars().all(|c| c.is_ascii_alphanumeric())
}

/// Checks a `roster_rate_limits` value: `null` (no limits), or an object of whole numbers keyed
/// by `default` or an endpoint name.
pub fn check_setting(value: &Value) -> Result<()> {
    let bad = |why: String| Err(ApiError::field(SETTING, format!("{SETTING} {why}")));
    let limits = match value {
        Value::Null => return Ok(()),
        Value::Object(m) => m,
        _ => return bad("must be an object of requests per minute by endpoint".into()),
    };
    for (k, v) in limits {
        if k != "default" && !ENDPOINTS.iter().any(|e| e.name() == k) {
            return bad(format!("names an unknown endpoint '{k}'"));
        }
        if v.as_u64().is_none_or(|n| n > u64::from(u32::MAX)) {
            return bad(format!("{k} must be a whole number of requests per minute"));
        }
    }
    Ok(())
}

/// Requests this minute, per platform and endpoint.
#[derive(Debug, Default)]
pub struct Counter {
    minute: i64,
    /// A list, not a map: a few platforms and endpoints, and a map type would link a B-tree.
    counts: Vec<(Platform, &'static str, u32)>,
}

impl Counter {
    fn roll(&mut self, now: Timestamp) {
        let minute = now.secs().div_euclid(60);
        if minute != self.minute {
            self.minute = minute;
            self.counts.clear();
        }
    }

    fn usage_of(&self, platform: Platform, endpoint: &str, settings: &Map<String, Value>) -> Usage {
        let limit = configured(settings, endpoint).unwrap_or(DEFAULT_LIMIT);
        let used = self.counts.iter().find(|(p, e, _)| *p == platform && *e == endpoint).map_or(0, |c| c.2);
        Usage { limit, remaining: limit.saturating_sub(used), reset: (self.minute + 1) * 60 }
    }

    /// Counts one request. Over a configured limit it is refused (429 code 9) and not
    /// counted; the usage is what the response's headers report either way.
    pub fn hit(
        &mut self,
        platform: Platform,
        endpoint: Operation,
        settings: &Map<String, Value>,
        now: Timestamp,
    ) -> (Usage, Result<()>) {
        self.roll(now);
        let before = self.usage_of(platform, endpoint.name(), settings);
        if configured(settings, endpoint.name()).is_some() && before.remaining == 0 {
            let e = ApiError::new(
                crate::core::wire::error::code::RATE_LIMIT,
                429,
                format!("Too many requests, check response headers for more information ({} per minute)", before.limit),
            );
            return (before, Err(e));
        }
        match self.counts.iter_mut().find(|(p, e, _)| *p == platform && *e == endpoint.name()) {
            Some((_, _, n)) => *n += 1,
            None => self.counts.push((platform, endpoint.name(), 1)),
        }
        (self.usage_of(platform, endpoint.name(), settings), Ok(()))
    }

    /// `GET /rate_limits`: `{<platform>: {<Endpoint>: {limit, remaining, reset}}}` for the
    /// platforms asked (all when none is) and the endpoints named (Roster's when `None`). A
    /// named endpoint of Stream's that Roster does not serve (`SendMessage`) is listed with its
    /// whole budget, as Stream lists every endpoint asked for; names that are no operation
    /// name are left out.
    pub fn view(
        &mut self,
        platforms: &[Platform],
        endpoints: Option<&[String]>,
        settings: &Map<String, Value>,
        now: Timestamp,
    ) -> Value {
        self.roll(now);
        let platforms = if platforms.is_empty() { &Platform::ALL[..] } else { platforms };
        let mut out = Map::new();
        for &p in platforms {
            let mut per = Map::new();
            match endpoints {
                None => {
                    for e in ENDPOINTS {
                        per.insert(e.name().into(), self.usage_of(p, e.name(), settings).to_value());
                    }
                }
                Some(names) => {
                    for name in names.iter().filter(|n| is_endpoint_name(n)) {
                        per.insert(name.clone(), self.usage_of(p, name, settings).to_value());
                    }
                }
            }
            out.insert(p.name().into(), Value::Object(per));
        }
        Value::Object(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn settings(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }
    const T: i64 = 1_700_000_000; // 20 s into a minute

    #[test]
    fn counts_per_platform_endpoint_and_minute() {
        let mut c = Counter::default();
        let none = Map::new();
        let at = Timestamp::from_secs(T);
        let (u1, ok) = c.hit(Platform::ServerSide, Operation::GetApp, &none, at);
        assert!(ok.is_ok());
        assert_eq!(u1, Usage { limit: DEFAULT_LIMIT, remaining: DEFAULT_LIMIT - 1, reset: (T / 60 + 1) * 60 });
        let (u2, _) = c.hit(Platform::ServerSide, Operation::GetApp, &none, at);
        assert_eq!(u2.remaining, DEFAULT_LIMIT - 2);
        assert_eq!(c.hit(Platform::Web, Operation::GetApp, &none, at).0.remaining, DEFAULT_LIMIT - 1);
        assert_eq!(c.hit(Platform::ServerSide, Operation::QueryUsers, &none, at).0.remaining, DEFAULT_LIMIT - 1);
        // The next minute starts afresh.
        let next = Timestamp::from_secs((T / 60 + 1) * 60);
        assert_eq!(c.hit(Platform::ServerSide, Operation::GetApp, &none, next).0.remaining, DEFAULT_LIMIT - 1);
    }

    #[test]
    fn a_configured_limit_refuses_with_429_code_9() {
        let s = settings(json!({"roster_rate_limits": {"default": 100, "UpdateUsers": 2}}));
        let mut c = Counter::default();
        let at = Timestamp::from_secs(T);
        for left in [1, 0] {
            let (u, ok) = c.hit(Platform::ServerSide, Operation::UpdateUsers, &s, at);
            assert!(ok.is_ok());
            assert_eq!((u.limit, u.remaining), (2, left));
        }
        let (u, refused) = c.hit(Platform::ServerSide, Operation::UpdateUsers, &s, at);
        let e = refused.unwrap_err();
        assert_eq!((e.code, e.status, u.remaining), (9, 429, 0));
        // Other platforms and endpoints have their own budgets.
        assert!(c.hit(Platform::Web, Operation::UpdateUsers, &s, at).1.is_ok());
        assert_eq!(c.hit(Platform::ServerSide, Operation::GetApp, &s, at).0.limit, 100);
        // Without the setting nothing is refused.
        let none = Map::new();
        let mut c = Counter::default();
        for _ in 0..3 {
            assert!(c.hit(Platform::ServerSide, Operation::UpdateUsers, &none, at).1.is_ok());
        }
    }

    #[test]
    fn view_and_setting() {
        let mut c = Counter::default();
        let none = Map::new();
        let at = Timestamp::from_secs(T);
        assert!(c.hit(Platform::Web, Operation::QueryUsers, &none, at).1.is_ok());
        let all = c.view(&[], None, &none, at);
        assert_eq!(all.as_object().unwrap().len(), 4);
        assert_eq!(all["web"]["QueryUsers"]["remaining"], DEFAULT_LIMIT - 1);
        assert_eq!(all["server_side"]["QueryUsers"]["remaining"], DEFAULT_LIMIT);
        let some = c.view(&[Platform::Web], Some(&["QueryUsers".to_string()]), &none, at);
        assert_eq!(
            some,
            json!({"web": {"QueryUsers": {"limit": DEFAULT_LIMIT, "remaining": DEFAULT_LIMIT - 1, "reset": (T / 60 + 1) * 60}}})
        );
        // Stream's endpoints Roster does not serve are listed, when named, with their whole
        // budget; what is no operation name is left out.
        let named = ["QueryUsers", "SendMessage", "", "bad name", "lower"].map(String::from);
        let s = settings(json!({"roster_rate_limits": {"default": 7}}));
        let mixed = c.view(&[Platform::Web], Some(&named), &s, at);
        assert_eq!(mixed["web"].as_object().unwrap().len(), 2, "{mixed}");
        assert_eq!(mixed["web"]["QueryUsers"]["remaining"], 6);
        assert_eq!(
            (mixed["web"]["SendMessage"]["limit"].clone(), mixed["web"]["SendMessage"]["remaining"].clone()),
            (json!(7), json!(7))
        );
        assert!(check_setting(&json!({"default": 5, "QueryUsers": 0})).is_ok());
        assert!(check_setting(&Value::Null).is_ok());
        for bad in [json!(5), json!({"Nope": 1}), json!({"default": -1}), json!({"default": "5"})] {
            assert_eq!(check_setting(&bad).unwrap_err().code, 4, "{bad}");
        }
        assert_eq!(Platform::of(false, Some("stream-chat-android-6.0")), Platform::Android);
        assert_eq!(Platform::of(false, Some("stream-chat-swift-client-v4")), Platform::Ios);
        assert_eq!(Platform::of(false, Some("stream-chat-js-v9.53.0-node")), Platform::Web);
        assert_eq!(Platform::of(true, Some("stream-chat-android")), Platform::ServerSide);
    }
}
