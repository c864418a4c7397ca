//! The Matrix report through the collector: counted live on the analyzer thread, written at
//! every checkpoint and continued from it after a crash, sealed with its hour and served
//! from the store afterwards.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ocelot_analyzer::{MatrixReport, MatrixView, ViewQuery};
use ocelot_collector::{Collector, CollectorConfig, ManualClock};
use ocelot_protocol::{nt1, Header, Message, MessageTree, Transaction};
use ocelot_store::{Store, StoreConfig};

/// 2026-11-22 07:00 UTC, and a moment in it.
const HOUR: u64 = 498_703;
const NOW_MS: u64 = HOUR * 3_600_000 + 9 * 60_000;

/// A store that keeps the fixed hour (retention goes by the real clock).
fn open_store(dir: &std::path::Path) -> Store {
    Store::open(StoreConfig {
        retention_days: 0,
        ..StoreConfig::new(dir)
    })
    .unwrap()
}

fn start(store: &Store, clock: Arc<ManualClock>) -> Collector {
    let config = CollectorConfig {
        background_ticks: false,
        ..CollectorConfig::default()
    };
    Collector::start(config, Some(store.clone()), clock)
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A frame of `domain`: a root `type_` `/orders` of 10 ms making `sql` SQL calls of 1 ms,
/// message ID sequence `seq`.
fn request(domain: &str, type_: &str, sql: usize, seq: u64) -> bytes::Bytes {
    let mut root = Transaction::new(type_, "/orders", NOW_MS);
    root.duration_us = 10_000;
    for _ in 0..sql {
        let mut t = Transaction::new("SQL", "OrderDao.find", NOW_MS);
        t.duration_us = 1_000;
        root.children.push(Message::Transaction(t));
    }
    let header = Header {
        domain: domain.into(),
        ip_address: "10.0.0.1".into(),
        message_id: format!("{domain}-0a000001-{HOUR}-{seq}"),
        ..Header::default()
    };
    nt1::encode_to_bytes(&MessageTree::new(header, Message::Transaction(root)))
}

fn view(collector: &Collector, domain: &str) -> Option<MatrixView> {
    let report = block_on(collector.matrix_report(domain, HOUR))?;
    Some(report.view(&ViewQuery::default()))
}

/// `/orders`'s requests and its SQL calls: (requests, calls, fewest, most, the most's ID).
fn orders(collector: &Collector) -> Option<(u64, u64, u64, u64, String)> {
    let view = view(collector, "shop")?;
    let orders = view.names.iter().find(|n| n.name == "/orders")?;
    let sql = &orders.calls[1];
    Some((
        orders.count,
        sql.count,
        sql.min_per_request,
        sql.max_per_request,
        sql.max_sample.clone(),
    ))
}

fn id(seq: u64) -> String {
    format!("shop-0a000001-{HOUR}-{seq}")
}

#[test]
fn a_matrix_report_is_checkpointed_continued_after_a_crash_and_sealed() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open_store(dir.path());
        let collector = start(&store, Arc::new(ManualClock::new(NOW_MS)));
        for (seq, sql) in [(1, 3), (2, 40), (3, 5)] {
            collector.ingest(request("shop", "URL", sql, seq)).unwrap();
        }
        // A domain that serves no request has no Matrix report.
        collector.ingest(request("batch", "Job", 2, 4)).unwrap();
        wait_for("three requests", || {
            orders(&collector).is_some_and(|o| o.0 == 3)
        });
        collector.checkpoint_now();
        // After the checkpoint, then a crash: the at-most-one-interval loss.
        collector.ingest(request("shop", "URL", 90, 5)).unwrap();
        wait_for("four requests", || {
            orders(&collector).is_some_and(|o| o.0 == 4)
        });
        store.crash_for_tests();
    }
    let store = open_store(dir.path());
    let clock = Arc::new(ManualClock::new(NOW_MS + 60_000));
    let collector = start(&store, clock.clone());
    assert_eq!(orders(&collector), Some((3, 48, 3, 40, id(2))));
    collector.ingest(request("shop", "URL", 0, 6)).unwrap();
    wait_for("the restored report to go on", || {
        orders(&collector).is_some_and(|o| o.0 == 4)
    });
    assert_eq!(orders(&collector), Some((4, 48, 0, 40, id(2))));
    assert!(view(&collector, "batch").is_none());
    let live = block_on(collector.matrix_report("shop", HOUR)).unwrap();

    // Sealed at minute 3 of the next hour: from then on read from the store.
    clock.set((HOUR + 1) * 3_600_000 + 3 * 60_000 + 500);
    collector.tick();
    collector.checkpoint_now();
    assert_eq!(collector.stats().hours_sealed, 1);
    let stored: MatrixReport = serde_json::from_slice(
        &store
            .read_report(HOUR, "shop", "matrix")
            .unwrap()
            .expect("a sealed Matrix report"),
    )
    .unwrap();
    assert_eq!(stored, *live);
    let sealed = block_on(collector.matrix_report("shop", HOUR)).unwrap();
    assert_eq!(*sealed, *live);
    // Not damaged, nor missing where it should be: `batch` never had one.
    assert_eq!(
        block_on(collector.unreadable_report("matrix", "shop", HOUR)),
        None
    );
    assert!(block_on(collector.matrix_report("batch", HOUR)).is_none());
    assert_eq!(
        block_on(collector.unreadable_report("matrix", "batch", HOUR)),
        None
    );
    collector.shutdown();
    store.shutdown();
}
