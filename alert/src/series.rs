//! [`minute_series`]: the 60 per-minute values of one measure of one scope in an hour's
//! report, read through the analyzer's public views (`minutes` arrays).
//!
//! What exists per minute, and therefore what a rule can measure:
//!
//! | report | per minute in the view | measures |
//! |---|---|---|
//! | transaction | count, fail, avg, p95 (per name) | count, fail, failPercent, avg, p95 |
//! | event | count, fail | count, fail, failPercent |
//! | problem | count | count |
//! | metric | count, sum, avg | value, count, sum, avg |
//! | heartbeat | per machine: each figure's last value | value, heartbeats |
//!
//! p99 (and p50, p90, p999, min, max, std) exist per hour only, so they are not
//! measures. A transaction p95 needs one name: each name keeps its own per-minute
//! histogram, and percentiles of different names cannot be added up from the view.
//!
//! Counts of a minute without messages are 0 (the report exists, nothing happened);
//! ratios and means of such a minute have no value. Without a report there is no value at
//! all. Whether a minute without messages is a quiet minute or one the collector was down
//! is not in the report: the baseline and replay ask the State report (`up_minutes.rs`).
//!
//! A metric's `value` is what CAT's business report plots, by the metric's kind: the count
//! of a `C` metric, the mean of a `T` one, the sum of an `S` or `S,C` one. In a minute
//! without records that is 0, no value, and 0. A report without the metric does not say
//! its kind, so there `value` needs the kind from another report (the engine keeps the one
//! it last saw, the baseline takes it from its other look-back hours); with none known it
//! has no value. (`count`, `sum` and `avg` do not depend on the kind: 0, 0, no value.)
//!
//! A heartbeat scope names one machine (`ip`): heartbeats do not add up across machines.
//! Its `value` is the figure as the machine's last heartbeat of the minute sent it, no
//! value in a minute without one; `heartbeats` is 1 in a minute with a heartbeat, 0
//! without (the report keeps a minute's last heartbeat, not how many came). A scope
//! without `ip` has no value: the engine gives each machine a scope of its own.

use ocelot_analyzer::{HeartbeatReport, ViewQuery};

use crate::report_history::Report;
use crate::rules::{Measure, Scope};

/// Minutes in an hour, as an array length.
const MINUTES: usize = 60;

/// Per-minute sums of one scope.
#[derive(Debug, Clone, Copy, Default)]
struct MinuteTotals {
    count: u64,
    fail: u64,
    /// Sum of durations in ms (transactions) or of metric values.
    sum: f64,
    /// The one p95 when exactly one name contributed (percentiles of several names cannot
    /// be added up: two names make it `None`).
    p95: Option<f64>,
    /// How many names contributed.
    names: u32,
}

/// The value of `measure` in each minute (0..60) of `report`, for `scope`'s type and name.
/// A metric's `value` takes the metric's kind from `report`: without the metric there it
/// has no value (see the module docs).
pub fn minute_series(report: &Report, scope: &Scope, measure: Measure) -> [Option<f64>; MINUTES] {
    scope_series(report, scope, measure, None).values
}

/// [`minute_series`], and the kind of `scope`'s metric in `report`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ScopeSeries {
    pub(crate) values: [Option<f64>; MINUTES],
    /// The kind (`C`, `T`, `S`, `S,C`) of the metric `scope` names, if `report` is a metric
    /// report that has it.
    pub(crate) metric_kind: Option<String>,
}

/// [`minute_series`], with `known_kind` the kind of `scope`'s metric from another report,
/// for when `report` does not have the metric.
pub(crate) fn scope_series(
    report: &Report,
    scope: &Scope,
    measure: Measure,
    known_kind: Option<&str>,
) -> ScopeSeries {
    let query = ViewQuery {
        ip: None,
        type_: scope.type_.as_deref(),
        elapsed_seconds: 3600.0,
        max_names: None,
        keep_name: None,
    };
    let wanted = |name: &str| scope.name.as_deref().is_none_or(|n| n == name);
    let mut totals = [MinuteTotals::default(); MINUTES];
    let mut metric_kind = None;
    match report {
        Report::Transaction(r) => {
            let view = r.view(&query);
            let names = view
                .types
                .iter()
                .flat_map(|t| &t.names)
                .filter(|n| wanted(&n.name));
            for name in names {
                for m in &name.minutes {
                    let t = &mut totals[usize::from(m.minute) % MINUTES];
                    t.count += m.count;
                    t.fail += m.fail;
                    t.sum += m.avg * m.count as f64;
                    t.names += 1;
                    t.p95 = (t.names == 1).then_some(m.p95);
                }
            }
        }
        Report::Event(r) => {
            let view = r.view(&query);
            let names = view
                .types
                .iter()
                .flat_map(|t| &t.names)
                .filter(|n| wanted(&n.name));
            for name in names {
                for m in &name.minutes {
                    let t = &mut totals[usize::from(m.minute) % MINUTES];
                    t.count += m.count;
                    t.fail += m.fail;
                }
            }
        }
        Report::Problem(r) => {
            let view = r.view(&query);
            for entry in view.problems.iter().filter(|p| wanted(&p.name)) {
                for m in &entry.minutes {
                    totals[usize::from(m.minute) % MINUTES].count += m.count;
                }
            }
        }
        // Per machine, not totals: see `heartbeat_series`.
        Report::Heartbeat(_) => {}
        Report::Metric(r) => {
            let query = ViewQuery {
                type_: scope.name.as_deref(),
                ..query
            };
            let view = r.view(&query);
            for item in view.metrics.iter().filter(|i| wanted(&i.name)) {
                metric_kind = Some(item.kind.clone());
                for m in &item.minutes {
                    let t = &mut totals[usize::from(m.minute) % MINUTES];
                    t.count += m.count;
                    t.sum += m.sum;
                }
            }
        }
    }
    if let Report::Heartbeat(r) = report {
        return ScopeSeries {
            values: heartbeat_series(r, scope, measure),
            metric_kind: None,
        };
    }
    let kind = metric_kind.as_deref().or(known_kind);
    ScopeSeries {
        values: totals.map(|t| value_of(&t, measure, kind)),
        metric_kind,
    }
}

/// The minutes of `scope`'s machine in a heartbeat report (see the module docs).
fn heartbeat_series(
    report: &HeartbeatReport,
    scope: &Scope,
    measure: Measure,
) -> [Option<f64>; MINUTES] {
    let Some(ip) = scope.ip.as_deref() else {
        return [None; MINUTES];
    };
    let mut values = [None; MINUTES];
    if measure == Measure::Heartbeats {
        values = [Some(0.0); MINUTES];
    }
    for (minute, figures) in report.minutes_of(ip) {
        let at = usize::from(minute) % MINUTES;
        values[at] = match measure {
            Measure::Heartbeats => Some(1.0),
            _ => scope.name.as_deref().and_then(|n| figures.get(n).copied()),
        };
    }
    values
}

/// `metric_kind`: the kind of the metric, if known (only `value` needs it).
fn value_of(t: &MinuteTotals, measure: Measure, metric_kind: Option<&str>) -> Option<f64> {
    let mean = || (t.count > 0).then(|| t.sum / t.count as f64);
    match measure {
        Measure::Count => Some(t.count as f64),
        Measure::Fail => Some(t.fail as f64),
        Measure::FailPercent => (t.count > 0).then(|| 100.0 * t.fail as f64 / t.count as f64),
        Measure::Avg => mean(),
        Measure::P95 => t.p95.filter(|_| t.count > 0),
        Measure::Sum => Some(t.sum),
        // CAT's business report plots counts for `C`, means for `T`, sums for `S` and
        // `S,C`. An unknown kind (no report read had the metric) has no value: 0 is a
        // count's or sum's, and would read as a `T` metric dropping to 0 ms.
        Measure::Value => match metric_kind? {
            "C" => Some(t.count as f64),
            "T" => mean(),
            // "": a metric whose records named no kind (sums, as CAT plots them).
            "S" | "S,C" | "" => Some(t.sum),
            _ => None,
        },
        // Heartbeat reports only (`heartbeat_series`).
        Measure::Heartbeats => None,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use ocelot_analyzer::{AnalyzerConfig, MetricAnalyzer, ProblemAnalyzer, TransactionAnalyzer};
    use ocelot_protocol::{Header, Leaf, Message, MessageTree, Transaction};

    use super::*;
    use crate::rules::ReportKind;

    const HOUR: u64 = 498_703;

    fn tree(root: Message) -> MessageTree {
        let header = Header {
            domain: "shop".into(),
            ip_address: "10.0.0.1".into(),
            ..Header::default()
        };
        MessageTree::new(header, root)
    }

    fn transaction(
        type_: &str,
        name: &str,
        minute: u64,
        duration_ms: u64,
        ok: bool,
    ) -> MessageTree {
        let mut t = Transaction::new(type_, name, HOUR * 3_600_000 + minute * 60_000 + 5);
        t.duration_us = duration_ms * 1000;
        if !ok {
            t.status = "500".into();
        }
        tree(Message::Transaction(t))
    }

    fn scope(report: ReportKind, type_: Option<&str>, name: Option<&str>) -> Scope {
        Scope {
            domain: "shop".into(),
            report,
            type_: type_.map(str::to_owned),
            name: name.map(str::to_owned),
            ip: None,
        }
    }

    #[test]
    fn transaction_minutes_add_up_names_of_a_type() {
        let mut analyzer = TransactionAnalyzer::new(HOUR, Arc::new(AnalyzerConfig::default()));
        analyzer.process(&transaction("URL", "/pay", 3, 10, true));
        analyzer.process(&transaction("URL", "/pay", 3, 30, false));
        analyzer.process(&transaction("URL", "/cart", 3, 20, true));
        analyzer.process(&transaction("SQL", "select", 3, 1, true));
        let report = Report::Transaction(analyzer.reports()["shop"].clone());
        let url = scope(ReportKind::Transaction, Some("URL"), None);
        assert_eq!(minute_series(&report, &url, Measure::Count)[3], Some(3.0));
        assert_eq!(minute_series(&report, &url, Measure::Count)[4], Some(0.0));
        assert_eq!(minute_series(&report, &url, Measure::Fail)[3], Some(1.0));
        let fail = minute_series(&report, &url, Measure::FailPercent);
        assert!((fail[3].unwrap() - 100.0 / 3.0).abs() < 1e-9);
        assert_eq!(fail[4], None, "no messages, no ratio");
        assert_eq!(minute_series(&report, &url, Measure::Avg)[3], Some(20.0));
        let all = scope(ReportKind::Transaction, None, None);
        assert_eq!(minute_series(&report, &all, Measure::Count)[3], Some(4.0));
        let pay = scope(ReportKind::Transaction, Some("URL"), Some("/pay"));
        let p95 = minute_series(&report, &pay, Measure::P95)[3].unwrap();
        assert!((p95 - 30.0).abs() < 0.5, "{p95}");
        // Several names in a minute have no p95 together (rules need a type and a name;
        // a scope made in code may not).
        assert_eq!(minute_series(&report, &url, Measure::P95)[3], None);
        analyzer.process(&transaction("Service", "/pay", 3, 2_000, true));
        let report = Report::Transaction(analyzer.reports()["shop"].clone());
        let untyped = scope(ReportKind::Transaction, None, Some("/pay"));
        assert_eq!(
            minute_series(&report, &untyped, Measure::Count)[3],
            Some(3.0)
        );
        assert_eq!(minute_series(&report, &untyped, Measure::P95)[3], None);
    }

    #[test]
    fn problem_minutes_count_matching_entries() {
        let mut analyzer = ProblemAnalyzer::new(HOUR, Arc::new(AnalyzerConfig::default()));
        analyzer.process(&transaction("URL", "/pay", 9, 10, false));
        analyzer.process(&transaction("URL", "/pay", 9, 10, false));
        analyzer.process(&transaction("SQL", "insert", 9, 10, false));
        analyzer.process(&transaction("URL", "/pay", 9, 10, true));
        let report = Report::Problem(analyzer.reports()["shop"].clone());
        let url = scope(ReportKind::Problem, Some("URL"), None);
        assert_eq!(minute_series(&report, &url, Measure::Count)[9], Some(2.0));
        let all = scope(ReportKind::Problem, None, None);
        assert_eq!(minute_series(&report, &all, Measure::Count)[9], Some(3.0));
        assert_eq!(minute_series(&report, &all, Measure::Count)[10], Some(0.0));
    }

    #[test]
    fn metric_values_follow_the_metric_kind() {
        let mut analyzer = MetricAnalyzer::new(HOUR, Arc::new(AnalyzerConfig::default()));
        let at = HOUR * 3_600_000 + 7 * 60_000;
        for (name, status, data) in [
            ("orders", "C", "2"),
            ("orders", "C", "3"),
            ("latency", "T", "10"),
            ("latency", "T", "30"),
        ] {
            let metric = Leaf::new("", name, status, at, data);
            analyzer.process(&tree(Message::Metric(metric)));
        }
        let report = Report::Metric(analyzer.reports()["shop"].clone());
        let orders = scope(ReportKind::Metric, None, Some("orders"));
        assert_eq!(
            minute_series(&report, &orders, Measure::Value)[7],
            Some(5.0)
        );
        let latency = scope(ReportKind::Metric, None, Some("latency"));
        assert_eq!(
            minute_series(&report, &latency, Measure::Value)[7],
            Some(20.0)
        );
        assert_eq!(
            minute_series(&report, &latency, Measure::Count)[7],
            Some(2.0)
        );
        // A minute without records: a count of 0, a mean without value.
        assert_eq!(
            minute_series(&report, &orders, Measure::Value)[8],
            Some(0.0)
        );
        assert_eq!(minute_series(&report, &latency, Measure::Value)[8], None);
    }

    #[test]
    fn a_metric_absent_from_the_report_has_a_value_only_by_a_kind_known_elsewhere() {
        let mut analyzer = MetricAnalyzer::new(HOUR, Arc::new(AnalyzerConfig::default()));
        let at = HOUR * 3_600_000 + 7 * 60_000;
        let metric = Leaf::new("", "orders", "C", at, "2");
        analyzer.process(&tree(Message::Metric(metric)));
        let report = Report::Metric(analyzer.reports()["shop"].clone());
        let latency = scope(ReportKind::Metric, None, Some("latency"));
        // Its kind unknown, `value` may be a count (0) or a mean (none): it has none.
        let unknown = scope_series(&report, &latency, Measure::Value, None);
        assert_eq!(
            (unknown.values, unknown.metric_kind),
            ([None; MINUTES], None)
        );
        // A duration absent from the hour has no mean: no value, not 0 ms.
        let known = scope_series(&report, &latency, Measure::Value, Some("T"));
        assert_eq!(known.values, [None; MINUTES]);
        // A count absent from the hour counted 0, as a sum summed 0.
        let known = scope_series(&report, &latency, Measure::Value, Some("C"));
        assert_eq!(known.values, [Some(0.0); MINUTES]);
        let known = scope_series(&report, &latency, Measure::Value, Some("S,C"));
        assert_eq!(known.values, [Some(0.0); MINUTES]);
        // Measures that do not depend on the kind.
        assert_eq!(
            minute_series(&report, &latency, Measure::Count),
            [Some(0.0); MINUTES]
        );
        assert_eq!(
            minute_series(&report, &latency, Measure::Avg),
            [None; MINUTES]
        );
        // The report's own kind wins over one known elsewhere.
        let orders = scope(ReportKind::Metric, None, Some("orders"));
        let series = scope_series(&report, &orders, Measure::Value, Some("T"));
        assert_eq!(series.metric_kind.as_deref(), Some("C"));
        assert_eq!((series.values[7], series.values[8]), (Some(2.0), Some(0.0)));
    }
}
