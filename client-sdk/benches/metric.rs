//! What an application pays per metric call:
//!
//! * `metric/*_outside_transaction`: `metric_count!` / `metric_sum!` on a thread with no open
//!   transaction, the path the client-side metric aggregator serves (before it, each call was a
//!   tree of its own, handed to the sender).
//! * `metric/count_inside_transaction`: the same call inside an open root (an `M` message in
//!   that tree; unchanged by the aggregator), for comparison.
//! * `metric_threads/count/N`: N threads calling `metric_count!` on the same name at once; the
//!   time is what one call costs each thread (wall time of the slowest thread / calls per
//!   thread), so a lock the threads fight over shows up as growth with N.
//!
//! The sender thread is real and writes into a transport that discards the bytes.

#![allow(missing_docs)]

use std::hint::black_box;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use ocelot_client::{metric_count, metric_sum, transaction, with_client, Client};

mod support;

fn client() -> Client {
    support::discarding_client().build()
}

fn benches(c: &mut Criterion) {
    let client = client();
    client.bind_to_current_thread();

    let mut group = c.benchmark_group("metric");
    group.bench_function("count_outside_transaction", |b| {
        b.iter(|| metric_count!("bench.count"))
    });
    group.bench_function("sum_outside_transaction", |b| {
        b.iter(|| metric_sum!("bench.amount", black_box(42)))
    });
    {
        // Inside an open root: one `M` record per call (the part is cut and handed off every
        // 2000 records).
        let _root = transaction!("Bench", "root");
        group.bench_function("count_inside_transaction", |b| {
            b.iter(|| metric_count!("bench.count"))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("metric_threads");
    for threads in [1usize, 2, 4, 8] {
        group.bench_with_input(BenchmarkId::new("count", threads), &threads, |b, &n| {
            b.iter_custom(|iters| calls_on_threads(&client, n, iters))
        });
    }
    group.finish();

    support::report_sender("ocelot sender", &client);
}

/// `n` threads each make `iters` calls, started together; returns the slowest thread's time.
fn calls_on_threads(client: &Client, n: usize, iters: u64) -> Duration {
    let start = Barrier::new(n);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..n)
            .map(|_| {
                let start = &start;
                scope.spawn(move || {
                    with_client(client, || {
                        start.wait();
                        let began = Instant::now();
                        for _ in 0..iters {
                            metric_count!("bench.shared");
                        }
                        began.elapsed()
                    })
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("bench thread"))
            .max()
            .unwrap_or_default()
    })
}

criterion_group!(benches_group, benches);
criterion_main!(benches_group);
