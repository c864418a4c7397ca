//! The message ID a stored frame carries in its header.
//!
//! Recovery rebuilds index entries from it, the writer checks it against the ID the caller
//! gave, and lookups check it so a stale or corrupt index entry can never return someone
//! else's tree. Only the header is read: for NT1 the first seven length-prefixed strings,
//! for PT1 the first line. Anything unusual falls back to the full protocol decoder.

use ocelot_protocol::{decode_frame, DecodeOptions, MessageId, MessageIdRef};

/// Index of the message ID among the header strings (domain, hostname, ip, threadGroupName,
/// threadId, threadName, messageId, ...).
const MESSAGE_ID_FIELD: usize = 6;

/// The message ID in a whole frame's header (prefix included), if it has a valid one.
pub(crate) fn message_id_of(frame: &[u8]) -> Option<MessageId> {
    let body = frame.get(4..)?;
    let fast = match body.get(..3)? {
        b"NT1" => nt1_id(&body[3..]),
        b"PT1" => pt1_id(body),
        _ => return None,
    };
    match fast {
        Some(Some(text)) => text.parse().ok(),
        Some(None) => None,
        // Fast path unsure: let the real decoder decide.
        None => decode_frame(frame, &DecodeOptions::default())
            .ok()?
            .header
            .message_id
            .parse()
            .ok(),
    }
}

/// Whether the frame's header carries `id`: the same answer as
/// `message_id_of(frame).as_ref() == Some(id)`, without allocating when the header's ID can
/// be read without the full decoder (always, for what clients write).
pub(crate) fn carries_id(frame: &[u8], id: &MessageIdRef<'_>) -> bool {
    if let Some(body) = frame.get(4..) {
        let text = match body.get(..3) {
            Some(b"NT1") => nt1_id(&body[3..]),
            Some(b"PT1") => pt1_id(body),
            _ => return false,
        };
        match text {
            Some(Some(text)) => return MessageIdRef::parse(text).is_ok_and(|parts| parts == *id),
            Some(None) => return false,
            None => {}
        }
    }
    message_id_of(frame).is_some_and(|found| found.as_borrowed() == *id)
}

/// `Some(Some(id))` found, `Some(None)` certainly malformed, `None` unsure.
fn nt1_id(mut rest: &[u8]) -> Option<Option<&str>> {
    for field in 0..=MESSAGE_ID_FIELD {
        let (len, used) = varint(rest)?;
        let len = usize::try_from(len).ok()?;
        let s = rest.get(used..used.checked_add(len)?)?;
        if field == MESSAGE_ID_FIELD {
            return Some(std::str::from_utf8(s).ok());
        }
        rest = &rest[used + len..];
    }
    None
}

fn varint(buf: &[u8]) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for (i, &b) in buf.iter().enumerate().take(9) {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

fn pt1_id(body: &[u8]) -> Option<Option<&str>> {
    let line_end = body.iter().position(|&b| b == b'\n')?;
    let field = body[..line_end]
        .split(|&b| b == b'\t')
        .nth(MESSAGE_ID_FIELD + 1)?;
    if field.contains(&b'\\') {
        return None; // escaped: let the decoder unescape it
    }
    Some(std::str::from_utf8(field).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ocelot_protocol::{nt1, pt1, Header, Message, MessageTree, Transaction};

    fn tree(id: &str) -> MessageTree {
        let header = Header {
            domain: "shop".into(),
            message_id: id.into(),
            ..Header::default()
        };
        MessageTree::new(
            header,
            Message::Transaction(Transaction::new("URL", "/x", 1)),
        )
    }

    #[test]
    fn message_id_is_read_from_nt1_and_pt1_headers() {
        let id = "shop-c0a8010a-475544-7";
        let want: MessageId = id.parse().unwrap();
        assert_eq!(
            message_id_of(&nt1::encode_to_bytes(&tree(id))),
            Some(want.clone())
        );
        assert_eq!(
            message_id_of(&pt1::encode_to_bytes(&tree(id), 0)),
            Some(want)
        );
    }

    #[test]
    fn frames_without_a_valid_id_have_none() {
        assert_eq!(message_id_of(&nt1::encode_to_bytes(&tree(""))), None);
        assert_eq!(
            message_id_of(&nt1::encode_to_bytes(&tree("not an id"))),
            None
        );
        assert_eq!(message_id_of(b"\0\0\0\x03XYZ"), None);
        assert_eq!(message_id_of(b"\0\0"), None);
        assert_eq!(message_id_of(b"\0\0\0\x05NT1\x05a"), None);
    }

    #[test]
    fn carries_id_agrees_with_parsing_on_canonical_and_other_forms() {
        let ids = [
            MessageId::new("shop", 0xc0a8_010a, 475_544, 7),
            MessageId::new("order-service", 0, 0, 0),
            MessageId::new("a", u32::MAX, u64::MAX, u64::MAX),
            MessageId {
                pid: Some(31_337),
                ..MessageId::new("x-y-1-2", 0x0a00_0001, 498_703, 10)
            },
            MessageId {
                pid: Some(0),
                ..MessageId::new("shop", 1, 2, 3)
            },
        ];
        for id in &ids {
            let canonical = id.to_string();
            let mut texts = vec![
                canonical.clone(),
                canonical.to_uppercase(),
                format!("{canonical}0"),
                format!("{canonical}-1"),
                format!("x{canonical}"),
                canonical.replacen('-', "--", 1),
                format!("{}-{:08X}-{}-{}", id.domain, id.ip, id.hour, id.seq),
                format!("{}-{:08x}-0{}-{}", id.domain, id.ip, id.hour, id.seq),
                format!("{}-{:08x}-{}-00{}", id.domain, id.ip, id.hour, id.seq),
                format!("{}-{:08x}.1-{}-{}", id.domain, id.ip, id.hour, id.seq),
                canonical[..canonical.len() - 1].to_owned(),
            ];
            if let Some(pid) = id.pid {
                texts.push(format!(
                    "{}-{:08x}.0{pid}-{}-{}",
                    id.domain, id.ip, id.hour, id.seq
                ));
            }
            for other in &ids {
                texts.push(other.to_string());
            }
            for text in texts {
                for frame in [
                    nt1::encode_to_bytes(&tree(&text)),
                    pt1::encode_to_bytes(&tree(&text), 0),
                ] {
                    assert_eq!(
                        carries_id(&frame, &id.as_borrowed()),
                        message_id_of(&frame).as_ref() == Some(id),
                        "{id} vs {text:?}"
                    );
                }
            }
            assert!(carries_id(
                &nt1::encode_to_bytes(&tree(&canonical)),
                &id.as_borrowed()
            ));
        }
    }

    proptest::proptest! {
        #[test]
        fn carries_id_is_message_id_of_equality(
            domain in "[a-z-]{0,6}|\\PC{0,4}",
            ip in proptest::prelude::any::<u32>(),
            pid in proptest::option::of(0u32..2000),
            hour in 0u64..1_000_000,
            seq in 0u64..100_000,
            text in "[a-z0-9.-]{0,30}",
            use_canonical in proptest::prelude::any::<bool>(),
        ) {
            let id = MessageId { domain, ip, pid, hour, seq };
            let text = if use_canonical { id.to_string() } else { text };
            let frame = nt1::encode_to_bytes(&tree(&text));
            proptest::prop_assert_eq!(
                carries_id(&frame, &id.as_borrowed()),
                message_id_of(&frame).as_ref() == Some(&id)
            );
        }
    }

    #[test]
    fn real_client_frames_carry_their_ids() {
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../protocol/tests/data/cat-c-client/binary"
        );
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let frame = std::fs::read(entry.unwrap().path()).unwrap();
            let full = decode_frame(&frame, &DecodeOptions::default()).unwrap();
            assert_eq!(message_id_of(&frame), full.header.message_id.parse().ok());
            seen += 1;
        }
        assert!(seen > 20);
    }
}
