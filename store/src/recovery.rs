//! Recovery at open: make every domain-hour that was not closed cleanly consistent again.
//!
//! After `kill -9` a data file may end in a torn block record, and index entries of the
//! last blocks may be missing (they are written after the block). A domain-hour is clean
//! when its `messages.clean` marker holds the data file's current length; the writer
//! deletes the marker before it appends, so any domain-hour written to when the process
//! died is rescanned:
//!
//! 1. Walk the block records from the header on. At a record that is torn (or whose length
//!    header is unreadable), look for the next sound record after it: a file cut while the
//!    writer had it open and written on past the cut has a stretch of zeros with sound
//!    blocks after it, which are kept. Without one, cut the file there: the only data lost
//!    is what was not fully written. A whole record with corrupt contents is stepped over.
//! 2. Zero index entries that point at no record the walk found (past the cut, or into a
//!    damaged stretch): new blocks will be written past the cut, and those trees are gone.
//!    Such entries mean the files were changed from outside (a crash leaves none): the
//!    repair then warns with their count.
//! 3. Add an index entry for every frame of every good block that has none (or one that
//!    points at no frame of its ID: a torn entry), keyed by the message ID in the frame's
//!    header (first tree under an ID wins).
//! 4. Write the marker (not when the writer is about to append: see [`Then`]).
//!
//! The marker also holds the number and total length of the index files at the clean close,
//! so an index file deleted or emptied while the store was stopped makes the domain-hour
//! unclean, and its entries are rebuilt from the data file, rather than its trees staying
//! unfindable.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::block::frames;
use crate::data_file::{self, Record, DATA_HEADER_BYTES};
use crate::error::StoreError;
use crate::frame_id::message_id_of;
use crate::index_entry::{entry_position, IndexEntry, ENTRY_BYTES};
use crate::layout::{parse_hour, validate_name, ClientKey, CLEAN_FILE, DATA_FILE};
use crate::shared::Shared;
use crate::stats::add;

/// Entries read at once when checking an index file (48 KiB).
const ENTRIES_PER_CHUNK: u64 = 8192;

/// Domain-hours named in the line that sums up failed repairs; the rest are counted.
const FAILURES_NAMED_MAX: usize = 10;

/// A start whose recovery takes longer than this says how far it is: the store (and the
/// server's ports) open only when it is done, and a silent minute looks like a hang.
const PROGRESS_AFTER: Duration = Duration::from_secs(3);

/// Between two progress lines of a long recovery.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);

/// Recovers every dirty domain-hour under the store folder. Failures are counted and
/// logged, all of them in one line at the end; the store still opens.
pub(crate) fn recover_all(shared: &Shared) -> Result<(), StoreError> {
    let failed = recover_each(shared)?;
    if let Some(line) = failure_summary(&failed) {
        tracing::warn!(target: "ocelot_store", "{line}");
    }
    Ok(())
}

/// One line naming the domain-hours whose repair failed, each with its error (the first
/// [`FAILURES_NAMED_MAX`], then how many more); `None` when none did. A warning per
/// failure, throttled as the writer's are, named only the first: a disk that failed
/// many repairs at start said so for one domain-hour.
fn failure_summary(failed: &[(u64, String, StoreError)]) -> Option<String> {
    if failed.is_empty() {
        return None;
    }
    let named: Vec<String> = failed
        .iter()
        .take(FAILURES_NAMED_MAX)
        .map(|(hour, domain, e)| format!("{hour}/{domain} ({e})"))
        .collect();
    let more = failed.len().saturating_sub(FAILURES_NAMED_MAX);
    let more = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    Some(format!(
        "store recovery failed for {} domain-hours, left unrepaired (lookups may miss their \
         trees until a later repair succeeds: the writer tries again before appending, and \
         the next start): {}{more}",
        failed.len(),
        named.join("; ")
    ))
}

/// Recovers every dirty domain-hour; returns those whose repair failed (hour, domain,
/// why), each counted as an I/O error.
fn recover_each(shared: &Shared) -> Result<Vec<(u64, String, StoreError)>, StoreError> {
    // Listed first, so that a long recovery can say how many are left.
    let mut dirty = Vec::new();
    let root = shared.layout.root();
    for hour_entry in read_dir(root)? {
        let Some(hour) = parse_hour(&hour_entry) else {
            continue;
        };
        let hour_dir = shared.layout.hour_dir(hour);
        if !hour_dir.is_dir() {
            continue;
        }
        for domain in read_dir(&hour_dir)? {
            if validate_name("domain", &domain).is_err() {
                continue;
            }
            let dir = hour_dir.join(&domain);
            if !dir.join(DATA_FILE).is_file() {
                continue;
            }
            let marker = marker_state(&dir);
            if marker != Marker::Clean {
                dirty.push((hour, domain, marker));
            }
        }
    }
    let mut progress = Progress::new(dirty.len(), Instant::now());
    let mut failed = Vec::new();
    for (hour, domain, marker) in dirty {
        let dir = shared.layout.domain_dir(hour, &domain);
        progress.at(&dir);
        match recover_domain_hour(shared, &dir, hour, &domain, Then::MarkClean, &mut progress) {
            Ok(repaired) => {
                add(&shared.counters.recovered_files, 1);
                add(&shared.counters.recovered_entries, repaired.rebuilt);
                repaired.log(&dir, marker, "recovered an unclean domain-hour");
            }
            Err(e) => {
                shared.counters.io_error("repairing", &e);
                failed.push((hour, domain, e));
            }
        }
        progress.done += 1;
    }
    Ok(failed)
}

/// How far a start's recovery is, said in the log once it has taken [`PROGRESS_AFTER`], and
/// again every [`PROGRESS_EVERY`]. Checked between records and index chunks: one big or
/// damaged domain-hour can take long on its own.
pub(crate) struct Progress {
    started: Instant,
    /// When the next line is due; `None`: never (a writer's repair of one domain-hour).
    next_line: Option<Instant>,
    /// Domain-hours to repair, and repaired (or failed) so far.
    total: usize,
    done: usize,
    /// The domain-hour being repaired.
    dir: String,
}

impl Progress {
    /// A start's recovery of `total` domain-hours, begun at `now`.
    fn new(total: usize, now: Instant) -> Progress {
        Progress {
            started: now,
            next_line: Some(now + PROGRESS_AFTER),
            total,
            done: 0,
            dir: String::new(),
        }
    }

    /// One that never logs.
    pub(crate) fn silent() -> Progress {
        Progress {
            next_line: None,
            ..Progress::new(1, Instant::now())
        }
    }

    /// Notes the domain-hour now being repaired.
    fn at(&mut self, dir: &Path) {
        if self.next_line.is_some() {
            self.dir = dir.display().to_string();
        }
        self.tick();
    }

    /// Logs the progress line if it is due.
    fn tick(&mut self) {
        if self.next_line.is_none() {
            return;
        }
        if let Some(line) = self.line_at(Instant::now()) {
            tracing::info!(target: "ocelot_store", done = self.done, total = self.total, "{line}");
        }
    }

    /// The progress line if one is due at `now` (then the next is due [`PROGRESS_EVERY`]
    /// later).
    fn line_at(&mut self, now: Instant) -> Option<String> {
        let due = self.next_line?;
        if now < due {
            return None;
        }
        self.next_line = Some(now + PROGRESS_EVERY);
        Some(format!(
            "store recovery is repairing {} domain-hours left unclean, for {} s so far: {} done, now {} (the store opens when it is done)",
            self.total,
            now.duration_since(self.started).as_secs(),
            self.done,
            self.dir
        ))
    }
}

/// The names in folder `dir`, sorted; none if there is no such folder (nothing there, or a
/// file: a stray file in an hour folder has no reports folder, and must not fail the
/// listing of the domains beside it).
pub(crate) fn read_dir(dir: &Path) -> Result<Vec<String>, StoreError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
            ) =>
        {
            return Ok(Vec::new())
        }
        Err(e) => return Err(StoreError::io(dir, e)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| StoreError::io(dir, e))?;
        if let Ok(name) = entry.file_name().into_string() {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// What a domain-hour's marker says about its files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Marker {
    /// Closed cleanly, and the files are as they were then.
    Clean,
    /// No marker: the writer had the domain-hour open (a crash), or could not mark it.
    Missing,
    /// A marker the files disagree with: they were changed after the clean close, from
    /// outside (a file cut, deleted or emptied).
    Disagrees,
}

/// Bytes of a marker written before it held the index files' summary: the data file's
/// length only. Still taken as clean when that agrees.
const MARKER_V1_BYTES: usize = 8;

/// What `dir`'s marker says (see [`Marker`]).
pub(crate) fn marker_state(dir: &Path) -> Marker {
    let Ok(marker) = fs::read(dir.join(CLEAN_FILE)) else {
        return Marker::Missing;
    };
    let Ok(len) = fs::metadata(dir.join(DATA_FILE)).map(|m| m.len()) else {
        return Marker::Disagrees;
    };
    let agrees = match marker.len() {
        MARKER_V1_BYTES => marker.as_slice() == len.to_be_bytes(),
        _ => marker_bytes(dir, len).is_ok_and(|now| now == marker),
    };
    if agrees {
        Marker::Clean
    } else {
        Marker::Disagrees
    }
}

/// The marker for `dir` with a data file of `data_len` bytes: that length, then the number
/// of index files and the sum of their lengths (all `u64`, big-endian).
pub(crate) fn marker_bytes(dir: &Path, data_len: u64) -> Result<Vec<u8>, StoreError> {
    let (mut files, mut bytes) = (0u64, 0u64);
    for name in read_dir(dir)? {
        if ClientKey::parse_file_name(&name).is_some() {
            let path = dir.join(&name);
            let meta = fs::metadata(&path).map_err(|e| StoreError::io(&path, e))?;
            files += 1;
            bytes += meta.len();
        }
    }
    let mut marker = Vec::with_capacity(24);
    for n in [data_len, files, bytes] {
        marker.extend_from_slice(&n.to_be_bytes());
    }
    Ok(marker)
}

/// Writes `dir`'s marker for a data file of `data_len` bytes, through the file layer.
pub(crate) fn write_marker(shared: &Shared, dir: &Path, data_len: u64) -> Result<(), StoreError> {
    let bytes = marker_bytes(dir, data_len)?;
    let marker = dir.join(CLEAN_FILE);
    let file = File::create(&marker).map_err(|e| StoreError::io(&marker, e))?;
    shared
        .config
        .file_layer
        .write_all_at(&file, &marker, 0, &bytes)
        .map_err(|e| StoreError::io(&marker, e))
}

/// What a repair did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Repaired {
    /// Index entries written from the data file (missing or torn ones).
    pub(crate) rebuilt: u64,
    /// Index entries zeroed because they pointed at no record left in the data file: the
    /// trees of those IDs are lost.
    pub(crate) lost: u64,
    /// Bytes cut off the end of the data file.
    pub(crate) cut_bytes: u64,
    /// Bytes of damaged stretches stepped over, with sound records after them.
    pub(crate) skipped_bytes: u64,
    /// Bytes of index files past the longest an index file can be (see
    /// [`index_file_max_bytes`]): not read, each file named in a warning.
    pub(crate) ignored_index_bytes: u64,
}

impl Repaired {
    /// Logs the repair of `dir` (`what` says when it ran): at warn level when trees were
    /// lost, damage was stepped over or the marker disagreed with the files (all damage
    /// from outside: a crash leaves none of it), else at info level.
    pub(crate) fn log(&self, dir: &Path, marker: Marker, what: &str) {
        let Repaired {
            rebuilt,
            lost,
            cut_bytes,
            skipped_bytes,
            // Said per file, as it was found.
            ignored_index_bytes: _,
        } = *self;
        if lost > 0 || skipped_bytes > 0 || marker == Marker::Disagrees {
            let why = if marker == Marker::Disagrees {
                "its files were changed after it was closed cleanly (a file cut, deleted or emptied?)"
            } else {
                "its files were damaged (cut or overwritten while Ocelot had them open?)"
            };
            tracing::warn!(target: "ocelot_store", dir = %dir.display(), rebuilt, lost, cut_bytes, skipped_bytes, "{what}: {why}; {lost} stored trees are lost (their index entries pointed at no block left in the data file), {rebuilt} index entries were rebuilt from the data file");
        } else {
            tracing::info!(target: "ocelot_store", dir = %dir.display(), rebuilt, cut_bytes, "{what}");
        }
    }
}

/// What a repaired domain-hour is left for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Then {
    /// Nothing yet: mark it clean, so the next start does not scan it again.
    MarkClean,
    /// The writer appends to it at once, which deletes the marker: none is written. On a
    /// full disk the marker, a new file, is often the one write that fails, and a repair
    /// that failed was tried again every second, a scan of the whole data file each time.
    Append,
}

/// Repairs one domain-hour folder; returns what it did. Its writer must not have it open.
/// `progress` is told as the work goes on.
pub(crate) fn recover_domain_hour(
    shared: &Shared,
    dir: &Path,
    hour: u64,
    domain: &str,
    then: Then,
    progress: &mut Progress,
) -> Result<Repaired, StoreError> {
    let layer = &shared.config.file_layer;
    let data_path = dir.join(DATA_FILE);
    let data = data_file::open_rw(&data_path)?;
    let len = data
        .metadata()
        .map_err(|e| StoreError::io(&data_path, e))?
        .len();
    if len < DATA_HEADER_BYTES {
        data_file::start_over(&data, &data_path, &**layer)?;
    } else {
        data_file::check_or_mend_header(&data, &data_path, len, &**layer)?;
    }

    // 1. Scan the good records and collect the entries they imply.
    let mut repaired = Repaired::default();
    let mut found: HashMap<ClientKey, Vec<(u64, IndexEntry)>> = HashMap::new();
    // Addresses of the whole records found, ascending: index entries may point only there.
    let mut records: Vec<u32> = Vec::new();
    let mut good_len = DATA_HEADER_BYTES;
    while good_len < len {
        progress.tick();
        let Ok(block_address) = u32::try_from(good_len) else {
            break;
        };
        let block = match data_file::read_record(&data, &data_path, good_len)? {
            Record::Block(block, record_len) => {
                records.push(block_address);
                good_len += record_len;
                block
            }
            // A whole record with bad contents (a flipped bit) is kept and stepped over: only
            // the lookups into it fail. Unless a sound record starts inside it: then it is a
            // torn record that later ones were written over (a file cut while open, written
            // on past the cut), and the walk goes on from there.
            Record::Corrupt(reason, Some(record_len)) => {
                let end = (good_len + record_len).min(len);
                if let Some(next) =
                    data_file::next_record(&data, &data_path, good_len + 1, end, len)?
                {
                    step_over(&data_path, good_len, next, &mut repaired);
                    good_len = next;
                    continue;
                }
                tracing::warn!(target: "ocelot_store", file = %data_path.display(), address = good_len, "{reason}");
                records.push(block_address);
                good_len += record_len;
                continue;
            }
            // A torn or unreadable header ends the good part, unless a sound record follows.
            Record::Truncated | Record::Corrupt(_, None) => {
                match data_file::next_record(&data, &data_path, good_len + 1, len, len)? {
                    Some(next) => {
                        step_over(&data_path, good_len, next, &mut repaired);
                        good_len = next;
                        continue;
                    }
                    None => break,
                }
            }
        };
        for frame in frames(&block) {
            let Ok((offset, range)) = frame else { break };
            let (Some(id), Ok(offset_in_block)) =
                (message_id_of(&block[range]), u16::try_from(offset))
            else {
                continue;
            };
            if id.hour != hour || id.domain != domain || id.seq > shared.config.max_seq {
                continue;
            }
            let entry = IndexEntry {
                block_address,
                offset_in_block,
            };
            found
                .entry(ClientKey::of(&id))
                .or_default()
                .push((id.seq, entry));
        }
    }
    let good_len = good_len.min(len.max(DATA_HEADER_BYTES));
    if good_len < len {
        layer
            .set_len(&data, &data_path, good_len)
            .map_err(|e| StoreError::io(&data_path, e))?;
        repaired.cut_bytes = len - good_len;
        tracing::info!(target: "ocelot_store", file = %data_path.display(), at = good_len, cut_bytes = len - good_len, "cut a torn data file tail");
    }

    // 2 and 3. Fix every index file, existing or needed.
    for name in read_dir(dir)? {
        if let Some(client) = ClientKey::parse_file_name(&name) {
            let entries = found.remove(&client).unwrap_or_default();
            let path = dir.join(name);
            fix_index(shared, &path, &records, &entries, &mut repaired, progress)?;
        }
    }
    for (client, entries) in found {
        fix_index(
            shared,
            &dir.join(client.file_name()),
            &records,
            &entries,
            &mut repaired,
            progress,
        )?;
    }

    // 4. Mark clean (through the file layer, as every other write here, so that a failing
    // disk in the tests reaches it too).
    if then == Then::MarkClean {
        write_marker(shared, dir, good_len)?;
    }
    Ok(repaired)
}

/// Notes and logs a damaged stretch from `from` to `next`, where a sound record starts.
fn step_over(data_path: &Path, from: u64, next: u64, repaired: &mut Repaired) {
    repaired.skipped_bytes += next - from;
    tracing::warn!(target: "ocelot_store", file = %data_path.display(), address = from, bytes = next - from, "stepped over a damaged stretch of a data file (zeros: the file was cut while Ocelot wrote it?); the sound blocks after it are kept");
}

/// The longest an index file can be: the end of the entry of the largest sequence number
/// stored (`max_seq`, at most [`crate::MAX_SEQ_LIMIT`], so this cannot overflow). A longer
/// one was made so from outside (`truncate -s 1T`); recovery reads no further.
pub(crate) fn index_file_max_bytes(max_seq: u64) -> u64 {
    max_seq.saturating_add(1).saturating_mul(ENTRY_BYTES)
}

/// Fixes one index file: zeroes entries that point at no record in `records`, and writes
/// the entries of `entries` (the frames found for this client) it lacks. Reads at most
/// [`index_file_max_bytes`] of it: a damaged file of a terabyte of holes was read to its
/// end (nine minutes) before the store opened.
fn fix_index(
    shared: &Shared,
    path: &Path,
    records: &[u32],
    entries: &[(u64, IndexEntry)],
    repaired: &mut Repaired,
    progress: &mut Progress,
) -> Result<(), StoreError> {
    let layer = &shared.config.file_layer;
    let file = data_file::open_rw(path)?;
    let mut len = file.metadata().map_err(|e| StoreError::io(path, e))?.len();
    // Entries past the largest sequence number are never looked up nor written: a file
    // longer than that is damaged. Its tail is left as it is (a `max_seq` raised again
    // finds those entries) but not read. The bound is whole entries, so no half entry is left
    // to drop below.
    let max_len = index_file_max_bytes(shared.config.max_seq);
    if len > max_len {
        let ignored = len - max_len;
        repaired.ignored_index_bytes += ignored;
        tracing::warn!(target: "ocelot_store", file = %path.display(), len, ignored, "{} is {len} bytes long, longer than an index file can be ({max_len} bytes: entries up to max_seq {}); it was damaged or made longer from outside (truncate?): the {ignored} bytes past that are ignored, not read", path.display(), shared.config.max_seq);
        len = max_len;
    }
    // A file cut inside an entry keeps that entry's first bytes. Drop them: once a later
    // entry extends the file again, the zero-filled remainder would make them look like a
    // whole entry pointing at the wrong frame (found by the model test).
    let whole = len / ENTRY_BYTES * ENTRY_BYTES;
    if whole < len {
        layer
            .set_len(&file, path, whole)
            .map_err(|e| StoreError::io(path, e))?;
        len = whole;
    }
    let mut by_seq = entries.to_vec();
    by_seq.sort_by_key(|&(seq, _)| seq); // stable: the first found stays first

    // Zero entries pointing at no record: past the cut, or into a damaged stretch. Those
    // whose sequence number has a frame found get it below; the others are lost.
    let chunk_bytes = ENTRIES_PER_CHUNK * ENTRY_BYTES;
    let mut chunk = vec![0; chunk_bytes as usize];
    let mut start = 0;
    while start + ENTRY_BYTES <= len {
        progress.tick();
        let n = chunk_bytes.min(len - start) / ENTRY_BYTES * ENTRY_BYTES;
        let buf = &mut chunk[..n as usize];
        file.read_exact_at(buf, start)
            .map_err(|e| StoreError::io(path, e))?;
        for (i, bytes) in buf.chunks_exact(ENTRY_BYTES as usize).enumerate() {
            let entry = IndexEntry::unpack(bytes.try_into().expect("six bytes"));
            if entry.is_some_and(|e| records.binary_search(&e.block_address).is_err()) {
                let at = start + i as u64 * ENTRY_BYTES;
                layer
                    .write_all_at(&file, path, at, &[0; 6])
                    .map_err(|e| StoreError::io(path, e))?;
                let seq = at / ENTRY_BYTES;
                if by_seq.binary_search_by_key(&seq, |&(s, _)| s).is_err() {
                    repaired.lost += 1;
                }
            }
        }
        start += n;
    }
    // An entry is kept if it points at a frame found under its sequence number; else it
    // gets the first one found. An entry that points elsewhere is not a tree's: an index
    // write cut short leaves an entry's first bytes, which a later entry's write completes
    // with zeros into an address inside the data file.
    for found in by_seq.chunk_by(|a, b| a.0 == b.0) {
        let (seq, first) = found[0];
        let Some(at) = entry_position(seq) else {
            continue;
        };
        let kept = current(&file, at).is_some_and(|e| found.iter().any(|&(_, f)| f == e));
        if !kept {
            layer
                .write_all_at(&file, path, at, &first.pack())
                .map_err(|e| StoreError::io(path, e))?;
            repaired.rebuilt += 1;
        }
    }
    Ok(())
}

fn current(file: &File, at: u64) -> Option<IndexEntry> {
    let mut bytes = [0; 6];
    file.read_exact_at(&mut bytes, at).ok()?;
    IndexEntry::unpack(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::StoreConfig;

    /// Makes `hour/domain` a dirty domain-hour whose repair fails: an index file's name
    /// taken by a folder, which cannot be opened as a file.
    fn unrepairable(root: &Path, hour: u64, domain: &str) {
        let dir = root.join(hour.to_string()).join(domain);
        fs::create_dir_all(dir.join("0a000001.idx")).unwrap();
        fs::write(dir.join(DATA_FILE), b"").unwrap();
    }

    /// A start on a damaged disk is told every domain-hour left unrepaired, not only the
    /// first (the warning was throttled, and the others were silent).
    #[test]
    fn every_domain_hour_whose_repair_fails_at_start_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let failing = [(498_702, "cart"), (498_703, "cart"), (498_703, "shop")];
        for (hour, domain) in failing {
            unrepairable(dir.path(), hour, domain);
        }
        let shared = Shared::new(StoreConfig::new(dir.path()));
        let failed = recover_each(&shared).unwrap();
        let line = failure_summary(&failed).unwrap();
        assert!(
            line.starts_with("store recovery failed for 3 domain-hours"),
            "{line}"
        );
        for (hour, domain) in failing {
            assert!(
                line.contains(&format!("{hour}/{domain} (I/O error on ")),
                "{line}"
            );
        }
        assert!(!line.contains(" more"), "{line}");
        assert_eq!(
            shared
                .counters
                .io_errors
                .load(std::sync::atomic::Ordering::Relaxed),
            3
        );
    }

    /// A start that repairs for long says so (it said nothing for nine minutes once), first
    /// after a few seconds, then every few more; a writer's repair of one domain-hour never.
    #[test]
    fn a_long_recovery_says_how_far_it_is_every_few_seconds() {
        let started = Instant::now();
        let mut progress = Progress::new(5, started);
        progress.done = 2;
        progress.dir = "/data/498703/shop".to_owned();
        assert_eq!(progress.line_at(started + Duration::from_secs(1)), None);
        let line = progress
            .line_at(started + PROGRESS_AFTER)
            .expect("due after a few seconds");
        assert!(
            line.contains("repairing 5 domain-hours left unclean, for 3 s so far: 2 done, now /data/498703/shop"),
            "{line}"
        );
        let next = started + PROGRESS_AFTER + PROGRESS_EVERY;
        assert_eq!(progress.line_at(next - Duration::from_secs(1)), None);
        assert!(progress.line_at(next).is_some());
        let mut silent = Progress::silent();
        assert_eq!(silent.line_at(started + Duration::from_secs(3600)), None);
    }

    #[test]
    fn the_failed_repairs_line_names_ten_and_counts_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..13 {
            unrepairable(dir.path(), 498_703, &format!("app-{i:02}"));
        }
        let shared = Shared::new(StoreConfig::new(dir.path()));
        let line = failure_summary(&recover_each(&shared).unwrap()).unwrap();
        assert!(line.contains("failed for 13 domain-hours"), "{line}");
        assert!(line.contains("498703/app-09 ("), "{line}");
        assert!(!line.contains("498703/app-10"), "{line}");
        assert!(line.ends_with(" and 3 more"), "{line}");
        assert_eq!(failure_summary(&[]), None);
    }
}
