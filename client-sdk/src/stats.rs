//! The SDK's own counters: what it produced, sent and dropped, and why.
//!
//! Callers touch these only when a root tree ends (one or two relaxed atomic adds) or the metric
//! aggregator is full; the sender thread updates the rest. [`Stats`] is a plain snapshot.
//!
//! Every tree produced ends up in exactly one of three places: sent, dropped (for a
//! [`DropReason`] that counts trees) or aggregated (folded by sampling into the transaction
//! and event aggregators, whose own trees are produced and sent like any other).

use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};

use crate::sync::AtomicU64;

/// Why a tree (or, for [`DropReason::MetricNamesFull`], a metric) was dropped instead of sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// The queue already held its maximum number of trees.
    QueueFull,
    /// The queue already held its maximum number of bytes.
    QueueBytes,
    /// The transport failed while writing the batch that held the tree.
    SendFailed,
    /// The client was shutting down (or shut down) when the tree finished or was still queued.
    Shutdown,
    /// A metric logged outside any transaction found the metric aggregator's shard already
    /// holding its maximum of distinct names (1000 per shard between flushes), or its name
    /// holding its maximum of tallies (4: kinds and minutes). Counts metric calls, not trees:
    /// the metric was never part of one, so [`Stats::dropped_total`] leaves these out.
    MetricNamesFull,
    /// The router said `block=true`: the collector side asked this domain to send nothing.
    Blocked,
    /// The tree's frame came out longer than a collector takes
    /// ([`ocelot_protocol::DEFAULT_MAX_FRAME_BYTES`], 16 MiB): sent, the collector would
    /// only drop it (counted as `frame_too_long`) after reading all of it.
    TooLarge,
    /// The tree was recorded in a process forked from the one that built the client, and the
    /// client's transport made none for that process ([`crate::Transport::for_forked_process`]).
    ForkedWithoutTransport,
    /// The tree was written on a connection whose peer then wrote back (a collector never
    /// does): the address leads to some other service, such as a web server that answered
    /// HTTP 400 and closed. Counted when the answer is seen, so these trees first show as
    /// sent and then move from [`Stats::sent`] to here.
    NotCollector,
}

impl DropReason {
    /// Every reason, in a stable order.
    pub const ALL: [DropReason; 9] = [
        DropReason::QueueFull,
        DropReason::QueueBytes,
        DropReason::SendFailed,
        DropReason::Shutdown,
        DropReason::MetricNamesFull,
        DropReason::Blocked,
        DropReason::TooLarge,
        DropReason::ForkedWithoutTransport,
        DropReason::NotCollector,
    ];

    /// A short snake-case name, used in heartbeat XML.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::QueueFull => "queue_full",
            DropReason::QueueBytes => "queue_bytes",
            DropReason::SendFailed => "send_failed",
            DropReason::Shutdown => "shutdown",
            DropReason::MetricNamesFull => "metric_names_full",
            DropReason::Blocked => "blocked",
            DropReason::TooLarge => "too_large",
            DropReason::ForkedWithoutTransport => "forked_without_transport",
            DropReason::NotCollector => "not_collector",
        }
    }

    /// Whether this reason counts trees (every reason but [`DropReason::MetricNamesFull`],
    /// which counts metric calls).
    pub fn counts_trees(self) -> bool {
        self != DropReason::MetricNamesFull
    }
}

/// A snapshot of a client's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Trees finished by the application (and the heartbeat thread).
    pub produced: u64,
    /// Trees written to the transport. Goes down when trees written on a connection are
    /// found lost after all ([`DropReason::NotCollector`]).
    pub sent: u64,
    /// Trees dropped because the queue was full of trees.
    pub dropped_queue_full: u64,
    /// Trees dropped because the queue was full of bytes.
    pub dropped_queue_bytes: u64,
    /// Trees dropped because a write failed.
    pub dropped_send_failed: u64,
    /// Trees dropped because the client was shutting down.
    pub dropped_shutdown: u64,
    /// Metric calls (not trees) dropped because the metric aggregator was full of names.
    pub dropped_metric_names_full: u64,
    /// Trees dropped because the router said `block=true`.
    pub dropped_blocked: u64,
    /// Trees dropped because their frame was longer than a collector takes.
    pub dropped_too_large: u64,
    /// Trees dropped because they were recorded in a forked process without a transport.
    pub dropped_forked_without_transport: u64,
    /// Trees written to an address that turned out not to be a collector's.
    pub dropped_not_collector: u64,
    /// Trees not sent because sampling folded them into the transaction and event
    /// aggregators (the router's `sample` below 1, or [`crate::ClientBuilder::sample_ratio`]).
    pub aggregated: u64,
    /// Trees waiting in the queue right now.
    pub queue_depth: u64,
    /// Estimated bytes of the trees waiting in the queue.
    pub queued_bytes: u64,
    /// Frame bytes written to the transport.
    pub sent_bytes: u64,
    /// Failed writes (each drops one batch).
    pub send_failures: u64,
    /// Successful connects (or reconnects) of the transport.
    pub connects: u64,
}

impl Stats {
    /// Trees dropped for the given reason.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        match reason {
            DropReason::QueueFull => self.dropped_queue_full,
            DropReason::QueueBytes => self.dropped_queue_bytes,
            DropReason::SendFailed => self.dropped_send_failed,
            DropReason::Shutdown => self.dropped_shutdown,
            DropReason::MetricNamesFull => self.dropped_metric_names_full,
            DropReason::Blocked => self.dropped_blocked,
            DropReason::TooLarge => self.dropped_too_large,
            DropReason::ForkedWithoutTransport => self.dropped_forked_without_transport,
            DropReason::NotCollector => self.dropped_not_collector,
        }
    }

    /// Whether every tree produced is accounted for: sent, dropped or aggregated. With an
    /// empty queue, [`crate::Client::flush`] is done then.
    pub(crate) fn all_accounted_for(&self) -> bool {
        self.produced <= self.sent + self.dropped_total() + self.aggregated
    }

    /// Trees dropped for any reason. Metrics dropped by the aggregator are not trees and are
    /// left out, so `produced == sent + dropped_total() + aggregated` once everything is
    /// flushed.
    pub fn dropped_total(&self) -> u64 {
        DropReason::ALL
            .iter()
            .filter(|r| r.counts_trees())
            .map(|r| self.dropped(*r))
            .sum()
    }
}

/// The live counters behind [`Stats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) produced: AtomicU64,
    pub(crate) sent: AtomicU64,
    pub(crate) aggregated: AtomicU64,
    dropped: [AtomicU64; DropReason::ALL.len()],
    pub(crate) queued_bytes: AtomicU64,
    pub(crate) sent_bytes: AtomicU64,
    pub(crate) send_failures: AtomicU64,
    pub(crate) connects: AtomicU64,
}

impl Counters {
    /// Counts `n` drops for `reason`: trees, or metric calls for
    /// [`DropReason::MetricNamesFull`].
    pub(crate) fn drop_trees(&self, reason: DropReason, n: u64) {
        let slot = DropReason::ALL
            .iter()
            .position(|r| *r == reason)
            .expect("ALL lists every reason");
        // Release: see `snapshot`.
        self.dropped[slot].fetch_add(n, Release);
    }

    /// Counts `n` trees written to the transport.
    pub(crate) fn count_sent(&self, n: u64) {
        // Release: see `snapshot`.
        self.sent.fetch_add(n, Release);
    }

    /// Moves `trees` (of `bytes` frame bytes) already counted as sent to the dropped ones for
    /// `reason`: they were written on a connection that turned out to lose them.
    pub(crate) fn unsend(&self, reason: DropReason, trees: u64, bytes: u64) {
        // `sent` down first, then the drop with `Release`; `snapshot` reads the drops first,
        // with `Acquire`. A snapshot that sees the drop then sees the lower `sent` too, so it
        // never counts these trees twice (which could end a `flush` while another tree is
        // still unsent); one that does not see it undercounts for a moment, which only makes
        // a `flush` look again.
        self.sent.fetch_sub(trees, Relaxed);
        self.sent_bytes.fetch_sub(bytes, Relaxed);
        self.drop_trees(reason, trees);
    }

    /// Counts a tree that sampling folded into the tree aggregator: produced and done at once.
    pub(crate) fn count_aggregated(&self) {
        self.produced.fetch_add(1, Relaxed);
        // Release: see `snapshot`.
        self.aggregated.fetch_add(1, Release);
    }

    /// A snapshot whose `produced` covers every tree its `sent`, `dropped_*` and `aggregated`
    /// count, as [`Stats::all_accounted_for`] needs: a tree is counted produced before it is
    /// counted done (those adds are `Release`), and here the done counters are read first
    /// (`Acquire`), `produced` last. Read the other way round, another thread's tree could be
    /// missing from `produced` but present in `aggregated`, standing in for a tree of ours the
    /// sender has not written yet, and `Client::flush` would finish too early.
    pub(crate) fn snapshot(&self, queue_depth: usize) -> Stats {
        // The drops before `sent`: see `unsend`.
        let d = |i: usize| self.dropped[i].load(Acquire);
        let dropped = [d(0), d(1), d(2), d(3), d(4), d(5), d(6), d(7), d(8)];
        let sent = self.sent.load(Acquire);
        let aggregated = self.aggregated.load(Acquire);
        Stats {
            produced: self.produced.load(Relaxed),
            sent,
            dropped_queue_full: dropped[0],
            dropped_queue_bytes: dropped[1],
            dropped_send_failed: dropped[2],
            dropped_shutdown: dropped[3],
            dropped_metric_names_full: dropped[4],
            dropped_blocked: dropped[5],
            dropped_too_large: dropped[6],
            dropped_forked_without_transport: dropped[7],
            dropped_not_collector: dropped[8],
            aggregated,
            queue_depth: queue_depth as u64,
            queued_bytes: self.queued_bytes.load(Relaxed),
            sent_bytes: self.sent_bytes.load(Relaxed),
            send_failures: self.send_failures.load(Relaxed),
            connects: self.connects.load(Relaxed),
        }
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;

    /// What `Client::flush` relies on: while a tree counted as produced is still in the
    /// sender's hands (taken from the queue, not yet written), no snapshot may say that every
    /// tree is accounted for, whatever other threads count meanwhile. Here another thread
    /// finishes a tree that sampling aggregates (produced and done at once).
    #[test]
    fn loom_a_tree_in_flight_is_never_accounted_for_by_another_threads_tree() {
        loom::model(|| {
            let counters = loom::sync::Arc::new(Counters::default());
            // Produced, queued, and taken by the sender: the queue is empty.
            counters.produced.fetch_add(1, Relaxed);
            let other = counters.clone();
            let t = loom::thread::spawn(move || other.count_aggregated());
            let stats = counters.snapshot(0);
            assert!(
                !stats.all_accounted_for(),
                "flush would finish with a tree unsent: {stats:?}"
            );
            t.join().unwrap();
        });
    }

    /// Trees moved from sent to dropped (`unsend`, a connection that was not a collector's)
    /// must never be counted twice by a snapshot taken meanwhile: that could end a `flush`
    /// while another tree is still in the sender's hands.
    #[test]
    fn loom_trees_moved_from_sent_to_dropped_are_never_counted_twice() {
        loom::model(|| {
            let counters = loom::sync::Arc::new(Counters::default());
            // Two trees produced: one sent, the other taken by the sender and not written.
            counters.produced.fetch_add(2, Relaxed);
            counters.count_sent(1);
            let other = counters.clone();
            let t = loom::thread::spawn(move || other.unsend(DropReason::NotCollector, 1, 0));
            let stats = counters.snapshot(0);
            assert!(
                !stats.all_accounted_for(),
                "flush would finish with a tree unsent: {stats:?}"
            );
            t.join().unwrap();
        });
    }
}
