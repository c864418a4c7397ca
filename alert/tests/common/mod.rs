//! Four weeks of synthetic hourly reports of the domain `shop` in a temporary store, then
//! three test days: a spike, a drop (plus failures) and a normal day.
//!
//! Transactions `URL` `/pay` per minute, each 20 ms:
//! - days 0..=20: 5 per minute; day 14 has no data at all (skipped by the baseline);
//! - days 21..=27: 9 per minute;
//! - test days 28 (spike), 29 (drop), 30 (normal): 7 per minute, except
//!   - day 28 10:20..=10:24: 30 per minute,
//!   - day 29 13:58..=14:07: 1 per minute,
//!   - day 29 16:00..=16:01 and 16:10..=16:11: 7 per minute, 4 of them failed.
//!
//! Baselines (days back 28/21/14/7, weights 1/2/3/4, day 14 missing):
//! - day 28 from days 0, 7, (14), 21: (5 + 2*5 + 4*9) / 7 = 51/7 ~ 7.29
//! - day 29 from days 1, 8, 15, 22: (5 + 2*5 + 3*5 + 4*9) / 10 = 6.6
//! - day 30 from days 2, 9, 16, 23: 6.6

#![allow(dead_code)] // each test binary uses a part

use std::sync::{Arc, OnceLock};

use ocelot_alert::{parse_hour_label, Report, ReportKind};
use ocelot_analyzer::{AnalyzerConfig, TransactionAnalyzer};
use ocelot_protocol::{Header, Message, MessageTree, Transaction};
use ocelot_store::{Store, StoreConfig};

/// The first history day, as a day index (`epoch_ms / 86_400_000`).
pub(crate) fn first_day() -> u64 {
    parse_hour_label("2026100100").unwrap() / 24
}

pub(crate) const SPIKE_DAY: u64 = 28;
pub(crate) const DROP_DAY: u64 = 29;
pub(crate) const NORMAL_DAY: u64 = 30;
pub(crate) const MISSING_DAY: u64 = 14;

/// Epoch minute of `day` (relative to [`first_day`]) at `hh:mm`.
pub(crate) fn minute_at(day: u64, hh: u64, mm: u64) -> u64 {
    (first_day() + day) * 1440 + hh * 60 + mm
}

/// Hour index of `day` at `hh`.
pub(crate) fn hour_at(day: u64, hh: u64) -> u64 {
    (first_day() + day) * 24 + hh
}

/// (transactions, failed) in the minute `hh:mm` of `day`.
pub(crate) fn traffic(day: u64, hh: u64, mm: u64) -> (u64, u64) {
    let at = hh * 60 + mm;
    match day {
        MISSING_DAY => (0, 0),
        0..=20 => (5, 0),
        21..=27 => (9, 0),
        SPIKE_DAY if (10 * 60 + 20..=10 * 60 + 24).contains(&at) => (30, 0),
        DROP_DAY if (13 * 60 + 58..=14 * 60 + 7).contains(&at) => (1, 0),
        DROP_DAY if [16 * 60, 16 * 60 + 1, 16 * 60 + 10, 16 * 60 + 11].contains(&at) => (7, 4),
        _ => (7, 0),
    }
}

/// The transaction report of `day` (relative) at hour `hh`, built by the analyzer from
/// synthetic trees.
pub(crate) fn transaction_report(day: u64, hh: u64) -> Report {
    let hour = hour_at(day, hh);
    let mut analyzer = TransactionAnalyzer::new(hour, Arc::new(AnalyzerConfig::default()));
    for mm in 0..60 {
        let (count, failed) = traffic(day, hh, mm);
        for i in 0..count {
            let at_ms = hour * 3_600_000 + mm * 60_000 + i * 1_000;
            let mut t = Transaction::new("URL", "/pay", at_ms);
            t.duration_us = 20_000;
            if i < failed {
                t.status = "500".into();
            }
            let header = Header {
                domain: "shop".into(),
                ip_address: "10.0.0.1".into(),
                ..Header::default()
            };
            analyzer.process(&MessageTree::new(header, Message::Transaction(t)));
        }
    }
    Report::Transaction(analyzer.reports()["shop"].clone())
}

/// The store with days 0..=30 written (day 14 left out), shared by the tests of one binary.
pub(crate) fn store() -> &'static Store {
    &fixture().1
}

/// The folder of [`store`].
pub(crate) fn store_dir() -> &'static std::path::Path {
    fixture().0.path()
}

fn fixture() -> &'static (tempfile::TempDir, Store) {
    static STORE: OnceLock<(tempfile::TempDir, Store)> = OnceLock::new();
    STORE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let mut config = StoreConfig::new(dir.path());
        // Baselines look back four weeks; the default retention (7 days) would delete them.
        config.retention_days = 0;
        let store = Store::open(config).unwrap();
        // Building 720 reports from ~200k trees takes seconds in debug: use both cores.
        let days: Vec<u64> = (0..=NORMAL_DAY).filter(|d| *d != MISSING_DAY).collect();
        std::thread::scope(|scope| {
            for chunk in days.chunks(days.len().div_ceil(2)) {
                let store = &store;
                scope.spawn(move || {
                    for &day in chunk {
                        for hh in 0..24 {
                            let report = transaction_report(day, hh).to_json();
                            let name = ReportKind::Transaction.as_str();
                            store
                                .write_report(hour_at(day, hh), "shop", name, &report)
                                .unwrap();
                        }
                    }
                });
            }
        });
        (dir, store)
    })
}

/// The rule file of these tests.
pub(crate) const RULES: &str = r#"
board_url = "http://ocelot.test:8080"

[[rule]]
id = "pay-spike"
domain = "shop"
report = "transaction"
type = "URL"
name = "/pay"
measure = "count"
baseline = "above"
margin_percent = 100.0
margin_absolute = 5.0
for_minutes = 3

[[rule]]
id = "pay-drop"
domain = "shop"
report = "transaction"
type = "URL"
measure = "count"
baseline = "below"
margin_percent = 50.0
margin_absolute = 2.0
for_minutes = 2

[[rule]]
id = "pay-errors"
domain = "shop"
report = "transaction"
type = "URL"
name = "/pay"
measure = "failPercent"
above = 20.0
for_minutes = 2
suppress_minutes = 30
"#;
