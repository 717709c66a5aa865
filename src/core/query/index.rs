//! How stored users are indexed for queries, and how a query uses those indexes.
//!
//! A user is stored with [`IndexRow`] columns next to its record (`row.rs`). [`plan`] reads a
//! query's filter and picks one index lookup that yields a *superset* of the users the filter
//! can match ([`Candidates`]), plus whether storage can also return them in the query's sort
//! order ([`Plan::order`]). The filter itself stays the residual: the shell evaluates it over the
//! candidates with [`order::run`] (candidates in id order) or [`order::InOrder`] (candidates
//! already sorted, so reading stops once the page is full). Only conditions whose meaning an
//! index reproduces exactly are used; anything else (a `$or`, a custom field) falls back to
//! [`Candidates::All`], a scan of the stored rows.
//!
//! [`Candidates::admits`] is the reference meaning of each lookup; the Writer's SQL implements
//! it and the tests compare both with a full scan.

use super::filter::{Cond, Condition, Filter};
use super::order;
use super::payload::{self, UserQuery};
use super::row::{index_word, prefix_end, IndexRow};
use crate::core::model::normalize::normalize;
use crate::core::model::set;
use crate::core::model::user::User;
use crate::core::wire::time::Timestamp;
use serde_json::Value;

/// A column storage can sort by in exactly the order the core sorts: each holds a string
/// that is never a timestamp (ids) or always a canonical one (server-written times).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Column {
    Id,
    CreatedAt,
    UpdatedAt,
    LastActive,
}

impl Column {
    pub fn name(self) -> &'static str {
        match self {
            Column::Id => "id",
            Column::CreatedAt => "created_at",
            Column::UpdatedAt => "updated_at",
            Column::LastActive => "last_active",
        }
    }
    fn of_field(field: &str) -> Option<Column> {
        match field {
            "id" => Some(Column::Id),
            "created_at" => Some(Column::CreatedAt),
            "updated_at" => Some(Column::UpdatedAt),
            "last_active" => Some(Column::LastActive),
            _ => None,
        }
    }
    /// Whether the column may be absent (absent values sort last, whatever the direction).
    pub fn nullable(self) -> bool {
        self == Column::LastActive
    }
    /// This column of a user: its id, or an [`IndexRow`] time.
    pub fn value<'a>(self, id: &'a str, row: &'a IndexRow) -> Option<&'a str> {
        match self {
            Column::Id => Some(id),
            Column::CreatedAt => row.created_at.as_deref(),
            Column::UpdatedAt => row.updated_at.as_deref(),
            Column::LastActive => row.last_active.as_deref(),
        }
    }
}

/// One end of a time range, in canonical form.
#[derive(Clone, Debug, PartialEq)]
pub struct Bound {
    pub value: String,
    pub inclusive: bool,
}

/// The index lookup of a plan: which stored users may match.
#[derive(Clone, Debug, PartialEq)]
pub enum Candidates {
    /// Every stored user (a scan).
    All,
    /// Users with one of these ids.
    Ids(Vec<String>),
    /// Users in at least one of these teams.
    Teams(Vec<String>),
    /// Users with one of these roles.
    Roles(Vec<String>),
    /// Users whose normalized name is this.
    NameNorm(String),
    /// Users with an indexed name word starting with this [`index_word`], and every user
    /// marked `name_overflow`.
    NamePrefix(String),
    /// Users whose time column lies in the range.
    Range { column: Column, lower: Option<Bound>, upper: Option<Bound> },
    /// Users whose custom field (a plain name) holds this value, or an array: the record is
    /// read inside storage (`json_extract`), not parsed in wasm.
    CustomEq { field: String, value: CustomValue },
}

/// A custom-field value storage compares exactly as the core does: a string that is no
/// timestamp, or an integer within ±2^53.
#[derive(Clone, Debug, PartialEq)]
pub enum CustomValue {
    Text(String),
    Int(i64),
}

impl Candidates {
    /// Whether a stored user is a candidate (what the SQL lookup returns).
    pub fn admits(&self, id: &str, row: &IndexRow, record: &User) -> bool {
        match self {
            Candidates::All => true,
            Candidates::CustomEq { field, value } => match record.get(field) {
                Some(Value::Array(_)) => true,
                Some(Value::String(s)) => *value == CustomValue::Text(s.clone()),
                Some(Value::Number(n)) => match value {
                    CustomValue::Int(i) => n.as_f64() == Some(*i as f64),
                    CustomValue::Text(_) => false,
                },
                _ => false,
            },
            Candidates::Ids(ids) => ids.iter().any(|i| i == id),
            Candidates::Teams(teams) => row.teams.iter().any(|t| teams.contains(t)),
            Candidates::Roles(roles) => row.role.as_ref().is_some_and(|r| roles.contains(r)),
            Candidates::NameNorm(n) => row.name_norm.as_ref() == Some(n),
            Candidates::NamePrefix(p) => {
                let end = prefix_end(p);
                row.name_overflow || row.name_words.iter().any(|w| w.as_str() >= p.as_str() && *w < end)
            }
            Candidates::Range { column, lower, upper } => column.value(id, row).is_some_and(|v| {
                let above = lower.as_ref().is_none_or(|b| v > b.value.as_str() || b.inclusive && v == b.value);
                let below = upper.as_ref().is_none_or(|b| v < b.value.as_str() || b.inclusive && v == b.value);
                above && below
            }),
        }
    }

    /// Preference among lookups found in one filter: the most selective kind first.
    fn rank(&self) -> u8 {
        match self {
            Candidates::Ids(_) => 0,
            Candidates::NameNorm(_) => 1,
            Candidates::NamePrefix(_) => 2,
            Candidates::Teams(_) => 3,
            Candidates::Roles(_) => 4,
            Candidates::Range { .. } => 5,
            Candidates::CustomEq { .. } => 6,
            Candidates::All => 7,
        }
    }
}

/// How a query reads storage.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub candidates: Candidates,
    /// `Some`: storage returns candidates in this order (column, descending), which is the
    /// query's own order with ties broken by id; read them through [`order::InOrder`].
    /// `None`: storage returns candidates by id, ascending, and [`order::run`] sorts them.
    pub order: Option<Vec<(Column, bool)>>,
    /// Whether deactivated users can be returned (otherwise storage may skip them).
    pub include_deactivated: bool,
}

/// The plan for a query: an index lookup from its filter's top-level conditions, and the sort
/// pushed to storage when every sort field is a [`Column`].
pub fn plan(q: &UserQuery) -> Plan {
    let mut conjuncts = Vec::new();
    conjuncts_of(&q.filter, &mut conjuncts, 0);
    let mut best = Candidates::All;
    let mut ranges: Vec<(Column, RangeEnd, &Value)> = Vec::new();
    for (field, cond) in conjuncts {
        if let Some(c) = lookup(field, cond) {
            if c.rank() < best.rank() {
                best = c;
            }
        } else if let Some(column) = Column::of_field(field).filter(|c| *c != Column::Id) {
            if let Some((end, operand)) = range_end(cond).filter(|(_, x)| time_operand(x).is_some()) {
                ranges.push((column, end, operand));
            }
        }
    }
    if best == Candidates::All {
        if let Some(range) = range_of(&ranges) {
            best = range;
        }
    }
    Plan { candidates: best, order: order_of(q), include_deactivated: q.include_deactivated_users }
}

/// [`Plan::order`]: the query's sort as storage applies it, when every sort field is a
/// [`Column`] (each column once, then `id` ascending unless the sort has it).
pub fn order_of(q: &UserQuery) -> Option<Vec<(Column, bool)>> {
    let mut order = Vec::new();
    for (field, dir) in payload::sort_of(q) {
        let c = Column::of_field(field)?;
        if !order.iter().any(|(o, _)| *o == c) {
            order.push((c, dir < 0));
        }
    }
    if !order.iter().any(|(c, _)| *c == Column::Id) {
        order.push((Column::Id, false));
    }
    Some(order)
}

/// The `(field, condition)`s that every match must satisfy: the top-level fields and those of
/// nested `$and`s.
fn conjuncts_of<'a>(filter: &'a Filter, out: &mut Vec<(&'a str, &'a Cond)>, depth: usize) {
    if depth > 32 {
        return;
    }
    for condition in &filter.conditions {
        match condition {
            Condition::And(items) => {
                for item in items {
                    conjuncts_of(item, out, depth + 1);
                }
            }
            Condition::Or(_) | Condition::Nor(_) => {}
            Condition::Field { field, cond } => out.push((field, cond)),
        }
    }
}

/// A string the core compares as text only (not as a timestamp): index lookups by value are
/// exact for those.
fn plain_str(v: &Value) -> Option<&str> {
    v.as_str().filter(|s| Timestamp::parse(s).is_none())
}

fn plain_strs(items: &[Value]) -> Option<Vec<String>> {
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        // Sorted by insertion: a sort would link a sorting routine of its own.
        set::insert(&mut out, plain_str(item)?.to_string());
    }
    Some(out)
}

/// The lookup a single condition allows, if any.
fn lookup(field: &str, cond: &Cond) -> Option<Candidates> {
    match (field, cond) {
        ("id", Cond::Eq(x)) => plain_str(x).map(|s| Candidates::Ids(vec![s.to_string()])),
        ("id", Cond::In(xs)) => plain_strs(xs).map(Candidates::Ids),
        ("teams", Cond::Eq(x) | Cond::Contains(x)) => plain_str(x).map(|s| Candidates::Teams(vec![s.to_string()])),
        ("teams", Cond::In(xs)) => plain_strs(xs).map(Candidates::Teams),
        ("role", Cond::Eq(x)) => plain_str(x).map(|s| Candidates::Roles(vec![s.to_string()])),
        ("role", Cond::In(xs)) => plain_strs(xs).map(Candidates::Roles),
        ("name", Cond::Eq(x)) => plain_str(x).map(|s| Candidates::NameNorm(normalize(s))),
        (field, Cond::Eq(x)) if is_plain_custom(field) => {
            custom_value(x).map(|value| Candidates::CustomEq { field: field.to_string(), value })
        }
        ("name", Cond::Autocomplete { folded, .. }) => {
            folded.chars().any(char::is_alphanumeric).then(|| Candidates::NamePrefix(index_word(folded)))
        }
        _ => None,
    }
}

/// A custom field whose name needs no quoting in a JSON path.
fn is_plain_custom(field: &str) -> bool {
    crate::core::model::user::is_custom(field)
        && !field.is_empty()
        && field.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Integers beyond ±2^53 and floats are compared by the core as `f64`, which SQLite does not
/// reproduce exactly: those stay in the residual filter only.
fn custom_value(x: &Value) -> Option<CustomValue> {
    const EXACT: i64 = 1 << 53;
    match x {
        Value::String(_) => plain_str(x).map(|s| CustomValue::Text(s.to_string())),
        Value::Number(n) => n.as_i64().filter(|i| (-EXACT..=EXACT).contains(i)).map(CustomValue::Int),
        _ => None,
    }
}

fn time_operand(x: &Value) -> Option<String> {
    x.as_str().and_then(Timestamp::parse).map(|t| t.to_string())
}

/// Which end of a range a `$gt`/`$gte`/`$lt`/`$lte` condition bounds.
#[derive(Clone, Copy)]
struct RangeEnd {
    lower: bool,
    inclusive: bool,
}

fn range_end(cond: &Cond) -> Option<(RangeEnd, &Value)> {
    let end = |lower, inclusive| RangeEnd { lower, inclusive };
    match cond {
        Cond::Gt(x) => Some((end(true, false), x)),
        Cond::Gte(x) => Some((end(true, true), x)),
        Cond::Lt(x) => Some((end(false, false), x)),
        Cond::Lte(x) => Some((end(false, true), x)),
        _ => None,
    }
}

/// A range on one time column from its `$gt`/`$gte`/`$lt`/`$lte` conditions (the column of
/// the first; the tightest bound of each side).
fn range_of(conds: &[(Column, RangeEnd, &Value)]) -> Option<Candidates> {
    let (column, _, _) = *conds.first()?;
    let mut lower: Option<Bound> = None;
    let mut upper: Option<Bound> = None;
    for (c, end, x) in conds {
        let (Some(value), true) = (time_operand(x), *c == column) else { continue };
        let b = Bound { value, inclusive: end.inclusive };
        if end.lower {
            if lower.as_ref().is_none_or(|l| b.value > l.value || b.value == l.value && !b.inclusive) {
                lower = Some(b);
            }
        } else if upper.as_ref().is_none_or(|u| b.value < u.value || b.value == u.value && !b.inclusive) {
            upper = Some(b);
        }
    }
    Some(Candidates::Range { column, lower, upper })
}

/// Orders candidates the way storage does for `plan` (for tests and in-memory shells).
pub fn storage_order(plan: &Plan, a: (&str, &IndexRow), b: (&str, &IndexRow)) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let Some(order) = &plan.order else { return a.0.cmp(b.0) };
    for (column, desc) in order {
        let o = order::sort_cmp(column.value(a.0, a.1), column.value(b.0, b.1), *desc, |x, y| x.cmp(y));
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}
