//! [`Sampling`]: the router's `block` and `sample` settings, and which finished trees CAT's
//! clients send as they are (reference 1.5).
//!
//! * `block=true`: nothing is sent; every tree is dropped and counted
//!   ([`crate::DropReason::Blocked`]).
//! * `sample` below 1: a tree is *discardable* unless it holds a failed transaction or event,
//!   a heartbeat, a metric, a dependency event or a long transaction ([`is_discardable`],
//!   [`is_long`]). Every `1 / sample`-th (cut to a whole number, as Java's `(int)`)
//!   discardable tree is sent as it is (a "hit", as Java's `hitSample`); the others are not
//!   sent: their transactions and events go to the client's `TreeAggregator`, which the sender
//!   thread drains about once a second into `System/TransactionAggregator` and
//!   `System/EventAggregator` trees. Non-discardable trees are always sent.
//!
//! One deliberate difference from CAT's Java client: any failed event keeps its tree, not only
//! an `Error` event, so that every failure the reports count still has a sample to link to.
//!
//! What sampling costs the reports: the Transaction and Event reports count the same totals,
//! fails and sums, and their percentiles are as accurate as CAT's duration buckets (see
//! `tree_aggregator.rs`). The Problem and Dependency reports miss nothing: a long transaction
//! (by the collector's default thresholds) or a dependency event keeps its tree. Sample links
//! point at the trees sent, as in CAT.
//!
//! Hot path: a tree that is not discardable, or any tree while `sample` is 1, costs one relaxed
//! load (plus the walk over its records when sampling is on); a discardable one adds one
//! atomic add on a counter shared by the client's threads.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

use ocelot_protocol::SUCCESS;

use crate::record::{Kind, Record};

/// What happens to a finished tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Sent (or, while blocked, dropped and counted).
    Send,
    /// Folded into the tree aggregator.
    Aggregate,
}

/// A client's sampling settings: the router's, or the builder's while no router answered.
#[derive(Debug)]
pub(crate) struct Sampling {
    block: AtomicBool,
    /// Every `interval`-th discardable tree is sent; 1 sends every tree.
    interval: AtomicU64,
    /// The interval from [`crate::ClientBuilder::sample_ratio`], used when the router says
    /// nothing about `sample`.
    local_interval: u64,
    /// Discardable trees seen so far (what picks the hits).
    discardable: AtomicU64,
}

impl Sampling {
    /// Settings for a local sample ratio (see [`interval_of`]), not blocked.
    pub(crate) fn new(sample_ratio: f64) -> Self {
        let local_interval = interval_of(sample_ratio);
        Sampling {
            block: AtomicBool::new(false),
            interval: AtomicU64::new(local_interval),
            local_interval,
            discardable: AtomicU64::new(0),
        }
    }

    /// Takes a router answer's `block` and `sample`; absent keys mean "not blocked" and the
    /// local sample ratio.
    pub(crate) fn apply_router(&self, block: Option<bool>, sample: Option<f64>) {
        self.block.store(block.unwrap_or(false), Relaxed);
        let interval = sample.map_or(self.local_interval, interval_of);
        self.interval.store(interval, Relaxed);
    }

    /// Whether the router said `block=true`.
    pub(crate) fn is_blocked(&self) -> bool {
        self.block.load(Relaxed)
    }

    /// Whether the finished tree `records` (root first) is sent or aggregated.
    pub(crate) fn decide(&self, records: &[Record]) -> Decision {
        let interval = self.interval.load(Relaxed);
        // While blocked, the tree goes on to be counted as blocked, not aggregated.
        if interval <= 1 || self.is_blocked() || !is_discardable(records) {
            return Decision::Send;
        }
        // As Java's `hitSample`: the `interval`-th, `2 * interval`-th, ... discardable tree.
        let seen = self.discardable.fetch_add(1, Relaxed).wrapping_add(1);
        if seen % interval == 0 {
            Decision::Send
        } else {
            Decision::Aggregate
        }
    }
}

/// How many discardable trees make one sent: `1 / ratio` cut to a whole number, as Java's
/// `(int) (1 / sample)` (0.6 sends every tree, 0.4 every second one, never fewer than
/// asked); a ratio outside `(0, 1]` (NaN too) means 1, send everything.
pub(crate) fn interval_of(ratio: f64) -> u64 {
    if ratio > 0.0 && ratio <= 1.0 {
        // `as` saturates: a tiny ratio sends (almost) none of the discardable trees.
        ((1.0 / ratio) as u64).max(1)
    } else {
        1
    }
}

/// Whether a tree may be aggregated instead of sent: no failure, heartbeat, metric, long
/// transaction or dependency event in it.
///
/// Dependency events (`SQL.Database`, `<type>.app`) keep their tree: an edge's calls and
/// durations are those of the transaction around its event, which an aggregated event no
/// longer has, so the Dependency report would see only the sent share of them.
pub(crate) fn is_discardable(records: &[Record]) -> bool {
    records.iter().all(|r| match r.kind {
        Kind::Transaction => r.status == SUCCESS && !is_long(&r.type_, r.duration_us),
        Kind::Event => r.status == SUCCESS && !is_edge_event(&r.type_),
        Kind::Heartbeat | Kind::Metric => false,
    })
}

/// An event the collector's Dependency report reads (the analyzer's `is_edge_event`).
fn is_edge_event(type_: &str) -> bool {
    type_.ends_with(".app") || type_ == "SQL.Database"
}

/// Whether a transaction of `type_` that took `duration_us` is "long", so its tree is kept
/// whole for the Problem report and LogView. The thresholds are the collector's defaults
/// (URL 1 s, SQL and calls 100 ms, services 50 ms, caches 10 ms), lower than CAT's client
/// ones (cache 25 ms, service 100 ms): a tree the collector counts as a long-execution
/// problem is never aggregated away. A domain's own lower thresholds on the collector are
/// not known here.
pub(crate) fn is_long(type_: &str, duration_us: u64) -> bool {
    let threshold_ms = match type_ {
        "URL" => 1_000,
        "SQL" | "Call" | "PigeonCall" | "MQ" => 100,
        "Service" | "PigeonService" => 50,
        t if t.starts_with("Cache.") => 10,
        t if t.starts_with("MQ.") => 100,
        _ => return false,
    };
    duration_us / 1000 >= threshold_ms
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Text;

    fn transaction(type_: &'static str, status: &'static str, duration_ms: u64) -> Record {
        let mut r = Record::new(
            Kind::Transaction,
            Text::Borrowed(type_),
            Text::Borrowed("n"),
            Text::Borrowed(status),
            0,
        );
        r.duration_us = duration_ms * 1000;
        r
    }

    #[test]
    fn ratios_outside_zero_to_one_send_everything() {
        assert_eq!(interval_of(1.0), 1);
        assert_eq!(interval_of(0.25), 4);
        assert_eq!(interval_of(0.3), 3);
        // As Java's `(int) (1 / sample)`: never fewer trees than asked for.
        assert_eq!(interval_of(0.6), 1);
        assert_eq!(interval_of(0.4), 2);
        assert_eq!(interval_of(0.0), 1);
        assert_eq!(interval_of(-0.5), 1);
        assert_eq!(interval_of(1.5), 1);
        assert_eq!(interval_of(f64::NAN), 1);
    }

    #[test]
    fn failures_heartbeats_metrics_and_long_transactions_keep_the_tree() {
        assert!(is_discardable(&[transaction("URL", "0", 999)]));
        assert!(!is_discardable(&[transaction("URL", "0", 1_000)]));
        assert!(!is_discardable(&[transaction("URL", "500", 1)]));
        // The collector's long thresholds: a cache call of 10 ms is a problem there.
        assert!(is_discardable(&[transaction("Cache.redis", "0", 9)]));
        assert!(!is_discardable(&[
            transaction("URL", "0", 5),
            transaction("Cache.redis", "0", 10)
        ]));
        assert!(is_discardable(&[transaction("Service", "0", 49)]));
        assert!(!is_discardable(&[transaction("Service", "0", 50)]));
        assert!(!is_discardable(&[transaction("SQL", "0", 100)]));
        assert!(is_discardable(&[transaction("Job", "0", 100_000)]));
        let mut error = transaction("URL", "0", 1);
        error.kind = Kind::Event;
        assert!(is_discardable(std::slice::from_ref(&error)));
        error.status = Text::Borrowed("ERROR");
        assert!(!is_discardable(&[error]));
        // A dependency event: the Dependency report needs the call around it.
        for type_ in ["SQL.Database", "Call.app"] {
            let mut edge = transaction(type_, "0", 0);
            edge.kind = Kind::Event;
            assert!(
                !is_discardable(&[transaction("SQL", "0", 1), edge]),
                "{type_}"
            );
        }
        let mut metric = transaction("", "C", 0);
        metric.kind = Kind::Metric;
        assert!(!is_discardable(&[transaction("Job", "0", 1), metric]));
    }

    #[test]
    fn every_nth_discardable_tree_is_a_hit_and_the_router_overrides_the_local_ratio() {
        let sampling = Sampling::new(0.5);
        let quick = [transaction("Job", "0", 1)];
        let decisions: Vec<Decision> = (0..4).map(|_| sampling.decide(&quick)).collect();
        use Decision::{Aggregate, Send};
        assert_eq!(decisions, [Aggregate, Send, Aggregate, Send]);
        assert_eq!(sampling.decide(&[transaction("Job", "1", 1)]), Send);
        sampling.apply_router(Some(false), Some(1.0));
        assert!((0..3).all(|_| sampling.decide(&quick) == Send));
        // No `sample` from the router: back to the local ratio.
        sampling.apply_router(Some(true), None);
        assert!(sampling.is_blocked());
        assert_eq!(
            sampling.decide(&quick),
            Send,
            "blocked trees are not aggregated"
        );
        sampling.apply_router(None, None);
        assert!(!sampling.is_blocked());
        assert!((0..2).any(|_| sampling.decide(&quick) == Aggregate));
    }
}
