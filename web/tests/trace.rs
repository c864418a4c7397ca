//! The trace page and `/api/trace`: the trees of one request across services, found from
//! any of its message IDs by the links LogView shows.

mod common;

use std::sync::Arc;

use axum::http::StatusCode;
use axum::Router;
use common::*;
use ocelot_protocol::{Header, Leaf, Message, MessageTree, Transaction};
use ocelot_web::{router, AppState, MemoryLookup};

const GATEWAY_ID: &str = "gateway-0a000001-498703-1";
const ORDER_ID: &str = "order-service-0a000002-498703-7";
const PAYMENT_ID: &str = "payment-service-0a000003-498703-3";
/// 2026-11-22 07:10 UTC, in [`HOUR`].
const START_MS: u64 = HOUR * 3_600_000 + 600_000;

/// A tree of `domain` on `ip`, its root `type_`/`name` at `start_ms` lasting `duration_ms`,
/// with one `RemoteCall` event per ID in `calls` (inside a `Call` transaction, as CAT's
/// clients log them), and the header's `parent` and `root` IDs.
fn tree(
    id: &str,
    (domain, ip): (&str, &str),
    (type_, name): (&str, &str),
    (start_ms, duration_ms): (u64, u64),
    calls: &[&str],
    (parent, root): (&str, &str),
) -> MessageTree {
    let mut top = Transaction::new(type_, name, start_ms);
    top.duration_us = duration_ms * 1000;
    for (i, callee) in calls.iter().enumerate() {
        let at = start_ms + 1 + i as u64;
        let mut call = Transaction::new("Call", format!("call.{i}"), at);
        call.duration_us = 1000;
        call.children.push(Message::Event(Leaf::new(
            "RemoteCall",
            format!("Remote.{i}"),
            "0",
            at,
            *callee,
        )));
        top.children.push(Message::Transaction(call));
    }
    MessageTree::new(
        Header {
            domain: domain.to_owned(),
            hostname: format!("{domain}-host"),
            ip_address: ip.to_owned(),
            message_id: id.to_owned(),
            parent_message_id: parent.to_owned(),
            root_message_id: root.to_owned(),
            ..Header::default()
        },
        Message::Transaction(top),
    )
}

/// gateway → order-service → payment-service, the payment failing.
fn three_services() -> Vec<MessageTree> {
    let gateway = tree(
        GATEWAY_ID,
        ("gateway", "10.0.0.1"),
        ("URL", "/api/order"),
        (START_MS, 120),
        &[ORDER_ID],
        ("", ""),
    );
    let order = tree(
        ORDER_ID,
        ("order-service", "10.0.0.2"),
        ("Service", "OrderService.create"),
        (START_MS + 5, 100),
        &[PAYMENT_ID],
        (GATEWAY_ID, GATEWAY_ID),
    );
    let mut payment = tree(
        PAYMENT_ID,
        ("payment-service", "10.0.0.3"),
        ("Service", "PaymentService.pay"),
        (START_MS + 20, 60),
        &[],
        (ORDER_ID, GATEWAY_ID),
    );
    if let Message::Transaction(t) = &mut payment.root {
        t.status = "ERROR".to_owned();
    }
    vec![gateway, order, payment]
}

fn app_with(trees: Vec<MessageTree>) -> Router {
    router(AppState::new(Arc::new(MemoryLookup::from_trees(trees))))
}

/// Where each of `needles` first appears in `html`, asserting each does.
fn positions(html: &str, needles: &[&str]) -> Vec<usize> {
    needles
        .iter()
        .map(|n| html.find(n).unwrap_or_else(|| panic!("{n} not in {html}")))
        .collect()
}

#[tokio::test]
async fn trace_asked_by_the_middle_id_shows_all_three_services_in_order() {
    let html = ok_page(app_with(three_services()), &format!("/trace/{ORDER_ID}")).await;
    // Each tree's head row: service, machine, and its LogView link, root first.
    let heads = positions(
        &html,
        &[
            r#"<span class="service">gateway</span>"#,
            r#"<span class="service">order-service</span>"#,
            r#"<span class="service">payment-service</span>"#,
        ],
    );
    assert!(heads.windows(2).all(|w| w[0] < w[1]), "{heads:?}");
    for ip in ["10.0.0.1", "10.0.0.2", "10.0.0.3"] {
        assert!(html.contains(&format!(r#"">{ip}</span>"#)), "{ip}: {html}");
    }
    for id in [GATEWAY_ID, ORDER_ID, PAYMENT_ID] {
        assert!(
            html.contains(&format!(r#"<a class="tree-link" href="/m/{id}""#)),
            "{id}: {html}"
        );
    }
    // Each callee sits under the RemoteCall that named it, one level deeper.
    let rows = positions(&html, &["OrderService.create", "PaymentService.pay"]);
    let calls = positions(&html, &["Remote.<wbr>0"]);
    assert!(calls[0] < rows[0], "the gateway's call comes first");
    assert!(
        html.contains(r#"<tr class="trace-tree asked" id="tree-order-service-0a000002-498703-7"><td colspan="5" style="--depth:3">"#),
        "the asked tree is marked, under gateway's URL (0) > Call (1) > RemoteCall (2): {html}"
    );
    assert!(html.contains(r#"<span class="badge neutral">asked for</span>"#));
    assert_eq!(html.matches("asked for</span>").count(), 1);
    assert!(
        html.contains(r#"class="row transaction failed""#),
        "the payment failed"
    );
    // The gateway answered OK; only a callee failed.
    assert!(!html.contains("This request failed"), "{html}");
    assert!(html.contains(r#"<span class="badge ok">This request succeeded</span>"#));
    assert!(html.contains("1 of 3 services had failures: payment-service</span>"));
    // The services in order of appearance, not as a chain.
    assert!(
        html.contains("<dd>gateway, order-service, payment-service</dd>"),
        "{html}"
    );
    assert!(
        html.contains("by its own machine's clock"),
        "the clock note"
    );
    assert!(!html.contains("The walk stopped"), "nothing truncated");
    // The request's duration: the gateway's root transaction's, which here also spans
    // every tree, so no separate span.
    assert!(html.contains(r#"<span class="duration-big" title="The request's duration: the root transaction's">120 ms</span>"#), "{html}");
    assert!(!html.contains("All trees span"), "{html}");
}

#[tokio::test]
async fn trace_asked_by_the_last_id_climbs_to_the_root() {
    let json = get_json(
        app_with(three_services()),
        &format!("/api/trace?id={PAYMENT_ID}"),
        200,
    )
    .await;
    let ids: Vec<&str> = (json["trees"].as_array().unwrap().iter())
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [GATEWAY_ID, ORDER_ID, PAYMENT_ID]);
    assert_eq!(json["rootId"], GATEWAY_ID);
}

#[tokio::test]
async fn a_child_that_is_not_stored_shows_a_row_saying_so() {
    let mut trees = three_services();
    trees.pop(); // payment-service never arrived
    let app = app_with(trees);
    let html = ok_page(app.clone(), &format!("/trace/{GATEWAY_ID}")).await;
    let missing = html
        .find(r#"<tr class="row missing""#)
        .unwrap_or_else(|| panic!("no missing row: {html}"));
    let row = &html[missing..];
    let row = &row[..row.find("</tr>").unwrap()];
    // order-service's head sits at 3, its RemoteCall at 3 + 2.
    assert!(
        row.contains(r#"style="--depth:6""#),
        "under order's RemoteCall: {row}"
    );
    assert!(row.contains("not found"), "{row}");
    assert!(
        row.contains(&format!("callee <a href=\"/m/{PAYMENT_ID}\">")),
        "{row}"
    );
    assert!(row.contains("may not have arrived yet"), "{row}");
    let json = get_json(app, &format!("/api/trace?id={GATEWAY_ID}"), 200).await;
    assert_eq!(json["trees"].as_array().unwrap().len(), 2);
    assert_eq!(json["missing"][0]["id"], PAYMENT_ID);
    assert_eq!(json["missing"][0]["parentId"], ORDER_ID);
    assert_eq!(json["missing"][0]["link"], "callee");
    assert!(json["missing"][0]["why"]
        .as_str()
        .unwrap()
        .contains("may not have arrived yet"));
    assert_eq!(json["truncated"], false);
}

/// Two trees naming each other (and one naming itself): each shown once, the loop closing
/// with a note that points back.
#[tokio::test]
async fn a_cycle_of_links_ends_where_it_closes() {
    let a = tree(
        GATEWAY_ID,
        ("gateway", "10.0.0.1"),
        ("URL", "/loop"),
        (START_MS, 10),
        &[ORDER_ID, GATEWAY_ID],
        (ORDER_ID, ORDER_ID),
    );
    let b = tree(
        ORDER_ID,
        ("order-service", "10.0.0.2"),
        ("Service", "Loop.back"),
        (START_MS + 1, 5),
        &[GATEWAY_ID],
        (GATEWAY_ID, GATEWAY_ID),
    );
    let app = app_with(vec![a, b]);
    let json = get_json(app.clone(), &format!("/api/trace?id={ORDER_ID}"), 200).await;
    let ids: Vec<&str> = (json["trees"].as_array().unwrap().iter())
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [GATEWAY_ID, ORDER_ID], "{json}");
    assert_eq!(json["missing"], serde_json::json!([]));
    let html = ok_page(app, &format!("/trace/{GATEWAY_ID}")).await;
    assert_eq!(html.matches(r#"<span class="service">"#).count(), 2);
    assert!(html.contains(
        r##"<a href="#tree-gateway-0a000001-498703-1">shown elsewhere in this trace</a>"##
    ));
    assert!(
        html.contains(r#"id="tree-gateway-0a000001-498703-1""#),
        "the note's target"
    );
}

#[tokio::test]
async fn api_trace_lists_each_tree_with_its_link_and_json() {
    let json = get_json(
        app_with(three_services()),
        &format!("/api/trace?id={ORDER_ID}"),
        200,
    )
    .await;
    assert_eq!(json["id"], ORDER_ID);
    assert_eq!(json["rootId"], GATEWAY_ID);
    assert_eq!(json["truncated"], false);
    assert_eq!(json["missing"], serde_json::json!([]));
    let trees = json["trees"].as_array().unwrap();
    let gateway = &trees[0];
    assert_eq!(gateway["domain"], "gateway");
    assert_eq!(gateway["ip"], "10.0.0.1");
    assert_eq!(gateway["parentId"], serde_json::Value::Null);
    assert_eq!(gateway["link"], serde_json::Value::Null);
    assert_eq!(gateway["remoteCall"], serde_json::Value::Null);
    let order = &trees[1];
    assert_eq!(order["domain"], "order-service");
    assert_eq!(order["ip"], "10.0.0.2");
    assert_eq!(order["parentId"], GATEWAY_ID);
    assert_eq!(order["link"], "callee");
    assert_eq!(order["remoteCall"]["type"], "RemoteCall");
    assert_eq!(order["remoteCall"]["name"], "Remote.0");
    assert_eq!(order["remoteCall"]["data"], ORDER_ID);
    // The tree as /api/message gives it.
    assert_eq!(order["tree"]["format"], "NT1");
    assert_eq!(order["tree"]["header"]["messageId"], ORDER_ID);
    assert_eq!(order["tree"]["root"]["name"], "OrderService.create");
    assert_eq!(trees[2]["tree"]["root"]["status"], "ERROR");
    let mut keys: Vec<&str> = order
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "domain",
            "id",
            "ip",
            "link",
            "parentId",
            "remoteCall",
            "tree"
        ]
    );
}

#[tokio::test]
async fn api_trace_refuses_bad_ids_and_unknown_params_and_404s_unknown_ids() {
    let app = app_with(three_services());
    let json = get_json(app.clone(), "/api/trace?id=nope", 400).await;
    assert!(
        json["error"].as_str().unwrap().contains("not a message ID"),
        "{json}"
    );
    let json = get_json(app.clone(), "/api/trace", 400).await;
    assert!(
        json["error"].as_str().unwrap().contains("id= is required"),
        "{json}"
    );
    let json = get_json(app.clone(), &format!("/api/trace?id={UNKNOWN_ID}"), 404).await;
    assert!(
        json["error"].as_str().unwrap().contains(UNKNOWN_ID),
        "{json}"
    );
    assert_eq!(
        json["code"], "unknown_id",
        "as /api/message says it: {json}"
    );
    let json = get_json(
        app.clone(),
        &format!("/api/trace?id={ORDER_ID}&depth=3"),
        400,
    )
    .await;
    assert_eq!(json["param"], "depth");
    assert_eq!(json["takes"], serde_json::json!(["id"]));
    let html = html_page(app.clone(), "/trace/nope", StatusCode::BAD_REQUEST).await;
    assert!(html.contains("Not a message ID"));
    let html = html_page(app, &format!("/trace/{UNKNOWN_ID}"), StatusCode::NOT_FOUND).await;
    assert!(html.contains("No such message"));
    assert!(html.contains("may not have arrived yet"), "{html}");
}

/// The root's header names a tree that is not stored: the trace starts with a row saying
/// so, the tree asked for under it (its parent ID names it).
#[tokio::test]
async fn a_root_that_is_not_stored_heads_the_trace_as_missing() {
    let mut trees = three_services();
    trees.remove(0); // the gateway's tree is gone
    let app = app_with(trees);
    let json = get_json(app.clone(), &format!("/api/trace?id={PAYMENT_ID}"), 200).await;
    assert_eq!(json["rootId"], GATEWAY_ID);
    assert_eq!(json["missing"][0]["id"], GATEWAY_ID);
    let ids: Vec<&str> = (json["trees"].as_array().unwrap().iter())
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [ORDER_ID, PAYMENT_ID]);
    assert_eq!(json["trees"][0]["link"], "parentId");
    assert_eq!(json["trees"][0]["parentId"], GATEWAY_ID);
    let html = ok_page(app, &format!("/trace/{PAYMENT_ID}")).await;
    let at = positions(
        &html,
        &[
            r#"<tr class="row missing""#,
            r#"<span class="service">order-service</span>"#,
        ],
    );
    assert!(at[0] < at[1], "{html}");
    assert!(html.contains("linked only by its header's parent ID"));
}

/// A callee whose caller logged no RemoteCall event: its header's parent ID still puts it
/// in the trace, after its parent's rows.
#[tokio::test]
async fn a_tree_named_only_by_its_parent_id_hangs_under_its_parent() {
    let mut trees = three_services();
    // order-service logged no RemoteCall for the payment.
    trees[1] = tree(
        ORDER_ID,
        ("order-service", "10.0.0.2"),
        ("Service", "OrderService.create"),
        (START_MS + 5, 100),
        &[],
        (GATEWAY_ID, GATEWAY_ID),
    );
    let json = get_json(app_with(trees), &format!("/api/trace?id={PAYMENT_ID}"), 200).await;
    let ids: Vec<&str> = (json["trees"].as_array().unwrap().iter())
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [GATEWAY_ID, ORDER_ID, PAYMENT_ID]);
    assert_eq!(json["trees"][2]["link"], "parentId");
    assert_eq!(json["trees"][2]["remoteCall"], serde_json::Value::Null);
}

/// A root calling more trees than the walk takes: it stops at its bound and says so.
#[tokio::test]
async fn a_trace_past_the_bound_stops_and_says_so() {
    let callees: Vec<String> = (1..=250)
        .map(|seq| format!("order-service-0a000002-498703-{seq}"))
        .collect();
    let calls: Vec<&str> = callees.iter().map(String::as_str).collect();
    let mut trees = vec![tree(
        GATEWAY_ID,
        ("gateway", "10.0.0.1"),
        ("URL", "/fan-out"),
        (START_MS, 300),
        &calls,
        ("", ""),
    )];
    for id in &callees {
        trees.push(tree(
            id,
            ("order-service", "10.0.0.2"),
            ("Service", "OrderService.get"),
            (START_MS + 10, 5),
            &[],
            (GATEWAY_ID, GATEWAY_ID),
        ));
    }
    let app = app_with(trees);
    let json = get_json(app.clone(), &format!("/api/trace?id={GATEWAY_ID}"), 200).await;
    assert_eq!(json["trees"].as_array().unwrap().len(), 200);
    assert_eq!(json["truncated"], true);
    let html = ok_page(app, &format!("/trace/{GATEWAY_ID}")).await;
    assert!(
        html.contains("The walk stopped at its bound (200 trees"),
        "{html}"
    );
    assert!(html.contains(
        r#"<a href="/m/order-service-0a000002-498703-250"><code>order-service-0a000002-498703-250</code></a> not followed"#
    ));
}

/// A tree with more RemoteCall events than the page draws rows (10 000) listed a note for
/// every link past the walk's bound, under rows it did not draw: one tree of 100 000 calls
/// made a 25 MB page. The notes stop with the rows.
#[tokio::test]
async fn links_not_followed_are_listed_only_under_the_rows_drawn() {
    // Each call is two rows (its `Call` transaction, then its `RemoteCall` event) after
    // the root's: the event of call `i` is row `2 i + 2`, so calls 0..=4998 are drawn.
    let callees: Vec<String> = (0..5500)
        .map(|i| format!("order-service-0a000002-498703-{i}"))
        .collect();
    let calls: Vec<&str> = callees.iter().map(String::as_str).collect();
    let app = app_with(vec![tree(
        GATEWAY_ID,
        ("gateway", "10.0.0.1"),
        ("URL", "/fan-out"),
        (START_MS, 300),
        &calls,
        ("", ""),
    )]);
    let html = ok_page(app, &format!("/trace/{GATEWAY_ID}")).await;
    let note =
        |i: usize| format!("<code>order-service-0a000002-498703-{i}</code></a> not followed");
    assert!(
        html.contains(&note(4998)),
        "the last call drawn keeps its note"
    );
    assert!(!html.contains(&note(4999)), "a note under a row not drawn");
    assert!(!html.contains(&note(5499)), "a note under a row not drawn");
    assert!(
        html.contains("The first 10,000 of"),
        "the page says rows are left out"
    );
}

/// A chain deeper than the walk goes, asked by its last tree: the walk down from the root
/// stops at its depth bound, and the tree asked for is still shown.
#[tokio::test]
async fn a_chain_past_the_depth_bound_still_shows_the_tree_asked_for() {
    let id = |n: u64| format!("svc{n}-0a000001-498703-{n}");
    let last = 40;
    let trees: Vec<MessageTree> = (0..=last)
        .map(|n| {
            let callee = id(n + 1);
            let calls: &[&str] = if n < last { &[callee.as_str()] } else { &[] };
            let parent = if n == 0 { String::new() } else { id(n - 1) };
            tree(
                &id(n),
                (&format!("svc{n}"), "10.0.0.1"),
                ("Service", "hop"),
                (START_MS + n, 100),
                calls,
                (&parent, &id(0)),
            )
        })
        .collect();
    let json = get_json(app_with(trees), &format!("/api/trace?id={}", id(last)), 200).await;
    assert_eq!(json["truncated"], true);
    let ids: Vec<&str> = (json["trees"].as_array().unwrap().iter())
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.first().copied(), Some(id(0).as_str()));
    assert!(ids.contains(&id(last).as_str()), "{ids:?}");
}

#[tokio::test]
async fn logview_links_the_whole_trace_only_for_linked_trees() {
    let app = app_with(three_services());
    for id in [GATEWAY_ID, ORDER_ID, PAYMENT_ID] {
        let html = ok_page(app.clone(), &format!("/m/{id}")).await;
        assert!(
            html.contains(&format!(r#"<a class="trace-link" href="/trace/{id}""#)),
            "{id}: {html}"
        );
    }
    let html = ok_page(app_of_real_trees(), &format!("/m/{FAILED_ID}")).await;
    assert!(!html.contains("trace-link"), "a tree with no links: {html}");
    let html = ok_page(app_of_real_trees(), &format!("/m/{CALLER_ID}")).await;
    assert!(html.contains("trace-link"), "a caller of a real client");
}

fn app_of_real_trees() -> Router {
    app()
}

/// The captured CAT C client's caller and callee make one trace.
#[tokio::test]
async fn the_real_clients_caller_and_callee_make_one_trace() {
    let json = get_json(app(), &format!("/api/trace?id={CALLEE_ID}"), 200).await;
    let ids: Vec<&str> = (json["trees"].as_array().unwrap().iter())
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [CALLER_ID, CALLEE_ID], "{json}");
}

/// The root transaction failing is what makes the request fail.
#[tokio::test]
async fn the_request_fails_by_its_root_transaction() {
    let mut trees = three_services();
    if let Message::Transaction(t) = &mut trees[0].root {
        t.status = "500".to_owned();
    }
    let html = ok_page(app_with(trees), &format!("/trace/{PAYMENT_ID}")).await;
    assert!(html.contains(r#"<span class="badge fail">This request failed</span>"#));
    assert!(html.contains("2 of 3 services had failures: gateway, payment-service</span>"));
    assert!(!html.contains("This request succeeded"));
}

/// The headline duration and start are the root transaction's, whatever a callee's clock
/// or a tree that outlives the request says; the span of all the trees is told apart.
#[tokio::test]
async fn the_headline_is_the_root_transactions_duration_and_start() {
    let duration = |html: &str| {
        let at = html.find(r#"<span class="duration-big""#).unwrap();
        let span = &html[at..];
        let span = &span[span.find('>').unwrap() + 1..span.find("</span>").unwrap()];
        span.to_owned()
    };
    // A callee that runs on after the request answered (as a detached thread does).
    let long_callee = vec![
        tree(
            GATEWAY_ID,
            ("gateway", "10.0.0.1"),
            ("URL", "/api/checkout"),
            (START_MS, 500),
            &[ORDER_ID],
            ("", ""),
        ),
        tree(
            ORDER_ID,
            ("order-service", "10.0.0.2"),
            ("Service", "Late.work"),
            (START_MS + 5, 700),
            &[],
            (GATEWAY_ID, GATEWAY_ID),
        ),
    ];
    let html = ok_page(app_with(long_callee), &format!("/trace/{ORDER_ID}")).await;
    assert_eq!(duration(&html), "500 ms", "{html}");
    assert!(html.contains("All trees span</dt>"), "{html}");
    assert!(html.contains(">705 ms</dd>"), "{html}");
    // A callee whose clock is 3 s behind.
    let skewed = vec![
        tree(
            GATEWAY_ID,
            ("gateway", "10.0.0.1"),
            ("URL", "/skew"),
            (START_MS, 200),
            &[ORDER_ID],
            ("", ""),
        ),
        tree(
            ORDER_ID,
            ("order-service", "10.0.0.2"),
            ("Service", "Skewed.clock"),
            (START_MS - 3000, 150),
            &[],
            (GATEWAY_ID, GATEWAY_ID),
        ),
    ];
    let html = ok_page(app_with(skewed), &format!("/trace/{GATEWAY_ID}")).await;
    assert_eq!(duration(&html), "200 ms", "{html}");
    assert!(
        html.contains("<dt>Started</dt><dd>2026-11-22 07:10:00.000 UTC</dd>"),
        "the root's start, not the callee's: {html}"
    );
    assert!(html.contains(">3.20 s</dd>"), "{html}");
}

/// Without the root tree, the earliest tree found stands in for the request, labelled.
#[tokio::test]
async fn without_the_root_tree_the_earliest_tree_stands_in_labelled() {
    let mut trees = three_services();
    trees.remove(0);
    let html = ok_page(app_with(trees), &format!("/trace/{PAYMENT_ID}")).await;
    assert!(
        html.contains("Service OrderService.create</span>"),
        "the earliest tree's name: {html}"
    );
    assert!(html.contains("(the earliest tree found: the root tree is not stored)"));
    assert!(
        html.contains("<dt>Earliest tree started</dt><dd>2026-11-22 07:10:00.005 UTC</dd>"),
        "{html}"
    );
    assert!(
        html.contains(r#"title="The earliest tree's root transaction's duration">100 ms</span>"#)
    );
    assert!(html.contains("how the request ended is not known"));
    assert!(!html.contains("This request succeeded"));
    assert!(!html.contains("This request failed"));
}

/// Asked from a tree past the trees bound: still at most the bound, the tree asked for in
/// the last one's place, and the page says which.
#[tokio::test]
async fn a_tree_asked_for_past_the_bound_replaces_the_last_one() {
    let callees: Vec<String> = (1..=250)
        .map(|seq| format!("order-service-0a000002-498703-{seq}"))
        .collect();
    let calls: Vec<&str> = callees.iter().map(String::as_str).collect();
    let mut trees = vec![tree(
        GATEWAY_ID,
        ("gateway", "10.0.0.1"),
        ("URL", "/fan-out"),
        (START_MS, 300),
        &calls,
        ("", ""),
    )];
    for id in &callees {
        trees.push(tree(
            id,
            ("order-service", "10.0.0.2"),
            ("Service", "OrderService.get"),
            (START_MS + 10, 5),
            &[],
            (GATEWAY_ID, GATEWAY_ID),
        ));
    }
    let app = app_with(trees);
    let asked = "order-service-0a000002-498703-250";
    let replaced = "order-service-0a000002-498703-199";
    let json = get_json(app.clone(), &format!("/api/trace?id={asked}"), 200).await;
    let ids: Vec<&str> = (json["trees"].as_array().unwrap().iter())
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len() + json["missing"].as_array().unwrap().len(), 200);
    assert!(ids.contains(&asked), "{ids:?}");
    assert!(!ids.contains(&replaced), "{ids:?}");
    assert_eq!(ids[0], GATEWAY_ID);
    assert_eq!(json["truncated"], true);
    let html = ok_page(app, &format!("/trace/{asked}")).await;
    assert!(
        html.contains(&format!(
            r#"it is shown in place of <a href="/m/{replaced}"><code>{replaced}</code></a>"#
        )),
        "{html}"
    );
    assert!(
        html.contains(&format!(
            r#"<a href="/m/{replaced}"><code>{replaced}</code></a> not followed"#
        )),
        "{html}"
    );
    assert_eq!(html.matches("asked for</span>").count(), 1);
}
