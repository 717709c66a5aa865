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

/// A cursor's text: version and direction, the query's binding in hex, then each key value
/// base64url-encoded (`~` for none), dot-separated.
pub fn encode(binding: u64, s: &Seek) -> String {
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
pub fn decode(cursor: &str) -> Option<(u64, Seek)> {
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
