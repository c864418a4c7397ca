//! The SDK's own counters: what it produced, sent and dropped, and why.
//!
//! Callers touch these only when a root tree ends (one or two relaxed atomic adds) or the metric
//! aggregator is full; the sender thread updates the rest. [`Stats`] is a plain snapshot.
//!
//! Every tree produced ends up in exactly one of three places: sent, dropped (for a
//! [`DropReason`] that counts trees) or aggregated (folded by sampling into the transaction
//! and event aggregators, whose own trees are produced and sent like any other).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

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
}

impl DropReason {
    /// Every reason, in a stable order.
    pub const ALL: [DropReason; 7] = [
        DropReason::QueueFull,
        DropReason::QueueBytes,
        DropReason::SendFailed,
        DropReason::Shutdown,
        DropReason::MetricNamesFull,
        DropReason::Blocked,
        DropReason::TooLarge,
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
    /// Trees written to the transport.
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
        }
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
        self.dropped[slot].fetch_add(n, Relaxed);
    }

    pub(crate) fn snapshot(&self, queue_depth: usize) -> Stats {
        let d = |i: usize| self.dropped[i].load(Relaxed);
        Stats {
            produced: self.produced.load(Relaxed),
            sent: self.sent.load(Relaxed),
            dropped_queue_full: d(0),
            dropped_queue_bytes: d(1),
            dropped_send_failed: d(2),
            dropped_shutdown: d(3),
            dropped_metric_names_full: d(4),
            dropped_blocked: d(5),
            dropped_too_large: d(6),
            aggregated: self.aggregated.load(Relaxed),
            queue_depth: queue_depth as u64,
            queued_bytes: self.queued_bytes.load(Relaxed),
            sent_bytes: self.sent_bytes.load(Relaxed),
            send_failures: self.send_failures.load(Relaxed),
            connects: self.connects.load(Relaxed),
        }
    }
}
