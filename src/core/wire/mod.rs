//! What crosses the wire, below everything else: Stream's error (code, status, reason), JSON
//! builders and the exact float re-read, RFC 3339 timestamps, the FNV checksum, CORS and the
//! message for APIs Roster does not serve. Depends on nothing else in the core.

pub mod cors;
pub mod error;
pub mod fnv;
pub mod json;
pub mod not_served;
pub mod time;
