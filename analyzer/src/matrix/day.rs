//! [`MatrixDay`]: one domain's Matrix reports of a UTC day, week or month merged into one,
//! CAT's daily, weekly and monthly Matrix report, and the views the JSON API returns of it.
//!
//! The report keeps no rows by minute and no machines, so a span is its hours added up:
//! requests and calls counted, the fewest and the most calls one request made over every
//! hour, and the sample IDs the first hour added kept (add the hours in order).

use serde::Serialize;

use super::report::{MatrixNameView, MatrixReport};
use crate::day::{Day, SpanHead};
use crate::view_query::ViewQuery;

/// The Matrix reports of one domain over a day, week or month, merged hour by hour.
///
/// ```
/// use ocelot_analyzer::{MatrixDay, MatrixReport, Span, ViewQuery};
///
/// let day = 498_703 / 24;
/// let mut merged = MatrixDay::over("shop", Span::Day(day));
/// assert!(merged.add_hour(&MatrixReport::new("shop", 498_703)));
/// assert!(!merged.add_hour(&MatrixReport::new("shop", 498_703 + 24)), "the next day");
/// let view = merged.view(&ViewQuery::default());
/// assert_eq!((view.day.as_str(), view.hours.len()), ("20261122", 1));
/// ```
pub type MatrixDay = Day<MatrixReport>;

impl MatrixDay {
    /// What `GET /api/matrix?day=` returns (`query.type_` selects a root type).
    pub fn view(&self, query: &ViewQuery<'_>) -> MatrixDayView {
        let report = self.report();
        MatrixDayView {
            domain: report.domain().to_owned(),
            day: self.label(),
            hours: self.hour_labels(),
            names: report.name_views(query),
            folded: report.folded(),
        }
    }

    /// What `GET /api/matrix?week=` or `?month=` returns: the span's figures, with the
    /// days that have data in place of hours.
    pub fn span_view(&self, query: &ViewQuery<'_>) -> MatrixSpanView {
        let report = self.report();
        MatrixSpanView {
            head: self.span_head(),
            names: report.name_views(query),
            folded: report.folded(),
        }
    }
}

/// `GET /api/matrix?day=`: `{"domain","day","hours":[..],"names":[..],"folded"}`, the names
/// as in an hour's view.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MatrixDayView {
    /// The domain.
    pub domain: String,
    /// `YYYYMMDD` (UTC).
    pub day: String,
    /// The hours of the day merged (those with a report of the domain), `YYYYMMDDHH`.
    pub hours: Vec<String>,
    /// Every entry transaction over the day, by type then name.
    pub names: Vec<MatrixNameView>,
    /// Requests of the day's hours counted under an `OTHERS` domain, type or name because
    /// a cap was reached.
    pub folded: u64,
}

/// `GET /api/matrix?week=` or `?month=`: `{"domain","period","label","from","to","days":[..],
/// "ips":[],"names":[..],"folded"}` (`ips` is empty: the report is the whole domain's).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MatrixSpanView {
    /// Domain, period and days.
    #[serde(flatten)]
    pub head: SpanHead,
    /// Every entry transaction over the span, by type then name.
    pub names: Vec<MatrixNameView>,
    /// Requests of the span's hours counted under an `OTHERS` domain, type or name because
    /// a cap was reached.
    pub folded: u64,
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use ocelot_protocol::Message;

    use super::*;
    use crate::config::AnalyzerConfig;
    use crate::matrix::MatrixAnalyzer;
    use crate::span::Span;
    use crate::test_support::{transaction, tree};

    /// 2026-11-22.
    const DAY: u64 = 498_703 / 24;
    const DAY_START: u64 = DAY * 24;

    /// `URL /pay` requests of `hour`, each making `sql[i]` SQL calls of 2 ms, 10 ms long,
    /// message IDs `shop-0a000001-{hour}-{i}`.
    fn hour_report(hour: u64, sql: &[usize]) -> MatrixReport {
        let mut analyzer = MatrixAnalyzer::new(hour, Arc::new(AnalyzerConfig::default()));
        for (i, &calls) in sql.iter().enumerate() {
            let ts = hour * 3_600_000 + i as u64 * 1_000;
            let mut root = transaction("URL", "/pay", ts, 10_000, "0");
            for _ in 0..calls {
                let sql = transaction("SQL", "select", ts, 2_000, "0");
                root.children.push(Message::Transaction(sql));
            }
            let id = format!("shop-0a000001-{hour}-{i}");
            analyzer.process(&tree("shop", "10.0.0.1", &id, root));
        }
        analyzer.into_reports().remove("shop").expect("a report")
    }

    #[test]
    fn a_day_adds_its_hours_requests_and_keeps_the_fewest_and_most_calls_of_any_hour() {
        let mut merged = MatrixDay::over("shop", Span::Day(DAY));
        assert!(merged.add_hour(&hour_report(DAY_START + 3, &[2, 5])));
        assert!(merged.add_hour(&hour_report(DAY_START + 9, &[1, 3, 3])));
        let view = merged.view(&ViewQuery::default());
        assert_eq!(view.day, "20261122");
        assert_eq!(view.hours, ["2026112203", "2026112209"]);
        let [pay] = &view.names[..] else {
            panic!("one name: {:?}", view.names);
        };
        assert_eq!(
            (pay.type_.as_str(), pay.name.as_str(), pay.count),
            ("URL", "/pay", 5)
        );
        assert_eq!(pay.sample, format!("shop-0a000001-{}-0", DAY_START + 3));
        let sql = &pay.calls[1];
        assert_eq!(sql.kind, "SQL");
        assert_eq!(
            (sql.count, sql.min_per_request, sql.max_per_request),
            (14, 1, 5)
        );
        assert_eq!(sql.max_sample, format!("shop-0a000001-{}-1", DAY_START + 3));
        assert!((sql.per_request - 14.0 / 5.0).abs() < 1e-9);
        assert!((sql.sum - 28.0).abs() < 1e-9, "{}", sql.sum);
    }

    #[test]
    fn a_week_is_its_days_whether_added_as_hours_or_as_kept_days() {
        let week = Span::week_of(DAY);
        let mut by_hours = MatrixDay::over("shop", week);
        let mut by_days = MatrixDay::over("shop", week);
        for day in [week.first_day(), week.first_day() + 2] {
            let mut whole = MatrixDay::over("shop", Span::Day(day));
            for hour in [day * 24 + 1, day * 24 + 20] {
                let report = hour_report(hour, &[1, 4]);
                assert!(by_hours.add_hour(&report));
                assert!(whole.add_hour(&report));
            }
            assert!(by_days.add_day(&whole));
            assert!(!whole.add_day(&whole.clone()), "a day holds no days");
        }
        let (hours, days) = (
            by_hours.span_view(&ViewQuery::default()),
            by_days.span_view(&ViewQuery::default()),
        );
        assert_eq!(hours, days);
        assert_eq!(hours.head.period, "week");
        assert_eq!(hours.head.days.len(), 2);
        assert!(hours.head.ips.is_empty());
        assert_eq!(hours.names[0].count, 8);
        assert_eq!(hours.names[0].calls[1].count, 20);
        let json = serde_json::to_value(&hours).expect("serialises");
        assert_eq!(json["label"], week.label());
        assert_eq!(json["names"][0]["calls"][1]["maxPerRequest"], 4);
    }

    #[test]
    fn an_hour_of_another_day_is_left_out() {
        let mut merged = MatrixDay::over("shop", Span::Day(DAY));
        assert!(!merged.add_hour(&hour_report(DAY_START + 24, &[1])));
        assert!(merged.hours().is_empty());
        assert!(merged.view(&ViewQuery::default()).names.is_empty());
    }
}
