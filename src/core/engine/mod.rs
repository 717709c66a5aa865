//! Running the operations: the one load loop every shell runs (`drive`), the in-memory store
//! (`memory`, the npm `UserStore`), the npm batch entry points (`batch`), batch tasks, events,
//! `queryUsers` answers, the Writer's activity counts and connection hubs. The top layer:
//! depends on the others, nothing depends on it.

pub mod activity;
pub mod answers;
pub mod batch;
pub mod drive;
pub mod events;
pub mod hubs;
pub mod memory;
pub mod tasks;
