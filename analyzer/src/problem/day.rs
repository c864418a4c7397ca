//! [`ProblemDay`]: one domain's problem reports of a UTC day merged into one, CAT's daily
//! Problem report, and the [`ProblemDayView`] the JSON API returns of it. As for
//! transactions ([`crate::TransactionDay`]), each hour joins the day as one row per entry
//! ([`ProblemReport::in_row`]), so an entry's rows are its hours, not minutes.
//!
//! Sample message IDs are picked as an hour picks them, the first ones, up to the 60 an
//! hour keeps: with the hours added in order, the day's first 60 of each entry (of all
//! machines: each hour's machines merged as the hour's "All" view merges them, then the
//! hours in order).

use serde::Serialize;

use super::report::{ProblemEntryView, ProblemReport};
use crate::day::{Day, SpanHead};
use crate::view_query::ViewQuery;

/// The problem reports of one domain over one UTC day, merged hour by hour.
///
/// ```
/// use ocelot_analyzer::{ProblemDay, ProblemReport, ViewQuery};
///
/// let day = 498_703 / 24;
/// let mut merged = ProblemDay::new("shop", day);
/// assert!(merged.add_hour(&ProblemReport::new("shop", 498_703)));
/// assert!(!merged.add_hour(&ProblemReport::new("shop", 498_703 + 24)), "the next day");
/// let view = merged.view(&ViewQuery::default());
/// assert_eq!((view.day.as_str(), view.hours.len()), ("20261122", 1));
/// ```
pub type ProblemDay = Day<ProblemReport>;

impl ProblemDay {
    /// What `GET /api/problem?day=` returns (`query.ip` picks a machine, `query.type_` a
    /// problem type, as in an hour's view). The view of all machines merges each hour's
    /// machines before the hours, so its samples are the day's first, not the first
    /// machine's.
    pub fn view(&self, query: &ViewQuery<'_>) -> ProblemDayView {
        let report = self.report();
        ProblemDayView {
            domain: report.domain().to_owned(),
            day: self.label(),
            hours: self.hour_labels(),
            ips: report.ips().map(str::to_owned).collect(),
            problems: self
                .report_of(query.machine())
                .entry_views(query, self.rows()),
            folded: report.folded(),
        }
    }

    /// What `GET /api/problem?week=` or `?month=` returns: the span's figures with `days` rows
    /// (one per day with data) in place of `hours`. `query.elapsed_seconds` is the seconds
    /// of the span that have run, so `tps` is its average rate.
    pub fn span_view(&self, query: &ViewQuery<'_>) -> ProblemSpanView {
        ProblemSpanView {
            head: self.span_head(),
            problems: self
                .report_of(query.machine())
                .entry_views(query, self.rows()),
            folded: self.report().folded(),
        }
    }
}

/// `GET /api/problem?day=`: `{"domain","day","hours":[..],"ips":[..],"problems":[..],
/// "folded"}`,
/// the entries as in an hour's view with `hours` rows in place of `minutes`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProblemDayView {
    /// The domain.
    pub domain: String,
    /// `YYYYMMDD` (UTC).
    pub day: String,
    /// The hours of the day merged (those with a report of the domain), `YYYYMMDDHH`.
    pub hours: Vec<String>,
    /// Every machine seen in the day.
    pub ips: Vec<String>,
    /// Sorted by category, type, name; each entry's `hours` are its hourly series.
    pub problems: Vec<ProblemEntryView>,
    /// Problems of the day's hours (every machine's, whatever `ip` picks) counted under an
    /// `OTHERS` key because a cap was reached, each once ([`ProblemReport::folded`]).
    pub folded: u64,
}

/// `GET /api/problem?week=` or `?month=`: `{"domain","period","label","from","to","days":[..],
/// "ips":[..],"problems":[..],"folded"}`, the problems as in a day's view with `days` rows in
/// place of `hours`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProblemSpanView {
    /// Domain, period, days and machines.
    #[serde(flatten)]
    pub head: SpanHead,
    /// As in a day's view, each one's rows its days.
    pub problems: Vec<ProblemEntryView>,
    /// Problems of the span's hours (every machine's, whatever `ip` picks) counted under an
    /// `OTHERS` key because a cap was reached, each once.
    pub folded: u64,
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::config::AnalyzerConfig;
    use crate::problem::report::MAX_PROBLEM_MESSAGE_IDS;
    use crate::problem::ProblemAnalyzer;
    use crate::span::Span;
    use crate::test_support::{transaction, tree};

    /// 2026-11-22.
    const DAY: u64 = 498_703 / 24;
    const DAY_START: u64 = DAY * 24;

    /// `n` failed `URL /pay` transactions of machine `ip` in `hour`, one a minute (minute
    /// `i % 60`), message IDs `shop-0a000001-{hour}-{i}`.
    fn hour_report(hour: u64, ip: &str, n: u64) -> ProblemReport {
        let mut analyzer = ProblemAnalyzer::new(hour, Arc::new(AnalyzerConfig::default()));
        for i in 0..n {
            let ts = hour * 3_600_000 + (i % 60) * 60_000 + 5;
            let root = transaction("URL", "/pay", ts, 1_000, "ERROR");
            let id = format!("shop-0a000001-{hour}-{i}");
            analyzer.process(&tree("shop", ip, &id, root));
        }
        analyzer.into_reports().remove("shop").expect("a report")
    }

    fn counts(view: &ProblemDayView) -> Vec<(&str, u64)> {
        view.problems[0]
            .hours
            .iter()
            .map(|h| (h.hour.as_str(), h.count))
            .collect()
    }

    #[test]
    fn a_month_of_problems_has_one_row_per_day() {
        let month = Span::month_of(DAY);
        let mut merged = ProblemDay::over("shop", month);
        assert!(merged.add_hour(&hour_report(DAY_START + 2, "10.0.0.1", 3)));
        assert!(merged.add_hour(&hour_report(DAY_START + 3, "10.0.0.1", 2)));
        assert!(merged.add_hour(&hour_report(DAY_START + 50, "10.0.0.2", 1)));
        let view = merged.span_view(&ViewQuery::default());
        assert_eq!(
            (view.head.label.as_str(), view.head.days.len()),
            ("202611", 2)
        );
        let errors = &view.problems[0];
        assert_eq!(errors.count, 6);
        let rows: Vec<(&str, u64)> = (errors.days.iter())
            .map(|d| (d.day.as_str(), d.count))
            .collect();
        assert_eq!(rows, [("20261122", 5), ("20261124", 1)]);
        assert!(errors.hours.is_empty() && errors.minutes.is_empty());
    }

    #[test]
    fn a_day_adds_up_its_hours_with_one_row_per_hour_and_no_minutes() {
        let mut day = ProblemDay::new("shop", DAY);
        assert!(day.add_hour(&hour_report(DAY_START + 2, "10.0.0.1", 90)));
        assert!(day.add_hour(&hour_report(DAY_START + 7, "10.0.0.1", 5)));
        assert!(day.add_hour(&hour_report(DAY_START + 23, "10.0.0.1", 12)));
        let view = day.view(&ViewQuery::default());
        assert_eq!(view.day, "20261122");
        assert_eq!(view.hours, ["2026112202", "2026112207", "2026112223"]);
        let entry = &view.problems[0];
        assert_eq!(
            (
                entry.category.as_str(),
                entry.type_.as_str(),
                entry.name.as_str()
            ),
            ("error", "URL", "/pay")
        );
        assert_eq!(entry.count, 107);
        assert!(
            entry.minutes.is_empty(),
            "minutes of different hours mean nothing"
        );
        assert_eq!(
            counts(&view),
            [("2026112202", 90), ("2026112207", 5), ("2026112223", 12)]
        );
        let json = serde_json::to_value(&view).unwrap();
        assert_eq!(json["problems"][0]["hours"][1]["hour"], "2026112207");
        assert_eq!(json["problems"][0]["minutes"], serde_json::json!([]));
    }

    #[test]
    fn sample_ids_are_the_days_first_up_to_what_an_hour_keeps() {
        let mut day = ProblemDay::new("shop", DAY);
        // Hour 2 keeps its first 60 of 90; hour 7's five come after them and are left out.
        day.add_hour(&hour_report(DAY_START + 2, "10.0.0.1", 90));
        day.add_hour(&hour_report(DAY_START + 7, "10.0.0.1", 5));
        let ids = &day.view(&ViewQuery::default()).problems[0].sample_message_ids;
        assert_eq!(ids.len(), MAX_PROBLEM_MESSAGE_IDS);
        assert_eq!(ids[0], format!("shop-0a000001-{}-0", DAY_START + 2));
        assert_eq!(ids[59], format!("shop-0a000001-{}-59", DAY_START + 2));

        let mut day = ProblemDay::new("shop", DAY);
        day.add_hour(&hour_report(DAY_START + 2, "10.0.0.1", 3));
        day.add_hour(&hour_report(DAY_START + 7, "10.0.0.1", 2));
        let ids = &day.view(&ViewQuery::default()).problems[0].sample_message_ids;
        let want: Vec<String> = [(2, 0), (2, 1), (2, 2), (7, 0), (7, 1)]
            .iter()
            .map(|(h, i)| format!("shop-0a000001-{}-{i}", DAY_START + h))
            .collect();
        assert_eq!(ids, &want);
    }

    #[test]
    fn the_samples_of_all_machines_are_those_of_the_first_hours() {
        let mut day = ProblemDay::new("shop", DAY);
        // The machine listed first fails late in the day, the other one early.
        day.add_hour(&hour_report(DAY_START + 3, "10.0.0.2", 40));
        day.add_hour(&hour_report(DAY_START + 20, "10.0.0.1", 40));
        let hour_of = |id: &String| id.split('-').nth(2).unwrap().parse::<u64>().unwrap();
        let all = day.view(&ViewQuery::default());
        let hours: Vec<u64> = all.problems[0]
            .sample_message_ids
            .iter()
            .map(hour_of)
            .collect();
        assert_eq!(hours[..40], [DAY_START + 3; 40]);
        assert_eq!(hours[40..], [DAY_START + 20; 20]);
        assert_eq!(all.problems[0].count, 80);
        // One machine's view has its own.
        let one = day.view(&ViewQuery {
            ip: Some("10.0.0.1"),
            ..ViewQuery::default()
        });
        let hours: Vec<u64> = one.problems[0]
            .sample_message_ids
            .iter()
            .map(hour_of)
            .collect();
        assert_eq!(hours, [DAY_START + 20; 40]);
    }

    #[test]
    fn machines_of_every_hour_are_listed_and_one_can_be_viewed_alone() {
        let mut day = ProblemDay::new("shop", DAY);
        day.add_hour(&hour_report(DAY_START, "10.0.0.1", 10));
        day.add_hour(&hour_report(DAY_START + 5, "10.0.0.2", 4));
        day.add_hour(&hour_report(DAY_START + 6, "10.0.0.1", 1));
        assert_eq!(day.ips().collect::<Vec<_>>(), ["10.0.0.1", "10.0.0.2"]);
        let one = day.view(&ViewQuery {
            ip: Some("10.0.0.2"),
            ..ViewQuery::default()
        });
        assert_eq!(one.problems[0].count, 4);
        assert_eq!(counts(&one), [("2026112205", 4)]);
        let all = day.view(&ViewQuery::default());
        assert_eq!(all.problems[0].count, 15);
        assert_eq!(
            counts(&all),
            [("2026112200", 10), ("2026112205", 4), ("2026112206", 1)]
        );
    }

    #[test]
    fn reports_of_other_days_are_left_out() {
        let mut day = ProblemDay::new("shop", DAY);
        assert!(!day.add_hour(&hour_report(DAY_START - 1, "10.0.0.1", 1)));
        assert!(!day.add_hour(&hour_report(DAY_START + 24, "10.0.0.1", 1)));
        assert!(day.hours().is_empty());
        assert!(day.view(&ViewQuery::default()).problems.is_empty());
    }

    #[test]
    fn an_hours_view_keeps_its_shape() {
        let report = hour_report(DAY_START + 2, "10.0.0.1", 3);
        let json = serde_json::to_value(report.view(&ViewQuery::default())).unwrap();
        let entry = json["problems"][0].as_object().unwrap();
        let mut keys: Vec<&str> = entry.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "category",
                "count",
                "minutes",
                "name",
                "sampleMessageIds",
                "type"
            ]
        );
        assert_eq!(json["hour"], "2026112202");
    }

    #[test]
    fn a_week_of_days_merged_once_equals_the_week_of_their_hours() {
        let week = Span::week_of(DAY);
        let hours = [
            (DAY_START + 2, "10.0.0.1", 70),
            (DAY_START + 3, "10.0.0.2", 5),
            (DAY_START + 48, "10.0.0.1", 9),
        ];
        let mut by_hours = ProblemDay::over("shop", week);
        let mut by_days = ProblemDay::over("shop", week);
        let mut days: Vec<ProblemDay> = Vec::new();
        for &(hour, ip, n) in &hours {
            let report = hour_report(hour, ip, n);
            assert!(by_hours.add_hour(&report));
            if days.last().is_none_or(|d| d.span() != Span::Day(hour / 24)) {
                days.push(ProblemDay::new("shop", hour / 24));
            }
            assert!(days.last_mut().expect("a day").add_hour(&report));
        }
        for day in &days {
            assert!(by_days.add_day(day));
        }
        assert!(days[0].approx_bytes() > 0);
        let query = ViewQuery {
            elapsed_seconds: week.seconds(),
            ..ViewQuery::default()
        };
        let json = |d: &ProblemDay| serde_json::to_value(d.span_view(&query)).expect("serializes");
        assert_eq!(json(&by_days), json(&by_hours));
        assert_eq!(json(&by_days)["problems"][0]["count"], 84);
    }
}
