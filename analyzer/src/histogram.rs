//! [`DurationHistogram`]: a sparse, mergeable log-bucket histogram for percentiles.
//!
//! Design constraints: every transaction name of every machine keeps durations per minute
//! ([`MinuteHistograms`]; the hour's histogram is their sum), so 20k names x 60 minutes must
//! fit in a few hundred MiB;
//! merging machines, hours and days must give the histogram of the union *exactly*, so the
//! merged p95 is the p95 of all samples (CAT averages per-machine p95s, which is wrong).
//!
//! Why not hdrhistogram: with 2 significant digits over 1 us..1 h it allocates about 3 200
//! dense counters (25 KiB) per histogram, whatever the traffic: 1.2 M minute histograms
//! would need 30 GiB. Why not a DDSketch crate: the one on crates.io stores dense `Vec<f64>`
//! stores and serializes as floats. This is the DDSketch idea in 80 lines: bucket `i` holds
//! the values in `(gamma^(i-2), gamma^(i-1)]` (bucket 0 holds 0), and reports the value with
//! at most [`RELATIVE_ACCURACY`] relative error. Only touched buckets are stored, as sorted
//! `(index, count)` pairs, so a name seen at a steady 5 ms costs a handful of pairs, and
//! two histograms merge by adding counts per index, which is exact.

use std::sync::LazyLock;

use crate::frugal_vec::insert_frugal;
use serde::{Deserialize, Serialize};

/// The largest relative error of a reported value (0.95 %, inside the required 1 % with
/// room for floating-point rounding at bucket edges).
pub const RELATIVE_ACCURACY: f64 = 0.0095;

/// `(1 + a) / (1 - a)`: consecutive bucket bounds differ by this factor.
const GAMMA: f64 = (1.0 + RELATIVE_ACCURACY) / (1.0 - RELATIVE_ACCURACY);

/// `GAMMA.ln()`, precomputed because `ln` is not `const` (checked by a unit test).
const LN_GAMMA: f64 = 0.019_000_571_614_286_515;

/// A sparse histogram of non-negative integer values (microseconds here).
///
/// `quantile(q)` returns the value of rank `ceil(q * count)` in sorted order, within
/// [`RELATIVE_ACCURACY`]. Merging is exact: `a.merge(&b)` equals the histogram of the
/// concatenated samples.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DurationHistogram {
    /// `(bucket index, count)`, sorted by index, counts never zero.
    buckets: Vec<(u16, u64)>,
}

/// The bucket of `value`: `ceil(ln(value) / LN_GAMMA) + 1` ([`index_by_formula`]), found in
/// [`BucketTable`] because `ln` and `ceil` (a libm call on baseline x86-64) cost more than
/// everything else about recording a transaction's duration.
fn index_of(value: u64) -> u16 {
    if value == 0 {
        return 0;
    }
    let table = &*BUCKET_TABLE;
    let (first, last) = table.indices_by_log2[value.ilog2() as usize];
    let later = &table.smallest_values[usize::from(first) + 1..=usize::from(last)];
    // At most 38 candidates (a doubling spans ln 2 / LN_GAMMA = 36.5 buckets): 6 compares.
    first + later.partition_point(|&smallest| smallest <= value) as u16
}

/// The defining formula of [`index_of`].
fn index_by_formula(value: u64) -> u16 {
    if value == 0 {
        return 0;
    }
    // ln(u64::MAX) / LN_GAMMA < 2400, so the cast never truncates.
    ((value as f64).ln() / LN_GAMMA).ceil() as u16 + 1
}

/// [`index_by_formula`] as a table: the smallest value of every bucket, and the buckets a
/// value with a given `ilog2` can fall in. Built once per process (about 75 000 `ln` calls,
/// a few milliseconds) from the formula itself, so the buckets of checkpoints written before
/// the table existed stay the same.
struct BucketTable {
    /// `smallest_values[i]`: the smallest value whose bucket is `i` or more.
    smallest_values: Vec<u64>,
    /// `[k]`: the buckets of `2^k` and of `2^(k+1) - 1`.
    indices_by_log2: [(u16, u16); 64],
}

static BUCKET_TABLE: LazyLock<BucketTable> = LazyLock::new(|| {
    let last = index_by_formula(u64::MAX);
    let mut smallest_values = vec![0, 1];
    for index in 2..=last {
        // Binary search for the smallest value in bucket `index` or above: the buckets are
        // monotone in the value, the previous bucket's smallest value bounds it below, and
        // twice that (plus 2) lies 36 buckets further on, so it bounds it above.
        let mut low: u64 = *smallest_values.last().expect("starts with 0, 1");
        let mut high = low.saturating_mul(2).saturating_add(2);
        while low < high {
            let mid = low + (high - low) / 2;
            if index_by_formula(mid) >= index {
                high = mid;
            } else {
                low = mid + 1;
            }
        }
        smallest_values.push(low);
    }
    let indices_by_log2 = std::array::from_fn(|k| {
        let start = 1u64 << k;
        (index_by_formula(start), index_by_formula(start - 1 + start))
    });
    BucketTable {
        smallest_values,
        indices_by_log2,
    }
});

fn value_of(index: u16) -> f64 {
    if index == 0 {
        return 0.0;
    }
    // The midpoint (in relative terms) of (gamma^(i-1), gamma^i].
    2.0 * GAMMA.powi(i32::from(index) - 1) / (GAMMA + 1.0)
}

impl DurationHistogram {
    /// An empty histogram.
    pub fn new() -> Self {
        DurationHistogram::default()
    }

    /// Records `value` once.
    pub fn record(&mut self, value: u64) {
        self.record_n(value, 1);
    }

    /// Records `value` `n` times (client-side batch data carries counts per duration).
    pub fn record_n(&mut self, value: u64, n: u64) {
        if n == 0 {
            return;
        }
        self.add_to_bucket(index_of(value), n);
    }

    fn add_to_bucket(&mut self, index: u16, n: u64) {
        // Steady traffic hits the same few buckets, so most calls end in the first arm.
        match self.buckets.binary_search_by_key(&index, |&(i, _)| i) {
            Ok(pos) => self.buckets[pos].1 = self.buckets[pos].1.saturating_add(n),
            Err(pos) => insert_frugal(&mut self.buckets, pos, (index, n)),
        }
    }

    /// Adds every count of `other` to this histogram.
    pub fn merge(&mut self, other: &DurationHistogram) {
        if self.buckets.is_empty() {
            self.buckets.clone_from(&other.buckets);
            return;
        }
        let mut merged = Vec::with_capacity(self.buckets.len().max(other.buckets.len()));
        let (mut a, mut b) = (
            self.buckets.iter().peekable(),
            other.buckets.iter().peekable(),
        );
        loop {
            let next = match (a.peek(), b.peek()) {
                (Some(&&(ia, ca)), Some(&&(ib, cb))) => {
                    if ia == ib {
                        a.next();
                        b.next();
                        (ia, ca.saturating_add(cb))
                    } else if ia < ib {
                        a.next();
                        (ia, ca)
                    } else {
                        b.next();
                        (ib, cb)
                    }
                }
                (Some(&&x), None) => {
                    a.next();
                    x
                }
                (None, Some(&&x)) => {
                    b.next();
                    x
                }
                (None, None) => break,
            };
            merged.push(next);
        }
        self.buckets = merged;
    }

    /// How many values were recorded.
    pub fn count(&self) -> u64 {
        self.buckets
            .iter()
            .fold(0u64, |n, &(_, c)| n.saturating_add(c))
    }

    /// How many buckets are stored (the memory cost is 16 bytes per bucket).
    pub fn bucket_count(&self) -> usize {
        self.buckets.len()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }

    /// The value of rank `ceil(q * count)` (at least 1), `q` in `0..=1`, within
    /// [`RELATIVE_ACCURACY`]; `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).clamp(1, total);
        let mut seen = 0u64;
        for &(index, count) in &self.buckets {
            seen = seen.saturating_add(count);
            if seen >= rank {
                return Some(value_of(index));
            }
        }
        self.buckets.last().map(|&(index, _)| value_of(index))
    }

    /// How many values lie at or below each of `bounds` (ascending) and above the bound
    /// before it, then how many lie above the last bound: `bounds.len() + 1` counts that add
    /// up to [`DurationHistogram::count`].
    ///
    /// A bucket counts whole under the first bound at or above its own values, its bucket
    /// index being what decides: the bucket that holds a bound's value counts under that
    /// bound, with the values a little above the bound that share it. So no value at or
    /// below a bound counts above it, exactly, and a value counts under a bound it exceeds
    /// only when it shares the bound's bucket: less than one bucket's width (`GAMMA - 1`,
    /// 1.92 %) above it. The other choice, a bucket by its reported value, would count a
    /// value of exactly the bound above it whenever the bucket's midpoint lies above the
    /// bound, and values of exactly a bound are common: batch data and millisecond clocks
    /// report whole milliseconds.
    pub fn counts_up_to(&self, bounds: &[u64]) -> Vec<u64> {
        let bound_indices: Vec<u16> = bounds.iter().map(|&bound| index_of(bound)).collect();
        let mut counts = vec![0u64; bounds.len() + 1];
        for &(index, count) in &self.buckets {
            // The first bound whose bucket is this one or a later one; past every bound,
            // the last count.
            let slot = bound_indices.partition_point(|&bound| bound < index);
            counts[slot] = counts[slot].saturating_add(count);
        }
        counts
    }
}

/// The per-minute histograms of one name, in one sorted list of `(minute, bucket index,
/// count)` packed into 4 bytes each, with no allocation per minute.
///
/// A name seen a few times a minute would otherwise pay a `Vec` header, an allocation and
/// its slack for every minute; in one list a minute with one sample costs 4 bytes. Over an
/// hour these entries are the largest part of a report (a busy name keeps a few dozen per
/// minute and machine), hence the packing: the minute in the top [`MINUTE_BITS`] bits, the
/// bucket index in the next [`INDEX_BITS`] (every index of a `u64` fits), and
/// [`COUNT_BITS`] bits of count below. A count of 2^14 or more takes a run of entries with
/// the same key, each holding the next 14 bits (lowest first; at most 5 for a `u64`), so
/// counts are exact and the layout is a function of the counts alone. Same buckets and
/// accuracy as [`DurationHistogram`].
///
/// The list is where a name's entry points, so recording a value into it costs a cache
/// miss of its own in a busy hour (the list's end is seldom in cache when the name comes
/// round again). So single values wait in the struct, in the entry's own cache line:
/// up to [`PENDING_MAX`] keys packed in one `u64`, added to the list together when one
/// more comes. Every reader sees list and pending values as one histogram.
///
/// A busy name (a database call every few milliseconds on every machine) is the opposite
/// case: its newest minute holds a hundred keys or more, and finding a value's place among
/// them read several of the list's lines for every four values. Once a bucket of the
/// newest minute has counted [`DENSE_TRIGGER`] values, that minute is counted densely
/// instead: one `u32` per bucket over the range the minute has seen (plus a margin, at most
/// [`DENSE_MAX_SPAN`] buckets) at the end of `entries`, described in `pending` ([`Dense`]),
/// where values still wait three at a time; four values then cost a few increments. A value
/// outside the range goes into the sorted list as before; the first value of a later
/// minute turns the dense counts back into entries. Only the newest minute of a name is
/// ever dense, so the cost is at most 2 KiB per busy name while it stays busy.
#[derive(Debug, Clone, Default)]
#[repr(C)] // `pending` first: see `TransactionName`
pub(crate) struct MinuteHistograms {
    /// Values recorded once each and not yet in `entries`: how many in the low
    /// [`PENDING_LEN_BITS`] bits, then their keys, [`KEY_BITS`] bits each, in arrival order.
    /// While the newest minute is dense, [`DENSE`] is set, the bits above the waiting
    /// values describe the dense counts ([`Dense`]) and the waiting values are offsets into
    /// them, [`OFFSET_BITS`] bits each.
    pending: u64,
    /// Packed entries, sorted by `(minute, index)`; one run per key, as short as its count
    /// allows; counts never zero. Followed, when the newest minute is dense, by its counts
    /// (`Dense::span` of them, one per bucket from `Dense::low`, zeros included).
    entries: Vec<u32>,
}

/// `pending`'s flag for a dense newest minute (the waiting keys never reach this bit).
const DENSE: u64 = 1 << 63;
/// Bits of a waiting value's offset into the dense counts.
const OFFSET_BITS: u32 = 10;
/// Where [`Dense`] sits in `pending`: the span's bits and up.
const DENSE_SPAN_SHIFT: u32 = 35;
const DENSE_HEADER: u64 = !((1 << DENSE_SPAN_SHIFT) - 1);
const _: () = assert!(PENDING_LEN_BITS + KEY_BITS * PENDING_MAX as u32 <= 63);
const _: () = assert!(PENDING_LEN_BITS + OFFSET_BITS * PENDING_MAX as u32 <= DENSE_SPAN_SHIFT);
const _: () = assert!(DENSE_MAX_SPAN <= 1 << OFFSET_BITS);
/// A bucket of the newest minute that reaches this count makes the minute dense.
const DENSE_TRIGGER: u32 = 16;
/// Buckets added below and above the range a minute has seen when it turns dense.
const DENSE_MARGIN: u16 = 8;
/// The share of a minute's values (in sixteenths) the dense range is chosen to hold.
const DENSE_SHARE: u64 = 15;
/// Most buckets a dense minute counts (a range of durations of about 1 : 16 000).
const DENSE_MAX_SPAN: usize = 512;

/// Where a dense minute's counts are, kept in `pending` beside the waiting values (so a
/// value reads nothing else to find its count): the span in bits 35-44, the lowest bucket
/// in 45-56, the minute in 57-62, and [`DENSE`].
#[derive(Debug, Clone, Copy, PartialEq)]
struct Dense {
    minute: u8,
    low: u16,
    span: usize,
}

impl Dense {
    fn of(pending: u64) -> Option<Dense> {
        (pending & DENSE != 0).then_some(Dense {
            minute: (pending >> 57 & 0x3f) as u8,
            low: (pending >> 45 & 0xfff) as u16,
            span: (pending >> DENSE_SPAN_SHIFT & 0x3ff) as usize,
        })
    }

    /// `pending` with no value waiting.
    fn header(self) -> u64 {
        DENSE
            | u64::from(self.minute) << 57
            | u64::from(self.low) << 45
            | (self.span as u64) << DENSE_SPAN_SHIFT
    }

    /// The key of the count at `offset`.
    fn key(self, offset: usize) -> u32 {
        key_of(self.minute, self.low + offset as u16)
    }
}

const COUNT_BITS: u32 = 14;
const INDEX_BITS: u32 = 12;
const MINUTE_BITS: u32 = 32 - COUNT_BITS - INDEX_BITS;
const COUNT_MASK: u32 = (1 << COUNT_BITS) - 1;
/// Bits of a `(minute, index)` key.
const KEY_BITS: u32 = MINUTE_BITS + INDEX_BITS;
const PENDING_LEN_BITS: u32 = 2;
/// Keys [`MinuteHistograms::pending`] holds: as many as fit beside the length.
const PENDING_MAX: u64 = ((64 - PENDING_LEN_BITS) / KEY_BITS) as u64;
const _: () = assert!(PENDING_MAX < 1 << PENDING_LEN_BITS);

/// `(minute, index)` as one sortable integer. Minutes are `0..60` (cut to 6 bits); bucket
/// indices stay under 2 400 for any `u64` (checked by a test).
fn key_of(minute: u8, index: u16) -> u32 {
    let minute = u32::from(minute).min((1 << MINUTE_BITS) - 1);
    minute << INDEX_BITS | u32::from(index)
}

fn entry_key(entry: u32) -> u32 {
    entry >> COUNT_BITS
}

fn key_minute(key: u32) -> u8 {
    (key >> INDEX_BITS) as u8
}

fn key_index(key: u32) -> u16 {
    (key & ((1 << INDEX_BITS) - 1)) as u16
}

/// The count a run of entries holds.
fn run_count(run: &[u32]) -> u64 {
    run.iter().enumerate().fold(0u64, |count, (i, &e)| {
        let chunk = u64::from(e & COUNT_MASK);
        count | chunk.checked_shl(COUNT_BITS * i as u32).unwrap_or(0)
    })
}

/// `(key, count)` of every run of listed `entries`, in order.
fn runs_of(entries: &[u32]) -> impl Iterator<Item = (u32, u64)> + '_ {
    entries
        .chunk_by(|a, b| entry_key(*a) == entry_key(*b))
        .map(|run| (entry_key(run[0]), run_count(run)))
}

/// Where `minute`'s entries begin in listed `entries`.
fn minute_start(entries: &[u32], minute: u8) -> usize {
    entries.partition_point(|&e| key_minute(entry_key(e)) < minute)
}

/// The entries of a run holding `count` (at least one).
fn encode_run(key: u32, count: u64) -> impl Iterator<Item = u32> {
    let chunks = (64 - count.leading_zeros()).div_ceil(COUNT_BITS).max(1);
    (0..chunks).map(move |i| key << COUNT_BITS | ((count >> (COUNT_BITS * i)) as u32 & COUNT_MASK))
}

impl MinuteHistograms {
    /// Records `value` `n` times in `minute`.
    pub(crate) fn record_n(&mut self, minute: u8, value: u64, n: u64) {
        if n == 0 {
            return;
        }
        let key = key_of(minute, index_of(value));
        let minute = key_minute(key);
        if let Some(dense) = Dense::of(self.pending) {
            if minute < dense.minute {
                // A late tree.
                self.add(key, n);
                return;
            }
            if minute == dense.minute {
                let offset = usize::from(key_index(key).wrapping_sub(dense.low));
                if n == 1 && offset < dense.span && self.wait(offset as u64, OFFSET_BITS) {
                    return;
                }
                for key in self.take_pending() {
                    self.add_dense(dense, key, 1);
                }
                self.add_dense(dense, key, n);
                return;
            }
            self.end_dense();
        }
        let mut busy = None;
        if n == 1 {
            if self.wait(u64::from(key), KEY_BITS) {
                return;
            }
            // Full: the waiting values go into the list with this one, whose end they
            // then share (one miss for four values).
            for key in self.take_pending() {
                busy = busy.or(self.add(key, 1));
            }
        }
        busy = busy.or(self.add(key, n));
        if let Some(minute) = busy {
            self.begin_dense(minute);
        }
    }

    /// Puts a value with the waiting ones if there is room: `packed` is its key
    /// ([`KEY_BITS`] wide) or, while a minute is dense, its offset ([`OFFSET_BITS`]).
    fn wait(&mut self, packed: u64, width: u32) -> bool {
        let held = self.pending & ((1 << PENDING_LEN_BITS) - 1);
        if held < PENDING_MAX {
            let shift = PENDING_LEN_BITS + width * held as u32;
            self.pending = (self.pending | packed << shift) + 1;
            return true;
        }
        false
    }

    /// Where the dense minute's counts are, if there is one.
    fn dense(&self) -> Option<Dense> {
        Dense::of(self.pending)
    }

    /// Adds `n` values of `key`, a key of the dense minute, to its count, or to the list
    /// when it is outside the range or the count would pass 32 bits.
    fn add_dense(&mut self, dense: Dense, key: u32, n: u64) {
        let offset = usize::from(key_index(key).wrapping_sub(dense.low));
        if offset < dense.span {
            let at = self.entries.len() - dense.span + offset;
            let sum = u64::from(self.entries[at]).checked_add(n);
            if let Some(sum) = sum.and_then(|sum| u32::try_from(sum).ok()) {
                self.entries[at] = sum;
                return;
            }
        }
        self.add(key, n);
    }

    /// Turns `minute`, whose bucket just reached [`DENSE_TRIGGER`], into dense counts if it
    /// is the newest minute: the narrowest range of buckets that holds [`DENSE_SHARE`] of
    /// its values so far, plus [`DENSE_MARGIN`] each side, if that fits
    /// [`DENSE_MAX_SPAN`]. The rare slow calls outside it stay listed (a tail of a few
    /// values a minute would otherwise widen every busy name's counts several times).
    fn begin_dense(&mut self, minute: u8) {
        for key in self.take_pending() {
            self.add(key, 1);
        }
        let entries = &self.entries;
        if entries
            .last()
            .is_none_or(|&e| key_minute(entry_key(e)) != minute)
        {
            return;
        }
        let start = minute_start(entries, minute);
        let runs: Vec<(u32, u64)> = runs_of(&entries[start..]).collect();
        let (first, last) = narrowest_share(&runs);
        let low = key_index(runs[first].0).saturating_sub(DENSE_MARGIN);
        let high = (key_index(runs[last].0) + DENSE_MARGIN).min((1 << INDEX_BITS) - 1);
        let span = usize::from(high - low) + 1;
        let inside = |key: u32| (low..=high).contains(&key_index(key));
        let too_big = |&(key, count): &(u32, u64)| inside(key) && count > u64::from(u32::MAX);
        if span > DENSE_MAX_SPAN || runs.iter().any(too_big) {
            return;
        }
        let dense = Dense { minute, low, span };
        self.entries.truncate(start);
        for &(key, count) in runs.iter().filter(|&&(key, _)| !inside(key)) {
            self.entries.extend(encode_run(key, count));
        }
        let base = self.entries.len();
        self.entries.reserve_exact(span);
        self.entries.resize(base + span, 0);
        for (key, count) in runs.into_iter().filter(|&(key, _)| inside(key)) {
            let offset = usize::from(key_index(key) - low);
            self.entries[base + offset] = count as u32;
        }
        self.pending = dense.header();
    }

    /// Turns the dense counts, and the values waiting for them, back into entries (a later
    /// minute has begun).
    fn end_dense(&mut self) {
        let Some(dense) = self.dense() else {
            return;
        };
        for key in self.take_pending() {
            self.add_dense(dense, key, 1);
        }
        let base = self.entries.len() - dense.span;
        let counted: Vec<(u32, u64)> = self.dense_counts().collect();
        self.entries.truncate(base);
        self.pending = 0;
        // Values of the dense minute outside its range were listed; they end the list.
        let start = minute_start(&self.entries, dense.minute);
        let listed: Vec<(u32, u64)> = runs_of(&self.entries[start..]).collect();
        self.entries.truncate(start);
        for (key, count) in merge_sorted(listed.into_iter(), counted.into_iter()) {
            self.entries.extend(encode_run(key, count));
        }
        self.entries.shrink_to_fit();
    }

    /// The listed entries: all of `entries` but a dense minute's counts.
    fn listed(&self) -> &[u32] {
        let dense = self.dense().map_or(0, |d| d.span);
        &self.entries[..self.entries.len() - dense]
    }

    /// `(key, count)` of the dense minute's buckets with a count, in order.
    fn dense_counts(&self) -> impl Iterator<Item = (u32, u64)> + '_ {
        let dense = self.dense();
        let counts = dense.map_or(&[][..], |d| &self.entries[self.entries.len() - d.span..]);
        counts
            .iter()
            .enumerate()
            .filter(|&(_, &count)| count != 0)
            .map(move |(offset, &count)| {
                let dense = dense.expect("counts only when dense");
                (dense.key(offset), u64::from(count))
            })
    }

    /// The keys waiting in `pending`, which is left with none (and its dense minute).
    fn take_pending(&mut self) -> impl Iterator<Item = u32> {
        let waiting = self.pending;
        self.pending &= if waiting & DENSE != 0 {
            DENSE_HEADER
        } else {
            0
        };
        pending_keys(waiting)
    }

    /// The waiting keys, sorted, each with how many times it waits.
    fn pending_counts(&self) -> impl Iterator<Item = (u32, u64)> {
        let mut keys = [u32::MAX; PENDING_MAX as usize];
        for (slot, key) in keys.iter_mut().zip(pending_keys(self.pending)) {
            *slot = key;
        }
        keys.sort_unstable();
        let mut counts = [(u32::MAX, 0u64); PENDING_MAX as usize];
        let mut len = 0;
        for key in keys.into_iter().take_while(|&k| k != u32::MAX) {
            if len > 0 && counts[len - 1].0 == key {
                counts[len - 1].1 += 1;
            } else {
                counts[len] = (key, 1);
                len += 1;
            }
        }
        counts.into_iter().take(len)
    }

    /// Adds `n` values of `key` to the list. Returns the key's minute when this made one
    /// of its buckets reach [`DENSE_TRIGGER`] (and no minute is dense yet).
    fn add(&mut self, key: u32, n: u64) -> Option<u8> {
        // Live traffic records into the newest minute, whose entries end the list. Search
        // a window at the end that doubles until its first entry lies below `key`: only the
        // last few cache lines are read, where a search of the whole list (thousands of
        // entries for a busy name late in the hour) would miss the cache at every step.
        let listed = self.listed();
        let len = listed.len();
        let mut back = 1;
        let start = loop {
            if back >= len {
                break 0;
            }
            if entry_key(listed[len - back]) < key {
                break len - back + 1;
            }
            back *= 2;
        };
        match listed[start..].binary_search_by_key(&key, |&e| entry_key(e)) {
            Ok(pos) => self.add_to_run(start + pos, key, n),
            Err(pos) => {
                let pos = start + pos;
                for (i, entry) in encode_run(key, n).enumerate() {
                    insert_frugal(&mut self.entries, pos + i, entry);
                }
                None
            }
        }
    }

    /// Adds `n` to the run of `key`, which holds the listed entry at `pos`; returns the
    /// key's minute when its count reached [`DENSE_TRIGGER`] in one entry (see `add`).
    fn add_to_run(&mut self, pos: usize, key: u32, n: u64) -> Option<u8> {
        let same = |e: &u32| entry_key(*e) == key;
        let listed = self.listed();
        let alone =
            !listed[..pos].last().is_some_and(same) && !listed.get(pos + 1).is_some_and(same);
        let field = listed[pos] & COUNT_MASK;
        if alone && u64::from(field) + n.min(u64::from(COUNT_MASK)) < u64::from(COUNT_MASK) {
            // The common case: a count that still fits its one entry.
            self.entries[pos] += n as u32;
            let reached = field < DENSE_TRIGGER && field + n as u32 >= DENSE_TRIGGER;
            return (reached && self.pending & DENSE == 0).then(|| key_minute(key));
        }
        let first = pos - listed[..pos].iter().rev().take_while(|e| same(e)).count();
        let end = pos + 1 + listed[pos + 1..].iter().take_while(|e| same(e)).count();
        let count = run_count(&listed[first..end]).saturating_add(n);
        self.entries.splice(first..end, encode_run(key, count));
        None
    }

    /// `(key, count)` of every key in the list, in order.
    fn runs(&self) -> impl Iterator<Item = (u32, u64)> + '_ {
        merge_sorted(runs_of(self.listed()), self.dense_counts())
    }

    /// `(minute, index, count)` of every key, list and pending values together, in order.
    fn iter(&self) -> impl Iterator<Item = (u8, u16, u64)> + '_ {
        merge_sorted(self.runs(), self.pending_counts())
            .map(|(key, count)| (key_minute(key), key_index(key), count))
    }

    /// Appends the run of `(minute, index)`, a key above every key held.
    fn push(&mut self, minute: u8, index: u16, count: u64) {
        if count > 0 {
            let key = key_of(minute, index);
            self.entries.extend(encode_run(key, count));
        }
    }

    /// Adds every count of `other`.
    pub(crate) fn merge(&mut self, other: &MinuteHistograms) {
        if self.entries.is_empty() && self.pending == 0 {
            self.clone_from(other);
            return;
        }
        let ours = self.plain_entries();
        let theirs = other.plain_entries();
        let mut merged = Vec::with_capacity(ours.len() + theirs.len());
        merge_entries(&ours, &theirs, &mut merged);
        *self = MinuteHistograms {
            pending: 0,
            entries: merged,
        };
    }

    /// Every count as listed entries: the list itself when no value waits and no minute is
    /// dense (a merge's result always, so merging many is mostly this), else a copy with
    /// the waiting values and dense counts listed.
    fn plain_entries(&self) -> std::borrow::Cow<'_, [u32]> {
        if self.pending == 0 {
            return std::borrow::Cow::Borrowed(&self.entries);
        }
        let mut entries = Vec::with_capacity(self.entries.len() + PENDING_MAX as usize);
        for (key, count) in merge_sorted(self.runs(), self.pending_counts()) {
            entries.extend(encode_run(key, count));
        }
        std::borrow::Cow::Owned(entries)
    }

    /// All minutes together: the hour's histogram of the name.
    pub(crate) fn to_histogram(&self) -> DurationHistogram {
        let mut buckets: Vec<(u16, u64)> = self.iter().map(|(_, i, c)| (i, c)).collect();
        buckets.sort_unstable_by_key(|&(index, _)| index);
        let mut merged: Vec<(u16, u64)> = Vec::with_capacity(buckets.len());
        for (index, count) in buckets {
            match merged.last_mut() {
                Some(last) if last.0 == index => last.1 = last.1.saturating_add(count),
                _ => merged.push((index, count)),
            }
        }
        DurationHistogram { buckets: merged }
    }

    /// All minutes of all of `histograms` together: what a type's histogram needs of the
    /// names a view leaves out, without building a histogram per name. Counts go into one
    /// slot per bucket index (a few thousand at most: durations are `u64` microseconds).
    pub(crate) fn union<'a>(
        histograms: impl Iterator<Item = &'a MinuteHistograms>,
    ) -> DurationHistogram {
        let mut counts: Vec<u64> = Vec::new();
        for (_, index, count) in histograms.flat_map(MinuteHistograms::iter) {
            let index = usize::from(index);
            if index >= counts.len() {
                counts.resize(index + 1, 0);
            }
            counts[index] = counts[index].saturating_add(count);
        }
        let buckets = (0..=u16::MAX)
            .zip(counts)
            .filter(|&(_, count)| count > 0)
            .collect();
        DurationHistogram { buckets }
    }

    /// Every count of every minute moved to `minute`: the whole span as one histogram, in
    /// the form a report keeps (what a day of reports keeps of each hour).
    pub(crate) fn in_one_minute(&self, minute: u8) -> MinuteHistograms {
        let mut one = MinuteHistograms::default();
        // `to_histogram` sorts by bucket, so each push is above every key held.
        for (index, count) in self.to_histogram().buckets {
            one.push(minute, index, count);
        }
        one
    }

    /// [`DurationHistogram::quantile`] of one minute.
    pub(crate) fn quantile(&self, minute: u8, q: f64) -> Option<f64> {
        let entries = self.listed();
        let start = minute_start(entries, minute);
        let end = entries.partition_point(|&e| key_minute(entry_key(e)) <= minute);
        let listed = runs_of(&entries[start..end]);
        let pending = merge_sorted(self.pending_counts(), self.dense_counts())
            .filter(|&(key, _)| key_minute(key) == minute);
        let buckets: Vec<(u16, u64)> = merge_sorted(listed, pending)
            .map(|(key, count)| (key_index(key), count))
            .collect();
        let total = buckets.iter().fold(0u64, |t, &(_, c)| t.saturating_add(c));
        if total == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).clamp(1, total);
        let mut seen = 0u64;
        for (index, count) in buckets {
            seen = seen.saturating_add(count);
            if seen >= rank {
                return Some(value_of(index));
            }
        }
        None
    }
}

/// Equal when they hold the same counts, whether listed or pending.
impl PartialEq for MinuteHistograms {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for MinuteHistograms {}

/// The first and last of `runs` (sorted `(key, count)` of one minute, not empty) that
/// bound the fewest buckets holding at least [`DENSE_SHARE`] sixteenths of the count.
fn narrowest_share(runs: &[(u32, u64)]) -> (usize, usize) {
    // In 128 bits: clients choose batch counts, and a sum that saturated in 64 would no
    // longer be the sum of the runs it is taken apart into.
    let total: u128 = runs.iter().map(|&(_, c)| u128::from(c)).sum();
    let need = total - total / 16 * u128::from(16 - DENSE_SHARE);
    let mut best = (0, runs.len() - 1);
    let (mut first, mut held) = (0, 0u128);
    for (last, &(key, count)) in runs.iter().enumerate() {
        held += u128::from(count);
        while first < last && held - u128::from(runs[first].1) >= need {
            held -= u128::from(runs[first].1);
            first += 1;
        }
        let width = |(a, b): (usize, usize)| key_index(runs[b].0) - key_index(runs[a].0);
        if held >= need && key_index(key) - key_index(runs[first].0) < width(best) {
            best = (first, last);
        }
    }
    best
}

/// The keys packed in a [`MinuteHistograms::pending`], in arrival order.
fn pending_keys(pending: u64) -> impl Iterator<Item = u32> {
    let held = pending & ((1 << PENDING_LEN_BITS) - 1);
    let dense = Dense::of(pending);
    (0..held as u32).map(move |i| match dense {
        None => (pending >> (PENDING_LEN_BITS + KEY_BITS * i)) as u32 & ((1 << KEY_BITS) - 1),
        Some(dense) => {
            let offset = pending >> (PENDING_LEN_BITS + OFFSET_BITS * i) & ((1 << OFFSET_BITS) - 1);
            dense.key(offset as usize)
        }
    })
}

/// Listed entries `a` and `b` (each sorted, one run per key) as one list into `out`: runs of
/// a key in both become one run of the sum. A plain loop over the packed entries: merging a
/// name seen on a thousand machines (the "All" view) is mostly this.
fn merge_entries(a: &[u32], b: &[u32], out: &mut Vec<u32>) {
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        let (ka, kb) = (entry_key(a[i]), entry_key(b[j]));
        if ka < kb {
            i = copy_run(a, i, out);
        } else if kb < ka {
            j = copy_run(b, j, out);
        } else {
            let end_a = run_end(a, i);
            let end_b = run_end(b, j);
            let count = run_count(&a[i..end_a]).saturating_add(run_count(&b[j..end_b]));
            out.extend(encode_run(ka, count));
            (i, j) = (end_a, end_b);
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
}

/// Where the run starting at `start` ends.
fn run_end(entries: &[u32], start: usize) -> usize {
    let key = entry_key(entries[start]);
    let mut end = start + 1;
    while end < entries.len() && entry_key(entries[end]) == key {
        end += 1;
    }
    end
}

/// Copies the run starting at `start` to `out`; returns where it ends.
fn copy_run(entries: &[u32], start: usize, out: &mut Vec<u32>) -> usize {
    let end = run_end(entries, start);
    out.extend_from_slice(&entries[start..end]);
    end
}

/// Two iterators of `(key, count)` sorted by key, as one: counts of a key in both added.
fn merge_sorted(
    a: impl Iterator<Item = (u32, u64)>,
    b: impl Iterator<Item = (u32, u64)>,
) -> impl Iterator<Item = (u32, u64)> {
    let (mut a, mut b) = (a.peekable(), b.peekable());
    std::iter::from_fn(move || match (a.peek(), b.peek()) {
        (Some(&(ka, ca)), Some(&(kb, cb))) => {
            if ka == kb {
                a.next();
                b.next();
                Some((ka, ca.saturating_add(cb)))
            } else if ka < kb {
                a.next()
            } else {
                b.next()
            }
        }
        (Some(_), None) => a.next(),
        (None, _) => b.next(),
    })
}

/// Checkpoints keep the `(minute, index, count)` triples they always held.
impl Serialize for MinuteHistograms {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for MinuteHistograms {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut triples = Vec::<(u8, u16, u64)>::deserialize(deserializer)?;
        triples.sort_unstable_by_key(|&(m, i, _)| (m, i));
        let mut histograms = MinuteHistograms::default();
        // Repeated keys (not written by us) add up; indices no value maps to are dropped.
        for run in triples.chunk_by(|a, b| (a.0, a.1) == (b.0, b.1)) {
            let (minute, index, _) = run[0];
            if minute < 60 && u32::from(index) < 1 << INDEX_BITS {
                let count = run.iter().fold(0u64, |t, r| t.saturating_add(r.2));
                histograms.push(minute, index, count);
            }
        }
        Ok(histograms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ln_gamma_constant_matches_gamma() {
        assert!((GAMMA.ln() - LN_GAMMA).abs() < 1e-15);
    }

    #[test]
    fn bucket_table_agrees_with_the_formula() {
        let table = &*BUCKET_TABLE;
        let mut values = vec![0, 1, 2, 3, u64::MAX, u64::MAX - 1];
        for &smallest in &table.smallest_values {
            values.extend([
                smallest.saturating_sub(1),
                smallest,
                smallest.saturating_add(1),
            ]);
        }
        for k in 0..64 {
            values.extend([(1u64 << k) - 1, 1 << k, (1 << k) + 1]);
        }
        let mut rng = 0x5eed_u64;
        for _ in 0..100_000 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            values.extend([rng, rng >> (rng % 64)]);
        }
        for value in values {
            assert_eq!(index_of(value), index_by_formula(value), "{value}");
        }
    }

    #[test]
    fn every_value_comes_back_within_the_relative_accuracy() {
        let mut v = 1u64;
        while v < u64::MAX / 8 {
            for value in [v, v + 1, v * 3 / 2] {
                let mut h = DurationHistogram::new();
                h.record(value);
                let got = h.quantile(0.5).unwrap();
                let err = (got - value as f64).abs() / value as f64;
                assert!(err <= 0.01, "value {value} came back as {got}");
            }
            v = v * 7 / 5 + 1;
        }
    }

    #[test]
    fn zero_is_kept_exactly() {
        let mut h = DurationHistogram::new();
        h.record_n(0, 3);
        h.record(10);
        assert_eq!(h.quantile(0.75), Some(0.0));
        assert!(h.quantile(1.0).unwrap() > 9.8);
    }

    #[test]
    fn quantile_uses_the_ceiling_rank() {
        let mut h = DurationHistogram::new();
        for v in 1..=100u64 {
            h.record(v * 1000);
        }
        let p95 = h.quantile(0.95).unwrap();
        assert!((p95 - 95_000.0).abs() / 95_000.0 <= 0.01, "{p95}");
        let p50 = h.quantile(0.5).unwrap();
        assert!((p50 - 50_000.0).abs() / 50_000.0 <= 0.01, "{p50}");
    }

    #[test]
    fn merge_equals_recording_everything_in_one() {
        let (mut a, mut b, mut all) = (
            DurationHistogram::new(),
            DurationHistogram::new(),
            DurationHistogram::new(),
        );
        for v in [5u64, 17, 17, 900, 3_600_000_000] {
            a.record(v);
            all.record(v);
        }
        for v in [0u64, 17, 18, 1_000_000] {
            b.record(v);
            all.record(v);
        }
        a.merge(&b);
        assert_eq!(a, all);
        assert_eq!(a.count(), 9);
    }

    #[test]
    fn minute_histograms_match_one_histogram_per_minute() {
        let mut minutes = MinuteHistograms::default();
        let mut other = MinuteHistograms::default();
        let mut per_minute = [DurationHistogram::new(), DurationHistogram::new()];
        for (i, v) in [3u64, 90, 7_000, 7_001, 1, 0, 55_555]
            .into_iter()
            .enumerate()
        {
            let minute = (i % 2) as u8;
            if i < 4 {
                minutes.record_n(minute * 59, v, 2);
            } else {
                other.record_n(minute * 59, v, 2);
            }
            per_minute[minute as usize].record_n(v, 2);
        }
        minutes.merge(&other);
        let mut hour = per_minute[0].clone();
        hour.merge(&per_minute[1]);
        assert_eq!(minutes.to_histogram(), hour);
        for q in [0.0, 0.5, 0.95, 1.0] {
            assert_eq!(minutes.quantile(0, q), per_minute[0].quantile(q));
            assert_eq!(minutes.quantile(59, q), per_minute[1].quantile(q));
        }
        assert_eq!(minutes.quantile(30, 0.5), None);
    }

    #[test]
    fn minute_histograms_stay_sorted_with_many_buckets_in_any_order() {
        let mut minutes = MinuteHistograms::default();
        let mut model = std::collections::BTreeMap::new();
        let mut rng = 0x5eed_u64;
        for _ in 0..20_000 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            // Mostly the latest minutes, sometimes an old one; values over 6 decades.
            let minute = if rng % 10 == 0 {
                rng % 60
            } else {
                55 + rng % 5
            } as u8;
            let value = (rng >> 8) % 1_000_000;
            minutes.record_n(minute, value, 1);
            *model.entry((minute, index_of(value))).or_insert(0u64) += 1;
        }
        let expected: Vec<(u8, u16, u64)> =
            model.into_iter().map(|((m, i), c)| (m, i, c)).collect();
        assert_eq!(minutes.iter().collect::<Vec<_>>(), expected);
    }

    #[test]
    fn minute_counts_past_one_entry_take_a_run_and_stay_exact() {
        let big = [
            1,
            16_382,
            16_383,
            16_384,
            1 << 28,
            (1 << 42) + 7,
            u64::MAX / 3,
            u64::MAX,
        ];
        let mut whole = MinuteHistograms::default();
        let mut halves = [MinuteHistograms::default(), MinuteHistograms::default()];
        let mut model = std::collections::BTreeMap::new();
        for (i, &n) in big.iter().cycle().take(40).enumerate() {
            let minute = (i % 3) as u8 * 20;
            let value = [5_000u64, 5_001, 90_000][i % 3] + (i as u64 % 2) * 40_000;
            whole.record_n(minute, value, n);
            halves[i % 2].record_n(minute, value, n);
            let count = model.entry((minute, index_of(value))).or_insert(0u64);
            *count = count.saturating_add(n);
        }
        let expected: Vec<(u8, u16, u64)> = model.iter().map(|(&(m, i), &c)| (m, i, c)).collect();
        assert_eq!(whole.iter().collect::<Vec<_>>(), expected);
        let [mut merged, other] = halves;
        merged.merge(&other);
        assert_eq!(merged, whole, "the layout is a function of the counts");
        assert!(
            whole.entries.len() > expected.len(),
            "some counts took a run"
        );
        let json = serde_json::to_string(&whole).unwrap();
        assert_eq!(
            serde_json::from_str::<MinuteHistograms>(&json).unwrap(),
            whole
        );
        // A checkpoint written before the packing: one triple per key, counts as u32.
        let old: Vec<(u8, u16, u32)> = vec![(0, 300, 2), (0, 301, 70_000), (59, 5, 1)];
        let read: MinuteHistograms =
            serde_json::from_str(&serde_json::to_string(&old).unwrap()).unwrap();
        let widened: Vec<(u8, u16, u64)> =
            old.iter().map(|&(m, i, c)| (m, i, u64::from(c))).collect();
        assert_eq!(read.iter().collect::<Vec<_>>(), widened);
        // `powi` is not exact: a release build folds the constant call differently.
        let median = read.quantile(0, 0.5).unwrap();
        assert!((median - value_of(301)).abs() <= 1e-9 * median, "{median}");
    }

    #[test]
    fn values_waiting_beside_the_list_count_in_every_reading() {
        let mut minutes = MinuteHistograms::default();
        let mut other = MinuteHistograms::default();
        let mut per_minute = vec![DurationHistogram::new(); 60];
        let mut rng = 0x0dd_5eed_u64;
        let mut states_seen = 0u8;
        for i in 0..600u64 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let minute = (7 + rng % 3) as u8;
            // Few distinct values, so keys repeat among the waiting ones too.
            let value = [10, 11, 5_000, 90_000][(rng >> 8) as usize % 4];
            let n = if i % 50 == 49 { 3 } else { 1 };
            let target = if i % 3 == 0 { &mut other } else { &mut minutes };
            target.record_n(minute, value, n);
            states_seen |= 1 << (target.pending & 3);
            per_minute[minute as usize].record_n(value, n);
            let mut merged = minutes.clone();
            merged.merge(&other);
            let json = serde_json::to_string(&merged).unwrap();
            let read: MinuteHistograms = serde_json::from_str(&json).unwrap();
            assert_eq!(
                read, merged,
                "after {i}: a checkpoint holds the waiting values"
            );
            assert_eq!(read.pending, 0);
            for m in 7..10u8 {
                for q in [0.5, 0.95, 1.0] {
                    assert_eq!(merged.quantile(m, q), per_minute[m as usize].quantile(q));
                }
            }
            let mut hour = DurationHistogram::new();
            per_minute.iter().for_each(|h| hour.merge(h));
            assert_eq!(merged.to_histogram(), hour, "after {i}");
        }
        assert_eq!(states_seen, 0b1111, "read with 0 to 3 values waiting");
    }

    #[test]
    fn single_values_past_one_entrys_count_take_a_run_through_the_waiting_values() {
        // A value recorded one at a time more often than 14 bits count, between others
        // below and above it in the same minute: added four at a time to a run that splits.
        let mut minutes = MinuteHistograms::default();
        let mut model = std::collections::BTreeMap::new();
        for i in 0..40_000u64 {
            let value = match i % 4 {
                0 => 10,
                1 => 5_000 + i % 7 * 1_000,
                _ => 700,
            };
            minutes.record_n(3, value, 1);
            *model.entry((3u8, index_of(value))).or_insert(0u64) += 1;
        }
        let expected: Vec<(u8, u16, u64)> =
            model.into_iter().map(|((m, i), c)| (m, i, c)).collect();
        assert_eq!(minutes.iter().collect::<Vec<_>>(), expected);
        assert!(minutes.entries.len() > expected.len(), "a count took a run");
    }

    /// Checks every reading of `minutes` against the counts of `model`.
    fn assert_reads_as(
        minutes: &MinuteHistograms,
        model: &std::collections::BTreeMap<(u8, u16), u64>,
    ) {
        let expected: Vec<(u8, u16, u64)> = model.iter().map(|(&(m, i), &c)| (m, i, c)).collect();
        assert_eq!(minutes.iter().collect::<Vec<_>>(), expected);
        let mut per_minute = vec![DurationHistogram::new(); 60];
        let mut hour = DurationHistogram::new();
        for &(minute, index, count) in &expected {
            per_minute[usize::from(minute)].add_to_bucket(index, count);
            hour.add_to_bucket(index, count);
        }
        assert_eq!(minutes.to_histogram(), hour);
        for (minute, histogram) in per_minute.iter().enumerate() {
            for q in [0.0, 0.5, 0.95, 0.999, 1.0] {
                assert_eq!(
                    minutes.quantile(minute as u8, q),
                    histogram.quantile(q),
                    "minute {minute}"
                );
            }
        }
        let json = serde_json::to_string(minutes).unwrap();
        let read: MinuteHistograms = serde_json::from_str(&json).unwrap();
        assert_eq!(&read, minutes);
        assert_eq!(read.pending, 0, "a checkpoint lists everything");
        let mut merged = MinuteHistograms::default();
        merged.merge(&MinuteHistograms::default());
        merged.record_n(0, 1, 1);
        merged.merge(minutes);
        let mut with_one = model.clone();
        *with_one.entry((0, index_of(1))).or_insert(0) += 1;
        assert_eq!(
            merged.iter().collect::<Vec<_>>(),
            with_one
                .iter()
                .map(|(&(m, i), &c)| (m, i, c))
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_busy_minute_is_counted_densely_and_reads_as_the_list_would() {
        let mut minutes = MinuteHistograms::default();
        let mut model = std::collections::BTreeMap::new();
        let mut rng = 0xb05e_u64;
        let mut record = |minutes: &mut MinuteHistograms, minute: u8, value: u64, n: u64| {
            minutes.record_n(minute, value, n);
            let count = model.entry((minute, index_of(value))).or_insert(0u64);
            *count = count.saturating_add(n);
            model.clone()
        };
        let mut dense_minutes = Vec::new();
        let mut read_while_dense_and_waiting = false;
        for minute in [10u8, 11, 13] {
            for i in 0..3_000u64 {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                // A database call: 2-4 ms, one in a hundred far slower (outside the dense
                // range), now and then a late tree of an earlier minute and a batch.
                let (at, value, n) = match i % 100 {
                    7 => (minute, 3_000 * (20 + rng % 400), 1),
                    33 => (minute.saturating_sub(5), 2_000 + rng % 2_000, 1),
                    61 => (minute, 2_000 + rng % 2_000, 1 + rng % 1_000),
                    _ => (minute, 2_000 + rng % 2_000, 1),
                };
                let snapshot = record(&mut minutes, at, value, n);
                if let Some(dense) = minutes.dense() {
                    assert_eq!(dense.minute, minute);
                    // 2-4 ms is 37 buckets: the slow calls stay listed.
                    assert!(
                        dense.span <= 37 + 2 * usize::from(DENSE_MARGIN),
                        "{dense:?}"
                    );
                    if dense_minutes.last() != Some(&minute) {
                        dense_minutes.push(minute);
                    }
                }
                let waiting = minutes.pending & 3;
                if i % 500 == 499 || (minutes.dense().is_some() && waiting == 2 && i % 7 == 0) {
                    read_while_dense_and_waiting |= minutes.dense().is_some() && waiting > 0;
                    assert_reads_as(&minutes, &snapshot);
                }
            }
        }
        assert_eq!(dense_minutes, [10, 11, 13], "each busy minute turned dense");
        assert!(read_while_dense_and_waiting);
        // A count past 32 bits into the dense minute goes to the list beside it.
        let snapshot = record(&mut minutes, 13, 3_000, u64::from(u32::MAX));
        assert!(minutes.dense().is_some());
        assert_reads_as(&minutes, &snapshot);
        // The next minute lists the dense one's counts.
        let snapshot = record(&mut minutes, 14, 3_000, 1);
        assert!(minutes.dense().is_none());
        assert!(minutes
            .entries
            .iter()
            .all(|&e| entry_key(e) >> INDEX_BITS < 60));
        assert_reads_as(&minutes, &snapshot);
    }

    #[test]
    fn the_dense_range_leaves_out_the_rare_extremes() {
        let runs = |counts: &[(u16, u64)]| -> Vec<(u32, u64)> {
            counts.iter().map(|&(i, c)| (key_of(4, i), c)).collect()
        };
        let busy = runs(&[(10, 1), (50, 10), (51, 20), (52, 10), (200, 1)]);
        assert_eq!(narrowest_share(&busy), (1, 3));
        // Below 16 values one outlier is a sixteenth or more: it stays in.
        assert_eq!(narrowest_share(&runs(&[(10, 1), (50, 7)])), (0, 1));
        assert_eq!(narrowest_share(&runs(&[(7, 3)])), (0, 0));
        // Batch counts a client chose, summing past 64 bits.
        let huge = runs(&[(10, u64::MAX / 32), (50, u64::MAX), (51, 16)]);
        assert_eq!(narrowest_share(&huge), (1, 1));
        let mut minutes = MinuteHistograms::default();
        minutes.record_n(0, 1_000, u64::MAX / 32);
        minutes.record_n(0, 2_000, u64::MAX);
        minutes.record_n(0, 3_000, 10);
        minutes.record_n(0, 3_000, 10);
        let read: u64 = minutes
            .iter()
            .map(|(_, _, c)| c)
            .fold(0, u64::saturating_add);
        assert_eq!(read, u64::MAX);
    }

    #[test]
    fn a_name_seen_a_few_times_a_minute_stays_listed() {
        let mut minutes = MinuteHistograms::default();
        for i in 0..6_000u64 {
            // 100 values a minute over 100 buckets: no bucket reaches the trigger.
            minutes.record_n((i / 100) as u8 % 60, 1_000 + (i % 100) * 25, 1);
            assert!(minutes.dense().is_none());
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// Any mix of busy and quiet stretches, late minutes, batches and huge counts reads
        /// as the counts recorded, whether split over two histograms and merged or not.
        #[test]
        fn any_record_sequence_reads_as_its_counts(
            ops in proptest::collection::vec(
                (0u8..8, 0u64..2_000, 0u8..100, proptest::bool::ANY),
                1..3_000,
            )
        ) {
            let mut whole = MinuteHistograms::default();
            let mut halves = [MinuteHistograms::default(), MinuteHistograms::default()];
            let mut model = std::collections::BTreeMap::new();
            let mut minute = 0u8;
            for (i, &(step, spread, pick, other)) in ops.iter().enumerate() {
                if step == 0 && pick < 5 {
                    minute = (minute + 1).min(59);
                }
                let at = if pick == 1 { minute.saturating_sub(step) } else { minute };
                // Mostly a narrow band (dense counts), sometimes far out or zero.
                let value = match pick {
                    2 => spread * 1_000_000,
                    3 => 0,
                    _ => 3_000 + spread,
                };
                let n = match pick {
                    4 => u64::from(u32::MAX) + spread,
                    5..=9 => 1 + spread,
                    _ => 1,
                };
                whole.record_n(at, value, n);
                halves[usize::from(other)].record_n(at, value, n);
                let count = model.entry((at, index_of(value))).or_insert(0u64);
                *count = count.saturating_add(n);
                if i % 997 == 0 {
                    assert_reads_as(&whole, &model);
                }
            }
            assert_reads_as(&whole, &model);
            let [mut merged, other] = halves;
            merged.merge(&other);
            proptest::prop_assert_eq!(&merged, &whole);
            // A merge's result has nothing waiting: merging two of them is the plain loop.
            let mut doubled = merged.clone();
            doubled.merge(&merged);
            for count in model.values_mut() {
                *count = count.saturating_mul(2);
            }
            assert_reads_as(&doubled, &model);
        }
    }

    #[test]
    fn every_bucket_index_fits_the_packed_entry() {
        assert!(u32::from(index_of(u64::MAX)) < 1 << INDEX_BITS);
    }

    #[test]
    fn counts_up_to_bounds_keep_every_value_at_or_below_a_bound_under_it() {
        let bounds = [1_000u64, 2_000, 4_000];
        let mut h = DurationHistogram::new();
        assert_eq!(h.counts_up_to(&bounds), [0, 0, 0, 0]);
        // Exactly a bound (a batch's whole milliseconds) and just below it: under it.
        for value in [0, 1, 999, 1_000, 1_999, 2_000, 3_999, 4_000] {
            h.record(value);
        }
        // Just past a bound's bucket, and far past the last bound: above.
        let past_2000 = (2_000.0 * GAMMA).ceil() as u64;
        h.record(past_2000);
        h.record_n(1_000_000, 3);
        assert_eq!(h.counts_up_to(&bounds), [4, 2, 3, 3]);
        assert_eq!(h.counts_up_to(&bounds).iter().sum::<u64>(), h.count());
        assert_eq!(h.counts_up_to(&[]), [h.count()]);
    }

    #[test]
    fn a_value_counts_under_a_bound_it_exceeds_only_within_the_bounds_bucket() {
        for bound in [1_000u64, 2_000, 65_536_000] {
            let mut above = bound + 1;
            while index_of(above) == index_of(bound) {
                above += 1;
            }
            // The first value of the next bucket is less than one bucket's width above.
            assert!(
                (above as f64) < bound as f64 * GAMMA + 1.0,
                "{bound}: {above}"
            );
            let mut h = DurationHistogram::new();
            h.record(above - 1);
            h.record(above);
            assert_eq!(h.counts_up_to(&[bound]), [1, 1], "{bound}");
        }
    }

    #[test]
    fn steady_traffic_stays_in_few_buckets() {
        let mut h = DurationHistogram::new();
        for i in 0..100_000u64 {
            h.record(4_000 + i % 2_000);
        }
        assert!(h.bucket_count() < 50, "{}", h.bucket_count());
    }
}
