//! Any byte stream through the frame splitter and both codecs: must never panic. Every frame
//! is also scanned, and the scan (what the collector checks on the socket's thread) must
//! give the decoder's verdict and error, and the collector's reusing decoder
//! (`nt1::decode_body_into`) the reference decoder's tree or error. A body the analyzer
//! threads' view accepts (`nt1::decode_view`) must decode, to the same messages.
#![no_main]

use ocelot_protocol::{
    decode_frame, nt1, scan_frame, DecodeOptions, FrameDecoder, MessageTree, TreeView,
    LENGTH_PREFIX_BYTES,
};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let options = DecodeOptions::default();
    let _ = ocelot_protocol::decode_stream(data, &options);
    let mut decoder = FrameDecoder::default();
    let mut pos = 0;
    let mut scratch = MessageTree::default();
    while let Ok(Some(len)) = decoder.next_frame_len(&data[pos..]) {
        let frame = &data[pos..pos + len];
        let decoded = decode_frame(frame, &options).map(|_| ());
        let scanned = scan_frame(frame, &options).map(|_| ());
        assert_eq!(scanned, decoded);
        let body = &frame[LENGTH_PREFIX_BYTES..];
        if body.starts_with(nt1::MAGIC) {
            assert_eq!(
                nt1::decode_body_into(body, &mut scratch).map(|()| scratch.clone()),
                nt1::decode_body(body)
            );
            let mut view = TreeView::default();
            if nt1::decode_view(body, nt1::keep_all_data, &mut view).is_ok() {
                let tree = nt1::decode_body(body).expect("a viewed body decodes");
                assert_eq!(view, TreeView::of(&tree));
            }
        }
        pos += len;
    }
});
