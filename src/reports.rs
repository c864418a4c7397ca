//! The web server's view of reports: live from the collector for open hours, from the store
//! for sealed ones (the collector falls back to the store itself).

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use ocelot_analyzer::{
    AnalyzerConfig, DomainOverview, EventReport, HeartbeatReport, MatrixReport, MetricReport,
    ProblemReport, StateReport, TransactionReport,
};
use ocelot_collector::Collector;
use ocelot_web::{BoxFuture, ReportSource};

/// [`ReportSource`] over a running collector.
pub(crate) struct CollectorReports {
    collector: Collector,
    /// What the collector's analyzers run with: the boards name its caps.
    analyzer: Arc<AnalyzerConfig>,
    /// Stored hours found to hold a report. A report once written stays until retention
    /// deletes its whole hour folder, so these are not looked at again: listing every
    /// domain's reports of every retained hour on each page was a few thousand `readdir`s.
    with_reports: Mutex<BTreeSet<u64>>,
}

impl CollectorReports {
    pub(crate) fn new(collector: Collector, analyzer: Arc<AnalyzerConfig>) -> CollectorReports {
        CollectorReports {
            collector,
            analyzer,
            with_reports: Mutex::default(),
        }
    }

    /// The stored hours known to hold a report (never held across an `.await`).
    fn known_with_reports(&self) -> MutexGuard<'_, BTreeSet<u64>> {
        (self.with_reports.lock()).unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether `hour`, which the store has a folder of, has a report: stored, or, in an
    /// hour still open (its reports are written at the next checkpoint), held live.
    ///
    /// The store files a tree under the hour of its message ID and the reports count it
    /// in the hour of its timestamp: a client whose IDs lag its clock makes a folder of
    /// messages only, in an hour every board and API would answer 404 for.
    async fn has_reports(&self, store: &ocelot_store::Store, hour: u64, current: u64) -> bool {
        if self.known_with_reports().contains(&hour) {
            return true;
        }
        if store.report_domains(hour).is_ok_and(|d| !d.is_empty()) {
            self.known_with_reports().insert(hour);
            return true;
        }
        let open = hour + 1 >= current && hour <= current + 1;
        open && !self.collector.domains(hour).await.is_empty()
    }
}

impl ReportSource for CollectorReports {
    fn now_ms(&self) -> u64 {
        self.collector.now_ms()
    }

    fn hours(&self) -> BoxFuture<'_, Vec<u64>> {
        Box::pin(async move {
            let current = self.collector.current_hour();
            let mut hours = Vec::new();
            if let Some(store) = self.collector.store() {
                let stored = store.hours().unwrap_or_default();
                // Hours retention deleted are forgotten.
                (self.known_with_reports()).retain(|hour| stored.binary_search(hour).is_ok());
                for hour in stored {
                    if self.has_reports(store, hour, current).await {
                        hours.push(hour);
                    }
                }
            }
            if !hours.contains(&current) {
                hours.push(current);
            }
            hours.sort_unstable();
            hours
        })
    }

    fn domains(&self, hour: u64) -> BoxFuture<'_, Vec<String>> {
        Box::pin(self.collector.domains(hour))
    }

    fn transaction(
        &self,
        domain: String,
        hour: u64,
    ) -> BoxFuture<'_, Option<Arc<TransactionReport>>> {
        Box::pin(async move { self.collector.transaction_report(&domain, hour).await })
    }

    fn transaction_for(
        &self,
        domain: String,
        hour: u64,
        ip: Option<String>,
        type_: Option<String>,
    ) -> BoxFuture<'_, Option<Arc<TransactionReport>>> {
        Box::pin(async move {
            self.collector
                .transaction_report_for(&domain, hour, ip.as_deref(), type_.as_deref())
                .await
        })
    }

    fn overview(&self, domain: String, hour: u64) -> BoxFuture<'_, DomainOverview> {
        Box::pin(async move { self.collector.domain_overview(&domain, hour).await })
    }

    fn event(&self, domain: String, hour: u64) -> BoxFuture<'_, Option<Arc<EventReport>>> {
        Box::pin(async move { self.collector.event_report(&domain, hour).await })
    }

    fn problem(&self, domain: String, hour: u64) -> BoxFuture<'_, Option<Arc<ProblemReport>>> {
        Box::pin(async move { self.collector.problem_report(&domain, hour).await })
    }

    fn heartbeat(&self, domain: String, hour: u64) -> BoxFuture<'_, Option<Arc<HeartbeatReport>>> {
        Box::pin(async move { self.collector.heartbeat_report(&domain, hour).await })
    }

    fn metric(&self, domain: String, hour: u64) -> BoxFuture<'_, Option<Arc<MetricReport>>> {
        Box::pin(async move { self.collector.metric_report(&domain, hour).await })
    }

    fn matrix(&self, domain: String, hour: u64) -> BoxFuture<'_, Option<Arc<MatrixReport>>> {
        Box::pin(async move { self.collector.matrix_report(&domain, hour).await })
    }

    fn state(&self, hour: u64) -> BoxFuture<'_, Option<Arc<StateReport>>> {
        Box::pin(self.collector.state_report(hour))
    }

    fn unreadable(
        &self,
        kind: &'static str,
        domain: String,
        hour: u64,
    ) -> BoxFuture<'_, Option<String>> {
        Box::pin(async move { self.collector.unreadable_report(kind, &domain, hour).await })
    }

    fn analyzer_config(&self) -> &AnalyzerConfig {
        &self.analyzer
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ocelot_analyzer::AnalyzerConfig;
    use ocelot_collector::{CollectorConfig, ManualClock};
    use ocelot_protocol::{Header, Message, MessageId, MessageTree, Transaction};
    use ocelot_store::{Store, StoreConfig};

    /// 2026-11-22 07:00 UTC, and a moment in it.
    const HOUR: u64 = 498_703;
    const NOW_MS: u64 = HOUR * 3_600_000 + 20 * 60_000;

    /// A frame of `id`'s tree, timed `timestamp_ms`.
    fn frame(id: &str, timestamp_ms: u64) -> bytes::Bytes {
        let tree = MessageTree::new(
            Header {
                domain: "shop".to_owned(),
                message_id: id.to_owned(),
                ..Header::default()
            },
            Message::Transaction(Transaction::new("URL", "/pay", timestamp_ms)),
        );
        let mut out = Vec::new();
        ocelot_protocol::nt1::encode(&tree, &mut out);
        out.into()
    }

    #[test]
    fn hours_with_stored_messages_but_no_report_are_not_offered() {
        let dir = tempfile::tempdir().unwrap();
        // Retention goes by the real clock: off, so the fixed hours stay.
        let store = Store::open(StoreConfig {
            retention_days: 0,
            ..StoreConfig::new(dir.path())
        })
        .unwrap();
        // A client whose IDs lag its clock by a day: the store files the tree under the
        // ID's hour, the reports count it in the hour of its timestamp.
        let lagging = format!("shop-0a000001-{}-1", HOUR - 24);
        store
            .append(
                &lagging.parse::<MessageId>().unwrap(),
                frame(&lagging, NOW_MS),
            )
            .unwrap();
        let stored = format!("shop-0a000001-{}-2", HOUR - 2);
        let at_ms = (HOUR - 2) * 3_600_000;
        store
            .append(&stored.parse::<MessageId>().unwrap(), frame(&stored, at_ms))
            .unwrap();
        store.flush().unwrap();
        store
            .write_report(HOUR - 2, "shop", "transaction", b"{}")
            .unwrap();
        assert_eq!(store.hours().unwrap(), [HOUR - 24, HOUR - 2]);

        let config = CollectorConfig {
            background_ticks: false,
            ..CollectorConfig::default()
        };
        let clock = Arc::new(ManualClock::new(NOW_MS));
        let collector = Collector::start(config, Some(store), clock);
        let reports = CollectorReports::new(collector, Arc::default());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let hours = runtime.block_on(reports.hours());
        assert_eq!(
            hours,
            [HOUR - 2, HOUR],
            "the lagging ID's hour has no report"
        );
        // Asked again, the stored hour is known and still listed.
        assert_eq!(runtime.block_on(reports.hours()), [HOUR - 2, HOUR]);
    }

    /// A UTC day of `app-0` on `machines` machines with about `names` root names, `trees`
    /// trees an hour, as sealed reports in a store in `dir` and as a [`MemoryReports`] of
    /// the same trees, both at [`NOW_MS`] (the next day): (store, memory, day). Hours
    /// `before` hour 12 of the day are stored too (for a comparison).
    fn sealed_day(
        dir: &std::path::Path,
        machines: u32,
        names: u64,
        trees: u64,
        before: &[u64],
    ) -> (Store, ocelot_web::MemoryReports, u64) {
        let store = Store::open(StoreConfig {
            retention_days: 0,
            ..StoreConfig::new(dir)
        })
        .unwrap();
        let day = HOUR / 24 - 1;
        let mut memory = ocelot_web::MemoryReports::new(NOW_MS);
        let config = Arc::new(AnalyzerConfig::default());
        let earlier = before.iter().map(|b| day * 24 + 12 - b);
        for hour in (day * 24..(day + 1) * 24).chain(earlier) {
            let start_ms = hour * 3_600_000;
            let mut samples = ocelot_protocol::sample::SampleTrees::new(hour, 1, names, start_ms)
                .machine_share(0, 1, machines)
                .distinct_names();
            let mut analyzers = ocelot_analyzer::HourAnalyzers::new(hour, &config);
            for i in 0..trees {
                samples.now_ms = start_ms + i * 3_500_000 / trees;
                let tree = samples.tree();
                analyzers.process(&tree);
                memory.add_tree(&tree);
            }
            fn write<R: serde::Serialize>(
                store: &Store,
                hour: u64,
                kind: &str,
                reports: &ocelot_analyzer::DomainReports<R>,
            ) {
                for (domain, report) in reports.iter() {
                    let json = serde_json::to_vec(report).unwrap();
                    store.write_report(hour, domain, kind, &json).unwrap();
                }
            }
            write(&store, hour, "transaction", analyzers.transaction.reports());
            write(&store, hour, "event", analyzers.event.reports());
            write(&store, hour, "problem", analyzers.problem.reports());
        }
        (store, memory, day)
    }

    /// Serves `reports` on a port of 127.0.0.1; returns its base address.
    async fn serve(reports: Arc<dyn ocelot_web::ReportSource>) -> String {
        let state = ocelot_web::AppState::new(Arc::new(ocelot_web::MemoryLookup::new()))
            .with_reports(reports);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, ocelot_web::router(state))
                .await
                .unwrap();
        });
        format!("http://{addr}")
    }

    /// GETs `path` from `base` off the async workers (the client blocks).
    async fn get(base: &str, path: &str) -> String {
        let (base, path) = (base.to_owned(), path.to_owned());
        tokio::task::spawn_blocking(move || crate::http::get(&base, &path).unwrap())
            .await
            .unwrap()
    }

    /// A collector over `store` at [`NOW_MS`] keeping `cache_bytes` of sealed reports.
    fn collector_reports(store: Store, cache_bytes: u64) -> CollectorReports {
        let config = CollectorConfig {
            background_ticks: false,
            sealed_report_cache_bytes: cache_bytes,
            ..CollectorConfig::default()
        };
        let clock = Arc::new(ManualClock::new(NOW_MS));
        CollectorReports::new(Collector::start(config, Some(store), clock), Arc::default())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_day_of_sealed_reports_answers_as_the_trees_do_and_again_from_the_cache() {
        let dir = tempfile::tempdir().unwrap();
        let (store, memory, day) = sealed_day(dir.path(), 2, 20, 200, &[]);
        let reports = Arc::new(collector_reports(store, 32 << 20));
        let collector = reports.collector.clone();
        let stored = serve(reports).await;
        let expected = serve(Arc::new(memory)).await;
        let day = ocelot_analyzer::day_label(day);
        for path in [
            format!("/api/transaction?domain=app-0&day={day}"),
            format!("/api/event?domain=app-0&day={day}"),
            format!("/api/problem?domain=app-0&day={day}"),
        ] {
            let want: serde_json::Value =
                serde_json::from_str(&get(&expected, &path).await).unwrap();
            for read in ["from the store", "from the cache"] {
                let got = get(&stored, &path).await;
                let got: serde_json::Value = serde_json::from_str(&got).unwrap();
                assert_eq!(got, want, "{path} {read}");
            }
        }
        let stats = collector.stats().sealed_reports;
        // 24 hours of three kinds, each read once.
        assert_eq!(stats.loads, 72);
        assert!(stats.hits >= 72, "{stats:?}");
        // The board of the day too.
        let page = get(&stored, &format!("/t?domain=app-0&day={day}")).await;
        assert!(page.contains("URL"), "{page}");
        collector.shutdown();
    }

    /// What the cache saves a day view and an hour's comparison, in a release build:
    /// `cargo test --release -p ocelot --bin ocelot sealed_report_timings -- --ignored --nocapture`
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "a timing, not a test"]
    async fn sealed_report_timings() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _, day) = sealed_day(dir.path(), 8, 400, 20_000, &[24, 7 * 24]);
        let bytes: u64 = ["transaction", "event", "problem"]
            .iter()
            .map(|kind| {
                store
                    .read_report(day * 24, "app-0", kind)
                    .unwrap()
                    .unwrap()
                    .len() as u64
            })
            .sum();
        println!(
            "one hour of app-0: {:.2} MiB of stored reports",
            bytes as f64 / 1048576.0
        );
        let label = ocelot_analyzer::day_label(day);
        let hour = ocelot_analyzer::hour_label(day * 24 + 12);
        let paths = [
            format!("/api/transaction?domain=app-0&day={label}"),
            format!("/t?domain=app-0&day={label}"),
            format!("/p?domain=app-0&day={label}"),
            format!("/t?domain=app-0&hour={hour}&type=URL"),
            format!("/t?domain=app-0&hour={hour}&type=URL&compare=on"),
        ];
        for (cache, budget) in [("no cache", 0), ("32 MiB cache", 32 << 20)] {
            let reports = Arc::new(collector_reports(store.clone(), budget));
            let collector = reports.collector.clone();
            let base = serve(reports).await;
            for path in &paths {
                let mut times = Vec::new();
                for _ in 0..5 {
                    let started = std::time::Instant::now();
                    get(&base, path).await;
                    times.push(started.elapsed().as_secs_f64() * 1000.0);
                }
                let first = times[0];
                times.sort_by(f64::total_cmp);
                println!(
                    "{cache}: {path}: first {first:.1} ms, median of 5 {:.1} ms",
                    times[2]
                );
            }
            println!("{cache}: {:?}", collector.stats().sealed_reports);
            collector.shutdown();
        }
    }
}
