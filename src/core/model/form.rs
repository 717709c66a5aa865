//! The two forms a user is held in while a write decides on it — a `serde_json` tree
//! ([`User`]: the Worker, `UserStore`, the per-object functions) and a [`Record`] over JSON
//! text (the npm batch exports) — seen through one trait, so that each rule of a write (the
//! upsert merge, the server state carried over, who may change what) is written once, in
//! `ops`, and runs on either form.
//!
//! A record answers `None` where it cannot read a value exactly (a string with escapes); the
//! rules then return an error, and the record path leaves the user to the tree.

use super::check::{self, Fault, Text};
use super::fields::{self, Key, Kind};
use super::record::{team_names, Field, Record};
use super::scan::canonical;
use super::user::{self, User};
use crate::core::wire::json;
use serde_json::Value;
use std::borrow::Cow;

/// A user's top-level fields, whichever form holds them. `'a` is the life of the texts a
/// record borrows (a tree owns its values).
pub trait UserForm<'a>: Sized {
    /// One field's value, as this form holds it.
    type Value: Clone;
    /// The value of field `key`.
    fn value(&self, key: Key) -> Option<&Self::Value>;
    fn has(&self, key: Key) -> bool {
        self.value(key).is_some()
    }
    /// Removes field `key`, returning its value.
    fn take(&mut self, key: Key) -> Option<Self::Value>;
    /// Sets field `key` to `value`, in place if it is there.
    fn put(&mut self, key: Key, value: Self::Value);
    /// Sets field `key` to the JSON text `text`: a default, the write's time.
    fn put_text(&mut self, key: Key, text: &'a str);
    /// Sets field `key` to the JSON text `text` unless the field is there.
    fn or_text(&mut self, key: Key, text: &'a str);
    fn is_null(value: &Self::Value) -> bool;
    /// A value that is a string (its escapes decoded); `None`: another type.
    fn str_value<'v>(value: &'v Self::Value) -> Option<Cow<'v, str>>;
    /// A value that is a boolean.
    fn bool_value(value: &Self::Value) -> Option<bool>;
    /// Checks a value of a field of kind `kind` ([`check::check_field`]).
    fn check(kind: Kind, value: &Self::Value) -> Result<(), Fault>;
    /// How deeply a value nests (a scalar is 0, `[]` is 1).
    fn depth(value: &Self::Value) -> usize;
    /// The size of the custom data as serde_json writes it as an object: exact, or an upper
    /// bound that is within [`user::MAX_CUSTOM_BYTES`] (so exact whenever it is over).
    fn custom_size(&self) -> usize;
    /// Calls `visit` with each field's key, kind and value, until it fails.
    fn try_each<E>(&self, visit: impl FnMut(&str, Kind, &Self::Value) -> Result<(), E>) -> Result<(), E>;
    /// Keeps only the fields that pass `keep`.
    fn retain(&mut self, keep: impl Fn(Kind, &Self::Value) -> bool);
    /// Adds the fields of `from` whose kind passes `pick` (this form has none of them).
    fn copy(&mut self, from: &Self, pick: impl Fn(Kind) -> bool);
    /// The value of `key` when it is a string (`None`: absent, or not a string).
    fn str_of(&self, key: Key) -> Option<Cow<'_, str>>;
    /// The sorted, distinct strings of `teams` (none when it is absent or not an array).
    fn teams(&self) -> Vec<Cow<'_, str>>;
    /// Whether field `key` holds the same value here and in `other`.
    fn same(&self, other: &Self, key: Key) -> bool;

    /// A value other than null is set at `key`.
    fn set_non_null(&self, key: Key) -> bool {
        self.value(key).is_some_and(|v| !Self::is_null(v))
    }
    fn is_deactivated(&self) -> bool {
        self.set_non_null(fields::DEACTIVATED_AT)
    }
    fn is_hard_deleted(&self) -> bool {
        self.has(fields::HARD_DELETED)
    }
    fn is_deleted(&self) -> bool {
        self.set_non_null(fields::DELETED_AT) || self.is_hard_deleted()
    }
    /// Active: neither deactivated nor deleted. Only active users hold their name.
    fn is_active(&self) -> bool {
        !self.is_deactivated() && !self.is_deleted()
    }
    /// The role (`user` when absent); `None`: not a string.
    fn role(&self) -> Option<Cow<'_, str>> {
        if self.has(fields::ROLE) {
            self.str_of(fields::ROLE)
        } else {
            Some(Cow::Borrowed("user"))
        }
    }
}

impl<'a> UserForm<'a> for User {
    type Value = Value;
    fn value(&self, key: Key) -> Option<&Value> {
        self.get(key.name)
    }
    fn take(&mut self, key: Key) -> Option<Value> {
        self.remove(key.name)
    }
    fn put(&mut self, key: Key, value: Value) {
        self.insert(key.name.to_string(), value);
    }
    fn put_text(&mut self, key: Key, text: &'a str) {
        // The texts put are a timestamp, `false` and the defaults: most need no parser.
        let value = match super::record::plain_string(text) {
            Some(s) => Value::String(s.to_string()),
            None if text == "false" => Value::Bool(false),
            None => json::parse(text).unwrap_or(Value::Null),
        };
        self.put(key, value);
    }
    fn or_text(&mut self, key: Key, text: &'a str) {
        if !self.contains_key(key.name) {
            self.put_text(key, text);
        }
    }
    fn is_null(value: &Value) -> bool {
        value.is_null()
    }
    fn str_value<'v>(value: &'v Value) -> Option<Cow<'v, str>> {
        value.as_str().map(Cow::Borrowed)
    }
    fn str_of(&self, key: Key) -> Option<Cow<'_, str>> {
        self.get(key.name)?.as_str().map(Cow::Borrowed)
    }
    fn bool_value(value: &Value) -> Option<bool> {
        value.as_bool()
    }
    fn check(kind: Kind, value: &Value) -> Result<(), Fault> {
        check::check_field(kind, value)
    }
    fn depth(value: &Value) -> usize {
        user::nesting_depth(value)
    }
    fn custom_size(&self) -> usize {
        user::custom_data_size(self)
    }
    fn try_each<E>(&self, mut visit: impl FnMut(&str, Kind, &Value) -> Result<(), E>) -> Result<(), E> {
        self.iter().try_for_each(|(k, v)| visit(k, Kind::of(k), v))
    }
    fn retain(&mut self, keep: impl Fn(Kind, &Value) -> bool) {
        // Removed one by one: `Map::retain` links a second removal machinery for the map.
        let gone: Vec<String> = self.iter().filter(|(k, v)| !keep(Kind::of(k), v)).map(|(k, _)| k.clone()).collect();
        for k in gone {
            self.remove(&k);
        }
    }
    fn copy(&mut self, from: &Self, pick: impl Fn(Kind) -> bool) {
        for (k, v) in from.iter().filter(|(k, _)| pick(Kind::of(k))) {
            self.insert(k.clone(), v.clone());
        }
    }
    fn teams(&self) -> Vec<Cow<'_, str>> {
        super::set::of(user::teams_of(self).into_iter().map(Cow::Borrowed))
    }
    fn same(&self, other: &Self, key: Key) -> bool {
        self.get(key.name) == other.get(key.name)
    }
}

impl<'a> UserForm<'a> for Record<'a> {
    type Value = Field<'a>;
    fn value(&self, key: Key) -> Option<&Field<'a>> {
        self.field(key)
    }
    fn take(&mut self, key: Key) -> Option<Field<'a>> {
        self.take_field(key)
    }
    fn put(&mut self, _key: Key, value: Field<'a>) {
        Record::put(self, value);
    }
    fn put_text(&mut self, key: Key, text: &'a str) {
        Record::put(self, Field::fixed(key.name, key.kind, Cow::Borrowed(text)));
    }
    fn or_text(&mut self, key: Key, text: &'a str) {
        if self.field(key).is_none() {
            self.fields.push(Field::fixed(key.name, key.kind, Cow::Borrowed(text)));
        }
    }
    fn is_null(value: &Field<'a>) -> bool {
        value.is_null()
    }
    fn str_value<'v>(value: &'v Field<'a>) -> Option<Cow<'v, str>> {
        check::string_of(&value.value)
    }
    fn str_of(&self, key: Key) -> Option<Cow<'_, str>> {
        check::string_of(&self.field(key)?.value)
    }
    fn bool_value(value: &Field<'a>) -> Option<bool> {
        match value.value.as_ref() {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        }
    }
    fn check(kind: Kind, value: &Field<'a>) -> Result<(), Fault> {
        check::check_field(kind, &Text(&value.value)).or_else(|fault| match json::parse(&value.value) {
            // Refused: the fault of the value's tree, whose members are sorted, so that a value
            // with two faults gives the same one whatever order its members came in.
            Ok(tree) => check::check_field(kind, &tree),
            Err(_) => Err(fault),
        })
    }
    fn depth(value: &Field<'a>) -> usize {
        value.measure.depth
    }
    fn custom_size(&self) -> usize {
        // `{` + `"key":value` joined by `,` + `}`. A value's measured size is exact when it is
        // canonical, else an upper bound; when the bound passes the limit, the values that are
        // not canonical are written out to measure them exactly.
        let custom = || self.fields.iter().filter(|f| f.kind == Kind::Custom);
        let object = |sizes: usize, members: usize| if members == 0 { 2 } else { sizes + members + 1 };
        let members = custom().count();
        let bound = object(custom().map(|f| f.key.len() + 3 + f.measure.size).sum(), members);
        if bound <= user::MAX_CUSTOM_BYTES || custom().all(|f| !f.measure.rewrite) {
            return bound;
        }
        let mut text = String::new();
        let exact = custom().map(|f| {
            text.clear();
            canonical::push(&mut text, &f.value, f.measure);
            f.key.len() + 3 + text.len()
        });
        object(exact.sum(), members)
    }
    fn try_each<E>(&self, mut visit: impl FnMut(&str, Kind, &Field<'a>) -> Result<(), E>) -> Result<(), E> {
        if self.fields.iter().try_for_each(|f| visit(&f.key, f.kind, f)).is_ok() {
            return Ok(());
        }
        // A field is refused: the error is the first one in key order, as over a tree (whose
        // members are sorted), whatever order the fields came in.
        let mut sorted: Vec<&Field<'a>> = Vec::with_capacity(self.fields.len());
        for f in &self.fields {
            sorted.insert(sorted.partition_point(|s| s.key < f.key), f);
        }
        sorted.into_iter().try_for_each(|f| visit(&f.key, f.kind, f))
    }
    fn retain(&mut self, keep: impl Fn(Kind, &Field<'a>) -> bool) {
        self.fields.retain(|f| keep(f.kind, f));
    }
    fn copy(&mut self, from: &Self, pick: impl Fn(Kind) -> bool) {
        self.fields.extend(from.fields.iter().filter(|f| pick(f.kind)).cloned());
    }
    fn teams(&self) -> Vec<Cow<'_, str>> {
        self.field(fields::TEAMS).map_or_else(Vec::new, |f| super::set::of(team_names(&f.value)))
    }
    fn same(&self, other: &Self, key: Key) -> bool {
        match (self.field(key), other.field(key)) {
            (None, None) => true,
            // The same text is the same value; other texts may spell one value otherwise.
            (Some(a), Some(b)) => {
                a.value == b.value || matches!((json::parse(&a.value), json::parse(&b.value)), (Ok(x), Ok(y)) if x == y)
            }
            _ => false,
        }
    }
}
