//! Minutes the collector was not running in, told by its State reports in the store: no
//! data for the baseline (not zeros) and not evaluated by replay (no `below` alert on an
//! outage the live server never saw). Hours stored without a State report keep counting
//! as running throughout.

use std::sync::Arc;

use ocelot_alert::{replay, AlertKind, Engine, MinuteLabel, Report, RuleSet, StoreHistory};
use ocelot_analyzer::{AnalyzerConfig, StateReport, TransactionAnalyzer};
use ocelot_protocol::{Header, Message, MessageTree, Transaction};
use ocelot_store::{Store, StoreConfig};

/// The evaluated day (2026-10-29, a day index) and the look-back days of the rules.
const DAY: u64 = 20_755;
const HOUR_OF_DAY: u64 = 10;

fn hour_of(day: u64) -> u64 {
    day * 24 + HOUR_OF_DAY
}

fn minute_of(day: u64, minute: u64) -> u64 {
    hour_of(day) * 60 + minute
}

/// The transaction report of `hour`: `per_minute(minute)` URL /pay in each minute.
fn transactions(hour: u64, per_minute: impl Fn(u64) -> u64) -> Report {
    let mut analyzer = TransactionAnalyzer::new(hour, Arc::new(AnalyzerConfig::default()));
    for minute in 0..60 {
        for i in 0..per_minute(minute) {
            let t = Transaction::new("URL", "/pay", hour * 3_600_000 + minute * 60_000 + i);
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

/// The collector's State report of `hour` with a sample (every 10 s) in each minute that
/// `up` holds, as the collector files it.
fn state(hour: u64, up: impl Fn(u64) -> bool) -> Vec<u8> {
    let mut state = StateReport::new(hour);
    for minute in (0..60).filter(|&m| up(m)) {
        for second in (0..60).step_by(10) {
            let now_ms = hour * 3_600_000 + minute * 60_000 + second * 1_000;
            state.record_queue_depth(now_ms, "analyzer-0", 0);
        }
    }
    serde_json::to_vec(&state).unwrap()
}

/// A store holding hour 10 of `DAY - 14` (6 transactions a minute) and of `DAY - 7`,
/// when the server was down from 10:09:20 to 10:50:45 (6 a minute, 2 in 10:09, none from
/// 10:10 to 10:49, 1 in 10:50), and of `DAY` (3 a minute from 10:20 to 10:24, 6
/// otherwise). With `with_state`, the collector's State reports of hours 9 to 11 of each
/// day say when it ran.
fn store(dir: &std::path::Path, with_state: bool) -> Store {
    let store = Store::open(StoreConfig {
        retention_days: 0,
        ..StoreConfig::new(dir)
    })
    .unwrap();
    let down = |m: u64| (10..50).contains(&m);
    let write = |hour: u64, report: Report| {
        store
            .write_report(hour, "shop", "transaction", &report.to_json())
            .unwrap();
    };
    write(hour_of(DAY - 14), transactions(hour_of(DAY - 14), |_| 6));
    let outage_day = |m: u64| match m {
        9 => 2,
        50 => 1,
        m if down(m) => 0,
        _ => 6,
    };
    write(hour_of(DAY - 7), transactions(hour_of(DAY - 7), outage_day));
    write(
        hour_of(DAY),
        transactions(hour_of(DAY), |m| if (20..25).contains(&m) { 3 } else { 6 }),
    );
    if with_state {
        for day in [DAY - 14, DAY - 7, DAY] {
            for hour in hour_of(day) - 1..=hour_of(day) + 1 {
                let outage = day == DAY - 7 && hour == hour_of(day);
                let bytes = state(hour, |m| !(outage && down(m)));
                store.write_report(hour, "ocelot", "state", &bytes).unwrap();
            }
        }
    }
    store
}

/// A drop below the baseline by more than 30 %, and a floor of 1 a minute.
const RULES: &str = r#"
[baseline]
days_back = [14, 7]
weights = [1, 1]
smoothing_window_minutes = 0

[[rule]]
id = "drop"
domain = "shop"
report = "transaction"
type = "URL"
measure = "count"
baseline = "below"
margin_percent = 30.0

[[rule]]
id = "floor"
domain = "shop"
report = "transaction"
type = "URL"
measure = "count"
below = 1.0
"#;

fn rules() -> RuleSet {
    RuleSet::from_toml_str(RULES, None).unwrap()
}

/// The baseline of the `drop` rule in each minute of hour 10 of `DAY`.
fn baselines(history: &StoreHistory) -> Vec<Option<f64>> {
    let mut engine = Engine::new(rules());
    (0..60)
        .map(|m| {
            let minute = minute_of(DAY, m);
            engine.evaluate_minutes(minute, minute, history);
            let status = &engine.statuses()[0];
            assert_eq!(status.last_time, MinuteLabel(minute).to_string());
            status.last_baseline
        })
        .collect()
}

#[test]
fn a_past_outage_is_no_data_for_the_baseline_not_zeros() {
    let dir = tempfile::tempdir().unwrap();
    let history = StoreHistory::new(store(dir.path(), true));
    // The outage of DAY - 7, and its partial minutes 10:09 and 10:50 (the collector
    // stopped during one and started during the other), are no data: the baseline there
    // is DAY - 14's 6 alone, not a mean with 0 (or 2 or 1).
    assert_eq!(baselines(&history), vec![Some(6.0); 60]);
    let events = replay(&rules(), &history, hour_of(DAY), hour_of(DAY));
    let fired: Vec<_> = events
        .iter()
        .filter(|e| e.kind == AlertKind::Fired)
        .map(|e| (e.rule.as_str(), e.minute, e.value, e.baseline))
        .collect();
    // So 3 at 10:20 is a drop of 50 %.
    assert_eq!(
        fired,
        [("drop", minute_of(DAY, 20), Some(3.0), Some(6.0))],
        "{events:#?}"
    );
    assert_eq!(history.read_errors(), 0);

    // The same store read as a folder (what `ocelot alert replay` does).
    let folder = StoreHistory::open(dir.path()).unwrap();
    assert_eq!(
        replay(&rules(), &folder, hour_of(DAY), hour_of(DAY)),
        events
    );
}

#[test]
fn replay_does_not_evaluate_the_minutes_the_collector_was_down() {
    let dir = tempfile::tempdir().unwrap();
    let history = StoreHistory::new(store(dir.path(), true));
    let events = replay(&rules(), &history, hour_of(DAY - 7), hour_of(DAY - 7));
    // Live, nothing was evaluated from 10:09 to 10:50: the server was down (or, in the
    // minutes it stopped and started in, had not watched the whole minute). Replay says
    // the same: no floor alert.
    assert_eq!(events, [], "{events:#?}");
    let folder = StoreHistory::open(dir.path()).unwrap();
    assert_eq!(
        replay(&rules(), &folder, hour_of(DAY - 7), hour_of(DAY - 7)),
        events
    );
}

#[test]
fn hours_stored_without_a_state_report_count_as_running_throughout() {
    let dir = tempfile::tempdir().unwrap();
    let history = StoreHistory::new(store(dir.path(), false));
    // As before State reports were read: the outage reads as 0 a minute.
    let baselines = baselines(&history);
    assert_eq!(baselines[8], Some(6.0));
    assert_eq!(baselines[9], Some(4.0));
    assert_eq!(baselines[20], Some(3.0));
    assert_eq!(baselines[50], Some(3.5));
    let events = replay(&rules(), &history, hour_of(DAY), hour_of(DAY));
    assert!(events.iter().all(|e| e.rule != "drop"), "{events:#?}");
    // And replaying the outage fires the floor at its first minute.
    let events = replay(&rules(), &history, hour_of(DAY - 7), hour_of(DAY - 7));
    let floor: Vec<_> = events
        .iter()
        .filter(|e| e.rule == "floor")
        .map(|e| (e.kind, e.minute))
        .collect();
    assert_eq!(
        floor,
        [
            (AlertKind::Fired, minute_of(DAY - 7, 10)),
            (AlertKind::Resolved, minute_of(DAY - 7, 50)),
        ]
    );
}

#[test]
fn a_state_report_that_does_not_parse_is_a_read_error_and_counts_as_none() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path(), true);
    store
        .write_report(hour_of(DAY - 7), "ocelot", "state", b"{not json")
        .unwrap();
    let history = StoreHistory::new(store);
    let events = replay(&rules(), &history, hour_of(DAY - 7), hour_of(DAY - 7));
    // Nothing known of the hour: running throughout, as without a State report.
    let floor: Vec<_> = events
        .iter()
        .filter(|e| e.rule == "floor")
        .map(|e| (e.kind, e.minute))
        .collect();
    assert_eq!(
        floor,
        [
            (AlertKind::Fired, minute_of(DAY - 7, 10)),
            (AlertKind::Resolved, minute_of(DAY - 7, 50)),
        ]
    );
    assert_eq!(history.read_errors(), 1);
}

#[test]
fn a_report_that_does_not_parse_is_no_data_not_an_hour_without_traffic() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path(), true);
    // The hour is watched (the collector's State report is there), but the domain's own
    // report is damaged: its figures are unknown, not zero.
    store
        .write_report(hour_of(DAY), "shop", "transaction", b"{not json")
        .unwrap();
    let history = StoreHistory::new(store);
    let events = replay(&rules(), &history, hour_of(DAY), hour_of(DAY));
    assert!(events.is_empty(), "{events:?}");
    assert_eq!(history.read_errors(), 1);
}
