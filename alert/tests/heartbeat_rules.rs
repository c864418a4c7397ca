//! Heartbeat rules: a machine's figure past a limit, and a machine that stopped sending
//! heartbeats. Heartbeats do not add up across machines, so a rule without `ip` watches
//! each machine of its domain on its own, and its alerts name the machine.

use std::ops::Range;
use std::sync::Arc;

use ocelot_alert::{
    format_events, replay, AlertError, AlertKind, AlertPhase, Alerting, Engine, MemoryHistory,
    Overlay, Report, ReportKind, RuleSet,
};
use ocelot_analyzer::{AnalyzerConfig, HeartbeatAnalyzer, StateReport};
use ocelot_protocol::{Header, Leaf, Message, MessageTree};

/// 2026-10-29T10:00Z, an hour index.
const HOUR: u64 = 20_755 * 24 + 10;

/// One machine's heartbeats in an hour: the minutes it sent one, and its `thread.count`
/// in each.
struct Machine<'a> {
    ip: &'a str,
    minutes: Range<u64>,
    threads: fn(u64) -> u64,
}

fn steady(_: u64) -> u64 {
    40
}

/// A heartbeat of machine `ip` of shop, sent at `at_ms`, with its `thread.count`.
fn heartbeat(ip: &str, at_ms: u64, threads: u64) -> MessageTree {
    let xml = format!("<status><thread count=\"{threads}\"/></status>");
    let header = Header {
        domain: "shop".into(),
        ip_address: ip.into(),
        ..Header::default()
    };
    let heartbeat = Leaf::new("Heartbeat", ip, "0", at_ms, &xml);
    MessageTree::new(header, Message::Heartbeat(heartbeat))
}

/// shop's heartbeat report of `hour`: each machine's heartbeats, sent 5 s into each of its
/// minutes, those sent by `until_ms` only (what a running collector holds then); an empty
/// report if none was.
fn heartbeats(hour: u64, machines: &[Machine<'_>], until_ms: u64) -> Report {
    let mut analyzer = HeartbeatAnalyzer::new(hour, Arc::new(AnalyzerConfig::default()));
    for machine in machines {
        for minute in machine.minutes.clone() {
            let at = hour * 3_600_000 + minute * 60_000 + 5_000;
            if at > until_ms {
                continue;
            }
            analyzer.process(&heartbeat(machine.ip, at, (machine.threads)(minute)));
        }
    }
    match analyzer.reports().get("shop") {
        Some(report) => Report::Heartbeat(report.clone()),
        None => Report::empty(ReportKind::Heartbeat, "shop", hour),
    }
}

/// A rule set of one heartbeat rule of shop, `r`, with the lines of `rule`.
fn rule_set(rule: &str) -> Result<RuleSet, AlertError> {
    let text = format!("[[rule]]\nid = \"r\"\ndomain = \"shop\"\nreport = \"heartbeat\"\n{rule}");
    RuleSet::from_toml_str(&text, None)
}

fn rules(rule: &str) -> RuleSet {
    rule_set(rule).unwrap()
}

fn error_of(rule: &str) -> String {
    rule_set(rule).unwrap_err().to_string()
}

/// `(kind, minute of the hour HOUR, machine)` of each event.
fn seen(events: &[ocelot_alert::AlertEvent]) -> Vec<(AlertKind, i64, String)> {
    events
        .iter()
        .map(|e| {
            let minute = e.minute as i64 - (HOUR * 60) as i64;
            (e.kind, minute, e.scope.ip.clone().unwrap_or_default())
        })
        .collect()
}

#[test]
fn heartbeat_rules_load_and_mistakes_are_clear_errors() {
    let set = rules("name = \"thread.count\"\nmeasure = \"value\"\nabove = 500.0");
    let rule = &set.rules()[0];
    assert!(rule.per_machine());
    assert_eq!(rule.scope.to_string(), "shop heartbeat thread.count");
    let set = rules("ip = \"10.0.0.7\"\nmeasure = \"heartbeats\"\nbelow = 1.0\nfor_minutes = 3");
    assert!(!set.rules()[0].per_machine());
    assert_eq!(set.rules()[0].scope.to_string(), "shop heartbeat 10.0.0.7");

    assert_eq!(
        error_of("type = \"memory\"\nname = \"heap\"\nmeasure = \"value\"\nabove = 1.0"),
        "rule \"r\": heartbeat rules take no `type`; the figure's key is `name`"
    );
    assert!(error_of("measure = \"value\"\nabove = 1.0").contains("need `name`"));
    assert!(
        error_of("name = \"x\"\nmeasure = \"heartbeats\"\nbelow = 1.0")
            .contains("leave out `name`")
    );
    assert!(error_of("name = \"x\"\nmeasure = \"count\"\nabove = 1.0")
        .contains("unknown measure \"count\" for the heartbeat report (expected one of value, heartbeats)"));
    assert!(error_of("measure = \"heartbeats\"\nabove = 0.0").contains("`below = 1` fires"));
    assert!(error_of("measure = \"heartbeats\"\nbelow = 0.0").contains("can never fire"));
    assert!(error_of("measure = \"heartbeats\"\nbelow = 2.0").contains("always fires"));
    assert!(error_of("measure = \"heartbeats\"\nbaseline = \"below\"")
        .contains("takes a threshold, not a baseline"));
    assert!(
        error_of("name = \"x\"\nmeasure = \"value\"\nbaseline = \"above\"")
            .contains("baseline heartbeat rules need `ip`")
    );
    assert!(
        error_of("ip = \"All\"\nmeasure = \"heartbeats\"\nbelow = 1.0")
            .contains("is not a machine")
    );
    assert!(error_of("ip = \"\"\nmeasure = \"heartbeats\"\nbelow = 1.0").contains("`ip` is empty"));
    assert!(
        error_of("ip = \"10.0.0.7\"\nmeasure = \"heartbeats\"\nbelow = 1.0\nmachine = 1")
            .contains("unknown field `machine`")
    );
    // `ip` is for heartbeat rules only: the other reports add up every machine.
    let other = "[[rule]]\nid = \"r\"\ndomain = \"shop\"\nreport = \"event\"\nip = \"10.0.0.7\"\n\
                 measure = \"count\"\nabove = 1.0";
    assert!(RuleSet::from_toml_str(other, None)
        .unwrap_err()
        .to_string()
        .contains("`ip` picks the machine of heartbeat rules only"));
    // A baseline on one named machine's figure is fine.
    rules("ip = \"10.0.0.7\"\nname = \"x\"\nmeasure = \"value\"\nbaseline = \"above\"");
}

#[test]
fn a_machine_whose_figure_crosses_a_threshold_fires_and_resolves_on_its_own() {
    let set = rules("name = \"thread.count\"\nmeasure = \"value\"\nabove = 500.0\nfor_minutes = 2");
    let mut history = MemoryHistory::new();
    let busy = |minute: u64| if (10..15).contains(&minute) { 600 } else { 40 };
    let machines = [
        Machine {
            ip: "10.0.0.1",
            minutes: 0..60,
            threads: steady,
        },
        Machine {
            ip: "10.0.0.2",
            minutes: 0..60,
            threads: busy,
        },
    ];
    history.insert("shop", HOUR, heartbeats(HOUR, &machines, u64::MAX));
    let events = replay(&set, &history, HOUR, HOUR);
    assert_eq!(
        seen(&events),
        [
            (AlertKind::Fired, 11, "10.0.0.2".to_owned()),
            (AlertKind::Resolved, 15, "10.0.0.2".to_owned()),
        ]
    );
    assert_eq!(events[0].value, Some(600.0));
    assert!(
        events[0]
            .link
            .ends_with("/h?domain=shop&hour=2026102910&ip=10.0.0.2"),
        "{}",
        events[0].link
    );
    // The replay output names the machine.
    let text = format_events(&events);
    assert!(
        text.starts_with(
            "2026-10-29T10:11Z  FIRED     r  shop heartbeat 10.0.0.2 thread.count  value=600"
        ),
        "{text}"
    );
    // Each machine is a row of the Alerts page, with its own state.
    let mut engine = Engine::new(set);
    engine.evaluate_minutes(HOUR * 60, HOUR * 60 + 12, &history);
    let phases: Vec<_> = engine
        .statuses()
        .into_iter()
        .map(|s| (s.scope.ip.unwrap(), s.phase, s.last_value))
        .collect();
    assert_eq!(
        phases,
        [
            ("10.0.0.1".to_owned(), AlertPhase::Ok, Some(40.0)),
            ("10.0.0.2".to_owned(), AlertPhase::Firing, Some(600.0)),
        ]
    );
}

#[test]
fn a_machine_that_goes_silent_fires_and_machines_not_heard_lately_do_not() {
    let set = rules("measure = \"heartbeats\"\nbelow = 1.0\nfor_minutes = 3");
    let mut history = MemoryHistory::new();
    // The hour before: .1 throughout, .3 until its last heartbeat at 09:29.
    let before = [
        Machine {
            ip: "10.0.0.1",
            minutes: 0..60,
            threads: steady,
        },
        Machine {
            ip: "10.0.0.3",
            minutes: 0..30,
            threads: steady,
        },
    ];
    history.insert("shop", HOUR - 1, heartbeats(HOUR - 1, &before, u64::MAX));
    // This hour: .1 stops after 10:19; .2 starts at 10:30 (a new machine: its minutes
    // before are not silent ones).
    let now = [
        Machine {
            ip: "10.0.0.1",
            minutes: 0..20,
            threads: steady,
        },
        Machine {
            ip: "10.0.0.2",
            minutes: 30..60,
            threads: steady,
        },
    ];
    history.insert("shop", HOUR, heartbeats(HOUR, &now, u64::MAX));
    history.cover(HOUR + 1);
    let mut engine = Engine::new(set);
    let events = engine.evaluate_minutes((HOUR - 1) * 60, HOUR * 60 + 59, &history);
    assert_eq!(
        seen(&events),
        [
            (AlertKind::Fired, -28, "10.0.0.3".to_owned()),
            (AlertKind::Fired, 22, "10.0.0.1".to_owned()),
        ]
    );
    let text = format_events(&events);
    assert!(
        text.contains("2026-10-29T10:22Z  FIRED     r  shop heartbeat 10.0.0.1  heartbeats=0"),
        "{text}"
    );
    // .3, silent all of 10:00 and heard from in 09:00, is still watched (and firing);
    // in 11:00 it is not: it goes without a `resolved` it never earned, and without
    // further events. .1 (heard in 10:00) stays firing; .2 goes silent at 11:00.
    let statuses = |engine: &Engine| -> Vec<(String, AlertPhase)> {
        let statuses = engine.statuses().into_iter();
        statuses.map(|s| (s.scope.ip.unwrap(), s.phase)).collect()
    };
    assert_eq!(statuses(&engine).len(), 3);
    let later = engine.evaluate_minutes((HOUR + 1) * 60, (HOUR + 1) * 60 + 59, &history);
    assert_eq!(
        seen(&later),
        [(AlertKind::Fired, 62, "10.0.0.2".to_owned())]
    );
    assert_eq!(
        statuses(&engine),
        [
            ("10.0.0.1".to_owned(), AlertPhase::Firing),
            ("10.0.0.2".to_owned(), AlertPhase::Firing),
        ],
        ".3 is no longer watched"
    );
}

#[test]
fn an_ocelot_outage_does_not_fire_stopped_sending() {
    let set = rules("measure = \"heartbeats\"\nbelow = 1.0\nfor_minutes = 3");
    let mut history = MemoryHistory::new();
    // Ocelot is down from 10:20 to 10:40: nothing of those minutes reached it.
    let up = |minute: u64| !(20..40).contains(&minute);
    let report = heartbeats_when(HOUR, "10.0.0.1", up);
    history.insert("shop", HOUR, report);
    // Without the State report the outage looks like a silent machine.
    let unknown = replay(&set, &history, HOUR, HOUR);
    assert_eq!(
        seen(&unknown),
        [
            (AlertKind::Fired, 22, "10.0.0.1".to_owned()),
            (AlertKind::Resolved, 40, "10.0.0.1".to_owned()),
        ]
    );
    let mut state = StateReport::new(HOUR);
    for minute in (0..60).filter(|&m| up(m)) {
        state.record_queue_depth(HOUR * 3_600_000 + minute * 60_000, "analyzer-0", 0);
    }
    history.insert_state(state);
    let events = replay(&set, &history, HOUR, HOUR);
    assert!(events.is_empty(), "{}", format_events(&events));
}

/// shop's heartbeat report of `hour` with one machine's heartbeats in the minutes `sent`.
fn heartbeats_when(hour: u64, ip: &str, sent: impl Fn(u64) -> bool) -> Report {
    let mut analyzer = HeartbeatAnalyzer::new(hour, Arc::new(AnalyzerConfig::default()));
    for minute in (0..60).filter(|&m| sent(m)) {
        let at = hour * 3_600_000 + minute * 60_000 + 5_000;
        analyzer.process(&heartbeat(ip, at, 1));
    }
    Report::Heartbeat(analyzer.reports()["shop"].clone())
}

/// The live loop across an hour's end agrees with a replay of what was stored: the hour
/// before is read for its machines from the collector (not the store's checkpoint of it,
/// up to a minute old), and a machine heard from only later is not silent before that.
#[test]
fn live_and_replay_agree_on_a_machine_going_silent_at_the_end_of_an_hour() {
    let set = rules("measure = \"heartbeats\"\nbelow = 1.0\nfor_minutes = 3");
    // .1 sends its last heartbeat at 10:59:05; .2 starts at 11:10.
    let first_hour = [Machine {
        ip: "10.0.0.1",
        minutes: 0..60,
        threads: steady,
    }];
    let second_hour = [Machine {
        ip: "10.0.0.2",
        minutes: 10..60,
        threads: steady,
    }];
    let report_at = |hour: u64, until_ms: u64| {
        // 09:00, the hour before the start, had no heartbeat.
        let machines: &[Machine<'_>] = match hour.wrapping_sub(HOUR) {
            0 => &first_hour,
            1 => &second_hour,
            _ => &[],
        };
        heartbeats(hour, machines, until_ms)
    };
    let mut engine = Engine::new(set.clone());
    // The server started at 10:50:30.
    engine.start_after(HOUR * 3_600_000 + 50 * 60_000 + 30_000);
    // The store has no checkpoint of 10:00 yet (the collector still holds it whole).
    let stored = MemoryHistory::new();
    let mut live_events = Vec::new();
    let end = (HOUR + 1) * 3_600_000 + 20 * 60_000;
    let mut now = HOUR * 3_600_000 + 51 * 60_000;
    while now <= end {
        let mut live = MemoryHistory::new();
        let wanted = engine.wanted_reports(now);
        for r in &wanted {
            assert_eq!(r.kind, ReportKind::Heartbeat);
            live.insert(&r.domain, r.hour, report_at(r.hour, now));
            if r.watched {
                live.cover(r.hour);
            }
        }
        live_events.extend(engine.evaluate(now, &Overlay(live, &stored)));
        now += 15_000;
    }
    let mut stored = MemoryHistory::new();
    stored.insert("shop", HOUR, report_at(HOUR, u64::MAX));
    stored.insert("shop", HOUR + 1, report_at(HOUR + 1, u64::MAX));
    let replayed: Vec<_> = replay(&set, &stored, HOUR, HOUR + 1)
        .into_iter()
        .filter(|e| e.minute > HOUR * 60 + 50 && e.minute < (HOUR + 1) * 60 + 20)
        .collect();
    assert_eq!(
        seen(&live_events),
        [(AlertKind::Fired, 62, "10.0.0.1".to_owned())]
    );
    assert_eq!(live_events, replayed);
}

#[test]
fn each_machines_state_outlives_a_restart() {
    let set = rules("measure = \"heartbeats\"\nbelow = 1.0");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let mut history = MemoryHistory::new();
    let machines = [
        Machine {
            ip: "10.0.0.1",
            minutes: 0..60,
            threads: steady,
        },
        Machine {
            ip: "10.0.0.2",
            minutes: 0..30,
            threads: steady,
        },
    ];
    history.insert("shop", HOUR, heartbeats(HOUR, &machines, u64::MAX));
    let mut alerting = Alerting::new(set.clone());
    alerting.restore_state(&path);
    let now = HOUR * 3_600_000 + 41 * 60_000 + 15_000;
    let events = alerting.tick(now, &history);
    assert_eq!(
        seen(&events),
        [(AlertKind::Fired, 40, "10.0.0.2".to_owned())]
    );
    alerting.save_state(now);
    drop(alerting);

    let mut restarted = Alerting::new(set);
    restarted.restore_state(&path);
    let phases: Vec<_> = restarted
        .engine()
        .statuses()
        .into_iter()
        .map(|s| (s.scope.ip.unwrap(), s.phase))
        .collect();
    assert_eq!(
        phases,
        [
            ("10.0.0.1".to_owned(), AlertPhase::Ok),
            ("10.0.0.2".to_owned(), AlertPhase::Firing),
        ]
    );
    // Still silent: firing, not paged again.
    let later = HOUR * 3_600_000 + 42 * 60_000 + 15_000;
    assert!(restarted.tick(later, &history).is_empty());
}

#[test]
fn a_named_machines_figure_is_compared_with_its_own_baseline() {
    let text = "[baseline]\ndays_back = [1]\nweights = [1]\nsmoothing_window_minutes = 0\n\
                [[rule]]\nid = \"r\"\ndomain = \"shop\"\nreport = \"heartbeat\"\n\
                ip = \"10.0.0.2\"\nname = \"thread.count\"\nmeasure = \"value\"\n\
                baseline = \"above\"\nmargin_percent = 100.0";
    let set = RuleSet::from_toml_str(text, None).unwrap();
    let busy = |minute: u64| if minute == 10 { 600 } else { 40 };
    // Yesterday .2 ran 40 threads and .1 ran 600: .2's baseline is its own 40.
    let yesterday = [
        Machine {
            ip: "10.0.0.1",
            minutes: 0..60,
            threads: |_| 600,
        },
        Machine {
            ip: "10.0.0.2",
            minutes: 0..60,
            threads: steady,
        },
    ];
    let today = [Machine {
        ip: "10.0.0.2",
        minutes: 0..60,
        threads: busy,
    }];
    let mut history = MemoryHistory::new();
    history.insert(
        "shop",
        HOUR - 24,
        heartbeats(HOUR - 24, &yesterday, u64::MAX),
    );
    history.insert("shop", HOUR, heartbeats(HOUR, &today, u64::MAX));
    let events = replay(&set, &history, HOUR, HOUR);
    assert_eq!(
        seen(&events),
        [
            (AlertKind::Fired, 10, "10.0.0.2".to_owned()),
            (AlertKind::Resolved, 11, "10.0.0.2".to_owned()),
        ]
    );
    assert_eq!(events[0].baseline, Some(40.0));
}
