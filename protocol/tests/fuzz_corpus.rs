//! Replays the fuzz corpus and every past crash (fuzz/corpus, fuzz/regressions) on stable,
//! so CI checks what the nightly-only fuzzer found.

use std::path::PathBuf;

use ocelot_protocol::{
    decode_frame, decode_stream, nt1, scan_frame, DecodeOptions, FrameDecoder, MessageTree,
    LENGTH_PREFIX_BYTES,
};

#[test]
fn the_committed_fuzz_corpus_and_past_crashes_decode_without_panicking() {
    let fuzz = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut replayed = 0;
    // The collector's decoder reuses one tree; here it carries over from input to input.
    let mut scratch = MessageTree::default();
    for dir in ["corpus/decode_frame", "regressions/decode_frame"] {
        for entry in std::fs::read_dir(fuzz.join(dir)).unwrap() {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            let _ = decode_stream(&bytes, &DecodeOptions::default());
            let _ = decode_stream(
                &bytes,
                &DecodeOptions {
                    pt1_utc_offset_seconds: 0,
                },
            );
            // The collector's scan gives the decoder's verdict on every frame.
            let options = DecodeOptions::default();
            let mut decoder = FrameDecoder::default();
            let mut pos = 0;
            while let Ok(Some(len)) = decoder.next_frame_len(&bytes[pos..]) {
                let frame = &bytes[pos..pos + len];
                assert_eq!(
                    scan_frame(frame, &options).map(|_| ()),
                    decode_frame(frame, &options).map(|_| ()),
                    "{}",
                    path.display()
                );
                let body = &frame[LENGTH_PREFIX_BYTES..];
                if body.starts_with(nt1::MAGIC) {
                    assert_eq!(
                        nt1::decode_body_into(body, &mut scratch).map(|()| scratch.clone()),
                        nt1::decode_body(body),
                        "{}",
                        path.display()
                    );
                }
                pos += len;
            }
            replayed += 1;
        }
    }
    assert!(
        replayed >= 10,
        "corpus went missing: only {replayed} inputs"
    );
}

#[test]
fn the_committed_message_id_corpus_parses_the_same_both_ways() {
    use ocelot_protocol::{MessageId, MessageIdRef};
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/message_id");
    let mut replayed = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let Ok(text) = std::str::from_utf8(&bytes) else {
            continue;
        };
        // What fuzz/fuzz_targets/message_id.rs asserts.
        let parsed = MessageIdRef::parse(text);
        let owned = text.parse::<MessageId>();
        assert_eq!(
            parsed.as_ref().map(MessageIdRef::to_message_id).ok(),
            owned.as_ref().ok().cloned(),
            "{}",
            path.display()
        );
        let expected = parsed
            .ok()
            .filter(|parts| parts.pid.is_none() && parts.to_message_id().to_string() == text);
        assert_eq!(
            MessageIdRef::parse_canonical(text),
            expected,
            "{}",
            path.display()
        );
        replayed += 1;
    }
    assert!(replayed >= 2, "corpus went missing: only {replayed} inputs");
}
