//! Framing: every tree travels as a 4-byte big-endian body length, then the body, which
//! starts with a 3-byte magic (`NT1` or `PT1`).

use bytes::{Bytes, BytesMut};

use crate::error::{DecodeError, FrameError};
use crate::message::{DecodeOptions, MessageTree};
use crate::{nt1, pt1};

/// Bytes in the length prefix.
pub const LENGTH_PREFIX_BYTES: usize = 4;

/// Default cap on a frame's body: real trees are a few KiB, clients cut them at 2000
/// messages, and 16 MiB leaves room for huge data fields while refusing garbage lengths.
pub const DEFAULT_MAX_FRAME_BYTES: usize = 16 * 1024 * 1024;

/// The encoding of a frame's body, told by its magic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WireFormat {
    /// CAT's binary "native" encoding.
    Nt1,
    /// CAT's plain-text encoding.
    Pt1,
}

impl WireFormat {
    /// The magic as text.
    pub fn as_str(self) -> &'static str {
        match self {
            WireFormat::Nt1 => "NT1",
            WireFormat::Pt1 => "PT1",
        }
    }

    /// The format of a body (the bytes after the length prefix).
    pub fn of_body(body: &[u8]) -> Result<WireFormat, DecodeError> {
        match body.get(..3) {
            Some(b"NT1") => Ok(WireFormat::Nt1),
            Some(b"PT1") => Ok(WireFormat::Pt1),
            other => Err(DecodeError::UnknownMagic {
                magic: String::from_utf8_lossy(other.unwrap_or(body)).into_owned(),
            }),
        }
    }
}

/// Decodes one whole frame (length prefix included) of either format.
pub fn decode_frame(frame: &[u8], options: &DecodeOptions) -> Result<MessageTree, DecodeError> {
    let body = frame_body(frame)?;
    match WireFormat::of_body(body)? {
        WireFormat::Nt1 => nt1::decode_body(body),
        WireFormat::Pt1 => pt1::decode_body(body, options),
    }
}

/// A frame checked by [`scan_frame`].
#[derive(Debug, Clone, PartialEq)]
pub enum ScannedFrame {
    /// An NT1 frame: valid, not decoded yet. Ranges are offsets into the whole frame.
    Nt1(nt1::BodyScan),
    /// A PT1 frame, decoded (its text has no cheap check short of decoding it).
    Pt1(Box<MessageTree>),
}

impl ScannedFrame {
    /// The header's domain (`frame` is the frame this scan came from).
    pub fn domain<'a>(&'a self, frame: &'a [u8]) -> std::borrow::Cow<'a, str> {
        match self {
            ScannedFrame::Nt1(scan) => crate::text::lossy(&frame[scan.domain.clone()]),
            ScannedFrame::Pt1(tree) => std::borrow::Cow::Borrowed(&tree.header.domain),
        }
    }

    /// The header's message ID, if set (empty and `null` mean absent).
    pub fn message_id<'a>(&'a self, frame: &'a [u8]) -> Option<std::borrow::Cow<'a, str>> {
        let id = match self {
            ScannedFrame::Nt1(scan) => crate::text::lossy(&frame[scan.message_id.clone()]),
            ScannedFrame::Pt1(tree) => return tree.header.message_id().map(Into::into),
        };
        crate::message::present(&id).is_some().then_some(id)
    }

    /// Where the header's message-ID text is in the frame, for an NT1 frame (`None` for
    /// PT1, whose tree is decoded already). The text may be empty or not an ID.
    pub fn message_id_range(&self) -> Option<std::ops::Range<usize>> {
        match self {
            ScannedFrame::Nt1(scan) => Some(scan.message_id.clone()),
            ScannedFrame::Pt1(_) => None,
        }
    }

    /// The root message's timestamp, epoch milliseconds.
    pub fn root_timestamp_ms(&self) -> u64 {
        match self {
            ScannedFrame::Nt1(scan) => scan.root_timestamp_ms,
            ScannedFrame::Pt1(tree) => tree.root.timestamp_ms(),
        }
    }

    /// How many messages the tree holds, the root included.
    pub fn message_count(&self) -> usize {
        match self {
            ScannedFrame::Nt1(scan) => scan.messages,
            ScannedFrame::Pt1(tree) => tree.message_count(),
        }
    }
}

/// Checks one whole frame (length prefix included) as [`decode_frame`] does, with the same
/// error for the same bytes, but decodes only PT1: an NT1 frame is scanned without
/// allocating, and decoded later by whoever uses the tree.
pub fn scan_frame(frame: &[u8], options: &DecodeOptions) -> Result<ScannedFrame, DecodeError> {
    let body = frame_body(frame)?;
    match WireFormat::of_body(body)? {
        WireFormat::Nt1 => {
            let mut scan = nt1::scan_body(body)?;
            let shift = |r: &mut std::ops::Range<usize>| {
                *r = r.start + LENGTH_PREFIX_BYTES..r.end + LENGTH_PREFIX_BYTES;
            };
            shift(&mut scan.domain);
            shift(&mut scan.message_id);
            Ok(ScannedFrame::Nt1(scan))
        }
        WireFormat::Pt1 => {
            pt1::decode_body(body, options).map(|tree| ScannedFrame::Pt1(Box::new(tree)))
        }
    }
}

/// Splits `stream` into frames and decodes each, in order: the fuzz target and a handy way to
/// check a capture. Stops at the first framing error (the stream can't be trusted after it)
/// or at a trailing incomplete frame.
pub fn decode_stream(
    stream: &[u8],
    options: &DecodeOptions,
) -> (Vec<Result<MessageTree, DecodeError>>, Option<FrameError>) {
    let mut decoder = FrameDecoder::default();
    let mut trees = Vec::new();
    let mut pos = 0;
    loop {
        match decoder.next_frame_len(&stream[pos..]) {
            Ok(Some(len)) => {
                trees.push(decode_frame(&stream[pos..pos + len], options));
                pos += len;
            }
            Ok(None) => return (trees, None),
            Err(e) => return (trees, Some(e)),
        }
    }
}

/// The body of a whole frame, after checking the prefix against the length.
pub(crate) fn frame_body(frame: &[u8]) -> Result<&[u8], DecodeError> {
    let Some((prefix, body)) = frame.split_first_chunk::<LENGTH_PREFIX_BYTES>() else {
        return Err(DecodeError::LengthMismatch {
            declared: 0,
            actual: frame.len() as u64,
        });
    };
    let declared = u64::from(u32::from_be_bytes(*prefix));
    if declared != body.len() as u64 {
        return Err(DecodeError::LengthMismatch {
            declared,
            actual: body.len() as u64,
        });
    }
    Ok(body)
}

/// The least [`FrameDecoder::decode`] reserves for the rest of an incomplete frame.
const RESERVE_AHEAD_BYTES: usize = 64 * 1024;

/// Longest body [`FrameDecoder::decode`] steps over instead of giving up on the stream.
///
/// CAT's server has no cap, so a client may send a tree past ours (2000 messages with large
/// data); dropping that one frame keeps the trees behind it, where closing the connection
/// would lose every tree in flight (cat-design 12.1: skip exactly `length` bytes). Past
/// this, the length is taken for garbage: any four ASCII characters read as a length are at
/// least `0x2020_2020` (514 MiB), and skipping that would swallow the client's next trees.
pub const MAX_SKIPPED_FRAME_BYTES: usize = 256 * 1024 * 1024;

/// The magics of CAT frames (`NM1`: CAT 4.0's metric bags).
const CAT_MAGICS: [&[u8; 3]; 3] = [b"NT1", b"PT1", b"NM1"];

/// Splits a byte stream into frames.
///
/// Feed it the connection's read buffer; each call takes at most one whole frame off the
/// front. Half a frame is `Ok(None)`, not an error, and nothing is copied or allocated
/// until the frame is complete. After an error the stream can't be trusted any more and the
/// caller should close the connection, except after [`FrameError::Skipped`] (see
/// [`FrameError::is_recoverable`]).
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    max_frame_bytes: usize,
    offset: u64,
    /// Bytes of an oversized frame still to step over (see [`FrameError::Skipped`]).
    skipping: u64,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        FrameDecoder::new(DEFAULT_MAX_FRAME_BYTES)
    }
}

impl FrameDecoder {
    /// A decoder refusing bodies longer than `max_frame_bytes`.
    pub fn new(max_frame_bytes: usize) -> Self {
        FrameDecoder {
            max_frame_bytes,
            offset: 0,
            skipping: 0,
        }
    }

    /// Stream offset of the next frame's length prefix (bytes taken so far).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The body length the next frame declares, once its prefix has arrived, checked
    /// against the limits.
    pub fn peek_length(&self, buf: &[u8]) -> Result<Option<usize>, FrameError> {
        let Some(prefix) = buf.first_chunk::<LENGTH_PREFIX_BYTES>() else {
            return Ok(None);
        };
        let length = u32::from_be_bytes(*prefix) as usize;
        if length == 0 {
            return Err(FrameError::ZeroLength {
                offset: self.offset,
            });
        }
        if length > self.max_frame_bytes {
            return Err(FrameError::TooLong {
                offset: self.offset,
                length: length as u64,
                max: self.max_frame_bytes as u64,
            });
        }
        Ok(Some(length))
    }

    /// Takes the next whole frame (length prefix included) off the front of `buf`.
    ///
    /// A CAT frame longer than the maximum (see [`MAX_SKIPPED_FRAME_BYTES`]) gives
    /// [`FrameError::Skipped`] once; its bytes are then dropped from `buf` as they arrive,
    /// and the frames after it come out as usual. Every other error ends the stream.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, FrameError> {
        if !self.step_over(buf) {
            return Ok(None);
        }
        let length = match self.peek_length(buf) {
            Ok(Some(length)) => length,
            Ok(None) => return Ok(None),
            Err(FrameError::TooLong {
                offset,
                length,
                max,
            }) if length <= MAX_SKIPPED_FRAME_BYTES as u64 => {
                // Its magic tells a CAT frame from garbage: wait for it.
                let Some(magic) = buf.get(LENGTH_PREFIX_BYTES..LENGTH_PREFIX_BYTES + 3) else {
                    return Ok(None);
                };
                if !CAT_MAGICS.iter().any(|m| &m[..] == magic) {
                    return Err(FrameError::TooLong {
                        offset,
                        length,
                        max,
                    });
                }
                self.skipping = LENGTH_PREFIX_BYTES as u64 + length;
                self.step_over(buf);
                return Err(FrameError::Skipped {
                    offset,
                    length,
                    max,
                });
            }
            Err(e) => return Err(e),
        };
        let total = LENGTH_PREFIX_BYTES + length;
        if buf.len() < total {
            // Room for what has arrived again, at least 64 KiB, never more than the frame
            // still needs: the buffer grows by doubling as a large frame arrives, and
            // seven bytes declaring 16 MiB do not make the server hold 16 MiB.
            let missing = total - buf.len();
            buf.reserve(missing.min(buf.len().max(RESERVE_AHEAD_BYTES)));
            return Ok(None);
        }
        self.offset += total as u64;
        Ok(Some(buf.split_to(total).freeze()))
    }

    /// Drops from `buf` what is left of a frame being skipped; whether it is all gone.
    fn step_over(&mut self, buf: &mut BytesMut) -> bool {
        if self.skipping == 0 {
            return true;
        }
        let drop = usize::try_from(self.skipping).map_or(buf.len(), |n| n.min(buf.len()));
        let _ = buf.split_to(drop);
        self.skipping -= drop as u64;
        self.offset += drop as u64;
        self.skipping == 0
    }

    /// Like [`FrameDecoder::decode`] over a borrowed slice: returns the frame's length
    /// (prefix included) when one is complete at the start of `buf`.
    pub fn next_frame_len(&mut self, buf: &[u8]) -> Result<Option<usize>, FrameError> {
        let Some(length) = self.peek_length(buf)? else {
            return Ok(None);
        };
        let total = LENGTH_PREFIX_BYTES + length;
        if buf.len() < total {
            return Ok(None);
        }
        self.offset += total as u64;
        Ok(Some(total))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_decoder_waits_for_half_a_frame() {
        let mut decoder = FrameDecoder::default();
        let mut buf = BytesMut::from(&[0u8, 0, 0, 5, b'N', b'T'][..]);
        assert_eq!(decoder.decode(&mut buf).unwrap(), None);
        buf.extend_from_slice(b"1ab");
        let frame = decoder.decode(&mut buf).unwrap().unwrap();
        assert_eq!(&frame[..], b"\0\0\0\x05NT1ab");
        assert!(buf.is_empty());
        assert_eq!(decoder.offset(), 9);
    }

    #[test]
    fn a_declared_length_reserves_only_as_its_bytes_arrive() {
        let mut decoder = FrameDecoder::default();
        let body = vec![b'x'; 4 << 20];
        let mut stream = (body.len() as u32).to_be_bytes().to_vec();
        stream.extend_from_slice(&body);
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&stream[..7]);
        assert_eq!(decoder.decode(&mut buf).unwrap(), None);
        assert!(buf.capacity() < 128 * 1024, "{}", buf.capacity());
        // Fed in reads of 64 KiB, the buffer grows by doubling, not a read at a time.
        let (mut grew, mut at) = (0, 7);
        while at < stream.len() {
            let before = buf.capacity();
            let end = (at + 64 * 1024).min(stream.len());
            buf.extend_from_slice(&stream[at..end]);
            at = end;
            if let Some(frame) = decoder.decode(&mut buf).unwrap() {
                assert_eq!(frame.len(), stream.len());
            }
            grew += usize::from(buf.capacity() != before);
        }
        assert!(buf.is_empty());
        assert!(grew < 40, "{grew} reallocations for a 4 MiB frame");
    }

    #[test]
    fn frame_decoder_rejects_the_ascii_length_of_a_crashing_client() {
        let mut decoder = FrameDecoder::default();
        let mut buf = BytesMut::from(&b"0000NT1garbage"[..]);
        let err = decoder.decode(&mut buf).unwrap_err();
        assert_eq!(
            err,
            FrameError::TooLong {
                offset: 0,
                length: 808_464_432,
                max: DEFAULT_MAX_FRAME_BYTES as u64
            }
        );
        assert!(err.to_string().contains("808464432"));
    }

    #[test]
    fn an_oversized_cat_frame_is_skipped_and_the_next_frame_still_decodes() {
        let mut stream = Vec::new();
        stream.extend_from_slice(&100u32.to_be_bytes());
        stream.extend_from_slice(b"NT1");
        stream.extend_from_slice(&[b'x'; 97]);
        stream.extend_from_slice(&5u32.to_be_bytes());
        stream.extend_from_slice(b"NT1ab");
        // Whatever the read sizes, one skip is reported and the small frame comes out whole.
        for chunk in [1, 2, 5, 7, 64, stream.len()] {
            let mut decoder = FrameDecoder::new(50);
            let mut buf = BytesMut::new();
            let (mut skipped, mut frames) = (Vec::new(), Vec::new());
            for piece in stream.chunks(chunk) {
                buf.extend_from_slice(piece);
                loop {
                    match decoder.decode(&mut buf) {
                        Ok(Some(frame)) => frames.push(frame),
                        Ok(None) => break,
                        Err(e) => {
                            assert!(e.is_recoverable(), "{e}");
                            skipped.push(e);
                        }
                    }
                }
            }
            assert_eq!(
                skipped,
                [FrameError::Skipped {
                    offset: 0,
                    length: 100,
                    max: 50
                }],
                "chunk {chunk}"
            );
            assert_eq!(frames, [&b"\0\0\0\x05NT1ab"[..]], "chunk {chunk}");
            assert!(buf.is_empty());
            assert_eq!(decoder.offset(), stream.len() as u64);
        }
    }

    #[test]
    fn an_oversized_length_without_a_cat_magic_ends_the_stream() {
        let mut decoder = FrameDecoder::new(50);
        let mut buf = BytesMut::from(&[0u8, 0, 0, 100, b'X', b'Y', b'Z', 0][..]);
        let err = decoder.decode(&mut buf).unwrap_err();
        assert!(!err.is_recoverable());
        assert!(matches!(err, FrameError::TooLong { length: 100, .. }));
    }

    #[test]
    fn frame_decoder_rejects_zero_length() {
        let mut decoder = FrameDecoder::default();
        let mut buf = BytesMut::from(&[0u8, 0, 0, 0][..]);
        assert_eq!(
            decoder.decode(&mut buf).unwrap_err(),
            FrameError::ZeroLength { offset: 0 }
        );
    }
}
