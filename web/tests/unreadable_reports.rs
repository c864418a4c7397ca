//! A stored report that cannot be read (damaged, of another domain or hour, or missing
//! beside the domain's other reports) is said to be so: its board and API answer a 500
//! saying it, and a day view names the hours it left out. It used to read as "logged no
//! transactions" and an empty 200, which is "no traffic".

mod common;

use axum::http::StatusCode;
use common::{app_of, get_json, html_page, reports, PAST_HOUR_LABEL};
use ocelot_web::MemoryReports;

/// [`common::reports`] with app-0's `kind` report of the past hour unreadable.
fn with_unreadable(kinds: &[&'static str]) -> MemoryReports {
    let mut reports = reports();
    for kind in kinds {
        let why = "its file does not parse: EOF while parsing a value at line 1 column 1000";
        reports.set_unreadable(common::HOUR - 1, "app-0", kind, why);
    }
    reports
}

#[tokio::test]
async fn an_unreadable_report_is_a_500_that_says_so_on_its_board_and_api() {
    let kinds = ["transaction", "event", "problem", "heartbeat", "metric"];
    let app = app_of(with_unreadable(&kinds));
    let said = "report of app-0 for 2026-11-22 06:00 UTC cannot be read (damaged or missing; \
                see the server's log): its file does not parse";
    for (path, kind) in [
        ("/t", "transaction"),
        ("/e", "event"),
        ("/p", "problem"),
        ("/h", "heartbeat"),
        ("/metric", "metric"),
        // The dependency page reads the Event report's edges.
        ("/d", "event"),
    ] {
        let uri = format!("{path}?domain=app-0&hour={PAST_HOUR_LABEL}");
        let html = html_page(app.clone(), &uri, StatusCode::INTERNAL_SERVER_ERROR).await;
        assert!(
            html.contains(&format!("The stored {kind} {said}")),
            "{uri}: {html}"
        );
        assert!(!html.contains("logged no"), "{uri}");
    }
    for kind in kinds {
        let uri = format!("/api/{kind}?domain=app-0&hour={PAST_HOUR_LABEL}");
        let body = get_json(app.clone(), &uri, 500).await;
        let error = body["error"].as_str().unwrap();
        assert!(
            error.contains(&format!(
                "stored {kind} report of app-0 for hour {PAST_HOUR_LABEL} cannot be read"
            )),
            "{uri}: {error}"
        );
        assert!(error.contains("does not parse"), "{error}");
    }
    // The Dependency API reads the Event report.
    let uri = format!("/api/dependency?domain=app-0&hour={PAST_HOUR_LABEL}");
    get_json(app.clone(), &uri, 500).await;
    // Another domain of the hour reads as before.
    let uri = format!("/api/transaction?domain=app-1&hour={PAST_HOUR_LABEL}");
    let body = get_json(app, &uri, 200).await;
    assert!(!body["types"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn a_day_view_names_the_hours_it_left_out_for_unreadable_reports() {
    let app = app_of(with_unreadable(&["transaction", "event", "problem"]));
    for kind in ["transaction", "event", "problem"] {
        let uri = format!("/api/{kind}?domain=app-0&day=20261122");
        let body = get_json(app.clone(), &uri, 200).await;
        assert_eq!(
            body["unreadableHours"],
            serde_json::json!([PAST_HOUR_LABEL]),
            "{uri}"
        );
        assert_eq!(body["hours"], serde_json::json!(["2026112207"]), "{uri}");
    }
    // The other domain's day has none to name.
    let body = get_json(
        app.clone(),
        "/api/transaction?domain=app-1&day=20261122",
        200,
    )
    .await;
    assert!(body.get("unreadableHours").is_none(), "{body}");
    for path in ["/t", "/e", "/p"] {
        let uri = format!("{path}?domain=app-0&day=20261122");
        let html = html_page(app.clone(), &uri, StatusCode::OK).await;
        assert!(
            html.contains("for 2026-11-22 06:00 UTC cannot be read (damaged or missing; see the server's log), and is left out of this day"),
            "{uri}: {html}"
        );
    }
}

#[tokio::test]
async fn a_day_of_only_unreadable_hours_is_a_500_not_no_data() {
    let mut reports = MemoryReports::new(common::NOW_MS);
    let why = "there is no file of it, while the domain's event report of the hour is there";
    reports.set_unreadable(common::HOUR - 1, "shop", "transaction", why);
    let app = app_of(reports);
    let body = get_json(
        app.clone(),
        "/api/transaction?domain=shop&day=20261122",
        500,
    )
    .await;
    let error = body["error"].as_str().unwrap();
    assert!(
        error.contains("cannot be read") && error.contains(PAST_HOUR_LABEL),
        "{error}"
    );
    let html = html_page(
        app,
        "/t?domain=shop&day=20261122",
        StatusCode::INTERNAL_SERVER_ERROR,
    )
    .await;
    assert!(
        html.contains("cannot be read") && !html.contains("logged no"),
        "{html}"
    );
}
