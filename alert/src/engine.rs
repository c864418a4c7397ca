//! [`Engine`]: every rule's [`Evaluator`](crate::evaluator) fed from reports, minute by
//! minute, with baselines. The same code runs live (`evaluate(now_ms, ..)` every few
//! seconds) and in replay (`evaluate_minutes(from, to, ..)` over stored hours), so a
//! replay shows exactly what the live engine would have done.
//!
//! A minute is evaluated once it is complete and `settle_ms` have passed. Each report is
//! read once per hour of minutes evaluated, each baseline once per domain and day (twice
//! when it reads the day before and was built before that was sealed), and the
//! kinds of a domain's metrics missing from the first report read in one look-back.
//!
//! Minutes the collector was not running in (by its State report, see `up_minutes.rs`)
//! are not evaluated: live, nothing evaluated them either (the server was down), so a
//! replay must not fire `below` rules on them. Live, the open hours come from the running
//! collector, which was up (see `Overlay`'s `state`).
//!
//! A heartbeat rule without `ip` is one evaluator per machine ([`Rule::per_machine`]):
//! heartbeats do not add up across machines. Its machines are those heard from in the hour
//! evaluated or the hour before (so one gone silent is evaluated, and fires), each from its
//! first heartbeat when that is later; a machine heard from in neither is forgotten. This
//! keeps the rest of the engine as it was: a machine's evaluator is an ordinary one whose
//! rule names the machine (`scope.ip`), so its events, status and saved state do too.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::baseline::{BaselineCache, SeriesKey};
use crate::evaluator::{AlertEvent, AlertPhase, Evaluator, EvaluatorState};
use crate::report_history::{Report, ReportHistory};
use crate::rules::{Measure, ReportKind, Rule, RuleSet, Scope, MAX_SETTLE_SECONDS};
use crate::series::{minute_series, scope_series};
use crate::time::{minute_label, MILLIS_PER_MINUTE, MINUTES_PER_DAY, MINUTES_PER_HOUR};
use crate::up_minutes::UpMinutes;

/// Live evaluation catches up at most this many minutes after a stall (a paused process,
/// a slow webhook): older minutes are skipped rather than paging about the past. The
/// collector keeps the open and the previous hour in memory, so 60 minutes are readable.
pub const MAX_CATCH_UP_MINUTES: u64 = 60;

/// The most minutes [`Engine::evaluate_left`] evaluates: live evaluation is at most
/// [`MAX_CATCH_UP_MINUTES`] behind the last settled minute, which is at most
/// [`MAX_SETTLE_SECONDS`] (and the minute in progress) behind the clock. More can only be
/// left after a stall, whose minutes the live loop skips anyway; the bound keeps a start
/// after a long outage from reading days of hours.
pub(crate) const MAX_LEFT_MINUTES: u64 = MAX_CATCH_UP_MINUTES + MAX_SETTLE_SECONDS / 60 + 1;

/// How far back the engine looks for a metric's kind when the first report it reads does
/// not have the metric (`value` depends on the kind; see `series.rs`): a week of hourly
/// reports. A metric silent for longer has no `value` until it is sent again. The look-back
/// is one walk per domain, for all the metrics its rules read ([`look_back_metric_kinds`]).
const METRIC_KIND_LOOK_BACK_HOURS: u64 = 7 * 24;

/// The evaluators of one rule: one, or for a rule [`Rule::per_machine`] one per machine
/// watched (keyed by IP), each with its own pending/firing state, added as machines are
/// heard from and dropped when they are no longer watched.
#[derive(Debug)]
enum RuleEvaluators {
    One(Evaluator),
    PerMachine {
        rule: Rule,
        machines: BTreeMap<String, Evaluator>,
    },
}

impl RuleEvaluators {
    fn new(rule: Rule) -> RuleEvaluators {
        if rule.per_machine() {
            RuleEvaluators::PerMachine {
                rule,
                machines: BTreeMap::new(),
            }
        } else {
            RuleEvaluators::One(Evaluator::new(rule))
        }
    }

    /// The rule as written.
    fn rule(&self) -> &Rule {
        match self {
            RuleEvaluators::One(evaluator) => evaluator.rule(),
            RuleEvaluators::PerMachine { rule, .. } => rule,
        }
    }

    /// Each evaluator, machines in IP order.
    fn each(&self) -> impl Iterator<Item = &Evaluator> {
        let (one, machines) = match self {
            RuleEvaluators::One(evaluator) => (Some(evaluator), None),
            RuleEvaluators::PerMachine { machines, .. } => (None, Some(machines)),
        };
        one.into_iter()
            .chain(machines.into_iter().flat_map(BTreeMap::values))
    }

    /// [`RuleEvaluators::each`], to change.
    fn each_mut(&mut self) -> impl Iterator<Item = &mut Evaluator> {
        let (one, machines) = match self {
            RuleEvaluators::One(evaluator) => (Some(evaluator), None),
            RuleEvaluators::PerMachine { machines, .. } => (None, Some(machines)),
        };
        one.into_iter()
            .chain(machines.into_iter().flat_map(BTreeMap::values_mut))
    }
}

/// A report the next [`Engine::evaluate`] will read.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ReportRef {
    /// The domain.
    pub domain: String,
    /// The report kind.
    pub kind: ReportKind,
    /// The hour index.
    pub hour: u64,
    /// Whether minutes of the hour are evaluated: once fetched, mark it watched
    /// ([`crate::MemoryHistory::cover`]), so that no report there means no traffic. `false`
    /// for the hour before the first one evaluated, which heartbeat rules without `ip` read
    /// only for the machines heard from in it.
    pub watched: bool,
}

/// One rule as the Alerts page shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleStatus {
    /// The rule's id.
    pub id: String,
    /// What is watched.
    pub scope: Scope,
    /// Which number.
    pub measure: Measure,
    /// The condition in words.
    pub condition: String,
    /// Ok, pending or firing.
    pub phase: AlertPhase,
    /// The last minute evaluated (`2026-11-22T08:15Z`), empty before the first.
    pub last_time: String,
    /// Its value.
    pub last_value: Option<f64>,
    /// Its baseline; `null` for a baseline rule means no history for that minute, so
    /// the rule cannot fire yet.
    pub last_baseline: Option<f64>,
    /// Whether the rule compares against a baseline.
    pub uses_baseline: bool,
    /// Consecutive bad minutes before the alert fires (a pending rule has had fewer).
    pub for_minutes: u32,
    /// A pending rule's first bad minute of its run (`2026-11-22T08:15Z`): since when its
    /// condition has held. `null` unless pending.
    pub pending_since: Option<String>,
    /// A pending rule's consecutive bad minutes so far, of `for_minutes`; 0 unless pending.
    pub pending_minutes: u32,
    /// Consecutive good minutes before a firing alert resolves.
    pub resolve_minutes: u32,
    /// A re-fire within this many minutes of the last notified one is recorded, not sent.
    pub suppress_minutes: u32,
    /// For baseline rules, the days back (ascending) whose same minute the baseline reads:
    /// until one of them has a value for the minute there is no baseline and the rule
    /// cannot fire. Empty for threshold rules.
    pub baseline_days_back: Vec<u32>,
}

/// Evaluates a [`RuleSet`].
#[derive(Debug)]
pub struct Engine {
    rules: RuleSet,
    /// Per rule, in file order.
    evaluators: Vec<RuleEvaluators>,
    baselines: BaselineCache,
    /// Per domain, the baseline series its rules need.
    baseline_keys: HashMap<String, Vec<SeriesKey>>,
    /// Per metric scope of a `value` rule, the metric's kind as last seen (`None`: looked
    /// for and not found).
    metric_kinds: HashMap<Scope, Option<String>>,
    next_minute: Option<u64>,
    /// Minutes a baseline rule was evaluated against a baseline that is not a finite
    /// number (see [`Engine::baselines_not_finite`]).
    baselines_not_finite: u64,
}

impl Engine {
    /// An engine with every rule `ok`, evaluating from the first complete minute it sees.
    pub fn new(rules: RuleSet) -> Engine {
        let mut baseline_keys: HashMap<String, Vec<SeriesKey>> = HashMap::new();
        for rule in rules.rules().iter().filter(|r| r.condition.uses_baseline()) {
            let key = SeriesKey {
                scope: rule.scope.clone(),
                measure: rule.measure,
            };
            let keys = baseline_keys.entry(rule.scope.domain.clone()).or_default();
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
        Engine {
            evaluators: rules
                .rules()
                .iter()
                .cloned()
                .map(RuleEvaluators::new)
                .collect(),
            baselines: BaselineCache::new(rules.baseline().clone()),
            baseline_keys,
            metric_kinds: HashMap::new(),
            next_minute: None,
            baselines_not_finite: 0,
            rules,
        }
    }

    /// Evaluates only minutes that start after `now_ms`: a server starting at 03:24:09
    /// watched nothing of 03:23, and a `below` rule must not fire on a minute it never saw
    /// (every deploy would page). Minutes already due later are unaffected. A server passes
    /// its collector's start, the minute the collector's State report marks as a start:
    /// replay skips that minute, and so evaluates the same minutes (`up_minutes.rs`).
    pub fn start_after(&mut self, now_ms: u64) {
        let first = now_ms / MILLIS_PER_MINUTE + 1;
        let next = self.next_minute.unwrap_or(0).max(first);
        self.next_minute = Some(next);
        // A run restored from before the start cannot go on past the minute not evaluated:
        // broken now rather than at the next minute, so the Alerts page does not show it
        // pending meanwhile.
        for evaluator in self
            .evaluators
            .iter_mut()
            .flat_map(RuleEvaluators::each_mut)
        {
            evaluator.break_run_unless_next(next);
        }
    }

    /// The first minute not evaluated yet (`None` before the first evaluation or
    /// [`Engine::start_after`]): what the state file keeps, so that the next start can
    /// evaluate the minutes a process that was killed had left.
    pub(crate) fn next_minute(&self) -> Option<u64> {
        self.next_minute
    }

    /// Evaluates the minutes from `first` (or the first not evaluated yet, if later)
    /// through `last`, at most [`MAX_LEFT_MINUTES`] of them, without waiting for them to
    /// settle: the minutes live evaluation left when it stopped (its collector's final
    /// reports are written) or was killed (read at the next start), as a replay of the
    /// same store evaluates them. `newest_minute` as for [`Engine::evaluate_until`].
    pub(crate) fn evaluate_left(
        &mut self,
        first: u64,
        last: u64,
        newest_minute: Option<u64>,
        history: &dyn ReportHistory,
    ) -> Vec<AlertEvent> {
        let first = first.max(self.next_minute.unwrap_or(0));
        let last = last.min(first.saturating_add(MAX_LEFT_MINUTES - 1));
        if last < first {
            return Vec::new();
        }
        self.evaluate_until(first, last, newest_minute, history)
    }

    /// The rules.
    pub fn rules(&self) -> &RuleSet {
        &self.rules
    }

    /// The last minute that is complete and settled at `now_ms`.
    pub fn last_complete_minute(&self, now_ms: u64) -> Option<u64> {
        (now_ms.saturating_sub(self.rules.settle_ms()) / MILLIS_PER_MINUTE).checked_sub(1)
    }

    /// The minutes the next [`Engine::evaluate`] at `now_ms` will evaluate.
    fn due(&self, now_ms: u64) -> Option<(u64, u64)> {
        let last = self.last_complete_minute(now_ms)?;
        let first = self
            .next_minute
            .unwrap_or(last)
            .max(last.saturating_sub(MAX_CATCH_UP_MINUTES - 1));
        (first <= last).then_some((first, last))
    }

    /// The reports [`Engine::evaluate`] at `now_ms` will read for the minutes themselves
    /// (not for baselines, which read sealed days): fetch these from the collector.
    pub fn wanted_reports(&self, now_ms: u64) -> Vec<ReportRef> {
        let Some((first, last)) = self.due(now_ms) else {
            return Vec::new();
        };
        let kinds: BTreeSet<(String, ReportKind)> = self
            .rules
            .rules()
            .iter()
            .map(|r| (r.scope.domain.clone(), r.scope.report))
            .collect();
        let first_hour = first / MINUTES_PER_HOUR;
        // The open hours of the collector: the hour before the first one evaluated is still
        // open until the collector seals it, and its machines must be known then as they
        // will be once it is stored (as replay reads it).
        let machines_before: BTreeSet<&str> = (self.rules.rules().iter())
            .filter(|r| r.per_machine())
            .map(|r| r.scope.domain.as_str())
            .collect();
        let before = first_hour.checked_sub(1).into_iter().flat_map(|hour| {
            machines_before.iter().map(move |domain| ReportRef {
                domain: (*domain).to_owned(),
                kind: ReportKind::Heartbeat,
                hour,
                watched: false,
            })
        });
        let evaluated = (first_hour..=last / MINUTES_PER_HOUR).flat_map(|hour| {
            kinds.iter().map(move |(domain, kind)| ReportRef {
                domain: domain.clone(),
                kind: *kind,
                hour,
                watched: true,
            })
        });
        before.chain(evaluated).collect()
    }

    /// Evaluates every minute completed since the last call (at most
    /// [`MAX_CATCH_UP_MINUTES`]; the first call evaluates just the last complete minute).
    pub fn evaluate(&mut self, now_ms: u64, history: &dyn ReportHistory) -> Vec<AlertEvent> {
        match self.due(now_ms) {
            // No minute after `last` is complete yet.
            Some((first, last)) => self.evaluate_until(first, last, Some(last), history),
            None => Vec::new(),
        }
    }

    /// Evaluates the epoch minutes `first..=last` in order (replay; tests). Minutes before
    /// one already evaluated are skipped: the state machines only move forward. So are
    /// minutes the collector was not running in, by its State reports
    /// ([`ReportHistory::state`]).
    pub fn evaluate_minutes(
        &mut self,
        first: u64,
        last: u64,
        history: &dyn ReportHistory,
    ) -> Vec<AlertEvent> {
        self.evaluate_until(first, last, None, history)
    }

    /// [`Engine::evaluate_minutes`], with `newest_minute` the newest minute that can have a
    /// sample: the last complete one live, the last stored whole in a replay up to now
    /// (`None`: every minute is in the past and stored). A later minute has no sample yet,
    /// so it does not make the minute before it read as one the collector stopped in
    /// (`up_minutes.rs`): a replay up to now evaluates its last minute.
    pub(crate) fn evaluate_until(
        &mut self,
        first: u64,
        last: u64,
        newest_minute: Option<u64>,
        history: &dyn ReportHistory,
    ) -> Vec<AlertEvent> {
        let first = first.max(self.next_minute.unwrap_or(0));
        let mut events = Vec::new();
        if first <= last {
            let up = UpMinutes::read(
                history,
                first / MINUTES_PER_HOUR,
                last / MINUTES_PER_HOUR,
                newest_minute,
            );
            let mut hour_start = first;
            while hour_start <= last {
                let hour = hour_start / MINUTES_PER_HOUR;
                let hour_end = ((hour + 1) * MINUTES_PER_HOUR - 1).min(last);
                self.evaluate_hour(
                    hour,
                    hour_start,
                    hour_end,
                    newest_minute,
                    history,
                    &up,
                    &mut events,
                );
                hour_start = hour_end + 1;
            }
        }
        self.next_minute = Some(self.next_minute.unwrap_or(0).max(last + 1));
        events
    }

    #[allow(clippy::too_many_arguments)]
    fn evaluate_hour(
        &mut self,
        hour: u64,
        first: u64,
        last: u64,
        newest_minute: Option<u64>,
        history: &dyn ReportHistory,
        up: &UpMinutes,
        events: &mut Vec<AlertEvent>,
    ) {
        let day = hour * MINUTES_PER_HOUR / MINUTES_PER_DAY;
        for (domain, keys) in &self.baseline_keys {
            self.baselines
                .prepare(history, domain, day, keys, newest_minute);
        }
        let start = events.len();
        let mut reports: HashMap<(String, ReportKind), Option<Arc<Report>>> = HashMap::new();
        // Per domain, the machines with a heartbeat in the hour before (per-machine rules).
        let mut heard_before: HashMap<String, Vec<String>> = HashMap::new();
        let mut covered = None;
        for slot in &mut self.evaluators {
            let rule = slot.rule().clone();
            let (domain, kind) = (rule.scope.domain.as_str(), rule.scope.report);
            let report = reports.entry((domain.to_owned(), kind)).or_insert_with(|| {
                history.report(domain, kind, hour).or_else(|| {
                    // No report: no traffic if the source watched the hour, else no data
                    // (as for a report that is there but cannot be read).
                    let covered = *covered.get_or_insert_with(|| history.covers(hour));
                    (covered && !history.unreadable(domain, kind, hour))
                        .then(|| Arc::new(Report::empty(kind, domain, hour)))
                })
            });
            // No report in an hour nobody watched: Ocelot was down, and its minutes are not
            // evaluated, as those its State report says it was down in are not (a firing
            // alert neither resolves over the outage nor fires again after it).
            let Some(report) = report.as_deref() else {
                continue;
            };
            let mut feed = |evaluator: &mut Evaluator, from: u64| {
                let rule = evaluator.rule().clone();
                let rules = self.rules.rules();
                let series =
                    rule_series(&rule, rules, report, hour, history, &mut self.metric_kinds);
                let key = SeriesKey {
                    scope: rule.scope.clone(),
                    measure: rule.measure,
                };
                for minute in (from.max(first)..=last).filter(|&m| up.contains(m)) {
                    let value = series[(minute % MINUTES_PER_HOUR) as usize];
                    let baseline = if rule.condition.uses_baseline() {
                        self.baselines.value(&rule.scope.domain, &key, minute)
                    } else {
                        None
                    };
                    if baseline.is_some_and(|b| !b.is_finite()) {
                        self.baselines_not_finite += 1;
                    }
                    let link =
                        |at: u64| board_link(self.rules.board_url(), &rule, at / MINUTES_PER_HOUR);
                    events.extend(evaluator.feed(minute, value, baseline, link));
                }
            };
            match slot {
                RuleEvaluators::One(evaluator) => feed(evaluator, first),
                RuleEvaluators::PerMachine { rule, machines } => {
                    let before = heard_before.entry(domain.to_owned()).or_insert_with(|| {
                        let past = hour
                            .checked_sub(1)
                            .and_then(|h| history.report(domain, ReportKind::Heartbeat, h));
                        past.map_or_else(Vec::new, |r| machines_heard(&r, 0).into_keys().collect())
                    });
                    let watched = watched_machines(before, report, hour);
                    for (ip, from) in &watched {
                        // A machine first heard later in the hour is not evaluated before
                        // that: it had not started, and must not read as one gone silent.
                        if (*from).max(first) > last {
                            continue;
                        }
                        let evaluator = machines
                            .entry(ip.clone())
                            .or_insert_with(|| Evaluator::new(machine_rule(rule, ip)));
                        feed(evaluator, *from);
                    }
                    // A machine silent for the hour and the hour before is no longer
                    // watched: its state goes (a retired machine does not stay firing
                    // forever, nor does its state pile up).
                    machines.retain(|ip, _| watched.contains_key(ip));
                }
            }
        }
        // Events of different rules in the same minute keep file order; across minutes,
        // time order.
        events[start..].sort_by_key(|e| e.minute);
    }

    /// How many metric kinds the engine knows (tests check the look-back is made once).
    #[cfg(test)]
    fn metric_kinds_known(&self) -> usize {
        self.metric_kinds.values().flatten().count()
    }

    /// Every rule's state as a restart keeps it, with the rule's definition.
    pub(crate) fn saved_rules(&self) -> Vec<SavedRule> {
        self.evaluators
            .iter()
            .flat_map(RuleEvaluators::each)
            .map(|e| SavedRule {
                id: e.rule().id.clone(),
                definition: definition(e.rule()),
                state: e.state(),
            })
            .collect()
    }

    /// Takes up the saved state of each rule that is still the same rule: the same id and
    /// the same definition (scope, measure, condition, minutes, targets), from the first
    /// entry of `saved` that has both. A rule edited since starts `ok`, so a changed
    /// threshold does not inherit a firing state it never had. Returns, per entry of
    /// `saved`, whether a rule took it up (the state file keeps the others a while, in
    /// case their rule comes back). A per-machine rule takes up the state of each machine
    /// saved under the same rule.
    pub(crate) fn restore_rules(&mut self, saved: &[SavedRule]) -> Vec<bool> {
        let mut taken = vec![false; saved.len()];
        for slot in &mut self.evaluators {
            match slot {
                RuleEvaluators::One(evaluator) => {
                    let id = &evaluator.rule().id;
                    let same = definition(evaluator.rule());
                    let found = saved
                        .iter()
                        .enumerate()
                        .find(|(i, s)| !taken[*i] && s.id == *id && s.definition == same);
                    if let Some((i, state)) = found {
                        evaluator.restore(state.state.clone());
                        taken[i] = true;
                    }
                }
                RuleEvaluators::PerMachine { rule, machines } => {
                    for (i, state) in saved.iter().enumerate() {
                        let ip = state.definition["scope"]["ip"].as_str();
                        let Some(ip) = ip.filter(|_| state.id == rule.id && !taken[i]) else {
                            continue;
                        };
                        if machines.contains_key(ip) {
                            continue;
                        }
                        let machine = machine_rule(rule, ip);
                        if definition(&machine) != state.definition {
                            continue;
                        }
                        let mut evaluator = Evaluator::new(machine);
                        evaluator.restore(state.state.clone());
                        machines.insert(ip.to_owned(), evaluator);
                        taken[i] = true;
                    }
                }
            }
        }
        taken
    }

    /// Every rule's state, in file order; a per-machine rule's, per machine (by IP), or
    /// its own, `ok`, before any machine is watched.
    pub fn statuses(&self) -> Vec<RuleStatus> {
        let mut days_back = self.rules.baseline().days_back.clone();
        days_back.sort_unstable();
        let mut statuses = Vec::with_capacity(self.evaluators.len());
        for slot in &self.evaluators {
            match slot {
                RuleEvaluators::PerMachine { rule, machines } if machines.is_empty() => {
                    let unwatched = Evaluator::new(rule.clone());
                    statuses.push(status(&unwatched, &days_back));
                }
                _ => statuses.extend(slot.each().map(|e| status(e, &days_back))),
            }
        }
        statuses
    }

    /// Forgets `domain`'s baselines so they are rebuilt from the store on next use. Call
    /// it if a past day's reports were rewritten; a new day rebuilds them anyway.
    pub fn invalidate_baselines(&mut self, domain: &str) {
        self.baselines.invalidate(domain);
    }

    /// Minutes a baseline rule was evaluated against a baseline that is not a finite
    /// number, since start. No value is ever off from such a baseline, so the rule cannot
    /// fire on them: counted (`baselinesNotFinite` in the log's counters) rather than left
    /// silent. Baselines of finite history are finite, so this stays 0 unless something
    /// upstream gives non-finite figures.
    pub fn baselines_not_finite(&self) -> u64 {
        self.baselines_not_finite
    }

    /// How many times baselines were built from history (tests check the cache).
    pub fn baseline_builds(&self) -> u64 {
        self.baselines.builds()
    }
}

/// `rule`'s series in `report`, of `hour`. A metric's `value` depends on the metric's kind:
/// taken from `report`, else from `kinds` (as the engine last saw it), else from a look-back
/// through the week before `hour` ([`look_back_metric_kinds`], made once for all of the
/// domain's `rules`; what is found, or not, is kept in `kinds`).
fn rule_series(
    rule: &Rule,
    rules: &[Rule],
    report: &Report,
    hour: u64,
    history: &dyn ReportHistory,
    kinds: &mut HashMap<Scope, Option<String>>,
) -> [Option<f64>; MINUTES_PER_HOUR as usize] {
    let scope = &rule.scope;
    if !reads_metric_kind(rule) {
        return minute_series(report, scope, rule.measure);
    }
    let known = kinds.get(scope).cloned();
    let series = scope_series(
        report,
        scope,
        rule.measure,
        known.clone().flatten().as_deref(),
    );
    if let Some(kind) = series.metric_kind {
        kinds.insert(scope.clone(), Some(kind));
        return series.values;
    }
    if known.is_some() {
        return series.values;
    }
    look_back_metric_kinds(rules, &scope.domain, report, hour, history, kinds);
    match kinds.get(scope).cloned().flatten() {
        Some(kind) => scope_series(report, scope, rule.measure, Some(&kind)).values,
        None => series.values,
    }
}

/// `evaluator`'s rule and state as the Alerts page shows them; `days_back` ascending.
fn status(evaluator: &Evaluator, days_back: &[u32]) -> RuleStatus {
    let rule = evaluator.rule();
    let last = evaluator.last();
    let pending = evaluator.pending_run();
    RuleStatus {
        id: rule.id.clone(),
        scope: rule.scope.clone(),
        measure: rule.measure,
        condition: rule.condition.to_string(),
        phase: evaluator.phase(),
        last_time: last.map(|p| minute_label(p.minute)).unwrap_or_default(),
        last_value: last.and_then(|p| p.value),
        last_baseline: last.and_then(|p| p.baseline),
        uses_baseline: rule.condition.uses_baseline(),
        for_minutes: rule.for_minutes,
        pending_since: pending.first().map(|p| minute_label(p.minute)),
        // Fewer than `for_minutes`, a u32.
        pending_minutes: u32::try_from(pending.len()).unwrap_or(u32::MAX),
        resolve_minutes: rule.resolve_minutes,
        suppress_minutes: rule.suppress_minutes,
        baseline_days_back: if rule.condition.uses_baseline() {
            days_back.to_vec()
        } else {
            Vec::new()
        },
    }
}

/// The machines a per-machine rule watches in `hour`, each with the first minute (epoch
/// minutes) to evaluate: those with a heartbeat in the hour before (`before`) from the
/// hour's start, the others from their first heartbeat in `report` (the hour's). Not
/// `OTHERS`, where the machines past the analyzer's cap are folded together.
fn watched_machines(before: &[String], report: &Report, hour: u64) -> BTreeMap<String, u64> {
    let start = hour * MINUTES_PER_HOUR;
    let mut watched = machines_heard(report, start);
    for ip in before {
        watched.insert(ip.clone(), start);
    }
    watched
}

/// The machines of a heartbeat `report` with a well-formed heartbeat, each with the
/// minute of its first one (`start` plus its minute of the hour); none for another kind.
fn machines_heard(report: &Report, start: u64) -> BTreeMap<String, u64> {
    let Report::Heartbeat(report) = report else {
        return BTreeMap::new();
    };
    report
        .ips()
        .filter(|ip| *ip != ocelot_analyzer::OTHERS)
        .filter_map(|ip| {
            let (minute, _) = report.minutes_of(ip).next()?;
            Some((ip.to_owned(), start + u64::from(minute)))
        })
        .collect()
}

/// `rule` (a per-machine rule) for machine `ip`: what that machine's evaluator watches,
/// so its events, status and saved state name the machine.
fn machine_rule(rule: &Rule, ip: &str) -> Rule {
    let mut machine = rule.clone();
    machine.scope.ip = Some(ip.to_owned());
    machine
}

/// Whether `rule`'s values depend on the kind of its metric (see `series.rs`).
fn reads_metric_kind(rule: &Rule) -> bool {
    rule.scope.report == ReportKind::Metric && rule.measure == Measure::Value
}

/// Finds the kinds of the metrics that `domain`'s `value` rules (among `rules`) read and
/// that neither `kinds` nor `report` (`domain`'s metric report of `hour`) knows: one walk
/// back through `domain`'s metric reports of the [`METRIC_KIND_LOOK_BACK_HOURS`] before
/// `hour`, latest first, each read once, ending when every such metric is found. Several
/// rules on one domain's metrics thus share one walk instead of each reading up to a week
/// of reports. Each metric's kind goes into `kinds`: the latest one found, or `None` (found
/// in none of those reports), so the walk is not made again for it.
fn look_back_metric_kinds(
    rules: &[Rule],
    domain: &str,
    report: &Report,
    hour: u64,
    history: &dyn ReportHistory,
    kinds: &mut HashMap<Scope, Option<String>>,
) {
    let mut missing: Vec<&Scope> = Vec::new();
    for rule in rules
        .iter()
        .filter(|r| r.scope.domain == domain && reads_metric_kind(r))
    {
        let scope = &rule.scope;
        if kinds.contains_key(scope) || missing.contains(&scope) {
            continue;
        }
        match scope_series(report, scope, rule.measure, None).metric_kind {
            Some(kind) => {
                kinds.insert(scope.clone(), Some(kind));
            }
            None => missing.push(scope),
        }
    }
    for past in (1..=METRIC_KIND_LOOK_BACK_HOURS).filter_map(|back| hour.checked_sub(back)) {
        if missing.is_empty() {
            break;
        }
        let Some(past) = history.report(domain, ReportKind::Metric, past) else {
            continue;
        };
        missing.retain(|&scope| {
            match scope_series(&past, scope, Measure::Value, None).metric_kind {
                Some(kind) => {
                    kinds.insert(scope.clone(), Some(kind));
                    false
                }
                None => true,
            }
        });
    }
    for scope in missing {
        kinds.insert(scope.clone(), None);
    }
}

/// One rule's saved state (`state_file.rs`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SavedRule {
    /// The rule's id.
    pub(crate) id: String,
    /// The rule as it was when saved ([`definition`]): state is restored only into the
    /// same rule.
    pub(crate) definition: serde_json::Value,
    /// Its state.
    #[serde(flatten)]
    pub(crate) state: EvaluatorState,
}

/// A rule's canonical form: its JSON serialization (id, scope, measure, condition,
/// for/resolve/suppress minutes, targets), compared as a value so key order and number
/// formatting in the file do not matter, with its targets sorted (each is notified
/// whatever their order, so listing them in another order is the same rule).
fn definition(rule: &Rule) -> serde_json::Value {
    let mut value = serde_json::to_value(rule).expect("a rule serializes to JSON");
    if let Some(serde_json::Value::Array(targets)) = value.get_mut("notify") {
        targets.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
    }
    value
}

/// `{board_url}/{t,e,p,metric,h}?domain=..&hour=YYYYMMDDHH[&..]`: the web boards.
fn board_link(board_url: &str, rule: &Rule, hour: u64) -> String {
    format!("{board_url}{}", board_path(&rule.scope, hour))
}

/// The path and query of the web board that `scope` watches at `hour`:
/// `/{t,e,p,metric}?domain=..&hour=YYYYMMDDHH[&type=..][&name=..]`, or for heartbeats
/// `/h?domain=..&hour=..[&ip=..]`. Notifications prefix it with `board_url`; the web UI's
/// own Alerts page links to it on its own server.
pub fn board_path(scope: &Scope, hour: u64) -> String {
    // The web UI's boards: /t, /e, /p, /metric and /h, with `hour=YYYYMMDDHH`.
    let board = match scope.report {
        ReportKind::Transaction => "t",
        ReportKind::Event => "e",
        ReportKind::Problem => "p",
        ReportKind::Metric => "metric",
        ReportKind::Heartbeat => "h",
    };
    let mut path = format!(
        "/{board}?domain={}&hour={}",
        percent_encode(&scope.domain),
        ocelot_analyzer::hour_label(hour)
    );
    if scope.report == ReportKind::Heartbeat {
        // The heartbeat board shows one machine's figures, all of them: no name to pick.
        if let Some(ip) = &scope.ip {
            path.push_str(&format!("&ip={}", percent_encode(ip)));
        }
        return path;
    }
    if let Some(type_) = &scope.type_ {
        path.push_str(&format!("&type={}", percent_encode(type_)));
    }
    if let Some(name) = &scope.name {
        path.push_str(&format!("&name={}", percent_encode(name)));
    }
    path
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ops::Range;

    #[test]
    fn a_rule_is_the_same_rule_whatever_the_order_of_its_targets() {
        let rule = |notify: &str, above: f64| {
            let set = RuleSet::from_toml_str(
                &format!(
                    "[[webhook]]\nname = \"ops\"\nurl = \"http://127.0.0.1:9/a\"\n\n\
                     [[webhook]]\nname = \"pager\"\nurl = \"http://127.0.0.1:9/b\"\n\n\
                     [[rule]]\nid = \"r\"\ndomain = \"shop\"\nreport = \"transaction\"\n\
                     measure = \"count\"\nabove = {above:?}\nnotify = {notify}\n"
                ),
                None,
            )
            .unwrap();
            definition(&set.rules()[0])
        };
        assert_eq!(
            rule(r#"["ops", "pager"]"#, 1.0),
            rule(r#"["pager", "ops"]"#, 1.0)
        );
        assert_ne!(rule(r#"["ops", "pager"]"#, 1.0), rule(r#"["ops"]"#, 1.0));
        assert_ne!(
            rule(r#"["ops", "pager"]"#, 1.0),
            rule(r#"["ops", "pager"]"#, 2.0)
        );
    }

    #[test]
    fn board_links_encode_names() {
        let set = RuleSet::from_toml_str(
            "[[rule]]\nid=\"r\"\ndomain=\"shop\"\nreport=\"transaction\"\ntype=\"URL\"\nname=\"/order/{num}\"\nmeasure=\"count\"\nabove=1.0",
            None,
        )
        .unwrap();
        assert_eq!(
            board_link(set.board_url(), &set.rules()[0], 498_703),
            "http://127.0.0.1:8080/t?domain=shop&hour=2026112207&type=URL&name=%2Forder%2F%7Bnum%7D"
        );
    }

    #[test]
    fn statuses_say_how_long_a_rule_waits_and_which_days_its_baseline_reads() {
        let set = RuleSet::from_toml_str(
            "[baseline]\ndays_back = [14, 7]\nweights = [1, 2]\n\
             [[rule]]\nid=\"spike\"\ndomain=\"shop\"\nreport=\"event\"\nmeasure=\"count\"\n\
             baseline=\"above\"\nfor_minutes=3\nresolve_minutes=2\nsuppress_minutes=0\n\
             [[rule]]\nid=\"floor\"\ndomain=\"shop\"\nreport=\"event\"\nmeasure=\"count\"\nbelow=1.0",
            None,
        )
        .unwrap();
        let statuses = Engine::new(set).statuses();
        let spike = &statuses[0];
        assert_eq!(
            (
                spike.for_minutes,
                spike.resolve_minutes,
                spike.suppress_minutes
            ),
            (3, 2, 0)
        );
        assert_eq!(spike.baseline_days_back, vec![7, 14], "ascending");
        let floor = &statuses[1];
        assert_eq!(
            (
                floor.for_minutes,
                floor.resolve_minutes,
                floor.suppress_minutes
            ),
            (1, 1, crate::DEFAULT_SUPPRESS_MINUTES)
        );
        assert!(floor.baseline_days_back.is_empty(), "no baseline");
        let json = serde_json::to_value(spike).unwrap();
        assert_eq!(json["forMinutes"], 3);
        assert_eq!(json["resolveMinutes"], 2);
        assert_eq!(json["suppressMinutes"], 0);
        assert_eq!(json["baselineDaysBack"], serde_json::json!([7, 14]));
    }

    #[test]
    fn the_first_live_evaluation_looks_at_the_last_settled_minute_only() {
        let set = RuleSet::from_toml_str(
            "[[rule]]\nid=\"r\"\ndomain=\"shop\"\nreport=\"event\"\nmeasure=\"count\"\nabove=1.0",
            None,
        )
        .unwrap();
        let engine = Engine::new(set);
        let minute_ms = MILLIS_PER_MINUTE;
        // 10:05:09 with a 10 s settle: 10:04 is not settled yet, 10:03 is the last.
        let now = 600 * minute_ms + 5 * minute_ms + 9_000;
        assert_eq!(engine.last_complete_minute(now), Some(603));
        assert_eq!(engine.last_complete_minute(now + 1_000), Some(604));
        let wanted = engine.wanted_reports(now);
        assert_eq!(
            wanted,
            vec![ReportRef {
                domain: "shop".into(),
                kind: ReportKind::Event,
                hour: 10,
                watched: true,
            }]
        );
    }

    /// A baseline of the day before alone (weight 1, no smoothing) under a rule on shop's
    /// `orders` count.
    fn one_day_baseline_rules() -> RuleSet {
        RuleSet::from_toml_str(
            "[baseline]\ndays_back = [1]\nweights = [1]\nsmoothing_window_minutes = 0\n\
             [[rule]]\nid=\"drop\"\ndomain=\"shop\"\nreport=\"metric\"\nname=\"orders\"\n\
             measure=\"count\"\nbaseline=\"below\"\nmargin_percent=30.0",
            None,
        )
        .unwrap()
    }

    /// Stores ten orders a minute of shop's in `minutes` of `hour`, with a State report
    /// that has the collector up in those minutes.
    fn store_orders_hour(stored: &mut crate::MemoryHistory, hour: u64, minutes: Range<u64>) {
        stored.insert(
            "shop",
            hour,
            metric_report(hour, &[("orders", "C", minutes.clone())]),
        );
        let mut state = ocelot_analyzer::StateReport::new(hour);
        for minute in minutes {
            state.record_queue_depth(hour * 3_600_000 + minute * 60_000, "analyzer-0", 0);
        }
        stored.insert_state(state);
    }

    /// The running collector's open `hour`, watched, with ten orders a minute (no State
    /// report: the live source hands none over).
    fn live_orders_hour(hour: u64) -> crate::MemoryHistory {
        let mut live = crate::MemoryHistory::new();
        live.insert("shop", hour, metric_report(hour, &[("orders", "C", 0..60)]));
        live.cover(hour);
        live
    }

    /// The metric report of `hour` with `(name, status, minutes)` recorded, one record of
    /// data 10 in each minute.
    fn metric_report(hour: u64, metrics: &[(&str, &str, std::ops::Range<u64>)]) -> Report {
        use ocelot_protocol::{Header, Leaf, Message, MessageTree};
        let config = std::sync::Arc::new(ocelot_analyzer::AnalyzerConfig::default());
        let mut analyzer = ocelot_analyzer::MetricAnalyzer::new(hour, config);
        for (name, status, minutes) in metrics {
            for minute in minutes.clone() {
                let at = hour * 3_600_000 + minute * 60_000;
                let metric = Leaf::new("", *name, *status, at, "10");
                let header = Header {
                    domain: "shop".into(),
                    ..Header::default()
                };
                analyzer.process(&MessageTree::new(header, Message::Metric(metric)));
            }
        }
        Report::Metric(analyzer.reports()["shop"].clone())
    }

    #[test]
    fn a_metric_absent_from_an_hour_reads_by_its_kind_seen_before() {
        let set = RuleSet::from_toml_str(
            "[[rule]]\nid=\"latency\"\ndomain=\"shop\"\nreport=\"metric\"\nname=\"latency\"\n\
             measure=\"value\"\nbelow=5.0\n\
             [[rule]]\nid=\"orders\"\ndomain=\"shop\"\nreport=\"metric\"\nname=\"orders\"\n\
             measure=\"value\"\nbelow=1.0",
            None,
        )
        .unwrap();
        let hour = 498_703;
        // Hour 0 has a duration (`T`) and a count (`C`) metric in every minute; the next
        // hour, watched, has neither (only another metric).
        let mut history = crate::MemoryHistory::new();
        let both = [("latency", "T", 0..60), ("orders", "C", 0..60)];
        history.insert("shop", hour, metric_report(hour, &both));
        history.insert(
            "shop",
            hour + 1,
            metric_report(hour + 1, &[("x", "S", 0..1)]),
        );
        history.cover(hour);
        history.cover(hour + 1);
        let fired = |events: Vec<AlertEvent>| -> Vec<(String, u64)> {
            events.into_iter().map(|e| (e.rule, e.minute)).collect()
        };
        // No duration is no value, not 0 ms below the floor; no order is a count of 0.
        let mut engine = Engine::new(set.clone());
        let events = engine.evaluate_minutes(hour * 60, hour * 60 + 119, &history);
        assert_eq!(fired(events), [("orders".to_owned(), (hour + 1) * 60)]);
        // Evaluated from the silent hour on, the kinds come from the hour before, looked
        // up once.
        let mut engine = Engine::new(set.clone());
        let events = engine.evaluate_minutes((hour + 1) * 60, hour * 60 + 119, &history);
        assert_eq!(fired(events), [("orders".to_owned(), (hour + 1) * 60)]);
        assert_eq!(engine.metric_kinds_known(), 2);
        // With no report of either metric in the week before, neither has a value.
        history.insert("shop", hour, metric_report(hour, &[("x", "S", 0..1)]));
        let mut engine = Engine::new(set);
        let events = engine.evaluate_minutes((hour + 1) * 60, hour * 60 + 119, &history);
        assert_eq!(fired(events), []);
        assert_eq!(engine.statuses()[1].last_value, None);
        assert_eq!(engine.metric_kinds_known(), 0);
    }

    /// A history that counts the reads of each report (domain, kind, hour).
    #[derive(Default)]
    struct CountingHistory {
        inner: crate::MemoryHistory,
        reads: std::sync::Mutex<HashMap<(String, ReportKind, u64), u32>>,
    }

    impl ReportHistory for CountingHistory {
        fn report(&self, domain: &str, kind: ReportKind, hour: u64) -> Option<Arc<Report>> {
            let key = (domain.to_owned(), kind, hour);
            *self.reads.lock().unwrap().entry(key).or_default() += 1;
            self.inner.report(domain, kind, hour)
        }

        fn covers(&self, hour: u64) -> bool {
            self.inner.covers(hour)
        }
    }

    #[test]
    fn the_metric_kind_look_back_reads_each_past_report_once_for_all_of_a_domains_rules() {
        let rule = |id: &str, name: &str, condition: &str| {
            format!(
                "[[rule]]\nid=\"{id}\"\ndomain=\"shop\"\nreport=\"metric\"\nname=\"{name}\"\n\
                 measure=\"value\"\n{condition}\n"
            )
        };
        let rules = [
            rule("latency", "latency", "below=5.0"),
            rule("latency-high", "latency", "above=50.0"),
            rule("orders", "orders", "below=1.0"),
            rule("refunds", "refunds", "above=100.0"),
        ]
        .concat();
        let set = RuleSet::from_toml_str(&rules, None).unwrap();
        let hour = 498_703;
        // `latency` (T) and `orders` (C) were last sent five hours before the evaluated
        // hour, `refunds` not in the week before; the evaluated hour, watched, has none.
        let mut history = CountingHistory::default();
        let both = [("latency", "T", 0..60), ("orders", "C", 0..60)];
        history
            .inner
            .insert("shop", hour - 5, metric_report(hour - 5, &both));
        history.inner.cover(hour);
        let mut engine = Engine::new(set);
        let events = engine.evaluate_minutes(hour * 60, hour * 60 + 59, &history);
        // No duration is no value (not 0 ms); no order is a count of 0.
        let fired: Vec<_> = events.iter().map(|e| (e.rule.as_str(), e.minute)).collect();
        assert_eq!(fired, [("orders", hour * 60)]);
        assert_eq!(engine.metric_kinds_known(), 2);
        let reads = history.reads.lock().unwrap();
        // One walk for the domain: each hour of the week before read once, though four
        // rules (three metrics) needed a kind, and the walk went on for `refunds`.
        let past: Vec<u32> = (1..=METRIC_KIND_LOOK_BACK_HOURS)
            .map(|back| reads[&("shop".to_owned(), ReportKind::Metric, hour - back)])
            .collect();
        assert_eq!(past, vec![1; METRIC_KIND_LOOK_BACK_HOURS as usize]);
        assert_eq!(reads[&("shop".to_owned(), ReportKind::Metric, hour)], 1);
        assert_eq!(reads.len(), METRIC_KIND_LOOK_BACK_HOURS as usize + 1);
        drop(reads);
        // The next evaluation knows every kind (or that there is none): no look-back.
        history.reads.lock().unwrap().clear();
        history.inner.cover(hour + 1);
        engine.evaluate_minutes(hour * 60 + 60, hour * 60 + 119, &history);
        let reads = history.reads.lock().unwrap();
        assert_eq!(reads.keys().map(|k| k.2).collect::<Vec<_>>(), [hour + 1]);
    }

    /// The Alerts page said "pending" without since when, nor how long it still waits.
    #[test]
    fn a_pending_rule_says_since_which_minute_and_how_many_bad_minutes_it_has() {
        let set = RuleSet::from_toml_str(
            "[[rule]]\nid=\"floor\"\ndomain=\"shop\"\nreport=\"metric\"\nname=\"orders\"\n\
             measure=\"count\"\nbelow=1.0\nfor_minutes=3",
            None,
        )
        .unwrap();
        let hour = 498_703;
        // Orders up to 07:09, none from 07:10.
        let mut history = crate::MemoryHistory::new();
        history.insert("shop", hour, metric_report(hour, &[("orders", "C", 0..10)]));
        history.cover(hour);
        let mut engine = Engine::new(set);
        let first = hour * 60;
        engine.evaluate_minutes(first, first + 9, &history);
        let status = &engine.statuses()[0];
        assert_eq!(status.phase, AlertPhase::Ok);
        assert_eq!(
            (status.pending_since.as_deref(), status.pending_minutes),
            (None, 0)
        );

        assert!(engine
            .evaluate_minutes(first + 10, first + 11, &history)
            .is_empty());
        let status = &engine.statuses()[0];
        assert_eq!(status.phase, AlertPhase::Pending);
        assert_eq!(
            (status.pending_since.as_deref(), status.pending_minutes),
            (Some("2026-11-22T07:10Z"), 2)
        );
        let json = serde_json::to_value(status).unwrap();
        assert_eq!(json["pendingSince"], "2026-11-22T07:10Z");
        assert_eq!(json["pendingMinutes"], 2);

        // The third bad minute fires it: no longer pending.
        assert_eq!(
            engine
                .evaluate_minutes(first + 12, first + 12, &history)
                .len(),
            1
        );
        let status = &engine.statuses()[0];
        assert_eq!(status.phase, AlertPhase::Firing);
        assert_eq!(
            (status.pending_since.as_deref(), status.pending_minutes),
            (None, 0)
        );
    }

    #[test]
    fn live_minutes_are_evaluated_though_the_stores_checkpoint_of_the_open_hour_lacks_them() {
        let set = RuleSet::from_toml_str(
            "[[rule]]\nid=\"floor\"\ndomain=\"shop\"\nreport=\"metric\"\nname=\"orders\"\n\
             measure=\"count\"\nbelow=1.0",
            None,
        )
        .unwrap();
        let hour = 498_703;
        // The store's checkpoint of the open hour, written at 00:10: samples up to 00:09.
        let mut stored = crate::MemoryHistory::new();
        let mut state = ocelot_analyzer::StateReport::new(hour);
        for minute in 0..10 {
            state.record_queue_depth(hour * 3_600_000 + minute * 60_000, "analyzer-0", 0);
        }
        stored.insert_state(state);
        // The running collector's open hour: no order in 00:12.
        let mut live = crate::MemoryHistory::new();
        live.insert("shop", hour, metric_report(hour, &[("orders", "C", 0..12)]));
        live.cover(hour);
        let history = crate::Overlay(live, stored);
        let mut engine = Engine::new(set);
        let minute = hour * 60 + 12;
        let events = engine.evaluate_minutes(minute, minute, &history);
        assert_eq!(events.len(), 1, "the collector was up: it is running now");
    }

    #[test]
    fn a_one_day_baseline_reads_2359_though_the_next_minute_is_in_the_open_hour_at_midnight() {
        let set = one_day_baseline_rules();
        let day = 20_755;
        let midnight = day * 24;
        // Yesterday's last hours, stored with their State reports: ten orders a minute, the
        // collector up throughout.
        let mut stored = crate::MemoryHistory::new();
        for hour in midnight - 2..midnight {
            store_orders_hour(&mut stored, hour, 0..60);
        }
        // Live at 00:00:10: today's first hour is the running collector's open hour, whose
        // State report the live source does not hand over. The baseline of the day is
        // built now, and kept all day.
        let mut engine = Engine::new(set);
        let first = midnight * 60;
        engine.evaluate_minutes(
            first,
            first,
            &crate::Overlay(live_orders_hour(midnight), &stored),
        );
        assert_eq!(engine.baseline_builds(), 1);
        let last = first + MINUTES_PER_DAY - 1;
        let history = crate::Overlay(live_orders_hour(midnight + 23), &stored);
        engine.evaluate_minutes(last, last, &history);
        assert_eq!(engine.baseline_builds(), 1);
        let status = &engine.statuses()[0];
        assert_eq!(status.last_time, minute_label(last));
        assert_eq!(status.last_baseline, Some(10.0), "yesterday 23:59 was up");
    }

    #[test]
    fn a_baseline_built_before_yesterday_was_sealed_is_built_again_once_it_is() {
        let set = one_day_baseline_rules();
        let day = 20_755;
        let midnight = day * 24;
        let mut stored = crate::MemoryHistory::new();
        store_orders_hour(&mut stored, midnight - 2, 0..60);
        // Yesterday's last hour as its last checkpoint has it: up to 23:58.
        store_orders_hour(&mut stored, midnight - 1, 0..59);
        let mut engine = Engine::new(set);
        let at = |minute: u64| (midnight * 60 + minute) * 60_000 + 10_000;
        engine.evaluate(at(1), &crate::Overlay(live_orders_hour(midnight), &stored));
        assert_eq!(engine.baseline_builds(), 1, "00:01: built for today");
        // 00:03: the collector seals yesterday's last hour, whole.
        store_orders_hour(&mut stored, midnight - 1, 0..60);
        engine.evaluate(at(9), &crate::Overlay(live_orders_hour(midnight), &stored));
        assert_eq!(engine.baseline_builds(), 1);
        engine.evaluate(at(11), &crate::Overlay(live_orders_hour(midnight), &stored));
        assert_eq!(
            engine.baseline_builds(),
            2,
            "built again once yesterday is sealed"
        );
        engine.evaluate(at(12), &crate::Overlay(live_orders_hour(midnight), &stored));
        assert_eq!(engine.baseline_builds(), 2, "and only once");
        let last = midnight * 60 + MINUTES_PER_DAY - 1;
        engine.evaluate_minutes(
            last,
            last,
            &crate::Overlay(live_orders_hour(midnight + 23), &stored),
        );
        assert_eq!(engine.baseline_builds(), 2);
        let status = &engine.statuses()[0];
        assert_eq!(status.last_time, minute_label(last));
        assert_eq!(
            status.last_baseline,
            Some(10.0),
            "yesterday's 23:59 as sealed, not as checkpointed"
        );
    }

    /// A rule on shop's `total` sum, `below` by 30% a baseline of two look-back days of
    /// weight 2 each, not smoothed.
    fn total_below_baseline_rules() -> RuleSet {
        RuleSet::from_toml_str(
            "[baseline]\ndays_back = [1, 2]\nweights = [2, 2]\nsmoothing_window_minutes = 0\n\
             [[rule]]\nid=\"total\"\ndomain=\"shop\"\nreport=\"metric\"\nname=\"total\"\n\
             measure=\"sum\"\nbaseline=\"below\"\nmargin_percent=30.0",
            None,
        )
        .unwrap()
    }

    #[test]
    fn a_drop_below_a_baseline_of_sums_saturated_at_f64_max_fires() {
        use ocelot_protocol::{Header, Leaf, Message, MessageTree};
        let hour = 498_703;
        // On both look-back days, `total` summed past f64::MAX in minute 10 (held at MAX by
        // the analyzer). Weighted by 2 and added, that was inf: no value was ever 30% below.
        let mut history = crate::MemoryHistory::new();
        for past in [hour - 24, hour - 48] {
            let config = std::sync::Arc::new(ocelot_analyzer::AnalyzerConfig::default());
            let mut analyzer = ocelot_analyzer::MetricAnalyzer::new(past, config);
            for _ in 0..2 {
                let at = past * 3_600_000 + 10 * MILLIS_PER_MINUTE;
                let metric = Leaf::new("", "total", "S", at, "1e308");
                let header = Header {
                    domain: "shop".into(),
                    ..Header::default()
                };
                analyzer.process(&MessageTree::new(header, Message::Metric(metric)));
            }
            history.insert(
                "shop",
                past,
                Report::Metric(analyzer.reports()["shop"].clone()),
            );
        }
        // Today nothing: a sum of 0, watched.
        history.cover(hour);
        let mut engine = Engine::new(total_below_baseline_rules());
        let minute = hour * 60 + 10;
        let events = engine.evaluate_minutes(minute, minute, &history);
        assert_eq!(events.len(), 1, "{:?}", engine.statuses());
        assert_eq!(events[0].baseline, Some(f64::MAX));
        assert_eq!(engine.baselines_not_finite(), 0);
    }

    #[test]
    fn minutes_evaluated_against_a_baseline_that_is_not_finite_are_counted() {
        let hour = 498_703;
        let mut history = crate::MemoryHistory::new();
        history.cover(hour);
        let mut alerting = crate::Alerting::new(total_below_baseline_rules());
        let key = SeriesKey {
            scope: alerting.engine().rules().rules()[0].scope.clone(),
            measure: Measure::Sum,
        };
        let day = hour / 24;
        let mut series = vec![Some(f64::NAN); MINUTES_PER_DAY as usize];
        series[(hour % 24 * 60 + 11) as usize] = Some(f64::INFINITY);
        series[(hour % 24 * 60 + 12) as usize] = Some(0.0);
        let engine = alerting.engine_mut();
        engine.baselines.insert("shop", day, key, series);
        // Started during 00:09: the tick at 00:13:15 evaluates 00:10 to 00:12.
        engine.start_after(hour * 3_600_000 + 9 * MILLIS_PER_MINUTE);
        let now = hour * 3_600_000 + 13 * MILLIS_PER_MINUTE + 15_000;
        assert!(alerting.tick(now, &history).is_empty());
        let counters = alerting.log().snapshot().counters;
        assert_eq!(
            counters.baselines_not_finite, 2,
            "00:10 and 00:11, not 00:12"
        );
        assert_eq!(alerting.engine().baselines_not_finite(), 2);
    }

    #[test]
    fn live_and_replay_agree_on_a_one_day_baseline_after_a_stop_just_before_midnight() {
        let day = 20_755;
        let midnight = day * 24;
        // Yesterday: ten orders a minute, the collector up until it stopped at 23:59:55 (its
        // last sample in 23:59, a partial minute). Restarted at 00:04:20 today.
        let mut stored = crate::MemoryHistory::new();
        for hour in midnight - 2..midnight {
            store_orders_hour(&mut stored, hour, 0..60);
        }
        // What the store holds of today's first hour at `minute`: checkpoints from 00:05.
        let today = |stored: &crate::MemoryHistory, minute: u64| {
            let mut stored = stored.clone();
            store_orders_hour(&mut stored, midnight, 4..minute);
            stored
        };
        // Today's 23:59 has no order (23:00 to 23:58 have ten each).
        let last_hour = |stored: &mut crate::MemoryHistory| {
            stored.insert(
                "shop",
                midnight + 23,
                metric_report(midnight + 23, &[("orders", "C", 0..59)]),
            );
        };
        let at = |minute: u64| (midnight * 60 + minute) * 60_000 + 15_000;

        let mut engine = Engine::new(one_day_baseline_rules());
        engine.start_after(at(4) + 5_000);
        for minute in [6, 12] {
            let history = crate::Overlay(live_orders_hour(midnight), today(&stored, minute));
            engine.evaluate(at(minute), &history);
        }
        assert_eq!(
            engine.baseline_builds(),
            2,
            "built again once yesterday is sealed"
        );
        let mut live = crate::MemoryHistory::new();
        last_hour(&mut live);
        live.cover(midnight + 23);
        let live_events = engine.evaluate(
            at(MINUTES_PER_DAY),
            &crate::Overlay(live, today(&stored, 60)),
        );
        let live_baseline = engine.statuses()[0].last_baseline;

        // Replayed later from the store, the collector up since the restart.
        let mut stored = today(&stored, 60);
        store_orders_hour(&mut stored, midnight + 23, 0..60);
        last_hour(&mut stored);
        store_orders_hour(&mut stored, midnight + 24, 0..60);
        let mut replay = Engine::new(one_day_baseline_rules());
        let last = (midnight + 24) * 60 - 1;
        let replayed: Vec<_> = (replay
            .evaluate_minutes(midnight * 60, last, &stored)
            .into_iter())
        .filter(|e| e.minute >= (midnight + 23) * 60)
        .collect();
        assert_eq!(replay.statuses()[0].last_time, minute_label(last));
        // Yesterday's 23:59 was partial, so it is no data for today's 23:59: no baseline,
        // no alert, live as in the replay.
        assert_eq!(replay.statuses()[0].last_baseline, None);
        assert_eq!(live_baseline, None);
        assert_eq!(live_events, replayed);
    }

    #[test]
    fn a_firing_alert_stays_firing_over_an_hour_nobody_watched() {
        let set = RuleSet::from_toml_str(
            "[[rule]]\nid=\"surge\"\ndomain=\"shop\"\nreport=\"metric\"\nname=\"orders\"\n\
             measure=\"sum\"\nabove=5.0",
            None,
        )
        .unwrap();
        let hour = 498_703;
        // Orders surge through `hour`; Ocelot is down the whole next hour (nothing stored,
        // not even a State report) and back for the one after, the surge still on.
        let mut stored = crate::MemoryHistory::new();
        store_orders_hour(&mut stored, hour, 0..60);
        store_orders_hour(&mut stored, hour + 2, 0..60);
        let mut engine = Engine::new(set);
        let events = engine.evaluate_minutes(hour * 60, hour * 60 + 179, &stored);
        let seen: Vec<_> = events.iter().map(|e| (e.kind, e.minute)).collect();
        // As live, where the restarted server never evaluated the outage: one incident,
        // still firing; not resolved over the hour without values, then paged again.
        assert_eq!(seen, [(crate::AlertKind::Fired, hour * 60 + 1)]);
        assert_eq!(engine.statuses()[0].phase, AlertPhase::Firing);
    }

    #[test]
    fn an_engine_started_mid_minute_evaluates_nothing_before_the_next_whole_minute() {
        let set = RuleSet::from_toml_str(
            "[[rule]]\nid=\"r\"\ndomain=\"shop\"\nreport=\"event\"\nmeasure=\"count\"\nbelow=1.0",
            None,
        )
        .unwrap();
        let mut engine = Engine::new(set);
        let minute_ms = MILLIS_PER_MINUTE;
        // Started at 10:04:09: 10:03 and 10:04 were never watched whole.
        let started = 600 * minute_ms + 4 * minute_ms + 9_000;
        engine.start_after(started);
        let settled = |minute: u64| 600 * minute_ms + (minute + 1) * minute_ms + 11_000;
        assert!(engine.wanted_reports(settled(3)).is_empty());
        assert!(engine.wanted_reports(settled(4)).is_empty());
        assert!(engine
            .evaluate(settled(4), &crate::MemoryHistory::new())
            .is_empty());
        // 10:05 is the first whole minute watched: due once settled.
        assert_eq!(engine.due(settled(5)), Some((605, 605)));
    }
}
