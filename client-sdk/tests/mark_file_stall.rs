//! A mark directory on a file system that stalls (a hung NFS mount, a disk under heavy I/O
//! pressure) holds up the background thread writing the mark, and nothing else: an
//! application thread making a `RemoteCall` ID must not wait for that write.

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use ocelot_client::{transaction, with_client, Client, Context, MemoryTransport};

/// How long a `RemoteCall` may take before the test calls it blocked.
const PATIENCE: Duration = Duration::from_secs(3);

#[test]
fn a_stalled_mark_write_does_not_block_a_remote_call_on_an_app_thread() {
    let marks = tempfile::tempdir().unwrap();
    let (transport, _sink) = MemoryTransport::new();
    let client = Client::builder()
        .domain("stalled-mark")
        .heartbeat_interval(None)
        .mark_dir(marks.path())
        .transport(transport)
        .build();
    let remote_call = |client: &Client| {
        with_client(client, || {
            let _t = transaction!("URL", "/order");
            Context::for_remote_call("payment-service", "PaymentService.pay").is_some()
        })
    };
    // The callee's ID factory exists before the stall: the call below only looks it up.
    assert!(remote_call(&client));
    // The next mark write opens a FIFO nobody reads: it stalls, as on a hung file system.
    let tmp = marks.path().join("stalled-mark.mark.tmp");
    let made = std::process::Command::new("mkfifo").arg(&tmp).status();
    if !made.is_ok_and(|s| s.success()) {
        eprintln!("skipped: no mkfifo");
        return;
    }
    // Past half the reservation: the next persist must write.
    for _ in 0..20_000 {
        client.next_message_id();
    }
    // The mark keeper persists every 100 ms; let it reach the FIFO.
    std::thread::sleep(Duration::from_millis(500));

    let (done_tx, done_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done_tx.send(remote_call(&client));
    });
    let answered = done_rx.recv_timeout(PATIENCE);
    unstall(&tmp);
    assert_eq!(
        answered,
        Ok(true),
        "Context::for_remote_call waited for a mark write"
    );
}

/// Reads the FIFO once, so the stalled write (and the thread doing it) can go on.
fn unstall(fifo: &Path) {
    let _ = std::fs::read(fifo);
}
