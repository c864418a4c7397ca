//! [`HourAnalyzers`]: the five domain-keyed analyzers of one hour, fed the same trees.
//!
//! The collector keeps one per analyzer thread and open hour, the web crate's in-memory
//! source one per hour; both feed every tree to all five and list the domains of any.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use ocelot_protocol::MessageTree;

use crate::{
    AnalyzerConfig, EventAnalyzer, EventReport, HeartbeatAnalyzer, HeartbeatReport, MetricAnalyzer,
    MetricReport, ProblemAnalyzer, ProblemReport, TransactionAnalyzer, TransactionReport,
};

/// The Transaction, Event, Problem, Heartbeat and Metric analyzers of one hour.
#[derive(Debug, Clone)]
pub struct HourAnalyzers {
    /// Transactions by domain.
    pub transaction: TransactionAnalyzer,
    /// Events by domain.
    pub event: EventAnalyzer,
    /// Problems by domain.
    pub problem: ProblemAnalyzer,
    /// Heartbeats by domain.
    pub heartbeat: HeartbeatAnalyzer,
    /// Business metrics by domain.
    pub metric: MetricAnalyzer,
}

/// Reports of one hour by kind and domain, as checkpoints restore them
/// ([`HourAnalyzers::from_reports`]).
#[derive(Debug, Clone, Default)]
pub struct HourReports {
    /// Transaction reports by domain.
    pub transaction: BTreeMap<String, TransactionReport>,
    /// Event reports by domain.
    pub event: BTreeMap<String, EventReport>,
    /// Problem reports by domain.
    pub problem: BTreeMap<String, ProblemReport>,
    /// Heartbeat reports by domain.
    pub heartbeat: BTreeMap<String, HeartbeatReport>,
    /// Metric reports by domain.
    pub metric: BTreeMap<String, MetricReport>,
}

impl HourAnalyzers {
    /// Analyzers of `hour` with no data.
    pub fn new(hour: u64, config: &Arc<AnalyzerConfig>) -> Self {
        Self::from_reports(hour, config, HourReports::default())
    }

    /// Continues `hour` from reports (a checkpoint).
    pub fn from_reports(hour: u64, config: &Arc<AnalyzerConfig>, reports: HourReports) -> Self {
        HourAnalyzers {
            transaction: TransactionAnalyzer::from_reports(
                hour,
                config.clone(),
                reports.transaction,
            ),
            event: EventAnalyzer::from_reports(hour, config.clone(), reports.event),
            problem: ProblemAnalyzer::from_reports(hour, config.clone(), reports.problem),
            heartbeat: HeartbeatAnalyzer::from_reports(hour, config.clone(), reports.heartbeat),
            metric: MetricAnalyzer::from_reports(hour, config.clone(), reports.metric),
        }
    }

    /// Counts `tree` in every report.
    pub fn process(&mut self, tree: &MessageTree) {
        self.transaction.process(tree);
        self.event.process(tree);
        self.problem.process(tree);
        self.heartbeat.process(tree);
        self.metric.process(tree);
    }

    /// The domains with a report of any kind, sorted.
    pub fn domains(&self) -> Vec<String> {
        let mut domains = BTreeSet::new();
        domains.extend(self.transaction.reports().keys());
        domains.extend(self.event.reports().keys());
        domains.extend(self.problem.reports().keys());
        domains.extend(self.heartbeat.reports().keys());
        domains.extend(self.metric.reports().keys());
        domains.into_iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tree_reaches_every_report_and_a_restore_continues_them() {
        let hour = 498_703;
        let config = Arc::new(AnalyzerConfig::default());
        let mut samples =
            ocelot_protocol::sample::SampleTrees::new(5, 3, 10, hour * 3_600_000 + 60_000);
        let mut analyzers = HourAnalyzers::new(hour, &config);
        for _ in 0..300 {
            analyzers.process(&samples.tree());
        }
        let domains = analyzers.domains();
        assert_eq!(domains.len(), 3, "{domains:?}");
        assert!(domains.is_sorted());
        let restored = HourAnalyzers::from_reports(
            hour,
            &config,
            HourReports {
                transaction: analyzers.transaction.reports().clone(),
                event: analyzers.event.reports().clone(),
                ..HourReports::default()
            },
        );
        assert_eq!(restored.domains(), domains);
        assert_eq!(
            restored.transaction.reports(),
            analyzers.transaction.reports()
        );
    }
}
