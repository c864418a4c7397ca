//! A whole UTC day, week or month of a domain (`day=`, `week=`, `month=`: CAT's "history"
//! mode) for the transaction, event, problem and Matrix boards and their JSON API: the
//! span's hours fetched one at a time from the [`ReportSource`] (live for the open hour,
//! stored for sealed ones) and merged into an [`ocelot_analyzer::TransactionDay`],
//! [`ocelot_analyzer::EventDay`], [`ocelot_analyzer::ProblemDay`] or
//! [`ocelot_analyzer::MatrixDay`] over the [`Span`].
//!
//! Design constraints: an hour's report is dropped once it is merged, so a day costs the
//! merged day plus one hour, never 24 hours at once (a week or month likewise, its rows
//! days); each hour is folded and merged off the
//! async workers ([`heavy`]); a transaction hour is asked for as the view needs it
//! ([`ReportSource::transaction_for`]: one machine, one type), so a live hour copies only
//! that. A day over for good is merged once and kept ([`DayCache`], within
//! `web.day_cache_mib`): a week or month adds its kept days whole and merges only the
//! hours of the days still running, and a past day viewed again is the kept one. The
//! sealed hours' parsed reports are what the source may keep besides (the collector does,
//! within a byte budget), so a day merged again reads no stored report. Hours deleted by
//! the store's retention (`store.retention_days`) are absent from days merged after. An
//! hour whose stored report cannot be read ([`ReportSource::unreadable`]) is left out and
//! named ([`Merged::unreadable_hours`]), so the views can say so rather than show less
//! traffic; a day missing one is not kept, so a report repaired later is seen.

use std::future::Future;
use std::sync::Arc;

use ocelot_analyzer::{
    hour_label, EventDay, EventReport, MatrixDay, MatrixReport, ProblemDay, ProblemReport, Span,
    TransactionDay, TransactionReport, HOURS_PER_DAY,
};

use crate::cpu::heavy;
use crate::day_cache::{day_is_final, DayKey, KeptDay};
use crate::report_source::ReportSource;
use crate::AppState;

/// A span merged, and the hours left out of it because their stored report cannot be
/// read.
pub(crate) struct Merged<D> {
    pub(crate) day: Arc<D>,
    /// Ascending.
    pub(crate) unreadable_hours: Vec<u64>,
}

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
    state: &AppState,
    domain: &str,
    span: Span,
    hours: &[u64],
    ip: Option<&str>,
    type_: Option<&str>,
) -> Merged<TransactionDay> {
    let source = state.reports.as_ref();
    let fetch = |hour| {
        let (ip, type_) = (ip.map(str::to_owned), type_.map(str::to_owned));
        source.transaction_for(domain.to_owned(), hour, ip, type_)
    };
    let merge = Merge {
        domain,
        scope: (ip, type_),
        over: |span| TransactionDay::over(domain, span),
        fetch,
        add_hour: TransactionDay::add_hour,
        add_day: TransactionDay::add_day,
        hour_of: TransactionReport::hour,
    };
    merge.span(state, span, hours).await
}

/// The events of `domain` over `hours` of `span`.
pub(crate) async fn event_day(
    state: &AppState,
    domain: &str,
    span: Span,
    hours: &[u64],
) -> Merged<EventDay> {
    let source = state.reports.as_ref();
    let merge = Merge {
        domain,
        scope: (None, None),
        over: |span| EventDay::over(domain, span),
        fetch: |hour| source.event(domain.to_owned(), hour),
        add_hour: EventDay::add_hour,
        add_day: EventDay::add_day,
        hour_of: EventReport::hour,
    };
    merge.span(state, span, hours).await
}

/// The problems of `domain` over `hours` of `span`.
pub(crate) async fn problem_day(
    state: &AppState,
    domain: &str,
    span: Span,
    hours: &[u64],
) -> Merged<ProblemDay> {
    let source = state.reports.as_ref();
    let merge = Merge {
        domain,
        scope: (None, None),
        over: |span| ProblemDay::over(domain, span),
        fetch: |hour| source.problem(domain.to_owned(), hour),
        add_hour: ProblemDay::add_hour,
        add_day: ProblemDay::add_day,
        hour_of: ProblemReport::hour,
    };
    merge.span(state, span, hours).await
}

/// The Matrix reports of `domain` over `hours` of `span`.
pub(crate) async fn matrix_day(
    state: &AppState,
    domain: &str,
    span: Span,
    hours: &[u64],
) -> Merged<MatrixDay> {
    let source = state.reports.as_ref();
    let merge = Merge {
        domain,
        scope: (None, None),
        over: |span| MatrixDay::over(domain, span),
        fetch: |hour| source.matrix(domain.to_owned(), hour),
        add_hour: MatrixDay::add_hour,
        add_day: MatrixDay::add_day,
        hour_of: MatrixReport::hour,
    };
    merge.span(state, span, hours).await
}

/// How one kind's span is merged: its empty span (`over`), an hour's report (`fetch`), and
/// how hours and kept days join it.
struct Merge<'a, D, R, O, Fe> {
    domain: &'a str,
    /// The view's machine and type, part of a kept day's key.
    scope: (Option<&'a str>, Option<&'a str>),
    over: O,
    fetch: Fe,
    add_hour: fn(&mut D, &R) -> bool,
    add_day: fn(&mut D, &D) -> bool,
    /// Names a report's hour for the log.
    hour_of: fn(&R) -> u64,
}

impl<D, R, O, Fe, F> Merge<'_, D, R, O, Fe>
where
    D: KeptDay,
    O: Fn(Span) -> D,
    Fe: Fn(u64) -> F,
    F: Future<Output = Option<Arc<R>>>,
{
    /// `hours` (ascending) of `span` merged: the days over for good taken from the
    /// [`DayCache`] (merged and kept when missing), the others hour by hour.
    async fn span(&self, state: &AppState, span: Span, hours: &[u64]) -> Merged<D> {
        let cache = &state.days;
        let now_ms = state.reports.now_ms();
        let kept = |day: u64| cache.enabled() && day_is_final(day, now_ms);
        let mut unreadable_hours = Vec::new();
        if let Span::Day(day) = span {
            if kept(day) && !hours.is_empty() {
                let day = self.kept_day(state, day, hours, &mut unreadable_hours);
                return Merged {
                    day: day.await,
                    unreadable_hours,
                };
            }
        }
        let mut merged = (self.over)(span);
        let mut rest = hours;
        while let Some(&first) = rest.first() {
            let day = first / HOURS_PER_DAY;
            let split = rest.partition_point(|&h| h / HOURS_PER_DAY == day);
            let (day_hours, later) = rest.split_at(split);
            if !matches!(span, Span::Day(_)) && kept(day) {
                let whole = self.kept_day(state, day, day_hours, &mut unreadable_hours);
                let whole = whole.await;
                let added = heavy(|| (self.add_day)(&mut merged, &whole));
                warn_unless(added, D::KIND.name(), day * HOURS_PER_DAY, first, span);
            } else {
                let unreadable = self.add_hours(state, &mut merged, span, day_hours).await;
                unreadable_hours.extend(unreadable);
            }
            rest = later;
        }
        Merged {
            day: Arc::new(merged),
            unreadable_hours,
        }
    }

    /// Day `day` of the domain (its `hours`), kept or merged now and kept; the hours whose
    /// report cannot be read go to `unreadable` (and the day is not kept).
    async fn kept_day(
        &self,
        state: &AppState,
        day: u64,
        hours: &[u64],
        unreadable: &mut Vec<u64>,
    ) -> Arc<D> {
        let cache = &state.days;
        let key = DayKey {
            kind: D::KIND,
            domain: self.domain.to_owned(),
            day,
            ip: self.scope.0.map(str::to_owned),
            type_: self.scope.1.map(str::to_owned),
        };
        if let Some(whole) = cache.get::<D>(&key) {
            return whole;
        }
        let mut whole = (self.over)(Span::Day(day));
        let lost = self
            .add_hours(state, &mut whole, Span::Day(day), hours)
            .await;
        let whole = Arc::new(whole);
        if lost.is_empty() {
            cache.put(key, whole.clone());
        }
        unreadable.extend(lost);
        whole
    }

    /// Adds each of `hours` (ascending, so what a span keeps "the first" of is its first)
    /// to `merged`: fetched, then added off the async workers and dropped before the next
    /// is fetched. Returns the hours whose stored report cannot be read.
    async fn add_hours(
        &self,
        state: &AppState,
        merged: &mut D,
        span: Span,
        hours: &[u64],
    ) -> Vec<u64> {
        let mut unreadable = Vec::new();
        for &hour in hours {
            match (self.fetch)(hour).await {
                Some(report) => {
                    let added = heavy(|| (self.add_hour)(merged, &report));
                    warn_unless(added, D::KIND.name(), (self.hour_of)(&report), hour, span);
                }
                None => {
                    let kind = D::KIND.name();
                    let domain = self.domain.to_owned();
                    if state.reports.unreadable(kind, domain, hour).await.is_some() {
                        unreadable.push(hour);
                    }
                }
            }
        }
        unreadable
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
