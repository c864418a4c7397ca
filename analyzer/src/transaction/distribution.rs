//! A name's duration distribution: CAT's Transaction report counts, per name, the
//! transactions that took up to 1 ms, up to 2, 4, 8, ... up to 65 536 ms, and more
//! ([`DurationBucketView`]). Ocelot reads these counts from the name's duration histogram
//! instead of keeping them: the histogram already holds every duration, merges exactly over
//! machines and hours, and a 1 % bucket lies inside one power-of-two range except at the
//! bounds.
//!
//! Design constraints: the distribution is built only for the name a query names
//! ([`crate::ViewQuery::keep_name`]), so the views of many names stay the size they were;
//! its counts are within the histogram's accuracy ([`DurationHistogram::counts_up_to`]:
//! every duration at or below a bound counts under it, and one less than 1.92 % above a
//! bound may too).

use serde::Serialize;

use crate::histogram::DurationHistogram;

/// CAT's largest bound is `2^16` ms (about 65 s): every slower transaction counts in the
/// last bucket.
const LAST_BOUND_LOG2: u32 = 16;

/// Microseconds per millisecond: durations are recorded in microseconds.
const US_PER_MS: u64 = 1_000;

/// One of CAT's power-of-two duration buckets of a name: how many of its transactions took
/// at most `up_to_ms` and more than the bucket before's bound.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DurationBucketView {
    /// The bucket's upper bound in ms (1, 2, 4, ... 65 536), or `None` (`null`) for the
    /// last bucket: everything slower than 65 536 ms.
    pub up_to_ms: Option<u64>,
    /// Transactions, within the histogram's accuracy (a duration less than 1.92 % above a
    /// bound may count under it).
    pub count: u64,
}

/// The 18 buckets of `histogram` (microseconds), empty ones included, fastest first. Their
/// counts add up to the durations recorded: the name's count, unless batch data sent fewer
/// durations than messages.
pub(crate) fn distribution(histogram: &DurationHistogram) -> Vec<DurationBucketView> {
    let bounds_ms: Vec<u64> = (0..=LAST_BOUND_LOG2).map(|k| 1 << k).collect();
    let bounds_us: Vec<u64> = bounds_ms.iter().map(|ms| ms * US_PER_MS).collect();
    bounds_ms
        .into_iter()
        .map(Some)
        .chain([None])
        .zip(histogram.counts_up_to(&bounds_us))
        .map(|(up_to_ms, count)| DurationBucketView { up_to_ms, count })
        .collect()
}
