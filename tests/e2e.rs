//! End to end over 127.0.0.1: SDK and real CAT client frames -> collector -> store -> web API,
//! crashes and restarts. Runs the real `ocelot` binary.

mod common;

use std::io::Write as _;
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::{eventually, free_port, now_ms, transaction_count, Server};
use ocelot_protocol::sample::SampleTrees;
use ocelot_protocol::{decode_frame, hour_of, nt1, DecodeOptions, Message};

fn sdk_client(
    domain: &str,
    collector: std::net::SocketAddr,
    marks: &std::path::Path,
) -> ocelot_client::Client {
    ocelot_client::Client::builder()
        .domain(domain)
        .collectors([collector.to_string()])
        .ip(std::net::Ipv4Addr::new(127, 0, 0, 1))
        .heartbeat_interval(None)
        .mark_dir(marks)
        .queue_trees(200)
        .build()
}

#[test]
fn a_tree_logged_with_the_sdk_is_in_the_report_and_findable_by_id_within_two_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), free_port(), free_port(), false);
    let client = sdk_client("e2e-app", server.collector, dir.path());
    client.bind_to_current_thread();
    {
        let t = ocelot_client::transaction!("URL", "/e2e/checkout");
        t.add_data("user", 42);
        ocelot_client::event!("Checkout", "started");
    }
    let logged = Instant::now();
    let report = eventually(Duration::from_secs(2), || {
        let r = server.json("/api/transaction?domain=e2e-app&hour=current")?;
        (transaction_count(&r, "URL", Some("/e2e/checkout")) == 1).then_some(r)
    })
    .expect("the tree is not in the transaction report within 2 s");
    let id = report["types"][0]["names"][0]["sampleMessageId"]
        .as_str()
        .unwrap()
        .to_owned();
    let tree = eventually(
        Duration::from_secs(2).saturating_sub(logged.elapsed()),
        || server.json(&format!("/api/message/{id}")),
    )
    .expect("the tree is not findable by its ID within 2 s of logging");
    assert_eq!(tree["root"]["name"], "/e2e/checkout");
    assert_eq!(tree["format"], "NT1", "as `ocelot lookup` prints it");
    assert_eq!(tree["root"]["children"][0]["type"], "Checkout");
    assert!(logged.elapsed() < Duration::from_secs(2));
    // IDs of domains nothing can be stored under are simply not found.
    for path in [
        "/api/message/caf%C3%A9-0a000101-499035-1",
        "/m/a%2Fb-0a000101-499035-1",
    ] {
        assert_eq!(server.get(path).0, 404, "{path}");
    }
    client.shutdown(Duration::from_secs(2));
    assert!(server.stop().success());
}

/// The captured C-client frames with every timestamp moved by whole hours into the current
/// hour (minute and second kept), so the collector's hour window accepts them today.
fn captured_frames_moved_to_now() -> Vec<Vec<u8>> {
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("protocol/tests/data/cat-c-client/binary");
    let shift = (hour_of(now_ms()) - 498_703) * 3_600_000;
    (1..=29)
        .map(|i| {
            let frame = std::fs::read(dir.join(format!("{i:04}.bin"))).unwrap();
            let mut tree = decode_frame(&frame, &DecodeOptions::default()).unwrap();
            shift_timestamps(&mut tree.root, shift);
            nt1::encode_to_bytes(&tree).to_vec()
        })
        .collect()
}

fn shift_timestamps(message: &mut Message, shift: u64) {
    match message {
        Message::Transaction(t) => {
            t.timestamp_ms += shift;
            for child in &mut t.children {
                shift_timestamps(child, shift);
            }
        }
        Message::Event(l) | Message::Heartbeat(l) | Message::Metric(l) | Message::Trace(l) => {
            l.timestamp_ms += shift;
        }
    }
}

#[test]
fn real_client_frames_replayed_over_tcp_appear_in_the_reports_and_logview() {
    let dir = tempfile::tempdir().unwrap();
    // The frames keep the IDs the client gave them (the capture's hour): retention must not
    // refuse that hour once the capture is more than a week old. The entry budget is set
    // for the boards to name it.
    let server = Server::start_with(
        &dir.path().join("data"),
        free_port(),
        free_port(),
        false,
        "max_report_entries_per_hour = 123456\n[store]\nretention_days = 0\n",
    );
    let mut conn = TcpStream::connect(server.collector).unwrap();
    for frame in captured_frames_moved_to_now() {
        conn.write_all(&frame).unwrap();
    }
    conn.flush().unwrap();
    let report = eventually(Duration::from_secs(5), || {
        let r = server.json("/api/transaction?domain=catgen&hour=current")?;
        (transaction_count(&r, "URL", None) == 1 && transaction_count(&r, "Service", None) == 2)
            .then_some(r)
    })
    .expect("captured frames did not show up in the transaction report");
    assert_eq!(transaction_count(&report, "Cache.redis", None), 1);
    let problems = server
        .json("/api/problem?domain=catgen&hour=current")
        .unwrap();
    assert!(
        problems.to_string().contains("RuntimeException"),
        "{problems}"
    );
    let events = server
        .json("/api/event?domain=catgen&hour=current")
        .unwrap();
    assert!(events.to_string().contains("RemoteCall"));
    // Their `Item` and `I` events have more names than 200 a type: the event board says how
    // many folded into OTHERS, under the caps the collector counts with.
    assert_eq!(events["folded"], 100 + 1900, "{events}");
    let (status, board) = server.get("/e?domain=catgen&hour=current");
    assert_eq!(status, 200);
    assert!(board.contains("<strong>2,000 events</strong>"), "{board}");
    assert!(
        board.contains("a budget of 123,456 machines, types and names"),
        "the configured budget, not the default: {board}"
    );
    // LogView of the S01 frame, by the ID the real client gave it.
    let page = eventually(Duration::from_secs(3), || {
        let (status, body) = server.get("/m/catgen-c0000202-498703-10027");
        (status == 200).then_some(body)
    })
    .expect("LogView did not find the captured tree");
    assert!(page.contains("/api/order/create"));
    assert!(page.contains("OrderDao.insert"));
    // The RPC callee's tree is linked from its caller's page.
    let caller = eventually(Duration::from_secs(3), || {
        let (status, body) = server.get("/m/catgen-c0000202-498703-10041");
        (status == 200).then_some(body)
    })
    .expect("LogView did not find the RPC caller's tree");
    assert!(
        caller.contains("/m/order-service-c0000202-498703-1"),
        "no link to the callee in {caller}"
    );
    assert!(server.stop().success());
}

#[test]
fn kill_dash_nine_under_load_loses_at_most_one_checkpoint_and_no_flushed_tree() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (collector_port, web_port) = (free_port(), free_port());
    let server = Server::start(&data, collector_port, web_port, false);

    let mut samples = SampleTrees::new(7, 1, 5, now_ms());
    let mut conn = TcpStream::connect(server.collector).unwrap();
    let mut acknowledged = Vec::new();
    for _ in 0..300 {
        let tree = samples.tree();
        acknowledged.push(tree.header.message_id.clone());
        conn.write_all(&nt1::encode_to_bytes(&tree)).unwrap();
    }
    conn.flush().unwrap();
    eventually(Duration::from_secs(10), || {
        let r = server.json("/api/transaction?domain=app-0&hour=current")?;
        (transaction_count(&r, "URL", None) == 300).then_some(())
    })
    .expect("the first 300 trees were not counted");
    // Keep the load on across two checkpoints and store flushes, then kill -9 mid-stream.
    let load_until = Instant::now() + Duration::from_millis(2500);
    let mut sent_after = 0u64;
    while Instant::now() < load_until {
        conn.write_all(&nt1::encode_to_bytes(&samples.tree()))
            .unwrap();
        sent_after += 1;
        std::thread::sleep(Duration::from_millis(5));
    }
    server.kill9();

    let server = Server::start(&data, collector_port, web_port, false);
    let report = server
        .json("/api/transaction?domain=app-0&hour=current")
        .unwrap();
    let count = transaction_count(&report, "URL", None);
    assert!(
        (300..=300 + sent_after).contains(&count),
        "after restart the hour has {count} URL transactions, expected 300..={}",
        300 + sent_after
    );
    for id in &acknowledged {
        let (status, _) = server.get(&format!("/api/message/{id}"));
        assert_eq!(status, 200, "{id} was flushed before the crash but is lost");
    }
    // The hour goes on counting.
    let mut conn = TcpStream::connect(server.collector).unwrap();
    conn.write_all(&nt1::encode_to_bytes(&samples.tree()))
        .unwrap();
    eventually(Duration::from_secs(5), || {
        let r = server.json("/api/transaction?domain=app-0&hour=current")?;
        (transaction_count(&r, "URL", None) > count).then_some(())
    })
    .expect("the restarted hour does not count new trees");
    assert!(server.stop().success());
}

#[test]
fn while_the_collector_is_down_the_app_never_blocks_drops_are_counted_and_traffic_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (collector_port, web_port) = (free_port(), free_port());
    let server = Server::start(&data, collector_port, web_port, false);
    let client = sdk_client("resilient-app", server.collector, dir.path());
    client.bind_to_current_thread();
    let log = |name: &'static str| {
        let started = Instant::now();
        let _t = ocelot_client::transaction!("URL", name);
        ocelot_client::event!("Step", "one");
        drop(_t);
        started.elapsed()
    };
    log("/before");
    eventually(Duration::from_secs(5), || {
        let r = server.json("/api/transaction?domain=resilient-app&hour=current")?;
        (transaction_count(&r, "URL", Some("/before")) == 1).then_some(())
    })
    .expect("first tree not received");
    assert!(server.stop().success());

    // Collector gone: 2000 trees into a 200-tree queue. No call may block.
    let mut worst = Duration::ZERO;
    for _ in 0..2000 {
        worst = worst.max(log("/during"));
    }
    assert!(
        worst < Duration::from_millis(100),
        "a call took {worst:?} while the collector was down"
    );
    let stats = client.stats();
    assert!(stats.dropped_total() > 0, "no drops counted: {stats:?}");

    let server = Server::start(&data, collector_port, web_port, false);
    let resumed = eventually(Duration::from_secs(20), || {
        log("/after");
        std::thread::sleep(Duration::from_millis(200));
        let r = server.json("/api/transaction?domain=resilient-app&hour=current")?;
        (transaction_count(&r, "URL", Some("/after")) > 0).then_some(())
    });
    assert!(
        resumed.is_some(),
        "traffic did not resume after the collector came back"
    );
    client.shutdown(Duration::from_secs(2));
    assert!(server.stop().success());
}

#[test]
fn metrics_alerts_and_status_are_served_beside_the_ui() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.toml");
    std::fs::write(
        &rules,
        "[[rule]]\nid = \"catgen-errors\"\ndomain = \"catgen\"\nreport = \"transaction\"\nmeasure = \"fail\"\nabove = 100.0\n",
    )
    .unwrap();
    let server = Server::start_with(
        &dir.path().join("data"),
        free_port(),
        free_port(),
        false,
        &format!("[alert]\nrules = {:?}\n", rules.display().to_string()),
    );
    let mut conn = TcpStream::connect(server.collector).unwrap();
    conn.write_all(b"\x00\x00\x00\x05NT1\xff\xff").unwrap();
    let alerts = server.json("/api/alerts").expect("GET /api/alerts");
    assert!(alerts.to_string().contains("catgen-errors"), "{alerts}");
    let metrics = eventually(Duration::from_secs(5), || {
        let (status, body) = server.get("/metrics");
        (status == 200 && body.contains("ocelot_decode_errors_total{reason=\"truncated\"} 1"))
            .then_some(body)
    })
    .expect("the malformed frame is not counted on /metrics");
    assert!(metrics.contains("ocelot_alerts_firing 0"), "{metrics}");
    assert!(
        metrics.contains("ocelot_alert_baselines_not_finite_total 0"),
        "{metrics}"
    );
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_ocelot"))
        .args(["status", "--url", &format!("http://{}", server.web)])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(
        status.status.code() == Some(0),
        "status said {:?}: {text}",
        status.status
    );
    assert!(text.to_lowercase().contains("uptime"), "{text}");
    assert!(server.stop().success());
}

/// Niceness of each of `pid`'s threads, by thread name (Linux `/proc`).
#[cfg(target_os = "linux")]
fn thread_niceness(pid: u32) -> Vec<(String, i64)> {
    let mut threads = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let Ok(stat) = std::fs::read_to_string(task.unwrap().path().join("stat")) else {
            continue; // a thread that ended meanwhile
        };
        // `tid (name) state ...`: the name may hold spaces; nice is field 19.
        let (head, rest) = stat.rsplit_once(") ").unwrap();
        let name = head.split_once(" (").unwrap().1.to_owned();
        let nice = rest.split(' ').nth(16).unwrap().parse().unwrap();
        threads.push((name, nice));
    }
    threads
}

#[cfg(target_os = "linux")]
#[test]
fn pages_are_built_on_threads_that_yield_the_cpu_to_the_collector() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), free_port(), free_port(), false);
    assert_eq!(server.get("/").0, 200);
    // A LogView lookup runs on the web runtime's blocking threads, which its (niced)
    // workers start: they must not end up niced twice.
    assert_eq!(server.get("/m/shop-0a000001-498703-1").0, 404);
    let threads = thread_niceness(server.child.id());
    let of = |prefix: &str| -> Vec<i64> {
        threads
            .iter()
            .filter(|(name, _)| name.starts_with(prefix))
            .map(|&(_, nice)| nice)
            .collect()
    };
    // The web runtime's threads 10 (the default `web.nice`) above the process's niceness
    // (the test may run niced), the collector's at the process's.
    let process = threads.iter().find(|(name, _)| name == "ocelot").unwrap().1;
    let web = of("ocelot-web");
    assert!(!web.is_empty(), "{threads:?}");
    assert!(
        web.iter().all(|&nice| nice == (process + 10).min(19)),
        "{threads:?}"
    );
    let io = of("ocelot-io");
    assert!(!io.is_empty(), "{threads:?}");
    assert!(io.iter().all(|&nice| nice == process), "{threads:?}");
    let analyzers = of("ocelot-analyzer");
    assert!(analyzers.iter().all(|&nice| nice == process), "{threads:?}");
    assert!(server.stop().success());
}

#[test]
fn a_second_server_on_the_same_data_directory_refuses_to_start_and_touches_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data, free_port(), free_port(), false);
    let start_second = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_ocelot"))
            .arg("serve")
            .arg("--data")
            .arg(&data)
            .arg("--collector-listen")
            .arg(format!("127.0.0.1:{}", free_port()))
            .arg("--web-listen")
            .arg(format!("127.0.0.1:{}", free_port()))
            .output()
            .unwrap()
    };
    let second = start_second();
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("in use by another ocelot serve"),
        "{stderr}"
    );
    // The first one still serves.
    assert!(server.json("/api/domains").is_some());
    // Nor does a cleanup that deleted the lock file let a second one in.
    std::fs::remove_file(data.join(".lock")).unwrap();
    let second = start_second();
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("in use by another ocelot serve (its .lock file is gone or empty)"),
        "{stderr}"
    );
    assert!(server.json("/api/domains").is_some());
    assert!(server.stop().success());

    // A data directory that is a file is named as such.
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ocelot"))
        .arg("serve")
        .arg("--data")
        .arg(&file)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("is not a directory"), "{stderr}");
}

/// A start that fails on its alert rules has taken no tree: the collector served clients
/// while the rules were read, and the trees it read were lost with the process, though their
/// clients had sent them. Never accepted, a connection is reset and its client sends again.
#[test]
fn a_start_that_fails_on_its_rules_file_has_read_no_tree() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // A pipe: the server reads the rules file when the test writes it, not before.
    let rules = dir.path().join("rules.toml");
    let made = std::process::Command::new("mkfifo").arg(&rules).status();
    assert!(made.unwrap().success());
    let collector_port = free_port();
    let config = format!("[alert]\nrules = {:?}\n", rules.display().to_string());
    let server = common::serve_command(&data, collector_port, free_port(), &config)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Opens once the server opens the file to read it.
    let mut writer = std::fs::OpenOptions::new()
        .write(true)
        .open(&rules)
        .unwrap();
    let mut client = TcpStream::connect(("127.0.0.1", collector_port)).unwrap();
    client
        .write_all(&captured_frames_moved_to_now()[0])
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    writer.write_all(b"not [rules\n").unwrap();
    drop(writer);
    let out = server.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("loading alert rules"), "{stderr}");
    assert_reset_not_read(&mut client);
}

/// Asserts that the server reset `client`'s connection: had it read the frame sent on it,
/// the connection would end in a clean close (EOF).
fn assert_reset_not_read(client: &mut TcpStream) {
    use std::io::Read as _;
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let read = client.read(&mut [0u8; 16]);
    assert!(
        matches!(&read, Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset),
        "{read:?}"
    );
}

/// A start that fails on the demo (its mark directory is a file) has taken no tree either:
/// the demo started after the collector served clients, and the trees it read were lost
/// with the process. Never accepted, a connection is reset and its client sends again.
#[test]
fn a_start_that_fails_on_the_demo_has_read_no_tree() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("demo-marks"), "a file, not a directory").unwrap();
    let collector_port = free_port();
    let mut server = common::serve_command(&data, collector_port, free_port(), "")
        .arg("--demo")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    // Connected once the collector port is bound, unless the server has failed by then.
    let client = loop {
        if let Ok(client) = TcpStream::connect(("127.0.0.1", collector_port)) {
            break Some(client);
        }
        if server.try_wait().unwrap().is_some() {
            break None;
        }
        assert!(
            Instant::now() < deadline,
            "the collector port was never bound"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    // Whether the frame went out whole: a server gone already resets the connection.
    let sent = client.as_ref().is_some_and(|mut client| {
        let sent = client.write_all(&captured_frames_moved_to_now()[0]).is_ok();
        std::thread::sleep(Duration::from_millis(500));
        sent
    });
    while server.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the server did not fail");
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = server.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    if let (Some(mut client), true) = (client, sent) {
        assert_reset_not_read(&mut client);
    }
    assert!(stderr.contains("demo's mark directory"), "{stderr}");
}

/// Closing the terminal a server runs in hangs it up: it stops cleanly, with a final
/// checkpoint, rather than dying mid-hour. `script` (util-linux) gives it the terminal, and
/// killing `script` closes it.
#[test]
fn a_hangup_in_a_terminal_stops_the_server_cleanly_with_a_final_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (collector_port, web_port) = (free_port(), free_port());
    let config = "[collector]\ncheckpoint_interval_secs = 3600\n";
    let serve = common::serve_command(&data, collector_port, web_port, config);
    let words: Vec<String> = std::iter::once(serve.get_program())
        .chain(serve.get_args())
        .map(|word| format!("'{}'", word.to_str().unwrap()))
        .collect();
    let mut terminal = std::process::Command::new("script")
        .args(["-qec", &format!("exec {}", words.join(" ")), "/dev/null"])
        .env("RUST_LOG", "warn")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("script (util-linux) runs the server in a terminal");
    let web = ([127, 0, 0, 1], web_port).into();
    let up = eventually(Duration::from_secs(30), || {
        (common::http_get(web, "/api/domains").0 == 200).then_some(())
    });
    if up.is_none() {
        let _ = terminal.kill();
        panic!("the server in a terminal did not start within 30 s");
    }
    log_one_tree("tty-app", collector_port, web_port, dir.path());
    terminal.kill().unwrap();
    terminal.wait().unwrap();
    let stopped = eventually(Duration::from_secs(30), || {
        data.join(".clean-stop").is_file().then_some(())
    });
    assert!(stopped.is_some(), "no clean stop after the terminal closed");
    let hour = hour_of(now_ms());
    let written = [hour - 1, hour].iter().any(|h| {
        data.join(format!("{h}/tty-app/reports/transaction.report"))
            .is_file()
    });
    assert!(written, "the final checkpoint did not write the report");
}

/// Without a terminal (systemd, `nohup`, a container), a HUP asks for a reload, as for most
/// servers: it stopped the server with exit 0, which a service manager does not restart.
#[test]
fn a_hangup_without_a_terminal_is_logged_and_does_not_stop_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (collector_port, web_port) = (free_port(), free_port());
    let stderr_path = dir.path().join("stderr");
    let mut server = start_with_output(&data, collector_port, web_port, &stderr_path);
    send(&server.child, "-HUP");
    let logged = eventually(Duration::from_secs(10), || {
        let log = std::fs::read_to_string(&stderr_path).ok()?;
        log.contains("SIGHUP ignored: Ocelot has nothing to reload")
            .then_some(())
    });
    assert!(
        logged.is_some(),
        "{}",
        std::fs::read_to_string(&stderr_path).unwrap()
    );
    log_one_tree("hup-app", collector_port, web_port, dir.path());
    assert!(server.child.try_wait().unwrap().is_none());
    let status = common::signal_and_wait(&mut server.child, "-TERM");
    let said: Vec<String> = server.stdout.take().unwrap().map(Result::unwrap).collect();
    assert!(status.success(), "{status}: {said:?}");
    assert_eq!(said.last().map(String::as_str), Some("Stopped cleanly."));
}

#[test]
fn a_half_sent_web_request_does_not_hold_or_fail_the_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), free_port(), free_port(), false);
    let mut stuck = TcpStream::connect(server.web).unwrap();
    stuck.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let asked = Instant::now();
    assert!(server.stop().success());
    assert!(
        asked.elapsed() < Duration::from_secs(10),
        "{:?}",
        asked.elapsed()
    );
}

#[test]
fn the_router_advertises_the_address_a_collector_is_bound_to() {
    let dir = tempfile::tempdir().unwrap();
    let (collector_port, web_port) = (free_port(), free_port());
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ocelot"))
        .arg("serve")
        .arg("--data")
        .arg(dir.path().join("data"))
        .arg("--collector-listen")
        .arg(format!("127.0.0.2:{collector_port}"))
        .arg("--web-listen")
        .arg(format!("127.0.0.1:{web_port}"))
        // Its output goes to a file of its own, never to /dev/null: on a machine where
        // /dev/null is a regular file, whatever is written there is read back by the next
        // program reading it (rustc's target probe in cargo, for one).
        .stdout(std::fs::File::create(dir.path().join("serve.log")).unwrap())
        .stderr(std::fs::File::create(dir.path().join("serve.err")).unwrap())
        .spawn()
        .unwrap();
    let web: std::net::SocketAddr = format!("127.0.0.1:{web_port}").parse().unwrap();
    let body = eventually(Duration::from_secs(10), || {
        let (status, body) = common::http_get(web, "/cat/s/router?domain=x&ip=10.0.0.9&op=json");
        (status == 200).then_some(body)
    });
    let _ = child.kill();
    let _ = child.wait();
    let body = body.expect("the router answers");
    assert!(
        body.contains(&format!("127.0.0.2:{collector_port}")),
        "{body}"
    );
}

/// A webhook receiver on 127.0.0.1 answering 200 to every request; sends each JSON body.
fn webhook_receiver() -> (String, std::sync::mpsc::Receiver<serde_json::Value>) {
    use std::io::{BufRead as _, BufReader, Read as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(&mut stream);
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim_end().is_empty() {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_err() {
                continue;
            }
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
            if let Ok(json) = serde_json::from_slice(&body) {
                let _ = tx.send(json);
            }
        }
    });
    (url, rx)
}

/// Real minutes: up to about two for the first fire and two more for a minute evaluated
/// after the restart. (A crash before the state file says the page went out sends it again:
/// `alert/tests/live.rs`.)
#[test]
fn a_firing_alert_is_not_notified_again_after_a_crash_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (url, bodies) = webhook_receiver();
    // `quiet` never sends: every watched minute has count 0, so the rule fires on the
    // first minute the server watches whole, and the condition goes on holding.
    let rules = dir.path().join("rules.toml");
    std::fs::write(
        &rules,
        format!(
            "settle_seconds = 0\n\n[[webhook]]\nname = \"hook\"\nurl = \"{url}\"\nretry_backoff_ms = 100\n\n\
             [[rule]]\nid = \"quiet-silent\"\ndomain = \"quiet\"\nreport = \"transaction\"\n\
             measure = \"count\"\nbelow = 1.0\nnotify = [\"hook\"]\n"
        ),
    )
    .unwrap();
    let config = format!("[alert]\nrules = {:?}\n", rules.display().to_string());
    let (collector_port, web_port) = (free_port(), free_port());
    let rule_of = |server: &Server| -> Option<serde_json::Value> {
        Some(server.json("/api/alerts")?["rules"][0].clone())
    };

    let server = Server::start_with(&data, collector_port, web_port, false, &config);
    let fired = bodies
        .recv_timeout(Duration::from_secs(150))
        .expect("the rule did not fire within 150 s");
    assert_eq!(
        (fired["rule"].as_str(), fired["kind"].as_str()),
        (Some("quiet-silent"), Some("fired"))
    );
    let fired_minute = fired["minute"].as_u64().unwrap();
    // Saved at the tick that fired, with the page as not sent yet (a crash then sends it
    // again at the next start); saved again at a later tick (every 10 s) once it was sent.
    let state = data.join("alerts").join("state.json");
    eventually(Duration::from_secs(30), || {
        let text = std::fs::read_to_string(&state).ok()?;
        let saved: serde_json::Value = serde_json::from_str(&text).ok()?;
        let sent = saved["unsent"].as_array().is_some_and(Vec::is_empty);
        (text.contains("\"firing\"") && sent).then_some(())
    })
    .expect("the firing state, its page sent, was not saved");
    server.kill9();

    let server = Server::start_with(&data, collector_port, web_port, false, &config);
    let rule = rule_of(&server).unwrap();
    assert_eq!(rule["phase"], "firing", "{rule}");
    // Every page says so, not only the Alerts page.
    let home = eventually(Duration::from_secs(15), || {
        let (status, body) = server.get("/");
        (status == 200 && body.contains("1 alert firing")).then_some(body)
    })
    .expect("Home does not say that a rule is firing");
    assert!(
        home.contains(r#"<span class="rule">quiet-silent</span>"#)
            && home.contains(">Alerts (1)</a>"),
        "{home}"
    );
    let alerts = server.json("/api/alerts").unwrap();
    assert_eq!(alerts["events"][0]["minute"], fired_minute, "{alerts}");
    // A minute evaluated since the restart, the condition still holding: still firing,
    // and no second notification.
    let restored_time = rule["lastTime"].clone();
    let rule = eventually(Duration::from_secs(150), || {
        let rule = rule_of(&server)?;
        (rule["lastTime"] != restored_time).then_some(rule)
    })
    .expect("no minute evaluated within 150 s of the restart");
    assert_eq!(rule["phase"], "firing", "{rule}");
    assert_eq!(rule["lastValue"], 0.0, "{rule}");
    let again = bodies.recv_timeout(Duration::from_secs(2));
    assert!(
        again.is_err(),
        "notified again after the restart: {again:?}"
    );
    let alerts = server.json("/api/alerts").unwrap();
    assert_eq!(alerts["counters"]["fired"], 0, "{alerts}");
    assert!(server.stop().success());
}

/// `ocelot serve` with its stdout piped to the test; killed if the test fails.
struct Piped {
    child: std::process::Child,
    stdout: Option<std::io::Lines<std::io::BufReader<std::process::ChildStdout>>>,
}

impl Drop for Piped {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `ocelot serve` with checkpoints far apart (so only the final one, at the stop,
/// writes the reports), stderr into the file `stderr` and stdout piped; returns once it
/// printed its last start-up line.
fn start_with_output(
    data: &std::path::Path,
    collector_port: u16,
    web_port: u16,
    stderr: &std::path::Path,
) -> Piped {
    start_logging(data, collector_port, web_port, stderr, "warn")
}

/// [`start_with_output`] with `RUST_LOG` set to `log`.
fn start_logging(
    data: &std::path::Path,
    collector_port: u16,
    web_port: u16,
    stderr: &std::path::Path,
    log: &str,
) -> Piped {
    use std::io::BufRead as _;
    let config = "[collector]\ncheckpoint_interval_secs = 3600\n";
    let mut child = common::serve_command(data, collector_port, web_port, config)
        .env("RUST_LOG", log)
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(stderr).unwrap())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut piped = Piped {
        child,
        stdout: None,
    };
    while let Some(line) = lines.next() {
        if line.unwrap().contains("Ctrl-C to stop") {
            piped.stdout = Some(lines);
            return piped;
        }
    }
    panic!("ocelot serve ended before it was running");
}

/// Logs one tree of `domain` with the SDK and waits until the live report counts it.
fn log_one_tree(domain: &str, collector_port: u16, web_port: u16, marks: &std::path::Path) {
    let client = sdk_client(domain, ([127, 0, 0, 1], collector_port).into(), marks);
    client.bind_to_current_thread();
    drop(ocelot_client::transaction!("URL", "/stop"));
    let web = ([127, 0, 0, 1], web_port).into();
    eventually(Duration::from_secs(5), || {
        let (status, body) = common::http_get(
            web,
            &format!("/api/transaction?domain={domain}&hour=current"),
        );
        let report: serde_json::Value = serde_json::from_str(&body).ok()?;
        (status == 200 && transaction_count(&report, "URL", None) == 1).then_some(())
    })
    .expect("the tree is not in the live report within 5 s");
    client.shutdown(Duration::from_secs(2));
}

#[test]
fn a_stdout_nobody_reads_any_more_does_not_cost_the_final_checkpoint() {
    // `ocelot serve | tee log`, and the Ctrl-C that stops the server ended `tee` too.
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (collector_port, web_port) = (free_port(), free_port());
    let mut server = start_with_output(&data, collector_port, web_port, &dir.path().join("stderr"));
    log_one_tree("pipe-app", collector_port, web_port, dir.path());
    drop(server.stdout.take());
    let status = common::signal_and_wait(&mut server.child, "-TERM");
    let stderr = std::fs::read_to_string(dir.path().join("stderr")).unwrap();
    assert!(status.success(), "{status}: {stderr}");
    let hour = ocelot_protocol::hour_of(now_ms());
    let written = [hour - 1, hour].iter().any(|h| {
        data.join(format!("{h}/pipe-app/reports/transaction.report"))
            .is_file()
    });
    assert!(written, "the final checkpoint did not write the report");
}

#[test]
fn a_final_checkpoint_that_cannot_be_written_fails_the_stop_and_says_what_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // A file where the domain's reports folder goes: its reports cannot be written, as on
    // a full disk (this and the next hour, should the hour turn during the test).
    let hour = ocelot_protocol::hour_of(now_ms());
    for h in [hour, hour + 1] {
        let domain_dir = data.join(format!("{h}/lost-app"));
        std::fs::create_dir_all(&domain_dir).unwrap();
        std::fs::write(domain_dir.join("reports"), b"").unwrap();
    }
    let (collector_port, web_port) = (free_port(), free_port());
    let stderr_path = dir.path().join("stderr");
    let mut server = start_with_output(&data, collector_port, web_port, &stderr_path);
    log_one_tree("lost-app", collector_port, web_port, dir.path());
    let status = common::signal_and_wait(&mut server.child, "-TERM");
    let said: Vec<String> = server.stdout.take().unwrap().map(Result::unwrap).collect();
    let stderr = std::fs::read_to_string(&stderr_path).unwrap();
    assert_eq!(status.code(), Some(1), "{said:?} {stderr}");
    // The hour and the domain are named: an operator knows what is lost.
    let named = [hour, hour + 1].iter().any(|h| {
        stderr.contains(&format!(
            "the reports since the last checkpoint of the open hour {h} ("
        )) && stderr.contains(") are lost for domain lost-app")
    });
    assert!(
        stderr.contains("the final flush failed: ") && named,
        "{stderr}"
    );
    assert!(!said.iter().any(|l| l.starts_with("Stopped")), "{said:?}");
}

/// A start on a damaged data directory names every domain-hour it could not repair (the
/// warning was throttled, so only the first was named and the others were silent).
#[test]
fn a_start_names_every_domain_hour_it_could_not_repair() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let hour = hour_of(now_ms());
    let damaged = [(hour - 1, "cart"), (hour, "cart"), (hour, "shop")];
    for (h, domain) in damaged {
        // Left unclean, with an index file's name taken by a folder: the repair fails.
        let domain_dir = data.join(format!("{h}/{domain}"));
        std::fs::create_dir_all(domain_dir.join("0a000001.idx")).unwrap();
        std::fs::write(domain_dir.join("messages.dat"), b"").unwrap();
    }
    let stderr_path = dir.path().join("stderr");
    let mut server = start_with_output(&data, free_port(), free_port(), &stderr_path);
    let status = common::signal_and_wait(&mut server.child, "-TERM");
    let stderr = std::fs::read_to_string(&stderr_path).unwrap();
    assert!(status.success(), "{status}: {stderr}");
    assert!(
        stderr.contains("store recovery failed for 3 domain-hours"),
        "{stderr}"
    );
    for (h, domain) in damaged {
        assert!(
            stderr.contains(&format!("{h}/{domain} (I/O error on ")),
            "{stderr}"
        );
    }
}

/// The lines `server` prints from now on, as they come.
fn lines_of(server: &mut Piped) -> std::sync::mpsc::Receiver<String> {
    let lines = server.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Waits (at most 30 s) for a line of `lines` that starts with `start`, and returns it.
fn line_starting(lines: &std::sync::mpsc::Receiver<String>, start: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if line.starts_with(start) => return line,
            Ok(_) => {}
            Err(e) => panic!("no line starting {start:?} within 30 s ({e})"),
        }
    }
}

/// Sends `signal` (a `kill` option such as `-INT`) to `child`.
fn send(child: &std::process::Child, signal: &str) {
    let status = std::process::Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill {signal}: {status}");
}

/// Makes the stop of a server that counted a tree of `domain` wait until the process
/// ends: a FIFO where the final checkpoint writes the domain's Transaction report
/// (`.transaction.report.tmp`, then renamed), which nobody opens for reading, so opening
/// it to write waits for good. For this hour and the next, should the hour turn.
fn hold_the_final_checkpoint(data: &std::path::Path, domain: &str) {
    let hour = ocelot_protocol::hour_of(now_ms());
    for h in [hour, hour + 1] {
        let reports = data.join(format!("{h}/{domain}/reports"));
        std::fs::create_dir_all(&reports).unwrap();
        let status = std::process::Command::new("mkfifo")
            .arg(reports.join(".transaction.report.tmp"))
            .status()
            .unwrap();
        assert!(status.success(), "mkfifo: {status}");
    }
}

#[test]
fn a_ctrl_c_stops_the_server_cleanly_with_a_final_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (collector_port, web_port) = (free_port(), free_port());
    let stderr_path = dir.path().join("stderr");
    let mut server = start_with_output(&data, collector_port, web_port, &stderr_path);
    log_one_tree("int-app", collector_port, web_port, dir.path());
    let status = common::signal_and_wait(&mut server.child, "-INT");
    let said: Vec<String> = server.stdout.take().unwrap().map(Result::unwrap).collect();
    let stderr = std::fs::read_to_string(&stderr_path).unwrap();
    assert_eq!(status.code(), Some(0), "{said:?} {stderr}");
    assert_eq!(said.last().map(String::as_str), Some("Stopped cleanly."));
    let hour = ocelot_protocol::hour_of(now_ms());
    let written = [hour - 1, hour].iter().any(|h| {
        data.join(format!("{h}/int-app/reports/transaction.report"))
            .is_file()
    });
    assert!(written, "the final checkpoint did not write the report");
}

/// Trees stamped five hours ago are dropped (out of the hour window) and counted on
/// `/metrics`; a TERM then printed "Stopped cleanly.", and after other drops a count that
/// left these out. The stop's count is what `/metrics` adds up to.
#[test]
fn a_stop_after_dropped_trees_says_how_many_as_metrics_does_and_not_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (collector_port, web_port) = (free_port(), free_port());
    let stderr_path = dir.path().join("stderr");
    let mut server = start_with_output(&data, collector_port, web_port, &stderr_path);
    let old_ms = now_ms() - 5 * 3_600_000;
    let mut conn = TcpStream::connect(("127.0.0.1", collector_port)).unwrap();
    for seq in 0..3 {
        let header = ocelot_protocol::Header {
            domain: "late-app".into(),
            ip_address: "10.0.0.1".into(),
            message_id: format!("late-app-0a000001-{}-{seq}", hour_of(old_ms)),
            ..Default::default()
        };
        let root = ocelot_protocol::Transaction::new("URL", "/late", old_ms);
        let tree = ocelot_protocol::MessageTree::new(header, Message::Transaction(root));
        conn.write_all(&nt1::encode_to_bytes(&tree)).unwrap();
    }
    let web = ([127, 0, 0, 1], web_port).into();
    eventually(Duration::from_secs(5), || {
        let (_, body) = common::http_get(web, "/metrics");
        body.contains("ocelot_dropped_trees_total{stage=\"collector\",reason=\"out_of_window\"} 3")
            .then_some(())
    })
    .expect("the three late trees are not counted on /metrics");
    let status = common::signal_and_wait(&mut server.child, "-TERM");
    let said: Vec<String> = server.stdout.take().unwrap().map(Result::unwrap).collect();
    let stderr = std::fs::read_to_string(&stderr_path).unwrap();
    assert_eq!(status.code(), Some(0), "{said:?} {stderr}");
    let last = said.last().cloned().unwrap_or_default();
    assert!(
        last.starts_with("Stopped. ") && last.contains("but 3 trees were dropped since the start"),
        "{said:?}"
    );
}

#[test]
fn a_second_ctrl_c_during_the_stop_ends_the_process_at_once_with_130() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    hold_the_final_checkpoint(&data, "held-app");
    let (collector_port, web_port) = (free_port(), free_port());
    let stderr_path = dir.path().join("stderr");
    let mut server = start_with_output(&data, collector_port, web_port, &stderr_path);
    log_one_tree("held-app", collector_port, web_port, dir.path());
    let lines = lines_of(&mut server);
    send(&server.child, "-INT");
    line_starting(&lines, "Stopping: ");
    // The stop waits on the FIFO until the process ends: whatever ends it is the second
    // Ctrl-C (within the 30 s `signal_and_wait` allows, where the stop's own bound is 20 s).
    assert!(server.child.try_wait().unwrap().is_none());
    let status = common::signal_and_wait(&mut server.child, "-INT");
    let stderr = std::fs::read_to_string(&stderr_path).unwrap();
    assert_eq!(status.code(), Some(130), "{stderr}");
    let said = line_starting(&lines, "Stopped");
    assert!(said.starts_with("Stopped at once: "), "{said}");
}

/// `timeout` and supervisors that signal the process and then its group send two TERMs:
/// the second stopped at once (exit 130, no final checkpoint). Only a second Ctrl-C does.
#[test]
fn a_term_or_hangup_during_the_stop_does_not_stop_at_once_and_a_ctrl_c_does() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    hold_the_final_checkpoint(&data, "hup-app");
    let (collector_port, web_port) = (free_port(), free_port());
    let stderr_path = dir.path().join("stderr");
    let mut server = start_with_output(&data, collector_port, web_port, &stderr_path);
    log_one_tree("hup-app", collector_port, web_port, dir.path());
    let lines = lines_of(&mut server);
    send(&server.child, "-TERM");
    line_starting(&lines, "Stopping: ");
    send(&server.child, "-TERM");
    line_starting(&lines, "A TERM does not stop at once");
    // A closed terminal may send HUP twice: the stop goes on.
    send(&server.child, "-HUP");
    line_starting(&lines, "A hangup does not stop at once");
    assert!(server.child.try_wait().unwrap().is_none());
    let status = common::signal_and_wait(&mut server.child, "-INT");
    let stderr = std::fs::read_to_string(&stderr_path).unwrap();
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(line_starting(&lines, "Stopped").starts_with("Stopped at once: "));
}

/// Takes the stop's bound, 20 s.
#[test]
fn a_stop_that_cannot_finish_ends_the_process_at_its_bound_with_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    hold_the_final_checkpoint(&data, "stuck-app");
    let (collector_port, web_port) = (free_port(), free_port());
    let stderr_path = dir.path().join("stderr");
    let mut server = start_with_output(&data, collector_port, web_port, &stderr_path);
    log_one_tree("stuck-app", collector_port, web_port, dir.path());
    let lines = lines_of(&mut server);
    send(&server.child, "-INT");
    line_starting(&lines, "Stopping: ");
    // The bound, and then some for a loaded machine.
    let deadline = Instant::now() + Duration::from_secs(90);
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "still running 90 s after the stop began"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let stderr = std::fs::read_to_string(&stderr_path).unwrap();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("shutdown did not finish within 20s"),
        "{stderr}"
    );
}

/// A PT1 client in another zone than the one configured sends every tree hours off, all
/// counted out of window: the log says so once, and names the setting that fixes it.
#[test]
fn pt1_trees_from_another_zone_are_logged_with_the_setting_to_fix() {
    use ocelot_protocol::{Header, MessageTree, Transaction};
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (collector_port, web_port) = (free_port(), free_port());
    let stderr = dir.path().join("serve.err");
    // The default reads PT1 times as UTC+8; this client writes UTC.
    let mut child = common::serve_command(&data, collector_port, web_port, "")
        .stdout(std::fs::File::create(dir.path().join("serve.log")).unwrap())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .unwrap();
    let header = Header {
        domain: "zoned".into(),
        ip_address: "10.0.0.7".into(),
        message_id: format!("zoned-0a000007-{}-1", hour_of(now_ms())),
        ..Header::default()
    };
    let tree = MessageTree::new(
        header,
        Message::Transaction(Transaction::new("URL", "/z", now_ms())),
    );
    let frame = ocelot_protocol::pt1::encode_to_bytes(&tree, 0);
    let collector = ("127.0.0.1", collector_port);
    let mut client = eventually(Duration::from_secs(10), || {
        TcpStream::connect(collector).ok()
    })
    .expect("the collector listens");
    client.write_all(&frame).unwrap();
    let web: std::net::SocketAddr = format!("127.0.0.1:{web_port}").parse().unwrap();
    let counted = eventually(Duration::from_secs(10), || {
        let (status, body) = common::http_get(web, "/metrics");
        (status == 200 && body.contains("reason=\"out_of_window\"} 1")).then_some(())
    });
    assert!(common::signal_and_wait(&mut child, "-TERM").success());
    let log = std::fs::read_to_string(&stderr).unwrap();
    assert!(counted.is_some(), "{log}");
    assert!(
        log.contains("PT1") && log.contains("collector.pt1_utc_offset_seconds"),
        "{log}"
    );
}

/// The start-up lines ask for credentials only while there are none.
#[test]
fn the_start_up_lines_ask_for_credentials_only_without_a_login() {
    for (config, asks) in [
        ("", true),
        ("[web]\nusername = \"ops\"\npassword = \"s3cret\"\n", false),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let stdout = dir.path().join("serve.log");
        let mut child =
            common::serve_command(&dir.path().join("data"), free_port(), free_port(), config)
                .stdout(std::fs::File::create(&stdout).unwrap())
                .stderr(std::fs::File::create(dir.path().join("serve.err")).unwrap())
                .spawn()
                .unwrap();
        let lines = eventually(Duration::from_secs(20), || {
            let text = std::fs::read_to_string(&stdout).unwrap_or_default();
            text.contains("data in").then_some(text)
        });
        assert!(common::signal_and_wait(&mut child, "-TERM").success());
        let lines = lines.expect("the start-up lines are printed");
        assert!(lines.contains("listens on 127.0.0.1 only"), "{lines}");
        assert_eq!(
            lines.contains("and credentials"),
            asks,
            "{config:?}: {lines}"
        );
    }
}

/// Relative paths in the configuration are taken from the working directory, not the
/// file's: the start-up lines and the log give the data directory and the rules file as
/// absolute paths, so an operator sees where the data goes.
#[test]
fn the_start_up_lines_name_the_data_directory_and_rules_file_as_absolute_paths() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    std::fs::write(work.join("rules.toml"), "").unwrap();
    let config = dir.path().join("ocelot.toml");
    std::fs::write(
        &config,
        "[store]\ndir = \"reldata\"\n\n[alert]\nrules = \"rules.toml\"\n",
    )
    .unwrap();
    let (stdout, stderr) = (dir.path().join("serve.log"), dir.path().join("serve.err"));
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ocelot"))
        .arg("serve")
        .arg("--config")
        .arg(&config)
        .args(["--collector-listen", &format!("127.0.0.1:{}", free_port())])
        .args(["--web-listen", &format!("127.0.0.1:{}", free_port())])
        .current_dir(&work)
        .env("RUST_LOG", "info")
        .stdin(std::process::Stdio::null())
        .stdout(std::fs::File::create(&stdout).unwrap())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .unwrap();
    let lines = eventually(Duration::from_secs(20), || {
        let text = std::fs::read_to_string(&stdout).unwrap_or_default();
        text.contains("Ctrl-C to stop").then_some(text)
    });
    assert!(common::signal_and_wait(&mut child, "-TERM").success());
    let lines = lines.expect("the start-up lines are printed");
    let log = std::fs::read_to_string(&stderr).unwrap();
    // The working directory as the process sees it (symbolic links resolved).
    let work = work.canonicalize().unwrap();
    let (data, rules) = (work.join("reldata"), work.join("rules.toml"));
    assert!(data.is_dir());
    assert!(
        lines.contains(&format!("  data in {} (", data.display())),
        "{lines}"
    );
    assert!(
        lines.contains(&format!("  alert rules from {}\n", rules.display())),
        "{lines}"
    );
    assert!(
        log.contains(&format!("data_dir={} ", data.display()))
            && log.contains(&format!("rules={} (0 rules)", rules.display())),
        "{log}"
    );
}

/// After "Stopped cleanly." the next start logged that the trees after the checkpoint, up
/// to the stop, were not in the hour's reports, though the stop had written a final
/// checkpoint. A crash after that start must still say they may be missing.
#[test]
fn a_restart_after_a_clean_stop_says_nothing_is_missing_and_after_a_crash_it_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (collector_port, web_port) = (free_port(), free_port());
    let stderr_path = dir.path().join("stderr");
    let mut server = start_with_output(&data, collector_port, web_port, &stderr_path);
    log_one_tree("clean-app", collector_port, web_port, dir.path());
    let status = common::signal_and_wait(&mut server.child, "-TERM");
    let said: Vec<String> = server.stdout.take().unwrap().map(Result::unwrap).collect();
    assert!(status.success(), "{status}: {said:?}");
    assert!(said.iter().any(|l| l == "Stopped cleanly."), "{said:?}");
    assert!(data.join(".clean-stop").is_file());

    let restarted = |name: &str| {
        let path = dir.path().join(name);
        let server = start_logging(&data, collector_port, web_port, &path, "info");
        (server, restore_line_logged(&path))
    };
    let (mut server, log) = restarted("stderr-after-stop");
    assert!(
        log.contains("written by a clean stop: nothing is missing from the hour's reports"),
        "{log}"
    );
    assert!(!log.contains("not in the hour's reports"), "{log}");
    // Serving: a crash from here on is no clean stop.
    assert!(!data.join(".clean-stop").exists());
    server.child.kill().unwrap();
    server.child.wait().unwrap();

    let (mut server, log) = restarted("stderr-after-crash");
    assert!(
        log.contains("are in the store but not in the hour's reports"),
        "{log}"
    );
    assert!(!log.contains("clean stop"), "{log}");
    assert!(common::signal_and_wait(&mut server.child, "-TERM").success());
}

/// The log at `path` once it holds the line of the hour's restore: the analyzer threads
/// parse the checkpoints and the line comes when the last is parsed, which may be after the
/// start-up lines say the server runs.
fn restore_line_logged(path: &std::path::Path) -> String {
    common::eventually(std::time::Duration::from_secs(20), || {
        let log = std::fs::read_to_string(path).unwrap();
        log.contains("continuing the hour from its checkpoint")
            .then_some(log)
    })
    .unwrap_or_else(|| std::fs::read_to_string(path).unwrap())
}

/// A rollback: an older build, which neither removes nor writes `.clean-stop`, ran on the
/// data directory after a clean stop of this one (its start wrote its pid in `.lock`) and
/// was killed. The marker it left is not the last server's: the next start said nothing
/// was missing.
#[test]
fn a_clean_stop_marker_left_behind_by_an_older_build_is_not_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (collector_port, web_port) = (free_port(), free_port());
    let stderr_path = dir.path().join("stderr");
    let mut server = start_with_output(&data, collector_port, web_port, &stderr_path);
    log_one_tree("rollback-app", collector_port, web_port, dir.path());
    assert!(common::signal_and_wait(&mut server.child, "-TERM").success());
    assert!(data.join(".clean-stop").is_file());
    // The older build's start, as it takes the directory.
    std::fs::write(data.join(".lock"), "4194305\n").unwrap();
    let path = dir.path().join("stderr-after-rollback");
    let mut server = start_logging(&data, collector_port, web_port, &path, "info");
    let log = restore_line_logged(&path);
    assert!(
        log.contains("the marker of the last clean stop (pid ")
            && log.contains("but a server (pid 4194305) took the directory after it"),
        "{log}"
    );
    assert!(!log.contains("written by a clean stop"), "{log}");
    assert!(common::signal_and_wait(&mut server.child, "-TERM").success());
}

/// `web.advertise` listing other nodes, as CAT's router lists its consumers: the start
/// says they are standbys, not shares of the load.
#[test]
fn a_start_warns_that_other_nodes_in_web_advertise_are_standbys() {
    let dir = tempfile::tempdir().unwrap();
    let (collector_port, web_port) = (free_port(), free_port());
    let stderr = dir.path().join("serve.err");
    let config = format!(
        "[web]\nadvertise = [\"127.0.0.1:{collector_port}\", \"127.0.0.2:{collector_port}\"]\n"
    );
    let mut child =
        common::serve_command(&dir.path().join("data"), collector_port, web_port, &config)
            .stdout(std::process::Stdio::piped())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
    use std::io::BufRead as _;
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let running = lines
        .by_ref()
        .map_while(Result::ok)
        .any(|l| l.contains("Ctrl-C to stop"));
    assert!(common::signal_and_wait(&mut child, "-TERM").success());
    let log = std::fs::read_to_string(&stderr).unwrap();
    assert!(running, "{log}");
    assert!(
        log.contains(&format!(
            "web.advertise also lists 127.0.0.2:{collector_port}: "
        )),
        "{log}"
    );
}

/// A start that failed on a collector port in use left a new data directory holding only
/// `.lock`; one that was there before is kept, as it was.
#[test]
fn a_start_that_fails_removes_the_data_directory_it_made_and_only_that() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let start = |data: &std::path::Path| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_ocelot"))
            .arg("serve")
            .arg("--data")
            .arg(data)
            .arg("--collector-listen")
            .arg(taken.local_addr().unwrap().to_string())
            .arg("--web-listen")
            .arg(format!("127.0.0.1:{}", free_port()))
            .env("RUST_LOG", "warn")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains("binding the collector port"), "{stderr}");
    };
    let new = dir.path().join("new-data");
    start(&new);
    assert!(
        !new.exists(),
        "{:?}",
        std::fs::read_dir(&new).unwrap().collect::<Vec<_>>()
    );
    // An empty directory that was there before stays (with the lock file it now has).
    let existing = dir.path().join("existing-data");
    std::fs::create_dir(&existing).unwrap();
    start(&existing);
    assert!(existing.is_dir());
}
