//! The one field table of a user: every built-in and server-computed top-level key with its
//! [`Kind`], from which every rule about keys is derived — which a writer may set, which a write
//! may not carry, which are server state carried over on every write, and custom data (every
//! other key). The tree path (`user.rs`) and the record path (`record.rs`) both ask [`Kind::of`].

/// What a top-level field is, decided once from its key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Id,
    Role,
    Name,
    Image,
    Teams,
    TeamsRole,
    Language,
    Invisible,
    Privacy,
    CreatedAt,
    UpdatedAt,
    LastActive,
    Online,
    /// `revoke_tokens_issued_before`: server-computed, but a partial update may set it.
    Revoke,
    /// The other server-computed fields: writes may carry them (SDKs echo them back); ignored.
    Server,
    /// The internal tombstone marker of a hard-deleted id (`user::HARD_DELETED`).
    HardDeleted,
    Custom,
}

/// The table: each key once, with its kind. [`Kind::of`] and [`FIELDS`] are generated from it.
macro_rules! field_table {
    ($($key:literal => $kind:ident,)*) => {
        /// Every key that is not custom data, with its kind.
        pub const FIELDS: &[(&str, Kind)] = &[$(($key, Kind::$kind),)*];

        impl Kind {
            /// The kind of a top-level key (custom data when the table does not name it).
            pub fn of(key: &str) -> Kind {
                match key {
                    $($key => Kind::$kind,)*
                    _ => Kind::Custom,
                }
            }
        }
    };
}

field_table! {
    "id" => Id,
    "role" => Role,
    "name" => Name,
    "image" => Image,
    "teams" => Teams,
    "teams_role" => TeamsRole,
    "language" => Language,
    "invisible" => Invisible,
    "privacy_settings" => Privacy,
    "created_at" => CreatedAt,
    "updated_at" => UpdatedAt,
    "last_active" => LastActive,
    "online" => Online,
    "revoke_tokens_issued_before" => Revoke,
    "banned" => Server,
    "shadow_banned" => Server,
    "ban_expires" => Server,
    "devices" => Server,
    "mutes" => Server,
    "channel_mutes" => Server,
    "blocked_user_ids" => Server,
    "unread_count" => Server,
    "total_unread_count" => Server,
    "unread_channels" => Server,
    "unread_threads" => Server,
    "total_unread_count_by_team" => Server,
    "latest_hidden_channels" => Server,
    "avg_response_time" => Server,
    "push_preferences" => Server,
    "deactivated_at" => Server,
    "deleted_at" => Server,
    "last_engaged_at" => Server,
    "bypass_moderation" => Server,
    "created_by_id" => Server,
    "__hard_deleted" => HardDeleted,
}

impl Kind {
    /// Built-in fields a writer may set.
    pub fn is_settable(self) -> bool {
        matches!(
            self,
            Kind::Id
                | Kind::Role
                | Kind::Name
                | Kind::Image
                | Kind::Teams
                | Kind::TeamsRole
                | Kind::Language
                | Kind::Invisible
                | Kind::Privacy
        )
    }
    /// Who the user is in the app (`role`, `teams`, `teams_role`): kept when an upsert omits
    /// them, and only the server may change them.
    pub fn is_membership(self) -> bool {
        matches!(self, Kind::Role | Kind::Teams | Kind::TeamsRole)
    }
    /// Whether a field of this kind has one possible key (every kind but `Server` and `Custom`).
    pub fn is_one_key(self) -> bool {
        !matches!(self, Kind::Server | Kind::Custom)
    }
    /// Server-computed fields a write may not carry: an error names them (unless the value
    /// only echoes what the server answers, `validate::refuses_reserved`).
    pub fn is_reserved(self) -> bool {
        matches!(self, Kind::CreatedAt | Kind::UpdatedAt | Kind::LastActive | Kind::Online)
    }
    /// Server-computed fields that writes may carry and that are ignored.
    pub fn is_server_computed(self) -> bool {
        matches!(self, Kind::Revoke | Kind::Server | Kind::HardDeleted)
    }
    /// The fields every write copies from the stored user.
    pub fn is_carried(self) -> bool {
        matches!(self, Kind::Revoke | Kind::Server | Kind::CreatedAt | Kind::UpdatedAt | Kind::LastActive)
    }
}

/// A top-level key with its kind: how the write rules name a built-in field, so that a record
/// finds it by kind without reading the key again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Key {
    pub name: &'static str,
    pub kind: Kind,
}

const fn key(name: &'static str, kind: Kind) -> Key {
    Key { name, kind }
}

pub const ID: Key = key("id", Kind::Id);
pub const NAME: Key = key("name", Kind::Name);
pub const ROLE: Key = key("role", Kind::Role);
pub const TEAMS: Key = key("teams", Kind::Teams);
pub const TEAMS_ROLE: Key = key("teams_role", Kind::TeamsRole);
pub const CREATED_AT: Key = key("created_at", Kind::CreatedAt);
pub const UPDATED_AT: Key = key("updated_at", Kind::UpdatedAt);
pub const ONLINE: Key = key("online", Kind::Online);
pub const REVOKE: Key = key("revoke_tokens_issued_before", Kind::Revoke);
pub const DEACTIVATED_AT: Key = key("deactivated_at", Kind::Server);
pub const DELETED_AT: Key = key("deleted_at", Kind::Server);
pub const HARD_DELETED: Key = key("__hard_deleted", Kind::HardDeleted);
/// Who the user is in the app ([`Kind::is_membership`]).
pub const MEMBERSHIP: [Key; 3] = [ROLE, TEAMS, TEAMS_ROLE];

/// What every stored user has when its writes never set it, as JSON text (`created_at` and
/// `updated_at` are the write's time; `online` is always `false` in storage).
pub const DEFAULTS: &[(Key, &str)] = &[(ROLE, "\"user\""), (TEAMS, "[]"), (key("banned", Kind::Server), "false")];

/// The default of top-level field `key`, as JSON text (`None`: it has none).
pub fn default_of(key: &str) -> Option<&'static str> {
    DEFAULTS.iter().find(|(k, _)| k.name == key).map(|(_, text)| *text)
}

/// The keys of every field whose kind passes `keep`, in table order.
pub fn keys(keep: fn(Kind) -> bool) -> impl Iterator<Item = &'static str> {
    FIELDS.iter().filter(move |(_, k)| keep(*k)).map(|(key, _)| *key)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn each_key_is_in_the_table_once_and_of_reads_it_back() {
        for (i, (key, kind)) in FIELDS.iter().enumerate() {
            assert_eq!(Kind::of(key), *kind, "{key}");
            assert!(!FIELDS[..i].iter().any(|(k, _)| k == key), "{key} twice");
        }
        assert_eq!(Kind::of("__hard_deleted"), Kind::HardDeleted);
        assert_eq!(super::super::user::HARD_DELETED, "__hard_deleted");
        for custom in ["nickname", "ID", "name ", "", "__custom", "privacy"] {
            assert_eq!(Kind::of(custom), Kind::Custom, "{custom}");
        }
    }

    #[test]
    fn every_kind_has_one_class() {
        for (key, kind) in FIELDS {
            let classes = [kind.is_settable(), kind.is_reserved(), kind.is_server_computed()];
            assert_eq!(classes.iter().filter(|c| **c).count(), 1, "{key}");
        }
        assert_eq!(keys(Kind::is_settable).count(), 9);
        assert_eq!(keys(Kind::is_membership).collect::<Vec<_>>(), ["role", "teams", "teams_role"]);
        let named = [ROLE, TEAMS, TEAMS_ROLE, CREATED_AT, UPDATED_AT, ONLINE, REVOKE, DEACTIVATED_AT, DELETED_AT];
        for k in named.iter().chain(&[HARD_DELETED]).chain(DEFAULTS.iter().map(|(k, _)| k)) {
            assert_eq!(Kind::of(k.name), k.kind, "{}", k.name);
        }
        assert!(MEMBERSHIP.iter().map(|k| k.name).eq(keys(Kind::is_membership)));
        assert_eq!(keys(Kind::is_reserved).collect::<Vec<_>>(), ["created_at", "updated_at", "last_active", "online"]);
    }
}
