//! A tree longer than a collector takes (CAT's clients have no such check: the server closes
//! the connection on it).

mod support;

use ocelot_client::{event, transaction, with_client, DropReason};
use support::{memory_builder, sent_trees};

/// A tree whose frame is longer than a collector takes (16 MiB) would be refused, and the
/// collector would close the connection on the rest of its batch. It is dropped and counted
/// on its own instead; the trees around it are sent.
#[test]
fn a_tree_too_large_for_a_collector_is_dropped_alone_and_counted() {
    let (builder, sink) = memory_builder("bulky-service");
    let client = builder.queue_bytes(64 * 1024 * 1024).build();
    let huge = "x".repeat(ocelot_protocol::DEFAULT_MAX_FRAME_BYTES);
    with_client(&client, || {
        drop(transaction!("URL", "/before"));
        event!("Upload", "blob", "0", huge);
        drop(transaction!("URL", "/after"));
    });
    let names: Vec<String> = sent_trees(&client, &sink)
        .iter()
        .map(|t| t.root.name().to_owned())
        .collect();
    assert_eq!(names, ["/before", "/after"]);
    let stats = client.stats();
    assert_eq!(stats.dropped(DropReason::TooLarge), 1, "{stats:?}");
    assert_eq!(
        stats.produced,
        stats.sent + stats.dropped_total(),
        "{stats:?}"
    );
}

/// The queue's byte bound counts every string a tree holds, the status the application set
/// too: with the collector down, trees whose status is long must be refused for bytes, not
/// queued. `set_status` used to leave the tree's size as it was, so a status of any length
/// cost nothing against the bound (here 50 trees of 64 KiB each queued under a 64 KiB bound).
#[test]
fn a_long_status_counts_against_the_queues_byte_bound() {
    const QUEUE_BYTES: usize = 64 * 1024;
    let (builder, sink) = memory_builder("long-status-service");
    let client = builder.queue_bytes(QUEUE_BYTES).build();
    sink.set_down(true);
    let status = "E".repeat(QUEUE_BYTES);
    with_client(&client, || {
        for _ in 0..50 {
            let t = transaction!("URL", "/failing");
            t.set_status(status.clone());
        }
    });
    let stats = client.stats();
    let held = stats.queue_depth as usize * status.len();
    assert!(held <= QUEUE_BYTES, "{held} status bytes queued: {stats:?}");
    assert_eq!(stats.dropped(DropReason::QueueBytes), 50, "{stats:?}");
}
