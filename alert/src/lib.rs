//! Ocelot's alerting (`ocelot-alert`): rules on per-minute report figures, compared with a
//! static threshold or with a baseline built from the same minute of past days; alerts as
//! state machines (pending -> firing -> resolved) with suppression; webhook notifications
//! (http and https); and replay of rules over stored reports.
//!
//! Where it sits: it reads the analyzer's reports (the open hours from the collector, past
//! hours from the store) through [`ReportHistory`], with the collector's State reports
//! (which minutes it was running in: the others are no data for baselines and replay),
//! and gives the web server an [`AlertSnapshot`] to show. It depends on neither the
//! collector nor the web crate, and never reads the clock for evaluation: callers pass
//! `now_ms`. The rule file format is in docs/alerting.md.
//!
//! ```
//! use std::sync::Arc;
//! use ocelot_alert::{format_events, replay, MemoryHistory, Report, RuleSet};
//! use ocelot_analyzer::{AnalyzerConfig, EventAnalyzer};
//! use ocelot_protocol::{Header, Leaf, Message, MessageTree};
//!
//! let rules = RuleSet::from_toml_str(r#"
//!     [[rule]]
//!     id = "logins-failing"
//!     domain = "shop"
//!     report = "event"
//!     type = "Login"
//!     measure = "fail"
//!     above = 2.0
//!     for_minutes = 2
//! "#, None).unwrap();
//!
//! // Minutes 10 to 12 of one hour have 5 failed logins each.
//! let hour = 498_703;
//! let mut analyzer = EventAnalyzer::new(hour, Arc::new(AnalyzerConfig::default()));
//! for minute in 10..13 {
//!     for _ in 0..5 {
//!         let at = hour * 3_600_000 + minute * 60_000;
//!         let event = Leaf::new("Login", "password", "denied", at, "");
//!         let header = Header { domain: "shop".into(), ..Header::default() };
//!         analyzer.process(&MessageTree::new(header, Message::Event(event)));
//!     }
//! }
//! let mut history = MemoryHistory::new();
//! history.insert("shop", hour, Report::Event(analyzer.reports()["shop"].clone()));
//!
//! let events = replay(&rules, &history, hour, hour);
//! let text = format_events(&events);
//! assert!(text.starts_with("2026-11-22T07:11Z  FIRED     logins-failing  shop event Login  fail=5"));
//! assert!(text.contains("2026-11-22T07:13Z  RESOLVED  logins-failing"));
//! ```

mod alert_log;
mod alerting;
mod baseline;
mod email;
mod engine;
mod error;
mod evaluator;
mod notify;
mod replay;
mod report_history;
mod rules;
mod series;
mod state_file;
mod time;
mod tls;
mod up_minutes;

pub use alert_log::{
    AlertCounters, AlertLog, AlertSnapshot, NotificationAttempt, TargetCounters,
    MAX_LOGGED_ATTEMPTS, MAX_LOGGED_EVENTS,
};
pub use alerting::{Alerting, Stopped, MAX_QUEUED_NOTIFICATIONS, NOT_SENT_AT_STOP};
pub use baseline::{
    BaselineConfig, DEFAULT_DAYS_BACK, DEFAULT_SMOOTHING_WINDOW_MINUTES, DEFAULT_WEIGHTS,
};
pub use email::{EmailConfig, DEFAULT_SMTP_PORT};
pub use engine::{board_path, Engine, ReportRef, RuleStatus, MAX_CATCH_UP_MINUTES};
pub use error::AlertError;
pub use evaluator::{AlertEvent, AlertKind, AlertPhase, MinutePoint};
pub use notify::{
    Notifier, WebhookConfig, DEFAULT_RETRIES, DEFAULT_RETRY_BACKOFF_MS, DEFAULT_TIMEOUT_MS,
    MAX_RETRIES, MAX_RETRY_BACKOFF_MS, MAX_TIMEOUT_MS,
};
pub use replay::{format_events, replay, replay_command};
pub use report_history::{MemoryHistory, Overlay, Report, ReportHistory, StoreHistory};
pub use rules::{
    AlertConfig, Condition, Direction, Measure, ReportKind, Rule, RuleConfig, RuleSet, Scope,
    DEFAULT_BOARD_URL, DEFAULT_SETTLE_SECONDS, DEFAULT_SUPPRESS_MINUTES, MAX_SETTLE_SECONDS,
};
pub use series::minute_series;
pub use state_file::{Restored, Saved, STATE_FORMAT_VERSION};
pub use time::{
    parse_hour_label, MinuteLabel, MILLIS_PER_MINUTE, MINUTES_PER_DAY, MINUTES_PER_HOUR,
};
