//! Store benchmarks: append throughput against raw zlib-rs compression of the same bytes,
//! compression ratio on realistic trees, and lookup latency (fresh store and warm).
//!
//! `cargo bench -p ocelot-store -- --warm-up-time 1 --measurement-time 3`
//! The percentile table and the compression ratio are printed to stderr.
#![allow(missing_docs)] // criterion_group! generates undocumented items

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use flate2::{Compress, Compression, FlushCompress};
use ocelot_protocol::{nt1, Header, Leaf, Message, MessageId, MessageTree, Transaction};
use ocelot_store::{Store, StoreConfig};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

const HOUR: u64 = 498_703;
/// Trees in the append benchmark (about 25 MB of frames).
const APPEND_TREES: u64 = 10_000;
/// Trees stored for the lookup benchmarks.
const LOOKUP_TREES: u64 = 100_000;

/// A tree shaped like a web request: URL root, SQL and cache calls, an RPC, sometimes an
/// error with a stack trace. Names repeat as in real services; ids and values vary.
fn tree(rng: &mut SmallRng, id: &MessageId) -> Bytes {
    const URLS: [&str; 6] = [
        "/api/order",
        "/api/cart",
        "/api/pay",
        "/api/user/profile",
        "/health",
        "/api/search",
    ];
    const SQL: [&str; 5] = [
        "OrderMapper.select",
        "OrderMapper.insert",
        "CartMapper.update",
        "UserMapper.select",
        "StockMapper.lock",
    ];
    let header = Header {
        domain: id.domain.clone(),
        hostname: format!("web-{:02}", id.ip % 16),
        ip_address: id.ip_dotted(),
        thread_group_name: "http-nio-8080-exec".into(),
        thread_id: rng.gen_range(20..220).to_string(),
        thread_name: format!("http-nio-8080-exec-{}", rng.gen_range(1..200)),
        message_id: id.to_string(),
        parent_message_id: String::new(),
        root_message_id: String::new(),
        session_token: String::new(),
    };
    let t0 = HOUR * 3_600_000 + rng.gen_range(0..3_600_000);
    let mut root = Transaction::new("URL", URLS[rng.gen_range(0..URLS.len())], t0);
    root.children.push(Message::Event(Leaf::new(
        "URL",
        "URL.Server",
        "0",
        t0,
        format!(
            "IPS=10.1.{}.{}&VirtualIP=10.0.0.1&Server=web&Referer=null&Agent=Mozilla/5.0",
            rng.gen_range(0..255),
            rng.gen_range(0..255)
        ),
    )));
    for _ in 0..rng.gen_range(2..12) {
        let name = SQL[rng.gen_range(0..SQL.len())];
        let mut sql = Transaction::new("SQL", name, t0 + rng.gen_range(0..50));
        sql.duration_us = rng.gen_range(200..20_000);
        sql.data = format!("SELECT id, user_id, status, amount, created_at FROM orders WHERE user_id = {} AND status IN (1, 2, 3) ORDER BY created_at DESC LIMIT {}", rng.gen_range(1..10_000_000), rng.gen_range(1..50));
        sql.children.push(Message::Event(Leaf::new(
            "SQL.Database",
            "jdbc:mysql://db-3:3306/orders",
            "0",
            sql.timestamp_ms,
            "",
        )));
        sql.children.push(Message::Event(Leaf::new(
            "SQL.Method",
            "SELECT",
            "0",
            sql.timestamp_ms,
            "",
        )));
        root.children.push(Message::Transaction(sql));
        if rng.gen_bool(0.5) {
            root.children.push(Message::Event(Leaf::new(
                "Cache.redis",
                "user:profile",
                if rng.gen_bool(0.9) { "0" } else { "miss" },
                t0 + 3,
                format!("key=user:{}", rng.gen_range(1..1_000_000)),
            )));
        }
    }
    let mut rpc = Transaction::new("Call", "PaymentService.charge", t0 + 60);
    rpc.duration_us = rng.gen_range(1000..80_000);
    rpc.children.push(Message::Event(Leaf::new(
        "RemoteCall",
        "",
        "0",
        t0 + 60,
        format!(
            "payment-c0a80{:03x}-{HOUR}-{}",
            rng.gen_range(0..4096),
            rng.gen_range(0..100_000)
        ),
    )));
    root.children.push(Message::Transaction(rpc));
    if rng.gen_bool(0.05) {
        root.status = "java.lang.IllegalStateException".into();
        root.children.push(Message::Event(Leaf::new("Error", "java.lang.IllegalStateException", "ERROR", t0 + 70,
            "java.lang.IllegalStateException: stock locked\n\tat com.shop.order.OrderService.place(OrderService.java:212)\n\tat com.shop.order.OrderController.post(OrderController.java:88)\n\tat sun.reflect.GeneratedMethodAccessor12.invoke(Unknown Source)\n\tat org.springframework.web.servlet.FrameworkServlet.service(FrameworkServlet.java:882)\n")));
    } else {
        root.status = "0".into();
    }
    root.duration_us = rng.gen_range(1_000..200_000);
    nt1::encode_to_bytes(&MessageTree::new(header, Message::Transaction(root)))
}

fn trees(n: u64, seed: u64) -> Vec<(MessageId, Bytes)> {
    let mut rng = SmallRng::seed_from_u64(seed);
    (0..n)
        .map(|seq| {
            let id = MessageId::new(
                ["shop", "cart", "payment", "search"][(seq % 4) as usize],
                0xc0a8_0100 + (seq % 8) as u32,
                HOUR,
                seq,
            );
            let frame = tree(&mut rng, &id);
            (id, frame)
        })
        .collect()
}

fn config(dir: &std::path::Path) -> StoreConfig {
    let mut config = StoreConfig::new(dir);
    config.retention_days = 0;
    config.queue_capacity = 20_000;
    config.max_seq = 10_000_000;
    config
}

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
            let id = MessageId::new(
                ["shop", "cart", "payment", "search"][(seq % 4) as usize],
                0xc0a8_0100 + (seq % 8) as u32,
                HOUR,
                seq,
            );
            let f = tree(&mut rng, &id);
            while store.append(&id, f.clone()).is_err() {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        store.shutdown();
    }
    let id_of = |seq: u64| {
        MessageId::new(
            ["shop", "cart", "payment", "search"][(seq % 4) as usize],
            0xc0a8_0100 + (seq % 8) as u32,
            HOUR,
            seq,
        )
    };
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

criterion_group!(benches, append, lookup);
criterion_main!(benches);
