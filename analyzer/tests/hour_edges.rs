//! A tree belongs to the hour its root started in; its later messages may fall past the
//! hour's end, and a skewed client clock may stamp a child hours away from its root. A
//! message outside the hour counts at its root's minute, not at the same minute of another
//! hour, nor at the hour's edge.

use std::sync::Arc;

use ocelot_analyzer::{
    AnalyzerConfig, EventAnalyzer, HeartbeatAnalyzer, HourAnalyzers, MetricAnalyzer,
    ProblemAnalyzer, TransactionAnalyzer, ViewQuery,
};
use ocelot_protocol::{Header, Leaf, Message, MessageTree, Transaction};

const HOUR: u64 = 498_703;
const HOUR_START_MS: u64 = HOUR * 3_600_000;

/// 06:59:50 a URL request starts and runs 20 s; its slow SQL call and a failed `Error`
/// event happen at 07:00:05, in the same tree.
fn long_request() -> MessageTree {
    let mut root = Transaction::new("URL", "/report", HOUR_START_MS + 3_590_000);
    root.duration_us = 20_000_000;
    let late = HOUR_START_MS + 3_605_000;
    let mut sql = Transaction::new("SQL", "select", late);
    sql.duration_us = 2_000_000;
    root.children.push(Message::Transaction(sql));
    root.children.push(Message::Event(Leaf::new(
        "Error",
        "java.lang.IllegalStateException",
        "ERROR",
        late,
        "",
    )));
    let header = Header {
        domain: "shop".into(),
        ip_address: "10.0.0.1".into(),
        message_id: "shop-0a000001-498703-1".into(),
        ..Header::default()
    };
    MessageTree::new(header, Message::Transaction(root))
}

fn whole_hour() -> ViewQuery<'static> {
    ViewQuery {
        elapsed_seconds: 3600.0,
        ..ViewQuery::default()
    }
}

#[test]
fn a_message_after_its_roots_hour_counts_at_the_hours_last_minute() {
    let config = Arc::new(AnalyzerConfig::default());
    let tree = long_request();

    let mut transactions = TransactionAnalyzer::new(HOUR, config.clone());
    transactions.process(&tree);
    let view = transactions.reports()["shop"].view(&whole_hour());
    let minutes_of = |type_: &str| -> Vec<u8> {
        let t = view.types.iter().find(|t| t.type_ == type_).unwrap();
        t.names[0].minutes.iter().map(|m| m.minute).collect()
    };
    assert_eq!(minutes_of("URL"), [59]);
    assert_eq!(
        minutes_of("SQL"),
        [59],
        "not at 06:00, before its request began"
    );

    let mut events = EventAnalyzer::new(HOUR, config.clone());
    events.process(&tree);
    let view = events.reports()["shop"].view(&whole_hour());
    let error = view.types.iter().find(|t| t.type_ == "Error").unwrap();
    let minutes: Vec<u8> = error.names[0].minutes.iter().map(|m| m.minute).collect();
    assert_eq!(minutes, [59]);

    let mut problems = ProblemAnalyzer::new(HOUR, config);
    problems.process(&tree);
    let view = problems.reports()["shop"].view(&whole_hour());
    assert!(!view.problems.is_empty());
    for problem in &view.problems {
        let minutes: Vec<u8> = problem.minutes.iter().map(|m| m.minute).collect();
        assert_eq!(minutes, [59], "{} {}", problem.category, problem.name);
    }
}

#[test]
fn a_metric_or_heartbeat_after_its_roots_hour_counts_at_the_hours_last_minute() {
    let config = Arc::new(AnalyzerConfig::default());
    let mut tree = long_request();
    let late = HOUR_START_MS + 3_605_000;
    let Message::Transaction(root) = &mut tree.root else {
        unreachable!("a transaction root")
    };
    root.children
        .push(Message::Metric(Leaf::new("", "orders", "C", late, "3")));
    root.children.push(Message::Heartbeat(Leaf::new(
        "Heartbeat",
        "10.0.0.1",
        "0",
        late,
        r#"<status><thread count="60"/></status>"#,
    )));

    let mut metrics = MetricAnalyzer::new(HOUR, config.clone());
    metrics.process(&tree);
    let view = metrics.reports()["shop"].view(&whole_hour());
    let minutes: Vec<(u8, u64)> = view.metrics[0]
        .minutes
        .iter()
        .map(|m| (m.minute, m.count))
        .collect();
    assert_eq!(minutes, [(59, 3)], "not at 06:00");

    let mut heartbeats = HeartbeatAnalyzer::new(HOUR, config);
    heartbeats.process(&tree);
    let view = heartbeats.reports()["shop"].view(&whole_hour());
    let minutes: Vec<u8> = view.minutes.iter().map(|m| m.minute).collect();
    assert_eq!(minutes, [59], "not at 06:00");
}

/// A request at 06:30:10 whose children a broken client clock stamped 03:30:20 and
/// 08:30:30: an `SQL` call (slow and failed), a failed `Error` event, a metric and a
/// heartbeat at each time, and one `SQL` call in the hour, at 06:45.
fn request_with_skewed_children() -> MessageTree {
    let root_ms = HOUR_START_MS + 30 * 60_000 + 10_000;
    let mut root = Transaction::new("URL", "/report", root_ms);
    root.duration_us = 50_000;
    let early = root_ms - 3 * 3_600_000 + 10_000;
    let late = root_ms + 2 * 3_600_000 + 20_000;
    for (name, at) in [("skewed", early), ("skewed", late)] {
        let mut sql = Transaction::new("SQL", name, at);
        sql.duration_us = 2_000_000;
        sql.status = "ERROR".into();
        root.children.push(Message::Transaction(sql));
        root.children.push(Message::Event(Leaf::new(
            "Error",
            "java.lang.IllegalStateException",
            "ERROR",
            at,
            "",
        )));
        root.children
            .push(Message::Metric(Leaf::new("", "orders", "C", at, "3")));
        root.children.push(Message::Heartbeat(Leaf::new(
            "Heartbeat",
            "10.0.0.1",
            "0",
            at,
            r#"<status><thread count="60"/></status>"#,
        )));
    }
    let in_hour = Transaction::new("SQL", "in-hour", HOUR_START_MS + 45 * 60_000);
    root.children.push(Message::Transaction(in_hour));
    let header = Header {
        domain: "shop".into(),
        ip_address: "10.0.0.1".into(),
        message_id: "shop-0a000001-498703-2".into(),
        ..Header::default()
    };
    MessageTree::new(header, Message::Transaction(root))
}

#[test]
fn a_message_stamped_hours_away_from_its_root_counts_at_the_roots_minute() {
    let config = Arc::new(AnalyzerConfig::default());
    let tree = request_with_skewed_children();

    let mut transactions = TransactionAnalyzer::new(HOUR, config.clone());
    transactions.process(&tree);
    let view = transactions.reports()["shop"].view(&whole_hour());
    let sql = view.types.iter().find(|t| t.type_ == "SQL").unwrap();
    let minutes_of = |name: &str| -> Vec<(u8, u64)> {
        let n = sql.names.iter().find(|n| n.name == name).unwrap();
        n.minutes.iter().map(|m| (m.minute, m.count)).collect()
    };
    assert_eq!(minutes_of("skewed"), [(30, 2)], "not at minutes 0 and 59");
    assert_eq!(minutes_of("in-hour"), [(45, 1)], "its own minute");

    let mut events = EventAnalyzer::new(HOUR, config.clone());
    events.process(&tree);
    let view = events.reports()["shop"].view(&whole_hour());
    let error = view.types.iter().find(|t| t.type_ == "Error").unwrap();
    let minutes: Vec<(u8, u64)> = (error.names[0].minutes.iter())
        .map(|m| (m.minute, m.count))
        .collect();
    assert_eq!(minutes, [(30, 2)]);

    let mut problems = ProblemAnalyzer::new(HOUR, config.clone());
    problems.process(&tree);
    let view = problems.reports()["shop"].view(&whole_hour());
    assert!(view.problems.len() >= 3, "{:?}", view.problems);
    for problem in &view.problems {
        let minutes: Vec<(u8, u64)> = problem
            .minutes
            .iter()
            .map(|m| (m.minute, m.count))
            .collect();
        assert_eq!(minutes, [(30, 2)], "{} {}", problem.category, problem.name);
    }

    let mut metrics = MetricAnalyzer::new(HOUR, config.clone());
    metrics.process(&tree);
    let view = metrics.reports()["shop"].view(&whole_hour());
    let minutes: Vec<(u8, u64)> = (view.metrics[0].minutes.iter())
        .map(|m| (m.minute, m.count))
        .collect();
    assert_eq!(minutes, [(30, 6)]);

    let mut heartbeats = HeartbeatAnalyzer::new(HOUR, config.clone());
    heartbeats.process(&tree);
    let view = heartbeats.reports()["shop"].view(&whole_hour());
    let minutes: Vec<u8> = view.minutes.iter().map(|m| m.minute).collect();
    assert_eq!(minutes, [30]);

    // The five on one walk, as the collector runs them, count the same.
    let mut hour = HourAnalyzers::new(HOUR, &config);
    hour.process(&tree);
    assert_eq!(
        hour.transaction.reports()["shop"],
        transactions.reports()["shop"]
    );
    assert_eq!(hour.event.reports()["shop"], events.reports()["shop"]);
    assert_eq!(hour.problem.reports()["shop"], problems.reports()["shop"]);
}
