//! Collector settings.

use std::sync::Arc;
use std::time::Duration;

use ocelot_analyzer::AnalyzerConfig;
use ocelot_protocol::{DecodeOptions, DEFAULT_MAX_FRAME_BYTES};

pub use crate::copies::CopyReuse;

/// Collector settings; `Default` gives CAT's behaviour.
#[derive(Debug, Clone)]
pub struct CollectorConfig {
    /// Largest accepted frame body. A longer CAT frame (up to
    /// [`ocelot_protocol::MAX_SKIPPED_FRAME_BYTES`]) is dropped and counted, the connection
    /// kept; any other longer declared length closes the connection.
    pub max_frame_bytes: usize,
    /// Connections served at once (see [`crate::run`] for a client that finds them taken).
    pub max_connections: usize,
    /// Bytes of frames still arriving, all connections together. Past it, a connection
    /// holding more than a read buffer's worth of an unfinished frame is closed (counted as
    /// the decode error `over_memory_budget`): clients that start large frames and stall
    /// would otherwise hold up to `max_connections` x `max_frame_bytes`.
    pub partial_frame_bytes: u64,
    /// How long a connection inside a frame may go without finishing one or bringing
    /// 64 KiB more; then it is closed (counted as the decode error `stalled`), and its
    /// share of `partial_frame_bytes` freed. Without it, clients that start large frames
    /// and stall held that budget for good, and honest clients sending large frames were
    /// closed instead.
    pub partial_frame_timeout: Duration,
    /// Trees queued per report worker before trees are dropped (counted) for that worker.
    pub worker_queue_trees: usize,
    /// Frame bytes queued for the report workers together (a frame counts once however
    /// many workers take it). Past it, a worker that still has trees queued drops each
    /// new read's trees (counted); workers that keep up still take them. It bounds the
    /// queues' memory when all of them fill at once.
    pub worker_queue_bytes: u64,
    /// Analyzer threads: domains are spread over them, each thread keeps every report kind
    /// of its domains (1 to [`crate::MAX_ANALYZER_THREADS`]; the State report has a thread
    /// of its own besides).
    pub analyzer_threads: usize,
    /// Trees of the previous hour are accepted until this many minutes past the hour (CAT: 3).
    pub previous_hour_grace_minutes: u64,
    /// Trees of the next hour are accepted from this many minutes before it (CAT: 3, i.e. hh:57).
    pub next_hour_early_minutes: u64,
    /// How often the open hours' reports are written to the store.
    pub checkpoint_interval: Duration,
    /// How often the collector's own figures go into the State report.
    pub state_interval: Duration,
    /// Whether a background thread calls [`crate::Collector::tick`] every second (tests with a
    /// manual clock turn it off and tick by hand).
    pub background_ticks: bool,
    /// Decoding options (PT1 time zone).
    pub decode: DecodeOptions,
    /// Analyzer caps and thresholds.
    pub analyzer: Arc<AnalyzerConfig>,
    /// When a live report copied for a reader is kept for the next ones.
    pub copy_reuse: CopyReuse,
    /// Estimated heap bytes of parsed sealed reports kept for the next readers (0: none
    /// kept; see [`crate::DEFAULT_SEALED_REPORT_CACHE_BYTES`]).
    pub sealed_report_cache_bytes: u64,
    /// Whether the last run on this store stopped cleanly: its final checkpoint wrote every
    /// open hour with every tree it had taken (`ocelot serve` knows from a marker its stop
    /// leaves). What a restart logs of the hours it continues depends on it, and which hours
    /// it takes as incomplete: after a crash, every hour it continues; after a clean stop,
    /// those whose State report an earlier crash marked.
    pub after_clean_stop: bool,
    /// Whether an hour this start found incomplete (after a crash: its checkpoint lacks the
    /// trees taken after it) has its reports rebuilt from the store's trees once it is sealed
    /// ([`crate::rebuild_hour`], on a thread of low priority), keeping a domain's checkpointed
    /// reports where the store holds fewer of its trees than were received. Default on.
    pub rebuild_incomplete_hours: bool,
}

/// Default worker queue: half a second at 300 k trees/s, so a worker that loses its core
/// for a moment (a busy neighbour on a shared machine, a checkpoint) catches up instead of
/// dropping. CAT queues 30 000 per analyzer. Workers queue frames as received (about
/// 0.6 KiB each, plus 0.1 KiB of bookkeeping; they decode them), so a full queue holds
/// about 100 MiB. Each analyzer thread queues different trees (its own domains'); the
/// State worker's queue and the store's share their frames. On the 2-core benchmark
/// machine 50 000 dropped 0.2-3.5 % of the trees at 300 k trees/s, and 150 000 none,
/// with a lower peak RSS than the runs that dropped (BENCHMARKS.md).
pub const DEFAULT_WORKER_QUEUE_TREES: usize = 150_000;

/// Default for all worker queues together: 128 MiB of frames, about one full queue's
/// worth. Without it, analyzer queues that all fill at once (each holds its own domains'
/// trees) held 300-450 MiB in an overloaded benchmark run.
pub const DEFAULT_WORKER_QUEUE_BYTES: u64 = 128 << 20;

/// Default analyzer threads: one per core, at least 2 (so a slow domain never holds up
/// all the others) and at most 8.
pub fn default_analyzer_threads() -> usize {
    std::thread::available_parallelism()
        .map_or(2, usize::from)
        .clamp(2, 8)
}

/// Default connection limit: far above what one collector sees from CAT clients, which keep
/// one connection per process.
pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;

/// Default for frames still arriving, all connections together: 256 MiB, sixteen of the
/// largest frames at once.
pub const DEFAULT_PARTIAL_FRAME_BYTES: u64 = 256 << 20;

/// Default for [`CollectorConfig::partial_frame_timeout`]: a CAT client writes a frame in one
/// go, so a frame 30 s without progress is a client that stopped, not a slow one.
pub const DEFAULT_PARTIAL_FRAME_TIMEOUT: Duration = Duration::from_secs(30);

impl Default for CollectorConfig {
    fn default() -> Self {
        CollectorConfig {
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            partial_frame_bytes: DEFAULT_PARTIAL_FRAME_BYTES,
            partial_frame_timeout: DEFAULT_PARTIAL_FRAME_TIMEOUT,
            worker_queue_trees: DEFAULT_WORKER_QUEUE_TREES,
            worker_queue_bytes: DEFAULT_WORKER_QUEUE_BYTES,
            analyzer_threads: default_analyzer_threads(),
            previous_hour_grace_minutes: 3,
            next_hour_early_minutes: 3,
            checkpoint_interval: Duration::from_secs(60),
            state_interval: Duration::from_secs(10),
            background_ticks: true,
            decode: DecodeOptions::default(),
            analyzer: Arc::new(AnalyzerConfig::default()),
            copy_reuse: CopyReuse::default(),
            sealed_report_cache_bytes: crate::DEFAULT_SEALED_REPORT_CACHE_BYTES,
            after_clean_stop: false,
            rebuild_incomplete_hours: true,
        }
    }
}
