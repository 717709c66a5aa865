//! Small JSON builders for the core and its shells.
//!
//! `serde_json::json!` turns every interpolated value, even a string literal, into
//! `to_value(&x).unwrap()`: a second serializer and a panic path linked into each wasm
//! artifact. These helpers build the same values by insertion, and fixed defaults are parsed
//! from JSON text with the one deserializer every artifact already links.

use serde_json::{Map, Value};

/// A JSON object of the given members (a later duplicate key wins, as in `json!`).
pub fn object<const N: usize>(members: [(&str, Value); N]) -> Value {
    let mut map = Map::new();
    for (key, value) in members {
        map.insert(key.to_string(), value);
    }
    Value::Object(map)
}

/// `value` as compact JSON text. Written through `serde_json::to_string`, the one serializer
/// every artifact links: `Value`'s `Display` (`to_string()`) adds a second one, and a pretty one
/// for `{:#}`. Serializing a `Value` cannot fail.
pub fn text(value: &Value) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// Parses JSON text. Every parse in the core and its shells goes through here (or
/// `serde_json::from_slice`) so that one deserializer is linked, not one per reader type; for
/// text that is already UTF-8, reading its bytes gives the same values and the same errors.
pub fn parse(text: &str) -> serde_json::Result<Value> {
    serde_json::from_slice(text.as_bytes())
}

/// `text` as a JSON object; `None` if it is not valid JSON or not an object.
pub fn parse_object(text: &str) -> Option<Map<String, Value>> {
    match parse(text) {
        Ok(Value::Object(map)) => Some(map),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn builds_what_json_builds() {
        assert_eq!(object([]), json!({}));
        assert_eq!(object([("a", Value::from(1)), ("b", Value::from("x"))]), json!({"a": 1, "b": "x"}));
        assert_eq!(object([("a", Value::from(1)), ("a", Value::from(2))]), json!({"a": 2}));
        assert_eq!(parse_object(r#"{"a": [1]}"#), json!({"a": [1]}).as_object().cloned());
        assert_eq!(parse_object("[1]"), None);
        assert_eq!(parse_object("{"), None);
    }
}
