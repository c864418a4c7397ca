//! Analyzer cost per message: each analyzer, and all five in a row, over realistic trees
//! (12-20 messages: a URL root with SQL, cache and RPC transactions and their events).
//!
//! ```sh
//! cargo bench -p ocelot-analyzer -- --warm-up-time 1 --measurement-time 3
//! OCELOT_BENCH_MEMORY=1 cargo bench -p ocelot-analyzer -- memory   # + heap per name
//! ```
//!
//! Wall-clock figures swing 2x on a busy machine. For a figure that does not, count
//! instructions: `OCELOT_BENCH_PASSES=<kind>` (transaction, event, problem, metric, matrix,
//! all_five, all_five_unparsed; `<kind>_live` counts trees of the hour's newest minute, as live traffic is) skips criterion, warms the analyzer with one pass, then runs 10 passes of
//! 1 000 trees inside `counted_passes`, which callgrind can count alone:
//!
//! ```sh
//! OCELOT_BENCH_PASSES=transaction valgrind --tool=callgrind \
//!     --toggle-collect='*counted_passes*' --callgrind-out-file=/dev/null target/release/deps/analyzers-<hash>
//! ```
//!
//! Instructions per tree = the reported `Collected` / 10 000.
//!
//! Each iteration feeds the same analyzer 1 000 more trees, so the figures are the steady
//! state of an hour in progress (names already known), which is what the collector pays.
#![allow(missing_docs)] // criterion_group! generates undocumented items

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
use ocelot_analyzer::{
    AnalyzerConfig, DomainOverview, EventAnalyzer, HeartbeatAnalyzer, HourAnalyzers,
    MatrixAnalyzer, MetricAnalyzer, ParsedId, ProblemAnalyzer, TransactionAnalyzer, ViewQuery,
};
use ocelot_protocol::{Header, Leaf, Message, MessageIdRef, MessageTree, Transaction, TreeView};

const HOUR: u64 = 498_703;
const HOUR_START_MS: u64 = HOUR * 3_600_000;
const TREES_PER_ITERATION: usize = 1_000;

/// A small deterministic generator (xorshift64*), so runs are comparable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// A latency-like duration: mostly around `typical_us`, with a long tail.
    fn duration_us(&mut self, typical_us: u64) -> u64 {
        let spread = 1 + self.below(4);
        let tail = if self.below(100) == 0 { 20 } else { 1 };
        typical_us / 2 + self.below(typical_us * spread) * tail
    }
}

fn transaction(type_: &str, name: String, ts: u64, duration_us: u64, ok: bool) -> Transaction {
    let mut t = Transaction::new(type_, name, ts);
    t.duration_us = duration_us;
    if !ok {
        t.status = "java.net.SocketTimeoutException".into();
    }
    t
}

fn event(type_: &str, name: String, ts: u64) -> Message {
    Message::Event(Leaf::new(type_, name, "0", ts, ""))
}

/// `n` trees over `domains` domains, 4 machines each and `names` names per type.
fn realistic_trees(n: usize, domains: usize, names: u64, rng: &mut Rng) -> Vec<MessageTree> {
    trees_on_machines(n, domains, 4, names, rng)
}

/// [`realistic_trees`] on `machines` machines per domain.
fn trees_on_machines(
    n: usize,
    domains: usize,
    machines: u64,
    names: u64,
    rng: &mut Rng,
) -> Vec<MessageTree> {
    (0..n)
        .map(|i| {
            let ts = HOUR_START_MS + rng.below(3_600_000);
            let endpoint = rng.below(names);
            let mut root = transaction(
                "URL",
                format!("/api/endpoint-{endpoint}"),
                ts,
                rng.duration_us(20_000),
                true,
            );
            root.children
                .push(event("URL.Method", "HTTP/GET".into(), ts));
            for _ in 0..2 + rng.below(3) {
                let mut sql = transaction(
                    "SQL",
                    format!("Dao.query{}", rng.below(names)),
                    ts,
                    rng.duration_us(3_000),
                    true,
                );
                sql.children.push(event("SQL.Method", "SELECT".into(), ts));
                sql.children
                    .push(event("SQL.Database", "jdbc:mysql://db1".into(), ts));
                root.children.push(Message::Transaction(sql));
            }
            let ok = rng.below(50) != 0;
            let mut cache = transaction(
                "Cache.redis",
                format!("get:key{}", rng.below(names)),
                ts,
                rng.duration_us(500),
                ok,
            );
            cache
                .children
                .push(event("Cache.redis.server", "10.0.0.9:6379".into(), ts));
            root.children.push(Message::Transaction(cache));
            let mut call = transaction(
                "Call",
                format!("Service.method{}", rng.below(names)),
                ts,
                rng.duration_us(10_000),
                true,
            );
            call.children
                .push(event("Call.server", "10.0.0.5".into(), ts));
            root.children.push(Message::Transaction(call));
            if !ok {
                root.children.push(Message::Event(Leaf::new(
                    "Exception",
                    "java.net.SocketTimeoutException",
                    "ERROR",
                    ts,
                    "stack",
                )));
            }
            root.children.push(Message::Metric(Leaf::new(
                "",
                format!("orders.{}", rng.below(10)),
                "C",
                ts,
                "1",
            )));
            let domain = format!("domain-{}", i % domains);
            let header = Header {
                domain: domain.clone(),
                ip_address: format!("10.0.{}.{}", i % domains, rng.below(machines)),
                message_id: format!("{domain}-0a000001-{HOUR}-{i}"),
                ..Header::default()
            };
            MessageTree::new(header, Message::Transaction(root))
        })
        .collect()
}

fn heartbeat_trees(n: usize) -> Vec<MessageTree> {
    (0..n)
        .map(|i| {
            let xml = format!(
                r#"<status><extension id="system.process"><extensionDetail id="load.1min" value="{}"/><extensionDetail id="mem.memfree" value="24910352384"/><extensionDetail id="process.running" value="4"/></extension></status>"#,
                i % 7
            );
            let header = Header {
                domain: format!("domain-{}", i % 50),
                ip_address: format!("10.0.0.{}", i % 200),
                ..Header::default()
            };
            let ts = HOUR_START_MS + (i as u64 % 60) * 60_000;
            MessageTree::new(
                header,
                Message::Heartbeat(Leaf::new("Heartbeat", "10.0.0.1", "0", ts, xml)),
            )
        })
        .collect()
}

fn message_count(trees: &[MessageTree]) -> u64 {
    trees.iter().map(|t| t.message_count() as u64).sum()
}

fn bench_analyzers(c: &mut Criterion) {
    let config = Arc::new(AnalyzerConfig::default());
    let mut rng = Rng(0x5eed);
    let trees = realistic_trees(TREES_PER_ITERATION, 50, 50, &mut rng);
    let messages = message_count(&trees);
    let mut group = c.benchmark_group("analyzer_per_message");
    group.throughput(Throughput::Elements(messages));

    macro_rules! bench_kind {
        ($label:literal, $analyzer:ty, $trees:expr) => {
            let mut analyzer = <$analyzer>::new(HOUR, config.clone());
            for tree in $trees {
                analyzer.process(tree);
            }
            group.bench_function($label, |b| {
                b.iter(|| {
                    for tree in $trees {
                        analyzer.process(black_box(tree));
                    }
                })
            });
        };
    }
    bench_kind!("transaction", TransactionAnalyzer, &trees);
    bench_kind!("event", EventAnalyzer, &trees);
    bench_kind!("problem", ProblemAnalyzer, &trees);
    bench_kind!("metric", MetricAnalyzer, &trees);
    // Every tree here is a URL request with SQL, cache and remote calls: the Matrix
    // report's busiest case.
    bench_kind!("matrix", MatrixAnalyzer, &trees);

    let mut transaction = TransactionAnalyzer::new(HOUR, config.clone());
    let mut event = EventAnalyzer::new(HOUR, config.clone());
    let mut problem = ProblemAnalyzer::new(HOUR, config.clone());
    let mut heartbeat = HeartbeatAnalyzer::new(HOUR, config.clone());
    let mut metric = MetricAnalyzer::new(HOUR, config.clone());
    group.bench_function("all_five", |b| {
        b.iter(|| {
            for tree in &trees {
                let tree = black_box(tree);
                transaction.process(tree);
                event.process(tree);
                problem.process(tree);
                heartbeat.process(tree);
                metric.process(tree);
            }
        })
    });
    group.finish();

    let heartbeats = heartbeat_trees(TREES_PER_ITERATION);
    let mut group = c.benchmark_group("heartbeat_per_tree");
    group.throughput(Throughput::Elements(heartbeats.len() as u64));
    let mut analyzer = HeartbeatAnalyzer::new(HOUR, config);
    group.bench_function(BenchmarkId::new("status_xml", 3), |b| {
        b.iter(|| {
            for tree in &heartbeats {
                analyzer.process(black_box(tree));
            }
        })
    });
    group.finish();
}

/// Resident set size in KiB, from /proc (Linux only; 0 elsewhere).
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Feeds one hour of 1.2 M trees over 50 domains with 400 names per type per domain to the
/// transaction analyzer and prints the RSS growth and cost per type/name pair.
fn memory_probe() {
    let config = Arc::new(AnalyzerConfig::default());
    let mut analyzer = TransactionAnalyzer::new(HOUR, config);
    let mut rng = Rng(0xfeed);
    let before = rss_kib();
    let started = Instant::now();
    let mut trees_total = 0u64;
    let mut processing = std::time::Duration::ZERO;
    let chunks: u64 = std::env::var("OCELOT_BENCH_MEMORY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_200);
    for _ in 0..chunks {
        let trees = realistic_trees(1_000, 50, 100, &mut rng);
        let start = Instant::now();
        for tree in &trees {
            analyzer.process(tree);
        }
        processing += start.elapsed();
        trees_total += trees.len() as u64;
    }
    let after = rss_kib();
    println!(
        "memory: processing took {:.1} s of {:.1} s",
        processing.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    let pairs: usize = analyzer
        .reports()
        .values()
        .flat_map(|r| {
            let view = r.view(&ocelot_analyzer::ViewQuery::default());
            view.types.into_iter().map(|t| t.names.len())
        })
        .sum();
    println!(
        "memory: {trees_total} trees in {:.1} s, {pairs} type/name pairs (All view), RSS +{} MiB, {:.1} KiB per pair",
        started.elapsed().as_secs_f64(),
        (after - before) / 1024,
        (after - before) as f64 / pairs.max(1) as f64
    );
}

/// Passes counted by [`counted_passes`].
const COUNTED_PASSES: usize = 10;

/// Feeds `trees` to `process` [`COUNTED_PASSES`] times; callgrind counts this function.
#[inline(never)]
fn counted_passes<T>(trees: &[T], process: &mut dyn FnMut(&T)) {
    for _ in 0..COUNTED_PASSES {
        for tree in trees {
            process(black_box(tree));
        }
    }
}

fn set_timestamps(message: &mut Message, timestamp_ms: u64) {
    match message {
        Message::Transaction(t) => {
            t.timestamp_ms = timestamp_ms;
            for child in &mut t.children {
                set_timestamps(child, timestamp_ms);
            }
        }
        Message::Event(leaf) | Message::Metric(leaf) => leaf.timestamp_ms = timestamp_ms,
        _ => {}
    }
}

/// One warm-up pass, then [`counted_passes`] for the analyzer(s) named by `kind`.
fn instruction_probe(kind: &str) {
    let config = Arc::new(AnalyzerConfig::default());
    let mut rng = Rng(0x5eed);
    // `<kind>_live`: the warm-up pass spreads over the hour as usual, the counted passes put
    // every tree in minute 59, as a live stream does (each record lands in the newest
    // minute of its name, after the history of earlier minutes).
    let (kind, live) = match kind.strip_suffix("_live") {
        Some(kind) => (kind, true),
        None => (kind, false),
    };
    let trees = realistic_trees(TREES_PER_ITERATION, 50, 50, &mut rng);
    let mut counted_trees = trees.clone();
    if live {
        let minute_59_ms = HOUR_START_MS + 59 * 60_000;
        for tree in &mut counted_trees {
            set_timestamps(&mut tree.root, minute_59_ms);
        }
    }
    let mut transaction = TransactionAnalyzer::new(HOUR, config.clone());
    let mut event = EventAnalyzer::new(HOUR, config.clone());
    let mut problem = ProblemAnalyzer::new(HOUR, config.clone());
    let mut metric = MetricAnalyzer::new(HOUR, config.clone());
    let mut matrix = MatrixAnalyzer::new(HOUR, config.clone());
    let mut hour = HourAnalyzers::new(HOUR, &config);
    if kind == "all_five" || kind == "all_five_unparsed" {
        // What the collector's analyzer threads run: the five reports fed trees as views
        // (decoded from frames there; made here before counting, which is what is counted),
        // with the message ID the socket thread parsed (`all_five_unparsed`: the reports
        // parse it).
        for tree in &trees {
            hour.process(tree);
        }
        let views: Vec<(TreeView<'_>, Option<ParsedId>)> = counted_trees
            .iter()
            .map(|tree| {
                let view = TreeView::of(tree);
                let parsed = (kind == "all_five")
                    .then(|| view.message_id().and_then(MessageIdRef::parse_canonical))
                    .flatten()
                    .and_then(|parts| ParsedId::from_canonical(&parts));
                (view, parsed)
            })
            .collect();
        counted_passes(&views, &mut |(v, parsed)| {
            hour.process_view_parsed(v, *parsed)
        });
        println!(
            "{kind}: {} trees counted",
            COUNTED_PASSES * TREES_PER_ITERATION
        );
        return;
    }
    let mut process: Box<dyn FnMut(&MessageTree)> = match kind {
        "transaction" => Box::new(|t| transaction.process(t)),
        "event" => Box::new(|t| event.process(t)),
        "problem" => Box::new(|t| problem.process(t)),
        "metric" => Box::new(|t| metric.process(t)),
        "matrix" => Box::new(|t| matrix.process(t)),
        other => panic!("OCELOT_BENCH_PASSES={other}: not an analyzer kind"),
    };
    for tree in &trees {
        process(tree);
    }
    counted_passes(&counted_trees, &mut *process);
    println!(
        "{kind}: {} trees counted",
        COUNTED_PASSES * TREES_PER_ITERATION
    );
}

/// What a checkpoint costs the analyzer thread that takes it: every Transaction, Event
/// and Problem report of an hour that has seen 100 000 trees (stamped over the whole hour,
/// as a checkpoint late in the hour finds them), written as JSON into a sink, so the
/// figure is the serializer's and not the disk's.
fn bench_checkpoint(c: &mut Criterion) {
    let config = Arc::new(AnalyzerConfig::default());
    let mut rng = Rng(0xc4ec);
    let trees = realistic_trees(100_000, 10, 200, &mut rng);
    let mut transaction = TransactionAnalyzer::new(HOUR, config.clone());
    let mut event = EventAnalyzer::new(HOUR, config.clone());
    let mut problem = ProblemAnalyzer::new(HOUR, config);
    for tree in &trees {
        transaction.process(tree);
        event.process(tree);
        problem.process(tree);
    }
    let mut group = c.benchmark_group("checkpoint");
    group.sample_size(20);
    group.bench_function("json_of_100k_trees_reports", |b| {
        b.iter(|| {
            for (_, report) in transaction.reports().iter() {
                serde_json::to_writer(std::io::sink(), report).expect("to a sink");
            }
            for (_, report) in event.reports().iter() {
                serde_json::to_writer(std::io::sink(), report).expect("to a sink");
            }
            for (_, report) in problem.reports().iter() {
                serde_json::to_writer(std::io::sink(), report).expect("to a sink");
            }
        })
    });
    group.finish();
}

/// The JSON API's "All" view of a domain on 1 000 machines, each with the domain's 4
/// transaction types of 50 names: every machine's entries merged on read.
fn bench_all_machines_view(c: &mut Criterion) {
    let config = Arc::new(AnalyzerConfig::default());
    let mut rng = Rng(0xa11);
    let trees = trees_on_machines(200_000, 1, 1_000, 50, &mut rng);
    let mut transaction = TransactionAnalyzer::new(HOUR, config.clone());
    let mut event = EventAnalyzer::new(HOUR, config.clone());
    let mut problem = ProblemAnalyzer::new(HOUR, config);
    for tree in &trees {
        transaction.process(tree);
        event.process(tree);
        problem.process(tree);
    }
    let query = ViewQuery {
        elapsed_seconds: 3600.0,
        ..ViewQuery::default()
    };
    let mut group = c.benchmark_group("all_machines_view");
    group.sample_size(10);
    group.bench_function("transaction_1000_machines", |b| {
        b.iter(|| black_box(transaction.reports()["domain-0"].view(&query)))
    });
    // A board's view: one type (the domain has four).
    group.bench_function("transaction_1000_machines_one_type", |b| {
        let url = ViewQuery {
            type_: Some("URL"),
            ..query
        };
        b.iter(|| black_box(transaction.reports()["domain-0"].view(&url)))
    });
    // What an analyzer thread spends answering a query for the report (it sends a copy).
    group.bench_function("transaction_1000_machines_copy", |b| {
        b.iter(|| black_box(transaction.reports()["domain-0"].clone()))
    });
    // The same for a board of one type, or of one machine: the part that view reads.
    group.bench_function("transaction_1000_machines_copy_one_type", |b| {
        b.iter(|| black_box(transaction.reports()["domain-0"].scoped(None, Some("URL"))))
    });
    group.bench_function("transaction_1000_machines_copy_one_machine", |b| {
        let report = &transaction.reports()["domain-0"];
        let ip = report.ips().next().unwrap().to_owned();
        b.iter(|| black_box(report.scoped(Some(&ip), None)))
    });
    // What the home page asks of each domain: whole copies of both reports it reads, and
    // the overview the analyzer thread builds instead (the entry type copied, problems
    // counted).
    group.bench_function("home_1000_machines_whole_copies", |b| {
        b.iter(|| {
            black_box(transaction.reports()["domain-0"].clone());
            black_box(problem.reports()["domain-0"].clone());
        })
    });
    group.bench_function("home_1000_machines_overview", |b| {
        b.iter(|| {
            black_box(DomainOverview::of(
                Some(&transaction.reports()["domain-0"]),
                Some(&problem.reports()["domain-0"]),
            ))
        })
    });
    group.bench_function("event_1000_machines", |b| {
        b.iter(|| black_box(event.reports()["domain-0"].view(&query)))
    });
    group.finish();
}

/// A type of many names in "All": 1 000 machines, each with its own ~200 of 100 000 names
/// (a client putting IDs into names), viewed whole and as the API and the boards do since
/// the names limit: the busiest 10 000, picked from their counts before any name's view.
fn bench_many_names_view(c: &mut Criterion) {
    let config = Arc::new(AnalyzerConfig::default());
    let mut rng = Rng(0x5a7e);
    let trees = trees_on_machines(200_000, 1, 1_000, 100_000, &mut rng);
    let mut transaction = TransactionAnalyzer::new(HOUR, config);
    for tree in &trees {
        transaction.process(tree);
    }
    let all = ViewQuery {
        elapsed_seconds: 3600.0,
        type_: Some("URL"),
        ..ViewQuery::default()
    };
    let limited = ViewQuery {
        max_names: Some(10_000),
        ..all
    };
    let mut group = c.benchmark_group("many_names_view");
    group.sample_size(10);
    group.bench_function("transaction_all_names", |b| {
        b.iter(|| black_box(transaction.reports()["domain-0"].view(&all)))
    });
    group.bench_function("transaction_10000_names", |b| {
        b.iter(|| black_box(transaction.reports()["domain-0"].view(&limited)))
    });
    group.finish();
}

criterion_group!(
    benches,
    bench_many_names_view,
    bench_analyzers,
    bench_checkpoint,
    bench_all_machines_view
);

fn main() {
    if let Ok(kind) = std::env::var("OCELOT_BENCH_PASSES") {
        instruction_probe(&kind);
        return;
    }
    if std::env::var_os("OCELOT_BENCH_MEMORY").is_some() {
        memory_probe();
    }
    benches();
    criterion::Criterion::default()
        .configure_from_args()
        .final_summary();
}
