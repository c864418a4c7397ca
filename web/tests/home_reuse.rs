//! The home page asks every domain's analyzer thread for an overview, and that thread takes
//! no tree meanwhile: reloads within a few seconds, and reloads arriving together, reuse
//! one build of the rows.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use ocelot_analyzer::{
    DomainOverview, EventReport, HeartbeatReport, MetricReport, ProblemReport, StateReport,
    TransactionReport,
};
use ocelot_protocol::sample::SampleTrees;
use ocelot_web::{router, AppState, BoxFuture, MemoryReports, ReportSource};

/// Counts the overviews asked for.
struct Counting {
    inner: MemoryReports,
    overviews: AtomicUsize,
}

impl ReportSource for Counting {
    fn now_ms(&self) -> u64 {
        self.inner.now_ms()
    }
    fn hours(&self) -> BoxFuture<'_, Vec<u64>> {
        self.inner.hours()
    }
    fn domains(&self, hour: u64) -> BoxFuture<'_, Vec<String>> {
        self.inner.domains(hour)
    }
    fn transaction(
        &self,
        domain: String,
        hour: u64,
    ) -> BoxFuture<'_, Option<std::sync::Arc<TransactionReport>>> {
        self.inner.transaction(domain, hour)
    }
    fn overview(&self, domain: String, hour: u64) -> BoxFuture<'_, DomainOverview> {
        self.overviews.fetch_add(1, Ordering::Relaxed);
        self.inner.overview(domain, hour)
    }
    fn event(
        &self,
        domain: String,
        hour: u64,
    ) -> BoxFuture<'_, Option<std::sync::Arc<EventReport>>> {
        self.inner.event(domain, hour)
    }
    fn problem(
        &self,
        domain: String,
        hour: u64,
    ) -> BoxFuture<'_, Option<std::sync::Arc<ProblemReport>>> {
        self.inner.problem(domain, hour)
    }
    fn heartbeat(
        &self,
        domain: String,
        hour: u64,
    ) -> BoxFuture<'_, Option<std::sync::Arc<HeartbeatReport>>> {
        self.inner.heartbeat(domain, hour)
    }
    fn metric(
        &self,
        domain: String,
        hour: u64,
    ) -> BoxFuture<'_, Option<std::sync::Arc<MetricReport>>> {
        self.inner.metric(domain, hour)
    }
    fn state(&self, hour: u64) -> BoxFuture<'_, Option<std::sync::Arc<StateReport>>> {
        self.inner.state(hour)
    }
}

#[tokio::test]
async fn reloads_within_seconds_and_reloads_together_build_the_rows_once() {
    let hour_start_ms = common::HOUR * 3_600_000;
    let mut reports = MemoryReports::new(hour_start_ms + 600_000);
    let mut samples = SampleTrees::new(7, 3, 5, hour_start_ms);
    for at in (hour_start_ms..hour_start_ms + 600_000).step_by(2_000) {
        samples.now_ms = at;
        reports.add_tree(&samples.tree());
    }
    let source = Arc::new(Counting {
        inner: reports,
        overviews: AtomicUsize::new(0),
    });
    let domains = source.inner.domains(common::HOUR).await.len();
    assert!(domains > 1, "{domains}");
    let app = router(AppState::new(Arc::new(common::lookup())).with_reports(source.clone()));
    let (first, second) =
        tokio::join!(common::get(app.clone(), "/"), common::get(app.clone(), "/"));
    let first = common::text(first).await;
    assert_eq!(first, common::text(second).await);
    let third = common::text(common::get(app.clone(), "/").await).await;
    assert_eq!(first, third);
    assert_eq!(source.overviews.load(Ordering::Relaxed), domains);
}
