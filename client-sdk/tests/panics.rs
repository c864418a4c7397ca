//! A panic that unwinds through a transaction ends it as failed (status `panic`, as CAT marks a
//! transaction with the exception that escaped it), sends its tree, and leaves the thread
//! clean for whatever runs on it next.

mod support;

use ocelot_client::{event, in_transaction, transaction, with_client};
use support::{memory_client, runtime, sent_trees};

#[test]
fn a_panic_in_a_sync_transaction_ends_it_with_status_panic() {
    let (client, sink) = memory_client("panic-service");
    with_client(&client, || {
        let caught = std::panic::catch_unwind(|| {
            let _t = transaction!("URL", "/panics");
            let _inner = transaction!("SQL", "OrderDao.load");
            panic!("handler bug");
        });
        assert!(caught.is_err());
        // A status the application set says more than `panic`, so it stays.
        let caught = std::panic::catch_unwind(|| {
            let t = transaction!("URL", "/declined");
            t.set_status("Declined");
            panic!("after a failure status");
        });
        assert!(caught.is_err());
        let _ok = transaction!("URL", "/fine");
    });
    let trees = sent_trees(&client, &sink);
    assert_eq!(trees.len(), 3);
    assert_eq!(trees[0].root.status(), "panic");
    assert_eq!(trees[0].root.children()[0].status(), "panic");
    assert_eq!(trees[1].root.status(), "Declined");
    assert_eq!(trees[2].root.name(), "/fine");
    assert_eq!(trees[2].root.status(), "0");
}

#[test]
fn a_panicking_task_is_sent_as_failed_and_later_tasks_on_its_worker_are_their_own_trees() {
    let (client, sink) = memory_client("panic-task-service");
    // One worker thread: the tasks after the panic run where the panic happened.
    let runtime = runtime(1);
    let panicking = with_client(&client, || {
        in_transaction("Job", "panics", async {
            event!("Step", "before-panic");
            tokio::task::yield_now().await;
            let _sql = transaction!("SQL", "in-flight");
            panic!("boom");
        })
    });
    let joined = runtime.block_on(runtime.spawn(panicking));
    assert!(joined.unwrap_err().is_panic());
    for i in 0..3 {
        let task = with_client(&client, || {
            in_transaction("Job", format!("after-{i}"), async {
                event!("Step", "work");
            })
        });
        runtime.block_on(runtime.spawn(task)).unwrap();
    }
    let trees = sent_trees(&client, &sink);
    let roots: Vec<(&str, &str)> = trees
        .iter()
        .map(|t| (t.root.name(), t.root.status()))
        .collect();
    assert_eq!(
        roots,
        [
            ("panics", "panic"),
            ("after-0", "0"),
            ("after-1", "0"),
            ("after-2", "0"),
        ]
    );
    let children: Vec<(&str, &str)> = trees[0]
        .root
        .children()
        .iter()
        .map(|m| (m.name(), m.status()))
        .collect();
    assert_eq!(children, [("before-panic", "0"), ("in-flight", "panic")]);
    for tree in &trees[1..] {
        assert_eq!(tree.root.children().len(), 1, "{}", tree.root.name());
    }
}

#[test]
fn a_panic_in_a_nested_future_fails_both_transactions() {
    let (client, sink) = memory_client("panic-nested-service");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let outer = with_client(&client, || {
        in_transaction("URL", "/outer", async {
            event!("Step", "start");
            in_transaction("RPC", "inner", async {
                tokio::task::yield_now().await;
                panic!("inner bug");
            })
            .await;
        })
    });
    let joined = runtime.block_on(runtime.spawn(outer));
    assert!(joined.unwrap_err().is_panic());
    let trees = sent_trees(&client, &sink);
    assert_eq!(trees.len(), 1);
    assert_eq!(trees[0].root.status(), "panic");
    let inner = &trees[0].root.children()[1];
    assert_eq!((inner.name(), inner.status()), ("inner", "panic"));
}

/// "Wait as long as it takes" spelt `Duration::MAX`: `flush` and `shutdown` used to panic
/// computing their deadline (`Instant + Duration` overflows).
#[test]
fn flush_and_shutdown_take_duration_max_as_no_limit() {
    let (client, sink) = memory_client("patient-service");
    with_client(&client, || drop(transaction!("URL", "/wait")));
    assert!(client.flush(std::time::Duration::MAX));
    assert_eq!(sink.trees().len(), 1);
    with_client(&client, || drop(transaction!("URL", "/last")));
    assert!(client.shutdown(std::time::Duration::MAX));
    assert_eq!(sink.trees().len(), 2);
}
