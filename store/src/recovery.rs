//! Recovery at open: make every domain-hour that was not closed cleanly consistent again.
//!
//! After `kill -9` a data file may end in a torn block record, and index entries of the
//! last blocks may be missing (they are written after the block). A domain-hour is clean
//! when its `messages.clean` marker holds the data file's current length; the writer
//! deletes the marker before it appends, so any domain-hour written to when the process
//! died is rescanned:
//!
//! 1. Walk the block records from the header on; stop at the first record that is torn
//!    (or whose length header is unreadable) and cut the file there: the only data lost is
//!    what was not fully written. A whole record with corrupt contents is stepped over.
//! 2. Zero index entries that point at or past that cut: new blocks will be written there.
//! 3. Add an index entry for every frame of every good block that has none (or one that
//!    points at no frame of its ID: a torn entry), keyed by the message ID in the frame's
//!    header (first tree under an ID wins).
//! 4. Write the marker (not when the writer is about to append: see [`Then`]).

use std::collections::HashMap;
use std::fs::{self, File};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

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
    let mut failed = Vec::new();
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
            if !dir.join(DATA_FILE).is_file() || is_clean(&dir) {
                continue;
            }
            match recover_domain_hour(shared, &dir, hour, &domain, Then::MarkClean) {
                Ok(rebuilt) => {
                    add(&shared.counters.recovered_files, 1);
                    add(&shared.counters.recovered_entries, rebuilt);
                    tracing::info!(target: "ocelot_store", dir = %dir.display(), rebuilt, "recovered an unclean domain-hour");
                }
                Err(e) => {
                    add(&shared.counters.io_errors, 1);
                    failed.push((hour, domain, e));
                }
            }
        }
    }
    Ok(failed)
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

/// Whether `dir`'s marker says its data file was closed cleanly at its current length.
pub(crate) fn is_clean(dir: &Path) -> bool {
    let Ok(marker) = fs::read(dir.join(CLEAN_FILE)) else {
        return false;
    };
    let Ok(len) = fs::metadata(dir.join(DATA_FILE)).map(|m| m.len()) else {
        return false;
    };
    marker.as_slice() == len.to_be_bytes()
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

/// Repairs one domain-hour folder; returns how many index entries it wrote. Its writer must
/// not have it open.
pub(crate) fn recover_domain_hour(
    shared: &Shared,
    dir: &Path,
    hour: u64,
    domain: &str,
    then: Then,
) -> Result<u64, StoreError> {
    let layer = &shared.config.file_layer;
    let data_path = dir.join(DATA_FILE);
    let data = data_file::open_rw(&data_path)?;
    let len = data
        .metadata()
        .map_err(|e| StoreError::io(&data_path, e))?
        .len();
    if len < DATA_HEADER_BYTES {
        layer
            .set_len(&data, &data_path, 0)
            .map_err(|e| StoreError::io(&data_path, e))?;
        layer
            .write_all_at(&data, &data_path, 0, &data_file::header_bytes())
            .map_err(|e| StoreError::io(&data_path, e))?;
    } else {
        data_file::check_or_mend_header(&data, &data_path, len, &**layer)?;
    }

    // 1. Scan the good records and collect the entries they imply.
    let mut found: HashMap<ClientKey, Vec<(u64, IndexEntry)>> = HashMap::new();
    let mut good_len = DATA_HEADER_BYTES;
    while good_len < len {
        let Ok(block_address) = u32::try_from(good_len) else {
            break;
        };
        let block = match data_file::read_record(&data, &data_path, good_len)? {
            Record::Block(block, record_len) => {
                good_len += record_len;
                block
            }
            // A whole record with bad contents (a flipped bit) is kept and stepped over: only
            // the lookups into it fail. A torn or unreadable header ends the good part.
            Record::Corrupt(reason, Some(record_len)) => {
                tracing::warn!(target: "ocelot_store", file = %data_path.display(), address = good_len, "{reason}");
                good_len += record_len;
                continue;
            }
            Record::Truncated | Record::Corrupt(_, None) => break,
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
        tracing::info!(target: "ocelot_store", file = %data_path.display(), cut = len - good_len, "cut a torn data file tail");
    }

    // 2 and 3. Fix every index file, existing or needed.
    let mut rebuilt = 0;
    for name in read_dir(dir)? {
        if let Some(client) = ClientKey::parse_file_name(&name) {
            let entries = found.remove(&client).unwrap_or_default();
            rebuilt += fix_index(shared, &dir.join(name), good_len, &entries)?;
        }
    }
    for (client, entries) in found {
        rebuilt += fix_index(shared, &dir.join(client.file_name()), good_len, &entries)?;
    }

    // 4. Mark clean (through the file layer, as every other write here, so that a failing
    // disk in the tests reaches it too).
    if then == Then::MarkClean {
        let marker = dir.join(CLEAN_FILE);
        let file = File::create(&marker).map_err(|e| StoreError::io(&marker, e))?;
        layer
            .write_all_at(&file, &marker, 0, &good_len.to_be_bytes())
            .map_err(|e| StoreError::io(&marker, e))?;
    }
    Ok(rebuilt)
}

fn fix_index(
    shared: &Shared,
    path: &Path,
    good_len: u64,
    entries: &[(u64, IndexEntry)],
) -> Result<u64, StoreError> {
    let layer = &shared.config.file_layer;
    let file = data_file::open_rw(path)?;
    let mut len = file.metadata().map_err(|e| StoreError::io(path, e))?.len();
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
    // Zero entries pointing at or past the cut.
    let chunk_bytes = ENTRIES_PER_CHUNK * ENTRY_BYTES;
    let mut chunk = vec![0; chunk_bytes as usize];
    let mut start = 0;
    while start + ENTRY_BYTES <= len {
        let n = chunk_bytes.min(len - start) / ENTRY_BYTES * ENTRY_BYTES;
        let buf = &mut chunk[..n as usize];
        file.read_exact_at(buf, start)
            .map_err(|e| StoreError::io(path, e))?;
        for (i, bytes) in buf.chunks_exact(ENTRY_BYTES as usize).enumerate() {
            let entry = IndexEntry::unpack(bytes.try_into().expect("six bytes"));
            if entry.is_some_and(|e| u64::from(e.block_address) >= good_len) {
                let at = start + i as u64 * ENTRY_BYTES;
                layer
                    .write_all_at(&file, path, at, &[0; 6])
                    .map_err(|e| StoreError::io(path, e))?;
            }
        }
        start += n;
    }
    // An entry is kept if it points at a frame found under its sequence number; else it
    // gets the first one found. An entry that points elsewhere is not a tree's: an index
    // write cut short leaves an entry's first bytes, which a later entry's write completes
    // with zeros into an address inside the data file.
    let mut by_seq = entries.to_vec();
    by_seq.sort_by_key(|&(seq, _)| seq); // stable: the first found stays first
    let mut rebuilt = 0;
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
            rebuilt += 1;
        }
    }
    Ok(rebuilt)
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
