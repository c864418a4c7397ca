//! Once a thread is warmed up, recording a transaction with a nested event allocates nothing;
//! finishing a root allocates only to hand the tree to the queue (its record list and its
//! message ID).
//!
//! The counting allocator is global, so this file holds a single test, and the transport is
//! "down" so the sender thread sits idle (allocating nothing) while we count.

use std::alloc::System;

use ocelot_client::{event, transaction, Client, MemoryTransport};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// The finished tree's record list and its message ID string.
const HANDOFF_ALLOCATIONS: usize = 2;

/// Times each section is measured (see the test).
const RUNS: usize = 5;

#[test]
fn the_warmed_record_path_does_not_allocate() {
    let (transport, sink) = MemoryTransport::new();
    sink.set_down(true);
    let client = Client::builder()
        .domain("alloc")
        .ip(std::net::Ipv4Addr::LOCALHOST)
        .hostname("h")
        .heartbeat_interval(None)
        .transport(transport)
        .build();
    client.bind_to_current_thread();
    let record = || {
        let _t = transaction!("SQL", "OrderDao.load");
        event!("SQL.Method", "SELECT");
    };

    // Warm up: thread state, clock anchor, record buffer capacity.
    for _ in 0..3 {
        let _root = transaction!("URL", "/warm");
        for _ in 0..100 {
            record();
        }
    }

    // Each section is measured a few times and judged by its quietest run: the counting
    // allocator is global, and the sender thread wakes now and then on its own (the
    // message-ID mark files, the aggregators' flush), while an allocation on the record
    // path would show in every run.
    let mut nested = Vec::new();
    let mut handoff = Vec::new();
    let mut whole = Vec::new();
    for _ in 0..RUNS {
        let root = transaction!("URL", "/measured");
        let region = Region::new(GLOBAL);
        for _ in 0..100 {
            record();
        }
        nested.push(region.change());
        let region = Region::new(GLOBAL);
        drop(root);
        handoff.push(region.change());

        // A whole small tree, start to handoff.
        let region = Region::new(GLOBAL);
        {
            let _root = transaction!("URL", "/whole");
            event!("E", "e");
        }
        whole.push(region.change());
    }
    let nested = quietest(&nested);
    let handoff = quietest(&handoff);
    let whole = quietest(&whole);

    assert_eq!(
        nested.allocations, 0,
        "nested record path allocated: {nested:?}"
    );
    assert_eq!(
        nested.reallocations, 0,
        "nested record path reallocated: {nested:?}"
    );
    assert!(
        handoff.allocations + handoff.reallocations <= HANDOFF_ALLOCATIONS,
        "finishing the root allocated more than the handoff: {handoff:?}"
    );
    assert!(
        whole.allocations + whole.reallocations <= HANDOFF_ALLOCATIONS,
        "a whole tree allocated more than its handoff: {whole:?}"
    );
    assert_eq!(client.stats().produced, 3 + 2 * RUNS as u64);
}

/// The run with the fewest allocations and reallocations.
fn quietest(runs: &[stats_alloc::Stats]) -> stats_alloc::Stats {
    *runs
        .iter()
        .min_by_key(|s| s.allocations + s.reallocations)
        .expect("at least one run")
}
