//! [`PositionIndex`]: the hash index of a [`SortedMap`](crate::sorted_map::SortedMap), from
//! a key's hash to the key's position in the map's vector.
//!
//! Why not hashbrown's `HashTable<usize>`: a hit there reads a group of control bytes, then
//! the slot they point at, which lives in another cache line (slots are stored apart from the
//! control bytes), and only then the entry. On the collector's hot path each of those reads
//! misses the cache and waits for the one before: perf annotate put a quarter of the
//! transaction counter's time on the first two. Here a slot holds the position and the top
//! bits of the hash side by side, in one array probed linearly, so a hit reads one line
//! before the entry (sixteen 4-byte slots share a line, and the table is at most half full).
//!
//! A key keeps its position (maps append and never remove), so there are no tombstones.
//!
//! A map of at most [`SMALL_MAX`] keys (a machine's types, a domain's machines, the names of
//! a type such as `SQL` or `Cache.redis`) has no table: it keeps each key's
//! [`ShortKey`] (its bytes, up to 16 of them, in three words) and a lookup compares those
//! one after the other. Hashing a key and probing a table cost more than that, and a key
//! of up to 16 bytes is found without reading its text, so the shared text's line is not
//! touched either. Past [`SMALL_MAX`] keys the map gets its table.

/// A hash index from key hashes to positions (below `u32::MAX`).
///
/// Slots are 4 bytes while the map holds fewer than [`NARROW_MAX`] keys (nearly every map:
/// caps keep names per type in the hundreds), 8 bytes past that. Half the bytes means
/// sixteen slots to a cache line: a busy analyzer thread holds some hundred thousand names'
/// slots, and at 4 bytes they stay in a core's L2 cache where at 8 they did not.
#[derive(Clone)]
pub(crate) struct PositionIndex {
    slots: Slots,
    len: usize,
}

#[derive(Clone)]
enum Slots {
    /// The keys of a small map, by position.
    Small(Vec<ShortKey>),
    Narrow(Vec<u32>),
    Wide(Vec<u64>),
}

impl Default for PositionIndex {
    fn default() -> Self {
        PositionIndex {
            slots: Slots::Small(Vec::new()),
            len: 0,
        }
    }
}

/// Keys a map holds without a hash table.
const SMALL_MAX: usize = 8;

/// A key as a small map compares it: equal for equal keys, and for keys of at most
/// [`SHORT_KEY_EXACT`] bytes equal only for equal keys. Overlapping windows cover every
/// byte, as in [`ocelot_protocol::short_eq`]: a key of 8-16 bytes is its first and its last
/// eight.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct ShortKey {
    head: u64,
    tail: u64,
    len: usize,
}

/// Longest key whose [`ShortKey`] tells it from every other key.
const SHORT_KEY_EXACT: usize = 16;

impl ShortKey {
    #[inline]
    fn of(key: &[u8]) -> ShortKey {
        let len = key.len();
        let w4 = |at: usize| u64::from(u32::from_le_bytes(key[at..at + 4].try_into().expect("4")));
        let w8 = |at: usize| u64::from_le_bytes(key[at..at + 8].try_into().expect("8"));
        let (head, tail) = match len {
            0 => (0, 0),
            // Positions 0, len / 2 and len - 1 are every position of a key of 1-3 bytes.
            1..=3 => (
                u64::from(key[0]) | u64::from(key[len / 2]) << 8 | u64::from(key[len - 1]) << 16,
                0,
            ),
            4..=7 => (w4(0) | w4(len - 4) << 32, 0),
            _ => (w8(0), w8(len - 8)),
        };
        ShortKey { head, tail, len }
    }
}

/// Keys a map can hold with 4-byte slots: positions plus one must fit 16 bits.
const NARROW_MAX: usize = (1 << 16) - 3;

/// A slot: 0 when free, else the top bits of the key's hash (the tag) above the key's
/// position plus one.
trait Slot: Copy + Default + PartialEq {
    /// Bits below the tag.
    const POSITION_BITS: u32;
    fn raw(self) -> u64;
    fn from_raw(raw: u64) -> Self;

    fn new(hash: u64, pos: usize) -> Self {
        Self::from_raw(Self::tag(hash) | (pos as u64 + 1))
    }

    /// `hash`'s tag, in place.
    fn tag(hash: u64) -> u64 {
        let bits = 8 * std::mem::size_of::<Self>() as u32;
        (hash >> (64 - bits)) & !((1 << Self::POSITION_BITS) - 1)
    }

    fn is_free(self) -> bool {
        self == Self::default()
    }

    fn matches(self, hash: u64) -> bool {
        self.raw() & !((1 << Self::POSITION_BITS) - 1) == Self::tag(hash)
    }

    fn position(self) -> usize {
        ((self.raw() & ((1 << Self::POSITION_BITS) - 1)) - 1) as usize
    }
}

impl Slot for u32 {
    const POSITION_BITS: u32 = 16;
    fn raw(self) -> u64 {
        u64::from(self)
    }
    fn from_raw(raw: u64) -> Self {
        raw as u32
    }
}

impl Slot for u64 {
    const POSITION_BITS: u32 = 32;
    fn raw(self) -> u64 {
        self
    }
    fn from_raw(raw: u64) -> Self {
        raw
    }
}

impl PositionIndex {
    /// The position of `key`, whose hash is `hash()`, for which `eq(position)` holds. A
    /// small map needs neither the hash nor, for a key of up to 16 bytes, `eq`.
    #[inline]
    pub(crate) fn find(
        &self,
        key: &[u8],
        hash: impl FnOnce() -> u64,
        mut eq: impl FnMut(usize) -> bool,
    ) -> Option<usize> {
        match &self.slots {
            Slots::Small(keys) => {
                let short = ShortKey::of(key);
                let exact = short.len <= SHORT_KEY_EXACT;
                (0..keys.len()).find(|&p| keys[p] == short && (exact || eq(p)))
            }
            Slots::Narrow(slots) => find(slots, hash(), eq),
            Slots::Wide(slots) => find(slots, hash(), eq),
        }
    }

    /// Adds `key`, whose hash is `hash()`, at `pos` (the number of keys held before: maps
    /// append); `rehash(position)` gives the hash of the key at any position already held
    /// (making or growing the table needs them). A small map needs no hash.
    pub(crate) fn insert(
        &mut self,
        key: &[u8],
        hash: impl FnOnce() -> u64,
        pos: usize,
        rehash: impl Fn(usize) -> u64,
    ) {
        self.len += 1;
        if let Slots::Small(keys) = &mut self.slots {
            debug_assert_eq!(pos, keys.len(), "maps append");
            if self.len <= SMALL_MAX {
                // Grown by one: most small maps hold one or two keys for good.
                crate::frugal_vec::insert_frugal(keys, pos, ShortKey::of(key));
                return;
            }
            self.slots = Slots::Narrow(table(self.len, 0..keys.len(), &rehash));
        }
        if let Slots::Narrow(narrow) = &self.slots {
            if self.len > NARROW_MAX {
                let held = narrow.iter().filter(|s| !s.is_free()).map(|s| s.position());
                self.slots = Slots::Wide(table(self.len, held, &rehash));
            }
        }
        match &mut self.slots {
            Slots::Small(_) => unreachable!("a map past SMALL_MAX keys has its table"),
            Slots::Narrow(slots) => insert(slots, self.len, hash(), pos, &rehash),
            Slots::Wide(slots) => {
                // Caps keep every map far below 4 billion keys.
                assert!(pos < u32::MAX as usize, "position below u32::MAX");
                insert(slots, self.len, hash(), pos, &rehash);
            }
        }
    }
}

#[inline]
fn find<S: Slot>(slots: &[S], hash: u64, mut eq: impl FnMut(usize) -> bool) -> Option<usize> {
    if slots.is_empty() {
        return None;
    }
    let mask = slots.len() - 1;
    let mut i = hash as usize & mask;
    loop {
        let slot = slots[i];
        if slot.is_free() {
            return None;
        }
        if slot.matches(hash) && eq(slot.position()) {
            return Some(slot.position());
        }
        i = (i + 1) & mask;
    }
}

/// Stores the key with `hash` at `pos`, the table growing first so that it stays at most
/// half full with `len` keys.
fn insert<S: Slot>(
    slots: &mut Vec<S>,
    len: usize,
    hash: u64,
    pos: usize,
    rehash: impl Fn(usize) -> u64,
) {
    if len * 2 > slots.len() {
        let size = (slots.len() * 2).max(8);
        let old = std::mem::replace(slots, vec![S::default(); size]);
        for slot in old.into_iter().filter(|s| !s.is_free()) {
            put(slots, rehash(slot.position()), slot);
        }
    }
    put(slots, hash, S::new(hash, pos));
}

/// A table sized for `len` keys, holding the keys at `positions`.
fn table<S: Slot>(
    len: usize,
    positions: impl Iterator<Item = usize>,
    rehash: impl Fn(usize) -> u64,
) -> Vec<S> {
    let mut slots = vec![S::default(); (2 * len).next_power_of_two()];
    for position in positions {
        let hash = rehash(position);
        put(&mut slots, hash, S::new(hash, position));
    }
    slots
}

/// Stores `slot` in the first free slot from `hash`'s.
fn put<S: Slot>(slots: &mut [S], hash: u64, slot: S) {
    let mask = slots.len() - 1;
    let mut i = hash as usize & mask;
    while !slots[i].is_free() {
        i = (i + 1) & mask;
    }
    slots[i] = slot;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(key: u64) -> [u8; 8] {
        key.to_le_bytes()
    }

    #[test]
    fn finds_every_key_through_growth_and_colliding_tags() {
        // Hashes chosen to collide: many share their slot bits, some their tags too.
        let hash_of = |key: u64| (key % 7) << 40 | (key % 3);
        let mut keys: Vec<u64> = Vec::new();
        let mut index = PositionIndex::default();
        for key in (0..200u64).map(|k| k * 7919 % 1000) {
            let pos = keys.len();
            keys.push(key);
            let snapshot = keys.clone();
            index.insert(&bytes(key), || hash_of(key), pos, |p| hash_of(snapshot[p]));
            for (pos, &key) in keys.iter().enumerate() {
                let found = index.find(&bytes(key), || hash_of(key), |p| keys[p] == key);
                assert_eq!(found, Some(pos), "{} keys", keys.len());
            }
        }
        let absent = index.find(&bytes(1001), || hash_of(1001), |p| keys[p] == 1001);
        assert_eq!(absent, None);
        match &index.slots {
            Slots::Narrow(slots) => assert!(slots.len() >= 2 * keys.len()),
            _ => panic!("200 keys take narrow slots"),
        }
    }

    #[test]
    fn a_small_map_tells_every_key_apart_without_hashing() {
        // Keys alike in their windows: equal first and last eight bytes (longer than 16),
        // a trailing NUL, every short length.
        let keys: Vec<&[u8]> = vec![
            b"",
            b"a",
            b"a\0",
            b"abcdefgh-1-12345678",
            b"abcdefgh-2-12345678",
            b"abcdefgh12345678",
            b"abcdefg",
            b"10.0.0.1",
        ];
        assert_eq!(keys.len(), SMALL_MAX);
        let mut index = PositionIndex::default();
        let mut compared = std::cell::Cell::new(0);
        for (pos, key) in keys.iter().enumerate() {
            index.insert(key, || panic!("a small map needs no hash"), pos, |_| 0);
        }
        assert!(matches!(index.slots, Slots::Small(_)));
        let hash = || -> u64 { panic!("a small map needs no hash") };
        for (pos, key) in keys.iter().enumerate() {
            let eq = |p: usize| {
                compared.set(compared.get() + 1);
                keys[p] == *key
            };
            assert_eq!(index.find(key, hash, eq), Some(pos), "{key:?}");
        }
        // Only the two long keys alike in their windows needed their text: the first once
        // for itself, the second once for the first and once for itself.
        assert_eq!(*compared.get_mut(), 3);
        for absent in [&b"b"[..], b"a\0\0", b"abcdefgh-3-12345678", b"10.0.0.2"] {
            assert_eq!(index.find(absent, hash, |p| keys[p] == absent), None);
        }
    }

    #[test]
    fn a_map_past_the_small_keys_takes_a_table_and_finds_every_key() {
        let hash_of = |key: u64| key.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let mut index = PositionIndex::default();
        for key in 0..=SMALL_MAX as u64 {
            index.insert(
                &bytes(key),
                || hash_of(key),
                key as usize,
                |p| hash_of(p as u64),
            );
        }
        assert!(matches!(index.slots, Slots::Narrow(_)));
        for key in 0..=SMALL_MAX as u64 {
            let found = index.find(&bytes(key), || hash_of(key), |p| p as u64 == key);
            assert_eq!(found, Some(key as usize));
        }
        let n = SMALL_MAX as u64 + 1;
        assert_eq!(
            index.find(&bytes(n), || hash_of(n), |p| p as u64 == n),
            None
        );
    }

    #[test]
    fn a_map_past_the_narrow_slots_widens_them_and_finds_every_key() {
        let hash_of = |key: u64| key.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let mut index = PositionIndex::default();
        let n = NARROW_MAX as u64 + 10;
        for key in 0..n {
            index.insert(
                &bytes(key),
                || hash_of(key),
                key as usize,
                |p| hash_of(p as u64),
            );
            if key as usize + 1 == NARROW_MAX {
                assert!(matches!(index.slots, Slots::Narrow(_)));
            }
        }
        assert!(matches!(index.slots, Slots::Wide(_)));
        for key in (0..n).step_by(97).chain([n - 1]) {
            let found = index.find(&bytes(key), || hash_of(key), |p| p as u64 == key);
            assert_eq!(found, Some(key as usize));
        }
        assert_eq!(
            index.find(&bytes(n), || hash_of(n), |p| p as u64 == n),
            None
        );
    }
}
