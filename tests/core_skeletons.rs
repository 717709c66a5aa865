//! `src/core/model/skeletons.txt` against `unicode-security` (UTS #39): the committed table must be
//! exactly what the crate says for every character a normalized name can hold, and the core's
//! reader must key every such character as the crate does. `ROSTER_WRITE_SKELETONS=1 cargo
//! test --test core_skeletons` regenerates the table (then bump `skeleton::VERSION`).

use roster::core::model::normalize::normalize;
use roster::core::model::skeleton::key;
use unicode_normalization::char::is_combining_mark;
use unicode_security::confusable_detection::skeleton;

const TABLE: &str = "src/core/model/skeletons.txt";

/// A character's key by definition: its skeleton, lowercased, without combining marks that are
/// not letters; the character itself if nothing is left.
fn expected(c: char) -> String {
    let k: String = skeleton(&c.to_string())
        .flat_map(char::to_lowercase)
        .filter(|x| !is_combining_mark(*x) || x.is_alphanumeric())
        .collect();
    if k.is_empty() {
        c.to_string()
    } else {
        k
    }
}

/// Every character a normalized name can hold (its own normalization) whose key differs from
/// it, with the key.
fn entries() -> Vec<(u32, String)> {
    (0..=0x10FFFFu32)
        .filter_map(char::from_u32)
        .filter(|c| {
            let s = c.to_string();
            normalize(&s) == s && !('\u{AC00}'..='\u{D7A3}').contains(c) // Hangul: by arithmetic
        })
        .filter_map(|c| {
            let k = expected(c);
            (k != c.to_string()).then_some((c as u32, k))
        })
        .collect()
}

/// The table's text (format in `src/core/model/skeleton.rs`).
fn encode(entries: &[(u32, String)]) -> String {
    let single = |k: &str| k.chars().next().filter(|_| k.chars().count() == 1).map(u32::from);
    let mut out = String::new();
    let (mut prev, mut i) = (0u32, 0usize);
    while let Some((start, key)) = entries.get(i) {
        let run_len = |same: bool| {
            let mut j = i + 1;
            while let Some((c, k)) = entries.get(j) {
                let n = (j - i) as u32;
                let fits = *c == start + n
                    && if same { k == key } else { single(k).is_some() && single(k) == single(key).map(|f| f + n) };
                if !fits {
                    break;
                }
                j += 1;
            }
            j - i
        };
        let stepped = if single(key).is_some() { run_len(false) } else { 1 };
        let same = run_len(true);
        let delta = start - prev;
        if stepped >= 2 && stepped >= same {
            out.push_str(&format!("{delta:x}+{stepped:x},{key}\n"));
            i += stepped;
        } else if same >= 2 {
            out.push_str(&format!("{delta:x}={same:x},{key}\n"));
            i += same;
        } else {
            out.push_str(&format!("{delta:x}:{key}\n"));
            i += 1;
        }
        prev = *start;
    }
    out
}

#[test]
fn the_table_is_unicode_securitys() {
    let text = encode(&entries());
    if std::env::var_os("ROSTER_WRITE_SKELETONS").is_some() {
        std::fs::write(TABLE, &text).unwrap();
    }
    let committed = std::fs::read_to_string(TABLE).unwrap();
    assert!(committed == text, "{TABLE} is stale: run ROSTER_WRITE_SKELETONS=1 cargo test --test core_skeletons");
}

#[test]
fn every_character_keys_as_unicode_security_says() {
    let mut checked = 0;
    for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
        let s = c.to_string();
        if normalize(&s) != s {
            continue;
        }
        assert_eq!(key(&s), expected(c), "U+{:04X}", c as u32);
        checked += 1;
    }
    assert!(checked > 100_000, "the normalized alphabet was walked ({checked})");
}

#[test]
fn a_key_is_the_keys_of_its_characters() {
    let name = normalize("Pаypаl Ⅿodern 0ffice ǅungla");
    let whole = key(&name);
    let parts: String = name.chars().map(|c| key(&c.to_string())).collect();
    assert_eq!(whole, parts);
    assert_eq!(whole, key(&normalize("paypal rnodern office dzungla")));
}
