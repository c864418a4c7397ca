use std::collections::BTreeMap;
use std::sync::Arc;

use ocelot_protocol::{Leaf, Message, MessageTree, Transaction};
use proptest::prelude::*;

use super::*;
use crate::config::{AnalyzerConfig, OTHERS};
use crate::test_support::{binary_frame, samples, transaction, tree, trees_of, HOUR_START_MS};
use crate::view_query::ViewQuery;

const HOUR: u64 = 498_703;

fn run_with(config: AnalyzerConfig, trees: &[MessageTree]) -> BTreeMap<String, MatrixReport> {
    let mut analyzer = MatrixAnalyzer::new(HOUR, Arc::new(config));
    for tree in trees {
        analyzer.process(tree);
    }
    analyzer.into_reports()
}

fn run(trees: &[MessageTree]) -> BTreeMap<String, MatrixReport> {
    run_with(AnalyzerConfig::default(), trees)
}

/// The entry `type_`/`name` of `domain`'s view.
fn entry(reports: &BTreeMap<String, MatrixReport>, type_: &str, name: &str) -> MatrixNameView {
    let view = reports["shop"].view(&ViewQuery::default());
    (view.names.into_iter())
        .find(|n| n.type_ == type_ && n.name == name)
        .unwrap_or_else(|| panic!("no {type_} {name}"))
}

/// The calls of `kind` in `entry`.
fn calls<'a>(entry: &'a MatrixNameView, kind: &str) -> &'a MatrixCallsView {
    entry.calls.iter().find(|c| c.kind == kind).unwrap()
}

/// A child transaction of `type_` taking `duration_us`.
fn call(type_: &str, duration_us: u64) -> Message {
    Message::Transaction(transaction(type_, "x", HOUR_START_MS, duration_us, "0"))
}

/// A request of `shop`: a root `type_`/`name` of `duration_us` holding `children`, with
/// message ID sequence `seq`.
fn request(
    type_: &str,
    name: &str,
    duration_us: u64,
    children: Vec<Message>,
    seq: u64,
) -> MessageTree {
    let mut root = transaction(type_, name, HOUR_START_MS + 60_000, duration_us, "0");
    root.children = children;
    tree(
        "shop",
        "10.0.0.1",
        &format!("shop-0a000001-{HOUR}-{seq}"),
        root,
    )
}

/// `n` SQL calls of 1 ms each.
fn sql_calls(n: usize) -> Vec<Message> {
    (0..n).map(|_| call("SQL", 1_000)).collect()
}

#[test]
fn the_captured_requests_count_their_sql_and_cache_calls() {
    // S01: URL with one SQL (with two events) and one failed Cache.redis; S02 and S09b:
    // Services without calls; S09a (a Call root) and the others are not requests.
    let trees: Vec<MessageTree> = (1..=29).map(binary_frame).collect();
    let reports = run(&trees);
    let view = reports["catgen"].view(&ViewQuery::default());
    let names: Vec<(&str, &str, u64)> = (view.names.iter())
        .map(|n| (n.type_.as_str(), n.name.as_str(), n.count))
        .collect();
    assert_eq!(
        names,
        [
            ("Service", "OrderService.query", 1),
            ("Service", "PaymentService.pay", 1),
            ("URL", "/api/order/create", 1),
        ]
    );
    let url = &view.names[2];
    let figures: Vec<(&str, u64, u64, u64)> = (url.calls.iter())
        .map(|c| (c.kind, c.count, c.min_per_request, c.max_per_request))
        .collect();
    assert_eq!(
        figures,
        [("Call", 0, 0, 0), ("SQL", 1, 1, 1), ("Cache", 1, 1, 1)]
    );
    assert_eq!(url.sample, "catgen-c0000202-498703-10027");
    assert_eq!(calls(url, "SQL").max_sample, url.sample);
    assert_eq!(calls(url, "Call").max_sample, "", "no request made a call");
    // The calls' time is part of the request's.
    let sql = calls(url, "SQL");
    assert!(sql.sum > 0.0 && sql.sum < url.sum, "{sql:?} {url:?}");
    assert!((sql.time_percent - 100.0 * sql.sum / url.sum).abs() < 1e-9);
}

#[test]
fn an_n_plus_one_request_stands_out_by_its_most_calls_and_their_id() {
    let trees = [
        request("URL", "/orders", 10_000, sql_calls(2), 1),
        request("URL", "/orders", 10_000, sql_calls(300), 2),
        request("URL", "/orders", 10_000, sql_calls(4), 3),
        // As many as the worst: the first to make them keeps the link.
        request("URL", "/orders", 400_000, sql_calls(300), 4),
    ];
    let reports = run(&trees);
    let orders = entry(&reports, "URL", "/orders");
    assert_eq!((orders.count, orders.sum, orders.avg), (4, 430.0, 107.5));
    let sql = calls(&orders, "SQL");
    assert_eq!(sql.count, 606);
    assert_eq!(sql.per_request, 151.5);
    assert_eq!((sql.min_per_request, sql.max_per_request), (2, 300));
    assert_eq!(sql.max_sample, format!("shop-0a000001-{HOUR}-2"));
    assert_eq!((sql.sum, sql.avg), (606.0, 1.0));
    assert!((sql.time_percent - 100.0 * 606.0 / 430.0).abs() < 1e-9);
    assert_eq!(orders.sample, format!("shop-0a000001-{HOUR}-1"));
}

#[test]
fn calls_count_at_any_depth_by_kind_and_only_under_an_entry_root() {
    // A Call holding an SQL, a PigeonCall, Cache.* of two kinds: each counts as its kind,
    // nested or not. `Cache` without a kind, `sql` and `Call.server` events are no calls.
    let mut remote = transaction("Call", "pay", HOUR_START_MS, 5_000, "0");
    remote.children.push(call("SQL", 2_000));
    remote.children.push(Message::Event(Leaf::new(
        "Call.server",
        "10.0.0.5",
        "0",
        0,
        "",
    )));
    let children = vec![
        Message::Transaction(remote),
        call("PigeonCall", 3_000),
        call("Cache.redis", 100),
        call("Cache.memcached", 200),
        call("Cache", 50),
        call("sql", 50),
    ];
    let mut trees = vec![request("PigeonService", "pay", 20_000, children.clone(), 1)];
    // Not requests: another root type, a lower-case `url`, a call as the root.
    for type_ in ["Job", "url", "SQL", "Call"] {
        trees.push(request(type_, "pay", 20_000, children.clone(), 2));
    }
    let reports = run(&trees);
    assert_eq!(reports["shop"].view(&ViewQuery::default()).names.len(), 1);
    let pay = entry(&reports, "PigeonService", "pay");
    let counted: Vec<(&str, u64, f64)> = (pay.calls.iter())
        .map(|c| (c.kind, c.count, c.sum))
        .collect();
    assert_eq!(
        counted,
        [("Call", 2, 8.0), ("SQL", 1, 2.0), ("Cache", 2, 0.3)]
    );
}

#[test]
fn the_fewest_calls_counts_requests_that_made_none_in_whatever_order() {
    // CAT took a minimum of 0 for "not set" and replaced it by the next request's count.
    for order in [[0, 3, 5], [3, 0, 5], [5, 3, 0]] {
        let trees: Vec<MessageTree> = (order.iter().enumerate())
            .map(|(i, &n)| request("URL", "/a", 1_000, sql_calls(n), i as u64))
            .collect();
        let reports = run(&trees);
        let sql = calls(&entry(&reports, "URL", "/a"), "SQL").clone();
        assert_eq!(
            (sql.min_per_request, sql.max_per_request),
            (0, 5),
            "{order:?}"
        );
    }
    let reports = run(&[request("Service", "s", 1_000, sql_calls(2), 1)]);
    let sql = calls(&entry(&reports, "Service", "s"), "SQL").clone();
    assert_eq!((sql.min_per_request, sql.max_per_request), (2, 2));
}

#[test]
fn a_request_is_named_as_the_transaction_report_names_its_root() {
    let trees = [
        request("URL", "/order/42/items", 1_000, sql_calls(1), 1),
        request("URL", "/order/7/items", 1_000, sql_calls(3), 2),
    ];
    let reports = run(&trees);
    let order = entry(&reports, "URL", "/order/{num}/items");
    assert_eq!((order.count, calls(&order, "SQL").count), (2, 4));
}

#[test]
fn a_truncated_fragment_is_no_request_and_the_last_part_takes_the_total_duration() {
    let ts = HOUR_START_MS + 60_000;
    let mut part1 = transaction("URL", "/export", ts, 1_000_000, "0");
    part1.children.extend(sql_calls(2));
    part1.children.push(Message::Event(Leaf::new(
        "RemoteCall",
        "Next",
        "0",
        ts,
        "id-2",
    )));
    let mut part2 = transaction("URL", "/export", ts, 500_000, "0");
    part2.children.extend(sql_calls(1));
    part2.children.push(Message::Event(Leaf::new(
        "TruncatedTransaction",
        "TotalDuration",
        "0",
        ts,
        "1500000",
    )));
    let reports = run(&[
        tree("shop", "10.0.0.1", "shop-0a000001-498703-1", part1),
        tree("shop", "10.0.0.1", "shop-0a000001-498703-2", part2),
    ]);
    let export = entry(&reports, "URL", "/export");
    assert_eq!((export.count, export.sum), (1, 1500.0));
    assert_eq!(calls(&export, "SQL").count, 1);
}

#[test]
fn names_past_the_cap_fold_into_others_and_the_requests_are_counted() {
    let config = AnalyzerConfig {
        max_names_per_type: 2,
        ..AnalyzerConfig::default()
    };
    let trees: Vec<MessageTree> = ["/a", "/b", "/c", "/d", "/c", "/a"]
        .into_iter()
        .enumerate()
        .map(|(i, name)| request("URL", name, 1_000, sql_calls(i), i as u64))
        .collect();
    let reports = run_with(config, &trees);
    let view = reports["shop"].view(&ViewQuery::default());
    let names: Vec<(&str, u64)> = (view.names.iter())
        .map(|n| (n.name.as_str(), n.count))
        .collect();
    assert_eq!(names, [("/a", 2), ("/b", 1), (OTHERS, 3)]);
    assert_eq!(view.folded, 3);
    // What folded still counts, in `OTHERS`.
    let others = calls(&view.names[2], "SQL");
    assert_eq!((others.count, others.max_per_request), (2 + 3 + 4, 4));
}

#[test]
fn the_hours_entry_budget_bounds_the_report_and_a_restore_continues_it() {
    let config = Arc::new(AnalyzerConfig {
        max_entries_per_hour: 5,
        ..AnalyzerConfig::default()
    });
    let mut analyzer = MatrixAnalyzer::new(HOUR, config.clone());
    for i in 0..50 {
        analyzer.process(&request("URL", &format!("/n{i}"), 1_000, sql_calls(1), i));
    }
    let report = &analyzer.reports()["shop"];
    // The type and four names, then `OTHERS` (added once even past the budget).
    assert_eq!(report.entry_count(), 6);
    let view = report.view(&ViewQuery::default());
    assert_eq!(view.names.iter().map(|n| n.count).sum::<u64>(), 50);
    assert_eq!(view.folded, 46);
    let mut restored = MatrixAnalyzer::from_reports(HOUR, config, analyzer.into_reports());
    restored.process(&request("URL", "/new", 1_000, sql_calls(1), 99));
    let view = restored.reports()["shop"].view(&ViewQuery::default());
    assert!(!view.names.iter().any(|n| n.name == "/new"));
    assert_eq!(view.folded, 47);
}

#[test]
fn a_checkpoint_reads_back_as_the_report_it_was_and_goes_on_counting() {
    let trees: Vec<MessageTree> = (0..20)
        .map(|i| {
            request(
                ["URL", "Service"][i % 2],
                "/x",
                1_000,
                sql_calls(i),
                i as u64,
            )
        })
        .collect();
    let mut analyzer = MatrixAnalyzer::new(HOUR, Arc::new(AnalyzerConfig::default()));
    for tree in &trees[..10] {
        analyzer.process(tree);
    }
    let json = serde_json::to_string(&analyzer.reports()["shop"]).unwrap();
    let read: MatrixReport = serde_json::from_str(&json).unwrap();
    assert_eq!(read, analyzer.reports()["shop"]);
    assert_eq!((read.domain(), read.hour()), ("shop", HOUR));
    // A restart continues from the checkpoint: the same report as without one.
    let mut restored = MatrixAnalyzer::from_reports(
        HOUR,
        Arc::new(AnalyzerConfig::default()),
        BTreeMap::from([("shop".to_owned(), read)]),
    );
    for tree in &trees[10..] {
        restored.process(tree);
        analyzer.process(tree);
    }
    assert_eq!(restored.reports(), analyzer.reports());
}

#[test]
fn a_report_from_an_older_build_reads_with_what_it_lacks_as_empty() {
    let read: MatrixReport = serde_json::from_str(
        r#"{"domain":"shop","hour":498703,"types":{"URL":{"names":{"/a":{"count":2,"sql":{"max":3}}}}}}"#,
    )
    .unwrap();
    let view = read.view(&ViewQuery::default());
    assert_eq!(view.names[0].count, 2);
    assert_eq!(calls(&view.names[0], "SQL").max_per_request, 3);
    assert_eq!(calls(&view.names[0], "Call").count, 0);
}

#[test]
fn a_view_selects_one_type() {
    let trees = [
        request("URL", "/a", 1_000, vec![], 1),
        request("Service", "s", 1_000, vec![], 2),
    ];
    let reports = run(&trees);
    let view = reports["shop"].view(&ViewQuery {
        type_: Some("Service"),
        ..ViewQuery::default()
    });
    assert_eq!(view.names.len(), 1);
    assert_eq!(view.names[0].name, "s");
    assert_eq!(view.hour, "2026112207");
    // No request, no division by zero.
    assert_eq!(calls(&view.names[0], "SQL").per_request, 0.0);
    assert_eq!(calls(&view.names[0], "SQL").avg, 0.0);
}

/// Each report of `a` merged with `b`'s of the same domain.
fn merged(
    mut a: BTreeMap<String, MatrixReport>,
    b: BTreeMap<String, MatrixReport>,
) -> BTreeMap<String, MatrixReport> {
    for (domain, report) in b {
        a.entry(domain).or_default().merge(&report);
    }
    a
}

proptest! {
    /// Two machines' (or two half hours') reports merged are the report of all their
    /// requests, sample IDs included: the earlier half's first come first.
    #[test]
    fn merging_two_halves_gives_the_report_of_the_whole(samples in samples(), cut in 0usize..120) {
        let trees = trees_of(&samples);
        let cut = cut.min(trees.len());
        let whole = run(&trees);
        let halves = merged(run(&trees[..cut]), run(&trees[cut..]));
        prop_assert_eq!(halves, whole);
    }
}

#[test]
fn a_tree_with_another_root_than_a_transaction_is_no_request() {
    let event = MessageTree::new(
        crate::test_support::header("shop", "10.0.0.1", "shop-0a000001-498703-1"),
        Message::Event(Leaf::new("URL", "/a", "0", HOUR_START_MS, "")),
    );
    let empty = MessageTree::new(
        crate::test_support::header("shop", "10.0.0.1", "shop-0a000001-498703-2"),
        Message::Transaction(Transaction::new("URL", "/b", HOUR_START_MS)),
    );
    let reports = run(&[event, empty]);
    let view = reports["shop"].view(&ViewQuery::default());
    assert_eq!(view.names.len(), 1);
    assert_eq!(view.names[0].name, "/b");
}
