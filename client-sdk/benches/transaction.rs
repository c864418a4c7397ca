//! What an application pays per recorded transaction, side by side with fastrace and
//! `tracing` on the same machine:
//!
//! * `tx_plus_event/*`: one transaction (span) with one nested event, sender attached;
//!   `ocelot_nested_in_open_root` is the record path alone (no handoff per iteration),
//!   `ocelot_without_client` a thread with no client (everything a no-op).
//! * `depth/*/N`: N nested transactions (spans), opened and closed.
//!
//! Ours sends through the real sender thread into a transport that discards the bytes; the
//! queue may fill when the bench outruns the sender, and those trees are dropped (counted and
//! printed after the run), which is the SDK's documented behaviour under overload.

#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use ocelot_client::{event, transaction, Client};

mod support;

struct NullReporter;

impl fastrace::collector::Reporter for NullReporter {
    fn report(&mut self, spans: Vec<fastrace::collector::SpanRecord>) {
        black_box(spans);
    }
}

fn ocelot_client() -> Client {
    let client = support::discarding_client().build();
    client.bind_to_current_thread();
    client
}

fn ocelot_nested(depth: usize) {
    if depth == 0 {
        return;
    }
    let _t = transaction!("Bench", "nested");
    ocelot_nested(depth - 1);
}

fn fastrace_nested(depth: usize) {
    if depth == 0 {
        return;
    }
    let _s = fastrace::local::LocalSpan::enter_with_local_parent("nested");
    fastrace_nested(depth - 1);
}

fn tracing_nested(depth: usize) {
    if depth == 0 {
        return;
    }
    let span = tracing::info_span!("nested");
    let _e = span.enter();
    tracing_nested(depth - 1);
}

fn benches(c: &mut Criterion) {
    let client = ocelot_client();
    fastrace::set_reporter(NullReporter, fastrace::collector::Config::default());

    let mut group = c.benchmark_group("tx_plus_event");
    group.bench_function("ocelot", |b| {
        b.iter(|| {
            let _t = transaction!("Bench", "tx");
            event!("Bench", "event");
        })
    });
    {
        // The record path alone: a nested transaction + event inside an open root, so no
        // handoff per iteration (the part is cut and handed off every 1000 iterations).
        let _root = transaction!("Bench", "root");
        group.bench_function("ocelot_nested_in_open_root", |b| {
            b.iter(|| {
                let _t = transaction!("Bench", "tx");
                event!("Bench", "event");
            })
        });
    }
    group.bench_function("ocelot_without_client", |b| {
        // A fresh thread: no client bound, and the bench never calls `init`.
        std::thread::scope(|scope| {
            scope.spawn(|| {
                b.iter(|| {
                    let _t = transaction!("Bench", "tx");
                    event!("Bench", "event");
                })
            });
        });
    });
    group.bench_function("fastrace", |b| {
        b.iter(|| {
            let root = fastrace::Span::root("tx", fastrace::prelude::SpanContext::random());
            let _g = root.set_local_parent();
            fastrace::local::LocalSpan::add_event(fastrace::Event::new("event"));
        })
    });
    let subscriber = tracing_subscriber::registry();
    tracing::subscriber::with_default(subscriber, || {
        group.bench_function("tracing", |b| {
            b.iter(|| {
                let span = tracing::info_span!("tx");
                let _e = span.enter();
                tracing::info!("event");
            })
        });
    });
    group.finish();

    let mut group = c.benchmark_group("depth");
    for depth in [1usize, 10, 100] {
        group.bench_with_input(BenchmarkId::new("ocelot", depth), &depth, |b, &d| {
            b.iter(|| ocelot_nested(d))
        });
        group.bench_with_input(BenchmarkId::new("fastrace", depth), &depth, |b, &d| {
            b.iter(|| {
                let root = fastrace::Span::root("tx", fastrace::prelude::SpanContext::random());
                let _g = root.set_local_parent();
                fastrace_nested(d - 1);
            })
        });
        tracing::subscriber::with_default(tracing_subscriber::registry(), || {
            group.bench_with_input(BenchmarkId::new("tracing", depth), &depth, |b, &d| {
                b.iter(|| tracing_nested(d))
            });
        });
    }
    group.finish();

    support::report_sender("ocelot sender", &client);
    fastrace::flush();
}

criterion_group!(benches_group, benches);
criterion_main!(benches_group);
