//! A short-lived process's drops reach the server: drop counters travel only in heartbeats
//! (once a minute), so `shutdown` sends one last heartbeat when anything was dropped.

mod support;

use std::time::Duration;

use ocelot_client::{transaction, with_client};
use ocelot_protocol::{Message, MessageTree};
use support::memory_builder;

/// The `<status>` XML of every heartbeat in `trees`.
fn heartbeats(trees: &[MessageTree]) -> Vec<String> {
    let mut found = Vec::new();
    for tree in trees {
        for child in tree.root.children() {
            if let Message::Heartbeat(beat) = child {
                found.push(beat.data.clone());
            }
        }
    }
    found
}

/// The value of `<extensionDetail id="{id}" ..>` in `xml`.
fn detail(xml: &str, id: &str) -> Option<u64> {
    let pattern = format!("id=\"{id}\" value=\"");
    let start = xml.find(&pattern)? + pattern.len();
    xml[start..].split('"').next()?.parse().ok()
}

/// A batch job dropped millions of trees and the server never heard of it: it ended before
/// its first heartbeat.
#[test]
fn shutdown_sends_a_last_heartbeat_with_the_drops() {
    let (builder, sink) = memory_builder("short-lived");
    // A transport that is down keeps the queue full; no heartbeat is due for an hour.
    sink.set_down(true);
    let client = builder
        .queue_trees(2)
        .heartbeat_interval(Some(Duration::from_secs(3600)))
        .build();
    with_client(&client, || {
        for _ in 0..10 {
            drop(transaction!("Job", "step"));
        }
    });
    assert!(
        client.stats().dropped_queue_full >= 8,
        "{:?}",
        client.stats()
    );
    sink.set_down(false);
    assert!(
        client.shutdown(Duration::from_secs(10)),
        "{:?}",
        client.stats()
    );
    let beats = heartbeats(&sink.trees());
    assert_eq!(beats.len(), 1, "{beats:?}");
    let dropped = detail(&beats[0], "trees.dropped.queue_full");
    assert!(dropped >= Some(8), "{}", beats[0]);
}

#[test]
fn shutdown_sends_no_extra_heartbeat_when_nothing_was_dropped() {
    let (builder, sink) = memory_builder("nothing-lost");
    let client = builder
        .heartbeat_interval(Some(Duration::from_secs(3600)))
        .build();
    with_client(&client, || drop(transaction!("Job", "step")));
    assert!(client.shutdown(Duration::from_secs(10)));
    assert_eq!(heartbeats(&sink.trees()), Vec::<String>::new());
}
