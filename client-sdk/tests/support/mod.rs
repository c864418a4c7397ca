//! Helpers shared by the integration tests.

#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use ocelot_client::{Client, ClientBuilder, MemorySink, MemoryTransport};
use ocelot_protocol::MessageTree;

/// A client with an in-memory transport and no heartbeat, for `domain`.
pub fn memory_client(domain: &str) -> (Client, MemorySink) {
    let (builder, sink) = memory_builder(domain);
    (builder.build(), sink)
}

/// [`memory_client`]'s builder, for tests that change a setting or two before building.
pub fn memory_builder(domain: &str) -> (ClientBuilder, MemorySink) {
    let (transport, sink) = MemoryTransport::new();
    // Under the build's own scratch directory (gone with `cargo clean`), not the system's:
    // every test process left a directory of mark files in /tmp.
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("ocelot-client-test-{}", std::process::id()));
    let builder = Client::builder()
        .domain(domain)
        .ip(std::net::Ipv4Addr::new(192, 0, 2, 7))
        .hostname("test-host")
        .heartbeat_interval(None)
        .mark_dir(dir)
        .transport(transport);
    (builder, sink)
}

/// Flushes `client` and returns every tree the sink received.
pub fn sent_trees(client: &Client, sink: &MemorySink) -> Vec<MessageTree> {
    assert!(
        client.flush(Duration::from_secs(10)),
        "flush timed out: {:?}",
        client.stats()
    );
    sink.trees()
}

/// A multi-threaded tokio runtime of `workers` threads, with time and I/O.
pub fn runtime(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .unwrap()
}
