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

/// One `tracing::Span` shared by work on several threads (`.instrument(span.clone())` on
/// spawned tasks, `span.in_scope` inside a thread pool) is entered on two threads at once.
/// The span's own tree can be on one thread at a time: the other thread's entry is a
/// transaction of its own, ended when that thread exits the span; the span's tree is sent when
/// the span closes.
#[test]
fn a_span_entered_on_two_threads_at_once_ends_the_transaction_on_each() {
    use std::sync::{Arc, Barrier};
    let (client, sink) = memory_client("shared-span");
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(OcelotLayer::new()));
    let span = tracing::dispatcher::with_default(&dispatch, || tracing::info_span!("batch"));
    let entered = Arc::new(Barrier::new(2));
    let workers: Vec<_> = (0..2)
        .map(|i| {
            let (client, dispatch, span, entered) = (
                client.clone(),
                dispatch.clone(),
                span.clone(),
                entered.clone(),
            );
            std::thread::spawn(move || {
                tracing::dispatcher::with_default(&dispatch, || {
                    with_client(&client, || {
                        {
                            let _e = span.enter();
                            tracing::info!(worker = i, "item");
                            entered.wait();
                            // Worker 0 exits first, worker 1 a moment later.
                            std::thread::sleep(std::time::Duration::from_millis(50 * i));
                        }
                        // Later work on this thread, outside the span: a tree of its own.
                        tracing::info!(worker = i, "after the span");
                    })
                })
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    drop(span);
    let trees = sent_trees(&client, &sink);
    let batch_trees = trees.iter().filter(|t| t.root.name() == "batch").count();
    let after_trees = trees
        .iter()
        .filter(|t| t.root.data().contains("after the span"))
        .count();
    assert_eq!(
        (batch_trees, after_trees),
        (2, 2),
        "each thread's `batch` transaction ends when it exits the span, and later events are \
         trees of their own; got {:?}",
        trees
            .iter()
            .map(|t| t.root.name().to_owned())
            .collect::<Vec<_>>()
    );
}

/// `tokio::spawn(fut.in_current_span())`: the parent's span is entered by each task's polls,
/// on whichever worker runs it, at the same time as on the others. Every worker's tree ends
/// with its poll, so each task's events are sent (not held in a root that never ends and lost
/// when the worker exits).
#[test]
fn tasks_spawned_in_the_parents_span_on_a_thread_pool_send_their_trees() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant};
    use tracing::Instrument;

    const TASKS: usize = 2;
    let (client, sink) = memory_client("spawned");
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(OcelotLayer::new()));
    let runtime = {
        let (client, dispatch) = (client.clone(), dispatch.clone());
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(TASKS)
            .on_thread_start(move || {
                client.bind_to_current_thread();
                // The worker keeps this subscriber until it exits.
                std::mem::forget(tracing::dispatcher::set_default(&dispatch));
            })
            .build()
            .unwrap()
    };
    let entered = Arc::new(AtomicUsize::new(0));
    tracing::dispatcher::with_default(&dispatch, || {
        let span = tracing::info_span!("batch");
        runtime.block_on(
            async {
                let tasks: Vec<_> = (0..TASKS)
                    .map(|i| {
                        let entered = entered.clone();
                        tokio::spawn(
                            async move {
                                // Hold the poll (and so the span) until every task is inside
                                // it, so the span is entered on two workers at once (bounded
                                // wait: a pool that runs the tasks one by one still finishes).
                                entered.fetch_add(1, Ordering::SeqCst);
                                let deadline = Instant::now() + Duration::from_secs(2);
                                while entered.load(Ordering::SeqCst) < TASKS
                                    && Instant::now() < deadline
                                {
                                    std::thread::yield_now();
                                }
                                tracing::info!(task = i, "item");
                            }
                            .in_current_span(),
                        )
                    })
                    .collect();
                for task in tasks {
                    task.await.unwrap();
                }
            }
            .instrument(span),
        );
    });
    drop(runtime);
    assert_eq!(entered.load(Ordering::SeqCst), TASKS);
    let trees = sent_trees(&client, &sink);
    let items = trees
        .iter()
        .flat_map(|t| &t.root.as_transaction().unwrap().children)
        .filter(|m| m.data().contains("item"))
        .count();
    assert_eq!(
        items,
        TASKS,
        "every task's event arrives in a `batch` tree; got {:?}",
        trees
            .iter()
            .map(|t| t.root.name().to_owned())
            .collect::<Vec<_>>()
    );
}

/// A span entered again on a thread that is already in it (a recursive call, nested
/// `in_scope`) opens a nested transaction; each exit ends its own entry's transaction. The
/// span's tree is sent when the span closes, after what was logged outside it.
#[test]
fn a_span_entered_again_on_the_same_thread_ends_one_transaction_per_exit() {
    let (client, sink) = memory_client("reentered");
    let subscriber = tracing_subscriber::registry().with(OcelotLayer::new());
    tracing::subscriber::with_default(subscriber, || {
        with_client(&client, || {
            let span = tracing::info_span!("walk");
            {
                let _outer = span.enter();
                {
                    let _inner = span.enter();
                    tracing::info!("inner");
                }
                tracing::info!("outer");
            }
            tracing::info!("after the span");
        });
    });
    let trees = sent_trees(&client, &sink);
    assert_eq!(trees.len(), 2, "{trees:?}");
    assert_eq!(trees[0].root.data(), "message=after the span");
    let root = trees[1].root.as_transaction().unwrap();
    assert_eq!(root.name, "walk");
    let inner = root.children[0].as_transaction().unwrap();
    assert_eq!(inner.name, "walk");
    assert_eq!(inner.children[0].data(), "message=inner");
    assert_eq!(root.children[1].data(), "message=outer");
}

/// Guards dropped out of order: exiting the outer span leaves its tree and ends the
/// transaction still open inside it; the inner span's later exit changes nothing. The outer
/// span's tree is sent when it closes.
#[test]
fn span_guards_dropped_out_of_order_end_the_inner_transaction_at_the_outer_exit() {
    let (client, sink) = memory_client("out-of-order");
    let subscriber = tracing_subscriber::registry().with(OcelotLayer::new());
    tracing::subscriber::with_default(subscriber, || {
        with_client(&client, || {
            let outer = tracing::info_span!("outer");
            let inner = tracing::info_span!("inner");
            let outer_guard = outer.enter();
            let inner_guard = inner.enter();
            drop(outer_guard);
            tracing::info!("between the exits");
            drop(inner_guard);
            tracing::info!("after both");
        });
    });
    let trees = sent_trees(&client, &sink);
    let roots: Vec<_> = trees.iter().map(|t| t.root.name().to_owned()).collect();
    assert_eq!(roots.len(), 3, "{roots:?}");
    assert_eq!(trees[0].root.data(), "message=between the exits");
    assert_eq!(trees[1].root.data(), "message=after both");
    assert_eq!(roots[2], "outer");
    let outer = trees[2].root.as_transaction().unwrap();
    assert_eq!(outer.children.len(), 1);
    let inner = outer.children[0].as_transaction().unwrap();
    assert_eq!(inner.name, "inner");
    assert!(inner.children.is_empty(), "{:?}", inner.children);
}

/// Two `OcelotLayer`s on one registry (one per filter, or added by two libraries) both see
/// each span: the second used to panic in the host on every new span (`tracing-subscriber`'s
/// `extensions_mut().insert` asserts the slot is empty). Each layer records, nothing panics.
#[test]
fn a_second_layer_on_the_same_registry_does_not_panic_the_host() {
    let (client, sink) = memory_client("traced-twice");
    let subscriber = tracing_subscriber::registry()
        .with(OcelotLayer::new())
        .with(OcelotLayer::new());
    tracing::subscriber::with_default(subscriber, || {
        with_client(&client, || {
            let span = tracing::info_span!("twice", id = 7);
            let _s = span.enter();
            tracing::info!("inside");
        });
    });
    let trees = sent_trees(&client, &sink);
    assert_eq!(trees.len(), 1);
    let root = trees[0].root.as_transaction().unwrap();
    assert_eq!((root.name.as_str(), root.data.as_str()), ("twice", "id=7"));
}

/// The SDK's own warnings (here: a collector address `build` leaves out) went to stderr
/// even for a host that logs through `tracing`. They are `tracing` warnings of target
/// `ocelot_client` when a subscriber is set, and not recorded as CAT events.
#[test]
fn the_sdks_warnings_go_to_the_hosts_subscriber_not_into_its_trees() {
    use std::sync::{Arc, Mutex};

    /// Keeps each event's target and message.
    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<(String, String)>>>);
    impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Capture {
        fn on_event(
            &self,
            event: &tracing::Event<'_>,
            _: tracing_subscriber::layer::Context<'_, S>,
        ) {
            struct Message(String);
            impl tracing::field::Visit for Message {
                fn record_debug(&mut self, f: &tracing::field::Field, v: &dyn std::fmt::Debug) {
                    if f.name() == "message" {
                        self.0 = format!("{v:?}");
                    }
                }
            }
            let mut message = Message(String::new());
            event.record(&mut message);
            let target = event.metadata().target().to_owned();
            self.0.lock().unwrap().push((target, message.0));
        }
    }

    let (client, sink) = memory_client("warned");
    let capture = Capture::default();
    let subscriber = tracing_subscriber::registry()
        .with(OcelotLayer::new())
        .with(capture.clone());
    tracing::subscriber::with_default(subscriber, || {
        with_client(&client, || {
            let _span = tracing::info_span!("setup").entered();
            let other = ocelot_client::Client::builder()
                .domain("other")
                .collectors(["127.0.0.1:99999"])
                .heartbeat_interval(None)
                .build();
            other.shutdown(std::time::Duration::from_secs(1));
        });
    });
    let events = capture.0.lock().unwrap().clone();
    assert!(
        events
            .iter()
            .any(|(target, message)| target == "ocelot_client"
                && message.contains("127.0.0.1:99999")
                && message.contains("left out")),
        "{events:?}"
    );
    let trees = sent_trees(&client, &sink);
    assert_eq!(trees.len(), 1);
    let root = trees[0].root.as_transaction().unwrap();
    assert!(root.children.is_empty(), "{:?}", root.children);
}

/// A multi-threaded runtime whose workers record into `client` through `dispatch`.
fn traced_runtime(
    client: &ocelot_client::Client,
    dispatch: &tracing::Dispatch,
    workers: usize,
) -> tokio::runtime::Runtime {
    let (client, dispatch) = (client.clone(), dispatch.clone());
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .on_thread_start(move || {
            client.bind_to_current_thread();
            // The worker keeps this subscriber until it exits.
            std::mem::forget(tracing::dispatcher::set_default(&dispatch));
        })
        .build()
        .unwrap()
}

/// What tower-http's `TraceLayer` does for every request: the handler's future instrumented
/// with a span made outside any tree. The span is entered once per poll, and each poll used
/// to be a tree of its own, so the Transaction report counted every poll as a request. The
/// span is one transaction, from its first entry to its close, on whichever workers it runs.
#[test]
fn an_instrumented_future_outside_any_tree_is_one_transaction_over_all_its_polls() {
    use std::time::Duration;
    use tracing::Instrument;

    const REQUESTS: usize = 8;
    let (client, sink) = memory_client("instrumented");
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(OcelotLayer::new()));
    let runtime = traced_runtime(&client, &dispatch, 2);
    runtime.block_on(async {
        let tasks: Vec<_> = (0..REQUESTS)
            .map(|i| {
                let span = tracing::dispatcher::with_default(&dispatch, || {
                    tracing::info_span!("request", path = i, status = tracing::field::Empty)
                });
                tokio::spawn(
                    async move {
                        tracing::info!("start");
                        tokio::time::sleep(Duration::from_millis(2)).await;
                        tokio::task::yield_now().await;
                        tracing::Span::current().record("status", 200);
                        tracing::info!("end");
                    }
                    .instrument(span),
                )
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
    });
    drop(runtime);
    let trees = sent_trees(&client, &sink);
    assert_eq!(
        trees.len(),
        REQUESTS,
        "one tree per request, not per poll: {:?}",
        trees
            .iter()
            .map(|t| (t.root.name().to_owned(), t.root.data().to_owned()))
            .collect::<Vec<_>>()
    );
    let mut paths = Vec::new();
    for tree in &trees {
        let root = tree.root.as_transaction().unwrap();
        assert_eq!(root.name, "request");
        let data: Vec<(&str, &str)> = root
            .data
            .split('&')
            .map(|kv| kv.split_once('=').unwrap())
            .collect();
        assert_eq!(data.len(), 2, "{}", root.data);
        assert_eq!(data[1], ("status", "200"));
        paths.push(data[0].1.parse::<usize>().unwrap());
        let events: Vec<&str> = root.children.iter().map(|m| m.data()).collect();
        assert_eq!(events, ["message=start", "message=end"]);
        assert!(root.duration_us >= 2_000, "lasted {} us", root.duration_us);
    }
    paths.sort_unstable();
    assert_eq!(paths, (0..REQUESTS).collect::<Vec<_>>());
}

/// The URL transaction of an `in_transaction` middleware inside tower-http's request span:
/// it nests in the span's tree and stays open there across polls, with what it records.
#[test]
fn an_in_transaction_inside_an_instrumented_request_nests_in_the_spans_tree_across_polls() {
    use std::time::Duration;
    use tracing::Instrument;

    let (client, sink) = memory_client("instrumented-nested");
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(OcelotLayer::new()));
    let runtime = traced_runtime(&client, &dispatch, 2);
    let span = tracing::dispatcher::with_default(&dispatch, || tracing::info_span!("request"));
    runtime
        .block_on(
            runtime.spawn(
                async {
                    ocelot_client::in_transaction("URL", "/api/order", async {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                        ocelot_client::event!("Step", "inside");
                        tokio::task::yield_now().await;
                    })
                    .await;
                    tracing::info!("after");
                }
                .instrument(span),
            ),
        )
        .unwrap();
    drop(runtime);
    let trees = sent_trees(&client, &sink);
    assert_eq!(trees.len(), 1, "{trees:?}");
    let root = trees[0].root.as_transaction().unwrap();
    assert_eq!(root.name, "request");
    let children: Vec<&str> = root.children.iter().map(|m| m.name()).collect();
    assert_eq!(children.len(), 2, "{children:?}");
    let url = root.children[0].as_transaction().unwrap();
    assert_eq!(
        (url.type_.as_str(), url.name.as_str()),
        ("URL", "/api/order")
    );
    let inside: Vec<&str> = url.children.iter().map(|m| m.name()).collect();
    assert_eq!(inside, ["inside"]);
    assert_eq!(root.children[1].data(), "message=after");
}

/// A span kept and entered in turn (`span.in_scope` per step of a job) outside any tree is
/// one transaction until it closes; a field recorded between the entries reaches it.
#[test]
fn a_span_entered_in_turn_outside_any_tree_is_one_transaction_until_it_closes() {
    let (client, sink) = memory_client("in-turn");
    let subscriber = tracing_subscriber::registry().with(OcelotLayer::new());
    tracing::subscriber::with_default(subscriber, || {
        with_client(&client, || {
            let span = tracing::info_span!("job", result = tracing::field::Empty);
            span.in_scope(|| tracing::info!("step one"));
            tracing::info!("between the steps");
            span.record("result", "ok");
            span.in_scope(|| tracing::info!("step two"));
            drop(span);
            tracing::info!("after the job");
        });
    });
    let trees = sent_trees(&client, &sink);
    let roots: Vec<&str> = trees.iter().map(|t| t.root.data()).collect();
    assert_eq!(
        roots,
        [
            "message=between the steps",
            "result=ok",
            "message=after the job"
        ]
    );
    let job = trees[1].root.as_transaction().unwrap();
    assert_eq!(job.name, "job");
    let steps: Vec<&str> = job.children.iter().map(|m| m.data()).collect();
    assert_eq!(steps, ["message=step one", "message=step two"]);
}

/// A panic unwinding out of a span's entry (a handler that panics under tower-http's request
/// span; tokio catches it and drops the task) fails the span's transaction, as it fails a
/// guard's; the tree is still sent when the span closes, and the thread records normally after.
#[test]
fn a_panic_out_of_a_spans_entry_fails_its_transaction() {
    let (client, sink) = memory_client("span-panic");
    let subscriber = tracing_subscriber::registry().with(OcelotLayer::new());
    tracing::subscriber::with_default(subscriber, || {
        with_client(&client, || {
            let span = tracing::info_span!("request");
            let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                span.in_scope(|| {
                    let _db = tracing::info_span!(target: "SQL", "query").entered();
                    panic!("handler failed");
                })
            }));
            assert!(unwound.is_err());
            drop(span);
            tracing::info!("next request");
        });
    });
    let trees = sent_trees(&client, &sink);
    assert_eq!(trees.len(), 2, "{trees:?}");
    let root = trees[0].root.as_transaction().unwrap();
    assert_eq!(
        (root.name.as_str(), root.status.as_str()),
        ("request", "panic")
    );
    assert_eq!(root.children[0].status(), "panic");
    assert_eq!(trees[1].root.data(), "message=next request");
}

/// A database call as `#[instrument]` makes one: its span is entered once per poll, and the
/// call takes several polls.
#[tracing::instrument(target = "SQL", skip_all, fields(table = %table))]
async fn query_db(table: &'static str) -> usize {
    tracing::info!(table, "sent");
    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    tokio::task::yield_now().await;
    tokio::task::yield_now().await;
    tracing::info!(table, "rows");
    3
}

/// Runs `request` as a task under a request span (as tower-http's `TraceLayer` does) on a
/// traced runtime of two workers; returns how the task ended and the trees sent.
fn traced_request(
    domain: &str,
    request: impl std::future::Future<Output = ()> + Send + 'static,
) -> (
    Result<(), tokio::task::JoinError>,
    Vec<ocelot_protocol::MessageTree>,
) {
    use tracing::Instrument;

    let (client, sink) = memory_client(domain);
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(OcelotLayer::new()));
    let runtime = traced_runtime(&client, &dispatch, 2);
    let span = tracing::dispatcher::with_default(&dispatch, || tracing::info_span!("request"));
    let ended = runtime.block_on(runtime.spawn(request.instrument(span)));
    drop(runtime);
    (ended, sent_trees(&client, &sink))
}

/// The one request tree of `trees`, and its root's children as (type, name, data).
fn request_children(trees: &[ocelot_protocol::MessageTree]) -> Vec<(&str, &str, &str)> {
    assert_eq!(trees.len(), 1, "{trees:?}");
    let root = trees[0].root.as_transaction().unwrap();
    assert_eq!(root.name, "request");
    root.children
        .iter()
        .map(|m| (m.type_(), m.name(), m.data()))
        .collect()
}

/// An instrumented future awaited inside a tree (a DB call inside a request span) was one
/// nested transaction per poll, each as long as the poll's CPU time. It is one transaction
/// from its first poll to its end, with everything it logged.
#[test]
fn an_instrumented_future_awaited_inside_a_tree_is_one_nested_transaction_over_its_polls() {
    let (ended, trees) = traced_request("nested-instrumented", async {
        let rows = query_db("orders").await;
        tracing::info!(rows, "after");
    });
    ended.unwrap();
    let children = request_children(&trees);
    assert_eq!(
        children.len(),
        2,
        "one query transaction and the event after it: {children:?}"
    );
    let root = trees[0].root.as_transaction().unwrap();
    let query = root.children[0].as_transaction().unwrap();
    assert_eq!(
        (
            query.type_.as_str(),
            query.name.as_str(),
            query.data.as_str()
        ),
        ("SQL", "query_db", "table=orders")
    );
    let inside: Vec<&str> = query.children.iter().map(|m| m.data()).collect();
    assert_eq!(
        inside,
        ["message=sent&table=orders", "message=rows&table=orders"]
    );
    // The whole await (it sleeps 2 ms), not one poll's CPU time.
    assert!(
        query.duration_us >= 2_000,
        "lasted {} us",
        query.duration_us
    );
    assert_eq!(root.children[1].data(), "message=after&rows=3");
}

/// Two instrumented calls awaited one after the other are two sibling transactions: the first
/// ends when its future is dropped, right after it completes.
#[test]
fn instrumented_futures_awaited_in_turn_are_sibling_transactions() {
    let (ended, trees) = traced_request("nested-in-turn", async {
        query_db("orders").await;
        query_db("items").await;
    });
    ended.unwrap();
    let children = request_children(&trees);
    assert_eq!(
        children,
        [
            ("SQL", "query_db", "table=orders"),
            ("SQL", "query_db", "table=items")
        ]
    );
    let root = trees[0].root.as_transaction().unwrap();
    for (query, table) in root.children.iter().zip(["orders", "items"]) {
        let inside: Vec<&str> = query.children().iter().map(|m| m.data()).collect();
        assert_eq!(
            inside,
            [
                format!("message=sent&table={table}"),
                format!("message=rows&table={table}")
            ]
        );
    }
}

/// Two instrumented calls polled concurrently in one tree (`join!`) cannot both be open in
/// its one stack of transactions: each call's transaction ends when the other records, and
/// its next poll opens another. So each shows as one or more pieces side by side, never one
/// inside the other, and what each logs lands in its own piece.
#[test]
fn instrumented_futures_joined_inside_a_tree_do_not_nest_in_each_other() {
    let (ended, trees) = traced_request("nested-joined", async {
        tokio::join!(query_db("orders"), query_db("items"));
        tracing::info!("after");
    });
    ended.unwrap();
    let children = request_children(&trees);
    let (after, queries) = children.split_last().unwrap();
    assert_eq!(after.2, "message=after", "{children:?}");
    let root = trees[0].root.as_transaction().unwrap();
    let mut logged = Vec::new();
    for query in &root.children[..queries.len()] {
        let query = query
            .as_transaction()
            .expect("only query transactions before `after`");
        assert_eq!(query.name, "query_db");
        let table = query.data.strip_prefix("table=").unwrap();
        for m in &query.children {
            assert!(
                m.as_transaction().is_none(),
                "a query nested in another: {children:?}"
            );
            assert!(
                m.data().ends_with(&format!("&table={table}")),
                "{}",
                m.data()
            );
            logged.push(m.data().to_owned());
        }
    }
    logged.sort_unstable();
    assert_eq!(
        logged,
        [
            "message=rows&table=items",
            "message=rows&table=orders",
            "message=sent&table=items",
            "message=sent&table=orders"
        ]
    );
}

/// Sync code entering a span kept inside a tree in turn: what it logs between the entries
/// stays outside the span's transaction. Entries with nothing logged between them are one
/// transaction, as an instrumented future's polls are.
#[test]
fn a_nested_span_entered_in_turn_keeps_what_is_logged_between_its_entries_outside() {
    let (client, sink) = memory_client("nested-in-turn-sync");
    let subscriber = tracing_subscriber::registry().with(OcelotLayer::new());
    tracing::subscriber::with_default(subscriber, || {
        with_client(&client, || {
            let _request = tracing::info_span!("request").entered();
            let query = tracing::info_span!(target: "SQL", "query");
            query.in_scope(|| tracing::info!("first"));
            ocelot_client::event!("Step", "between");
            query.in_scope(|| tracing::info!("second"));
            query.in_scope(|| tracing::info!("third"));
            drop(query);
            tracing::info!("after");
        });
    });
    let trees = sent_trees(&client, &sink);
    let children = request_children(&trees);
    let names: Vec<&str> = children.iter().map(|(_, name, _)| *name).collect();
    assert_eq!(names[1], "between", "{children:?}");
    assert_eq!(names.len(), 4, "{children:?}");
    let root = trees[0].root.as_transaction().unwrap();
    let inside = |i: usize| -> Vec<&str> {
        let query = root.children[i].as_transaction().unwrap();
        assert_eq!(query.name, "query");
        query.children.iter().map(|m| m.data()).collect()
    };
    assert_eq!(inside(0), ["message=first"]);
    assert_eq!(inside(2), ["message=second", "message=third"]);
    assert_eq!(root.children[3].data(), "message=after");
}

/// An instrumented call that panics on a later poll: its one transaction fails with status
/// `panic` (the entry `tracing` makes to drop the future opens no second one).
#[test]
fn an_instrumented_future_panicking_on_a_later_poll_fails_its_one_transaction() {
    #[tracing::instrument(target = "SQL", skip_all)]
    async fn query_that_fails() {
        tracing::info!("sent");
        tokio::task::yield_now().await;
        panic!("connection reset");
    }

    let (ended, trees) = traced_request("nested-panic", async {
        query_that_fails().await;
    });
    assert!(ended.unwrap_err().is_panic());
    let children = request_children(&trees);
    assert_eq!(children.len(), 1, "{children:?}");
    let root = trees[0].root.as_transaction().unwrap();
    assert_eq!(root.status, "panic");
    let query = root.children[0].as_transaction().unwrap();
    assert_eq!(
        (query.name.as_str(), query.status.as_str()),
        ("query_that_fails", "panic")
    );
    let inside: Vec<&str> = query.children.iter().map(|m| m.data()).collect();
    assert_eq!(inside, ["message=sent"]);
}

/// A nested span that outlives its tree (kept after the request ended) closes later, in
/// another tree: its transaction ended with its own tree, and the close changes nothing in
/// the tree open then.
#[test]
fn a_nested_span_closed_after_its_tree_ended_changes_nothing_in_the_next_tree() {
    let (client, sink) = memory_client("nested-outlived");
    let subscriber = tracing_subscriber::registry().with(OcelotLayer::new());
    tracing::subscriber::with_default(subscriber, || {
        with_client(&client, || {
            let query = {
                let _request = tracing::info_span!("request").entered();
                let query = tracing::info_span!(target: "SQL", "query");
                query.in_scope(|| tracing::info!("inside"));
                query
            };
            let _job = ocelot_client::transaction!("Job", "next");
            let _step = ocelot_client::transaction!("Step", "open");
            drop(query);
            tracing::info!("in the step");
        });
    });
    let trees = sent_trees(&client, &sink);
    assert_eq!(trees.len(), 2, "{trees:?}");
    let children = request_children(&trees[..1]);
    assert_eq!(children, [("SQL", "query", "")]);
    let job = trees[1].root.as_transaction().unwrap();
    let step = job.children[0].as_transaction().unwrap();
    assert_eq!(step.name, "open");
    let inside: Vec<&str> = step.children.iter().map(|m| m.data()).collect();
    assert_eq!(inside, ["message=in the step"]);
}
