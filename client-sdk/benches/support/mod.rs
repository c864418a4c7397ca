//! What the SDK's benches share: a client whose real sender thread writes into a transport
//! that discards the bytes, so a bench measures the application's side alone.

use std::hint::black_box;
use std::io;
use std::time::Duration;

use ocelot_client::{Client, ClientBuilder, Transport};

/// Counts bytes and forgets them.
struct Discard;

impl Transport for Discard {
    fn send(&mut self, frames: &[u8]) -> io::Result<()> {
        black_box(frames.len());
        Ok(())
    }
}

/// A builder for domain `bench` on 127.0.0.1, without heartbeats, sending into [`Discard`];
/// a bench adds what it varies and calls `build`.
pub(crate) fn discarding_client() -> ClientBuilder {
    ocelot_client::Client::builder()
        .domain("bench")
        .ip(std::net::Ipv4Addr::LOCALHOST)
        .heartbeat_interval(None)
        .transport(Discard)
}

/// Sends what is queued, then prints what the sender did with the bench's trees: a bench
/// thread outruns the sender, and the trees it drops are counted, not hidden.
pub(crate) fn report_sender(label: &str, client: &Client) {
    client.flush(Duration::from_secs(10));
    let stats = client.stats();
    eprintln!(
        "{label}: produced {} sent {} aggregated {} dropped {} (queue full {}, bytes {})",
        stats.produced,
        stats.sent,
        stats.aggregated,
        stats.dropped_total(),
        stats.dropped_queue_full,
        stats.dropped_queue_bytes
    );
}
