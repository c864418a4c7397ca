//! [`Store`]: the cheap, cloneable handle the collector and the web server share.

use std::collections::HashSet;
use std::fs;
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use crossbeam_channel::{bounded, unbounded, Receiver, Sender};
use ocelot_protocol::{hour_of, MessageId};

use crate::block::MAX_FRAME_BYTES;
use crate::config::{StoreConfig, SIZE_CAP_INTERVAL};
use crate::error::{AppendError, StoreError};
use crate::frame_key::FrameKey;
use crate::layout::{parse_hour, validate_name, DATA_FILE, REPORTS_DIR, REPORT_EXT};
use crate::reader::Reader;
use crate::recovery::{read_dir, recover_all};
use crate::report_generations::ReportGenerations;
use crate::retention::{self, HourSwept};
use crate::shared::{Shared, Warned};
use crate::stats::{add, DiskUse, DropReason, LastError, StoreStats};
use crate::writer::{Command, IdSource, Queued, Writer};

/// What [`LastError::what`](crate::LastError) says of a failed report write.
const WRITING_REPORT: &str = "writing a report to";

/// Buffer between a report's serializer and its file: large writes, little memory.
const REPORT_WRITE_BUFFER: usize = 64 * 1024;

/// Hours in a day, for retention.
const HOURS_PER_DAY: u64 = 24;

/// Hours named in a retention log line; the rest are counted. A start after a long stop
/// deletes a week of hours at once.
const HOURS_NAMED_MAX: usize = 10;

/// The message store. Clones share one store; it is `Send + Sync`.
///
/// Dropping the last clone shuts the store down cleanly, as [`Store::shutdown`] does.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("dir", &self.inner.shared.config.dir)
            .finish_non_exhaustive()
    }
}

/// The way to one writer thread.
struct WriterQueue {
    sender: Sender<Command>,
    /// Frames and bytes sent and not yet taken by the writer (bounded by `queue_capacity`
    /// and `queue_bytes`).
    queued: Arc<Queued>,
}

struct Inner {
    shared: Arc<Shared>,
    writers: Vec<WriterQueue>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    reader: Reader,
    stop_retention: Mutex<Option<Sender<()>>>,
    closed: AtomicBool,
    /// The last walk of the store folder for [`Store::stats`], and when it was made.
    disk_use: Mutex<Option<(Instant, Vec<DiskUse>)>>,
    /// Changed whenever an hour's reports change ([`Store::report_generation`]).
    report_generations: ReportGenerations,
    /// Reports being written now (see [`ReportWriting`]).
    reports_writing: (Mutex<HashSet<PathBuf>>, Condvar),
    /// The expired hours retention last warned it left (see [`Store::warn_kept`]).
    retention_kept_told: Mutex<Vec<u64>>,
    /// Folders named like an hour found to hold the store's data ([`Store::hours`]): each is
    /// looked into once, not at every call.
    store_hours: Mutex<HashSet<u64>>,
}

/// How long a walk of the store folder answers [`Store::stats`]: a week of a hundred domains
/// is some 100 000 files, half a second of system time to walk warm and seconds cold, and
/// `/metrics` is scraped every 15 s or so.
const DISK_USE_MAX_AGE: Duration = Duration::from_secs(60);

/// A walk that found fewer files than this is not kept: it took a millisecond or so. A store
/// that started empty showed "0 B in 0 hours" for a minute after its first trees were
/// written; now the figure is up to a minute old only in a store that large.
const DISK_USE_CACHED_FROM_FILES: u64 = 1_000;

impl Store {
    /// Opens (or creates) the store in `config.dir`: repairs domain-hours left unclean by a
    /// crash, applies retention, then starts the writer and retention threads.
    ///
    /// Exactly one owner may open a folder this way at a time (one process, one `Store`
    /// shared by cloning): a second owner would repair files the first is writing. Other
    /// readers use [`Store::open_read_only`].
    pub fn open(mut config: StoreConfig) -> Result<Store, StoreError> {
        config.writer_threads = config.writer_threads.max(1);
        config.queue_capacity = config.queue_capacity.max(1);
        config.queue_bytes = config.queue_bytes.max(MAX_FRAME_BYTES as u64);
        fs::create_dir_all(&config.dir).map_err(|e| StoreError::io(&config.dir, e))?;
        let shared = Arc::new(Shared::new(config));
        recover_all(&shared)?;
        let reader = Reader::new(Arc::clone(&shared));
        let mut writers = Vec::new();
        let mut threads = Vec::new();
        for i in 0..shared.config.writer_threads {
            // Unbounded: `queued` bounds the frames (see `send`), and the commands carry
            // batches. A bounded channel of `queue_capacity` slots took 12 MiB of memory
            // from the start (150 000 slots, each stamped when created), queue empty or not.
            let (tx, rx) = unbounded();
            let queued = Arc::new(Queued::default());
            let writer = Writer::new(Arc::clone(&shared), Arc::clone(&queued));
            let thread = std::thread::Builder::new()
                .name(format!("ocelot-store-writer-{i}"))
                .spawn(move || writer.run(rx))
                .map_err(|e| StoreError::io(&shared.config.dir, e))?;
            writers.push(WriterQueue { sender: tx, queued });
            threads.push(thread);
        }
        let inner = Arc::new(Inner {
            shared,
            writers,
            threads: Mutex::new(threads),
            reader,
            stop_retention: Mutex::new(None),
            closed: AtomicBool::new(false),
            disk_use: Mutex::new(None),
            report_generations: ReportGenerations::new(),
            reports_writing: Default::default(),
            retention_kept_told: Mutex::new(Vec::new()),
            store_hours: Mutex::default(),
        });
        let store = Store { inner };
        let config = &store.inner.shared.config;
        if config.retention_days > 0 || config.max_disk_bytes > 0 {
            // An hour it cannot delete is logged and counted; the store still opens.
            store.apply_limits(current_hour());
            let (tx, rx) = bounded(1);
            let weak = Arc::downgrade(&store.inner);
            let interval = if config.max_disk_bytes > 0 {
                config.retention_interval.min(SIZE_CAP_INTERVAL)
            } else {
                config.retention_interval
            };
            let thread = std::thread::Builder::new()
                .name("ocelot-store-retention".to_owned())
                .spawn(move || retention_loop(&weak, &rx, interval))
                .map_err(|e| StoreError::io(&store.inner.shared.config.dir, e))?;
            *store.inner.stop_retention.lock().expect("not poisoned") = Some(tx);
            store
                .inner
                .threads
                .lock()
                .expect("not poisoned")
                .push(thread);
        }
        Ok(store)
    }

    /// Opens the store in `config.dir` for lookups and reports only: no recovery, no writer,
    /// no retention, nothing written. For a second process (`ocelot lookup --data DIR`, a
    /// separate web server) next to the collector that owns the folder; only one
    /// [`Store::open`] per folder may run at a time. Appends fail with `Closed`; trees in
    /// domain-hours the owner has not repaired yet may be missing, never wrong.
    pub fn open_read_only(config: StoreConfig) -> Result<Store, StoreError> {
        if !config.dir.is_dir() {
            return Err(StoreError::io(
                &config.dir,
                io::Error::new(io::ErrorKind::NotFound, "store folder does not exist"),
            ));
        }
        let shared = Arc::new(Shared::new(config));
        let reader = Reader::new(Arc::clone(&shared));
        let inner = Inner {
            shared,
            writers: Vec::new(),
            threads: Mutex::new(Vec::new()),
            reader,
            stop_retention: Mutex::new(None),
            closed: AtomicBool::new(true),
            disk_use: Mutex::new(None),
            report_generations: ReportGenerations::new(),
            reports_writing: Default::default(),
            retention_kept_told: Mutex::new(Vec::new()),
            store_hours: Mutex::default(),
        };
        Ok(Store {
            inner: Arc::new(inner),
        })
    }

    /// Queues a whole frame (length prefix included, exactly as received) under `id`.
    ///
    /// Never blocks. The key is the ID (domain, IP, pid, hour, seq), never the frame's
    /// header domain; the frame must carry the same ID in its header (else it is counted
    /// as `IdMismatch` by the writer). Refusals here and later in the writer (duplicate,
    /// data file full, I/O error) are all counted in [`StoreStats::drops`].
    pub fn append(&self, id: &MessageId, frame: Bytes) -> Result<(), AppendError> {
        let key = FrameKey::from(id.clone());
        self.check(&key, &id.domain, &frame)?;
        let shard = shard(&id.domain, self.inner.writers.len());
        self.send(shard, vec![(key, frame)], IdSource::Caller)
    }

    /// Queues many frames at once, as [`Store::append`] does one by one, and returns how
    /// many were refused (each refusal is counted in [`StoreStats::drops`], as there).
    ///
    /// The cheap way to append a burst: one queue operation per writer thread instead of
    /// one per frame. `QueueFull` counts frames, so a burst is refused whole when its
    /// writer has no room for all of it.
    pub fn append_many(&self, frames: impl IntoIterator<Item = (MessageId, Bytes)>) -> usize {
        self.append_from(
            frames
                .into_iter()
                .map(|(id, frame)| (FrameKey::from(id), frame)),
            IdSource::Caller,
        )
    }

    /// [`Store::append_many`] for frames whose IDs the caller has just read from the frames'
    /// own headers (the collector does, with `ocelot_protocol::scan_frame`): the writer
    /// takes them as they are instead of reading every header a second time, which cost
    /// it about as much as a tenth of the compression.
    ///
    /// An ID that is not its frame's files the frame under that ID, but never shows it
    /// as that ID's tree: a lookup reads the ID in the stored header and, when it is
    /// another, answers `StoreError::CorruptEntry`.
    pub fn append_scanned(&self, frames: impl IntoIterator<Item = (FrameKey, Bytes)>) -> usize {
        self.append_from(frames, IdSource::FrameHeader)
    }

    fn append_from(
        &self,
        frames: impl IntoIterator<Item = (FrameKey, Bytes)>,
        source: IdSource,
    ) -> usize {
        let writers = self.inner.writers.len();
        let mut refused = 0;
        let mut shards: Vec<Vec<(FrameKey, Bytes)>> = Vec::new();
        for (id, frame) in frames {
            // The domain is read (checked as text) once for both.
            let domain = id.domain(&frame);
            if self.check(&id, domain, &frame).is_err() {
                refused += 1;
                continue;
            }
            let shard = shard(domain, writers);
            if shards.len() <= shard {
                shards.resize_with(shard + 1, Vec::new);
            }
            shards[shard].push((id, frame));
        }
        for (shard, frames) in shards.into_iter().enumerate() {
            let n = frames.len();
            if n > 0 && self.send(shard, frames, source).is_err() {
                refused += n;
            }
        }
        refused
    }

    /// The checks `append` makes before queueing; a refusal is counted.
    fn check(&self, id: &FrameKey, domain: &str, frame: &Bytes) -> Result<(), AppendError> {
        let shared = &self.inner.shared;
        let refuse = |reason: DropReason, error: AppendError| {
            shared.counters.drop_frames(reason, 1);
            Err(error)
        };
        if validate_name("domain", domain).is_err() {
            return refuse(
                DropReason::InvalidDomain,
                AppendError::InvalidDomain(domain.to_owned()),
            );
        }
        if id.seq > shared.config.max_seq {
            return refuse(
                DropReason::SeqTooLarge,
                AppendError::SeqTooLarge {
                    seq: id.seq,
                    max: shared.config.max_seq,
                },
            );
        }
        let declared = frame
            .get(..4)
            .map(|p| u32::from_be_bytes([p[0], p[1], p[2], p[3]]) as usize);
        if frame.len() > MAX_FRAME_BYTES || frame.len() <= 4 || declared != Some(frame.len() - 4) {
            return refuse(
                DropReason::BadFrame,
                AppendError::BadFrame {
                    len: frame.len(),
                    max: MAX_FRAME_BYTES,
                },
            );
        }
        let oldest = shared.oldest_hour();
        if id.hour < oldest {
            return refuse(
                DropReason::Expired,
                AppendError::Expired {
                    hour: id.hour,
                    oldest,
                },
            );
        }
        if self.inner.writers.is_empty() {
            return refuse(DropReason::Closed, AppendError::Closed);
        }
        Ok(())
    }

    /// Queues `frames` (checked, all of one shard) for writer `shard`, or refuses them all.
    fn send(
        &self,
        shard: usize,
        frames: Vec<(FrameKey, Bytes)>,
        source: IdSource,
    ) -> Result<(), AppendError> {
        let shared = &self.inner.shared;
        let n = frames.len();
        let queue = &self.inner.writers[shard];
        let refuse = |reason: DropReason, error: AppendError| {
            shared.counters.drop_frames(reason, n as u64);
            Err(error)
        };
        // Frames and their bytes, not commands, count against the capacity: reserve room
        // first.
        let bytes: u64 = frames.iter().map(|(_, frame)| frame.len() as u64).sum();
        let queued = &queue.queued;
        let frames_before = queued.frames.fetch_add(n, Ordering::Relaxed);
        let bytes_before = queued.bytes.fetch_add(bytes, Ordering::Relaxed);
        if frames_before + n > shared.config.queue_capacity
            || bytes_before + bytes > shared.config.queue_bytes
        {
            queued.take(n, bytes);
            return refuse(DropReason::QueueFull, AppendError::QueueFull);
        }
        // The channel is unbounded: sending fails only when the writer has stopped.
        if queue.sender.send(Command::Append(frames, source)).is_err() {
            queued.take(n, bytes);
            return refuse(DropReason::Closed, AppendError::Closed);
        }
        add(&shared.counters.appended, n as u64);
        Ok(())
    }

    /// The whole frame stored under `id` (length prefix included), `None` if there is none.
    ///
    /// A tree is found as soon as its writer has taken it off the queue: from its block on
    /// disk through the index, or, before the block is written (up to
    /// [`StoreConfig::flush_interval`] plus a writer tick after `append`), from the writer,
    /// which answers between two batches (waiting at most half a second). So a sample
    /// message ID a report shows links to its tree at once. A corrupt block fails only the
    /// lookups that need it.
    pub fn lookup(&self, id: &MessageId) -> Result<Option<Bytes>, StoreError> {
        if validate_name("domain", &id.domain).is_err() {
            // Nothing is ever stored under such a domain (`append` refuses it).
            return Ok(None);
        }
        if let Some(frame) = self.inner.reader.lookup(id)? {
            return Ok(Some(frame));
        }
        match self.find_unindexed(id) {
            Some(Some(frame)) => Ok(Some(frame)),
            // The writer wrote the index entries it held: look again.
            Some(None) => self.inner.reader.lookup(id),
            None => Ok(None),
        }
    }

    /// Asks the writer of `id`'s domain (see `Command::Find`); `None` when there is no
    /// writer or it does not answer in time.
    fn find_unindexed(&self, id: &MessageId) -> Option<Option<Bytes>> {
        let writers = &self.inner.writers;
        if writers.is_empty() {
            return None;
        }
        let (tx, rx) = bounded(1);
        writers[shard(&id.domain, writers.len())]
            .sender
            .try_send(Command::Find(id.clone(), tx))
            .ok()?;
        rx.recv_timeout(FIND_WAIT).ok()
    }

    /// Writes every block still open, so that everything appended before this call can be
    /// looked up. Blocks until the writers are done.
    pub fn flush(&self) -> Result<(), StoreError> {
        let mut waits = Vec::new();
        for writer in &self.inner.writers {
            let (tx, rx) = bounded(1);
            writer
                .sender
                .send(Command::Flush(tx))
                .map_err(|_| StoreError::Closed)?;
            waits.push(rx);
        }
        for rx in waits {
            rx.recv().map_err(|_| StoreError::Closed)?;
        }
        Ok(())
    }

    /// Writes everything, marks files clean and stops the threads. Later appends fail with
    /// `Closed`; lookups and reports keep working. Calling it again does nothing.
    pub fn shutdown(&self) {
        self.inner.stop(false);
    }

    /// Stops the writers without writing open blocks or clean markers: the state `kill -9`
    /// leaves behind. For crash tests only.
    #[doc(hidden)]
    pub fn crash_for_tests(&self) {
        self.inner.stop(true);
    }

    /// Stores a report atomically (temporary file, then rename) at
    /// `<dir>/<hour>/<domain>/reports/<name>.report`, replacing any earlier version.
    pub fn write_report(
        &self,
        hour: u64,
        domain: &str,
        name: &str,
        bytes: &[u8],
    ) -> Result<(), StoreError> {
        self.write_report_with(hour, domain, name, |out| out.write_all(bytes))
    }

    /// [`Store::write_report`] with the bytes written by `write` into the temporary file
    /// (buffered): a large report streams to disk instead of being built in memory first.
    /// An error from `write` leaves the earlier version in place.
    pub fn write_report_with(
        &self,
        hour: u64,
        domain: &str,
        name: &str,
        write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
    ) -> Result<(), StoreError> {
        validate_name("domain", domain)?;
        validate_name("report name", name)?;
        let layout = &self.inner.shared.layout;
        let path = layout.report_path(hour, domain, name);
        let dir = path
            .parent()
            .expect("report path has a folder")
            .to_path_buf();
        let created = !dir.is_dir();
        if let Err(e) = fs::create_dir_all(&dir) {
            let e = StoreError::io(&dir, e);
            self.inner.shared.counters.io_error(WRITING_REPORT, &e);
            return Err(e);
        }
        // Valid names never start with '.', so the temporary name cannot clash.
        let tmp = dir.join(format!(".{name}.{REPORT_EXT}.tmp"));
        let _writing = ReportWriting::wait(&self.inner.reports_writing, &path);
        let result = (|| -> io::Result<()> {
            let mut out =
                io::BufWriter::with_capacity(REPORT_WRITE_BUFFER, fs::File::create(&tmp)?);
            write(&mut out)?;
            let file = out.into_inner().map_err(io::IntoInnerError::into_error)?;
            file.sync_data()?;
            fs::rename(&tmp, &path)?;
            // The rename is durable once the folder holding it is synced; without that a
            // power loss can bring back the previous checkpoint. Folders made just now
            // (the hour's and the domain's) are entries in their parents, synced likewise.
            sync_dir(&dir)?;
            if created {
                for parent in dir.ancestors().skip(1).take(3) {
                    sync_dir(parent)?;
                }
            }
            Ok(())
        })();
        // Also after a failure: the rename may have happened before it.
        self.inner.report_generations.bump(hour);
        result.map_err(|e| {
            let _ = fs::remove_file(&tmp);
            let e = StoreError::io(&path, e);
            self.inner.shared.counters.io_error(WRITING_REPORT, &e);
            e
        })
    }

    /// A number that changes whenever a report of `hour` is written, set aside or deleted
    /// through this store (or a clone of it): a reader that keeps parsed reports reads
    /// this before [`Store::read_report`], and may reuse what it read only while the
    /// number is the same. It may also change when `hour`'s reports did not (hours share
    /// counters), never the other way round. A store opened with
    /// [`Store::open_read_only`] does not see another process's writes: its number stays.
    pub fn report_generation(&self, hour: u64) -> u64 {
        self.inner.report_generations.of(hour)
    }

    /// A stored report, `None` if there is none.
    pub fn read_report(
        &self,
        hour: u64,
        domain: &str,
        name: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        validate_name("domain", domain)?;
        validate_name("report name", name)?;
        let path = self.inner.shared.layout.report_path(hour, domain, name);
        match fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::io(path, e)),
        }
    }

    /// When the report was last written (its file's modification time), `None` if there is
    /// none: for a checkpoint, the moment after which trees are not in it.
    pub fn report_written_at(
        &self,
        hour: u64,
        domain: &str,
        name: &str,
    ) -> Result<Option<SystemTime>, StoreError> {
        validate_name("domain", domain)?;
        validate_name("report name", name)?;
        let path = self.inner.shared.layout.report_path(hour, domain, name);
        match fs::metadata(&path).and_then(|m| m.modified()) {
            Ok(written) => Ok(Some(written)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::io(path, e)),
        }
    }

    /// Moves the report `name` of `domain` in `hour` aside, out of the reports' listing
    /// (`<name>.report.unreadable-<unix seconds>` beside it), and returns where it went,
    /// `None` if there was none. For a report that cannot be read or parsed: the collector
    /// starts such a report from zero, and its next checkpoint would replace the file, so
    /// whatever it still held would be lost to a later look (or a fixed parser).
    pub fn set_report_aside(
        &self,
        hour: u64,
        domain: &str,
        name: &str,
    ) -> Result<Option<PathBuf>, StoreError> {
        validate_name("domain", domain)?;
        validate_name("report name", name)?;
        let path = self.inner.shared.layout.report_path(hour, domain, name);
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let aside = path.with_file_name(format!("{name}.{REPORT_EXT}.unreadable-{secs}"));
        let renamed = fs::rename(&path, &aside);
        self.inner.report_generations.bump(hour);
        match renamed {
            Ok(()) => Ok(Some(aside)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::io(path, e)),
        }
    }

    /// Domains with at least one report in `hour`, sorted.
    pub fn report_domains(&self, hour: u64) -> Result<Vec<String>, StoreError> {
        let hour_dir = self.inner.shared.layout.hour_dir(hour);
        let mut domains = Vec::new();
        for domain in read_dir(&hour_dir)? {
            if validate_name("domain", &domain).is_err() {
                continue;
            }
            // One entry whose reports cannot be listed (a damaged or unreadable folder, a
            // symlink loop) is left out, counted: failing the whole listing made the
            // collector restart every domain of the hour from zero, and its next checkpoint
            // overwrote what they had counted.
            match self.report_names(hour, &domain) {
                Ok(names) if !names.is_empty() => domains.push(domain),
                Ok(_) => {}
                Err(e) => {
                    self.inner
                        .shared
                        .counters
                        .io_error("listing the reports of", &e);
                    tracing::warn!(target: "ocelot_store", hour, domain = domain.as_str(), error = %e, "cannot list a domain's reports; leaving it out");
                }
            }
        }
        Ok(domains)
    }

    /// Domains with a data file (stored trees) in `hour`, sorted: the message IDs' domains,
    /// which the trees are filed under.
    pub fn tree_domains(&self, hour: u64) -> Result<Vec<String>, StoreError> {
        let layout = &self.inner.shared.layout;
        Ok(read_dir(&layout.hour_dir(hour))?
            .into_iter()
            .filter(|domain| validate_name("domain", domain).is_ok())
            .filter(|domain| layout.domain_dir(hour, domain).join(DATA_FILE).is_file())
            .collect())
    }

    /// Calls `f` with every frame stored under `domain` (a message ID's domain) in `hour`,
    /// whole (length prefix included, as received), in the order they were stored: what a
    /// rebuild of an hour's reports reads. Frames still in a writer's open block are not
    /// seen ([`Store::flush`] first). A damaged block is stepped over and counted in the
    /// answer, and reading goes on after it; a file cut inside a block ends the reading
    /// there, as recovery would cut it.
    pub fn for_each_frame(
        &self,
        hour: u64,
        domain: &str,
        mut f: impl FnMut(&[u8]),
    ) -> Result<FramesRead, StoreError> {
        let path = self.domain_file(hour, domain, DATA_FILE)?;
        let mut read = FramesRead::default();
        let file = match fs::File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(read),
            Err(e) => return Err(StoreError::io(&path, e)),
        };
        crate::data_file::check_header(&file, &path)?;
        let len = file.metadata().map_err(|e| StoreError::io(&path, e))?.len();
        let mut address = crate::data_file::DATA_HEADER_BYTES;
        while address < len {
            match crate::data_file::read_record(&file, &path, address)? {
                crate::data_file::Record::Block(block, on_disk) => {
                    for frame in crate::block::frames(&block) {
                        match frame {
                            Ok((_, range)) => {
                                read.frames += 1;
                                f(&block[range]);
                            }
                            Err(_) => read.damaged_blocks += 1,
                        }
                    }
                    address += on_disk;
                }
                crate::data_file::Record::Truncated => break,
                crate::data_file::Record::Corrupt(_, on_disk) => {
                    read.damaged_blocks += 1;
                    let from = address + on_disk.unwrap_or(1);
                    match crate::data_file::next_record(&file, &path, from, len, len)? {
                        Some(next) => address = next,
                        None => break,
                    }
                }
            }
        }
        Ok(read)
    }

    /// `name` in the folder of `domain` in `hour`, once the domain is checked as a name.
    fn domain_file(&self, hour: u64, domain: &str, name: &str) -> Result<PathBuf, StoreError> {
        validate_name("domain", domain)?;
        Ok(self.inner.shared.layout.domain_dir(hour, domain).join(name))
    }

    /// Names of the reports stored for `domain` in `hour`, sorted.
    pub fn report_names(&self, hour: u64, domain: &str) -> Result<Vec<String>, StoreError> {
        let dir = self.domain_file(hour, domain, REPORTS_DIR)?;
        let suffix = format!(".{REPORT_EXT}");
        Ok(read_dir(&dir)?
            .into_iter()
            .filter_map(|f| f.strip_suffix(&suffix).map(str::to_owned))
            .filter(|n| validate_name("report name", n).is_ok())
            .collect())
    }

    /// Hours with anything stored (messages or reports), ascending: the store folder's
    /// folders named like an hour that hold a domain's data file or reports (a user's
    /// `2024` folder in a reused directory is no hour of 1970).
    pub fn hours(&self) -> Result<Vec<u64>, StoreError> {
        let layout = &self.inner.shared.layout;
        let mut known = self
            .inner
            .store_hours
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let mut hours: Vec<u64> = read_dir(layout.root())?
            .iter()
            .filter_map(|n| parse_hour(n))
            .filter(|&hour| {
                let dir = layout.hour_dir(hour);
                dir.is_dir()
                    && (known.contains(&hour)
                        || (retention::holds_store_data(&dir) && known.insert(hour)))
            })
            .collect();
        drop(known);
        hours.sort_unstable();
        Ok(hours)
    }

    /// Deletes every hour older than the retention period as seen at `now_hour`, and refuses
    /// appends and lookups for them from now on. Returns how many hour folders were deleted.
    /// The retention thread calls this with the clock's hour; tests call it with any hour.
    ///
    /// Only what the store wrote goes (see `retention.rs`): an hour folder loses its domain
    /// folders that hold nothing but the store's files, and goes itself once empty. Whatever
    /// else it holds (the store folder may be a reused directory) is left, with the folder,
    /// and said in one warning. The hours deleted are logged, one line per pass. An hour
    /// folder that cannot be deleted (permissions, an immutable file, a mount) is counted as
    /// an I/O error and logged, and the newer expired hours are deleted all the same;
    /// anything named like an hour that is not a folder is left alone.
    pub fn apply_retention(&self, now_hour: u64) -> Result<u64, StoreError> {
        let shared = &self.inner.shared;
        let days = u64::from(shared.config.retention_days);
        if days == 0 {
            return Ok(0);
        }
        let oldest = now_hour.saturating_sub(days * HOURS_PER_DAY);
        // Set, not raised: after a clock set days ahead and corrected, the hours of the
        // real time are taken again at the next pass instead of refused as expired until a
        // restart. (What the wrong clock deleted is gone either way.)
        shared.oldest_hour.store(oldest, Ordering::Relaxed);
        let expired: Vec<u64> = self.hours()?.into_iter().filter(|&h| h < oldest).collect();
        let deleted = self.sweep(&expired);
        if !deleted.is_empty() {
            tracing::info!(
                target: "ocelot_store",
                dir = %shared.layout.root().display(),
                "retention deleted {} older than {days} days: {}",
                plural(deleted.len(), "hour folder"),
                bounded_list(&deleted, HOURS_NAMED_MAX)
            );
        }
        Ok(deleted.len() as u64)
    }

    /// Deletes the oldest hours while the store holds more than
    /// [`StoreConfig::max_disk_bytes`] on disk (its files' allocated blocks), and refuses
    /// appends and lookups for them from now on; returns how many hour folders were deleted.
    /// The hour `now_hour` and the one before are never deleted (the collector still takes
    /// trees of the previous hour for a few minutes); when they alone hold more than the cap,
    /// a warning says so (throttled) and the disk may fill. Nothing happens without a cap.
    /// The retention thread calls this with the clock's hour after [`Store::apply_retention`].
    pub fn apply_size_cap(&self, now_hour: u64) -> u64 {
        let shared = &self.inner.shared;
        let cap = shared.config.max_disk_bytes;
        if cap == 0 {
            return 0;
        }
        let (uses, _) = self.disk_use();
        let mut by_hour = std::collections::BTreeMap::<u64, u64>::new();
        for usage in &uses {
            *by_hour.entry(usage.hour).or_default() += usage.bytes;
        }
        let held: u64 = by_hour.values().sum();
        let mut left = held;
        let keep_from = now_hour.saturating_sub(1);
        let mut oldest_first = Vec::new();
        for (&hour, &bytes) in &by_hour {
            if left <= cap || hour >= keep_from {
                break;
            }
            oldest_first.push(hour);
            left -= bytes;
        }
        // Refused before the sweep, as retention does: a writer that finds the files of an
        // hour being deleted then takes it as expired, not as changed from outside (which
        // it would count and keep as the last error).
        if let Some(&newest) = oldest_first.last() {
            shared.oldest_hour.fetch_max(newest + 1, Ordering::Relaxed);
        }
        let deleted = self.sweep(&oldest_first);
        if !deleted.is_empty() {
            tracing::info!(
                target: "ocelot_store",
                dir = %shared.layout.root().display(),
                "the store held {} on disk, over its cap of {} (store.max_disk_gib): deleted the \
                 oldest {}: {}",
                gib(held),
                gib(cap),
                plural(deleted.len(), "hour folder"),
                bounded_list(&deleted, HOURS_NAMED_MAX)
            );
        }
        if left > cap {
            shared.warn_throttled(Warned::SizeCapUnmet, || {
                format!(
                    "the store holds {} on disk, over its cap of {} (store.max_disk_gib), in \
                     hours it does not delete (the current hour and the one before, or folders \
                     it could not delete): raise the cap, or the disk may fill",
                    gib(left),
                    gib(cap)
                )
            });
        }
        deleted.len() as u64
    }

    /// Retention by age, then the size cap, as the retention thread runs them: what fails
    /// is logged (and an hour that cannot be deleted counted).
    fn apply_limits(&self, now_hour: u64) {
        if let Err(e) = self.apply_retention(now_hour) {
            tracing::warn!(target: "ocelot_store", "retention failed: {e}");
        }
        self.apply_size_cap(now_hour);
    }

    /// Deletes the hour folders `hours` (what the store wrote in them) and returns those
    /// deleted. A folder that cannot be deleted is counted as an I/O error and warned
    /// about, and the others are deleted all the same; one that holds what the store did
    /// not write is left, said in one warning.
    fn sweep(&self, hours: &[u64]) -> Vec<u64> {
        let shared = &self.inner.shared;
        let mut deleted = Vec::new();
        let mut kept = Vec::new();
        let mut swept_dirs = Vec::new();
        for &hour in hours {
            let dir = shared.layout.hour_dir(hour);
            let swept = retention::sweep_hour(&dir);
            // Even when it failed: part of the folder may be gone.
            self.inner.report_generations.bump(hour);
            if swept.is_ok() {
                swept_dirs.push(dir.clone());
            }
            match swept {
                Ok(HourSwept::Deleted) => deleted.push(hour),
                Ok(HourSwept::Gone) => {}
                Ok(HourSwept::Kept(foreign)) => kept.push((hour, foreign)),
                Err(e) => {
                    shared.counters.io_error_at(
                        "deleting the expired hour",
                        dir.display().to_string(),
                        e.to_string(),
                    );
                    shared.warn_throttled(Warned::RetentionFailed, || {
                        format!("retention cannot delete {}: {e}", dir.display())
                    });
                }
            }
        }
        self.warn_kept(&kept);
        // The last error about a file these hours held is about nothing left: forgotten, or
        // `ocelot status` shows it until a newer one. A kept hour's file that is still
        // there (a foreign one) keeps it.
        shared.counters.forget_last_error_if(|path| {
            swept_dirs.iter().any(|dir| path.starts_with(dir))
                && matches!(fs::symlink_metadata(path), Err(e) if e.kind() == io::ErrorKind::NotFound)
        });
        if !deleted.is_empty() {
            add(&shared.counters.hours_deleted, deleted.len() as u64);
            self.inner.reader.clear_caches();
            *self
                .inner
                .disk_use
                .lock()
                .unwrap_or_else(|e| e.into_inner()) = None;
        }
        deleted
    }

    /// Warns about the expired hour folders retention left because they hold what the store
    /// did not write (`kept`: each hour with those entries), once per set of hours: every
    /// pass finds them again, and a warning every ten minutes would say nothing new.
    fn warn_kept(&self, kept: &[(u64, Vec<String>)]) {
        let hours: Vec<u64> = kept.iter().map(|(hour, _)| *hour).collect();
        let mut told = self
            .inner
            .retention_kept_told
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if *told == hours {
            return;
        }
        told.clone_from(&hours);
        drop(told);
        let Some((first_hour, first)) = kept.first() else {
            return;
        };
        let named = first.iter().take(3).cloned().collect::<Vec<_>>().join(", ");
        let more = if first.len() > 3 { ", ..." } else { "" };
        tracing::warn!(
            target: "ocelot_store",
            dir = %self.inner.shared.layout.root().display(),
            hours = %bounded_list(&hours, HOURS_NAMED_MAX),
            "retention left {}: {} files or folders the store did not write, left as they \
             are (in {first_hour}: {named}{more}). Is the data directory used for something \
             else too? Move them out of it, or delete them yourself",
            plural(hours.len(), "expired hour folder"),
            if hours.len() == 1 { "it holds" } else { "they hold" },
        );
    }

    /// The counters, plus disk use per hour and domain: a walk of the store folder, at most
    /// `DISK_USE_MAX_AGE` old once the store holds `DISK_USE_CACHED_FROM_FILES` files or
    /// more, else new (retention deleting hours starts a new one).
    pub fn stats(&self) -> StoreStats {
        let mut cached = self
            .inner
            .disk_use
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let fresh = cached
            .as_ref()
            .filter(|(at, _)| at.elapsed() < DISK_USE_MAX_AGE)
            .map(|(_, uses)| uses.clone());
        let uses = fresh.unwrap_or_else(|| {
            let (uses, files) = self.disk_use();
            *cached = (files >= DISK_USE_CACHED_FROM_FILES).then(|| (Instant::now(), uses.clone()));
            uses
        });
        drop(cached);
        StoreStats {
            disk_cap_bytes: self.inner.shared.config.max_disk_bytes,
            ..self.inner.shared.counters.snapshot(uses)
        }
    }

    /// The last failure of the store (see [`StoreStats::last_error`]), without walking the
    /// data directory for its disk use as [`Store::stats`] does.
    pub fn last_error(&self) -> Option<LastError> {
        self.inner.shared.counters.last_error()
    }

    /// Frames dropped so far, by reason (every reason, zeros included): [`Store::stats`]'s
    /// `drops` without walking the data directory for its disk use.
    pub fn drops(&self) -> Vec<(DropReason, u64)> {
        self.inner.shared.counters.drops()
    }

    /// Disk use per hour and domain, and the files and folders walked to find it.
    fn disk_use(&self) -> (Vec<DiskUse>, u64) {
        let mut uses = Vec::new();
        let mut files = 0;
        let layout = &self.inner.shared.layout;
        for hour in self.hours().unwrap_or_default() {
            for domain in read_dir(&layout.hour_dir(hour)).unwrap_or_default() {
                let bytes = dir_bytes(&layout.domain_dir(hour, &domain), &mut files);
                uses.push(DiskUse {
                    hour,
                    domain,
                    bytes,
                });
            }
        }
        (uses, files)
    }
}

/// What [`Store::for_each_frame`] read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FramesRead {
    /// Frames handed to the caller.
    pub frames: u64,
    /// Blocks stepped over because they are damaged (their frames are not read).
    pub damaged_blocks: u64,
}

/// `12.3 GiB`.
fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / (1u64 << 30) as f64)
}

/// `1 hour folder`, `3 hour folders`.
fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// `498700, 498701` or `498700, ... (the first `max`) and 4 more`.
fn bounded_list(hours: &[u64], max: usize) -> String {
    let named: Vec<String> = hours.iter().take(max).map(u64::to_string).collect();
    match hours.len().saturating_sub(max) {
        0 => named.join(", "),
        more => format!("{} and {more} more", named.join(", ")),
    }
}

/// The bytes of the files under `dir`; `files` counts the entries walked.
fn dir_bytes(dir: &std::path::Path, files: &mut u64) -> u64 {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| {
            *files += 1;
            match e.metadata() {
                Ok(m) if m.is_dir() => dir_bytes(&e.path(), files),
                Ok(m) => crate::stats::bytes_on_disk(&m),
                Err(_) => 0,
            }
        })
        .sum()
}

/// The right to write one report: writers of the same report (clones share a store) take
/// turns. Sharing its temporary file, the second one's `create` emptied the file the first
/// was still writing, and both renamed a mix of their bytes into place.
struct ReportWriting<'a> {
    writing: &'a (Mutex<HashSet<PathBuf>>, Condvar),
    path: PathBuf,
}

impl<'a> ReportWriting<'a> {
    /// Waits until no one else writes the report at `path`.
    fn wait(writing: &'a (Mutex<HashSet<PathBuf>>, Condvar), path: &std::path::Path) -> Self {
        let (paths, turn) = writing;
        let mut paths = paths.lock().unwrap_or_else(|e| e.into_inner());
        while paths.contains(path) {
            paths = turn.wait(paths).unwrap_or_else(|e| e.into_inner());
        }
        paths.insert(path.to_path_buf());
        ReportWriting {
            writing,
            path: path.to_path_buf(),
        }
    }
}

impl Drop for ReportWriting<'_> {
    fn drop(&mut self) {
        let (paths, turn) = self.writing;
        paths
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.path);
        turn.notify_all();
    }
}

impl Inner {
    fn stop(&self, abandon: bool) {
        if self.closed.swap(true, Ordering::SeqCst) {
            return;
        }
        if let Some(tx) = self.stop_retention.lock().expect("not poisoned").take() {
            let _ = tx.send(());
        }
        let mut waits = Vec::new();
        for writer in &self.writers {
            let (tx, rx) = bounded(1);
            let command = if abandon {
                Command::Abandon(tx)
            } else {
                Command::Shutdown(tx)
            };
            if writer.sender.send(command).is_ok() {
                waits.push(rx);
            }
        }
        for rx in waits {
            let _ = rx.recv();
        }
        let threads = std::mem::take(&mut *self.threads.lock().expect("not poisoned"));
        let current = std::thread::current().id();
        for thread in threads {
            // The retention thread may hold the last handle and be the one dropping it.
            if thread.thread().id() != current {
                let _ = thread.join();
            }
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop(false);
    }
}

fn retention_loop(inner: &std::sync::Weak<Inner>, stop: &Receiver<()>, interval: Duration) {
    while let Err(crossbeam_channel::RecvTimeoutError::Timeout) = stop.recv_timeout(interval) {
        let Some(inner) = inner.upgrade() else { return };
        Store { inner }.apply_limits(current_hour());
    }
}

fn current_hour() -> u64 {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    hour_of(u64::try_from(ms).unwrap_or(u64::MAX))
}

/// How long a lookup waits for a writer to look in its open blocks (it answers between
/// two batches of frames).
pub(crate) const FIND_WAIT: Duration = Duration::from_millis(500);

/// Which writer owns `domain`: FNV-1a, stable across runs.
fn shard(domain: &str, writers: usize) -> usize {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in domain.bytes() {
        hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    (hash % writers as u64) as usize
}

/// Makes the entries of the folder `dir` (a rename into it, a folder made in it) durable.
fn sync_dir(dir: &std::path::Path) -> io::Result<()> {
    fs::File::open(dir)?.sync_all()
}
