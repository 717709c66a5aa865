//! `upsertUsers` over records (see `mod.rs`): each input user read and cleaned as a [`Record`]
//! while the body is read, merged over its stored record, server state carried over. A user a
//! record cannot hold exactly (an escaped key, custom data near the limit, a stored record
//! likewise) goes through the same rules as a tree, alone: the other users' records are written
//! as they would be without it.

use super::*;

/// An input user, cleaned, in the form that holds it.
enum Input<'a> {
    Record(Record<'a>),
    Tree(User),
}

/// [`upsert`] over records: `Ok(None)` when it leaves the batch to the tree path (every error).
pub fn upsert_records(body: &str, stored: &mut Load<'_>, caller: &Caller, now: Timestamp) -> Result<Option<Written>> {
    let now = &ops::ts_text(now);
    let Some(batch) = read_users(body, |scan| {
        let mut batch: Vec<(&str, &str, Input<'_>)> = Vec::new();
        members(scan, |scan, key| {
            let start = scan.mark();
            let record = Record::read(scan);
            if record.is_none() {
                scan.reset(start);
                scan.value(MAX_NESTING)?;
            }
            let raw = scan.since(start);
            let input = match record.map(|r| ops::clean_input(key, r, caller)) {
                Some(Ok(record)) => Input::Record(record),
                // What the record cannot decide, the tree does; an error leaves the batch.
                _ => Input::Tree(ops::clean_input(key, tree_of(raw)?, caller).ok()?),
            };
            batch.push((key, raw, input));
            Some(())
        })?;
        Some(batch)
    }) else {
        return Ok(None);
    };
    if batch.is_empty() || batch.len() > MAX_BATCH {
        return Ok(None);
    }
    let texts = load_texts(batch.iter().map(|(id, _, _)| *id), stored)?;
    // The new records are about the input users plus the server's fields.
    let ids = batch.iter().map(|(id, _, _)| id.to_string()).collect();
    let mut w = Writer::new(true, body.len() + 160 * texts.len(), ids);
    let mut batch: Vec<Option<(&str, &str, Input<'_>)>> = batch.into_iter().map(Some).collect();
    for at in w.order() {
        let (Some((id, raw, input)), Some(text)) = (batch.get_mut(at).and_then(Option::take), texts.get(at)) else {
            continue;
        };
        let input = match input {
            Input::Record(input) => {
                let merged = match text.as_deref().map(Record::parse) {
                    Some(None) => None,
                    old => ops::merge_user(old.flatten().as_ref(), input, id, caller, now).ok(),
                };
                if let Some(new) = merged {
                    w.user(at, |out| new.write(out));
                    continue;
                }
                // The tree, for this user alone (an error leaves the batch).
                let tree = tree_of(raw).and_then(|t| ops::clean_input(id, t, caller).ok());
                let Some(tree) = tree else { return Ok(None) };
                tree
            }
            Input::Tree(tree) => tree,
        };
        let old = match text.as_deref().map(tree_of) {
            Some(None) => return Ok(None),
            old => old.flatten(),
        };
        let Ok(new) = ops::merge_user(old.as_ref(), input, id, caller, now) else { return Ok(None) };
        w.user(at, |out| write_tree(out, &new));
    }
    Ok(Some(w.finish()))
}
