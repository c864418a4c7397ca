//! A transport that logs through `tracing` while `OcelotLayer` is installed: its log lines
//! must not become trees, or each batch it sends would make the next one, for ever.
#![cfg(feature = "tracing")]

use std::io;
use std::time::Duration;

use ocelot_client::{transaction, Client, MemorySink, MemoryTransport, OcelotLayer, Transport};
use tracing_subscriber::prelude::*;

/// A transport that logs every batch it sends, as a real one might.
struct Logging(MemoryTransport);

impl Transport for Logging {
    fn send(&mut self, frames: &[u8]) -> io::Result<()> {
        tracing::info!(bytes = frames.len(), "sent a batch");
        self.0.send(frames)
    }
}

fn trees_after_a_while(client: &Client, sink: &MemorySink) -> usize {
    assert!(client.flush(Duration::from_secs(5)));
    // A loop would keep sending: give it time to show.
    std::thread::sleep(Duration::from_millis(300));
    sink.trees().len()
}

#[test]
fn a_transport_that_logs_through_tracing_does_not_feed_itself() {
    tracing_subscriber::registry()
        .with(OcelotLayer::new())
        .init();
    let (memory, sink) = MemoryTransport::new();
    let client = Client::builder()
        .domain("logging-transport")
        .heartbeat_interval(None)
        .transport(Logging(memory))
        .build();
    // The sender thread has no client of its own: the global one is what it would record into.
    ocelot_client::init(client.clone());
    drop(transaction!("URL", "/order"));
    let trees = trees_after_a_while(&client, &sink);
    assert_eq!(
        trees,
        1,
        "the transport's log lines were sent: {:?}",
        client.stats()
    );
    assert_eq!(sink.trees()[0].root.name(), "/order");
    // Events logged by the application still are recorded.
    {
        let _t = transaction!("URL", "/traced");
        tracing::info!("from the app");
    }
    assert!(client.flush(Duration::from_secs(5)));
    let traced = sink.trees();
    assert_eq!(traced.len(), 2);
    assert_eq!(traced[1].root.children().len(), 1);
}
