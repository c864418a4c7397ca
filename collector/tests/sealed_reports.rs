//! Reports of sealed hours are read from the store once and then handed out again
//! parsed, within a byte budget, and never after their file was written again.

use std::sync::Arc;

use ocelot_analyzer::{AnalyzerConfig, EventAnalyzer, EventReport};
use ocelot_collector::{Collector, CollectorConfig, ManualClock};
use ocelot_protocol::{Header, Leaf, Message, MessageTree, Transaction};
use ocelot_store::{Store, StoreConfig};

/// 2026-11-22 07:00 UTC: the current hour; the hours before it are sealed.
const HOUR: u64 = 498_703;
const NOW_MS: u64 = HOUR * 3_600_000 + 20 * 60_000;

/// A `shop` tree from machine `ip` at `at_ms`: a transaction holding one event.
fn tree(ip: &str, seq: usize, at_ms: u64) -> MessageTree {
    let mut root = Transaction::new("URL", "/pay", at_ms);
    root.children
        .push(Message::Event(Leaf::new("Cache", "get", "0", at_ms, "")));
    let hour = at_ms / 3_600_000;
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

/// `shop`'s Event report of `hour` with one tree from each of `ips`, as JSON.
fn event_report(hour: u64, ips: &[&str]) -> Vec<u8> {
    let mut analyzer = EventAnalyzer::new(hour, Arc::new(AnalyzerConfig::default()));
    for (seq, ip) in ips.iter().enumerate() {
        analyzer.process(&tree(ip, seq, hour * 3_600_000 + 1_000));
    }
    let report = analyzer
        .reports()
        .get("shop")
        .expect("one tree makes a report");
    serde_json::to_vec(report).unwrap()
}

/// Writes `shop`'s Event report of `hour` (see [`event_report`]) to `store`.
fn write_event_report(store: &Store, hour: u64, ips: &[&str]) {
    store
        .write_report(hour, "shop", "event", &event_report(hour, ips))
        .unwrap();
}

/// A store in `dir`. Retention goes by the real clock: off, so the fixed hours stay.
fn open_store(dir: &std::path::Path) -> Store {
    Store::open(StoreConfig {
        retention_days: 0,
        ..StoreConfig::new(dir)
    })
    .unwrap()
}

/// A collector at [`NOW_MS`] over a store in `dir`, keeping `cache_bytes` of sealed reports.
fn collector(dir: &std::path::Path, cache_bytes: u64) -> (Store, Collector) {
    let store = open_store(dir);
    let config = CollectorConfig {
        background_ticks: false,
        analyzer_threads: 1,
        sealed_report_cache_bytes: cache_bytes,
        ..CollectorConfig::default()
    };
    let clock = Arc::new(ManualClock::new(NOW_MS));
    let collector = Collector::start(config, Some(store.clone()), clock);
    (store, collector)
}

fn ips(report: &EventReport) -> Vec<&str> {
    report.ips().collect()
}

#[tokio::test]
async fn a_sealed_report_is_read_once_and_a_rewritten_one_is_read_again() {
    let dir = tempfile::tempdir().unwrap();
    let (store, collector) = collector(dir.path(), 32 << 20);
    let sealed = HOUR - 5;
    write_event_report(&store, sealed, &["10.0.0.1"]);

    let first = collector.event_report("shop", sealed).await.unwrap();
    let again = collector.event_report("shop", sealed).await.unwrap();
    assert!(Arc::ptr_eq(&first, &again), "the same parsed report");
    let stats = collector.stats().sealed_reports;
    assert_eq!((stats.loads, stats.hits, stats.entries), (1, 1, 1));
    assert!(stats.bytes > 0);

    // Deleted behind the store's back: still answered, so not read again.
    let path = dir
        .path()
        .join(sealed.to_string())
        .join("shop/reports/event.report");
    std::fs::remove_file(&path).unwrap();
    assert!(collector.event_report("shop", sealed).await.is_some());
    assert_eq!(collector.stats().sealed_reports.loads, 1);

    // Written again through the store (a reopened hour sealed again): the new one.
    let both = ["10.0.0.1", "10.0.0.2"];
    write_event_report(&store, sealed, &both);
    let rewritten = collector.event_report("shop", sealed).await.unwrap();
    assert_eq!(ips(&rewritten), both);
    assert_eq!(collector.stats().sealed_reports.loads, 2);
    assert_eq!(ips(&first), ["10.0.0.1"], "earlier readers keep theirs");
    collector.shutdown();
}

#[tokio::test]
async fn past_the_budget_the_least_recently_read_report_is_read_again() {
    // What one such report is estimated at, by a collector with room for it.
    let one = {
        let dir = tempfile::tempdir().unwrap();
        let (store, collector) = collector(dir.path(), 32 << 20);
        let hour = HOUR - 1;
        let json = event_report(hour, &["10.0.0.1"]);
        store.write_report(hour, "shop", "event", &json).unwrap();
        collector.event_report("shop", hour).await.unwrap();
        collector.shutdown();
        collector.stats().sealed_reports.bytes
    };
    // Room for two such reports, not three.
    let dir = tempfile::tempdir().unwrap();
    let (store, collector) = collector(dir.path(), 2 * one + one / 2);
    for hours_before in 1..=3 {
        let hour = HOUR - hours_before;
        let json = event_report(hour, &["10.0.0.1"]);
        store.write_report(hour, "shop", "event", &json).unwrap();
    }
    for hours_before in [1, 2, 1, 3] {
        assert!(collector
            .event_report("shop", HOUR - hours_before)
            .await
            .is_some());
    }
    let stats = collector.stats().sealed_reports;
    assert_eq!((stats.loads, stats.hits, stats.evictions), (3, 1, 1));
    assert_eq!(stats.entries, 2);
    assert!(stats.bytes <= 2 * one + one / 2);
    // Hour - 2 went (hour - 1 was read after it); hour - 1 is still kept.
    assert!(collector.event_report("shop", HOUR - 1).await.is_some());
    assert_eq!(collector.stats().sealed_reports.loads, 3);
    assert!(collector.event_report("shop", HOUR - 2).await.is_some());
    assert_eq!(collector.stats().sealed_reports.loads, 4);
    collector.shutdown();
}

#[tokio::test]
async fn checkpoints_of_open_hours_and_absent_reports_are_not_served_stale() {
    let dir = tempfile::tempdir().unwrap();
    let (store, collector) = collector(dir.path(), 32 << 20);
    // A checkpoint of the open hour that no analyzer thread holds (the collector started
    // after it was written and no tree of the domain came since): read every time.
    write_event_report(&store, HOUR, &["10.0.0.1"]);
    for _ in 0..2 {
        assert!(collector.event_report("shop", HOUR).await.is_some());
    }
    assert_eq!(collector.stats().sealed_reports.loads, 0);

    // A sealed hour without the report: kept as absent until one is written.
    let sealed = HOUR - 2;
    assert!(collector.event_report("shop", sealed).await.is_none());
    assert!(collector.event_report("shop", sealed).await.is_none());
    assert_eq!(collector.stats().sealed_reports.loads, 1);
    write_event_report(&store, sealed, &["10.0.0.1"]);
    assert!(collector.event_report("shop", sealed).await.is_some());
    collector.shutdown();
}

/// The collector's own path: an hour sealed, read (and kept), opened again by a clock gone
/// back into it, given a tree from another machine, and sealed again. The second seal's
/// report is what readers get, not the kept first one.
#[tokio::test]
async fn an_hour_sealed_again_after_the_clock_went_back_is_read_anew() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let config = CollectorConfig {
        background_ticks: false,
        ..CollectorConfig::default()
    };
    let clock = Arc::new(ManualClock::new(NOW_MS));
    let collector = Collector::start(config, Some(store.clone()), clock.clone());
    let frame = |ip: &str, seq: usize, at_ms: u64| {
        ocelot_protocol::nt1::encode_to_bytes(&tree(ip, seq, at_ms))
    };
    collector.ingest(frame("10.0.0.1", 1, NOW_MS)).unwrap();
    let sealed_ms = (HOUR + 1) * 3_600_000 + 10 * 60_000;
    clock.set(sealed_ms);
    collector.tick();
    collector.checkpoint_now();
    for _ in 0..2 {
        let report = collector.event_report("shop", HOUR).await.unwrap();
        assert_eq!(ips(&report), ["10.0.0.1"]);
    }
    assert_eq!(collector.stats().sealed_reports.hits, 1);

    let back_ms = NOW_MS + 10 * 60_000;
    clock.set(back_ms);
    collector.tick();
    collector.ingest(frame("10.0.0.2", 2, back_ms)).unwrap();
    collector.checkpoint_now();
    let live = collector.event_report("shop", HOUR).await.unwrap();
    assert_eq!(ips(&live), ["10.0.0.1", "10.0.0.2"], "open again");

    clock.set(sealed_ms);
    collector.tick();
    collector.checkpoint_now();
    let resealed = collector.event_report("shop", HOUR).await.unwrap();
    assert_eq!(ips(&resealed), ["10.0.0.1", "10.0.0.2"], "sealed again");
    assert_eq!(collector.stats().dropped_total(), 0);
    collector.shutdown();
    store.shutdown();
}

/// A report file copied into another domain's or another hour's folder (by hand, or a
/// backup restored into the wrong place) says whose it is: it is not served as the
/// folder's, sealed or a checkpoint of the open hour. It used to be, under the wrong name.
#[tokio::test]
async fn a_report_found_in_another_domains_or_hours_folder_is_not_served_as_that_folders() {
    let dir = tempfile::tempdir().unwrap();
    let (store, collector) = collector(dir.path(), 32 << 20);
    let sealed = HOUR - 2;
    let shops = event_report(sealed, &["10.0.0.1"]);
    store.write_report(sealed, "shop", "event", &shops).unwrap();
    store.write_report(sealed, "cart", "event", &shops).unwrap();
    store
        .write_report(sealed - 1, "shop", "event", &shops)
        .unwrap();
    let open = event_report(HOUR, &["10.0.0.1"]);
    store.write_report(HOUR, "cart", "event", &open).unwrap();
    for _ in 0..2 {
        assert!(collector.event_report("cart", sealed).await.is_none());
        assert!(collector.event_report("shop", sealed - 1).await.is_none());
        assert!(collector.event_report("cart", HOUR).await.is_none());
    }
    // The report where it belongs is served.
    let served = collector.event_report("shop", sealed).await.unwrap();
    assert_eq!(served.domain(), "shop");
    collector.shutdown();
}

/// At start, a checkpoint of the open hour found in another domain's folder is not taken
/// into that domain's report (and written back under its name at the next checkpoint): it
/// is set aside as one that cannot be used.
#[tokio::test]
async fn a_checkpoint_found_in_another_domains_folder_is_not_restored_into_it() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open_store(dir.path());
        let shops = event_report(HOUR, &["10.0.0.1"]);
        store.write_report(HOUR, "cart", "event", &shops).unwrap();
        store.shutdown();
    }
    let (store, collector) = collector(dir.path(), 32 << 20);
    assert!(collector.event_report("cart", HOUR).await.is_none());
    assert!(
        !store
            .report_names(HOUR, "cart")
            .unwrap()
            .contains(&"event".to_owned()),
        "set aside"
    );
    collector.shutdown();
    store.shutdown();
}

/// A damaged or wrong report of a sealed hour used to read as "no report": the pages said
/// the domain logged nothing and nothing counted it. Now the collector says why it cannot
/// be read, once per file read, and keeps saying it without reading the file again.
#[tokio::test]
async fn a_damaged_or_foreign_sealed_report_is_unreadable_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let (store, collector) = collector(dir.path(), 32 << 20);
    let sealed = HOUR - 2;
    let json = event_report(sealed, &["10.0.0.1"]);
    store
        .write_report(sealed, "shop", "event", &json[..json.len() / 2])
        .unwrap();
    // Well-formed JSON that is no report: it names no domain and no hour.
    store
        .write_report(sealed, "cart", "event", br#"{"not":"a report"}"#)
        .unwrap();
    for _ in 0..2 {
        assert!(collector.event_report("shop", sealed).await.is_none());
        let why = collector.unreadable_report("event", "shop", sealed).await;
        assert!(
            why.as_deref().unwrap().contains("does not parse"),
            "{why:?}"
        );
        assert!(collector.event_report("cart", sealed).await.is_none());
        let why = collector.unreadable_report("event", "cart", sealed).await;
        assert!(
            why.as_deref().unwrap().contains("names domain “”"),
            "{why:?}"
        );
    }
    let stats = collector.stats().sealed_reports;
    assert_eq!((stats.unreadable, stats.loads), (2, 2), "{stats:?}");

    // Written again whole: read, no longer unreadable.
    store.write_report(sealed, "shop", "event", &json).unwrap();
    assert!(collector.event_report("shop", sealed).await.is_some());
    assert_eq!(
        collector.unreadable_report("event", "shop", sealed).await,
        None
    );
    collector.shutdown();
}

/// A domain's Transaction, Event and Problem reports are written together: one missing
/// beside the others was deleted or lost, not "no transactions". A domain with no report
/// at all, or without a Heartbeat report (only trees holding heartbeats make one), is just
/// without data.
#[tokio::test]
async fn a_report_missing_beside_its_siblings_is_unreadable_and_an_absent_one_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let (store, collector) = collector(dir.path(), 32 << 20);
    let sealed = HOUR - 3;
    write_event_report(&store, sealed, &["10.0.0.1"]);
    assert!(collector.transaction_report("shop", sealed).await.is_none());
    let why = collector
        .unreadable_report("transaction", "shop", sealed)
        .await;
    assert!(
        why.as_deref()
            .unwrap()
            .contains("while the domain's event report of the hour is there"),
        "{why:?}"
    );
    assert_eq!(
        collector
            .unreadable_report("heartbeat", "shop", sealed)
            .await,
        None
    );
    assert_eq!(
        collector
            .unreadable_report("transaction", "cart", sealed)
            .await,
        None
    );
    // The open hour's reports are live: never said to be unreadable.
    assert_eq!(
        collector
            .unreadable_report("transaction", "shop", HOUR)
            .await,
        None
    );
    assert_eq!(collector.stats().sealed_reports.unreadable, 1);
    collector.shutdown();
}
