//! Message ID sequence numbers: lock-free on the hot path, never repeated after a restart
//! within the same hour.
//!
//! # Scheme
//!
//! One factory per domain per process (a registry shares it between every [`crate::Client`]
//! of that domain and every `RemoteCall` ID made for it). The hour and the next sequence
//! number are packed into one `AtomicU64` (`hour << 40 | seq`), so drawing an ID is one CAS
//! loop; a new hour restarts the sequence at 0, as CAT does.
//!
//! Restarts: like CAT's mark file, each domain has `<mark_dir>/<domain>.mark` holding
//! `hour reserved margin`, where `reserved` is a sequence number not yet handed out and
//! `margin` how far ahead of the counter it was written. A starting process begins at
//! `reserved` if the file's hour is the current hour, and at once writes a new reservation.
//! A file of the hour before reserves nothing in the current one, yet the process before may
//! have drawn IDs of this hour and died before its next persist: a start there begins at
//! `margin` (as a mark written before `margin` was, at [`MIN_RESERVE`]), past what the
//! process before could have drawn in that time, or at the fresh start if that is further.
//! A file of an older hour is a fresh start. Background threads (a mark keeper of the
//! process's, and the sender, every tick) call [`MessageIdFactory::persist`], which moves the
//! reservation ahead of the counter by `max(MIN_RESERVE, 2 x IDs drawn since the last
//! persist)`. An ID repeats after a crash only
//! if a process drew more IDs between two persists than that margin, i.e. more than double its
//! previous tick's rate, and at least [`MIN_RESERVE`]. Sequence numbers stay small (CAT's
//! store indexes by sequence number), growing by about the reserve per restart.
//!
//! Fresh starts: a process that no mark tells where to start (none, or one of an older hour:
//! a container's `$TMPDIR` is new at each start, and its process is pid 1 every time) starts
//! at the milliseconds into the hour ([`fresh_start`]), not at 0. A process before it on the
//! same IP, dead or alive, started earlier in the hour at a smaller number (or at 0 when the
//! hour turned), so the two never share an ID unless that one drew more than
//! [`FRESH_START_IDS_PER_MS`] a millisecond on average since. Only the clock is read for it,
//! nothing is written. The start is at most 3.6 M, far below the 50 M past which CAT's store
//! and ours drop IDs, and keeps the store's index files (6 bytes a sequence number, sparse)
//! within about 22 MB. A process running when the hour turns starts the new hour at 0: it
//! began that hour before any other.
//!
//! Several processes of one domain on one host (workers, a blue/green pair) would count
//! through the same sequence numbers: the first process holds `<domain>.lock` (an `flock`,
//! released when the process ends, however it ends) and owns the mark file; a process that
//! finds the lock taken makes CAT's multi-instance IDs instead, its pid after the IP
//! (`domain-hexip.pid-hour-seq`, as CAT's C client does), from a fresh start without a mark.
//! So does a process without a writable mark directory, which could tell neither a restart
//! nor a sibling apart.
//!
//! Application threads never touch the disk: the first `RemoteCall` ID for a domain (and the
//! first tree of a process forked after its client was built) takes a factory made without
//! it, with the pid in its IDs ([`factory_without_disk`]), and the mark keeper thread opens
//! the domain's lock and mark afterwards; if this process gets them, later IDs count from
//! the mark without the pid. Only building a client opens its own domain's mark on the
//! calling thread (with the registry unlocked). Each process has its own registry (see
//! `process.rs`): a child never waits for a lock a thread of its parent held.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use ocelot_protocol::{hour_of, MILLIS_PER_HOUR};

use crate::process::{current_pid, lock_in, PerProcess};
use crate::sync::AtomicU64;

/// The least distance between the counter and the persisted reservation. CAT's C client jumps
/// 10000 per restart; so do we at low rates.
pub(crate) const MIN_RESERVE: u64 = 10_000;

/// Sequence numbers a fresh start moves on per millisecond into the hour: a process that no
/// mark tells where to start never repeats an ID of one before it on its IP that drew up to
/// 1000 a second (on average, since it started or the hour turned). Larger would cover
/// busier processes but make longer index files in the store, and, past 13 a millisecond,
/// pass the 50 M cap on sequence numbers late in the hour. `ocelot loadgen` numbers its
/// runs the same way.
pub(crate) const FRESH_START_IDS_PER_MS: u64 = 1;

/// Where the sequence starts at `now_ms` when no mark says: see the module docs.
fn fresh_start(now_ms: u64) -> u64 {
    (now_ms % MILLIS_PER_HOUR) * FRESH_START_IDS_PER_MS
}

const SEQ_BITS: u32 = 40;
const SEQ_MASK: u64 = (1 << SEQ_BITS) - 1;

fn pack(hour: u64, seq: u64) -> u64 {
    (hour << SEQ_BITS) | (seq & SEQ_MASK)
}

fn unpack(v: u64) -> (u64, u64) {
    (v >> SEQ_BITS, v & SEQ_MASK)
}

/// Sequence numbers for one domain.
#[derive(Debug)]
pub(crate) struct MessageIdFactory {
    /// `hour << 40 | next seq`.
    next: AtomicU64,
    /// The mark file, if any; the mutex serialises writers (background threads only).
    mark: Option<Mutex<MarkFile>>,
    /// This process's pid when its IDs must carry it (see the module docs).
    pid: Option<u32>,
    /// The domain's lock, held for the process's life when this process owns the mark.
    _lock: Option<std::fs::File>,
}

#[derive(Debug)]
struct MarkFile {
    path: PathBuf,
    /// The packed value persisted last.
    reserved: u64,
    /// The packed counter seen at the last persist.
    last_seen: u64,
}

impl MessageIdFactory {
    /// A factory starting at the mark file's reservation for the hour of `now_ms` (or a
    /// fresh start), or, when another live process owns the domain's mark (or there is no
    /// writable mark directory), one making IDs with this process's pid, from a fresh start.
    pub(crate) fn open(mark_dir: Option<&Path>, domain: &str, now_ms: u64) -> Self {
        let lock = mark_dir.and_then(|dir| lock_domain(dir, domain));
        match (mark_dir, lock) {
            (Some(dir), Some(lock)) => Self::open_locked(dir, domain, lock, now_ms),
            _ => Self::with_pid(current_pid(), now_ms),
        }
    }

    /// A factory making IDs with `pid` after the IP, from a fresh start at `now_ms`, without
    /// a mark: what a process makes that does not own the domain's mark, and what is made
    /// without touching the disk until the mark has been opened (see
    /// [`factory_without_disk`]). The fresh start, not 0: a pid says nothing across restarts
    /// (in a container it is 1 every time).
    pub(crate) fn with_pid(pid: u32, now_ms: u64) -> Self {
        MessageIdFactory {
            next: AtomicU64::new(pack(hour_of(now_ms), fresh_start(now_ms))),
            mark: None,
            pid: Some(pid),
            _lock: None,
        }
    }

    /// The factory of the process holding the domain's `lock`: it starts at the mark's
    /// reservation for the hour of `now_ms` (or a fresh start) and at once writes a new one.
    fn open_locked(dir: &Path, domain: &str, lock: std::fs::File, now_ms: u64) -> Self {
        let path = dir.join(format!("{}.mark", sanitize(domain)));
        let now_hour = hour_of(now_ms);
        let fresh = fresh_start(now_ms);
        let start = match read_mark(&path) {
            Some((hour, reserved, _)) if hour == now_hour => reserved,
            // The mark of the hour before: the process before may have drawn IDs of this
            // hour after the turn and died before its next persist. (One that wrote no
            // mark in all of the hour before was gone before this hour began.)
            Some((hour, _, margin)) if hour + 1 == now_hour => margin.max(fresh),
            // No mark, or an old one: it may have been lost with the container the
            // process before ran in.
            _ => fresh,
        };
        let next = pack(now_hour, start);
        let mut mark = MarkFile {
            path,
            reserved: 0,
            last_seen: next,
        };
        let reservation = pack(now_hour, start + MIN_RESERVE);
        if write_mark(&mark.path, reservation, MIN_RESERVE) {
            mark.reserved = reservation;
        }
        MessageIdFactory {
            next: AtomicU64::new(next),
            mark: Some(Mutex::new(mark)),
            pid: None,
            _lock: Some(lock),
        }
    }

    /// The pid this factory's IDs carry after the IP, if any (see the module docs).
    pub(crate) fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// The next `(hour, seq)` for an ID made at `now_hour`. If the clock went back, the ID keeps
    /// the later hour so that no `(hour, seq)` pair is handed out twice.
    pub(crate) fn next(&self, now_hour: u64) -> (u64, u64) {
        let mut current = self.next.load(Ordering::Relaxed);
        loop {
            let (hour, seq) = unpack(current);
            let (taken, new) = if now_hour > hour {
                ((now_hour, 0), pack(now_hour, 1))
            } else {
                ((hour, seq), current + 1)
            };
            match self.next.compare_exchange_weak(
                current,
                new,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return taken,
                Err(actual) => current = actual,
            }
        }
    }

    /// Moves the persisted reservation ahead of the counter (see the module docs). Called by
    /// background threads; does file I/O only when the reservation must move.
    pub(crate) fn persist(&self) {
        let Some(mark) = &self.mark else { return };
        let Ok(mut mark) = mark.try_lock() else {
            return;
        };
        let current = self.next.load(Ordering::Relaxed);
        let (hour, seq) = unpack(current);
        let drawn = current.saturating_sub(mark.last_seen);
        let drawn = if unpack(mark.last_seen).0 == hour {
            drawn
        } else {
            seq
        };
        mark.last_seen = current;
        let margin = MIN_RESERVE.max(drawn.saturating_mul(2));
        let (reserved_hour, reserved_seq) = unpack(mark.reserved);
        if reserved_hour == hour && reserved_seq >= seq + margin / 2 {
            return;
        }
        let reservation = pack(hour, seq + margin);
        if write_mark(&mark.path, reservation, margin) {
            mark.reserved = reservation;
        }
    }
}

fn sanitize(domain: &str) -> String {
    domain
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Takes `<dir>/<domain>.lock` for this process (created if need be), or `None` when another
/// process holds it or the directory cannot be written. The lock is a separate file because
/// the mark is replaced by a rename at each write, which would leave a lock on the old file.
fn lock_domain(dir: &Path, domain: &str) -> Option<std::fs::File> {
    std::fs::create_dir_all(dir).ok()?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(format!("{}.lock", sanitize(domain))))
        .ok()?;
    rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive).ok()?;
    Some(file)
}

/// `(hour, reserved, margin)`; a mark without a margin (an older SDK's) says [`MIN_RESERVE`].
fn read_mark(path: &Path) -> Option<(u64, u64, u64)> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut parts = text.split_whitespace();
    let hour = parts.next()?.parse().ok()?;
    // A number no counter reaches is a damaged file, read as no mark (`start + MIN_RESERVE`
    // would overflow on it, in the application's `Client::build`).
    let seq = parts.next()?.parse().ok().filter(|&s| s <= SEQ_MASK)?;
    let margin = (parts.next().and_then(|m| m.parse().ok()))
        .filter(|&m| m <= SEQ_MASK)
        .unwrap_or(MIN_RESERVE);
    Some((hour, seq, margin))
}

/// Writes `hour seq margin` through a temporary file and a rename, so a crash never leaves
/// half a mark behind.
fn write_mark(path: &Path, packed: u64, margin: u64) -> bool {
    let (hour, seq) = unpack(packed);
    let tmp = path.with_extension("mark.tmp");
    std::fs::write(&tmp, format!("{hour} {seq} {margin}\n")).is_ok()
        && std::fs::rename(&tmp, path).is_ok()
}

/// One factory per domain for the whole process: two clients of one domain (or a caller
/// making `RemoteCall` IDs for a callee in the same process) must not hand out the same ID.
/// Per process ([`PerProcess`]): a child forked after a client was built makes its own, and
/// never takes the lock of the parent's copy, which a thread of the parent may have held when
/// it forked. The parent's factories (their counters, and a share of the parent's mark lock)
/// would repeat the parent's IDs; the child's are made anew, and as the parent holds the
/// domain's lock, they make multi-instance IDs with the child's pid.
static REGISTRY: PerProcess<Mutex<Registry>> = PerProcess::new();

#[derive(Default)]
struct Registry {
    factories: HashMap<String, Arc<MessageIdFactory>>,
    /// Domains whose factory was made without touching the disk, with their mark directory:
    /// the mark keeper opens their marks.
    to_open: Vec<(String, PathBuf)>,
}

/// Process `pid`'s registry.
fn registry(pid: u32) -> &'static Mutex<Registry> {
    REGISTRY.get_or_make(pid, |_| Mutex::default())
}

/// The process-wide factory for `domain`, opened now if there is none: the mark is read and
/// written on this thread, but with the registry unlocked. For building a client.
pub(crate) fn factory_for(domain: &str, mark_dir: &Path) -> Arc<MessageIdFactory> {
    let pid = current_pid();
    let registry = registry(pid);
    if let Some(factory) = lock_in(registry, pid).and_then(|r| r.factories.get(domain).cloned()) {
        return factory;
    }
    let opened = Arc::new(MessageIdFactory::open(
        Some(mark_dir),
        domain,
        crate::clock::now_ms(),
    ));
    // Another thread may have made one meanwhile: one factory per domain, so theirs wins
    // (and ours, dropped, lets go of the domain's lock).
    let factory = match lock_in(registry, pid) {
        Some(mut registry) => registry
            .factories
            .entry(domain.to_owned())
            .or_insert(opened)
            .clone(),
        None => opened,
    };
    if factory.mark.is_some() {
        keep_marks_ahead(pid);
    }
    factory
}

/// Process `pid`'s factory for `domain`, made without touching the disk if there is none
/// (`None` only if `pid` is not this process). Application threads call this: the first
/// `RemoteCall` to a domain, the first tree of a forked child. A factory made here makes
/// IDs with the pid after the IP (which never collide with those of another live process)
/// until the mark keeper has opened the domain's mark: if this process then owns the mark,
/// the registry's factory is replaced by one counting from the mark's reservation, whose IDs
/// carry no pid; if another process owns it, this one stays.
pub(crate) fn factory_without_disk(
    domain: &str,
    mark_dir: &Path,
    pid: u32,
) -> Option<Arc<MessageIdFactory>> {
    let registry = registry(pid);
    let mut locked = lock_in(registry, pid)?;
    if let Some(factory) = locked.factories.get(domain) {
        return Some(factory.clone());
    }
    let factory = Arc::new(MessageIdFactory::with_pid(pid, crate::clock::now_ms()));
    locked.factories.insert(domain.to_owned(), factory.clone());
    locked
        .to_open
        .push((domain.to_owned(), mark_dir.to_owned()));
    drop(locked);
    keep_marks_ahead(pid);
    Some(factory)
}

/// Opens the marks of the domains [`factory_without_disk`] made factories for, with the
/// registry unlocked; background threads only.
#[cfg_attr(loom, allow(dead_code))] // The loom model runs no mark keeper thread.
fn open_marks(pid: u32) {
    let registry = registry(pid);
    let to_open = match lock_in(registry, pid) {
        Some(mut registry) if !registry.to_open.is_empty() => std::mem::take(&mut registry.to_open),
        _ => return,
    };
    for (domain, dir) in to_open {
        // Owned by another process (or no writable directory): the pid IDs go on.
        let Some(lock) = lock_domain(&dir, &domain) else {
            continue;
        };
        let opened = MessageIdFactory::open_locked(&dir, &domain, lock, crate::clock::now_ms());
        if let Some(mut registry) = lock_in(registry, pid) {
            registry.factories.insert(domain, Arc::new(opened));
        }
    }
}

/// How often the mark keeper moves the reservations ahead of the counters.
#[cfg(not(loom))]
const KEEP_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

/// The pid whose mark keeper runs (0: none yet). A child forked from a process has none of
/// its threads, so it starts its own.
#[cfg(not(loom))]
static KEEPER_OF: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// Starts process `pid`'s mark keeper if it has none: a thread that opens the marks of
/// factories made without the disk and calls [`persist_all`] every [`KEEP_EVERY`] for as
/// long as the process lives. The sender thread persists too, but it can be held for
/// seconds (name lookups, connects to collectors that do not answer, a write timeout), and a
/// process that drew IDs past its reservation meanwhile and then crashed would repeat them
/// after its restart.
fn keep_marks_ahead(pid: u32) {
    #[cfg(not(loom))]
    {
        let previous = KEEPER_OF.swap(pid, std::sync::atomic::Ordering::AcqRel);
        if previous == pid {
            return;
        }
        let started = std::thread::Builder::new()
            .name("ocelot-mark".to_owned())
            .spawn(move || {
                open_marks(pid);
                loop {
                    std::thread::sleep(KEEP_EVERY);
                    open_marks(pid);
                    persist_all_of(pid);
                }
            });
        if started.is_err() {
            // The sender's own persisting still runs; try again with the next factory.
            KEEPER_OF.store(0, std::sync::atomic::Ordering::Release);
        }
    }
    #[cfg(loom)]
    let _ = pid;
}

/// Persists every factory's reservation; background threads call it once per tick. It
/// writes a file only when a reservation must move, and allocates nothing once its thread's
/// list of factories has grown (a fresh list every tick was the one allocation an idle sender
/// made).
///
/// The files are written with the registry unlocked: application threads take that lock to
/// make a `RemoteCall` ID ([`crate::Client::message_id_for`]), and a mark directory on a slow
/// or hung file system would hold them for as long as a write takes.
pub(crate) fn persist_all() {
    persist_all_of(current_pid());
}

fn persist_all_of(pid: u32) {
    thread_local! {
        static FACTORIES: RefCell<Vec<Arc<MessageIdFactory>>> = const { RefCell::new(Vec::new()) };
    }
    let _ = FACTORIES.try_with(|factories| {
        let Ok(mut factories) = factories.try_borrow_mut() else {
            return;
        };
        if let Some(registry) = lock_in(registry(pid), pid) {
            factories.extend(registry.factories.values().cloned());
        }
        for factory in factories.iter() {
            factory.persist();
        }
        factories.clear();
    });
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;

    fn at_hour(hour: u64) -> u64 {
        hour * MILLIS_PER_HOUR
    }

    #[test]
    fn loom_concurrent_draws_across_an_hour_change_never_repeat() {
        loom::model(|| {
            let f = loom::sync::Arc::new(MessageIdFactory::open(None, "d", at_hour(1)));
            let other = f.clone();
            let t = loom::thread::spawn(move || [other.next(1), other.next(2)]);
            let mine = [f.next(2), f.next(1)];
            let theirs = t.join().unwrap();
            let mut all: Vec<(u64, u64)> = mine.iter().chain(theirs.iter()).copied().collect();
            all.sort_unstable();
            all.dedup();
            assert_eq!(all.len(), 4, "an ID was handed out twice");
        });
    }
}

#[cfg(all(test, not(loom)))]
pub(crate) mod tests {
    use super::*;

    /// The first millisecond of `hour`: a fresh start there is 0.
    fn at_hour(hour: u64) -> u64 {
        hour * MILLIS_PER_HOUR
    }

    /// Locks this process's registry, as a thread of a parent held it when it forked.
    pub(crate) fn lock_registry() -> std::sync::MutexGuard<'static, impl Sized> {
        registry(std::process::id()).lock().unwrap()
    }

    use crate::process::tests::{another_pid, pretend_pid};

    /// What a child forked after a client was built sees: the parent's registry, copied.
    /// Its factories must not be reused: same counter as the parent's, so repeated IDs.
    #[test]
    fn a_forked_child_makes_its_own_factory_with_pid_ids_not_the_parents() {
        let dir = tempfile::tempdir().unwrap();
        let parent = factory_for("forked", dir.path());
        assert_eq!(parent.pid(), None, "the first process owns the mark");
        let child_pid = another_pid(1);
        pretend_pid(Some(child_pid));
        let child = factory_without_disk("forked", dir.path(), child_pid);
        let again = factory_without_disk("forked", dir.path(), child_pid);
        pretend_pid(None);
        let (child, again) = (child.unwrap(), again.unwrap());
        assert!(!Arc::ptr_eq(&parent, &child));
        assert_eq!(child.pid(), Some(child_pid), "the child says who it is");
        assert!(
            Arc::ptr_eq(&child, &again),
            "one factory per domain in the child too"
        );
    }

    /// A thread of the parent held the registry's lock when the process forked: in the
    /// child nobody ever releases it.
    #[test]
    fn a_child_never_waits_for_the_registry_lock_a_parent_thread_held() {
        let dir = tempfile::tempdir().unwrap();
        let parent = factory_for("held-registry", dir.path());
        let held = registry(std::process::id()).lock().unwrap();
        let child_pid = another_pid(2);
        pretend_pid(Some(child_pid));
        let child = factory_without_disk("held-registry", dir.path(), child_pid);
        pretend_pid(None);
        drop(held);
        let child = child.expect("the child's own registry");
        assert!(!Arc::ptr_eq(&parent, &child));
    }

    /// The first `RemoteCall` to a domain makes its factory without the disk (pid IDs); the
    /// mark keeper then opens the mark, and once this process owns it the domain's IDs
    /// count from the mark, without the pid.
    #[test]
    fn a_factory_made_without_the_disk_gives_way_to_the_mark_once_it_is_opened() {
        let dir = tempfile::tempdir().unwrap();
        let pid = std::process::id();
        let interim = factory_without_disk("callee-opened", dir.path(), pid).unwrap();
        assert_eq!(interim.pid(), Some(pid));
        open_marks(pid);
        let started = std::time::Instant::now();
        let opened = loop {
            let factory = factory_without_disk("callee-opened", dir.path(), pid).unwrap();
            if factory.pid().is_none() || started.elapsed() > std::time::Duration::from_secs(2) {
                break factory;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        };
        assert_eq!(opened.pid(), None, "the mark was opened: no pid");
        assert!(dir.path().join("callee-opened.mark").exists());
    }

    #[test]
    fn sequence_restarts_at_zero_in_a_new_hour() {
        let f = MessageIdFactory::open(None, "d", at_hour(10));
        assert_eq!(f.next(10), (10, 0));
        assert_eq!(f.next(10), (10, 1));
        assert_eq!(f.next(11), (11, 0));
        assert_eq!(f.next(11), (11, 1));
        // A clock that goes back keeps the later hour.
        assert_eq!(f.next(10), (11, 2));
    }

    #[test]
    fn a_restart_within_the_hour_never_repeats_an_id() {
        let dir = tempfile::tempdir().unwrap();
        let first = MessageIdFactory::open(Some(dir.path()), "order-service", at_hour(500));
        let mut seen = std::collections::HashSet::new();
        for _ in 0..25_000 {
            assert!(seen.insert(first.next(500)));
            if seen.len() % 1000 == 0 {
                first.persist();
            }
        }
        // The process dies here without a final persist.
        drop(first);
        let second = MessageIdFactory::open(Some(dir.path()), "order-service", at_hour(500));
        for _ in 0..1000 {
            assert!(
                seen.insert(second.next(500)),
                "an ID repeated after the restart"
            );
        }
    }

    /// The hour turns and the process draws IDs of the new hour, then dies before the next
    /// persist moves the mark into that hour: the mark still names the hour before. Its
    /// restart in the new hour used to count from 0 again, repeating those IDs.
    #[test]
    fn a_restart_just_after_the_hour_turned_never_repeats_an_id() {
        let dir = tempfile::tempdir().unwrap();
        let first = MessageIdFactory::open(Some(dir.path()), "order-service", at_hour(500));
        for i in 1..=60_000 {
            first.next(500);
            if i % 20_000 == 0 {
                first.persist();
            }
        }
        // More than `MIN_RESERVE` in the new hour, fewer than the last tick's margin.
        let mut seen = std::collections::HashSet::new();
        for _ in 0..25_000 {
            seen.insert(first.next(501));
        }
        // The process dies here, before a persist in hour 501.
        drop(first);
        let second = MessageIdFactory::open(Some(dir.path()), "order-service", at_hour(501));
        for _ in 0..1000 {
            assert!(
                seen.insert(second.next(501)),
                "an ID repeated after the restart"
            );
        }
    }

    #[test]
    fn a_damaged_mark_naming_a_sequence_past_any_counter_reads_as_no_mark() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("d.mark"), format!("500 {}\n", u64::MAX)).unwrap();
        let factory = MessageIdFactory::open(Some(dir.path()), "d", at_hour(500));
        assert_eq!(factory.pid(), None, "the mark's owner");
        assert_eq!(factory.next(500), (500, 0));
    }

    /// The mark of the hour before reserves nothing in this one: a restart there begins one
    /// margin in (the process before may have drawn that many before it died). A mark of
    /// an older hour is of a process gone before this hour began: a restart starts afresh,
    /// at 0 on the hour.
    #[test]
    fn a_restart_in_the_next_hour_starts_one_margin_in_and_later_at_zero() {
        let dir = tempfile::tempdir().unwrap();
        let first = MessageIdFactory::open(Some(dir.path()), "d", at_hour(500));
        first.next(500);
        first.persist();
        drop(first);
        let second = MessageIdFactory::open(Some(dir.path()), "d", at_hour(501));
        assert_eq!(second.pid(), None, "the restart owns the mark");
        assert_eq!(second.next(501), (501, MIN_RESERVE));
        second.persist();
        drop(second);
        let third = MessageIdFactory::open(Some(dir.path()), "d", at_hour(503));
        assert_eq!(third.next(503), (503, 0));
    }

    /// A container restarted on the same IP within the hour: its `$TMPDIR` (and mark) is
    /// new, and its process is pid 1 again. Both processes counted from 0, so the second
    /// repeated the first one's IDs, and the store kept only the first tree of each.
    #[test]
    fn a_restart_that_lost_its_mark_never_repeats_an_id_of_the_process_before() {
        let one_second_ms = 1_000;
        for mark_dirs in [
            [tempfile::tempdir().ok(), tempfile::tempdir().ok()],
            // No writable mark directory: IDs with the pid, the same pid both times.
            [None, None],
        ] {
            let open = |dir: &Option<tempfile::TempDir>, at_ms| {
                MessageIdFactory::open(dir.as_ref().map(|d| d.path()), "restarted", at_ms)
            };
            // Started a second into hour 500; 50 000 IDs in its first minute (833 a second).
            let first = open(&mark_dirs[0], at_hour(500) + one_second_ms);
            let mut seen = std::collections::HashSet::new();
            for _ in 0..50_000 {
                seen.insert((first.pid(), first.next(500)));
            }
            drop(first);
            let second = open(&mark_dirs[1], at_hour(500) + 61 * one_second_ms);
            for _ in 0..1000 {
                let id = (second.pid(), second.next(500));
                assert!(seen.insert(id), "{id:?} repeated after the restart");
            }
        }
    }

    /// The process before ran since the hour before: it counted this hour from 0 when the
    /// hour turned, and a restart without its mark starts past what it drew since.
    #[test]
    fn a_restart_that_lost_its_mark_never_repeats_ids_drawn_since_the_hour_turned() {
        let first = MessageIdFactory::open(None, "turned", at_hour(500) - 5_000);
        assert_eq!(first.next(499), (499, MILLIS_PER_HOUR - 5_000));
        let mut seen = std::collections::HashSet::new();
        for _ in 0..20_000 {
            seen.insert(first.next(500));
        }
        assert!(seen.contains(&(500, 0)));
        drop(first);
        let second = MessageIdFactory::open(None, "turned", at_hour(500) + 30_000);
        let id = second.next(500);
        assert_eq!(
            id,
            (500, 30_000),
            "a fresh start: the milliseconds into the hour"
        );
        assert!(!seen.contains(&id));
    }

    /// Two processes of one app on one host (same domain, IP and mark directory), each
    /// drawing through the hour. An `flock` is per open file, so two factories opened here
    /// stand for the two processes.
    #[test]
    fn two_processes_of_one_domain_on_one_host_never_share_an_id() {
        let dir = tempfile::tempdir().unwrap();
        let first = MessageIdFactory::open(Some(dir.path()), "order-service", at_hour(500));
        let second = MessageIdFactory::open(Some(dir.path()), "order-service", at_hour(500));
        assert_eq!(first.pid(), None, "the first owns the mark");
        assert_eq!(
            second.pid(),
            Some(std::process::id()),
            "the second says who it is"
        );
        let mut seen = std::collections::HashSet::new();
        for i in 0..12_000 {
            for factory in [&first, &second] {
                let (hour, seq) = factory.next(500);
                assert!(
                    seen.insert((factory.pid(), hour, seq)),
                    "draw #{i} repeated"
                );
            }
            if i % 100 == 0 {
                first.persist();
                second.persist();
            }
        }
        // The owner ends; the next process to start owns the mark and carries on past it.
        let last = first.next(500);
        first.persist();
        drop(first);
        let restarted = MessageIdFactory::open(Some(dir.path()), "order-service", at_hour(500));
        assert_eq!(restarted.pid(), None);
        assert!(restarted.next(500) > last);
    }

    #[test]
    fn without_a_writable_mark_directory_ids_carry_the_pid() {
        let file = tempfile::NamedTempFile::new().unwrap();
        // A file where the directory should be: nothing can be created under it.
        let f = MessageIdFactory::open(Some(file.path()), "d", at_hour(7));
        assert_eq!(f.pid(), Some(std::process::id()));
        assert_eq!(f.next(7), (7, 0));
        let none = MessageIdFactory::open(None, "d", at_hour(7));
        assert_eq!(none.pid(), Some(std::process::id()));
    }

    #[test]
    fn concurrent_draws_hand_out_distinct_ids() {
        let f = Arc::new(MessageIdFactory::open(None, "d", at_hour(1)));
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let f = f.clone();
                std::thread::spawn(move || (0..10_000).map(|_| f.next(1)).collect::<Vec<_>>())
            })
            .collect();
        let mut all: Vec<_> = handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 40_000);
    }
}
