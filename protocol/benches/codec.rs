//! NT1 decode, scan and encode throughput on a realistic mix, with gzip level 1 (zlib-rs) of the
//! same bytes in the same run as the yardstick: decode should be >= 3x the compression rate
//! so the codec never limits the collector.

#![allow(missing_docs)] // criterion_group! generates undocumented items

use std::io::Write as _;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ocelot_protocol::sample::SampleTrees;
use ocelot_protocol::{
    decode_frame, nt1, scan_frame, DecodeOptions, MessageKind, MessageTree, LENGTH_PREFIX_BYTES,
};

/// The captured C-client frames plus generated URL/SQL/Cache/RPC trees.
fn corpus() -> (Vec<Vec<u8>>, Vec<MessageTree>) {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/cat-c-client/binary");
    let mut frames: Vec<Vec<u8>> = std::fs::read_dir(dir)
        .expect("vectors present")
        .map(|e| std::fs::read(e.expect("entry").path()).expect("readable"))
        .collect();
    let mut samples = SampleTrees::new(42, 10, 50, 1_795_331_315_581);
    for _ in 0..2000 {
        frames.push(nt1::encode_to_bytes(&samples.tree()).to_vec());
    }
    let trees = frames
        .iter()
        .map(|f| decode_frame(f, &DecodeOptions::default()).expect("valid"))
        .collect();
    (frames, trees)
}

/// The yardstick: gzip level 1 (zlib-rs) of `stream` fed in 64 KiB writes, as the store
/// compresses blocks; the compressed size.
fn gzip_level1(stream: &[u8]) -> usize {
    let mut gz = flate2::write::GzEncoder::new(
        Vec::with_capacity(stream.len() / 3),
        flate2::Compression::new(1),
    );
    for chunk in stream.chunks(64 * 1024) {
        gz.write_all(chunk).expect("in memory");
    }
    criterion::black_box(gz.finish().expect("in memory").len())
}

fn bench(c: &mut Criterion) {
    let (frames, trees) = corpus();
    let bytes: u64 = frames.iter().map(|f| f.len() as u64).sum();
    let stream: Vec<u8> = frames.concat();
    let options = DecodeOptions::default();

    let mut g = c.benchmark_group("nt1_bytes");
    g.throughput(Throughput::Bytes(bytes));
    g.bench_function("decode", |b| {
        b.iter(|| {
            for f in &frames {
                criterion::black_box(decode_frame(f, &options).expect("valid"));
            }
        })
    });
    // What the collector's analyzer threads do: decode into one scratch tree, reusing it.
    let mut scratch = MessageTree::default();
    g.bench_function("decode_into_reused_tree", |b| {
        b.iter(|| {
            for f in &frames {
                nt1::decode_body_into(&f[LENGTH_PREFIX_BYTES..], &mut scratch).expect("valid");
                criterion::black_box(&scratch);
            }
        })
    });
    // What the collector's socket thread does per frame since decoding moved to the
    // analyzer threads: check it, find domain, ID and root timestamp, allocate nothing.
    g.bench_function("scan", |b| {
        b.iter(|| {
            for f in &frames {
                criterion::black_box(scan_frame(f, &options).expect("valid"));
            }
        })
    });
    let mut out = Vec::with_capacity(stream.len());
    g.bench_function("encode", |b| {
        b.iter(|| {
            out.clear();
            for t in &trees {
                nt1::encode(t, &mut out);
            }
            criterion::black_box(out.len())
        })
    });
    g.bench_function("gzip_level1_zlib_rs", |b| b.iter(|| gzip_level1(&stream)));
    g.finish();

    let mut g = c.benchmark_group("nt1_trees");
    g.throughput(Throughput::Elements(frames.len() as u64));
    g.bench_function("decode", |b| {
        b.iter(|| {
            for f in &frames {
                criterion::black_box(decode_frame(f, &options).expect("valid"));
            }
        })
    });
    g.finish();

    // Trees with data the size real clients send (`SampleTrees::full_data`): all of it
    // decoded, or only what the collector's reports read (the collector's filter is the
    // analyzer crate's `HourAnalyzers::KEEP`; this one keeps the same fields).
    let mut samples = SampleTrees::new(42, 10, 50, 1_795_331_315_581).full_data();
    let full: Vec<Vec<u8>> = (0..2000)
        .map(|_| nt1::encode_to_bytes(&samples.tree()).to_vec())
        .collect();
    let mut g = c.benchmark_group("nt1_full_data_bytes");
    g.throughput(Throughput::Bytes(full.iter().map(|f| f.len() as u64).sum()));
    g.bench_function("decode_into_reused_tree", |b| {
        b.iter(|| {
            for f in &full {
                nt1::decode_body_into(&f[LENGTH_PREFIX_BYTES..], &mut scratch).expect("valid");
                criterion::black_box(&scratch);
            }
        })
    });
    fn reports_read(kind: MessageKind, type_: &str, data: &[u8]) -> bool {
        matches!(kind, MessageKind::Heartbeat | MessageKind::Metric)
            || data.first() == Some(&b'@')
            || (kind == MessageKind::Event && type_ == "TruncatedTransaction")
    }
    // What the collector's analyzer threads decode: three header fields, and the data the
    // reports read.
    let decode_as_the_collector = |frames: &[Vec<u8>], scratch: &mut MessageTree| {
        let keep = nt1::Keep {
            header: nt1::HEADER_DOMAIN | nt1::HEADER_IP_ADDRESS | nt1::HEADER_MESSAGE_ID,
            data: reports_read,
        };
        for f in frames {
            nt1::decode_body_into_keeping(&f[LENGTH_PREFIX_BYTES..], scratch, keep).expect("valid");
            criterion::black_box(&*scratch);
        }
    };
    g.bench_function("decode_into_data_reports_read", |b| {
        b.iter(|| decode_as_the_collector(&full, &mut scratch))
    });
    let full_stream = full.concat();
    g.bench_function("gzip_level1_zlib_rs", |b| {
        b.iter(|| gzip_level1(&full_stream))
    });
    g.finish();

    // What an analyzer thread decodes at the collector benchmark's goal: trees of 5-30
    // messages over 50 domains, only the fields the reports read.
    let mut samples = SampleTrees::new(7, 50, 400, 1_795_331_315_581)
        .messages(5, 30)
        .distinct_names();
    let goal_trees: Vec<Vec<u8>> = (0..2000)
        .map(|_| nt1::encode_to_bytes(&samples.tree()).to_vec())
        .collect();
    let mut g = c.benchmark_group("nt1_5_30_messages");
    g.throughput(Throughput::Bytes(
        goal_trees.iter().map(|f| f.len() as u64).sum(),
    ));
    g.bench_function("decode_into_as_the_collector", |b| {
        b.iter(|| decode_as_the_collector(&goal_trees, &mut scratch))
    });
    let mut view = ocelot_protocol::TreeView::default();
    g.bench_function("decode_view_as_the_collector", |b| {
        b.iter(|| {
            for f in &goal_trees {
                let mut v = std::mem::take(&mut view).recycle();
                nt1::decode_view(&f[LENGTH_PREFIX_BYTES..], reports_read, &mut v).expect("valid");
                criterion::black_box(&v);
                view = v.recycle();
            }
        })
    });
    // The same decode keeping every field (what `decode` makes, as borrowed views): the
    // decode figure to set against gzip level 1 of the same bytes, measured just after.
    g.bench_function("decode_view_everything", |b| {
        b.iter(|| {
            for f in &goal_trees {
                let mut v = std::mem::take(&mut view).recycle();
                nt1::decode_view(&f[LENGTH_PREFIX_BYTES..], |_, _, _| true, &mut v).expect("valid");
                criterion::black_box(&v);
                view = v.recycle();
            }
        })
    });
    g.bench_function("scan", |b| {
        b.iter(|| {
            for f in &goal_trees {
                criterion::black_box(scan_frame(f, &options).expect("valid"));
            }
        })
    });
    let goal_stream = goal_trees.concat();
    g.bench_function("gzip_level1_zlib_rs", |b| {
        b.iter(|| gzip_level1(&goal_stream))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
