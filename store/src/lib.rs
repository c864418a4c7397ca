//! Ocelot's message store (`ocelot-store`): raw trees in block-GZIP data files, found by
//! message ID through 48-bit index entries, plus the collector's hourly reports.
//!
//! The collector hands every frame it receives to [`Store::append_scanned`] (never blocks:
//! a queue bounded in frames feeds the writer threads); the web server and `ocelot lookup` call
//! [`Store::lookup`] with a message ID and get the frame back exactly as received.
//! The byte layout is in docs/store-format.md.
//!
//! ```
//! use ocelot_protocol::{nt1, Header, Message, MessageId, MessageTree, Transaction};
//! use ocelot_store::{Store, StoreConfig};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let store = Store::open(StoreConfig::new(dir.path())).unwrap();
//! # // The hour must be within retention (7 days by default): take the current one.
//! # let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
//! # let hour = ocelot_protocol::hour_of(now_ms.as_millis() as u64);
//! let id: MessageId = format!("shop-c0a8010a-{hour}-42").parse().unwrap();
//! let header = Header { domain: "shop".into(), message_id: id.to_string(), ..Header::default() };
//! let tree = MessageTree::new(header, Message::Transaction(Transaction::new("URL", "/pay", 1)));
//! let frame = nt1::encode_to_bytes(&tree);
//!
//! store.append(&id, frame.clone()).unwrap();
//! store.flush().unwrap();
//! assert_eq!(store.lookup(&id).unwrap(), Some(frame));
//! store.shutdown();
//! ```

mod block;
mod config;
mod data_file;
mod error;
mod file_layer;
mod frame_id;
mod frame_key;
mod index_entry;
mod index_read;
#[cfg(feature = "isal")]
mod isal_deflate;
mod layout;
mod pending_ids;
mod reader;
mod recovery;
mod report_generations;
mod retention;
mod shared;
mod stats;
mod store;
mod writer;

pub use block::{
    decompress_member, deflate_engine, BLOCK_SIZE_BYTES, MAX_BLOCK_BYTES, MAX_FRAME_BYTES,
    RECORD_HEADER_BYTES,
};
pub use config::{
    StoreConfig, DEFAULT_MAX_DOMAINS_PER_HOUR, DEFAULT_MAX_INDEX_FILES_PER_DOMAIN_HOUR,
    DEFAULT_MAX_SEQ, DEFAULT_QUEUE_BYTES, MAX_DATA_FILE_BYTES, MAX_SEQ_LIMIT, SIZE_CAP_INTERVAL,
};
pub use data_file::{DATA_HEADER_BYTES, DATA_MAGIC, FORMAT_VERSION};
pub use error::{AppendError, StoreError};
pub use file_layer::{FileLayer, OsFiles};
pub use frame_key::FrameKey;
pub use index_entry::{IndexEntry, ENTRY_BYTES};
pub use layout::{parse_hour as parse_hour_folder, validate_name, MAX_NAME_BYTES};
pub use stats::{DiskUse, DropReason, LastError, StoreStats, LAST_ERROR_TEXT_MAX_BYTES};
pub use store::{FramesRead, Store};

#[cfg(test)]
mod tests {
    #[test]
    fn store_handles_can_be_shared_between_threads() {
        fn assert_send_sync<T: Send + Sync + Clone>() {}
        assert_send_sync::<crate::Store>();
    }
}
