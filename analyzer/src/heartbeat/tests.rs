use std::collections::BTreeMap;
use std::sync::Arc;

use ocelot_protocol::{Leaf, Message, MessageTree};

use super::*;
use crate::config::AnalyzerConfig;
use crate::test_support::{binary_frame, binary_frames, header, HOUR_START_MS};
use crate::view_query::ViewQuery;

const HOUR: u64 = 498_703;

fn run_with(config: AnalyzerConfig, trees: &[MessageTree]) -> BTreeMap<String, HeartbeatReport> {
    let mut analyzer = HeartbeatAnalyzer::new(HOUR, Arc::new(config));
    for tree in trees {
        analyzer.process(tree);
    }
    analyzer.into_reports()
}

fn heartbeat(ip: &str, minute: u64, xml: &str) -> MessageTree {
    MessageTree::new(
        header("shop", ip, "id"),
        Message::Heartbeat(Leaf::new(
            "Heartbeat",
            ip,
            "0",
            HOUR_START_MS + minute * 60_000,
            xml,
        )),
    )
}

#[test]
fn the_c_client_status_heartbeat_becomes_named_series() {
    let reports = run_with(AnalyzerConfig::default(), &[binary_frame(8)]);
    let view = reports["catgen"].view(&ViewQuery::default());
    assert_eq!(view.ips, ["192.0.2.2"]);
    assert_eq!(view.ip, "192.0.2.2");
    assert_eq!(view.minutes.len(), 1);
    let minute = &view.minutes[0];
    assert_eq!(minute.minute, 8);
    assert_eq!(minute.values.len(), 13);
    assert_eq!(minute.values["system.process.load.1min"], 1.04);
    assert_eq!(minute.values["system.process.process.running"], 4.0);
    assert_eq!(
        minute.values["system.process.mem.memtotal"],
        25_276_502_016.0
    );
    assert_eq!(
        minute.values["system.process.mem.memused.percent"],
        1.448577
    );
}

#[test]
fn every_heartbeat_of_the_real_frames_is_kept_and_nothing_else() {
    let reports = run_with(AnalyzerConfig::default(), &binary_frames());
    let report = &reports["catgen"];
    assert_eq!(report.malformed(), 0);
    let view = report.view(&ViewQuery::default());
    // S11's manual heartbeat lands in the same minute as the status heartbeat.
    assert_eq!(view.minutes.len(), 1);
    assert_eq!(view.minutes[0].values.len(), 14);
    assert_eq!(view.minutes[0].values["gen.x"], 1.0);
}

#[test]
fn machines_and_minutes_stay_apart() {
    let xml = |v: u32| {
        format!(
            r#"<status><extension id="e"><extensionDetail id="v" value="{v}"/></extension></status>"#
        )
    };
    let trees = [
        heartbeat("10.0.0.1", 1, &xml(1)),
        heartbeat("10.0.0.1", 2, &xml(2)),
        heartbeat("10.0.0.2", 1, &xml(3)),
    ];
    let reports = run_with(AnalyzerConfig::default(), &trees);
    let report = &reports["shop"];
    let one = report.view(&ViewQuery {
        ip: Some("10.0.0.1"),
        ..ViewQuery::default()
    });
    let values: Vec<(u8, f64)> = one
        .minutes
        .iter()
        .map(|m| (m.minute, m.values["e.v"]))
        .collect();
    assert_eq!(values, [(1, 1.0), (2, 2.0)]);
    let two = report.view(&ViewQuery {
        ip: Some("10.0.0.2"),
        ..ViewQuery::default()
    });
    assert_eq!(two.minutes[0].values["e.v"], 3.0);
}

#[test]
fn malformed_xml_is_counted_and_dropped() {
    let reports = run_with(
        AnalyzerConfig::default(),
        &[heartbeat("10.0.0.1", 0, "<status><broken></status>")],
    );
    assert_eq!(reports["shop"].malformed(), 1);
    let view = reports["shop"].view(&ViewQuery::default());
    assert!(view.minutes.is_empty());
    assert_eq!(view.malformed, 1, "the API says how many were dropped");
}

#[test]
fn malformed_heartbeats_are_counted_per_machine_too() {
    let broken = "<status><broken></status>";
    let good =
        r#"<status><extension id="e"><extensionDetail id="v" value="1"/></extension></status>"#;
    let trees = [
        heartbeat("10.0.0.1", 0, broken),
        heartbeat("10.0.0.1", 1, broken),
        heartbeat("10.0.0.2", 1, good),
    ];
    let reports = run_with(AnalyzerConfig::default(), &trees);
    let report = &reports["shop"];
    assert_eq!(report.malformed(), 2);
    assert_eq!(
        report.malformed_of("10.0.0.1"),
        2,
        "its page can say why it is empty"
    );
    assert_eq!(report.malformed_of("10.0.0.2"), 0);
    assert_eq!(report.malformed_of("10.0.0.9"), 0, "a machine not seen");

    let mut merged = report.clone();
    merged.merge(report);
    assert_eq!(merged.malformed_of("10.0.0.1"), 4);

    // A machine stored before the count was kept reads as none dropped.
    let old: HeartbeatReport =
        serde_json::from_str(r#"{"domain":"shop","machines":{"10.0.0.1":{"minutes":{}}}}"#)
            .unwrap();
    assert_eq!(old.malformed_of("10.0.0.1"), 0);
}

#[test]
fn series_past_the_cap_are_dropped_and_counted() {
    let config = AnalyzerConfig {
        max_heartbeat_series: 5,
        ..AnalyzerConfig::default()
    };
    let reports = run_with(config, &[binary_frame(8)]);
    let view = reports["catgen"].view(&ViewQuery::default());
    assert_eq!(view.minutes[0].values.len(), 5);
    // One heartbeat, eight of its values left out: one heartbeat not kept whole.
    assert_eq!(reports["catgen"].folded, 1);
    assert_eq!(view.folded, 1, "the API says so too");
}

#[test]
fn report_roundtrips_through_json_and_merge_keeps_both_machines() {
    let reports = run_with(AnalyzerConfig::default(), &binary_frames());
    let json = serde_json::to_string(&reports).unwrap();
    let back: BTreeMap<String, HeartbeatReport> = serde_json::from_str(&json).unwrap();
    assert_eq!(back, reports);

    let mut merged = reports["catgen"].clone();
    let other = run_with(
        AnalyzerConfig::default(),
        &[heartbeat("10.0.0.9", 3, "<status/>")],
    );
    merged.merge(&other["shop"]);
    assert_eq!(merged.ips().collect::<Vec<_>>(), ["10.0.0.9", "192.0.2.2"]);
    let view = serde_json::to_value(merged.view(&ViewQuery {
        ip: Some("192.0.2.2"),
        ..ViewQuery::default()
    }))
    .unwrap();
    assert_eq!(view["minutes"][0]["values"]["gen.x"], 1.0);
}
