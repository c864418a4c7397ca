//! [`MetricAnalyzer`]: adds up the business metrics (`M` records) of every tree.

use std::collections::BTreeMap;
use std::sync::Arc;

use ocelot_protocol::{MessageKind, MessageTree, MessageView, TreeView};

use super::report::{MetricKind, MetricReport};
use crate::config::AnalyzerConfig;
use crate::domain_reports::DomainReports;
use crate::minute::{hour_start_ms, TreeMinutes};
use crate::tree_counter::FoldedMessages;

/// The metric reports of one hour, one per domain.
#[derive(Debug, Clone)]
pub struct MetricAnalyzer {
    hour: u64,
    config: Arc<AnalyzerConfig>,
    reports: DomainReports<MetricReport>,
}

/// The largest count one record may carry: 2^53, past which a count is no longer a whole
/// number as a sum (`f64`) holds it, and far past anything a client counts at once (CAT's
/// own clients send an `int`). A larger one is a broken client's: `1e308` read as a count
/// would hold the metric at the largest `u64` for the rest of the hour.
const MAX_RECORD_COUNT: u64 = 1 << 53;

/// The kind and `(count, sum)` of one record by CAT's status letters
/// (`BusinessAnalyzer.java@3.1.0#parseValue`): `C` count (empty data = 1, sum = count),
/// `T` a duration and `S` a sum (count 1 each), `S,C` data `count,sum`. `None` for an
/// unknown status, a value that is not a finite number, or a count that is negative or
/// past [`MAX_RECORD_COUNT`].
fn parse_value(status: &str, data: &str) -> Option<(MetricKind, u64, f64)> {
    let data = data.trim();
    let number = |text: &str| text.trim().parse::<f64>().ok().filter(|v| v.is_finite());
    let kind = MetricKind::of_status(status)?;
    let (count, sum) = match kind {
        MetricKind::Count => {
            // CAT: `(int) Double.parseDouble(data)`, so `2.0` counts 2 and `3.7` counts 3.
            // A negative count (which CAT would subtract) has no place in a `u64`.
            let count = if data.is_empty() {
                1
            } else {
                data.parse::<u64>()
                    .ok()
                    .or_else(|| number(data).filter(|v| *v >= 0.0).map(|v| v as u64))?
            };
            (count, count as f64)
        }
        MetricKind::Duration | MetricKind::Sum => (1, number(data)?),
        MetricKind::SumAndCount => {
            // CAT: `data.split(",")`, the count from `[0]` and the sum from `[1]`; fields
            // after those are ignored.
            let mut fields = data.split(',');
            let count = fields.next()?.trim().parse().ok()?;
            (count, number(fields.next()?)?)
        }
        MetricKind::None => return None,
    };
    // A count past the bound (`as` holds a larger float at `u64::MAX`) is refused whole.
    (count <= MAX_RECORD_COUNT).then_some((kind, count, sum))
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

    /// Adds reports read back from the store (a sealed hour opened again), each merged
    /// into its domain's live report.
    pub fn add_reports(&mut self, reports: BTreeMap<String, MetricReport>) {
        for (domain, report) in reports {
            self.reports.add(&domain, report, MetricReport::merge);
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
        // As the other reports count: a record stamped outside the hour of its tree's root
        // (a long request's, a skewed clock's) at the root's minute.
        let minutes =
            TreeMinutes::of_root(hour_start_ms(hour), tree.root().map(|r| r.timestamp_ms));
        let mut domain_folds = 0;
        let report = self
            .reports
            .of_domain(tree.domain, config, &mut domain_folds, |domain| {
                MetricReport::new(domain, hour)
            });
        // Records, each once, counted under `OTHERS` (its domain's or its own name's).
        let mut folded = FoldedMessages::of_tree(tree.domain, domain_folds);
        for metric in tree.messages.iter().filter(counted) {
            let Some((kind, count, sum)) = parse_value(metric.status, metric.data) else {
                report.ignored += 1;
                continue;
            };
            let mut folds = 0;
            let item = report.items.capped_entry(
                metric.name,
                config.max_metric_names,
                config.max_key_chars,
                &mut folds,
            );
            folded.note(folds);
            item.note_kind(metric.timestamp_ms, kind);
            item.record(minutes.of(metric.timestamp_ms), count, sum);
        }
        report.folded += folded.messages;
    }
}

#[cfg(test)]
mod tests {
    use super::{parse_value, MetricKind};

    #[test]
    fn status_letters_give_count_and_sum() {
        let parse_value = |status, data| parse_value(status, data).map(|(_, c, s)| (c, s));
        assert_eq!(parse_value("C", "5"), Some((5, 5.0)));
        assert_eq!(parse_value("C", ""), Some((1, 1.0)));
        assert_eq!(parse_value("T", "150"), Some((1, 150.0)));
        assert_eq!(parse_value("S", "2.5"), Some((1, 2.5)));
        assert_eq!(parse_value("S,C", "2,400"), Some((2, 400.0)));
        assert_eq!(parse_value("X", "1"), None);
        assert_eq!(parse_value("C", "x"), None);
        assert_eq!(parse_value("S,C", "2"), None);
        assert_eq!(parse_value("T", "NaN"), None);
        assert_eq!(parse_value("C", "abc"), None);
        // Counts past 2^53, however written, are a broken client's.
        assert_eq!(
            parse_value("C", "9007199254740992"),
            Some((1 << 53, 2f64.powi(53)))
        );
        for huge in [
            "9007199254740993",
            "1e308",
            "99999999999999999999999",
            "inf",
        ] {
            assert_eq!(parse_value("C", huge), None, "{huge}");
        }
        assert_eq!(parse_value("S,C", "18446744073709551615,1"), None);
        assert_eq!(
            super::parse_value("S,C", "2,400").map(|(kind, ..)| kind),
            Some(MetricKind::SumAndCount)
        );
    }
}
