//! The store's size cap (`StoreConfig::max_disk_bytes`): past it the oldest hours go, never
//! the current hour or the one before, and the log says what went and when the cap cannot
//! be met. A test binary of its own, as `retention_log.rs`: it reads the log.

mod common;

use std::collections::BTreeMap;

use common::log::{logged, start};
use common::{clock_hour, frame, open};
use ocelot_protocol::MessageId;
use ocelot_store::Store;

/// Bytes on disk per hour, as the store counts them.
fn bytes_by_hour(store: &Store) -> BTreeMap<u64, u64> {
    let mut by_hour = BTreeMap::new();
    for usage in store.stats().disk_use {
        *by_hour.entry(usage.hour).or_default() += usage.bytes;
    }
    by_hour
}

#[test]
fn past_its_cap_the_store_deletes_its_oldest_hours_but_never_the_current_or_the_one_before() {
    let _one_at_a_time = start();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let now = clock_hour();
    let hours = [now - 30, now - 20, now - 10, now - 1, now];
    let ids = |hour: u64| (0..40).map(move |seq| MessageId::new("shop", 1, hour, seq));
    let store = open(root); // no cap, no retention
    for &hour in &hours {
        for id in ids(hour) {
            store.append(&id, frame(&id, 3_000)).unwrap();
        }
    }
    store.shutdown();
    drop(store);
    let per_hour = bytes_by_hour(&open(root));
    assert_eq!(per_hour.keys().copied().collect::<Vec<_>>(), hours);

    // Room for the three newest hours: the two oldest go, oldest first.
    let newest_three: u64 = hours[2..].iter().map(|h| per_hour[h]).sum();
    let mut config = common::config(root);
    config.max_disk_bytes = newest_three + 1;
    let before = logged().len();
    let store = Store::open(config.clone()).unwrap();
    let log = logged()[before..].to_owned();
    assert_eq!(store.hours().unwrap(), hours[2..]);
    assert_eq!(store.stats().hours_deleted, 2);
    assert_eq!(store.stats().disk_cap_bytes, newest_three + 1);
    let old = MessageId::new("shop", 1, hours[0], 0);
    assert!(
        !matches!(store.lookup(&old), Ok(Some(_))),
        "a deleted hour's tree"
    );
    let kept = MessageId::new("shop", 1, hours[2], 0);
    assert!(matches!(store.lookup(&kept), Ok(Some(_))));
    let said: Vec<&str> = log.lines().filter(|l| l.contains("over its cap")).collect();
    assert_eq!(said.len(), 1, "{log}");
    assert!(
        said[0].contains(&format!("{}, {}", hours[0], hours[1])),
        "{log}"
    );
    // Under the cap, the next pass deletes nothing.
    assert_eq!(store.apply_size_cap(now), 0);
    store.shutdown();
    drop(store);

    // A cap the current and previous hours alone exceed: everything older goes, those two
    // stay, and a warning says the cap is not met.
    config.max_disk_bytes = 1;
    let before = logged().len();
    let store = Store::open(config).unwrap();
    let log = logged()[before..].to_owned();
    assert_eq!(store.hours().unwrap(), [now - 1, now]);
    assert!(
        log.lines()
            .any(|l| l.contains(" WARN ") && l.contains("raise the cap")),
        "{log}"
    );
    let previous = MessageId::new("shop", 1, now - 1, 0);
    assert!(matches!(store.lookup(&previous), Ok(Some(_))));
}

#[test]
fn without_a_cap_nothing_is_deleted_for_size() {
    let _one_at_a_time = start();
    let dir = tempfile::tempdir().unwrap();
    let now = clock_hour();
    let store = open(dir.path());
    let id = MessageId::new("shop", 1, now - 100, 1);
    store.append(&id, frame(&id, 100)).unwrap();
    store.flush().unwrap();
    assert_eq!(store.apply_size_cap(now), 0);
    assert_eq!(store.hours().unwrap(), [now - 100]);
}
