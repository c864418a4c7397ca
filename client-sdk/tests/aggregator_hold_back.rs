//! An aggregator tree carries the tallies of many trees or metric calls, so one that finds the
//! queue full is held back and retried at the next flush instead of being dropped at once.
//! Only past the hold-back bound (64 trees), or at shutdown, is it dropped and counted.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use ocelot_client::Stats;
use ocelot_client::{event, metric_count, with_client, Client, DropReason, MemorySink};
use ocelot_protocol::{Message, MessageTree};

/// A client whose queue holds two trees, with a collector that is down: nothing leaves the
/// queue until the test brings it back with `sink.set_down(false)`.
fn stalled_client(domain: &str) -> (Client, MemorySink) {
    let (builder, sink) = support::memory_builder(domain);
    sink.set_down(true);
    let client = builder.queue_trees(2).build();
    // Two plain trees fill the queue.
    with_client(&client, || {
        event!("Fill", "one");
        event!("Fill", "two");
    });
    assert_eq!(client.stats().queue_depth, 2);
    (client, sink)
}

/// Logs `count` calls of the metric `name` and offers the aggregator's tree to the (full)
/// queue: a flush with no time to wait only queues the aggregators and returns.
fn metric_then_flush(client: &Client, name: String, count: u64) {
    with_client(client, move || metric_count!(name, count));
    assert!(!client.flush(Duration::ZERO));
}

/// The count per metric name over the `System/MetricAggregator` trees in `trees`.
fn metric_counts(trees: &[MessageTree]) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for tree in trees {
        let Message::Transaction(root) = &tree.root else {
            continue;
        };
        if (root.type_.as_str(), root.name.as_str()) != ("System", "MetricAggregator") {
            continue;
        }
        for child in &root.children {
            if let Message::Metric(m) = child {
                *counts.entry(m.name.clone()).or_default() += m.data.parse::<u64>().unwrap();
            }
        }
    }
    counts
}

/// Every tree produced was sent, dropped or aggregated.
fn assert_accounted(stats: &Stats) {
    assert_eq!(
        stats.produced,
        stats.sent + stats.dropped_total() + stats.aggregated,
        "{stats:?}"
    );
}

#[test]
fn an_aggregator_tree_that_meets_a_full_queue_is_sent_once_the_queue_drains() {
    let (client, sink) = stalled_client("held");
    metric_then_flush(&client, "held.metric".to_owned(), 7);
    // Held back, not dropped, and not yet counted as produced.
    let stats = client.stats();
    assert_eq!(stats.dropped_total(), 0, "{stats:?}");
    assert_eq!(stats.produced, 2, "{stats:?}");
    // While it is held, flush waits for it rather than calling everything done.
    assert!(!client.flush(Duration::from_millis(50)));

    sink.set_down(false);
    assert!(
        client.flush(Duration::from_secs(10)),
        "{:?}",
        client.stats()
    );
    let trees = sink.trees();
    assert_eq!(metric_counts(&trees)["held.metric"], 7);
    let stats = client.stats();
    assert_eq!((stats.produced, stats.sent), (3, 3), "{stats:?}");
    assert_eq!(stats.dropped_total(), 0, "{stats:?}");
    assert_accounted(&stats);
}

#[test]
fn past_the_hold_back_bound_the_oldest_aggregator_trees_are_dropped_and_counted() {
    let (client, sink) = stalled_client("bounded");
    // One aggregator tree per round, each with a name of its own: 70 trees, room for 64.
    for round in 0..70 {
        metric_then_flush(&client, format!("round.{round:02}"), 1);
    }
    let stats = client.stats();
    assert_eq!(stats.dropped(DropReason::QueueFull), 6, "{stats:?}");
    assert_eq!(stats.produced, 2 + 6, "{stats:?}");

    sink.set_down(false);
    assert!(
        client.flush(Duration::from_secs(10)),
        "{:?}",
        client.stats()
    );
    let counts = metric_counts(&sink.trees());
    let expected: BTreeMap<String, u64> = (6..70).map(|r| (format!("round.{r:02}"), 1)).collect();
    assert_eq!(counts, expected);
    let stats = client.stats();
    assert_eq!(stats.sent, 2 + 64, "{stats:?}");
    assert_eq!(stats.dropped_total(), 6, "{stats:?}");
    assert_accounted(&stats);
}

#[test]
fn shutdown_counts_the_held_aggregator_trees_it_could_not_queue() {
    let (client, sink) = stalled_client("closing");
    metric_then_flush(&client, "never.sent".to_owned(), 3);
    assert_eq!(client.stats().dropped_total(), 0);

    // The collector stays down: shutdown tries the held tree once more, then counts it.
    assert!(!client.shutdown(Duration::from_millis(200)));
    let stats = client.stats();
    assert_eq!(stats.dropped(DropReason::QueueFull), 1, "{stats:?}");
    assert_eq!(stats.produced, 3, "{stats:?}");
    assert_eq!(stats.sent, 0, "{stats:?}");
    assert_accounted(&stats);
    assert!(sink.trees().is_empty());
}

#[test]
fn shutdown_gives_held_aggregator_trees_its_timeout_to_find_room() {
    let (client, sink) = stalled_client("closing-late");
    metric_then_flush(&client, "sent.late".to_owned(), 5);
    // The collector comes back while shutdown waits: the queue drains well within its
    // timeout, so the aggregator's tree, and the counts in it, must not be lost.
    let revive = {
        let sink = sink.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            sink.set_down(false);
        })
    };
    assert!(client.shutdown(Duration::from_secs(10)));
    revive.join().unwrap();
    assert_eq!(
        metric_counts(&sink.trees()).get("sent.late"),
        Some(&5),
        "{:?}",
        client.stats()
    );
    let stats = client.stats();
    assert_eq!((stats.produced, stats.sent), (3, 3), "{stats:?}");
    assert_eq!(stats.dropped_total(), 0, "{stats:?}");
    assert_accounted(&stats);
}
