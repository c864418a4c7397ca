//! [`SealedReports`]: parsed reports of sealed hours, kept for the next readers within a
//! byte budget.
//!
//! A sealed hour's report comes from the store as JSON, read and parsed whole on every
//! request: a day view reads 24 of them, and an hour compared with the same hour a day
//! and a week earlier three. A sealed report rarely changes, so the parsed report (the
//! `Arc` every reader of it shares) is kept, keyed by kind, hour and domain, and handed out
//! again without touching the store.
//!
//! Design constraints:
//! - **Only sealed hours.** The collector asks this cache only for hours past their seal
//!   time by its clock; checkpoints of open hours are read from the store each time.
//! - **Never stale.** A sealed report can be written again (a clock gone back into its hour
//!   reopens it; a seal that failed to write is retried; retention deletes it). Each kept
//!   report carries the store's [`Store::report_generation`] of its hour as read before the
//!   file was, and is handed out only while that number is unchanged: every write through
//!   the store changes it once the new file is in place.
//! - **Bounded in bytes.** Each kept report counts an estimate of its heap size (see
//!   [`heap_estimate`]); past the budget the least recently used go. A report estimated
//!   above the whole budget is handed out but not kept.
//! - **Damage is said, not hidden.** A report that does not parse, that names another
//!   domain or hour than its folder (or none), or that is missing while the domain's other
//!   reports of the hour are there, is kept as unreadable with the reason: the pages and
//!   the API say so instead of "no data", and [`SealedReportStats::unreadable`] counts it.
//! - **No lock across I/O or parsing.** The lock is held to look up, insert and evict.
//!   Readers that miss the same report at once share one read and parse (a
//!   [`tokio::sync::OnceCell`] per report and generation; if the reader doing it gives up,
//!   another takes over).
//!
//! Non-goals: keeping what a view of a report computes (the boards' tables are built from
//! the report on every request), and live reports (see `copies.rs`).

use std::any::Any;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};

use ocelot_store::Store;
use serde::Serialize;
use tokio::sync::OnceCell;

use crate::worker::{Report, ReportKind};

/// Default budget: 32 MiB of parsed reports, an eighth of the 256 MiB the whole collector
/// aims to stay under. That keeps a day of a mid-sized domain's Transaction reports (a
/// domain on 8 machines with 400 names writes about 1.5 MiB of JSON an hour, about 1 MiB
/// parsed), or a few hundred small domains' hours.
pub const DEFAULT_SEALED_REPORT_CACHE_BYTES: u64 = 32 << 20;

/// What one kept report costs besides its own heap: its key (the domain's name), the map
/// slots, the `Arc` and the recency entry. Also what a kept "no such report" costs.
const ENTRY_OVERHEAD_BYTES: u64 = 256;

/// The estimated heap size of a parsed report of `kind` that was `stored_bytes` of JSON.
///
/// Factors are heap bytes requested while parsing (`serde_json::from_slice`) per byte of
/// JSON, measured with a counting allocator on the load generator's trees
/// (`cargo bench -p ocelot-analyzer --bench report_heap_factor`): Transaction 0.64-0.76
/// (minute rows and histograms are denser in memory than as JSON), Event 2.3-2.5 (short
/// entries, each a map slot and a few strings), Problem 1.6-2.0, over domains on 8 to 64
/// machines with 50 to 400 names; Heartbeat 2.55 (a series name per value and minute;
/// CAT's Java layout from 8 machines a minute) and Metric 0.73 (20 names of each kind per
/// machine and minute), which the probe adds since the load generator sends neither. They
/// are rounded up by about a tenth for the allocator's rounding. The State report (one an
/// hour, the collector's own) was not measured; it takes the largest factor.
pub(crate) fn heap_estimate(kind: ReportKind, stored_bytes: usize) -> u64 {
    // Tenths, to stay in integers.
    let tenths: u64 = match kind {
        ReportKind::Transaction => 8,
        ReportKind::Event => 28,
        ReportKind::Problem => 22,
        ReportKind::Heartbeat | ReportKind::State => 28,
        ReportKind::Metric => 8,
        // Not measured: a name's entry (counts and three call kinds, its IDs sharing the
        // domain's text) takes about what its JSON does, some 250 bytes.
        ReportKind::Matrix => 10,
    };
    (stored_bytes as u64).saturating_mul(tenths) / 10 + ENTRY_OVERHEAD_BYTES
}

/// How a kept report is found.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    kind: ReportKind,
    hour: u64,
    domain: String,
}

/// A report as read from the store. Each outcome is kept (a board asks for every kind of
/// a domain that has only some).
#[derive(Clone)]
enum Parsed {
    /// There is none, and none is expected: the domain logged nothing of this kind.
    Absent,
    Report(Arc<dyn Any + Send + Sync>),
    /// There is one that cannot be read, or none where one should be: why, in words
    /// without paths (the pages show it; the log has the detail).
    Unreadable(Arc<str>),
}

/// Reads of sealed reports by their outcome, for a reader of one kind.
type Read<R> = Result<Option<Arc<R>>, Arc<str>>;

/// What one read of the store gave.
#[derive(Clone)]
struct Loaded {
    report: Parsed,
    /// Estimated heap size.
    bytes: u64,
    /// Whether it may be kept: not after an I/O error, which the next reader retries.
    keep: bool,
}

struct Entry {
    report: Parsed,
    /// The store's generation of the hour before the report was read.
    generation: u64,
    bytes: u64,
    /// Its key in `Kept::recency`.
    used: u64,
}

/// Everything behind the lock.
#[derive(Default)]
struct Kept {
    entries: HashMap<Key, Entry>,
    /// Keys by last use, oldest first.
    recency: BTreeMap<u64, Key>,
    /// The next use's number.
    next_use: u64,
    /// Sum of the entries' `bytes`.
    bytes: u64,
    /// Reads under way, by key and the generation they started at.
    loading: HashMap<(Key, u64), Arc<OnceCell<Loaded>>>,
}

impl Kept {
    /// The kept report of `key` if it is of `generation`, marked as just used.
    fn hit(&mut self, key: &Key, generation: u64) -> Option<Parsed> {
        let entry = self.entries.get_mut(key)?;
        if entry.generation != generation {
            return None;
        }
        self.recency.remove(&entry.used);
        entry.used = self.next_use;
        self.recency.insert(self.next_use, key.clone());
        self.next_use += 1;
        Some(entry.report.clone())
    }

    /// Keeps `loaded` under `key` (replacing an older generation's), then evicts the least
    /// recently used until the entries fit `budget`; returns how many were evicted.
    fn insert(&mut self, key: Key, generation: u64, loaded: Loaded, budget: u64) -> u64 {
        if let Some(old) = self.entries.get(&key) {
            // A reader that started later may have kept a newer generation already.
            if old.generation > generation {
                return 0;
            }
            self.remove(&key);
        }
        let used = self.next_use;
        self.next_use += 1;
        self.recency.insert(used, key.clone());
        self.bytes += loaded.bytes;
        self.entries.insert(
            key,
            Entry {
                report: loaded.report,
                generation,
                bytes: loaded.bytes,
                used,
            },
        );
        let mut evicted = 0;
        while self.bytes > budget {
            let Some((_, oldest)) = self.recency.pop_first() else {
                break;
            };
            if let Some(entry) = self.entries.remove(&oldest) {
                self.bytes -= entry.bytes;
                evicted += 1;
            }
        }
        evicted
    }

    fn remove(&mut self, key: &Key) {
        if let Some(entry) = self.entries.remove(key) {
            self.recency.remove(&entry.used);
            self.bytes -= entry.bytes;
        }
    }
}

/// The counters of the parsed sealed reports the collector keeps for readers
/// (`CollectorConfig::sealed_report_cache_bytes`), copied.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SealedReportStats {
    /// Requests answered by a kept report.
    pub hits: u64,
    /// Reads of a report from the store (one per miss, shared by readers that missed the
    /// same report at once).
    pub loads: u64,
    /// Reports dropped to stay within the budget.
    pub evictions: u64,
    /// Reports (and absent reports) kept now.
    pub entries: u64,
    /// Reads of a sealed hour's report that found it unreadable: it does not parse, names
    /// another domain or hour than its folder (or none), cannot be read from disk, or is
    /// missing while the domain's other reports of the hour are there. Pages and the API
    /// say so for that hour; each damaged report counts once per read of its file (once,
    /// while its hour's reports are unchanged; every request, when the disk fails).
    pub unreadable: u64,
    /// Their estimated heap size now.
    pub bytes: u64,
}

/// The kept reports (see the module docs).
pub(crate) struct SealedReports {
    budget_bytes: u64,
    kept: Mutex<Kept>,
    hits: AtomicU64,
    loads: AtomicU64,
    evictions: AtomicU64,
    unreadable: AtomicU64,
}

impl SealedReports {
    /// Keeps parsed reports up to an estimated `budget_bytes` (0: none).
    pub(crate) fn new(budget_bytes: u64) -> Self {
        SealedReports {
            budget_bytes,
            kept: Mutex::default(),
            hits: AtomicU64::new(0),
            loads: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
            unreadable: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Kept> {
        self.kept.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The report `R` of `domain` in the sealed `hour`: a kept one if its hour's reports
    /// have not changed since it was read, else read from `store`, parsed and kept.
    /// `Ok(None)` when the domain has none (and need not); `Err` with the reason when the
    /// report cannot be read or is missing while it should be there.
    pub(crate) async fn get<R: Report>(&self, store: &Store, hour: u64, domain: &str) -> Read<R> {
        let load = || load::<R>(store, hour, domain);
        let parsed = self.get_with(R::KIND, store.report_generation(hour), hour, domain, load);
        match parsed.await {
            Parsed::Absent => Ok(None),
            Parsed::Report(report) => Ok(report.downcast::<R>().ok()),
            Parsed::Unreadable(why) => Err(why),
        }
    }

    /// [`SealedReports::get`] with the store's generation of `hour` read by the caller
    /// (before anything is read) and the read itself in `load`.
    async fn get_with(
        &self,
        kind: ReportKind,
        generation: u64,
        hour: u64,
        domain: &str,
        load: impl FnOnce() -> Loaded,
    ) -> Parsed {
        let key = Key {
            kind,
            hour,
            domain: domain.to_owned(),
        };
        let cell = {
            let mut kept = self.lock();
            if let Some(report) = kept.hit(&key, generation) {
                self.hits.fetch_add(1, Relaxed);
                return report;
            }
            // Reads nobody waits for any more (every reader gave up, or the generation
            // moved on while they did) are forgotten.
            kept.loading.retain(|_, cell| Arc::strong_count(cell) > 1);
            let loading = kept.loading.entry((key.clone(), generation));
            loading.or_default().clone()
        };
        let loaded = cell
            .get_or_init(|| async {
                self.loads.fetch_add(1, Relaxed);
                let loaded = load();
                if matches!(loaded.report, Parsed::Unreadable(_)) {
                    self.unreadable.fetch_add(1, Relaxed);
                }
                loaded
            })
            .await
            .clone();
        let mut kept = self.lock();
        // The first reader back keeps it; the others only take it.
        let loading = (key.clone(), generation);
        if kept
            .loading
            .get(&loading)
            .is_some_and(|c| Arc::ptr_eq(c, &cell))
        {
            kept.loading.remove(&loading);
            if loaded.keep && loaded.bytes <= self.budget_bytes {
                let evicted = kept.insert(key, generation, loaded.clone(), self.budget_bytes);
                self.evictions.fetch_add(evicted, Relaxed);
            }
        }
        loaded.report
    }

    /// The counters now.
    pub(crate) fn stats(&self) -> SealedReportStats {
        let kept = self.lock();
        SealedReportStats {
            hits: self.hits.load(Relaxed),
            loads: self.loads.load(Relaxed),
            evictions: self.evictions.load(Relaxed),
            entries: kept.entries.len() as u64,
            bytes: kept.bytes,
            unreadable: self.unreadable.load(Relaxed),
        }
    }
}

/// The kinds a domain has a report of as soon as it sends a tree: a tree makes its
/// domain's Transaction, Event and Problem reports together (even one without events or
/// problems), while Heartbeat and Metric reports come only from trees holding those.
const WRITTEN_TOGETHER: [ReportKind; 3] = [
    ReportKind::Transaction,
    ReportKind::Event,
    ReportKind::Problem,
];

/// Reads and parses the stored report `R` of `domain` in `hour`.
fn load<R: Report>(store: &Store, hour: u64, domain: &str) -> Loaded {
    let name = R::KIND.name();
    let unreadable = |why: String, keep: bool| Loaded {
        report: Parsed::Unreadable(why.into()),
        bytes: ENTRY_OVERHEAD_BYTES,
        keep,
    };
    let bytes = match store.read_report(hour, domain, name) {
        Ok(Some(bytes)) => bytes,
        Ok(None) => {
            return match missing_beside(store, hour, domain, R::KIND) {
                Some(others) => {
                    tracing::warn!(report = name, hour, domain, others = %others, "a stored report of a sealed hour is missing while the domain's other reports of the hour are there; pages and the API say it cannot be read");
                    unreadable(
                        format!("there is no file of it, while the domain's {others} there"),
                        true,
                    )
                }
                None => Loaded {
                    report: Parsed::Absent,
                    bytes: ENTRY_OVERHEAD_BYTES,
                    keep: true,
                },
            };
        }
        Err(e) => {
            tracing::warn!(report = name, hour, domain, error = %e, "cannot read a stored report");
            // Not kept: the next reader tries again.
            return unreadable(
                format!("reading its file failed: {}", without_path(&e)),
                false,
            );
        }
    };
    let report = match serde_json::from_slice::<R>(&bytes) {
        Ok(report) => match report.origin() {
            (says_domain, says_hour)
                if says_hour == hour && says_domain.is_none_or(|d| d == domain) =>
            {
                Parsed::Report(Arc::new(report))
            }
            (says_domain, says_hour) => {
                let says_domain = says_domain.unwrap_or_default();
                tracing::warn!(report = name, hour, domain, report_hour = says_hour, report_domain = says_domain, "a stored report of a sealed hour names another domain or hour than its folder (or none: not a report?); not served as this folder's");
                Parsed::Unreadable(
                    format!(
                        "its file names domain “{says_domain}” and hour {}, not this one's",
                        ocelot_analyzer::hour_label(says_hour)
                    )
                    .into(),
                )
            }
        },
        Err(e) => {
            tracing::warn!(report = name, hour, domain, error = %e, "stored report does not parse");
            Parsed::Unreadable(format!("its file does not parse: {e}").into())
        }
    };
    Loaded {
        report,
        bytes: heap_estimate(R::KIND, bytes.len()),
        keep: true,
    }
}

/// When `domain` has no stored report of `kind` in `hour`: the names of its reports of the
/// hour that say it should have one ("event and problem reports of the hour are"), if any.
fn missing_beside(store: &Store, hour: u64, domain: &str, kind: ReportKind) -> Option<String> {
    if !WRITTEN_TOGETHER.contains(&kind) {
        return None;
    }
    let names = store.report_names(hour, domain).ok()?;
    let others: Vec<&str> = (WRITTEN_TOGETHER.iter())
        .map(|k| k.name())
        .filter(|n| names.iter().any(|have| have == n))
        .collect();
    match others.as_slice() {
        [] => None,
        [one] => Some(format!("{one} report of the hour is")),
        many => Some(format!("{} reports of the hour are", many.join(" and "))),
    }
}

/// A store error as the pages may show it: an I/O error's OS message without the path
/// (the log has it).
fn without_path(error: &ocelot_store::StoreError) -> String {
    match error {
        ocelot_store::StoreError::Io { source, .. } => source.to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn loaded(value: u32, bytes: u64) -> Loaded {
        Loaded {
            report: Parsed::Report(Arc::new(value)),
            bytes,
            keep: true,
        }
    }

    fn value(parsed: Parsed) -> Option<u32> {
        match parsed {
            Parsed::Report(p) => p.downcast::<u32>().ok().map(|v| *v),
            Parsed::Absent | Parsed::Unreadable(_) => None,
        }
    }

    #[tokio::test]
    async fn the_least_recently_used_go_first_when_the_budget_is_spent() {
        let cache = SealedReports::new(300);
        let kind = ReportKind::Event;
        for hour in [1, 2, 3] {
            cache
                .get_with(kind, 0, hour, "shop", || loaded(1, 100))
                .await;
        }
        // Hour 1 used again: hour 2 is now the least recently used.
        cache.get_with(kind, 0, 1, "shop", || loaded(1, 100)).await;
        cache.get_with(kind, 0, 4, "shop", || loaded(1, 100)).await;
        let stats = cache.stats();
        assert_eq!((stats.entries, stats.bytes, stats.evictions), (3, 300, 1));
        assert_eq!((stats.hits, stats.loads), (1, 4));
        let kept = cache.lock();
        for (hour, is_kept) in [(1, true), (2, false), (3, true), (4, true)] {
            let key = Key {
                kind,
                hour,
                domain: "shop".to_owned(),
            };
            assert_eq!(kept.entries.contains_key(&key), is_kept, "hour {hour}");
        }
    }

    #[tokio::test]
    async fn a_report_bigger_than_the_budget_is_handed_out_and_not_kept() {
        let cache = SealedReports::new(100);
        let got = cache
            .get_with(ReportKind::Transaction, 0, 1, "shop", || loaded(7, 101))
            .await;
        assert_eq!(value(got), Some(7));
        assert_eq!(cache.stats().entries, 0);
    }

    #[tokio::test]
    async fn another_generation_is_read_again_and_replaces_the_kept_report() {
        let cache = SealedReports::new(1000);
        let kind = ReportKind::Problem;
        let first = cache.get_with(kind, 5, 1, "shop", || loaded(1, 10)).await;
        let same = cache.get_with(kind, 5, 1, "shop", || loaded(2, 10)).await;
        let newer = cache.get_with(kind, 6, 1, "shop", || loaded(3, 10)).await;
        assert_eq!(
            [value(first), value(same), value(newer)],
            [Some(1), Some(1), Some(3)]
        );
        let stats = cache.stats();
        assert_eq!((stats.entries, stats.bytes, stats.loads), (1, 10, 2));
    }

    #[tokio::test]
    async fn a_failed_read_is_not_kept() {
        let cache = SealedReports::new(1000);
        let failed = Loaded {
            report: Parsed::Unreadable("reading its file failed".into()),
            bytes: 0,
            keep: false,
        };
        let kind = ReportKind::Metric;
        assert_eq!(
            value(cache.get_with(kind, 0, 1, "shop", || failed).await),
            None
        );
        let retried = cache.get_with(kind, 0, 1, "shop", || loaded(4, 10)).await;
        assert_eq!(value(retried), Some(4));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn readers_missing_the_same_report_at_once_share_one_read() {
        let cache = Arc::new(SealedReports::new(1000));
        let readers: Vec<_> = (0..8)
            .map(|_| {
                let cache = cache.clone();
                tokio::spawn(async move {
                    let load = || {
                        // Long enough that the other readers arrive meanwhile (if they
                        // come later, they find it kept: one read either way).
                        std::thread::sleep(Duration::from_millis(100));
                        loaded(9, 10)
                    };
                    value(cache.get_with(ReportKind::Event, 0, 1, "shop", load).await)
                })
            })
            .collect();
        for reader in readers {
            assert_eq!(reader.await.unwrap(), Some(9));
        }
        assert_eq!(cache.stats().loads, 1);
        assert!(cache.lock().loading.is_empty());
    }
}
