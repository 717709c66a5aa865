//! Who may call: Stream's HS256 tokens (server and user, expiry, revocation) and per-minute rate
//! limits. Depends only on `wire`.

pub mod auth;
pub mod rate_limits;
