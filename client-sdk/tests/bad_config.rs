//! A configuration that could never deliver trees as meant: `try_build` says what is wrong,
//! `build` works around it and says so, and neither fails the application later.

mod support;

use std::net::Ipv4Addr;
use std::time::Duration;

use ocelot_client::{transaction, with_client, BuildError, Client, ClientBuilder};
use support::{memory_builder, sent_trees};

fn tcp_builder() -> ClientBuilder {
    Client::builder()
        .domain("order-service")
        .ip(Ipv4Addr::LOCALHOST)
        .heartbeat_interval(None)
}

/// An empty or non-ASCII domain, no collector at all and a queue of 0 were all taken
/// without a word: the trees were refused by the collector (`invalid_domain`), or waited
/// for ever, or were dropped at once, and nothing said why.
#[test]
fn try_build_refuses_a_configuration_that_would_lose_every_tree() {
    let refused = |builder: ClientBuilder| builder.try_build().unwrap_err();
    let domain = |d: &str| refused(memory_builder("x").0.domain(d));
    assert_eq!(
        domain(""),
        BuildError::Domain {
            domain: String::new(),
            reason: "is empty"
        }
    );
    assert_eq!(
        domain("订单服务").to_string(),
        "bad domain \"订单服务\": it contains a byte outside printable ASCII"
    );
    assert!(matches!(domain("a/b"), BuildError::Domain { .. }));
    assert!(matches!(
        domain(&"d".repeat(129)),
        BuildError::Domain { .. }
    ));
    assert_eq!(refused(tcp_builder()), BuildError::NoCollector);
    assert_eq!(
        refused(memory_builder("x").0.queue_trees(0)),
        BuildError::ZeroQueue {
            setting: "queue_trees"
        }
    );
    assert_eq!(
        refused(memory_builder("x").0.queue_bytes(0)).to_string(),
        "queue_bytes(0): a queue of 0 drops every tree"
    );

    // What can work is built: a collector or a router is enough, and a transport of the
    // application's own needs neither. A collector that is down is no configuration error.
    for builder in [
        tcp_builder().collectors(["127.0.0.1:1"]),
        tcp_builder().router("127.0.0.1:1"),
        memory_builder("order service (eu)").0,
    ] {
        let client = builder.try_build().expect("a configuration that can work");
        client.shutdown(Duration::from_millis(10));
    }
}

/// `build` never fails: it sends under a domain the collector takes, and takes a queue of 0
/// for the default, instead of losing every tree; and it says what it changed.
#[test]
fn build_works_around_a_bad_configuration_and_says_what_it_did() {
    let (builder, sink) = memory_builder("订单 service");
    let client = builder.queue_trees(0).queue_bytes(0).build();
    assert_eq!(client.domain(), "__ service");
    with_client(&client, || drop(transaction!("URL", "/order")));
    let trees = sent_trees(&client, &sink);
    assert_eq!(trees.len(), 1, "{:?}", client.stats());
    assert_eq!(trees[0].header.domain, "__ service");
    assert!(
        trees[0].header.message_id.starts_with("__ service-"),
        "{}",
        trees[0].header.message_id
    );
    let said = client
        .last_transport_error()
        .expect("the problems are kept");
    for part in [
        "bad domain \"订单 service\"",
        "sending as \"__ service\"",
        "queue_trees(0)",
        "queue_bytes(0)",
    ] {
        assert!(said.contains(part), "{part:?} not in {said:?}");
    }
    client.shutdown(Duration::from_secs(1));
}

/// Without a collector or router, nothing said why no tree ever arrived.
#[test]
fn build_without_a_collector_says_nothing_can_be_sent() {
    let client = tcp_builder().build();
    let said = client.last_transport_error().expect("the problem is kept");
    assert!(said.contains("no collector or router to send to"), "{said}");
    client.shutdown(Duration::from_millis(10));
}
