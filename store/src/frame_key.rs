//! [`FrameKey`]: the message ID a frame is filed under, as `Store::append_scanned` takes it.

use std::ops::Range;

use ocelot_protocol::{MessageId, MessageIdRef};

use crate::layout::ClientKey;

/// A message ID whose domain is either its own text or a range of the frame it files.
///
/// The collector reads every frame's ID from the frame's header. Copying the domain into a
/// `String` on the socket's thread and freeing it on the writer's cost an allocation and a
/// cross-thread free per tree (about 2 % of the collector's CPU); a key made with
/// [`FrameKey::in_frame`] points at the domain where it already is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameKey {
    domain: Domain,
    pub(crate) ip: u32,
    pub(crate) pid: Option<u32>,
    pub(crate) hour: u64,
    pub(crate) seq: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Domain {
    Own(String),
    /// `start..end` of the frame, UTF-8 (checked when the key was made).
    InFrame(u32, u32),
}

impl FrameKey {
    /// The ID whose text is `frame[id_text]` (the header's message-ID field, as
    /// `ocelot_protocol::ScannedFrame::message_id_range` gives it), or `None` if that is no
    /// message ID. The key is only valid with this frame.
    pub fn in_frame(frame: &[u8], id_text: Range<usize>) -> Option<FrameKey> {
        let start = id_text.start;
        let text = ocelot_protocol::text::utf8(frame.get(id_text)?)?;
        // The domain is where the ID starts (IDs are parsed from the right).
        FrameKey::in_frame_parsed(start, &MessageIdRef::parse(text).ok()?)
    }

    /// [`FrameKey::in_frame`] for an ID the caller parsed already: `parts` of the header's
    /// message-ID field, which starts at `id_start` in the frame.
    pub fn in_frame_parsed(id_start: usize, parts: &MessageIdRef<'_>) -> Option<FrameKey> {
        let end = id_start + parts.domain.len();
        Some(FrameKey {
            domain: Domain::InFrame(u32::try_from(id_start).ok()?, u32::try_from(end).ok()?),
            ip: parts.ip,
            pid: parts.pid,
            hour: parts.hour,
            seq: parts.seq,
        })
    }

    /// The hour the ID names (its third part).
    pub fn hour(&self) -> u64 {
        self.hour
    }

    /// The domain, given the frame this key was made for.
    pub(crate) fn domain<'a>(&'a self, frame: &'a [u8]) -> &'a str {
        match &self.domain {
            Domain::Own(domain) => domain,
            Domain::InFrame(start, end) => frame
                .get(*start as usize..*end as usize)
                .and_then(ocelot_protocol::text::utf8)
                .unwrap_or(""),
        }
    }

    pub(crate) fn client(&self) -> ClientKey {
        ClientKey {
            ip: self.ip,
            pid: self.pid,
        }
    }

    /// The ID as borrowed parts, given the frame this key was made for.
    pub(crate) fn as_ref<'a>(&'a self, frame: &'a [u8]) -> MessageIdRef<'a> {
        MessageIdRef {
            domain: self.domain(frame),
            ip: self.ip,
            pid: self.pid,
            hour: self.hour,
            seq: self.seq,
        }
    }
}

impl From<MessageId> for FrameKey {
    fn from(id: MessageId) -> Self {
        FrameKey {
            domain: Domain::Own(id.domain),
            ip: id.ip,
            pid: id.pid,
            hour: id.hour,
            seq: id.seq,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_in_its_frame_reads_as_the_id_it_was_made_from() {
        for text in [
            "shop-c0a8010a-498703-42",
            "order-service-0a000001.77-498703-9",
            "a-b-c-00000000-0-0",
        ] {
            let frame = format!("\0\0\0\0NT1 ...{text}... rest");
            let start = frame.find(text).unwrap();
            let key = FrameKey::in_frame(frame.as_bytes(), start..start + text.len()).unwrap();
            let want: MessageId = text.parse().unwrap();
            assert_eq!(key.as_ref(frame.as_bytes()), want.as_borrowed(), "{text}");
            assert_eq!(key.domain(frame.as_bytes()), want.domain);
            assert_eq!(FrameKey::from(want.clone()).as_ref(b""), want.as_borrowed());
        }
        let frame = b"xx not-an-id";
        assert_eq!(FrameKey::in_frame(frame, 3..12), None);
        assert_eq!(FrameKey::in_frame(frame, 3..40), None);
        assert_eq!(FrameKey::in_frame(b"\xff\xfe-0a000001-1-2", 0..16), None);
    }
}
