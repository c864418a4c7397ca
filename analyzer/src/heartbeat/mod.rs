//! The heartbeat report (cat-design 1.7, 6.4): per machine and minute, every number of the
//! heartbeat's `<status>` XML as a named series.

mod analyzer;
mod report;
mod status_xml;
#[cfg(test)]
mod tests;

pub use analyzer::HeartbeatAnalyzer;
pub use report::{HeartbeatMinuteView, HeartbeatReport, HeartbeatView};
