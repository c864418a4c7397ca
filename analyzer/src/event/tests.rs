use std::collections::BTreeMap;
use std::sync::Arc;

use ocelot_protocol::{Leaf, Message, MessageTree, Transaction};
use proptest::prelude::*;

use super::*;
use crate::config::{AnalyzerConfig, OTHERS};
use crate::test_support::{binary_frames, header, samples, tree, trees_of, HOUR_START_MS};
use crate::view_query::ViewQuery;

const HOUR: u64 = 498_703;

fn run(trees: &[MessageTree]) -> BTreeMap<String, EventReport> {
    let mut analyzer = EventAnalyzer::new(HOUR, Arc::new(AnalyzerConfig::default()));
    for tree in trees {
        analyzer.process(tree);
    }
    analyzer.into_reports()
}

fn all_hour() -> ViewQuery<'static> {
    ViewQuery {
        elapsed_seconds: 3600.0,
        ..ViewQuery::default()
    }
}

fn name<'v>(view: &'v EventView, type_: &str, name: &str) -> &'v EventNameView {
    view.types
        .iter()
        .find(|t| t.type_ == type_)
        .unwrap_or_else(|| panic!("no type {type_}"))
        .names
        .iter()
        .find(|n| n.name == name)
        .unwrap_or_else(|| panic!("no name {type_}/{name}"))
}

#[test]
fn real_c_client_frames_count_every_event_and_cap_names() {
    let reports = run(&binary_frames());
    let report = &reports["catgen"];
    let view = report.view(&all_hour());

    let error = name(&view, "Error", "RuntimeException");
    assert_eq!((error.count, error.fail), (1, 1));
    assert_eq!(error.fail_message_ids, ["catgen-c0000202-498703-10029"]);
    // The C client leaves an unset event status empty: a failure.
    assert_eq!(name(&view, "Edge.null", "no-status-no-data").fail, 1);
    assert_eq!(name(&view, "Edge.empty", "").fail, 1);
    let version = name(&view, "Cat_C_Client_Version", "3.1.1");
    assert_eq!((version.count, version.fail), (1, 0));
    assert_eq!(version.sample_message_id, "catgen-c0000202-498703-10033");
    assert_eq!(version.minutes.len(), 1);
    assert_eq!(
        (version.minutes[0].minute, version.minutes[0].count),
        (8, 1)
    );

    // Both truncated parts' RemoteCall/Next, the caller's RemoteCall.
    assert_eq!(name(&view, "RemoteCall", "Next").count, 2);
    assert_eq!(name(&view, "RemoteCall", "OrderService.query").count, 1);

    // S07: 20 Sub.b events, odd ones failed.
    let sub_b = view.types.iter().find(|t| t.type_ == "Sub.b").unwrap();
    assert_eq!((sub_b.count, sub_b.fail, sub_b.names.len()), (20, 10, 20));

    // S07's 300 `Item` names and S08's 2100 `I` names stop at 200 per type.
    let item = view.types.iter().find(|t| t.type_ == "Item").unwrap();
    assert_eq!((item.count, item.names.len()), (300, 201));
    assert_eq!(name(&view, "Item", OTHERS).count, 100);
    let i = view.types.iter().find(|t| t.type_ == "I").unwrap();
    assert_eq!((i.count, i.names.len()), (2100, 201));
    assert_eq!(report.folded(), 100 + 1900);
}

#[test]
fn batch_data_adds_counts_and_failures() {
    let tree = MessageTree::new(
        header("shop", "10.0.0.1", "shop-0a000001-498703-9"),
        Message::Event(Leaf::new("Cache", "get", "0", HOUR_START_MS, "@12;3")),
    );
    let reports = run(&[tree]);
    let view = reports["shop"].view(&all_hour());
    let get = name(&view, "Cache", "get");
    assert_eq!((get.count, get.fail, get.fail_percent), (12, 3, 25.0));
    assert_eq!(get.tps, 12.0 / 3600.0);
}

#[test]
fn malformed_batch_data_is_counted_not_taken_for_one_event() {
    // A sampling client's aggregator tree: one good batch, and batches whose data does not
    // parse (each was counted as one plain event, with nothing to say so).
    let aggregator = || {
        let mut root = Transaction::new("System", "EventAggregator", HOUR_START_MS);
        for (name, data) in [
            ("created", "@3;1"),
            ("bad", "@"),
            ("bad", "@abc;1"),
            ("bad", "@2;x"),
            ("bad", "@-5;1"),
            ("bad", "@99999999999999999999999;0"),
        ] {
            let batch = Leaf::new("Order", name, "0", HOUR_START_MS, data);
            root.children.push(Message::Event(batch));
        }
        tree("shop", "10.0.0.1", "shop-0a000001-498703-1", root)
    };
    // Alone, and with the Transaction and Problem reports on one walk, as the collector
    // runs it.
    let mut alone = EventAnalyzer::new(HOUR, Arc::new(AnalyzerConfig::default()));
    alone.process(&aggregator());
    let mut hour = crate::HourAnalyzers::new(HOUR, &Arc::new(AnalyzerConfig::default()));
    hour.process(&aggregator());
    for report in [&alone.reports()["shop"], &hour.event.reports()["shop"]] {
        assert_eq!(report.malformed_batches(), 5);
        let view = report.view(&all_hour());
        let order = view.types.iter().find(|t| t.type_ == "Order").unwrap();
        let names: Vec<(&str, u64, u64)> = (order.names.iter())
            .map(|n| (n.name.as_str(), n.count, n.fail))
            .collect();
        assert_eq!(names, [("created", 3, 1)], "no name of the dropped batches");
        assert_eq!((order.count, order.fail), (3, 1), "no made-up plain event");
        assert_eq!(view.malformed_batches, 5);
        let json = serde_json::to_value(&view).unwrap();
        assert_eq!(json["malformedBatches"], 5, "{json}");
    }
    // Kept by checkpoints and merges; not written while there are none.
    let report = alone.into_reports().remove("shop").unwrap();
    let json = serde_json::to_string(&report).unwrap();
    let back: EventReport = serde_json::from_str(&json).unwrap();
    assert_eq!(back, report);
    let mut merged = back;
    merged.merge(&report);
    assert_eq!(merged.malformed_batches(), 10);
    let clean = serde_json::to_string(&EventReport::new("shop", HOUR)).unwrap();
    assert!(!clean.contains("malformed"), "{clean}");
    let view = serde_json::to_value(EventReport::new("shop", HOUR).view(&all_hour())).unwrap();
    assert_eq!(view["malformedBatches"], 0, "{view}");
}

#[test]
fn view_serializes_to_the_api_shape() {
    let reports = run(&binary_frames()[..3]);
    let json = serde_json::to_value(reports["catgen"].view(&all_hour())).unwrap();
    let t = &json["types"][0];
    for key in ["type", "count", "fail", "failPercent", "tps", "names"] {
        assert!(t.get(key).is_some(), "type has no {key}: {t}");
    }
    let n = &t["names"][0];
    for key in [
        "name",
        "count",
        "fail",
        "failPercent",
        "tps",
        "sampleMessageId",
        "failMessageIds",
        "minutes",
    ] {
        assert!(n.get(key).is_some(), "name has no {key}: {n}");
    }
}

#[test]
fn report_roundtrips_through_json() {
    let reports = run(&binary_frames());
    let json = serde_json::to_string(&reports).unwrap();
    let back: BTreeMap<String, EventReport> = serde_json::from_str(&json).unwrap();
    assert_eq!(back, reports);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn merging_two_halves_equals_one_report(samples in samples(), split in 0.0..1.0f64) {
        let trees = trees_of(&samples);
        let cut = (trees.len() as f64 * split) as usize;
        let mut merged = run(&trees[..cut]).remove("shop").unwrap_or_default();
        merged.merge(&run(&trees[cut..]).remove("shop").unwrap_or_default());
        prop_assert_eq!(merged, run(&trees).remove("shop").unwrap());
    }
}

#[test]
fn the_open_minute_row_reads_as_part_of_the_list_whatever_the_order_and_sizes() {
    use super::report::EventMinutes;
    use crate::open_minute::tests::live_minutes;
    for seed in 0..50 {
        let mut minutes = EventMinutes::default();
        let mut model = BTreeMap::<u8, (u64, u64)>::new();
        for (minute, big, r) in live_minutes(seed, 400) {
            // One event, or batch data past the packed row.
            let (count, fail) = if big {
                (3_000_000_000, 70_000_000)
            } else {
                (1, r % 2)
            };
            minutes.add(minute, count, fail);
            let m = model.entry(minute).or_default();
            *m = (m.0 + count, m.1 + fail);
            let listed: BTreeMap<u8, (u64, u64)> = minutes
                .iter()
                .map(|m| (m.minute, (m.count, m.fail)))
                .collect();
            assert_eq!(listed, model, "seed {seed}");
            assert_eq!(minutes.iter().count(), model.len(), "one row per minute");
        }
        let json = serde_json::to_string(&minutes).unwrap();
        assert_eq!(
            serde_json::from_str::<EventMinutes>(&json).unwrap(),
            minutes
        );
    }
}

#[test]
fn a_minute_row_is_written_as_an_array_and_read_in_either_form() {
    use super::report::EventMinute;
    let row = EventMinute {
        minute: 7,
        count: 12,
        fail: 3,
    };
    assert_eq!(serde_json::to_string(&row).unwrap(), "[7,12,3]");
    for json in ["[7,12,3]", r#"{"minute":7,"count":12,"fail":3}"#] {
        assert_eq!(
            serde_json::from_str::<EventMinute>(json).unwrap(),
            row,
            "{json}"
        );
    }
}

#[test]
fn a_names_limit_keeps_the_busiest_events_in_name_order_and_counts_the_rest() {
    let mut trees = Vec::new();
    for (name, count) in [("a", 3), ("b", 5), ("c", 3), ("d", 1), ("e", 5)] {
        for i in 0..count {
            let ts = HOUR_START_MS + i * 60_000;
            let status = if i == 0 { "ERROR" } else { "0" };
            let leaf = Leaf::new("Cache", name, status, ts, "");
            let ip = if i % 2 == 0 { "10.0.0.1" } else { "10.0.0.2" };
            let id = format!("shop-0a000001-{HOUR}-{name}{i}");
            trees.push(MessageTree::new(
                header("shop", ip, &id),
                Message::Event(leaf),
            ));
        }
    }
    let reports = run(&trees);
    let report = &reports["shop"];
    let all = report.view(&all_hour());
    let cut = report.view(&ViewQuery {
        max_names: Some(3),
        ..all_hour()
    });
    let (all_cache, cut_cache) = (&all.types[0], &cut.types[0]);
    let kept: Vec<&str> = cut_cache.names.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(kept, ["a", "b", "e"]);
    assert_eq!(cut_cache.names_left_out, 2);
    for n in &cut_cache.names {
        assert_eq!(n, name(&all, "Cache", &n.name));
    }
    assert_eq!(
        (cut_cache.count, cut_cache.fail, cut_cache.tps),
        (all_cache.count, all_cache.fail, all_cache.tps)
    );
    assert_eq!((cut_cache.count, cut_cache.fail), (17, 5));
    assert_eq!(all_cache.names.len(), 5);
    assert_eq!(all_cache.names_left_out, 0);
    assert_eq!(
        serde_json::to_value(&cut).unwrap()["types"][0]["namesLeftOut"],
        2
    );
    assert!(serde_json::to_value(&all).unwrap()["types"][0]
        .get("namesLeftOut")
        .is_none());
    let wide = report.view(&ViewQuery {
        max_names: Some(5),
        ..all_hour()
    });
    assert_eq!(wide, all);
}

#[test]
fn the_failure_links_are_the_newest_by_time_over_machines() {
    // 10.0.0.1 fails at :50, 10.0.0.2 (listed after it) at :05.
    let trees: Vec<MessageTree> = [("10.0.0.1", 50, 0), ("10.0.0.2", 5, 100)]
        .into_iter()
        .flat_map(|(ip, minute, first_seq)| {
            (0..10).map(move |i| {
                let ts = HOUR_START_MS + minute * 60_000 + i;
                let id = format!("shop-0a000001-498703-{}", first_seq + i);
                let error = Leaf::new("Error", "Timeout", "ERROR", ts, "");
                MessageTree::new(header("shop", ip, &id), Message::Event(error))
            })
        })
        .collect();
    let reports = run(&trees);
    let view = reports["shop"].view(&all_hour());
    let expected: Vec<String> = (0..10)
        .map(|seq| format!("shop-0a000001-498703-{seq}"))
        .collect();
    assert_eq!(name(&view, "Error", "Timeout").fail_message_ids, expected);
}

#[test]
fn a_types_count_saturates_where_its_names_counts_do() {
    // A client's batch counts are its own: two near the limit add up to more than a u64.
    let trees: Vec<MessageTree> = ["a", "b"]
        .into_iter()
        .enumerate()
        .map(|(i, name)| {
            let batch = Leaf::new("Job", name, "0", HOUR_START_MS, "@18446744073709551615;9");
            let id = format!("shop-0a000001-498703-{i}");
            MessageTree::new(header("shop", "10.0.0.1", &id), Message::Event(batch))
        })
        .collect();
    let view = run(&trees)["shop"].view(&all_hour());
    let job = &view.types[0];
    assert_eq!((job.count, job.fail), (u64::MAX, 18));
}
