//! Unique usernames: the check run by every write (upsert, partial update, connect,
//! reactivate) and the index of who holds each name, over names normalized by
//! [`super::normalize`] and keyed by confusable skeletons ([`super::skeleton`]).

use super::fields;
use super::form::UserForm;
use super::normalize::normalize;
use super::pairs;
use super::record::Record;
use super::set;
use super::settings::{AppSettings, UniqueMode};
use super::skeleton;
use super::user::{name_of, teams_of, User};
use crate::core::wire::error::{ApiError, Result};
use std::borrow::Cow;

/// What the uniqueness rules read of a user, whichever form holds it (a tree, a record).
pub trait Named {
    fn id(&self) -> &str;
    /// The `name` field, when it is a string.
    fn name(&self) -> Option<Cow<'_, str>>;
    /// Neither deactivated nor deleted: only active users hold their name.
    fn active(&self) -> bool;
    /// The strings of the `teams` field, in its order (none when it is absent or not a list).
    fn team_names(&self) -> Vec<Cow<'_, str>>;
}

impl Named for User {
    fn id(&self) -> &str {
        self.get("id").and_then(serde_json::Value::as_str).unwrap_or_default()
    }
    fn name(&self) -> Option<Cow<'_, str>> {
        name_of(self).map(Cow::Borrowed)
    }
    fn active(&self) -> bool {
        self.is_active()
    }
    fn team_names(&self) -> Vec<Cow<'_, str>> {
        teams_of(self).into_iter().map(Cow::Borrowed).collect()
    }
}

impl Named for Record<'_> {
    fn id(&self) -> &str {
        self.field(fields::ID).and_then(|f| f.plain_str()).unwrap_or_default()
    }
    fn name(&self) -> Option<Cow<'_, str>> {
        self.str_of(fields::NAME)
    }
    fn active(&self) -> bool {
        self.is_active()
    }
    fn team_names(&self) -> Vec<Cow<'_, str>> {
        self.field(fields::TEAMS).map_or_else(Vec::new, |f| super::record::team_names(&f.value))
    }
}

/// The index key of the name a user holds ([`Held`]): the index lists holders by it, so one list
/// holds every name that collides under either rule.
pub fn held_key(user: &dyn Named) -> Option<String> {
    Held::of(user).map(|h| h.key)
}

/// How names collide: the app's `enforce_unique_usernames`, and `roster_username_skeletons`
/// (names collide when their skeletons do, not only their normalized forms).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Rule {
    pub mode: UniqueMode,
    pub skeletons: bool,
}

impl Rule {
    pub fn of(settings: &AppSettings) -> Rule {
        Rule { mode: settings.unique_mode(), skeletons: settings.username_skeletons() }
    }
}

/// The name a user holds, as given, normalized, and its index key.
#[derive(Clone, Debug, PartialEq)]
pub struct Held {
    pub given: String,
    pub name: String,
    pub key: String,
}

impl Held {
    pub fn of(user: &dyn Named) -> Option<Held> {
        if !user.active() {
            return None;
        }
        let given = user.name()?;
        let name = normalize(&given);
        (!name.is_empty()).then(|| Held { key: skeleton::key(&name), name, given: given.into_owned() })
    }
    /// Whether `other` (the name another user holds) collides with this one under `rule`.
    fn collides(&self, other: Option<&Held>, rule: Rule) -> bool {
        match other {
            Some(o) if rule.skeletons => o.key == self.key,
            Some(o) => o.name == self.name,
            None => false,
        }
    }
}

/// One user's change in a write: its state before (if stored) and after, with the name each
/// holds ([`Held`], normalized once: every step of the check reads it). `before` is read for
/// its teams alone, in team mode.
pub struct Change<'a> {
    pub before: Option<&'a dyn Named>,
    pub after: &'a dyn Named,
    pub before_name: Option<Held>,
    pub after_name: Option<Held>,
}

impl<'a> Change<'a> {
    /// `before_name` is the name `before` holds, as read when it was loaded ([`Held::of`]).
    pub fn new(before: Option<&'a dyn Named>, before_name: Option<&Held>, after: &'a dyn Named) -> Self {
        // A name kept by a user still active is the name held before, normalized before.
        let kept = before_name.filter(|h| after.active() && after.name().is_some_and(|n| n == h.given));
        let after_name = kept.cloned().or_else(|| Held::of(after));
        Change { before, after, before_name: before_name.cloned(), after_name }
    }
}

/// Which users to compare with: the index lists (name key → ids of holders) and a lookup of
/// the current state of any user (the batch's new state overrides stored state).
pub trait Holders {
    fn holders(&self, key: &str) -> &[String];
    /// The current state of `id` (`None`: not stored, or not loaded) with the name it holds.
    fn user(&self, id: &str) -> Option<(&dyn Named, Option<&Held>)>;
    /// Whether `id`'s state is known (stored, or known to be missing).
    fn is_loaded(&self, id: &str) -> bool;
}

/// The keys whose index lists a write must read: old and new names of the batch, sorted and
/// each once.
pub fn names_touched(changes: &[Change<'_>]) -> Vec<String> {
    keys_touched(changes).into_iter().map(str::to_string).collect()
}

/// [`names_touched`], borrowed from the changes.
pub fn keys_touched<'c>(changes: &'c [Change<'_>]) -> Vec<&'c str> {
    set::of(changes.iter().flat_map(|c| c.before_name.iter().chain(&c.after_name)).map(|h| h.key.as_str()))
}

/// Does this change need a uniqueness check, and against which teams (team mode)?
/// New holders, renamed users, reactivated users and (team mode) users joining teams are checked;
/// an unchanged name is never re-checked, so turning the setting on leaves existing users alone.
fn checked_teams<'a>(c: &Change<'a>, mode: UniqueMode, held: &Held) -> Option<Vec<Cow<'a, str>>> {
    let renamed = c.before_name.as_ref().map(|b| &b.name) != Some(&held.name);
    match mode {
        UniqueMode::No => None,
        UniqueMode::App => renamed.then(Vec::new),
        UniqueMode::Team => {
            let old = set::of(c.before.map(|b| b.team_names()).unwrap_or_default());
            let teams: Vec<Cow<'a, str>> =
                c.after.team_names().into_iter().filter(|t| renamed || !set::contains(&old, t)).collect();
            (!teams.is_empty()).then_some(teams)
        }
    }
}

/// Ids from the index lists that must be loaded to verify a conflict (holders other than the
/// writers whose state is not known yet), sorted and each once.
pub fn holders_to_load(changes: &[Change<'_>], mode: UniqueMode, h: &dyn Holders) -> Vec<String> {
    let mut out = Vec::new();
    for c in changes {
        let Some(held) = &c.after_name else { continue };
        if checked_teams(c, mode, held).is_none() {
            continue;
        }
        for id in h.holders(&held.key) {
            if !h.is_loaded(id) {
                set::insert(&mut out, id.clone());
            }
        }
    }
    out
}

/// Fails with code 6 if a change takes a name another active user holds (in the app, or in a
/// shared team). Holders come from the index and from the batch itself; an index entry is
/// trusted only if that user still holds the name, which repairs stale entries on read.
pub fn check(changes: &[Change<'_>], rule: Rule, h: &dyn Holders) -> Result<()> {
    let mode = rule.mode;
    if mode == UniqueMode::No {
        return Ok(());
    }
    for (i, c) in changes.iter().enumerate() {
        let Some(held) = &c.after_name else { continue };
        let Some(teams) = checked_teams(c, mode, held) else { continue };
        let me = c.after.id();
        let name = c.after.name().unwrap_or_default();
        // Candidates: indexed holders, plus earlier users of this batch (the later writer loses).
        let indexed = h.holders(&held.key).iter().map(String::as_str);
        let in_batch = changes.iter().take(i).map(|o| o.after.id());
        let mut seen = Vec::new();
        for other in indexed.chain(in_batch) {
            if other == me || !set::insert(&mut seen, other) {
                continue;
            }
            let Some((other_user, other_held)) = h.user(other) else { continue };
            if !held.collides(other_held, rule) {
                continue; // stale index entry, a batch user that renamed away, or a lookalike
            }
            if mode == UniqueMode::App {
                return Err(ApiError::duplicate_username(format!("username '{name}' already exists")));
            }
            let theirs = other_user.team_names();
            if let Some(team) = teams.iter().find(|t| theirs.contains(t)) {
                return Err(ApiError::duplicate_username(format!("username '{name}' already exists in team '{team}'")));
            }
        }
    }
    Ok(())
}

/// The index lists after the write: each touched name's holders, with the batch's users
/// added or removed as they now hold the name. Entries for users known to no longer hold the
/// name are dropped. Returns only lists that changed, split into those that gained a member
/// (write before the users) and those that only lost members (write after).
pub fn index_updates(changes: &[Change<'_>], h: &dyn Holders) -> IndexUpdates {
    // Each touched name's list, in name order, with whether it gained or lost a holder.
    let mut lists: Vec<(String, Vec<String>, bool, bool)> =
        keys_touched(changes).into_iter().map(|key| (key.to_string(), h.holders(key).to_vec(), false, false)).collect();
    // The key each of the batch's users holds after the write, by id (a batch holds an id once).
    // Sorted by insertion: `sort` would link a sorting routine of its own into every artifact.
    let mut holds: Vec<(&str, Option<&str>)> = Vec::with_capacity(changes.len());
    for c in changes {
        let id = c.after.id();
        pairs::insert_sorted(&mut holds, id, c.after_name.as_ref().map(|h| h.key.as_str()));
    }
    let held_by = |id: &str| pairs::get_sorted(&holds, id);
    // The batch's users leave the lists of names they do not hold …
    for (key, ids, _, lost) in lists.iter_mut() {
        let before = ids.len();
        ids.retain(|id| held_by(id).is_none_or(|held| *held == Some(key.as_str())));
        *lost |= ids.len() != before;
    }
    // … and join the list of the name they hold, in the batch's order.
    for c in changes {
        let Some(held) = &c.after_name else { continue };
        let at = lists.binary_search_by(|(key, ..)| key.as_str().cmp(&held.key));
        if let Some((_, ids, gained, _)) = at.ok().and_then(|at| lists.get_mut(at)) {
            let id = c.after.id();
            if !ids.iter().any(|x| x == id) {
                ids.push(id.to_string());
                *gained = true;
            }
        }
    }
    // Repair: drop listed users whose known state says they no longer hold the name.
    for (key, ids, _, lost) in lists.iter_mut() {
        let before = ids.len();
        ids.retain(|id| match h.user(id) {
            Some((_, held)) => held.map(|h| &h.key) == Some(key),
            None => !h.is_loaded(id), // unknown: keep; known to be missing: drop
        });
        if ids.len() != before {
            *lost = true;
        }
    }
    let mut out = IndexUpdates::default();
    for (norm, ids, gained, lost) in lists {
        if gained {
            out.claims.push((norm, ids));
        } else if lost {
            out.releases.push((norm, ids));
        }
    }
    out
}

/// Index writes: `claims` gain a holder and go first; `releases` only drop holders and go last,
/// so a failure in between leaves at worst a stale entry, which [`check`] ignores.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct IndexUpdates {
    pub claims: Vec<(String, Vec<String>)>,
    pub releases: Vec<(String, Vec<String>)>,
}
