//! The day-by-day part of a week's or month's board (`week=`, `month=`): a bar per day of
//! what the rows count, and a table of the days with their figures, each day linking to
//! its own board (hour by hour). Transactions, events and problems share it; each passes
//! its rows as [`DayRow`]s.

use maud::{html, Markup};

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
/// bars count.
pub(crate) fn daily_section(board: &Board, counted: Counted, rows: &[DayRow<'_>]) -> Markup {
    // `11-21` under a bar, `2026-11-21` in its tooltip.
    let labels: Vec<(String, String)> = rows
        .iter()
        .map(|row| {
            let d = row.day;
            let short = d
                .get(4..)
                .map_or(d.to_owned(), |md| format!("{}-{}", &md[..2], &md[2..]));
            let long = match (d.get(0..4), d.get(4..6), d.get(6..8)) {
                (Some(y), Some(m), Some(day)) => format!("{y}-{m}-{day}"),
                _ => d.to_owned(),
            };
            (short, long)
        })
        .collect();
    let bars: Vec<Bar<'_>> = rows
        .iter()
        .zip(&labels)
        .map(|(row, (short, long))| Bar {
            label: short,
            tooltip: long,
            value: row.count as f64,
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
