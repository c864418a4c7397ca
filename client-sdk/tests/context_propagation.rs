//! A caller's `Context` links the callee's tree to its own, across threads and through HTTP
//! headers, with two services (clients) in one process.

mod support;

use std::collections::HashMap;

use ocelot_client::{in_transaction, transaction, with_client, Client, Context, MemorySink};
use ocelot_protocol::MessageId;
use support::{memory_client, runtime, sent_trees};

#[test]
fn callee_tree_takes_the_child_id_and_points_at_the_caller() {
    let (order, order_sink) = memory_client("order-service");
    let (payment, payment_sink) = memory_client("payment-service");
    let (tx, rx) = std::sync::mpsc::channel::<HashMap<String, String>>();
    let callee = {
        let payment = payment.clone();
        std::thread::spawn(move || {
            payment.bind_to_current_thread();
            let headers = rx.recv().unwrap();
            let ctx = Context::from_headers(|name| headers.get(name).map(String::as_str)).unwrap();
            let _t = transaction!("Service", "PaymentService.pay");
            // A tree is open: it takes the IDs at once, and the guard has nothing to withdraw.
            let _adopted = ctx.adopt();
        })
    };
    with_client(&order, || {
        let _t = transaction!("URL", "/api/order");
        let ctx = Context::for_remote_call("payment-service", "PaymentService.pay").unwrap();
        let mut headers = HashMap::new();
        ctx.inject(|k, v| {
            headers.insert(k.to_owned(), v.to_owned());
        });
        tx.send(headers).unwrap();
    });
    callee.join().unwrap();

    let caller = &sent_trees(&order, &order_sink)[0];
    let callee = &sent_trees(&payment, &payment_sink)[0];
    let remote_call = &caller.root.children()[0];
    assert_eq!(
        (remote_call.type_(), remote_call.name()),
        ("RemoteCall", "PaymentService.pay")
    );
    assert_eq!(remote_call.data(), callee.header.message_id);
    assert_eq!(callee.header.parent_message_id, caller.header.message_id);
    assert_eq!(callee.header.root_message_id, caller.header.message_id);
    assert_eq!(callee.header.domain, "payment-service");
    let child: MessageId = callee.header.message_id.parse().unwrap();
    assert_eq!(child.domain, "payment-service");
    assert_eq!(child.ip_dotted(), "192.0.2.7");
}

/// An order service and a payment service, and the context of one call from an order
/// request to the payment service (the caller's tree still to be flushed).
fn order_calls_payment() -> ((Client, MemorySink), (Client, MemorySink), Context) {
    let order = memory_client("order-service");
    let payment = memory_client("payment-service");
    let ctx = with_client(&order.0, || {
        let _t = transaction!("URL", "/api/order");
        Context::for_remote_call("payment-service", "call").unwrap()
    });
    (order, payment, ctx)
}

#[test]
fn a_context_adopted_before_the_transaction_applies_to_the_next_root() {
    let ((order, order_sink), (payment, payment_sink), ctx) = order_calls_payment();
    let expected = ctx.clone();
    with_client(&payment, || {
        let _adopted = ctx.adopt();
        let _t = transaction!("Service", "pay");
    });
    let callee = &sent_trees(&payment, &payment_sink)[0];
    assert_eq!(callee.header.message_id, expected.child_id);
    assert_eq!(callee.header.parent_message_id, expected.parent_id);
    assert_eq!(callee.header.root_message_id, expected.root_id);
    // A second tree on the same thread is unlinked again.
    with_client(&payment, || {
        let _t = transaction!("Service", "other");
    });
    let trees = sent_trees(&payment, &payment_sink);
    assert_eq!(trees[1].header.parent_message_id, "");
    drop(sent_trees(&order, &order_sink));
}

#[test]
fn a_three_hop_chain_keeps_the_first_tree_as_root() {
    let (a, a_sink) = memory_client("svc-a");
    let (b, b_sink) = memory_client("svc-b");
    let (c, c_sink) = memory_client("svc-c");
    let to_b = with_client(&a, || {
        let _t = transaction!("URL", "/a");
        Context::for_remote_call("svc-b", "b").unwrap()
    });
    let to_c = with_client(&b, || {
        let _t = transaction!("Service", "b");
        let _adopted = to_b.adopt();
        Context::for_remote_call("svc-c", "c").unwrap()
    });
    with_client(&c, || {
        let _adopted = to_c.adopt();
        let _t = transaction!("Service", "c");
    });
    let a_tree = &sent_trees(&a, &a_sink)[0];
    let b_tree = &sent_trees(&b, &b_sink)[0];
    let c_tree = &sent_trees(&c, &c_sink)[0];
    assert_eq!(c_tree.header.root_message_id, a_tree.header.message_id);
    assert_eq!(c_tree.header.parent_message_id, b_tree.header.message_id);
    assert_eq!(b_tree.header.root_message_id, a_tree.header.message_id);
}

#[test]
fn ids_adopted_for_a_request_that_starts_no_tree_do_not_leak_to_the_next_one() {
    let ((order, order_sink), (payment, payment_sink), ctx) = order_calls_payment();
    let child_id = ctx.child_id.clone();
    // One pooled worker thread serves two requests.
    std::thread::spawn(move || {
        payment.bind_to_current_thread();
        {
            // Request 1 adopts the caller's IDs, then is rejected before any transaction.
            let _adopted = ctx.adopt();
        }
        // Request 2 is unrelated.
        {
            let _t = transaction!("URL", "/unrelated");
        }
        let trees = sent_trees(&payment, &payment_sink);
        assert_eq!(trees.len(), 1);
        assert_ne!(trees[0].header.message_id, child_id);
        assert_eq!(trees[0].header.parent_message_id, "");
        assert_eq!(trees[0].header.root_message_id, "");
    })
    .join()
    .unwrap();
    drop(sent_trees(&order, &order_sink));
}

#[test]
fn ids_adopted_before_spawning_an_in_transaction_future_go_with_it() {
    let ((order, order_sink), (payment, payment_sink), ctx) = order_calls_payment();
    let expected = ctx.clone();
    let runtime = runtime(1);
    let task = with_client(&payment, || {
        let _adopted = ctx.adopt();
        in_transaction("Service", "pay", async {
            tokio::task::yield_now().await;
        })
    });
    // The root starts on a worker thread, after the guard is gone.
    runtime.block_on(runtime.spawn(task)).unwrap();
    let callee = &sent_trees(&payment, &payment_sink)[0];
    assert_eq!(callee.header.message_id, expected.child_id);
    assert_eq!(callee.header.parent_message_id, expected.parent_id);
    drop(sent_trees(&order, &order_sink));
}

#[test]
fn headers_missing_the_child_id_give_no_context() {
    assert_eq!(Context::from_headers(|_| None), None);
    let only_child = Context::from_headers(|name| {
        (name == ocelot_client::HEADER_CHILD_ID).then_some("x-c0000207-1-1")
    });
    assert_eq!(only_child, None);
}

#[test]
fn the_current_message_id_is_the_id_the_tree_is_sent_with() {
    let (client, sink) = memory_client("order-service");
    let (inside, nested) = with_client(&client, || {
        assert_eq!(
            ocelot_client::current_message_id(),
            None,
            "outside a transaction"
        );
        let _t = transaction!("URL", "/api/order");
        let inside = ocelot_client::current_message_id().unwrap();
        let _inner = transaction!("SQL", "select");
        (inside, ocelot_client::current_message_id().unwrap())
    });
    assert_eq!(inside, nested, "one tree, one ID");
    let trees = sent_trees(&client, &sink);
    assert_eq!(trees.len(), 1);
    assert_eq!(trees[0].header.message_id, inside);
    let id: MessageId = inside.parse().unwrap();
    assert_eq!(id.domain, "order-service");
}

/// A server that adopts the caller's headers before it starts any transaction, then calls a
/// further service: the event that records the call is a tree of its own, and it takes the
/// adopted IDs. The context handed on must name that tree as the parent, and the caller's root
/// as the root. It used to name a fresh ID that no tree was sent under.
#[test]
fn a_call_made_before_any_transaction_with_adopted_ids_names_the_tree_that_records_it() {
    let ((_order, _), (payment, payment_sink), ctx) = order_calls_payment();
    let (_stock, _) = memory_client("stock-service");
    let onward = with_client(&payment, || {
        let _adopted = ctx.clone().adopt();
        Context::for_remote_call("stock-service", "StockService.reserve").unwrap()
    });
    let trees = sent_trees(&payment, &payment_sink);
    assert_eq!(trees.len(), 1);
    let tree = &trees[0];
    assert_eq!(tree.header.message_id, ctx.child_id, "the adopted ID");
    assert_eq!(tree.root.data(), onward.child_id);
    assert_eq!(onward.parent_id, tree.header.message_id);
    assert_eq!(onward.root_id, ctx.root_id);
}

/// Two requests on one worker thread (a current-thread runtime): request A has a caller and
/// awaits (an auth check) before its transaction; request B has none and starts its root
/// while A waits. With `adopt`, B's root took A's caller IDs (they waited on the thread) and A
/// got a fresh ID. Handed to A's future with `Context::in_transaction`, they name A's tree.
#[test]
fn a_context_handed_to_in_transaction_after_an_await_names_the_requests_own_tree() {
    let ((order, order_sink), (payment, payment_sink), ctx) = order_calls_payment();
    let expected = ctx.clone();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    payment.bind_to_current_thread();
    runtime.block_on(async {
        let a = tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            ctx.in_transaction("URL", "/a-with-caller", async {
                tokio::task::yield_now().await;
            })
            .await;
        });
        let b = tokio::spawn(async {
            tokio::task::yield_now().await;
            in_transaction("URL", "/b-no-caller", async {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            })
            .await;
        });
        a.await.unwrap();
        b.await.unwrap();
    });
    let trees = sent_trees(&payment, &payment_sink);
    assert_eq!(trees.len(), 2);
    let tree = |name: &str| trees.iter().find(|t| t.root.name() == name).unwrap();
    let a = tree("/a-with-caller");
    assert_eq!(a.header.message_id, expected.child_id);
    assert_eq!(a.header.parent_message_id, expected.parent_id);
    assert_eq!(a.header.root_message_id, expected.root_id);
    let b = tree("/b-no-caller");
    assert_ne!(b.header.message_id, expected.child_id);
    assert_eq!(b.header.parent_message_id, "");
    drop(sent_trees(&order, &order_sink));
}

/// An `in_transaction` made with adopted IDs but awaited inside a tree of the same client (an
/// in-process call to the same service, a test harness) nested there, and the IDs were dropped
/// without a word: the caller's `RemoteCall` named a tree that never came. It is a tree of its
/// own under those IDs; so is one given its IDs with `Context::in_transaction`.
#[test]
fn a_future_with_a_callers_ids_awaited_inside_a_tree_of_the_same_client_is_a_tree_of_its_own() {
    let ((order, order_sink), (payment, payment_sink), ctx) = order_calls_payment();
    let ((_, _), (_, _), second) = order_calls_payment();
    let (first_ids, second_ids) = (ctx.clone(), second.clone());
    let runtime = runtime(1);
    let request = with_client(&payment, || {
        let adopted = {
            let _adopted = ctx.adopt();
            in_transaction("Service", "pay", async {
                tokio::task::yield_now().await;
                ocelot_client::event!("Pay", "charged");
            })
        };
        in_transaction("URL", "/batch", async move {
            adopted.await;
            second
                .in_transaction("Service", "refund", async {
                    ocelot_client::event!("Pay", "refunded");
                })
                .await;
            ocelot_client::event!("Batch", "after");
        })
    });
    runtime.block_on(runtime.spawn(request)).unwrap();
    let trees = sent_trees(&payment, &payment_sink);
    let summary: Vec<(&str, Vec<&str>)> = trees
        .iter()
        .map(|t| {
            let children = t.root.children().iter().map(|m| m.name()).collect();
            (t.root.name(), children)
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("pay", vec!["charged"]),
            ("refund", vec!["refunded"]),
            ("/batch", vec!["after"]),
        ]
    );
    for (tree, ids) in [(&trees[0], &first_ids), (&trees[1], &second_ids)] {
        assert_eq!(tree.header.message_id, ids.child_id);
        assert_eq!(tree.header.parent_message_id, ids.parent_id);
    }
    assert_eq!(trees[2].header.parent_message_id, "");
    drop(sent_trees(&order, &order_sink));
}
