//! [`Alerting`]: the engine, the notifier and the log together, what `ocelot serve` runs
//! once per tick.

use crate::alert_log::AlertLog;
use crate::engine::{Engine, ReportRef};
use crate::evaluator::AlertEvent;
use crate::notify::Notifier;
use crate::report_history::ReportHistory;
use crate::rules::RuleSet;

/// Live alerting: call [`Alerting::tick`] every few seconds from a thread that may block
/// (notifications are sent synchronously, with timeouts).
///
/// One tick of `ocelot serve`'s loop, with the collector's reports replaced by an empty
/// memory history (a real loop fetches each [`ReportRef`] with
/// `collector.transaction_report(&r.domain, r.hour).await` etc., and layers the result
/// over a [`crate::StoreHistory`] with [`crate::Overlay`]):
///
/// ```
/// use ocelot_alert::{Alerting, MemoryHistory, RuleSet};
///
/// let rules = RuleSet::from_toml_str(r#"
///     [[rule]]
///     id = "shop-silent"
///     domain = "shop"
///     report = "transaction"
///     measure = "count"
///     below = 1.0
/// "#, None).unwrap();
/// let mut alerting = Alerting::new(rules);
/// let log = alerting.log(); // for the web server
///
/// let now_ms = 1_795_331_315_581; // collector.now_ms()
/// let mut live = MemoryHistory::new();
/// for wanted in alerting.wanted_reports(now_ms) {
///     // live.insert(&wanted.domain, wanted.hour, Report::Transaction(report)) for each
///     // report the collector has; then mark the hour as watched:
///     live.cover(wanted.hour);
/// }
/// let events = alerting.tick(now_ms, &live);
/// assert_eq!(events[0].rule, "shop-silent", "a watched hour without shop's report: count 0");
/// let body = serde_json::to_string(&log.snapshot()).unwrap(); // GET /api/alerts
/// assert!(body.contains(r#""phase":"firing""#));
/// ```
#[derive(Debug)]
pub struct Alerting {
    engine: Engine,
    notifier: Notifier,
    log: AlertLog,
}

impl Alerting {
    /// Alerting over `rules`, with an empty log.
    pub fn new(rules: RuleSet) -> Alerting {
        let log = AlertLog::new();
        let notifier = Notifier::for_rules(&rules, log.clone());
        let engine = Engine::new(rules);
        log.set_rules(engine.statuses());
        Alerting {
            engine,
            notifier,
            log,
        }
    }

    /// The log, for the web server (`snapshot()` is `GET /api/alerts`).
    pub fn log(&self) -> AlertLog {
        self.log.clone()
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The engine, e.g. to [`Engine::invalidate_baselines`].
    pub fn engine_mut(&mut self) -> &mut Engine {
        &mut self.engine
    }

    /// The open-hour reports the next tick at `now_ms` reads; fetch them from the
    /// collector into a [`crate::MemoryHistory`] layered over the store.
    pub fn wanted_reports(&self, now_ms: u64) -> Vec<ReportRef> {
        self.engine.wanted_reports(now_ms)
    }

    /// Evaluates the minutes settled by `now_ms`, records the events, notifies the
    /// targets (blocking) and updates the rule states. Returns the events.
    pub fn tick(&mut self, now_ms: u64, history: &dyn ReportHistory) -> Vec<AlertEvent> {
        let events = self.engine.evaluate(now_ms, history);
        self.log.set_rules(self.engine.statuses());
        for event in &events {
            self.log.record_event(event);
        }
        for event in &events {
            self.notifier.notify(event);
        }
        events
    }
}
