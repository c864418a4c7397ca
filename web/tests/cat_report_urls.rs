//! CAT's report addresses (`/cat/r/t`, `/cat/r/e`, `/cat/r/p`, `/cat/r/h`, as in its alarm
//! mails and people's bookmarks, and its home, state and dependency pages) redirect to our
//! boards, and our boards and API take CAT's
//! `date=` for `hour=`.

mod common;

use axum::http::StatusCode;
use common::*;

/// Where `uri` redirects to, asserting that it does.
async fn location(uri: &str) -> String {
    let response = get(report_app(), uri).await;
    assert_eq!(response.status(), StatusCode::TEMPORARY_REDIRECT, "{uri}");
    header(&response, "location")
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

#[tokio::test]
async fn boards_take_cats_date_for_the_hour() {
    for path in ["/t", "/e", "/p", "/"] {
        let html = ok_page(
            report_app(),
            &format!("{path}?domain=app-1&date={PAST_HOUR_LABEL}"),
        )
        .await;
        assert!(
            html.contains(r#"rel="next""#),
            "{path}: the past hour, not the current one: {html}"
        );
    }
    let html = html_page(
        report_app(),
        &format!("/t?domain=app-1&hour={HOUR_LABEL}&date={PAST_HOUR_LABEL}"),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(
        html.contains("“date”") && html.contains("not both"),
        "{html}"
    );
    let html = html_page(
        report_app(),
        "/t?domain=app-1&date=yesterday",
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(
        html.contains("“date”") && html.contains("yesterday"),
        "{html}"
    );
}

#[tokio::test]
async fn the_api_takes_cats_date_for_the_hour() {
    let json = get_json(
        report_app(),
        &format!("/api/transaction?domain=app-1&date={PAST_HOUR_LABEL}"),
        200,
    )
    .await;
    assert_eq!(json["hour"], PAST_HOUR_LABEL);
    let json = get_json(
        report_app(),
        &format!("/api/domains?date={PAST_HOUR_LABEL}"),
        200,
    )
    .await;
    assert!(!json["domains"].as_array().unwrap().is_empty(), "{json}");
    let json = get_json(report_app(), "/api/domains?date=2020010100", 200).await;
    assert_eq!(
        json["domains"],
        serde_json::json!([]),
        "the hour asked for, not the current ones"
    );
}
