//! CAT's report addresses (`/cat/r/t`, `/cat/r/e`, `/cat/r/p`, `/cat/r/h`, as in its alarm
//! mails and people's bookmarks, and its home, state and dependency pages) redirect to our
//! boards; our boards and API refuse CAT's `date=` (in CAT's zone) and name `hour=` (UTC).

mod common;

use std::sync::Arc;

use axum::http::StatusCode;
use common::*;
use ocelot_web::{router, AppState};

/// Where `uri` redirects to, asserting that it does.
async fn location(uri: &str) -> String {
    location_in(report_app(), uri).await
}

/// Where `uri` redirects to in `app`, asserting that it does.
async fn location_in(app: axum::Router, uri: &str) -> String {
    let response = get(app, uri).await;
    assert_eq!(response.status(), StatusCode::TEMPORARY_REDIRECT, "{uri}");
    header(&response, "location")
}

/// The app over [`reports`] reading CAT's dates at `utc_offset_seconds`.
fn app_in_zone(utc_offset_seconds: i32) -> axum::Router {
    let state = AppState::new(Arc::new(lookup()))
        .with_reports(Arc::new(reports()))
        .with_cat_utc_offset_seconds(utc_offset_seconds);
    router(state)
}

#[tokio::test]
async fn cat_report_pages_redirect_to_our_boards_with_the_date_as_the_hour() {
    for (cat, ours) in [
        (
            "/cat/r/t?domain=gateway&date=2026120619",
            "/t?domain=gateway&hour=2026120619",
        ),
        (
            "/cat/r/e?op=view&domain=gateway&ip=10.1.2.3&date=2026120619&type=URL&name=%2Fpay&sort=total",
            "/e?domain=gateway&ip=10.1.2.3&type=URL&name=%2Fpay&hour=2026120619",
        ),
        (
            "/cat/r/p?domain=gateway&ip=All&date=2026120619&type=error&status=NullPointerException",
            "/p?domain=gateway&ip=All&hour=2026120619#error",
        ),
        // CAT's problem type is a category, our board's section of it; another value is
        // a transaction or event type, as our `type=` is.
        ("/cat/r/p?domain=gateway&type=long-url", "/p?domain=gateway#long-url"),
        ("/cat/r/p?domain=gateway&type=URL", "/p?domain=gateway&type=URL"),
        (
            "/cat/r/h?domain=gateway&ip=10.1.2.3&date=2026120619",
            "/h?domain=gateway&ip=10.1.2.3&hour=2026120619",
        ),
        ("/cat/r/t?domain=gateway", "/t?domain=gateway"),
        ("/cat/r/t", "/t"),
        // CAT reads a bare day as its first hour.
        ("/cat/r/t?domain=gateway&date=20261206", "/t?domain=gateway&hour=2026120600"),
    ] {
        assert_eq!(location(cat).await, ours, "{cat}");
    }
}

/// CAT's home, state and dependency pages, and the server's bare address as people give
/// it, land on ours rather than on a 404.
#[tokio::test]
async fn cat_home_state_and_dependency_pages_redirect_to_ours() {
    for (cat, ours) in [
        ("/cat", "/"),
        ("/cat/", "/"),
        ("/cat/r", "/"),
        ("/cat/r/", "/"),
        ("/cat/r/home?op=view&domain=gateway", "/"),
        ("/cat/r/home?date=2026120619", "/?hour=2026120619"),
        (
            "/cat/r/state?domain=cat&date=2026120619",
            "/state?hour=2026120619",
        ),
        (
            "/cat/r/dependency?domain=gateway&date=2026120619",
            "/d?domain=gateway&hour=2026120619",
        ),
        ("/cat/r/dependency?domain=gateway", "/d?domain=gateway"),
    ] {
        assert_eq!(location(cat).await, ours, "{cat}");
    }
}

#[tokio::test]
async fn cat_history_views_become_day_week_and_month_views_where_the_board_has_them() {
    for (cat, ours) in [
        (
            "/cat/r/t?op=history&domain=gateway&date=2026120600&reportType=day",
            "/t?domain=gateway&day=20261206",
        ),
        (
            "/cat/r/e?domain=gateway&date=20261206&reportType=day",
            "/e?domain=gateway&day=20261206",
        ),
        (
            "/cat/r/p?op=history&domain=gateway&date=2026120600",
            "/p?domain=gateway&day=20261206",
        ),
        (
            "/cat/r/matrix?op=history&domain=gateway&date=2026120600&reportType=week",
            "/matrix?domain=gateway&week=20261206",
        ),
        // A week is the one that holds the date, a month the date's month.
        (
            "/cat/r/t?op=history&domain=gateway&date=2026113000&reportType=week",
            "/t?domain=gateway&week=20261130",
        ),
        (
            "/cat/r/e?domain=gateway&date=2026113000&reportType=MONTH",
            "/e?domain=gateway&month=202611",
        ),
        (
            "/cat/r/p?op=history&domain=gateway&reportType=month",
            "/p?domain=gateway&month=202611",
        ),
        // No date: today (NOW_MS is in 2026-11-22).
        (
            "/cat/r/t?op=history&domain=gateway&reportType=day",
            "/t?domain=gateway&day=20261122",
        ),
        // Heartbeats are shown an hour at a time.
        (
            "/cat/r/h?op=history&domain=gateway&ip=10.1.2.3&date=2026120619&reportType=day",
            "/h?domain=gateway&ip=10.1.2.3&hour=2026120619",
        ),
    ] {
        assert_eq!(location(cat).await, ours, "{cat}");
    }
}

/// A CAT server writes its dates in its local time (+08:00 in most deployments): read as
/// UTC, every alarm mail's link landed 8 hours off.
#[tokio::test]
async fn cat_dates_are_read_in_the_cat_servers_zone() {
    let uri = "/cat/r/t?domain=gateway&date=2026120719&ip=All&type=URL";
    for (offset, hour) in [
        (28_800, "2026120711"),
        (0, "2026120719"),
        // A part of an hour: the UTC hour the local hour starts in.
        (19_800, "2026120713"),
        (-19_800, "2026120800"),
    ] {
        assert_eq!(
            location_in(app_in_zone(offset), uri).await,
            format!("/t?domain=gateway&ip=All&type=URL&hour={hour}"),
            "{offset}"
        );
    }
    let app = || app_in_zone(28_800);
    for (cat, ours) in [
        // A bare day is its first local hour.
        (
            "/cat/r/e?domain=gateway&date=20261206",
            "/e?domain=gateway&hour=2026120516",
        ),
        (
            "/cat/r/h?domain=gateway&date=2026120701",
            "/h?domain=gateway&hour=2026120617",
        ),
        // A history view keeps CAT's calendar date, whatever its hour.
        (
            "/cat/r/t?domain=gateway&date=2026120603&reportType=day",
            "/t?domain=gateway&day=20261206",
        ),
        (
            "/cat/r/p?op=history&domain=gateway&date=2026120100&reportType=month",
            "/p?domain=gateway&month=202612",
        ),
    ] {
        assert_eq!(location_in(app(), cat).await, ours, "{cat}");
    }
    // The 400 for a bad date names the zone it is read in.
    let response = get(app(), "/cat/r/t?domain=gateway&date=2026-12-06").await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let html = text(response).await;
    assert!(html.contains("UTC+08:00"), "{html}");
}

/// CAT's ← and → arrows add `step=-1` or `step=1`; it was dropped, so both showed the
/// date itself.
#[tokio::test]
async fn cat_steps_move_the_date_by_hours_days_weeks_or_months() {
    for (cat, ours) in [
        (
            "/cat/r/t?domain=gateway&date=2026120619&step=1",
            "/t?domain=gateway&hour=2026120620",
        ),
        (
            "/cat/r/t?domain=gateway&date=2026120700&step=-1",
            "/t?domain=gateway&hour=2026120623",
        ),
        // Without a date, from now (NOW_MS is in 2026112207).
        (
            "/cat/r/e?domain=gateway&step=-2",
            "/e?domain=gateway&hour=2026112205",
        ),
        ("/cat/r/t?domain=gateway&step=0", "/t?domain=gateway"),
        (
            "/cat/r/t?domain=gateway&date=2026120600&reportType=day&step=-1",
            "/t?domain=gateway&day=20261205",
        ),
        (
            "/cat/r/e?domain=gateway&date=2026113000&reportType=week&step=1",
            "/e?domain=gateway&week=20261207",
        ),
        (
            "/cat/r/p?domain=gateway&date=2026011500&reportType=month&step=-1",
            "/p?domain=gateway&month=202512",
        ),
        (
            "/cat/r/p?op=history&domain=gateway&reportType=month&step=2",
            "/p?domain=gateway&month=202701",
        ),
    ] {
        assert_eq!(location(cat).await, ours, "{cat}");
    }
    for (uri, says) in [
        ("/cat/r/t?domain=gateway&step=next", "next"),
        ("/cat/r/t?domain=gateway&date=1970010100&step=-1", "1970"),
        (
            "/cat/r/t?domain=gateway&reportType=day&date=19700101&step=-1",
            "1970",
        ),
    ] {
        let response = get(report_app(), uri).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{uri}");
        let html = text(response).await;
        assert!(
            html.contains("“step”") && html.contains(says),
            "{uri}: {html}"
        );
    }
}

/// `xml=true` got the board's HTML with a 200, which a script would take for its answer.
#[tokio::test]
async fn cat_xml_is_a_400_naming_the_json_api_address() {
    for (uri, api) in [
        (
            "/cat/r/t?domain=gateway&date=2026120619&type=URL&xml=true",
            "/api/transaction?domain=gateway&amp;type=URL&amp;hour=2026120619",
        ),
        (
            "/cat/r/p?op=history&domain=gateway&date=2026120600&xml=true",
            "/api/problem?domain=gateway&amp;day=20261206",
        ),
        (
            "/cat/r/h?domain=gateway&xml=1",
            "/api/heartbeat?domain=gateway&amp;hour=current",
        ),
    ] {
        let response = get(report_app(), uri).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{uri}");
        let html = text(response).await;
        assert!(
            html.contains("“xml”") && html.contains("no XML"),
            "{uri}: {html}"
        );
        assert!(html.contains(api), "{uri}: {api} in {html}");
    }
    assert_eq!(
        location("/cat/r/t?domain=gateway&xml=false").await,
        "/t?domain=gateway"
    );
}

/// `op=xml`, `op=json` and `forceDownload=xml` redirected to the board, whose HTML came
/// with a 200; and the 400 for `xml=true` was HTML even to a client asking for JSON.
#[tokio::test]
async fn every_cat_data_format_switch_is_a_400_in_json_when_json_is_accepted() {
    let api = "/api/transaction?domain=gateway&type=URL&hour=2026120619";
    for switch in [
        "op=xml",
        "op=json",
        "forceDownload=xml",
        "xml=true",
        "op=XML",
    ] {
        let uri = format!("/cat/r/t?domain=gateway&date=2026120619&type=URL&{switch}");
        let request = axum::http::Request::get(&uri)
            .header("accept", "application/json")
            .body(axum::body::Body::empty())
            .unwrap();
        let response = tower::ServiceExt::oneshot(report_app(), request)
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{uri}");
        assert!(
            header(&response, "link").contains(&format!("<{api}>")),
            "{uri}: {}",
            header(&response, "link")
        );
        assert!(header(&response, "content-type").starts_with("application/json"));
        let json: serde_json::Value = serde_json::from_str(&text(response).await).unwrap();
        assert_eq!(json["api"], api, "{uri}");
        let param = switch.split('=').next().unwrap();
        let error = json["error"].as_str().unwrap();
        assert!(
            error.contains(&format!("“{param}”")) && error.contains(api),
            "{uri}: {error}"
        );
        // Without JSON in Accept: the error page, naming the same address.
        let html = html_page(report_app(), &uri, StatusCode::BAD_REQUEST).await;
        assert!(html.contains("no XML"), "{uri}: {html}");
    }
    // CAT's other views are not data: they still redirect.
    assert_eq!(
        location("/cat/r/t?domain=gateway&op=graphs").await,
        "/t?domain=gateway"
    );
}

#[tokio::test]
async fn cat_problem_thresholds_become_raised_long_thresholds() {
    assert_eq!(
        location("/cat/r/p?domain=gateway&date=2026120619&urlThreshold=3000&sqlThreshold=500")
            .await,
        "/p?domain=gateway&hour=2026120619&long_ms=long-url%3A3000%2Clong-sql%3A500"
    );
}

#[tokio::test]
async fn a_cat_report_address_with_a_bad_date_is_a_400_naming_it() {
    let response = get(report_app(), "/cat/r/t?domain=gateway&date=2026-12-06").await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let html = text(response).await;
    assert!(html.contains("“date”"), "{html}");
    assert!(html.contains("2026-12-06"), "{html}");
}

#[tokio::test]
async fn a_redirected_cat_address_shows_the_hour_it_names() {
    let board = location(&format!("/cat/r/t?domain=app-1&date={PAST_HOUR_LABEL}")).await;
    let html = ok_page(report_app(), &board).await;
    assert!(
        html.contains(r#"href="/t?domain=app-1&amp;hour=current" rel="next""#),
        "the past hour, which links the next: {html}"
    );
}

/// The boards took `date=` as UTC while `/cat/r/...` reads it in CAT's zone: the same
/// value named hours 8 hours apart. They refuse it, naming `hour=` (UTC), as the API does.
#[tokio::test]
async fn boards_refuse_cats_date_naming_hour_in_utc() {
    for path in ["/t", "/e", "/p", "/"] {
        let html = html_page(
            report_app(),
            &format!("{path}?domain=app-1&date={PAST_HOUR_LABEL}"),
            StatusCode::BAD_REQUEST,
        )
        .await;
        assert!(
            html.contains("“date”") && html.contains("hour=YYYYMMDDHH (UTC)"),
            "{path}: {html}"
        );
    }
}
