//! Four weeks of stored history, then a spike, a drop and a normal day replayed: exact
//! firing and resolving minutes.

mod common;

use common::*;
use ocelot_alert::{format_events, replay, AlertKind, MinuteLabel, RuleSet, StoreHistory};

fn rules() -> RuleSet {
    RuleSet::from_toml_str(RULES, Some(&["shop".to_owned()])).unwrap()
}

/// (rule, kind, minute, suppressed) of each event.
fn summary(events: &[ocelot_alert::AlertEvent]) -> Vec<(String, AlertKind, u64, bool)> {
    events
        .iter()
        .map(|e| (e.rule.clone(), e.kind, e.minute, e.suppressed))
        .collect()
}

#[test]
fn a_spike_a_drop_and_failures_fire_and_resolve_at_the_exact_minutes() {
    let history = StoreHistory::new(store().clone());
    let events = replay(
        &rules(),
        &history,
        hour_at(SPIKE_DAY, 0),
        hour_at(NORMAL_DAY, 23),
    );
    let expected = vec![
        (
            "pay-spike".to_owned(),
            AlertKind::Fired,
            minute_at(SPIKE_DAY, 10, 22),
            false,
        ),
        (
            "pay-spike".to_owned(),
            AlertKind::Resolved,
            minute_at(SPIKE_DAY, 10, 25),
            false,
        ),
        (
            "pay-drop".to_owned(),
            AlertKind::Fired,
            minute_at(DROP_DAY, 13, 59),
            false,
        ),
        (
            "pay-drop".to_owned(),
            AlertKind::Resolved,
            minute_at(DROP_DAY, 14, 8),
            false,
        ),
        (
            "pay-errors".to_owned(),
            AlertKind::Fired,
            minute_at(DROP_DAY, 16, 1),
            false,
        ),
        (
            "pay-errors".to_owned(),
            AlertKind::Resolved,
            minute_at(DROP_DAY, 16, 2),
            false,
        ),
        (
            "pay-errors".to_owned(),
            AlertKind::Fired,
            minute_at(DROP_DAY, 16, 11),
            true,
        ),
        (
            "pay-errors".to_owned(),
            AlertKind::Resolved,
            minute_at(DROP_DAY, 16, 12),
            true,
        ),
    ];
    assert_eq!(summary(&events), expected, "{}", format_events(&events));
    assert_eq!(history.read_errors(), 0);
}

#[test]
fn fired_events_carry_values_weighted_baselines_and_the_bad_minutes() {
    let history = StoreHistory::new(store().clone());
    let events = replay(
        &rules(),
        &history,
        hour_at(SPIKE_DAY, 10),
        hour_at(SPIKE_DAY, 10),
    );
    let fired = &events[0];
    assert_eq!(fired.started_minute, minute_at(SPIKE_DAY, 10, 20));
    assert_eq!(fired.value, Some(30.0));
    // Days 0, 7 and 21 with weights 1, 2 and 4; day 14 has no data and is skipped.
    let baseline = fired.baseline.unwrap();
    assert!((baseline - 51.0 / 7.0).abs() < 1e-9, "{baseline}");
    let minutes: Vec<String> = fired.minutes.iter().map(|p| p.time.clone()).collect();
    assert_eq!(
        minutes,
        [
            "2026-10-29T10:20Z",
            "2026-10-29T10:21Z",
            "2026-10-29T10:22Z"
        ]
    );
    assert_eq!(
        fired.link,
        "http://ocelot.test:8080/t?domain=shop&hour=2026102910&type=URL&name=%2Fpay"
    );
    assert_eq!(
        fired.condition,
        "above baseline by more than 100% and 5 for 3 minutes"
    );
    let resolved = &events[1];
    assert_eq!(resolved.value, Some(7.0));
    assert_eq!(resolved.started_minute, minute_at(SPIKE_DAY, 10, 20));

    // The drop day looks back at days 1, 8, 15 and 22: all four present.
    let events = replay(
        &rules(),
        &history,
        hour_at(DROP_DAY, 13),
        hour_at(DROP_DAY, 13),
    );
    let baseline = events[0].baseline.unwrap();
    assert!((baseline - 6.6).abs() < 1e-9, "{baseline}");
    assert_eq!(events[0].value, Some(1.0));
}

#[test]
fn a_normal_day_fires_nothing() {
    let history = StoreHistory::new(store().clone());
    let events = replay(
        &rules(),
        &history,
        hour_at(NORMAL_DAY, 0),
        hour_at(NORMAL_DAY, 23),
    );
    assert_eq!(events, vec![]);
    assert_eq!(format_events(&events), "no alerts\n");
}

#[test]
fn the_replay_report_prints_one_line_per_event() {
    let history = StoreHistory::new(store().clone());
    let events = replay(
        &rules(),
        &history,
        hour_at(SPIKE_DAY, 10),
        hour_at(SPIKE_DAY, 10),
    );
    let text = format_events(&events);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        [
            "2026-10-29T10:22Z  FIRED     pay-spike  shop transaction URL /pay  count=30 baseline=7.29  \
             (above baseline by more than 100% and 5 for 3 minutes, since 2026-10-29T10:20Z)",
            "2026-10-29T10:25Z  RESOLVED  pay-spike  shop transaction URL /pay  count=7 baseline=7.29  \
             (above baseline by more than 100% and 5 for 3 minutes, since 2026-10-29T10:20Z)",
        ]
    );
    assert_eq!(
        MinuteLabel(minute_at(SPIKE_DAY, 10, 22)).to_string(),
        "2026-10-29T10:22Z"
    );
}

#[test]
fn rules_for_domains_missing_from_the_store_are_rejected_at_load() {
    let known = store().report_domains(hour_at(SPIKE_DAY, 10)).unwrap();
    assert_eq!(known, ["shop"]);
    let text = RULES.replacen("domain = \"shop\"", "domain = \"shopp\"", 1);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alerts.toml");
    std::fs::write(&path, text).unwrap();
    let error = RuleSet::load(&path, Some(&known)).unwrap_err();
    assert_eq!(
        error.to_string(),
        "rule \"pay-spike\": unknown domain \"shopp\" (known domains: shop)"
    );
    let text = RULES.replacen("measure = \"count\"", "measure = \"qps\"", 1);
    std::fs::write(&path, text).unwrap();
    let error = RuleSet::load(&path, Some(&known)).unwrap_err();
    assert_eq!(
        error.to_string(),
        "rule \"pay-spike\": unknown measure \"qps\" for the transaction report \
         (expected one of count, fail, failPercent, avg, p95)"
    );
}

#[test]
fn a_store_folder_read_without_opening_the_store_gives_the_same_reports() {
    use ocelot_alert::{ReportHistory, ReportKind};
    let open = StoreHistory::new(store().clone());
    let folder = StoreHistory::open(store_dir()).unwrap();
    let hour = hour_at(SPIKE_DAY, 10);
    let kind = ReportKind::Transaction;
    assert!(folder.report("shop", kind, hour).is_some());
    assert_eq!(
        folder.report("shop", kind, hour),
        open.report("shop", kind, hour)
    );
    assert_eq!(folder.report("shop", kind, hour_at(MISSING_DAY, 10)), None);
    assert_eq!(folder.report("../shop", kind, hour), None, "not a path");
    assert_eq!(folder.known_domains().unwrap(), ["shop"]);
    assert_eq!(open.known_domains().unwrap(), ["shop"]);
    assert!(folder.covers(hour) && open.covers(hour));
    assert!(!folder.covers(hour_at(MISSING_DAY, 10)) && !open.covers(hour_at(MISSING_DAY, 10)));
    let events = replay(
        &rules(),
        &folder,
        hour_at(SPIKE_DAY, 0),
        hour_at(NORMAL_DAY, 23),
    );
    let expected = replay(
        &rules(),
        &open,
        hour_at(SPIKE_DAY, 0),
        hour_at(NORMAL_DAY, 23),
    );
    assert_eq!(events, expected);
    assert_eq!(folder.read_errors(), 1, "the rejected `../shop`");
}

#[test]
fn the_replay_command_reads_a_data_directory_and_prints_the_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    {
        let mut config = ocelot_store::StoreConfig::new(&data);
        config.retention_days = 0;
        let store = ocelot_store::Store::open(config).unwrap();
        for day in [0, 7, 21, SPIKE_DAY] {
            let report = transaction_report(day, 10).to_json();
            store
                .write_report(hour_at(day, 10), "shop", "transaction", &report)
                .unwrap();
        }
        store.shutdown();
    }
    let rules = dir.path().join("alerts.toml");
    std::fs::write(&rules, RULES).unwrap();

    let text = ocelot_alert::replay_command(&rules, &data, "2026102910", "2026102910").unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "3 rules over 2026-10-29T10:00Z to 2026-10-29T10:59Z (UTC), 2 events"
    );
    assert!(
        lines[1].starts_with("2026-10-29T10:22Z  FIRED     pay-spike"),
        "{text}"
    );
    assert!(
        lines[2].starts_with("2026-10-29T10:25Z  RESOLVED  pay-spike"),
        "{text}"
    );
    assert_eq!(lines.len(), 3);

    // Hours 28 days back are still there: replay never applies retention.
    let again = ocelot_alert::replay_command(&rules, &data, "2026102910", "2026102910").unwrap();
    assert_eq!(again, text);

    // Minutes no server has stored yet (the open hour's last ones, the future) are not
    // replayed as empty minutes.
    let future = ocelot_alert::replay_command(&rules, &data, "2099010100", "2099010100").unwrap();
    assert!(
        future.lines().next().unwrap().ends_with(", 0 events"),
        "{future}"
    );
    assert!(
        future.contains("are not stored whole yet: not replayed"),
        "{future}"
    );
    assert!(!future.contains("FIRED"), "{future}");

    let error =
        ocelot_alert::replay_command(&rules, &data, "2026102911", "2026102910").unwrap_err();
    assert_eq!(
        error.to_string(),
        "--to 2026102910 is before --from 2026102911"
    );
    let error = ocelot_alert::replay_command(&rules, &data, "20261029", "2026102910").unwrap_err();
    assert_eq!(
        error.to_string(),
        "not an hour in the form YYYYMMDDHH (UTC): \"20261029\""
    );
    let error =
        ocelot_alert::replay_command(&rules, &dir.path().join("nope"), "2026102910", "2026102910")
            .unwrap_err();
    assert!(
        error.to_string().ends_with("nope: not a directory"),
        "{error}"
    );
    let other = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(other.path().join("empty")).unwrap();
    let error = ocelot_alert::replay_command(
        &rules,
        &other.path().join("empty"),
        "2026102910",
        "2026102910",
    )
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "rule \"pay-spike\": unknown domain \"shop\" (known domains: none yet)"
    );
}
