//! `POST /guest` `{user}`: a guest user, created (or updated) through the upsert rules with role
//! `guest` and no teams. Only when the app has `roster_guests_enabled` on and is not
//! multi-tenant (as in Stream, guests and teams do not mix); an existing user that is no guest
//! cannot be taken. The shell signs the guest's token.

use crate::core::model::settings::AppSettings;
use crate::core::model::user::{self, User};
use crate::core::model::v2;
use crate::core::wire::error::{ApiError, Result};
use crate::core::wire::json::{self, object};
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

impl GuestRequest {
    /// Whether the guest may be written over its stored user (`None`: not stored): a user that
    /// exists and is no guest cannot be taken.
    pub fn check_stored(&self, stored: Option<&User>) -> Result<()> {
        match stored.is_some_and(|u| user::role_of(u) != "guest") {
            true => Err(ApiError::not_allowed(format!("user '{}' exists and is not a guest", self.id))),
            false => Ok(()),
        }
    }
    /// The guest's write: the body of a server-side `POST /users` of it, which the shell runs.
    pub fn upsert_body(&self) -> String {
        let mut users = Map::new();
        users.insert(self.id.clone(), Value::Object(self.input.clone()));
        json::text(&object([("users", Value::Object(users))]))
    }
}
