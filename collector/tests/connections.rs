//! The collector's connection handling over loopback: a connection stalled inside a frame
//! is closed and frees the partial-frame budget, and a newcomer finding every slot busy is
//! closed at once.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ocelot_collector::{Collector, CollectorConfig, ManualClock};
use ocelot_protocol::{nt1, Header, Message, MessageTree, Transaction};

/// Only a bound on a broken server: what should happen does so well before it.
const GIVE_UP: Duration = Duration::from_secs(10);

/// Short, so the tests that wait for it finish quickly.
const TEST_PARTIAL_FRAME_TIMEOUT: Duration = Duration::from_millis(200);

struct Server {
    addr: std::net::SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl Server {
    fn start(collector: Collector) -> Server {
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                addr_tx.send(listener.local_addr().unwrap()).unwrap();
                ocelot_collector::run(listener, collector, async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
            });
        });
        Server {
            addr: addr_rx.recv().unwrap(),
            stop,
            thread,
        }
    }

    fn stop(self) {
        let _ = self.stop.send(());
        self.thread.join().unwrap();
    }
}

/// A collector without a store, its clock at 0 (the trees of [`frame`] are in its hour).
fn serve(config: CollectorConfig) -> (Collector, Server) {
    let config = CollectorConfig {
        background_ticks: false,
        ..config
    };
    let collector = Collector::start(config, None, Arc::new(ManualClock::new(0)));
    let server = Server::start(collector.clone());
    (collector, server)
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + GIVE_UP;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A whole frame of one tree whose transaction carries `data_bytes` of data.
fn frame(data_bytes: usize) -> Vec<u8> {
    let header = Header {
        domain: "shop".into(),
        ..Header::default()
    };
    let mut root = Transaction::new("URL", "/home", 0);
    root.data = "x".repeat(data_bytes);
    let mut out = Vec::new();
    nt1::encode(
        &MessageTree::new(header, Message::Transaction(root)),
        &mut out,
    );
    out
}

/// Whether the server closed `stream` (a close, or a reset once we wrote), waiting at most
/// [`GIVE_UP`] from `since`.
fn closed_by_server(stream: &mut TcpStream, since: Instant) -> bool {
    let left = GIVE_UP.saturating_sub(since.elapsed());
    stream
        .set_read_timeout(Some(left.max(Duration::from_millis(1))))
        .unwrap();
    let mut byte = [0u8; 1];
    match stream.read(&mut byte) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

/// About 32 connections that started large frames and stalled held the partial-frame
/// budget for good; an honest client sending a large tree after them was closed
/// (`over_memory_budget`) and its trees lost. A stalled connection is now closed, counted
/// as `stalled`, and the budget it held goes to the honest client.
#[test]
fn a_connection_stalled_inside_a_frame_is_closed_and_its_budget_goes_to_the_next_client() {
    let (collector, server) = serve(CollectorConfig {
        partial_frame_bytes: 300 << 10,
        partial_frame_timeout: TEST_PARTIAL_FRAME_TIMEOUT,
        ..CollectorConfig::default()
    });
    // Declares a 1 MiB frame, sends 250 KiB of it, then nothing.
    let mut stalled = TcpStream::connect(server.addr).unwrap();
    stalled.write_all(&(1u32 << 20).to_be_bytes()).unwrap();
    stalled.write_all(b"NT1").unwrap();
    stalled.write_all(&vec![0u8; 250 << 10]).unwrap();

    assert!(
        closed_by_server(&mut stalled, Instant::now()),
        "the stalled connection is closed"
    );
    wait_for("the stalled connection counted", || {
        collector.stats().decode_errors.get("stalled") == Some(&1)
    });
    // 200 KiB more held: together past the budget, had the stalled one kept its share.
    let large = frame(200 << 10);
    let mut honest = TcpStream::connect(server.addr).unwrap();
    let (start, end) = large.split_at(large.len() - 10);
    honest.write_all(start).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    honest.write_all(end).unwrap();
    honest.write_all(&frame(10)).unwrap();
    wait_for("the honest client's trees", || {
        collector.stats().trees_accepted == 2
    });
    assert_eq!(
        collector.stats().decode_errors.get("over_memory_budget"),
        None
    );
    drop(honest);
    server.stop();
}

/// A client that sent a large frame's start and then a byte now and then held its memory
/// as long as one that sent nothing more: inside a frame, a connection must finish one or
/// bring 64 KiB within the timeout.
#[test]
fn a_connection_trickling_bytes_inside_a_frame_is_closed_as_stalled() {
    let (collector, server) = serve(CollectorConfig {
        partial_frame_timeout: TEST_PARTIAL_FRAME_TIMEOUT,
        ..CollectorConfig::default()
    });
    let mut trickling = TcpStream::connect(server.addr).unwrap();
    trickling.write_all(&(1u32 << 20).to_be_bytes()).unwrap();
    trickling.write_all(b"NT1").unwrap();
    let deadline = Instant::now() + GIVE_UP;
    // A byte every 20 ms: far more often than the timeout, far less than 64 KiB.
    while !collector.stats().decode_errors.contains_key("stalled") {
        assert!(
            Instant::now() < deadline,
            "the trickling connection is closed"
        );
        if trickling.write_all(b"x").is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    wait_for("the trickling connection counted", || {
        collector.stats().decode_errors.get("stalled") == Some(&1)
    });
    assert_eq!(collector.stats().connections_open, 0);
    server.stop();
}

/// A connection that sends whole frames, however slowly, is never closed as stalled.
#[test]
fn a_connection_idle_between_frames_is_not_closed_as_stalled() {
    let (collector, server) = serve(CollectorConfig {
        partial_frame_timeout: TEST_PARTIAL_FRAME_TIMEOUT,
        ..CollectorConfig::default()
    });
    let mut client = TcpStream::connect(server.addr).unwrap();
    client.write_all(&frame(10)).unwrap();
    wait_for("the first tree", || collector.stats().trees_accepted == 1);
    // Three timeouts with nothing in flight.
    std::thread::sleep(TEST_PARTIAL_FRAME_TIMEOUT * 3);
    client.write_all(&frame(10)).unwrap();
    wait_for("the second tree", || collector.stats().trees_accepted == 2);
    assert_eq!(collector.stats().decode_errors_total(), 0);
    assert_eq!(collector.stats().connections_open, 1);
    drop(client);
    server.stop();
}

/// With every slot busy and no connection silent long enough to make room, the accept loop
/// waited a second for each newcomer before closing it: the twentieth waited twenty
/// seconds, "connected", its trees lost. Each is now closed at once, and counted.
#[test]
fn newcomers_finding_every_slot_busy_are_all_closed_at_once() {
    const NEWCOMERS: usize = 30;
    let (collector, server) = serve(CollectorConfig {
        max_connections: 1,
        ..CollectorConfig::default()
    });
    // Just connected, so not silent for the next 10 s: no room is made for anyone.
    let mut busy = TcpStream::connect(server.addr).unwrap();
    busy.write_all(&frame(10)).unwrap();
    wait_for("the busy connection's tree", || {
        collector.stats().trees_accepted == 1
    });
    let started = Instant::now();
    let mut newcomers: Vec<TcpStream> = (0..NEWCOMERS)
        .map(|_| TcpStream::connect(server.addr).unwrap())
        .collect();
    // Each would wait a second in turn: all thirty in ten seconds only if refused at once.
    for newcomer in &mut newcomers {
        let _ = newcomer.write_all(&frame(10));
        assert!(
            closed_by_server(newcomer, started),
            "a newcomer is closed at once"
        );
    }
    wait_for("every newcomer counted", || {
        collector.stats().connections_refused == NEWCOMERS as u64
    });
    // The busy connection keeps its slot and is still served.
    busy.write_all(&frame(10)).unwrap();
    wait_for("the busy connection's second tree", || {
        collector.stats().trees_accepted == 2
    });
    drop(busy);
    server.stop();
}
