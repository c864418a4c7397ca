//! [`SortedMap`]: the string-keyed maps of the hot path (machines, types, names).
//!
//! A sorted `Vec<(String, V)>`. Why not `BTreeMap`: a hit must cost one lookup, and with a
//! `BTreeMap` "find or insert without allocating the key" takes two (`get_mut` then insert
//! is the borrow checker's NLL problem case 3, and `entry` needs an owned `String` for
//! every lookup). A binary search yields an index that stays usable for the insert. Inserts
//! shift the vector, but they happen once per distinct key per hour and the caps keep
//! vectors short (200 names per type). It serializes as a JSON object, exactly like a
//! `BTreeMap`.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::cardinality::truncate_chars;
use crate::config::OTHERS;

/// A map from strings to `V`, kept sorted by key.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SortedMap<V> {
    entries: Vec<(String, V)>,
}

impl<V> Default for SortedMap<V> {
    fn default() -> Self {
        SortedMap {
            entries: Vec::new(),
        }
    }
}

impl<V> SortedMap<V> {
    fn position(&self, key: &str) -> Result<usize, usize> {
        self.entries.binary_search_by(|(k, _)| k.as_str().cmp(key))
    }

    fn find_or_insert(&mut self, key: &str, new: impl FnOnce(&str) -> V) -> usize {
        match self.position(key) {
            Ok(pos) => pos,
            Err(pos) => {
                self.entries.insert(pos, (key.to_owned(), new(key)));
                pos
            }
        }
    }

    /// The value of `key`.
    pub(crate) fn get(&self, key: &str) -> Option<&V> {
        self.position(key).ok().map(|pos| &self.entries[pos].1)
    }

    /// How many keys.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// `(key, value)` in key order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&String, &V)> {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    /// The keys in order.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &String> {
        self.entries.iter().map(|(k, _)| k)
    }

    /// The values in key order.
    pub(crate) fn values(&self) -> impl Iterator<Item = &V> {
        self.entries.iter().map(|(_, v)| v)
    }

    /// The entry for `key` (cut to `max_chars`), created with `new` on demand. When the map
    /// already holds `max_len` keys and `key` is new, the entry is `OTHERS` instead and
    /// `folded` goes up by one. A hit is one binary search and no allocation.
    pub(crate) fn capped_entry_with(
        &mut self,
        key: &str,
        max_len: usize,
        max_chars: usize,
        folded: &mut u64,
        new: impl FnOnce(&str) -> V,
    ) -> &mut V {
        let key = truncate_chars(key, max_chars);
        let pos = match self.position(key) {
            Ok(pos) => pos,
            Err(pos) if self.entries.len() < max_len => {
                self.entries.insert(pos, (key.to_owned(), new(key)));
                pos
            }
            Err(_) => {
                *folded += 1;
                self.find_or_insert(OTHERS, new)
            }
        };
        &mut self.entries[pos].1
    }

    /// [`SortedMap::capped_entry_with`] with `V::default()`.
    pub(crate) fn capped_entry(
        &mut self,
        key: &str,
        max_len: usize,
        max_chars: usize,
        folded: &mut u64,
    ) -> &mut V
    where
        V: Default,
    {
        self.capped_entry_with(key, max_len, max_chars, folded, |_| V::default())
    }

    /// Merges `other` key by key with `merge_value`, copying missing keys. Never folds.
    pub(crate) fn merge_with(
        &mut self,
        other: &SortedMap<V>,
        mut merge_value: impl FnMut(&mut V, &V),
    ) where
        V: Clone,
    {
        for (key, value) in &other.entries {
            match self.position(key) {
                Ok(pos) => merge_value(&mut self.entries[pos].1, value),
                Err(pos) => self.entries.insert(pos, (key.clone(), value.clone())),
            }
        }
    }
}

impl<V: Serialize> Serialize for SortedMap<V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.entries.iter().map(|(k, v)| (k, v)))
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for SortedMap<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Through a BTreeMap: sorted and deduplicated whatever the input order.
        let map = BTreeMap::<String, V>::deserialize(deserializer)?;
        Ok(SortedMap {
            entries: map.into_iter().collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_stay_sorted_and_fold_past_the_cap() {
        let mut map: SortedMap<u64> = SortedMap::default();
        let mut folded = 0;
        for key in ["b", "a", "c", "a", "d"] {
            *map.capped_entry(key, 3, 10, &mut folded) += 1;
        }
        let entries: Vec<(&str, u64)> = map.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        assert_eq!(entries, [("OTHERS", 1), ("a", 2), ("b", 1), ("c", 1)]);
        assert_eq!(folded, 1);
        assert_eq!(map.get("a"), Some(&2));
    }

    #[test]
    fn serializes_like_a_btreemap() {
        let mut map: SortedMap<u64> = SortedMap::default();
        let mut folded = 0;
        *map.capped_entry("z", 9, 9, &mut folded) = 1;
        *map.capped_entry("a", 9, 9, &mut folded) = 2;
        let json = serde_json::to_string(&map).unwrap();
        assert_eq!(json, r#"{"a":2,"z":1}"#);
        assert_eq!(serde_json::from_str::<SortedMap<u64>>(&json).unwrap(), map);
    }
}
