//! [`Collector`]: the ingest path, the report workers, and the clock-driven checkpoints.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use crossbeam_channel::{bounded, unbounded, Sender};
use ocelot_analyzer::MatrixReport;
use ocelot_analyzer::{
    DomainOverview, EventReport, HeartbeatReport, MetricReport, ParsedId, ProblemReport,
    StateReport, TransactionReport,
};
use ocelot_protocol::{
    hour_of, scan_frame, DecodeError, MessageId, MessageIdRef, ScannedFrame, MILLIS_PER_HOUR,
};
use ocelot_store::{FrameKey, Store};

use crate::clock::Clock;
use crate::config::CollectorConfig;
use crate::copies::ReusedCopies;
use crate::domain_shards::{DomainShards, Placement};
use crate::period::{accept_hour, is_due_for_sealing, last_hour_due_for_sealing};
use crate::queue_full_log::{QueueFullLog, STORE_QUEUE};
use crate::rate_limited_log::RateLimitedLog;
use crate::received::ReceivedCounts;
use crate::sealed_reports::SealedReports;
use crate::stats::{decode_error_reason, CollectorStats, StatsSnapshot, DECODE_REASONS};
use crate::worker::{
    self, AnyReport, Control, QueuedTrees, Report, ReportKind, Scope, SealLog, SealsSaid,
    ShardWorker, StateSample, StateWorker, StoredReport, TreeBatch, TreeItem, Worker,
    WorkerContext,
};

/// The trees scanned from one read of a connection, and their frames for the store, on
/// their way to the store and the workers together (see [`Collector::accept`]).
///
/// Per-tree bookkeeping that would otherwise touch shared state stays here until the batch
/// is dispatched: the counters (added to the collector's once per read, not per tree, so two
/// socket threads do not trade their cache lines), the clock (read once per read) and the
/// cap's answers for the domains this connection has carried (a CAT client's connection
/// carries one domain, a relay's many; their trees skip the `DomainShards` lock).
#[derive(Default)]
pub(crate) struct IngestBatch {
    frames: Vec<(FrameKey, Bytes)>,
    trees: Vec<TreeItem>,
    /// When this read's trees arrived; cleared by dispatch.
    now_ms: Option<u64>,
    /// Frames, bytes and accepted trees not yet added to the collector's counters.
    counted: BatchCounts,
    /// The `DomainShards`' answers this connection got, by hour and domain key: the
    /// domain's shard, and whether it folded into `OTHERS`. Kept across reads: an answer
    /// holds for the whole hour (a domain keeps its shard for the hour, an hour's admitted
    /// domains are only ever added to, and a full hour stays full). Bounded by
    /// [`ADMISSIONS_KEPT`].
    admissions: hashbrown::HashMap<(u64, String), Option<Placement>>,
    /// [`DomainShards::forgotten`] when `admissions` were got: an hour forgotten and
    /// entered again (a clock set hours ahead, then back) is placed afresh, and answers
    /// kept from before would send its domains to another thread than the new placement.
    admissions_forgotten: u64,
}

/// Frames [`Collector::accept`] counts and skips as no error (they do not count towards
/// closing a connection that sends nothing good): `NM1` metric bags (CAT 4.0 clients,
/// cat-design 3.8; not analysed), and NT1 or PT1 frames with a header and no message.
fn is_skipped(e: &DecodeError) -> bool {
    match e {
        DecodeError::Empty => true,
        DecodeError::UnknownMagic { magic } => magic == METRIC_BAG_MAGIC,
        _ => false,
    }
}

/// The magic of CAT 4.0's metric bag frames.
const METRIC_BAG_MAGIC: &str = "NM1";

/// Most messages a tree may hold; a tree with more is dropped, counted as the decode error
/// `too_many_messages`, its connection kept.
///
/// An analyzer thread decodes a tree into a list of its messages (`TreeView`, about 90
/// bytes a message), which exists only while the thread walks it, so it is no part of the
/// queued bytes `worker_queue_bytes` bounds. A message can take as few as 6 bytes on the
/// wire: one 16 MiB frame of tiny events decoded to about 20 times its size, on every
/// analyzer thread that took one. The cap bounds that to about 10 MiB a thread. Real
/// clients cut a tree at 2000 messages, so this is 50 times what they send.
pub const MAX_MESSAGES_PER_TREE: usize = 100_000;

/// Lines about trees over [`MAX_MESSAGES_PER_TREE`].
static TOO_MANY_MESSAGES_LOG: RateLimitedLog =
    RateLimitedLog::new(5, std::time::Duration::from_secs(60));

/// Lines about refused domains (see [`Collector::accept`]): a client keeps sending its
/// domain, so this would otherwise log every tree.
static INVALID_DOMAIN_LOG: RateLimitedLog =
    RateLimitedLog::new(5, std::time::Duration::from_secs(60));
/// Trees outside the hour window: a client with a wrong clock, or PT1 from another zone,
/// sends every tree so.
static OUT_OF_WINDOW_LOG: RateLimitedLog =
    RateLimitedLog::new(1, std::time::Duration::from_secs(300));

/// Answers an [`IngestBatch`] keeps before it starts over: a connection carrying more
/// domains than this asks the cap again, nothing worse.
const ADMISSIONS_KEPT: usize = 1024;

/// `(hour, domain)` as a key of [`IngestBatch::admissions`], the domain borrowed: hashes
/// as the owned key does.
#[derive(Hash)]
struct HourDomain<'a>(u64, &'a str);

impl hashbrown::Equivalent<(u64, String)> for HourDomain<'_> {
    fn equivalent(&self, key: &(u64, String)) -> bool {
        self.0 == key.0 && self.1 == key.1
    }
}

#[derive(Default)]
struct BatchCounts {
    frames: u64,
    bytes: u64,
    trees_accepted: u64,
    trees_folded_domain: u64,
}

/// The domain under which the collector files its own State report (defined by the
/// analyzer, so that readers of the store such as the alert crate need not depend on the
/// collector).
pub const STATE_DOMAIN: &str = ocelot_analyzer::STATE_DOMAIN;

/// The most analyzer threads a collector starts (their names are fixed labels).
pub const MAX_ANALYZER_THREADS: usize = 16;

/// Sealed hours a worker keeps in memory while the store fails to write their reports
/// (written again at every checkpoint); past this, the oldest is given up and counted in
/// [`WorkerSnapshot::sealed_hours_abandoned`](crate::WorkerSnapshot::sealed_hours_abandoned).
pub const MAX_UNWRITTEN_SEALED_HOURS: usize = 2;

/// One domain's reports of one hour that the final write at [`Collector::shutdown`] could
/// not put on disk (a full or read-only disk): what the operator is told is lost.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct UnwrittenReports {
    /// The hour index (`epoch_ms / 3_600_000`), as the data directory names it.
    pub hour: u64,
    /// Whether the hour was sealed already (its seal failed to write, and it was kept to
    /// write again): its final reports are lost, and the store keeps at most its last
    /// checkpoint. Otherwise an open hour: what it counted since its last written
    /// checkpoint is lost, and a restart within the hour goes on from that checkpoint.
    pub sealed: bool,
    /// The domain ([`STATE_DOMAIN`] for the collector's own State report).
    pub domain: String,
    /// Why the first of its reports failed to write (the store's error).
    pub error: String,
}

/// The worker threads' names, as `/metrics` and the State report label them: the analyzer
/// shards, then the State worker.
const SHARD_NAMES: [&str; MAX_ANALYZER_THREADS] = [
    "analyzer-0",
    "analyzer-1",
    "analyzer-2",
    "analyzer-3",
    "analyzer-4",
    "analyzer-5",
    "analyzer-6",
    "analyzer-7",
    "analyzer-8",
    "analyzer-9",
    "analyzer-10",
    "analyzer-11",
    "analyzer-12",
    "analyzer-13",
    "analyzer-14",
    "analyzer-15",
];
const STATE_WORKER: &str = "state";

/// Control messages wait at most this long for a worker (a query never hangs a web request).
const QUERY_TIMEOUT: Duration = Duration::from_secs(3);

/// Small: control messages are rare (queries, one checkpoint a minute).
const CONTROL_QUEUE: usize = 256;

/// The collector: cheap to clone, shared by every connection task and the web server.
#[derive(Clone)]
pub struct Collector {
    inner: Arc<Inner>,
}

struct Inner {
    config: CollectorConfig,
    clock: Arc<dyn Clock>,
    store: Option<Store>,
    stats: Arc<CollectorStats>,
    /// Analyzer shards `0..shards`, then the State worker.
    shards: usize,
    /// Which domains have reports of their own, per hour, and which analyzer thread keeps
    /// each (the analyzers' domain cap, kept here because each analyzer thread sees only its
    /// own domains; the State worker feeds it the domains' loads).
    domain_shards: Arc<DomainShards>,
    trees: Vec<Sender<TreeBatch>>,
    controls: Vec<Sender<Control>>,
    /// Trees and bytes per domain for the State worker, counted here at dispatch.
    received: Arc<ReceivedCounts>,
    /// Live reports' copies that took long, for the next readers of the same view.
    copies: ReusedCopies,
    /// Parsed reports of sealed hours, for the next readers of the same report.
    sealed_reports: SealedReports,
    threads: Mutex<Vec<JoinHandle<()>>>,
    ticks: Mutex<TickState>,
    /// The hours the log said were sealed, so each is said once (see [`SealLog`]).
    seals_said: Arc<SealsSaid>,
    stopped: std::sync::atomic::AtomicBool,
    /// When [`Collector::start`] ran, by the clock (see [`Collector::started_ms`]).
    started_ms: u64,
}

#[derive(Default)]
struct TickState {
    /// The last hour counted in `hours_sealed`: every hour up to it is past its grace
    /// period (`None` while none is).
    sealed_through: Option<u64>,
    last_checkpoint_ms: u64,
    last_sample_ms: u64,
    previous: StatsSnapshot,
    /// The warnings about trees dropped at full queues.
    queue_full: QueueFullLog,
}

impl Inner {
    fn state_worker(&self) -> usize {
        self.shards
    }

    /// The worker that keeps `kind` of `domain` in the open `hour`, if any does.
    fn worker_of(&self, kind: ReportKind, hour: u64, domain: &str) -> Option<usize> {
        match kind {
            ReportKind::State => Some(self.state_worker()),
            _ => self.domain_shards.shard_of(hour, domain),
        }
    }
}

impl std::fmt::Debug for Collector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collector").finish_non_exhaustive()
    }
}

fn spawn<W: Worker>(
    worker: W,
    ctx: WorkerContext,
    threads: &mut Vec<JoinHandle<()>>,
) -> (Sender<TreeBatch>, Sender<Control>) {
    // Unbounded as a channel, bounded in trees: `dispatch` reserves room in the worker's
    // `queued` counter before sending, so batches of any size count tree by tree.
    let (tree_tx, tree_rx) = unbounded();
    let (control_tx, control_rx) = bounded(CONTROL_QUEUE);
    let handle = std::thread::Builder::new()
        .name(format!("ocelot-{}", ctx.name))
        .spawn(move || worker::run(worker, tree_rx, control_rx, ctx))
        .expect("spawning a worker thread");
    threads.push(handle);
    (tree_tx, control_tx)
}

impl Collector {
    /// Starts the report workers, reloads the open hours' checkpoints from `store`, and
    /// (unless `config.background_ticks` is off) a thread that calls [`Collector::tick`]
    /// every second.
    pub fn start(config: CollectorConfig, store: Option<Store>, clock: Arc<dyn Clock>) -> Self {
        let shards = config.analyzer_threads.clamp(1, MAX_ANALYZER_THREADS);
        let names: Vec<&'static str> = SHARD_NAMES[..shards]
            .iter()
            .copied()
            .chain([STATE_WORKER])
            .collect();
        let stats = Arc::new(CollectorStats::new(&names));
        let received = Arc::new(ReceivedCounts::default());
        let domain_shards = Arc::new(DomainShards::new(config.analyzer.max_domains, shards));
        let mut threads = Vec::new();
        let (mut trees, mut controls) = (Vec::new(), Vec::new());
        // Each analyzer thread holds its own domains' reports: the hour's entry budget is
        // theirs in equal parts.
        let shard_analyzer = Arc::new(ocelot_analyzer::AnalyzerConfig {
            max_entries_per_hour: config.analyzer.max_entries_per_hour.div_ceil(shards),
            ..(*config.analyzer).clone()
        });
        for (index, name) in names.iter().enumerate() {
            let ctx = WorkerContext {
                name,
                index,
                store: store.clone(),
                stats: stats.clone(),
                previous_hour_grace_minutes: config.previous_hour_grace_minutes,
                clock: clock.clone(),
            };
            let (tree_tx, control_tx) = if index < shards {
                let worker = ShardWorker {
                    shard: index,
                    config: shard_analyzer.clone(),
                    stats: stats.clone(),
                };
                spawn(worker, ctx, &mut threads)
            } else {
                spawn(
                    StateWorker {
                        received: received.clone(),
                        domain_shards: domain_shards.clone(),
                        analyzer: config.analyzer.clone(),
                    },
                    ctx,
                    &mut threads,
                )
            };
            trees.push(tree_tx);
            controls.push(control_tx);
        }
        let now = clock.now_ms();
        let collector = Collector {
            inner: Arc::new(Inner {
                shards,
                domain_shards,
                trees,
                controls,
                received,
                copies: ReusedCopies::new(config.copy_reuse),
                sealed_reports: SealedReports::new(config.sealed_report_cache_bytes),
                threads: Mutex::new(threads),
                ticks: Mutex::new(TickState {
                    // Hours past their grace period at the start are not counted as sealed
                    // since the start.
                    sealed_through: last_hour_due_for_sealing(
                        now,
                        config.previous_hour_grace_minutes,
                    ),
                    last_checkpoint_ms: now,
                    last_sample_ms: now,
                    previous: StatsSnapshot::default(),
                    queue_full: QueueFullLog::default(),
                }),
                seals_said: Arc::default(),
                stopped: std::sync::atomic::AtomicBool::new(false),
                started_ms: now,
                config,
                clock,
                store,
                stats,
            }),
        };
        collector.restore_open_hours(now);
        // Hours that closed while the collector was down are sealed already: rebuilt now.
        collector.rebuild_sealed_incomplete_hours(now, None);
        // A sample at once, not `state_interval` later: the minute it starts in then has a
        // sample, marked as a start. Without it, a start at 11:59:58 left 11:59 without
        // one, and replay took 12:00 for a partial minute that the live engine evaluated.
        {
            let mut ticks = collector.inner.ticks.lock().expect("tick state lock");
            collector.send_sample(&mut ticks, now, true);
        }
        if collector.inner.config.background_ticks {
            let weak = Arc::downgrade(&collector.inner);
            std::thread::Builder::new()
                .name("ocelot-collector-clock".to_owned())
                .spawn(move || loop {
                    std::thread::sleep(Duration::from_secs(1));
                    let Some(inner) = weak.upgrade() else { return };
                    if inner.stopped.load(Relaxed) {
                        return;
                    }
                    Collector { inner }.tick();
                })
                .expect("spawning the collector clock thread");
        }
        collector
    }

    /// The hours whose reports may still change at `now_ms`: the hours [`accept_hour`] takes
    /// trees for (the current one, the previous one in its grace period, the next one in its
    /// early minutes).
    fn open_hours(&self, now_ms: u64) -> Vec<u64> {
        let config = &self.inner.config;
        let current = hour_of(now_ms);
        [
            current.checked_sub(1),
            Some(current),
            current.checked_add(1),
        ]
        .into_iter()
        .flatten()
        .filter(|&hour| {
            let any_time_of_hour = hour.saturating_mul(MILLIS_PER_HOUR);
            accept_hour(
                now_ms,
                any_time_of_hour,
                config.previous_hour_grace_minutes,
                config.next_hour_early_minutes,
            )
            .is_ok()
        })
        .collect()
    }

    fn restore_open_hours(&self, now_ms: u64) {
        let inner = &*self.inner;
        let Some(store) = &inner.store else {
            return;
        };
        // Oldest first: an hour is planned from the one before it (`DomainShards`), so the
        // previous hour's domains and loads are known before the current hour is placed.
        // When the previous hour is sealed already, its State report says what it had.
        let mut hours = self.open_hours(now_ms);
        hours.sort_unstable();
        self.mark_hours_closed_unsealed(store, hours[0]);
        if let Some(before) = hours[0].checked_sub(1) {
            let sent = stored_trees_by_domain(store, before);
            if !sent.is_empty() {
                inner
                    .domain_shards
                    .remember_sealed(before, sent.iter().map(|(d, &n)| (d.as_str(), n)));
            }
        }
        for hour in hours {
            let domains = match store.report_domains(hour) {
                Ok(domains) => domains,
                Err(e) => {
                    // The hour starts again from zero, and its next checkpoint replaces
                    // what could not be read: say so.
                    tracing::warn!(hour, error = %e, "cannot list the checkpoints of an open hour; it starts from zero");
                    inner.stats.restored_incomplete(hour);
                    continue;
                }
            };
            // The State report of the hour says what each domain sent so far: the restored
            // domains are placed by those loads, as a new hour is planned.
            let state = match read_stored_any(store, hour, STATE_DOMAIN, ReportKind::State) {
                Some(AnyReport::State(state)) => Some(state),
                _ => None,
            };
            let sent = state
                .as_ref()
                .map(StateReport::trees_by_domain)
                .unwrap_or_default();
            // Minutes an earlier start of this hour continued from checkpoints lacking trees
            // (a crash, then starts since): still lacking them, whatever the last stop
            // was. Only this process can rebuild the hour at its seal, so it takes them on.
            let incomplete_minutes: Vec<u8> = state
                .iter()
                .flat_map(StateReport::restored_incomplete_minutes)
                .collect();
            if !incomplete_minutes.is_empty() && inner.config.after_clean_stop {
                inner.stats.hours_restored_incomplete.fetch_add(1, Relaxed);
                (inner.stats.incomplete_hours.lock())
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(hour);
            }
            let client_domains: Vec<&str> = domains
                .iter()
                .filter(|d| is_client_domain(store, hour, d))
                .map(String::as_str)
                .collect();
            inner.domain_shards.admit_existing(
                hour,
                client_domains
                    .iter()
                    .map(|&d| (d, sent.get(d).copied().unwrap_or(0))),
            );
            // Read here, parsed by each worker (in parallel, and while the collector already
            // takes trees: a restart with large checkpoints kept the port closed for
            // seconds while this thread parsed them all).
            let mut per_worker: Vec<Vec<StoredReport>> =
                (0..inner.trees.len()).map(|_| Vec::new()).collect();
            // When the oldest report read was written: trees after it are not in it.
            let mut checkpoint: Option<SystemTime> = None;
            // Reports that cannot be used start from zero: told by the hour's line.
            let mut unreadable = Vec::new();
            for kind in ReportKind::ALL {
                for domain in &domains {
                    let Some(worker) = inner.worker_of(kind, hour, domain) else {
                        continue;
                    };
                    match store.read_report(hour, domain, kind.name()) {
                        Ok(Some(bytes)) => {
                            if let Ok(Some(written)) =
                                store.report_written_at(hour, domain, kind.name())
                            {
                                checkpoint = Some(checkpoint.map_or(written, |c| c.min(written)));
                            }
                            per_worker[worker].push(StoredReport {
                                domain: domain.clone(),
                                kind,
                                bytes,
                            });
                        }
                        Ok(None) => {}
                        Err(e) => {
                            tracing::warn!(
                                hour,
                                domain = domain.as_str(),
                                report = kind.name(),
                                error = %e,
                                "cannot read a checkpoint; this report starts from zero"
                            );
                            crate::worker::set_aside(Some(store), hour, domain, kind);
                            unreadable.push(format!("{domain}/{}", kind.name()));
                        }
                    }
                }
            }
            let reports: usize = per_worker.iter().map(Vec::len).sum();
            if reports == 0 && unreadable.is_empty() {
                // Trees stored and no checkpoint: the last run stopped (a crash, kill -9)
                // before the hour's first checkpoint. A clean stop writes one.
                if !inner.config.after_clean_stop
                    && store.hours().is_ok_and(|stored| stored.contains(&hour))
                {
                    let hour_utc = crate::clock::utc(hour.saturating_mul(MILLIS_PER_HOUR));
                    tracing::warn!(hour, %hour_utc, "the hour has trees in the store but no checkpoint: the last run stopped before writing one (a crash or kill -9); its reports start from zero and lack those trees, which are in the store");
                    inner.stats.restored_incomplete(hour);
                }
                continue;
            }
            // Logged once every worker has parsed its part (and let go of the log): only
            // then is it known which reports could be used.
            let log = Arc::new(RestoreLog {
                hour,
                domains: client_domains.len(),
                reports,
                checkpoint,
                after_clean_stop: inner.config.after_clean_stop,
                incomplete_minutes,
                unusable: Mutex::new(unreadable),
                unparsed: AtomicUsize::new(0),
                stats: inner.stats.clone(),
            });
            for (control, reports) in inner.controls.iter().zip(per_worker) {
                if !reports.is_empty() {
                    let _ = control.send(Control::Restore {
                        hour,
                        reports,
                        log: log.clone(),
                    });
                }
            }
        }
    }

    /// Marks the hours the last run left at a checkpoint that closed while the collector was
    /// down. After a crash or `kill -9` in an hour (or in the next one's grace), a restart
    /// after the hour's grace finds its reports as the last checkpoint wrote them, and
    /// nothing seals them again: the trees taken after that checkpoint are in the store but
    /// not in the reports, as in an open hour continued from its checkpoint, and they are
    /// told the same way (a warning, `hours_restored_incomplete`, the hour's State report).
    ///
    /// Only the newest two closed hours in the store can have been open at the last stop.
    /// One of them was sealed if a State report shows the collector running at or after
    /// its seal: a later hour's, or the next hour's with a sample at or past the grace
    /// (a seal always comes with a sample, see [`Collector::tick`]). A clean stop writes
    /// every open hour at the end: after one, only an hour whose State report an earlier
    /// crash marked incomplete is taken (the run that knew it ended before the seal).
    fn mark_hours_closed_unsealed(&self, store: &Store, first_open: u64) {
        let inner = &*self.inner;
        let Ok(stored) = store.hours() else {
            return;
        };
        let closed: Vec<u64> = stored.iter().copied().filter(|&h| h < first_open).collect();
        let Some(&newest) = closed.last() else {
            return;
        };
        let grace = inner.config.previous_hour_grace_minutes;
        let sealed = |hour: u64| {
            stored.iter().filter(|&&later| later > hour).any(|&later| {
                match read_stored_any(store, later, STATE_DOMAIN, ReportKind::State) {
                    Some(AnyReport::State(state)) => {
                        later > hour + 1 || state.sampled_minutes().any(|m| u64::from(m) >= grace)
                    }
                    _ => false,
                }
            })
        };
        for hour in [newest.checked_sub(1), Some(newest)].into_iter().flatten() {
            if !closed.contains(&hour) || sealed(hour) {
                continue;
            }
            let hour_utc = crate::clock::utc(hour.saturating_mul(MILLIS_PER_HOUR));
            let mut state = match read_stored_any(store, hour, STATE_DOMAIN, ReportKind::State) {
                Some(AnyReport::State(state)) => state,
                _ => StateReport::new(hour),
            };
            let last_sample = state
                .sampled_minutes()
                .last()
                .map_or_else(|| "none".to_owned(), |m| format!(":{m:02}"));
            if inner.config.after_clean_stop {
                if state.restored_incomplete_minutes().next().is_none() {
                    continue;
                }
                tracing::warn!(hour, %hour_utc, last_sample, "the hour closed while the collector was down after a clean stop, but an earlier crash in it left its reports without the trees taken after a checkpoint, which are in the store");
                inner.stats.hours_restored_incomplete.fetch_add(1, Relaxed);
                (inner.stats.incomplete_hours.lock())
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(hour);
                // Its State report says so already.
                continue;
            }
            tracing::warn!(hour, %hour_utc, last_sample, "the hour closed while the collector was down after a crash or kill -9 in it: its reports are its last checkpoint and lack the trees taken after that, which are in the store");
            inner.stats.hours_restored_incomplete.fetch_add(1, Relaxed);
            // Sealed already: rebuilt once the start is done (`Collector::start`).
            (inner.stats.incomplete_hours.lock())
                .unwrap_or_else(|e| e.into_inner())
                .insert(hour);
            // Marked in its State report now: no thread holds the hour, and its seal will
            // not come again.
            state.record_restored_incomplete(inner.started_ms, 1);
            let written = serde_json::to_vec(&state)
                .map_err(|e| e.to_string())
                .and_then(|bytes| {
                    store
                        .write_report(hour, STATE_DOMAIN, ReportKind::State.name(), &bytes)
                        .map_err(|e| e.to_string())
                });
            if let Err(error) = written {
                tracing::warn!(hour, %hour_utc, %error, "cannot mark the hour's State report as incomplete");
            }
        }
    }

    /// Takes one whole frame (length prefix included) as received: checks it (the decoder's
    /// verdict, see `scan_frame`), checks its hour, stores the bytes under the tree's message
    /// ID and hands the frame to the analyzer thread of its domain (which decodes it), and
    /// counts it for the State report. Never blocks: a full queue drops (and counts) the tree for that
    /// queue only. A decode error is counted and returned; the frame is dropped, and the
    /// caller may go on with the next frame (the server does, keeping the connection).
    pub fn ingest(&self, frame: Bytes) -> Result<(), DecodeError> {
        let mut batch = IngestBatch::default();
        let result = self.accept(frame, &mut batch);
        self.dispatch(&mut batch);
        result
    }

    /// The first half of [`Collector::ingest`]: checks one frame and its hour, then adds it
    /// to `batch` instead of sending it on. The connection
    /// task collects every frame of one read this way and calls [`Collector::dispatch`]
    /// once: one queue operation per worker per read instead of one per tree.
    pub(crate) fn accept(&self, frame: Bytes, batch: &mut IngestBatch) -> Result<(), DecodeError> {
        let inner = &*self.inner;
        let stats = &inner.stats;
        batch.counted.frames += 1;
        batch.counted.bytes += frame.len() as u64;
        // Checked here, on the socket's thread, so a bad frame is dropped before it goes
        // anywhere; decoded by the analyzer thread that takes it (see `TreeItem`).
        let scan = match scan_frame(&frame, &inner.config.decode) {
            Ok(scan) => scan,
            Err(e) => {
                stats.count_decode_error(decode_error_reason(&e));
                // Framed well, and no tree to lose: a CAT 4.0 client's metric bags come
                // between its trees, and Java 3.x clients send a header without a message
                // for a tree they have not got. Not errors: a connection sending only
                // these is a healthy one.
                return if is_skipped(&e) { Ok(()) } else { Err(e) };
            }
        };
        // The scan counted the messages as it went: no walk of its own. Like a frame over
        // `max_frame_bytes`, only this tree is lost; it is no sign of a broken stream.
        let messages = scan.message_count();
        if messages > MAX_MESSAGES_PER_TREE {
            stats.count_decode_error("too_many_messages");
            TOO_MANY_MESSAGES_LOG.log(|suppressed| {
                let domain = scan.domain(&frame);
                tracing::warn!(%domain, messages, suppressed, "dropping a tree of more than {MAX_MESSAGES_PER_TREE} messages (counted as decode errors, reason too_many_messages): clients cut trees at 2000");
            });
            return Ok(());
        }
        let now_ms = match batch.now_ms {
            Some(now_ms) => now_ms,
            None => {
                // Once per read, with the clock: the kept placements hold until hours are
                // forgotten.
                let forgotten = inner.domain_shards.forgotten();
                if forgotten != batch.admissions_forgotten {
                    batch.admissions.clear();
                    batch.admissions_forgotten = forgotten;
                }
                *batch.now_ms.insert(inner.clock.now_ms())
            }
        };
        let Ok(hour) = accept_hour(
            now_ms,
            scan.root_timestamp_ms(),
            inner.config.previous_hour_grace_minutes,
            inner.config.next_hour_early_minutes,
        ) else {
            stats.out_of_window.fetch_add(1, Relaxed);
            OUT_OF_WINDOW_LOG.log(|suppressed| {
                let off_hours = (scan.root_timestamp_ms() as f64 - now_ms as f64) / 3_600_000.0;
                let domain = scan.domain(&frame);
                if let ScannedFrame::Pt1(_) = scan {
                    // PT1 stamps a client's local time, read in one configured zone: a client
                    // in another zone is off by whole hours, every tree of it.
                    let offset_hours =
                        f64::from(inner.config.decode.pt1_utc_offset_seconds) / 3600.0;
                    tracing::warn!(%domain, off_hours = format!("{off_hours:+.2}"), suppressed, "a PT1 (text) tree's time is outside the hour window (counted as out of window, not kept); PT1 times are read as UTC{offset_hours:+} (collector.pt1_utc_offset_seconds): a client in another zone needs that setting");
                } else {
                    tracing::warn!(%domain, off_hours = format!("{off_hours:+.2}"), suppressed, "a tree's time is outside the hour window (counted as out of window, not kept): is the client's clock right?");
                }
            });
            return Ok(());
        };
        // Shard and cap by the key the analyzers file the domain under (`DomainShards`).
        let domain = scan.domain(&frame);
        let key = inner.config.analyzer.domain_key(&domain);
        let admission = match batch.admissions.get(&HourDomain(hour, key)) {
            Some(&admission) => admission,
            None => {
                let admission = match ocelot_store::validate_name("domain", key) {
                    Ok(()) => Some(inner.domain_shards.admit(hour, key)),
                    Err(e) => {
                        INVALID_DOMAIN_LOG.log(|suppressed| {
                            tracing::warn!(error = %e, suppressed, "refusing the trees of a domain that cannot name a report (counted as decode errors, reason invalid_domain)");
                        });
                        None
                    }
                };
                if batch.admissions.len() >= ADMISSIONS_KEPT {
                    batch.admissions.clear();
                }
                batch.admissions.insert((hour, key.to_owned()), admission);
                admission
            }
        };
        let Some(Placement {
            shard,
            folded: fold_domain,
        }) = admission
        else {
            // Reports are files named by their domain, so a domain the store cannot name
            // would be counted live, lost at the first checkpoint and unreachable after a
            // restart. CAT's consumers refuse such domains too (`DomainValidator`). The
            // connection stays open: its other domains may be fine.
            stats.count_decode_error("invalid_domain");
            return Ok(());
        };
        batch.counted.trees_accepted += 1;
        // The tree's message ID, parsed once here for the store's key and the reports.
        let mut parsed_id = None;
        if inner.store.is_some() {
            // An NT1 frame's key points at the ID in the frame: no copy of its domain.
            let key = match scan.message_id_range() {
                Some(range) => match frame
                    .get(range.clone())
                    .and_then(ocelot_protocol::text::utf8)
                    .and_then(MessageIdRef::parse_canonical)
                {
                    Some(parts) => {
                        parsed_id = ParsedId::from_canonical(&parts);
                        FrameKey::in_frame_parsed(range.start, &parts)
                    }
                    None => FrameKey::in_frame(&frame, range),
                },
                None => scan
                    .message_id(&frame)
                    .and_then(|id| id.parse::<MessageId>().ok())
                    .map(FrameKey::from),
            };
            match key {
                // An ID names the hour it was made in, by the client's clock, which the
                // tree's timestamp showed to be right: an hour past the next is a broken
                // ID, and would file the tree in a folder retention never reaches.
                Some(key) if key.hour() <= hour_of(now_ms) + 1 => {
                    batch.frames.push((key, frame.clone()));
                }
                _ => {
                    stats.no_message_id.fetch_add(1, Relaxed);
                }
            }
        }
        if fold_domain {
            batch.counted.trees_folded_domain += 1;
        }
        batch.trees.push(TreeItem {
            hour,
            parsed_id,
            shard,
            fold_domain,
            frame,
            scan,
            received_ms: now_ms,
        });
        Ok(())
    }

    /// The second half of [`Collector::ingest`]: hands the frames of `batch` to the store
    /// and its trees to every report worker, leaving `batch` empty. Never blocks: a worker
    /// without room for the whole batch drops it (each tree counted) for that worker only,
    /// and past `worker_queue_bytes` of queued frames, so is every worker that is behind.
    pub(crate) fn dispatch(&self, batch: &mut IngestBatch) {
        let inner = &*self.inner;
        let stats = &inner.stats;
        batch.now_ms = None;
        // Counted before any worker can process (and count) these trees.
        let counted = std::mem::take(&mut batch.counted);
        if counted.frames > 0 {
            stats.frames.fetch_add(counted.frames, Relaxed);
            stats.bytes.fetch_add(counted.bytes, Relaxed);
            stats
                .trees_accepted
                .fetch_add(counted.trees_accepted, Relaxed);
        }
        if counted.trees_folded_domain > 0 {
            stats
                .trees_folded_domain
                .fetch_add(counted.trees_folded_domain, Relaxed);
        }
        if let Some(store) = &inner.store {
            if !batch.frames.is_empty() {
                let refused = store.append_scanned(batch.frames.drain(..));
                stats.store_dropped.fetch_add(refused as u64, Relaxed);
            }
        }
        if batch.trees.is_empty() {
            return;
        }
        // The State report counts every accepted tree, whatever the queues below do.
        inner.received.add(&batch.trees);
        // How many of the batch's trees each analyzer thread takes: its domains'. (The
        // State worker takes none; it reads `received`.)
        let mut counts = vec![0u64; inner.trees.len()];
        for item in &batch.trees {
            counts[item.shard] += 1;
        }
        let n = batch.trees.len();
        // The queues' memory, all workers together. Past the budget, the workers that are
        // behind (something still queued) drop this batch, each tree counted, so they hold
        // no more memory, while workers that keep up still take it: one slow analyzer does
        // not cost the others their trees.
        let bytes: u64 = batch.trees.iter().map(|t| t.frame.len() as u64).sum();
        let queued_bytes = &stats.queued_bytes;
        let over_budget = over_budget(queued_bytes, bytes, inner.config.worker_queue_bytes);
        let trees: TreeBatch = Arc::new(QueuedTrees::counted(
            std::mem::replace(&mut batch.trees, Vec::with_capacity(n)),
            bytes,
            queued_bytes.clone(),
        ));
        let capacity = inner.config.worker_queue_trees as u64;
        for (index, (sender, n)) in inner.trees.iter().zip(counts).enumerate() {
            if n == 0 {
                continue;
            }
            let counters = stats.worker(index);
            let before = counters.queued.fetch_add(n, Relaxed);
            let full = before + n > capacity || (over_budget && before > 0);
            if full || sender.send(trees.clone()).is_err() {
                counters.queued.fetch_sub(n, Relaxed);
                counters.dropped_queue_full.fetch_add(n, Relaxed);
            }
        }
        // Dropped here if no worker took it, which takes its bytes off the total.
        drop(trees);
    }

    /// Counts a frame refused before it was whole or by its length (`reason`), as received
    /// with the `bytes` of it read (good frames are counted by [`Collector::accept`]).
    pub(crate) fn count_bad_frame(&self, reason: &'static str, bytes: u64) {
        let stats = &self.inner.stats;
        stats.count_decode_error(reason);
        stats.frames.fetch_add(1, Relaxed);
        stats.bytes.fetch_add(bytes, Relaxed);
    }

    /// Counts `bytes` of an oversize frame as received, as they are stepped over (the frame
    /// itself is counted once, by [`Collector::count_bad_frame`]).
    pub(crate) fn count_stepped_over(&self, bytes: u64) {
        self.inner.stats.bytes.fetch_add(bytes, Relaxed);
    }

    pub(crate) fn max_connections(&self) -> usize {
        self.inner.config.max_connections
    }

    pub(crate) fn max_frame_bytes(&self) -> usize {
        self.inner.config.max_frame_bytes
    }

    pub(crate) fn partial_frame_bytes(&self) -> u64 {
        self.inner.config.partial_frame_bytes
    }

    pub(crate) fn partial_frame_timeout(&self) -> Duration {
        self.inner.config.partial_frame_timeout
    }

    pub(crate) fn stats_handle(&self) -> &CollectorStats {
        &self.inner.stats
    }

    /// The clock-driven work: a State sample every `state_interval`, and a checkpoint of
    /// every open hour every `checkpoint_interval` or as soon as an hour's grace period
    /// ends (that checkpoint seals it). The background thread calls this every second.
    pub fn tick(&self) {
        let inner = &*self.inner;
        let now = inner.clock.now_ms();
        let mut ticks = inner.ticks.lock().expect("tick state lock");
        // The hours that passed their grace period since the last tick, each counted once:
        // a clock that jumps hours ahead seals them all in one tick, and one stepped back
        // and forward again seals no hour a second time (the workers seal the same way,
        // `SealedHours::seal_due`).
        let due = last_hour_due_for_sealing(now, inner.config.previous_hour_grace_minutes);
        let newly_sealed = match (due, ticks.sealed_through) {
            (Some(due), Some(through)) => due.saturating_sub(through),
            (Some(due), None) => due + 1,
            (None, _) => 0,
        };
        let sealing = newly_sealed > 0;
        if sealing {
            ticks.sealed_through = due;
        }
        // Due once `interval` has passed since `last`, or at once when the clock stepped
        // back past `last` (NTP): waiting until it is past `last` again held off the
        // checkpoints for as long as the step, and a crash then lost all of that.
        let due =
            |last: u64, interval: Duration| now < last || now - last >= interval.as_millis() as u64;
        // With every seal too: the checkpoint that writes the sealed hour then writes the
        // next hour's State report with a sample past the grace, which tells a later start
        // that the hour was sealed (`mark_hours_closed_unsealed`).
        if sealing || due(ticks.last_sample_ms, inner.config.state_interval) {
            self.send_sample(&mut ticks, now, false);
        }
        let dropped = self.queue_full_drops();
        ticks.queue_full.tick(now, &dropped);
        let checkpoint_due = due(ticks.last_checkpoint_ms, inner.config.checkpoint_interval);
        if sealing || checkpoint_due {
            ticks.last_checkpoint_ms = now;
            drop(ticks);
            if sealing && self.has_incomplete_hours() {
                // Rebuilt once this checkpoint, which writes their final reports, is done.
                let (done, finished) = std::sync::mpsc::channel();
                let sent = self.send_checkpoint(now, Some(done));
                self.rebuild_sealed_incomplete_hours(now, Some((finished, sent)));
            } else {
                self.send_checkpoint(now, None);
            }
            if sealing {
                inner.stats.hours_sealed.fetch_add(newly_sealed, Relaxed);
            }
        }
    }

    /// Whether an hour found incomplete at the start waits to be rebuilt.
    fn has_incomplete_hours(&self) -> bool {
        let inner = &*self.inner;
        inner.config.rebuild_incomplete_hours
            && inner.store.is_some()
            && !(inner.stats.incomplete_hours.lock())
                .unwrap_or_else(|e| e.into_inner())
                .is_empty()
    }

    /// Rebuilds from the store's trees the reports of the hours found incomplete at the
    /// start that are sealed at `now_ms` (past their grace period), on a thread of low
    /// priority, once the checkpoint that wrote their final reports is done (`sealing`: its
    /// done signals and how many workers will send one). See
    /// [`CollectorConfig::rebuild_incomplete_hours`].
    fn rebuild_sealed_incomplete_hours(
        &self,
        now_ms: u64,
        sealing: Option<(std::sync::mpsc::Receiver<()>, usize)>,
    ) {
        let inner = &*self.inner;
        let Some(store) = inner.store.clone() else {
            return;
        };
        if !inner.config.rebuild_incomplete_hours {
            return;
        }
        let Some(due) = last_hour_due_for_sealing(now_ms, inner.config.previous_hour_grace_minutes)
        else {
            return;
        };
        let hours: Vec<u64> = {
            let mut incomplete =
                (inner.stats.incomplete_hours.lock()).unwrap_or_else(|e| e.into_inner());
            let later = incomplete.split_off(&(due + 1));
            std::mem::replace(&mut *incomplete, later)
                .into_iter()
                .collect()
        };
        if hours.is_empty() {
            return;
        }
        let config = inner.config.clone();
        let clock = inner.clock.clone();
        let stats = inner.stats.clone();
        let spawned = std::thread::Builder::new()
            .name("ocelot-rebuild".to_owned())
            .spawn(move || {
                lower_this_threads_priority();
                if let Some((finished, workers)) = sealing {
                    for _ in 0..workers {
                        if finished.recv_timeout(REBUILD_WAIT).is_err() {
                            break;
                        }
                    }
                }
                for hour in hours {
                    rebuild_after_crash(&store, &config, hour, clock.now_ms(), &stats);
                }
            });
        if let Err(error) = spawned {
            tracing::warn!(%error, "cannot start the thread that rebuilds incomplete hours");
        }
    }

    /// Trees dropped so far at a full queue, per analyzer thread and the store's writers.
    fn queue_full_drops(&self) -> Vec<(&'static str, u64)> {
        let inner = &*self.inner;
        let mut dropped: Vec<(&'static str, u64)> = inner.stats.workers[..inner.shards]
            .iter()
            .map(|(name, w)| (*name, w.dropped_queue_full.load(Relaxed)))
            .collect();
        if let Some(store) = &inner.store {
            let n = store
                .drops()
                .into_iter()
                .find(|(reason, _)| *reason == ocelot_store::DropReason::QueueFull)
                .map_or(0, |(_, n)| n);
            dropped.push((STORE_QUEUE, n));
        }
        dropped
    }

    /// Sends the State worker what the counters did since the last sample; `started` for
    /// the first, taken at start, which marks its minute as a start and waits for room in
    /// the queue rather than be lost (the queue is all but empty then).
    fn send_sample(&self, ticks: &mut TickState, now: u64, started: bool) {
        let inner = &*self.inner;
        ticks.last_sample_ms = now;
        // Dates a drop not dated yet (`stats` does).
        let current = self.stats();
        // Each marked in its own hour's State report, at the start: the hour a restart in
        // the grace period continues is the previous one, not the hour of the start.
        let restored = inner.stats.take_restored_incomplete();
        let sample = StateSample {
            started,
            restored_incomplete: restored.iter().map(|&h| (h, inner.started_ms)).collect(),
            ..self.state_sample(now, &ticks.previous, &current)
        };
        // Moved on only once the State worker has the sample: when its queue is full, the
        // next sample carries these figures too, rather than the State report losing them.
        let control = &inner.controls[inner.state_worker()];
        let sent = if started {
            control.send(Control::Sample(sample)).is_ok()
        } else {
            control.try_send(Control::Sample(sample)).is_ok()
        };
        if sent {
            ticks.previous = current;
        } else {
            let mut unmarked = inner
                .stats
                .restored_incomplete_unmarked
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            unmarked.extend(restored);
        }
    }

    fn state_sample(
        &self,
        now_ms: u64,
        before: &StatsSnapshot,
        now: &StatsSnapshot,
    ) -> StateSample {
        let delta = |a: u64, b: u64| a.saturating_sub(b);
        let mut sample = StateSample {
            now_ms,
            out_of_window: delta(now.out_of_window, before.out_of_window),
            rss_bytes: rss_bytes(),
            ..StateSample::default()
        };
        for reason in DECODE_REASONS {
            let n = delta(
                now.decode_errors.get(reason).copied().unwrap_or(0),
                before.decode_errors.get(reason).copied().unwrap_or(0),
            );
            if n > 0 {
                sample.decode_errors.push((reason, n));
            }
        }
        // Every store drop by its reason, those of the writer (a failed write, a full data
        // file) included; without a store, the hand-over's refusals.
        if self.inner.store.is_some() {
            for (&reason, &n) in &now.store_drops {
                let n = delta(n, before.store_drops.get(reason).copied().unwrap_or(0));
                if n > 0 {
                    sample.drops.push(("store", reason, n));
                }
            }
            // Not the store's count: the collector keeps these trees from it. They are
            // not stored all the same, so the State page lists them with the store's drops.
            let no_id = delta(now.no_message_id, before.no_message_id);
            if no_id > 0 {
                sample.drops.push(("store", "no_message_id", no_id));
            }
        } else {
            let store_drops = delta(now.store_dropped, before.store_dropped);
            if store_drops > 0 {
                sample.drops.push(("store", "refused", store_drops));
            }
        }
        for (index, (name, _)) in self.inner.stats.workers.iter().enumerate() {
            let empty = Default::default();
            let (a, b) = (
                &now.workers[*name],
                before.workers.get(*name).unwrap_or(&empty),
            );
            let dropped = delta(a.dropped_queue_full, b.dropped_queue_full);
            if dropped > 0 {
                sample.drops.push((name, "queue_full", dropped));
            }
            let too_late = delta(a.dropped_hour_sealed, b.dropped_hour_sealed);
            if too_late > 0 {
                sample.drops.push((name, "hour_sealed", too_late));
            }
            let processed = delta(a.processed, b.processed);
            if processed > 0 {
                sample
                    .processing
                    .push((name, processed, delta(a.busy_us, b.busy_us)));
            }
            let depth = self.inner.stats.worker(index).queued.load(Relaxed);
            self.inner
                .stats
                .worker(index)
                .queue_depth
                .store(depth, Relaxed);
            // Every queue, empty ones too: the minutes with queue depths are the minutes
            // the collector ran (`StateReport::sampled_minutes`, read by alerting).
            sample.queue_depths.push((name, depth));
        }
        sample
    }

    fn send_checkpoint(&self, now_ms: u64, done: Option<std::sync::mpsc::Sender<()>>) -> usize {
        let inner = &*self.inner;
        // Logs the hours sealed once every worker is done with this checkpoint.
        let sealing = Arc::new(SealLog::new(inner.seals_said.clone()));
        let sent = inner
            .controls
            .iter()
            .filter(|c| {
                let checkpoint = Control::Checkpoint {
                    now_ms,
                    done: done.clone(),
                    sealing: sealing.clone(),
                };
                c.send_timeout(checkpoint, QUERY_TIMEOUT).is_ok()
            })
            .count();
        sent
    }

    /// Processes everything queued so far and writes every open hour's reports to the
    /// store; returns when all workers are done (or after a bounded wait).
    pub fn checkpoint_now(&self) {
        let (tx, rx) = std::sync::mpsc::channel();
        let sent = self.send_checkpoint(self.inner.clock.now_ms(), Some(tx));
        for _ in 0..sent {
            if rx.recv_timeout(Duration::from_secs(30)).is_err() {
                break;
            }
        }
    }

    /// Runs `f` while every worker (the State worker too) is held busy, as a long
    /// checkpoint would hold it: what is sent to them meanwhile waits in their bounded
    /// queues (a worker whose queue is full already is not held). The workers go on once
    /// `f` returns (or panics). For tests of what readers and full queues do, without a
    /// sleep that a slow machine could outlast.
    #[doc(hidden)]
    pub fn with_workers_held_for_tests<T>(&self, f: impl FnOnce() -> T) -> T {
        // Never sent on: dropping it (at the end of this function, or unwinding) is what
        // lets the workers go.
        let (_release, released) = bounded::<()>(0);
        for control in &self.inner.controls {
            let _ = control.try_send(Control::Hold(released.clone()));
        }
        f()
    }

    /// Stops the workers after they processed what is queued and wrote every open hour
    /// (and every sealed hour still waiting for its reports to be written). Call it once the
    /// listener is closed; ingesting afterwards only counts drops.
    ///
    /// Returns the hours and domains whose reports that final write failed to store,
    /// oldest hour first (empty when all were written, and on every call after the first).
    pub fn shutdown(&self) -> Vec<UnwrittenReports> {
        let inner = &*self.inner;
        if inner.stopped.swap(true, Relaxed) {
            return Vec::new();
        }
        let (unwritten_tx, unwritten) = std::sync::mpsc::channel();
        // The analyzer threads first: what they drop while they drain their queues goes
        // into the State report's last sample, taken once they are done, before the State
        // worker writes it (without that sample the report missed up to `state_interval`
        // of drops, decode errors and trees out of the window).
        let mut threads = std::mem::take(&mut *inner.threads.lock().expect("threads lock"));
        let state_thread = threads.split_off(inner.shards);
        for control in &inner.controls[..inner.shards] {
            let _ = control.send(Control::Shutdown {
                unwritten: unwritten_tx.clone(),
            });
        }
        for thread in threads {
            let _ = thread.join();
        }
        {
            let mut ticks = inner.ticks.lock().expect("tick state lock");
            let now = inner.clock.now_ms();
            self.send_sample(&mut ticks, now, false);
        }
        let _ = inner.controls[inner.state_worker()].send(Control::Shutdown {
            unwritten: unwritten_tx,
        });
        for thread in state_thread {
            let _ = thread.join();
        }
        let mut unwritten: Vec<UnwrittenReports> = unwritten.try_iter().collect();
        unwritten.sort();
        unwritten
    }

    /// Every counter, now. A loss no read has seen yet is dated now
    /// ([`StatsSnapshot::last_drop_ms`]): by the State sample every `state_interval`, or
    /// sooner by a reader such as a `/metrics` scrape, so that `ocelot status` run just
    /// after a drop sees it as recent, not as nothing.
    pub fn stats(&self) -> StatsSnapshot {
        let inner = &*self.inner;
        let mut stats = inner.stats.snapshot();
        stats.sealed_reports = inner.sealed_reports.stats();
        if let Some(store) = &inner.store {
            stats.store_drops = store
                .drops()
                .into_iter()
                .filter(|&(_, n)| n > 0)
                .map(|(reason, n)| (reason.as_str(), n))
                .collect();
            stats.store_last_error = store.last_error();
        }
        // Each loss is dated once, by whichever read sees it first.
        let lost = stats.trees_lost();
        if inner.stats.lost_dated.fetch_max(lost, Relaxed) < lost {
            let now = inner.clock.now_ms();
            inner.stats.last_drop_ms.store(now, Relaxed);
            stats.last_drop_ms = now;
        }
        stats
    }

    /// When this collector started, epoch ms by its clock. Its State report marks that
    /// minute as a start (`StateReport::started_minutes`): live alerting evaluates from the
    /// minute after it, as a replay over the stored State reports does.
    pub fn started_ms(&self) -> u64 {
        self.inner.started_ms
    }

    /// "Now" by the collector's clock, epoch ms.
    pub fn now_ms(&self) -> u64 {
        self.inner.clock.now_ms()
    }

    /// The current hour index.
    pub fn current_hour(&self) -> u64 {
        hour_of(self.now_ms())
    }

    /// The store, if the collector writes to one.
    pub fn store(&self) -> Option<&Store> {
        self.inner.store.as_ref()
    }

    /// Domains with any report in `hour`, live or stored, sorted. When an analyzer thread
    /// does not answer in time (busy writing a checkpoint, say), the domains the collector
    /// placed in the hour stand in for its answer, so that a busy thread's domains do not
    /// drop out of the list (a domain whose every tree was dropped so far may then be
    /// listed without a report yet).
    pub async fn domains(&self, hour: u64) -> Vec<String> {
        let inner = &*self.inner;
        let (mut all, every) = self.live_domains_within(hour, QUERY_TIMEOUT).await;
        if !every {
            all.extend(inner.domain_shards.placed(hour));
        }
        if let Some(store) = &inner.store {
            if let Ok(stored) = store.report_domains(hour) {
                all.extend(
                    stored
                        .into_iter()
                        .filter(|d| is_client_domain(store, hour, d)),
                );
            }
        }
        all.into_iter().collect()
    }

    /// The domains the analyzer threads hold reports of in `hour` now (the stored ones left
    /// out), or `Err(Unanswered)` if a thread did not answer within `wait`: a busy thread's
    /// domains would look unheard.
    pub async fn live_domains_now(
        &self,
        hour: u64,
        wait: Duration,
    ) -> Result<Vec<String>, Unanswered> {
        match self.live_domains_within(hour, wait).await {
            (domains, true) => Ok(domains.into_iter().collect()),
            (_, false) => Err(Unanswered),
        }
    }

    /// The domains the analyzer threads hold in `hour`, and whether every thread answered
    /// within `wait`.
    async fn live_domains_within(&self, hour: u64, wait: Duration) -> (BTreeSet<String>, bool) {
        let mut all = BTreeSet::new();
        let mut every = true;
        let asked: Vec<_> = self
            .inner
            .controls
            .iter()
            .map(|c| {
                let (reply, answer) = tokio::sync::oneshot::channel();
                c.try_send(Control::Domains { hour, reply }).ok()?;
                Some(answer)
            })
            .collect();
        // One deadline for every thread: waited in turn, each its own `wait` would add up.
        let deadline = tokio::time::Instant::now() + wait;
        for answer in asked {
            match answer {
                Some(answer) => match tokio::time::timeout_at(deadline, answer).await {
                    Ok(Ok(domains)) => all.extend(domains),
                    Ok(Err(_)) | Err(_) => every = false,
                },
                None => every = false,
            }
        }
        (all, every)
    }

    /// A domain's Transaction report for an hour: live if the hour is open, else stored.
    pub async fn transaction_report(
        &self,
        domain: &str,
        hour: u64,
    ) -> Option<Arc<TransactionReport>> {
        self.report(domain, hour).await
    }

    /// [`Collector::transaction_report`] for a view of one machine (`ip`; `None` for every
    /// machine) and one type (`type_`; `None` for every type): of a live report the
    /// analyzer thread copies only what that view reads ([`TransactionReport::scoped`]),
    /// where a whole copy of a domain on many machines kept it from its trees for tens of
    /// milliseconds. A stored report comes whole.
    pub async fn transaction_report_for(
        &self,
        domain: &str,
        hour: u64,
        ip: Option<&str>,
        type_: Option<&str>,
    ) -> Option<Arc<TransactionReport>> {
        let scope = Scope {
            ip: ip.map(str::to_owned),
            type_: type_.map(str::to_owned),
        };
        self.report_scoped(domain, hour, scope).await
    }

    /// What an overview of every domain (the web UI's home page) shows of `domain` in
    /// `hour` ([`DomainOverview`]). Of a live hour the analyzer thread holding the domain
    /// copies only its entry type's part of the Transaction report, reads its `folded` and
    /// counts its problems, all in one round trip, where whole copies of a domain on many machines kept it from
    /// its trees for a tenth of a second; a sealed hour's come from the stored reports.
    pub async fn domain_overview(&self, domain: &str, hour: u64) -> DomainOverview {
        let inner = &*self.inner;
        if let Some(worker) = inner.worker_of(ReportKind::Transaction, hour, domain) {
            let (reply, answer) = tokio::sync::oneshot::channel();
            let query = Control::Overview {
                hour,
                domain: domain.to_owned(),
                reply,
            };
            let answered = inner.controls[worker].try_send(query).is_ok()
                && match tokio::time::timeout(QUERY_TIMEOUT, answer).await {
                    Ok(Ok(Some(overview))) => return overview,
                    // The analyzer holds none of the domain's reports: whatever is stored.
                    Ok(Ok(None)) => true,
                    Ok(Err(_)) | Err(_) => false,
                };
            if !answered {
                // The last checkpoint, as for a report query.
                inner.stats.report_queries_unanswered.fetch_add(1, Relaxed);
            }
        }
        let transactions = self.stored::<TransactionReport>(domain, hour).await;
        let problems = self.stored::<ProblemReport>(domain, hour).await;
        DomainOverview::of(transactions.as_deref(), problems.as_deref())
    }

    /// A domain's Event report for an hour.
    pub async fn event_report(&self, domain: &str, hour: u64) -> Option<Arc<EventReport>> {
        self.report(domain, hour).await
    }

    /// A domain's Problem report for an hour.
    pub async fn problem_report(&self, domain: &str, hour: u64) -> Option<Arc<ProblemReport>> {
        self.report(domain, hour).await
    }

    /// A domain's Heartbeat report for an hour.
    pub async fn heartbeat_report(&self, domain: &str, hour: u64) -> Option<Arc<HeartbeatReport>> {
        self.report(domain, hour).await
    }

    /// A domain's Metric report for an hour.
    pub async fn metric_report(&self, domain: &str, hour: u64) -> Option<Arc<MetricReport>> {
        self.report(domain, hour).await
    }

    /// A domain's Matrix report for an hour.
    pub async fn matrix_report(&self, domain: &str, hour: u64) -> Option<Arc<MatrixReport>> {
        self.report(domain, hour).await
    }

    /// The collector's own State report for an hour.
    pub async fn state_report(&self, hour: u64) -> Option<Arc<StateReport>> {
        // Drops, decode errors and the like reach the report by samples (every
        // `state_interval`). Sample now, so a reader sees them up to this moment rather than
        // up to ten seconds late; the State worker takes the sample before the query.
        let now = self.inner.clock.now_ms();
        if hour == hour_of(now) {
            let mut ticks = self.inner.ticks.lock().expect("tick state lock");
            self.send_sample(&mut ticks, now, false);
        }
        self.report(STATE_DOMAIN, hour).await
    }

    async fn report<R: Report>(&self, domain: &str, hour: u64) -> Option<Arc<R>> {
        self.report_scoped(domain, hour, Scope::default()).await
    }

    /// [`Collector::report`] of which the analyzer thread copies only `scope`.
    async fn report_scoped<R: Report>(
        &self,
        domain: &str,
        hour: u64,
        scope: Scope,
    ) -> Option<Arc<R>> {
        match self
            .report_within(domain, hour, QUERY_TIMEOUT, scope, true)
            .await
        {
            Ok(report) => report,
            // The last checkpoint: up to a minute old, better than nothing to look at.
            Err(Unanswered) => self.stored(domain, hour).await,
        }
    }

    /// The stored report `R` of `domain` in `hour`: of a sealed hour (past its seal time by
    /// the collector's clock), kept parsed for the next readers ([`SealedReports`]); of an
    /// open hour (its last checkpoint), read and parsed each time.
    async fn stored<R: Report>(&self, domain: &str, hour: u64) -> Option<Arc<R>> {
        let inner = &*self.inner;
        let store = inner.store.as_ref()?;
        let now_ms = inner.clock.now_ms();
        if is_due_for_sealing(hour, now_ms, inner.config.previous_hour_grace_minutes) {
            // Unreadable ones are logged and counted there; readers that must tell them from
            // absent ones ask [`Collector::unreadable_report`].
            inner
                .sealed_reports
                .get::<R>(store, hour, domain)
                .await
                .ok()?
        } else {
            read_stored::<R>(store, hour, domain).map(Arc::new)
        }
    }

    /// Why the stored report `kind` (its name: `transaction`, `event`, `problem`,
    /// `heartbeat`, `metric`) of `domain` in the sealed `hour` cannot be read: its file does
    /// not parse, names another domain or hour (or none), cannot be read from disk, or is
    /// missing while the domain's other reports of the hour are there (a domain's
    /// Transaction, Event and Problem reports are made together). `None` when it reads,
    /// when the domain has none and need not, and for hours not sealed yet. For readers
    /// that got no report and must not call that "no data"; counted in
    /// [`SealedReportStats::unreadable`](crate::SealedReportStats::unreadable).
    pub async fn unreadable_report(&self, kind: &str, domain: &str, hour: u64) -> Option<String> {
        let inner = &*self.inner;
        let store = inner.store.as_ref()?;
        let now_ms = inner.clock.now_ms();
        if !is_due_for_sealing(hour, now_ms, inner.config.previous_hour_grace_minutes) {
            return None;
        }
        let cache = &inner.sealed_reports;
        let why = match kind {
            "transaction" => cache
                .get::<TransactionReport>(store, hour, domain)
                .await
                .err(),
            "event" => cache.get::<EventReport>(store, hour, domain).await.err(),
            "problem" => cache.get::<ProblemReport>(store, hour, domain).await.err(),
            "heartbeat" => cache
                .get::<HeartbeatReport>(store, hour, domain)
                .await
                .err(),
            "metric" => cache.get::<MetricReport>(store, hour, domain).await.err(),
            "matrix" => cache.get::<MatrixReport>(store, hour, domain).await.err(),
            _ => None,
        };
        why.map(|why| why.to_string())
    }

    /// The report as the analyzer thread holding its hour has it now, or the stored one
    /// when no analyzer holds the hour; `Err(Unanswered)` when the analyzer did not answer
    /// within `wait` (busy writing a checkpoint, say), counted in
    /// [`StatsSnapshot::report_queries_unanswered`]. With `reuse`, a copy of the same view
    /// made a moment ago may answer instead ([`crate::CopyReuse`]), and a new copy that
    /// took long is kept for the next readers.
    async fn report_within<R: Report>(
        &self,
        domain: &str,
        hour: u64,
        wait: Duration,
        scope: Scope,
        reuse: bool,
    ) -> Result<Option<Arc<R>>, Unanswered> {
        let inner = &*self.inner;
        let Some(worker) = inner.worker_of(R::KIND, hour, domain) else {
            return Ok(self.stored(domain, hour).await);
        };
        let reused_scope = reuse.then(|| scope.clone());
        if let Some(scope) = &reused_scope {
            if let Some(copy) = inner.copies.get::<R>(R::KIND, hour, domain, scope) {
                return Ok(Some(copy));
            }
        }
        let (reply, answer) = tokio::sync::oneshot::channel();
        let query = Control::Query {
            hour,
            kind: R::KIND,
            domain: domain.to_owned(),
            scope,
            reply,
        };
        if inner.controls[worker].try_send(query).is_ok() {
            match tokio::time::timeout(wait, answer).await {
                Ok(Ok((Some(report), cost))) => {
                    let report = R::from_any(report).map(Arc::new);
                    if let (Some(scope), Some(report)) = (&reused_scope, &report) {
                        let copies = &inner.copies;
                        copies.offer(R::KIND, hour, domain, scope, report, cost);
                    }
                    return Ok(report);
                }
                // The analyzer has no such report: whatever a checkpoint or seal wrote.
                Ok(Ok((None, _))) => return Ok(self.stored(domain, hour).await),
                Ok(Err(_)) | Err(_) => {}
            }
        }
        inner.stats.report_queries_unanswered.fetch_add(1, Relaxed);
        Err(Unanswered)
    }

    /// [`Collector::transaction_report`] for readers that must not act on an older copy
    /// (alert rules: a checkpoint up to a minute old would show the last minutes short):
    /// `Err(Unanswered)` instead of the last checkpoint when the analyzer holding the hour
    /// does not answer within `wait`.
    pub async fn transaction_report_now(
        &self,
        domain: &str,
        hour: u64,
        wait: Duration,
    ) -> Result<Option<TransactionReport>, Unanswered> {
        let report = self.report_within(domain, hour, wait, Scope::default(), false);
        Ok(report.await?.map(Arc::unwrap_or_clone))
    }

    /// [`Collector::event_report`], or `Err(Unanswered)` (see
    /// [`Collector::transaction_report_now`]).
    pub async fn event_report_now(
        &self,
        domain: &str,
        hour: u64,
        wait: Duration,
    ) -> Result<Option<EventReport>, Unanswered> {
        let report = self.report_within(domain, hour, wait, Scope::default(), false);
        Ok(report.await?.map(Arc::unwrap_or_clone))
    }

    /// [`Collector::problem_report`], or `Err(Unanswered)` (see
    /// [`Collector::transaction_report_now`]).
    pub async fn problem_report_now(
        &self,
        domain: &str,
        hour: u64,
        wait: Duration,
    ) -> Result<Option<ProblemReport>, Unanswered> {
        let report = self.report_within(domain, hour, wait, Scope::default(), false);
        Ok(report.await?.map(Arc::unwrap_or_clone))
    }

    /// [`Collector::metric_report`], or `Err(Unanswered)` (see
    /// [`Collector::transaction_report_now`]).
    pub async fn metric_report_now(
        &self,
        domain: &str,
        hour: u64,
        wait: Duration,
    ) -> Result<Option<MetricReport>, Unanswered> {
        let report = self.report_within(domain, hour, wait, Scope::default(), false);
        Ok(report.await?.map(Arc::unwrap_or_clone))
    }

    /// [`Collector::heartbeat_report`], or `Err(Unanswered)` (see
    /// [`Collector::transaction_report_now`]).
    pub async fn heartbeat_report_now(
        &self,
        domain: &str,
        hour: u64,
        wait: Duration,
    ) -> Result<Option<HeartbeatReport>, Unanswered> {
        let report = self.report_within(domain, hour, wait, Scope::default(), false);
        Ok(report.await?.map(Arc::unwrap_or_clone))
    }
}

/// The analyzer thread holding a report's open hour did not answer in time (see
/// [`Collector::transaction_report_now`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unanswered;

fn read_stored<R: Report>(store: &Store, hour: u64, domain: &str) -> Option<R> {
    let name = R::KIND.name();
    let bytes = store.read_report(hour, domain, name).ok()??;
    match serde_json::from_slice::<R>(&bytes) {
        Ok(report) => {
            worker::is_where_it_belongs(hour, domain, R::KIND, report.origin()).then_some(report)
        }
        Err(e) => {
            tracing::warn!(report = name, hour, domain, error = %e, "stored report does not parse");
            None
        }
    }
}

/// A stored report of any kind.
fn read_stored_any(store: &Store, hour: u64, domain: &str, kind: ReportKind) -> Option<AnyReport> {
    let bytes = store.read_report(hour, domain, kind.name()).ok()??;
    worker::parse_stored(hour, domain, kind, &bytes)
}

/// Says, once per hour restored at start, which checkpoint the hour continues from (its
/// oldest report's write) and what its reports lack; counts the hours whose reports lack
/// something in [`StatsSnapshot::hours_restored_incomplete`]. Logged when the last holder
/// lets go: the workers that parse the hour's reports, so the line knows which could be
/// used. It once said "nothing is missing" before a worker found a checkpoint that did
/// not parse and started that report from zero.
///
/// After a crash or `kill -9` the trees received after the checkpoint, up to the stop, are
/// in the store but not in the reports: a warning, with the checkpoint's time, so an
/// operator can tell how much they lack. A clean stop wrote its final checkpoint after the
/// last tree (`after_clean_stop`): nothing is missing, and saying otherwise sent operators
/// looking for a loss that was not there.
pub(crate) struct RestoreLog {
    hour: u64,
    /// Client domains with checkpoints in the hour.
    domains: usize,
    /// Reports read, to be parsed by the workers.
    reports: usize,
    checkpoint: Option<SystemTime>,
    after_clean_stop: bool,
    /// Minutes the hour's State report marks as continued from checkpoints lacking trees
    /// (an earlier crash in the hour): a clean stop since does not bring them back.
    incomplete_minutes: Vec<u8>,
    /// `domain/report` of each checkpoint that could not be read or parsed.
    unusable: Mutex<Vec<String>>,
    /// Of `reports`, those a worker could not parse.
    unparsed: AtomicUsize,
    stats: Arc<CollectorStats>,
}

/// Reports named in a restore's line; the rest are counted.
const UNUSABLE_NAMED_MAX: usize = 10;

impl RestoreLog {
    /// A report whose checkpoint a worker could not parse: it starts from zero.
    pub(crate) fn unparsed(&self, domain: &str, kind: ReportKind) {
        let mut unusable = self.unusable.lock().unwrap_or_else(|e| e.into_inner());
        unusable.push(format!("{domain}/{}", kind.name()));
        self.unparsed.fetch_add(1, Relaxed);
    }
}

impl Drop for RestoreLog {
    fn drop(&mut self) {
        let mut unusable =
            std::mem::take(self.unusable.get_mut().unwrap_or_else(|e| e.into_inner()));
        unusable.sort_unstable();
        let (hour, domains) = (self.hour, self.domains);
        let reports = self.reports.saturating_sub(*self.unparsed.get_mut());
        let hour_utc = crate::clock::utc(hour.saturating_mul(MILLIS_PER_HOUR));
        if self.after_clean_stop && unusable.is_empty() {
            if self.incomplete_minutes.is_empty() {
                tracing::info!(hour, %hour_utc, domains, reports, "continuing the hour from its checkpoint, written by a clean stop: nothing is missing from the hour's reports");
            } else {
                let minutes: Vec<String> = (self.incomplete_minutes.iter())
                    .map(|m| format!(":{m:02}"))
                    .collect();
                let minutes = minutes.join(" ");
                tracing::warn!(hour, %hour_utc, domains, reports, incomplete_minutes = %minutes, "continuing the hour from its checkpoint, written by a clean stop: the stop lost nothing, but an earlier crash in the hour left its reports without the trees taken after a checkpoint (they are in the store; rebuilt from it once the hour is sealed, unless collector.rebuild_incomplete_hours is off)");
            }
            return;
        }
        self.stats.restored_incomplete(self.hour);
        let named: Vec<&str> = unusable
            .iter()
            .take(UNUSABLE_NAMED_MAX)
            .map(String::as_str)
            .collect();
        let more = unusable.len().saturating_sub(UNUSABLE_NAMED_MAX);
        let more = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        let unusable_list = format!("{}{more}", named.join(", "));
        let from_zero = if unusable.is_empty() {
            String::new()
        } else {
            let n = unusable.len();
            format!(
                "; {n} report{} could not be used and start{} from zero, without the hour's \
                 trees before the start ({unusable_list}; kept aside: see the lines above)",
                if n == 1 { "" } else { "s" },
                if n == 1 { "s" } else { "" },
            )
        };
        if self.after_clean_stop {
            tracing::warn!(hour, %hour_utc, domains, reports, "continuing the hour from its checkpoint, written by a clean stop: the reports used miss nothing{from_zero}");
            return;
        }
        let Some(checkpoint) = self.checkpoint else {
            tracing::warn!(hour, %hour_utc, domains, reports, "continuing the hour from its checkpoint (its time unknown); trees received after the checkpoint, up to the stop, are in the store but not in the hour's reports{from_zero}");
            return;
        };
        let checkpoint_ms = checkpoint
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let age_s = SystemTime::now()
            .duration_since(checkpoint)
            .map_or(0, |d| d.as_secs());
        tracing::warn!(
            hour,
            %hour_utc,
            checkpoint = %crate::clock::utc(checkpoint_ms),
            checkpoint_age_s = age_s,
            domains,
            reports,
            "continuing the hour from its checkpoint; trees received after the checkpoint, up to the stop, are in the store but not in the hour's reports{from_zero}"
        );
    }
}

/// How long the rebuild of an incomplete hour waits for the checkpoint that seals it.
const REBUILD_WAIT: Duration = Duration::from_secs(120);

/// Rebuilds one hour found incomplete at the start, and says what came of it.
fn rebuild_after_crash(
    store: &Store,
    config: &CollectorConfig,
    hour: u64,
    now_ms: u64,
    stats: &CollectorStats,
) {
    let hour_utc = crate::clock::utc(hour.saturating_mul(MILLIS_PER_HOUR));
    let options = crate::rebuild::RebuildOptions {
        keep_if_fewer: true,
        ..Default::default()
    };
    match crate::rebuild::rebuild_hour(store, config, hour, &options, now_ms) {
        Ok(rebuilt) => {
            let trees = rebuilt.total_trees();
            let domains = rebuilt.trees.len() - rebuilt.kept.len().min(rebuilt.trees.len());
            if rebuilt.reports_written > 0 {
                stats.hours_rebuilt.fetch_add(1, Relaxed);
            }
            tracing::info!(hour, %hour_utc, trees, domains, reports = rebuilt.reports_written, "rebuilt an hour left incomplete by a crash from the trees in the store: its reports now count the trees taken after its last checkpoint");
            if !rebuilt.kept.is_empty() {
                let kept = rebuilt.kept.join(", ");
                tracing::warn!(hour, %hour_utc, %kept, "kept the checkpointed reports of some domains of a rebuilt hour: the store holds fewer of their trees than were received (it dropped some); `ocelot rebuild-reports` rebuilds them anyway");
            }
        }
        Err(error) => {
            tracing::warn!(hour, %hour_utc, %error, "cannot rebuild an hour left incomplete by a crash; its reports stay as checkpointed");
        }
    }
}

/// Lowers the calling thread's priority as far as it goes (Linux: niceness is per thread):
/// a rebuild must not take the CPU the collector's own threads need.
pub fn lower_this_threads_priority() {
    #[cfg(target_os = "linux")]
    {
        let thread = Some(rustix::thread::gettid());
        let _ = rustix::process::setpriority_process(thread, 19);
    }
}

/// Whether the stored reports of `domain` in `hour` are a client domain's: any but the
/// State report, which the collector files under [`STATE_DOMAIN`] (a client may send that
/// name too, and its reports then sit beside the State report). Readers of the store that
/// list applications (restoring an hour, alert rules' domains heard from) skip the others.
pub fn is_client_domain(store: &Store, hour: u64, domain: &str) -> bool {
    domain != STATE_DOMAIN
        || store
            .report_names(hour, domain)
            .is_ok_and(|names| names.iter().any(|name| name != ReportKind::State.name()))
}

/// What each domain sent in `hour`, by the hour's stored State report (empty without one).
fn stored_trees_by_domain(store: &Store, hour: u64) -> BTreeMap<String, u64> {
    match read_stored_any(store, hour, STATE_DOMAIN, ReportKind::State) {
        Some(AnyReport::State(state)) => state.trees_by_domain(),
        _ => BTreeMap::new(),
    }
}

/// Resident set size from /proc (0 where unavailable).
fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map(|pages| pages * 4096)
        .unwrap_or(0)
}

/// Counts `bytes` more into `queued` (the batch's `QueuedTrees` takes them off again) and
/// says whether that passes `budget`. A batch is never over alone: a read bigger than
/// the whole budget still reaches the workers when nothing else is queued.
fn over_budget(queued: &AtomicU64, bytes: u64, budget: u64) -> bool {
    let before = queued.fetch_add(bytes, Relaxed);
    before > 0 && before.saturating_add(bytes) > budget
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ManualClock;
    use ocelot_protocol::{Header, Message, MessageTree, Transaction};

    #[test]
    fn a_connection_drops_its_kept_placements_when_a_forgotten_hour_is_placed_afresh() {
        const HOUR_MS: u64 = 498_703 * 3_600_000;
        let at = HOUR_MS + 10 * 60_000;
        let clock = Arc::new(ManualClock::new(at));
        let config = CollectorConfig {
            background_ticks: false,
            analyzer_threads: 2,
            ..CollectorConfig::default()
        };
        let collector = Collector::start(config, None, clock.clone());
        let frame = |domain: &str, at_ms: u64| {
            let header = Header {
                domain: domain.to_owned(),
                ..Header::default()
            };
            let root = Message::Transaction(Transaction::new("URL", "/", at_ms));
            let mut out = Vec::new();
            ocelot_protocol::nt1::encode(&MessageTree::new(header, root), &mut out);
            Bytes::from(out)
        };
        // A connection keeps the placement it got for `a`: the hour's first domain.
        let mut connection = IngestBatch::default();
        collector.accept(frame("a", at), &mut connection).unwrap();
        let first = connection.trees[0].shard;
        collector.dispatch(&mut connection);
        // The clock is set three hours ahead (the collector forgets the hour), then back:
        // the hour is placed afresh, another domain first, on the thread `a` had.
        clock.set(at + 3 * 3_600_000);
        collector.ingest(frame("b", at + 3 * 3_600_000)).unwrap();
        clock.set(at);
        collector.ingest(frame("x", at)).unwrap();
        collector.accept(frame("a", at), &mut connection).unwrap();
        let placed = collector.inner.domain_shards.shard_of(498_703, "a");
        assert_ne!(placed, Some(first), "the hour was placed afresh");
        assert_eq!(
            Some(connection.trees[0].shard),
            placed,
            "the connection's tree goes where the hour's reports of `a` now are"
        );
        collector.dispatch(&mut connection);
    }

    /// A checkpoint that cannot reach a worker in time (its control queue full for
    /// `QUERY_TIMEOUT`) seals that worker's part of an hour at the next checkpoint: the
    /// hour was said "sealed" twice, the second time with that worker's domains alone.
    #[test]
    fn an_hour_one_worker_seals_a_checkpoint_late_is_said_sealed_once() {
        const HOUR: u64 = 498_703;
        let clock = Arc::new(ManualClock::new(HOUR * 3_600_000 + 10 * 60_000));
        let config = CollectorConfig {
            background_ticks: false,
            analyzer_threads: 2,
            ..CollectorConfig::default()
        };
        let collector = Collector::start(config, None, clock.clone());
        for (seq, domain) in ["a", "b", "c", "d", "e", "f"].into_iter().enumerate() {
            let header = Header {
                domain: domain.to_owned(),
                message_id: format!("{domain}-0a000001-{HOUR}-{seq}"),
                ..Header::default()
            };
            let root = Message::Transaction(Transaction::new("URL", "/", clock.now_ms()));
            let mut out = Vec::new();
            ocelot_protocol::nt1::encode(&MessageTree::new(header, root), &mut out);
            collector.ingest(Bytes::from(out)).unwrap();
        }
        let late = collector.inner.domain_shards.shard_of(HOUR, "a").unwrap();
        let late_name = SHARD_NAMES[late];
        clock.set((HOUR + 1) * 3_600_000 + 5 * 60_000);
        // The last share of each checkpoint's log is the test's: the lines come on this
        // thread, once every worker is done.
        let logged = crate::log_buffer::LogBuffer::default();
        let checkpoint = |reaches: &dyn Fn(usize) -> bool| {
            let sealing = Arc::new(SealLog::new(collector.inner.seals_said.clone()));
            let (done, finished) = std::sync::mpsc::channel();
            let mut sent = 0;
            for (index, control) in collector.inner.controls.iter().enumerate() {
                if reaches(index) {
                    let checkpoint = Control::Checkpoint {
                        now_ms: clock.now_ms(),
                        done: Some(done.clone()),
                        sealing: sealing.clone(),
                    };
                    control.send(checkpoint).unwrap();
                    sent += 1;
                }
            }
            for _ in 0..sent {
                finished.recv().unwrap();
            }
            tracing::subscriber::with_default(logged.subscriber(), || drop(sealing));
        };
        // The sealing checkpoint does not reach the worker of `a`; the next one does.
        checkpoint(&|index| index != late);
        checkpoint(&|_| true);
        let text = logged.text();
        let said: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("sealed an hour"))
            .collect();
        assert_eq!(said.len(), 1, "{text}");
        assert!(said[0].contains(&format!("hour={HOUR} ")), "{text}");
        let rest: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("did not reach in time"))
            .collect();
        assert_eq!(rest.len(), 1, "{text}");
        assert!(
            rest[0].contains(&format!("workers={late_name} ")),
            "{}",
            rest[0]
        );
        collector.shutdown();
    }

    #[test]
    fn the_queue_budget_counts_each_batch_until_the_last_worker_lets_go() {
        let queued = Arc::new(AtomicU64::new(0));
        assert!(!over_budget(&queued, 600, 1000));
        let first = Arc::new(QueuedTrees::counted(Vec::new(), 600, queued.clone()));
        assert!(over_budget(&queued, 500, 1000), "past the budget");
        drop(QueuedTrees::counted(Vec::new(), 500, queued.clone()));
        assert_eq!(
            queued.load(Relaxed),
            600,
            "a batch nobody took is off again"
        );
        assert!(!over_budget(&queued, 400, 1000), "exactly full");
        let second = QueuedTrees::counted(Vec::new(), 400, queued.clone());
        // Two workers hold the first batch: its bytes count until the last lets go.
        let other_worker = first.clone();
        drop(first);
        assert_eq!(queued.load(Relaxed), 1000);
        drop(other_worker);
        drop(second);
        assert_eq!(queued.load(Relaxed), 0);
        // Alone, a batch bigger than the whole budget is not over it.
        assert!(!over_budget(&queued, 5000, 1000));
    }
}
