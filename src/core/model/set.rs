//! Small sets as sorted, duplicate-free vectors.
//!
//! The sets the core builds hold a batch's worth of ids, names or teams. A sorted `Vec`
//! iterates in the same order as a `BTreeSet` and compares the same way, and it shares the
//! vector code every wasm artifact already links instead of adding a B-tree per element type.

/// Inserts `item` into the sorted set `set`; `false` if it was already there.
pub fn insert<T: Ord>(set: &mut Vec<T>, item: T) -> bool {
    match set.binary_search(&item) {
        Ok(_) => false,
        Err(at) => {
            set.insert(at, item);
            true
        }
    }
}

/// Whether the sorted set `set` holds `item`.
pub fn contains<T: Ord>(set: &[T], item: &T) -> bool {
    set.binary_search(item).is_ok()
}

/// The sorted set of `items`.
pub fn of<T: Ord>(items: impl IntoIterator<Item = T>) -> Vec<T> {
    let mut set = Vec::new();
    for item in items {
        insert(&mut set, item);
    }
    set
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn behaves_like_a_btree_set() {
        let mut s = Vec::new();
        assert!(insert(&mut s, "b"));
        assert!(insert(&mut s, "a"));
        assert!(!insert(&mut s, "b"));
        assert_eq!(s, ["a", "b"]);
        assert!(contains(&s, &"a") && !contains(&s, &"c"));
        assert_eq!(of(["c", "a", "c", "b"]), ["a", "b", "c"]);
        assert_eq!(of(Vec::<u8>::new()), Vec::<u8>::new());
    }
}
