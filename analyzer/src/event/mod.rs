//! The event report (cat-design 6.2): per domain, machine, type and name: count, failures,
//! minutes and sample message IDs.

mod analyzer;
mod report;
#[cfg(test)]
mod tests;

pub use analyzer::EventAnalyzer;
pub use report::{EventMinuteView, EventNameView, EventReport, EventTypeView, EventView};
