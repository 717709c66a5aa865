//! Stream's tokens: HS256 JWTs signed with the app secret.
//!
//! Server tokens carry `{"server": true}`, user tokens `{"user_id": ID}` with optional
//! `exp`/`iat` (seconds). [`verify`] checks the signature over the exact received
//! `header.payload` bytes in constant time, accepts only `alg: HS256`, and maps every
//! failure to a 401 [`ApiError`] with Stream's code (5 malformed, 40 expired or revoked,
//! 41 not valid yet, 42 issued in the future, 43 bad signature).

use crate::core::wire::error::{code, ApiError};
use crate::core::wire::time::Timestamp;
use hmac::{Hmac, Mac};
use serde_json::{Map, Value};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// `base64url({"alg":"HS256","typ":"JWT"})`, the header every Stream SDK emits.
pub const HEADER: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";

/// How far in the future an `iat` may lie (clock skew between issuer and server).
const IAT_LEEWAY_SECS: f64 = 5.0;

/// Who a verified token speaks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Caller {
    /// `{"server": true}`: may act on any user.
    Server,
    /// `{"user_id": ID}`: may act as that user only.
    User(String),
}

/// The claims of a verified token.
#[derive(Clone, Debug, PartialEq)]
pub struct Claims {
    pub caller: Caller,
    /// Issued-at, seconds since the epoch.
    pub iat: Option<i64>,
    /// Expiry, seconds since the epoch.
    pub exp: Option<i64>,
}

/// The app settings that bear on token verification.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AuthPolicy {
    /// `disable_auth_checks`: skip the signature check (dev tokens, tampered tokens pass).
    pub disable_auth_checks: bool,
    /// App-wide `revoke_tokens_issued_before`: user tokens issued earlier (or without `iat`)
    /// are rejected. Server tokens are exempt.
    pub revoke_tokens_issued_before: Option<Timestamp>,
}

/// Signs `payload` (serialized compactly) with header `{"alg":"HS256","typ":"JWT"}`.
pub fn sign(payload: &Value, secret: &str) -> String {
    let body = serde_json::to_vec(payload).unwrap_or_default();
    let mut token = String::with_capacity(HEADER.len() + body.len() * 4 / 3 + 48);
    token.push_str(HEADER);
    token.push('.');
    encode_into(&body, &mut token);
    let signature = mac(secret, token.as_bytes()).map(|m| m.finalize().into_bytes());
    token.push('.');
    if let Some(signature) = signature {
        encode_into(&signature, &mut token);
    }
    token
}

/// A server token: `{"server": true}`, no `iat` or `exp` (as every Stream SDK makes it).
pub fn server_token(secret: &str) -> String {
    let mut claims = Map::new();
    claims.insert("server".into(), Value::Bool(true));
    sign(&Value::Object(claims), secret)
}

/// A user token: `{"exp"?, "iat"?, "user_id"}`, keys in the order the Go SDK emits them.
pub fn user_token(user_id: &str, exp: Option<i64>, iat: Option<i64>, secret: &str) -> String {
    // Inserted alphabetically so the bytes are the same whether or not serde_json's
    // `preserve_order` feature is on.
    let mut claims = Map::new();
    if let Some(exp) = exp {
        claims.insert("exp".into(), exp.into());
    }
    if let Some(iat) = iat {
        claims.insert("iat".into(), iat.into());
    }
    claims.insert("user_id".into(), user_id.into());
    sign(&Value::Object(claims), secret)
}

/// stream-chat-js `devToken(id)`: the HS256 header, `{"user_id": id}` and the literal
/// signature `devtoken`. Accepted only when `disable_auth_checks` is on.
pub fn dev_token(user_id: &str) -> String {
    let mut claims = Map::new();
    claims.insert("user_id".into(), user_id.into());
    let body = serde_json::to_vec(&Value::Object(claims)).unwrap_or_default();
    let mut token = String::with_capacity(HEADER.len() + body.len() * 4 / 3 + 12);
    token.push_str(HEADER);
    token.push('.');
    encode_into(&body, &mut token);
    token.push_str(".devtoken");
    token
}

/// Verifies `token` and returns its claims, or the 401 error Stream would give.
pub fn verify(token: &str, secret: &str, policy: &AuthPolicy, now: Timestamp) -> Result<Claims, ApiError> {
    if token.get(..7).is_some_and(|p| p.eq_ignore_ascii_case("bearer ")) {
        return Err(ApiError::auth(
            "JWTAuth error: token is malformed: the Authorization header is the token itself; drop the 'Bearer ' prefix",
        ));
    }
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ApiError::auth("JWTAuth error: token contains an invalid number of segments"));
    };

    let header_json = decode_object(header).ok_or_else(|| malformed("header"))?;
    match header_json.get("alg") {
        Some(Value::String(alg)) if alg == "HS256" => {}
        Some(Value::String(alg)) => {
            return Err(ApiError::auth(format!("JWTAuth error: signing method {alg} is invalid")));
        }
        _ => return Err(ApiError::auth("JWTAuth error: signing method (alg) is unavailable")),
    }
    let claims = decode_object(payload).ok_or_else(|| malformed("payload"))?;

    // The signed bytes are exactly the received `header.payload`, never re-serialized.
    let signed = token.get(..header.len() + 1 + payload.len()).unwrap_or_default();
    let valid = match (decode(signature), mac(secret, signed.as_bytes())) {
        (Some(sig), Some(m)) => m.verify_slice(&sig).is_ok(),
        _ => false,
    };
    if !valid && !policy.disable_auth_checks {
        return Err(ApiError::new(code::TOKEN_SIGNATURE, 401, "Token signature is invalid"));
    }
    let caller = caller_of(&claims, valid)?;
    let exp = numeric_claim(&claims, "exp")?;
    let iat = numeric_claim(&claims, "iat")?;
    let nbf = numeric_claim(&claims, "nbf")?;
    // Whole seconds, as JWT libraries compare: a token is valid through its `exp` second.
    let now_secs = now.secs() as f64;
    if exp.is_some_and(|exp| exp < now_secs) {
        return Err(ApiError::new(code::TOKEN_EXPIRED, 401, "JWTAuth error: token has expired"));
    }
    if nbf.is_some_and(|nbf| nbf > now_secs) {
        return Err(ApiError::new(code::TOKEN_NOT_VALID_YET, 401, "JWTAuth error: token is not valid yet"));
    }
    if iat.is_some_and(|iat| iat > now_secs + IAT_LEEWAY_SECS) {
        return Err(ApiError::new(code::TOKEN_USED_BEFORE_IAT, 401, "JWTAuth error: token used before issue at (iat)"));
    }
    let claims = Claims { caller, iat: iat.map(whole_secs), exp: exp.map(whole_secs) };
    check_user_revocation(&claims, policy.revoke_tokens_issued_before)?;
    Ok(claims)
}

/// Who the claims speak for. `server: true` is a server token, and so is a token that names
/// neither a user nor `server` when its signature is valid: Stream accepts that form (PyPI
/// `getstream` signs its server token over `{}`), and a user token always names its user, so
/// nothing a client holds gains power. Under `disable_auth_checks` an unsigned token must say
/// `server: true` to be one.
fn caller_of(claims: &Map<String, Value>, signed: bool) -> Result<Caller, ApiError> {
    let no_claim = || ApiError::auth("JWTAuth error: token has no user_id or server claim");
    match (claims.get("server"), claims.get("user_id")) {
        (Some(Value::Bool(true)), _) => Ok(Caller::Server),
        (_, Some(Value::String(id))) if !id.is_empty() => Ok(Caller::User(id.clone())),
        (None, None) if signed => Ok(Caller::Server),
        _ => Err(no_claim()),
    }
}

/// Per-user revocation: the user record's `revoke_tokens_issued_before`. A user token with
/// no `iat`, or with `iat` before the cutoff (in whole seconds), is rejected with code 40.
/// Server tokens are never revoked.
pub fn check_user_revocation(claims: &Claims, user_cutoff: Option<Timestamp>) -> Result<(), ApiError> {
    let (Caller::User(_), Some(cutoff)) = (&claims.caller, user_cutoff) else {
        return Ok(());
    };
    match claims.iat {
        Some(iat) if iat >= cutoff.secs() => Ok(()),
        _ => Err(ApiError::new(code::TOKEN_EXPIRED, 401, "JWTAuth error: token has been revoked")),
    }
}

fn malformed(segment: &str) -> ApiError {
    ApiError::auth(format!("JWTAuth error: token is malformed: could not decode {segment}"))
}

/// `None` when absent; a number as seconds; any other type is malformed.
fn numeric_claim(claims: &Map<String, Value>, key: &str) -> Result<Option<f64>, ApiError> {
    match claims.get(key) {
        None => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_f64()),
        Some(_) => Err(ApiError::auth(format!("JWTAuth error: invalid type for claim {key}"))),
    }
}

fn whole_secs(secs: f64) -> i64 {
    // `as` saturates; JSON numbers are never NaN.
    secs.floor() as i64
}

/// The HMAC-SHA256 of `data` with `secret`, as lowercase hex (webhook signatures).
pub fn hmac_hex(secret: &str, data: &[u8]) -> String {
    let Some(m) = mac(secret, data) else { return String::new() };
    let bytes = m.finalize().into_bytes();
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        for nibble in [b >> 4, b & 15] {
            out.push(char::from_digit(u32::from(nibble), 16).unwrap_or('0'));
        }
    }
    out
}

/// HMAC-SHA256 keyed with `secret`, fed `data` (finish it with `finalize` or `verify_slice`).
pub fn mac(secret: &str, data: &[u8]) -> Option<HmacSha256> {
    let mut m = HmacSha256::new_from_slice(secret.as_bytes()).ok()?;
    m.update(data);
    Some(m)
}

fn decode_object(segment: &str) -> Option<Map<String, Value>> {
    match crate::core::wire::json::parse_slice(&decode(segment)?).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

/// base64url without padding (RFC 4648 §5).
pub fn encode_into(data: &[u8], out: &mut String) {
    fn symbol(v: u32) -> char {
        let v = (v & 63) as u8;
        char::from(match v {
            0..=25 => b'A' + v,
            26..=51 => b'a' + (v - 26),
            52..=61 => b'0' + (v - 52),
            62 => b'-',
            _ => b'_',
        })
    }
    for chunk in data.chunks(3) {
        let byte = |i: usize| u32::from(chunk.get(i).copied().unwrap_or(0));
        let n = (byte(0) << 16) | (byte(1) << 8) | byte(2);
        for i in 0..=chunk.len() {
            out.push(symbol(n >> (18 - 6 * i)));
        }
    }
}

/// Decodes base64url; trailing `=` padding is tolerated, anything else outside the
/// alphabet is rejected.
pub fn decode(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_end_matches('=');
    if s.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    // Leftover bits must be zero: one encoding per byte string.
    (acc == 0).then_some(out)
}
