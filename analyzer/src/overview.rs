//! What an overview of many domains (the web UI's home page) reads of each: the part of its
//! Transaction report about its entry transactions, how many of its transactions were
//! folded into `OTHERS` by a cap, and how many problems it had, errors and long executions
//! apart (500 slow requests are not 500 failures). A live
//! report is queried on the analyzer thread that holds it, which takes no tree meanwhile;
//! this copies a tenth of a busy domain's reports where the whole copies took tens of
//! milliseconds.

use std::collections::BTreeMap;

use crate::{ProblemReport, TransactionReport};

/// Entry transaction types, in order of preference: a web app's, then an RPC server's.
const ENTRY_TYPES: [&str; 2] = ["URL", "Service"];

/// One domain of an hour in brief.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DomainOverview {
    /// The Transaction report scoped to the entry type ([`TransactionReport::entry_type`]):
    /// every machine listed, only that type's names kept. `None` without transactions.
    pub entry: Option<TransactionReport>,
    /// [`TransactionReport::folded`] of the whole report (of every type, not only the
    /// entry type): transactions counted under `OTHERS` because a cap was reached; 0
    /// without transactions.
    pub folded: u64,
    /// [`ProblemReport::total_count`]: errors and long executions together (and any other
    /// category a stored report holds); 0 without problems.
    pub problems: u64,
    /// [`ProblemReport::error_count`]: of `problems`, the errors; 0 without problems.
    pub errors: u64,
    /// [`ProblemReport::long_count`]: of `problems`, the long executions, which did not
    /// fail; 0 without problems.
    pub long_executions: u64,
}

impl DomainOverview {
    /// The overview of a domain from its reports.
    pub fn of(
        transactions: Option<&TransactionReport>,
        problems: Option<&ProblemReport>,
    ) -> DomainOverview {
        DomainOverview {
            entry: transactions.and_then(|report| {
                let type_ = report.entry_type()?;
                Some(report.scoped(None, Some(&type_)))
            }),
            folded: transactions.map_or(0, TransactionReport::folded),
            problems: problems.map_or(0, ProblemReport::total_count),
            errors: problems.map_or(0, ProblemReport::error_count),
            long_executions: problems.map_or(0, ProblemReport::long_count),
        }
    }
}

impl TransactionReport {
    /// The domain's entry transactions, what its requests are: type `URL` when any machine
    /// has it (a web app), else `Service` (an RPC server), else the busiest type (the first
    /// by name of equally busy ones). `None` without any transaction.
    pub fn entry_type(&self) -> Option<String> {
        let has = |type_: &str| self.machines.values().any(|m| m.types.get(type_).is_some());
        if let Some(found) = ENTRY_TYPES.iter().find(|t| has(t)) {
            return Some((*found).to_owned());
        }
        busiest(&self.type_counts())
    }
}

/// The busiest type of `counts`, the first by name of equally busy ones.
fn busiest(counts: &BTreeMap<String, u64>) -> Option<String> {
    let most = counts.values().copied().max()?;
    counts
        .iter()
        .find(|(_, count)| **count == most)
        .map(|(type_, _)| type_.clone())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use ocelot_protocol::{Header, Message, MessageTree, Transaction};

    use super::*;
    use crate::{AnalyzerConfig, ProblemAnalyzer, TransactionAnalyzer, ViewQuery};

    const HOUR: u64 = 498_703;

    fn tree(ip: &str, type_: &str, name: &str, status: &str) -> MessageTree {
        let mut t = Transaction::new(type_, name, HOUR * 3_600_000 + 1_000);
        t.duration_us = 4_000;
        t.status = status.into();
        let header = Header {
            domain: "shop".into(),
            ip_address: ip.into(),
            ..Header::default()
        };
        MessageTree::new(header, Message::Transaction(t))
    }

    fn report(trees: &[MessageTree]) -> TransactionReport {
        report_with(AnalyzerConfig::default(), trees)
    }

    fn report_with(config: AnalyzerConfig, trees: &[MessageTree]) -> TransactionReport {
        let mut analyzer = TransactionAnalyzer::new(HOUR, Arc::new(config));
        for t in trees {
            analyzer.process(t);
        }
        analyzer.reports()["shop"].clone()
    }

    #[test]
    fn the_entry_type_is_url_else_service_else_the_busiest() {
        let mut trees = vec![
            tree("10.0.0.1", "SQL", "select", "0"),
            tree("10.0.0.1", "SQL", "update", "0"),
            tree("10.0.0.2", "Service", "order.create", "0"),
        ];
        assert_eq!(report(&trees).entry_type().as_deref(), Some("Service"));
        trees.push(tree("10.0.0.2", "URL", "/order", "0"));
        assert_eq!(
            report(&trees).entry_type().as_deref(),
            Some("URL"),
            "on any machine"
        );
        let job = [
            tree("10.0.0.1", "SQL", "select", "0"),
            tree("10.0.0.1", "Job", "nightly", "0"),
            tree("10.0.0.2", "Job", "hourly", "0"),
            tree("10.0.0.2", "SQL", "select", "0"),
            tree("10.0.0.2", "Cache", "get", "0"),
        ];
        assert_eq!(
            report(&job).entry_type().as_deref(),
            Some("Job"),
            "the first of the busiest"
        );
        assert_eq!(TransactionReport::default().entry_type(), None);
    }

    #[test]
    fn the_overview_keeps_every_machine_and_only_the_entry_type() {
        let trees = [
            tree("10.0.0.1", "URL", "/order", "0"),
            tree("10.0.0.1", "URL", "/order", "timeout"),
            tree("10.0.0.1", "SQL", "select", "0"),
            tree("10.0.0.2", "SQL", "select", "0"),
        ];
        let whole = report(&trees);
        let mut problems = ProblemAnalyzer::new(HOUR, Arc::new(AnalyzerConfig::default()));
        for t in &trees {
            problems.process(t);
        }
        let problem_report = &problems.reports()["shop"];
        let overview = DomainOverview::of(Some(&whole), Some(problem_report));
        assert_eq!(overview.problems, problem_report.total_count());
        assert_eq!(overview.problems, 1, "the failed URL");
        let entry = overview.entry.expect("a URL type");
        let query = ViewQuery {
            type_: Some("URL"),
            elapsed_seconds: 3600.0,
            ..ViewQuery::default()
        };
        assert_eq!(entry.view(&query), whole.view(&query));
        assert_eq!(entry.type_counts().keys().collect::<Vec<_>>(), ["URL"]);
        assert_eq!(entry.view(&ViewQuery::default()).ips.len(), 2);
        assert_eq!(DomainOverview::of(None, None), DomainOverview::default());
    }

    /// Home showed one problem count, so 500 slow requests read as 500 failures.
    #[test]
    fn the_overview_counts_errors_apart_from_long_executions() {
        let mut slow = tree("10.0.0.1", "URL", "/search", "0");
        if let Message::Transaction(t) = &mut slow.root {
            t.duration_us = 5_000_000;
        }
        let mut trees = vec![slow.clone(), slow.clone(), slow];
        trees.push(tree("10.0.0.2", "URL", "/pay", "timeout"));
        let mut problems = ProblemAnalyzer::new(HOUR, Arc::new(AnalyzerConfig::default()));
        for t in &trees {
            problems.process(t);
        }
        let problem_report = &problems.reports()["shop"];
        let overview = DomainOverview::of(Some(&report(&trees)), Some(problem_report));
        assert_eq!(
            (overview.problems, overview.errors, overview.long_executions),
            (4, 1, 3)
        );
        let only_slow = DomainOverview::of(None, Some(problem_report)).long_executions;
        assert_eq!(only_slow, 3);
        assert_eq!(DomainOverview::of(None, None).errors, 0);
    }

    #[test]
    fn the_overview_counts_the_transactions_folded_by_any_type() {
        // Two names a type: the third URL and the third SQL statement fold into `OTHERS`.
        let config = AnalyzerConfig {
            max_names_per_type: 2,
            ..AnalyzerConfig::default()
        };
        let mut trees: Vec<_> = ["/a", "/b", "/c"]
            .into_iter()
            .map(|name| tree("10.0.0.1", "URL", name, "0"))
            .collect();
        trees.extend(
            ["select", "update", "delete"]
                .into_iter()
                .map(|name| tree("10.0.0.1", "SQL", name, "0")),
        );
        let whole = report_with(config.clone(), &trees);
        assert_eq!(whole.folded(), 2);
        let overview = DomainOverview::of(Some(&whole), None);
        assert_eq!(
            overview.folded, 2,
            "the SQL name too, not only the entry type's"
        );

        let kept = report_with(config, &trees[..2]);
        assert_eq!(DomainOverview::of(Some(&kept), None).folded, 0);
    }
}
