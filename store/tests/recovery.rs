//! Crashes (`kill -9`, torn tails, lost index files) and what the next open makes of them.

mod common;

use std::fs::OpenOptions;

use common::{frame, id, open, HOUR};

fn domain_dir(root: &std::path::Path, domain: &str) -> std::path::PathBuf {
    root.join(HOUR.to_string()).join(domain)
}

#[test]
fn after_a_crash_everything_flushed_is_found_and_nothing_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    for seq in 0..100 {
        let i = id("shop", 1, seq);
        store.append(&i, frame(&i, 500)).unwrap();
    }
    store.flush().unwrap();
    for seq in 100..110 {
        let i = id("shop", 1, seq);
        store.append(&i, frame(&i, 500)).unwrap();
    }
    store.crash_for_tests(); // the open block (100..110) is lost, as with kill -9
    drop(store);

    let store = open(dir.path());
    for seq in 0..100 {
        let i = id("shop", 1, seq);
        assert_eq!(store.lookup(&i).unwrap(), Some(frame(&i, 500)), "{i}");
    }
    for seq in 100..110 {
        assert_eq!(store.lookup(&id("shop", 1, seq)).unwrap(), None);
    }
    assert_eq!(store.stats().recovered_files, 1);
    // The crashed seqs can be stored again.
    let i = id("shop", 1, 105);
    store.append(&i, frame(&i, 7)).unwrap();
    store.flush().unwrap();
    assert_eq!(store.lookup(&i).unwrap(), Some(frame(&i, 7)));
}

#[test]
fn a_clean_shutdown_needs_no_recovery() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let i = id("shop", 1, 1);
    store.append(&i, frame(&i, 10)).unwrap();
    store.shutdown();
    drop(store);
    let store = open(dir.path());
    assert_eq!(store.stats().recovered_files, 0);
    assert_eq!(store.lookup(&i).unwrap(), Some(frame(&i, 10)));
}

#[test]
fn lost_index_entries_are_rebuilt_from_the_data_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let ids: Vec<_> = (0..50).map(|seq| id("shop", seq as u32 % 3, seq)).collect();
    for i in &ids {
        store.append(i, frame(i, 300)).unwrap();
    }
    store.flush().unwrap();
    store.crash_for_tests();
    drop(store);
    // As if the process died after writing blocks but before their index entries.
    let d = domain_dir(dir.path(), "shop");
    std::fs::remove_file(d.join("00000000.idx")).unwrap();
    OpenOptions::new()
        .write(true)
        .open(d.join("00000001.idx"))
        .unwrap()
        .set_len(6 * 10)
        .unwrap();

    let store = open(dir.path());
    for i in &ids {
        assert_eq!(store.lookup(i).unwrap(), Some(frame(i, 300)), "{i}");
    }
    assert!(store.stats().recovered_entries >= 30);
}

#[test]
fn a_torn_tail_is_cut_and_only_its_trees_are_lost() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let first: Vec<_> = (0..20).map(|seq| id("shop", 1, seq)).collect();
    for i in &first {
        store.append(i, frame(i, 300)).unwrap();
    }
    store.flush().unwrap();
    let data = domain_dir(dir.path(), "shop").join("messages.dat");
    let good_len = std::fs::metadata(&data).unwrap().len();
    let second: Vec<_> = (20..40).map(|seq| id("shop", 1, seq)).collect();
    for i in &second {
        store.append(i, frame(i, 300)).unwrap();
    }
    store.flush().unwrap();
    store.crash_for_tests();
    drop(store);
    let full_len = std::fs::metadata(&data).unwrap().len();
    // Tear the second block in half.
    OpenOptions::new()
        .write(true)
        .open(&data)
        .unwrap()
        .set_len((good_len + full_len) / 2)
        .unwrap();

    let store = open(dir.path());
    assert_eq!(
        std::fs::metadata(&data).unwrap().len(),
        good_len,
        "cut back to the last whole block"
    );
    for i in &first {
        assert_eq!(store.lookup(i).unwrap(), Some(frame(i, 300)));
    }
    for i in &second {
        assert_eq!(
            store.lookup(i).unwrap(),
            None,
            "{i}: its index entry was zeroed"
        );
    }
    // New trees go where the torn block was, and old index entries cannot point into them.
    let later: Vec<_> = (40..45).map(|seq| id("shop", 1, seq)).collect();
    for i in &later {
        store.append(i, frame(i, 300)).unwrap();
    }
    store.flush().unwrap();
    for i in &later {
        assert_eq!(store.lookup(i).unwrap(), Some(frame(i, 300)));
    }
    for i in &second {
        assert_eq!(store.lookup(i).unwrap(), None);
    }
}

#[test]
fn a_data_file_torn_inside_its_header_starts_over() {
    let dir = tempfile::tempdir().unwrap();
    let d = domain_dir(dir.path(), "shop");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("messages.dat"), b"OCL").unwrap();
    let store = open(dir.path());
    let i = id("shop", 1, 1);
    store.append(&i, frame(&i, 10)).unwrap();
    store.flush().unwrap();
    assert_eq!(store.lookup(&i).unwrap(), Some(frame(&i, 10)));
}

#[test]
fn a_foreign_data_file_is_reported_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let d = domain_dir(dir.path(), "shop");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("messages.dat"), b"NOT OURS, keep me").unwrap();
    let store = open(dir.path());
    assert_eq!(
        std::fs::read(d.join("messages.dat")).unwrap(),
        b"NOT OURS, keep me"
    );
    assert!(store.stats().io_errors >= 1);
    let other = id("other", 1, 1);
    store.append(&other, frame(&other, 10)).unwrap();
    store.flush().unwrap();
    assert!(
        store.lookup(&other).unwrap().is_some(),
        "other domains still work"
    );
}
