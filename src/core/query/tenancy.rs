//! What a user token may see and write, beyond "only itself": tenants, search permissions,
//! server-only and hidden fields. Server tokens are never restricted here.
//!
//! - `multi_tenant_enabled`: a user-token query only ever returns users who share a team with
//!   the caller (users without teams, for a caller without teams). The filter is intersected
//!   with the caller's teams, so no operator, sort or paging trick can reach past them; a
//!   `teams` condition naming a team the caller is not in is refused outright.
//! - `user_search_disallowed_roles`: user tokens of those roles may not query users.
//! - `roster_server_only_fields` (Roster's own setting): dotted paths a user token may not set
//!   or unset, by partial update, upsert or connect; what it omits keeps its stored value.
//! - `roster_hidden_fields`: dotted paths user tokens never see in responses and cannot filter
//!   or sort on.

use super::filter::{Cond, Condition, Filter};
use super::payload::UserQuery;
use crate::core::access::auth::Caller;
use crate::core::model::partial::{FieldPath, PartialUpdate};
use crate::core::model::settings::AppSettings;
use crate::core::model::user::{self, User};
use crate::core::wire::error::{ApiError, Result};
use serde_json::{Map, Value};

fn not_allowed(msg: String) -> ApiError {
    ApiError::not_allowed(msg)
}

/// The value at `path` in `u`, if every segment exists.
fn get<'a>(u: &'a User, path: &FieldPath) -> Option<&'a Value> {
    let (first, rest) = path.segments.split_first()?;
    let mut v = u.get(first)?;
    for seg in rest {
        v = v.as_object()?.get(seg)?;
    }
    Some(v)
}

/// Whether `input` says something about `path`: a value at the path, or a value that is not an
/// object at one of its parents (which would replace the path away).
fn mentions(input: &User, path: &FieldPath) -> bool {
    let Some((first, rest)) = path.segments.split_first() else { return false };
    let Some(mut v) = input.get(first) else { return false };
    for seg in rest {
        match v {
            Value::Object(m) => match m.get(seg) {
                Some(next) => v = next,
                None => return false,
            },
            _ => return true,
        }
    }
    true
}

/// Puts `value` at `path` (creating parent objects), or removes the path when `None`.
fn put(u: &mut User, path: &FieldPath, value: Option<&Value>) {
    let Some((last, parents)) = path.segments.split_last() else { return };
    let mut map = u;
    for seg in parents {
        if value.is_none() && !map.get(seg).is_some_and(Value::is_object) {
            return;
        }
        let slot = map.entry(seg.clone()).or_insert_with(|| Value::Object(Map::new()));
        if !slot.is_object() {
            *slot = Value::Object(Map::new());
        }
        let Value::Object(inner) = slot else { return };
        map = inner;
    }
    match value {
        Some(v) => {
            map.insert(last.clone(), v.clone());
        }
        None => {
            map.remove(last);
        }
    }
}

fn refused_field(caller_id: &str, path: &FieldPath) -> ApiError {
    not_allowed(format!(
        "User '{caller_id}' is not allowed to change field '{}': it can only be set server-side",
        path.raw
    ))
}

/// A user token's partial update may not touch a server-only path (set or unset, even to the
/// stored value, as for `role`).
pub fn check_partial(upd: &PartialUpdate, caller: &Caller, settings: &AppSettings) -> Result<()> {
    let Caller::User(id) = caller else { return Ok(()) };
    for guarded in settings.server_only_fields() {
        if upd.set.iter().map(|(p, _)| p).chain(&upd.unset).any(|p| p.overlaps(&guarded)) {
            return Err(refused_field(id, &guarded));
        }
    }
    Ok(())
}

/// A user token's upsert or connect (`input`: what it sent) may not change a server-only path;
/// paths it does not mention keep their stored values in `new`.
pub fn guard_write(
    old: Option<&User>,
    input: &User,
    new: &mut User,
    caller: &Caller,
    settings: &AppSettings,
) -> Result<()> {
    let Caller::User(id) = caller else { return Ok(()) };
    for guarded in settings.server_only_fields() {
        let before = old.and_then(|o| get(o, &guarded)).cloned();
        if get(new, &guarded) == before.as_ref() {
            continue;
        }
        if mentions(input, &guarded) {
            return Err(refused_field(id, &guarded));
        }
        put(new, &guarded, before.as_ref());
    }
    Ok(())
}

/// What a caller sees of a stored user: internal markers removed and, for a user token, the
/// app's hidden paths.
pub fn shown(u: &User, caller: &Caller, settings: &AppSettings) -> User {
    let mut out = user::public_view(u);
    if let Caller::User(_) = caller {
        for hidden in settings.hidden_fields() {
            put(&mut out, &hidden, None);
        }
    }
    out
}

/// Calls `f` with every `(field, condition)` of a filter, nested `$and`/`$or`/`$nor` included.
fn each_condition<'a>(filter: &'a Filter, f: &mut dyn FnMut(&'a str, &'a Cond), depth: usize) {
    if depth > 40 {
        return;
    }
    for condition in &filter.conditions {
        match condition {
            Condition::And(items) | Condition::Or(items) | Condition::Nor(items) => {
                for item in items {
                    each_condition(item, f, depth + 1);
                }
            }
            Condition::Field { field, cond } => f(field, cond),
        }
    }
}

/// The teams named by the `teams` conditions anywhere in a filter: every string operand.
fn named_teams(filter: &Filter) -> Vec<&str> {
    let mut out = Vec::new();
    each_condition(
        filter,
        &mut |field, cond| {
            if field != "teams" {
                return;
            }
            match cond {
                Cond::Eq(v)
                | Cond::Ne(v)
                | Cond::Gt(v)
                | Cond::Gte(v)
                | Cond::Lt(v)
                | Cond::Lte(v)
                | Cond::Contains(v) => match v {
                    Value::String(s) => out.push(s.as_str()),
                    Value::Array(items) => out.extend(items.iter().filter_map(Value::as_str)),
                    _ => {}
                },
                Cond::In(items) | Cond::Nin(items) => out.extend(items.iter().filter_map(Value::as_str)),
                Cond::Autocomplete { text, .. } => out.push(text.as_str()),
                Cond::Exists(_) => {}
            }
        },
        0,
    );
    out
}

/// The fields a filter conditions on, anywhere in it.
fn filtered_fields(filter: &Filter) -> Vec<&str> {
    let mut out = Vec::new();
    each_condition(filter, &mut |field, _| out.push(field), 0);
    out
}

/// A query as a caller may run it: unchanged for a server token; for a user token, refused when
/// its role may not search or it conditions or sorts on a hidden field, and limited to the
/// caller's tenants in a multi-tenant app. `caller_user` is the caller's stored record.
pub fn restrict_query(
    q: UserQuery,
    caller: &Caller,
    caller_user: Option<&User>,
    settings: &AppSettings,
) -> Result<UserQuery> {
    let Caller::User(id) = caller else { return Ok(q) };
    let role = caller_user.map_or("user", user::role_of);
    if settings.search_disallowed_roles().iter().any(|r| r == role) {
        return Err(not_allowed(format!(
            "User '{id}' with role '{role}' is not allowed to perform action SearchUser in scope 'app'"
        )));
    }
    let hidden = settings.hidden_fields();
    if !hidden.is_empty() {
        let mut fields = filtered_fields(&q.filter);
        fields.extend(q.sort.iter().map(|(f, _)| f.as_str()));
        if let Some(f) = fields.into_iter().find(|f| hidden.iter().any(|h| h.top() == *f)) {
            return Err(not_allowed(format!("User '{id}' is not allowed to filter or sort on field '{f}'")));
        }
    }
    if !settings.multi_tenant() {
        return Ok(q);
    }
    let mine: Vec<&str> = caller_user.map(user::teams_of).unwrap_or_default();
    if let Some(t) = named_teams(&q.filter).into_iter().find(|t| !mine.contains(t)) {
        return Err(not_allowed(format!("User '{id}' is not allowed to query users of team '{t}'")));
    }
    let tenants =
        if mine.is_empty() { Cond::Eq(Value::Null) } else { Cond::In(mine.iter().map(|t| Value::from(*t)).collect()) };
    let limit = Filter { conditions: vec![Condition::Field { field: "teams".into(), cond: tenants }] };
    let mut q = q;
    let filter = std::mem::take(&mut q.filter);
    q.filter = Filter { conditions: vec![Condition::And(vec![filter, limit])] };
    Ok(q)
}
