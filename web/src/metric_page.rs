//! The metric page, `GET /metric?domain=&hour=`: CAT's business metrics of a domain
//! (`M` records), each with its totals and a per-minute chart of what its kind measures:
//! counts for `C`, the mean for `T` (durations), sums for `S` and `S,C`. A note says how
//! many records were counted under `OTHERS` when the domain had more names than the cap,
//! and another how many could not be read (the API's `malformed`): without it, a domain
//! whose records all had a kind we do not read looked like one that logged none.
//!
//! Metrics are the whole domain's (CAT's Business report keeps no machine): a machine
//! (`ip=`) is a 400, as on `/api/metric`, rather than whole-domain figures under its name.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use maud::{html, Markup};
use ocelot_analyzer::{MetricItemView, MetricMinuteView, ViewQuery, OTHERS};

use crate::board::{format_amount, format_count, per_minute, Board, MINUTES};
use crate::chart::grid_bar_chart;
use crate::cpu::heavy;
use crate::error::{PageError, PageQuery};
use crate::folded_note::{folded_note, FoldedReport, OthersRow};
use crate::layout::page;
use crate::links::anchor_id;
use crate::selection::ReportParams;
use crate::state::AppState;

const PATH: &str = "/metric";
const HEADING: &str = "Metrics";

/// The routes of this module.
pub(crate) fn routes() -> Router<AppState> {
    Router::new().route(PATH, get(metric_page))
}

async fn metric_page(
    State(state): State<AppState>,
    PageQuery(params): PageQuery<ReportParams>,
) -> Result<(StatusCode, Markup), PageError> {
    params.whole_domain()?;
    let mut board = Board::resolve(&state, &params, PATH).await?;
    if !board.has_domain() {
        let (status, body) = board.empty(HEADING);
        return Ok((status, page(&board.title(HEADING), PATH, body)));
    }
    let query = ViewQuery {
        elapsed_seconds: board.elapsed_seconds,
        ..ViewQuery::default()
    };
    // A domain "has metrics" when its report names any: most domains log none.
    let metrics_of = |domain: String, hour: u64| {
        let reports = state.reports.clone();
        async move {
            let report = reports.metric(domain, hour).await?;
            let view = heavy(move || report.view(&query));
            (!view.metrics.is_empty()).then_some(view)
        }
    };
    let metrics = board
        .report_or_others(params.domain().is_some(), metrics_of)
        .await;
    let view = match metrics {
        Ok(view) => view,
        // The domain sent data, only no `M` record we could read: not an error (a 200), and
        // the domains that did are a click away.
        Err(others) => {
            let unread = match state.reports.metric(board.domain.clone(), board.hour).await {
                Some(report) => report.ignored(),
                None => {
                    // A stored report that cannot be read is said to be, not "no metrics".
                    if let Some((status, body)) = board.unreadable(&state, HEADING, "metric").await
                    {
                        return Ok((status, page(&board.title(HEADING), PATH, body)));
                    }
                    0
                }
            };
            let lacks = if unread == 0 {
                board.lacks(
                    "No business metrics",
                    "business metrics (M records)",
                    html! {},
                    &others,
                )
            } else {
                let said = html! {
                    p {
                        (board.domain) " logged business metrics (M records) in "
                        (board.period_phrase()) ", but none could be read."
                    }
                    p { (unread_records(unread)) "." }
                    p.hint { (READABLE) }
                };
                board.lacks_saying("No readable business metrics", said, &others)
            };
            let body = html! {
                (board.controls(HEADING, None, false))
                (lacks)
            };
            return Ok((StatusCode::OK, page(&board.title(HEADING), PATH, body)));
        }
    };
    let metrics = &view.metrics;
    let others: Vec<OthersRow> = (metrics.iter())
        .filter(|m| m.name == OTHERS)
        .map(|m| OthersRow {
            label: format!("metric {OTHERS}"),
            href: format!("#{}", chart_id(&m.name)),
        })
        .collect();
    let config = state.reports.analyzer_config();
    let body = html! {
        (board.controls(HEADING, None, false))
        (folded_note(&board, config, FoldedReport::Metrics, view.folded, &others))
        (unread_note(view.malformed))
        section.panel {
            h2 { "Metrics" span.count { (metrics.len()) } }
            p.hint { "Duration metrics are in milliseconds." }
            div.table-wrap {
                table.report {
                    thead { tr { th { "Name" } th { "Kind" } th.num { "Count" } th.num { "Sum" } th.num { "Avg" } } }
                    tbody {
                        @for m in metrics {
                            @let unit = unit_of(&m.kind);
                            tr {
                                td.name { a href={ "#" (chart_id(&m.name)) } { (m.name) } }
                                td { span.badge.neutral { (kind_label(&m.kind)) } }
                                td.num { (format_count(m.count)) }
                                td.num { (format_amount(m.sum)) (unit) }
                                td.num { (format_amount(m.avg)) (unit) }
                            }
                        }
                    }
                }
            }
        }
        section.panel.metric-charts {
            h2 { "Per minute" span.count { (metrics.len()) } }
            div.charts.grid {
                @for m in metrics { (metric_chart(m, board.running_minute())) }
            }
        }
    };
    Ok((StatusCode::OK, page(&board.title(HEADING), PATH, body)))
}

/// "3 metric records could not be read (malformed or of a kind not supported: ...)".
fn unread_records(count: u64) -> String {
    let records = if count == 1 { "record" } else { "records" };
    let kinds: Vec<String> = (KINDS.iter())
        .map(|kind| format!("{kind} ({})", kind_label(kind)))
        .collect();
    let (last, first) = kinds.split_last().expect("KINDS is not empty");
    format!(
        "{} metric {records} could not be read (malformed or of a kind not supported: \
         the kinds read are {} and {last})",
        format_count(count),
        first.join(", "),
    )
}

/// What makes a record readable, for the notes about those that were not.
const READABLE: &str = "A record is read when its status is one of these kinds and its data a \
                        finite number, not negative for a count. Check what the client sends.";

/// The note over the table when some of the hour's records could not be read: the table
/// shows only the others, and the count says they were sent.
fn unread_note(count: u64) -> Markup {
    if count == 0 {
        return html! {};
    }
    html! {
        div.folded-note.unread-note role="note" {
            p { (unread_records(count)) ": the table leaves them out." }
            p.hint { (READABLE) }
        }
    }
}

/// The id of a metric's chart, which its row in the table links to.
fn chart_id(name: &str) -> String {
    anchor_id("metric-", name)
}

/// What follows a metric's sum and mean: durations (`T`) are milliseconds.
fn unit_of(kind: &str) -> &'static str {
    match kind {
        "T" => " ms",
        _ => "",
    }
}

/// CAT's metric kinds (statuses), the ones we read.
const KINDS: [&str; 4] = ["C", "T", "S", "S,C"];

fn kind_label(kind: &str) -> &'static str {
    kind_name(kind).unwrap_or("other")
}

/// What a metric's kind (its status, cat-design 1.8) means, if it is one of CAT's.
pub(crate) fn kind_name(kind: &str) -> Option<&'static str> {
    match kind {
        "C" => Some("count"),
        "T" => Some("duration"),
        "S" => Some("sum"),
        "S,C" => Some("sum and count"),
        _ => None,
    }
}

/// A duration metric's mean per minute: NaN (no bar) for a minute without a sample, which
/// has no mean; a 0 there would read as "took 0 ms".
fn means_per_minute(minutes: &[MetricMinuteView]) -> Vec<f64> {
    let mut values = vec![f64::NAN; MINUTES];
    for m in minutes.iter().filter(|m| m.count > 0) {
        if let Some(slot) = values.get_mut(usize::from(m.minute)) {
            *slot = m.avg;
        }
    }
    values
}

/// A metric's chart; in the current hour `running` is the minute in progress, and the
/// minutes after it, which have not come, have no bar (a 0 there read as "nothing logged").
fn metric_chart(m: &MetricItemView, running: Option<usize>) -> Markup {
    let minutes = m.minutes.iter();
    // The unit follows the title: a count's title says it all.
    let (what, unit, mut values) = match m.kind.as_str() {
        "T" => ("mean", "ms", means_per_minute(&m.minutes)),
        "C" => (
            "count",
            "",
            per_minute(minutes.map(|x| (x.minute, x.count as f64))),
        ),
        _ => ("sum", "", per_minute(minutes.map(|x| (x.minute, x.sum)))),
    };
    if let Some(running) = running {
        for v in values.iter_mut().skip(running + 1) {
            *v = f64::NAN;
        }
    }
    html! {
        figure.chart-box id=(chart_id(&m.name)) {
            (grid_bar_chart(&format!("{}: {what} per minute", m.name), unit, &values, running))
        }
    }
}
