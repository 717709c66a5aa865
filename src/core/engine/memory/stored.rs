//! A user as the in-memory store holds it: its record text (what the Worker's storage holds
//! too, and what the writes over records read), its tree parsed the first time an operation over
//! trees or a query reads it, and the name it holds as the last write read it.

use crate::core::model::read::tree_of;
use crate::core::model::user::User;
use crate::core::model::username::Held;
use crate::core::wire::json;
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
