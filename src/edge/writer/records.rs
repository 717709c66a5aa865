//! `POST /users` and `PATCH /users` (and a guest's write, an upsert): the record path that
//! `UserStore` and the npm batch exports run ([`batch::upsert`], [`batch::partial_update`])
//! over the stored records' texts, then the uniqueness check and the commit as every write's
//! ([`ops::finish_written`] through the driver). Each record is stored as the record path wrote
//! it: the bytes the npm package writes for the same request over the same stored text.

use super::*;
use crate::core::engine::batch;
use crate::core::ops::Commit;
use crate::core::wire::error::Operation;

/// A batch write: what it is and who writes it.
pub(super) struct BatchWrite<'a> {
    pub db: &'a Db,
    pub op: Operation,
    /// `POST /users`; else `PATCH /users`.
    pub upsert: bool,
    pub caller: &'a Caller,
    pub settings: &'a AppSettings,
    pub at: Timestamp,
}

/// Runs and commits a batch write of `text` (the body as the record path reads it) from `snap`
/// and its `loader`.
pub(super) fn write(
    w: &BatchWrite<'_>,
    text: &str,
    snap: &mut Snapshot,
    loader: &mut SqlLoader<'_>,
) -> Result<Commit, OpError> {
    let (caller, settings) = (w.caller, w.settings);
    let fail = |error| OpError { op: w.op, error };
    // The batch's stored users, read once: their texts for the record path, their trees (an
    // unreadable record is a storage fault, 500) for the uniqueness check and the commit.
    let mut loaded = Vec::new();
    let load = &mut |ids: &[&str]| -> Result<Vec<Option<String>>, ApiError> {
        let ids: Vec<String> = ids.iter().map(|id| id.to_string()).collect();
        let mut texts = Vec::with_capacity(ids.len());
        for (id, user) in loader.users_and_texts(&ids)? {
            let (user, text) = user.unzip();
            texts.push(text);
            loaded.push((id, user));
        }
        Ok(texts)
    };
    let written = match w.upsert {
        true => batch::upsert(text, load, caller, settings, w.at),
        false => batch::partial_update(text, load, caller, settings, w.at),
    }
    .map_err(fail)?;
    for (id, user) in loaded {
        snap.load_user(id, user);
    }
    let (mut afters, mut texts) = (Vec::new(), Vec::new());
    for (id, tree, text) in written.trees(w.upsert).map_err(fail)? {
        afters.push(tree);
        texts.push((id, text));
    }
    let response = written.answer(caller, settings).map_err(fail)?;
    let status = if w.upsert { 201 } else { 200 };
    let commit = drive::drive(loader, snap, w.op, &|s| ops::finish_written(s, &afters, &response, status))?;
    store::commit(w.db, &commit, &loader.before, &texts, w.at).map_err(fail)?;
    Ok(commit)
}
