//! The Matrix page, `GET /matrix?domain=&hour=`, and its JSON, `GET /api/matrix`: CAT's
//! Matrix report. For each request a domain served (an entry transaction: a tree's root of
//! type `URL`, `Service` or `PigeonService`), how many and their mean time, and for each
//! kind of call a request makes inside its tree (remote `Call`s, `SQL`, `Cache`): calls per
//! request on average, the fewest and the most one request made (the most linking to that
//! request in LogView), and the share of the requests' time the calls took. Where an N+1
//! query shows: a URL whose worst request made hundreds of SQL calls.
//!
//! A table per root type, its rows by requests, busiest first; a name links to its row on
//! the Transaction board. The report is the whole domain's (CAT's Matrix keeps no machine):
//! a machine (`ip=`) is a 400, as on `/metric`. A whole day, week or month (`day=`,
//! `week=`, `month=`, as on the Transaction board) is its hours added up
//! ([`ocelot_analyzer::MatrixDay`]).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use maud::{html, Markup};
use ocelot_analyzer::{MatrixCallsView, MatrixNameView, MatrixReport, Span, ViewQuery};

use crate::api::{day_of, day_target, or_unreadable, takes_no_limit, target, unreadable_hours};
use crate::board::{
    build_url, format_amount, format_count, format_ms, format_percent, message_link, rows_cut,
    Board,
};
use crate::cpu::heavy;
use crate::day::matrix_day;
use crate::error::{ApiError, ApiQuery, PageError, PageQuery};
use crate::folded_note::{folded_note, FoldedReport, OthersRow};
use crate::layout::page;
use crate::links::anchor_id;
use crate::selection::{BadParam, ReportParams};
use crate::state::AppState;

const PATH: &str = "/matrix";
const API_PATH: &str = "/api/matrix";
const HEADING: &str = "Matrix";
/// The report's name in the store and in messages about it.
const KIND: &str = "matrix";
/// Where every entry is when a table leaves some out.
const ALL_ENTRIES_TIP: &str = "The JSON API, /api/matrix, lists every one.";

/// The routes of this module: the page and its JSON.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route(PATH, get(matrix_page))
        .route(API_PATH, get(matrix_api))
}

/// A 400 for a machine (`ip=` other than `All`): the report has none to pick, and the
/// whole domain's figures under a machine's name would read as that machine's.
fn whole_domain(params: &ReportParams) -> Result<(), BadParam> {
    match params.ip() {
        Some(ip) => Err(BadParam {
            param: "ip",
            detail: format!(
                "a Matrix report is of the whole domain, not per machine: leave out “ip” \
                 (or give “All”) instead of “{ip}”."
            ),
        }),
        None => Ok(()),
    }
}

async fn matrix_page(
    State(state): State<AppState>,
    PageQuery(params): PageQuery<ReportParams>,
) -> Result<(StatusCode, Markup), PageError> {
    whole_domain(&params)?;
    let mut board = Board::resolve_with_days(&state, &params, PATH).await?;
    if !board.has_domain() {
        let (status, body) = board.empty(HEADING);
        return Ok((status, page(&board.title(HEADING), PATH, body)));
    }
    // A domain "has the report" when it served a request: many domains only call others.
    let matrix_of = |domain: String, hour: u64| {
        let reports = state.reports.clone();
        async move {
            let report = reports.matrix(domain, hour).await?;
            let view = heavy(move || report.view(&ViewQuery::default()));
            (!view.names.is_empty()).then_some((view.names, view.folded))
        }
    };
    let asked = params.domain().is_some();
    let mut unreadable = Vec::new();
    let shown = match board.span {
        Some(span) => {
            let merged = matrix_day(&state, &board.domain, span, &board.period_hours).await;
            unreadable = merged.unreadable_hours;
            let merged = merged.day;
            if merged.hours().is_empty() && !unreadable.is_empty() {
                let (status, body) = board.unreadable_span(HEADING, KIND, &unreadable);
                return Ok((status, page(&board.title(HEADING), PATH, body)));
            }
            let (names, folded) = heavy(|| match span {
                Span::Day(_) => {
                    let view = merged.view(&ViewQuery::default());
                    (view.names, view.folded)
                }
                _ => {
                    let view = merged.span_view(&ViewQuery::default());
                    (view.names, view.folded)
                }
            });
            if names.is_empty() {
                Err(board.domains_with(matrix_of).await)
            } else {
                Ok((names, folded))
            }
        }
        None => board.report_or_others(asked, matrix_of).await,
    };
    let (names, folded) = match shown {
        Ok(shown) => shown,
        Err(others) => {
            if board.span.is_none() {
                let report = state.reports.matrix(board.domain.clone(), board.hour).await;
                if report.is_none() {
                    if let Some((status, body)) = board.unreadable(&state, HEADING, KIND).await {
                        return Ok((status, page(&board.title(HEADING), PATH, body)));
                    }
                }
            }
            let body = html! {
                (board.controls(HEADING, None, false))
                (board.unreadable_hours_note(KIND, &unreadable))
                (board.lacks("No requests", "request", html! {
                    p {
                        "A request is a tree whose root is a " code { "URL" } ", "
                        code { "Service" } " or " code { "PigeonService" } " transaction; "
                        "the report counts the " code { "Call" } " (and " code { "PigeonCall" }
                        "), " code { "SQL" } " and " code { "Cache.*" } " transactions inside it."
                    }
                }, &others))
            };
            return Ok((StatusCode::OK, page(&board.title(HEADING), PATH, body)));
        }
    };
    let types = by_type(&names);
    let others: Vec<OthersRow> = (types.iter())
        .filter(|(_, names)| names.iter().any(|n| n.name == ocelot_analyzer::OTHERS))
        .map(|(type_, _)| OthersRow {
            label: format!("names of {type_}"),
            href: format!("#{}", table_id(type_)),
        })
        .collect();
    let config = state.reports.analyzer_config();
    let body = html! {
        (board.controls(HEADING, None, false))
        (board.unreadable_hours_note(KIND, &unreadable))
        (folded_note(&board, config, FoldedReport::Matrix, folded, &others))
        p.hint {
            "Per request: the calls of each kind one request made inside its tree, on average, "
            "and the fewest and the most (the most links to the first request that made them). "
            "Time %: the calls' share of the requests' time; calls made in parallel can add up "
            "to more than 100. Durations in milliseconds."
        }
        @for (type_, names) in &types {
            (type_table(&board, type_, names))
        }
    };
    Ok((StatusCode::OK, page(&board.title(HEADING), PATH, body)))
}

/// The view's entries by root type, in type order, each type's busiest first (ties by
/// name).
fn by_type(names: &[MatrixNameView]) -> Vec<(&str, Vec<&MatrixNameView>)> {
    let mut types: Vec<(&str, Vec<&MatrixNameView>)> = Vec::new();
    for n in names {
        match types.last_mut() {
            Some((type_, names)) if *type_ == n.type_ => names.push(n),
            _ => types.push((&n.type_, vec![n])),
        }
    }
    for (_, names) in &mut types {
        names.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.name.cmp(&b.name)));
    }
    types
}

/// The id of a type's table, which the note about `OTHERS` links to.
fn table_id(type_: &str) -> String {
    anchor_id("matrix-", type_)
}

fn type_table(board: &Board, type_: &str, names: &[&MatrixNameView]) -> Markup {
    let total = names.len();
    let mut names = names.to_vec();
    let left_out = rows_cut(&mut names, "names", ALL_ENTRIES_TIP);
    let (period, label) = board.period_param();
    let kinds = names.first().map_or(&[][..], |n| &n.calls[..]);
    html! {
        section.panel id=(table_id(type_)) {
            h2 { (type_) span.count { (total) } }
            div.table-wrap {
                table.report.matrix {
                    thead {
                        tr {
                            th rowspan="2" { "Name" }
                            th.num rowspan="2" { "Requests" }
                            th.num rowspan="2" title="mean request time, ms" { "Avg" }
                            @for c in kinds {
                                th.group colspan="3" title=(kind_hint(c.kind)) { (c.kind) }
                            }
                        }
                        tr {
                            @for _ in kinds {
                                th.num.group title="calls per request, on average" { "Per request" }
                                th.num title="the fewest and the most calls one request made; the most links to that request" { "Min–max" }
                                th.num title="the calls' share of the requests' time" { "Time %" }
                            }
                        }
                    }
                    tbody {
                        @for n in names {
                            tr {
                                td.name {
                                    a href=(build_url("/t", &[("domain", &board.domain), (period, &label), ("type", type_), ("name", &n.name)])) { (n.name) }
                                    @if !n.sample.is_empty() { " " (message_link(&n.sample, "sample", "sample")) }
                                }
                                td.num { (format_count(n.count)) }
                                td.num { (format_ms(n.avg)) }
                                @for c in &n.calls {
                                    (calls_cells(c))
                                }
                            }
                        }
                    }
                }
            }
            @if let Some(note) = left_out { (note) }
        }
    }
}

/// What a kind of call is, for its column's tooltip.
fn kind_hint(kind: &str) -> &'static str {
    match kind {
        "Call" => "Call and PigeonCall transactions: remote calls the request made",
        "SQL" => "SQL transactions",
        _ => "Cache.* transactions (Cache.redis, Cache.memcached, ...)",
    }
}

/// The three cells of one kind of call: per request, fewest to most, share of time.
fn calls_cells(c: &MatrixCallsView) -> Markup {
    html! {
        td.num.group { (format_amount(c.per_request)) }
        td.num {
            (format_count(c.min_per_request)) "–"
            @if c.max_sample.is_empty() {
                (format_count(c.max_per_request))
            } @else {
                (message_link(&c.max_sample, format_count(c.max_per_request), "max"))
            }
        }
        td.num title={ (format_count(c.count)) @if c.count == 1 { " call, " } @else { " calls, " } (format_ms(c.sum)) " ms in all" } {
            (format_percent(c.time_percent))
        }
    }
}

/// `GET /api/matrix?domain=&hour=[&type=][&name=]`: [`ocelot_analyzer::MatrixView`], of
/// one root type or name when asked (a 404 when there is none such); with `day=`, `week=`
/// or `month=` in place of `hour=`, [`ocelot_analyzer::MatrixDayView`] or
/// [`ocelot_analyzer::MatrixSpanView`] (with `unreadableHours` when some hours' stored
/// reports cannot be read).
async fn matrix_api(
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<ReportParams>,
) -> Result<Response, ApiError> {
    takes_no_limit(&params)?;
    whole_domain(&params)?;
    let type_ = params.type_().filter(|t| !t.is_empty());
    let name = params.name().filter(|n| !n.is_empty());
    let query = ViewQuery {
        type_,
        ..ViewQuery::default()
    };
    // Keeps the name asked for; a 404 naming what was asked when nothing is left.
    let select = |names: &mut Vec<MatrixNameView>, place: String| {
        if let Some(name) = name {
            names.retain(|n| n.name == name);
        }
        if names.is_empty() && (type_.is_some() || name.is_some()) {
            let asked = match (type_, name) {
                (Some(t), Some(n)) => format!("“{t}” “{n}”"),
                (Some(t), None) => format!("of type “{t}”"),
                (None, n) => format!("“{}”", n.unwrap_or_default()),
            };
            return Err(ApiError::NotFound(format!("no request {asked} {place}")));
        }
        Ok(())
    };
    let Some(span) = day_of(&state, &params)? else {
        let target = target(&state, &params).await?;
        let report = (state.reports.matrix(target.domain.clone(), target.hour)).await;
        let report = or_unreadable(&state, &target, KIND, report, || {
            MatrixReport::new(&target.domain, target.hour)
        })
        .await?;
        let mut view = heavy(|| report.view(&query));
        select(&mut view.names, target.place())?;
        return Ok(Json(view).into_response());
    };
    let target = day_target(&state, &params, span).await?;
    let merged = matrix_day(&state, &target.domain, span, &target.hours).await;
    let lost = unreadable_hours(&target, KIND, &merged)?;
    let merged = merged.day;
    match span {
        Span::Day(_) => {
            let mut view = heavy(|| merged.view(&query));
            select(&mut view.names, target.place())?;
            Ok(Json(lost.with(view)).into_response())
        }
        _ => {
            let mut view = heavy(|| merged.span_view(&query));
            select(&mut view.names, target.place())?;
            Ok(Json(lost.with(view)).into_response())
        }
    }
}
