//! Set and unset at dotted paths on JSON text, for the batch partial update
//! ([`crate::core::engine::batch`]): only the objects a path passes through are opened (into their members,
//! each kept as text), everything else is copied as it was read. The result equals, as parsed
//! JSON, what [`super::partial::set_path`] and [`super::partial::unset_path`] make of the same
//! value as a `serde_json` tree.
//!
//! Like the scanner, an edit only handles what it can represent exactly: an object with an
//! escaped key on a path, or a path that must fail (through a value that is not an object), is
//! `None`, and the batch runs that user alone as a tree, which decides and words the error.

use super::scan::Scan;
use super::user::MAX_NESTING;

/// A JSON value under edit: its text as read, or an object opened into its members.
enum Node<'a> {
    Text(&'a str),
    Object(Vec<(&'a str, Node<'a>)>),
}

/// What an opened node is.
enum Opened<'n, 'a> {
    Object(&'n mut Vec<(&'a str, Node<'a>)>),
    /// Not an object (a string, a number, an array, …).
    Other,
}

impl<'a> Node<'a> {
    /// Opens the node if it is an object; `None`: it cannot be represented (an escaped key).
    fn open(&mut self) -> Option<Opened<'_, 'a>> {
        if let Node::Text(text) = *self {
            if !text.starts_with('{') {
                return Some(Opened::Other);
            }
            *self = Node::Object(members(text)?);
        }
        match self {
            Node::Object(members) => Some(Opened::Object(members)),
            Node::Text(_) => Some(Opened::Other),
        }
    }

    fn write(&self, out: &mut String) {
        match self {
            Node::Text(text) => out.push_str(text),
            Node::Object(members) => {
                out.push('{');
                for (i, (key, value)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push('"');
                    out.push_str(key);
                    out.push_str("\":");
                    value.write(out);
                }
                out.push('}');
            }
        }
    }
}

/// The members of an object's text, in order, each key once (a repeated key: the last value
/// wins, as in serde_json's maps).
fn members(text: &str) -> Option<Vec<(&str, Node<'_>)>> {
    let mut scan = Scan::new(text);
    let mut out: Vec<(&str, Node<'_>)> = Vec::new();
    let mut more = scan.open(b'{', b'}')?;
    while more {
        let key = scan.string()?.plain()?;
        scan.eat(b':')?;
        let (value, _) = scan.value(MAX_NESTING)?;
        put(&mut out, key, Node::Text(value));
        more = scan.more(b'}')?;
    }
    Some(out)
}

/// Sets `key` in place if it is there, else last.
fn put<'a>(members: &mut Vec<(&'a str, Node<'a>)>, key: &'a str, value: Node<'a>) {
    match members.iter_mut().find(|(k, _)| *k == key) {
        Some(slot) => slot.1 = value,
        None => members.push((key, value)),
    }
}

/// One top-level field of a user under edit.
pub struct FieldEdit<'a> {
    /// The user seen as an object holding only this field (absent: no member).
    root: Vec<(&'a str, Node<'a>)>,
}

impl<'a> FieldEdit<'a> {
    /// Starts editing field `key`, whose current value is `value` (`None`: absent).
    pub fn new(key: &'a str, value: Option<&'a str>) -> Self {
        FieldEdit { root: value.map(|v| (key, Node::Text(v))).into_iter().collect() }
    }

    /// `set_path`: creates missing (or null) parents; `None` when a parent is not an object.
    pub fn set(&mut self, path: &'a str, value: &'a str) -> Option<()> {
        let mut segments = path.split('.');
        let mut last = segments.next()?;
        let mut members = &mut self.root;
        for next in segments {
            let at = match members.iter().position(|(k, _)| *k == last) {
                Some(at) => at,
                None => {
                    members.push((last, Node::Object(Vec::new())));
                    members.len() - 1
                }
            };
            let slot = &mut members.get_mut(at)?.1;
            if matches!(slot, Node::Text("null")) {
                *slot = Node::Object(Vec::new());
            }
            members = match slot.open()? {
                Opened::Object(m) => m,
                Opened::Other => return None,
            };
            last = next;
        }
        put(members, last, Node::Text(value));
        Some(())
    }

    /// `unset_path`: removes the member at the end of the path, if every parent is an object.
    pub fn unset(&mut self, path: &'a str) -> Option<()> {
        let mut segments = path.split('.');
        let mut last = segments.next()?;
        let mut members = &mut self.root;
        for next in segments {
            let Some(slot) = members.iter_mut().find(|(k, _)| *k == last) else { return Some(()) };
            members = match slot.1.open()? {
                Opened::Object(m) => m,
                Opened::Other => return Some(()),
            };
            last = next;
        }
        members.retain(|(k, _)| *k != last);
        Some(())
    }

    /// The field's new value as text (`None`: the field is gone).
    pub fn finish(self) -> Option<String> {
        let (_, node) = self.root.into_iter().next()?;
        let mut out = String::new();
        node.write(&mut out);
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::model::partial::{set_path, unset_path, FieldPath};
    use crate::core::wire::json;
    use serde_json::{Map, Value};
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    /// Applies the edits both ways; the text path must agree with the tree path, or decline
    /// (`None`). `Some(value)`: the field after the edits (`None`: removed).
    fn both(value: Option<&str>, unset: &[&str], set: &[(&str, &str)]) -> Option<Option<Value>> {
        let mut edit = FieldEdit::new("f", value);
        let mut tree = Map::new();
        if let Some(v) = value {
            tree.insert("f".into(), json::parse(v).unwrap());
        }
        let mut text_ok = Some(());
        for path in unset {
            text_ok = text_ok.and_then(|()| edit.unset(path));
            let segments: Vec<String> = path.split('.').map(str::to_string).collect();
            unset_path(&mut tree, &segments);
        }
        let mut tree_ok = true;
        for (path, v) in set {
            text_ok = text_ok.and_then(|()| edit.set(path, v));
            tree_ok &= set_path(&mut tree, &FieldPath::parse(path).unwrap(), json::parse(v).unwrap()).is_ok();
        }
        let text = text_ok.map(|()| edit.finish());
        if !tree_ok {
            assert!(text.is_none(), "a failing path is left to the tree");
            return None;
        }
        let from_text = text?.map(|t| json::parse(&t).unwrap());
        assert_eq!(from_text.as_ref(), tree.get("f"), "{value:?} {unset:?} {set:?}");
        Some(from_text)
    }

    #[test]
    fn agrees_with_the_tree_edits() {
        let addr = r#"{"city": "Amsterdam", "number": 5, "geo": null, "x": {"y": [1, {"z": 2}]}}"#;
        assert!(both(Some(addr), &["f.number"], &[("f.city", "\"Oslo\""), ("f.geo.lat", "59.9")]).is_some());
        assert!(both(Some(addr), &["f.x.y", "f.nope.deeper"], &[("f.x.w", "[]")]).is_some());
        assert!(both(None, &[], &[("f.a.b.c", "1")]).is_some());
        assert_eq!(both(None, &["f.a"], &[]), Some(None));
        assert_eq!(both(Some(addr), &["f"], &[]), Some(None));
        assert!(both(Some("null"), &[], &[("f.a", "true")]).is_some());
        assert!(both(Some(r#"{"a": 1, "a": {"b": 2}}"#), &[], &[("f.a.c", "3")]).is_some());
        assert!(both(Some(r#"{"a": 1, "a": {"b": 2}}"#), &["f.a.b"], &[]).is_some());
        // Through a string or an array: the tree refuses, the text declines.
        assert_eq!(both(Some(r#"{"a": "s"}"#), &[], &[("f.a.b", "1")]), None);
        assert_eq!(both(Some("[1]"), &[], &[("f.a", "1")]), None);
        assert!(both(Some("[1]"), &["f.a"], &[]).is_some());
    }

    #[test]
    fn declines_escaped_keys_on_a_path() {
        let mut edit = FieldEdit::new("f", Some(r#"{"\u0061": 1}"#));
        assert_eq!(edit.set("f.b", "2"), None);
        // Off the path, an escaped key is copied as text.
        let mut edit = FieldEdit::new("f", Some(r#"{"a": {"\u0061": 1}}"#));
        assert_eq!(edit.set("f.b", "2"), Some(()));
        assert_eq!(edit.finish().as_deref(), Some(r#"{"a":{"\u0061": 1},"b":2}"#));
    }
}
