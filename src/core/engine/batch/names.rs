//! `normalizeUsernames` over JSON text: a JSON array of names in, the JSON array of their
//! normalized forms out, read by the scanner and written as UTF-8 or as UTF-16 code units.

use super::*;
use crate::core::model::normalize::{Normalizer, Sink};

/// Normalizes a JSON array of names (`["John Doe", …]`) into the JSON array of their
/// normalized forms ([`crate::core::model::normalize::normalize`]).
pub fn normalize_names(names: &str) -> Result<String> {
    normalize_list(names)
}

/// [`normalize_names`], written as UTF-16 code units.
pub fn normalize_names_utf16(names: &str) -> Result<Vec<u16>> {
    normalize_list(names)
}

fn normalize_list<S: Sink>(names: &str) -> Result<S> {
    if let Some(out) = normalize_text(names) {
        return Ok(out);
    }
    // What the scanner cannot read (it reads every valid array of strings but those with
    // escaped surrogates), and every error, as serde_json reads it.
    let bad = || ApiError::input("names must be a JSON array of strings");
    let Value::Array(list) = json::parse(names).map_err(|e| ApiError::input(format!("invalid JSON names: {e}")))?
    else {
        return Err(bad());
    };
    let mut out = S::with_capacity(names.len());
    out.ascii(b'[');
    let mut normalizer = Normalizer::default();
    for (i, name) in list.iter().enumerate() {
        let name = name.as_str().ok_or_else(bad)?;
        push_name(&mut out, i, |out| normalizer.push(name, out));
    }
    out.ascii(b']');
    Ok(out)
}

fn normalize_text<S: Sink>(names: &str) -> Option<S> {
    let mut scan = Scan::new(names);
    let mut out = S::with_capacity(names.len());
    out.ascii(b'[');
    let mut more = scan.open(b'[', b']')?;
    let mut i = 0;
    let mut normalizer = Normalizer::default();
    while more {
        let token = scan.string()?;
        push_name(&mut out, i, |out| normalizer.push_json(token.raw, out))?;
        i += 1;
        more = scan.more(b']')?;
    }
    out.ascii(b']');
    scan.at_end().then_some(out)
}

/// Appends `,"<normalized name>"` (a normalized name is letters and digits, never escaped),
/// the name written by `name`; returns what `name` does.
fn push_name<S: Sink, T>(out: &mut S, i: usize, name: impl FnOnce(&mut S) -> T) -> T {
    if i > 0 {
        out.ascii(b',');
    }
    out.ascii(b'"');
    let done = name(out);
    out.ascii(b'"');
    done
}
