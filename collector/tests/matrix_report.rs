//! The Matrix report through the collector: counted live on the analyzer thread, written at
//! every checkpoint and continued from it after a crash, sealed with its hour and served
//! from the store afterwards.

mod common;

use std::sync::Arc;

use common::*;
use ocelot_analyzer::MatrixReport;
use ocelot_collector::ManualClock;

#[test]
fn a_matrix_report_is_checkpointed_continued_after_a_crash_and_sealed() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open_store(dir.path());
        let collector = start(&store, Arc::new(ManualClock::new(NOW_MS)));
        for (seq, sql) in [(1, 3), (2, 40), (3, 5)] {
            collector.ingest(request("shop", "URL", sql, seq)).unwrap();
        }
        // A domain that serves no request has no Matrix report.
        collector.ingest(request("batch", "Job", 2, 4)).unwrap();
        wait_for("three requests", || {
            orders(&collector).is_some_and(|o| o.0 == 3)
        });
        collector.checkpoint_now();
        // After the checkpoint, then a crash: the at-most-one-interval loss.
        collector.ingest(request("shop", "URL", 90, 5)).unwrap();
        wait_for("four requests", || {
            orders(&collector).is_some_and(|o| o.0 == 4)
        });
        store.crash_for_tests();
    }
    let store = open_store(dir.path());
    let clock = Arc::new(ManualClock::new(NOW_MS + 60_000));
    let collector = start(&store, clock.clone());
    assert_eq!(orders(&collector), Some((3, 48, 3, 40, id(2))));
    collector.ingest(request("shop", "URL", 0, 6)).unwrap();
    wait_for("the restored report to go on", || {
        orders(&collector).is_some_and(|o| o.0 == 4)
    });
    assert_eq!(orders(&collector), Some((4, 48, 0, 40, id(2))));
    assert!(view(&collector, "batch").is_none());
    let live = block_on(collector.matrix_report("shop", HOUR)).unwrap();

    // Sealed at minute 3 of the next hour: from then on read from the store.
    clock.set((HOUR + 1) * 3_600_000 + 3 * 60_000 + 500);
    collector.tick();
    collector.checkpoint_now();
    assert_eq!(collector.stats().hours_sealed, 1);
    let stored: MatrixReport = serde_json::from_slice(
        &store
            .read_report(HOUR, "shop", "matrix")
            .unwrap()
            .expect("a sealed Matrix report"),
    )
    .unwrap();
    assert_eq!(stored, *live);
    let sealed = block_on(collector.matrix_report("shop", HOUR)).unwrap();
    assert_eq!(*sealed, *live);
    // Not damaged, nor missing where it should be: `batch` never had one.
    assert_eq!(
        block_on(collector.unreadable_report("matrix", "shop", HOUR)),
        None
    );
    assert!(block_on(collector.matrix_report("batch", HOUR)).is_none());
    assert_eq!(
        block_on(collector.unreadable_report("matrix", "batch", HOUR)),
        None
    );
    collector.shutdown();
    store.shutdown();
}
