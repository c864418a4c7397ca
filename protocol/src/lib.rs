//! CAT's message model and wire codecs, shared by the Ocelot SDK and collector.
//!
//! This crate is deliberately small and pure: plain types plus encode/decode over [`bytes`].
//! It opens no sockets, reads no files and needs no runtime, so it is the one place to
//! property-test and fuzz the wire format.
//!
//! * [`MessageTree`], [`Message`], [`Transaction`], [`Leaf`]: a tree as CAT clients build it.
//! * [`MessageId`]: `domain-hexip[.pid]-hour-seq`, parsed from the right.
//! * [`FrameDecoder`]: splits a TCP byte stream into length-prefixed frames.
//! * [`decode_frame`] / [`nt1::encode`] / [`pt1::encode`]: the NT1 (binary) and PT1 (text) codecs.
//! * [`text`]: wire bytes as text (lossy as CAT reads strings, or strictly valid).
//!
//! ```
//! use ocelot_protocol::{decode_frame, nt1, DecodeOptions, Header, Message, MessageTree, Transaction};
//!
//! let mut root = Transaction::new("URL", "/api/order", 1_711_958_400_123);
//! root.duration_us = 12_345;
//! let tree = MessageTree::new(Header { domain: "shop".into(), ..Header::default() }, Message::Transaction(root));
//! let frame = nt1::encode_to_bytes(&tree);
//! let decoded = decode_frame(&frame, &DecodeOptions::default()).unwrap();
//! assert_eq!(decoded, tree);
//! ```

mod error;
mod frame;
#[cfg(feature = "serde")]
mod json;
mod message;
mod message_id;
pub mod names;
pub mod nt1;
pub mod pt1;
pub mod sample;
mod short_eq;
pub mod text;
#[cfg(feature = "serde")]
pub use json::TreeJson;
pub use short_eq::short_eq;
mod varint;
mod view;
pub use view::{MessageView, TreeView};

pub use error::{DecodeError, FrameError, MessageIdError};
pub use frame::{
    decode_frame, decode_stream, scan_frame, FrameDecoder, ScannedFrame, WireFormat,
    DEFAULT_MAX_FRAME_BYTES, LENGTH_PREFIX_BYTES, MAX_SKIPPED_FRAME_BYTES,
};
pub use message::{
    DecodeOptions, Header, Leaf, Message, MessageKind, MessageTree, Transaction, MAX_DEPTH, SUCCESS,
};
pub use message_id::{hour_of, MessageId, MessageIdRef, MILLIS_PER_HOUR};
