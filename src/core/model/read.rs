//! A user's stored or written text, read in the form that holds it ([`Form`]): a [`Record`]
//! over the text, or a tree where a record cannot hold the text exactly (an escaped key, say).
//! What the shells read of a text they hold for the uniqueness rules ([`Named`]) and for the
//! index columns, without building a tree of every user.

use super::fields::Key;
use super::form::UserForm;
use super::record::Record;
use super::user::User;
use super::username::Named;
use crate::core::wire::json;
use serde_json::Value;
use std::borrow::Cow;

pub enum Form<'a> {
    Record(Record<'a>),
    Tree(User),
}

impl<'a> Form<'a> {
    /// The form of `text`, a JSON object the shell wrote (anything else reads as an empty user).
    pub fn of(text: &'a str) -> Self {
        match Record::parse(text) {
            Some(record) => Form::Record(record),
            None => Form::Tree(tree_of(text)),
        }
    }
    fn named(&self) -> &dyn Named {
        match self {
            Form::Record(r) => r,
            Form::Tree(t) => t,
        }
    }
    /// The value of field `key` when it is a string, its escapes decoded.
    pub fn string(&self, key: Key) -> Option<Cow<'_, str>> {
        match self {
            Form::Record(r) => r.field(key)?.string(),
            Form::Tree(t) => t.get(key.name)?.as_str().map(Cow::Borrowed),
        }
    }
    /// Whether field `key` holds a value other than null.
    pub fn is_set(&self, key: Key) -> bool {
        match self {
            Form::Record(r) => r.set_non_null(key),
            Form::Tree(t) => t.set_non_null(key),
        }
    }
    pub fn has(&self, key: Key) -> bool {
        match self {
            Form::Record(r) => UserForm::has(r, key),
            Form::Tree(t) => UserForm::has(t, key),
        }
    }
}

/// The tree of a text the shell wrote: each is a JSON object.
pub fn tree_of(text: &str) -> User {
    match json::parse(text) {
        Ok(Value::Object(user)) => user,
        _ => User::new(),
    }
}

impl Named for Form<'_> {
    fn id(&self) -> &str {
        self.named().id()
    }
    fn name(&self) -> Option<Cow<'_, str>> {
        self.named().name()
    }
    fn active(&self) -> bool {
        self.named().active()
    }
    fn team_names(&self) -> Vec<Cow<'_, str>> {
        self.named().team_names()
    }
}
