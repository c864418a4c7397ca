//! What ending a root transaction costs the application when sampling sends the tree and when
//! it adds the tree to the client's tree aggregator instead:
//!
//! * `sampling/sent`: sample ratio 1 (the default): the tree gets a message ID and goes to the
//!   queue, as before sampling existed.
//! * `sampling/aggregated`: a ratio so small that every tree is aggregated: the discardable
//!   check, one atomic add, and the tallies under the thread's shard lock; no ID, no queue.
//!
//! Each tree is a `URL` root holding one `SQL` transaction and one event. The sender thread is
//! real and writes into a transport that discards the bytes.

#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion};
use ocelot_client::{event, transaction, Client};

mod support;

fn client(sample_ratio: f64) -> Client {
    support::discarding_client()
        .sample_ratio(sample_ratio)
        .build()
}

fn tree() {
    let _root = transaction!("URL", "/api/order");
    {
        let _sql = transaction!("SQL", "OrderDao.select");
    }
    event!("Cache", "hit");
}

fn benches(c: &mut Criterion) {
    let mut group = c.benchmark_group("sampling");
    for (label, ratio) in [("sent", 1.0), ("aggregated", 1e-12)] {
        let client = client(ratio);
        client.bind_to_current_thread();
        group.bench_function(label, |b| b.iter(tree));
        support::report_sender(label, &client);
    }
    group.finish();
}

criterion_group!(benches_group, benches);
criterion_main!(benches_group);
