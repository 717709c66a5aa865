//! A user as the batch operations ([`crate::core::engine::batch`]) hold it: its top-level fields in order,
//! each classified once by a typed [`Kind`] (the built-in fields, the server's, custom data),
//! each value kept as JSON text — the text it arrived in, unless an operation rewrote it — and
//! written in canonical form ([`super::scan::canonical`]): as serde_json writes it, whatever
//! spacing, escapes or number forms it arrived with.
//! Custom data is never built into a tree: it is copied as text, measured while it is read
//! ([`Scan`]), and parsed only where a partial update's dotted path reaches into it.
//!
//! Like the scanner, a record is built only from text it can represent exactly (no duplicate or
//! escaped top-level keys, nesting within the limit); otherwise `None` sends that user through
//! the same rules as a `serde_json` tree.

use super::fields::{Key, Kind};
use super::scan::{canonical, Measure, Scan, Str};
use super::user::MAX_NESTING;
use std::borrow::Cow;
use std::ops::Range;

/// One top-level field.
#[derive(Clone, Debug)]
pub struct Field<'a> {
    pub key: Cow<'a, str>,
    pub kind: Kind,
    /// The value as JSON text.
    pub value: Cow<'a, str>,
    pub measure: Measure,
}

impl<'a> Field<'a> {
    /// A field whose value is text the core wrote (a timestamp, a default): flat and small.
    pub fn fixed(key: &'a str, kind: Kind, value: Cow<'a, str>) -> Self {
        let size = value.len();
        Field { key: Cow::Borrowed(key), kind, value, measure: Measure { depth: 0, size, spaces: 0, rewrite: false } }
    }
    pub fn is_null(&self) -> bool {
        self.value == "null"
    }
    /// The value when it is a string without escapes.
    pub fn plain_str(&self) -> Option<&str> {
        plain_string(&self.value)
    }
}

/// `text` when it is one JSON string token without escapes: its value.
pub fn plain_string(text: &str) -> Option<&str> {
    let inner = text.strip_prefix('"')?.strip_suffix('"')?;
    (!inner.contains(['"', '\\'])).then_some(inner)
}

/// The value of an escaped key, when it can be written back without escapes.
fn unescape(key: Str<'_>) -> Option<Cow<'_, str>> {
    key.value().filter(|k| !k.contains(|c: char| c == '"' || c == '\\' || c < ' '))
}

/// A user's top-level fields, in order, each key once.
#[derive(Clone, Debug, Default)]
pub struct Record<'a> {
    pub fields: Vec<Field<'a>>,
}

/// How deeply a field's value may nest: the user object is the first of [`MAX_NESTING`] levels.
pub const FIELD_DEPTH: usize = MAX_NESTING - 1;

impl<'a> Record<'a> {
    /// The record of a whole text that is one JSON object.
    pub fn parse(text: &'a str) -> Option<Record<'a>> {
        let mut scan = Scan::new(text);
        let record = Record::read(&mut scan)?;
        scan.at_end().then_some(record)
    }

    /// Reads the object at the cursor. Values are kept as they came; one in another form than
    /// canonical is rewritten when the record is written ([`Record::write`]), if it is still
    /// there (an upsert drops the stored custom data it would have rewritten).
    pub fn read(scan: &mut Scan<'a>) -> Option<Record<'a>> {
        let mut record = Record { fields: Vec::with_capacity(16) };
        // A signature of each key read (its length and last byte): a key whose bit is new was
        // not read before, and is added without looking for it.
        let mut seen = 0u64;
        let mut more = scan.open(b'{', b'}')?;
        while more {
            let key = scan.string()?;
            let key = match key.plain() {
                Some(plain) => Cow::Borrowed(plain),
                None => unescape(key)?,
            };
            scan.eat(b':')?;
            let (value, measure) = scan.value(FIELD_DEPTH)?;
            let value = Cow::Borrowed(value);
            let kind = Kind::of(&key);
            let bit = 1u64 << ((key.len() * 7 + usize::from(key.bytes().last().unwrap_or(0))) % 64);
            let field = Field { key, kind, value, measure };
            if seen & bit == 0 {
                record.fields.push(field);
            } else {
                // Maybe a repeated key: the last one wins, as in serde_json's maps.
                record.put(field);
            }
            seen |= bit;
            more = scan.more(b'}')?;
        }
        Some(record)
    }

    /// Where the field `key` (of kind `kind`) is: kinds with one possible key match by kind
    /// alone, the others by key too.
    fn position(&self, kind: Kind, key: &str) -> Option<usize> {
        self.fields.iter().position(|f| f.kind == kind && (kind.is_one_key() || f.key == key))
    }
    /// The field `key` names, found by its kind.
    pub fn field(&self, key: Key) -> Option<&Field<'a>> {
        self.fields.get(self.position(key.kind, key.name)?)
    }
    pub fn take_field(&mut self, key: Key) -> Option<Field<'a>> {
        let at = self.position(key.kind, key.name)?;
        Some(self.fields.remove(at))
    }
    pub fn get(&self, key: &str) -> Option<&Field<'a>> {
        self.fields.get(self.position(Kind::of(key), key)?)
    }
    pub fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }
    /// Sets a field, in place if the key is there, else last.
    pub fn put(&mut self, field: Field<'a>) {
        match self.position(field.kind, &field.key).and_then(|at| self.fields.get_mut(at)) {
            Some(slot) => *slot = field,
            None => self.fields.push(field),
        }
    }
    pub fn remove(&mut self, key: &str) -> Option<Field<'a>> {
        let at = self.position(Kind::of(key), key)?;
        Some(self.fields.remove(at))
    }
    /// Writes the record as a JSON object, each value as serde_json writes it
    /// ([`canonical::push`]): whatever spacing, escapes or number forms a value arrived with, the
    /// same value gives the same text.
    pub fn write(&self, out: &mut String) {
        self.write_marking(out, &mut |_, _| ());
    }
    /// Writes the record ([`Record::write`]), telling `mark` where in `out` each field's value
    /// went, by its kind.
    pub fn write_marking(&self, out: &mut String, mark: &mut dyn FnMut(Kind, Range<usize>)) {
        out.push('{');
        for (i, f) in self.fields.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push('"');
            out.push_str(&f.key);
            out.push_str("\":");
            let start = out.len();
            canonical::push(out, &f.value, f.measure);
            mark(f.kind, start..out.len());
        }
        out.push('}');
    }
}

/// The strings of a `teams` value, in order, their escapes decoded (none when it is not an
/// array; other items skipped): what a tree's `teams` gives ([`super::user::teams_of`]).
pub fn team_names(text: &str) -> Vec<Cow<'_, str>> {
    let mut scan = Scan::new(text);
    let mut names = Vec::new();
    if scan.peek() != Some(b'[') {
        return names;
    }
    let mut more = scan.open(b'[', b']').unwrap_or(false);
    // A record's text is valid JSON: each element is read, strings kept, others skipped.
    while more {
        if scan.peek() == Some(b'"') {
            if let Some(name) = scan.string().and_then(|s| s.value()) {
                names.push(name);
            }
        } else if scan.skip().is_none() {
            break;
        }
        more = scan.more(b']').unwrap_or(false);
    }
    names
}
