//! [`AlertLog`]: every alert event and notification attempt, kept in memory for the Alerts
//! page and `GET /api/alerts` ([`AlertLog::snapshot`] is the JSON body).
//!
//! Bounded: the newest [`MAX_LOGGED_EVENTS`] events and [`MAX_LOGGED_ATTEMPTS`] attempts
//! are kept; counters count everything since start. Clones share one log. With a state
//! file ([`crate::Alerting::restore_state`]) the events and attempts outlive a restart;
//! the counters do not (they are the process's, as Prometheus counters are).
//!
//! Each event has an id ([`AlertLog::snapshot_with_event_ids`]): its number in the log,
//! counted from the log's first event and kept with the events in the state file. An event
//! keeps its id when older ones are dropped, and a newer event always has a larger one, so
//! a poller's "events after id N" means the same thing from one poll to the next. (Ids
//! were once positions, which moved down as the oldest events were dropped.) The ids of
//! the events kept run without a gap: the oldest's, then one more for each newer event.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::ops::Range;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::engine::RuleStatus;
use crate::evaluator::{AlertEvent, AlertKind};

/// Alert events kept (a day of one incident every 1.5 minutes).
pub const MAX_LOGGED_EVENTS: usize = 1_000;
/// Notification attempts kept.
pub const MAX_LOGGED_ATTEMPTS: usize = 1_000;

/// One try to deliver one event to one target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NotificationAttempt {
    /// When the attempt ended, epoch ms.
    pub at_ms: u64,
    /// The rule.
    pub rule: String,
    /// Fired or resolved.
    pub kind: AlertKind,
    /// The event's minute.
    pub minute: u64,
    /// The target's name (a `[[webhook]]` or `[[email]]` table).
    pub target: String,
    /// `webhook` or `email`.
    pub channel: String,
    /// 1 for the first try; 0 for a record that is not a try: the event found the
    /// notification queue full, was still queued at a stop, or its sending panicked.
    pub attempt: u32,
    /// Whether the target accepted it (webhook: a 2xx status; email: the relay took it).
    pub ok: bool,
    /// The HTTP status of a webhook's answer, a failing one (`HTTP 500` in `error`)
    /// included; none without an answer.
    pub status: Option<u16>,
    /// What went wrong.
    pub error: Option<String>,
    /// How long the attempt took.
    pub elapsed_ms: u64,
    /// The last attempt failed: this event will not reach this target.
    pub gave_up: bool,
}

/// Counters since start.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertCounters {
    /// Alerts fired (suppressed ones included).
    pub fired: u64,
    /// Alerts resolved.
    pub resolved: u64,
    /// Events not notified because of the suppression window.
    pub suppressed: u64,
    /// Deliveries a target accepted.
    pub notifications_sent: u64,
    /// Attempts that failed (each retry counts).
    pub notification_failures: u64,
    /// Deliveries abandoned after the last retry.
    pub notifications_given_up: u64,
    /// Deliveries whose sending panicked (a bug): given up for that target, whose
    /// notification thread goes on with its next event.
    pub notification_panics: u64,
    /// Writes of the alert state file that failed (alerting went on in memory).
    pub state_write_failures: u64,
    /// Minutes a baseline rule was evaluated against a baseline that is not a finite
    /// number: it cannot fire on them ([`crate::Engine::baselines_not_finite`]).
    pub baselines_not_finite: u64,
    /// The notification counters of each target (a `[[webhook]]` or `[[email]]` name), from
    /// 0 at start: they add up to the totals above, and tell which target is failing.
    /// Targets come from the rules file, so there are few.
    pub targets: BTreeMap<String, TargetCounters>,
}

/// One target's notification counters since start.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetCounters {
    /// `webhook` or `email`.
    pub channel: String,
    /// Deliveries the target accepted.
    pub notifications_sent: u64,
    /// Attempts that failed (each retry counts).
    pub notification_failures: u64,
    /// Deliveries abandoned after the last retry (panics included).
    pub notifications_given_up: u64,
    /// Deliveries whose sending panicked.
    pub notification_panics: u64,
}

/// What `GET /api/alerts` returns: rules with their state, then the newest events and
/// attempts first.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertSnapshot {
    /// Every rule and its current state.
    pub rules: Vec<RuleStatus>,
    /// Counters since start.
    pub counters: AlertCounters,
    /// Newest first.
    pub events: Vec<AlertEvent>,
    /// Newest first.
    pub attempts: Vec<NotificationAttempt>,
}

#[derive(Debug, Default)]
struct LogState {
    rules: Vec<RuleStatus>,
    counters: AlertCounters,
    events: VecDeque<AlertEvent>,
    /// The id of `events[0]` (of the next event, when there is none): each later event's
    /// is one more. Dropping the oldest event moves it up by one.
    first_event_id: FirstEventId,
    attempts: VecDeque<NotificationAttempt>,
    /// Events handed to the notification thread and not yet through all their attempts,
    /// oldest first: the state file keeps them, so a crash or a stop before they were sent
    /// does not lose the page (they are queued again at the next start). Each has the
    /// ticket [`AlertLog::add_unsent`] gave it: events are told apart by ticket, not by
    /// `==`, which never holds for an event with a NaN value.
    unsent: Vec<(u64, AlertEvent)>,
    /// The ticket of the next event noted as unsent.
    next_ticket: u64,
    /// Set at a stop ([`AlertLog::freeze_unsent`]): `unsent` no longer changes.
    unsent_frozen: bool,
    /// Bumped by every change to `events`, `attempts` or `unsent`: the state file is
    /// written again only when it moved.
    changes: u64,
    /// Given each attempt recorded ([`AlertLog::on_attempt`]).
    attempt_hook: Option<AttemptHook>,
}

/// Event ids start at 1, so a poller may keep 0 as the cursor of "nothing seen yet": a
/// `since=0` then lists every event, the first included.
#[derive(Debug, Clone, Copy)]
struct FirstEventId(u64);

impl Default for FirstEventId {
    fn default() -> Self {
        FirstEventId(1)
    }
}

/// What [`AlertLog::on_attempt`] calls, shared by the clones of the log.
#[derive(Clone)]
struct AttemptHook(Arc<dyn Fn(&NotificationAttempt) + Send + Sync>);

impl fmt::Debug for AttemptHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AttemptHook")
    }
}

impl LogState {
    fn snapshot(&self) -> AlertSnapshot {
        AlertSnapshot {
            rules: self.rules.clone(),
            counters: self.counters.clone(),
            events: self.events.iter().rev().cloned().collect(),
            attempts: self.attempts.iter().rev().cloned().collect(),
        }
    }

    /// The ids of `events`, oldest first.
    fn event_ids(&self) -> Range<u64> {
        // Saturating: a state file is input, and may hold any number.
        let first = self.first_event_id.0;
        first..first.saturating_add(self.events.len() as u64)
    }

    fn take_ticket(&mut self) -> u64 {
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        ticket
    }
}

/// The shared in-memory record. Cheap to clone; give one clone to the web server.
#[derive(Debug, Clone, Default)]
pub struct AlertLog {
    state: Arc<Mutex<LogState>>,
}

impl AlertLog {
    /// An empty log.
    pub fn new() -> Self {
        AlertLog::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut LogState) -> T) -> T {
        // A panic while holding the lock leaves plain data behind; keep logging.
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut state)
    }

    /// Records an alert event.
    pub fn record_event(&self, event: &AlertEvent) {
        self.with(|s| {
            match event.kind {
                AlertKind::Fired => s.counters.fired += 1,
                AlertKind::Resolved => s.counters.resolved += 1,
            }
            if event.suppressed {
                s.counters.suppressed += 1;
            }
            if s.events.len() == MAX_LOGGED_EVENTS {
                s.events.pop_front();
                s.first_event_id.0 = s.first_event_id.0.saturating_add(1);
            }
            s.events.push_back(event.clone());
            s.changes += 1;
        });
    }

    /// Records a notification attempt, and gives it to the hook of
    /// [`AlertLog::on_attempt`] if there is one.
    pub fn record_attempt(&self, attempt: NotificationAttempt) {
        let hook = self.with(|s| s.attempt_hook.clone());
        // Before the attempt moves into the log (no copy needed), and outside the lock:
        // the hook may read the log.
        if let Some(AttemptHook(hook)) = hook {
            hook(&attempt);
        }
        self.with(|s| {
            let target = s
                .counters
                .targets
                .entry(attempt.target.clone())
                .or_default();
            if target.channel != attempt.channel {
                target.channel.clone_from(&attempt.channel);
            }
            if attempt.ok {
                s.counters.notifications_sent += 1;
                target.notifications_sent += 1;
            } else {
                s.counters.notification_failures += 1;
                target.notification_failures += 1;
            }
            if attempt.gave_up {
                s.counters.notifications_given_up += 1;
                target.notifications_given_up += 1;
            }
            if s.attempts.len() == MAX_LOGGED_ATTEMPTS {
                s.attempts.pop_front();
            }
            s.attempts.push_back(attempt);
            s.changes += 1;
        });
    }

    /// Calls `hook` with every notification attempt recorded from now on (not with those
    /// restored from a state file), e.g. to write failures to the server's log. It runs on
    /// the thread that made the attempt, a target's notification thread: keep it short, the
    /// target's next delivery waits for it. Replaces an earlier hook.
    pub fn on_attempt(&self, hook: impl Fn(&NotificationAttempt) + Send + Sync + 'static) {
        self.with(|s| s.attempt_hook = Some(AttemptHook(Arc::new(hook))));
    }

    /// Lists `targets` (name and channel) in the counters, at 0 until they have an attempt.
    /// A Prometheus series that first appears at 1 has no increase to alert on: the first
    /// notification a target gave up would go unseen.
    pub(crate) fn add_targets<'a>(
        &self,
        targets: impl IntoIterator<Item = (&'a str, &'static str)>,
    ) {
        self.with(|s| {
            for (name, channel) in targets {
                let target = s.counters.targets.entry(name.to_owned()).or_default();
                if target.channel.is_empty() {
                    channel.clone_into(&mut target.channel);
                }
            }
        });
    }

    /// Counts a delivery to `target` whose sending panicked.
    pub(crate) fn record_notification_panic(&self, target: &str) {
        self.with(|s| {
            s.counters.notification_panics += 1;
            s.counters
                .targets
                .entry(target.to_owned())
                .or_default()
                .notification_panics += 1;
        });
    }

    /// Counts a failed write of the state file.
    pub(crate) fn record_state_write_failure(&self) {
        self.with(|s| s.counters.state_write_failures += 1);
    }

    /// Sets the count of minutes evaluated against a baseline that is not finite (the
    /// engine counts them).
    pub(crate) fn set_baselines_not_finite(&self, minutes: u64) {
        self.with(|s| s.counters.baselines_not_finite = minutes);
    }

    /// How many times the events or attempts changed (only ever grows).
    pub(crate) fn changes(&self) -> u64 {
        self.with(|s| s.changes)
    }

    /// The events and attempts kept, oldest first, and the id of the first event (what the
    /// state file holds).
    pub(crate) fn history(&self) -> (u64, Vec<AlertEvent>, Vec<NotificationAttempt>) {
        self.with(|s| {
            (
                s.first_event_id.0,
                s.events.iter().cloned().collect(),
                s.attempts.iter().cloned().collect(),
            )
        })
    }

    /// Puts saved events and attempts (oldest first) before the ones recorded since,
    /// keeping the newest within the bounds. The saved events keep their ids (the first's
    /// is `first_event_id`), and those recorded since are numbered after them. Counters
    /// are not touched: they count what this process saw.
    pub(crate) fn restore_history(
        &self,
        first_event_id: u64,
        events: Vec<AlertEvent>,
        attempts: Vec<NotificationAttempt>,
        unsent: Vec<AlertEvent>,
    ) {
        self.with(|s| {
            let mut all: Vec<(u64, AlertEvent)> = unsent
                .into_iter()
                .map(|event| (s.take_ticket(), event))
                .collect();
            all.append(&mut s.unsent);
            s.unsent = all;
            let mut all: VecDeque<AlertEvent> = events.into();
            all.extend(s.events.drain(..));
            let dropped = all.len().saturating_sub(MAX_LOGGED_EVENTS);
            all.drain(..dropped);
            s.events = all;
            // Ids start at 1: a file of a build before ids (0) or numbering from 0 too.
            s.first_event_id = FirstEventId(first_event_id.max(1).saturating_add(dropped as u64));
            let mut all: VecDeque<NotificationAttempt> = attempts.into();
            all.extend(s.attempts.drain(..));
            all.drain(..all.len().saturating_sub(MAX_LOGGED_ATTEMPTS));
            s.attempts = all;
            s.changes += 1;
        });
    }

    /// Notes `event` as handed to the notification thread, not sent yet. Returns its
    /// ticket for [`AlertLog::remove_unsent`].
    pub(crate) fn add_unsent(&self, event: &AlertEvent) -> u64 {
        self.with(|s| {
            let ticket = s.take_ticket();
            s.unsent.push((ticket, event.clone()));
            s.changes += 1;
            ticket
        })
    }

    /// Notes the event of `ticket` as through all its attempts to `target` (delivered or
    /// given up), or as not queued for it after all: `target` leaves the event's `notify`,
    /// so a next start sends it only to the targets still waiting for it. The event
    /// leaves the list with its last target.
    pub(crate) fn remove_unsent_target(&self, ticket: u64, target: &str) {
        self.with(|s| {
            if s.unsent_frozen {
                return;
            }
            let Some(i) = s.unsent.iter().position(|(t, _)| *t == ticket) else {
                return;
            };
            let notify = &mut s.unsent[i].1.notify;
            let Some(j) = notify.iter().position(|n| n == target) else {
                return;
            };
            notify.remove(j);
            if notify.is_empty() {
                s.unsent.remove(i);
            }
            s.changes += 1;
        });
    }

    /// Stops the unsent list from changing, as alerting stops: what it holds then is what
    /// the stop reports, records as not sent and writes to the state file, all alike. A
    /// notification thread still sending cannot take its event off the list after that
    /// (it is sent again at the next start, rather than counted as unsent and not saved).
    pub(crate) fn freeze_unsent(&self) {
        self.with(|s| s.unsent_frozen = true);
    }

    /// The events not sent yet, oldest first (what the state file keeps of them).
    pub(crate) fn unsent(&self) -> Vec<AlertEvent> {
        self.with(|s| s.unsent.iter().map(|(_, e)| e.clone()).collect())
    }

    /// Takes the events not sent yet, oldest first (to queue again at a start).
    pub(crate) fn take_unsent(&self) -> Vec<AlertEvent> {
        self.with(|s| {
            if !s.unsent.is_empty() {
                s.changes += 1;
            }
            s.unsent.drain(..).map(|(_, e)| e).collect()
        })
    }

    /// Replaces the rule states shown.
    pub fn set_rules(&self, rules: Vec<RuleStatus>) {
        self.with(|s| s.rules = rules);
    }

    /// A copy of everything, newest events and attempts first.
    pub fn snapshot(&self) -> AlertSnapshot {
        self.with(|s| s.snapshot())
    }

    /// [`AlertLog::snapshot`] and its events' ids, taken together: `ids.start` is the id
    /// of the oldest event (the last of `events`), each newer one's is one more, and
    /// `ids.end` is the id the next event will get. Every id below `ids.end` was given
    /// (those below `ids.start` to events dropped since); none at or above it was.
    pub fn snapshot_with_event_ids(&self) -> (AlertSnapshot, Range<u64>) {
        self.with(|s| (s.snapshot(), s.event_ids()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{Measure, ReportKind, Scope};

    /// An event told apart from the others by its minute.
    fn event(minute: u64) -> AlertEvent {
        AlertEvent {
            rule: "shop-silent".into(),
            kind: AlertKind::Fired,
            minute,
            time: String::new(),
            scope: Scope {
                domain: "shop".into(),
                report: ReportKind::Transaction,
                type_: None,
                name: None,
                ip: None,
            },
            measure: Measure::Count,
            condition: "below 1".into(),
            value: Some(0.0),
            baseline: None,
            started_minute: minute,
            minutes: Vec::new(),
            suppressed: false,
            link: String::new(),
            notify: Vec::new(),
        }
    }

    /// Each event kept and its id, newest first, as `/api/alerts` lists them.
    fn ids(log: &AlertLog) -> Vec<(u64, u64)> {
        let (snapshot, ids) = log.snapshot_with_event_ids();
        assert_eq!(snapshot.events.len() as u64, ids.end - ids.start);
        ids.rev()
            .zip(&snapshot.events)
            .map(|(id, e)| (id, e.minute))
            .collect()
    }

    /// Ids were positions: once the log was full, each new event moved every other id
    /// down by one, so "the events after id N" skipped or repeated events.
    #[test]
    fn event_ids_stay_with_their_events_when_the_oldest_are_dropped() {
        let log = AlertLog::new();
        // From 1: a poller's cursor of 0 (nothing seen yet) lists the first event too.
        assert_eq!(log.snapshot_with_event_ids().1, 1..1);
        for minute in 0..MAX_LOGGED_EVENTS as u64 {
            log.record_event(&event(minute));
        }
        let full = ids(&log);
        assert_eq!(full[0], (1_000, 999));
        assert_eq!(full[999], (1, 0));
        for minute in 1_000..1_003 {
            log.record_event(&event(minute));
        }
        let trimmed = ids(&log);
        assert_eq!(trimmed.len(), MAX_LOGGED_EVENTS);
        // The three oldest are gone; every event kept has the id it had.
        assert_eq!(trimmed[3..], full[..997]);
        assert_eq!(
            trimmed[..3],
            [(1_003, 1_002), (1_002, 1_001), (1_001, 1_000)]
        );
        assert_eq!(log.snapshot_with_event_ids().1, 4..1_004);
    }

    /// At a start, the saved events keep their ids and an event recorded before the
    /// restore (none, at a real start) is numbered after them.
    #[test]
    fn restored_events_keep_their_ids_and_later_ones_follow() {
        let log = AlertLog::new();
        log.record_event(&event(50));
        log.restore_history(
            1_998,
            (0..MAX_LOGGED_EVENTS as u64).map(event).collect(),
            Vec::new(),
            Vec::new(),
        );
        // 1001 events: the oldest saved one is dropped.
        assert_eq!(log.snapshot_with_event_ids().1, 1_999..2_999);
        let listed = ids(&log);
        assert_eq!(listed[0], (2_998, 50));
        assert_eq!(listed[1], (2_997, 999));
        assert_eq!(listed[999], (1_999, 1));
        assert_eq!(log.history().0, 1_999);
    }

    fn attempt(number: u32, ok: bool) -> NotificationAttempt {
        NotificationAttempt {
            at_ms: 0,
            rule: "shop-silent".into(),
            kind: AlertKind::Fired,
            minute: 29_922_222,
            target: "ops".into(),
            channel: "webhook".into(),
            attempt: number,
            ok,
            status: None,
            error: (!ok).then(|| "connection refused".to_owned()),
            elapsed_ms: 1,
            gave_up: false,
        }
    }

    #[test]
    fn the_attempt_hook_sees_each_attempt_recorded_after_it_was_set() {
        let log = AlertLog::new();
        log.record_attempt(attempt(1, false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        log.on_attempt({
            let seen = seen.clone();
            let log = log.clone();
            move |a| {
                // The hook may read the log: it is not called under the log's lock.
                let before = log.snapshot().attempts.len();
                seen.lock().unwrap().push((a.attempt, a.ok, before));
            }
        });
        log.record_attempt(attempt(2, false));
        log.record_attempt(attempt(3, true));
        assert_eq!(*seen.lock().unwrap(), [(2, false, 1), (3, true, 2)]);
        assert_eq!(log.snapshot().attempts.len(), 3);
    }

    /// `/metrics` had only totals: a scraper could not tell which webhook was dead.
    #[test]
    fn notification_counters_are_kept_per_target_and_add_up_to_the_totals() {
        let log = AlertLog::new();
        let to = |target: &str, channel: &str, ok: bool, gave_up: bool| NotificationAttempt {
            target: target.into(),
            channel: channel.into(),
            gave_up,
            ..attempt(1, ok)
        };
        log.record_attempt(to("ops", "webhook", true, false));
        log.record_attempt(to("dead", "webhook", false, false));
        log.record_attempt(to("dead", "webhook", false, true));
        log.record_attempt(to("mail", "email", false, true));
        log.record_notification_panic("mail");
        let c = log.snapshot().counters;
        let row = |t: &str| {
            let t = &c.targets[t];
            (
                t.channel.as_str(),
                t.notifications_sent,
                t.notification_failures,
                t.notifications_given_up,
                t.notification_panics,
            )
        };
        assert_eq!(row("ops"), ("webhook", 1, 0, 0, 0));
        assert_eq!(row("dead"), ("webhook", 0, 2, 1, 0));
        assert_eq!(row("mail"), ("email", 0, 1, 1, 1));
        assert_eq!(c.targets.len(), 3);
        assert_eq!(
            (
                c.notifications_sent,
                c.notification_failures,
                c.notifications_given_up,
                c.notification_panics
            ),
            (1, 3, 2, 1)
        );
    }
}
