use std::collections::BTreeMap;
use std::sync::Arc;

use ocelot_protocol::Message;
use proptest::prelude::*;

use super::*;
use crate::config::{AnalyzerConfig, OTHERS};
use crate::test_support::{
    binary_frames, exact_quantile, samples, transaction, tree, trees_of, HOUR_START_MS, TYPES,
};
use crate::view_query::ViewQuery;

const HOUR: u64 = 498_703;

fn analyzer() -> TransactionAnalyzer {
    TransactionAnalyzer::new(HOUR, Arc::new(AnalyzerConfig::default()))
}

fn all_hour() -> ViewQuery<'static> {
    ViewQuery {
        elapsed_seconds: 3600.0,
        ..ViewQuery::default()
    }
}

fn name<'v>(view: &'v TransactionView, type_: &str, name: &str) -> &'v TransactionNameView {
    view.types
        .iter()
        .find(|t| t.type_ == type_)
        .unwrap_or_else(|| panic!("no type {type_}"))
        .names
        .iter()
        .find(|n| n.name == name)
        .unwrap_or_else(|| panic!("no name {type_}/{name}"))
}

fn within_one_percent(got: f64, exact: f64) -> bool {
    if exact == 0.0 {
        got == 0.0
    } else {
        (got - exact).abs() / exact <= 0.01
    }
}

#[test]
fn minute_rows_p95_lies_within_the_durations_range() {
    // Every call took 1.5 ms: the bucket's value is 1.4887, under the min, and the
    // type and name figures read 1.5 where their minute rows read 1.4887.
    let ts = HOUR_START_MS + 60_000;
    let mut analyzer = analyzer();
    for seq in 0..15 {
        let root = transaction("URL", "/same", ts, 1_500, "0");
        analyzer.process(&tree(
            "shop",
            "10.0.0.1",
            &format!("shop-0a000001-498703-{seq}"),
            root,
        ));
    }
    let view = analyzer.reports()["shop"].view(&ViewQuery {
        type_: Some("URL"),
        ..all_hour()
    });
    let url = name(&view, "URL", "/same");
    assert_eq!((url.figures.min, url.figures.p95), (1.5, 1.5));
    assert_eq!(url.minutes[0].p95, 1.5);
    // The type's own rows, as a view with names left out gives them.
    let view = analyzer.reports()["shop"].view(&ViewQuery {
        type_: Some("URL"),
        max_names: Some(0),
        ..all_hour()
    });
    let type_rows = &view.types[0].minutes;
    assert_eq!(type_rows[0].p95, 1.5, "{type_rows:?}");
}

#[test]
fn a_negative_java_duration_counts_as_zero() {
    let ts = HOUR_START_MS + 60_000;
    let mut analyzer = analyzer();
    let mut root = transaction("URL", "/pay", ts, u64::MAX, "0"); // -1 µs as a Java long
    root.children.push(Message::Transaction(transaction(
        "SQL",
        "insert",
        ts,
        (-2_000i64) as u64,
        "0",
    )));
    analyzer.process(&tree("shop", "10.0.0.1", "shop-0a000001-498703-1", root));
    let ok = transaction("URL", "/pay", ts, 4_000, "0");
    analyzer.process(&tree("shop", "10.0.0.1", "shop-0a000001-498703-2", ok));
    let view = analyzer.reports()["shop"].view(&all_hour());
    let url = name(&view, "URL", "/pay");
    assert_eq!(url.figures.count, 2);
    assert_eq!(
        (url.figures.min, url.figures.max, url.figures.avg),
        (0.0, 4.0, 2.0)
    );
    let sql = name(&view, "SQL", "insert");
    assert_eq!((sql.figures.count, sql.figures.max), (1, 0.0));
}

#[test]
fn real_c_client_frames_add_up_to_the_right_figures() {
    let mut analyzer = analyzer();
    for tree in binary_frames() {
        analyzer.process(&tree);
    }
    let report = &analyzer.reports()["catgen"];
    let view = report.view(&all_hour());
    assert_eq!(view.domain, "catgen");
    assert_eq!(view.hour, "2026112207");
    assert_eq!(view.ips, ["192.0.2.2"]);

    let url = name(&view, "URL", "/api/order/create");
    assert_eq!((url.figures.count, url.figures.fail), (1, 0));
    assert_eq!(url.figures.avg, 20.0);
    assert!(within_one_percent(url.figures.p95, 20.0));
    assert_eq!(url.sample_message_id, "catgen-c0000202-498703-10027");
    assert_eq!(url.minutes.len(), 1);
    assert_eq!(url.minutes[0].minute, 8);

    let cache = name(&view, "Cache.redis", "order:get");
    assert_eq!((cache.figures.count, cache.figures.fail), (1, 1));
    assert_eq!(cache.figures.fail_percent, 100.0);
    assert_eq!(
        cache.status_codes,
        BTreeMap::from([("java.net.SocketTimeoutException".to_owned(), 1)])
    );
    assert_eq!(cache.fail_message_ids, ["catgen-c0000202-498703-10027"]);
    assert_eq!(cache.sample_message_id, "");

    // Nested transactions count: 20 `Sub` transactions inside S07, 3 inside the heartbeat tree.
    let sub = view.types.iter().find(|t| t.type_ == "Sub").unwrap();
    assert_eq!((sub.figures.count, sub.names.len()), (20, 20));
    assert_eq!(name(&view, "System", "collect_cpuinfo").figures.count, 1);
    assert_eq!(name(&view, "System", "MetricAggregator").figures.count, 5);

    // The 125 s job: percentiles within 1 %, clamped to the exact extremes.
    let job = name(&view, "Job", "nightly-batch");
    assert_eq!(job.figures.max, 125_000.0);
    assert!(within_one_percent(job.figures.p99, 125_000.0));
    assert_eq!(job.slowest_message_id, "catgen-c0000202-498703-10030");

    // S08: part 1 ends in RemoteCall/Next and is skipped, part 2 counts.
    assert_eq!(name(&view, "Bulk", "truncated-2100").figures.count, 1);
    // S13: part 1 skipped; part 2's root takes TruncatedTransaction/TotalDuration (2468 ms).
    let fixed = name(&view, "Fixed", "hour-truncated");
    assert_eq!(fixed.figures.count, 1);
    assert_eq!(fixed.figures.max, 2_468.0);
    let inner = name(&view, "Fixed.child", "inner");
    assert_eq!(inner.figures.fail, 1);
    assert_eq!(inner.status_codes["TIMEOUT"], 1);

    assert_eq!(
        name(&view, "Edge.childless", "status-404").status_codes["404"],
        1
    );
    let type_count: u64 = view.types.iter().map(|t| t.figures.count).sum();
    // 31 transactions in the frames, minus the two skipped fragment roots.
    assert_eq!(type_count, 20 + 31 - 2);
    assert_eq!(report.folded(), 0);
}

#[test]
fn a_type_filter_shows_only_that_type() {
    let mut analyzer = analyzer();
    for tree in binary_frames() {
        analyzer.process(&tree);
    }
    let view = analyzer.reports()["catgen"].view(&ViewQuery {
        type_: Some("System"),
        ..all_hour()
    });
    assert_eq!(view.types.len(), 1);
    assert_eq!(view.types[0].figures.count, 10);
}

#[test]
fn first_url_name_is_normalised_and_upload_metric_names_merge() {
    let mut analyzer = analyzer();
    let mut root = transaction("URL", "/order/123/x", HOUR_START_MS, 1_000, "0");
    root.children.push(Message::Transaction(transaction(
        "System",
        "UploadMetric-7",
        HOUR_START_MS,
        0,
        "0",
    )));
    analyzer.process(&tree("shop", "10.0.0.1", "shop-0a000001-498703-1", root));
    let view = analyzer.reports()["shop"].view(&all_hour());
    assert_eq!(name(&view, "URL", "/order/{num}/x").figures.count, 1);
    assert_eq!(name(&view, "System", "UploadMetric").figures.count, 1);
}

#[test]
fn batch_data_adds_counts_failures_and_bucketed_durations() {
    let mut analyzer = analyzer();
    let mut root = transaction("System", "TransactionAggregator", HOUR_START_MS, 0, "0");
    let mut batch = transaction("SQL", "OrderDao.find", HOUR_START_MS, 0, "0");
    batch.data = "@10;2;345;1,3|20,5|300,2".into();
    root.children.push(Message::Transaction(batch));
    analyzer.process(&tree("shop", "10.0.0.1", "shop-0a000001-498703-1", root));
    let view = analyzer.reports()["shop"].view(&all_hour());
    let sql = name(&view, "SQL", "OrderDao.find");
    assert_eq!((sql.figures.count, sql.figures.fail), (10, 2));
    assert_eq!(sql.figures.avg, 34.5);
    assert_eq!((sql.figures.min, sql.figures.max), (1.0, 300.0));
    assert!(within_one_percent(sql.figures.p50, 20.0));
    assert!(within_one_percent(sql.figures.p90, 300.0));
    assert!(within_one_percent(sql.minutes[0].p95, 300.0));
    // The aggregator's tree shows no request: nothing links to it.
    assert!(sql.fail_message_ids.is_empty());
    assert!(sql.sample_message_id.is_empty() && sql.slowest_message_id.is_empty());
}

#[test]
fn malformed_batch_data_is_counted_not_taken_for_a_0_ms_transaction() {
    // A sampling client's aggregator tree: one good batch, and batches whose data does not
    // parse (each was counted as one transaction of 0 ms, with nothing to say so).
    let aggregator = || {
        let mut root = transaction("System", "TransactionAggregator", HOUR_START_MS, 0, "0");
        for (name, data) in [
            ("select", "@2;0;20;10,2"),
            ("bad", "@abc;;;"),
            ("bad", "@-5;10;1"),
            ("bad", "@99999999999999999999999;0;1"),
        ] {
            let mut batch = transaction("SQL", name, HOUR_START_MS, 0, "0");
            batch.data = data.into();
            root.children.push(Message::Transaction(batch));
        }
        tree("shop", "10.0.0.1", "shop-0a000001-498703-1", root)
    };
    // Alone, and with the Event and Problem reports on one walk, as the collector runs it.
    let mut alone = analyzer();
    alone.process(&aggregator());
    let mut hour = crate::HourAnalyzers::new(HOUR, &Arc::new(AnalyzerConfig::default()));
    hour.process(&aggregator());
    for report in [
        &alone.reports()["shop"],
        &hour.transaction.reports()["shop"],
    ] {
        assert_eq!(report.malformed_batches(), 3);
        let view = report.view(&all_hour());
        let sql = &view.types.iter().find(|t| t.type_ == "SQL").unwrap();
        let names: Vec<(&str, u64)> = (sql.names.iter())
            .map(|n| (n.name.as_str(), n.figures.count))
            .collect();
        assert_eq!(names, [("select", 2)], "no name of the dropped batches");
        assert_eq!(sql.figures.min, 10.0, "no made-up 0 ms transaction");
        assert_eq!(view.malformed_batches, 3);
        let json = serde_json::to_value(&view).unwrap();
        assert_eq!(json["malformedBatches"], 3, "{json}");
    }
    // Kept by checkpoints and merges; not written while there are none.
    let report = alone.into_reports().remove("shop").unwrap();
    let json = serde_json::to_string(&report).unwrap();
    let back: TransactionReport = serde_json::from_str(&json).unwrap();
    assert_eq!(back, report);
    let mut merged = back;
    merged.merge(&report);
    assert_eq!(merged.malformed_batches(), 6);
    let clean = serde_json::to_string(&TransactionReport::new("shop", HOUR)).unwrap();
    assert!(!clean.contains("malformed"), "{clean}");
}

#[test]
fn types_and_names_past_the_caps_fold_into_others() {
    let config = AnalyzerConfig {
        max_types_per_machine: 3,
        max_names_per_type: 2,
        ..AnalyzerConfig::default()
    };
    let mut analyzer = TransactionAnalyzer::new(HOUR, Arc::new(config));
    for i in 0..10 {
        let root = transaction(&format!("T{i}"), "n", HOUR_START_MS, 1_000, "0");
        analyzer.process(&tree("shop", "10.0.0.1", "id", root));
    }
    for i in 0..5 {
        let root = transaction("T0", &format!("n{i}"), HOUR_START_MS, 1_000, "0");
        analyzer.process(&tree("shop", "10.0.0.1", "id", root));
    }
    let report = &analyzer.reports()["shop"];
    let view = report.view(&all_hour());
    let types: Vec<&str> = view.types.iter().map(|t| t.type_.as_str()).collect();
    assert_eq!(types, ["OTHERS", "T0", "T1", "T2"]);
    assert_eq!(name(&view, OTHERS, "n").figures.count, 7);
    let t0: Vec<(&str, u64)> = view.types[1]
        .names
        .iter()
        .map(|n| (n.name.as_str(), n.figures.count))
        .collect();
    assert_eq!(t0, [("OTHERS", 4), ("n", 1), ("n0", 1)]);
    assert!(report.has_type("10.0.0.1", "T2") && !report.has_type("10.0.0.1", "T3"));
    assert!(report.has_type("10.0.0.1", OTHERS) && !report.has_type("10.0.0.2", "T0"));
    assert!(report.has_name("10.0.0.1", "T0", "n0") && report.has_name("10.0.0.1", "T0", OTHERS));
    assert!(
        !report.has_name("10.0.0.1", "T0", "n1"),
        "folded into OTHERS"
    );
    assert!(report.has_name("10.0.0.1", OTHERS, "n") && !report.has_name("10.0.0.1", "T9", "n"));
    assert_eq!(report.folded(), 7 + 4);
    let total: u64 = view.types.iter().map(|t| t.figures.count).sum();
    assert_eq!(total, 15, "folding loses no message");
}

#[test]
fn folded_counts_each_message_once_whichever_of_its_keys_folded() {
    let config = AnalyzerConfig {
        max_machines_per_domain: 1,
        max_types_per_machine: 1,
        max_names_per_type: 1,
        max_status_codes: 1,
        ..AnalyzerConfig::default()
    };
    let mut analyzer = TransactionAnalyzer::new(HOUR, Arc::new(config));
    let one = |type_: &str, name: &str, status: &str| {
        transaction(type_, name, HOUR_START_MS, 1_000, status)
    };
    // Its own type, name and status: nothing folds.
    analyzer.process(&tree("shop", "10.0.0.1", "id", one("A", "a", "E1")));
    // The type folds; `b` is the first name of `OTHERS`.
    analyzer.process(&tree("shop", "10.0.0.1", "id", one("B", "b", "0")));
    // The type, the name and the status code fold: still one message.
    analyzer.process(&tree("shop", "10.0.0.1", "id", one("C", "c", "E2")));
    assert_eq!(analyzer.reports()["shop"].folded(), 2);
    // A second machine past the cap: the tree is found once, each of its three
    // transactions is a message under `OTHERS`.
    let mut root = one("A", "a", "0");
    root.children.push(Message::Transaction(one("A", "a", "0")));
    root.children.push(Message::Transaction(one("A", "a", "0")));
    analyzer.process(&tree("shop", "10.0.0.2", "id", root));
    let report = &analyzer.reports()["shop"];
    assert_eq!(report.folded(), 2 + 3);
    let view = report.view(&all_hour());
    assert_eq!(view.folded, 5, "the API says it too");
    let total: u64 = view.types.iter().map(|t| t.figures.count).sum();
    assert_eq!(total, 6, "folding loses no message");
}

#[test]
fn all_merges_machines_and_ip_selects_one() {
    let mut analyzer = analyzer();
    for (ip, duration_us) in [("10.0.0.1", 10_000), ("10.0.0.2", 30_000)] {
        let root = transaction("URL", "/a", HOUR_START_MS, duration_us, "0");
        analyzer.process(&tree("shop", ip, "id", root));
    }
    let report = &analyzer.reports()["shop"];
    let all = report.view(&all_hour());
    assert_eq!(all.ips, ["10.0.0.1", "10.0.0.2"]);
    let a = name(&all, "URL", "/a");
    assert_eq!(
        (a.figures.count, a.figures.avg, a.figures.std),
        (2, 20.0, 10.0)
    );
    assert_eq!(a.figures.tps, 2.0 / 3600.0);
    let one = report.view(&ViewQuery {
        ip: Some("10.0.0.2"),
        ..all_hour()
    });
    assert_eq!(name(&one, "URL", "/a").figures.avg, 30.0);
    let all_by_name = report.view(&ViewQuery {
        ip: Some("All"),
        ..all_hour()
    });
    assert_eq!(all_by_name, all);
}

#[test]
fn view_serializes_to_the_api_shape() {
    let mut analyzer = analyzer();
    let root = transaction("URL", "/a", HOUR_START_MS + 61_000, 2_000, "0");
    analyzer.process(&tree("shop", "10.0.0.1", "shop-0a000001-498703-1", root));
    let json = serde_json::to_value(analyzer.reports()["shop"].view(&all_hour())).unwrap();
    let t = &json["types"][0];
    for key in [
        "type",
        "count",
        "fail",
        "failPercent",
        "min",
        "max",
        "avg",
        "std",
        "tps",
        "p50",
        "p90",
        "p95",
        "p99",
        "p999",
        "names",
    ] {
        assert!(t.get(key).is_some(), "type has no {key}: {t}");
    }
    let n = &t["names"][0];
    for key in [
        "name",
        "p999",
        "sampleMessageId",
        "failMessageIds",
        "slowestMessageId",
    ] {
        assert!(n.get(key).is_some(), "name has no {key}: {n}");
    }
    assert_eq!(
        n["minutes"][0],
        serde_json::json!({"minute": 1, "count": 1, "fail": 0, "avg": 2.0, "p95": n["minutes"][0]["p95"]})
    );
    assert_eq!(json["hour"], "2026112207");
    assert_eq!(json["folded"], 0);
}

#[test]
fn report_roundtrips_through_json_and_an_analyzer_continues_from_it() {
    let mut analyzer = analyzer();
    let frames = binary_frames();
    for tree in &frames {
        analyzer.process(tree);
    }
    let json = serde_json::to_string(analyzer.reports()).unwrap();
    let back: BTreeMap<String, TransactionReport> = serde_json::from_str(&json).unwrap();
    assert_eq!(back, analyzer.reports().clone().into_map());

    let mut restarted =
        TransactionAnalyzer::from_reports(HOUR, Arc::new(AnalyzerConfig::default()), back);
    restarted.process(&frames[0]);
    analyzer.process(&frames[0]);
    assert_eq!(restarted.reports(), analyzer.reports());
}

fn run(trees: &[ocelot_protocol::MessageTree]) -> BTreeMap<String, TransactionReport> {
    let mut analyzer = analyzer();
    for tree in trees {
        analyzer.process(tree);
    }
    analyzer.into_reports()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn merging_two_halves_equals_one_report_and_percentiles_are_those_of_the_union(
        samples in samples(),
        split in 0.0..1.0f64,
    ) {
        let trees = trees_of(&samples);
        let cut = (trees.len() as f64 * split) as usize;
        let mut merged = run(&trees[..cut]).remove("shop").unwrap_or_default();
        merged.merge(&run(&trees[cut..]).remove("shop").unwrap_or_default());
        let whole = run(&trees).remove("shop").unwrap();
        prop_assert_eq!(&merged, &whole);

        // Percentiles of the merged "All" view against the exact ones of the samples.
        let view = merged.view(&all_hour());
        // One type's view (merged from that type alone) is that type of the whole view.
        for t in &view.types {
            let one = merged.view(&ViewQuery { type_: Some(&t.type_), ..all_hour() });
            prop_assert_eq!(&one.types, &vec![t.clone()]);
            prop_assert_eq!(&one.ips, &view.ips);
        }
        let none = merged.view(&ViewQuery { type_: Some("Nothing"), ..all_hour() });
        prop_assert!(none.types.is_empty());
        for (type_index, type_) in TYPES.iter().enumerate() {
            for name_index in 0..5 {
                let mut durations: Vec<f64> = samples
                    .iter()
                    .filter(|s| s.type_ % TYPES.len() == type_index && s.name == name_index)
                    .map(|s| s.duration_us as f64 / 1000.0)
                    .collect();
                if durations.is_empty() {
                    continue;
                }
                let figures = &name(&view, type_, &format!("name-{name_index}")).figures;
                prop_assert_eq!(figures.count, durations.len() as u64);
                for (q, got) in [
                    (0.5, figures.p50),
                    (0.9, figures.p90),
                    (0.95, figures.p95),
                    (0.99, figures.p99),
                    (0.999, figures.p999),
                ] {
                    let exact = exact_quantile(&mut durations, q);
                    prop_assert!(
                        within_one_percent(got, exact),
                        "{}/name-{} p{}: {} vs exact {}", type_, name_index, q, got, exact
                    );
                }
            }
        }
    }
}

#[test]
fn a_packed_minute_row_keeps_its_minute_and_its_checkpoint_form() {
    use super::report::TransactionMinute;
    let json = r#"{"minute":59,"count":3,"fail":2,"sum_us":900}"#;
    let mut row: TransactionMinute = serde_json::from_str(json).unwrap();
    assert_eq!(std::mem::size_of::<TransactionMinute>(), 16);
    assert_eq!(
        (row.minute(), row.count(), row.fail(), row.sum_us()),
        (59, 3, 2, 900)
    );
    // Written as an array, read in either form.
    assert_eq!(serde_json::to_string(&row).unwrap(), "[59,3,2,900]");
    let back: TransactionMinute = serde_json::from_str("[59,3,2,900]").unwrap();
    assert_eq!(back, row);
    // Failures saturate below the minute's bits instead of carrying into them.
    row.add(u64::MAX, u64::MAX, 1);
    assert_eq!(row.minute(), 59);
    assert_eq!(row.count(), u32::MAX);
    assert_eq!(row.fail(), (1 << 26) - 1);
}

#[test]
fn checkpoints_written_before_name_totals_were_derived_still_load() {
    // Until 2026-12-04 a name's stats also held count, fail and sum_us (now the sums of
    // its minute rows): such a checkpoint must load to the same report.
    let mut analyzer = analyzer();
    for tree in &binary_frames() {
        analyzer.process(tree);
    }
    let mut json = serde_json::to_value(analyzer.reports()).unwrap();
    fn add_old_fields(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(map) => {
                if let Some(serde_json::Value::Object(stats)) = map.get_mut("stats") {
                    stats.insert("count".into(), 7.into());
                    stats.insert("fail".into(), 1.into());
                    stats.insert("sum_us".into(), 1234.into());
                }
                map.values_mut().for_each(add_old_fields);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(add_old_fields),
            _ => {}
        }
    }
    add_old_fields(&mut json);
    assert!(json.to_string().contains("\"sum_us\":1234"));
    let back: BTreeMap<String, TransactionReport> = serde_json::from_value(json).unwrap();
    assert_eq!(back, analyzer.reports().clone().into_map());
}

#[test]
fn a_name_entry_stays_small() {
    // Hundreds of thousands of these live in a busy hour (one per machine, type and name);
    // 240 bytes before the totals were derived from the minute rows, 176 before sample IDs
    // took 24 bytes; the open minute's row takes 8, and the durations waiting to go into
    // the minute histograms 8.
    let size = std::mem::size_of::<super::report::TransactionName>();
    assert!(size <= 176, "{size} bytes");
}

#[test]
fn what_a_successful_message_touches_fits_the_entrys_first_two_cache_lines() {
    use super::report::TransactionName as T;
    use std::mem::offset_of;
    // The map's key (16 bytes) comes first in an entry of 192 bytes, three whole lines.
    type Entry = (std::sync::Arc<str>, T);
    let key = offset_of!(Entry, 1);
    assert_eq!((offset_of!(Entry, 0), key), (0, 16));
    assert_eq!(std::mem::size_of::<Entry>(), 192);
    // The newest minute's row is the first word of `minutes`; a histogram's waiting
    // values and its list header are all of `minute_durations`; an ID's presence is the
    // first word of a `SampleId`.
    let hot_end = [
        offset_of!(T, stats) + std::mem::size_of::<super::report::DurationStats>(),
        offset_of!(T, slowest_us) + 8,
        offset_of!(T, sample_message_id) + 8,
        offset_of!(T, minute_durations) + 32,
        offset_of!(T, minutes) + 8,
    ];
    for end in hot_end {
        assert!(key + end <= 128, "{hot_end:?}");
    }
}

#[test]
fn minute_rows_stay_narrow_until_a_row_outgrows_8_bytes_and_merge_to_the_same_form() {
    use super::report::MinuteRows;
    let adds: Vec<(u8, u64, u64, u64)> = (0..200u64)
        .map(|i| ((i * 7 % 60) as u8, 1 + i % 3, i % 2, 1_000 + i * 10))
        .chain([
            (5, 70_000, 0, 10),
            (6, 1, 2_000, 5),
            (7, 1, 0, 5_000_000_000),
        ])
        .collect();
    let rows_of = |adds: &[(u8, u64, u64, u64)]| {
        let mut rows = MinuteRows::default();
        for &(minute, count, fail, sum_us) in adds {
            rows.add(minute, count, fail, sum_us);
        }
        rows
    };
    // Sums per minute, as the rows must report them.
    let mut model = BTreeMap::<u8, (u64, u64, u64)>::new();
    for &(minute, count, fail, sum_us) in &adds {
        let m = model.entry(minute).or_default();
        *m = (m.0 + count, m.1 + fail, m.2 + sum_us);
    }
    let figures = |rows: &MinuteRows| -> BTreeMap<u8, (u64, u64, u64)> {
        rows.iter()
            .map(|r| {
                (
                    r.minute(),
                    (u64::from(r.count()), u64::from(r.fail()), r.sum_us()),
                )
            })
            .collect()
    };
    let narrow = rows_of(&adds[..200]);
    // Checkpoints keep the plain list of rows.
    assert_eq!(
        serde_json::to_string(&narrow).unwrap(),
        serde_json::to_string(&narrow.iter().collect::<Vec<_>>()).unwrap()
    );
    for cut in [0, 100, 201, 203] {
        let whole = rows_of(&adds);
        let mut merged = rows_of(&adds[..cut]);
        merged.merge(&rows_of(&adds[cut..]));
        assert_eq!(merged, whole, "cut at {cut}");
        assert_eq!(figures(&whole), model);
        let json = serde_json::to_string(&whole).unwrap();
        assert_eq!(serde_json::from_str::<MinuteRows>(&json).unwrap(), whole);
    }
    // Every one of the last three rows outgrows the narrow form on its own.
    for big in &adds[200..] {
        let mut rows = rows_of(&adds[..200]);
        let before = figures(&rows);
        rows.add(big.0, big.1, big.2, big.3);
        let mut expected = before;
        let m = expected.entry(big.0).or_default();
        *m = (m.0 + big.1, m.1 + big.2, m.2 + big.3);
        assert_eq!(figures(&rows), expected);
    }
}

#[test]
fn the_slowest_message_id_is_the_slowest_tree_with_an_id() {
    let mut analyzer = analyzer();
    let ts = HOUR_START_MS + 1_000;
    for (id, duration_us) in [
        ("", 90_000),
        ("app-0a000001-498703-1", 20_000),
        ("app-0a000001-498703-2", 5_000),
        ("", 70_000),
        ("app-0a000001-498703-3", 20_000),
    ] {
        let root = transaction("URL", "/a", ts, duration_us, "0");
        analyzer.process(&tree("app", "10.0.0.1", id, root));
    }
    let view = analyzer.reports()["app"].view(&all_hour());
    let a = name(&view, "URL", "/a");
    // Ties go to the later tree, as in CAT; trees without an ID never take the place.
    assert_eq!(a.slowest_message_id, "app-0a000001-498703-3");
    assert_eq!(a.figures.count, 5);
}

#[test]
fn the_open_minute_row_reads_as_part_of_the_list_whatever_the_order_and_sizes() {
    use super::report::MinuteRows;
    use crate::open_minute::tests::live_minutes;
    for seed in 0..50 {
        let mut rows = MinuteRows::default();
        let mut model = BTreeMap::<u8, (u64, u64, u64)>::new();
        for (minute, big, r) in live_minutes(seed, 400) {
            // One message, or batch data past the narrow form.
            let (count, fail, sum_us) = if big {
                (40_000, 600, 3_000_000_000)
            } else {
                (1, r % 2, (r >> 8) % 100_000)
            };
            rows.add(minute, count, fail, sum_us);
            let m = model.entry(minute).or_default();
            *m = (m.0 + count, m.1 + fail, m.2 + sum_us);
            let listed: BTreeMap<u8, (u64, u64, u64)> = rows
                .iter()
                .map(|r| {
                    let figures = (u64::from(r.count()), u64::from(r.fail()), r.sum_us());
                    (r.minute(), figures)
                })
                .collect();
            assert_eq!(listed, model, "seed {seed}");
            assert_eq!(rows.iter().count(), model.len(), "one row per minute");
        }
        let json = serde_json::to_string(&rows).unwrap();
        assert_eq!(serde_json::from_str::<MinuteRows>(&json).unwrap(), rows);
        let mut merged = MinuteRows::default();
        merged.merge(&rows);
        assert_eq!(merged, rows);
    }
}

#[test]
fn the_failure_links_are_the_newest_ten_failures() {
    let mut analyzer = analyzer();
    for seq in 0..18u64 {
        let root = transaction("URL", "/pay", HOUR_START_MS + seq * 60_000, 1_000, "500");
        let id = format!("shop-0a000001-498703-{seq}");
        analyzer.process(&tree("shop", "10.0.0.1", &id, root));
    }
    let view = analyzer.reports()["shop"].view(&all_hour());
    let pay = name(&view, "URL", "/pay");
    assert_eq!(pay.figures.fail, 18);
    let expected: Vec<String> = (8..18)
        .map(|seq| format!("shop-0a000001-498703-{seq}"))
        .collect();
    assert_eq!(pay.fail_message_ids, expected, "the last ten, oldest first");
}

#[test]
fn a_scoped_copy_gives_the_view_of_its_machine_and_type() {
    let mut analyzer = analyzer();
    let mut samples = ocelot_protocol::sample::SampleTrees::new(7, 2, 10, HOUR_START_MS + 60_000);
    for _ in 0..600 {
        analyzer.process(&samples.tree());
    }
    for report in analyzer.reports().values() {
        let ips: Vec<String> = report.ips().map(str::to_owned).collect();
        let types: Vec<String> = report.type_counts().into_keys().collect();
        assert!(ips.len() > 1 && types.len() > 1, "{ips:?} {types:?}");
        let machines = std::iter::once(None).chain(ips.iter().map(|ip| Some(ip.as_str())));
        for ip in machines.chain([Some("All"), Some("10.9.9.9")]) {
            let kinds = std::iter::once(None).chain(types.iter().map(|t| Some(t.as_str())));
            for type_ in kinds.chain([Some("NoSuchType")]) {
                let query = ViewQuery {
                    ip,
                    type_,
                    ..all_hour()
                };
                let scoped = report.scoped(query.machine(), type_);
                assert_eq!(scoped.view(&query), report.view(&query), "{ip:?} {type_:?}");
                assert!(scoped.ips().eq(report.ips()));
                if type_.is_some() || query.machine().is_some() {
                    assert!(
                        scoped.entry_count() < report.entry_count(),
                        "{ip:?} {type_:?}"
                    );
                }
            }
        }
    }
}

/// Names of `URL` with these message counts (`/a` 3, `/b` 5, ...), spread over two
/// machines and several minutes and durations, plus one `SQL` name.
fn report_of_counts(counts: &[(&str, u64)]) -> TransactionReport {
    let mut analyzer = analyzer();
    let mut id = 0;
    for &(name, count) in counts {
        for i in 0..count {
            id += 1;
            let ip = if i % 2 == 0 { "10.0.0.1" } else { "10.0.0.2" };
            let ts = HOUR_START_MS + (id % 7) * 60_000;
            let status = if i % 3 == 2 { "ERROR" } else { "0" };
            let root = transaction("URL", name, ts, 1_000 * (id % 11 + 1), status);
            analyzer.process(&tree(
                "shop",
                ip,
                &format!("shop-0a000001-{HOUR}-{id}"),
                root,
            ));
        }
    }
    let root = transaction("SQL", "select", HOUR_START_MS, 2_000, "0");
    analyzer.process(&tree("shop", "10.0.0.1", "shop-0a000001-498703-0", root));
    analyzer.into_reports().remove("shop").unwrap()
}

const NAME_COUNTS: [(&str, u64); 5] = [("/a", 3), ("/b", 5), ("/c", 3), ("/d", 1), ("/e", 5)];

#[test]
fn a_names_limit_keeps_the_busiest_names_in_name_order_and_counts_the_rest() {
    let report = report_of_counts(&NAME_COUNTS);
    let all = report.view(&all_hour());
    let cut = report.view(&ViewQuery {
        max_names: Some(3),
        ..all_hour()
    });
    let (all_url, cut_url) = (&all.types[1], &cut.types[1]);
    assert_eq!(cut_url.type_, "URL");
    // The busiest: /b and /e (5 each), then /a before /c (3 each: ties go by name).
    let kept: Vec<&str> = cut_url.names.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(kept, ["/a", "/b", "/e"]);
    assert_eq!(cut_url.names_left_out, 2);
    // Kept names and the type's own figures are those of the full view.
    for n in &cut_url.names {
        assert_eq!(n, name(&all, "URL", &n.name));
    }
    assert_eq!(cut_url.figures, all_url.figures);
    assert_eq!(cut_url.figures.count, 17);
    // The names listed no longer add up to the type: it has minute rows of its own.
    assert_eq!(cut_url.minutes.iter().map(|m| m.count).sum::<u64>(), 17);
    assert!(all_url.minutes.is_empty());
    // A type within the limit is whole, and so is a view without one.
    assert_eq!(cut.types[0], all.types[0]);
    assert_eq!(cut.types[0].names_left_out, 0);
    assert_eq!(all_url.names.len(), 5);
    assert_eq!(all_url.names_left_out, 0);
    let json = serde_json::to_value(&cut).unwrap();
    assert_eq!(json["types"][1]["namesLeftOut"], 2);
    assert!(json["types"][0].get("namesLeftOut").is_none());
    assert!(serde_json::to_value(&all).unwrap()["types"][1]
        .get("namesLeftOut")
        .is_none());
}

#[test]
fn a_names_limit_at_or_above_the_names_changes_nothing_and_zero_keeps_none() {
    let report = report_of_counts(&NAME_COUNTS);
    let all = report.view(&all_hour());
    for limit in [5, 6, usize::MAX] {
        let view = report.view(&ViewQuery {
            max_names: Some(limit),
            ..all_hour()
        });
        assert_eq!(view, all, "limit {limit}");
    }
    let one_machine = ViewQuery {
        ip: Some("10.0.0.2"),
        type_: Some("URL"),
        ..all_hour()
    };
    let none = report.view(&ViewQuery {
        max_names: Some(0),
        ..one_machine
    });
    assert!(none.types[0].names.is_empty());
    assert_eq!(none.types[0].names_left_out, 4); // /d's one message ran on 10.0.0.1
    assert_eq!(
        none.types[0].figures,
        report.view(&one_machine).types[0].figures
    );
}

#[test]
fn a_day_view_keeps_the_busiest_names_with_their_hours_and_the_type_s_hours() {
    let report = report_of_counts(&NAME_COUNTS);
    let mut day = crate::TransactionDay::new("shop", HOUR / 24);
    assert!(day.add_hour(&report));
    let query = ViewQuery {
        elapsed_seconds: 86_400.0,
        ..ViewQuery::default()
    };
    let all = day.view(&query);
    let cut = day.view(&ViewQuery {
        max_names: Some(2),
        ..query
    });
    let (all_url, cut_url) = (&all.types[1], &cut.types[1]);
    let kept: Vec<&str> = cut_url.names.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(kept, ["/b", "/e"]);
    assert_eq!(cut_url.names_left_out, 3);
    assert_eq!(cut_url.names[0], all_url.names[1]);
    assert!(!cut_url.names[0].hours.is_empty());
    assert_eq!(cut_url.figures, all_url.figures);
    assert_eq!(cut_url.hours, all_url.hours);
}

#[test]
fn the_failure_links_are_the_newest_by_time_over_machines_and_late_trees() {
    let mut analyzer = analyzer();
    // 10.0.0.1 fails at :50, then late trees of its :05 arrive; 10.0.0.2 (listed after it)
    // failed at :05 too. The newest ten failures are 10.0.0.1's of :50, on its own view and
    // on all machines'.
    for (ip, minute, first_seq) in [
        ("10.0.0.1", 50, 0),
        ("10.0.0.1", 5, 100),
        ("10.0.0.2", 5, 200),
    ] {
        for i in 0..10 {
            let ts = HOUR_START_MS + minute * 60_000 + i;
            let root = transaction("URL", "/pay", ts, 1_000, "500");
            let id = format!("shop-0a000001-498703-{}", first_seq + i);
            analyzer.process(&tree("shop", ip, &id, root));
        }
    }
    let expected: Vec<String> = (0..10)
        .map(|seq| format!("shop-0a000001-498703-{seq}"))
        .collect();
    let report = &analyzer.reports()["shop"];
    let one = report.view(&ViewQuery {
        ip: Some("10.0.0.1"),
        ..all_hour()
    });
    assert_eq!(name(&one, "URL", "/pay").fail_message_ids, expected);
    let all = report.view(&all_hour());
    assert_eq!(name(&all, "URL", "/pay").fail_message_ids, expected);
}

/// `(upToMs, count)` of a name's distribution buckets with a count.
fn non_empty_buckets(n: &TransactionNameView) -> Vec<(Option<u64>, u64)> {
    n.distribution
        .iter()
        .filter(|b| b.count > 0)
        .map(|b| (b.up_to_ms, b.count))
        .collect()
}

/// A view of type `URL` with `name` asked for.
fn asking_for(name: &str) -> ViewQuery<'_> {
    ViewQuery {
        type_: Some("URL"),
        keep_name: Some(name),
        ..all_hour()
    }
}

#[test]
fn a_named_names_distribution_counts_its_durations_per_power_of_two_milliseconds() {
    let mut analyzer = analyzer();
    // 0.5, 3, 3, 100 and 70 000 ms; a batch's whole milliseconds exactly on bounds.
    for (i, duration_us) in [500, 3_000, 3_000, 100_000, 70_000_000]
        .into_iter()
        .enumerate()
    {
        let root = transaction("URL", "/pay", HOUR_START_MS + i as u64, duration_us, "0");
        analyzer.process(&tree("shop", "10.0.0.1", "id", root));
    }
    let mut root = transaction("System", "TransactionAggregator", HOUR_START_MS, 0, "0");
    let mut batch = transaction("URL", "/batch", HOUR_START_MS, 0, "0");
    batch.data = "@7;0;201;1,1|2,2|4,1|64,3".into();
    root.children.push(Message::Transaction(batch));
    analyzer.process(&tree("shop", "10.0.0.1", "id", root));
    let other = transaction("URL", "/other", HOUR_START_MS, 2_000, "0");
    analyzer.process(&tree("shop", "10.0.0.1", "id", other));
    let report = &analyzer.reports()["shop"];

    let view = report.view(&asking_for("/pay"));
    let pay = name(&view, "URL", "/pay");
    assert_eq!(
        non_empty_buckets(pay),
        [(Some(1), 1), (Some(4), 2), (Some(128), 1), (None, 1)]
    );
    // All 18 buckets, fastest first, the last one open.
    let bounds: Vec<Option<u64>> = pay.distribution.iter().map(|b| b.up_to_ms).collect();
    let mut expected: Vec<Option<u64>> = (0..=16).map(|k| Some(1 << k)).collect();
    expected.push(None);
    assert_eq!(bounds, expected);
    // Only the name asked for has one.
    assert!(name(&view, "URL", "/other").distribution.is_empty());
    assert!(name(&view, "URL", "/batch").distribution.is_empty());
    assert!(report
        .view(&all_hour())
        .types
        .iter()
        .flat_map(|t| &t.names)
        .all(|n| n.distribution.is_empty()));

    // A duration of exactly a bound counts under it.
    let batch = report.view(&asking_for("/batch"));
    assert_eq!(
        non_empty_buckets(name(&batch, "URL", "/batch")),
        [(Some(1), 1), (Some(2), 2), (Some(4), 1), (Some(64), 3)]
    );

    let json = serde_json::to_value(&view).unwrap();
    let names = json["types"][0]["names"].as_array().unwrap();
    let pay = names.iter().find(|n| n["name"] == "/pay").unwrap();
    assert_eq!(
        pay["distribution"][0],
        serde_json::json!({"upToMs": 1, "count": 1})
    );
    assert_eq!(
        pay["distribution"][17],
        serde_json::json!({"upToMs": null, "count": 1})
    );
    let other = names.iter().find(|n| n["name"] == "/other").unwrap();
    assert!(other.get("distribution").is_none(), "{other}");
}

#[test]
fn the_distribution_of_all_machines_is_the_sum_of_each_machines() {
    let mut analyzer = analyzer();
    let durations_ms: [(&str, &[u64]); 2] = [
        ("10.0.0.1", &[1, 3, 3, 900, 100_000]),
        ("10.0.0.2", &[3, 7, 900, 901, 2_000]),
    ];
    for (ip, durations) in durations_ms {
        for &ms in durations {
            let root = transaction("URL", "/pay", HOUR_START_MS + ms, ms * 1_000, "0");
            analyzer.process(&tree("shop", ip, "id", root));
        }
    }
    let report = &analyzer.reports()["shop"];
    let counts = |ip: Option<&str>| -> Vec<u64> {
        let view = report.view(&ViewQuery {
            ip,
            ..asking_for("/pay")
        });
        let pay = name(&view, "URL", "/pay");
        pay.distribution.iter().map(|b| b.count).collect()
    };
    let (one, two, all) = (
        counts(Some("10.0.0.1")),
        counts(Some("10.0.0.2")),
        counts(None),
    );
    let summed: Vec<u64> = one.iter().zip(&two).map(|(a, b)| a + b).collect();
    assert_eq!(all, summed);
    assert_eq!(all.iter().sum::<u64>(), 10);
    let view = report.view(&asking_for("/pay"));
    assert_eq!(
        non_empty_buckets(name(&view, "URL", "/pay")),
        [
            (Some(1), 1),
            (Some(4), 3),
            (Some(8), 1),
            (Some(1_024), 3),
            (Some(2_048), 1),
            (None, 1)
        ]
    );
    // What a report query copies gives the same.
    let scoped = report.scoped(None, Some("URL")).view(&asking_for("/pay"));
    assert_eq!(scoped, view);
}
