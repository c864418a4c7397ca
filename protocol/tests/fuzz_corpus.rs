//! Replays the fuzz corpus and every past crash (fuzz/corpus, fuzz/regressions) on stable,
//! so CI checks what the nightly-only fuzzer found.

use std::path::PathBuf;

use ocelot_protocol::{decode_stream, DecodeOptions};

#[test]
fn the_committed_fuzz_corpus_and_past_crashes_decode_without_panicking() {
    let fuzz = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut replayed = 0;
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
            replayed += 1;
        }
    }
    assert!(
        replayed >= 10,
        "corpus went missing: only {replayed} inputs"
    );
}
