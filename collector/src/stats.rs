//! The collector's own counters: one source of truth for the State report, `/metrics` and
//! `ocelot status`. Plain atomics, bumped on the ingest path without locks.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use ocelot_protocol::{DecodeError, FrameError};
use serde::Serialize;

use crate::sealed_reports::SealedReportStats;

/// Why a frame could not be used, as a short label.
pub(crate) fn decode_error_reason(e: &DecodeError) -> &'static str {
    match e {
        DecodeError::LengthMismatch { .. } => "length_mismatch",
        DecodeError::UnknownMagic { magic } if magic == "NM1" => "metric_bag",
        DecodeError::UnknownMagic { .. } => "unknown_magic",
        DecodeError::Truncated { .. } => "truncated",
        DecodeError::VarintOverflow { .. } => "varint_overflow",
        DecodeError::UnknownTag { .. } => "unknown_tag",
        DecodeError::UnbalancedEnd { .. } => "unbalanced_end",
        DecodeError::UnclosedTransaction { .. } => "unclosed_transaction",
        DecodeError::TooDeep { .. } => "too_deep",
        DecodeError::Empty => "empty",
        DecodeError::TrailingData { .. } => "trailing_data",
        DecodeError::MalformedText { .. } => "malformed_text",
    }
}

/// Why a byte stream could not be split, as a short label.
pub(crate) fn frame_error_reason(e: &FrameError) -> &'static str {
    match e {
        FrameError::ZeroLength { .. } => "zero_length",
        // A length no client writes (an HTTP request read as a frame, the ASCII `0000` of a
        // crashing client): the connection is closed. Not `frame_too_long`, which is a real
        // client's tree over the cap, skipped with the connection kept.
        FrameError::TooLong { .. } => "bad_length",
        FrameError::Skipped { .. } => "frame_too_long",
    }
}

/// All decode and framing error labels, so counters are fixed and bounded.
pub(crate) const DECODE_REASONS: [&str; 21] = [
    "length_mismatch",
    "unknown_magic",
    // CAT 4.0's metric bags: skipped, the connection kept (see `Collector::accept`).
    "metric_bag",
    "truncated",
    "varint_overflow",
    "unknown_tag",
    "unbalanced_end",
    "unclosed_transaction",
    "too_deep",
    "empty",
    "trailing_data",
    "malformed_text",
    "zero_length",
    // A CAT frame over `max_frame_bytes`: skipped, the connection kept.
    "frame_too_long",
    // A tree of more than `MAX_MESSAGES_PER_TREE` messages: skipped, the connection kept.
    "too_many_messages",
    // Any other length over the cap: not a CAT client (an HTTP request, garbage); closed.
    "bad_length",
    // Well formed, but its domain cannot name a report (see `Collector::accept`).
    "invalid_domain",
    // A connection closed inside a large unfinished frame while frames still arriving held
    // more than `partial_frame_bytes` (see `server.rs`).
    "over_memory_budget",
    // A connection closed inside a frame that made no progress for `partial_frame_timeout`
    // (see `server.rs`).
    "stalled",
    // A connection closed (by either side) inside a frame: its partial tree is lost. Apart
    // from `truncated`, a whole frame whose body is cut short (a client's encoder bug).
    "closed_mid_frame",
    // A connection that ended before its first length prefix was whole: a port scan or a
    // health check, nothing that could be a tree. See [`HARMLESS_DECODE_REASONS`].
    "closed_in_length_prefix",
];

/// The decode-error reasons ([`StatsSnapshot::decode_errors`]) that lose nothing a client
/// sent as a tree: counted to be seen, never called dropped data (`ocelot status`, the
/// State page). A connection that sends two bytes and closes is how a port scan or a TCP
/// health check looks; CAT 4.0 clients write metric bags (`NM1`) between their trees, and
/// Java 3.x clients a header without a message for a tree they have not got: frames that
/// hold no tree, skipped as docs/wire-format.md says, "not as errors".
pub const HARMLESS_DECODE_REASONS: [&str; 3] = ["closed_in_length_prefix", "metric_bag", "empty"];

/// Counters of one report worker.
#[derive(Debug, Default)]
pub(crate) struct WorkerCounters {
    pub(crate) processed: AtomicU64,
    pub(crate) busy_us: AtomicU64,
    pub(crate) max_us: AtomicU64,
    pub(crate) dropped_queue_full: AtomicU64,
    pub(crate) dropped_hour_sealed: AtomicU64,
    pub(crate) queue_depth: AtomicU64,
    /// Trees sent to the worker and not yet processed (what bounds its queue).
    pub(crate) queued: AtomicU64,
    pub(crate) report_write_errors: AtomicU64,
    pub(crate) sealed_hours_abandoned: AtomicU64,
    /// When this worker last finished a checkpoint with every report written (epoch ms).
    pub(crate) checkpointed_ms: AtomicU64,
}

/// The collector's counters.
#[derive(Debug)]
pub struct CollectorStats {
    pub(crate) connections_open: AtomicU64,
    pub(crate) connections_total: AtomicU64,
    pub(crate) connections_refused: AtomicU64,
    pub(crate) connections_evicted: AtomicU64,
    pub(crate) frames: AtomicU64,
    pub(crate) bytes: AtomicU64,
    pub(crate) trees_accepted: AtomicU64,
    pub(crate) decode_errors: [AtomicU64; DECODE_REASONS.len()],
    pub(crate) out_of_window: AtomicU64,
    pub(crate) no_message_id: AtomicU64,
    pub(crate) trees_folded_domain: AtomicU64,
    pub(crate) store_dropped: AtomicU64,
    pub(crate) hours_sealed: AtomicU64,
    pub(crate) hours_restored_incomplete: AtomicU64,
    /// Open hours restored incomplete whose State report is not marked yet: the next State
    /// sample marks each in its own hour's report (a restart at 15:01 continues 14:00).
    pub(crate) restored_incomplete_unmarked: std::sync::Mutex<Vec<u64>>,
    /// Hours found incomplete at this start whose reports are to be rebuilt from the store
    /// once sealed (`CollectorConfig::rebuild_incomplete_hours`).
    pub(crate) incomplete_hours: std::sync::Mutex<std::collections::BTreeSet<u64>>,
    pub(crate) hours_rebuilt: AtomicU64,
    pub(crate) report_queries_unanswered: AtomicU64,
    pub(crate) entry_budgets_spent: AtomicU64,
    /// When a State sample or a stats read last saw a tree dropped, epoch ms (0: none
    /// since start).
    pub(crate) last_drop_ms: AtomicU64,
    /// [`StatsSnapshot::trees_lost`] when a drop was last dated: more since means trees
    /// were dropped after that.
    pub(crate) lost_dated: AtomicU64,
    /// Frame bytes of the batches some report worker still holds (see `QueuedTrees`).
    pub(crate) queued_bytes: Arc<AtomicU64>,
    pub(crate) workers: Vec<(&'static str, WorkerCounters)>,
}

impl CollectorStats {
    /// An open hour was continued from checkpoints lacking trees: counted, and its State
    /// report marked by the next sample.
    pub(crate) fn restored_incomplete(&self, hour: u64) {
        self.hours_restored_incomplete.fetch_add(1, Relaxed);
        self.incomplete_hours
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(hour);
        self.restored_incomplete_unmarked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(hour);
    }

    /// The hours [`CollectorStats::restored_incomplete`] counted since the last call.
    pub(crate) fn take_restored_incomplete(&self) -> Vec<u64> {
        std::mem::take(
            &mut *self
                .restored_incomplete_unmarked
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        )
    }

    pub(crate) fn new(workers: &[&'static str]) -> Self {
        CollectorStats {
            connections_open: AtomicU64::new(0),
            connections_total: AtomicU64::new(0),
            connections_refused: AtomicU64::new(0),
            connections_evicted: AtomicU64::new(0),
            frames: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            trees_accepted: AtomicU64::new(0),
            decode_errors: Default::default(),
            out_of_window: AtomicU64::new(0),
            no_message_id: AtomicU64::new(0),
            trees_folded_domain: AtomicU64::new(0),
            store_dropped: AtomicU64::new(0),
            hours_sealed: AtomicU64::new(0),
            hours_restored_incomplete: AtomicU64::new(0),
            restored_incomplete_unmarked: std::sync::Mutex::default(),
            incomplete_hours: std::sync::Mutex::default(),
            hours_rebuilt: AtomicU64::new(0),
            report_queries_unanswered: AtomicU64::new(0),
            entry_budgets_spent: AtomicU64::new(0),
            last_drop_ms: AtomicU64::new(0),
            lost_dated: AtomicU64::new(0),
            queued_bytes: Arc::new(AtomicU64::new(0)),
            workers: workers
                .iter()
                .map(|name| (*name, WorkerCounters::default()))
                .collect(),
        }
    }

    pub(crate) fn count_decode_error(&self, reason: &str) {
        if let Some(i) = DECODE_REASONS.iter().position(|r| *r == reason) {
            self.decode_errors[i].fetch_add(1, Relaxed);
        }
    }

    pub(crate) fn worker(&self, index: usize) -> &WorkerCounters {
        &self.workers[index].1
    }

    /// A plain copy of every counter.
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            connections_open: self.connections_open.load(Relaxed),
            connections_total: self.connections_total.load(Relaxed),
            connections_refused: self.connections_refused.load(Relaxed),
            connections_evicted: self.connections_evicted.load(Relaxed),
            frames: self.frames.load(Relaxed),
            bytes: self.bytes.load(Relaxed),
            trees_accepted: self.trees_accepted.load(Relaxed),
            decode_errors: DECODE_REASONS
                .iter()
                .zip(&self.decode_errors)
                .map(|(r, n)| ((*r).to_owned(), n.load(Relaxed)))
                .filter(|(_, n)| *n > 0)
                .collect(),
            out_of_window: self.out_of_window.load(Relaxed),
            no_message_id: self.no_message_id.load(Relaxed),
            trees_folded_domain: self.trees_folded_domain.load(Relaxed),
            store_dropped: self.store_dropped.load(Relaxed),
            report_queries_unanswered: self.report_queries_unanswered.load(Relaxed),
            entry_budgets_spent: self.entry_budgets_spent.load(Relaxed),
            last_drop_ms: self.last_drop_ms.load(Relaxed),
            // Filled by `Collector::stats`, which has the store.
            store_drops: BTreeMap::new(),
            store_last_error: None,
            hours_sealed: self.hours_sealed.load(Relaxed),
            hours_restored_incomplete: self.hours_restored_incomplete.load(Relaxed),
            hours_rebuilt: self.hours_rebuilt.load(Relaxed),
            // The oldest of the workers' last good checkpoints: the open hour is safe on
            // disk up to there (0 while any worker has none).
            last_checkpoint_ms: self
                .workers
                .iter()
                .map(|(_, w)| w.checkpointed_ms.load(Relaxed))
                .min()
                .unwrap_or(0),
            queued_bytes: self.queued_bytes.load(Relaxed),
            // Filled by `Collector::stats`, which has the cache.
            sealed_reports: SealedReportStats::default(),
            workers: self
                .workers
                .iter()
                .map(|(name, w)| {
                    (
                        (*name).to_owned(),
                        WorkerSnapshot {
                            processed: w.processed.load(Relaxed),
                            busy_us: w.busy_us.load(Relaxed),
                            max_us: w.max_us.load(Relaxed),
                            dropped_queue_full: w.dropped_queue_full.load(Relaxed),
                            dropped_hour_sealed: w.dropped_hour_sealed.load(Relaxed),
                            queue_depth: w.queue_depth.load(Relaxed),
                            report_write_errors: w.report_write_errors.load(Relaxed),
                            sealed_hours_abandoned: w.sealed_hours_abandoned.load(Relaxed),
                        },
                    )
                })
                .collect(),
        }
    }
}

/// Counters of one worker, copied.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkerSnapshot {
    /// Trees processed.
    pub processed: u64,
    /// Microseconds spent processing.
    pub busy_us: u64,
    /// Slowest single tree, microseconds.
    pub max_us: u64,
    /// Trees dropped because the worker's queue was full.
    pub dropped_queue_full: u64,
    /// Trees that reached the worker after their hour was sealed (admitted just before the
    /// hour closed, still queued when it was written).
    pub dropped_hour_sealed: u64,
    /// Trees waiting in the queue at the last sample.
    pub queue_depth: u64,
    /// Failed report writes (checkpoints and seals).
    pub report_write_errors: u64,
    /// Sealed hours given up unwritten: the store failed their writes for so long that
    /// more than [`MAX_UNWRITTEN_SEALED_HOURS`](crate::MAX_UNWRITTEN_SEALED_HOURS) waited.
    pub sealed_hours_abandoned: u64,
}

/// Every collector counter, copied at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatsSnapshot {
    /// Connections being served now.
    pub connections_open: u64,
    /// Connections accepted since start.
    pub connections_total: u64,
    /// Connections closed at once because every slot (`max_connections`) was busy.
    pub connections_refused: u64,
    /// Silent connections closed to make room for a new one when every slot was taken.
    pub connections_evicted: u64,
    /// Frames received, good or bad: one over the size cap (stepped over), one of a length
    /// that closes the connection, and one cut short by a close count once each, as every
    /// frame in [`StatsSnapshot::decode_errors`] does.
    pub frames: u64,
    /// Bytes of frames received, good or bad, length prefixes included: those read of a
    /// frame that was not whole, and an oversize frame's as they arrive and are stepped over.
    pub bytes: u64,
    /// Trees decoded and inside the hour window.
    pub trees_accepted: u64,
    /// Frames refused, by reason (only reasons seen).
    pub decode_errors: BTreeMap<String, u64>,
    /// Trees whose hour is not open.
    pub out_of_window: u64,
    /// Trees without a usable message ID (none, not parseable, or naming an hour after the
    /// next): analysed but not stored.
    pub no_message_id: u64,
    /// Trees filed under the domain `OTHERS` because their hour had reached its domain cap.
    pub trees_folded_domain: u64,
    /// Trees the store refused when they were handed to it (queue full, bad name, ...).
    pub store_dropped: u64,
    /// Trees the store dropped, at the hand-over or later in its writer (a failed write, a
    /// full data file, a duplicate ID), by reason: the store's own counters. Only reasons
    /// seen; empty without a store.
    pub store_drops: BTreeMap<&'static str, u64>,
    /// The store's last failure (what, which file, the OS error, when), so that the pages
    /// can name what failed; `None` without a store or while none happened. Not serialized:
    /// the store's type is plain, and nothing reads this snapshot as JSON.
    #[serde(skip)]
    pub store_last_error: Option<ocelot_store::LastError>,
    /// Hours sealed (past their grace period) since start, each counted once: all the
    /// hours a clock jump seals at once, none again when the clock crosses a seal twice.
    pub hours_sealed: u64,
    /// Hours this start found with checkpoints that lack trees the hour took before the
    /// start: after a crash (`kill -9`, a failed final flush) the trees taken after the
    /// last checkpoint, or with a checkpoint that could not be read or parsed (its report
    /// started from zero), or whose checkpoints could not be listed. Open hours continue
    /// from those checkpoints; an hour that closed while the collector was down keeps its
    /// last checkpoint as its reports. Those hours' reports count less than was received;
    /// the trees are in the store.
    pub hours_restored_incomplete: u64,
    /// Hours found incomplete whose reports were rebuilt from the store's trees once sealed
    /// (`CollectorConfig::rebuild_incomplete_hours`).
    pub hours_rebuilt: u64,
    /// Report queries the analyzer thread holding the hour did not answer in time (busy
    /// with a checkpoint, say): readers got the last checkpoint, or nothing.
    pub report_queries_unanswered: u64,
    /// Reports (kind, hour and analyzer thread) that spent their entry budget
    /// (`AnalyzerConfig::max_entries_per_hour`): from then on their new keys folded into
    /// `OTHERS`.
    pub entry_budgets_spent: u64,
    /// When trees were last dropped (any stage and reason of [`StatsSnapshot::trees_lost`]),
    /// epoch ms by the collector's clock: dated by the first State sample (every
    /// `state_interval`, 10 s by default) or stats read (a `/metrics` scrape) that sees the
    /// loss; 0 while none was since start. Totals since start cannot tell a drop an hour
    /// ago from one a minute ago, and comparing two of them a second apart (`ocelot
    /// status`) misses drops that come in bursts.
    pub last_drop_ms: u64,
    /// When every worker last checkpointed the open hours with every report written, epoch
    /// ms (0 = not yet): a checkpoint that failed to write does not move it.
    pub last_checkpoint_ms: u64,
    /// Frame bytes queued for the report workers now (each frame once).
    pub queued_bytes: u64,
    /// The parsed reports of sealed hours kept for the web server.
    pub sealed_reports: SealedReportStats,
    /// Per report worker.
    pub workers: BTreeMap<String, WorkerSnapshot>,
}

impl StatsSnapshot {
    /// All decode and framing errors.
    pub fn decode_errors_total(&self) -> u64 {
        self.decode_errors.values().sum()
    }

    /// Drops anywhere after decoding, summed over the stages that drop (each analyzer
    /// thread's queue, the store): a tree dropped by the store and by an analyzer counts
    /// twice, so this is not a count of distinct trees.
    pub fn dropped_total(&self) -> u64 {
        // The store counts its refusals at the hand-over too: `store_drops` holds
        // `store_dropped` when there is a store.
        self.store_drops
            .values()
            .sum::<u64>()
            .max(self.store_dropped)
            + self
                .workers
                .values()
                .map(|w| w.dropped_queue_full + w.dropped_hour_sealed)
                .sum::<u64>()
    }

    /// Trees lost after decoding, at any stage: [`StatsSnapshot::dropped_total`], and the
    /// trees outside the hour window and those without a usable message ID (not stored).
    /// A duplicate the store refused is left out: the first tree of its ID is stored, and a
    /// client sending a tree again loses nothing. (A different tree sent under an ID already
    /// used is counted in the reports but not stored: its ID finds the first.) Added up
    /// over the stages, as `ocelot_dropped_trees_total` is labelled: a tree dropped by both
    /// the store and its report worker counts twice, so this can pass the trees received.
    /// Trees, each once per loss, are [`StatsSnapshot::trees_lost_to_reports`] and
    /// [`StatsSnapshot::trees_lost_to_store`].
    pub fn trees_lost(&self) -> u64 {
        let duplicates = self.store_drops.get("duplicate").copied().unwrap_or(0);
        self.dropped_total().saturating_sub(duplicates) + self.out_of_window + self.no_message_id
    }

    /// Trees the reports do not count: outside the hour window, or dropped by a report
    /// worker. Each tree goes to one report worker, so none counts twice here.
    pub fn trees_lost_to_reports(&self) -> u64 {
        self.out_of_window
            + self
                .workers
                .values()
                .map(|w| w.dropped_queue_full + w.dropped_hour_sealed)
                .sum::<u64>()
    }

    /// Trees not stored, so not findable by their ID: outside the hour window, without a
    /// usable message ID, or dropped by the store (a duplicate ID left out: the ID finds
    /// the first tree). The store refuses a tree once, so none counts twice here; one may
    /// be in [`StatsSnapshot::trees_lost_to_reports`] too.
    pub fn trees_lost_to_store(&self) -> u64 {
        let duplicates = self.store_drops.get("duplicate").copied().unwrap_or(0);
        let store = self
            .store_drops
            .values()
            .sum::<u64>()
            .max(self.store_dropped)
            .saturating_sub(duplicates);
        store + self.out_of_window + self.no_message_id
    }
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;
    use ocelot_protocol::FrameDecoder;

    use super::*;

    /// Tiny queues: 20,000 trees, most dropped by both the store and a report worker. The
    /// stages added up to 34,796 "lost"; each part counts a tree once.
    #[test]
    fn the_lost_parts_count_a_tree_dropped_by_the_store_and_a_worker_once_each() {
        let mut stats = StatsSnapshot {
            trees_accepted: 20_000,
            out_of_window: 4,
            no_message_id: 1,
            ..StatsSnapshot::default()
        };
        stats.store_drops.insert("queue_full", 19_764);
        stats.store_drops.insert("duplicate", 30);
        for (worker, n) in [("analyzer-0", 7_608), ("analyzer-1", 7_424)] {
            let w = WorkerSnapshot {
                dropped_queue_full: n,
                ..WorkerSnapshot::default()
            };
            stats.workers.insert(worker.to_owned(), w);
        }
        assert_eq!(stats.trees_lost(), 34_801, "the stages added up");
        assert_eq!(stats.trees_lost_to_reports(), 15_036);
        assert_eq!(stats.trees_lost_to_store(), 19_769);
    }

    /// The reason a stream's first frame error is counted under.
    fn reason_of(stream: &[u8], max_frame_bytes: usize) -> &'static str {
        let mut buf = BytesMut::from(stream);
        let e = FrameDecoder::new(max_frame_bytes)
            .decode(&mut buf)
            .expect_err("a framing error");
        let reason = frame_error_reason(&e);
        assert!(DECODE_REASONS.contains(&reason), "{reason}");
        reason
    }

    /// An HTTP request sent to the collector port by mistake was counted as
    /// `frame_too_long`, which reads as a client's tree over 16 MiB.
    #[test]
    fn an_impossible_length_is_a_bad_length_and_an_oversized_cat_frame_is_too_long() {
        let http = b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
        assert_eq!(reason_of(http, 16 << 20), "bad_length");
        assert_eq!(reason_of(b"0000NT1 garbage", 16 << 20), "bad_length");
        let mut big = 100u32.to_be_bytes().to_vec();
        big.extend_from_slice(b"NT1");
        assert_eq!(reason_of(&big, 50), "frame_too_long");
    }
}
