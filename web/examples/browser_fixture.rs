//! A web server over a few fixed trees, for the browser test (`scripts/browser-test`).
//!
//! Serves the router on 127.0.0.1 with a random free port and an in-memory lookup
//! holding trees decoded from real CAT C client frames, a failing checkout tree whose
//! parent is a real tree, and a tree typed `<script>alert(1)</script>`. Prints the base URL
//! on the first line of stdout, then serves until killed.
//!
//! ```sh
//! cargo run -p ocelot-web --example browser_fixture
//! ```

use std::io::Write as _;
use std::sync::Arc;

use ocelot_protocol::{
    decode_frame, DecodeOptions, Header, Leaf, Message, MessageTree, Transaction,
};
use ocelot_web::{run, AppState, MemoryLookup};

/// The failing tree the browser test starts from.
const CHECKOUT_ID: &str = "shop-7f000001-498703-7";
/// Its parent: the real S09a caller frame.
const CALLER_ID: &str = "catgen-c0000202-498703-10041";
/// The real S02 failing frame, linked as a callee.
const PAYMENT_ID: &str = "catgen-c0000202-498703-10028";
/// The markup-injection tree.
const SCRIPT_ID: &str = "xss-7f000001-498703-1";
/// Inside hour 498703, the hour of the captured frames.
const T0_MS: u64 = 1_795_331_000_000;
/// Real frames to serve (see protocol/tests/data/cat-c-client/README.md).
const REAL_FRAMES: [u32; 14] = [1, 2, 3, 8, 10, 11, 12, 13, 14, 15, 16, 23, 24, 25];

fn real_tree(n: u32) -> MessageTree {
    let path = format!(
        "{}/../protocol/tests/data/cat-c-client/binary/{n:04}.bin",
        env!("CARGO_MANIFEST_DIR")
    );
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    decode_frame(&bytes, &DecodeOptions::default()).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn transaction(
    type_: &str,
    name: &str,
    offset_ms: u64,
    duration_ms: u64,
    status: &str,
) -> Transaction {
    let mut t = Transaction::new(type_, name, T0_MS + offset_ms);
    t.duration_us = duration_ms * 1000;
    t.status = status.to_owned();
    t
}

fn event(type_: &str, name: &str, offset_ms: u64, status: &str, data: &str) -> Message {
    Message::Event(Leaf::new(type_, name, status, T0_MS + offset_ms, data))
}

/// A checkout request that timed out calling the payment service.
fn checkout_tree() -> MessageTree {
    let mut root = transaction("URL", "/api/checkout", 0, 842, "ERROR");
    root.data = "method=POST&user=4711&cart=3 items".to_owned();
    root.children.push(event(
        "URL.Server",
        "10.0.0.7",
        0,
        "0",
        "ua=Mozilla/5.0&ip=10.0.0.99",
    ));
    let mut sql = transaction("SQL", "CartDao.findItems", 3, 12, "0");
    sql.data = "SELECT id, sku, qty FROM cart_item WHERE cart_id = ?".to_owned();
    root.children.push(Message::Transaction(sql));
    root.children.push(Message::Transaction(transaction(
        "Cache.redis",
        "get:cart",
        16,
        1,
        "0",
    )));
    let mut call = transaction("Call", "PaymentService.pay", 20, 800, "TIMEOUT");
    call.children.push(event(
        "RemoteCall",
        "PaymentService.pay",
        21,
        "0",
        PAYMENT_ID,
    ));
    root.children.push(Message::Transaction(call));
    let stack = "java.net.SocketTimeoutException: Read timed out\n\
        \tat java.net.SocketInputStream.socketRead0(Native Method)\n\
        \tat com.shop.payment.PaymentClient.pay(PaymentClient.java:88)\n\
        \tat com.shop.checkout.CheckoutService.checkout(CheckoutService.java:41)\n\
        \tat com.shop.web.CheckoutController.post(CheckoutController.java:23)";
    root.children.push(event(
        "Error",
        "java.net.SocketTimeoutException",
        821,
        "ERROR",
        stack,
    ));
    root.children.push(Message::Metric(Leaf::new(
        "",
        "checkout.failed",
        "C",
        T0_MS + 841,
        "1",
    )));
    MessageTree::new(
        Header {
            domain: "shop".to_owned(),
            hostname: "web-7".to_owned(),
            ip_address: "127.0.0.1".to_owned(),
            thread_group_name: "http".to_owned(),
            thread_id: "41".to_owned(),
            thread_name: "http-nio-8080-exec-3".to_owned(),
            message_id: CHECKOUT_ID.to_owned(),
            parent_message_id: CALLER_ID.to_owned(),
            root_message_id: CALLER_ID.to_owned(),
            session_token: String::new(),
        },
        Message::Transaction(root),
    )
}

/// Every field a page shows, typed as markup.
fn script_tree() -> MessageTree {
    let evil = "<script>alert(1)</script>";
    let mut root = transaction(evil, evil, 0, 5, evil);
    root.data = evil.to_owned();
    root.children.push(event(evil, evil, 1, "0", evil));
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

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let lookup = MemoryLookup::from_trees(
        REAL_FRAMES
            .into_iter()
            .map(real_tree)
            .chain([checkout_tree(), script_tree()]),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "http://{addr}")?;
    stdout.flush()?;
    drop(stdout);
    let state = AppState::new(Arc::new(lookup));
    run(listener, state, async {
        tokio::signal::ctrl_c().await.ok();
    })
    .await
}
