//! The event report (cat-design 6.2): per domain, machine, type and name: count, failures,
//! minutes and sample message IDs.

mod analyzer;
mod day;
mod report;
#[cfg(test)]
mod tests;

pub use analyzer::EventAnalyzer;
pub use day::{EventDay, EventDayView, EventSpanView};
pub use report::{
    EventDateView, EventHourView, EventMinuteView, EventNameView, EventReport, EventTypeView,
    EventView,
};
