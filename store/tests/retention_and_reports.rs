//! Retention of old hours, and the hourly reports kept beside the messages.

mod common;

use common::{clock_hour, frame, open, HOUR};
use ocelot_protocol::MessageId;
use ocelot_store::{AppendError, DropReason, Store};

#[test]
fn retention_deletes_hours_older_than_the_period_and_refuses_them_afterwards() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(dir.path());
    config.retention_days = 1;
    let store = Store::open(config).unwrap();
    let now = clock_hour();
    let ids: Vec<_> = (0..4)
        .map(|back| MessageId::new("shop", 1, now - back, 1))
        .collect();
    for i in &ids {
        store.append(i, frame(i, 10)).unwrap();
        store
            .write_report(i.hour, "shop", "transaction", b"{}")
            .unwrap();
    }
    store.flush().unwrap();
    for i in &ids {
        assert!(store.lookup(i).unwrap().is_some());
    }
    // One day after `now - 1`: hours before now - 1 are out.
    assert_eq!(store.apply_retention(now - 1 + 24).unwrap(), 2);
    assert_eq!(store.hours().unwrap(), [now - 1, now]);
    assert!(store.lookup(&ids[0]).unwrap().is_some());
    assert!(store.lookup(&ids[1]).unwrap().is_some());
    assert_eq!(store.lookup(&ids[2]).unwrap(), None);
    assert_eq!(
        store.read_report(now - 3, "shop", "transaction").unwrap(),
        None
    );
    let late = MessageId::new("shop", 1, now - 2, 2);
    assert!(matches!(
        store.append(&late, frame(&late, 1)),
        Err(AppendError::Expired { .. })
    ));
    // The horizon follows the clock back (one set a day ahead, then corrected): the hour
    // takes trees again, and what retention deleted stays deleted.
    assert_eq!(store.apply_retention(now).unwrap(), 0);
    store.append(&late, frame(&late, 1)).unwrap();
    store.flush().unwrap();
    assert!(store.lookup(&late).unwrap().is_some());
    assert_eq!(store.lookup(&ids[2]).unwrap(), None);
    let stats = store.stats();
    assert_eq!(stats.dropped(DropReason::Expired), 1);
    assert_eq!(stats.hours_deleted, 2);
}

#[test]
fn opening_a_store_applies_retention_by_the_clock() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()); // retention off
    let old = MessageId::new("shop", 1, clock_hour() - 24 * 3, 1);
    store.append(&old, frame(&old, 10)).unwrap();
    store.shutdown();
    drop(store);
    let mut config = common::config(dir.path());
    config.retention_days = 2;
    let store = Store::open(config).unwrap();
    assert!(store.hours().unwrap().is_empty());
    assert_eq!(store.lookup(&old).unwrap(), None);
}

#[test]
fn zero_retention_days_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let i = MessageId::new("shop", 1, 1, 1);
    store.append(&i, frame(&i, 10)).unwrap();
    store.flush().unwrap();
    assert_eq!(store.apply_retention(HOUR).unwrap(), 0);
    assert!(store.lookup(&i).unwrap().is_some());
}

#[test]
fn reports_are_written_atomically_and_listed() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    assert_eq!(
        store.read_report(HOUR, "shop", "transaction").unwrap(),
        None
    );
    store
        .write_report(HOUR, "shop", "transaction", b"v1")
        .unwrap();
    store
        .write_report(HOUR, "shop", "transaction", b"v2")
        .unwrap();
    store.write_report(HOUR, "shop", "event", b"e").unwrap();
    store.write_report(HOUR, "cart", "problem", b"p").unwrap();
    store
        .write_report(HOUR + 1, "shop", "transaction", b"next")
        .unwrap();
    assert_eq!(
        store
            .read_report(HOUR, "shop", "transaction")
            .unwrap()
            .as_deref(),
        Some(&b"v2"[..])
    );
    assert_eq!(store.report_domains(HOUR).unwrap(), ["cart", "shop"]);
    assert_eq!(
        store.report_names(HOUR, "shop").unwrap(),
        ["event", "transaction"]
    );
    assert_eq!(store.hours().unwrap(), [HOUR, HOUR + 1]);
    let reports = dir
        .path()
        .join(HOUR.to_string())
        .join("shop")
        .join("reports");
    let names: Vec<_> = std::fs::read_dir(reports)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 2, "no temporary files left: {names:?}");
    for bad in ["", "..", "a/b", ".tmp", "x\0"] {
        assert!(
            store.write_report(HOUR, "shop", bad, b"x").is_err(),
            "{bad:?}"
        );
    }
}

#[test]
fn domains_with_only_messages_are_not_report_domains() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let i = MessageId::new("shop", 1, HOUR, 1);
    store.append(&i, frame(&i, 10)).unwrap();
    store.flush().unwrap();
    assert!(store.report_domains(HOUR).unwrap().is_empty());
    let stats = store.stats();
    assert_eq!(stats.disk_use.len(), 1);
    assert_eq!(
        (stats.disk_use[0].hour, stats.disk_use[0].domain.as_str()),
        (HOUR, "shop")
    );
    assert!(stats.disk_use[0].bytes > 8);
}

/// A store that started empty said "0 B in 0 hours" for a minute after its first trees
/// were written: a walk that found nothing was kept as long as one of a large store.
#[test]
fn disk_use_of_a_small_store_is_walked_at_each_call() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    assert!(store.stats().disk_use.is_empty());
    let i = MessageId::new("shop", 1, HOUR, 1);
    store.append(&i, frame(&i, 10)).unwrap();
    store.flush().unwrap();
    assert_eq!(store.stats().disk_use.len(), 1);
}

#[test]
fn disk_use_of_a_large_store_is_walked_once_a_minute_and_again_after_retention_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let now = clock_hour();
    let mut config = common::config(dir.path());
    config.retention_days = 2;
    let store = Store::open(config).unwrap();
    let old = MessageId::new("shop", 1, now - 24, 1);
    store.append(&old, frame(&old, 10)).unwrap();
    store.flush().unwrap();
    // Enough files that a walk is worth keeping (report files: retention deletes only
    // what the store writes).
    let filler = dir.path().join(format!("{}/shop/reports", now - 24));
    std::fs::create_dir_all(&filler).unwrap();
    for n in 0..1_000 {
        std::fs::write(filler.join(format!("filler{n}.report")), b"").unwrap();
    }
    assert_eq!(store.stats().disk_use.len(), 1);
    // A scrape a few seconds later does not walk the folder again...
    let new = MessageId::new("cart", 1, now, 1);
    store.append(&new, frame(&new, 10)).unwrap();
    store.flush().unwrap();
    assert_eq!(store.stats().disk_use.len(), 1);
    // ...but deleted hours are not reported after retention.
    assert_eq!(store.apply_retention(now + 48).unwrap(), 1);
    let uses = store.stats().disk_use;
    assert_eq!(uses.len(), 1);
    assert_eq!(uses[0].domain, "cart");
}

#[test]
fn a_streamed_report_replaces_the_old_one_only_when_it_is_written_whole() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store
        .write_report(HOUR, "shop", "transaction", b"v1")
        .unwrap();
    // Larger than the write buffer, in many small writes, as a serializer makes them.
    let big: Vec<u8> = (0..200_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    store
        .write_report_with(HOUR, "shop", "transaction", |out| {
            big.chunks(7).try_for_each(|chunk| out.write_all(chunk))
        })
        .unwrap();
    assert_eq!(
        store.read_report(HOUR, "shop", "transaction").unwrap(),
        Some(big.clone())
    );
    // A writer that fails halfway: the error comes back and the last whole version stays.
    let err = store
        .write_report_with(HOUR, "shop", "transaction", |out| {
            out.write_all(b"half a rep")?;
            Err(std::io::Error::other("the serializer gave up"))
        })
        .unwrap_err();
    assert!(err.to_string().contains("the serializer gave up"), "{err}");
    assert_eq!(
        store.read_report(HOUR, "shop", "transaction").unwrap(),
        Some(big)
    );
    let leftovers: Vec<_> = std::fs::read_dir(
        dir.path()
            .join(HOUR.to_string())
            .join("shop")
            .join("reports"),
    )
    .unwrap()
    .map(|e| e.unwrap().file_name())
    .filter(|name| name.to_string_lossy().ends_with(".tmp"))
    .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    store.shutdown();
}

/// Marks `path` immutable (`chattr +i`) so that not even root can delete it, and undoes it
/// when dropped. `None` where the file system or the user cannot (tmpfs, overlayfs, no root).
struct Immutable(std::path::PathBuf);

impl Immutable {
    fn new(path: &std::path::Path) -> Option<Immutable> {
        let set = std::process::Command::new("chattr")
            .arg("+i")
            .arg(path)
            .output();
        matches!(set, Ok(out) if out.status.success()).then(|| Immutable(path.to_owned()))
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = std::process::Command::new("chattr")
            .arg("-i")
            .arg(&self.0)
            .status();
    }
}

#[test]
fn an_hour_retention_cannot_delete_neither_stops_the_start_nor_keeps_newer_hours() {
    let dir = tempfile::tempdir().unwrap();
    let now = clock_hour();
    let store = open(dir.path()); // retention off
    let stuck = MessageId::new("shop", 1, now - 24 * 6, 1);
    let old = MessageId::new("shop", 1, now - 24 * 5, 1);
    for i in [&stuck, &old] {
        store.append(i, frame(i, 10)).unwrap();
    }
    store.shutdown();
    drop(store);
    let data = dir
        .path()
        .join(stuck.hour.to_string())
        .join("shop")
        .join("messages.dat");
    let Some(_immutable) = Immutable::new(&data) else {
        eprintln!("skipped: chattr +i is not available here");
        return;
    };
    let mut config = common::config(dir.path());
    config.retention_days = 2;
    let store = Store::open(config).expect("opens although an expired hour cannot be deleted");
    let hours = store.hours().unwrap();
    assert!(hours.contains(&stuck.hour), "{hours:?}");
    assert!(
        !hours.contains(&old.hour),
        "a newer expired hour was kept: {hours:?}"
    );
    assert!(store.stats().io_errors >= 1);
    // The retention thread's later passes carry on the same way.
    let newer = MessageId::new("shop", 1, now - 1, 1);
    store.append(&newer, frame(&newer, 10)).unwrap();
    store.flush().unwrap();
    assert_eq!(store.apply_retention(now + 24 * 7).unwrap(), 1);
    assert_eq!(store.hours().unwrap(), [stuck.hour]);
}

#[test]
fn a_file_named_like_an_hour_is_neither_an_hour_nor_a_reason_not_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let now = clock_hour();
    let store = open(dir.path()); // retention off
    let old = MessageId::new("shop", 1, now - 24 * 5, 1);
    store.append(&old, frame(&old, 10)).unwrap();
    store.shutdown();
    drop(store);
    let stray = dir.path().join((now - 24 * 6).to_string());
    std::fs::write(&stray, b"x").unwrap();
    let mut config = common::config(dir.path());
    config.retention_days = 2;
    let store = Store::open(config).unwrap();
    assert_eq!(store.hours().unwrap(), Vec::<u64>::new());
    assert!(stray.is_file(), "left alone");
}

/// A stray file in an hour folder (a note, a core dump) used to fail the whole listing: its
/// "reports folder" is no folder. The collector restores an hour's checkpoints by this list,
/// so at a restart every domain of the hour started again from zero and its next
/// checkpoint overwrote what had been counted.
#[test]
fn a_stray_file_beside_the_domains_neither_hides_them_nor_fails_the_listing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store
        .write_report(HOUR, "shop", "transaction", b"t")
        .unwrap();
    store.write_report(HOUR, "cart", "event", b"e").unwrap();
    std::fs::write(dir.path().join(HOUR.to_string()).join("notes"), b"x").unwrap();
    assert_eq!(store.report_domains(HOUR).unwrap(), ["cart", "shop"]);
    assert!(store.report_names(HOUR, "notes").unwrap().is_empty());
}

/// The same for an entry whose reports cannot be listed at all (a symlink loop here; an
/// unreadable or damaged folder alike): the listing failed for the whole hour, so after a
/// restart every domain of the open hour started again from zero and its next checkpoint
/// overwrote what it had counted (reproduced with `ocelot serve`: 100 trees of each of two
/// domains, a `loop -> loop` symlink in the hour folder, a restart, one more tree: both
/// domains' stored reports then held one tree). The entry is left out, counted, and the
/// other domains are listed.
#[test]
fn an_unreadable_entry_beside_the_domains_does_not_fail_the_listing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store
        .write_report(HOUR, "shop", "transaction", b"t")
        .unwrap();
    store.write_report(HOUR, "cart", "event", b"e").unwrap();
    let hour_dir = dir.path().join(HOUR.to_string());
    std::os::unix::fs::symlink("loop", hour_dir.join("loop")).unwrap();
    let errors_before = store.stats().io_errors;
    assert_eq!(store.report_domains(HOUR).unwrap(), ["cart", "shop"]);
    assert!(
        store.stats().io_errors > errors_before,
        "the unreadable entry is counted"
    );
}

/// Two writers of one report (clones of a store are shared between threads) used the same
/// temporary file: the second's `create` emptied the file the first was still writing, and
/// each rename put the other's bytes in place, so a reader saw a mix of both versions.
#[test]
fn two_writers_of_one_report_never_leave_a_mix_of_both_readable() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let first: Vec<u8> = vec![b'a'; 100_000];
    let second: Vec<u8> = vec![b'b'; 100_000];
    let (halfway_tx, halfway_rx) = std::sync::mpsc::channel();
    let other = store.clone();
    let slow = std::thread::spawn({
        let first = first.clone();
        move || {
            other.write_report_with(HOUR, "shop", "transaction", |out| {
                out.write_all(&first[..50_000])?;
                out.flush()?;
                // The other writer comes while this one is halfway.
                halfway_tx.send(()).unwrap();
                std::thread::sleep(std::time::Duration::from_millis(300));
                out.write_all(&first[50_000..])
            })
        }
    });
    halfway_rx.recv().unwrap();
    store
        .write_report(HOUR, "shop", "transaction", &second)
        .unwrap();
    let slow = slow.join().unwrap();
    let read = store.read_report(HOUR, "shop", "transaction").unwrap();
    assert!(
        read.as_ref() == Some(&first) || read.as_ref() == Some(&second),
        "a mix of both versions: {} bytes, {} of them 'a'",
        read.as_ref().map_or(0, Vec::len),
        read.as_ref()
            .map_or(0, |r| r.iter().filter(|&&b| b == b'a').count())
    );
    slow.unwrap();
    store.shutdown();
}
