//! Shared test fixtures: trees decoded from real CAT C client frames, plus hand-made ones,
//! and a helper to call the router without a socket.

#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, Response};
use axum::Router;
use http_body_util::BodyExt;
use ocelot_protocol::sample::SampleTrees;
use ocelot_protocol::{
    decode_frame, DecodeOptions, Header, Leaf, Message, MessageTree, Transaction,
};
use ocelot_web::{router, AppState, MemoryLookup, MemoryReports};
use tower::ServiceExt;

/// S02: `Service` / `PaymentService.pay`, status ERROR.
pub const FAILED_ID: &str = "catgen-c0000202-498703-10028";
/// S09a: the RPC caller, whose `RemoteCall` event names the callee.
pub const CALLER_ID: &str = "catgen-c0000202-498703-10041";
/// S09b: the RPC callee, parent and root = the caller.
pub const CALLEE_ID: &str = "order-service-c0000202-498703-1";
/// The hand-made tree typed `<script>alert(1)</script>`.
pub const SCRIPT_ID: &str = "xss-7f000001-498703-1";
/// A valid ID nothing is stored under.
pub const UNKNOWN_ID: &str = "shop-0a000001-498703-999";

/// Decodes `protocol/tests/data/cat-c-client/binary/NNNN.bin`.
pub fn real_tree(n: u32) -> MessageTree {
    let path = format!(
        "{}/../protocol/tests/data/cat-c-client/binary/{n:04}.bin",
        env!("CARGO_MANIFEST_DIR")
    );
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    decode_frame(&bytes, &DecodeOptions::default()).unwrap()
}

/// A tree whose type, name, status and data all try to inject markup.
pub fn script_tree() -> MessageTree {
    let evil = "<script>alert(1)</script>";
    let mut root = Transaction::new(evil, evil, 1_795_331_000_000);
    root.status = evil.to_owned();
    root.data = evil.to_owned();
    root.duration_us = 5_000;
    root.children.push(Message::Event(Leaf::new(
        evil,
        evil,
        "0",
        1_795_331_000_001,
        evil,
    )));
    MessageTree::new(
        Header {
            domain: evil.to_owned(),
            hostname: evil.to_owned(),
            message_id: SCRIPT_ID.to_owned(),
            ..Header::default()
        },
        Message::Transaction(root),
    )
}

/// A lookup with real trees (failing, caller, callee) and the script tree.
pub fn lookup() -> MemoryLookup {
    MemoryLookup::from_trees([real_tree(2), real_tree(15), real_tree(16), script_tree()])
}

/// The app over [`lookup`] with default settings.
pub fn app() -> Router {
    router(AppState::new(Arc::new(lookup())))
}

/// The hour of the captured frames, 2026-11-22 07:00 UTC.
pub const HOUR: u64 = 498_703;
/// Its API label.
pub const HOUR_LABEL: &str = "2026112207";
/// "Now" for report tests: 40 minutes into [`HOUR`], so the hour has run 2400 s.
pub const NOW_MS: u64 = HOUR * 3_600_000 + 40 * 60_000;
/// Generated trees per test report set (domains `app-0` and `app-1`).
pub const SAMPLE_TREES: u64 = 600;

/// The API label of the hour before [`HOUR`], which has [`PAST_SAMPLE_TREES`] trees.
pub const PAST_HOUR_LABEL: &str = "2026112206";
/// Generated trees in the hour before [`HOUR`].
pub const PAST_SAMPLE_TREES: u64 = 120;

/// Every real binary frame (27 in [`HOUR`], two in other hours), the script tree,
/// [`SAMPLE_TREES`] generated trees spread over the first 40 minutes of [`HOUR`] and
/// [`PAST_SAMPLE_TREES`] over the hour before.
pub fn reports() -> MemoryReports {
    let mut reports = MemoryReports::new(NOW_MS);
    for n in 1..=29 {
        reports.add_tree(&real_tree(n));
    }
    reports.add_tree(&script_tree());
    let start_ms = HOUR * 3_600_000;
    let mut samples = SampleTrees::new(42, 2, 10, start_ms);
    for i in 0..SAMPLE_TREES {
        samples.now_ms = start_ms + i * 4_000;
        reports.add_tree(&samples.tree());
    }
    let mut past = SampleTrees::new(7, 2, 10, start_ms - 3_600_000);
    for i in 0..PAST_SAMPLE_TREES {
        past.now_ms = start_ms - 3_600_000 + i * 30_000;
        reports.add_tree(&past.tree());
    }
    reports
}

/// The app over [`lookup`] and [`reports`].
pub fn report_app() -> Router {
    router(AppState::new(Arc::new(lookup())).with_reports(Arc::new(reports())))
}

/// GETs `uri` and parses the JSON body, asserting the status.
pub async fn get_json(app: Router, uri: &str, status: u16) -> serde_json::Value {
    let response = get(app, uri).await;
    assert_eq!(response.status().as_u16(), status, "GET {uri}");
    let body = text(response).await;
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {uri}: {e}: {body}"))
}

/// Sends a GET through the router without a socket.
pub async fn get(app: Router, uri: &str) -> Response<Body> {
    app.oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap()
}

/// The whole body as text.
pub async fn text(response: Response<Body>) -> String {
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// The web app over `reports`, with no stored trees.
pub fn app_of(reports: MemoryReports) -> Router {
    router(AppState::new(Arc::new(MemoryLookup::new())).with_reports(Arc::new(reports)))
}

/// The HTML page at `uri`, which must answer `status`.
pub async fn html_page(app: Router, uri: &str, status: axum::http::StatusCode) -> String {
    let response = get(app, uri).await;
    assert_eq!(response.status(), status, "GET {uri}");
    assert!(header(&response, "content-type").starts_with("text/html"));
    text(response).await
}

/// The HTML page at `uri`, which must answer 200.
pub async fn ok_page(app: Router, uri: &str) -> String {
    html_page(app, uri, axum::http::StatusCode::OK).await
}

/// A header's value as text, or "" when absent.
pub fn header(response: &Response<Body>, name: &str) -> String {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}
