//! Shared test fixtures: trees decoded from real CAT C client frames, plus hand-made ones,
//! and a helper to call the router without a socket.

#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, Response};
use axum::Router;
use http_body_util::BodyExt;
use ocelot_protocol::{
    decode_frame, DecodeOptions, Header, Leaf, Message, MessageTree, Transaction,
};
use ocelot_web::{router, AppState, MemoryLookup};
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

/// A header's value as text, or "" when absent.
pub fn header(response: &Response<Body>, name: &str) -> String {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}
