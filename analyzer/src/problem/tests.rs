use std::collections::BTreeMap;
use std::sync::Arc;

use ocelot_protocol::{Message, MessageTree};
use proptest::prelude::*;

use super::report::{ERROR, LONG_CACHE, LONG_SQL, LONG_URL};
use super::*;
use crate::config::{AnalyzerConfig, LongThresholds};
use crate::test_support::{binary_frames, samples, transaction, tree, trees_of, HOUR_START_MS};
use crate::view_query::ViewQuery;

const HOUR: u64 = 498_703;

fn run_with(config: AnalyzerConfig, trees: &[MessageTree]) -> BTreeMap<String, ProblemReport> {
    let mut analyzer = ProblemAnalyzer::new(HOUR, Arc::new(config));
    for tree in trees {
        analyzer.process(tree);
    }
    analyzer.into_reports()
}

fn run(trees: &[MessageTree]) -> BTreeMap<String, ProblemReport> {
    run_with(AnalyzerConfig::default(), trees)
}

fn entries(view: &ProblemView) -> Vec<(&str, &str, &str, u64)> {
    view.problems
        .iter()
        .map(|p| {
            (
                p.category.as_str(),
                p.type_.as_str(),
                p.name.as_str(),
                p.count,
            )
        })
        .collect()
}

#[test]
fn real_c_client_frames_give_the_errors() {
    let reports = run(&binary_frames());
    let view = reports["catgen"].view(&ViewQuery::default());
    assert_eq!(
        entries(&view),
        [
            (ERROR, "Cache.redis", "order:get", 1),
            (ERROR, "Det.child", "inner", 1),
            (ERROR, "Edge.childless", "status-404", 1),
            (ERROR, "Error", "RuntimeException", 1),
            (ERROR, "Exception", "ForceSend", 1),
            (ERROR, "Exception", "java.lang.IllegalStateException", 1),
            (ERROR, "Fixed.child", "inner", 1),
            (ERROR, "Service", "PaymentService.pay", 1),
        ]
    );
    let runtime = &view.problems[3];
    assert_eq!(runtime.sample_message_ids, ["catgen-c0000202-498703-10029"]);
    assert_eq!(
        runtime.minutes,
        [ProblemMinuteView {
            minute: 8,
            count: 1
        }]
    );
}

#[test]
fn per_domain_thresholds_turn_the_real_url_and_sql_into_long_problems() {
    let mut config = AnalyzerConfig::default();
    config.domain_long_thresholds.insert(
        "catgen".into(),
        LongThresholds {
            url_ms: 20,
            sql_ms: 15,
            ..LongThresholds::default()
        },
    );
    let reports = run_with(config, &binary_frames()[..1]);
    let view = reports["catgen"].view(&ViewQuery::default());
    assert_eq!(
        entries(&view),
        [
            (ERROR, "Cache.redis", "order:get", 1),
            (LONG_SQL, "SQL", "OrderDao.insert", 1),
            (LONG_URL, "URL", "/api/order/create", 1),
        ]
    );
    // Other domains keep CAT's defaults.
    let mut frame = binary_frames().remove(0);
    frame.header.domain = "other".into();
    let reports = run_with(AnalyzerConfig::default(), &[frame]);
    assert_eq!(
        entries(&reports["other"].view(&ViewQuery::default())).len(),
        1
    );
}

#[test]
fn default_thresholds_match_cat() {
    let root = |type_: &str, ms: u64| {
        tree(
            "shop",
            "10.0.0.1",
            "id",
            transaction(type_, "x", HOUR_START_MS, ms * 1000, "0"),
        )
    };
    let trees = [
        root("URL", 999),
        root("URL", 1000),
        root("SQL", 100),
        root("PigeonCall", 100),
        root("Service", 50),
        root("Cache.memcached", 10),
        root("Cache.memcached", 9),
        root("Job", 1_000_000),
    ];
    let reports = run(&trees);
    let view = reports["shop"].view(&ViewQuery::default());
    let categories: Vec<&str> = view.problems.iter().map(|p| p.category.as_str()).collect();
    assert_eq!(
        categories,
        [LONG_CACHE, "long-call", "long-service", LONG_SQL, LONG_URL]
    );
}

/// A `shop` tree whose root is a `type_` transaction `name` of `ms` milliseconds.
fn timed(type_: &str, name: &str, ms: u64) -> MessageTree {
    tree(
        "shop",
        "10.0.0.1",
        "shop-0a000001-498703-1",
        transaction(type_, name, HOUR_START_MS, ms * 1000 + 999, "0"),
    )
}

/// `(bucket ms, count)` of an entry.
type Buckets = Vec<(u64, u64)>;

/// `(category, name, buckets)` of every entry.
fn buckets(view: &ProblemView) -> Vec<(&str, &str, Buckets)> {
    (view.problems.iter())
        .map(|p| {
            let durations = p.durations.iter().map(|d| (d.ms, d.count)).collect();
            (p.category.as_str(), p.name.as_str(), durations)
        })
        .collect()
}

#[test]
fn long_executions_count_in_cats_duration_buckets() {
    // CAT's LongExecutionProblemHandler: the largest of its default thresholds at or
    // under the duration is the bucket; one entry per name, split by bucket.
    let trees = [
        timed("URL", "/a", 999),
        timed("URL", "/a", 1_000),
        timed("URL", "/a", 1_999),
        timed("URL", "/a", 2_500),
        timed("URL", "/a", 4_999),
        timed("URL", "/a", 60_000),
        timed("SQL", "q", 100),
        timed("SQL", "q", 700),
        timed("PigeonCall", "c", 3_000),
        timed("Service", "s", 99),
        timed("Service", "s", 100),
        timed("Cache.redis", "k", 60),
        timed("Cache.redis", "k", 600),
    ];
    let reports = run(&trees);
    let view = reports["shop"].view(&ViewQuery::default());
    assert_eq!(
        buckets(&view),
        [
            (LONG_CACHE, "k", vec![(50, 1), (500, 1)]),
            ("long-call", "c", vec![(3_000, 1)]),
            ("long-service", "s", vec![(50, 1), (100, 1)]),
            (LONG_SQL, "q", vec![(100, 1), (500, 1)]),
            (
                LONG_URL,
                "/a",
                vec![(1_000, 2), (2_000, 1), (3_000, 1), (5_000, 1)]
            ),
        ]
    );
    assert_eq!(view.problems[4].count, 5, "the buckets add up to the entry");
    // In the API only long entries carry durations.
    let json = serde_json::to_value(&view).unwrap();
    assert_eq!(json["problems"][4]["durations"][1]["ms"], 2_000);
}

/// The buckets a view names as ranges are those the analyzer counts in: the threshold,
/// then CAT's defaults over it.
#[test]
fn long_buckets_are_the_threshold_and_the_defaults_over_it() {
    let defaults = LongThresholds::default();
    assert_eq!(
        long_buckets_ms("long-service", &defaults).unwrap(),
        [50, 100, 500, 1_000, 3_000, 5_000]
    );
    let lower = LongThresholds {
        url_ms: 1_500,
        ..LongThresholds::default()
    };
    assert_eq!(
        long_buckets_ms(LONG_URL, &lower).unwrap(),
        [1_500, 2_000, 3_000, 5_000]
    );
    assert_eq!(long_buckets_ms(ERROR, &defaults), None);
}

#[test]
fn a_domain_threshold_is_the_first_bucket_under_or_over_cats_defaults() {
    let mut config = AnalyzerConfig::default();
    let mut lower = LongThresholds {
        url_ms: 20,
        ..LongThresholds::default()
    };
    config
        .domain_long_thresholds
        .insert("shop".into(), lower.clone());
    let trees = [
        timed("URL", "/a", 19),
        timed("URL", "/a", 25),
        timed("URL", "/a", 1_500),
    ];
    let reports = run_with(config.clone(), &trees);
    let view = reports["shop"].view(&ViewQuery::default());
    // As CAT's `<long-config>`: under the default buckets, the domain's threshold is one.
    assert_eq!(
        buckets(&view),
        [(LONG_URL, "/a", vec![(20, 1), (1_000, 1)])]
    );

    lower.url_ms = 1_500;
    config.domain_long_thresholds.insert("shop".into(), lower);
    let trees = [
        timed("URL", "/a", 1_200),
        timed("URL", "/a", 1_700),
        timed("URL", "/a", 2_100),
    ];
    let reports = run_with(config, &trees);
    let view = reports["shop"].view(&ViewQuery::default());
    // Over the smallest default: shorter ones are no problem, the first bucket starts at
    // the threshold, and the defaults above it follow.
    assert_eq!(
        buckets(&view),
        [(LONG_URL, "/a", vec![(1_500, 1), (2_000, 1)])]
    );
}

#[test]
fn a_days_view_adds_up_each_hours_buckets() {
    let mut day = ProblemDay::new("shop", HOUR / 24);
    for hour in [HOUR, HOUR + 1] {
        let mut analyzer = ProblemAnalyzer::new(hour, Arc::new(AnalyzerConfig::default()));
        for ms in [1_200, 2_200] {
            let start = hour * 3_600_000;
            analyzer.process(&tree(
                "shop",
                "10.0.0.1",
                "id",
                transaction("URL", "/a", start, ms * 1000, "0"),
            ));
        }
        day.add_hour(&analyzer.into_reports()["shop"]);
    }
    let view = day.view(&ViewQuery::default());
    let durations: Vec<(u64, u64)> = (view.problems[0].durations.iter())
        .map(|d| (d.ms, d.count))
        .collect();
    assert_eq!(durations, [(1_000, 2), (2_000, 2)]);
}

#[test]
fn folded_counts_each_problem_of_a_folded_machine_once() {
    let config = AnalyzerConfig {
        max_machines_per_domain: 1,
        max_names_per_type: 1,
        ..AnalyzerConfig::default()
    };
    let on = |ip: &str, name: &str| {
        // Failed and slow: an error and a long-url problem.
        let root = transaction("URL", name, HOUR_START_MS, 2_000_000, "ERROR");
        tree("shop", ip, "id", root)
    };
    let reports = run_with(config, &[on("10.0.0.1", "/a"), on("10.0.0.2", "/b")]);
    let report = &reports["shop"];
    // The second machine's two problems, once each, though its name folded too.
    assert_eq!(report.folded(), 2);
    assert_eq!(report.total_count(), 4, "folding loses no problem");
    // The API says it, of the hour and of a day of it.
    assert_eq!(report.view(&ViewQuery::default()).folded, 2);
    let mut day = ProblemDay::new("shop", HOUR / 24);
    day.add_hour(report);
    assert_eq!(day.view(&ViewQuery::default()).folded, 2);
}

#[test]
fn sample_ids_stop_at_sixty() {
    let trees: Vec<MessageTree> = (0..70)
        .map(|i| {
            let root = transaction("SQL", "q", HOUR_START_MS, 0, "ERROR");
            tree(
                "shop",
                "10.0.0.1",
                &format!("shop-0a000001-498703-{i}"),
                root,
            )
        })
        .collect();
    let reports = run(&trees);
    let view = reports["shop"].view(&ViewQuery::default());
    assert_eq!(view.problems[0].count, 70);
    assert_eq!(view.problems[0].sample_message_ids.len(), 60);
}

#[test]
fn report_roundtrips_through_json_and_view_has_the_api_keys() {
    let reports = run(&binary_frames());
    let json = serde_json::to_string(&reports).unwrap();
    let back: BTreeMap<String, ProblemReport> = serde_json::from_str(&json).unwrap();
    assert_eq!(back, reports);
    // Until 2026-12-04 an entry also kept its count beside its minutes: such a
    // checkpoint loads to the same report (the count is the minutes' sum).
    assert!(
        json.contains(r#""minutes":[["#),
        "minutes stay (minute, count) pairs"
    );
    let old = json.replace(r#"{"minutes""#, r#"{"count":999,"minutes""#);
    assert_ne!(old, json);
    let back: BTreeMap<String, ProblemReport> = serde_json::from_str(&old).unwrap();
    assert_eq!(back, reports);
    // A checkpoint written before long entries kept duration buckets loads, its count
    // whole.
    let long = run(&[timed("URL", "/slow", 2_000)]);
    let json = serde_json::to_string(&long).unwrap();
    let old = json.replace(r#","durations":[[2000,1]]"#, "");
    assert_ne!(old, json);
    let back: BTreeMap<String, ProblemReport> = serde_json::from_str(&old).unwrap();
    let view = back["shop"].view(&ViewQuery::default());
    assert_eq!(
        (view.problems[0].count, view.problems[0].durations.len()),
        (1, 0)
    );
    let view = serde_json::to_value(reports["catgen"].view(&ViewQuery::default())).unwrap();
    let p = &view["problems"][0];
    for key in [
        "category",
        "type",
        "name",
        "count",
        "minutes",
        "sampleMessageIds",
    ] {
        assert!(p.get(key).is_some(), "problem has no {key}: {p}");
    }
}

#[test]
fn error_events_only_count_when_failed() {
    let mut root = transaction("URL", "/a", HOUR_START_MS, 0, "0");
    root.children
        .push(Message::Event(ocelot_protocol::Leaf::new(
            "Exception",
            "handled",
            "0",
            HOUR_START_MS,
            "",
        )));
    let reports = run(&[tree("shop", "10.0.0.1", "id", root)]);
    assert!(reports["shop"]
        .view(&ViewQuery::default())
        .problems
        .is_empty());
}

#[test]
fn failed_error_events_count_in_transaction_trees_and_as_lone_roots() {
    let exception = || {
        Message::Event(ocelot_protocol::Leaf::new(
            "Exception",
            "boom",
            "ERROR",
            HOUR_START_MS,
            "",
        ))
    };
    let mut root = transaction("URL", "/a", HOUR_START_MS, 0, "0");
    root.children.push(exception());
    let header = tree("shop", "10.0.0.1", "id", transaction("X", "x", 0, 0, "0")).header;
    let lone = MessageTree::new(header, exception());
    let reports = run(&[tree("shop", "10.0.0.1", "id", root), lone]);
    let view = reports["shop"].view(&ViewQuery::default());
    assert_eq!(entries(&view), [(ERROR, "Exception", "boom", 2)]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn merging_two_halves_equals_one_report(samples in samples(), split in 0.0..1.0f64) {
        let trees = trees_of(&samples);
        let cut = (trees.len() as f64 * split) as usize;
        let mut merged = run(&trees[..cut]).remove("shop").unwrap_or_default();
        merged.merge(&run(&trees[cut..]).remove("shop").unwrap_or_default());
        let whole = run(&trees).remove("shop").unwrap_or_default();
        prop_assert_eq!(merged, whole);
    }
}
