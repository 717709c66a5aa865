//! The index columns of a stored user ([`IndexRow`]): what storage keeps next to each record so
//! that a query's plan ([`super::index::plan`]) can look users up by name, name word, role,
//! team and time, and sort by time, without reading records.

use super::filter::{self, fold_case};
use crate::core::model::normalize::normalize;
use crate::core::model::set;
use crate::core::model::user::{User, HARD_DELETED};
use crate::core::wire::time::Timestamp;
use serde_json::Value;

/// Words of a name indexed per user; a name with more word starts is marked `name_overflow`
/// and is a candidate for every `$autocomplete` on `name`.
pub const MAX_NAME_WORDS: usize = 64;
/// Characters kept of each indexed word (and of an `$autocomplete` text when looking it up).
pub const WORD_CHARS: usize = 64;

/// The indexed columns of one stored user.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct IndexRow {
    /// `name` normalized as for unique usernames ("John Doe" → "johndoe").
    pub name_norm: Option<String>,
    /// The case-folded name from each word start, at most [`WORD_CHARS`] characters each.
    pub name_words: Vec<String>,
    /// More than [`MAX_NAME_WORDS`] word starts: not all are in `name_words`.
    pub name_overflow: bool,
    pub role: Option<String>,
    pub teams: Vec<String>,
    /// Timestamps in the canonical form (`YYYY-MM-DDTHH:MM:SS.ffffffZ`), whose text order is
    /// their time order; `None` when absent or not a timestamp.
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
    pub last_active: Option<String>,
    /// `deactivated_at` is set (not null).
    pub deactivated: bool,
    /// `deleted_at` is set (not null): never returned by a query.
    pub deleted: bool,
    /// A hard-deleted id's tombstone.
    pub tombstone: bool,
}

fn set(u: &User, key: &str) -> bool {
    u.get(key).is_some_and(|v| !v.is_null())
}

fn canonical_time(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str).and_then(Timestamp::parse).map(|t| t.to_string())
}

/// A word-start suffix as stored and looked up: cut to [`WORD_CHARS`] characters, with
/// U+10FFFF (which bounds prefix ranges) replaced by U+10FFFE.
pub fn index_word(folded: &str) -> String {
    folded.chars().take(WORD_CHARS).map(|c| if c == '\u{10FFFF}' { '\u{10FFFE}' } else { c }).collect()
}

/// The upper bound of the prefix range of `word` (an [`index_word`]): every indexed word that
/// starts with `word` sorts at or above `word` and below this.
pub fn prefix_end(word: &str) -> String {
    let mut end = word.to_string();
    end.push('\u{10FFFF}');
    end
}

/// The index columns of a stored user record.
pub fn index_row(u: &User) -> IndexRow {
    let name = u.get("name").and_then(Value::as_str);
    let mut name_words = Vec::new();
    let mut name_overflow = false;
    if let Some(name) = name {
        let folded = fold_case(name);
        for (n, i) in filter::word_starts(&folded).enumerate() {
            if n == MAX_NAME_WORDS {
                name_overflow = true;
                break;
            }
            let word = index_word(folded.get(i..).unwrap_or_default());
            if !name_words.contains(&word) {
                name_words.push(word);
            }
        }
    }
    // Sorted by insertion: a sort would link a sorting routine of its own.
    let teams: Vec<String> = match u.get("teams") {
        Some(Value::Array(a)) => set::of(a.iter().filter_map(Value::as_str).map(str::to_string)),
        _ => Vec::new(),
    };
    IndexRow {
        name_norm: name.map(normalize),
        name_words,
        name_overflow,
        role: u.get("role").and_then(Value::as_str).map(str::to_string),
        teams,
        created_at: canonical_time(u.get("created_at")),
        updated_at: canonical_time(u.get("updated_at")),
        last_active: canonical_time(u.get("last_active")),
        deactivated: set(u, "deactivated_at"),
        deleted: set(u, "deleted_at"),
        tombstone: u.contains_key(HARD_DELETED),
    }
}
