//! The transaction board, `GET /t?domain=&hour=&ip=&type=&name=&sort=`: CAT's
//! Transaction report. First the types of a domain, then the names of a type, then one
//! name: count, failures, durations and percentiles, per-minute charts, its duration
//! distribution (CAT's power-of-two buckets) and links from sample, slowest and failed
//! message IDs to LogView.
//!
//! With `day=YYYYMMDD` instead of `hour=` it shows the whole UTC day (CAT's history mode,
//! [`crate::day`]): the same tables with the day's figures (percentiles of the union of
//! the hours, TPS over the day), and charts hour by hour instead of minute by minute.
//!
//! With `compare=on` the hour view of a type or a name also charts the same minutes a day
//! and a week earlier ([`crate::comparison`]).
//!
//! Columns sort on the server (`sort=`), so sorting needs no JavaScript. A type's
//! per-minute P95 is shown only when the type has one name: percentiles of different
//! names do not add up, and the view keeps only per-name histograms.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use maud::{html, Markup};
use ocelot_analyzer::{
    AnalyzerConfig, DurationBucketView, DurationFigures, Span, TransactionDateView, TransactionDay,
    TransactionHourView, TransactionMinuteView, TransactionNameView, TransactionReport,
    TransactionTypeView, ViewQuery,
};

use crate::board::{
    failed_heading, failed_label, format_count, format_ms, format_percent, format_rate, hour_slot,
    label, message_link, per_minute, rows_left_out, sort_key, sortable_header, stat,
    stat_with_hint, type_columns, Board, Column, Count, FormOrigin, Ms, Percent, Rate,
    FAILED_SAMPLE_HINT, NAME_KEY, UNHEALTHY_FAIL_PERCENT,
};
use crate::chart::{
    bar_chart_compared, bar_chart_running, hourly_bar_chart, hourly_line_chart, labelled_bar_chart,
    line_chart, Bar, Counted, Series, HOURS, MINUTES,
};
use crate::comparison::{self, earlier_reports, EarlierHour};
use crate::cpu::heavy;
use crate::daily::{daily_section, DayRow};
use crate::day::transaction_day;
use crate::error::{PageError, PageQuery};
use crate::folded_note::{folded_note, others_rows, FoldedReport};
use crate::layout::page;
use crate::links::Encoded;
use crate::selection::ReportParams;
use crate::state::AppState;

const PATH: &str = "/t";
const HEADING: &str = "Transactions";

/// The table columns that sort, in order; `sort=` takes a key. The names table adds a
/// last column of message links, which does not sort.
const COLUMNS: [Column; 14] = [
    Column {
        key: NAME_KEY,
        label: "Name",
        hint: "sort by name",
    },
    Column {
        key: "count",
        label: "Count",
        hint: "transactions",
    },
    Column {
        key: "fail",
        label: "Fail",
        hint: "failed transactions",
    },
    Column {
        key: "failPercent",
        label: "Fail %",
        hint: "failure rate",
    },
    Column {
        key: "min",
        label: "Min",
        hint: "shortest, ms",
    },
    Column {
        key: "avg",
        label: "Avg",
        hint: "mean, ms",
    },
    Column {
        key: "max",
        label: "Max",
        hint: "longest, ms",
    },
    Column {
        key: "p50",
        label: "P50",
        hint: "median, ms",
    },
    Column {
        key: "p90",
        label: "P90",
        hint: "90th percentile, ms",
    },
    Column {
        key: "p95",
        label: "P95",
        hint: "95th percentile, ms",
    },
    Column {
        key: "p99",
        label: "P99",
        hint: "99th percentile, ms",
    },
    Column {
        key: "p999",
        label: "P999",
        hint: "99.9th percentile, ms",
    },
    Column {
        key: "std",
        label: "Std",
        hint: "standard deviation, ms",
    },
    Column {
        key: "tps",
        label: TPS_LABEL,
        hint: TPS_HINT,
    },
];

/// The rate is the hour's count over the seconds it has run: an average, which lags a
/// change in traffic by up to an hour, so the label says so.
const TPS_LABEL: &str = "TPS (hour avg)";
const TPS_HINT: &str =
    "transactions per second, averaged over the hour (over the minutes run so far in the current hour)";
/// The same on a day board.
const TPS_DAY_LABEL: &str = "TPS (day avg)";
const TPS_DAY_HINT: &str =
    "transactions per second, averaged over the day (over the hours run so far today)";
/// The same on a week's or a month's board, whose rate is over the days with data only
/// (`ocelot_analyzer::TransactionDay::span_view`): the label says so, since "week avg"
/// would read as over all seven days.
const TPS_DAYS_LABEL: &str = "TPS (avg over days with data)";
const TPS_DAYS_HINT: &str =
    "transactions per second, averaged over the days with data (today up to now): days without any, before the domain began sending or past the store's retention, are left out";

/// The rate's label and tooltip on `board`.
fn tps_label(board: &Board) -> (&'static str, &'static str) {
    match board.span {
        None => (TPS_LABEL, TPS_HINT),
        Some(Span::Day(_)) => (TPS_DAY_LABEL, TPS_DAY_HINT),
        Some(Span::Week(_) | Span::Month(_)) => (TPS_DAYS_LABEL, TPS_DAYS_HINT),
    }
}

/// [`COLUMNS`] as `board` labels them (the rate is a day's average on a day board).
fn columns(board: &Board) -> [Column; 14] {
    let mut columns = COLUMNS;
    let (label, hint) = tps_label(board);
    if let Some(tps) = columns.last_mut() {
        *tps = Column {
            key: tps.key,
            label,
            hint,
        };
    }
    columns
}

/// The routes of this module.
pub(crate) fn routes() -> Router<AppState> {
    Router::new().route(PATH, get(transaction_board))
}

async fn transaction_board(
    State(state): State<AppState>,
    PageQuery(params): PageQuery<ReportParams>,
    PageQuery(origin): PageQuery<FormOrigin>,
) -> Result<(StatusCode, Markup), PageError> {
    let params = origin.apply(params);
    let board = Board::resolve_with_days(&state, &params, PATH).await?;
    let compare = params.compare()?;
    if let Some(span) = board.span {
        return day_board(&state, &board, &params, span).await;
    }
    // Only what this page shows (one machine, one type) is copied from a live report.
    let fetch = |domain: String, hour: u64| {
        let (ip, type_) = (board.ip.clone(), params.type_().map(str::to_owned));
        state.reports.transaction_for(domain, hour, ip, type_)
    };
    let report = if board.has_domain() {
        fetch(board.domain.clone(), board.hour).await
    } else {
        None
    };
    // Only a type's or a name's charts compare.
    let earlier = if compare && report.is_some() && params.type_().is_some() {
        earlier_reports(&board, fetch).await
    } else {
        Vec::new()
    };
    let (status, body) = match (report.as_ref(), board.has_domain()) {
        (None, true) => match board.unreadable(&state, HEADING, "transaction").await {
            Some(unreadable) => unreadable,
            None => lacks_transactions(&state, &board, &params).await?,
        },
        _ => heavy(|| {
            let config = state.reports.analyzer_config();
            let earlier = Comparison::of(&board, &params, compare, &earlier);
            render(&board, &params, config, report.as_deref(), &earlier)
        })?,
    };
    Ok((status, page(&board.title(HEADING), PATH, body)))
}

/// A domain that sent only events, say: not an error, and others may have some.
async fn lacks_transactions(
    state: &AppState,
    board: &Board,
    params: &ReportParams,
) -> Result<(StatusCode, Markup), PageError> {
    sort_key(params, &COLUMNS, "count")?;
    let others = board
        .domains_with(|domain, hour| state.reports.transaction(domain, hour))
        .await;
    let body = html! {
        (board.controls(HEADING, None, false))
        (board.lacks("No transactions", "transactions", html! {}, &others))
    };
    Ok((StatusCode::OK, body))
}

/// The board of a whole day (week, month): its hours merged, as the page shows them (one
/// machine, one type).
async fn day_board(
    state: &AppState,
    board: &Board,
    params: &ReportParams,
    span: Span,
) -> Result<(StatusCode, Markup), PageError> {
    sort_key(params, &COLUMNS, "count")?;
    let (merged, unreadable) = if board.has_domain() {
        let merged = transaction_day(
            state,
            &board.domain,
            span,
            &board.period_hours,
            board.ip.as_deref(),
            params.type_(),
        )
        .await;
        let day = Some(merged.day).filter(|merged| !merged.hours().is_empty());
        (day, merged.unreadable_hours)
    } else {
        (None, Vec::new())
    };
    if merged.is_none() && !unreadable.is_empty() {
        let (status, body) = board.unreadable_span(HEADING, "transaction", &unreadable);
        return Ok((status, page(&board.title(HEADING), PATH, body)));
    }
    let (status, body) = match (merged.as_ref(), board.has_domain()) {
        (None, true) => lacks_transactions(state, board, params).await?,
        _ => heavy(|| {
            let config = state.reports.analyzer_config();
            render_day(board, params, config, merged.as_deref())
        })?,
    };
    let note = board.unreadable_hours_note("transaction", &unreadable);
    let body = html! { (note) (body) };
    Ok((status, page(&board.title(HEADING), PATH, body)))
}

/// A day board's body (status and markup), for the handler and the render benchmark.
pub(crate) fn render_day(
    board: &Board,
    params: &ReportParams,
    config: &AnalyzerConfig,
    day: Option<&TransactionDay>,
) -> Result<(StatusCode, Markup), PageError> {
    let sort = sort_key(params, &COLUMNS, "count")?;
    let Some(day) = day.filter(|_| board.has_domain()) else {
        return Ok(board.empty(HEADING));
    };
    let query = board_query(board, params);
    let (folded, ips, types) = match day.span() {
        Span::Day(_) => {
            let view = day.view(&query);
            (view.folded, view.ips, view.types)
        }
        _ => {
            let view = day.span_view(&query);
            (view.folded, view.head.ips, view.types)
        }
    };
    Ok(body_of(
        board,
        params,
        sort,
        config,
        folded,
        &ips,
        &types,
        &Comparison::default(),
    ))
}

/// The board's body (status and markup), for the handler and the render benchmark; the
/// charts of a type or a name draw the `earlier` hours' series too.
pub(crate) fn render(
    board: &Board,
    params: &ReportParams,
    config: &AnalyzerConfig,
    report: Option<&TransactionReport>,
    earlier: &Comparison,
) -> Result<(StatusCode, Markup), PageError> {
    let sort = sort_key(params, &COLUMNS, "count")?;
    let Some(report) = report.filter(|_| board.has_domain()) else {
        return Ok(board.empty(HEADING));
    };
    let view = report.view(&board_query(board, params));
    Ok(body_of(
        board,
        params,
        sort,
        config,
        view.folded,
        &view.ips,
        &view.types,
        earlier,
    ))
}

/// What a board views of a report or a day: its machine and type, every name (a board
/// sorted by another column shows the top of that column), and the distribution of the
/// name picked.
fn board_query<'a>(board: &'a Board, params: &'a ReportParams) -> ViewQuery<'a> {
    ViewQuery {
        ip: board.ip.as_deref(),
        type_: params.type_(),
        elapsed_seconds: board.elapsed_seconds,
        keep_name: params.name(),
        ..ViewQuery::default()
    }
}

/// An hour's or a day's board from its view's machines and types, and its count of
/// transactions folded into `OTHERS` with the caps they were counted under.
#[expect(
    clippy::too_many_arguments,
    reason = "the parts of one page, each used once"
)]
fn body_of(
    board: &Board,
    params: &ReportParams,
    sort: &str,
    config: &AnalyzerConfig,
    folded: u64,
    ips: &[String],
    types: &[TransactionTypeView],
    earlier: &Comparison,
) -> (StatusCode, Markup) {
    if !board.knows_machine(ips) {
        return board.unknown_machine(HEADING, ips, true);
    }
    let controls = board.controls(HEADING, Some(ips), true);
    let rows = others_rows(
        board,
        ips,
        types.iter().map(|t| (t.type_.as_str(), t.names.as_slice())),
        |n| &n.name,
    );
    let note = folded_note(board, config, FoldedReport::Transactions, folded, &rows);
    let body = types_or_type(board, params, types, sort, earlier);
    (StatusCode::OK, html! { (controls) (note) (body) })
}

/// The types table, or the type (and name) asked for.
fn types_or_type(
    board: &Board,
    params: &ReportParams,
    types: &[TransactionTypeView],
    sort: &str,
    earlier: &Comparison,
) -> Markup {
    match (params.type_(), params.name()) {
        (None, _) => types_section(board, types, sort),
        (Some(type_), name) => match types.first() {
            Some(t) => type_section(board, t, name, sort, earlier),
            None => html! {
                section.empty-state {
                    h2 { "No transactions of type “" (type_) "”" }
                    p { a href=(board.url(&[])) { "Show every type" } }
                }
            },
        },
    }
}

fn sort_figures<T>(rows: &mut [T], sort: &str, figures: impl Fn(&T) -> (&str, &DurationFigures)) {
    let key = |row: &T| -> f64 {
        let (_, f) = figures(row);
        match sort {
            "fail" => f.fail as f64,
            "failPercent" => f.fail_percent,
            "min" => f.min,
            "avg" => f.avg,
            "max" => f.max,
            "p50" => f.p50,
            "p90" => f.p90,
            "p95" => f.p95,
            "p99" => f.p99,
            "p999" => f.p999,
            "std" => f.std,
            "tps" => f.tps,
            _ => f.count as f64,
        }
    };
    if sort == NAME_KEY {
        rows.sort_by(|a, b| figures(a).0.cmp(figures(b).0));
    } else {
        rows.sort_by(|a, b| {
            key(b)
                .total_cmp(&key(a))
                .then_with(|| figures(a).0.cmp(figures(b).0))
        });
    }
}

fn figure_cells(f: &DurationFigures) -> Markup {
    html! {
        td.num { (Count(f.count)) }
        td.num.fail[f.fail > 0] { (Count(f.fail)) }
        td.num.fail[f.fail_percent > UNHEALTHY_FAIL_PERCENT] { (Percent(f.fail_percent)) }
        td.num { (Ms(f.min)) }
        td.num { (Ms(f.avg)) }
        td.num { (Ms(f.max)) }
        td.num { (Ms(f.p50)) }
        td.num { (Ms(f.p90)) }
        td.num.p95 { (Ms(f.p95)) }
        td.num { (Ms(f.p99)) }
        td.num { (Ms(f.p999)) }
        td.num { (Ms(f.std)) }
        td.num { (Rate(f.tps)) }
    }
}

fn types_section(board: &Board, types: &[TransactionTypeView], sort: &str) -> Markup {
    let mut types: Vec<&TransactionTypeView> = types.iter().collect();
    sort_figures(&mut types, sort, |t| (t.type_.as_str(), &t.figures));
    // Types are client data too: a hundred per machine make ~100 000 over "All" machines.
    let type_count = types.len();
    let left_out = rows_left_out(&mut types, "types");
    let columns = type_columns(columns(board));
    let per = board.series_word();
    html! {
        section.panel {
            h2 { "Types" span.count { (type_count) } }
            p.hint { "Durations in milliseconds. Pick a type to see its names and " (per) " charts." }
            div.table-wrap {
                table.report.sortable {
                    thead { tr { (sortable_header(&columns, sort, |key| board.url(&[("sort", key)]))) } }
                    tbody {
                        @for t in &types {
                            tr.unhealthy[t.figures.fail_percent > UNHEALTHY_FAIL_PERCENT] {
                                td.name { a href=(board.url(&[("type", &t.type_), ("sort", board.sort_param()), ("compare", board.compare_param())])) { (label(&t.type_)) } }
                                (figure_cells(&t.figures))
                            }
                        }
                    }
                }
            }
            @if let Some(note) = left_out { (note) }
        }
    }
}

fn type_section(
    board: &Board,
    t: &TransactionTypeView,
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
    // Picking a name keeps the table's order and the comparison, and sorting keeps the
    // name picked.
    let kept_sort = [
        ("sort", board.sort_param()),
        ("compare", board.compare_param()),
    ];
    // One prefix for every row's link: `type_url` per row would re-encode the same domain,
    // hour and type 10 000 times on a big board.
    let name_url_prefix = format!("{}&name=", type_url(&kept_sort));
    let mut names: Vec<&TransactionNameView> = t.names.iter().collect();
    sort_figures(&mut names, sort, |n| (n.name.as_str(), &n.figures));
    let left_out = rows_left_out(&mut names, "names");
    html! {
        nav.crumbs aria-label="Breadcrumb" {
            a href=(board.url(&kept_sort)) { "All types" }
            span.sep { "›" }
            @if name.is_some() {
                a href=(type_url(&kept_sort)) { (label(&t.type_)) }
                span.sep { "›" }
                span.current { (chosen.unwrap_or_default()) }
            } @else {
                span.current { (label(&t.type_)) }
            }
        }
        @match (chosen, name) {
            (Some(_), Some(n)) => { (name_detail(board, n, earlier)) (distribution_panel(board, n)) }
            (Some(wanted), None) => {
                section.empty-state {
                    h2 { "No name “" (wanted) "” in type “" (label(&t.type_)) "”" }
                }
            }
            (None, _) => { (type_detail(board, t, earlier)) }
        }
        section.panel {
            h2 { "Names of " (label(&t.type_)) span.count { (t.names.len()) } }
            p.hint {
                "Durations in milliseconds. Pick a name for its "
                (board.series_word())
                " charts; message links open LogView."
            }
            div.table-wrap {
                table.report.sortable {
                    thead { tr {
                        (sortable_header(&columns(board), sort, |key| type_url(&[("name", chosen.unwrap_or_default()), ("sort", key), ("compare", board.compare_param())])))
                        th title="a sample, the slowest and failed messages, in LogView" { "Messages" }
                    } }
                    tbody {
                        @for n in &names {
                            @let selected = Some(n.name.as_str()) == chosen;
                            tr.unhealthy[n.figures.fail_percent > UNHEALTHY_FAIL_PERCENT].selected[selected] {
                                td.name { a href={ (name_url_prefix) (Encoded(&n.name)) } { (label(&n.name)) } }
                                (figure_cells(&n.figures))
                                td.links { (message_links(n)) }
                            }
                        }
                    }
                }
            }
            @if let Some(note) = left_out { (note) }
        }
    }
}

fn message_links(n: &TransactionNameView) -> Markup {
    html! {
        @if !n.sample_message_id.is_empty() { (message_link(&n.sample_message_id, "sample", "sample")) }
        @if !n.slowest_message_id.is_empty() { (message_link(&n.slowest_message_id, "slowest", "slowest")) }
        @if let Some(first) = n.fail_message_ids.first() {
            (message_link(first, failed_label(n.fail_message_ids.len(), n.figures.fail), "failed"))
        }
    }
}

fn stats(board: &Board, f: &DurationFigures) -> Markup {
    let (tps_label, tps_hint) = tps_label(board);
    html! {
        div.stats {
            (stat("Count", &format_count(f.count), false))
            (stat("Failures", &format!("{} ({})", format_count(f.fail), format_percent(f.fail_percent)), f.fail_percent > UNHEALTHY_FAIL_PERCENT))
            (stat("Avg", &format!("{} ms", format_ms(f.avg)), false))
            (stat("P95", &format!("{} ms", format_ms(f.p95)), false))
            (stat("P99", &format!("{} ms", format_ms(f.p99)), false))
            (stat("Max", &format!("{} ms", format_ms(f.max)), false))
            (stat_with_hint(tps_label, &format_rate(f.tps), false, Some(tps_hint)))
        }
    }
}

/// Per-minute count, failures, mean and P95 of the given minutes.
struct MinuteSeries {
    count: Vec<f64>,
    fail: Vec<f64>,
    avg: Vec<f64>,
    p95: Option<Vec<f64>>,
}

fn series_of(names: &[&TransactionNameView]) -> MinuteSeries {
    let mut series = minute_series(names.iter().flat_map(|n| n.minutes.iter()));
    series.p95 = match names {
        [one] => {
            let mut p95 = vec![f64::NAN; MINUTES];
            for m in &one.minutes {
                if let Some(slot) = p95.get_mut(usize::from(m.minute)) {
                    *slot = m.p95;
                }
            }
            Some(p95)
        }
        _ => None,
    };
    series
}

/// Per-minute count, failures and mean of minute rows (rows of one minute add up), no P95.
fn minute_series<'a>(
    minutes: impl Iterator<Item = &'a TransactionMinuteView> + Clone,
) -> MinuteSeries {
    let count = per_minute(minutes.clone().map(|m| (m.minute, m.count as f64)));
    let fail = per_minute(minutes.clone().map(|m| (m.minute, m.fail as f64)));
    let total_ms = per_minute(minutes.map(|m| (m.minute, m.avg * m.count as f64)));
    // A minute without transactions has no duration: a gap in the line, not a 0.
    let avg = total_ms
        .iter()
        .zip(&count)
        .map(|(sum, n)| if *n > 0.0 { sum / n } else { f64::NAN })
        .collect();
    MinuteSeries {
        count,
        fail,
        avg,
        p95: None,
    }
}

/// What the charts of a type or a name compare the hour with ([`crate::comparison`]):
/// whether the comparison is on, and the series of each earlier hour that has the type
/// (and name) on the machine shown.
#[derive(Default)]
pub(crate) struct Comparison {
    on: bool,
    earlier: Vec<(EarlierHour, MinuteSeries)>,
}

impl Comparison {
    /// The comparison of `board`'s type or name with the `earlier` hours' reports (fetched
    /// as the hour's, for the same machine and type); off unless `on`.
    fn of(
        board: &Board,
        params: &ReportParams,
        on: bool,
        earlier: &[(EarlierHour, Option<Arc<TransactionReport>>)],
    ) -> Comparison {
        let earlier = (earlier.iter())
            .filter_map(|(hour, report)| {
                Some((*hour, earlier_series(board, params, report.as_deref()?)?))
            })
            .collect();
        Comparison { on, earlier }
    }
}

/// The series of the type (and name) `board` shows in an earlier hour's `report`, if it
/// has them.
fn earlier_series(
    board: &Board,
    params: &ReportParams,
    report: &TransactionReport,
) -> Option<MinuteSeries> {
    // Only the name shown gets a view of its own: the others are added up into the type's
    // minutes, which the charts of a type read.
    let query = ViewQuery {
        max_names: Some(0),
        ..board_query(board, params)
    };
    let view = report.view(&query);
    let t = view.types.first()?;
    match params.name() {
        Some(name) => (t.names.iter())
            .find(|n| n.name == name)
            .map(|n| minute_series(n.minutes.iter())),
        // Names left out add up in the type's minutes; none left out, its names add up.
        None if t.names_left_out > 0 => Some(minute_series(t.minutes.iter())),
        None => Some(minute_series(t.names.iter().flat_map(|n| n.minutes.iter()))),
    }
}

/// Hourly count, failures, mean and P95 of a day's rows (a type's P95 is of all its names:
/// each hour's row is made from its own histograms), one slot per hour of the day.
fn series_of_hours(rows: &[TransactionHourView]) -> MinuteSeries {
    let mut series = MinuteSeries {
        count: vec![0.0; HOURS],
        fail: vec![0.0; HOURS],
        avg: vec![f64::NAN; HOURS],
        p95: Some(vec![f64::NAN; HOURS]),
    };
    for row in rows {
        let Some(slot) = hour_slot(&row.hour) else {
            continue;
        };
        series.count[slot] = row.count as f64;
        series.fail[slot] = row.fail as f64;
        series.avg[slot] = row.avg;
        if let Some(p95) = &mut series.p95 {
            p95[slot] = row.p95;
        }
    }
    series
}

/// A week's or month's rows as the daily section shows them.
fn day_rows(days: &[TransactionDateView]) -> Vec<DayRow<'_>> {
    days.iter()
        .map(|d| DayRow {
            day: &d.day,
            count: d.count,
            fail: Some(d.fail),
            durations: Some((d.avg, d.p95)),
        })
        .collect()
}

/// The charts of a day: [`charts`] hour by hour.
fn hourly_charts(series: &MinuteSeries) -> Markup {
    let durations: Vec<Series<'_>> = [("avg", Some(&series.avg)), ("P95", series.p95.as_ref())]
        .into_iter()
        .filter_map(|(label, values)| {
            Some(Series {
                label,
                values: values?,
            })
        })
        .collect();
    html! {
        div.charts {
            figure.chart-box { (hourly_bar_chart("Transactions per hour", "count", &series.count)) }
            figure.chart-box { (hourly_line_chart("Duration per hour", "ms", &durations)) }
            figure.chart-box.failures { (hourly_bar_chart("Failures per hour", "count", &series.fail)) }
        }
    }
}

/// The charts of an hour, with the earlier hours of a comparison: their counts behind
/// the counts, their means behind the durations (their P95 would crowd the chart).
fn charts(series: &MinuteSeries, earlier: &Comparison, running: Option<usize>) -> Markup {
    let mut durations = vec![Series {
        label: "avg",
        values: &series.avg,
    }];
    if let Some(p95) = &series.p95 {
        durations.push(Series {
            label: "P95",
            values: p95,
        });
    }
    let earlier_counts: Vec<Series<'_>> = (earlier.earlier.iter())
        .map(|(hour, series)| Series {
            label: hour.label,
            values: &series.count,
        })
        .collect();
    let avg_labels: Vec<String> = (earlier.earlier.iter())
        .map(|(hour, _)| format!("avg {}", hour.label))
        .collect();
    let earlier_avgs: Vec<Series<'_>> = (earlier.earlier.iter().zip(&avg_labels))
        .map(|((_, series), label)| Series {
            label,
            values: &series.avg,
        })
        .collect();
    html! {
        div.charts {
            figure.chart-box { (bar_chart_compared("Transactions per minute", "count", &series.count, &earlier_counts, running)) }
            figure.chart-box { (line_chart("Duration per minute", "ms", &durations, &earlier_avgs, running)) }
            figure.chart-box.failures { (bar_chart_running("Failures per minute", "count", &series.fail, running)) }
        }
    }
}

/// The comparison's link under an hour's charts; nothing on a day's.
fn compare_toggle(board: &Board, earlier: &Comparison) -> Markup {
    if board.span.is_some() {
        return html! {};
    }
    comparison::toggle(board, earlier.on, earlier.earlier.len())
}

fn type_detail(board: &Board, t: &TransactionTypeView, earlier: &Comparison) -> Markup {
    let names: Vec<&TransactionNameView> = t.names.iter().collect();
    html! {
        section.panel.detail {
            h2 { "Type " (label(&t.type_)) }
            (stats(board, &t.figures))
            @match board.span {
                Some(Span::Day(_)) => { (hourly_charts(&series_of_hours(&t.hours))) }
                Some(_) => { (daily_section(board, Counted::TRANSACTIONS, &day_rows(&t.days))) }
                None => { (charts(&series_of(&names), earlier, board.running_minute())) }
            }
            (compare_toggle(board, earlier))
            @if names.len() > 1 && board.span.is_none() {
                p.hint { "Per-minute P95 is shown per name: pick a name below." }
            }
        }
    }
}

/// The bars of a distribution from its first to its last bucket with transactions: tick
/// labels `≤1` ... `≤65,536`, `>65,536` (ms), and tooltips that say the whole range.
fn distribution_bars(buckets: &[DurationBucketView]) -> Vec<(String, String, f64)> {
    let first = buckets.iter().position(|b| b.count > 0);
    let last = buckets.iter().rposition(|b| b.count > 0);
    let (Some(first), Some(last)) = (first, last) else {
        return Vec::new();
    };
    // The bound of the bucket before: what a bucket's durations are over.
    let mut below: Option<u64> = first
        .checked_sub(1)
        .and_then(|before| buckets[before].up_to_ms);
    let mut bars = Vec::with_capacity(last + 1 - first);
    for bucket in &buckets[first..=last] {
        let ms = |bound: Option<u64>| format_count(bound.unwrap_or(0));
        let (label, tooltip) = match (below, bucket.up_to_ms) {
            (None, up_to @ Some(_)) => {
                (format!("≤{}", ms(up_to)), format!("up to {} ms", ms(up_to)))
            }
            (Some(_), up_to @ Some(_)) => (
                format!("≤{}", ms(up_to)),
                format!("over {} ms, up to {} ms", ms(below), ms(up_to)),
            ),
            (_, None) => (format!(">{}", ms(below)), format!("over {} ms", ms(below))),
        };
        bars.push((label, tooltip, bucket.count as f64));
        below = bucket.up_to_ms.or(below);
    }
    bars
}

/// CAT's duration distribution of the name picked: a bar per power-of-two bucket, from
/// the first to the last one with transactions.
fn distribution_panel(board: &Board, n: &TransactionNameView) -> Markup {
    let bars = distribution_bars(&n.distribution);
    let bars: Vec<Bar<'_>> = bars
        .iter()
        .map(|(label, tooltip, value)| Bar {
            label,
            tooltip,
            value: *value,
        })
        .collect();
    html! {
        section.panel #duration-distribution {
            h2 { "Duration distribution" }
            @if bars.is_empty() {
                p.hint { "No durations recorded this " (board.unit()) "." }
            } @else {
                p.hint {
                    "Transactions by how long they took, in CAT's buckets: ≤4 counts those over 2 ms and up to 4 ms, >65,536 those over 65,536 ms. "
                    "Counted from the duration histogram (1 % buckets): one less than 2 % over a bound may count under it."
                }
                div.charts.one {
                    figure.chart-box { (labelled_bar_chart("Transactions by duration in ms", Counted::TRANSACTIONS, &bars)) }
                }
            }
        }
    }
}

fn name_detail(board: &Board, n: &TransactionNameView, earlier: &Comparison) -> Markup {
    html! {
        section.panel.detail #name-detail {
            h2 { (label(&n.name)) }
            (stats(board, &n.figures))
            @match board.span {
                Some(Span::Day(_)) => { (hourly_charts(&series_of_hours(&n.hours))) }
                Some(_) => { (daily_section(board, Counted::TRANSACTIONS, &day_rows(&n.days))) }
                None => { (charts(&series_of(&[n]), earlier, board.running_minute())) }
            }
            (compare_toggle(board, earlier))
            div.message-lists {
                @if !n.sample_message_id.is_empty() {
                    div { h3 { "Sample" } (message_link(&n.sample_message_id, &n.sample_message_id, "sample")) }
                }
                @if !n.slowest_message_id.is_empty() {
                    div { h3 { "Slowest" } (message_link(&n.slowest_message_id, &n.slowest_message_id, "slowest")) }
                }
                @if !n.fail_message_ids.is_empty() {
                    div {
                        h3 { (failed_heading(n.fail_message_ids.len(), n.figures.fail)) }
                        @if (n.fail_message_ids.len() as u64) < n.figures.fail { p.hint { (FAILED_SAMPLE_HINT) } }
                        ul.ids {
                            @for id in &n.fail_message_ids { li { (message_link(id, id, "failed")) } }
                        }
                    }
                }
                @if !n.status_codes.is_empty() {
                    div {
                        h3 { "Failure statuses" }
                        table.compact {
                            @for (status, count) in &n.status_codes {
                                tr { td { code { (status) } } td.num { (format_count(*count)) } }
                            }
                        }
                    }
                }
            }
        }
    }
}
