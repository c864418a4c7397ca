//! The state report (cat-design 6.5): the collector's own figures per minute. There is no
//! `StateAnalyzer`: the collector records its figures directly.

mod report;
#[cfg(test)]
mod tests;

pub use report::{
    ProcessingView, ReceivedView, StateMinuteView, StateReport, StateView, MAX_STATE_KEYS,
    STATE_DOMAIN, STATE_REPORT_NAME,
};
