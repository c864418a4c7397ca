//! The dependency view (cat-design 6.5): per domain and hour, what the domain depends on and
//! who depends on it, edge by edge: databases (`SQL.Database` events), the services it calls
//! (`Call.app`, `PigeonCall.app`) and the callers of its services (`Service.app`,
//! `PigeonService.app`), each with the calls' count, failures, durations and minutes.
//!
//! An edge is kept in the Event report, in the entry of the event that names it
//! ([`DependencyEdge`]): counting an event already finds that entry, so an edge costs no
//! lookup of its own. [`EventReport::dependencies`](crate::EventReport::dependencies) reads
//! them out.

mod edges;
mod report;
#[cfg(test)]
mod tests;

pub(crate) use edges::{edge_call, edge_kind, is_edge_event, Parents};
pub(crate) use report::{view_of, DependencyEdge};
pub use report::{DependencyEdgeView, DependencyMinuteView, DependencyView};
