//! The shared layout, embedded assets, 404 fallback and bad-parameter handling.

mod common;

use axum::http::StatusCode;
use common::*;

#[tokio::test]
async fn home_page_has_nav_and_search_box() {
    let response = get(app(), "/").await;
    assert_eq!(response.status(), StatusCode::OK);
    let html = text(response).await;
    for path in ["/t", "/e", "/p", "/h", "/metric", "/d", "/state", "/alerts"] {
        assert!(
            html.contains(&format!(r#"href="{path}""#)),
            "nav links {path}"
        );
    }
    assert!(html.contains(r#"<form class="search""#));
}

#[tokio::test]
async fn stylesheet_and_icon_are_served_from_the_binary() {
    let css = get(app(), "/assets/ocelot.css").await;
    assert_eq!(css.status(), StatusCode::OK);
    assert!(header(&css, "content-type").starts_with("text/css"));
    assert!(text(css).await.contains(".topbar"));
    let icon = get(app(), "/assets/favicon.svg").await;
    assert_eq!(header(&icon, "content-type"), "image/svg+xml");
}

#[tokio::test]
async fn unknown_paths_get_a_404_page_in_the_layout() {
    let response = get(app(), "/no/such/page").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let html = text(response).await;
    assert!(html.contains("Page not found"));
    assert!(html.contains(r#"<form class="search""#));
}

#[tokio::test]
async fn undecodable_query_strings_give_400_not_500() {
    let response = get(app(), "/search?id=%FF%FE").await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let response = get(app(), "/m/%FF%FE").await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(text(response).await.contains("<html"));
}

/// `%FF` decodes to a byte that is not UTF-8. Read lossily it became the domain "\u{FFFD}",
/// which no report has: a 404 that hid the real problem. Every page taking a query names
/// the parameter in a 400 instead.
#[tokio::test]
async fn query_values_that_are_not_utf8_are_a_400_naming_the_parameter() {
    for (uri, param) in [
        ("/?domain=%FF", "domain"),
        ("/t?domain=%FF&hour=current", "domain"),
        ("/t?domain=catgen&hour=current&type=URL&name=%C3%28", "name"),
        ("/e?domain=catgen&hour=current&type=%FF", "type"),
        ("/p?domain=%FF", "domain"),
        ("/h?domain=catgen&ip=%FF", "ip"),
        ("/metric?domain=%FF", "domain"),
        ("/d?domain=%E0%80", "domain"),
        ("/state?hour=%FF", "hour"),
        ("/t?domain=catgen&from=%FF", "from"),
        ("/cat/r/t?domain=%FF", "domain"),
        ("/cat/r/m?messageId=%FF", "messageId"),
        ("/search?id=shop%FF-7f000001-1-2", "id"),
    ] {
        let html = html_page(report_app(), uri, StatusCode::BAD_REQUEST).await;
        assert!(html.contains(&format!("“{param}”")), "{uri}: {html}");
        assert!(html.contains("UTF-8"), "{uri}: {html}");
    }
}

#[tokio::test]
async fn a_parameter_given_twice_is_a_400_page_naming_it() {
    for (uri, param) in [
        ("/t?domain=a&domain=b&hour=current", "domain"),
        ("/?hour=current&hour=2026112207", "hour"),
        ("/e?domain=catgen&from=a&from=b", "from"),
        ("/cat/r/m?messageId=a&messageId=b", "messageId"),
        ("/search?id=a&id=b", "id"),
    ] {
        let html = html_page(report_app(), uri, StatusCode::BAD_REQUEST).await;
        assert!(
            html.contains(&format!("The “{param}” parameter is not right")),
            "{uri}: {html}"
        );
        assert!(html.contains("it is given twice"), "{uri}: {html}");
        assert!(!html.contains("deserialize"), "{uri}: {html}");
    }
}

/// CAT clients ask for routes with their domain, which the answer does not depend on: an
/// odd byte in it is no reason to leave a client without a collector.
#[tokio::test]
async fn the_router_endpoint_ignores_a_domain_that_is_not_utf8() {
    let response = get(app(), "/cat/s/router?op=api&domain=%FF").await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn unknown_api_paths_answer_a_json_404() {
    let response = get(app(), "/api/nothing/here").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(header(&response, "content-type").starts_with("application/json"));
    let json: serde_json::Value = serde_json::from_str(&text(response).await).unwrap();
    assert_eq!(json["error"], "no such API endpoint");
}

#[tokio::test]
async fn api_endpoints_asked_with_another_method_answer_a_json_405() {
    use tower::ServiceExt as _;
    let request = axum::http::Request::post("/api/domains")
        .body(axum::body::Body::empty())
        .unwrap();
    let response = app().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(header(&response, "content-type").starts_with("application/json"));
    let json: serde_json::Value = serde_json::from_str(&text(response).await).unwrap();
    assert!(json["error"].as_str().unwrap().contains("POST"), "{json}");
}

/// A page or an asset asked with another method answered a 405 with
/// an empty body.
#[tokio::test]
async fn pages_asked_with_another_method_answer_a_405_page_saying_so() {
    use tower::ServiceExt as _;
    for (method, uri) in [
        ("POST", "/"),
        ("DELETE", "/t"),
        ("PUT", "/assets/ocelot.css"),
    ] {
        let request = axum::http::Request::builder()
            .method(method)
            .uri(uri)
            .body(axum::body::Body::empty())
            .unwrap();
        let response = app().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED, "{uri}");
        assert!(header(&response, "allow").contains("GET"), "{uri}");
        let content_type = header(&response, "content-type");
        let html = text(response).await;
        assert!(
            content_type.starts_with("text/html"),
            "{uri}: {content_type} {html}"
        );
        assert!(
            html.contains(&format!("{method} is not allowed here")),
            "{uri}: {html}"
        );
    }
}

#[tokio::test]
async fn pages_forbid_inline_scripts_and_framing() {
    for uri in ["/", "/no/such/page", &format!("/m/{FAILED_ID}")] {
        let response = get(app(), uri).await;
        let csp = header(&response, "content-security-policy");
        assert!(csp.contains("script-src 'self'"), "{uri}: {csp}");
        assert!(
            !csp.contains("script-src 'self' 'unsafe-inline'"),
            "{uri}: {csp}"
        );
        assert_eq!(
            header(&response, "x-content-type-options"),
            "nosniff",
            "{uri}"
        );
        assert_eq!(header(&response, "x-frame-options"), "DENY", "{uri}");
    }
}

#[tokio::test]
async fn the_current_hour_is_labelled_without_promising_live_updates() {
    let response = get(report_app(), "/p?domain=catgen&hour=current").await;
    assert_eq!(response.status(), StatusCode::OK);
    let html = text(response).await;
    assert!(
        html.contains(r#"<span class="badge ok">current hour</span> · reload for newer"#),
        "{html}"
    );
    assert!(!html.contains(">live<"), "pages do not update themselves");
}

/// Whether `html` holds a control character a browser would not show (tab, line feed and
/// carriage return are layout).
fn has_raw_control(html: &str) -> bool {
    html.chars()
        .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
}

/// A parameter holding a control character is echoed into headings, error messages, the
/// search box and the selector's fields. Raw, a NUL showed as nothing (`type=a%00b` read
/// as "ab"); every page writes it out as `\u{0}`, and the JSON API escapes it as JSON does.
#[tokio::test]
async fn control_characters_echoed_from_a_query_are_written_out() {
    for (uri, status, echoed) in [
        (
            "/t?domain=gateway&type=%00",
            StatusCode::NOT_FOUND,
            r"\u{0}",
        ),
        (
            "/t?domain=catgen&hour=2026112207&type=a%00b",
            StatusCode::OK,
            r"No transactions of type “a\u{0}b”",
        ),
        (
            "/e?domain=catgen&hour=2026112207&type=E%1B",
            StatusCode::OK,
            r"No events of type “E\u{1b}”",
        ),
        (
            "/t?domain=catgen&ip=%00",
            StatusCode::NOT_FOUND,
            r"No machine \u{0}",
        ),
        ("/?compare=%7F", StatusCode::OK, r#"value="\u{7f}""#),
        (
            "/p?domain=catgen&long_ms=%C2%85",
            StatusCode::BAD_REQUEST,
            r"“\u{85}” is not a category",
        ),
        (
            "/m/a%00b",
            StatusCode::BAD_REQUEST,
            r"“a\u{0}b” is not a message ID",
        ),
        (
            "/search?id=a%01b",
            StatusCode::BAD_REQUEST,
            r#"value="a\u{1}b""#,
        ),
    ] {
        let html = html_page(report_app(), uri, status).await;
        assert!(!has_raw_control(&html), "{uri}: {html}");
        assert!(html.contains(echoed), "{uri}: {html}");
    }
    let json = get_json(
        report_app(),
        "/api/transaction?domain=catgen%00&hour=2026112207",
        404,
    )
    .await;
    assert!(
        json["error"].as_str().unwrap().contains("catgen\0"),
        "{json}"
    );
}
