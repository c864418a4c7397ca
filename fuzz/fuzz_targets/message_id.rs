//! Any text as a message ID: the parsers must never panic, the one-pass canonical parse
//! must accept exactly the IDs that the general parse accepts without a pid and that
//! `Display` writes back unchanged, with the same parts, and an owned parse must agree
//! with the borrowed one. The socket thread parses every frame's ID this way.
#![no_main]

use ocelot_protocol::{MessageId, MessageIdRef};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = MessageIdRef::parse(text);
    let owned = text.parse::<MessageId>();
    assert_eq!(
        parsed.as_ref().map(MessageIdRef::to_message_id).ok(),
        owned.as_ref().ok().cloned()
    );
    let expected = parsed
        .ok()
        .filter(|parts| parts.pid.is_none() && parts.to_message_id().to_string() == text);
    assert_eq!(MessageIdRef::parse_canonical(text), expected);
});
