//! How a store is set up.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::file_layer::{FileLayer, OsFiles};
use crate::index_entry::ENTRY_BYTES;

/// CAT's dump analyzer discards sequence numbers above 50 000 000 (reference 2.3). Their
/// index entries would sit at up to 300 MB into a sparse index file; anything larger could
/// make a file of terabytes from one hostile ID.
pub const DEFAULT_MAX_SEQ: u64 = 50_000_000;

/// The largest [`StoreConfig::max_seq`] a store takes; a larger one is lowered to it. The
/// index entry of every sequence number up to it ends within the largest file offset
/// (`i64::MAX`), so index positions never overflow. (No file system holds an index file that
/// large: such entries fail to write, counted as I/O errors.)
pub const MAX_SEQ_LIMIT: u64 = i64::MAX as u64 / ENTRY_BYTES - 1;

/// Default [`StoreConfig::queue_bytes`]: 256 MiB per writer, room for 150 000 frames of the
/// 1.4 KB real clients send (the collector's default `queue_frames`) and more of the
/// load generator's, so the byte budget binds only on large trees.
pub const DEFAULT_QUEUE_BYTES: u64 = 256 << 20;

/// How often, at the longest, a store with a size cap ([`StoreConfig::max_disk_bytes`])
/// looks at its size: a busy store writes gigabytes in the ten minutes retention by age
/// waits.
pub const SIZE_CAP_INTERVAL: Duration = Duration::from_secs(60);

/// Block addresses are 32 bits, so a data file may grow to 4 GiB.
pub const MAX_DATA_FILE_BYTES: u64 = 1 << 32;

/// Settings of a [`crate::Store`]. Build with [`StoreConfig::new`] and change fields.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// The store folder (created if missing).
    pub dir: PathBuf,
    /// GZIP level of blocks, 0 to 9 (default 1: the best speed; ratio is still > 4x on trees).
    pub compression_level: u32,
    /// Hours older than this many days are deleted; 0 keeps everything (default 7).
    pub retention_days: u32,
    /// The most the store may hold on disk, in bytes (allocated blocks); past it the
    /// oldest hours are deleted, never the current hour or the one before (default 0: no
    /// cap). Checked at open and at least every [`SIZE_CAP_INTERVAL`].
    pub max_disk_bytes: u64,
    /// An open block is written at the latest this long after its first frame arrived, so a
    /// tree is findable within `flush_interval` plus a writer tick (default 1 s).
    pub flush_interval: Duration,
    /// Frames waiting for the writers before `append` refuses with `QueueFull` (default
    /// 10 000 per writer thread, CAT's queue size).
    pub queue_capacity: usize,
    /// Bytes of frames waiting for each writer thread before `append` refuses with
    /// `QueueFull` (default [`DEFAULT_QUEUE_BYTES`], at least [`crate::MAX_FRAME_BYTES`]):
    /// with frames of up to 16 MiB, a count of frames alone let a sender of large trees
    /// queue gigabytes behind a writer busy compressing them.
    pub queue_bytes: u64,
    /// Writer threads; domains are spread over them by a hash (default 1).
    pub writer_threads: usize,
    /// Largest sequence number stored (default [`DEFAULT_MAX_SEQ`]), at most
    /// [`MAX_SEQ_LIMIT`] (a larger value is lowered to it).
    pub max_seq: u64,
    /// Largest data file per domain-hour, at most [`MAX_DATA_FILE_BYTES`] (the default).
    pub max_data_file_bytes: u64,
    /// Decompressed blocks kept for lookups (default 64, about 4 MiB).
    pub block_cache_blocks: usize,
    /// A domain-hour's files are closed (and marked clean) after this long without frames
    /// (default 60 s).
    pub idle_close: Duration,
    /// How often retention runs (default 10 minutes; it also runs at open).
    pub retention_interval: Duration,
    /// Domains given files per hour (default [`DEFAULT_MAX_DOMAINS_PER_HOUR`]). A tree is
    /// filed under its message ID's domain, which the sending client chooses; a tree of a
    /// domain past the cap is dropped, counted as `too_many_domains`.
    pub max_domains_per_hour: usize,
    /// Index files per domain-hour: clients (IP, or IP and pid) whose trees are stored in
    /// it (default [`DEFAULT_MAX_INDEX_FILES_PER_DOMAIN_HOUR`]). The client in a message ID
    /// is the sender's to choose, and each new one makes a file; a tree of a client past
    /// the cap is dropped, counted as `too_many_index_files`.
    pub max_index_files_per_domain_hour: usize,
    /// Where writes go; tests inject failures here (default [`OsFiles`]).
    pub file_layer: Arc<dyn FileLayer>,
}

/// Four times the analyzers' cap on domains with reports of their own: a message ID may
/// name another domain than its tree's (CAT's clients give a remote call's callee an ID
/// made by the caller), so IDs name more domains than headers do, but not without bound.
pub const DEFAULT_MAX_DOMAINS_PER_HOUR: usize = 4_000;

/// Far more processes than one application runs in an hour, even one restarted on new
/// hosts a few times: each is one client (IP and pid). A client sending IDs with a new IP or
/// pid each made one file per tree (20 000 trees, 20 000 files, 80 MB), and a domain-hour
/// full of files makes every repair of it read them all.
pub const DEFAULT_MAX_INDEX_FILES_PER_DOMAIN_HOUR: usize = 4_000;

impl StoreConfig {
    /// The defaults, storing under `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> StoreConfig {
        StoreConfig {
            dir: dir.into(),
            compression_level: 1,
            retention_days: 7,
            max_disk_bytes: 0,
            flush_interval: Duration::from_secs(1),
            queue_capacity: 10_000,
            queue_bytes: DEFAULT_QUEUE_BYTES,
            writer_threads: 1,
            max_seq: DEFAULT_MAX_SEQ,
            max_data_file_bytes: MAX_DATA_FILE_BYTES,
            block_cache_blocks: 64,
            idle_close: Duration::from_secs(60),
            retention_interval: Duration::from_secs(600),
            max_domains_per_hour: DEFAULT_MAX_DOMAINS_PER_HOUR,
            max_index_files_per_domain_hour: DEFAULT_MAX_INDEX_FILES_PER_DOMAIN_HOUR,
            file_layer: Arc::new(OsFiles),
        }
    }
}
