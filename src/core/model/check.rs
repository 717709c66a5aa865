//! The checks of a user's built-in field values, written once over [`Json`], a view that a
//! `serde_json` value (the tree form) and a value's JSON text (the record form) both give: the
//! tree is checked without a scanner, the text without a parse. A check decides without
//! allocating and returns a [`Fault`]; [`Fault::error`] words Stream's error once the field's
//! label is known.

use super::fields::Kind;
use super::scan::Scan;
use super::user::{MAX_NESTING, MAX_ROLE_LEN, MAX_TEAMS, MAX_TEAM_NAME_BYTES};
use crate::core::wire::error::ApiError;
use crate::core::wire::time::Timestamp;
use serde_json::Value;
use std::borrow::Cow;

/// Why a field's value is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// `role` is not a string of 1 to [`MAX_ROLE_LEN`] bytes.
    Role,
    /// `name`, `image` or `language` is not a string.
    NotString,
    /// `invisible` is not a boolean.
    NotBool,
    /// `teams` is not an array of strings.
    Teams,
    TooManyTeams,
    TeamNameLength,
    TeamsRole,
    PrivacyNotObject,
    /// A member of `privacy_settings` that is not a privacy setting (its key).
    PrivacyKey(String),
    /// A privacy setting whose value is not `{"enabled": bool}` (its key).
    PrivacyValue(String),
    Revoke,
}

impl Fault {
    /// Stream's error for field `key` of the user labelled `label` (`users[u1]`).
    pub fn error(&self, label: &str, key: &str) -> ApiError {
        let name = format!("{label}.{key}");
        let (name, what) = match self {
            Fault::Role => (name, "must be a non-empty string".to_string()),
            Fault::NotString => (name, "must be a string".to_string()),
            Fault::NotBool => (name, "must be a boolean".to_string()),
            Fault::Teams => (name, "must be an array of strings".to_string()),
            Fault::TooManyTeams => (name, format!("has more than {MAX_TEAMS} teams")),
            Fault::TeamNameLength => (name, format!("names must be 1 to {MAX_TEAM_NAME_BYTES} bytes long")),
            Fault::TeamsRole => (name, "must be an object of team name to role".to_string()),
            Fault::PrivacyNotObject => (name, "must be an object".to_string()),
            Fault::PrivacyKey(k) => (format!("{name}.{k}"), "is not a privacy setting".to_string()),
            Fault::PrivacyValue(k) => (format!("{name}.{k}"), "must be {\"enabled\": bool}".to_string()),
            Fault::Revoke => (name, "must be an RFC 3339 timestamp or null".to_string()),
        };
        let msg = format!("{name} {what}");
        ApiError::field(name, msg)
    }
}

/// A JSON value as the checks read it (a trait object: the checks are compiled once for both
/// forms).
pub trait Json {
    /// The value when it is a string.
    fn str(&self) -> Option<Cow<'_, str>>;
    fn is_string(&self) -> bool;
    fn is_bool(&self) -> bool;
    fn is_null(&self) -> bool;
    /// Calls `item` with each element of an array; `false` when the value is not an array.
    fn items(&self, item: &mut dyn FnMut(&dyn Json)) -> bool;
    /// Calls `member` with each member of an object; `false` when the value is not an object.
    fn members(&self, member: &mut dyn FnMut(&str, &dyn Json)) -> bool;
}

impl Json for Value {
    fn str(&self) -> Option<Cow<'_, str>> {
        self.as_str().map(Cow::Borrowed)
    }
    fn is_string(&self) -> bool {
        Value::is_string(self)
    }
    fn is_bool(&self) -> bool {
        self.is_boolean()
    }
    fn is_null(&self) -> bool {
        Value::is_null(self)
    }
    fn items(&self, item: &mut dyn FnMut(&dyn Json)) -> bool {
        let Value::Array(items) = self else { return false };
        items.iter().for_each(|v| item(v));
        true
    }
    fn members(&self, member: &mut dyn FnMut(&str, &dyn Json)) -> bool {
        let Value::Object(members) = self else { return false };
        members.iter().for_each(|(k, v)| member(k, v));
        true
    }
}

/// One JSON value's text, as the scanner read it (valid JSON, so every walk below succeeds).
#[derive(Clone, Copy)]
pub struct Text<'a>(pub &'a str);

/// The value of JSON text that is one string token, its escapes decoded (`None`: another value).
pub fn string_of(text: &str) -> Option<Cow<'_, str>> {
    if let Some(plain) = super::record::plain_string(text) {
        return Some(Cow::Borrowed(plain));
    }
    let mut scan = Scan::new(text);
    let token = scan.string()?;
    scan.at_end().then_some(())?;
    token.value()
}

impl Json for Text<'_> {
    fn str(&self) -> Option<Cow<'_, str>> {
        string_of(self.0)
    }
    fn is_string(&self) -> bool {
        self.0.starts_with('"')
    }
    fn is_bool(&self) -> bool {
        self.0 == "true" || self.0 == "false"
    }
    fn is_null(&self) -> bool {
        self.0 == "null"
    }
    fn items(&self, item: &mut dyn FnMut(&dyn Json)) -> bool {
        let mut scan = Scan::new(self.0);
        let Some(mut more) = scan.open(b'[', b']') else { return false };
        while more {
            let Some((value, _)) = scan.value(MAX_NESTING) else { return true };
            item(&Text(value));
            more = scan.more(b']').unwrap_or(false);
        }
        true
    }
    fn members(&self, member: &mut dyn FnMut(&str, &dyn Json)) -> bool {
        let mut scan = Scan::new(self.0);
        let Some(mut more) = scan.open(b'{', b'}') else { return false };
        while more {
            let Some(key) = scan.string() else { return true };
            let key = key.value().unwrap_or_default();
            let Some((value, _)) = scan.eat(b':').and_then(|()| scan.value(MAX_NESTING)) else { return true };
            member(&key, &Text(value));
            more = scan.more(b'}').unwrap_or(false);
        }
        true
    }
}

/// Whether fields of `kind` have a check ([`check_field`] passes every other kind).
pub fn is_checked(kind: Kind) -> bool {
    kind.is_settable() && kind != Kind::Id || kind == Kind::Revoke
}

/// Checks the value of a top-level field of kind `kind`.
pub fn check_field(kind: Kind, v: &dyn Json) -> Result<(), Fault> {
    let ok = |ok: bool, fault: Fault| if ok { Ok(()) } else { Err(fault) };
    match kind {
        Kind::Role => ok(v.str().is_some_and(|r| !r.is_empty() && r.len() <= MAX_ROLE_LEN), Fault::Role),
        Kind::Name | Kind::Image | Kind::Language => ok(v.is_string(), Fault::NotString),
        Kind::Invisible => ok(v.is_bool(), Fault::NotBool),
        Kind::Teams => check_teams(v),
        Kind::TeamsRole => {
            let mut all = true;
            ok(v.members(&mut |_, role| all &= role.is_string()) && all, Fault::TeamsRole)
        }
        Kind::Privacy => check_privacy(v),
        Kind::Revoke => ok(v.is_null() || v.str().is_some_and(|t| Timestamp::parse(&t).is_some()), Fault::Revoke),
        _ => Ok(()),
    }
}

/// An array of at most [`MAX_TEAMS`] strings of 1 to [`MAX_TEAM_NAME_BYTES`] bytes; the count is
/// checked before the names, as Stream does.
fn check_teams(v: &dyn Json) -> Result<(), Fault> {
    let (mut count, mut first) = (0, None);
    let array = v.items(&mut |team| {
        count += 1;
        if first.is_none() {
            first = match team.str() {
                None => Some(Fault::Teams),
                Some(name) if name.is_empty() || name.len() > MAX_TEAM_NAME_BYTES => Some(Fault::TeamNameLength),
                Some(_) => None,
            };
        }
    });
    match first {
        _ if !array => Err(Fault::Teams),
        _ if count > MAX_TEAMS => Err(Fault::TooManyTeams),
        Some(fault) => Err(fault),
        None => Ok(()),
    }
}

/// An object of privacy settings, each `null` or an object whose `enabled`, if there, is a
/// boolean.
fn check_privacy(v: &dyn Json) -> Result<(), Fault> {
    let mut first = None;
    let object = v.members(&mut |key, setting| {
        if first.is_some() {
            return;
        }
        if !matches!(key, "typing_indicators" | "read_receipts" | "delivery_receipts") {
            first = Some(Fault::PrivacyKey(key.to_string()));
        } else if !setting.is_null() {
            let mut fine = true;
            let object = setting.members(&mut |k, enabled| fine &= k != "enabled" || enabled.is_bool());
            if !(object && fine) {
                first = Some(Fault::PrivacyValue(key.to_string()));
            }
        }
    });
    match first {
        _ if !object => Err(Fault::PrivacyNotObject),
        Some(fault) => Err(fault),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn faults_by_kind() {
        let cases: &[(Kind, &str, Option<Fault>)] = &[
            (Kind::Role, "\"admin\"", None),
            (Kind::Role, "\"\"", Some(Fault::Role)),
            (Kind::Role, "5", Some(Fault::Role)),
            (Kind::Role, "\"\\u0061\"", None),
            (Kind::Name, "1", Some(Fault::NotString)),
            (Kind::Invisible, "\"yes\"", Some(Fault::NotBool)),
            (Kind::Teams, "[\"a\", \"b\"]", None),
            (Kind::Teams, "\"red\"", Some(Fault::Teams)),
            (Kind::Teams, "[1]", Some(Fault::Teams)),
            (Kind::Teams, "[\"\"]", Some(Fault::TeamNameLength)),
            (Kind::TeamsRole, "{\"red\": \"admin\"}", None),
            (Kind::TeamsRole, "{\"red\":1}", Some(Fault::TeamsRole)),
            (Kind::Privacy, "{\"read_receipts\":{\"enabled\":false},\"typing_indicators\":null}", None),
            (Kind::Privacy, "[]", Some(Fault::PrivacyNotObject)),
            (Kind::Privacy, "{\"nope\":{}}", Some(Fault::PrivacyKey("nope".into()))),
            (
                Kind::Privacy,
                "{\"read_receipts\":{\"enabled\":\"no\"}}",
                Some(Fault::PrivacyValue("read_receipts".into())),
            ),
            (Kind::Revoke, "null", None),
            (Kind::Revoke, "\"yesterday\"", Some(Fault::Revoke)),
            (Kind::Custom, "{\"anything\":[1]}", None),
        ];
        for (kind, text, fault) in cases {
            assert_eq!(check_field(*kind, &Text(text)).err(), *fault, "{kind:?} {text}");
        }
        let many = format!("[{}]", (0..251).map(|i| format!("\"t{i}\"")).collect::<Vec<_>>().join(","));
        assert_eq!(check_field(Kind::Teams, &Text(&many)), Err(Fault::TooManyTeams));
        let words = |f: Fault| f.error("u", "teams").reason;
        assert_eq!(words(Fault::TooManyTeams), format!("u.teams has more than {MAX_TEAMS} teams"));
        assert_eq!(
            words(Fault::TeamNameLength),
            format!("u.teams names must be 1 to {MAX_TEAM_NAME_BYTES} bytes long")
        );
        let e = Fault::PrivacyKey("nope".into()).error("users[u]", "privacy_settings");
        assert_eq!(e.reason, "users[u].privacy_settings.nope is not a privacy setting");
        // The tree form answers alike.
        for (kind, text, fault) in cases {
            let tree = crate::core::wire::json::parse(text).unwrap();
            assert_eq!(check_field(*kind, &tree).err(), *fault, "tree {kind:?} {text}");
        }
    }
}
