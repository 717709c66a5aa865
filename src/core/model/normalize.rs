//! Username normalization: the form in which two names collide ("John Doe", "john.doe" and
//! "JOHN DOE" are one name), for one name or many, written as UTF-8 or as UTF-16 code units.

/// Lowercases (Unicode-aware), then drops whitespace and every character that is not a letter
/// or a digit: "John Doe", "john doe" and "john.doe" all become "johndoe".
///
/// ```
/// assert_eq!(roster::core::model::normalize::normalize("John.Doe"), "johndoe");
/// assert_eq!(roster::core::model::normalize::normalize("Ünal Çelik"), "ünalçelik");
/// ```
pub fn normalize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    normalize_into(name, &mut out);
    out
}

/// [`normalize`], appended to `out`.
pub fn normalize_into(name: &str, out: &mut String) {
    for c in name.chars() {
        if c.is_ascii() {
            // Most names are mostly ASCII: no Unicode tables for those characters.
            if c.is_ascii_alphanumeric() {
                out.push(c.to_ascii_lowercase());
            }
        } else {
            out.extend(non_ascii(c));
        }
    }
}

/// What a non-ASCII character becomes: its lowercase, letters and digits only (0 to 3 chars).
fn non_ascii(c: char) -> impl Iterator<Item = char> {
    c.to_lowercase().filter(|l| l.is_alphanumeric())
}

/// Where normalized names are written: UTF-8 text, or the UTF-16 code units a JavaScript
/// string holds (the npm package hands those to JavaScript without transcoding).
pub trait Sink {
    fn with_capacity(n: usize) -> Self;
    fn char(&mut self, c: char);
    fn ascii(&mut self, b: u8);
}

impl Sink for String {
    fn with_capacity(n: usize) -> Self {
        String::with_capacity(n)
    }
    fn char(&mut self, c: char) {
        self.push(c);
    }
    fn ascii(&mut self, b: u8) {
        self.push(char::from(b));
    }
}

impl Sink for Vec<u16> {
    fn with_capacity(n: usize) -> Self {
        Vec::with_capacity(n)
    }
    fn char(&mut self, c: char) {
        let mut units = [0; 2];
        self.extend_from_slice(c.encode_utf16(&mut units));
    }
    fn ascii(&mut self, b: u8) {
        self.push(u16::from(b));
    }
}

/// [`normalize`] for many names: remembers what each recent non-ASCII character became, so a
/// batch of names in a few scripts looks each character up in the Unicode case and class tables
/// about once instead of once per occurrence.
pub struct Normalizer {
    /// Direct-mapped by the character's low bits: the character and what it normalizes to.
    seen: Vec<(char, [char; 3], u8)>,
}

impl Default for Normalizer {
    fn default() -> Self {
        // '\0' is ASCII, never looked up here: an empty slot.
        Normalizer { seen: vec![('\0', ['\0'; 3], 0); 256] }
    }
}

impl Normalizer {
    /// Appends the normalized form of `name` to `out`.
    pub fn push(&mut self, name: &str, out: &mut impl Sink) {
        for c in name.chars() {
            self.char(c, out);
        }
    }

    /// Appends the normalized form of the string whose JSON text (between the quotes) is `raw`;
    /// its escapes must be valid and not surrogates, as [`super::scan::Scan`] reads them.
    /// `None` if one is not.
    pub fn push_json(&mut self, raw: &str, out: &mut impl Sink) -> Option<()> {
        let mut chars = raw.chars();
        while let Some(c) = chars.next() {
            if c != '\\' {
                self.char(c, out);
                continue;
            }
            // `\"`, `\\`, `\/`, `\b`, `\f`, `\n`, `\r` and `\t` stand for characters that are
            // not letters or digits: dropped. Only `\uXXXX` can be one.
            if chars.next()? == 'u' {
                let rest = chars.as_str();
                let unit = |at: usize| u32::from_str_radix(rest.get(at..at + 4)?, 16).ok();
                let high = unit(0)?;
                // A character beyond the BMP is a pair of escapes, `\uD83D\uDE00` (the scanner
                // read the pair as one).
                let (c, len) = match high {
                    0xD800..=0xDBFF if rest.get(4..6) == Some("\\u") => {
                        (0x1_0000 + ((high - 0xD800) << 10) + (unit(6)?.checked_sub(0xDC00)?), 10)
                    }
                    _ => (high, 4),
                };
                self.char(char::from_u32(c)?, out);
                chars = rest.get(len..)?.chars();
            }
        }
        Some(())
    }

    #[inline(always)]
    fn char(&mut self, c: char, out: &mut impl Sink) {
        if c.is_ascii() {
            if c.is_ascii_alphanumeric() {
                out.ascii(c.to_ascii_lowercase() as u8);
            }
            return;
        }
        let Some(slot) = self.seen.get_mut(c as usize & 0xff) else { return };
        if slot.0 != c {
            let mut to = ['\0'; 3];
            let mut n = 0;
            for l in non_ascii(c) {
                if let Some(t) = to.get_mut(n) {
                    *t = l;
                    n += 1;
                }
            }
            *slot = (c, to, n as u8);
        }
        for &l in slot.1.iter().take(slot.2 as usize) {
            out.char(l);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn normalization_is_unicode_aware() {
        assert_eq!(normalize("John Doe"), "johndoe");
        assert_eq!(normalize("john doe"), "johndoe");
        assert_eq!(normalize("john.doe"), "johndoe");
        assert_eq!(normalize("  J_o-h'n\tD😀oe!! "), "johndoe");
        assert_eq!(normalize("ÅNGSTRÖM 42"), "ångström42");
        assert_eq!(normalize("Δημήτρης"), "δημήτρης");
        assert_eq!(normalize("李 小龙"), "李小龙");
        assert_eq!(normalize("İ"), "i", "lowercasing may add marks; they are dropped too");
        assert_eq!(normalize(&normalize("İstanbul")), normalize("İstanbul"));
        assert_eq!(normalize("..."), "");
    }
}
