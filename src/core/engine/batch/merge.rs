//! `upsertUsers` over records (see `mod.rs`): each input user read and cleaned as a [`Record`]
//! while the body is read, merged over its stored record, server state carried over.

use super::*;

/// [`upsert`] over records alone: `Ok(None)` when it leaves the batch to the tree path.
pub fn upsert_records(body: &str, stored: &mut Load<'_>, caller: &Caller, now: Timestamp) -> Result<Option<Written>> {
    let now = &ops::ts_text(now);
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
        // Any error is worded by the tree path.
        match ops::clean_input(key, input, caller) {
            Ok(input) => inputs.push((key, input)),
            Err(_) => return Ok(None),
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
        // Any error is worded by the tree path.
        let Ok(new) = ops::merge_user(old.as_ref(), input, id, caller, now) else { return Ok(None) };
        w.user(id, |out| new.write(out));
    }
    Ok(Some(w.finish()))
}
