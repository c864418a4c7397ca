//! The heartbeat page, `GET /h?domain=&hour=&ip=`: one machine's heartbeats, a per-minute
//! chart for every series its clients report (CPU, memory, threads, the SDK's own
//! counters). Heartbeats of different machines do not add up, so there is no "All".

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use maud::{html, Markup};
use ocelot_analyzer::ViewQuery;

use crate::board::Board;
use crate::chart::{line_chart, Series, MINUTES};
use crate::error::{PageError, PageQuery};
use crate::layout::page;
use crate::selection::ReportParams;
use crate::state::AppState;

const PATH: &str = "/h";
const HEADING: &str = "Heartbeats";

/// The routes of this module.
pub(crate) fn routes() -> Router<AppState> {
    Router::new().route(PATH, get(heartbeat_page))
}

async fn heartbeat_page(
    State(state): State<AppState>,
    PageQuery(params): PageQuery<ReportParams>,
) -> Result<(StatusCode, Markup), PageError> {
    let mut board = Board::resolve(&state, &params, PATH).await?;
    let report = board
        .report_of_first_with(params.domain().is_some(), |domain, hour| {
            state.reports.heartbeat(domain, hour)
        })
        .await;
    let Some(report) = report else {
        let (status, body) = board.empty(HEADING);
        return Ok((status, page(&board.title(HEADING), PATH, body)));
    };
    let view = report.view(&ViewQuery {
        ip: board.ip.as_deref(),
        type_: None,
        elapsed_seconds: board.elapsed_seconds,
    });
    // Series name -> value per minute; minutes without a heartbeat are gaps (NaN).
    let mut series: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for minute in &view.minutes {
        for (name, value) in &minute.values {
            let values = series
                .entry(name)
                .or_insert_with(|| vec![f64::NAN; MINUTES]);
            if let Some(slot) = values.get_mut(usize::from(minute.minute)) {
                *slot = *value;
            }
        }
    }
    let body = html! {
        (board.controls(HEADING, Some(&view.ips), false))
        @if series.is_empty() {
            section.empty-state {
                h2 { "No heartbeats" }
                p { "The machine " code { (view.ip) } " sent no heartbeat in this hour." }
            }
        } @else {
            section.panel {
                h2 { "Machine " code { (view.ip) } span.count { (series.len()) " series" } }
                p.hint { "The last value each minute; minutes without a heartbeat are gaps." }
                div.charts.grid {
                    @for (name, values) in &series {
                        figure.chart-box { (line_chart(name, "", &[Series { label: name, values }])) }
                    }
                }
            }
        }
    };
    Ok((StatusCode::OK, page(&board.title(HEADING), PATH, body)))
}
