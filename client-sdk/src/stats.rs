//! The SDK's own counters: what it produced, sent and dropped, and why.
//!
//! Callers touch these only when a root tree ends (one or two relaxed atomic adds); the
//! sender thread updates the rest. [`Stats`] is a plain snapshot.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Why a tree was dropped instead of sent.
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
}

impl DropReason {
    /// Every reason, in a stable order.
    pub const ALL: [DropReason; 4] = [
        DropReason::QueueFull,
        DropReason::QueueBytes,
        DropReason::SendFailed,
        DropReason::Shutdown,
    ];

    /// A short snake-case name, used in heartbeat XML.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::QueueFull => "queue_full",
            DropReason::QueueBytes => "queue_bytes",
            DropReason::SendFailed => "send_failed",
            DropReason::Shutdown => "shutdown",
        }
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
        }
    }

    /// Trees dropped for any reason.
    pub fn dropped_total(&self) -> u64 {
        DropReason::ALL.iter().map(|r| self.dropped(*r)).sum()
    }
}

/// The live counters behind [`Stats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) produced: AtomicU64,
    pub(crate) sent: AtomicU64,
    dropped: [AtomicU64; 4],
    pub(crate) queued_bytes: AtomicU64,
    pub(crate) sent_bytes: AtomicU64,
    pub(crate) send_failures: AtomicU64,
    pub(crate) connects: AtomicU64,
}

impl Counters {
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
            queue_depth: queue_depth as u64,
            queued_bytes: self.queued_bytes.load(Relaxed),
            sent_bytes: self.sent_bytes.load(Relaxed),
            send_failures: self.send_failures.load(Relaxed),
            connects: self.connects.load(Relaxed),
        }
    }
}
