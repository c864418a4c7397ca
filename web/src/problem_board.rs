//! The problem board, `GET /p?domain=&hour=&ip=`: CAT's Problem report. Problems grouped
//! by category (error, long-url, long-sql, ...), each category with a per-minute chart,
//! each entry with its count, per-minute shape and links to sample trees; a long-execution
//! entry also with its count per duration bucket (CAT's `duration` elements). With
//! `day=YYYYMMDD` instead of `hour=`, the whole UTC day ([`crate::day`]): the day's counts,
//! charts and shapes hour by hour, the day's first samples.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use maud::{html, Markup};
use ocelot_analyzer::{LongThresholds, ProblemDurationView, ProblemEntryView, ViewQuery, OTHERS};

use crate::board::{format_count, message_link, per_hour, per_minute, rows_cut, Board, FormOrigin};
use crate::chart::{bar_chart, hourly_bar_chart, sparkline};
use crate::cpu::heavy;
use crate::day::problem_day;
use crate::error::{PageError, PageQuery};
use crate::folded_note::{folded_note, others_machine, FoldedReport, OthersRow};
use crate::layout::page;
use crate::links::anchor_id;
use crate::selection::ReportParams;
use crate::state::AppState;

const PATH: &str = "/p";
const HEADING: &str = "Problems";
/// Categories in the order people look at them; others follow alphabetically.
const CATEGORY_ORDER: [&str; 6] = [
    "error",
    "long-url",
    "long-service",
    "long-call",
    "long-sql",
    "long-cache",
];
/// Sample links shown per entry; the rest are behind a "+N more" that opens in place.
const SAMPLES_SHOWN: usize = 5;

/// The routes of this module.
pub(crate) fn routes() -> Router<AppState> {
    Router::new().route(PATH, get(problem_board))
}

fn category_rank(category: &str) -> usize {
    CATEGORY_ORDER
        .iter()
        .position(|c| *c == category)
        .unwrap_or(CATEGORY_ORDER.len())
}

/// What a category means, for the section's subtitle, with the threshold in ms of the
/// long categories. `thresholds` are those the domain's report was counted with.
fn category_hint(category: &str, thresholds: &LongThresholds) -> String {
    let long = |what: &str, ms: u64| format!("{what} that took {} ms or longer", format_count(ms));
    match category {
        "error" => "Failed transactions and Error/Exception events".to_owned(),
        "long-url" => long("URL transactions", thresholds.url_ms),
        "long-service" => long(
            "Service and PigeonService transactions",
            thresholds.service_ms,
        ),
        "long-call" => long("Call and PigeonCall transactions", thresholds.call_ms),
        "long-sql" => long("SQL transactions", thresholds.sql_ms),
        "long-cache" => long("Cache.* transactions", thresholds.cache_ms),
        _ => String::new(),
    }
}

async fn problem_board(
    State(state): State<AppState>,
    PageQuery(params): PageQuery<ReportParams>,
    PageQuery(origin): PageQuery<FormOrigin>,
) -> Result<(StatusCode, Markup), PageError> {
    let params = origin.apply(params);
    let board = Board::resolve_with_days(&state, &params, PATH).await?;
    let query = ViewQuery {
        ip: board.ip.as_deref(),
        type_: params.type_(),
        elapsed_seconds: board.elapsed_seconds,
        max_names: None,
        keep_name: None,
    };
    // The machines and the entries shown: of the hour, or of the day's hours merged.
    let view = if !board.has_domain() {
        None
    } else if let Some(day) = board.day {
        let source = state.reports.as_ref();
        let merged = problem_day(source, &board.domain, day, &board.period_hours).await;
        (!merged.hours().is_empty()).then(|| {
            heavy(|| {
                let view = merged.view(&query);
                (view.ips, view.problems, view.folded)
            })
        })
    } else {
        let report = state
            .reports
            .problem(board.domain.clone(), board.hour)
            .await;
        report.map(|report| {
            heavy(|| {
                let view = report.view(&query);
                (view.ips, view.problems, view.folded)
            })
        })
    };
    let Some((ips, problems, folded)) = view else {
        let (status, body) = board.empty(HEADING);
        return Ok((status, page(&board.title(HEADING), PATH, body)));
    };
    if !board.knows_machine(&ips) {
        let (status, body) = board.unknown_machine(HEADING, &ips, true);
        return Ok((status, page(&board.title(HEADING), PATH, body)));
    }
    let mut categories: BTreeMap<(usize, &str), Vec<&ProblemEntryView>> = BTreeMap::new();
    for entry in &problems {
        categories
            .entry((category_rank(&entry.category), &entry.category))
            .or_default()
            .push(entry);
    }
    let total: u64 = problems.iter().map(|p| p.count).sum();
    let by_hour = board.day.is_some();
    let config = state.reports.analyzer_config();
    let thresholds = config.long_thresholds_for(&board.domain);
    let others = others_rows(&board, &ips, &categories);
    let body = html! {
        (board.controls(HEADING, Some(&ips), true))
        (folded_note(&board, config, FoldedReport::Problems, folded, &others))
        @if categories.is_empty() {
            section.empty-state {
                h2 { "No problems" }
                p { "Nothing failed and nothing was slow in " (board.period_phrase()) "." }
            }
        } @else {
            nav.category-nav aria-label="Categories" {
                @for ((_, category), entries) in &categories {
                    a.category-pill href={ "#" (anchor_id("", category)) } {
                        (category) " " span.count { (format_count(entries.iter().map(|e| e.count).sum())) }
                    }
                }
                span.muted { (format_count(total)) @if total == 1 { " problem" } @else { " problems" } " in all" }
            }
        }
        @for ((_, category), entries) in &categories {
            (category_section(category, entries, by_hour, thresholds))
        }
    };
    Ok((StatusCode::OK, page(&board.title(HEADING), PATH, body)))
}

/// The rows under `OTHERS` of a problem board: each category with an entry whose type or
/// name is `OTHERS`, and over all machines the machine `OTHERS`.
fn others_rows(
    board: &Board,
    ips: &[String],
    categories: &BTreeMap<(usize, &str), Vec<&ProblemEntryView>>,
) -> Vec<OthersRow> {
    let folded = |e: &&ProblemEntryView| e.type_ == OTHERS || e.name == OTHERS;
    let mut rows: Vec<OthersRow> = (categories.iter())
        .filter(|(_, entries)| entries.iter().any(folded))
        .map(|((_, category), _)| OthersRow {
            label: (*category).to_owned(),
            href: format!("#{}", anchor_id("", category)),
        })
        .collect();
    rows.extend(others_machine(board, ips));
    rows
}

/// The entries' counts added up, one value per minute of the hour, or per hour of the day
/// when `by_hour` (a day board's entries have hourly rows).
fn entry_series(entries: &[&ProblemEntryView], by_hour: bool) -> Vec<f64> {
    if by_hour {
        per_hour(
            entries
                .iter()
                .flat_map(|e| e.hours.iter())
                .map(|h| (h.hour.as_str(), h.count as f64)),
        )
    } else {
        per_minute(
            entries
                .iter()
                .flat_map(|e| e.minutes.iter())
                .map(|m| (m.minute, m.count as f64)),
        )
    }
}

fn category_section(
    category: &str,
    entries: &[&ProblemEntryView],
    by_hour: bool,
    thresholds: &LongThresholds,
) -> Markup {
    let mut entries = entries.to_vec();
    entries.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.name.cmp(&b.name)));
    let series = entry_series(&entries, by_hour);
    let chart = if by_hour {
        hourly_bar_chart(&format!("{category} per hour"), "count", &series)
    } else {
        bar_chart(&format!("{category} per minute"), "count", &series)
    };
    let total: u64 = entries.iter().map(|e| e.count).sum();
    let entry_count = entries.len();
    // Long executions have buckets (errors none, nor long entries of checkpoints written
    // before buckets were kept): the column is there when an entry has some.
    let durations = category_durations(&entries);
    // Entries are client data (a thousand machines with names of their own make hundreds of
    // thousands), each row with a sparkline: cut as the boards' name tables are.
    let left_out = rows_cut(
        &mut entries,
        "entries",
        "The JSON API, /api/problem, lists every one.",
    );
    // Categories are the analyzer's ("error", "long-url", ...), whose ids stay as they are;
    // the id is built as every in-page anchor is, in case a stored report holds another.
    html! {
        section.panel.problem-category id=(anchor_id("", category)) {
            h2 {
                span.badge.fail[category == "error"].neutral[category != "error"] { (category) }
                " " (format_count(total))
                span.count { (entry_count) @if entry_count == 1 { " entry" } @else { " entries" } }
            }
            p.hint {
                (category_hint(category, thresholds))
                @if !durations.is_empty() {
                    span.durations-total { " · " (duration_chips(&durations)) }
                }
            }
            div.charts.one { figure.chart-box.failures[category == "error"] { (chart) } }
            div.table-wrap {
                table.report {
                    thead {
                        tr {
                            th { "Type" }
                            th { "Name" }
                            th.num { "Count" }
                            @if !durations.is_empty() { th title=(DURATIONS_HINT) { "Took" } }
                            th { @if by_hour { "Per hour" } @else { "Per minute" } }
                            th { "Samples" }
                        }
                    }
                    tbody {
                        @for entry in &entries {
                            tr {
                                td.name { (entry.type_) }
                                td.name { (entry.name) }
                                td.num { (format_count(entry.count)) }
                                @if !durations.is_empty() { td.durations { (duration_chips(&entry.durations)) } }
                                td.spark { (sparkline(&entry_series(std::slice::from_ref(entry), by_hour))) }
                                td.links { (sample_links(&entry.sample_message_ids)) }
                            }
                        }
                    }
                }
            }
            @if let Some(note) = left_out { (note) }
        }
    }
}

/// What the duration column and its chips mean.
const DURATIONS_HINT: &str = "executions per duration bucket (CAT's): ≥1 s counts those that took 1 s or more and less than the next bucket's bound";

/// The buckets of a category's entries added up, ascending.
fn category_durations(entries: &[&ProblemEntryView]) -> Vec<ProblemDurationView> {
    let mut sums: BTreeMap<u64, u64> = BTreeMap::new();
    for bucket in entries.iter().flat_map(|e| &e.durations) {
        let sum = sums.entry(bucket.ms).or_default();
        *sum = sum.saturating_add(bucket.count);
    }
    (sums.into_iter())
        .map(|(ms, count)| ProblemDurationView { ms, count })
        .collect()
}

/// A long execution's buckets as chips: `≥1 s 12`, `≥2 s 3`, `≥5 s 1`.
fn duration_chips(buckets: &[ProblemDurationView]) -> Markup {
    html! {
        @for b in buckets {
            span.bucket title={ (format_count(b.count)) " took " (bucket_bound(b.ms)) " or more, less than the next bucket" } {
                span.bound { "≥" (bucket_bound(b.ms)) } " " (format_count(b.count))
            }
        }
    }
}

/// A bucket's lower bound as people read it: `50 ms`, `1 s`, `1.5 s`.
fn bucket_bound(ms: u64) -> String {
    if ms < 1_000 {
        format!("{ms} ms")
    } else {
        // Exact: a whole number of ms over 1000 prints with at most three decimals.
        format!("{} s", ms as f64 / 1_000.0)
    }
}

/// The first [`SAMPLES_SHOWN`] sample links, then every other kept sample behind a
/// `+N more` that opens in place (no script needed).
fn sample_links(ids: &[String]) -> Markup {
    let link = |i: usize, id: &String| message_link(id, html! { "#" (i + 1) }, "sample");
    html! {
        @for (i, id) in ids.iter().enumerate().take(SAMPLES_SHOWN) { (link(i, id)) }
        @if ids.len() > SAMPLES_SHOWN {
            details.more-samples {
                summary.muted { "+" (ids.len() - SAMPLES_SHOWN) " more" }
                // Wraps within the column the first five set (see `.more-samples` in
                // ocelot.css) instead of widening the table and squeezing the names.
                div {
                    @for (i, id) in ids.iter().enumerate().skip(SAMPLES_SHOWN) { (link(i, id)) }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kept_sample_is_linked() {
        let ids: Vec<String> = (1..=41)
            .map(|seq| format!("payment-service-0a000301-499037-{seq}"))
            .collect();
        let html = sample_links(&ids).into_string();
        for id in &ids {
            assert!(html.contains(&format!(r#"href="/m/{id}""#)), "{id}: {html}");
        }
        assert!(
            html.contains(r#"<summary class="muted">+36 more</summary>"#),
            "{html}"
        );
        assert!(html.contains(">#41</a>"));
        let few = sample_links(&ids[..5]).into_string();
        assert!(!few.contains("<details"), "nothing to open: {few}");
    }

    #[test]
    fn bucket_bounds_read_in_ms_under_a_second_and_in_s_from_one() {
        assert_eq!(bucket_bound(10), "10 ms");
        assert_eq!(bucket_bound(500), "500 ms");
        assert_eq!(bucket_bound(1_000), "1 s");
        assert_eq!(bucket_bound(1_500), "1.5 s");
        assert_eq!(bucket_bound(1_250), "1.25 s");
        assert_eq!(bucket_bound(60_000), "60 s");
    }

    #[test]
    fn long_categories_name_their_threshold_in_ms() {
        let thresholds = LongThresholds::default();
        assert_eq!(
            category_hint("long-sql", &thresholds),
            "SQL transactions that took 100 ms or longer"
        );
        assert_eq!(
            category_hint("long-url", &thresholds),
            "URL transactions that took 1,000 ms or longer"
        );
        let custom = LongThresholds {
            service_ms: 250,
            ..LongThresholds::default()
        };
        assert!(category_hint("long-service", &custom).contains("250 ms"));
        assert_eq!(category_hint("something-else", &thresholds), "");
    }
}
