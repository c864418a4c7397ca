//! Past days kept merged (`web.day_cache_mib`): a week or month view merges each day that is
//! over once, answers as it did without the cache, and keeps days per view scope; a day
//! still running (or just ended) is merged again on every request.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;

use axum::Router;
use common::{get_json, ok_page};
use ocelot_analyzer::{
    EventReport, HeartbeatReport, MatrixReport, MetricReport, ProblemReport, StateReport,
    TransactionReport,
};
use ocelot_protocol::{Header, Leaf, Message, MessageTree, Transaction};
use ocelot_web::{router, AppState, BoxFuture, MemoryLookup, MemoryReports, ReportSource};

/// 2026-11-22 UTC, a Sunday: its week runs from Saturday the 21st to Friday the 27th.
const DAY: u64 = 498_703 / 24;
const DAY_MS: u64 = 86_400_000;
const HOUR_MS: u64 = 3_600_000;
const DAY_START_MS: u64 = DAY * DAY_MS;

/// A [`MemoryReports`] that counts the hours' reports asked of it.
struct Counting {
    inner: MemoryReports,
    fetched: AtomicUsize,
}

impl Counting {
    fn fetched(&self) -> usize {
        self.fetched.load(Relaxed)
    }
    fn count(&self) {
        self.fetched.fetch_add(1, Relaxed);
    }
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
    ) -> BoxFuture<'_, Option<Arc<TransactionReport>>> {
        self.count();
        self.inner.transaction(domain, hour)
    }
    fn event(&self, domain: String, hour: u64) -> BoxFuture<'_, Option<Arc<EventReport>>> {
        self.count();
        self.inner.event(domain, hour)
    }
    fn problem(&self, domain: String, hour: u64) -> BoxFuture<'_, Option<Arc<ProblemReport>>> {
        self.count();
        self.inner.problem(domain, hour)
    }
    fn matrix(&self, domain: String, hour: u64) -> BoxFuture<'_, Option<Arc<MatrixReport>>> {
        self.count();
        self.inner.matrix(domain, hour)
    }
    fn heartbeat(&self, domain: String, hour: u64) -> BoxFuture<'_, Option<Arc<HeartbeatReport>>> {
        self.inner.heartbeat(domain, hour)
    }
    fn metric(&self, domain: String, hour: u64) -> BoxFuture<'_, Option<Arc<MetricReport>>> {
        self.inner.metric(domain, hour)
    }
    fn state(&self, hour: u64) -> BoxFuture<'_, Option<Arc<StateReport>>> {
        self.inner.state(hour)
    }
}

/// One `URL /pay` transaction of machine `ip` holding a `Cache get` event; every tenth
/// fails (both).
fn tree(ip: &str, seq: u64, timestamp_ms: u64, duration_us: u64) -> MessageTree {
    let status = if seq % 10 == 0 { "ERROR" } else { "0" };
    let mut root = Transaction::new("URL", "/pay", timestamp_ms);
    root.duration_us = duration_us;
    root.status = status.to_owned();
    root.children.push(Message::Event(Leaf::new(
        "Cache",
        "get",
        status,
        timestamp_ms,
        "",
    )));
    let hour = timestamp_ms / HOUR_MS;
    MessageTree::new(
        Header {
            domain: "shop".to_owned(),
            ip_address: ip.to_owned(),
            message_id: format!("shop-0a000001-{hour}-{seq}"),
            ..Header::default()
        },
        Message::Transaction(root),
    )
}

/// `shop`'s trees over the week of [`DAY`] (three hours on each of Saturday, Sunday and
/// Wednesday, two machines), seen at `now_ms`, with `cache_mib` of days kept.
fn app(now_ms: u64, cache_mib: u64) -> (Router, Arc<Counting>) {
    let mut reports = MemoryReports::new(now_ms);
    let mut seq = 0;
    for day in [DAY - 1, DAY, DAY + 3] {
        for (hour, ip, n, duration_us) in [
            (1, "10.0.0.1", 30, 2_000),
            (9, "10.0.0.2", 20, 40_000),
            (23, "10.0.0.1", 10, 900_000),
        ] {
            let start = day * DAY_MS + hour * HOUR_MS;
            for i in 0..n {
                seq += 1;
                reports.add_tree(&tree(ip, seq, start + i * 1_000, duration_us));
            }
        }
    }
    let source = Arc::new(Counting {
        inner: reports,
        fetched: AtomicUsize::new(0),
    });
    let state = AppState::new(Arc::new(MemoryLookup::new()))
        .with_reports(source.clone())
        .with_day_cache_bytes(cache_mib << 20);
    (router(state), source)
}

const VIEWS: [&str; 7] = [
    "/api/transaction?domain=shop&week=20261122",
    "/api/transaction?domain=shop&week=20261122&ip=10.0.0.2",
    "/api/transaction?domain=shop&month=202611&type=URL",
    "/api/event?domain=shop&week=20261122",
    "/api/problem?domain=shop&month=202611",
    "/api/transaction?domain=shop&day=20261122",
    "/api/matrix?domain=shop&month=202611",
];

#[tokio::test]
async fn past_days_are_merged_once_and_answer_as_without_the_cache() {
    // A week after the week: every day of it is over.
    let now_ms = DAY_START_MS + 8 * DAY_MS;
    let (plain, _) = app(now_ms, 0);
    let (cached, source) = app(now_ms, 64);
    for uri in VIEWS {
        let want = get_json(plain.clone(), uri, 200).await;
        let first = get_json(cached.clone(), uri, 200).await;
        assert_eq!(first, want, "{uri}");
        let fetched = source.fetched();
        let again = get_json(cached.clone(), uri, 200).await;
        assert_eq!(again, want, "{uri}");
        assert_eq!(source.fetched(), fetched, "{uri}: no hour fetched again");
    }
    let json = get_json(cached.clone(), VIEWS[0], 200).await;
    assert_eq!(json["types"][0]["count"], 180, "{json}");
    // A week reuses the days a month kept for the same scope, and a day view the day the
    // week kept: the week's days are the month's.
    let before = source.fetched();
    get_json(
        cached.clone(),
        "/api/problem?domain=shop&week=20261122",
        200,
    )
    .await;
    get_json(cached.clone(), "/api/event?domain=shop&day=20261125", 200).await;
    assert_eq!(source.fetched(), before);
    // Another scope is merged on its own (once).
    get_json(
        cached.clone(),
        "/api/transaction?domain=shop&week=20261122&type=URL",
        200,
    )
    .await;
    assert_eq!(source.fetched(), before, "the month kept URL's days");
    get_json(
        cached.clone(),
        "/api/transaction?domain=shop&week=20261122&ip=10.0.0.1",
        200,
    )
    .await;
    assert_eq!(
        source.fetched(),
        before + 9,
        "nine hours of 10.0.0.1's view"
    );
    // The pages read the same kept days.
    let page = ok_page(cached.clone(), "/t?domain=shop&week=20261122&type=URL").await;
    assert!(page.contains("/pay"));
    assert_eq!(source.fetched(), before + 9);
    // The Matrix board's week reads the days its month kept.
    let page = ok_page(cached.clone(), "/matrix?domain=shop&week=20261122").await;
    assert!(page.contains("/pay"));
    assert_eq!(source.fetched(), before + 9);
}

#[tokio::test]
async fn a_day_still_running_or_just_ended_is_merged_on_every_request() {
    // Wednesday 23:30: the week's Wednesday (three hours) is running, Sunday is over. Then
    // Thursday 00:30, half an hour after Wednesday ended (too early to keep it: its last
    // hour may still take trees), and Thursday 01:00, when it is kept.
    for (now_ms, running_hours) in [
        (DAY_START_MS + 3 * DAY_MS + 23 * HOUR_MS + HOUR_MS / 2, 3),
        (DAY_START_MS + 4 * DAY_MS + HOUR_MS / 2, 3),
        (DAY_START_MS + 4 * DAY_MS + HOUR_MS, 0),
    ] {
        let (cached, source) = app(now_ms, 64);
        let uri = "/api/event?domain=shop&week=20261122";
        get_json(cached.clone(), uri, 200).await;
        let fetched = source.fetched();
        get_json(cached.clone(), uri, 200).await;
        assert_eq!(source.fetched(), fetched + running_hours, "now {now_ms}");
    }
    // Today's day view is merged every time.
    let (cached, source) = app(DAY_START_MS + 3 * DAY_MS + 23 * HOUR_MS + 1, 64);
    let uri = "/api/transaction?domain=shop&day=20261125";
    get_json(cached.clone(), uri, 200).await;
    let fetched = source.fetched();
    get_json(cached, uri, 200).await;
    assert_eq!(source.fetched(), fetched + 3);
}
