//! `GET /api/alerts` as a poller reads it: an id per event and a `since=` cursor.

mod common;

use std::sync::Arc;

use common::*;
use ocelot_alert::{
    AlertEvent, AlertKind, AlertLog, Measure, ReportKind, Scope, MAX_LOGGED_EVENTS,
};
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
    assert_eq!(ids(&json), ["3", "2", "1"], "newest first");
    assert_eq!(
        json["events"][1]["rule"], "errors",
        "the event's own fields stay"
    );
    // 0 is "nothing seen yet": every event, the first included.
    let json = get_json(app(), "/api/alerts?since=0", 200).await;
    assert_eq!(ids(&json), ["3", "2", "1"]);
    let json = get_json(app(), "/api/alerts?since=1", 200).await;
    assert_eq!(ids(&json), ["3", "2"]);
    let json = get_json(app(), "/api/alerts?since=3", 200).await;
    assert_eq!(ids(&json), Vec::<&str>::new());
    // A new event gets the next id; the old ones keep theirs.
    log.record_event(&event("errors", AlertKind::Resolved, 29_944_409));
    let json = get_json(app(), "/api/alerts?since=3", 200).await;
    assert_eq!(ids(&json), ["4"]);
    for bad in ["-1", "abc", "1-x", "29944406-0"] {
        let json = get_json(app(), &format!("/api/alerts?since={bad}"), 400).await;
        assert_eq!(json["code"], "bad_parameter");
        let error = json["error"].as_str().unwrap();
        assert!(error.contains("“since”") && error.contains(bad), "{error}");
    }
    let json = get_json(app(), "/api/alerts?since=29944406-0", 400).await;
    assert!(
        json["error"]
            .as_str()
            .unwrap()
            .contains("Ids are numbers now"),
        "an id of the old form says what changed: {json}"
    );
}

/// Ids were places among a minute's events: once the log was full and dropped its oldest
/// events, the ids of the events kept moved down, and `since=` skipped or repeated events.
#[tokio::test]
async fn event_ids_stay_and_since_still_works_after_the_log_drops_its_oldest_events() {
    let log = AlertLog::new();
    // Every event of one minute: the old ids were `<minute>-<n>`, n its place.
    let minute = 29_944_406;
    for _ in 0..MAX_LOGGED_EVENTS {
        log.record_event(&event("silent", AlertKind::Fired, minute));
    }
    let app = || router(AppState::new(Arc::new(MemoryLookup::new())).with_alerts(log.clone()));
    let before = get_json(app(), "/api/alerts", 200).await;
    let cursor = ids(&before)[0].to_owned();
    assert_eq!(cursor, "1000");

    for _ in 0..3 {
        log.record_event(&event("errors", AlertKind::Fired, minute));
    }
    let after = get_json(app(), "/api/alerts", 200).await;
    let (before, after) = (ids(&before), ids(&after));
    assert_eq!(after.len(), MAX_LOGGED_EVENTS);
    assert_eq!(after[..3], ["1003", "1002", "1001"]);
    // Every event kept has the id it had.
    assert_eq!(after[3..], before[..MAX_LOGGED_EVENTS - 3]);

    let json = get_json(app(), &format!("/api/alerts?since={cursor}"), 200).await;
    assert_eq!(ids(&json), ["1003", "1002", "1001"], "only the newer ones");
    assert!(json["events"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["rule"] == "errors"));
    // A cursor from before the oldest event kept lists every event kept.
    let json = get_json(app(), "/api/alerts?since=1", 200).await;
    assert_eq!(ids(&json).len(), MAX_LOGGED_EVENTS);
}

/// A log started anew (its state file lost) numbers from 1 again: a poller's cursor from the
/// old log would have waited, silently, for ids to catch up. A poller starting at 0 before
/// anything fired is not such a cursor (it was told its log had been lost).
#[tokio::test]
async fn a_since_past_the_newest_id_is_an_unknown_id() {
    let log = AlertLog::new();
    let app = || router(AppState::new(Arc::new(MemoryLookup::new())).with_alerts(log.clone()));
    let json = get_json(app(), "/api/alerts?since=0", 200).await;
    assert_eq!(ids(&json), Vec::<&str>::new());
    let json = get_json(app(), "/api/alerts?since=1", 404).await;
    assert_eq!(json["code"], "unknown_id", "{json}");
    let message = json["message"].as_str().unwrap();
    assert!(message.contains("it has none yet"), "{message}");
    log.record_event(&event("silent", AlertKind::Fired, 29_944_406));
    let json = get_json(app(), "/api/alerts?since=0", 200).await;
    assert_eq!(
        ids(&json),
        ["1"],
        "the first event is listed after a cursor of 0"
    );
    let json = get_json(app(), "/api/alerts?since=1", 200).await;
    assert_eq!(ids(&json), Vec::<&str>::new());
    let json = get_json(app(), "/api/alerts?since=5", 404).await;
    assert_eq!(json["code"], "unknown_id");
    let message = json["message"].as_str().unwrap();
    assert!(message.contains("the newest is 1"), "{message}");
}
