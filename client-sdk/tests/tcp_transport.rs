//! The TCP transport against real sockets on 127.0.0.1: a collector that is down, then up;
//! discovery through a CAT router; heartbeats.

mod support;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ocelot_client::{event, transaction, with_client, BuildError, Client};
use ocelot_protocol::{decode_frame, DecodeOptions, MessageTree};

/// Reads frames from every connection to `listener` into the returned list.
fn collect_frames(listener: TcpListener) -> Arc<Mutex<Vec<MessageTree>>> {
    let trees = Arc::new(Mutex::new(Vec::new()));
    let sink = trees.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let sink = sink.clone();
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 64 * 1024];
                loop {
                    let n = match conn.read(&mut chunk) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    buf.extend_from_slice(&chunk[..n]);
                    while buf.len() >= 4 {
                        let len = u32::from_be_bytes(buf[..4].try_into().unwrap()) as usize;
                        if buf.len() < 4 + len {
                            break;
                        }
                        let frame: Vec<u8> = buf.drain(..4 + len).collect();
                        let tree = decode_frame(&frame, &DecodeOptions::default()).unwrap();
                        sink.lock().unwrap().push(tree);
                    }
                }
            });
        }
    });
    trees
}

fn wait_for(mut done: impl FnMut() -> bool, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    done()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn with_the_collector_down_callers_never_block_memory_stays_bounded_and_sending_resumes() {
    let port = free_port();
    let address = format!("127.0.0.1:{port}");
    const QUEUE_TREES: usize = 500;
    const QUEUE_BYTES: usize = 64 * 1024;
    let client = Client::builder()
        .domain("resilient")
        .ip(Ipv4Addr::LOCALHOST)
        .collectors([address.clone()])
        .queue_trees(QUEUE_TREES)
        .queue_bytes(QUEUE_BYTES)
        .heartbeat_interval(None)
        .build();

    // Phase 1: nobody listens. Four threads record; measure the slowest single call.
    let worst = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let client = &client;
                scope.spawn(move || {
                    with_client(client, || {
                        let mut worst = Duration::ZERO;
                        for i in 0..5_000 {
                            let start = Instant::now();
                            {
                                let tx = transaction!("URL", "/down");
                                tx.add_data("payload", "x".repeat(64));
                                tx.add_data("i", i + t * 10_000);
                                event!("E", "e");
                            }
                            worst = worst.max(start.elapsed());
                        }
                        worst
                    })
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .max()
            .unwrap()
    });
    let stats = client.stats();
    eprintln!("collector down: worst call {worst:?}, {stats:?}");
    assert!(
        worst < Duration::from_millis(200),
        "a call blocked for {worst:?}"
    );
    assert!(stats.queued_bytes <= QUEUE_BYTES as u64, "{stats:?}");
    assert!(stats.queue_depth <= QUEUE_TREES as u64, "{stats:?}");
    assert_eq!(stats.sent, 0);
    assert!(
        stats.dropped_queue_bytes + stats.dropped_queue_full > 0,
        "{stats:?}"
    );
    assert_eq!(stats.produced, 20_000);

    // Phase 2: the collector comes up; queued trees and new ones arrive.
    let listener = TcpListener::bind(&address).unwrap();
    let received = collect_frames(listener);
    let queued = stats.queue_depth;
    assert!(
        wait_for(|| client.stats().sent >= queued, Duration::from_secs(15)),
        "the queued trees were not sent: {:?}",
        client.stats()
    );
    with_client(&client, || {
        let _t = transaction!("URL", "/after-recovery");
    });
    assert!(
        wait_for(
            || received
                .lock()
                .unwrap()
                .iter()
                .any(|t| t.root.name() == "/after-recovery"),
            Duration::from_secs(15)
        ),
        "sending did not resume: {:?}",
        client.stats()
    );
    assert!(client.flush(Duration::from_secs(10)));
    let stats = client.stats();
    assert_eq!(
        stats.produced,
        stats.sent + stats.dropped_total(),
        "{stats:?}"
    );
    assert!(wait_for(
        || received.lock().unwrap().len() as u64 == stats.sent,
        Duration::from_secs(5)
    ));
    assert!(client.shutdown(Duration::from_secs(2)));
}

#[test]
fn collectors_come_from_the_router_and_failover_skips_a_dead_one() {
    let collector = TcpListener::bind("127.0.0.1:0").unwrap();
    let collector_address = collector.local_addr().unwrap().to_string();
    let dead = format!("127.0.0.1:{}", free_port());
    let received = collect_frames(collector);
    let router = TcpListener::bind("127.0.0.1:0").unwrap();
    let router_address = router.local_addr().unwrap().to_string();
    let requests = Arc::new(Mutex::new(Vec::new()));
    {
        let requests = requests.clone();
        let body = format!("{{\"kvs\":{{\"routers\":\"{dead};{collector_address};\",\"block\":\"false\",\"sample\":\"1.0\"}}}}");
        std::thread::spawn(move || {
            for conn in router.incoming() {
                let Ok(mut conn) = conn else { return };
                let mut buf = [0u8; 2048];
                let n = conn.read(&mut buf).unwrap_or(0);
                requests
                    .lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&buf[..n]).into_owned());
                let _ = conn.write_all(
                    format!(
                        "HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    )
                    .as_bytes(),
                );
            }
        });
    }
    let client = Client::builder()
        .domain("routed")
        .ip(Ipv4Addr::new(10, 1, 2, 3))
        .router(router_address)
        .heartbeat_interval(None)
        .build();
    with_client(&client, || {
        let _t = transaction!("URL", "/routed");
    });
    assert!(
        wait_for(
            || !received.lock().unwrap().is_empty(),
            Duration::from_secs(10)
        ),
        "{:?}",
        client.stats()
    );
    let tree = received.lock().unwrap()[0].clone();
    assert_eq!(tree.root.name(), "/routed");
    assert_eq!(tree.header.ip_address, "10.1.2.3");
    let request = requests.lock().unwrap()[0].clone();
    assert!(
        request.starts_with("GET /cat/s/router?op=json&domain=routed&ip=10.1.2.3 "),
        "{request}"
    );
    assert!(client.shutdown(Duration::from_secs(2)));
}

#[test]
fn heartbeats_carry_status_xml_with_process_and_client_details() {
    let (transport, sink) = ocelot_client::MemoryTransport::new();
    let client = Client::builder()
        .domain("beating")
        .ip(Ipv4Addr::new(192, 0, 2, 9))
        .heartbeat_interval(Some(Duration::from_millis(20)))
        .transport(transport)
        .build();
    assert!(wait_for(|| sink.trees().len() >= 3, Duration::from_secs(5)));
    client.shutdown(Duration::from_secs(2));
    let mut trees = sink.trees();
    // First the start's `Reboot/<ip>` event, as CAT's Java client sends it.
    let reboot = trees.remove(0).root;
    assert!(matches!(reboot, ocelot_protocol::Message::Event(_)));
    assert_eq!((reboot.type_(), reboot.name()), ("Reboot", "192.0.2.9"));
    let status = &trees[0].root;
    assert_eq!((status.type_(), status.name()), ("System", "Status"));
    let heartbeat = &status.children()[0];
    assert!(matches!(heartbeat, ocelot_protocol::Message::Heartbeat(_)));
    assert_eq!(
        (heartbeat.type_(), heartbeat.name()),
        ("Heartbeat", "192.0.2.9")
    );
    let xml = heartbeat.data();
    for needle in [
        "<status>",
        "<extension id=\"system.process\">",
        "id=\"memory.rss.bytes\"",
        "id=\"threads\"",
        "id=\"fds.open\"",
        "id=\"cpu.time.ms\"",
        "<extension id=\"ocelot.client\">",
        "id=\"trees.produced\"",
        "id=\"trees.dropped.queue_full\"",
        "id=\"queue.depth\"",
    ] {
        assert!(xml.contains(needle), "{needle} missing from {xml}");
    }
    // The second heartbeat counts the reboot event and the first heartbeat as produced.
    assert!(trees[1].root.children()[0]
        .data()
        .contains("<extensionDetail id=\"trees.produced\" value=\"2\"/>"));
}

#[test]
fn shutdown_is_bounded_when_the_collector_never_answers() {
    let client = Client::builder()
        .domain("stuck")
        .collectors([format!("127.0.0.1:{}", free_port())])
        .heartbeat_interval(None)
        .build();
    with_client(&client, || {
        for _ in 0..100 {
            let _t = transaction!("URL", "/x");
        }
    });
    let start = Instant::now();
    assert!(!client.shutdown(Duration::from_millis(300)));
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "shutdown took {:?}",
        start.elapsed()
    );
    let stats = client.stats();
    assert_eq!(stats.dropped_shutdown, 100, "{stats:?}");
    assert_eq!(stats.queued_bytes, 0, "{stats:?}");
    // After shutdown, new trees are dropped and counted, never queued.
    with_client(&client, || {
        let _t = transaction!("URL", "/late");
    });
    assert_eq!(client.stats().dropped_shutdown, 101);
    drop(TcpStream::connect("127.0.0.1:1").err());
}

/// A CAT router on `listener` that answers every query with `collectors`.
fn serve_router(listener: TcpListener, collectors: String) {
    std::thread::spawn(move || {
        let body = format!("{{\"kvs\":{{\"routers\":\"{collectors};\"}}}}");
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let mut buf = [0u8; 2048];
            let _ = conn.read(&mut buf);
            let _ = conn.write_all(
                format!(
                    "HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                )
                .as_bytes(),
            );
        }
    });
}

#[test]
fn a_collector_given_without_a_port_is_reached_on_cats_default_port() {
    // Another loopback address, so CAT's port is free even where a collector runs on
    // 127.0.0.1:2280.
    let collector = TcpListener::bind(("127.0.0.2", ocelot_client::DEFAULT_COLLECTOR_PORT))
        .expect("127.0.0.2:2280 is free");
    let received = collect_frames(collector);
    let client = Client::builder()
        .domain("no-port")
        .collectors(["127.0.0.2"])
        .heartbeat_interval(None)
        .build();
    with_client(&client, || {
        let _t = transaction!("URL", "/x");
    });
    assert!(
        wait_for(
            || !received.lock().unwrap().is_empty(),
            Duration::from_secs(5)
        ),
        "{:?}",
        client.stats()
    );
    assert!(client.shutdown(Duration::from_secs(2)));
}

#[test]
fn a_router_that_starts_after_the_app_is_found_within_seconds() {
    let collector = TcpListener::bind("127.0.0.1:0").unwrap();
    let collector_address = collector.local_addr().unwrap().to_string();
    let received = collect_frames(collector);
    let router_port = free_port();
    let client = Client::builder()
        .domain("late-router")
        .router(format!("127.0.0.1:{router_port}"))
        .heartbeat_interval(None)
        .build();
    with_client(&client, || {
        let _t = transaction!("URL", "/early");
    });
    std::thread::sleep(Duration::from_millis(1200));
    serve_router(
        TcpListener::bind(("127.0.0.1", router_port)).unwrap(),
        collector_address,
    );
    // Failed queries are retried after 1 s, 2 s, 4 s...: well before the one-minute refresh.
    assert!(
        wait_for(
            || !received.lock().unwrap().is_empty(),
            Duration::from_secs(8)
        ),
        "{:?}",
        client.stats()
    );
    assert_eq!(received.lock().unwrap()[0].root.name(), "/early");
    assert!(client.shutdown(Duration::from_secs(2)));
}

#[test]
fn a_router_that_never_answers_does_not_hold_up_sending_to_known_collectors() {
    let collector = TcpListener::bind("127.0.0.1:0").unwrap();
    let collector_address = collector.local_addr().unwrap().to_string();
    let received = collect_frames(collector);
    // Accepts every connection and never writes a byte.
    let router = TcpListener::bind("127.0.0.1:0").unwrap();
    let router_address = router.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in router.incoming() {
            held.push(conn);
        }
    });
    let client = Client::builder()
        .domain("silent-router")
        .collectors([collector_address])
        .router(router_address)
        .router_refresh(Duration::from_millis(500))
        .heartbeat_interval(None)
        .build();
    // Each tree must arrive well within the router's 1 s query timeout: the sender thread
    // never waits for the router.
    for i in 0..3 {
        let start = Instant::now();
        with_client(&client, || {
            let _t = transaction!("URL", format!("/x{i}"));
        });
        assert!(
            wait_for(
                || received.lock().unwrap().len() > i,
                Duration::from_secs(5)
            ),
            "{:?}",
            client.stats()
        );
        let took = start.elapsed();
        assert!(took < Duration::from_millis(600), "tree {i} took {took:?}");
        std::thread::sleep(Duration::from_millis(400));
    }
    assert!(client.shutdown(Duration::from_secs(2)));
}

/// A collector restarts (or a load balancer drops an idle connection): the connection the
/// sender holds is closed by the peer. The next tree reaches the collector once it listens
/// again; it used to be written into the dead connection, counted as sent and lost.
#[test]
fn a_tree_sent_after_the_collector_closed_the_connection_is_not_lost_as_sent() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let client = Client::builder()
        .domain("restarted-collector")
        .ip(Ipv4Addr::LOCALHOST)
        .collectors([address])
        .heartbeat_interval(None)
        .build();
    with_client(&client, || drop(transaction!("URL", "before-restart")));
    // The old collector reads the first tree, then goes away (closes the connection).
    let (mut old, _) = listener.accept().unwrap();
    let mut prefix = [0u8; 4];
    old.read_exact(&mut prefix).unwrap();
    let mut body = vec![0u8; u32::from_be_bytes(prefix) as usize];
    old.read_exact(&mut body).unwrap();
    drop(old);
    std::thread::sleep(Duration::from_millis(200));
    // The new collector listens on the same address.
    let received = collect_frames(listener);
    with_client(&client, || drop(transaction!("URL", "after-restart")));
    assert!(client.flush(Duration::from_secs(5)));
    let arrived = wait_for(
        || {
            received
                .lock()
                .unwrap()
                .iter()
                .any(|t| t.root.name() == "after-restart")
        },
        Duration::from_secs(3),
    );
    let stats = client.stats();
    assert!(
        arrived,
        "`after-restart` never reached the collector: {stats:?}"
    );
    assert_eq!((stats.sent, stats.connects), (2, 2), "{stats:?}");
    client.shutdown(Duration::from_secs(1));
}

/// `main` ends right after its last request: the guard from `shutdown_on_drop` sends what
/// is queued before the process goes, where dropping the last handle would not wait.
#[test]
fn the_shutdown_guard_sends_what_is_queued_when_it_drops() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let received = collect_frames(listener);
    let client = Client::builder()
        .domain("guarded")
        .ip(Ipv4Addr::LOCALHOST)
        .collectors([address])
        .heartbeat_interval(None)
        .build();
    {
        let _shutdown = client.shutdown_on_drop(Duration::from_secs(5));
        with_client(&client, || {
            for _ in 0..50 {
                drop(transaction!("URL", "/last-requests"));
            }
        });
    }
    // Shut down by the guard: everything queued was sent, nothing more is taken.
    let stats = client.stats();
    assert_eq!((stats.sent, stats.dropped_shutdown), (50, 0), "{stats:?}");
    assert!(wait_for(
        || received.lock().unwrap().len() == 50,
        Duration::from_secs(5)
    ));
    with_client(&client, || drop(transaction!("URL", "/after")));
    assert_eq!(client.stats().sent, 50);
}

/// A service that is not a collector, as the web port is: it reads what comes, answers
/// HTTP 400 and closes. Returns its address.
fn http_server_answering_400() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let mut request = [0u8; 64 * 1024];
            let _ = conn.read(&mut request);
            let _ = conn.write_all(b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n");
        }
    });
    address
}

/// Pointed at the web port by mistake, every tree was lost while `stats()` counted it sent,
/// and nothing said why.
#[test]
fn trees_written_to_a_service_that_answers_are_dropped_as_not_collector_not_sent() {
    let address = http_server_answering_400();
    let client = Client::builder()
        .domain("wrong-port")
        .ip(Ipv4Addr::LOCALHOST)
        .collectors([address.clone()])
        .heartbeat_interval(None)
        .build();
    with_client(&client, || {
        for _ in 0..5 {
            drop(transaction!("URL", "/lost"));
        }
    });
    let counted = wait_for(
        || client.stats().dropped_not_collector == 5,
        Duration::from_secs(5),
    );
    let stats = client.stats();
    assert!(counted, "{stats:?}");
    assert_eq!((stats.sent, stats.sent_bytes), (0, 0), "{stats:?}");
    assert_eq!(stats.dropped_total(), 5, "{stats:?}");
    let error = client.last_transport_error().expect("the problem is kept");
    assert!(
        error.contains(&address)
            && error.contains("not a CAT collector")
            && error.contains("\"HTTP/1.1 400 Bad Request\""),
        "{error}"
    );
    client.shutdown(Duration::from_millis(100));
}

/// `127.0.0.1:99999` was taken without a word and became `127.0.0.1:99999:2280`, which
/// looked exactly like a collector that is down.
#[test]
fn an_address_that_can_never_work_is_refused_at_build() {
    let builder = || {
        Client::builder()
            .domain("typo")
            .ip(Ipv4Addr::LOCALHOST)
            .heartbeat_interval(None)
    };
    let error = builder()
        .collectors(["127.0.0.1:99999"])
        .try_build()
        .unwrap_err();
    assert!(
        matches!(&error, BuildError::Address { address, router: false, .. } if address == "127.0.0.1:99999"),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "bad collector address \"127.0.0.1:99999\": port \"99999\" is not a number from 1 to 65535"
    );
    let error = builder().router("http://web:8080").try_build().unwrap_err();
    assert_eq!(
        error.to_string(),
        "bad router address \"http://web:8080\": give host:port, not a URL"
    );
    // `build` never fails: it leaves the address out and says why.
    let client = builder().collectors(["127.0.0.1:99999"]).build();
    let said = client.last_transport_error().expect("the refusal is kept");
    assert!(said.contains("127.0.0.1:99999"), "{said}");
    client.shutdown(Duration::from_millis(10));
}

/// A collector that cannot be reached used to leave no trace of why.
#[test]
fn the_last_connect_error_is_kept() {
    let address = format!("127.0.0.1:{}", free_port());
    let client = Client::builder()
        .domain("unreachable")
        .ip(Ipv4Addr::LOCALHOST)
        .collectors([address.clone()])
        .heartbeat_interval(None)
        .build();
    assert!(wait_for(
        || client.last_transport_error().is_some(),
        Duration::from_secs(5)
    ));
    let error = client.last_transport_error().unwrap();
    assert!(
        error.starts_with(&format!("cannot connect to collector {address}: ")),
        "{error}"
    );
    client.shutdown(Duration::from_millis(10));
}

/// A short-lived process pointed at the web port: its trees were written during `shutdown`,
/// counted as sent, and the answer that gave the peer away came after the sender stopped.
#[test]
fn trees_written_to_a_service_that_answers_during_shutdown_are_not_counted_sent() {
    let address = http_server_answering_400();
    let client = Client::builder()
        .domain("wrong-port-short-lived")
        .ip(Ipv4Addr::LOCALHOST)
        .collectors([address])
        .heartbeat_interval(None)
        .build();
    with_client(&client, || {
        for _ in 0..5 {
            drop(transaction!("URL", "/lost"));
        }
    });
    client.shutdown(Duration::from_secs(5));
    let stats = client.stats();
    assert_eq!(stats.sent, 0, "{stats:?}");
    assert_eq!(stats.dropped_total(), 5, "{stats:?}");
}
