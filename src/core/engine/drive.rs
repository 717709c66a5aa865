//! The one driver of the core's load loop, shared by every shell (the in-memory store, the
//! Writer over SQLite): run the operation on what is loaded, load what it asks for, repeat
//! until it returns a [`Commit`]. Each round loads strictly more, so the loop ends; the bound
//! only guards against a core bug.

use crate::core::model::user::User;
use crate::core::ops::{Commit, Need, Snapshot, Step};
use crate::core::wire::error::{ApiError, OpError, Operation};

/// What a shell loads for a [`Need`].
pub struct Loaded {
    /// Each asked-for id with its stored user (`None`: not stored).
    pub users: Vec<(String, Option<User>)>,
    /// Index lists (normalized name → holders): the ones asked for, and any others the shell
    /// finds cheap to add (the names the loaded users hold), which saves a round.
    pub names: Vec<(String, Vec<String>)>,
}

/// Storage as the driver sees it.
pub trait Loader {
    fn load(&mut self, need: &Need) -> Result<Loaded, ApiError>;
}

/// Most rounds an operation takes (upserts take two: users with their names, then holders).
const MAX_ROUNDS: usize = 8;

/// An operation over a snapshot, as the core defines them: what the driver runs.
pub type OpFn<'a> = dyn Fn(&Snapshot) -> crate::core::wire::error::Result<Step> + 'a;

/// Runs `f` to its commit, loading into `snap` what it asks for.
pub fn drive(
    loader: &mut dyn Loader,
    mut snap: Snapshot,
    op: Operation,
    f: &dyn Fn(&Snapshot) -> Result<Step, ApiError>,
) -> Result<Commit, OpError> {
    let fail = |error| OpError { op, error };
    for _ in 0..MAX_ROUNDS {
        match f(&snap).map_err(fail)? {
            Step::Need(need) => {
                let loaded = loader.load(&need).map_err(fail)?;
                snap.load_users(loaded.users);
                for (name, ids) in loaded.names {
                    snap.names.entry(name).or_insert(ids);
                }
            }
            Step::Done(commit) => return Ok(commit),
        }
    }
    Err(fail(ApiError::internal("operation did not converge")))
}
