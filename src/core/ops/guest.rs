//! `POST /guest` `{user}`: a guest user, created (or updated) through the upsert rules with role
//! `guest` and no teams. Only when the app has `roster_guests_enabled` on and is not
//! multi-tenant (as in Stream, guests and teams do not mix); an existing user that is no guest
//! cannot be taken. The shell signs the guest's token.

use super::upsert::upsert_users;
use super::{need_users, Snapshot, Step};
use crate::core::access::auth::Caller;
use crate::core::model::settings::AppSettings;
use crate::core::model::user;
use crate::core::model::v2;
use crate::core::wire::error::{ApiError, Result};
use crate::core::wire::json::object;
use crate::core::wire::time::Timestamp;
use serde_json::{Map, Value};

/// A guest request, read and allowed.
#[derive(Clone, Debug, PartialEq)]
pub struct GuestRequest {
    pub id: String,
    input: Map<String, Value>,
}

impl GuestRequest {
    /// Checks that the app takes guests, then reads `{user}` (`/api/v2`: custom data nested in
    /// `custom`; `/api/v1`: a top-level `custom` is refused as reserved, as in an upsert).
    pub fn parse(body: &Value, v2: bool, settings: &AppSettings) -> Result<GuestRequest> {
        if !settings.guests_enabled() || settings.multi_tenant() {
            return Err(ApiError::not_allowed("guest users are not enabled for this app"));
        }
        let Some(Value::Object(input)) = body.get("user") else {
            return Err(ApiError::field("user", "user is a required field and must be an object"));
        };
        let id = crate::core::model::validate::id_of(input)?.to_string();
        let mut input = match v2 {
            true => match v2::user_in(&v2::body_in(&Value::Object(input.clone())), "user")? {
                Value::Object(flat) => flat,
                _ => input.clone(),
            },
            false if input.contains_key(user::SHADOWED) => {
                let name = format!("user.{}", user::SHADOWED);
                return Err(ApiError::field(name.clone(), format!("{name} is a reserved field")));
            }
            false => input.clone(),
        };
        input.insert("role".into(), Value::from("guest"));
        input.remove("teams");
        Ok(GuestRequest { id, input })
    }
}

/// The guest's upsert, once its stored record (if any) is loaded.
pub fn create_guest(req: &GuestRequest, at: Timestamp, snap: &Snapshot) -> Result<Step> {
    if !snap.is_loaded(&req.id) {
        return Ok(need_users(vec![req.id.clone()]));
    }
    if snap.stored(&req.id).is_some_and(|u| user::role_of(u) != "guest") {
        return Err(ApiError::not_allowed(format!("user '{}' exists and is not a guest", req.id)));
    }
    let mut users = Map::new();
    users.insert(req.id.clone(), Value::Object(req.input.clone()));
    upsert_users(&object([("users", Value::Object(users))]), &Caller::Server, at, snap)
}
