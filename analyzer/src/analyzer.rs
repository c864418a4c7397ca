//! [`Analyzer`]: what the Transaction, Event, Problem and Matrix analyzers share: one
//! hour's reports of their kind by domain, under the hour's entry budget. Each kind adds
//! how it counts a tree (`process`) in its own `analyzer.rs`.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::config::AnalyzerConfig;
use crate::day::HourlyReport;
use crate::domain_reports::DomainReports;

/// The reports of kind `R` of one hour, one per domain, and what is left of the hour's
/// entry budget ([`AnalyzerConfig::max_entries_per_hour`]). Each kind names it
/// ([`crate::TransactionAnalyzer`], [`crate::EventAnalyzer`], [`crate::ProblemAnalyzer`],
/// [`crate::MatrixAnalyzer`]) and counts trees into it with its own `process`.
#[derive(Debug, Clone)]
pub struct Analyzer<R> {
    pub(crate) hour: u64,
    pub(crate) config: Arc<AnalyzerConfig>,
    pub(crate) reports: DomainReports<R>,
    /// What is left of [`AnalyzerConfig::max_entries_per_hour`].
    pub(crate) entries_left: usize,
}

impl<R: HourlyReport> Analyzer<R> {
    /// An analyzer for `hour` (`epoch_ms / 3_600_000`) with no data.
    pub fn new(hour: u64, config: Arc<AnalyzerConfig>) -> Self {
        Self::from_reports(hour, config, BTreeMap::new())
    }

    /// Continues an hour from checkpointed reports.
    pub fn from_reports(
        hour: u64,
        config: Arc<AnalyzerConfig>,
        reports: BTreeMap<String, R>,
    ) -> Self {
        let held: usize = reports.values().map(R::entries).sum();
        Analyzer {
            hour,
            entries_left: config.max_entries_per_hour.saturating_sub(held),
            config,
            reports: reports.into(),
        }
    }

    /// Adds reports read back from the store (a sealed hour opened again), each merged
    /// into its domain's live report; the entries they add count against the hour's budget.
    pub fn add_reports(&mut self, reports: BTreeMap<String, R>) {
        self.reports
            .add_within_budget(reports, R::merge_from, R::entries, &mut self.entries_left);
    }
}

impl<R> Analyzer<R> {
    /// Whether the hour's entry budget is spent ([`AnalyzerConfig::max_entries_per_hour`]):
    /// new entries (machines, types and names; a Matrix report's request types and names)
    /// now fold into `OTHERS`.
    pub fn entries_exhausted(&self) -> bool {
        self.entries_left == 0
    }

    /// The hour this analyzer covers.
    pub fn hour(&self) -> u64 {
        self.hour
    }

    /// The reports so far, by domain.
    pub fn reports(&self) -> &DomainReports<R> {
        &self.reports
    }

    /// Takes the reports out (sealing an hour).
    pub fn into_reports(self) -> BTreeMap<String, R> {
        self.reports.into_map()
    }
}
