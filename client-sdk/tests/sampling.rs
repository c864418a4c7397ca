//! CAT's client-side sampling and `block` (reference 1.5): below a sample ratio of 1, only every
//! n-th discardable tree is sent, the rest arrive added up as `System/TransactionAggregator` and
//! `System/EventAggregator` trees; a router's `block=true` stops every tree.

mod support;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ocelot_analyzer::{AnalyzerConfig, EventAnalyzer, TransactionAnalyzer, ViewQuery};
use ocelot_client::{
    event, metric_count, transaction, with_client, Client, DropReason, MemorySink, MemoryTransport,
};
use ocelot_protocol::{hour_of, MessageTree};
use support::sent_trees;

fn sampled_client(domain: &str, ratio: f64) -> (Client, MemorySink) {
    let (transport, sink) = MemoryTransport::new();
    let client = Client::builder()
        .domain(domain)
        .ip(std::net::Ipv4Addr::new(192, 0, 2, 7))
        .heartbeat_interval(None)
        .mark_dir(std::env::temp_dir().join(format!("ocelot-sampling-{}", std::process::id())))
        .sample_ratio(ratio)
        .transport(transport)
        .build();
    (client, sink)
}

fn is_aggregator(tree: &MessageTree) -> bool {
    tree.root.type_() == "System" && tree.root.name().ends_with("Aggregator")
}

/// 40 quick trees (discardable), 3 failed ones, 2 long cache calls, 1 with a metric.
fn workload(client: &Client) {
    with_client(client, || {
        for i in 0..40 {
            {
                let _t = transaction!("URL", "/quick");
                event!("Cache", "hit");
            }
            if i % 13 == 0 {
                let failed = transaction!("URL", "/quick");
                failed.set_status("500");
            }
            if i % 20 == 0 {
                let _slow = transaction!("Cache.redis", "get");
                std::thread::sleep(Duration::from_millis(26));
            }
        }
        let _t = transaction!("URL", "/quick");
        metric_count!("orders");
    });
}

/// Per (type, name) over all hours: transactions' count and fail, and events' count and fail,
/// as the collector's analyzers count `trees`; the aggregators' own roots left out.
fn report_counts(trees: &[MessageTree]) -> BTreeMap<(String, String), (u64, u64)> {
    let config = Arc::new(AnalyzerConfig::default());
    let mut by_hour = BTreeMap::new();
    for tree in trees {
        let hour = hour_of(tree.root.timestamp_ms());
        let (t, e) = by_hour.entry(hour).or_insert_with(|| {
            (
                TransactionAnalyzer::new(hour, config.clone()),
                EventAnalyzer::new(hour, config.clone()),
            )
        });
        t.process(tree);
        e.process(tree);
    }
    let mut counts: BTreeMap<(String, String), (u64, u64)> = BTreeMap::new();
    let query = ViewQuery::default();
    for (t, e) in by_hour.values() {
        for report in t.reports().values() {
            for ty in report.view(&query).types {
                for n in ty.names {
                    if ty.type_ == "System" {
                        continue;
                    }
                    let c = counts.entry((ty.type_.clone(), n.name)).or_default();
                    c.0 += n.figures.count;
                    c.1 += n.figures.fail;
                }
            }
        }
        for report in e.reports().values() {
            for ty in report.view(&query).types {
                for n in ty.names {
                    let c = counts
                        .entry((format!("event {}", ty.type_), n.name))
                        .or_default();
                    c.0 += n.count;
                    c.1 += n.fail;
                }
            }
        }
    }
    counts
}

#[test]
fn a_quarter_sample_sends_every_4th_discardable_tree_all_kept_ones_and_adds_up_the_rest() {
    let (client, sink) = sampled_client("sampled", 0.25);
    workload(&client);
    let trees = sent_trees(&client, &sink);
    let stats = client.stats();
    // 40 quick trees: the 4th, 8th, .. are sent, 30 are aggregated.
    assert_eq!(stats.aggregated, 30, "{stats:?}");
    let sent_as_is: Vec<&MessageTree> = trees.iter().filter(|t| !is_aggregator(t)).collect();
    let quick_ok = sent_as_is
        .iter()
        .filter(|t| t.root.name() == "/quick" && t.root.status() == "0")
        .filter(|t| t.root.children().iter().all(|m| m.name() == "hit"))
        .count();
    assert_eq!(quick_ok, 10);
    // Failures, long calls and metrics are always sent.
    let failed = sent_as_is
        .iter()
        .filter(|t| t.root.status() == "500")
        .count();
    let slow = sent_as_is
        .iter()
        .filter(|t| t.root.type_() == "Cache.redis")
        .count();
    let with_metric = sent_as_is
        .iter()
        .filter(|t| t.root.children().iter().any(|m| m.name() == "orders"))
        .count();
    assert_eq!((failed, slow, with_metric), (4, 2, 1));
    assert_eq!(sent_as_is.len(), 10 + 4 + 2 + 1);
    assert!(trees
        .iter()
        .any(|t| t.root.name() == "TransactionAggregator"));
    assert!(trees.iter().any(|t| t.root.name() == "EventAggregator"));
    // Every tree produced is sent, dropped or aggregated; aggregator trees are trees too.
    assert_eq!(stats.produced, stats.sent + stats.aggregated, "{stats:?}");
    assert_eq!(stats.dropped_total(), 0);
    assert_eq!(stats.sent, trees.len() as u64);
}

#[test]
fn the_collectors_reports_count_sampled_trees_as_every_tree() {
    let (sampled, sampled_sink) = sampled_client("counted", 0.25);
    let (every, every_sink) = sampled_client("counted", 1.0);
    workload(&sampled);
    workload(&every);
    let sampled_trees = sent_trees(&sampled, &sampled_sink);
    let every_trees = sent_trees(&every, &every_sink);
    assert!(sampled_trees.len() < every_trees.len() / 2);
    let counts = report_counts(&every_trees);
    assert_eq!(counts[&("URL".to_owned(), "/quick".to_owned())], (45, 4));
    assert_eq!(
        counts[&("event Cache".to_owned(), "hit".to_owned())],
        (40, 0)
    );
    assert_eq!(report_counts(&sampled_trees), counts);
}

#[test]
fn flush_shutdown_and_dropping_the_last_handle_send_what_the_tree_aggregator_holds() {
    let quick = |client: &Client, n: usize| {
        with_client(client, || {
            for _ in 0..n {
                let _t = transaction!("Job", "tick");
            }
        })
    };
    let aggregated_count = |trees: &[MessageTree]| -> u64 {
        trees
            .iter()
            .filter(|t| t.root.name() == "TransactionAggregator")
            .flat_map(|t| t.root.children())
            .map(|c| {
                let data = c.as_transaction().unwrap().data.clone();
                data[1..].split(';').next().unwrap().parse::<u64>().unwrap()
            })
            .sum()
    };

    // flush: no waiting for the sender's once-a-second drain.
    let (client, sink) = sampled_client("flushed", 0.5);
    quick(&client, 4);
    assert!(client.flush(Duration::from_secs(5)));
    assert_eq!(aggregated_count(&sink.trees()), 2);

    // shutdown: the aggregator's last tree goes out; later trees are dropped, not aggregated.
    let (client, sink) = sampled_client("shut", 0.5);
    quick(&client, 6);
    assert!(client.shutdown(Duration::from_secs(5)));
    assert_eq!(aggregated_count(&sink.trees()), 3);
    quick(&client, 2);
    let stats = client.stats();
    assert_eq!(stats.aggregated, 3);
    assert_eq!(stats.dropped(DropReason::Shutdown), 2, "{stats:?}");

    // The last handle dropped: the sender drains on its way out.
    let (client, sink) = sampled_client("dropped", 0.5);
    quick(&client, 8);
    drop(client);
    let deadline = Instant::now() + Duration::from_secs(5);
    while aggregated_count(&sink.trees()) < 4 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(aggregated_count(&sink.trees()), 4);
}

/// A collector that counts the bytes it receives, and a CAT router that answers every query
/// with `{"kvs":{"routers":"<collector>;", extra}}`. Returns the router's address.
fn router_and_collector(extra: &str) -> (String, Arc<AtomicUsize>) {
    let collector = TcpListener::bind("127.0.0.1:0").unwrap();
    let collector_addr = collector.local_addr().unwrap();
    let received = Arc::new(AtomicUsize::new(0));
    let counter = received.clone();
    std::thread::spawn(move || {
        for conn in collector.incoming() {
            let Ok(mut conn) = conn else { return };
            let counter = counter.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = conn.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    counter.fetch_add(n, Ordering::Relaxed);
                }
            });
        }
    });
    let router = TcpListener::bind("127.0.0.1:0").unwrap();
    let router_addr = router.local_addr().unwrap().to_string();
    let body = format!(r#"{{"kvs":{{"routers":"{collector_addr};",{extra}}}}}"#);
    std::thread::spawn(move || {
        for conn in router.incoming() {
            let Ok(mut conn) = conn else { return };
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match conn.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let _ = conn.write_all(
                format!("HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{body}")
                    .as_bytes(),
            );
        }
    });
    (router_addr, received)
}

fn routed_client(domain: &str, router: &str) -> Client {
    let client = Client::builder()
        .domain(domain)
        .ip(std::net::Ipv4Addr::LOCALHOST)
        .heartbeat_interval(None)
        .mark_dir(std::env::temp_dir().join(format!("ocelot-sampling-{}", std::process::id())))
        .router(router)
        .build();
    // The router's answer is applied just before the first connect to its collector.
    let deadline = Instant::now() + Duration::from_secs(10);
    while client.stats().connects == 0 {
        assert!(Instant::now() < deadline, "never connected");
        std::thread::sleep(Duration::from_millis(5));
    }
    client
}

#[test]
fn a_router_that_says_block_stops_every_tree_and_counts_it_as_blocked() {
    let (router, received) = router_and_collector(r#""block":"true","sample":"1.0""#);
    let client = routed_client("blocked", &router);
    with_client(&client, || {
        for _ in 0..10 {
            let _t = transaction!("URL", "/x");
        }
        let failed = transaction!("URL", "/x");
        failed.set_status("500");
    });
    assert!(client.flush(Duration::from_secs(5)), "{:?}", client.stats());
    let stats = client.stats();
    assert_eq!(stats.dropped(DropReason::Blocked), 11, "{stats:?}");
    assert_eq!((stats.produced, stats.sent, stats.aggregated), (11, 0, 0));
    assert_eq!(stats.dropped_total(), 11);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(received.load(Ordering::Relaxed), 0);
}

#[test]
fn a_routers_sample_overrides_the_local_ratio() {
    let (router, received) = router_and_collector(r#""block":"false","sample":"0.5""#);
    let client = routed_client("routed-sample", &router);
    with_client(&client, || {
        for _ in 0..10 {
            let _t = transaction!("URL", "/x");
        }
    });
    assert!(client.flush(Duration::from_secs(5)));
    let stats = client.stats();
    assert_eq!(stats.aggregated, 5, "{stats:?}");
    assert_eq!(stats.produced, stats.sent + stats.aggregated);
    assert!(received.load(Ordering::Relaxed) > 0 || stats.sent > 0);
}

/// A tree whose ID has left the tree before it ended (given to a callee in a `RemoteCall`,
/// adopted from a caller, or read with `current_message_id` for the app's own log lines) must
/// be sent whatever the sample: otherwise that ID names no tree, the callee's parent link and
/// the caller's `RemoteCall` point nowhere, and the log line's LogView link is dead. It used
/// to be aggregated like any discardable tree, as long as it had no failure in it.
#[test]
fn a_tree_whose_id_was_handed_out_is_sent_whatever_the_sample() {
    let (client, sink) = sampled_client("sampled-ids", 0.01);
    let (callee, callee_sink) = sampled_client("sampled-ids-callee", 0.01);
    let mut handed_out = Vec::new();
    let mut adopted = Vec::new();
    for _ in 0..5 {
        let ctx = with_client(&client, || {
            let _t = transaction!("URL", "/logged");
            handed_out.push(ocelot_client::current_message_id().unwrap());
            drop(_t);
            let _t = transaction!("URL", "/calls");
            let ctx = ocelot_client::Context::for_remote_call("sampled-ids-callee", "pay").unwrap();
            handed_out.push(ctx.parent_id.clone());
            ctx
        });
        with_client(&callee, || {
            adopted.push(ctx.child_id.clone());
            let _adopted = ctx.adopt();
            let _t = transaction!("Service", "pay");
        });
    }
    let sent: Vec<String> = sent_trees(&client, &sink)
        .into_iter()
        .map(|t| t.header.message_id)
        .collect();
    for id in &handed_out {
        assert!(sent.contains(id), "{id} was handed out but never sent");
    }
    let callee_sent: Vec<String> = sent_trees(&callee, &callee_sink)
        .into_iter()
        .map(|t| t.header.message_id)
        .collect();
    for id in &adopted {
        assert!(callee_sent.contains(id), "adopted {id} never sent");
    }
}
