//! [`MachineCounter`]: what the Transaction, Event and Problem analyzers hold while they
//! count one tree (see `HourAnalyzers::process`).

use crate::config::AnalyzerConfig;

/// One tree's counting into the entries of its machine `M` (found once per tree), with
/// what folded into `OTHERS` meanwhile; added to the report's count when dropped.
pub(crate) struct MachineCounter<'a, M> {
    pub(crate) config: &'a AnalyzerConfig,
    pub(crate) machine: &'a mut M,
    pub(crate) folded: u64,
    report_folded: &'a mut u64,
}

impl<'a, M> MachineCounter<'a, M> {
    /// A counter into `machine`, with `folded` keys folded already (the domain's and the
    /// machine's lookups), adding to `report_folded` at the end.
    pub(crate) fn new(
        config: &'a AnalyzerConfig,
        machine: &'a mut M,
        folded: u64,
        report_folded: &'a mut u64,
    ) -> Self {
        MachineCounter {
            config,
            machine,
            folded,
            report_folded,
        }
    }
}

impl<M> Drop for MachineCounter<'_, M> {
    fn drop(&mut self) {
        *self.report_folded += self.folded;
    }
}
