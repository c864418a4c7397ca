//! `Store::for_each_frame`: every stored frame of a domain-hour, in order, as received; a
//! damaged block stepped over and counted, the blocks after it read.

mod common;

use common::{frame, id, open_untimed};

#[test]
fn every_frame_is_read_back_in_order_and_a_damaged_block_is_stepped_over() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_untimed(dir.path());
    // Three blocks: each flush writes the open one.
    let mut sent = Vec::new();
    for block in 0..3u64 {
        for i in 0..4 {
            let id = id("shop", 1, block * 10 + i + 1);
            let frame = frame(&id, 300);
            store.append(&id, frame.clone()).unwrap();
            sent.push(frame);
        }
        store.flush().unwrap();
    }
    let mut read = Vec::new();
    let counts = store
        .for_each_frame(common::HOUR, "shop", |f| read.push(f.to_vec()))
        .unwrap();
    assert_eq!((counts.frames, counts.damaged_blocks), (12, 0));
    assert_eq!(read, sent.iter().map(|f| f.to_vec()).collect::<Vec<_>>());
    // Nothing stored: nothing read, no error.
    let none = store
        .for_each_frame(common::HOUR, "cart", |_| panic!("a frame"))
        .unwrap();
    assert_eq!(none.frames, 0);
    store.shutdown();
    drop(store);

    // Damage the second block's compressed bytes: its frames are left out, the third
    // block's still read.
    let path = dir
        .path()
        .join(format!("{}/shop/messages.dat", common::HOUR));
    let mut bytes = std::fs::read(&path).unwrap();
    let len = bytes.len();
    let middle = len / 2;
    for b in &mut bytes[middle..middle + 64] {
        *b ^= 0x5a;
    }
    std::fs::write(&path, &bytes).unwrap();
    let store = ocelot_store::Store::open_read_only(common::config(dir.path())).unwrap();
    let mut read = Vec::new();
    let counts = store
        .for_each_frame(common::HOUR, "shop", |f| read.push(f.to_vec()))
        .unwrap();
    assert_eq!(counts.damaged_blocks, 1, "{counts:?}");
    assert_eq!(counts.frames, 8, "{counts:?}");
    assert_eq!(
        read[..4],
        sent[..4].iter().map(|f| f.to_vec()).collect::<Vec<_>>()
    );
    assert_eq!(
        read[4..],
        sent[8..].iter().map(|f| f.to_vec()).collect::<Vec<_>>()
    );
}
