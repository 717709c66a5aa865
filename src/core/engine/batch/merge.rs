//! `upsertUsers` over records (see `mod.rs`): each input user read and cleaned as a [`Record`]
//! while the body is read, merged over its stored record, server state carried over.

use super::*;

/// [`upsert`] over records alone: `Ok(None)` when it leaves the batch to the tree path.
pub fn upsert_records(body: &str, stored: &mut Load<'_>, caller: &Caller, now: Timestamp) -> Result<Option<Written>> {
    let now = &format!("\"{now}\"");
    let Some(batch) = read_users(body, |scan| {
        let mut batch: Vec<(&str, Record<'_>)> = Vec::new();
        members(scan, |scan, key| {
            batch.push((key, Record::read(scan)?));
            Some(())
        })?;
        Some(batch)
    }) else {
        return Ok(None);
    };
    if batch.is_empty() || batch.len() > MAX_BATCH {
        return Ok(None);
    }
    let mut inputs = Vec::with_capacity(batch.len());
    for (key, input) in batch {
        match clean_input(key, input, caller) {
            Some(input) => inputs.push((key, input)),
            None => return Ok(None),
        }
    }
    let texts = load_texts(inputs.iter().map(|(id, _)| *id), stored)?;
    // The new records are about the input users plus the server's fields.
    let mut w = Writer::new(true, body.len() + 160 * texts.len());
    for ((id, input), text) in inputs.into_iter().zip(&texts) {
        let old = match text {
            Some(t) => match Record::parse(t) {
                Some(r) => Some(r),
                None => return Ok(None),
            },
            None => None,
        };
        let Some(new) = merge_records(old.as_ref(), input, caller, now) else { return Ok(None) };
        w.user(id, |out| new.write(out));
    }
    Ok(Some(w.finish()))
}

/// An upsert's input user keyed `key`, checked: its id, no reserved fields, built-in fields of
/// the right types, custom data within the limit; without nulls and server-computed fields.
fn clean_input<'a>(key: &str, mut input: Record<'a>, caller: &Caller) -> Option<Record<'a>> {
    let id = input.get("id")?.plain_str()?;
    if id != key || user::validate_id(id).is_err() || input.fields.iter().any(|f| f.kind.is_reserved()) {
        return None;
    }
    if let Caller::User(me) = caller {
        if me != id {
            return None;
        }
    }
    input.fields.retain(|f| !f.is_null() && !f.kind.is_server_computed());
    input.check()?;
    Some(input)
}

/// The sorted, distinct team names of a `teams` field (none when absent).
fn teams_set<'r>(r: Option<&'r Record<'_>>) -> Option<Vec<&'r str>> {
    let Some(field) = r.and_then(|r| r.get("teams")) else { return Some(Vec::new()) };
    let mut names = team_names(&field.value)?;
    names.sort_unstable();
    names.dedup();
    Some(names)
}

/// The merge of `POST /users` for one user (`ops::merge_upsert_batch` over trees).
fn merge_records<'a>(old: Option<&Record<'a>>, input: Record<'a>, caller: &Caller, now: &'a str) -> Option<Record<'a>> {
    if old.is_some_and(|o| o.is_deleted() || o.is_deactivated()) {
        return None;
    }
    let client = matches!(caller, Caller::User(_));
    if client {
        let old_role = old.map_or(Some("user"), Record::role)?;
        if input.get("role").is_some_and(|r| r.plain_str() != Some(old_role)) || input.has("teams_role") {
            return None;
        }
        let given = teams_set(Some(&input))?;
        if !given.is_empty() && given != teams_set(old)? {
            return None;
        }
    }
    let mut new = input;
    if client && teams_set(Some(&new))?.is_empty() {
        new.remove("teams"); // client-side `teams: []` means "not changing teams"
    }
    if let Some(old) = old {
        for keep in crate::core::model::fields::keys(Kind::is_membership) {
            if !new.has(keep) {
                if let Some(f) = old.get(keep) {
                    new.fields.push(f.clone());
                }
            }
        }
    }
    carry_server_state(old, &mut new, now);
    Some(new)
}
