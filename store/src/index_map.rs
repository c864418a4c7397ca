//! Reading index entries through memory maps: the one module of the crate with `unsafe`.
//!
//! A lookup needs six bytes at `seq * 6` of an index file. Maps are kept in a small LRU so a
//! warm lookup costs no system call. A map only covers the file as long as it was when
//! mapped; an entry past its end is looked up in a fresh map if the file has grown since.
#![allow(unsafe_code)]

use std::fs::File;
use std::io;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use lru::LruCache;
use memmap2::Mmap;

use crate::error::StoreError;
use crate::index_entry::{entry_position, IndexEntry, ENTRY_BYTES};

/// Index files kept mapped. Each costs a file descriptor's worth of kernel state only.
const MAPS_CACHED: usize = 256;

pub(crate) struct IndexMaps {
    maps: Mutex<LruCache<PathBuf, Arc<Mmap>>>,
}

impl IndexMaps {
    pub(crate) fn new() -> IndexMaps {
        IndexMaps {
            maps: Mutex::new(LruCache::new(
                NonZeroUsize::new(MAPS_CACHED).expect("non-zero"),
            )),
        }
    }

    /// Forgets all maps (after files were deleted).
    pub(crate) fn clear(&self) {
        self.maps.lock().expect("index map cache poisoned").clear();
    }

    /// Forgets the map of the index file at `path`: the file may have been deleted since.
    pub(crate) fn forget(&self, path: &Path) {
        self.maps
            .lock()
            .expect("index map cache poisoned")
            .pop(path);
    }

    /// The entry for `seq` in the index file at `path`; `None` if the file or entry is absent.
    pub(crate) fn entry(&self, path: &Path, seq: u64) -> Result<Option<IndexEntry>, StoreError> {
        let Some(start) = entry_position(seq) else {
            return Ok(None);
        };
        let end = start + ENTRY_BYTES;
        let cached = self
            .maps
            .lock()
            .expect("index map cache poisoned")
            .get(path)
            .cloned();
        if let Some(map) = cached {
            if let Some(entry) = read_entry(&map, start, end) {
                return Ok(entry);
            }
        }
        let file = match File::open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(StoreError::io(path, e)),
        };
        let len = file.metadata().map_err(|e| StoreError::io(path, e))?.len();
        if len < end {
            return Ok(None);
        }
        // SAFETY: memmap2 requires that the file is not truncated or changed by another
        // process while mapped (that would be SIGBUS or torn reads). Index files are only
        // ever written by this store's writer, by whole-entry `pwrite`s that never shrink
        // the file; recovery, the only code that rewrites entries in place, runs before the
        // store serves lookups; retention unlinks files, which leaves existing maps valid.
        // A six-byte entry read racing its own write sees either the old zeros or the new
        // bytes of a single page-cache copy; the frame's message ID is checked after the
        // read, so even a torn entry can never return the wrong tree.
        let map = unsafe { Mmap::map(&file) }.map_err(|e| StoreError::io(path, e))?;
        let map = Arc::new(map);
        let entry = read_entry(&map, start, end).unwrap_or(None);
        self.maps
            .lock()
            .expect("index map cache poisoned")
            .put(path.to_path_buf(), map);
        Ok(entry)
    }
}

/// `None` if the map is too short, else the (possibly absent) entry.
fn read_entry(map: &Mmap, start: u64, end: u64) -> Option<Option<IndexEntry>> {
    let start = usize::try_from(start).ok()?;
    let end = usize::try_from(end).ok()?;
    let bytes: [u8; 6] = map.get(start..end)?.try_into().expect("six bytes");
    Some(IndexEntry::unpack(bytes))
}
