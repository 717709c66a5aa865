//! What a user and an app are: the user object and its field rules, the two forms a write
//! holds a user in behind one trait (`form`) with their validation (`validate`, `check`),
//! usernames (normalization, confusable skeletons, uniqueness), `set`/`unset` on dotted paths,
//! the user read and edited as JSON text (`record`, `scan`, `edit`), app settings, the
//! `/api/v2` shape, and small sets and maps as vectors (`set`, `pairs`).
//! Depends on `wire` and `access`.

pub mod check;
pub mod edit;
pub mod fields;
pub mod form;
pub mod normalize;
pub mod pairs;
pub mod partial;
pub mod record;
pub mod scan;
pub mod set;
pub mod setting_keys;
pub mod settings;
pub mod skeleton;
pub mod user;
pub mod username;
pub mod v2;
pub mod validate;
