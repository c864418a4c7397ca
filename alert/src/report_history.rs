//! [`ReportHistory`]: where the evaluator and the baseline read a domain's report of an
//! hour. The last stage is a trait with a real implementation ([`StoreHistory`], sealed
//! reports on disk) and an in-memory one ([`MemoryHistory`]: tests, and the collector's
//! live reports of the open hours, layered over the store with [`Overlay`]).

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use ocelot_analyzer::{EventReport, MetricReport, ProblemReport, TransactionReport};
use ocelot_store::{Store, StoreConfig, StoreError};

use crate::rules::ReportKind;

/// One hour's report of one domain, of any kind an alert rule can read.
#[derive(Debug, Clone, PartialEq)]
pub enum Report {
    /// A transaction report.
    Transaction(TransactionReport),
    /// An event report.
    Event(EventReport),
    /// A problem report.
    Problem(ProblemReport),
    /// A metric report.
    Metric(MetricReport),
}

impl Report {
    /// Which kind this is.
    pub fn kind(&self) -> ReportKind {
        match self {
            Report::Transaction(_) => ReportKind::Transaction,
            Report::Event(_) => ReportKind::Event,
            Report::Problem(_) => ReportKind::Problem,
            Report::Metric(_) => ReportKind::Metric,
        }
    }

    /// Parses a report as the store holds it (serde JSON of the analyzer's report type).
    pub fn from_json(kind: ReportKind, bytes: &[u8]) -> Result<Report, serde_json::Error> {
        Ok(match kind {
            ReportKind::Transaction => Report::Transaction(serde_json::from_slice(bytes)?),
            ReportKind::Event => Report::Event(serde_json::from_slice(bytes)?),
            ReportKind::Problem => Report::Problem(serde_json::from_slice(bytes)?),
            ReportKind::Metric => Report::Metric(serde_json::from_slice(bytes)?),
        })
    }

    /// A report of `kind` with no data: what a watched hour without traffic looks like.
    pub fn empty(kind: ReportKind, domain: &str, hour: u64) -> Report {
        match kind {
            ReportKind::Transaction => Report::Transaction(TransactionReport::new(domain, hour)),
            ReportKind::Event => Report::Event(EventReport::new(domain, hour)),
            ReportKind::Problem => Report::Problem(ProblemReport::new(domain, hour)),
            ReportKind::Metric => Report::Metric(MetricReport::new(domain, hour)),
        }
    }

    /// The JSON the store holds.
    pub fn to_json(&self) -> Vec<u8> {
        let bytes = match self {
            Report::Transaction(r) => serde_json::to_vec(r),
            Report::Event(r) => serde_json::to_vec(r),
            Report::Problem(r) => serde_json::to_vec(r),
            Report::Metric(r) => serde_json::to_vec(r),
        };
        bytes.expect("reports have string keys and serialize to JSON")
    }
}

/// Reads a domain's report of one hour (`epoch_ms / 3_600_000`).
pub trait ReportHistory: Send + Sync {
    /// The report, if there is one.
    fn report(&self, domain: &str, kind: ReportKind, hour: u64) -> Option<Arc<Report>>;

    /// Whether this source watched `hour`, so that a missing report means *no traffic*
    /// rather than *no data*. Without a report the evaluator then sees counts of 0 (a
    /// domain that went silent fires its drop rules); otherwise it sees no values (an
    /// hour Ocelot was not running fires nothing). Baselines skip missing reports either
    /// way. Default: `false`.
    fn covers(&self, hour: u64) -> bool {
        let _ = hour;
        false
    }
}

/// Reports held in memory: the collector's live reports of the open hour, or test data.
#[derive(Debug, Clone, Default)]
pub struct MemoryHistory {
    reports: HashMap<(String, ReportKind, u64), Arc<Report>>,
    covered: HashSet<u64>,
}

impl MemoryHistory {
    /// An empty history.
    pub fn new() -> Self {
        MemoryHistory::default()
    }

    /// Adds (or replaces) `domain`'s report of `hour`.
    pub fn insert(&mut self, domain: impl Into<String>, hour: u64, report: Report) {
        self.reports
            .insert((domain.into(), report.kind(), hour), Arc::new(report));
    }

    /// Marks `hour` as watched: a domain without a report in it had no traffic (see
    /// [`ReportHistory::covers`]). Mark the open hours fetched from a running collector.
    pub fn cover(&mut self, hour: u64) {
        self.covered.insert(hour);
    }

    /// How many reports are held.
    pub fn len(&self) -> usize {
        self.reports.len()
    }

    /// Whether no report is held.
    pub fn is_empty(&self) -> bool {
        self.reports.is_empty()
    }
}

impl ReportHistory for MemoryHistory {
    fn report(&self, domain: &str, kind: ReportKind, hour: u64) -> Option<Arc<Report>> {
        self.reports.get(&(domain.to_owned(), kind, hour)).cloned()
    }

    fn covers(&self, hour: u64) -> bool {
        self.covered.contains(&hour)
    }
}

/// Sealed reports in an [`ocelot_store::Store`]. A report that fails to parse counts as
/// no data and is counted in [`StoreHistory::read_errors`].
///
/// The store deletes hours older than its `retention_days` (default 7): baselines look
/// back 28 days by default, so a store used for alerting needs `retention_days` of at
/// least 29, or 0 (keep everything).
#[derive(Debug)]
pub struct StoreHistory {
    store: Store,
    read_errors: AtomicU64,
}

impl StoreHistory {
    /// Reads from `store`.
    pub fn new(store: Store) -> Self {
        StoreHistory {
            store,
            read_errors: AtomicU64::new(0),
        }
    }

    /// Opens the store in `dir` for reading reports, with retention off: opening a store
    /// with the default retention deletes hours older than 7 days, the history baselines
    /// need (`ocelot alert replay --data DIR` must not destroy what it replays).
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let mut config = StoreConfig::new(dir);
        config.retention_days = 0;
        Ok(StoreHistory::new(Store::open(config)?))
    }

    /// Every domain with a report in any stored hour, sorted: the known domains rules
    /// are checked against.
    pub fn known_domains(&self) -> Result<Vec<String>, StoreError> {
        let mut domains = std::collections::BTreeSet::new();
        for hour in self.store.hours()? {
            domains.extend(self.store.report_domains(hour)?);
        }
        Ok(domains.into_iter().collect())
    }

    /// Reports that existed but could not be read or parsed.
    pub fn read_errors(&self) -> u64 {
        self.read_errors.load(Ordering::Relaxed)
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }
}

impl ReportHistory for StoreHistory {
    fn report(&self, domain: &str, kind: ReportKind, hour: u64) -> Option<Arc<Report>> {
        let bytes = match self.store.read_report(hour, domain, kind.as_str()) {
            Ok(Some(bytes)) => bytes,
            Ok(None) => return None,
            Err(_) => {
                self.read_errors.fetch_add(1, Ordering::Relaxed);
                return None;
            }
        };
        match Report::from_json(kind, &bytes) {
            Ok(report) => Some(Arc::new(report)),
            Err(_) => {
                self.read_errors.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    /// An hour with any domain's report was watched by a collector.
    fn covers(&self, hour: u64) -> bool {
        self.store
            .report_domains(hour)
            .is_ok_and(|domains| !domains.is_empty())
    }
}

/// `first`'s report where it has one, else `second`'s: the live hours over the store.
#[derive(Debug)]
pub struct Overlay<A, B>(pub A, pub B);

impl<A: ReportHistory, B: ReportHistory> ReportHistory for Overlay<A, B> {
    fn report(&self, domain: &str, kind: ReportKind, hour: u64) -> Option<Arc<Report>> {
        self.0
            .report(domain, kind, hour)
            .or_else(|| self.1.report(domain, kind, hour))
    }

    fn covers(&self, hour: u64) -> bool {
        self.0.covers(hour) || self.1.covers(hour)
    }
}

impl<T: ReportHistory + ?Sized> ReportHistory for &T {
    fn report(&self, domain: &str, kind: ReportKind, hour: u64) -> Option<Arc<Report>> {
        (**self).report(domain, kind, hour)
    }

    fn covers(&self, hour: u64) -> bool {
        (**self).covers(hour)
    }
}

impl<T: ReportHistory + ?Sized> ReportHistory for Arc<T> {
    fn report(&self, domain: &str, kind: ReportKind, hour: u64) -> Option<Arc<Report>> {
        (**self).report(domain, kind, hour)
    }

    fn covers(&self, hour: u64) -> bool {
        (**self).covers(hour)
    }
}
