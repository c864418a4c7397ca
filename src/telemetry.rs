//! `GET /metrics`: Ocelot's own figures in the Prometheus/OpenMetrics text format.
//!
//! One source of truth: every figure is read on each scrape from the counters the collector
//! and the store already keep ([`ocelot_collector::StatsSnapshot`],
//! [`ocelot_store::StoreStats`]) and from `/proc/self`. Nothing here counts anything itself,
//! so `/metrics`, the State report and `ocelot status` cannot disagree. The figures are
//! written by a `prometheus_client` [`Collector`](PromCollector) that turns each snapshot
//! into `ConstCounter`/`ConstGauge` values.
//!
//! Design constraints:
//! - Names follow Prometheus conventions: `ocelot_` prefix, base units (seconds, bytes) in
//!   the name, `_total` on counters (added by the encoder).
//! - Label cardinality is bounded: labels are reasons and worker names from fixed lists
//!   (and the build's version and commit, one sample), never message IDs, domains or hours.
//! - Trees lost after decoding are one family, [`DROPPED_TREES`], labelled by `stage` and
//!   `reason` (plus `worker` for a worker's drops), so one query shows all losses; they add
//!   up to [`StatsSnapshot::trees_lost`], what dates the last drop. A tree the store refused
//!   for a duplicate ID is not lost (the reports count it, the ID finds the first tree): it
//!   is [`DUPLICATE_TREES`], as `ocelot status` and the State page show it apart.
//!   Frames refused before decoding are [`DECODE_ERRORS`] by `reason`.
//! - One family carries free text in labels: [`STORE_LAST_ERROR_INFO`], the store's last
//!   failure (what, path, OS error), one sample at a time, each value cut to
//!   [`LAST_ERROR_LABEL_MAX_CHARS`]: `ocelot status` reads only `/metrics`.
//! - The collector's own `store_dropped` count is not exported: every such refusal is also
//!   in the store's drops by reason, and exporting both would count one loss twice.
//!
//! Non-goals: histograms of analyzer and lookup latency (the crates keep totals and maxima,
//! not distributions, today). Alert figures are read the same way, from the alert log's
//! counters, added through [`Telemetry::with_alert_figures`] (`ocelot serve` does).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use ocelot_collector::StatsSnapshot;
use ocelot_store::StoreStats;
use prometheus_client::collector::Collector as PromCollector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeCounterValue, EncodeGaugeValue, EncodeMetric,
};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

/// What `prometheus_client` writes: OpenMetrics 1.0 text (`# EOF` last, `_total` samples),
/// which Prometheus scrapes natively and older Prometheus text parsers read line by line.
pub(crate) const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

// Metric family names. Counters' samples carry an extra `_total`.

/// Frames received, good or bad (counter).
pub(crate) const FRAMES_RECEIVED: &str = "ocelot_frames_received";
/// Bytes of frames received, length prefixes included (counter).
pub(crate) const RECEIVED_BYTES: &str = "ocelot_received_bytes";
/// Trees decoded and inside the open hours (counter).
pub(crate) const TREES_ACCEPTED: &str = "ocelot_trees_accepted";
/// Trees filed under the domain `OTHERS` because their hour had reached its domain cap
/// (counter).
pub(crate) const TREES_FOLDED_DOMAIN: &str = "ocelot_trees_folded_domain";
/// Frames refused before decoding completed, by `reason` (counter).
pub(crate) const DECODE_ERRORS: &str = "ocelot_decode_errors";
/// Trees lost after decoding, by `stage`, `reason` and (worker drops) `worker` (counter):
/// out of the hour window, dropped by a worker, or not stored; not the duplicates.
pub(crate) const DROPPED_TREES: &str = "ocelot_dropped_trees";
/// Trees the store did not write because their message ID was stored before (counter):
/// counted in the reports, and the ID finds the first tree, so not among the drops.
pub(crate) const DUPLICATE_TREES: &str = "ocelot_duplicate_trees";
/// Trees the reports do not count: out of the hour window or dropped by a report worker
/// (counter). With [`TREES_LOST_TO_STORE`], the trees lost, each once per part: a tree goes
/// to the store and to its report worker, and one may drop it while the other keeps it, so
/// the stages of [`DROPPED_TREES`] added up count a tree both dropped twice.
pub(crate) const TREES_LOST_TO_REPORTS: &str = "ocelot_trees_lost_to_reports";
/// Trees not stored, so not findable by ID: out of the hour window, without a message ID or
/// dropped by the store, duplicates left out (counter).
pub(crate) const TREES_LOST_TO_STORE: &str = "ocelot_trees_lost_to_store";
/// When trees were last dropped, epoch seconds (gauge; absent while none was).
pub(crate) const LAST_DROP: &str = "ocelot_last_drop_timestamp_seconds";
/// Seconds since trees were last dropped, by the collector's clock (gauge; absent while
/// none was): what `ocelot status` reads to see drops its two scrapes fall between.
pub(crate) const LAST_DROP_AGE: &str = "ocelot_last_drop_age_seconds";
/// Client connections open now (gauge).
pub(crate) const CONNECTIONS_OPEN: &str = "ocelot_connections_open";
/// Client connections accepted since start (counter).
pub(crate) const CONNECTIONS_ACCEPTED: &str = "ocelot_connections_accepted";
pub(crate) const CONNECTIONS_REFUSED: &str = "ocelot_connections_refused";
pub(crate) const CONNECTIONS_EVICTED: &str = "ocelot_connections_evicted";
/// Hours sealed since start (counter).
pub(crate) const HOURS_SEALED: &str = "ocelot_hours_sealed";
/// Open hours this start continued from checkpoints that lack trees (counter).
pub(crate) const HOURS_RESTORED_INCOMPLETE: &str = "ocelot_hours_restored_incomplete";
/// Of those, the hours whose reports were rebuilt from the store once sealed (counter).
pub(crate) const HOURS_REBUILT: &str = "ocelot_hours_rebuilt";
pub(crate) const REPORT_QUERIES_UNANSWERED: &str = "ocelot_report_queries_unanswered";
pub(crate) const ENTRY_BUDGETS_SPENT: &str = "ocelot_report_entry_budgets_spent";
/// Requests for a sealed hour's report answered from the parsed ones kept (counter).
pub(crate) const SEALED_REPORT_HITS: &str = "ocelot_sealed_report_cache_hits";
/// Sealed hours' reports read from the store and parsed (counter).
pub(crate) const SEALED_REPORT_LOADS: &str = "ocelot_sealed_report_cache_loads";
/// Parsed sealed reports dropped to stay within the budget (counter).
pub(crate) const SEALED_REPORT_EVICTIONS: &str = "ocelot_sealed_report_cache_evictions";
/// Reads of a sealed hour's report that found it damaged or missing (counter).
pub(crate) const SEALED_REPORTS_UNREADABLE: &str = "ocelot_sealed_reports_unreadable";
/// Estimated heap bytes of the parsed sealed reports kept (gauge).
pub(crate) const SEALED_REPORT_BYTES: &str = "ocelot_sealed_report_cache_bytes";
/// The collector's current hour index, `epoch_ms / 3_600_000` (gauge).
pub(crate) const OPEN_HOUR: &str = "ocelot_open_hour";
/// When the open hours were last checkpointed, epoch seconds (gauge; absent before the first).
pub(crate) const LAST_CHECKPOINT: &str = "ocelot_last_checkpoint_timestamp_seconds";
/// Seconds since the last checkpoint by the collector's clock (gauge; absent before the first).
pub(crate) const CHECKPOINT_AGE: &str = "ocelot_checkpoint_age_seconds";
/// Seconds between checkpoints, as configured (gauge): what the age is to be compared with.
pub(crate) const CHECKPOINT_INTERVAL: &str = "ocelot_checkpoint_interval_seconds";
/// Trees processed by a report worker, by `worker` (counter).
pub(crate) const WORKER_PROCESSED: &str = "ocelot_worker_trees_processed";
/// Time a report worker spent processing, by `worker` (counter).
pub(crate) const WORKER_BUSY: &str = "ocelot_worker_busy_seconds";
/// A report worker's slowest single tree since start, by `worker` (gauge).
pub(crate) const WORKER_SLOWEST: &str = "ocelot_worker_slowest_tree_seconds";
/// Trees waiting in a report worker's queue at its last sample, by `worker` (gauge).
pub(crate) const WORKER_QUEUE_DEPTH: &str = "ocelot_worker_queue_depth";
/// Frame bytes queued for the report workers, each frame once (gauge).
pub(crate) const WORKER_QUEUED_BYTES: &str = "ocelot_worker_queued_bytes";
/// Failed report writes (checkpoints and seals), by `worker` (counter).
pub(crate) const REPORT_WRITE_ERRORS: &str = "ocelot_report_write_errors";
/// Sealed hours whose reports were given up after failing to write, by `worker` (counter).
pub(crate) const SEALED_HOURS_ABANDONED: &str = "ocelot_sealed_hours_abandoned";
/// Frames queued to the store (counter).
pub(crate) const STORE_APPENDED: &str = "ocelot_store_frames_appended";
/// Frames written to disk and indexed (counter).
pub(crate) const STORE_STORED: &str = "ocelot_store_frames_stored";
/// Frame bytes given to the store's blocks before compression (counter).
pub(crate) const STORE_UNCOMPRESSED_BYTES: &str = "ocelot_store_uncompressed_bytes";
/// Block bytes written after compression (counter).
pub(crate) const STORE_COMPRESSED_BYTES: &str = "ocelot_store_compressed_bytes";
/// Blocks written (counter).
pub(crate) const STORE_BLOCKS: &str = "ocelot_store_blocks_written";
/// Uncompressed over compressed bytes since start (gauge; absent before the first block).
pub(crate) const STORE_COMPRESSION_RATIO: &str = "ocelot_store_compression_ratio";
/// Failed writes, truncations or file opens in the store (counter).
pub(crate) const STORE_IO_ERRORS: &str = "ocelot_store_io_errors";
/// Lookups by message ID served (counter).
pub(crate) const STORE_LOOKUPS: &str = "ocelot_store_lookups";
/// Lookups that hit a corrupt block or index entry (counter).
pub(crate) const STORE_CORRUPT_READS: &str = "ocelot_store_corrupt_reads";
/// Domain-hours repaired at open after an unclean shutdown (counter).
pub(crate) const STORE_RECOVERED_FILES: &str = "ocelot_store_recovered_files";
/// Index entries rebuilt by recovery (counter).
pub(crate) const STORE_RECOVERED_ENTRIES: &str = "ocelot_store_recovered_entries";
/// Hour folders deleted by retention or the size cap (counter).
pub(crate) const STORE_HOURS_DELETED: &str = "ocelot_store_hours_deleted";
/// Bytes the store's files take on disk, allocated blocks (gauge).
pub(crate) const STORE_DISK_BYTES: &str = "ocelot_store_disk_bytes";
pub(crate) const STORE_DISK_CAP_BYTES: &str = "ocelot_store_disk_cap_bytes";
/// Hours with data on disk (gauge).
pub(crate) const STORE_HOURS: &str = "ocelot_store_hours";
/// When the store last failed (a write, an open, a repair, a file changed under it), epoch
/// seconds by the system clock (gauge; absent while it has not since start).
pub(crate) const STORE_LAST_ERROR: &str = "ocelot_store_last_error_timestamp_seconds";
/// The store's last failure as labels, value 1 (gauge; absent while none): `what` it was
/// doing, the `path` and the OS `error`, each cut to [`LAST_ERROR_LABEL_MAX_CHARS`].
pub(crate) const STORE_LAST_ERROR_INFO: &str = "ocelot_store_last_error_info";
/// Longest label value of [`STORE_LAST_ERROR_INFO`], in characters: a path in the data
/// directory and an OS error's text fit, and one odd name cannot make a huge series.
pub(crate) const LAST_ERROR_LABEL_MAX_CHARS: usize = 160;
/// Seconds since the telemetry (so the server) started (gauge).
pub(crate) const UPTIME: &str = "ocelot_uptime_seconds";
/// When the server started, epoch seconds (gauge).
pub(crate) const START_TIME: &str = "ocelot_process_start_time_seconds";
/// The build, as labels `version` and `commit` of a gauge that is always 1 (the usual
/// `*_build_info` shape): which binary runs where, after a rollout.
pub(crate) const BUILD_INFO: &str = "ocelot_build_info";
/// Resident memory of the process (gauge; Linux only).
pub(crate) const RESIDENT_MEMORY: &str = "ocelot_process_resident_memory_bytes";
/// User plus system CPU time of the process (counter; Linux only).
pub(crate) const CPU_SECONDS: &str = "ocelot_process_cpu_seconds";
/// Open file descriptors (gauge; Linux only).
pub(crate) const OPEN_FDS: &str = "ocelot_process_open_fds";
/// Threads of the process (gauge; Linux only).
pub(crate) const THREADS: &str = "ocelot_process_threads";
/// Alerts firing now (gauge). Reserved for the alert evaluator's figures, which come through
/// [`Telemetry::with_alert_figures`]; `ocelot status` shows it when present.
pub(crate) const ALERTS_FIRING: &str = "ocelot_alerts_firing";
/// Notification attempts that failed, each retry counted (counter; alert figures).
pub(crate) const ALERT_NOTIFICATION_FAILURES: &str = "ocelot_alert_notification_failures";
/// Notifications abandoned after every retry, panics included (counter; alert figures).
pub(crate) const ALERT_NOTIFICATIONS_GIVEN_UP: &str = "ocelot_alert_notifications_given_up";
/// Notifications whose sending panicked (counter; alert figures).
pub(crate) const ALERT_NOTIFICATION_PANICS: &str = "ocelot_alert_notification_panics";
/// [`ALERT_NOTIFICATIONS_GIVEN_UP`] by `target` and `channel` (counter; alert figures).
pub(crate) const ALERT_TARGET_NOTIFICATIONS_GIVEN_UP: &str =
    "ocelot_alert_target_notifications_given_up";
/// Seconds since a notification was last given up (gauge; alert figures; absent while
/// none was): what `ocelot status` reads to see one its two scrapes fall between.
pub(crate) const ALERT_LAST_GIVEN_UP_AGE: &str =
    "ocelot_alert_last_notification_given_up_age_seconds";

/// `/proc/<pid>/stat` counts CPU time in USER_HZ ticks, which the kernel fixes at 100 per
/// second in its user-space ABI whatever its internal tick rate (no libc call needed).
const USER_HZ: f64 = 100.0;

/// Everything `/metrics` shows, built once at start and shared by the web handler.
#[derive(Debug)]
pub(crate) struct Telemetry {
    registry: Registry,
}

impl Telemetry {
    /// Figures from `collector` (which checkpoints every `checkpoint_interval`), `store` and
    /// this process; uptime counts from now.
    pub(crate) fn new(
        collector: ocelot_collector::Collector,
        store: ocelot_store::Store,
        checkpoint_interval: Duration,
    ) -> Telemetry {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(OcelotFigures {
            collector,
            store,
            checkpoint_interval,
            started: Instant::now(),
            started_unix_s: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64()),
        }));
        Telemetry { registry }
    }

    /// Adds the alert evaluator's figures (evaluations, notification failures,
    /// [`ALERTS_FIRING`]) to every scrape. The hook for the alert crate: it implements
    /// `prometheus_client::collector::Collector` over its own counters, as
    /// `OcelotFigures` does here, so they too have a single source of truth.
    pub(crate) fn with_alert_figures(mut self, figures: Box<dyn PromCollector>) -> Telemetry {
        self.registry.register_collector(figures);
        self
    }

    /// Adds what the web's kept days did (`ocelot_day_cache_*`) to every scrape.
    pub(crate) fn with_day_cache(mut self, days: Arc<ocelot_web::DayCache>) -> Telemetry {
        self.registry
            .register_collector(Box::new(DayCacheFigures(days)));
        self
    }

    /// Adds what the web server did with its connections (`ocelot_web_*`) to every scrape.
    pub(crate) fn with_web_server(mut self, stats: Arc<ocelot_web::ServeStats>) -> Telemetry {
        self.registry
            .register_collector(Box::new(WebServerFigures(stats)));
        self
    }

    /// The whole `/metrics` body (see [`CONTENT_TYPE`]).
    ///
    /// Not free: the store's disk use walks the data folder, so call it off the async
    /// workers ([`metrics_handler`] does).
    ///
    /// # Panics
    ///
    /// If a registered figures collector returns an error: ours only write into a `String`,
    /// which never fails.
    pub(crate) fn render(&self) -> String {
        let mut body = String::new();
        prometheus_client::encoding::text::encode(&mut body, &self.registry)
            .expect("encoding into a String only fails if a figures collector fails");
        body
    }
}

/// The `/metrics` route, ready to merge into the web app's router:
/// `ocelot_web::router(state).merge(telemetry::routes(Arc::new(telemetry)))`.
pub(crate) fn routes(telemetry: Arc<Telemetry>) -> Router {
    Router::new()
        .route("/metrics", get(metrics_handler))
        // 16 KB a scrape; Prometheus asks for gzip.
        .layer(axum::middleware::from_fn(ocelot_web::gzip_answers))
        .with_state(telemetry)
}

/// `GET /metrics` (axum 0.8); [`routes`] mounts it.
pub(crate) async fn metrics_handler(State(telemetry): State<Arc<Telemetry>>) -> Response {
    match tokio::task::spawn_blocking(move || telemetry.render()).await {
        Ok(body) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], body).into_response(),
        Err(err) => {
            tracing::error!(%err, "rendering /metrics failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").into_response()
        }
    }
}

/// Reads the crates' counters on each scrape.
#[derive(Debug)]
struct OcelotFigures {
    collector: ocelot_collector::Collector,
    store: ocelot_store::Store,
    checkpoint_interval: Duration,
    started: Instant,
    started_unix_s: f64,
}

impl PromCollector for OcelotFigures {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> fmt::Result {
        let e = &mut encoder;
        let c = self.collector.stats();
        let s = self.store.stats();
        self.encode_ingest(e, &c)?;
        encode_drops(e, &c, &s)?;
        encode_workers(e, &c)?;
        encode_store(e, &s)?;
        self.encode_process(e)
    }
}

impl OcelotFigures {
    /// What arrived: frames, bytes, trees, decode errors, connections, hours, checkpoints.
    fn encode_ingest(&self, e: &mut DescriptorEncoder<'_>, c: &StatsSnapshot) -> fmt::Result {
        counter(
            e,
            FRAMES_RECEIVED,
            "Frames received, good or bad: one over collector.max_frame_bytes, one of a length that closes its connection and one cut short by a close count once each.",
            c.frames,
        )?;
        counter(
            e,
            RECEIVED_BYTES,
            "Bytes of frames received, good or bad, length prefixes included: an oversize frame's as they arrive and are stepped over, the bytes read of a frame that never came whole.",
            c.bytes,
        )?;
        counter(
            e,
            TREES_ACCEPTED,
            "Trees decoded and inside the open hours.",
            c.trees_accepted,
        )?;
        counter(
            e,
            TREES_FOLDED_DOMAIN,
            "Trees filed under the domain OTHERS: their hour had reached its domain cap.",
            c.trees_folded_domain,
        )?;
        counter_family(
            e,
            DECODE_ERRORS,
            "Frames refused: undecodable, oversize, of an impossible length or empty, by reason.",
            c.decode_errors
                .iter()
                .map(|(reason, n)| (vec![("reason", reason.as_str())], *n)),
        )?;
        gauge(
            e,
            CONNECTIONS_OPEN,
            "Client connections open now.",
            to_i64(c.connections_open),
        )?;
        counter(
            e,
            CONNECTIONS_ACCEPTED,
            "Client connections accepted since start.",
            c.connections_total,
        )?;
        counter(
            e,
            CONNECTIONS_REFUSED,
            "New connections closed at once: every slot (collector.max_connections) was busy.",
            c.connections_refused,
        )?;
        counter(
            e,
            CONNECTIONS_EVICTED,
            "Connections closed to make room for a new one when every slot was taken: the one silent the longest (10 s at least), else one of the client holding the most slots.",
            c.connections_evicted,
        )?;
        counter(e, HOURS_SEALED, "Hours sealed since start.", c.hours_sealed)?;
        counter(
            e,
            HOURS_RESTORED_INCOMPLETE,
            "Hours this start found with checkpoints lacking trees the hour took before it: open hours continued from them, or hours that closed while the collector was down, after a crash or kill -9 (the trees since the last checkpoint), or a checkpoint that could not be used (its report started from zero). Above zero: those hours' reports count less than was received; the trees are in the store.",
            c.hours_restored_incomplete,
        )?;
        counter(
            e,
            HOURS_REBUILT,
            "Of those hours, the ones whose reports were rebuilt from the trees in the store once sealed (collector.rebuild_incomplete_hours): they no longer lack the trees taken after the checkpoint.",
            c.hours_rebuilt,
        )?;
        counter(
            e,
            REPORT_QUERIES_UNANSWERED,
            "Report queries an analyzer thread did not answer in time (the web got the last checkpoint; alerting waited).",
            c.report_queries_unanswered,
        )?;
        counter(
            e,
            ENTRY_BUDGETS_SPENT,
            "Reports (kind, hour, analyzer thread) that reached their share of collector.max_report_entries_per_hour; their new keys fold into OTHERS.",
            c.entry_budgets_spent,
        )?;
        counter(
            e,
            SEALED_REPORT_HITS,
            "Requests for a sealed hour's report answered by a parsed one kept (web.sealed_report_cache_mib).",
            c.sealed_reports.hits,
        )?;
        counter(
            e,
            SEALED_REPORT_LOADS,
            "Sealed hours' reports read from the store and parsed, for pages and the API.",
            c.sealed_reports.loads,
        )?;
        counter(
            e,
            SEALED_REPORT_EVICTIONS,
            "Parsed sealed reports dropped to stay within web.sealed_report_cache_mib: many while pages are read, and the budget is too small for the hours viewed.",
            c.sealed_reports.evictions,
        )?;
        counter(
            e,
            SEALED_REPORTS_UNREADABLE,
            "Reads of a sealed hour's stored report that found it damaged, of another domain or hour, or missing while the domain's other reports of the hour are there; its pages and API say it cannot be read.",
            c.sealed_reports.unreadable,
        )?;
        gauge(
            e,
            SEALED_REPORT_BYTES,
            "Estimated heap bytes of the parsed sealed reports kept (at most web.sealed_report_cache_mib).",
            c.sealed_reports.bytes as f64,
        )?;
        gauge(
            e,
            OPEN_HOUR,
            "The collector's current hour index (epoch ms / 3600000).",
            to_i64(self.collector.current_hour()),
        )?;
        gauge(
            e,
            CHECKPOINT_INTERVAL,
            "Seconds between checkpoints of the open hours (collector.checkpoint_interval_secs).",
            self.checkpoint_interval.as_secs_f64(),
        )?;
        // A moment as two gauges, when and how long ago; neither before it first happens.
        let now_ms = self.collector.now_ms();
        for (at_ms, at, at_help, age, age_help) in [
            (
                c.last_drop_ms,
                LAST_DROP,
                "When trees were last dropped (any stage or reason of ocelot_dropped_trees), epoch seconds, to within the State sample interval.",
                LAST_DROP_AGE,
                "Seconds since trees were last dropped (any stage or reason of ocelot_dropped_trees).",
            ),
            (
                c.last_checkpoint_ms,
                LAST_CHECKPOINT,
                "When the open hours were last checkpointed, epoch seconds.",
                CHECKPOINT_AGE,
                "Seconds since the open hours were last checkpointed.",
            ),
        ] {
            if at_ms > 0 {
                gauge(e, at, at_help, at_ms as f64 / 1000.0)?;
                let age_ms = now_ms.saturating_sub(at_ms);
                gauge(e, age, age_help, age_ms as f64 / 1000.0)?;
            }
        }
        Ok(())
    }

    /// Uptime, and memory, CPU, files and threads from `/proc/self`.
    fn encode_process(&self, e: &mut DescriptorEncoder<'_>) -> fmt::Result {
        gauge(
            e,
            UPTIME,
            "Seconds since the server started.",
            self.started.elapsed().as_secs_f64(),
        )?;
        gauge(
            e,
            START_TIME,
            "When the server started, epoch seconds.",
            self.started_unix_s,
        )?;
        gauge_family(
            e,
            BUILD_INFO,
            "The binary's version and the git commit it was built from (\"unknown\" when built without git; \"+dirty\" when its files differed from the commit). Always 1.",
            [(
                vec![("version", crate::VERSION), ("commit", crate::COMMIT)],
                1i64,
            )],
        )?;
        let Some(p) = ProcessFigures::read() else {
            return Ok(());
        };
        gauge(
            e,
            RESIDENT_MEMORY,
            "Resident memory of the process.",
            to_i64(p.resident_bytes),
        )?;
        counter(
            e,
            CPU_SECONDS,
            "User and system CPU time of the process.",
            p.cpu_seconds,
        )?;
        if let Some(fds) = p.open_fds {
            gauge(e, OPEN_FDS, "Open file descriptors.", to_i64(fds))?;
        }
        gauge(e, THREADS, "Threads of the process.", to_i64(p.threads))
    }
}

/// Every loss after decoding, in one family.
fn encode_drops(e: &mut DescriptorEncoder<'_>, c: &StatsSnapshot, s: &StoreStats) -> fmt::Result {
    let mut drops = vec![(
        vec![("stage", "collector"), ("reason", "out_of_window")],
        c.out_of_window,
    )];
    for (worker, w) in &c.workers {
        drops.push((
            vec![
                ("stage", "worker"),
                ("reason", "queue_full"),
                ("worker", worker.as_str()),
            ],
            w.dropped_queue_full,
        ));
        drops.push((
            vec![
                ("stage", "worker"),
                ("reason", "hour_sealed"),
                ("worker", worker.as_str()),
            ],
            w.dropped_hour_sealed,
        ));
    }
    drops.push((
        vec![("stage", "store"), ("reason", "no_message_id")],
        c.no_message_id,
    ));
    let mut duplicates = 0;
    for (reason, n) in &s.drops {
        if *reason == ocelot_store::DropReason::Duplicate {
            duplicates = *n;
        } else {
            drops.push((vec![("stage", "store"), ("reason", reason.as_str())], *n));
        }
    }
    counter_family(
        e,
        DROPPED_TREES,
        "Trees lost after decoding, by stage and reason (and worker for worker drops); trees not stored for a duplicate ID are ocelot_duplicate_trees. A tree dropped by both the store and its report worker is under each stage: for trees, each once, see ocelot_trees_lost_to_reports and ocelot_trees_lost_to_store.",
        drops,
    )?;
    counter(
        e,
        TREES_LOST_TO_REPORTS,
        "Trees the reports do not count: out of the hour window, or dropped by a report worker (the store may hold them).",
        c.trees_lost_to_reports(),
    )?;
    counter(
        e,
        TREES_LOST_TO_STORE,
        "Trees not stored, so not findable by ID: out of the hour window, without a message ID, or dropped by the store (the reports may count them); duplicates are ocelot_duplicate_trees.",
        c.trees_lost_to_store(),
    )?;
    counter(
        e,
        DUPLICATE_TREES,
        "Trees the store did not write because their message ID was stored before: counted in the reports, and the ID finds the first tree, so not lost (not in ocelot_dropped_trees).",
        duplicates,
    )
}

/// Each report worker's load, queue and write failures, labelled `worker`.
fn encode_workers(e: &mut DescriptorEncoder<'_>, c: &StatsSnapshot) -> fmt::Result {
    let worker_rows = |pick| per_worker(&c.workers, pick);
    counter_family(
        e,
        WORKER_PROCESSED,
        "Trees processed by each report worker.",
        worker_rows(|w| w.processed),
    )?;
    counter_family(
        e,
        WORKER_BUSY,
        "Time each report worker spent processing trees.",
        worker_rows(|w| w.busy_us).map(|(l, us)| (l, us as f64 / 1e6)),
    )?;
    gauge_family(
        e,
        WORKER_SLOWEST,
        "Each report worker's slowest single tree since start.",
        worker_rows(|w| w.max_us).map(|(l, us)| (l, us as f64 / 1e6)),
    )?;
    gauge_family(
        e,
        WORKER_QUEUE_DEPTH,
        "Trees waiting in each report worker's queue at its last sample.",
        worker_rows(|w| w.queue_depth).map(|(l, n)| (l, to_i64(n))),
    )?;
    gauge(
        e,
        WORKER_QUEUED_BYTES,
        "Frame bytes queued for the report workers now, each frame once.",
        to_i64(c.queued_bytes),
    )?;
    counter_family(
        e,
        REPORT_WRITE_ERRORS,
        "Failed report writes (checkpoints and seals), by worker.",
        worker_rows(|w| w.report_write_errors),
    )?;
    counter_family(
        e,
        SEALED_HOURS_ABANDONED,
        "Sealed hours whose reports were given up unwritten (the store failed them at every checkpoint while newer hours waited too), by worker.",
        worker_rows(|w| w.sealed_hours_abandoned),
    )
}

/// The store's own counters and its disk use.
fn encode_store(e: &mut DescriptorEncoder<'_>, s: &StoreStats) -> fmt::Result {
    counter(e, STORE_APPENDED, "Frames queued to the store.", s.appended)?;
    counter(
        e,
        STORE_STORED,
        "Frames written to disk and indexed.",
        s.stored,
    )?;
    counter(
        e,
        STORE_UNCOMPRESSED_BYTES,
        "Frame bytes written into blocks, before compression.",
        s.bytes_in,
    )?;
    counter(
        e,
        STORE_COMPRESSED_BYTES,
        "Block bytes written, after compression.",
        s.bytes_out,
    )?;
    counter(e, STORE_BLOCKS, "Blocks written.", s.blocks)?;
    if s.bytes_out > 0 {
        gauge(
            e,
            STORE_COMPRESSION_RATIO,
            "Uncompressed over compressed bytes written since start.",
            s.bytes_in as f64 / s.bytes_out as f64,
        )?;
    }
    counter(
        e,
        STORE_IO_ERRORS,
        "Failed writes, truncations or file opens in the store.",
        s.io_errors,
    )?;
    counter(e, STORE_LOOKUPS, "Lookups by message ID served.", s.lookups)?;
    counter(
        e,
        STORE_CORRUPT_READS,
        "Lookups that hit a corrupt block or index entry.",
        s.corrupt_reads,
    )?;
    counter(
        e,
        STORE_RECOVERED_FILES,
        "Domain-hours repaired at open after an unclean shutdown.",
        s.recovered_files,
    )?;
    counter(
        e,
        STORE_RECOVERED_ENTRIES,
        "Index entries rebuilt by recovery.",
        s.recovered_entries,
    )?;
    counter(
        e,
        STORE_HOURS_DELETED,
        "Hour folders deleted by retention (store.retention_days) or the size cap (store.max_disk_gib).",
        s.hours_deleted,
    )?;
    gauge(
        e,
        STORE_DISK_BYTES,
        "Bytes the store's hour folders take on disk: data, index and report files (allocated blocks, as du counts them: sparse index files count what they use, not their length; up to a minute old in a store of 1000 files or more).",
        to_i64(s.disk_use.iter().map(|d| d.bytes).sum()),
    )?;
    if s.disk_cap_bytes > 0 {
        gauge(
            e,
            STORE_DISK_CAP_BYTES,
            "The store's size cap (store.max_disk_gib): past it the oldest hours are deleted; absent without one.",
            to_i64(s.disk_cap_bytes),
        )?;
    }
    if let Some(last) = &s.last_error {
        gauge(
            e,
            STORE_LAST_ERROR,
            "When the store last failed (a write, an open, a repair, a file changed under it), epoch seconds; absent while it has not since start.",
            last.at_ms as f64 / 1000.0,
        )?;
        let (path, error) = (bounded_label(&last.path), bounded_label(&last.error));
        gauge_family(
            e,
            STORE_LAST_ERROR_INFO,
            "The store's last failure, value 1: what it was doing, on which file, and the OS error (label values cut to 160 characters).",
            [(
                vec![("what", last.what), ("path", path), ("error", error)],
                1i64,
            )],
        )?;
    }
    let mut hours: Vec<u64> = s.disk_use.iter().map(|d| d.hour).collect();
    hours.sort_unstable();
    hours.dedup();
    gauge(
        e,
        STORE_HOURS,
        "Hours with data on disk (from the walk ocelot_store_disk_bytes comes from).",
        to_i64(hours.len() as u64),
    )
}

/// `text` cut to [`LAST_ERROR_LABEL_MAX_CHARS`] characters.
fn bounded_label(text: &str) -> &str {
    match text.char_indices().nth(LAST_ERROR_LABEL_MAX_CHARS) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

/// What `/proc/self` says about this process.
#[derive(Debug, Clone, PartialEq)]
struct ProcessFigures {
    resident_bytes: u64,
    cpu_seconds: f64,
    threads: u64,
    open_fds: Option<u64>,
}

impl ProcessFigures {
    /// `None` where there is no `/proc` (not Linux).
    fn read() -> Option<ProcessFigures> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let open_fds = std::fs::read_dir("/proc/self/fd")
            .ok()
            .map(|d| d.count() as u64);
        ProcessFigures::parse(&stat, &status, open_fds)
    }

    /// From the texts of `/proc/self/stat` and `/proc/self/status`.
    fn parse(stat: &str, status: &str, open_fds: Option<u64>) -> Option<ProcessFigures> {
        // The command name (field 2) may hold spaces and parentheses: fields after it
        // start behind the last ')'. There, index 0 is field 3 (state), so utime (field 14)
        // is index 11, stime index 12 and num_threads (field 20) index 17.
        let after_name = &stat[stat.rfind(')')? + 1..];
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        let field = |i: usize| fields.get(i)?.parse::<u64>().ok();
        let ticks = field(11)? + field(12)?;
        let resident_kib = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())?;
        Some(ProcessFigures {
            resident_bytes: resident_kib * 1024,
            cpu_seconds: ticks as f64 / USER_HZ,
            threads: field(17)?,
            open_fds,
        })
    }
}

/// One row per report worker, labelled `worker`, of the figure `pick` reads.
fn per_worker<W>(
    workers: &BTreeMap<String, W>,
    pick: fn(&W) -> u64,
) -> impl Iterator<Item = (Vec<(&str, &str)>, u64)> {
    workers
        .iter()
        .map(move |(worker, w)| (vec![("worker", worker.as_str())], pick(w)))
}

/// The web's kept days ([`ocelot_web::DayCache`]).
struct DayCacheFigures(Arc<ocelot_web::DayCache>);

impl fmt::Debug for DayCacheFigures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DayCacheFigures")
    }
}

impl PromCollector for DayCacheFigures {
    fn encode(&self, mut e: DescriptorEncoder<'_>) -> fmt::Result {
        let s = self.0.stats();
        let e = &mut e;
        counter(
            e,
            "ocelot_day_cache_hits",
            "Past days a day, week or month view found kept merged (web.day_cache_mib).",
            s.hits,
        )?;
        counter(
            e,
            "ocelot_day_cache_kept",
            "Past days merged from their hours and kept.",
            s.kept,
        )?;
        counter(
            e,
            "ocelot_day_cache_evictions",
            "Kept days dropped to stay within web.day_cache_mib: many while weeks are read, and the budget is too small for the days viewed.",
            s.evictions,
        )?;
        gauge(
            e,
            "ocelot_day_cache_days",
            "Past days kept merged.",
            to_i64(s.days),
        )?;
        gauge(
            e,
            "ocelot_day_cache_bytes",
            "Estimated heap bytes of the days kept (at most web.day_cache_mib).",
            to_i64(s.bytes),
        )
    }
}

/// The web server's connection figures.
#[derive(Debug)]
struct WebServerFigures(Arc<ocelot_web::ServeStats>);

impl PromCollector for WebServerFigures {
    fn encode(&self, mut e: DescriptorEncoder<'_>) -> fmt::Result {
        let s = self.0.snapshot();
        let e = &mut e;
        gauge(
            e,
            "ocelot_web_connections_open",
            "Web connections being served (at most web.max_connections).",
            to_i64(s.connections_open),
        )?;
        counter(
            e,
            "ocelot_web_connections",
            "Web connections served since start.",
            s.connections_total,
        )?;
        counter(
            e,
            "ocelot_web_slots_full",
            "Times every web connection slot (web.max_connections) was taken, so new connections waited for one to free.",
            s.slots_full,
        )?;
        counter(
            e,
            "ocelot_web_write_timeouts",
            "Web connections closed because the client read nothing of its answer for web.write_timeout_secs.",
            s.write_timeouts,
        )?;
        counter(
            e,
            "ocelot_web_answers_refused",
            "Answers replaced by 503 because the answers being sent held web.answer_mib_in_flight.",
            s.answers_refused,
        )?;
        gauge(
            e,
            "ocelot_web_answer_bytes_in_flight",
            "Bytes of large answers being sent (at most web.answer_mib_in_flight).",
            to_i64(s.answer_bytes_held),
        )
    }
}

/// Gauges take signed integers; our counts never reach `i64::MAX`, but saturate if they do.
fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// One unlabelled counter.
pub(crate) fn counter<N>(
    e: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    value: N,
) -> fmt::Result
where
    N: EncodeCounterValue,
{
    let metric = e.encode_descriptor(name, help, None, MetricType::Counter)?;
    ConstCounter::new(value).encode(metric)
}

/// One unlabelled gauge.
pub(crate) fn gauge<N>(
    e: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    value: N,
) -> fmt::Result
where
    N: EncodeGaugeValue,
{
    let metric = e.encode_descriptor(name, help, None, MetricType::Gauge)?;
    ConstGauge::new(value).encode(metric)
}

/// A counter family: one sample per label set.
pub(crate) fn counter_family<'a, N>(
    e: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    rows: impl IntoIterator<Item = (Vec<(&'a str, &'a str)>, N)>,
) -> fmt::Result
where
    N: EncodeCounterValue,
{
    let mut metric = e.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (labels, value) in rows {
        ConstCounter::new(value).encode(metric.encode_family(&labels)?)?;
    }
    Ok(())
}

/// A gauge family: one sample per label set.
fn gauge_family<'a, N>(
    e: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    rows: impl IntoIterator<Item = (Vec<(&'a str, &'a str)>, N)>,
) -> fmt::Result
where
    N: EncodeGaugeValue,
{
    let mut metric = e.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, value) in rows {
        ConstGauge::new(value).encode(metric.encode_family(&labels)?)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use axum::extract::State;
    use bytes::Bytes;
    use ocelot_collector::{Collector, CollectorConfig, ManualClock};
    use ocelot_store::{Store, StoreConfig};
    use prometheus_parse::{Scrape, Value};

    use super::*;

    /// The capture's hour (2026-11-22 07:00 UTC) and a moment ten minutes into it.
    const HOUR: u64 = 498_703;
    const NOW_MS: u64 = HOUR * 3_600_000 + 600_000;

    /// One whole NT1 frame from the CAT C client, with a message ID of `HOUR`.
    fn good_frame() -> Bytes {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/protocol/tests/data/cat-c-client/binary/0001.bin"
        );
        Bytes::from(std::fs::read(path).unwrap())
    }

    struct Running {
        collector: Collector,
        store: Store,
        telemetry: Telemetry,
        _dir: tempfile::TempDir,
    }

    fn start() -> Running {
        let dir = tempfile::tempdir().unwrap();
        // The captured frame's hour is fixed; retention (by the real clock) would refuse it
        // once the capture is more than a week old.
        let store = Store::open(StoreConfig {
            retention_days: 0,
            ..StoreConfig::new(dir.path())
        })
        .unwrap();
        let collector = Collector::start(
            CollectorConfig {
                background_ticks: false,
                ..Default::default()
            },
            Some(store.clone()),
            Arc::new(ManualClock::new(NOW_MS)),
        );
        let telemetry = Telemetry::new(collector.clone(), store.clone(), Duration::from_secs(60));
        Running {
            collector,
            store,
            telemetry,
            _dir: dir,
        }
    }

    impl Drop for Running {
        fn drop(&mut self) {
            self.collector.shutdown();
            self.store.shutdown();
        }
    }

    /// Parses a `/metrics` body with `prometheus-parse`, an independent exposition-format
    /// parser.
    fn parse(body: &str) -> Scrape {
        Scrape::parse(body.lines().map(|l| Ok(l.to_owned()))).unwrap()
    }

    /// The value of the one sample named `name` whose labels include `labels`.
    fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let mut found = scrape.samples.iter().filter(|s| {
            s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v))
        });
        let sample = found.next()?;
        assert!(found.next().is_none(), "{name} {labels:?} is ambiguous");
        match sample.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => Some(v),
            _ => panic!("{name} is not a plain sample"),
        }
    }

    /// `ocelot_dropped_trees_total` summed over all its labels.
    fn dropped_trees(scrape: &Scrape) -> f64 {
        scrape
            .samples
            .iter()
            .filter(|s| s.metric == "ocelot_dropped_trees_total")
            .filter_map(|s| match s.value {
                Value::Counter(v) | Value::Untyped(v) => Some(v),
                _ => None,
            })
            .sum()
    }

    #[test]
    fn a_malformed_frame_moves_the_decode_error_counter_and_a_good_tree_the_accepted_counter() {
        let running = start();
        let before = parse(&running.telemetry.render());
        assert_eq!(
            value(&before, "ocelot_frames_received_total", &[]),
            Some(0.0)
        );
        assert_eq!(
            value(&before, "ocelot_trees_accepted_total", &[]),
            Some(0.0)
        );
        assert!(!before
            .samples
            .iter()
            .any(|s| s.metric == "ocelot_decode_errors_total"));

        let garbage = Bytes::from_static(b"\x00\x00\x00\x04XXXX");
        assert!(running.collector.ingest(garbage).is_err());
        running.collector.ingest(good_frame()).unwrap();
        running.store.flush().unwrap();

        let after = parse(&running.telemetry.render());
        assert_eq!(
            value(
                &after,
                "ocelot_decode_errors_total",
                &[("reason", "unknown_magic")]
            ),
            Some(1.0)
        );
        assert_eq!(value(&after, "ocelot_trees_accepted_total", &[]), Some(1.0));
        assert_eq!(
            value(&after, "ocelot_frames_received_total", &[]),
            Some(2.0)
        );
        assert_eq!(
            value(&after, "ocelot_received_bytes_total", &[]),
            Some((8 + good_frame().len()) as f64)
        );
        assert_eq!(
            value(&after, "ocelot_store_frames_stored_total", &[]),
            Some(1.0)
        );
        let dropped = dropped_trees(&after);
        assert_eq!(dropped, 0.0, "a good tree in the open hour is not dropped");
        assert_eq!(value(&after, OPEN_HOUR, &[]), Some(HOUR as f64));
        // What `ocelot status` compares the checkpoint's age with.
        assert_eq!(value(&after, CHECKPOINT_INTERVAL, &[]), Some(60.0));
    }

    #[test]
    fn drops_are_one_family_labelled_by_stage_reason_and_worker() {
        let running = start();
        let scrape = parse(&running.telemetry.render());
        for (stage, reason) in [
            ("collector", "out_of_window"),
            ("store", "no_message_id"),
            ("store", "queue_full"),
            ("store", "io_error"),
        ] {
            assert_eq!(
                value(
                    &scrape,
                    "ocelot_dropped_trees_total",
                    &[("stage", stage), ("reason", reason)]
                ),
                Some(0.0),
                "{stage}/{reason}"
            );
        }
        for family in [
            "ocelot_trees_lost_to_reports_total",
            "ocelot_trees_lost_to_store_total",
        ] {
            assert_eq!(value(&scrape, family, &[]), Some(0.0), "{family}");
        }
        let workers = running.collector.stats().workers;
        assert!(workers.contains_key("analyzer-0") && workers.contains_key("state"));
        for worker in workers.keys().map(String::as_str) {
            let labels = [
                ("stage", "worker"),
                ("reason", "queue_full"),
                ("worker", worker),
            ];
            assert_eq!(
                value(&scrape, "ocelot_dropped_trees_total", &labels),
                Some(0.0)
            );
            assert_eq!(
                value(&scrape, "ocelot_worker_queue_depth", &[("worker", worker)]),
                Some(0.0)
            );
        }
    }

    /// `ocelot_dropped_trees_total` counted a tree refused for a duplicate ID among the
    /// losses, which `ocelot status` and the State page did not: the same run told three
    /// stories. A duplicate is counted apart, and the drops add up to `trees_lost`.
    #[test]
    fn a_duplicate_is_counted_apart_from_the_dropped_trees() {
        let running = start();
        running.collector.ingest(good_frame()).unwrap();
        running.collector.ingest(good_frame()).unwrap();
        running.store.flush().unwrap();
        let scrape = parse(&running.telemetry.render());
        assert_eq!(
            value(&scrape, "ocelot_duplicate_trees_total", &[]),
            Some(1.0)
        );
        assert_eq!(
            value(
                &scrape,
                "ocelot_dropped_trees_total",
                &[("stage", "store"), ("reason", "duplicate")]
            ),
            None
        );
        let dropped = dropped_trees(&scrape);
        assert_eq!(dropped, running.collector.stats().trees_lost() as f64);
        assert_eq!(dropped, 0.0);
    }

    /// After a `kill -9` the open hour's reports lack the trees taken since its last
    /// checkpoint; only a log line at info level said so, and nothing could be alerted on.
    #[test]
    fn a_start_after_a_crash_counts_the_hour_its_reports_lack_trees_of() {
        let dir = tempfile::tempdir().unwrap();
        let open = || {
            let store = Store::open(StoreConfig {
                retention_days: 0,
                ..StoreConfig::new(dir.path())
            })
            .unwrap();
            let config = CollectorConfig {
                background_ticks: false,
                ..Default::default()
            };
            let clock = Arc::new(ManualClock::new(NOW_MS));
            (Collector::start(config, Some(store.clone()), clock), store)
        };
        let (collector, store) = open();
        collector.ingest(good_frame()).unwrap();
        collector.checkpoint_now();
        store.crash_for_tests();
        drop((collector, store));
        let (collector, store) = open();
        // Counted once the workers have parsed the checkpoint.
        collector.checkpoint_now();
        let telemetry = Telemetry::new(collector.clone(), store.clone(), Duration::from_secs(60));
        let scrape = parse(&telemetry.render());
        assert_eq!(
            value(&scrape, "ocelot_hours_restored_incomplete_total", &[]),
            Some(1.0)
        );
        collector.shutdown();
        store.shutdown();
    }

    /// `ocelot status` reads only `/metrics`, and the store's last failure was only on
    /// the pages: now a timestamp and an info gauge, its labels bounded.
    #[test]
    fn the_stores_last_error_is_a_timestamp_and_an_info_gauge() {
        let running = start();
        let scrape = parse(&running.telemetry.render());
        assert_eq!(value(&scrape, STORE_LAST_ERROR, &[]), None, "none yet");
        let stats = StoreStats {
            last_error: Some(ocelot_store::LastError {
                what: "writing a block",
                path: format!("/data/498703/shop/{}", "x".repeat(400)),
                error: "No space left on device (os error 28)".to_owned(),
                at_ms: 1_700_000_000_500,
            }),
            ..StoreStats::default()
        };
        let mut body = String::new();
        let mut registry = prometheus_client::registry::Registry::default();
        registry.register_collector(Box::new(StoreOnly(stats)));
        prometheus_client::encoding::text::encode(&mut body, &registry).unwrap();
        let scrape = parse(&body);
        assert_eq!(value(&scrape, STORE_LAST_ERROR, &[]), Some(1_700_000_000.5));
        let info = scrape
            .samples
            .iter()
            .find(|s| s.metric == STORE_LAST_ERROR_INFO)
            .unwrap();
        assert_eq!(info.labels.get("what"), Some("writing a block"));
        assert_eq!(
            info.labels.get("error"),
            Some("No space left on device (os error 28)")
        );
        let path = info.labels.get("path").unwrap();
        assert_eq!(path.chars().count(), LAST_ERROR_LABEL_MAX_CHARS);
        assert!(path.starts_with("/data/498703/shop/x"), "{path}");
    }

    /// [`encode_store`] alone, for a store figure a test cannot make happen.
    #[derive(Debug)]
    struct StoreOnly(StoreStats);

    impl prometheus_client::collector::Collector for StoreOnly {
        fn encode(&self, mut e: DescriptorEncoder<'_>) -> fmt::Result {
            encode_store(&mut e, &self.0)
        }
    }

    #[test]
    fn every_name_is_prefixed_and_labels_come_from_fixed_lists() {
        let running = start();
        running.collector.ingest(good_frame()).unwrap();
        let body = running.telemetry.render();
        assert!(body.ends_with("# EOF\n"));
        let scrape = parse(&body);
        assert!(!scrape.samples.is_empty());
        for sample in &scrape.samples {
            assert!(sample.metric.starts_with("ocelot_"), "{}", sample.metric);
            let allowed: &[&str] = if sample.metric == BUILD_INFO {
                &["version", "commit"]
            } else {
                &["reason", "stage", "worker"]
            };
            for (key, _) in sample.labels.iter() {
                assert!(
                    allowed.contains(&key.as_str()),
                    "{} has label {key}",
                    sample.metric
                );
            }
        }
        // Which build runs: one sample, always 1.
        assert_eq!(
            value(
                &scrape,
                BUILD_INFO,
                &[("version", crate::VERSION), ("commit", crate::COMMIT)]
            ),
            Some(1.0)
        );
        // Counters are typed as such in the `# TYPE` lines and their samples end in `_total`.
        for line in body.lines().filter(|l| l.ends_with(" counter")) {
            let family = line.split(' ').nth(2).unwrap();
            assert!(!family.ends_with("_total"), "{family}");
        }
    }

    #[test]
    fn status_reads_every_sample_as_prometheus_parse_does() {
        let running = start();
        let garbage = Bytes::from_static(b"\x00\x00\x00\x04XXXX");
        assert!(running.collector.ingest(garbage).is_err());
        running.collector.ingest(good_frame()).unwrap();
        let body = running.telemetry.render();
        let reference = parse(&body);
        let ours = crate::status::Samples::parse(&body);
        assert_eq!(ours.0.len(), reference.samples.len());
        for sample in &reference.samples {
            let labels: Vec<(&str, &str)> = sample
                .labels
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let theirs = value(&reference, &sample.metric, &labels);
            let mine = ours.0.iter().find(|s| {
                s.name == sample.metric
                    && s.labels.len() == labels.len()
                    && labels.iter().all(|(k, v)| s.labels[*k] == *v)
            });
            assert_eq!(mine.map(|s| s.value), theirs, "{}", sample.metric);
        }
    }

    #[test]
    fn the_kept_days_are_on_every_scrape() {
        let running = start();
        let telemetry = Telemetry::new(
            running.collector.clone(),
            running.store.clone(),
            Duration::from_secs(60),
        )
        .with_day_cache(Arc::new(ocelot_web::DayCache::default()));
        let scrape = parse(&telemetry.render());
        for name in [
            "ocelot_day_cache_hits_total",
            "ocelot_day_cache_kept_total",
            "ocelot_day_cache_evictions_total",
            "ocelot_day_cache_days",
            "ocelot_day_cache_bytes",
        ] {
            assert_eq!(value(&scrape, name, &[]), Some(0.0), "{name}");
        }
    }

    /// The web server's connections were not on /metrics: slow clients filling every slot,
    /// or holding answers, went unseen.
    #[test]
    fn the_web_servers_connection_figures_are_on_every_scrape() {
        let running = start();
        let telemetry = Telemetry::new(
            running.collector.clone(),
            running.store.clone(),
            Duration::from_secs(60),
        )
        .with_web_server(Arc::new(ocelot_web::ServeStats::default()));
        let scrape = parse(&telemetry.render());
        for name in [
            "ocelot_web_connections_open",
            "ocelot_web_connections_total",
            "ocelot_web_slots_full_total",
            "ocelot_web_write_timeouts_total",
            "ocelot_web_answers_refused_total",
            "ocelot_web_answer_bytes_in_flight",
        ] {
            assert_eq!(value(&scrape, name, &[]), Some(0.0), "{name}");
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn process_memory_and_cpu_come_from_proc_self() {
        let running = start();
        let scrape = parse(&running.telemetry.render());
        assert!(value(&scrape, RESIDENT_MEMORY, &[]).unwrap() > 1_000_000.0);
        assert!(value(&scrape, "ocelot_process_cpu_seconds_total", &[]).unwrap() >= 0.0);
        assert!(value(&scrape, THREADS, &[]).unwrap() >= 1.0);
        assert!(value(&scrape, UPTIME, &[]).unwrap() >= 0.0);
    }

    #[test]
    fn proc_stat_is_read_behind_a_command_name_with_spaces_and_parentheses() {
        let stat = "4242 (ocelot (io) x) S 1 4242 4242 0 -1 4194560 900 0 0 0 \
                    250 130 0 0 20 0 7 0 12345 1000000 2500 18446744073709551615";
        let status = "Name:\tocelot\nVmPeak:\t  20000 kB\nVmRSS:\t   10240 kB\nThreads:\t7\n";
        assert_eq!(
            ProcessFigures::parse(stat, status, Some(12)),
            Some(ProcessFigures {
                resident_bytes: 10_240 * 1024,
                cpu_seconds: 3.8,
                threads: 7,
                open_fds: Some(12),
            })
        );
        assert_eq!(ProcessFigures::parse("garbage", status, None), None);
    }

    #[tokio::test]
    async fn the_handler_answers_openmetrics_text() {
        let running = start();
        let telemetry = Arc::new(Telemetry::new(
            running.collector.clone(),
            running.store.clone(),
            Duration::from_secs(60),
        ));
        let response = metrics_handler(State(telemetry)).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE].to_str().unwrap(),
            CONTENT_TYPE
        );
    }

    /// Prometheus asks for gzip at every scrape; 16 KB of text goes as about 2.
    #[tokio::test]
    async fn a_scrape_that_takes_gzip_gets_it() {
        use std::io::{Read as _, Write as _};
        let running = start();
        let telemetry = Arc::new(Telemetry::new(
            running.collector.clone(),
            running.store.clone(),
            Duration::from_secs(60),
        ));
        let plain = telemetry.render();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            axum::serve(listener, routes(telemetry)).await.unwrap();
        });
        let answer = tokio::task::spawn_blocking(move || {
            let mut stream = std::net::TcpStream::connect(addr).unwrap();
            stream
                .write_all(
                    b"GET /metrics HTTP/1.1\r\nHost: ocelot\r\nAccept-Encoding: gzip\r\n\
                      Connection: close\r\n\r\n",
                )
                .unwrap();
            let mut answer = Vec::new();
            stream.read_to_end(&mut answer).unwrap();
            answer
        })
        .await
        .unwrap();
        server.abort();
        let split = answer.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let head = String::from_utf8_lossy(&answer[..split]).to_ascii_lowercase();
        assert!(head.contains("content-encoding: gzip"), "{head}");
        let mut body = String::new();
        flate2::bufread::GzDecoder::new(&answer[split + 4..])
            .read_to_string(&mut body)
            .unwrap();
        // The figures move between the two renders; the families are the same.
        let families = |text: &str| -> Vec<String> {
            text.lines()
                .filter(|l| l.starts_with("# TYPE"))
                .map(str::to_owned)
                .collect()
        };
        assert_eq!(families(&body), families(&plain));
    }
}
