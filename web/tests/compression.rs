//! Gzip: large API answers and pages are compressed for a client that sends
//! `Accept-Encoding: gzip`; small answers, clients that do not ask, and CAT's router
//! endpoint get them as they are.

mod common;

use std::io::Read as _;
use std::sync::Arc;

use axum::body::{Body, HttpBody as _};
use axum::http::{Request, Response};
use axum::Router;
use common::*;
use http_body_util::BodyExt;
use ocelot_web::{router, AppState, CatRouterConfig, MemoryLookup};
use tower::ServiceExt;

/// GETs `uri` with `Accept-Encoding: accept`.
async fn get_accepting(app: Router, uri: &str, accept: &str) -> Response<Body> {
    let request = Request::get(uri)
        .header("accept-encoding", accept)
        .body(Body::empty())
        .unwrap();
    app.oneshot(request).await.unwrap()
}

async fn bytes(response: Response<Body>) -> Vec<u8> {
    response
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec()
}

fn gunzip(compressed: &[u8]) -> Vec<u8> {
    let mut plain = Vec::new();
    flate2::bufread::GzDecoder::new(compressed)
        .take(64 << 20)
        .read_to_end(&mut plain)
        .unwrap();
    plain
}

fn transaction_uri() -> String {
    format!("/api/transaction?domain=app-0&hour={HOUR_LABEL}")
}

/// A busy domain's `/api/transaction` went out as megabytes of plain JSON.
#[tokio::test]
async fn a_large_api_answer_is_gzipped_for_a_client_that_accepts_gzip() {
    let app = report_app();
    let plain = get_accepting(app.clone(), &transaction_uri(), "identity").await;
    assert_eq!(plain.status(), 200);
    assert!(plain.headers().get("content-encoding").is_none());
    // Caches keep the two apart.
    assert_eq!(header(&plain, "vary"), "accept-encoding");
    let plain = bytes(plain).await;

    let gzipped = get_accepting(app, &transaction_uri(), "gzip, deflate, br").await;
    assert_eq!(gzipped.status(), 200);
    assert_eq!(header(&gzipped, "content-encoding"), "gzip");
    assert_eq!(header(&gzipped, "vary"), "accept-encoding");
    assert!(header(&gzipped, "content-type").starts_with("application/json"));
    // The API's own headers stay.
    assert_eq!(header(&gzipped, "cache-control"), "no-cache");
    // Whole and of known length: the server's answer budget counts exactly these bytes
    // (it lets answers of unknown length through uncounted).
    let length = gzipped.body().size_hint().exact();
    let compressed = bytes(gzipped).await;
    assert_eq!(length, Some(compressed.len() as u64));
    assert!(
        compressed.len() * 3 < plain.len(),
        "{} of {}",
        compressed.len(),
        plain.len()
    );
    assert_eq!(gunzip(&compressed), plain);
}

#[tokio::test]
async fn pages_are_gzipped_too() {
    let uri = format!("/t?domain=app-0&hour={HOUR_LABEL}");
    let response = get_accepting(report_app(), &uri, "gzip").await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "content-encoding"), "gzip");
    let page = String::from_utf8(gunzip(&bytes(response).await)).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>"), "{page:.100}");
}

#[tokio::test]
async fn small_answers_and_clients_that_refuse_gzip_get_plain_answers() {
    let app = report_app();
    // An error is a few hundred bytes: not worth it.
    let response = get_accepting(app.clone(), "/api/nothing", "gzip").await;
    assert_eq!(response.status(), 404);
    assert!(response.headers().get("content-encoding").is_none());
    assert!(response.headers().get("vary").is_none());
    for refusing in ["gzip;q=0", "br", ""] {
        let response = get_accepting(app.clone(), &transaction_uri(), refusing).await;
        assert!(
            response.headers().get("content-encoding").is_none(),
            "{refusing:?}"
        );
    }
    let response = get(app, &transaction_uri()).await;
    assert!(response.headers().get("content-encoding").is_none());
}

/// CAT clients read the router endpoint's bytes raw, whatever they send.
#[tokio::test]
async fn the_router_endpoint_is_never_gzipped() {
    let config = CatRouterConfig {
        // Enough routers for an answer past the size that is gzipped elsewhere.
        routers: (1..=100)
            .map(|n| format!("10.0.0.{n}:2280").parse().unwrap())
            .collect(),
        ..CatRouterConfig::default()
    };
    let app = router(AppState::new(Arc::new(MemoryLookup::new())).with_cat_router(config));
    let response = get_accepting(app, "/cat/s/router?op=api&domain=shop", "gzip").await;
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("content-encoding").is_none());
    let body = bytes(response).await;
    assert!(body.len() > 1024, "{}", body.len());
    assert!(body.starts_with(b"10.0.0.1:2280;"));
}
