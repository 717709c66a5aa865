//! `GET /users/changes`: Roster's change feed (not part of Stream's API). Every committed write
//! gives each user it changes the commit's sequence number; the feed lists users by that
//! number, so it is compacted: a user appears once, at its latest change, in its stored state
//! (a hard-deleted user as `{id, deleted: true}`). Following it from the start reaches exactly
//! the Writer's users, and nothing ages out: a user's latest change is kept as long as the user
//! (a hard-deleted id is never reused, so its tombstone stays too). A user's version is the
//! sequence number of its latest change.
//!
//! Cursors are opaque to callers: the position read up to — a sequence number and, since one
//! commit may change many users, the id of the last user read at it — with a check so that a
//! mistyped or made-up cursor is refused (400) rather than silently restarting the walk.

use crate::core::model::form::UserForm;
use crate::core::model::user::{self, User};
use crate::core::wire::error::{ApiError, Result};
use crate::core::wire::fnv::Fnv;
use crate::core::wire::json::object;
use serde_json::Value;

/// Changes per page when `limit` is not given, and at most.
pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 1000;

/// A place in the feed: after the change of user `id` at sequence number `seq` (changes are
/// ordered by `(seq, id)`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Position {
    pub seq: i64,
    pub id: String,
}

/// Where a walk starts: before every change (users that existed before the feed did are at 0).
pub fn start() -> Position {
    Position { seq: -1, id: String::new() }
}

/// A page request: changes after `since`, at most `limit`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub since: Position,
    pub limit: usize,
}

/// The request's `since` (a cursor, or absent: from the start) and `limit`, checked against
/// the app's current sequence number (a cursor from beyond it was not issued by this app).
pub fn request(since: Option<&str>, limit: Option<&str>, current: i64) -> Result<Request> {
    let since = match since.filter(|s| !s.is_empty()) {
        None => start(),
        Some(c) => decode(c).filter(|p| p.seq <= current).ok_or_else(|| {
            ApiError::field("since", "since must be a cursor returned by this app's change feed (next)")
        })?,
    };
    let limit = match limit.filter(|l| !l.is_empty()) {
        None => DEFAULT_LIMIT,
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| ApiError::field("limit", format!("limit must be between 1 and {MAX_LIMIT}")))?,
    };
    Ok(Request { since, limit })
}

/// The cursor that continues after `at` (`seq.id.check`: user ids hold no `.`).
pub fn encode(at: &Position) -> String {
    format!("{}.{}.{:08x}", at.seq, at.id, check(at))
}

/// The position a cursor stands for, if it is one.
pub fn decode(cursor: &str) -> Option<Position> {
    let mut parts = cursor.split('.');
    let (seq, id, sum) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || sum.len() != 8 {
        return None;
    }
    let at = Position { seq: seq.parse().ok().filter(|s| *s >= -1)?, id: id.to_string() };
    (u32::from_str_radix(sum, 16).ok()? == check(&at)).then_some(at)
}

/// The high half of the core's FNV-1a over a fixed tag and the position: enough to tell a
/// cursor from a typo.
fn check(at: &Position) -> u32 {
    let mut h = Fnv::default();
    h.text("roster-feed");
    h.bytes(&at.seq.to_le_bytes());
    h.text(&at.id);
    u32::try_from(h.finish() >> 32).unwrap_or_default()
}

/// One entry of a page: `{seq, version, user}`.
pub fn change(seq: i64, u: &User) -> Value {
    let shown = if u.is_hard_deleted() {
        object([("id", u.get("id").cloned().unwrap_or(Value::Null)), ("deleted", Value::Bool(true))])
    } else {
        Value::Object(user::public_view(u))
    };
    object([("seq", Value::from(seq)), ("version", Value::from(seq)), ("user", shown)])
}

/// A page: its changes and the cursor to continue from (the request's own when it is empty,
/// so a follower polls with `next` whatever it got).
pub fn page(req: &Request, rows: &[(i64, User)]) -> Value {
    let last = rows.last().map_or_else(
        || req.since.clone(),
        |(seq, u)| Position { seq: *seq, id: u.get("id").and_then(Value::as_str).unwrap_or_default().to_string() },
    );
    let changes = rows.iter().map(|(seq, u)| change(*seq, u)).collect();
    object([("changes", Value::Array(changes)), ("next", Value::from(encode(&last)))])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn at(seq: i64, id: &str) -> Position {
        Position { seq, id: id.to_string() }
    }

    #[test]
    fn cursors_round_trip_and_refuse_what_they_did_not_issue() {
        for p in [start(), at(0, "a"), at(42, "user-1@x_y"), at(i64::MAX, "z")] {
            assert_eq!(decode(&encode(&p)), Some(p.clone()), "{p:?}");
        }
        let good = encode(&at(7, "bob"));
        let sum = good.rsplit('.').next().unwrap();
        for bad in ["", "7", "7.bob", "7.bob.", "abc.bob.def", "7.bob.00000000", "7.bob.x.00000000"] {
            assert_eq!(decode(bad), None, "{bad}");
        }
        for bad in [format!("8.bob.{sum}"), format!("7.bib.{sum}"), format!("-2.bob.{sum}")] {
            assert_eq!(decode(&bad), None, "{bad}");
        }
        assert_eq!(request(Some(&good), None, 7).unwrap(), Request { since: at(7, "bob"), limit: DEFAULT_LIMIT });
        assert_eq!(request(None, Some("5"), 0).unwrap(), Request { since: start(), limit: 5 });
        assert_eq!(request(Some(""), None, 0).unwrap().since, start());
        let refused = |since: Option<&str>, limit: Option<&str>| request(since, limit, 7).unwrap_err();
        assert_eq!(refused(Some(&encode(&at(8, "bob"))), None).code, 4, "a cursor from beyond the app's sequence");
        assert_eq!(refused(Some("x"), None).status, 400);
        for limit in ["0", "1001", "-1", "2.5", "ten"] {
            assert_eq!(refused(None, Some(limit)).code, 4, "{limit}");
        }
    }

    #[test]
    fn a_page_shows_stored_users_and_tombstones_and_continues_after_its_last() {
        let alive = json!({"id": "a", "name": "A"}).as_object().unwrap().clone();
        let gone = json!({"id": "b", "deleted_at": "2026-01-01T00:00:00Z", user::HARD_DELETED: true})
            .as_object()
            .unwrap()
            .clone();
        let req = Request { since: at(3, "z"), limit: 10 };
        let p = page(&req, &[(4, alive), (9, gone)]);
        assert_eq!(
            p["changes"],
            json!([{"seq": 4, "version": 4, "user": {"id": "a", "name": "A"}},
                   {"seq": 9, "version": 9, "user": {"id": "b", "deleted": true}}])
        );
        assert_eq!(decode(p["next"].as_str().unwrap()), Some(at(9, "b")));
        assert_eq!(
            decode(page(&req, &[])["next"].as_str().unwrap()),
            Some(at(3, "z")),
            "an empty page keeps the cursor"
        );
    }
}
