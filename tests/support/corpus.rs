//! The expected answers of a seeded corpus: one line per case in `tests/corpus/<name>.txt`, the
//! FNV-1a 64 digest (hex) of the case's answer in a canonical form (the response and records as
//! parsed JSON, or the error's code and message). The cases are drawn again on every run (a
//! seeded generator), so only their answers are kept. Included by each suite that checks one
//! (`#[path]`), natively and in `tests/wasm.rs` (the file is compiled in).
//!
//! `ROSTER_WRITE_CORPUS=1 cargo test --test <suite>` rewrites the files from what the code answers
//! now: for a change of behaviour that is meant, reviewed case by case in the suite's failures
//! first.

pub struct Corpus {
    path: &'static str,
    expected: Vec<&'static str>,
    got: Vec<String>,
    write: bool,
}

/// FNV-1a, 64 bits.
fn digest(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

impl Corpus {
    /// The corpus at `path` (relative to the crate), whose text is `text` (`include_str!` of it).
    pub fn new(path: &'static str, text: &'static str) -> Self {
        let write = cfg!(not(target_arch = "wasm32")) && std::env::var("ROSTER_WRITE_CORPUS").is_ok_and(|v| v == "1");
        Corpus { path, expected: text.lines().collect(), got: Vec::new(), write }
    }
    /// Checks the next case's answer (`context` says which case, for a failure).
    pub fn check(&mut self, answer: &str, context: &dyn Fn() -> String) {
        let d = digest(answer);
        if !self.write {
            let at = self.got.len();
            let want = self.expected.get(at).copied().unwrap_or("(none: the corpus has fewer cases)");
            assert_eq!(d, want, "{}: case {at} answers otherwise than the corpus:\n{answer}\n{}", self.path, context());
        }
        self.got.push(d);
    }
    /// Every case was checked; in write mode, the file is written.
    pub fn finish(self) {
        if self.write {
            #[cfg(not(target_arch = "wasm32"))]
            std::fs::write(self.path, self.got.join("\n") + "\n").unwrap();
            return;
        }
        assert_eq!(self.got.len(), self.expected.len(), "{}: the corpus holds other cases", self.path);
    }
}
