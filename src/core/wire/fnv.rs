//! FNV-1a (64 bits), the one checksum the core puts in what it hands out: the query binding of
//! `queryUsers` cursors (`core::query::cursor`) and the check digits of change-feed cursors
//! (`core::query::feed`). Not a defence against forgery (nothing secret goes in): it tells a cursor
//! from a typo or from another query's. Fed through an unambiguous encoding: every text and
//! list is length-prefixed.

pub struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    pub fn bytes(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    pub fn count(&mut self, n: usize) {
        self.bytes(&(n as u64).to_le_bytes());
    }
    pub fn text(&mut self, s: &str) {
        self.count(s.len());
        self.bytes(s.as_bytes());
    }
    pub fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn it_is_fnv1a_and_length_prefixes_texts() {
        let mut h = Fnv::default();
        h.bytes(b"a");
        assert_eq!(h.finish(), 0xaf63_dc4c_8601_ec8c, "FNV-1a 64 of \"a\" (published test vector)");
        let (mut ab, mut a_b) = (Fnv::default(), Fnv::default());
        ab.text("ab");
        ab.text("");
        a_b.text("a");
        a_b.text("b");
        assert_ne!(ab.finish(), a_b.finish());
    }
}
