//! A web server over fixed trees and reports, for the browser test (`scripts/browser-test`).
//!
//! Serves the router on 127.0.0.1 with a random free port. The lookup and the reports
//! hold the same trees: every real CAT C client frame (hour 498703, 2026-11-22 07:00 UTC),
//! a failing checkout tree whose parent is a real tree, a tree typed
//! `<script>alert(1)</script>`, generated traffic of three domains over the first 40
//! minutes of that hour and the hour before, and per-minute heartbeats of their machines;
//! and two alert rules, evaluated once. The clock stands at 07:40, inside the hour. Prints
//! the base URL on the first line of stdout, then serves until killed.
//!
//! ```sh
//! cargo run -p ocelot-web --example browser_fixture
//! ```

use std::io::Write as _;
use std::sync::Arc;

use ocelot_alert::{AlertLog, Alerting, MemoryHistory, RuleSet};
use ocelot_protocol::sample::SampleTrees;
use ocelot_protocol::{
    decode_frame, DecodeOptions, Header, Leaf, Message, MessageTree, Transaction,
};
use ocelot_web::{run, AppState, MemoryLookup, MemoryReports};

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
/// The start of hour 498703.
const HOUR_START_MS: u64 = 498_703 * 3_600_000;
/// The fixture's clock: 07:40 UTC, 40 minutes into the hour.
const NOW_MS: u64 = HOUR_START_MS + 40 * 60_000;
/// Generated trees in the current hour (spread over 40 minutes) and the hour before.
const CURRENT_HOUR_TREES: u64 = 6_000;
const PREVIOUS_HOUR_TREES: u64 = 3_000;
/// Real frames to serve (see protocol/tests/data/cat-c-client/README.md): all of them.
const REAL_FRAMES: std::ops::RangeInclusive<u32> = 1..=29;

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

/// Generated traffic: `count` trees of three domains spread evenly from `start_ms` over
/// `span_ms`.
fn generated(seed: u64, count: u64, start_ms: u64, span_ms: u64) -> Vec<MessageTree> {
    let mut samples = SampleTrees::new(seed, 3, 12, start_ms);
    (0..count)
        .map(|i| {
            samples.now_ms = start_ms + span_ms * i / count;
            samples.tree()
        })
        .collect()
}

/// A Java-client-style status heartbeat of machine `n` of `domain` at `minute`.
fn heartbeat(domain: &str, n: u32, minute: u64) -> MessageTree {
    let ip = format!("10.0.0.{n}");
    let load = 0.4 + f64::from(n) * 0.1 + (minute % 7) as f64 * 0.05;
    let heap_mb = 300 + u64::from(n) * 40 + minute * 3 % 90;
    let threads = 180 + u64::from(n) * 5 + minute % 11;
    let xml = format!(
        r#"<status><os available-processors="2" system-load-average="{load:.2}"/><memory heap-usage="{heap}" max="2147483648"/><thread count="{threads}" daemon-count="{daemon}"/><extension id="CatUsage"><extensionDetail id="Produced" value="{produced}"/><extensionDetail id="Dropped" value="0"/></extension></status>"#,
        heap = heap_mb * 1024 * 1024,
        daemon = threads - 20,
        // A running total, as CAT's client sends it: drawn per minute.
        produced = 900 + minute * 200 + minute * 37 % 50,
    );
    let ts = HOUR_START_MS + minute * 60_000 + 5_000;
    MessageTree::new(
        Header {
            domain: domain.to_owned(),
            hostname: format!("host-{n}"),
            ip_address: ip,
            ..Header::default()
        },
        Message::Heartbeat(Leaf::new("Heartbeat", "10.0.0.1", "0", ts, xml)),
    )
}

/// The Alerts page's rules: a threshold rule with a suppression window, and a baseline
/// rule, which has no baseline in the fixture and says so: the longest condition the page
/// writes.
const ALERT_RULES: &str = r#"
[[rule]]
id = "order-create-p95"
domain = "app-0"
report = "transaction"
type = "URL"
name = "/api/order/create/{num}"
measure = "p95"
above = 200.0
for_minutes = 3
resolve_minutes = 2
suppress_minutes = 45

[[rule]]
id = "app-0-traffic-drop"
domain = "app-0"
report = "transaction"
type = "URL"
measure = "count"
baseline = "below"
"#;

/// The alert log after one evaluation of [`ALERT_RULES`] at the fixture's clock.
fn alerts() -> AlertLog {
    let rules = RuleSet::from_toml_str(ALERT_RULES, None).expect("the fixture's rules parse");
    let mut alerting = Alerting::new(rules);
    let mut live = MemoryHistory::new();
    for wanted in alerting.wanted_reports(NOW_MS) {
        live.cover(wanted.hour);
    }
    alerting.tick(NOW_MS, &live);
    alerting.log()
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut trees: Vec<MessageTree> = REAL_FRAMES
        .map(real_tree)
        .chain([checkout_tree(), script_tree()])
        .collect();
    trees.extend(generated(
        42,
        CURRENT_HOUR_TREES,
        HOUR_START_MS,
        40 * 60_000,
    ));
    trees.extend(generated(
        7,
        PREVIOUS_HOUR_TREES,
        HOUR_START_MS - 3_600_000,
        3_600_000,
    ));
    let mut reports = MemoryReports::new(NOW_MS);
    reports.add_trees(&trees);
    for minute in 0..40 {
        for n in 1..=3 {
            reports.add_tree(&heartbeat("app-0", n, minute));
        }
    }
    let state = reports.state_mut(498_703);
    state.record_drops(HOUR_START_MS + 12 * 60_000, "problem", "queue_full", 17);
    state.record_decode_errors(HOUR_START_MS + 31 * 60_000, "bad_magic", 2);
    let lookup = MemoryLookup::from_trees(trees);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "http://{addr}")?;
    stdout.flush()?;
    drop(stdout);
    let state = AppState::new(Arc::new(lookup))
        .with_reports(Arc::new(reports))
        .with_alerts(alerts());
    run(listener, state, async {
        tokio::signal::ctrl_c().await.ok();
    })
    .await
}
