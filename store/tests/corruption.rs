//! A corrupt block fails only the lookups that need it.

mod common;

use std::os::unix::fs::FileExt;

use common::{frame, id, open, HOUR};
use ocelot_store::StoreError;

#[test]
fn a_corrupt_block_fails_only_its_own_lookups() {
    corrupt_middle_block_then(false);
}

#[test]
fn recovery_steps_over_a_corrupt_block_instead_of_cutting_the_file_there() {
    corrupt_middle_block_then(true);
}

fn corrupt_middle_block_then(crash: bool) {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    // Three blocks: flush after each group.
    let groups: Vec<Vec<_>> = (0..3)
        .map(|g| (g * 10..g * 10 + 10).map(|s| id("shop", 1, s)).collect())
        .collect();
    let mut ends = Vec::new();
    let data = dir
        .path()
        .join(HOUR.to_string())
        .join("shop")
        .join("messages.dat");
    for group in &groups {
        for i in group {
            store.append(i, frame(i, 200)).unwrap();
        }
        store.flush().unwrap();
        ends.push(std::fs::metadata(&data).unwrap().len());
    }
    if crash {
        store.crash_for_tests();
    } else {
        store.shutdown();
    }
    drop(store);
    // Flip a byte in the middle of the second block's compressed bytes.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&data)
        .unwrap();
    let at = (ends[0] + ends[1]) / 2;
    let mut b = [0u8];
    file.read_exact_at(&mut b, at).unwrap();
    file.write_all_at(&[b[0] ^ 0xff], at).unwrap();

    let store = open(dir.path());
    for i in &groups[1] {
        let err = store.lookup(i).unwrap_err();
        assert!(matches!(err, StoreError::CorruptBlock { .. }), "{err}");
    }
    for i in groups[0].iter().chain(&groups[2]) {
        assert_eq!(store.lookup(i).unwrap(), Some(frame(i, 200)));
    }
    assert_eq!(store.stats().corrupt_reads, 10);
    assert_eq!(store.stats().recovered_files, u64::from(crash));
    assert_eq!(std::fs::metadata(&data).unwrap().len(), ends[2]);
}

#[test]
fn an_index_entry_pointing_at_garbage_is_an_error_not_a_wrong_tree() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let a = id("shop", 1, 1);
    let b = id("shop", 1, 2);
    store.append(&a, frame(&a, 10)).unwrap();
    store.append(&b, frame(&b, 10)).unwrap();
    // A later tree makes the index file long enough for the damage below, so that it
    // keeps the file's length (a changed length makes the next start rebuild the index).
    let c = id("shop", 1, 5);
    store.append(&c, frame(&c, 10)).unwrap();
    store.shutdown();
    drop(store);
    let idx = dir
        .path()
        .join(HOUR.to_string())
        .join("shop")
        .join("00000001.idx");
    let file = std::fs::OpenOptions::new().write(true).open(&idx).unwrap();
    // b's entry now says: a's frame (block 8, offset 0).
    file.write_all_at(&[0, 0, 0, 8, 0, 0], 12).unwrap();
    // And an entry for seq 3 pointing inside a frame, and one far past the data file's end.
    file.write_all_at(&[0, 0, 0, 8, 0, 3], 18).unwrap();
    file.write_all_at(&[0, 0xff, 0, 8, 0, 0], 24).unwrap();
    let store = open(dir.path());
    assert_eq!(store.lookup(&a).unwrap(), Some(frame(&a, 10)));
    for seq in 2..=4 {
        assert!(store.lookup(&id("shop", 1, seq)).is_err(), "seq {seq}");
    }
}

/// A data file whose magic was damaged (a bad sector, a stray write) took no new tree for
/// the rest of its hour, every one dropped as an I/O error. Its records and their index
/// entries are intact, so the header is mended when a sound record follows it; a header of
/// another format version (a newer build's file) is left alone.
#[test]
fn a_damaged_magic_is_mended_and_the_hour_takes_trees_again() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir
        .path()
        .join(HOUR.to_string())
        .join("shop")
        .join("messages.dat");
    let before: Vec<_> = (0..10).map(|s| id("shop", 1, s)).collect();
    let store = open(dir.path());
    for i in &before {
        store.append(i, frame(i, 200)).unwrap();
    }
    store.shutdown();
    drop(store);
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&data)
        .unwrap();
    file.write_all_at(b"\0\0\0", 0).unwrap();

    let store = open(dir.path());
    let after: Vec<_> = (10..15).map(|s| id("shop", 1, s)).collect();
    for i in &after {
        store.append(i, frame(i, 200)).unwrap();
    }
    store.flush().unwrap();
    for i in before.iter().chain(&after) {
        assert_eq!(store.lookup(i).unwrap(), Some(frame(i, 200)), "{i}");
    }
    assert_eq!(store.stats().recovered_files, 1);
    store.shutdown();
    drop(store);

    // Another format version: not ours to rewrite; new trees are refused, counted.
    file.write_all_at(&[0xff, 0xff], 6).unwrap();
    let store = open(dir.path());
    let newer = id("shop", 1, 20);
    store.append(&newer, frame(&newer, 200)).unwrap();
    store.flush().unwrap();
    assert_eq!(store.lookup(&newer).unwrap(), None);
    assert_eq!(store.stats().dropped(ocelot_store::DropReason::IoError), 1);
    let mut version = [0u8; 2];
    std::os::unix::fs::FileExt::read_exact_at(&file, &mut version, 6).unwrap();
    assert_eq!(version, [0xff, 0xff]);
}
