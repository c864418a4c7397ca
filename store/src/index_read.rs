//! Reading one index entry for a lookup: six bytes at `seq * 6` of an index file, read with
//! `pread` from a file opened for the lookup.
//!
//! Not through a memory map: a page of a map that the file system cannot provide kills the
//! process with SIGBUS instead of failing the read. On tmpfs, reading a hole in a shared map
//! allocates a page, and a full tmpfs cannot: an index file has holes where trees were
//! dropped (a full disk drops them), so a LogView click on such an ID killed the server
//! exactly when the disk was full. A lookup already opens and reads its block's data file;
//! one more open is nothing beside that decompression.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::error::StoreError;
use crate::index_entry::{entry_position, IndexEntry, ENTRY_BYTES};

/// The entry for `seq` in the index file at `path`; `None` if the file or entry is absent.
pub(crate) fn entry(path: &Path, seq: u64) -> Result<Option<IndexEntry>, StoreError> {
    let Some(start) = entry_position(seq) else {
        return Ok(None);
    };
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StoreError::io(path, e)),
    };
    let mut bytes = [0; ENTRY_BYTES as usize];
    match file.read_exact_at(&mut bytes, start) {
        Ok(()) => Ok(IndexEntry::unpack(bytes)),
        // Past the end of the file (or a torn last entry): no entry.
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(None),
        Err(e) => Err(StoreError::io(path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_is_read_where_its_sequence_number_puts_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0a000001.idx");
        let e = IndexEntry {
            block_address: 8,
            offset_in_block: 300,
        };
        let mut bytes = vec![0; 12];
        bytes.extend(e.pack());
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(entry(&path, 2).unwrap(), Some(e));
        assert_eq!(entry(&path, 1).unwrap(), None, "all zeros: no entry");
        assert_eq!(entry(&path, 3).unwrap(), None, "past the end");
        assert_eq!(entry(&path, u64::MAX).unwrap(), None, "past any file");
        assert_eq!(entry(&dir.path().join("absent.idx"), 2).unwrap(), None);
    }

    #[test]
    fn a_torn_last_entry_is_no_entry() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0a000001.idx");
        std::fs::write(&path, [0, 0, 0, 0, 0, 0, 0, 0, 1]).unwrap();
        assert_eq!(entry(&path, 1).unwrap(), None);
    }
}
