//! Appending trees and finding them again by message ID.

mod common;

use std::time::{Duration, Instant};

use common::{frame, frame_with_header_domain, id, open, HOUR};
use ocelot_protocol::MessageId;
use ocelot_store::{AppendError, DropReason, FrameKey, Store, StoreError, BLOCK_SIZE_BYTES};

#[test]
fn appended_trees_are_found_by_id_exactly_as_received() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let ids: Vec<MessageId> = (0..300).map(|seq| id("shop", 0xc0a8_010a, seq)).collect();
    let frames: Vec<_> = ids
        .iter()
        .map(|i| frame(i, (i.seq as usize * 37) % 3000))
        .collect();
    for (i, f) in ids.iter().zip(&frames) {
        store.append(i, f.clone()).unwrap();
    }
    store.flush().unwrap();
    for (i, f) in ids.iter().zip(&frames) {
        assert_eq!(store.lookup(i).unwrap().as_ref(), Some(f), "{i}");
    }
    let stats = store.stats();
    assert_eq!(stats.stored, 300);
    assert!(
        stats.blocks > 1,
        "300 trees of up to 3 KiB need several 64 KiB blocks"
    );
    assert!(
        stats.bytes_out * 3 < stats.bytes_in,
        "compressed {} of {}",
        stats.bytes_out,
        stats.bytes_in
    );
}

#[test]
fn real_client_frames_are_stored_and_found() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let data = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../protocol/tests/data/cat-c-client"
    );
    let mut stored = Vec::new();
    for sub in ["binary", "text"] {
        for entry in std::fs::read_dir(format!("{data}/{sub}")).unwrap() {
            let bytes = bytes::Bytes::from(std::fs::read(entry.unwrap().path()).unwrap());
            let tree = ocelot_protocol::decode_frame(&bytes, &Default::default()).unwrap();
            let Ok(id) = tree.header.message_id.parse::<MessageId>() else {
                continue;
            };
            if store.append(&id, bytes.clone()).is_ok() {
                stored.push((id, bytes));
            }
        }
    }
    store.flush().unwrap();
    assert!(stored.len() > 20);
    for (id, bytes) in &stored {
        assert_eq!(store.lookup(id).unwrap().as_ref(), Some(bytes));
    }
}

#[test]
fn a_tree_is_findable_within_two_seconds_without_flush() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(dir.path());
    config.flush_interval = Duration::from_secs(1);
    let store = Store::open(config).unwrap();
    let i = id("shop", 1, 5);
    store.append(&i, frame(&i, 100)).unwrap();
    let start = Instant::now();
    while store.lookup(&i).unwrap().is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "not findable within 2 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_tree_in_an_open_block_is_found_at_once_and_exactly() {
    // A report links its sample IDs as soon as the tree is analysed; the block holding the
    // tree may stay open for the whole flush interval.
    let dir = tempfile::tempdir().unwrap();
    let store = common::open_untimed(dir.path());
    // 400 trees of 200-600 bytes: more than two blocks, so some wait in written blocks
    // whose index entries are still to come, and the rest in the open block.
    let ids: Vec<MessageId> = (0..400).map(|seq| id("shop", 7, seq)).collect();
    let frames: Vec<_> = ids.iter().map(|i| frame(i, 200 + i.seq as usize)).collect();
    for (i, f) in ids.iter().zip(&frames) {
        store.append(i, f.clone()).unwrap();
    }
    let start = Instant::now();
    for (i, f) in ids.iter().zip(&frames) {
        assert_eq!(store.lookup(i).unwrap().as_ref(), Some(f), "{i}");
    }
    assert!(start.elapsed() < Duration::from_secs(2));
    assert!(store.stats().blocks >= 2, "{:?}", store.stats());
    assert_eq!(store.lookup(&id("shop", 7, 400)).unwrap(), None);
    assert_eq!(store.lookup(&id("shop", 8, 0)).unwrap(), None);
    assert_eq!(store.lookup(&id("other", 7, 0)).unwrap(), None);
    // And after the block is written, from the file as before.
    store.flush().unwrap();
    assert_eq!(store.lookup(&ids[3]).unwrap().as_ref(), Some(&frames[3]));
}

#[test]
fn unknown_ids_are_none() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let i = id("shop", 1, 5);
    store.append(&i, frame(&i, 10)).unwrap();
    store.flush().unwrap();
    for other in [
        id("shop", 1, 4),
        id("shop", 1, 6),
        id("shop", 2, 5),
        id("shop2", 1, 5),
        MessageId::new("shop", 1, HOUR + 1, 5),
        id("shop", 1, 1_000_000),
        // Domains no tree can be stored under: nothing to find, not an error.
        id("caf\u{e9}", 1, 5),
        id("a/b", 1, 5),
        id(".hidden", 1, 5),
        id(&"x".repeat(200), 1, 5),
    ] {
        assert_eq!(store.lookup(&other).unwrap(), None, "{other}");
    }
}

#[test]
fn the_key_is_the_message_id_not_the_frame_header_domain() {
    // An RPC callee's tree carries an ID its caller made: another domain and IP.
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let caller_made = id("order-service", 0x0a00_0001, 77);
    let f = frame_with_header_domain(&caller_made, "payment-service", 50);
    store.append(&caller_made, f.clone()).unwrap();
    store.flush().unwrap();
    assert_eq!(store.lookup(&caller_made).unwrap(), Some(f));
    assert!(dir
        .path()
        .join(HOUR.to_string())
        .join("order-service")
        .join("0a000001.idx")
        .is_file());
    assert!(!dir
        .path()
        .join(HOUR.to_string())
        .join("payment-service")
        .exists());
}

#[test]
fn ids_with_a_pid_suffix_have_their_own_index() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let plain = id("shop", 7, 3);
    let mut with_pid = plain.clone();
    with_pid.pid = Some(1234);
    store.append(&plain, frame(&plain, 10)).unwrap();
    store.append(&with_pid, frame(&with_pid, 20)).unwrap();
    store.flush().unwrap();
    assert_eq!(store.lookup(&plain).unwrap(), Some(frame(&plain, 10)));
    assert_eq!(store.lookup(&with_pid).unwrap(), Some(frame(&with_pid, 20)));
}

#[test]
fn a_tree_larger_than_a_block_gets_a_block_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let small = id("shop", 1, 1);
    let big = id("shop", 1, 2);
    let after = id("shop", 1, 3);
    let big_frame = frame(&big, 3 * BLOCK_SIZE_BYTES);
    assert!(big_frame.len() > BLOCK_SIZE_BYTES);
    store.append(&small, frame(&small, 10)).unwrap();
    store.append(&big, big_frame.clone()).unwrap();
    store.append(&after, frame(&after, 10)).unwrap();
    store.flush().unwrap();
    assert_eq!(store.lookup(&big).unwrap(), Some(big_frame));
    assert_eq!(store.lookup(&small).unwrap(), Some(frame(&small, 10)));
    assert_eq!(store.lookup(&after).unwrap(), Some(frame(&after, 10)));
    assert_eq!(store.stats().blocks, 3);
}

#[test]
fn a_duplicate_id_is_counted_and_the_first_tree_wins() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let i = id("shop", 1, 9);
    let first = frame(&i, 10);
    let second = frame(&i, 500);
    store.append(&i, first.clone()).unwrap();
    store.append(&i, second.clone()).unwrap(); // same open block
    store.flush().unwrap();
    store.append(&i, second).unwrap(); // already on disk
    store.flush().unwrap();
    assert_eq!(store.lookup(&i).unwrap(), Some(first));
    assert_eq!(store.stats().dropped(DropReason::Duplicate), 2);
}

#[test]
fn a_frame_whose_header_carries_another_id_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let i = id("shop", 1, 9);
    store.append(&i, frame(&id("shop", 1, 10), 10)).unwrap();
    store.flush().unwrap();
    assert_eq!(store.lookup(&i).unwrap(), None);
    assert_eq!(store.stats().dropped(DropReason::IdMismatch), 1);
}

#[test]
fn message_ids_naming_more_domains_than_an_hour_takes_are_refused_counted_and_make_no_folders() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(dir.path());
    config.max_domains_per_hour = 3;
    let store = Store::open(config).unwrap();
    let ids: Vec<MessageId> = (0..10).map(|n| id(&format!("d{n}"), 1, 1)).collect();
    for i in &ids {
        store.append(i, frame(i, 10)).unwrap();
    }
    // An admitted domain takes more trees; so does the next hour, with its own cap.
    let more = id("d0", 1, 2);
    store.append(&more, frame(&more, 10)).unwrap();
    let next_hour = MessageId {
        hour: HOUR + 1,
        ..id("d9", 1, 1)
    };
    store.append(&next_hour, frame(&next_hour, 10)).unwrap();
    store.flush().unwrap();
    for (n, i) in ids.iter().enumerate() {
        assert_eq!(store.lookup(i).unwrap().is_some(), n < 3, "{i}");
    }
    assert!(store.lookup(&more).unwrap().is_some());
    assert!(store.lookup(&next_hour).unwrap().is_some());
    assert_eq!(store.stats().dropped(DropReason::TooManyDomains), 7);
    let folders = std::fs::read_dir(dir.path().join(HOUR.to_string()))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with('d')
        })
        .count();
    assert_eq!(folders, 3);
    store.shutdown();
    drop(store);

    // After a restart the count starts again, but a domain with files in the hour is never
    // refused, even when the hour is full of new ones.
    let mut config = common::config(dir.path());
    config.max_domains_per_hour = 3;
    let store = Store::open(config).unwrap();
    let new: Vec<MessageId> = (10..13).map(|n| id(&format!("d{n}"), 1, 1)).collect();
    let again = id("d1", 1, 2);
    for i in new.iter().chain([&again]) {
        store.append(i, frame(i, 10)).unwrap();
    }
    store.flush().unwrap();
    for i in new.iter().chain([&again]) {
        assert!(store.lookup(i).unwrap().is_some(), "{i}");
    }
}

#[test]
fn a_huge_sequence_number_is_refused_before_it_makes_a_huge_sparse_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    for seq in [ocelot_store::DEFAULT_MAX_SEQ + 1, u64::MAX / 6, u64::MAX] {
        let i = id("shop", 1, seq);
        assert!(matches!(
            store.append(&i, frame(&i, 1)),
            Err(AppendError::SeqTooLarge { .. })
        ));
        assert_eq!(store.lookup(&i).unwrap(), None);
    }
    let last = id("shop", 1, ocelot_store::DEFAULT_MAX_SEQ);
    store.append(&last, frame(&last, 1)).unwrap();
    store.flush().unwrap();
    assert!(store.lookup(&last).unwrap().is_some());
    assert_eq!(store.stats().dropped(DropReason::SeqTooLarge), 3);
}

#[test]
fn unsafe_domains_never_reach_a_path() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path().join("store").as_path());
    for domain in [
        "..",
        "../escape",
        "a/b",
        "a\\b",
        "nul\0byte",
        ".hidden",
        &"x".repeat(129),
    ] {
        let i = MessageId::new(domain, 1, HOUR, 1);
        assert!(
            matches!(
                store.append(&i, frame(&i, 1)),
                Err(AppendError::InvalidDomain(_))
            ),
            "{domain:?}"
        );
        // Found nowhere (an ID a client may paste), never looked for on disk.
        assert_eq!(store.lookup(&i).unwrap(), None, "{domain:?}");
        assert!(store
            .write_report(HOUR, domain, "transaction", b"{}")
            .is_err());
        assert!(store.read_report(HOUR, domain, "transaction").is_err());
    }
    store.flush().unwrap();
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "nothing outside the store folder"
    );
    assert_eq!(store.stats().dropped(DropReason::InvalidDomain), 7);
}

#[test]
fn frames_that_are_not_whole_frames_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let i = id("shop", 1, 1);
    let good = frame(&i, 10);
    for bad in [
        bytes::Bytes::new(),
        bytes::Bytes::from_static(&[0, 0, 0, 0]),
        good.slice(..good.len() - 1),
    ] {
        assert!(matches!(
            store.append(&i, bad),
            Err(AppendError::BadFrame { .. })
        ));
    }
    assert_eq!(store.stats().dropped(DropReason::BadFrame), 3);
}

#[test]
fn a_full_queue_refuses_without_blocking_and_counts() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(dir.path());
    config.queue_capacity = 1;
    let store = Store::open(config).unwrap();
    let start = Instant::now();
    let mut refused = 0;
    for seq in 0..2000 {
        let i = id("shop", 1, seq);
        match store.append(&i, frame(&i, 2000)) {
            Ok(()) => {}
            Err(AppendError::QueueFull) => refused += 1,
            Err(e) => panic!("{e}"),
        }
    }
    assert!(start.elapsed() < Duration::from_secs(10));
    assert!(refused > 0);
    let stats = store.stats();
    assert_eq!(stats.dropped(DropReason::QueueFull), refused);
    assert_eq!(stats.appended + refused, 2000);
}

#[test]
fn interleaved_sequence_numbers_written_in_spans_keep_earlier_entries() {
    // One client's trees arrive with gaps (every third number), then the gaps are filled
    // in two later flushes: each later span rewrites the earlier entries between its own.
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let mut all = Vec::new();
    for phase in 0..3 {
        for seq in (phase..300).step_by(3) {
            let i = id("shop", 9, seq);
            store.append(&i, frame(&i, 40)).unwrap();
            all.push(i);
        }
        store.flush().unwrap();
        for i in &all {
            assert_eq!(store.lookup(i).unwrap(), Some(frame(i, 40)), "{i}");
        }
    }
    assert_eq!(store.stats().stored, 300);
}

#[test]
fn append_many_stores_a_burst_and_counts_each_refusal() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(dir.path());
    config.writer_threads = 2;
    let store = Store::open(config).unwrap();
    let good: Vec<MessageId> = (0..200)
        .map(|seq| id(if seq % 2 == 0 { "shop" } else { "cart" }, 7, seq))
        .collect();
    let mut burst: Vec<_> = good.iter().map(|i| (i.clone(), frame(i, 500))).collect();
    let bad = id("shop", 7, 1_000);
    burst.push((bad, bytes::Bytes::from_static(b"\0\0\0\x09NT1")));
    assert_eq!(store.append_many(burst), 1);
    store.flush().unwrap();
    for i in &good {
        assert_eq!(store.lookup(i).unwrap(), Some(frame(i, 500)), "{i}");
    }
    let stats = store.stats();
    assert_eq!(stats.appended, 200);
    assert_eq!(stats.stored, 200);
    assert_eq!(stats.dropped(DropReason::BadFrame), 1);
}

#[test]
fn append_many_counts_queue_capacity_in_frames() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(dir.path());
    config.queue_capacity = 10;
    let store = Store::open(config).unwrap();
    // Larger than the whole queue: refused whole, each frame counted.
    let burst: Vec<_> = (0..11)
        .map(|seq| {
            let i = id("shop", 1, seq);
            let f = frame(&i, 100);
            (i, f)
        })
        .collect();
    assert_eq!(store.append_many(burst), 11);
    let stats = store.stats();
    assert_eq!(stats.dropped(DropReason::QueueFull), 11);
    assert_eq!(stats.appended, 0);
}

/// Frames of up to 16 MiB: a queue bounded in frames alone held gigabytes of large trees
/// behind a writer busy compressing them.
#[test]
fn the_queue_is_bounded_in_bytes_too() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(dir.path());
    config.queue_bytes = 1; // raised to the largest frame, 16 MiB
    let store = Store::open(config).unwrap();
    let burst = |first: u64, n: u64| -> Vec<_> {
        (first..first + n)
            .map(|seq| {
                let i = id("shop", 1, seq);
                let f = frame(&i, 6 << 20);
                (i, f)
            })
            .collect()
    };
    // Three frames of 6 MiB are more than 16 MiB: refused whole, each counted.
    assert_eq!(store.append_many(burst(1, 3)), 3);
    assert_eq!(store.stats().dropped(DropReason::QueueFull), 3);
    // Two fit, and are stored.
    assert_eq!(store.append_many(burst(10, 2)), 0);
    store.flush().unwrap();
    assert!(store.lookup(&id("shop", 1, 11)).unwrap().is_some());
}

#[test]
fn after_shutdown_appends_are_refused_and_lookups_still_work() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let i = id("shop", 1, 1);
    store.append(&i, frame(&i, 10)).unwrap();
    store.shutdown(); // writes the open block
    assert_eq!(store.lookup(&i).unwrap(), Some(frame(&i, 10)));
    let j = id("shop", 1, 2);
    assert_eq!(store.append(&j, frame(&j, 10)), Err(AppendError::Closed));
    store.shutdown();
}

#[test]
fn several_writer_threads_and_domains_work_together() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(dir.path());
    config.writer_threads = 3;
    let store = Store::open(config).unwrap();
    let ids: Vec<MessageId> = (0..200)
        .map(|n| id(&format!("app{}", n % 7), n as u32 % 3, n))
        .collect();
    std::thread::scope(|s| {
        for chunk in ids.chunks(50) {
            let store = store.clone();
            s.spawn(move || {
                for i in chunk {
                    store.append(i, frame(i, 100)).unwrap();
                }
            });
        }
    });
    store.flush().unwrap();
    for i in &ids {
        assert_eq!(store.lookup(i).unwrap(), Some(frame(i, 100)));
    }
}

#[test]
fn more_client_ips_than_open_index_files_still_work() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let ids: Vec<MessageId> = (0..700).map(|n| id("shop", n as u32, n % 5)).collect();
    for i in &ids {
        store.append(i, frame(i, 50)).unwrap();
    }
    store.flush().unwrap();
    for i in ids.iter().rev() {
        let dup = store.append(i, frame(i, 50));
        assert!(dup.is_ok());
    }
    store.flush().unwrap();
    for i in &ids {
        assert_eq!(store.lookup(i).unwrap(), Some(frame(i, 50)));
    }
    assert_eq!(store.stats().dropped(DropReason::Duplicate), 700);
}

#[test]
fn a_duplicate_id_is_refused_after_a_restart_too() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let (a, b) = (id("shop", 1, 3), id("shop", 1, 9));
    store.append(&a, frame(&a, 10)).unwrap();
    store.append(&b, frame(&b, 10)).unwrap();
    store.shutdown();
    drop(store);
    let store = open(dir.path());
    // Out of order and in order, below the index file's end.
    store.append(&b, frame(&b, 999)).unwrap();
    store.append(&a, frame(&a, 999)).unwrap();
    store.flush().unwrap();
    assert_eq!(store.lookup(&a).unwrap(), Some(frame(&a, 10)));
    assert_eq!(store.lookup(&b).unwrap(), Some(frame(&b, 10)));
    assert_eq!(store.stats().dropped(DropReason::Duplicate), 2);
}

#[test]
fn a_read_only_store_finds_what_the_owner_wrote_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let owner = open(dir.path());
    let i = id("shop", 1, 1);
    owner.append(&i, frame(&i, 10)).unwrap();
    owner.flush().unwrap();
    // The owner is still running (its domain-hour is dirty): a reader must not repair it.
    let reader = Store::open_read_only(common::config(dir.path())).unwrap();
    assert_eq!(reader.lookup(&i).unwrap(), Some(frame(&i, 10)));
    let j = id("shop", 1, 2);
    assert_eq!(reader.append(&j, frame(&j, 10)), Err(AppendError::Closed));
    reader.flush().unwrap();
    reader.shutdown();
    owner.append(&j, frame(&j, 10)).unwrap();
    owner.flush().unwrap();
    assert_eq!(reader.lookup(&j).unwrap(), Some(frame(&j, 10)));
    assert_eq!(reader.stats().recovered_files, 0);
    assert!(Store::open_read_only(common::config(&dir.path().join("missing"))).is_err());
}

#[test]
fn frames_appended_with_the_ids_of_their_headers_are_found_and_a_wrong_pairing_shows_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let ids: Vec<MessageId> = (0..50).map(|seq| id("shop", 0xc0a8_010a, seq)).collect();
    let frames: Vec<_> = ids.iter().map(|i| frame(i, 100)).collect();
    // Keys as the collector makes them: the ID where it is in the frame's header.
    let key_in = |frame: &bytes::Bytes, id: &MessageId| {
        let text = id.to_string();
        let start = frame
            .windows(text.len())
            .position(|w| w == text.as_bytes())
            .expect("the header carries the ID");
        FrameKey::in_frame(frame, start..start + text.len()).expect("an ID")
    };
    let keys: Vec<FrameKey> = ids.iter().zip(&frames).map(|(i, f)| key_in(f, i)).collect();
    let refused = store.append_scanned(keys.into_iter().zip(frames.iter().cloned()));
    assert_eq!(refused, 0);
    // The writer does not read this header again, so the frame is filed under seq 900;
    // a lookup still reads the header and refuses to hand out seq 7's tree as 900's.
    let wrong = id("shop", 0xc0a8_010a, 900);
    store.append_scanned([(
        FrameKey::from(wrong.clone()),
        frame(&id("shop", 0xc0a8_010a, 7), 10),
    )]);
    store.flush().unwrap();
    for (i, f) in ids.iter().zip(&frames) {
        assert_eq!(store.lookup(i).unwrap().as_ref(), Some(f), "{i}");
    }
    let looked_up = store.lookup(&wrong);
    assert!(
        matches!(looked_up, Err(StoreError::CorruptEntry { .. })),
        "{looked_up:?}"
    );
    assert_eq!(store.stats().dropped(DropReason::IdMismatch), 0);
}

#[test]
fn a_duplicate_is_refused_whatever_the_block_and_index_writes_between() {
    // Enough frames that blocks close and index writes rebuild the duplicate check while the
    // frames keep coming; each frame's twin follows at once, so one of them arrives right
    // after its original closed a block.
    let dir = tempfile::tempdir().unwrap();
    // No ticks meanwhile: the index is written when enough blocks wait for it, inside the
    // append that closes a block.
    let store = common::open_untimed(dir.path());
    let ids: Vec<MessageId> = (0..20_000).map(|seq| id("shop", 1, seq)).collect();
    let append = |i: &MessageId, size| loop {
        // Faster than the writer: wait for room in its queue rather than lose frames.
        match store.append(i, frame(i, size)) {
            Err(AppendError::QueueFull) => std::thread::sleep(Duration::from_millis(1)),
            other => break other.unwrap(),
        }
    };
    for i in &ids {
        append(i, 40);
        append(i, 60);
    }
    store.flush().unwrap();
    assert_eq!(store.stats().dropped(DropReason::Duplicate), 20_000);
    for i in ids.iter().step_by(997) {
        assert_eq!(store.lookup(i).unwrap(), Some(frame(i, 40)));
    }
}

/// The cap remembers the domains of the four newest hours only, and an hour older than
/// those was forgotten as soon as it was counted: IDs naming past hours (the collector
/// takes any within retention) could open any number of domains in them.
#[test]
fn the_domain_cap_holds_in_an_hour_older_than_the_ones_it_remembers() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(dir.path());
    config.max_domains_per_hour = 3;
    let store = Store::open(config).unwrap();
    // A tree of `domain` in each of the four hours after HOUR.
    let later_hours = |domain: &str| {
        for later in 1..=4 {
            let i = MessageId {
                hour: HOUR + later,
                ..id(domain, 1, 1)
            };
            store.append(&i, frame(&i, 10)).unwrap();
        }
    };
    later_hours("d0");
    let ids: Vec<MessageId> = (0..10).map(|n| id(&format!("d{n}"), 1, 1)).collect();
    for i in &ids {
        store.append(i, frame(i, 10)).unwrap();
    }
    store.flush().unwrap();
    let folders = std::fs::read_dir(dir.path().join(HOUR.to_string()))
        .unwrap()
        .count();
    assert_eq!(folders, 3);
    assert_eq!(store.stats().dropped(DropReason::TooManyDomains), 7);
    // The newer hours come back and push it out of what the cap remembers; IDs naming it
    // again find it counted from its folders.
    later_hours("e0");
    let late = id("d9", 1, 2);
    store.append(&late, frame(&late, 10)).unwrap();
    store.flush().unwrap();
    assert_eq!(store.stats().dropped(DropReason::TooManyDomains), 8);
    // A domain it took still takes trees.
    let more = id("d1", 1, 2);
    store.append(&more, frame(&more, 10)).unwrap();
    store.flush().unwrap();
    assert!(store.lookup(&more).unwrap().is_some());
}

/// A read-only store keeps index files mapped, and retention in the owner's process does
/// not tell it when it deletes them: a lookup of a tree of a deleted hour found its entry
/// in the old map, no data file, and answered "corrupt block" instead of "not found".
#[test]
fn a_read_only_store_does_not_call_a_tree_of_a_deleted_hour_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(dir.path());
    config.retention_days = 1;
    let owner = Store::open(config).unwrap();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let hour = ocelot_protocol::hour_of(now_ms as u64);
    let (a, b) = (
        MessageId::new("shop", 1, hour, 1),
        MessageId::new("shop", 1, hour, 2),
    );
    // Two blocks, so the reader caches the one of `a` only.
    for i in [&a, &b] {
        owner.append(i, frame(i, 10)).unwrap();
        owner.flush().unwrap();
    }
    let reader = Store::open_read_only(common::config(dir.path())).unwrap();
    assert_eq!(reader.lookup(&a).unwrap(), Some(frame(&a, 10)));
    assert_eq!(owner.apply_retention(hour + 48).unwrap(), 1);
    assert_eq!(reader.lookup(&b).unwrap(), None);
    assert_eq!(reader.stats().corrupt_reads, 0);
}

/// Truly corrupt data is still reported: an index entry whose data file is gone.
#[test]
fn an_index_entry_without_its_data_file_is_still_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let owner = open(dir.path());
    let i = id("shop", 1, 1);
    owner.append(&i, frame(&i, 10)).unwrap();
    owner.shutdown();
    drop(owner);
    let domain_dir = dir.path().join(HOUR.to_string()).join("shop");
    std::fs::remove_file(domain_dir.join("messages.dat")).unwrap();
    let reader = Store::open_read_only(common::config(dir.path())).unwrap();
    let looked_up = reader.lookup(&i);
    assert!(
        matches!(looked_up, Err(StoreError::CorruptBlock { .. })),
        "{looked_up:?}"
    );
}

/// A `max_seq` near `u64::MAX` made the writer's index arithmetic overflow (a panic that
/// stopped the writer thread) and the reader's too.
#[test]
fn a_max_seq_near_the_top_of_u64_is_lowered_instead_of_overflowing() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(dir.path());
    config.max_seq = u64::MAX;
    let store = Store::open(config).unwrap();
    for seq in [u64::MAX, u64::MAX - 1, ocelot_store::MAX_SEQ_LIMIT + 1] {
        let i = id("shop", 1, seq);
        assert_eq!(
            store.append(&i, frame(&i, 0)),
            Err(AppendError::SeqTooLarge {
                seq,
                max: ocelot_store::MAX_SEQ_LIMIT
            })
        );
    }
    let small = id("shop", 1, 5);
    store.append(&small, frame(&small, 10)).unwrap();
    store.flush().unwrap();
    assert_eq!(store.lookup(&small).unwrap(), Some(frame(&small, 10)));
    for seq in [u64::MAX, u64::MAX / 6, ocelot_store::MAX_SEQ_LIMIT] {
        assert_eq!(store.lookup(&id("shop", 1, seq)).unwrap(), None, "{seq}");
    }
}
