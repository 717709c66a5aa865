//! The `payload` of `queryUsers` (`GET /users?payload=…`): [`parse`] validates all of it up
//! front (every mistake is a 400, code 4) into a [`UserQuery`]: the filter (`filter.rs`), sort,
//! paging, flags and cursors; and what a query selects, in which order, and where its page ends.

use super::filter::{parse_filter, Cond, Condition, Filter};
use crate::core::wire::error::ApiError;
use serde_json::{Map, Value};

type User = Map<String, Value>;

const DEFAULT_LIMIT: usize = 30;
const MAX_LIMIT: usize = 100;
const MAX_OFFSET: usize = 1000;
const MAX_SORT_FIELDS: usize = 5;
/// Stream's documented default order: newest first.
const DEFAULT_SORT: [(&str, i8); 2] = [("created_at", -1), ("id", -1)];

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
