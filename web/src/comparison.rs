//! The comparison of an hour with the same hour a day and a week earlier, CAT's "compare
//! with yesterday / last week" on its transaction and event graphs: with `compare=on`, the
//! per-minute count chart (and the transaction duration chart) of a type or a name on the
//! hour view also draws those earlier hours' minutes, when they have a report for the domain
//! with that machine, type and name ([`crate::chart::line_chart`]).
//!
//! Design constraints: off by default, on by a link beside the charts that keeps the rest
//! of the selection. Each earlier hour is one more report per page, and a sealed hour's
//! comes from the store whole, parsed, whatever the view asks for (about 7 ms an hour of a
//! domain on 8 machines with 400 names, web/BENCHMARKS.md; a domain on a thousand machines
//! writes some 100 MB of reports an hour). The collector keeps parsed sealed reports within
//! a byte budget (`web.sealed_report_cache_mib`), so a second look costs the view, not
//! the parse, but the first look at each earlier hour still pays for it, and a busy
//! domain's reports may not fit the budget at all: drawn on every page, it could triple
//! the cost of a busy domain's board for a chart most visits do not look at. An earlier
//! hour without data draws nothing; the page says so only when neither has any. Not on the
//! day view, whose charts are hour by hour.

use maud::{html, Markup};

use crate::board::Board;
use crate::selection::COMPARE_ON;

/// An hour a comparison draws: how long before the hour shown, and its legend label.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EarlierHour {
    /// Hours before the hour shown.
    pub(crate) hours_before: u64,
    /// Legend text: `yesterday`, `a week ago`.
    pub(crate) label: &'static str,
}

/// The hours compared, nearest first: the same hour a day and a week earlier. A week ago
/// is CAT's other comparison and tells a weekly pattern from a change.
pub(crate) const EARLIER_HOURS: [EarlierHour; 2] = [
    EarlierHour {
        hours_before: 24,
        label: "yesterday",
    },
    EarlierHour {
        hours_before: 7 * 24,
        label: "a week ago",
    },
];

/// The reports of [`EARLIER_HOURS`] before `board`'s hour, each `fetch(domain, hour)`;
/// `None` for an hour before the first (no hour index below 0) or without a report.
pub(crate) async fn earlier_reports<R, F>(
    board: &Board,
    fetch: impl Fn(String, u64) -> F,
) -> Vec<(EarlierHour, Option<R>)>
where
    F: std::future::Future<Output = Option<R>>,
{
    let mut reports = Vec::with_capacity(EARLIER_HOURS.len());
    for earlier in EARLIER_HOURS {
        let report = match board.hour.checked_sub(earlier.hours_before) {
            Some(hour) => fetch(board.domain.clone(), hour).await,
            None => None,
        };
        reports.push((earlier, report));
    }
    reports
}

/// The link that turns the comparison on or off, keeping the rest of the board's
/// selection, and, when it is on and `found` no earlier hour, a quiet word that there is
/// nothing to draw (the charts would look as if the link did nothing).
pub(crate) fn toggle(board: &Board, on: bool, found: usize) -> Markup {
    html! {
        p.hint.compare {
            @if on {
                a href=(board.url_without("compare")) { "Hide yesterday and a week ago" }
                @if found == 0 {
                    " · no data the same hour yesterday or a week ago"
                }
            } @else {
                a href=(board.url_keeping("compare", COMPARE_ON))
                    title="draw the same minutes of the same hour a day and a week earlier" {
                    "Compare with yesterday and a week ago"
                }
            }
        }
    }
}
