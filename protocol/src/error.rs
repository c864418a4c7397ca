//! The crate's error types: one per thing that can be wrong.

use thiserror::Error;

/// Why a byte stream could not be split into frames.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FrameError {
    /// The length prefix is zero: no client writes an empty frame.
    #[error("frame at offset {offset} has length 0")]
    ZeroLength {
        /// Offset of the length prefix in the stream.
        offset: u64,
    },
    /// The length prefix is larger than the configured maximum (for example the ASCII `0000`
    /// a crashing C client writes, which reads as 808 464 432).
    #[error("frame at offset {offset} declares {length} bytes, more than the maximum {max}")]
    TooLong {
        /// Offset of the length prefix in the stream.
        offset: u64,
        /// The declared body length.
        length: u64,
        /// The configured maximum body length.
        max: u64,
    },
    /// The frame is longer than the configured maximum but is a CAT frame (it starts with a
    /// CAT magic and declares at most [`crate::MAX_SKIPPED_FRAME_BYTES`]): it is
    /// dropped, and the decoder steps over its bytes as they arrive, so the stream stays
    /// aligned and the caller may go on decoding the frames after it.
    #[error(
        "frame at offset {offset} declares {length} bytes, more than the maximum {max}; skipped"
    )]
    Skipped {
        /// Offset of the length prefix in the stream.
        offset: u64,
        /// The declared body length.
        length: u64,
        /// The configured maximum body length.
        max: u64,
    },
}

impl FrameError {
    /// Whether the stream is still aligned after this error, so the frames after it can be
    /// decoded (only [`FrameError::Skipped`]).
    pub fn is_recoverable(&self) -> bool {
        matches!(self, FrameError::Skipped { .. })
    }
}

/// Why a frame's body could not be decoded into a tree.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// Fewer than 4 bytes, or the length prefix disagrees with the bytes given.
    #[error("frame length prefix says {declared} bytes but {actual} follow")]
    LengthMismatch {
        /// Body length the prefix declares.
        declared: u64,
        /// Body bytes actually present.
        actual: u64,
    },
    /// The body does not start with `NT1` or `PT1`.
    #[error("unknown frame magic {magic:?} (expected NT1 or PT1)")]
    UnknownMagic {
        /// The first (up to three) bytes of the body, lossily as text.
        magic: String,
    },
    /// The body ended in the middle of a field.
    #[error("frame truncated at body offset {offset} while reading {what}")]
    Truncated {
        /// Offset inside the body (after the length prefix).
        offset: usize,
        /// Which field was being read.
        what: &'static str,
    },
    /// A varint longer than 10 bytes or wider than 64 bits.
    #[error("varint overflows 64 bits at body offset {offset}")]
    VarintOverflow {
        /// Offset inside the body.
        offset: usize,
    },
    /// A record tag that is none of `t T E H M L` (NT1) or `t T A E H M L` (PT1).
    #[error("unknown record tag {tag:#04x} at body offset {offset}")]
    UnknownTag {
        /// The tag byte.
        tag: u8,
        /// Offset inside the body.
        offset: usize,
    },
    /// A `T` record with no open transaction.
    #[error("transaction end without a start at body offset {offset}")]
    UnbalancedEnd {
        /// Offset inside the body.
        offset: usize,
    },
    /// The body ended while transactions were still open.
    #[error("{open} transaction(s) still open at the end of the frame")]
    UnclosedTransaction {
        /// How many were open.
        open: usize,
    },
    /// Transactions nested deeper than [`crate::MAX_DEPTH`].
    #[error("transactions nested deeper than {max} at body offset {offset}")]
    TooDeep {
        /// Offset inside the body.
        offset: usize,
        /// The limit.
        max: usize,
    },
    /// The frame holds a header but no message.
    #[error("frame holds no message")]
    Empty,
    /// Bytes follow a complete root message.
    #[error("unexpected data after the root message at body offset {offset}")]
    TrailingData {
        /// Offset inside the body.
        offset: usize,
    },
    /// A PT1 line or field that does not follow the grammar.
    #[error("malformed PT1 at body offset {offset}: {reason}")]
    MalformedText {
        /// Offset inside the body.
        offset: usize,
        /// What was wrong.
        reason: String,
    },
}

/// Why a string is not a CAT message ID (`domain-hexip[.pid]-hour-seq`).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid message ID {id:?}: {part} {reason}")]
pub struct MessageIdError {
    /// The rejected input (cut to 200 bytes).
    pub id: String,
    /// The part that is wrong: `domain`, `ip`, `pid`, `hour`, `index` or `id`.
    pub part: &'static str,
    /// Why.
    pub reason: &'static str,
}
