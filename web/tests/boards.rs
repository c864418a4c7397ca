//! The report boards (issue 6): home, transaction, event, problem, heartbeat, metric and
//! state pages over real CAT C client frames and generated traffic, called without a socket.

mod common;

use axum::http::StatusCode;
use common::*;

async fn page(uri: &str, status: StatusCode) -> String {
    let response = get(report_app(), uri).await;
    assert_eq!(response.status(), status, "GET {uri}");
    assert!(header(&response, "content-type").starts_with("text/html"));
    text(response).await
}

/// The position of `needle` in `html`, which must contain it.
fn at(html: &str, needle: &str) -> usize {
    html.find(needle)
        .unwrap_or_else(|| panic!("{needle} not in page"))
}

#[tokio::test]
async fn home_lists_every_domain_of_the_current_hour_failing_ones_first() {
    let html = page("/", StatusCode::OK).await;
    for domain in ["app-0", "app-1", "catgen"] {
        assert!(html.contains(&format!(">{domain}</a>")), "{domain}");
    }
    // The script domain's one request failed (100 %); catgen's URL request did not.
    assert!(at(&html, "&lt;script&gt;alert(1)&lt;/script&gt;</a>") < at(&html, ">catgen</a>"));
    assert!(html.contains(r#"class="badge fail">failing"#));
    assert!(html.contains("<svg class=\"sparkline\""));
    assert!(html.contains("/t?domain=catgen&amp;hour=2026112207&amp;type=URL"));
}

#[tokio::test]
async fn home_without_reports_says_so_instead_of_failing() {
    let response = get(app(), "/").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(text(response).await.contains("No data in this hour"));
}

#[tokio::test]
async fn transaction_board_defaults_to_the_first_domain_and_lists_its_types() {
    let html = page("/t", StatusCode::OK).await;
    // Domains sort as strings: "<script>..." comes before "app-0".
    assert!(html.contains("Transactions <span class=\"domain\">&lt;script&gt;"));
    let html = page("/t?domain=catgen&hour=current", StatusCode::OK).await;
    for type_ in ["URL", "Service", "Job", "Unicode.事务"] {
        assert!(html.contains(&format!(">{type_}</a>")), "{type_}");
    }
    for column in ["P50", "P95", "P99", "P999", "Std", "TPS", "Fail %"] {
        assert!(html.contains(&format!(">{column}")), "{column}");
    }
    assert!(
        html.contains(r#"<option value="192.0.2.2">"#),
        "machine selector"
    );
    assert!(html.contains(r#"<option value="All" selected>All machines"#));
}

#[tokio::test]
async fn a_failing_name_links_its_failed_message_to_logview_and_charts_its_minutes() {
    let html = page(
        "/t?domain=catgen&hour=2026112207&type=Service&name=PaymentService.pay",
        StatusCode::OK,
    )
    .await;
    assert!(html.contains(r#"id="name-detail""#));
    assert!(html.contains(&format!(r#"href="/m/{FAILED_ID}""#)));
    assert_eq!(html.matches("<svg class=\"chart\"").count(), 3);
    assert!(html.contains("Transactions per minute") && html.contains("Failures per minute"));
    assert!(
        html.contains(">P95</text>"),
        "a name's duration chart has its P95 line"
    );
    assert!(html.contains("<code>ERROR</code>"), "failure statuses");
}

#[tokio::test]
async fn columns_sort_on_the_server_and_unknown_columns_are_a_400() {
    let by_name = page(
        "/t?domain=app-0&hour=current&type=URL&sort=name",
        StatusCode::OK,
    )
    .await;
    assert!(at(&by_name, ">/api/cart/{num}</a>") < at(&by_name, ">/health/{num}</a>"));
    assert!(by_name.contains(r#"aria-sort="descending""#));
    let html = page("/t?domain=app-0&sort=nonsense", StatusCode::BAD_REQUEST).await;
    assert!(html.contains("“sort”"));
}

#[tokio::test]
async fn bad_parameters_give_a_friendly_400_page_never_a_500() {
    for uri in [
        "/t?hour=yesterday",
        "/e?hour=2026023007",
        "/p?hour=1",
        "/h?hour=x",
        "/metric?hour=x",
        "/state?hour=x",
        "/?hour=x",
    ] {
        let html = page(uri, StatusCode::BAD_REQUEST).await;
        assert!(html.contains("“hour”"), "{uri}");
        assert!(
            html.contains(r#"<form class="search""#),
            "{uri} is in the layout"
        );
    }
}

#[tokio::test]
async fn an_unknown_domain_or_empty_hour_keeps_the_navigation_with_a_404() {
    let html = page("/t?domain=nosuch&hour=current", StatusCode::NOT_FOUND).await;
    assert!(html.contains("has no report"));
    assert!(html.contains(r#"<form class="selectors""#));
    let html = page("/p?hour=2020010100", StatusCode::NOT_FOUND).await;
    assert!(html.contains("No domain sent data"));
    assert!(html.contains("Current hour"));
}

#[tokio::test]
async fn hour_navigation_links_the_previous_hour_and_back() {
    let html = page("/t?domain=app-1", StatusCode::OK).await;
    assert!(html.contains(&format!(
        r#"href="/t?domain=app-1&amp;hour={PAST_HOUR_LABEL}" rel="prev""#
    )));
    assert!(
        !html.contains(r#"rel="next""#),
        "no next hour after the current one"
    );
    let past = page(
        &format!("/t?domain=app-1&hour={PAST_HOUR_LABEL}"),
        StatusCode::OK,
    )
    .await;
    assert!(past.contains(&format!(
        r#"href="/t?domain=app-1&amp;hour={HOUR_LABEL}" rel="next""#
    )));
    assert!(past.contains("2026-11-22 06:00 UTC"));
    // The type and name shown go along; before the first hour with data there is no link.
    let named = page("/t?domain=app-1&type=URL&name=%2Fa", StatusCode::OK).await;
    assert!(
        named.contains(&format!(
            r#"href="/t?domain=app-1&amp;hour={PAST_HOUR_LABEL}&amp;type=URL&amp;name=%2Fa" rel="prev""#
        )),
        "{named}"
    );
    let hours = get_json(report_app(), "/api/hours", 200).await;
    let first = hours["hours"][0].as_str().unwrap();
    let earliest = text(get(report_app(), &format!("/t?hour={first}")).await).await;
    assert!(earliest.contains("hour-nav"), "{earliest}");
    assert!(
        !earliest.contains(r#"rel="prev""#),
        "no hour with data before the first"
    );
}

#[tokio::test]
async fn event_board_lists_types_then_names_with_sample_links() {
    let html = page("/e?domain=catgen&hour=current", StatusCode::OK).await;
    assert!(html.contains(">Error</a>"));
    let html = page("/e?domain=catgen&hour=current&type=Error", StatusCode::OK).await;
    assert!(html.contains(">RuntimeException</a>"));
    assert!(html.contains("Events per minute"));
    assert!(html.contains("class=\"msg-link failed\""));
}

#[tokio::test]
async fn problem_board_groups_by_category_with_minutes_and_samples() {
    let html = page("/p?domain=catgen", StatusCode::OK).await;
    assert!(html.contains(r#"id="error""#));
    assert!(html.contains("error per minute"));
    assert!(html.contains(&format!(r#"href="/m/{FAILED_ID}""#)));
    let app = page("/p?domain=app-0", StatusCode::OK).await;
    assert!(
        at(&app, r#"id="error""#) < at(&app, r#"id="long-call""#),
        "error comes first"
    );
}

#[tokio::test]
async fn heartbeat_page_charts_every_series_of_the_machine() {
    let html = page("/h?domain=catgen", StatusCode::OK).await;
    assert!(html.contains("system.process.load.1min"));
    assert!(html.matches("<svg class=\"chart\"").count() >= 5);
    assert!(!html.contains("All machines"), "heartbeats do not add up");
}

#[tokio::test]
async fn metric_and_state_pages_show_their_figures() {
    let html = page("/metric?domain=catgen", StatusCode::OK).await;
    assert!(html.contains("<table class=\"report\""));
    let html = page("/state", StatusCode::OK).await;
    assert!(html.contains("Trees received per minute"));
    assert!(html.contains(&format!(">{}</span>", 27 + 1 + SAMPLE_TREES)));
}

#[tokio::test]
async fn boards_of_reports_few_domains_have_open_on_a_domain_that_has_one() {
    // The hour's first domain (the markup one) sent no heartbeat, metric or edge.
    for path in ["/h", "/metric", "/d"] {
        let html = page(path, StatusCode::OK).await;
        assert!(html.contains("<table") || html.contains("chart"), "{path}");
        assert!(!html.contains("No dependencies"), "{path}");
    }
    // Asked for by name, a domain without the report is still a 404.
    let evil = "%3Cscript%3Ealert(1)%3C%2Fscript%3E";
    page(&format!("/metric?domain={evil}"), StatusCode::NOT_FOUND).await;
}

#[tokio::test]
async fn the_dependency_page_lists_what_a_domain_calls_and_who_calls_it() {
    let html = page("/d?domain=catgen", StatusCode::OK).await;
    for text in [
        "Depends on",
        "jdbc:mysql://db1:3306/orders",
        "Called by",
        "payment-gateway",
        "calls per minute",
    ] {
        assert!(html.contains(text), "{text}");
    }
    // A domain without edges (the hand-made markup tree's) says where edges come from.
    let html = page(
        "/d?domain=%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        StatusCode::OK,
    )
    .await;
    assert!(html.contains("No dependencies") && html.contains("SQL.Database"));
}

#[tokio::test]
async fn domains_and_names_with_markup_are_escaped_on_every_board() {
    let evil = "%3Cscript%3Ealert(1)%3C%2Fscript%3E";
    for path in ["/", "/t", "/e", "/p", "/h", "/metric", "/d", "/state"] {
        // The script domain sent no heartbeat or metric: those pages are 404s, escaped too.
        let response = get(report_app(), &format!("{path}?domain={evil}&hour=current")).await;
        assert!(matches!(response.status().as_u16(), 200 | 404), "{path}");
        assert!(!text(response).await.contains("<script>"), "{path}");
    }
    let html = page(
        &format!("/t?domain={evil}&type={evil}&name={evil}"),
        StatusCode::OK,
    )
    .await;
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!html.contains("<script>alert"));
}
