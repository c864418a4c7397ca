//! The collector end to end over loopback: real client frames in, reports and stored trees out.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ocelot_analyzer::ViewQuery;
use ocelot_collector::{Collector, CollectorConfig, ManualClock};
use ocelot_protocol::{decode_frame, DecodeOptions, MessageId};
use ocelot_store::{Store, StoreConfig};

/// The capture's hour (2026-11-22 07:00 UTC) and a moment inside it.
const HOUR: u64 = 498_703;
const NOW_MS: u64 = HOUR * 3_600_000 + 9 * 60_000;

fn vectors() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../protocol/tests/data/cat-c-client")
}

fn binary_frames() -> Vec<Vec<u8>> {
    (1..=29)
        .map(|i| std::fs::read(vectors().join(format!("binary/{i:04}.bin"))).unwrap())
        .collect()
}

/// A store that keeps the captured frames' fixed hour: retention goes by the real clock
/// and would refuse it once the capture is more than a week old.
fn open_store(dir: &std::path::Path) -> Store {
    Store::open(StoreConfig {
        retention_days: 0,
        ..StoreConfig::new(dir)
    })
    .unwrap()
}

/// A store in `dir` and a collector writing to it, on a manual clock at [`NOW_MS`] (the
/// clock returned, for tests that move it).
fn started_at_now(dir: &std::path::Path) -> (Store, Arc<ManualClock>, Collector) {
    let store = open_store(dir);
    let clock = Arc::new(ManualClock::new(NOW_MS));
    let collector = Collector::start(manual_config(), Some(store.clone()), clock.clone());
    (store, clock, collector)
}

fn manual_config() -> CollectorConfig {
    CollectorConfig {
        background_ticks: false,
        ..CollectorConfig::default()
    }
}

struct Server {
    addr: std::net::SocketAddr,
    collector: Collector,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    fn start(collector: Collector) -> Server {
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let c = collector.clone();
        let task = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                addr_tx.send(listener.local_addr().unwrap()).unwrap();
                ocelot_collector::run(listener, c, async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
            });
        });
        Server {
            addr: addr_rx.recv().unwrap(),
            collector,
            stop: Some(stop),
            task: Some(task),
        }
    }

    fn stop(mut self) -> Collector {
        let _ = self.stop.take().unwrap().send(());
        self.task.take().unwrap().join().unwrap();
        self.collector.clone()
    }
}

/// A collector without a store, its clock fixed at [`NOW_MS`], listening on loopback.
fn serve_without_store(config: CollectorConfig) -> (Collector, Server) {
    let collector = Collector::start(config, None, Arc::new(ManualClock::new(NOW_MS)));
    let server = Server::start(collector.clone());
    (collector, server)
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

#[test]
fn real_client_frames_over_tcp_show_up_in_every_report_and_in_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let clock = Arc::new(ManualClock::new(NOW_MS));
    let collector = Collector::start(manual_config(), Some(store.clone()), clock);
    let server = Server::start(collector.clone());

    let stream = std::fs::read(vectors().join("streams/binary.stream")).unwrap();
    let mut conn = TcpStream::connect(server.addr).unwrap();
    // Arbitrary write sizes: frames split across reads.
    for chunk in stream.chunks(777) {
        conn.write_all(chunk).unwrap();
    }
    drop(conn);
    // 29 frames; S13a (hour 472222) and S14 (year 2100) are outside the hour window.
    wait_for("27 accepted trees", || {
        collector.stats().trees_accepted == 27
    });
    collector.checkpoint_now();
    let stats = collector.stats();
    assert_eq!(stats.frames, 29);
    assert_eq!(stats.out_of_window, 2);
    assert_eq!(stats.decode_errors_total(), 0);
    assert_eq!(stats.dropped_total(), 0);

    let transactions = block_on(collector.transaction_report("catgen", HOUR)).unwrap();
    let view = transactions.view(&ViewQuery {
        elapsed_seconds: 3600.0,
        ..ViewQuery::default()
    });
    let url = view.types.iter().find(|t| t.type_ == "URL").unwrap();
    assert_eq!(url.figures.count, 1);
    let cache = view
        .types
        .iter()
        .find(|t| t.type_ == "Cache.redis")
        .unwrap();
    assert_eq!(cache.figures.fail, 1);
    let service = view.types.iter().find(|t| t.type_ == "Service").unwrap();
    // S02 failed; S09b (the RPC callee, header domain catgen) succeeded.
    assert_eq!((service.figures.count, service.figures.fail), (2, 1));

    let events = block_on(collector.event_report("catgen", HOUR)).unwrap();
    assert!(serde_json::to_string(&*events)
        .unwrap()
        .contains("RemoteCall"));
    let problems = block_on(collector.problem_report("catgen", HOUR)).unwrap();
    assert!(serde_json::to_string(&*problems)
        .unwrap()
        .contains("RuntimeException"));
    assert!(block_on(collector.heartbeat_report("catgen", HOUR)).is_some());
    assert!(block_on(collector.metric_report("catgen", HOUR)).is_some());
    let edges: Vec<_> = events
        .dependencies(&ViewQuery::default())
        .dependencies
        .into_iter()
        .map(|e| (e.type_, e.target))
        .collect();
    assert!(
        edges.contains(&("Database".into(), "jdbc:mysql://db1:3306/orders".into()))
            && edges.contains(&("PigeonService".into(), "payment-gateway".into())),
        "{edges:?}"
    );
    assert_eq!(block_on(collector.domains(HOUR)), vec!["catgen".to_owned()]);
    let state = block_on(collector.state_report(HOUR));
    assert!(state.is_some());

    // Every accepted tree is findable by its message ID, byte for byte as sent.
    store.flush().unwrap();
    for frame in binary_frames() {
        let tree = decode_frame(&frame, &DecodeOptions::default()).unwrap();
        let id: MessageId = tree.header.message_id.parse().unwrap();
        if ocelot_protocol::hour_of(tree.root.timestamp_ms()) != HOUR {
            continue;
        }
        assert_eq!(
            store.lookup(&id).unwrap().as_deref(),
            Some(&frame[..]),
            "{id}"
        );
    }
    server.stop().shutdown();
    store.shutdown();
}

#[test]
fn a_bad_connection_never_disturbs_a_good_one() {
    let (collector, server) = serve_without_store(manual_config());
    let frames = binary_frames();

    let mut good = TcpStream::connect(server.addr).unwrap();
    good.write_all(&frames[0]).unwrap();
    // The crashing C client's garbage: ASCII "0000" as a length.
    let mut bad = TcpStream::connect(server.addr).unwrap();
    bad.write_all(b"0000NT1\x06catgen\x02vm").unwrap();
    // A frame whose body is not a tree.
    let mut worse = TcpStream::connect(server.addr).unwrap();
    worse
        .write_all(&[0, 0, 0, 5, b'N', b'T', b'1', 0xff, 0xff])
        .unwrap();
    good.write_all(&frames[1]).unwrap();
    good.write_all(&frames[2]).unwrap();
    good.flush().unwrap();

    wait_for("three good trees and two errors", || {
        let s = collector.stats();
        s.trees_accepted == 3 && s.decode_errors_total() == 2
    });
    // A bad length leaves nothing to trust: that connection was closed by the server.
    bad.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut byte = [0u8; 1];
    assert_eq!(std::io::Read::read(&mut bad, &mut byte).unwrap_or(0), 0);
    let stats = collector.stats();
    // Not `frame_too_long`, which is a real client's tree over the cap.
    assert_eq!(stats.decode_errors["bad_length"], 1);
    assert_eq!(stats.decode_errors["truncated"], 1);
    // The State report shows them at once, not at the next sample (no tick has run).
    let state = block_on(collector.state_report(HOUR)).unwrap();
    assert_eq!(state.view(&ViewQuery::default()).decode_errors, 2);
    // The good connection still works.
    good.write_all(&frames[3]).unwrap();
    wait_for("a fourth tree", || collector.stats().trees_accepted == 4);
    // A whole frame that does not decode costs only itself: that connection is kept.
    worse.write_all(&frames[4]).unwrap();
    wait_for("a fifth tree, behind the bad frame", || {
        collector.stats().trees_accepted == 5
    });
    server.stop().shutdown();
}

/// A frame framed well whose body does not decode used to close its connection, and every
/// good tree behind it (in the same write, or in flight) was thrown away uncounted. As on
/// CAT's server, only that frame is dropped, counted by its reason; the stream stays
/// aligned because the frame was whole.
#[test]
fn a_frame_that_does_not_decode_is_dropped_and_the_trees_behind_it_on_its_connection_count() {
    let (collector, server) = serve_without_store(manual_config());
    let frames = binary_frames();
    fn framed(body: &[u8]) -> Vec<u8> {
        let mut f = (body.len() as u32).to_be_bytes().to_vec();
        f.extend_from_slice(body);
        f
    }
    let body = |frame: &Vec<u8>| frame[4..].to_vec();
    // A good tree with a byte after its root.
    let mut trailing = body(&frames[0]);
    trailing.push(b'x');
    // A good tree cut short inside its last field.
    let truncated = body(&frames[0])[..body(&frames[0]).len() - 1].to_vec();
    let bad = [
        framed(&trailing),
        framed(&truncated),
        // The header, then a record tag no codec knows.
        framed(&[&b"NT1"[..], &[0; 10], b"?"].concat()),
        // A varint of eleven bytes where the domain's length goes.
        framed(&[&b"NT1"[..], &[0xff; 11]].concat()),
        framed(b"XYZ not a tree"),
        // A PT1 header line of two fields.
        framed(b"PT1\tnot a tree either\n"),
    ];
    let mut write = Vec::new();
    for (bad, good) in bad.iter().zip(&frames) {
        write.extend_from_slice(bad);
        write.extend_from_slice(good);
    }
    let mut conn = TcpStream::connect(server.addr).unwrap();
    conn.write_all(&write).unwrap();
    conn.flush().unwrap();
    wait_for("the six good trees behind the bad frames", || {
        collector.stats().trees_accepted == 6
    });
    let errors = collector.stats().decode_errors;
    assert_eq!(
        errors.values().sum::<u64>(),
        6,
        "each bad frame counted once: {errors:?}"
    );
    for reason in [
        "trailing_data",
        "truncated",
        "unknown_tag",
        "varint_overflow",
        "unknown_magic",
        "malformed_text",
    ] {
        assert_eq!(errors.get(reason), Some(&1), "{reason}: {errors:?}");
    }
    // The connection is still served.
    conn.write_all(&frames[6]).unwrap();
    wait_for("a seventh tree on the same connection", || {
        collector.stats().trees_accepted == 7
    });
    server.stop().shutdown();
}

/// A client that sends nothing but frames that do not decode is not served forever: after
/// `MAX_BAD_FRAMES_IN_A_ROW` in a row its connection is closed. One good frame among them
/// starts the count again.
#[test]
fn a_connection_is_closed_only_after_a_thousand_bad_frames_in_a_row() {
    let (collector, server) = serve_without_store(manual_config());
    let frames = binary_frames();
    let max = ocelot_collector::MAX_BAD_FRAMES_IN_A_ROW as usize;
    let bad: &[u8] = &[0, 0, 0, 5, b'N', b'T', b'1', 0xff, 0xff];
    let mut conn = TcpStream::connect(server.addr).unwrap();
    // One short of the limit, a good tree, one short again, a good tree: kept.
    let mut write = Vec::new();
    for good in &frames[..2] {
        write.extend(bad.repeat(max - 1));
        write.extend_from_slice(good);
    }
    conn.write_all(&write).unwrap();
    wait_for("both good trees", || collector.stats().trees_accepted == 2);
    assert_eq!(collector.stats().connections_open, 1);
    // The limit reached: closed, every bad frame counted.
    conn.write_all(&bad.repeat(max)).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut byte = [0u8; 1];
    assert!(matches!(conn.read(&mut byte), Ok(0) | Err(_)), "closed");
    wait_for("the connection closed", || {
        collector.stats().connections_open == 0
    });
    assert_eq!(
        collector.stats().decode_errors["truncated"],
        (3 * max - 2) as u64
    );
    server.stop().shutdown();
}

/// `hours_sealed` counted sealing ticks: a clock jumping hours ahead sealed them all in
/// one tick and counted one, and a clock stepped back over an hour's seal and forward again
/// counted that hour twice.
#[test]
fn hours_sealed_counts_each_hour_once_however_the_clock_moves() {
    let clock = Arc::new(ManualClock::new(NOW_MS));
    let collector = Collector::start(manual_config(), None, clock.clone());
    let at = |hour: u64, minute: u64| hour * 3_600_000 + minute * 60_000;
    // Three hours and a half ahead: HOUR, HOUR + 1 and HOUR + 2 are past their grace.
    clock.set(at(HOUR + 3, 30));
    collector.tick();
    assert_eq!(collector.stats().hours_sealed, 3);
    // Back before HOUR + 2's seal, then forward past it again: sealed already.
    clock.set(at(HOUR + 3, 1));
    collector.tick();
    clock.set(at(HOUR + 3, 40));
    collector.tick();
    assert_eq!(collector.stats().hours_sealed, 3);
    // The next hour's seal counts one.
    clock.set(at(HOUR + 4, 3));
    collector.tick();
    assert_eq!(collector.stats().hours_sealed, 4);
    collector.shutdown();
}

#[test]
fn an_hour_is_sealed_into_the_store_after_its_grace_period_and_stays_readable() {
    let dir = tempfile::tempdir().unwrap();
    let (store, clock, collector) = started_at_now(dir.path());
    for frame in binary_frames() {
        let _ = collector.ingest(frame.into());
    }
    collector.checkpoint_now();
    // Minute 2 of the next hour: still open; minute 3: sealed.
    clock.set((HOUR + 1) * 3_600_000 + 2 * 60_000);
    collector.tick();
    assert_eq!(collector.stats().hours_sealed, 0);
    clock.set((HOUR + 1) * 3_600_000 + 3 * 60_000 + 500);
    collector.tick();
    collector.checkpoint_now();
    assert_eq!(collector.stats().hours_sealed, 1);
    // Read back from the store: same figures as live.
    let report = block_on(collector.transaction_report("catgen", HOUR)).unwrap();
    let stored: ocelot_analyzer::TransactionReport = serde_json::from_slice(
        &store
            .read_report(HOUR, "catgen", "transaction")
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        serde_json::to_value(&*report).unwrap(),
        serde_json::to_value(&stored).unwrap()
    );
    // The home page's overview of the sealed hour: from the stored reports.
    let overview = block_on(collector.domain_overview("catgen", HOUR));
    let problems = block_on(collector.problem_report("catgen", HOUR));
    assert_eq!(
        overview,
        ocelot_analyzer::DomainOverview::of(Some(&stored), problems.as_deref())
    );
    assert!(overview.entry.is_some());
    // A late tree of the sealed hour is now out of window.
    let before = collector.stats().out_of_window;
    let _ = collector.ingest(binary_frames()[0].clone().into());
    assert_eq!(collector.stats().out_of_window, before + 1);
    collector.shutdown();
    store.shutdown();
}

#[test]
fn a_restart_mid_hour_continues_counting_from_the_last_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let frames = binary_frames();
    let count_urls = |collector: &Collector| {
        url_count(&block_on(collector.transaction_report("catgen", HOUR)).unwrap())
    };
    {
        let store = open_store(dir.path());
        let clock = Arc::new(ManualClock::new(NOW_MS));
        let collector = Collector::start(manual_config(), Some(store.clone()), clock);
        for _ in 0..3 {
            collector.ingest(frames[0].clone().into()).unwrap();
        }
        collector.checkpoint_now();
        // Two more after the checkpoint, then a crash: no shutdown, no final write.
        for _ in 0..2 {
            collector.ingest(frames[0].clone().into()).unwrap();
        }
        wait_for("five URLs", || count_urls(&collector) == 5);
        store.crash_for_tests();
    }
    let store = open_store(dir.path());
    let clock = Arc::new(ManualClock::new(NOW_MS + 60_000));
    let collector = Collector::start(manual_config(), Some(store.clone()), clock);
    // The checkpoint's three survive; the two after it are the at-most-one-interval loss.
    assert_eq!(count_urls(&collector), 3);
    let events = block_on(collector.event_report("catgen", HOUR)).unwrap();
    let database = &events.dependencies(&ViewQuery::default()).dependencies[0];
    assert_eq!((database.type_.as_str(), database.count), ("Database", 3));
    collector.ingest(frames[0].clone().into()).unwrap();
    wait_for("four URLs", || count_urls(&collector) == 4);
    collector.shutdown();
    store.shutdown();
}

#[test]
fn a_checkpoint_that_does_not_parse_is_kept_aside_not_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let reports = dir
        .path()
        .join(HOUR.to_string())
        .join("shop")
        .join("reports");
    {
        let store = open_store(dir.path());
        let clock = Arc::new(ManualClock::new(NOW_MS));
        let collector = Collector::start(manual_config(), Some(store.clone()), clock);
        collector.ingest(tree_of_domain("shop", 1)).unwrap();
        collector.checkpoint_now();
        collector.shutdown();
        store.shutdown();
    }
    // Damaged between two runs (a bad disk block, a hand edit).
    let damaged = b"{\"not a transaction report\"".to_vec();
    std::fs::write(reports.join("transaction.report"), &damaged).unwrap();
    let store = open_store(dir.path());
    let clock = Arc::new(ManualClock::new(NOW_MS + 60_000));
    let collector = Collector::start(manual_config(), Some(store.clone()), clock);
    collector.ingest(tree_of_domain("shop", 2)).unwrap();
    wait_for("the new tree", || {
        block_on(collector.transaction_report("shop", HOUR)).is_some_and(|r| url_count(&r) == 1)
    });
    collector.checkpoint_now();
    // The report started from zero (the damaged one counted nothing it can give back), and
    // the damaged bytes are still there, beside the new checkpoint and out of its listing.
    let aside: Vec<_> = std::fs::read_dir(&reports)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.to_string_lossy()
                .contains("transaction.report.unreadable-")
        })
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert_eq!(std::fs::read(&aside[0]).unwrap(), damaged);
    assert_eq!(
        store.report_names(HOUR, "shop").unwrap(),
        [
            "event",
            "heartbeat",
            "matrix",
            "metric",
            "problem",
            "transaction"
        ]
        .into_iter()
        .filter(|name| reports.join(format!("{name}.report")).exists())
        .collect::<Vec<_>>()
    );
    collector.shutdown();
    store.shutdown();
}

/// Sends the 29 captured frames 20 times over one connection to a collector with `config`,
/// waits until every worker has processed or dropped (and counted) every accepted tree and
/// `settled` holds, and returns the collector and the server's last figures.
fn send_captures_until_every_tree_is_accounted(
    config: CollectorConfig,
    settled: impl Fn(&ocelot_collector::StatsSnapshot) -> bool,
) -> (Collector, ocelot_collector::StatsSnapshot) {
    let (collector, server) = serve_without_store(config);
    let all: Vec<u8> = binary_frames().concat();
    let mut client = TcpStream::connect(server.addr).unwrap();
    for _ in 0..20 {
        client.write_all(&all).unwrap();
    }
    drop(client);
    // Each analyzer thread takes the trees of its domains (the State worker takes none:
    // it counts them from what dispatch adds up).
    let taken = |w: &ocelot_collector::WorkerSnapshot| w.processed + w.dropped_queue_full;
    wait_for("all 580 frames read and every tree accounted for", || {
        let s = collector.stats();
        let analyzers: u64 = s
            .workers
            .iter()
            .filter(|(name, _)| name.starts_with("analyzer-"))
            .map(|(_, w)| taken(w))
            .sum();
        s.frames == 20 * 29 && analyzers == s.trees_accepted && settled(&s)
    });
    (collector, server.stop().stats())
}

#[test]
fn every_tree_is_processed_or_counted_as_dropped_by_every_worker() {
    // Trees of one read travel to the workers together; with a queue smaller than a read,
    // some are dropped, and each one must still be counted, worker by worker.
    let config = CollectorConfig {
        worker_queue_trees: 4,
        ..manual_config()
    };
    let (collector, stats) = send_captures_until_every_tree_is_accounted(config, |_| true);
    assert!(stats.workers.values().all(|w| w.queue_depth <= 4));
    let dropped: u64 = stats.workers.values().map(|w| w.dropped_queue_full).sum();
    assert!(dropped > 0, "a queue of 4 must overflow: {stats:?}");
    // The State report counts every tree received, whatever the analyzers dropped.
    let state = block_on(collector.state_report(HOUR)).unwrap();
    let view = state.view(&ViewQuery::default());
    assert_eq!(view.trees, stats.trees_accepted);
    assert!(view.trees > 500, "{view:?}");
    collector.shutdown();
}

#[test]
fn a_small_queue_budget_drops_trees_counted_and_frees_every_byte() {
    // All worker queues together may hold at most 2 000 frame bytes (a few trees): past
    // that, workers with trees still queued drop each read, counted, and the budget
    // empties again.
    let config = CollectorConfig {
        worker_queue_bytes: 2_000,
        ..manual_config()
    };
    let (collector, stats) =
        send_captures_until_every_tree_is_accounted(config, |s| s.queued_bytes == 0);
    let analyzers_processed: u64 = stats
        .workers
        .iter()
        .filter(|(name, _)| name.starts_with("analyzer-"))
        .map(|(_, w)| w.processed)
        .sum();
    assert!(analyzers_processed > 0, "{stats:?}");
    collector.shutdown();
}

/// One transaction analyzer of the capture's hour with default settings: what the
/// collector's reports must equal, whatever thread made them.
fn reference_analyzer() -> ocelot_analyzer::TransactionAnalyzer {
    ocelot_analyzer::TransactionAnalyzer::new(
        HOUR,
        Arc::new(ocelot_analyzer::AnalyzerConfig::default()),
    )
}

/// URL transactions counted in a report.
fn url_count(report: &ocelot_analyzer::TransactionReport) -> u64 {
    let view = report.view(&ViewQuery {
        elapsed_seconds: 3600.0,
        ..ViewQuery::default()
    });
    view.types
        .iter()
        .find(|t| t.type_ == "URL")
        .map_or(0, |t| t.figures.count)
}

#[test]
fn domains_spread_over_analyzer_threads_give_the_same_reports_as_one_analyzer() {
    // Each analyzer thread keeps the reports of its own domains: every domain's report,
    // asked through the collector, must be what one analyzer makes of that domain's trees.
    let config = CollectorConfig {
        analyzer_threads: 3,
        ..manual_config()
    };
    let (collector, server) = serve_without_store(config);
    let mut samples = ocelot_protocol::sample::SampleTrees::new(7, 12, 20, NOW_MS - 60_000);
    let trees: Vec<_> = (0..3000).map(|_| samples.tree()).collect();
    let mut reference = reference_analyzer();
    let mut stream = Vec::new();
    for tree in &trees {
        reference.process(tree);
        ocelot_protocol::nt1::encode(tree, &mut stream);
    }
    let mut conn = TcpStream::connect(server.addr).unwrap();
    conn.write_all(&stream).unwrap();
    drop(conn);
    wait_for("3000 accepted trees", || {
        collector.stats().trees_accepted == 3000
    });
    collector.checkpoint_now();
    let stats = collector.stats();
    assert_eq!(stats.dropped_total(), 0);
    let busy = stats
        .workers
        .iter()
        .filter(|(name, w)| name.starts_with("analyzer-") && w.processed > 0)
        .count();
    assert!(
        busy >= 2,
        "12 domains should land on more than one of 3 threads"
    );

    let mut domains = block_on(collector.domains(HOUR));
    domains.sort();
    let expected: Vec<String> = reference.reports().keys().map(str::to_owned).collect();
    assert_eq!(domains, expected);
    for (domain, want) in reference.reports().iter() {
        let got = block_on(collector.transaction_report(domain, HOUR)).unwrap();
        assert_eq!(
            serde_json::to_value(&*got).unwrap(),
            serde_json::to_value(want).unwrap(),
            "{domain}"
        );
        assert!(block_on(collector.event_report(domain, HOUR)).is_some());
        // The home page's overview: one type copied, problems counted, as from whole reports.
        let problems = block_on(collector.problem_report(domain, HOUR));
        let overview = block_on(collector.domain_overview(domain, HOUR));
        assert_eq!(
            overview,
            ocelot_analyzer::DomainOverview::of(Some(&got), problems.as_deref()),
            "{domain}"
        );
        assert!(overview.entry.is_some(), "{domain}");
        // A query for one machine's or one type's view copies only that, and views the same.
        let ip = want.ips().next().unwrap().to_owned();
        for (ip, type_) in [
            (None, Some("URL")),
            (Some(ip.as_str()), None),
            (Some(&ip), Some("URL")),
        ] {
            let part = block_on(collector.transaction_report_for(domain, HOUR, ip, type_)).unwrap();
            let query = ocelot_analyzer::ViewQuery {
                ip,
                type_,
                elapsed_seconds: 3600.0,
                max_names: None,
                keep_name: None,
            };
            assert_eq!(
                part.view(&query),
                want.view(&query),
                "{domain} {ip:?} {type_:?}"
            );
            assert!(part.ips().eq(want.ips()));
            let size =
                |r: &ocelot_analyzer::TransactionReport| serde_json::to_string(r).unwrap().len();
            assert!(
                size(&part) < size(want),
                "{domain} {ip:?} {type_:?}: copied whole"
            );
        }
    }
    server.stop().shutdown();
}

#[test]
fn pt1_frames_are_decoded_on_arrival_and_counted_like_nt1() {
    // NT1 frames are only scanned on the socket's thread; PT1 frames are decoded there.
    // Both must end in the same reports as the trees the decoder makes of them.
    // The capture's client wrote PT1 times in UTC.
    let mut config = manual_config();
    config.decode.pt1_utc_offset_seconds = 0;
    let options = config.decode;
    let clock = Arc::new(ManualClock::new(NOW_MS));
    let store_dir = tempfile::tempdir().unwrap();
    let store = open_store(store_dir.path());
    let collector = Collector::start(config, Some(store.clone()), clock);
    let mut reference = reference_analyzer();
    let mut accepted = 0;
    let mut stored = Vec::new();
    for i in 1..=12 {
        let frame = std::fs::read(vectors().join(format!("text/{i:04}.bin"))).unwrap();
        let tree = decode_frame(&frame, &options).unwrap();
        if ocelot_protocol::hour_of(tree.root.timestamp_ms()) == HOUR {
            reference.process(&tree);
            accepted += 1;
            if let Ok(id) = tree.header.message_id.parse::<MessageId>() {
                stored.push((id, frame.clone()));
            }
        }
        collector.ingest(frame.into()).unwrap();
    }
    // A PT1 frame is stored under the ID its decoded header carries, as received.
    store.flush().unwrap();
    assert!(!stored.is_empty());
    for (id, frame) in &stored {
        assert_eq!(
            store.lookup(id).unwrap().as_deref(),
            Some(&frame[..]),
            "{id}"
        );
    }
    assert!(
        accepted > 5,
        "most captured PT1 frames are in the capture's hour"
    );
    collector.checkpoint_now();
    assert_eq!(collector.stats().trees_accepted, accepted);
    let got = block_on(collector.transaction_report("catgen", HOUR)).unwrap();
    assert_eq!(
        serde_json::to_value(&*got).unwrap(),
        serde_json::to_value(&reference.reports()["catgen"]).unwrap()
    );
    collector.shutdown();
    store.shutdown();
}

/// A `URL` transaction of `domain` named `/order/o<seq>`, as a client that puts IDs into
/// names sends them.
fn named_tree(domain: &str, seq: u64) -> bytes::Bytes {
    url_tree(domain, &format!("/order/o{seq}"), seq)
}

#[test]
fn the_home_overview_counts_folded_transactions_live_and_once_sealed() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let clock = Arc::new(ManualClock::new(NOW_MS));
    let config = CollectorConfig {
        analyzer_threads: 2,
        analyzer: Arc::new(ocelot_analyzer::AnalyzerConfig {
            max_names_per_type: 2,
            ..ocelot_analyzer::AnalyzerConfig::default()
        }),
        ..manual_config()
    };
    let collector = Collector::start(config, Some(store.clone()), clock.clone());
    // `ids`: five names, three past the cap of two; `fine`: two.
    for seq in 0..5 {
        collector.ingest(named_tree("ids", seq)).unwrap();
    }
    for seq in 0..2 {
        collector.ingest(named_tree("fine", seq)).unwrap();
    }
    wait_for("the trees to be counted", || {
        collector.stats().queued_bytes == 0
    });
    let folded = |domain| block_on(collector.domain_overview(domain, HOUR)).folded;
    // Live: from the analyzer thread holding each domain.
    assert_eq!(folded("ids"), 3);
    assert_eq!(folded("fine"), 0);
    // Sealed: from the stored Transaction report.
    collector.checkpoint_now();
    clock.set((HOUR + 1) * 3_600_000 + 3 * 60_000 + 500);
    collector.tick();
    collector.checkpoint_now();
    assert_eq!(collector.stats().hours_sealed, 1);
    let stored: ocelot_analyzer::TransactionReport = serde_json::from_slice(
        &store
            .read_report(HOUR, "ids", "transaction")
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(stored.folded(), 3, "the stored report says so");
    assert_eq!(folded("ids"), 3);
    assert_eq!(folded("fine"), 0);
    collector.shutdown();
    store.shutdown();
}

#[test]
fn domains_past_the_hours_cap_fold_into_one_others_report_across_analyzer_threads() {
    domains_past_the_cap_fold_into_others(false);
}

#[test]
fn a_connection_carrying_many_domains_gets_the_same_cap_answers() {
    // One connection's batches remember the cap's answers per hour and domain.
    domains_past_the_cap_fold_into_others(true);
}

fn domains_past_the_cap_fold_into_others(one_connection: bool) {
    // The cap is the analyzers' (`max_domains` per hour); with domains spread over threads,
    // the collector applies it, so the overflow lands in one OTHERS report, not one per thread.
    let store_dir = tempfile::tempdir().unwrap();
    let store = open_store(store_dir.path());
    let config = CollectorConfig {
        analyzer_threads: 4,
        analyzer: Arc::new(ocelot_analyzer::AnalyzerConfig {
            max_domains: 5,
            ..ocelot_analyzer::AnalyzerConfig::default()
        }),
        ..manual_config()
    };
    let clock = Arc::new(ManualClock::new(NOW_MS));
    let collector = Collector::start(config, Some(store.clone()), clock);
    let mut samples = ocelot_protocol::sample::SampleTrees::new(9, 20, 5, NOW_MS - 60_000);
    let trees: Vec<_> = (0..2000).map(|_| samples.tree()).collect();
    let server = one_connection.then(|| Server::start(collector.clone()));
    match &server {
        Some(server) => {
            let mut conn = TcpStream::connect(server.addr).unwrap();
            for tree in &trees {
                conn.write_all(&ocelot_protocol::nt1::encode_to_bytes(tree))
                    .unwrap();
            }
            drop(conn);
            // Processed, not only accepted: a tree is counted before it is queued to its
            // analyzer thread, and a checkpoint taken between the two would miss it.
            wait_for("2000 processed trees", || {
                let stats = collector.stats();
                let processed: u64 = stats.workers.values().map(|w| w.processed).sum();
                stats.trees_accepted == 2000 && processed == 2000
            });
        }
        None => {
            for tree in &trees {
                collector
                    .ingest(ocelot_protocol::nt1::encode_to_bytes(tree))
                    .unwrap();
            }
        }
    }
    collector.checkpoint_now();
    let stats = collector.stats();
    assert_eq!(stats.trees_accepted, 2000);
    let domains = block_on(collector.domains(HOUR));
    assert_eq!(domains.len(), 6, "five admitted and OTHERS: {domains:?}");
    assert!(domains.iter().any(|d| d == "OTHERS"));
    // Every URL root is counted once: in its own domain's report or in OTHERS.
    let urls: u64 = domains
        .iter()
        .map(|d| url_count(&block_on(collector.transaction_report(d, HOUR)).unwrap()))
        .sum();
    assert_eq!(urls, 2000);
    let others = domains.iter().filter(|d| *d != "OTHERS").count() as u64;
    assert_eq!(others, 5);
    assert!(stats.trees_folded_domain > 0);
    // The OTHERS report written at the checkpoint holds all the folded trees.
    let stored: ocelot_analyzer::TransactionReport = serde_json::from_slice(
        &store
            .read_report(HOUR, "OTHERS", "transaction")
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(url_count(&stored), stats.trees_folded_domain);
    // And says they folded: each of its transactions is one under `OTHERS`.
    let all = stored.view(&ViewQuery {
        elapsed_seconds: 3600.0,
        ..ViewQuery::default()
    });
    let transactions: u64 = all.types.iter().map(|t| t.figures.count).sum();
    assert_eq!(stored.folded(), transactions);
    drop(server);
    collector.shutdown();
    store.shutdown();
}

#[test]
fn a_name_that_is_not_utf8_is_counted_with_its_bytes_replaced() {
    // Analyzer threads read frames as views of their bytes; a text that is not UTF-8
    // cannot be viewed and goes through the decoder, which replaces it as CAT does.
    use ocelot_protocol::{nt1, Header, Message, MessageTree, Transaction};
    let collector = Collector::start(manual_config(), None, Arc::new(ManualClock::new(NOW_MS)));
    let root = |name: &str| {
        let mut t = Transaction::new("URL", name, NOW_MS);
        t.duration_us = 5_000;
        Message::Transaction(t)
    };
    let header = Header {
        domain: "shop".into(),
        ip_address: "10.0.0.1".into(),
        message_id: format!("shop-0a000001-{HOUR}-1"),
        ..Header::default()
    };
    let good = nt1::encode_to_bytes(&MessageTree::new(header, root("/caf\u{e9}")));
    let mut bad = good.to_vec();
    let at = bad.iter().rposition(|&b| b == 0xa9).unwrap(); // the name's last byte
    bad[at] = b'!';
    collector.ingest(good).unwrap();
    collector.ingest(bad.into()).unwrap();
    collector.checkpoint_now();
    let report = block_on(collector.transaction_report("shop", HOUR)).unwrap();
    let json = serde_json::to_value(&*report).unwrap().to_string();
    assert!(json.contains("/caf\u{e9}"), "{json}");
    assert!(json.contains("/caf\u{fffd}!"), "{json}");
    assert_eq!(collector.stats().trees_accepted, 2);
    collector.shutdown();
}

/// Two busy domains, one that sends a single tree, and ten light ones.
fn uneven_traffic() -> Vec<(String, usize)> {
    let mut traffic: Vec<(String, usize)> = vec![
        ("gateway".to_owned(), 400),
        ("filler".to_owned(), 1),
        ("orders".to_owned(), 300),
    ];
    traffic.extend((0..10).map(|i| (format!("job-{i}"), 20)));
    traffic
}

/// Ingests `traffic` stamped inside `hour`: one tree of each domain first, in order (a
/// first hour places domains by that order), then the rest.
fn send_uneven(collector: &Collector, traffic: &[(String, usize)], hour: u64, seed: u64) {
    let mut samples =
        ocelot_protocol::sample::SampleTrees::new(seed, 1, 20, hour * 3_600_000 + 9 * 60_000);
    let mut frame = Vec::new();
    let mut frame_of = |domain: &str| {
        let mut tree = samples.tree();
        tree.header.domain = domain.to_owned();
        frame.clear();
        ocelot_protocol::nt1::encode(&tree, &mut frame);
        bytes::Bytes::copy_from_slice(&frame)
    };
    for (domain, _) in traffic {
        collector.ingest(frame_of(domain)).unwrap();
    }
    for (domain, trees) in traffic {
        for _ in 1..*trees {
            collector.ingest(frame_of(domain)).unwrap();
        }
    }
}

/// Trees each analyzer thread processed.
fn processed_by_thread(collector: &Collector) -> Vec<u64> {
    collector
        .stats()
        .workers
        .iter()
        .filter(|(name, _)| name.starts_with("analyzer-"))
        .map(|(_, w)| w.processed)
        .collect()
}

/// Sends `traffic` for `hour` ([`send_uneven`]) and waits until the analyzer threads have
/// processed all of it; returns how many of its trees each thread took.
fn send_uneven_and_wait(
    collector: &Collector,
    traffic: &[(String, usize)],
    hour: u64,
    seed: u64,
) -> Vec<u64> {
    let before = processed_by_thread(collector);
    let total: u64 = traffic.iter().map(|(_, n)| *n as u64).sum();
    send_uneven(collector, traffic, hour, seed);
    wait_for("the analyzer threads to take the traffic", || {
        processed_by_thread(collector).iter().sum::<u64>() == before.iter().sum::<u64>() + total
    });
    processed_by_thread(collector)
        .iter()
        .zip(&before)
        .map(|(now, before)| now - before)
        .collect()
}

/// Two analyzer threads, ticks by hand.
fn two_analyzer_threads() -> CollectorConfig {
    CollectorConfig {
        analyzer_threads: 2,
        ..manual_config()
    }
}

/// The two threads' loads differ by no more than two light domains' trees.
fn assert_even(loads: &[u64]) {
    let (high, low) = (loads[0].max(loads[1]), loads[0].min(loads[1]));
    assert!(high - low <= 2 * 20 + 1, "{loads:?}");
}

/// What hash placement or a first hour (domains by number) makes of [`uneven_traffic`]:
/// gateway and orders together, with half the jobs: 800 of 901 trees on one thread.
const TOGETHER: u64 = 400 + 300 + 10 * 20 / 2;

#[test]
fn uneven_domains_are_balanced_over_the_analyzer_threads_from_the_next_hour_on() {
    // In their first hour domains spread by number (nothing is known of their loads), and
    // the busy ones share a thread; the next hour is planned from what each sent, so they
    // are apart and the threads' loads even.
    let clock = Arc::new(ManualClock::new(NOW_MS));
    let collector = Collector::start(two_analyzer_threads(), None, clock.clone());
    let traffic = uneven_traffic();
    let first = send_uneven_and_wait(&collector, &traffic, HOUR, 1);
    assert_eq!(first.iter().max(), Some(&TOGETHER), "{first:?}");
    // The State worker drains the counts, which feed the next hour's plan.
    collector.checkpoint_now();

    clock.set((HOUR + 1) * 3_600_000 + 9 * 60_000);
    assert_even(&send_uneven_and_wait(&collector, &traffic, HOUR + 1, 2));
    // Each hour's reports are asked from the thread that keeps them.
    for hour in [HOUR, HOUR + 1] {
        for (domain, trees) in &traffic {
            let report = block_on(collector.transaction_report(domain, hour)).unwrap();
            assert_eq!(url_count(&report), *trees as u64, "{domain} {hour}");
        }
    }
    collector.shutdown();
}

#[test]
fn a_restart_places_the_restored_domains_by_what_they_sent() {
    let dir = tempfile::tempdir().unwrap();
    let traffic = uneven_traffic();
    {
        let store = open_store(dir.path());
        let clock = Arc::new(ManualClock::new(NOW_MS));
        let collector = Collector::start(two_analyzer_threads(), Some(store.clone()), clock);
        let before_crash = send_uneven_and_wait(&collector, &traffic, HOUR, 1);
        assert_eq!(before_crash.iter().max(), Some(&TOGETHER));
        collector.checkpoint_now();
        store.crash_for_tests();
    }
    let store = open_store(dir.path());
    let clock = Arc::new(ManualClock::new(NOW_MS + 60_000));
    let collector = Collector::start(two_analyzer_threads(), Some(store.clone()), clock);
    // The checkpointed State report said what each domain sent: the busy ones are apart.
    assert_even(&send_uneven_and_wait(&collector, &traffic, HOUR, 2));
    // And every domain's reports went on from the checkpoint.
    for (domain, trees) in &traffic {
        let report = block_on(collector.transaction_report(domain, HOUR)).unwrap();
        assert_eq!(url_count(&report), 2 * *trees as u64, "{domain}");
    }
    collector.shutdown();
    store.shutdown();
}

#[test]
fn a_process_started_in_a_new_hour_plans_it_from_the_sealed_hour_before() {
    // Stopped in one hour, started in the next past its grace period: the hour before is
    // sealed, its State report says what each domain sent, and the new hour is planned
    // from it though this process never saw that traffic.
    let dir = tempfile::tempdir().unwrap();
    let traffic = uneven_traffic();
    {
        let store = open_store(dir.path());
        let clock = Arc::new(ManualClock::new(NOW_MS));
        let collector = Collector::start(two_analyzer_threads(), Some(store.clone()), clock);
        let first = send_uneven_and_wait(&collector, &traffic, HOUR, 1);
        assert_eq!(first.iter().max(), Some(&TOGETHER));
        collector.shutdown();
        store.shutdown();
    }
    let store = open_store(dir.path());
    let clock = Arc::new(ManualClock::new((HOUR + 1) * 3_600_000 + 10 * 60_000));
    let collector = Collector::start(two_analyzer_threads(), Some(store.clone()), clock);
    assert_even(&send_uneven_and_wait(&collector, &traffic, HOUR + 1, 2));
    collector.shutdown();
    store.shutdown();
}

/// A tree of `domain` in [`HOUR`], its message ID that domain's.
fn tree_of_domain(domain: &str, seq: u64) -> bytes::Bytes {
    url_tree(domain, "/home", seq)
}

/// A 5 ms `URL` transaction `name` of `domain` in [`HOUR`], its message ID that domain's.
fn url_tree(domain: &str, name: &str, seq: u64) -> bytes::Bytes {
    use ocelot_protocol::{nt1, Header, Message, MessageTree, Transaction};
    let mut t = Transaction::new("URL", name, NOW_MS);
    t.duration_us = 5_000;
    let header = Header {
        domain: domain.into(),
        ip_address: "10.0.0.1".into(),
        message_id: format!("{domain}-0a000001-{HOUR}-{seq}"),
        ..Header::default()
    };
    nt1::encode_to_bytes(&MessageTree::new(header, Message::Transaction(t)))
}

#[test]
fn a_client_domain_spelled_like_the_collectors_own_is_listed_live_and_after_a_restart() {
    let own = ocelot_collector::STATE_DOMAIN;
    let dir = tempfile::tempdir().unwrap();
    let expected = vec![own.to_owned(), "shop".to_owned()];
    {
        let store = open_store(dir.path());
        let clock = Arc::new(ManualClock::new(NOW_MS));
        let collector = Collector::start(manual_config(), Some(store.clone()), clock);
        collector.ingest(tree_of_domain(own, 1)).unwrap();
        collector.ingest(tree_of_domain("shop", 1)).unwrap();
        wait_for("both trees", || {
            block_on(collector.transaction_report(own, HOUR)).is_some()
                && block_on(collector.transaction_report("shop", HOUR)).is_some()
        });
        assert_eq!(block_on(collector.domains(HOUR)), expected);
        collector.shutdown();
        store.shutdown();
    }
    let store = open_store(dir.path());
    let clock = Arc::new(ManualClock::new(NOW_MS + 60_000));
    let collector = Collector::start(manual_config(), Some(store.clone()), clock);
    assert_eq!(block_on(collector.domains(HOUR)), expected);
    let report = block_on(collector.transaction_report(own, HOUR)).unwrap();
    assert_eq!(url_count(&report), 1);
    collector.shutdown();
    store.shutdown();
}

#[test]
fn domains_of_a_busy_analyzer_thread_stay_listed_and_the_wait_is_shared() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let clock = Arc::new(ManualClock::new(NOW_MS));
    let collector = Collector::start(two_analyzer_threads(), Some(store.clone()), clock);
    for domain in ["cart", "shop"] {
        collector.ingest(tree_of_domain(domain, 1)).unwrap();
    }
    wait_for("both trees", || {
        block_on(collector.transaction_report("cart", HOUR)).is_some()
            && block_on(collector.transaction_report("shop", HOUR)).is_some()
    });
    let both = vec!["cart".to_owned(), "shop".to_owned()];
    assert_eq!(block_on(collector.domains(HOUR)), both);
    // Every thread busy (a long checkpoint), nothing checkpointed yet: the domains the
    // collector placed this hour answer for them, after one wait, not one per thread.
    collector.with_workers_held_for_tests(|| {
        let started = Instant::now();
        assert_eq!(block_on(collector.domains(HOUR)), both);
        let waited = started.elapsed();
        assert!(
            waited < Duration::from_secs(8),
            "three threads waited for in turn: {waited:?}"
        );
    });
    collector.shutdown();
    store.shutdown();
}

#[test]
fn a_copy_that_took_its_analyzer_long_answers_the_next_readers_of_that_view_only() {
    // Every copy counts as long here (kept for a million times what it took): in a real
    // server only copies of 2 ms or more are kept, for 50 times that.
    let config = CollectorConfig {
        copy_reuse: ocelot_collector::CopyReuse {
            from: Duration::ZERO,
            factor: 1_000_000,
        },
        ..manual_config()
    };
    let collector = Collector::start(config, None, Arc::new(ManualClock::new(NOW_MS)));
    let counted = |expected: u64| {
        wait_for("the trees to be counted", || {
            let stats = collector.stats();
            let analyzers = stats
                .workers
                .iter()
                .filter(|(name, _)| name.starts_with("analyzer-"));
            analyzers.map(|(_, w)| w.processed).sum::<u64>() == expected
        })
    };
    collector.ingest(tree_of_domain("shop", 1)).unwrap();
    counted(1);
    let first = block_on(collector.transaction_report("shop", HOUR)).unwrap();
    assert_eq!(url_count(&first), 1);
    collector.ingest(tree_of_domain("shop", 2)).unwrap();
    counted(2);
    // The same view: the kept copy, made off the analyzer thread.
    let again = block_on(collector.transaction_report("shop", HOUR)).unwrap();
    assert_eq!(url_count(&again), 1);
    // Another view of the domain (one machine), and readers that must see it now
    // (alert rules): copied afresh.
    let machine = block_on(collector.transaction_report_for("shop", HOUR, Some("10.0.0.1"), None));
    assert_eq!(url_count(&machine.unwrap()), 2);
    let wait = Duration::from_secs(3);
    let now = block_on(collector.transaction_report_now("shop", HOUR, wait));
    assert_eq!(url_count(&now.unwrap().unwrap()), 2);
    collector.shutdown();
}

#[test]
fn without_client_trees_the_collectors_own_domain_is_not_listed() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let clock = Arc::new(ManualClock::new(NOW_MS));
    let collector = Collector::start(manual_config(), Some(store.clone()), clock);
    collector.ingest(tree_of_domain("shop", 1)).unwrap();
    wait_for("the tree", || {
        block_on(collector.transaction_report("shop", HOUR)).is_some()
    });
    collector.checkpoint_now();
    assert_eq!(block_on(collector.domains(HOUR)), vec!["shop".to_owned()]);
    collector.shutdown();
    store.shutdown();
}

#[test]
fn trees_of_a_domain_that_cannot_name_a_report_are_refused_and_counted_and_the_connection_stays() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let clock = Arc::new(ManualClock::new(NOW_MS));
    let collector = Collector::start(manual_config(), Some(store.clone()), clock);
    let server = Server::start(collector.clone());
    let refused = ["订单服务", "a/b", ".hidden", &"x".repeat(200), ""];
    let mut client = TcpStream::connect(server.addr).unwrap();
    for (seq, domain) in refused.iter().enumerate() {
        client
            .write_all(&tree_of_domain(domain, seq as u64))
            .unwrap();
    }
    client.write_all(&tree_of_domain("shop", 1)).unwrap();
    client.write_all(&tree_of_domain(refused[0], 9)).unwrap();
    client.write_all(&tree_of_domain("shop", 2)).unwrap();
    wait_for("two shop trees", || {
        block_on(collector.transaction_report("shop", HOUR)).is_some_and(|r| url_count(&r) == 2)
    });
    let stats = collector.stats();
    assert_eq!(stats.decode_errors.get("invalid_domain"), Some(&6));
    assert_eq!(stats.trees_accepted, 2);
    assert_eq!(block_on(collector.domains(HOUR)), vec!["shop".to_owned()]);
    server.stop();
    collector.shutdown();
    store.flush().unwrap();
    let stored = store.stats();
    assert_eq!(
        (stored.appended, stored.stored, stored.dropped_total()),
        (2, 2, 0)
    );
    store.shutdown();
}

#[test]
fn a_connection_closed_inside_a_frame_counts_the_lost_tree() {
    let (collector, server) = serve_without_store(manual_config());
    let frames = binary_frames();
    let mut cut = TcpStream::connect(server.addr).unwrap();
    cut.write_all(&frames[0]).unwrap();
    cut.write_all(&frames[1][..frames[1].len() / 2]).unwrap();
    drop(cut);
    // Closed between frames: nothing lost, nothing counted.
    let mut clean = TcpStream::connect(server.addr).unwrap();
    clean.write_all(&frames[2]).unwrap();
    drop(clean);
    wait_for("two trees and the cut one counted", || {
        let s = collector.stats();
        s.trees_accepted == 2 && s.connections_open == 0 && s.decode_errors_total() == 1
    });
    assert_eq!(collector.stats().decode_errors["closed_mid_frame"], 1);
    server.stop().shutdown();
}

/// A port scan or a TCP health check that connects, writes a byte or two and closes was
/// counted as a `truncated` tree, and `ocelot status` said "DROPPING DATA". It is counted
/// apart, under a reason that loses nothing; a connection closed after that much of a
/// frame still counts its lost tree.
#[test]
fn a_connection_closed_before_a_whole_length_prefix_is_no_lost_tree() {
    let (collector, server) = serve_without_store(manual_config());
    let frames = binary_frames();
    let mut probe = TcpStream::connect(server.addr).unwrap();
    probe.write_all(&[0, 0, 1]).unwrap();
    drop(probe);
    // Connected and gone without a byte: not counted at all.
    drop(TcpStream::connect(server.addr).unwrap());
    let mut cut = TcpStream::connect(server.addr).unwrap();
    cut.write_all(&frames[0][..5]).unwrap();
    drop(cut);
    wait_for("both closes counted", || {
        let s = collector.stats();
        s.connections_total == 3 && s.connections_open == 0 && s.decode_errors_total() == 2
    });
    let errors = collector.stats().decode_errors;
    assert_eq!(
        errors.get("closed_in_length_prefix"),
        Some(&1),
        "{errors:?}"
    );
    assert_eq!(errors.get("closed_mid_frame"), Some(&1), "{errors:?}");
    assert!(ocelot_collector::HARMLESS_DECODE_REASONS.contains(&"closed_in_length_prefix"));
    assert!(!ocelot_collector::HARMLESS_DECODE_REASONS.contains(&"closed_mid_frame"));
    server.stop().shutdown();
}

/// The server closing a connection inside a frame (a shutdown here; a slot given to a
/// newcomer alike) loses the partial tree as surely as the client closing: counted too.
#[test]
fn a_connection_the_server_closes_inside_a_frame_counts_the_lost_tree() {
    let (collector, server) = serve_without_store(manual_config());
    let frames = binary_frames();
    let mut stream = TcpStream::connect(server.addr).unwrap();
    let mut bytes = frames[0].clone();
    bytes.extend_from_slice(&frames[1][..frames[1].len() / 2]);
    stream.write_all(&bytes).unwrap();
    wait_for("the whole tree", || collector.stats().trees_accepted == 1);
    std::thread::sleep(Duration::from_millis(100));
    let collector = server.stop();
    assert_eq!(collector.stats().connections_open, 0);
    assert_eq!(
        collector.stats().decode_errors.get("closed_mid_frame"),
        Some(&1)
    );
    drop(stream);
    collector.shutdown();
}

#[test]
fn a_message_id_naming_an_hour_past_the_next_is_analysed_but_not_stored() {
    use ocelot_protocol::{nt1, Header, Message, MessageTree, Transaction};
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let clock = Arc::new(ManualClock::new(NOW_MS));
    let collector = Collector::start(manual_config(), Some(store.clone()), clock);
    let frame = |id_hour: u64| {
        let mut t = Transaction::new("URL", "/home", NOW_MS);
        t.duration_us = 5_000;
        let header = Header {
            domain: "shop".into(),
            ip_address: "10.0.0.1".into(),
            message_id: format!("shop-0a000001-{id_hour}-1"),
            ..Header::default()
        };
        nt1::encode_to_bytes(&MessageTree::new(header, Message::Transaction(t)))
    };
    for id_hour in [HOUR, HOUR + 1, HOUR + 2, 99_999_999] {
        collector.ingest(frame(id_hour)).unwrap();
    }
    wait_for("four trees", || {
        block_on(collector.transaction_report("shop", HOUR)).is_some_and(|r| url_count(&r) == 4)
    });
    assert_eq!(collector.stats().no_message_id, 2);
    store.flush().unwrap();
    assert_eq!(store.stats().stored, 2);
    assert_eq!(store.hours().unwrap(), vec![HOUR, HOUR + 1]);
    collector.shutdown();
    store.shutdown();
}

#[test]
fn trees_without_a_usable_message_id_are_dropped_in_the_state_report() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let clock = Arc::new(ManualClock::new(NOW_MS));
    let collector = Collector::start(manual_config(), Some(store.clone()), clock);
    let mut tree = ocelot_protocol::MessageTree::new(
        ocelot_protocol::Header {
            domain: "shop".into(),
            message_id: "not-an-id".into(),
            ..Default::default()
        },
        ocelot_protocol::Message::Transaction(ocelot_protocol::Transaction::new(
            "URL", "/home", NOW_MS,
        )),
    );
    collector
        .ingest(ocelot_protocol::nt1::encode_to_bytes(&tree))
        .unwrap();
    tree.header.message_id = String::new();
    collector
        .ingest(ocelot_protocol::nt1::encode_to_bytes(&tree))
        .unwrap();
    assert_eq!(collector.stats().no_message_id, 2);
    // The State page lists every tree that is not stored, as /metrics does.
    let state = block_on(collector.state_report(HOUR)).unwrap();
    let view = state.view(&ViewQuery::default());
    assert_eq!(view.drops, 2);
    assert_eq!(view.minutes[0].drops["store"]["no_message_id"], 2);
    collector.shutdown();
    store.shutdown();
}

/// A disk that refuses every write to a data file (full, or read-only under us).
#[derive(Debug)]
struct FullDisk;

impl ocelot_store::FileLayer for FullDisk {
    fn write_all_at(
        &self,
        file: &std::fs::File,
        path: &std::path::Path,
        offset: u64,
        bytes: &[u8],
    ) -> std::io::Result<()> {
        if path.extension().is_some_and(|e| e == "dat") && offset > 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::StorageFull,
                "no space left on device",
            ));
        }
        ocelot_store::OsFiles.write_all_at(file, path, offset, bytes)
    }

    fn set_len(
        &self,
        file: &std::fs::File,
        path: &std::path::Path,
        len: u64,
    ) -> std::io::Result<()> {
        ocelot_store::OsFiles.set_len(file, path, len)
    }
}

#[test]
fn trees_the_store_fails_to_write_are_counted_as_dropped_in_the_state_report() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(StoreConfig {
        retention_days: 0,
        file_layer: Arc::new(FullDisk),
        ..StoreConfig::new(dir.path())
    })
    .unwrap();
    let clock = Arc::new(ManualClock::new(NOW_MS));
    let collector = Collector::start(manual_config(), Some(store.clone()), clock);
    for seq in 0..5 {
        collector.ingest(tree_of_domain("shop", seq)).unwrap();
    }
    store.flush().unwrap();
    wait_for("five failed writes", || {
        collector.stats().store_drops.get("io_error") == Some(&5)
    });
    assert_eq!(collector.stats().dropped_total(), 5);
    let state = block_on(collector.state_report(HOUR)).unwrap();
    let view = state.view(&ViewQuery::default());
    assert_eq!(view.drops, 5);
    collector.shutdown();
    store.shutdown();
}

/// More State samples than the State worker's control queue holds (256).
const MORE_SAMPLES_THAN_ITS_QUEUE_HOLDS: usize = 1_000;

#[test]
fn a_state_sample_the_full_state_queue_refused_is_carried_into_the_next() {
    let collector = Collector::start(
        CollectorConfig {
            // A sample at every tick, with the clock standing still.
            state_interval: Duration::ZERO,
            ..manual_config()
        },
        None,
        Arc::new(ManualClock::new(NOW_MS)),
    );
    collector.with_workers_held_for_tests(|| {
        // The held State worker's queue fills with samples of nothing...
        for _ in 0..MORE_SAMPLES_THAN_ITS_QUEUE_HOLDS {
            collector.tick();
        }
        // ...so the sample of these figures is refused.
        let two_hours_ago = NOW_MS - 2 * 3_600_000;
        collector.ingest(tree_at("shop", 1, two_hours_ago)).unwrap();
        let bad_magic = bytes::Bytes::from_static(b"\0\0\0\x04XXXX");
        assert!(collector.ingest(bad_magic).is_err());
        collector.tick();
    });
    // Returns once every worker took the checkpoint queued behind what it held: the State
    // worker's queue is empty again.
    collector.checkpoint_now();
    for read in ["first", "second"] {
        let state = block_on(collector.state_report(HOUR)).unwrap();
        let view = state.view(&ViewQuery::default());
        assert_eq!(
            (view.out_of_window, view.decode_errors),
            (1, 1),
            "{read} read of the State report"
        );
    }
    collector.shutdown();
}

#[test]
fn a_checkpoint_that_fails_to_write_does_not_count_as_the_last_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let clock = Arc::new(ManualClock::new(NOW_MS));
    let collector = Collector::start(manual_config(), Some(store.clone()), clock);
    collector.ingest(tree_of_domain("shop", 1)).unwrap();
    // A file where the domain's reports folder goes: every report write fails.
    let domain_dir = dir.path().join(HOUR.to_string()).join("shop");
    std::fs::create_dir_all(&domain_dir).unwrap();
    std::fs::write(domain_dir.join("reports"), b"in the way").unwrap();
    collector.checkpoint_now();
    let stats = collector.stats();
    assert!(
        stats.workers.values().any(|w| w.report_write_errors > 0),
        "{stats:?}"
    );
    assert_eq!(
        stats.last_checkpoint_ms, 0,
        "the failed checkpoint is not the last one"
    );
    std::fs::remove_file(domain_dir.join("reports")).unwrap();
    collector.checkpoint_now();
    assert_eq!(collector.stats().last_checkpoint_ms, NOW_MS);
    collector.shutdown();
    store.shutdown();
}

#[test]
fn an_hour_whose_seal_fails_to_write_is_kept_and_written_at_the_next_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let (store, clock, collector) = started_at_now(dir.path());
    for seq in 1..=3 {
        collector.ingest(tree_of_domain("shop", seq)).unwrap();
    }
    // A file where the domain's reports folder goes: the seal's writes fail.
    let domain_dir = dir.path().join(HOUR.to_string()).join("shop");
    std::fs::create_dir_all(&domain_dir).unwrap();
    std::fs::write(domain_dir.join("reports"), b"in the way").unwrap();
    clock.set((HOUR + 1) * 3_600_000 + 3 * 60_000 + 500);
    collector.checkpoint_now();
    assert!(collector
        .stats()
        .workers
        .values()
        .any(|w| w.report_write_errors > 0));
    // The sealed hour still answers with what it counted, and takes no more trees.
    let live = block_on(collector.transaction_report("shop", HOUR)).unwrap();
    assert_eq!(all_count(&live), 3);
    // Once the disk takes writes again, the next checkpoint writes the sealed hour.
    std::fs::remove_file(domain_dir.join("reports")).unwrap();
    collector.checkpoint_now();
    let stored: ocelot_analyzer::TransactionReport = serde_json::from_slice(
        &store
            .read_report(HOUR, "shop", "transaction")
            .unwrap()
            .expect("the sealed hour's report is written once the disk takes it"),
    )
    .unwrap();
    assert_eq!(all_count(&stored), 3);
    collector.shutdown();
    store.shutdown();
}

/// `ocelot status` compares two scrapes a second apart, which miss drops that come in
/// bursts: the collector dates the last drop it saw, so a status run later still sees it.
#[test]
fn the_last_drop_is_dated_by_the_state_sample_that_first_sees_it() {
    let dir = tempfile::tempdir().unwrap();
    let (store, clock, collector) = started_at_now(dir.path());
    collector.ingest(tree_of_domain("shop", 1)).unwrap();
    clock.set(NOW_MS + 10_000);
    collector.tick();
    assert_eq!(collector.stats().last_drop_ms, 0, "nothing dropped yet");
    // A tree two hours old: out of the window, dropped.
    let two_hours_ago = NOW_MS - 2 * 3_600_000;
    collector.ingest(tree_at("shop", 2, two_hours_ago)).unwrap();
    let seen_at = NOW_MS + 20_000;
    clock.set(seen_at);
    collector.tick();
    assert_eq!(collector.stats().last_drop_ms, seen_at);
    // Later samples without a new drop keep its date.
    clock.set(NOW_MS + 30_000);
    collector.tick();
    assert_eq!(collector.stats().last_drop_ms, seen_at);
    collector.shutdown();
    store.shutdown();
}

/// A drop was dated only by the next State sample, up to 10 s later: `ocelot status` run
/// in between scraped no recent drop and no counter moving, and said "OK: nothing dropped".
/// A read of the counters (a `/metrics` scrape) dates it as well.
#[test]
fn a_drop_is_dated_by_the_first_stats_read_that_sees_it_before_any_sample() {
    let dir = tempfile::tempdir().unwrap();
    let (store, clock, collector) = started_at_now(dir.path());
    let two_hours_ago = NOW_MS - 2 * 3_600_000;
    collector.ingest(tree_at("shop", 2, two_hours_ago)).unwrap();
    let read_at = NOW_MS + 3_000;
    clock.set(read_at);
    assert_eq!(collector.stats().last_drop_ms, read_at, "no sample yet");
    // Neither a later read nor the next sample dates it again.
    clock.set(NOW_MS + 10_000);
    assert_eq!(collector.stats().last_drop_ms, read_at);
    collector.tick();
    assert_eq!(collector.stats().last_drop_ms, read_at);
    collector.shutdown();
    store.shutdown();
}

/// A tree sent twice is refused by the store as a duplicate, which loses nothing (the first
/// is stored): it must not make `ocelot status` report recent drops.
#[test]
fn a_duplicate_is_not_dated_as_a_drop() {
    let dir = tempfile::tempdir().unwrap();
    let (store, clock, collector) = started_at_now(dir.path());
    collector.ingest(tree_of_domain("shop", 1)).unwrap();
    collector.ingest(tree_of_domain("shop", 1)).unwrap();
    wait_for("the store to refuse the duplicate", || {
        collector.stats().store_drops.get("duplicate") == Some(&1)
    });
    clock.set(NOW_MS + 10_000);
    collector.tick();
    let stats = collector.stats();
    assert_eq!((stats.trees_lost(), stats.last_drop_ms), (0, 0));
    collector.shutdown();
    store.shutdown();
}

/// A stop on a full disk loses reports, and the operator must learn which: a sealed hour
/// kept because its seal failed to write is lost whole (no restart picks it up again), the
/// open hour since its last checkpoint. The stop used to say only how many writes failed.
#[test]
fn shutdown_names_the_sealed_and_open_hours_whose_reports_it_could_not_write() {
    let dir = tempfile::tempdir().unwrap();
    let (store, clock, collector) = started_at_now(dir.path());
    collector.ingest(tree_of_domain("shop", 1)).unwrap();
    collector.ingest(tree_of_domain("cart", 1)).unwrap();
    // A file where `shop`'s reports folder goes, in this hour and the next: its writes fail.
    for h in [HOUR, HOUR + 1] {
        let domain_dir = dir.path().join(h.to_string()).join("shop");
        std::fs::create_dir_all(&domain_dir).unwrap();
        std::fs::write(domain_dir.join("reports"), b"in the way").unwrap();
    }
    // The hour is sealed (its seal fails for `shop`, which is kept), and the next one open.
    let next_hour_ms = (HOUR + 1) * 3_600_000;
    clock.set(next_hour_ms + 3 * 60_000 + 500);
    collector.checkpoint_now();
    for domain in ["shop", "cart"] {
        collector
            .ingest(tree_at(domain, 2, next_hour_ms + 60_000))
            .unwrap();
    }
    let unwritten = collector.shutdown();
    let lost: Vec<(u64, &str, bool)> = unwritten
        .iter()
        .map(|u| (u.hour, u.domain.as_str(), u.sealed))
        .collect();
    assert_eq!(lost, [(HOUR, "shop", true), (HOUR + 1, "shop", false)]);
    // With why: the warnings about the failures may have been held back for minutes.
    for u in &unwritten {
        let reports = dir
            .path()
            .join(u.hour.to_string())
            .join("shop")
            .join("reports");
        assert!(
            u.error.contains(&reports.display().to_string()),
            "{}",
            u.error
        );
    }
    // `cart` was written: nothing of it is named.
    assert!(store
        .read_report(HOUR + 1, "cart", "transaction")
        .unwrap()
        .is_some());
    assert!(collector.shutdown().is_empty(), "said once");
    store.shutdown();
}

/// A disk that stays full does not keep every sealed hour in memory: past
/// `MAX_UNWRITTEN_SEALED_HOURS` the oldest is given up, counted.
#[test]
fn sealed_hours_that_never_get_written_are_given_up_past_a_few_counted() {
    let dir = tempfile::tempdir().unwrap();
    let (store, clock, collector) = started_at_now(dir.path());
    let hours = ocelot_collector::MAX_UNWRITTEN_SEALED_HOURS as u64 + 2;
    for h in HOUR..HOUR + hours {
        // A file where the domain's reports folder goes: every write of the hour fails.
        let domain_dir = dir.path().join(h.to_string()).join("shop");
        std::fs::create_dir_all(&domain_dir).unwrap();
        std::fs::write(domain_dir.join("reports"), b"in the way").unwrap();
        clock.set(h * 3_600_000 + 60_000);
        collector
            .ingest(tree_at("shop", h, h * 3_600_000 + 1_000))
            .unwrap();
        collector.checkpoint_now();
    }
    // Every hour before the last is sealed now, unwritten; the oldest two are given up.
    let abandoned = |c: &Collector| -> u64 {
        c.stats()
            .workers
            .values()
            .map(|w| w.sealed_hours_abandoned)
            .sum()
    };
    clock.set((HOUR + hours) * 3_600_000 + 3 * 60_000 + 500);
    collector.checkpoint_now();
    assert_eq!(abandoned(&collector), 2);
    assert!(block_on(collector.transaction_report("shop", HOUR)).is_none());
    assert!(block_on(collector.transaction_report("shop", HOUR + 1)).is_none());
    for h in HOUR + 2..HOUR + hours {
        let kept = block_on(collector.transaction_report("shop", h)).expect("kept");
        assert_eq!(all_count(&kept), 1, "hour {h}");
    }
    collector.shutdown();
    store.shutdown();
}

#[test]
fn a_report_asked_for_now_is_the_live_one_or_unanswered_never_an_old_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let collector = Collector::start(
        manual_config(),
        Some(store.clone()),
        Arc::new(ManualClock::new(NOW_MS)),
    );
    // The captures, checkpointed, then the same again (counted again; the store keeps the
    // first copy of each ID).
    for round in 0..2 {
        for frame in binary_frames() {
            let _ = collector.ingest(frame.into());
        }
        if round == 0 {
            collector.checkpoint_now();
        }
    }
    // A query may be answered before the trees queued ahead of it are counted.
    wait_for("the trees to be counted", || {
        collector.stats().queued_bytes == 0
    });
    let wait = Duration::from_secs(3);
    let live = block_on(collector.transaction_report_now("catgen", HOUR, wait))
        .unwrap()
        .unwrap();
    let everything = all_count(&live);
    // An analyzer busy for longer than the wait (a long checkpoint): `Unanswered`, counted,
    // where `transaction_report` gives the last checkpoint, which holds half the trees.
    collector.with_workers_held_for_tests(|| {
        let short = Duration::from_millis(200);
        assert_eq!(
            block_on(collector.transaction_report_now("catgen", HOUR, short)),
            Err(ocelot_collector::Unanswered)
        );
        assert_eq!(collector.stats().report_queries_unanswered, 1);
        let fallback = block_on(collector.transaction_report("catgen", HOUR)).unwrap();
        assert_eq!(
            2 * all_count(&fallback),
            everything,
            "the checkpoint is older"
        );
        assert_eq!(collector.stats().report_queries_unanswered, 2);
    });
    // Once it answers again, the live report.
    let live = block_on(collector.transaction_report_now("catgen", HOUR, wait)).unwrap();
    assert_eq!(live.map(|r| all_count(&r)), Some(everything));
    // A domain the analyzer does not hold, and an hour no analyzer holds: the store's.
    assert_eq!(
        block_on(collector.transaction_report_now("nobody", HOUR, wait)),
        Ok(None)
    );
    collector.shutdown();
    store.shutdown();
}

/// Transactions of every type counted in a report.
fn all_count(report: &ocelot_analyzer::TransactionReport) -> u64 {
    let view = report.view(&ViewQuery {
        elapsed_seconds: 3600.0,
        ..ViewQuery::default()
    });
    view.types.iter().map(|t| t.figures.count).sum()
}

/// Frames real clients send that hold no tree are skipped, counted, and the connection
/// kept: the Java 4.0 client interleaves `NM1` metric bags with its `NT1` trees on one
/// connection, and the Java 3.x codec writes a header-only `NT1` frame for a tree without
/// a message. Closing the connection lost every frame queued behind them.
#[test]
fn metric_bags_and_header_only_frames_are_skipped_without_closing_the_connection() {
    let (collector, server) = serve_without_store(manual_config());
    let frames = binary_frames();
    fn varint(mut n: u64, out: &mut Vec<u8>) {
        loop {
            let b = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(b);
                return;
            }
            out.push(b | 0x80);
        }
    }
    fn string(s: &str, out: &mut Vec<u8>) {
        varint(s.len() as u64, out);
        out.extend_from_slice(s.as_bytes());
    }
    fn framed(body: Vec<u8>) -> Vec<u8> {
        let mut f = (body.len() as u32).to_be_bytes().to_vec();
        f.extend(body);
        f
    }
    // An NM1 metric bag (cat-design 3.8): one COUNT of order.count.
    let mut nm1 = b"NM1".to_vec();
    for s in ["catgen", "vm", "192.0.2.2"] {
        string(s, &mut nm1);
    }
    varint(1, &mut nm1);
    varint(NOW_MS, &mut nm1);
    string("order.count", &mut nm1);
    string("COUNT", &mut nm1);
    varint(1, &mut nm1);
    varint(0, &mut nm1);
    varint(0, &mut nm1);
    // A header-only NT1 frame (Java's `NativeMessageCodec.encode` when getMessage() is null).
    let mut header_only = b"NT1".to_vec();
    for s in [
        "catgen",
        "vm",
        "192.0.2.2",
        "main",
        "1",
        "main",
        "catgen-c0000202-498703-1",
        "",
        "",
        "",
    ] {
        string(s, &mut header_only);
    }

    let mut conn = TcpStream::connect(server.addr).unwrap();
    let mut write = framed(nm1);
    write.extend_from_slice(&frames[0]);
    write.extend(framed(header_only));
    write.extend_from_slice(&frames[1]);
    conn.write_all(&write).unwrap();
    conn.flush().unwrap();
    wait_for("both trees", || collector.stats().trees_accepted == 2);
    let skipped = collector.stats().decode_errors;
    assert_eq!(skipped.get("metric_bag"), Some(&1), "{skipped:?}");
    assert_eq!(skipped.get("empty"), Some(&1), "{skipped:?}");
    // The connection stays usable.
    conn.write_all(&frames[2]).unwrap();
    wait_for("a third tree on the same connection", || {
        collector.stats().trees_accepted == 3
    });
    server.stop().shutdown();
}

/// CAT's server takes a frame of any size; ours caps them (`max_frame_bytes`). A real
/// client's tree over the cap (2000 messages with large data) is dropped and counted, and
/// the trees behind it on the same connection still count: closing the connection lost
/// every tree the client had in flight.
#[test]
fn a_tree_over_the_frame_cap_is_dropped_and_the_trees_behind_it_still_count() {
    let frames = binary_frames();
    // The S06 capture (16-32 KiB of data) is over this cap; the others are under it.
    let cap = 8 * 1024;
    let big = frames
        .iter()
        .find(|f| f.len() > cap + 4)
        .expect("a capture over the cap")
        .clone();
    let small: Vec<&Vec<u8>> = frames.iter().filter(|f| f.len() <= cap + 4).collect();
    let (collector, server) = serve_without_store(CollectorConfig {
        max_frame_bytes: cap,
        ..manual_config()
    });
    let mut conn = TcpStream::connect(server.addr).unwrap();
    let mut write = small[0].clone();
    write.extend_from_slice(&big);
    write.extend_from_slice(small[1]);
    // In pieces, so the skip spans reads.
    for piece in write.chunks(1000) {
        conn.write_all(piece).unwrap();
        conn.flush().unwrap();
    }
    wait_for("both trees around the big one", || {
        collector.stats().trees_accepted == 2
    });
    assert_eq!(collector.stats().decode_errors["frame_too_long"], 1);
    // Received all the same: the frame and its bytes count, as "good or bad" says (they
    // were left out, so frame_too_long of 20 MiB frames showed neither).
    let stats = collector.stats();
    assert_eq!((stats.frames, stats.bytes), (3, write.len() as u64));
    // The connection stays usable.
    conn.write_all(small[2]).unwrap();
    wait_for("a third tree on the same connection", || {
        collector.stats().trees_accepted == 3
    });
    assert_eq!(collector.stats().decode_errors_total(), 1);
    let stats = collector.stats();
    assert_eq!(
        (stats.frames, stats.bytes),
        (4, (write.len() + small[2].len()) as u64)
    );
    server.stop().shutdown();
}

/// A URL tree of `domain` stamped `ts_ms`, its message ID in the hour of `ts_ms`.
fn tree_at(domain: &str, seq: u64, ts_ms: u64) -> bytes::Bytes {
    use ocelot_protocol::{nt1, Header, Message, MessageTree, Transaction};
    let mut t = Transaction::new("URL", "/home", ts_ms);
    t.duration_us = 5_000;
    let header = Header {
        domain: domain.into(),
        ip_address: "10.0.0.1".into(),
        message_id: format!("{domain}-0a000001-{}-{seq}", ts_ms / 3_600_000),
        ..Header::default()
    };
    nt1::encode_to_bytes(&MessageTree::new(header, Message::Transaction(t)))
}

#[test]
fn a_restart_at_minute_58_keeps_the_next_hours_checkpointed_early_trees() {
    let dir = tempfile::tempdir().unwrap();
    let next = HOUR + 1;
    let at_58 = HOUR * 3_600_000 + 58 * 60_000;
    let early_ts = next * 3_600_000 + 30_000; // a client clock 2.5 minutes ahead
    let count = |collector: &Collector| {
        block_on(collector.transaction_report("early", next))
            .map(|r| url_count(&r))
            .unwrap_or(0)
    };
    {
        let store = open_store(dir.path());
        let clock = Arc::new(ManualClock::new(at_58));
        let collector = Collector::start(manual_config(), Some(store.clone()), clock);
        for seq in 0..3 {
            collector.ingest(tree_at("early", seq, early_ts)).unwrap();
        }
        wait_for("three early URLs", || count(&collector) == 3);
        // Checkpointed: the next hour's reports are on disk.
        collector.checkpoint_now();
        assert!(store
            .read_report(next, "early", "transaction")
            .unwrap()
            .is_some());
        store.crash_for_tests();
    }
    // Back 30 s later, still at minute 58: the checkpoint must be continued, not replaced.
    let store = open_store(dir.path());
    let clock = Arc::new(ManualClock::new(at_58 + 30_000));
    let collector = Collector::start(manual_config(), Some(store.clone()), clock);
    collector.ingest(tree_at("early", 3, early_ts)).unwrap();
    collector.checkpoint_now();
    assert_eq!(
        count(&collector),
        4,
        "the three checkpointed early trees were lost by the restart"
    );
    collector.shutdown();
    store.shutdown();
}

/// Clients that connect and send nothing (idle clients of a big fleet, port scanners,
/// health checks), or trickle a byte now and then, used to hold every slot while a client
/// with trees waited in the listen backlog, uncounted. A newcomer now takes the slot of a
/// connection without a whole frame for 10 s, or is closed at once and counted when every
/// connection finished one (or connected) more recently.
#[test]
fn silent_connections_make_room_for_a_sending_client_and_busy_slots_refuse_one() {
    let (collector, server) = serve_without_store(CollectorConfig {
        max_connections: 2,
        ..manual_config()
    });
    let idle: Vec<TcpStream> = (0..2)
        .map(|_| TcpStream::connect(server.addr).unwrap())
        .collect();
    wait_for("the silent connections to be served", || {
        collector.stats().connections_open == 2
    });
    // Both spoke (connected) just now: the newcomer is closed, and counted.
    let mut refused = TcpStream::connect(server.addr).unwrap();
    refused
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut byte = [0u8; 1];
    assert!(matches!(refused.read(&mut byte), Ok(0) | Err(_)), "closed");
    assert_eq!(collector.stats().connections_refused, 1);
    // Ten seconds later they are silent, though both trickle a frame's first bytes, one
    // every two seconds (a slow-loris client): a sending client takes one's slot.
    let mut idle = idle;
    for step in 0..5 {
        std::thread::sleep(Duration::from_millis(2_100));
        for connection in &mut idle {
            connection.write_all(&[[0, 0, 1, 0, b'N'][step]]).unwrap();
        }
    }
    let mut client = TcpStream::connect(server.addr).unwrap();
    client.write_all(&binary_frames()[0]).unwrap();
    wait_for("the sending client's tree", || {
        collector.stats().trees_accepted == 1
    });
    assert_eq!(collector.stats().connections_evicted, 1);
    assert_eq!(collector.stats().connections_open, 2);
    // The evicted connection was inside a frame: that tree is lost, and counted.
    assert_eq!(
        collector.stats().decode_errors.get("closed_mid_frame"),
        Some(&1)
    );
    drop(idle);
    drop(server.stop());
}

/// Clients that start large frames and stall held up to `max_connections` x
/// `max_frame_bytes` (2.5 GB with 150 such connections in the review that found it). Past
/// `partial_frame_bytes` of frames still arriving, a connection inside a large one is closed
/// and counted; a client sending whole frames is not touched.
#[test]
fn frames_that_never_finish_cannot_hold_more_than_the_partial_frame_budget() {
    let (collector, server) = serve_without_store(CollectorConfig {
        partial_frame_bytes: 300 << 10,
        ..manual_config()
    });
    // Each declares a 1 MiB frame and sends 200 KiB of it.
    let stall = || {
        let mut stream = TcpStream::connect(server.addr).unwrap();
        stream.write_all(&(1u32 << 20).to_be_bytes()).unwrap();
        stream.write_all(b"NT1").unwrap();
        stream.write_all(&vec![0u8; 200 << 10]).unwrap();
        stream
    };
    let first = stall();
    wait_for("the first stalled frame held", || {
        collector.stats().connections_open == 1
    });
    std::thread::sleep(Duration::from_millis(200));
    let mut second = stall();
    second
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    // Together 400 KiB: the second pushes past the budget and is closed.
    let mut byte = [0u8; 1];
    assert!(matches!(second.read(&mut byte), Ok(0) | Err(_)), "closed");
    wait_for("the closed connection counted", || {
        collector.stats().decode_errors.get("over_memory_budget") == Some(&1)
    });
    // Whole frames still go through.
    let mut client = TcpStream::connect(server.addr).unwrap();
    client.write_all(&binary_frames()[0]).unwrap();
    wait_for("a whole tree", || collector.stats().trees_accepted == 1);
    drop(first);
    drop(server.stop());
}

/// A thousand machines sending names of their own: the hour's entry budget
/// (`max_entries_per_hour`, split between the analyzer threads) stops the reports from
/// growing, every transaction is still counted, and the collector says so once per thread
/// and report kind.
#[test]
fn an_hours_entry_budget_holds_with_every_tree_counted_and_is_reported_once() {
    use ocelot_protocol::{nt1, Header, Message, MessageTree, Transaction};
    let config = CollectorConfig {
        analyzer_threads: 2,
        analyzer: Arc::new(ocelot_analyzer::AnalyzerConfig {
            max_entries_per_hour: 200,
            ..ocelot_analyzer::AnalyzerConfig::default()
        }),
        ..manual_config()
    };
    let clock = Arc::new(ManualClock::new(NOW_MS));
    let collector = Collector::start(config, None, clock);
    let trees = 3_000u64;
    for seq in 0..trees {
        let mut t = Transaction::new("URL", format!("/order/{seq}x"), NOW_MS - 60_000);
        t.duration_us = 5_000;
        let header = Header {
            domain: "shop".into(),
            ip_address: format!("10.0.{}.{}", seq / 250, seq % 250),
            message_id: format!("shop-0a000001-{HOUR}-{seq}"),
            ..Header::default()
        };
        let frame = nt1::encode_to_bytes(&MessageTree::new(header, Message::Transaction(t)));
        collector.ingest(frame).unwrap();
    }
    collector.checkpoint_now();
    let report = block_on(collector.transaction_report("shop", HOUR)).unwrap();
    assert_eq!(all_count(&report), trees);
    // The budget is 200, 100 on the thread that holds the domain: a machine, its type
    // and its name are three entries. Past it only the OTHERS machine is added.
    let machines = report.ips().count();
    assert!((30..=40).contains(&machines), "{machines} machines");
    assert!(report.ips().any(|ip| ip == "OTHERS"));
    // The Transaction, Event and Problem reports each spent their own budget (the last two
    // list every machine too), and the Matrix report its (every root is a URL request of a
    // name of its own): each counted once for the hour on that thread.
    assert_eq!(collector.stats().entry_budgets_spent, 4);
    collector.shutdown();
}

/// The State report of `hour` as stored: its view's trees and out-of-window count.
fn stored_state(store: &Store, hour: u64) -> Option<(u64, u64)> {
    let bytes = store
        .read_report(hour, ocelot_collector::STATE_DOMAIN, "state")
        .unwrap()?;
    let state: ocelot_analyzer::StateReport = serde_json::from_slice(&bytes).unwrap();
    let view = state.view(&ViewQuery::default());
    Some((view.trees, view.out_of_window))
}

/// An NTP step backwards used to hold off the periodic checkpoints (and State samples)
/// until the clock was past the last one again: a clock stepped back five minutes wrote
/// nothing for six, and a kill -9 then lost all of them, not one interval.
#[test]
fn checkpoints_go_on_every_interval_after_the_clock_steps_back() {
    let dir = tempfile::tempdir().unwrap();
    let stored = |store: &Store| {
        store
            .read_report(HOUR, "shop", "transaction")
            .unwrap()
            .map(|bytes| url_count(&serde_json::from_slice(&bytes).unwrap()))
    };
    let (store, clock, collector) = started_at_now(dir.path());
    collector.ingest(tree_of_domain("shop", 1)).unwrap();
    clock.set(NOW_MS + 60_000);
    collector.tick();
    wait_for("the periodic checkpoint", || stored(&store) == Some(1));
    // Stepped back five minutes; the clock thread goes on ticking every second.
    let stepped = NOW_MS + 60_000 - 5 * 60_000;
    clock.set(stepped);
    collector.tick();
    collector.ingest(tree_of_domain("shop", 2)).unwrap();
    for second in 1..=61 {
        clock.set(stepped + second * 1_000);
        collector.tick();
    }
    wait_for("a checkpoint a minute after the step", || {
        stored(&store) == Some(2)
    });
    collector.shutdown();
    store.shutdown();
}

/// The State worker filed a sample under the hour of its time even when that hour was
/// sealed: a clock stepped back into the sealed hour opened a new, empty State report for
/// it, which the next seal (or the shutdown) wrote over the sealed one.
#[test]
fn a_sealed_hours_state_report_survives_the_clock_stepping_back_into_it() {
    let dir = tempfile::tempdir().unwrap();
    let (store, clock, collector) = started_at_now(dir.path());
    for seq in 1..=3 {
        collector.ingest(tree_of_domain("shop", seq)).unwrap();
    }
    clock.set((HOUR + 1) * 3_600_000 + 3 * 60_000 + 500);
    collector.tick();
    collector.checkpoint_now();
    assert_eq!(stored_state(&store, HOUR), Some((3, 0)));
    // NTP steps the clock back five minutes, into the sealed hour.
    clock.set(HOUR * 3_600_000 + 58 * 60_000 + 500);
    let state = block_on(collector.state_report(HOUR)).unwrap();
    assert_eq!(state.view(&ViewQuery::default()).trees, 3);
    collector.tick();
    collector.shutdown();
    assert_eq!(stored_state(&store, HOUR), Some((3, 0)));
    store.shutdown();
}

/// The first State sample came `state_interval` after the start: a collector started at
/// 00:09:58 had none in 00:09, and alert replay read 00:10 as the partial minute of a
/// start, though the live alerts (evaluating from the minute after the start) had
/// evaluated it. A stop and a restart within one minute left no trace of the restart.
#[test]
fn the_minute_a_collector_starts_in_is_sampled_at_once_and_marked_as_a_start() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let at = |mm: u64, ss: u64| HOUR * 3_600_000 + mm * 60_000 + ss * 1_000;
    let clock = Arc::new(ManualClock::new(at(9, 58)));
    let collector = Collector::start(manual_config(), Some(store.clone()), clock.clone());
    assert_eq!(collector.started_ms(), at(9, 58));
    let state = block_on(collector.state_report(HOUR)).unwrap();
    assert_eq!(state.sampled_minutes().collect::<Vec<_>>(), [9]);
    assert_eq!(state.started_minutes().collect::<Vec<_>>(), [9]);
    // Stopped at 00:12:05 (its last sample), started again at 00:12:50.
    clock.set(at(12, 5));
    collector.shutdown();
    let clock = Arc::new(ManualClock::new(at(12, 50)));
    let again = Collector::start(manual_config(), Some(store.clone()), clock.clone());
    clock.set(at(13, 0));
    again.tick();
    again.shutdown();
    let bytes = store
        .read_report(HOUR, ocelot_collector::STATE_DOMAIN, "state")
        .unwrap()
        .unwrap();
    let state: ocelot_analyzer::StateReport = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(state.started_minutes().collect::<Vec<_>>(), [9, 12]);
    assert_eq!(state.sampled_minutes().collect::<Vec<_>>(), [9, 12, 13]);
    store.shutdown();
}

/// A Ctrl-C wrote the State report without the figures since its last sample (up to
/// `state_interval`): trees out of the window, decode errors and drops of the last seconds.
#[test]
fn a_shutdown_writes_the_collectors_last_figures_into_the_state_report() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let clock = Arc::new(ManualClock::new(NOW_MS));
    let collector = Collector::start(manual_config(), Some(store.clone()), clock);
    collector.ingest(tree_of_domain("shop", 1)).unwrap();
    let long_ago = NOW_MS - 5 * 3_600_000;
    collector.ingest(tree_at("shop", 2, long_ago)).unwrap();
    assert_eq!(collector.stats().out_of_window, 1);
    collector.shutdown();
    assert_eq!(stored_state(&store, HOUR), Some((1, 1)));
    store.shutdown();
}

/// A sealed report that cannot be read back (an I/O error) is not written over with the
/// few trees that came after the clock went back: those are dropped, counted, until it can
/// be read, and then the hour goes on from all of it.
#[test]
fn a_sealed_report_that_cannot_be_read_back_is_not_written_over() {
    let dir = tempfile::tempdir().unwrap();
    let (store, clock, collector) = started_at_now(dir.path());
    for seq in 1..=3 {
        collector.ingest(tree_of_domain("shop", seq)).unwrap();
    }
    clock.set(NOW_MS + 2 * 3_600_000);
    collector.tick();
    collector.checkpoint_now();
    let file = dir
        .path()
        .join(HOUR.to_string())
        .join("shop/reports/transaction.report");
    let sealed = std::fs::read(&file).unwrap();
    // A directory in the file's place: reading it fails, as a failing disk would.
    std::fs::remove_file(&file).unwrap();
    std::fs::create_dir(&file).unwrap();
    clock.set(NOW_MS + 2 * 60_000);
    collector
        .ingest(tree_at("shop", 4, NOW_MS + 2 * 60_000))
        .unwrap();
    collector.checkpoint_now();
    assert_eq!(collector.stats().dropped_total(), 1);
    std::fs::remove_dir(&file).unwrap();
    std::fs::write(&file, &sealed).unwrap();
    collector
        .ingest(tree_at("shop", 5, NOW_MS + 2 * 60_000))
        .unwrap();
    collector.checkpoint_now();
    let report = block_on(collector.transaction_report("shop", HOUR)).unwrap();
    assert_eq!(url_count(&report), 4);
    let stored = store
        .read_report(HOUR, "shop", "transaction")
        .unwrap()
        .unwrap();
    let stored: ocelot_analyzer::TransactionReport = serde_json::from_slice(&stored).unwrap();
    assert_eq!(url_count(&stored), 4);
    collector.shutdown();
    store.shutdown();
}

/// A clock set hours ahead and corrected again (a wrong date, a VM restored from a
/// snapshot) seals the current hour while it is ahead. Once corrected, the rest of the hour
/// goes on from the sealed reports, as a restart would have: before, every tree of it was
/// accepted by the window and then dropped as `hour_sealed` by every worker.
#[test]
fn an_hour_sealed_while_the_clock_was_ahead_goes_on_once_it_is_corrected() {
    let dir = tempfile::tempdir().unwrap();
    let (store, clock, collector) = started_at_now(dir.path());
    for seq in 1..=2 {
        collector.ingest(tree_of_domain("shop", seq)).unwrap();
    }
    collector.ingest(tree_of_domain("pay", 10)).unwrap();
    clock.set(NOW_MS + 2 * 3_600_000);
    collector.tick();
    collector.checkpoint_now();
    clock.set(NOW_MS + 2 * 60_000);
    for seq in 3..=5 {
        let ts = NOW_MS + 2 * 60_000;
        collector.ingest(tree_at("shop", seq, ts)).unwrap();
    }
    collector
        .ingest(tree_at("pay", 11, NOW_MS + 2 * 60_000))
        .unwrap();
    collector.checkpoint_now();
    assert_eq!(collector.stats().dropped_total(), 0);
    let report = block_on(collector.transaction_report("shop", HOUR)).unwrap();
    assert_eq!(url_count(&report), 5);
    let report = block_on(collector.transaction_report("pay", HOUR)).unwrap();
    assert_eq!(url_count(&report), 2);
    // The hour is sealed again when it ends, with everything it had.
    clock.set((HOUR + 1) * 3_600_000 + 4 * 60_000);
    collector.tick();
    collector.checkpoint_now();
    let stored = |domain: &str| {
        let bytes = store
            .read_report(HOUR, domain, "transaction")
            .unwrap()
            .unwrap();
        url_count(&serde_json::from_slice(&bytes).unwrap())
    };
    assert_eq!((stored("shop"), stored("pay")), (5, 2));
    assert_eq!(stored_state(&store, HOUR), Some((7, 0)));
    collector.shutdown();
    store.shutdown();
}

/// The stored Transaction report of `domain` in [`HOUR`]: its URL count.
fn stored_url_count(store: &Store, domain: &str) -> Option<u64> {
    let bytes = store.read_report(HOUR, domain, "transaction").unwrap()?;
    Some(url_count(&serde_json::from_slice(&bytes).unwrap()))
}

/// A clock more than two hours ahead (a bad NTP source for the collector and the clients
/// alike) seals the hour and lets the collector forget where its domains were placed. Once
/// corrected, a domain of the sealed hour may land on an analyzer thread that never held
/// that hour: that thread must still go on from the domain's sealed reports, not replace
/// them with the few trees it counts.
#[test]
fn a_domain_moved_to_another_thread_in_a_reopened_hour_keeps_its_sealed_reports() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let clock = Arc::new(ManualClock::new(NOW_MS));
    let collector = Collector::start(two_analyzer_threads(), Some(store.clone()), clock.clone());
    for seq in 1..=2 {
        collector.ingest(tree_of_domain("shop", seq)).unwrap();
    }
    // Three hours ahead, and a client as far ahead: the hour is sealed, and its placements
    // are forgotten.
    let ahead_ms = NOW_MS + 3 * 3_600_000;
    clock.set(ahead_ms);
    collector.tick();
    collector.checkpoint_now();
    collector.ingest(tree_at("ahead", 1, ahead_ms)).unwrap();
    collector.checkpoint_now();
    assert_eq!(stored_url_count(&store, "shop"), Some(2));
    // Corrected: another domain comes first and takes the thread that held `shop`.
    let back_ms = NOW_MS + 2 * 60_000;
    clock.set(back_ms);
    collector.tick();
    collector.ingest(tree_at("cart", 1, back_ms)).unwrap();
    collector.ingest(tree_at("shop", 3, back_ms)).unwrap();
    collector.checkpoint_now();
    assert_eq!(collector.stats().dropped_total(), 0);
    let report = block_on(collector.transaction_report("shop", HOUR)).unwrap();
    assert_eq!(url_count(&report), 3, "live");
    assert_eq!(stored_url_count(&store, "shop"), Some(3), "checkpointed");
    collector.shutdown();
    store.shutdown();
}

/// A restart while the clock is ahead, then the clock corrected back into the hour sealed
/// while it was ahead: the new process never sealed that hour itself, but its first tree
/// must still go on from the sealed reports rather than write over them.
#[test]
fn an_hour_sealed_before_a_restart_while_the_clock_was_ahead_keeps_its_reports_once_corrected() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (store, clock, collector) = started_at_now(dir.path());
        for seq in 1..=2 {
            collector.ingest(tree_of_domain("shop", seq)).unwrap();
        }
        clock.set(NOW_MS + 2 * 3_600_000);
        collector.tick();
        collector.checkpoint_now();
        collector.shutdown();
        store.shutdown();
    }
    let store = open_store(dir.path());
    assert_eq!(stored_url_count(&store, "shop"), Some(2));
    let clock = Arc::new(ManualClock::new(NOW_MS + 2 * 3_600_000 + 60_000));
    let collector = Collector::start(manual_config(), Some(store.clone()), clock.clone());
    collector.tick();
    collector.checkpoint_now();
    let back_ms = NOW_MS + 2 * 60_000;
    clock.set(back_ms);
    collector.tick();
    collector.ingest(tree_at("shop", 3, back_ms)).unwrap();
    collector.checkpoint_now();
    assert_eq!(collector.stats().dropped_total(), 0);
    let report = block_on(collector.transaction_report("shop", HOUR)).unwrap();
    assert_eq!(url_count(&report), 3, "live");
    assert_eq!(stored_url_count(&store, "shop"), Some(3), "checkpointed");
    assert_eq!(stored_state(&store, HOUR).map(|(trees, _)| trees), Some(3));
    collector.shutdown();
    store.shutdown();
}

/// A 16 MiB frame of a million tiny events (a message takes as few as 6 bytes on the
/// wire) was decoded on its analyzer thread into about 20 times its size, which the queue
/// budget (`worker_queue_bytes`, frame bytes) never saw. A tree over
/// `MAX_MESSAGES_PER_TREE` is dropped and counted; a tree at the cap is taken.
#[test]
fn a_tree_of_more_messages_than_the_cap_is_dropped_and_counted() {
    use ocelot_collector::MAX_MESSAGES_PER_TREE;
    use ocelot_protocol::{nt1, Header, Leaf, Message, MessageTree, Transaction};

    let collector = Collector::start(manual_config(), None, Arc::new(ManualClock::new(NOW_MS)));
    // The root and `events` events below it.
    let frame = |events: usize| {
        let header = Header {
            domain: "shop".into(),
            ..Header::default()
        };
        let mut root = Transaction::new("URL", "/bulk", NOW_MS);
        root.children = vec![Message::Event(Leaf::new("E", "e", "0", NOW_MS, "")); events];
        nt1::encode_to_bytes(&MessageTree::new(header, Message::Transaction(root)))
    };
    collector.ingest(frame(MAX_MESSAGES_PER_TREE)).unwrap();
    let stats = collector.stats();
    assert_eq!(stats.decode_errors.get("too_many_messages"), Some(&1));
    assert_eq!(stats.trees_accepted, 0);
    collector.ingest(frame(MAX_MESSAGES_PER_TREE - 1)).unwrap();
    let stats = collector.stats();
    assert_eq!(stats.trees_accepted, 1, "a tree at the cap is taken");
    assert_eq!(stats.decode_errors_total(), 1);
    collector.shutdown();
}
