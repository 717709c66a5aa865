//! `GET /app` and `PATCH /app`: app settings.

use super::rules::require_server;
use crate::core::access::auth::Caller;
use crate::core::model::settings::AppSettings;
use crate::core::wire::error::Result;
use crate::core::wire::json::object;
use serde_json::Value;

/// `PATCH /app`: server-side only; validates what Roster acts on, keeps the rest.
pub fn update_app(settings: &AppSettings, patch: &Value, caller: &Caller) -> Result<AppSettings> {
    require_server(caller, "UpdateApp")?;
    settings.update(patch)
}

/// `GET /app` body (without duration).
pub fn get_app(settings: &AppSettings) -> Value {
    object([("app", settings.public_view())])
}
