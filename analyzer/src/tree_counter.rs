//! [`MachineCounter`]: what the Transaction, Event and Problem analyzers hold while they
//! count one tree (see `HourAnalyzers::process`).

use ocelot_protocol::TreeView;

use crate::config::{AnalyzerConfig, OTHERS};
use crate::domain_reports::DomainReports;
use crate::minute::{hour_start_ms, TreeMinutes};
use crate::sorted_map::SortedMap;

/// One tree's counting into the entries of its machine `M` (found once per tree), with
/// how many of its messages folded into `OTHERS` meanwhile; added to the report's count
/// when dropped.
pub(crate) struct MachineCounter<'a, M> {
    pub(crate) config: &'a AnalyzerConfig,
    /// Which minute of the report's hour each of the tree's messages counts in.
    pub(crate) minutes: TreeMinutes,
    pub(crate) machine: &'a mut M,
    /// Messages of the tree counted under an `OTHERS` key so far.
    pub(crate) folded: FoldedMessages,
    /// What is left of the analyzer's entry budget for the hour
    /// ([`AnalyzerConfig::max_entries_per_hour`]).
    pub(crate) entries_left: &'a mut usize,
    /// Batch messages (`@...`) of the tree dropped because their data did not parse.
    pub(crate) malformed_batches: u64,
    report_folded: &'a mut u64,
    /// The report's count of malformed batches, for a report that reads batch data.
    report_malformed_batches: Option<&'a mut u64>,
}

/// A report kept per machine, as the Transaction, Event and Problem reports are: what
/// [`MachineCounter::of_tree`] needs of it.
pub(crate) trait MachineReport {
    type Machine: Default;
    /// An empty report of `domain` and `hour`.
    fn new_report(domain: &str, hour: u64) -> Self;
    /// The machines, the report's count of messages folded into `OTHERS`, and its count
    /// of malformed batch messages if it has one.
    fn machines_and_counts(&mut self) -> MachinesAndCounts<'_, Self::Machine>;
}

/// What [`MachineReport::machines_and_counts`] lends.
pub(crate) type MachinesAndCounts<'a, M> = (&'a mut SortedMap<M>, &'a mut u64, Option<&'a mut u64>);

/// `impl MachineReport` for a report with `machines` and `folded` fields, and a third
/// field, if named, that counts malformed batch messages.
macro_rules! machine_report {
    ($report:ty, $machine:ty $(, $malformed:ident)?) => {
        impl $crate::tree_counter::MachineReport for $report {
            type Machine = $machine;
            fn new_report(domain: &str, hour: u64) -> Self {
                <$report>::new(domain, hour)
            }
            fn machines_and_counts(
                &mut self,
            ) -> $crate::tree_counter::MachinesAndCounts<'_, $machine> {
                // `None`, or the named field when there is one.
                let malformed: Option<&mut u64> = None $(.or(Some(&mut self.$malformed)))?;
                (&mut self.machines, &mut self.folded, malformed)
            }
        }
    };
}
pub(crate) use machine_report;

impl<'a, M: Default> MachineCounter<'a, M> {
    /// The counter of `tree` in `reports`: its domain's report (made on demand) and its
    /// machine, found once under `config`'s caps and the hour's entry budget.
    pub(crate) fn of_tree<R: MachineReport<Machine = M>>(
        reports: &'a mut DomainReports<R>,
        config: &'a AnalyzerConfig,
        hour: u64,
        tree: &TreeView<'_>,
        entries_left: &'a mut usize,
    ) -> Self {
        let mut folded = 0;
        let report = reports.of_domain(tree.domain, config, &mut folded, |domain| {
            R::new_report(domain, hour)
        });
        let (machines, report_folded, report_malformed_batches) = report.machines_and_counts();
        let machine = machines.budgeted_entry(
            tree.ip_address,
            config.max_machines_per_domain,
            config.max_key_chars,
            &mut folded,
            entries_left,
        );
        MachineCounter {
            config,
            minutes: TreeMinutes::of_root(
                hour_start_ms(hour),
                tree.root().map(|root| root.timestamp_ms),
            ),
            machine,
            folded: FoldedMessages::of_tree(tree.domain, folded),
            entries_left,
            malformed_batches: 0,
            report_folded,
            report_malformed_batches,
        }
    }
}

/// How many messages of one tree a report counted under an `OTHERS` key.
///
/// A report's `folded` counts messages, each once, whether one of its own keys (type,
/// name, status code) folded or its tree's domain or machine did: how many messages are
/// not under their own names, what an operator weighs against the hour's total. Not the
/// number of distinct keys refused: that would need the keys kept, which is what the caps
/// are there to avoid.
pub(crate) struct FoldedMessages {
    /// Whether the tree's domain or machine is `OTHERS` for a cap: then each of its
    /// messages counts as folded.
    pub(crate) tree_folded: bool,
    pub(crate) messages: u64,
}

impl FoldedMessages {
    /// None yet of a tree of `domain`, for which the domain and machine lookups folded
    /// `folds` keys. A tree that comes with `OTHERS` as its domain is folded too: the
    /// collector files a domain past the hour's cap there before the analyzers see it (its
    /// cap is over all analyzer threads; an analyzer's own cap, over its thread's domains,
    /// would not fold it). A client that names its domain `OTHERS` counts as folded too.
    #[inline]
    pub(crate) fn of_tree(domain: &str, folds: u64) -> Self {
        FoldedMessages {
            tree_folded: folds != 0 || domain == OTHERS,
            messages: 0,
        }
    }

    /// Notes one message counted; `folds` is how many of its own keys a cap sent to
    /// `OTHERS` (as the capped lookups count them).
    #[inline]
    pub(crate) fn note(&mut self, folds: u64) {
        self.messages += u64::from(self.tree_folded | (folds != 0));
    }
}

impl<M> Drop for MachineCounter<'_, M> {
    fn drop(&mut self) {
        *self.report_folded += self.folded.messages;
        if let Some(report) = self.report_malformed_batches.as_deref_mut() {
            *report += self.malformed_batches;
        }
    }
}
