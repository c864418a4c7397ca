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
    let event = &root.children[0];
    assert_eq!(
        (event.type_(), event.name(), event.data()),
        ("tracing_layer", "loaded order", "rows=3")
    );
    let db = root.children[1].as_transaction().unwrap();
    assert_eq!(
        (db.type_.as_str(), db.name.as_str(), db.status.as_str()),
        ("SQL", "OrderDao.update", "ERROR")
    );
    let error = &db.children[0];
    assert_eq!(
        (error.type_(), error.name(), error.data()),
        ("Error", "deadlock", "code=1205")
    );
}
