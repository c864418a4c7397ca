//! Baselines: the expected value of a measure for each minute of a UTC day, from the same
//! minute of earlier days (reference section 8, CAT's `DefaultBaselineCreator`).
//!
//! CAT builds the baseline of day D+7 on day D from days D-21, D-14, D-7 and D with weights
//! 1, 2, 3, 4: relative to the day evaluated, 28, 21, 14 and 7 days back. That is our
//! default ([`BaselineConfig`]); look-back days and weights are configurable. Per minute the
//! baseline is the weighted mean of the days that have data (a day whose report of that hour
//! is missing is skipped, its weight dropped), then smoothed as CAT does: each point becomes
//! the mean of the points of a window around it that lie within `[median/3, 3*median]` of
//! the window, which removes the odd spike of a past day.
//!
//! A minute of a past day the collector was not running in has no data either, though the
//! hour's report exists (and reads 0 for it): its State report tells (`up_minutes.rs`), so
//! an outage of 40 minutes on one look-back day drops that day's weight for those minutes
//! instead of pulling them toward 0. An hour stored without a State report counts as
//! running throughout.
//!
//! A metric's `value` depends on the metric's kind (`series.rs`); a look-back hour whose
//! report lacks the metric takes the kind from the latest look-back hour that has it (with
//! none, no data).
//!
//! Design constraint: a baseline only depends on days at least one day back, so once built
//! it never changes during its day. [`BaselineCache`] keeps one day per domain and builds
//! the next when the evaluated day changes (the previous day is then sealed), reading each
//! report once for every rule of the domain.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::error::AlertError;
use crate::report_history::{Report, ReportHistory};
use crate::rules::{Measure, ReportKind, Scope};
use crate::series::scope_series;
use crate::time::{MINUTES_PER_DAY, MINUTES_PER_HOUR};
use crate::up_minutes::UpMinutes;

/// CAT's look-back days, relative to the day evaluated.
pub const DEFAULT_DAYS_BACK: [u32; 4] = [28, 21, 14, 7];
/// CAT's weights of those days: recent days count more.
pub const DEFAULT_WEIGHTS: [f64; 4] = [1.0, 2.0, 3.0, 4.0];
/// CAT smooths over 30 points.
pub const DEFAULT_SMOOTHING_WINDOW_MINUTES: u32 = 30;

/// The `[baseline]` section of the rule file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BaselineConfig {
    /// Days back from the evaluated day, each at least 1 (default `[28, 21, 14, 7]`).
    pub days_back: Vec<u32>,
    /// One weight per entry of `days_back`, each above 0 (default `[1, 2, 3, 4]`).
    pub weights: Vec<f64>,
    /// Width of the smoothing window; 0 or 1 turns smoothing off (default 30).
    pub smoothing_window_minutes: u32,
}

impl Default for BaselineConfig {
    fn default() -> Self {
        BaselineConfig {
            days_back: DEFAULT_DAYS_BACK.to_vec(),
            weights: DEFAULT_WEIGHTS.to_vec(),
            smoothing_window_minutes: DEFAULT_SMOOTHING_WINDOW_MINUTES,
        }
    }
}

impl BaselineConfig {
    pub(crate) fn validate(&self) -> Result<(), AlertError> {
        let fail = |message: &str| Err(AlertError::config("[baseline]", message));
        if self.days_back.is_empty() {
            return fail("`days_back` is empty");
        }
        if self.days_back.len() != self.weights.len() {
            return fail("`days_back` and `weights` must have the same length");
        }
        if self.days_back.contains(&0) {
            return fail("`days_back` must be at least 1: a day cannot be its own baseline");
        }
        if let Some(day) = (0..self.days_back.len())
            .find(|&i| self.days_back[..i].contains(&self.days_back[i]))
            .map(|i| self.days_back[i])
        {
            return Err(AlertError::config(
                "[baseline]",
                format!(
                    "`days_back` lists {day} twice: give that day one entry and a larger weight"
                ),
            ));
        }
        if self.weights.iter().any(|w| !(w.is_finite() && *w > 0.0)) {
            return fail("`weights` must be finite and above 0");
        }
        if self.smoothing_window_minutes > MINUTES_PER_DAY as u32 {
            return fail("`smoothing_window_minutes` is at most 1440");
        }
        Ok(())
    }
}

/// One series a baseline is kept for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct SeriesKey {
    pub(crate) scope: Scope,
    pub(crate) measure: Measure,
}

/// The baselines of one domain for one day.
#[derive(Debug)]
struct DomainDay {
    day: u64,
    series: HashMap<SeriesKey, Vec<Option<f64>>>,
    /// Built before the day before was sealed (see [`SEALED_AFTER_MINUTES`]): built again,
    /// once, when it is.
    provisional: bool,
}

/// How long after midnight the day before is taken as sealed. The collector seals an hour
/// a few minutes after it ends (3 by default, `collector.previous_hour_grace_minutes`);
/// until then the store holds the last hour's checkpoint, up to a minute short. A baseline
/// that reads the day before (`days_back` holds 1) and is built earlier, live, is built
/// again at the first evaluation past this, so that the day's 23:xx minutes are compared
/// with the whole of yesterday's, as the day's other minutes are.
pub(crate) const SEALED_AFTER_MINUTES: u64 = 10;

/// Baselines per domain for the day being evaluated.
#[derive(Debug)]
pub(crate) struct BaselineCache {
    config: BaselineConfig,
    domains: HashMap<String, DomainDay>,
    /// The minutes the collector was up on each look-back day (epoch day): its State
    /// reports are the collector's, not a domain's, so they are read once for all domains.
    up_days: HashMap<u64, UpMinutes>,
    builds: u64,
}

impl BaselineCache {
    pub(crate) fn new(config: BaselineConfig) -> Self {
        BaselineCache {
            config,
            domains: HashMap::new(),
            up_days: HashMap::new(),
            builds: 0,
        }
    }

    /// Makes sure `domain`'s baselines of `day` exist for every key; builds the missing ones
    /// in one pass over the look-back reports.
    ///
    /// `newest_minute` is the newest minute that can have data (live: the last complete
    /// one; `None` in a replay of the past, whose days are all sealed): a baseline built
    /// before the day before is sealed is built again once it is ([`SEALED_AFTER_MINUTES`]).
    pub(crate) fn prepare(
        &mut self,
        history: &dyn ReportHistory,
        domain: &str,
        day: u64,
        keys: &[SeriesKey],
        newest_minute: Option<u64>,
    ) {
        let provisional = self.config.days_back.contains(&1)
            && newest_minute.is_some_and(|m| m < day * MINUTES_PER_DAY + SEALED_AFTER_MINUTES);
        let entry = self
            .domains
            .entry(domain.to_owned())
            .or_insert_with(|| DomainDay {
                day,
                series: HashMap::new(),
                provisional,
            });
        if entry.day != day || (entry.provisional && !provisional) {
            if entry.day == day {
                // The day before is sealed now: its last hour (and the collector's State
                // report of it) as written at the seal, not as checkpointed.
                self.up_days.remove(&day.saturating_sub(1));
            }
            *entry = DomainDay {
                day,
                series: HashMap::new(),
                provisional,
            };
        }
        let missing: Vec<&SeriesKey> = keys
            .iter()
            .filter(|k| !entry.series.contains_key(k))
            .collect();
        if missing.is_empty() {
            return;
        }
        self.builds += 1;
        let past_days: Vec<u64> = (self.config.days_back.iter())
            .filter_map(|&back| day.checked_sub(u64::from(back)))
            .collect();
        self.up_days.retain(|d, _| past_days.contains(d));
        for &past_day in &past_days {
            self.up_days.entry(past_day).or_insert_with(|| {
                UpMinutes::read_past(history, past_day * 24, past_day * 24 + 23)
            });
        }
        let built = build(&self.config, history, &self.up_days, domain, day, &missing);
        entry.series.extend(built);
    }

    /// The baseline of `key` at `minute` (epoch minute), if prepared and known.
    pub(crate) fn value(&self, domain: &str, key: &SeriesKey, minute: u64) -> Option<f64> {
        let entry = self.domains.get(domain)?;
        if entry.day != minute / MINUTES_PER_DAY {
            return None;
        }
        *entry
            .series
            .get(key)?
            .get((minute % MINUTES_PER_DAY) as usize)?
    }

    /// Puts `series` as `domain`'s baseline of `key` for `day`, as if built.
    #[cfg(test)]
    pub(crate) fn insert(
        &mut self,
        domain: &str,
        day: u64,
        key: SeriesKey,
        series: Vec<Option<f64>>,
    ) {
        let entry = (self.domains.entry(domain.to_owned())).or_insert_with(|| DomainDay {
            day,
            series: HashMap::new(),
            provisional: false,
        });
        entry.series.insert(key, series);
    }

    /// Forgets `domain`'s baselines (e.g. after its reports were rewritten).
    pub(crate) fn invalidate(&mut self, domain: &str) {
        self.domains.remove(domain);
    }

    /// How many times baselines were built (a build reads the look-back reports).
    pub(crate) fn builds(&self) -> u64 {
        self.builds
    }
}

/// Builds the baselines of `keys` (all of `domain`) for `day`, with `up_days` the minutes
/// the collector was up on each look-back day.
fn build(
    config: &BaselineConfig,
    history: &dyn ReportHistory,
    up_days: &HashMap<u64, UpMinutes>,
    domain: &str,
    day: u64,
    keys: &[&SeriesKey],
) -> HashMap<SeriesKey, Vec<Option<f64>>> {
    let kinds: HashSet<ReportKind> = keys.iter().map(|k| k.scope.report).collect();
    // inputs[key][look-back index][minute of day]
    let mut inputs =
        vec![vec![vec![None; MINUTES_PER_DAY as usize]; config.days_back.len()]; keys.len()];
    // Per key, the latest hour whose report had the metric, and its kind; and the
    // (look-back index, hour) of reports without it, filled in once that kind is known.
    let mut metric_kinds: Vec<Option<(u64, String)>> = vec![None; keys.len()];
    let mut without_metric: Vec<Vec<(usize, u64)>> = vec![Vec::new(); keys.len()];
    for (back, &days_back) in config.days_back.iter().enumerate() {
        let Some(past_day) = day.checked_sub(u64::from(days_back)) else {
            continue;
        };
        for hour_of_day in 0..24 {
            let hour = past_day * 24 + hour_of_day;
            for &kind in &kinds {
                let Some(report) = history.report(domain, kind, hour) else {
                    continue;
                };
                for (k, key) in keys
                    .iter()
                    .enumerate()
                    .filter(|(_, k)| k.scope.report == kind)
                {
                    let series = scope_series(&report, &key.scope, key.measure, None);
                    match series.metric_kind {
                        Some(kind) if metric_kinds[k].as_ref().is_none_or(|(h, _)| *h < hour) => {
                            metric_kinds[k] = Some((hour, kind));
                        }
                        Some(_) => {}
                        None if needs_metric_kind(key) => without_metric[k].push((back, hour)),
                        None => {}
                    }
                    let start = (hour_of_day * MINUTES_PER_HOUR) as usize;
                    inputs[k][back][start..start + series.values.len()]
                        .copy_from_slice(&series.values);
                }
            }
        }
    }
    for (k, key) in keys.iter().enumerate() {
        let Some((_, kind)) = &metric_kinds[k] else {
            continue;
        };
        for &(back, hour) in &without_metric[k] {
            // No record of the metric in the hour: its empty report, of the known kind.
            let empty = Report::empty(ReportKind::Metric, domain, hour);
            let series = scope_series(&empty, &key.scope, key.measure, Some(kind));
            let start = ((hour % 24) * MINUTES_PER_HOUR) as usize;
            inputs[k][back][start..start + series.values.len()].copy_from_slice(&series.values);
        }
    }
    // Minutes the collector was down are no data, whatever the report says.
    for (back, &days_back) in config.days_back.iter().enumerate() {
        let Some(past_day) = day.checked_sub(u64::from(days_back)) else {
            continue;
        };
        let Some(up) = up_days.get(&past_day) else {
            continue;
        };
        for days in &mut inputs {
            for (i, value) in days[back].iter_mut().enumerate() {
                if !up.contains(past_day * MINUTES_PER_DAY + i as u64) {
                    *value = None;
                }
            }
        }
    }
    keys.iter()
        .zip(inputs)
        .map(|(key, days)| {
            let weighted: Vec<(f64, &[Option<f64>])> = config
                .weights
                .iter()
                .copied()
                .zip(days.iter().map(Vec::as_slice))
                .collect();
            let raw = weighted_mean(&weighted);
            (
                (*key).clone(),
                smooth(&raw, config.smoothing_window_minutes as usize),
            )
        })
        .collect()
}

/// Whether `key`'s values depend on the kind of its metric (see `series.rs`).
fn needs_metric_kind(key: &SeriesKey) -> bool {
    key.scope.report == ReportKind::Metric && key.measure == Measure::Value
}

/// Per point, the weighted mean of the inputs that have a value there.
pub(crate) fn weighted_mean(inputs: &[(f64, &[Option<f64>])]) -> Vec<Option<f64>> {
    let len = inputs.iter().map(|(_, s)| s.len()).max().unwrap_or(0);
    let mut values = Vec::with_capacity(inputs.len());
    (0..len)
        .map(|i| {
            values.clear();
            values.extend(
                (inputs.iter()).filter_map(|(w, s)| s.get(i).copied().flatten().map(|v| (*w, v))),
            );
            mean(&values)
        })
        .collect()
}

/// The weighted mean of `(weight, value)` pairs (weights above 0), `None` without any.
///
/// Finite for finite values and weights, however large: a metric's sums saturate at
/// +-`f64::MAX`, and `4 * f64::MAX` or `f64::MAX + -f64::MAX` (inf, NaN) would make a
/// baseline no value is ever off from, so the rule could never fire. Taken the plain way
/// first, which keeps everyday figures exact; when a sum overflowed, it is taken again over
/// weights and values scaled into `[-1, 1]`.
fn mean(values: &[(f64, f64)]) -> Option<f64> {
    let (sum, weight) = (values.iter()).fold((0.0, 0.0), |(s, ws), (w, v)| (s + w * v, ws + w));
    let plain = sum / weight;
    let finite_inputs = values.iter().all(|(w, v)| w.is_finite() && v.is_finite());
    if values.is_empty() || (plain.is_finite() && weight.is_finite()) || !finite_inputs {
        return (weight > 0.0).then_some(plain);
    }
    let largest = |f: fn(&(f64, f64)) -> f64| values.iter().map(f).fold(0.0, f64::max);
    let (top_weight, top_value) = (largest(|(w, _)| *w), largest(|(_, v)| v.abs()));
    if top_value == 0.0 {
        return Some(0.0);
    }
    let (sum, weight) = (values.iter()).fold((0.0, 0.0), |(s, ws), (w, v)| {
        let w = w / top_weight;
        (s + w * (v / top_value), ws + w)
    });
    // A mean lies between the smallest and the largest value: held there against rounding
    // at the edge of the range.
    let low = values.iter().map(|(_, v)| *v).fold(f64::INFINITY, f64::min);
    let high = values
        .iter()
        .map(|(_, v)| *v)
        .fold(f64::NEG_INFINITY, f64::max);
    Some((sum / weight * top_value).clamp(low, high))
}

/// CAT's smoothing: each point with a value becomes the mean of the window's values that
/// lie within `[median/3, 3*median]` (the window is centred and clipped at the day's ends).
/// Points without a value stay without one.
pub(crate) fn smooth(raw: &[Option<f64>], window: usize) -> Vec<Option<f64>> {
    if window <= 1 {
        return raw.to_vec();
    }
    let half = window / 2;
    (0..raw.len())
        .map(|i| {
            raw[i]?;
            let start = i.saturating_sub(half);
            let end = (start + window).min(raw.len());
            let mut values: Vec<f64> = raw[start..end].iter().flatten().copied().collect();
            values.sort_by(f64::total_cmp);
            let median = values[values.len() / 2];
            let (low, high) = if median >= 0.0 {
                (median / 3.0, median * 3.0)
            } else {
                (median * 3.0, median / 3.0)
            };
            let kept: Vec<(f64, f64)> = values
                .into_iter()
                .filter(|v| (low..=high).contains(v))
                .map(|v| (1.0, v))
                .collect();
            if kept.is_empty() {
                raw[i]
            } else {
                mean(&kept)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_weighted_mean_skips_days_without_data() {
        let a = [Some(10.0), Some(10.0), None];
        let b = [Some(20.0), None, None];
        let mean = weighted_mean(&[(1.0, &a), (3.0, &b)]);
        assert_eq!(mean, vec![Some(17.5), Some(10.0), None]);
    }

    #[test]
    fn the_mean_of_sums_saturated_at_f64_max_stays_finite() {
        let max = [Some(f64::MAX)];
        let min = [Some(-f64::MAX)];
        // 1 x MAX + 3 x MAX overflowed to inf; MAX + -MAX to NaN.
        assert_eq!(weighted_mean(&[(1.0, &max), (3.0, &max)]), [Some(f64::MAX)]);
        assert_eq!(weighted_mean(&[(2.0, &max), (2.0, &min)]), [Some(0.0)]);
        let mean = weighted_mean(&[(1.0, &max), (3.0, &min)])[0].unwrap();
        assert!((mean / f64::MAX + 0.5).abs() < 1e-12, "{mean}");
        // Weights too large to add up, and a value too small to scale away.
        let tiny = [Some(1e-300)];
        let mean = weighted_mean(&[(f64::MAX, &tiny), (f64::MAX, &tiny)])[0].unwrap();
        assert!((mean / 1e-300 - 1.0).abs() < 1e-12, "{mean}");
        let zero = [Some(0.0)];
        assert_eq!(
            weighted_mean(&[(f64::MAX, &zero), (f64::MAX, &zero)]),
            [Some(0.0)]
        );
        // The smoothing window's mean too.
        assert_eq!(smooth(&[Some(f64::MAX); 40], 30), vec![Some(f64::MAX); 40]);
    }

    #[test]
    fn smoothing_drops_a_past_spike_and_keeps_gaps() {
        let mut raw = vec![Some(10.0); 40];
        raw[20] = Some(100.0);
        raw[5] = None;
        let smoothed = smooth(&raw, 30);
        assert_eq!(smoothed[20], Some(10.0), "100 is above 3 x median");
        assert_eq!(smoothed[5], None);
        assert_eq!(smoothed[30], Some(10.0));
        assert_eq!(smooth(&raw, 1), raw);
    }

    #[test]
    fn a_metric_absent_from_a_look_back_hour_reads_by_its_kind_in_another() {
        use std::sync::Arc;

        use ocelot_analyzer::{AnalyzerConfig, MetricAnalyzer};
        use ocelot_protocol::{Header, Leaf, Message, MessageTree};

        use crate::report_history::MemoryHistory;

        let day = 20_755;
        let hour_of = |day: u64| day * 24 + 10;
        // `latency` (a duration, 10 ms) and `orders` (a count, 10 a minute) in every minute
        // of 10:00 two weeks back; a week back, that hour has neither.
        let report = |hour: u64, metrics: &[(&str, &str)]| {
            let config = Arc::new(AnalyzerConfig::default());
            let mut analyzer = MetricAnalyzer::new(hour, config);
            for minute in 0..60 {
                for (name, status) in metrics {
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
        };
        let mut history = MemoryHistory::new();
        let both = [("latency", "T"), ("orders", "C")];
        history.insert("shop", hour_of(day - 14), report(hour_of(day - 14), &both));
        history.insert(
            "shop",
            hour_of(day - 7),
            report(hour_of(day - 7), &[("x", "S")]),
        );
        let key = |name: &str| SeriesKey {
            scope: Scope {
                domain: "shop".into(),
                report: ReportKind::Metric,
                type_: None,
                name: Some(name.into()),
                ip: None,
            },
            measure: Measure::Value,
        };
        let keys = [key("latency"), key("orders")];
        let mut cache = BaselineCache::new(BaselineConfig {
            days_back: vec![14, 7],
            weights: vec![1.0, 1.0],
            smoothing_window_minutes: 0,
        });
        cache.prepare(&history, "shop", day, &keys, None);
        let minute = day * MINUTES_PER_DAY + 10 * 60 + 30;
        // A week back there was no duration to take a mean of: 10 ms alone, not (10 + 0) / 2.
        assert_eq!(cache.value("shop", &keys[0], minute), Some(10.0));
        // But no order was a count of 0.
        assert_eq!(cache.value("shop", &keys[1], minute), Some(5.0));
    }

    #[test]
    fn invalid_baseline_settings_are_rejected() {
        let config = BaselineConfig {
            days_back: vec![7, 0],
            weights: vec![1.0, 1.0],
            ..BaselineConfig::default()
        };
        assert!(config
            .validate()
            .unwrap_err()
            .to_string()
            .contains("at least 1"));
        let config = BaselineConfig {
            weights: vec![1.0],
            ..BaselineConfig::default()
        };
        assert!(config
            .validate()
            .unwrap_err()
            .to_string()
            .contains("same length"));
    }

    #[test]
    fn a_look_back_day_listed_twice_is_rejected() {
        let config = BaselineConfig {
            days_back: vec![28, 21, 14, 14],
            ..BaselineConfig::default()
        };
        assert_eq!(
            config.validate().unwrap_err().to_string(),
            "[baseline]: `days_back` lists 14 twice: give that day one entry and a larger weight"
        );
    }

    #[test]
    fn empty_or_zero_baseline_settings_are_rejected() {
        let rejects = |config: BaselineConfig, why: &str| {
            let message = config.validate().unwrap_err().to_string();
            assert!(message.contains(why), "{message}");
        };
        rejects(
            BaselineConfig {
                days_back: Vec::new(),
                weights: Vec::new(),
                ..BaselineConfig::default()
            },
            "`days_back` is empty",
        );
        rejects(
            BaselineConfig {
                days_back: vec![0],
                weights: vec![1.0],
                ..BaselineConfig::default()
            },
            "at least 1",
        );
        rejects(
            BaselineConfig {
                weights: vec![0.0; 4],
                ..BaselineConfig::default()
            },
            "above 0",
        );
    }
}
