//! [`SortedMap`]: the string-keyed maps of the hot path (machines, types, names).
//!
//! A `Vec<(String, V)>` in insertion order, the positions in key order beside it, and a hash
//! index from key to position. Why:
//!
//! * A hit must cost one lookup and no allocation. `BTreeMap` needs two (`get_mut` then
//!   insert is the borrow checker's NLL problem case 3, and `entry` needs an owned `String`).
//! * A hit must not cost log2(n) string compares either: a binary search over 50 names
//!   spent more instructions in `memcmp` than all the counting that followed. The index
//!   finds a key with one hash (foldhash, a few instructions per 8 bytes) and one compare;
//!   a map of up to eight keys (types, machines, the names of most types) skips even the
//!   hash and compares the key's first and last eight bytes with each key's.
//! * Views, merges and serialization want key order; the order list keeps it, so a report
//!   serializes as a JSON object exactly like a `BTreeMap`, and the index is never persisted.
//! * An insert must not move the entries: each new hour creates every (machine, type, name)
//!   entry again within seconds, and keeping the entries themselves sorted moved on average
//!   half of a name map's 190-byte entries and renumbered its index per insert, several
//!   hundred kilobytes per name in a map of a few hundred: a collector starting an hour at
//!   300 k trees/s fell a second behind. An insert now appends the entry, and only the
//!   4-byte position moves within the order list.
//!
//! Keys are shared text (`Arc<str>`, one allocation per distinct key and thread): every
//! machine of a domain reports the same types and names, so a report with 32 machines would
//! otherwise hold each name 32 times.
//!
//! Untrusted clients choose the keys. The hasher is seeded per process, and the caps bound
//! how long a chain of colliding keys could get anyway.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::hash::BuildHasher;
use std::sync::Arc;

use hashbrown::DefaultHashBuilder;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::cardinality::truncate_chars;
use crate::config::OTHERS;
use crate::position_index::PositionIndex;

/// A map from strings to `V`, read in key order.
#[derive(Clone)]
pub(crate) struct SortedMap<V> {
    /// In insertion order: a key's position never changes.
    entries: Vec<(Arc<str>, V)>,
    /// The positions in `entries`, in key order.
    order: Vec<u32>,
    /// The position in `entries` of every key, hashed by key. Derived from `entries`.
    index: PositionIndex,
    hasher: DefaultHashBuilder,
}

impl<V> Default for SortedMap<V> {
    fn default() -> Self {
        SortedMap {
            entries: Vec::new(),
            order: Vec::new(),
            index: PositionIndex::default(),
            hasher: DefaultHashBuilder::default(),
        }
    }
}

impl<V: fmt::Debug> fmt::Debug for SortedMap<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<V: PartialEq> PartialEq for SortedMap<V> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl<V> SortedMap<V> {
    /// The map of `entries`, which must be sorted by key without duplicates.
    fn from_sorted(entries: Vec<(Arc<str>, V)>) -> Self {
        let mut map = SortedMap {
            order: (0..entries.len() as u32).collect(),
            entries,
            ..SortedMap::default()
        };
        for pos in 0..map.entries.len() {
            map.index_entry(pos);
        }
        map
    }

    /// Adds the entry at `pos`, the last one indexed so far, to the index.
    fn index_entry(&mut self, pos: usize) {
        let (entries, hasher) = (&self.entries, &self.hasher);
        let key = &*entries[pos].0;
        self.index.insert(
            key.as_bytes(),
            || hasher.hash_one(key),
            pos,
            |i| hasher.hash_one(&*entries[i].0),
        );
    }

    /// The map of an owned sorted map's entries, keys shared (see [`shared_key`]).
    pub(crate) fn from_map(map: BTreeMap<String, V>) -> Self {
        SortedMap::from_sorted(map.into_iter().map(|(k, v)| (shared_key(&k), v)).collect())
    }

    /// The entries in key order, taken out.
    pub(crate) fn into_entries(self) -> impl Iterator<Item = (Arc<str>, V)> {
        let mut slots: Vec<Option<(Arc<str>, V)>> = self.entries.into_iter().map(Some).collect();
        self.order.into_iter().map(move |p| {
            slots[p as usize]
                .take()
                .expect("each position once in the order")
        })
    }

    /// The position of `key`: one hash and one compare, or in a small map a few compares
    /// of words.
    #[inline]
    fn position(&self, key: &str) -> Option<usize> {
        self.index.find(
            key.as_bytes(),
            || self.hasher.hash_one(key),
            |i| short_str_eq(&self.entries[i].0, key),
        )
    }

    /// Inserts `key`, which must be absent, after every entry, and its position at its
    /// place in key order; returns the position. The binary search happens only here, so a
    /// key folded into `OTHERS` (a full map sees one per message when a client puts IDs
    /// into names) costs no string compares.
    fn insert(&mut self, key: &str, value: V) -> usize {
        let pos = self.entries.len();
        let position = u32::try_from(pos).expect("caps keep maps far below 4 billion keys");
        let entries = &self.entries;
        let at = self
            .order
            .partition_point(|&p| &*entries[p as usize].0 < key);
        crate::frugal_vec::insert_frugal(&mut self.order, at, position);
        crate::frugal_vec::insert_frugal(&mut self.entries, pos, (shared_key(key), value));
        self.index_entry(pos);
        pos
    }

    fn find_or_insert(&mut self, key: &str, new: impl FnOnce(&str) -> V) -> usize {
        match self.position(key) {
            Some(pos) => pos,
            None => self.insert(key, new(key)),
        }
    }

    /// The value of `key`.
    pub(crate) fn get(&self, key: &str) -> Option<&V> {
        self.position(key).map(|pos| &self.entries[pos].1)
    }

    /// The value of `key`, or with no key every value merged into one: a report's view of
    /// one machine or of "All" machines.
    pub(crate) fn one_or_merged(
        &self,
        key: Option<&str>,
        merge: impl Fn(&mut V, &V),
    ) -> Option<Cow<'_, V>>
    where
        V: Clone + Default,
    {
        match key {
            Some(key) => self.get(key).map(Cow::Borrowed),
            None => Some(Cow::Owned(merge_all(self.values(), merge))),
        }
    }

    /// A map of the same keys (shared, not copied), each value made by `f` from this map's.
    pub(crate) fn map_values<U>(&self, mut f: impl FnMut(&str, &V) -> U) -> SortedMap<U> {
        SortedMap::from_sorted(
            self.order
                .iter()
                .map(|&p| {
                    let (k, v) = &self.entries[p as usize];
                    (k.clone(), f(k, v))
                })
                .collect(),
        )
    }

    /// A map of one key.
    pub(crate) fn single(key: &str, value: V) -> Self {
        let mut map = SortedMap::default();
        map.insert(key, value);
        map
    }

    /// How many keys.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// `(key, value)` in key order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &V)> {
        self.order.iter().map(|&p| {
            let (k, v) = &self.entries[p as usize];
            (&**k, v)
        })
    }

    /// The keys in order.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &str> {
        self.iter().map(|(k, _)| k)
    }

    /// The values in key order.
    pub(crate) fn values(&self) -> impl Iterator<Item = &V> {
        self.iter().map(|(_, v)| v)
    }

    /// The entry for `key` (cut to `max_chars`), created with `new` on demand. When the map
    /// already holds `max_len` keys and `key` is new, the entry is `OTHERS` instead and
    /// `folded` goes up by one. A hit, folded or not, is one lookup
    /// ([`SortedMap::position`]) and no allocation.
    #[inline]
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
            Some(pos) => pos,
            None if self.entries.len() < max_len => self.insert(key, new(key)),
            None => {
                *folded += 1;
                self.find_or_insert(OTHERS, new)
            }
        };
        &mut self.entries[pos].1
    }

    /// [`SortedMap::capped_entry`] that also spends one of `entries_left` on each key it
    /// adds, and folds a new key into `OTHERS` when none is left. `OTHERS` itself is added
    /// even then (once per map, so what a spent budget still adds is bounded by the maps
    /// there are).
    #[inline]
    pub(crate) fn budgeted_entry(
        &mut self,
        key: &str,
        max_len: usize,
        max_chars: usize,
        folded: &mut u64,
        entries_left: &mut usize,
    ) -> &mut V
    where
        V: Default,
    {
        let key = truncate_chars(key, max_chars);
        let pos = match self.position(key) {
            Some(pos) => pos,
            None if self.entries.len() < max_len && *entries_left > 0 => {
                *entries_left -= 1;
                self.insert(key, V::default())
            }
            None => {
                *folded += 1;
                self.find_or_insert(OTHERS, |_| {
                    *entries_left = entries_left.saturating_sub(1);
                    V::default()
                })
            }
        };
        &mut self.entries[pos].1
    }

    /// [`SortedMap::capped_entry_with`] with `V::default()`.
    #[inline]
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

    /// Inserts `value` under `key`, or merges it into the value there is. Never folds (the
    /// caps were applied when `value` was made).
    pub(crate) fn insert_or_merge(&mut self, key: &str, value: V, merge: impl FnOnce(&mut V, &V)) {
        match self.position(key) {
            Some(pos) => merge(&mut self.entries[pos].1, &value),
            None => {
                self.insert(key, value);
            }
        }
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
                Some(pos) => merge_value(&mut self.entries[pos].1, value),
                None => {
                    self.insert(key, value.clone());
                }
            }
        }
    }
}

/// Every value merged into one, in pairs of about equal size (as a merge sort combines
/// runs): each value's data takes part in about `log2(n)` merges. Merging each value into
/// one growing total instead costs the total's size per value, and a name seen on 1 000
/// machines made the "All" view about a thousand times its data (2 s for one domain).
pub(crate) fn merge_all<'v, V: Clone + Default + 'v>(
    values: impl Iterator<Item = &'v V>,
    merge: impl Fn(&mut V, &V),
) -> V {
    // `(rank, value)`: a value of rank r is the merge of 2^r inputs; ranks strictly fall
    // from the bottom of the stack to its top, like the bits of a binary counter.
    let mut stack: Vec<(u32, V)> = Vec::new();
    let mut values = values.fuse();
    while let Some(first) = values.next() {
        // Values come in pairs, so only every other one is copied.
        let mut carry = (0, first.clone());
        if let Some(second) = values.next() {
            merge(&mut carry.1, second);
            carry.0 = 1;
        }
        while let Some((rank, _)) = stack.last() {
            if *rank != carry.0 {
                break;
            }
            let (rank, mut below) = stack.pop().expect("just looked");
            merge(&mut below, &carry.1);
            carry = (rank + 1, below);
        }
        stack.push(carry);
    }
    // The top is the smallest: each merge adds what is merged so far into a larger value.
    let Some((_, mut all)) = stack.pop() else {
        return V::default();
    };
    while let Some((_, mut larger)) = stack.pop() {
        merge(&mut larger, &all);
        all = larger;
    }
    all
}

/// The distinct keys of this thread's maps, for sharing. Keys no map holds any more are
/// dropped whenever the set has doubled since the last such sweep, so the set stays within
/// twice the live keys (plus [`SHARED_KEYS_FIRST_SWEEP`]) however many hours pass.
struct SharedKeys {
    keys: HashSet<Arc<str>>,
    sweep_at: usize,
}

const SHARED_KEYS_FIRST_SWEEP: usize = 4096;

thread_local! {
    static KEYS: RefCell<SharedKeys> = RefCell::new(SharedKeys {
        keys: HashSet::new(),
        sweep_at: SHARED_KEYS_FIRST_SWEEP,
    });
}

/// `key` as shared text: the same allocation as every other key of this text on this
/// thread.
fn shared_key(key: &str) -> Arc<str> {
    KEYS.with(|shared| {
        let mut shared = shared.borrow_mut();
        if let Some(existing) = shared.keys.get(key) {
            return existing.clone();
        }
        if shared.keys.len() >= shared.sweep_at {
            shared.keys.retain(|k| Arc::strong_count(k) > 1);
            shared.sweep_at = (2 * shared.keys.len()).max(SHARED_KEYS_FIRST_SWEEP);
        }
        let new: Arc<str> = Arc::from(key);
        shared.keys.insert(new.clone());
        new
    })
}

/// `a == b` without a `memcmp` call for short keys (most types, names and IPs): on a hit
/// the call cost more than the probe that led to it.
#[inline]
fn short_str_eq(a: &str, b: &str) -> bool {
    ocelot_protocol::short_eq(a.as_bytes(), b.as_bytes())
}

impl<V: Serialize> Serialize for SortedMap<V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for SortedMap<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Through a BTreeMap: sorted and deduplicated whatever the input order.
        Ok(SortedMap::from_map(BTreeMap::<String, V>::deserialize(
            deserializer,
        )?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merging_all_values_keeps_their_order() {
        // Concatenation is associative but not commutative: any value merged out of
        // order, twice or never shows.
        for n in 0..40 {
            let mut map: SortedMap<String> = SortedMap::default();
            for i in 0..n {
                *map.capped_entry(&format!("{i:02}"), usize::MAX, 100, &mut 0) = format!("{i},");
            }
            let all = map.one_or_merged(None, |a, b| a.push_str(b)).unwrap();
            let expected: String = (0..n).map(|i| format!("{i},")).collect();
            assert_eq!(*all, expected, "{n} values");
        }
    }

    #[test]
    fn keys_no_map_holds_are_forgotten() {
        std::thread::spawn(|| {
            for hour in 0..20 {
                let mut map: SortedMap<u8> = SortedMap::default();
                for i in 0..1000 {
                    map.capped_entry(&format!("{hour}/{i}"), usize::MAX, 100, &mut 0);
                }
            }
            let held = KEYS.with(|shared| shared.borrow().keys.len());
            assert!(held <= 2 * SHARED_KEYS_FIRST_SWEEP, "{held} keys held");
        })
        .join()
        .unwrap();
    }

    #[test]
    fn maps_on_one_thread_share_their_keys_text() {
        let (mut a, mut b): (SortedMap<u8>, SortedMap<u8>) = Default::default();
        let mut folded = 0;
        for map in [&mut a, &mut b] {
            *map.capped_entry("/order/{num}", 10, 100, &mut folded) += 1;
        }
        let serialized: SortedMap<u8> =
            serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
        assert!(Arc::ptr_eq(&a.entries[0].0, &b.entries[0].0));
        assert!(Arc::ptr_eq(&a.entries[0].0, &serialized.entries[0].0));
        assert_eq!(a, b);
    }

    #[test]
    fn keys_stay_sorted_and_fold_past_the_cap() {
        let mut map: SortedMap<u64> = SortedMap::default();
        let mut folded = 0;
        for key in ["b", "a", "c", "a", "d"] {
            *map.capped_entry(key, 3, 10, &mut folded) += 1;
        }
        let entries: Vec<(&str, u64)> = map.iter().map(|(k, v)| (k, *v)).collect();
        assert_eq!(entries, [("OTHERS", 1), ("a", 2), ("b", 1), ("c", 1)]);
        assert_eq!(folded, 1);
        assert_eq!(map.get("a"), Some(&2));
    }

    #[test]
    fn every_key_is_found_after_inserts_in_any_order() {
        let mut map: SortedMap<usize> = SortedMap::default();
        let mut folded = 0;
        let keys: Vec<String> = (0..300).map(|i| format!("k{}", (i * 7919) % 300)).collect();
        for (i, key) in keys.iter().enumerate() {
            *map.capped_entry(key, usize::MAX, 99, &mut folded) = i;
        }
        let sorted: Vec<&str> = map.keys().collect();
        assert_eq!(sorted.len(), 300);
        assert!(sorted.windows(2).all(|w| w[0] < w[1]));
        let taken: Vec<(String, usize)> = map
            .clone()
            .into_entries()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        assert!(taken
            .iter()
            .map(|(k, _)| k.as_str())
            .eq(sorted.iter().copied()));
        assert!(taken.iter().all(|(k, v)| map.get(k) == Some(v)));
        for (i, key) in keys.iter().enumerate() {
            assert_eq!(map.get(key), Some(&i), "{key}");
        }
        assert_eq!(map.get("k300"), None);
        let copy: SortedMap<usize> =
            serde_json::from_str(&serde_json::to_string(&map).unwrap()).unwrap();
        assert_eq!(copy, map);
        assert!(keys.iter().all(|key| copy.get(key) == map.get(key)));
    }

    #[test]
    fn short_str_eq_is_string_equality() {
        let words = [
            "",
            "a",
            "ab",
            "abc",
            "abcd",
            "abce",
            "bbcd",
            "abcdefg",
            "abcdefh",
            "xbcdefg",
            "abcdefgh",
            "abcdefgi",
            "abcdefghijklmnop",
            "abcdefghijklmnoq",
            "xbcdefghijklmnop",
            "abcdefghXjklmnop",
            "abcdefghijklmnopq",
            "abcdefghijklmnopr",
            "é",
            "ée",
        ];
        for a in words {
            for b in words {
                assert_eq!(short_str_eq(a, b), a == b, "{a:?} {b:?}");
            }
        }
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
