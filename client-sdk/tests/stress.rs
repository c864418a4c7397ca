//! Many threads recording at once: every tree arrives exactly once or is counted as dropped.

mod support;

use std::collections::HashSet;

use ocelot_client::{event, transaction, with_client};
use support::{memory_client, sent_trees};

const THREADS: usize = 8;
/// 100k per thread in release; debug builds are ~20x slower, so the test keeps CI fast with
/// fewer and still overruns the 5000-tree queue.
const PER_THREAD: usize = if cfg!(debug_assertions) {
    25_000
} else {
    100_000
};

#[test]
fn eight_threads_every_tree_arrives_once_or_is_counted_dropped() {
    let (client, sink) = memory_client("stress");
    std::thread::scope(|scope| {
        for t in 0..THREADS {
            let client = &client;
            scope.spawn(move || {
                with_client(client, || {
                    for i in 0..PER_THREAD {
                        let _tx = transaction!("Stress", format!("{t}-{i}"));
                        event!("Stress.step", "e");
                    }
                });
            });
        }
    });
    let trees = sent_trees(&client, &sink);
    let stats = client.stats();
    let produced = (THREADS * PER_THREAD) as u64;
    assert_eq!(stats.produced, produced);
    assert_eq!(stats.sent + stats.dropped_total(), produced, "{stats:?}");
    assert_eq!(trees.len() as u64, stats.sent);
    let mut names = HashSet::new();
    let mut ids = HashSet::new();
    for tree in &trees {
        assert!(
            names.insert(tree.root.name().to_owned()),
            "tree {} arrived twice",
            tree.root.name()
        );
        assert!(
            ids.insert(tree.header.message_id.clone()),
            "ID {} used twice",
            tree.header.message_id
        );
        assert_eq!(tree.root.children().len(), 1);
    }
    eprintln!("stress: {stats:?}");
}
