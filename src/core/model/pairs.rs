//! Small maps as lists of `(key, value)` pairs: in the order their keys were first added
//! ([`get`], [`put`], [`push`]), or sorted by key ([`get_sorted`], [`insert_sorted`],
//! [`positions_by_key`]).
//!
//! The maps a command builds hold a batch's worth of users or a handful of hubs. Each
//! `BTreeMap<K, V>` type links a B-tree of its own (insertion, removal and rebalancing, several
//! KB of wasm each); a list shares the vector code every artifact already links, and a linear
//! search over a few hundred keys costs less than the write it serves.

use std::borrow::Borrow;

/// The value at `key`, if the list has it.
pub fn get<'m, K: PartialEq<Q>, Q: ?Sized, V>(pairs: &'m [(K, V)], key: &Q) -> Option<&'m V> {
    pairs.iter().find(|(k, _)| *k == *key).map(|(_, v)| v)
}

/// Sets the value at `key`, in place when the list has it, else last.
pub fn put<K: PartialEq, V>(pairs: &mut Vec<(K, V)>, key: K, value: V) {
    match pairs.iter_mut().find(|(k, _)| *k == key) {
        Some((_, slot)) => *slot = value,
        None => pairs.push((key, value)),
    }
}

/// Appends `item` to the list at `key`, which is added (empty) first when missing.
pub fn push<K: PartialEq, T>(pairs: &mut Vec<(K, Vec<T>)>, key: K, item: T) {
    match pairs.iter_mut().find(|(k, _)| *k == key) {
        Some((_, items)) => items.push(item),
        None => pairs.push((key, vec![item])),
    }
}

/// In a list sorted by key: the value at `key`, if the list has it.
pub fn get_sorted<'m, K: Borrow<Q>, Q: Ord + ?Sized, V>(pairs: &'m [(K, V)], key: &Q) -> Option<&'m V> {
    let at = pairs.partition_point(|(k, _)| k.borrow() < key);
    pairs.get(at).filter(|(k, _)| k.borrow() == key).map(|(_, v)| v)
}

/// In a list sorted by key: adds `(key, value)` in its place (the caller adds each key once).
pub fn insert_sorted<K: Ord, V>(pairs: &mut Vec<(K, V)>, key: K, value: V) {
    let at = pairs.partition_point(|(k, _)| *k < key);
    pairs.insert(at, (key, value));
}

/// The positions `0..n` in the order of their keys (`key(i)`; equal keys in reverse order of
/// position). Sorted by insertion: a sort would link a sorting routine of its own, and the lists
/// ordered so hold a batch's worth of ids.
pub fn positions_by_key<'k>(n: usize, key: &dyn Fn(usize) -> &'k str) -> Vec<usize> {
    let mut order: Vec<usize> = Vec::with_capacity(n);
    for i in 0..n {
        let k = key(i);
        order.insert(order.partition_point(|&o| key(o) < k), i);
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn groups_values_by_key_in_first_seen_order() {
        let mut pairs: Vec<(String, Vec<u8>)> = Vec::new();
        for (k, v) in [("b", 1), ("a", 2), ("b", 3)] {
            push(&mut pairs, k.to_string(), v);
        }
        assert_eq!(pairs, [("b".to_string(), vec![1, 3]), ("a".to_string(), vec![2])]);
        assert_eq!(get(&pairs, "a"), Some(&vec![2]));
        assert_eq!(get(&pairs, "c"), None);
        put(&mut pairs, "a".to_string(), vec![4]);
        put(&mut pairs, "c".to_string(), vec![]);
        assert_eq!(pairs.len(), 3);
        assert_eq!((get(&pairs, "a"), get(&pairs, "c")), (Some(&vec![4]), Some(&vec![])));
    }

    #[test]
    fn keeps_a_sorted_list_sorted() {
        let mut pairs: Vec<(String, u8)> = Vec::new();
        for (k, v) in [("m", 1), ("c", 2), ("x", 3), ("a", 4)] {
            insert_sorted(&mut pairs, k.to_string(), v);
        }
        let keys: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["a", "c", "m", "x"]);
        assert_eq!((get_sorted(&pairs, "c"), get_sorted(&pairs, "b"), get_sorted(&pairs, "z")), (Some(&2), None, None));
    }

    #[test]
    fn orders_positions_by_their_keys() {
        let keys = ["m", "c", "x", "a", "c"];
        assert_eq!(positions_by_key(keys.len(), &|i| keys.get(i).copied().unwrap_or_default()), [3, 4, 1, 0, 2]);
        assert!(positions_by_key(0, &|_| "").is_empty());
    }
}
