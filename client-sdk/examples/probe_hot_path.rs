//! Times the record path in a plain loop (no criterion), to cross-check the benchmark on a
//! noisy machine: `cargo run --profile bench -p ocelot-client --example probe_hot_path`.

use std::time::Instant;

use ocelot_client::{event, transaction, Client, MemoryTransport};

fn time(label: &str, n: u32, mut f: impl FnMut()) {
    let start = Instant::now();
    for _ in 0..n {
        f();
    }
    println!(
        "{label:40} {:7.1} ns/op",
        start.elapsed().as_nanos() as f64 / f64::from(n)
    );
}

fn main() {
    let n = 2_000_000;
    println!("fastant TSC available: {}", fastant::is_tsc_available());
    time("fastant::Instant::now", n, || {
        std::hint::black_box(fastant::Instant::now());
    });
    time("std::time::Instant::now", n, || {
        std::hint::black_box(Instant::now());
    });
    std::thread::spawn(move || {
        time("no client: tx + event", n, || {
            let _t = transaction!("Bench", "tx");
            event!("Bench", "event");
        });
    })
    .join()
    .unwrap();
    let (transport, sink) = MemoryTransport::new();
    sink.set_down(true); // trees stay queued, then drop: measures the caller side only
    let client = Client::builder()
        .domain("probe")
        .heartbeat_interval(None)
        .transport(transport)
        .build();
    client.bind_to_current_thread();
    {
        let _root = transaction!("Bench", "root");
        time("nested tx + event in an open root", n, || {
            let _t = transaction!("Bench", "tx");
            event!("Bench", "event");
        });
    }
    time("root tx + event (queue full: drop path)", n, || {
        let _t = transaction!("Bench", "tx");
        event!("Bench", "event");
    });
    println!("{:?}", client.stats());
}
