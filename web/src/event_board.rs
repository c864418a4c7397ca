//! The event board, `GET /e?domain=&hour=&ip=&type=&name=&sort=`: CAT's Event report.
//! Types, then the names of a type, with count, failures and rate, per-minute charts and
//! links from sample and failed message IDs to LogView. With `day=YYYYMMDD` instead of
//! `hour=`, the whole UTC day ([`crate::day`]), charted hour by hour. With `compare=on` the
//! hour view of a type or a name also charts the same minutes a day and a week earlier
//! ([`crate::comparison`]).

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use maud::{html, Markup};
use ocelot_analyzer::{
    EventDateView, EventHourView, EventMinuteView, EventNameView, EventReport, EventTypeView, Span,
    ViewQuery,
};

use crate::board::{
    failed_heading, failed_label, format_count, format_percent, format_rate, label, message_link,
    per_hour, per_minute, rows_left_out, sort_key, sortable_header, stat, stat_with_hint,
    type_columns, Board, Column, FormOrigin, FAILED_SAMPLE_HINT, NAME_KEY, UNHEALTHY_FAIL_PERCENT,
};
use crate::chart::{bar_chart_compared, bar_chart_running, hourly_bar_chart, Counted, Series};
use crate::comparison::{self, earlier_reports, EarlierHour};
use crate::cpu::heavy;
use crate::daily::{daily_section, DayRow};
use crate::day::event_day;
use crate::error::{PageError, PageQuery};
use crate::folded_note::{folded_note, others_rows, FoldedReport};
use crate::layout::page;
use crate::selection::ReportParams;
use crate::state::AppState;

const PATH: &str = "/e";
const HEADING: &str = "Events";

/// The table columns that sort, in order; `sort=` takes a key. The names table adds a
/// last column of message links, which does not sort.
const COLUMNS: [Column; 5] = [
    Column {
        key: NAME_KEY,
        label: "Name",
        hint: "sort by name",
    },
    Column {
        key: "count",
        label: "Count",
        hint: "events",
    },
    Column {
        key: "fail",
        label: "Fail",
        hint: "failed events",
    },
    Column {
        key: "failPercent",
        label: "Fail %",
        hint: "failure rate",
    },
    Column {
        key: "tps",
        label: RATE_LABEL,
        hint: RATE_HINT,
    },
];

/// The rate is the hour's count over the seconds it has run, an average: the label says so.
const RATE_LABEL: &str = "Per second (hour avg)";
const RATE_HINT: &str =
    "events per second, averaged over the hour (over the minutes run so far in the current hour)";
/// The same on a day board.
const RATE_DAY_LABEL: &str = "Per second (day avg)";
const RATE_DAY_HINT: &str =
    "events per second, averaged over the day (over the hours run so far today)";

/// The same on a week's or a month's board, whose rate is over the days with data only
/// (`ocelot_analyzer::EventDay::span_view`).
const RATE_DAYS_LABEL: &str = "Per second (avg over days with data)";
const RATE_DAYS_HINT: &str =
    "events per second, averaged over the days with data (today up to now): days without any, before the domain began sending or past the store's retention, are left out";

/// The rate's label and tooltip on `board`.
fn rate_label(board: &Board) -> (&'static str, &'static str) {
    match board.span {
        None => (RATE_LABEL, RATE_HINT),
        Some(Span::Day(_)) => (RATE_DAY_LABEL, RATE_DAY_HINT),
        Some(Span::Week(_) | Span::Month(_)) => (RATE_DAYS_LABEL, RATE_DAYS_HINT),
    }
}

/// [`COLUMNS`] as `board` labels them.
fn columns(board: &Board) -> [Column; 5] {
    let mut columns = COLUMNS;
    let (label, hint) = rate_label(board);
    if let Some(rate) = columns.last_mut() {
        *rate = Column {
            key: rate.key,
            label,
            hint,
        };
    }
    columns
}

/// The routes of this module.
pub(crate) fn routes() -> Router<AppState> {
    Router::new().route(PATH, get(event_board))
}

/// One row: name, count, fail, fail %, rate.
type Figures<'a> = (&'a str, u64, u64, f64, f64);

fn sort_rows<T>(rows: &mut [T], sort: &str, figures: impl Fn(&T) -> Figures<'_>) {
    if sort == NAME_KEY {
        rows.sort_by(|a, b| figures(a).0.cmp(figures(b).0));
        return;
    }
    let key = |row: &T| {
        let (_, count, fail, fail_percent, tps) = figures(row);
        match sort {
            "fail" => fail as f64,
            "failPercent" => fail_percent,
            "tps" => tps,
            _ => count as f64,
        }
    };
    rows.sort_by(|a, b| {
        key(b)
            .total_cmp(&key(a))
            .then_with(|| figures(a).0.cmp(figures(b).0))
    });
}

async fn event_board(
    State(state): State<AppState>,
    PageQuery(params): PageQuery<ReportParams>,
    PageQuery(origin): PageQuery<FormOrigin>,
) -> Result<(StatusCode, Markup), PageError> {
    let params = origin.apply(params);
    let board = Board::resolve_with_days(&state, &params, PATH).await?;
    let sort = sort_key(&params, &COLUMNS, "count")?;
    let compare = params.compare()?;
    if !board.has_domain() {
        let (status, body) = board.empty(HEADING);
        return Ok((status, page(&board.title(HEADING), PATH, body)));
    }
    let query = ViewQuery {
        ip: board.ip.as_deref(),
        type_: params.type_(),
        elapsed_seconds: board.elapsed_seconds,
        // Every name: a board sorted by another column shows the top of that column.
        ..ViewQuery::default()
    };
    let mut earlier = Comparison {
        on: compare,
        earlier: Vec::new(),
    };
    let mut unreadable = Vec::new();
    let view = match board.span {
        Some(span) => {
            let merged = event_day(&state, &board.domain, span, &board.period_hours).await;
            unreadable = merged.unreadable_hours;
            let merged = merged.day;
            if merged.hours().is_empty() && !unreadable.is_empty() {
                let (status, body) = board.unreadable_span(HEADING, "event", &unreadable);
                return Ok((status, page(&board.title(HEADING), PATH, body)));
            }
            // The day's view has the hour view's shape, its rows in `hours` (a week's or
            // month's in `days`).
            (!merged.hours().is_empty()).then(|| {
                heavy(|| match span {
                    Span::Day(_) => {
                        let view = merged.view(&query);
                        ocelot_analyzer::EventView {
                            domain: view.domain,
                            hour: view.day,
                            ips: view.ips,
                            types: view.types,
                            folded: view.folded,
                            // A day's views do not carry it (nor do the Transaction
                            // report's), and the board does not show it.
                            malformed_batches: 0,
                        }
                    }
                    _ => {
                        let view = merged.span_view(&query);
                        ocelot_analyzer::EventView {
                            domain: view.head.domain,
                            hour: view.head.label,
                            ips: view.head.ips,
                            types: view.types,
                            folded: view.folded,
                            // As for a day.
                            malformed_batches: 0,
                        }
                    }
                })
            })
        }
        None => {
            let report = state.reports.event(board.domain.clone(), board.hour).await;
            if report.is_none() {
                if let Some((status, body)) = board.unreadable(&state, HEADING, "event").await {
                    return Ok((status, page(&board.title(HEADING), PATH, body)));
                }
            }
            // Only a type's or a name's charts compare.
            if compare && report.is_some() && params.type_().is_some() {
                let reports =
                    earlier_reports(&board, |domain, hour| state.reports.event(domain, hour)).await;
                earlier.earlier = heavy(|| earlier_counts(&query, params.name(), &reports));
            }
            report.as_ref().map(|report| heavy(|| report.view(&query)))
        }
    };
    if let Some(view) = view.as_ref().filter(|view| !board.knows_machine(&view.ips)) {
        let (status, body) = board.unknown_machine(HEADING, &view.ips, true);
        return Ok((status, page(&board.title(HEADING), PATH, body)));
    }
    // Asked for a type or a machine, an empty view is that type's or machine's: below.
    let asked = params.type_().is_some() || board.ip.is_some();
    let Some(view) = view.filter(|view| asked || !view.types.is_empty()) else {
        // The domain sent data, just no event (its report may exist, empty): not an
        // error, and others may have some.
        let others = board
            .domains_with(|domain, hour| {
                let reports = state.reports.clone();
                async move {
                    let report = reports.event(domain, hour).await?;
                    (!report.view(&ViewQuery::default()).types.is_empty()).then_some(())
                }
            })
            .await;
        let body = html! {
            (board.controls(HEADING, None, false))
            (board.lacks("No events", "events", html! {}, &others))
        };
        return Ok((StatusCode::OK, page(&board.title(HEADING), PATH, body)));
    };
    let rows = others_rows(
        &board,
        &view.ips,
        (view.types.iter()).map(|t| (t.type_.as_str(), t.names.as_slice())),
        |n| &n.name,
    );
    let config = state.reports.analyzer_config();
    let body = html! {
        (board.unreadable_hours_note("event", &unreadable))
        (board.controls(HEADING, Some(&view.ips), true))
        (folded_note(&board, config, FoldedReport::Events, view.folded, &rows))
        @match (params.type_(), view.types.first()) {
            (None, _) => { (types_section(&board, &view.types, sort)) }
            (Some(_), Some(t)) => { (type_section(&board, t, params.name(), sort, &earlier)) }
            (Some(type_), None) => {
                section.empty-state {
                    h2 { "No events of type “" (type_) "”" }
                    p { a href=(board.url(&[])) { "Show every type" } }
                }
            }
        }
    };
    Ok((StatusCode::OK, page(&board.title(HEADING), PATH, body)))
}

fn counts(count: u64, fail: u64, fail_percent: f64, tps: f64) -> Markup {
    html! {
        td.num { (format_count(count)) }
        td.num.fail[fail > 0] { (format_count(fail)) }
        td.num.fail[fail_percent > UNHEALTHY_FAIL_PERCENT] { (format_percent(fail_percent)) }
        td.num { (format_rate(tps)) }
    }
}

fn types_section(board: &Board, types: &[EventTypeView], sort: &str) -> Markup {
    let mut rows: Vec<&EventTypeView> = types.iter().collect();
    sort_rows(&mut rows, sort, |t| {
        (&t.type_, t.count, t.fail, t.fail_percent, t.tps)
    });
    // Types are client data too: a hundred per machine make ~100 000 over "All" machines.
    let type_count = rows.len();
    let left_out = rows_left_out(&mut rows, "types");
    html! {
        section.panel {
            h2 { "Types" span.count { (type_count) } }
            div.table-wrap {
                table.report.sortable {
                    thead { tr { (sortable_header(&type_columns(columns(board)), sort, |key| board.url(&[("sort", key)]))) } }
                    tbody {
                        @for t in &rows {
                            tr.unhealthy[t.fail_percent > UNHEALTHY_FAIL_PERCENT] {
                                td.name { a href=(board.url(&[("type", &t.type_), ("sort", board.sort_param()), ("compare", board.compare_param())])) { (label(&t.type_)) } }
                                (counts(t.count, t.fail, t.fail_percent, t.tps))
                            }
                        }
                    }
                }
            }
            @if let Some(note) = left_out { (note) }
        }
    }
}

/// What a week's or month's bars count.
const EVENTS: Counted = Counted {
    one: "event",
    many: "events",
};

/// A week's or month's rows as the daily section shows them.
fn day_rows(days: &[EventDateView]) -> Vec<DayRow<'_>> {
    days.iter()
        .map(|d| DayRow {
            day: &d.day,
            count: d.count,
            fail: Some(d.fail),
            durations: None,
        })
        .collect()
}

/// A day's charts: events and failed events per hour of the day.
fn hourly_charts(rows: &[EventHourView]) -> Markup {
    let count = per_hour(rows.iter().map(|r| (r.hour.as_str(), r.count as f64)));
    let fail = per_hour(rows.iter().map(|r| (r.hour.as_str(), r.fail as f64)));
    html! {
        div.charts {
            figure.chart-box { (hourly_bar_chart("Events per hour", "count", &count)) }
            figure.chart-box.failures { (hourly_bar_chart("Failed events per hour", "count", &fail)) }
        }
    }
}

/// What the count chart of a type or a name compares the hour with
/// ([`crate::comparison`]): whether the comparison is on, and the events per minute of each
/// earlier hour that has the type (and name) on the machine shown.
struct Comparison {
    on: bool,
    earlier: Vec<(EarlierHour, Vec<f64>)>,
}

/// The events per minute of the type (and `name`) `query` views in each earlier hour's
/// report that has them.
fn earlier_counts(
    query: &ViewQuery<'_>,
    name: Option<&str>,
    reports: &[(EarlierHour, Option<std::sync::Arc<EventReport>>)],
) -> Vec<(EarlierHour, Vec<f64>)> {
    // Only the name shown gets a view of its own: the others are added up into the type's
    // minutes, which the chart of a type reads.
    let query = ViewQuery {
        max_names: Some(0),
        keep_name: name,
        ..*query
    };
    let counts = |minutes: &mut dyn Iterator<Item = &EventMinuteView>| {
        per_minute(minutes.map(|m| (m.minute, m.count as f64)))
    };
    let mut found = Vec::new();
    for (hour, report) in reports {
        let Some(report) = report else { continue };
        let view = report.view(&query);
        let Some(t) = view.types.first() else {
            continue;
        };
        let count = match name {
            Some(name) => match t.names.iter().find(|n| n.name == name) {
                Some(n) => counts(&mut n.minutes.iter()),
                None => continue,
            },
            // Names left out add up in the type's minutes; none left out, its names add up.
            None if t.names_left_out > 0 => counts(&mut t.minutes.iter()),
            None => counts(&mut t.names.iter().flat_map(|n| n.minutes.iter())),
        };
        found.push((*hour, count));
    }
    found
}

/// The charts of an hour, with the earlier hours of a comparison behind the counts, and
/// the comparison's link.
fn charts<'a>(
    board: &Board,
    minutes: impl Iterator<Item = &'a EventMinuteView> + Clone,
    earlier: &Comparison,
) -> Markup {
    let count = per_minute(minutes.clone().map(|m| (m.minute, m.count as f64)));
    let fail = per_minute(minutes.map(|m| (m.minute, m.fail as f64)));
    let running = board.running_minute();
    let earlier_counts: Vec<Series<'_>> = (earlier.earlier.iter())
        .map(|(hour, count)| Series {
            label: hour.label,
            values: count,
        })
        .collect();
    html! {
        div.charts {
            figure.chart-box { (bar_chart_compared("Events per minute", "count", &count, &earlier_counts, running)) }
            figure.chart-box.failures { (bar_chart_running("Failed events per minute", "count", &fail, running)) }
        }
        (comparison::toggle(board, earlier.on, earlier.earlier.len()))
    }
}

fn type_section(
    board: &Board,
    t: &EventTypeView,
    chosen: Option<&str>,
    sort: &str,
    earlier: &Comparison,
) -> Markup {
    let type_url = |extra: &[(&str, &str)]| {
        let mut params = vec![("type", t.type_.as_str())];
        params.extend_from_slice(extra);
        board.url(&params)
    };
    let name = chosen.and_then(|wanted| t.names.iter().find(|n| n.name == wanted));
    let mut rows: Vec<&EventNameView> = t.names.iter().collect();
    sort_rows(&mut rows, sort, |n| {
        (&n.name, n.count, n.fail, n.fail_percent, n.tps)
    });
    let left_out = rows_left_out(&mut rows, "names");
    let (rate_label, rate_hint) = rate_label(board);
    // Picking a name keeps the table's order and the comparison, and sorting keeps the
    // name picked.
    let kept_sort = [
        ("sort", board.sort_param()),
        ("compare", board.compare_param()),
    ];
    html! {
        nav.crumbs aria-label="Breadcrumb" {
            a href=(board.url(&kept_sort)) { "All types" }
            span.sep { "›" }
            @if let Some(n) = name {
                a href=(type_url(&kept_sort)) { (label(&t.type_)) }
                span.sep { "›" }
                span.current { (label(&n.name)) }
            } @else {
                span.current { (label(&t.type_)) }
            }
        }
        section.panel.detail {
            @if let Some(n) = name {
                h2 { (label(&n.name)) }
                div.stats {
                    (stat("Count", &format_count(n.count), false))
                    (stat("Failures", &format!("{} ({})", format_count(n.fail), format_percent(n.fail_percent)), n.fail_percent > UNHEALTHY_FAIL_PERCENT))
                    (stat_with_hint(rate_label, &format_rate(n.tps), false, Some(rate_hint)))
                }
                @match board.span {
                    Some(Span::Day(_)) => { (hourly_charts(&n.hours)) }
                    Some(_) => { (daily_section(board, EVENTS, &day_rows(&n.days))) }
                    None => { (charts(board, n.minutes.iter(), earlier)) }
                }
                div.message-lists {
                    @if !n.sample_message_id.is_empty() {
                        div { h3 { "Sample" } (message_link(&n.sample_message_id, &n.sample_message_id, "sample")) }
                    }
                    @if !n.fail_message_ids.is_empty() {
                        div {
                            h3 { (failed_heading(n.fail_message_ids.len(), n.fail)) }
                            @if (n.fail_message_ids.len() as u64) < n.fail { p.hint { (FAILED_SAMPLE_HINT) } }
                            ul.ids { @for id in &n.fail_message_ids { li { (message_link(id, id, "failed")) } } }
                        }
                    }
                }
            } @else {
                h2 { "Type " (label(&t.type_)) }
                div.stats {
                    (stat("Count", &format_count(t.count), false))
                    (stat("Failures", &format!("{} ({})", format_count(t.fail), format_percent(t.fail_percent)), t.fail_percent > UNHEALTHY_FAIL_PERCENT))
                    (stat_with_hint(rate_label, &format_rate(t.tps), false, Some(rate_hint)))
                }
                @match board.span {
                    Some(Span::Day(_)) => { (hourly_charts(&t.hours)) }
                    Some(_) => { (daily_section(board, EVENTS, &day_rows(&t.days))) }
                    None => { (charts(board, t.names.iter().flat_map(|n| n.minutes.iter()), earlier)) }
                }
            }
        }
        section.panel {
            h2 { "Names of " (label(&t.type_)) span.count { (t.names.len()) } }
            div.table-wrap {
                table.report.sortable {
                    thead { tr {
                        (sortable_header(&columns(board), sort, |key| type_url(&[("name", chosen.unwrap_or_default()), ("sort", key), ("compare", board.compare_param())])))
                        th title="a sample and failed messages, in LogView" { "Messages" }
                    } }
                    tbody {
                        @for n in &rows {
                            tr.unhealthy[n.fail_percent > UNHEALTHY_FAIL_PERCENT].selected[Some(n.name.as_str()) == chosen] {
                                td.name { a href=(type_url(&[("name", &n.name), ("sort", board.sort_param()), ("compare", board.compare_param())])) { (label(&n.name)) } }
                                (counts(n.count, n.fail, n.fail_percent, n.tps))
                                td.links {
                                    @if !n.sample_message_id.is_empty() { (message_link(&n.sample_message_id, "sample", "sample")) }
                                    @if let Some(first) = n.fail_message_ids.first() {
                                        (message_link(first, failed_label(n.fail_message_ids.len(), n.fail), "failed"))
                                    }
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
