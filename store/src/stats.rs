//! Counters the State report shows: what was stored, what was dropped and why, disk use,
//! and the last failure, so that a page can say what failed without the log.

use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::StoreError;

/// Why a frame was not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// The writer queue was full.
    QueueFull,
    /// The ID's domain is not a safe folder name.
    InvalidDomain,
    /// The sequence number is above the configured maximum (sparse index blow-up).
    SeqTooLarge,
    /// Empty, not length-prefixed, or above the maximum frame size.
    BadFrame,
    /// The ID's hour is older than the retention horizon.
    Expired,
    /// The ID was stored before; the first tree stored under an ID wins.
    Duplicate,
    /// The frame's header carries a different (or no) message ID than the one given.
    IdMismatch,
    /// The domain-hour data file would pass its size limit (4 GiB: 32-bit block addresses).
    DataFileFull,
    /// Writing failed (disk full, I/O error).
    IoError,
    /// The ID's domain would pass the hour's cap on domains with files
    /// ([`crate::StoreConfig::max_domains_per_hour`]).
    TooManyDomains,
    /// The ID's client (IP and pid) would pass its domain-hour's cap on index files
    /// ([`crate::StoreConfig::max_index_files_per_domain_hour`]).
    TooManyIndexFiles,
    /// The store was shut down.
    Closed,
}

impl DropReason {
    /// Every reason, in a fixed order.
    pub const ALL: [DropReason; 12] = [
        DropReason::QueueFull,
        DropReason::InvalidDomain,
        DropReason::SeqTooLarge,
        DropReason::BadFrame,
        DropReason::Expired,
        DropReason::Duplicate,
        DropReason::IdMismatch,
        DropReason::DataFileFull,
        DropReason::IoError,
        DropReason::TooManyDomains,
        DropReason::TooManyIndexFiles,
        DropReason::Closed,
    ];

    /// A stable snake_case name for reports and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::QueueFull => "queue_full",
            DropReason::InvalidDomain => "invalid_domain",
            DropReason::SeqTooLarge => "seq_too_large",
            DropReason::BadFrame => "bad_frame",
            DropReason::Expired => "expired",
            DropReason::Duplicate => "duplicate",
            DropReason::IdMismatch => "id_mismatch",
            DropReason::DataFileFull => "data_file_full",
            DropReason::IoError => "io_error",
            DropReason::TooManyDomains => "too_many_domains",
            DropReason::TooManyIndexFiles => "too_many_index_files",
            DropReason::Closed => "closed",
        }
    }
}

/// Disk use of one domain-hour folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskUse {
    /// The hour.
    pub hour: u64,
    /// The domain.
    pub domain: String,
    /// Bytes the folder's files take on disk: their allocated blocks, as `du` counts them
    /// (sparse index files count the blocks they use, not their length; elsewhere than
    /// Unix, their length).
    pub bytes: u64,
}

/// The bytes a file takes on disk: its allocated blocks (512 bytes each, whatever the file
/// system's block size), as `du` counts them. An index file is sparse where its client's
/// sequence numbers jump: its length once made a store `du` put at 40 MB say 17.4 GiB.
/// Elsewhere than Unix, the length.
pub(crate) fn bytes_on_disk(metadata: &std::fs::Metadata) -> u64 {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        metadata.blocks().saturating_mul(512)
    }
    #[cfg(not(unix))]
    {
        metadata.len()
    }
}

/// The last store operation that failed (a write, an open, a repair) or file found changed
/// from outside: what, on which file, why, and when. Each of its texts is cut to
/// [`LAST_ERROR_TEXT_MAX_BYTES`], so keeping it costs a bounded few hundred bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastError {
    /// What the store was doing, e.g. `writing a block`.
    pub what: &'static str,
    /// The file or folder (empty when the failure names none).
    pub path: String,
    /// The OS error's text (`No space left on device (os error 28)`), or what was found.
    pub error: String,
    /// When, epoch ms by the system clock.
    pub at_ms: u64,
}

impl fmt::Display for LastError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}: {}", self.what, self.error)
        } else {
            write!(f, "{} {}: {}", self.what, self.path, self.error)
        }
    }
}

/// Longest [`LastError::path`] and [`LastError::error`] kept, in bytes: a path in the data
/// directory and an OS error's text are far shorter.
pub const LAST_ERROR_TEXT_MAX_BYTES: usize = 512;

/// `text` cut to [`LAST_ERROR_TEXT_MAX_BYTES`] at a character boundary.
fn bounded(mut text: String) -> String {
    if text.len() > LAST_ERROR_TEXT_MAX_BYTES {
        let mut end = LAST_ERROR_TEXT_MAX_BYTES;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

/// A snapshot of the store's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Frames accepted by `append` (queued).
    pub appended: u64,
    /// Frames written to disk and indexed.
    pub stored: u64,
    /// Uncompressed frame bytes written.
    pub bytes_in: u64,
    /// Block record bytes written (compressed).
    pub bytes_out: u64,
    /// Blocks written.
    pub blocks: u64,
    /// Drops by reason (every reason listed, zeros included).
    pub drops: Vec<(DropReason, u64)>,
    /// Failed writes, truncations or file opens.
    pub io_errors: u64,
    /// The last of them (`None` while none happened since the store opened).
    pub last_error: Option<LastError>,
    /// Lookups served.
    pub lookups: u64,
    /// Lookups that hit a corrupt block or entry.
    pub corrupt_reads: u64,
    /// Domain-hours repaired at open after an unclean shutdown.
    pub recovered_files: u64,
    /// Index entries rebuilt by recovery.
    pub recovered_entries: u64,
    /// Hour folders deleted by retention (by age or by the size cap).
    pub hours_deleted: u64,
    /// Disk use per hour and domain (walks the folders; not free).
    pub disk_use: Vec<DiskUse>,
    /// The size cap on disk use ([`crate::StoreConfig::max_disk_bytes`]; 0: none).
    pub disk_cap_bytes: u64,
}

impl StoreStats {
    /// Drops for one reason.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.drops
            .iter()
            .find(|(r, _)| *r == reason)
            .map_or(0, |(_, n)| *n)
    }

    /// Drops for all reasons.
    pub fn dropped_total(&self) -> u64 {
        self.drops.iter().map(|(_, n)| n).sum()
    }
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) appended: AtomicU64,
    pub(crate) stored: AtomicU64,
    pub(crate) bytes_in: AtomicU64,
    pub(crate) bytes_out: AtomicU64,
    pub(crate) blocks: AtomicU64,
    drops: [AtomicU64; DropReason::ALL.len()],
    pub(crate) io_errors: AtomicU64,
    pub(crate) lookups: AtomicU64,
    pub(crate) corrupt_reads: AtomicU64,
    pub(crate) recovered_files: AtomicU64,
    pub(crate) recovered_entries: AtomicU64,
    pub(crate) hours_deleted: AtomicU64,
    last_error: Mutex<Option<LastError>>,
}

pub(crate) fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

impl Counters {
    /// Counts an I/O error (see [`StoreStats::io_errors`]) and keeps it as the last one:
    /// `what` the store was doing when `error` happened.
    pub(crate) fn io_error(&self, what: &'static str, error: &StoreError) {
        let (path, text) = match error {
            StoreError::Io { path, source } => (path.display().to_string(), source.to_string()),
            StoreError::BadFormat { path, reason } => (path.display().to_string(), reason.clone()),
            StoreError::CorruptBlock { path, .. } | StoreError::CorruptEntry { path, .. } => {
                (path.display().to_string(), error.to_string())
            }
            StoreError::InvalidName { .. } | StoreError::Closed => {
                (String::new(), error.to_string())
            }
        };
        self.io_error_at(what, path, text);
    }

    /// Counts an I/O error and keeps it as the last one, given as the file (`path`) and
    /// what was wrong with it (`error`): a file changed from outside, say.
    pub(crate) fn io_error_at(&self, what: &'static str, path: String, error: String) {
        add(&self.io_errors, 1);
        let at_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let last = LastError {
            what,
            path: bounded(path),
            error: bounded(error),
            at_ms,
        };
        *self.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(last);
    }

    /// Forgets the last I/O error when `is_gone` says the file it names is gone (its hour
    /// deleted by retention or the size cap): `ocelot status` kept showing an error about a
    /// file that no longer exists until a newer error came. The count stays.
    pub(crate) fn forget_last_error_if(&self, is_gone: impl FnOnce(&Path) -> bool) {
        let mut last = self.last_error.lock().unwrap_or_else(|e| e.into_inner());
        if last
            .as_ref()
            .is_some_and(|e| !e.path.is_empty() && is_gone(Path::new(&e.path)))
        {
            *last = None;
        }
    }

    /// The last I/O error, if any.
    pub(crate) fn last_error(&self) -> Option<LastError> {
        self.last_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub(crate) fn drop_frames(&self, reason: DropReason, n: u64) {
        let i = DropReason::ALL
            .iter()
            .position(|r| *r == reason)
            .expect("listed in ALL");
        add(&self.drops[i], n);
    }

    pub(crate) fn drops(&self) -> Vec<(DropReason, u64)> {
        DropReason::ALL
            .iter()
            .zip(&self.drops)
            .map(|(r, c)| (*r, c.load(Ordering::Relaxed)))
            .collect()
    }

    pub(crate) fn snapshot(&self, disk_use: Vec<DiskUse>) -> StoreStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StoreStats {
            appended: get(&self.appended),
            stored: get(&self.stored),
            bytes_in: get(&self.bytes_in),
            bytes_out: get(&self.bytes_out),
            blocks: get(&self.blocks),
            drops: DropReason::ALL
                .iter()
                .zip(&self.drops)
                .map(|(r, c)| (*r, get(c)))
                .collect(),
            io_errors: get(&self.io_errors),
            last_error: self.last_error(),
            lookups: get(&self.lookups),
            corrupt_reads: get(&self.corrupt_reads),
            recovered_files: get(&self.recovered_files),
            recovered_entries: get(&self.recovered_entries),
            hours_deleted: get(&self.hours_deleted),
            disk_use,
            disk_cap_bytes: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An index file made sparse (a client's sequence numbers jumping far ahead): the
    /// store's disk use counted its length, a gibibyte, where it takes a few blocks.
    #[cfg(unix)]
    #[test]
    fn disk_use_counts_the_blocks_a_sparse_index_file_takes_not_its_length() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::Store::open(crate::StoreConfig {
            retention_days: 0,
            ..crate::StoreConfig::new(dir.path())
        })
        .unwrap();
        let header = ocelot_protocol::Header {
            domain: "app".into(),
            message_id: "app-0a000001-498703-1".into(),
            ..Default::default()
        };
        let event = ocelot_protocol::Leaf::new("E", "n", "0", 1, "x");
        let tree =
            ocelot_protocol::MessageTree::new(header, ocelot_protocol::Message::Event(event));
        let id = "app-0a000001-498703-1".parse().unwrap();
        store
            .append(&id, ocelot_protocol::nt1::encode_to_bytes(&tree))
            .unwrap();
        store.flush().unwrap();
        let sparse = dir
            .path()
            .join("498703")
            .join("app")
            .join("sparse-test.idx");
        std::fs::File::create(&sparse)
            .unwrap()
            .set_len(1 << 30)
            .unwrap();
        let used: u64 = store.stats().disk_use.iter().map(|d| d.bytes).sum();
        assert!(used > 0, "the data file takes blocks");
        assert!(used < 1 << 20, "{used} bytes for a few small files");
        store.shutdown();
    }

    #[test]
    fn the_last_error_names_the_file_and_the_os_error_and_stays_small() {
        let counters = Counters::default();
        assert_eq!(counters.snapshot(Vec::new()).last_error, None);
        let full = std::io::Error::from_raw_os_error(28);
        let e = StoreError::io("/data/498703/shop/messages.dat", full);
        counters.io_error("writing a block to", &e);
        let stats = counters.snapshot(Vec::new());
        assert_eq!(stats.io_errors, 1);
        let last = stats.last_error.expect("kept");
        assert_eq!(last.path, "/data/498703/shop/messages.dat");
        assert!(
            last.error.starts_with("No space left on device"),
            "{last:?}"
        );
        assert!(last.at_ms > 1_700_000_000_000, "{last:?}");
        assert_eq!(
            last.to_string(),
            format!(
                "writing a block to /data/498703/shop/messages.dat: {}",
                last.error
            )
        );
        // A later one replaces it; a long text is cut (at a character boundary).
        counters.io_error_at("reading", "é".repeat(1000), "x".to_owned());
        let last = counters.last_error().expect("kept");
        assert_eq!(last.what, "reading");
        assert_eq!(last.path.len(), LAST_ERROR_TEXT_MAX_BYTES);
        assert_eq!(counters.snapshot(Vec::new()).io_errors, 2);
    }
}
