//! The metric page, `GET /metric?domain=&hour=`: CAT's business metrics of a domain
//! (`M` records), each with its totals and a per-minute chart of what its kind measures:
//! counts for `C`, the mean for `T` (durations), sums for `S` and `S,C`. A note says how
//! many records were counted under `OTHERS` when the domain had more names than the cap.

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
        // The domain sent data, only no `M` record: not an error (a 200), and the domains
        // that did are a click away.
        Err(others) => {
            let body = html! {
                (board.controls(HEADING, None, false))
                (board.lacks("No business metrics", "business metrics (M records)", html! {}, &others))
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
                @for m in metrics { (metric_chart(m)) }
            }
        }
    };
    Ok((StatusCode::OK, page(&board.title(HEADING), PATH, body)))
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

fn metric_chart(m: &MetricItemView) -> Markup {
    let minutes = m.minutes.iter();
    // The unit follows the title: a count's title says it all.
    let (what, unit, values) = match m.kind.as_str() {
        "T" => ("mean", "ms", means_per_minute(&m.minutes)),
        "C" => (
            "count",
            "",
            per_minute(minutes.map(|x| (x.minute, x.count as f64))),
        ),
        _ => ("sum", "", per_minute(minutes.map(|x| (x.minute, x.sum)))),
    };
    html! {
        figure.chart-box id=(chart_id(&m.name)) {
            (grid_bar_chart(&format!("{}: {what} per minute", m.name), unit, &values))
        }
    }
}
