//! The Matrix report costs the analyzer thread nothing on the heap once an hour is under
//! way: a tree that is no request is looked at once (its root), and a request of a known
//! name adds up its calls on the stack and into the entry it finds.
//!
//! One test in this binary: the counting allocator sees every thread's allocations.

use std::alloc::System;
use std::sync::Arc;

use ocelot_analyzer::{AnalyzerConfig, MatrixAnalyzer, ViewQuery};
use ocelot_protocol::{Header, Leaf, Message, MessageTree, Transaction, TreeView};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const HOUR: u64 = 498_703;
const HOUR_START_MS: u64 = HOUR * 3_600_000;

fn tree(seq: u64, root: Message) -> MessageTree {
    let header = Header {
        domain: "shop".into(),
        ip_address: "10.0.0.1".into(),
        message_id: format!("shop-0a000001-{HOUR}-{seq}"),
        ..Header::default()
    };
    MessageTree::new(header, root)
}

/// A root `type_`/`name` with an SQL, a cache and a remote call, and an event.
fn with_calls(type_: &str, name: &str) -> Message {
    let ts = HOUR_START_MS + 60_000;
    let mut root = Transaction::new(type_, name, ts);
    root.duration_us = 20_000;
    for call in ["SQL", "Cache.redis", "Call"] {
        let mut t = Transaction::new(call, "x", ts);
        t.duration_us = 1_000;
        t.children.push(Message::Event(Leaf::new(
            "SQL.Method",
            "SELECT",
            "0",
            ts,
            "",
        )));
        root.children.push(Message::Transaction(t));
    }
    root.children
        .push(Message::Event(Leaf::new("URL.Method", "GET", "0", ts, "")));
    Message::Transaction(root)
}

#[test]
fn counting_requests_of_known_names_and_trees_that_are_none_allocates_nothing() {
    let trees = [
        tree(1, with_calls("URL", "/orders")),
        tree(2, with_calls("Service", "order.create")),
        tree(3, with_calls("PigeonService", "order.query")),
        // No requests: another root type, a call as the root, an event root.
        tree(4, with_calls("Job", "nightly")),
        tree(5, with_calls("SQL", "select")),
        tree(
            6,
            Message::Event(Leaf::new("URL", "/x", "0", HOUR_START_MS, "")),
        ),
    ];
    let views: Vec<TreeView<'_>> = trees.iter().map(TreeView::of).collect();
    let mut analyzer = MatrixAnalyzer::new(HOUR, Arc::new(AnalyzerConfig::default()));
    // The hour's first requests make the entries.
    for view in &views {
        analyzer.process_view(view);
    }
    let region = Region::new(GLOBAL);
    for _ in 0..100 {
        for view in &views {
            analyzer.process_view(view);
        }
    }
    let change = region.change();
    assert_eq!(
        (change.allocations, change.reallocations),
        (0, 0),
        "{change:?}"
    );
    let view = analyzer.reports()["shop"].view(&ViewQuery::default());
    assert_eq!(view.names.iter().map(|n| n.count).sum::<u64>(), 3 * 101);
}
