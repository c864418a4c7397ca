//! A tree belongs to the client whose root started it: `with_client` for another client
//! inside that tree records into trees of that client's own, and the outer tree goes on whole.

mod support;

use ocelot_client::{current_message_id, event, transaction, with_client, Context};
use support::{memory_client, sent_trees};

fn names(tree: &ocelot_protocol::MessageTree) -> Vec<String> {
    tree.root
        .children()
        .iter()
        .map(|m| m.name().to_owned())
        .collect()
}

#[test]
fn with_client_inside_another_clients_transaction_starts_its_own_tree() {
    let (order, order_sink) = memory_client("nested-order");
    let (audit, audit_sink) = memory_client("nested-audit");
    let (outer_id, inner_id, ctx) = with_client(&order, || {
        let _t = transaction!("URL", "/order");
        event!("Order", "before");
        let outer_id = current_message_id().unwrap();
        let (inner_id, ctx) = with_client(&audit, || {
            let _a = transaction!("Audit", "record");
            event!("Audit", "inside");
            (
                current_message_id().unwrap(),
                Context::for_remote_call("nested-payment", "Pay").unwrap(),
            )
        });
        event!("Order", "after");
        assert_eq!(current_message_id().unwrap(), outer_id);
        (outer_id, inner_id, ctx)
    });
    let orders = sent_trees(&order, &order_sink);
    let audits = sent_trees(&audit, &audit_sink);
    assert_eq!(orders.len(), 1, "the order tree was split");
    assert_eq!(orders[0].root.name(), "/order");
    assert_eq!(names(&orders[0]), ["before", "after"]);
    assert_eq!(orders[0].header.message_id, outer_id);
    assert!(outer_id.starts_with("nested-order-"), "{outer_id}");

    assert_eq!(audits.len(), 1);
    assert_eq!(audits[0].root.name(), "record");
    assert_eq!(names(&audits[0]), ["inside", "Pay"]);
    assert_eq!(audits[0].header.message_id, inner_id);
    assert!(inner_id.starts_with("nested-audit-"), "{inner_id}");
    assert_eq!(
        ctx.parent_id, inner_id,
        "the call was made from the audit tree"
    );
}

/// A transaction kept past the inner `with_client` ends when it returns, in the inner
/// client's tree; the outer tree is not touched by it.
#[test]
fn a_guard_kept_past_a_nested_with_client_ends_with_it() {
    let (order, order_sink) = memory_client("nested-kept-order");
    let (audit, audit_sink) = memory_client("nested-kept-audit");
    with_client(&order, || {
        let _t = transaction!("URL", "/order");
        let kept = with_client(&audit, || transaction!("Audit", "kept"));
        event!("Order", "after");
        drop(kept);
    });
    let orders = sent_trees(&order, &order_sink);
    let audits = sent_trees(&audit, &audit_sink);
    assert_eq!(orders.len(), 1);
    assert_eq!(names(&orders[0]), ["after"]);
    assert_eq!(audits.len(), 1);
    assert_eq!(audits[0].root.name(), "kept");
}

/// The same client nested: one tree, as nested code makes.
#[test]
fn with_client_of_the_same_client_records_into_the_open_tree() {
    let (order, sink) = memory_client("nested-same");
    with_client(&order, || {
        let _t = transaction!("URL", "/order");
        with_client(&order, || event!("Order", "inside"));
    });
    let trees = sent_trees(&order, &sink);
    assert_eq!(trees.len(), 1);
    assert_eq!(names(&trees[0]), ["inside"]);
}

/// A guard of the outer tree moved into the closure and dropped there ends the outer
/// transaction, in the outer client's tree: the tree is sent, and the thread's later trees
/// are trees of their own, not nested in one that never ends.
#[test]
fn an_outer_guard_dropped_inside_another_clients_with_client_ends_the_outer_tree() {
    let (order, order_sink) = memory_client("nested-moved-order");
    let (audit, audit_sink) = memory_client("nested-moved-audit");
    with_client(&order, || {
        let t = transaction!("URL", "/order");
        event!("Order", "before");
        with_client(&audit, move || {
            event!("Audit", "inside");
            drop(t);
        });
        drop(transaction!("URL", "/next"));
    });
    let orders = sent_trees(&order, &order_sink);
    let audits = sent_trees(&audit, &audit_sink);
    let roots: Vec<&str> = orders.iter().map(|t| t.root.name()).collect();
    assert_eq!(roots, ["/order", "/next"], "the outer tree never ended");
    assert_eq!(names(&orders[0]), ["before"]);
    assert_eq!(audits.len(), 1);
    assert_eq!(audits[0].root.name(), "inside");
}

/// A guard of the outer tree moved into the closure edits its own transaction there: its
/// data and status go to the outer tree, neither lost nor given to the inner client's tree.
#[test]
fn an_outer_guard_used_inside_another_clients_with_client_edits_the_outer_transaction() {
    let (order, order_sink) = memory_client("nested-edit-order");
    let (audit, audit_sink) = memory_client("nested-edit-audit");
    with_client(&order, || {
        let t = transaction!("URL", "/order");
        let t = with_client(&audit, move || {
            let _a = transaction!("Audit", "record");
            t.add_data("order", 42);
            t.set_status("Declined");
            t
        });
        t.add_data("after", 1);
    });
    let orders = sent_trees(&order, &order_sink);
    let audits = sent_trees(&audit, &audit_sink);
    assert_eq!(orders.len(), 1);
    let root = orders[0].root.as_transaction().unwrap();
    assert_eq!(root.status, "Declined");
    assert_eq!(root.data, "order=42&after=1");
    assert_eq!(audits.len(), 1);
    let audit_root = audits[0].root.as_transaction().unwrap();
    assert_eq!(
        (audit_root.status.as_str(), audit_root.data.as_str()),
        ("0", "")
    );
}

/// `fail` on a guard of the outer tree, inside another client's `with_client`, fails the
/// outer transaction and logs its `Error` event there; the inner client's transaction,
/// which did not fail, keeps its success status.
#[test]
fn an_outer_guard_failed_inside_another_clients_with_client_fails_the_outer_tree() {
    let (order, order_sink) = memory_client("nested-fail-order");
    let (audit, audit_sink) = memory_client("nested-fail-audit");
    with_client(&order, || {
        let t = transaction!("URL", "/order");
        with_client(&audit, move || {
            let _a = transaction!("Audit", "record");
            event!("Audit", "inside");
            t.fail(&std::io::Error::other("declined"));
            drop(t);
        });
    });
    let orders = sent_trees(&order, &order_sink);
    let audits = sent_trees(&audit, &audit_sink);
    assert_eq!(orders.len(), 1);
    let root = orders[0].root.as_transaction().unwrap();
    assert_eq!(
        root.status, "io::Error",
        "the outer transaction did not fail"
    );
    assert_eq!(names(&orders[0]), ["io::Error"]);
    assert_eq!(audits.len(), 1);
    assert_eq!(audits[0].root.as_transaction().unwrap().status, "0");
    assert_eq!(names(&audits[0]), ["inside"]);
}

/// A panic unwinding through a guard of the outer tree moved into the closure ends the outer
/// transaction with status `panic`, as it would outside `with_client`.
#[test]
fn an_outer_guard_unwound_inside_another_clients_with_client_ends_the_outer_tree_failed() {
    let (order, order_sink) = memory_client("nested-panic-order");
    let (audit, _audit_sink) = memory_client("nested-panic-audit");
    let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        with_client(&order, || {
            let t = transaction!("URL", "/order");
            with_client(&audit, move || {
                let _t = t;
                panic!("inside the audit client");
            });
        });
    }));
    assert!(unwound.is_err());
    let orders = sent_trees(&order, &order_sink);
    assert_eq!(orders.len(), 1);
    assert_eq!(orders[0].root.as_transaction().unwrap().status, "panic");
}

/// The async form: a future made by `in_transaction` under `with_client(&audit, ..)` and
/// awaited inside an order tree. It was polled as a nested transaction of the order tree, so
/// the audit client got nothing, the IDs it adopted were lost, and the order tree's
/// `RemoteCall` named a tree that never came.
#[test]
fn an_in_transaction_of_another_client_awaited_in_a_tree_is_a_tree_of_its_own() {
    let (order, order_sink) = memory_client("nested-async-order");
    let (audit, audit_sink) = memory_client("nested-async-audit");
    let runtime = support::runtime(2);
    let audit_in_task = audit.clone();
    let request = with_client(&order, || {
        ocelot_client::in_transaction("URL", "/order", async move {
            let ctx = Context::for_remote_call("nested-async-audit", "Audit.record").unwrap();
            let child_id = ctx.child_id.clone();
            let record = with_client(&audit_in_task, || {
                let _adopted = ctx.adopt();
                ocelot_client::in_transaction("Audit", "record", async {
                    tokio::task::yield_now().await;
                    event!("Audit", "inside");
                })
            });
            record.await;
            event!("Order", "after");
            (current_message_id().unwrap(), child_id)
        })
    });
    let (order_id, child_id) = runtime.block_on(runtime.spawn(request)).unwrap();
    let orders = sent_trees(&order, &order_sink);
    let audits = sent_trees(&audit, &audit_sink);
    assert_eq!(orders.len(), 1);
    assert_eq!(names(&orders[0]), ["Audit.record", "after"]);
    assert_eq!(audits.len(), 1, "the audit client got no tree");
    assert_eq!(audits[0].root.name(), "record");
    assert_eq!(names(&audits[0]), ["inside"]);
    assert_eq!(audits[0].header.message_id, child_id);
    assert_eq!(audits[0].header.parent_message_id, order_id);
}
