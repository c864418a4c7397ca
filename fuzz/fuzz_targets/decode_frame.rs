//! Any byte stream through the frame splitter and both codecs: must never panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = ocelot_protocol::decode_stream(data, &ocelot_protocol::DecodeOptions::default());
});
