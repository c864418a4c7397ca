//! What every report board shares: the resolved [`Board`] selection (domain, hour,
//! machine), the selector form and hour navigation, board URLs, sortable table headers and
//! number formatting.
//!
//! Design constraints: every control is a link or a GET form, so boards work without
//! JavaScript (`board.js` only submits the selector form when a select is changed with the
//! pointer, or Enter is pressed on it: arrow keys browse the options, and marks a table
//! scrolled sideways so a phone draws its shadow); a board
//! of a domain or hour without data still renders its navigation, with a 404 status. A
//! domain that sent data but none of a board's kind (no metric, no event) is not an error:
//! that board says so with a 200 and links the domains that have some.
//!
//! The selector form keeps what the board shows: type, name, sort, the problem board's
//! raised long thresholds (`long_ms`) and the comparison with earlier hours (`compare`)
//! ride along as hidden fields, so picking another hour or machine shows the same name. Types, names and
//! machines belong to a domain, so the form also sends the domain they were picked in
//! ([`FROM_PARAM`]); a handler passes its query through [`FormOrigin::apply`], which drops
//! them when the domain changed.

use axum::http::StatusCode;
use std::fmt::Write as _;

use maud::{html, Markup, Render};
use serde::Deserialize;

use crate::chart::HOURS;
use crate::error::PageError;
use crate::hour::{
    day_title, elapsed_seconds, hour_title, span_elapsed_seconds, span_title, CURRENT,
};
use crate::layout::{PageTitle, Shown};
use crate::links::{encode_component, Encoded};
use crate::report_source::unreadable_message;
use crate::selection::{Period, ReportParams, ALL_MACHINES};
use crate::state::AppState;
use ocelot_analyzer::{day_label, hour_label, Span, HOURS_PER_DAY};
use ocelot_protocol::MILLIS_PER_HOUR;

/// A failure rate above this (percent) marks a row or domain as unhealthy.
pub(crate) const UNHEALTHY_FAIL_PERCENT: f64 = 1.0;
/// Minutes in an hour.
pub(crate) const MINUTES: usize = 60;
/// The selector form's hidden field naming the domain its type, name and machine were
/// picked in.
pub(crate) const FROM_PARAM: &str = "from";

/// The part of a board's query only the selector form sends: see [`FormOrigin::apply`].
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct FormOrigin {
    /// The domain the form was shown for ([`FROM_PARAM`]).
    from: Option<String>,
}

impl FormOrigin {
    /// `params` as the board should read them: when the selector form was submitted with
    /// another domain than the one it was shown for, the type, name and machine it carried
    /// belong to that other domain and are dropped (the sort column and the long thresholds
    /// apply to any domain and stay).
    pub(crate) fn apply(&self, mut params: ReportParams) -> ReportParams {
        let from = self.from.as_deref().filter(|from| !from.is_empty());
        if from.is_some_and(|from| params.domain() != Some(from)) {
            params.type_ = None;
            params.name = None;
            params.ip = None;
        }
        params
    }
}

/// The domain, hour and machine a board shows, checked against the report source.
#[derive(Debug, Clone)]
pub(crate) struct Board {
    /// The board's path (`/t`, `/e`, ...).
    pub(crate) path: &'static str,
    /// The hour shown; on a day board, the hour its "Hour view" link opens (the current
    /// hour today, else the day's last hour with data).
    pub(crate) hour: u64,
    /// The days shown, on a board of a whole UTC day, week or month (`day=`, `week=`,
    /// `month=`: transactions, events, problems).
    pub(crate) span: Option<Span>,
    /// Whether this board offers a day view: its hour navigation links the day.
    days: bool,
    /// The hours with data the board covers, ascending: of the day on a day board.
    pub(crate) period_hours: Vec<u64>,
    /// The hour of now.
    pub(crate) current_hour: u64,
    /// Hours with data, ascending.
    pub(crate) hours: Vec<u64>,
    /// Domains with a report in `hour` (on a day board: in any hour of the day).
    pub(crate) domains: Vec<String>,
    /// The domain shown: the one asked for, else the first of `domains`; empty if none.
    pub(crate) domain: String,
    /// The hours of the period in which `domain` has a report of any kind, ascending.
    domain_hours: Vec<u64>,
    /// The machine, `None` for all.
    pub(crate) ip: Option<String>,
    /// The type, name, sort, long thresholds and comparison shown, kept by the hour
    /// navigation (the same name an hour earlier is what "Previous hour" is for) and by the
    /// selector form.
    selected: Vec<(&'static str, String)>,
    /// Seconds the hour (the day) has run, for rates.
    pub(crate) elapsed_seconds: f64,
}

impl Board {
    /// Checks the parameters of a board request: a malformed hour is a 400 page, and so is
    /// a `day=` (this board shows hours only); a missing domain defaults to the first of
    /// the hour.
    pub(crate) async fn resolve(
        state: &AppState,
        params: &ReportParams,
        path: &'static str,
    ) -> Result<Board, PageError> {
        params.hours_only()?;
        let hour = params.hour(state.reports.now_ms(), true)?;
        Board::resolve_period(state, params, path, Period::Hour(hour), false).await
    }

    /// [`Board::resolve`] for a board that also shows whole days (`day=`, or `hour=`, not
    /// both): on a day board, the domains are those of any hour of the day.
    pub(crate) async fn resolve_with_days(
        state: &AppState,
        params: &ReportParams,
        path: &'static str,
    ) -> Result<Board, PageError> {
        let period = params.period(state.reports.now_ms(), true)?;
        Board::resolve_period(state, params, path, period, true).await
    }

    async fn resolve_period(
        state: &AppState,
        params: &ReportParams,
        path: &'static str,
        period: Period,
        days: bool,
    ) -> Result<Board, PageError> {
        let source = &state.reports;
        let now_ms = source.now_ms();
        let current_hour = now_ms / MILLIS_PER_HOUR;
        let hours = source.hours().await;
        let period_hours: Vec<u64> = hours
            .iter()
            .copied()
            .filter(|h| period.hours().contains(h))
            .collect();
        let (hour, span, elapsed_seconds) = match period.span() {
            None => (
                period.hours().start,
                None,
                elapsed_seconds(period.hours().start, now_ms),
            ),
            Some(span) => {
                let in_span = span.hours();
                let hour = if in_span.contains(&current_hour) {
                    current_hour
                } else {
                    period_hours.last().copied().unwrap_or(in_span.end - 1)
                };
                (hour, Some(span), span_elapsed_seconds(span, now_ms))
            }
        };
        let asked_hours = match period {
            Period::Hour(hour) => vec![hour],
            Period::Day(_) | Period::Span(_) => period_hours.clone(),
        };
        let mut domains_by_hour = Vec::with_capacity(asked_hours.len());
        for hour in asked_hours {
            domains_by_hour.push((hour, source.domains(hour).await));
        }
        let mut domains: Vec<String> = (domains_by_hour.iter())
            .flat_map(|(_, domains)| domains.iter().cloned())
            .collect();
        domains.sort();
        domains.dedup();
        let domain = params
            .domain()
            .map(str::to_owned)
            .or_else(|| domains.first().cloned())
            .unwrap_or_default();
        let domain_hours = (domains_by_hour.iter())
            .filter(|(_, domains)| domains.contains(&domain))
            .map(|(hour, _)| *hour)
            .collect();
        Ok(Board {
            path,
            hour,
            span,
            days,
            period_hours,
            current_hour,
            hours,
            domains,
            domain,
            domain_hours,
            ip: params.ip().map(str::to_owned),
            selected: [
                ("type", params.type_()),
                ("name", params.name()),
                ("sort", params.sort()),
                ("long_ms", params.long_ms()),
                ("compare", params.compare_param()),
            ]
            .into_iter()
            .filter_map(|(key, value)| Some((key, value?.to_owned())))
            .collect(),
            elapsed_seconds,
        })
    }

    /// The period shown: the days on a day, week or month board, else the hour.
    pub(crate) fn period(&self) -> Period {
        self.span.map_or(Period::Hour(self.hour), period_of)
    }

    /// `hour`, `day`, `week` or `month`: what the board shows one of.
    pub(crate) fn unit(&self) -> &'static str {
        self.span.map_or("hour", Span::kind)
    }

    /// What the board's charts are per: `per-minute` (an hour), `hourly` (a day) or
    /// `daily` (a week or a month).
    pub(crate) fn series_word(&self) -> &'static str {
        match self.span {
            None => "per-minute",
            Some(Span::Day(_)) => "hourly",
            Some(_) => "daily",
        }
    }

    /// The board of `day` (hour by hour) in this board's domain, machine and selection.
    pub(crate) fn day_url(&self, day: u64) -> String {
        self.url_in(Period::Day(day), &self.kept())
    }

    /// "the hour of 2026-11-22 07:00 UTC", "the day of 2026-11-22 UTC", "the week of ...",
    /// "the month of November 2026 UTC": for sentences.
    pub(crate) fn period_phrase(&self) -> String {
        match self.span {
            Some(span) => format!("the {} of {}", span.kind(), span_title(span)),
            None => format!("the hour of {}", hour_title(self.hour)),
        }
    }

    /// The span of `span`'s kind that holds today.
    fn this_span(&self, span: Span) -> Span {
        same_kind(span, self.current_hour / HOURS_PER_DAY)
    }

    /// For a board of a report only some domains have (heartbeats, metrics,
    /// dependencies): when no domain was asked for, shows the first domain that has one
    /// (`fetch` gives a domain's report, if any) rather than the first domain, and returns
    /// its report. The default must not land on an empty page while others have data.
    pub(crate) async fn report_of_first_with<R, F>(
        &mut self,
        asked: bool,
        fetch: impl Fn(String, u64) -> F,
    ) -> Option<R>
    where
        F: std::future::Future<Output = Option<R>>,
    {
        if !self.has_domain() {
            return None;
        }
        if let Some(report) = fetch(self.domain.clone(), self.hour).await {
            return Some(report);
        }
        if asked {
            return None;
        }
        for domain in &self.domains {
            if let Some(report) = fetch(domain.clone(), self.hour).await {
                self.domain.clone_from(domain);
                return Some(report);
            }
        }
        None
    }

    /// The domains of the hour (of any hour of the day) that have a report of the board's kind (`fetch` as for
    /// [`Board::report_of_first_with`]), in order: where to go from a domain without one.
    pub(crate) async fn domains_with<R, F>(&self, fetch: impl Fn(String, u64) -> F) -> Vec<String>
    where
        F: std::future::Future<Output = Option<R>>,
    {
        let mut with = Vec::new();
        for domain in &self.domains {
            for &hour in &self.period_hours {
                if fetch(domain.clone(), hour).await.is_some() {
                    with.push(domain.clone());
                    break;
                }
            }
        }
        with
    }

    /// [`Board::report_of_first_with`], or, when the board's domain has no such report, the
    /// domains that do ([`Board::domains_with`]). When no domain was asked for, the first
    /// search already looked at every domain and found none, so nothing is fetched twice.
    pub(crate) async fn report_or_others<R, F>(
        &mut self,
        asked: bool,
        fetch: impl Fn(String, u64) -> F,
    ) -> Result<R, Vec<String>>
    where
        F: std::future::Future<Output = Option<R>>,
    {
        match self.report_of_first_with(asked, &fetch).await {
            Some(report) => Ok(report),
            None if asked => Err(self.domains_with(&fetch).await),
            None => Err(Vec::new()),
        }
    }

    /// The minute of the hour shown that is still running, on an hour board of the current
    /// hour: per-minute charts draw it apart and nothing after it ([`crate::chart`]).
    pub(crate) fn running_minute(&self) -> Option<usize> {
        let current = self.span.is_none() && self.hour == self.current_hour;
        current.then(|| ((self.elapsed_seconds / 60.0) as usize).min(MINUTES - 1))
    }

    /// Whether the domain shown has a report in the hour.
    pub(crate) fn has_domain(&self) -> bool {
        self.domains.contains(&self.domain)
    }

    /// The URL of this board with `extra` parameters (empty values left out), keeping
    /// domain, hour (or day) and machine.
    pub(crate) fn url(&self, extra: &[(&str, &str)]) -> String {
        self.url_in(self.period(), extra)
    }

    fn url_in(&self, period: Period, extra: &[(&str, &str)]) -> String {
        self.url_of(&self.domain, period, self.ip.as_deref(), extra)
    }

    /// The URL of this board at `hour`, as [`Board::url_in`], except that the current hour
    /// is named `current`: a link to the live hour stays live in a tab left open past the
    /// top of the hour, where its label would keep showing an hour that has ended.
    fn hour_url(&self, hour: u64, extra: &[(&str, &str)]) -> String {
        if hour != self.current_hour {
            return self.url_in(Period::Hour(hour), extra);
        }
        let mut params: Vec<(&str, &str)> = vec![("domain", &self.domain), ("hour", CURRENT)];
        if let Some(ip) = &self.ip {
            params.push(("ip", ip));
        }
        params.extend_from_slice(extra);
        build_url(self.path, &params)
    }

    /// The period shown as a URL parameter (`hour`, `day`, `week` or `month`, and its
    /// label): what a link to another board of the same period carries.
    pub(crate) fn period_param(&self) -> (&'static str, String) {
        period_param(self.period())
    }

    fn url_of(
        &self,
        domain: &str,
        period: Period,
        ip: Option<&str>,
        extra: &[(&str, &str)],
    ) -> String {
        let (key, label) = period_param(period);
        let mut params: Vec<(&str, &str)> = vec![("domain", domain), (key, &label)];
        if let Some(ip) = ip {
            params.push(("ip", ip));
        }
        params.extend_from_slice(extra);
        build_url(self.path, &params)
    }

    /// The `sort=` asked for, `""` when none (URL builders leave empty values out). Links
    /// into a type or a name carry it, as the hour navigation does: a table sorted by P95
    /// stays sorted by P95 after a click on its slowest row.
    pub(crate) fn sort_param(&self) -> &str {
        self.selected_param("sort")
    }

    /// The `compare=` asked for, `""` when none: links into a type or a name carry it, as
    /// they carry the sort, so a comparison stays on from one name to the next.
    pub(crate) fn compare_param(&self) -> &str {
        self.selected_param("compare")
    }

    fn selected_param(&self, key: &str) -> &str {
        self.selected
            .iter()
            .find(|(kept, _)| *kept == key)
            .map_or("", |(_, value)| value.as_str())
    }

    /// The URL of this board as shown (domain, period, machine and what [`Board::kept`]
    /// keeps) with `key` set to `value`, or left out when `value` is empty (but for `type`
    /// and `name`, see [`build_url`]).
    pub(crate) fn url_keeping(&self, key: &str, value: &str) -> String {
        let mut params: Vec<(&str, &str)> = self.kept();
        params.retain(|(kept, _)| *kept != key);
        params.push((key, value));
        self.url(&params)
    }

    /// The URL of this board as shown, without `key` (e.g. every type again).
    pub(crate) fn url_without(&self, key: &str) -> String {
        let mut params: Vec<(&str, &str)> = self.kept();
        params.retain(|(kept, _)| *kept != key);
        self.url(&params)
    }

    /// The type, name, sort, long thresholds and comparison shown, as URL parameters.
    fn kept(&self) -> Vec<(&str, &str)> {
        self.selected
            .iter()
            .map(|(key, value)| (*key, value.as_str()))
            .collect()
    }

    /// `Transactions · shop · 2026-11-22 07:00`: the page title, with what the board shows
    /// for the nav links to keep. The period is in it so that the tabs of one board at two
    /// hours tell apart; the zone is left out for the tab's width (the page says UTC).
    pub(crate) fn title(&self, board: &str) -> PageTitle {
        let period = period_title(self.period());
        let period = period.strip_suffix(" UTC").unwrap_or(&period);
        let text = if self.domain.is_empty() {
            format!("{board} · {period}")
        } else {
            format!("{board} · {} · {period}", self.domain)
        };
        PageTitle {
            text,
            shows: Shown {
                domain: self.domain.clone(),
                hour: (self.hour != self.current_hour).then_some(self.hour),
                span: self.span,
                ip: self.ip.clone(),
            },
        }
    }

    /// The heading, selector form and hour navigation. `machines` fills the machine
    /// selector (`None`: the board has none); `all_machines` offers "All".
    pub(crate) fn controls(
        &self,
        heading: &str,
        machines: Option<&[String]>,
        all_machines: bool,
    ) -> Markup {
        let mut domains = self.domains.clone();
        if !self.domain.is_empty() && !self.has_domain() {
            domains.insert(0, self.domain.clone());
        }
        let keep = self.kept();
        // A machine the domain does not have is still named (the page says it is unknown),
        // as an unknown domain is, rather than "All machines" beside "machine 1.2.3.4".
        let mut machines = machines.map(<[String]>::to_vec);
        if let (Some(machines), Some(ip)) = (&mut machines, &self.ip) {
            if !machines.contains(ip) {
                machines.insert(0, ip.clone());
            }
        }
        // The type, name and machine shown belong to this domain: the form names it, so a
        // submit with another domain drops them (`FormOrigin::apply`).
        let from = (!domains.is_empty() && (!keep.is_empty() || self.ip.is_some()))
            .then_some(self.domain.as_str());
        html! {
            header.board-head {
                div.board-title {
                    h1 { (heading) @if !self.domain.is_empty() { " " span.domain { (self.domain) } } }
                    p.board-sub {
                        // Pages do not update themselves: say which hour, and how to see more.
                        @match self.span {
                            Some(span) => {
                                (span_title(span)) " · " span.badge.neutral { "whole " (span.kind()) }
                                @if span == self.this_span(span) { " · so far · reload for newer" }
                            }
                            None => {
                                (hour_title(self.hour))
                                @if self.hour == self.current_hour { " · " span.badge.ok { "current hour" } " · reload for newer" }
                            }
                        }
                        @if let Some(ip) = &self.ip { " · machine " code { (ip) } }
                        @if let Some((with_data, days)) = self.days_with_data() {
                            " · " span.days-with-data
                                title="rates average over these days (today up to now), not the whole span"
                                { (with_data) " of " (days) " days with data" }
                        }
                    }
                    (self.store_begins_note())
                }
                @match self.span {
                    Some(span) => { (self.span_navigation(span, &keep)) }
                    None => { (self.hour_navigation(&keep)) }
                }
            }
            form.selectors method="get" action=(self.path) {
                @if !domains.is_empty() {
                    label {
                        span { "Domain" }
                        select name="domain" {
                            @for domain in &domains {
                                option value=(domain) selected[*domain == self.domain] { (domain) }
                            }
                        }
                    }
                }
                (self.period_select())
                @if let Some(machines) = &machines {
                    label {
                        span { "Machine" }
                        select name="ip" {
                            @if all_machines {
                                option value=(ALL_MACHINES) selected[self.ip.is_none()] { "All machines" }
                            }
                            @for ip in machines {
                                option value=(ip) selected[self.ip.as_deref() == Some(ip.as_str())] { (ip) }
                            }
                        }
                    }
                }
                @for (key, value) in &keep {
                    input type="hidden" name=(key) value=(value);
                }
                @if let Some(from) = from {
                    input type="hidden" name=(FROM_PARAM) value=(from);
                }
                button type="submit" { "Show" }
            }
        }
    }

    /// On a week or month board of a domain with data: how many of the span's days so far
    /// (through today, or through its last day with data) the domain has data in, and how
    /// many those are. The daily table lists only days with data, so without this a month
    /// of which the store keeps a day reads as a month with one busy day.
    fn days_with_data(&self) -> Option<(usize, u64)> {
        let span = self.span.filter(|span| !matches!(span, Span::Day(_)))?;
        if self.domain_hours.is_empty() {
            return None;
        }
        let mut days: Vec<u64> = (self.domain_hours.iter())
            .map(|hour| hour / HOURS_PER_DAY)
            .collect();
        days.dedup();
        let shown = crate::daily::chart_days(self, days.iter().copied());
        Some((days.len(), shown.end.saturating_sub(span.first_day())))
    }

    /// Under a week's or month's title, when the store holds no hour of any domain from the
    /// span's start until later in it: from when it does, and why earlier days are empty.
    ///
    /// The rates leave those days out, as they leave out every day without data of the
    /// domain (`ocelot_analyzer::TransactionDay::span_view`), and the JSON API's do the same:
    /// a time the store never had is not known to be quiet.
    fn store_begins_note(&self) -> Markup {
        let first = self.hours.first().copied();
        // Only a whole day or more: retention goes by the hour, and an hour or two missing
        // from the span's first day is not worth a note.
        let begins = match (self.days_with_data(), self.span, first) {
            (Some(_), Some(span), Some(first)) if first / HOURS_PER_DAY > span.first_day() => first,
            _ => return html! {},
        };
        html! {
            p.hint.store-begins {
                "The store holds no data before " (hour_title(begins)) ": older hours are past its retention ("
                code { "store.retention_days" } ", 7 days by default) or were never collected. "
                "Rates average over the days with data, so the days before do not dilute them."
            }
        }
    }

    /// The day and hour that the "Day" and "Hour view" links of a span board open: the
    /// board's hour, or when the domain shown has no data on that hour's day (a week still
    /// running, of a domain that sent only earlier in it), its last hour with data in the
    /// span, so that the links do not lead to a page of nothing.
    fn day_and_hour_linked(&self) -> (u64, u64) {
        let day = self.hour / HOURS_PER_DAY;
        let on_day = (self.domain_hours.iter()).any(|hour| hour / HOURS_PER_DAY == day);
        match self.domain_hours.last() {
            Some(&last) if !on_day => (last / HOURS_PER_DAY, last),
            _ => (day, self.hour),
        }
    }

    /// Previous, current and next hour, and the day of the hour on a board that has days.
    ///
    /// "Next hour" stops at the current hour: later ones have no data yet. From a future
    /// hour (typed into the address) there is no "Previous hour" either, which would be
    /// another future hour; "Current hour" is the way back.
    fn hour_navigation(&self, keep: &[(&str, &str)]) -> Markup {
        // Only back to the first hour with data: earlier ones are empty pages.
        let previous = self.hour.checked_sub(1).filter(|_| {
            self.hour <= self.current_hour && self.hours.iter().any(|&h| h < self.hour)
        });
        let next = (self.hour < self.current_hour).then_some(self.hour + 1);
        html! {
            nav.hour-nav aria-label="Hours" {
                @if let Some(previous) = previous {
                    a.button href=(self.hour_url(previous, keep)) rel="prev" { "← Previous hour" }
                }
                @if self.hour != self.current_hour {
                    a.button href=(self.hour_url(self.current_hour, keep)) { "Current hour" }
                }
                @if let Some(next) = next {
                    a.button href=(self.hour_url(next, keep)) rel="next" { "Next hour →" }
                }
                @if self.days {
                    @let day = self.hour / HOURS_PER_DAY;
                    a.button.day-link href=(self.url_in(Period::Day(day), keep))
                        title="this whole UTC day, hour by hour" { "Whole day" }
                    a.button.week-link href=(self.url_in(Period::Span(Span::week_of(day)), keep))
                        title="this week (Saturday to Friday, UTC), day by day" { "Week" }
                    a.button.month-link href=(self.url_in(Period::Span(Span::month_of(day)), keep))
                        title="this UTC month, day by day" { "Month" }
                }
            }
        }
    }

    /// Previous, this and next day (week, month), the other spans of the day shown, and
    /// back to the hours.
    fn span_navigation(&self, span: Span, keep: &[(&str, &str)]) -> Markup {
        let now = self.this_span(span);
        let start = span.hours().start;
        // Only back to the first span with data, and not from a future one, as for hours.
        let previous = span
            .previous()
            .filter(|_| start <= now.hours().start && self.hours.iter().any(|&h| h < start));
        let next = (start < now.hours().start).then(|| span.next());
        let (unit, this) = match span {
            Span::Day(_) => ("day", "Today"),
            Span::Week(_) => ("week", "This week"),
            Span::Month(_) => ("month", "This month"),
        };
        let (day, hour) = self.day_and_hour_linked();
        html! {
            nav.hour-nav aria-label={ (unit) "s" } {
                @if let Some(previous) = previous {
                    a.button href=(self.url_in(period_of(previous), keep)) rel="prev" { "← Previous " (unit) }
                }
                @if span != now && next != Some(now) {
                    a.button href=(self.url_in(period_of(now), keep)) { (this) }
                }
                @if let Some(next) = next {
                    a.button href=(self.url_in(period_of(next), keep)) rel="next" { "Next " (unit) " →" }
                }
                @if !matches!(span, Span::Day(_)) {
                    a.button.day-link href=(self.url_in(Period::Day(day), keep))
                        title={ "the whole UTC day of " (day_title(day)) ", hour by hour" } { "Day" }
                }
                @if !matches!(span, Span::Week(_)) {
                    a.button.week-link href=(self.url_in(Period::Span(Span::week_of(day)), keep))
                        title="the week (Saturday to Friday, UTC), day by day" { "Week" }
                }
                @if !matches!(span, Span::Month(_)) {
                    a.button.month-link href=(self.url_in(Period::Span(Span::month_of(day)), keep))
                        title="the UTC month, day by day" { "Month" }
                }
                a.button.hour-link href=(self.url_in(Period::Hour(hour), keep))
                    title={ "one hour at a time, from " (hour_title(hour)) } { "Hour view" }
            }
        }
    }

    /// The selector form's hour select, or on a day (week, month) board its day (week,
    /// month) select.
    fn period_select(&self) -> Markup {
        let Some(shown) = self.span else {
            let mut hours = self.hours.clone();
            for hour in [self.hour, self.current_hour] {
                if !hours.contains(&hour) {
                    hours.push(hour);
                }
            }
            hours.sort_unstable();
            return html! {
                label {
                    span { "Hour" }
                    select name="hour" {
                        @for hour in hours.iter().rev() {
                            option value=(hour_label(*hour)) selected[*hour == self.hour] {
                                (hour_title(*hour))
                                @if *hour == self.current_hour { " (current)" }
                            }
                        }
                    }
                }
            };
        };
        let now = self.this_span(shown);
        let mut spans: Vec<Span> = (self.hours.iter())
            .map(|h| same_kind(shown, h / HOURS_PER_DAY))
            .collect();
        spans.extend([shown, now]);
        spans.sort_unstable_by_key(|span| span.first_day());
        spans.dedup();
        let (label, current) = match shown {
            Span::Day(_) => ("Day", " (today)"),
            Span::Week(_) => ("Week", " (this week)"),
            Span::Month(_) => ("Month", " (this month)"),
        };
        html! {
            label {
                span { (label) }
                select name=(shown.kind()) {
                    @for span in spans.iter().rev() {
                        option value=(span.label()) selected[*span == shown] {
                            (span_title(*span))
                            @if *span == now { (current) }
                        }
                    }
                }
            }
        }
    }

    /// The status and body for a domain or hour without data: the navigation stays, and
    /// the page says which case it is. A period no domain sent data in links the nearest
    /// periods that have some (the one the user came from, after a "Next hour" into a gap)
    /// and the current one; a period that has not begun says so.
    pub(crate) fn empty(&self, heading: &str) -> (StatusCode, Markup) {
        let today = self.current_hour / HOURS_PER_DAY;
        let (unit, future) = match self.span {
            Some(span) => (span.kind(), span.first_day() > today),
            None => ("hour", self.hour > self.current_hour),
        };
        let body = if future && self.domains.is_empty() {
            let now = match self.span {
                Some(_) => day_title(today),
                None => hour_title(self.current_hour),
            };
            html! {
                h2 { "This " (unit) " has not begun" }
                p { "Nothing can have been sent in " (self.period_phrase()) " yet: it is " (now) " now." }
                p { a href=(self.current_url()) { (self.current_label()) } }
            }
        } else if self.domains.is_empty() {
            let (earlier, later) = self.nearest_periods_with_data();
            let is_current = match self.span {
                Some(span) => span == self.this_span(span),
                None => self.hour == self.current_hour,
            };
            html! {
                h2 { "No data in this " (unit) }
                p {
                    "No domain sent data in " (self.period_phrase()) "."
                    @if is_current { " Clients send within seconds: reload to see their data." }
                }
                @if earlier.is_some() || later.is_some() || !is_current {
                    ul.empty-links {
                        @if let Some(earlier) = earlier {
                            li { a href=(self.url_in(earlier, &self.kept())) {
                                "← " (period_title(earlier)) } ", the last " (unit) " with data before this one" }
                        }
                        @if let Some(later) = later {
                            li { a href=(self.url_in(later, &self.kept())) {
                                (period_title(later)) " →" } ", the next " (unit) " with data" }
                        }
                        @if !is_current {
                            li { a href=(self.current_url()) { (self.current_label()) } }
                        }
                    }
                }
            }
        } else {
            let tip = if let Some(span) = self.span {
                match span {
                    Span::Day(_) => "Pick another domain or day above, or go to today.",
                    Span::Week(_) => "Pick another domain or week above, or go to this week.",
                    Span::Month(_) => "Pick another domain or month above, or go to this month.",
                }
            } else if self.hour == self.current_hour {
                "Pick another domain or hour above."
            } else {
                "Pick another domain or hour above, or go to the current hour."
            };
            html! {
                h2 { "Nothing to show" }
                p { "The domain “" (self.domain) "” has no report in " (self.period_phrase()) "." }
                p.muted { (tip) }
            }
        };
        (
            StatusCode::NOT_FOUND,
            html! {
                (self.controls(heading, None, false))
                section.empty-state { (body) }
            },
        )
    }

    /// The nearest periods (hours, or days on a day board) before and after the one shown
    /// that have data, the later one only when it has ended: the current one has its own
    /// link.
    fn nearest_periods_with_data(&self) -> (Option<Period>, Option<Period>) {
        let shown = self.period().hours();
        let earlier = self.hours.iter().rev().find(|&&h| h < shown.start).copied();
        let later = self.hours.iter().find(|&&h| h >= shown.end).copied();
        match self.span {
            Some(span) => {
                let of = |hour: u64| same_kind(span, hour / HOURS_PER_DAY);
                (
                    earlier.map(|h| period_of(of(h))),
                    later
                        .map(of)
                        .filter(|later| later.hours().end <= self.current_hour)
                        .map(period_of),
                )
            }
            None => (
                earlier.map(Period::Hour),
                later.filter(|&h| h < self.current_hour).map(Period::Hour),
            ),
        }
    }

    /// The link to the current hour (today, this week or month, on a board of days) in
    /// this board's selection.
    fn current_url(&self) -> String {
        match self.span {
            Some(span) => self.url_in(period_of(self.this_span(span)), &self.kept()),
            None => self.hour_url(self.current_hour, &self.kept()),
        }
    }

    /// What [`Board::current_url`] is called.
    fn current_label(&self) -> &'static str {
        match self.span {
            Some(Span::Day(_)) => "Go to today",
            Some(Span::Week(_)) => "Go to this week",
            Some(Span::Month(_)) => "Go to this month",
            None => "Go to the current hour",
        }
    }

    /// The body (under the board's own controls) for a domain that sent data in the hour
    /// but none of this board's kind: `title` heads it, `what` says what the domain did not
    /// log ("business metrics (M records)"), `explain` may add why, `others` are the domains
    /// that did, linked. Not an error: the page answers 200.
    pub(crate) fn lacks(
        &self,
        title: &str,
        what: &str,
        explain: Markup,
        others: &[String],
    ) -> Markup {
        let said = html! {
            p { (self.domain) " logged no " (what) " in " (self.period_phrase()) "." }
            (explain)
        };
        self.lacks_saying(title, said, others)
    }

    /// When the board's domain got no `kind` report for the hour shown: the status and body
    /// saying it cannot be read (damaged or missing, [`ReportSource::unreadable`]), a 500
    /// under the board's own controls, or `None` when the domain just has no such report
    /// (the friendly "logged no ..." of [`Board::lacks`]).
    ///
    /// [`ReportSource::unreadable`]: crate::ReportSource::unreadable
    pub(crate) async fn unreadable(
        &self,
        state: &AppState,
        heading: &str,
        kind: &'static str,
    ) -> Option<(StatusCode, Markup)> {
        let reports = &state.reports;
        let why = (reports.unreadable(kind, self.domain.clone(), self.hour)).await?;
        let period = hour_title(self.hour);
        let message = unreadable_message(kind, &self.domain, &period, &why);
        Some((
            StatusCode::INTERNAL_SERVER_ERROR,
            html! {
                (self.controls(heading, None, false))
                section.empty-state.unreadable {
                    h2 { "This hour's " (kind) " report cannot be read" }
                    p { (message) }
                }
            },
        ))
    }

    /// The note over a day, week or month board whose `hours` were left out because their
    /// stored `kind` report cannot be read; nothing when there are none.
    pub(crate) fn unreadable_hours_note(&self, kind: &str, hours: &[u64]) -> Markup {
        let Some(&last) = hours.last() else {
            return html! {};
        };
        let more = hours.len() > 1;
        html! {
            p.notice.unreadable role="alert" {
                @if more {
                    "The stored " (kind) " reports of " (self.domain) " for " (hours.len())
                    " hours cannot be read (damaged or missing; see the server's log), and are left out of this "
                    (self.span.map_or("hour", Span::kind)) ": "
                } @else {
                    "The stored " (kind) " report of " (self.domain) " for "
                    (hour_title(last))
                    " cannot be read (damaged or missing; see the server's log), and is left out of this "
                    (self.span.map_or("hour", Span::kind)) "."
                }
                @if more {
                    @for (i, &hour) in hours.iter().enumerate() {
                        @if i > 0 { ", " }
                        a href=(self.hour_url(hour, &self.kept())) { (hour_title(hour)) }
                    }
                    "."
                }
            }
        }
    }

    /// The status and body of a day, week or month board whose every hour with data was
    /// left out because its stored `kind` report cannot be read: a 500 that says so,
    /// rather than "logged no ...".
    pub(crate) fn unreadable_span(
        &self,
        heading: &str,
        kind: &str,
        hours: &[u64],
    ) -> (StatusCode, Markup) {
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            html! {
                (self.controls(heading, None, false))
                (self.unreadable_hours_note(kind, hours))
            },
        )
    }

    /// [`Board::lacks`] in other words: `said` says why the domain has nothing to show
    /// (it sent records that could not be read, say).
    pub(crate) fn lacks_saying(&self, title: &str, said: Markup, others: &[String]) -> Markup {
        html! {
            section.empty-state {
                h2 { (title) }
                (said)
                @if others.is_empty() {
                    p.muted { "No domain did." }
                } @else {
                    p {
                        "Domains that did: "
                        @for (i, domain) in others.iter().enumerate() {
                            @if i > 0 { ", " }
                            a href=(self.url_of(domain, self.period(), None, &[])) { (domain) }
                        }
                    }
                }
            }
        }
    }

    /// The status and body for a machine the domain does not have in the hour (`machines`
    /// are those it has): a 404, as the JSON API answers, with a link to all machines that
    /// keeps the type, name and sort (on a page without an "All machines" view,
    /// `all_machines` false, the link shows the domain's first machine).
    pub(crate) fn unknown_machine(
        &self,
        heading: &str,
        machines: &[String],
        all_machines: bool,
    ) -> (StatusCode, Markup) {
        let ip = self.ip.as_deref().unwrap_or_default();
        let other = if all_machines {
            "Show all machines"
        } else {
            "Show the first machine"
        };
        (
            StatusCode::NOT_FOUND,
            html! {
                (self.controls(heading, Some(machines), all_machines))
                section.empty-state {
                    h2 { "No machine " (ip) }
                    p {
                        "No machine " code { (ip) } " sent data of “" (self.domain) "” in "
                        (self.period_phrase()) "."
                    }
                    p { a href=(self.all_machines_url()) { (other) } }
                }
            },
        )
    }

    /// The URL of this board as shown, but of every machine (or, on a board without an "All
    /// machines" view, its first).
    pub(crate) fn all_machines_url(&self) -> String {
        self.url_of(&self.domain, self.period(), None, &self.kept())
    }

    /// Whether the machine asked for is one of `machines` (or none was asked for).
    pub(crate) fn knows_machine(&self, machines: &[String]) -> bool {
        self.ip.as_ref().is_none_or(|ip| machines.contains(ip))
    }
}

/// `2026-11-22 07:00 UTC` or `2026-11-22 UTC`: a period as people read it.
fn period_title(period: Period) -> String {
    match period {
        Period::Hour(hour) => hour_title(hour),
        Period::Day(day) => day_title(day),
        Period::Span(span) => span_title(span),
    }
}

/// The [`Period`] of a span: a day is [`Period::Day`].
fn period_of(span: Span) -> Period {
    match span {
        Span::Day(day) => Period::Day(day),
        span => Period::Span(span),
    }
}

/// The span of `kind`'s kind (day, week, month) that holds `day`.
/// `period` as a URL parameter: its key and label.
fn period_param(period: Period) -> (&'static str, String) {
    match period {
        Period::Hour(hour) => ("hour", hour_label(hour)),
        Period::Day(day) => ("day", day_label(day)),
        Period::Span(span) => (span.kind(), span.label()),
    }
}

fn same_kind(kind: Span, day: u64) -> Span {
    match kind {
        Span::Day(_) => Span::Day(day),
        Span::Week(_) => Span::week_of(day),
        Span::Month(_) => Span::month_of(day),
    }
}

/// `path?k=v&..` with values percent-encoded and empty values left out, except a `type` or
/// `name` (an empty one is a selection: see [`crate::selection::ReportParams`]).
pub(crate) fn build_url(path: &str, params: &[(&str, &str)]) -> String {
    let query: Vec<String> = params
        .iter()
        .filter(|(k, v)| !v.is_empty() || matches!(*k, "type" | "name"))
        .map(|(k, v)| format!("{k}={}", encode_component(v)))
        .collect();
    if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{}", query.join("&"))
    }
}

/// A type or name as a board shows it: an empty one (CAT's clients log the `RemoteCall`
/// event of every remote call with an empty name) as a visible "(empty)", so its row has
/// something to click.
pub(crate) fn label(text: &str) -> Markup {
    html! {
        @if text.is_empty() {
            em.empty title="logged with an empty string" { "(empty)" }
        } @else {
            (text)
        }
    }
}

/// A column of a sortable table: the `sort=` key and the header label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Column {
    /// The `sort=` value.
    pub(crate) key: &'static str,
    /// The header text.
    pub(crate) label: &'static str,
    /// A tooltip for the header.
    pub(crate) hint: &'static str,
}

/// A board's columns for its types table: the same, the first (the name) labelled as the
/// type.
pub(crate) fn type_columns<const N: usize>(mut columns: [Column; N]) -> [Column; N] {
    if let Some(first) = columns.first_mut() {
        *first = Column {
            key: NAME_KEY,
            label: "Type",
            hint: "sort by type",
        };
    }
    columns
}

/// The checked `sort=` value: one of `columns`' keys, or `default`.
pub(crate) fn sort_key(
    params: &ReportParams,
    columns: &[Column],
    default: &'static str,
) -> Result<&'static str, PageError> {
    match params.sort() {
        None => Ok(default),
        Some(raw) => columns
            .iter()
            .find(|c| c.key == raw)
            .map(|c| c.key)
            .ok_or_else(|| {
                let keys: Vec<&str> = columns.iter().map(|c| c.key).collect();
                crate::selection::BadParam {
                    param: "sort",
                    detail: format!("“{raw}” is not a column; use one of {}.", keys.join(", ")),
                }
                .into()
            }),
    }
}

/// The sort key of the text column: it sorts A to Z, every other column highest first.
pub(crate) const NAME_KEY: &str = "name";

/// Header cells whose labels link to the table sorted by them (`url_of(key)`), the current
/// one marked with its direction. The caller writes the row, so it can add cells of columns
/// that do not sort.
pub(crate) fn sortable_header(
    columns: &[Column],
    current: &str,
    url_of: impl Fn(&str) -> String,
) -> Markup {
    html! {
        @for column in columns {
            @let sorted = column.key == current;
            @let ascending = column.key == NAME_KEY;
            @let (direction, arrow) = if ascending { ("ascending", " ▴") } else { ("descending", " ▾") };
            th.num[!ascending] aria-sort=[sorted.then_some(direction)] title=(column.hint) {
                a.sort href=(url_of(column.key)) { (column.label) @if sorted { (arrow) } }
            }
        }
    }
}

/// Milliseconds for a table: 3 significant digits, at most 2 decimals; `<0.01` for a
/// duration too short for them. Text, not markup: see [`Ms`] for the page's.
pub(crate) fn format_ms(ms: f64) -> String {
    let mut out = String::new();
    write_ms(&mut out, ms, BELOW_HUNDREDTH);
    out
}

/// `12,345`: digits grouped by thousands.
pub(crate) fn format_count(n: u64) -> String {
    Count(n).render().into_string()
}

/// A table's amount: `2,227`, `-1,500.25`, `0.5` (thousands grouped like counts, at most
/// two decimals, none for whole numbers).
pub(crate) fn format_amount(value: f64) -> String {
    if !value.is_finite() {
        return value.to_string();
    }
    let mut out = String::new();
    if value < 0.0 {
        out.push('-');
    }
    let cents = (value.abs() * 100.0).round();
    if cents >= u64::MAX as f64 {
        return format!("{value:.0}");
    }
    let cents = cents as u64;
    write_grouped(&mut out, cents / 100);
    match cents % 100 {
        0 => {}
        c if c % 10 == 0 => out.push_str(&format!(".{}", c / 10)),
        c => out.push_str(&format!(".{c:02}")),
    }
    if out == "-0" {
        out.remove(0);
    }
    out
}

/// `1.25%`, `0%`, `100.0%`.
pub(crate) fn format_percent(percent: f64) -> String {
    Percent(percent).render().into_string()
}

/// A rate per second with at least two significant digits: `0.42`, `12.3`, `1,250`,
/// `0.015`, `0.0000066` (a handful of transactions over a week): a rate that is not zero
/// never reads as one.
pub(crate) fn format_rate(per_second: f64) -> String {
    Rate(per_second).render().into_string()
}

// Numbers are spliced into markup through these `Render` types, which write straight into
// the page buffer: a 10 000-name board has 120 000 number cells, and a `String` per cell
// was a measurable share of its render time. What they write is not escaped after them:
// digits, `.`, `,`, `%`, `-` and `e` need no escaping, and `<0.01` is written `&lt;0.01`.

/// What a duration too short for two decimals shows.
const BELOW_HUNDREDTH: &str = "<0.01";
/// [`BELOW_HUNDREDTH`] escaped, for markup.
const BELOW_HUNDREDTH_HTML: &str = "&lt;0.01";
/// Most decimals a rate is written with: one transaction over a 31-day month is
/// 0.00000037 a second, eight. A smaller rate is written in scientific notation.
const MAX_RATE_DECIMALS: usize = 10;

/// Milliseconds, rendered as [`format_ms`] describes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ms(pub(crate) f64);

/// A count, rendered as [`format_count`] describes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Count(pub(crate) u64);

/// A percentage, rendered as [`format_percent`] describes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Percent(pub(crate) f64);

/// A rate per second, rendered as [`format_rate`] describes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rate(pub(crate) f64);

fn write_grouped(out: &mut String, n: u64) {
    let mut digits = [0u8; 20];
    let mut len = 0;
    let mut rest = n;
    loop {
        digits[len] = b'0' + (rest % 10) as u8;
        len += 1;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    for i in (0..len).rev() {
        out.push(char::from(digits[i]));
        if i > 0 && i % 3 == 0 {
            out.push(',');
        }
    }
}

impl Render for Ms {
    fn render_to(&self, out: &mut String) {
        write_ms(out, self.0, BELOW_HUNDREDTH_HTML);
    }
}

/// Writes `ms` as [`format_ms`] describes, with `below` for a duration under 0.005 ms.
fn write_ms(out: &mut String, ms: f64, below: &str) {
    let written = match ms.abs() {
        v if !v.is_finite() => {
            out.push('-');
            Ok(())
        }
        0.0 => {
            out.push('0');
            Ok(())
        }
        // Not "0.00" beside an exact "0" in the same row: a duration, however short.
        _ if ms > 0.0 && ms < 0.005 => {
            out.push_str(below);
            Ok(())
        }
        v if v < 10.0 => write!(out, "{ms:.2}"),
        v if v < 100.0 => write!(out, "{ms:.1}"),
        _ => {
            if ms < 0.0 {
                out.push('-');
            }
            write_grouped(out, ms.abs().round() as u64);
            Ok(())
        }
    };
    written.expect("writing to a String cannot fail");
}

impl Render for Count {
    fn render_to(&self, out: &mut String) {
        write_grouped(out, self.0);
    }
}

impl Render for Percent {
    fn render_to(&self, out: &mut String) {
        let percent = self.0;
        let written = if percent == 0.0 {
            out.push('0');
            Ok(())
        } else if percent >= 10.0 {
            write!(out, "{percent:.1}")
        } else {
            write!(out, "{percent:.2}")
        };
        written.expect("writing to a String cannot fail");
        out.push('%');
    }
}

impl Render for Rate {
    fn render_to(&self, out: &mut String) {
        let written = match self.0 {
            0.0 => {
                out.push('0');
                Ok(())
            }
            // Two significant digits: as many decimals as the first one's place, plus one.
            v if v.abs() < 0.1 => {
                let first_digit_place = -v.abs().log10().floor();
                let decimals = first_digit_place as usize + 1;
                if decimals <= MAX_RATE_DECIMALS {
                    write!(out, "{v:.decimals$}")
                } else {
                    write!(out, "{v:.1e}")
                }
            }
            v if v < 10.0 => write!(out, "{v:.2}"),
            v if v < 100.0 => write!(out, "{v:.1}"),
            v => {
                write_grouped(out, v.round() as u64);
                Ok(())
            }
        };
        written.expect("writing to a String cannot fail");
    }
}

/// `1.5 KiB`, `12.0 MiB`.
pub(crate) fn format_bytes(bytes: u64) -> String {
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < BYTE_UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", BYTE_UNITS[unit])
    }
}

/// The units bytes are written in, each 1024 times the one before.
pub(crate) const BYTE_UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];

/// A value per minute of the hour from `(minute, value)` pairs (later pairs add up).
pub(crate) fn per_minute(pairs: impl IntoIterator<Item = (u8, f64)>) -> Vec<f64> {
    let mut values = vec![0.0; MINUTES];
    for (minute, value) in pairs {
        if let Some(slot) = values.get_mut(usize::from(minute)) {
            *slot += value;
        }
    }
    values
}

/// A value per hour of a day from `(hour, value)` pairs, `hour` a `YYYYMMDDHH` label of the
/// day (later pairs add up; a label that is not one is left out).
pub(crate) fn per_hour<'a>(pairs: impl IntoIterator<Item = (&'a str, f64)>) -> Vec<f64> {
    let mut values = vec![0.0; HOURS];
    for (hour, value) in pairs {
        if let Some(slot) = hour_slot(hour).and_then(|slot| values.get_mut(slot)) {
            *slot += value;
        }
    }
    values
}

/// The hour of the day (0-23) of a `YYYYMMDDHH` label: its last two digits.
pub(crate) fn hour_slot(label: &str) -> Option<usize> {
    label
        .get(8..)
        .and_then(|h| h.parse::<usize>().ok())
        .filter(|&slot| slot < HOURS)
}

/// A small figure card: a label over a big value.
pub(crate) fn stat(label: &str, value: &str, bad: bool) -> Markup {
    stat_with_hint(label, value, bad, None)
}

/// A figure card whose tooltip (`hint`) says how the figure is made.
pub(crate) fn stat_with_hint(label: &str, value: &str, bad: bool, hint: Option<&str>) -> Markup {
    html! {
        div.stat.bad[bad] title=[hint] {
            span.stat-label { (label) }
            span.stat-value { (value) }
        }
    }
}

/// A link to a message's LogView, labelled `label`, the ID as its tooltip.
pub(crate) fn message_link(id: &str, label: impl Render, class: &str) -> Markup {
    html! {
        a class={ "msg-link " (class) } href={ "/m/" (Encoded(id)) } title=(id) { (label) }
    }
}

/// The label of a row's link to its failed messages: the report keeps only some failed
/// message IDs per name (`kept` of `failed`), so a capped list says it is a sample.
pub(crate) fn failed_label(kept: usize, failed: u64) -> String {
    if (kept as u64) < failed {
        format!("{kept} of {} failed", format_count(failed))
    } else {
        format!("{kept} failed")
    }
}

/// The heading of a name's list of failed messages, as [`failed_label`].
pub(crate) fn failed_heading(kept: usize, failed: u64) -> String {
    if (kept as u64) < failed {
        format!("Failed: the last {kept} of {}", format_count(failed))
    } else {
        format!("Failed ({kept})")
    }
}

/// Most rows a board's table shows. A type holds up to 200 names per machine and a machine
/// up to 100 types, so a thousand machines with names (or types) of their own make hundreds
/// of thousands of rows in "All" (a page of hundreds of megabytes); past this the table shows
/// the first rows in its order and says how many it leaves out ([`rows_left_out`]), while its
/// heading keeps the full count. The board renders 10 000 names in well under 100 ms
/// (benches/transaction_board.rs).
pub(crate) const MAX_TABLE_ROWS: usize = 10_000;

/// Cuts the sorted `rows` of a sortable table of `what` ("names", "types") to
/// [`MAX_TABLE_ROWS`], returning the note to show under the table when any were left out.
pub(crate) fn rows_left_out<T>(rows: &mut Vec<T>, what: &str) -> Option<Markup> {
    rows_cut(rows, what, "Sort by another column to see others.")
}

/// Cuts `rows` to [`MAX_TABLE_ROWS`] as [`rows_left_out`] does, for a table of `what`
/// ("entries", "edges") whose note ends with `tip`: a table that cannot be sorted says where
/// the rest are.
pub(crate) fn rows_cut<T>(rows: &mut Vec<T>, what: &str, tip: &str) -> Option<Markup> {
    let left_out = rows.len().checked_sub(MAX_TABLE_ROWS).filter(|&n| n > 0)?;
    rows.truncate(MAX_TABLE_ROWS);
    Some(html! {
        p.hint.left-out {
            "The first " (format_count(MAX_TABLE_ROWS as u64)) " " (what) " in this order; "
            (format_count(left_out as u64)) " more are left out. " (tip)
        }
    })
}

/// Under [`failed_heading`] when the list is capped.
pub(crate) const FAILED_SAMPLE_HINT: &str =
    "The report keeps the newest failed message IDs per name (per machine), not every one.";

#[cfg(test)]
mod tests {

    #[test]
    fn amounts_group_thousands_and_keep_at_most_two_decimals() {
        for (value, text) in [
            (2227.0, "2,227"),
            (0.5, "0.5"),
            (1500.25, "1,500.25"),
            (-1500.256, "-1,500.26"),
            (1_234_567.0, "1,234,567"),
            (-0.001, "0"),
        ] {
            assert_eq!(super::format_amount(value), text, "{value}");
        }
    }
    use super::*;

    #[test]
    fn build_url_encodes_values_and_drops_empty_ones() {
        assert_eq!(
            build_url("/t", &[("domain", "a b&c"), ("ip", ""), ("name", "/x?y")]),
            "/t?domain=a%20b%26c&name=%2Fx%3Fy"
        );
        assert_eq!(build_url("/t", &[("sort", "")]), "/t");
        // The empty type and name are selections (CAT's `RemoteCall` events have no name).
        assert_eq!(
            build_url("/e", &[("type", "RemoteCall"), ("name", "")]),
            "/e?type=RemoteCall&name="
        );
    }

    #[test]
    fn numbers_are_formatted_for_tables() {
        assert_eq!(format_ms(0.0), "0");
        assert_eq!(format_ms(0.001), "<0.01");
        assert_eq!(format_ms(0.005), "0.01");
        assert_eq!(format_ms(1.234), "1.23");
        assert_eq!(format_ms(12.34), "12.3");
        assert_eq!(format_ms(1234.4), "1,234");
        assert_eq!(format_ms(f64::NAN), "-");
        assert_eq!(format_ms(-1234.4), "-1,234");
        assert_eq!(format_count(0), "0");
        assert_eq!(format_count(1_000), "1,000");
        assert_eq!(format_count(u64::MAX), "18,446,744,073,709,551,615");
        assert_eq!(format_rate(1250.4), "1,250");
        assert_eq!(format_rate(0.001), "0.0010");
        assert_eq!(format_count(1_234_567), "1,234,567");
        assert_eq!(format_count(999), "999");
        assert_eq!(format_percent(1.234), "1.23%");
        assert_eq!(format_percent(100.0), "100.0%");
        assert_eq!(format_rate(0.25), "0.25");
        assert_eq!(format_bytes(1536), "1.5 KiB");
        assert_eq!(format_bytes(12), "12 B");
    }

    #[test]
    fn rates_keep_two_significant_digits_and_never_read_as_zero() {
        for (rate, text) in [
            (0.0146, "0.015"),
            (0.0088, "0.0088"),
            (0.05, "0.050"),
            (0.099, "0.099"),
            (0.25, "0.25"),
            (1.234, "1.23"),
            // Four transactions over a week, and one over a month of 31 days.
            (4.0 / (7.0 * 86_400.0), "0.0000066"),
            (1.0 / (31.0 * 86_400.0), "0.00000037"),
            (1e-12, "1.0e-12"),
            (0.0, "0"),
        ] {
            assert_eq!(format_rate(rate), text, "{rate}");
        }
        for exponent in 1..=15 {
            let rate = 10f64.powi(-exponent) * 1.5;
            let text = format_rate(rate);
            assert!(text.contains(['1', '2']), "{rate} reads {text}");
        }
    }

    /// Number types write into the page unescaped: the one that writes a `<` escapes it.
    #[test]
    fn a_duration_under_a_hundredth_is_escaped_in_markup_and_plain_in_text() {
        assert_eq!(format_ms(0.001), "<0.01");
        assert_eq!(Ms(0.001).render().into_string(), "&lt;0.01");
        let cell = html! { td.num { (Ms(0.001)) } }.into_string();
        assert_eq!(cell, r#"<td class="num">&lt;0.01</td>"#);
        assert_eq!(Ms(12.34).render().into_string(), "12.3");
    }

    #[test]
    fn failure_labels_say_when_the_ids_are_a_sample() {
        assert_eq!(failed_label(10, 1_800), "10 of 1,800 failed");
        assert_eq!(failed_heading(10, 18), "Failed: the last 10 of 18");
        assert_eq!(failed_label(3, 3), "3 failed");
        assert_eq!(failed_heading(3, 3), "Failed (3)");
    }

    #[test]
    fn the_form_origin_drops_what_belongs_to_another_domain() {
        let params = ReportParams {
            domain: Some("order-service".to_owned()),
            ip: Some("10.0.1.1".to_owned()),
            type_: Some("URL".to_owned()),
            name: Some("/api/order/create".to_owned()),
            sort: Some("p95".to_owned()),
            ..ReportParams::default()
        };
        let from = |domain: &str| FormOrigin {
            from: Some(domain.to_owned()),
        };
        let same = from("order-service").apply(params.clone());
        assert_eq!(
            (same.ip(), same.type_(), same.name(), same.sort()),
            (
                Some("10.0.1.1"),
                Some("URL"),
                Some("/api/order/create"),
                Some("p95")
            )
        );
        let other = from("gateway").apply(params.clone());
        assert_eq!(
            (other.ip(), other.type_(), other.name(), other.sort()),
            (None, None, None, Some("p95"))
        );
        let link = FormOrigin::default().apply(params);
        assert_eq!(link.type_(), Some("URL"), "a link without the marker");
    }

    #[test]
    fn per_minute_fills_an_hour_and_ignores_impossible_minutes() {
        let values = per_minute([(0, 1.0), (59, 2.0), (59, 3.0), (60, 9.0)]);
        assert_eq!(values.len(), 60);
        assert_eq!((values[0], values[59]), (1.0, 5.0));
    }

    #[test]
    fn per_hour_fills_a_day_by_the_labels_last_digits_and_ignores_bad_labels() {
        let values = per_hour([
            ("2026112200", 1.0),
            ("2026112223", 2.0),
            ("2026112223", 3.0),
            ("2026112224", 9.0),
            ("20261122", 9.0),
            ("20261122xx", 9.0),
        ]);
        assert_eq!(values.len(), 24);
        assert_eq!((values[0], values[23]), (1.0, 5.0));
        assert_eq!(values.iter().sum::<f64>(), 6.0);
        assert_eq!(hour_slot("2026112207"), Some(7));
    }
}
