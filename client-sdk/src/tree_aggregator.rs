//! [`TreeAggregator`]: the transactions and events of trees that sampling did not send, added
//! up per type and name until they go out as `System/TransactionAggregator` and
//! `System/EventAggregator` trees, as CAT's clients send them (reference 1.5, 1.6).
//!
//! A transaction tally becomes one child transaction (status `0`, duration 0) with data
//! `@<count>;<fail>;<sumMillis>;<d1>,<c1>|<d2>,<c2>...`, its durations bucketed by the server's
//! `computeDuration` ([`bucket_ms`]); an event tally becomes one event with data
//! `@<count>;<fail>`. The collector's analyzers add those up exactly as they would have counted
//! the trees one by one (`analyzer/src/batch.rs`): the same counts and fails, sums within half a
//! millisecond per tally, percentiles within a bucket's width.
//!
//! To get there, a tree is added the way the Transaction report walks it
//! (`analyzer/src/transaction_walk.rs`): every transaction, nested ones too, under the name the
//! report gives it (the tree's first `URL` transaction has its numeric path segments replaced
//! by `{num}` unless a `System/UploadMetric*` one comes before it, `System/UploadMetric*`
//! becomes `UploadMetric`). Tallies are kept per minute of
//! each message (a message stamped outside the hour of the tree's root counts at the root's
//! minute, as the analyzer counts it), and a drain makes trees per hour. A tree the aggregator could not reproduce exactly (a later `URL`
//! transaction whose name the report would leave alone but the aggregator tree's first `URL`
//! child would have normalised) is refused and sent as it is.
//!
//! Design constraints, as in the metric aggregator: the app thread never waits for the sender
//! or for I/O; it takes one of [`SHARDS`] mutexes, picked by its thread number, and the sender
//! thread takes each only to swap the maps out. Memory is bounded: a shard holds at most
//! [`MAX_NAMES`] type/name pairs with [`MAX_TALLIES_PER_NAME`] minutes each, and a tally at
//! most the few hundred distinct duration buckets there are. A tree that does not fit is not
//! dropped: it is refused and sent as it is, so what the aggregator cannot hold costs what it
//! cost before sampling, and nothing is lost. A drain splits its tallies into trees of at most
//! [`MAX_CHILDREN_PER_TREE`] children.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Mutex, PoisonError};

use ocelot_protocol::names::normalize_url;
use ocelot_protocol::{hour_of, MILLIS_PER_HOUR, SUCCESS};

use crate::metric_aggregator::{hour_of_minute, MILLIS_PER_MINUTE, SHARDS};
use crate::process::lock_in;
use crate::record::{Kind, Record, Text};

/// Type/name pairs per shard (transactions and events together). CAT's collector keeps 200
/// names per type and 100 types per machine; a client past this many is making names up.
pub(crate) const MAX_NAMES: usize = 1000;
/// Minutes a name keeps per shard: a flush spans at most two, more only if none ran for
/// minutes.
pub(crate) const MAX_TALLIES_PER_NAME: usize = 4;
/// Children per aggregator tree, so that one tree stays far below the collector's frame and
/// message limits.
pub(crate) const MAX_CHILDREN_PER_TREE: usize = 1000;
/// Remainders (below a millisecond) kept for names a drain did not hold: as many names as
/// the shards hold at once.
const MAX_CARRIED: usize = MAX_NAMES * SHARDS;
/// The `threadName` header of an aggregator tree, which no application thread made.
pub(crate) const THREAD_NAME: &str = "ocelot-tree-aggregator";

/// CAT's `computeDuration` (reference 6.1; Java `DurationComputer`): the key, in
/// milliseconds, of the bucket `duration_ms` falls in, used by clients for batch data and by
/// the server for its duration histograms.
pub(crate) fn bucket_ms(duration_ms: u64) -> u64 {
    match duration_ms {
        0 => 1,
        1..20 => duration_ms,
        20..200 => duration_ms - duration_ms % 5,
        200..500 => duration_ms - duration_ms % 20,
        500..2_000 => duration_ms - duration_ms % 50,
        2_000..20_000 => duration_ms - duration_ms % 500,
        20_000..1_000_000 => duration_ms - duration_ms % 10_000,
        _ => {
            const CAP_MS: u64 = 3_600_000;
            let mut key = 524_288;
            while key < duration_ms && key < CAP_MS {
                key *= 2;
            }
            key.min(CAP_MS)
        }
    }
}

/// What one type/name added in one minute.
#[derive(Debug, Clone, Default, PartialEq)]
struct Tally {
    /// Minutes since the epoch.
    minute: u64,
    /// The earliest message's time: the timestamp the tally is sent with.
    first_ms: u64,
    count: u64,
    fail: u64,
    /// Transactions only, exact until sent (in whole milliseconds).
    sum_us: u64,
    /// Transactions only: `(bucket_ms, count)`, sorted by bucket.
    durations: Vec<(u64, u64)>,
}

impl Tally {
    fn add_duration(&mut self, bucket: u64, n: u64) {
        match self.durations.binary_search_by_key(&bucket, |&(b, _)| b) {
            Ok(i) => self.durations[i].1 = self.durations[i].1.saturating_add(n),
            Err(i) => self.durations.insert(i, (bucket, n)),
        }
    }

    fn merge(&mut self, other: Tally) {
        self.first_ms = self.first_ms.min(other.first_ms);
        self.count = self.count.saturating_add(other.count);
        self.fail = self.fail.saturating_add(other.fail);
        self.sum_us = self.sum_us.saturating_add(other.sum_us);
        for (bucket, n) in other.durations {
            self.add_duration(bucket, n);
        }
    }
}

/// Tallies by type, then name (two levels, so that a lookup by `&str` costs no key).
type Names = HashMap<Text, HashMap<Text, Vec<Tally>>>;

#[derive(Debug, Default)]
struct Shard {
    /// Set by the final drain at shutdown: the shard takes nothing more.
    closed: bool,
    /// Type/name pairs held, transactions and events together.
    names: usize,
    transactions: Names,
    events: Names,
}

/// One shard on a cache line pair of its own (see the metric aggregator).
#[derive(Debug, Default)]
#[repr(align(128))]
struct PaddedShard(Mutex<Shard>);

/// A client's trees that sampling did not send, added up until the next flush.
#[derive(Debug)]
pub(crate) struct TreeAggregator {
    shards: Box<[PaddedShard]>,
    /// What the drains' sums left below a whole millisecond, by type, name and minute
    /// (batch data carries whole milliseconds): added to the same name's next tally of that
    /// minute, whichever later drain holds it, so a name does not lose up to a millisecond
    /// per drain. Only the drain (under the client's flush lock) touches it.
    carry: Mutex<HashMap<(Text, Text, u64), u64>>,
}

impl Default for TreeAggregator {
    fn default() -> Self {
        TreeAggregator {
            shards: (0..SHARDS).map(|_| PaddedShard::default()).collect(),
            carry: Mutex::default(),
        }
    }
}

/// The name the Transaction report gives a transaction of `type_` and `name` (mirrors the
/// analyzer's `ReportNames`): `None` when it is `name` itself. `url_seen` says the URL rule
/// is spent: set by the first `URL` transaction, or by a `System/UploadMetric*` one before
/// it (CAT stops at the first of either).
fn report_name(url_seen: &mut bool, type_: &str, name: &str) -> Option<Text> {
    if type_ == "System" && name.starts_with("UploadMetric") {
        *url_seen = true;
        (name != "UploadMetric").then_some(Text::Borrowed("UploadMetric"))
    } else if !*url_seen && type_ == "URL" {
        *url_seen = true;
        match normalize_url(name) {
            Cow::Owned(normalized) => Some(Text::Owned(normalized)),
            Cow::Borrowed(_) => None,
        }
    } else {
        None
    }
}

/// Where a message of one tree counts: the hour of its root, and the root's time.
#[derive(Clone, Copy)]
struct TreeHour {
    start_ms: u64,
    root_ms: u64,
}

impl TreeHour {
    /// The hour of the tree whose root is `root`.
    fn of(root: &Record) -> Self {
        let root_ms = root.timestamp_us / 1000;
        TreeHour {
            start_ms: hour_of(root_ms) * MILLIS_PER_HOUR,
            root_ms,
        }
    }

    /// The minute (since the epoch) a message at `timestamp_us` counts in, and the time
    /// it is tallied at: its own inside the root's hour, the root's outside it (a call that
    /// ran past the hour's end, a clock hours off), as the analyzer counts it.
    fn minute_of(self, timestamp_us: u64) -> (u64, u64) {
        let ms = timestamp_us / 1000;
        let ms = if ms.wrapping_sub(self.start_ms) < MILLIS_PER_HOUR {
            ms
        } else {
            self.root_ms
        };
        (ms / MILLIS_PER_MINUTE, ms)
    }
}

impl TreeAggregator {
    /// Adds the finished tree `records` (root first, nothing truncated) in the shard of thread
    /// number `thread`, moving its names out. Returns `false`, having changed nothing, when the
    /// tree is refused: the shard is full or closed, or the tree holds what the aggregator
    /// does not aggregate. The caller then sends it as it is.
    ///
    /// `pid` is the process the aggregator belongs to: a shard locked by a thread that did
    /// not survive a fork is not waited for (the tree is refused).
    pub(crate) fn add(&self, pid: u32, thread: u64, records: &mut [Record]) -> bool {
        let Some(root) = records.first() else {
            return false;
        };
        let hour = TreeHour::of(root);
        let index = (thread % self.shards.len() as u64) as usize;
        let Some(mut shard) = lock_in(&self.shards[index].0, pid) else {
            return false;
        };
        if shard.closed || !fits(&shard, records, hour) {
            return false;
        }
        let Shard {
            names: held,
            transactions,
            events,
            ..
        } = &mut *shard;
        let mut url_seen = false;
        for record in records.iter_mut() {
            let (minute, at_ms) = hour.minute_of(record.timestamp_us);
            let names = match record.kind {
                Kind::Transaction => &mut *transactions,
                _ => &mut *events,
            };
            let renamed = match record.kind {
                Kind::Transaction => report_name(&mut url_seen, &record.type_, &record.name),
                _ => None,
            };
            let name = renamed.unwrap_or_else(|| std::mem::take(&mut record.name));
            let by_name = names.entry(std::mem::take(&mut record.type_)).or_default();
            let tallies = by_name.entry(name).or_default();
            if tallies.is_empty() {
                *held += 1;
            }
            let tally = match tallies.iter_mut().position(|t| t.minute == minute) {
                Some(i) => &mut tallies[i],
                None => {
                    tallies.push(Tally {
                        minute,
                        first_ms: at_ms,
                        ..Tally::default()
                    });
                    tallies.last_mut().expect("just pushed")
                }
            };
            tally.first_ms = tally.first_ms.min(at_ms);
            tally.count += 1;
            tally.fail += u64::from(record.status != SUCCESS);
            if record.kind == Kind::Transaction {
                tally.sum_us = tally.sum_us.saturating_add(record.duration_us);
                tally.add_duration(bucket_ms(record.duration_us / 1000), 1);
            }
        }
        true
    }

    /// Takes everything added so far as aggregator trees' records, transactions first; with
    /// `close`, the aggregator takes nothing more afterwards (shutdown). Allocates nothing
    /// when it is empty.
    pub(crate) fn drain(&self, close: bool) -> Vec<Vec<Record>> {
        let mut transactions = Vec::new();
        let mut events = Vec::new();
        for shard in self.shards.iter() {
            // Only the swap under the lock: an application thread adding to this shard
            // waits for that, not for the flattening (a full shard's names cloned).
            let (shard_transactions, shard_events) = {
                let mut shard = shard.0.lock().unwrap_or_else(PoisonError::into_inner);
                shard.closed |= close;
                if shard.names == 0 {
                    continue;
                }
                shard.names = 0;
                (
                    std::mem::take(&mut shard.transactions),
                    std::mem::take(&mut shard.events),
                )
            };
            flatten(shard_transactions, &mut transactions);
            flatten(shard_events, &mut events);
        }
        let mut trees = Vec::new();
        let mut carry = self.carry.lock().unwrap_or_else(PoisonError::into_inner);
        trees_of(Kind::Transaction, transactions, &mut carry, &mut trees);
        trees_of(Kind::Event, events, &mut carry, &mut trees);
        trees
    }
}

/// Whether `records` can be added to `shard` whole: only transactions and events, every
/// `URL` transaction after the first named as the report would leave it, and room for every
/// name and minute it brings (counted generously: a name new to the shard counts once per
/// message).
fn fits(shard: &Shard, records: &[Record], hour: TreeHour) -> bool {
    let mut new_names = 0;
    let mut url_seen = false;
    for record in records {
        let (names, name): (&Names, Cow<'_, str>) = match record.kind {
            Kind::Transaction => {
                let first_url = !url_seen && record.type_ == "URL";
                let renamed = report_name(&mut url_seen, &record.type_, &record.name);
                // In the aggregator tree this name may come first among the `URL` children,
                // and the analyzer would normalise it there: it must not change.
                if !first_url
                    && record.type_ == "URL"
                    && matches!(normalize_url(&record.name), Cow::Owned(_))
                {
                    return false;
                }
                let name = match renamed {
                    Some(renamed) => Cow::Owned(renamed.into_owned()),
                    None => Cow::Borrowed(record.name.as_ref()),
                };
                (&shard.transactions, name)
            }
            Kind::Event => (&shard.events, Cow::Borrowed(record.name.as_ref())),
            Kind::Heartbeat | Kind::Metric => return false,
        };
        let (minute, _) = hour.minute_of(record.timestamp_us);
        match names
            .get(record.type_.as_ref())
            .and_then(|by_name| by_name.get(name.as_ref()))
        {
            None => new_names += 1,
            Some(tallies) => {
                if tallies.len() >= MAX_TALLIES_PER_NAME
                    && !tallies.iter().any(|t| t.minute == minute)
                {
                    return false;
                }
            }
        }
    }
    shard.names + new_names <= MAX_NAMES
}

fn flatten(names: Names, out: &mut Vec<(Text, Text, Tally)>) {
    for (type_, by_name) in names {
        for (name, tallies) in by_name {
            out.extend(
                tallies
                    .into_iter()
                    .map(|tally| (type_.clone(), name.clone(), tally)),
            );
        }
    }
}

/// Adds the same type, name and minute from several shards up, then makes one tree per hour
/// (split past [`MAX_CHILDREN_PER_TREE`]) of `kind` children.
fn trees_of(
    kind: Kind,
    mut tallies: Vec<(Text, Text, Tally)>,
    carry: &mut HashMap<(Text, Text, u64), u64>,
    trees: &mut Vec<Vec<Record>>,
) {
    if tallies.is_empty() {
        return;
    }
    tallies.sort_unstable_by(|(at, an, a), (bt, bn, b)| {
        hour_of_minute(a.minute)
            .cmp(&hour_of_minute(b.minute))
            .then_with(|| at.cmp(bt))
            .then_with(|| an.cmp(bn))
            .then_with(|| a.minute.cmp(&b.minute))
    });
    let mut merged: Vec<(Text, Text, Tally)> = Vec::with_capacity(tallies.len());
    for (type_, name, tally) in tallies {
        match merged.last_mut() {
            Some((t, n, last)) if *t == type_ && *n == name && last.minute == tally.minute => {
                last.merge(tally);
            }
            _ => merged.push((type_, name, tally)),
        }
    }
    if kind == Kind::Transaction {
        // Whole milliseconds on the wire; what is left over waits for the name's next
        // tally of the minute, also through drains that do not hold the name (a name
        // called every other second would otherwise lose its remainder every time). Only
        // the remainder of a minute that is over is dropped (less than a millisecond per
        // name and minute, as rounding once).
        let mut left = HashMap::with_capacity(merged.len());
        let mut newest_minute = 0;
        for (type_, name, tally) in &mut merged {
            newest_minute = newest_minute.max(tally.minute);
            let key = (type_.clone(), name.clone(), tally.minute);
            let sum_us = tally.sum_us.saturating_add(carry.remove(&key).unwrap_or(0));
            tally.sum_us = sum_us - sum_us % 1000;
            if sum_us % 1000 > 0 {
                left.insert(key, sum_us % 1000);
            }
        }
        for (key, rest) in carry.drain() {
            if key.2 + 1 >= newest_minute && left.len() < MAX_CARRIED {
                left.insert(key, rest);
            }
        }
        *carry = left;
    }
    let mut start = 0;
    while start < merged.len() {
        let hour = hour_of_minute(merged[start].2.minute);
        let end = merged[start..]
            .iter()
            .take(MAX_CHILDREN_PER_TREE)
            .position(|(_, _, t)| hour_of_minute(t.minute) != hour)
            .map_or((start + MAX_CHILDREN_PER_TREE).min(merged.len()), |i| {
                start + i
            });
        trees.push(tree_records(kind, &mut merged[start..end]));
        start = end;
    }
}

/// One aggregator tree: the `System/TransactionAggregator` or `System/EventAggregator` root
/// (status `0`, duration 0, at its earliest child's time), then one child per tally.
fn tree_records(kind: Kind, tallies: &mut [(Text, Text, Tally)]) -> Vec<Record> {
    let root_name = match kind {
        Kind::Transaction => "TransactionAggregator",
        _ => "EventAggregator",
    };
    let mut records = Vec::with_capacity(tallies.len() + 1);
    records.push(Record::new(
        Kind::Transaction,
        Text::Borrowed("System"),
        Text::Borrowed(root_name),
        Text::Borrowed(SUCCESS),
        u64::MAX,
    ));
    for (type_, name, tally) in tallies.iter_mut() {
        let timestamp_us = tally.first_ms * 1000;
        records[0].timestamp_us = records[0].timestamp_us.min(timestamp_us);
        let mut child = Record::new(
            kind,
            std::mem::take(type_),
            std::mem::take(name),
            Text::Borrowed(SUCCESS),
            timestamp_us,
        );
        let _ = write!(child.data, "@{};{}", tally.count, tally.fail);
        if kind == Kind::Transaction {
            // Whole milliseconds (the remainder was carried, see `trees_of`).
            let _ = write!(child.data, ";{}", tally.sum_us / 1000);
            for (i, (bucket, n)) in tally.durations.iter().enumerate() {
                let separator = if i == 0 { ';' } else { '|' };
                let _ = write!(child.data, "{separator}{bucket},{n}");
            }
            child.end = records.len() + 1;
        }
        records.push(child);
    }
    records[0].end = records.len();
    records
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR_MS: u64 = 498_703 * MILLIS_PER_HOUR;

    fn record(kind: Kind, type_: &'static str, name: &str, at_ms: u64, ms: u64) -> Record {
        let mut r = Record::new(
            kind,
            Text::Borrowed(type_),
            Text::Owned(name.to_owned()),
            Text::Borrowed(SUCCESS),
            at_ms * 1000,
        );
        r.duration_us = ms * 1000;
        r
    }

    fn children(tree: &[Record]) -> Vec<(String, String, String)> {
        tree[1..]
            .iter()
            .map(|r| (r.type_.to_string(), r.name.to_string(), r.data.clone()))
            .collect()
    }

    #[test]
    fn durations_are_bucketed_as_the_servers_compute_duration() {
        let cases = [
            (0, 1),
            (1, 1),
            (19, 19),
            (23, 20),
            (199, 195),
            (213, 200),
            (1_999, 1_950),
            (2_700, 2_500),
            (25_000, 20_000),
            (999_999, 990_000),
            (1_000_000, 1_048_576),
            (3_000_000, 3_600_000),
            (u64::MAX, 3_600_000),
        ];
        for (ms, key) in cases {
            assert_eq!(bucket_ms(ms), key, "{ms} ms");
        }
    }

    #[test]
    fn nested_transactions_and_events_add_up_per_report_name_and_minute() {
        let aggregator = TreeAggregator::default();
        let at = HOUR_MS + 5 * MILLIS_PER_MINUTE;
        for (thread, ms) in [(1, 3), (2, 23), (3, 24)] {
            let mut root = record(Kind::Transaction, "URL", "/order/17", at, ms);
            root.end = 3;
            let mut sql = record(Kind::Transaction, "SQL", "select", at, 1);
            sql.end = 3;
            let event = record(Kind::Event, "Cache", "hit", at, 0);
            let mut tree = vec![root, sql, event];
            assert!(aggregator.add(std::process::id(), thread, &mut tree));
        }
        let trees = aggregator.drain(false);
        assert_eq!(trees.len(), 2);
        let (transactions, events) = (&trees[0], &trees[1]);
        assert_eq!(
            (transactions[0].name.as_ref(), transactions[0].end),
            ("TransactionAggregator", 3)
        );
        assert_eq!(transactions[0].timestamp_us, at * 1000);
        assert_eq!(
            children(transactions),
            [
                ("SQL".into(), "select".into(), "@3;0;3;1,3".into()),
                (
                    "URL".into(),
                    "/order/{num}".into(),
                    "@3;0;50;3,1|20,2".into()
                ),
            ]
        );
        assert_eq!(
            children(events),
            [("Cache".into(), "hit".into(), "@3;0".into())]
        );
        assert!(aggregator.drain(false).is_empty());
    }

    #[test]
    fn a_later_url_the_report_leaves_alone_is_refused_and_a_full_or_closed_shard_refuses() {
        let aggregator = TreeAggregator::default();
        let mut root = record(Kind::Transaction, "URL", "/a", HOUR_MS, 1);
        root.end = 2;
        let inner = record(Kind::Transaction, "URL", "/b/2", HOUR_MS, 1);
        let mut tree = vec![root, inner];
        assert!(!aggregator.add(std::process::id(), 1, &mut tree));
        assert_eq!(tree[1].name, "/b/2", "a refused tree is left as it was");

        for i in 0..MAX_NAMES {
            let mut tree = vec![record(Kind::Event, "E", &format!("e{i}"), HOUR_MS, 0)];
            assert!(aggregator.add(std::process::id(), 1, &mut tree));
        }
        let mut one_more = vec![record(Kind::Event, "E", "new", HOUR_MS, 0)];
        assert!(!aggregator.add(std::process::id(), 1, &mut one_more));
        let mut known = vec![record(Kind::Event, "E", "e0", HOUR_MS, 0)];
        assert!(aggregator.add(std::process::id(), 1, &mut known));
        assert!(
            aggregator.add(std::process::id(), 2, &mut one_more),
            "another shard has room"
        );
        let trees = aggregator.drain(true);
        assert_eq!(trees.len(), 2, "split at MAX_CHILDREN_PER_TREE");
        assert_eq!(trees[0].len() - 1, MAX_CHILDREN_PER_TREE);
        assert_eq!(trees[1].len() - 1, 1);
        let mut late = vec![record(Kind::Event, "E", "late", HOUR_MS, 0)];
        assert!(!aggregator.add(std::process::id(), 1, &mut late), "closed");
    }

    /// The report's URL rule stops at an upload that comes first, so a URL after one keeps
    /// its name: the aggregator counts it so, and refuses the tree when that name would be
    /// normalised as the first `URL` child of an aggregator tree.
    #[test]
    fn a_url_after_an_upload_metric_transaction_keeps_its_name() {
        let aggregator = TreeAggregator::default();
        let mut root = record(Kind::Transaction, "System", "UploadMetric-1", HOUR_MS, 1);
        root.end = 2;
        let inner = record(Kind::Transaction, "URL", "/b/2", HOUR_MS, 1);
        let mut tree = vec![root.clone(), inner];
        assert!(!aggregator.add(std::process::id(), 1, &mut tree));
        assert_eq!(tree[1].name, "/b/2", "a refused tree is left as it was");

        let plain = record(Kind::Transaction, "URL", "/plain", HOUR_MS, 1);
        let mut tree = vec![root, plain];
        assert!(aggregator.add(std::process::id(), 1, &mut tree));
        let names: Vec<(String, String)> = children(&aggregator.drain(false)[0])
            .into_iter()
            .map(|(type_, name, _)| (type_, name))
            .collect();
        assert_eq!(
            names,
            [
                ("System".into(), "UploadMetric".into()),
                ("URL".into(), "/plain".into())
            ]
        );
    }

    #[test]
    fn messages_outside_the_roots_hour_count_at_the_roots_minute() {
        let aggregator = TreeAggregator::default();
        let mut root = record(Kind::Transaction, "Job", "run", HOUR_MS - 1_000, 3_000);
        root.end = 3;
        let mut inner = record(Kind::Transaction, "Job", "step", HOUR_MS + 1_000, 1);
        inner.end = 2;
        // A child whose clock is three hours behind: not at the hour's first minute.
        let mut skewed = record(
            Kind::Transaction,
            "Job",
            "skewed",
            HOUR_MS - 3 * 3_600_000,
            1,
        );
        skewed.end = 3;
        let mut next_hour = vec![record(Kind::Event, "E", "x", HOUR_MS + 5, 0)];
        assert!(aggregator.add(std::process::id(), 1, &mut [root, inner, skewed]));
        assert!(aggregator.add(std::process::id(), 1, &mut next_hour));
        let trees = aggregator.drain(false);
        let roots: Vec<(&str, u64)> = trees
            .iter()
            .map(|t| (t[0].name.as_ref(), t[0].timestamp_us / 1000))
            .collect();
        assert_eq!(
            roots,
            [
                ("TransactionAggregator", HOUR_MS - 1_000),
                ("EventAggregator", HOUR_MS + 5)
            ]
        );
        let at: Vec<(&str, u64)> = trees[0][1..]
            .iter()
            .filter(|r| r.kind == Kind::Transaction)
            .map(|r| (r.name.as_ref(), r.timestamp_us / 1000))
            .collect();
        assert!(at.contains(&("step", HOUR_MS - 1_000)), "{at:?}");
        assert!(at.contains(&("skewed", HOUR_MS - 1_000)), "{at:?}");
    }

    /// The width (ms) of the `computeDuration` bucket holding `ms`.
    fn bucket_width_ms(ms: f64) -> f64 {
        match ms {
            m if m < 20.0 => 1.0,
            m if m < 200.0 => 5.0,
            m if m < 500.0 => 20.0,
            m if m < 2_000.0 => 50.0,
            m if m < 20_000.0 => 500.0,
            _ => 10_000.0,
        }
    }

    /// A name drained every second (as the sender does) with sub-millisecond calls: the
    /// minute's sent sums add up to its calls' within a millisecond. Rounded at each drain,
    /// 0.4 ms calls read as 0 ms.
    #[test]
    fn sums_below_a_millisecond_are_carried_from_drain_to_drain() {
        let aggregator = TreeAggregator::default();
        let mut sent_ms = 0;
        for second in 0..60u64 {
            let mut tree = vec![record(
                Kind::Transaction,
                "Cache.redis",
                "get",
                HOUR_MS + second * 1000,
                0,
            )];
            tree[0].duration_us = 400;
            tree[0].end = 1;
            assert!(aggregator.add(std::process::id(), 1, &mut tree));
            for tree in aggregator.drain(false) {
                for (_, _, data) in children(&tree) {
                    let sum: u64 = data.split(';').nth(2).unwrap().parse().unwrap();
                    sent_ms += sum;
                }
            }
        }
        // 60 calls of 0.4 ms: 24 ms, of which at most the last remainder is not sent.
        assert!((23..=24).contains(&sent_ms), "{sent_ms} ms sent");
    }

    /// A name called every other second while another name keeps every drain busy: its
    /// remainder must wait through the drain that does not hold it, not be dropped there.
    #[test]
    fn a_remainder_waits_through_a_drain_that_does_not_hold_its_name() {
        let aggregator = TreeAggregator::default();
        let mut sent_ms = 0;
        for second in 0..60u64 {
            let at = HOUR_MS + second * 1000;
            let mut busy = vec![record(Kind::Transaction, "Job", "busy", at, 1)];
            busy[0].end = 1;
            assert!(aggregator.add(std::process::id(), 1, &mut busy));
            if second % 2 == 0 {
                let mut tree = vec![record(Kind::Transaction, "Cache.redis", "get", at, 0)];
                tree[0].duration_us = 900;
                tree[0].end = 1;
                assert!(aggregator.add(std::process::id(), 1, &mut tree));
            }
            for tree in aggregator.drain(false) {
                for (_, name, data) in children(&tree) {
                    if name == "get" {
                        let sum: u64 = data.split(';').nth(2).unwrap().parse().unwrap();
                        sent_ms += sum;
                    }
                }
            }
        }
        // 30 calls of 0.9 ms: 27 ms, of which at most the last remainder is not sent.
        assert!((26..=27).contains(&sent_ms), "{sent_ms} ms sent");
    }

    #[test]
    fn the_analyzers_read_sent_and_aggregated_trees_as_every_tree() {
        use std::collections::BTreeMap;
        use std::sync::Arc;

        use ocelot_analyzer::{AnalyzerConfig, EventAnalyzer, TransactionAnalyzer, ViewQuery};
        use ocelot_protocol::MessageTree;

        use crate::record::{FinishedTree, HeaderTemplate, TreeIds};
        use crate::sampling::{Decision, Sampling};

        // A deterministic mix over three minutes across an hour boundary: URL roots (numeric
        // names, normalised by the report), SQL and cache calls (some long), events, a few
        // failures, and now and then a nested URL the aggregator must refuse.
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let start_ms = HOUR_MS - 90_000;
        let mut trees: Vec<Vec<Record>> = Vec::new();
        for i in 0..4_000u64 {
            let at = start_ms + i * 45;
            let root_ms = match next(10) {
                0 => next(3_000),
                1..=3 => 20 + next(300),
                _ => next(20),
            };
            let name = match next(4) {
                0 => "/cart".to_owned(),
                1 => "/api/v2".to_owned(),
                _ => format!("/order/{}", next(500)),
            };
            let mut root = record(Kind::Transaction, "URL", &name, at, root_ms);
            if next(50) == 0 {
                root.status = Text::Borrowed("500");
            }
            let mut tree = vec![root];
            let mut sql = record(Kind::Transaction, "SQL", "select", at + 1, next(110));
            sql.end = 2;
            tree.push(sql);
            let cache_name = if next(2) == 0 { "get" } else { "set" };
            let mut cache = record(
                Kind::Transaction,
                "Cache.redis",
                cache_name,
                at + 2,
                next(12),
            );
            cache.end = 3;
            tree.push(cache);
            let mut event = record(Kind::Event, "Cache", "hit", at + 3, 0);
            if next(100) == 0 {
                event.status = Text::Borrowed("ERROR");
            }
            tree.push(event);
            if next(100) == 0 {
                let mut nested = record(Kind::Transaction, "URL", "/inner/7", at + 4, 1);
                nested.end = 5;
                tree.push(nested);
            }
            tree[0].end = tree.len();
            trees.push(tree);
        }

        let sampling = Sampling::new(0.25);
        let aggregator = TreeAggregator::default();
        let mut sent = Vec::new();
        let mut aggregated = 0;
        for (i, tree) in trees.iter().enumerate() {
            let mut copy = tree.clone();
            if sampling.decide(&copy) == Decision::Aggregate
                && aggregator.add(std::process::id(), 1 + i as u64 % 3, &mut copy)
            {
                aggregated += 1;
                continue;
            }
            sent.push(copy);
        }
        let sent_as_is = sent.len();
        sent.extend(aggregator.drain(false));
        assert!(aggregated > 1_000, "{aggregated} trees aggregated");
        assert!(sent.len() - sent_as_is >= 4, "two kinds in two hours");

        let template = HeaderTemplate::for_tests();
        let to_trees = |all: Vec<Vec<Record>>| -> Vec<MessageTree> {
            all.into_iter()
                .map(|records| {
                    let hour = hour_of(records[0].timestamp_us / 1000);
                    FinishedTree {
                        records,
                        ids: TreeIds {
                            own_id: Some((hour, 1)),
                            ..TreeIds::default()
                        },
                        thread_id: 1,
                        thread_name: Arc::from("t"),
                        estimated_bytes: 0,
                    }
                    .into_message_tree(&template)
                    .unwrap()
                })
                .collect()
        };
        type Figures = (u64, u64, f64, f64, Vec<(u8, u64, u64)>);
        // Per hour, per (type, name): count, fail, sum (ms), p95 (ms) and the minutes; the
        // aggregator's own roots left out (the collector counts them as `System` rows).
        let reports = |trees: &[MessageTree]| {
            let mut by_hour = BTreeMap::new();
            for tree in trees {
                let hour = hour_of(tree.root.timestamp_ms());
                let config = Arc::new(AnalyzerConfig::default());
                let (t, e) = by_hour.entry(hour).or_insert_with(|| {
                    (
                        TransactionAnalyzer::new(hour, config.clone()),
                        EventAnalyzer::new(hour, config),
                    )
                });
                t.process(tree);
                e.process(tree);
            }
            let mut out: BTreeMap<(u64, String, String), Figures> = BTreeMap::new();
            for (hour, (t, e)) in by_hour {
                let query = ViewQuery {
                    elapsed_seconds: 3600.0,
                    ..ViewQuery::default()
                };
                for ty in t.reports()["d"].view(&query).types {
                    for n in ty.names {
                        if ty.type_ == "System" {
                            continue;
                        }
                        let f = &n.figures;
                        let minutes = n.minutes.iter().map(|m| (m.minute, m.count, m.fail));
                        out.insert(
                            (hour, ty.type_.clone(), n.name),
                            (
                                f.count,
                                f.fail,
                                f.avg * f.count as f64,
                                f.p95,
                                minutes.collect(),
                            ),
                        );
                    }
                }
                for ty in e.reports()["d"].view(&query).types {
                    for n in ty.names {
                        let minutes = n.minutes.iter().map(|m| (m.minute, m.count, m.fail));
                        out.insert(
                            (hour, format!("event:{}", ty.type_), n.name),
                            (n.count, n.fail, 0.0, 0.0, minutes.collect()),
                        );
                    }
                }
            }
            out
        };
        let every = reports(&to_trees(trees));
        let sampled = reports(&to_trees(sent));
        assert_eq!(
            every.keys().collect::<Vec<_>>(),
            sampled.keys().collect::<Vec<_>>()
        );
        assert!(every.contains_key(&(hour_of(HOUR_MS), "URL".into(), "/order/{num}".into())));
        for (key, (count, fail, sum, p95, minutes)) in &every {
            let (s_count, s_fail, s_sum, s_p95, s_minutes) = &sampled[key];
            assert_eq!(
                (count, fail, minutes),
                (s_count, s_fail, s_minutes),
                "{key:?}"
            );
            // Under a millisecond per name and minute: whole milliseconds are sent, and the
            // last remainder of a minute is not.
            let rounding = 1.0 * minutes.len() as f64 + 1e-6;
            assert!(
                (sum - s_sum).abs() <= rounding,
                "{key:?}: sum {sum} vs {s_sum}"
            );
            // The buckets' floors, read back within the histogram's 1 %.
            let tolerance = bucket_width_ms(*p95) + 0.02 * p95 + 1.0;
            assert!(
                (p95 - s_p95).abs() <= tolerance,
                "{key:?}: p95 {p95} vs {s_p95}"
            );
        }
    }
}
