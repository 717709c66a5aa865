//! Connection hubs (README, "Capacity"): an app's WebSockets live on `H` hub objects, each user's
//! connections on the hub its id hashes to, and the Writer holds none. Pure: the layout, the
//! presence lease and the de-duplication of delivered events, decided here; the Worker and the
//! objects only carry them out.

use crate::core::wire::fnv::Fnv;

/// Hubs per app when `ROSTER_HUBS` is not set (wrangler.toml sets it): 64 hubs at a planned
/// 16,384 sockets each (half of Cloudflare's 32,768 per object) hold 1,048,576 sockets.
pub const DEFAULT_HUBS: u32 = 64;

/// Most hubs an app may be spread over (a larger `ROSTER_HUBS` is read as this).
pub const MAX_HUBS: u32 = 1024;

/// How long a hub's report keeps its connections counted online: a hub that stops reporting
/// (crashed, evicted with its sockets, cut off) has its users taken offline once it lapses.
pub const LEASE_MS: i64 = 90_000;

/// The hub count from the `ROSTER_HUBS` setting: a whole number from 1 to [`MAX_HUBS`], or the
/// default when it is missing or not a number.
pub fn count(setting: Option<&str>) -> u32 {
    setting.and_then(|s| s.trim().parse::<u32>().ok()).filter(|n| *n >= 1).map_or(DEFAULT_HUBS, |n| n.min(MAX_HUBS))
}

/// The hub that holds a user's connections, out of `hubs`: the same for every connection of the
/// user while the count stays.
pub fn index(user_id: &str, hubs: u32) -> u32 {
    let mut h = Fnv::default();
    h.bytes(user_id.as_bytes());
    (h.finish() % u64::from(hubs.max(1))) as u32
}

/// The name of hub `i` (its Durable Object name, and how the Writer records where a connection
/// lives). A name outlives a change of `ROSTER_HUBS`: connections made under the old count stay
/// on the hub that holds them, and the Writer reaches them there by this name.
pub fn name(i: u32) -> String {
    format!("hub-{i}")
}

/// How often a hub renews its lease: three times per lease, so two lost reports do not lapse it.
pub fn renew_every(lease_ms: i64) -> i64 {
    (lease_ms / 3).max(1)
}

/// What a hub does with a delivered event: events come in commit order with increasing
/// sequence numbers; one at or below the last delivered was delivered before (a retry after a
/// lost acknowledgement) and is skipped.
pub fn is_new(seq: i64, delivered: i64) -> bool {
    seq > delivered
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn a_user_always_lands_on_the_same_hub_and_users_spread_over_all() {
        assert_eq!(index("alice", 8), index("alice", 8));
        let mut seen = [0u32; 8];
        for i in 0..1000 {
            seen[index(&format!("user-{i}"), 8) as usize] += 1;
        }
        assert!(seen.iter().all(|n| *n > 60), "1,000 users over 8 hubs: {seen:?}");
        assert_eq!(index("anyone", 1), 0);
        assert_eq!(index("anyone", 0), 0, "a zero count is read as one hub");
    }

    #[test]
    fn the_count_setting_is_read_defensively() {
        assert_eq!(count(None), DEFAULT_HUBS);
        assert_eq!(count(Some("8")), 8);
        assert_eq!(count(Some(" 16 ")), 16);
        assert_eq!(count(Some("0")), DEFAULT_HUBS);
        assert_eq!(count(Some("many")), DEFAULT_HUBS);
        assert_eq!(count(Some("100000")), MAX_HUBS);
    }

    #[test]
    fn duplicates_are_told_by_sequence() {
        assert!(is_new(5, 4));
        assert!(!is_new(4, 4));
        assert!(!is_new(3, 4));
        assert_eq!(renew_every(LEASE_MS), 30_000);
        assert_eq!(name(3), "hub-3");
    }
}
