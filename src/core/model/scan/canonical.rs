//! The canonical text of a JSON value: what serde_json writes for it, its members kept in the
//! order they came in. No whitespace between tokens; strings escaped as serde_json escapes them
//! (`"`, `\\`, `\n`-style short escapes, `\u00XX` for the other control characters, every
//! other character as itself); numbers as serde_json writes them (integers as given, floats in
//! ryu's shortest form). A user's record is stored in this form, so the same user gives the same
//! bytes whichever JSON writer sent it.

use super::string::{plain_run, unescape};
use super::{Measure, Scan};
use crate::core::wire::json;

/// Appends `text`, one JSON value the scanner measured (`m`), in canonical form: copied when it
/// already is, compacted when only spaces differ, rewritten otherwise.
pub fn push(out: &mut String, text: &str, m: Measure) {
    if m.rewrite || m.spaces > 0 {
        push_rewritten(out, text, m.rewrite);
    } else {
        out.push_str(text);
    }
}

/// Appends `text`, one JSON value the scanner read, in canonical form, in one pass: runs of
/// canonical text are copied and whitespace between tokens is left out; when `rewrite`, a string
/// with escapes is written with serde_json's ([`unescape`]) and a number serde_json writes
/// otherwise is written as it writes it (without, only the whitespace goes).
fn push_rewritten(out: &mut String, text: &str, rewrite: bool) {
    let bytes = text.as_bytes();
    let (mut i, mut run) = (0, 0);
    while let Some(&b) = bytes.get(i) {
        match b {
            b'"' => {
                let start = i + 1;
                let mut end = start;
                let mut escaped = false;
                loop {
                    // A string the scanner read holds no control byte.
                    end = plain_run(bytes, end);
                    match bytes.get(end) {
                        Some(b'\\') => {
                            escaped = true;
                            end += 2;
                        }
                        _ => break,
                    }
                }
                if escaped && rewrite {
                    out.push_str(text.get(run..start).unwrap_or_default());
                    let mark = out.len();
                    if unescape(out, text.get(start..end).unwrap_or_default(), true).is_none() {
                        // Not reached for text the scanner read: kept as it came.
                        out.truncate(mark);
                        out.push_str(text.get(start..end).unwrap_or_default());
                    }
                    run = end;
                }
                i = end + 1;
            }
            b' ' | b'\n' | b'\r' | b'\t' => {
                out.push_str(text.get(run..i).unwrap_or_default());
                i += 1;
                run = i;
            }
            b'-' | b'0'..=b'9' if rewrite => {
                let end = i + bytes
                    .get(i..)
                    .unwrap_or_default()
                    .iter()
                    .take_while(|c| b"+-.eE0123456789".contains(c))
                    .count();
                let token = text.get(i..end).unwrap_or_default();
                if !Scan::new(token).number().is_some_and(|(_, exact)| exact) {
                    if let Ok(number) = json::parse(token) {
                        out.push_str(text.get(run..i).unwrap_or_default());
                        out.push_str(&json::text(&number));
                        run = end;
                    }
                }
                i = end;
            }
            _ => i += 1,
        }
    }
    out.push_str(text.get(run..).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn compacts_what_serde_json_compacts() {
        for text in [
            r#"{ "a" : [ 1 , 2.50 , { "b" : null } ] ,"c":"x \" y\\" , "d" :	true }"#,
            // 20 spaces, and a float counted at 24 bytes (20 more than its length); a float
            // longer than 24 bytes.
            r#"[                    1.50]"#,
            "[1.5000000000000000000000000000000, 2]",
            "[\n  \"a b\",\r\n  \"\\\\\"\n]",
            r#""  spaced  string  ""#,
            "7",
        ] {
            let (_, m) = Scan::new(text).value(64).unwrap();
            let spaces = text.bytes().filter(u8::is_ascii_whitespace).count() - inner_spaces(text);
            assert_eq!(m.spaces, spaces, "{text}");
            let mut out = String::new();
            push_rewritten(&mut out, text, false);
            assert!(!out.contains("  ") || text.starts_with('"'), "{out}");
            assert_eq!(json::parse(&out).unwrap(), json::parse(text).unwrap(), "{text}");
            assert_eq!(
                out.len(),
                text.len() - text.bytes().filter(u8::is_ascii_whitespace).count() + inner_spaces(text)
            );
        }
    }

    #[test]
    fn compacts_random_texts_as_a_reference_does() {
        // Texts of random pieces (strings with spaces and escapes, whitespace runs, tokens) against
        // a byte-at-a-time reference.
        let pieces = [
            " ",
            "\n  ",
            "\t",
            "{",
            "}",
            "[",
            "]",
            ",",
            ":",
            "12",
            r#""a b""#,
            r#""x\" y ""#,
            r#""\\""#,
            r#""long string,   with  spaces""#,
        ];
        let reference = |text: &str| {
            let (mut out, mut in_string, mut escaped) = (String::new(), false, false);
            for c in text.chars() {
                if in_string {
                    match c {
                        _ if escaped => escaped = false,
                        '\\' => escaped = true,
                        '"' => in_string = false,
                        _ => {}
                    }
                } else if c == '"' {
                    in_string = true;
                } else if matches!(c, ' ' | '\n' | '\r' | '\t') {
                    continue;
                }
                out.push(c);
            }
            out
        };
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..5_000 {
            let mut text = String::new();
            for _ in 0..(x % 40) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                text.push_str(pieces[(x % pieces.len() as u64) as usize]);
            }
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let mut out = String::new();
            push_rewritten(&mut out, &text, false);
            assert_eq!(out, reference(&text), "{text:?}");
        }
    }

    /// The whitespace inside a text's strings (kept by compaction).
    fn inner_spaces(text: &str) -> usize {
        let (mut in_string, mut escaped, mut n) = (false, false, 0);
        for b in text.bytes() {
            if in_string {
                match b {
                    _ if escaped => escaped = false,
                    b'\\' => escaped = true,
                    b'"' => in_string = false,
                    b' ' | b'\t' => n += 1,
                    _ => {}
                }
            } else if b == b'"' {
                in_string = true;
            }
        }
        n
    }

    /// A small xorshift generator.
    fn next(x: &mut u64) -> u64 {
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        *x
    }

    /// One character of a string, spelled as JSON writers spell it: as itself where it may be,
    /// or escaped (a short escape, `\u` in either case, a surrogate pair).
    fn spell_char(x: &mut u64, c: char, out: &mut String) {
        let u = c as u32;
        let short = match c {
            '"' => Some("\\\""),
            '\\' => Some("\\\\"),
            '/' => Some("\\/"),
            '\n' => Some("\\n"),
            '\t' => Some("\\t"),
            '\u{8}' => Some("\\b"),
            _ => None,
        };
        match next(x) % 3 {
            0 if u >= 0x20 && c != '"' && c != '\\' => out.push(c),
            1 if short.is_some() => out.push_str(short.unwrap_or_default()),
            _ => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let hex = format!("{unit:04x}");
                    out.push_str("\\u");
                    out.push_str(&if next(x).is_multiple_of(2) { hex.to_uppercase() } else { hex });
                }
            }
        }
    }

    /// A random value, spelled with random escapes, number forms and spacing; objects' keys
    /// come in sorted order, each once (as serde_json's maps write them).
    fn spell(x: &mut u64, depth: usize, out: &mut String) {
        const CHARS: &[char] =
            &['a', 'Z', ' ', 'é', '/', '"', '\\', '\n', '\t', '\u{1}', '\u{1f}', '\u{7f}', '€', '😀'];
        const NUMBERS: &[&[&str]] = &[
            &["0"],
            &["7", "7"],
            &["-12"],
            &["1.5", "1.50", "15e-1", "0.15E1", "1.5e0"],
            &["100.0", "1e2", "1E+2", "100.00"],
            &["-0.0", "-0", "-0e0"],
            &["0.1", "1e-1", "0.10"],
            &["12345678901234567890123", "1.2345678901234568e22"],
            &["3.141592653589793238", "3.141592653589793"],
        ];
        let space = |x: &mut u64, out: &mut String| {
            if next(x).is_multiple_of(4) {
                out.push_str([" ", "\n  ", "\t"][(next(x) % 3) as usize]);
            }
        };
        space(x, out);
        match next(x) % if depth == 0 { 4 } else { 6 } {
            0 => {
                out.push('"');
                for _ in 0..next(x) % 6 {
                    let c = CHARS[(next(x) % CHARS.len() as u64) as usize];
                    spell_char(x, c, out);
                }
                out.push('"');
            }
            1 => {
                let forms = NUMBERS[(next(x) % NUMBERS.len() as u64) as usize];
                out.push_str(forms[(next(x) % forms.len() as u64) as usize]);
            }
            2 => out.push_str(["true", "false", "null"][(next(x) % 3) as usize]),
            3 => out.push_str("\"plain\""),
            4 => {
                out.push('[');
                for i in 0..next(x) % 4 {
                    if i > 0 {
                        out.push(',');
                    }
                    spell(x, depth - 1, out);
                }
                space(x, out);
                out.push(']');
            }
            _ => {
                out.push('{');
                let mut first = true;
                for key in ["a", "b/c", "z", "é"] {
                    if next(x).is_multiple_of(2) {
                        continue;
                    }
                    if !first {
                        out.push(',');
                    }
                    first = false;
                    space(x, out);
                    out.push('"');
                    for c in key.chars() {
                        spell_char(x, c, out);
                    }
                    out.push_str("\":");
                    spell(x, depth - 1, out);
                }
                space(x, out);
                out.push('}');
            }
        }
        space(x, out);
    }

    #[test]
    fn writes_each_value_as_serde_json_writes_it_whatever_its_spelling() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut rewritten = 0;
        for _ in 0..4000 {
            let mut text = String::new();
            spell(&mut x, 3, &mut text);
            let (raw, m) = Scan::new(&text).value(64).unwrap();
            let mut out = String::new();
            push(&mut out, raw, m);
            // Keys come sorted, so serde_json's text of the parsed value is the canonical text.
            let value = json::parse(&text).unwrap();
            assert_eq!(out, json::text(&value), "{text}");
            // Canonical text stays as it is. (Floats of 16 or 17 digits, or in exponent form,
            // are measured as ones to rewrite: the scanner tells ryu's shortest form only up to
            // 15 digits. They are rewritten to themselves.)
            let (_, again) = Scan::new(&out).value(64).unwrap();
            let mut twice = String::new();
            push(&mut twice, &out, again);
            assert_eq!(twice, out);
            assert_eq!(again.spaces, 0, "{out}");
            rewritten += usize::from(m.rewrite);
        }
        assert!(rewritten > 1000, "only {rewritten} spellings needed rewriting");
    }

    #[test]
    fn decodes_a_string_as_serde_json_does() {
        // The one decoder of escapes gives both a string's value and its canonical text.
        const CHARS: &[char] = &['a', ' ', 'é', '/', '"', '\\', '\n', '\t', '\u{0}', '\u{1f}', '\u{7f}', '€', '😀'];
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..4000 {
            let mut token = String::from("\"");
            for _ in 0..next(&mut x) % 8 {
                let c = CHARS[(next(&mut x) % CHARS.len() as u64) as usize];
                spell_char(&mut x, c, &mut token);
            }
            token.push('"');
            let value = Scan::new(&token).string().unwrap().value().unwrap();
            let expected = json::parse(&token).unwrap();
            assert_eq!(expected.as_str(), Some(value.as_ref()), "{token}");
        }
    }
}
