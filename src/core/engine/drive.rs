//! The one driver of the core's load loop, shared by every shell (the in-memory store, the
//! Writer over SQLite): run the operation on what is loaded, load what it asks for, repeat
//! until it returns a [`Commit`]. Each round loads strictly more, so the loop ends; the bound
//! only guards against a core bug.

use crate::core::model::set;
use crate::core::model::user::User;
use crate::core::ops::{Commit, Need, Snapshot, Step};
use crate::core::wire::error::{ApiError, OpError, Operation};

/// Storage as the driver sees it: two reads, each of many keys at once.
pub trait Loader {
    /// Each asked-for id with its stored user (`None`: not stored).
    fn users(&mut self, ids: &[String]) -> Result<Vec<(String, Option<User>)>, ApiError>;
    /// Each asked-for username index list: name key → ids of holders (empty: none).
    fn names(&mut self, keys: &[String]) -> Result<Vec<(String, Vec<String>)>, ApiError>;
}

/// Loads what `need` asks for into `snap`: the users, then the index lists asked for with the
/// lists of the names the loaded users hold (a rename then needs no round of its own).
pub fn load(loader: &mut dyn Loader, snap: &mut Snapshot, need: &Need) -> Result<(), ApiError> {
    let mut held = Vec::new();
    if !need.users.is_empty() {
        for (id, user) in loader.users(&need.users)? {
            held.extend(snap.load_user(id, user));
        }
    }
    let mut keys = Vec::new();
    for key in need.names.iter().cloned().chain(held) {
        if !snap.has_names(&key) {
            set::insert(&mut keys, key);
        }
    }
    if !keys.is_empty() {
        for (key, ids) in loader.names(&keys)? {
            snap.load_names(key, ids);
        }
    }
    Ok(())
}

/// Most rounds an operation takes (upserts take two: users with their names, then holders).
const MAX_ROUNDS: usize = 8;

/// An operation over a snapshot, as the core defines them: what the driver runs.
pub type OpFn<'a> = dyn Fn(&Snapshot) -> crate::core::wire::error::Result<Step> + 'a;

/// Runs `f` to its commit, loading into `snap` what it asks for (the shell keeps `snap`: what
/// was loaded, whether the operation succeeded or not).
pub fn drive(
    loader: &mut dyn Loader,
    snap: &mut Snapshot,
    op: Operation,
    f: &dyn Fn(&Snapshot) -> Result<Step, ApiError>,
) -> Result<Commit, OpError> {
    let fail = |error| OpError { op, error };
    for _ in 0..MAX_ROUNDS {
        match f(snap).map_err(fail)? {
            Step::Need(need) => load(loader, snap, &need).map_err(fail)?,
            Step::Done(commit) => return Ok(commit),
        }
    }
    Err(fail(ApiError::internal("operation did not converge")))
}
