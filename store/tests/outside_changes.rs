//! Files changed from outside (a cleanup script deleting or cutting them, while the store
//! runs or is stopped), and what the store says in its log. A test binary of its own: its
//! log lines come from the writer threads, so they are caught by a global subscriber, and
//! its tests run one at a time to tell their lines apart (see `common::log`).

mod common;

use std::fs::{self, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::log::{logged, start};
use common::{frame, id, open, HOUR};
use ocelot_protocol::MessageId;
use ocelot_store::{DropReason, FileLayer, OsFiles, Store};

fn domain_dir(root: &Path, domain: &str) -> PathBuf {
    root.join(HOUR.to_string()).join(domain)
}

/// Appends the trees of `seqs` (client 1 of "shop") and writes their block.
fn append(store: &Store, seqs: std::ops::Range<u64>) -> Vec<MessageId> {
    let ids: Vec<_> = seqs.map(|s| id("shop", 1, s)).collect();
    for i in &ids {
        store.append(i, frame(i, 300)).unwrap();
    }
    store.flush().unwrap();
    ids
}

fn assert_found(store: &Store, ids: &[MessageId], when: &str) {
    for i in ids {
        assert_eq!(store.lookup(i).unwrap(), Some(frame(i, 300)), "{when}: {i}");
    }
}

fn assert_gone(store: &Store, ids: &[MessageId], when: &str) {
    for i in ids {
        assert_eq!(store.lookup(i).unwrap(), None, "{when}: {i}");
    }
}

/// The line of `log` that says `what`, which must be a warning.
fn warning<'a>(log: &'a str, what: &str) -> &'a str {
    let line = log
        .lines()
        .find(|l| l.contains(what))
        .unwrap_or_else(|| panic!("no line with {what:?}:\n{log}"));
    assert!(line.contains("WARN"), "{line}");
    line
}

/// A clean stop, then a start over the same folder.
fn restart(store: Store, root: &Path) -> Store {
    store.shutdown();
    drop(store);
    open(root)
}

/// Cuts the file at `path` to `len` bytes, as `truncate -s` does.
fn cut(path: &Path, len: u64) {
    OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(len)
        .unwrap();
}

/// Appends 30 trees of "shop", ten each from clients 0, 1 and 2, and writes no block.
fn append_three_clients(store: &Store) -> Vec<MessageId> {
    let ids: Vec<_> = (0..30).map(|s| id("shop", (s % 3) as u32, s)).collect();
    for i in &ids {
        store.append(i, frame(i, 300)).unwrap();
    }
    ids
}

/// A cleanup script deleted `messages.dat` while the server ran: the writer kept writing
/// into the deleted file, so every later tree of the domain-hour was lost, counted as
/// stored, and nothing was logged.
#[test]
fn a_data_file_deleted_while_open_is_said_counted_and_started_again() {
    let _test = start();
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let before = append(&store, 0..20);
    // Looked up once: the reader keeps their block, at the address the next file's first
    // block gets.
    assert_found(&store, &before, "before the deletion");
    let data = domain_dir(dir.path(), "shop").join("messages.dat");
    fs::remove_file(&data).unwrap();

    let after = append(&store, 20..30);
    assert_found(&store, &after, "after the deletion");
    assert_gone(&store, &before, "in the deleted file");
    let stats = store.stats();
    assert_eq!(stats.dropped(DropReason::IoError), 20, "the trees lost");
    assert!(stats.io_errors >= 1);
    let log = logged();
    let line = warning(&log, "deleted while Ocelot had it open");
    assert!(line.contains(&data.display().to_string()), "{line}");
    assert!(line.contains("the 20 trees written to it"), "{line}");

    // The next start agrees: what was written after the deletion is there.
    let store = restart(store, dir.path());
    assert_found(&store, &after, "after a restart");
    assert_gone(&store, &before, "after a restart");
}

#[test]
fn a_domain_folder_deleted_while_open_is_made_again() {
    let _test = start();
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let before = append(&store, 0..20);
    let folder = domain_dir(dir.path(), "shop");
    fs::remove_dir_all(&folder).unwrap();

    let after = append(&store, 20..30);
    assert_found(&store, &after, "after the deletion");
    assert_gone(&store, &before, "in the deleted folder");
    assert_eq!(store.stats().dropped(DropReason::IoError), 20);
    let log = logged();
    assert!(
        log.contains(&format!(
            "the folder {} was deleted while Ocelot had its files open",
            folder.display()
        )),
        "{log}"
    );
    let store = restart(store, dir.path());
    assert_found(&store, &after, "after a restart");
}

/// Deleted while no block was written after it: the domain-hour closed (idle, or at
/// shutdown) wrote a clean marker for the deleted file, and the old index entries pointed
/// into the next data file for good ("carries another message ID" at every lookup).
#[test]
fn a_data_file_deleted_before_its_domain_hour_closes_leaves_no_stale_index() {
    let _test = start();
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let before = append(&store, 0..20);
    fs::remove_file(domain_dir(dir.path(), "shop").join("messages.dat")).unwrap();
    store.shutdown();
    drop(store);
    assert!(logged().contains("deleted while Ocelot had it open"));

    let store = open(dir.path());
    let after = append(&store, 100..110);
    assert_found(&store, &after, "in the new file");
    assert_gone(&store, &before, "in the deleted file");
}

/// Writes `groups` of trees, a block each, and returns each group's IDs and the data
/// file's length after it.
fn blocks(
    store: &Store,
    groups: &[std::ops::Range<u64>],
    data: &Path,
) -> Vec<(Vec<MessageId>, u64)> {
    groups
        .iter()
        .map(|seqs| {
            let ids = append(store, seqs.clone());
            (ids, fs::metadata(data).unwrap().len())
        })
        .collect()
}

/// A data file cut while the server ran: the writer went on at its own offset, leaving a
/// gap of zeros, and the next repair cut the file at the gap, losing the trees written
/// after the cut, accepted and findable until then.
#[test]
fn a_data_file_cut_while_open_keeps_the_trees_written_after_the_cut() {
    let _test = start();
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let data = domain_dir(dir.path(), "shop").join("messages.dat");
    let written = blocks(&store, &[0..10, 10..20, 20..30], &data);
    // Cut inside the second block: it and the third are lost.
    cut(&data, (written[0].1 + written[1].1) / 2);

    let after = append(&store, 30..40);
    assert_found(&store, &written[0].0, "before the cut");
    assert_found(&store, &after, "after the cut");
    for (ids, _) in &written[1..] {
        assert_gone(&store, ids, "cut off");
    }
    assert_eq!(store.stats().dropped(DropReason::IoError), 20);
    let log = logged();
    let line = warning(&log, "was cut to");
    assert!(line.contains(&data.display().to_string()), "{line}");
    assert!(line.contains("20 stored trees are lost"), "{line}");

    // A crash, and the start's repair: the trees written after the cut stay.
    store.crash_for_tests();
    drop(store);
    let store = open(dir.path());
    assert_found(&store, &written[0].0, "after a restart");
    assert_found(&store, &after, "after a restart");
}

/// `truncate -s 0` while the server ran: the writer rewrote only from its offset, so the
/// header stayed zeros, and the domain-hour refused every tree from its next open on.
#[test]
fn a_data_file_cut_to_nothing_while_open_takes_trees_again() {
    let _test = start();
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let data = domain_dir(dir.path(), "shop").join("messages.dat");
    let before = append(&store, 0..20);
    cut(&data, 0);
    let after = append(&store, 20..30);
    assert_found(&store, &after, "after the cut");
    assert_gone(&store, &before, "cut off");
    let store = restart(store, dir.path());
    let later = append(&store, 30..40);
    assert_found(&store, &after, "after a restart");
    assert_found(&store, &later, "after a restart");
    assert_eq!(store.stats().io_errors, 0);
}

/// A data file left with a stretch of zeros between sound blocks (cut while an older
/// build wrote it, which went on at its offset): the repair cut everything after the
/// zeros, with an INFO line. It now steps over them, keeps the blocks after them, and says
/// at WARN how many trees the zeros took.
#[test]
fn a_repair_steps_over_a_zeroed_stretch_and_keeps_the_blocks_after_it() {
    let _test = start();
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let data = domain_dir(dir.path(), "shop").join("messages.dat");
    let written = blocks(&store, &[0..10, 10..20, 20..30, 30..40], &data);
    store.crash_for_tests();
    drop(store);
    // The second block and part of the third are zeros.
    let (from, to) = (written[0].1, (written[1].1 + written[2].1) / 2);
    let file = OpenOptions::new().write(true).open(&data).unwrap();
    FileExt::write_all_at(&file, &vec![0; (to - from) as usize], from).unwrap();

    let store = open(dir.path());
    assert_found(&store, &written[0].0, "before the zeros");
    assert_found(&store, &written[3].0, "after the zeros");
    for (ids, _) in &written[1..3] {
        assert_gone(&store, ids, "zeroed");
    }
    assert_eq!(
        fs::metadata(&data).unwrap().len(),
        written[3].1,
        "nothing cut"
    );
    let log = logged();
    assert!(log.contains("stepped over a damaged stretch"), "{log}");
    let line = warning(&log, "recovered an unclean domain-hour");
    assert!(line.contains("20 stored trees are lost"), "{line}");
}

/// Damage found at a start after a clean close (a file cut while stopped) was an INFO
/// line without the number of trees lost.
#[test]
fn damage_found_after_a_clean_close_is_a_warning_with_the_trees_lost() {
    let _test = start();
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let data = domain_dir(dir.path(), "shop").join("messages.dat");
    let written = blocks(&store, &[0..10, 10..25], &data);
    store.shutdown();
    drop(store);
    cut(&data, (written[0].1 + written[1].1) / 2);

    let store = open(dir.path());
    assert_found(&store, &written[0].0, "before the cut");
    assert_gone(&store, &written[1].0, "cut off");
    let log = logged();
    let line = warning(&log, "recovered an unclean domain-hour");
    assert!(line.contains("15 stored trees are lost"), "{line}");
    assert!(
        line.contains("changed after it was closed cleanly"),
        "{line}"
    );
}

/// An index file emptied or deleted while the store was stopped: the marker still agreed
/// with the data file, so no repair ran, and the client's trees stayed unfindable for good.
#[test]
fn an_index_file_emptied_or_deleted_while_stopped_is_rebuilt_at_the_next_start() {
    let _test = start();
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let ids = append_three_clients(&store);
    store.shutdown();
    drop(store);
    let folder = domain_dir(dir.path(), "shop");
    fs::write(folder.join("00000001.idx"), b"").unwrap();
    fs::remove_file(folder.join("00000002.idx")).unwrap();

    let store = open(dir.path());
    assert_found(&store, &ids, "after the start");
    assert_eq!(store.stats().recovered_entries, 20);
    let log = logged();
    let line = warning(&log, "recovered an unclean domain-hour");
    assert!(line.contains("20 index entries were rebuilt"), "{line}");
}

/// A disk on which writes to one index file fail (a file that could not be created, on a
/// file system out of inodes) while `failing` is set.
#[derive(Debug, Default)]
struct OneIndexFails {
    failing: std::sync::atomic::AtomicBool,
}

impl FileLayer for OneIndexFails {
    fn write_all_at(
        &self,
        file: &fs::File,
        path: &Path,
        offset: u64,
        bytes: &[u8],
    ) -> io::Result<()> {
        if self.failing.load(std::sync::atomic::Ordering::SeqCst)
            && path.file_name().is_some_and(|n| n == "00000001.idx")
        {
            return Err(io::Error::new(
                io::ErrorKind::StorageFull,
                "no space left on device",
            ));
        }
        OsFiles.write_all_at(file, path, offset, bytes)
    }

    fn set_len(&self, file: &fs::File, path: &Path, len: u64) -> io::Result<()> {
        OsFiles.set_len(file, path, len)
    }
}

/// "index writes work again" was logged a millisecond after a failure, because another
/// index file was written fine, while the failing one still failed.
#[test]
fn index_writes_are_said_to_work_again_only_when_the_failing_file_does() {
    let _test = start();
    let dir = tempfile::tempdir().unwrap();
    let disk = Arc::new(OneIndexFails::default());
    let mut config = common::config(dir.path());
    config.file_layer = disk.clone();
    let store = Store::open(config).unwrap();
    disk.failing
        .store(true, std::sync::atomic::Ordering::SeqCst);
    for seq in 0..10 {
        // Clients 1 (failing) and 2 (fine), in one index write pass.
        for ip in [1, 2] {
            let i = id("shop", ip, seq);
            store.append(&i, frame(&i, 100)).unwrap();
        }
        store.flush().unwrap();
    }
    let log = logged();
    assert!(log.contains("store index write failed"), "{log}");
    assert!(!log.contains("index writes work again"), "{log}");

    disk.failing
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let i = id("shop", 1, 10);
    store.append(&i, frame(&i, 100)).unwrap();
    store.flush().unwrap();
    assert_eq!(logged().matches("index writes work again").count(), 1);
}

/// After files could not be opened (a domain folder's name taken by a file), the opens
/// that worked again were never said to.
#[test]
fn file_opens_are_said_to_work_again() {
    let _test = start();
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let folder = domain_dir(dir.path(), "shop");
    fs::create_dir_all(folder.parent().unwrap()).unwrap();
    fs::write(&folder, b"in the way").unwrap();
    let refused = id("shop", 1, 1);
    store.append(&refused, frame(&refused, 100)).unwrap();
    store.flush().unwrap();
    assert!(logged().contains("store cannot open files"));
    assert!(!logged().contains("opens work again"));

    fs::remove_file(&folder).unwrap();
    // Tried again a second after the failure at the earliest.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let taken = id("shop", 1, 2);
    store.append(&taken, frame(&taken, 100)).unwrap();
    store.flush().unwrap();
    assert!(store.lookup(&taken).unwrap().is_some());
    assert_eq!(logged().matches("store file opens work again").count(), 1);
}

/// An index file made a terabyte long (`truncate -s 1T`) while the store was stopped was
/// read to its end by the next start's repair: nine minutes without a log line before
/// either port opened. No index file can be longer than the entry of `max_seq` ends; the
/// repair reads no further, and says what it left unread. The test's file is sparse, a few
/// GiB long that cost no disk, with one stray entry past the bound.
#[test]
fn a_repair_reads_an_index_file_no_further_than_its_last_possible_entry() {
    let _test = start();
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(dir.path());
    config.max_seq = 10_000;
    let store = Store::open(config.clone()).unwrap();
    let ids = append(&store, 0..20);
    store.shutdown();
    drop(store);
    let folder = domain_dir(dir.path(), "shop");
    let index = folder.join("00000001.idx");
    let max_len = (config.max_seq + 1) * 6;
    let long = max_len + (3 << 30);
    let file = OpenOptions::new().write(true).open(&index).unwrap();
    file.set_len(long).unwrap();
    // An entry pointing at no block, which a repair reading it would zero (and count lost).
    let stray_at = max_len + (1 << 30);
    file.write_all_at(&[0xff; 6], stray_at).unwrap();
    drop(file);
    fs::remove_file(folder.join("messages.clean")).unwrap();

    let store = Store::open(config).unwrap();
    assert_found(&store, &ids, "after the start");
    let log = logged();
    let line = warning(&log, "longer than an index file can be");
    assert!(line.contains(&index.display().to_string()), "{line}");
    assert!(
        line.contains(&format!(
            "the {} bytes past that are ignored",
            long - max_len
        )),
        "{line}"
    );
    assert!(!log.contains("stored trees are lost"), "{log}");
    let mut stray = [0; 6];
    fs::File::open(&index)
        .unwrap()
        .read_exact_at(&mut stray, stray_at)
        .unwrap();
    assert_eq!(stray, [0xff; 6], "the part past the bound was not read");
    assert_eq!(fs::metadata(&index).unwrap().len(), long, "nor changed");
}

/// An index file deleted while the store ran, its data file kept: the writer wrote on into
/// the deleted file, the close marked the domain-hour clean without it, and the next start
/// saw nothing to repair: the client's trees were unfindable for good. Then it was found
/// when the domain-hour closed, and until then (an hour, for a busy domain) the client's
/// trees could not be found. It is found at the next block written, and rebuilt at once.
#[test]
fn an_index_file_deleted_while_open_is_rebuilt_at_the_next_block() {
    let _test = start();
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let ids = append_three_clients(&store);
    store.flush().unwrap();
    let index = domain_dir(dir.path(), "shop").join("00000001.idx");
    fs::remove_file(&index).unwrap();
    let after: Vec<_> = (30..36).map(|s| id("shop", 1, s)).collect();
    for i in &after {
        store.append(i, frame(i, 300)).unwrap();
    }
    store.flush().unwrap();
    // Before the domain-hour closes.
    assert_found(&store, &ids, "after the next block");
    assert_found(&store, &after, "after the next block");
    let stats = store.stats();
    // Client 1's ten trees from before the deletion; the six after it are indexed as
    // their block is written, after the repair.
    assert_eq!(stats.recovered_entries, 10);
    assert!(stats.io_errors >= 1);
    let log = logged();
    let line = warning(&log, "deleted or cut while Ocelot had them open");
    assert!(line.contains("00000001.idx"), "{line}");
    assert!(line.contains("10 index entries were rebuilt"), "{line}");
    // Kept as the store's last failure, for the pages.
    let last = stats.last_error.expect("kept");
    assert!(last.error.contains("00000001.idx"), "{last:?}");

    // Nothing more to rebuild at the close, and the next start agrees.
    store.shutdown();
    assert_eq!(store.stats().recovered_entries, 10);
    drop(store);
    let store = open(dir.path());
    assert_found(&store, &ids, "after a restart");
    assert_found(&store, &after, "after a restart");
}

/// The same for an index file cut (`truncate -s 0`) while the store ran: its entries past
/// the cut could not be found until the domain-hour closed.
#[test]
fn an_index_file_cut_while_open_is_rebuilt_at_the_next_block() {
    let _test = start();
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let ids = append_three_clients(&store);
    store.flush().unwrap();
    cut(&domain_dir(dir.path(), "shop").join("00000002.idx"), 0);
    let after: Vec<_> = (30..33).map(|s| id("shop", 0, s)).collect();
    for i in &after {
        store.append(i, frame(i, 300)).unwrap();
    }
    store.flush().unwrap();
    assert_found(&store, &ids, "after the next block");
    assert_found(&store, &after, "after the next block");
    assert_eq!(store.stats().recovered_entries, 10);
    let log = logged();
    let line = warning(&log, "deleted or cut while Ocelot had them open");
    assert!(line.contains("00000002.idx"), "{line}");
    store.shutdown();
}
