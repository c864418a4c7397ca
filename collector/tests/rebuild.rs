//! An hour's reports rebuilt from the stored trees (`rebuild_hour`): after a crash, the
//! reports continued from the last checkpoint lack the trees received after it, which the
//! store has; a rebuild counts them again, as the live reports would have.

mod common;

use std::sync::Arc;

use common::*;
use ocelot_analyzer::{MatrixReport, StateReport, TransactionReport, ViewQuery};
use ocelot_collector::{
    rebuild_hour, Collector, CollectorConfig, ManualClock, RebuildOptions, STATE_DOMAIN,
};
use ocelot_store::Store;

/// Requests 1-3 checkpointed, then 5 (90 SQL calls) and 6 (one that ended in the next hour:
/// its ID is filed there, its time is this hour's) taken and on disk, then a crash.
fn crash_after_a_checkpoint(dir: &std::path::Path) {
    let store = open_store(dir);
    let collector = start(&store, Arc::new(ManualClock::new(NOW_MS)));
    for (seq, sql) in [(1, 3), (2, 40), (3, 5)] {
        collector.ingest(request("shop", "URL", sql, seq)).unwrap();
    }
    wait_for("three requests", || {
        orders(&collector).is_some_and(|o| o.0 == 3)
    });
    collector.checkpoint_now();
    collector.ingest(request("shop", "URL", 90, 5)).unwrap();
    collector
        .ingest(request_filed("shop", "URL", 1, 6, HOUR + 1))
        .unwrap();
    wait_for("five requests", || {
        orders(&collector).is_some_and(|o| o.0 == 5)
    });
    store.flush().unwrap();
    store.crash_for_tests();
}

/// A store holding one `/orders` request (2 SQL calls) of each of `domains` (`shop` first),
/// checkpointed by a collector that has stopped; with `sampled`, after a State sample.
fn checkpointed(dir: &std::path::Path, domains: &[&str], sampled: bool) -> Store {
    let store = open_store(dir);
    let collector = start(&store, Arc::new(ManualClock::new(NOW_MS)));
    for domain in domains {
        collector.ingest(request(domain, "URL", 2, 1)).unwrap();
    }
    wait_for("a request", || orders(&collector).is_some_and(|o| o.0 == 1));
    if sampled {
        collector.tick();
    }
    collector.checkpoint_now();
    collector.shutdown();
    store.flush().unwrap();
    store
}

/// [`crash_after_a_checkpoint`], then a restart that continues the hour from its
/// checkpoint (its first sample marks it restored incomplete) and seals it without the
/// trees taken after the checkpoint (no automatic rebuild), then stops.
fn sealed_after_a_crash(dir: &std::path::Path) -> Store {
    crash_after_a_checkpoint(dir);
    let store = open_store(dir);
    let clock = Arc::new(ManualClock::new(NOW_MS + 60_000));
    let collector = start(&store, clock.clone());
    collector.tick();
    collector.checkpoint_now();
    clock.set((HOUR + 1) * 3_600_000 + 3 * 60_000 + 500);
    collector.tick();
    collector.checkpoint_now();
    assert_eq!(collector.stats().hours_sealed, 1);
    collector.shutdown();
    store
}

fn all() -> RebuildOptions {
    RebuildOptions::default()
}

fn dry_run() -> RebuildOptions {
    RebuildOptions {
        dry_run: true,
        ..RebuildOptions::default()
    }
}

fn only_shop() -> RebuildOptions {
    RebuildOptions {
        domains: vec!["shop".to_owned()],
        ..RebuildOptions::default()
    }
}

fn stored<R: serde::de::DeserializeOwned>(store: &Store, domain: &str, kind: &str) -> R {
    let bytes = store.read_report(HOUR, domain, kind).unwrap();
    serde_json::from_slice(&bytes.expect("a stored report")).unwrap()
}

/// `/orders`'s requests and SQL calls in the stored Matrix report.
fn stored_orders(store: &Store) -> (u64, u64, u64) {
    let report: MatrixReport = stored(store, "shop", "matrix");
    let view = report.view(&ViewQuery::default());
    let orders = view.names.iter().find(|n| n.name == "/orders").unwrap();
    (
        orders.count,
        orders.calls[1].count,
        orders.calls[1].max_per_request,
    )
}

fn stored_transactions(store: &Store) -> u64 {
    let report: TransactionReport = stored(store, "shop", "transaction");
    let view = report.view(&ViewQuery::default());
    view.types.iter().map(|t| t.figures.count).sum()
}

#[test]
fn a_rebuild_counts_the_trees_a_crash_left_out_of_an_hours_reports() {
    let dir = tempfile::tempdir().unwrap();
    let store = sealed_after_a_crash(dir.path());
    assert_eq!(stored_orders(&store), (3, 48, 40));
    assert_eq!(stored_transactions(&store), 3 + 48);
    let state: StateReport = stored(&store, STATE_DOMAIN, "state");
    let view = state.view(&ViewQuery::default());
    assert!(view.restored_incomplete > 0, "marked incomplete");

    // A dry run counts and writes nothing.
    let config = CollectorConfig::default();
    let at = (HOUR + 2) * 3_600_000;
    let counted = rebuild_hour(&store, &config, HOUR, &dry_run(), at).unwrap();
    assert_eq!(counted.trees.get("shop"), Some(&5));
    // The State report was continued from its checkpoint too: it saw the first three.
    assert_eq!(counted.received.get("shop"), Some(&3));
    assert_eq!(counted.reports_written, 0);
    assert_eq!(stored_orders(&store), (3, 48, 40));

    let rebuilt = rebuild_hour(&store, &config, HOUR, &all(), at).unwrap();
    assert_eq!(rebuilt.total_trees(), 5);
    assert!(rebuilt.marked_rebuilt);
    assert_eq!((rebuilt.undecodable, rebuilt.damaged_blocks), (0, 0));
    assert!(rebuilt.reports_written >= 3, "{rebuilt:?}");
    assert_eq!(stored_orders(&store), (5, 139, 90));
    assert_eq!(stored_transactions(&store), 5 + 139);
    // The State report keeps what was received, and says the hour was rebuilt, no longer
    // incomplete.
    let state: StateReport = stored(&store, STATE_DOMAIN, "state");
    let view = state.view(&ViewQuery::default());
    assert_eq!(view.restored_incomplete, 0);
    assert_eq!(view.rebuilt_ms, at);
    assert_eq!(view.trees, 3);
    // Rebuilt again, the same.
    rebuild_hour(&store, &config, HOUR, &all(), at).unwrap();
    assert_eq!(stored_orders(&store), (5, 139, 90));
    store.shutdown();
}

#[test]
fn a_rebuild_of_one_domain_leaves_the_others_as_they_were() {
    let dir = tempfile::tempdir().unwrap();
    let store = checkpointed(dir.path(), &["shop", "cart"], false);
    // Damage `cart`'s stored report: a rebuild of `shop` alone does not touch it.
    store.write_report(HOUR, "cart", "matrix", b"{}").unwrap();
    let config = CollectorConfig::default();
    let rebuilt = rebuild_hour(&store, &config, HOUR, &only_shop(), NOW_MS).unwrap();
    assert_eq!(rebuilt.trees.keys().collect::<Vec<_>>(), ["shop"]);
    // The hour has a State report; `cart` may still lack trees, so it is not marked.
    assert!(
        rebuilt.state_found && !rebuilt.marked_rebuilt,
        "{rebuilt:?}"
    );
    assert_eq!(
        store.read_report(HOUR, "cart", "matrix").unwrap().unwrap(),
        b"{}"
    );
    assert_eq!(stored_orders(&store).0, 1);
    store.shutdown();
}

/// An hour stored without a State report (before the collector kept one) is rebuilt
/// without one being made: an empty one would say the collector was down all the hour,
/// and alert replay would then skip every minute of it.
#[test]
fn a_rebuild_of_an_hour_without_a_state_report_makes_none() {
    let dir = tempfile::tempdir().unwrap();
    let store = checkpointed(dir.path(), &["shop"], false);
    let state_file = dir
        .path()
        .join(HOUR.to_string())
        .join(STATE_DOMAIN)
        .join("reports")
        .join("state.report");
    std::fs::remove_file(&state_file).unwrap();
    let config = CollectorConfig::default();
    let rebuilt = rebuild_hour(&store, &config, HOUR, &all(), NOW_MS).unwrap();
    assert_eq!(rebuilt.total_trees(), 1);
    assert!(rebuilt.reports_written > 0, "{rebuilt:?}");
    assert!(!rebuilt.marked_rebuilt && !rebuilt.state_found);
    assert_eq!(stored_orders(&store).0, 1);
    assert!(store
        .read_report(HOUR, STATE_DOMAIN, "state")
        .unwrap()
        .is_none());
    store.shutdown();
}

/// A rebuild that counts no tree (an hour the store has nothing of, or a domain it never
/// stored) writes nothing: no State report that says the hour was rebuilt, which would
/// make an hour folder out of nothing, or clear the mark of an hour a crash left
/// incomplete.
#[test]
fn a_rebuild_that_counts_nothing_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = sealed_after_a_crash(dir.path());
    let config = CollectorConfig::default();
    let at = (HOUR + 2) * 3_600_000;

    let empty = rebuild_hour(&store, &config, HOUR - 5, &all(), at).unwrap();
    assert_eq!((empty.total_trees(), empty.reports_written), (0, 0));
    assert!(store
        .read_report(HOUR - 5, STATE_DOMAIN, "state")
        .unwrap()
        .is_none());
    assert!(!dir.path().join((HOUR - 5).to_string()).exists());

    let unknown = RebuildOptions {
        domains: vec!["nosuch".to_owned()],
        ..RebuildOptions::default()
    };
    let none = rebuild_hour(&store, &config, HOUR, &unknown, at).unwrap();
    assert_eq!((none.total_trees(), none.reports_written), (0, 0));
    let state: StateReport = stored(&store, STATE_DOMAIN, "state");
    let view = state.view(&ViewQuery::default());
    assert!(view.restored_incomplete > 0, "still marked incomplete");
    assert_eq!(view.rebuilt_ms, 0);
    store.shutdown();
}

/// A collector on `store` started as after a clean stop, ticked by hand.
fn start_after_a_clean_stop(store: &Store, clock: Arc<ManualClock>) -> Collector {
    let config = CollectorConfig {
        background_ticks: false,
        after_clean_stop: true,
        ..CollectorConfig::default()
    };
    Collector::start(config, Some(store.clone()), clock)
}

/// A crash after a checkpoint, then a start that continued the hour from it and a clean
/// stop: the store, and the clock at that stop.
fn crashed_then_stopped_cleanly(dir: &std::path::Path) -> (Store, Arc<ManualClock>) {
    crash_after_a_checkpoint(dir);
    let store = open_store(dir);
    let clock = Arc::new(ManualClock::new(NOW_MS + 60_000));
    let collector = start_rebuilding(&store, clock.clone(), true);
    collector.tick();
    collector.checkpoint_now();
    collector.shutdown();
    (store, clock)
}

/// Waits for the collector's automatic rebuild of the crashed hour, which then counts all
/// five orders the store holds.
fn wait_for_rebuilt_orders(collector: &Collector, store: &Store) {
    wait_for("the rebuilt reports", || {
        collector.stats().hours_rebuilt == 1
    });
    assert_eq!(stored_orders(store), (5, 139, 90));
}

/// [`wait_for_rebuilt_orders`], and the State report says the hour was rebuilt.
fn wait_until_rebuilt(collector: &Collector, store: &Store) {
    wait_for_rebuilt_orders(collector, store);
    let state: StateReport = stored(store, STATE_DOMAIN, "state");
    let view = state.view(&ViewQuery::default());
    assert_eq!(view.restored_incomplete, 0);
    assert!(view.rebuilt_ms > 0);
}

/// With `rebuild_incomplete_hours`, the hour a restart continued from an incomplete
/// checkpoint is rebuilt from the store once it is sealed, with no one asking.
#[test]
fn a_collector_rebuilds_an_hour_it_continued_from_an_incomplete_checkpoint_once_sealed() {
    let dir = tempfile::tempdir().unwrap();
    crash_after_a_checkpoint(dir.path());
    let store = open_store(dir.path());
    let clock = Arc::new(ManualClock::new(NOW_MS + 60_000));
    let collector = start_rebuilding(&store, clock.clone(), true);
    collector.tick();
    collector.checkpoint_now();
    assert_eq!(
        orders(&collector).map(|o| o.0),
        Some(3),
        "continued from the checkpoint"
    );
    clock.set((HOUR + 1) * 3_600_000 + 3 * 60_000 + 500);
    collector.tick();
    wait_until_rebuilt(&collector, &store);
    // Served as rebuilt: the sealed report read again, not a cached parse of the old one.
    assert_eq!(orders(&collector).map(|o| o.0), Some(5));
    collector.shutdown();
    store.shutdown();
}

/// Finding: a crash, a restart, then a clean restart in the same hour (a deploy, a changed
/// setting): the last start, told the stop was clean, logged "nothing is missing" and did
/// not know the hour lacked the trees of the crash, so its seal rebuilt nothing and the
/// State report went on saying the hour was incomplete.
#[test]
fn an_hour_left_incomplete_is_rebuilt_at_its_seal_after_a_clean_restart_in_between() {
    let dir = tempfile::tempdir().unwrap();
    let (store, clock) = crashed_then_stopped_cleanly(dir.path());
    clock.set(NOW_MS + 120_000);
    let collector = start_after_a_clean_stop(&store, clock.clone());
    collector.tick();
    assert_eq!(
        orders(&collector).map(|o| o.0),
        Some(3),
        "still lacking two"
    );
    assert_eq!(collector.stats().hours_restored_incomplete, 1);
    clock.set((HOUR + 1) * 3_600_000 + 3 * 60_000 + 500);
    collector.tick();
    wait_until_rebuilt(&collector, &store);
    collector.shutdown();
    store.shutdown();
}

/// The same with the hour closing while the collector was down after the clean stop: no
/// run sealed it knowing it lacked trees, so the start rebuilds it.
#[test]
fn an_hour_left_incomplete_that_closed_after_a_clean_stop_is_rebuilt_at_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let (store, clock) = crashed_then_stopped_cleanly(dir.path());
    clock.set((HOUR + 1) * 3_600_000 + 10 * 60_000);
    let collector = start_after_a_clean_stop(&store, clock);
    wait_for_rebuilt_orders(&collector, &store);
    collector.shutdown();
    store.shutdown();
}

/// An hour that closed while the collector was down after a crash is rebuilt at the start.
#[test]
fn a_collector_rebuilds_an_hour_that_closed_while_it_was_down() {
    let dir = tempfile::tempdir().unwrap();
    crash_after_a_checkpoint(dir.path());
    let store = open_store(dir.path());
    let clock = Arc::new(ManualClock::new((HOUR + 1) * 3_600_000 + 10 * 60_000));
    let collector = start_rebuilding(&store, clock, true);
    wait_for_rebuilt_orders(&collector, &store);
    collector.shutdown();
    store.shutdown();
}

/// A rebuild that must not make reports worse keeps a domain's reports when the store holds
/// fewer of its trees than the State report says were received, and does not call the hour
/// rebuilt.
#[test]
fn a_careful_rebuild_keeps_the_reports_of_a_domain_the_store_holds_fewer_trees_of() {
    let dir = tempfile::tempdir().unwrap();
    let store = checkpointed(dir.path(), &["shop"], false);
    // The State report says 10 were received: the store dropped 9.
    let mut state = StateReport::new(HOUR);
    state.record_trees(NOW_MS, "shop", 10, 10_000);
    store
        .write_report(
            HOUR,
            STATE_DOMAIN,
            "state",
            &serde_json::to_vec(&state).unwrap(),
        )
        .unwrap();
    store.write_report(HOUR, "shop", "matrix", b"{}").unwrap();
    let careful = RebuildOptions {
        keep_if_fewer: true,
        ..RebuildOptions::default()
    };
    let rebuilt =
        rebuild_hour(&store, &CollectorConfig::default(), HOUR, &careful, NOW_MS).unwrap();
    assert_eq!(rebuilt.kept, ["shop"]);
    assert_eq!(rebuilt.reports_written, 0);
    assert_eq!(
        store.read_report(HOUR, "shop", "matrix").unwrap().unwrap(),
        b"{}"
    );
    let state: StateReport = stored(&store, STATE_DOMAIN, "state");
    assert_eq!(state.rebuilt_ms(), None);
    // Asked for, it is rebuilt all the same.
    let rebuilt = rebuild_hour(&store, &CollectorConfig::default(), HOUR, &all(), NOW_MS).unwrap();
    assert!(rebuilt.kept.is_empty() && rebuilt.reports_written > 0);
    assert_eq!(stored_orders(&store).0, 1);
    store.shutdown();
}

/// A rebuild of some domains does not call the hour rebuilt: the others may still lack
/// trees.
#[test]
fn a_rebuild_of_some_domains_leaves_the_hour_unmarked() {
    let dir = tempfile::tempdir().unwrap();
    let store = checkpointed(dir.path(), &["shop", "cart"], true);
    let config = CollectorConfig::default();
    let rebuilt = rebuild_hour(&store, &config, HOUR, &only_shop(), NOW_MS).unwrap();
    assert!(
        rebuilt.reports_written > 0 && !rebuilt.marked_rebuilt,
        "{rebuilt:?}"
    );
    let rebuilt = rebuild_hour(&store, &config, HOUR, &all(), NOW_MS).unwrap();
    assert!(rebuilt.marked_rebuilt, "{rebuilt:?}");
    store.shutdown();
}
