//! The in-memory store's batch writes over records. `POST /users` and `PATCH /users` are decided
//! by the record path of the npm batch exports ([`crate::core::engine::batch`]) over the stored
//! texts; then unique usernames are checked and the index updated from the names the users hold
//! before and after, by the same rules as every write ([`username`]). A user token's write under
//! server-only fields (`roster_server_only_fields`) is guarded by the batch path; one that may
//! not see hidden fields (`roster_hidden_fields`) gets the response without them.

use super::stored::{Form, Stored};
use super::MemoryStore;
use crate::core::engine::batch::{Naming, Written};
use crate::core::model::settings::UniqueMode;
use crate::core::model::username::{self, Change, Held, Holders, IndexUpdates, Named, Rule};
use crate::core::model::{check, pairs, record};
use crate::core::wire::error::Result;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::ops::Range;

impl MemoryStore {
    /// Checks unique usernames for a batch written on records, then stores it: the index lists
    /// it changes, then its records. `by_id`: the batch's users are checked in id order (an
    /// upsert's, as serde_json's tree of its body's `users` object holds them); otherwise in
    /// the body's order. Returns the response body and the index updates.
    pub(super) fn commit_records(&mut self, written: Written, by_id: bool) -> Result<(String, IndexUpdates)> {
        let (updates, held) = self.check_names(&written, by_id)?;
        for (n, ids) in updates.claims.iter().chain(&updates.releases) {
            self.put_names(n, ids);
        }
        let Written { body, users, .. } = written;
        for ((id, range), held) in users.into_iter().zip(held) {
            let text = body.get(range).unwrap_or_default().to_string();
            self.users.insert(id, Stored::holding(text, held));
        }
        Ok((body, updates))
    }

    /// The index updates of a batch written on records, and the name each of its users holds
    /// (in the batch's order).
    fn check_names(&self, written: &Written, by_id: bool) -> Result<(IndexUpdates, Vec<Option<Held>>)> {
        let rule = Rule::of(&self.settings);
        let stored: Vec<Option<&Stored>> = written.users.iter().map(|(id, _)| self.users.get(id)).collect();
        // The users before the write are read for their teams, which only team mode compares.
        let before: Vec<Option<Form<'_>>> = match rule.mode {
            UniqueMode::Team => stored.iter().map(|s| s.map(|s| Form::of(s.text()))).collect(),
            _ => Vec::new(),
        };
        let after: Vec<After<'_>> = written
            .users
            .iter()
            .zip(&written.namings)
            .map(|(user, naming)| After::of(written, user, naming.as_ref()))
            .collect();
        let order = written.check_order(by_id);
        let mut changes = Vec::with_capacity(order.len());
        for &i in &order {
            let (Some(s), Some(a)) = (stored.get(i), after.get(i)) else { continue };
            let b = before.get(i).and_then(Option::as_ref).map(|b| b as &dyn Named);
            changes.push(Change::new(b, s.and_then(Stored::held), a));
        }
        let view = View::new(self, &changes);
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
}

/// A user the batch wrote, as the index reads it: its `name` and `teams` values where the body
/// holds them (a record's [`Naming`]), or its text read again (a user written as a tree).
enum After<'a> {
    Marked { id: &'a str, name: Option<&'a str>, teams: Option<&'a str>, active: bool },
    Read(Form<'a>),
}

impl<'a> After<'a> {
    fn of(written: &'a Written, (id, range): &'a (String, Range<usize>), naming: Option<&Naming>) -> Self {
        let text = |at: &Option<Range<usize>>| at.clone().and_then(|at| written.body.get(at));
        match naming {
            Some(n) => After::Marked { id, name: text(&n.name), teams: text(&n.teams), active: n.active },
            None => After::Read(Form::of(written.body.get(range.clone()).unwrap_or_default())),
        }
    }
}

impl Named for After<'_> {
    fn id(&self) -> &str {
        match self {
            After::Marked { id, .. } => id,
            After::Read(form) => form.id(),
        }
    }
    fn name(&self) -> Option<Cow<'_, str>> {
        match self {
            After::Marked { name, .. } => name.and_then(check::string_of),
            After::Read(form) => form.name(),
        }
    }
    fn active(&self) -> bool {
        match self {
            After::Marked { active, .. } => *active,
            After::Read(form) => form.active(),
        }
    }
    fn team_names(&self) -> Vec<Cow<'_, str>> {
        match self {
            After::Marked { teams, .. } => teams.map_or_else(Vec::new, record::team_names),
            After::Read(form) => form.team_names(),
        }
    }
}

/// A user as the uniqueness rules read it, with the name it holds.
type Holder<'a> = (&'a dyn Named, Option<&'a Held>);

/// The store as the uniqueness rules see it during a write: the index lists, the batch's new
/// states over the stored ones, and every other holder of a name the batch touches.
struct View<'a> {
    names: &'a BTreeMap<String, Vec<String>>,
    /// The batch's users by id (sorted), with the names they hold.
    batch: Vec<(&'a str, Holder<'a>)>,
    /// The other holders by id (sorted).
    others: Vec<(&'a str, (Form<'a>, Option<&'a Held>))>,
}

impl<'a> View<'a> {
    fn new(store: &'a MemoryStore, changes: &'a [Change<'a>]) -> Self {
        let mut batch = Vec::with_capacity(changes.len());
        for c in changes {
            pairs::insert_sorted(&mut batch, c.after.id(), (c.after, c.after_name.as_ref()));
        }
        let mut others = Vec::new();
        for key in username::keys_touched(changes) {
            for id in store.names.get(key).into_iter().flatten().map(String::as_str) {
                if pairs::get_sorted(&batch, id).is_some() || pairs::get_sorted(&others, id).is_some() {
                    continue;
                }
                if let Some(s) = store.users.get(id) {
                    pairs::insert_sorted(&mut others, id, (Form::of(s.text()), s.held()));
                }
            }
        }
        View { names: &store.names, batch, others }
    }
}

impl Holders for View<'_> {
    fn holders(&self, key: &str) -> &[String] {
        self.names.get(key).map_or(&[], Vec::as_slice)
    }
    fn user(&self, id: &str) -> Option<(&dyn Named, Option<&Held>)> {
        match pairs::get_sorted(&self.batch, id) {
            Some((user, held)) => Some((*user, *held)),
            None => pairs::get_sorted(&self.others, id).map(|(form, held)| (form as &dyn Named, *held)),
        }
    }
    /// Everything is in memory: an id not stored is known to be missing.
    fn is_loaded(&self, _id: &str) -> bool {
        true
    }
}
