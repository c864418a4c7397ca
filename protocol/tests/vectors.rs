//! The codecs against frames captured from real CAT clients (tests/data, copied from
//! ../shared/vectors and ../shared/reference/cat-vectors).

use std::path::PathBuf;

use bytes::BytesMut;
use ocelot_protocol::{decode_frame, nt1, pt1, DecodeOptions, FrameDecoder, TreeJson, WireFormat};
use serde_json::Value;

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

fn expected_frames() -> Vec<Value> {
    let text = std::fs::read_to_string(data_dir().join("cat-c-client/expected.json")).unwrap();
    let all: Value = serde_json::from_str(&text).unwrap();
    all["frames"].as_array().unwrap().clone()
}

/// The C client capture ran in UTC, so its PT1 times are UTC wall-clock.
const UTC: DecodeOptions = DecodeOptions {
    pt1_utc_offset_seconds: 0,
};

/// Drops the PT1-only keys (raw time strings) that our JSON shape does not carry.
fn strip_pt1_extras(node: &mut Value) {
    if let Some(map) = node.as_object_mut() {
        map.remove("time");
        map.remove("endTime");
        map.remove("endTimestamp");
        if let Some(children) = map.get_mut("children").and_then(Value::as_array_mut) {
            children.iter_mut().for_each(strip_pt1_extras);
        }
    }
}

/// `header` (as the capture lists it: PT1 frames write an absent value as `null`) with its
/// absent IDs and session token as our JSON writes them: `""`, whichever the format.
fn absent_as_empty(header: &Value) -> Value {
    let mut header = header.clone();
    for key in [
        "messageId",
        "parentMessageId",
        "rootMessageId",
        "sessionToken",
    ] {
        if header[key] == "null" {
            header[key] = Value::from("");
        }
    }
    header
}

#[test]
fn every_captured_frame_decodes_to_the_expected_tree() {
    let frames = expected_frames();
    assert_eq!(frames.len(), 41);
    for expected in frames {
        let file = expected["file"].as_str().unwrap();
        let bytes = std::fs::read(data_dir().join("cat-c-client").join(file)).unwrap();
        assert_eq!(
            bytes.len() as u64,
            expected["frame_len"].as_u64().unwrap(),
            "{file}"
        );
        let tree = decode_frame(&bytes, &UTC).unwrap_or_else(|e| panic!("{file}: {e}"));
        let format = WireFormat::of_body(&bytes[4..]).unwrap();
        let got = serde_json::to_value(TreeJson {
            format,
            tree: &tree,
        })
        .unwrap();
        let mut want_root = expected["root"].clone();
        strip_pt1_extras(&mut want_root);
        assert_eq!(got["format"], expected["format"], "{file}");
        let raw = &expected["header"];
        // The tree keeps the header as written (PT1's `null`), so it re-encodes as sent...
        assert_eq!(
            tree.header.parent_message_id, raw["parentMessageId"],
            "{file}"
        );
        assert_eq!(tree.header.session_token, raw["sessionToken"], "{file}");
        // ...and the JSON writes an absent ID or token as "", as NT1 does.
        assert_eq!(got["header"], absent_as_empty(raw), "{file}");
        assert_eq!(got["root"], want_root, "{file}");
    }
}

#[test]
fn every_nt1_frame_reencodes_to_identical_bytes() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(data_dir().join("cat-c-client/binary"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.push(data_dir().join("cat-vectors/example-nt1-java3.bin"));
    files.push(data_dir().join("cat-vectors/example-nt1-ccat.bin"));
    assert_eq!(files.len(), 31);
    for file in files {
        let bytes = std::fs::read(&file).unwrap();
        let tree = decode_frame(&bytes, &DecodeOptions::default()).unwrap();
        let mut out = Vec::new();
        nt1::encode(&tree, &mut out);
        assert!(
            out == bytes,
            "{} does not re-encode byte for byte",
            file.display()
        );
    }
}

#[test]
fn reference_pt1_frames_reencode_to_identical_bytes_in_shanghai_time() {
    for name in ["example-pt1-java3.bin", "example-pt1-ccat-tz-shanghai.bin"] {
        let bytes = std::fs::read(data_dir().join("cat-vectors").join(name)).unwrap();
        // Default options: CAT's +08:00.
        let tree = decode_frame(&bytes, &DecodeOptions::default()).unwrap();
        assert_eq!(tree.root.timestamp_ms(), 1_711_958_400_123, "{name}");
        assert_eq!(tree.header.message_id, "shop-c0a8010a-475544-0");
        let out = pt1::encode_to_bytes(&tree, 8 * 3600);
        assert!(
            out[..] == bytes[..],
            "{name} does not re-encode byte for byte"
        );
    }
}

#[test]
fn reference_nt1_and_pt1_frames_hold_the_same_tree() {
    let nt1 = std::fs::read(data_dir().join("cat-vectors/example-nt1-java3.bin")).unwrap();
    let pt1 = std::fs::read(data_dir().join("cat-vectors/example-pt1-java3.bin")).unwrap();
    let a = decode_frame(&nt1, &DecodeOptions::default()).unwrap();
    let b = decode_frame(&pt1, &DecodeOptions::default()).unwrap();
    assert_eq!(a.root, b.root);
}

#[test]
fn the_captured_stream_splits_into_the_captured_frames_whatever_the_read_sizes() {
    let stream = std::fs::read(data_dir().join("cat-c-client/streams/binary.stream")).unwrap();
    let mut want = Vec::new();
    for i in 1..=29 {
        want.push(
            std::fs::read(data_dir().join(format!("cat-c-client/binary/{i:04}.bin"))).unwrap(),
        );
    }
    for chunk in [1, 3, 7, 64, 1000, 65_536, stream.len()] {
        let mut decoder = FrameDecoder::default();
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        for piece in stream.chunks(chunk) {
            buf.extend_from_slice(piece);
            while let Some(frame) = decoder.decode(&mut buf).unwrap() {
                got.push(frame.to_vec());
            }
        }
        assert!(buf.is_empty());
        assert_eq!(got, want, "chunk size {chunk}");
    }
}

#[test]
fn a_truncated_frame_is_incomplete_or_an_error_at_every_byte_position() {
    for i in [1, 2, 8, 12, 25] {
        let bytes =
            std::fs::read(data_dir().join(format!("cat-c-client/binary/{i:04}.bin"))).unwrap();
        for cut in 0..bytes.len() {
            let mut decoder = FrameDecoder::default();
            let mut buf = BytesMut::from(&bytes[..cut]);
            assert_eq!(decoder.decode(&mut buf).unwrap(), None);
            // The body cut short but with its prefix rewritten to match: a decode error.
            if cut > 4 {
                let mut frame = bytes[..cut].to_vec();
                let len = (cut - 4) as u32;
                frame[..4].copy_from_slice(&len.to_be_bytes());
                assert!(
                    decode_frame(&frame, &DecodeOptions::default()).is_err(),
                    "{i} cut {cut}"
                );
            }
        }
    }
}

#[test]
fn garbage_at_every_byte_position_never_panics() {
    for dir in ["binary", "text"] {
        for i in [1, 2, 5, 8] {
            let bytes =
                std::fs::read(data_dir().join(format!("cat-c-client/{dir}/{i:04}.bin"))).unwrap();
            for pos in 4..bytes.len() {
                for garbage in [0x00, 0xff, b't', b'T', b'\t', b'\n', 0x80] {
                    let mut frame = bytes.clone();
                    frame[pos] = garbage;
                    let _ = decode_frame(&frame, &UTC);
                }
            }
        }
    }
}
