//! Stream's `queryUsers` (`GET /users?payload=…`) over an in-memory list of flat users.
//!
//! [`parse`] validates the whole payload up front (every mistake is a 400, code 4) and turns
//! `filter_conditions` into a [`Filter`], a typed expression that holds only what was checked;
//! [`run`] then filters, sorts and paginates. `run` never fails: a filter nested deeper than
//! `parse` allows (only a hand-built one can be) matches nothing below that depth.

use crate::core::wire::error::ApiError;
use crate::core::wire::time::Timestamp;
use serde_json::{Map, Value};
use std::cmp::Ordering;

type User = Map<String, Value>;

const DEFAULT_LIMIT: usize = 30;
const MAX_LIMIT: usize = 100;
const MAX_OFFSET: usize = 1000;
const MAX_SORT_FIELDS: usize = 5;
/// How deep `$and`/`$or`/`$nor` may nest.
const MAX_DEPTH: usize = 32;
/// Stream's documented default order: newest first.
const DEFAULT_SORT: [(&str, i8); 2] = [("created_at", -1), ("id", -1)];

const AUTOCOMPLETE_INVALID: &str =
    "$autocomplete field is empty or contains invalid characters. Please provide a valid string to autocomplete";

/// A parsed `filter_conditions` object: every one of its conditions must hold. The empty
/// filter matches every user.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Filter {
    pub conditions: Vec<Condition>,
}

/// One condition of a [`Filter`]: a logical operator over nested filters, or one operator on
/// a field (a field with several operators, `{age: {$gt: 1, $lt: 9}}`, gives one each).
#[derive(Clone, Debug, PartialEq)]
pub enum Condition {
    /// `$and`: every filter matches.
    And(Vec<Filter>),
    /// `$or`: some filter matches.
    Or(Vec<Filter>),
    /// `$nor`: no filter matches.
    Nor(Vec<Filter>),
    /// `{field: cond}`; a bare value is `$eq`.
    Field { field: String, cond: Cond },
}

/// An operator on one field, with its checked operand.
#[derive(Clone, Debug, PartialEq)]
pub enum Cond {
    /// `$eq`: `null` matches a missing, null or empty-array field; a scalar matches an array
    /// field that contains it.
    Eq(Value),
    /// `$ne`: not `$eq`.
    Ne(Value),
    /// `$in`: `$eq` to one of the values.
    In(Vec<Value>),
    /// `$nin`: `$eq` to none of the values.
    Nin(Vec<Value>),
    /// `$gt`, `$gte`, `$lt`, `$lte` on a number or a string (timestamps compare as instants);
    /// an array field needs one element in range.
    Gt(Value),
    Gte(Value),
    Lt(Value),
    Lte(Value),
    /// `$exists`: whether the field is present and not null.
    Exists(bool),
    /// `$autocomplete`: `text` as given, `folded` its trimmed [`fold_case`], which must start
    /// a word of the field (or of a string element of an array field).
    Autocomplete {
        text: String,
        folded: String,
    },
    /// `$contains`: an array field with an element equal to the value.
    Contains(Value),
}

/// A validated query.
#[derive(Clone, Debug, PartialEq)]
pub struct UserQuery {
    /// `filter_conditions`, parsed and checked.
    pub filter: Filter,
    /// `(field, direction)` with direction 1 (ascending) or -1 (descending). Empty means
    /// `created_at` descending, then `id` descending.
    pub sort: Vec<(String, i8)>,
    pub limit: usize,
    pub offset: usize,
    pub include_deactivated_users: bool,
    /// `presence: true`: the caller's connection watches the users returned (events, presence).
    pub presence: bool,
    /// Roster's keyset cursors (`core::query::cursor`): the `next` or `prev` of an earlier page, as
    /// sent (an empty string or `null` is none).
    pub next: Option<String>,
    pub prev: Option<String>,
}

impl Default for UserQuery {
    fn default() -> Self {
        UserQuery {
            filter: Filter::default(),
            sort: Vec::new(),
            limit: DEFAULT_LIMIT,
            offset: 0,
            include_deactivated_users: false,
            presence: false,
            next: None,
            prev: None,
        }
    }
}

/// Parses the `payload` JSON of `GET /users`:
/// `{filter_conditions, sort: [{field, direction}], limit, offset, presence,
/// include_deactivated_users, id_gt, id_gte, id_lt, id_lte, …}`. Unknown keys are ignored.
pub fn parse(payload: &str) -> Result<UserQuery, ApiError> {
    let value = crate::core::wire::json::parse(payload).map_err(|_| ApiError::input("payload is not valid JSON"))?;
    parse_value(&value)
}

/// [`parse`] for an already-decoded payload.
pub fn parse_value(payload: &Value) -> Result<UserQuery, ApiError> {
    let Value::Object(p) = payload else {
        return Err(ApiError::input("payload must be a JSON object"));
    };
    let mut filter = match p.get("filter_conditions") {
        None | Some(Value::Null) => Filter::default(),
        Some(f @ Value::Object(_)) => parse_filter(f)?,
        Some(_) => return Err(ApiError::input("filter_conditions must be an object")),
    };

    // The documented `id_gt`/`id_gte`/`id_lt`/`id_lte` options are extra conditions on `id`.
    let mut clauses = Vec::new();
    let bound: fn(Value) -> Cond = Cond::Gt;
    for (key, cond) in [("id_gt", bound), ("id_gte", Cond::Gte), ("id_lt", Cond::Lt), ("id_lte", Cond::Lte)] {
        match p.get(key) {
            None | Some(Value::Null) => {}
            Some(Value::String(id)) if id.is_empty() => {}
            Some(Value::String(id)) => clauses.push(Filter {
                conditions: vec![Condition::Field { field: "id".into(), cond: cond(Value::String(id.clone())) }],
            }),
            Some(_) => return Err(ApiError::input(format!("{key} must be a string"))),
        }
    }
    if !clauses.is_empty() {
        clauses.insert(0, filter);
        filter = Filter { conditions: vec![Condition::And(clauses)] };
    }

    let sort = match p.get("sort") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) if items.len() > MAX_SORT_FIELDS => {
            return Err(ApiError::input(format!("sort must have at most {MAX_SORT_FIELDS} fields")));
        }
        Some(Value::Array(items)) => {
            let mut sort = Vec::with_capacity(items.len());
            for item in items {
                sort.push(sort_item(item)?);
            }
            sort
        }
        Some(_) => return Err(ApiError::input("sort must be an array of {field, direction} objects")),
    };
    let limit = bounded(p, "limit", MAX_LIMIT)?;
    let offset = bounded(p, "offset", MAX_OFFSET)?;
    let presence = flag(p, "presence")?;
    Ok(UserQuery {
        filter,
        sort,
        limit: if limit == 0 { DEFAULT_LIMIT } else { limit },
        offset,
        include_deactivated_users: flag(p, "include_deactivated_users")?,
        presence,
        next: cursor_arg(p, "next")?,
        prev: cursor_arg(p, "prev")?,
    })
}

/// A cursor option: a string, or none (absent, `null` or empty).
fn cursor_arg(p: &Map<String, Value>, key: &str) -> Result<Option<String>, ApiError> {
    match p.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(c)) if c.is_empty() => Ok(None),
        Some(Value::String(c)) => Ok(Some(c.clone())),
        Some(_) => Err(ApiError::input(format!("{key} must be a cursor string from a previous page"))),
    }
}

/// Whether a user is one `q` returns, before sorting and paging: not soft-deleted (a non-null
/// `deleted_at`), not deactivated unless `include_deactivated_users`, and matching the filter.
pub fn selects(q: &UserQuery, u: &User) -> bool {
    let set = |key: &str| u.get(key).is_some_and(|v| !v.is_null());
    !set("deleted_at") && (q.include_deactivated_users || !set("deactivated_at")) && q.filter.matches(u)
}

/// How many users a page of `q` ends at: `offset + limit`.
pub fn page_end(q: &UserQuery) -> usize {
    q.offset + if q.limit == 0 { DEFAULT_LIMIT } else { q.limit }
}

/// The sort `q` applies: its own, or the default (`created_at` then `id`, both descending).
pub fn sort_of(q: &UserQuery) -> Vec<(&str, i8)> {
    if q.sort.is_empty() {
        DEFAULT_SORT.to_vec()
    } else {
        q.sort.iter().map(|(f, d)| (f.as_str(), *d)).collect()
    }
}

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
    // Each hit keeps its input position: ties keep input order, as a stable sort would, and
    // the unstable sort links less code than the stable one.
    let mut hits: Vec<(Vec<Option<Key<'a>>>, usize, &'a User)> = users
        .into_iter()
        .filter(|u| selects(q, u))
        .enumerate()
        .map(|(i, u)| (sort.iter().map(|(field, _)| u.get(*field).and_then(Key::of)).collect(), i, u))
        .collect();
    hits.sort_unstable_by(|(a, ia, _), (b, ib, _)| {
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

// ---- validation ----

fn sort_item(item: &Value) -> Result<(String, i8), ApiError> {
    let field = match item.get("field") {
        Some(Value::String(f)) if !f.is_empty() => f.clone(),
        _ => return Err(ApiError::input("sort field must be a non-empty string")),
    };
    let direction = match item.get("direction") {
        None | Some(Value::Null) => 1,
        Some(d) if d.as_i64() == Some(1) => 1,
        Some(d) if d.as_i64() == Some(-1) => -1,
        Some(_) => return Err(ApiError::input(format!("sort direction for field {field} must be 1 or -1"))),
    };
    Ok((field, direction))
}

fn bounded(p: &Map<String, Value>, key: &str, max: usize) -> Result<usize, ApiError> {
    match p.get(key) {
        None | Some(Value::Null) => Ok(0),
        Some(Value::Number(n)) => match n.as_f64() {
            Some(v) if v.fract() == 0.0 && (0.0..=max as f64).contains(&v) => Ok(v as usize),
            _ => Err(ApiError::input(format!("{key} must be between 0 and {max}"))),
        },
        Some(_) => Err(ApiError::input(format!("{key} must be a number"))),
    }
}

fn flag(p: &Map<String, Value>, key: &str) -> Result<bool, ApiError> {
    match p.get(key) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(ApiError::input(format!("{key} must be a boolean"))),
    }
}

/// Parses and checks a `filter_conditions` object (400 errors, code 4, for the first mistake
/// in document order).
pub fn parse_filter(filter: &Value) -> Result<Filter, ApiError> {
    filter_at(filter, 0)
}

fn filter_at(filter: &Value, depth: usize) -> Result<Filter, ApiError> {
    let Value::Object(conditions) = filter else {
        return Err(ApiError::input("filter conditions must be objects"));
    };
    if depth > MAX_DEPTH {
        return Err(ApiError::input("filter_conditions are nested too deeply"));
    }
    let nested = |key: &str, value: &Value| match value {
        Value::Array(items) if !items.is_empty() => items.iter().map(|item| filter_at(item, depth + 1)).collect(),
        _ => Err(ApiError::input(format!("{key} must be a non-empty array of filter conditions"))),
    };
    let mut out = Vec::with_capacity(conditions.len());
    for (key, value) in conditions {
        match key.as_str() {
            "$and" => out.push(Condition::And(nested(key, value)?)),
            "$or" => out.push(Condition::Or(nested(key, value)?)),
            "$nor" => out.push(Condition::Nor(nested(key, value)?)),
            "" => return Err(ApiError::input("filter field names must not be empty")),
            k if k.starts_with('$') => return Err(ApiError::input(format!("unknown filter operator {k}"))),
            field => match value {
                Value::Object(ops) if ops.is_empty() => {
                    return Err(ApiError::input(format!("empty filter condition for field {field}")));
                }
                Value::Object(ops) => {
                    for (op, operand) in ops {
                        out.push(Condition::Field { field: field.to_string(), cond: cond(field, op, operand)? });
                    }
                }
                bare => out.push(Condition::Field { field: field.to_string(), cond: cond(field, "$eq", bare)? }),
            },
        }
    }
    Ok(Filter { conditions: out })
}

/// One operator on a field, checked.
fn cond(field: &str, op: &str, v: &Value) -> Result<Cond, ApiError> {
    let fail = |what: &str| ApiError::input(format!("{op} on field {field} {what}"));
    // Team names are non-empty strings; `{teams: ""}` is an error, `{teams: null}` is not.
    let team_ok = |v: &Value| field != "teams" || matches!(v, Value::String(s) if !s.is_empty());
    let list = || match v {
        Value::Array(items) if items.iter().all(team_ok) => Ok(items.clone()),
        Value::Array(_) => Err(fail("needs an array of non-empty team names")),
        _ => Err(fail("needs an array")),
    };
    let bound = || match v {
        Value::Number(_) | Value::String(_) => Ok(v.clone()),
        _ => Err(fail("needs a number or a string")),
    };
    Ok(match op {
        "$eq" | "$ne" if !v.is_null() && !team_ok(v) => return Err(fail("needs a non-empty team name or null")),
        "$eq" => Cond::Eq(v.clone()),
        "$ne" => Cond::Ne(v.clone()),
        "$in" => Cond::In(list()?),
        "$nin" => Cond::Nin(list()?),
        "$gt" => Cond::Gt(bound()?),
        "$gte" => Cond::Gte(bound()?),
        "$lt" => Cond::Lt(bound()?),
        "$lte" => Cond::Lte(bound()?),
        "$exists" => match v {
            Value::Bool(b) => Cond::Exists(*b),
            _ => return Err(fail("needs a boolean")),
        },
        "$autocomplete" => match v {
            Value::String(s) if s.chars().any(char::is_alphanumeric) => {
                Cond::Autocomplete { text: s.clone(), folded: fold_case(s.trim()) }
            }
            _ => return Err(ApiError::input(AUTOCOMPLETE_INVALID)),
        },
        "$contains" => match v {
            Value::String(_) | Value::Number(_) | Value::Bool(_) if team_ok(v) => Cond::Contains(v.clone()),
            _ => return Err(fail("needs a value to look for in the array")),
        },
        "$q" => return Err(ApiError::input(format!("search is not enabled for field users.{field}"))),
        _ => return Err(ApiError::input(format!("unknown operator {op} for field {field}"))),
    })
}

// ---- evaluation ----

impl Filter {
    /// Whether a user matches (visibility markers aside: see [`selects`]).
    pub fn matches(&self, user: &User) -> bool {
        self.matches_at(user, 0)
    }

    fn matches_at(&self, user: &User, depth: usize) -> bool {
        let sub = |f: &Filter| f.matches_at(user, depth + 1);
        depth <= MAX_DEPTH
            && self.conditions.iter().all(|c| match c {
                Condition::And(filters) => filters.iter().all(sub),
                Condition::Or(filters) => filters.iter().any(sub),
                Condition::Nor(filters) => !filters.iter().any(sub),
                Condition::Field { field, cond } => cond.holds(user.get(field)),
            })
    }
}

impl Cond {
    /// Whether a field's value (`None`: absent) satisfies the condition.
    pub fn holds(&self, val: Option<&Value>) -> bool {
        match self {
            Cond::Eq(x) => equals(val, x),
            Cond::Ne(x) => !equals(val, x),
            Cond::In(xs) => xs.iter().any(|x| equals(val, x)),
            Cond::Nin(xs) => !xs.iter().any(|x| equals(val, x)),
            Cond::Gt(x) => range(val, x, Ordering::is_gt),
            Cond::Gte(x) => range(val, x, Ordering::is_ge),
            Cond::Lt(x) => range(val, x, Ordering::is_lt),
            Cond::Lte(x) => range(val, x, Ordering::is_le),
            Cond::Exists(b) => *b == val.is_some_and(|v| !v.is_null()),
            Cond::Autocomplete { folded, .. } => {
                let hit = |v: &Value| v.as_str().is_some_and(|s| autocompletes(s, folded));
                folded.chars().any(char::is_alphanumeric) && any_element(val, hit)
            }
            Cond::Contains(x) => val.and_then(Value::as_array).is_some_and(|xs| xs.iter().any(|v| same(v, x))),
        }
    }
}

/// `$eq`: `null` matches a missing, null or empty-array field; a scalar matches an array
/// field that contains it.
fn equals(val: Option<&Value>, x: &Value) -> bool {
    match (val, x) {
        (None | Some(Value::Null), Value::Null) => true,
        (Some(Value::Array(items)), Value::Null) => items.is_empty(),
        (None, _) => false,
        (Some(Value::Array(items)), x) if !x.is_array() => items.iter().any(|v| same(v, x)),
        (Some(v), x) => same(v, x),
    }
}

/// Numbers compare numerically, timestamps as instants, anything else structurally.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(_), Value::Number(_)) | (Value::String(_), Value::String(_)) => {
            compare(a, b) == Some(Ordering::Equal)
        }
        _ => a == b,
    }
}

fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::String(x), Value::String(y)) if x == y => Some(Ordering::Equal),
        (Value::String(x), Value::String(y)) => Some(match (Timestamp::parse(x), Timestamp::parse(y)) {
            (Some(s), Some(t)) => s.cmp(&t),
            _ => x.cmp(y),
        }),
        _ => None,
    }
}

fn range(val: Option<&Value>, x: &Value, ok: fn(Ordering) -> bool) -> bool {
    any_element(val, |v| compare(v, x).is_some_and(ok))
}

/// The field itself, or for an array field any of its elements.
fn any_element(val: Option<&Value>, f: impl Fn(&Value) -> bool) -> bool {
    match val {
        Some(Value::Array(items)) => items.iter().any(f),
        Some(v) => f(v),
        None => false,
    }
}

/// Case-insensitive prefix match at the start of any word of `field` (`query` is lowercase).
fn autocompletes(field: &str, query: &str) -> bool {
    let field = fold_case(field);
    let found = word_starts(&field).any(|i| field.get(i..).is_some_and(|rest| rest.starts_with(query)));
    found
}

/// Where `$autocomplete` may match in a case-folded text: its start, and every position after
/// a character that is not a letter or digit. The name index stores the text from each.
pub(crate) fn word_starts(folded: &str) -> impl Iterator<Item = usize> + '_ {
    let mut word_start = true;
    folded.char_indices().filter_map(move |(i, c)| {
        let start = word_start;
        word_start = !c.is_alphanumeric();
        start.then_some(i)
    })
}

// ---- sorting ----

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

/// Case folding for `$autocomplete`: each character's lowercase, with final sigma (ς) folded
/// into σ so that Greek words match whatever their position (and without `str::to_lowercase`'s
/// context rules, whose tables cost 6 KB of gzip in the package).
pub(crate) fn fold_case(s: &str) -> String {
    s.chars().flat_map(char::to_lowercase).map(|c| if c == 'ς' { 'σ' } else { c }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn obj(v: Value) -> User {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    fn fixture() -> Vec<User> {
        [
            json!({"id": "alice", "name": "Alice Liddell", "role": "admin", "teams": ["red", "blue"], "created_at": "2024-01-01T00:00:00.000000Z", "updated_at": "2024-02-01T00:00:00.000000Z", "age": 30, "race": "Human", "banned": false, "online": false, "last_active": "2024-03-01T10:00:00.5Z"}),
            json!({"id": "bob", "name": "Bob Stone", "role": "user", "teams": ["blue"], "created_at": "2024-01-02T00:00:00.000000Z", "updated_at": "2024-01-02T00:00:00.000000Z", "age": 25, "race": "Hobbit", "banned": true, "online": false, "last_active": "2024-03-01T10:00:00Z"}),
            json!({"id": "carol", "name": "carol o'neil", "role": "user", "teams": [], "created_at": "2024-01-03T00:00:00.000000Z", "updated_at": "2024-01-03T00:00:00.000000Z", "age": 50.5, "race": "Hobbit", "banned": false, "online": true, "tags": ["x", 1]}),
            json!({"id": "dave", "name": "Dave", "role": "guest", "created_at": "2024-01-03T00:00:00.000000Z", "updated_at": "2024-01-03T00:00:00.000000Z", "race": "Elf", "banned": false, "nick": null}),
            json!({"id": "erin", "name": "Erin", "role": "user", "teams": ["red"], "created_at": "2024-01-04T00:00:00.000000Z", "age": 40, "deactivated_at": "2024-01-05T00:00:00.000000Z"}),
            json!({"id": "frank", "name": "Frank", "role": "user", "teams": ["red"], "created_at": "2024-01-05T00:00:00.000000Z", "age": 45, "deleted_at": "2024-01-06T00:00:00.000000Z"}),
            json!({"id": "gus", "name": "Gus", "role": "user", "created_at": "2023-12-31T00:00:00.000000Z", "age": 28, "deactivated_at": null, "deleted_at": null}),
        ]
        .into_iter()
        .map(obj)
        .collect()
    }

    fn ids_of(q: &UserQuery) -> Vec<String> {
        let users = fixture();
        run(q, &users).into_iter().map(|u| u["id"].as_str().unwrap().to_string()).collect()
    }

    /// Ids matched by `filter` (default sort: newest first).
    fn ids(payload: Value) -> Vec<String> {
        ids_of(&parse_value(&payload).unwrap())
    }

    fn filter(f: Value) -> Vec<String> {
        ids(json!({ "filter_conditions": f }))
    }

    fn error(payload: Value) -> ApiError {
        let e = parse(&payload.to_string()).unwrap_err();
        assert_eq!((e.code, e.status), (4, 400), "{payload}");
        e
    }

    fn filter_error(f: Value) -> String {
        error(json!({ "filter_conditions": f })).reason
    }

    #[test]
    fn parses_defaults_and_options() {
        let q = parse(r#"{"filter_conditions":{},"sort":[],"presence":false}"#).unwrap();
        assert_eq!(q, UserQuery::default());
        assert_eq!(parse("{}").unwrap(), UserQuery::default());
        let q = parse(r#"{"filter_conditions":{"id":{"$in":["a","b"]}},"sort":[{"field":"last_active","direction":-1},{"field":"age"}],"limit":10,"offset":5,"include_deactivated_users":true,"user_id":"x","id_gt":"","whatever":[1]}"#).unwrap();
        let id_in = Cond::In(vec![json!("a"), json!("b")]);
        assert_eq!(q.filter, Filter { conditions: vec![Condition::Field { field: "id".into(), cond: id_in }] });
        assert_eq!(q.sort, vec![("last_active".to_string(), -1), ("age".to_string(), 1)]);
        assert_eq!((q.limit, q.offset, q.include_deactivated_users), (10, 5, true));
        assert!(parse(r#"{"presence":true}"#).unwrap().presence);
        assert_eq!(parse(r#"{"limit":0}"#).unwrap().limit, 30);
        assert_eq!(parse(r#"{"limit":100,"offset":1000}"#).unwrap().limit, 100);
        assert_eq!(parse(r#"{"limit":100,"offset":1000}"#).unwrap().offset, 1000);
        assert_eq!(parse(r#"{"limit":7.0}"#).unwrap().limit, 7);
        assert_eq!(
            parse(r#"{"filter_conditions":null,"sort":null,"limit":null,"offset":null,"presence":null}"#).unwrap(),
            UserQuery::default()
        );
    }

    #[test]
    fn rejects_bad_payloads() {
        for bad in ["", "nope", "{", "[]", "null", "1", "\"{}\""] {
            let e = parse(bad).unwrap_err();
            assert_eq!((e.code, e.status), (4, 400), "{bad}");
        }
        assert_eq!(parse("{").unwrap_err().reason, "payload is not valid JSON");
        assert_eq!(parse("[]").unwrap_err().reason, "payload must be a JSON object");
        for payload in [
            json!({"filter_conditions": []}),
            json!({"filter_conditions": "id"}),
            json!({"limit": 101}),
            json!({"limit": -1}),
            json!({"limit": 1.5}),
            json!({"limit": "10"}),
            json!({"offset": 1001}),
            json!({"offset": -5}),
            json!({"offset": true}),
            json!({"sort": {"age": -1}}),
            json!({"sort": "age"}),
            json!({"sort": [{"field": "a"}, {"field": "b"}, {"field": "c"}, {"field": "d"}, {"field": "e"}, {"field": "f"}]}),
            json!({"sort": [{"field": "age", "direction": 0}]}),
            json!({"sort": [{"field": "age", "direction": 2}]}),
            json!({"sort": [{"field": "age", "direction": "-1"}]}),
            json!({"sort": [{"field": "", "direction": 1}]}),
            json!({"sort": [{"direction": 1}]}),
            json!({"sort": [{"field": 3, "direction": 1}]}),
            json!({"sort": ["age"]}),
            json!({"presence": "yes"}),
            json!({"include_deactivated_users": 1}),
            json!({"id_gt": 5}),
        ] {
            error(payload);
        }
        assert_eq!(error(json!({"limit": 101})).reason, "limit must be between 0 and 100");
        assert_eq!(error(json!({"offset": 1001})).reason, "offset must be between 0 and 1000");
        assert_eq!(
            error(json!({"sort": [{"field": "age", "direction": 0}]})).reason,
            "sort direction for field age must be 1 or -1"
        );
        let five: Vec<Value> = (0..5).map(|i| json!({"field": format!("f{i}"), "direction": -1})).collect();
        assert_eq!(parse_value(&json!({ "sort": five })).unwrap().sort.len(), 5);
    }

    #[test]
    fn rejects_bad_filters() {
        assert_eq!(filter_error(json!({"id": {"$in": "notAnArray"}})), "$in on field id needs an array");
        assert_eq!(filter_error(json!({"id": {"$nin": {"a": 1}}})), "$nin on field id needs an array");
        assert_eq!(filter_error(json!({"teams": ""})), "$eq on field teams needs a non-empty team name or null");
        for f in [
            json!({"teams": {"$eq": ""}}),
            json!({"teams": {"$in": ["red", ""]}}),
            json!({"teams": {"$in": [null]}}),
            json!({"teams": {"$contains": ""}}),
            json!({"teams": 5}),
            json!({"teams": ["red"]}),
            json!({"age": {"$gt": null}}),
            json!({"age": {"$lte": [1]}}),
            json!({"age": {"$gte": true}}),
            json!({"age": {"$exists": "yes"}}),
            json!({"age": {"$exists": null}}),
            json!({"tags": {"$contains": null}}),
            json!({"tags": {"$contains": ["x"]}}),
            json!({"age": {}}),
            json!({"age": {"$eq": 1, "gt": 2}}),
            json!({"age": {"$regex": "x"}}),
            json!({"age": {"$elemMatch": {}}}),
            json!({"": 1}),
            json!({"$not": {"id": "a"}}),
            json!({"$text": "a"}),
            json!({"$and": {"id": "a"}}),
            json!({"$and": []}),
            json!({"$or": [1]}),
            json!({"$nor": [{"id": {"$in": 1}}]}),
            json!({"$or": [{"$and": [{"id": {"$q": "x"}}]}]}),
        ] {
            filter_error(f);
        }
        assert_eq!(filter_error(json!({"age": {"$regex": "x"}})), "unknown operator $regex for field age");
        assert_eq!(filter_error(json!({"$not": {}})), "unknown filter operator $not");
        assert_eq!(filter_error(json!({"$and": []})), "$and must be a non-empty array of filter conditions");
    }

    #[test]
    fn exact_stream_error_texts() {
        assert_eq!(
            filter_error(json!({"mycustomfield": {"$q": "x"}})),
            "search is not enabled for field users.mycustomfield"
        );
        assert_eq!(filter_error(json!({"name": {"$q": "x"}})), "search is not enabled for field users.name");
        for bad in [json!(""), json!("   "), json!("!@#$%"), json!("-_."), json!(5), json!(null), json!(["a"])] {
            assert_eq!(filter_error(json!({"name": {"$autocomplete": bad}})), AUTOCOMPLETE_INVALID);
        }
        assert_eq!(
            AUTOCOMPLETE_INVALID,
            "$autocomplete field is empty or contains invalid characters. Please provide a valid string to autocomplete"
        );
    }

    #[test]
    fn nesting_depth_is_bounded() {
        let mut f = json!({"id": "alice"});
        for _ in 0..MAX_DEPTH {
            f = json!({ "$and": [f] });
        }
        assert_eq!(filter(f.clone()), ["alice"]);
        let deeper = json!({ "$or": [f] });
        assert_eq!(filter_error(deeper), "filter_conditions are nested too deeply");
        // run on a hand-built, too-deep filter matches nothing rather than recursing on.
        let mut f = parse_filter(&json!({"id": "alice"})).unwrap();
        for _ in 0..=MAX_DEPTH {
            f = Filter { conditions: vec![Condition::And(vec![f])] };
        }
        let q = UserQuery { filter: f, ..UserQuery::default() };
        assert!(ids_of(&q).is_empty());
        // serde_json's own recursion limit turns absurd nesting into a parse error.
        let s = format!("{{\"filter_conditions\":{}{}}}", "{\"$and\":[".repeat(5000), "]}".repeat(5000));
        assert_eq!(parse(&s).unwrap_err().code, 4);
    }

    #[test]
    fn visibility_and_default_sort() {
        // Newest first; carol and dave share created_at, so id descending breaks the tie.
        // erin is deactivated, frank is deleted; gus has null markers and is visible.
        assert_eq!(filter(json!({})), ["dave", "carol", "bob", "alice", "gus"]);
        assert_eq!(ids(json!({"include_deactivated_users": true})), ["erin", "dave", "carol", "bob", "alice", "gus"]);
        assert_eq!(
            ids(json!({"include_deactivated_users": true, "filter_conditions": {"id": "frank"}})),
            Vec::<String>::new()
        );
        assert!(filter(json!({"id": "erin"})).is_empty());
    }

    #[test]
    fn eq_ne_and_bare_values() {
        assert_eq!(filter(json!({"id": "alice"})), ["alice"]);
        assert_eq!(filter(json!({"id": {"$eq": "alice"}})), ["alice"]);
        assert_eq!(filter(json!({"race": "Hobbit"})), ["carol", "bob"]);
        assert_eq!(filter(json!({"race": {"$ne": "Hobbit"}})), ["dave", "alice", "gus"]); // gus has no race
        assert_eq!(filter(json!({"banned": true})), ["bob"]);
        assert_eq!(filter(json!({"banned": {"$ne": true}})), ["dave", "carol", "alice", "gus"]);
        assert_eq!(filter(json!({"age": 30.0})), ["alice"]); // numbers compare numerically
        assert_eq!(filter(json!({"age": "30"})), Vec::<String>::new()); // but not across types
        assert_eq!(filter(json!({"age": null})), ["dave"]); // missing matches null
        assert_eq!(filter(json!({"nick": null})), ["dave", "carol", "bob", "alice", "gus"]); // null or missing
        assert_eq!(filter(json!({"nick": {"$ne": null}})), Vec::<String>::new());
        assert_eq!(filter(json!({"age": {"$ne": null}})), ["carol", "bob", "alice", "gus"]);
        assert_eq!(filter(json!({"name": "alice liddell"})), Vec::<String>::new()); // $eq is case-sensitive
        assert_eq!(filter(json!({"tags": {"$eq": ["x", 1]}})), ["carol"]); // array equality
                                                                           // Several conditions on one object and one operator object must all hold.
        assert_eq!(filter(json!({"race": "Hobbit", "banned": false})), ["carol"]);
        assert_eq!(filter(json!({"age": {"$gt": 20, "$lt": 30}})), ["bob", "gus"]);
        // Timestamps compare as instants.
        assert_eq!(filter(json!({"created_at": "2024-01-01T00:00:00Z"})), ["alice"]);
        assert_eq!(filter(json!({"created_at": "2024-01-01T01:00:00+01:00"})), ["alice"]);
    }

    #[test]
    fn in_and_nin() {
        assert_eq!(filter(json!({"id": {"$in": ["alice", "bob", "nobody", "erin"]}})), ["bob", "alice"]);
        assert_eq!(filter(json!({"id": {"$in": []}})), Vec::<String>::new());
        assert_eq!(filter(json!({"id": {"$nin": ["alice", "bob"]}})), ["dave", "carol", "gus"]);
        assert_eq!(filter(json!({"id": {"$nin": []}})), ["dave", "carol", "bob", "alice", "gus"]);
        assert_eq!(filter(json!({"race": {"$nin": ["Hobbit", "Human"]}})), ["dave", "gus"]); // missing matches $nin
        assert_eq!(filter(json!({"race": {"$in": ["Elf", null]}})), ["dave", "gus"]);
        assert_eq!(filter(json!({"age": {"$in": [25, 50.5]}})), ["carol", "bob"]);
    }

    #[test]
    fn ranges() {
        assert_eq!(filter(json!({"age": {"$gt": 30}})), ["carol"]);
        assert_eq!(filter(json!({"age": {"$gte": 30}})), ["carol", "alice"]);
        assert_eq!(filter(json!({"age": {"$lt": 30}})), ["bob", "gus"]);
        assert_eq!(filter(json!({"age": {"$lte": 30}})), ["bob", "alice", "gus"]);
        assert_eq!(filter(json!({"age": {"$gt": 50.4}})), ["carol"]);
        assert_eq!(filter(json!({"age": {"$gt": "1"}})), Vec::<String>::new()); // no cross-type comparison
        assert_eq!(filter(json!({"id": {"$gte": "c"}})), ["dave", "carol", "gus"]);
        assert_eq!(filter(json!({"name": {"$lt": "C"}})), ["bob", "alice"]); // byte order: 'c' > 'C'
        assert_eq!(filter(json!({"created_at": {"$gte": "2024-01-02T00:00:00Z"}})), ["dave", "carol", "bob"]);
        assert_eq!(filter(json!({"created_at": {"$lt": "2024-01-01T00:00:00.000001Z"}})), ["alice", "gus"]);
        assert_eq!(filter(json!({"created_at": {"$gt": "2023-12-31T23:00:00-02:00"}})), ["dave", "carol", "bob"]);
        // Fractional and whole-second forms of timestamps compare as instants, not as text.
        assert_eq!(filter(json!({"last_active": {"$gt": "2024-03-01T10:00:00Z"}})), ["alice"]);
        assert_eq!(filter(json!({"last_active": {"$lte": "2024-03-01T10:00:00.000000Z"}})), ["bob"]);
        // On array fields any element may satisfy the range.
        assert_eq!(filter(json!({"teams": {"$in": ["red"]}, "id": {"$lt": "b"}})), ["alice"]);
        assert_eq!(filter(json!({"tags": {"$gte": 1}})), ["carol"]);
        // Mixed-form id ranges via the documented id_gt… options.
        assert_eq!(ids(json!({"id_gt": "alice", "id_lte": "carol"})), ["carol", "bob"]);
        assert_eq!(ids(json!({"id_gte": "carol", "id_lt": "gus", "filter_conditions": {"role": "user"}})), ["carol"]);
    }

    #[test]
    fn exists() {
        assert_eq!(filter(json!({"age": {"$exists": true}})), ["carol", "bob", "alice", "gus"]);
        assert_eq!(filter(json!({"age": {"$exists": false}})), ["dave"]);
        assert_eq!(filter(json!({"nick": {"$exists": true}})), Vec::<String>::new()); // null is absent
        assert_eq!(filter(json!({"teams": {"$exists": false}})), ["dave", "gus"]);
    }

    #[test]
    fn autocomplete() {
        assert_eq!(filter(json!({"name": {"$autocomplete": "ali"}})), ["alice"]);
        assert_eq!(filter(json!({"name": {"$autocomplete": "LID"}})), ["alice"]); // second word, any case
        assert_eq!(filter(json!({"name": {"$autocomplete": "idd"}})), Vec::<String>::new()); // not mid-word
        assert_eq!(filter(json!({"name": {"$autocomplete": "NEIL"}})), ["carol"]); // after a symbol
        assert_eq!(filter(json!({"name": {"$autocomplete": "o'ne"}})), ["carol"]);
        assert_eq!(filter(json!({"name": {"$autocomplete": " alice lid "}})), ["alice"]);
        assert_eq!(filter(json!({"id": {"$autocomplete": "d"}})), ["dave"]);
        assert_eq!(filter(json!({"name": {"$autocomplete": "s"}})), ["bob"]); // "Stone"
        assert_eq!(filter(json!({"age": {"$autocomplete": "3"}})), Vec::<String>::new()); // numbers are not text
        assert_eq!(filter(json!({"teams": {"$autocomplete": "bl"}})), ["bob", "alice"]); // array of strings
        let u = [obj(json!({"id": "x", "name": "Élodie Ärger", "created_at": "2024-01-01T00:00:00Z"}))];
        let q = parse(r#"{"filter_conditions":{"name":{"$autocomplete":"ärg"}}}"#).unwrap();
        assert_eq!(run(&q, &u).len(), 1);
        let q = parse(r#"{"filter_conditions":{"name":{"$autocomplete":"ÉLO"}}}"#).unwrap();
        assert_eq!(run(&q, &u).len(), 1);
        // Greek: final sigma (ς) and σ are one letter, in the query and in the field.
        let g = [obj(json!({"id": "g", "name": "ΟΔΥΣΣΕΥΣ Ιθάκης", "created_at": "2024-01-01T00:00:00Z"}))];
        for query in ["οδυσσευσ", "οδυσσευς", "ΟΔΥΣ"] {
            let q = parse(&json!({"filter_conditions": {"name": {"$autocomplete": query}}}).to_string()).unwrap();
            assert_eq!(run(&q, &g).len(), 1, "{query}");
        }
    }

    #[test]
    fn teams_and_contains() {
        assert_eq!(filter(json!({"teams": "blue"})), ["bob", "alice"]);
        assert_eq!(filter(json!({"teams": {"$eq": "red"}})), ["alice"]); // erin is deactivated
        assert_eq!(filter(json!({"teams": {"$in": ["red", "green"]}})), ["alice"]);
        assert_eq!(filter(json!({"teams": {"$in": ["blue", "red"]}})), ["bob", "alice"]);
        assert_eq!(filter(json!({"teams": {"$contains": "blue"}})), ["bob", "alice"]);
        assert_eq!(filter(json!({"teams": null})), ["dave", "carol", "gus"]); // none or empty
        assert_eq!(filter(json!({"teams": {"$ne": null}})), ["bob", "alice"]);
        assert_eq!(filter(json!({"teams": {"$ne": "red"}})), ["dave", "carol", "bob", "gus"]);
        assert_eq!(filter(json!({"teams": {"$nin": ["blue"]}})), ["dave", "carol", "gus"]);
        assert_eq!(filter(json!({"tags": {"$contains": 1}})), ["carol"]);
        assert_eq!(filter(json!({"tags": {"$contains": 1.0}})), ["carol"]);
        assert_eq!(filter(json!({"tags": {"$contains": "y"}})), Vec::<String>::new());
        assert_eq!(filter(json!({"name": {"$contains": "Bob"}})), Vec::<String>::new()); // not an array
        assert_eq!(filter(json!({"tags": "x"})), ["carol"]);
    }

    #[test]
    fn logical_operators_and_nesting() {
        assert_eq!(filter(json!({"$or": [{"id": "alice"}, {"race": "Elf"}]})), ["dave", "alice"]);
        assert_eq!(filter(json!({"$and": [{"race": "Hobbit"}, {"age": {"$gt": 30}}]})), ["carol"]);
        assert_eq!(filter(json!({"$nor": [{"race": "Hobbit"}, {"role": "admin"}]})), ["dave", "gus"]);
        assert_eq!(
            filter(
                json!({"role": "user", "$or": [{"$and": [{"race": "Hobbit"}, {"banned": true}]}, {"age": {"$lt": 29}, "race": {"$exists": false}}]})
            ),
            ["bob", "gus"]
        );
        assert_eq!(filter(json!({"$and": [{}]})), ["dave", "carol", "bob", "alice", "gus"]);
        assert_eq!(filter(json!({"$or": [{}, {"id": "nobody"}]})).len(), 5);
        assert_eq!(filter(json!({"$nor": [{}]})), Vec::<String>::new());
        assert_eq!(filter(json!({"$or": [{"$nor": [{"id": {"$ne": "bob"}}]}]})), ["bob"]);
    }

    #[test]
    fn sorting() {
        let sorted = |sort: Value| ids(json!({ "sort": sort }));
        // Numbers numerically; dave (no age) last in both directions.
        assert_eq!(sorted(json!([{"field": "age", "direction": -1}])), ["carol", "alice", "gus", "bob", "dave"]);
        assert_eq!(sorted(json!([{"field": "age", "direction": 1}])), ["bob", "gus", "alice", "carol", "dave"]);
        assert_eq!(sorted(json!([{"field": "id", "direction": 1}])), ["alice", "bob", "carol", "dave", "gus"]);
        assert_eq!(sorted(json!([{"field": "created_at", "direction": 1}])), ["gus", "alice", "bob", "carol", "dave"]);
        // Ties keep the input order; secondary fields break them.
        assert_eq!(sorted(json!([{"field": "race", "direction": 1}])), ["dave", "bob", "carol", "alice", "gus"]);
        assert_eq!(
            sorted(json!([{"field": "race", "direction": 1}, {"field": "id", "direction": -1}])),
            ["dave", "carol", "bob", "alice", "gus"]
        );
        assert_eq!(
            sorted(json!([{"field": "banned", "direction": -1}, {"field": "age", "direction": 1}])),
            ["bob", "alice", "carol", "dave", "gus"]
        );
        // Timestamps sort as instants even when written differently.
        assert_eq!(
            sorted(json!([{"field": "last_active", "direction": -1}])),
            ["alice", "bob", "carol", "dave", "gus"]
        );
        // Unknown field: everyone ties, input order.
        assert_eq!(sorted(json!([{"field": "nope", "direction": -1}])), ["alice", "bob", "carol", "dave", "gus"]);
        // Mixed types give a consistent order (bool < number < time < string < other).
        let users: Vec<User> = [
            json!(true),
            json!(3),
            json!("2024-01-01T00:00:00Z"),
            json!("abc"),
            json!([1]),
            json!({"a": 1}),
            json!(null),
            json!(-1.5),
            json!("2023-01-01T00:00:00Z"),
            json!("Abc"),
            json!(false),
        ]
        .into_iter()
        .enumerate()
        .map(|(i, v)| obj(json!({"id": format!("u{i}"), "v": v})))
        .collect();
        let q = UserQuery { sort: vec![("v".into(), 1)], ..UserQuery::default() };
        let got: Vec<&str> = run(&q, &users).iter().map(|u| u["id"].as_str().unwrap()).collect();
        assert_eq!(got, ["u10", "u0", "u7", "u1", "u8", "u2", "u9", "u3", "u4", "u5", "u6"]);
    }

    #[test]
    fn pagination() {
        let page = |limit: usize, offset: usize| {
            ids(json!({"limit": limit, "offset": offset, "sort": [{"field": "id", "direction": 1}]}))
        };
        assert_eq!(page(2, 0), ["alice", "bob"]);
        assert_eq!(page(2, 2), ["carol", "dave"]);
        assert_eq!(page(2, 4), ["gus"]);
        assert!(page(2, 5).is_empty());
        assert!(page(100, 1000).is_empty());
        assert_eq!(page(0, 1), ["bob", "carol", "dave", "gus"]); // 0 means the default 30
        let many: Vec<User> =
            (0..150).map(|i| obj(json!({"id": format!("u{i:03}"), "created_at": "2024-01-01T00:00:00Z"}))).collect();
        assert_eq!(run(&parse("{}").unwrap(), &many).len(), 30);
        assert_eq!(run(&parse(r#"{"limit":100}"#).unwrap(), &many).len(), 100);
        let last = run(&parse(r#"{"limit":100,"offset":100}"#).unwrap(), &many);
        assert_eq!(last.len(), 50);
        assert_eq!(last[0]["id"], "u049"); // newest first, then id descending
                                           // A hand-built query with limit 0 also uses the default.
        let q = UserQuery { limit: 0, ..UserQuery::default() };
        assert_eq!(run(&q, &many).len(), 30);
    }

    #[test]
    fn unvalidated_filters_are_not_expressions() {
        for f in [
            json!([]),
            json!("x"),
            json!({"$and": 1}),
            json!({"$nor": "x"}),
            json!({"$foo": 1}),
            json!({"id": {}}),
            json!({"id": {"$in": "alice"}}),
            json!({"age": {"$exists": 1}}),
            json!({"name": {"$autocomplete": "!!"}}),
            json!({"id": {"$bogus": 1}}),
        ] {
            assert!(parse_filter(&f).is_err(), "{f}");
        }
        // A hand-built `$autocomplete` without a letter or digit matches nothing.
        let text = "!!".to_string();
        let cond = Cond::Autocomplete { folded: text.clone(), text };
        let q = UserQuery {
            filter: Filter { conditions: vec![Condition::Field { field: "name".into(), cond }] },
            ..UserQuery::default()
        };
        assert!(ids_of(&q).is_empty());
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in any::<String>()) {
            let _ = parse(&s);
        }

        #[test]
        fn parse_never_panics_on_jsonish(s in r#"[{}\[\]":,$a-z0-9 .\-]{0,80}"#) {
            let _ = parse(&s);
            let _ = parse(&format!(r#"{{"filter_conditions":{s}}}"#));
        }

        #[test]
        fn parse_and_run_never_panic_on_generated_filters(
            ops in proptest::collection::vec((
                proptest::sample::select(vec!["id", "name", "age", "teams", "tags", "created_at", "$and", "$or", "$nor"]),
                proptest::sample::select(vec!["$eq", "$ne", "$in", "$nin", "$gt", "$gte", "$lt", "$lte", "$exists", "$autocomplete", "$contains", "$q", "$x", ""]),
                0usize..10,
            ), 0..6),
            limit in 0i64..120, offset in -2i64..1100, dir in -2i64..3,
        ) {
            let samples = [json!(null), json!(""), json!("a"), json!(30), json!(true), json!(["red"]), json!([]), json!({}), json!("2024-01-02T00:00:00Z"), json!([{"id": "bob"}])];
            let mut f = Map::new();
            for (field, op, i) in ops {
                let v = samples[i % samples.len()].clone();
                let cond = if op.is_empty() { v } else { json!({ op: v }) };
                f.insert(field.to_string(), cond);
            }
            let payload = json!({"filter_conditions": f, "limit": limit, "offset": offset, "sort": [{"field": "age", "direction": dir}]});
            if let Ok(q) = parse(&payload.to_string()) {
                let users = fixture();
                let out = run(&q, &users);
                prop_assert!(out.len() <= q.limit);
            }
        }
    }
}
