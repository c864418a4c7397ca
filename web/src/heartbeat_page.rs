//! The heartbeat page, `GET /h?domain=&hour=&ip=`: one machine's heartbeats, a per-minute
//! chart for every series its clients report (CPU, memory, threads, the SDK's own
//! counters). Heartbeats of different machines do not add up, so "All machines" is not a
//! merged chart but a table of the machines (below).
//!
//! Clients report levels (memory, threads) and running totals (GC count, CPU time, bytes
//! sent) alike, without saying which is which. A total drawn as is would be a ramp that
//! says nothing, so the totals CAT's clients and ours are known to send (GC counts and
//! times, threads started, process CPU time, messages produced, our SDK's counters: see
//! [`kind_of`]) are drawn as their increase per minute ("/min"), and CPU time as the CPU %
//! of one core. Every other series is drawn as it is. The trend is no guide: a heap or a
//! disk may well only grow for an hour and is still a level, and drawn as a rate it would
//! hide how full it is. CAT's server decides the same way, from a list of the metrics to
//! take the delta of, and shows the rest as reported. The process's start time and uptime
//! are not charted (a date, and a line that rises by a minute every minute); the start
//! time is written as a date instead.
//!
//! Series in bytes (memory, disk space, anything named `bytes`) are charted in the binary
//! unit their largest value reaches (KiB, MiB, GiB). System series (CPU, memory, threads,
//! GC, disk) come first; series that are 0 all hour are listed in a line instead of
//! charted. In the current hour, "/min" charts leave out the running minute: its increase
//! so far is a part of a minute's and would read as a drop.
//!
//! A machine whose heartbeats could not be read (XML that is not well-formed) says how
//! many, rather than that it sent none.
//!
//! Without `ip`, a domain of more than one machine gets a table of its machines instead:
//! when each was last heard, whether it went silent, and its latest CPU, memory, threads
//! and GC time, silent machines first, each linking to its own charts. An on-call engineer
//! with twenty machines asks "which one is down?" before "what did this one do?". A domain
//! of one machine shows its charts at once, as there is nothing to pick. In the current
//! hour, machines heard in the hour before but not yet in this one are listed too, silent
//! with when they were last heard, as the alerts watch them: just after the hour, a machine
//! that had stopped would otherwise drop off the table while its alert still fires. Picked,
//! such a machine's page says it sent nothing in this hour and links to the hour before.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use maud::{html, Markup};
use ocelot_analyzer::{hour_label, HeartbeatReport, ViewQuery, OTHERS};
use ocelot_protocol::MILLIS_PER_HOUR;

use crate::board::{build_url, format_amount, Board, FormOrigin, BYTE_UNITS};
use crate::chart::{grid_line_chart, Series, MINUTES};
use crate::cpu::heavy;
use crate::error::{PageError, PageQuery};
use crate::hour::hour_title;
use crate::layout::page;
use crate::selection::ReportParams;
use crate::state::AppState;
use crate::time::format_utc_ms;

const PATH: &str = "/h";
const HEADING: &str = "Heartbeats";

/// The routes of this module.
pub(crate) fn routes() -> Router<AppState> {
    Router::new().route(PATH, get(heartbeat_page))
}

async fn heartbeat_page(
    State(state): State<AppState>,
    PageQuery(params): PageQuery<ReportParams>,
    PageQuery(origin): PageQuery<FormOrigin>,
) -> Result<(StatusCode, Markup), PageError> {
    let params = origin.apply(params);
    let mut board = Board::resolve(&state, &params, PATH).await?;
    let report = board
        .report_of_first_with(params.domain().is_some(), |domain, hour| {
            state.reports.heartbeat(domain, hour)
        })
        .await;
    let running = running_minute(board.hour, state.reports.now_ms());
    // In the current hour, the hour before too: see `heard_only_before`. Without a report
    // of this hour, only for a domain asked for (the alert banner's links name it).
    let before = match running {
        Some(_) if report.is_some() || params.domain().is_some() => {
            hour_before(&state, &board).await
        }
        _ => None,
    };
    let report = match report {
        Some(report) => report,
        None => {
            // A stored report that cannot be read is said to be, not shown as no data.
            let unreadable = match board.has_domain() {
                true => board.unreadable(&state, HEADING, "heartbeat").await,
                false => None,
            };
            // A domain whose every machine went silent in the hour before has no report of
            // this hour yet: its overview is of those machines.
            let empty = HeartbeatReport::new(board.domain.clone(), board.hour);
            let silent_since_before =
                (before.as_ref()).is_some_and(|b| !heard_only_before(&empty, b).is_empty());
            match unreadable {
                None if silent_since_before => Arc::new(empty),
                unreadable => {
                    let (status, body) = unreadable.unwrap_or_else(|| board.empty(HEADING));
                    return Ok((status, page(&board.title(HEADING), PATH, body)));
                }
            }
        }
    };
    let carried = (before.as_ref())
        .map(|before| heard_only_before(&report, before))
        .unwrap_or_default();
    let view = heavy(|| {
        report.view(&ViewQuery {
            ip: board.ip.as_deref(),
            type_: None,
            elapsed_seconds: board.elapsed_seconds,
            max_names: None,
            keep_name: None,
        })
    });
    let mut machines = view.ips.clone();
    machines.extend(carried.iter().map(|(ip, _)| ip.clone()));
    machines.sort();
    // More than one machine, or one silent since the hour before: the picker offers them
    // all at once, the overview.
    let many = machines.len() > 1 || !carried.is_empty();
    if !board.knows_machine(&machines) {
        let (status, body) = board.unknown_machine(HEADING, &machines, many);
        return Ok((status, page(&board.title(HEADING), PATH, body)));
    }
    if many && board.ip.is_none() {
        let rows = heavy(|| machine_rows(&report, &carried, running));
        let body = html! {
            (board.controls(HEADING, Some(&machines), true))
            (machines_table(&board, &rows, running))
        };
        return Ok((StatusCode::OK, page(&board.title(HEADING), PATH, body)));
    }
    // A machine picked that was heard in the hour before only: the minute it last was.
    let last_before = (carried.iter())
        .find(|(ip, _)| *ip == view.ip)
        .map(|(_, minute)| *minute);
    let series = series_of(view.minutes.iter().map(|m| (m.minute, &m.values)));
    let charts = charts_of(&series, running);
    let zero: Vec<&str> = series
        .iter()
        .filter(|(name, values)| is_all_zero(values) && kind_of(name) != Kind::Hidden)
        .map(|(name, _)| *name)
        .collect();
    let started_ms = series.get(RUNTIME_START_TIME).and_then(|v| last_value(v));
    let malformed = report.malformed_of(&view.ip);
    let body = html! {
        (board.controls(HEADING, Some(&machines), many))
        @if series.is_empty() {
            section.empty-state {
                @if let Some(minute) = last_before {
                    (sent_nothing_this_hour(&board, &view.ip, minute, running))
                } @else if malformed > 0 {
                    h2 { "Heartbeats not read" }
                    p { (malformed_note(malformed)) }
                } @else if !view.minutes.is_empty() {
                    h2 { "No numbers" }
                    p {
                        "The heartbeats of the machine " code { (view.ip) }
                        " in this hour hold no number to chart."
                    }
                } @else {
                    h2 { "No heartbeats" }
                    p { "The machine " code { (view.ip) } " sent no heartbeat in this hour." }
                }
            }
        } @else {
            section.panel {
                h2 { "Machine " code { (view.ip) } span.count { (series.len()) " series" } }
                @if let Some(started_ms) = started_ms {
                    p.hint.started { "Process started " (format_utc_ms(started_ms)) "." }
                }
                @if let Some(silent) = silence(view.minutes.last().map(|m| m.minute), running) {
                    p.notice.unreadable.silent role="alert" {
                        "No heartbeat since " (format!("{:02}:{:02}", board.hour % 24, silent.last_minute))
                        " UTC (" (silent.minutes) " minutes): the machine may be down, or its client stopped sending. "
                        "A CAT client sends one a minute."
                    }
                }
                @if malformed > 0 {
                    p.hint.malformed { (malformed_note(malformed)) }
                }
                p.hint {
                    "The last value each minute; minutes without a heartbeat are gaps. "
                    "Running totals (GC, threads started, CPU time, messages sent) are shown "
                    "as their increase per minute (/min), other series as reported."
                    @if running.is_some() {
                        " The running minute is left out of /min charts until it ends."
                    }
                }
                @if !zero.is_empty() {
                    p.hint.zero-series {
                        "0 all hour, not charted: "
                        @for (i, name) in zero.iter().enumerate() {
                            @if i > 0 { ", " }
                            code { (name) }
                        }
                        "."
                    }
                }
                div.charts.grid {
                    @for chart in &charts {
                        figure.chart-box {
                            (grid_line_chart(&chart.title, chart.unit, &[Series { label: &chart.title, values: &chart.values }]))
                        }
                    }
                }
            }
        }
    };
    Ok((StatusCode::OK, page(&board.title(HEADING), PATH, body)))
}

/// What the page says of `count` heartbeats of its machine that could not be read.
fn malformed_note(count: u64) -> String {
    let (heartbeats, their) = if count == 1 {
        ("heartbeat", "its")
    } else {
        ("heartbeats", "their")
    };
    format!(
        "{count} {heartbeats} from this machine could not be read in this hour: {their} XML \
         is not well-formed, so it is not CAT's <status> layout. /api/heartbeat counts such \
         heartbeats as malformed."
    )
}

/// The domain's heartbeat report of the hour before the board's (sealed or still open,
/// as the report source has it), if any.
async fn hour_before(state: &AppState, board: &Board) -> Option<Arc<HeartbeatReport>> {
    // A domain that cannot name a report (`/h?domain=../x`) has none: not asked, as the
    // store, asked for a sealed hour's, logs a warning and counts an unreadable report each
    // time, which any visitor could then do at will.
    if ocelot_protocol::names::domain_problem(&board.domain).is_some() {
        return None;
    }
    let hour = board.hour.checked_sub(1)?;
    state.reports.heartbeat(board.domain.clone(), hour).await
}

/// The machines of `before` (the report of the hour before the current one) that `report`
/// (the current hour's) has not heard yet, each with the minute of its last well-formed
/// heartbeat. The alerting watches every machine heard in the hour or the hour before, so
/// one that stopped sending late in an hour fires on into the next; were it left out
/// here, just after the hour the overview would show every machine sending while the
/// banner says one is silent. `OTHERS` (machines past the cap) is no machine to watch, and
/// one whose every heartbeat was malformed has no minute to be silent since: the alerting
/// leaves both out too.
fn heard_only_before(report: &HeartbeatReport, before: &HeartbeatReport) -> Vec<(String, u8)> {
    let heard_now: BTreeSet<&str> = report.ips().collect();
    before
        .ips()
        .filter(|ip| *ip != OTHERS && !heard_now.contains(ip))
        .filter_map(|ip| {
            let (minute, _) = before.minutes_of(ip).last()?;
            Some((ip.to_owned(), minute))
        })
        .collect()
}

/// `2026-11-22 06:29 UTC`: `minute` of `hour`, the date in full (a minute of another
/// hour than the one shown).
fn minute_title(hour: u64, minute: u8) -> String {
    let title = hour_title(hour);
    let hour_part = title.strip_suffix(":00 UTC").unwrap_or(&title);
    format!("{hour_part}:{minute:02} UTC")
}

/// The page of this hour's heartbeats of machine `ip`, heard in the hour before (last at
/// its `minute`) and not in this one: not an unknown machine, a silent one, with the way
/// to its heartbeats of that hour.
fn sent_nothing_this_hour(board: &Board, ip: &str, minute: u8, running: Option<usize>) -> Markup {
    let Some(before) = board.hour.checked_sub(1) else {
        return html! {};
    };
    let last = minute_title(before, minute);
    html! {
        h2 { "No heartbeats in this hour" }
        @if let Some(silent) = silence_since_hour_before(minute, running) {
            p.notice.unreadable.silent role="alert" {
                "No heartbeat since " (last) " (" (silent.minutes) " minutes): the machine may be down, "
                "or its client stopped sending. A CAT client sends one a minute."
            }
        }
        p {
            "The machine " code { (ip) } " sent no heartbeat in this hour yet. It was last heard at "
            (last) ", in the hour before: "
            a href=(hour_before_url(board, before, ip)) { "its heartbeats of " (hour_title(before)) } "."
        }
    }
}

/// The heartbeats of machine `ip` in `hour` (the hour before the board's).
fn hour_before_url(board: &Board, hour: u64, ip: &str) -> String {
    build_url(
        PATH,
        &[
            ("domain", &board.domain),
            ("hour", &hour_label(hour)),
            ("ip", ip),
        ],
    )
}

/// A machine's series, name -> value per minute, from its minutes with a heartbeat (each
/// with its values); minutes without a heartbeat are gaps (NaN).
fn series_of<'a>(
    minutes: impl IntoIterator<Item = (u8, &'a BTreeMap<String, f64>)>,
) -> BTreeMap<&'a str, Vec<f64>> {
    let mut series: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for (minute, values) in minutes {
        for (name, value) in values {
            let values = series
                .entry(name)
                .or_insert_with(|| vec![f64::NAN; MINUTES]);
            if let Some(slot) = values.get_mut(usize::from(minute)) {
                *slot = *value;
            }
        }
    }
    series
}

/// A machine silent since its last heartbeat of the current hour.
#[derive(Debug, PartialEq)]
struct Silence {
    last_minute: u8,
    /// Whole minutes since then without one.
    minutes: usize,
}

/// Whether a machine stopped sending: in the current hour (`running`, the minute under
/// way), two whole minutes or more have ended since its last heartbeat (`last_minute`).
/// The charts end with gaps either way; this says it in words, as "is it alive?" is the
/// first question.
fn silence(last_minute: Option<u8>, running: Option<usize>) -> Option<Silence> {
    silence_after(last_minute?, running?)
}

/// [`silence`] of a machine last heard at `last_minute` of the hour before the current one
/// (`running` the minute under way in the current hour).
fn silence_since_hour_before(last_minute: u8, running: Option<usize>) -> Option<Silence> {
    silence_after(last_minute, running? + MINUTES)
}

/// [`silence`] with `running` counted from the start of the hour of `last`.
fn silence_after(last: u8, running: usize) -> Option<Silence> {
    let ended_since = running.checked_sub(usize::from(last) + 1)?;
    (ended_since >= 2).then_some(Silence {
        last_minute: last,
        minutes: ended_since,
    })
}

/// One machine of the overview.
#[derive(Debug)]
struct MachineRow {
    ip: String,
    /// The minute of its last well-formed heartbeat; `None` if every one was malformed.
    last_minute: Option<u8>,
    /// Whether `last_minute` is of the hour before (the machine has not been heard in this
    /// one): see [`heard_only_before`].
    in_hour_before: bool,
    silence: Option<Silence>,
    /// Its heartbeats that could not be read.
    malformed: u64,
    /// One per [`FIGURE_COLUMNS`]: `None` when no series of the machine gives it.
    figures: [Option<Figure>; 4],
}

/// A machine's latest value of one key figure, as written in the table, and the chart it
/// comes from (its tooltip: clients name their series differently).
#[derive(Debug, PartialEq)]
struct Figure {
    text: String,
    from: String,
}

/// The key figures of the overview: its heading and tooltip.
const FIGURE_COLUMNS: [(&str, &str); 4] = [
    (
        "CPU",
        "The process's CPU time as the % of one core, else the load average",
    ),
    (
        "Memory",
        "Heap used (Java), else the process's resident memory, else the system's memory used",
    ),
    ("Threads", "Live threads"),
    (
        "GC time",
        "Time spent in garbage collection per minute, every collector added up",
    ),
];

/// Series that give the CPU figure, best first: CPU time (drawn as CPU %), then a load
/// average (the Java client's, the C client's).
const CPU_SERIES: [&str; 5] = [
    "system.process.cpu.time.ms",
    "os.process-time",
    "os.system-load-average",
    "system.process.load.1min",
    "system.process.system.load.average",
];
/// Series that give the memory figure, best first: the Java heap used, our SDK's resident
/// memory, the C client's share of the system's memory used.
const MEMORY_SERIES: [&str; 3] = [
    "memory.heap-usage",
    "system.process.memory.rss.bytes",
    "system.process.mem.memused.percent",
];
/// Series that give the threads figure, best first: the Java client's, our SDK's.
const THREAD_SERIES: [&str; 2] = ["thread.count", "system.process.threads"];

/// The overview's rows: every machine of `report`, and those of `carried` (heard in the
/// hour before only, each with its last minute then: no figures of this hour), silent ones
/// first (see [`silence`]), then by IP (numerically: `10.0.0.9` before `10.0.0.10`).
fn machine_rows(
    report: &HeartbeatReport,
    carried: &[(String, u8)],
    running: Option<usize>,
) -> Vec<MachineRow> {
    let mut rows: Vec<MachineRow> = report
        .ips()
        .map(|ip| {
            let series = series_of(report.minutes_of(ip));
            let last_minute = report.minutes_of(ip).last().map(|(minute, _)| minute);
            MachineRow {
                ip: ip.to_owned(),
                last_minute,
                in_hour_before: false,
                silence: silence(last_minute, running),
                malformed: report.malformed_of(ip),
                figures: figures_of(&series, running),
            }
        })
        .collect();
    rows.extend(carried.iter().map(|(ip, minute)| MachineRow {
        ip: ip.clone(),
        last_minute: Some(*minute),
        in_hour_before: true,
        silence: silence_since_hour_before(*minute, running),
        malformed: 0,
        figures: [None, None, None, None],
    }));
    rows.sort_by(|a, b| {
        (b.silence.is_some().cmp(&a.silence.is_some())).then_with(|| ip_order(&a.ip, &b.ip))
    });
    rows
}

/// IPs in numeric order, IPv4 before IPv6; anything else (`OTHERS`, where machines past
/// the cap are folded) after them, by text.
fn ip_order(a: &str, b: &str) -> std::cmp::Ordering {
    let parsed = |ip: &str| ip.parse::<std::net::IpAddr>().ok();
    match (parsed(a), parsed(b)) {
        (Some(x), Some(y)) => x.cmp(&y),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.cmp(b),
    }
}

/// A machine's key figures, in the order of [`FIGURE_COLUMNS`]: each the latest value of
/// the first of its series the machine sends (else of the first level series of its group
/// on the page, by name), drawn as its chart draws it; GC time is every collector's.
fn figures_of(series: &BTreeMap<&str, Vec<f64>>, running: Option<usize>) -> [Option<Figure>; 4] {
    let first = |preferred: &[&str], group_of: u8| {
        let fallback = series
            .keys()
            .filter(|name| group(name) == group_of && kind_of(name) == Kind::Level);
        preferred
            .iter()
            .filter(|name| series.contains_key(*name))
            .chain(fallback)
            .find_map(|name| latest(name, &series[name], running))
    };
    [
        first(&CPU_SERIES, 0),
        first(&MEMORY_SERIES, 1),
        first(&THREAD_SERIES, 2),
        gc_time(series, running),
    ]
}

/// The latest value of a series as its chart draws it (CPU time as CPU %, a total as its
/// increase per minute, bytes in a binary unit), with the chart's title; `None` for a
/// series not charted or without a value.
fn latest(name: &str, values: &[f64], running: Option<usize>) -> Option<Figure> {
    let chart = chart_of(name, values, running)?;
    let value = *chart.values.iter().rev().find(|v| v.is_finite())?;
    let (unit, value) = if counts_bytes(name) {
        let (unit, scaled) = in_byte_unit(&[value]);
        (unit, scaled[0])
    } else if chart.unit.is_empty() && words(name).any(|w| w == "percent") {
        ("%", value)
    } else {
        (chart.unit, value)
    };
    Some(Figure {
        text: with_unit(value, unit),
        from: chart.title,
    })
}

/// `10%`, `381.47 MiB`, `1.79`.
fn with_unit(value: f64, unit: &str) -> String {
    match unit {
        "" => format_amount(value),
        "%" => format!("{}%", format_amount(value)),
        unit => format!("{} {unit}", format_amount(value)),
    }
}

/// The time spent in GC per minute at the latest minute known, of every collector the
/// machine reports (the Java client's `memory.gc[ParNew].time` and
/// `memory.gc[ConcurrentMarkSweep].time`, the `GC` extension's `ParNewTime`) added up:
/// one collector alone would hide the others' pauses.
fn gc_time(series: &BTreeMap<&str, Vec<f64>>, running: Option<usize>) -> Option<Figure> {
    let mut total = None;
    let mut from = Vec::new();
    for (name, values) in series {
        if group(name) != 3 || kind_of(name) != (Kind::Total { unit: "ms" }) {
            continue;
        }
        if let Some(chart) = chart_of(name, values, running) {
            if let Some(value) = chart.values.iter().rev().find(|v| v.is_finite()) {
                total = Some(total.unwrap_or(0.0) + value);
                from.push(chart.title);
            }
        }
    }
    Some(Figure {
        text: format!("{}/min", with_unit(total?, "ms")),
        from: from.join(" + "),
    })
}

/// The overview of a domain's machines: one row each, linking to its charts.
fn machines_table(board: &Board, rows: &[MachineRow], running: Option<usize>) -> Markup {
    let silent = rows.iter().filter(|r| r.silence.is_some()).count();
    let any_before = rows.iter().any(|r| r.in_hour_before);
    let hour = board.hour % 24;
    html! {
        section.panel {
            h2 {
                "Machines" span.count { (rows.len()) " machines" }
                @if silent > 0 { " " span.badge.fail.silent-count { (silent) " silent" } }
            }
            p.hint {
                "Each machine's latest figures in this hour; open one for its charts. "
                @if running.is_some() {
                    "A machine is silent when two whole minutes have ended without a heartbeat from it "
                    "(a CAT client sends one a minute); silent machines come first."
                    @if any_before {
                        " Machines heard in the hour before but not yet in this one are listed too, "
                        "with when they were last heard: the alerts watch them as well."
                    }
                } @else {
                    "Silence is told in the current hour only."
                }
            }
            div.table-wrap {
                table.report.machines {
                    thead { tr {
                        th { "Machine" } th { "Last heard" } th { "State" }
                        @for (heading, hint) in FIGURE_COLUMNS {
                            th.num title=(hint) { (heading) }
                        }
                    } }
                    tbody {
                        @for row in rows {
                            tr.unhealthy[row.silence.is_some()] {
                                td.name { a href=(board.url(&[("ip", &row.ip)])) { (row.ip) } }
                                td.last-heard {
                                    @match (row.last_minute, board.hour.checked_sub(1)) {
                                        (Some(minute), Some(before)) if row.in_hour_before => {
                                            a href=(hour_before_url(board, before, &row.ip))
                                                title="In the hour before: open its heartbeats of that hour"
                                                { (minute_title(before, minute)) }
                                        }
                                        (Some(minute), _) => { (format!("{hour:02}:{minute:02}")) " UTC" }
                                        (None, _) => { span.muted { "—" } }
                                    }
                                }
                                td.state {
                                    @if let Some(silence) = &row.silence {
                                        span.badge.fail title={ "No heartbeat for " (silence.minutes) " minutes: the machine may be down, or its client stopped sending" } { "silent" }
                                    } @else if running.is_some() && row.last_minute.is_some() {
                                        span.badge.ok { "sending" }
                                    }
                                    @if row.malformed > 0 {
                                        " " span.badge.warn title=(malformed_note(row.malformed)) { (row.malformed) " not read" }
                                    }
                                }
                                @for figure in &row.figures {
                                    @match figure {
                                        Some(figure) => { td.num title=(figure.from) { (figure.text) } }
                                        None => { td.num { span.muted { "—" } } }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The minute of `hour` that is still running at `now_ms`, if `hour` is the current one.
fn running_minute(hour: u64, now_ms: u64) -> Option<usize> {
    (now_ms / MILLIS_PER_HOUR == hour).then_some((now_ms % MILLIS_PER_HOUR) as usize / 60_000)
}

/// The last value of a series, as a timestamp in milliseconds: `None` if it has none, or
/// none a date can be made of.
fn last_value(values: &[f64]) -> Option<u64> {
    let last = values.iter().rev().find(|v| v.is_finite())?;
    // `as` saturates; 0 or less is no start time.
    (*last >= 1.0).then_some(*last as u64)
}

/// One chart of the page.
#[derive(Debug, PartialEq)]
struct Chart {
    title: String,
    unit: &'static str,
    values: Vec<f64>,
}

/// The charts of a machine's series (name -> value per minute, NaN for no heartbeat):
/// system series first, totals as their increase per minute, bytes in KiB, MiB or GiB,
/// all-zero and hidden series left out. `running` is the minute still running, which has
/// no whole increase yet.
fn charts_of(series: &BTreeMap<&str, Vec<f64>>, running: Option<usize>) -> Vec<Chart> {
    let mut shown: Vec<(&str, &Vec<f64>)> = series
        .iter()
        .filter(|(_, values)| !is_all_zero(values))
        .map(|(name, values)| (*name, values))
        .collect();
    // Stable: alphabetical within a group.
    shown.sort_by_key(|(name, _)| group(name));
    shown
        .into_iter()
        .filter_map(|(name, values)| {
            let mut chart = chart_of(name, values, running)?;
            if counts_bytes(name) {
                (chart.unit, chart.values) = in_byte_unit(&chart.values);
            }
            Some(chart)
        })
        .collect()
}

/// The chart of one series: a level as it is, a total as its increase per minute without
/// the `running` minute, CPU time as CPU %; `None` for a series not charted.
fn chart_of(name: &str, values: &[f64], running: Option<usize>) -> Option<Chart> {
    let rate = |scale: f64| {
        let mut rates: Vec<f64> = increase_per_minute(values)
            .into_iter()
            .map(|v| v * scale)
            .collect();
        if let Some(slot) = running.and_then(|m| rates.get_mut(m)) {
            *slot = f64::NAN;
        }
        rates
    };
    Some(match kind_of(name) {
        Kind::Hidden => return None,
        Kind::Level => Chart {
            title: name.to_owned(),
            unit: "",
            values: values.to_vec(),
        },
        Kind::Total { unit } => Chart {
            title: format!("{name} /min"),
            unit,
            values: rate(1.0),
        },
        Kind::CpuTime { per_minute } => Chart {
            // The unit, %, follows the title.
            title: format!("{name} as CPU"),
            unit: "%",
            values: rate(100.0 / per_minute),
        },
    })
}

/// Whether a series counts bytes: its name says so (`system.process.memory.rss.bytes`,
/// `ocelot.client.bytes.sent`), or it is a memory level or a disk volume's space, which
/// CAT's Java client reports in bytes (`memory.heap-usage`, `disk.disk-volume[/].free`).
/// A memory or disk series named as a count or a share (`memory.pool.count`,
/// `mem.used.percent`, `disk.used.percent`, `disk.inodes.free`) is not.
fn counts_bytes(name: &str) -> bool {
    let words: Vec<String> = words(name).collect();
    let has = |wanted: &[&str]| words.iter().any(|w| wanted.contains(&w.as_str()));
    if has(&["bytes"]) {
        return true;
    }
    // Counts and shares of memory or disk, not bytes: the Java client reports GC counts and
    // times under `memory.gc[...]`, and a disk's used share or its inodes are no space.
    if has(&["gc", "count", "percent", "pct", "ratio", "inodes"]) {
        return false;
    }
    // CAT's `JVMHeap` extension reports its pools (`Eden Space`, `Old Gen`) in bytes.
    let memory = has(&["memory", "mem", "rss", "heap", "swap", "jvmheap"]);
    let disk_space = has(&["disk"]) && has(&["total", "free", "usable", "used"]);
    memory || disk_space
}

/// `values` (bytes) in the largest unit of [`BYTE_UNITS`] their largest value has a whole
/// one of, and that unit: a heap of 400 000 000 bytes is charted as 381.5 MiB, on ticks
/// of 100 MiB rather than of `100M` bytes.
fn in_byte_unit(values: &[f64]) -> (&'static str, Vec<f64>) {
    let max = values
        .iter()
        .filter(|v| v.is_finite())
        .fold(0.0, |max: f64, v| max.max(v.abs()));
    let mut unit = 0;
    let mut scale = 1.0;
    while max >= scale * 1024.0 && unit < BYTE_UNITS.len() - 1 {
        scale *= 1024.0;
        unit += 1;
    }
    (BYTE_UNITS[unit], values.iter().map(|v| v / scale).collect())
}

/// The suffix of a CPU time total in milliseconds (our SDK's `system.process.cpu.time.ms`):
/// its increase per minute over the minute's 60 000 ms is the CPU % of one core.
const CPU_TIME_MS: &str = "cpu.time.ms";
const MILLIS_PER_MINUTE: f64 = 60_000.0;
/// The Java client's `os.process-time` is CPU time in nanoseconds.
const NANOS_PER_MINUTE: f64 = 60_000_000_000.0;

/// When the Java client's process started (ms since the epoch): a date, not a figure.
const RUNTIME_START_TIME: &str = "runtime.start-time";

/// Whether every value of a series is 0 (or missing).
fn is_all_zero(values: &[f64]) -> bool {
    values.iter().all(|v| !v.is_finite() || *v == 0.0)
}

/// The words of a series name: `memory.gc[ParNew].count` -> `memory`, `gc`, `parnew`,
/// `count`. `_` joins (`queue_full` is one word).
fn words(name: &str) -> impl Iterator<Item = String> + '_ {
    name.split(['.', '[', ']', '-', '/', ' '])
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_lowercase)
}

/// How a series is drawn, by what it measures.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    /// A value at the time of the heartbeat (memory, threads, load, an app's gauge): as is.
    Level,
    /// A running total since the process started, in `unit`: its increase per minute.
    Total { unit: &'static str },
    /// CPU time as a running total, `per_minute` of it being one core busy for a minute:
    /// the CPU % of one core.
    CpuTime { per_minute: f64 },
    /// A date or the time since start: not charted.
    Hidden,
}

/// Running totals by name: the Java client's `<status>` layout (`message` counts what the
/// client sent since it started), the totals CAT's heartbeat display policy takes the delta
/// of (extensions `FrameworkThread` and `CatUsage`), the newer Java client's started-thread
/// and class-loading totals (`classingloading` is its spelling), and our SDK's own. GC
/// totals are matched in [`kind_of`]. The newer client's `jvm.gc` times and counts and its
/// `jvm.process.cputime` are sent as each minute's increase already: levels here.
const TOTALS: [&str; 13] = [
    "thread.total-started-count",
    "message.produced",
    "message.overflowed",
    "message.bytes",
    "FrameworkThread.StartedThread",
    "CatUsage.Produced",
    "CatUsage.Overflowed",
    "CatUsage.Bytes",
    "jvm.thread.jvm.thread.totalstarted.count",
    "jvm.classingloading.jvm.classloading.totalloaded.count",
    "jvm.classingloading.jvm.classloading.unloaded.count",
    "ocelot.client.bytes.sent",
    "ocelot.client.send.failures",
];

/// Prefixes of our SDK's running totals: trees produced, sent, aggregated and dropped,
/// metrics dropped (its `queue.*` are levels).
const TOTAL_PREFIXES: [&str; 2] = ["ocelot.client.trees.", "ocelot.client.metrics.dropped."];

/// What a series measures, from its name alone: the series CAT's clients and ours are
/// known to send as running totals, and a level for everything else. A series of an app's
/// own extension is drawn as it is reported, as CAT's server draws one it has no policy
/// for: a total then reads as a ramp, where guessing from the trend would turn a level
/// that rises for an hour (a heap, a disk filling up) into a rate and hide the level.
fn kind_of(name: &str) -> Kind {
    const TOTAL: Kind = Kind::Total { unit: "" };
    const TOTAL_MS: Kind = Kind::Total { unit: "ms" };
    match name {
        RUNTIME_START_TIME | "runtime.up-time" => return Kind::Hidden,
        "os.process-time" => {
            return Kind::CpuTime {
                per_minute: NANOS_PER_MINUTE,
            }
        }
        _ if name.ends_with(CPU_TIME_MS) => {
            return Kind::CpuTime {
                per_minute: MILLIS_PER_MINUTE,
            }
        }
        _ if TOTALS.contains(&name) || TOTAL_PREFIXES.iter().any(|p| name.starts_with(p)) => {
            return TOTAL
        }
        _ => {}
    }
    // Collections and their time in ms: the Java client's `memory.gc[ParNew].count` and
    // `.time`, and the `GC` extension's `ParNewCount` and `ParNewTime`.
    if let Some(gc) = name.strip_prefix("memory.gc[") {
        if gc.ends_with("].count") {
            return TOTAL;
        }
        if gc.ends_with("].time") {
            return TOTAL_MS;
        }
    }
    if let Some(detail) = name.strip_prefix("GC.") {
        if detail.ends_with("Count") {
            return TOTAL;
        }
        if detail.ends_with("Time") {
            return TOTAL_MS;
        }
    }
    Kind::Level
}

/// The increase of a total per minute: at each minute with a value, the rise since the
/// previous minute with one, spread over the minutes between. The first value has nothing
/// to rise from, so it is a gap (NaN) like a minute without a heartbeat; so is a fall (the
/// process restarted and counts from 0 again: its increase over the minute is unknown).
fn increase_per_minute(values: &[f64]) -> Vec<f64> {
    let mut previous: Option<(usize, f64)> = None;
    values
        .iter()
        .enumerate()
        .map(|(minute, value)| {
            if !value.is_finite() {
                return f64::NAN;
            }
            let increase = previous.map_or(f64::NAN, |(at, before)| {
                (value - before) / (minute - at) as f64
            });
            previous = Some((minute, *value));
            if increase < 0.0 {
                f64::NAN
            } else {
                increase
            }
        })
        .collect()
}

/// Where a series comes on the page: CPU, memory, threads, GC, disk, other system series,
/// then everything else (client libraries' own counters).
fn group(name: &str) -> u8 {
    let words: Vec<String> = words(name).collect();
    let has = |wanted: &[&str]| words.iter().any(|w| wanted.contains(&w.as_str()));
    if has(&["cpu", "load"]) || matches!(kind_of(name), Kind::CpuTime { .. }) {
        0
    } else if has(&["gc"]) {
        // Before memory: the Java client reports GC under `memory.gc[...]`.
        3
    } else if has(&["memory", "mem", "rss", "heap", "swap", "jvmheap"]) {
        1
    } else if has(&["thread", "threads"]) {
        2
    } else if has(&["disk", "fds"]) {
        4
    } else if words
        .first()
        .is_some_and(|w| ["system", "os", "runtime"].contains(&w.as_str()))
    {
        5
    } else {
        6
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAN: f64 = f64::NAN;

    fn names(charts: &[Chart]) -> Vec<&str> {
        charts.iter().map(|c| c.title.as_str()).collect()
    }

    #[test]
    fn a_machine_is_silent_once_two_whole_minutes_passed_without_a_heartbeat() {
        let at = |minutes: &[u8]| minutes.last().copied();
        // Last at :10, :12 under way: only :11 ended without one (a late heartbeat).
        assert_eq!(silence(at(&[9, 10]), Some(12)), None);
        // :13 under way: :11 and :12 ended without one.
        assert_eq!(
            silence(at(&[9, 10]), Some(13)),
            Some(Silence {
                last_minute: 10,
                minutes: 2
            })
        );
        // A past hour, or no heartbeat at all: nothing to say here.
        assert_eq!(silence(at(&[9, 10]), None), None);
        assert_eq!(silence(at(&[]), Some(40)), None);
    }

    #[test]
    fn silence_since_the_hour_before_counts_the_minutes_of_both_hours() {
        // Last at :59, :01 of the next hour under way: only :00 ended without one.
        assert_eq!(silence_since_hour_before(59, Some(1)), None);
        assert_eq!(
            silence_since_hour_before(59, Some(2)),
            Some(Silence {
                last_minute: 59,
                minutes: 2
            })
        );
        // Last at :29: :30 to :59 and :00 to :02 ended without one.
        assert_eq!(silence_since_hour_before(29, Some(3)).unwrap().minutes, 33);
        assert_eq!(silence_since_hour_before(29, None), None);
        assert_eq!(minute_title(498_702, 29), "2026-11-22 06:29 UTC");
    }

    #[test]
    fn overview_figures_read_the_series_of_java_c_and_other_clients() {
        let texts = |figures: [Option<Figure>; 4]| figures.map(|f| f.map(|f| f.text));
        let some = |text: &str| Some(text.to_owned());
        // Java: CPU time as CPU %, the heap in MiB, live threads, GC time of both
        // collectors added up (15 + 5 ms in the last minute).
        let java = BTreeMap::from([
            ("os.process-time", vec![0.0, 30e9, 60e9]),
            ("os.system-load-average", vec![0.75; 3]),
            ("memory.heap-usage", vec![268_435_456.0; 3]),
            ("memory.gc[ParNew].time", vec![10.0, 25.0, 40.0]),
            (
                "memory.gc[ConcurrentMarkSweep].time",
                vec![100.0, 100.0, 105.0],
            ),
            ("memory.gc[ParNew].count", vec![1.0, 2.0, 3.0]),
            ("thread.count", vec![60.0, 61.0, NAN]),
            ("thread.total-started-count", vec![100.0, 109.0, 118.0]),
        ]);
        let figures = figures_of(&java, None);
        assert_eq!(
            figures[3].as_ref().unwrap().from,
            "memory.gc[ConcurrentMarkSweep].time /min + memory.gc[ParNew].time /min"
        );
        assert_eq!(
            texts(figures),
            [some("50%"), some("256 MiB"), some("61"), some("20 ms/min")]
        );
        // C client: the load average and the share of memory used; no threads, no GC.
        let c = BTreeMap::from([
            ("system.process.load.1min", vec![1.79]),
            ("system.process.mem.memtotal", vec![25_276_502_016.0]),
            ("system.process.mem.memused.percent", vec![5.832_195]),
        ]);
        assert_eq!(
            texts(figures_of(&c, None)),
            [some("1.79"), some("5.83%"), None, None]
        );
        // A client of its own: the first level of each group.
        let other = BTreeMap::from([
            ("app.cpu.busy.percent", vec![12.5]),
            ("app.threads.live", vec![7.0]),
        ]);
        assert_eq!(
            texts(figures_of(&other, None)),
            [some("12.5%"), None, some("7"), None]
        );
    }

    #[test]
    fn machines_sort_by_ip_as_numbers_and_other_keys_last() {
        let mut ips = ["OTHERS", "10.0.0.10", "::1", "10.0.0.9", "9.1.1.1"];
        ips.sort_by(|a, b| ip_order(a, b));
        assert_eq!(ips, ["9.1.1.1", "10.0.0.9", "10.0.0.10", "::1", "OTHERS"]);
    }

    #[test]
    fn totals_are_drawn_as_their_increase_per_minute() {
        let sent = [NAN, 100.0, 250.0, NAN, 450.0, 450.0];
        assert_eq!(
            kind_of("ocelot.client.bytes.sent"),
            Kind::Total { unit: "" }
        );
        let increase = increase_per_minute(&sent);
        assert!(increase[0].is_nan() && increase[1].is_nan() && increase[3].is_nan());
        assert_eq!([increase[2], increase[4], increase[5]], [150.0, 100.0, 0.0]);
    }

    #[test]
    fn a_total_that_restarts_has_a_gap_where_it_fell() {
        let increase = increase_per_minute(&[5.0, 9.0, 2.0, 6.0]);
        assert!(increase[2].is_nan(), "not -7: the process restarted");
        assert_eq!(increase[3], 4.0);
    }

    #[test]
    fn cat_and_sdk_running_totals_are_known_by_name() {
        for name in [
            "thread.total-started-count",
            "memory.gc[ParNew].count",
            "memory.gc[PS MarkSweep].count",
            "GC.ParNewCount",
            "message.produced",
            "message.bytes",
            "FrameworkThread.StartedThread",
            "CatUsage.Produced",
            "ocelot.client.trees.sent",
            "ocelot.client.trees.dropped.queue_full",
            "ocelot.client.metrics.dropped.queue_full",
            "ocelot.client.send.failures",
        ] {
            assert_eq!(kind_of(name), Kind::Total { unit: "" }, "{name}");
        }
        for name in ["memory.gc[ParNew].time", "GC.G1 Young GenerationTime"] {
            assert_eq!(kind_of(name), Kind::Total { unit: "ms" }, "{name}");
        }
        assert_eq!(
            kind_of("os.process-time"),
            Kind::CpuTime {
                per_minute: 60_000_000_000.0
            }
        );
        assert_eq!(kind_of("runtime.start-time"), Kind::Hidden);
        assert_eq!(kind_of("runtime.up-time"), Kind::Hidden);
    }

    #[test]
    fn levels_and_unknown_series_are_drawn_as_they_are_even_when_they_only_grow() {
        for name in [
            "JVMHeap.Eden Space",
            "JVMHeap.PS Old Gen",
            "memory.heap-usage",
            "memory.non-heap-usage",
            "disk.disk-volume[/].free",
            "Disk./data Free",
            "thread.count",
            "thread.peek-count",
            "system.process.memory.rss.bytes",
            "ocelot.client.queue.bytes",
            "ocelot.client.queue.depth",
            "App.orders",
        ] {
            assert_eq!(kind_of(name), Kind::Level, "{name}");
        }
        let series = BTreeMap::from([("JVMHeap.Eden Space", vec![1_048_576.0, 2_097_152.0])]);
        let charts = charts_of(&series, None);
        assert_eq!(names(&charts), ["JVMHeap.Eden Space"]);
        assert_eq!(
            (charts[0].unit, &charts[0].values[..]),
            ("MiB", &[1.0, 2.0][..])
        );
    }

    #[test]
    fn rate_charts_leave_out_the_running_minute_and_levels_keep_it() {
        let series = BTreeMap::from([
            (
                "thread.total-started-count",
                vec![100.0, 109.0, 118.0, 124.0],
            ),
            ("thread.count", vec![30.0, 31.0, 32.0, 33.0]),
        ]);
        let charts = charts_of(&series, Some(3));
        let chart = |title: &str| charts.iter().find(|c| c.title == title).unwrap();
        let started = chart("thread.total-started-count /min");
        assert_eq!(&started.values[1..3], [9.0, 9.0]);
        assert!(started.values[3].is_nan(), "6 so far is no drop");
        assert_eq!(chart("thread.count").values[3], 33.0);
        // A past hour has no running minute.
        let charts = charts_of(&series, None);
        assert_eq!(charts[1].values[3], 6.0);
        assert_eq!(
            running_minute(7, 7 * MILLIS_PER_HOUR + 40 * 60_000 + 5),
            Some(40)
        );
        assert_eq!(running_minute(6, 7 * MILLIS_PER_HOUR), None);
    }

    #[test]
    fn process_time_in_nanoseconds_is_cpu_percent_and_gc_time_is_in_ms() {
        let series = BTreeMap::from([
            ("os.process-time", vec![0.0, 30e9, 90e9]),
            ("memory.gc[ParNew].time", vec![10.0, 25.0, 45.0]),
            ("runtime.start-time", vec![1_796_600_000_000.0; 3]),
            ("runtime.up-time", vec![60_000.0, 120_000.0, 180_000.0]),
        ]);
        let charts = charts_of(&series, None);
        assert_eq!(
            names(&charts),
            ["os.process-time as CPU", "memory.gc[ParNew].time /min"]
        );
        assert_eq!(
            (charts[0].unit, &charts[0].values[1..]),
            ("%", &[50.0, 100.0][..])
        );
        assert_eq!(
            (charts[1].unit, &charts[1].values[1..]),
            ("ms", &[15.0, 20.0][..])
        );
        assert_eq!(
            last_value(&series["runtime.start-time"]),
            Some(1_796_600_000_000)
        );
        assert_eq!(last_value(&[NAN, -3.0, NAN]), None);
    }

    #[test]
    fn cpu_time_becomes_the_cpu_percent_of_one_core() {
        let series = BTreeMap::from([(
            "system.process.cpu.time.ms",
            vec![1_000.0, 7_000.0, 37_000.0],
        )]);
        let charts = charts_of(&series, None);
        assert_eq!(charts.len(), 1);
        assert_eq!(charts[0].title, "system.process.cpu.time.ms as CPU");
        assert_eq!(charts[0].unit, "%");
        assert_eq!(&charts[0].values[1..], [10.0, 50.0]);
    }

    #[test]
    fn disk_shares_and_inode_counts_are_not_charted_as_bytes() {
        // A disk's used share (0-100) would read "85 B"; five million free inodes "4.8 MiB".
        for name in [
            "disk.used.percent",
            "disk.disk-volume[/].used.pct",
            "system.disk.free.ratio",
            "disk.inodes.free",
            "disk.inodes.total",
        ] {
            assert!(!counts_bytes(name), "{name}");
        }
        let series = BTreeMap::from([("disk.inodes.free", vec![5_000_000.0; 3])]);
        let charts = charts_of(&series, None);
        assert_eq!(charts[0].unit, "");
        assert_eq!(charts[0].values[0], 5_000_000.0);
        // Disk space stays in bytes.
        assert!(counts_bytes("disk.disk-volume[/].free"));
        assert!(counts_bytes("system.disk.used"));
    }

    #[test]
    fn memory_and_other_byte_series_are_charted_in_a_binary_unit() {
        for name in [
            "system.process.memory.rss.bytes",
            "memory.heap-usage",
            "memory.max",
            "memory.free",
            "disk.disk-volume[/].free",
            "ocelot.client.bytes.sent",
            "ocelot.client.queue.bytes",
        ] {
            assert!(counts_bytes(name), "{name}");
        }
        for name in [
            "memory.gc[ParNew].count",
            "memory.gc[ParNew].time",
            "mem.used.percent",
            "system.process.threads",
            "system.process.fds.open",
            "os.available-processors",
        ] {
            assert!(!counts_bytes(name), "{name}");
        }
        let series = BTreeMap::from([
            ("memory.heap-usage", vec![NAN, 314_572_800.0, 419_430_400.0]),
            ("memory.max", vec![2_147_483_648.0; 3]),
            ("ocelot.client.bytes.sent", vec![0.0, 1_000.0, 3_048.0]),
            ("memory.gc[ParNew].count", vec![1.0, 2.0, 3.0]),
        ]);
        let charts = charts_of(&series, None);
        let chart = |title: &str| charts.iter().find(|c| c.title == title).unwrap();
        let heap = chart("memory.heap-usage");
        assert_eq!(heap.unit, "MiB");
        assert!(heap.values[0].is_nan(), "a gap stays a gap");
        assert_eq!(&heap.values[1..], [300.0, 400.0]);
        let max = chart("memory.max");
        assert_eq!((max.unit, max.values[0]), ("GiB", 2.0));
        let sent = chart("ocelot.client.bytes.sent /min");
        assert_eq!(
            (sent.unit, &sent.values[1..]),
            ("KiB", &[1000.0 / 1024.0, 2.0][..])
        );
        assert_eq!(chart("memory.gc[ParNew].count /min").unit, "");
        assert_eq!(in_byte_unit(&[12.0, NAN]).0, "B");
    }

    #[test]
    fn system_series_come_first_and_zero_ones_are_not_charted() {
        let rising: Vec<f64> = (0..10).map(f64::from).collect();
        let level = vec![3.0, 5.0, 4.0];
        let zero = vec![0.0, NAN, 0.0];
        let series = BTreeMap::from([
            ("disk.disk-volume[/].free", level.clone()),
            ("memory.gc[ParNew].count", rising.clone()),
            ("ocelot.client.bytes.sent", rising.clone()),
            ("ocelot.client.send.failures", zero.clone()),
            ("ocelot.client.trees.dropped.queue_full", zero),
            ("system.process.cpu.time.ms", rising),
            ("system.process.fds.open", level.clone()),
            ("system.process.memory.rss.bytes", level.clone()),
            ("system.process.threads", level),
        ]);
        assert_eq!(
            names(&charts_of(&series, None)),
            [
                "system.process.cpu.time.ms as CPU",
                "system.process.memory.rss.bytes",
                "system.process.threads",
                "memory.gc[ParNew].count /min",
                "disk.disk-volume[/].free",
                "system.process.fds.open",
                "ocelot.client.bytes.sent /min",
            ]
        );
    }
}
