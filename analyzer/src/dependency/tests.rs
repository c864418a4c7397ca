use std::sync::Arc;

use ocelot_protocol::{Leaf, Message, Transaction};

use super::*;
use crate::config::{AnalyzerConfig, OTHERS};
use crate::test_support::{transaction, tree, HOUR_START_MS};
use crate::view_query::ViewQuery;
use crate::EventAnalyzer;

const HOUR: u64 = 498_703;

fn analyzer(config: AnalyzerConfig) -> EventAnalyzer {
    EventAnalyzer::new(HOUR, Arc::new(config))
}

fn event(type_: &str, name: &str, ts: u64) -> Message {
    Message::Event(Leaf::new(type_, name, "0", ts, ""))
}

/// A checkout: the URL calls payment-service (fails the second time), reads the shop
/// database twice, and is itself called by the gateway.
fn checkout(minute: u64, call_status: &str, call_us: u64) -> Transaction {
    let ts = HOUR_START_MS + minute * 60_000;
    let mut call = transaction("Call", "pay.charge", ts, call_us, call_status);
    call.children
        .push(event("Call.server", "10.0.0.9:2280", ts));
    call.children.push(event("Call.app", "payment-service", ts));
    let sql = |us| {
        let mut sql = transaction("SQL", "order.select", ts, us, "0");
        sql.children
            .push(event("SQL.Database", "jdbc:mysql://db1/shop", ts));
        Message::Transaction(sql)
    };
    let mut service = transaction("Service", "checkout", ts, 9_000, "0");
    service.children.push(event("Service.app", "gateway", ts));
    service.children.push(sql(1_000));
    service.children.push(Message::Transaction(call));
    service.children.push(sql(3_000));
    // Not edges: an `.app` event whose transaction is of another type, an unrelated event.
    service.children.push(event("Cache.app", "nobody", ts));
    service.children.push(event("Order", "created", ts));
    service
}

fn edge<'v>(view: &'v DependencyView, type_: &str, target: &str) -> &'v DependencyEdgeView {
    view.dependencies
        .iter()
        .find(|e| e.type_ == type_ && e.target == target)
        .unwrap_or_else(|| panic!("no edge {type_} -> {target}: {view:?}"))
}

#[test]
fn edge_events_count_their_transactions_calls_failures_and_durations() {
    let mut analyzer = analyzer(AnalyzerConfig::default());
    analyzer.process(&tree(
        "order",
        "10.0.0.1",
        "order-0a000001-498703-1",
        checkout(3, "0", 20_000),
    ));
    analyzer.process(&tree(
        "order",
        "10.0.0.2",
        "order-0a000002-498703-1",
        checkout(5, "TIMEOUT", 60_000),
    ));
    let view = analyzer.reports()["order"].dependencies(&ViewQuery {
        elapsed_seconds: 3600.0,
        ..ViewQuery::default()
    });
    assert_eq!(
        (view.domain.as_str(), view.hour.as_str()),
        ("order", "2026112207")
    );
    let kinds: Vec<_> = view
        .dependencies
        .iter()
        .map(|e| (e.type_.as_str(), e.target.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("Call", "payment-service"),
            ("Database", "jdbc:mysql://db1/shop"),
            ("Service", "gateway")
        ]
    );
    let pay = edge(&view, "Call", "payment-service");
    assert_eq!(
        (pay.role, pay.count, pay.fail, pay.fail_percent),
        ("caller", 2, 1, 50.0)
    );
    assert_eq!((pay.avg, pay.max), (40.0, 60.0));
    assert_eq!(pay.tps, 2.0 / 3600.0);
    let minutes: Vec<_> = pay
        .minutes
        .iter()
        .map(|m| (m.minute, m.count, m.fail, m.avg))
        .collect();
    assert_eq!(minutes, [(3, 1, 0, 20.0), (5, 1, 1, 60.0)]);
    let db = edge(&view, "Database", "jdbc:mysql://db1/shop");
    assert_eq!(
        (db.role, db.count, db.fail, db.avg, db.max),
        ("caller", 4, 0, 2.0, 3.0)
    );
    let gateway = edge(&view, "Service", "gateway");
    assert_eq!(
        (gateway.role, gateway.count, gateway.avg),
        ("callee", 2, 9.0)
    );
    let only_calls = analyzer.reports()["order"].dependencies(&ViewQuery {
        type_: Some("Call"),
        ..ViewQuery::default()
    });
    assert_eq!(only_calls.dependencies.len(), 1);
}

#[test]
fn events_that_name_no_edge_make_none() {
    let mut analyzer = analyzer(AnalyzerConfig::default());
    let ts = HOUR_START_MS;
    let mut root = transaction("URL", "/", ts, 1_000, "0");
    root.children.push(event("Call.app", "orphan", ts)); // in a URL, not a Call
    analyzer.process(&tree("web", "10.0.0.1", "web-0a000001-498703-1", root));
    let view = analyzer.reports()["web"].dependencies(&ViewQuery::default());
    assert!(view.dependencies.is_empty(), "{view:?}");
}

#[test]
fn reports_merge_across_collectors_and_survive_a_checkpoint() {
    let mut a = analyzer(AnalyzerConfig::default());
    let mut b = analyzer(AnalyzerConfig::default());
    let mut both = analyzer(AnalyzerConfig::default());
    for (i, (status, us)) in [("0", 10_000), ("ERR", 30_000), ("0", 50_000)]
        .into_iter()
        .enumerate()
    {
        let t = tree(
            "order",
            "10.0.0.1",
            &format!("order-0a000001-498703-{i}"),
            checkout(i as u64, status, us),
        );
        if i == 1 {
            b.process(&t)
        } else {
            a.process(&t)
        }
        both.process(&t);
    }
    let mut merged = a.reports()["order"].clone();
    merged.merge(&b.reports()["order"]);
    let query = ViewQuery::default();
    assert_eq!(
        merged.dependencies(&query),
        both.reports()["order"].dependencies(&query)
    );
    assert_eq!(merged.dependencies(&query).dependencies[0].count, 3);
    let json = serde_json::to_string(&merged).unwrap();
    let restored: crate::EventReport = serde_json::from_str(&json).unwrap();
    assert_eq!(restored.dependencies(&query), merged.dependencies(&query));
}

#[test]
fn targets_past_the_cap_fold_into_others() {
    let mut analyzer = analyzer(AnalyzerConfig {
        max_names_per_type: 2,
        ..AnalyzerConfig::default()
    });
    let ts = HOUR_START_MS;
    for (i, target) in ["a", "b", "c", "d"].iter().enumerate() {
        let mut call = transaction("Call", "x", ts, 1_000, "0");
        call.children.push(event("Call.app", target, ts));
        let mut root = transaction("URL", "/", ts, 2_000, "0");
        root.children.push(Message::Transaction(call));
        analyzer.process(&tree(
            "web",
            "10.0.0.1",
            &format!("web-0a000001-498703-{i}"),
            root,
        ));
    }
    let report = &analyzer.reports()["web"];
    let view = report.dependencies(&ViewQuery::default());
    let targets: Vec<_> = view
        .dependencies
        .iter()
        .map(|e| (e.target.as_str(), e.count))
        .collect();
    assert_eq!(targets, [(OTHERS, 2), ("a", 1), ("b", 1)]);
    assert_eq!(report.folded(), 2);
}

#[test]
fn real_c_client_frames_give_their_database_and_caller_edges() {
    let mut analyzer = analyzer(AnalyzerConfig::default());
    for tree in crate::test_support::binary_frames() {
        analyzer.process(&tree);
    }
    let view = analyzer.reports()["catgen"].dependencies(&ViewQuery::default());
    let db = edge(&view, "Database", "jdbc:mysql://db1:3306/orders");
    assert!(db.count >= 1 && db.role == "caller", "{db:?}");
    // `PigeonService.app` inside a `Service` transaction (the C client's spelling).
    let caller = edge(&view, "PigeonService", "payment-gateway");
    assert_eq!(
        (caller.role, caller.fail),
        ("callee", caller.count),
        "{caller:?}"
    );
}

/// A client's `System/EventAggregator` tree sums events of many trees (`@count;fail`): its
/// `SQL.Database` events sit in the aggregator's root, no call of theirs, so they are
/// counted as events but make no dependency call (they made one of 0 ms per tally).
#[test]
fn aggregated_edge_events_count_as_events_but_make_no_call() {
    let ts = HOUR_START_MS + 60_000;
    let mut root = transaction("System", "EventAggregator", ts, 0, "0");
    for (type_, name) in [
        ("SQL.Database", "jdbc:mysql://db1/shop"),
        ("Call.app", "payment"),
    ] {
        root.children
            .push(Message::Event(Leaf::new(type_, name, "0", ts, "@9;1")));
    }
    let mut analyzer = analyzer(AnalyzerConfig::default());
    analyzer.process(&tree("order", "10.0.0.1", "order-0a000001-498703-7", root));
    let report = &analyzer.reports()["order"];
    let view = report.dependencies(&ViewQuery::default());
    assert!(view.dependencies.is_empty(), "{view:?}");
    let events = report.view(&ViewQuery::default());
    let database = events
        .types
        .iter()
        .find(|t| t.type_ == "SQL.Database")
        .unwrap();
    assert_eq!((database.count, database.fail), (9, 1));
}

/// An event's transaction is found by a short search, or, past it, from a table of every
/// message's parent made once for the tree.
#[test]
fn parents_are_the_nearest_message_one_level_up_near_or_far() {
    let ts = HOUR_START_MS + 60_000;
    // root; a (1); a's events (2..=101); b (102); b's event (103); an event of the root (104)
    let mut a = transaction("SQL", "a", ts, 1_000, "0");
    for _ in 0..100 {
        a.children
            .push(event("SQL.Database", "jdbc:mysql://db/x", ts));
    }
    let mut b = transaction("Call", "b", ts, 1_000, "0");
    b.children.push(event("Call.app", "x", ts));
    let mut root = transaction("URL", "/", ts, 5_000, "0");
    root.children.push(Message::Transaction(a));
    root.children.push(Message::Transaction(b));
    root.children.push(event("Order", "made", ts));
    let tree = tree("order", "10.0.0.1", "order-0a000001-498703-1", root);
    let view = ocelot_protocol::TreeView::of(&tree);
    let mut near = Parents::default();
    assert_eq!(
        (near.of(&view, 0), near.of(&view, 2), near.of(&view, 103)),
        (None, Some(1), Some(102))
    );
    let mut far = Parents::default();
    assert_eq!(far.of(&view, 101), Some(1), "past the short search");
    assert_eq!(
        (far.of(&view, 100), far.of(&view, 103), far.of(&view, 104)),
        (Some(1), Some(102), Some(0))
    );
    assert_eq!(far.of(&view, 0), None);
}

/// A transaction of many edge events counts each, through either walk.
#[test]
fn many_edge_events_under_one_transaction_are_each_an_edge_call() {
    let ts = HOUR_START_MS + 60_000;
    let mut sql = transaction("SQL", "order.select", ts, 1_000, "0");
    for i in 0..2_000 {
        sql.children.push(event(
            "SQL.Database",
            &format!("jdbc:mysql://db{}/shop", i % 2),
            ts,
        ));
    }
    let mut root = transaction("URL", "/orders", ts, 5_000, "0");
    root.children.push(Message::Transaction(sql));
    let tree = tree("order", "10.0.0.1", "order-0a000001-498703-1", root);
    let mut events = analyzer(AnalyzerConfig::default());
    events.process(&tree);
    let mut all = crate::HourAnalyzers::new(HOUR, &Arc::new(AnalyzerConfig::default()));
    all.process(&tree);
    for reports in [events.reports(), all.event.reports()] {
        let view = reports["order"].dependencies(&ViewQuery::default());
        assert_eq!(
            edge(&view, "Database", "jdbc:mysql://db0/shop").count,
            1_000
        );
        assert_eq!(
            edge(&view, "Database", "jdbc:mysql://db1/shop").count,
            1_000
        );
    }
    let view = ocelot_protocol::TreeView::of(&tree);
    let mut parents = Parents::default();
    assert_eq!(
        edge_call(&view, 2_001, &mut parents).map(|m| m.name),
        Some("order.select")
    );
}
