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
