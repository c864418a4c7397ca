use std::collections::BTreeMap;
use std::sync::Arc;

use ocelot_protocol::{Leaf, Message, MessageTree};
use proptest::prelude::*;

use super::*;
use crate::config::{AnalyzerConfig, OTHERS};
use crate::test_support::{binary_frame, binary_frames, header, samples, trees_of, HOUR_START_MS};
use crate::view_query::ViewQuery;

const HOUR: u64 = 498_703;

fn run_with(config: AnalyzerConfig, trees: &[MessageTree]) -> BTreeMap<String, MetricReport> {
    let mut analyzer = MetricAnalyzer::new(HOUR, Arc::new(config));
    for tree in trees {
        analyzer.process(tree);
    }
    analyzer.into_reports()
}

fn run(trees: &[MessageTree]) -> BTreeMap<String, MetricReport> {
    run_with(AnalyzerConfig::default(), trees)
}

fn metric(domain: &str, type_: &str, name: &str, status: &str, data: &str) -> MessageTree {
    MessageTree::new(
        header(domain, "10.0.0.1", "id"),
        Message::Metric(Leaf::new(
            type_,
            name,
            status,
            HOUR_START_MS + 120_000,
            data,
        )),
    )
}

#[test]
fn the_c_client_metric_aggregator_gives_counts_and_sums() {
    let reports = run(&[binary_frame(22)]);
    let view = reports["catgen"].view(&ViewQuery::default());
    let figures: Vec<(&str, &str, u64, f64, f64)> = view
        .metrics
        .iter()
        .map(|m| (m.name.as_str(), m.kind.as_str(), m.count, m.sum, m.avg))
        .collect();
    assert_eq!(
        figures,
        [
            ("direct.count", "C", 7, 7.0, 1.0),
            ("direct.latency", "S,C", 1, 321.0, 321.0),
            ("direct.one", "C", 1, 1.0, 1.0),
            ("login.count", "C", 1, 1.0, 1.0),
            ("order.count", "C", 5, 5.0, 1.0),
            ("order.latency", "S,C", 2, 400.0, 200.0),
        ]
    );
    assert_eq!(view.metrics[5].minutes.len(), 1);
    assert_eq!(view.metrics[5].minutes[0].minute, 8);
}

#[test]
fn all_real_frames_hold_just_the_one_aggregated_batch() {
    let reports = run(&binary_frames());
    assert_eq!(
        reports["catgen"].view(&ViewQuery::default()).metrics.len(),
        6
    );
    assert_eq!(reports["catgen"].ignored(), 0);
}

#[test]
fn metric_roots_with_sampling_off_count_too() {
    let trees = [
        metric("shop", "", "order.count", "C", "3"),
        metric("shop", "", "order.count", "C", "2"),
        metric("shop", "", "order.latency", "T", "150"),
        metric("shop", "", "order.latency", "T", "250"),
        metric("shop", "", "bad", "Q", "1"),
        // CAT's own self-monitoring metrics are skipped.
        metric("cat", "cat.internal", "x", "C", "1"),
    ];
    let reports = run(&trees);
    let view = reports["shop"].view(&ViewQuery::default());
    let figures: Vec<(&str, u64, f64)> = view
        .metrics
        .iter()
        .map(|m| (m.name.as_str(), m.count, m.avg))
        .collect();
    assert_eq!(
        figures,
        [("order.count", 5, 1.0), ("order.latency", 2, 200.0)]
    );
    assert_eq!(view.metrics[0].minutes[0].minute, 2);
    assert_eq!(reports["shop"].ignored(), 1);
    assert!(!reports.contains_key("cat"));
}

/// A metric root of `shop` at `minute` of the hour (plus `ms`).
fn metric_at(name: &str, status: &str, data: &str, minute: u64, ms: u64) -> MessageTree {
    let mut tree = metric("shop", "", name, status, data);
    if let Message::Metric(leaf) = &mut tree.root {
        leaf.timestamp_ms = HOUR_START_MS + minute * 60_000 + ms;
    }
    tree
}

fn kinds(report: &MetricReport) -> Vec<(String, String)> {
    let view = report.view(&ViewQuery::default());
    (view.metrics.into_iter())
        .map(|m| (m.name, m.kind))
        .collect()
}

#[test]
fn a_metrics_kind_is_the_status_of_its_latest_record() {
    // CAT's BusinessAnalyzer sets the item's type from every record: a client that moved
    // `order.amount` from a count to a sum shows as a sum.
    let reports = run(&[
        metric_at("order.amount", "C", "1", 2, 0),
        metric_at("order.amount", "S,C", "2,40", 5, 0),
        // Sent late (a queue that was behind): older than the sum, so not the latest.
        metric_at("order.amount", "C", "1", 3, 0),
    ]);
    assert_eq!(
        kinds(&reports["shop"]),
        [("order.amount".to_owned(), "S,C".to_owned())]
    );
    // Every record still counts, whatever its kind.
    let view = reports["shop"].view(&ViewQuery::default());
    assert_eq!((view.metrics[0].count, view.metrics[0].sum), (4, 42.0));
}

#[test]
fn merged_reports_keep_the_latest_kind_whichever_is_merged_into_which() {
    let older = run(&[metric_at("latency", "T", "150", 10, 0)])
        .remove("shop")
        .unwrap();
    let newer = run(&[metric_at("latency", "S", "3", 40, 0)])
        .remove("shop")
        .unwrap();
    let mut a = older.clone();
    a.merge(&newer);
    let mut b = newer.clone();
    b.merge(&older);
    assert_eq!(a, b);
    assert_eq!(kinds(&a), [("latency".to_owned(), "S".to_owned())]);
    // Two kinds of one millisecond (two machines): the same answer either way too.
    let c = run(&[metric_at("hits", "C", "1", 7, 5)])
        .remove("shop")
        .unwrap();
    let s = run(&[metric_at("hits", "S", "2", 7, 5)])
        .remove("shop")
        .unwrap();
    let (mut cs, mut sc) = (c.clone(), s.clone());
    cs.merge(&s);
    sc.merge(&c);
    assert_eq!(cs, sc);
}

#[test]
fn a_checkpoint_without_the_kinds_time_loads_and_the_next_record_sets_the_kind() {
    // A report as written before `kind_at_ms` was kept.
    let old = r#"{"domain":"shop","hour":498703,"items":{"orders":{"kind":"C",
        "minutes":[{"minute":1,"count":3,"sum":3.0}]}},"folded":0,"ignored":0}"#;
    let report: MetricReport = serde_json::from_str(old).unwrap();
    assert_eq!(kinds(&report), [("orders".to_owned(), "C".to_owned())]);
    let mut analyzer = MetricAnalyzer::from_reports(
        HOUR,
        Arc::new(AnalyzerConfig::default()),
        BTreeMap::from([("shop".to_owned(), report)]),
    );
    analyzer.process(&metric_at("orders", "S,C", "2,10", 4, 0));
    let report = &analyzer.reports()["shop"];
    assert_eq!(kinds(report), [("orders".to_owned(), "S,C".to_owned())]);
    let view = report.view(&ViewQuery::default());
    assert_eq!((view.metrics[0].count, view.metrics[0].sum), (5, 13.0));
    // The kind is still written as its status text, so older builds read it too.
    let json = serde_json::to_string(report).unwrap();
    assert!(json.contains(r#""kind":"S,C","kind_at_ms":"#), "{json}");
}

#[test]
fn names_past_the_cap_fold_into_others() {
    let config = AnalyzerConfig {
        max_metric_names: 2,
        ..AnalyzerConfig::default()
    };
    let trees: Vec<MessageTree> = (0..5)
        .map(|i| metric("shop", "", &format!("m{i}"), "C", "1"))
        .collect();
    let reports = run_with(config, &trees);
    let view = reports["shop"].view(&ViewQuery::default());
    let names: Vec<(&str, u64)> = view
        .metrics
        .iter()
        .map(|m| (m.name.as_str(), m.count))
        .collect();
    assert_eq!(names, [("OTHERS", 3), ("m0", 1), ("m1", 1)]);
    assert_eq!(reports["shop"].folded(), 3);
    assert_eq!(names[0].0, OTHERS);
}

#[test]
fn folded_counts_the_records_of_a_folded_domain_each_once() {
    let config = AnalyzerConfig {
        max_domains: 1,
        max_metric_names: 1,
        ..AnalyzerConfig::default()
    };
    let mut late = metric("late", "", "a", "C", "1");
    if let Message::Metric(leaf) = &mut late.root {
        // Four records in one tree, one of them of no known kind.
        let record = |name: &str, status: &str| {
            Message::Metric(Leaf::new("", name, status, leaf.timestamp_ms, "1"))
        };
        let mut root = ocelot_protocol::Transaction::new("System", "MetricAggregator", 0);
        root.children = vec![
            record("a", "C"),
            record("a", "C"),
            record("b", "C"),
            record("c", "Q"),
        ];
        late.root = Message::Transaction(root);
    }
    let reports = run_with(config, &[metric("shop", "", "x", "C", "1"), late]);
    // The domain `late` folded: the three counted records are under `OTHERS`, each once
    // (`b` is past the name cap there too); the unknown one is ignored, not folded.
    let others = &reports[OTHERS];
    assert_eq!((others.folded(), others.ignored()), (3, 1));
    assert_eq!(
        others.view(&ViewQuery::default()).folded,
        3,
        "the API says it too"
    );
    assert_eq!(reports["shop"].folded(), 0);
}

#[test]
fn report_roundtrips_through_json_and_view_has_the_api_keys() {
    let reports = run(&[binary_frame(22), metric("catgen", "", "f", "S", "0.1")]);
    let json = serde_json::to_string(&reports).unwrap();
    let back: BTreeMap<String, MetricReport> = serde_json::from_str(&json).unwrap();
    assert_eq!(back, reports);
    let view = serde_json::to_value(reports["catgen"].view(&ViewQuery::default())).unwrap();
    let m = &view["metrics"][0];
    for key in ["name", "kind", "count", "sum", "avg", "minutes"] {
        assert!(m.get(key).is_some(), "metric has no {key}: {m}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn merging_two_halves_equals_one_report(samples in samples(), split in 0.0..1.0f64) {
        let mut trees = trees_of(&samples);
        // Each name's records of every kind, several of one millisecond (a minute's
        // first), so the kind kept is that of the latest record, ties broken alike.
        for (tree, s) in trees.iter_mut().zip(&samples) {
            let Message::Transaction(root) = &mut tree.root else { continue };
            let Some(Message::Metric(leaf)) = root.children.get_mut(1) else { continue };
            let (status, data) = [("C", "1"), ("T", "5"), ("S", "2"), ("S,C", "2,4")][s.type_ % 4];
            (leaf.status, leaf.data) = (status.into(), data.into());
            leaf.timestamp_ms = HOUR_START_MS + s.minute * 60_000;
        }
        let cut = (trees.len() as f64 * split) as usize;
        let first = run(&trees[..cut]).remove("shop").unwrap_or_default();
        let second = run(&trees[cut..]).remove("shop").unwrap_or_default();
        let whole = run(&trees).remove("shop").unwrap();
        let mut merged = first.clone();
        merged.merge(&second);
        prop_assert_eq!(&merged, &whole);
        // Merged the other way round: the same.
        let mut merged = second;
        merged.merge(&first);
        prop_assert_eq!(&merged, &whole);
    }
}

#[test]
fn a_sum_past_the_largest_number_stays_finite_and_the_report_reads_back() {
    let huge = metric("shop", "", "bytes.total", "S", "1e308");
    let reports = run(&[huge.clone(), huge.clone(), huge]);
    let view = reports["shop"].view(&ViewQuery::default());
    assert_eq!(view.metrics[0].sum, f64::MAX);
    assert_eq!(view.metrics[0].minutes[0].sum, f64::MAX);
    // A checkpoint of it parses back (JSON has no infinity: it would be `null`).
    let json = serde_json::to_string(&reports["shop"]).unwrap();
    let back: MetricReport = serde_json::from_str(&json).unwrap();
    assert_eq!(back, reports["shop"]);
}

#[test]
fn a_metrics_hour_count_saturates_where_its_minutes_do() {
    // 1024 records of the largest count a record may have fill a minute to 2^63; two
    // minutes of them are past a `u64`.
    let mut analyzer = MetricAnalyzer::new(HOUR, Arc::new(AnalyzerConfig::default()));
    for minute in 0..2 {
        let ts = HOUR_START_MS + minute * 60_000;
        for _ in 0..1024 {
            let metric = Leaf::new("", "orders", "C", ts, "9007199254740992");
            analyzer.process(&MessageTree::new(
                header("shop", "10.0.0.1", ""),
                Message::Metric(metric),
            ));
        }
    }
    let view = analyzer.reports()["shop"].view(&ViewQuery::default());
    assert_eq!(view.metrics[0].minutes[0].count, 1 << 63);
    assert_eq!(view.metrics[0].count, u64::MAX);
}

#[test]
fn huge_counts_and_malformed_values_are_counted_as_malformed_not_added() {
    // A count of 1e308 held the metric at the largest u64 (and its sum at 1.8e19) for the
    // rest of the hour; the records below were dropped with nothing in the API to say so.
    let reports = run(&[
        metric("shop", "", "bad5", "C", "1e308"),
        metric("shop", "", "bad5", "C", "99999999999999999999999"),
        metric("shop", "", "bad5", "C", "18446744073709551615"),
        metric("shop", "", "bad", "C", "abc"),
        metric("shop", "", "bad", "T", "NaN"),
        metric("shop", "", "bad", "S,C", "1"),
        metric("shop", "", "bad", "ZZ", "1"),
        metric("shop", "", "good", "C", "3"),
    ]);
    let report = &reports["shop"];
    assert_eq!(report.ignored(), 7);
    let view = report.view(&ViewQuery::default());
    let figures: Vec<(&str, u64, f64)> = (view.metrics.iter())
        .map(|m| (m.name.as_str(), m.count, m.sum))
        .collect();
    assert_eq!(figures, [("good", 3, 3.0)]);
    assert_eq!(view.malformed, 7);
    let json = serde_json::to_value(&view).unwrap();
    assert_eq!(json["malformed"], 7, "{json}");
    // Merged, as every counter of the report is.
    let mut merged = report.clone();
    merged.merge(report);
    assert_eq!(merged.view(&ViewQuery::default()).malformed, 14);
}

#[test]
fn counts_and_sums_are_read_as_cats_business_analyzer_reads_them() {
    // CAT 3.1.0 `BusinessAnalyzer#parseValue`: a `C` count is `(int) Double.parseDouble`
    // (so `2.0` and `3.7` count 2 and 3), and `S,C` takes the first two of the
    // comma-separated fields (`data.split(",")`, `[0]` and `[1]`), ignoring any more.
    let reports = run(&[
        metric("shop", "", "orders", "C", "2.0"),
        metric("shop", "", "orders", "C", "3.7"),
        metric("shop", "", "latency", "S,C", "2,400,extra"),
    ]);
    let report = &reports["shop"];
    let view = report.view(&ViewQuery::default());
    let figures: Vec<(&str, u64, f64)> = view
        .metrics
        .iter()
        .map(|m| (m.name.as_str(), m.count, m.sum))
        .collect();
    assert_eq!(figures, [("latency", 2, 400.0), ("orders", 5, 5.0)]);
    assert_eq!(report.ignored(), 0);
}
