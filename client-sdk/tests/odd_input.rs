//! Odd input from the application neither hangs nor panics its thread.

mod support;

use std::error::Error;
use std::fmt;
use std::sync::mpsc;
use std::time::Duration;

use ocelot_client::{transaction, with_client, Client, MemoryTransport};
use support::{memory_client, sent_trees};

/// An error that names itself as its source: `source()` chains that loop exist in the wild
/// (hand-written wrappers that return `Some(self)` or point two errors at each other).
#[derive(Debug)]
struct OwnCause;

impl fmt::Display for OwnCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("loops")
    }
}

impl Error for OwnCause {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(self)
    }
}

#[test]
fn an_error_whose_source_chain_loops_is_logged_and_returns() {
    let (client, sink) = memory_client("looping-error");
    let (done_tx, done_rx) = mpsc::channel();
    let app = client.clone();
    std::thread::spawn(move || {
        with_client(&app, || {
            let t = transaction!("URL", "/loops");
            ocelot_client::error!(&OwnCause);
            t.fail(&OwnCause);
        });
        let _ = done_tx.send(());
    });
    assert!(
        done_rx.recv_timeout(Duration::from_secs(5)).is_ok(),
        "error! never returned on a looping source() chain"
    );
    let trees = sent_trees(&client, &sink);
    assert_eq!(trees.len(), 1);
    let event = &trees[0].root.children()[0];
    let data = event.as_leaf().expect("an event").data.as_str();
    assert!(data.starts_with("loops\nCaused by: loops"), "{data:.80}");
    assert!(data.ends_with("\nCaused by: ..."), "{data:.80}");
    assert!(data.len() < 1024, "{} bytes of data", data.len());
}

#[test]
fn a_queue_bound_too_large_to_allocate_still_builds_a_client() {
    let built = std::panic::catch_unwind(|| {
        let (transport, sink) = MemoryTransport::new();
        let client = Client::builder()
            .heartbeat_interval(None)
            .transport(transport)
            .queue_trees(usize::MAX)
            .build();
        (client, sink)
    });
    let (client, sink) = built.expect("queue_trees(usize::MAX) panicked in build");
    with_client(&client, || {
        let _t = transaction!("URL", "/after");
    });
    assert_eq!(sent_trees(&client, &sink).len(), 1);
}
