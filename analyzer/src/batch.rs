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

/// Batch data (it starts with `@`) that does not parse: a count that is not a whole
/// number or does not fit 64 bits, a negative or missing field, a pair without its comma.
/// The message is dropped and counted: CAT's batch path throws on it, and counting it as
/// one plain transaction would add a made-up duration of 0 ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MalformedBatch;

/// Parses `@count;fail;sum;d,c|d,c...` (Java appends a fifth `;long durations` field,
/// ignored). `None` when `data` is not batch data (does not start with `@`), an error when
/// it is but does not parse.
#[inline]
pub(crate) fn parse_transaction_batch(
    data: &str,
) -> Option<Result<TransactionBatch, MalformedBatch>> {
    // Inlined so that the common case, data that is not batch data, costs one compare.
    let batch = data.strip_prefix('@')?;
    Some(parse_transaction_batch_fields(batch).ok_or(MalformedBatch))
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
    /// the variance far too low, often negative (CAT does not add them at all).
    ///
    /// Each bucket holds whole milliseconds ([`bucket_range_ms`]). Its durations are taken
    /// as spread evenly over it around a mean: its middle, moved by one shift common to all
    /// buckets so that together they have the batch's exact sum, but never out of its
    /// bucket. A mean near an end of its bucket leaves little room to spread: at most
    /// `(mean - low)(high - mean)` (no set of values in `low..=high` with that mean spreads
    /// more), none at an end. So durations spread evenly over their buckets come out exact,
    /// and so do durations all on their keys (ten calls of exactly 100 ms: std 0).
    pub(crate) fn sum_of_squares_us2(&self) -> u128 {
        // Saturating: the counts are the client's, and may add up past a `u64`.
        let n = self
            .durations
            .iter()
            .fold(0u64, |n, &(_, c)| n.saturating_add(c));
        if n == 0 {
            return 0;
        }
        // Only when the pairs account for the whole batch is its sum theirs to match.
        let shift = if n == self.count {
            self.shift_to_sum_ms(n)
        } else {
            Shift::Clamped(0.0)
        };
        let ms2: f64 = self
            .durations
            .iter()
            .map(|&(key, c)| {
                let (low, high) = bucket_range_ms(key);
                let middle = (low + high) / 2.0;
                let mean = match shift {
                    Shift::Clamped(shift) => (middle + shift).clamp(low, high),
                    Shift::Unclamped(shift) => (middle + shift).max(0.0),
                };
                let width = high - low + 1.0;
                let even = (width * width - 1.0) / 12.0;
                let room = ((mean - low) * (high - mean)).max(0.0);
                (mean * mean + even.min(room)) * c as f64
            })
            .sum();
        // µs² = ms² × 10⁶; `as` saturates (and maps NaN to 0).
        (ms2 * 1e6) as u128
    }

    /// The shift of the buckets' middles, each mean kept in its bucket, that gives the
    /// batch's sum. That sum grows with the shift, linearly between the shifts at which a
    /// bucket's mean reaches an end of its bucket (plus or minus half a bucket width), so
    /// it is found between two of those. A sum the buckets cannot hold (a client's error)
    /// gets the plain shift, means out of their buckets, so that they still add up to it.
    fn shift_to_sum_ms(&self, n: u64) -> Shift {
        let halves = KEYS_BY_WIDTH.map(|key| {
            let (low, high) = bucket_range_ms(key);
            (high - low) / 2.0
        });
        let ends = (halves.iter().rev().map(|half| -half))
            .chain([0.0])
            .chain(halves);
        let target = self.sum_ms as f64;
        let mut previous: Option<(f64, f64)> = None;
        for shift in ends {
            let sum = self.sum_at(shift, true);
            if sum >= target {
                match previous {
                    Some((s0, sum0)) => {
                        return Shift::Clamped(s0 + (shift - s0) * (target - sum0) / (sum - sum0))
                    }
                    None if sum == target => return Shift::Clamped(shift),
                    None => break,
                }
            }
            previous = Some((shift, sum));
        }
        Shift::Unclamped((target - self.sum_at(0.0, false)) / n as f64)
    }

    /// The sum (ms) of the buckets' middles moved by `shift_ms`, each kept in its bucket if
    /// `clamped`.
    fn sum_at(&self, shift_ms: f64, clamped: bool) -> f64 {
        (self.durations.iter())
            .map(|&(key, c)| {
                let (low, high) = bucket_range_ms(key);
                let mean = (low + high) / 2.0 + shift_ms;
                let mean = if clamped { mean.clamp(low, high) } else { mean };
                mean * c as f64
            })
            .sum()
    }
}

/// How [`TransactionBatch::shift_to_sum_ms`] moves the buckets' middles (ms).
#[derive(Debug, Clone, Copy)]
enum Shift {
    /// Each mean kept inside its bucket.
    Clamped(f64),
    /// Means may leave their buckets (not below 0): the sum is out of the buckets' reach.
    Unclamped(f64),
}

/// The whole milliseconds of the `computeDuration` bucket whose key is `key` (cat-design
/// §6.1), lowest and highest: `key` alone below 20 ms (but `1` holds 0 ms too: durations
/// under 1 ms count as 1), then buckets 5, 20, 50, 500 and 10 000 ms wide. Keys from
/// 1 000 000 ms up are powers of two rounded up, not floors; they count as exact.
fn bucket_range_ms(key: u64) -> (f64, f64) {
    let width = match key {
        0..20 => 1,
        20..200 => 5,
        200..500 => 20,
        500..2_000 => 50,
        2_000..20_000 => 500,
        20_000..1_000_000 => 10_000,
        _ => 1,
    };
    let low = if key == 1 { 0 } else { key };
    (low as f64, (key + (width - 1)) as f64)
}

/// A key of each bucket width [`bucket_range_ms`] gives, narrowest first (the keys that
/// hold one millisecond alone, and those from 1 000 000 ms up, have no width).
const KEYS_BY_WIDTH: [u64; 6] = [1, 20, 200, 500, 2_000, 20_000];

/// Parses `@count;fail` (`@count` alone has no failures). `None` when `data` is not batch
/// data (does not start with `@`), an error when it is but does not parse.
pub(crate) fn parse_event_batch(data: &str) -> Option<Result<(u64, u64), MalformedBatch>> {
    let batch = data.strip_prefix('@')?;
    Some(parse_event_batch_fields(batch).ok_or(MalformedBatch))
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

    /// `data`, which must be well-formed batch data.
    fn batch(data: &str) -> TransactionBatch {
        parse_transaction_batch(data).unwrap().unwrap()
    }

    #[test]
    fn the_squares_of_bucketed_durations_spread_each_bucket_over_its_width() {
        // 5 durations of 20..=24 ms (one 5 ms bucket, sum 110): the bucket's middle, 22, is
        // their mean, and whole milliseconds spread evenly over 5 have (5² - 1) / 12 = 2 ms²
        // each: the exact 2 430 ms².
        assert_eq!(
            batch("@5;0;110;20,5").sum_of_squares_us2(),
            2_430 * 1_000_000
        );
        // Pairs that do not account for the whole count: no shift to the batch's sum.
        assert_eq!(
            batch("@9;0;999;20,5").sum_of_squares_us2(),
            2_430 * 1_000_000
        );
        // Keys past 1 000 s are powers of two, counted as exact; no pairs, nothing.
        assert_eq!(
            batch("@1;0;1048576;1048576,1").sum_of_squares_us2(),
            1_048_576u128 * 1_048_576 * 1_000_000
        );
        assert_eq!(batch("@3;0;30").sum_of_squares_us2(), 0);
    }

    #[test]
    fn durations_on_their_keys_have_no_spread() {
        // Ten calls of exactly 100 ms: the sum puts the bucket's mean at its low end, where
        // there is no room to spread (it was 100² + 5² / 12 each, a std of 1.44 ms).
        assert_eq!(
            batch("@10;0;1000;100,10").sum_of_squares_us2(),
            10 * 100 * 100 * 1_000_000
        );
        // Ten of 100 ms and ten of 200 ms: each mean stays in its bucket, so the 20 ms
        // the even spreads would put too high come off the wider bucket (one common shift
        // put the narrow one's mean below 100), and the squares are exact.
        assert_eq!(
            batch("@20;0;3000;100,10|200,10").sum_of_squares_us2(),
            (10 * 100 * 100 + 10 * 200 * 200) * 1_000_000
        );
        // And at the top of the bucket: ten calls of 104 ms.
        assert_eq!(
            batch("@10;0;1040;100,10").sum_of_squares_us2(),
            10 * 104 * 104 * 1_000_000
        );
    }

    #[test]
    fn a_sum_the_buckets_cannot_hold_still_gives_a_sum_of_squares() {
        // 10 calls in the 100 ms bucket cannot add up to 500 ms: the means leave their
        // buckets to match the sum (50 ms each), as before.
        assert_eq!(
            batch("@10;0;500;100,10").sum_of_squares_us2(),
            10 * 50 * 50 * 1_000_000
        );
    }

    #[test]
    fn squares_of_counts_past_a_u64_do_not_overflow() {
        let batch = batch("@5;0;9;1,18446744073709551615|2,1");
        assert!(batch.sum_of_squares_us2() > 0);
    }

    #[test]
    fn transaction_batch_with_durations_parses() {
        assert_eq!(
            batch("@10;2;345;1,3|20,5|300,2"),
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
        let batch = batch("@2;0;30;10,1|20,1;20,1");
        assert_eq!(batch.durations, vec![(10, 1), (20, 1)]);
    }

    #[test]
    fn plain_data_is_not_a_batch_and_garbage_is_a_malformed_one() {
        assert_eq!(parse_transaction_batch("k=v"), None);
        for garbage in [
            "@",
            "@x;1;2;",
            "@1;0;5;7",
            "@abc;;;",
            "@-5;10;1",
            "@3",
            "@99999999999999999999999;0;1",
            "@1;0;-4",
        ] {
            assert_eq!(
                parse_transaction_batch(garbage),
                Some(Err(MalformedBatch)),
                "{garbage}"
            );
        }
    }

    #[test]
    fn event_batch_parses_and_garbage_is_a_malformed_one() {
        assert_eq!(parse_event_batch("@12;3"), Some(Ok((12, 3))));
        assert_eq!(parse_event_batch("@4"), Some(Ok((4, 0))));
        assert_eq!(parse_event_batch("k=v"), None);
        assert_eq!(parse_event_batch(""), None);
        for garbage in [
            "@",
            "@x",
            "@;1",
            "@3;x",
            "@-5;1",
            "@99999999999999999999999;0",
        ] {
            assert_eq!(
                parse_event_batch(garbage),
                Some(Err(MalformedBatch)),
                "{garbage}"
            );
        }
    }
}
