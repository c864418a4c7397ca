//! The Alerts page, `GET /alerts`, and `GET /api/alerts`: every rule with its state, the
//! recent alerts, and every notification attempt (from the alert crate's log).
//!
//! `/api/alerts` gives each event an `id`, its number in the alert log as a string
//! (`"1742"`; the log's, see `ocelot_alert::AlertLog::snapshot_with_event_ids`): an id
//! names the same event across polls, as the log drops its oldest events, and across
//! restarts with the state file, and a newer event always has a larger id. `?since=<id>`
//! lists only the events after it, the cursor of a poller (a bot posting each event once).
//! A `since` the log never gave (past its newest id: a log started anew, its state file
//! lost) is a 404 `unknown_id`, so a poller starts over instead of waiting for ids to catch
//! up. Ids were once `"<minute>-<n>"`, a place among the minute's events kept, which moved
//! as the log dropped events; such a `since` is a 400 saying so. Events are the dedupe
//! unit; a rule that re-fires inside its suppression window logs a second `fired` event
//! (`suppressed: true`), with its own id.

use std::ops::Range;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use maud::{html, Markup};
use ocelot_alert::{
    AlertEvent, AlertKind, AlertPhase, AlertSnapshot, Measure, ReportKind, RuleStatus, Scope,
};
use ocelot_analyzer::hour_label;
use serde::{Deserialize, Serialize};

use crate::board::{
    build_url, format_amount, format_count, format_ms, format_percent, stat, stat_with_hint,
};
use crate::error::{ApiError, ApiQuery};
use crate::hour::parse_hour_label;
use crate::layout::{page, PageTitle};
use crate::links::anchor_id;
use crate::selection::BadParam;
use crate::state::AppState;
use crate::time::format_utc_ms;

const PATH: &str = "/alerts";
/// Alert minutes are minutes since the epoch; boards take hours.
const MINUTES_PER_HOUR: u64 = 60;

/// The routes of this module.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route(PATH, get(alerts_page))
        .route("/api/alerts", get(alerts_json))
}

/// `GET /api/alerts`: the log's snapshot, each event with its id (see the module docs).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct AlertsView {
    rules: Vec<RuleStatus>,
    counters: ocelot_alert::AlertCounters,
    /// Newest first; after the `since=` event only, when given.
    events: Vec<IdentifiedEvent>,
    /// Newest first, all of them (`since=` picks events only).
    attempts: Vec<ocelot_alert::NotificationAttempt>,
}

/// An alert event and its id.
#[derive(Debug, Serialize)]
struct IdentifiedEvent {
    id: String,
    #[serde(flatten)]
    event: AlertEvent,
}

/// The query of `GET /api/alerts`.
#[derive(Debug, Deserialize)]
struct AlertsQuery {
    /// An event's id: only later events are listed.
    since: Option<String>,
}

/// `since=`'s id, `None` when absent or empty.
fn parse_since(raw: Option<&str>) -> Result<Option<u64>, BadParam> {
    let Some(raw) = raw.filter(|raw| !raw.is_empty()) else {
        return Ok(None);
    };
    raw.parse().map(Some).map_err(|_| {
        let old = raw
            .split_once('-')
            .is_some_and(|(m, n)| [m, n].iter().all(|p| p.parse::<u64>().is_ok()));
        let hint = if old {
            " Ids are numbers now (“<minute>-<n>” moved as the log dropped old events): ask \
             once without “since” and go on from the newest event's id."
        } else {
            ""
        };
        BadParam {
            param: "since",
            detail: format!(
                "“{raw}” is not an event id: give the “id” of an event of this list (a \
                 number, e.g. 1742).{hint}"
            ),
        }
    })
}

/// The events of a snapshot (newest first) with their ids (`ids`, oldest first), those
/// after `since` only.
fn identified(
    events: Vec<AlertEvent>,
    ids: Range<u64>,
    since: Option<u64>,
) -> Vec<IdentifiedEvent> {
    ids.rev()
        .zip(events)
        .take_while(|(id, _)| since.is_none_or(|since| *id > since))
        .map(|(id, event)| IdentifiedEvent {
            id: id.to_string(),
            event,
        })
        .collect()
}

async fn alerts_json(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<AlertsQuery>,
) -> Result<Json<AlertsView>, ApiError> {
    let since = parse_since(query.since.as_deref())?;
    let (
        AlertSnapshot {
            rules,
            counters,
            events,
            attempts,
        },
        ids,
    ) = state.alerts.snapshot_with_event_ids();
    // Ids start at 1: a `since` of 0 (nothing seen yet) is always taken.
    if let Some(since) = since.filter(|&since| since >= ids.end) {
        let why = if ids.is_empty() {
            format!(
                "no event of the log has the id {since}: it has none yet; ask with since=0 \
                 (or without since) until one fires."
            )
        } else {
            format!(
                "no event of the log has the id {since} (the newest is {}): the log was \
                 started anew (its state file was not kept); ask without “since” and go on \
                 from the newest event's id.",
                ids.end - 1
            )
        };
        return Err(ApiError::UnknownId(why));
    }
    Ok(Json(AlertsView {
        rules,
        counters,
        events: identified(events, ids, since),
        attempts,
    }))
}

async fn alerts_page(State(state): State<AppState>) -> Markup {
    page(
        &PageTitle::plain("Alerts"),
        PATH,
        render(&state.alerts.snapshot()),
    )
}

/// The unit of a measure's values, `None` for plain numbers (counts, metric values).
fn unit(measure: Measure, report: ReportKind) -> Option<&'static str> {
    match (measure, report) {
        (Measure::FailPercent, _) => Some("%"),
        (Measure::Avg | Measure::P95, ReportKind::Transaction) => Some("ms"),
        _ => None,
    }
}

/// The measure's name as in rule files, with its unit: `failPercent (%)`, `p95 (ms)`.
fn measure_label(measure: Measure, report: ReportKind) -> String {
    match unit(measure, report) {
        Some(unit) => format!("{measure} ({unit})"),
        None => measure.to_string(),
    }
}

/// A value or baseline as the boards write that kind of number: `3.37%`, `73.2 ms`,
/// `1,204`, `7.29`; `-` for none.
fn value(v: Option<f64>, measure: Measure, report: ReportKind) -> String {
    let Some(v) = v else {
        return "-".to_owned();
    };
    match unit(measure, report) {
        Some("%") => format_percent(v),
        Some("ms") => format!("{} ms", format_ms(v)),
        _ => format_amount(v),
    }
}

/// `2026-11-22 08:15 UTC` for the alert crate's `2026-11-22T08:15Z`, as the other pages
/// write times; anything else as it is.
fn minute_title(label: &str) -> String {
    match label.strip_suffix('Z') {
        Some(rest) if rest.len() == 16 && rest.as_bytes()[10] == b'T' => {
            format!("{} {} UTC", &rest[..10], &rest[11..])
        }
        _ => label.to_owned(),
    }
}

/// The board an alert is about, on the server showing this page, at the hour its
/// notification links to: a fire's first bad minute (a run from 16:58 that fired at 17:00
/// is on the 16:00 board, not the one with a minute of data), a resolution's minute. The
/// event's own `link` is for notifications: absolute, made from `board_url` or from the
/// address the web UI listens on (`127.0.0.1` when it listens on every address), so here it
/// would send a user on another machine to their own computer.
fn board_link(e: &AlertEvent) -> String {
    let minute = match e.kind {
        AlertKind::Fired => e.started_minute,
        AlertKind::Resolved => e.minute,
    };
    scope_link(&e.scope, minute / MINUTES_PER_HOUR)
}

/// The board of `scope` at `hour` on this server (see [`board_link`]).
fn scope_link(scope: &Scope, hour: u64) -> String {
    match (&scope.report, &scope.name) {
        // The metric page shows every metric of the domain: jump to this one's chart.
        (ReportKind::Metric, name) => {
            let label = hour_label(hour);
            let url = build_url("/metric", &[("domain", &scope.domain), ("hour", &label)]);
            match name {
                Some(name) => format!("{url}#{}", anchor_id("metric-", name)),
                None => url,
            }
        }
        _ => ocelot_alert::board_path(scope, hour),
    }
}

/// The firing of a rule now firing: its newest `fired` event (the log lists the newest
/// first) of the same scope, as a heartbeat rule without `ip` has one row per machine
/// under one id. `None` when the log no longer holds it.
fn current_firing<'a>(r: &RuleStatus, events: &'a [AlertEvent]) -> Option<&'a AlertEvent> {
    if r.phase != AlertPhase::Firing {
        return None;
    }
    events
        .iter()
        .find(|e| e.rule == r.id && e.scope == r.scope && e.kind == AlertKind::Fired)
}

/// `2026-12-07 16:59 UTC` of a minute since the epoch.
fn minute_of_epoch_title(minute: u64) -> String {
    let text = format_utc_ms(minute.saturating_mul(60_000));
    // `2026-12-07 16:59:00.000 UTC`: the seconds are always zero.
    match text.get(..16) {
        Some(head) => format!("{head} UTC"),
        None => text,
    }
}

/// The hour of the alert crate's `2026-11-22T08:15Z`, `None` for anything else.
fn hour_of_minute_label(label: &str) -> Option<u64> {
    let digits: String = label
        .get(..13)?
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    parse_hour_label(&digits)
}

/// Where a rule's name leads: its board at the hour its current firing's condition began
/// (so the minutes before the alert are on it, not a new hour that had barely started),
/// else at the hour of its last minute evaluated, else the current hour.
fn rule_link(r: &RuleStatus, firing: Option<&AlertEvent>) -> String {
    let hour = match firing {
        Some(e) => Some(e.started_minute / MINUTES_PER_HOUR),
        None => hour_of_minute_label(&r.last_time),
    };
    if let Some(hour) = hour {
        return scope_link(&r.scope, hour);
    }
    // Never evaluated: the board of the current hour (no `hour=`).
    let scope = &r.scope;
    let path = match scope.report {
        ReportKind::Transaction => "/t",
        ReportKind::Event => "/e",
        ReportKind::Problem => "/p",
        ReportKind::Metric => "/metric",
        ReportKind::Heartbeat => "/h",
    };
    let mut params = vec![("domain", scope.domain.as_str())];
    match scope.report {
        ReportKind::Metric => {}
        // One machine's figures, all of them: no type or name to pick.
        ReportKind::Heartbeat => params.extend(scope.ip.as_deref().map(|ip| ("ip", ip))),
        _ => {
            params.extend(scope.type_.as_deref().map(|t| ("type", t)));
            params.extend(scope.name.as_deref().map(|n| ("name", n)));
        }
    }
    build_url(path, &params)
}

/// A pending rule's wait: `since 2026-11-22 14:32 UTC, 2 of 3 minutes` (its condition has
/// held since then, and fires when it has for all of them). `None` unless pending.
fn pending_text(r: &RuleStatus) -> Option<String> {
    if r.phase != AlertPhase::Pending {
        return None;
    }
    let since = r.pending_since.as_deref()?;
    Some(format!(
        "since {}, {} of {} minutes",
        minute_title(since),
        r.pending_minutes,
        r.for_minutes
    ))
}

/// The condition with how long it must hold: `above 200 for 3 min, resolves after 2 min`.
fn condition_text(r: &RuleStatus) -> String {
    format!(
        "{} for {} min, resolves after {} min",
        r.condition, r.for_minutes, r.resolve_minutes
    )
}

/// The suppression window, when there is one: why a re-fire sent nothing.
fn suppression_text(r: &RuleStatus) -> Option<String> {
    (r.suppress_minutes > 0)
        .then(|| format!("re-fires within {} min not notified", r.suppress_minutes))
}

/// For a baseline rule whose last minute had no baseline: it cannot fire, and what it
/// waits for (the engine's rule: some look-back day has a value for that minute).
fn missing_baseline_text(r: &RuleStatus) -> Option<String> {
    if !r.uses_baseline || r.last_time.is_empty() || r.last_baseline.is_some() {
        return None;
    }
    let days: Vec<String> = r.baseline_days_back.iter().map(u32::to_string).collect();
    let days = match days.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => return Some("no baseline yet: cannot fire".to_owned()),
    };
    Some(format!(
        "no baseline yet: cannot fire until the same minute {days} days back has data"
    ))
}

fn render(s: &AlertSnapshot) -> Markup {
    let firing = s
        .rules
        .iter()
        .filter(|r| r.phase == AlertPhase::Firing)
        .count() as u64;
    let c = &s.counters;
    html! {
        header.board-head { div.board-title { h1 { "Alerts" } } }
        section.panel {
            div.stats {
                (stat("Rules", &format_count(s.rules.len() as u64), false))
                (stat("Firing now", &format_count(firing), firing > 0))
                (stat("Fired", &format_count(c.fired), false))
                (stat("Resolved", &format_count(c.resolved), false))
                (stat("Suppressed", &format_count(c.suppressed), false))
                (stat("Notifications sent", &format_count(c.notifications_sent), false))
                // Attempts, not notifications: each retry counts (as on /metrics); those
                // that never got through are the given-up ones.
                (stat_with_hint(
                    "Failed notification attempts",
                    &format_count(c.notification_failures),
                    c.notification_failures > 0,
                    Some("Every failed try counts, retries included; a notification that never got through is counted as given up"),
                ))
                (stat("Notifications given up", &format_count(c.notifications_given_up), c.notifications_given_up > 0))
            }
            p.hint { "Fired, resolved, suppressed and the notifications count since this server started; the rules' state and the lists below carry over restarts." }
        }
        section.panel {
            h2 { "Rules" span.count { (s.rules.len()) } }
            @if s.rules.is_empty() {
                p.muted {
                    "No rules. Write them in a TOML file (the rule format is in docs/alerting.md), \
                     name that file in ocelot.toml (or the file given to --config) and restart ocelot serve:"
                }
                pre.config-example { code {
                    "[alert]\nrules = \"alerts.toml\"   # a path, relative to the directory ocelot serve runs in"
                } }
            } @else {
                div.table-wrap { table.report {
                    thead { tr {
                        th { "Rule" } th { "Scope" } th { "Measure" } th { "Condition" } th { "State" }
                        th { "Last minute" } th.num { "Value" } th.num { "Baseline" }
                    } }
                    tbody { @for r in &s.rules {
                        @let firing = current_firing(r, &s.events);
                        tr.unhealthy[r.phase == AlertPhase::Firing] {
                            td.name { a href=(rule_link(r, firing)) title="The board this rule watches" { (r.id) } }
                            td { (r.scope.to_string()) }
                            td { (measure_label(r.measure, r.scope.report)) }
                            td.condition {
                                (condition_text(r))
                                @if let Some(text) = suppression_text(r) { div.muted { (text) } }
                                @if let Some(text) = missing_baseline_text(r) { div.muted { (text) } }
                            }
                            td {
                                @let phase = format!("{:?}", r.phase).to_lowercase();
                                @if r.phase == AlertPhase::Firing { span.badge.fail { (phase) } }
                                @else { span.badge.neutral { (phase) } }
                                @if let Some(e) = firing {
                                    div.muted.since {
                                        "since " (minute_title(&e.time))
                                        @if e.started_minute < e.minute {
                                            ", its condition since " (minute_of_epoch_title(e.started_minute))
                                        }
                                    }
                                }
                                @if let Some(text) = pending_text(r) {
                                    div.muted.since { (text) }
                                }
                            }
                            td { (minute_title(&r.last_time)) }
                            td.num { (value(r.last_value, r.measure, r.scope.report)) }
                            td.num { (value(r.last_baseline, r.measure, r.scope.report)) }
                        }
                    } }
                } }
            }
        }
        section.panel {
            h2 { "Recent alerts" span.count { (s.events.len()) } }
            @if s.events.is_empty() { p.muted { "Nothing has fired." } } @else {
                div.table-wrap { table.report {
                    thead { tr {
                        th { "Time" } th { "Rule" } th { "What" } th { "Scope" } th.num { "Value" }
                        th.num { "Baseline" } th { "Board" }
                    } }
                    tbody { @for e in &s.events {
                        tr.unhealthy[e.kind == ocelot_alert::AlertKind::Fired] {
                            td { (minute_title(&e.time)) }
                            td.name { (e.rule) }
                            td { (e.kind.to_string()) @if e.suppressed { " (suppressed)" } }
                            td { (e.scope.to_string()) }
                            td.num { (value(e.value, e.measure, e.scope.report)) }
                            td.num { (value(e.baseline, e.measure, e.scope.report)) }
                            td { a href=(board_link(e)) { "open" } }
                        }
                    } }
                } }
            }
        }
        section.panel {
            h2 { "Notification attempts" span.count { (s.attempts.len()) } }
            @if s.attempts.is_empty() { p.muted { "No notification was sent." } } @else {
                div.table-wrap { table.report {
                    thead { tr {
                        th { "Time" } th { "Rule" } th { "Target" } th.num { "Attempt" } th { "Result" } th.num { "ms" }
                    } }
                    tbody { @for a in &s.attempts {
                        tr.unhealthy[!a.ok] {
                            td { (format_utc_ms(a.at_ms)) }
                            td.name { (a.rule) }
                            td { (a.channel) ": " (a.target) }
                            td.num { (a.attempt) }
                            td {
                                @if a.ok { "delivered" } @else {
                                    (a.error.as_deref().unwrap_or("failed"))
                                    @if a.gave_up { " (gave up)" }
                                }
                            }
                            td.num { (a.elapsed_ms) }
                        }
                    } }
                } }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use http_body_util::BodyExt as _;
    use ocelot_alert::{
        AlertEvent, AlertKind, Alerting, MemoryHistory, NotificationAttempt, RuleSet, RuleStatus,
        Scope,
    };
    use tower::ServiceExt as _;

    use super::*;
    use crate::{router, AppState, MemoryLookup};

    async fn get(app: axum::Router, uri: &str) -> (StatusCode, String) {
        let response = app
            .oneshot(Request::get(uri).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn the_alerts_page_shows_a_firing_rule_escaped_and_the_api_returns_it() {
        let rules = RuleSet::from_toml_str(
            "[[rule]]\nid = \"<b>silent</b>\"\ndomain = \"shop\"\nreport = \"transaction\"\nmeasure = \"count\"\nbelow = 1.0\n",
            None,
        )
        .unwrap();
        let mut alerting = Alerting::new(rules);
        let now_ms = 1_795_331_315_581;
        let mut live = MemoryHistory::new();
        for wanted in alerting.wanted_reports(now_ms) {
            live.cover(wanted.hour);
        }
        alerting.tick(now_ms, &live);
        let state = AppState::new(Arc::new(MemoryLookup::new())).with_alerts(alerting.log());

        let (status, page) = get(router(state.clone()), "/alerts").await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains("&lt;b&gt;silent&lt;/b&gt;"), "{page}");
        assert!(!page.contains("<b>silent</b>"));
        assert!(page.contains("firing"));
        assert!(page.contains("/t?domain=shop"), "links to the board");
        assert!(
            page.contains("count since this server started"),
            "the counters say they start with the process, the lists do not: {page}"
        );

        let (status, json) = get(router(state), "/api/alerts").await;
        assert_eq!(status, StatusCode::OK);
        let json: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(json["rules"][0]["phase"], "firing");
        assert_eq!(json["counters"]["fired"], 1);
    }

    #[tokio::test]
    async fn the_alerts_page_and_api_show_how_long_a_condition_must_hold() {
        let rules = RuleSet::from_toml_str(
            "[[rule]]\nid = \"create-p95\"\ndomain = \"shop\"\nreport = \"transaction\"\n\
             type = \"URL\"\nname = \"/create\"\nmeasure = \"p95\"\nabove = 200.0\n\
             for_minutes = 3\nresolve_minutes = 2\nsuppress_minutes = 45\n\
             [[rule]]\nid = \"drop\"\ndomain = \"shop\"\nreport = \"transaction\"\n\
             measure = \"count\"\nbaseline = \"below\"\nsuppress_minutes = 0\n",
            None,
        )
        .unwrap();
        let mut alerting = Alerting::new(rules);
        let now_ms = 1_795_331_315_581;
        let mut live = MemoryHistory::new();
        for wanted in alerting.wanted_reports(now_ms) {
            live.cover(wanted.hour);
        }
        alerting.tick(now_ms, &live);
        let state = AppState::new(Arc::new(MemoryLookup::new())).with_alerts(alerting.log());

        let (status, page) = get(router(state.clone()), "/alerts").await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            page.contains("<td class=\"condition\">above 200 for 3 min, resolves after 2 min<div class=\"muted\">re-fires within 45 min not notified</div></td>"),
            "{page}"
        );
        // No stored history: the baseline rule says why it cannot fire, and no
        // suppression line for a rule without a window.
        assert!(
            page.contains(
                "<td class=\"condition\">below baseline for 1 min, resolves after 1 min\
                 <div class=\"muted\">no baseline yet: cannot fire until the same minute \
                 7, 14, 21 or 28 days back has data</div></td>"
            ),
            "{page}"
        );

        let (status, json) = get(router(state), "/api/alerts").await;
        assert_eq!(status, StatusCode::OK);
        let json: serde_json::Value = serde_json::from_str(&json).unwrap();
        let p95 = &json["rules"][0];
        assert_eq!(
            (
                &p95["forMinutes"],
                &p95["resolveMinutes"],
                &p95["suppressMinutes"]
            ),
            (&3.into(), &2.into(), &45.into())
        );
        assert_eq!(p95["baselineDaysBack"], serde_json::json!([]));
        let drop = &json["rules"][1];
        assert_eq!(drop["lastBaseline"], serde_json::Value::Null);
        assert_eq!(drop["baselineDaysBack"], serde_json::json!([7, 14, 21, 28]));
    }

    /// A pending rule said "pending" and nothing more: not since when, nor how many of the
    /// minutes it needs to fire had passed.
    #[tokio::test]
    async fn a_pending_rule_says_since_when_and_how_many_of_its_minutes_passed() {
        let rules = RuleSet::from_toml_str(
            "[[rule]]\nid = \"quiet\"\ndomain = \"shop\"\nreport = \"transaction\"\n\
             measure = \"count\"\nbelow = 1.0\nfor_minutes = 3\n",
            None,
        )
        .unwrap();
        let mut alerting = Alerting::new(rules);
        // 07:08:35 and a minute later: 07:07 and 07:08 are evaluated, no transaction in
        // either.
        let now_ms = 1_795_331_315_581;
        let mut live = MemoryHistory::new();
        for now_ms in [now_ms, now_ms + 60_000] {
            for wanted in alerting.wanted_reports(now_ms) {
                live.cover(wanted.hour);
            }
            alerting.tick(now_ms, &live);
        }
        let state = AppState::new(Arc::new(MemoryLookup::new())).with_alerts(alerting.log());

        let (status, page) = get(router(state.clone()), "/alerts").await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            page.contains(
                r#"<span class="badge neutral">pending</span><div class="muted since">since 2026-11-22 07:07 UTC, 2 of 3 minutes</div>"#
            ),
            "{page}"
        );

        let (status, json) = get(router(state), "/api/alerts").await;
        assert_eq!(status, StatusCode::OK);
        let json: serde_json::Value = serde_json::from_str(&json).unwrap();
        let quiet = &json["rules"][0];
        assert_eq!(quiet["phase"], "pending");
        assert_eq!(quiet["pendingSince"], "2026-11-22T07:07Z");
        assert_eq!(quiet["pendingMinutes"], 2);
        assert_eq!(quiet["forMinutes"], 3);
    }

    #[test]
    fn only_a_pending_rule_says_how_long_it_has_been_pending() {
        let mut r = rule(
            "quiet",
            scope(ReportKind::Transaction, "URL", None),
            Measure::Count,
            0.0,
        );
        r.for_minutes = 5;
        r.pending_since = Some("2026-12-06T14:32Z".to_owned());
        r.pending_minutes = 4;
        assert_eq!(pending_text(&r), None, "firing");
        r.phase = AlertPhase::Pending;
        assert_eq!(
            pending_text(&r).as_deref(),
            Some("since 2026-12-06 14:32 UTC, 4 of 5 minutes")
        );
        r.pending_since = None;
        assert_eq!(pending_text(&r), None, "nothing to say");
    }

    #[test]
    fn the_missing_baseline_hint_waits_for_an_evaluated_minute_and_names_the_days() {
        let mut r = rule(
            "drop",
            scope(ReportKind::Transaction, "URL", None),
            Measure::Count,
            3.0,
        );
        assert_eq!(missing_baseline_text(&r), None, "a threshold rule");
        r.uses_baseline = true;
        r.baseline_days_back = vec![7];
        assert_eq!(
            missing_baseline_text(&r).as_deref(),
            Some("no baseline yet: cannot fire until the same minute 7 days back has data")
        );
        r.last_baseline = Some(2.0);
        assert_eq!(missing_baseline_text(&r), None, "it has one");
        r.last_baseline = None;
        r.last_time.clear();
        assert_eq!(missing_baseline_text(&r), None, "nothing evaluated yet");
    }

    #[tokio::test]
    async fn without_rules_the_page_says_how_to_add_them() {
        let state = AppState::new(Arc::new(MemoryLookup::new()));
        let (status, page) = get(router(state), "/alerts").await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains("docs/alerting.md"));
        assert!(
            page.contains("[alert]\nrules = &quot;alerts.toml&quot;"),
            "the exact lines to write: {page}"
        );
    }

    fn scope(report: ReportKind, type_: &str, name: Option<&str>) -> Scope {
        Scope {
            domain: "payment-service".to_owned(),
            report,
            type_: Some(type_.to_owned()),
            name: name.map(str::to_owned),
            ip: None,
        }
    }

    fn rule(id: &str, scope: Scope, measure: Measure, value: f64) -> RuleStatus {
        RuleStatus {
            id: id.to_owned(),
            scope,
            measure,
            condition: "above 1".to_owned(),
            phase: AlertPhase::Firing,
            last_time: "2026-12-06T05:53Z".to_owned(),
            last_value: Some(value),
            last_baseline: None,
            uses_baseline: false,
            for_minutes: 1,
            pending_since: None,
            pending_minutes: 0,
            resolve_minutes: 1,
            suppress_minutes: 30,
            baseline_days_back: Vec::new(),
        }
    }

    /// A snapshot as the evaluator logs one: a failPercent rule that fired (and whose
    /// webhook failed), a p95 rule and a metric rule.
    fn snapshot() -> AlertSnapshot {
        let errors = scope(ReportKind::Transaction, "Service", None);
        let fired = AlertEvent {
            rule: "payment-errors".to_owned(),
            kind: AlertKind::Fired,
            minute: 29_942_273,
            time: "2026-12-06T05:53Z".to_owned(),
            scope: errors.clone(),
            measure: Measure::FailPercent,
            condition: "above 1".to_owned(),
            value: Some(3.37),
            baseline: None,
            started_minute: 29_942_272,
            minutes: Vec::new(),
            suppressed: false,
            link: "/t?domain=payment-service".to_owned(),
            notify: vec!["ops".to_owned()],
        };
        let attempt = NotificationAttempt {
            at_ms: 1_796_536_392_345,
            rule: "payment-errors".to_owned(),
            kind: AlertKind::Fired,
            minute: 29_942_273,
            target: "ops".to_owned(),
            channel: "webhook".to_owned(),
            attempt: 1,
            ok: false,
            status: None,
            error: Some("connection refused".to_owned()),
            elapsed_ms: 0,
            gave_up: true,
        };
        AlertSnapshot {
            rules: vec![
                rule("payment-errors", errors, Measure::FailPercent, 3.37),
                rule(
                    "create-p95",
                    scope(ReportKind::Transaction, "URL", Some("/api/order/create")),
                    Measure::P95,
                    73.19,
                ),
                rule(
                    "declined",
                    scope(ReportKind::Metric, "x", Some("payment.declined")),
                    Measure::Value,
                    1204.0,
                ),
            ],
            events: vec![fired],
            attempts: vec![attempt],
            ..AlertSnapshot::default()
        }
    }

    #[test]
    fn the_counters_tell_failed_attempts_from_notifications_given_up() {
        let mut s = snapshot();
        s.counters.notifications_sent = 4;
        s.counters.notification_failures = 3;
        s.counters.notifications_given_up = 1;
        let html = render(&s).into_string();
        let card = |label: &str, value: &str| {
            format!(
                "<span class=\"stat-label\">{label}</span><span class=\"stat-value\">{value}</span>"
            )
        };
        assert!(
            html.contains(&card("Failed notification attempts", "3")),
            "{html}"
        );
        assert!(
            html.contains(&card("Notifications given up", "1")),
            "{html}"
        );
        assert!(!html.contains("Notification failures"), "{html}");
    }

    #[test]
    fn values_carry_the_unit_of_their_measure() {
        let html = render(&snapshot()).into_string();
        assert!(html.contains("<td>failPercent (%)</td>"), "{html}");
        assert!(html.contains("<td>p95 (ms)</td>"));
        assert!(html.contains("<td>value</td>"));
        assert!(html.contains(r#"<td class="num">3.37%</td>"#));
        assert!(html.contains(r#"<td class="num">73.2 ms</td>"#));
        assert!(html.contains(r#"<td class="num">1,204</td>"#));
        assert!(!html.contains(">3.37<") && !html.contains(">73.19<"));
    }

    #[test]
    fn times_read_as_on_the_other_pages_and_attempts_have_one() {
        let html = render(&snapshot()).into_string();
        assert!(html.contains("<td>2026-12-06 05:53 UTC</td>"), "{html}");
        assert!(!html.contains("T05:53Z"), "no ISO times");
        assert!(
            html.contains("<td>2026-12-06 05:53:12.345 UTC</td>"),
            "the attempt's time, from atMs: {html}"
        );
        assert!(
            html.contains(r#"<th class="num">Attempt</th>"#),
            "aligned with its numbers"
        );
    }

    #[test]
    fn the_newest_alerts_and_attempts_come_first_as_in_the_api() {
        let mut s = snapshot();
        // The log's snapshot lists the newest first: a resolution after the firing.
        let mut resolved = s.events[0].clone();
        resolved.kind = AlertKind::Resolved;
        resolved.minute += 2;
        resolved.time = "2026-12-06T05:55Z".to_owned();
        s.events.insert(0, resolved);
        let mut retry = s.attempts[0].clone();
        retry.at_ms += 60_000;
        retry.error = Some("timed out after 5000 ms".to_owned());
        s.attempts.insert(0, retry);
        let page = render(&s).into_string();
        let html = &page[page.find("Recent alerts").expect("the alerts table")..];
        let at = |text: &str| html.find(text).unwrap_or_else(|| panic!("{text}: {html}"));
        assert!(
            at("<td>2026-12-06 05:55 UTC</td>") < at("<td>2026-12-06 05:53 UTC</td>"),
            "the resolution above the firing"
        );
        assert!(
            at("timed out after 5000 ms") < at("connection refused"),
            "the newest attempt first"
        );
    }

    #[test]
    fn alerts_open_their_board_on_this_server_not_where_notifications_point() {
        let mut s = snapshot();
        // What a server listening on 0.0.0.0:8080 puts in its notifications.
        s.events[0].link =
            "http://127.0.0.1:8080/t?domain=payment-service&hour=2026120605&type=Service"
                .to_owned();
        let mut metric = s.events[0].clone();
        metric.scope = scope(ReportKind::Metric, "x", Some("payment.declined"));
        metric.scope.type_ = None;
        metric.link = "http://127.0.0.1:8080/metric?domain=payment-service&hour=2026120605&name=payment.declined".to_owned();
        s.events.push(metric);
        let html = render(&s).into_string();
        assert!(!html.contains("127.0.0.1"), "{html}");
        assert!(
            html.contains(
                r#"href="/t?domain=payment-service&amp;hour=2026120605&amp;type=Service">open<"#
            ),
            "{html}"
        );
        assert!(
            html.contains(r#"href="/metric?domain=payment-service&amp;hour=2026120605#metric-payment.declined">open<"#),
            "the metric's chart: {html}"
        );
    }

    /// A fire at 05:53 for a run from 04:58 opened the 05:00 board from the list of
    /// alerts, while its notification and the rule's link open the 04:00 one, which shows
    /// the run. Its resolution opens the board of its own minute.
    #[test]
    fn a_fired_alert_opens_the_board_of_the_hour_its_condition_began() {
        let mut s = snapshot();
        s.events[0].started_minute = 29_942_218;
        let mut resolved = s.events[0].clone();
        resolved.kind = AlertKind::Resolved;
        resolved.minute = 29_942_274;
        s.events.insert(0, resolved);
        let html = render(&s).into_string();
        let alerts = &html[html.find("Recent alerts").unwrap()..];
        let opens: Vec<&str> = alerts
            .split("href=\"")
            .skip(1)
            .filter_map(|rest| rest.split('"').next())
            .collect();
        assert_eq!(
            opens,
            [
                "/t?domain=payment-service&amp;hour=2026120605&amp;type=Service",
                "/t?domain=payment-service&amp;hour=2026120604&amp;type=Service",
            ],
            "{alerts}"
        );
    }

    /// The rules had no link to their board, and a firing rule did not say since when.
    #[test]
    fn rules_link_their_board_and_a_firing_rule_says_since_when() {
        let mut s = snapshot();
        // Fired at 05:53, its condition bad since 04:58: the board of the hour it began.
        s.events[0].started_minute = 29_942_218;
        let html = render(&s).into_string();
        let rules = &html[..html.find("Recent alerts").unwrap()];
        assert!(
            rules.contains(
                r#"<td class="name"><a href="/t?domain=payment-service&amp;hour=2026120604&amp;type=Service" title="The board this rule watches">payment-errors</a></td>"#
            ),
            "{rules}"
        );
        assert!(
            rules.contains(
                r#"<div class="muted since">since 2026-12-06 05:53 UTC, its condition since 2026-12-06 04:58 UTC</div>"#
            ),
            "{rules}"
        );
        // Rules with no firing in the log: their last minute's hour, and no "since".
        assert!(
            rules.contains(r#"href="/t?domain=payment-service&amp;hour=2026120605&amp;type=URL&amp;name=%2Fapi%2Forder%2Fcreate""#),
            "{rules}"
        );
        assert!(
            rules.contains(r##"href="/metric?domain=payment-service&amp;hour=2026120605#metric-payment.declined""##),
            "{rules}"
        );
        assert_eq!(
            rules.matches(r#"class="muted since""#).count(),
            1,
            "{rules}"
        );
        // Resolved: no "since"; never evaluated: the board of the current hour.
        s.rules[0].phase = AlertPhase::Ok;
        s.rules[0].last_time.clear();
        let html = render(&s).into_string();
        assert!(!html.contains("class=\"muted since\""), "{html}");
        assert!(
            html.contains(r#"<a href="/t?domain=payment-service&amp;type=Service" title="The board this rule watches">"#),
            "{html}"
        );
    }

    /// A heartbeat rule without `ip` has a row per machine under one id: each row said
    /// "since" the newest firing of any machine, and linked that one's hour.
    #[test]
    fn each_machine_of_a_heartbeat_rule_says_since_when_it_fires() {
        let machine = |ip: &str| Scope {
            domain: "shop".to_owned(),
            report: ReportKind::Heartbeat,
            type_: None,
            name: None,
            ip: Some(ip.to_owned()),
        };
        let fired = |ip: &str, minute: u64, time: &str| AlertEvent {
            rule: "silent".to_owned(),
            kind: AlertKind::Fired,
            minute,
            time: time.to_owned(),
            scope: machine(ip),
            measure: Measure::Heartbeats,
            condition: "below 1 for 2 minutes".to_owned(),
            value: Some(0.0),
            baseline: None,
            started_minute: minute - 1,
            minutes: Vec::new(),
            suppressed: false,
            link: String::new(),
            notify: Vec::new(),
        };
        let s = AlertSnapshot {
            rules: vec![
                rule("silent", machine("10.0.0.1"), Measure::Heartbeats, 0.0),
                rule("silent", machine("10.0.0.2"), Measure::Heartbeats, 0.0),
            ],
            // Newest first: 10.0.0.1 fired at 06:10, 10.0.0.2 at 04:55.
            events: vec![
                fired("10.0.0.1", 29_942_290, "2026-12-06T06:10Z"),
                fired("10.0.0.2", 29_942_215, "2026-12-06T04:55Z"),
            ],
            ..AlertSnapshot::default()
        };
        let html = render(&s).into_string();
        let rules = &html[..html.find("Recent alerts").unwrap()];
        let second = rules
            .split("<tr")
            .find(|row| row.contains("shop heartbeat 10.0.0.2"))
            .unwrap();
        assert!(
            second.contains(r#"<div class="muted since">since 2026-12-06 04:55 UTC, its condition since 2026-12-06 04:54 UTC</div>"#),
            "{second}"
        );
        assert!(
            second.contains("hour=2026120604&amp;ip=10.0.0.2"),
            "{second}"
        );
    }

    #[test]
    fn minute_titles_fall_back_to_the_label_they_cannot_read() {
        assert_eq!(minute_title("2026-11-22T08:15Z"), "2026-11-22 08:15 UTC");
        assert_eq!(minute_title(""), "");
        assert_eq!(minute_title("soon"), "soon");
    }
}
