//! The state report (cat-design 6.5): the collector's own figures per minute. There is no
//! `StateAnalyzer`: the collector records its figures directly.

mod report;
#[cfg(test)]
mod tests;

pub use report::{
    DropKey, ProcessingView, ReceivedView, StateMinuteView, StateReport, StateView, DUPLICATE_DROP,
    MAX_STATE_KEYS, OUT_OF_WINDOW_DROP, STATE_DOMAIN, STATE_REPORT_NAME,
};
