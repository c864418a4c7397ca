//! Append throughput against raw zlib-rs compression of the same bytes in the same run, and
//! the compression ratio on realistic trees (printed to stderr).
//!
//! `cargo bench -p ocelot-store --bench append -- --warm-up-time 1 --measurement-time 3`
#![allow(missing_docs)] // criterion_group! generates undocumented items

mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use common::{config, trees, APPEND_TREES};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use flate2::{Compress, Compression, FlushCompress};
use ocelot_store::Store;

/// Raw zlib-rs deflate of the same bytes, in the same 64 KiB chunks, level 1.
fn raw_compress(chunks: &[Vec<u8>], out: &mut Vec<u8>) -> usize {
    let mut z = Compress::new(Compression::new(1), false);
    let mut total = 0;
    for chunk in chunks {
        z.reset();
        out.clear();
        out.reserve(chunk.len() + 1024);
        z.compress_vec(chunk, out, FlushCompress::Finish).unwrap();
        total += out.len();
    }
    total
}

fn append(c: &mut Criterion) {
    let frames = trees(APPEND_TREES, 1);
    let bytes: usize = frames.iter().map(|(_, f)| f.len()).sum();
    let mut chunks = vec![Vec::new()];
    for (_, f) in &frames {
        if chunks.last().unwrap().len() + f.len() > 64 * 1024 {
            chunks.push(Vec::new());
        }
        chunks.last_mut().unwrap().extend_from_slice(f);
    }
    let mut group = c.benchmark_group("store");
    group.throughput(Throughput::Bytes(bytes as u64));
    group.sample_size(10);
    group.bench_function("append_and_flush_10k_trees", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let dir = tempfile::tempdir().unwrap();
                let store = Store::open(config(dir.path())).unwrap();
                let start = Instant::now();
                for (id, f) in &frames {
                    store.append(id, f.clone()).unwrap();
                }
                store.flush().unwrap();
                total += start.elapsed();
                assert_eq!(store.stats().stored, APPEND_TREES);
            }
            total
        });
    });
    let mut out = Vec::new();
    group.bench_function("raw_zlib_rs_level1_same_bytes", |b| {
        b.iter(|| black_box(raw_compress(&chunks, &mut out)))
    });
    group.finish();

    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(config(dir.path())).unwrap();
    for (id, f) in &frames {
        store.append(id, f.clone()).unwrap();
    }
    store.flush().unwrap();
    let stats = store.stats();
    eprintln!(
        "compression: {} trees, {} bytes in, {} bytes out (block records), ratio {:.2}x, mean tree {} bytes",
        stats.stored,
        stats.bytes_in,
        stats.bytes_out,
        stats.bytes_in as f64 / stats.bytes_out as f64,
        bytes as u64 / APPEND_TREES
    );
}

criterion_group!(benches, append);
criterion_main!(benches);
