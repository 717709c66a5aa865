//! The first start: importing what the previous version stored (its own key-value storage, then
//! Workers KV) before anything is served.

use super::*;
use crate::core::model::{pairs, set};

/// What the previous version stored: user records by id, and the app settings.
#[derive(Default)]
pub(super) struct Legacy {
    /// Each user's record, and whether it came from this object's own storage, sorted by id (a
    /// list sorted once: a map type would link a B-tree of its own).
    users: Vec<(String, (String, bool))>,
    settings: Option<String>,
    /// KV keys of the previous username index (`n:…`), to delete from KV.
    name_keys: Vec<String>,
}

/// Imports the previous version's data into empty tables, once: this object's own key-value
/// storage first (the previous Writer committed there before writing through to KV), then
/// Workers KV for what it lacks. Unreadable records are kept as they are: reading them is a
/// storage error (500), as before, never "missing".
pub(super) async fn import(storage: Storage, env: Env) -> Result<(), ApiError> {
    let db = Db::new(storage.as_raw());
    store::create_schema(&db)?;
    if store::meta(&db, "imported")?.is_some() {
        return Ok(());
    }
    let mut legacy = Legacy::default();
    for (key, text) in db.legacy_list("u:").await? {
        if let Some(id) = key.strip_prefix("u:") {
            legacy.users.push((id.to_string(), (text, true)));
        }
    }
    by_id(&mut legacy.users);
    legacy.settings = db.legacy_get(SETTINGS_KEY).await?;
    if let Ok(kv) = KvNamespace::from_env(&env, "USERS") {
        import_kv(&kv, &mut legacy).await?;
    }
    let now = now_ms();
    db.transaction(move |db| write_import(db, &legacy, now))
}

/// Sorts `users` by id.
fn by_id(users: &mut [(String, (String, bool))]) {
    set::sort_by(users, |a, b| a.0.cmp(&b.0));
}

/// Adds what Workers KV holds and `legacy` lacks: the users (`legacy.users` sorted by id before
/// and after), the old index's keys and the settings.
pub(super) async fn import_kv(kv: &KvNamespace, legacy: &mut Legacy) -> Result<(), ApiError> {
    let mut found = Vec::new();
    for prefix in ["u:", "n:"] {
        let mut cursor = None;
        loop {
            let page = kv.list_page(prefix, 1000, cursor.take()).await?;
            let keys: Vec<String> = page.keys.into_iter().map(|(k, _)| k).collect();
            if prefix == "n:" {
                legacy.name_keys.extend(keys);
            } else {
                let missing: Vec<String> = keys
                    .into_iter()
                    .filter(|k| pairs::get_sorted(&legacy.users, k.get(2..).unwrap_or_default()).is_none())
                    .collect();
                let mut reads = Vec::new();
                for chunk in missing.chunks(100) {
                    reads.push(kv.get_texts(chunk)?);
                }
                let maps = kv::all(reads).await?;
                for (chunk, map) in missing.chunks(100).zip(&maps) {
                    for (key, text) in chunk.iter().zip(kv::texts_of(map, chunk)) {
                        if let (Some(id), Some(text)) = (key.get(2..), text) {
                            found.push((id.to_string(), (text, false)));
                        }
                    }
                }
            }
            match page.cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
    }
    legacy.users.extend(found);
    by_id(&mut legacy.users);
    if legacy.settings.is_none() {
        legacy.settings = kv.get_text(SETTINGS_KEY).await?;
    }
    Ok(())
}

pub(super) fn write_import(db: &Db, legacy: &Legacy, now: i64) -> Result<(), ApiError> {
    let seq = 1;
    let mut held = Vec::new();
    let mut rows = Vec::with_capacity(legacy.users.len());
    let mut stale: Vec<(String, Option<&str>)> = Vec::new();
    for (id, (text, own)) in legacy.users.iter() {
        // An unreadable record is kept as it is, with no index columns: reading it stays a
        // storage error.
        let columns = match store::parse_user(id, text) {
            Ok(u) => {
                if let Some(n) = username::held_key(&u) {
                    held.push((n, id.clone()));
                }
                crate::core::query::row::index_row(&u)
            }
            Err(_) => crate::core::query::row::IndexRow::default(),
        };
        rows.push((id.clone(), text.clone(), columns, None));
        if *own {
            // KV may lag the previous Writer's own storage: bring it up to date.
            stale.push((store::user_key(id), Some(text.as_str())));
        }
    }
    for chunk in rows.chunks(1000) {
        store::put_users(db, chunk, seq)?;
    }
    store::put_names(db, &store::index_lists(held))?;
    if let Some(s) = &legacy.settings {
        store::put_settings(db, s)?;
    }
    stale.extend(legacy.name_keys.iter().map(|k| (k.clone(), None)));
    for chunk in stale.chunks(1000) {
        store::enqueue(db, chunk, seq, now)?;
    }
    store::set_meta(db, "seq", &seq.to_string())?;
    store::set_meta(db, "imported", &legacy.users.len().to_string())
}
