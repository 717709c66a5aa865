//! `filter_conditions` of `queryUsers`: [`parse_filter`] checks the object (every mistake is a
//! 400, code 4) and turns it into a [`Filter`], a typed expression that holds only what was
//! checked; [`Filter::matches`] evaluates it on a user. A filter nested deeper than the parser
//! allows (only a hand-built one can be) matches nothing below that depth.

use crate::core::wire::error::ApiError;
use crate::core::wire::time::Timestamp;
use serde_json::{Map, Value};
use std::cmp::Ordering;

type User = Map<String, Value>;

/// How deep `$and`/`$or`/`$nor` may nest.
pub const MAX_DEPTH: usize = 32;

/// Stream's message for an `$autocomplete` with nothing to complete.
pub const AUTOCOMPLETE_INVALID: &str =
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

/// Case folding for `$autocomplete`: each character's lowercase, with final sigma (ς) folded
/// into σ so that Greek words match whatever their position (and without `str::to_lowercase`'s
/// context rules, whose tables cost 6 KB of gzip in the package).
pub(crate) fn fold_case(s: &str) -> String {
    s.chars().flat_map(char::to_lowercase).map(|c| if c == 'ς' { 'σ' } else { c }).collect()
}
