//! Stream's current server API, `/api/v2/...` (`@stream-io/node-sdk`, PyPI `getstream`): the same
//! operations with the user's custom data nested in a `custom` object instead of spread at the
//! top level. These functions translate requests into the flat shape the core works on and
//! responses back, so one user is stored once and reads the same through both API versions.

use super::error::{ApiError, Result};
use super::user;
use serde_json::{Map, Value};

const CUSTOM: &str = "custom";

/// A `/api/v2` user: built-in fields at the top, `custom`'s members spread next to them.
/// `custom` may not hold a built-in or server-computed field.
pub fn user_in(v: &Value, label: &str) -> Result<Value> {
    let Value::Object(input) = v else { return Ok(v.clone()) };
    let mut flat = Map::new();
    for (k, val) in input {
        if k != CUSTOM {
            flat.insert(k.clone(), val.clone());
        }
    }
    match input.get(CUSTOM) {
        None | Some(Value::Null) => {}
        Some(Value::Object(custom)) => {
            for (k, val) in custom {
                if !user::is_custom(k) {
                    let name = format!("{label}.custom.{k}");
                    return Err(ApiError::field(name.clone(), format!("{name} is a reserved field")));
                }
                flat.insert(k.clone(), val.clone());
            }
        }
        Some(_) => {
            let name = format!("{label}.custom");
            return Err(ApiError::field(name.clone(), format!("{name} must be an object")));
        }
    }
    Ok(Value::Object(flat))
}

/// A stored (flat) user as `/api/v2` returns it: custom fields moved into `custom`.
pub fn user_out(u: &Value) -> Value {
    let Value::Object(flat) = u else { return u.clone() };
    let mut out = Map::new();
    let mut custom = Map::new();
    for (k, v) in flat {
        if user::is_custom(k) {
            custom.insert(k.clone(), v.clone());
        } else {
            out.insert(k.clone(), v.clone());
        }
    }
    out.insert(CUSTOM.into(), Value::Object(custom));
    Value::Object(out)
}

/// `POST /api/v2/users` `{users: {id: user}}` in the flat shape.
pub fn upsert_in(body: &Value) -> Result<Value> {
    let mut body = body.clone();
    if let Some(Value::Object(users)) = body.get_mut("users") {
        for (id, u) in users.iter_mut() {
            *u = user_in(u, &format!("users[{id}]"))?;
        }
    }
    Ok(body)
}

/// A path of a `/api/v2` partial update, addressed to the flat user: `custom.a.b` is `a.b`.
fn path_in(path: &str) -> &str {
    path.strip_prefix("custom.").unwrap_or(path)
}

/// `PATCH /api/v2/users` `{users: [{id, set, unset}]}` in the flat shape: `custom.x` paths are
/// `x`, and `set: {custom: {…}}` sets each member. Unsetting `custom` as a whole is refused.
pub fn partial_in(body: &Value) -> Result<Value> {
    let mut body = body.clone();
    let Some(Value::Array(entries)) = body.get_mut("users") else { return Ok(body) };
    for entry in entries.iter_mut() {
        let Value::Object(e) = entry else { continue };
        if let Some(Value::Object(set)) = e.get("set") {
            let mut flat = Map::new();
            for (k, v) in set {
                match (k.as_str(), v) {
                    (CUSTOM, Value::Object(members)) => {
                        for (mk, mv) in members {
                            flat.insert(mk.clone(), mv.clone());
                        }
                    }
                    (CUSTOM, _) => return Err(ApiError::field("set.custom", "set.custom must be an object")),
                    _ => {
                        flat.insert(path_in(k).to_string(), v.clone());
                    }
                }
            }
            e.insert("set".into(), Value::Object(flat));
        }
        if let Some(Value::Array(unset)) = e.get("unset") {
            let mut flat = Vec::with_capacity(unset.len());
            for p in unset {
                match p.as_str() {
                    Some(CUSTOM) => {
                        return Err(ApiError::field(
                            "unset",
                            "unset custom fields by name (custom.<field>), not custom as a whole",
                        ))
                    }
                    Some(s) => flat.push(Value::from(path_in(s))),
                    None => flat.push(p.clone()),
                }
            }
            e.insert("unset".into(), Value::Array(flat));
        }
    }
    Ok(body)
}

/// A `/api/v2` query filter or sort field: `custom.x` is the custom field `x`.
fn filter_in(filter: &Value, depth: usize) -> Value {
    let Value::Object(conditions) = filter else { return filter.clone() };
    if depth > 40 {
        return filter.clone();
    }
    let mut out = Map::new();
    for (k, v) in conditions {
        let v = match (k.as_str(), v) {
            ("$and" | "$or" | "$nor", Value::Array(items)) => {
                Value::Array(items.iter().map(|i| filter_in(i, depth + 1)).collect())
            }
            _ => v.clone(),
        };
        out.insert(path_in(k).to_string(), v);
    }
    Value::Object(out)
}

/// `GET /api/v2/users?payload=` in the flat shape.
pub fn query_in(payload: &Value) -> Value {
    let mut p = payload.clone();
    if let Value::Object(m) = &mut p {
        if let Some(f) = m.get("filter_conditions").map(|f| filter_in(f, 0)) {
            m.insert("filter_conditions".into(), f);
        }
        if let Some(Value::Array(sort)) = m.get_mut("sort") {
            for item in sort.iter_mut() {
                if let Value::Object(item) = item {
                    if let Some(flat) = item.get("field").and_then(Value::as_str).map(|f| path_in(f).to_string()) {
                        item.insert("field".into(), Value::String(flat));
                    }
                }
            }
        }
    }
    p
}

/// A response of the user routes with every user in the `/api/v2` shape: `users` (a map by id
/// or a list) and `user`.
pub fn response_out(mut body: Value) -> Value {
    match body.get_mut("users") {
        Some(Value::Object(users)) => {
            for u in users.values_mut() {
                *u = user_out(u);
            }
        }
        Some(Value::Array(users)) => {
            for u in users.iter_mut() {
                *u = user_out(u);
            }
        }
        _ => {}
    }
    if let Some(u) = body.get_mut("user") {
        *u = user_out(u);
    }
    // A task's users, or its exports (`{user, messages, reactions}`).
    if let Some(Value::Array(done)) = body.get_mut("result").and_then(|r| r.get_mut("users")) {
        for item in done.iter_mut() {
            match item.get_mut("user") {
                Some(u) => *u = user_out(u),
                None => *item = user_out(item),
            }
        }
    }
    body
}
