//! The problem board, `GET /p?domain=&hour=&ip=`: CAT's Problem report. Problems grouped
//! by category (error, long-url, long-sql, ...), each category with a per-minute chart,
//! each entry with its count, per-minute shape and links to sample trees. With
//! `day=YYYYMMDD` instead of `hour=`, the whole UTC day ([`crate::day`]): the day's counts,
//! charts and shapes hour by hour, the day's first samples.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use maud::{html, Markup};
use ocelot_analyzer::{LongThresholds, ProblemEntryView, ViewQuery};

use crate::board::{format_count, message_link, per_hour, per_minute, rows_cut, Board, FormOrigin};
use crate::chart::{bar_chart, hourly_bar_chart, sparkline};
use crate::cpu::heavy;
use crate::day::problem_day;
use crate::error::{PageError, PageQuery};
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
/// long categories. `thresholds` are the analyzer's: `ocelot serve` runs it with the
/// defaults (CAT's), and the web crate is not told of others.
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
                (view.ips, view.problems)
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
                (view.ips, view.problems)
            })
        })
    };
    let Some((ips, problems)) = view else {
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
    let body = html! {
        (board.controls(HEADING, Some(&ips), true))
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
            (category_section(category, entries, by_hour))
        }
    };
    Ok((StatusCode::OK, page(&board.title(HEADING), PATH, body)))
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

fn category_section(category: &str, entries: &[&ProblemEntryView], by_hour: bool) -> Markup {
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
            p.hint { (category_hint(category, &LongThresholds::default())) }
            div.charts.one { figure.chart-box.failures[category == "error"] { (chart) } }
            div.table-wrap {
                table.report {
                    thead {
                        tr {
                            th { "Type" }
                            th { "Name" }
                            th.num { "Count" }
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
