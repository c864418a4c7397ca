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

    let root = transaction!("URL", "/measured");
    let region = Region::new(GLOBAL);
    for _ in 0..100 {
        record();
    }
    let nested = region.change();
    let region = Region::new(GLOBAL);
    drop(root);
    let handoff = region.change();

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

    // A whole small tree, start to handoff.
    let region = Region::new(GLOBAL);
    {
        let _root = transaction!("URL", "/whole");
        event!("E", "e");
    }
    let whole = region.change();
    assert!(
        whole.allocations + whole.reallocations <= HANDOFF_ALLOCATIONS,
        "a whole tree allocated more than its handoff: {whole:?}"
    );
    assert_eq!(client.stats().produced, 5);
}
