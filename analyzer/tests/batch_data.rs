//! Batch data from sampling clients (`@count;fail;sum;d,c|...` under
//! `System/TransactionAggregator`, `@count;fail` under `System/EventAggregator`,
//! cat-design 1.6): how it adds to std, and which trees the links open.

use std::sync::Arc;

use ocelot_analyzer::{AnalyzerConfig, TransactionAnalyzer, ViewQuery};
use ocelot_protocol::{Header, Message, MessageTree, Transaction};

const HOUR_START_MS: u64 = 498_703 * 3_600_000;

/// CAT's client-side `computeDuration` bucket (cat-design 6.1, step 4).
fn bucket(d: u64) -> u64 {
    match d {
        0 => 1,
        1..=19 => d,
        20..=199 => d - d % 5,
        200..=499 => d - d % 20,
        500..=1999 => d - d % 50,
        2000..=19999 => d - d % 500,
        _ => d - d % 10000,
    }
}

fn aggregator_of(durations_ms: &[u64]) -> MessageTree {
    let mut buckets = std::collections::BTreeMap::new();
    for &d in durations_ms {
        *buckets.entry(bucket(d)).or_insert(0u64) += 1;
    }
    let pairs: Vec<String> = buckets.iter().map(|(d, c)| format!("{d},{c}")).collect();
    let sum: u64 = durations_ms.iter().sum();
    let mut child = Transaction::new("SQL", "select", HOUR_START_MS + 60_000);
    child.data = format!("@{};0;{};{}", durations_ms.len(), sum, pairs.join("|"));
    let mut root = Transaction::new("System", "TransactionAggregator", HOUR_START_MS + 60_000);
    root.children.push(Message::Transaction(child));
    let header = Header {
        domain: "shop".into(),
        ip_address: "10.0.0.1".into(),
        message_id: "shop-0a000001-498703-1".into(),
        ..Header::default()
    };
    MessageTree::new(header, Message::Transaction(root))
}

fn population_std(values: &[u64]) -> f64 {
    let n = values.len() as f64;
    let mean = values.iter().sum::<u64>() as f64 / n;
    (values
        .iter()
        .map(|&v| (v as f64 - mean).powi(2))
        .sum::<f64>()
        / n)
        .sqrt()
}

/// The std the Transaction report shows for `durations` sent as one batch, and the true
/// one.
fn batch_std(durations: &[u64]) -> (f64, f64) {
    let mut analyzer = TransactionAnalyzer::new(498_703, Arc::new(AnalyzerConfig::default()));
    analyzer.process(&aggregator_of(durations));
    let view = analyzer.reports()["shop"].view(&ViewQuery {
        elapsed_seconds: 3600.0,
        ..ViewQuery::default()
    });
    let sql = &view.types.iter().find(|t| t.type_ == "SQL").unwrap().names[0];
    assert_eq!(sql.figures.count, durations.len() as u64);
    let mean = durations.iter().sum::<u64>() as f64 / durations.len() as f64;
    assert_eq!(sql.figures.avg, mean, "the batch's sum is exact");
    (sql.figures.std, population_std(durations))
}

#[test]
fn the_std_of_batch_data_is_close_to_the_true_one() {
    // 100 SQL calls of 100..=199 ms (one each), as a sampling Java/C client sends them.
    // The true std is 28.9 ms. The keys alone (bucket floors, up to 4 ms low, around the
    // exact mean) gave 15.4; buckets taken as spread over their width give it back.
    let (std, truth) = batch_std(&(100..200).collect::<Vec<_>>());
    assert!((std - truth).abs() < 0.5, "std {std} vs true {truth}");
}

#[test]
fn the_std_of_slow_batched_calls_is_not_zero() {
    // 100 calls of 1000..=1099 ms: buckets of 50 ms (the keys alone gave 0).
    let (std, truth) = batch_std(&(1000..1100).collect::<Vec<_>>());
    assert!((std - truth).abs() < 0.5, "std {std} vs true {truth}");
}

#[test]
fn the_std_of_batched_calls_of_one_duration_is_zero() {
    // Ten calls of exactly 100 ms (`@10;0;1000;100,10`): CAT shows 0; spreading the bucket
    // over its 5 ms gave 1.44.
    assert_eq!(batch_std(&[100; 10]), (0.0, 0.0));
    // Two durations, each on its bucket's key: exact too.
    let (std, truth) = batch_std(&[[100; 10], [200; 10]].concat());
    assert_eq!((std, truth), (50.0, 50.0));
}

fn header(id: &str) -> Header {
    Header {
        domain: "shop".into(),
        ip_address: "10.0.0.1".into(),
        message_id: id.into(),
        ..Header::default()
    }
}

/// What a sampling client sends each second for the calls it did not send whole.
fn aggregator(id: &str, data: &str) -> MessageTree {
    let mut child = Transaction::new("URL", "/pay", HOUR_START_MS + 60_000);
    child.data = data.into();
    let mut root = Transaction::new("System", "TransactionAggregator", HOUR_START_MS + 60_000);
    root.children.push(Message::Transaction(child));
    MessageTree::new(header(id), Message::Transaction(root))
}

/// A real, sampled request tree.
fn request(id: &str, duration_ms: u64, status: &str) -> MessageTree {
    let mut t = Transaction::new("URL", "/pay", HOUR_START_MS + 61_000);
    t.duration_us = duration_ms * 1000;
    t.status = status.into();
    MessageTree::new(header(id), Message::Transaction(t))
}

#[test]
fn sample_failure_and_slowest_links_open_requests_not_aggregator_trees() {
    let mut analyzer = TransactionAnalyzer::new(498_703, Arc::new(AnalyzerConfig::default()));
    // 1 s of sampled-out traffic: 20 calls, 2 failed, the slowest in the 1500 ms bucket.
    analyzer.process(&aggregator(
        "shop-0a000001-498703-1",
        "@20;2;4000;100,18|1500,2",
    ));
    // The sampled trees: a success, a slow one (1800 ms) and a failure.
    analyzer.process(&request("shop-0a000001-498703-2", 90, "0"));
    analyzer.process(&request("shop-0a000001-498703-3", 1_800, "0"));
    analyzer.process(&request("shop-0a000001-498703-4", 95, "500"));
    let view = analyzer.reports()["shop"].view(&ViewQuery {
        elapsed_seconds: 3600.0,
        ..ViewQuery::default()
    });
    let url = view.types.iter().find(|t| t.type_ == "URL").unwrap();
    let pay = &url.names[0];
    assert_eq!(pay.figures.count, 23);
    let aggregator_id = "shop-0a000001-498703-1";
    // Each link should open a tree that shows a /pay request; the aggregator tree holds
    // only the `@20;2;...` summary.
    assert_ne!(
        pay.sample_message_id, aggregator_id,
        "sample link opens the aggregator tree"
    );
    assert!(
        !pay.fail_message_ids.iter().any(|id| id == aggregator_id),
        "failed links include the aggregator tree: {:?}",
        pay.fail_message_ids
    );
    assert_eq!(pay.fail_message_ids, ["shop-0a000001-498703-4"]);
    assert_eq!(pay.slowest_message_id, "shop-0a000001-498703-3");
    // The batch still counts: its failures, and its slowest bucket in the maximum.
    assert_eq!(pay.figures.fail, 3);
}

#[test]
fn sample_link_opens_a_request_tree_when_the_first_tree_of_the_hour_is_a_batch() {
    let mut analyzer = TransactionAnalyzer::new(498_703, Arc::new(AnalyzerConfig::default()));
    analyzer.process(&aggregator("shop-0a000001-498703-1", "@20;0;2000;100,20"));
    analyzer.process(&request("shop-0a000001-498703-2", 90, "0"));
    let view = analyzer.reports()["shop"].view(&ViewQuery {
        elapsed_seconds: 3600.0,
        ..ViewQuery::default()
    });
    let pay = &view.types.iter().find(|t| t.type_ == "URL").unwrap().names[0];
    assert_eq!(
        pay.sample_message_id, "shop-0a000001-498703-2",
        "the sample link opens the System/TransactionAggregator tree for the whole hour"
    );
}

#[test]
fn event_sample_link_opens_an_event_tree_not_the_event_aggregator() {
    use ocelot_analyzer::EventAnalyzer;
    use ocelot_protocol::Leaf;
    let mut analyzer = EventAnalyzer::new(498_703, Arc::new(AnalyzerConfig::default()));
    let mut root = Transaction::new("System", "EventAggregator", HOUR_START_MS + 60_000);
    root.children.push(Message::Event(Leaf::new(
        "Order",
        "created",
        "0",
        HOUR_START_MS + 60_000,
        "@30;0",
    )));
    analyzer.process(&MessageTree::new(
        header("shop-0a000001-498703-1"),
        Message::Transaction(root),
    ));
    let mut request = Transaction::new("URL", "/order", HOUR_START_MS + 61_000);
    request.children.push(Message::Event(Leaf::new(
        "Order",
        "created",
        "0",
        HOUR_START_MS + 61_000,
        "",
    )));
    analyzer.process(&MessageTree::new(
        header("shop-0a000001-498703-2"),
        Message::Transaction(request),
    ));
    let view = analyzer.reports()["shop"].view(&ViewQuery {
        elapsed_seconds: 3600.0,
        ..ViewQuery::default()
    });
    let created = &view
        .types
        .iter()
        .find(|t| t.type_ == "Order")
        .unwrap()
        .names[0];
    assert_eq!(created.count, 31);
    assert_eq!(
        created.sample_message_id, "shop-0a000001-498703-2",
        "the sample link opens the System/EventAggregator tree"
    );
}
