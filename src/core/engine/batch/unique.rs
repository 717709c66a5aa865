//! Unique usernames for a batch written on records ([`super::upsert_records`],
//! [`super::partial_records`]), over
//! any store: the same rules as every write ([`username`]), read from the batch's users before
//! and after the write and from the store's index lists and the other users they list. The
//! in-memory store and the Worker's Writer both check a batch this way before they store it.

use crate::core::model::read::Form;
use crate::core::model::set;
use crate::core::model::username::{self, Change, Held, Holders, IndexUpdates, Named, Rule};
use crate::core::wire::error::Result;

/// A stored user's text with the name it holds.
pub type Holder = (String, Option<Held>);

/// What the check reads from a store beyond the batch's own users.
pub trait Listed {
    /// The index list of each key (empty: none), in the order asked.
    fn lists(&mut self, keys: &[&str]) -> Result<Vec<Vec<String>>>;
    /// The stored text of each id with the name its user holds (`None`: not stored), in the
    /// order asked.
    fn holders(&mut self, ids: &[&str]) -> Result<Vec<Option<Holder>>>;
}

/// One user of a written batch: its state before the write (`before`: read for its teams, which
/// only team mode compares; `held`: the name it held, `None` when it held none or was not stored)
/// and after.
pub struct Row<'a> {
    pub before: Option<&'a dyn Named>,
    pub held: Option<&'a Held>,
    pub after: &'a dyn Named,
}

/// Checks unique usernames for a written batch (`rows` in the batch's order; `by_id`: checked in
/// id order, as an upsert's body is read by the operation over trees, else in the batch's
/// order). Returns the index updates and the name each user holds after the write (in the
/// batch's order).
pub fn check(
    rows: &[Row<'_>],
    by_id: bool,
    rule: Rule,
    store: &mut dyn Listed,
) -> Result<(IndexUpdates, Vec<Option<Held>>)> {
    let mut order: Vec<usize> = Vec::with_capacity(rows.len());
    let id = |i: usize| rows.get(i).map_or("", |r| r.after.id());
    for i in 0..rows.len() {
        // Sorted by insertion: a sort would link a sorting routine of its own.
        let at = if by_id { order.partition_point(|&o| id(o) < id(i)) } else { i };
        order.insert(at, i);
    }
    let changes: Vec<Change<'_>> =
        order.iter().filter_map(|&i| rows.get(i)).map(|r| Change::new(r.before, r.held, r.after)).collect();
    let keys = username::keys_touched(&changes);
    let lists = store.lists(&keys)?;
    // Sorted by insertion: a sort would link a sorting routine of its own.
    let mut batch: Vec<(&str, &dyn Named, Option<&Held>)> = Vec::with_capacity(changes.len());
    for c in &changes {
        let id = c.after.id();
        batch.insert(batch.partition_point(|(b, _, _)| *b < id), (id, c.after, c.after_name.as_ref()));
    }
    // Every other user the lists name, read once.
    let mut wanted: Vec<&str> = Vec::new();
    for id in lists.iter().flatten().map(String::as_str) {
        if find(&batch, id).is_none() {
            set::insert(&mut wanted, id);
        }
    }
    let texts = store.holders(&wanted)?;
    let others: Vec<(&str, Form<'_>, Option<&Held>)> = wanted
        .iter()
        .zip(&texts)
        .filter_map(|(id, t)| t.as_ref().map(|(text, held)| (*id, Form::of(text), held.as_ref())))
        .collect();
    let view = View { keys: &keys, lists: &lists, batch, others };
    username::check(&changes, rule, &view)?;
    let updates = username::index_updates(&changes, &view);
    let mut held = vec![None; changes.len()];
    for (&i, c) in order.iter().zip(&changes) {
        if let Some(slot) = held.get_mut(i) {
            *slot = c.after_name.clone();
        }
    }
    Ok((updates, held))
}

/// The store as the rules see it during the write: the index lists of the names the batch
/// touches, the batch's new states over the stored ones, and every other user those lists name.
struct View<'a> {
    /// The keys touched, sorted, and their lists.
    keys: &'a [&'a str],
    lists: &'a [Vec<String>],
    /// The batch's users, sorted by id.
    batch: Vec<(&'a str, &'a dyn Named, Option<&'a Held>)>,
    /// The other users the lists name that are stored, sorted by id.
    others: Vec<(&'a str, Form<'a>, Option<&'a Held>)>,
}

/// The row of `id` in `rows`, which are sorted by id.
fn find<'r, A, B>(rows: &'r [(&str, A, B)], id: &str) -> Option<&'r (&'r str, A, B)> {
    rows.get(rows.partition_point(|(r, _, _)| *r < id)).filter(|(r, _, _)| *r == id)
}

impl Holders for View<'_> {
    fn holders(&self, key: &str) -> &[String] {
        let at = self.keys.partition_point(|k| *k < key);
        match (self.keys.get(at), self.lists.get(at)) {
            (Some(k), Some(list)) if *k == key => list,
            _ => &[],
        }
    }
    fn user(&self, id: &str) -> Option<(&dyn Named, Option<&Held>)> {
        match find(&self.batch, id) {
            Some((_, user, held)) => Some((*user, *held)),
            None => find(&self.others, id).map(|(_, form, held)| (form as &dyn Named, *held)),
        }
    }
    /// Every user the lists name was read: one not found is known to be missing.
    fn is_loaded(&self, _id: &str) -> bool {
        true
    }
}
