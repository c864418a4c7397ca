//! The problem board, `GET /p?domain=&hour=&ip=&type=`: CAT's Problem report. Problems
//! grouped by category (error, long-url, long-sql, ...), each category with a per-minute
//! chart, each entry with its count, per-minute shape and links to sample trees; a
//! long-execution entry also with its count per duration bucket (CAT's `duration`
//! elements). An entry's type links the board showing that type only (`type=`), which
//! names the type with a link back to every type, as the Transaction and Event boards do. With
//! `day=YYYYMMDD` instead of `hour=`, the whole UTC day ([`crate::day`]): the day's counts,
//! charts and shapes hour by hour, the day's first samples.
//!
//! `long_ms=long-url:3000[,long-sql:500..]` raises a long category's threshold, as CAT's
//! `urlThreshold` and the like do: its entries count only their buckets at or over it, and
//! entries with none are hidden. A bucket chip links the board with its bound as the
//! threshold. The report keeps minutes and samples per entry, not per bucket, so with a
//! raised threshold the charts, shapes and samples stay those of all the entry's long
//! executions, and the page says so. A threshold under the one the collector records a
//! category from cannot lower it (nothing shorter is in the report): the category's
//! section says so, also when it has no entry.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use maud::{html, Markup};
use ocelot_analyzer::{
    day_label, long_buckets_ms, LongThresholds, ProblemDurationView, ProblemEntryView, Span,
    ViewQuery, OTHERS,
};

use crate::board::{
    format_count, label, message_link, per_hour, per_minute, rows_cut, Board, FormOrigin,
};
use crate::chart::{
    bar_chart_running, hourly_bar_chart, labelled_bar_chart, sparkline, Bar, Counted,
};
use crate::cpu::heavy;
use crate::daily::chart_days;
use crate::day::problem_day;
use crate::error::{PageError, PageQuery};
use crate::folded_note::{folded_note, others_machine, FoldedReport, OthersRow};
use crate::hour::parse_day_label;
use crate::layout::page;
use crate::links::anchor_id;
use crate::selection::{LongMinimums, ReportParams, LONG_CATEGORIES};
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
/// long categories. `thresholds` are those the domain's report was counted with; `raised`,
/// the threshold `long_ms=` raised for the category, which the subtitle names instead.
fn category_hint(category: &str, thresholds: &LongThresholds, raised: Option<&Raised>) -> String {
    let what = match category {
        "error" => {
            return "Failed transactions and Error/Exception events, each counted: a failed \
                    request that logged an Error event counts twice, once as its transaction \
                    and once as its event"
                .to_owned()
        }
        "long-url" => "URL transactions",
        "long-service" => "Service and PigeonService transactions",
        "long-call" => "Call and PigeonCall transactions",
        "long-sql" => "SQL transactions",
        "long-cache" => "Cache.* transactions",
        _ => return String::new(),
    };
    let Some(threshold_ms) = recorded_from_ms(category, thresholds) else {
        return String::new();
    };
    let took = format!(
        "{what} that took {} ms or longer",
        format_count(threshold_ms)
    );
    let Some(raised) = raised else {
        return took;
    };
    let asked = bucket_bound(raised.asked_ms);
    if raised.asked_ms < threshold_ms {
        return format!("{took} (none shorter is recorded: the {asked} asked for is under that)");
    }
    match (raised.from_ms, raised.highest_ms) {
        (Some(from), _) if from == raised.asked_ms => {
            format!("{what} that took {} or longer", bucket_bound(from))
        }
        // Executions from the threshold asked for up to this bound sit in a lower bucket,
        // with shorter ones: the bound is what the counts are exact for.
        (Some(from), _) => format!(
            "{what} that took {} or longer (the first bucket at or over the {asked} asked for)",
            bucket_bound(from)
        ),
        (None, Some(highest)) => format!(
            "{what} in a duration bucket of {asked} or over: none (the highest bucket is \
             ≥{}, whose executions may have taken longer)",
            bucket_bound(highest)
        ),
        (None, None) => {
            format!("{what} in a duration bucket of {asked} or over: none (no bucket was kept)")
        }
    }
}

/// The threshold (ms) from which the collector records a long category's executions for
/// a domain with `thresholds`; `None` for a category that is not a long one. Nothing
/// shorter is in the report, so `long_ms=` can raise it but not lower it.
fn recorded_from_ms(category: &str, thresholds: &LongThresholds) -> Option<u64> {
    match category {
        "long-url" => Some(thresholds.url_ms),
        "long-service" => Some(thresholds.service_ms),
        "long-call" => Some(thresholds.call_ms),
        "long-sql" => Some(thresholds.sql_ms),
        "long-cache" => Some(thresholds.cache_ms),
        _ => None,
    }
}

/// A long category's threshold raised by `long_ms=`, as applied to its entries.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Raised {
    /// The threshold asked for.
    asked_ms: u64,
    /// The lowest bucket bound at or over it among the category's entries: the executions
    /// counted took at least this long, and every one that did is counted. `None`: no
    /// bucket is that high.
    from_ms: Option<u64>,
    /// The highest bucket bound among the category's entries.
    highest_ms: Option<u64>,
    /// Entries hidden: none of their executions is in a bucket at or over the threshold.
    hidden: usize,
}

/// Applies the raised thresholds: an entry of a category with one counts only its buckets
/// at or over it, and one without any is dropped. Returns what was applied per category.
fn raise_thresholds(
    problems: &mut Vec<ProblemEntryView>,
    minimums: &LongMinimums,
) -> BTreeMap<&'static str, Raised> {
    let mut raised = BTreeMap::new();
    for category in LONG_CATEGORIES {
        let Some(asked_ms) = minimums.get(category) else {
            continue;
        };
        let bounds = || {
            (problems.iter())
                .filter(|e| e.category == category)
                .flat_map(|e| e.durations.iter().map(|b| b.ms))
        };
        let from_ms = bounds().filter(|&ms| ms >= asked_ms).min();
        let highest_ms = bounds().max();
        let mut hidden = 0;
        for entry in problems.iter_mut().filter(|e| e.category == category) {
            entry.count = (entry.durations.iter())
                .filter(|b| b.ms >= asked_ms)
                .fold(0u64, |sum, b| sum.saturating_add(b.count));
            hidden += usize::from(entry.count == 0);
        }
        raised.insert(
            category,
            Raised {
                asked_ms,
                from_ms,
                highest_ms,
                hidden,
            },
        );
    }
    problems.retain(|e| e.count > 0 || !raised.contains_key(e.category.as_str()));
    raised
}

async fn problem_board(
    State(state): State<AppState>,
    PageQuery(params): PageQuery<ReportParams>,
    PageQuery(origin): PageQuery<FormOrigin>,
) -> Result<(StatusCode, Markup), PageError> {
    let params = origin.apply(params);
    let minimums = params.long_minimums()?;
    let board = Board::resolve_with_days(&state, &params, PATH).await?;
    let query = ViewQuery {
        ip: board.ip.as_deref(),
        type_: params.type_(),
        elapsed_seconds: board.elapsed_seconds,
        max_names: None,
        keep_name: None,
    };
    // The machines and the entries shown: of the hour, or of the day's hours merged.
    let mut unreadable = Vec::new();
    let view = if !board.has_domain() {
        None
    } else if let Some(span) = board.span {
        let merged = problem_day(&state, &board.domain, span, &board.period_hours).await;
        unreadable = merged.unreadable_hours;
        let merged = merged.day;
        if merged.hours().is_empty() && !unreadable.is_empty() {
            let (status, body) = board.unreadable_span(HEADING, "problem", &unreadable);
            return Ok((status, page(&board.title(HEADING), PATH, body)));
        }
        (!merged.hours().is_empty()).then(|| {
            heavy(|| match span {
                Span::Day(_) => {
                    let view = merged.view(&query);
                    (view.ips, view.problems, view.folded)
                }
                _ => {
                    let view = merged.span_view(&query);
                    (view.head.ips, view.problems, view.folded)
                }
            })
        })
    } else {
        let report = state
            .reports
            .problem(board.domain.clone(), board.hour)
            .await;
        if report.is_none() {
            if let Some((status, body)) = board.unreadable(&state, HEADING, "problem").await {
                return Ok((status, page(&board.title(HEADING), PATH, body)));
            }
        }
        report.map(|report| {
            heavy(|| {
                let view = report.view(&query);
                (view.ips, view.problems, view.folded)
            })
        })
    };
    let Some((ips, mut problems, folded)) = view else {
        let (status, body) = board.empty(HEADING);
        return Ok((status, page(&board.title(HEADING), PATH, body)));
    };
    if !board.knows_machine(&ips) {
        let (status, body) = board.unknown_machine(HEADING, &ips, true);
        return Ok((status, page(&board.title(HEADING), PATH, body)));
    }
    // The buckets of each category, of all its entries: its chips offer every bucket, also
    // those under a raised threshold and when it hides every entry.
    let mut durations: BTreeMap<String, Vec<ProblemDurationView>> = BTreeMap::new();
    for entry in problems.iter().filter(|e| !e.durations.is_empty()) {
        durations.entry(entry.category.clone()).or_default();
    }
    for (category, sums) in &mut durations {
        let entries: Vec<&ProblemEntryView> = problems
            .iter()
            .filter(|e| e.category == *category)
            .collect();
        *sums = category_durations(&entries);
    }
    let raised = raise_thresholds(&mut problems, &minimums);
    let mut categories: BTreeMap<(usize, &str), Vec<&ProblemEntryView>> = BTreeMap::new();
    for entry in &problems {
        categories
            .entry((category_rank(&entry.category), &entry.category))
            .or_default()
            .push(entry);
    }
    let config = state.reports.analyzer_config();
    let thresholds = config.long_thresholds_for(&board.domain);
    // A category whose every entry the threshold hid stays, to say so and offer the others;
    // so does one asked for under the threshold its executions are recorded from (CAT's
    // `urlThreshold=50`), to say that nothing shorter is known rather than show nothing.
    for (category, applied) in &raised {
        let lowered = recorded_from_ms(category, thresholds)
            .is_some_and(|recorded_ms| applied.asked_ms < recorded_ms);
        if applied.hidden > 0 || lowered {
            categories
                .entry((category_rank(category), category))
                .or_default();
        }
    }
    let total: u64 = problems.iter().map(|p| p.count).sum();
    let by_hour = match board.span {
        None => Per::Minute,
        Some(Span::Day(_)) => Per::Hour,
        Some(_) => Per::Day(chart_days(
            &board,
            (problems.iter())
                .flat_map(|p| p.days.iter())
                .filter_map(|d| parse_day_label(&d.day)),
        )),
    };
    let others = others_rows(&board, &ips, &categories);
    // A type asked for filters every category: the page names it, with the way back.
    let every_type = board.url_without("type");
    let body = html! {
        (board.unreadable_hours_note("problem", &unreadable))
        (board.controls(HEADING, Some(&ips), true))
        (folded_note(&board, config, FoldedReport::Problems, folded, &others))
        @if let Some(type_) = params.type_().filter(|_| !categories.is_empty()) {
            nav.crumbs aria-label="Breadcrumb" {
                a href=(every_type) { "All types" }
                span.sep { "›" }
                span.current { (type_) }
            }
        }
        @if categories.is_empty() {
            section.empty-state {
                @if let Some(type_) = params.type_() {
                    h2 { "No problems of type “" (type_) "”" }
                    p { "No " (type_) " message failed or was slow in " (board.period_phrase()) "." }
                    p { a href=(every_type) { "Show every type" } }
                } @else {
                    h2 { "No problems" }
                    p { "Nothing failed and nothing was slow in " (board.period_phrase()) "." }
                }
            }
        } @else {
            nav.category-nav aria-label="Categories" {
                @for ((_, category), entries) in &categories {
                    a.category-pill href={ "#" (anchor_id("", category)) } {
                        (category) " " span.count { (format_count(entries.iter().map(|e| e.count).sum())) }
                    }
                }
                span.muted title=(TOTAL_HINT) { (format_count(total)) @if total == 1 { " problem" } @else { " problems" } " in all" }
            }
        }
        @for ((_, category), entries) in &categories {
            (category_section(&CategoryShown {
                category,
                entries,
                durations: durations.get(*category).map_or(&[], Vec::as_slice),
                raised: raised.get(*category),
                by_hour: &by_hour,
                thresholds,
                board: &board,
                minimums: &minimums,
            }))
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

/// What a board's rows are per: minutes of an hour, hours of a day, or days of a week or
/// month (the days charted: [`chart_days`]).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Per {
    Minute,
    Hour,
    Day(std::ops::Range<u64>),
}

impl Per {
    /// `minute`, `hour` or `day`.
    fn unit(&self) -> &'static str {
        match self {
            Per::Minute => "minute",
            Per::Hour => "hour",
            Per::Day(_) => "day",
        }
    }
}

/// The entries' counts added up, one value per minute of the hour, per hour of the day (a
/// day board's entries have hourly rows), or per day of the week or month.
fn entry_series(entries: &[&ProblemEntryView], by_hour: &Per) -> Vec<f64> {
    match by_hour {
        Per::Hour => per_hour(
            entries
                .iter()
                .flat_map(|e| e.hours.iter())
                .map(|h| (h.hour.as_str(), h.count as f64)),
        ),
        Per::Minute => per_minute(
            entries
                .iter()
                .flat_map(|e| e.minutes.iter())
                .map(|m| (m.minute, m.count as f64)),
        ),
        Per::Day(days) => {
            let mut series = vec![0.0; (days.end - days.start) as usize];
            for row in entries.iter().flat_map(|e| e.days.iter()) {
                let slot = parse_day_label(&row.day)
                    .and_then(|day| day.checked_sub(days.start))
                    .and_then(|slot| series.get_mut(slot as usize));
                if let Some(slot) = slot {
                    *slot += row.count as f64;
                }
            }
            series
        }
    }
}

/// A bar per day of `days` for `series` ([`entry_series`] of a week or month).
fn daily_chart(title: &str, days: &std::ops::Range<u64>, series: &[f64]) -> Markup {
    let labels: Vec<(String, String)> = days
        .clone()
        .map(|day| {
            let day = day_label(day);
            (
                format!("{}-{}", &day[4..6], &day[6..8]),
                format!("{}-{}-{}", &day[0..4], &day[4..6], &day[6..8]),
            )
        })
        .collect();
    let bars: Vec<Bar<'_>> = (labels.iter().zip(series))
        .map(|((short, long), value)| Bar {
            label: short,
            tooltip: long,
            value: *value,
        })
        .collect();
    let counted = Counted {
        one: "occurrence",
        many: "occurrences",
    };
    labelled_bar_chart(title, counted, &bars)
}

/// What a category's section shows.
struct CategoryShown<'a> {
    category: &'a str,
    /// Its entries shown (under a raised threshold, those with executions at or over it,
    /// with those counted).
    entries: &'a [&'a ProblemEntryView],
    /// Its buckets, of all its entries ([`category_durations`]).
    durations: &'a [ProblemDurationView],
    /// The threshold `long_ms=` raised for it.
    raised: Option<&'a Raised>,
    /// What the rows are per (a day board's are hours, a week's or month's days).
    by_hour: &'a Per,
    /// The thresholds the domain's report was counted with.
    thresholds: &'a LongThresholds,
    board: &'a Board,
    minimums: &'a LongMinimums,
}

impl CategoryShown<'_> {
    /// The board with `ms` as this category's threshold, at the category's section: a chip's
    /// link. `None` for a category `long_ms=` does not know.
    fn threshold_url(&self, ms: u64) -> Option<String> {
        let category = LONG_CATEGORIES.iter().find(|c| **c == self.category)?;
        let url = (self.board).url_keeping("long_ms", &self.minimums.with(category, ms));
        Some(format!("{url}#{}", anchor_id("", self.category)))
    }

    /// The board without this category's raised threshold, at the category's section.
    fn clear_url(&self) -> String {
        let url = (self.board).url_keeping("long_ms", &self.minimums.without(self.category));
        format!("{url}#{}", anchor_id("", self.category))
    }

    /// The board showing only the problems of type `type_`, at this category's section.
    fn type_url(&self, type_: &str) -> String {
        let url = self.board.url_keeping("type", type_);
        format!("{url}#{}", anchor_id("", self.category))
    }

    /// The bucket chips of `buckets`, each a link raising the threshold to its bound.
    fn chips(&self, buckets: &[ProblemDurationView]) -> Markup {
        let bounds = self.bucket_bounds();
        duration_chips(buckets, &bounds, |ms| self.threshold_url(ms), self.raised)
    }

    /// The lower bounds of the category's buckets, ascending: those it is counted in now,
    /// and any its entries hold besides (a day over hours counted with other thresholds).
    fn bucket_bounds(&self) -> Vec<u64> {
        let mut bounds = long_buckets_ms(self.category, self.thresholds).unwrap_or_default();
        bounds.extend(self.durations.iter().map(|b| b.ms));
        bounds.sort_unstable();
        bounds.dedup();
        bounds
    }
}

fn category_section(shown: &CategoryShown<'_>) -> Markup {
    let CategoryShown {
        category,
        by_hour,
        durations,
        raised,
        ..
    } = *shown;
    let mut entries = shown.entries.to_vec();
    entries.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.name.cmp(&b.name)));
    let series = entry_series(&entries, by_hour);
    // A threshold asked for under the one executions are recorded from counts them all, as
    // none is asked for: the section says why, and nothing else changes.
    let lowered = raised.and_then(|raised| {
        recorded_from_ms(category, shown.thresholds).filter(|&ms| raised.asked_ms < ms)
    });
    // Minutes (hours) are kept per entry, not per bucket: under a raised threshold the
    // chart is of every long execution of the entries shown, and its title says so.
    let all = if raised.is_some() && lowered.is_none() {
        ", all long executions of the entries shown"
    } else {
        ""
    };
    let chart = match by_hour {
        Per::Hour => hourly_bar_chart(&format!("{category} per hour{all}"), "count", &series),
        Per::Minute => bar_chart_running(
            &format!("{category} per minute{all}"),
            "count",
            &series,
            shown.board.running_minute(),
        ),
        Per::Day(days) => daily_chart(&format!("{category} per day{all}"), days, &series),
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
            p.hint {
                (category_hint(category, shown.thresholds, raised))
                @if !durations.is_empty() {
                    span.durations-total { " · " (shown.chips(durations)) }
                }
            }
            @if let Some(raised) = raised {
                p.threshold-note {
                    @if let Some(recorded) = lowered {
                        "The collector records " (category) " executions from " (bucket_bound(recorded))
                        ", its threshold for this domain: none shorter is in the report, so nothing is known of those from the "
                        (bucket_bound(raised.asked_ms)) " asked for up to " (bucket_bound(recorded)) ". "
                        @if entries.is_empty() {
                            "None took " (bucket_bound(recorded)) " or longer in " (shown.board.period_phrase()) ". "
                        }
                    } @else if let Some(from) = raised.from_ms {
                        "Counts are of the executions in the buckets from " (bucket_bound(from)) " up. "
                    }
                    @if raised.hidden == 1 {
                        "1 entry with none that long is hidden. "
                    } @else if raised.hidden > 1 {
                        (format_count(raised.hidden as u64)) " entries with none that long are hidden. "
                    }
                    @if !entries.is_empty() && lowered.is_none() {
                        "The chart, the per-" (by_hour.unit())
                        " shapes and the samples are of all long executions of the entries shown: "
                        "the report keeps " (by_hour.unit()) "s"
                        " and samples per entry, not per duration bucket. "
                    }
                    a.clear-threshold href=(shown.clear_url()) { "Show all long executions" }
                }
            }
            @if !entries.is_empty() {
                div.charts.one { figure.chart-box.failures[category == "error"] { (chart) } }
                div.table-wrap {
                    table.report {
                        thead {
                            tr {
                                th { "Type" }
                                th { "Name" }
                                th.num { "Count" }
                                @if !durations.is_empty() { th title=(DURATIONS_HINT) { "Took" } }
                                th { "Per " (by_hour.unit()) }
                                th { "Samples" }
                            }
                        }
                        tbody {
                            @for entry in &entries {
                                tr {
                                    td.name { a href=(shown.type_url(&entry.type_)) { (label(&entry.type_)) } }
                                    td.name { (label(&entry.name)) }
                                    td.num { (format_count(entry.count)) }
                                    @if !durations.is_empty() { td.durations { (shown.chips(&entry.durations)) } }
                                    td.spark { (sparkline(&entry_series(std::slice::from_ref(entry), by_hour))) }
                                    td.links { (sample_links(&entry.sample_message_ids)) }
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

/// What the total over the categories counts.
const TOTAL_HINT: &str = "Failed transactions, Error/Exception events and long executions, each counted: a failed request that logged an Error event counts twice under error, and a slow one once more as a long execution";

/// What the duration column and its chips mean.
const DURATIONS_HINT: &str = "executions per duration bucket (CAT's): 1–2 s counts those that took 1 s or more and less than 2 s; a bucket's link shows only the executions from its lower bound up";

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

/// A long execution's buckets as chips of the ranges they count: `1–2 s 12`, `2–3 s 3`,
/// `≥5 s 1` (`bounds` are every bucket's lower bound, so a range ends where the next bucket
/// begins even when no execution fell in it). Each links the board with its lower bound as
/// the category's threshold (`url_of(ms)`; a plain chip when `None`), which counts that
/// bucket and every one above it. Under a `raised` threshold, the chips below it are
/// marked as not counted and the one it starts at as the current one.
fn duration_chips(
    buckets: &[ProblemDurationView],
    bounds: &[u64],
    url_of: impl Fn(u64) -> Option<String>,
    raised: Option<&Raised>,
) -> Markup {
    html! {
        @for b in buckets {
            @let next = bounds.iter().copied().find(|&ms| ms > b.ms);
            @let range = bucket_range(b.ms, next);
            @let under = raised.is_some_and(|r| b.ms < r.asked_ms);
            @let current = raised.is_some_and(|r| r.from_ms == Some(b.ms));
            @let title = html! {
                (format_count(b.count)) " took "
                @match next {
                    Some(next) => { (bucket_bound(b.ms)) " or more, less than " (bucket_bound(next)) }
                    None => { (bucket_bound(b.ms)) " or more" }
                }
                @if under { " (under the threshold: not counted)" }
            };
            @match url_of(b.ms) {
                Some(url) => {
                    a.bucket.under[under] href=(url) aria-current=[current.then_some("true")]
                        title={ (title) "; show only executions of " (bucket_bound(b.ms)) " or more (this bucket and those above)" } {
                        span.bound { (range) } " " (format_count(b.count))
                    }
                }
                None => {
                    span.bucket.under[under] title=(title) {
                        span.bound { (range) } " " (format_count(b.count))
                    }
                }
            }
        }
    }
}

/// A bucket as the range it counts, from its lower bound `ms` to the `next` bucket's:
/// `50–100 ms`, `500 ms–1 s`, `1–3 s`; the last, without a next, `≥5 s`.
fn bucket_range(ms: u64, next: Option<u64>) -> String {
    match next {
        None => format!("≥{}", bucket_bound(ms)),
        Some(next) if next < 1_000 => format!("{ms}–{next} ms"),
        Some(next) if ms >= 1_000 => {
            format!("{}–{} s", ms as f64 / 1_000.0, next as f64 / 1_000.0)
        }
        Some(next) => format!("{}–{}", bucket_bound(ms), bucket_bound(next)),
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

    /// "≥50 ms 453" read as cumulative (453 took 50 ms or more) while it counts a range.
    #[test]
    fn buckets_read_as_the_ranges_they_count() {
        assert_eq!(bucket_range(50, Some(100)), "50–100 ms");
        assert_eq!(bucket_range(100, Some(500)), "100–500 ms");
        assert_eq!(bucket_range(500, Some(1_000)), "500 ms–1 s");
        assert_eq!(bucket_range(1_000, Some(3_000)), "1–3 s");
        assert_eq!(bucket_range(1_500, Some(2_000)), "1.5–2 s");
        assert_eq!(bucket_range(5_000, None), "≥5 s");
        assert_eq!(bucket_range(500, None), "≥500 ms");
    }

    #[test]
    fn long_categories_name_their_threshold_in_ms() {
        let thresholds = LongThresholds::default();
        assert_eq!(
            category_hint("long-sql", &thresholds, None),
            "SQL transactions that took 100 ms or longer"
        );
        assert_eq!(
            category_hint("long-url", &thresholds, None),
            "URL transactions that took 1,000 ms or longer"
        );
        let custom = LongThresholds {
            service_ms: 250,
            ..LongThresholds::default()
        };
        assert!(category_hint("long-service", &custom, None).contains("250 ms"));
        assert_eq!(category_hint("something-else", &thresholds, None), "");
    }

    #[test]
    fn a_raised_threshold_names_the_bucket_bound_its_counts_are_exact_for() {
        let thresholds = LongThresholds::default();
        let raised = |asked_ms, from_ms, highest_ms| Raised {
            asked_ms,
            from_ms,
            highest_ms,
            hidden: 0,
        };
        let hint = |r: &Raised| category_hint("long-url", &thresholds, Some(r));
        assert_eq!(
            hint(&raised(3_000, Some(3_000), Some(5_000))),
            "URL transactions that took 3 s or longer"
        );
        assert_eq!(
            hint(&raised(2_500, Some(3_000), Some(5_000))),
            "URL transactions that took 3 s or longer (the first bucket at or over the 2.5 s \
             asked for)"
        );
        let none = hint(&raised(10_000, None, Some(5_000)));
        assert!(
            none.contains("10 s or over: none") && none.contains("≥5 s"),
            "{none}"
        );
        assert!(
            category_hint("error", &thresholds, Some(&raised(1, None, None)))
                .starts_with("Failed transactions and Error/Exception events, each counted")
        );
    }
}
