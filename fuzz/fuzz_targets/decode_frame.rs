//! Any byte stream through the frame splitter and both codecs: must never panic. Every frame
//! is also scanned, and the scan (what the collector checks on the socket's thread) must
//! give the decoder's verdict and error.
#![no_main]

use ocelot_protocol::{decode_frame, scan_frame, DecodeOptions, FrameDecoder};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let options = DecodeOptions::default();
    let _ = ocelot_protocol::decode_stream(data, &options);
    let mut decoder = FrameDecoder::default();
    let mut pos = 0;
    while let Ok(Some(len)) = decoder.next_frame_len(&data[pos..]) {
        let frame = &data[pos..pos + len];
        let decoded = decode_frame(frame, &options).map(|_| ());
        let scanned = scan_frame(frame, &options).map(|_| ());
        assert_eq!(scanned, decoded);
        pos += len;
    }
});
