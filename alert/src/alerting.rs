//! [`Alerting`]: the engine, the notifier and the log together, what `ocelot serve` runs
//! once per tick.
//!
//! Design constraint: a dead or slow target never holds up evaluation. Each event can take
//! `(retries + 1) * timeout_ms` plus back-offs per target, so events are handed to a
//! notification thread through a bounded queue; when it is full (a target has been dead
//! for many events), further events are recorded as not delivered instead of waiting.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::alert_log::AlertLog;
use crate::engine::{Engine, ReportRef};
use crate::evaluator::AlertEvent;
use crate::notify::Notifier;
use crate::report_history::ReportHistory;
use crate::rules::RuleSet;
use crate::state_file::{Restored, Saved, StateFile};

/// Events waiting for the notification thread, at most. A day of one incident every
/// 1.5 minutes, as many as the log keeps: past it, a target has been failing for long.
pub const MAX_QUEUED_NOTIFICATIONS: usize = 1_000;

/// The error recorded for an event still queued when [`Alerting::stop`] gave up waiting
/// (the state file keeps it: it is sent at the next start).
pub const NOT_SENT_AT_STOP: &str = "not sent: alerting stopped, sent at the next start";

/// What [`Alerting::stop`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stopped {
    /// Events still queued when the wait ended, recorded as not sent
    /// ([`NOT_SENT_AT_STOP`]) for each of their targets and kept in the state file for
    /// the next start.
    pub unsent: usize,
    /// An event was still being sent when the wait ended: its further attempts are not
    /// recorded.
    pub still_sending: bool,
    /// The last write of the state file.
    pub saved: Saved,
}

/// How often [`Alerting::stop`] looks whether the notification thread is done.
const STOP_POLL: Duration = Duration::from_millis(10);

/// Live alerting: call [`Alerting::tick`] every few seconds. Notifications are sent by a
/// thread of their own, with timeouts and retries, so a tick does not wait for them.
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
    /// To the notification thread, which ends when this is dropped (after sending what
    /// is queued).
    /// Each event goes with its ticket in the log's unsent list.
    queue: SyncSender<(u64, AlertEvent)>,
    /// The notification thread's end of `queue`, shared so [`Alerting::stop`] can take
    /// what the thread did not get to.
    waiting: Arc<Mutex<Receiver<(u64, AlertEvent)>>>,
    sending: JoinHandle<()>,
    log: AlertLog,
    /// Where the state outlives a restart, once [`Alerting::restore_state`] named it.
    state: Option<StateFile>,
}

impl Alerting {
    /// Alerting over `rules`, with an empty log.
    pub fn new(rules: RuleSet) -> Alerting {
        Alerting::with_notification_queue(rules, MAX_QUEUED_NOTIFICATIONS)
    }

    /// Alerting whose notification thread holds at most `capacity` waiting events
    /// (at least 1; [`Alerting::new`] uses [`MAX_QUEUED_NOTIFICATIONS`]).
    ///
    /// # Panics
    ///
    /// If the notification thread cannot be started (the process is out of threads).
    pub fn with_notification_queue(rules: RuleSet, capacity: usize) -> Alerting {
        let log = AlertLog::new();
        let notifier = Notifier::for_rules(&rules, log.clone());
        let (queue, waiting) = mpsc::sync_channel::<(u64, AlertEvent)>(capacity.max(1));
        let waiting = Arc::new(Mutex::new(waiting));
        let sender = notifier.clone();
        let receiver = waiting.clone();
        let sent = log.clone();
        let sending = std::thread::Builder::new()
            .name("ocelot-alert-notify".to_owned())
            .spawn(move || loop {
                // The lock is held only while waiting for the next event, never while
                // sending one; it ends with the queue (all senders dropped).
                let next = receiver
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .recv();
                match next {
                    Ok((ticket, event)) => {
                        sender.notify(&event);
                        sent.remove_unsent(ticket);
                    }
                    Err(_) => return,
                }
            })
            .expect("starting the alert notification thread");
        let engine = Engine::new(rules);
        log.set_rules(engine.statuses());
        Alerting {
            engine,
            notifier,
            queue,
            waiting,
            sending,
            log,
            state: None,
        }
    }

    /// Stops alerting, as a server does at a clean shutdown: waits up to `wait` for the
    /// notification thread to send the queued events, records each event still queued
    /// then as not sent ([`NOT_SENT_AT_STOP`], attempt 0) for its targets, and writes the
    /// state file a last time (as [`Alerting::save_state`] at `now_ms`), which keeps the
    /// events not sent (queued, or the one being sent) for the next start to send: a
    /// rule restored as firing is not notified again, so a page dropped here would never
    /// go out.
    pub fn stop(self, now_ms: u64, wait: Duration) -> Stopped {
        let Alerting {
            engine,
            notifier,
            queue,
            waiting,
            sending,
            log,
            state,
        } = self;
        // The thread sends what is queued, then ends.
        drop(queue);
        let deadline = Instant::now() + wait;
        while !sending.is_finished() && Instant::now() < deadline {
            std::thread::sleep(STOP_POLL);
        }
        let still_sending = !sending.is_finished();
        let mut unsent = 0;
        if still_sending {
            // Busy with an event (the lock is free then): take the rest.
            let queued = waiting.lock().unwrap_or_else(PoisonError::into_inner);
            while let Ok((_, event)) = queued.try_recv() {
                // Still noted as not sent: the state file keeps it for the next start.
                notifier.record_undelivered(&event, NOT_SENT_AT_STOP, false);
                unsent += 1;
            }
        }
        let saved = match state {
            Some(mut file) => file.save(&engine, &log, now_ms),
            None => Saved::Unchanged,
        };
        Stopped {
            unsent,
            still_sending: still_sending && !sending.is_finished(),
            saved,
        }
    }

    /// Takes up the state saved in `path` by an earlier process ([`Alerting::save_state`]):
    /// each rule's firing incident, suppression window and last minute, if the rule is
    /// still the same rule (same id and definition), and the log's events and attempts.
    /// Events the earlier process had not sent are queued again. From then on
    /// [`Alerting::save_state`] writes there. Call it once, before the first tick. A
    /// missing file is a fresh start; an unreadable one is moved aside to
    /// `<path>.corrupt` and alerting starts fresh (the result says which, for the log).
    /// Without a call nothing is persisted.
    ///
    /// A rule restored as firing stays firing while its condition holds, without a new
    /// `fired` event; it resolves after `resolve_minutes` good minutes as usual.
    pub fn restore_state(&mut self, path: impl Into<PathBuf>) -> Restored {
        let (file, restored) = StateFile::restore(path.into(), &mut self.engine, &self.log);
        self.state = Some(file);
        self.log.set_rules(self.engine.statuses());
        // Notifications the last run had not sent (it stopped or crashed first): sent now.
        // One that was delivered just before a crash may arrive twice; none is lost.
        for event in self.log.take_unsent() {
            self.send(&event);
        }
        restored
    }

    /// Writes the state to the file named by [`Alerting::restore_state`] if it changed
    /// since the last write (a minute was evaluated, an event or attempt was recorded):
    /// atomically, so a crash leaves the old or the new file. Call it after
    /// [`Alerting::tick`], on the same thread (it does file I/O and fsyncs). A failure is
    /// counted (`stateWriteFailures`) and returned; alerting goes on in memory.
    pub fn save_state(&mut self, now_ms: u64) -> Saved {
        match &mut self.state {
            Some(file) => file.save(&self.engine, &self.log, now_ms),
            None => Saved::Unchanged,
        }
    }

    /// The state file, once [`Alerting::restore_state`] named it.
    pub fn state_path(&self) -> Option<&Path> {
        self.state.as_ref().map(StateFile::path)
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

    /// Evaluates the minutes settled by `now_ms`, records the events, queues them for
    /// their targets (without waiting for delivery) and updates the rule states. Returns
    /// the events.
    pub fn tick(&mut self, now_ms: u64, history: &dyn ReportHistory) -> Vec<AlertEvent> {
        let events = self.engine.evaluate(now_ms, history);
        self.log.set_rules(self.engine.statuses());
        self.log
            .set_baselines_not_finite(self.engine.baselines_not_finite());
        for event in &events {
            self.log.record_event(event);
        }
        for event in &events {
            if event.suppressed || event.notify.is_empty() {
                continue;
            }
            self.send(event);
        }
        events
    }

    /// Hands `event` to the notification thread, noted as not sent until it is through
    /// (so the state file keeps it); recorded as not delivered if the queue is full.
    fn send(&self, event: &AlertEvent) {
        // Noted first: the thread may be done with it before `try_send` returns.
        let ticket = self.log.add_unsent(event);
        let why = match self.queue.try_send((ticket, event.clone())) {
            Ok(()) => return,
            Err(TrySendError::Full(_)) => "notification queue full",
            Err(TrySendError::Disconnected(_)) => "notification thread stopped",
        };
        self.log.remove_unsent(ticket);
        self.notifier.record_undelivered(event, why, true);
    }
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;

    use super::*;
    use crate::evaluator::{AlertKind, MinutePoint};
    use crate::rules::{Measure, ReportKind, Scope};

    /// A webhook receiver on 127.0.0.1 that answers 200 to one request and sends its body.
    fn receiver() -> (String, mpsc::Receiver<serde_json::Value>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(&mut stream);
            let mut length = 0;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if line.trim_end().is_empty() {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                .unwrap();
            tx.send(serde_json::from_slice(&body).unwrap()).unwrap();
        });
        (url, rx)
    }

    fn nan_event() -> AlertEvent {
        let minute = 29_922_222;
        AlertEvent {
            rule: "shop-silent".into(),
            kind: AlertKind::Fired,
            minute,
            time: crate::MinuteLabel(minute).to_string(),
            scope: Scope {
                domain: "shop".into(),
                report: ReportKind::Transaction,
                type_: None,
                name: None,
            },
            measure: Measure::Count,
            condition: "below 1".into(),
            value: Some(f64::NAN),
            baseline: Some(f64::NAN),
            started_minute: minute,
            minutes: vec![MinutePoint {
                minute,
                time: crate::MinuteLabel(minute).to_string(),
                value: Some(f64::NAN),
                baseline: None,
            }],
            suppressed: false,
            link: String::new(),
            notify: vec!["ops".into()],
        }
    }

    #[test]
    fn an_event_with_a_nan_value_is_sent_once_and_leaves_the_unsent_list() {
        let (url, bodies) = receiver();
        let rules = RuleSet::from_toml_str(
            &format!(
                "[[rule]]\nid = \"shop-silent\"\ndomain = \"shop\"\nreport = \"transaction\"\n\
                 measure = \"count\"\nbelow = 1.0\nnotify = [\"ops\"]\n\n\
                 [[webhook]]\nname = \"ops\"\nurl = \"{url}\"\nretries = 0\n"
            ),
            None,
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let mut alerting = Alerting::new(rules);
        alerting.restore_state(&path);
        let log = alerting.log();
        alerting.send(&nan_event());

        // Waits for the notification thread to be done with what is queued.
        let stopped = alerting.stop(0, Duration::from_secs(30));
        assert!(!stopped.still_sending);
        let body = bodies.recv().unwrap();
        assert_eq!(
            body["value"],
            serde_json::Value::Null,
            "NaN goes out as null"
        );
        assert_eq!(body["minutes"][0]["value"], serde_json::Value::Null);
        assert_eq!(log.snapshot().counters.notifications_sent, 1);
        // Through its attempts: not kept for the next start, where it would be sent again.
        assert!(log.unsent().is_empty());
        let saved: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(saved["unsent"], serde_json::json!([]));
    }
}
