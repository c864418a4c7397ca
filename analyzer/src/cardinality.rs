//! Capped map entries: how a report keeps memory bounded by distinct names.

use std::collections::BTreeMap;

use crate::config::{AnalyzerConfig, OTHERS};
use crate::sorted_map::SortedMap;

/// `key` cut to at most `max_chars` characters (on a character boundary).
#[inline]
pub(crate) fn truncate_chars(key: &str, max_chars: usize) -> &str {
    if key.len() <= max_chars {
        return key;
    }
    match key.char_indices().nth(max_chars) {
        Some((end, _)) => &key[..end],
        None => key,
    }
}

/// The entry for `key` (cut to `max_chars`), created on demand. When the map already holds
/// `max_len` keys and `key` is new, the entry is `OTHERS` instead and `folded` goes up by one.
///
/// A hit costs two lookups and no allocation; a new key allocates its `String` once. Callers
/// on the hot path look up with `get_mut` first and call this only on a miss: that `match`
/// compiles where it binds a local, not in a helper returning the reference (NLL problem
/// case 3).
pub(crate) fn capped_entry<'m, V: Default>(
    map: &'m mut BTreeMap<String, V>,
    key: &str,
    max_len: usize,
    max_chars: usize,
    folded: &mut u64,
) -> &'m mut V {
    capped_entry_with(map, key, max_len, max_chars, folded, |_| V::default())
}

/// [`capped_entry`] with a constructor that sees the key actually inserted.
pub(crate) fn capped_entry_with<'m, V>(
    map: &'m mut BTreeMap<String, V>,
    key: &str,
    max_len: usize,
    max_chars: usize,
    folded: &mut u64,
    new: impl FnOnce(&str) -> V,
) -> &'m mut V {
    let key = truncate_chars(key, max_chars);
    // `if let Some(v) = map.get_mut(key) { return v }` is rejected by today's borrow checker.
    if map.contains_key(key) {
        return map.get_mut(key).expect("contains_key said so");
    }
    let key = if map.len() >= max_len {
        *folded += 1;
        OTHERS
    } else {
        key
    };
    // Not `entry`: its owned key would allocate for every message folded into `OTHERS`.
    if !map.contains_key(key) {
        map.insert(key.to_owned(), new(key));
    }
    map.get_mut(key).expect("present or just inserted")
}

/// The entry of `name` under `type_` in a machine's types (each holding its names, which
/// `names_of` gives), created on demand; past `max_types_per_machine` types or
/// `max_names_per_type` names, or with no `entries_left`, a new key folds into `OTHERS`,
/// counted in `folded`.
#[inline]
pub(crate) fn type_name_entry<'m, T: Default, N: Default>(
    types: &'m mut SortedMap<T>,
    names_of: impl FnOnce(&'m mut T) -> &'m mut SortedMap<N>,
    [type_, name]: [&str; 2],
    config: &AnalyzerConfig,
    folded: &mut u64,
    entries_left: &mut usize,
) -> &'m mut N {
    let type_entry = types.budgeted_entry(
        type_,
        config.max_types_per_machine,
        config.max_key_chars,
        folded,
        entries_left,
    );
    names_of(type_entry).budgeted_entry(
        name,
        config.max_names_per_type,
        config.max_key_chars,
        folded,
        entries_left,
    )
}

/// Merges `other` into `map` key by key with `merge_value`, creating missing keys. Merging
/// never folds: caps bound one analyzer's memory, and a merged view is built on demand.
pub(crate) fn merge_maps<V: Default + Clone>(
    map: &mut BTreeMap<String, V>,
    other: &BTreeMap<String, V>,
    mut merge_value: impl FnMut(&mut V, &V),
) {
    for (key, value) in other {
        match map.get_mut(key) {
            Some(mine) => merge_value(mine, value),
            None => {
                map.insert(key.clone(), value.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_keys_past_the_cap_fold_into_others_and_are_counted() {
        let mut map: BTreeMap<String, u64> = BTreeMap::new();
        let mut folded = 0;
        for key in ["a", "b", "c", "a", "d"] {
            *capped_entry(&mut map, key, 2, 10, &mut folded) += 1;
        }
        assert_eq!(map.get("a"), Some(&2));
        assert_eq!(map.get("b"), Some(&1));
        assert_eq!(map.get(OTHERS), Some(&2));
        assert_eq!(folded, 2);
    }

    #[test]
    fn long_keys_are_cut_on_a_character_boundary() {
        assert_eq!(truncate_chars("héllo", 2), "hé");
        assert_eq!(truncate_chars("abc", 5), "abc");
    }
}
