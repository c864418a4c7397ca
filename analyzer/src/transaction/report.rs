//! [`TransactionReport`]: domain -> machine -> type -> name statistics of one hour, and the
//! [`TransactionView`] the JSON API returns.
//!
//! Only names keep state: a type's figures are the merge of its names' figures, computed
//! when viewed (caps guarantee every message sits in some name, `OTHERS` included). The
//! "All" machine is likewise a merge on read, and so is a name's hour histogram (the sum of
//! its minute histograms), and so are a name's count, failures and total duration (the sums
//! of its minute rows). Per name that leaves the sum of squares and extremes, up to 60
//! minute rows of 8 bytes ([`MinuteRows`]) and one 4-byte `(minute, bucket, count)` entry
//! per distinct duration bucket and minute.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::distribution::{distribution, DurationBucketView};
use super::status_counts::StatusCounts;
use crate::histogram::{DurationHistogram, MinuteHistograms};
use crate::message_ids::{merge_newest, texts, FailIds};
use crate::minute::minute_entry;
use crate::open_minute::{
    MinuteFigures, MinuteList, OpenMinute, MINUTE_BITS as PACKED_MINUTE_BITS,
};
use crate::sample_id::SampleId;
use crate::sorted_map::{merge_all, SortedMap};
use crate::view_query::{
    busiest_names, day_label, fail_percent, hour_label, is_zero, keep_position, tps, Rows,
    ViewQuery,
};

/// Failure message IDs kept per name (issue 4).
pub(crate) const MAX_FAIL_MESSAGE_IDS: usize = 10;

/// All transactions of one domain in one hour.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TransactionReport {
    pub(crate) domain: String,
    pub(crate) hour: u64,
    /// Keyed by the client IP (`tree.header.ip_address`).
    pub(crate) machines: SortedMap<TransactionMachine>,
    /// Transactions counted under an `OTHERS` key because a cap was reached (domain,
    /// machine, type, name or status code), each once; a batch (`@...`) message is one.
    pub(crate) folded: u64,
    /// Batch messages (`@...` data) dropped because their data did not parse. Not written
    /// while 0, so checkpoints without any stay as they were.
    #[serde(skip_serializing_if = "is_zero")]
    pub(crate) malformed_batches: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct TransactionMachine {
    pub(crate) types: SortedMap<TransactionType>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct TransactionType {
    pub(crate) names: SortedMap<TransactionName>,
}

/// Everything kept per transaction name.
///
/// In this order (`repr(C)`, and so are the fields' own types where it matters) because a
/// busy hour holds more of these than any cache, and the entries of a name map are 192
/// bytes with the key: exactly three cache lines. A successful message reads and writes
/// only the first two: the key, the stats, the slowest duration, whether there is a sample
/// ID, the durations waiting for the minute histograms (and one message in four their
/// list's header), and the newest minute's row. The minute rows' list header follows, read
/// when a minute ends; the rest (the slowest ID, failures) only failed messages and new
/// slowest ones touch. Offsets are checked by a test.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[repr(C)]
pub(crate) struct TransactionName {
    pub(crate) stats: DurationStats,
    /// The duration of the slowest message; 0 while `slowest_message_id` is empty, so the
    /// check for a new slowest message reads this alone.
    pub(crate) slowest_us: u64,
    pub(crate) sample_message_id: SampleId,
    /// The durations of every minute, for the per-minute p95.
    pub(crate) minute_durations: MinuteHistograms,
    /// Sorted by minute; only minutes with messages.
    pub(crate) minutes: MinuteRows,
    pub(crate) slowest_message_id: SampleId,
    pub(crate) status_codes: StatusCounts,
    pub(crate) fail_message_ids: FailIds,
}

/// What a name's minute rows do not hold: the sum of squared durations and the extremes.
/// Counts, failures and sums are the sums of the minute rows ([`TransactionName::totals`]),
/// and the histogram lives in the name's [`MinuteHistograms`] (the hour's is the sum of its
/// minutes'): keeping either twice would add to every name of every machine.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct DurationStats {
    /// Sum of squared durations (µs²) for the standard deviation.
    pub(crate) sum2_us2: U128,
    /// How many durations were recorded (batch data may carry fewer than its count).
    pub(crate) durations: u64,
    /// Meaningful only when `durations > 0`.
    pub(crate) min_us: u64,
    pub(crate) max_us: u64,
}

/// A `u128` in two 8-byte halves: a plain `u128` is 16-byte aligned, which padded every
/// name entry of every machine by 8 bytes. Serialized as the `u128` it is, so the
/// checkpoint format does not change.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "u128", into = "u128")]
pub(crate) struct U128([u64; 2]);

impl From<u128> for U128 {
    fn from(v: u128) -> Self {
        U128([v as u64, (v >> 64) as u64])
    }
}

impl From<U128> for u128 {
    fn from(v: U128) -> Self {
        u128::from(v.0[0]) | u128::from(v.0[1]) << 64
    }
}

impl U128 {
    fn saturating_add(self, other: u128) -> Self {
        u128::from(self).saturating_add(other).into()
    }
}

/// Messages, failures and total duration of a name or a type over the hour.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Totals {
    pub(crate) count: u64,
    pub(crate) fail: u64,
    pub(crate) sum_us: u64,
}

impl Totals {
    fn add(&mut self, other: Totals) {
        self.count = self.count.saturating_add(other.count);
        self.fail = self.fail.saturating_add(other.fail);
        self.sum_us = self.sum_us.saturating_add(other.sum_us);
    }
}

/// One minute of one name: what [`MinuteRows`] hold, 16 bytes in their wide form. The
/// minute and the failure count share a word; checkpoints keep the plain [`MinuteRow`]
/// form.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "MinuteRow", into = "MinuteRow")]
pub(crate) struct TransactionMinute {
    sum_us: u64,
    /// Saturates at 4 billion per minute and name.
    count: u32,
    /// The minute in the top [`MINUTE_BITS`] bits, the failures (saturating at
    /// [`MAX_MINUTE_FAILS`], 67 million per minute and name) below.
    minute_fail: u32,
}

/// Bits of [`TransactionMinute::minute_fail`] that hold the minute (0..60 needs 6).
const MINUTE_BITS: u32 = 6;
const MAX_MINUTE_FAILS: u32 = (1 << (32 - MINUTE_BITS)) - 1;

/// [`TransactionMinute`] as checkpoints write it: `[minute, count, fail, sum_us]` (field
/// names in every row of every name were most of a checkpoint's bytes); read from that or
/// from the object form that checkpoints before 2026-12-05 wrote.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct MinuteRow {
    minute: u8,
    count: u32,
    fail: u32,
    sum_us: u64,
}

impl Serialize for MinuteRow {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        (self.minute, self.count, self.fail, self.sum_us).serialize(serializer)
    }
}

impl From<MinuteRow> for TransactionMinute {
    fn from(row: MinuteRow) -> Self {
        let mut minute = TransactionMinute::new(row.minute);
        minute.add(u64::from(row.count), u64::from(row.fail), row.sum_us);
        minute
    }
}

impl From<TransactionMinute> for MinuteRow {
    fn from(minute: TransactionMinute) -> Self {
        MinuteRow {
            minute: minute.minute(),
            count: minute.count,
            fail: minute.fail(),
            sum_us: minute.sum_us,
        }
    }
}

impl DurationStats {
    /// `us` within the durations' [min, max] (as it is when there are none): a percentile
    /// of them lies there, and a histogram bucket's value may not (a minute of calls that
    /// all took 1.5 ms read 1.4887 ms, under the name's min).
    pub(crate) fn clamp_us(&self, us: f64) -> f64 {
        if self.durations == 0 {
            us
        } else {
            us.clamp(self.min_us as f64, self.max_us as f64)
        }
    }

    /// Adds `n` durations of `duration_us` (the messages themselves are counted in the
    /// name's minute rows).
    pub(crate) fn add_durations(&mut self, duration_us: u64, n: u64) {
        if n == 0 {
            return;
        }
        self.add_extremes(duration_us, n);
        self.sum2_us2 = self
            .sum2_us2
            .saturating_add(u128::from(duration_us) * u128::from(duration_us) * u128::from(n));
    }

    /// Adds `n` durations of `duration_us` to the count and the extremes only: for bucketed
    /// durations, whose squares are estimated together ([`DurationStats::add_sum2`]).
    pub(crate) fn add_extremes(&mut self, duration_us: u64, n: u64) {
        if n == 0 {
            return;
        }
        let first = self.durations == 0;
        if first || duration_us < self.min_us {
            self.min_us = duration_us;
        }
        if first || duration_us > self.max_us {
            self.max_us = duration_us;
        }
        self.durations = self.durations.saturating_add(n);
    }

    /// Adds to the sum of squared durations (µs²).
    pub(crate) fn add_sum2(&mut self, sum2_us2: u128) {
        self.sum2_us2 = self.sum2_us2.saturating_add(sum2_us2);
    }

    pub(crate) fn merge(&mut self, other: &DurationStats) {
        if other.durations > 0 {
            if self.durations == 0 {
                self.min_us = other.min_us;
                self.max_us = other.max_us;
            } else {
                self.min_us = self.min_us.min(other.min_us);
                self.max_us = self.max_us.max(other.max_us);
            }
        }
        self.sum2_us2 = self.sum2_us2.saturating_add(other.sum2_us2.into());
        self.durations = self.durations.saturating_add(other.durations);
    }

    fn figures(
        &self,
        totals: Totals,
        histogram: &DurationHistogram,
        elapsed_seconds: f64,
    ) -> DurationFigures {
        let ms = |us: f64| us / 1000.0;
        let Totals {
            count,
            fail,
            sum_us,
        } = totals;
        let n = count.max(1) as f64;
        let avg_us = sum_us as f64 / n;
        let variance = u128::from(self.sum2_us2) as f64 / n - avg_us * avg_us;
        let std_us = if count > 1 && variance > 0.0 {
            variance.sqrt()
        } else {
            0.0
        };
        let (min_us, max_us) = if self.durations == 0 {
            (0, 0)
        } else {
            (self.min_us, self.max_us)
        };
        // The true percentile lies in [min, max], so clamping never adds error.
        let quantile = |q: f64| {
            histogram
                .quantile(q)
                .map_or(0.0, |v| ms(v.clamp(min_us as f64, max_us as f64)))
        };
        DurationFigures {
            count,
            fail,
            fail_percent: fail_percent(fail, count),
            min: ms(min_us as f64),
            max: ms(max_us as f64),
            avg: ms(avg_us),
            std: ms(std_us),
            tps: tps(count, elapsed_seconds),
            p50: quantile(0.50),
            p90: quantile(0.90),
            p95: quantile(0.95),
            p99: quantile(0.99),
            p999: quantile(0.999),
        }
    }
}

impl TransactionMinute {
    /// An empty row for `minute` (`0..60`; larger values are cut to 6 bits).
    fn new(minute: u8) -> Self {
        TransactionMinute {
            minute_fail: u32::from(minute) << (32 - MINUTE_BITS),
            ..TransactionMinute::default()
        }
    }

    pub(crate) fn minute(&self) -> u8 {
        (self.minute_fail >> (32 - MINUTE_BITS)) as u8
    }

    pub(crate) fn count(&self) -> u32 {
        self.count
    }

    pub(crate) fn fail(&self) -> u32 {
        self.minute_fail & MAX_MINUTE_FAILS
    }

    pub(crate) fn sum_us(&self) -> u64 {
        self.sum_us
    }

    /// Adds `count` messages, `fail` failed, with `sum_us` total duration.
    pub(crate) fn add(&mut self, count: u64, fail: u64, sum_us: u64) {
        let narrow = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
        self.count = self.count.saturating_add(narrow(count));
        let fail = self
            .fail()
            .saturating_add(narrow(fail))
            .min(MAX_MINUTE_FAILS);
        self.minute_fail = (self.minute_fail & !MAX_MINUTE_FAILS) | fail;
        self.sum_us = self.sum_us.saturating_add(sum_us);
    }
}

/// A name's minute rows: the newest minute's in the entry (see [`OpenMinute`]), the others
/// in a [`RowList`].
pub(crate) type MinuteRows = OpenMinute<TransactionMinute, RowList>;

impl MinuteRows {
    /// Adds `count` messages, `fail` of them failed, with `sum_us` total duration, to
    /// `minute`'s row (created on demand).
    pub(crate) fn add(&mut self, minute: u8, count: u64, fail: u64, sum_us: u64) {
        let mut row = TransactionMinute::new(minute);
        row.add(count, fail, sum_us);
        self.add_row(row);
    }
}

impl MinuteFigures for TransactionMinute {
    fn minute(&self) -> u8 {
        TransactionMinute::minute(self)
    }

    fn plus(mut self, other: Self) -> Self {
        self.add(
            u64::from(other.count),
            u64::from(other.fail()),
            other.sum_us,
        );
        self
    }

    /// The narrow form (see [`RowList`]).
    fn pack(&self) -> Option<u64> {
        let (count, fail) = (u64::from(self.count), u64::from(self.fail()));
        let word = narrow_row(self.minute(), count, fail, self.sum_us);
        (count <= ROW_COUNT_MAX && fail <= ROW_FAIL_MAX && self.sum_us <= ROW_SUM_MAX && word != 0)
            .then_some(word)
    }

    fn unpack(word: u64) -> Self {
        unpack_narrow(word)
    }

    fn plus_packed(&self, word: u64) -> Option<u64> {
        let count = ((word >> ROW_COUNT_SHIFT) & ROW_COUNT_MAX) + u64::from(self.count);
        let fail = ((word >> ROW_FAIL_SHIFT) & ROW_FAIL_MAX) + u64::from(self.fail());
        let sum_us = (word & ROW_SUM_MAX).saturating_add(self.sum_us);
        (count <= ROW_COUNT_MAX && fail <= ROW_FAIL_MAX && sum_us <= ROW_SUM_MAX)
            .then(|| narrow_row(self.minute(), count, fail, sum_us))
    }
}

impl MinuteList<TransactionMinute> for RowList {
    fn last_minute(&self) -> Option<u8> {
        RowList::last_minute(self)
    }

    fn add(&mut self, row: TransactionMinute) {
        RowList::add(
            self,
            row.minute(),
            u64::from(row.count),
            u64::from(row.fail()),
            row.sum_us,
        );
    }

    fn rows(&self) -> impl Iterator<Item = TransactionMinute> + '_ {
        self.iter()
    }
}

/// Minute rows sorted by minute, in one `Vec<u64>`: 8 bytes a row while every row's figures
/// fit (under 65 536 messages, 1 024 failures and 4 295 s of total duration in the minute,
/// which is nearly every name on nearly every machine), and once one does not, a
/// [`WIDE_ROWS`] marker followed by 16-byte [`TransactionMinute`]s as two words each.
/// Over an hour a name keeps up to 60 rows per machine, the largest part of a report after
/// the duration buckets.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct RowList(Vec<u64>);

/// Narrow row: minute in the top 6 bits, then 10 bits of failures, 16 of count, 32 of
/// total duration (µs).
const ROW_MINUTE_SHIFT: u32 = 64 - PACKED_MINUTE_BITS;
const ROW_FAIL_SHIFT: u32 = 48;
const ROW_COUNT_SHIFT: u32 = 32;
const ROW_FAIL_MAX: u64 = (1 << (ROW_MINUTE_SHIFT - ROW_FAIL_SHIFT)) - 1;
const ROW_COUNT_MAX: u64 = (1 << (ROW_FAIL_SHIFT - ROW_COUNT_SHIFT)) - 1;
const ROW_SUM_MAX: u64 = (1 << ROW_COUNT_SHIFT) - 1;
/// The first word of a wide list (minute 63 is no minute).
const WIDE_ROWS: u64 = 63 << ROW_MINUTE_SHIFT;

fn narrow_row(minute: u8, count: u64, fail: u64, sum_us: u64) -> u64 {
    u64::from(minute) << ROW_MINUTE_SHIFT
        | fail << ROW_FAIL_SHIFT
        | count << ROW_COUNT_SHIFT
        | sum_us
}

fn row_minute(word: u64) -> u8 {
    (word >> ROW_MINUTE_SHIFT) as u8
}

fn unpack_narrow(word: u64) -> TransactionMinute {
    let mut row = TransactionMinute::new(row_minute(word));
    row.add(
        (word >> ROW_COUNT_SHIFT) & ROW_COUNT_MAX,
        (word >> ROW_FAIL_SHIFT) & ROW_FAIL_MAX,
        word & ROW_SUM_MAX,
    );
    row
}

fn unpack_wide([head, sum_us]: [u64; 2]) -> TransactionMinute {
    TransactionMinute {
        sum_us,
        count: head as u32,
        minute_fail: (head >> 32) as u32,
    }
}

fn pack_wide(row: TransactionMinute) -> [u64; 2] {
    [
        u64::from(row.minute_fail) << 32 | u64::from(row.count),
        row.sum_us,
    ]
}

impl RowList {
    fn is_wide(&self) -> bool {
        self.0.first() == Some(&WIDE_ROWS)
    }

    /// The last row's minute.
    fn last_minute(&self) -> Option<u8> {
        match self.0.len() {
            0 => None,
            len if self.is_wide() => (len > 1).then(|| row_minute(self.0[len - 2])),
            len => Some(row_minute(self.0[len - 1])),
        }
    }

    /// Adds `count` messages, `fail` of them failed, with `sum_us` total duration, to
    /// `minute`'s row (created on demand). The form depends on the figures alone (a list
    /// turns wide when a row outgrows the narrow one, and figures only grow).
    fn add(&mut self, minute: u8, count: u64, fail: u64, sum_us: u64) {
        if !self.is_wide() {
            let word = minute_entry(
                &mut self.0,
                minute,
                |&w| row_minute(w),
                || narrow_row(minute, 0, 0, 0),
            );
            let row = unpack_narrow(*word);
            let (count2, fail2, sum2) = (
                u64::from(row.count()).saturating_add(count),
                u64::from(row.fail()).saturating_add(fail),
                row.sum_us().saturating_add(sum_us),
            );
            if count2 <= ROW_COUNT_MAX && fail2 <= ROW_FAIL_MAX && sum2 <= ROW_SUM_MAX {
                *word = narrow_row(minute, count2, fail2, sum2);
                return;
            }
            let rows: Vec<u64> = std::iter::once(WIDE_ROWS)
                .chain(self.0.iter().flat_map(|&w| pack_wide(unpack_narrow(w))))
                .collect();
            self.0 = rows;
        }
        // Binary search over the rows (word pairs after the marker) by minute.
        let (mut low, mut high) = (0, (self.0.len() - 1) / 2);
        while low < high {
            let mid = low + (high - low) / 2;
            match row_minute(self.0[1 + 2 * mid]).cmp(&minute) {
                std::cmp::Ordering::Less => low = mid + 1,
                std::cmp::Ordering::Greater => high = mid,
                std::cmp::Ordering::Equal => {
                    let at = 1 + 2 * mid;
                    let mut row = unpack_wide([self.0[at], self.0[at + 1]]);
                    row.add(count, fail, sum_us);
                    self.0[at..at + 2].copy_from_slice(&pack_wide(row));
                    return;
                }
            }
        }
        let mut row = TransactionMinute::new(minute);
        row.add(count, fail, sum_us);
        let at = 1 + 2 * low;
        self.0.splice(at..at, pack_wide(row));
    }

    /// The rows in minute order.
    fn iter(&self) -> impl Iterator<Item = TransactionMinute> + '_ {
        let (narrow, wide) = if self.is_wide() {
            (&[][..], &self.0[1..])
        } else {
            (&self.0[..], &[][..])
        };
        narrow.iter().map(|&w| unpack_narrow(w)).chain(
            wide.chunks_exact(2)
                .map(|pair| unpack_wide([pair[0], pair[1]])),
        )
    }
}

impl TransactionName {
    /// Messages, failures and total duration: the sums of the minute rows.
    pub(crate) fn totals(&self) -> Totals {
        let mut totals = Totals::default();
        for m in self.minutes.iter() {
            totals.add(Totals {
                count: u64::from(m.count()),
                fail: u64::from(m.fail()),
                sum_us: m.sum_us(),
            });
        }
        totals
    }

    /// Adds one message of `duration_us` in `minute`.
    pub(crate) fn record(&mut self, minute: u8, duration_us: u64, failed: bool) {
        self.minutes.add(minute, 1, u64::from(failed), duration_us);
        self.minute_durations.record_n(minute, duration_us, 1);
        self.stats.add_durations(duration_us, 1);
    }

    pub(crate) fn merge(&mut self, other: &TransactionName) {
        self.stats.merge(&other.stats);
        self.minutes.merge(&other.minutes);
        self.minute_durations.merge(&other.minute_durations);
        self.status_codes.merge(&other.status_codes);
        if self.sample_message_id.is_empty() {
            self.sample_message_id.clone_from(&other.sample_message_id);
        }
        merge_newest(
            &mut self.fail_message_ids,
            &other.fail_message_ids,
            MAX_FAIL_MESSAGE_IDS,
        );
        // `>=`: with `other` the later report, ties go to the later message, as in CAT.
        if !other.slowest_message_id.is_empty()
            && (self.slowest_message_id.is_empty() || other.slowest_us >= self.slowest_us)
        {
            self.slowest_us = other.slowest_us;
            self.slowest_message_id
                .clone_from(&other.slowest_message_id);
        }
    }

    fn view(&self, name: &str, histogram: &DurationHistogram, elapsed: f64) -> TransactionNameView {
        TransactionNameView {
            name: name.to_owned(),
            figures: self.stats.figures(self.totals(), histogram, elapsed),
            status_codes: self.status_codes.to_map(),
            sample_message_id: self.sample_message_id.to_string(),
            fail_message_ids: texts(&self.fail_message_ids),
            slowest_message_id: self.slowest_message_id.to_string(),
            minutes: self
                .minutes
                .iter()
                .map(|m| TransactionMinuteView {
                    minute: m.minute(),
                    count: u64::from(m.count()),
                    fail: u64::from(m.fail()),
                    avg: m.sum_us() as f64 / f64::from(m.count().max(1)) / 1000.0,
                    p95: self
                        .minute_durations
                        .quantile(m.minute(), 0.95)
                        .map_or(0.0, |v| self.stats.clamp_us(v) / 1000.0),
                })
                .collect(),
            hours: Vec::new(),
            days: Vec::new(),
            distribution: Vec::new(),
        }
    }

    /// This name with its minutes folded into one row and one histogram of `row`: see
    /// [`TransactionReport::in_row`].
    fn in_one_row(&self, row: u8) -> TransactionName {
        let totals = self.totals();
        let mut minutes = MinuteRows::default();
        if totals != Totals::default() {
            minutes.add(row, totals.count, totals.fail, totals.sum_us);
        }
        TransactionName {
            stats: self.stats.clone(),
            slowest_us: self.slowest_us,
            sample_message_id: self.sample_message_id.clone(),
            minute_durations: self.minute_durations.in_one_minute(row),
            minutes,
            slowest_message_id: self.slowest_message_id.clone(),
            status_codes: self.status_codes.clone(),
            fail_message_ids: self.fail_message_ids.clone(),
        }
    }
}

impl TransactionType {
    fn merge(&mut self, other: &TransactionType) {
        self.names.merge_with(&other.names, TransactionName::merge);
    }
}

impl TransactionMachine {
    fn merge(&mut self, other: &TransactionMachine) {
        self.types.merge_with(&other.types, TransactionType::merge);
    }
}

crate::tree_counter::machine_report!(TransactionReport, TransactionMachine, malformed_batches);
// A day's name keeps its statistics, up to 24 hourly rows with their histograms, status
// codes and up to ten failure IDs: about 2 KiB at most.
crate::day::hourly_report!(TransactionReport, day_entry_bytes = 2048);

impl TransactionReport {
    /// An empty report for `domain` and `hour` (`epoch_ms / 3_600_000`).
    pub fn new(domain: impl Into<String>, hour: u64) -> Self {
        TransactionReport {
            domain: domain.into(),
            hour,
            ..TransactionReport::default()
        }
    }

    /// The domain.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The hour index.
    pub fn hour(&self) -> u64 {
        self.hour
    }

    /// The machines (client IPs) seen.
    pub fn ips(&self) -> impl Iterator<Item = &str> {
        self.machines.keys()
    }

    /// How many transactions were counted under an `OTHERS` key (domain, machine, type,
    /// name or status code) because a cap was reached, each once however many of its
    /// keys folded: messages as received, so a batch (`@...`) message is one.
    pub fn folded(&self) -> u64 {
        self.folded
    }

    /// How many batch messages (`@count;fail;sum;...` data, from sampling clients) were
    /// dropped because their data did not parse: neither counted as one plain transaction
    /// nor expanded.
    pub fn malformed_batches(&self) -> u64 {
        self.malformed_batches
    }

    /// Adds `other` (another machine's, hour's or collector's report) to this one. Counts,
    /// sums and histograms add, so merged percentiles are those of the union.
    pub fn merge(&mut self, other: &TransactionReport) {
        if self.domain.is_empty() {
            self.domain.clone_from(&other.domain);
        }
        if self.hour == 0 {
            self.hour = other.hour;
        }
        self.folded = self.folded.saturating_add(other.folded);
        self.malformed_batches = self
            .malformed_batches
            .saturating_add(other.malformed_batches);
        self.machines
            .merge_with(&other.machines, TransactionMachine::merge);
    }

    /// Whether machine `ip` has an entry for type `type_` (keys as filed: cut, and `OTHERS`
    /// for what a cap folded).
    pub fn has_type(&self, ip: &str, type_: &str) -> bool {
        self.machines
            .get(ip)
            .is_some_and(|m| m.types.get(type_).is_some())
    }

    /// Whether machine `ip` has an entry for `name` under type `type_`. LogView asks before
    /// linking a transaction to its row: past [`AnalyzerConfig::max_names_per_type`]
    /// names arrive under `OTHERS`, in arrival order, which the tree alone cannot tell.
    ///
    /// [`AnalyzerConfig::max_names_per_type`]: crate::AnalyzerConfig::max_names_per_type
    pub fn has_name(&self, ip: &str, type_: &str, name: &str) -> bool {
        let type_ = self.machines.get(ip).and_then(|m| m.types.get(type_));
        type_.is_some_and(|t| t.names.get(name).is_some())
    }

    /// Each type's transactions over every machine, by type: what picks a domain's busiest
    /// type without building its view.
    pub fn type_counts(&self) -> BTreeMap<String, u64> {
        let mut counts = BTreeMap::new();
        for machine in self.machines.values() {
            for (type_, t) in machine.types.iter() {
                let count = t.names.values().map(|n| n.totals().count).sum::<u64>();
                let total: &mut u64 = counts.entry(type_.to_owned()).or_default();
                *total = total.saturating_add(count);
            }
        }
        counts
    }

    /// The part of the report that a view of machine `ip` (`None`: every machine) and type
    /// `type_` (`None`: every type) reads, copied: every machine stays listed
    /// ([`TransactionReport::ips`]), but only the asked one keeps its entries, and of those
    /// only the asked type. For a query of that machine and type, `scoped(..).view(query)`
    /// equals `view(query)`. This is what a report query copies on the analyzer thread
    /// (which takes no tree meanwhile): one type of a domain on a thousand machines instead
    /// of all of it.
    pub fn scoped(&self, ip: Option<&str>, type_: Option<&str>) -> TransactionReport {
        let machines = self.machines.map_values(|key, machine| {
            if ip.is_some_and(|ip| ip != key) {
                return TransactionMachine::default();
            }
            match type_ {
                None => machine.clone(),
                Some(type_) => TransactionMachine {
                    types: machine
                        .types
                        .get(type_)
                        .map(|t| SortedMap::single(type_, t.clone()))
                        .unwrap_or_default(),
                },
            }
        });
        TransactionReport {
            domain: self.domain.clone(),
            hour: self.hour,
            machines,
            folded: self.folded,
            malformed_batches: self.malformed_batches,
        }
    }

    /// Machines, types and names held ([`crate::AnalyzerConfig::max_entries_per_hour`]).
    pub(crate) fn entry_count(&self) -> usize {
        self.machines
            .values()
            .map(|m| 1 + m.types.len() + m.types.values().map(|t| t.names.len()).sum::<usize>())
            .sum()
    }

    /// What `GET /api/transaction` returns.
    pub fn view(&self, query: &ViewQuery<'_>) -> TransactionView {
        TransactionView {
            domain: self.domain.clone(),
            hour: hour_label(self.hour),
            ips: self.machines.keys().map(str::to_owned).collect(),
            types: self.type_views(query, Rows::Minutes),
            folded: self.folded,
            malformed_batches: self.malformed_batches,
        }
    }

    /// The types a view shows. For a report of [`TransactionReport::in_row`] rows, `rows`
    /// says what they are: a name's and a type's rows are then listed as `hours` of a day
    /// or `days` of a week or month instead of `minutes`.
    pub(crate) fn type_views(&self, query: &ViewQuery<'_>, rows: Rows) -> Vec<TransactionTypeView> {
        let merged = match (query.machine(), query.type_) {
            // All machines, one type (a board always shows one): merge only that type.
            (None, Some(type_)) => {
                let mut of_type = self.machines.values().filter_map(|m| m.types.get(type_));
                let types = match of_type.next() {
                    Some(first) => SortedMap::single(
                        type_,
                        merge_all(
                            std::iter::once(first).chain(of_type),
                            TransactionType::merge,
                        ),
                    ),
                    None => SortedMap::default(),
                };
                Some(std::borrow::Cow::Owned(TransactionMachine { types }))
            }
            (machine, _) => self
                .machines
                .one_or_merged(machine, TransactionMachine::merge),
        };
        let machine = merged.as_deref();
        let shown = || {
            (machine.into_iter())
                .flat_map(|m| m.types.iter())
                .filter(|(type_, _)| query.type_.is_none_or(|wanted| wanted == *type_))
        };
        // One span of time for every rate the view shows (see `rate_seconds`).
        let newest_row = (shown().flat_map(|(_, t)| t.names.values()))
            .filter_map(|n| n.minutes.last_minute())
            .max();
        let elapsed = rows.rate_seconds(query.elapsed_seconds, newest_row);
        shown()
            .map(|(type_, t)| {
                let mut total = DurationStats::default();
                let mut totals = Totals::default();
                let mut total_histogram = DurationHistogram::new();
                // Counts are cheap (the sums of at most 60 rows); a name's view is not.
                let kept = busiest_names(
                    t.names.values().map(|n| n.totals().count).collect(),
                    query.max_names,
                    keep_position(t.names.keys(), query.keep_name),
                );
                let is_kept = |i: usize| kept.as_ref().is_none_or(|kept| kept[i]);
                let mut names = Vec::with_capacity(match &kept {
                    Some(_) => query.max_names.unwrap_or(0),
                    None => t.names.len(),
                });
                // The names left out still count in the type's figures, their durations
                // in one histogram for all of them.
                let left_out = || {
                    t.names
                        .values()
                        .enumerate()
                        .filter(|&(i, _)| !is_kept(i))
                        .map(|(_, n)| n)
                };
                let mut names_left_out = 0;
                for n in left_out() {
                    total.merge(&n.stats);
                    totals.add(n.totals());
                    names_left_out += 1;
                }
                if names_left_out > 0 {
                    total_histogram =
                        MinuteHistograms::union(left_out().map(|n| &n.minute_durations));
                }
                for (i, (name, n)) in t.names.iter().enumerate() {
                    if !is_kept(i) {
                        continue;
                    }
                    let histogram = n.minute_durations.to_histogram();
                    total.merge(&n.stats);
                    totals.add(n.totals());
                    total_histogram.merge(&histogram);
                    let mut view = n.view(name, &histogram, elapsed);
                    if query.keep_name == Some(name) {
                        view.distribution = distribution(&histogram);
                    }
                    (view.minutes, view.hours, view.days) = rows.split(
                        std::mem::take(&mut view.minutes),
                        TransactionMinuteView::in_day,
                        TransactionMinuteView::in_span,
                    );
                    names.push(view);
                }
                // Its names' minutes add up to the type's unless some are left out.
                let (minutes, hours, days) = match rows {
                    Rows::Minutes if names_left_out == 0 => Default::default(),
                    _ => rows.split(
                        t.minute_views(),
                        TransactionMinuteView::in_day,
                        TransactionMinuteView::in_span,
                    ),
                };
                TransactionTypeView {
                    type_: type_.to_owned(),
                    figures: total.figures(totals, &total_histogram, elapsed),
                    minutes,
                    hours,
                    days,
                    names,
                    names_left_out,
                }
            })
            .collect()
    }

    /// This report with each name's minutes folded into one row, and one histogram, keyed
    /// `row` in place of a minute: what a day, week or month of reports keeps of each hour
    /// ([`crate::TransactionDay`]; `row` is the hour of the day, or the day of the week or
    /// month, [`crate::Span::row_of`]). Minute rows of different hours would add up by
    /// minute of the hour, which means nothing; hour rows keep the day's hourly series,
    /// and a day costs at most 24 rows per name instead of 60. A row's count saturates at
    /// 4 billion per name, machine and hour (as a minute's does per minute).
    pub(crate) fn in_row(&self, row: u8) -> TransactionReport {
        let machines = self.machines.map_values(|_, machine| TransactionMachine {
            types: machine.types.map_values(|_, t| TransactionType {
                names: t.names.map_values(|_, n| n.in_one_row(row)),
            }),
        });
        TransactionReport {
            domain: self.domain.clone(),
            hour: self.hour,
            machines,
            folded: self.folded,
            malformed_batches: self.malformed_batches,
        }
    }

    /// This report with every machine merged into one (keyed by the empty string): what
    /// the "All" view of the hour reads. A day merges these hour by hour for its own "All"
    /// view ([`crate::TransactionDay`]), so what the newest failures, the slowest message
    /// and the sample are follows the hours, not the order of the machines' keys.
    pub(crate) fn machines_merged(&self) -> TransactionReport {
        let machines = self
            .machines
            .one_or_merged(None, TransactionMachine::merge)
            .map(|all| SortedMap::single("", all.into_owned()))
            .unwrap_or_default();
        TransactionReport {
            domain: self.domain.clone(),
            hour: self.hour,
            machines,
            folded: self.folded,
            malformed_batches: self.malformed_batches,
        }
    }
}

impl TransactionType {
    /// The type's minute rows: all its names added up, the P95 of the union of their
    /// durations.
    fn minute_views(&self) -> Vec<TransactionMinuteView> {
        let mut rows: BTreeMap<u8, Totals> = BTreeMap::new();
        for n in self.names.values() {
            for m in n.minutes.iter() {
                rows.entry(m.minute()).or_default().add(Totals {
                    count: u64::from(m.count()),
                    fail: u64::from(m.fail()),
                    sum_us: m.sum_us(),
                });
            }
        }
        let durations = merge_all(
            self.names.values().map(|n| &n.minute_durations),
            MinuteHistograms::merge,
        );
        // The type's [min, max]: its names' together.
        let mut stats = DurationStats::default();
        for n in self.names.values().filter(|n| n.stats.durations > 0) {
            stats.min_us = if stats.durations == 0 {
                n.stats.min_us
            } else {
                stats.min_us.min(n.stats.min_us)
            };
            stats.max_us = stats.max_us.max(n.stats.max_us);
            stats.durations = stats.durations.saturating_add(n.stats.durations);
        }
        rows.into_iter()
            .map(|(minute, totals)| TransactionMinuteView {
                minute,
                count: totals.count,
                fail: totals.fail,
                avg: totals.sum_us as f64 / totals.count.max(1) as f64 / 1000.0,
                p95: durations
                    .quantile(minute, 0.95)
                    .map_or(0.0, |v| stats.clamp_us(v) / 1000.0),
            })
            .collect()
    }
}

impl TransactionMinuteView {
    /// This row, read as day `minute` of the week or month that starts on `first_day`.
    fn in_span(self, first_day: u64) -> TransactionDateView {
        TransactionDateView {
            day: day_label(first_day.saturating_add(u64::from(self.minute))),
            count: self.count,
            fail: self.fail,
            avg: self.avg,
            p95: self.p95,
        }
    }

    /// This row, read as hour `minute` of the day that starts at hour `day_start`.
    fn in_day(self, day_start: u64) -> TransactionHourView {
        TransactionHourView {
            hour: hour_label(day_start + u64::from(self.minute)),
            count: self.count,
            fail: self.fail,
            avg: self.avg,
            p95: self.p95,
        }
    }
}

/// `GET /api/transaction`: `{"domain","hour","ips":[..],"types":[..],"folded",
/// "malformedBatches"}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TransactionView {
    /// The domain.
    pub domain: String,
    /// `YYYYMMDDHH` (UTC).
    pub hour: String,
    /// Every machine of the report (the query's `ip` picks one of them, or `All`).
    pub ips: Vec<String>,
    /// Per type, sorted by type.
    pub types: Vec<TransactionTypeView>,
    /// Transactions of the hour (every machine's, whatever `ip` picks) counted under an
    /// `OTHERS` key because a cap was reached, each once ([`TransactionReport::folded`]).
    pub folded: u64,
    /// Batch messages of the hour (every machine's) dropped because their data did not
    /// parse ([`TransactionReport::malformed_batches`]).
    pub malformed_batches: u64,
}

/// One type: its figures (all its names together) and its names.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TransactionTypeView {
    /// The type.
    #[serde(rename = "type")]
    pub type_: String,
    /// Count, failures, durations, percentiles.
    #[serde(flatten)]
    pub figures: DurationFigures,
    /// In an hour's view with names left out ([`ViewQuery::max_names`]), the minutes with
    /// messages, all names added up (the listed names no longer add up to the type);
    /// otherwise empty and not serialized.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub minutes: Vec<TransactionMinuteView>,
    /// In a day's view ([`crate::TransactionDayView`]), the hours with messages; empty
    /// (and not serialized) in an hour's.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hours: Vec<TransactionHourView>,
    /// In a week's or month's view ([`crate::TransactionSpanView`]), the days with
    /// messages; empty (and not serialized) otherwise.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub days: Vec<TransactionDateView>,
    /// Per name, sorted by name: every name, or with [`ViewQuery::max_names`] the busiest.
    pub names: Vec<TransactionNameView>,
    /// Names not listed because of [`ViewQuery::max_names`] (counted in the type's figures
    /// all the same); not serialized when 0.
    #[serde(skip_serializing_if = "is_zero")]
    pub names_left_out: u64,
}

/// The figures of a type or name. Durations are milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DurationFigures {
    /// Messages.
    pub count: u64,
    /// Messages whose status is not `"0"`.
    pub fail: u64,
    /// `100 * fail / count`.
    pub fail_percent: f64,
    /// Shortest duration (ms).
    pub min: f64,
    /// Longest duration (ms).
    pub max: f64,
    /// Mean duration (ms).
    pub avg: f64,
    /// Standard deviation (ms, population).
    pub std: f64,
    /// Messages per second over the query's elapsed seconds.
    pub tps: f64,
    /// Median (ms), within 1 %.
    pub p50: f64,
    /// 90th percentile (ms), within 1 %.
    pub p90: f64,
    /// 95th percentile (ms), within 1 %.
    pub p95: f64,
    /// 99th percentile (ms), within 1 %.
    pub p99: f64,
    /// 99.9th percentile (ms), within 1 %.
    pub p999: f64,
}

/// One name: figures, sample message IDs and minutes.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TransactionNameView {
    /// The name.
    pub name: String,
    /// Count, failures, durations, percentiles.
    #[serde(flatten)]
    pub figures: DurationFigures,
    /// Failed messages per status (at most 100 statuses, then `OTHERS`).
    pub status_codes: BTreeMap<String, u64>,
    /// A successful message (empty if none).
    pub sample_message_id: String,
    /// Up to 10 failed messages.
    pub fail_message_ids: Vec<String>,
    /// The slowest message.
    pub slowest_message_id: String,
    /// Minutes with messages, ascending; empty in a day's view, whose rows are `hours`
    /// (minutes of different hours do not add up).
    pub minutes: Vec<TransactionMinuteView>,
    /// In a day's view, the hours with messages, ascending; empty (and not serialized) in
    /// an hour's.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hours: Vec<TransactionHourView>,
    /// In a week's or month's view, the days with messages, ascending; empty (and not
    /// serialized) otherwise.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub days: Vec<TransactionDateView>,
    /// For the name the query names ([`ViewQuery::keep_name`]) only: its transactions per
    /// CAT power-of-two duration bucket, all 18 (up to 1 ms, 2, 4, ... 65 536 ms, then
    /// slower), from its histogram over the view's machines and hours. Empty (and not
    /// serialized) for every other name, so views of many names do not grow.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub distribution: Vec<DurationBucketView>,
}

/// One minute of one name.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TransactionMinuteView {
    /// Minute of the hour, 0..59.
    pub minute: u8,
    /// Messages.
    pub count: u64,
    /// Failed messages.
    pub fail: u64,
    /// Mean duration (ms).
    pub avg: f64,
    /// 95th percentile (ms), within 1 %.
    pub p95: f64,
}

/// One hour of a day of a type or name ([`crate::TransactionDayView`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TransactionHourView {
    /// `YYYYMMDDHH` (UTC).
    pub hour: String,
    /// Messages.
    pub count: u64,
    /// Failed messages.
    pub fail: u64,
    /// Mean duration (ms).
    pub avg: f64,
    /// 95th percentile (ms) of the hour's durations, within 1 %.
    pub p95: f64,
}

/// One day of a week or month of a type or name ([`crate::TransactionSpanView`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TransactionDateView {
    /// `YYYYMMDD` (UTC).
    pub day: String,
    /// Messages.
    pub count: u64,
    /// Failed messages.
    pub fail: u64,
    /// Mean duration (ms).
    pub avg: f64,
    /// 95th percentile (ms) of the day's durations, within 1 %.
    pub p95: f64,
}
