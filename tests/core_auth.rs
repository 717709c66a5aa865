#![cfg(test)]
//! Stream's HS256 tokens (`core::access::auth`): base64url against RFC 4648, the Go SDK's and the
//! JS SDK's token vectors, server and user tokens, every refusal with its code (segments,
//! signature over the received bytes, algorithm, `Bearer`, malformed payloads, time claims,
//! app-wide and per-user revocation), dev tokens, signing, and no panic on any input.

use hmac::Mac;
use proptest::prelude::*;
use roster::core::access::auth::*;
use roster::core::wire::error::ApiError;
use roster::core::wire::time::Timestamp;
use serde_json::json;

// tests/wasm.rs runs these same cases compiled to wasm (headless Chromium and Firefox, and Node).
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

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
    for t in ["", "abc", "a.b", "a.b.c.d", "....", "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ1c2VyX2lkIjoidG9tbWFzbyJ9"]
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
    for bad in ["", "devtoken", "!!!", &sig[..sig.len() - 1], &sig[1..], "v-x-jt3ZnBXXbQ0GoWloIZtVnat2IE74U1a4Yuxd63N"]
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
    assert!(verify(&raw(r#"{"typ":"JWT","kid":"x","alg":"HS256"}"#, r#"{"user_id":"u"}"#), "secret", &strict(), now())
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
    let lax_cut = AuthPolicy { disable_auth_checks: true, revoke_tokens_issued_before: Some(Timestamp::from_secs(T0)) };
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
