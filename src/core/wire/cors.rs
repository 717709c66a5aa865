//! Which browser origins may read Roster's answers: the Worker's `ROSTER_CORS_ORIGINS` var, a
//! comma-separated allow-list (`https://app.example.com, https://admin.example.com`). Unset,
//! empty or containing `*`, every origin may (`access-control-allow-origin: *`, as Stream
//! answers). With a list, an allowed origin is echoed back and any other gets no
//! `access-control-allow-origin` at all, so the browser withholds the answer from its page.
//! Origins compare as browsers send them: scheme, host and port, case-insensitively, without a
//! trailing slash.

/// What `access-control-allow-origin` says for one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Allow<'a> {
    /// Any origin: `*`.
    Any,
    /// This origin, echoed (the answer then varies by `Origin`).
    Origin(&'a str),
    /// No header: the origin is not on the list, or the request named none.
    Refuse,
}

/// The answer for a request from `origin` under the allow-list `list`.
pub fn allow<'a>(list: Option<&str>, origin: Option<&'a str>) -> Allow<'a> {
    let entries: Vec<&str> =
        list.unwrap_or_default().split(',').map(|e| e.trim().trim_end_matches('/')).filter(|e| !e.is_empty()).collect();
    if entries.is_empty() || entries.contains(&"*") {
        return Allow::Any;
    }
    match origin {
        Some(o) if entries.iter().any(|e| e.eq_ignore_ascii_case(o.trim_end_matches('/'))) => Allow::Origin(o),
        _ => Allow::Refuse,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn no_list_or_a_star_allows_every_origin() {
        for list in [None, Some(""), Some(" , "), Some("*"), Some("https://a.example, *")] {
            assert_eq!(allow(list, Some("https://evil.example")), Allow::Any, "{list:?}");
            assert_eq!(allow(list, None), Allow::Any, "{list:?}");
        }
    }

    #[test]
    fn a_list_echoes_only_its_origins() {
        let list = Some(" https://app.example.com/, http://localhost:3000 ");
        assert_eq!(allow(list, Some("https://app.example.com")), Allow::Origin("https://app.example.com"));
        assert_eq!(allow(list, Some("HTTPS://APP.example.com")), Allow::Origin("HTTPS://APP.example.com"));
        assert_eq!(allow(list, Some("http://localhost:3000")), Allow::Origin("http://localhost:3000"));
        for other in ["http://app.example.com", "https://app.example.com:8443", "http://localhost:3001", "null", ""] {
            assert_eq!(allow(list, Some(other)), Allow::Refuse, "{other}");
        }
        assert_eq!(allow(list, None), Allow::Refuse);
    }
}
