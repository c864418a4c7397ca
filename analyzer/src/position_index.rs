//! [`PositionIndex`]: the hash index of a [`SortedMap`](crate::sorted_map::SortedMap), from
//! a key's hash to the key's position in the map's vector.
//!
//! Why not hashbrown's `HashTable<usize>`: a hit there reads a group of control bytes, then
//! the slot they point at, which lives in another cache line (slots are stored apart from the
//! control bytes), and only then the entry. On the collector's hot path each of those reads
//! misses the cache and waits for the one before: perf annotate put a quarter of the
//! transaction counter's time on the first two. Here a slot holds the position and 32 bits of
//! the hash side by side, in one array probed linearly, so a hit reads one line before the
//! entry (eight slots share a line, and the table is at most half full).
//!
//! Positions only grow (a map never removes a key), so there are no tombstones.

/// A hash index from key hashes to positions (below `u32::MAX`).
#[derive(Clone, Default)]
pub(crate) struct PositionIndex {
    /// A power of two long, or empty. A slot is 0 when free, else the top 32 bits of the
    /// key's hash above the position plus one.
    slots: Vec<u64>,
    len: usize,
}

const POSITION_BITS: u32 = 32;
const POSITION_MASK: u64 = (1 << POSITION_BITS) - 1;

fn tag(hash: u64) -> u64 {
    hash & !POSITION_MASK
}

fn position(slot: u64) -> usize {
    ((slot & POSITION_MASK) - 1) as usize
}

impl PositionIndex {
    /// The position of the key with `hash` for which `eq(position)` holds.
    #[inline]
    pub(crate) fn find(&self, hash: u64, mut eq: impl FnMut(usize) -> bool) -> Option<usize> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.slots.len() - 1;
        let mut i = hash as usize & mask;
        loop {
            let slot = self.slots[i];
            if slot == 0 {
                return None;
            }
            if tag(slot) == tag(hash) && eq(position(slot)) {
                return Some(position(slot));
            }
            i = (i + 1) & mask;
        }
    }

    /// Adds a key with `hash` at `pos`; `rehash(position)` gives the hash of the key at any
    /// position already held (growing the table needs them).
    pub(crate) fn insert(&mut self, hash: u64, pos: usize, rehash: impl Fn(usize) -> u64) {
        if (self.len + 1) * 2 > self.slots.len() {
            let slots = (self.slots.len() * 2).max(8);
            let old = std::mem::replace(&mut self.slots, vec![0; slots]);
            for slot in old.into_iter().filter(|&s| s != 0) {
                self.put(rehash(position(slot)), slot);
            }
        }
        // Caps keep every map far below 4 billion keys.
        let pos = u32::try_from(pos).expect("position below u32::MAX");
        self.put(hash, tag(hash) | (u64::from(pos) + 1));
        self.len += 1;
    }

    /// Stores `slot` in the first free slot from `hash`'s.
    fn put(&mut self, hash: u64, slot: u64) {
        let mask = self.slots.len() - 1;
        let mut i = hash as usize & mask;
        while self.slots[i] != 0 {
            i = (i + 1) & mask;
        }
        self.slots[i] = slot;
    }

    /// Moves every position at or past `from` one up (a key was inserted before them).
    pub(crate) fn shift_from(&mut self, from: usize) {
        for slot in &mut self.slots {
            if *slot != 0 && position(*slot) >= from {
                *slot += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_every_key_through_growth_shifts_and_colliding_tags() {
        // Hashes chosen to collide: many share their slot bits, some their tags too.
        let hash_of = |key: u64| (key % 7) << 40 | (key % 3);
        let mut keys: Vec<u64> = Vec::new();
        let mut index = PositionIndex::default();
        for key in (0..200u64).map(|k| k * 7919 % 1000) {
            let pos = keys.partition_point(|&k| k < key);
            keys.insert(pos, key);
            index.shift_from(pos);
            let snapshot = keys.clone();
            index.insert(hash_of(key), pos, |p| hash_of(snapshot[p]));
        }
        for (pos, &key) in keys.iter().enumerate() {
            assert_eq!(index.find(hash_of(key), |p| keys[p] == key), Some(pos));
        }
        assert_eq!(index.find(hash_of(1001), |p| keys[p] == 1001), None);
        assert!(index.slots.len() >= 2 * keys.len());
    }
}
