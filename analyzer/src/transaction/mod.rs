//! The transaction report (cat-design 6.1): per domain, machine, type and name: count,
//! failures, durations, percentiles, minutes, status codes and sample message IDs, and for
//! a name asked for by name its duration distribution.

mod analyzer;
mod day;
mod distribution;
mod report;
mod status_counts;
#[cfg(test)]
mod tests;

pub use analyzer::TransactionAnalyzer;
pub use day::{TransactionDay, TransactionDayView, TransactionSpanView};
pub use distribution::DurationBucketView;
pub use report::{
    DurationFigures, TransactionDateView, TransactionHourView, TransactionMinuteView,
    TransactionNameView, TransactionReport, TransactionTypeView, TransactionView,
};
