//! Golden files: a small store written by format version 1, committed under
//! tests/data/v1, must stay readable by every later reader.
//!
//! Regenerate (only when the format version changes, into a new folder):
//! `OCELOT_WRITE_GOLDEN=1 cargo test -p ocelot-store --test golden -- --ignored`

mod common;

use std::path::{Path, PathBuf};

use bytes::Bytes;
use ocelot_protocol::{decode_frame, MessageId};
use ocelot_store::{Store, StoreConfig};

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/v1")
}

/// The real C client frames, plus synthetic trees that fill several blocks, one of them
/// larger than a block.
fn golden_frames() -> Vec<(MessageId, Bytes)> {
    let capture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../protocol/tests/data/cat-c-client");
    let mut frames = Vec::new();
    for sub in ["binary", "text"] {
        let mut paths: Vec<_> = std::fs::read_dir(capture.join(sub))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        paths.sort();
        for path in paths {
            let bytes = Bytes::from(std::fs::read(path).unwrap());
            let tree = decode_frame(&bytes, &Default::default()).unwrap();
            if let Ok(id) = tree.header.message_id.parse::<MessageId>() {
                frames.push((id, bytes));
            }
        }
    }
    for seq in 0..40 {
        let id = MessageId::new("golden", 0x0a00_0001 + (seq as u32 % 2), common::HOUR, seq);
        let payload = if seq == 20 { 100_000 } else { 2500 };
        frames.push((id.clone(), common::frame(&id, payload)));
    }
    let mut with_pid = MessageId::new("golden", 0x0a00_0001, common::HOUR, 7);
    with_pid.pid = Some(4242);
    frames.push((with_pid.clone(), common::frame(&with_pid, 10)));
    frames
}

fn config(dir: &Path) -> StoreConfig {
    let mut config = StoreConfig::new(dir);
    config.retention_days = 0;
    config
}

#[test]
#[ignore = "writes the golden files; run by hand when a new format version is made"]
fn regenerate_golden_v1_files() {
    if std::env::var_os("OCELOT_WRITE_GOLDEN").is_none() {
        return;
    }
    let dir = golden_dir();
    let _ = std::fs::remove_dir_all(&dir);
    let store = Store::open(config(&dir)).unwrap();
    for (id, frame) in golden_frames() {
        store.append(&id, frame).unwrap();
    }
    store
        .write_report(
            common::HOUR,
            "golden",
            "transaction",
            br#"{"domain":"golden"}"#,
        )
        .unwrap();
    store.shutdown();
    assert_eq!(store.stats().stored as usize, golden_frames().len());
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn todays_reader_reads_the_v1_golden_files() {
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&golden_dir(), tmp.path()); // never touch the committed files
    let store = Store::open(config(tmp.path())).unwrap();
    assert_eq!(
        store.stats().recovered_files,
        0,
        "the golden store was closed cleanly"
    );
    let frames = golden_frames();
    assert!(frames.len() > 70);
    for (id, frame) in &frames {
        assert_eq!(store.lookup(id).unwrap().as_ref(), Some(frame), "{id}");
    }
    assert_eq!(
        store
            .read_report(common::HOUR, "golden", "transaction")
            .unwrap()
            .as_deref(),
        Some(&br#"{"domain":"golden"}"#[..])
    );
    assert!(store.hours().unwrap().contains(&common::HOUR));
}

#[test]
fn the_v1_golden_files_have_the_documented_bytes() {
    let domain = golden_dir().join(common::HOUR.to_string()).join("golden");
    let data = std::fs::read(domain.join("messages.dat")).unwrap();
    assert_eq!(&data[..8], b"OCLDAT\x00\x01", "magic and version 1");
    // Seq 0 of 0a000001 is the first frame of the first block: address 8, offset 0.
    let index = std::fs::read(domain.join("0a000001.idx")).unwrap();
    assert_eq!(&index[..6], &[0, 0, 0, 8, 0, 0]);
    let entry = ocelot_store::IndexEntry::unpack(index[12..18].try_into().unwrap()).unwrap();
    // The block record at that address: lengths, then a GZIP member.
    let at = entry.block_address as usize;
    let compressed = u32::from_be_bytes(data[at..at + 4].try_into().unwrap()) as usize;
    let uncompressed = u32::from_be_bytes(data[at + 4..at + 8].try_into().unwrap()) as usize;
    assert_eq!(&data[at + 8..at + 10], &[0x1f, 0x8b]);
    let block =
        ocelot_store::decompress_member(&data[at + 8..at + 8 + compressed], uncompressed).unwrap();
    let offset = entry.offset_in_block as usize;
    let len = u32::from_be_bytes(block[offset..offset + 4].try_into().unwrap()) as usize;
    let tree = decode_frame(&block[offset..offset + 4 + len], &Default::default()).unwrap();
    assert_eq!(
        tree.header.message_id,
        format!("golden-0a000001-{}-2", common::HOUR)
    );
    let clean = std::fs::read(domain.join("messages.clean")).unwrap();
    assert_eq!(clean, (data.len() as u64).to_be_bytes());
}
