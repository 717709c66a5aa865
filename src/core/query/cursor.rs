//! Keyset cursors for `queryUsers`: Roster's own addition (issue 27, "walk every user"); Stream's
//! user query pages by `offset` only, and stops at 1,000.
//!
//! A query whose sort is *indexed* — every sort field is an [`index::Column`]: `created_at`,
//! `updated_at`, `last_active`, `id`; the default sort is — answers with `next` when more users
//! follow its page and `prev` on every page but the first (no cursor and no offset) and the
//! one a walk back ends on, and takes either back in its payload instead of `offset`. A cursor
//! holds a page boundary's position in the query's order: the boundary user's value of each
//! order column (the sort's columns, then `id`, as [`index::plan`] orders storage). The page it
//! asks for starts strictly past that position, whatever was written in between, so a walk
//! sees once every user whose sort values stay put (the default sort's `created_at` and `id`
//! never change), and never sees one twice. Absent values (`last_active`) come last in either
//! direction, here as in storage's `ORDER BY`.
//!
//! Wire form: `1n.<binding>.<value>.<value>…` (`1p` for `prev`; `1` is the format's version),
//! where the binding is a 64-bit FNV-1a hash (16 hex digits) of the query the cursor belongs to
//! — its filter as the caller may run it (after the tenancy restriction), its sort and
//! `include_deactivated_users`, not its `limit` — and the values are the position, each in
//! base64url without padding (canonical timestamps, `~` for an absent one, then the id): no
//! JSON to build or parse, and nothing a caller should read. A cursor sent with another
//! filter or sort, next to an `offset`, with an unindexed sort, or that is not one (malformed,
//! foreign, the other direction) is refused: 400, code 4. The binding catches mistakes; it is
//! no secret and needs none: the filter is applied on every page, so a made-up position can
//! only start a walk elsewhere among the users the caller may see.

use super::filter::{Cond, Condition, Filter};
use super::index::{self, Column};
use super::order;
use super::payload::{self, UserQuery};
use crate::core::model::user::User;
use crate::core::wire::error::ApiError;
use crate::core::wire::fnv::Fnv;
use crate::core::wire::json;
use crate::core::wire::time::Timestamp;
use serde_json::Value;
use std::cmp::Ordering;

const HEX: &[u8; 16] = b"0123456789abcdef";
/// Longer than any cursor Roster issues (four values, ids of at most 255 characters).
const MAX_CURSOR: usize = 2048;
/// How deep the binding hash follows a filter (parsed ones nest at most 32 deep).
const MAX_DEPTH: usize = 64;

/// One side of a page boundary: the users strictly past `key` in the query's order, or
/// strictly before it when `backward` (read in reverse order).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seek {
    /// The boundary user's value of each order column (see [`key_of`]).
    pub key: Vec<Option<String>>,
    pub backward: bool,
}

impl Seek {
    /// Whether a user with this key (see [`key_of`]) lies past the boundary in a walk over
    /// `order`.
    pub fn admits(&self, order: &[(Column, bool)], key: &[Option<String>]) -> bool {
        let o = compare(order, key, &self.key);
        if self.backward {
            o == Ordering::Less
        } else {
            o == Ordering::Greater
        }
    }
}

/// A page of a query that walks: its users, in the query's order, and its cursors (`None`:
/// no user lies on that side).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Page {
    pub users: Vec<User>,
    pub next: Option<String>,
    pub prev: Option<String>,
}

/// A query with an indexed sort: how its page is read and which cursors it answers with.
#[derive(Clone, Debug, PartialEq)]
pub struct Walk {
    order: Vec<(Column, bool)>,
    binding: u64,
    seek: Option<Seek>,
    limit: usize,
    offset: usize,
}

impl Walk {
    /// The walk of a query (call it with the query as the caller may run it: tenancy
    /// restrictions applied). `None`: the sort is not indexed and no cursor was sent, a plain
    /// Stream page without cursors. A cursor that cannot be taken is 400, code 4.
    pub fn of(q: &UserQuery) -> Result<Option<Walk>, ApiError> {
        let (sent, backward) = match (&q.next, &q.prev) {
            (Some(_), Some(_)) => return Err(ApiError::input("send either next or prev, not both")),
            (Some(c), None) => (Some(c.as_str()), false),
            (None, Some(c)) => (Some(c.as_str()), true),
            (None, None) => (None, false),
        };
        let name = if backward { "prev" } else { "next" };
        let refuse = |why: &str| ApiError::input([name, why].concat());
        let Some(order) = index::order_of(q) else {
            return match sent {
                None => Ok(None),
                Some(_) => {
                    Err(refuse(" needs a sort on indexed fields only (created_at, updated_at, last_active, id)"))
                }
            };
        };
        let binding = binding(q);
        let seek = match sent {
            None => None,
            Some(_) if q.offset > 0 => return Err(refuse(" cannot be combined with offset")),
            Some(c) => {
                let not_one = || refuse(if backward { " is not a prev cursor" } else { " is not a next cursor" });
                let (bound_to, seek) = decode(c).filter(|(_, s)| s.backward == backward).ok_or_else(not_one)?;
                if bound_to != binding {
                    return Err(refuse(
                        " belongs to another query: send the filter, sort and include_deactivated_users of its page",
                    ));
                }
                if !fits(&order, &seek.key) {
                    return Err(not_one());
                }
                Some(seek)
            }
        };
        let limit = payload::page_end(q) - q.offset;
        Ok(Some(Walk { order, binding, seek, limit, offset: q.offset }))
    }

    /// The order of the walk: `(column, descending)`, the sort's columns then `id`.
    pub fn order(&self) -> &[(Column, bool)] {
        &self.order
    }

    /// The boundary the page starts from (the cursor sent).
    pub fn seek(&self) -> Option<&Seek> {
        self.seek.as_ref()
    }

    /// Reads the page and its cursors. `read(seek, skip, take)` returns the users the query
    /// selects that lie past `seek` (all of them for `None`), in the query's order (reversed
    /// for a backward seek), skipping `skip` and at most `take`; the page reads `limit + 1`, so
    /// the far side's cursor is there when a user lies beyond the page. The near side's, where
    /// the walk came from, is there on every page but the first (no cursor, no offset): one read
    /// a page.
    pub fn page(
        &self,
        read: impl FnOnce(Option<&Seek>, usize, usize) -> Result<Vec<User>, ApiError>,
    ) -> Result<Page, ApiError> {
        let mut users = read(self.seek.as_ref(), self.offset, self.limit + 1)?;
        let more = users.len() > self.limit;
        users.truncate(self.limit);
        let backward = self.seek.as_ref().is_some_and(|s| s.backward);
        if backward {
            users.reverse();
        }
        // An empty page's boundary is the cursor's own position.
        let edge =
            |u: Option<&User>| u.map(|u| key_of(&self.order, u)).or_else(|| self.seek.as_ref().map(|s| s.key.clone()));
        let (first, last) = (edge(users.first()), edge(users.last()));
        let first_page = self.seek.is_none() && self.offset == 0;
        let (next, prev) = if backward { (true, more) } else { (more, !first_page) };
        let cursor = |key: Option<Vec<Option<String>>>, backward: bool| {
            key.map(|key| encode(self.binding, &Seek { key, backward }))
        };
        Ok(Page { users, next: cursor(last.filter(|_| next), false), prev: cursor(first.filter(|_| prev), true) })
    }

    /// [`Walk::page`] over users held in memory, in [`order::run`]'s order: the npm package's
    /// `UserStore` pages this way, and the tests walk it as the reference.
    pub fn page_in<'a, I>(&self, q: &UserQuery, users: I) -> Page
    where
        I: IntoIterator<Item = &'a User> + Clone,
    {
        let read = |seek: Option<&Seek>, skip: usize, take: usize| {
            // Sorted, then cut at the boundary: the one `order::sorted` the store's users need.
            let mut hits = order::sorted(q, users.clone());
            hits.retain(|u| seek.is_none_or(|s| s.admits(&self.order, &key_of(&self.order, u))));
            if seek.is_some_and(|s| s.backward) {
                hits.reverse();
            }
            Ok(hits.into_iter().skip(skip).take(take).cloned().collect())
        };
        self.page(read).unwrap_or_default()
    }
}

/// `body` (a `{users}` response) with a page's cursors; one that does not apply is left out.
pub fn with_cursors(mut body: Value, next: Option<String>, prev: Option<String>) -> Value {
    if let Value::Object(m) = &mut body {
        for (key, cursor) in [("next", next), ("prev", prev)] {
            if let Some(c) = cursor {
                m.insert(key.into(), Value::String(c));
            }
        }
    }
    body
}

/// A user's position in a walk over `order`: its id, or a time in canonical form (as the
/// index columns hold it; `None` when absent).
pub fn key_of(order: &[(Column, bool)], u: &User) -> Vec<Option<String>> {
    order
        .iter()
        .map(|(c, _)| {
            let v = u.get(c.name()).and_then(Value::as_str);
            match c {
                Column::Id => v.map(str::to_string),
                _ => v.and_then(Timestamp::parse).map(|t| t.to_string()),
            }
        })
        .collect()
}

/// Two positions in the order of a walk: each column ascending or descending, absent values
/// last whatever the direction.
pub fn compare(order: &[(Column, bool)], a: &[Option<String>], b: &[Option<String>]) -> Ordering {
    for ((_, desc), (x, y)) in order.iter().zip(a.iter().zip(b)) {
        let o = order::sort_cmp(x.as_deref(), y.as_deref(), *desc, |x, y| x.cmp(y));
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

fn encode(binding: u64, s: &Seek) -> String {
    let mut out = String::from(if s.backward { "1p." } else { "1n." });
    out.extend((0..16).rev().filter_map(|i| char::from_digit((binding >> (4 * i)) as u32 & 15, 16)));
    for v in &s.key {
        out.push('.');
        match v {
            Some(v) => crate::core::access::auth::encode_into(v.as_bytes(), &mut out),
            None => out.push('~'),
        }
    }
    out
}

/// A cursor's binding and position, if it is one Roster issued (in shape: [`fits`] checks the
/// position against the query's order).
fn decode(cursor: &str) -> Option<(u64, Seek)> {
    if cursor.len() > MAX_CURSOR {
        return None;
    }
    let mut parts = cursor.split('.');
    let backward = match parts.next()? {
        "1n" => false,
        "1p" => true,
        _ => return None,
    };
    let hex = parts.next().filter(|h| h.len() == 16)?;
    let binding = hex.bytes().try_fold(0u64, |n, c| Some(n << 4 | HEX.iter().position(|h| *h == c)? as u64))?;
    let mut key = Vec::new();
    for p in parts {
        key.push(match p {
            "~" => None,
            p => Some(String::from_utf8(crate::core::access::auth::decode(p)?).ok()?),
        });
    }
    Some((binding, Seek { key, backward }))
}

/// Whether a position has the shape of `order`'s: a non-empty id, canonical times or none.
fn fits(order: &[(Column, bool)], key: &[Option<String>]) -> bool {
    order.len() == key.len()
        && order.iter().zip(key).all(|((c, _), v)| match (c, v) {
            (Column::Id, Some(id)) => !id.is_empty(),
            (Column::Id, None) => false,
            (_, None) => true,
            (_, Some(t)) => Timestamp::parse(t).is_some_and(|p| p.to_string() == *t),
        })
}

/// The hash a query's cursors carry: its filter, its sort (the default one when none is
/// given) and `include_deactivated_users`.
fn binding(q: &UserQuery) -> u64 {
    let mut h = Fnv::default();
    h.text("roster-query-cursor");
    h.bytes(&[u8::from(q.include_deactivated_users)]);
    let sort = payload::sort_of(q);
    h.count(sort.len());
    for (field, dir) in sort {
        h.text(field);
        h.bytes(&[u8::from(dir < 0)]);
    }
    h.filter(&q.filter, 0);
    h.finish()
}

/// The query's parts, fed to the hash in order.
impl Fnv {
    fn value(&mut self, v: &Value) {
        self.text(&json::text(v));
    }
    fn filter(&mut self, f: &Filter, depth: usize) {
        self.count(f.conditions.len());
        if depth > MAX_DEPTH {
            return;
        }
        for c in &f.conditions {
            let (tag, nested) = match c {
                Condition::And(items) => ("$and", items),
                Condition::Or(items) => ("$or", items),
                Condition::Nor(items) => ("$nor", items),
                Condition::Field { field, cond } => {
                    self.text(field);
                    self.cond(cond);
                    continue;
                }
            };
            self.text(tag);
            self.count(nested.len());
            for item in nested {
                self.filter(item, depth + 1);
            }
        }
    }
    fn cond(&mut self, c: &Cond) {
        let (op, operand) = match c {
            Cond::Eq(v) => ("$eq", v),
            Cond::Ne(v) => ("$ne", v),
            Cond::Gt(v) => ("$gt", v),
            Cond::Gte(v) => ("$gte", v),
            Cond::Lt(v) => ("$lt", v),
            Cond::Lte(v) => ("$lte", v),
            Cond::Contains(v) => ("$contains", v),
            Cond::In(vs) | Cond::Nin(vs) => {
                self.text(if matches!(c, Cond::In(_)) { "$in" } else { "$nin" });
                self.count(vs.len());
                vs.iter().for_each(|v| self.value(v));
                return;
            }
            Cond::Exists(b) => {
                self.text("$exists");
                self.bytes(&[u8::from(*b)]);
                return;
            }
            Cond::Autocomplete { text, .. } => {
                self.text("$autocomplete");
                self.text(text);
                return;
            }
        };
        self.text(op);
        self.value(operand);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::access::auth::Caller;
    use crate::core::model::settings::AppSettings;
    use crate::core::query::tenancy;
    use proptest::prelude::*;
    use serde_json::json;
    use std::collections::{BTreeMap, BTreeSet};

    fn ts(secs: i64) -> String {
        Timestamp::from_secs(1_700_000_000 + secs).to_string()
    }

    fn obj(v: Value) -> User {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    fn parse(payload: Value) -> UserQuery {
        payload::parse_value(&payload).unwrap()
    }

    fn with(q: &UserQuery, next: Option<&str>, prev: Option<&str>) -> UserQuery {
        UserQuery { next: next.map(str::to_string), prev: prev.map(str::to_string), ..q.clone() }
    }

    fn ids(users: &[User]) -> Vec<String> {
        users.iter().map(|u| u["id"].as_str().unwrap().to_string()).collect()
    }

    /// The page of `q` from the store in memory.
    fn page(q: &UserQuery, users: &BTreeMap<String, User>) -> Result<Page, ApiError> {
        Ok(Walk::of(q)?.expect("an indexed sort").page_in(q, users.values()))
    }

    /// Everything `q` selects, in its order (a full scan).
    fn everything(q: &UserQuery, users: &BTreeMap<String, User>) -> Vec<String> {
        let all = UserQuery { offset: 0, limit: usize::MAX, ..q.clone() };
        order::run(&all, users.values()).into_iter().map(|u| u["id"].as_str().unwrap().to_string()).collect()
    }

    /// Walks `q` forward from its first page, then back from its last page: both pages' users,
    /// in the query's order.
    fn walk(q: &UserQuery, users: &BTreeMap<String, User>) -> (Vec<String>, Vec<String>) {
        let mut p = page(q, users).unwrap();
        assert_eq!(p.prev, None, "the first page has no prev");
        let mut forward = ids(&p.users);
        let mut pages = 1;
        while let Some(next) = p.next.clone() {
            p = page(&with(q, Some(&next), None), users).unwrap();
            assert!(!p.users.is_empty(), "a next cursor leads to users");
            assert!(p.prev.is_some(), "a page reached by next has a prev");
            forward.extend(ids(&p.users));
            pages += 1;
            assert!(pages <= users.len() + 2, "the walk ends");
        }
        let mut backward = ids(&p.users);
        while let Some(prev) = p.prev.clone() {
            p = page(&with(q, None, Some(&prev)), users).unwrap();
            assert!(!p.users.is_empty(), "a prev cursor leads to users");
            assert!(p.next.is_some(), "a page reached by prev has a next");
            let mut earlier = ids(&p.users);
            earlier.extend(backward);
            backward = earlier;
        }
        (forward, backward)
    }

    fn arb_user(i: usize) -> impl Strategy<Value = User> {
        (0i64..4, 0i64..3, prop::option::of(0i64..3), any::<bool>(), 0u8..6).prop_map(move |(c, u, la, red, state)| {
            let mut m = json!({"id": format!("u{i:02}"), "created_at": ts(c), "updated_at": ts(c + u),
                "teams": if red { json!(["red"]) } else { json!(["blue"]) }});
            let o = m.as_object_mut().unwrap();
            if let Some(la) = la {
                o.insert("last_active".into(), json!(ts(la)));
            }
            match state {
                0 => o.insert("deactivated_at".into(), json!(ts(5))),
                1 => o.insert("deleted_at".into(), json!(ts(5))),
                _ => None,
            };
            o.clone()
        })
    }

    fn arb_users() -> impl Strategy<Value = BTreeMap<String, User>> {
        (0usize..30).prop_flat_map(|n| {
            (0..n)
                .map(arb_user)
                .collect::<Vec<_>>()
                .prop_map(|users| users.into_iter().map(|u| (u["id"].as_str().unwrap().to_string(), u)).collect())
        })
    }

    fn arb_query() -> impl Strategy<Value = UserQuery> {
        let sorts = prop_oneof![
            Just(json!([])),
            Just(json!([{"field": "created_at", "direction": 1}])),
            Just(json!([{"field": "last_active", "direction": -1}])),
            Just(json!([{"field": "last_active", "direction": 1}, {"field": "id", "direction": -1}])),
            Just(json!([{"field": "updated_at", "direction": -1}, {"field": "created_at"}])),
            Just(json!([{"field": "id", "direction": -1}])),
        ];
        let filters = prop_oneof![
            Just(json!({})),
            Just(json!({"teams": "red"})),
            Just(json!({"last_active": {"$exists": true}})),
            Just(json!({"$or": [{"teams": "blue"}, {"id": "u03"}]})),
        ];
        (filters, sorts, 1usize..7, any::<bool>()).prop_map(|(filter, sort, limit, deact)| {
            parse(
                json!({"filter_conditions": filter, "sort": sort, "limit": limit, "include_deactivated_users": deact}),
            )
        })
    }

    proptest! {
        #[test]
        fn cursors_round_trip(
            key in prop::collection::vec(prop::option::of(any::<String>()), 0..5),
            binding in any::<u64>(), backward in any::<bool>(),
        ) {
            let s = Seek { key, backward };
            prop_assert_eq!(decode(&encode(binding, &s)), Some((binding, s)));
        }

        #[test]
        fn decode_never_panics(s in any::<String>(), bytes in prop::collection::vec(any::<u8>(), 0..80)) {
            let _ = decode(&s);
            let mut b64 = String::new();
            crate::core::access::auth::encode_into(&bytes, &mut b64);
            let _ = decode(&b64);
        }

        #[test]
        fn a_changed_cursor_is_refused_or_still_a_position(
            users in arb_users(), q in arb_query(), at in any::<prop::sample::Index>(), flip in 0u8..8,
        ) {
            let Some(next) = page(&q, &users).unwrap().next else { return Ok(()) };
            let mut bytes = next.into_bytes();
            let i = at.index(bytes.len());
            bytes[i] = if bytes[i] == b'A' + flip { b'z' } else { b'A' + flip };
            let mangled = String::from_utf8(bytes).unwrap();
            // Either 400 code 4, or a cursor whose binding survived: a position of this query.
            match page(&with(&q, Some(&mangled), None), &users) {
                Err(e) => prop_assert_eq!((e.status, e.code), (400, 4)),
                Ok(p) => prop_assert!(p.users.len() <= q.limit),
            }
        }

        #[test]
        fn walks_visit_every_user_once_in_order_both_ways(users in arb_users(), q in arb_query()) {
            let all = everything(&q, &users);
            let (forward, backward) = walk(&q, &users);
            prop_assert_eq!(&forward, &all);
            prop_assert_eq!(&backward, &all);
            // The first page is Stream's own page (offset 0), and the cursors do not depend on limit.
            let first = page(&q, &users).unwrap();
            prop_assert_eq!(ids(&first.users), ids(&order::run(&q, users.values()).into_iter().cloned().collect::<Vec<_>>()));
            if let Some(next) = first.next {
                let wider = UserQuery { limit: q.limit + 3, ..with(&q, Some(&next), None) };
                let p = page(&wider, &users).unwrap();
                prop_assert_eq!(ids(&p.users), all[q.limit..].iter().take(q.limit + 3).cloned().collect::<Vec<_>>());
            }
        }

        /// A walk in the default order while users are inserted, renamed and deleted between
        /// its pages: no user twice, and every user that stayed as it was from the start.
        #[test]
        fn a_walk_during_writes_never_repeats_nor_skips_the_unchanged(
            users in arb_users(), limit in 1usize..6,
            writes in prop::collection::vec((0u8..4, 0usize..40, 0i64..6), 0..40),
        ) {
            let mut users = users;
            let q = parse(json!({"limit": limit}));
            let before: BTreeSet<String> = everything(&q, &users).into_iter().collect();
            let mut touched = BTreeSet::new();
            let mut seen = Vec::new();
            let mut writes = writes.into_iter();
            let mut p = page(&q, &users).unwrap();
            let mut fresh = 0;
            loop {
                seen.extend(ids(&p.users));
                // Up to three writes between two pages.
                for (kind, who, when) in writes.by_ref().take(3) {
                    let id = format!("u{:02}", who % 40);
                    match kind {
                        0 => {
                            // An insert: created now or in the past (ties with walked users).
                            fresh += 1;
                            let id = format!("new{fresh:02}");
                            users.insert(id.clone(), obj(json!({"id": id, "created_at": ts(when), "updated_at": ts(when)})));
                        }
                        1 if users.contains_key(&id) => {
                            touched.insert(id.clone());
                            let u = users.get_mut(&id).unwrap();
                            u.insert("name".into(), json!(format!("renamed {when}")));
                            u.insert("updated_at".into(), json!(ts(10 + when)));
                        }
                        2 if users.contains_key(&id) => {
                            touched.insert(id.clone());
                            users.get_mut(&id).unwrap().insert("deleted_at".into(), json!(ts(10)));
                        }
                        3 => {
                            touched.insert(id.clone());
                            users.remove(&id);
                        }
                        _ => {}
                    }
                }
                let Some(next) = p.next.clone() else { break };
                p = page(&with(&q, Some(&next), None), &users).unwrap();
            }
            let distinct: BTreeSet<&String> = seen.iter().collect();
            prop_assert_eq!(distinct.len(), seen.len(), "no user twice: {:?}", seen);
            for id in before.difference(&touched) {
                prop_assert!(seen.contains(id), "{} was skipped: {:?}", id, seen);
            }
        }
    }

    #[test]
    fn absent_values_come_last_in_both_directions() {
        let users: BTreeMap<String, User> = [
            json!({"id": "a", "created_at": ts(0), "last_active": ts(2)}),
            json!({"id": "b", "created_at": ts(0)}),
            json!({"id": "c", "created_at": ts(0), "last_active": ts(1)}),
            json!({"id": "d", "created_at": ts(0), "last_active": null}),
            json!({"id": "e", "created_at": ts(0), "last_active": ts(2)}),
        ]
        .into_iter()
        .map(|u| (u["id"].as_str().unwrap().to_string(), obj(u)))
        .collect();
        for (dir, order) in [(1, ["c", "a", "e", "b", "d"]), (-1, ["a", "e", "c", "b", "d"])] {
            let q = parse(json!({"sort": [{"field": "last_active", "direction": dir}], "limit": 2}));
            assert_eq!(everything(&q, &users), order, "a scan: absent last");
            let (forward, backward) = walk(&q, &users);
            assert_eq!(forward, order, "direction {dir}");
            assert_eq!(backward, order, "direction {dir}");
        }
        // A page that ends on an absent value continues after it, by id.
        let q = parse(json!({"sort": [{"field": "last_active", "direction": -1}], "limit": 4}));
        let first = page(&q, &users).unwrap();
        assert_eq!(ids(&first.users), ["a", "e", "c", "b"]);
        let rest = page(&with(&q, first.next.as_deref(), None), &users).unwrap();
        assert_eq!((ids(&rest.users), rest.next), (vec!["d".to_string()], None));
    }

    #[test]
    fn cursors_that_cannot_be_taken_are_400_code_4() {
        let users: BTreeMap<String, User> = (0..5)
            .map(|i| (format!("u{i}"), obj(json!({"id": format!("u{i}"), "created_at": ts(i), "teams": ["red"]}))))
            .collect();
        let q = parse(json!({"filter_conditions": {"teams": "red"}, "limit": 2}));
        let first = page(&q, &users).unwrap();
        let next = first.next.unwrap();
        let prev = page(&with(&q, Some(&next), None), &users).unwrap().prev.unwrap();
        let refused = |q: &UserQuery| {
            let e = Walk::of(q).unwrap_err();
            assert_eq!((e.status, e.code), (400, 4), "{}", e.reason);
            e.reason
        };
        let feed = crate::core::query::feed::encode(&crate::core::query::feed::Position { seq: 3, id: "u1".into() });
        let foreign = {
            let mut b = String::from("1n.0123456789abcdef.~.");
            crate::core::access::auth::encode_into(b"u1", &mut b);
            b
        };
        for bad in ["x", "eyJhbGciOiJIUzI1NiJ9", "====", &feed, &"A".repeat(5000), &prev] {
            assert!(refused(&with(&q, Some(bad), None)).contains("is not a next cursor"), "{bad}");
        }
        assert!(refused(&with(&q, Some(&foreign), None)).contains("belongs to another query"), "well-formed, not ours");
        assert!(refused(&with(&q, None, Some(&next))).contains("is not a prev cursor"));
        for other in [
            json!({"filter_conditions": {"teams": "blue"}, "limit": 2}),
            json!({"filter_conditions": {"teams": "red"}, "sort": [{"field": "id", "direction": -1}]}),
            json!({"filter_conditions": {"teams": "red"}, "sort": [{"field": "created_at", "direction": 1}]}),
            json!({"filter_conditions": {"teams": "red"}, "include_deactivated_users": true}),
            json!({}),
        ] {
            assert!(refused(&with(&parse(other), Some(&next), None)).contains("belongs to another query"));
        }
        assert!(refused(&UserQuery { offset: 1, ..with(&q, Some(&next), None) }).contains("offset"));
        assert!(refused(&with(&q, Some(&next), Some(&prev))).contains("not both"));
        let by_name = parse(json!({"sort": [{"field": "name"}]}));
        assert_eq!(Walk::of(&by_name).unwrap(), None, "an unindexed sort: Stream's page, no cursors");
        assert!(refused(&with(&by_name, Some(&next), None)).contains("indexed fields"));
        // The same filter written as the explicit default sort is the same query.
        let explicit = parse(json!({"filter_conditions": {"teams": "red"},
            "sort": [{"field": "created_at", "direction": -1}, {"field": "id", "direction": -1}]}));
        assert!(Walk::of(&with(&explicit, Some(&next), None)).is_ok());
        // `next` must be a string; empty or null is none.
        assert_eq!(payload::parse_value(&json!({"next": 3})).unwrap_err().code, 4);
        assert_eq!(parse(json!({"next": "", "prev": null})), UserQuery::default());
    }

    #[test]
    fn a_cursor_is_bound_to_the_callers_tenants() {
        let settings = AppSettings::from_json(r#"{"multi_tenant_enabled":true}"#);
        let member = |team: &str| obj(json!({"id": format!("m-{team}"), "teams": [team]}));
        let (a, b) = (member("A"), member("B"));
        let users: BTreeMap<String, User> = (0..6)
            .map(|i| {
                let team = if i % 2 == 0 { "A" } else { "B" };
                (format!("u{i}"), obj(json!({"id": format!("u{i}"), "created_at": ts(i), "teams": [team]})))
            })
            .collect();
        let as_caller = |who: &User, q: UserQuery| {
            let id = who["id"].as_str().unwrap().to_string();
            tenancy::restrict_query(q, &Caller::User(id), Some(who), &settings).unwrap()
        };
        let q = parse(json!({"limit": 1}));
        let mine = as_caller(&a, q.clone());
        let (walked, _) = walk(&mine, &users);
        assert_eq!(walked, ["u4", "u2", "u0"], "team A only, on every page");
        let next = page(&mine, &users).unwrap().next.unwrap();
        // The same payload from a caller of team B: another (restricted) query.
        let e = Walk::of(&as_caller(&b, with(&q, Some(&next), None))).unwrap_err();
        assert_eq!((e.code, e.status), (4, 400));
        // And a server-side walk's cursor does not fit a user's.
        let server_next = page(&q, &users).unwrap().next.unwrap();
        assert_eq!(Walk::of(&as_caller(&a, with(&q, Some(&server_next), None))).unwrap_err().code, 4);
    }
}
