//! `GET /api/alerts` as a poller reads it: an id per event and a `since=` cursor.

mod common;

use std::sync::Arc;

use common::*;
use ocelot_alert::{AlertEvent, AlertKind, AlertLog, Measure, ReportKind, Scope};
use ocelot_web::{router, AppState, MemoryLookup};

fn event(rule: &str, kind: AlertKind, minute: u64) -> AlertEvent {
    AlertEvent {
        rule: rule.to_owned(),
        kind,
        minute,
        time: String::new(),
        scope: Scope {
            domain: "shop".to_owned(),
            report: ReportKind::Transaction,
            type_: Some("URL".to_owned()),
            name: None,
            ip: None,
        },
        measure: Measure::Count,
        condition: "below 1".to_owned(),
        value: Some(0.0),
        baseline: None,
        started_minute: minute,
        minutes: Vec::new(),
        suppressed: false,
        link: String::new(),
        notify: Vec::new(),
    }
}

fn ids(json: &serde_json::Value) -> Vec<&str> {
    (json["events"].as_array().unwrap().iter())
        .map(|e| e["id"].as_str().unwrap())
        .collect()
}

/// A bot had to download the whole log every poll and dedupe on a key it invented.
#[tokio::test]
async fn alert_events_have_ids_in_log_order_and_since_lists_the_later_ones() {
    let log = AlertLog::new();
    log.record_event(&event("silent", AlertKind::Fired, 29_944_406));
    log.record_event(&event("errors", AlertKind::Fired, 29_944_406));
    log.record_event(&event("silent", AlertKind::Resolved, 29_944_409));
    let app = || router(AppState::new(Arc::new(MemoryLookup::new())).with_alerts(log.clone()));
    let json = get_json(app(), "/api/alerts", 200).await;
    assert_eq!(
        ids(&json),
        ["29944409-0", "29944406-1", "29944406-0"],
        "newest first"
    );
    assert_eq!(
        json["events"][1]["rule"], "errors",
        "the event's own fields stay"
    );
    let json = get_json(app(), "/api/alerts?since=29944406-0", 200).await;
    assert_eq!(ids(&json), ["29944409-0", "29944406-1"]);
    let json = get_json(app(), "/api/alerts?since=29944409-0", 200).await;
    assert_eq!(ids(&json), Vec::<&str>::new());
    // A new event gets the next id; the old ones keep theirs.
    log.record_event(&event("errors", AlertKind::Resolved, 29_944_409));
    let json = get_json(app(), "/api/alerts?since=29944409-0", 200).await;
    assert_eq!(ids(&json), ["29944409-1"]);
    for bad in ["123", "abc", "1-x"] {
        let json = get_json(app(), &format!("/api/alerts?since={bad}"), 400).await;
        let error = json["error"].as_str().unwrap();
        assert!(error.contains("“since”") && error.contains(bad), "{error}");
    }
}
