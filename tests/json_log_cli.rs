//! `--log-format json`: every line on stderr is a JSON event, a failed start and the stop
//! included (a log system reading it saw a server that simply went quiet).

mod common;

use std::io::BufRead as _;
use std::process::Stdio;

use common::free_port;

/// Every stderr line as JSON; panics, naming it, on a line that is not.
fn events(stderr: &str) -> Vec<serde_json::Value> {
    stderr
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect()
}

fn has(events: &[serde_json::Value], level: &str, starts: &str) -> bool {
    events.iter().any(|e| {
        e["level"] == level && e["message"].as_str().is_some_and(|m| m.starts_with(starts))
    })
}

#[test]
fn a_start_that_fails_is_a_json_error_event() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ocelot"))
        .args(["--log-format", "json", "serve", "--data"])
        .arg(dir.path().join("data"))
        .args([
            "--collector-listen",
            &taken.local_addr().unwrap().to_string(),
        ])
        .args(["--web-listen", &format!("127.0.0.1:{}", free_port())])
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let events = events(&stderr);
    assert!(
        has(&events, "ERROR", "binding the collector port "),
        "{stderr}"
    );
}

/// The stop's lines are events too (and still said on stdout, for a person).
#[test]
fn the_stop_is_logged_as_json_events() {
    let dir = tempfile::tempdir().unwrap();
    let stderr_path = dir.path().join("stderr");
    let mut child = common::serve_command(&dir.path().join("data"), free_port(), free_port(), "")
        .args(["--log-format", "json"])
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let running = lines
        .by_ref()
        .map_while(Result::ok)
        .any(|l| l.contains("Ctrl-C to stop"));
    assert!(running, "ocelot serve ended before it was running");
    let status = common::signal_and_wait(&mut child, "-TERM");
    let said: Vec<String> = lines.map_while(Result::ok).collect();
    let stderr = std::fs::read_to_string(&stderr_path).unwrap();
    assert!(status.success(), "{status}: {stderr}");
    assert_eq!(said.last().map(String::as_str), Some("Stopped cleanly."));
    let events = events(&stderr);
    let serving = events.iter().find(|e| e["message"] == "ocelot serving");
    assert!(
        serving.is_some_and(|e| e["version"].is_string() && e["commit"].is_string()),
        "{stderr}"
    );
    assert!(
        has(&events, "INFO", "Stopping: draining queues"),
        "{stderr}"
    );
    assert!(has(&events, "INFO", "Stopped cleanly."), "{stderr}");
}

/// Finding: `ocelot status`, `lookup` and `decode` said their problems as plain lines on
/// stderr under `--log-format json` (a cron job's `status` finding no server, say): each is
/// an ERROR event now, naming the command, with the same exit code.
#[test]
fn a_commands_problem_is_a_json_error_event() {
    let run = |args: &[&str], stdin: &[u8]| {
        use std::io::Write as _;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ocelot"))
            .args(["--log-format", "json"])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stdin).unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // Nothing listens on a port just freed.
    let url = format!("127.0.0.1:{}", free_port());
    let (code, stderr) = run(&["status", "--url", &url], b"");
    assert_eq!(code, Some(2), "{stderr}");
    let said = events(&stderr);
    assert!(has(&said, "ERROR", "cannot read http://"), "{stderr}");
    assert_eq!(said[0]["command"], "status", "{stderr}");

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let (code, stderr) = run(&["lookup", "--data", data, "shop-0a000001-498703-1"], b"");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        has(
            &events(&stderr),
            "ERROR",
            "no message shop-0a000001-498703-1"
        ),
        "{stderr}"
    );

    // A length prefix and then nothing: a truncated frame.
    let (code, stderr) = run(&["decode", "-"], &[0, 0, 0, 9]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        has(&events(&stderr), "ERROR", "stdin: byte offset 0"),
        "{stderr}"
    );
}
