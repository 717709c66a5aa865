//! A user as the in-memory store holds it: its record text (what the Worker's storage holds
//! too, and what the writes over records read), its tree parsed the first time an operation over
//! trees or a query reads it, and the name it holds as the last write read it.

use crate::core::model::record::Record;
use crate::core::model::user::User;
use crate::core::model::username::{Held, Named};
use crate::core::wire::json;
use serde_json::Value;
use std::borrow::Cow;
use std::cell::OnceCell;

#[derive(Clone, Debug)]
pub struct Stored {
    text: String,
    tree: OnceCell<User>,
    held: OnceCell<Option<Held>>,
}

impl Stored {
    /// A user written on records, holding `held`: its tree is parsed when it is first read.
    pub fn holding(text: String, held: Option<Held>) -> Self {
        Stored { text, tree: OnceCell::new(), held: OnceCell::from(held) }
    }
    /// A user written as a tree: its text is written now.
    pub fn of_tree(user: User) -> Self {
        Stored::with(json::object_text(&user), user)
    }
    /// A user whose text and tree are both at hand (the same user).
    pub fn with(text: String, user: User) -> Self {
        Stored { text, tree: OnceCell::from(user), held: OnceCell::new() }
    }
    pub fn text(&self) -> &str {
        &self.text
    }
    pub fn tree(&self) -> &User {
        self.tree.get_or_init(|| tree_of(&self.text))
    }
    /// The name the user holds: as the write over records that stored the user read it, else
    /// read from its tree.
    pub fn held(&self) -> Option<&Held> {
        self.held.get_or_init(|| Held::of(self.tree())).as_ref()
    }
    /// The text and the tree, apart.
    pub fn split(self) -> (String, User) {
        let tree = match self.tree.into_inner() {
            Some(tree) => tree,
            None => tree_of(&self.text),
        };
        (self.text, tree)
    }
}

/// The tree of a stored text: the store writes every text itself, each a JSON object.
fn tree_of(text: &str) -> User {
    match json::parse(text) {
        Ok(Value::Object(user)) => user,
        _ => User::new(),
    }
}

/// A stored or written text read for the names it holds: as a record, or as a tree where a
/// record cannot hold it.
pub enum Form<'a> {
    Record(Record<'a>),
    Tree(User),
}

impl<'a> Form<'a> {
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
