//! The file layer: every write the store makes to data and index files goes through
//! [`FileLayer`], so tests can hand the store a disk that fails or writes short.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// Writes to store files. The real one is [`OsFiles`].
pub trait FileLayer: Send + Sync + std::fmt::Debug {
    /// Writes all of `bytes` at `offset` of `file` (at `path`), or fails. A failure may
    /// leave part of `bytes` written: the store truncates or overwrites it.
    fn write_all_at(&self, file: &File, path: &Path, offset: u64, bytes: &[u8]) -> io::Result<()>;

    /// Sets `file`'s length.
    fn set_len(&self, file: &File, path: &Path, len: u64) -> io::Result<()>;
}

/// The operating system's files.
#[derive(Debug, Default, Clone, Copy)]
pub struct OsFiles;

impl FileLayer for OsFiles {
    fn write_all_at(&self, file: &File, _path: &Path, offset: u64, bytes: &[u8]) -> io::Result<()> {
        file.write_all_at(bytes, offset)
    }

    fn set_len(&self, file: &File, _path: &Path, len: u64) -> io::Result<()> {
        file.set_len(len)
    }
}
