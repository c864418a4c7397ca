//! Data files: an 8-byte header, then block records appended one after another.
//!
//! ```text
//! offset 0: "OCLDAT" (6 bytes) | u16 BE format version (1)
//! offset 8: block record | block record | ...      (see block.rs)
//! ```
//!
//! Block addresses in index entries are offsets of records; the header makes address 0
//! impossible, so an all-zero index entry can mean "absent".

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::block::{decompress_member, parse_record_header, RECORD_HEADER_BYTES};
use crate::error::StoreError;

/// Magic at the start of every data file.
pub const DATA_MAGIC: &[u8; 6] = b"OCLDAT";
/// The data and index format version this code writes and reads.
pub const FORMAT_VERSION: u16 = 1;
/// Bytes of the data file header; the first block record starts here.
pub const DATA_HEADER_BYTES: u64 = 8;

pub(crate) fn header_bytes() -> [u8; DATA_HEADER_BYTES as usize] {
    let v = FORMAT_VERSION.to_be_bytes();
    let m = DATA_MAGIC;
    [m[0], m[1], m[2], m[3], m[4], m[5], v[0], v[1]]
}

pub(crate) fn open_rw(path: &Path) -> Result<File, StoreError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| StoreError::io(path, e))
}

/// Starts a data file too short to hold its header (new, or torn while its header was
/// being written) over: cut to nothing, then the header.
pub(crate) fn start_over(
    file: &File,
    path: &Path,
    layer: &dyn crate::file_layer::FileLayer,
) -> Result<(), StoreError> {
    layer
        .set_len(file, path, 0)
        .map_err(|e| StoreError::io(path, e))?;
    layer
        .write_all_at(file, path, 0, &header_bytes())
        .map_err(|e| StoreError::io(path, e))
}

/// Checks the header of an existing data file.
pub(crate) fn check_header(file: &File, path: &Path) -> Result<(), StoreError> {
    let mut header = [0; DATA_HEADER_BYTES as usize];
    file.read_exact_at(&mut header, 0)
        .map_err(|e| StoreError::io(path, e))?;
    if &header[..6] != DATA_MAGIC {
        return Err(StoreError::BadFormat {
            path: path.into(),
            reason: BAD_MAGIC.into(),
        });
    }
    let version = u16::from_be_bytes([header[6], header[7]]);
    if version != FORMAT_VERSION {
        return Err(StoreError::BadFormat {
            path: path.into(),
            reason: format!("format version {version}, this build reads {FORMAT_VERSION}"),
        });
    }
    Ok(())
}

/// [`check_header`], mending a header whose magic is damaged when a sound block record
/// follows it (or nothing does, or the header is all zeros and a sound record follows
/// a damaged stretch): the records, and the index entries pointing at them, are
/// intact, and a file that fails its check takes no new tree for the rest of its hour.
/// Another format version is never mended (a newer build's file). Returns whether it
/// mended the header.
pub(crate) fn check_or_mend_header(
    file: &File,
    path: &Path,
    len: u64,
    layer: &dyn crate::file_layer::FileLayer,
) -> Result<bool, StoreError> {
    let damaged = match check_header(file, path) {
        Ok(()) => return Ok(false),
        Err(StoreError::BadFormat { reason, .. }) if reason == BAD_MAGIC => reason,
        Err(e) => return Err(e),
    };
    let sound = len == DATA_HEADER_BYTES
        || matches!(
            read_record(file, path, DATA_HEADER_BYTES)?,
            Record::Block(..)
        )
        || (zeroed_header(file, path)?
            && next_record(file, path, DATA_HEADER_BYTES, len, len)?.is_some());
    if !sound {
        return Err(StoreError::BadFormat {
            path: path.into(),
            reason: format!("{damaged}, and no block record follows it"),
        });
    }
    layer
        .write_all_at(file, path, 0, &header_bytes())
        .map_err(|e| StoreError::io(path, e))?;
    tracing::warn!(target: "ocelot_store", path = %path.display(), "mended a data file header with a damaged magic (its first block record is sound)");
    Ok(true)
}

/// Whether the header is all zeros: a file cut to nothing while the writer had it open,
/// and written on at the writer's offset, starts so (a foreign file hardly does).
fn zeroed_header(file: &File, path: &Path) -> Result<bool, StoreError> {
    let mut header = [0; DATA_HEADER_BYTES as usize];
    file.read_exact_at(&mut header, 0)
        .map_err(|e| StoreError::io(path, e))?;
    Ok(header == [0; DATA_HEADER_BYTES as usize])
}

/// [`StoreError::BadFormat`]'s reason for a data file that does not start with
/// [`DATA_MAGIC`].
const BAD_MAGIC: &str = "bad magic";

/// What reading a record found.
pub(crate) enum Record {
    /// The decompressed block and the record's total length on disk.
    Block(Vec<u8>, u64),
    /// The file ends inside the record (a torn tail).
    Truncated,
    /// The record is corrupt; its length on disk if its header is sound (a damaged block
    /// in the middle of a file can be stepped over).
    Corrupt(String, Option<u64>),
}

/// Reads and decompresses the block record at `address`.
pub(crate) fn read_record(file: &File, path: &Path, address: u64) -> Result<Record, StoreError> {
    let mut header = [0; RECORD_HEADER_BYTES];
    if let Err(e) = file.read_exact_at(&mut header, address) {
        return match e.kind() {
            io::ErrorKind::UnexpectedEof => Ok(Record::Truncated),
            _ => Err(StoreError::io(path, e)),
        };
    }
    let (compressed, uncompressed) = match parse_record_header(header) {
        Ok(lengths) => lengths,
        Err(reason) => return Ok(Record::Corrupt(reason, None)),
    };
    let mut member = vec![0; compressed];
    if let Err(e) = file.read_exact_at(&mut member, address + RECORD_HEADER_BYTES as u64) {
        return match e.kind() {
            io::ErrorKind::UnexpectedEof => Ok(Record::Truncated),
            _ => Err(StoreError::io(path, e)),
        };
    }
    Ok(match decompress_member(&member, uncompressed) {
        Ok(block) => Record::Block(block, (RECORD_HEADER_BYTES + compressed) as u64),
        Err(reason) => Record::Corrupt(reason, Some((RECORD_HEADER_BYTES + compressed) as u64)),
    })
}

/// Bytes searched per read by [`next_record`].
const SEARCH_CHUNK_BYTES: usize = 64 * 1024;

/// The address of the first sound block record (one that decompresses and passes its
/// checks) starting at or after `from` and before `to`, in a file of `len` bytes: where a
/// repair goes on after a damaged stretch instead of cutting everything after it. A file
/// cut while the writer had it open, and written on at the writer's offset, has such a
/// stretch of zeros with sound blocks after it. Candidates are found by the fixed GZIP
/// header each member starts with; the full check of the member rules out look-alikes.
pub(crate) fn next_record(
    file: &File,
    path: &Path,
    from: u64,
    to: u64,
    len: u64,
) -> Result<Option<u64>, StoreError> {
    let magic = &crate::block::GZIP_HEADER;
    let skip = RECORD_HEADER_BYTES as u64;
    let mut buf = vec![0; SEARCH_CHUNK_BYTES + magic.len() - 1];
    // `start` and the positions below are where a candidate's GZIP header would sit.
    let mut start = from + skip;
    let end = to.saturating_add(skip).min(len);
    while start < end {
        let want = usize::try_from(len - start)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let got = read_up_to(file, &mut buf[..want], start).map_err(|e| StoreError::io(path, e))?;
        let window = &buf[..got];
        let candidates = (0..got.min(SEARCH_CHUNK_BYTES))
            .take_while(|&i| start + (i as u64) < end)
            .filter(|&i| window[i] == magic[0] && window[i..].starts_with(magic));
        for i in candidates {
            let address = start + i as u64 - skip;
            if let Record::Block(..) = read_record(file, path, address)? {
                return Ok(Some(address));
            }
        }
        if got < want {
            break;
        }
        start += SEARCH_CHUNK_BYTES as u64;
    }
    Ok(None)
}

/// Reads into `buf` at `position` until it is full or the file ends; returns the bytes read.
fn read_up_to(file: &File, buf: &mut [u8], position: u64) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], position + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}
