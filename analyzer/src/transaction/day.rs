//! [`TransactionDay`]: one domain's transaction reports of a UTC day merged into one, CAT's
//! daily report (cat-design 6.1, "Hourly -> daily"), and the [`TransactionDayView`] the JSON
//! API returns of it.
//!
//! Unlike CAT, which averages the hours' percentiles, a day's percentiles are those of the
//! union of its durations: the hours' histograms add up. Each hour is folded into one row
//! per name before it joins the day ([`TransactionReport::in_row`]): minute rows of
//! different hours would add up by minute of the hour, so a day has no per-minute figures;
//! its rows are its hours, the day's hourly series.

use serde::Serialize;

use super::report::{TransactionReport, TransactionTypeView};
use crate::day::{Day, SpanHead};
use crate::view_query::ViewQuery;

/// The transaction reports of one domain over one UTC day, merged hour by hour.
///
/// ```
/// use ocelot_analyzer::{TransactionDay, TransactionReport, ViewQuery};
///
/// let day = 498_703 / 24;
/// let mut merged = TransactionDay::new("shop", day);
/// assert!(merged.add_hour(&TransactionReport::new("shop", 498_703)));
/// assert!(!merged.add_hour(&TransactionReport::new("shop", 498_703 + 24)), "the next day");
/// let view = merged.view(&ViewQuery { elapsed_seconds: 86_400.0, ..ViewQuery::default() });
/// assert_eq!((view.day.as_str(), view.hours.len()), ("20261122", 1));
/// ```
pub type TransactionDay = Day<TransactionReport>;

impl TransactionDay {
    /// What `GET /api/transaction?day=` returns. `query.elapsed_seconds` is the seconds of
    /// the day that have run (86 400 for a past day), so `tps` is the day's average rate.
    /// The view of all machines merges each hour's machines before the hours, so its
    /// newest failures are the day's, not the last machine's.
    pub fn view(&self, query: &ViewQuery<'_>) -> TransactionDayView {
        let report = self.report();
        TransactionDayView {
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

    /// What `GET /api/transaction?week=` or `?month=` returns: the span's figures with `days` rows
    /// (one per day with data) in place of `hours`. `query.elapsed_seconds` is the seconds
    /// of the span that have run; `tps` is the average rate over the days with data
    /// (`days`), today's up to now: a domain that began sending mid-week is not diluted by
    /// the days before.
    pub fn span_view(&self, query: &ViewQuery<'_>) -> TransactionSpanView {
        TransactionSpanView {
            head: self.span_head(),
            types: self
                .report_of(query.machine())
                .type_views(&self.rate_query(query), self.rows()),
            folded: self.report().folded(),
        }
    }
}

/// `GET /api/transaction?day=`: `{"domain","day","hours":[..],"ips":[..],"types":[..],
/// "folded"}`,
/// the types and names as in an hour's view with `hours` rows in place of `minutes`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TransactionDayView {
    /// The domain.
    pub domain: String,
    /// `YYYYMMDD` (UTC).
    pub day: String,
    /// The hours of the day merged (those with a report of the domain), `YYYYMMDDHH`.
    pub hours: Vec<String>,
    /// Every machine seen in the day.
    pub ips: Vec<String>,
    /// Per type, sorted by type; each type's and name's `hours` are its hourly series.
    pub types: Vec<TransactionTypeView>,
    /// Transactions of the day's hours (every machine's, whatever `ip` picks) counted under an
    /// `OTHERS` key because a cap was reached, each once ([`TransactionReport::folded`]).
    pub folded: u64,
}

/// `GET /api/transaction?week=` or `?month=`: `{"domain","period","label","from","to","days":[..],
/// "ips":[..],"types":[..],"folded"}`, the types as in a day's view with `days` rows in
/// place of `hours`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TransactionSpanView {
    /// Domain, period, days and machines.
    #[serde(flatten)]
    pub head: SpanHead,
    /// As in a day's view, each one's rows its days.
    pub types: Vec<TransactionTypeView>,
    /// Transactions of the span's hours (every machine's, whatever `ip` picks) counted under an
    /// `OTHERS` key because a cap was reached, each once.
    pub folded: u64,
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::config::AnalyzerConfig;
    use crate::span::Span;
    use crate::test_support::{transaction, tree};
    use crate::transaction::TransactionAnalyzer;

    /// 2026-11-22, whose hour 7 is the captured frames' hour.
    const DAY: u64 = 498_703 / 24;
    const DAY_START: u64 = DAY * 24;

    /// One `URL /pay` transaction per duration, in minute `i % 60` of `hour`, from machine
    /// `ip`; every tenth of them failed when `fail_tenth`.
    fn hour_report(
        hour: u64,
        ip: &str,
        durations_us: &[u64],
        fail_tenth: bool,
    ) -> TransactionReport {
        let mut analyzer = TransactionAnalyzer::new(hour, Arc::new(AnalyzerConfig::default()));
        for (i, &duration_us) in durations_us.iter().enumerate() {
            let ts = hour * 3_600_000 + (i as u64 % 60) * 60_000 + 5;
            let status = if fail_tenth && i % 10 == 0 {
                "ERROR"
            } else {
                "0"
            };
            let root = transaction("URL", "/pay", ts, duration_us, status);
            let id = format!("shop-0a000001-{hour}-{i}");
            analyzer.process(&tree("shop", ip, &id, root));
        }
        analyzer.into_reports().remove("shop").expect("a report")
    }

    fn whole_day() -> ViewQuery<'static> {
        ViewQuery {
            elapsed_seconds: 86_400.0,
            ..ViewQuery::default()
        }
    }

    /// Three hours of very different durations: 1 ms, 10 ms and (a few) 1 s.
    fn durations() -> [(u64, Vec<u64>); 3] {
        [
            (DAY_START + 1, vec![1_000; 500]),
            (DAY_START + 5, vec![10_000; 300]),
            (DAY_START + 13, vec![1_000_000; 60]),
        ]
    }

    #[test]
    fn a_day_has_the_percentiles_of_the_union_of_its_hours_not_their_average() {
        let mut day = TransactionDay::new("shop", DAY);
        let mut union = Vec::new();
        let mut hourly_p95 = Vec::new();
        for (hour, values) in durations() {
            let report = hour_report(hour, "10.0.0.1", &values, true);
            hourly_p95.push(report.view(&whole_day()).types[0].figures.p95);
            assert!(day.add_hour(&report));
            union.extend(values);
        }
        // One report of every tree (put in one hour: an analyzer takes one hour's trees).
        let one = hour_report(DAY_START + 1, "10.0.0.1", &union, true);
        let one = one.view(&whole_day()).types[0].figures.clone();
        let view = day.view(&whole_day());
        let got = &view.types[0].figures;
        assert_eq!(got.count, 860);
        assert_eq!(got.fail, 50 + 30 + 6);
        assert_eq!(got, &one, "every figure is the one report's");
        assert_eq!(view.types[0].names[0].figures, one);
        // The union's P95 is in the 1 s hour's durations (60 of 860 are above 93 %); the
        // hours' P95s averaged (count-weighted, as CAT does) would say about 70 ms.
        assert!((got.p95 - 1000.0).abs() < 10.0, "{}", got.p95);
        let weighted: f64 = hourly_p95
            .iter()
            .zip([500.0, 300.0, 60.0])
            .map(|(p95, n)| p95 * n)
            .sum::<f64>()
            / 860.0;
        assert!(weighted < 100.0, "{weighted}");
        assert_eq!(got.tps, 860.0 / 86_400.0);
    }

    #[test]
    fn a_week_folds_its_hours_into_one_row_per_day_and_keeps_the_union_s_percentiles() {
        // 2026-11-21 (Saturday) to 2026-11-27: hours on the Saturday, the Sunday (DAY)
        // and the Friday; the next Saturday's hour is another week's.
        let week = Span::week_of(DAY);
        let mut merged = TransactionDay::over("shop", week);
        let saturday = DAY_START - 24;
        let friday = DAY_START + 5 * 24;
        let hours = [
            (saturday + 3, vec![1_000; 500]),
            (DAY_START + 1, vec![10_000; 200]),
            (DAY_START + 20, vec![10_000; 100]),
            (friday + 23, vec![1_000_000; 60]),
        ];
        let mut union = Vec::new();
        for (hour, values) in &hours {
            assert!(merged.add_hour(&hour_report(*hour, "10.0.0.1", values, true)));
            union.extend(values.iter().copied());
        }
        assert!(!merged.add_hour(&hour_report(friday + 24, "10.0.0.1", &[5], false)));
        assert_eq!(merged.hours().len(), 4);
        let query = ViewQuery {
            elapsed_seconds: week.seconds(),
            ..ViewQuery::default()
        };
        let view = merged.span_view(&query);
        assert_eq!(
            (view.head.period, view.head.label.as_str()),
            ("week", "20261121")
        );
        assert_eq!(
            (view.head.from.as_str(), view.head.to.as_str()),
            ("20261121", "20261127")
        );
        assert_eq!(view.head.days, ["20261121", "20261122", "20261127"]);
        let t = &view.types[0];
        assert!(t.hours.is_empty() && t.names[0].hours.is_empty() && t.names[0].minutes.is_empty());
        let rows: Vec<(&str, u64, u64)> = (t.days.iter())
            .map(|d| (d.day.as_str(), d.count, d.fail))
            .collect();
        assert_eq!(
            rows,
            [
                ("20261121", 500, 50),
                ("20261122", 300, 30),
                ("20261127", 60, 6)
            ]
        );
        assert_eq!(t.names[0].days, t.days, "one name: its rows are the type's");
        let sunday_p95 = t.days[1].p95;
        assert!((sunday_p95 - 10.0).abs() / 10.0 < 0.01, "{sunday_p95}");
        // The week's figures are those of one report of every tree.
        // Its rate is over the three days with data.
        let three_days = ViewQuery {
            elapsed_seconds: 3.0 * 86_400.0,
            ..query
        };
        let one = hour_report(DAY_START, "10.0.0.1", &union, true);
        let one = one.view(&three_days).types[0].figures.clone();
        assert_eq!(t.figures, one);
        assert!((t.figures.p95 - 1000.0).abs() < 10.0, "{}", t.figures.p95);
        assert_eq!(t.figures.tps, 860.0 / (3.0 * 86_400.0));
        let json = serde_json::to_value(&view).expect("serializes");
        assert_eq!(json["types"][0]["days"][0]["day"], "20261121");
        assert!(json["types"][0].get("hours").is_none());
    }

    /// A service deployed on the Wednesday of a week had its week's rate divided by every
    /// second since Saturday. It is over the days with data: each past one whole, today up
    /// to now, a day not begun (its first trees taken from 23:57) by its first minute.
    #[test]
    fn a_weeks_rate_is_over_its_days_with_data_today_up_to_now() {
        // 2026-11-21 (Saturday) to 2026-11-27; DAY is the Sunday.
        let week = Span::week_of(DAY);
        let (wednesday, thursday, friday) =
            (DAY_START + 3 * 24, DAY_START + 4 * 24, DAY_START + 5 * 24);
        let tps = |hours: &[(u64, usize)], elapsed_seconds: f64| {
            let mut merged = TransactionDay::over("shop", week);
            for &(hour, n) in hours {
                assert!(merged.add_hour(&hour_report(hour, "10.0.0.1", &vec![1_000; n], false)));
            }
            let query = ViewQuery {
                elapsed_seconds,
                ..ViewQuery::default()
            };
            merged.span_view(&query).types[0].figures.tps
        };
        let since_saturday = |days: u64, seconds: u64| (days * 86_400 + seconds) as f64;
        // Friday 06:00: Wednesday and Thursday whole, Friday's six hours.
        let running = [(wednesday + 10, 100), (thursday + 5, 100), (friday + 2, 50)];
        assert_eq!(
            tps(&running, since_saturday(6, 6 * 3600)),
            250.0 / (2.0 * 86_400.0 + 6.0 * 3600.0)
        );
        // Thursday 23:58, with Friday's first trees in: its first minute counts.
        let early = [(wednesday + 10, 100), (thursday + 5, 100), (friday, 10)];
        assert_eq!(
            tps(&early, since_saturday(5, 86_280)),
            210.0 / (86_400.0 + 86_280.0 + 60.0)
        );
        // Once the week is over: the three days.
        assert_eq!(tps(&running, week.seconds()), 250.0 / (3.0 * 86_400.0));
        // A day's rate is over the seconds of the day run, as before: a day has its hours.
        let mut day = TransactionDay::new("shop", DAY);
        assert!(day.add_hour(&hour_report(DAY_START + 5, "10.0.0.1", &[1_000; 60], false)));
        let query = ViewQuery {
            elapsed_seconds: 7.0 * 3600.0,
            ..ViewQuery::default()
        };
        assert_eq!(day.view(&query).types[0].figures.tps, 60.0 / (7.0 * 3600.0));
    }

    #[test]
    fn a_span_at_the_end_of_time_views_without_overflow() {
        for span in [
            Span::Week(u64::MAX - 2),
            Span::Month(u64::MAX),
            Span::Day(u64::MAX),
        ] {
            let mut merged = TransactionDay::over("shop", span);
            assert!(!merged.add_hour(&hour_report(DAY_START, "10.0.0.1", &[5], false)));
            let view = merged.span_view(&whole_day());
            assert!(
                view.types.is_empty() && view.head.days.is_empty(),
                "{span:?}"
            );
            assert!(span.row_of(u64::MAX).is_none() || span.hours().contains(&u64::MAX));
        }
    }

    #[test]
    fn a_month_has_a_row_for_each_day_of_the_month_it_holds() {
        let month = Span::month_of(DAY);
        let mut merged = TransactionDay::over("shop", month);
        let first = month.first_day() * 24;
        let last = month.hours().end - 1;
        assert!(merged.add_hour(&hour_report(first, "10.0.0.1", &[1_000; 3], false)));
        assert!(merged.add_hour(&hour_report(last, "10.0.0.2", &[2_000; 4], false)));
        assert!(!merged.add_hour(&hour_report(last + 1, "10.0.0.1", &[1], false)));
        assert!(!merged.add_hour(&hour_report(first - 1, "10.0.0.1", &[1], false)));
        let view = merged.span_view(&whole_day());
        assert_eq!(
            (view.head.period, view.head.label.as_str()),
            ("month", "202611")
        );
        assert_eq!(
            (view.head.from.as_str(), view.head.to.as_str()),
            ("20261101", "20261130")
        );
        assert_eq!(view.head.ips, ["10.0.0.1", "10.0.0.2"]);
        let days: Vec<(&str, u64)> = (view.types[0].days.iter())
            .map(|d| (d.day.as_str(), d.count))
            .collect();
        assert_eq!(days, [("20261101", 3), ("20261130", 4)]);
        let one_machine = merged.span_view(&ViewQuery {
            ip: Some("10.0.0.2"),
            ..whole_day()
        });
        assert_eq!(one_machine.types[0].figures.count, 4);
    }

    #[test]
    fn a_day_lists_one_row_per_hour_with_data_and_no_minutes() {
        let mut day = TransactionDay::new("shop", DAY);
        for (hour, values) in durations() {
            day.add_hour(&hour_report(hour, "10.0.0.1", &values, false));
        }
        let view = day.view(&whole_day());
        assert_eq!(view.day, "20261122");
        assert_eq!(view.hours, ["2026112201", "2026112205", "2026112213"]);
        let t = &view.types[0];
        let rows: Vec<(&str, u64)> = t.hours.iter().map(|h| (h.hour.as_str(), h.count)).collect();
        assert_eq!(
            rows,
            [("2026112201", 500), ("2026112205", 300), ("2026112213", 60)]
        );
        let p95: Vec<f64> = t.hours.iter().map(|h| h.p95).collect();
        for (got, want) in p95.iter().zip([1.0, 10.0, 1000.0]) {
            assert!((got - want).abs() / want < 0.01, "{p95:?}");
        }
        assert_eq!(t.hours[1].avg, 10.0);
        let name = &t.names[0];
        assert!(
            name.minutes.is_empty(),
            "minutes of different hours do not add up"
        );
        assert_eq!(
            name.hours, t.hours,
            "one name: the type's rows are its rows"
        );
        let json = serde_json::to_value(&view).unwrap();
        assert_eq!(json["types"][0]["hours"][2]["hour"], "2026112213");
        assert_eq!(json["types"][0]["names"][0]["hours"][0]["count"], 500);
    }

    #[test]
    fn a_type_row_of_an_hour_has_the_p95_of_all_its_names() {
        let hour = DAY_START + 3;
        let mut analyzer = TransactionAnalyzer::new(hour, Arc::new(AnalyzerConfig::default()));
        for i in 0..100u64 {
            // 90 fast `/a`, 10 slow `/b`: neither name's P95 is the type's.
            let (name, duration_us) = if i < 90 {
                ("/a", 2_000)
            } else {
                ("/b", 400_000)
            };
            let root = transaction("URL", name, hour * 3_600_000 + i, duration_us, "0");
            analyzer.process(&tree(
                "shop",
                "10.0.0.1",
                &format!("shop-0a000001-{hour}-{i}"),
                root,
            ));
        }
        let mut day = TransactionDay::new("shop", DAY);
        day.add_hour(&analyzer.into_reports()["shop"]);
        let t = &day.view(&whole_day()).types[0];
        assert_eq!(t.hours.len(), 1);
        assert!((t.hours[0].p95 - 400.0).abs() < 4.0, "{:?}", t.hours);
        assert!((t.hours[0].avg - (90.0 * 2.0 + 10.0 * 400.0) / 100.0).abs() < 1e-9);
    }

    #[test]
    fn machines_of_every_hour_are_listed_and_one_can_be_viewed_alone() {
        let mut day = TransactionDay::new("shop", DAY);
        day.add_hour(&hour_report(DAY_START, "10.0.0.1", &[1_000; 10], false));
        day.add_hour(&hour_report(DAY_START + 23, "10.0.0.2", &[2_000; 4], false));
        assert_eq!(day.ips().collect::<Vec<_>>(), ["10.0.0.1", "10.0.0.2"]);
        let one = day.view(&ViewQuery {
            ip: Some("10.0.0.2"),
            ..whole_day()
        });
        assert_eq!(one.types[0].figures.count, 4);
        assert_eq!(one.types[0].hours[0].hour, "2026112223");
        assert_eq!(day.view(&whole_day()).types[0].figures.count, 14);
    }

    #[test]
    fn the_newest_failures_of_all_machines_are_those_of_the_latest_hours() {
        let mut day = TransactionDay::new("shop", DAY);
        // The machine listed last fails early in the day, the first one late.
        day.add_hour(&hour_report(DAY_START + 2, "10.0.0.2", &[1_000; 100], true));
        day.add_hour(&hour_report(
            DAY_START + 20,
            "10.0.0.1",
            &[3_000; 100],
            true,
        ));
        let hour_of = |id: &String| id.split('-').nth(2).unwrap().parse::<u64>().unwrap();
        let name = &day.view(&whole_day()).types[0].names[0];
        let hours: Vec<u64> = name.fail_message_ids.iter().map(hour_of).collect();
        assert_eq!(hours, [DAY_START + 20; 10], "{:?}", name.fail_message_ids);
        assert_eq!(hour_of(&name.slowest_message_id), DAY_START + 20);
        // One machine's view still has its own.
        let one = day.view(&ViewQuery {
            ip: Some("10.0.0.2"),
            ..whole_day()
        });
        let hours: Vec<u64> = one.types[0].names[0]
            .fail_message_ids
            .iter()
            .map(hour_of)
            .collect();
        assert_eq!(hours, [DAY_START + 2; 10]);
    }

    #[test]
    fn a_days_distribution_adds_up_its_hours_and_machines() {
        let mut day = TransactionDay::new("shop", DAY);
        day.add_hour(&hour_report(
            DAY_START + 1,
            "10.0.0.1",
            &[500, 3_000],
            false,
        ));
        day.add_hour(&hour_report(DAY_START + 1, "10.0.0.2", &[3_000], false));
        day.add_hour(&hour_report(
            DAY_START + 9,
            "10.0.0.1",
            &[100_000, 70_000_000],
            false,
        ));
        let query = |ip| ViewQuery {
            ip,
            type_: Some("URL"),
            keep_name: Some("/pay"),
            ..whole_day()
        };
        let counts = |ip| -> Vec<(Option<u64>, u64)> {
            let view = day.view(&query(ip));
            let name = &view.types[0].names[0];
            assert_eq!(name.distribution.len(), 18);
            name.distribution
                .iter()
                .filter(|b| b.count > 0)
                .map(|b| (b.up_to_ms, b.count))
                .collect()
        };
        assert_eq!(
            counts(None),
            [(Some(1), 1), (Some(4), 2), (Some(128), 1), (None, 1)]
        );
        assert_eq!(counts(Some("10.0.0.2")), [(Some(4), 1)]);
        assert!(day.view(&whole_day()).types[0].names[0]
            .distribution
            .is_empty());
    }

    #[test]
    fn reports_of_other_days_are_left_out() {
        let mut day = TransactionDay::new("shop", DAY);
        assert!(!day.add_hour(&hour_report(DAY_START - 1, "10.0.0.1", &[1_000], false)));
        assert!(!day.add_hour(&hour_report(DAY_START + 24, "10.0.0.1", &[1_000], false)));
        assert!(day.hours().is_empty());
        assert!(day.view(&whole_day()).types.is_empty());
    }

    #[test]
    fn sample_slowest_and_failed_ids_come_from_the_whole_day() {
        let mut day = TransactionDay::new("shop", DAY);
        for (hour, values) in durations() {
            day.add_hour(&hour_report(hour, "10.0.0.1", &values, true));
        }
        let view = day.view(&whole_day());
        let name = &view.types[0].names[0];
        assert_eq!(
            name.sample_message_id,
            format!("shop-0a000001-{}-1", DAY_START + 1)
        );
        assert!(name
            .slowest_message_id
            .starts_with(&format!("shop-0a000001-{}-", DAY_START + 13)));
        assert_eq!(name.fail_message_ids.len(), 10);
        // The newest ten: hour 13's six failures after the last four of hour 5.
        let hour_of = |id: &String| id.split('-').nth(2).unwrap().parse::<u64>().unwrap();
        let hours: Vec<u64> = name.fail_message_ids.iter().map(hour_of).collect();
        assert_eq!(hours[..4], [DAY_START + 5; 4]);
        assert_eq!(hours[4..], [DAY_START + 13; 6]);
    }

    #[test]
    fn a_week_of_days_merged_once_equals_the_week_of_their_hours() {
        let week = Span::week_of(DAY);
        let saturday = DAY_START - 24;
        // Two machines, hours on three days, failures spread so that the newest
        // failures and the samples depend on the order of the hours.
        let hours = [
            (saturday + 3, "10.0.0.2", vec![1_000; 50]),
            (saturday + 9, "10.0.0.1", vec![3_000; 20]),
            (DAY_START + 1, "10.0.0.1", vec![10_000; 30]),
            (DAY_START + 20, "10.0.0.2", vec![20_000; 40]),
            (DAY_START + 5 * 24 + 23, "10.0.0.1", vec![1_000_000; 12]),
        ];
        let mut by_hours = TransactionDay::over("shop", week);
        let mut by_days = TransactionDay::over("shop", week);
        let mut days: Vec<TransactionDay> = Vec::new();
        for (hour, ip, values) in &hours {
            let report = hour_report(*hour, ip, values, true);
            assert!(by_hours.add_hour(&report));
            let day = hour / 24;
            if days.last().is_none_or(|d| d.span() != Span::Day(day)) {
                days.push(TransactionDay::new("shop", day));
            }
            assert!(days.last_mut().expect("a day").add_hour(&report));
        }
        for day in &days {
            assert!(by_days.add_day(day));
            assert!(day.approx_bytes() > 0);
        }
        // A day of another week, a week, and a day into a day are left out.
        assert!(!by_days.add_day(&TransactionDay::new("shop", DAY + 7)));
        assert!(!by_days.add_day(&TransactionDay::over("shop", week)));
        assert!(!days[0].clone().add_day(&days[0]));
        assert_eq!(by_days.hours(), by_hours.hours());
        let query = ViewQuery {
            elapsed_seconds: week.seconds(),
            ..ViewQuery::default()
        };
        let json = |d: &TransactionDay, q: &ViewQuery<'_>| {
            serde_json::to_value(d.span_view(q)).expect("serializes")
        };
        assert_eq!(json(&by_days, &query), json(&by_hours, &query));
        let one = ViewQuery {
            ip: Some("10.0.0.1"),
            ..query
        };
        assert_eq!(json(&by_days, &one), json(&by_hours, &one));
        assert_eq!(json(&by_days, &query)["types"][0]["count"], 152);
    }
}
