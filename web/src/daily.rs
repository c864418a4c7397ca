//! The day-by-day part of a week's or month's board (`week=`, `month=`): a bar per day of
//! what the rows count, and a table of the days with their figures, each day linking to
//! its own board (hour by hour). Transactions, events and problems share it; each passes
//! its rows as [`DayRow`]s.

use std::ops::Range;

use maud::{html, Markup};
use ocelot_analyzer::{day_label, HOURS_PER_DAY};

use crate::board::{Board, Count, Ms, Percent};
use crate::chart::{labelled_bar_chart, Bar, Counted};
use crate::hour::parse_day_label;

/// One day of a type, a name or a problem entry.
#[derive(Debug, Clone)]
pub(crate) struct DayRow<'a> {
    /// `YYYYMMDD`.
    pub(crate) day: &'a str,
    /// What the rows count.
    pub(crate) count: u64,
    /// Failures among them, where the report counts failures.
    pub(crate) fail: Option<u64>,
    /// Mean and 95th percentile duration (ms), for transactions.
    pub(crate) durations: Option<(f64, f64)>,
}

/// The chart and table of `rows` (ascending days with data). `counted` names what the
/// bars count. The chart has a bar for every day of the board's span up to today, so that
/// a day without data shows as one.
pub(crate) fn daily_section(board: &Board, counted: Counted, rows: &[DayRow<'_>]) -> Markup {
    let labels: Vec<(String, String)> = rows.iter().map(|row| day_labels(row.day)).collect();
    let data_days = rows.iter().filter_map(|row| parse_day_label(row.day));
    let days: Vec<u64> = chart_days(board, data_days).collect();
    let bar_labels: Vec<(String, String)> = days
        .iter()
        .map(|&day| day_labels(&day_label(day)))
        .collect();
    let bars: Vec<Bar<'_>> = days
        .iter()
        .zip(&bar_labels)
        .map(|(&day, (short, long))| Bar {
            label: short,
            tooltip: long,
            value: (rows.iter())
                .find(|row| parse_day_label(row.day) == Some(day))
                .map_or(0.0, |row| row.count as f64),
        })
        .collect();
    let fails = rows.iter().any(|row| row.fail.is_some());
    let durations = rows.iter().any(|row| row.durations.is_some());
    html! {
        div.charts.one {
            figure.chart-box { (labelled_bar_chart(&format!("{} per day", capitalized(counted.many)), counted, &bars)) }
        }
        div.table-wrap {
            table.report.days {
                thead { tr {
                    th { "Day" } th.num { "Count" }
                    @if fails { th.num { "Fail" } th.num { "Fail %" } }
                    @if durations { th.num { "Avg" } th.num { "P95" } }
                } }
                tbody {
                    @for (row, (_, long)) in rows.iter().zip(&labels) {
                        tr {
                            td.name {
                                @match parse_day_label(row.day) {
                                    Some(day) => a href=(board.day_url(day)) title="this day, hour by hour" { (long) },
                                    None => (long),
                                }
                            }
                            td.num { (Count(row.count)) }
                            @if fails {
                                @let fail = row.fail.unwrap_or(0);
                                td.num.fail[fail > 0] { (Count(fail)) }
                                td.num { (Percent(percent(fail, row.count))) }
                            }
                            @if durations {
                                @let (avg, p95) = row.durations.unwrap_or((0.0, 0.0));
                                td.num { (Ms(avg)) }
                                td.num.p95 { (Ms(p95)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The days a week's or month's chart has a bar for: from its first day through today, or
/// through the last day with data (`data_days`) when that is later (the collector takes the
/// next day's first trees from 23:57), never past the span's end; at least its first day.
pub(crate) fn chart_days(board: &Board, data_days: impl Iterator<Item = u64>) -> Range<u64> {
    let Some(span) = board.span else {
        return 0..0;
    };
    let first = span.first_day();
    let end = first.saturating_add(span.day_count());
    let today = board.current_hour / HOURS_PER_DAY;
    let last = data_days.fold(today, u64::max);
    first..last.saturating_add(1).min(end).max(first.saturating_add(1))
}

/// `11-21` under a bar and `2026-11-21` in its tooltip and the table, of `YYYYMMDD`.
fn day_labels(day: &str) -> (String, String) {
    match (day.get(0..4), day.get(4..6), day.get(6..8)) {
        (Some(y), Some(m), Some(d)) => (format!("{m}-{d}"), format!("{y}-{m}-{d}")),
        _ => (day.to_owned(), day.to_owned()),
    }
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        100.0 * part as f64 / whole as f64
    }
}

fn capitalized(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
