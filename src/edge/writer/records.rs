//! `POST /users` and `PATCH /users` over records: the same record path as `UserStore` and the npm
//! batch exports ([`batch::upsert_records`], [`batch::partial_records`]) over the stored texts,
//! unique usernames checked over SQL by the same rules ([`unique::check`]), the index columns
//! read from the new records, the commit as every write's. Where the record path leaves a
//! write (every error, a text it cannot hold) or a user token writes under guarded fields, the
//! write runs over trees through the driver (`execute.rs`), which words the error.

use super::*;
use crate::core::engine::batch::unique::{self, Holder, Listed, Row};
use crate::core::engine::batch::{self, Written};
use crate::core::model::read::Form;
use crate::core::model::username::{Held, Named, Rule};
use crate::core::query::row;
use crate::edge::store::Prepared;

/// A batch write over records: the answer, or `None` when it runs over trees. `text` is the
/// body as the operation reads it; `ids`, the ids it writes.
pub(super) fn write(
    db: &Db,
    cmd: &Command,
    settings: &AppSettings,
    text: &str,
    ids: &[String],
    at: Timestamp,
) -> Result<Option<Answer>, ApiError> {
    let caller = &cmd.claims.caller;
    if batch::guarded(settings, caller) {
        return Ok(None);
    }
    let texts = store::load_texts(db, ids)?;
    let load = &mut |id: &str| match texts.get(id) {
        Some(text) => Ok(Some(text.clone())),
        None if ids.iter().any(|i| i == id) => Ok(None),
        None => Ok(store::load_texts(db, &[id.to_string()])?.remove(id)),
    };
    let upsert = matches!(cmd.route, Route::Upsert);
    let written = match upsert {
        true => batch::upsert_records(text, load, caller, at)?,
        false => batch::partial_records(text, load, caller, at)?,
    };
    let Some(written) = written else { return Ok(None) };
    let before: Vec<Option<Form<'_>>> =
        written.users.iter().map(|(id, _)| texts.get(id).map(|t| Form::of(t))).collect();
    let held: Vec<Option<Held>> = before.iter().map(|b| b.as_ref().and_then(|b| Held::of(b))).collect();
    let after: Vec<Form<'_>> = written.records().map(|(_, text)| Form::of(text)).collect();
    let rows: Vec<Row<'_>> = after
        .iter()
        .zip(before.iter().zip(&held))
        .map(|(a, (b, h))| Row { before: b.as_ref().map(|b| b as &dyn Named), held: h.as_ref(), after: a })
        .collect();
    // An upsert's users are checked in id order, as the operation over trees reads its body.
    let (updates, _) = unique::check(&rows, upsert, Rule::of(settings), &mut SqlLists(db))?;
    let users = written
        .records()
        .zip(after.iter().zip(&before))
        .map(|((id, text), (a, b))| {
            (id.to_string(), text.to_string(), row::index_row(a), b.as_ref().map(|b| row::index_row(b)))
        })
        .collect();
    Prepared::of_records(users, &updates).commit(db, at)?;
    let Written { body, users } = written;
    let records = users.into_iter().filter_map(|(_, range)| body.get(range).map(str::to_string)).collect();
    let answer = json::parse(&body).map_err(|e| ApiError::internal(format!("a written batch is not JSON: {e}")))?;
    let publish = Publish::Records(UserChange::Updated, records);
    Ok(Some((answer, if upsert { 201 } else { 200 }, Some(publish))))
}

/// The index lists and the users they name, read from SQL for the check.
struct SqlLists<'a>(&'a Db);

impl Listed for SqlLists<'_> {
    fn lists(&mut self, keys: &[&str]) -> Result<Vec<Vec<String>>, ApiError> {
        let keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
        Ok(store::load_names(self.0, &keys)?.into_iter().map(|(_, ids)| ids).collect())
    }
    fn holders(&mut self, ids: &[&str]) -> Result<Vec<Option<Holder>>, ApiError> {
        let ids: Vec<String> = ids.iter().map(|i| i.to_string()).collect();
        let mut texts = store::load_texts(self.0, &ids)?;
        Ok(ids
            .iter()
            .map(|id| {
                let text = texts.remove(id)?;
                let held = Held::of(&Form::of(&text));
                Some((text, held))
            })
            .collect())
    }
}
