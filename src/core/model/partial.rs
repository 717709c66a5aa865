//! Partial updates: `set` and `unset` on dotted paths.
//!
//! A dot separates segments; a segment may not be empty or contain whitespace. Setting a path
//! creates missing parent objects; unsetting `a.b` leaves `a: {}`. Setting and unsetting the
//! same path, or a path and its prefix, is refused. `privacy_settings` merges.

use super::user::{is_reserved, User, MAX_NESTING};
use crate::core::wire::error::{ApiError, Result};
use serde_json::{Map, Value};
use std::borrow::Cow;

/// A validated dotted path, split into segments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldPath {
    pub raw: String,
    pub segments: Vec<String>,
}

/// What is wrong with a dotted path, if anything: the one copy of the rule, for the tree path
/// ([`FieldPath::parse`], which words the error) and the record path (`engine::batch`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathFault {
    /// More segments than a user may nest: it could never be written (and refusing it keeps a
    /// hostile path from building a structure too deep to serialize or drop).
    TooDeep,
    /// Empty, or an empty segment, or whitespace.
    Invalid,
}

/// Checks a dotted path in one pass; a path too deep is reported before any other fault.
pub fn path_fault(raw: &str) -> Option<PathFault> {
    let (mut segments, mut len, mut invalid, mut wide) = (1, 0, false, false);
    // By byte: a dot and ASCII whitespace are single bytes; whitespace beyond ASCII (U+00A0,
    // U+3000, …) is looked for by character only in a path that has such bytes.
    for b in raw.bytes() {
        if b == b'.' {
            invalid |= len == 0;
            segments += 1;
            len = 0;
        } else {
            invalid |= matches!(b, b'\t'..=b'\r' | b' ');
            wide |= b >= 0x80;
            len += 1;
        }
    }
    invalid |= wide && raw.chars().any(char::is_whitespace);
    if segments > MAX_NESTING {
        Some(PathFault::TooDeep)
    } else if invalid || len == 0 {
        Some(PathFault::Invalid)
    } else {
        None
    }
}

/// Checks a dotted path ([`path_fault`]), worded.
fn check_path(raw: &str) -> Result<()> {
    match path_fault(raw) {
        None => Ok(()),
        Some(PathFault::TooDeep) => {
            let shown: String = raw.chars().take(64).collect();
            Err(ApiError::field(shown.clone(), format!("field name '{shown}…' has more than {MAX_NESTING} segments")))
        }
        Some(PathFault::Invalid) => Err(ApiError::field(
            raw.to_string(),
            format!("field name '{raw}' is invalid: it should not contain spaces or empty segments, as dot is used as path separator"),
        )),
    }
}

impl FieldPath {
    pub fn parse(raw: &str) -> Result<Self> {
        check_path(raw)?;
        Ok(FieldPath::checked(raw))
    }
    /// The path `raw`, already checked ([`check_path`]).
    fn checked(raw: &str) -> Self {
        FieldPath { raw: raw.to_string(), segments: raw.split('.').map(str::to_string).collect() }
    }
    pub fn top(&self) -> &str {
        self.segments.first().map_or("", String::as_str)
    }
    /// True if one path is the other or a prefix of it, segment by segment.
    pub fn overlaps(&self, other: &FieldPath) -> bool {
        overlaps(&self.raw, &other.raw)
    }
}

/// One entry of `PATCH /users`: `{id, set, unset}`, validated.
#[derive(Clone, Debug, PartialEq)]
pub struct PartialUpdate {
    pub id: String,
    pub set: Vec<(FieldPath, Value)>,
    pub unset: Vec<FieldPath>,
}

/// A list of paths as an entry's reader holds them: `set`'s keys, or `unset`'s items (`None`
/// for an item that is not a string). Read by position, so each reader lends its own list.
pub trait PathList {
    /// The item at `at` (`None`: past the end).
    fn item(&self, at: usize) -> Option<Option<&str>>;
}

impl PathList for Vec<&str> {
    fn item(&self, at: usize) -> Option<Option<&str>> {
        self.get(at).map(|p| Some(*p))
    }
}

impl PathList for Vec<Option<&str>> {
    fn item(&self, at: usize) -> Option<Option<&str>> {
        self.get(at).copied()
    }
}

/// The items of a list, in order.
fn items(list: &dyn PathList) -> impl Iterator<Item = Option<&str>> + Clone + '_ {
    (0..).map_while(move |at| list.item(at))
}

/// The members of one `PATCH /users` entry as read, whichever way (a tree, the record path's
/// reader): what [`check_entry`] checks.
pub struct EntryParts<'i, 'p> {
    /// `id`: absent or null (`None`), a string (its value), or another value (`Some(None)`).
    pub id: Option<Option<Cow<'i, str>>>,
    /// The first member other than `id`, `set` and `unset`, in key order.
    pub unknown: Option<&'p str>,
    /// `set`'s paths, sorted (an empty list when absent or null; `None`: not an object).
    pub set: Option<&'p dyn PathList>,
    /// `unset`'s items in order (an empty list when absent or null; `None`: not an array).
    pub unset: Option<&'p dyn PathList>,
}

/// Checks an entry's members, the one copy of the rules and their order for both ways of
/// reading it: the id, a member that is not `id`, `set` or `unset`, `set` and its paths, `unset`
/// and its paths, the fields no path may write, then a path both set and unset (or a field and
/// its parent). Returns the id.
pub fn check_entry<'i>(parts: EntryParts<'i, '_>) -> Result<Cow<'i, str>> {
    let id = super::validate::check_id(parts.id)?;
    if let Some(key) = parts.unknown {
        return Err(ApiError::field(
            key,
            format!("unknown field '{key}' in partial update, expected id, set and unset"),
        ));
    }
    let set = parts.set.ok_or_else(|| ApiError::field("set", "set must be an object"))?;
    for path in items(set).flatten() {
        check_path(path)?;
    }
    let not_names = || ApiError::field("unset", "unset must be an array of field names");
    let unset = parts.unset.ok_or_else(not_names)?;
    for item in items(unset) {
        check_path(item.ok_or_else(not_names)?)?;
    }
    // Every item is a string from here on.
    for path in items(set).chain(items(unset)).flatten() {
        check_writable(path, &id)?;
    }
    for s in items(set).flatten() {
        if let Some(u) = items(unset).flatten().find(|u| overlaps(s, u)) {
            return Err(ApiError::field(
                s.to_string(),
                format!("cannot set and unset the same field or a field and its parent: '{s}' and '{u}'"),
            ));
        }
    }
    Ok(id)
}

impl PartialUpdate {
    /// Parses and validates one entry ([`check_entry`]).
    pub fn parse(entry: &Value) -> Result<Self> {
        let Value::Object(obj) = entry else {
            return Err(ApiError::input("each partial update must be an object with id, set and unset"));
        };
        let none: Vec<&str> = Vec::new();
        let keys: Vec<&str>;
        let names: Vec<Option<&str>>;
        let parts = EntryParts {
            id: obj.get("id").filter(|v| !v.is_null()).map(|v| v.as_str().map(Cow::Borrowed)),
            unknown: obj.keys().map(String::as_str).find(|k| !matches!(*k, "id" | "set" | "unset")),
            set: match obj.get("set") {
                None | Some(Value::Null) => Some(&none),
                Some(Value::Object(m)) => {
                    keys = m.keys().map(String::as_str).collect();
                    Some(&keys)
                }
                Some(_) => None,
            },
            unset: match obj.get("unset") {
                None | Some(Value::Null) => Some(&none),
                Some(Value::Array(a)) => {
                    names = a.iter().map(Value::as_str).collect();
                    Some(&names)
                }
                Some(_) => None,
            },
        };
        let id = check_entry(parts)?.into_owned();
        // Every path was checked with the entry.
        let set = match obj.get("set") {
            Some(Value::Object(m)) => m.iter().map(|(k, v)| (FieldPath::checked(k), v.clone())).collect(),
            _ => Vec::new(),
        };
        let unset = match obj.get("unset") {
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(FieldPath::checked).collect(),
            _ => Vec::new(),
        };
        Ok(PartialUpdate { id, set, unset })
    }

    /// Top-level fields this update touches.
    pub fn touches(&self, top: &str) -> bool {
        self.set.iter().any(|(p, _)| p.top() == top) || self.unset.iter().any(|p| p.top() == top)
    }

    /// Applies the update to a copy of `user` (the caller validates the result).
    pub fn apply(&self, user: &User) -> Result<User> {
        let mut out = user.clone();
        for path in &self.unset {
            unset_path(&mut out, &path.segments);
            // Built-ins with defaults fall back to them.
            if let Some(text) = super::fields::default_of(&path.raw) {
                out.insert(path.raw.clone(), crate::core::wire::json::parse(text).unwrap_or(Value::Null));
            }
        }
        for (path, value) in &self.set {
            set_path(&mut out, path, value.clone())?;
        }
        Ok(out)
    }
}

/// True if one dotted path is the other or a prefix of it, segment by segment.
pub fn overlaps(a: &str, b: &str) -> bool {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    long.strip_prefix(short).is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
}

/// Why a partial update may not write top-level field `top`, if it may not: the one copy of
/// the rule, for both paths.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteFault {
    /// A reserved server timestamp.
    Reserved,
    Id,
    /// What only deactivating, deleting or restoring a user changes.
    Lifecycle,
}

pub fn write_fault(top: &str) -> Option<WriteFault> {
    if is_reserved(top) {
        Some(WriteFault::Reserved)
    } else if top == "id" {
        Some(WriteFault::Id)
    } else if matches!(top, "deactivated_at" | "deleted_at" | super::user::HARD_DELETED) {
        Some(WriteFault::Lifecycle)
    } else {
        None
    }
}

/// Paths that a partial update of user `id` may not write ([`write_fault`]), worded.
fn check_writable(path: &str, id: &str) -> Result<()> {
    let top = path.split('.').next().unwrap_or_default();
    let Some(fault) = write_fault(top) else { return Ok(()) };
    let name = format!("users[{id}].{top}");
    match fault {
        WriteFault::Reserved => Err(ApiError::field(name.clone(), format!("{name} is a reserved field"))),
        WriteFault::Id => Err(ApiError::field(name, "user id cannot be changed")),
        WriteFault::Lifecycle => Err(ApiError::field(
            name.clone(),
            format!("{name} can only be changed by deactivating, deleting or restoring the user"),
        )),
    }
}

pub(crate) fn set_path(obj: &mut Map<String, Value>, path: &FieldPath, value: Value) -> Result<()> {
    let Some((last, parents)) = path.segments.split_last() else { return Ok(()) };
    let mut cur = obj;
    for (depth, seg) in parents.iter().enumerate() {
        let slot = cur.entry(seg.clone()).or_insert_with(|| Value::Object(Map::new()));
        if slot.is_null() {
            *slot = Value::Object(Map::new());
        }
        cur = match slot {
            Value::Object(m) => m,
            _ => {
                // The path's first `depth + 1` segments, as written.
                let end = path.raw.match_indices('.').nth(depth).map_or(path.raw.len(), |(at, _)| at);
                let parent = path.raw.get(..end).unwrap_or_default();
                return Err(ApiError::field(
                    path.raw.clone(),
                    format!("cannot set '{}': '{parent}' is not an object", path.raw),
                ));
            }
        };
    }
    // privacy_settings merges with what is stored; anything else is replaced.
    if parents.is_empty() && last == "privacy_settings" {
        if let (Some(Value::Object(old)), Value::Object(new)) = (cur.get_mut(last), &value) {
            for (k, v) in new {
                old.insert(k.clone(), v.clone());
            }
            return Ok(());
        }
    }
    cur.insert(last.clone(), value);
    Ok(())
}

pub(crate) fn unset_path(obj: &mut Map<String, Value>, segments: &[String]) {
    match segments {
        [] => {}
        [last] => {
            obj.remove(last);
        }
        [first, rest @ ..] => {
            if let Some(Value::Object(child)) = obj.get_mut(first) {
                unset_path(child, rest);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn path_rules_and_their_errors() {
        let deep = |n: usize, seg: &str| vec![seg; n].join(".");
        for ok in ["a", "a.b", "é.ü", &deep(MAX_NESTING, "x")] {
            assert_eq!(path_fault(ok), None, "{ok}");
            assert_eq!(FieldPath::parse(ok).map(|p| p.segments.len()).ok(), Some(ok.split('.').count()));
        }
        for bad in ["", ".", "a.", ".a", "a..b", "a b", "a.\tb", "a\u{b}b", "a.\u{a0}", "é\u{3000}"] {
            assert_eq!(path_fault(bad), Some(PathFault::Invalid), "{bad:?}");
            assert!(FieldPath::parse(bad).unwrap_err().reason.contains("should not contain spaces or empty segments"));
        }
        // Too deep is reported first, even when a segment is also empty.
        for too_deep in [deep(MAX_NESTING + 1, "x"), format!("{}..", deep(MAX_NESTING, "x"))] {
            assert_eq!(path_fault(&too_deep), Some(PathFault::TooDeep));
            let e = FieldPath::parse(&too_deep).unwrap_err();
            assert!(e.reason.ends_with(&format!("has more than {MAX_NESTING} segments")), "{}", e.reason);
        }
    }

    fn upd(v: Value) -> Result<PartialUpdate> {
        PartialUpdate::parse(&v)
    }
    fn user(v: Value) -> User {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn rejects_bad_keys_in_set_and_unset() {
        for bad in [
            "test..test",
            " test.test",
            " test. test",
            " test.test ",
            ".test.test",
            "test.test.",
            "",
            "a\tb",
            "a.\u{a0}b",
        ] {
            let e = upd(json!({"id": "u", "set": {bad: 1}})).unwrap_err();
            assert_eq!((e.code, e.status), (4, 400), "set {bad:?}");
            let e = upd(json!({"id": "u", "unset": [bad]})).unwrap_err();
            assert_eq!((e.code, e.status), (4, 400), "unset {bad:?}");
        }
        assert!(upd(json!({"id": "u", "set": {"a.b_c-d.e1": 1}, "unset": ["x.y"]})).is_ok());
    }

    #[test]
    fn paths_deeper_than_a_user_may_nest_are_refused_and_deep_results_fail_validation() {
        let path = |n: usize| vec!["a"; n].join(".");
        let e = upd(json!({"id": "u", "set": {path(20_000): 1}})).unwrap_err();
        assert_eq!((e.code, e.status), (4, 400));
        assert!(e.reason.len() < 200, "the message does not echo a huge path");
        assert!(upd(json!({"id": "u", "unset": [path(MAX_NESTING + 1)]})).is_err());
        // Within the segment limit, a deep value still makes the user too deep to store.
        let deep: Value = serde_json::from_str(&format!("{}{}", "[".repeat(60), "]".repeat(60))).unwrap();
        let u = upd(json!({"id": "u", "set": {path(10): deep}})).unwrap();
        let out = u.apply(&user(json!({"id": "u"}))).unwrap();
        let e = crate::core::model::validate::validate(&out, "u").unwrap_err();
        assert!(e.reason.contains("nested too deeply"), "{}", e.reason);
    }

    #[test]
    fn overlap_is_segment_by_segment() {
        for (a, b, both) in [
            ("a", "a", true),
            ("a", "a.b", true),
            ("a.b.c", "a.b", true),
            ("a", "ab", false),
            ("a.b", "a.c", false),
            ("ab.c", "a", false),
            ("a.bc", "a.b", false),
        ] {
            assert_eq!((overlaps(a, b), overlaps(b, a)), (both, both), "{a} {b}");
        }
    }

    #[test]
    fn setting_below_a_scalar_names_the_scalar() {
        let u = user(json!({"id": "u", "a": {"b": "text"}, "n": 1}));
        for (path, parent) in [("a.b.c.d", "a.b"), ("a.b.c", "a.b"), ("n.x", "n")] {
            let e = upd(json!({"id": "u", "set": {path: 1}})).unwrap().apply(&u).unwrap_err();
            assert_eq!(e.reason, format!("cannot set '{path}': '{parent}' is not an object"));
        }
    }

    #[test]
    fn rejects_set_unset_conflicts() {
        for (s, u) in [("a", "a"), ("field.path.name", "field.path"), ("a", "a.b"), ("a.b", "a.b")] {
            let e = upd(json!({"id": "u", "set": {s: 1}, "unset": [u]})).unwrap_err();
            assert_eq!(e.code, 4, "{s} / {u}");
        }
        assert!(upd(json!({"id": "u", "set": {"a.b": 1}, "unset": ["a.c"]})).is_ok());
        assert!(upd(json!({"id": "u", "set": {"ab": 1}, "unset": ["a"]})).is_ok());
    }

    #[test]
    fn rejects_reserved_and_malformed_entries() {
        for v in [
            json!({"id": "u", "set": {"created_at": "x"}}),
            json!({"id": "u", "set": {"online": true}}),
            json!({"id": "u", "unset": ["last_active"]}),
            json!({"id": "u", "set": {"updated_at.x": 1}}),
            json!({"id": "u", "set": {"id": "v"}}),
            json!({"id": "u", "set": [1]}),
            json!({"id": "u", "unset": "a"}),
            json!({"id": "u", "unset": [1]}),
            json!({"set": {"a": 1}}),
            json!({"id": "a b", "set": {"a": 1}}),
            json!({"id": "u", "sett": {"a": 1}}),
            json!("u"),
        ] {
            assert_eq!(upd(v.clone()).unwrap_err().code, 4, "{v}");
        }
        let e = upd(json!({"id": "u", "set": {"online": true}})).unwrap_err();
        assert_eq!(e.reason, "users[u].online is a reserved field");
    }

    #[test]
    fn set_creates_parents_and_unset_leaves_empty_parent() {
        let u = user(json!({"id": "u"}));
        let u = upd(json!({"id": "u", "set": {"test": {"passed": true}}})).unwrap().apply(&u).unwrap();
        let u = upd(json!({"id": "u", "unset": ["test.passed"]})).unwrap().apply(&u).unwrap();
        assert_eq!(u["test"], json!({}));
        let u = upd(json!({"id": "u", "set": {"field2.subfield": "test", "a.b.c": 1}})).unwrap().apply(&u).unwrap();
        assert_eq!(u["field2"], json!({"subfield": "test"}));
        assert_eq!(u["a"], json!({"b": {"c": 1}}));
        let u = upd(json!({"id": "u", "set": {"fields": {"subfield1": "v1", "subfield2": "value2"}}}))
            .unwrap()
            .apply(&u)
            .unwrap();
        let u = upd(json!({"id": "u", "unset": ["fields.subfield1", "nope.nothing"]})).unwrap().apply(&u).unwrap();
        assert_eq!(u["fields"], json!({"subfield2": "value2"}));
        assert!(!u.contains_key("nope"), "unsetting a missing path creates nothing");
        let e = upd(json!({"id": "u", "set": {"field2.subfield.x": 1}})).unwrap().apply(&u).unwrap_err();
        assert_eq!(e.code, 4, "a non-object parent is not overwritten");
    }

    #[test]
    fn custom_objects_replace_privacy_settings_merge() {
        let u = user(json!({"id": "u", "obj": {"a": 1}}));
        let u = upd(json!({"id": "u", "set": {"obj": {"b": 2}}})).unwrap().apply(&u).unwrap();
        assert_eq!(u["obj"], json!({"b": 2}));
        let u = upd(json!({"id": "u", "set": {"privacy_settings": {"typing_indicators": {"enabled": true}}}}))
            .unwrap()
            .apply(&u)
            .unwrap();
        let u = upd(json!({"id": "u", "set": {"privacy_settings": {"read_receipts": {"enabled": false}}}}))
            .unwrap()
            .apply(&u)
            .unwrap();
        assert_eq!(
            u["privacy_settings"],
            json!({"typing_indicators": {"enabled": true}, "read_receipts": {"enabled": false}})
        );
    }
}
