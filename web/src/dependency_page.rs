//! The dependency page, `GET /d?domain=&hour=`: what a domain depends on (databases, the
//! services it calls) and who calls it, one row per edge with its calls, failures and
//! durations, and a per-minute chart of each edge's calls (of the busiest
//! [`MAX_EDGE_CHARTS`], when there are more). A target that is a domain this
//! hour links to its own dependencies, so a request's path can be followed service by service.
//!
//! The edges are kept per machine, so `ip=` shows that machine's (as `/api/dependency`
//! does), with a machine selector; without it, or with `ip=All`, every machine's added up.
//! A machine the domain does not have is a 404 naming it, as on the other boards.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use maud::{html, Markup};
use ocelot_analyzer::{hour_label, DependencyEdgeView, ViewQuery};

use crate::board::{
    build_url, format_count, format_ms, format_percent, format_rate, per_minute, rows_cut, Board,
};
use crate::chart::grid_bar_chart;
use crate::cpu::heavy;
use crate::error::{PageError, PageQuery};
use crate::layout::page;
use crate::report_source::BoxFuture;
use crate::selection::ReportParams;
use crate::state::AppState;

const PATH: &str = "/d";
const HEADING: &str = "Dependencies";
/// The rate is the hour's calls over the seconds it has run, an average: the label says so.
const TPS_LABEL: &str = "TPS (hour avg)";
const TPS_HINT: &str =
    "calls per second, averaged over the hour (over the minutes run so far in the current hour)";
/// Most edges charted. A chart is about 10 KB of SVG and edges are client data: one client
/// logging `<K>.app` events of a hundred types with two hundred names each makes 20 000
/// edges, which charted whole made a 190 MB page. The busiest are charted; the tables list
/// the others (up to [`crate::board::MAX_TABLE_ROWS`] each).
const MAX_EDGE_CHARTS: usize = 100;
/// Where every edge is when a table or the charts leave some out.
const ALL_EDGES_TIP: &str = "The JSON API, /api/dependency, lists every one.";

/// The routes of this module.
pub(crate) fn routes() -> Router<AppState> {
    Router::new().route(PATH, get(dependency_page))
}

async fn dependency_page(
    State(state): State<AppState>,
    PageQuery(params): PageQuery<ReportParams>,
) -> Result<(StatusCode, Markup), PageError> {
    let mut board = Board::resolve(&state, &params, PATH).await?;
    if !board.has_domain() {
        let (status, body) = board.empty(HEADING);
        return Ok((status, page(&board.title(HEADING), PATH, body)));
    }
    // The edges are kept per machine (in the Event report, see `EventReport::dependencies`):
    // a machine asked for (`ip=`, from the selector or an old link) gets its own edges,
    // never the whole domain's under its name.
    let asked = params.domain().is_some();
    let found = board
        .report_of_first_with(
            asked,
            edges_of(&state, board.ip.clone(), board.elapsed_seconds),
        )
        .await;
    let (machines, edges, others) = match found {
        Some((machines, edges)) => (Some(machines), edges, Vec::new()),
        None => {
            let report = state.reports.event(board.domain.clone(), board.hour).await;
            // The edges are in the Event report: one that cannot be read is said to be.
            if report.is_none() {
                if let Some((status, body)) = board.unreadable(&state, HEADING, "event").await {
                    return Ok((status, page(&board.title(HEADING), PATH, body)));
                }
            }
            let machines = report.map(|r| r.ips().map(str::to_owned).collect::<Vec<_>>());
            // Where else to look: the domains with edges. Without a domain asked for, the
            // search above already looked at them all; a machine asked for gets a link to
            // all of its domain's machines instead.
            let others = if asked && board.ip.is_none() {
                board
                    .domains_with(edges_of(&state, None, board.elapsed_seconds))
                    .await
            } else {
                Vec::new()
            };
            (machines, Vec::new(), others)
        }
    };
    // A domain without events has no machines to check against (and no edges to show).
    if let Some(machines) = machines.as_ref().filter(|m| !board.knows_machine(m)) {
        let (status, body) = board.unknown_machine(HEADING, machines, true);
        return Ok((status, page(&board.title(HEADING), PATH, body)));
    }
    let (calls, callers): (Vec<_>, Vec<_>) = edges.iter().partition(|e| e.role == "caller");
    let charted = busiest(&edges, MAX_EDGE_CHARTS);
    let body = html! {
        (board.controls(HEADING, machines.as_deref(), true))
        @if let (true, Some(ip)) = (edges.is_empty(), &board.ip) {
            section.empty-state {
                h2 { "No dependencies" }
                p {
                    "Machine " code { (ip) } " of " (board.domain) " logged no event naming a "
                    "database or another service in " (board.period_phrase()) "."
                }
                p { a href=(board.all_machines_url()) { "Show all machines" } }
            }
        } @else if edges.is_empty() {
            (board.lacks("No dependencies", "event naming a database or another service", html! {
                p {
                    "Edges come from the events clients log inside a call: "
                    code { "SQL.Database" } " in an SQL transaction, "
                    code { "Call.app" } " or " code { "PigeonCall.app" } " in a call, "
                    code { "Service.app" } " or " code { "PigeonService.app" } " in a service."
                }
            }, &others))
        } @else {
            (edge_table("Depends on", "Target", &calls, &board))
            (edge_table("Called by", "Caller", &callers, &board))
            section.panel.edge-charts {
                h2 { "Calls per minute" span.count { (charted.len()) } }
                @if charted.len() < edges.len() {
                    p.hint.left-out {
                        "Charts of the " (format_count(charted.len() as u64)) " busiest of "
                        (format_count(edges.len() as u64)) " edges. " (ALL_EDGES_TIP)
                    }
                }
                div.charts.grid {
                    @for e in &charted {
                        figure.chart-box {
                            (grid_bar_chart(
                                &format!("{} {}", e.type_, e.target),
                                "calls",
                                &per_minute(e.minutes.iter().map(|m| (m.minute, m.count as f64))),
                                board.running_minute(),
                            ))
                        }
                    }
                }
            }
        }
    };
    Ok((StatusCode::OK, page(&board.title(HEADING), PATH, body)))
}

/// The machines of a domain's Event report in an hour, and the edges of the machine asked
/// for (or of all of them).
type MachinesAndEdges = (Vec<String>, Vec<DependencyEdgeView>);

/// The machines of a domain's Event report in an hour and the edges of machine `ip` (`None`:
/// all of them), when it has any, for [`Board::report_of_first_with`]: a domain "has the
/// report" here when its events name an edge.
fn edges_of(
    state: &AppState,
    ip: Option<String>,
    elapsed_seconds: f64,
) -> impl Fn(String, u64) -> BoxFuture<'static, Option<MachinesAndEdges>> {
    let reports = state.reports.clone();
    move |domain, hour| {
        let (reports, ip) = (reports.clone(), ip.clone());
        Box::pin(async move {
            let report = reports.event(domain, hour).await?;
            let query = ViewQuery {
                ip: ip.as_deref(),
                elapsed_seconds,
                ..ViewQuery::default()
            };
            let view = heavy(|| report.dependencies(&query));
            let machines = report.ips().map(str::to_owned).collect();
            (!view.dependencies.is_empty()).then_some((machines, view.dependencies))
        })
    }
}

/// The `max` edges with the most calls, in their order in `edges`.
fn busiest(edges: &[DependencyEdgeView], max: usize) -> Vec<&DependencyEdgeView> {
    let mut by_calls: Vec<usize> = (0..edges.len()).collect();
    by_calls.sort_by(|a, b| edges[*b].count.cmp(&edges[*a].count));
    by_calls.truncate(max);
    by_calls.sort_unstable();
    by_calls.into_iter().map(|i| &edges[i]).collect()
}

fn edge_table(heading: &str, target: &str, edges: &[&DependencyEdgeView], board: &Board) -> Markup {
    if edges.is_empty() {
        return html! {};
    }
    let total = edges.len();
    let mut edges = edges.to_vec();
    let left_out = rows_cut(&mut edges, "edges", ALL_EDGES_TIP);
    let hour = hour_label(board.hour);
    html! {
        section.panel {
            h2 { (heading) span.count { (total) } }
            p.hint { "Durations in milliseconds." }
            div.table-wrap {
                table.report {
                    thead { tr {
                        th { "Kind" } th { (target) } th.num { "Calls" } th.num { "Failed" }
                        th.num { "Fail %" } th.num title="mean, ms" { "Avg" }
                        th.num title="longest, ms" { "Max" } th.num title=(TPS_HINT) { (TPS_LABEL) }
                    } }
                    tbody {
                        @for e in edges {
                            tr {
                                td { span.badge.neutral { (e.type_) } }
                                td.name {
                                    @if board.domains.contains(&e.target) {
                                        a href=(build_url(PATH, &[("domain", &e.target), ("hour", &hour)])) { (e.target) }
                                    } @else {
                                        (e.target)
                                    }
                                }
                                td.num { (format_count(e.count)) }
                                td.num.fail[e.fail > 0] { (format_count(e.fail)) }
                                td.num.fail[e.fail > 0] { (format_percent(e.fail_percent)) }
                                td.num { (format_ms(e.avg)) }
                                td.num { (format_ms(e.max)) }
                                td.num { (format_rate(e.tps)) }
                            }
                        }
                    }
                }
            }
            @if let Some(note) = left_out { (note) }
        }
    }
}
