//! `queryUsers` for a caller, as every shell answers it: the query narrowed to what the caller
//! may see (tenancy), its keyset walk if the sort has one, and the page shown as the caller may
//! see each user, with `online` from the shell's presence and `next`/`prev` beside `users`.

use super::events;
use crate::core::access::auth::Caller;
use crate::core::model::settings::AppSettings;
use crate::core::model::user::User;
use crate::core::query::cursor::{self, Page, Walk};
use crate::core::query::payload::UserQuery;
use crate::core::query::tenancy;
use crate::core::wire::error::Result;
use crate::core::wire::json::object;
use serde_json::Value;

/// The query a caller may run (`me`: a user caller's stored record), and its walk.
pub fn for_caller(
    q: UserQuery,
    caller: &Caller,
    me: Option<&User>,
    settings: &AppSettings,
) -> Result<(UserQuery, Option<Walk>)> {
    let q = tenancy::restrict_query(q, caller, me, settings)?;
    let walk = Walk::of(&q)?;
    Ok((q, walk))
}

/// The answer: `{users, next?, prev?}`, each user as the caller may see it, `online` while
/// `connected` says it has an open connection and it shows as online (not invisible).
pub fn users_answer(page: Page, caller: &Caller, settings: &AppSettings, connected: impl Fn(&str) -> bool) -> Value {
    let users = page
        .users
        .iter()
        .map(|u| {
            let mut shown = tenancy::shown(u, caller, settings);
            let id = u.get("id").and_then(Value::as_str).unwrap_or_default();
            shown.insert("online".into(), Value::Bool(connected(id) && events::visible(u)));
            Value::Object(shown)
        })
        .collect();
    cursor::with_cursors(object([("users", Value::Array(users))]), page.next, page.prev)
}
