//! CAT's `/cat/s/router`: what clients are told to connect to, in the shapes the Java and
//! C clients parse, and small enough for the C client's 2047-byte read.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use common::*;
use ocelot_web::{
    router, run, AppState, AuthConfig, BasicCredentials, CatRouterConfig, MemoryLookup,
};

/// The C client reads at most this many bytes of the response, headers included.
const C_CLIENT_READ_BYTES: usize = 2047;

fn configured_app() -> axum::Router {
    let config = CatRouterConfig {
        routers: vec![
            "10.0.0.1:2280".parse().unwrap(),
            "10.0.0.2:2281".parse().unwrap(),
        ],
        ..CatRouterConfig::default()
    };
    router(AppState::new(Arc::new(MemoryLookup::new())).with_cat_router(config))
}

#[tokio::test]
async fn router_json_answers_cat_kvs_with_string_values() {
    let response = get(
        configured_app(),
        "/cat/s/router?op=json&domain=shop&ip=10.0.0.9",
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, "connection"), "close");
    let body = text(response).await;
    assert_eq!(
        body,
        r#"{"kvs":{"routers":"10.0.0.1:2280;10.0.0.2:2281;","block":"false","sample":"1.0","startTransactionTypes":"","matchTransactionTypes":""}}"#
    );
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(json["kvs"]
        .as_object()
        .unwrap()
        .values()
        .all(serde_json::Value::is_string));
}

/// The Java 4.0 client (`cli4`) sends `op=json` with its tenant token and reads the body as
/// a Java `Map.toString()`; the C client sends `op=json` without one and gets JSON.
#[tokio::test]
async fn router_json_with_a_token_answers_the_java_4_map_form() {
    for token in ["null", "t-123"] {
        let response = get(
            configured_app(),
            &format!("/cat/s/router?op=json&domain=shop&ip=10.0.0.9&token={token}"),
        )
        .await;
        assert_eq!(response.status(), StatusCode::OK);
        let body = text(response).await;
        assert_eq!(
            body,
            "{routers=10.0.0.1:2280;10.0.0.2:2281;, block=false, sample=1.0, \
             startTransactionTypes=, matchTransactionTypes=, blocked=false, sample.ratio=1.0}"
        );
    }
}

#[tokio::test]
async fn router_xml_answers_a_property_config() {
    let response = get(configured_app(), "/cat/s/router?op=xml&domain=shop").await;
    assert!(header(&response, "content-type").contains("xml"));
    let body = text(response).await;
    assert!(body.starts_with("<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n<property-config>"));
    assert!(body.contains(r#"<property id="routers" value="10.0.0.1:2280;10.0.0.2:2281;"/>"#));
    assert!(body.contains(r#"<property id="sample" value="1.0"/>"#));
}

#[tokio::test]
async fn router_api_is_the_default_and_answers_the_plain_list() {
    for uri in [
        "/cat/s/router",
        "/cat/s/router?op=api",
        "/cat/s/router?op=whatever",
    ] {
        let response = get(configured_app(), uri).await;
        assert_eq!(header(&response, "content-length"), "28", "{uri}");
        assert_eq!(
            text(response).await,
            "10.0.0.1:2280;10.0.0.2:2281;",
            "{uri}"
        );
    }
}

#[tokio::test]
async fn router_endpoint_stays_open_when_auth_is_configured() {
    let auth = AuthConfig {
        api_token: Some("secret".into()),
        basic: Some(BasicCredentials::new("admin", "pw")),
    };
    let app = router(AppState::new(Arc::new(MemoryLookup::new())).with_auth(auth));
    let response = get(app, "/cat/s/router?op=json&domain=shop").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(text(response).await.contains("127.0.0.1:2280;"));
}

/// Sends `request` over a real socket and reads until the server closes the connection.
fn raw_exchange(addr: std::net::SocketAddr, request: &str) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = Vec::new();
    // read_to_end returns only at EOF: a server that kept the connection open would hit
    // the read timeout and fail the test.
    stream.read_to_end(&mut response).unwrap();
    response
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c_client_router_request_gets_a_small_complete_response_and_a_closed_connection() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let state = AppState::new(Arc::new(MemoryLookup::new()));
    let server = tokio::spawn(run(listener, state, async {
        stopped.await.ok();
    }));

    // Exactly what ccat sends: HTTP/1.0, absolute-form request line, Host, Connection: close.
    let request = format!(
        "GET http://127.0.0.1:{port}/cat/s/router?op=json&domain=d&ip=1.2.3.4&hostname=vm HTTP/1.0\r\n\
         Host: 127.0.0.1\r\nConnection: close\r\n\r\n",
        port = addr.port()
    );
    let response = tokio::task::spawn_blocking(move || raw_exchange(addr, &request))
        .await
        .unwrap();
    let response = String::from_utf8(response).unwrap();

    assert!(
        response.len() < C_CLIENT_READ_BYTES,
        "{} bytes",
        response.len()
    );
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(
        head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
        "{head}"
    );
    let head_lower = head.to_ascii_lowercase();
    assert!(
        !head_lower.contains("transfer-encoding"),
        "must not be chunked: {head}"
    );
    assert!(
        head_lower.contains(&format!("content-length: {}", body.len())),
        "{head}"
    );
    // The default advertises the collector port on the address the client dialled.
    assert_eq!(
        body,
        r#"{"kvs":{"routers":"127.0.0.1:2280;","block":"false","sample":"1.0","startTransactionTypes":"","matchTransactionTypes":""}}"#
    );

    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}
