//! [`MetricAnalyzer`]: adds up the business metrics (`M` records) of every tree.

use std::collections::BTreeMap;
use std::sync::Arc;

use ocelot_protocol::{MessageKind, MessageTree, MessageView, TreeView};

use super::report::MetricReport;
use crate::config::AnalyzerConfig;
use crate::domain_reports::DomainReports;
use crate::minute::{hour_start_ms, minute_in_hour};

/// The metric reports of one hour, one per domain.
#[derive(Debug, Clone)]
pub struct MetricAnalyzer {
    hour: u64,
    config: Arc<AnalyzerConfig>,
    reports: DomainReports<MetricReport>,
}

/// `(count, sum)` of one record by CAT's status letters
/// (`BusinessAnalyzer.java@3.1.0#parseValue`): `C` count (empty data = 1, sum = count),
/// `T` a duration and `S` a sum (count 1 each), `S,C` data `count,sum`.
fn parse_value(status: &str, data: &str) -> Option<(u64, f64)> {
    let data = data.trim();
    let number = |text: &str| text.trim().parse::<f64>().ok().filter(|v| v.is_finite());
    match status {
        "C" => {
            let count = if data.is_empty() {
                1
            } else {
                data.parse().ok()?
            };
            Some((count, count as f64))
        }
        "T" | "S" => Some((1, number(data)?)),
        "S,C" => {
            let (count, sum) = data.split_once(',')?;
            Some((count.trim().parse().ok()?, number(sum)?))
        }
        _ => None,
    }
}

impl MetricAnalyzer {
    /// An analyzer for `hour` with no data.
    pub fn new(hour: u64, config: Arc<AnalyzerConfig>) -> Self {
        Self::from_reports(hour, config, BTreeMap::new())
    }

    /// Continues an hour from checkpointed reports.
    pub fn from_reports(
        hour: u64,
        config: Arc<AnalyzerConfig>,
        reports: BTreeMap<String, MetricReport>,
    ) -> Self {
        MetricAnalyzer {
            hour,
            config,
            reports: reports.into(),
        }
    }

    /// The hour this analyzer covers.
    pub fn hour(&self) -> u64 {
        self.hour
    }

    /// The reports so far, by domain.
    pub fn reports(&self) -> &DomainReports<MetricReport> {
        &self.reports
    }

    /// Takes the reports out (sealing an hour).
    pub fn into_reports(self) -> BTreeMap<String, MetricReport> {
        self.reports.into_map()
    }

    /// Adds every metric record of `tree`, wherever it sits (a metric root, inside an
    /// application transaction, or under the clients' `System/MetricAggregator`). As in CAT,
    /// metrics with a type in trees of the domain `cat` are self-monitoring and skipped.
    pub fn process(&mut self, tree: &MessageTree) {
        self.process_view(&TreeView::of(tree));
    }

    /// [`Self::process`] for a tree as a [`TreeView`].
    pub fn process_view(&mut self, tree: &TreeView<'_>) {
        let self_monitoring = tree.domain == "cat";
        let counted = |m: &&MessageView<'_>| {
            m.kind == MessageKind::Metric && (!self_monitoring || m.type_.is_empty())
        };
        if !tree.messages.iter().any(|m| counted(&m)) {
            return;
        }
        let config = &*self.config;
        let hour = self.hour;
        // As the other reports count: a message past the hour of its tree's root (a long
        // request's) at the hour's edge, not at the same minute of the hour before.
        let hour_start = hour_start_ms(hour);
        let mut folded = 0;
        let report = self
            .reports
            .of_domain(tree.domain, config, &mut folded, |domain| {
                MetricReport::new(domain, hour)
            });
        for metric in tree.messages.iter().filter(counted) {
            let Some((count, sum)) = parse_value(metric.status, metric.data) else {
                report.ignored += 1;
                continue;
            };
            let item = report.items.capped_entry(
                metric.name,
                config.max_metric_names,
                config.max_key_chars,
                &mut folded,
            );
            if item.kind.is_empty() {
                metric.status.clone_into(&mut item.kind);
            }
            item.record(minute_in_hour(metric.timestamp_ms, hour_start), count, sum);
        }
        report.folded += folded;
    }
}

#[cfg(test)]
mod tests {
    use super::parse_value;

    #[test]
    fn status_letters_give_count_and_sum() {
        assert_eq!(parse_value("C", "5"), Some((5, 5.0)));
        assert_eq!(parse_value("C", ""), Some((1, 1.0)));
        assert_eq!(parse_value("T", "150"), Some((1, 150.0)));
        assert_eq!(parse_value("S", "2.5"), Some((1, 2.5)));
        assert_eq!(parse_value("S,C", "2,400"), Some((2, 400.0)));
        assert_eq!(parse_value("X", "1"), None);
        assert_eq!(parse_value("C", "x"), None);
        assert_eq!(parse_value("S,C", "2"), None);
    }
}
