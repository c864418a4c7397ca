//! Ocelot's analyzers (`ocelot-analyzer`): pure report logic. Message trees in, mergeable
//! hourly reports out. No I/O, no clock, no threads: each of the collector's analyzer
//! threads owns one [`HourAnalyzers`] (the six domain reports) per open hour, feeds it
//! trees, checkpoints its reports (serde) and seals them at the end of the hour; the web
//! crate merges reports and renders their views as JSON.
//!
//! Every report kind but State (which the collector fills in itself, with no analyzer) has
//! the same shape:
//! `XAnalyzer::{new, process, reports, from_reports}` and
//! `XReport::{merge, view}` with `XReport: Serialize + Deserialize + Clone + Default`.
//!
//! ```
//! use std::sync::Arc;
//! use ocelot_analyzer::{AnalyzerConfig, TransactionAnalyzer, ViewQuery};
//! use ocelot_protocol::{Header, Message, MessageTree, Transaction};
//!
//! let mut root = Transaction::new("URL", "/order/42", 1_795_331_315_581);
//! root.duration_us = 20_000;
//! let header = Header { domain: "shop".into(), ip_address: "10.0.0.1".into(), ..Header::default() };
//! let tree = MessageTree::new(header, Message::Transaction(root));
//!
//! let mut analyzer = TransactionAnalyzer::new(498_703, Arc::new(AnalyzerConfig::default()));
//! analyzer.process(&tree);
//! let view = analyzer.reports()["shop"].view(&ViewQuery { elapsed_seconds: 3600.0, ..ViewQuery::default() });
//! assert_eq!(view.types[0].names[0].name, "/order/{num}");
//! assert!((view.types[0].figures.p95 - 20.0).abs() < 0.2);
//! ```

mod analyzer;
mod batch;
mod cardinality;
mod config;
mod day;
mod dependency;
mod domain_reports;
mod event;
mod frugal_vec;
mod heartbeat;
mod histogram;
mod hour;
mod matrix;
mod message_ids;
mod metric;
mod minute;
mod open_minute;
mod overview;
mod position_index;
mod problem;
mod sample_id;
mod sample_ids;
mod sorted_map;
mod span;
mod state;
#[cfg(test)]
mod test_support;
mod transaction;
mod transaction_walk;
mod tree_counter;
mod view_query;

pub use analyzer::Analyzer;
pub use config::{AnalyzerConfig, LongThresholds, OTHERS};
pub use day::{Day, SpanHead};
pub use dependency::{DependencyEdgeView, DependencyMinuteView, DependencyView};
pub use domain_reports::DomainReports;
pub use event::{
    EventAnalyzer, EventDateView, EventDay, EventDayView, EventHourView, EventMinuteView,
    EventNameView, EventReport, EventSpanView, EventTypeView, EventView,
};
pub use heartbeat::{HeartbeatAnalyzer, HeartbeatMinuteView, HeartbeatReport, HeartbeatView};
pub use histogram::{DurationHistogram, RELATIVE_ACCURACY};
pub use hour::{HourAnalyzers, HourReports};
pub use matrix::{
    MatrixAnalyzer, MatrixCallsView, MatrixDay, MatrixDayView, MatrixNameView, MatrixReport,
    MatrixSpanView, MatrixView,
};
pub use metric::{MetricAnalyzer, MetricItemView, MetricMinuteView, MetricReport, MetricView};
pub use overview::DomainOverview;
pub use problem::{
    long_buckets_ms, ProblemAnalyzer, ProblemDateView, ProblemDay, ProblemDayView,
    ProblemDurationView, ProblemEntryView, ProblemHourView, ProblemMinuteView, ProblemReport,
    ProblemSpanView, ProblemView,
};
pub use sample_id::ParsedId;
pub use span::Span;
pub use state::{
    DropKey, ProcessingView, ReceivedView, StateMinuteView, StateReport, StateView, DUPLICATE_DROP,
    MAX_STATE_KEYS, OUT_OF_WINDOW_DROP, STATE_DOMAIN, STATE_REPORT_NAME,
};
pub use transaction::{
    DurationBucketView, DurationFigures, TransactionAnalyzer, TransactionDateView, TransactionDay,
    TransactionDayView, TransactionHourView, TransactionMinuteView, TransactionNameView,
    TransactionReport, TransactionSpanView, TransactionTypeView, TransactionView,
};
pub use transaction_walk::ReportNames;
pub use view_query::{day_label, hour_label, tps, ViewQuery, HOURS_PER_DAY};
