//! The web server's view of reports: live from the collector for open hours, from the store
//! for sealed ones (the collector falls back to the store itself).

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use ocelot_analyzer::{
    AnalyzerConfig, DomainOverview, EventReport, HeartbeatReport, MetricReport, ProblemReport,
    StateReport, TransactionReport,
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

    fn state(&self, hour: u64) -> BoxFuture<'_, Option<Arc<StateReport>>> {
        Box::pin(self.collector.state_report(hour))
    }

    fn analyzer_config(&self) -> &AnalyzerConfig {
        &self.analyzer
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
}
