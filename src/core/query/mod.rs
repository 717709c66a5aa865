//! Reading users: `queryUsers`' payload, filter and order (`payload`, `filter`, `order`), the
//! index columns of a stored user (`row`) and the planner over them (`index`), keyset cursors,
//! the change feed, conditional-write versions and what a user token may see and touch
//! (`tenancy`). Depends on `wire`, `access` and `model`.

pub mod cursor;
pub mod feed;
pub mod filter;
pub mod index;
pub mod order;
pub mod payload;
pub mod precondition;
pub mod row;
pub mod tenancy;
