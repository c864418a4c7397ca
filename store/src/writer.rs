//! The writer threads: frames in from a channel bounded in frames (`queue_capacity`), block
//! records and index entries out.
//!
//! Design constraints:
//! * Off the ingest path: `Store::append` only does cheap checks, reserves room in the
//!   writer's frame count and sends (the channel itself is unbounded, so it never waits).
//! * One thread owns each domain (domains are hashed over the threads), so files are never
//!   shared between writers and need no locks.
//! * Data before index: a block record is written completely before any index entry points
//!   at it, so a reader that finds an entry always finds its block.
//! * A failed write never damages what is already written: the data file is cut back to its
//!   last good length and the failed block's frames are counted as dropped.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::fs::{self, File};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TryRecvError};
use ocelot_protocol::MessageId;

use crate::block::{BlockCompressor, BLOCK_SIZE_BYTES};
use crate::data_file::{self, DATA_HEADER_BYTES};
use crate::error::StoreError;
use crate::frame_id::carries_id;
use crate::frame_key::FrameKey;
use crate::index_entry::{entry_position, IndexEntry};
use crate::layout::{ClientKey, CLEAN_FILE, DATA_FILE};
use crate::pending_ids::PendingIds;
use crate::recovery::{self, Marker, Repaired};
use crate::shared::{Shared, Warned};
use crate::stats::{add, DropReason};

/// Maps of the writer's per-frame bookkeeping. Keys come from message IDs (untrusted), so the
/// hash is keyed per process as std's is, but foldhash (through `lru`, already a dependency)
/// costs a fraction of SipHash on these small keys.
pub(crate) type FastMap<K, V> = HashMap<K, V, lru::DefaultHasher>;
/// [`FastMap`]'s set.
pub(crate) type FastSet<T> = std::collections::HashSet<T, lru::DefaultHasher>;
/// The open domain-hours: hashbrown's, so that a frame finds its own with a borrowed
/// domain (`HourDomain`), without making a `String` per frame.
type DomainHours = hashbrown::HashMap<(u64, String), DomainHour, lru::DefaultHasher>;
/// Domain-hours that failed to open, and when to try again (see [`FailedOpen`]).
type FailedOpens = hashbrown::HashMap<(u64, String), FailedOpen, lru::DefaultHasher>;

/// After a domain-hour failed to open, its frames are dropped (counted) without trying
/// again for at least this long, and for ten times as long as the failed try took: opening
/// one left unclean repairs it first, a read of its whole data file (seconds for a big
/// one), and trying again for every frame while the disk is still full kept the writer from
/// all its other domains.
const OPEN_RETRY_MIN: Duration = Duration::from_secs(1);

/// The longest wait between two tries of a domain-hour that keeps failing to open: the
/// wait doubles with each failure in a row up to this, so a disk full for an hour costs a
/// repair (a scan of the data file) a minute per domain-hour, not one a second (each
/// about a tenth of the writer thread), and one with space again takes trees within a
/// minute.
const OPEN_RETRY_MAX: Duration = Duration::from_secs(60);

/// A domain-hour that failed to open.
#[derive(Debug, Clone, Copy)]
struct FailedOpen {
    /// When it may be tried again.
    retry: Instant,
    /// Its failures in a row.
    failures: u32,
}

impl FailedOpen {
    /// After a try that `started` and failed, following `before` (the failure in a row
    /// before it, if any): [`OPEN_RETRY_MIN`] or ten times the try, doubled for each
    /// earlier failure in a row, at most [`OPEN_RETRY_MAX`].
    fn after(before: Option<FailedOpen>, started: Instant, took: Duration) -> FailedOpen {
        let failures = before.map_or(1, |b| b.failures.saturating_add(1));
        let wait = OPEN_RETRY_MIN
            .max(took.saturating_mul(10))
            .saturating_mul(1 << (failures - 1).min(16))
            .min(OPEN_RETRY_MAX);
        FailedOpen {
            retry: started + wait,
            failures,
        }
    }

    /// Whether it is forgotten at `now`: a domain-hour not tried again for a while after
    /// its wait starts over from [`OPEN_RETRY_MIN`] when it next fails.
    fn forgotten(&self, now: Instant) -> bool {
        now >= self.retry + OPEN_RETRY_MAX
    }
}

/// When the queue runs dry after frames, the writer naps this long before it blocks: the
/// next look then finds many batches at once. Blocking right away costs a futex wait and a
/// wake-up per batch (here, and a wake call in the sender), which with the collector's
/// small batches was as much CPU as the compression. The queue (`queue_capacity`, default
/// 10 000 frames) holds far more than arrives in a nap.
const NAP: Duration = Duration::from_millis(2);

/// Where the IDs of an `Append` come from.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum IdSource {
    /// Given by the caller: the writer checks each against its frame's header.
    Caller,
    /// Read from each frame's own header by the caller (`Store::append_scanned`): checking
    /// again would read every header twice.
    FrameHeader,
}

pub(crate) enum Command {
    /// Frames of domains this writer owns, checked by `Store::append`.
    Append(Vec<(FrameKey, Bytes)>, IdSource),
    /// Write every open block, then answer.
    Flush(Sender<()>),
    /// The frame of this ID if it is accepted but not yet findable through the index (in
    /// the open block, or in a written block whose index entry is still to come: then the
    /// entry is written now and the answer is `None`, so the caller looks again).
    Find(MessageId, Sender<Option<Bytes>>),
    /// Write everything, mark files clean, answer and stop.
    Shutdown(Sender<()>),
    /// Stop at once, writing nothing more: what `kill -9` would leave (tests only).
    Abandon(Sender<()>),
}

/// The open files and block of one (hour, domain).
struct DomainHour {
    /// Tells this domain-hour's index files apart in [`IndexFiles`] (unique per writer).
    serial: u64,
    hour: u64,
    domain: String,
    dir: PathBuf,
    /// Opened through [`DataFiles`] when a block is written.
    data_path: PathBuf,
    /// The data file this writer opened (device and inode): a file at `data_path` that is
    /// not this one was deleted or replaced from outside.
    data_file_id: (u64, u64),
    /// End of the last good block record.
    data_len: u64,
    /// The data file's length when this writer opened it.
    opened_len: u64,
    /// Trees this writer wrote to the data file since it opened it.
    written: u64,
    /// The data file changed from outside and opening it again failed: when to try again.
    reopen_after: Option<Instant>,
    block: Vec<u8>,
    /// Frames in the open block: client, seq, offset in block.
    pending: Vec<(ClientKey, u64, u16)>,
    /// IDs accepted but not in an index file yet: the open block's frames and `unindexed`.
    pending_ids: PendingIds,
    /// IDs whose index write failed: their trees are in the data file, but their entries
    /// may be missing or torn until recovery rebuilds them. Still held for the duplicate
    /// check: a second tree under such an ID would get an entry of its own, which recovery
    /// keeps (it points at a tree of that ID), and the first tree would be lost.
    index_failed: PendingIds,
    /// Entries of written blocks whose index writes are still to come: collected over the
    /// blocks of one writer tick, so each client's index file is opened and written once a
    /// tick rather than once per block (see `write_index`).
    unindexed: Vec<(ClientKey, u64, IndexEntry)>,
    /// Each client's index file length as far as this writer knows (it is the only one
    /// writing them): a sequence number at or past it has no entry yet, without a path
    /// or a file lookup per frame.
    index_lens: FastMap<ClientKey, u64>,
    /// The clients with an index file here, against `max_index_files_per_domain_hour`:
    /// those that had one when the domain-hour was opened (`true`) and those taken since.
    clients: FastMap<ClientKey, bool>,
    /// The keys of `clients` in the order they came, for [`check_index_files`] to take a
    /// few in turn at each block.
    client_order: Vec<ClientKey>,
    /// Where in `client_order` the next block's check of index files starts.
    next_index_check: usize,
    /// A tree of a client past that cap was refused (said once per domain-hour).
    client_cap_reached: bool,
    /// Clients whose index file was found shorter than this writer wrote it when opened
    /// again (deleted or cut from outside since): rebuilt when the domain-hour closes.
    index_changed: Vec<ClientKey>,
    block_opened: Option<Instant>,
    last_used: Instant,
    /// An index write failed: don't mark the files clean, so the next open rebuilds.
    index_incomplete: bool,
}

impl DomainHour {
    /// A domain-hour whose data file (of id `data_file_id`) is open and valid up to
    /// `data_len`, with nothing pending.
    fn new(
        serial: u64,
        (hour, domain): (u64, &str),
        dir: PathBuf,
        (data_path, data_file_id): (PathBuf, (u64, u64)),
        data_len: u64,
    ) -> Self {
        DomainHour {
            serial,
            hour,
            domain: domain.to_owned(),
            dir,
            data_path,
            data_file_id,
            data_len,
            opened_len: data_len,
            written: 0,
            reopen_after: None,
            // Grown as frames arrive (see `close_block`): domain-hours are opened by
            // message IDs, which are untrusted, and a whole block each from the start made
            // a thousand one-tree domains cost 64 MiB.
            block: Vec::new(),
            pending: Vec::new(),
            pending_ids: PendingIds::default(),
            index_failed: PendingIds::default(),
            unindexed: Vec::new(),
            index_lens: FastMap::default(),
            clients: FastMap::default(),
            client_order: Vec::new(),
            next_index_check: 0,
            client_cap_reached: false,
            index_changed: Vec::new(),
            block_opened: None,
            last_used: Instant::now(),
            index_incomplete: false,
        }
    }

    /// Notes `client` among those with an index file here (`at_open`: it had one when the
    /// domain-hour was opened), unless it is already.
    fn add_client(&mut self, client: ClientKey, at_open: bool) {
        if let Entry::Vacant(vacant) = self.clients.entry(client) {
            vacant.insert(at_open);
            self.client_order.push(client);
        }
    }

    /// `client`'s index file length when this writer knows it exactly: after a failed index
    /// write it may have guessed high, so then the file system is asked again.
    fn known_index_len(&self, client: ClientKey) -> Option<u64> {
        if self.index_incomplete {
            return None;
        }
        self.index_lens.get(&client).copied()
    }
}

/// Entries waiting for their index writes before a domain-hour writes them without waiting
/// for the tick (bounds the memory and the work of one tick).
const UNINDEXED_MAX: usize = 16 * 1024;

/// Most block capacity a domain-hour keeps between blocks: a shared block, grown by
/// doubling, ends below twice [`BLOCK_SIZE_BYTES`]; only a frame larger than a block makes
/// more, and that is given back once its block is written.
const BLOCK_SIZE_BYTES_KEPT: usize = 2 * BLOCK_SIZE_BYTES;

/// Entries of one client at most this far apart are written together (see `write_span`).
const SPAN_GAP_BYTES: u64 = 4096;

/// Files of one kind (index files, data files) kept open per writer, at least. With
/// thousands of client IPs per domain, or a thousand domains in an hour, one open file each
/// would run into the process's file limit; an LRU of each kind bounds them.
const FILES_OPEN_MIN: usize = 128;

/// Files of one kind kept open per writer, at most.
const FILES_OPEN_MAX: usize = 4096;

/// How many index files, and how many data files, each of `writers` writers keeps open: a
/// quarter of the process's open-file limit for each kind, shared among the writers, within
/// [`FILES_OPEN_MIN`] and [`FILES_OPEN_MAX`]; the other half is left for connections and
/// lookups. Each tick writes the entries of every client that sent trees; when there are
/// more clients than open files, the LRU misses on every one of them (an `open` and a
/// `close` per client and tick, as much CPU as the write). `ocelot serve` raises the soft
/// limit to the hard one before the store opens.
fn files_open(writers: usize) -> usize {
    let soft_limit = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|limits| {
            let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
            let soft = line.split_whitespace().nth(3)?;
            Some(if soft == "unlimited" {
                usize::MAX
            } else {
                soft.parse().ok()?
            })
        })
        .unwrap_or(0);
    (soft_limit / 4 / writers.max(1)).clamp(FILES_OPEN_MIN, FILES_OPEN_MAX)
}

/// `(hour, domain)` as a [`DomainHours`] key, the domain borrowed: hashes as the owned
/// key does (a `u64`, then the text).
#[derive(Hash)]
struct HourDomain<'a>(u64, &'a str);

impl hashbrown::Equivalent<(u64, String)> for HourDomain<'_> {
    fn equivalent(&self, key: &(u64, String)) -> bool {
        self.0 == key.0 && self.1 == key.1
    }
}

/// What waits in a writer's queue: frames, and their bytes.
#[derive(Debug, Default)]
pub(crate) struct Queued {
    pub(crate) frames: AtomicUsize,
    pub(crate) bytes: AtomicU64,
}

impl Queued {
    /// `frames` frames of `bytes` bytes left the queue (or were never let in).
    pub(crate) fn take(&self, frames: usize, bytes: u64) {
        self.frames.fetch_sub(frames, Ordering::Relaxed);
        self.bytes.fetch_sub(bytes, Ordering::Relaxed);
    }
}

pub(crate) struct Writer {
    shared: Arc<Shared>,
    files: DomainHours,
    failed_opens: FailedOpens,
    index_files: IndexFiles,
    data_files: DataFiles,
    compressor: BlockCompressor,
    record: Vec<u8>,
    /// The next `DomainHour::serial`.
    next_serial: u64,
    /// Frames and bytes queued for this writer (`Store::append` adds, this thread takes off).
    queued: Arc<Queued>,
    /// The store's count of hours retention deleted, when this thread last looked for
    /// domain-hours it holds whose folder is gone (see [`Writer::close_deleted`]).
    deletions_seen: u64,
}

impl Writer {
    pub(crate) fn new(shared: Arc<Shared>, queued: Arc<Queued>) -> Writer {
        let level = shared.config.compression_level;
        let open = files_open(shared.config.writer_threads);
        Writer {
            shared,
            files: DomainHours::default(),
            failed_opens: FailedOpens::default(),
            index_files: IndexFiles::new(open),
            data_files: DataFiles::new(open),
            compressor: BlockCompressor::new(level),
            record: Vec::new(),
            next_serial: 0,
            queued,
            deletions_seen: 0,
        }
    }

    pub(crate) fn run(mut self, commands: Receiver<Command>) {
        let tick = (self.shared.config.flush_interval / 4).max(Duration::from_millis(5));
        let mut last_tick = Instant::now();
        // Frames came in since the last nap (see `NAP`).
        let mut may_nap = false;
        loop {
            let received = match commands.try_recv() {
                Ok(command) => Ok(command),
                Err(TryRecvError::Disconnected) => Err(RecvTimeoutError::Disconnected),
                Err(TryRecvError::Empty) if may_nap => {
                    may_nap = false;
                    std::thread::sleep(NAP.min(tick));
                    Err(RecvTimeoutError::Timeout)
                }
                Err(TryRecvError::Empty) => commands.recv_timeout(tick),
            };
            match received {
                Ok(Command::Append(frames, source)) => {
                    let bytes = frames.iter().map(|(_, frame)| frame.len() as u64).sum();
                    self.queued.take(frames.len(), bytes);
                    self.close_deleted();
                    let now = Instant::now();
                    for (id, frame) in &frames {
                        self.append(id, frame, source, now);
                    }
                    // Dropped together, after the copies: every frame of a socket read
                    // shares one reference count with the frames the socket thread is
                    // still cutting from that buffer, and a drop between two copies fought
                    // it for that cache line (11 % of the writer's CPU).
                    drop(frames);
                    may_nap = true;
                }
                Ok(Command::Flush(done)) => {
                    self.flush_all();
                    let _ = done.send(());
                }
                Ok(Command::Find(id, reply)) => {
                    let _ = reply.send(self.find_unindexed(&id));
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

    /// Takes one frame; `now` is when its batch was taken off the queue.
    fn append(&mut self, id: &FrameKey, frame: &[u8], source: IdSource, now: Instant) {
        let counters = &self.shared.counters;
        if id.hour < self.shared.oldest_hour() {
            counters.drop_frames(DropReason::Expired, 1);
            return;
        }
        if source == IdSource::Caller && !carries_id(frame, &id.as_ref(frame)) {
            counters.drop_frames(DropReason::IdMismatch, 1);
            return;
        }
        let client = id.client();
        let seq = id.seq;
        let (hour, domain) = (id.hour, id.domain(frame));
        // One lookup for a frame of a domain-hour already open (nearly every frame).
        let dh = match self.files.get_mut(&HourDomain(hour, domain)) {
            Some(dh) => dh,
            None => {
                let key = HourDomain(hour, domain);
                let failed_before = self.failed_opens.get(&key).copied();
                if failed_before.is_some_and(|f| now < f.retry) {
                    counters.drop_frames(DropReason::IoError, 1);
                    return;
                }
                // A domain with files in the hour already (from before a restart, which
                // the cap's count does not survive) is never refused.
                let on_disk = || self.shared.layout.domain_dir(hour, domain).is_dir();
                if !self.shared.admit_domain(hour, domain) && !on_disk() {
                    counters.drop_frames(DropReason::TooManyDomains, 1);
                    let cap = self.shared.config.max_domains_per_hour;
                    self.shared.warn_throttled(Warned::DomainCap, || {
                        format!("message IDs named more than {cap} domains in hour {hour}: trees of the others are not stored (store.max_domains_per_hour)")
                    });
                    return;
                }
                self.next_serial += 1;
                let started = Instant::now();
                match open_domain_hour(&self.shared, hour, domain, self.next_serial) {
                    Ok((dh, data, repaired)) => {
                        if let Some((marker, repaired)) = repaired {
                            repaired.log(
                                &dh.dir,
                                marker,
                                "recovered an unclean domain-hour before appending to it again",
                            );
                        }
                        if failed_before.is_some() {
                            self.failed_opens.remove(&key);
                            self.shared.stop_failing(Warned::OpenFailed);
                        }
                        self.shared.went_well_everywhere(Warned::OpenFailed, || {
                            "store file opens work again".to_owned()
                        });
                        self.data_files.put(dh.serial, data);
                        self.files.entry((hour, domain.to_owned())).or_insert(dh)
                    }
                    Err(e) => {
                        counters.io_error("opening", &e);
                        counters.drop_frames(DropReason::IoError, 1);
                        self.shared.warn_throttled(Warned::OpenFailed, || {
                            format!("store cannot open files: {e}")
                        });
                        if failed_before.is_none() {
                            self.shared.start_failing(Warned::OpenFailed);
                        }
                        let failed = FailedOpen::after(failed_before, started, started.elapsed());
                        self.failed_opens.insert((hour, domain.to_owned()), failed);
                        return;
                    }
                }
            }
        };
        dh.last_used = now;
        if !admit_client(&self.shared, dh, client) {
            return;
        }
        // One probe of the set both checks and claims the ID: a check and then an insert
        // were two, together a fifth of this thread's time outside compression (perf).
        if is_indexed(&mut self.index_files, dh, client, seq)
            || (dh.index_incomplete && dh.index_failed.contains(client, seq))
            || !dh.pending_ids.insert(client, seq)
        {
            self.shared.counters.drop_frames(DropReason::Duplicate, 1);
            return;
        }
        if !dh.block.is_empty() && dh.block.len() + frame.len() > BLOCK_SIZE_BYTES {
            Self::close_block(
                &self.shared,
                &mut self.compressor,
                &mut self.record,
                &mut self.index_files,
                &mut self.data_files,
                dh,
            );
            // Writing the index may have rebuilt the set from the open block's frames,
            // which this one is not among yet.
            dh.pending_ids.insert(client, seq);
        }
        // A shared block only takes frames that start below 64 KiB; a frame larger than a
        // block arrives at an empty block and gets it to itself, at offset 0.
        let offset = u16::try_from(dh.block.len()).expect("block below 64 KiB when a frame starts");
        dh.block.extend_from_slice(frame);
        dh.pending.push((client, seq, offset));
        dh.block_opened.get_or_insert(now);
        if dh.block.len() >= BLOCK_SIZE_BYTES {
            Self::close_block(
                &self.shared,
                &mut self.compressor,
                &mut self.record,
                &mut self.index_files,
                &mut self.data_files,
                dh,
            );
        }
    }

    fn close_block(
        shared: &Shared,
        compressor: &mut BlockCompressor,
        record: &mut Vec<u8>,
        index_files: &mut IndexFiles,
        data_files: &mut DataFiles,
        dh: &mut DomainHour,
    ) {
        if dh.block.is_empty() {
            return;
        }
        let counters = &shared.counters;
        let frames = dh.pending.len() as u64;
        compressor.compress_record(&dh.block, record);
        let checked = check_data_file(shared, index_files, data_files, dh);
        if checked.is_ok() {
            check_index_files(shared, index_files, dh);
        }
        let address = dh.data_len;
        let end = address + record.len() as u64;
        if let Err(reason) = checked {
            counters.drop_frames(reason, frames);
        } else if end
            > shared
                .config
                .max_data_file_bytes
                .min(crate::config::MAX_DATA_FILE_BYTES)
        {
            counters.drop_frames(DropReason::DataFileFull, frames);
            shared.warn_throttled(Warned::DataFileFull, || {
                format!(
                    "{} reached its size limit; further trees of that domain-hour are dropped",
                    dh.data_path.display()
                )
            });
        } else if let Err(e) = write_record(shared, data_files, dh, address, record) {
            counters.io_error("writing a block to", &e);
            counters.drop_frames(DropReason::IoError, frames);
            shared.warn_throttled(Warned::WriteFailed, || format!("store write failed: {e}"));
        } else {
            shared.went_well(Warned::WriteFailed, || "store writes work again".to_owned());
            dh.data_len = end;
            dh.written += frames;
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
        // Frames of a block that could not be written are dropped: their IDs are free again,
        // and what is held is what still waits for an index write (rare: rebuilt).
        if !dh.pending.is_empty() {
            dh.pending.clear();
            dh.pending_ids.clear();
            for &(client, seq, _) in &dh.unindexed {
                dh.pending_ids.insert(client, seq);
            }
        }
        if dh.unindexed.len() >= UNINDEXED_MAX {
            write_index(shared, index_files, dh);
        }
        dh.block.clear();
        if dh.block.capacity() > BLOCK_SIZE_BYTES_KEPT {
            // A lone giant frame's block: not kept for the 64 KiB blocks that follow.
            dh.block = Vec::new();
        }
        dh.block_opened = None;
    }

    /// See [`Command::Find`].
    fn find_unindexed(&mut self, id: &MessageId) -> Option<Bytes> {
        let dh = self.files.get_mut(&HourDomain(id.hour, &id.domain))?;
        let client = ClientKey::of(id);
        if !dh.pending_ids.contains(client, id.seq) {
            return None;
        }
        let open = dh
            .pending
            .iter()
            .find(|&&(c, seq, _)| c == client && seq == id.seq);
        let Some(&(_, _, offset)) = open else {
            write_index(&self.shared, &mut self.index_files, dh);
            return None;
        };
        let start = usize::from(offset);
        let prefix: [u8; 4] = dh.block.get(start..start + 4)?.try_into().ok()?;
        let end = start.checked_add(4 + u32::from_be_bytes(prefix) as usize)?;
        let frame = dh.block.get(start..end)?;
        carries_id(frame, &id.as_borrowed()).then(|| Bytes::copy_from_slice(frame))
    }

    fn flush_all(&mut self) {
        for dh in self.files.values_mut() {
            Self::close_block(
                &self.shared,
                &mut self.compressor,
                &mut self.record,
                &mut self.index_files,
                &mut self.data_files,
                dh,
            );
            write_index(&self.shared, &mut self.index_files, dh);
        }
    }

    fn close_all(&mut self) {
        self.flush_all();
        for (_, dh) in self.files.drain() {
            close_files(
                &self.shared,
                &mut self.index_files,
                &mut self.data_files,
                dh,
                true,
            );
        }
    }

    /// Forgets the domain-hours this thread holds whose folder retention deleted, once
    /// after each pass that deleted any. Frames of those hours are refused while the hour
    /// is past the horizon (and such domain-hours closed at the next tick), but a clock
    /// set ahead and corrected moves the horizon back, and a frame of the hour then has to
    /// go to a new folder, not to files that no longer have a name.
    fn close_deleted(&mut self) {
        let deletions = self.shared.counters.hours_deleted.load(Ordering::Relaxed);
        if deletions == self.deletions_seen {
            return;
        }
        self.deletions_seen = deletions;
        let gone: Vec<_> = self
            .files
            .iter()
            .filter(|(_, dh)| !dh.data_path.exists())
            .map(|(key, _)| key.clone())
            .collect();
        for key in gone {
            if let Some(dh) = self.files.remove(&key) {
                self.shared
                    .counters
                    .drop_frames(DropReason::Expired, dh.pending.len() as u64);
                close_files(
                    &self.shared,
                    &mut self.index_files,
                    &mut self.data_files,
                    dh,
                    false,
                );
            }
        }
    }

    fn on_tick(&mut self) {
        let flush_interval = self.shared.config.flush_interval;
        let idle_close = self.shared.config.idle_close;
        let oldest = self.shared.oldest_hour();
        let now = Instant::now();
        let shared = &self.shared;
        self.failed_opens.retain(|_, failed| {
            let keep = !failed.forgotten(now);
            if !keep {
                shared.stop_failing(Warned::OpenFailed);
            }
            keep
        });
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
                    &mut self.data_files,
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
                close_files(
                    &self.shared,
                    &mut self.index_files,
                    &mut self.data_files,
                    dh,
                    clean,
                );
            }
        }
    }
}

/// A domain-hour opened for appending, its data file, and the repair it needed first (with
/// what its marker said), if any.
type Opened = (DomainHour, File, Option<(Marker, Repaired)>);

/// Opens (or creates) a domain-hour for appending: its state, its data file, and what the
/// repair it needed first found (with what its marker said), if it needed one.
fn open_domain_hour(
    shared: &Shared,
    hour: u64,
    domain: &str,
    serial: u64,
) -> Result<Opened, StoreError> {
    let dir = shared.layout.domain_dir(hour, domain);
    fs::create_dir_all(&dir).map_err(|e| StoreError::io(&dir, e))?;
    // A domain-hour closed earlier in this run may have been left unclean on purpose: an
    // index write failed, or a torn record could not be cut off. The store's start
    // repaired everything else, so repair this one now, before appending: a later clean
    // close would otherwise hide the damage from the next start's recovery for good.
    let mut repair = None;
    let marker = recovery::marker_state(&dir);
    if dir.join(DATA_FILE).is_file() && marker != Marker::Clean {
        let repaired = recovery::recover_domain_hour(
            shared,
            &dir,
            hour,
            domain,
            recovery::Then::Append,
            &mut recovery::Progress::silent(),
        )?;
        add(&shared.counters.recovered_files, 1);
        add(&shared.counters.recovered_entries, repaired.rebuilt);
        repair = Some((marker, repaired));
    }
    // Appending makes the file dirty: without the marker, the next open rescans it.
    match fs::remove_file(dir.join(CLEAN_FILE)) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            return Err(StoreError::io(dir.join(CLEAN_FILE), e))
        }
        _ => {}
    }
    let data_path = dir.join(DATA_FILE);
    let data = data_file::open_rw(&data_path)?;
    let meta = data.metadata().map_err(|e| StoreError::io(&data_path, e))?;
    let len = meta.len();
    let data_len = if len < DATA_HEADER_BYTES {
        // New, or torn while its header was being written: start it over.
        data_file::start_over(&data, &data_path, &*shared.config.file_layer)?;
        DATA_HEADER_BYTES
    } else {
        let layer = &*shared.config.file_layer;
        if data_file::check_or_mend_header(&data, &data_path, len, layer)? {
            add(&shared.counters.recovered_files, 1);
        }
        len
    };
    let id = (meta.dev(), meta.ino());
    let mut dh = DomainHour::new(serial, (hour, domain), dir, (data_path, id), data_len);
    // The cap on index files counts those from before (a restart) too.
    for name in recovery::read_dir(&dh.dir)? {
        if let Some(client) = ClientKey::parse_file_name(&name) {
            dh.add_client(client, true);
        }
    }
    Ok((dh, data, repair))
}

/// What became of a domain-hour's data file behind the writer's back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outside {
    /// Nothing: it is the file the writer opened, at least as long as the writer wrote it.
    Unchanged,
    /// Deleted (with its folder, if `folder_gone`).
    Deleted { folder_gone: bool },
    /// Another file has its name.
    Replaced,
    /// Cut to this length, below what the writer wrote.
    Cut(u64),
}

/// Looks at `dh`'s data file by its name: one `stat` per block written, next to a block's
/// compression nothing. A cleanup script that deletes or cuts a file the writer has open
/// leaves the writer writing into a file without a name (every later tree of the
/// domain-hour lost) or past the file's end (a gap of zeros).
fn outside_change(dh: &DomainHour) -> Outside {
    match fs::metadata(&dh.data_path) {
        Ok(meta) if (meta.dev(), meta.ino()) != dh.data_file_id => Outside::Replaced,
        Ok(meta) if meta.len() < dh.data_len => Outside::Cut(meta.len()),
        Ok(_) => Outside::Unchanged,
        Err(e) if e.kind() == io::ErrorKind::NotFound => Outside::Deleted {
            folder_gone: !dh.dir.is_dir(),
        },
        // Not known: the write that follows fails and says why, if anything is wrong.
        Err(_) => Outside::Unchanged,
    }
}

/// Before a block is written: makes sure `dh`'s data file is still the one at its name and
/// as long as written; if it was deleted, replaced or cut from outside, says so (once),
/// counts it, and opens the domain-hour again (a new file, or the cut one repaired), so that
/// this block and later ones are stored and findable. `Err` gives the reason the block's
/// frames are dropped for: the hour is past retention, or opening it again failed (tried
/// again after [`OPEN_RETRY_MIN`]).
fn check_data_file(
    shared: &Shared,
    index_files: &mut IndexFiles,
    data_files: &mut DataFiles,
    dh: &mut DomainHour,
) -> Result<(), DropReason> {
    if let Some(retry) = dh.reopen_after {
        if Instant::now() < retry {
            return Err(DropReason::IoError);
        }
    } else {
        let change = outside_change(dh);
        if change == Outside::Unchanged {
            return Ok(());
        }
        if dh.hour < shared.oldest_hour() {
            return Err(DropReason::Expired); // retention deleted it
        }
        if let Outside::Cut(len) = change {
            // Their entries go in first, so that the repair counts those it must zero; the
            // cut is said with that count once the domain-hour is open again.
            write_index(shared, index_files, dh);
            forget_changed(shared, index_files, data_files, dh, change);
            return reopen(shared, data_files, dh, Some(len));
        }
        let lost = forget_changed(shared, index_files, data_files, dh, change);
        note_outside_change(shared, dh, change);
        shared.counters.drop_frames(DropReason::IoError, lost);
    }
    reopen(shared, data_files, dh, None)
}

/// What [`LastError::what`](crate::LastError) says of a file changed from outside.
const OUTSIDE: &str = "checking";

/// Counts `change` to `dh`'s data file as an I/O error, kept as the last one.
fn note_outside_change(shared: &Shared, dh: &DomainHour, change: Outside) {
    let found = match change {
        Outside::Unchanged => return,
        Outside::Deleted { folder_gone: true } => {
            "its folder was deleted while Ocelot had it open (a cleanup script?)".to_owned()
        }
        Outside::Deleted { folder_gone: false } => {
            "deleted while Ocelot had it open (a cleanup script?)".to_owned()
        }
        Outside::Replaced => {
            "replaced by another file while Ocelot had it open (a cleanup script?)".to_owned()
        }
        Outside::Cut(len) => format!(
            "cut to {len} bytes while Ocelot had it open, written up to {} (a cleanup script?)",
            dh.data_len
        ),
    };
    shared
        .counters
        .io_error_at(OUTSIDE, dh.data_path.display().to_string(), found);
}

/// Says and counts that `dh`'s data file changed from outside (`change`), and forgets what
/// points into the old file: its open files, the entries still to write, and, when the data
/// file was deleted but its folder kept, its index files (whose entries would point into
/// the next file). Returns the trees known lost (the ones this writer wrote to a deleted or
/// replaced file; for a cut file the repair counts them).
fn forget_changed(
    shared: &Shared,
    index_files: &mut IndexFiles,
    data_files: &mut DataFiles,
    dh: &mut DomainHour,
    change: Outside,
) -> u64 {
    index_files.forget(shared, dh.serial);
    data_files.forget(dh.serial);
    let path = dh.data_path.display();
    // A cut file's losses are counted by its repair.
    let lost = if matches!(change, Outside::Cut(_)) {
        0
    } else {
        dh.written
    };
    let before = if dh.opened_len > DATA_HEADER_BYTES {
        format!(
            ", and so are the trees it held before (it had {} bytes then)",
            dh.opened_len
        )
    } else {
        String::new()
    };
    let opened = "since Ocelot opened it";
    match change {
        Outside::Unchanged | Outside::Cut(_) => {}
        Outside::Deleted { folder_gone: true } => {
            tracing::warn!(target: "ocelot_store", dir = %dh.dir.display(), lost, "the folder {} was deleted while Ocelot had its files open (a cleanup script?): the {lost} trees written to {path} {opened} are lost{before}; later trees go to new files", dh.dir.display())
        }
        Outside::Deleted { folder_gone: false } => {
            tracing::warn!(target: "ocelot_store", file = %path, lost, "{path} was deleted while Ocelot had it open (a cleanup script?): the {lost} trees written to it {opened} are lost{before}; its index files are deleted too (they point into it), and later trees go to a new file")
        }
        Outside::Replaced => {
            tracing::warn!(target: "ocelot_store", file = %path, lost, "{path} was replaced by another file while Ocelot had it open (a cleanup script?): the {lost} trees written to it {opened} are lost{before}; later trees go to the file now there")
        }
    }
    if change == (Outside::Deleted { folder_gone: false }) {
        remove_index_files(&dh.dir);
    }
    // Entries still to write point into the old file; the IDs held for the duplicate check
    // are those of the open block, which goes to the file opened next.
    dh.unindexed.clear();
    dh.index_failed = PendingIds::default();
    dh.index_incomplete = false;
    dh.index_lens.clear();
    dh.pending_ids.clear();
    for &(client, seq, _) in &dh.pending {
        dh.pending_ids.insert(client, seq);
    }
    lost
}

/// Deletes the index files in `dir` (best effort: a file left makes the next repair zero
/// its entries, which point at no block).
fn remove_index_files(dir: &Path) {
    for name in recovery::read_dir(dir).unwrap_or_default() {
        if ClientKey::parse_file_name(&name).is_some() {
            let _ = fs::remove_file(dir.join(name));
        }
    }
}

/// Opens `dh`'s domain-hour again after its data file changed from outside, keeping its
/// open block; `cut` is the length a cut file was found at (the repair then says how many
/// trees the cut took). On failure the block's frames are dropped as `io_error` and it is
/// tried again after [`OPEN_RETRY_MIN`].
fn reopen(
    shared: &Shared,
    data_files: &mut DataFiles,
    dh: &mut DomainHour,
    cut: Option<u64>,
) -> Result<(), DropReason> {
    let was_failing = dh.reopen_after.is_some();
    match open_domain_hour(shared, dh.hour, &dh.domain, dh.serial) {
        Ok((mut fresh, file, repaired)) => {
            if let Some(len) = cut {
                let lost = repaired.map_or(0, |(_, r)| r.lost);
                note_outside_change(shared, dh, Outside::Cut(len));
                shared.counters.drop_frames(DropReason::IoError, lost);
                tracing::warn!(target: "ocelot_store", file = %dh.data_path.display(), lost, "{} was cut to {len} bytes while Ocelot had it open, written up to {} (a cleanup script?): {lost} stored trees are lost; the file was repaired, and later trees go after its last sound block", dh.data_path.display(), dh.data_len);
            } else if let Some((marker, repaired)) = repaired {
                shared
                    .counters
                    .drop_frames(DropReason::IoError, repaired.lost);
                repaired.log(
                    &fresh.dir,
                    marker,
                    "recovered a domain-hour changed from outside",
                );
            }
            // Blocks go to addresses the reader may hold blocks of the old file for.
            shared.files_changed();
            if was_failing {
                shared.stop_failing(Warned::OpenFailed);
            }
            shared.went_well_everywhere(Warned::OpenFailed, || {
                "store file opens work again".to_owned()
            });
            fresh.block = std::mem::take(&mut dh.block);
            fresh.pending_ids = std::mem::take(&mut dh.pending_ids);
            for &(client, _, _) in &dh.pending {
                fresh.add_client(client, false);
            }
            fresh.pending = std::mem::take(&mut dh.pending);
            fresh.client_cap_reached = dh.client_cap_reached;
            fresh.block_opened = dh.block_opened;
            fresh.last_used = dh.last_used;
            *dh = fresh;
            data_files.put(dh.serial, file);
            Ok(())
        }
        Err(e) => {
            shared.counters.io_error("opening again", &e);
            shared.warn_throttled(Warned::OpenFailed, || {
                format!("store cannot open files: {e}")
            });
            if !was_failing {
                shared.start_failing(Warned::OpenFailed);
            }
            dh.reopen_after = Some(Instant::now() + OPEN_RETRY_MIN);
            Err(DropReason::IoError)
        }
    }
}

/// Closes `dh`'s files; with `clean`, marks the domain-hour clean (best effort: without the
/// marker the next open just rescans). Not when its data file changed from outside (said
/// and counted here, and left to the next open's repair) or an index write failed.
fn close_files(
    shared: &Shared,
    index_files: &mut IndexFiles,
    data_files: &mut DataFiles,
    mut dh: DomainHour,
    clean: bool,
) {
    index_files.forget(shared, dh.serial);
    data_files.forget(dh.serial);
    if dh.reopen_after.is_some() {
        shared.stop_failing(Warned::OpenFailed);
        return;
    }
    if !clean {
        return;
    }
    let change = outside_change(&dh);
    if change != Outside::Unchanged {
        if dh.hour >= shared.oldest_hour() {
            let lost = forget_changed(shared, index_files, data_files, &mut dh, change);
            note_outside_change(shared, &dh, change);
            shared.counters.drop_frames(DropReason::IoError, lost);
            shared.files_changed();
            if let Outside::Cut(len) = change {
                tracing::warn!(target: "ocelot_store", file = %dh.data_path.display(), "{} was cut to {len} bytes while Ocelot had it open, written up to {} (a cleanup script?): the trees past the cut are lost; the file is repaired when it is next opened", dh.data_path.display(), dh.data_len);
            }
        }
        return;
    }
    if dh.index_incomplete {
        return;
    }
    let changed = index_files_changed(&dh);
    if changed.is_empty() {
        let _ = recovery::write_marker(shared, &dh.dir, dh.data_len);
    } else {
        rebuild_index(shared, &dh, &changed, recovery::Then::MarkClean);
    }
}

/// Index files [`check_index_files`] looks at per block written: a deleted or cut one is
/// found within as many blocks as its domain-hour has clients, divided by this.
const INDEX_FILES_CHECKED_PER_BLOCK: usize = 8;

/// Before a block is written, as [`check_data_file`] does for the data file: looks at a few
/// of `dh`'s index files in turn ([`INDEX_FILES_CHECKED_PER_BLOCK`], an `fstat` of the open
/// handle each, or a `stat` when it is closed: next to a block's compression nothing). One
/// deleted or cut from outside (a cleanup script) was found only when the domain-hour
/// closed, and until then the trees it indexed could not be found, and its new entries
/// went into a file without a name. Such files are said, counted and rebuilt from the data
/// file at once.
fn check_index_files(shared: &Shared, index_files: &mut IndexFiles, dh: &mut DomainHour) {
    // After a failed index write the lengths this writer knows may be guesses; the next
    // open repairs that domain-hour anyway.
    let n = dh.client_order.len();
    if dh.index_incomplete || n == 0 {
        return;
    }
    let mut found = None;
    for _ in 0..INDEX_FILES_CHECKED_PER_BLOCK.min(n) {
        let client = dh.client_order[dh.next_index_check % n];
        dh.next_index_check = (dh.next_index_check + 1) % n;
        if index_file_changed(index_files, dh, client) {
            found = Some(client);
            break;
        }
    }
    let Some(found) = found else {
        return;
    };
    // The entries of written blocks first, so that the repair's count covers them, then
    // the handles go: those of deleted files write into files without a name.
    write_index(shared, index_files, dh);
    // Every file changed, to name them (the one found was deleted and made again by
    // someone else, say, if the listing does not show it).
    let mut changed = index_files_changed(dh);
    if !changed.contains(&found.file_name()) {
        changed.push(found.file_name());
    }
    index_files.forget(shared, dh.serial);
    if !rebuild_index(shared, dh, &changed, recovery::Then::Append) {
        // Not marked clean at the close: the next open repairs it.
        dh.index_incomplete = true;
        return;
    }
    // The files are as the repair wrote them: their lengths are read again when opened.
    dh.index_lens.clear();
    dh.index_changed.clear();
}

/// Whether `client`'s index file in `dh` was deleted or cut from outside: its open handle
/// names no file any more, or it is shorter than this writer wrote it, or (handle closed) no
/// file has its name. Only for a client whose file this writer wrote or found at the open.
fn index_file_changed(index_files: &IndexFiles, dh: &DomainHour, client: ClientKey) -> bool {
    let known = dh.index_lens.get(&client).copied();
    if known.is_none() && dh.clients.get(&client) != Some(&true) {
        return false;
    }
    let meta = match index_files.open.peek(&(dh.serial, client)) {
        Some(open) => open.file.metadata(),
        None => fs::metadata(dh.dir.join(client.file_name())),
    };
    match meta {
        Ok(meta) => meta.nlink() == 0 || known.is_some_and(|len| meta.len() < len),
        Err(e) => e.kind() == io::ErrorKind::NotFound,
    }
}

/// Whether `client` may have trees stored in `dh`: it has an index file there already,
/// or the domain-hour has fewer than `max_index_files_per_domain_hour`. Otherwise the tree
/// is counted as dropped, and the first refusal in the domain-hour is logged (throttled
/// with the other domain-hours'). The client in a message ID is the sender's to choose:
/// without a cap, IDs naming a new IP or pid each made a file each.
fn admit_client(shared: &Shared, dh: &mut DomainHour, client: ClientKey) -> bool {
    if dh.clients.contains_key(&client) {
        return true;
    }
    if dh.clients.len() < shared.config.max_index_files_per_domain_hour {
        dh.add_client(client, false);
        return true;
    }
    shared
        .counters
        .drop_frames(DropReason::TooManyIndexFiles, 1);
    if !dh.client_cap_reached {
        dh.client_cap_reached = true;
        let cap = shared.config.max_index_files_per_domain_hour;
        shared.warn_throttled(Warned::IndexFileCap, || {
            format!("message IDs named more than {cap} clients (IP and pid) in {}: trees of the others are not stored, counted as too_many_index_files (store.max_index_files_per_domain_hour)", dh.dir.display())
        });
    }
    false
}

/// The index files of `dh` that were deleted or cut from outside while it was open (names,
/// sorted): those of clients that had one when it was opened or that this writer wrote,
/// now missing or shorter than written, or found so when opened again. One listing of the
/// folder and a `stat` per index file, once per close (the marker written next costs as
/// much): a check per block write would cost a `stat` per client. None when the folder
/// cannot be listed (the marker, written from a listing too, fails then).
fn index_files_changed(dh: &DomainHour) -> Vec<String> {
    let Ok(names) = recovery::read_dir(&dh.dir) else {
        return Vec::new();
    };
    let on_disk: FastSet<ClientKey> = names
        .iter()
        .filter_map(|name| ClientKey::parse_file_name(name))
        .collect();
    let mut changed: Vec<String> = dh
        .clients
        .iter()
        .filter(|&(client, &at_open)| at_open || dh.index_lens.contains_key(client))
        .map(|(&client, _)| client)
        .filter(|client| {
            if dh.index_changed.contains(client) {
                return true;
            }
            if !on_disk.contains(client) {
                return true;
            }
            let written = dh.index_lens.get(client).copied().unwrap_or(0);
            written > 0
                && fs::metadata(dh.dir.join(client.file_name()))
                    .is_ok_and(|meta| meta.len() < written)
        })
        .map(|client| client.file_name())
        .collect();
    changed.sort();
    changed
}

/// Rebuilds the index files of `dh` (its index files closed, its data file unchanged) from
/// its data file after `changed` were found deleted or cut from outside; says so and counts
/// it; returns whether the repair worked. At the close (`then` marks it clean) a marker
/// written from the files as they are hid the loss from the next start for good; while it
/// is open (`then` appends) its trees could not be found until then. If the repair fails,
/// no marker: the next start (or open) tries.
fn rebuild_index(
    shared: &Shared,
    dh: &DomainHour,
    changed: &[String],
    then: recovery::Then,
) -> bool {
    let files = changed.join(", ");
    shared.counters.io_error_at(
        OUTSIDE,
        dh.dir.display().to_string(),
        format!(
            "index files deleted or cut while Ocelot had them open (a cleanup script?): {files}"
        ),
    );
    let repaired = recovery::recover_domain_hour(
        shared,
        &dh.dir,
        dh.hour,
        &dh.domain,
        then,
        &mut recovery::Progress::silent(),
    );
    match repaired {
        Ok(repaired) => {
            add(&shared.counters.recovered_files, 1);
            add(&shared.counters.recovered_entries, repaired.rebuilt);
            let rebuilt = repaired.rebuilt;
            tracing::warn!(target: "ocelot_store", dir = %dh.dir.display(), rebuilt, "index files of {} were deleted or cut while Ocelot had them open (a cleanup script?): {files}; {rebuilt} index entries were rebuilt from the data file", dh.dir.display());
            true
        }
        Err(e) => {
            tracing::warn!(target: "ocelot_store", dir = %dh.dir.display(), "index files of {} were deleted or cut while Ocelot had them open (a cleanup script?): {files}; rebuilding them failed ({e}), the next start tries again", dh.dir.display());
            false
        }
    }
}

/// Writes `record` at `address` of `dh`'s data file. When the write fails, the torn record
/// is cut off; if that fails too, the next block overwrites it, and whatever is left past the
/// last good record keeps the files unclean, so recovery trims it (at the next start, or
/// when the domain-hour is opened again).
fn write_record(
    shared: &Shared,
    data_files: &mut DataFiles,
    dh: &DomainHour,
    address: u64,
    record: &[u8],
) -> Result<(), StoreError> {
    let layer = &shared.config.file_layer;
    let data = data_files.get(dh)?;
    layer
        .write_all_at(data, &dh.data_path, address, record)
        .map_err(|e| {
            if let Err(cut) = layer.set_len(data, &dh.data_path, address) {
                let cut = StoreError::io(&dh.data_path, cut);
                shared.counters.io_error("cutting a torn block off", &cut);
            }
            StoreError::io(&dh.data_path, e)
        })
}

/// An LRU of open data files, by domain-hour serial. A domain-hour stays open (its block,
/// its pending IDs) until it has been idle for `idle_close`; its data file needs a handle
/// only while a block is written, and a thousand domains in an hour (the analyzers' default
/// cap), twice that at the turn of the hour, would otherwise hold as many files open.
struct DataFiles {
    open: lru::LruCache<u64, File>,
}

impl DataFiles {
    fn new(open: usize) -> DataFiles {
        let cap = std::num::NonZeroUsize::new(open.max(1)).expect("non-zero");
        DataFiles {
            open: lru::LruCache::new(cap),
        }
    }

    /// `dh`'s data file, opened again if it fell out of the LRU (writes give their offset,
    /// so a new handle writes where the old one would have).
    fn get(&mut self, dh: &DomainHour) -> Result<&File, StoreError> {
        if !self.open.contains(&dh.serial) {
            let file = data_file::open_rw(&dh.data_path)?;
            self.open.put(dh.serial, file);
        }
        Ok(self.open.get(&dh.serial).expect("just inserted"))
    }

    fn put(&mut self, serial: u64, file: File) {
        self.open.put(serial, file);
    }

    /// Closes the data file of a domain-hour that is closed.
    fn forget(&mut self, serial: u64) {
        self.open.pop(&serial);
    }
}

/// Whether the index already has an entry for `seq` (first tree under an ID wins).
fn is_indexed(
    index_files: &mut IndexFiles,
    dh: &mut DomainHour,
    client: ClientKey,
    seq: u64,
) -> bool {
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
    let Ok(index) = index_files.get(dh, client) else {
        return false; // counted when the entry is written
    };
    dh.index_lens.insert(client, index.len);
    if position >= index.len {
        return false;
    }
    let mut bytes = [0; 6];
    index.file.read_exact_at(&mut bytes, position).is_ok() && IndexEntry::unpack(bytes).is_some()
}

/// An LRU of open index files, by domain-hour serial and client: a hit needs no path.
struct IndexFiles {
    open: lru::LruCache<(u64, ClientKey), IndexFile>,
    /// Index files whose last write failed (each noted in [`Shared::start_failing`]).
    failing: FastSet<(u64, ClientKey)>,
}

struct IndexFile {
    file: File,
    path: PathBuf,
    /// At least the file's length: its length when opened, raised by every write (even a
    /// failed one, which may have written part of its bytes).
    len: u64,
}

impl IndexFiles {
    fn new(open: usize) -> IndexFiles {
        let cap = std::num::NonZeroUsize::new(open.max(1)).expect("non-zero");
        IndexFiles {
            open: lru::LruCache::new(cap),
            failing: FastSet::default(),
        }
    }

    /// `client`'s index file in `dh`, opened (and created) if need be. When it was open
    /// before and fell out of the LRU, its length is the one this writer knows (after a
    /// failed write the file system's may be shorter), and a file shorter than that was
    /// deleted or cut from outside (an `fstat` per open, beside the open itself).
    fn get(
        &mut self,
        dh: &mut DomainHour,
        client: ClientKey,
    ) -> Result<&mut IndexFile, StoreError> {
        let key = (dh.serial, client);
        if !self.open.contains(&key) {
            let path = dh.dir.join(client.file_name());
            let file = data_file::open_rw(&path)?;
            let on_disk = file.metadata().map_err(|e| StoreError::io(&path, e))?.len();
            let len = match dh.known_index_len(client) {
                Some(known) => {
                    // Shorter than written: deleted (this open made it again) or cut from
                    // outside since its handle was closed. Rebuilt at the close.
                    if on_disk < known && !dh.index_changed.contains(&client) {
                        dh.index_changed.push(client);
                    }
                    known
                }
                None => on_disk,
            };
            self.open.put(key, IndexFile { file, path, len });
        }
        Ok(self.open.get_mut(&key).expect("just inserted"))
    }

    /// Notes whether the last write to `client`'s index file in domain-hour `serial`
    /// worked.
    fn note_write(&mut self, shared: &Shared, serial: u64, client: ClientKey, ok: bool) {
        let key = (serial, client);
        if ok {
            // Nearly always empty: no hash per write then.
            if !self.failing.is_empty() && self.failing.remove(&key) {
                shared.stop_failing(Warned::IndexWriteFailed);
            }
        } else if self.failing.insert(key) {
            shared.start_failing(Warned::IndexWriteFailed);
        }
    }

    /// Closes the index files of a domain-hour that is closed.
    fn forget(&mut self, shared: &Shared, serial: u64) {
        let failing = self.failing.len();
        self.failing.retain(|key| key.0 != serial);
        for _ in self.failing.len()..failing {
            shared.stop_failing(Warned::IndexWriteFailed);
        }
        let keys: Vec<_> = self
            .open
            .iter()
            .map(|(key, _)| *key)
            .filter(|key| key.0 == serial)
            .collect();
        for key in keys {
            self.open.pop(&key);
        }
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
        let written = write_span(shared, index_files, dh, &entries[i..j], &mut span);
        index_files.note_write(shared, dh.serial, client, written.is_ok());
        if let Err(e) = written {
            shared.counters.io_error("writing index entries to", &e);
            dh.index_incomplete = true;
            for &(client, seq, _) in &entries[i..j] {
                dh.index_failed.insert(client, seq);
            }
            shared.warn_throttled(Warned::IndexWriteFailed, || {
                format!("store index write failed (rebuilt at next start): {e}")
            });
        } else {
            shared.went_well_everywhere(Warned::IndexWriteFailed, || {
                "store index writes work again".to_owned()
            });
        }
        i = j;
    }
    entries.clear();
    dh.unindexed = entries;
    // Every written entry leaves this set (a failed write's goes to `index_failed`: its tree
    // stays in the data file, recovery indexes it). What is left is the open block's frames:
    // emptying the set and adding those back is cheaper than a removal per entry.
    dh.pending_ids.clear();
    for &(client, seq, _) in &dh.pending {
        dh.pending_ids.insert(client, seq);
    }
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
    let position = entry_position(first_seq).expect("seq checked against max_seq at append");
    let span_len = usize::try_from((last_seq - first_seq + 1) * 6).expect("span below 4 GiB");
    let index = index_files.get(dh, client)?;
    span.clear();
    span.resize(span_len, 0);
    if span_len > entries.len() * 6 {
        let existing = usize::try_from(index.len.saturating_sub(position))
            .unwrap_or(usize::MAX)
            .min(span_len);
        if existing > 0 {
            read_up_to_end(&index.file, &mut span[..existing], position)
                .map_err(|e| StoreError::io(&index.path, e))?;
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
        .write_all_at(&index.file, &index.path, position, span)
        .map_err(|e| StoreError::io(&index.path, e))
}

/// Reads `buf.len()` bytes at `position`, or as many as the file has there: `IndexFile::len`
/// is past the file's end after a failed write, and the bytes missing past the end are no
/// entries (`buf`'s zeros). A read that required them all failed every later write that
/// reached there, until the next recovery.
fn read_up_to_end(file: &File, mut buf: &mut [u8], mut position: u64) -> io::Result<()> {
    while !buf.is_empty() {
        match file.read_at(buf, position) {
            Ok(0) => break,
            Ok(n) => {
                buf = &mut buf[n..];
                position += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_files_kept_open_stay_within_bounds() {
        for writers in [0, 1, 2, 64, usize::MAX] {
            let open = files_open(writers);
            assert!(
                (FILES_OPEN_MIN..=FILES_OPEN_MAX).contains(&open),
                "{writers} writers: {open}"
            );
        }
    }

    /// A frame as the collector stores it: `NT1`, a header naming `id`, one event.
    fn frame_of(id: &str, data_bytes: usize) -> Bytes {
        let header = ocelot_protocol::Header {
            domain: "app".into(),
            message_id: id.into(),
            ..Default::default()
        };
        let event = ocelot_protocol::Leaf::new("E", "n", "0", 1, "x".repeat(data_bytes));
        let tree =
            ocelot_protocol::MessageTree::new(header, ocelot_protocol::Message::Event(event));
        ocelot_protocol::nt1::encode_to_bytes(&tree)
    }

    fn writer_in(dir: &std::path::Path) -> Writer {
        let shared = Arc::new(Shared::new(crate::StoreConfig::new(dir)));
        Writer::new(shared, Arc::new(Queued::default()))
    }

    fn append_id(writer: &mut Writer, id: &str, frame: &Bytes) {
        let parsed: MessageId = id.parse().unwrap();
        let key = FrameKey::from(parsed);
        writer.append(&key, frame, IdSource::Caller, Instant::now());
    }

    /// On a full disk, a domain-hour whose repair kept failing was repaired again every
    /// second, a scan of its data file each time (about a tenth of the writer thread per
    /// such domain-hour): failures in a row wait twice as long each time.
    #[test]
    fn a_repair_that_keeps_failing_is_tried_less_and_less_often() {
        let dir = tempfile::tempdir().unwrap();
        // Left unclean, with an index file's name taken by a folder: every repair fails.
        let domain_dir = dir.path().join("498703").join("app");
        fs::create_dir_all(domain_dir.join("0a000002.idx")).unwrap();
        fs::write(domain_dir.join(DATA_FILE), b"").unwrap();
        let mut writer = writer_in(dir.path());
        let tries = |writer: &Writer| writer.shared.counters.io_errors.load(Ordering::Relaxed);
        let mut seq = 0;
        // A frame taken off the queue `after` from now (the writer's clock is an input).
        let mut append_after = |writer: &mut Writer, after: Duration| {
            seq += 1;
            let id = format!("app-0a000001-498703-{seq}");
            let key = FrameKey::from(id.parse::<MessageId>().unwrap());
            let now = Instant::now() + after;
            writer.append(&key, &frame_of(&id, 10), IdSource::Caller, now);
        };
        append_after(&mut writer, Duration::ZERO);
        assert_eq!(tries(&writer), 1);
        append_after(&mut writer, Duration::from_millis(500));
        assert_eq!(tries(&writer), 1, "not before a second");
        // (Offsets with room for a slow try: the wait is ten times the try if that is more.)
        append_after(&mut writer, Duration::from_secs(3));
        assert_eq!(tries(&writer), 2, "tried again after a second");
        // The second failure in a row waits two seconds: a frame 1.9 s later is dropped
        // untried (it was tried every second).
        append_after(&mut writer, Duration::from_millis(1900));
        assert_eq!(tries(&writer), 2, "the wait doubled");
        append_after(&mut writer, Duration::from_secs(5));
        assert_eq!(tries(&writer), 3);
        // Every frame was dropped, counted.
        let drops = writer.shared.counters.drops();
        assert!(drops.contains(&(DropReason::IoError, 5)), "{drops:?}");
    }

    #[test]
    fn the_wait_after_failed_opens_doubles_up_to_a_minute() {
        let started = Instant::now();
        let mut failed = None;
        let mut waits = Vec::new();
        for _ in 0..9 {
            let next = FailedOpen::after(failed, started, Duration::from_millis(1));
            waits.push(next.retry - started);
            failed = Some(next);
        }
        let secs: Vec<u64> = waits.iter().map(Duration::as_secs).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        // A slow try (a big data file scanned) waits ten times as long, doubled likewise.
        let slow = FailedOpen::after(None, started, Duration::from_millis(300));
        assert_eq!(slow.retry - started, Duration::from_secs(3));
        let slow = FailedOpen::after(Some(slow), started, Duration::from_millis(300));
        assert_eq!(slow.retry - started, Duration::from_secs(6));
    }

    fn held_block_bytes(writer: &Writer) -> usize {
        writer.files.values().map(|dh| dh.block.capacity()).sum()
    }

    #[test]
    fn a_domain_hour_holds_no_more_block_memory_than_its_frames_need() {
        // Message IDs are untrusted: a client (or a relay) whose IDs name a thousand
        // domains opens a thousand domain-hours in the writer, each kept for `idle_close`.
        // Each held a whole 64 KiB block from the start: 20 000 trees of 80 bytes made the
        // server grow by 1.4 GB (`ocelot serve`, measured). A domain-hour's block should
        // cost what its frames do.
        let dir = tempfile::tempdir().unwrap();
        let mut writer = writer_in(dir.path());
        let domains = 200;
        let mut frame_bytes = 0;
        for i in 0..domains {
            let id = format!("d{i}-0a000001-498703-1");
            let frame = frame_of(&id, 10);
            frame_bytes += frame.len();
            append_id(&mut writer, &id, &frame);
        }
        assert_eq!(writer.files.len(), domains);
        let held = held_block_bytes(&writer);
        assert!(
            held <= 4 * frame_bytes,
            "{domains} domain-hours of one small frame each hold {held} bytes of blocks \
             ({frame_bytes} bytes of frames)"
        );
    }

    #[test]
    fn a_large_frame_does_not_leave_its_block_memory_behind() {
        // A tree far over a block (2000 messages with large data) gets a block of its own;
        // once written, the domain-hour should not keep that much memory for its next
        // 64 KiB blocks, for as long as the domain keeps sending.
        let dir = tempfile::tempdir().unwrap();
        let mut writer = writer_in(dir.path());
        let id = "app-0a000001-498703-1";
        append_id(&mut writer, id, &frame_of(id, 4 << 20));
        assert_eq!(
            writer
                .shared
                .counters
                .drops()
                .iter()
                .map(|(_, n)| n)
                .sum::<u64>(),
            0
        );
        let small = "app-0a000001-498703-2";
        append_id(&mut writer, small, &frame_of(small, 10));
        writer.flush_all();
        let held = held_block_bytes(&writer);
        assert!(
            held <= 2 * BLOCK_SIZE_BYTES,
            "a domain-hour holds {held} bytes of block after a 4 MiB tree was written"
        );
    }

    /// An index file deleted after the writer had closed its handle (more clients than it
    /// keeps open) was made again by the next write, holding only the newer entries: the
    /// close found it as long as written and marked the domain-hour clean, and the older
    /// trees were unfindable for good. It is rebuilt as the next block is written.
    #[test]
    fn an_index_file_deleted_after_its_handle_was_closed_is_rebuilt_at_the_next_block() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = writer_in(dir.path());
        writer.index_files = IndexFiles::new(1);
        for id in ["app-0a000001-498703-1", "app-0a000002-498703-1"] {
            append_id(&mut writer, id, &frame_of(id, 10));
            writer.flush_all();
        }
        let path = dir.path().join("498703").join("app").join("0a000001.idx");
        fs::remove_file(&path).unwrap();
        let late = "app-0a000001-498703-2";
        append_id(&mut writer, late, &frame_of(late, 10));
        writer.flush_all();
        for seq in [1, 2] {
            assert!(
                crate::index_read::entry(&path, seq).unwrap().is_some(),
                "seq {seq} before the close"
            );
        }
        writer.close_all();
        for seq in [1, 2] {
            assert!(
                crate::index_read::entry(&path, seq).unwrap().is_some(),
                "seq {seq}"
            );
        }
        assert_eq!(
            writer
                .shared
                .counters
                .recovered_entries
                .load(Ordering::Relaxed),
            1
        );
    }

    #[test]
    fn a_closed_domain_hour_closes_its_index_files() {
        let dir = tempfile::tempdir().unwrap();
        let mut files = IndexFiles::new(16);
        let domain_hour = |serial: u64| {
            let dir = dir.path().join(serial.to_string());
            fs::create_dir_all(&dir).unwrap();
            let data_path = dir.join(DATA_FILE);
            DomainHour::new(
                serial,
                (1, "app"),
                dir,
                (data_path, (0, 0)),
                DATA_HEADER_BYTES,
            )
        };
        let (a, b) = (domain_hour(1), domain_hour(2));
        let (mut a, mut b) = (a, b);
        for ip in 0..3 {
            let client = ClientKey { ip, pid: None };
            files.get(&mut a, client).unwrap();
            files.get(&mut b, client).unwrap();
        }
        assert_eq!(files.open.len(), 6);
        files.forget(&Shared::new(crate::StoreConfig::new(dir.path())), 1);
        assert_eq!(files.open.len(), 3);
        assert!(files.open.iter().all(|((serial, _), _)| *serial == 2));
    }
}
