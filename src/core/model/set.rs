//! Small sets as sorted, duplicate-free vectors.
//!
//! The sets the core builds hold a batch's worth of ids, names or teams. A sorted `Vec`
//! iterates in the same order as a `BTreeSet` and compares the same way, and it shares the
//! vector code every wasm artifact already links instead of adding a B-tree per element type.

use std::borrow::Borrow;

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

/// Whether the sorted set `set` holds `item` (a `String` set is asked with a `str`, say).
pub fn contains<T: Borrow<Q>, Q: Ord + ?Sized>(set: &[T], item: &Q) -> bool {
    set.binary_search_by(|x| x.borrow().cmp(item)).is_ok()
}

/// The sorted set of `items`.
pub fn of<T: Ord>(items: impl IntoIterator<Item = T>) -> Vec<T> {
    let mut set = Vec::new();
    for item in items {
        insert(&mut set, item);
    }
    set
}

/// Sorts `items` by `cmp`, in place: a heapsort, O(n log n) without allocating. Each wasm
/// artifact links this one sort (for each element type); the standard library's sorts, and a
/// `BTreeSet` or `BTreeMap` collected from an iterator (which sorts first), link 3 to 5 KB each.
pub fn sort_by<T>(items: &mut [T], cmp: impl Fn(&T, &T) -> std::cmp::Ordering) {
    let less = |items: &[T], a: usize, b: usize| match (items.get(a), items.get(b)) {
        (Some(x), Some(y)) => cmp(x, y) == std::cmp::Ordering::Less,
        _ => false,
    };
    // Moves the item at `root` down the heap of the first `end` items.
    let sift = |items: &mut [T], mut root: usize, end: usize| loop {
        let mut child = 2 * root + 1;
        if child >= end {
            break;
        }
        if child + 1 < end && less(items, child, child + 1) {
            child += 1;
        }
        if !less(items, root, child) {
            break;
        }
        items.swap(root, child);
        root = child;
    };
    let n = items.len();
    for root in (0..n / 2).rev() {
        sift(items, root, n);
    }
    for end in (1..n).rev() {
        items.swap(0, end);
        sift(items, 0, end);
    }
}

/// The sorted set of many `items` ([`sort_by`], then duplicates dropped): O(n log n), where
/// [`of`] inserts one at a time.
pub fn of_many<T: Ord>(mut items: Vec<T>) -> Vec<T> {
    sort_by(&mut items, T::cmp);
    items.dedup();
    items
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
        let owned = of(["b".to_string(), "a".to_string()]);
        assert!(contains(&owned, "a") && contains(&owned, "b") && !contains(&owned, "ab"));
        assert_eq!(of(["c", "a", "c", "b"]), ["a", "b", "c"]);
        assert_eq!(of(Vec::<u8>::new()), Vec::<u8>::new());
    }

    #[test]
    fn heap_sort_sorts_as_the_standard_sort() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for len in 0..200 {
            let mut items: Vec<(u64, usize)> = (0..len)
                .map(|i| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    (x % 7, i)
                })
                .collect();
            let mut expected = items.clone();
            expected.sort();
            sort_by(&mut items, |a, b| a.cmp(b));
            assert_eq!(items, expected, "{len}");
            sort_by(&mut items, |a, b| b.cmp(a));
            expected.reverse();
            assert_eq!(items, expected, "{len}");
        }
    }

    #[test]
    fn of_many_is_the_sorted_set() {
        let items = vec!["b", "a", "c", "a", "b"];
        assert_eq!(of_many(items.clone()), of(items));
        assert!(of_many(Vec::<u8>::new()).is_empty());
    }
}
