//! [`ReportHistory`]: where the evaluator and the baseline read a domain's report of an
//! hour, and the collector's State report of an hour (which minutes it was running in).
//! The last stage is a trait with a real implementation ([`StoreHistory`], sealed reports
//! on disk) and an in-memory one ([`MemoryHistory`]: tests, and the collector's live
//! reports of the open hours, layered over the store with [`Overlay`]).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use ocelot_analyzer::{
    EventReport, HeartbeatReport, MetricReport, ProblemReport, StateReport, TransactionReport,
    STATE_DOMAIN, STATE_REPORT_NAME,
};
use ocelot_store::{validate_name, Store};

use crate::error::AlertError;

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
    /// A heartbeat report.
    Heartbeat(HeartbeatReport),
}

impl Report {
    /// Which kind this is.
    pub fn kind(&self) -> ReportKind {
        match self {
            Report::Transaction(_) => ReportKind::Transaction,
            Report::Event(_) => ReportKind::Event,
            Report::Problem(_) => ReportKind::Problem,
            Report::Metric(_) => ReportKind::Metric,
            Report::Heartbeat(_) => ReportKind::Heartbeat,
        }
    }

    /// Parses a report as the store holds it (serde JSON of the analyzer's report type).
    pub fn from_json(kind: ReportKind, bytes: &[u8]) -> Result<Report, serde_json::Error> {
        Ok(match kind {
            ReportKind::Transaction => Report::Transaction(serde_json::from_slice(bytes)?),
            ReportKind::Event => Report::Event(serde_json::from_slice(bytes)?),
            ReportKind::Problem => Report::Problem(serde_json::from_slice(bytes)?),
            ReportKind::Metric => Report::Metric(serde_json::from_slice(bytes)?),
            ReportKind::Heartbeat => Report::Heartbeat(serde_json::from_slice(bytes)?),
        })
    }

    /// A report of `kind` with no data: what a watched hour without traffic looks like.
    pub fn empty(kind: ReportKind, domain: &str, hour: u64) -> Report {
        match kind {
            ReportKind::Transaction => Report::Transaction(TransactionReport::new(domain, hour)),
            ReportKind::Event => Report::Event(EventReport::new(domain, hour)),
            ReportKind::Problem => Report::Problem(ProblemReport::new(domain, hour)),
            ReportKind::Metric => Report::Metric(MetricReport::new(domain, hour)),
            ReportKind::Heartbeat => Report::Heartbeat(HeartbeatReport::new(domain, hour)),
        }
    }

    /// The JSON the store holds.
    pub fn to_json(&self) -> Vec<u8> {
        let bytes = match self {
            Report::Transaction(r) => serde_json::to_vec(r),
            Report::Event(r) => serde_json::to_vec(r),
            Report::Problem(r) => serde_json::to_vec(r),
            Report::Metric(r) => serde_json::to_vec(r),
            Report::Heartbeat(r) => serde_json::to_vec(r),
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
    /// domain that went silent fires its drop rules); otherwise the hour is not evaluated
    /// (an hour Ocelot was not running neither fires nor resolves anything). Baselines skip
    /// missing reports either way. Default: `false`.
    fn covers(&self, hour: u64) -> bool {
        let _ = hour;
        false
    }

    /// Whether the report of `kind` of `domain` in `hour` is there but cannot be read (an
    /// I/O error, or bytes that do not parse): its figures are unknown, so a watched hour
    /// does not make it an hour without traffic. Default: `false`.
    fn unreadable(&self, domain: &str, kind: ReportKind, hour: u64) -> bool {
        let _ = (domain, kind, hour);
        false
    }

    /// The collector's State report of `hour`, if there is one: its sampled minutes are
    /// the minutes the collector was running (see [`StateReport::sampled_minutes`]).
    /// Baselines take the minutes it was not running as no data and replay does not
    /// evaluate them; an hour without a State report (stored before the collector kept
    /// one, or a source that keeps none) counts as running throughout. Default: `None`.
    fn state(&self, hour: u64) -> Option<Arc<StateReport>> {
        let _ = hour;
        None
    }

    /// The collector's State report of `hour` as stored, to judge minutes that lie in the
    /// past whatever the clock says (a baseline's look-back days, and the minute after the
    /// last of them). Unlike [`ReportHistory::state`], an [`Overlay`] gives the store's
    /// report even for an hour its first source watches: that checkpoint lacks the newest
    /// minute or two, but holds the earlier ones whole, such as today's 00:00 beside
    /// yesterday's 23:59 by the time a baseline reading yesterday is built for the day
    /// (00:10). Default: [`ReportHistory::state`].
    fn stored_state(&self, hour: u64) -> Option<Arc<StateReport>> {
        self.state(hour)
    }
}

/// Reports held in memory: the collector's live reports of the open hour, or test data.
#[derive(Debug, Clone, Default)]
pub struct MemoryHistory {
    reports: HashMap<(String, ReportKind, u64), Arc<Report>>,
    states: HashMap<u64, Arc<StateReport>>,
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

    /// Adds (or replaces) the collector's State report of its hour.
    pub fn insert_state(&mut self, state: StateReport) {
        self.states.insert(state.hour(), Arc::new(state));
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

    fn state(&self, hour: u64) -> Option<Arc<StateReport>> {
        self.states.get(&hour).cloned()
    }
}

/// Sealed reports, from a running [`ocelot_store::Store`] ([`StoreHistory::new`], what
/// `ocelot serve` uses) or read-only from a store folder ([`StoreHistory::open`], what
/// replay uses), and the collector's State reports (filed under the domain
/// [`STATE_DOMAIN`]). A report that fails to parse counts as no data (a State report: as
/// none, so the hour counts as running throughout) and is counted in
/// [`StoreHistory::read_errors`].
///
/// The store deletes hours older than its `retention_days` (default 7): baselines look
/// back 28 days by default, so a store used for alerting needs `retention_days` of at
/// least 29, or 0 (keep everything); see [`crate::RuleSet::history_days_needed`].
#[derive(Debug)]
pub struct StoreHistory {
    source: Source,
    read_errors: AtomicU64,
}

#[derive(Debug)]
enum Source {
    Store(Store),
    /// A store folder read as docs/store-format.md lays it out:
    /// `<dir>/<hour>/<domain>/reports/<name>.report`.
    Folder(PathBuf),
}

/// Folder of a domain-hour's reports, and their file extension (docs/store-format.md).
const REPORTS_DIR: &str = "reports";
const REPORT_EXT: &str = "report";

impl StoreHistory {
    /// Reads through a running store.
    pub fn new(store: Store) -> Self {
        StoreHistory {
            source: Source::Store(store),
            read_errors: AtomicU64::new(0),
        }
    }

    /// Reads the report files of the store folder `dir` without opening the store: no
    /// crash recovery, retention or writer threads touch the folder, so replay is safe on
    /// the data folder of a running `ocelot serve` and never deletes old hours.
    pub fn open(dir: &Path) -> Result<Self, AlertError> {
        if !dir.is_dir() {
            return Err(AlertError::Data {
                path: dir.to_owned(),
                message: "not a directory".to_owned(),
            });
        }
        Ok(StoreHistory {
            source: Source::Folder(dir.to_owned()),
            read_errors: AtomicU64::new(0),
        })
    }

    /// Every domain with a report in any stored hour, sorted: the known domains rules
    /// are checked against. The collector's own folder ([`STATE_DOMAIN`]) counts only
    /// where an application of that name sent something a rule can read.
    pub fn known_domains(&self) -> Result<Vec<String>, AlertError> {
        let mut domains = BTreeSet::new();
        let hours = match &self.source {
            Source::Store(store) => {
                let hours = store.hours()?;
                for &hour in &hours {
                    domains.extend(store.report_domains(hour)?);
                }
                hours
            }
            Source::Folder(dir) => {
                let hours: Vec<u64> = list(dir)
                    .into_iter()
                    .filter_map(|n| parse_hour(&n))
                    .collect();
                for &hour in &hours {
                    domains.extend(folder_domains(dir, hour));
                }
                hours
            }
        };
        if domains.contains(STATE_DOMAIN) {
            let sent = hours.iter().any(|&hour| {
                ReportKind::ALL.iter().any(|kind| {
                    matches!(self.bytes(STATE_DOMAIN, kind.as_str(), hour), Ok(Some(_)))
                })
            });
            if !sent {
                domains.remove(STATE_DOMAIN);
            }
        }
        Ok(domains.into_iter().collect())
    }

    /// Reports that existed but could not be read or parsed.
    pub fn read_errors(&self) -> u64 {
        self.read_errors.load(Ordering::Relaxed)
    }

    /// The stored bytes of `domain`'s report `name` (`transaction`, ..., or `state`).
    fn bytes(&self, domain: &str, name: &str, hour: u64) -> Result<Option<Vec<u8>>, ()> {
        match &self.source {
            Source::Store(store) => store.read_report(hour, domain, name).map_err(|_| ()),
            Source::Folder(dir) => {
                // Rule domains are config, not trusted paths.
                validate_name("domain", domain).map_err(|_| ())?;
                let path = dir
                    .join(hour.to_string())
                    .join(domain)
                    .join(REPORTS_DIR)
                    .join(format!("{name}.{REPORT_EXT}"));
                match std::fs::read(path) {
                    Ok(bytes) => Ok(Some(bytes)),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(_) => Err(()),
                }
            }
        }
    }

    /// [`StoreHistory::bytes`], with a failed read counted and taken as no report.
    fn read(&self, domain: &str, name: &str, hour: u64) -> Option<Vec<u8>> {
        self.bytes(domain, name, hour).unwrap_or_else(|()| {
            self.read_errors.fetch_add(1, Ordering::Relaxed);
            None
        })
    }
}

/// Names in a folder; none if it cannot be read.
fn list(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|e| e.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// An hour folder's name: decimal, canonical.
fn parse_hour(name: &str) -> Option<u64> {
    let hour: u64 = name.parse().ok()?;
    (hour.to_string() == name).then_some(hour)
}

/// Domains with at least one report file in `hour` of the store folder `dir`.
fn folder_domains(dir: &Path, hour: u64) -> Vec<String> {
    let hour_dir = dir.join(hour.to_string());
    list(&hour_dir)
        .into_iter()
        .filter(|domain| validate_name("domain", domain).is_ok())
        .filter(|domain| {
            list(&hour_dir.join(domain).join(REPORTS_DIR))
                .iter()
                .any(|f| f.ends_with(&format!(".{REPORT_EXT}")) && !f.starts_with('.'))
        })
        .collect()
}

impl ReportHistory for StoreHistory {
    fn report(&self, domain: &str, kind: ReportKind, hour: u64) -> Option<Arc<Report>> {
        let bytes = self.read(domain, kind.as_str(), hour)?;
        match Report::from_json(kind, &bytes) {
            Ok(report) => Some(Arc::new(report)),
            Err(_) => {
                self.read_errors.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    /// Read again, and not counted again in [`StoreHistory::read_errors`]: asked only of a
    /// report that [`ReportHistory::report`] did not give, in a watched hour.
    fn unreadable(&self, domain: &str, kind: ReportKind, hour: u64) -> bool {
        match self.bytes(domain, kind.as_str(), hour) {
            Ok(Some(bytes)) => Report::from_json(kind, &bytes).is_err(),
            Ok(None) => false,
            Err(()) => true,
        }
    }

    /// An hour with any domain's report was watched by a collector.
    fn covers(&self, hour: u64) -> bool {
        match &self.source {
            Source::Store(store) => store
                .report_domains(hour)
                .is_ok_and(|domains| !domains.is_empty()),
            Source::Folder(dir) => !folder_domains(dir, hour).is_empty(),
        }
    }

    /// The State report the collector files under [`STATE_DOMAIN`].
    fn state(&self, hour: u64) -> Option<Arc<StateReport>> {
        let bytes = self.read(STATE_DOMAIN, STATE_REPORT_NAME, hour)?;
        match serde_json::from_slice(&bytes) {
            Ok(state) => Some(Arc::new(state)),
            Err(_) => {
                self.read_errors.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
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

    fn unreadable(&self, domain: &str, kind: ReportKind, hour: u64) -> bool {
        self.0.unreadable(domain, kind, hour) || self.1.unreadable(domain, kind, hour)
    }

    /// `first`'s State report where it has one; else, for an hour `first` watched (the
    /// open hours of a running collector), none: the store's checkpoint of the open hour
    /// is up to a minute old and lacks the newest minutes, which would read as minutes
    /// the collector was not running.
    fn state(&self, hour: u64) -> Option<Arc<StateReport>> {
        match self.0.state(hour) {
            Some(state) => Some(state),
            None if self.0.covers(hour) => None,
            None => self.1.state(hour),
        }
    }

    /// `first`'s State report where it has one, else `second`'s, watched or not: live and
    /// replay then judge a past minute next to the open hour alike (replay reads only the
    /// store).
    fn stored_state(&self, hour: u64) -> Option<Arc<StateReport>> {
        (self.0.stored_state(hour)).or_else(|| self.1.stored_state(hour))
    }
}

impl<T: ReportHistory + ?Sized> ReportHistory for &T {
    fn report(&self, domain: &str, kind: ReportKind, hour: u64) -> Option<Arc<Report>> {
        (**self).report(domain, kind, hour)
    }

    fn covers(&self, hour: u64) -> bool {
        (**self).covers(hour)
    }

    fn unreadable(&self, domain: &str, kind: ReportKind, hour: u64) -> bool {
        (**self).unreadable(domain, kind, hour)
    }

    fn state(&self, hour: u64) -> Option<Arc<StateReport>> {
        (**self).state(hour)
    }

    fn stored_state(&self, hour: u64) -> Option<Arc<StateReport>> {
        (**self).stored_state(hour)
    }
}

impl<T: ReportHistory + ?Sized> ReportHistory for Arc<T> {
    fn report(&self, domain: &str, kind: ReportKind, hour: u64) -> Option<Arc<Report>> {
        (**self).report(domain, kind, hour)
    }

    fn covers(&self, hour: u64) -> bool {
        (**self).covers(hour)
    }

    fn unreadable(&self, domain: &str, kind: ReportKind, hour: u64) -> bool {
        (**self).unreadable(domain, kind, hour)
    }

    fn state(&self, hour: u64) -> Option<Arc<StateReport>> {
        (**self).state(hour)
    }

    fn stored_state(&self, hour: u64) -> Option<Arc<StateReport>> {
        (**self).stored_state(hour)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `alert replay` checks rule domains against the stored ones: the collector's own
    /// State folder is not an application a rule could watch, unless one of that name sent
    /// something.
    #[test]
    fn the_collectors_own_folder_is_not_a_known_domain_unless_an_application_used_it() {
        let dir = tempfile::tempdir().unwrap();
        let hour = 499_054;
        let report = |domain: &str, name: &str| {
            let reports = dir
                .path()
                .join(hour.to_string())
                .join(domain)
                .join(REPORTS_DIR);
            std::fs::create_dir_all(&reports).unwrap();
            std::fs::write(reports.join(format!("{name}.{REPORT_EXT}")), "{}").unwrap();
        };
        report("shop", "transaction");
        report(STATE_DOMAIN, STATE_REPORT_NAME);
        let history = StoreHistory::open(dir.path()).unwrap();
        assert_eq!(history.known_domains().unwrap(), ["shop"]);
        report(STATE_DOMAIN, "event");
        assert_eq!(history.known_domains().unwrap(), [STATE_DOMAIN, "shop"]);
    }
}
