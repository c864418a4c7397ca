use super::*;
use crate::view_query::ViewQuery;

const HOUR_START_MS: u64 = 498_703 * 3_600_000;

fn at(minute: u64) -> u64 {
    HOUR_START_MS + minute * 60_000 + 17
}

fn sample_report() -> StateReport {
    let mut report = StateReport::new(498_703);
    report.record_trees(at(0), "shop", 10, 5_000);
    report.record_trees(at(0), "pay", 1, 100);
    report.record_trees(at(1), "shop", 5, 2_500);
    report.record_decode_errors(at(1), "frame_too_large", 1);
    report.record_drops(at(1), "transaction", "queue_full", 3);
    report.record_drops(at(1), "store", "queue_full", 1);
    report.record_queue_depth(at(1), "transaction", 7);
    report.record_queue_depth(at(1), "transaction", 4);
    report.record_out_of_window(at(1), 2);
    report.record_processing(at(0), "transaction", 10, 2_000);
    report.record_processing(at(0), "transaction", 10, 4_000);
    report.record_rss(at(0), 50 << 20);
    report.record_rss(at(1), 40 << 20);
    report
}

#[test]
fn the_rate_is_over_the_minutes_the_collector_ran() {
    // Started at :58: two minutes of trees are over two minutes, not the hour's 59.
    let mut report = StateReport::new(498_703);
    report.record_start(at(58));
    report.record_trees(at(58), "shop", 60, 6_000);
    report.record_trees(at(59), "shop", 60, 6_000);
    let rate = |elapsed_seconds| {
        report
            .view(&ViewQuery {
                elapsed_seconds,
                ..ViewQuery::default()
            })
            .trees_per_second
    };
    assert_eq!(rate(3_600.0), 1.0);

    // Ten seconds in: over a minute at least.
    let mut report = StateReport::new(498_703);
    report.record_trees(at(58), "shop", 30, 3_000);
    let view = report.view(&ViewQuery {
        elapsed_seconds: 58.0 * 60.0 + 10.0,
        ..ViewQuery::default()
    });
    assert_eq!(view.trees_per_second, 0.5);
}

#[test]
fn recorded_figures_add_up_per_minute_and_hour() {
    let view = sample_report().view(&ViewQuery {
        elapsed_seconds: 120.0,
        ..ViewQuery::default()
    });
    assert_eq!(view.hour, "2026112207");
    assert_eq!((view.trees, view.bytes), (16, 7_600));
    assert_eq!(view.trees_per_second, 16.0 / 120.0);
    assert_eq!(
        (view.decode_errors, view.drops, view.out_of_window),
        (1, 4, 2)
    );
    assert_eq!(view.rss_bytes, 50 << 20);
    assert_eq!(
        view.domains["shop"],
        ReceivedView {
            trees: 15,
            bytes: 7_500
        }
    );
    assert_eq!(view.minutes.len(), 2);
    let first = &view.minutes[0];
    assert_eq!((first.minute, first.trees, first.bytes), (0, 11, 5_100));
    let processing = &first.processing["transaction"];
    assert_eq!(
        (processing.trees, processing.avg_ms, processing.max_ms),
        (20, 0.3, 4.0)
    );
    let second = &view.minutes[1];
    assert_eq!(second.queue_depths["transaction"], 7);
    assert_eq!(second.drops["transaction"]["queue_full"], 3);
    assert_eq!(second.decode_errors["frame_too_large"], 1);
}

/// A tree the store refused for a duplicate ID is counted apart from the lost ones, as the
/// State page, `/metrics` and `ocelot status` count it; out-of-window trees are lost.
#[test]
fn duplicates_are_not_lost_and_out_of_window_trees_are() {
    let mut report = sample_report();
    report.record_drops(at(1), "store", "duplicate", 5);
    let view = report.view(&ViewQuery::default());
    assert_eq!((view.drops, view.duplicates), (9, 5));
    // Out of the window (2) is lost to both; the store's drop (1) and the worker's (3) may
    // be the same trees: `lost` is the larger part, each tree once.
    assert_eq!(
        (view.lost_to_reports, view.lost_to_store, view.lost),
        (5, 3, 5)
    );
    let second = &view.minutes[1];
    assert_eq!((second.lost, second.duplicates), (5, 5));
    assert_eq!(
        second.lost_by_reason(),
        [
            (OUT_OF_WINDOW_DROP, 2),
            (("store", "queue_full"), 1),
            (("transaction", "queue_full"), 3)
        ]
    );
    assert_eq!((view.minutes[0].lost, view.minutes[0].duplicates), (0, 0));
}

#[test]
fn merge_adds_counts_and_keeps_maxima() {
    let mut merged = sample_report();
    merged.merge(&sample_report());
    let view = merged.view(&ViewQuery::default());
    assert_eq!((view.trees, view.drops), (32, 8));
    assert_eq!(view.minutes[1].queue_depths["transaction"], 7);
    assert_eq!(view.rss_bytes, 50 << 20);
}

#[test]
fn domains_past_the_cap_fold_into_others() {
    let mut report = StateReport::new(1);
    for i in 0..MAX_STATE_KEYS + 5 {
        report.record_trees(at(0), &format!("d{i}"), 1, 1);
    }
    let view = report.view(&ViewQuery::default());
    assert_eq!(view.domains.len(), MAX_STATE_KEYS + 1);
    assert_eq!(view.domains["OTHERS"].trees, 5);
}

#[test]
fn report_roundtrips_through_json() {
    let report = sample_report();
    let json = serde_json::to_string(&report).unwrap();
    assert_eq!(serde_json::from_str::<StateReport>(&json).unwrap(), report);
    let view = serde_json::to_value(report.view(&ViewQuery::default())).unwrap();
    for key in [
        "hour",
        "trees",
        "bytes",
        "treesPerSecond",
        "decodeErrors",
        "drops",
        "lost",
        "duplicates",
        "outOfWindow",
        "rssBytes",
        "startedMinutes",
        "restoredIncomplete",
        "domains",
        "minutes",
    ] {
        assert!(view.get(key).is_some(), "state view has no {key}");
    }
}

#[test]
fn trees_received_outside_their_hour_are_shown_at_its_nearest_edge() {
    let mut report = StateReport::new(498_703);
    report.record_trees(at(60) + 30_000, "late", 3, 300); // 00:30 into the next hour
    report.record_trees(at(0) - 120_000, "early", 2, 200); // from :58 of the hour before
    report.record_trees(at(7), "shop", 1, 100);
    let view = report.view(&ViewQuery::default());
    let minutes: Vec<_> = view.minutes.iter().map(|m| (m.minute, m.trees)).collect();
    assert_eq!(minutes, [(0, 2), (7, 1), (59, 3)]);
}

#[test]
fn sampled_minutes_are_those_with_queue_depths_not_those_with_trees_alone() {
    let mut report = StateReport::new(498_703);
    report.record_queue_depth(at(3), "transaction", 0);
    report.record_queue_depth(at(4), "transaction", 2);
    // A tree of this hour received in the next one's grace minutes: shown at minute 59,
    // but the collector took no sample in it.
    report.record_trees(at(60) + 30_000, "late", 1, 100);
    report.record_trees(at(4), "shop", 1, 100);
    assert_eq!(report.sampled_minutes().collect::<Vec<_>>(), [3, 4]);
    assert_eq!(StateReport::new(498_703).sampled_minutes().count(), 0);
}

#[test]
fn start_minutes_survive_the_store_and_a_merge_and_older_reports_have_none() {
    let mut report = StateReport::new(498_703);
    report.record_queue_depth(at(5), "transaction", 0);
    report.record_start(at(5));
    report.record_queue_depth(at(6), "transaction", 0);
    let json = serde_json::to_string(&report).unwrap();
    let read: StateReport = serde_json::from_str(&json).unwrap();
    assert_eq!(read.started_minutes().collect::<Vec<_>>(), [5]);
    // A checkpoint of another run of the same hour, merged: both starts are kept.
    let mut other = StateReport::new(498_703);
    other.record_start(at(40));
    let mut merged = read;
    merged.merge(&other);
    assert_eq!(merged.started_minutes().collect::<Vec<_>>(), [5, 40]);
    // The second start continued the hour from a checkpoint lacking trees.
    let mut restored = StateReport::new(498_703);
    restored.record_restored_incomplete(at(41), 1);
    let json = serde_json::to_string(&restored).unwrap();
    merged.merge(&serde_json::from_str(&json).unwrap());
    let view = merged.view(&ViewQuery::default());
    assert_eq!(
        (view.started_minutes, view.restored_incomplete),
        (vec![5, 40], 1)
    );
    // Minutes without a start say nothing of it in the JSON, as before starts were kept.
    let quiet = serde_json::to_string(&sample_report()).unwrap();
    assert!(!quiet.contains("started"), "{quiet}");
    assert!(!quiet.contains("restored"), "{quiet}");
    let old: StateReport = serde_json::from_str(&quiet).unwrap();
    assert_eq!(old.started_minutes().count(), 0);
}
