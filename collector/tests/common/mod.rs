//! Helpers shared by the collector's integration tests of one domain's `/orders` requests
//! (the Matrix report, rebuilds from the store).
#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use ocelot_analyzer::{MatrixView, ViewQuery};
use ocelot_collector::{Collector, CollectorConfig, ManualClock};
use ocelot_protocol::{nt1, Header, Message, MessageTree, Transaction};
use ocelot_store::{Store, StoreConfig};

/// 2026-11-22 07:00 UTC, and a moment in it.
pub const HOUR: u64 = 498_703;
pub const NOW_MS: u64 = HOUR * 3_600_000 + 9 * 60_000;

/// A store that keeps the fixed hour (retention goes by the real clock).
pub fn open_store(dir: &std::path::Path) -> Store {
    Store::open(StoreConfig {
        retention_days: 0,
        ..StoreConfig::new(dir)
    })
    .unwrap()
}

/// A collector ticked by hand, rebuilding incomplete hours from the store if `rebuild`.
pub fn start_rebuilding(store: &Store, clock: Arc<ManualClock>, rebuild: bool) -> Collector {
    let config = CollectorConfig {
        background_ticks: false,
        rebuild_incomplete_hours: rebuild,
        ..CollectorConfig::default()
    };
    Collector::start(config, Some(store.clone()), clock)
}

/// A collector that leaves incomplete hours as checkpointed (the rebuilds are the tests').
pub fn start(store: &Store, clock: Arc<ManualClock>) -> Collector {
    start_rebuilding(store, clock, false)
}

pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

pub fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A frame of `domain`: a root `type_` `/orders` of 10 ms making `sql` SQL calls of 1 ms,
/// message ID sequence `seq`.
pub fn request(domain: &str, type_: &str, sql: usize, seq: u64) -> bytes::Bytes {
    request_filed(domain, type_, sql, seq, HOUR)
}

/// [`request`] with a message ID made in `id_hour` (a tree that ended in the next hour has
/// its ID from then, and its root's time in this one).
pub fn request_filed(
    domain: &str,
    type_: &str,
    sql: usize,
    seq: u64,
    id_hour: u64,
) -> bytes::Bytes {
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
        message_id: format!("{domain}-0a000001-{id_hour}-{seq}"),
        ..Header::default()
    };
    nt1::encode_to_bytes(&MessageTree::new(header, Message::Transaction(root)))
}

pub fn view(collector: &Collector, domain: &str) -> Option<MatrixView> {
    let report = block_on(collector.matrix_report(domain, HOUR))?;
    Some(report.view(&ViewQuery::default()))
}

/// `/orders`'s requests and its SQL calls: (requests, calls, fewest, most, the most's ID).
pub fn orders(collector: &Collector) -> Option<(u64, u64, u64, u64, String)> {
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

pub fn id(seq: u64) -> String {
    format!("shop-0a000001-{HOUR}-{seq}")
}
