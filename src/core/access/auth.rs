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
const HEADER: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";

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

fn mac(secret: &str, data: &[u8]) -> Option<HmacSha256> {
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
pub(crate) fn encode_into(data: &[u8], out: &mut String) {
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
pub(crate) fn decode(s: &str) -> Option<Vec<u8>> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    const EXPIRING: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjE1NjY5NDEyNzIsImlhdCI6MTU2Njk0MTI3MiwidXNlcl9pZCI6InRvbW1hc28ifQ.3HY2O_7o5ZjZ-6KCXLzyPpHZOlNEDy6_m3iNb5DKAMY";
    const T0: i64 = 1_566_941_272;

    fn strict() -> AuthPolicy {
        AuthPolicy::default()
    }
    fn lax() -> AuthPolicy {
        AuthPolicy { disable_auth_checks: true, revoke_tokens_issued_before: None }
    }
    fn now() -> Timestamp {
        Timestamp::from_secs(T0)
    }
    fn err(token: &str, policy: &AuthPolicy, at: Timestamp) -> ApiError {
        verify(token, "secret", policy, at).unwrap_err()
    }
    /// A token with any header and payload, correctly signed with "secret".
    fn raw(header: &str, payload: &str) -> String {
        let mut t = String::new();
        encode_into(header.as_bytes(), &mut t);
        t.push('.');
        encode_into(payload.as_bytes(), &mut t);
        let mut sig = String::new();
        encode_into(&mac("secret", t.as_bytes()).unwrap().finalize().into_bytes(), &mut sig);
        format!("{t}.{sig}")
    }
    fn with_payload(payload: &str) -> String {
        raw(r#"{"alg":"HS256","typ":"JWT"}"#, payload)
    }

    #[test]
    fn base64url_round_trips_and_matches_rfc4648() {
        for (plain, enc) in [
            ("", ""),
            ("f", "Zg"),
            ("fo", "Zm8"),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg"),
            ("fooba", "Zm9vYmE"),
            ("foobar", "Zm9vYmFy"),
        ] {
            let mut s = String::new();
            encode_into(plain.as_bytes(), &mut s);
            assert_eq!(s, enc);
            assert_eq!(decode(enc).unwrap(), plain.as_bytes());
        }
        let bytes: Vec<u8> = (0..=255).collect();
        let mut s = String::new();
        encode_into(&bytes, &mut s);
        assert!(s.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
        assert_eq!(decode(&s).unwrap(), bytes);
        assert_eq!(decode("Zg==").unwrap(), b"f");
        assert_eq!(decode("Zm8=").unwrap(), b"fo");
        assert_eq!(decode("Zm9v+g"), None);
        assert_eq!(decode("Zm9v/g"), None);
        assert_eq!(decode("Z"), None);
        assert_eq!(decode("Zh"), None); // non-zero leftover bits: not a canonical encoding
        assert_eq!(decode("Zm=9v"), None);
        assert_eq!(decode("Zm9 v"), None);
    }

    #[test]
    fn go_sdk_vectors() {
        assert_eq!(
            user_token("tommaso", None, None, "secret"),
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ1c2VyX2lkIjoidG9tbWFzbyJ9.v-x-jt3ZnBXXbQ0GoWloIZtVnat2IE74U1a4Yuxd63M"
        );
        assert_eq!(user_token("tommaso", Some(T0), Some(T0), "secret"), EXPIRING);
        let claims = verify(EXPIRING, "secret", &strict(), now()).unwrap();
        assert_eq!(claims, Claims { caller: Caller::User("tommaso".into()), iat: Some(T0), exp: Some(T0) });
        // Still valid during the last microsecond of its exp second.
        assert!(verify(EXPIRING, "secret", &strict(), Timestamp(T0 * 1_000_000 + 999_999)).is_ok());
        for later in [T0 + 1, T0 + 3600, i64::MAX / 1_000_000] {
            let e = err(EXPIRING, &strict(), Timestamp::from_secs(later));
            assert_eq!((e.code, e.status, e.reason.as_str()), (40, 401, "JWTAuth error: token has expired"));
        }
    }

    #[test]
    fn js_payload_segments() {
        let t = user_token("user-id", None, None, "secret");
        assert_eq!(t.split('.').nth(1), Some("eyJ1c2VyX2lkIjoidXNlci1pZCJ9"));
    }

    #[test]
    fn server_and_user_tokens_verify() {
        let s = server_token("secret");
        assert_eq!(s.split('.').nth(1), Some("eyJzZXJ2ZXIiOnRydWV9")); // {"server":true}
        let c = verify(&s, "secret", &strict(), now()).unwrap();
        assert_eq!(c, Claims { caller: Caller::Server, iat: None, exp: None });
        let u = user_token("jo@x_y-z", None, Some(T0 - 10), "secret");
        let c = verify(&u, "secret", &strict(), now()).unwrap();
        assert_eq!(c.caller, Caller::User("jo@x_y-z".into()));
        assert_eq!((c.iat, c.exp), (Some(T0 - 10), None));
        // server: true wins over a user_id.
        let both = sign(&json!({"server": true, "user_id": "u"}), "secret");
        assert_eq!(verify(&both, "secret", &strict(), now()).unwrap().caller, Caller::Server);
        // server: false falls back to user_id.
        let f = sign(&json!({"server": false, "user_id": "u"}), "secret");
        assert_eq!(verify(&f, "secret", &strict(), now()).unwrap().caller, Caller::User("u".into()));
        // A signed token that names no user and no `server` is a server token (PyPI getstream's).
        for payload in [r#"{}"#, r#"{"iat":1566941000}"#] {
            let c = verify(&with_payload(payload), "secret", &strict(), now()).unwrap();
            assert_eq!(c.caller, Caller::Server, "{payload}");
        }
        // Unsigned, under disable_auth_checks, it is not: only `server: true` says so there.
        let forged = format!("{}.devtoken", with_payload("{}").rsplit_once('.').unwrap().0);
        assert_eq!(err(&forged, &strict(), now()).code, 43);
        assert_eq!(err(&forged, &lax(), now()).reason, "JWTAuth error: token has no user_id or server claim");
        // Extra claims are fine.
        let extra = sign(&json!({"user_id": "u", "role": "admin", "jti": 7}), "secret");
        assert!(verify(&extra, "secret", &strict(), now()).is_ok());
    }

    #[test]
    fn wrong_segment_count() {
        for t in
            ["", "abc", "a.b", "a.b.c.d", "....", "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ1c2VyX2lkIjoidG9tbWFzbyJ9"]
        {
            let e = err(t, &strict(), now());
            assert_eq!((e.code, e.status), (5, 401), "{t}");
            assert_eq!(e.reason, "JWTAuth error: token contains an invalid number of segments");
        }
        let t = format!("{}.x", user_token("u", None, None, "secret"));
        assert_eq!(err(&t, &lax(), now()).code, 5);
    }

    #[test]
    fn bad_signatures_are_code_43() {
        let good = user_token("tommaso", None, None, "secret");
        let e = verify(&good, "other", &strict(), now()).unwrap_err();
        assert_eq!((e.code, e.status, e.reason.as_str()), (43, 401, "Token signature is invalid"));
        let (head, sig) = good.rsplit_once('.').unwrap();
        // Tampered payload, original signature.
        let tampered = format!("{HEADER}.eyJ1c2VyX2lkIjoiYWRtaW4ifQ.{sig}");
        assert_eq!(err(&tampered, &strict(), now()).code, 43);
        // Empty, truncated, non-base64 and flipped signatures.
        for bad in
            ["", "devtoken", "!!!", &sig[..sig.len() - 1], &sig[1..], "v-x-jt3ZnBXXbQ0GoWloIZtVnat2IE74U1a4Yuxd63N"]
        {
            let e = err(&format!("{head}.{bad}"), &strict(), now());
            assert_eq!(e.code, 43, "{bad}");
        }
        // Padded signature is tolerated.
        assert!(verify(&format!("{good}="), "secret", &strict(), now()).is_ok());
        // Dev token is rejected when auth checks are on.
        let e = err(&dev_token("tommaso"), &strict(), now());
        assert_eq!(e.code, 43);
    }

    #[test]
    fn signature_is_checked_over_received_bytes() {
        // Same JSON, different serialization: its own signature verifies; the signature of
        // the compact form does not.
        let spaced = with_payload(r#"{ "user_id" : "tommaso" }"#);
        assert_eq!(verify(&spaced, "secret", &strict(), now()).unwrap().caller, Caller::User("tommaso".into()));
        let compact_sig = user_token("tommaso", None, None, "secret");
        let compact_sig = compact_sig.rsplit_once('.').unwrap().1;
        let (head, _) = spaced.rsplit_once('.').unwrap();
        assert_eq!(err(&format!("{head}.{compact_sig}"), &strict(), now()).code, 43);
        // Padding on the header/payload changes the signed bytes.
        let good = user_token("tommaso", None, None, "secret");
        let mut parts = good.split('.');
        let (h, p, s) = (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap());
        assert_eq!(err(&format!("{h}.{p}==.{s}"), &strict(), now()).code, 43);
        assert!(verify(&format!("{h}.{p}==.{s}"), "secret", &lax(), now()).is_ok());
    }

    #[test]
    fn dev_tokens_and_tampering_pass_when_checks_are_off() {
        let d = dev_token("tommaso");
        assert_eq!(d, "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ1c2VyX2lkIjoidG9tbWFzbyJ9.devtoken");
        assert_eq!(verify(&d, "secret", &lax(), now()).unwrap().caller, Caller::User("tommaso".into()));
        let good = user_token("tommaso", None, None, "secret");
        let sig = good.rsplit_once('.').unwrap().1;
        let tampered = format!("{HEADER}.eyJ1c2VyX2lkIjoiYWRtaW4ifQ.{sig}");
        assert_eq!(verify(&tampered, "secret", &lax(), now()).unwrap().caller, Caller::User("admin".into()));
        assert!(verify(&format!("{HEADER}.eyJ1c2VyX2lkIjoiYWRtaW4ifQ."), "x", &lax(), now()).is_ok());
        // Still needs a parseable header and payload, a caller and a valid exp.
        assert_eq!(err(&format!("{HEADER}.!!.devtoken"), &lax(), now()).code, 5);
        assert_eq!(err("e30.eyJ1c2VyX2lkIjoidG9tbWFzbyJ9.devtoken", &lax(), now()).code, 5); // header {}
        assert_eq!(err(&format!("{HEADER}.e30.devtoken"), &lax(), now()).code, 5); // payload {}
        assert_eq!(err(EXPIRING, &lax(), Timestamp::from_secs(T0 + 1)).code, 40);
        // Algorithm is still enforced.
        let none = raw(r#"{"alg":"none"}"#, r#"{"user_id":"u"}"#);
        assert_eq!(err(&none, &lax(), now()).code, 5);
    }

    #[test]
    fn only_hs256_is_accepted() {
        for (header, alg) in [
            (r#"{"alg":"none","typ":"JWT"}"#, "none"),
            (r#"{"alg":"HS512","typ":"JWT"}"#, "HS512"),
            (r#"{"alg":"RS256","typ":"JWT"}"#, "RS256"),
            (r#"{"alg":"hs256"}"#, "hs256"),
        ] {
            let e = err(&raw(header, r#"{"user_id":"u"}"#), &strict(), now());
            assert_eq!((e.code, e.status), (5, 401));
            assert_eq!(e.reason, format!("JWTAuth error: signing method {alg} is invalid"));
        }
        for header in [r#"{"typ":"JWT"}"#, r#"{"alg":256}"#, r#"{"alg":null}"#, "[]", "1", "\"HS256\""] {
            let e = err(&raw(header, r#"{"user_id":"u"}"#), &strict(), now());
            assert_eq!((e.code, e.status), (5, 401), "{header}");
        }
        // alg none with an empty signature.
        let mut t = String::new();
        encode_into(br#"{"alg":"none"}"#, &mut t);
        t.push('.');
        encode_into(br#"{"server":true}"#, &mut t);
        t.push('.');
        assert_eq!(err(&t, &strict(), now()).reason, "JWTAuth error: signing method none is invalid");
        // Header order and extra fields do not matter.
        assert!(verify(
            &raw(r#"{"typ":"JWT","kid":"x","alg":"HS256"}"#, r#"{"user_id":"u"}"#),
            "secret",
            &strict(),
            now()
        )
        .is_ok());
        assert!(verify(&raw(r#"{"alg":"HS256"}"#, r#"{"user_id":"u"}"#), "secret", &strict(), now()).is_ok());
    }

    #[test]
    fn a_bearer_prefix_is_named() {
        let good = user_token("tommaso", None, None, "secret");
        assert!(verify(&good, "secret", &strict(), now()).is_ok());
        let e = err(&format!("Bearer {good}"), &strict(), now());
        assert_eq!((e.code, e.status), (5, 401));
        assert_eq!(err(&format!("bearer {good}"), &strict(), now()).code, 5);
        assert!(e.reason.contains("drop the 'Bearer ' prefix"), "{}", e.reason);
    }

    #[test]
    fn malformed_payloads_are_code_5() {
        for payload in ["", "null", "[]", "\"u\"", "{", "{\"user_id\":\"u\"", "not json"] {
            let e = err(&with_payload(payload), &strict(), now());
            assert_eq!((e.code, e.status), (5, 401), "{payload}");
        }
        for payload in
            [r#"{"user_id":""}"#, r#"{"user_id":7}"#, r#"{"user_id":null}"#, r#"{"server":"true"}"#, r#"{"server":1}"#]
        {
            let e = err(&with_payload(payload), &strict(), now());
            assert_eq!(
                (e.code, e.reason.as_str()),
                (5, "JWTAuth error: token has no user_id or server claim"),
                "{payload}"
            );
        }
        for payload in [
            r#"{"user_id":"u","exp":"1"}"#,
            r#"{"user_id":"u","iat":true}"#,
            r#"{"user_id":"u","nbf":[]}"#,
            r#"{"user_id":"u","exp":null}"#,
            r#"{"server":true,"iat":{}}"#,
        ] {
            let e = err(&with_payload(payload), &strict(), now());
            assert_eq!((e.code, e.status), (5, 401), "{payload}");
        }
    }

    #[test]
    fn time_claims() {
        let at = |p: &str| verify(&with_payload(p), "secret", &strict(), now());
        // exp
        assert!(at(&format!(r#"{{"user_id":"u","exp":{T0}}}"#)).is_ok());
        assert_eq!(at(&format!(r#"{{"user_id":"u","exp":{}}}"#, T0 - 1)).unwrap_err().code, 40);
        assert_eq!(at(&format!(r#"{{"server":true,"exp":{}}}"#, T0 - 1)).unwrap_err().code, 40);
        assert_eq!(at(&format!(r#"{{"user_id":"u","exp":{}.5}}"#, T0 - 1)).unwrap_err().code, 40);
        assert_eq!(at(&format!(r#"{{"user_id":"u","exp":{}.5}}"#, T0)).unwrap().exp, Some(T0));
        assert_eq!(at(r#"{"user_id":"u","exp":1e300}"#).unwrap().exp, Some(i64::MAX));
        assert_eq!(at(r#"{"user_id":"u","exp":18446744073709551615}"#).unwrap().exp, Some(i64::MAX));
        assert_eq!(at(r#"{"user_id":"u","exp":-1}"#).unwrap_err().code, 40);
        // nbf
        assert!(at(&format!(r#"{{"user_id":"u","nbf":{T0}}}"#)).is_ok());
        let e = at(&format!(r#"{{"user_id":"u","nbf":{}}}"#, T0 + 1)).unwrap_err();
        assert_eq!((e.code, e.status), (41, 401));
        // iat: up to 5 s of skew is tolerated.
        assert_eq!(at(&format!(r#"{{"user_id":"u","iat":{}}}"#, T0 + 5)).unwrap().iat, Some(T0 + 5));
        let e = at(&format!(r#"{{"user_id":"u","iat":{}}}"#, T0 + 6)).unwrap_err();
        assert_eq!((e.code, e.status, e.reason.as_str()), (42, 401, "JWTAuth error: token used before issue at (iat)"));
        assert_eq!(at(&format!(r#"{{"user_id":"u","iat":{}}}"#, T0 - 100_000)).unwrap().iat, Some(T0 - 100_000));
        assert_eq!(at(r#"{"user_id":"u","iat":-2.5}"#).unwrap().iat, Some(-3));
    }

    #[test]
    fn app_wide_revocation() {
        let cutoff = |secs: i64| AuthPolicy {
            disable_auth_checks: false,
            revoke_tokens_issued_before: Some(Timestamp::from_secs(secs)),
        };
        let revoked = |t: &str, p: &AuthPolicy| {
            let e = err(t, p, now());
            assert_eq!((e.code, e.status, e.reason.as_str()), (40, 401, "JWTAuth error: token has been revoked"));
        };
        let no_iat = user_token("u", None, None, "secret");
        revoked(&no_iat, &cutoff(T0 - 1000));
        let old = user_token("u", None, Some(T0 - 10), "secret");
        revoked(&old, &cutoff(T0 - 9));
        assert!(verify(&old, "secret", &cutoff(T0 - 10), now()).is_ok());
        assert!(verify(&old, "secret", &cutoff(T0 - 11), now()).is_ok());
        // A cutoff within the token's iat second does not revoke it (iat has whole seconds).
        let p = AuthPolicy {
            disable_auth_checks: false,
            revoke_tokens_issued_before: Some(Timestamp((T0 - 10) * 1_000_000 + 500_000)),
        };
        assert!(verify(&old, "secret", &p, now()).is_ok());
        // Server tokens are exempt.
        assert!(verify(&server_token("secret"), "secret", &cutoff(T0), now()).is_ok());
        // Also enforced with auth checks off.
        let lax_cut =
            AuthPolicy { disable_auth_checks: true, revoke_tokens_issued_before: Some(Timestamp::from_secs(T0)) };
        revoked(&dev_token("u"), &lax_cut);
    }

    #[test]
    fn per_user_revocation() {
        let user = |iat| Claims { caller: Caller::User("u".into()), iat, exp: None };
        let cut = Some(Timestamp::from_secs(T0));
        assert!(check_user_revocation(&user(None), None).is_ok());
        assert!(check_user_revocation(&user(Some(1)), None).is_ok());
        let e = check_user_revocation(&user(None), cut).unwrap_err();
        assert_eq!((e.code, e.status, e.reason.as_str()), (40, 401, "JWTAuth error: token has been revoked"));
        assert_eq!(check_user_revocation(&user(Some(T0 - 1)), cut).unwrap_err().code, 40);
        assert!(check_user_revocation(&user(Some(T0)), cut).is_ok());
        assert!(check_user_revocation(&user(Some(T0 + 1)), cut).is_ok());
        let server = Claims { caller: Caller::Server, iat: None, exp: None };
        assert!(check_user_revocation(&server, cut).is_ok());
    }

    #[test]
    fn sign_is_compact_and_standard() {
        let t = sign(&json!({"a": [1, 2], "b": "x"}), "k");
        let mut parts = t.split('.');
        assert_eq!(parts.next(), Some(HEADER));
        assert_eq!(decode(parts.next().unwrap()).unwrap(), br#"{"a":[1,2],"b":"x"}"#);
        assert_eq!(decode(HEADER).unwrap(), br#"{"alg":"HS256","typ":"JWT"}"#);
        // Empty secret still signs and verifies.
        let e = user_token("u", None, None, "");
        assert!(verify(&e, "", &strict(), now()).is_ok());
        assert_eq!(verify(&e, "secret", &strict(), now()).unwrap_err().code, 43);
        // RFC 4231 test case 2 (HMAC-SHA256, key "Jefe").
        let m = mac("Jefe", b"what do ya want for nothing?").unwrap().finalize().into_bytes();
        let hex: String = m.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }

    proptest! {
        #[test]
        fn verify_never_panics(token in any::<String>(), secret in any::<String>(), off in any::<bool>(), now in any::<i64>(), cut in proptest::option::of(any::<i64>())) {
            let p = AuthPolicy { disable_auth_checks: off, revoke_tokens_issued_before: cut.map(Timestamp) };
            if let Err(e) = verify(&token, &secret, &p, Timestamp(now)) {
                prop_assert_eq!(e.status, 401);
            }
        }

        #[test]
        fn verify_never_panics_on_jwt_shaped_input(token in "[A-Za-z0-9_=-]{0,40}\\.[A-Za-z0-9_=-]{0,60}\\.[A-Za-z0-9_=-]{0,50}", off in any::<bool>()) {
            let p = AuthPolicy { disable_auth_checks: off, revoke_tokens_issued_before: None };
            let _ = verify(&token, "secret", &p, now());
        }

        #[test]
        fn verify_never_panics_on_any_payload(payload in any::<String>(), now in any::<i64>()) {
            let _ = verify(&with_payload(&payload), "secret", &strict(), Timestamp(now));
        }

        #[test]
        fn user_tokens_round_trip(id in "\\PC{1,64}", secret in any::<String>(), exp in proptest::option::of(T0..i64::MAX / 2_000_000), iat in proptest::option::of(0..T0)) {
            let t = user_token(&id, exp, iat, &secret);
            let c = verify(&t, &secret, &strict(), now()).unwrap();
            prop_assert_eq!(c, Claims { caller: Caller::User(id.clone()), iat, exp });
            let d = verify(&dev_token(&id), &secret, &lax(), now()).unwrap();
            prop_assert_eq!(d.caller, Caller::User(id));
        }

        #[test]
        fn base64_round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut s = String::new();
            encode_into(&bytes, &mut s);
            prop_assert_eq!(decode(&s), Some(bytes));
        }
    }
}
