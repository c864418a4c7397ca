//! [`MetricAggregator`]: metrics logged outside any transaction, added up per name until they
//! are sent together as one `System/MetricAggregator` tree, as CAT's clients do (reference
//! 1.6).
//!
//! Without it, a metric logged with no transaction open is a tree of its own: a message ID, a
//! queue slot and a whole frame on the wire for every call of a hot counter. With it, the call
//! adds to a tally, and about once a second (the sender thread's housekeeping, see
//! `sender.rs`) the tallies go out as one tree: a `System/MetricAggregator` transaction
//! (duration 0, status `0`) holding one `M` message per tally, type `""`, name the metric's,
//! status `C` with data `<count>`, or `S,C` with data `<count>,<sum>`. The collector reads those
//! exactly as it reads the calls one by one (`BusinessAnalyzer.parseValue` in CAT, our
//! analyzer's `metric` module): the same count and sum, in the same minute.
//!
//! What is aggregated:
//! * `C` (`metric_count!`): counts add up.
//! * `S` and `S,C` (`metric_sum!`): counts and sums add up, sent as `S,C`. The report's figures
//!   are the same; its kind label for a name first seen this way is `S,C` rather than `S` (both
//!   are charted and alerted on as sums).
//! * Not `T` (`metric_duration!`): the analyzer counts a `T` metric once with its value and
//!   charts the mean, and no aggregated form reads back that way (CAT's C client sends durations
//!   as `S,C`, which our web pages would chart as a sum), so a duration logged outside a
//!   transaction is still a tree of its own.
//! * Nothing whose value the analyzer would not read (a count that is not a whole number, a
//!   sum that is not a finite number): it goes out as before, a tree of its own, for the
//!   collector to count as ignored.
//!
//! Design constraints: the app thread never waits for the sender or for I/O. A call takes one
//! of [`SHARDS`] mutexes, picked by the calling thread's number, so threads do not share a
//! lock until there are more of them than shards, and the sender thread takes each lock only
//! long enough to swap the shard's map for an empty one. Memory is bounded: a shard holds at
//! most [`MAX_METRIC_NAMES`] names with [`MAX_TALLIES_PER_NAME`] tallies each; metrics past
//! either bound are dropped and counted ([`crate::DropReason::MetricNamesFull`]). A drain
//! sends everything it took, in trees of at most [`METRICS_PER_TREE`] metrics (a tree's
//! size stays far below the queue's byte bound and CAT's 2 000 messages a tree).
//!
//! Exactness: tallies are kept per minute (the analyzer's granularity) and trees per hour (a
//! tree counts in its root's hour), so a flush that spans a minute or an hour boundary still
//! puts every metric in its own minute and hour. Sums are added in a different order than the
//! analyzer would add the single values, which matters only for fractional values, in the last
//! bits.

use std::collections::HashMap;
use std::fmt::{self, Display, Write as _};
use std::sync::{Mutex, PoisonError};

use ocelot_protocol::{hour_of, SUCCESS};

use crate::process::lock_in;
use crate::record::{Kind, Record, Text};

/// At most this many distinct metric names per shard and per tree: a client that makes names
/// up (an ID in the name) keeps its memory and its trees bounded. The collector keeps only so
/// many names per domain and hour anyway (`max_metric_names`).
pub(crate) const MAX_METRIC_NAMES: usize = 1000;
/// Metrics one aggregator tree holds at most; a drain with more sends several trees.
pub(crate) const METRICS_PER_TREE: usize = 500;
/// Tallies of one name in one shard: two kinds (count and sum) in two minutes, for a flush that
/// spans a minute boundary. More happens only if nothing flushes for minutes.
pub(crate) const MAX_TALLIES_PER_NAME: usize = 4;
/// Shards, each behind its own mutex. Threads are numbered from 1 in the order they first
/// record, so up to this many threads never share a lock. Measured on 2 vCPUs with 8 threads on
/// one name: see client-sdk/BENCHMARKS.md.
pub(crate) const SHARDS: usize = 16;
/// The `threadName` header of an aggregator tree, which no application thread made.
pub(crate) const THREAD_NAME: &str = "ocelot-metric-aggregator";
/// The `threadId` of the aggregators' trees (metrics and sampled trees): application
/// threads are numbered from 1.
pub(crate) const THREAD_ID: u64 = 0;

pub(crate) const MILLIS_PER_MINUTE: u64 = 60_000;

/// How a metric's values add up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum MetricKind {
    /// `C`: counts.
    Count,
    /// `S` and `S,C`: counts and sums.
    Sum,
}

/// What one metric call adds: its kind, count and sum, as the analyzer reads them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Amount {
    kind: MetricKind,
    count: u64,
    sum: f64,
}

impl Amount {
    /// A `C` metric whose data is `value`, if the analyzer would count it: empty means 1,
    /// otherwise a whole number.
    pub(crate) fn count(value: &dyn Display) -> Option<Amount> {
        let text = ValueText::of(value)?;
        let text = text.as_str().trim();
        let count = if text.is_empty() {
            1
        } else {
            text.parse().ok()?
        };
        Some(Amount {
            kind: MetricKind::Count,
            count,
            sum: count as f64,
        })
    }

    /// An `S` metric whose data is `value`: one item summing to it, if it is a finite number.
    pub(crate) fn sum(value: &dyn Display) -> Option<Amount> {
        Some(Amount {
            kind: MetricKind::Sum,
            count: 1,
            sum: finite_number(value)?,
        })
    }

    /// An `S,C` metric: `count` items summing to `value`, if the count is a whole number and
    /// the sum a finite one.
    pub(crate) fn sum_count(value: &dyn Display, count: &dyn Display) -> Option<Amount> {
        let count = ValueText::of(count)?.as_str().trim().parse().ok()?;
        Some(Amount {
            kind: MetricKind::Sum,
            count,
            sum: finite_number(value)?,
        })
    }
}

fn finite_number(value: &dyn Display) -> Option<f64> {
    let text = ValueText::of(value)?;
    text.as_str()
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
}

/// Longest value text read on the stack: any integer, and floats written in up to this many
/// characters. Longer ones (Rust writes `1e300_f64` with 301 digits) are not aggregated.
const VALUE_TEXT_BYTES: usize = 48;

/// A value's text, formatted on the stack (no allocation per call).
struct ValueText {
    bytes: [u8; VALUE_TEXT_BYTES],
    len: usize,
}

impl ValueText {
    fn of(value: &dyn Display) -> Option<ValueText> {
        let mut text = ValueText {
            bytes: [0; VALUE_TEXT_BYTES],
            len: 0,
        };
        write!(text, "{value}").ok()?;
        Some(text)
    }

    fn as_str(&self) -> &str {
        // Whole `&str` pieces only were copied in, so this is UTF-8.
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or("")
    }
}

impl fmt::Write for ValueText {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        let slot = self.bytes.get_mut(self.len..end).ok_or(fmt::Error)?;
        slot.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Everything added for one name, kind and minute since the last flush.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Tally {
    kind: MetricKind,
    /// Minutes since the epoch.
    minute: u64,
    /// When the first call of this tally was made: the timestamp it is sent with.
    first_ms: u64,
    /// Calls added (what is counted as dropped if the tally is).
    calls: u64,
    count: u64,
    sum: f64,
}

impl Tally {
    fn add(&mut self, calls: u64, count: u64, sum: f64) {
        self.calls = self.calls.saturating_add(calls);
        self.count = self.count.saturating_add(count);
        self.sum = saturating_sum(self.sum, sum);
    }
}

/// `a + b` held at the largest finite value, as the analyzer adds sums: an infinite sum would
/// not parse back (the analyzer ignores non-finite data), losing the whole tally.
fn saturating_sum(a: f64, b: f64) -> f64 {
    let sum = a + b;
    if sum.is_infinite() {
        f64::MAX.copysign(sum)
    } else {
        sum
    }
}

#[derive(Debug, Default)]
struct Shard {
    /// Set by the final drain at shutdown: the shard takes nothing more.
    closed: bool,
    names: HashMap<Text, Vec<Tally>>,
}

/// One shard on a cache line pair of its own, so threads on neighbouring shards do not slow
/// each other down by writing to one line.
#[derive(Debug, Default)]
#[repr(align(128))]
struct PaddedShard(Mutex<Shard>);

/// Why [`MetricAggregator::add`] did not take a metric.
#[derive(Debug)]
pub(crate) enum Refused {
    /// Too many names (or tallies of this name): the metric is dropped.
    Full,
    /// Shut down: the name comes back, for the caller to log the metric as a tree of its own.
    Closed(Text),
}

/// A client's metrics logged outside transactions, waiting for the next flush.
#[derive(Debug)]
pub(crate) struct MetricAggregator {
    shards: Box<[PaddedShard]>,
}

impl Default for MetricAggregator {
    fn default() -> Self {
        MetricAggregator {
            shards: (0..SHARDS).map(|_| PaddedShard::default()).collect(),
        }
    }
}

/// What a drain took: the trees' records.
#[derive(Debug, Default)]
pub(crate) struct Drained {
    /// Each tree's records, root first (per hour, at most [`METRICS_PER_TREE`] metrics each).
    pub(crate) trees: Vec<Vec<Record>>,
}

impl MetricAggregator {
    /// Adds `amount` under `name`, made at `now_ms`, in the shard of thread number `thread`.
    /// `pid` is the process the aggregator belongs to: a shard locked by a thread that did
    /// not survive a fork is not waited for (the metric is refused as `Full`).
    pub(crate) fn add(
        &self,
        pid: u32,
        thread: u64,
        name: Text,
        amount: Amount,
        now_ms: u64,
    ) -> Result<(), Refused> {
        let minute = now_ms / MILLIS_PER_MINUTE;
        let index = (thread % self.shards.len() as u64) as usize;
        let Some(mut shard) = lock_in(&self.shards[index].0, pid) else {
            return Err(Refused::Full);
        };
        if shard.closed {
            return Err(Refused::Closed(name));
        }
        let full = shard.names.len() >= MAX_METRIC_NAMES;
        // Look up by `&str` first: a name seen before costs no key, and a formatted name is
        // only moved into the map the first time.
        let tallies = match shard.names.get_mut(name.as_ref()) {
            Some(tallies) => tallies,
            None if full => return Err(Refused::Full),
            None => shard.names.entry(name).or_default(),
        };
        if let Some(tally) = tallies
            .iter_mut()
            .find(|t| t.kind == amount.kind && t.minute == minute)
        {
            tally.add(1, amount.count, amount.sum);
            return Ok(());
        }
        if tallies.len() >= MAX_TALLIES_PER_NAME {
            return Err(Refused::Full);
        }
        tallies.push(Tally {
            kind: amount.kind,
            minute,
            first_ms: now_ms,
            calls: 1,
            count: amount.count,
            sum: amount.sum,
        });
        Ok(())
    }

    /// Takes everything added so far and returns it as trees' records; with `close`, the
    /// aggregator takes nothing more afterwards (shutdown). Allocates nothing when empty.
    pub(crate) fn drain(&self, close: bool) -> Drained {
        let mut taken: Vec<(Text, Tally)> = Vec::new();
        for shard in self.shards.iter() {
            let names = {
                let mut shard = shard.0.lock().unwrap_or_else(PoisonError::into_inner);
                shard.closed |= close;
                if shard.names.is_empty() {
                    continue;
                }
                std::mem::take(&mut shard.names)
            };
            for (name, mut tallies) in names {
                // The name is cloned only for a second tally, and moved into the last one.
                let last = tallies.pop();
                taken.extend(tallies.into_iter().map(|t| (name.clone(), t)));
                taken.extend(last.map(|t| (name, t)));
            }
        }
        if taken.is_empty() {
            return Drained::default();
        }
        // Hour first (one tree per hour), then name, kind and minute: the same name from
        // several shards ends up side by side and is added up there.
        taken.sort_unstable_by(|(a_name, a), (b_name, b)| {
            hour_of_minute(a.minute)
                .cmp(&hour_of_minute(b.minute))
                .then_with(|| a_name.cmp(b_name))
                .then_with(|| a.kind.cmp(&b.kind))
                .then_with(|| a.minute.cmp(&b.minute))
        });
        let mut merged: Vec<(Text, Tally)> = Vec::with_capacity(taken.len());
        for (name, tally) in taken {
            match merged.last_mut() {
                Some((last_name, last))
                    if *last_name == name
                        && last.kind == tally.kind
                        && last.minute == tally.minute =>
                {
                    last.add(tally.calls, tally.count, tally.sum);
                    last.first_ms = last.first_ms.min(tally.first_ms);
                }
                _ => merged.push((name, tally)),
            }
        }
        let mut drained = Drained::default();
        let mut merged = merged.into_iter().peekable();
        while let Some((_, first)) = merged.peek() {
            let hour = hour_of_minute(first.minute);
            let mut in_hour =
                std::iter::from_fn(|| merged.next_if(|(_, t)| hour_of_minute(t.minute) == hour))
                    .peekable();
            while in_hour.peek().is_some() {
                drained
                    .trees
                    .push(tree_records(in_hour.by_ref().take(METRICS_PER_TREE)));
            }
        }
        drained
    }
}

/// The hour index of a minute since the epoch.
pub(crate) fn hour_of_minute(minute: u64) -> u64 {
    hour_of(minute * MILLIS_PER_MINUTE)
}

/// The records of one tree: the `System/MetricAggregator` root, then one metric per tally.
fn tree_records(tallies: impl Iterator<Item = (Text, Tally)>) -> Vec<Record> {
    let root = Record::new(
        Kind::Transaction,
        Text::Borrowed("System"),
        Text::Borrowed("MetricAggregator"),
        Text::Borrowed(SUCCESS),
        u64::MAX,
    );
    let mut records = vec![root];
    for (name, tally) in tallies {
        let (status, data) = match tally.kind {
            MetricKind::Count => ("C", tally.count.to_string()),
            MetricKind::Sum => ("S,C", format!("{},{}", tally.count, tally.sum)),
        };
        let timestamp_us = tally.first_ms * 1000;
        // The root starts with the earliest metric it holds: in the same hour as all of them.
        records[0].timestamp_us = records[0].timestamp_us.min(timestamp_us);
        let mut metric = Record::new(
            Kind::Metric,
            Text::Borrowed(""),
            name,
            Text::Borrowed(status),
            timestamp_us,
        );
        metric.data = data;
        records.push(metric);
    }
    records[0].end = records.len();
    records
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR_MS: u64 = 498_703 * 3_600_000;

    fn count(n: u64) -> Amount {
        Amount::count(&n).unwrap()
    }

    fn metrics(records: &[Record]) -> Vec<(String, &str, &str, u64)> {
        records[1..]
            .iter()
            .map(|r| {
                (
                    r.name.to_string(),
                    r.status.as_ref(),
                    r.data.as_str(),
                    r.timestamp_us / 1000,
                )
            })
            .collect()
    }

    #[test]
    fn values_are_read_as_the_analyzer_reads_their_text() {
        assert_eq!(Amount::count(&3).map(|a| a.count), Some(3));
        assert_eq!(Amount::count(&"").map(|a| a.count), Some(1));
        assert_eq!(Amount::count(&" 7 ").map(|a| a.count), Some(7));
        assert_eq!(Amount::count(&-1), None);
        assert_eq!(Amount::count(&1.5), None);
        assert_eq!(Amount::sum(&2.5).map(|a| (a.count, a.sum)), Some((1, 2.5)));
        assert_eq!(Amount::sum(&f64::NAN), None);
        assert_eq!(Amount::sum(&f64::INFINITY), None);
        assert_eq!(Amount::sum(&"abc"), None);
        // Too long to read on the stack: sent as a tree of its own instead.
        assert_eq!(Amount::sum(&1e300), None);
        assert_eq!(
            Amount::sum_count(&400, &2).map(|a| (a.count, a.sum)),
            Some((2, 400.0))
        );
        assert_eq!(Amount::sum_count(&400, &""), None);
    }

    #[test]
    fn calls_from_several_shards_add_up_per_name_kind_and_minute() {
        let aggregator = MetricAggregator::default();
        let at = HOUR_MS + 5 * MILLIS_PER_MINUTE + 1_000;
        for thread in 0..40 {
            aggregator
                .add(
                    std::process::id(),
                    thread,
                    Text::Borrowed("hits"),
                    count(2),
                    at + thread,
                )
                .unwrap();
            aggregator
                .add(
                    std::process::id(),
                    thread,
                    Text::Owned(String::from("amount")),
                    Amount::sum(&1.5).unwrap(),
                    at,
                )
                .unwrap();
        }
        // The next minute is a tally of its own.
        aggregator
            .add(
                std::process::id(),
                1,
                Text::Borrowed("hits"),
                count(1),
                at + MILLIS_PER_MINUTE,
            )
            .unwrap();
        let drained = aggregator.drain(false);
        assert_eq!(drained.trees.len(), 1);
        let tree = &drained.trees[0];
        assert_eq!(
            (tree[0].type_.as_ref(), tree[0].name.as_ref()),
            ("System", "MetricAggregator")
        );
        assert_eq!((tree[0].status.as_ref(), tree[0].duration_us), ("0", 0));
        assert_eq!(tree[0].end, tree.len());
        assert_eq!(tree[0].timestamp_us, at * 1000);
        assert_eq!(
            metrics(tree),
            [
                ("amount".to_owned(), "S,C", "40,60", at),
                ("hits".to_owned(), "C", "80", at),
                ("hits".to_owned(), "C", "1", at + MILLIS_PER_MINUTE),
            ]
        );
        assert!(aggregator.drain(false).trees.is_empty());
    }

    #[test]
    fn a_drain_across_the_hour_makes_one_tree_per_hour() {
        let aggregator = MetricAggregator::default();
        let before = HOUR_MS - 1_000;
        aggregator
            .add(
                std::process::id(),
                1,
                Text::Borrowed("hits"),
                count(1),
                before,
            )
            .unwrap();
        aggregator
            .add(
                std::process::id(),
                1,
                Text::Borrowed("hits"),
                count(1),
                HOUR_MS + 1,
            )
            .unwrap();
        let drained = aggregator.drain(false);
        let roots: Vec<u64> = drained
            .trees
            .iter()
            .map(|t| t[0].timestamp_us / 1000)
            .collect();
        assert_eq!(roots, [before, HOUR_MS + 1]);
    }

    #[test]
    fn names_past_the_cap_are_refused_and_a_closed_aggregator_gives_the_name_back() {
        let aggregator = MetricAggregator::default();
        for i in 0..MAX_METRIC_NAMES {
            aggregator
                .add(
                    std::process::id(),
                    1,
                    Text::Owned(format!("m{i}")),
                    count(1),
                    HOUR_MS,
                )
                .unwrap();
        }
        assert!(matches!(
            aggregator.add(
                std::process::id(),
                1,
                Text::Borrowed("one-too-many"),
                count(1),
                HOUR_MS
            ),
            Err(Refused::Full)
        ));
        // A known name still adds up; another shard has room of its own.
        aggregator
            .add(
                std::process::id(),
                1,
                Text::Borrowed("m0"),
                count(1),
                HOUR_MS,
            )
            .unwrap();
        aggregator
            .add(
                std::process::id(),
                2,
                Text::Borrowed("other-shard"),
                count(1),
                HOUR_MS,
            )
            .unwrap();
        let drained = aggregator.drain(true);
        // Every name taken is sent, in trees of at most METRICS_PER_TREE metrics.
        let sizes: Vec<usize> = drained.trees.iter().map(|t| t.len() - 1).collect();
        assert_eq!(sizes.iter().sum::<usize>(), MAX_METRIC_NAMES + 1);
        assert!(sizes.iter().all(|&n| n <= METRICS_PER_TREE), "{sizes:?}");
        match aggregator.add(
            std::process::id(),
            1,
            Text::Borrowed("late"),
            count(1),
            HOUR_MS,
        ) {
            Err(Refused::Closed(name)) => assert_eq!(name, "late"),
            other => panic!("closed aggregator took a metric: {other:?}"),
        }
    }

    #[test]
    fn the_analyzer_reads_a_drain_across_minutes_and_hours_as_the_single_calls() {
        use std::sync::Arc;

        use ocelot_analyzer::{AnalyzerConfig, MetricAnalyzer, ViewQuery};
        use ocelot_protocol::{Header, Leaf, Message, MessageTree};

        use crate::record::{FinishedTree, HeaderTemplate, TreeIds};

        let calls: [(u64, &str, &str, &str); 8] = [
            (HOUR_MS - 60_500, "hits", "C", "1"),
            (HOUR_MS - 500, "hits", "C", "2"),
            (HOUR_MS - 400, "amount", "S,C", "1,0.25"),
            (HOUR_MS + 100, "hits", "C", "3"),
            (HOUR_MS + 200, "amount", "S,C", "2,10"),
            (HOUR_MS + 300, "amount", "S,C", "1,0.5"),
            (HOUR_MS + 60_000, "hits", "C", "4"),
            (HOUR_MS + 61_000, "hits", "C", "5"),
        ];
        let aggregator = MetricAggregator::default();
        for (i, (at, name, status, data)) in calls.iter().enumerate() {
            let amount = match (*status, data.split_once(',')) {
                ("C", None) => Amount::count(data).unwrap(),
                (_, Some((count, sum))) => Amount::sum_count(&sum, &count).unwrap(),
                _ => unreachable!(),
            };
            aggregator
                .add(
                    std::process::id(),
                    i as u64,
                    Text::Borrowed(name),
                    amount,
                    *at,
                )
                .unwrap();
        }
        let template = HeaderTemplate::for_tests();
        let aggregated: Vec<MessageTree> = aggregator
            .drain(false)
            .trees
            .into_iter()
            .map(|records| {
                let hour = hour_of(records[0].timestamp_us / 1000);
                let tree = FinishedTree {
                    records,
                    ids: TreeIds {
                        own_id: Some((hour, 1)),
                        ..TreeIds::default()
                    },
                    thread_id: THREAD_ID,
                    thread_name: Arc::from(THREAD_NAME),
                    estimated_bytes: 0,
                };
                tree.into_message_tree(&template).unwrap()
            })
            .collect();
        assert_eq!(aggregated.len(), 2, "one tree per hour");
        let single: Vec<MessageTree> = calls
            .iter()
            .map(|(at, name, status, data)| {
                let header = Header {
                    domain: "d".into(),
                    ..Header::default()
                };
                MessageTree::new(
                    header,
                    Message::Metric(Leaf::new("", *name, *status, *at, *data)),
                )
            })
            .collect();
        // As the collector does: each tree counts in the hour of its root.
        let views = |trees: &[MessageTree]| {
            let mut by_hour = std::collections::BTreeMap::new();
            for tree in trees {
                let hour = hour_of(tree.root.timestamp_ms());
                by_hour
                    .entry(hour)
                    .or_insert_with(|| {
                        MetricAnalyzer::new(hour, Arc::new(AnalyzerConfig::default()))
                    })
                    .process(tree);
            }
            by_hour
                .into_iter()
                .map(|(hour, analyzer)| {
                    let view = analyzer.reports()["d"].view(&ViewQuery::default());
                    (hour, view.metrics)
                })
                .collect::<Vec<_>>()
        };
        let (aggregated, single) = (views(&aggregated), views(&single));
        assert_eq!(aggregated, single);
        assert_eq!(aggregated.len(), 2);
        // The hour before: `hits` in two minutes; the hour after: in two minutes too.
        assert_eq!(aggregated[0].1[1].minutes.len(), 2);
        assert_eq!(aggregated[1].1[1].minutes.len(), 2);
    }

    #[test]
    fn a_name_keeps_a_bounded_number_of_tallies() {
        let aggregator = MetricAggregator::default();
        for minute in 0..MAX_TALLIES_PER_NAME as u64 {
            aggregator
                .add(
                    std::process::id(),
                    1,
                    Text::Borrowed("hits"),
                    count(1),
                    HOUR_MS + minute * MILLIS_PER_MINUTE,
                )
                .unwrap();
        }
        let late = HOUR_MS + 10 * MILLIS_PER_MINUTE;
        assert!(matches!(
            aggregator.add(
                std::process::id(),
                1,
                Text::Borrowed("hits"),
                count(1),
                late
            ),
            Err(Refused::Full)
        ));
    }
}
