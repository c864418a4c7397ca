//! Helpers for the end-to-end tests: run the real `ocelot` binary on 127.0.0.1 ports and
//! talk to it over HTTP and TCP.

#![allow(dead_code)] // each test file uses a different subset

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free port on 127.0.0.1 (bound and released; fine for tests on one machine).
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `ocelot serve` on `data` and the given 127.0.0.1 ports, with `config` as its config file
/// (written in `data`), `RUST_LOG=warn` and no standard input. The caller sets stdout and
/// stderr.
pub(crate) fn serve_command(
    data: &Path,
    collector_port: u16,
    web_port: u16,
    config: &str,
) -> Command {
    std::fs::create_dir_all(data).unwrap();
    let config_file = data.join("test-ocelot.toml");
    std::fs::write(&config_file, config).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_ocelot"));
    command
        .arg("serve")
        .arg("--config")
        .arg(&config_file)
        .arg("--data")
        .arg(data)
        .arg("--collector-listen")
        .arg(format!("127.0.0.1:{collector_port}"))
        .arg("--web-listen")
        .arg(format!("127.0.0.1:{web_port}"))
        .env("RUST_LOG", "warn")
        // Not the test's terminal, where a HUP would stop the server.
        .stdin(Stdio::null());
    command
}

/// Sends `signal` (a `kill` option such as `-TERM`) to `child` and waits at most 30 s for
/// its exit.
pub(crate) fn signal_and_wait(child: &mut Child, signal: &str) -> std::process::ExitStatus {
    let pid = child.id().to_string();
    Command::new("kill").args([signal, &pid]).status().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "ocelot did not stop within 30 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A running `ocelot serve`.
pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) collector: SocketAddr,
    pub(crate) web: SocketAddr,
    pub(crate) data: PathBuf,
}

impl Server {
    /// Starts `ocelot serve` with `data` as its directory, the given ports, and a config
    /// that checkpoints every second. Waits until it prints its URL.
    pub(crate) fn start(data: &Path, collector_port: u16, web_port: u16, demo: bool) -> Server {
        Server::start_with(data, collector_port, web_port, demo, "")
    }

    /// Like [`Server::start`], with more config file text appended.
    pub(crate) fn start_with(
        data: &Path,
        collector_port: u16,
        web_port: u16,
        demo: bool,
        extra_config: &str,
    ) -> Server {
        let config = format!("[collector]\ncheckpoint_interval_secs = 1\n{extra_config}");
        let mut command = serve_command(data, collector_port, web_port, &config);
        command.stdout(Stdio::piped()).stderr(Stdio::inherit());
        let collector: SocketAddr = format!("127.0.0.1:{collector_port}").parse().unwrap();
        let web: SocketAddr = format!("127.0.0.1:{web_port}").parse().unwrap();
        if demo {
            command.arg("--demo");
        }
        let mut child = command.spawn().expect("starting ocelot serve");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            while let Some(Ok(line)) = lines.next() {
                if line.starts_with("Ocelot is running") {
                    let _ = tx.send(());
                }
            }
        });
        rx.recv_timeout(Duration::from_secs(30))
            .expect("ocelot serve did not start within 30 s");
        Server {
            child,
            collector,
            web,
            data: data.to_owned(),
        }
    }

    /// SIGKILL: no shutdown, no final checkpoint.
    pub(crate) fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM and wait for a clean exit.
    pub(crate) fn stop(self) -> std::process::ExitStatus {
        self.stop_with("-TERM")
    }

    /// Sends `signal` (a `kill` option such as `-HUP`) and waits for the exit.
    pub(crate) fn stop_with(mut self, signal: &str) -> std::process::ExitStatus {
        signal_and_wait(&mut self.child, signal)
    }

    /// GET `path`, returning the status code and body.
    pub(crate) fn get(&self, path: &str) -> (u16, String) {
        http_get(self.web, path)
    }

    /// GET `path` and parse a 200 answer as JSON.
    pub(crate) fn json(&self, path: &str) -> Option<serde_json::Value> {
        let (status, body) = self.get(path);
        (status == 200).then(|| serde_json::from_str(&body).unwrap())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A minimal HTTP/1.0 GET.
pub(crate) fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
        return (0, String::new());
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response).into_owned();
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return (0, text);
    };
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, body.to_owned())
}

/// Polls `check` every 20 ms until it returns `Some`, at most `within`.
pub(crate) fn eventually<T>(within: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = check() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The count of `type_` (and optionally `name`) in a `/api/transaction` answer.
pub(crate) fn transaction_count(
    report: &serde_json::Value,
    type_: &str,
    name: Option<&str>,
) -> u64 {
    let Some(t) = report["types"]
        .as_array()
        .and_then(|types| types.iter().find(|t| t["type"] == type_))
    else {
        return 0;
    };
    match name {
        None => t["count"].as_u64().unwrap_or(0),
        Some(name) => t["names"]
            .as_array()
            .and_then(|names| names.iter().find(|n| n["name"] == name))
            .and_then(|n| n["count"].as_u64())
            .unwrap_or(0),
    }
}

/// Current epoch milliseconds.
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}
