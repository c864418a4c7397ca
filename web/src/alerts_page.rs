//! The Alerts page, `GET /alerts`, and `GET /api/alerts`: every rule with its state, the
//! recent alerts, and every notification attempt (from the alert crate's log).

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use maud::{html, Markup};
use ocelot_alert::{AlertPhase, AlertSnapshot};

use crate::board::{format_count, stat};
use crate::layout::page;
use crate::state::AppState;

const PATH: &str = "/alerts";

/// The routes of this module.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route(PATH, get(alerts_page))
        .route("/api/alerts", get(alerts_json))
}

async fn alerts_json(State(state): State<AppState>) -> Json<AlertSnapshot> {
    Json(state.alerts.snapshot())
}

async fn alerts_page(State(state): State<AppState>) -> Markup {
    page("Alerts", PATH, render(&state.alerts.snapshot()))
}

fn value(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| format!("{v:.2}"))
}

fn render(s: &AlertSnapshot) -> Markup {
    let firing = s
        .rules
        .iter()
        .filter(|r| r.phase == AlertPhase::Firing)
        .count() as u64;
    let c = &s.counters;
    html! {
        h1 { "Alerts" }
        section.panel {
            div.stats {
                (stat("Rules", &format_count(s.rules.len() as u64), false))
                (stat("Firing now", &format_count(firing), firing > 0))
                (stat("Fired", &format_count(c.fired), false))
                (stat("Resolved", &format_count(c.resolved), false))
                (stat("Suppressed", &format_count(c.suppressed), false))
                (stat("Notifications sent", &format_count(c.notifications_sent), false))
                (stat("Notification failures", &format_count(c.notification_failures), c.notification_failures > 0))
            }
        }
        section.panel {
            h2 { "Rules" span.count { (s.rules.len()) } }
            @if s.rules.is_empty() {
                p.muted { "No rules. Put an [alert] rules file in ocelot.toml (see docs/alerting.md)." }
            } @else {
                div.table-wrap { table.report {
                    thead { tr {
                        th { "Rule" } th { "Scope" } th { "Measure" } th { "Condition" } th { "State" }
                        th { "Last minute" } th.num { "Value" } th.num { "Baseline" }
                    } }
                    tbody { @for r in &s.rules {
                        tr.unhealthy[r.phase == AlertPhase::Firing] {
                            td.name { (r.id) }
                            td { (r.scope.to_string()) }
                            td { (r.measure.to_string()) }
                            td { (r.condition) }
                            td { (format!("{:?}", r.phase).to_lowercase()) }
                            td { (r.last_time) }
                            td.num { (value(r.last_value)) }
                            td.num { (value(r.last_baseline)) }
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
                    tbody { @for e in s.events.iter().rev() {
                        tr.unhealthy[e.kind == ocelot_alert::AlertKind::Fired] {
                            td { (e.time) }
                            td.name { (e.rule) }
                            td { (e.kind.to_string()) @if e.suppressed { " (suppressed)" } }
                            td { (e.scope.to_string()) }
                            td.num { (value(e.value)) }
                            td.num { (value(e.baseline)) }
                            td { a href=(e.link) { "open" } }
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
                        th { "Rule" } th { "Target" } th { "Attempt" } th { "Result" } th.num { "ms" }
                    } }
                    tbody { @for a in s.attempts.iter().rev() {
                        tr.unhealthy[!a.ok] {
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
    use ocelot_alert::{Alerting, MemoryHistory, RuleSet};
    use tower::ServiceExt as _;

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

        let (status, json) = get(router(state), "/api/alerts").await;
        assert_eq!(status, StatusCode::OK);
        let json: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(json["rules"][0]["phase"], "firing");
        assert_eq!(json["counters"]["fired"], 1);
    }

    #[tokio::test]
    async fn without_rules_the_page_says_how_to_add_them() {
        let state = AppState::new(Arc::new(MemoryLookup::new()));
        let (status, page) = get(router(state), "/alerts").await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains("docs/alerting.md"));
    }
}
