//! A JSON text scanner for the batch operations ([`crate::core::engine::batch`]): it walks a value's text
//! without building a tree of it, validates it, and measures in the same pass what the user
//! rules need — how deeply it nests and an upper bound of its size as serde_json would write it
//! (the 5 KiB custom-data limit counts that size).
//!
//! The scanner accepts a subset of JSON on purpose: whatever it does not accept, or cannot
//! measure exactly enough, makes it return `None`. The caller then skips the value unchecked
//! ([`Scan::skip`], which walks any JSON text) and has serde_json
//! ([`crate::core::wire::json::parse`]) parse it, which decides — and words every error.

pub mod canonical;
mod number;
mod string;

pub use string::Str;

/// What a scanned value costs: its nesting (a scalar is 0, `[]` is 1) and an upper bound of its
/// length in serde_json's compact output.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Measure {
    pub depth: usize,
    pub size: usize,
    /// Whitespace bytes between the value's tokens (none in compact text).
    pub spaces: usize,
    /// Whether serde_json writes one of its tokens otherwise: a string with an escape it does
    /// not write (`\/`, `\u00e9`, `\u000a`), or a number it writes in another form (`1.50`,
    /// `1e5`, `-0`). Such a value is rewritten when stored ([`canonical`]).
    pub rewrite: bool,
}

/// A hash of an object key (its length and its first, middle and last bytes), to 0..128.
#[inline(always)]
fn key_hash(key: &[u8]) -> u32 {
    let byte = |at: usize| u32::from(key.get(at).copied().unwrap_or(0));
    let mixed = (key.len() as u32) << 24 ^ byte(0) << 16 ^ byte(key.len() / 2) << 8 ^ byte(key.len().wrapping_sub(1));
    mixed.wrapping_mul(0x9e37_79b1) >> 25
}

/// A cursor over JSON text.
pub struct Scan<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Scan<'a> {
    pub fn new(text: &'a str) -> Self {
        Scan { text, at: 0 }
    }

    #[inline(always)]
    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    #[inline(always)]
    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.bytes().get(self.at) {
            self.at += 1;
        }
    }

    /// The next byte that is not whitespace, not consumed.
    #[inline(always)]
    pub fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.bytes().get(self.at).copied()
    }

    /// Consumes `c` (after whitespace) or fails.
    #[inline(always)]
    pub fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.at += 1)
    }

    /// Where the cursor is, to come back to ([`Scan::reset`]) or to slice from ([`Scan::since`]).
    pub fn mark(&mut self) -> usize {
        self.skip_ws();
        self.at
    }
    pub fn reset(&mut self, mark: usize) {
        self.at = mark;
    }
    /// The text from `mark` to the cursor.
    pub fn since(&self, mark: usize) -> &'a str {
        self.text.get(mark..self.at).unwrap_or_default()
    }

    /// Whether only whitespace is left.
    pub fn at_end(&mut self) -> bool {
        self.peek().is_none()
    }

    /// Reads `,` or the closing `close` after a member: `Some(true)` if another member follows.
    #[inline(always)]
    pub fn more(&mut self, close: u8) -> Option<bool> {
        match self.peek()? {
            b',' => {
                self.at += 1;
                Some(true)
            }
            c if c == close => {
                self.at += 1;
                Some(false)
            }
            _ => None,
        }
    }

    /// Opens an object or array (`open` is `{` or `[`): `Some(true)` if it has a first member.
    #[inline(always)]
    pub fn open(&mut self, open: u8, close: u8) -> Option<bool> {
        self.eat(open)?;
        if self.peek()? == close {
            self.at += 1;
            return Some(false);
        }
        Some(true)
    }

    /// Skips one value, validating it and measuring it; returns its text. Values nesting deeper
    /// than `max_depth` levels are not accepted.
    pub fn value(&mut self, max_depth: usize) -> Option<(&'a str, Measure)> {
        self.skip_ws();
        let start = self.at;
        let mut m = Measure::default();
        // The size counts every byte but whitespace, except that a float it cannot measure
        // exactly counts 24 bytes instead of its length: the walk sums the difference.
        let mut floats = 0;
        self.walk(max_depth, 0, &mut m, &mut floats)?;
        let text = self.text.get(start..self.at)?;
        m.spaces = usize::try_from(text.len() as i64 - m.size as i64 + floats).unwrap_or(0);
        Some((text, m))
    }

    /// Skips one value of any JSON text, whatever [`Scan::value`] refuses (any nesting, any
    /// number, any escape): brackets are matched and strings read to their closing quote, and
    /// nothing else is checked. Whoever skips a value has serde_json parse the text it is in,
    /// which decides whether it is JSON and words the error. Returns the value's text.
    pub fn skip(&mut self) -> Option<&'a str> {
        let start = self.mark();
        let mut open: Vec<u8> = Vec::new();
        loop {
            let c = self.peek()?;
            self.at += 1;
            match c {
                b'{' | b'[' => {
                    open.push(if c == b'{' { b'}' } else { b']' });
                    continue;
                }
                b'}' | b']' if open.pop()? != c => return None,
                b',' | b':' if open.is_empty() => return None,
                b',' | b':' => continue,
                b'"' => {
                    let bytes = self.bytes();
                    while *bytes.get(self.at)? != b'"' {
                        self.at += if bytes.get(self.at) == Some(&b'\\') { 2 } else { 1 };
                    }
                    self.at += 1;
                }
                b'}' | b']' => {}
                _ => {
                    // A number or a literal: a run of the bytes they are made of.
                    while self.bytes().get(self.at).is_some_and(|b| b.is_ascii_alphanumeric() || b"+-.".contains(b)) {
                        self.at += 1;
                    }
                    if !(c.is_ascii_alphanumeric() || c == b'-') {
                        return None;
                    }
                }
            }
            if open.is_empty() {
                return Some(self.since(start));
            }
        }
    }

    fn walk(&mut self, max_depth: usize, depth: usize, m: &mut Measure, floats: &mut i64) -> Option<()> {
        match self.peek()? {
            b'"' => {
                let s = self.string()?;
                m.size += s.raw.len() + 2;
                m.rewrite |= s.rewrite;
            }
            c @ (b'{' | b'[') => {
                let depth = depth + 1;
                if depth > max_depth {
                    return None;
                }
                m.depth = m.depth.max(depth);
                let close = if c == b'{' { b'}' } else { b']' };
                m.size += 2;
                let mut more = self.open(c, close)?;
                let mut first = true;
                let (members, mut seen) = (self.at, [0u64; 2]);
                while more {
                    if !first {
                        m.size += 1;
                    }
                    first = false;
                    if c == b'{' {
                        let key = self.string()?;
                        self.new_key(key, members, &mut seen)?;
                        m.size += key.raw.len() + 3;
                        m.rewrite |= key.rewrite;
                        self.eat(b':')?;
                    }
                    self.walk(max_depth, depth, m, floats)?;
                    more = self.more(close)?;
                }
            }
            b't' => m.size += self.literal("true")?,
            b'f' => m.size += self.literal("false")?,
            b'n' => m.size += self.literal("null")?,
            _ => {
                let at = self.at;
                let (size, exact) = self.number()?;
                m.size += size;
                m.rewrite |= !exact;
                *floats += size as i64 - (self.at - at) as i64;
            }
        }
        Some(())
    }

    /// Whether `key`, just read, is new in the object whose members start at `members`
    /// (`seen`: 128 bits, set by a hash of each key read before it): `None` when the object
    /// already has it. serde_json keeps the last of repeated members, which the text written as
    /// it came would not say: such a value is not read. Only when the key's bit is already set
    /// are the keys before it read again ([`Scan::repeated`]).
    #[inline(always)]
    fn new_key(&self, key: Str<'a>, members: usize, seen: &mut [u64; 2]) -> Option<()> {
        let hash = match key.plain() {
            Some(plain) => key_hash(plain.as_bytes()),
            None => key_hash(key.value()?.as_bytes()),
        };
        let (word, bit) = (usize::from(hash & 64 != 0), 1u64 << (hash % 64));
        let slot = seen.get_mut(word)?;
        if *slot & bit != 0 && self.repeated(key, members)? {
            return None;
        }
        *slot |= bit;
        Some(())
    }

    /// Whether the object whose members start at `members` has `key` (the last key read)
    /// before it.
    #[cold]
    #[inline(never)]
    fn repeated(&self, key: Str<'a>, members: usize) -> Option<bool> {
        let value = key.value()?;
        let mut again = Scan { text: self.text.get(..self.at)?, at: members };
        loop {
            let before = again.string()?;
            if again.eat(b':').is_none() {
                return Some(false); // `key` itself: the last member read.
            }
            if before.value()? == value {
                return Some(true);
            }
            again.skip()?;
            again.more(b'}')?;
        }
    }

    fn literal(&mut self, word: &str) -> Option<usize> {
        self.text.get(self.at..)?.starts_with(word).then(|| {
            self.at += word.len();
            word.len()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::wire::json;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    pub(super) fn measure(text: &str) -> Option<Measure> {
        let mut s = Scan::new(text);
        let (raw, m) = s.value(64)?;
        assert!(s.at_end());
        assert_eq!(raw, text.trim());
        Some(m)
    }

    #[test]
    fn measures_an_upper_bound_of_serde_json_size() {
        for text in [
            r#"{"a": [1, 2, {"b": null}], "c": "x\ny", "d": true, "e": -12}"#,
            r#"[1.5, 2e3, -0, 1e-7, 123456789012345678901234, 1.7976931348623157e+307, 3.14159265358979323846264338]"#,
            r#""caf\u00e9 \/ \"q\"""#,
            "[[[[]]]]",
            r#"{"k": {"k": 1, "j": 2}, "j": {"k": 1}}"#,
        ] {
            let m = measure(text).unwrap();
            let exact = json::text(&json::parse(text).unwrap()).len();
            assert!(m.size >= exact, "{text}: {} < {exact}", m.size);
        }
        assert_eq!(measure(r#"{"a":[1,{"b":"c"}]}"#), Some(Measure { depth: 3, size: 19, spaces: 0, rewrite: false }));
        assert_eq!(measure("7").unwrap().depth, 0);
    }

    #[test]
    fn finds_a_repeated_member_among_many() {
        // 300 keys share the signature's 128 bits: keys whose bits collide are read again.
        let keys: Vec<String> = (0..300).map(|i| format!("k{i}")).collect();
        let object = |keys: &[String]| {
            let members: Vec<String> = keys.iter().map(|k| format!(r#""{k}": [1, {{"{k}": 2}}]"#)).collect();
            format!("{{{}}}", members.join(", "))
        };
        assert!(measure(&object(&keys)).is_some());
        for (first, again) in [(0, 299), (150, 151), (298, 0)] {
            let mut repeated = keys.clone();
            repeated[again] = keys[first].clone();
            assert_eq!(Scan::new(&object(&repeated)).value(64), None, "{first} {again}");
        }
        let escaped = object(&keys).replacen(r#""k7":"#, r#""\u006b7":"#, 1);
        assert!(measure(&escaped).is_some());
        let repeated = object(&keys).replacen(r#""k7":"#, r#""\u006b8":"#, 1);
        assert_eq!(Scan::new(&repeated).value(64), None);
    }

    #[test]
    fn leaves_what_it_cannot_measure_to_the_tree() {
        for text in [
            "01",
            "1.",
            "1e",
            "1e400",
            "1e1000",
            "1.8e308",
            "-",
            "+1",
            "nul",
            "[1,]",
            "{\"a\" 1}",
            "{1:2}",
            "\"\\x\"",
            "\"a\u{1}b\"",
            "[1 2]",
            r#"{"a":1,"a":2}"#,
            r#"{"a":1,"\u0061":2}"#,
            r#"[{"b":{"x":1},"c":{"x":2,"y":3,"x":4}}]"#,
        ] {
            assert_eq!(Scan::new(text).value(64).map(|(_, m)| m), None, "{text}");
        }
        assert!(Scan::new("[[[]]]").value(2).is_none());
        assert!(Scan::new("[[[]]]").value(3).is_some());
    }

    #[test]
    fn reads_surrogate_escapes_in_pairs_only() {
        // A pair is one character beyond the BMP: read, as serde_json reads it.
        for text in [r#""\ud83d\ude00""#, r#""a\uD83D\uDE00b\udbff\udfff""#, r#"{"\ud83d\ude00": "\ud800\udc00"}"#] {
            let (_, m) = Scan::new(text).value(64).unwrap();
            let exact = json::text(&json::parse(text).unwrap()).len();
            assert!(m.size >= exact, "{text}");
        }
        assert_eq!(Scan::new(r#""\ud83d\ude00""#).string().and_then(Str::value).as_deref(), Some("😀"));
        // Strings of random escape fragments: the scanner reads exactly what serde_json reads,
        // to the same value.
        let fragments = [
            "a",
            "é",
            "😀",
            r"\ud83d",
            r"\ude00",
            r"\uD83D\uDE00",
            r"\udbff\udfff",
            r"\ud800",
            r"\u0041",
            r"\u00e9",
            r"\\",
            r#"\""#,
            r"\/",
            r"\n",
            r"\u",
            r"\ud83d\u",
            r"\x",
        ];
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let mut text = String::from('"');
            for _ in 0..(x % 5) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                text.push_str(fragments[(x % fragments.len() as u64) as usize]);
            }
            text.push('"');
            let mut scan = Scan::new(&text);
            let token = scan.string();
            let ours = token.filter(|_| scan.at_end()).and_then(Str::value).map(|v| v.into_owned());
            let theirs = match json::parse(&text) {
                Ok(serde_json::Value::String(s)) => Some(s),
                _ => None,
            };
            assert_eq!(ours, theirs, "{text}");
        }
        // Anything else is left to serde_json, which refuses it.
        for text in
            [r#""\ude00""#, r#""\ud83d""#, r#""\ud83dx""#, r#""\ud83d\u0041""#, r#""\ud83d\ud83d""#, r#""\ud83d\""#]
        {
            assert_eq!(Scan::new(text).value(64), None, "{text}");
            assert!(json::parse(text).is_err(), "{text}");
        }
    }

    #[test]
    fn skips_any_json_text_and_stops_at_its_end() {
        let deep = format!("{}1{}", "[{\"a\":".repeat(300), "}]".repeat(300));
        for text in [
            "1e400",
            "-1.5e0001",
            "\"\\udc00 \\\" \\\\\"",
            "{\"a\\\"b\": [true, null, {}], \"c\": \"]}\"}",
            " [ 1 , 2 ] ",
            deep.as_str(),
        ] {
            let mut scan = Scan::new(text);
            assert_eq!(scan.skip(), Some(text.trim()), "{text}");
            assert!(scan.at_end());
            // Whatever `value` reads, `skip` ends at the same place.
            if let Some((raw, _)) = Scan::new(text).value(64) {
                assert_eq!(raw, text.trim());
            }
        }
        // Brackets that do not match, or a separator outside any, are not skipped.
        for text in ["[1}", "{\"a\":1]", ",", ":", "]", "\"open"] {
            assert_eq!(Scan::new(text).skip(), None, "{text}");
        }
        // One value only: what follows is left.
        let mut scan = Scan::new("[1] [2]");
        assert_eq!(scan.skip(), Some("[1]"));
        assert!(!scan.at_end());
    }
}
