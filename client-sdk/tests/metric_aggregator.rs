//! Metrics logged outside any transaction are pre-aggregated, as CAT's clients do: they arrive
//! as `System/MetricAggregator` trees that the collector's Metric analyzer counts exactly as it
//! counts the single calls. Inside a transaction a metric is still an `M` message in that tree.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ocelot_analyzer::{AnalyzerConfig, MetricAnalyzer, MetricItemView, ViewQuery};
use ocelot_client::{
    event, metric_count, metric_duration, metric_sum, transaction, with_client, Client, DropReason,
    MemorySink,
};
use ocelot_protocol::{hour_of, Message, MessageTree};
use support::{memory_client, sent_trees};

/// `count` and `sum` per metric name over `trees`, read as CAT reads the statuses.
fn totals(trees: &[MessageTree]) -> BTreeMap<String, (u64, f64)> {
    let mut totals = BTreeMap::new();
    for tree in trees {
        for metric in aggregator_metrics(tree) {
            let (count, sum) = match (metric.status.as_str(), metric.data.split_once(',')) {
                ("C", None) => {
                    let count: u64 = metric.data.parse().unwrap();
                    (count, count as f64)
                }
                ("S,C", Some((count, sum))) => (count.parse().unwrap(), sum.parse().unwrap()),
                other => panic!("unexpected metric {other:?} in {tree:?}"),
            };
            let total: &mut (u64, f64) = totals.entry(metric.name.clone()).or_default();
            total.0 += count;
            total.1 += sum;
        }
    }
    totals
}

/// The metrics of a `System/MetricAggregator` tree, checking its shape.
fn aggregator_metrics(tree: &MessageTree) -> Vec<&ocelot_protocol::Leaf> {
    let Message::Transaction(root) = &tree.root else {
        panic!("not an aggregator tree: {tree:?}")
    };
    assert_eq!(
        (root.type_.as_str(), root.name.as_str()),
        ("System", "MetricAggregator")
    );
    assert_eq!((root.status.as_str(), root.duration_us), ("0", 0));
    root.children
        .iter()
        .map(|child| match child {
            Message::Metric(m) => {
                assert_eq!(m.type_, "");
                assert!(m.timestamp_ms >= root.timestamp_ms);
                m
            }
            other => panic!("an aggregator tree holds only metrics: {other:?}"),
        })
        .collect()
}

fn is_aggregator_tree(tree: &MessageTree) -> bool {
    tree.root
        .as_transaction()
        .is_some_and(|t| t.type_ == "System" && t.name == "MetricAggregator")
}

#[test]
fn metrics_outside_transactions_from_several_threads_arrive_added_up_in_aggregator_trees() {
    const THREADS: u64 = 4;
    const CALLS: u64 = 2_500;
    let (client, sink) = memory_client("aggregated");
    let started = Instant::now();
    std::thread::scope(|scope| {
        for t in 0..THREADS {
            let client = &client;
            scope.spawn(move || {
                with_client(client, || {
                    for _ in 0..CALLS {
                        metric_count!("order.count");
                        metric_count!("order.items", 3);
                        metric_sum!("order.amount", 2.5);
                        metric_sum!("order.batch", 10, 4);
                        metric_count!(format!("thread.{t}"));
                    }
                });
            });
        }
    });
    let trees = sent_trees(&client, &sink);
    let elapsed = started.elapsed();

    // One tree per flush (about one a second, plus the final one), not one per call.
    assert!(!trees.is_empty());
    assert!(
        trees.len() as u64 <= elapsed.as_secs() + 3,
        "{} trees in {elapsed:?}",
        trees.len()
    );
    let n = THREADS * CALLS;
    let mut expected = BTreeMap::from([
        ("order.count".to_owned(), (n, n as f64)),
        ("order.items".to_owned(), (3 * n, 3.0 * n as f64)),
        ("order.amount".to_owned(), (n, 2.5 * n as f64)),
        ("order.batch".to_owned(), (4 * n, 10.0 * n as f64)),
    ]);
    for t in 0..THREADS {
        expected.insert(format!("thread.{t}"), (CALLS, CALLS as f64));
    }
    assert_eq!(totals(&trees), expected);

    // Every aggregator tree is a tree like any other: its own ID, counted as produced and sent.
    let mut ids: Vec<&str> = trees.iter().map(|t| t.header.message_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), trees.len());
    let id: ocelot_protocol::MessageId = trees[0].header.message_id.parse().unwrap();
    assert_eq!(id.domain, "aggregated");
    let stats = client.stats();
    assert_eq!(stats.produced, trees.len() as u64, "{stats:?}");
    assert_eq!(stats.sent, stats.produced);
    assert_eq!(stats.dropped_total(), 0);
}

#[test]
fn metrics_inside_a_transaction_stay_in_that_tree() {
    let (client, sink) = memory_client("in-tree");
    with_client(&client, || {
        let _t = transaction!("URL", "/api/order");
        metric_count!("order.count");
        metric_sum!("order.amount", 99);
        metric_sum!("order.batch", 250, 2);
    });
    let trees = sent_trees(&client, &sink);
    assert_eq!(trees.len(), 1);
    let metrics: Vec<(&str, &str, &str)> = trees[0]
        .root
        .children()
        .iter()
        .map(|m| match m {
            Message::Metric(m) => (m.name.as_str(), m.status.as_str(), m.data.as_str()),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        metrics,
        [
            ("order.count", "C", "1"),
            ("order.amount", "S", "99"),
            ("order.batch", "S,C", "2,250"),
        ]
    );
}

/// The calls [`the_analyzer_counts_aggregated_metrics_as_it_counts_single_ones`] makes.
fn log_metrics() {
    for i in 0..300u64 {
        metric_count!("hits");
        metric_count!("items", i % 7);
        metric_sum!("amount", i as f64 * 0.25);
        metric_sum!("batch", i, 3);
        if i % 50 == 0 {
            // Not aggregated: a duration, and values the analyzer ignores.
            metric_duration!("latency", i);
            metric_count!("broken", -1);
            metric_sum!("broken.sum", f64::NAN);
        }
    }
}

fn metric_view(trees: &[MessageTree]) -> (Vec<MetricItemView>, u64) {
    let hour = hour_of(trees[0].root.timestamp_ms());
    let mut analyzer = MetricAnalyzer::new(hour, Arc::new(AnalyzerConfig::default()));
    for tree in trees {
        analyzer.process(tree);
    }
    let report = &analyzer.reports()["analyzed"];
    (report.view(&ViewQuery::default()).metrics, report.ignored())
}

fn minute_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        / 60
}

#[test]
fn the_analyzer_counts_aggregated_metrics_as_it_counts_single_ones() {
    // Both runs must fall in one minute for the per-minute figures to be comparable.
    let (aggregated, single) = loop {
        let minute = minute_now();
        let (client, sink) = memory_client("analyzed");
        with_client(&client, log_metrics);
        let aggregated = sent_trees(&client, &sink);
        let (client, sink) = memory_client("analyzed");
        with_client(&client, || {
            // The same calls as single `M` messages: inside a transaction nothing is
            // aggregated.
            let _t = transaction!("Job", "metrics");
            log_metrics();
        });
        let single = sent_trees(&client, &sink);
        if minute_now() == minute {
            break (aggregated, single);
        }
    };
    assert!(aggregated.iter().any(is_aggregator_tree));
    assert!(!single.iter().any(is_aggregator_tree));
    // Durations and unreadable values went out one by one: 6 x 3 trees.
    assert_eq!(
        aggregated.iter().filter(|t| !is_aggregator_tree(t)).count(),
        18
    );

    let (mut aggregated, aggregated_ignored) = metric_view(&aggregated);
    let (single, single_ignored) = metric_view(&single);
    assert_eq!(aggregated_ignored, single_ignored);
    assert_eq!(single_ignored, 12);
    // The one difference: a name first seen as an aggregated `S` is labelled `S,C`.
    let amount = aggregated.iter_mut().find(|m| m.name == "amount").unwrap();
    assert_eq!(amount.kind, "S,C");
    amount.kind = "S".to_owned();
    assert_eq!(aggregated, single);
    let names: Vec<(&str, &str, u64)> = single
        .iter()
        .map(|m| (m.name.as_str(), m.kind.as_str(), m.count))
        .collect();
    assert_eq!(
        names,
        [
            ("amount", "S", 300),
            ("batch", "S,C", 900),
            ("hits", "C", 300),
            ("items", "C", (0..300u64).map(|i| i % 7).sum()),
            ("latency", "T", 6),
        ]
    );
}

/// Logs `calls` counts of `names` distinct names on this thread.
fn count_names(prefix: &str, names: usize, calls: usize) {
    for _ in 0..calls {
        for i in 0..names {
            metric_count!(format!("{prefix}{i:04}"));
        }
    }
}

/// Retries `run` (which logs each name `calls` times) with a fresh client until the
/// sender's own once-a-second flush did not split its metrics (a run takes milliseconds;
/// the flush comes once a second); returns the client and every aggregated metric sent.
fn in_one_flush(calls: &str, run: impl Fn(&Client)) -> (Client, Vec<ocelot_protocol::Leaf>) {
    for _ in 0..5 {
        let (client, sink) = memory_client("capped");
        run(&client);
        let trees = sent_trees(&client, &sink);
        let metrics: Vec<ocelot_protocol::Leaf> = trees
            .iter()
            .flat_map(|t| aggregator_metrics(t).into_iter().cloned())
            .collect();
        if metrics.iter().all(|m| m.data == calls) {
            return (client, metrics);
        }
    }
    panic!("every attempt was split by a periodic flush");
}

#[test]
fn metrics_past_the_name_cap_are_dropped_and_counted() {
    let (client, metrics) = in_one_flush("2", |client| {
        with_client(client, || count_names("name.", 1_005, 2));
    });
    // One thread, one shard: it holds 1000 names and refuses the last five, twice each.
    assert_eq!(metrics.len(), 1_000);
    let stats = client.stats();
    assert_eq!(stats.dropped(DropReason::MetricNamesFull), 10, "{stats:?}");
    // Metric calls are not trees: the tree counters still add up. The 1000 metrics went
    // out in two trees of at most 500.
    assert_eq!(stats.dropped_total(), 0);
    assert_eq!(stats.produced, 2);
}

#[test]
fn names_under_each_shards_cap_are_all_sent_in_trees_of_500() {
    let (client, metrics) = in_one_flush("1", |client| {
        std::thread::scope(|scope| {
            for prefix in ["a.", "b."] {
                scope.spawn(move || with_client(client, || count_names(prefix, 600, 1)));
            }
        });
    });
    // Two threads are two shards (unless their numbers happen to be 16 apart, when one
    // shard refuses the last 200 names it is given): every name taken is sent, however
    // many the drain holds.
    let dropped = client.stats().dropped(DropReason::MetricNamesFull);
    assert!(dropped == 0 || dropped == 200, "{dropped}");
    assert_eq!(metrics.len() as u64 + dropped, 1_200);
    assert!(client.stats().produced >= 3 || dropped == 200);
}

/// Waits up to `timeout` for the sink to hold a tree.
fn wait_for_trees(sink: &MemorySink, timeout: Duration) -> Vec<MessageTree> {
    let deadline = Instant::now() + timeout;
    loop {
        let trees = sink.trees();
        if !trees.is_empty() || Instant::now() >= deadline {
            return trees;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn the_sender_thread_sends_aggregated_metrics_about_once_a_second() {
    let (client, sink) = memory_client("periodic");
    let logged = Instant::now();
    with_client(&client, || metric_count!("tick", 5));
    let trees = wait_for_trees(&sink, Duration::from_secs(5));
    assert!(
        logged.elapsed() < Duration::from_secs(3),
        "{:?}",
        logged.elapsed()
    );
    assert_eq!(totals(&trees)["tick"], (5, 5.0));
}

#[test]
fn shutdown_sends_what_the_aggregator_holds_and_later_metrics_are_counted_dropped() {
    let (client, sink) = memory_client("shutdown");
    with_client(&client, || {
        metric_count!("before", 2);
        metric_sum!("before.sum", 7);
    });
    assert!(client.shutdown(Duration::from_secs(5)));
    let trees = sink.trees();
    let totals = totals(&trees);
    assert_eq!(totals["before"], (2, 2.0));
    assert_eq!(totals["before.sum"], (1, 7.0));

    // After shutdown a metric is what it was before aggregation: a tree, dropped and counted.
    with_client(&client, || metric_count!("after"));
    let stats = client.stats();
    assert_eq!(stats.dropped(DropReason::Shutdown), 1, "{stats:?}");
    assert_eq!(sink.trees().len(), trees.len());
}

#[test]
fn the_shutdown_guard_sends_what_the_aggregator_holds() {
    let (client, sink) = memory_client("guarded");
    {
        let _shutdown = client.shutdown_on_drop(Duration::from_secs(5));
        with_client(&client, || metric_count!("guarded", 3));
    }
    assert_eq!(totals(&sink.trees())["guarded"], (3, 3.0));
}

#[test]
fn dropping_the_last_handle_still_sends_what_the_aggregator_holds() {
    let (client, sink) = memory_client("abandoned");
    with_client(&client, || metric_count!("abandoned", 4));
    drop(client);
    let trees = wait_for_trees(&sink, Duration::from_secs(5));
    assert_eq!(totals(&trees)["abandoned"], (4, 4.0));
}

#[test]
fn an_event_between_metrics_is_still_a_tree_of_its_own() {
    let (client, sink) = memory_client("mixed");
    with_client(&client, || {
        metric_count!("c");
        event!("Order", "created");
        metric_count!("c");
    });
    let trees = sent_trees(&client, &sink);
    let events: Vec<&Message> = trees
        .iter()
        .filter(|t| !is_aggregator_tree(t))
        .map(|t| &t.root)
        .collect();
    assert!(matches!(events[..], [Message::Event(e)] if e.name == "created"));
    let aggregated: Vec<MessageTree> = trees.into_iter().filter(is_aggregator_tree).collect();
    assert_eq!(totals(&aggregated)["c"], (2, 2.0));
}
