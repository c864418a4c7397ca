//! The state page, `GET /state?hour=`: the collector's own health in an hour. Trees and
//! bytes received, drops by analyzer and reason, malformed frames, out-of-window trees,
//! queue depths, processing time and memory, per minute where it helps.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use maud::{html, Markup};
use ocelot_analyzer::{StateView, ViewQuery};

use crate::board::{format_bytes, format_count, format_ms, format_rate, per_minute, stat, Board};
use crate::chart::bar_chart;
use crate::error::{PageError, PageQuery};
use crate::layout::page;
use crate::selection::ReportParams;
use crate::state::AppState;

const PATH: &str = "/state";
const HEADING: &str = "Collector state";

/// The routes of this module.
pub(crate) fn routes() -> Router<AppState> {
    Router::new().route(PATH, get(state_page))
}

async fn state_page(
    State(state): State<AppState>,
    PageQuery(params): PageQuery<ReportParams>,
) -> Result<(StatusCode, Markup), PageError> {
    let mut board = Board::resolve(&state, &params, PATH).await?;
    // The collector's report is not per domain.
    board.domains.clear();
    board.domain.clear();
    let Some(report) = state.reports.state(board.hour).await else {
        let (status, body) = board.empty(HEADING);
        return Ok((status, page(HEADING, PATH, body)));
    };
    let view = report.view(&ViewQuery {
        elapsed_seconds: board.elapsed_seconds,
        ..ViewQuery::default()
    });
    let body = html! {
        (board.controls(HEADING, None, false))
        (render(&view))
    };
    Ok((StatusCode::OK, page(HEADING, PATH, body)))
}

/// Sums a per-minute map of counts over the hour.
fn totals<'a>(maps: impl Iterator<Item = &'a BTreeMap<String, u64>>) -> BTreeMap<&'a str, u64> {
    let mut out = BTreeMap::new();
    for map in maps {
        for (key, n) in map {
            *out.entry(key.as_str()).or_default() += n;
        }
    }
    out
}

fn render(view: &StateView) -> Markup {
    let minutes = &view.minutes;
    let trees = per_minute(minutes.iter().map(|m| (m.minute, m.trees as f64)));
    let drops_per_minute = per_minute(minutes.iter().map(|m| {
        let n: u64 = m.drops.values().flat_map(|r| r.values()).sum();
        (m.minute, n as f64)
    }));
    let mut drops: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    for m in minutes {
        for (analyzer, reasons) in &m.drops {
            for (reason, n) in reasons {
                *drops.entry((analyzer, reason)).or_default() += n;
            }
        }
    }
    let decode_errors = totals(minutes.iter().map(|m| &m.decode_errors));
    let mut queues: BTreeMap<&str, u64> = BTreeMap::new();
    for m in minutes {
        for (queue, depth) in &m.queue_depths {
            let deepest = queues.entry(queue).or_default();
            *deepest = (*deepest).max(*depth);
        }
    }
    let mut processing: BTreeMap<&str, (u64, f64, f64)> = BTreeMap::new();
    for m in minutes {
        for (analyzer, p) in &m.processing {
            let entry = processing.entry(analyzer).or_default();
            entry.0 += p.trees;
            entry.1 += p.avg_ms * p.trees as f64;
            entry.2 = entry.2.max(p.max_ms);
        }
    }
    html! {
        section.panel {
            div.stats {
                (stat("Trees", &format_count(view.trees), false))
                (stat("Trees / s", &format_rate(view.trees_per_second), false))
                (stat("Bytes", &format_bytes(view.bytes), false))
                (stat("Dropped", &format_count(view.drops), view.drops > 0))
                (stat("Malformed frames", &format_count(view.decode_errors), view.decode_errors > 0))
                (stat("Out of window", &format_count(view.out_of_window), view.out_of_window > 0))
                (stat("Peak RSS", &format_bytes(view.rss_bytes), false))
            }
            div.charts {
                figure.chart-box { (bar_chart("Trees received per minute", "count", &trees)) }
                figure.chart-box.failures { (bar_chart("Trees dropped per minute", "count", &drops_per_minute)) }
            }
        }
        div.panels {
            section.panel {
                h2 { "Drops" }
                @if drops.is_empty() { p.muted { "No tree was dropped." } } @else {
                    table.report {
                        thead { tr { th { "Analyzer" } th { "Reason" } th.num { "Trees" } } }
                        tbody { @for ((analyzer, reason), n) in &drops {
                            tr.unhealthy { td { (analyzer) } td { (reason) } td.num { (format_count(*n)) } }
                        } }
                    }
                }
            }
            section.panel {
                h2 { "Malformed frames" }
                @if decode_errors.is_empty() { p.muted { "Every frame decoded." } } @else {
                    table.report {
                        thead { tr { th { "Reason" } th.num { "Frames" } } }
                        tbody { @for (reason, n) in &decode_errors {
                            tr.unhealthy { td { (reason) } td.num { (format_count(*n)) } }
                        } }
                    }
                }
            }
            section.panel {
                h2 { "Queues and processing" }
                @if queues.is_empty() && processing.is_empty() { p.muted { "No figures recorded." } } @else {
                    table.report {
                        thead { tr { th { "Queue" } th.num { "Deepest" } } }
                        tbody { @for (queue, depth) in &queues {
                            tr { td { (queue) } td.num { (format_count(*depth)) } }
                        } }
                    }
                    table.report {
                        thead { tr { th { "Analyzer" } th.num { "Trees" } th.num { "Avg ms" } th.num { "Max ms" } } }
                        tbody { @for (analyzer, (n, total_ms, max_ms)) in &processing {
                            tr {
                                td { (analyzer) }
                                td.num { (format_count(*n)) }
                                td.num { (format_ms(total_ms / (*n).max(1) as f64)) }
                                td.num { (format_ms(*max_ms)) }
                            }
                        } }
                    }
                }
            }
        }
        section.panel {
            h2 { "Received per domain" span.count { (view.domains.len()) } }
            div.table-wrap {
                table.report {
                    thead { tr { th { "Domain" } th.num { "Trees" } th.num { "Bytes" } } }
                    tbody { @for (domain, received) in &view.domains {
                        tr {
                            td.name { a href=(crate::board::build_url("/t", &[("domain", domain), ("hour", &view.hour)])) { (domain) } }
                            td.num { (format_count(received.trees)) }
                            td.num { (format_bytes(received.bytes)) }
                        }
                    } }
                }
            }
        }
    }
}
