//! The cap on index files per domain-hour: the client (IP and pid) in a message ID is the
//! sender's to choose, and each new one made a file. A test binary of its own, as it looks
//! at the log (see `common::log`).

mod common;

use std::fs;

use common::log::{logged, start};
use common::{frame, id, HOUR};
use ocelot_protocol::MessageId;
use ocelot_store::{DropReason, Store};

fn index_files(root: &std::path::Path) -> usize {
    fs::read_dir(root.join(HOUR.to_string()).join("shop"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension() == Some("idx".as_ref()))
        .count()
}

/// 20 000 trees with an IP and pid of their own each made 20 000 index files (80 MB) in one
/// domain-hour, and nothing was counted or logged. Past the cap, a new client's trees are
/// dropped, counted and said; the clients taken go on, also after a restart, when the cap
/// counts the files already there.
#[test]
fn a_domain_hour_takes_trees_of_at_most_max_index_files_clients() {
    let _test = start();
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(dir.path());
    config.max_index_files_per_domain_hour = 3;
    let store = Store::open(config.clone()).unwrap();
    let with_pid = |ip: u32, pid: u32, seq: u64| MessageId {
        pid: Some(pid),
        ..id("shop", ip, seq)
    };
    let clients: Vec<MessageId> = (0..6).map(|n| with_pid(1, 100 + n, 1)).collect();
    for i in &clients {
        store.append(i, frame(i, 10)).unwrap();
    }
    // A client taken takes more trees; another domain has a cap of its own.
    let more = with_pid(1, 100, 2);
    let other = id("cart", 9, 1);
    for i in [&more, &other] {
        store.append(i, frame(i, 10)).unwrap();
    }
    store.flush().unwrap();
    for (n, i) in clients.iter().enumerate() {
        assert_eq!(store.lookup(i).unwrap().is_some(), n < 3, "{i}");
    }
    assert!(store.lookup(&more).unwrap().is_some());
    assert!(store.lookup(&other).unwrap().is_some());
    assert_eq!(store.stats().dropped(DropReason::TooManyIndexFiles), 3);
    assert_eq!(index_files(dir.path()), 3);
    let log = logged();
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("too_many_index_files"))
        .collect();
    assert_eq!(lines.len(), 1, "said once:\n{log}");
    assert!(lines[0].contains("WARN"), "{}", lines[0]);
    assert!(lines[0].contains("more than 3 clients"), "{}", lines[0]);
    assert!(
        lines[0].contains(&format!("{HOUR}/shop")),
        "names the domain-hour: {}",
        lines[0]
    );
    store.shutdown();
    drop(store);

    let store = Store::open(config).unwrap();
    let new_client = id("shop", 2, 1);
    let known_client = with_pid(1, 101, 2);
    for i in [&new_client, &known_client] {
        store.append(i, frame(i, 10)).unwrap();
    }
    store.flush().unwrap();
    assert_eq!(store.lookup(&new_client).unwrap(), None);
    assert!(store.lookup(&known_client).unwrap().is_some());
    assert_eq!(store.stats().dropped(DropReason::TooManyIndexFiles), 1);
    assert_eq!(index_files(dir.path()), 3);
}
