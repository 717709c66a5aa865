//! Stream's current server API, `/api/v2/...` (`@stream-io/node-sdk`, PyPI `getstream`): the same
//! operations with the user's custom data nested in a `custom` object instead of spread at the
//! top level, and times as integer nanoseconds since the epoch. These functions translate
//! requests into the flat shape the core works on and responses back, so one user is stored
//! once and reads the same through both API versions.
//!
//! `custom` is its own map on `/api/v2`, so it may hold keys named like built-in fields
//! (`custom: {created_at, role}`). Those are stored apart, in the user's
//! [`user::SHADOWED`] member (an ordinary custom field to the core), and come back in
//! `custom`; a `/api/v1` read shows the built-in field, as Stream's flat shape does, and not
//! the custom key of the same name ([`v1_response_out`]).

use super::user;
use crate::core::wire::error::{ApiError, Result};
use crate::core::wire::time::Timestamp;
use serde_json::{Map, Value};

const CUSTOM: &str = "custom";

/// Fields that hold a time: RFC 3339 text inside Roster and on `/api/v1`, integer
/// nanoseconds on `/api/v2`.
const TIME_FIELDS: &[&str] = &[
    "created_at",
    "updated_at",
    "last_active",
    "deactivated_at",
    "deleted_at",
    "revoke_tokens_issued_before",
    "ban_expires",
    "last_engaged_at",
];

/// How deep the time conversions look (every user nests at most 64 levels).
const MAX_DEPTH: usize = 80;

/// Whether a `custom` key must be stored apart from the flat fields.
fn shadowed(key: &str) -> bool {
    !user::is_custom(key)
}

/// A `/api/v2` user: built-in fields at the top, `custom`'s members spread next to them (those
/// named like a built-in field kept apart in [`user::SHADOWED`]).
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
            let mut apart = Map::new();
            for (k, val) in custom {
                if k == user::SHADOWED {
                    let name = format!("{label}.custom.{k}");
                    return Err(ApiError::field(name.clone(), format!("{name} is a reserved field")));
                }
                if shadowed(k) {
                    apart.insert(k.clone(), val.clone());
                } else {
                    flat.insert(k.clone(), val.clone());
                }
            }
            if !apart.is_empty() {
                flat.insert(user::SHADOWED.into(), Value::Object(apart));
            }
        }
        Some(_) => {
            let name = format!("{label}.custom");
            return Err(ApiError::field(name.clone(), format!("{name} must be an object")));
        }
    }
    Ok(Value::Object(flat))
}

/// A stored (flat) user as `/api/v2` returns it: custom fields moved into `custom`, times as
/// nanoseconds.
pub fn user_out(u: &Value) -> Value {
    let Value::Object(flat) = u else { return u.clone() };
    let mut out = Map::new();
    let mut custom = Map::new();
    let mut apart = None;
    for (k, v) in flat {
        if k == user::SHADOWED {
            apart = v.as_object();
        } else if user::is_custom(k) {
            custom.insert(k.clone(), v.clone());
        } else {
            let shown = if TIME_FIELDS.contains(&k.as_str()) { time_out(v) } else { v.clone() };
            out.insert(k.clone(), shown);
        }
    }
    for (k, v) in apart.into_iter().flatten() {
        custom.insert(k.clone(), v.clone());
    }
    out.insert(CUSTOM.into(), Value::Object(custom));
    Value::Object(out)
}

/// A time field's value as `/api/v2` answers it: RFC 3339 text becomes integer nanoseconds
/// since the epoch (exact: Roster keeps microseconds). Anything else is as it was.
fn time_out(v: &Value) -> Value {
    match v {
        Value::String(s) => match Timestamp::parse(s).and_then(|t| t.0.checked_mul(1000)) {
            Some(nanos) => Value::from(nanos),
            None => v.clone(),
        },
        _ => v.clone(),
    }
}

/// Calls `at_time` on the value of every time field of a `/api/v2` body, outside custom data.
fn each_time_field(v: &mut Value, depth: usize, at_time: &dyn Fn(&mut Value)) {
    if depth > MAX_DEPTH {
        return;
    }
    match v {
        Value::Object(m) => {
            for (k, item) in m.iter_mut().filter(|(k, _)| *k != CUSTOM) {
                if TIME_FIELDS.contains(&k.as_str()) {
                    at_time(item);
                } else {
                    each_time_field(item, depth + 1, at_time);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| each_time_field(i, depth + 1, at_time)),
        _ => {}
    }
}

/// A time as a `/api/v2` request may send it: integer nanoseconds (a number or a string of
/// digits, as the current SDKs write it), as RFC 3339 text. Anything else is as it was (and
/// RFC 3339 text stays text), so the core's checks word any error.
fn time_in(v: &Value) -> Value {
    let nanos = match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().filter(|f| f.abs() < 9.2e18).map(|f| f as i64)),
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => s.parse::<i64>().ok(),
        _ => None,
    };
    match nanos.map(|n| Timestamp(n.div_euclid(1000))) {
        // Years 0000-9999 only: beyond them RFC 3339 has no text.
        Some(t) if (-62_167_219_200_000_000..253_402_300_800_000_000).contains(&t.0) => Value::String(t.to_string()),
        _ => v.clone(),
    }
}

/// A time field's value in a `/api/v2` request, as RFC 3339 text: a time, a list of times
/// (`$in`), or, in a query filter, operators over times (`{created_at: {$gt: nanos}}`).
fn operands_in(v: &mut Value) {
    match v {
        Value::Array(items) => items.iter_mut().for_each(|i| *i = time_in(i)),
        Value::Object(ops) => {
            for (op, operand) in ops.iter_mut() {
                if op.starts_with('$') {
                    match operand {
                        Value::Array(items) => items.iter_mut().for_each(|i| *i = time_in(i)),
                        _ => *operand = time_in(operand),
                    }
                }
            }
        }
        _ => *v = time_in(v),
    }
}

/// A `/api/v2` request body with its times as RFC 3339 text (every route but the query,
/// whose payload [`query_in`] reads).
pub fn body_in(body: &Value) -> Value {
    let mut body = body.clone();
    each_time_field(&mut body, 0, &operands_in);
    body
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

/// A path of a `/api/v2` partial update, addressed to the flat user: `custom.a.b` is `a.b`, or
/// `__custom.a.b` when `a` is named like a built-in field.
fn path_in(path: &str) -> String {
    match path.strip_prefix("custom.") {
        Some(inner) if shadowed(inner.split('.').next().unwrap_or(inner)) => format!("{}.{inner}", user::SHADOWED),
        Some(inner) => inner.to_string(),
        None => path.to_string(),
    }
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
                            flat.insert(path_in(&format!("{CUSTOM}.{mk}")), mv.clone());
                        }
                    }
                    (CUSTOM, _) => return Err(ApiError::field("set.custom", "set.custom must be an object")),
                    _ => {
                        flat.insert(path_in(k), v.clone());
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
        out.insert(path_in(k), v);
    }
    Value::Object(out)
}

/// `GET /api/v2/users?payload=` in the flat shape.
pub fn query_in(payload: &Value) -> Value {
    let mut p = payload.clone();
    if let Value::Object(m) = &mut p {
        if let Some(mut f) = m.get("filter_conditions").map(|f| filter_in(f, 0)) {
            each_time_field(&mut f, 0, &operands_in);
            m.insert("filter_conditions".into(), f);
        }
        if let Some(Value::Array(sort)) = m.get_mut("sort") {
            for item in sort.iter_mut() {
                if let Value::Object(item) = item {
                    if let Some(flat) = item.get("field").and_then(Value::as_str).map(path_in) {
                        item.insert("field".into(), Value::String(flat));
                    }
                }
            }
        }
    }
    p
}

/// Calls `f` on every user of a response of the user routes: `users` (a map by id or a list),
/// `user`, and a task's `result.users` (users, or exports `{user, messages, reactions}`).
fn each_user(body: &mut Value, f: &dyn Fn(&mut Value)) {
    match body.get_mut("users") {
        Some(Value::Object(users)) => users.values_mut().for_each(f),
        Some(Value::Array(users)) => users.iter_mut().for_each(f),
        _ => {}
    }
    if let Some(u) = body.get_mut("user") {
        f(u);
    }
    if let Some(Value::Array(done)) = body.get_mut("result").and_then(|r| r.get_mut("users")) {
        for item in done.iter_mut() {
            match item.get_mut("user") {
                Some(u) => f(u),
                None => f(item),
            }
        }
    }
}

/// A response of the user routes in the `/api/v2` shape: every user's custom data in `custom`,
/// and every time (a task's too) as nanoseconds.
pub fn response_out(mut body: Value) -> Value {
    each_user(&mut body, &|u| *u = user_out(u));
    each_time_field(&mut body, 0, &|t| *t = time_out(t));
    body
}

/// A `/api/v1` response: users show their built-in fields and flat custom data, without the
/// custom keys that only `/api/v2` can hold (named like built-in fields).
pub fn v1_response_out(mut body: Value) -> Value {
    each_user(&mut body, &|u| {
        if let Value::Object(m) = u {
            m.remove(user::SHADOWED);
        }
    });
    body
}

/// Whether a `/api/v1` write names [`user::SHADOWED`], which only `/api/v2` writes (through
/// `custom`): the field it names, for a "reserved field" error.
pub fn v1_names_shadowed(body: &Value) -> Option<String> {
    let top = |p: &str| p.split('.').next() == Some(user::SHADOWED);
    match body.get("users") {
        Some(Value::Object(users)) => users
            .iter()
            .find(|(_, u)| u.get(user::SHADOWED).is_some())
            .map(|(id, _)| format!("users[{id}].{}", user::SHADOWED)),
        Some(Value::Array(entries)) => entries.iter().find_map(|e| {
            let id = e.get("id").and_then(Value::as_str).unwrap_or_default();
            let set = e.get("set").and_then(Value::as_object).into_iter().flat_map(|s| s.keys().map(String::as_str));
            let unset = e.get("unset").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str);
            set.chain(unset).any(top).then(|| format!("users[{id}].{}", user::SHADOWED))
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn custom_keys_named_like_built_ins_round_trip_apart() {
        let input =
            json!({"id": "u", "name": "Real", "custom": {"created_at": "x", "role": "r", "name": "n", "color": "c"}});
        let flat = user_in(&input, "users[u]").unwrap();
        assert_eq!(
            flat,
            json!({"id": "u", "name": "Real", "color": "c", "__custom": {"created_at": "x", "role": "r", "name": "n"}})
        );
        let mut stored = flat.clone();
        stored["created_at"] = json!("2024-04-04T09:26:11.805000Z");
        let out = user_out(&stored);
        assert_eq!(out["custom"], json!({"color": "c", "created_at": "x", "role": "r", "name": "n"}));
        assert_eq!(out["name"], "Real");
        assert_eq!(out["created_at"], json!(1_712_222_771_805_000_000_i64), "nanoseconds, exact");
        let v1 = v1_response_out(json!({"users": {"u": stored}}));
        assert!(v1["users"]["u"].get("__custom").is_none());
        assert_eq!(v1["users"]["u"]["name"], "Real");
        let e = user_in(&json!({"id": "u", "custom": {"__custom": 1}}), "users[u]").unwrap_err();
        assert_eq!(e.reason, "users[u].custom.__custom is a reserved field");
    }

    #[test]
    fn partial_paths_into_custom() {
        assert_eq!(path_in("custom.color.x"), "color.x");
        assert_eq!(path_in("custom.role"), "__custom.role");
        assert_eq!(path_in("custom.created_at.y"), "__custom.created_at.y");
        assert_eq!(path_in("name"), "name");
        let body = json!({"users": [{"id": "u", "set": {"custom": {"role": "x", "mood": 1}, "custom.name": "n"},
            "unset": ["custom.created_at"]}]});
        let flat = partial_in(&body).unwrap();
        assert_eq!(flat["users"][0]["set"], json!({"__custom.role": "x", "mood": 1, "__custom.name": "n"}));
        assert_eq!(flat["users"][0]["unset"], json!(["__custom.created_at"]));
        assert_eq!(
            v1_names_shadowed(&json!({"users": [{"id": "u", "set": {"__custom.role": 1}}]})).as_deref(),
            Some("users[u].__custom")
        );
        assert_eq!(
            v1_names_shadowed(&json!({"users": {"u": {"id": "u", "__custom": {}}}})).as_deref(),
            Some("users[u].__custom")
        );
        assert_eq!(v1_names_shadowed(&json!({"users": {"u": {"id": "u", "custom": {}}}})), None);
    }

    #[test]
    fn times_in_and_out() {
        let ns = 1_712_222_771_805_000_000_i64;
        let body = json!({"revoke_tokens_issued_before": ns, "users": [{"id": "u", "set": {"revoke_tokens_issued_before": ns.to_string()}}],
            "custom": {"created_at": ns}, "other": ns});
        let text = "2024-04-04T09:26:11.805000Z";
        assert_eq!(
            body_in(&body),
            json!({"revoke_tokens_issued_before": text, "users": [{"id": "u", "set": {"revoke_tokens_issued_before": text}}],
                "custom": {"created_at": ns}, "other": ns})
        );
        // RFC 3339 text stays as it is; what is no time is left for the core to refuse.
        assert_eq!(time_in(&json!(text)), json!(text));
        assert_eq!(time_in(&json!("soon")), json!("soon"));
        assert_eq!(time_in(&json!(1e30)), json!(1e30));
        let q =
            query_in(&json!({"filter_conditions": {"$and": [{"created_at": {"$gt": ns}}, {"custom.created_at": ns}]}}));
        assert_eq!(q["filter_conditions"]["$and"][0]["created_at"]["$gt"], text);
        assert_eq!(q["filter_conditions"]["$and"][1]["__custom.created_at"], ns);
        let out = response_out(
            json!({"task_id": "t", "created_at": text, "result": {"users": [{"id": "u", "deactivated_at": text}]}}),
        );
        assert_eq!(out["created_at"], ns);
        assert_eq!(out["result"]["users"][0]["deactivated_at"], ns);
        assert_eq!(out["result"]["users"][0]["custom"], json!({}));
    }
}
