//! [`Evaluator`]: the state machine of one rule, fed one minute at a time.
//!
//! ```text
//!            bad                    bad x for_minutes               good x resolve_minutes
//!   ok ──────────────> pending ───────────────────────> firing ───────────────────────────> ok
//!    ^                    │ good                          (Fired)                    (Resolved)
//!    └────────────────────┘
//! ```
//!
//! One incident gives one `Fired` and one `Resolved` event. The suppression window stops a
//! flapping series from paging repeatedly: an incident that fires within
//! `suppress_minutes` of the last *notified* one is recorded with `suppressed = true`, and
//! so is its resolution; notifiers skip suppressed events. A suppressed incident still
//! firing when the window ends is notified then (a `Fired` event of that minute), and its
//! resolution with it. Time is an input: the evaluator
//! never reads a clock, it is told which minute each value belongs to.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::rules::{Condition, Measure, Rule, Scope};
use crate::time::minute_label;

/// One minute's value and baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MinutePoint {
    /// Epoch minute (`epoch_ms / 60_000`).
    pub minute: u64,
    /// `2026-11-22T08:15Z`.
    pub time: String,
    /// The measure's value, if the minute had one.
    pub value: Option<f64>,
    /// The baseline of that minute, if the rule uses one and history has it.
    pub baseline: Option<f64>,
}

/// What happened to an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertKind {
    /// The condition held for `for_minutes` consecutive minutes.
    Fired,
    /// A firing alert's condition stopped holding for `resolve_minutes` minutes.
    Resolved,
}

impl fmt::Display for AlertKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AlertKind::Fired => "FIRED",
            AlertKind::Resolved => "RESOLVED",
        })
    }
}

/// Where an alert is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertPhase {
    /// The last minute was good.
    Ok,
    /// Bad, but not yet for `for_minutes` minutes.
    Pending,
    /// Fired and not resolved.
    Firing,
}

/// An alert firing or resolving: what notifications carry and the log shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertEvent {
    /// The rule's id.
    pub rule: String,
    /// Fired or resolved.
    pub kind: AlertKind,
    /// The minute the event happened (the last minute of `minutes`).
    pub minute: u64,
    /// `minute` as `2026-11-22T08:15Z`.
    pub time: String,
    /// What is watched.
    pub scope: Scope,
    /// Which number.
    pub measure: Measure,
    /// The condition, in words.
    pub condition: String,
    /// The value at `minute`.
    pub value: Option<f64>,
    /// The baseline at `minute` (baseline rules).
    pub baseline: Option<f64>,
    /// The first bad minute of the incident.
    pub started_minute: u64,
    /// For `fired`, the bad minutes that made it fire; for `resolved`, the good minutes
    /// that resolved it.
    pub minutes: Vec<MinutePoint>,
    /// A re-fire inside the suppression window: recorded, not notified.
    pub suppressed: bool,
    /// The board of the scope at that hour.
    pub link: String,
    /// Targets to notify.
    pub notify: Vec<String>,
}

/// The current incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Incident {
    /// The first bad minute.
    pub(crate) started_minute: u64,
    /// Fired inside the suppression window: neither it nor its resolution is notified.
    pub(crate) suppressed: bool,
}

/// What of an [`Evaluator`] outlives a restart (`state_file.rs`): the phase and the firing
/// incident, the suppression window, the last minute evaluated, and the run of bad (pending)
/// or good (firing) minutes. The run goes on only if the next minute evaluated is the one
/// after `last`: the minutes a killed process left unevaluated, which the next start
/// evaluates first (`Alerting::start_after`), as a replay does; the minute a start is in
/// is never evaluated, so after that the run is broken, as after any gap.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EvaluatorState {
    /// `ok`, `pending` or `firing`.
    pub(crate) phase: AlertPhase,
    /// The incident of a firing rule.
    pub(crate) incident: Option<Incident>,
    /// The minute of the last notified fire: the suppression window runs from it.
    pub(crate) last_notified_minute: Option<u64>,
    /// The last minute evaluated, as the Alerts page shows it.
    pub(crate) last: Option<MinutePoint>,
    /// A pending rule's bad minutes so far, or a firing rule's good ones, ending at
    /// `last`. Absent from files of builds before it: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) run: Vec<MinutePoint>,
}

/// One rule's state.
#[derive(Debug, Clone)]
pub(crate) struct Evaluator {
    rule: Rule,
    phase: AlertPhase,
    /// Consecutive bad minutes so far (pending), at most `for_minutes` kept.
    bad_run: Vec<MinutePoint>,
    /// Consecutive good minutes while firing.
    good_run: Vec<MinutePoint>,
    incident: Option<Incident>,
    last_notified_minute: Option<u64>,
    last: Option<MinutePoint>,
}

impl Evaluator {
    pub(crate) fn new(rule: Rule) -> Self {
        Evaluator {
            rule,
            phase: AlertPhase::Ok,
            bad_run: Vec::new(),
            good_run: Vec::new(),
            incident: None,
            last_notified_minute: None,
            last: None,
        }
    }

    pub(crate) fn rule(&self) -> &Rule {
        &self.rule
    }

    pub(crate) fn phase(&self) -> AlertPhase {
        self.phase
    }

    pub(crate) fn last(&self) -> Option<&MinutePoint> {
        self.last.as_ref()
    }

    /// A pending rule's bad minutes so far (consecutive, ending at the last one evaluated,
    /// fewer than `for_minutes`); empty unless pending.
    pub(crate) fn pending_run(&self) -> &[MinutePoint] {
        match self.phase {
            AlertPhase::Pending => &self.bad_run,
            AlertPhase::Ok | AlertPhase::Firing => &[],
        }
    }

    /// What a restart keeps of this rule's state.
    pub(crate) fn state(&self) -> EvaluatorState {
        let firing = self.phase == AlertPhase::Firing;
        let run = match self.phase {
            AlertPhase::Ok => &[][..],
            AlertPhase::Pending => &self.bad_run[..],
            AlertPhase::Firing => &self.good_run[..],
        };
        EvaluatorState {
            phase: self.phase,
            incident: self.incident.clone().filter(|_| firing),
            last_notified_minute: self.last_notified_minute,
            last: self.last.clone(),
            run: run.to_vec(),
        }
    }

    /// Takes up a saved state, as after [`Evaluator::new`] with the same rule. The state
    /// comes from a file, so it is made consistent rather than trusted: a rule is firing
    /// exactly when it has an incident (resolving needs one), a run is taken up only as
    /// evaluation could have left it (consecutive minutes ending at the last one, fewer
    /// than end it; else a pending rule is `ok`), and labels are recomputed from the
    /// minutes.
    pub(crate) fn restore(&mut self, state: EvaluatorState) {
        let firing = state.phase == AlertPhase::Firing && state.incident.is_some();
        let last_minute = state.last.as_ref().map(|p| p.minute);
        let could_be = |limit: u32| {
            let run = &state.run;
            !run.is_empty()
                && run.len() < limit as usize
                && run.last().map(|p| p.minute) == last_minute
                && run
                    .windows(2)
                    .all(|w| w[0].minute.checked_add(1) == Some(w[1].minute))
        };
        let pending =
            !firing && state.phase == AlertPhase::Pending && could_be(self.rule.for_minutes);
        let resolving = firing && could_be(self.rule.resolve_minutes);
        self.phase = match (firing, pending) {
            (true, _) => AlertPhase::Firing,
            (false, true) => AlertPhase::Pending,
            (false, false) => AlertPhase::Ok,
        };
        let run: Vec<MinutePoint> = if pending || resolving {
            state.run.into_iter().map(relabelled).collect()
        } else {
            Vec::new()
        };
        (self.bad_run, self.good_run) = if pending {
            (run, Vec::new())
        } else {
            (Vec::new(), run)
        };
        self.incident = state.incident.filter(|_| firing);
        self.last_notified_minute = state.last_notified_minute;
        self.last = state.last.map(relabelled);
    }

    /// Breaks the run of bad or good minutes (a pending rule becomes `ok`) unless `minute`
    /// is the one after the last evaluated: runs are of consecutive minutes.
    pub(crate) fn break_run_unless_next(&mut self, minute: u64) {
        if self
            .last
            .as_ref()
            .is_some_and(|p| p.minute.checked_add(1) != Some(minute))
        {
            self.bad_run.clear();
            self.good_run.clear();
            if self.phase == AlertPhase::Pending {
                self.phase = AlertPhase::Ok;
            }
        }
    }

    /// Feeds the next minute; minutes must come in ascending order (a gap restarts the run
    /// of bad or good minutes). `link(minute)` is the board link an event would carry, to
    /// the board of that minute's hour: a fire's first bad minute (an alert that fired at
    /// 17:00 for a run from 16:58 linked to the 17:00 board, a minute of data), a
    /// resolution's last good one.
    pub(crate) fn feed(
        &mut self,
        minute: u64,
        value: Option<f64>,
        baseline: Option<f64>,
        link: impl FnOnce(u64) -> String,
    ) -> Option<AlertEvent> {
        let point = MinutePoint {
            minute,
            time: minute_label(minute),
            value,
            baseline,
        };
        // Runs are of consecutive minutes: after minutes were skipped (the live loop
        // catches up at most an hour after a stall), a run starts again.
        self.break_run_unless_next(minute);
        self.last = Some(point.clone());
        let bad = self.rule.condition.is_breached(value, baseline);
        match (self.phase, bad) {
            (AlertPhase::Ok | AlertPhase::Pending, true) => {
                self.bad_run.push(point);
                if self.bad_run.len() < self.rule.for_minutes as usize {
                    self.phase = AlertPhase::Pending;
                    return None;
                }
                let minutes = std::mem::take(&mut self.bad_run);
                let started_minute = minutes[0].minute;
                let suppressed = self.in_suppression_window(minute);
                if !suppressed {
                    self.last_notified_minute = Some(minute);
                }
                self.incident = Some(Incident {
                    started_minute,
                    suppressed,
                });
                self.phase = AlertPhase::Firing;
                Some(self.event(AlertKind::Fired, minutes, link(started_minute)))
            }
            (AlertPhase::Ok | AlertPhase::Pending, false) => {
                self.bad_run.clear();
                self.phase = AlertPhase::Ok;
                None
            }
            (AlertPhase::Firing, true) => {
                self.good_run.clear();
                // A suppressed incident still going on when the window ends is notified
                // then: the last notification the on-call had may be the `resolved` of
                // the incident before, and the outage could go on for hours unpaged.
                let suppressed = self.incident.as_ref().is_some_and(|i| i.suppressed);
                if !suppressed || self.in_suppression_window(minute) {
                    return None;
                }
                self.last_notified_minute = Some(minute);
                let mut started_minute = minute;
                if let Some(incident) = &mut self.incident {
                    incident.suppressed = false;
                    started_minute = incident.started_minute;
                }
                Some(self.event(AlertKind::Fired, vec![point], link(started_minute)))
            }
            (AlertPhase::Firing, false) => {
                self.good_run.push(point);
                if self.good_run.len() < self.rule.resolve_minutes as usize {
                    return None;
                }
                let minutes = std::mem::take(&mut self.good_run);
                self.phase = AlertPhase::Ok;
                Some(self.event(AlertKind::Resolved, minutes, link(minute)))
            }
        }
    }

    /// Whether a fire at `minute` falls in the suppression window of the last notified
    /// one. The window runs from the notified fire on: one after `minute` can only come
    /// from a restored state written while the clock was ahead (or a hand-edited file),
    /// and must not silence the rule until that time comes.
    fn in_suppression_window(&self, minute: u64) -> bool {
        self.last_notified_minute.is_some_and(|at| {
            (at..at.saturating_add(u64::from(self.rule.suppress_minutes))).contains(&minute)
        })
    }

    fn event(&mut self, kind: AlertKind, minutes: Vec<MinutePoint>, link: String) -> AlertEvent {
        let last = minutes
            .last()
            .expect("an event has at least one minute")
            .clone();
        let incident = match kind {
            AlertKind::Fired => self.incident.clone(),
            AlertKind::Resolved => self.incident.take(),
        }
        .expect("firing alerts have an incident");
        let rule = &self.rule;
        AlertEvent {
            rule: rule.id.clone(),
            kind,
            minute: last.minute,
            time: last.time,
            scope: rule.scope.clone(),
            measure: rule.measure,
            condition: describe(&rule.condition, rule.for_minutes),
            value: last.value,
            baseline: last.baseline,
            started_minute: incident.started_minute,
            minutes,
            suppressed: incident.suppressed,
            link,
            notify: rule.notify.clone(),
        }
    }
}

/// `point` with its label recomputed from its minute (a saved one is not trusted).
fn relabelled(point: MinutePoint) -> MinutePoint {
    MinutePoint {
        time: minute_label(point.minute),
        ..point
    }
}

fn describe(condition: &Condition, for_minutes: u32) -> String {
    if for_minutes == 1 {
        format!("{condition}")
    } else {
        format!("{condition} for {for_minutes} minutes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{ReportKind, Scope};

    fn rule(for_minutes: u32, resolve_minutes: u32, suppress_minutes: u32) -> Rule {
        Rule {
            id: "r".into(),
            scope: Scope {
                domain: "shop".into(),
                report: ReportKind::Transaction,
                type_: None,
                name: None,
                ip: None,
            },
            measure: Measure::Count,
            condition: Condition::Threshold {
                above: Some(10.0),
                below: None,
            },
            for_minutes,
            resolve_minutes,
            suppress_minutes,
            notify: Vec::new(),
        }
    }

    /// Feeds `values` from minute 0 and returns (kind, minute, suppressed) of each event.
    fn run(evaluator: &mut Evaluator, values: &[f64]) -> Vec<(AlertKind, u64, bool)> {
        values
            .iter()
            .enumerate()
            .filter_map(|(minute, v)| {
                evaluator.feed(minute as u64, Some(*v), None, |_| String::new())
            })
            .map(|e| (e.kind, e.minute, e.suppressed))
            .collect()
    }

    #[test]
    fn an_alert_fires_after_for_minutes_bad_minutes_and_resolves_once() {
        let mut evaluator = Evaluator::new(rule(3, 1, 30));
        let events = run(
            &mut evaluator,
            &[1.0, 20.0, 20.0, 1.0, 20.0, 20.0, 20.0, 20.0, 1.0, 1.0],
        );
        assert_eq!(
            events,
            vec![
                (AlertKind::Fired, 6, false),
                (AlertKind::Resolved, 8, false)
            ]
        );
        assert_eq!(evaluator.phase(), AlertPhase::Ok);
    }

    #[test]
    fn the_fired_event_carries_the_bad_minutes_and_the_start() {
        let mut evaluator = Evaluator::new(rule(2, 2, 30));
        let mut events = Vec::new();
        for (minute, v) in [
            (100, 20.0),
            (101, 30.0),
            (102, 1.0),
            (103, 40.0),
            (104, 1.0),
            (105, 1.0),
        ] {
            events.extend(evaluator.feed(minute, Some(v), None, |_| "link".into()));
        }
        let fired = &events[0];
        assert_eq!(
            (fired.kind, fired.minute, fired.started_minute),
            (AlertKind::Fired, 101, 100)
        );
        let values: Vec<_> = fired.minutes.iter().map(|p| p.value).collect();
        assert_eq!(values, vec![Some(20.0), Some(30.0)]);
        assert_eq!(fired.value, Some(30.0));
        assert_eq!(fired.condition, "above 10 for 2 minutes");
        // 102 good, 103 bad again: resolving needs 2 good minutes in a row.
        let resolved = &events[1];
        assert_eq!(
            (resolved.kind, resolved.minute, resolved.started_minute),
            (AlertKind::Resolved, 105, 100)
        );
        assert_eq!(events.len(), 2);
    }

    #[test]
    fn a_refire_inside_the_suppression_window_is_recorded_but_suppressed() {
        let mut evaluator = Evaluator::new(rule(1, 1, 5));
        // Fires at 1, resolves at 2, fires at 3 (suppressed: 3 < 1 + 5), resolves at 4,
        // fires at 6 (6 = 1 + 5: window over).
        let events = run(&mut evaluator, &[1.0, 20.0, 1.0, 20.0, 1.0, 1.0, 20.0, 1.0]);
        assert_eq!(
            events,
            vec![
                (AlertKind::Fired, 1, false),
                (AlertKind::Resolved, 2, false),
                (AlertKind::Fired, 3, true),
                (AlertKind::Resolved, 4, true),
                (AlertKind::Fired, 6, false),
                (AlertKind::Resolved, 7, false),
            ]
        );
    }

    #[test]
    fn a_fire_links_to_the_hour_its_run_began_and_a_resolution_to_its_own() {
        // Bad from 16:58 (minute 1018), fired at 17:00: the 16:00 board shows the run.
        let mut evaluator = Evaluator::new(rule(3, 1, 30));
        let hour_of = |at: u64| format!("hour {}", at / 60);
        for minute in [1018, 1019] {
            assert!(evaluator.feed(minute, Some(20.0), None, hour_of).is_none());
        }
        let fired = evaluator.feed(1020, Some(20.0), None, hour_of).unwrap();
        assert_eq!(
            (fired.kind, fired.link.as_str()),
            (AlertKind::Fired, "hour 16")
        );
        let resolved = evaluator.feed(1021, Some(1.0), None, hour_of).unwrap();
        assert_eq!(
            (resolved.kind, resolved.link.as_str()),
            (AlertKind::Resolved, "hour 17")
        );
    }

    #[test]
    fn minutes_skipped_after_a_stall_break_the_run_of_bad_or_good_minutes() {
        // Two bad minutes, then the live loop stalls and skips to minute 100: three bad
        // minutes in a row were never seen, so `for 3 minutes` has not held.
        let mut evaluator = Evaluator::new(rule(3, 2, 30));
        for minute in [0, 1] {
            assert!(evaluator
                .feed(minute, Some(20.0), None, |_| String::new())
                .is_none());
        }
        assert!(evaluator
            .feed(100, Some(20.0), None, |_| String::new())
            .is_none());
        assert_eq!(evaluator.phase(), AlertPhase::Pending);
        let fired = evaluator.feed(102, Some(20.0), None, |_| String::new());
        assert!(fired.is_none(), "100 and 102 are not consecutive");
        assert!(evaluator
            .feed(103, Some(20.0), None, |_| String::new())
            .is_none());
        let fired = evaluator
            .feed(104, Some(20.0), None, |_| String::new())
            .unwrap();
        assert_eq!((fired.kind, fired.started_minute), (AlertKind::Fired, 102));
        // Resolving needs `resolve_minutes` good minutes in a row too.
        assert!(evaluator
            .feed(105, Some(1.0), None, |_| String::new())
            .is_none());
        assert!(evaluator
            .feed(200, Some(1.0), None, |_| String::new())
            .is_none());
        assert_eq!(evaluator.phase(), AlertPhase::Firing);
        let resolved = evaluator
            .feed(201, Some(1.0), None, |_| String::new())
            .unwrap();
        assert_eq!(resolved.kind, AlertKind::Resolved);
        let minutes: Vec<u64> = resolved.minutes.iter().map(|p| p.minute).collect();
        assert_eq!(minutes, vec![200, 201]);
    }

    #[test]
    fn a_restored_state_is_made_consistent_rather_than_trusted() {
        // Firing without an incident (a hand-edited file): restored as ok, so a good
        // minute cannot reach the resolution that needs one.
        let mut evaluator = Evaluator::new(rule(1, 1, 30));
        evaluator.restore(EvaluatorState {
            phase: AlertPhase::Firing,
            incident: None,
            last_notified_minute: Some(u64::MAX),
            last: Some(MinutePoint {
                minute: u64::MAX,
                time: "garbage".into(),
                value: Some(20.0),
                baseline: None,
            }),
            run: Vec::new(),
        });
        assert_eq!(evaluator.phase(), AlertPhase::Ok);
        assert_eq!(evaluator.last().unwrap().time, minute_label(u64::MAX));
        assert!(evaluator
            .feed(5, Some(1.0), None, |_| String::new())
            .is_none());
        // A notified fire at the end of the range neither overflows nor silences the rule
        // before it.
        let fired = evaluator
            .feed(6, Some(20.0), None, |_| String::new())
            .unwrap();
        assert!(!fired.suppressed);
    }

    #[test]
    fn a_restored_run_goes_on_at_the_next_minute_and_only_as_evaluation_could_leave_it() {
        let point = |minute: u64| MinutePoint {
            minute,
            time: String::new(),
            value: Some(20.0),
            baseline: None,
        };
        let pending = |run: Vec<MinutePoint>| EvaluatorState {
            phase: AlertPhase::Pending,
            incident: None,
            last_notified_minute: None,
            last: Some(point(11)),
            run,
        };
        // Two bad minutes of three, saved: the third fires, started at the first.
        let mut evaluator = Evaluator::new(rule(3, 1, 30));
        evaluator.restore(pending(vec![point(10), point(11)]));
        assert_eq!(evaluator.phase(), AlertPhase::Pending);
        let fired = evaluator
            .feed(12, Some(20.0), None, |_| String::new())
            .unwrap();
        assert_eq!((fired.started_minute, fired.minutes.len()), (10, 3));
        // A run that does not end at the last minute, has a gap, or is long enough to have
        // fired already (a hand-edited file) is dropped: the rule is ok.
        for run in [
            vec![point(9), point(10)],
            vec![point(9), point(11)],
            vec![point(9), point(10), point(11)],
        ] {
            let mut evaluator = Evaluator::new(rule(3, 1, 30));
            evaluator.restore(pending(run));
            assert_eq!(evaluator.phase(), AlertPhase::Ok);
            assert!(evaluator
                .feed(12, Some(20.0), None, |_| String::new())
                .is_none());
        }
        // A minute after a gap breaks a restored run, as any run.
        let mut evaluator = Evaluator::new(rule(2, 1, 30));
        evaluator.restore(pending(vec![point(11)]));
        assert!(evaluator
            .feed(13, Some(20.0), None, |_| String::new())
            .is_none());
    }

    #[test]
    fn a_restored_fire_notified_after_the_evaluated_minute_suppresses_nothing() {
        // Saved while the clock was a day ahead, restored after it was set right: the
        // "last notified" fire lies a day in the future.
        let mut evaluator = Evaluator::new(rule(1, 1, 30));
        evaluator.restore(EvaluatorState {
            phase: AlertPhase::Ok,
            incident: None,
            last_notified_minute: Some(1_000 + 1_440),
            last: None,
            run: Vec::new(),
        });
        let fired = evaluator
            .feed(1_000, Some(20.0), None, |_| String::new())
            .unwrap();
        assert!(!fired.suppressed, "a new incident is paged");
        // Its own fire starts the window as usual.
        assert!(evaluator
            .feed(1_001, Some(1.0), None, |_| String::new())
            .is_some());
        let again = evaluator
            .feed(1_002, Some(20.0), None, |_| String::new())
            .unwrap();
        assert!(again.suppressed);
    }

    #[test]
    fn a_suppressed_incident_still_firing_when_the_window_ends_is_notified() {
        // Fires at 0 (notified) and resolves at 1, so the on-call reads "resolved"; the
        // re-fire at 2 is inside the 5-minute window and suppressed. The outage then goes
        // on: once the window is over (minute 5) it must page, not stay silent for hours.
        let mut evaluator = Evaluator::new(rule(1, 1, 5));
        let mut values = vec![20.0, 1.0];
        values.extend([20.0; 60]);
        let events = run(&mut evaluator, &values);
        assert_eq!(
            events[..3],
            [
                (AlertKind::Fired, 0, false),
                (AlertKind::Resolved, 1, false),
                (AlertKind::Fired, 2, true),
            ]
        );
        assert_eq!(
            events[3..],
            [(AlertKind::Fired, 5, false)],
            "the outage still going on when the window ends is paged, once"
        );
        // Its resolution is sent too, as the incident's.
        let resolved = evaluator
            .feed(62, Some(1.0), None, |_| String::new())
            .unwrap();
        assert_eq!(
            (resolved.kind, resolved.started_minute, resolved.suppressed),
            (AlertKind::Resolved, 2, false)
        );
    }

    #[test]
    fn minutes_without_a_value_are_good() {
        let mut evaluator = Evaluator::new(rule(2, 1, 30));
        assert!(evaluator
            .feed(0, Some(20.0), None, |_| String::new())
            .is_none());
        assert!(evaluator.feed(1, None, None, |_| String::new()).is_none());
        assert!(evaluator
            .feed(2, Some(20.0), None, |_| String::new())
            .is_none());
        assert_eq!(evaluator.phase(), AlertPhase::Pending);
    }
}
