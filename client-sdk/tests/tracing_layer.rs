//! `tracing` spans and events become CAT transactions and events through `OcelotLayer`.
#![cfg(feature = "tracing")]

mod support;

use ocelot_client::{with_client, OcelotLayer};
use support::{memory_client, sent_trees};
use tracing_subscriber::prelude::*;

#[test]
fn spans_become_transactions_and_error_events_fail_them() {
    let (client, sink) = memory_client("traced");
    let subscriber = tracing_subscriber::registry().with(OcelotLayer::new());
    tracing::subscriber::with_default(subscriber, || {
        with_client(&client, || {
            let request = tracing::info_span!("handle_order", order_id = 42, method = "POST");
            let _r = request.enter();
            tracing::info!(rows = 3, "loaded order");
            {
                let db = tracing::info_span!(target: "SQL", "OrderDao.update");
                let _d = db.enter();
                tracing::error!(code = 1205, "deadlock");
            }
        });
    });
    let trees = sent_trees(&client, &sink);
    assert_eq!(trees.len(), 1);
    let root = trees[0].root.as_transaction().unwrap();
    assert_eq!(root.type_, "tracing_layer");
    assert_eq!(root.name, "handle_order");
    assert_eq!(root.data, "order_id=42&method=POST");
    assert_eq!(root.status, "0");
    // Events are named by their callsite (`event <file>:<line>`), not by their message.
    let event = &root.children[0];
    assert_eq!(
        (event.type_(), event.data()),
        ("tracing_layer", "message=loaded order&rows=3")
    );
    assert!(
        event.name().starts_with("event ") && event.name().ends_with("tracing_layer.rs:18"),
        "{}",
        event.name()
    );
    let db = root.children[1].as_transaction().unwrap();
    assert_eq!(
        (db.type_.as_str(), db.name.as_str(), db.status.as_str()),
        ("SQL", "OrderDao.update", "ERROR")
    );
    let error = &db.children[0];
    assert_eq!(
        (error.type_(), error.data()),
        ("Error", "message=deadlock&code=1205")
    );
    assert!(
        error.name().ends_with("tracing_layer.rs:22"),
        "{}",
        error.name()
    );
}

#[test]
fn event_names_stay_bounded_and_fields_recorded_later_reach_the_transaction() {
    let (client, sink) = memory_client("traced");
    let subscriber = tracing_subscriber::registry().with(OcelotLayer::new());
    tracing::subscriber::with_default(subscriber, || {
        with_client(&client, || {
            for id in 0..3 {
                let span = tracing::info_span!(
                    "handle_order",
                    order_id = id,
                    http.status = tracing::field::Empty
                );
                let _entered = span.enter();
                tracing::info!("order {} loaded from db", id);
                span.record("http.status", 500);
            }
        });
    });
    let trees = sent_trees(&client, &sink);
    assert_eq!(trees.len(), 3);
    let mut event_names = Vec::new();
    for (id, tree) in trees.iter().enumerate() {
        let root = tree.root.as_transaction().unwrap();
        assert_eq!(root.data, format!("order_id={id}&http.status=500"));
        let event = &root.children[0];
        assert_eq!(event.data(), format!("message=order {id} loaded from db"));
        event_names.push(event.name().to_owned());
    }
    // One CAT name per callsite, not one per order ID.
    event_names.dedup();
    assert_eq!(event_names.len(), 1, "{event_names:?}");
}
