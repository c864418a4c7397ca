//! Alerting in `ocelot serve`: the evaluation loop over the collector's live reports (layered
//! over the stored history) and the alert figures on `/metrics`. The web crate shows the log
//! (`/alerts`, `GET /api/alerts`).

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use ocelot_alert::{
    AlertEvent, AlertKind, AlertLog, AlertPhase, Alerting, MemoryHistory, NotificationAttempt,
    Overlay, Report, ReportHistory, ReportKind, Restored, RuleSet, Saved, Stopped, StoreHistory,
    TargetCounters,
};
use ocelot_collector::{Collector, Unanswered};
use ocelot_store::Store;
use prometheus_client::collector::Collector as PromCollector;
use prometheus_client::encoding::DescriptorEncoder;

/// How often the rules are evaluated. Rules look at whole minutes, so a few ticks a minute
/// notice a breached minute soon after it ends.
const EVALUATE_EVERY: Duration = Duration::from_secs(10);

/// How long a stopping server waits for the queued notifications to be sent. A target that
/// answers sends a burst well within it; a dead one (three attempts of 5 s by default)
/// would hold the stop for minutes, so what is left is recorded as not sent instead. With
/// [`FLUSH_WAIT_AT_STOP`] before it, below the serve loop's shutdown bound.
pub(crate) const NOTIFY_AT_STOP_WAIT: Duration = Duration::from_secs(5);

/// Reads and checks the rules file (docs/alerting.md).
pub(crate) fn load_rules(rules_file: &Path) -> anyhow::Result<RuleSet> {
    RuleSet::load(rules_file, None)
        .with_context(|| format!("loading alert rules from {}", rules_file.display()))
}

/// The alert state file, under the data directory (docs/alerting.md, "State across
/// restarts").
pub(crate) fn state_path(data_dir: &Path) -> PathBuf {
    data_dir.join("alerts").join("state.json")
}

/// How long a stopping server's alert loop waits for the collector's final write before
/// it evaluates the minutes left: with [`NOTIFY_AT_STOP_WAIT`], below the serve loop's
/// shutdown bound. A flush that takes longer (a disk that does not answer) leaves them
/// to the next start, which evaluates them from what was stored.
pub(crate) const FLUSH_WAIT_AT_STOP: Duration = Duration::from_secs(12);

/// Warns when `rules` look further back than `retention_days` keeps (a start, and
/// `serve --check-config`, which prints the start's warnings).
pub(crate) fn warn_of_short_retention(rules: &RuleSet, retention_days: u32) {
    let needed = rules.history_days_needed();
    if needed > 0 && retention_days != 0 && retention_days < needed {
        tracing::warn!(
            retention_days,
            needed,
            "baseline rules look {needed} days back but store.retention_days is {retention_days}: raise it, or they cannot fire"
        );
    }
}

/// Starts the loop over `rules`, with the state saved in `data_dir` by the last run (first
/// evaluating, from the store, the minutes that run left), until `shutdown`. Then it
/// waits for `flushed` (the collector's final reports are written, at most
/// [`FLUSH_WAIT_AT_STOP`]), evaluates from the store the complete minutes not evaluated
/// yet, as a replay does, sends the queued notifications (for at most
/// [`NOTIFY_AT_STOP_WAIT`]) and writes the state a last time; the task ends after that.
/// Returns the log the web server shows and the task. `board_url` (where the web UI
/// listens) is what notifications link to unless the rules set theirs.
#[allow(clippy::too_many_arguments)]
pub(crate) fn start(
    mut rules: RuleSet,
    collector: Collector,
    store: Store,
    data_dir: &Path,
    retention_days: u32,
    board_url: Option<&str>,
    shutdown: impl Future<Output = ()> + Send + 'static,
    flushed: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<(AlertLog, tokio::task::JoinHandle<()>)> {
    if let Some(url) = board_url {
        rules = rules.default_board_url(url);
    }
    warn_of_short_retention(&rules, retention_days);
    let history = Arc::new(StoreHistory::new(store.clone()));
    let (mut alerting, _) = start_alerting(rules, &collector, data_dir, &*history);
    let log = alerting.log();
    let task = tokio::spawn(async move {
        let mut every = tokio::time::interval(EVALUATE_EVERY);
        // Ticks in a row without an answer from every analyzer.
        let mut waited = 0;
        let started = collector.now_ms();
        let mut domains_checked = false;
        let mut names_checked = false;
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                _ = every.tick() => {}
            }
            let now = collector.now_ms();
            if now.saturating_sub(started) >= DOMAIN_CHECK_AFTER_MS {
                if !domains_checked {
                    domains_checked =
                        warn_of_unheard_domains(&alerting, &collector, &store, now).await;
                }
                if domains_checked && !names_checked {
                    names_checked = warn_of_unseen_names(&alerting, &collector, now).await;
                }
            }
            let Ok(live) = current_reports(&collector, &alerting, now, QUERY_WAIT).await else {
                // An analyzer thread is busy (writing a checkpoint, say): evaluated at the
                // next tick instead of on a checkpoint up to a minute old, whose last
                // minutes would look short (and fire `below` rules).
                waited += 1;
                if waited == WAITS_BEFORE_WARNING {
                    tracing::warn!(
                        seconds = (EVALUATE_EVERY * waited).as_secs(),
                        "alert evaluation is waiting for a busy analyzer thread"
                    );
                }
                continue;
            };
            waited = 0;
            let history = history.clone();
            // Evaluation reads the store (baselines): off the async workers. Notifications
            // are sent by the alert crate's own thread.
            // The state file is written there too, on the same thread, only if something
            // changed.
            let ticked = tokio::task::spawn_blocking(move || {
                for event in alerting.tick(now, &Overlay(live, history)) {
                    log_event(&event);
                }
                let saved = alerting.save_state(now);
                (alerting, saved)
            })
            .await;
            match ticked {
                Ok((a, saved)) => {
                    alerting = a;
                    log_saved(saved);
                }
                Err(e) => {
                    tracing::error!(error = %e, "alert evaluation stopped");
                    return;
                }
            }
        }
        // The minutes before the stop's are evaluated from the collector's final reports,
        // as a replay reads them; without them (a flush past the wait), at the next start.
        let flushed = tokio::time::timeout(FLUSH_WAIT_AT_STOP, flushed)
            .await
            .is_ok();
        if !flushed {
            tracing::warn!(
                "the collector's final write is taking long: the alert minutes left are evaluated at the next start"
            );
        }
        let now = collector.now_ms();
        let stopped = tokio::task::spawn_blocking(move || {
            let stored: &dyn ReportHistory = &*history;
            stop_alerting(alerting, now, flushed.then_some(stored))
        });
        match stopped.await {
            Ok((stopped, _)) => log_stopped(stopped),
            Err(e) => tracing::error!(error = %e, "stopping alerting failed"),
        }
    });
    Ok((log, task))
}

/// Alerting over `rules` as the loop starts it: logging failed notifications, with the
/// state the last run saved in `data_dir`, evaluating from the minute after the one
/// `collector` started in. That minute is marked as a start in the collector's State
/// report, so a replay over the stored reports leaves out exactly the minutes this skips.
/// The minutes before it that the last run left (killed before it evaluated them) are
/// evaluated first, from `stored`, as a replay does. Returns it with the events of those
/// minutes.
fn start_alerting(
    rules: RuleSet,
    collector: &Collector,
    data_dir: &Path,
    stored: &dyn ReportHistory,
) -> (Alerting, Vec<AlertEvent>) {
    let mut alerting = Alerting::new(rules);
    // Before the restore, which sends again what the last run had not sent.
    log_failed_notifications(&alerting.log());
    // Read once at start, before the loop (a few MB at most, like the rest of startup).
    log_restored(alerting.restore_state(state_path(data_dir)));
    let events = alerting.start_after(collector.started_ms(), stored);
    for event in &events {
        log_event(event);
    }
    (alerting, events)
}

/// Stops `alerting` at `now_ms`, as the loop does at a clean stop: first, with `stored`
/// (the store once the collector has written its final reports), evaluates the complete
/// minutes not evaluated yet, so that a stop early in a minute evaluates the minute before
/// it, as a replay of the store does; then sends the queued notifications and writes the
/// state a last time. Returns what the stop did, and the events of those minutes.
fn stop_alerting(
    mut alerting: Alerting,
    now_ms: u64,
    stored: Option<&dyn ReportHistory>,
) -> (Stopped, Vec<AlertEvent>) {
    let events = match stored {
        Some(stored) => alerting.evaluate_left(now_ms, stored),
        None => Vec::new(),
    };
    for event in &events {
        log_event(event);
    }
    (alerting.stop(now_ms, NOTIFY_AT_STOP_WAIT), events)
}

/// Logs an alert fired or resolved, one info line: the server's log then tells an
/// incident's story without the Alerts page. One suppressed (recorded, not notified) says
/// so.
fn log_event(event: &AlertEvent) {
    let message = match event.kind {
        AlertKind::Fired => "alert fired",
        AlertKind::Resolved => "alert resolved",
    };
    tracing::info!(
        rule = %event.rule,
        domain = %event.scope.domain,
        scope = %event.scope,
        measure = %event.measure,
        value = event.value,
        baseline = event.baseline,
        condition = %event.condition,
        minute = %event.time,
        suppressed = event.suppressed,
        "{message}"
    );
}

/// Logs the failed notification attempts of `log` from now on (see [`log_attempt`]).
fn log_failed_notifications(log: &AlertLog) {
    // Attempts are made on the alert crate's notification threads; they log to the
    // subscriber current here (the global one in `ocelot serve`, a test's own in tests).
    let dispatch = tracing::dispatcher::get_default(Clone::clone);
    log.on_attempt(move |attempt| {
        tracing::dispatcher::with_default(&dispatch, || log_attempt(attempt));
    });
}

/// A notification given up (the last attempt failed, or the event found the target's
/// queue full) is a warning: someone was not paged. An attempt that will be retried is
/// only a debug line: a flapping target fails often, and `/metrics` counts every failure.
/// Events not sent at a stop are said by [`log_stopped`].
fn log_attempt(attempt: &NotificationAttempt) {
    let error = attempt.error.as_deref().unwrap_or_default();
    if attempt.gave_up {
        tracing::warn!(
            to = %attempt.target,
            channel = %attempt.channel,
            rule = %attempt.rule,
            kind = %attempt.kind,
            attempts = attempt.attempt,
            status = attempt.status,
            error,
            "alert notification given up"
        );
    } else if !attempt.ok && attempt.attempt > 0 {
        tracing::debug!(
            to = %attempt.target,
            channel = %attempt.channel,
            rule = %attempt.rule,
            kind = %attempt.kind,
            attempt = attempt.attempt,
            status = attempt.status,
            error,
            "alert notification attempt failed, to be retried"
        );
    }
}

/// Says what became of the notifications still queued at a stop.
fn log_stopped(stopped: Stopped) {
    let Stopped {
        unsent,
        still_sending,
        saved,
    } = stopped;
    if unsent > 0 || still_sending {
        tracing::warn!(
            unsent,
            still_sending,
            "alert notifications not sent before the stop (kept in the state file: sent at the next start)"
        );
    }
    log_saved(saved);
}

/// Says what became of the state saved by the last run.
fn log_restored(restored: Restored) {
    match restored {
        Restored::Fresh => tracing::info!("no saved alert state: every rule starts ok"),
        Restored::Loaded {
            rules,
            rules_set_aside,
            events,
            attempts,
        } => {
            tracing::info!(
                rules,
                events,
                attempts,
                "alert state restored from the last run"
            );
            if rules_set_aside > 0 {
                tracing::info!(
                    rules_set_aside,
                    "saved alert state of rules changed or removed since is kept aside for a day (taken up if they come back unchanged): as they are now, they start ok"
                );
            }
        }
        Restored::Unreadable {
            path,
            error,
            moved_to,
            move_error,
        } => match moved_to {
            Some(aside) => tracing::error!(
                path = %path.display(),
                moved_to = %aside.display(),
                %error,
                "the alert state file is unreadable: moved aside, alerting starts fresh"
            ),
            None => tracing::error!(
                path = %path.display(),
                %error,
                move_error = move_error.unwrap_or_default(),
                "the alert state file is unreadable and cannot be moved aside: alerting starts fresh"
            ),
        },
    }
}

/// Logs the first failed write of the state file of a run of failures (each is counted on
/// `/metrics`), and the write that ends them.
fn log_saved(saved: Saved) {
    match saved {
        Saved::Failed {
            path,
            error,
            first: true,
        } => tracing::error!(
            path = %path.display(),
            %error,
            "cannot write the alert state file: alerting goes on in memory, a restart would forget it (retried at each change, counted in ocelot_alert_state_write_failures)"
        ),
        Saved::Written { recovered: true } => {
            tracing::info!("the alert state file is written again")
        }
        _ => {}
    }
}

/// How long after start the loop looks for rules naming domains it has heard nothing from:
/// long enough for the services of a fresh start (the demo's, say) to have sent something.
const DOMAIN_CHECK_AFTER_MS: u64 = 3 * 60_000;

/// Warns about each rule whose domain has no report this hour or in the last day. Rules are
/// not checked against domains at load (a domain may start sending later), but a misspelt
/// domain looks like a domain that sends nothing: its counts read 0 and `below` rules fire.
/// Returns whether the check is done: not while an analyzer thread is too busy to say
/// which domains it holds (tried again at the next tick); done, unchecked, when the store
/// cannot list an hour's (said in the log).
async fn warn_of_unheard_domains(
    alerting: &Alerting,
    collector: &Collector,
    store: &Store,
    now: u64,
) -> bool {
    let known = match heard_domains(collector, store, now).await {
        Ok(known) => known,
        Err(Unheard::Busy) => return false,
        Err(Unheard::StoreFailed) => return true,
    };
    for rule in alerting.engine().rules().rules_with_unknown_domains(&known) {
        tracing::warn!(
            rule = %rule.id,
            domain = %rule.scope.domain,
            "an alert rule watches a domain with no report this hour or the day before: misspelt? (its counts read 0, so below rules fire)"
        );
    }
    true
}

/// The rules on a transaction or event type (and name) that their domain's report shows
/// neither in the hour of `now` nor in the hour before, as `(rule id, what was not seen)`;
/// `Err` while an analyzer thread is too busy to answer. A misspelt type or name (or one
/// written before the analyzer's renaming, `/order/42` for `/order/{num}`) never matches:
/// its counts read 0, so `below` rules fire and `above` rules never do. Heartbeat rules
/// are checked for their machine and figure ([`unseen_heartbeat_figure`]). Rules of other
/// reports, and of domains with no report in either hour (warned about as unheard), are
/// not checked.
async fn rules_with_unseen_names(
    alerting: &Alerting,
    collector: &Collector,
    now: u64,
) -> Result<Vec<(String, String)>, Unanswered> {
    let hour = ocelot_protocol::hour_of(now);
    let mut unseen = Vec::new();
    for rule in alerting.engine().rules().rules() {
        let scope = &rule.scope;
        if scope.report == ReportKind::Heartbeat {
            if let Some(what) = unseen_heartbeat_figure(collector, scope, hour).await? {
                unseen.push((rule.id.clone(), what));
            }
            continue;
        }
        let Some(type_) = scope.type_.as_deref() else {
            continue;
        };
        let name = scope.name.as_deref();
        let query = |hour_seconds| ocelot_analyzer::ViewQuery {
            type_: Some(type_),
            elapsed_seconds: hour_seconds,
            max_names: Some(0),
            keep_name: name,
            ..Default::default()
        };
        // Per hour: `None` without a report, else whether the type and name are in it.
        let mut seen = Vec::new();
        for h in [hour.saturating_sub(1), hour] {
            let found = match scope.report {
                ReportKind::Transaction => {
                    let report =
                        collector.transaction_report_now(scope.domain.as_str(), h, QUERY_WAIT);
                    report.await?.map(|r| {
                        let view = r.view(&query(3600.0));
                        view.types.iter().any(|t| {
                            t.type_ == type_
                                && name.is_none_or(|n| t.names.iter().any(|x| x.name == n))
                        })
                    })
                }
                ReportKind::Event => {
                    let report = collector.event_report_now(scope.domain.as_str(), h, QUERY_WAIT);
                    report.await?.map(|r| {
                        let view = r.view(&query(3600.0));
                        view.types.iter().any(|t| {
                            t.type_ == type_
                                && name.is_none_or(|n| t.names.iter().any(|x| x.name == n))
                        })
                    })
                }
                ReportKind::Problem | ReportKind::Metric | ReportKind::Heartbeat => break,
            };
            seen.push(found);
        }
        let any_report = seen.iter().any(Option::is_some);
        if any_report && !seen.contains(&Some(true)) {
            let what = match name {
                Some(name) => format!("{type_} {name}"),
                None => type_.to_owned(),
            };
            unseen.push((rule.id.clone(), what));
        }
    }
    Ok(unseen)
}

/// What a heartbeat rule on `scope` watches that its domain's heartbeat report had
/// neither in `hour` nor in the hour before: its machine (`ip`), or its figure (`name`) on
/// that machine or, without `ip`, on any. `None` when seen, or without a report in either
/// hour (a domain unheard of, warned about as such).
async fn unseen_heartbeat_figure(
    collector: &Collector,
    scope: &ocelot_alert::Scope,
    hour: u64,
) -> Result<Option<String>, Unanswered> {
    let (ip, name) = (scope.ip.as_deref(), scope.name.as_deref());
    if ip.is_none() && name.is_none() {
        return Ok(None);
    }
    let mut any_report = false;
    for h in [hour.saturating_sub(1), hour] {
        let domain = scope.domain.as_str();
        let Some(report) = collector
            .heartbeat_report_now(domain, h, QUERY_WAIT)
            .await?
        else {
            continue;
        };
        any_report = true;
        let machines: Vec<&str> = match ip {
            Some(ip) => report.ips().filter(|m| *m == ip).collect(),
            None => report.ips().collect(),
        };
        let seen = machines.iter().any(|m| {
            name.is_none_or(|name| report.minutes_of(m).any(|(_, v)| v.contains_key(name)))
        });
        if seen {
            return Ok(None);
        }
    }
    Ok(any_report.then(|| match (ip, name) {
        (Some(ip), Some(name)) => format!("{name} on machine {ip}"),
        (Some(ip), None) => format!("machine {ip}"),
        (None, name) => name.unwrap_or_default().to_owned(),
    }))
}

/// Warns about each rule of [`rules_with_unseen_names`]; whether the check is done (not
/// while an analyzer thread is too busy to answer: tried again at the next tick).
async fn warn_of_unseen_names(alerting: &Alerting, collector: &Collector, now: u64) -> bool {
    match rules_with_unseen_names(alerting, collector, now).await {
        Ok(unseen) => {
            for (rule, what) in unseen {
                tracing::warn!(
                    rule = %rule,
                    watched = %what,
                    "an alert rule watches a type or name (or a heartbeat machine or figure) its domain's report did not have this hour or the hour before: misspelt, or not as the board shows it (e.g. /order/{{num}})? (its counts read 0, so below rules fire)"
                );
            }
            true
        }
        Err(Unanswered) => false,
    }
}

/// Why the domains heard of lately are not known: with either, every domain could look
/// unheard.
#[derive(Debug, PartialEq)]
enum Unheard {
    /// An analyzer thread did not say which domains it holds within [`QUERY_WAIT`].
    Busy,
    /// The store could not list an hour's domains (said in the log).
    StoreFailed,
}

/// The domains with a report in the hour of `now` (held by the analyzers or checkpointed)
/// or the 24 before.
async fn heard_domains(
    collector: &Collector,
    store: &Store,
    now: u64,
) -> Result<Vec<String>, Unheard> {
    let hour = ocelot_protocol::hour_of(now);
    let mut known = collector
        .live_domains_now(hour, QUERY_WAIT)
        .await
        .map_err(|Unanswered| Unheard::Busy)?;
    for past in hour.saturating_sub(24)..=hour {
        match store.report_domains(past) {
            Ok(domains) => known.extend(
                domains
                    .into_iter()
                    // A rule on the collector's own folder reads nothing: not heard from.
                    .filter(|domain| ocelot_collector::is_client_domain(store, past, domain)),
            ),
            Err(e) => {
                tracing::warn!(error = %e, "cannot list the stored domains of an hour; the alert rules' domains go unchecked");
                return Err(Unheard::StoreFailed);
            }
        }
    }
    Ok(known)
}

/// Ticks in a row without every analyzer's answer before the loop says so (a minute).
const WAITS_BEFORE_WARNING: u32 = 6;

/// How long the alert loop waits for an analyzer thread's answer.
const QUERY_WAIT: Duration = Duration::from_secs(3);

/// The reports `alerting` wants for the minutes due at `now`, as the analyzers hold them
/// now; `Err` if any analyzer did not answer within `wait`.
async fn current_reports(
    collector: &Collector,
    alerting: &Alerting,
    now: u64,
    wait: Duration,
) -> Result<MemoryHistory, Unanswered> {
    let mut live = MemoryHistory::new();
    for wanted in alerting.wanted_reports(now) {
        let (domain, hour) = (wanted.domain.as_str(), wanted.hour);
        let report = match wanted.kind {
            ReportKind::Transaction => collector
                .transaction_report_now(domain, hour, wait)
                .await?
                .map(Report::Transaction),
            ReportKind::Event => collector
                .event_report_now(domain, hour, wait)
                .await?
                .map(Report::Event),
            ReportKind::Problem => collector
                .problem_report_now(domain, hour, wait)
                .await?
                .map(Report::Problem),
            ReportKind::Metric => collector
                .metric_report_now(domain, hour, wait)
                .await?
                .map(Report::Metric),
            ReportKind::Heartbeat => collector
                .heartbeat_report_now(domain, hour, wait)
                .await?
                .map(Report::Heartbeat),
        };
        if let Some(report) = report {
            live.insert(domain, hour, report);
        }
        if wanted.watched {
            live.cover(hour);
        }
    }
    Ok(live)
}

/// The alert figures on `/metrics`, read from the alert log (its counters are the one source).
pub(crate) struct AlertFigures(pub(crate) AlertLog);

impl fmt::Debug for AlertFigures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AlertFigures")
    }
}

impl PromCollector for AlertFigures {
    fn encode(&self, mut e: DescriptorEncoder<'_>) -> fmt::Result {
        use crate::telemetry::{
            counter, counter_family, gauge, ALERT_LAST_GIVEN_UP_AGE, ALERT_NOTIFICATIONS_GIVEN_UP,
            ALERT_NOTIFICATION_FAILURES, ALERT_NOTIFICATION_PANICS,
            ALERT_TARGET_NOTIFICATIONS_GIVEN_UP,
        };
        let snapshot = self.0.snapshot();
        let c = &snapshot.counters;
        let firing = snapshot
            .rules
            .iter()
            .filter(|r| r.phase == AlertPhase::Firing)
            .count() as u64;
        for (name, help, value) in [
            (
                "ocelot_alerts_fired",
                "Alerts that started firing.",
                c.fired,
            ),
            (
                "ocelot_alerts_resolved",
                "Alerts that resolved.",
                c.resolved,
            ),
            (
                "ocelot_alerts_suppressed",
                "Re-fires inside the suppression window, not notified.",
                c.suppressed,
            ),
            (
                "ocelot_alert_notifications_sent",
                "Notifications delivered.",
                c.notifications_sent,
            ),
            (
                ALERT_NOTIFICATION_FAILURES,
                "Notification attempts that failed.",
                c.notification_failures,
            ),
            (
                ALERT_NOTIFICATIONS_GIVEN_UP,
                "Notifications abandoned after every retry.",
                c.notifications_given_up,
            ),
            (
                ALERT_NOTIFICATION_PANICS,
                "Notifications whose sending panicked (given up for that target; its thread goes on).",
                c.notification_panics,
            ),
            (
                "ocelot_alert_state_write_failures",
                "Writes of the alert state file that failed.",
                c.state_write_failures,
            ),
            (
                "ocelot_alert_baselines_not_finite",
                "Minutes a baseline rule met a baseline that is not a finite number (it cannot fire on them).",
                c.baselines_not_finite,
            ),
        ] {
            counter(&mut e, name, help, value)?;
        }
        // The same notification counters per target, beside the totals above (kept as they
        // were for the dashboards that read them): which webhook is dead. A family of its
        // own, as a total and its parts under one name would be summed twice.
        let targets: Vec<(Cow<'_, str>, &TargetCounters)> = c
            .targets
            .iter()
            .map(|(target, t)| (escaped_label_value(target), t))
            .collect();
        for (name, help, pick) in [
            (
                "ocelot_alert_target_notifications_sent",
                "Notifications delivered, by target.",
                (|t| t.notifications_sent) as fn(&TargetCounters) -> u64,
            ),
            (
                "ocelot_alert_target_notification_failures",
                "Notification attempts that failed, by target.",
                |t| t.notification_failures,
            ),
            (
                ALERT_TARGET_NOTIFICATIONS_GIVEN_UP,
                "Notifications abandoned after every retry, by target.",
                |t| t.notifications_given_up,
            ),
            (
                "ocelot_alert_target_notification_panics",
                "Notifications whose sending panicked, by target.",
                |t| t.notification_panics,
            ),
        ] {
            let rows = targets.iter().map(|(target, t)| {
                (
                    vec![("target", target.as_ref()), ("channel", t.channel.as_str())],
                    pick(t),
                )
            });
            counter_family(&mut e, name, help, rows)?;
        }
        // The newest attempt given up, those restored from before a restart included: a
        // page missed a few minutes before a restart was still missed.
        if let Some(at_ms) = snapshot
            .attempts
            .iter()
            .filter(|a| a.gave_up)
            .map(|a| a.at_ms)
            .max()
        {
            let now_ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64);
            gauge(
                &mut e,
                ALERT_LAST_GIVEN_UP_AGE,
                "Seconds since an alert notification was last given up (its target was not told).",
                now_ms.saturating_sub(at_ms) as f64 / 1000.0,
            )?;
        }
        gauge(
            &mut e,
            crate::telemetry::ALERTS_FIRING,
            "Rules firing now.",
            firing as i64,
        )
    }
}

/// `value` as the exposition format needs a label value: `\`, `"` and newlines escaped.
/// A target's name is whatever the rules file says, and prometheus-client (0.22) writes
/// label values as given: one quote in a name would break the whole scrape.
fn escaped_label_value(value: &str) -> Cow<'_, str> {
    if !value.contains(['\\', '"', '\n']) {
        return Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len() + 2);
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use ocelot_collector::{CollectorConfig, ManualClock};
    use ocelot_protocol::{Header, Message, MessageTree, Transaction};
    use ocelot_store::StoreConfig;

    use super::*;
    use ocelot_analyzer::STATE_REPORT_NAME;
    use ocelot_collector::STATE_DOMAIN;

    const HOUR: u64 = 498_703;
    /// Ten minutes into `HOUR`.
    const NOW: u64 = HOUR * 3_600_000 + 600_000;

    /// A store in `dir` and a collector writing to it, on a clock stopped at [`NOW`].
    fn started(dir: &std::path::Path) -> (Store, Collector) {
        let store = Store::open(StoreConfig {
            // The hours here are fixed; retention goes by the real clock.
            retention_days: 0,
            ..StoreConfig::new(dir)
        })
        .unwrap();
        let collector = Collector::start(
            CollectorConfig {
                background_ticks: false,
                ..Default::default()
            },
            Some(store.clone()),
            Arc::new(ManualClock::new(NOW)),
        );
        (store, collector)
    }

    /// One tree of `shop`, a minute ago.
    fn shop_sends(collector: &Collector) {
        let header = Header {
            domain: "shop".into(),
            ip_address: "10.0.0.1".into(),
            message_id: format!("shop-0a000001-{HOUR}-1"),
            ..Header::default()
        };
        let root = Transaction::new("URL", "/pay", NOW - 1_000);
        let tree = MessageTree::new(header, Message::Transaction(root));
        collector
            .ingest(ocelot_protocol::nt1::encode_to_bytes(&tree))
            .unwrap();
    }

    #[tokio::test]
    async fn a_rule_naming_a_domain_not_heard_from_this_hour_or_the_day_before_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let (store, collector) = started(dir.path());
        let now = NOW;
        // `shop` sends this hour; `cart` sent an hour ago (its report is stored).
        shop_sends(&collector);
        collector.checkpoint_now();
        store
            .write_report(HOUR - 1, "cart", "transaction", b"{}")
            .unwrap();
        let known = heard_domains(&collector, &store, now).await.unwrap();
        let rules = RuleSet::from_toml_str(
            r#"
            [[rule]]
            id = "pay"
            domain = "shop"
            report = "transaction"
            measure = "count"
            below = 1.0
            [[rule]]
            id = "cart"
            domain = "cart"
            report = "transaction"
            measure = "count"
            below = 1.0
            [[rule]]
            id = "typo"
            domain = "shpo"
            report = "transaction"
            measure = "count"
            below = 1.0
            "#,
            None,
        )
        .unwrap();
        let unheard: Vec<&str> = rules
            .rules_with_unknown_domains(&known)
            .iter()
            .map(|r| r.id.as_str())
            .collect();
        assert_eq!(unheard, ["typo"]);
        collector.shutdown();
        store.shutdown();
    }

    #[tokio::test]
    async fn the_collectors_own_state_folder_is_not_a_domain_heard_from() {
        let dir = tempfile::tempdir().unwrap();
        let (store, collector) = started(dir.path());
        shop_sends(&collector);
        collector.checkpoint_now();
        // The State report the collector files every hour under its own folder.
        store
            .write_report(HOUR - 1, STATE_DOMAIN, STATE_REPORT_NAME, b"{}")
            .unwrap();
        let known = heard_domains(&collector, &store, NOW).await.unwrap();
        assert!(known.iter().any(|d| d == "shop"), "{known:?}");
        assert!(
            !known.iter().any(|d| d == STATE_DOMAIN),
            "a rule on domain 'ocelot' reads 0 and is not warned about: {known:?}"
        );
        // An application of that name is heard from.
        store
            .write_report(HOUR - 2, STATE_DOMAIN, "transaction", b"{}")
            .unwrap();
        let known = heard_domains(&collector, &store, NOW).await.unwrap();
        assert!(known.iter().any(|d| d == STATE_DOMAIN), "{known:?}");
        collector.shutdown();
        store.shutdown();
    }

    #[tokio::test]
    async fn a_rule_on_a_type_or_name_its_domain_did_not_have_lately_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let (store, collector) = started(dir.path());
        // `shop` sends `URL /pay` this hour.
        shop_sends(&collector);
        let rules = RuleSet::from_toml_str(
            r#"
            [[rule]]
            id = "pay"
            domain = "shop"
            report = "transaction"
            type = "URL"
            name = "/pay"
            measure = "count"
            below = 1.0
            [[rule]]
            id = "all-urls"
            domain = "shop"
            report = "transaction"
            type = "URL"
            measure = "count"
            below = 1.0
            [[rule]]
            id = "name-typo"
            domain = "shop"
            report = "transaction"
            type = "URL"
            name = "/pya"
            measure = "count"
            below = 1.0
            [[rule]]
            id = "type-typo"
            domain = "shop"
            report = "event"
            type = "Exceptoin"
            measure = "count"
            above = 10.0
            [[rule]]
            id = "unheard-domain"
            domain = "shpo"
            report = "transaction"
            type = "URL"
            measure = "count"
            below = 1.0
            "#,
            None,
        )
        .unwrap();
        let alerting = Alerting::new(rules);
        let unseen = eventually_unseen(&alerting, &collector).await;
        assert_eq!(
            unseen,
            [
                ("name-typo".to_owned(), "URL /pya".to_owned()),
                ("type-typo".to_owned(), "Exceptoin".to_owned()),
            ]
        );
        collector.shutdown();
        store.shutdown();
    }

    /// A heartbeat of `shop`'s machine `ip` a second ago, with `thread.count`.
    fn heartbeat_sent(collector: &Collector, ip: &str, seq: u32) {
        let header = Header {
            domain: "shop".into(),
            ip_address: ip.into(),
            message_id: format!("shop-0a000002-{HOUR}-{seq}"),
            ..Header::default()
        };
        let xml = "<status><thread count=\"42\"/></status>";
        let heartbeat = ocelot_protocol::Leaf::new("Heartbeat", ip, "0", NOW - 1_000, xml);
        let tree = MessageTree::new(header, Message::Heartbeat(heartbeat));
        collector
            .ingest(ocelot_protocol::nt1::encode_to_bytes(&tree))
            .unwrap();
    }

    /// A heartbeat rule without `ip` watches the machines heard from this hour or the hour
    /// before: the loop fetches both heartbeat reports, and marks only the evaluated hour as
    /// watched. A misspelt machine or figure is found like a misspelt type.
    #[tokio::test]
    async fn the_loop_reads_the_heartbeats_of_the_hour_and_the_hour_before() {
        let dir = tempfile::tempdir().unwrap();
        let (store, collector) = started(dir.path());
        // 10.0.0.9 sent in the hour before (sealed); 10.0.0.2 sends now.
        let mut before = ocelot_analyzer::HeartbeatAnalyzer::new(
            HOUR - 1,
            Arc::new(ocelot_analyzer::AnalyzerConfig::default()),
        );
        let header = Header {
            domain: "shop".into(),
            ip_address: "10.0.0.9".into(),
            ..Header::default()
        };
        let xml = "<status><thread count=\"7\"/></status>";
        let at = (HOUR - 1) * 3_600_000 + 59 * 60_000;
        let heartbeat = ocelot_protocol::Leaf::new("Heartbeat", "10.0.0.9", "0", at, xml);
        before.process(&MessageTree::new(header, Message::Heartbeat(heartbeat)));
        let sealed = serde_json::to_vec(&before.reports()["shop"]).unwrap();
        store
            .write_report(HOUR - 1, "shop", "heartbeat", &sealed)
            .unwrap();
        heartbeat_sent(&collector, "10.0.0.2", 1);
        let rules = RuleSet::from_toml_str(
            r#"
            [[rule]]
            id = "silent"
            domain = "shop"
            report = "heartbeat"
            measure = "heartbeats"
            below = 1.0
            [[rule]]
            id = "ip-typo"
            domain = "shop"
            report = "heartbeat"
            ip = "10.0.0.22"
            measure = "heartbeats"
            below = 1.0
            [[rule]]
            id = "figure-typo"
            domain = "shop"
            report = "heartbeat"
            name = "thread.cuont"
            measure = "value"
            above = 500.0
            [[rule]]
            id = "threads"
            domain = "shop"
            report = "heartbeat"
            ip = "10.0.0.2"
            name = "thread.count"
            measure = "value"
            above = 500.0
            "#,
            None,
        )
        .unwrap();
        let alerting = Alerting::new(rules);
        let mut live = None;
        for _ in 0..200 {
            let history = current_reports(&collector, &alerting, NOW, QUERY_WAIT)
                .await
                .unwrap();
            if history
                .report("shop", ReportKind::Heartbeat, HOUR)
                .is_some()
            {
                live = Some(history);
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let live = live.expect("the heartbeat was never counted");
        let machines = |hour| match live.report("shop", ReportKind::Heartbeat, hour).as_deref() {
            Some(Report::Heartbeat(r)) => r.ips().map(str::to_owned).collect::<Vec<_>>(),
            other => panic!("{other:?}"),
        };
        assert_eq!(machines(HOUR), ["10.0.0.2"]);
        assert_eq!(machines(HOUR - 1), ["10.0.0.9"]);
        assert!(live.covers(HOUR));
        assert!(
            !live.covers(HOUR - 1),
            "read for its machines, not evaluated"
        );
        let unseen = rules_with_unseen_names(&alerting, &collector, NOW)
            .await
            .unwrap();
        assert_eq!(
            unseen,
            [
                ("ip-typo".to_owned(), "machine 10.0.0.22".to_owned()),
                ("figure-typo".to_owned(), "thread.cuont".to_owned()),
            ]
        );
        collector.shutdown();
        store.shutdown();
    }

    /// [`rules_with_unseen_names`] once the tree sent is counted.
    async fn eventually_unseen(
        alerting: &Alerting,
        collector: &Collector,
    ) -> Vec<(String, String)> {
        for _ in 0..200 {
            let counted = collector
                .transaction_report_now("shop", HOUR, QUERY_WAIT)
                .await
                .ok()
                .flatten()
                .is_some();
            if counted {
                return rules_with_unseen_names(alerting, collector, NOW)
                    .await
                    .unwrap();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the tree was never counted");
    }

    /// The transaction report of `shop` for [`HOUR`], with one `URL /pay` in minute 1.
    fn one_transaction_in_minute_1() -> Report {
        let config = Arc::new(ocelot_analyzer::AnalyzerConfig::default());
        let mut analyzer = ocelot_analyzer::TransactionAnalyzer::new(HOUR, config);
        let header = Header {
            domain: "shop".into(),
            ..Header::default()
        };
        let root = Transaction::new("URL", "/pay", HOUR * 3_600_000 + 60_000);
        analyzer.process(&MessageTree::new(header, Message::Transaction(root)));
        Report::Transaction(analyzer.reports()["shop"].clone())
    }

    /// A floor under `shop`'s traffic, and a rule firing while it has any: together they
    /// tell which minutes were evaluated.
    fn floor_and_busy() -> RuleSet {
        RuleSet::from_toml_str(
            "[[rule]]\nid = \"floor\"\ndomain = \"shop\"\nreport = \"transaction\"\n\
             measure = \"count\"\nbelow = 1.0\n\n\
             [[rule]]\nid = \"busy\"\ndomain = \"shop\"\nreport = \"transaction\"\n\
             measure = \"count\"\nabove = 0.0\n",
            None,
        )
        .unwrap()
    }

    /// How a run of [`serve_for_a_while`] ends.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum End {
        /// Ctrl-C: the collector writes its final reports, then alerting stops.
        Stop,
        /// `kill -9`: nothing more is written.
        Kill,
    }

    /// A run of `ocelot serve` over the data folder `dir` from `start_ms` to `stop_ms` (a
    /// clean stop), as its loops run: the collector's clock and the alert loop tick every
    /// 10 s; `shop` sends a tree in every minute but the `quiet` ones (minutes of
    /// [`HOUR`]). Returns the alerts fired and resolved, as (rule, kind, epoch minute).
    fn serve_for_a_while(
        dir: &std::path::Path,
        start_ms: u64,
        stop_ms: u64,
        quiet: &[u64],
    ) -> Vec<(String, AlertKind, u64)> {
        serve_until(
            dir,
            &floor_and_busy(),
            (start_ms, stop_ms),
            quiet,
            End::Stop,
        )
    }

    /// [`serve_for_a_while`] with `rules`, from the first time to the second, ended by
    /// `end`.
    fn serve_until(
        dir: &std::path::Path,
        rules: &RuleSet,
        (start_ms, stop_ms): (u64, u64),
        quiet: &[u64],
        end: End,
    ) -> Vec<(String, AlertKind, u64)> {
        let store = Store::open(StoreConfig {
            retention_days: 0,
            ..StoreConfig::new(dir)
        })
        .unwrap();
        let clock = Arc::new(ManualClock::new(start_ms));
        let config = CollectorConfig {
            background_ticks: false,
            ..Default::default()
        };
        let collector = Collector::start(config, Some(store.clone()), clock.clone());
        let history = Arc::new(StoreHistory::new(store.clone()));
        let (mut alerting, started) = start_alerting(rules.clone(), &collector, dir, &*history);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let mut events: Vec<_> = (started.into_iter())
            .map(|e| (e.rule, e.kind, e.minute))
            .collect();
        let mut sent_in = None;
        for now in (start_ms..stop_ms).step_by(10_000) {
            clock.set(now);
            collector.tick();
            let minute = now / 60_000;
            if sent_in != Some(minute) && !quiet.contains(&(minute % 60)) {
                sent_in = Some(minute);
                let header = Header {
                    domain: "shop".into(),
                    ip_address: "10.0.0.1".into(),
                    message_id: format!("shop-0a000001-{HOUR}-{minute}"),
                    ..Header::default()
                };
                let root = Transaction::new("URL", "/pay", now);
                let tree = MessageTree::new(header, Message::Transaction(root));
                collector
                    .ingest(ocelot_protocol::nt1::encode_to_bytes(&tree))
                    .unwrap();
                // Analysed before the alert loop asks, whichever thread runs first.
                collector.checkpoint_now();
            }
            let live = runtime
                .block_on(current_reports(&collector, &alerting, now, QUERY_WAIT))
                .unwrap();
            let ticked = alerting.tick(now, &Overlay(live, history.clone()));
            events.extend(ticked.into_iter().map(|e| (e.rule, e.kind, e.minute)));
            alerting.save_state(now);
        }
        clock.set(stop_ms);
        match end {
            End::Stop => {
                // As `ocelot serve` stops: the collector's final write, then alerting.
                collector.shutdown();
                let (_, left) = stop_alerting(alerting, stop_ms, Some(&*history));
                events.extend(left.into_iter().map(|e| (e.rule, e.kind, e.minute)));
                store.shutdown();
            }
            End::Kill => {
                // Nothing is written: not the collector's final reports, nor the alert
                // state beyond the last tick's.
                drop((collector, alerting));
                store.crash_for_tests();
            }
        }
        events
    }

    /// What `ocelot alert replay` finds in `dir` over [`HOUR`].
    fn replayed(dir: &std::path::Path) -> Vec<(String, AlertKind, u64)> {
        replayed_rules(dir, &floor_and_busy())
    }

    /// [`replayed`] with `rules`.
    fn replayed_rules(dir: &std::path::Path, rules: &RuleSet) -> Vec<(String, AlertKind, u64)> {
        let history = StoreHistory::open(dir).unwrap();
        let events = ocelot_alert::replay(rules, &history, HOUR, HOUR);
        assert_eq!(history.read_errors(), 0);
        events
            .into_iter()
            .map(|e| (e.rule, e.kind, e.minute))
            .collect()
    }

    /// `serve` started at 11:59:58 fired at 12:00; a replay of what it stored fired a
    /// minute later: the collector's first State sample came 10 s after the start, so
    /// 11:59 had none and 12:00 read as the partial minute of a start.
    #[test]
    fn live_and_replay_agree_on_the_first_minute_after_a_start_late_in_a_minute() {
        let dir = tempfile::tempdir().unwrap();
        let at = |mm: u64, ss: u64| HOUR * 3_600_000 + mm * 60_000 + ss * 1_000;
        let live = serve_for_a_while(dir.path(), at(9, 58), at(14, 30), &[10]);
        let minute = |mm: u64| HOUR * 60 + mm;
        let expected = [
            ("floor".to_owned(), AlertKind::Fired, minute(10)),
            ("floor".to_owned(), AlertKind::Resolved, minute(11)),
            ("busy".to_owned(), AlertKind::Fired, minute(11)),
        ];
        assert_eq!(live, expected, "live evaluates from 12:00");
        assert_eq!(replayed(dir.path()), live);
    }

    /// A stop and a restart within one minute: both runs sampled it, so replay evaluated
    /// it, though neither run had (the first stopped before it ended, the second
    /// evaluated from the minute after its start).
    #[test]
    fn live_and_replay_agree_on_a_restart_within_one_minute() {
        let dir = tempfile::tempdir().unwrap();
        let at = |mm: u64, ss: u64| HOUR * 3_600_000 + mm * 60_000 + ss * 1_000;
        // `shop` is quiet in 00:18, the minute of the restart.
        let mut live = serve_for_a_while(dir.path(), at(5, 30), at(18, 40), &[18]);
        live.extend(serve_for_a_while(dir.path(), at(18, 50), at(25, 30), &[18]));
        // `busy` fired at the first minute evaluated and, restored as firing, stays so.
        assert_eq!(live, [("busy".to_owned(), AlertKind::Fired, HOUR * 60 + 6)]);
        assert_eq!(replayed(dir.path()), live);
    }

    /// What `busy` and `floor` do when `shop` is quiet in 00:08 alone, evaluated from 00:06
    /// through 00:11.
    fn around_a_quiet_00_08() -> [(String, AlertKind, u64); 5] {
        let minute = |mm: u64| HOUR * 60 + mm;
        [
            ("busy".to_owned(), AlertKind::Fired, minute(6)),
            ("floor".to_owned(), AlertKind::Fired, minute(8)),
            ("busy".to_owned(), AlertKind::Resolved, minute(8)),
            ("floor".to_owned(), AlertKind::Resolved, minute(10)),
            ("busy".to_owned(), AlertKind::Fired, minute(10)),
        ]
    }

    /// A stop 5 s into 00:09 came before the tick that evaluates 00:08 (00:09:10, once it
    /// settled), so live never evaluated it; its neighbours had samples, so replay did:
    /// `floor` fired and `busy` resolved in replay alone.
    #[test]
    fn live_and_replay_agree_on_a_stop_early_in_a_minute() {
        let dir = tempfile::tempdir().unwrap();
        let at = |mm: u64, ss: u64| HOUR * 3_600_000 + mm * 60_000 + ss * 1_000;
        // `shop` is quiet in 00:08, the minute before the stop.
        let mut live = serve_for_a_while(dir.path(), at(5, 30), at(9, 5), &[8]);
        let expected = around_a_quiet_00_08();
        assert_eq!(
            live,
            expected[..3],
            "the stop evaluates 00:08 from the final reports"
        );
        // The next start goes on from 00:10 (00:09 is the stop's and the start's), without
        // evaluating 00:08 again.
        live.extend(serve_for_a_while(dir.path(), at(9, 20), at(12, 30), &[8]));
        assert_eq!(live, expected);
        assert_eq!(replayed(dir.path()), live);
    }

    /// A stop late in 00:08 and a start early in 00:09: each minute has a sample and the
    /// start is marked in 00:09, so replay evaluates 00:08, which neither run saw whole.
    /// The start evaluates it from what the stop stored.
    #[test]
    fn live_and_replay_agree_on_a_stop_late_in_a_minute_and_a_start_early_in_the_next() {
        let dir = tempfile::tempdir().unwrap();
        let at = |mm: u64, ss: u64| HOUR * 3_600_000 + mm * 60_000 + ss * 1_000;
        let mut live = serve_for_a_while(dir.path(), at(5, 30), at(8, 50), &[8]);
        live.extend(serve_for_a_while(dir.path(), at(9, 5), at(12, 30), &[8]));
        assert_eq!(live, around_a_quiet_00_08());
        assert_eq!(replayed(dir.path()), live);
    }

    /// `kill -9` at 00:18:05, before the tick that evaluates 00:17: no stop hook runs.
    /// The state file says 00:17 was not evaluated, and the next start evaluates it from
    /// the last checkpoint (taken at 00:18:00), as replay does, before going on. `floor`
    /// needs two bad minutes and `busy` two good ones to resolve, so the runs that 00:16
    /// began outlive the kill.
    #[test]
    fn live_and_replay_agree_on_the_minute_a_killed_server_left() {
        let dir = tempfile::tempdir().unwrap();
        let at = |mm: u64, ss: u64| HOUR * 3_600_000 + mm * 60_000 + ss * 1_000;
        let rules = RuleSet::from_toml_str(
            "[[rule]]\nid = \"floor\"\ndomain = \"shop\"\nreport = \"transaction\"\n\
             measure = \"count\"\nbelow = 1.0\nfor_minutes = 2\nresolve_minutes = 2\n\n\
             [[rule]]\nid = \"busy\"\ndomain = \"shop\"\nreport = \"transaction\"\n\
             measure = \"count\"\nabove = 0.0\nfor_minutes = 2\nresolve_minutes = 2\n",
            None,
        )
        .unwrap();
        // `shop` is quiet in 00:16 and 00:17.
        let quiet = [16, 17];
        let mut live = serve_until(
            dir.path(),
            &rules,
            (at(5, 30), at(18, 5)),
            &quiet,
            End::Kill,
        );
        let minute = |mm: u64| HOUR * 60 + mm;
        assert_eq!(live, [("busy".to_owned(), AlertKind::Fired, minute(7))]);
        live.extend(serve_until(
            dir.path(),
            &rules,
            (at(18, 30), at(22, 30)),
            &quiet,
            End::Stop,
        ));
        assert_eq!(
            live[1..],
            [
                ("floor".to_owned(), AlertKind::Fired, minute(17)),
                ("busy".to_owned(), AlertKind::Resolved, minute(17)),
                ("floor".to_owned(), AlertKind::Resolved, minute(20)),
                ("busy".to_owned(), AlertKind::Fired, minute(20)),
            ],
            "the start evaluates 00:17 first, going on with the runs of 00:16"
        );
        assert_eq!(replayed_rules(dir.path(), &rules), live);
    }

    /// A panic while sending to a target ended its notification thread with a line on
    /// stderr that named no target, and no counter on `/metrics` moved.
    #[test]
    fn a_panic_while_sending_is_a_warning_naming_the_target_and_counted_on_metrics() {
        use std::sync::atomic::{AtomicBool, Ordering};

        // Nothing listens there (its listener is gone): the attempt fails at once.
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let rules = RuleSet::from_toml_str(
            &format!(
                "[[webhook]]\nname = \"boom\"\nurl = \"http://{closed}/hook\"\nretries = 0\n\n\
                 [[rule]]\nid = \"shop-silent\"\ndomain = \"shop\"\nreport = \"transaction\"\n\
                 measure = \"count\"\nbelow = 1.0\nnotify = [\"boom\"]\n"
            ),
            None,
        )
        .unwrap();
        let mut silent = MemoryHistory::new();
        silent.cover(HOUR);
        let mut alerting = Alerting::new(rules);
        let log = alerting.log();

        let logged =
            crate::logging::tests::capture(crate::logging::LogFormat::Text, "info", || {
                // The server's hook, which panics at the first attempt: a stand-in for a bug in
                // the sender, on the same thread.
                let dispatch = tracing::dispatcher::get_default(Clone::clone);
                let panicked = AtomicBool::new(false);
                log.on_attempt(move |attempt| {
                    if attempt.attempt > 0 && !panicked.swap(true, Ordering::Relaxed) {
                        panic!("the sender broke");
                    }
                    tracing::dispatcher::with_default(&dispatch, || log_attempt(attempt));
                });
                assert_eq!(alerting.tick(HOUR * 3_600_000 + 75_000, &silent).len(), 1);
                for _ in 0..1_000 {
                    if log.snapshot().counters.notification_panics == 1 {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                alerting.stop(0, Duration::from_secs(10));
            });
        let given_up: Vec<_> = logged
            .lines()
            .filter(|line| line.contains("alert notification given up"))
            .collect();
        assert_eq!(given_up.len(), 1, "{logged}");
        for part in [
            " WARN ",
            "to=boom",
            "error=\"sending panicked: the sender broke\"",
        ] {
            assert!(given_up[0].contains(part), "{part}: {logged}");
        }

        let mut registry = prometheus_client::registry::Registry::default();
        registry.register_collector(Box::new(AlertFigures(log)));
        let mut metrics = String::new();
        prometheus_client::encoding::text::encode(&mut metrics, &registry).unwrap();
        assert!(
            metrics.contains("\nocelot_alert_notification_panics_total 1\n"),
            "{metrics}"
        );
    }

    /// The notification counters on `/metrics` were totals only: a scraper could not tell
    /// which webhook was dead. They are kept per target too (the totals stay), with a
    /// target's name escaped as a label value, and the last given up is dated.
    #[test]
    fn notification_figures_are_per_target_beside_the_totals() {
        let log = AlertLog::new();
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let attempt = |target: &str, ok: bool, gave_up: bool| NotificationAttempt {
            at_ms: now_ms - 5_000,
            rule: "shop-silent".into(),
            kind: AlertKind::Fired,
            minute: now_ms / 60_000,
            target: target.into(),
            channel: "webhook".into(),
            attempt: 1,
            ok,
            status: None,
            error: (!ok).then(|| "connection refused".to_owned()),
            elapsed_ms: 1,
            gave_up,
        };
        log.record_attempt(attempt("ops", true, false));
        log.record_attempt(attempt("dead \"east\"", false, false));
        log.record_attempt(attempt("dead \"east\"", false, true));
        let mut registry = prometheus_client::registry::Registry::default();
        registry.register_collector(Box::new(AlertFigures(log)));
        let mut metrics = String::new();
        prometheus_client::encoding::text::encode(&mut metrics, &registry).unwrap();
        for line in [
            "\nocelot_alert_notifications_given_up_total 1\n",
            "\nocelot_alert_notification_failures_total 2\n",
            "\nocelot_alert_notifications_sent_total 1\n",
            "\nocelot_alert_target_notifications_given_up_total{target=\"dead \\\"east\\\"\",channel=\"webhook\"} 1\n",
            "\nocelot_alert_target_notification_failures_total{target=\"dead \\\"east\\\"\",channel=\"webhook\"} 2\n",
            "\nocelot_alert_target_notifications_sent_total{target=\"ops\",channel=\"webhook\"} 1\n",
            "\nocelot_alert_target_notification_panics_total{target=\"ops\",channel=\"webhook\"} 0\n",
        ] {
            assert!(metrics.contains(line), "{line}: {metrics}");
        }
        // Read back as a scraper reads it.
        let samples = crate::status::Samples::parse(&metrics);
        let dead = samples
            .0
            .iter()
            .find(|s| {
                s.name == "ocelot_alert_target_notifications_given_up_total" && s.value == 1.0
            })
            .expect("the dead target's sample");
        assert_eq!(dead.labels["target"], "dead \"east\"");
        let age = samples
            .0
            .iter()
            .find(|s| s.name == "ocelot_alert_last_notification_given_up_age_seconds")
            .expect("the last given up is dated")
            .value;
        assert!((5.0..60.0).contains(&age), "{age}");
    }

    /// A QA run over a fire, its resolution and a suppressed re-fire, each notification
    /// failing and given up, found not a line of it in the server's log.
    #[test]
    fn alerts_and_notifications_given_up_are_logged() {
        // Nothing listens there (its listener is gone): each attempt fails at once.
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let rules = RuleSet::from_toml_str(
            &format!(
                "[[webhook]]\nname = \"ops\"\nurl = \"http://{closed}/hook\"\nretries = 1\n\
                 retry_backoff_ms = 1\n\n[[rule]]\nid = \"shop-silent\"\ndomain = \"shop\"\n\
                 report = \"transaction\"\nmeasure = \"count\"\nbelow = 1.0\nnotify = [\"ops\"]\n"
            ),
            None,
        )
        .unwrap();
        let mut silent = MemoryHistory::new();
        silent.cover(HOUR);
        let mut sending = MemoryHistory::new();
        sending.cover(HOUR);
        sending.insert("shop", HOUR, one_transaction_in_minute_1());
        // 15 s into minute `mm` of `HOUR`: minute `mm - 1` is settled.
        let at = |mm: u64| HOUR * 3_600_000 + mm * 60_000 + 15_000;

        let logged =
            crate::logging::tests::capture(crate::logging::LogFormat::Text, "debug", || {
                let mut alerting = Alerting::new(rules);
                let log = alerting.log();
                log_failed_notifications(&log);
                for (mm, history) in [(1, &silent), (2, &sending), (3, &silent)] {
                    for event in alerting.tick(at(mm), history) {
                        log_event(&event);
                    }
                }
                // The fire and the resolution are sent (and given up); the re-fire is not.
                for _ in 0..1_000 {
                    if log.snapshot().counters.notifications_given_up == 2 {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                alerting.stop(0, Duration::from_secs(10));
            });
        let lines = |what: &str| -> Vec<&str> {
            logged.lines().filter(|line| line.contains(what)).collect()
        };
        let fired = lines("alert fired");
        assert_eq!(fired.len(), 2, "{logged}");
        for part in [
            " INFO ",
            "rule=shop-silent",
            "domain=shop",
            "value=0",
            "condition=below 1",
            "suppressed=false",
        ] {
            assert!(fired[0].contains(part), "{part}: {logged}");
        }
        assert!(fired[1].contains("suppressed=true"), "{logged}");
        let resolved = lines("alert resolved");
        assert_eq!(resolved.len(), 1, "{logged}");
        assert!(resolved[0].contains("value=1"), "{logged}");
        let given_up = lines("alert notification given up");
        assert_eq!(given_up.len(), 2, "{logged}");
        for line in &given_up {
            for part in [
                " WARN ",
                "to=ops",
                "rule=shop-silent",
                "attempts=2",
                "error=\"connecting to",
            ] {
                assert!(line.contains(part), "{part}: {logged}");
            }
        }
        let retried = lines("alert notification attempt failed");
        assert_eq!(retried.len(), 2, "{logged}");
        assert!(
            retried.iter().all(|line| line.contains(" DEBUG ")),
            "{logged}"
        );
    }

    /// An analyzer thread too busy to say which domains it holds (a long checkpoint) used
    /// to count as holding none: every domain only it holds looked unheard, and the check,
    /// made once, never came back to it.
    #[test]
    fn domains_are_checked_again_later_when_an_analyzer_is_too_busy_to_answer() {
        let dir = tempfile::tempdir().unwrap();
        let (store, collector) = started(dir.path());
        let now = NOW;
        shop_sends(&collector);
        let rules = RuleSet::from_toml_str(
            r#"
            [[rule]]
            id = "pay"
            domain = "shop"
            report = "transaction"
            measure = "count"
            below = 1.0
            [[rule]]
            id = "typo"
            domain = "shpo"
            report = "transaction"
            measure = "count"
            below = 1.0
            "#,
            None,
        )
        .unwrap();
        let alerting = Alerting::new(rules);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let check = || {
            let mut done = false;
            let logged =
                crate::logging::tests::capture(crate::logging::LogFormat::Text, "warn", || {
                    done = runtime
                        .block_on(warn_of_unheard_domains(&alerting, &collector, &store, now));
                });
            (done, logged)
        };
        let (done, logged) = collector.with_workers_held_for_tests(check);
        assert!(!done, "checked while an analyzer could not answer");
        assert!(!logged.contains("misspelt"), "{logged}");
        let (done, logged) = check();
        assert!(done);
        assert!(logged.contains("rule=typo"), "{logged}");
        assert!(!logged.contains("rule=pay"), "{logged}");
        collector.shutdown();
        store.shutdown();
    }

    #[cfg(unix)]
    #[test]
    fn a_store_that_cannot_list_an_hour_warns_of_that_and_of_no_rule_domain() {
        let dir = tempfile::tempdir().unwrap();
        let (store, collector) = started(dir.path());
        let now = NOW;
        // `cart` sent an hour ago, but that hour's folder cannot be listed: a link to
        // itself, which fails to open even for root (as an unreadable folder would not).
        let hour_dir = dir.path().join((HOUR - 1).to_string());
        std::os::unix::fs::symlink(&hour_dir, &hour_dir).unwrap();
        assert!(store.report_domains(HOUR - 1).is_err());
        let rules = RuleSet::from_toml_str(
            r#"
            [[rule]]
            id = "cart"
            domain = "cart"
            report = "transaction"
            measure = "count"
            below = 1.0
            "#,
            None,
        )
        .unwrap();
        let alerting = Alerting::new(rules);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let logged =
            crate::logging::tests::capture(crate::logging::LogFormat::Text, "warn", || {
                runtime.block_on(warn_of_unheard_domains(&alerting, &collector, &store, now));
            });
        assert!(!logged.contains("misspelt"), "{logged}");
        assert!(
            logged.contains("cannot list the stored domains of an hour")
                && logged.contains(&hour_dir.display().to_string()),
            "{logged}"
        );
        collector.shutdown();
        store.shutdown();
    }
}
