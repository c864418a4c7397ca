//! [`Alerting`]: the engine, the notifier and the log together, what `ocelot serve` runs
//! once per tick.
//!
//! Design constraint: a dead or slow target holds up neither evaluation nor the other
//! targets. Each event can take `(retries + 1) * timeout_ms` plus back-offs per target, so
//! each target has a notification thread of its own, fed through a bounded queue in the
//! order the events happened; when a target's queue is full (it has been dead for many
//! events), further events are recorded as not delivered to it instead of waiting. One
//! thread per target (a handful) rather than a pool: a target's notifications stay in
//! order, and a dead one can only ever hold its own thread. A panic while sending ends
//! neither the thread nor evaluation: that event is given up for the target, said and
//! counted, and the thread goes on with the next.

use std::collections::BTreeMap;
use std::panic::{self, AssertUnwindSafe};
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
use crate::time::MILLIS_PER_MINUTE;

/// Events waiting for a target's notification thread, at most. A day of one incident every
/// 1.5 minutes, as many as the log keeps: past it, the target has been failing for long.
pub const MAX_QUEUED_NOTIFICATIONS: usize = 1_000;

/// The error recorded for an event still queued when [`Alerting::stop`] gave up waiting
/// (the state file keeps it: it is sent at the next start).
pub const NOT_SENT_AT_STOP: &str = "not sent: alerting stopped, sent at the next start";

/// What [`Alerting::stop`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stopped {
    /// Events not through their attempts to some target when the wait ended (still
    /// queued, or being sent): recorded as not sent ([`NOT_SENT_AT_STOP`]) for each such
    /// target and kept in the state file, which has exactly these, for the next start.
    pub unsent: usize,
    /// An event was still being sent to some target when the wait ended: it counts as
    /// unsent, and its further attempts are not saved.
    pub still_sending: bool,
    /// The last write of the state file.
    pub saved: Saved,
}

/// How often [`Alerting::stop`] looks whether the notification threads are done.
const STOP_POLL: Duration = Duration::from_millis(10);

/// Live alerting: call [`Alerting::tick`] every few seconds. Notifications are sent by a
/// thread per target, with timeouts and retries, so a tick does not wait for them.
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
///     // report the collector has; then mark the hour as watched, if it is evaluated:
///     if wanted.watched {
///         live.cover(wanted.hour);
///     }
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
    /// A notification thread for each target, by name.
    targets: BTreeMap<String, TargetQueue>,
    log: AlertLog,
    /// Where the state outlives a restart, once [`Alerting::restore_state`] named it.
    state: Option<StateFile>,
}

/// An event in a target's queue, with its ticket in the log's unsent list (shared by the
/// queues of the event's targets).
type Queued = (u64, Arc<AlertEvent>);

/// One target's notification thread and its queue.
#[derive(Debug)]
struct TargetQueue {
    /// To the thread, which ends when this is dropped (after sending what is queued).
    queue: SyncSender<Queued>,
    /// The thread's end of `queue`, shared so [`Alerting::stop`] can take what the thread
    /// did not get to.
    waiting: Arc<Mutex<Receiver<Queued>>>,
    sending: JoinHandle<()>,
}

impl TargetQueue {
    /// Starts the thread that sends to `target`, one event at a time, in queue order.
    ///
    /// # Panics
    ///
    /// If the thread cannot be started (the process is out of threads).
    fn start(target: &str, notifier: Notifier, log: AlertLog, capacity: usize) -> TargetQueue {
        let (queue, waiting) = mpsc::sync_channel::<Queued>(capacity.max(1));
        let waiting = Arc::new(Mutex::new(waiting));
        let receiver = waiting.clone();
        let target = target.to_owned();
        // Not named after the target: a name with a NUL byte would make `spawn` panic.
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
                        notify_surviving_panics(&notifier, &log, &event, &target);
                        log.remove_unsent_target(ticket, &target);
                    }
                    Err(_) => return,
                }
            })
            .expect("starting an alert notification thread");
        TargetQueue {
            queue,
            waiting,
            sending,
        }
    }
}

/// Sends `event` to `target` on the target's thread. A panic while sending (a bug in the
/// sender or a library it calls, or in the log's attempt hook, which runs here) would end
/// the thread unseen: its queue would keep taking events that nobody sends, until full.
/// Instead the event is given up for `target` (attempt 0, the panic's message as the
/// error, counted in `notificationPanics`) and the thread goes on with the next event.
/// Not sent again: the same event would most likely panic again, at every start.
fn notify_surviving_panics(notifier: &Notifier, log: &AlertLog, event: &AlertEvent, target: &str) {
    // The notifier is only read, and the log recovers its lock from a panic: nothing is
    // left half-changed for the next event.
    let sent = panic::catch_unwind(AssertUnwindSafe(|| notifier.notify_target(event, target)));
    let Err(payload) = sent else {
        return;
    };
    let message = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("no message");
    log.record_notification_panic(target);
    // Recording calls the attempt hook again, which may be what panicked.
    let _ = panic::catch_unwind(AssertUnwindSafe(|| {
        let why = format!("sending panicked: {message}");
        notifier.record_undelivered(event, target, &why, true);
    }));
}

impl Alerting {
    /// Alerting over `rules`, with an empty log.
    pub fn new(rules: RuleSet) -> Alerting {
        Alerting::with_notification_queue(rules, MAX_QUEUED_NOTIFICATIONS)
    }

    /// Alerting whose notification threads hold at most `capacity` waiting events each
    /// (at least 1; [`Alerting::new`] uses [`MAX_QUEUED_NOTIFICATIONS`]).
    ///
    /// # Panics
    ///
    /// If a notification thread cannot be started (the process is out of threads).
    pub fn with_notification_queue(rules: RuleSet, capacity: usize) -> Alerting {
        let log = AlertLog::new();
        let notifier = Notifier::for_rules(&rules, log.clone());
        Alerting::with_notifier(rules, notifier, log, capacity)
    }

    /// Alerting sending through `notifier`, which records into `log`.
    fn with_notifier(
        rules: RuleSet,
        notifier: Notifier,
        log: AlertLog,
        capacity: usize,
    ) -> Alerting {
        let targets = notifier
            .targets()
            .map(|target| {
                let sender = notifier.with_own_lookups();
                let queue = TargetQueue::start(target, sender, log.clone(), capacity);
                (target.to_owned(), queue)
            })
            .collect();
        log.add_targets(notifier.target_channels());
        let engine = Engine::new(rules);
        log.set_rules(engine.statuses());
        Alerting {
            engine,
            notifier,
            targets,
            log,
            state: None,
        }
    }

    /// Stops alerting, as a server does at a clean shutdown: waits up to `wait` for the
    /// notification threads to send the queued events, records each event not sent then
    /// (still queued, or being sent) as not sent ([`NOT_SENT_AT_STOP`], attempt 0) for
    /// each target waiting for it, and writes the state file a last time (as
    /// [`Alerting::save_state`] at `now_ms`), which keeps those events for the next start
    /// to send: a rule restored as firing is not notified again, so a page dropped here
    /// would never go out.
    pub fn stop(self, now_ms: u64, wait: Duration) -> Stopped {
        let Alerting {
            engine,
            notifier,
            targets,
            log,
            state,
        } = self;
        // Each thread sends what is queued for its target, then ends.
        let threads: Vec<_> = targets
            .into_iter()
            .map(|(target, queue)| (target, queue.waiting, queue.sending))
            .collect();
        let deadline = Instant::now() + wait;
        while threads.iter().any(|(_, _, sending)| !sending.is_finished())
            && Instant::now() < deadline
        {
            std::thread::sleep(STOP_POLL);
        }
        // From here the unsent list holds still: an event whose sending ends during the
        // stop is not taken off it after it was counted, nor after the file was written.
        log.freeze_unsent();
        let mut still_sending = false;
        for (_, waiting, sending) in &threads {
            if sending.is_finished() {
                continue;
            }
            // Busy with an event (the lock is free then): take the rest, which stays on
            // the unsent list for the next start.
            let queued = waiting.lock().unwrap_or_else(PoisonError::into_inner);
            while queued.try_recv().is_ok() {}
            still_sending |= !sending.is_finished();
        }
        // Every event on the list, queued or being sent, for each target still waiting
        // for it: the attempts log says what the state file keeps.
        let unsent = log.unsent();
        for event in &unsent {
            for target in &event.notify {
                notifier.record_undelivered(event, target, NOT_SENT_AT_STOP, false);
            }
        }
        let saved = match state {
            Some(mut file) => file.save(&engine, &log, now_ms),
            None => Saved::Unchanged,
        };
        Stopped {
            unsent: unsent.len(),
            still_sending,
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
        self.record_and_send(events)
    }

    /// Starts live evaluation after `started_ms`, the start of the collector whose reports
    /// the ticks read: its State report marks that minute as a start, and replay leaves
    /// out the same minutes ([`Engine::start_after`]). First, if the state file read by
    /// [`Alerting::restore_state`] says the last run had not evaluated every minute before
    /// this one (it was killed, or stopped late in a minute and this start is early in the
    /// next), evaluates them from `stored`, the store as that run left it, as a replay
    /// does: the minutes it was not running in are left out. Records and sends the events
    /// as [`Alerting::tick`] does, and returns them. Call it once, after `restore_state`
    /// and before the first tick.
    pub fn start_after(&mut self, started_ms: u64, stored: &dyn ReportHistory) -> Vec<AlertEvent> {
        let left_from = self
            .state
            .as_ref()
            .and_then(StateFile::restored_next_minute);
        let start_minute = started_ms / MILLIS_PER_MINUTE;
        let events = match (left_from, start_minute.checked_sub(1)) {
            // The start's own minute has a sample (taken as the collector started), not
            // stored yet: it does not make the minute before it read as a stop.
            (Some(first), Some(last)) => self.engine.evaluate_left(first, last, Some(last), stored),
            _ => Vec::new(),
        };
        self.engine.start_after(started_ms);
        self.record_and_send(events)
    }

    /// Evaluates the minutes complete at `now_ms` that the ticks have not evaluated yet
    /// (not settled yet, or due at a tick that did not come), from `stored`, as a replay of
    /// it does: call it at a clean stop once the collector has written its final reports
    /// and State sample, then [`Alerting::stop`], which sends their notifications. A stop
    /// early in a minute thus evaluates the minute before it, as replay does. Records and
    /// sends the events as [`Alerting::tick`] does, and returns them.
    pub fn evaluate_left(&mut self, now_ms: u64, stored: &dyn ReportHistory) -> Vec<AlertEvent> {
        let events = match (
            self.engine.next_minute(),
            (now_ms / MILLIS_PER_MINUTE).checked_sub(1),
        ) {
            // Every minute read is stored whole, the stop's last sample included.
            (Some(first), Some(last)) => self.engine.evaluate_left(first, last, None, stored),
            _ => Vec::new(),
        };
        self.record_and_send(events)
    }

    /// Records `events`, just evaluated, queues them for their targets and updates the
    /// rule states shown. Returns them.
    fn record_and_send(&mut self, events: Vec<AlertEvent>) -> Vec<AlertEvent> {
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

    /// Hands `event` to the notification thread of each of its targets, noted as not sent
    /// until every one is through with it (so the state file keeps it); recorded as not
    /// delivered to a target whose queue is full.
    fn send(&self, event: &AlertEvent) {
        if event.notify.is_empty() {
            return;
        }
        // Noted first: a thread may be done with it before the next target has it.
        let ticket = self.log.add_unsent(event);
        let shared = Arc::new(event.clone());
        for target in &event.notify {
            let why = match self.targets.get(target) {
                Some(thread) => match thread.queue.try_send((ticket, shared.clone())) {
                    Ok(()) => continue,
                    Err(TrySendError::Full(_)) => "notification queue full",
                    Err(TrySendError::Disconnected(_)) => "notification thread stopped",
                },
                // An event saved by an earlier run, for a target removed from the rules
                // since.
                None => "no target of this name in the rules",
            };
            self.log.remove_unsent_target(ticket, target);
            self.notifier.record_undelivered(event, target, why, true);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;

    use super::*;
    use crate::evaluator::{AlertKind, MinutePoint};
    use crate::rules::{Measure, ReportKind, Scope};

    /// How long a test waits for what should happen at once.
    const WAIT: Duration = Duration::from_secs(10);

    /// A webhook receiver on 127.0.0.1 that answers 200 to `requests` requests and sends
    /// each body.
    fn receiver(requests: usize) -> (String, mpsc::Receiver<serde_json::Value>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for _ in 0..requests {
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
            }
        });
        (url, rx)
    }

    /// A webhook receiver on 127.0.0.1 that takes connections and never answers, until
    /// `release` (the second value) is dropped: then it closes them and stops listening,
    /// so later attempts fail at once.
    fn hung_receiver() -> (String, mpsc::Sender<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        listener.set_nonblocking(true).unwrap();
        let (release, released) = mpsc::channel::<()>();
        std::thread::spawn(move || {
            let mut open = Vec::new();
            while let Err(mpsc::TryRecvError::Empty) = released.try_recv() {
                if let Ok((stream, _)) = listener.accept() {
                    open.push(stream);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        (url, release)
    }

    /// Waits up to [`WAIT`] for `done` to hold of the log's snapshot.
    fn wait_for(log: &AlertLog, done: impl Fn(&crate::AlertSnapshot) -> bool) {
        let deadline = Instant::now() + WAIT;
        while !done(&log.snapshot()) {
            assert!(Instant::now() < deadline, "{:?}", log.snapshot().attempts);
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The unsent list once it holds `n` events, or as it is after [`WAIT`]: a target's
    /// thread records its attempt before it takes the event off the list, so the list can
    /// lag the counters for a moment.
    fn unsent_once(log: &AlertLog, n: usize) -> Vec<AlertEvent> {
        let deadline = Instant::now() + WAIT;
        loop {
            let unsent = log.unsent();
            if unsent.len() == n || Instant::now() >= deadline {
                return unsent;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Webhook `hole` (60 s per attempt, 3 attempts) and `ops2`; rule `a` notifies both,
    /// rule `b` only `ops2`.
    fn hole_and_ops2(hole: &str, ops2: &str) -> RuleSet {
        let rule = |id: &str, notify: &str| {
            format!(
                "[[rule]]\nid = \"{id}\"\ndomain = \"shop\"\nreport = \"transaction\"\n\
                 measure = \"count\"\nbelow = 1.0\nnotify = {notify}\n\n"
            )
        };
        let text = format!(
            "[[webhook]]\nname = \"hole\"\nurl = \"{hole}\"\ntimeout_ms = 60000\nretries = 2\n\
             retry_backoff_ms = 1\n\n[[webhook]]\nname = \"ops2\"\nurl = \"{ops2}\"\nretries = 0\n\n{}{}",
            rule("a", r#"["hole", "ops2"]"#),
            rule("b", r#"["ops2"]"#),
        );
        RuleSet::from_toml_str(&text, None).unwrap()
    }

    /// A `fired` event of `rule` for `notify`.
    fn event(rule: &str, notify: &[&str]) -> AlertEvent {
        let minute = 29_922_222;
        AlertEvent {
            rule: rule.into(),
            kind: AlertKind::Fired,
            minute,
            time: crate::MinuteLabel(minute).to_string(),
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
            notify: notify.iter().map(|n| (*n).to_owned()).collect(),
        }
    }

    /// A QA run paged `ops2` 18 s late: the one notification thread was busy with `hole`'s
    /// three attempts of 5 s, also for rule b's event, which never goes to `hole`.
    #[test]
    fn a_hung_target_delays_only_its_own_notifications() {
        let (hole, release) = hung_receiver();
        let (ops2, bodies) = receiver(2);
        let alerting = Alerting::new(hole_and_ops2(&hole, &ops2));
        let log = alerting.log();
        alerting.send(&event("a", &["hole", "ops2"]));
        alerting.send(&event("b", &["ops2"]));

        // `hole` holds its first attempt until `release` is dropped: `ops2` gets both
        // events meanwhile, in order.
        let rules: Vec<_> = (0..2)
            .map(|_| bodies.recv_timeout(WAIT).expect("ops2 waited for hole")["rule"].clone())
            .collect();
        assert_eq!(rules, ["a", "b"]);
        wait_for(&log, |s| s.counters.notifications_sent == 2);
        assert!(log.snapshot().attempts.iter().all(|a| a.target == "ops2"));
        let unsent = unsent_once(&log, 1);
        assert_eq!(unsent.len(), 1, "{unsent:?}");
        assert_eq!(
            (unsent[0].rule.as_str(), &unsent[0].notify[..]),
            ("a", &["hole".to_owned()][..])
        );

        // Released, `hole` fails its attempts and is given up: counted for it alone.
        drop(release);
        let stopped = alerting.stop(0, WAIT);
        assert_eq!((stopped.unsent, stopped.still_sending), (0, false));
        let snapshot = log.snapshot();
        let hole: Vec<_> = snapshot
            .attempts
            .iter()
            .filter(|a| a.target == "hole")
            .map(|a| (a.rule.as_str(), a.attempt, a.ok, a.gave_up))
            .collect();
        assert_eq!(
            hole,
            [
                ("a", 3, false, true),
                ("a", 2, false, false),
                ("a", 1, false, false)
            ]
        );
        let c = &snapshot.counters;
        assert_eq!(
            (
                c.notifications_sent,
                c.notification_failures,
                c.notifications_given_up
            ),
            (2, 3, 1)
        );
        assert!(log.unsent().is_empty());
    }

    #[test]
    fn a_stop_keeps_for_the_next_start_only_what_a_hung_target_did_not_get() {
        let (hole, release) = hung_receiver();
        let (ops2, bodies) = receiver(1);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let mut alerting = Alerting::new(hole_and_ops2(&hole, &ops2));
        alerting.restore_state(&path);
        let log = alerting.log();
        alerting.send(&event("a", &["hole", "ops2"]));
        alerting.send(&event("b", &["hole"]));
        assert_eq!(bodies.recv_timeout(WAIT).unwrap()["rule"], "a");
        wait_for(&log, |s| s.counters.notifications_sent == 1);

        // `hole` is held by a's first attempt: the stop waits 100 ms, not for it. Both a
        // (being sent) and b (queued) are unsent, as the file keeps them, and each has its
        // record in the attempts log (the one being sent had none, and the stop's log line
        // said `unsent=1`).
        let stopped = alerting.stop(0, Duration::from_millis(100));
        assert_eq!((stopped.unsent, stopped.still_sending), (2, true));
        let not_sent: Vec<_> = log
            .snapshot()
            .attempts
            .into_iter()
            .filter(|a| a.error.as_deref() == Some(NOT_SENT_AT_STOP))
            .map(|a| (a.rule, a.target, a.attempt))
            .collect();
        assert_eq!(
            not_sent,
            [
                ("b".to_owned(), "hole".to_owned(), 0),
                ("a".to_owned(), "hole".to_owned(), 0)
            ]
        );
        // The next start sends a and b to `hole` alone: `ops2` has a already.
        let saved: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let unsent: Vec<_> = saved["unsent"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["rule"].clone(), e["notify"].clone()))
            .collect();
        assert_eq!(
            unsent,
            [
                ("a".into(), serde_json::json!(["hole"])),
                ("b".into(), serde_json::json!(["hole"]))
            ]
        );
        drop(release);
    }

    #[test]
    fn a_name_lookup_that_hangs_for_one_target_leaves_the_others_their_lookups() {
        let (url, bodies) = receiver(1);
        let live: std::net::SocketAddr = url
            .trim_start_matches("http://")
            .trim_end_matches("/hook")
            .parse()
            .unwrap();
        // Lookups of `dead.test` answer only once the test ends (`release` dropped).
        let (release, hung) = mpsc::channel::<()>();
        let hung = Mutex::new(hung);
        let log = AlertLog::new();
        let webhooks = [
            crate::WebhookConfig {
                timeout_ms: 50,
                retries: crate::notify::MAX_RUNNING_LOOKUPS as u32,
                retry_backoff_ms: 1,
                ..crate::WebhookConfig::new("dead", "http://dead.test/hook")
            },
            crate::WebhookConfig {
                retries: 0,
                ..crate::WebhookConfig::new("live", "http://live.test/hook")
            },
        ];
        let notifier = Notifier::new(&webhooks, log.clone()).with_lookup(move |address| {
            if address.starts_with("dead.test") {
                let _ = hung.lock().unwrap().recv();
                return Err(std::io::Error::other("released"));
            }
            Ok(vec![live])
        });
        let rules = hole_and_ops2("http://127.0.0.1:9/", "http://127.0.0.1:9/");
        let alerting = Alerting::with_notifier(rules, notifier, log.clone(), 10);

        // `dead` uses up its lookups: each one it stopped waiting for keeps its thread.
        alerting.send(&event("a", &["dead"]));
        wait_for(&log, |s| s.counters.notifications_given_up == 1);
        alerting.send(&event("b", &["live"]));
        assert_eq!(bodies.recv_timeout(WAIT).unwrap()["rule"], "b");
        wait_for(&log, |s| s.counters.notifications_sent == 1);
        drop(release);
    }

    /// A target's counters appeared at its first attempt: on /metrics a series that first
    /// shows at 1 has no increase, so an alert on given-up notifications missed the first.
    #[test]
    fn every_target_is_counted_from_0_before_its_first_attempt() {
        let rules = RuleSet::from_toml_str(
            "[[rule]]\nid = \"a\"\ndomain = \"shop\"\nreport = \"transaction\"\n\
             measure = \"count\"\nbelow = 1.0\nnotify = [\"ops\"]\n\n\
             [[webhook]]\nname = \"ops\"\nurl = \"http://127.0.0.1:9/hook\"\n\n\
             [[webhook]]\nname = \"spare\"\nurl = \"http://127.0.0.1:9/spare\"\n",
            None,
        )
        .unwrap();
        let alerting = Alerting::new(rules);
        let targets = alerting.log().snapshot().counters.targets;
        let zero = |channel: &str| crate::TargetCounters {
            channel: channel.to_owned(),
            ..crate::TargetCounters::default()
        };
        assert_eq!(
            targets.into_iter().collect::<Vec<_>>(),
            [
                ("ops".to_owned(), zero("webhook")),
                ("spare".to_owned(), zero("webhook")),
            ]
        );
    }

    /// A panic on a target's notification thread (here in the log's attempt hook, which
    /// runs there: the server's writes its log) ended the thread unseen. Its queue kept
    /// taking events, with nobody to send them, until 1000 had piled up; no log line named
    /// the target and no counter moved.
    #[test]
    fn a_panic_while_sending_is_counted_and_the_target_thread_goes_on() {
        let (url, bodies) = receiver(2);
        let rules = RuleSet::from_toml_str(
            &format!(
                "[[rule]]\nid = \"a\"\ndomain = \"shop\"\nreport = \"transaction\"\n\
                 measure = \"count\"\nbelow = 1.0\nnotify = [\"boom\"]\n\n\
                 [[webhook]]\nname = \"boom\"\nurl = \"{url}\"\nretries = 0\n"
            ),
            None,
        )
        .unwrap();
        let mut alerting = Alerting::new(rules);
        let log = alerting.log();
        let panicked = std::sync::atomic::AtomicBool::new(false);
        log.on_attempt(move |attempt| {
            if attempt.attempt > 0 && !panicked.swap(true, std::sync::atomic::Ordering::Relaxed) {
                panic!("the hook broke");
            }
        });
        alerting.send(&event("a", &["boom"]));
        assert_eq!(bodies.recv_timeout(WAIT).unwrap()["rule"], "a");

        // Evaluation goes on, and its event reaches `boom` through the same thread.
        let now_ms = 1_795_331_315_581;
        let mut live = crate::MemoryHistory::new();
        for wanted in alerting.wanted_reports(now_ms) {
            live.cover(wanted.hour);
        }
        let events = alerting.tick(now_ms, &live);
        assert_eq!(events.len(), 1, "{events:?}");
        let body = bodies.recv_timeout(WAIT).expect("boom's thread is gone");
        assert_eq!(body["minute"], events[0].minute);
        wait_for(&log, |s| s.counters.notifications_sent == 1);

        // The event being sent at the panic is given up for `boom`, said and counted once.
        let snapshot = log.snapshot();
        let records: Vec<_> = snapshot
            .attempts
            .iter()
            .map(|a| {
                (
                    a.target.as_str(),
                    a.attempt,
                    a.ok,
                    a.gave_up,
                    a.error.clone(),
                )
            })
            .collect();
        assert_eq!(
            records,
            [
                ("boom", 1, true, false, None),
                (
                    "boom",
                    0,
                    false,
                    true,
                    Some("sending panicked: the hook broke".to_owned())
                ),
            ]
        );
        let c = &snapshot.counters;
        assert_eq!((c.notification_panics, c.notifications_given_up), (1, 1));
        let boom = &c.targets["boom"];
        assert_eq!(
            (
                boom.channel.as_str(),
                boom.notification_panics,
                boom.notifications_given_up
            ),
            ("webhook", 1, 1)
        );
        let unsent = unsent_once(&log, 0);
        assert!(unsent.is_empty(), "{unsent:?}");
        let stopped = alerting.stop(now_ms, WAIT);
        assert_eq!((stopped.unsent, stopped.still_sending), (0, false));
    }

    fn nan_event() -> AlertEvent {
        let minute = 29_922_222;
        AlertEvent {
            value: Some(f64::NAN),
            baseline: Some(f64::NAN),
            minutes: vec![MinutePoint {
                minute,
                time: crate::MinuteLabel(minute).to_string(),
                value: Some(f64::NAN),
                baseline: None,
            }],
            ..event("shop-silent", &["ops"])
        }
    }

    #[test]
    fn an_event_with_a_nan_value_is_sent_once_and_leaves_the_unsent_list() {
        let (url, bodies) = receiver(1);
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
