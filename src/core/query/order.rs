//! Running a [`UserQuery`] over users in memory: [`run`] filters, sorts and pages; [`sorted`]
//! without the paging; [`InOrder`] for users that storage already returns in the query's order.
//! Never fails.

use super::payload::{page_end, selects, sort_of, UserQuery};
use crate::core::model::set;
use crate::core::wire::time::Timestamp;
use serde_json::{Map, Value};
use std::cmp::Ordering;

type User = Map<String, Value>;

/// [`run`] for users that arrive already in the query's order (storage sorted them): keeps the
/// ones `q` selects, skips `offset` of them and stops once the page is full.
pub struct InOrder<'q> {
    q: &'q UserQuery,
    skip: usize,
    end: usize,
    selected: usize,
    page: Vec<User>,
}

impl<'q> InOrder<'q> {
    pub fn new(q: &'q UserQuery) -> Self {
        Self::window(q, q.offset, page_end(q) - q.offset)
    }
    /// The same over another window of the selected users: skip `skip`, keep `take` (a keyset
    /// walk's page, `core::query::cursor`).
    pub fn window(q: &'q UserQuery, skip: usize, take: usize) -> Self {
        InOrder { q, skip, end: skip.saturating_add(take), selected: 0, page: Vec::new() }
    }
    /// Offers the next user in order; `false` once the page is full (stop reading).
    pub fn offer(&mut self, u: User) -> bool {
        if selects(self.q, &u) {
            self.selected += 1;
            if self.selected > self.skip {
                self.page.push(u);
            }
        }
        self.selected < self.end
    }
    pub fn page(self) -> Vec<User> {
        self.page
    }
}

/// Filters, sorts and paginates. Soft-deleted users (a non-null `deleted_at`) are never
/// returned; deactivated ones (`deactivated_at`) only with `include_deactivated_users`.
/// Users that sort equal keep their input order.
pub fn run<'a>(q: &UserQuery, users: impl IntoIterator<Item = &'a Map<String, Value>>) -> Vec<&'a Map<String, Value>> {
    let mut hits = sorted(q, users);
    hits.truncate(page_end(q));
    hits.drain(..q.offset.min(hits.len()));
    hits
}

/// [`run`] without the paging: every user `q` selects, in its order.
pub fn sorted<'a>(
    q: &UserQuery,
    users: impl IntoIterator<Item = &'a Map<String, Value>>,
) -> Vec<&'a Map<String, Value>> {
    let sort = sort_of(q);
    // Each hit keeps its input position: ties keep input order, as a stable sort would.
    let mut hits: Vec<(Vec<Option<Key<'a>>>, usize, &'a User)> = users
        .into_iter()
        .filter(|u| selects(q, u))
        .enumerate()
        .map(|(i, u)| (sort.iter().map(|(field, _)| u.get(*field).and_then(Key::of)).collect(), i, u))
        .collect();
    set::sort_by(&mut hits, |(a, ia, _), (b, ib, _)| {
        for ((x, y), (_, dir)) in a.iter().zip(b).zip(&sort) {
            let o = sort_cmp(x.as_ref(), y.as_ref(), *dir < 0, |a, b| a.cmp(b));
            if o != Ordering::Equal {
                return o;
            }
        }
        ia.cmp(ib)
    });
    hits.into_iter().map(|(_, _, u)| u).collect()
}

/// One sort key's order: present values by `cmp` (reversed when `desc`); users without the
/// field go last whatever the direction.
pub(crate) fn sort_cmp<T>(x: Option<T>, y: Option<T>, desc: bool, cmp: impl Fn(&T, &T) -> Ordering) -> Ordering {
    match (x, y) {
        (Some(x), Some(y)) if desc => cmp(&y, &x),
        (Some(x), Some(y)) => cmp(&x, &y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

/// A sort key with a total order: booleans, then numbers, then timestamps, then other
/// strings, then arrays and objects (all equal). `null` counts as missing.
enum Key<'a> {
    Bool(bool),
    Num(f64),
    Time(Timestamp),
    Str(&'a str),
    Other,
}

impl<'a> Key<'a> {
    fn of(v: &'a Value) -> Option<Self> {
        Some(match v {
            Value::Null => return None,
            Value::Bool(b) => Key::Bool(*b),
            Value::Number(n) => n.as_f64().map_or(Key::Other, Key::Num),
            Value::String(s) => Timestamp::parse(s).map_or(Key::Str(s), Key::Time),
            _ => Key::Other,
        })
    }

    fn rank(&self) -> u8 {
        match self {
            Key::Bool(_) => 0,
            Key::Num(_) => 1,
            Key::Time(_) => 2,
            Key::Str(_) => 3,
            Key::Other => 4,
        }
    }

    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Key::Bool(a), Key::Bool(b)) => a.cmp(b),
            (Key::Num(a), Key::Num(b)) => a.total_cmp(b),
            (Key::Time(a), Key::Time(b)) => a.cmp(b),
            (Key::Str(a), Key::Str(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}
