//! The read path: message ID -> index entry (`pread`) -> block (capped decompression,
//! LRU-cached) -> the frame, checked to carry the requested ID.

use std::fs::File;
use std::io;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use lru::LruCache;
use ocelot_protocol::MessageId;

use crate::block::{frame_at, BLOCK_SIZE_BYTES};
use crate::data_file::{self, Record};
use crate::error::StoreError;
use crate::frame_id::message_id_of;
use crate::index_entry::IndexEntry;
use crate::index_read;
use crate::layout::{validate_name, ClientKey, DATA_FILE};
use crate::shared::{Shared, Warned};
use crate::stats::add;

pub(crate) struct Reader {
    shared: Arc<Shared>,
    blocks: Mutex<LruCache<(PathBuf, u32), Bytes>>,
    /// [`Shared::files_changed_count`] when the cache was last cleared for it.
    files_changed_seen: AtomicU64,
}

impl Reader {
    pub(crate) fn new(shared: Arc<Shared>) -> Reader {
        let blocks =
            NonZeroUsize::new(shared.config.block_cache_blocks.max(1)).expect("at least 1");
        Reader {
            shared,
            blocks: Mutex::new(LruCache::new(blocks)),
            files_changed_seen: AtomicU64::new(0),
        }
    }

    /// Forgets cached blocks (after retention deleted files).
    pub(crate) fn clear_caches(&self) {
        self.blocks.lock().expect("block cache poisoned").clear();
    }

    pub(crate) fn lookup(&self, id: &MessageId) -> Result<Option<Bytes>, StoreError> {
        add(&self.shared.counters.lookups, 1);
        validate_name("domain", &id.domain)?;
        let changed = self.shared.files_changed_count();
        if self.files_changed_seen.swap(changed, Ordering::Relaxed) != changed {
            self.clear_caches();
        }
        if id.seq > self.shared.config.max_seq || id.hour < self.shared.oldest_hour() {
            return Ok(None);
        }
        let dir = self.shared.layout.domain_dir(id.hour, &id.domain);
        let index_path = dir.join(ClientKey::of(id).file_name());
        let Some(entry) = index_read::entry(&index_path, id.seq)? else {
            return Ok(None);
        };
        let data_path = dir.join(DATA_FILE);
        let mut result = self.frame(id, &data_path, entry);
        if result.as_ref().is_err_and(is_corrupt) {
            // Retention may have deleted the hour between the two reads (a read-only store,
            // `ocelot lookup` beside the server, is never told). Ask the index file as it is
            // now; only an entry it still holds is corrupt.
            match index_read::entry(&index_path, id.seq)? {
                None => return Ok(None),
                Some(now) if now != entry => result = self.frame(id, &data_path, now),
                Some(_) => {}
            }
        }
        if let Some(e) = result.as_ref().err().filter(|e| is_corrupt(e)) {
            add(&self.shared.counters.corrupt_reads, 1);
            self.shared
                .warn_throttled(Warned::CorruptRead, || format!("store read failed: {e}"));
        }
        result
    }

    /// The frame of `id` that `entry` points at in the data file at `data_path`.
    fn frame(
        &self,
        id: &MessageId,
        data_path: &Path,
        entry: IndexEntry,
    ) -> Result<Option<Bytes>, StoreError> {
        let block = self.block(data_path.to_path_buf(), entry.block_address)?;
        let corrupt = |reason: String| StoreError::CorruptEntry {
            id: id.to_string(),
            path: data_path.to_path_buf(),
            reason,
        };
        let range = frame_at(&block, usize::from(entry.offset_in_block)).map_err(corrupt)?;
        let frame = block.slice(range);
        if message_id_of(&frame).as_ref() != Some(id) {
            return Err(corrupt(
                "the frame there carries another message ID".to_owned(),
            ));
        }
        Ok(Some(frame))
    }

    fn block(&self, path: PathBuf, address: u32) -> Result<Bytes, StoreError> {
        let key = (path, address);
        if let Some(block) = self.blocks.lock().expect("block cache poisoned").get(&key) {
            return Ok(block.clone());
        }
        let (path, _) = &key;
        let file = match File::open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(StoreError::CorruptBlock {
                    path: path.clone(),
                    address: address.into(),
                    reason: "the index points into a data file that does not exist".to_owned(),
                })
            }
            Err(e) => return Err(StoreError::io(path, e)),
        };
        let block = match data_file::read_record(&file, path, address.into())? {
            Record::Block(block, _) => Bytes::from(block),
            Record::Truncated => {
                return Err(StoreError::CorruptBlock {
                    path: path.clone(),
                    address: address.into(),
                    reason: "the data file ends inside the block".to_owned(),
                })
            }
            Record::Corrupt(reason, _) => {
                return Err(StoreError::CorruptBlock {
                    path: path.clone(),
                    address: address.into(),
                    reason,
                })
            }
        };
        // Only shared blocks (<= 64 KiB) are cached, so the cache stays below
        // `block_cache_blocks` x 64 KiB; a lone giant tree is decompressed each time.
        if block.len() <= BLOCK_SIZE_BYTES {
            self.blocks
                .lock()
                .expect("block cache poisoned")
                .put(key, block.clone());
        }
        Ok(block)
    }
}

/// Whether `e` says the files do not hold what the index promised (rather than that they
/// could not be read).
fn is_corrupt(e: &StoreError) -> bool {
    matches!(
        e,
        StoreError::CorruptBlock { .. } | StoreError::CorruptEntry { .. }
    )
}
