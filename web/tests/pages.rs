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
