//! Samples the server's own health every few seconds for the web pages
//! ([`ocelot_web::SharedHealth`]): the banner on every page and the State page's "Saving
//! now". A page then reads one sample and counts nothing itself.
//!
//! The figures are those `/metrics` exports and `ocelot status` judges (telemetry.rs): the
//! collector's counters (store drops by reason included, without the store's walk of its
//! folder for disk use), the store's last failure (so the pages name the file and the
//! error), and the rules firing in the alert log. The judgements follow
//! `ocelot status`: reports are not saved when a report write failed since the last good
//! checkpoint, or that checkpoint is overdue.

use std::collections::VecDeque;
use std::future::Future;
use std::time::Duration;

use ocelot_alert::{AlertLog, AlertPhase, RuleStatus};
use ocelot_collector::{Collector, StatsSnapshot};
use ocelot_web::{ServerHealth, SharedHealth};

/// How often the health is sampled: a banner a few seconds late is fine, and a sample
/// copies the alert log's rules and the collector's counters, no more.
const SAMPLE_INTERVAL: Duration = Duration::from_secs(5);

/// How far back losses count as "lately": long enough that a slow trickle of traffic into
/// a failing store keeps the banner up between trees.
const LATELY_MS: u64 = 5 * 60_000;

/// Beyond two checkpoint intervals, how late the last good checkpoint may be before the
/// reports count as not saved (`ocelot status` allows the same).
const CHECKPOINT_SLACK_MS: u64 = 30_000;

/// The store's drop reasons that mean it cannot write (a full or failing disk, a data file
/// at its size limit), rather than a tree it refused.
const STORE_FAILING_REASONS: [&str; 2] = ["io_error", "data_file_full"];

/// Judges samples of the collector's counters against the ones before.
#[derive(Debug)]
pub(crate) struct HealthSampler {
    started_ms: u64,
    checkpoint_interval_ms: u64,
    /// The last good checkpoint seen, and the failed report writes counted when it was
    /// first seen: more failures since mean the reports are not saved.
    checkpoint_seen: (u64, u64),
    /// Earlier samples reaching back [`LATELY_MS`], oldest first: when, the store's
    /// failing drops per reason of [`STORE_FAILING_REASONS`], the other trees lost to the
    /// reports and to the store (apart: one tree can be lost to both).
    history: VecDeque<(u64, [u64; 2], [u64; 2])>,
}

impl HealthSampler {
    pub(crate) fn new(started_ms: u64, checkpoint_interval: Duration) -> Self {
        HealthSampler {
            started_ms,
            checkpoint_interval_ms: u64::try_from(checkpoint_interval.as_millis())
                .unwrap_or(u64::MAX),
            checkpoint_seen: (0, 0),
            history: VecDeque::new(),
        }
    }

    /// The health at `now_ms`, from the collector's counters and the rules firing.
    pub(crate) fn sample(
        &mut self,
        now_ms: u64,
        stats: &StatsSnapshot,
        firing: Vec<String>,
    ) -> ServerHealth {
        let write_errors: u64 = stats.workers.values().map(|w| w.report_write_errors).sum();
        if stats.last_checkpoint_ms != self.checkpoint_seen.0 {
            self.checkpoint_seen = (stats.last_checkpoint_ms, write_errors);
        }
        let saved_ms = match stats.last_checkpoint_ms {
            0 => self.started_ms,
            at => at,
        };
        let overdue = now_ms.saturating_sub(saved_ms)
            > self
                .checkpoint_interval_ms
                .saturating_mul(2)
                .saturating_add(CHECKPOINT_SLACK_MS);

        let failing = STORE_FAILING_REASONS.map(|r| stats.store_drops.get(r).copied().unwrap_or(0));
        let other_lost = [
            stats.trees_lost_to_reports(),
            (stats.trees_lost_to_store()).saturating_sub(failing.iter().sum()),
        ];
        self.history.push_back((now_ms, failing, other_lost));
        let since = now_ms.saturating_sub(LATELY_MS);
        while self.history.get(1).is_some_and(|(at, ..)| *at <= since) {
            self.history.pop_front();
        }
        let (_, failing_before, lost_before) = self.history[0];
        let store_failing = STORE_FAILING_REASONS
            .iter()
            .zip(failing.iter().zip(failing_before))
            .filter_map(|(reason, (now, before))| {
                let n = now.saturating_sub(before);
                (n > 0).then(|| ((*reason).to_owned(), n))
            })
            .collect();

        ServerHealth {
            at_ms: now_ms,
            started_ms: self.started_ms,
            firing,
            last_checkpoint_ms: stats.last_checkpoint_ms,
            checkpoint_interval_ms: self.checkpoint_interval_ms,
            report_write_errors: write_errors,
            reports_not_saved: write_errors > self.checkpoint_seen.1 || overdue,
            store_failing,
            // The larger part: a tree dropped by its report worker and the store is one
            // tree, and the banner never says more were lost than came.
            trees_dropped_lately: (other_lost[0].saturating_sub(lost_before[0]))
                .max(other_lost[1].saturating_sub(lost_before[1])),
            lately_ms: LATELY_MS,
            last_store_error: stats.store_last_error.as_ref().map(ToString::to_string),
            last_store_error_ms: stats.store_last_error.as_ref().map_or(0, |e| e.at_ms),
        }
    }
}

/// Samples into `health` every [`SAMPLE_INTERVAL`] until `stop` resolves.
pub(crate) async fn sample_until(
    health: SharedHealth,
    collector: Collector,
    alerts: AlertLog,
    checkpoint_interval: Duration,
    stop: impl Future<Output = ()>,
) {
    let mut sampler = HealthSampler::new(collector.now_ms(), checkpoint_interval);
    let mut ticks = tokio::time::interval(SAMPLE_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => return,
            _ = ticks.tick() => {}
        }
        let firing = firing_names(alerts.snapshot().rules);
        health.set(sampler.sample(collector.now_ms(), &collector.stats(), firing));
    }
}

/// What the banner names the rules firing now by: the id, with the machine when the rule
/// is a machine's. A heartbeat rule without `ip` fires per machine under one id, and
/// "silent, silent" did not say which machines went quiet.
fn firing_names(rules: Vec<RuleStatus>) -> Vec<String> {
    rules
        .into_iter()
        .filter(|r| r.phase == AlertPhase::Firing)
        .map(|r| match &r.scope.ip {
            Some(ip) => format!("{} ({ip})", r.id),
            None => r.id,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use ocelot_collector::WorkerSnapshot;

    use super::*;

    const START_MS: u64 = 1_796_662_380_000;
    const MINUTE_MS: u64 = 60_000;

    fn stats(checkpoint_ms: u64, write_errors: u64) -> StatsSnapshot {
        let mut stats = StatsSnapshot {
            last_checkpoint_ms: checkpoint_ms,
            ..StatsSnapshot::default()
        };
        stats.workers.insert(
            "analyzer-0".to_owned(),
            WorkerSnapshot {
                report_write_errors: write_errors,
                ..WorkerSnapshot::default()
            },
        );
        stats
    }

    #[test]
    fn a_failed_report_write_since_the_last_good_checkpoint_means_reports_are_not_saved() {
        let mut sampler = HealthSampler::new(START_MS, Duration::from_secs(60));
        let at = |m: u64| START_MS + m * MINUTE_MS;
        let h = sampler.sample(at(1), &stats(at(1), 0), Vec::new());
        assert!(!h.reports_not_saved && !h.is_troubled(), "{h:?}");
        // The next checkpoint fails: its time stays, the failures grow.
        let h = sampler.sample(at(2), &stats(at(1), 3), Vec::new());
        assert!(h.reports_not_saved, "{h:?}");
        assert_eq!((h.last_checkpoint_ms, h.report_write_errors), (at(1), 3));
        // A good checkpoint after them: saved again, the failures still counted.
        let h = sampler.sample(at(3), &stats(at(3), 3), Vec::new());
        assert!(!h.reports_not_saved, "{h:?}");
        assert_eq!(h.report_write_errors, 3);
    }

    #[test]
    fn an_overdue_checkpoint_means_reports_are_not_saved_though_no_write_failed() {
        let mut sampler = HealthSampler::new(START_MS, Duration::from_secs(60));
        // Two intervals and the slack after the start, no checkpoint yet: fine.
        let h = sampler.sample(START_MS + 150_000, &stats(0, 0), Vec::new());
        assert!(!h.reports_not_saved, "{h:?}");
        let h = sampler.sample(START_MS + 150_001, &stats(0, 0), Vec::new());
        assert!(h.reports_not_saved, "{h:?}");
    }

    /// The banner said "see the log": the sample now carries the store's last failure.
    #[test]
    fn the_sample_carries_the_stores_last_error() {
        let mut sampler = HealthSampler::new(START_MS, Duration::from_secs(60));
        let mut s = stats(START_MS, 0);
        let h = sampler.sample(START_MS + MINUTE_MS, &s, Vec::new());
        assert_eq!((h.last_store_error, h.last_store_error_ms), (None, 0));
        s.store_last_error = Some(ocelot_store::LastError {
            what: "writing a block to",
            path: "/data/498703/shop/messages.dat".to_owned(),
            error: "No space left on device (os error 28)".to_owned(),
            at_ms: START_MS + 30_000,
        });
        let h = sampler.sample(START_MS + MINUTE_MS, &s, Vec::new());
        assert_eq!(
            h.last_store_error.as_deref(),
            Some("writing a block to /data/498703/shop/messages.dat: No space left on device (os error 28)")
        );
        assert_eq!(h.last_store_error_ms, START_MS + 30_000);
    }

    #[test]
    fn store_failures_and_other_drops_count_over_the_last_minutes_only() {
        let mut sampler = HealthSampler::new(START_MS, Duration::from_secs(60));
        let at = |m: u64| START_MS + m * MINUTE_MS;
        let with_drops = |io_error: u64, out_of_window: u64| {
            let mut s = stats(0, 0);
            s.store_drops.insert("io_error", io_error);
            s.store_dropped = io_error;
            s.out_of_window = out_of_window;
            s
        };
        let h = sampler.sample(at(0), &with_drops(0, 0), Vec::new());
        assert!(h.store_failing.is_empty() && h.trees_dropped_lately == 0);
        let h = sampler.sample(at(1), &with_drops(100, 7), Vec::new());
        assert_eq!(h.store_failing, [("io_error".to_owned(), 100)]);
        assert_eq!(h.trees_dropped_lately, 7, "the store's failures apart");
        let h = sampler.sample(at(4), &with_drops(150, 7), vec!["a".to_owned()]);
        assert_eq!(h.store_failing, [("io_error".to_owned(), 150)]);
        assert_eq!(h.firing, ["a"]);
        // Six minutes after the last drop: nothing lately.
        let h = sampler.sample(at(10), &with_drops(150, 7), Vec::new());
        assert!(
            h.store_failing.is_empty() && h.trees_dropped_lately == 0,
            "{h:?}"
        );
    }

    /// A tree dropped by its report worker (queue full) and by the store (queue full) is
    /// one tree lost: the banner added the stages and could say more were lost than came.
    #[test]
    fn a_tree_dropped_by_a_report_worker_and_the_store_is_one_tree_dropped() {
        let mut sampler = HealthSampler::new(START_MS, Duration::from_secs(60));
        let with_drops = |n: u64| {
            let mut s = stats(0, 0);
            s.store_drops.insert("queue_full", n);
            s.store_dropped = n;
            s.workers.get_mut("analyzer-0").unwrap().dropped_queue_full = n;
            s
        };
        sampler.sample(START_MS, &with_drops(0), Vec::new());
        let h = sampler.sample(START_MS + MINUTE_MS, &with_drops(40), Vec::new());
        assert_eq!(h.trees_dropped_lately, 40);
    }

    #[test]
    fn the_banner_names_each_machine_a_heartbeat_rule_fires_for() {
        let status = |id: &str, ip: Option<&str>, phase: AlertPhase| RuleStatus {
            id: id.to_owned(),
            scope: ocelot_alert::Scope {
                domain: "shop".to_owned(),
                report: ocelot_alert::ReportKind::Heartbeat,
                type_: None,
                name: None,
                ip: ip.map(str::to_owned),
            },
            measure: ocelot_alert::Measure::Heartbeats,
            condition: "below 1".to_owned(),
            phase,
            last_time: "2026-12-08T01:23Z".to_owned(),
            last_value: Some(0.0),
            last_baseline: None,
            uses_baseline: false,
            for_minutes: 2,
            pending_since: None,
            pending_minutes: 0,
            resolve_minutes: 1,
            suppress_minutes: 30,
            baseline_days_back: Vec::new(),
        };
        let rules = vec![
            status("silent", Some("10.0.0.1"), AlertPhase::Firing),
            status("silent", Some("10.0.0.2"), AlertPhase::Firing),
            status("silent", Some("10.0.0.3"), AlertPhase::Ok),
            status("orders", None, AlertPhase::Firing),
        ];
        assert_eq!(
            firing_names(rules),
            ["silent (10.0.0.1)", "silent (10.0.0.2)", "orders"]
        );
    }
}
