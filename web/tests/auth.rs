//! Optional authentication: bearer token for the API, basic auth for pages.

mod common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::*;
use ocelot_web::{router, AppState, AuthConfig, BasicCredentials};
use tower::ServiceExt;

/// `base64("admin:pw")`.
const ADMIN_BASIC: &str = "Basic YWRtaW46cHc=";

fn locked_app() -> axum::Router {
    let auth = AuthConfig {
        api_token: Some("s3cret".into()),
        basic: Some(BasicCredentials::new("admin", "pw")),
    };
    router(AppState::new(Arc::new(lookup())).with_auth(auth))
}

async fn get_with(app: axum::Router, uri: &str, authorization: &str) -> StatusCode {
    app.oneshot(
        Request::get(uri)
            .header("authorization", authorization)
            .body(Body::empty())
            .unwrap(),
    )
    .await
    .unwrap()
    .status()
}

#[tokio::test]
async fn pages_ask_for_basic_auth_when_configured() {
    let response = get(locked_app(), &format!("/m/{FAILED_ID}")).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(header(&response, "www-authenticate").starts_with("Basic realm=\"Ocelot\""));
    assert!(text(response).await.contains("Please log in"));
}

#[tokio::test]
async fn pages_open_with_the_right_basic_credentials_only() {
    let page = format!("/m/{FAILED_ID}");
    assert_eq!(
        get_with(locked_app(), &page, ADMIN_BASIC).await,
        StatusCode::OK
    );
    assert_eq!(
        get_with(locked_app(), &page, "Basic YWRtaW46d3Jvbmc=").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        get_with(locked_app(), &page, "Bearer s3cret").await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn api_accepts_the_bearer_token_or_basic_credentials() {
    let api = format!("/api/message/{FAILED_ID}");
    assert_eq!(
        get_with(locked_app(), &api, "Bearer s3cret").await,
        StatusCode::OK
    );
    assert_eq!(
        get_with(locked_app(), &api, ADMIN_BASIC).await,
        StatusCode::OK
    );
    assert_eq!(
        get_with(locked_app(), &api, "Bearer wrong").await,
        StatusCode::UNAUTHORIZED
    );
}

/// Auth schemes are case-insensitive (RFC 9110 §11.1): `bearer` from a client or proxy
/// that lowercases it was a 401.
#[tokio::test]
async fn auth_schemes_are_matched_without_regard_to_case() {
    let api = format!("/api/message/{FAILED_ID}");
    for authorization in ["bearer s3cret", "BEARER s3cret", "basic YWRtaW46cHc="] {
        assert_eq!(
            get_with(locked_app(), &api, authorization).await,
            StatusCode::OK,
            "{authorization}"
        );
    }
    let page = format!("/m/{FAILED_ID}");
    assert_eq!(
        get_with(locked_app(), &page, "BASIC YWRtaW46cHc=").await,
        StatusCode::OK
    );
    for wrong in ["bearers3cret", "bearer", "Bearerx s3cret"] {
        assert_eq!(
            get_with(locked_app(), &api, wrong).await,
            StatusCode::UNAUTHORIZED,
            "{wrong}"
        );
    }
}

#[tokio::test]
async fn api_rejects_missing_credentials_with_a_json_error() {
    let response = get(locked_app(), &format!("/api/message/{FAILED_ID}")).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let json: serde_json::Value = serde_json::from_str(&text(response).await).unwrap();
    assert!(json["error"].is_string());
}

#[tokio::test]
async fn everything_is_open_without_configured_credentials() {
    assert_eq!(get(app(), "/").await.status(), StatusCode::OK);
    assert_eq!(
        get(app(), &format!("/api/message/{FAILED_ID}"))
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn the_stylesheet_stays_open_so_the_login_page_is_styled() {
    let response = get(locked_app(), "/assets/ocelot.css").await;
    assert_eq!(response.status(), StatusCode::OK);
}

/// `/api` (no slash) got the pages' HTML 401 and Basic challenge; `/api/` got JSON.
#[tokio::test]
async fn the_api_root_answers_a_json_401_too() {
    for uri in ["/api", "/api/", "/api/hours"] {
        let response = get(locked_app(), uri).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{uri}");
        assert_eq!(header(&response, "www-authenticate"), "Bearer", "{uri}");
        assert!(
            header(&response, "content-type").starts_with("application/json"),
            "{uri}"
        );
    }
}

async fn send(app: axum::Router, request: Request<Body>) -> axum::http::Response<Body> {
    app.oneshot(request).await.unwrap()
}

/// A Grafana datasource in browser mode could not call the API: its preflight got a 405
/// and the answers no `Access-Control-Allow-Origin`.
#[tokio::test]
async fn listed_origins_may_read_the_api_from_a_browser_and_others_may_not() {
    let grafana = "http://grafana.local:3000";
    let app = || {
        let auth = AuthConfig {
            api_token: Some("s3cret".into()),
            basic: None,
        };
        router(
            AppState::new(Arc::new(lookup()))
                .with_auth(auth)
                .with_cors_allow_origins([grafana.to_owned()]),
        )
    };
    let preflight = |origin: &str| {
        Request::options("/api/hours")
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "authorization")
            .body(Body::empty())
            .unwrap()
    };
    // The preflight carries no credentials, and is answered before the login.
    let response = send(app(), preflight(grafana)).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(header(&response, "access-control-allow-origin"), grafana);
    assert_eq!(
        header(&response, "access-control-allow-headers"),
        "Authorization"
    );
    assert!(header(&response, "access-control-allow-methods").contains("GET"));
    // The answers, 401 included, name the origin.
    for (authorization, status) in [
        ("Bearer s3cret", StatusCode::OK),
        ("Bearer no", StatusCode::UNAUTHORIZED),
    ] {
        let request = Request::get("/api/hours")
            .header("origin", grafana)
            .header("authorization", authorization)
            .body(Body::empty())
            .unwrap();
        let response = send(app(), request).await;
        assert_eq!(response.status(), status);
        assert_eq!(header(&response, "access-control-allow-origin"), grafana);
        assert!(header(&response, "vary").contains("Origin"));
    }
    // Another origin, the pages, and a server without the setting: as before.
    let response = send(app(), preflight("http://evil.example")).await;
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(header(&response, "access-control-allow-origin"), "");
    let page = Request::get("/")
        .header("origin", grafana)
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        header(&send(app(), page).await, "access-control-allow-origin"),
        ""
    );
    let response = send(locked_app(), preflight(grafana)).await;
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(header(&response, "access-control-allow-origin"), "");
    // `*` allows any origin.
    let any = router(AppState::new(Arc::new(lookup())).with_cors_allow_origins(["*".to_owned()]));
    let response = send(any, preflight("http://elsewhere.example")).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(header(&response, "access-control-allow-origin"), "*");
}
