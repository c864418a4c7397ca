//! Ocelot's collector (`ocelot-collector`): the TCP server CAT clients send to.
//!
//! ```text
//! TCP :2280 ─> connection task: FrameDecoder ─> per frame: scan_frame (NT1: checked, not decoded;
//!                                                 PT1: decoded), hour window check
//!                                                 (current, previous until :03, next from :57)
//!                                             ─> per read, all its frames together:
//!                                                 ├─ Store::append_scanned(FrameKey: the ID in the frame, frame as received)
//!                                                 │    (the ID parsed once: its numbers go with the tree to the reports)
//!                                                 ├─ trees and bytes per domain added to the State worker's counts
//!                                                 └─ send one Arc of the read's trees to every analyzer thread
//!                                                      that has some: analyzer-0..N (each decodes the trees of
//!                                                      its domains and keeps their Transaction, Event,
//!                                                      Problem, Heartbeat, Metric and Matrix
//!                                                      reports)
//! clock thread: every second `Collector::tick`: checkpoint open hours, seal finished ones, sample the State report
//! ```
//!
//! A bad frame is refused on the socket's thread (the scan gives the decoder's verdict
//! without building the tree), counted and dropped; the connection is kept, as the frame
//! was whole and the next one starts right after it (closed only after
//! [`MAX_BAD_FRAMES_IN_A_ROW`] with no good one, or on a bad length, which leaves nothing
//! to trust). Frames that hold no tree (CAT 4.0 metric bags, a header without a message)
//! and CAT frames over `max_frame_bytes` or trees over [`MAX_MESSAGES_PER_TREE`] are
//! counted and skipped. Each hour, domains are placed on the analyzer
//! threads by load (planned from the hour before, see `DomainShards`); each thread owns
//! every report of its domains for the open hours: no lock on the per-message path, a tree
//! decoded, walked and freed by one core, and more cores analyse more domains at once. A
//! full worker queue (bounded in trees) drops the trees for that worker only, counted; when
//! the queues together hold `worker_queue_bytes` of frames, every worker that is behind
//! drops new trees, counted. Time comes from a [`Clock`], so hour boundaries are tested
//! with a [`ManualClock`]. Reports live in the store as JSON: checkpoints of the open hours
//! every minute, and the final reports when an hour is sealed; a restart reloads the open
//! hours' checkpoints and carries on counting.
//!
//! The binary starts it as `run(listener, collector, shutdown)`; the web server reads live
//! reports through [`Collector::transaction_report`] and friends.

mod clock;
mod collector;
mod config;
mod copies;
mod domain_shards;
#[cfg(test)]
mod log_buffer;
mod peer_log;
mod period;
mod queue_full_log;
mod rate_limited_log;
mod rebuild;
mod received;
mod sealed_reports;
mod server;
mod stats;
mod worker;

pub use clock::{Clock, ManualClock, SystemClock};
pub use collector::{
    is_client_domain, lower_this_threads_priority, Collector, Unanswered, UnwrittenReports,
    MAX_ANALYZER_THREADS, MAX_MESSAGES_PER_TREE, MAX_UNWRITTEN_SEALED_HOURS, STATE_DOMAIN,
};
pub use config::{
    default_analyzer_threads, CollectorConfig, CopyReuse, DEFAULT_MAX_CONNECTIONS,
    DEFAULT_PARTIAL_FRAME_BYTES, DEFAULT_PARTIAL_FRAME_TIMEOUT, DEFAULT_WORKER_QUEUE_BYTES,
    DEFAULT_WORKER_QUEUE_TREES,
};
pub use period::{accept_hour, OutOfWindow};
pub use rebuild::{rebuild_hour, RebuildError, RebuildOptions, Rebuilt};
pub use sealed_reports::{SealedReportStats, DEFAULT_SEALED_REPORT_CACHE_BYTES};
pub use server::{run, MAX_BAD_FRAMES_IN_A_ROW};
pub use stats::{CollectorStats, StatsSnapshot, WorkerSnapshot, HARMLESS_DECODE_REASONS};
