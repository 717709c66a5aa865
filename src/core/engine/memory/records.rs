//! The in-memory store's batch writes over records. `POST /users` and `PATCH /users` are decided
//! by the record path of the npm batch exports ([`crate::core::engine::batch`]) over the stored
//! texts; then unique usernames are checked and the index updated by the same rules as every
//! write ([`unique`]). The batch path leaves every error to the operation over trees, which words
//! it; a user token's write under server-only or hidden fields (`roster_server_only_fields`,
//! `roster_hidden_fields`) runs over trees too.

use super::stored::Stored;
use super::MemoryStore;
use crate::core::access::auth::Caller;
use crate::core::engine::batch::unique::{self, Holder, Listed, Row};
use crate::core::engine::batch::Written;
use crate::core::model::read::Form;
use crate::core::model::settings::UniqueMode;
use crate::core::model::username::{Held, IndexUpdates, Named, Rule};
use crate::core::wire::error::Result;

impl MemoryStore {
    /// Whether a write of `caller` must run over trees: a user token, with fields it may not
    /// write or see.
    pub(super) fn guards(&self, caller: &Caller) -> bool {
        matches!(caller, Caller::User(_))
            && !(self.settings.server_only_fields().is_empty() && self.settings.hidden_fields().is_empty())
    }

    /// The stored text of `id`, for the batch path's loader.
    pub(super) fn text_of(&self, id: &str) -> Result<Option<String>> {
        Ok(self.users.get(id).map(|s| s.text().to_string()))
    }

    /// Checks unique usernames for a batch written on records, then stores it: the index lists
    /// it changes, then its records. `by_id`: the batch's users are checked in id order (an
    /// upsert's, as its body's `users` object is read by the operation over trees); otherwise in
    /// the body's order. Returns the response body and the index updates.
    pub(super) fn commit_records(&mut self, written: Written, by_id: bool) -> Result<(String, IndexUpdates)> {
        let (updates, held) = self.check_names(&written, by_id)?;
        for (n, ids) in updates.claims.iter().chain(&updates.releases) {
            self.put_names(n, ids);
        }
        let Written { body, users } = written;
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
        let after: Vec<Form<'_>> = written.records().map(|(_, text)| Form::of(text)).collect();
        let rows: Vec<Row<'_>> = after
            .iter()
            .enumerate()
            .map(|(i, a)| Row {
                before: before.get(i).and_then(Option::as_ref).map(|b| b as &dyn Named),
                held: stored.get(i).copied().flatten().and_then(Stored::held),
                after: a,
            })
            .collect();
        unique::check(&rows, by_id, rule, &mut Lists(self))
    }
}

/// The store's index lists and users, as the check reads them.
struct Lists<'a>(&'a MemoryStore);

impl Listed for Lists<'_> {
    fn lists(&mut self, keys: &[&str]) -> Result<Vec<Vec<String>>> {
        Ok(keys.iter().map(|k| self.0.names.get(*k).cloned().unwrap_or_default()).collect())
    }
    fn holders(&mut self, ids: &[&str]) -> Result<Vec<Option<Holder>>> {
        Ok(ids.iter().map(|id| self.0.users.get(*id).map(|s| (s.text().to_string(), s.held().cloned()))).collect())
    }
}
