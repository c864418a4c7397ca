//! Lookup latency over 100k stored trees: a fresh store per lookup (empty LRU and maps),
//! a warm store with random IDs, and a cached block. Percentiles are printed to stderr.
//!
//! `cargo bench -p ocelot-store --bench lookup -- --warm-up-time 1 --measurement-time 3`
#![allow(missing_docs)] // criterion_group! generates undocumented items

mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use common::{config, id_of, tree, LOOKUP_TREES};
use criterion::{criterion_group, criterion_main, Criterion};
use ocelot_protocol::MessageId;
use ocelot_store::Store;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

fn percentiles(label: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let at = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)];
    eprintln!(
        "{label}: n={} p50={:?} p99={:?} max={:?}",
        samples.len(),
        at(0.50),
        at(0.99),
        samples[samples.len() - 1]
    );
}

fn lookup(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(config(dir.path())).unwrap();
        let mut rng = SmallRng::seed_from_u64(2);
        for seq in 0..LOOKUP_TREES {
            let id = id_of(seq);
            let f = tree(&mut rng, &id);
            while store.append(&id, f.clone()).is_err() {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        store.shutdown();
    }
    let mut rng = SmallRng::seed_from_u64(3);
    let picks: Vec<MessageId> = (0..20_000)
        .map(|_| id_of(rng.gen_range(0..LOOKUP_TREES)))
        .collect();

    // Fresh store per lookup: no mapped index, no cached block (the page cache stays warm:
    // dropping it needs root on a shared machine).
    let samples = picks[..2000]
        .iter()
        .map(|id| {
            let store = Store::open(config(dir.path())).unwrap();
            let start = Instant::now();
            assert!(store.lookup(id).unwrap().is_some());
            let t = start.elapsed();
            store.shutdown();
            t
        })
        .collect();
    percentiles(
        "lookup, fresh Store each time (empty LRU and maps, page cache warm)",
        samples,
    );

    let store = Store::open(config(dir.path())).unwrap();
    let samples = picks
        .iter()
        .map(|id| {
            let start = Instant::now();
            assert!(store.lookup(id).unwrap().is_some());
            start.elapsed()
        })
        .collect();
    percentiles(
        "lookup, warm store, random IDs over 100k trees (block LRU mostly misses)",
        samples,
    );
    let samples = picks
        .iter()
        .map(|_| {
            let start = Instant::now();
            assert!(store.lookup(&picks[0]).unwrap().is_some());
            start.elapsed()
        })
        .collect();
    percentiles("lookup, warm store, same ID (block LRU hit)", samples);

    let mut group = c.benchmark_group("store");
    let mut i = 0;
    group.bench_function("lookup_random_of_100k", |b| {
        b.iter(|| {
            i = (i + 1) % picks.len();
            black_box(store.lookup(&picks[i]).unwrap())
        })
    });
    group.bench_function("lookup_cached_block", |b| {
        b.iter(|| black_box(store.lookup(&picks[0]).unwrap()))
    });
    group.finish();
}

criterion_group!(benches, lookup);
criterion_main!(benches);
