//! The problem report (cat-design 6.3): errors and long executions per domain, machine,
//! category, type and name, with minutes and up to 60 sample message IDs.
//!
//! A long execution is counted as CAT counts it: one entry per category, type and name,
//! split into duration buckets (CAT's `duration` elements; the bucket rule is on
//! [`crate::LongThresholds`]).
//!
//! Differences from CAT, on purpose: a failed transaction is category `error` with the
//! transaction's type (CAT files it under a category named after the type); a per-domain
//! threshold replaces the default one also when it is higher (CAT's analyzer only takes one
//! lower than its default buckets, and applies a higher one when its page shows the report:
//! ours is applied as the report is made, so a report reads the same wherever it is shown:
//! the JSON API, the Problem board, a day merged from hours).

mod analyzer;
mod day;
mod report;
#[cfg(test)]
mod tests;

pub use analyzer::{long_buckets_ms, ProblemAnalyzer};
pub use day::{ProblemDay, ProblemDayView, ProblemSpanView};
pub use report::{
    ProblemDateView, ProblemDurationView, ProblemEntryView, ProblemHourView, ProblemMinuteView,
    ProblemReport, ProblemView,
};
