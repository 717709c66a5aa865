//! A request's target: its path and its query parameters.

use worker::Request;

/// Query parameters in the order given; [`Params::get`] answers the last of repeated names.
/// A few pairs searched from the end: the Worker needs no hash map (nor its hasher) for them.
#[derive(Debug, Default)]
pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn get(&self, name: &str) -> Option<&String> {
        self.0.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v)
    }
}

impl FromIterator<(String, String)> for Params {
    fn from_iter<I: IntoIterator<Item = (String, String)>>(pairs: I) -> Self {
        Params(pairs.into_iter().collect())
    }
}

pub(crate) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b, hex) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The request's path and raw query string, read without a URL parser (the `url` crate's IDNA
/// tables would otherwise be linked in and roughly double the Worker's size).
pub(crate) struct Target {
    pub(crate) path: String,
    query: String,
}

impl Target {
    pub(crate) fn of(req: &Request) -> Target {
        let full = req.inner().url();
        let after_scheme = full.split_once("://").map_or(full.as_str(), |(_, rest)| rest);
        let from_path = after_scheme.find('/').and_then(|i| after_scheme.get(i..)).unwrap_or("/");
        let without_fragment = from_path.split('#').next().unwrap_or_default();
        let (path, query) = without_fragment.split_once('?').unwrap_or((without_fragment, ""));
        Target { path: path.to_string(), query: query.to_string() }
    }

    /// Query parameters, decoded (`+` is a space); the last of repeated names wins.
    pub(crate) fn params(&self) -> Params {
        self.query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (percent_decode(&k.replace('+', " ")), percent_decode(&v.replace('+', " ")))
            })
            .collect()
    }
}
