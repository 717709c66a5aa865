//! Small maps as lists of `(key, value)` pairs, in the order their keys were first added.
//!
//! The maps a command builds hold a batch's worth of users or a handful of hubs. Each
//! `BTreeMap<K, V>` type links a B-tree of its own (insertion, removal and rebalancing, several
//! KB of wasm each); a list shares the vector code every artifact already links, and a linear
//! search over a few hundred keys costs less than the write it serves.

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
}
