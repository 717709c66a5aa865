//! `upsertUsers` over records (see `mod.rs`): each input user read as a [`Record`] while the
//! body is read, checked and cleaned in id order, merged over its stored record, server state
//! carried over; each check and the merge word their own errors. A user a record cannot hold
//! exactly (a key with an escaped quote, a nested object with a repeated member, a stored
//! record likewise) goes through the same rules as a tree, alone: the other users' records are
//! written as they would be without it.

use super::*;

/// An input user, as the body holds it, then checked.
enum Input<'a> {
    /// Read as a record; once checked, cleaned.
    Record(Record<'a>),
    /// An object a record cannot hold or check: read as a tree when checked.
    Object,
    /// Not an object.
    Other,
    /// Checked as a tree.
    Tree(User),
}

/// One user of the batch: its id, its text in the body, its input.
struct Slot<'a> {
    id: Cow<'a, str>,
    raw: &'a str,
    input: Input<'a>,
}

/// `POST /users` `{users: {id: user}}` over users the caller holds: creates missing users,
/// replaces existing ones' data (role and teams kept when omitted). All or nothing; unique
/// usernames are not checked (they need the index: `UserStore` and the Worker check them). A
/// user token's write under server-only fields (`settings`) is guarded as a tree, alone.
pub fn upsert(
    body: &str,
    stored: &mut Load<'_>,
    caller: &Caller,
    settings: &AppSettings,
    now: Timestamp,
) -> Result<Written> {
    let now = &ops::ts_text(now);
    let guarded = guarded(caller, settings);
    let (mut batch, mut order) = (Vec::new(), Vec::new());
    match read_body(body, b'{', &mut |scan, skipped| read_users(scan, skipped, &mut batch, &mut order))? {
        Users::Read => {}
        Users::Absent => return Err(ops::users_required()),
        Users::Wrong => return Err(ops::users_not_a_map()),
    }
    ops::check_batch_len(batch.len(), "users")?;
    let mut w = Writer::new(true, body.len() + 160 * batch.len(), batch.iter().map(|s| s.id.to_string()).collect());
    // Each user's own checks, in id order (the order of the tree of the body's `users`).
    for &at in &order {
        let Some(slot) = batch.get_mut(at) else { continue };
        let (id, raw) = (&slot.id, slot.raw);
        slot.input = match std::mem::replace(&mut slot.input, Input::Other) {
            Input::Record(_) if guarded => Input::Tree(clean_tree(body, id, raw, caller)?),
            Input::Record(record) => Input::Record(ops::clean_input(id, record, caller)?),
            Input::Object => Input::Tree(clean_tree(body, id, raw, caller)?),
            _ => return Err(ops::user_not_an_object(id)),
        };
    }
    let ids: Vec<&str> = batch.iter().map(|s| s.id.as_ref()).collect();
    let texts = load_texts(&ids, &order, stored)?;
    let olds = read_stored(&texts, &ids, &order)?;
    for &at in &order {
        let (Some(slot), Some(old)) = (batch.get_mut(at), olds.get(at)) else { continue };
        let input = match (std::mem::replace(&mut slot.input, Input::Other), old) {
            (Input::Record(input), None | Some(Held::Record(_))) => {
                let old = match old {
                    Some(Held::Record(old)) => Some(old),
                    _ => None,
                };
                let new = ops::merge_user(old, input, &slot.id, caller, now)?;
                w.user(at, &Held::Record(new));
                continue;
            }
            (Input::Tree(tree), _) => tree,
            _ => clean_tree(body, &slot.id, slot.raw, caller)?,
        };
        let old = old_tree(old.as_ref(), texts.get(at).and_then(Option::as_deref));
        let mut new = ops::merge_user(old.as_ref(), input.clone(), &slot.id, caller, now)?;
        if guarded {
            tenancy::guard_write(old.as_ref(), &input, &mut new, caller, settings)?;
        }
        w.user(at, &Held::Tree(new));
    }
    Ok(w.finish())
}

/// Reads the users of `POST /users`'s `users` object into `batch`, in the body's order (a
/// repeated id: the last one counts, in the first one's place), each with its text, and into
/// `by_id` their positions in id order (which finds a repeated id, and is the order to check and
/// write them in).
fn read_users<'a>(
    scan: &mut Scan<'a>,
    skipped: &mut bool,
    batch: &mut Vec<Slot<'a>>,
    by_id: &mut Vec<usize>,
) -> Option<()> {
    batch.clear();
    by_id.clear();
    let mut more = scan.open(b'{', b'}')?;
    while more {
        let id = scan.string()?.value()?;
        scan.eat(b':')?;
        let start = scan.mark();
        let object = scan.peek()? == b'{';
        let input = match if object { Record::read(scan) } else { None } {
            Some(record) => Input::Record(record),
            None => {
                scan.reset(start);
                scan.skip()?;
                *skipped = true;
                if object {
                    Input::Object
                } else {
                    Input::Other
                }
            }
        };
        let raw = scan.since(start);
        let key = |i: &usize| batch.get(*i).map_or("", |s| s.id.as_ref());
        let at = by_id.partition_point(|i| key(i) < id.as_ref());
        match by_id.get(at).copied().filter(|i| key(i) == id.as_ref()) {
            Some(i) => {
                if let Some(slot) = batch.get_mut(i) {
                    *slot = Slot { id, raw, input };
                }
            }
            None => {
                by_id.insert(at, batch.len());
                batch.push(Slot { id, raw, input });
            }
        }
        more = scan.more(b'}')?;
    }
    Some(())
}

/// The input user keyed `id` as a tree, checked: what a record cannot hold or decide.
fn clean_tree(body: &str, id: &str, raw: &str, caller: &Caller) -> Result<User> {
    match tree_in(body, raw)? {
        Value::Object(user) => ops::clean_input(id, user, caller),
        _ => Err(ops::user_not_an_object(id)),
    }
}
