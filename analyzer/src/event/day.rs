//! [`EventDay`]: one domain's event reports of a UTC day merged into one, CAT's daily
//! Event report, and the [`EventDayView`] the JSON API returns of it. As for transactions
//! ([`crate::TransactionDay`]), each hour joins the day as one row per name
//! ([`EventReport::in_row`]), so the day's rows are its hours, not minutes. The day
//! keeps no dependency edges: the Dependency view is of one hour.

use serde::Serialize;

use super::report::{EventReport, EventTypeView};
use crate::day::{Day, SpanHead};
use crate::view_query::ViewQuery;

/// The event reports of one domain over one UTC day, merged hour by hour.
///
/// ```
/// use ocelot_analyzer::{EventDay, EventReport, ViewQuery};
///
/// let day = 498_703 / 24;
/// let mut merged = EventDay::new("shop", day);
/// assert!(merged.add_hour(&EventReport::new("shop", 498_703)));
/// assert!(!merged.add_hour(&EventReport::new("shop", 498_703 + 24)), "the next day");
/// let view = merged.view(&ViewQuery { elapsed_seconds: 86_400.0, ..ViewQuery::default() });
/// assert_eq!((view.day.as_str(), view.hours.len()), ("20261122", 1));
/// ```
pub type EventDay = Day<EventReport>;

impl EventDay {
    /// What `GET /api/event?day=` returns. `query.elapsed_seconds` is the seconds of
    /// the day that have run (86 400 for a past day), so `tps` is the day's average rate.
    /// The view of all machines merges each hour's machines before the hours, so its
    /// newest failures are the day's, not the last machine's.
    pub fn view(&self, query: &ViewQuery<'_>) -> EventDayView {
        let report = self.report();
        EventDayView {
            domain: report.domain().to_owned(),
            day: self.label(),
            hours: self.hour_labels(),
            ips: report.ips().map(str::to_owned).collect(),
            types: self
                .report_of(query.machine())
                .type_views(query, self.rows()),
            folded: report.folded(),
        }
    }

    /// What `GET /api/event?week=` or `?month=` returns: the span's figures with `days` rows
    /// (one per day with data) in place of `hours`. `query.elapsed_seconds` is the seconds
    /// of the span that have run; `tps` is the average rate over the days with data
    /// (`days`), today's up to now: a domain that began sending mid-week is not diluted by
    /// the days before.
    pub fn span_view(&self, query: &ViewQuery<'_>) -> EventSpanView {
        EventSpanView {
            head: self.span_head(),
            types: self
                .report_of(query.machine())
                .type_views(&self.rate_query(query), self.rows()),
            folded: self.report().folded(),
        }
    }
}

/// `GET /api/event?day=`: `{"domain","day","hours":[..],"ips":[..],"types":[..],"folded"}`,
/// the types and names as in an hour's view with `hours` rows in place of `minutes`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventDayView {
    /// The domain.
    pub domain: String,
    /// `YYYYMMDD` (UTC).
    pub day: String,
    /// The hours of the day merged (those with a report of the domain), `YYYYMMDDHH`.
    pub hours: Vec<String>,
    /// Every machine seen in the day.
    pub ips: Vec<String>,
    /// Per type, sorted by type; each type's and name's `hours` are its hourly series.
    pub types: Vec<EventTypeView>,
    /// Events of the day's hours (every machine's, whatever `ip` picks) counted under an
    /// `OTHERS` key because a cap was reached, each once ([`EventReport::folded`]).
    pub folded: u64,
}

/// `GET /api/event?week=` or `?month=`: `{"domain","period","label","from","to","days":[..],
/// "ips":[..],"types":[..],"folded"}`, the types as in a day's view with `days` rows in
/// place of `hours`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventSpanView {
    /// Domain, period, days and machines.
    #[serde(flatten)]
    pub head: SpanHead,
    /// As in a day's view, each one's rows its days.
    pub types: Vec<EventTypeView>,
    /// Events of the span's hours (every machine's, whatever `ip` picks) counted under an
    /// `OTHERS` key because a cap was reached, each once.
    pub folded: u64,
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use ocelot_protocol::{Leaf, Message};

    use super::*;
    use crate::config::AnalyzerConfig;
    use crate::event::EventAnalyzer;
    use crate::span::Span;
    use crate::test_support::{transaction, tree};

    const DAY: u64 = 498_703 / 24;
    const DAY_START: u64 = DAY * 24;

    /// `n` `Cache/get` events in `hour`, every other one failed when `failing`.
    fn hour_report(hour: u64, n: u64, failing: bool) -> EventReport {
        machine_hour_report(hour, "10.0.0.1", n, failing)
    }

    /// [`hour_report`] of machine `ip`.
    fn machine_hour_report(hour: u64, ip: &str, n: u64, failing: bool) -> EventReport {
        let mut analyzer = EventAnalyzer::new(hour, Arc::new(AnalyzerConfig::default()));
        for i in 0..n {
            let ts = hour * 3_600_000 + i * 1_000;
            let status = if failing && i % 2 == 0 { "ERROR" } else { "0" };
            let mut root = transaction("URL", "/a", ts, 1_000, "0");
            root.children
                .push(Message::Event(Leaf::new("Cache", "get", status, ts, "")));
            analyzer.process(&tree(
                "shop",
                ip,
                &format!("shop-0a000001-{hour}-{i}"),
                root,
            ));
        }
        analyzer.into_reports().remove("shop").expect("a report")
    }

    #[test]
    fn a_week_of_events_has_one_row_per_day() {
        let week = Span::week_of(DAY);
        let mut merged = EventDay::over("shop", week);
        assert!(merged.add_hour(&hour_report(DAY_START + 2, 10, true)));
        assert!(merged.add_hour(&hour_report(DAY_START + 30, 4, false)));
        assert!(!merged.add_hour(&hour_report(week.hours().end, 4, false)));
        let view = merged.span_view(&ViewQuery {
            elapsed_seconds: week.seconds(),
            ..ViewQuery::default()
        });
        assert_eq!(view.head.days, ["20261122", "20261123"]);
        let t = &view.types[0];
        let rows: Vec<(&str, u64, u64)> = (t.days.iter())
            .map(|d| (d.day.as_str(), d.count, d.fail))
            .collect();
        assert_eq!(rows, [("20261122", 10, 5), ("20261123", 4, 0)]);
        assert_eq!(t.names[0].days.len(), 2);
        assert!(t.hours.is_empty() && t.names[0].minutes.is_empty());
        assert_eq!((t.count, t.fail), (14, 5));
    }

    #[test]
    fn a_day_adds_up_its_hours_with_one_row_per_hour() {
        let mut day = EventDay::new("shop", DAY);
        day.add_hour(&hour_report(DAY_START + 2, 40, true));
        day.add_hour(&hour_report(DAY_START + 9, 10, false));
        assert!(!day.add_hour(&hour_report(DAY_START + 30, 10, false)));
        let view = day.view(&ViewQuery {
            elapsed_seconds: 86_400.0,
            ..ViewQuery::default()
        });
        assert_eq!(view.hours, ["2026112202", "2026112209"]);
        let t = &view.types[0];
        assert_eq!((t.type_.as_str(), t.count, t.fail), ("Cache", 50, 20));
        assert_eq!(t.tps, 50.0 / 86_400.0);
        let rows: Vec<(&str, u64, u64)> = t
            .hours
            .iter()
            .map(|h| (h.hour.as_str(), h.count, h.fail))
            .collect();
        assert_eq!(rows, [("2026112202", 40, 20), ("2026112209", 10, 0)]);
        let name = &t.names[0];
        assert!(name.minutes.is_empty());
        assert_eq!(name.hours, t.hours);
        assert_eq!(
            name.sample_message_id,
            format!("shop-0a000001-{}-1", DAY_START + 2)
        );
        assert_eq!(name.fail_message_ids.len(), 10);
    }

    #[test]
    fn the_newest_failures_of_all_machines_are_those_of_the_latest_hours() {
        let mut day = EventDay::new("shop", DAY);
        // The machine listed last fails early in the day, the first one late.
        day.add_hour(&machine_hour_report(DAY_START + 2, "10.0.0.2", 40, true));
        day.add_hour(&machine_hour_report(DAY_START + 20, "10.0.0.1", 40, true));
        let view = day.view(&ViewQuery {
            elapsed_seconds: 86_400.0,
            ..ViewQuery::default()
        });
        let name = &view.types[0].names[0];
        let hour_of = |id: &String| id.split('-').nth(2).unwrap().parse::<u64>().unwrap();
        let hours: Vec<u64> = name.fail_message_ids.iter().map(hour_of).collect();
        assert_eq!(hours, [DAY_START + 20; 10], "{:?}", name.fail_message_ids);
        assert_eq!((name.count, name.fail), (80, 40));
    }

    #[test]
    fn a_week_of_days_merged_once_equals_the_week_of_their_hours() {
        let week = Span::week_of(DAY);
        let hours = [
            (DAY_START + 2, "10.0.0.1", 10, true),
            (DAY_START + 7, "10.0.0.2", 6, true),
            (DAY_START + 30, "10.0.0.1", 4, false),
        ];
        let mut by_hours = EventDay::over("shop", week);
        let mut by_days = EventDay::over("shop", week);
        let mut days: Vec<EventDay> = Vec::new();
        for &(hour, ip, n, failing) in &hours {
            let report = machine_hour_report(hour, ip, n, failing);
            assert!(by_hours.add_hour(&report));
            if days.last().is_none_or(|d| d.span() != Span::Day(hour / 24)) {
                days.push(EventDay::new("shop", hour / 24));
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
        let json = |d: &EventDay| serde_json::to_value(d.span_view(&query)).expect("serializes");
        assert_eq!(json(&by_days), json(&by_hours));
        assert_eq!(json(&by_days)["types"][0]["count"], 20);
    }
}
