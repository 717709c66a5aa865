//! Who is calling, as far as no state is needed: the app's credentials (the API key, the secret
//! and, during a rotation, the previous one) and a request token's structure, signature and
//! expiry. What needs state (revocations, `disable_auth_checks` from the Writer's own storage)
//! is checked in the Writer.

use super::params::Params;
use super::{kv, now, store};
use crate::core::access::auth::{self, AuthPolicy, Claims};
use crate::core::model::settings::AppSettings;
use crate::core::model::user;
use crate::core::wire::error::{code, ApiError};
use worker::Env;

/// The app's credentials: the API key is a var, the secret a Wrangler secret. During a
/// rotation the secret `STREAM_API_SECRET_PREVIOUS` holds the old one: tokens signed with it
/// still verify; everything Roster signs uses the current one.
pub(crate) struct Credentials {
    pub(crate) key: String,
    pub(crate) secret: String,
    previous: Option<String>,
}

impl Credentials {
    pub(crate) fn from_env(env: &Env) -> Result<Self, ApiError> {
        let get =
            |name: &str| env.secret(name).map(|s| s.to_string()).or_else(|_| env.var(name).map(|v| v.to_string()));
        let key = get("STREAM_API_KEY").map_err(|_| ApiError::internal("STREAM_API_KEY is not configured"))?;
        let secret = get("STREAM_API_SECRET").map_err(|_| {
            ApiError::internal("STREAM_API_SECRET is not configured: set it with `wrangler secret put`")
        })?;
        let previous = get("STREAM_API_SECRET_PREVIOUS").ok().filter(|p| !p.is_empty() && *p != secret);
        Ok(Credentials { key, secret, previous })
    }

    /// Verifies a token against the current secret, then (for a bad signature only) against
    /// the previous one, if a rotation is under way.
    pub(crate) fn verify(&self, token: &str, policy: &AuthPolicy) -> Result<Claims, ApiError> {
        match (auth::verify(token, &self.secret, policy, now()), &self.previous) {
            (Err(e), Some(previous)) if e.code == code::TOKEN_SIGNATURE => auth::verify(token, previous, policy, now()),
            (result, _) => result,
        }
    }

    /// `?api_key=` must be present and known: checked before anything else.
    pub(crate) fn check_key(&self, params: &Params) -> Result<(), ApiError> {
        match params.get("api_key") {
            None => Err(ApiError::new(2, 401, "api_key or app_id not provided")),
            Some(k) if k.is_empty() => Err(ApiError::new(2, 401, "api_key or app_id not provided")),
            Some(k) if !constant_time_eq(k.as_bytes(), self.key.as_bytes()) => {
                Err(ApiError::new(2, 401, "api_key not valid"))
            }
            Some(_) => Ok(()),
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Verifies the token as far as no state is needed: structure, signature, expiry. A token
/// whose only fault is its signature is accepted, marked unsigned, when the app has
/// `disable_auth_checks` on according to KV; the Writer checks that setting again from its own
/// storage (KV may lag). Everything else about the caller is checked in the Writer.
pub(crate) async fn authenticate(
    token: Option<String>,
    auth_type: Option<String>,
    creds: &Credentials,
    env: &Env,
) -> Result<(Claims, bool), ApiError> {
    if auth_type.as_deref().is_some_and(|t| t.eq_ignore_ascii_case("anonymous")) {
        return Err(ApiError::auth("anonymous users are not supported"));
    }
    let token = token.filter(|t| !t.is_empty() && t != "undefined").ok_or_else(|| {
        ApiError::auth("JWTAuth error: missing Authorization header or authorization query parameter")
    })?;
    let (claims, unsigned) = match creds.verify(&token, &AuthPolicy::default()) {
        Ok(claims) => (claims, false),
        Err(e) if e.code == code::TOKEN_SIGNATURE => {
            let replica = kv::KvNamespace::from_env(env, "USERS")?.get_text(store::SETTINGS_KEY).await?;
            if !replica.is_some_and(|s| AppSettings::from_json(&s).disable_auth_checks()) {
                return Err(e);
            }
            let lax = AuthPolicy { disable_auth_checks: true, revoke_tokens_issued_before: None };
            (creds.verify(&token, &lax)?, true)
        }
        Err(e) => return Err(e),
    };
    if let auth::Caller::User(id) = &claims.caller {
        user::validate_id(id)
            .map_err(|_| ApiError::auth("JWTAuth error: the token's user_id is not a valid user id"))?;
    }
    Ok((claims, unsigned))
}
