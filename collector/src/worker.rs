//! One thread per report kind. Each owns the analyzers of its open hours, so the per-message
//! path takes no lock; trees arrive through a bounded channel (full = dropped and counted),
//! and queries, checkpoints and seals through a small control channel.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::{select, Receiver};
use ocelot_analyzer::{
    AnalyzerConfig, EventAnalyzer, EventReport, HeartbeatAnalyzer, HeartbeatReport, MetricAnalyzer,
    MetricReport, ProblemAnalyzer, ProblemReport, StateReport, TransactionAnalyzer,
    TransactionReport,
};
use ocelot_protocol::MessageTree;
use ocelot_store::Store;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::period::is_due_for_sealing;
use crate::stats::CollectorStats;

/// A tree on its way to the workers.
pub(crate) struct TreeItem {
    pub(crate) hour: u64,
    pub(crate) tree: MessageTree,
    pub(crate) bytes: u64,
    pub(crate) received_ms: u64,
}

/// The trees of one read of a connection, shared by every worker (the last one frees them).
pub(crate) type TreeBatch = Arc<Vec<TreeItem>>;

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
}

/// What a worker is asked besides processing trees.
pub(crate) enum Control<R> {
    /// One domain's report of an open hour.
    Query {
        hour: u64,
        domain: String,
        reply: tokio::sync::oneshot::Sender<Option<R>>,
    },
    /// The domains with a report in an open hour.
    Domains {
        hour: u64,
        reply: tokio::sync::oneshot::Sender<Vec<String>>,
    },
    /// Reports loaded from a checkpoint at start.
    Restore {
        hour: u64,
        reports: BTreeMap<String, R>,
    },
    /// Write every open hour's reports; seal (write, then forget) the hours that are due.
    Checkpoint {
        now_ms: u64,
        done: Option<std::sync::mpsc::Sender<()>>,
    },
    /// The collector's own figures (only the State worker uses them).
    Sample(StateSample),
    /// Process what is queued, write every open hour, and stop.
    Shutdown,
}

/// One report kind: how to make, feed and read its analyzer.
pub(crate) trait Kind: 'static {
    /// The report's name in the store and the API.
    const NAME: &'static str;
    type Analyzer: Send + 'static;
    type Report: Clone + Serialize + DeserializeOwned + Send + 'static;
    fn new(hour: u64, config: &Arc<AnalyzerConfig>) -> Self::Analyzer;
    fn restore(
        hour: u64,
        config: &Arc<AnalyzerConfig>,
        reports: BTreeMap<String, Self::Report>,
    ) -> Self::Analyzer;
    fn process(analyzer: &mut Self::Analyzer, item: &TreeItem);
    fn reports(analyzer: &Self::Analyzer) -> &BTreeMap<String, Self::Report>;
    fn sample(_analyzer: &mut Self::Analyzer, _sample: &StateSample) {}
}

macro_rules! report_kind {
    ($kind:ident, $name:literal, $analyzer:ty, $report:ty) => {
        pub(crate) struct $kind;
        impl Kind for $kind {
            const NAME: &'static str = $name;
            type Analyzer = $analyzer;
            type Report = $report;
            fn new(hour: u64, config: &Arc<AnalyzerConfig>) -> $analyzer {
                <$analyzer>::new(hour, config.clone())
            }
            fn restore(
                hour: u64,
                config: &Arc<AnalyzerConfig>,
                reports: BTreeMap<String, $report>,
            ) -> $analyzer {
                <$analyzer>::from_reports(hour, config.clone(), reports)
            }
            fn process(analyzer: &mut $analyzer, item: &TreeItem) {
                analyzer.process(&item.tree);
            }
            fn reports(analyzer: &$analyzer) -> &BTreeMap<String, $report> {
                analyzer.reports()
            }
        }
    };
}

report_kind!(
    TransactionKind,
    "transaction",
    TransactionAnalyzer,
    TransactionReport
);
report_kind!(EventKind, "event", EventAnalyzer, EventReport);
report_kind!(ProblemKind, "problem", ProblemAnalyzer, ProblemReport);
report_kind!(
    HeartbeatKind,
    "heartbeat",
    HeartbeatAnalyzer,
    HeartbeatReport
);
report_kind!(MetricKind, "metric", MetricAnalyzer, MetricReport);

/// The State report: one per hour, filed under [`crate::STATE_DOMAIN`].
pub(crate) struct StateKind;

impl Kind for StateKind {
    const NAME: &'static str = "state";
    type Analyzer = BTreeMap<String, StateReport>;
    type Report = StateReport;
    fn new(hour: u64, _config: &Arc<AnalyzerConfig>) -> Self::Analyzer {
        BTreeMap::from([(crate::STATE_DOMAIN.to_owned(), StateReport::new(hour))])
    }
    fn restore(
        hour: u64,
        config: &Arc<AnalyzerConfig>,
        mut reports: BTreeMap<String, StateReport>,
    ) -> Self::Analyzer {
        match reports.remove(crate::STATE_DOMAIN) {
            Some(report) => BTreeMap::from([(crate::STATE_DOMAIN.to_owned(), report)]),
            None => Self::new(hour, config),
        }
    }
    fn process(analyzer: &mut Self::Analyzer, item: &TreeItem) {
        if let Some(report) = analyzer.get_mut(crate::STATE_DOMAIN) {
            report.record_trees(item.received_ms, &item.tree.header.domain, 1, item.bytes);
        }
    }
    fn reports(analyzer: &Self::Analyzer) -> &BTreeMap<String, StateReport> {
        analyzer
    }
    fn sample(analyzer: &mut Self::Analyzer, s: &StateSample) {
        let Some(report) = analyzer.get_mut(crate::STATE_DOMAIN) else {
            return;
        };
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
    }
}

/// What a worker needs besides its channels.
pub(crate) struct WorkerContext {
    pub(crate) index: usize,
    pub(crate) config: Arc<AnalyzerConfig>,
    pub(crate) store: Option<Store>,
    pub(crate) stats: Arc<CollectorStats>,
    pub(crate) previous_hour_grace_minutes: u64,
}

/// The worker loop: returns on `Shutdown` after writing every open hour, or when the
/// collector is dropped (then without writing, as a crash would).
pub(crate) fn run<K: Kind>(
    trees: Receiver<TreeBatch>,
    control: Receiver<Control<K::Report>>,
    ctx: WorkerContext,
) {
    let mut open: BTreeMap<u64, K::Analyzer> = BTreeMap::new();
    let counters = ctx.stats.worker(ctx.index);
    let mut write_error_logged = false;
    let mut write_reports = |hour: u64, analyzer: &K::Analyzer| {
        let Some(store) = &ctx.store else { return };
        for (domain, report) in K::reports(analyzer) {
            let result = serde_json::to_vec(report)
                .map_err(|e| e.to_string())
                .and_then(|json| {
                    store
                        .write_report(hour, domain, K::NAME, &json)
                        .map_err(|e| e.to_string())
                });
            if let Err(e) = result {
                counters.report_write_errors.fetch_add(1, Relaxed);
                if !write_error_logged {
                    tracing::warn!(report = K::NAME, hour, domain, error = %e, "writing a report failed (further failures are counted, not logged)");
                    write_error_logged = true;
                }
            }
        }
    };
    let process = |open: &mut BTreeMap<u64, K::Analyzer>, batch: TreeBatch| {
        let started = Instant::now();
        let mut tree_started = started;
        let mut max_us = 0;
        for item in batch.iter() {
            let analyzer = open
                .entry(item.hour)
                .or_insert_with(|| K::new(item.hour, &ctx.config));
            K::process(analyzer, item);
            let now = Instant::now();
            max_us = max_us.max(now.duration_since(tree_started).as_micros() as u64);
            tree_started = now;
        }
        let n = batch.len() as u64;
        counters.queued.fetch_sub(n, Relaxed);
        counters.processed.fetch_add(n, Relaxed);
        counters.busy_us.fetch_add(
            tree_started.duration_since(started).as_micros() as u64,
            Relaxed,
        );
        counters.max_us.fetch_max(max_us, Relaxed);
    };
    loop {
        select! {
            recv(trees) -> item => match item {
                Ok(item) => process(&mut open, item),
                Err(_) => break,
            },
            recv(control) -> message => match message {
                Ok(Control::Query { hour, domain, reply }) => {
                    let report = open.get(&hour).and_then(|a| K::reports(a).get(&domain).cloned());
                    let _ = reply.send(report);
                }
                Ok(Control::Domains { hour, reply }) => {
                    let domains = open
                        .get(&hour)
                        .map(|a| K::reports(a).keys().cloned().collect())
                        .unwrap_or_default();
                    let _ = reply.send(domains);
                }
                Ok(Control::Restore { hour, reports }) => {
                    open.insert(hour, K::restore(hour, &ctx.config, reports));
                }
                Ok(Control::Checkpoint { now_ms, done }) => {
                    // Work through what is already queued first, so a checkpoint taken
                    // after a burst includes it.
                    while let Ok(item) = trees.try_recv() {
                        process(&mut open, item);
                    }
                    counters.queue_depth.store(counters.queued.load(Relaxed), Relaxed);
                    let due: Vec<u64> = open
                        .keys()
                        .copied()
                        .filter(|h| is_due_for_sealing(*h, now_ms, ctx.previous_hour_grace_minutes))
                        .collect();
                    for (hour, analyzer) in &open {
                        write_reports(*hour, analyzer);
                    }
                    for hour in due {
                        open.remove(&hour);
                    }
                    if let Some(done) = done {
                        let _ = done.send(());
                    }
                }
                Ok(Control::Sample(sample)) => {
                    let hour = ocelot_protocol::hour_of(sample.now_ms);
                    let analyzer = open.entry(hour).or_insert_with(|| K::new(hour, &ctx.config));
                    K::sample(analyzer, &sample);
                }
                Ok(Control::Shutdown) => {
                    while let Ok(item) = trees.try_recv() {
                        process(&mut open, item);
                    }
                    for (hour, analyzer) in &open {
                        write_reports(*hour, analyzer);
                    }
                    return;
                }
                // The collector was dropped without `shutdown`: like a crash, what was
                // not checkpointed is lost.
                Err(_) => break,
            },
        }
    }
}
