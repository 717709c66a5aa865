//! A string token: reading it (escapes checked, eight bytes at a time to the next quote,
//! backslash or control byte), its value (escapes decoded) and its canonical spelling.

use super::Scan;
use std::borrow::Cow;

/// A string token: the text between its quotes, as written (escapes undecoded).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Str<'a> {
    pub raw: &'a str,
    pub escaped: bool,
    /// An escape serde_json does not write (it writes the character itself, or a shorter escape).
    pub rewrite: bool,
}

impl<'a> Str<'a> {
    /// The string's value when it holds no escapes (its text is then its value).
    pub fn plain(self) -> Option<&'a str> {
        (!self.escaped).then_some(self.raw)
    }
    /// The string's value: its text when plain, else its escapes decoded ([`unescape`]).
    pub fn value(self) -> Option<Cow<'a, str>> {
        if let Some(plain) = self.plain() {
            return Some(Cow::Borrowed(plain));
        }
        let mut value = String::with_capacity(self.raw.len());
        unescape(&mut value, self.raw, false)?;
        Some(Cow::Owned(value))
    }
}

/// Appends a string token's text (`raw`, between its quotes, escapes checked by the scanner) with
/// its escapes decoded. `canonical`: the characters serde_json escapes are written escaped as it
/// writes them (`\"`, `\\`, the short escapes of control characters, `\u00xx` for the others),
/// which gives the token's canonical text; otherwise every character is written as itself, which
/// gives its value.
pub(super) fn unescape(out: &mut String, raw: &str, canonical: bool) -> Option<()> {
    // Decoded, the text is no longer than written.
    out.reserve(raw.len());
    let bytes = raw.as_bytes();
    let (mut i, mut run) = (0, 0);
    loop {
        // The next backslash: here, in a run of escapes (text written ASCII-only), else searched.
        if bytes.get(i) != Some(&b'\\') {
            match bytes.get(i..)?.iter().position(|&b| b == b'\\') {
                Some(at) => i += at,
                None => break,
            }
        }
        out.push_str(raw.get(run..i)?);
        let (c, len) = match *bytes.get(i + 1)? {
            b'u' => {
                let (unit, _) = hex4(bytes.get(i + 2..i + 6)?)?;
                if (0xD800..0xDC00).contains(&unit) {
                    // A surrogate pair (the scanner read the low half after it).
                    let (low, _) = hex4(bytes.get(i + 8..i + 12)?)?;
                    (char::from_u32(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00))?, 12)
                } else {
                    (char::from_u32(unit)?, 6)
                }
            }
            b'b' => ('\u{8}', 2),
            b'f' => ('\u{c}', 2),
            b'n' => ('\n', 2),
            b'r' => ('\r', 2),
            b't' => ('\t', 2),
            other => (char::from(other), 2),
        };
        match c {
            c if !canonical => out.push(c),
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                const DIGITS: &[u8; 16] = b"0123456789abcdef";
                out.push_str("\\u00");
                out.push(char::from(*DIGITS.get(usize::from(c as u8 >> 4))?));
                out.push(char::from(*DIGITS.get(usize::from(c as u8 & 0xf))?));
            }
            c => out.push(c),
        }
        i += len;
        run = i;
    }
    out.push_str(raw.get(run..)?);
    Some(())
}

/// Where the plain run of a string's text that starts at `from` ends: the first `"`, `\\` or
/// control byte at or after it (or the end of `bytes`), found eight bytes at a time.
#[inline(always)]
pub(super) fn plain_run(bytes: &[u8], mut from: usize) -> usize {
    while let Some(word) = bytes.get(from..from + 8) {
        let flags = special(u64::from_le_bytes(word.try_into().unwrap_or_default()));
        if flags != 0 {
            return from + (flags.trailing_zeros() / 8) as usize;
        }
        from += 8;
    }
    from + bytes.get(from..).unwrap_or_default().iter().take_while(|&&b| b != b'"' && b != b'\\' && b >= 0x20).count()
}

/// Flags the bytes of `word` (little-endian: its first byte is the lowest) that are `"`, `\\` or
/// below 0x20, the bytes that end or interrupt a string's plain run. The lowest flag is exact (a
/// flag above a flagged byte may be false), so `trailing_zeros() / 8` is the first such byte;
/// zero when there is none. Bytes of 0x80 and above are never flagged.
#[inline(always)]
pub(super) fn special(word: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero_byte = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    let below_space = word.wrapping_sub(ONES * 0x20) & !word & HIGH;
    zero_byte(word ^ (ONES * u64::from(b'"'))) | zero_byte(word ^ (ONES * u64::from(b'\\'))) | below_space
}

/// Each byte's value as a hex digit, with 0x10 set for an upper-case letter; 0x80: not a digit.
#[allow(clippy::indexing_slicing)] // `b` < 256, the table's length
const HEX: [u8; 256] = {
    let mut table = [0x80u8; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = match b as u8 {
            d @ b'0'..=b'9' => d - b'0',
            d @ b'a'..=b'f' => d - b'a' + 10,
            d @ b'A'..=b'F' => (d - b'A' + 10) | 0x10,
            _ => 0x80,
        };
        b += 1;
    }
    table
};

/// Four hex digits (the first four bytes of `hex`) as a number, and whether a digit is upper
/// case.
#[inline(always)]
pub(super) fn hex4(hex: &[u8]) -> Option<(u32, bool)> {
    let &[a, b, c, d] = hex.first_chunk::<4>()?;
    let digit = |x: u8| HEX.get(usize::from(x)).copied().unwrap_or(0x80);
    let (a, b, c, d) = (digit(a), digit(b), digit(c), digit(d));
    let all = a | b | c | d;
    let unit = u32::from(a & 15) << 12 | u32::from(b & 15) << 8 | u32::from(c & 15) << 4 | u32::from(d & 15);
    (all & 0x80 == 0).then_some((unit, all & 0x10 != 0))
}

impl<'a> Scan<'a> {
    /// A string token. Escapes are checked: a surrogate escape is read only as half of a pair,
    /// high then low (the others are left to serde_json, which words what it refuses).
    pub fn string(&mut self) -> Option<Str<'a>> {
        self.eat(b'"')?;
        let bytes = self.bytes();
        let start = self.at;
        let mut i = start;
        let (mut escaped, mut rewrite) = (false, false);
        loop {
            i = plain_run(bytes, i);
            match *bytes.get(i)? {
                b'"' => break,
                b'\\' => {
                    escaped = true;
                    let (len, canonical) = escape(bytes.get(i + 1..)?)?;
                    rewrite |= !canonical;
                    i += 1 + len;
                }
                _ => return None,
            }
        }
        self.at = i + 1;
        Some(Str { raw: self.text.get(start..i)?, escaped, rewrite })
    }
}

/// The escape at the start of `text` (after its backslash): its length, and whether it is one
/// serde_json writes. `None`: an escape the scanner leaves to serde_json.
#[inline(always)]
fn escape(text: &[u8]) -> Option<(usize, bool)> {
    match *text.first()? {
        b'"' | b'\\' | b'b' | b'f' | b'n' | b'r' | b't' => Some((1, true)),
        b'/' => Some((1, false)),
        b'u' => {
            let (unit, upper) = hex4(text.get(1..)?)?;
            match unit {
                // A character beyond the Basic Multilingual Plane, as `json.dumps` and others
                // write it: a high surrogate, then a low one.
                0xD800..=0xDBFF => {
                    let low = text.get(5..11)?;
                    let (unit, _) = hex4(low.get(2..)?)?;
                    (low.starts_with(b"\\u") && (0xDC00..=0xDFFF).contains(&unit)).then_some((11, false))
                }
                // A lone low surrogate.
                0xDC00..=0xDFFF => None,
                // serde_json writes `\u00XX` (lower case) for control characters that have
                // no short escape, and every other character as itself.
                unit => Some((5, !upper && unit < 0x20 && !matches!(unit, 0x08 | 0x09 | 0x0a | 0x0c | 0x0d))),
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn special_finds_the_first_quote_backslash_or_control() {
        let naive = |w: u64| w.to_le_bytes().iter().position(|&b| b == b'"' || b == b'\\' || b < 0x20);
        let first = |flags: u64| (flags != 0).then_some((flags.trailing_zeros() / 8) as usize);
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            assert_eq!(first(special(x)), naive(x), "{x:#x}");
            // Plain bytes around one byte of every value, at every position.
            let plain = u64::from_le_bytes([b'a', 0xc3, b'~', 0x80, b' ', 0xff, b'#', b']']);
            let at = (x % 8) as u32 * 8;
            let w = (plain & !(0xff << at)) | (((x >> 8) & 0xff) << at);
            assert_eq!(first(special(w)), naive(w), "{w:#x}");
        }
    }
}
