//! Confusable skeletons of normalized names (Unicode UTS #39): the key under which the username
//! index lists holders, so that `roster_username_skeletons` can compare names that differ only
//! by characters that look alike (Latin "a" and Cyrillic "а", "rn" and "m", "0" and "o").
//!
//! The key of a normalized name ([`super::normalize::normalize`]) replaces each character by its
//! entry in `skeletons.txt`, or keeps it. An entry is the character's UTS #39 skeleton (its
//! canonical decomposition mapped through `confusables.txt` and decomposed again), lowercased,
//! without the combining marks that are not letters (so "é" keys as "e", as a decomposed "é"
//! already normalizes to "e"). The table is generated from the `unicode-security` crate, the
//! maintained Rust implementation of UTS #39, and `tests/core_skeletons.rs` checks every entry
//! against it (`ROSTER_WRITE_SKELETONS=1 cargo test --test core_skeletons` rewrites it).
//!
//! The key is a function of the normalized name, so names that collide without skeletons
//! collide with them too: one index serves both settings, and turning the setting on or off
//! needs no rebuild.
//!
//! ```
//! use roster::core::model::skeleton::key;
//! assert_eq!(key("аdmin"), key("admin")); // Cyrillic а
//! assert_eq!(key("modern"), key("rnodern"));
//! assert_ne!(key("alice"), key("alicia"));
//! ```

use std::sync::OnceLock;

/// The table, one run per line (sorted by first character; numbers in hex): `<start - previous
/// start>:<key>` for one character, `<start - previous start>=<count>,<key>` for consecutive
/// characters with the same key, `<start - previous start>+<count>,<first key>` for consecutive
/// characters whose one-character keys are consecutive too (𝐚, 𝐛, 𝐜 … → a, b, c …). Hangul
/// syllables are not listed: [`jamo`].
const TABLE: &str = include_str!("skeletons.txt");

/// Which table the index was built with: stored beside the index (the Writer rebuilds its
/// index when this differs) and changed whenever `skeletons.txt` is regenerated.
pub const VERSION: &str = "unicode-security-0.1.3";

struct Run {
    start: u32,
    count: u32,
    /// Consecutive keys (`+`) rather than one shared key (`:`, `=`).
    step: bool,
    key: &'static str,
}

fn runs() -> &'static [Run] {
    static RUNS: OnceLock<Vec<Run>> = OnceLock::new();
    RUNS.get_or_init(|| parse(TABLE))
}

/// Reads the table; a malformed line (none in the committed table: the tests read every entry)
/// is skipped rather than trusted.
fn parse(table: &'static str) -> Vec<Run> {
    let mut out = Vec::with_capacity(6000);
    let mut start = 0u32;
    for line in table.lines() {
        let Some(at) = line.find([':', '=', '+']) else { continue };
        // `at` and `at + 1` are character boundaries (the marks are ASCII): the checked splits
        // cannot fail, and leave no panic (with its formatting) in the binary.
        let Some((delta, rest)) = line.split_at_checked(at) else { continue };
        let Ok(delta) = u32::from_str_radix(delta, 16) else { continue };
        start += delta;
        let (count, key) = match rest.split_at_checked(1) {
            Some((":", key)) => (Some(1), key),
            Some((_, counted)) => match counted.split_once(',') {
                Some((n, key)) => (u32::from_str_radix(n, 16).ok(), key),
                None => (None, ""),
            },
            None => (None, ""),
        };
        if let (Some(count), false) = (count, key.is_empty()) {
            out.push(Run { start, count, step: rest.starts_with('+'), key });
        }
    }
    out
}

/// Hangul syllables, which decompose by arithmetic (The Unicode Standard, §3.12) rather than
/// by table: their key is the keys of their jamo.
const HANGUL: std::ops::RangeInclusive<u32> = 0xAC00..=0xD7A3;

/// The conjoining jamo of a Hangul syllable (leading consonant, vowel, optional trailing
/// consonant).
fn jamo(code: u32) -> impl Iterator<Item = char> {
    let s = code - HANGUL.start();
    let (l, v, t) = (0x1100 + s / 588, 0x1161 + (s % 588) / 28, s % 28);
    [Some(l), Some(v), (t != 0).then_some(0x11A7 + t)].into_iter().flatten().filter_map(char::from_u32)
}

/// The key of one character, appended to `out`.
fn push_char(c: char, out: &mut String) {
    let code = c as u32;
    if HANGUL.contains(&code) {
        jamo(code).for_each(|j| push_char(j, out));
        return;
    }
    let runs = runs();
    let i = runs.partition_point(|r| r.start <= code);
    let Some(run) = i.checked_sub(1).and_then(|i| runs.get(i)).filter(|r| code - r.start < r.count) else {
        out.push(c);
        return;
    };
    if !run.step {
        out.push_str(run.key);
        return;
    }
    let first = run.key.chars().next().map_or(code, u32::from);
    match char::from_u32(first + (code - run.start)) {
        Some(k) => out.push(k),
        None => out.push(c),
    }
}

/// The skeleton key of a normalized name: empty only for an empty name.
pub fn key(norm: &str) -> String {
    let mut out = String::with_capacity(norm.len());
    for c in norm.chars() {
        push_char(c, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn the_table_reads_whole() {
        let lines = TABLE.lines().count();
        assert_eq!(runs().len(), lines, "every line of skeletons.txt is a run");
        assert!(runs().windows(2).all(|w| w[0].start + w[0].count <= w[1].start), "runs are sorted and apart");
    }

    #[test]
    fn lookalikes_share_a_key() {
        assert_eq!(key("раураl"), key("paypal"), "Cyrillic р, а, у");
        assert_eq!(key("b0b"), key("bob"));
        assert_eq!(key("rn"), "rn");
        assert_eq!(key("m"), "rn");
        assert_eq!(key("𝐚𝐛𝐜𝐝"), "abcd", "mathematical bold letters, a stepped run");
        assert_eq!(key("𝐚𝐝𝐦𝐢𝐧"), key("admin"));
        assert_eq!(key("josé"), "jose");
        assert_eq!(key(""), "");
        assert_eq!(key("李小龙"), "李小龙", "characters without lookalikes are kept");
    }
}
