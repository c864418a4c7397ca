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
