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

/// The first `RemoteCall` to a domain makes that domain's ID factory. Its mark lives in the
/// same directory: a directory that stalls must not hold up the call, which takes IDs with
/// the pid until a background thread has opened the mark.
#[test]
fn a_stalled_mark_directory_does_not_block_the_first_remote_call_to_a_domain() {
    let marks = tempfile::tempdir().unwrap();
    let (transport, _sink) = MemoryTransport::new();
    let client = Client::builder()
        .domain("caller-of-stalled")
        .heartbeat_interval(None)
        .mark_dir(marks.path())
        .transport(transport)
        .build();
    // Opening the callee's lock file for writing waits for a reader, as on a hung mount.
    let lock = marks.path().join("stalled-callee.lock");
    let made = std::process::Command::new("mkfifo").arg(&lock).status();
    if !made.is_ok_and(|s| s.success()) {
        eprintln!("skipped: no mkfifo");
        return;
    }
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let ctx = with_client(&client, || {
            let _t = transaction!("URL", "/order");
            Context::for_remote_call("stalled-callee", "Callee.call")
        });
        let _ = done_tx.send(ctx.map(|ctx| ctx.child_id));
    });
    let answered = done_rx.recv_timeout(PATIENCE);
    unstall_open(&lock);
    let child_id = answered
        .expect("Context::for_remote_call waited for the callee's mark")
        .expect("a context");
    let id: ocelot_protocol::MessageId = child_id.parse().unwrap();
    assert_eq!(id.domain, "stalled-callee");
    assert_eq!(
        id.pid,
        Some(std::process::id()),
        "until the mark is open, the pid keeps the IDs apart"
    );
}

/// Lets a thread waiting to open the FIFO for writing go on: a reader opened without waiting
/// for a writer and kept a moment (the opener keeps its end open: reading to the end, as
/// `unstall` does, would never end).
fn unstall_open(fifo: &Path) {
    use std::os::unix::fs::OpenOptionsExt;
    let reader = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(fifo);
    std::thread::sleep(Duration::from_millis(300));
    drop(reader);
}
