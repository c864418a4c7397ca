//! The metric (business) report (cat-design 1.8, 6.5): per domain, name and minute: count,
//! sum and average of the `M` records clients send.

mod analyzer;
mod report;
#[cfg(test)]
mod tests;

pub use analyzer::MetricAnalyzer;
pub use report::{MetricItemView, MetricMinuteView, MetricReport, MetricView};
