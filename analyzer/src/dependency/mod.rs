//! The dependency report (cat-design 6.5): per domain and hour, what the domain depends on
//! and who depends on it, edge by edge: databases (`SQL.Database` events), the services it
//! calls (`Call.app`, `PigeonCall.app`) and the callers of its services (`Service.app`,
//! `PigeonService.app`), each with the calls' count, failures, durations and minutes.

mod analyzer;
mod report;
#[cfg(test)]
mod tests;

pub(crate) use analyzer::is_edge_event;
pub use analyzer::DependencyAnalyzer;
pub use report::{DependencyEdgeView, DependencyMinuteView, DependencyReport, DependencyView};
