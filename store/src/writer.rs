//! The writer threads: frames in from a bounded channel, block records and index entries out.
//!
//! Design constraints:
//! * Off the ingest path: `Store::append` only does cheap checks and a `try_send`.
//! * One thread owns each domain (domains are hashed over the threads), so files are never
//!   shared between writers and need no locks.
//! * Data before index: a block record is written completely before any index entry points
//!   at it, so a reader that finds an entry always finds its block.
//! * A failed write never damages what is already written: the data file is cut back to its
//!   last good length and the failed block's frames are counted as dropped.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use ocelot_protocol::MessageId;

use crate::block::{BlockCompressor, BLOCK_SIZE_BYTES};
use crate::data_file::{self, DATA_HEADER_BYTES};
use crate::error::StoreError;
use crate::frame_id::message_id_of;
use crate::index_entry::{entry_position, IndexEntry};
use crate::layout::{ClientKey, CLEAN_FILE, DATA_FILE};
use crate::shared::{LogOnce, Shared};
use crate::stats::{add, DropReason};

pub(crate) enum Command {
    /// Frames of domains this writer owns, checked by `Store::append`.
    Append(Vec<(MessageId, Bytes)>),
    /// Write every open block, then answer.
    Flush(Sender<()>),
    /// Write everything, mark files clean, answer and stop.
    Shutdown(Sender<()>),
    /// Stop at once, writing nothing more: what `kill -9` would leave (tests only).
    Abandon(Sender<()>),
}

/// The open files and block of one (hour, domain).
struct DomainHour {
    dir: PathBuf,
    data_path: PathBuf,
    data: File,
    /// End of the last good block record.
    data_len: u64,
    block: Vec<u8>,
    /// Frames in the open block: client, seq, offset in block.
    pending: Vec<(ClientKey, u64, u16)>,
    /// IDs accepted but not in an index file yet: the open block's frames and `unindexed`.
    pending_ids: HashSet<(ClientKey, u64)>,
    /// Entries of written blocks whose index writes are still to come: collected over the
    /// blocks of one writer tick, so each client's index file is opened and written once a
    /// tick rather than once per block (see `write_index`).
    unindexed: Vec<(ClientKey, u64, IndexEntry)>,
    /// Each client's index file length as far as this writer knows (it is the only one
    /// writing them): a sequence number at or past it has no entry yet, without a path
    /// or a file lookup per frame.
    index_lens: HashMap<ClientKey, u64>,
    block_opened: Option<Instant>,
    last_used: Instant,
    /// An index write failed: don't mark the files clean, so the next open rebuilds.
    index_incomplete: bool,
}

/// Entries waiting for their index writes before a domain-hour writes them without waiting
/// for the tick (bounds the memory and the work of one tick).
const UNINDEXED_MAX: usize = 16 * 1024;

/// Entries of one client at most this far apart are written together (see `write_span`).
const SPAN_GAP_BYTES: u64 = 4096;

/// Index files kept open per writer. With thousands of client IPs per domain, one open file
/// per IP would run into the process's file limit; an LRU bounds it.
const INDEX_FILES_OPEN: usize = 256;

pub(crate) struct Writer {
    shared: Arc<Shared>,
    files: HashMap<(u64, String), DomainHour>,
    index_files: IndexFiles,
    compressor: BlockCompressor,
    record: Vec<u8>,
    /// Frames queued for this writer (`Store::append` adds, this thread takes off).
    queued: Arc<AtomicUsize>,
}

impl Writer {
    pub(crate) fn new(shared: Arc<Shared>, queued: Arc<AtomicUsize>) -> Writer {
        let level = shared.config.compression_level;
        Writer {
            shared,
            files: HashMap::new(),
            index_files: IndexFiles::new(),
            compressor: BlockCompressor::new(level),
            record: Vec::new(),
            queued,
        }
    }

    pub(crate) fn run(mut self, commands: Receiver<Command>) {
        let tick = (self.shared.config.flush_interval / 4).max(Duration::from_millis(5));
        let mut last_tick = Instant::now();
        loop {
            match commands.recv_timeout(tick) {
                Ok(Command::Append(frames)) => {
                    self.queued.fetch_sub(frames.len(), Ordering::Relaxed);
                    for (id, frame) in frames {
                        self.append(id, frame);
                    }
                }
                Ok(Command::Flush(done)) => {
                    self.flush_all();
                    let _ = done.send(());
                }
                Ok(Command::Shutdown(done)) => {
                    self.close_all();
                    let _ = done.send(());
                    return;
                }
                Ok(Command::Abandon(done)) => {
                    let _ = done.send(());
                    return;
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    self.close_all();
                    return;
                }
            }
            if last_tick.elapsed() >= tick {
                self.on_tick();
                last_tick = Instant::now();
            }
        }
    }

    fn append(&mut self, id: MessageId, frame: Bytes) {
        let counters = &self.shared.counters;
        if id.hour < self.shared.oldest_hour() {
            counters.drop_frames(DropReason::Expired, 1);
            return;
        }
        if message_id_of(&frame).as_ref() != Some(&id) {
            counters.drop_frames(DropReason::IdMismatch, 1);
            return;
        }
        let client = ClientKey::of(&id);
        let seq = id.seq;
        let key = (id.hour, id.domain);
        if !self.files.contains_key(&key) {
            match self.open_domain_hour(key.0, &key.1) {
                Ok(dh) => {
                    self.files.insert(key.clone(), dh);
                }
                Err(e) => {
                    add(&counters.io_errors, 1);
                    counters.drop_frames(DropReason::IoError, 1);
                    self.shared.warn_once(LogOnce::OpenFailed, || {
                        format!("store cannot open files: {e}")
                    });
                    return;
                }
            }
        }
        let dh = self.files.get_mut(&key).expect("inserted above");
        dh.last_used = Instant::now();
        if dh.pending_ids.contains(&(client, seq)) || self.is_indexed(&key, client, seq) {
            self.shared.counters.drop_frames(DropReason::Duplicate, 1);
            return;
        }
        let dh = self.files.get_mut(&key).expect("inserted above");
        if !dh.block.is_empty() && dh.block.len() + frame.len() > BLOCK_SIZE_BYTES {
            Self::close_block(
                &self.shared,
                &mut self.compressor,
                &mut self.record,
                &mut self.index_files,
                dh,
            );
        }
        // A shared block only takes frames that start below 64 KiB; a frame larger than a
        // block arrives at an empty block and gets it to itself, at offset 0.
        let offset = u16::try_from(dh.block.len()).expect("block below 64 KiB when a frame starts");
        dh.block.extend_from_slice(&frame);
        dh.pending.push((client, seq, offset));
        dh.pending_ids.insert((client, seq));
        dh.block_opened.get_or_insert_with(Instant::now);
        if dh.block.len() >= BLOCK_SIZE_BYTES {
            Self::close_block(
                &self.shared,
                &mut self.compressor,
                &mut self.record,
                &mut self.index_files,
                dh,
            );
        }
    }

    /// Whether the index already has an entry for `seq` (first tree under an ID wins).
    fn is_indexed(&mut self, key: &(u64, String), client: ClientKey, seq: u64) -> bool {
        let Some(dh) = self.files.get_mut(key) else {
            return false;
        };
        let Some(position) = entry_position(seq) else {
            return false;
        };
        // Past the end of the file there are no entries: trees mostly arrive in sequence
        // order, so most checks end here without a read (or even a path).
        if dh
            .index_lens
            .get(&client)
            .is_some_and(|&len| position >= len)
        {
            return false;
        }
        let Ok(index) = self.index_files.get(&dh.dir.join(client.file_name())) else {
            return false; // counted when the entry is written
        };
        dh.index_lens.insert(client, index.len);
        if position >= index.len {
            return false;
        }
        let mut bytes = [0; 6];
        index.file.read_exact_at(&mut bytes, position).is_ok()
            && IndexEntry::unpack(bytes).is_some()
    }

    fn open_domain_hour(&self, hour: u64, domain: &str) -> Result<DomainHour, StoreError> {
        let dir = self.shared.layout.domain_dir(hour, domain);
        fs::create_dir_all(&dir).map_err(|e| StoreError::io(&dir, e))?;
        // Appending makes the file dirty: without the marker, the next open rescans it.
        match fs::remove_file(dir.join(CLEAN_FILE)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                return Err(StoreError::io(dir.join(CLEAN_FILE), e))
            }
            _ => {}
        }
        let data_path = dir.join(DATA_FILE);
        let data = data_file::open_rw(&data_path)?;
        let len = data
            .metadata()
            .map_err(|e| StoreError::io(&data_path, e))?
            .len();
        let data_len = if len < DATA_HEADER_BYTES {
            // New, or torn while its header was being written: start it over.
            let layer = &self.shared.config.file_layer;
            layer
                .set_len(&data, &data_path, 0)
                .map_err(|e| StoreError::io(&data_path, e))?;
            layer
                .write_all_at(&data, &data_path, 0, &data_file::header_bytes())
                .map_err(|e| StoreError::io(&data_path, e))?;
            DATA_HEADER_BYTES
        } else {
            data_file::check_header(&data, &data_path)?;
            len
        };
        Ok(DomainHour {
            dir,
            data_path,
            data,
            data_len,
            block: Vec::with_capacity(BLOCK_SIZE_BYTES),
            pending: Vec::new(),
            pending_ids: HashSet::new(),
            unindexed: Vec::new(),
            index_lens: HashMap::new(),
            block_opened: None,
            last_used: Instant::now(),
            index_incomplete: false,
        })
    }

    fn close_block(
        shared: &Shared,
        compressor: &mut BlockCompressor,
        record: &mut Vec<u8>,
        index_files: &mut IndexFiles,
        dh: &mut DomainHour,
    ) {
        if dh.block.is_empty() {
            return;
        }
        let counters = &shared.counters;
        let frames = dh.pending.len() as u64;
        compressor.compress_record(&dh.block, record);
        let address = dh.data_len;
        let end = address + record.len() as u64;
        let layer = &shared.config.file_layer;
        if end
            > shared
                .config
                .max_data_file_bytes
                .min(crate::config::MAX_DATA_FILE_BYTES)
        {
            counters.drop_frames(DropReason::DataFileFull, frames);
            shared.warn_once(LogOnce::DataFileFull, || {
                format!(
                    "{} reached its size limit; further trees of that domain-hour are dropped",
                    dh.data_path.display()
                )
            });
        } else if let Err(e) = layer.write_all_at(&dh.data, &dh.data_path, address, record) {
            add(&counters.io_errors, 1);
            counters.drop_frames(DropReason::IoError, frames);
            shared.warn_once(LogOnce::WriteFailed, || {
                format!("store write to {} failed: {e}", dh.data_path.display())
            });
            // Cut the torn record off; if that fails too, the next block overwrites it and
            // recovery trims whatever is left past the last good record.
            if layer.set_len(&dh.data, &dh.data_path, address).is_err() {
                add(&counters.io_errors, 1);
            }
        } else {
            dh.data_len = end;
            add(&counters.blocks, 1);
            add(&counters.bytes_in, dh.block.len() as u64);
            add(&counters.bytes_out, record.len() as u64);
            add(&counters.stored, frames);
            let block_address =
                u32::try_from(address).expect("address below the 4 GiB data file limit");
            // Data before index: the entries are written after this block, at the end of
            // the tick (or sooner when many are waiting).
            dh.unindexed
                .extend(dh.pending.iter().map(|&(client, seq, offset_in_block)| {
                    (
                        client,
                        seq,
                        IndexEntry {
                            block_address,
                            offset_in_block,
                        },
                    )
                }));
            dh.pending.clear();
        }
        // Frames of a block that could not be written are dropped: their IDs are free again.
        for (client, seq, _) in dh.pending.drain(..) {
            dh.pending_ids.remove(&(client, seq));
        }
        if dh.unindexed.len() >= UNINDEXED_MAX {
            write_index(shared, index_files, dh);
        }
        dh.block.clear();
        dh.block_opened = None;
    }

    fn flush_all(&mut self) {
        for dh in self.files.values_mut() {
            Self::close_block(
                &self.shared,
                &mut self.compressor,
                &mut self.record,
                &mut self.index_files,
                dh,
            );
            write_index(&self.shared, &mut self.index_files, dh);
        }
    }

    fn close_all(&mut self) {
        self.flush_all();
        for (_, dh) in self.files.drain() {
            mark_clean(&dh);
        }
    }

    fn on_tick(&mut self) {
        let flush_interval = self.shared.config.flush_interval;
        let idle_close = self.shared.config.idle_close;
        let oldest = self.shared.oldest_hour();
        let mut closed = Vec::new();
        for (key, dh) in &mut self.files {
            if key.0 < oldest {
                // Retention deleted (or is deleting) the folder: nothing to keep.
                self.shared
                    .counters
                    .drop_frames(DropReason::Expired, dh.pending.len() as u64);
                dh.block.clear();
                dh.pending.clear();
                closed.push((key.clone(), false));
                continue;
            }
            if dh
                .block_opened
                .is_some_and(|t| t.elapsed() >= flush_interval)
            {
                Self::close_block(
                    &self.shared,
                    &mut self.compressor,
                    &mut self.record,
                    &mut self.index_files,
                    dh,
                );
            }
            write_index(&self.shared, &mut self.index_files, dh);
            if dh.block.is_empty() && dh.last_used.elapsed() >= idle_close {
                closed.push((key.clone(), true));
            }
        }
        for (key, clean) in closed {
            if let Some(dh) = self.files.remove(&key) {
                if clean {
                    mark_clean(&dh);
                }
            }
        }
    }
}

/// An LRU of open index files.
struct IndexFiles {
    open: lru::LruCache<PathBuf, IndexFile>,
}

struct IndexFile {
    file: File,
    /// At least the file's length: its length when opened, raised by every write (even a
    /// failed one, which may have written part of its bytes).
    len: u64,
}

impl IndexFiles {
    fn new() -> IndexFiles {
        let cap = std::num::NonZeroUsize::new(INDEX_FILES_OPEN).expect("non-zero");
        IndexFiles {
            open: lru::LruCache::new(cap),
        }
    }

    fn get(&mut self, path: &std::path::Path) -> Result<&mut IndexFile, StoreError> {
        if !self.open.contains(path) {
            let file = data_file::open_rw(path)?;
            let len = file.metadata().map_err(|e| StoreError::io(path, e))?.len();
            self.open.put(path.to_path_buf(), IndexFile { file, len });
        }
        Ok(self.open.get_mut(path).expect("just inserted"))
    }
}

/// Writes the index entries of `dh`'s written blocks: sorted by client and sequence
/// number, one write per span of a client's entries. A client's trees mostly arrive in
/// order, so a span is usually a run of consecutive entries; entries a few KiB apart (a
/// client whose sequence numbers interleave with others') share one read-patch-write of
/// the bytes between them instead of a write each.
fn write_index(shared: &Shared, index_files: &mut IndexFiles, dh: &mut DomainHour) {
    if dh.unindexed.is_empty() {
        return;
    }
    let mut entries = std::mem::take(&mut dh.unindexed);
    entries.sort_unstable_by_key(|&(client, seq, _)| (client, seq));
    let mut span = Vec::new();
    let mut i = 0;
    while i < entries.len() {
        let client = entries[i].0;
        let mut j = i + 1;
        while j < entries.len()
            && entries[j].0 == client
            && (entries[j].1 - entries[j - 1].1) * 6 <= SPAN_GAP_BYTES
        {
            j += 1;
        }
        for &(_, seq, _) in &entries[i..j] {
            dh.pending_ids.remove(&(client, seq));
        }
        if let Err(e) = write_span(shared, index_files, dh, &entries[i..j], &mut span) {
            add(&shared.counters.io_errors, 1);
            dh.index_incomplete = true;
            shared.warn_once(LogOnce::IndexWriteFailed, || {
                format!("store index write failed (rebuilt at next start): {e}")
            });
        }
        i = j;
    }
    entries.clear();
    dh.unindexed = entries;
}

/// Writes `entries` (one client's, ascending sequence numbers) in one write. When they are
/// not consecutive, the entries already in the file between them are read first and
/// written back unchanged (this writer is the only one writing the file).
fn write_span(
    shared: &Shared,
    index_files: &mut IndexFiles,
    dh: &mut DomainHour,
    entries: &[(ClientKey, u64, IndexEntry)],
    span: &mut Vec<u8>,
) -> Result<(), StoreError> {
    let (client, first_seq, _) = entries[0];
    let last_seq = entries[entries.len() - 1].1;
    let path = dh.dir.join(client.file_name());
    let position = entry_position(first_seq).expect("seq checked against max_seq at append");
    let span_len = usize::try_from((last_seq - first_seq + 1) * 6).expect("span below 4 GiB");
    let index = index_files.get(&path)?;
    span.clear();
    span.resize(span_len, 0);
    if span_len > entries.len() * 6 {
        let existing = usize::try_from(index.len.saturating_sub(position))
            .unwrap_or(usize::MAX)
            .min(span_len);
        if existing > 0 {
            index
                .file
                .read_exact_at(&mut span[..existing], position)
                .map_err(|e| StoreError::io(&path, e))?;
        }
    }
    for &(_, seq, entry) in entries {
        let at = usize::try_from((seq - first_seq) * 6).expect("inside the span");
        span[at..at + 6].copy_from_slice(&entry.pack());
    }
    index.len = index.len.max(position + span_len as u64);
    dh.index_lens.insert(client, index.len);
    shared
        .config
        .file_layer
        .write_all_at(&index.file, &path, position, span)
        .map_err(|e| StoreError::io(path, e))
}

/// Writes the clean-close marker: the data file length, so the next open can skip the
/// rescan. Best effort: without it the next open just rescans.
fn mark_clean(dh: &DomainHour) {
    if dh.index_incomplete {
        return;
    }
    let _ = fs::write(dh.dir.join(CLEAN_FILE), dh.data_len.to_be_bytes());
}
