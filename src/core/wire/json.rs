//! Small JSON builders for the core and its shells.
//!
//! `serde_json::json!` turns every interpolated value, even a string literal, into
//! `to_value(&x).unwrap()`: a second serializer and a panic path linked into each wasm
//! artifact. These helpers build the same values by insertion, and fixed defaults are parsed
//! from JSON text with the one deserializer every artifact already links.

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use std::fmt;

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

/// An object's members as compact JSON text, without building a `Value` of them (a copy).
pub fn object_text(members: &Map<String, Value>) -> String {
    serde_json::to_string(members).unwrap_or_default()
}

/// Parses JSON text. Every parse in the core and its shells goes through here (or
/// [`parse_slice`]) so that one deserializer is linked, not one per reader type; for text that
/// is already UTF-8, reading its bytes gives the same values and the same errors.
pub fn parse(text: &str) -> serde_json::Result<Value> {
    parse_slice(text.as_bytes())
}

/// Parses JSON bytes as `serde_json::from_slice::<Value>` does (same values, same errors), but
/// with every float correctly rounded: serde_json's default float parser is best-effort (some
/// 17-digit doubles come back one unit in the last place off) and its exact one
/// (`float_roundtrip`) costs ~9 KB gzip. serde_json still validates and structures the text;
/// each number it reports as a float is re-read from its own token, correctly rounded
/// ([`exact_float`]). serde_json reports numbers in text order, and [`Numbers`] finds
/// the same tokens in the same order.
pub fn parse_slice(bytes: &[u8]) -> serde_json::Result<Value> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = Exact(&mut Numbers(bytes)).deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

/// The number tokens of JSON text, in order: outside strings, a number starts at `-` or a digit
/// and runs over `0-9 + - . e E` (true, false and null hold none of these).
struct Numbers<'a>(&'a [u8]);

impl<'a> Numbers<'a> {
    fn next(&mut self) -> &'a [u8] {
        let text = self.0;
        let mut i = 0;
        let mut in_string = false;
        while let Some(&b) = text.get(i) {
            if in_string {
                match b {
                    b'\\' => i += 1,
                    b'"' => in_string = false,
                    _ => {}
                }
            } else if b == b'"' {
                in_string = true;
            } else if b == b'-' || b.is_ascii_digit() {
                let rest = text.get(i..).unwrap_or_default();
                let len =
                    rest.iter().take_while(|c| matches!(c, b'0'..=b'9' | b'+' | b'-' | b'.' | b'e' | b'E')).count();
                let (token, after) = rest.split_at(len);
                self.0 = after;
                return token;
            }
            i += 1;
        }
        self.0 = &[];
        &[]
    }
}

/// A correctly rounded reader of JSON number tokens, installed by a shell
/// ([`set_float_reader`]): the wasm shells install JavaScript's `parseFloat` at start, which
/// costs an import where Rust's `str::parse::<f64>` would add ~14 KB gzip of tables and code.
static FLOAT_READER: std::sync::OnceLock<fn(&str) -> Option<f64>> = std::sync::OnceLock::new();

/// Installs the float reader (the first one installed stays).
pub fn set_float_reader(read: fn(&str) -> Option<f64>) {
    let _ = FLOAT_READER.set(read);
}

/// A JSON number token as the nearest double: the installed reader, or Rust's own.
fn exact_float(token: &str) -> Option<f64> {
    match FLOAT_READER.get() {
        Some(read) => read(token),
        None => default_float(token),
    }
}

/// Natively, Rust's own parser.
#[cfg(not(all(target_arch = "wasm32", any(feature = "js", feature = "worker"))))]
fn default_float(token: &str) -> Option<f64> {
    token.parse().ok()
}

/// In the wasm artifacts, whose shells install `parseFloat` at start, no parser of its own
/// (the tests of both shells check that floats round-trip exactly).
#[cfg(all(target_arch = "wasm32", any(feature = "js", feature = "worker")))]
fn default_float(_token: &str) -> Option<f64> {
    None
}

/// A `Value` seed whose floats are re-read from their tokens.
struct Exact<'n, 'a>(&'n mut Numbers<'a>);

impl<'de> DeserializeSeed<'de> for Exact<'_, '_> {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Exact<'_, '_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any valid JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        self.0.next();
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        self.0.next();
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        let exact = std::str::from_utf8(self.0.next()).ok().and_then(exact_float);
        Ok(Number::from_f64(exact.unwrap_or(v)).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(Exact(&mut *self.0))? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut members = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(Exact(&mut *self.0))?;
            members.insert(key, value);
        }
        Ok(Value::Object(members))
    }
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
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn builds_what_json_builds() {
        assert_eq!(object([]), json!({}));
        assert_eq!(object([("a", Value::from(1)), ("b", Value::from("x"))]), json!({"a": 1, "b": "x"}));
        assert_eq!(object([("a", Value::from(1)), ("a", Value::from(2))]), json!({"a": 2}));
        assert_eq!(parse_object(r#"{"a": [1]}"#), json!({"a": [1]}).as_object().cloned());
        assert_eq!(parse_object("[1]"), None);
        assert_eq!(parse_object("{"), None);
    }

    #[test]
    fn parses_floats_exactly_and_otherwise_as_serde_json() {
        let exact = |t: &str| parse(t).ok().and_then(|v| v.pointer("/x/1").and_then(Value::as_f64));
        for t in ["25.805360112477338", "-1.81996730402717e-179", "1.0715660391465826E-75", "-0", "1e-400"] {
            let text = format!(r#"{{"1e5 \\": "-2.5\"9", "x": [-7, {t}, 18446744073709551616], "9": true}}"#);
            assert_eq!(exact(&text).map(f64::to_bits), t.parse::<f64>().ok().map(f64::to_bits), "{text}");
        }
        let texts = [
            r#"{"a": [1, -2, 3.5, 1e3, "x\"1", null, {"b": 0.1}], "a": 2.25, "c\\": [-0.0, 12345678901234567890]}"#,
            "[1, 2",
            "[1 2]",
            "01",
            "1.",
            "-",
            "1e400",
            "[\"\\\"]",
            "{\"a\": 1} x",
            "  7  ",
            "nul",
            "[1e5,]",
        ];
        for text in texts {
            let ours = parse(text).map_err(|e| e.to_string());
            let theirs = serde_json::from_str::<Value>(text).map_err(|e| e.to_string());
            assert_eq!(ours, theirs, "{text}");
        }
    }
}
