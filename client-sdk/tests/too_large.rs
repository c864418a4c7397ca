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
