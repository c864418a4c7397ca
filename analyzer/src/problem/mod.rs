//! The problem report (cat-design 6.3): errors and long executions per domain, machine,
//! category, type and name, with minutes and up to 60 sample message IDs.
//!
//! Differences from CAT, on purpose: a failed transaction is category `error` with the
//! transaction's type (CAT files it under a category named after the type); a long
//! execution is one entry per name at or over one threshold per category (CAT also splits
//! by threshold bucket); the per-domain thresholds replace the defaults.

mod analyzer;
mod day;
mod report;
#[cfg(test)]
mod tests;

pub use analyzer::ProblemAnalyzer;
pub use day::{ProblemDay, ProblemDayView};
pub use report::{
    ProblemEntryView, ProblemHourView, ProblemMinuteView, ProblemReport, ProblemView,
};
