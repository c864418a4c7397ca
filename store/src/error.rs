//! The crate's error types.

use std::io;
use std::path::PathBuf;

use thiserror::Error;

/// Why a store operation failed.
#[derive(Debug, Error)]
pub enum StoreError {
    /// A file or folder could not be read or written.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// A domain, report name or other path component is not safe to use as a file name.
    #[error("invalid {what} {value:?}: {reason}")]
    InvalidName {
        /// What the string is (domain, report name).
        what: &'static str,
        /// The offending value (cut to 200 bytes).
        value: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A block record could not be read back: truncated, bad gzip, bad checksum, too large.
    /// Only lookups that need this block fail.
    #[error("corrupt block at address {address} of {path}: {reason}")]
    CorruptBlock {
        /// The data file.
        path: PathBuf,
        /// File offset of the block record.
        address: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// The index points at something that is not the requested tree.
    #[error("index entry for {id} points at a bad frame in {path}: {reason}")]
    CorruptEntry {
        /// The requested message ID.
        id: String,
        /// The data file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A file does not start with the expected magic or has an unknown version.
    #[error("{path} is not an Ocelot store file of a known version: {reason}")]
    BadFormat {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The store has been shut down.
    #[error("the store has been shut down")]
    Closed,
}

impl StoreError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> StoreError {
        StoreError::Io {
            path: path.into(),
            source,
        }
    }
}

/// Why [`crate::Store::append`] refused a frame. Every refusal is also counted in
/// [`crate::StoreStats::drops`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AppendError {
    /// The writer queue is full: the disk is slower than ingestion. The frame is dropped.
    #[error("store queue is full")]
    QueueFull,
    /// The ID's domain is not a safe folder name.
    #[error("domain {0:?} is not a safe folder name")]
    InvalidDomain(String),
    /// The sequence number is above [`crate::StoreConfig::max_seq`].
    #[error("sequence number {seq} is above the maximum {max}")]
    SeqTooLarge {
        /// The ID's sequence number.
        seq: u64,
        /// The configured maximum.
        max: u64,
    },
    /// The frame is larger than [`crate::MAX_FRAME_BYTES`] or is not a whole frame.
    #[error("frame of {len} bytes is empty, not length-prefixed or larger than {max} bytes")]
    BadFrame {
        /// The frame's length.
        len: usize,
        /// The maximum.
        max: usize,
    },
    /// The ID's hour is older than the retention horizon.
    #[error("hour {hour} is older than the retention horizon {oldest}")]
    Expired {
        /// The ID's hour.
        hour: u64,
        /// The oldest hour kept.
        oldest: u64,
    },
    /// The store has been shut down.
    #[error("the store has been shut down")]
    Closed,
}
