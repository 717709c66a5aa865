//! Conditional writes (Roster's own; not part of Stream's API). Every user has a version: the
//! commit sequence number of its latest change (`core::query::feed`), 0 for a user that does not
//! exist. `POST /users` and `PATCH /users` may say which versions they were computed from —
//! `expected_versions: {id: version}` in the body for any batch, or an `If-Match: "<version>"`
//! header when the batch holds one user — and then commit only if every named user is still at
//! that version: otherwise the whole batch fails with 412, naming the users whose version moved,
//! and nothing is written. Expecting 0 means "only if this user does not exist yet".

use crate::core::wire::error::{ApiError, Result};
use serde_json::Value;

/// The body key that carries expected versions.
pub const BODY_KEY: &str = "expected_versions";

/// Expected versions by user id, in the order given (an id at most once). A batch holds at most
/// 100 users, so a list serves.
pub type Expected = Vec<(String, i64)>;

/// The version listed for `id`.
pub fn version_of(list: &[(String, i64)], id: &str) -> Option<i64> {
    list.iter().find(|(k, _)| k == id).map(|(_, v)| *v)
}

/// Takes `expected_versions` out of a write's body (so the operation never sees it) and reads
/// it, together with an `If-Match` header, given the ids the batch writes.
pub fn take(body: &mut Value, if_match: Option<&str>, batch_ids: &[String]) -> Result<Expected> {
    let mut expected = Expected::new();
    if let Some(given) = body.as_object_mut().and_then(|m| m.remove(BODY_KEY)) {
        let Value::Object(map) = given else {
            return Err(ApiError::field(BODY_KEY, format!("{BODY_KEY} must be an object of user id to version")));
        };
        for (id, v) in map {
            let version = v.as_i64().filter(|n| *n >= 0).ok_or_else(|| {
                ApiError::field(
                    format!("{BODY_KEY}.{id}"),
                    format!("{BODY_KEY}.{id} must be a version (an integer ≥ 0)"),
                )
            })?;
            if !batch_ids.contains(&id) {
                return Err(ApiError::field(
                    format!("{BODY_KEY}.{id}"),
                    format!("{BODY_KEY} names user '{id}', which this batch does not write"),
                ));
            }
            expected.push((id, version));
        }
    }
    if let Some(header) = if_match {
        let [id] = batch_ids else {
            return Err(ApiError::input(format!(
                "If-Match needs a batch of exactly one user (this one has {}); use {BODY_KEY} for batches",
                batch_ids.len()
            )));
        };
        let version = parse_etag(header).ok_or_else(|| {
            ApiError::input(format!("If-Match must be a version as ETag gives it (\"12\"), got '{header}'"))
        })?;
        match version_of(&expected, id) {
            Some(v) if v != version => {
                return Err(ApiError::input(format!("If-Match and {BODY_KEY} disagree about user '{id}'")));
            }
            Some(_) => {}
            None => expected.push((id.clone(), version)),
        }
    }
    Ok(expected)
}

/// A version from an `If-Match` value: `"12"` (as `ETag` sends it) or `12`.
fn parse_etag(header: &str) -> Option<i64> {
    let h = header.trim();
    let bare = h.strip_prefix('"').and_then(|s| s.strip_suffix('"')).unwrap_or(h);
    if bare.is_empty() || !bare.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    bare.parse().ok()
}

/// The `ETag` value of a version.
pub fn etag(version: i64) -> String {
    format!("\"{version}\"")
}

/// Checks expected versions against the current ones (missing: 0). A mismatch is 412 naming
/// every user whose version moved, in `exception_fields` keyed by user id.
pub fn check(expected: &[(String, i64)], current: &[(String, i64)]) -> Result<()> {
    let moved: Vec<(String, String)> = expected
        .iter()
        .filter_map(|(id, want)| {
            let now = version_of(current, id).unwrap_or(0);
            (now != *want).then(|| (id.clone(), format!("expected version {want}, current version {now}")))
        })
        .collect();
    if moved.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = moved.iter().map(|(id, _)| id.as_str()).collect();
    let mut e = ApiError::new(
        4,
        412,
        format!("precondition failed: the version of {} moved; nothing was written", ids.join(", ")),
    );
    e.fields = moved;
    Err(e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn ids(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_string()).collect()
    }

    #[test]
    fn reads_the_body_and_the_header_and_removes_the_key() {
        let mut body = json!({"users": {}, "expected_versions": {"a": 3, "b": 0}});
        let e = take(&mut body, None, &ids(&["a", "b", "c"])).unwrap();
        assert_eq!(e, vec![("a".to_string(), 3), ("b".to_string(), 0)]);
        assert_eq!(body, json!({"users": {}}), "the operation never sees the key");
        for h in ["\"7\"", "7", " \"7\" "] {
            assert_eq!(take(&mut json!({}), Some(h), &ids(&["a"])).unwrap(), vec![("a".to_string(), 7)], "{h}");
        }
        assert_eq!(take(&mut json!({}), None, &ids(&["a"])).unwrap(), Expected::new());
        let both = take(&mut json!({"expected_versions": {"a": 7}}), Some("7"), &ids(&["a"])).unwrap();
        assert_eq!(both, vec![("a".to_string(), 7)], "the header and the body agree: listed once");
    }

    #[test]
    fn refuses_what_is_not_a_precondition() {
        let refused = |mut body: Value, h: Option<&str>, batch: &[&str]| take(&mut body, h, &ids(batch)).unwrap_err();
        for bad in [json!([1]), json!({"a": -1}), json!({"a": "3"}), json!({"a": 1.5}), json!({"a": null})] {
            let e = refused(json!({"expected_versions": bad}), None, &["a"]);
            assert_eq!((e.code, e.status), (4, 400), "{bad}");
        }
        assert!(refused(json!({"expected_versions": {"zed": 1}}), None, &["a"]).reason.contains("does not write"));
        assert!(refused(json!({}), Some("\"1\""), &["a", "b"]).reason.contains("exactly one user"));
        for h in ["W/\"1\"", "\"\"", "*", "abc", "\"-1\""] {
            assert_eq!(refused(json!({}), Some(h), &["a"]).status, 400, "{h}");
        }
        assert!(refused(json!({"expected_versions": {"a": 2}}), Some("3"), &["a"]).reason.contains("disagree"));
    }

    #[test]
    fn a_mismatch_is_412_naming_each_moved_user() {
        let pairs = |l: &[(&str, i64)]| l.iter().map(|(k, v)| ((*k).to_string(), *v)).collect::<Vec<_>>();
        let current = pairs(&[("a", 5), ("b", 9)]);
        assert!(check(&pairs(&[("a", 5), ("new", 0)]), &current).is_ok());
        let e = check(&pairs(&[("a", 4), ("b", 9), ("c", 2)]), &current).unwrap_err();
        assert_eq!((e.code, e.status), (4, 412));
        assert_eq!(
            e.fields,
            vec![
                ("a".to_string(), "expected version 4, current version 5".to_string()),
                ("c".to_string(), "expected version 2, current version 0".to_string())
            ]
        );
        assert!(e.reason.contains("a, c"));
        assert_eq!(etag(12), "\"12\"");
    }
}
