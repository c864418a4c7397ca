//! The web server's connections over a real socket: a client that never finishes its
//! request, or never reads its answer, is disconnected, kept-alive connections still serve
//! several requests, no more connections than the cap are served at once, and the answers
//! being sent hold no more than their budget.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use ocelot_web::{router, serve_counted, AppState, MemoryLookup, ServeLimits, ServeStats};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Short, so the tests that wait for it finish quickly.
const TEST_HEADER_READ_TIMEOUT: Duration = Duration::from_millis(300);

/// Only a bound on a broken server: reads that should end do so well before it.
const GIVE_UP: Duration = Duration::from_secs(10);

/// A keep-alive request for a small JSON 404 (unknown API paths answer with a length).
const KEEP_ALIVE_REQUEST: &[u8] = b"GET /api/nothing HTTP/1.1\r\nHost: x\r\n\r\n";

struct Server {
    addr: SocketAddr,
    stats: Arc<ServeStats>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Server {
    async fn start(limits: ServeLimits) -> Server {
        Server::start_app(router(AppState::new(Arc::new(MemoryLookup::new()))), limits).await
    }

    async fn start_app(app: Router, limits: ServeLimits) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let stats = Arc::new(ServeStats::default());
        let task = tokio::spawn(serve_counted(listener, app, limits, stats.clone(), async {
            stopped.await.ok();
        }));
        Server {
            addr,
            stats,
            stop,
            task,
        }
    }

    async fn stop(self) {
        self.stop.send(()).unwrap();
        tokio::time::timeout(GIVE_UP, self.task)
            .await
            .expect("the server stops")
            .unwrap()
            .unwrap();
    }
}

fn limits(max_connections: usize) -> ServeLimits {
    ServeLimits {
        header_read_timeout: TEST_HEADER_READ_TIMEOUT,
        max_connections,
        ..ServeLimits::default()
    }
}

/// Reads one response (headers and a `Content-Length` body) off `stream`.
async fn read_response(stream: &mut TcpStream) -> String {
    let mut bytes = Vec::new();
    let read = async {
        loop {
            let mut chunk = [0; 1024];
            let n = stream.read(&mut chunk).await.unwrap();
            assert!(n > 0, "closed mid-response: {bytes:?}");
            bytes.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&bytes);
            let Some((head, body)) = text.split_once("\r\n\r\n") else {
                continue;
            };
            let length: usize = (head.lines())
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse().unwrap())
                })
                .expect("a Content-Length");
            if body.len() >= length {
                return text.into_owned();
            }
        }
    };
    tokio::time::timeout(GIVE_UP, read)
        .await
        .expect("a whole response")
}

/// Reads until the server closes the connection; what it sent before.
async fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut rest = Vec::new();
    tokio::time::timeout(GIVE_UP, stream.read_to_end(&mut rest))
        .await
        .expect("the server closes the connection")
        .unwrap();
    rest
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_disconnected() {
    let server = Server::start(limits(16)).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    // The blank line that ends the headers never comes.
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();

    let answer = read_until_closed(&mut stream).await;
    assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer));
    server.stop().await;
}

#[tokio::test]
async fn a_client_that_sends_nothing_is_disconnected() {
    let server = Server::start(limits(16)).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();

    assert!(read_until_closed(&mut stream).await.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn a_kept_alive_connection_serves_several_requests_then_closes_when_idle() {
    let server = Server::start(limits(16)).await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    for _ in 0..3 {
        stream.write_all(KEEP_ALIVE_REQUEST).await.unwrap();
        let response = read_response(&mut stream).await;
        assert!(response.starts_with("HTTP/1.1 404"), "{response}");
        assert!(
            response.ends_with(r#""code":"unknown_endpoint","message":"no such API endpoint"}"#),
            "{response}"
        );
    }

    assert!(read_until_closed(&mut stream).await.is_empty());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_cap_a_connection_waits_for_a_free_slot() {
    let server = Server::start(ServeLimits {
        // Long: the first client's slot must not free on its own during the test.
        header_read_timeout: Duration::from_secs(60),
        max_connections: 1,
        ..ServeLimits::default()
    })
    .await;
    let mut first = TcpStream::connect(server.addr).await.unwrap();
    first.write_all(KEEP_ALIVE_REQUEST).await.unwrap();
    read_response(&mut first).await;

    // The kernel takes the second connection into the listen backlog; we do not yet.
    let mut second = TcpStream::connect(server.addr).await.unwrap();
    second.write_all(KEEP_ALIVE_REQUEST).await.unwrap();
    // Round trips on the first connection give a server without the cap time to answer
    // the second one.
    for _ in 0..3 {
        first.write_all(KEEP_ALIVE_REQUEST).await.unwrap();
        read_response(&mut first).await;
    }
    let mut byte = [0; 1];
    let early = second.try_read(&mut byte);
    assert!(
        matches!(&early, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "the second connection was served while the first held the only slot: {early:?}"
    );

    drop(first);
    let response = read_response(&mut second).await;
    assert!(response.starts_with("HTTP/1.1 404"), "{response}");
    server.stop().await;
}

/// Connects a client that pipelines requests and never reads the answers, keeping its
/// socket open until [`GIVE_UP`] or until the returned task is aborted.
async fn connect_a_client_that_never_reads(addr: SocketAddr) -> JoinHandle<()> {
    let mut hog = TcpStream::connect(addr).await.unwrap();
    tokio::spawn(async move {
        let _ = hog.write_all(&KEEP_ALIVE_REQUEST.repeat(100_000)).await;
        tokio::time::sleep(GIVE_UP).await;
        drop(hog);
    })
}

/// A client that pipelines requests and never reads the answers: the header timeout never
/// runs (a request is always there), so only the connection's lifetime bound frees its
/// slot, and a stop does not wait on it past the drain time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_its_answers_loses_its_slot_at_the_lifetime_bound() {
    let server = Server::start(ServeLimits {
        max_connection_lifetime: Duration::from_millis(800),
        drain_timeout: Duration::from_millis(300),
        ..limits(1)
    })
    .await;
    let writer = connect_a_client_that_never_reads(server.addr).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut second = TcpStream::connect(server.addr).await.unwrap();
    second.write_all(KEEP_ALIVE_REQUEST).await.unwrap();
    let response = tokio::time::timeout(GIVE_UP, read_response(&mut second))
        .await
        .expect("served once the hog's lifetime is up");
    assert!(response.starts_with("HTTP/1.1 404"), "{response}");
    server.stop().await;
    writer.abort();
}

/// A stop while a client holds an answer unread: the stop ends at the drain time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_does_not_wait_on_a_client_that_never_reads() {
    let server = Server::start(ServeLimits {
        drain_timeout: Duration::from_millis(300),
        ..limits(4)
    })
    .await;
    let writer = connect_a_client_that_never_reads(server.addr).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = std::time::Instant::now();
    server.stop().await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    writer.abort();
}

/// Waits (a bounded poll) until `done` holds.
async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + GIVE_UP;
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A connection that was served while every slot was taken went unseen: the wait was
/// neither counted nor logged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_waiting_for_a_slot_is_counted() {
    let server = Server::start(ServeLimits {
        header_read_timeout: Duration::from_secs(60),
        ..limits(1)
    })
    .await;
    let mut first = TcpStream::connect(server.addr).await.unwrap();
    first.write_all(KEEP_ALIVE_REQUEST).await.unwrap();
    read_response(&mut first).await;
    assert_eq!(server.stats.snapshot().slots_full, 0);

    let mut second = TcpStream::connect(server.addr).await.unwrap();
    wait_for("the second connection counted as waiting", || {
        server.stats.snapshot().slots_full == 1
    })
    .await;
    drop(first);
    second.write_all(KEEP_ALIVE_REQUEST).await.unwrap();
    let response = read_response(&mut second).await;
    assert!(response.starts_with("HTTP/1.1 404"), "{response}");
    let stats = server.stats.snapshot();
    assert_eq!((stats.connections_total, stats.connections_open), (2, 1));
    server.stop().await;
}

/// A client that asks and never reads held its answer (megabytes for a busy board) until
/// the connection's lifetime bound, five minutes. It is now closed once its answer makes
/// no progress for the write timeout, counted, and its slot goes to the next client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_reads_nothing_is_closed_at_the_write_timeout() {
    let server = Server::start(ServeLimits {
        // Far longer than the test: only the write timeout can free the slot.
        max_connection_lifetime: Duration::from_secs(600),
        write_timeout: Duration::from_millis(200),
        drain_timeout: Duration::from_millis(300),
        ..limits(1)
    })
    .await;
    let writer = connect_a_client_that_never_reads(server.addr).await;
    wait_for("the hog closed at the write timeout", || {
        server.stats.snapshot().write_timeouts == 1
    })
    .await;
    let mut second = TcpStream::connect(server.addr).await.unwrap();
    second.write_all(KEEP_ALIVE_REQUEST).await.unwrap();
    let response = read_response(&mut second).await;
    assert!(response.starts_with("HTTP/1.1 404"), "{response}");
    server.stop().await;
    writer.abort();
}

/// The size of [`big_app`]'s answer: far more than the kernel buffers of a client that
/// reads nothing, so most of it stays with the server.
const BIG_ANSWER_BYTES: usize = 16 << 20;

/// An app whose `/big` answers [`BIG_ANSWER_BYTES`].
fn big_app() -> Router {
    Router::new().route("/big", get(|| async { "x".repeat(BIG_ANSWER_BYTES) }))
}

const BIG_REQUEST: &[u8] = b"GET /big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

/// Connects a client that asks for [`big_app`]'s `/big`, reads nothing, and takes little
/// into its own buffer; returns it once the server holds its whole answer.
async fn connect_a_client_holding_a_big_answer(server: &Server) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut hog = socket.connect(server.addr).await.unwrap();
    hog.write_all(BIG_REQUEST).await.unwrap();
    wait_for("the hog's answer held", || {
        server.stats.snapshot().answer_bytes_held == BIG_ANSWER_BYTES as u64
    })
    .await;
    hog
}

/// Each client that asked for a page and never read it held the page: 300 of them held
/// 2.8 GB. Past the budget for answers being sent, a large answer is now refused with 503
/// and `Retry-After`, counted; once the answers in flight are gone, it is served again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_answer_budget_a_large_answer_is_refused_until_the_budget_frees() {
    let server = Server::start_app(
        big_app(),
        ServeLimits {
            // One big answer fits, two do not.
            max_answer_bytes_in_flight: BIG_ANSWER_BYTES * 3 / 2,
            ..limits(16)
        },
    )
    .await;
    let hog = connect_a_client_holding_a_big_answer(&server).await;

    let mut refused = TcpStream::connect(server.addr).await.unwrap();
    refused.write_all(BIG_REQUEST).await.unwrap();
    let answer = String::from_utf8(read_until_closed(&mut refused).await).unwrap();
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("retry-after: 2\r\n"), "{answer}");
    assert_eq!(server.stats.snapshot().answers_refused, 1);

    // The hog goes: its answer's bytes, and their budget, with it.
    drop(hog);
    wait_for("the hog's answer freed", || {
        server.stats.snapshot().answer_bytes_held == 0
    })
    .await;
    let mut served = TcpStream::connect(server.addr).await.unwrap();
    served.write_all(BIG_REQUEST).await.unwrap();
    let answer = read_until_closed(&mut served).await;
    assert!(answer.starts_with(b"HTTP/1.1 200"));
    assert!(answer.len() > BIG_ANSWER_BYTES);
    assert_eq!(server.stats.snapshot().answers_refused, 1);
    server.stop().await;
}

/// Small answers (the router endpoint, API errors) still go while big ones are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_answers_go_while_the_answer_budget_is_spent() {
    let app = big_app().route("/small", get(|| async { "ok" }));
    let server = Server::start_app(
        app,
        ServeLimits {
            max_answer_bytes_in_flight: BIG_ANSWER_BYTES,
            ..limits(16)
        },
    )
    .await;
    let hog = connect_a_client_holding_a_big_answer(&server).await;
    let mut small = TcpStream::connect(server.addr).await.unwrap();
    small
        .write_all(b"GET /small HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let response = read_response(&mut small).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with("ok"), "{response}");
    drop(hog);
    server.stop().await;
}
