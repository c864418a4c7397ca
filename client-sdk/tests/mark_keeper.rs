//! The message-ID mark file stays ahead of the counter while the sender thread is held
//! (name lookups, connects to collectors that do not answer): a crash then would otherwise
//! repeat the IDs drawn past the last reservation.

use std::io;
use std::time::{Duration, Instant};

use ocelot_client::{Client, Transport};

/// A transport whose every connect takes long and fails: the sender thread is held.
struct Stuck;

impl Transport for Stuck {
    fn ready(&mut self) -> bool {
        std::thread::sleep(Duration::from_secs(3));
        false
    }

    fn send(&mut self, _frames: &[u8]) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn the_mark_moves_ahead_of_ids_drawn_while_the_sender_is_held() {
    let marks = tempfile::tempdir().unwrap();
    let client = Client::builder()
        .domain("mark-keeper")
        .mark_dir(marks.path())
        .transport(Stuck)
        .heartbeat_interval(None)
        .build();
    // Let the sender start its first (long) connect.
    std::thread::sleep(Duration::from_millis(200));
    let mut last = 0;
    for _ in 0..50_000 {
        last = client.next_message_id().seq;
    }
    let mark = marks.path().join("mark-keeper.mark");
    let started = Instant::now();
    let reserved = loop {
        let text = std::fs::read_to_string(&mark).unwrap_or_default();
        let reserved: u64 = (text.split_whitespace().nth(1))
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        if reserved > last || started.elapsed() > Duration::from_millis(1_500) {
            break reserved;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        reserved > last,
        "the mark reserves up to {reserved} while IDs up to {last} are out"
    );
}
