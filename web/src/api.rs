//! The JSON API over the hourly reports (issue 4). `hour` is `YYYYMMDDHH` in UTC or
//! `current`; `ip` defaults to `All`; durations are milliseconds.
//!
//! * `GET /api/hours` -> `{"hours":["YYYYMMDDHH",..],"current":"YYYYMMDDHH"}`
//! * `GET /api/domains[?hour=]` -> `{"domains":[..]}` (without `hour`: the current and the
//!   previous hour's, so a domain does not vanish at the top of the hour; an hour without
//!   data lists none: the list is the answer, not a report that could be missing)
//! * `GET /api/transaction?domain=&hour=[&ip=][&type=[&name=]][&limit=]`, `/api/event?..`
//!   (same shape). `limit` (default 10 000, at most 100 000) bounds the names listed per
//!   type: a type with more lists its busiest (by count; ties by name), still sorted by
//!   name, and says how many it left out in `namesLeftOut` (absent when none were); its own
//!   figures still cover every name. The names are picked before their figures are built,
//!   so a domain's "All machines" view of hundreds of thousands of names costs what its
//!   kept names do, not hundreds of megabytes of JSON
//! * `name=` (with `type=`: a name without its type is a 400) lists that name alone (as
//!   CAT's report of a type and a name shows that name): the type's figures still cover
//!   every name, `namesLeftOut` counts the others and `limit` does not apply. On
//!   `/api/transaction` it also gives the name its duration distribution:
//!   `"distribution":[{"upToMs":1,"count":n},{"upToMs":2,"count":n},..,
//!   {"upToMs":65536,"count":n},{"upToMs":null,"count":n}]`, CAT's 18 power-of-two
//!   buckets, empty ones included: the transactions that took more than the bucket before's
//!   bound and at most `upToMs`, the last one those slower than 65 536 ms. The counts come
//!   from the name's duration histogram, over the machines (and hours) viewed: every
//!   duration at or below a bound counts under it, and one less than 1.92 % above a bound
//!   may too; they add up to the name's count (batch data may carry fewer durations)
//! * `GET /api/transaction?domain=&day=YYYYMMDD|current[&ip=][&type=[&name=]][&limit=]`,
//!   `/api/event?..&day=`: the whole UTC day, `{"domain","day","hours":[..],"ips":[..],
//!   "types":[..]}`, each type and name with its day's figures (percentiles of the union
//!   of the hours' durations, `tps` over the seconds of the day that have run, a named
//!   name's distribution over the day) and `hours` rows (its hourly series) in place of
//!   `minutes`; `hour` and `day` together are a 400
//! * `week=YYYYMMDD` (any day of the week, Saturday to Friday) or `month=YYYYMM` (either
//!   `current`) in place of `day=`: the span day by day, `{"domain","period","label","from",
//!   "to","days":[..],"ips":[..],"types":[..]}`, `days` rows in place of `hours`, and `tps`
//!   over the days with data (those in `days`, today's up to now), not the whole span: a
//!   domain that began sending mid-week is not diluted by the days before
//! * `GET /api/problem?domain=&hour=[&ip=][&type=]` (`type` is the transaction or event type
//!   of the entries, such as `URL`; their category, such as `error`, is not filtered by), or
//!   `&day=YYYYMMDD` for the whole UTC day: `{"domain","day","hours":[..],"ips":[..],"problems":[..]}`, each entry with the
//!   day's count, `hours` rows in place of `minutes` and the day's first sample IDs
//!   (the problem board's `long_ms=` is not taken here: an entry's count raised to a
//!   threshold would no longer be the sum of its `minutes`, which cannot be split by
//!   bucket; each long entry lists its `durations` to add up from any bound)
//! * `GET /api/heartbeat?domain=&hour=[&ip=]` (no `ip`: the first machine; `ip=All` is a
//!   400 naming the machines, since heartbeats of different machines do not add up)
//! * `GET /api/metric?domain=&hour=[&name=]` (`name` lists that metric alone; a domain's
//!   metrics are not kept per machine: an `ip` other than `All` is a 400, and metrics have
//!   no types: a `type` is one too)
//! * `GET /api/state?hour=`: the collector's own figures. `drops` counts the trees a report
//!   worker or the store dropped, those the store refused for a duplicate message ID among
//!   them (as it always has); `lost` and `duplicates` tell them apart: `lost` is what the
//!   State page, `/metrics` (`ocelot_dropped_trees_total`) and `ocelot status` call dropped
//!   (the `outOfWindow` trees and every drop but the duplicates), `duplicates` the trees not
//!   stored again for an ID stored before (`ocelot_duplicate_trees_total`: counted in the
//!   reports and found by their ID, so not lost). Each of `minutes` has its own `lost` and
//!   `duplicates` beside its `drops` by stage and reason
//! * `GET /api/dependency?domain=&hour=[&ip=][&type=]` (databases, services called, callers;
//!   the edges are kept per machine, so `ip` gives that machine's)
//!
//! An hour (a day) without data (one that has not begun says so), a domain without a report
//! in the hour (the day), an unknown machine, on `/api/transaction` and `/api/event` a
//! `type=` or `name=` the report does not have (the empty type or name included), on
//! `/api/problem` and `/api/dependency` a `type=` that selects nothing, and on `/api/metric`
//! a `name=` the report does not have is a 404 naming it; a missing, empty or malformed
//! parameter a 400 naming it, and so is a `day=` on the endpoints that answer for an hour
//! only and a `limit=` on those that list everything (all but transaction and event). A
//! parameter an endpoint does not take at all (`typ=`, `sort=`, CAT's `date=`) is a 400
//! before the handler runs (`api_params.rs`). `/api` itself and any other path under it is
//! a JSON 404.
//!
//! Every error is JSON, `{"error":"..","code":"..","message":".."}`: `code` is for programs
//! and does not change; `message` is for people, and `error` holds the same text (it was
//! the only field before, and clients read it). The codes (`error.rs`, `ApiError`):
//!
//! | status | `code` | when |
//! |---|---|---|
//! | 400 | `bad_parameter` | a parameter missing, empty, malformed, given twice or not taken by the endpoint (this one adds `param` and `takes`) |
//! | 401 | `unauthorized` | the API token is missing or wrong |
//! | 404 | `no_data` | an hour or day without data (or not begun yet), a domain without a report in it |
//! | 404 | `not_found` | a machine, type, name or metric the report does not have |
//! | 404 | `unknown_id` | a message ID with no stored tree; on `/api/alerts`, a `since=` past the newest event id (the log was started anew) |
//! | 404 | `unknown_endpoint` | no endpoint at this path |
//! | 405 | `method_not_allowed` | a method other than GET |
//! | 500 | `unreadable_report` | the stored report cannot be read (damaged or missing) |
//! | 500 | `unreadable_tree` | the stored tree cannot be read (damaged or missing) |
//! | 500 | `internal` | anything else; the detail is in the server's log |
//! | 503 | `busy` | large answers being sent hold the server's budget; `Retry-After` says when to retry |
//!
//! Answers (and pages) over 1 KiB are gzip-compressed for a client that sends
//! `Accept-Encoding: gzip` (`gzip.rs`).

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use ocelot_analyzer::{
    day_label, hour_label, Day, DependencyView, EventReport, EventTypeView, EventView,
    HeartbeatReport, HeartbeatView, MetricReport, MetricView, ProblemEntryView, ProblemReport,
    ProblemView, Span, StateReport, StateView, TransactionReport, TransactionTypeView,
    TransactionView, ViewQuery, HOURS_PER_DAY,
};
use serde::Serialize;

use crate::cpu::heavy;
use crate::day::{event_day, hours_of_domain, problem_day, transaction_day, Merged};
use crate::error::{ApiError, ApiQuery};
use crate::hour::{elapsed_seconds, span_elapsed_seconds};
use crate::report_source::unreadable_message;
use crate::selection::{BadParam, ReportParams, ALL_MACHINES, LONG_CATEGORIES};
use crate::state::AppState;

/// Whether `path` is the JSON API's: `/api` itself or under `/api/`. Its answers are JSON,
/// errors (401, 404, 405) included.
pub(crate) fn is_api_path(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/")
}

/// The routes of this module.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/hours", get(hours))
        .route("/api/domains", get(domains))
        .route("/api/transaction", get(transaction))
        .route("/api/event", get(event))
        .route("/api/problem", get(problem))
        .route("/api/heartbeat", get(heartbeat))
        .route("/api/metric", get(metric))
        .route("/api/dependency", get(dependency))
        .route("/api/state", get(state))
}

type Params = ApiQuery<ReportParams>;

/// `GET /api/hours`.
#[derive(Debug, Serialize)]
struct HoursView {
    hours: Vec<String>,
    current: String,
}

async fn hours(State(state): State<AppState>) -> Json<HoursView> {
    let source = &state.reports;
    let current = source.now_ms() / ocelot_protocol::MILLIS_PER_HOUR;
    Json(HoursView {
        hours: source.hours().await.into_iter().map(hour_label).collect(),
        current: hour_label(current),
    })
}

/// `GET /api/domains`.
#[derive(Debug, Serialize)]
struct DomainsView {
    domains: Vec<String>,
}

async fn domains(
    State(state): State<AppState>,
    ApiQuery(params): Params,
) -> Result<Json<DomainsView>, ApiError> {
    params.hours_only()?;
    let source = &state.reports;
    let now_ms = source.now_ms();
    let domains = if params.has_hour() {
        source.domains(params.hour(now_ms, false)?).await
    } else {
        let current = now_ms / ocelot_protocol::MILLIS_PER_HOUR;
        let mut domains = source.domains(current).await;
        if let Some(previous) = current.checked_sub(1) {
            domains.extend(source.domains(previous).await);
        }
        domains.sort();
        domains.dedup();
        domains
    };
    Ok(Json(DomainsView { domains }))
}

/// A 400 for a `limit=` on an endpoint that lists every entry (it bounds the names per
/// type of the transaction and event views only): a limit silently ignored would look
/// applied, and a malformed one would pass here and fail there.
pub(crate) fn takes_no_limit(params: &ReportParams) -> Result<(), BadParam> {
    match params.limit.as_deref().filter(|raw| !raw.is_empty()) {
        Some(raw) => Err(BadParam {
            param: "limit",
            detail: format!(
                "“{raw}” is not taken here: this report lists every entry; “limit” bounds \
                 the names per type of /api/transaction and /api/event."
            ),
        }),
        None => Ok(()),
    }
}

/// A 400 for a `name=` without a `type=`: names are per type, and a name alone would be
/// looked for in every type. An empty `name=` without a type is taken as absent, as the
/// API took every `name=` before it read one (a form's empty field).
fn name_needs_type(params: &ReportParams) -> Result<(), BadParam> {
    match (params.name(), params.type_()) {
        (Some(name), None) if !name.is_empty() => Err(BadParam {
            param: "name",
            detail: format!(
                "“{name}” is a name of which type? Give “type” too: names are per type."
            ),
        }),
        _ => Ok(()),
    }
}

/// The name `name=` selects: only with a `type=` (an empty `name=` without one is taken as
/// absent, see [`name_needs_type`]).
fn selected_name(params: &ReportParams) -> Option<&str> {
    params.type_().and(params.name())
}

/// The views' `max_names` and `keep_name` for `params`: `limit` names per type, or with a
/// `name=` that name alone (the others are left out and counted as such).
fn names_shown(params: &ReportParams, limit: usize) -> (Option<usize>, Option<&str>) {
    match selected_name(params) {
        Some(name) => (Some(0), Some(name)),
        None => (Some(limit), None),
    }
}

/// A 404 when the `type=` or `name=` asked for is not in the view, whose types (with
/// their numbers of names listed) are `types`; `place` says where it was looked for
/// (`in domain “shop” in hour 2026112207`). An empty answer would read as "none this
/// hour" when the type or name was mistyped.
fn check_selection<'v>(
    params: &ReportParams,
    mut types: impl Iterator<Item = (&'v str, usize)>,
    place: impl FnOnce() -> String,
) -> Result<(), ApiError> {
    let Some(type_) = params.type_() else {
        return Ok(());
    };
    let missing = match (types.find(|(t, _)| *t == type_), selected_name(params)) {
        (None, _) => quoted("type", type_),
        (Some((_, 0)), Some(name)) => {
            format!("{} of {}", quoted("name", name), quoted("type", type_))
        }
        _ => return Ok(()),
    };
    Err(ApiError::NotFound(format!(
        "no {missing} {}{}",
        place(),
        on_machine(params)
    )))
}

/// `type “URL”`, or `empty type (“”)` for the empty value, which would read as nothing.
fn quoted(what: &str, value: &str) -> String {
    match value {
        "" => format!("empty {what} (“”)"),
        _ => format!("{what} “{value}”"),
    }
}

/// ` on machine 10.0.0.1` when `ip=` picks one, for messages.
fn on_machine(params: &ReportParams) -> String {
    params
        .ip()
        .map(|ip| format!(" on machine {ip}"))
        .unwrap_or_default()
}

/// The problem categories, which CAT's Problem page calls types (see [`check_listed_type`]).
fn is_problem_category(value: &str) -> bool {
    value == "error" || LONG_CATEGORIES.contains(&value)
}

/// A 404 for a `type=` that selected nothing of a flat list (problems, dependency edges;
/// `found` says whether anything is left), as [`check_selection`] answers for the reports
/// listed by type: an empty list would read as "none this hour" when the type was mistyped.
/// `what` names the list (`problems`); for a problem category given as the type (CAT's
/// Problem page calls them types) the answer says what `type` filters instead.
fn check_listed_type(
    params: &ReportParams,
    found: bool,
    what: &str,
    place: impl FnOnce() -> String,
) -> Result<(), ApiError> {
    let Some(type_) = params.type_().filter(|_| !found) else {
        return Ok(());
    };
    let hint = if what == "problems" && is_problem_category(type_) {
        format!(
            ": “{type_}” is a problem category, and “type” picks the transaction or event type \
             (URL, SQL, ...); leave it out and read each entry's “category”"
        )
    } else {
        String::new()
    };
    Err(ApiError::NotFound(format!(
        "no {what} of {} {}{}{hint}",
        quoted("type", type_),
        place(),
        on_machine(params)
    )))
}

/// A transaction type's name and the number of its names listed, for [`check_selection`].
fn transaction_names(t: &TransactionTypeView) -> (&str, usize) {
    (t.type_.as_str(), t.names.len())
}

/// An event type's name and the number of its names listed, for [`check_selection`].
fn event_names(t: &EventTypeView) -> (&str, usize) {
    (t.type_.as_str(), t.names.len())
}

/// A checked `domain` + `hour` pair that has data.
pub(crate) struct Target {
    pub(crate) domain: String,
    pub(crate) hour: u64,
    elapsed_seconds: f64,
}

async fn hour_with_data(state: &AppState, params: &ReportParams) -> Result<u64, ApiError> {
    params.hours_only()?;
    let now_ms = state.reports.now_ms();
    let hour = params.hour(now_ms, false)?;
    if state.reports.hours().await.contains(&hour) {
        return Ok(hour);
    }
    // A client whose clock runs ahead can send data into an hour yet to come, so only an
    // hour without data is said to have not begun (as the boards say it).
    let current = now_ms / ocelot_protocol::MILLIS_PER_HOUR;
    Err(ApiError::NoData(if hour > current {
        format!(
            "hour {} has not begun: nothing can have been sent in it yet (the current hour \
             is {})",
            hour_label(hour),
            hour_label(current)
        )
    } else {
        format!("no data for hour {}", hour_label(hour))
    }))
}

pub(crate) async fn target(state: &AppState, params: &ReportParams) -> Result<Target, ApiError> {
    let domain = params.domain().ok_or(BadParam::missing("domain"))?;
    let hour = hour_with_data(state, params).await?;
    if !state
        .reports
        .domains(hour)
        .await
        .iter()
        .any(|d| d == domain)
    {
        return Err(ApiError::NoData(format!(
            "no report for domain “{domain}” in hour {}",
            hour_label(hour)
        )));
    }
    Ok(Target {
        domain: domain.to_owned(),
        hour,
        elapsed_seconds: elapsed_seconds(hour, state.reports.now_ms()),
    })
}

/// 404 when `ip` names a machine the report does not have.
fn check_machine<'a>(
    ip: Option<&str>,
    mut ips: impl Iterator<Item = &'a str>,
    target: &Target,
) -> Result<(), ApiError> {
    match ip {
        Some(ip) if !ips.any(|known| known == ip) => Err(ApiError::NotFound(format!(
            "no machine {ip} in domain “{}” in hour {}",
            target.domain,
            hour_label(target.hour)
        ))),
        _ => Ok(()),
    }
}

impl Target {
    /// `in domain “shop” in hour 2026112207`: for messages.
    pub(crate) fn place(&self) -> String {
        format!(
            "in domain “{}” in hour {}",
            self.domain,
            hour_label(self.hour)
        )
    }
}

fn view_query<'a>(params: &'a ReportParams, target: &Target) -> ViewQuery<'a> {
    ViewQuery {
        ip: params.ip(),
        type_: params.type_(),
        elapsed_seconds: target.elapsed_seconds,
        max_names: None,
        keep_name: None,
    }
}

/// A checked `domain` + day (week, month) pair that has data: the hours of the span with
/// a report of the domain.
pub(crate) struct DayTarget {
    pub(crate) domain: String,
    pub(crate) span: Span,
    pub(crate) hours: Vec<u64>,
    pub(crate) elapsed_seconds: f64,
}

impl DayTarget {
    /// `on day 20261122`, `in week 20261121`, `in month 202611`: for messages.
    fn named(&self) -> String {
        let preposition = if self.span.rows_are_hours() {
            "on"
        } else {
            "in"
        };
        format!("{preposition} {} {}", self.span.kind(), self.span.label())
    }
}

/// The day, week or month asked for (`day=`, `week=`, `month=`), or `None` for an hour.
pub(crate) fn day_of(state: &AppState, params: &ReportParams) -> Result<Option<Span>, ApiError> {
    Ok(params.period(state.reports.now_ms(), false)?.span())
}

pub(crate) async fn day_target(
    state: &AppState,
    params: &ReportParams,
    span: Span,
) -> Result<DayTarget, ApiError> {
    let domain = params.domain().ok_or(BadParam::missing("domain"))?;
    let hours = hours_of_domain(state.reports.as_ref(), domain, span).await;
    let target = DayTarget {
        domain: domain.to_owned(),
        span,
        hours,
        elapsed_seconds: span_elapsed_seconds(span, state.reports.now_ms()),
    };
    if target.hours.is_empty() {
        let today = state.reports.now_ms() / ocelot_protocol::MILLIS_PER_HOUR / HOURS_PER_DAY;
        if span.first_day() > today {
            return Err(ApiError::NoData(format!(
                "{} {} has not begun: nothing can have been sent in it yet (today is {})",
                span.kind(),
                span.label(),
                day_label(today)
            )));
        }
        return Err(ApiError::NoData(format!(
            "no report for domain “{domain}” {}",
            target.named()
        )));
    }
    Ok(target)
}

/// What a day view of `target` shows: `params`' machine and type, and at most `limit`
/// names per type or the name asked for ([`names_shown`]).
/// The hours of a day, week or month view whose stored report cannot be read, left out of
/// its figures: the answer lists them in `unreadableHours`, so a gap is not read as no
/// traffic.
pub(crate) struct UnreadableHours(Vec<String>);

/// A span's view with [`UnreadableHours`] beside its own fields (left out when there are
/// none).
#[derive(Serialize)]
pub(crate) struct WithUnreadableHours<V> {
    #[serde(flatten)]
    view: V,
    #[serde(rename = "unreadableHours", skip_serializing_if = "Vec::is_empty")]
    unreadable_hours: Vec<String>,
}

impl UnreadableHours {
    pub(crate) fn with<V>(self, view: V) -> WithUnreadableHours<V> {
        WithUnreadableHours {
            view,
            unreadable_hours: self.0,
        }
    }
}

/// The hours `merged` left out for reports that cannot be read; a 500 saying so when they
/// are all the span had.
pub(crate) fn unreadable_hours<R>(
    target: &DayTarget,
    kind: &str,
    merged: &Merged<Day<R>>,
) -> Result<UnreadableHours, ApiError> {
    let lost = &merged.unreadable_hours;
    if !lost.is_empty() && merged.day.hours().is_empty() {
        return Err(ApiError::UnreadableReport(format!(
            "The stored {kind} reports of {} {} cannot be read (damaged or missing; see the \
             server's log): hours {}.",
            target.domain,
            target.named(),
            lost.iter()
                .map(|&h| hour_label(h))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(UnreadableHours(
        lost.iter().map(|&h| hour_label(h)).collect(),
    ))
}

fn day_query<'a>(params: &'a ReportParams, target: &DayTarget, limit: usize) -> ViewQuery<'a> {
    let (max_names, keep_name) = names_shown(params, limit);
    ViewQuery {
        ip: params.ip(),
        type_: params.type_(),
        elapsed_seconds: target.elapsed_seconds,
        max_names,
        keep_name,
    }
}

impl DayTarget {
    /// `in domain “shop” on day 20261122`: for messages.
    pub(crate) fn place(&self) -> String {
        format!("in domain “{}” {}", self.domain, self.named())
    }
}

/// 404 when `ip` names a machine the day does not have.
fn check_day_machine<'a>(
    ip: Option<&str>,
    mut ips: impl Iterator<Item = &'a str>,
    target: &DayTarget,
) -> Result<(), ApiError> {
    match ip {
        Some(ip) if !ips.any(|known| known == ip) => Err(ApiError::NotFound(format!(
            "no machine {ip} in domain “{}” {}",
            target.domain,
            target.named()
        ))),
        _ => Ok(()),
    }
}

async fn transaction(
    State(state): State<AppState>,
    ApiQuery(params): Params,
) -> Result<Response, ApiError> {
    let limit = params.name_limit()?;
    name_needs_type(&params)?;
    match day_of(&state, &params)? {
        Some(day) => transaction_of_day(&state, &params, day, limit).await,
        None => transaction_of_hour(&state, params, limit)
            .await
            .map(|view| view.into_response()),
    }
}

/// `GET /api/transaction?day=` (`week=`, `month=`), at most `limit` names per type.
async fn transaction_of_day(
    state: &AppState,
    params: &ReportParams,
    span: Span,
    limit: usize,
) -> Result<Response, ApiError> {
    let target = day_target(state, params, span).await?;
    let merged = transaction_day(
        state,
        &target.domain,
        span,
        &target.hours,
        params.ip(),
        params.type_(),
    )
    .await;
    let lost = unreadable_hours(&target, "transaction", &merged)?;
    let merged = merged.day;
    check_day_machine(params.ip(), merged.ips(), &target)?;
    let query = day_query(params, &target, limit);
    let names = transaction_names;
    let place = || target.place();
    match span {
        Span::Day(_) => {
            let view = heavy(|| merged.view(&query));
            check_selection(params, view.types.iter().map(names), place)?;
            Ok(Json(lost.with(view)).into_response())
        }
        _ => {
            let view = heavy(|| merged.span_view(&query));
            check_selection(params, view.types.iter().map(names), place)?;
            Ok(Json(lost.with(view)).into_response())
        }
    }
}

/// `GET /api/transaction?hour=`, at most `limit` names per type.
async fn transaction_of_hour(
    state: &AppState,
    params: ReportParams,
    limit: usize,
) -> Result<Json<TransactionView>, ApiError> {
    let target = target(state, &params).await?;
    let (ip, type_) = (
        params.ip().map(str::to_owned),
        params.type_().map(str::to_owned),
    );
    let report = state
        .reports
        .transaction_for(target.domain.clone(), target.hour, ip, type_)
        .await;
    let report = or_unreadable(state, &target, "transaction", report, || {
        TransactionReport::new(&target.domain, target.hour)
    })
    .await?;
    check_machine(params.ip(), report.ips(), &target)?;
    let (max_names, keep_name) = names_shown(&params, limit);
    let view = heavy(|| {
        report.view(&ViewQuery {
            max_names,
            keep_name,
            ..view_query(&params, &target)
        })
    });
    check_selection(&params, view.types.iter().map(transaction_names), || {
        target.place()
    })?;
    Ok(Json(view))
}

/// The Event report of the target (an empty one for a domain without events): the event
/// view's, and the dependency view's, whose edges live in it.
async fn event_report(state: &AppState, target: &Target) -> Result<Arc<EventReport>, ApiError> {
    let report = (state.reports.event(target.domain.clone(), target.hour)).await;
    or_unreadable(state, target, "event", report, || {
        EventReport::new(&target.domain, target.hour)
    })
    .await
}

/// The `kind` report `fetched` for `target`, or when there is none: an `empty` one if the
/// domain just logged nothing of the kind, a 500 saying so if its stored report cannot be
/// read (an empty answer read as "no traffic").
pub(crate) async fn or_unreadable<R>(
    state: &AppState,
    target: &Target,
    kind: &'static str,
    fetched: Option<Arc<R>>,
    empty: impl FnOnce() -> R,
) -> Result<Arc<R>, ApiError> {
    if let Some(report) = fetched {
        return Ok(report);
    }
    let domain = target.domain.clone();
    match state.reports.unreadable(kind, domain, target.hour).await {
        Some(why) => {
            let hour = format!("hour {}", hour_label(target.hour));
            let message = unreadable_message(kind, &target.domain, &hour, &why);
            Err(ApiError::UnreadableReport(message))
        }
        None => Ok(Arc::new(empty())),
    }
}

async fn event(
    State(state): State<AppState>,
    ApiQuery(params): Params,
) -> Result<Response, ApiError> {
    let limit = params.name_limit()?;
    name_needs_type(&params)?;
    match day_of(&state, &params)? {
        Some(day) => event_of_day(&state, &params, day, limit).await,
        None => event_of_hour(&state, params, limit)
            .await
            .map(|view| view.into_response()),
    }
}

/// `GET /api/event?day=` (`week=`, `month=`), at most `limit` names per type.
async fn event_of_day(
    state: &AppState,
    params: &ReportParams,
    span: Span,
    limit: usize,
) -> Result<Response, ApiError> {
    let target = day_target(state, params, span).await?;
    let merged = event_day(state, &target.domain, span, &target.hours).await;
    let lost = unreadable_hours(&target, "event", &merged)?;
    let merged = merged.day;
    check_day_machine(params.ip(), merged.ips(), &target)?;
    let query = day_query(params, &target, limit);
    let names = event_names;
    let place = || target.place();
    match span {
        Span::Day(_) => {
            let view = heavy(|| merged.view(&query));
            check_selection(params, view.types.iter().map(names), place)?;
            Ok(Json(lost.with(view)).into_response())
        }
        _ => {
            let view = heavy(|| merged.span_view(&query));
            check_selection(params, view.types.iter().map(names), place)?;
            Ok(Json(lost.with(view)).into_response())
        }
    }
}

/// `GET /api/event?hour=`, at most `limit` names per type.
async fn event_of_hour(
    state: &AppState,
    params: ReportParams,
    limit: usize,
) -> Result<Json<EventView>, ApiError> {
    let target = target(state, &params).await?;
    let report = event_report(state, &target).await?;
    check_machine(params.ip(), report.ips(), &target)?;
    let (max_names, keep_name) = names_shown(&params, limit);
    let view = heavy(|| {
        report.view(&ViewQuery {
            max_names,
            keep_name,
            ..view_query(&params, &target)
        })
    });
    check_selection(&params, view.types.iter().map(event_names), || {
        target.place()
    })?;
    Ok(Json(view))
}

async fn problem(
    State(state): State<AppState>,
    ApiQuery(params): Params,
) -> Result<Response, ApiError> {
    takes_no_limit(&params)?;
    match day_of(&state, &params)? {
        Some(day) => problem_of_day(&state, &params, day).await,
        None => problem_of_hour(&state, params)
            .await
            .map(|view| view.into_response()),
    }
}

/// `GET /api/problem?day=` (`week=`, `month=`).
async fn problem_of_day(
    state: &AppState,
    params: &ReportParams,
    span: Span,
) -> Result<Response, ApiError> {
    let target = day_target(state, params, span).await?;
    let merged = problem_day(state, &target.domain, span, &target.hours).await;
    let lost = unreadable_hours(&target, "problem", &merged)?;
    let merged = merged.day;
    check_day_machine(params.ip(), merged.ips(), &target)?;
    let query = ViewQuery {
        ip: params.ip(),
        type_: params.type_(),
        elapsed_seconds: target.elapsed_seconds,
        max_names: None,
        keep_name: None,
    };
    let found = |problems: &[ProblemEntryView]| !problems.is_empty();
    let place = || target.place();
    match span {
        Span::Day(_) => {
            let view = heavy(|| merged.view(&query));
            check_listed_type(params, found(&view.problems), "problems", place)?;
            Ok(Json(lost.with(view)).into_response())
        }
        _ => {
            let view = heavy(|| merged.span_view(&query));
            check_listed_type(params, found(&view.problems), "problems", place)?;
            Ok(Json(lost.with(view)).into_response())
        }
    }
}

async fn problem_of_hour(
    state: &AppState,
    params: ReportParams,
) -> Result<Json<ProblemView>, ApiError> {
    let target = target(state, &params).await?;
    let report = (state.reports.problem(target.domain.clone(), target.hour)).await;
    let report = or_unreadable(state, &target, "problem", report, || {
        ProblemReport::new(&target.domain, target.hour)
    })
    .await?;
    check_machine(params.ip(), report.ips(), &target)?;
    let view = heavy(|| report.view(&view_query(&params, &target)));
    check_listed_type(&params, !view.problems.is_empty(), "problems", || {
        target.place()
    })?;
    Ok(Json(view))
}

/// Machines a 400 about `ip=All` on `/api/heartbeat` names, at most: the 200 answer lists
/// them all (`ips`), and a domain may have a thousand.
const MACHINES_NAMED: usize = 10;

/// A 400 for `ip=All` on `/api/heartbeat`: heartbeats (memory, load, threads) of
/// different machines do not add up, so there is no "All" to show, and the first machine's
/// answered for it would pass as every machine's. Without an `ip` the API answers the first
/// machine, as documented; `All` names the whole domain, which it cannot answer.
fn heartbeat_of_all<'a>(
    params: &ReportParams,
    ips: impl Iterator<Item = &'a str>,
) -> Result<(), BadParam> {
    let all = (params.ip.as_deref()).filter(|ip| ip.eq_ignore_ascii_case(ALL_MACHINES));
    let Some(all) = all else {
        return Ok(());
    };
    let ips: Vec<&str> = ips.collect();
    let machines = match ips.len() {
        0 => "this domain has none in this hour".to_owned(),
        n if n <= MACHINES_NAMED => format!("this domain's are {}", ips.join(", ")),
        n => format!(
            "this domain's are {} and {} more (“ips” of the answer without “ip” lists them)",
            ips[..MACHINES_NAMED].join(", "),
            n - MACHINES_NAMED
        ),
    };
    Err(BadParam {
        param: "ip",
        detail: format!(
            "“{all}” is not a machine: heartbeats are per machine (they do not add up), so \
             give one machine's IP, or leave “ip” out for the first; {machines}."
        ),
    })
}

async fn heartbeat(
    State(state): State<AppState>,
    ApiQuery(params): Params,
) -> Result<Json<HeartbeatView>, ApiError> {
    takes_no_limit(&params)?;
    let target = target(&state, &params).await?;
    let report = (state.reports.heartbeat(target.domain.clone(), target.hour)).await;
    let report = or_unreadable(&state, &target, "heartbeat", report, || {
        HeartbeatReport::new(&target.domain, target.hour)
    })
    .await?;
    heartbeat_of_all(&params, report.ips())?;
    check_machine(params.ip(), report.ips(), &target)?;
    Ok(Json(heavy(move || {
        report.view(&view_query(&params, &target))
    })))
}

/// The metric `name=` selects (an empty `name=` is taken as absent, as a `name=` without
/// `type=` is on the other endpoints); a 400 for `type=`: metrics have names, no types.
fn selected_metric(params: &ReportParams) -> Result<Option<&str>, BadParam> {
    if let Some(type_) = params.type_() {
        return Err(BadParam {
            param: "type",
            detail: format!(
                "“{type_}” is not taken here: metrics have names, not types; pick one \
                 metric with “name”."
            ),
        });
    }
    Ok(params.name().filter(|name| !name.is_empty()))
}

async fn metric(
    State(state): State<AppState>,
    ApiQuery(params): Params,
) -> Result<Json<MetricView>, ApiError> {
    takes_no_limit(&params)?;
    // Business metrics are a domain's, summed over its machines (CAT's Business report):
    // the report keeps no machine to pick.
    if let Some(ip) = params.ip() {
        return Err(BadParam {
            param: "ip",
            detail: format!(
                "a metric report is of the whole domain, not per machine: leave out “ip” \
                 (or give “All”) instead of “{ip}”."
            ),
        }
        .into());
    }
    let name = selected_metric(&params)?;
    let target = target(&state, &params).await?;
    let report = (state.reports.metric(target.domain.clone(), target.hour)).await;
    let report = or_unreadable(&state, &target, "metric", report, || {
        MetricReport::new(&target.domain, target.hour)
    })
    .await?;
    // The report selects one metric by the query's type (it has no other use for one).
    let view = heavy(|| {
        report.view(&ViewQuery {
            type_: name,
            ..view_query(&params, &target)
        })
    });
    if let Some(name) = name.filter(|_| view.metrics.is_empty()) {
        return Err(ApiError::NotFound(format!(
            "no metric “{name}” {}",
            target.place()
        )));
    }
    Ok(Json(view))
}

async fn dependency(
    State(state): State<AppState>,
    ApiQuery(params): Params,
) -> Result<Json<DependencyView>, ApiError> {
    takes_no_limit(&params)?;
    let target = target(&state, &params).await?;
    let report = event_report(&state, &target).await?;
    // The edges are the Event report's, kept per machine: a machine it does not have is a
    // 404, as on /api/event, not an empty list.
    check_machine(params.ip(), report.ips(), &target)?;
    let view = heavy(|| report.dependencies(&view_query(&params, &target)));
    check_listed_type(
        &params,
        !view.dependencies.is_empty(),
        "dependencies",
        || target.place(),
    )?;
    Ok(Json(view))
}

async fn state(
    State(state): State<AppState>,
    ApiQuery(params): Params,
) -> Result<Json<StateView>, ApiError> {
    takes_no_limit(&params)?;
    let hour = hour_with_data(&state, &params).await?;
    let report = state
        .reports
        .state(hour)
        .await
        .unwrap_or_else(|| Arc::new(StateReport::new(hour)));
    let elapsed_seconds = elapsed_seconds(hour, state.reports.now_ms());
    Ok(Json(heavy(move || {
        report.view(&ViewQuery {
            elapsed_seconds,
            ..ViewQuery::default()
        })
    })))
}
