//! The home page, `GET /[?hour=]`: every domain of the hour (default: the current one)
//! with its request count, failure rate, P95, errors and long executions (apart: a domain
//! with no error and 500 slow requests is slow, not failing), and a sparkline of requests
//! per minute. Unhealthy domains come first. The current hour without data says
//! how to send some; a past or future hour without data is a 404, as on every board.
//!
//! "Requests" are the domain's entry transactions: type `URL` when it has one (a web
//! app), else `Service` (an RPC server), else its busiest type. The P95 is that type's,
//! exact over the hour; P95s of two types cannot be added up.
//!
//! A domain whose transactions were folded into `OTHERS` by a cap (its report's `folded`)
//! is marked, linking to its Transaction board, whose note says which caps and where: an
//! operator sees which domains fold names without opening every board.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use maud::{html, Markup};
use ocelot_analyzer::{DomainOverview, TransactionTypeView, ViewQuery, OTHERS};

use crate::board::{
    build_url, format_count, format_ms, format_percent, per_minute, Board, MINUTES,
    UNHEALTHY_FAIL_PERCENT,
};
use crate::chart::sparkline;
use crate::cpu::heavy;
use crate::error::{PageError, PageQuery};
use crate::layout::page;
use crate::selection::ReportParams;
use crate::state::AppState;

const PATH: &str = "/";
const HEADING: &str = "Domains";
/// What the errors column counts: the Problem report's `error` category. Errors and long
/// executions were one "Errors + long" column, where 609 read as 609 failures when most
/// were slow calls.
const ERRORS_HINT: &str = "Errors counted in the hour: failed transactions and Error/Exception events (a failed request that logged an Error event counts twice). The Problems board lists them under “error”.";
/// What the long executions column counts: the Problem report's `long-*` categories.
const LONG_HINT: &str = "Long executions counted in the hour: URLs, SQL, calls, services and caches slower than their thresholds. They did not fail. The Problems board splits them by category.";
/// Domains whose rows are built at once.
const ROWS_AT_ONCE: usize = 8;
/// How long an hour's rows serve every request for that hour. Each build asks the analyzer
/// thread of every domain for its overview, and that thread takes no tree meanwhile: four
/// browsers reloading the page as fast as it came dropped 2.2 M of 6 M trees sent at
/// 150 k/s, none dropped without them. The page already says "reload for newer".
const ROWS_FRESH_FOR: Duration = Duration::from_secs(5);

/// The rows last built, with their hour and when they were built. Requests wait on the
/// lock while one of them builds, so a burst of reloads costs one build.
#[derive(Default)]
pub(crate) struct HomeRows(tokio::sync::Mutex<Option<BuiltRows>>);

/// An hour's rows and when they were built.
struct BuiltRows {
    hour: u64,
    built: Instant,
    rows: Arc<[DomainHealth]>,
}

/// The routes of this module.
pub(crate) fn routes() -> Router<AppState> {
    Router::new().route(PATH, get(home))
}

/// One row of the table.
struct DomainHealth {
    domain: String,
    entry_type: String,
    requests: u64,
    fail_percent: f64,
    p95_ms: f64,
    /// Problems of the `error` category.
    errors: u64,
    /// Problems of the `long-*` categories: slow, not failed.
    long_executions: u64,
    /// Transactions counted under `OTHERS` because a cap was reached.
    folded: u64,
    per_minute: Vec<f64>,
}

impl DomainHealth {
    fn unhealthy(&self) -> bool {
        self.fail_percent > UNHEALTHY_FAIL_PERCENT
    }
}

/// The minutes a sparkline shows, `elapsed_seconds` into its hour: only complete ones. The
/// minute under way has only part of its requests yet, so drawing it would end every line
/// of the current hour in a drop; in its first minute the hour has no line at all yet. A
/// past hour has all 60.
fn complete_minutes(elapsed_seconds: f64) -> usize {
    ((elapsed_seconds / 60.0).floor() as usize).min(MINUTES)
}

/// The minutes of `hour` the collector ran in (bit `m` for minute `m`), by its State
/// report's samples (taken every few seconds while it runs); `None` when the hour has no
/// State report or it holds no sample (stored before the collector recorded them, or a
/// source that does not run).
async fn running_minutes(state: &AppState, hour: u64) -> Option<u64> {
    let report = state.reports.state(hour).await?;
    let bits = report
        .sampled_minutes()
        .filter(|&m| m < 64)
        .fold(0u64, |bits, m| bits | 1 << m);
    (bits != 0).then_some(bits)
}

/// `per_minute` with the minutes the collector did not run in (`running`, see
/// [`running_minutes`]) that counted nothing made NaN, so the sparkline leaves them out: a
/// server started at 03:20, or down from 03:05 to 03:19, has no data for those minutes,
/// which is not the same as no traffic. Such a minute that did count something (clients
/// sending trees they had queued while it was down) is still drawn.
fn absent_while_down(mut per_minute: Vec<f64>, running: Option<u64>) -> Vec<f64> {
    let Some(running) = running else {
        return per_minute;
    };
    for (m, value) in per_minute.iter_mut().enumerate() {
        let ran = m < 64 && (running >> m) & 1 == 1;
        if !ran && *value == 0.0 {
            *value = f64::NAN;
        }
    }
    per_minute
}

/// One domain's row. Only the entry type is in the overview: a domain on a thousand
/// machines merges one type of theirs instead of every type. The report is dropped in here
/// too (freeing a large one takes a while). The sparkline leaves out the minutes before
/// minutes the collector did not run in (see [`absent_while_down`]).
fn domain_health(
    domain: String,
    overview: DomainOverview,
    query: ViewQuery<'static>,
    minutes_shown: usize,
    running: Option<u64>,
) -> DomainHealth {
    let view = overview.entry.as_ref().and_then(|r| {
        let type_ = r.entry_type()?;
        Some(r.view(&ViewQuery {
            type_: Some(&type_),
            ..query
        }))
    });
    let entry: Option<&TransactionTypeView> = view.as_ref().and_then(|v| v.types.first());
    DomainHealth {
        domain,
        entry_type: entry.map(|t| t.type_.clone()).unwrap_or_default(),
        requests: entry.map_or(0, |t| t.figures.count),
        fail_percent: entry.map_or(0.0, |t| t.figures.fail_percent),
        p95_ms: entry.map_or(0.0, |t| t.figures.p95),
        errors: overview.errors,
        long_executions: overview.long_executions,
        folded: overview.folded,
        per_minute: entry.map_or_else(Vec::new, |t| {
            let mut values = per_minute(
                t.names
                    .iter()
                    .flat_map(|n| n.minutes.iter())
                    .map(|m| (m.minute, m.count as f64)),
            );
            values.truncate(minutes_shown);
            absent_while_down(values, running)
        }),
    }
}

/// Every domain's row, unhealthy ones first.
async fn domain_rows(state: &AppState, board: &Board, domains: Vec<String>) -> Vec<DomainHealth> {
    let minutes_shown = complete_minutes(board.elapsed_seconds);
    let running = running_minutes(state, board.hour).await;
    let query = ViewQuery {
        elapsed_seconds: board.elapsed_seconds,
        ..ViewQuery::default()
    };
    // A few domains at once: their reports come from the analyzer threads holding them,
    // and one at a time a page of fifty domains waited for a hundred round trips in a row.
    // A few, not all: each holds a copy of its domain's reports while its row is built.
    let hour = board.hour;
    let mut pending = domains.into_iter();
    let mut tasks = tokio::task::JoinSet::new();
    let mut spawn_next = |tasks: &mut tokio::task::JoinSet<DomainHealth>| {
        let Some(domain) = pending.next() else { return };
        let state = state.clone();
        tasks.spawn(async move {
            let overview = state.reports.overview(domain.clone(), hour).await;
            heavy(move || domain_health(domain, overview, query, minutes_shown, running))
        });
    };
    for _ in 0..ROWS_AT_ONCE {
        spawn_next(&mut tasks);
    }
    let mut rows = Vec::new();
    while let Some(row) = tasks.join_next().await {
        match row {
            Ok(row) => rows.push(row),
            // A row that panicked: the rest of the page still shows.
            Err(e) => tracing::error!(error = %e, "a home page row failed"),
        }
        spawn_next(&mut tasks);
    }
    rows.sort_by(|a, b| {
        b.unhealthy()
            .cmp(&a.unhealthy())
            .then(b.fail_percent.total_cmp(&a.fail_percent))
            .then(b.errors.cmp(&a.errors))
            .then(b.long_executions.cmp(&a.long_executions))
            .then_with(|| a.domain.cmp(&b.domain))
    });
    rows
}

async fn home(
    State(state): State<AppState>,
    PageQuery(params): PageQuery<ReportParams>,
) -> Result<(StatusCode, Markup), PageError> {
    let mut board = Board::resolve(&state, &params, PATH).await?;
    // Home lists every domain; the selector offers only the hour.
    board.domain.clear();
    board.ip = None;
    // An hour no domain sent data in: only the live one is still to be sent to (the page
    // says how). A past hour without data, or one that has not begun, is what every board
    // says it is, with the same 404 and the links to hours that have data.
    if board.domains.is_empty() && board.hour != board.current_hour {
        let (status, body) = board.empty(HEADING);
        return Ok((status, page(&board.title("Home"), PATH, body)));
    }
    let domains = std::mem::take(&mut board.domains);
    let rows = {
        let mut cached = state.home_rows.0.lock().await;
        match &*cached {
            Some(last) if last.hour == board.hour && last.built.elapsed() < ROWS_FRESH_FOR => {
                last.rows.clone()
            }
            _ => {
                let rows: Arc<[DomainHealth]> = domain_rows(&state, &board, domains).await.into();
                *cached = Some(BuiltRows {
                    hour: board.hour,
                    built: Instant::now(),
                    rows: rows.clone(),
                });
                rows
            }
        }
    };
    let label = ocelot_analyzer::hour_label(board.hour);
    // The cards open their board at the hour shown; the current hour's stay bare, so they
    // still open the current hour after the page has sat in a tab past the hour.
    let card_hour = if board.hour == board.current_hour {
        ""
    } else {
        label.as_str()
    };
    let card = |path: &str| build_url(path, &[("hour", card_hour)]);
    let body = html! {
        (board.controls(HEADING, None, false))
        @if rows.is_empty() {
            // Only the current hour gets here empty (see above).
            section.empty-state {
                h2 { "No data in this hour" }
                p { "No client sent a tree in this hour yet. Point a CAT client or the Ocelot SDK at the collector (see "
                    a href="/cat/s/router?op=json" { "the router answer" } "), or pick another hour." }
            }
        } @else {
            section.panel {
                h2 { "Health" span.count { (rows.len()) " domains" } }
                p.hint { "Requests are URL transactions (else Service, else the busiest type). Failing domains first." }
                div.table-wrap {
                    table.report.domains {
                        thead { tr {
                            th { "Domain" } th { "Requests" } th.num { "Count" } th.num { "Fail %" }
                            th.num { "P95 ms" } th.num title=(ERRORS_HINT) { "Errors" } th.num title=(LONG_HINT) { "Long executions" } th { "Per minute" }
                        } }
                        tbody {
                            @for row in rows.iter() {
                                tr.unhealthy[row.unhealthy()] {
                                    td.name {
                                        a href=(build_url("/t", &[("domain", &row.domain), ("hour", &label), ("type", &row.entry_type)])) { (row.domain) }
                                        @if row.unhealthy() { " " span.badge.fail { "failing" } }
                                        @if row.folded > 0 { " " (folded_badge(row, &label)) }
                                    }
                                    td { @if !row.entry_type.is_empty() { span.badge.neutral { (row.entry_type) } } }
                                    td.num { (format_count(row.requests)) }
                                    td.num.fail[row.unhealthy()] { (format_percent(row.fail_percent)) }
                                    td.num { (format_ms(row.p95_ms)) }
                                    @let problems = build_url("/p", &[("domain", &row.domain), ("hour", &label)]);
                                    td.num.errors {
                                        a href={ (problems) "#error" } { (format_count(row.errors)) }
                                    }
                                    td.num.long {
                                        a href=(problems) { (format_count(row.long_executions)) }
                                    }
                                    td.spark {
                                        @if row.per_minute.is_empty() && board.hour == board.current_hour {
                                            span.muted title="The hour's first minute is still under way" { "—" }
                                        } @else if !row.per_minute.is_empty() && row.per_minute.iter().all(|v| v.is_nan()) {
                                            span.muted title="The collector was not running in the minutes shown" { "—" }
                                        } @else {
                                            (sparkline(&row.per_minute))
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        section.cards {
            a.card href=(card("/t")) { h2 { "Transactions" } p { "Counts, failures and percentiles per type and name." } }
            a.card href=(card("/e")) { h2 { "Events" } p { "Counts and failures per event type and name." } }
            a.card href=(card("/p")) { h2 { "Problems" } p { "Errors, long URLs, long SQL, grouped by category." } }
            a.card href=(card("/h")) { h2 { "Heartbeats" } p { "CPU, memory and threads of every machine." } }
            a.card href=(card("/metric")) { h2 { "Metrics" } p { "Business metrics (M records) per minute." } }
            a.card href=(card("/d")) { h2 { "Dependencies" } p { "Databases and services each domain calls, and its callers." } }
            a.card href=(card("/matrix")) { h2 { "Matrix" } p { "Calls, SQL and cache per request: where N+1 queries show." } }
            a.card href=(card("/state")) { h2 { "Collector state" } p { "Trees received, drops and malformed frames." } }
        }
    };
    Ok((StatusCode::OK, page(&board.title("Home"), PATH, body)))
}

/// The mark of a domain that folded transactions into `OTHERS`: how many in its tooltip, a
/// link to its Transaction board of the hour, whose note names the caps and the `OTHERS`
/// rows. The domain `OTHERS` holds the domains past the cap, so it is domains it folded.
fn folded_badge(row: &DomainHealth, hour_label: &str) -> Markup {
    let count = format!(
        "{} transaction{}",
        format_count(row.folded),
        if row.folded == 1 { "" } else { "s" }
    );
    let (what, title) = if row.domain == OTHERS {
        (
            "domains folded",
            format!(
                "{count} of this hour came from domains past the cap, counted under this domain"
            ),
        )
    } else {
        let were = if row.folded == 1 { "was" } else { "were" };
        (
            "names folded",
            format!("{count} of this hour {were} counted under OTHERS: a cap on machines, types, names or status codes was reached"),
        )
    };
    html! {
        a.badge.warn.folded href=(build_url("/t", &[("domain", &row.domain), ("hour", hour_label)])) title=(title) {
            (what)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparklines_of_the_current_hour_show_only_complete_minutes() {
        assert_eq!(complete_minutes(1.0), 0, "nothing in the first minute");
        assert_eq!(complete_minutes(59.9), 0);
        assert_eq!(complete_minutes(60.0), 1);
        assert_eq!(complete_minutes(150.0), 2, "02:30: minutes 0 and 1, not 2");
        assert_eq!(complete_minutes(2400.0), 40);
        assert_eq!(complete_minutes(3599.0), 59);
    }

    #[test]
    fn sparklines_of_a_past_hour_show_all_of_it() {
        assert_eq!(complete_minutes(3600.0), MINUTES);
    }

    #[test]
    fn minutes_the_collector_did_not_run_in_are_absent_unless_they_counted_something() {
        let shown = |values: Vec<f64>, running| -> Vec<String> {
            let values = absent_while_down(values, running);
            values.iter().map(|v| format!("{v}")).collect()
        };
        // Started in minute 3.
        assert_eq!(
            shown(vec![0.0, 3.0, 0.0, 0.0, 5.0], Some(!0b111)),
            ["NaN", "3", "NaN", "0", "5"]
        );
        // Down in minutes 1 and 2, back in 3.
        assert_eq!(
            shown(vec![4.0, 0.0, 2.0, 0.0, 1.0], Some(!0b110)),
            ["4", "NaN", "2", "0", "1"]
        );
        assert_eq!(shown(vec![0.0, 1.0], None), ["0", "1"], "no State report");
        assert_eq!(
            shown(vec![0.0, 0.0], Some(1 << 40)),
            ["NaN", "NaN"],
            "before the start"
        );
    }
}
