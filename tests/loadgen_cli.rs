//! `ocelot loadgen` against a collector that goes away: the run fails and says why.

use std::io::Read as _;
use std::net::{Shutdown, TcpListener};
use std::process::Command;

/// A collector that stops closes loadgen's connection; the write that finds it closed is a
/// broken pipe. The run exited 0 and printed nothing, as if everything had been sent: the
/// quiet exit is meant for a stdout whose reader went away, not for a socket.
#[test]
fn loadgen_fails_and_says_so_when_the_collector_closes_the_connection() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let target = listener.local_addr().unwrap().to_string();
    let collector = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        // As a stopping collector does: its FIN first, then the close once trees arrive.
        conn.shutdown(Shutdown::Write).unwrap();
        let mut first = [0u8; 1];
        conn.read_exact(&mut first).unwrap();
    });
    // More than the sockets buffer, so loadgen is still writing when the connection closes.
    let out = Command::new(env!("CARGO_BIN_EXE_ocelot"))
        .args(["loadgen", "--target", &target, "--trees", "50000"])
        .args(["--connections", "1", "--domains", "1"])
        .output()
        .unwrap();
    collector.join().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("ocelot: sending: "), "{stderr}");
}
