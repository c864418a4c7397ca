//! A whole UTC day, week or month of a domain (`day=`, `week=`, `month=`: CAT's "history"
//! mode) for the transaction, event and problem boards and their JSON API: the span's hours
//! fetched one at a time from the [`ReportSource`] (live for the open hour, stored for
//! sealed ones) and merged into an [`ocelot_analyzer::TransactionDay`],
//! [`ocelot_analyzer::EventDay`] or [`ocelot_analyzer::ProblemDay`] over the [`Span`].
//!
//! Design constraints: an hour's report is dropped once it is merged, so a day costs the
//! merged day plus one hour, never 24 hours at once (a week or month likewise, its rows
//! days); each hour is folded and merged off the
//! async workers ([`heavy`]); a transaction hour is asked for as the view needs it
//! ([`ReportSource::transaction_for`]: one machine, one type), so a live hour copies only
//! that. Non-goal: caching the merged day. A day is merged again on every request, as an
//! hour is viewed; the sealed hours' parsed reports are what the source may keep (the
//! collector does, within a byte budget), so a day viewed again reads no stored report.
//! A week or month merges 168 to 744 hours per request, so it costs that many times an
//! hour's merge (and reads what the cache does not hold); hours deleted by the store's
//! retention (`store.retention_days`) are simply absent.

use std::future::Future;

use ocelot_analyzer::{
    hour_label, EventDay, EventReport, ProblemDay, ProblemReport, Span, TransactionDay,
    TransactionReport,
};

use crate::cpu::heavy;
use crate::report_source::ReportSource;

/// The hours of `span` in which `domain` has a report of any kind, ascending.
pub(crate) async fn hours_of_domain(
    source: &dyn ReportSource,
    domain: &str,
    span: Span,
) -> Vec<u64> {
    let in_span = span.hours();
    let mut hours = Vec::new();
    for hour in source.hours().await {
        if in_span.contains(&hour) && source.domains(hour).await.iter().any(|d| d == domain) {
            hours.push(hour);
        }
    }
    hours
}

/// The transactions of `domain` over `hours` of `span`, as a view of machine `ip` and type
/// `type_` (`None`: all) reads them.
pub(crate) async fn transaction_day(
    source: &dyn ReportSource,
    domain: &str,
    span: Span,
    hours: &[u64],
    ip: Option<&str>,
    type_: Option<&str>,
) -> TransactionDay {
    let mut merged = TransactionDay::over(domain, span);
    let fetch = |hour| {
        let (ip, type_) = (ip.map(str::to_owned), type_.map(str::to_owned));
        source.transaction_for(domain.to_owned(), hour, ip, type_)
    };
    add_hours(
        &mut merged,
        "transaction",
        span,
        hours,
        fetch,
        TransactionDay::add_hour,
        TransactionReport::hour,
    )
    .await;
    merged
}

/// The events of `domain` over `hours` of `span`.
pub(crate) async fn event_day(
    source: &dyn ReportSource,
    domain: &str,
    span: Span,
    hours: &[u64],
) -> EventDay {
    let mut merged = EventDay::over(domain, span);
    let fetch = |hour| source.event(domain.to_owned(), hour);
    add_hours(
        &mut merged,
        "event",
        span,
        hours,
        fetch,
        EventDay::add_hour,
        EventReport::hour,
    )
    .await;
    merged
}

/// The problems of `domain` over `hours` of `span`.
pub(crate) async fn problem_day(
    source: &dyn ReportSource,
    domain: &str,
    span: Span,
    hours: &[u64],
) -> ProblemDay {
    let mut merged = ProblemDay::over(domain, span);
    let fetch = |hour| source.problem(domain.to_owned(), hour);
    add_hours(
        &mut merged,
        "problem",
        span,
        hours,
        fetch,
        ProblemDay::add_hour,
        ProblemReport::hour,
    )
    .await;
    merged
}

/// Adds each of `hours` (ascending, so what a span keeps "the first" of is its first)
/// to `merged`: fetched (`fetch`), then added (`add_hour`) off the async workers and
/// dropped before the next is fetched. `hour_of` names a report's hour for the log.
async fn add_hours<D, R, F>(
    merged: &mut D,
    kind: &str,
    span: Span,
    hours: &[u64],
    fetch: impl Fn(u64) -> F,
    add_hour: fn(&mut D, &R) -> bool,
    hour_of: fn(&R) -> u64,
) where
    F: Future<Output = Option<std::sync::Arc<R>>>,
{
    for &hour in hours {
        if let Some(report) = fetch(hour).await {
            let added = heavy(|| add_hour(merged, &report));
            warn_unless(added, kind, hour_of(&report), hour, span);
        }
    }
}

/// A source that answers an hour with another hour's report is broken; the day leaves that
/// report out and says so in the log rather than miscounting.
fn warn_unless(added: bool, kind: &str, labelled: u64, asked: u64, span: Span) {
    if !added {
        tracing::warn!(
            kind,
            asked = %hour_label(asked),
            labelled = %hour_label(labelled),
            period = span.kind(),
            first_day = %span.label(),
            "a report of another hour was left out of a day, week or month view"
        );
    }
}
