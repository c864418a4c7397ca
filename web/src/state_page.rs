//! The state page, `GET /state?hour=`: the collector's own health in an hour. Trees and
//! bytes received, drops by stage and reason, malformed frames, queue depths, processing
//! time and memory, per minute where it helps.
//!
//! "Dropped" means lost, as on `/metrics` (`ocelot_dropped_trees_total`) and in `ocelot
//! status`: trees out of the hour window (never counted) among them. A tree the store
//! refused for a duplicate message ID is not lost (the reports count it, the ID finds the
//! first tree): it is shown apart, as not stored.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use maud::{html, Markup};
use ocelot_analyzer::{DropKey, StateView, ViewQuery};

use crate::board::{
    format_bytes, format_count, format_ms, format_rate, per_minute, stat, stat_with_hint, Board,
};
use crate::chart::bar_chart;
use crate::error::{PageError, PageQuery};
use crate::health::saving_facts;
use crate::layout::page;
use crate::selection::ReportParams;
use crate::state::AppState;
use crate::time::format_utc_ms;

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
    // The state is the collector's, but the nav links keep the domain the page was opened
    // from, so that going back to a board shows that domain again.
    let mut title = board.title(HEADING);
    title.shows.domain = params.domain().unwrap_or_default().to_owned();
    // Whether the server saves what it takes now: on the current hour's page, which is
    // where someone checking on it looks (none without a health sample).
    let health = state
        .health
        .get()
        .filter(|_| board.hour == board.current_hour);
    let saving = saving_facts(health.as_deref());
    let Some(report) = state.reports.state(board.hour).await else {
        let (status, body) = board.empty(HEADING);
        let body = html! { (body) (saving) };
        return Ok((status, page(&title, PATH, body)));
    };
    let view = report.view(&ViewQuery {
        elapsed_seconds: board.elapsed_seconds,
        ..ViewQuery::default()
    });
    let body = html! {
        (board.controls(HEADING, None, false))
        (saving)
        (render(&view, last_complete_minute(board.hour, board.current_hour, board.elapsed_seconds)))
    };
    Ok((StatusCode::OK, page(&title, PATH, body)))
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

/// The last minute of the current hour that has ended (`None` in its first minute): the
/// rate a person watching wants, where the hour's average lags. A past hour has none.
fn last_complete_minute(hour: u64, current_hour: u64, elapsed_seconds: f64) -> Option<u8> {
    if hour != current_hour {
        return None;
    }
    let running = (elapsed_seconds / 60.0).floor() as u64;
    running.checked_sub(1).and_then(|m| u8::try_from(m).ok())
}

/// The rate of `minute` (trees per second), and its label, e.g. `Trees / s (07:45)`.
fn minute_rate(view: &StateView, minute: u8) -> (String, f64) {
    let trees: u64 = view
        .minutes
        .iter()
        .filter(|m| m.minute == minute)
        .map(|m| m.trees)
        .sum();
    // `view.hour` is `YYYYMMDDHH`: the last two digits are the hour of the day.
    let hh = view.hour.get(8..10).unwrap_or("");
    (
        format!("Trees / s ({hh}:{minute:02})"),
        trees as f64 / SECONDS_PER_MINUTE,
    )
}

/// The stage of a drop as `ocelot status` names it: `collector`, `store`, or a report
/// worker as `worker (name)`.
fn stage_label(stage: &str) -> String {
    match stage {
        "collector" | "store" => stage.to_owned(),
        worker => format!("worker ({worker})"),
    }
}

const SECONDS_PER_MINUTE: f64 = 60.0;
const HOUR_RATE_HINT: &str =
    "trees received per second, averaged over the minutes of the hour the collector has run (from its first minute in the hour)";
const MINUTE_RATE_HINT: &str = "trees received per second in the last minute that has ended";
const DROPPED_HINT: &str = "trees lost, each once: the larger of those not in the reports and those not stored (a tree goes to both, and both may drop it); by stage and reason under Drops";
const NOT_COUNTED_HINT: &str = "trees not counted in the reports: out of the hour window, or dropped by a report worker; the store may still hold them";
const NOT_STORED_HINT: &str = "trees not stored, so not findable by ID: out of the hour window, or dropped by the store; the reports may still count them";
const PROBE_HINT: &str = "port scans and health checks that connect, send a byte or two and go; nothing that could be a tree, so nothing lost";

/// The collector's `HARMLESS_DECODE_REASONS` (this crate does not depend on the
/// collector): decode errors that lose nothing, shown apart from the malformed frames, as
/// `ocelot status` shows them apart from the drops.
const HARMLESS_DECODE_REASONS: [&str; 3] = ["closed_in_length_prefix", "metric_bag", "empty"];

/// What each of [`HARMLESS_DECODE_REASONS`] is, after its count.
fn harmless_note(reason: &str) -> &'static str {
    match reason {
        "closed_in_length_prefix" => {
            " connections closed before a whole length prefix (closed_in_length_prefix): "
        }
        "metric_bag" => " CAT 4.0 metric bags skipped (metric_bag): ",
        _ => " header-only frames skipped (empty): ",
    }
}
const NO_TREE_HINT: &str = "frames real clients send that hold no tree; nothing lost";
const DUPLICATE_HINT: &str = "trees sent under a message ID already stored: counted in the reports, not stored; the ID finds the first tree, so none is lost";

/// The last minute of an hour.
const LAST_MINUTE: u8 = 59;

/// When the collector started in the hour, and whether a start found it with a checkpoint
/// lacking trees: the reports then count less than the store holds, which the boards
/// cannot show. Only the starts that followed a crash are blamed: a mark sits in its
/// start's minute (or the next, in reports written before marks took the start's), and
/// one that matches no start came from a start after the hour.
fn starts(view: &StateView) -> Markup {
    let list = |minutes: &[u8]| {
        minutes
            .iter()
            .map(|m| format!(":{m:02}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    // The hour's last minute is where a later start marks the hour: a start at :58 did
    // not leave a mark at :59.
    let start_of = |mark: u8| {
        view.started_minutes
            .iter()
            .copied()
            .rfind(|&s| s == mark || (s.checked_add(1) == Some(mark) && mark != LAST_MINUTE))
    };
    let mut after_crash: Vec<u8> = view
        .restored_incomplete_minutes
        .iter()
        .filter_map(|&mark| start_of(mark))
        .collect();
    after_crash.dedup();
    let after_the_hour = view
        .restored_incomplete_minutes
        .iter()
        .any(|&mark| start_of(mark).is_none());
    let other_starts: Vec<u8> = view
        .started_minutes
        .iter()
        .copied()
        .filter(|s| !after_crash.contains(s))
        .collect();
    html! {
        @if view.restored_incomplete > 0 {
            div.folded-note role="note" {
                p {
                    strong { "Reports incomplete. " }
                    @if !after_crash.is_empty() {
                        "A start of the collector in this hour (at " (list(&after_crash)) ") followed a crash or kill -9 and continued the hour from its last checkpoint. "
                    }
                    @if after_the_hour {
                        "The collector stopped in this hour by a crash or kill -9 and started again only after it: it continued the hour from its last checkpoint in the next hour's first minutes, or found the hour closed and that checkpoint its reports. "
                    }
                    "The hour's reports lack the trees received between that checkpoint and the stop. "
                    "Those trees are in the store (their message IDs find them); the server's log says when the checkpoint was written. "
                    "Once the hour is sealed the collector counts them in from the store (" code { "collector.rebuild_incomplete_hours" } ", on by default), and this note goes; "
                    code { "ocelot rebuild-reports --hour " (view.hour) } ", run with the server stopped, does it by hand."
                }
            }
            @if !other_starts.is_empty() {
                p.hint { "The collector also started at " (list(&other_starts)) " in this hour, after a clean stop or for the first time." }
            }
        } @else if view.rebuilt_ms > 0 {
            p.hint {
                "The hour's reports were rebuilt from the stored trees at " (format_utc_ms(view.rebuilt_ms))
                ", after a crash (automatically, once the hour was sealed) or by "
                code { "ocelot rebuild-reports" } ": they count every tree the store keeps of it. "
                "The figures on this page are the collector's own counts of what it received, as far "
                "as its checkpoints kept them: after a crash they lack the trees received in its last minute."
            }
        } @else if !view.started_minutes.is_empty() {
            p.hint { "The collector started at " (list(&view.started_minutes)) " in this hour: trees sent before then were counted by an earlier run, or not at all." }
        }
    }
}

fn render(view: &StateView, last_minute: Option<u8>) -> Markup {
    let minutes = &view.minutes;
    let last_minute = last_minute.map(|minute| minute_rate(view, minute));
    let trees = per_minute(minutes.iter().map(|m| (m.minute, m.trees as f64)));
    // Lost and not stored as the view (and so `/api/state`) tells them apart.
    let mut drops: BTreeMap<DropKey<'_>, u64> = BTreeMap::new();
    for m in minutes {
        for (key, n) in m.lost_by_reason() {
            *drops.entry(key).or_default() += n;
        }
    }
    let drops_per_minute = per_minute(minutes.iter().map(|m| (m.minute, m.lost as f64)));
    let (dropped, duplicates) = (view.lost, view.duplicates);
    let mut decode_errors = totals(minutes.iter().map(|m| &m.decode_errors));
    let harmless: Vec<(&str, u64)> = HARMLESS_DECODE_REASONS
        .iter()
        .filter_map(|&reason| decode_errors.remove(reason).map(|n| (reason, n)))
        .collect();
    let probes: u64 = harmless.iter().map(|(_, n)| n).sum();
    let malformed = view.decode_errors.saturating_sub(probes);
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
        (starts(view))
        section.panel {
            div.stats {
                (stat("Trees", &format_count(view.trees), false))
                (stat_with_hint("Trees / s (hour avg)", &format_rate(view.trees_per_second), false, Some(HOUR_RATE_HINT)))
                @if let Some((label, rate)) = &last_minute {
                    (stat_with_hint(label, &format_rate(*rate), false, Some(MINUTE_RATE_HINT)))
                }
                (stat("Bytes", &format_bytes(view.bytes), false))
                (stat_with_hint("Dropped", &format_count(dropped), dropped > 0, Some(DROPPED_HINT)))
                @if dropped > 0 {
                    (stat_with_hint("Not in reports", &format_count(view.lost_to_reports), view.lost_to_reports > 0, Some(NOT_COUNTED_HINT)))
                    (stat_with_hint("Not stored", &format_count(view.lost_to_store), view.lost_to_store > 0, Some(NOT_STORED_HINT)))
                }
                (stat("Malformed frames", &format_count(malformed), malformed > 0))
                @if duplicates > 0 {
                    (stat_with_hint("Not stored (duplicate ID)", &format_count(duplicates), false, Some(DUPLICATE_HINT)))
                }
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
                        thead { tr { th { "Stage" } th { "Reason" } th.num { "Trees" } } }
                        tbody { @for ((stage, reason), n) in &drops {
                            tr.unhealthy { td { (stage_label(stage)) } td { (reason) } td.num { (format_count(*n)) } }
                        } }
                    }
                }
                @if duplicates > 0 {
                    p.muted {
                        (format_count(duplicates)) " not stored (duplicate ID): " (DUPLICATE_HINT)
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
                @for (reason, n) in &harmless {
                    p.muted {
                        (format_count(*n)) (harmless_note(reason))
                        @if *reason == "closed_in_length_prefix" { (PROBE_HINT) } @else { (NO_TREE_HINT) }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_complete_minute_is_the_one_before_the_running_one() {
        assert_eq!(last_complete_minute(7, 7, 59.9), None);
        assert_eq!(last_complete_minute(7, 7, 60.0), Some(0));
        assert_eq!(last_complete_minute(7, 7, 46.0 * 60.0 + 5.0), Some(45));
        assert_eq!(last_complete_minute(6, 7, 3600.0), None, "a past hour");
    }

    /// A port scan's connection (a byte or two, then gone) is no malformed frame.
    #[test]
    fn connections_gone_before_a_length_prefix_are_not_malformed_frames() {
        let minute = |m: u64| 498_703 * 3_600_000 + m * 60_000;
        let mut report = ocelot_analyzer::StateReport::new(498_703);
        report.record_trees(minute(1), "shop", 3, 300);
        report.record_decode_errors(minute(1), "closed_in_length_prefix", 4);
        let html = render(&report.view(&ViewQuery::default()), None).into_string();
        assert!(html.contains("Every frame decoded."), "{html}");
        assert!(
            html.contains(r#"<div class="stat"><span class="stat-label">Malformed frames</span><span class="stat-value">0</span>"#),
            "{html}"
        );
        assert!(
            html.contains("4 connections closed before a whole length prefix"),
            "{html}"
        );
        report.record_decode_errors(minute(1), "metric_bag", 2);
        let html = render(&report.view(&ViewQuery::default()), None).into_string();
        assert!(html.contains("Every frame decoded."), "{html}");
        assert!(html.contains("2 CAT 4.0 metric bags skipped"), "{html}");
        report.record_decode_errors(minute(2), "closed_mid_frame", 1);
        let html = render(&report.view(&ViewQuery::default()), None).into_string();
        assert!(!html.contains("Every frame decoded."), "{html}");
        assert!(html.contains("<td>closed_mid_frame</td>"), "{html}");
    }

    #[test]
    fn a_start_is_noted_and_one_from_a_checkpoint_lacking_trees_is_a_warning() {
        let minute = |m: u64| 498_703 * 3_600_000 + m * 60_000;
        let mut report = ocelot_analyzer::StateReport::new(498_703);
        report.record_trees(minute(1), "shop", 3, 300);
        let html = starts(&report.view(&ViewQuery::default())).into_string();
        assert!(html.is_empty(), "no start in the hour: {html}");
        report.record_start(minute(5));
        let html = starts(&report.view(&ViewQuery::default())).into_string();
        assert!(html.contains("started at :05 in this hour"), "{html}");
        assert!(!html.contains("incomplete"), "{html}");
        report.record_start(minute(40));
        report.record_restored_incomplete(minute(40), 1);
        let html = starts(&report.view(&ViewQuery::default())).into_string();
        assert!(html.contains("Reports incomplete"), "{html}");
        assert!(
            html.contains("in this hour (at :40) followed a crash"),
            "{html}"
        );
        assert!(html.contains("also started at :05"), "{html}");
        assert!(
            html.contains("<code>ocelot rebuild-reports --hour 2026112207</code>"),
            "{html}"
        );
        // Rebuilt from the store: no longer incomplete, and said when.
        report.record_rebuilt(minute(125));
        let html = starts(&report.view(&ViewQuery::default())).into_string();
        assert!(!html.contains("Reports incomplete"), "{html}");
        assert!(
            html.contains("rebuilt from the stored trees at 2026-11-22 09:05:00.000 UTC"),
            "{html}"
        );
    }

    /// A tiny queue each for the store and the report worker: most trees dropped by both.
    /// "Dropped" said 34,796 of 20,000 trees received, adding the stages up.
    #[test]
    fn a_tree_dropped_by_the_store_and_a_report_worker_is_lost_once() {
        let minute = |m: u64| 498_703 * 3_600_000 + m * 60_000;
        let mut report = ocelot_analyzer::StateReport::new(498_703);
        report.record_trees(minute(1), "shop", 20_000, 2_000_000);
        report.record_drops(minute(1), "analyzer-0", "queue_full", 7_608);
        report.record_drops(minute(1), "analyzer-1", "queue_full", 7_424);
        report.record_drops(minute(1), "store", "queue_full", 19_764);
        let view = report.view(&ViewQuery::default());
        assert_eq!(
            (view.lost, view.lost_to_reports, view.lost_to_store),
            (19_764, 15_032, 19_764)
        );
        assert!(view.lost <= view.trees);
        assert_eq!(view.minutes[0].lost, 19_764);
        let html = render(&view, None).into_string();
        for stat in [
            ("Dropped", "19,764"),
            ("Not in reports", "15,032"),
            ("Not stored", "19,764"),
        ] {
            let shown = format!(
                r#"<span class="stat-label">{}</span><span class="stat-value">{}</span>"#,
                stat.0, stat.1
            );
            assert!(html.contains(&shown), "{stat:?}: {html}");
        }
    }

    /// A first start at :32, a start after a clean stop at :36, and one after a kill -9 at
    /// :37: the page blamed all three on a crash.
    #[test]
    fn only_the_starts_that_followed_a_crash_are_said_to() {
        let minute = |m: u64| 498_703 * 3_600_000 + m * 60_000;
        let mut report = ocelot_analyzer::StateReport::new(498_703);
        for m in [32, 36, 37] {
            report.record_start(minute(m));
        }
        report.record_restored_incomplete(minute(37), 1);
        let html = starts(&report.view(&ViewQuery::default())).into_string();
        assert!(
            html.contains("A start of the collector in this hour (at :37) followed a crash"),
            "{html}"
        );
        assert!(
            html.contains("also started at :32, :36 in this hour"),
            "{html}"
        );
        assert!(!html.contains("started again only after it"), "{html}");
    }

    /// An hour continued or closed by a start in a later hour: no start of its own to
    /// blame, and the note still says its reports are incomplete.
    #[test]
    fn an_hour_marked_by_a_start_after_it_says_the_collector_came_back_after_the_hour() {
        let minute = |m: u64| 498_703 * 3_600_000 + m * 60_000;
        let mut report = ocelot_analyzer::StateReport::new(498_703);
        report.record_start(minute(10));
        // The crashed run's start, a minute before the mark: not the start that marked it.
        report.record_start(minute(58));
        // A start at the next hour's :01 marks this hour's last minute.
        report.record_restored_incomplete(minute(61), 1);
        let html = starts(&report.view(&ViewQuery::default())).into_string();
        assert!(html.contains("Reports incomplete"), "{html}");
        assert!(html.contains("started again only after it"), "{html}");
        assert!(!html.contains("in this hour (at"), "{html}");
        assert!(html.contains("also started at :10, :58"), "{html}");
    }
}
