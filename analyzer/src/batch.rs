//! Client-side batch data (cat-design 1.6): `@count;fail;sumMillis;d,c|d,c...` on
//! transactions and `@count;fail` on events, sent under `System/TransactionAggregator` and
//! `System/EventAggregator` roots.

/// A parsed transaction batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TransactionBatch {
    pub(crate) count: u64,
    pub(crate) fail: u64,
    pub(crate) sum_ms: u64,
    /// `(duration bucket in ms, count)`; the client already bucketed the durations.
    pub(crate) durations: Vec<(u64, u64)>,
}

/// Parses `@count;fail;sum;d,c|d,c...` (Java appends a fifth `;long durations` field,
/// ignored). `None` when `data` is not batch data or is malformed: the caller then counts
/// the message as a plain one.
#[inline]
pub(crate) fn parse_transaction_batch(data: &str) -> Option<TransactionBatch> {
    // Inlined so that the common case, data that is not batch data, costs one compare.
    let batch = data.strip_prefix('@')?;
    parse_transaction_batch_fields(batch)
}

fn parse_transaction_batch_fields(batch: &str) -> Option<TransactionBatch> {
    let mut fields = batch.split(';');
    let count = fields.next()?.trim().parse().ok()?;
    let fail = fields.next()?.trim().parse().ok()?;
    let sum_ms = parse_number(fields.next().unwrap_or("0"))?;
    let mut durations = Vec::new();
    for pair in fields.next().unwrap_or("").split('|') {
        if pair.is_empty() {
            continue;
        }
        let (d, c) = pair.split_once(',')?;
        durations.push((parse_number(d)?, c.trim().parse().ok()?));
    }
    Some(TransactionBatch {
        count,
        fail,
        sum_ms,
        durations,
    })
}

impl TransactionBatch {
    /// An estimate of the sum of the squared durations (µs²) behind the bucketed ones, for
    /// the standard deviation. The keys are the floors of CAT's `computeDuration` buckets
    /// (up to 10 s wide), so their own squares, around the exact mean the sum gives, make
    /// the variance far too low, often negative (CAT does not add them at all). Each bucket
    /// is taken as spread evenly over its width: its mean at the middle, shifted so that all
    /// together have the batch's exact sum, and its spread `width² / 12` added. Durations
    /// spread over a bucket's width come out exact.
    pub(crate) fn sum_of_squares_us2(&self) -> u128 {
        // Saturating: the counts are the client's, and may add up past a `u64`.
        let n = self
            .durations
            .iter()
            .fold(0u64, |n, &(_, c)| n.saturating_add(c));
        if n == 0 {
            return 0;
        }
        let middles: f64 = self
            .durations
            .iter()
            .map(|&(key, c)| (key as f64 + bucket_width_ms(key) / 2.0) * c as f64)
            .sum();
        // Only when the pairs account for the whole batch is its sum theirs to match.
        let shift_ms = if n == self.count {
            (self.sum_ms as f64 - middles) / n as f64
        } else {
            0.0
        };
        let ms2: f64 = self
            .durations
            .iter()
            .map(|&(key, c)| {
                let width = bucket_width_ms(key);
                let mean = (key as f64 + width / 2.0 + shift_ms).max(0.0);
                (mean * mean + width * width / 12.0) * c as f64
            })
            .sum();
        // µs² = ms² × 10⁶; `as` saturates (and maps NaN to 0).
        (ms2 * 1e6) as u128
    }
}

/// The width (ms) of the `computeDuration` bucket whose key is `key` (cat-design §6.1): 1 ms
/// below 20 ms, then 5, 20, 50, 500 and 10 000. Keys from 1 000 000 ms up are powers of two
/// rounded up, not floors; they count as exact.
fn bucket_width_ms(key: u64) -> f64 {
    match key {
        0..20 => 1.0,
        20..200 => 5.0,
        200..500 => 20.0,
        500..2_000 => 50.0,
        2_000..20_000 => 500.0,
        20_000..1_000_000 => 10_000.0,
        _ => 0.0,
    }
}

/// Parses `@count;fail`. `None` when `data` is not batch data or is malformed.
#[inline]
pub(crate) fn parse_event_batch(data: &str) -> Option<(u64, u64)> {
    let batch = data.strip_prefix('@')?;
    parse_event_batch_fields(batch)
}

fn parse_event_batch_fields(batch: &str) -> Option<(u64, u64)> {
    let mut fields = batch.split(';');
    let count = fields.next()?.trim().parse().ok()?;
    let fail = fields.next().map_or(Some(0), |f| f.trim().parse().ok())?;
    Some((count, fail))
}

/// An integer, or a decimal that the Java client may write for sums (rounded down).
fn parse_number(text: &str) -> Option<u64> {
    let text = text.trim();
    if text.is_empty() {
        return Some(0);
    }
    text.parse::<u64>().ok().or_else(|| {
        text.parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v >= 0.0)
            .map(|v| v as u64)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_squares_of_bucketed_durations_spread_each_bucket_over_its_width() {
        // 5 durations of 20..=24 ms (one 5 ms bucket, sum 110): the bucket's middle shifted
        // to the exact mean of 22, and a spread of 5² / 12 ms² each (the exact 2 430 ms²
        // has a spread of 2: integer milliseconds).
        let batch = parse_transaction_batch("@5;0;110;20,5").unwrap();
        let expected = 5.0 * (22.0f64 * 22.0 + 25.0 / 12.0) * 1e6;
        assert_eq!(batch.sum_of_squares_us2(), expected as u128);
        // Pairs that do not account for the whole count: no shift to the batch's sum.
        let partial = parse_transaction_batch("@9;0;999;20,5").unwrap();
        let middle = 22.5f64;
        let expected = 5.0 * (middle * middle + 25.0 / 12.0) * 1e6;
        assert_eq!(partial.sum_of_squares_us2(), expected as u128);
        // Keys past 1 000 s are powers of two, counted as exact; no pairs, nothing.
        let huge = parse_transaction_batch("@1;0;1048576;1048576,1").unwrap();
        assert_eq!(
            huge.sum_of_squares_us2(),
            1_048_576u128 * 1_048_576 * 1_000_000
        );
        assert_eq!(
            parse_transaction_batch("@3;0;30")
                .unwrap()
                .sum_of_squares_us2(),
            0
        );
    }

    #[test]
    fn squares_of_counts_past_a_u64_do_not_overflow() {
        let batch = parse_transaction_batch("@5;0;9;1,18446744073709551615|2,1").unwrap();
        assert!(batch.sum_of_squares_us2() > 0);
    }

    #[test]
    fn transaction_batch_with_durations_parses() {
        let batch = parse_transaction_batch("@10;2;345;1,3|20,5|300,2").unwrap();
        assert_eq!(
            batch,
            TransactionBatch {
                count: 10,
                fail: 2,
                sum_ms: 345,
                durations: vec![(1, 3), (20, 5), (300, 2)],
            }
        );
    }

    #[test]
    fn java_fifth_field_is_ignored() {
        let batch = parse_transaction_batch("@2;0;30;10,1|20,1;20,1").unwrap();
        assert_eq!(batch.durations, vec![(10, 1), (20, 1)]);
    }

    #[test]
    fn plain_data_and_garbage_are_not_batches() {
        assert_eq!(parse_transaction_batch("k=v"), None);
        assert_eq!(parse_transaction_batch("@x;1;2;"), None);
        assert_eq!(parse_transaction_batch("@1;0;5;7"), None);
        assert_eq!(parse_event_batch("@"), None);
    }

    #[test]
    fn event_batch_parses() {
        assert_eq!(parse_event_batch("@12;3"), Some((12, 3)));
        assert_eq!(parse_event_batch("@4"), Some((4, 0)));
    }
}
