//! `partialUpdateUsers` over records (see `mod.rs`): each entry's `set`/`unset` read and
//! checked while the body is read, applied as text edits of the stored record, parsing only the
//! custom fields its dotted paths reach into.

use super::*;
use crate::core::model::partial::{EntryParts, PartialUpdate, PathList};

/// How many `set` paths, and how many `unset` paths, an entry holds on the record path: its
/// checks compare paths pairwise, so a larger entry goes to the tree, whose sorted map keeps the
/// work at n log n.
const MAX_PATHS: usize = 64;

/// One `{id, set, unset}` entry, checked; `set` sorted by path as `ops` applies it.
struct Entry<'a> {
    id: Cow<'a, str>,
    set: Vec<(Path<'a>, &'a str, Measure)>,
    unset: Vec<Path<'a>>,
    /// The top-level fields edited as a whole: reached by a dotted path, or `privacy_settings`
    /// (which merges).
    edited: Vec<&'a str>,
}

/// A dotted path and its first segment.
#[derive(Clone, Copy)]
struct Path<'a> {
    raw: &'a str,
    top: &'a str,
}

impl<'a> Path<'a> {
    fn new(raw: &'a str) -> Self {
        let end = raw.bytes().position(|b| b == b'.').unwrap_or(raw.len());
        Path { raw, top: raw.get(..end).unwrap_or(raw) }
    }
    fn is_dotted(self) -> bool {
        self.top.len() < self.raw.len()
    }
}

impl PathList for Vec<(Path<'_>, &str, Measure)> {
    fn item(&self, at: usize) -> Option<Option<&str>> {
        self.get(at).map(|(p, _, _)| Some(p.raw))
    }
}

impl PathList for Vec<Option<Path<'_>>> {
    fn item(&self, at: usize) -> Option<Option<&str>> {
        self.get(at).map(|p| p.map(|p| p.raw))
    }
}

/// An entry, in the form that holds it.
enum Patch<'a> {
    /// Read as text, its members checked.
    Text(Entry<'a>),
    /// Read as text, and refused by a check of its members: the error, raised in the batch's
    /// order.
    Refused(ApiError),
    /// What the reader cannot hold exactly (an escaped key or path, a repeated member, a value
    /// nesting too deeply, say): its text is read as a tree.
    Raw,
    /// Read and checked as a tree.
    Tree(PartialUpdate),
}

impl Patch<'_> {
    fn id(&self) -> &str {
        match self {
            Patch::Text(entry) => &entry.id,
            Patch::Tree(update) => &update.id,
            Patch::Refused(_) | Patch::Raw => "",
        }
    }
}

/// The entry whose text is `raw` as a tree, checked (`seen`: the ids of the entries before it).
fn entry_tree(body: &str, raw: &str, who: Who<'_>, seen: &mut Vec<String>) -> Result<PartialUpdate> {
    ops::partial_entry(&tree_in(body, raw)?, who.0, who.1, seen)
}

/// The caller and the app's settings.
type Who<'w> = (&'w Caller, &'w AppSettings);

/// `PATCH /users` `{users: [{id, set, unset}]}` over users the caller holds. All or nothing;
/// unique usernames are not checked. Entries are checked, then applied, in the batch's order; a
/// user a record cannot hold exactly goes through the same rules as a tree, alone: the other
/// users' records are written as they would be without it. A user token's entries under
/// server-only fields (`settings`) are checked as trees.
pub fn partial_update(
    body: &str,
    stored: &mut Load<'_>,
    caller: &Caller,
    settings: &AppSettings,
    now: Timestamp,
) -> Result<Written> {
    let now_text = &ops::ts_text(now);
    let guarded = guarded(caller, settings);
    let who = (caller, settings);
    let mut patches = Vec::new();
    match read_body(body, b'[', &mut |scan, skipped| read_patches(scan, skipped, &mut patches))? {
        Users::Read => {}
        Users::Absent => return Err(ops::users_required()),
        Users::Wrong => return Err(ops::users_not_a_list()),
    }
    ops::check_batch_len(patches.len(), "users")?;
    check_patches(body, &mut patches, who, guarded)?;
    let ids: Vec<&str> = patches.iter().map(|(_, p)| p.id()).collect();
    let mut w = Writer::new(false, 0, ids.iter().map(|id| id.to_string()).collect());
    let order = w.order();
    let texts = load_texts(&ids, &order, stored)?;
    // The new records are about as long as the stored ones, and the body's values.
    w.reserve(texts.iter().flatten().map(String::len).sum::<usize>() + body.len());
    let olds = read_stored(&texts, &ids, &order)?;
    let mut news = Vec::with_capacity(patches.len());
    for (at, (raw, patch)) in patches.iter().enumerate() {
        let (Some(old), Some(text)) = (olds.get(at), texts.get(at)) else { continue };
        let new = match (patch, old) {
            (Patch::Text(entry), Some(Held::Record(old))) => {
                ops::partial_target(Some(old), &entry.id, caller)?;
                apply_entry(old, entry, now_text)?.map(Held::Record)
            }
            _ => None,
        };
        news.push(match new {
            Some(new) => new,
            None => {
                let owned;
                let update = match patch {
                    Patch::Tree(update) => update,
                    // The tree, for this user alone: it words the error.
                    _ => {
                        owned = entry_tree(body, raw, who, &mut Vec::new())?;
                        &owned
                    }
                };
                let old = old_tree(old.as_ref(), text.as_deref());
                Held::Tree(ops::apply_partial(old.as_ref(), update, caller, now)?)
            }
        });
    }
    for at in order {
        if let Some(new) = news.get(at) {
            w.user(at, new);
        }
    }
    Ok(w.finish())
}

/// Each entry's checks, in the batch's order: its members, then whether an earlier entry names
/// its user, then who may write what. A guarded caller's entries, and those the reader could not
/// hold, are read and checked as trees.
fn check_patches<'a>(body: &str, patches: &mut [(&'a str, Patch<'a>)], who: Who<'_>, guarded: bool) -> Result<()> {
    let mut seen = Vec::with_capacity(patches.len());
    for (raw, patch) in patches {
        match std::mem::replace(patch, Patch::Raw) {
            Patch::Refused(error) if !guarded => return Err(error),
            Patch::Text(entry) if !guarded => {
                ops::check_once(&mut seen, &entry.id)?;
                let paths = entry.set.iter().map(|(p, _, _)| *p).chain(entry.unset.iter().copied());
                let touches = |top: &str| paths.clone().any(|p| p.top == top);
                ops::check_partial_permissions(who.0, &entry.id, &touches)?;
                *patch = Patch::Text(entry);
            }
            _ => *patch = Patch::Tree(entry_tree(body, raw, who, &mut seen)?),
        }
    }
    Ok(())
}

/// Reads into `entries` the entries of the `users` array at the cursor, each with its text:
/// read as text where an entry can be, else left to be read as a tree (`None`: text that is
/// not JSON).
fn read_patches<'a>(scan: &mut Scan<'a>, skipped: &mut bool, entries: &mut Vec<(&'a str, Patch<'a>)>) -> Option<()> {
    entries.clear();
    let mut more = scan.open(b'[', b']')?;
    while more {
        let start = scan.mark();
        let read = match read_entry(scan) {
            Some(entry) => entry,
            None => {
                scan.reset(start);
                scan.skip()?;
                *skipped = true;
                Patch::Raw
            }
        };
        entries.push((scan.since(start), read));
        more = scan.more(b']')?;
    }
    Some(())
}

/// An entry's members read as text and checked as a tree's are ([`partial::check_entry`]);
/// `None`: text the reader does not hold.
fn read_entry<'a>(scan: &mut Scan<'a>) -> Option<Patch<'a>> {
    let (mut id, mut unknown, mut set_kind, mut unset_kind) = (None, None, true, true);
    let (mut set, mut unset) = (Vec::new(), Vec::new());
    members(scan, |scan, key| {
        match (key, scan.peek()?) {
            ("id", b'"') => id = Some(Some(scan.string()?.value()?)),
            ("set", b'{') => read_set(scan, &mut set)?,
            ("unset", b'[') => read_unset(scan, &mut unset)?,
            _ => {
                // Null counts as absent; any other value is of the wrong kind.
                let null = scan.value(FIELD_DEPTH)?.0 == "null";
                match key {
                    "id" => id = (!null).then_some(None),
                    "set" => set_kind &= null,
                    "unset" => unset_kind &= null,
                    _ => unknown = unknown.filter(|u| *u < key).or(Some(key)),
                }
            }
        }
        Some(())
    })?;
    // By path, as a tree's map holds them and `ops` applies them: an insertion sort in place
    // (at most MAX_PATHS).
    for i in 1..set.len() {
        let (Some(sorted), Some(item)) = (set.get(..i), set.get(i)) else { break };
        let at = sorted.partition_point(|(p, _, _): &(Path<'_>, _, _)| p.raw < item.0.raw);
        if let Some(moved) = set.get_mut(at..=i) {
            moved.rotate_right(1);
        }
    }
    let parts = EntryParts {
        id,
        unknown,
        set: set_kind.then_some(&set as &dyn PathList),
        unset: unset_kind.then_some(&unset as &dyn PathList),
    };
    let id = match partial::check_entry(parts) {
        Ok(id) => id,
        Err(error) => return Some(Patch::Refused(error)),
    };
    // Every item is a path once checked.
    let unset: Vec<Path<'a>> = unset.into_iter().flatten().collect();
    let mut edited = Vec::new();
    for path in set.iter().map(|(p, _, _)| *p).chain(unset.iter().copied()) {
        if (path.is_dotted() || path.top == "privacy_settings") && !edited.contains(&path.top) {
            edited.push(path.top);
        }
    }
    Some(Patch::Text(Entry { id, set, unset, edited }))
}

/// An entry's `set` object: each path with its value's text (a repeated path: the last one
/// wins, as in serde_json's maps).
fn read_set<'a>(scan: &mut Scan<'a>, set: &mut Vec<(Path<'a>, &'a str, Measure)>) -> Option<()> {
    let mut more = scan.open(b'{', b'}')?;
    while more {
        let path = Path::new(scan.string()?.plain()?);
        scan.eat(b':')?;
        let (value, m) = scan.value(FIELD_DEPTH)?;
        set.retain(|(p, _, _)| p.raw != path.raw);
        if set.len() == MAX_PATHS {
            return None;
        }
        set.push((path, value, m));
        more = scan.more(b'}')?;
    }
    Some(())
}

/// An entry's `unset` array: each item's path, `None` for an item that is not a string.
fn read_unset<'a>(scan: &mut Scan<'a>, unset: &mut Vec<Option<Path<'a>>>) -> Option<()> {
    let mut more = scan.open(b'[', b']')?;
    while more {
        if unset.len() == MAX_PATHS {
            return None;
        }
        unset.push(match scan.peek()? {
            b'"' => Some(Path::new(scan.string()?.plain()?)),
            _ => {
                scan.value(FIELD_DEPTH)?;
                None
            }
        });
        more = scan.more(b']')?;
    }
    Some(())
}

/// `ops`' partial update of one stored user, over records. Each path touches only its
/// top-level field, so the fields are edited one at a time: as text when every path on the
/// field is the field itself or a dotted path into it ([`FieldEdit`]: only the objects on the
/// path are opened), as a tree when `privacy_settings` (which merges) is written. The new
/// user's checks word their own errors; `None`: an edit the text cannot make (the tree then
/// makes it, or words its error).
fn apply_entry<'a>(old: &Record<'a>, entry: &Entry<'a>, now: &'a str) -> Result<Option<Record<'a>>> {
    let edited = &entry.edited;
    let mut new = old.clone();
    for &t in edited {
        let edited = if t == "privacy_settings" {
            edit_tree(&mut new, t, |tree| {
                for path in entry.unset.iter().filter(|p| p.top == t) {
                    let segments: Vec<String> = path.raw.split('.').map(str::to_string).collect();
                    partial::unset_path(tree, &segments);
                }
                for (path, value, _) in entry.set.iter().filter(|(p, _, _)| p.top == t) {
                    let path = FieldPath::parse(path.raw).ok()?;
                    partial::set_path(tree, &path, json::parse(value).ok()?).ok()?;
                }
                Some(())
            })
        } else {
            edit_text(&mut new, old, entry, t)
        };
        if edited.is_none() {
            return Ok(None);
        }
    }
    for path in entry.unset.iter().filter(|p| !edited.contains(&p.top)) {
        new.remove(path.raw);
        if let Some(text) = crate::core::model::fields::default_of(path.raw) {
            new.put(Field::fixed(path.raw, Kind::of(path.raw), Cow::Borrowed(text)));
        }
    }
    for &(path, value, measure) in entry.set.iter().filter(|(p, _, _)| !edited.contains(&p.top)) {
        let key = path.raw;
        new.put(Field { key: Cow::Borrowed(key), kind: Kind::of(key), value: Cow::Borrowed(value), measure });
    }
    ops::carry_partial(old, &mut new, now);
    validate::validate(&new, &entry.id)?;
    Ok(Some(new))
}

/// Edits top-level field `top` (reached by dotted paths) as text.
fn edit_text<'a>(record: &mut Record<'a>, old: &Record<'a>, entry: &Entry<'a>, top: &'a str) -> Option<()> {
    let mut edit = FieldEdit::new(top, old.get(top).map(|f| f.value.as_ref()));
    for path in entry.unset.iter().filter(|p| p.top == top) {
        edit.unset(path.raw)?;
    }
    for (path, value, _) in entry.set.iter().filter(|(p, _, _)| p.top == top) {
        edit.set(path.raw, value)?;
    }
    let Some(text) = edit.finish() else {
        record.remove(top);
        return Some(());
    };
    let (_, measure) = Scan::new(&text).value(FIELD_DEPTH)?;
    record.put(Field { key: Cow::Borrowed(top), kind: Kind::of(top), value: Cow::Owned(text), measure });
    Some(())
}

/// Edits `privacy_settings` as a tree: the one place a partial update parses a field.
fn edit_tree<'a>(
    record: &mut Record<'a>,
    top: &'a str,
    edit: impl FnOnce(&mut Map<String, Value>) -> Option<()>,
) -> Option<()> {
    let mut tree = Map::new();
    if let Some(field) = record.get(top) {
        tree.insert(top.to_string(), json::parse(&field.value).ok()?);
    }
    edit(&mut tree)?;
    match tree.get(top) {
        Some(value) => {
            let text = json::text(value);
            let (_, measure) = Scan::new(&text).value(FIELD_DEPTH)?;
            let kind = Kind::of(top);
            record.put(Field { key: Cow::Borrowed(top), kind, value: Cow::Owned(text), measure });
        }
        None => {
            record.remove(top);
        }
    }
    Some(())
}
