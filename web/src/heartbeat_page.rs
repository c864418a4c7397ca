//! The heartbeat page, `GET /h?domain=&hour=&ip=`: one machine's heartbeats, a per-minute
//! chart for every series its clients report (CPU, memory, threads, the SDK's own
//! counters). Heartbeats of different machines do not add up, so there is no "All".
//!
//! Clients report levels (memory, threads) and running totals (bytes sent, GC count, CPU
//! time) alike, without saying which is which. A total drawn as is would be a ramp that
//! says nothing, so a series that never goes down in the hour, and whose name does not say
//! it is a level, is drawn as its increase per minute ("/min"); CPU time in milliseconds
//! becomes the CPU % of one core. Series in bytes (memory, disk space, anything named
//! `bytes`) are charted in the binary unit their largest value reaches (KiB, MiB, GiB).
//! System series (CPU, memory, threads, GC, disk) come first; series that are 0 all hour
//! are listed in a line instead of charted.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use maud::{html, Markup};
use ocelot_analyzer::ViewQuery;

use crate::board::{Board, FormOrigin, BYTE_UNITS};
use crate::chart::{grid_line_chart, Series, MINUTES};
use crate::cpu::heavy;
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
    PageQuery(origin): PageQuery<FormOrigin>,
) -> Result<(StatusCode, Markup), PageError> {
    let params = origin.apply(params);
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
    let view = heavy(|| {
        report.view(&ViewQuery {
            ip: board.ip.as_deref(),
            type_: None,
            elapsed_seconds: board.elapsed_seconds,
            max_names: None,
            keep_name: None,
        })
    });
    if !board.knows_machine(&view.ips) {
        let (status, body) = board.unknown_machine(HEADING, &view.ips, false);
        return Ok((status, page(&board.title(HEADING), PATH, body)));
    }
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
    let charts = charts_of(&series);
    let zero: Vec<&str> = series
        .iter()
        .filter(|(_, values)| is_all_zero(values))
        .map(|(name, _)| *name)
        .collect();
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
                p.hint {
                    "The last value each minute; minutes without a heartbeat are gaps. "
                    "Totals that only grow are shown as their increase per minute (/min)."
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

/// One chart of the page.
#[derive(Debug, PartialEq)]
struct Chart {
    title: String,
    unit: &'static str,
    values: Vec<f64>,
}

/// The charts of a machine's series (name -> value per minute, NaN for no heartbeat):
/// system series first, totals as their increase per minute, bytes in KiB, MiB or GiB,
/// all-zero series left out.
fn charts_of(series: &BTreeMap<&str, Vec<f64>>) -> Vec<Chart> {
    let mut shown: Vec<(&str, &Vec<f64>)> = series
        .iter()
        .filter(|(_, values)| !is_all_zero(values))
        .map(|(name, values)| (*name, values))
        .collect();
    // Stable: alphabetical within a group.
    shown.sort_by_key(|(name, _)| group(name));
    shown
        .into_iter()
        .map(|(name, values)| {
            let mut chart = chart_of(name, values);
            if counts_bytes(name) {
                (chart.unit, chart.values) = in_byte_unit(&chart.values);
            }
            chart
        })
        .collect()
}

/// The chart of one series: a level as it is, a total as its increase per minute.
fn chart_of(name: &str, values: &[f64]) -> Chart {
    if !is_total(name, values) {
        Chart {
            title: name.to_owned(),
            unit: "",
            values: values.to_vec(),
        }
    } else if name.ends_with(CPU_TIME_MS) {
        Chart {
            // The unit, %, follows the title.
            title: format!("{name} as CPU"),
            unit: "%",
            values: increase_per_minute(values)
                .into_iter()
                .map(|ms| ms * 100.0 / MILLIS_PER_MINUTE)
                .collect(),
        }
    } else {
        Chart {
            title: format!("{name} /min"),
            unit: "",
            values: increase_per_minute(values),
        }
    }
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
    let memory = has(&["memory", "mem", "rss", "heap", "swap"]);
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

/// Words that name a level, which may well only grow for an hour (a heap filling up, a
/// thread pool starting) and must still be drawn as is.
const LEVEL_WORDS: [&str; 20] = [
    "available",
    "daemon",
    "depth",
    "fds",
    "free",
    "heap",
    "load",
    "max",
    "memfree",
    "memtotal",
    "memused",
    "percent",
    "queue",
    "rss",
    "running",
    "thread",
    "threads",
    "total",
    "usable",
    "usage",
];

/// Whether a series is a running total: it rises at least once and never falls in the
/// hour, and its name does not say it is a level. A total that restarts (its process did)
/// falls, so it is drawn as is.
fn is_total(name: &str, values: &[f64]) -> bool {
    if words(name).any(|w| LEVEL_WORDS.contains(&w.as_str())) {
        return false;
    }
    let defined: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    let steps = || defined.windows(2).map(|pair| pair[1] - pair[0]);
    steps().all(|step| step >= 0.0) && steps().any(|step| step > 0.0)
}

/// The increase of a total per minute: at each minute with a value, the rise since the
/// previous minute with one, spread over the minutes between. The first value has nothing
/// to rise from, so it is a gap (NaN) like a minute without a heartbeat.
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
            increase
        })
        .collect()
}

/// Where a series comes on the page: CPU, memory, threads, GC, disk, other system series,
/// then everything else (client libraries' own counters).
fn group(name: &str) -> u8 {
    let words: Vec<String> = words(name).collect();
    let has = |wanted: &[&str]| words.iter().any(|w| wanted.contains(&w.as_str()));
    if has(&["cpu", "load"]) {
        0
    } else if has(&["gc"]) {
        // Before memory: the Java client reports GC under `memory.gc[...]`.
        3
    } else if has(&["memory", "mem", "rss", "heap", "swap"]) {
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
    fn totals_that_only_grow_are_drawn_as_their_increase_per_minute() {
        let sent = [NAN, 100.0, 250.0, NAN, 450.0, 450.0];
        assert!(is_total("ocelot.client.bytes.sent", &sent));
        let increase = increase_per_minute(&sent);
        assert!(increase[0].is_nan() && increase[1].is_nan() && increase[3].is_nan());
        assert_eq!([increase[2], increase[4], increase[5]], [150.0, 100.0, 0.0]);
    }

    #[test]
    fn levels_are_drawn_as_they_are_even_when_they_only_grow() {
        let rising = [10.0, 20.0, 30.0];
        assert!(!is_total("system.process.memory.rss.bytes", &rising));
        assert!(!is_total("memory.heap-usage", &rising));
        assert!(!is_total("thread.count", &rising));
        assert!(!is_total("ocelot.client.queue.bytes", &rising));
        assert!(is_total("memory.gc[ParNew].count", &rising));
        assert!(
            !is_total("ocelot.client.trees.sent", &[5.0, 9.0, 2.0]),
            "it fell"
        );
        assert!(!is_total("os.available-processors", &[2.0, 2.0]), "flat");
        assert!(!is_total("x.sent", &[NAN, 3.0, NAN]), "one value");
    }

    #[test]
    fn cpu_time_becomes_the_cpu_percent_of_one_core() {
        let series = BTreeMap::from([(
            "system.process.cpu.time.ms",
            vec![1_000.0, 7_000.0, 37_000.0],
        )]);
        let charts = charts_of(&series);
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
        let charts = charts_of(&series);
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
        let charts = charts_of(&series);
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
            names(&charts_of(&series)),
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
