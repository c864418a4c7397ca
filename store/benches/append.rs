//! Append throughput against raw zlib-rs compression of the same bytes in the same run, and
//! the compression ratio on realistic trees (printed to stderr).
//!
//! `cargo bench -p ocelot-store --bench append -- --warm-up-time 1 --measurement-time 3`
//!
//! Two workloads: `store/*` (this file's big web-request trees, 8 clients, a fresh store
//! folder per iteration) and `store_loadgen/*` (the collector benchmark's loadgen trees,
//! about 570 bytes, 1600 clients over 50 domains, appended with `append_many` in batches of
//! 32 into a store whose hour is already open: the steady state). After them it prints the
//! writer thread's CPU time per tree next to raw zlib-rs's on the same bytes (from
//! `/proc/self/task/*/schedstat`, so it does not depend on how busy the machine is).
#![allow(missing_docs)] // criterion_group! generates undocumented items

mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use common::{
    blocks_per_domain, config, own_cpu_ns, thread_cpu_ns, trees, LoadgenTrees, APPEND_TREES,
};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use flate2::{Compress, Compression, FlushCompress};
use ocelot_store::{FrameKey, Store};

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

/// Loadgen trees per timed iteration of `store_loadgen/append_many_*`.
const LOADGEN_CHUNK: usize = 40_000;
/// Frames per `append_many` call (one socket read's worth in the collector).
const LOADGEN_BATCH: usize = 32;

/// The frame's key as the collector makes it (`FrameKey::in_frame` where the scan found the
/// ID): the scan is the socket thread's work, outside the writer's CPU measured here.
fn key_in(frame: &[u8]) -> FrameKey {
    let scan = ocelot_protocol::scan_frame(frame, &ocelot_protocol::DecodeOptions::default())
        .expect("valid frame");
    FrameKey::in_frame(frame, scan.message_id_range().expect("NT1")).expect("an ID")
}

fn append_batches(store: &Store, frames: &[(ocelot_protocol::MessageId, bytes::Bytes)]) {
    for batch in frames.chunks(LOADGEN_BATCH) {
        assert_eq!(store.append_many(batch.iter().cloned()), 0);
    }
}

fn append_loadgen(c: &mut Criterion) {
    let mut source = LoadgenTrees::new(1);
    let mut group = c.benchmark_group("store_loadgen");
    group.throughput(Throughput::Elements(LOADGEN_CHUNK as u64));
    group.sample_size(10);
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.queue_capacity = 2 * LOADGEN_CHUNK;
    let store = Store::open(cfg).unwrap();
    // Open the hour: data and index files exist, as they do after the hour's first seconds.
    append_batches(&store, &source.take(LOADGEN_CHUNK));
    store.flush().unwrap();
    group.bench_function("append_many_40k_trees_steady", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let frames = source.take(LOADGEN_CHUNK);
                let start = Instant::now();
                append_batches(&store, &frames);
                store.flush().unwrap();
                total += start.elapsed();
            }
            total
        });
    });
    let blocks = blocks_per_domain(&source.take(LOADGEN_CHUNK));
    let mut out = Vec::new();
    group.bench_function("raw_zlib_rs_level1_same_blocks", |b| {
        b.iter(|| black_box(raw_compress(&blocks, &mut out)))
    });
    group.finish();
    assert_eq!(store.stats().dropped_total(), 0);
    drop(store);

    if let Some(trees) = std::env::var("OCELOT_STORE_PROFILE_TREES")
        .ok()
        .and_then(|n| n.parse().ok())
    {
        // For `perf record`: only the flat-out append of this many loadgen trees (after the
        // hour's files exist), so the profile is the writer's steady state.
        let frames = source.take(trees);
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = config(dir.path());
        cfg.queue_capacity = frames.len();
        let store = Store::open(cfg).unwrap();
        append_batches(&store, &frames[..LOADGEN_CHUNK]);
        store.flush().unwrap();
        eprintln!("profile: hour open, appending");
        let before = thread_cpu_ns("ocelot-store-wr");
        append_batches(&store, &frames[LOADGEN_CHUNK..]);
        store.flush().unwrap();
        let cpu = thread_cpu_ns("ocelot-store-wr") - before;
        eprintln!(
            "profile: store writer CPU {:.2} us/tree",
            cpu as f64 / 1000.0 / (trees - LOADGEN_CHUNK) as f64
        );
        std::mem::forget(store); // no shutdown in the profile
        return;
    }
    if std::env::args().any(|a| a == "--profile-time") {
        return; // profiling the loop above: leave the report (and its file creation) out
    }
    // Writer CPU per tree: flat out (the queue never empties) and paced at 50 000 trees/s
    // (the writer waits for work between batches, as in the collector); with IDs the writer
    // checks against each header (`append_many`) and with IDs the caller read from the
    // headers (`append_scanned`, what the collector does).
    let frames = source.take(200_000);
    let bytes: usize = frames.iter().map(|(_, f)| f.len()).sum();
    let (warm, rest) = frames.split_at(LOADGEN_CHUNK);
    for (paced, scanned) in [(false, false), (false, true), (true, true)] {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = config(dir.path());
        cfg.queue_capacity = frames.len();
        let store = Store::open(cfg).unwrap();
        append_batches(&store, warm);
        store.flush().unwrap();
        let before = thread_cpu_ns("ocelot-store-wr");
        let start = Instant::now();
        for (i, batch) in rest.chunks(LOADGEN_BATCH).enumerate() {
            if paced {
                let due = Duration::from_micros((i * LOADGEN_BATCH) as u64 * 20);
                if let Some(wait) = due.checked_sub(start.elapsed()) {
                    std::thread::sleep(wait);
                }
            }
            let frames = batch.iter().cloned();
            let refused = if scanned {
                // Keys as the collector makes them: the ID where the scan found it.
                store.append_scanned(frames.map(|(_, frame)| (key_in(&frame), frame)))
            } else {
                store.append_many(frames)
            };
            assert_eq!(refused, 0);
        }
        store.flush().unwrap();
        let cpu = thread_cpu_ns("ocelot-store-wr") - before;
        assert_eq!(store.stats().dropped_total(), 0);
        eprintln!(
            "loadgen trees, {}, {}: store writer CPU {:.2} us/tree over {} trees ({:.2} s wall)",
            if paced { "paced 50k/s" } else { "flat out" },
            if scanned {
                "append_scanned"
            } else {
                "append_many"
            },
            cpu as f64 / 1000.0 / rest.len() as f64,
            rest.len(),
            start.elapsed().as_secs_f64()
        );
    }
    let blocks = blocks_per_domain(rest);
    let before = own_cpu_ns();
    black_box(raw_compress(&blocks, &mut out));
    let raw = own_cpu_ns() - before;
    eprintln!(
        "loadgen trees: raw zlib-rs level 1 CPU {:.2} us/tree (mean tree {} bytes)",
        raw as f64 / 1000.0 / rest.len() as f64,
        bytes / frames.len()
    );
}

criterion_group!(benches, append, append_loadgen);
criterion_main!(benches);
