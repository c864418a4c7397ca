//! Disk full and I/O errors: counted, and nothing already written is damaged.

mod common;

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use common::{frame, id};
use ocelot_protocol::MessageId;
use ocelot_store::{DropReason, FileLayer, OsFiles, Store};

/// A disk that, while `full` is set, writes half of each data-file write and then fails
/// with "no space left", and refuses to truncate (the worst case for the writer).
#[derive(Debug, Default)]
struct FlakyDisk {
    full: AtomicBool,
    failures: AtomicU64,
    index_full: AtomicBool,
}

impl FileLayer for FlakyDisk {
    fn write_all_at(&self, file: &File, path: &Path, offset: u64, bytes: &[u8]) -> io::Result<()> {
        let is_index = path.extension().is_some_and(|e| e == "idx");
        if (is_index && self.index_full.load(Ordering::SeqCst))
            || (!is_index && self.full.load(Ordering::SeqCst))
        {
            self.failures.fetch_add(1, Ordering::SeqCst);
            OsFiles.write_all_at(file, path, offset, &bytes[..bytes.len() / 2])?;
            return Err(io::Error::new(
                io::ErrorKind::StorageFull,
                "no space left on device",
            ));
        }
        OsFiles.write_all_at(file, path, offset, bytes)
    }

    fn set_len(&self, file: &File, path: &Path, len: u64) -> io::Result<()> {
        if self.full.load(Ordering::SeqCst) {
            return Err(io::Error::new(
                io::ErrorKind::StorageFull,
                "no space left on device",
            ));
        }
        OsFiles.set_len(file, path, len)
    }
}

fn open_with(dir: &Path, disk: &Arc<FlakyDisk>) -> Store {
    let mut config = common::config(dir);
    config.file_layer = disk.clone();
    Store::open(config).unwrap()
}

/// Appends ten trees of one domain-hour while index writes fail, flushed; the disk is well
/// again when it returns the trees' IDs.
fn append_while_index_writes_fail(store: &Store, disk: &FlakyDisk) -> Vec<MessageId> {
    disk.index_full.store(true, Ordering::SeqCst);
    let ids: Vec<_> = (0..10).map(|s| id("shop", 1, s)).collect();
    for i in &ids {
        store.append(i, frame(i, 100)).unwrap();
    }
    store.flush().unwrap();
    assert!(store.stats().io_errors >= 1);
    disk.index_full.store(false, Ordering::SeqCst);
    ids
}

/// [`open_with`], closing a domain-hour after 300 ms idle (the default is a minute).
fn open_closing_soon(dir: &Path, disk: &Arc<FlakyDisk>) -> Store {
    let mut config = common::config(dir);
    config.file_layer = disk.clone();
    config.idle_close = std::time::Duration::from_millis(300);
    Store::open(config).unwrap()
}

#[test]
fn a_full_disk_drops_and_counts_new_trees_and_keeps_old_ones() {
    let dir = tempfile::tempdir().unwrap();
    let disk = Arc::new(FlakyDisk::default());
    let store = open_with(dir.path(), &disk);
    let before: Vec<_> = (0..20).map(|s| id("shop", 1, s)).collect();
    for i in &before {
        store.append(i, frame(i, 300)).unwrap();
    }
    store.flush().unwrap();

    disk.full.store(true, Ordering::SeqCst);
    let during: Vec<_> = (20..40).map(|s| id("shop", 1, s)).collect();
    for i in &during {
        store.append(i, frame(i, 300)).unwrap(); // append itself never fails on I/O
    }
    store.flush().unwrap();
    let stats = store.stats();
    assert_eq!(stats.dropped(DropReason::IoError), 20);
    assert!(stats.io_errors >= 1);
    for i in &before {
        assert_eq!(
            store.lookup(i).unwrap(),
            Some(frame(i, 300)),
            "old trees intact"
        );
    }
    for i in &during {
        assert_eq!(store.lookup(i).unwrap(), None);
    }

    disk.full.store(false, Ordering::SeqCst);
    let after: Vec<_> = (40..60).map(|s| id("shop", 1, s)).collect();
    for i in &after {
        store.append(i, frame(i, 300)).unwrap();
    }
    store.flush().unwrap();
    for i in before.iter().chain(&after) {
        assert_eq!(store.lookup(i).unwrap(), Some(frame(i, 300)), "{i}");
    }
    store.shutdown();
    drop(store);

    // And the next start agrees.
    let store = open_with(dir.path(), &disk);
    for i in before.iter().chain(&after) {
        assert_eq!(store.lookup(i).unwrap(), Some(frame(i, 300)), "{i}");
    }
}

#[test]
fn a_failed_index_write_is_repaired_at_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let disk = Arc::new(FlakyDisk::default());
    let store = open_with(dir.path(), &disk);
    let ids = append_while_index_writes_fail(&store, &disk);
    store.shutdown(); // does not mark the files clean: the index is incomplete
    drop(store);
    let store = open_with(dir.path(), &disk);
    assert_eq!(store.stats().recovered_files, 1);
    for i in &ids {
        assert_eq!(store.lookup(i).unwrap(), Some(frame(i, 100)), "{i}");
    }
}

#[test]
fn a_data_file_at_its_size_limit_refuses_and_counts_instead_of_wrapping() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(dir.path());
    config.max_data_file_bytes = 4096;
    let store = Store::open(config).unwrap();
    let mut stored = Vec::new();
    for s in 0..40 {
        let i = id("shop", 1, s);
        store.append(&i, frame(&i, 2000)).unwrap();
        store.flush().unwrap(); // one block each
        stored.push(i);
    }
    let stats = store.stats();
    let full = stats.dropped(DropReason::DataFileFull);
    assert!(full > 0 && full < 40, "{full}");
    let data = dir
        .path()
        .join(common::HOUR.to_string())
        .join("shop")
        .join("messages.dat");
    assert!(std::fs::metadata(data).unwrap().len() <= 4096);
    let found = stored
        .iter()
        .filter(|i| store.lookup(i).unwrap().is_some())
        .count() as u64;
    assert_eq!(found + full, 40);
    // Other domain-hours are unaffected.
    let other = id("other", 1, 1);
    store.append(&other, frame(&other, 10)).unwrap();
    store.flush().unwrap();
    assert!(store.lookup(&other).unwrap().is_some());
}

/// A domain-hour closed after a failed index write and reopened in the same run used to be
/// marked clean later, so the next start never rebuilt the lost entries.
#[test]
fn a_failed_index_write_is_repaired_even_when_the_domain_hour_was_reopened_since() {
    let dir = tempfile::tempdir().unwrap();
    let disk = Arc::new(FlakyDisk::default());
    let store = open_closing_soon(dir.path(), &disk);
    let ids = append_while_index_writes_fail(&store, &disk);
    // The domain-hour goes idle and is closed (unmarked, index incomplete)...
    std::thread::sleep(std::time::Duration::from_millis(1000));
    // ...then a later tree of the same hour reopens it, and a clean shutdown marks it.
    let later = id("shop", 1, 10);
    store.append(&later, frame(&later, 100)).unwrap();
    store.shutdown();
    drop(store);
    let store = open_with(dir.path(), &disk);
    let recovered = store.stats().recovered_files;
    let lost = ids
        .iter()
        .filter(|i| store.lookup(i).unwrap().is_none())
        .count();
    assert_eq!(
        lost, 0,
        "{lost} of 10 accepted trees are gone for good (recovered files: {recovered})"
    );
}

/// A torn record the writer could not cut off used to stay in a domain-hour closed and
/// reopened in the same run: new blocks went after it, and the next crash's recovery cut
/// them all away.
#[test]
fn trees_written_after_a_torn_record_survive_a_reopen_and_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let disk = Arc::new(FlakyDisk::default());
    let store = open_closing_soon(dir.path(), &disk);
    let before: Vec<_> = (0..5).map(|s| id("shop", 1, s)).collect();
    for i in &before {
        store.append(i, frame(i, 300)).unwrap();
    }
    store.flush().unwrap();
    disk.full.store(true, Ordering::SeqCst); // half a record written, truncate refused
    let during = id("shop", 1, 5);
    store.append(&during, frame(&during, 3000)).unwrap();
    store.flush().unwrap();
    disk.full.store(false, Ordering::SeqCst);
    std::thread::sleep(std::time::Duration::from_millis(1000)); // idle close
    let after: Vec<_> = (6..40).map(|s| id("shop", 1, s)).collect();
    for i in &after {
        store.append(i, frame(i, 300)).unwrap();
    }
    store.flush().unwrap();
    for i in &after {
        assert_eq!(
            store.lookup(i).unwrap(),
            Some(frame(i, 300)),
            "before restart {i}"
        );
    }
    store.crash_for_tests(); // later: kill -9, everything above flushed and indexed
    drop(store);
    let store = open_with(dir.path(), &disk);
    let results: Vec<_> = after.iter().map(|i| store.lookup(i)).collect();
    let lost = results.iter().filter(|r| !matches!(r, Ok(Some(_)))).count();
    let errors = results.iter().filter(|r| r.is_err()).count();
    assert_eq!(
        lost,
        0,
        "{lost} of {} trees stored after the failure are gone ({errors} lookups fail with an error)",
        after.len()
    );
}

/// An index write cut short by a full disk leaves the first bytes of an entry; once a later
/// entry extends the file, zeros complete them into an entry pointing at the wrong place.
/// Recovery used to keep any entry that pointed inside the data file, so the tree it should
/// have found stayed unfindable for good.
#[test]
fn an_entry_torn_by_a_full_disk_is_rebuilt_at_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let disk = Arc::new(FlakyDisk::default());
    let store = open_with(dir.path(), &disk);
    // Another client's trees first, so the next block's address needs three bytes.
    for s in 0..400 {
        let i = id("shop", 2, s);
        store.append(&i, frame(&i, 3000)).unwrap();
    }
    store.flush().unwrap();
    // One entry, half written: its first three bytes, the address's upper ones.
    disk.index_full.store(true, Ordering::SeqCst);
    let torn = id("shop", 1, 0);
    store.append(&torn, frame(&torn, 100)).unwrap();
    store.flush().unwrap();
    disk.index_full.store(false, Ordering::SeqCst);
    // The next entry extends the file past the torn one.
    let next = id("shop", 1, 1);
    store.append(&next, frame(&next, 100)).unwrap();
    store.flush().unwrap();
    store.shutdown(); // not marked clean: an index write failed
    drop(store);

    let store = open_with(dir.path(), &disk);
    assert_eq!(store.stats().recovered_files, 1);
    for i in [&torn, &next] {
        assert_eq!(store.lookup(i).unwrap(), Some(frame(i, 100)), "{i}");
    }
}

/// Reopening a domain-hour left unclean repairs it first, which reads its whole data file.
/// When that repair fails (the disk is still full), every later frame of the domain-hour
/// used to try it again: a whole-file scan per frame, which kept the writer from every
/// other domain.
#[test]
fn a_domain_hour_whose_repair_fails_is_not_repaired_again_for_every_frame() {
    let dir = tempfile::tempdir().unwrap();
    let disk = Arc::new(FlakyDisk::default());
    let store = open_closing_soon(dir.path(), &disk);
    append_while_index_writes_fail(&store, &disk);
    std::thread::sleep(std::time::Duration::from_millis(1000)); // idle close, unclean
                                                                // Still full: the repair cannot write the entries it rebuilds.
    disk.index_full.store(true, Ordering::SeqCst);
    let failures_before = disk.failures.load(Ordering::SeqCst);
    let later: Vec<_> = (10..60).map(|s| (id("shop", 1, s), 100)).collect();
    let refused = store.append_many(later.iter().map(|(i, n)| (i.clone(), frame(i, *n))));
    assert_eq!(refused, 0);
    store.flush().unwrap();
    let repairs = disk.failures.load(Ordering::SeqCst) - failures_before;
    assert_eq!(repairs, 1, "one failed repair, not one per frame");
    assert_eq!(store.stats().dropped(DropReason::IoError), 50);
    // The writer goes on with its other domains.
    disk.index_full.store(false, Ordering::SeqCst);
    let other = id("other", 1, 1);
    store.append(&other, frame(&other, 10)).unwrap();
    store.flush().unwrap();
    assert!(store.lookup(&other).unwrap().is_some());
    // A while later the domain-hour is tried again, and repaired.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let last = id("shop", 1, 60);
    store.append(&last, frame(&last, 100)).unwrap();
    store.flush().unwrap();
    assert_eq!(store.lookup(&last).unwrap(), Some(frame(&last, 100)));
    assert_eq!(store.stats().recovered_files, 1);
}

/// After an index write failed, the duplicate check no longer held the IDs of that write
/// and their entries were not (wholly) on disk: a second tree under such an ID was taken,
/// its entry written fine, and recovery kept that entry (it points at a frame of the ID).
/// So the second tree won over the first for good.
#[test]
fn a_duplicate_is_refused_after_its_first_trees_index_write_failed() {
    let dir = tempfile::tempdir().unwrap();
    let disk = Arc::new(FlakyDisk::default());
    let store = open_with(dir.path(), &disk);
    let ids = append_while_index_writes_fail(&store, &disk);
    for i in &ids {
        store.append(i, frame(i, 999)).unwrap();
    }
    store.flush().unwrap();
    assert_eq!(store.stats().dropped(DropReason::Duplicate), 10);
    for i in &ids {
        assert_ne!(store.lookup(i).unwrap(), Some(frame(i, 999)), "{i}");
    }
    store.shutdown(); // not marked clean: the next start rebuilds the index
    drop(store);
    let store = open_with(dir.path(), &disk);
    for i in &ids {
        assert_eq!(store.lookup(i).unwrap(), Some(frame(i, 100)), "{i}");
    }
}

/// A failed index write leaves the writer's idea of the index file's length past its end.
/// Entries that are not consecutive are written together with the bytes between them,
/// read first; that read then ran into the end of the file, so every later write of such
/// entries below the remembered length failed too, until the next recovery.
#[test]
fn one_failed_index_write_does_not_fail_later_ones() {
    let dir = tempfile::tempdir().unwrap();
    let disk = Arc::new(FlakyDisk::default());
    let store = open_with(dir.path(), &disk);
    disk.index_full.store(true, Ordering::SeqCst);
    // Even numbers: one span of entries, of which half the bytes reach the file.
    for s in (0..100).step_by(2) {
        let i = id("shop", 1, s);
        store.append(&i, frame(&i, 100)).unwrap();
    }
    store.flush().unwrap();
    let io_errors = store.stats().io_errors;
    assert!(io_errors >= 1);
    disk.index_full.store(false, Ordering::SeqCst);
    // Odd numbers past the written half, two apart: one span with a gap to read.
    let later: Vec<_> = [61, 63, 71, 73].map(|s| id("shop", 1, s)).to_vec();
    for pair in later.chunks(2) {
        for i in pair {
            store.append(i, frame(i, 100)).unwrap();
        }
        store.flush().unwrap();
    }
    assert_eq!(store.stats().io_errors, io_errors, "no more failed writes");
    for i in &later {
        assert_eq!(store.lookup(i).unwrap(), Some(frame(i, 100)), "{i}");
    }
}

/// An index page the file system cannot provide must fail the lookup, not the process. Found
/// on a full tmpfs: entries of trees dropped while it was full are holes, reading a hole
/// through a memory map needs a page the full tmpfs cannot give, and the server died of
/// SIGBUS at the first LogView click on such an ID. A file shorter than a map made of it
/// earlier is the same fault anywhere, so this is the test: with index files read through
/// (cached) maps, the second lookup below killed the test process.
#[test]
fn a_lookup_of_an_index_page_that_is_gone_is_no_entry_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let disk = Arc::new(FlakyDisk::default());
    let store = open_with(dir.path(), &disk);
    // Two pages of entries, so the one looked up is past the first page.
    let ids: Vec<_> = [1, 1500].map(|s| id("shop", 1, s)).to_vec();
    for i in &ids {
        store.append(i, frame(i, 100)).unwrap();
    }
    store.flush().unwrap();
    assert_eq!(store.lookup(&ids[1]).unwrap(), Some(frame(&ids[1], 100)));

    let index = walk(dir.path())
        .into_iter()
        .find(|p| p.extension().is_some_and(|e| e == "idx"))
        .expect("an index file");
    OpenOptions::new()
        .write(true)
        .open(&index)
        .unwrap()
        .set_len(6)
        .unwrap();
    assert_eq!(store.lookup(&ids[1]).unwrap(), None);
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// Reopening a domain-hour left unclean repairs it first. On a full disk that repair used to
/// fail at its last step, writing the clean marker (a new file) that the append right after
/// deletes anyway; the domain-hour was then refused for a second and repaired again, a scan
/// of its whole data file, every second, for every such domain while the disk stayed full.
#[test]
fn a_domain_hour_reopened_on_a_full_disk_is_repaired_without_writing_its_marker() {
    let dir = tempfile::tempdir().unwrap();
    let disk = Arc::new(FlakyDisk::default());
    let store = open_closing_soon(dir.path(), &disk);
    append_while_index_writes_fail(&store, &disk);
    std::thread::sleep(std::time::Duration::from_millis(1000)); // idle close, unclean

    // Full for data (and the marker), not for the index entries the repair rebuilds.
    disk.full.store(true, Ordering::SeqCst);
    let during = id("shop", 1, 10);
    store.append(&during, frame(&during, 100)).unwrap();
    store.flush().unwrap();
    assert_eq!(store.stats().recovered_files, 1, "repaired though full");
    assert_eq!(store.stats().dropped(DropReason::IoError), 1);

    // Space again: the next tree is stored at once, not refused until a retry is due.
    disk.full.store(false, Ordering::SeqCst);
    let after = id("shop", 1, 11);
    store.append(&after, frame(&after, 100)).unwrap();
    store.flush().unwrap();
    assert_eq!(store.lookup(&after).unwrap(), Some(frame(&after, 100)));
    assert_eq!(store.stats().recovered_files, 1, "repaired once");
    for s in 0..10 {
        let i = id("shop", 1, s);
        assert_eq!(store.lookup(&i).unwrap(), Some(frame(&i, 100)), "{i}");
    }
}

/// The banner and the State page said "the server's log names the file and the error": the
/// store kept counts only. It keeps its last failure: what it was doing, on which file, the
/// OS error's text, and when.
#[test]
fn the_last_failure_is_kept_with_its_file_and_error() {
    let dir = tempfile::tempdir().unwrap();
    let disk = Arc::new(FlakyDisk::default());
    let store = open_with(dir.path(), &disk);
    for seq in 0..2 {
        if seq == 1 {
            assert_eq!(store.last_error(), None);
            disk.full.store(true, Ordering::SeqCst);
        }
        let i = id("shop", 1, seq);
        store.append(&i, frame(&i, 300)).unwrap();
        store.flush().unwrap();
    }
    let hour_dir = dir.path().join(common::HOUR.to_string());
    let last = store.last_error().expect("the failed write is kept");
    assert_eq!(last.what, "writing a block to");
    let data = hour_dir.join("shop").join("messages.dat");
    assert_eq!(last.path, data.display().to_string());
    assert_eq!(last.error, "no space left on device");
    assert!(last.at_ms > 1_700_000_000_000, "{last:?}");
    assert_eq!(store.stats().last_error, Some(last));
    disk.full.store(false, Ordering::SeqCst);

    // A report whose folder cannot be made (a file has its name): failed, counted, kept.
    std::fs::write(hour_dir.join("other"), b"not a folder").unwrap();
    let errors = store.stats().io_errors;
    assert!(store
        .write_report(common::HOUR, "other", "transaction", b"{}")
        .is_err());
    assert_eq!(store.stats().io_errors, errors + 1);
    let last = store.last_error().expect("the failed report write is kept");
    assert_eq!(last.what, "writing a report to");
    assert!(
        last.path
            .starts_with(&hour_dir.join("other").display().to_string()),
        "{last:?}"
    );
    assert!(!last.error.is_empty(), "{last:?}");
    store.shutdown();
}

/// `ocelot status` kept showing the last failure, about a file in an hour the size cap or
/// retention had since deleted, until a newer failure came. Deleting its hour forgets it
/// (the count stays); deleting another hour does not.
#[test]
fn the_last_failure_is_forgotten_when_its_hour_is_deleted() {
    const DAYS: u64 = 3650;
    for by_size_cap in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let disk = Arc::new(FlakyDisk::default());
        let mut config = common::config(dir.path());
        config.file_layer = disk.clone();
        // The store's own passes come long after the test (a minute, with a cap).
        config.retention_interval = std::time::Duration::from_secs(86_400);
        if by_size_cap {
            config.max_disk_bytes = 1;
        } else {
            config.retention_days = DAYS as u32;
        }
        let store = Store::open(config).unwrap();
        let (older, hour) = (common::HOUR - 10, common::HOUR);
        for (at, seq) in [(older, 0), (hour, 0), (hour, 1)] {
            if seq == 1 {
                disk.full.store(true, Ordering::SeqCst);
            }
            let i = MessageId::new("shop", 1, at, seq);
            store.append(&i, frame(&i, 300)).unwrap();
            store.flush().unwrap();
        }
        disk.full.store(false, Ordering::SeqCst);
        let data = dir.path().join(hour.to_string()).join("shop/messages.dat");
        let last = store.last_error().expect("the failed write is kept");
        assert_eq!(last.path, data.display().to_string());
        let errors = store.stats().io_errors;

        // Deleting each hour the way the clock's pass would at `now`.
        let delete_before = |now: u64| {
            if by_size_cap {
                store.apply_size_cap(now)
            } else {
                store.apply_retention(now + DAYS * 24).unwrap()
            }
        };
        assert_eq!(delete_before(older + 2), 1, "by size cap: {by_size_cap}");
        assert_eq!(store.last_error(), Some(last), "its hour is still there");
        assert_eq!(delete_before(hour + 2), 1);
        assert!(!data.exists());
        assert_eq!(store.last_error(), None, "by size cap: {by_size_cap}");
        let stats = store.stats();
        assert_eq!((stats.io_errors, stats.last_error), (errors, None));
        store.shutdown();
    }
}
