//! The web server's view of reports: live from the collector for open hours, from the store
//! for sealed ones (the collector falls back to the store itself).

use std::sync::Arc;

use ocelot_analyzer::{
    AnalyzerConfig, DomainOverview, EventReport, HeartbeatReport, MetricReport, ProblemReport,
    StateReport, TransactionReport,
};
use ocelot_collector::Collector;
use ocelot_web::{BoxFuture, ReportSource};

/// [`ReportSource`] over a running collector.
pub(crate) struct CollectorReports {
    pub(crate) collector: Collector,
    /// What the collector's analyzers run with: the boards name its caps.
    pub(crate) analyzer: Arc<AnalyzerConfig>,
}

impl ReportSource for CollectorReports {
    fn now_ms(&self) -> u64 {
        self.collector.now_ms()
    }

    fn hours(&self) -> BoxFuture<'_, Vec<u64>> {
        Box::pin(async move {
            let mut hours = self
                .collector
                .store()
                .and_then(|s| s.hours().ok())
                .unwrap_or_default();
            let current = self.collector.current_hour();
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

    fn transaction(&self, domain: String, hour: u64) -> BoxFuture<'_, Option<TransactionReport>> {
        Box::pin(async move { self.collector.transaction_report(&domain, hour).await })
    }

    fn transaction_for(
        &self,
        domain: String,
        hour: u64,
        ip: Option<String>,
        type_: Option<String>,
    ) -> BoxFuture<'_, Option<TransactionReport>> {
        Box::pin(async move {
            self.collector
                .transaction_report_for(&domain, hour, ip.as_deref(), type_.as_deref())
                .await
        })
    }

    fn overview(&self, domain: String, hour: u64) -> BoxFuture<'_, DomainOverview> {
        Box::pin(async move { self.collector.domain_overview(&domain, hour).await })
    }

    fn event(&self, domain: String, hour: u64) -> BoxFuture<'_, Option<EventReport>> {
        Box::pin(async move { self.collector.event_report(&domain, hour).await })
    }

    fn problem(&self, domain: String, hour: u64) -> BoxFuture<'_, Option<ProblemReport>> {
        Box::pin(async move { self.collector.problem_report(&domain, hour).await })
    }

    fn heartbeat(&self, domain: String, hour: u64) -> BoxFuture<'_, Option<HeartbeatReport>> {
        Box::pin(async move { self.collector.heartbeat_report(&domain, hour).await })
    }

    fn metric(&self, domain: String, hour: u64) -> BoxFuture<'_, Option<MetricReport>> {
        Box::pin(async move { self.collector.metric_report(&domain, hour).await })
    }

    fn state(&self, hour: u64) -> BoxFuture<'_, Option<StateReport>> {
        Box::pin(self.collector.state_report(hour))
    }

    fn analyzer_config(&self) -> &AnalyzerConfig {
        &self.analyzer
    }
}
