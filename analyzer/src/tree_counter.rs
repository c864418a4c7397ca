//! [`MachineCounter`]: what the Transaction, Event and Problem analyzers hold while they
//! count one tree (see `HourAnalyzers::process`).

use crate::config::AnalyzerConfig;
use crate::minute::hour_start_ms;
#[cfg(doc)]
use crate::minute::minute_in_hour;

/// One tree's counting into the entries of its machine `M` (found once per tree), with
/// what folded into `OTHERS` meanwhile; added to the report's count when dropped.
pub(crate) struct MachineCounter<'a, M> {
    pub(crate) config: &'a AnalyzerConfig,
    /// The report's hour's first millisecond: the tree's messages count in its minutes
    /// ([`minute_in_hour`]).
    pub(crate) hour_start_ms: u64,
    pub(crate) machine: &'a mut M,
    pub(crate) folded: u64,
    /// What is left of the analyzer's entry budget for the hour
    /// ([`AnalyzerConfig::max_entries_per_hour`]).
    pub(crate) entries_left: &'a mut usize,
    report_folded: &'a mut u64,
}

impl<'a, M> MachineCounter<'a, M> {
    /// A counter into `machine`, with `folded` keys folded already (the domain's and the
    /// machine's lookups), adding to `report_folded` at the end.
    pub(crate) fn new(
        config: &'a AnalyzerConfig,
        hour: u64,
        machine: &'a mut M,
        folded: u64,
        report_folded: &'a mut u64,
        entries_left: &'a mut usize,
    ) -> Self {
        MachineCounter {
            config,
            hour_start_ms: hour_start_ms(hour),
            machine,
            folded,
            entries_left,
            report_folded,
        }
    }
}

impl<M> Drop for MachineCounter<'_, M> {
    fn drop(&mut self) {
        *self.report_folded += self.folded;
    }
}
