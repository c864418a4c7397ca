//! The report workers. Domains are split over a few analyzer threads ("shards"); each owns
//! every report kind of its domains for the open hours, so a tree is walked by one thread
//! while it is hot in that core's cache, and the per-message path takes no lock. One more
//! thread keeps the collector's own State report. Trees arrive in batches through a queue
//! bounded in trees (full = dropped and counted); queries, checkpoints and seals come
//! through a small control channel.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use crossbeam_channel::{select, Receiver};
use ocelot_analyzer::MatrixReport;
use ocelot_analyzer::{
    AnalyzerConfig, DomainOverview, DomainReports, EventReport, HeartbeatReport, HourAnalyzers,
    HourReports, MetricReport, ParsedId, ProblemReport, StateReport, TransactionReport, OTHERS,
};
use ocelot_protocol::{nt1, MessageTree, ScannedFrame, TreeView, LENGTH_PREFIX_BYTES};
use ocelot_store::Store;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::clock::Clock;
use crate::collector::UnwrittenReports;
use crate::domain_shards::DomainShards;
use crate::period::{is_due_for_sealing, last_hour_due_for_sealing};
use crate::rate_limited_log::RateLimitedLog;
use crate::received::ReceivedCounts;
use crate::stats::CollectorStats;

/// After a frame larger than this, the analyzer thread's scratch tree and view are dropped
/// rather than kept for reuse (a client's 10 MiB tree would otherwise stay in memory).
const SCRATCH_KEEP_BYTES: usize = 64 * 1024;

/// A tree on its way to the workers: its frame as received, checked but (NT1) not yet
/// decoded. The analyzer thread that takes it decodes it, so the tree is built, walked and
/// freed by one thread while it is in that core's cache.
pub(crate) struct TreeItem {
    pub(crate) hour: u64,
    /// The numbers of the tree's message ID, when the socket thread parsed it (for the
    /// store's key) and it is canonical: the reports need not parse it again.
    pub(crate) parsed_id: Option<ParsedId>,
    pub(crate) frame: Bytes,
    pub(crate) scan: ScannedFrame,
    pub(crate) received_ms: u64,
    /// The analyzer shard of the tree's domain (`DomainShards`).
    pub(crate) shard: usize,
    /// The hour's domain cap is reached: the tree is filed under `OTHERS` (see `DomainShards`).
    pub(crate) fold_domain: bool,
}

/// The trees of one read of a connection, shared by every worker (the last one frees them).
/// Each analyzer shard processes the trees of its own domains and skips the others.
pub(crate) type TreeBatch = Arc<QueuedTrees>;

/// A batch's trees, with their frame bytes counted in the collector's queued bytes from
/// dispatch until the last worker lets go of them.
pub(crate) struct QueuedTrees {
    items: Vec<TreeItem>,
    bytes: u64,
    queued_bytes: Option<Arc<AtomicU64>>,
}

impl QueuedTrees {
    /// `items`, already counted in `queued_bytes` as `bytes`.
    pub(crate) fn counted(items: Vec<TreeItem>, bytes: u64, queued_bytes: Arc<AtomicU64>) -> Self {
        QueuedTrees {
            items,
            bytes,
            queued_bytes: Some(queued_bytes),
        }
    }

    /// `items`, counted nowhere (tests).
    #[cfg(test)]
    pub(crate) fn uncounted(items: Vec<TreeItem>) -> Self {
        QueuedTrees {
            items,
            bytes: 0,
            queued_bytes: None,
        }
    }
}

impl std::ops::Deref for QueuedTrees {
    type Target = [TreeItem];

    fn deref(&self) -> &[TreeItem] {
        &self.items
    }
}

impl Drop for QueuedTrees {
    fn drop(&mut self) {
        if let Some(queued) = &self.queued_bytes {
            queued.fetch_sub(self.bytes, Relaxed);
        }
    }
}

/// Collector figures for one State sample (deltas since the previous sample).
#[derive(Debug, Clone, Default)]
pub(crate) struct StateSample {
    pub(crate) now_ms: u64,
    pub(crate) decode_errors: Vec<(&'static str, u64)>,
    pub(crate) drops: Vec<(&'static str, &'static str, u64)>,
    pub(crate) queue_depths: Vec<(&'static str, u64)>,
    pub(crate) out_of_window: u64,
    pub(crate) processing: Vec<(&'static str, u64, u64)>,
    pub(crate) rss_bytes: u64,
    /// The collector's first sample, taken as it starts: its minute is marked as a start
    /// (`StateReport::record_start`).
    pub(crate) started: bool,
    /// Open hours continued from checkpoints lacking trees since the last sample, each
    /// with the collector's start (epoch ms): marked in that hour's State report.
    pub(crate) restored_incomplete: Vec<(u64, u64)>,
}

/// The report kinds; their names are the reports' names in the store and the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum ReportKind {
    Transaction,
    Event,
    Problem,
    Heartbeat,
    Metric,
    Matrix,
    State,
}

impl ReportKind {
    pub(crate) const ALL: [ReportKind; 7] = [
        ReportKind::Transaction,
        ReportKind::Event,
        ReportKind::Problem,
        ReportKind::Heartbeat,
        ReportKind::Metric,
        ReportKind::Matrix,
        ReportKind::State,
    ];

    pub(crate) const fn name(self) -> &'static str {
        match self {
            ReportKind::Transaction => "transaction",
            ReportKind::Event => "event",
            ReportKind::Problem => "problem",
            ReportKind::Heartbeat => "heartbeat",
            ReportKind::Metric => "metric",
            ReportKind::Matrix => "matrix",
            ReportKind::State => ocelot_analyzer::STATE_REPORT_NAME,
        }
    }
}

/// One domain's report of any kind, as workers hand them out and take them back.
#[derive(Debug, Clone)]
pub(crate) enum AnyReport {
    Transaction(TransactionReport),
    Event(EventReport),
    Problem(ProblemReport),
    Heartbeat(HeartbeatReport),
    Metric(MetricReport),
    Matrix(MatrixReport),
    State(StateReport),
}

/// A report type the collector serves: its kind, how to take it out of an [`AnyReport`],
/// and the domain and hour it says it is of.
pub(crate) trait Report: DeserializeOwned + Clone + Send + Sync + 'static {
    const KIND: ReportKind;
    fn from_any(report: AnyReport) -> Option<Self>;
    /// The domain (`None` for the State report, which names none) and hour in the report.
    fn origin(&self) -> (Option<&str>, u64);
}

macro_rules! report_type {
    ($report:ty, $variant:ident, $r:ident => $origin:expr) => {
        impl Report for $report {
            const KIND: ReportKind = ReportKind::$variant;
            fn from_any(report: AnyReport) -> Option<Self> {
                match report {
                    AnyReport::$variant(r) => Some(r),
                    _ => None,
                }
            }
            fn origin(&self) -> (Option<&str>, u64) {
                let $r = self;
                $origin
            }
        }
    };
}

report_type!(TransactionReport, Transaction, r => (Some(r.domain()), r.hour()));
report_type!(EventReport, Event, r => (Some(r.domain()), r.hour()));
report_type!(ProblemReport, Problem, r => (Some(r.domain()), r.hour()));
report_type!(HeartbeatReport, Heartbeat, r => (Some(r.domain()), r.hour()));
report_type!(MetricReport, Metric, r => (Some(r.domain()), r.hour()));
report_type!(MatrixReport, Matrix, r => (Some(r.domain()), r.hour()));
report_type!(StateReport, State, r => (None, r.hour()));

impl AnyReport {
    /// [`Report::origin`] of the report inside.
    fn origin(&self) -> (Option<&str>, u64) {
        match self {
            AnyReport::Transaction(r) => r.origin(),
            AnyReport::Event(r) => r.origin(),
            AnyReport::Problem(r) => r.origin(),
            AnyReport::Heartbeat(r) => r.origin(),
            AnyReport::Metric(r) => r.origin(),
            AnyReport::Matrix(r) => r.origin(),
            AnyReport::State(r) => r.origin(),
        }
    }
}

/// Whether a stored report read from `domain`'s folder of `hour` says it is of that domain
/// and hour. A report file copied into another domain's or hour's folder (by hand, a
/// restore from a backup into the wrong place) would otherwise be served, and merged into
/// checkpoints, as that folder's: a mismatch is logged and the report treated as one that
/// does not parse. A report that names no domain or hour (fields missing: they default to
/// empty and 0) cannot be checked, and is taken.
pub(crate) fn is_where_it_belongs(
    hour: u64,
    domain: &str,
    kind: ReportKind,
    origin: (Option<&str>, u64),
) -> bool {
    let (says_domain, says_hour) = origin;
    let domain_differs = says_domain.is_some_and(|d| !d.is_empty() && d != domain);
    let hour_differs = says_hour != 0 && says_hour != hour;
    if domain_differs || hour_differs {
        tracing::warn!(
            report = kind.name(),
            hour,
            domain,
            report_hour = says_hour,
            report_domain = says_domain.unwrap_or(""),
            "a stored report is of another domain or hour than the folder it was found in \
             (copied or moved there?); treated as corrupt, not served as this folder's"
        );
        return false;
    }
    true
}

/// One report of a checkpoint, as its file holds it (JSON).
pub(crate) struct StoredReport {
    pub(crate) domain: String,
    pub(crate) kind: ReportKind,
    pub(crate) bytes: Vec<u8>,
}

/// A stored report parsed, or `None` (logged) when it does not parse or is of another
/// domain or hour ([`is_where_it_belongs`]).
pub(crate) fn parse_stored(
    hour: u64,
    domain: &str,
    kind: ReportKind,
    bytes: &[u8],
) -> Option<AnyReport> {
    fn parse<R: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<R, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
    let parsed = match kind {
        ReportKind::Transaction => parse(bytes).map(AnyReport::Transaction),
        ReportKind::Event => parse(bytes).map(AnyReport::Event),
        ReportKind::Problem => parse(bytes).map(AnyReport::Problem),
        ReportKind::Heartbeat => parse(bytes).map(AnyReport::Heartbeat),
        ReportKind::Metric => parse(bytes).map(AnyReport::Metric),
        ReportKind::Matrix => parse(bytes).map(AnyReport::Matrix),
        ReportKind::State => parse(bytes).map(AnyReport::State),
    };
    parsed
        .inspect_err(|e| {
            tracing::warn!(report = kind.name(), hour, domain, error = %e, "stored report does not parse");
        })
        .ok()
        .filter(|report| is_where_it_belongs(hour, domain, kind, report.origin()))
}

/// Moves a checkpoint that could not be read or parsed out of the way of the next one
/// ([`Store::set_report_aside`]): the report starts from zero, and its next checkpoint
/// would otherwise replace the file.
pub(crate) fn set_aside(store: Option<&Store>, hour: u64, domain: &str, kind: ReportKind) {
    let Some(store) = store else {
        return;
    };
    match store.set_report_aside(hour, domain, kind.name()) {
        Ok(Some(aside)) => tracing::warn!(
            report = kind.name(),
            hour,
            domain,
            aside = %aside.display(),
            "the report starts from zero; the checkpoint that could not be used is kept aside"
        ),
        Ok(None) => {}
        Err(e) => tracing::warn!(
            report = kind.name(),
            hour,
            domain,
            error = %e,
            "the report starts from zero, and the checkpoint that could not be used cannot be moved aside: the next checkpoint replaces it"
        ),
    }
}

/// Adds the `live` reports (counted since the start, before the checkpoint was parsed) to
/// the `restored` ones, domain by domain.
fn add_live<R>(
    restored: &mut BTreeMap<String, R>,
    live: BTreeMap<String, R>,
    merge: fn(&mut R, &R),
) {
    for (domain, report) in live {
        match restored.get_mut(&domain) {
            Some(r) => merge(r, &report),
            None => {
                restored.insert(domain, report);
            }
        }
    }
}

/// The part of a report a query wants: what a view of one machine and one type reads
/// (`None`: all of them). Only the Transaction report, the largest, is copied in part
/// ([`TransactionReport::scoped`]); the others come whole.
#[derive(Debug, Clone, Default)]
pub(crate) struct Scope {
    pub(crate) ip: Option<String>,
    pub(crate) type_: Option<String>,
}

/// The CPU time the calling thread has run: what a step cost it, without the time another
/// thread had its core meanwhile (wall time on a busy machine would make a cheap step look
/// costly).
fn thread_cpu_time() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(
        t.tv_sec.max(0) as u64,
        t.tv_nsec.clamp(0, 999_999_999) as u32,
    )
}

/// What a worker is asked besides processing trees.
pub(crate) enum Control {
    /// One domain's report of an open hour, with the time its copy took.
    Query {
        hour: u64,
        kind: ReportKind,
        domain: String,
        scope: Scope,
        reply: tokio::sync::oneshot::Sender<(Option<AnyReport>, Duration)>,
    },
    /// What an overview of domains reads of one domain in an open hour
    /// ([`DomainOverview`]), `None` when the worker holds none of its reports.
    Overview {
        hour: u64,
        domain: String,
        reply: tokio::sync::oneshot::Sender<Option<DomainOverview>>,
    },
    /// The domains with a report in an open hour.
    Domains {
        hour: u64,
        reply: tokio::sync::oneshot::Sender<Vec<String>>,
    },
    /// Reports of a checkpoint at start (the worker's own domains, every kind), as stored:
    /// each worker parses its own, all at once, while the collector already takes trees.
    Restore {
        hour: u64,
        reports: Vec<StoredReport>,
        /// Told of each report that does not parse; logs the restore once every worker
        /// is done with it.
        log: Arc<crate::collector::RestoreLog>,
    },
    /// Write every open hour's reports; seal (write, then forget) the hours that are due,
    /// telling `sealing` what was sealed.
    Checkpoint {
        now_ms: u64,
        done: Option<std::sync::mpsc::Sender<()>>,
        sealing: Arc<SealLog>,
    },
    /// The collector's own figures (only the State worker uses them).
    Sample(StateSample),
    /// Process what is queued, write every open hour, and stop; each hour and domain whose
    /// reports failed to write is sent on `unwritten`.
    Shutdown {
        unwritten: std::sync::mpsc::Sender<UnwrittenReports>,
    },
    /// Do nothing until every sender of this channel is gone: a worker busy for as long as
    /// a test wants, as a long checkpoint would keep it (tests only).
    Hold(crossbeam_channel::Receiver<()>),
}

/// The hours one checkpoint sealed, as every worker tells it, logged one line an hour
/// when the last worker is done with the checkpoint (and lets go of its share): each
/// worker seals only its own domains, and a line from each would say little.
#[derive(Debug, Default)]
pub(crate) struct SealLog {
    hours: std::sync::Mutex<BTreeMap<u64, SealedHour>>,
    /// Shared by every checkpoint of the collector (see [`SealsSaid`]).
    said: Arc<SealsSaid>,
}

/// The hours a collector's log said were sealed, the latest [`SEALS_SAID_KEPT`].
///
/// A checkpoint that could not reach a worker in time (its control queue full) seals that
/// worker's part of the hour only at the next checkpoint: that is the rest of a seal
/// already said, not a second one, and is logged as such.
#[derive(Debug, Default)]
pub(crate) struct SealsSaid(std::sync::Mutex<BTreeSet<u64>>);

/// Hours [`SealsSaid`] remembers: two days. A worker is late by a checkpoint or a few,
/// minutes; the set stays small whatever the clock does.
const SEALS_SAID_KEPT: usize = 48;

impl SealsSaid {
    /// Remembers that `hour` was said sealed; whether it was not already.
    fn say(&self, hour: u64) -> bool {
        let mut said = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let new = said.insert(hour);
        while said.len() > SEALS_SAID_KEPT {
            said.pop_first();
        }
        new
    }
}

/// One hour of a [`SealLog`].
#[derive(Debug, Default)]
struct SealedHour {
    /// Whether a worker sealed it now; else every worker only wrote again the final
    /// reports that failed to write earlier.
    first: bool,
    /// Whether a worker sealed it again after the clock had gone back into it.
    reopened: bool,
    /// The workers that sealed it now.
    workers: Vec<&'static str>,
    domains: usize,
    written: usize,
    failed: usize,
}

/// One worker's part in sealing an hour, told to a [`SealLog`].
struct SealPart {
    worker: &'static str,
    /// Whether the worker sealed the hour now (see [`SealedHour::first`]).
    first: bool,
    /// Whether it had sealed the hour before, and opened it again since.
    reopened: bool,
    domains: usize,
    written: usize,
    failed: usize,
}

impl SealLog {
    /// The log of one checkpoint; `said` is shared with the collector's other checkpoints,
    /// so that each hour is said sealed once.
    pub(crate) fn new(said: Arc<SealsSaid>) -> Self {
        SealLog {
            hours: Default::default(),
            said,
        }
    }

    /// One worker's part of sealing `hour`.
    fn add(&self, hour: u64, part: SealPart) {
        let mut hours = self.hours.lock().unwrap_or_else(|e| e.into_inner());
        let sealed = hours.entry(hour).or_default();
        sealed.first |= part.first;
        sealed.reopened |= part.reopened;
        if part.first {
            sealed.workers.push(part.worker);
        }
        sealed.domains += part.domains;
        sealed.written += part.written;
        sealed.failed += part.failed;
    }
}

impl Drop for SealLog {
    fn drop(&mut self) {
        let hours = std::mem::take(self.hours.get_mut().unwrap_or_else(|e| e.into_inner()));
        for (hour, sealed) in hours {
            let SealedHour {
                first,
                reopened,
                workers,
                domains,
                written,
                failed,
            } = sealed;
            let hour_utc = crate::clock::utc(hour.saturating_mul(ocelot_protocol::MILLIS_PER_HOUR));
            // Said sealed by an earlier checkpoint, and not opened again since: only the
            // workers that checkpoint did not reach seal their part now. A reopened hour is
            // sealed again, and said so again.
            let late = first && !self.said.say(hour) && !reopened;
            let workers = workers.join(",");
            match (first, late, failed) {
                (true, false, 0) => {
                    tracing::info!(hour, %hour_utc, domains, reports = written, "sealed an hour: its final reports are written")
                }
                (true, false, _) => {
                    tracing::warn!(hour, %hour_utc, domains, reports = written, failed, "sealed an hour, but some of its final reports could not be written; they are kept and tried again at every checkpoint")
                }
                (true, true, 0) => {
                    tracing::info!(hour, %hour_utc, %workers, domains, reports = written, "sealed the part of a sealed hour kept by workers the sealing checkpoint did not reach in time (their control queues were full): its final reports are written")
                }
                (true, true, _) => {
                    tracing::warn!(hour, %hour_utc, %workers, domains, reports = written, failed, "sealed the part of a sealed hour kept by workers the sealing checkpoint did not reach in time (their control queues were full), but some of its final reports could not be written; they are kept and tried again at every checkpoint")
                }
                (false, _, 0) => {
                    tracing::info!(hour, %hour_utc, reports = written, "the final reports of a sealed hour that had failed to write are written now")
                }
                // Said by the failed writes' own lines (rate-limited), not once a minute here.
                (false, _, _) => {}
            }
        }
    }
}

/// Writes one report as JSON into a report file (streamed: a busy domain's report is
/// megabytes, which checkpoints used to build in memory first).
pub(crate) type ReportWriter<'h> =
    Box<dyn FnOnce(&mut dyn std::io::Write) -> std::io::Result<()> + 'h>;

/// The [`ReportWriter`] of `report`.
fn json_writer<R: Serialize>(report: &R) -> ReportWriter<'_> {
    Box::new(move |out| Ok(serde_json::to_writer(out, report)?))
}

/// What one worker thread owns and does, hour by hour.
pub(crate) trait Worker: Send + 'static {
    /// The worker's state for one open hour.
    type Hour: Send;
    fn new_hour(&self, hour: u64) -> Self::Hour;
    /// The hour continued from its checkpoint's `reports`, with what `live` counted of it
    /// meanwhile (trees taken before the checkpoint was parsed) added. That merge does not
    /// fold: for the moment after a restart, a thread may hold up to twice its entry budget,
    /// and a machine more than its caps.
    fn restore(
        &self,
        hour: u64,
        live: Option<Self::Hour>,
        reports: Vec<(String, AnyReport)>,
    ) -> Self::Hour;
    /// Whether `item` is this worker's to process (a batch goes to every worker).
    fn takes(&self, _item: &TreeItem) -> bool {
        true
    }
    /// The report kinds this worker keeps and writes.
    const KINDS: &'static [ReportKind];
    /// The domain `item`'s reports are filed under (`None`: the worker takes no trees).
    fn report_domain(&self, _item: &TreeItem) -> Option<String> {
        None
    }
    /// The domains whose stored reports a sealed hour opened again reads back at once;
    /// the others are read back with their first tree (see [`admit`]).
    fn own_domains(&self) -> &'static [&'static str] {
        &[]
    }
    /// Merges reports read back from the store into an open hour.
    fn add_stored(&self, hour: &mut Self::Hour, reports: Vec<(String, AnyReport)>);
    fn process(&self, hour: &mut Self::Hour, item: &TreeItem);
    fn query(hour: &Self::Hour, kind: ReportKind, domain: &str, scope: &Scope)
        -> Option<AnyReport>;
    /// [`DomainOverview`] of `domain`'s live reports (only domain-keyed workers have any).
    fn overview(_hour: &Self::Hour, _domain: &str) -> Option<DomainOverview> {
        None
    }
    fn domains(hour: &Self::Hour) -> Vec<String>;
    /// The reports of the hour, one `(kind, domain)` per file a checkpoint writes.
    fn report_keys(hour: &Self::Hour) -> Vec<(ReportKind, String)>;
    /// What writes one report of the hour as JSON, `None` if it has none of that kind and
    /// domain.
    fn report_writer<'h>(
        hour: &'h Self::Hour,
        kind: ReportKind,
        domain: &str,
    ) -> Option<ReportWriter<'h>>;
    fn sample(_hour: &mut Self::Hour, _sample: &StateSample) {}
    /// The hour was continued at the start (`started_ms`) from checkpoints lacking trees.
    fn restored_incomplete(_hour: &mut Self::Hour, _started_ms: u64) {}
    /// Brings the open hours up to date with what the worker learns other than through
    /// trees; called before every control message is handled. Figures of an hour that
    /// `admit` refuses (a sealed one) are dropped, and how many trees they were is returned.
    fn catch_up(
        &self,
        _open: &mut BTreeMap<u64, Self::Hour>,
        _admit: Admit<'_, Self::Hour>,
    ) -> u64 {
        0
    }
}

/// Whether an hour takes figures: [`admit`], as [`Worker::catch_up`] is given it.
pub(crate) type Admit<'a, H> = &'a mut dyn FnMut(&mut BTreeMap<u64, H>, u64) -> bool;

/// Stored reports grouped by kind (the State report, not a shard's, left out).
fn by_kind(reports: Vec<(String, AnyReport)>) -> HourReports {
    let mut by_kind = HourReports::default();
    for (domain, report) in reports {
        match report {
            AnyReport::Transaction(r) => {
                by_kind.transaction.insert(domain, r);
            }
            AnyReport::Event(r) => {
                by_kind.event.insert(domain, r);
            }
            AnyReport::Problem(r) => {
                by_kind.problem.insert(domain, r);
            }
            AnyReport::Heartbeat(r) => {
                by_kind.heartbeat.insert(domain, r);
            }
            AnyReport::Metric(r) => {
                by_kind.metric.insert(domain, r);
            }
            AnyReport::Matrix(r) => {
                by_kind.matrix.insert(domain, r);
            }
            AnyReport::State(_) => {}
        }
    }
    by_kind
}

/// Every domain-keyed report of one shard's domains for one hour.
pub(crate) struct ShardHour {
    /// The tree being analysed as the reports read it: each NT1 frame is decoded into it
    /// (`nt1::decode_view`), its strings borrowed from the frame; kept between trees, empty,
    /// for its allocation.
    view: TreeView<'static>,
    /// For the rare frame the view cannot borrow from (text that is not UTF-8 and must be
    /// replaced): decoded into this tree, reusing its strings and lists, and viewed.
    scratch: MessageTree,
    analyzers: HourAnalyzers,
    /// Which reports' spent entry budgets were logged and counted for this hour
    /// (`HourAnalyzers::BUDGETED`).
    budget_noted: [bool; HourAnalyzers::BUDGETED.len()],
}

/// An analyzer thread: the Transaction, Event, Problem, Heartbeat, Metric and Matrix reports
/// of the domains `DomainShards` places on it.
pub(crate) struct ShardWorker {
    pub(crate) shard: usize,
    pub(crate) config: Arc<AnalyzerConfig>,
    /// Where a frame the scan accepted and the decoder refused is counted (never, unless
    /// the two disagree).
    pub(crate) stats: Arc<CollectorStats>,
}

impl ShardWorker {
    /// Logs and counts a report whose entry budget for the hour is spent.
    #[cold]
    fn note_spent_budget(&self, report: &str, hour: u64) {
        self.stats.entry_budgets_spent.fetch_add(1, Relaxed);
        tracing::warn!(
            shard = self.shard,
            report,
            hour,
            entries = self.config.max_entries_per_hour,
            "an analyzer thread's {report} report holds all the entries it may this hour \
             (collector.max_report_entries_per_hour, split between the analyzer threads); new \
             machines, types and names fold into OTHERS until the hour ends"
        );
    }
}

impl Worker for ShardWorker {
    type Hour = ShardHour;

    fn new_hour(&self, hour: u64) -> ShardHour {
        ShardHour {
            view: TreeView::default(),
            scratch: MessageTree::default(),
            analyzers: HourAnalyzers::new(hour, &self.config),
            budget_noted: [false; HourAnalyzers::BUDGETED.len()],
        }
    }

    fn restore(
        &self,
        hour: u64,
        live: Option<ShardHour>,
        reports: Vec<(String, AnyReport)>,
    ) -> ShardHour {
        let mut by_kind = by_kind(reports);
        // A budget spent before the checkpoint was parsed was said already.
        let budget_noted = live
            .as_ref()
            .map_or([false; HourAnalyzers::BUDGETED.len()], |live| {
                live.budget_noted
            });
        if let Some(live) = live {
            let live = live.analyzers;
            add_live(
                &mut by_kind.transaction,
                live.transaction.into_reports(),
                TransactionReport::merge,
            );
            add_live(
                &mut by_kind.event,
                live.event.into_reports(),
                EventReport::merge,
            );
            add_live(
                &mut by_kind.problem,
                live.problem.into_reports(),
                ProblemReport::merge,
            );
            add_live(
                &mut by_kind.heartbeat,
                live.heartbeat.into_reports(),
                HeartbeatReport::merge,
            );
            add_live(
                &mut by_kind.metric,
                live.metric.into_reports(),
                MetricReport::merge,
            );
            add_live(
                &mut by_kind.matrix,
                live.matrix.into_reports(),
                MatrixReport::merge,
            );
        }
        ShardHour {
            view: TreeView::default(),
            scratch: MessageTree::default(),
            analyzers: HourAnalyzers::from_reports(hour, &self.config, by_kind),
            budget_noted,
        }
    }

    fn takes(&self, item: &TreeItem) -> bool {
        item.shard == self.shard
    }

    const KINDS: &'static [ReportKind] = &[
        ReportKind::Transaction,
        ReportKind::Event,
        ReportKind::Problem,
        ReportKind::Heartbeat,
        ReportKind::Metric,
        ReportKind::Matrix,
    ];

    fn report_domain(&self, item: &TreeItem) -> Option<String> {
        if item.fold_domain {
            return Some(OTHERS.to_owned());
        }
        let domain = item.scan.domain(&item.frame);
        Some(self.config.domain_key(&domain).to_owned())
    }

    fn add_stored(&self, hour: &mut ShardHour, reports: Vec<(String, AnyReport)>) {
        hour.analyzers.add_reports(by_kind(reports));
    }

    fn process(&self, hour: &mut ShardHour, item: &TreeItem) {
        let ShardHour {
            view: kept,
            scratch,
            analyzers,
            budget_noted,
        } = hour;
        let mut view = std::mem::take(kept).recycle();
        match &item.scan {
            // Decoded on arrival (PT1 has no cheap check short of decoding).
            ScannedFrame::Pt1(tree) => view.fill(tree),
            ScannedFrame::Nt1(_) => {
                let body = &item.frame[LENGTH_PREFIX_BYTES..];
                // Fields no report reads (SQL text, URLs, stack traces, most of the
                // header) are left undecoded. `reads_data` itself, not `KEEP.data` (the
                // same function as a pointer): called directly, inlined per message.
                if nt1::decode_view(body, HourAnalyzers::reads_data, &mut view).is_err() {
                    // Text to replace, or (never, unless the scan and the decoder
                    // disagree) a frame the decoder refuses.
                    if let Err(e) =
                        nt1::decode_body_into_keeping(body, scratch, HourAnalyzers::KEEP)
                    {
                        // The scan accepted it, so decoding cannot fail (a property test
                        // holds the two together); were it ever to, the tree is lost loudly.
                        self.stats
                            .count_decode_error(crate::stats::decode_error_reason(&e));
                        tracing::error!(error = %e, "a scanned frame failed to decode");
                        *kept = view.recycle();
                        return;
                    }
                    view.fill(scratch);
                }
            }
        }
        if item.fold_domain {
            view.domain = OTHERS;
        }
        analyzers.process_view_parsed(&view, item.parsed_id);
        let spent = analyzers.spent_entry_budgets();
        for (i, report) in HourAnalyzers::BUDGETED.into_iter().enumerate() {
            if spent[i] && !budget_noted[i] {
                budget_noted[i] = true;
                self.note_spent_budget(report, analyzers.transaction.hour());
            }
        }
        if item.frame.len() > SCRATCH_KEEP_BYTES {
            // Do not hold a huge tree's strings and list until the next big frame.
            *scratch = MessageTree::default();
        } else {
            *kept = view.recycle();
        }
    }

    fn query(hour: &ShardHour, kind: ReportKind, domain: &str, scope: &Scope) -> Option<AnyReport> {
        Some(match kind {
            ReportKind::Transaction => {
                let report = hour.analyzers.transaction.reports().get(domain)?;
                AnyReport::Transaction(match scope {
                    Scope {
                        ip: None,
                        type_: None,
                    } => report.clone(),
                    Scope { ip, type_ } => report.scoped(ip.as_deref(), type_.as_deref()),
                })
            }
            ReportKind::Event => {
                AnyReport::Event(hour.analyzers.event.reports().get(domain)?.clone())
            }
            ReportKind::Problem => {
                AnyReport::Problem(hour.analyzers.problem.reports().get(domain)?.clone())
            }
            ReportKind::Heartbeat => {
                AnyReport::Heartbeat(hour.analyzers.heartbeat.reports().get(domain)?.clone())
            }
            ReportKind::Metric => {
                AnyReport::Metric(hour.analyzers.metric.reports().get(domain)?.clone())
            }
            ReportKind::Matrix => {
                AnyReport::Matrix(hour.analyzers.matrix.reports().get(domain)?.clone())
            }
            ReportKind::State => return None,
        })
    }

    fn overview(hour: &ShardHour, domain: &str) -> Option<DomainOverview> {
        let transactions = hour.analyzers.transaction.reports().get(domain);
        let problems = hour.analyzers.problem.reports().get(domain);
        if transactions.is_none() && problems.is_none() {
            return None;
        }
        Some(DomainOverview::of(transactions, problems))
    }

    fn domains(hour: &ShardHour) -> Vec<String> {
        hour.analyzers.domains()
    }

    fn report_keys(hour: &ShardHour) -> Vec<(ReportKind, String)> {
        let mut keys = Vec::new();
        let mut add = |kind: ReportKind, domains: &mut dyn Iterator<Item = &str>| {
            keys.extend(domains.map(|d| (kind, d.to_owned())));
        };
        add(
            ReportKind::Transaction,
            &mut hour.analyzers.transaction.reports().keys(),
        );
        add(
            ReportKind::Event,
            &mut hour.analyzers.event.reports().keys(),
        );
        add(
            ReportKind::Problem,
            &mut hour.analyzers.problem.reports().keys(),
        );
        add(
            ReportKind::Heartbeat,
            &mut hour.analyzers.heartbeat.reports().keys(),
        );
        add(
            ReportKind::Metric,
            &mut hour.analyzers.metric.reports().keys(),
        );
        add(
            ReportKind::Matrix,
            &mut hour.analyzers.matrix.reports().keys(),
        );
        // Domain by domain (the sort is stable: kinds stay in order within a domain).
        keys.sort_by(|a, b| a.1.cmp(&b.1));
        keys
    }

    fn report_writer<'h>(
        hour: &'h ShardHour,
        kind: ReportKind,
        domain: &str,
    ) -> Option<ReportWriter<'h>> {
        fn json<'h, R: Serialize>(
            reports: &'h DomainReports<R>,
            domain: &str,
        ) -> Option<ReportWriter<'h>> {
            reports.get(domain).map(json_writer)
        }
        match kind {
            ReportKind::Transaction => json(hour.analyzers.transaction.reports(), domain),
            ReportKind::Event => json(hour.analyzers.event.reports(), domain),
            ReportKind::Problem => json(hour.analyzers.problem.reports(), domain),
            ReportKind::Heartbeat => json(hour.analyzers.heartbeat.reports(), domain),
            ReportKind::Metric => json(hour.analyzers.metric.reports(), domain),
            ReportKind::Matrix => json(hour.analyzers.matrix.reports(), domain),
            ReportKind::State => None,
        }
    }
}

/// The State worker: the collector's own report, one per hour, filed under
/// [`crate::STATE_DOMAIN`]. It takes no trees: the trees and bytes per domain come from
/// [`ReceivedCounts`], which `dispatch` fills on the socket threads.
pub(crate) struct StateWorker {
    pub(crate) received: Arc<ReceivedCounts>,
    /// Told every domain's trees, which place the domains on analyzer threads.
    pub(crate) domain_shards: Arc<DomainShards>,
    /// For the key each domain is placed under.
    pub(crate) analyzer: Arc<AnalyzerConfig>,
}

impl Worker for StateWorker {
    type Hour = StateReport;

    fn new_hour(&self, hour: u64) -> StateReport {
        StateReport::new(hour)
    }

    fn restore(
        &self,
        hour: u64,
        live: Option<StateReport>,
        reports: Vec<(String, AnyReport)>,
    ) -> StateReport {
        let restored = reports
            .into_iter()
            .find_map(|(domain, report)| match report {
                AnyReport::State(r) if domain == crate::STATE_DOMAIN => Some(r),
                _ => None,
            });
        match (restored, live) {
            (Some(mut restored), Some(live)) => {
                restored.merge(&live);
                restored
            }
            (Some(report), None) | (None, Some(report)) => report,
            (None, None) => StateReport::new(hour),
        }
    }

    fn takes(&self, _item: &TreeItem) -> bool {
        false
    }

    const KINDS: &'static [ReportKind] = &[ReportKind::State];

    fn own_domains(&self) -> &'static [&'static str] {
        &[crate::STATE_DOMAIN]
    }

    fn add_stored(&self, report: &mut StateReport, reports: Vec<(String, AnyReport)>) {
        for (domain, stored) in reports {
            if let AnyReport::State(stored) = stored {
                if domain == crate::STATE_DOMAIN {
                    report.merge(&stored);
                }
            }
        }
    }

    fn process(&self, _report: &mut StateReport, _item: &TreeItem) {}

    fn catch_up(
        &self,
        open: &mut BTreeMap<u64, StateReport>,
        admit: Admit<'_, StateReport>,
    ) -> u64 {
        let mut too_late = 0;
        for ((hour, minute_ms), domains) in self.received.take() {
            if !admit(open, hour) {
                too_late += domains.values().map(|&(trees, _)| trees).sum::<u64>();
                continue;
            }
            let report = open.entry(hour).or_insert_with(|| self.new_hour(hour));
            for (domain, (trees, bytes)) in domains {
                self.domain_shards
                    .count(hour, self.analyzer.domain_key(&domain), trees);
                report.record_trees(minute_ms, &domain, trees, bytes);
            }
        }
        too_late
    }

    fn query(report: &StateReport, kind: ReportKind, domain: &str, _: &Scope) -> Option<AnyReport> {
        (kind == ReportKind::State && domain == crate::STATE_DOMAIN)
            .then(|| AnyReport::State(report.clone()))
    }

    /// None: the State report is the collector's, not a client domain's (a client may
    /// still send a domain spelled like [`crate::STATE_DOMAIN`]; the analyzers list it).
    fn domains(_report: &StateReport) -> Vec<String> {
        Vec::new()
    }

    fn report_keys(_report: &StateReport) -> Vec<(ReportKind, String)> {
        vec![(ReportKind::State, crate::STATE_DOMAIN.to_owned())]
    }

    fn report_writer<'h>(
        report: &'h StateReport,
        kind: ReportKind,
        domain: &str,
    ) -> Option<ReportWriter<'h>> {
        (kind == ReportKind::State && domain == crate::STATE_DOMAIN).then(|| json_writer(report))
    }

    fn sample(report: &mut StateReport, s: &StateSample) {
        for (reason, n) in &s.decode_errors {
            report.record_decode_errors(s.now_ms, reason, *n);
        }
        for (worker, reason, n) in &s.drops {
            report.record_drops(s.now_ms, worker, reason, *n);
        }
        for (queue, depth) in &s.queue_depths {
            report.record_queue_depth(s.now_ms, queue, *depth);
        }
        if s.out_of_window > 0 {
            report.record_out_of_window(s.now_ms, s.out_of_window);
        }
        for (worker, trees, us) in &s.processing {
            report.record_processing(s.now_ms, worker, *trees, *us);
        }
        if s.rss_bytes > 0 {
            report.record_rss(s.now_ms, s.rss_bytes);
        }
        if s.started {
            report.record_start(s.now_ms);
        }
    }

    fn restored_incomplete(report: &mut StateReport, started_ms: u64) {
        report.record_restored_incomplete(started_ms, 1);
    }
}

/// What a worker needs besides its channels.
pub(crate) struct WorkerContext {
    pub(crate) name: &'static str,
    pub(crate) index: usize,
    pub(crate) store: Option<Store>,
    pub(crate) stats: Arc<CollectorStats>,
    pub(crate) previous_hour_grace_minutes: u64,
    /// Read when a tree of a sealed hour comes: has the clock gone back into the hour?
    pub(crate) clock: Arc<dyn Clock>,
}

/// The hours a worker sealed, and those of them it opened again.
#[derive(Debug, Default)]
struct SealedHours {
    /// The last hour sealed: a tree of it or an earlier one, admitted just before the hour
    /// closed and queued past the seal, is counted as dropped instead of opening the hour
    /// again (whose next checkpoint would write over the sealed reports with its few trees).
    through: Option<u64>,
    /// Sealed hours open again because the clock went back into them, each with the
    /// domains whose stored reports were read back into it.
    reopened: BTreeMap<u64, HashSet<String>>,
    /// The reopened hours' domains whose reports could not be read back, said once each.
    unreadable: HashSet<(u64, String)>,
}

impl SealedHours {
    /// Whether `hour` was sealed and is not open again.
    fn is_closed(&self, hour: u64) -> bool {
        self.through.is_some_and(|sealed| hour <= sealed) && !self.reopened.contains_key(&hour)
    }

    fn seal(&mut self, hour: u64) {
        self.through = self.through.max(Some(hour));
        self.reopened.remove(&hour);
        self.unreadable.retain(|(h, _)| *h != hour);
    }

    /// Every hour past its grace period at `now_ms` is sealed, by every thread alike, also
    /// one this thread held nothing of: a domain placed on this thread once the clock goes
    /// back into such an hour (its placement forgotten, or the process restarted while the
    /// clock was ahead) has sealed reports, written by another thread or process, that are
    /// to be read back, not written over.
    fn seal_due(&mut self, now_ms: u64, previous_hour_grace_minutes: u64) {
        let last_due = last_hour_due_for_sealing(now_ms, previous_hour_grace_minutes);
        self.through = self.through.max(last_due);
    }
}

/// Whether figures of `hour` may go into it: it is not sealed, or it is and the clock has
/// gone back into it. A clock set ahead and corrected (a wrong date, a VM restored from a
/// snapshot, a bad NTP source) seals an hour that is then current again: its reports are
/// read back from the store (this worker's own at once, a domain's with the domain's first
/// tree, whichever thread wrote them) and the hour goes on, to be sealed again when it
/// ends. A tree merely queued past its hour's seal finds the clock past the hour and is
/// refused, as is a tree of a sealed hour kept in memory because its files failed to write.
fn admit<W: Worker>(
    worker: &W,
    ctx: &WorkerContext,
    open: &mut BTreeMap<u64, W::Hour>,
    sealed: &mut SealedHours,
    hour: u64,
) -> bool {
    if !sealed.is_closed(hour) {
        return true;
    }
    if ctx.store.is_none()
        || open.contains_key(&hour)
        || is_due_for_sealing(hour, ctx.clock.now_ms(), ctx.previous_hour_grace_minutes)
    {
        return false;
    }
    tracing::warn!(
        worker = ctx.name,
        hour,
        "the clock went back into an hour this thread had sealed: its reports are read back \
         from the store and the hour goes on"
    );
    open.insert(hour, worker.new_hour(hour));
    sealed.reopened.insert(hour, HashSet::new());
    for domain in worker.own_domains() {
        if !read_back(worker, ctx, open, sealed, hour, domain) {
            open.remove(&hour);
            sealed.reopened.remove(&hour);
            return false;
        }
    }
    true
}

/// Reads `domain`'s stored reports of the reopened `hour` back into it, the first time only.
/// A report that cannot be parsed is set aside (see [`set_aside`]). When one cannot be read
/// (an I/O error), nothing is taken and `false` returned: the caller drops the figures,
/// counted, rather than let the next checkpoint write the few it has over the stored
/// report; the next tree of the domain tries again.
fn read_back<W: Worker>(
    worker: &W,
    ctx: &WorkerContext,
    open: &mut BTreeMap<u64, W::Hour>,
    sealed: &mut SealedHours,
    hour: u64,
    domain: &str,
) -> bool {
    let Some(read) = sealed.reopened.get(&hour) else {
        return true;
    };
    if read.contains(domain) {
        return true;
    }
    let (Some(store), Some(state)) = (&ctx.store, open.get_mut(&hour)) else {
        return true;
    };
    let mut reports = Vec::new();
    for &kind in W::KINDS {
        match store.read_report(hour, domain, kind.name()) {
            Ok(Some(bytes)) => match parse_stored(hour, domain, kind, &bytes) {
                Some(report) => reports.push((domain.to_owned(), report)),
                None => set_aside(Some(store), hour, domain, kind),
            },
            Ok(None) => {}
            Err(e) => {
                if sealed.unreadable.insert((hour, domain.to_owned())) {
                    tracing::warn!(
                        worker = ctx.name,
                        hour,
                        domain,
                        report = kind.name(),
                        error = %e,
                        "cannot read back a sealed report of an hour opened again; the \
                         domain's trees of the hour are dropped (counted as hour_sealed) \
                         until it can"
                    );
                }
                return false;
            }
        }
    }
    worker.add_stored(state, reports);
    if let Some(read) = sealed.reopened.get_mut(&hour) {
        read.insert(domain.to_owned());
    }
    true
}

/// The worker loop: returns on `Shutdown` after writing every open hour, or when the
/// collector is dropped (then without writing, as a crash would).
pub(crate) fn run<W: Worker>(
    worker: W,
    trees: Receiver<TreeBatch>,
    control: Receiver<Control>,
    ctx: WorkerContext,
) {
    let mut open: BTreeMap<u64, W::Hour> = BTreeMap::new();
    let counters = ctx.stats.worker(ctx.index);
    // The first failure, then one line per five minutes while writes keep failing (a disk
    // still full), with how many failed in between; and one line when a checkpoint writes
    // every report again, as the store says of its own writes.
    let write_error_log = RateLimitedLog::new(1, Duration::from_secs(300));
    let write_errors = WriteErrors::default();
    // The report on disk (or nothing to write it to), or why not.
    let write_report = |hour: u64, state: &W::Hour, kind: ReportKind, domain: &str| {
        let Some(store) = &ctx.store else {
            return Ok(());
        };
        let Some(write) = W::report_writer(state, kind, domain) else {
            return Ok(());
        };
        let kind = kind.name();
        let result = store.write_report_with(hour, domain, kind, write);
        match &result {
            Ok(()) => write_errors.written.set(write_errors.written.get() + 1),
            Err(e) => {
                counters.report_write_errors.fetch_add(1, Relaxed);
                write_errors.unsaid.set(write_errors.unsaid.get() + 1);
                write_error_log.log(|unlogged| {
                    write_errors.warned.set(true);
                    write_errors.unsaid.set(0);
                    tracing::warn!(worker = ctx.name, report = kind, hour, domain, error = %e, unlogged, "writing a report failed (counted; said again at most every 5 minutes, with the failures in between)");
                });
            }
        }
        result
    };
    let mut sealed = SealedHours::default();
    let ctx = &ctx;
    let process =
        |open: &mut BTreeMap<u64, W::Hour>, sealed: &mut SealedHours, batch: TreeBatch| {
            let started = Instant::now();
            let mut tree_started = started;
            let mut max_us = 0;
            let mut n = 0u64;
            let mut too_late = 0u64;
            for item in batch.iter().filter(|item| worker.takes(item)) {
                if !admit(&worker, ctx, open, sealed, item.hour) {
                    too_late += 1;
                    continue;
                }
                if sealed.reopened.contains_key(&item.hour) {
                    if let Some(domain) = worker.report_domain(item) {
                        if !read_back(&worker, ctx, open, sealed, item.hour, &domain) {
                            too_late += 1;
                            continue;
                        }
                    }
                }
                let state = open
                    .entry(item.hour)
                    .or_insert_with(|| worker.new_hour(item.hour));
                worker.process(state, item);
                n += 1;
                let now = Instant::now();
                max_us = max_us.max(now.duration_since(tree_started).as_micros() as u64);
                tree_started = now;
            }
            counters.queued.fetch_sub(n + too_late, Relaxed);
            counters.processed.fetch_add(n, Relaxed);
            if too_late > 0 {
                counters.dropped_hour_sealed.fetch_add(too_late, Relaxed);
            }
            counters.busy_us.fetch_add(
                tree_started.duration_since(started).as_micros() as u64,
                Relaxed,
            );
            counters.max_us.fetch_max(max_us, Relaxed);
        };
    loop {
        select! {
            recv(trees) -> item => match item {
                Ok(item) => process(&mut open, &mut sealed, item),
                Err(_) => break,
            },
            recv(control) -> message => {
                let too_late = worker.catch_up(&mut open, &mut |open, hour| {
                    admit(&worker, ctx, open, &mut sealed, hour)
                });
                if too_late > 0 {
                    counters.dropped_hour_sealed.fetch_add(too_late, Relaxed);
                }
                match message {
                    // A reader that gave up waiting (3 s, behind a slow checkpoint) gets no
                    // copy: queries piled up then would cost the thread that is behind.
                    Ok(Control::Query { reply, .. }) if reply.is_closed() => {}
                    Ok(Control::Overview { reply, .. }) if reply.is_closed() => {}
                    Ok(Control::Query { hour, kind, domain, scope, reply }) => {
                        let copying = thread_cpu_time();
                        let report = open.get(&hour).and_then(|state| W::query(state, kind, &domain, &scope));
                        let _ = reply.send((report, thread_cpu_time().saturating_sub(copying)));
                    }
                    Ok(Control::Overview { hour, domain, reply }) => {
                        let overview = open.get(&hour).and_then(|state| W::overview(state, &domain));
                        let _ = reply.send(overview);
                    }
                    Ok(Control::Domains { hour, reply }) => {
                        let domains = open.get(&hour).map(W::domains).unwrap_or_default();
                        let _ = reply.send(domains);
                    }
                    Ok(Control::Restore { hour, reports, log }) => {
                        let reports = reports
                            .into_iter()
                            .filter_map(|r| {
                                let Some(report) = parse_stored(hour, &r.domain, r.kind, &r.bytes) else {
                                    set_aside(ctx.store.as_ref(), hour, &r.domain, r.kind);
                                    log.unparsed(&r.domain, r.kind);
                                    return None;
                                };
                                Some((r.domain, report))
                            })
                            .collect();
                        let live = open.remove(&hour);
                        open.insert(hour, worker.restore(hour, live, reports));
                    }
                    Ok(Control::Checkpoint { now_ms, done, sealing }) => {
                        let failed_before = counters.report_write_errors.load(Relaxed);
                        write_errors.written.set(0);
                        // Work through what is queued first, so a checkpoint taken after a
                        // burst includes it.
                        take_queued(&trees, |item| process(&mut open, &mut sealed, item));
                        counters.queue_depth.store(counters.queued.load(Relaxed), Relaxed);
                        // Hours past their grace period: every file, then the hour is gone,
                        // with no tree taken in between (it would be counted and then lost).
                        // An hour with a file that failed to write (a full disk) is sealed
                        // all the same, but kept, and written again at every checkpoint until
                        // it is on disk: freed, it would lose what it counted since its last
                        // checkpoint.
                        let due: Vec<u64> = open
                            .keys()
                            .copied()
                            .filter(|h| is_due_for_sealing(*h, now_ms, ctx.previous_hour_grace_minutes))
                            .collect();
                        for hour in due {
                            if let Some(state) = open.remove(&hour) {
                                let (mut written, mut failed) = (0, 0);
                                for (kind, domain) in W::report_keys(&state) {
                                    if write_report(hour, &state, kind, &domain).is_ok() {
                                        written += 1;
                                    } else {
                                        failed += 1;
                                    }
                                }
                                sealing.add(hour, SealPart {
                                    worker: ctx.name,
                                    first: !sealed.is_closed(hour),
                                    reopened: sealed.reopened.contains_key(&hour),
                                    domains: W::domains(&state).len(),
                                    written,
                                    failed,
                                });
                                if failed > 0 {
                                    open.insert(hour, state);
                                }
                            }
                            sealed.seal(hour);
                        }
                        sealed.seal_due(now_ms, ctx.previous_hour_grace_minutes);
                        // A disk that stays full would keep an hour of reports in memory for
                        // every hour it lasts: past a few, the oldest is given up, counted.
                        let unwritten: Vec<u64> = open
                            .keys()
                            .copied()
                            .filter(|&h| sealed.is_closed(h))
                            .collect();
                        let excess = unwritten
                            .len()
                            .saturating_sub(crate::MAX_UNWRITTEN_SEALED_HOURS);
                        for &hour in &unwritten[..excess] {
                            open.remove(&hour);
                            counters.sealed_hours_abandoned.fetch_add(1, Relaxed);
                            tracing::error!(
                                worker = ctx.name,
                                hour,
                                "giving up a sealed hour's reports: the store failed to write \
                                 them at every checkpoint since the hour was sealed"
                            );
                        }
                        // Open hours one domain at a time, taking the trees queued meanwhile
                        // between two domains: serializing a busy hour takes seconds, longer
                        // than the queue lasts, and the trees arriving then were dropped. A
                        // domain's reports are written together, so after a restore they
                        // agree with each other. (Sealed hours kept above were just written.)
                        let hours: Vec<u64> = open
                            .keys()
                            .copied()
                            .filter(|&h| !sealed.is_closed(h))
                            .collect();
                        for hour in hours {
                            let keys = open.get(&hour).map(W::report_keys).unwrap_or_default();
                            for (i, (kind, domain)) in keys.iter().enumerate() {
                                if let Some(state) = open.get(&hour) {
                                    let _ = write_report(hour, state, *kind, domain);
                                }
                                if keys.get(i + 1).is_some_and(|(_, next)| next != domain) {
                                    take_queued(&trees, |item| process(&mut open, &mut sealed, item));
                                }
                            }
                        }
                        if counters.report_write_errors.load(Relaxed) == failed_before {
                            counters.checkpointed_ms.store(now_ms, Relaxed);
                            // Said after a warning only, and only by a checkpoint that wrote
                            // something: one with nothing to write proves nothing.
                            if write_errors.written.get() > 0 && write_errors.warned.replace(false) {
                                let failed_unlogged = write_errors.unsaid.replace(0);
                                // A new failure is a new problem: said at once.
                                write_error_log.reset();
                                tracing::info!(worker = ctx.name, reports = write_errors.written.get(), failed_unlogged, "report writes work again: a checkpoint wrote every report");
                            }
                        }
                        // Before `done`: whoever waits for the checkpoint finds the hours
                        // sealed logged (by the last worker to let go).
                        drop(sealing);
                        if let Some(done) = done {
                            let _ = done.send(());
                        }
                    }
                    Ok(Control::Sample(sample)) => {
                        // A clock stepped back into a sealed hour opens it again, its report
                        // read back (`admit`). Where it cannot (no store to read from), the
                        // figures go to the first hour still open: a new report of the sealed
                        // hour would replace the written one at shutdown.
                        let now_hour = ocelot_protocol::hour_of(sample.now_ms);
                        let hour = if admit(&worker, ctx, &mut open, &mut sealed, now_hour) {
                            now_hour
                        } else {
                            now_hour.max(sealed.through.map_or(0, |through| through + 1))
                        };
                        let state = open.entry(hour).or_insert_with(|| worker.new_hour(hour));
                        W::sample(state, &sample);
                        // In the hour restored, still open (a seal since then: the sample's
                        // hour, so the mark is not lost).
                        for &(restored, started_ms) in &sample.restored_incomplete {
                            let hour = if sealed.is_closed(restored) {
                                hour
                            } else {
                                restored
                            };
                            let state =
                                open.entry(hour).or_insert_with(|| worker.new_hour(hour));
                            W::restored_incomplete(state, started_ms);
                        }
                    }
                    Ok(Control::Hold(released)) => {
                        // Only ever closed, never sent on: `recv` returns once the test lets go.
                        let _ = released.recv();
                    }
                    Ok(Control::Shutdown { unwritten }) => {
                        // The sockets are closed by now: this queue only empties.
                        while let Ok(item) = trees.try_recv() {
                            process(&mut open, &mut sealed, item);
                        }
                        // Sealed hours kept because their seal failed to write come first
                        // (the oldest), then the open hours; each failure is told, so the
                        // operator learns which hours and domains are lost.
                        for (hour, state) in &open {
                            // Per domain, the first failure: the stop's message says why,
                            // as the warnings about it may have been held back for minutes.
                            let mut failed = BTreeMap::new();
                            for (kind, domain) in W::report_keys(state) {
                                if let Err(e) = write_report(*hour, state, kind, &domain) {
                                    failed.entry(domain).or_insert_with(|| e.to_string());
                                }
                            }
                            for (domain, error) in failed {
                                let _ = unwritten.send(UnwrittenReports {
                                    hour: *hour,
                                    domain,
                                    sealed: sealed.is_closed(*hour),
                                    error,
                                });
                            }
                        }
                        return;
                    }
                    // The collector was dropped without `shutdown`: like a crash, what was
                    // not checkpointed is lost.
                    Err(_) => break,
                }
            }
        }
    }
}

/// A worker's report write failures, for its log lines (one thread: cells).
#[derive(Default)]
struct WriteErrors {
    /// Whether a failure was logged and no checkpoint has written every report since.
    warned: std::cell::Cell<bool>,
    /// Failures since the last one logged.
    unsaid: std::cell::Cell<u64>,
    /// Reports written by the checkpoint under way.
    written: std::cell::Cell<u64>,
}

/// Hands `take` the batches queued now, and no more: under overload the queue never
/// empties, and a checkpoint must still finish.
fn take_queued(trees: &Receiver<TreeBatch>, mut take: impl FnMut(TreeBatch)) {
    for _ in 0..trees.len() {
        match trees.try_recv() {
            Ok(batch) => take(batch),
            Err(_) => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use ocelot_protocol::{scan_frame, DecodeOptions};

    const HOUR: u64 = 498_703;

    fn batch_of(trees: usize, shard_worker: &ShardWorker) -> TreeBatch {
        let start_ms = HOUR * 3_600_000 + 60_000;
        let mut samples = ocelot_protocol::sample::SampleTrees::new(3, 4, 10, start_ms);
        let items = (0..trees)
            .map(|_| {
                let frame = nt1::encode_to_bytes(&samples.tree());
                let scan = scan_frame(&frame, &DecodeOptions::default()).unwrap();
                TreeItem {
                    hour: HOUR,
                    parsed_id: None,
                    frame,
                    scan,
                    received_ms: start_ms,
                    shard: shard_worker.shard,
                    fold_domain: false,
                }
            })
            .collect();
        Arc::new(QueuedTrees::uncounted(items))
    }

    #[test]
    fn every_hour_past_its_grace_is_sealed_whether_the_thread_held_it_or_not() {
        let mut sealed = SealedHours::default();
        sealed.seal_due((HOUR + 1) * 3_600_000 + 2 * 60_000, 3);
        assert!(sealed.is_closed(HOUR - 1) && !sealed.is_closed(HOUR));
        sealed.seal_due((HOUR + 1) * 3_600_000 + 3 * 60_000, 3);
        assert!(sealed.is_closed(HOUR) && !sealed.is_closed(HOUR + 1));
        // A clock gone back seals nothing new and opens nothing.
        sealed.seal_due(HOUR * 3_600_000, 3);
        assert!(sealed.is_closed(HOUR));
    }

    #[test]
    fn trees_queued_past_their_hours_seal_are_counted_not_reopened() {
        let stats = Arc::new(CollectorStats::new(&["analyzer-0"]));
        let shard_worker = ShardWorker {
            shard: 0,
            config: Arc::new(AnalyzerConfig::default()),
            stats: stats.clone(),
        };
        let (before, late) = (batch_of(5, &shard_worker), batch_of(3, &shard_worker));
        let (tree_tx, tree_rx) = crossbeam_channel::unbounded();
        let (control_tx, control_rx) = crossbeam_channel::unbounded();
        let past_grace_ms = (HOUR + 1) * 3_600_000 + 3 * 60_000;
        let ctx = WorkerContext {
            name: "analyzer-0",
            index: 0,
            store: None,
            stats: stats.clone(),
            previous_hour_grace_minutes: 3,
            clock: Arc::new(crate::ManualClock::new(past_grace_ms)),
        };
        stats.worker(0).queued.store(8, Relaxed);
        let thread = std::thread::spawn(move || run(shard_worker, tree_rx, control_rx, ctx));
        tree_tx.send(before).unwrap();
        let (done, sealed) = std::sync::mpsc::channel();
        control_tx
            .send(Control::Checkpoint {
                now_ms: past_grace_ms,
                done: Some(done),
                sealing: Arc::default(),
            })
            .unwrap();
        sealed.recv().unwrap();
        tree_tx.send(late).unwrap();
        let (reply, domains) = tokio::sync::oneshot::channel();
        control_tx
            .send(Control::Domains { hour: HOUR, reply })
            .unwrap();
        assert!(
            domains.blocking_recv().unwrap().is_empty(),
            "a sealed hour stays closed"
        );
        let (unwritten, _) = std::sync::mpsc::channel();
        control_tx.send(Control::Shutdown { unwritten }).unwrap();
        thread.join().unwrap();
        let counters = stats.worker(0);
        assert_eq!(counters.processed.load(Relaxed), 5);
        assert_eq!(counters.dropped_hour_sealed.load(Relaxed), 3);
        assert_eq!(counters.queued.load(Relaxed), 0);
        assert_eq!(stats.snapshot().dropped_total(), 3);
    }

    /// Trees taken after a start and processed before the worker parsed the checkpoint
    /// (the collector listens while workers parse) are added to it, not replaced by it.
    #[test]
    fn trees_counted_before_the_checkpoint_is_parsed_are_added_to_it() {
        let shard_worker = ShardWorker {
            shard: 0,
            config: Arc::new(AnalyzerConfig::default()),
            stats: Arc::new(CollectorStats::new(&["analyzer-0"])),
        };
        let trees = |n| {
            let mut hour = shard_worker.new_hour(HOUR);
            for item in batch_of(n, &shard_worker).iter() {
                shard_worker.process(&mut hour, item);
            }
            hour
        };
        let count = |hour: &ShardHour| -> u64 {
            hour.analyzers
                .transaction
                .reports()
                .values()
                .flat_map(|r| r.type_counts().into_values())
                .sum()
        };
        let (checkpointed, live) = (trees(30), trees(7));
        let (checkpointed_count, live_count) = (count(&checkpointed), count(&live));
        // The checkpoint as stored, then as the worker parses it.
        let stored: Vec<(String, AnyReport)> = ShardWorker::report_keys(&checkpointed)
            .into_iter()
            .map(|(kind, domain)| {
                let mut bytes = Vec::new();
                (ShardWorker::report_writer(&checkpointed, kind, &domain).unwrap())(&mut bytes)
                    .unwrap();
                let report = parse_stored(HOUR, &domain, kind, &bytes).unwrap();
                (domain, report)
            })
            .collect();
        let restored = shard_worker.restore(HOUR, Some(live), stored.clone());
        assert_eq!(count(&restored), checkpointed_count + live_count);
        let alone = shard_worker.restore(HOUR, None, stored);
        assert_eq!(count(&alone), checkpointed_count);
    }

    #[test]
    fn a_checkpoint_writes_one_domains_reports_together() {
        let shard_worker = ShardWorker {
            shard: 0,
            config: Arc::new(AnalyzerConfig::default()),
            stats: Arc::new(CollectorStats::new(&["analyzer-0"])),
        };
        let mut hour = shard_worker.new_hour(HOUR);
        for item in batch_of(200, &shard_worker).iter() {
            shard_worker.process(&mut hour, item);
        }
        let keys = ShardWorker::report_keys(&hour);
        let domains: Vec<&str> = keys.iter().map(|(_, d)| d.as_str()).collect();
        assert!(domains.is_sorted(), "{domains:?}");
        assert!(domains.len() > 4, "several domains and kinds: {domains:?}");
    }
}
