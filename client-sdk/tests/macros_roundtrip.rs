//! Trees built with the macros decode (from the bytes the transport received) to exactly what
//! was logged.

mod support;

use std::error::Error;
use std::fmt;

use ocelot_client::{
    error, event, metric_count, metric_duration, metric_sum, transaction, with_client,
};
use ocelot_protocol::{Message, MessageId};
use support::{memory_client, sent_trees};

#[derive(Debug)]
struct Timeout;
impl fmt::Display for Timeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("socket timed out")
    }
}
impl Error for Timeout {}

#[derive(Debug)]
struct QueryFailed(Timeout);
impl fmt::Display for QueryFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("query failed")
    }
}
impl Error for QueryFailed {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&self.0)
    }
}

#[test]
fn nested_transactions_events_and_data_arrive_as_logged() {
    let (client, sink) = memory_client("order-service");
    with_client(&client, || {
        let url = transaction!("URL", "/api/order/create");
        url.add_data("method", "POST");
        url.add_data("uid", 42);
        event!("URL.Server", "127.0.0.1");
        {
            let sql = transaction!("SQL", format!("OrderDao.insert{}", 1));
            event!("SQL.Method", "INSERT", "0", "rows=1");
            sql.set_status("0");
        }
        {
            let cache = transaction!("Cache.redis", "order:get");
            cache.set_status("java.net.SocketTimeoutException");
            event!("Cache.redis.server", "10.0.0.9:6379");
        }
        metric_count!("order.count");
        metric_count!("order.count", 3);
        metric_duration!("order.latency", 150);
        metric_sum!("order.amount", 99);
        metric_sum!("order.amount", 250, 2);
    });
    let trees = sent_trees(&client, &sink);
    assert_eq!(trees.len(), 1);
    let tree = &trees[0];
    assert_eq!(tree.header.domain, "order-service");
    assert_eq!(tree.header.hostname, "test-host");
    assert_eq!(tree.header.ip_address, "192.0.2.7");
    let id: MessageId = tree.header.message_id.parse().unwrap();
    assert_eq!(id.domain, "order-service");
    assert_eq!(id.ip_hex(), "c0000207");
    assert_eq!(tree.header.parent_id(), None);
    assert_eq!(tree.header.root_id(), None);

    let Message::Transaction(root) = &tree.root else {
        panic!("root is a transaction")
    };
    assert_eq!(
        (root.type_.as_str(), root.name.as_str()),
        ("URL", "/api/order/create")
    );
    assert_eq!(root.status, "0");
    assert_eq!(root.data, "method=POST&uid=42");
    let kinds: Vec<(&str, &str, &str, &str)> = root
        .children
        .iter()
        .map(|m| (m.type_(), m.name(), m.status(), m.data()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("URL.Server", "127.0.0.1", "0", ""),
            ("SQL", "OrderDao.insert1", "0", ""),
            (
                "Cache.redis",
                "order:get",
                "java.net.SocketTimeoutException",
                ""
            ),
            ("", "order.count", "C", "1"),
            ("", "order.count", "C", "3"),
            ("", "order.latency", "T", "150"),
            ("", "order.amount", "S", "99"),
            ("", "order.amount", "S,C", "2,250"),
        ]
    );
    assert!(matches!(root.children[3], Message::Metric(_)));
    let sql = root.children[1].as_transaction().unwrap();
    assert_eq!(sql.children.len(), 1);
    assert_eq!(sql.children[0].data(), "rows=1");
    let cache = root.children[2].as_transaction().unwrap();
    assert_eq!(cache.children[0].name(), "10.0.0.9:6379");
    // Times nest: children start no earlier than their parent and end within it (ms resolution).
    assert!(sql.timestamp_ms >= root.timestamp_ms);
    assert!(sql.duration_us <= root.duration_us);
}

#[test]
fn error_logs_the_source_chain_and_fails_the_enclosing_transaction() {
    let (client, sink) = memory_client("payment-service");
    with_client(&client, || {
        let _t = transaction!("Service", "PaymentService.pay");
        {
            let inner = transaction!("SQL", "PaymentDao.load");
            inner.fail(&QueryFailed(Timeout));
        }
        error!(&QueryFailed(Timeout));
    });
    let trees = sent_trees(&client, &sink);
    let root = trees[0].root.as_transaction().unwrap();
    assert_eq!(root.status, "ERROR");
    let sql = root.children[0].as_transaction().unwrap();
    assert!(sql.status.ends_with("QueryFailed"), "{}", sql.status);
    let Message::Event(fail_event) = &sql.children[0] else {
        panic!("an Error event")
    };
    assert_eq!(fail_event.type_, "Error");
    let Message::Event(err) = &root.children[1] else {
        panic!("an Error event")
    };
    assert_eq!(err.type_, "Error");
    assert!(err.name.ends_with("QueryFailed"), "{}", err.name);
    assert_eq!(err.status, "ERROR");
    assert_eq!(err.data, "query failed\nCaused by: socket timed out");
}

/// `error!(&boxed)` with a `Box<dyn Error + Send + Sync>` did not compile (E0277 inside
/// `__private::log_error`), and a concrete error was named by its full path while the same
/// error boxed was named by its short one.
#[test]
fn error_takes_boxed_and_anyhow_errors_and_names_them_as_the_concrete_one() {
    let parse = || "x".parse::<u32>().unwrap_err();
    let (client, sink) = memory_client("error-names");
    with_client(&client, || {
        let _t = transaction!("Service", "names");
        let boxed_sync: Box<dyn Error + Send + Sync> = Box::new(parse());
        let boxed: Box<dyn Error> = Box::new(parse());
        let shared: std::sync::Arc<dyn Error> = std::sync::Arc::new(parse());
        let any = anyhow::Error::new(parse());
        error!(&parse());
        error!(&boxed_sync);
        error!(&*boxed_sync);
        error!(&boxed);
        error!(&shared);
        error!(&any);
        error!(&Box::new(QueryFailed(Timeout)));
        error!(&anyhow::anyhow!("Order 17 not found"));
    });
    let trees = sent_trees(&client, &sink);
    let root = trees[0].root.as_transaction().unwrap();
    let names: Vec<&str> = root.children.iter().map(|m| m.name()).collect();
    let parse_int = "ParseIntError";
    assert_eq!(
        names,
        [
            parse_int,
            parse_int,
            parse_int,
            parse_int,
            parse_int,
            parse_int,
            "QueryFailed",
            "anyhow::Error"
        ]
    );
    assert!(root.children.iter().all(|m| m.type_() == "Error"));
    assert_eq!(root.status, "ERROR");
}

/// `TransactionGuard::fail` took only `&E` for an error `E`: a `Box<dyn Error + Send + Sync>`,
/// an `Arc<dyn Error>` or an `anyhow::Error` had to be written `&*boxed`. It now takes them
/// as they are (given away), and names them as `error!` does.
#[test]
fn fail_takes_boxed_and_anyhow_errors_as_they_are_and_names_them_as_error_does() {
    let parse = || "x".parse::<u32>().unwrap_err();
    let (client, sink) = memory_client("fail-names");
    with_client(&client, || {
        let _t = transaction!("Service", "names");
        // Each call in a transaction of its own, which it fails.
        let call = || transaction!("Call", "one");
        call().fail(&parse());
        let boxed: Box<dyn Error + Send + Sync> = Box::new(parse());
        call().fail(boxed);
        let boxed: Box<dyn Error + Send + Sync> = Box::new(parse());
        call().fail(&*boxed);
        let boxed: Box<dyn Error> = Box::new(parse());
        call().fail(boxed);
        let shared: std::sync::Arc<dyn Error> = std::sync::Arc::new(parse());
        call().fail(shared);
        call().fail(anyhow::Error::new(parse()));
        call().fail(Box::new(QueryFailed(Timeout)));
        call().fail(anyhow::anyhow!("Order 17 not found"));
    });
    let trees = sent_trees(&client, &sink);
    let root = trees[0].root.as_transaction().unwrap();
    let named: Vec<(&str, &str)> = root
        .children
        .iter()
        .map(|m| {
            let t = m.as_transaction().unwrap();
            (t.status.as_str(), t.children[0].name())
        })
        .collect();
    let parse_int = ("ParseIntError", "ParseIntError");
    assert_eq!(
        named,
        [
            parse_int,
            parse_int,
            parse_int,
            parse_int,
            parse_int,
            parse_int,
            ("QueryFailed", "QueryFailed"),
            ("anyhow::Error", "anyhow::Error"),
        ]
    );
    let last = root.children[7].as_transaction().unwrap();
    let Message::Event(event) = &last.children[0] else {
        panic!("an Error event")
    };
    assert_eq!(
        (event.type_.as_str(), event.data.as_str()),
        ("Error", "Order 17 not found")
    );
}

#[test]
fn a_message_outside_any_transaction_is_a_tree_of_its_own() {
    // Counts and sums outside a transaction are aggregated instead (tests/metric_aggregator.rs);
    // durations are not.
    let (client, sink) = memory_client("lonely");
    with_client(&client, || {
        event!("Error", "RuntimeException", "ERROR", "standalone failure");
        metric_duration!("login.latency", 12);
    });
    let trees = sent_trees(&client, &sink);
    assert_eq!(trees.len(), 2);
    let Message::Event(e) = &trees[0].root else {
        panic!("an event root")
    };
    assert_eq!(
        (e.name.as_str(), e.data.as_str()),
        ("RuntimeException", "standalone failure")
    );
    assert!(matches!(&trees[1].root, Message::Metric(m) if m.status == "T" && m.data == "12"));
    assert_ne!(trees[0].header.message_id, trees[1].header.message_id);
}

#[test]
fn guards_dropped_out_of_order_still_give_a_well_nested_tree() {
    let (client, sink) = memory_client("order-service");
    with_client(&client, || {
        let outer = transaction!("A", "outer");
        let inner = transaction!("B", "inner");
        drop(outer); // ends `inner` too
        event!("C", "after"); // a tree of its own
        drop(inner); // already ended: no effect
    });
    let trees = sent_trees(&client, &sink);
    assert_eq!(trees.len(), 2);
    assert_eq!(trees[0].root.children()[0].name(), "inner");
    assert_eq!(trees[1].root.name(), "after");
}

/// A guard whose transaction ended with its parent's said `is_recording() == true`, while
/// its `set_status` and `add_data` went nowhere.
#[test]
fn a_guard_ended_by_its_parent_says_it_is_no_longer_recording() {
    let (client, _sink) = memory_client("order-service");
    with_client(&client, || {
        let outer = transaction!("A", "outer");
        let inner = transaction!("B", "inner");
        assert!(outer.is_recording() && inner.is_recording());
        drop(outer);
        assert!(!inner.is_recording());
        // A later transaction at the same depth is not mistaken for the ended one.
        let next = transaction!("A", "next");
        assert!(next.is_recording() && !inner.is_recording());
    });
}

#[test]
fn without_a_client_nothing_is_recorded_and_nothing_panics() {
    let t = transaction!("URL", "/nowhere");
    assert!(!t.is_recording());
    t.add_data("k", "v");
    event!("E", "e");
    error!(&Timeout);
    metric_count!("c");
    drop(t);
}

#[test]
fn message_ids_are_distinct_and_in_the_current_hour() {
    let (client, sink) = memory_client("ids");
    with_client(&client, || {
        for _ in 0..100 {
            let _t = transaction!("T", "t");
        }
    });
    let trees = sent_trees(&client, &sink);
    let mut ids: Vec<MessageId> = trees
        .iter()
        .map(|t| t.header.message_id.parse().unwrap())
        .collect();
    let hour = ocelot_protocol::hour_of(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64,
    );
    assert!(ids.iter().all(|id| id.hour == hour || id.hour + 1 == hour));
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 100);
}

#[test]
fn a_tree_of_2100_events_is_cut_after_2000_like_cat() {
    let (client, sink) = memory_client("bulk");
    with_client(&client, || {
        let _t = transaction!("Bulk", "truncated-2100");
        for i in 0..2100 {
            event!("I", format!("e{i}"));
        }
    });
    let trees = sent_trees(&client, &sink);
    assert_eq!(trees.len(), 2);
    let (first, second) = (&trees[0], &trees[1]);
    let part1 = first.root.as_transaction().unwrap();
    assert_eq!(part1.children.len(), 2001);
    assert_eq!(part1.children[1999].name(), "e1999");
    let next = &part1.children[2000];
    assert_eq!((next.type_(), next.name()), ("RemoteCall", "Next"));
    assert_eq!(next.data(), second.header.message_id);
    assert_eq!(second.header.parent_message_id, first.header.message_id);
    assert_eq!(second.header.root_message_id, first.header.message_id);
    let part2 = second.root.as_transaction().unwrap();
    assert_eq!(
        (part2.type_.as_str(), part2.name.as_str()),
        ("Bulk", "truncated-2100")
    );
    assert_eq!(part2.children[0].name(), "e2000");
    assert_eq!(part2.children[99].name(), "e2099");
    // The last part carries the total duration of all parts, as CAT clients add it.
    let total = part2.children.last().unwrap();
    assert_eq!(
        (total.type_(), total.name()),
        ("TruncatedTransaction", "TotalDuration")
    );
    let total_us: u64 = total.data().parse().unwrap();
    assert!(total_us >= part1.duration_us);
    assert_eq!(part2.children.len(), 101);
}

#[test]
fn a_cut_inside_nested_transactions_continues_the_open_chain() {
    let (client, sink) = memory_client("bulk");
    with_client(&client, || {
        let _root = transaction!("Job", "import");
        let _batch = transaction!("Batch", "b1");
        for i in 0..2005 {
            event!("Row", format!("r{i}"));
        }
    });
    let trees = sent_trees(&client, &sink);
    assert_eq!(trees.len(), 2);
    let part1 = trees[0].root.as_transaction().unwrap();
    // Root holds the cut batch, then the Next event at root level.
    assert_eq!(part1.children.len(), 2);
    assert_eq!(part1.children[0].name(), "b1");
    assert_eq!(part1.children[1].name(), "Next");
    let part2 = trees[1].root.as_transaction().unwrap();
    assert_eq!(part2.name, "import");
    let batch = part2.children[0].as_transaction().unwrap();
    assert_eq!(batch.name, "b1");
    let rows = part1.children[0].children().len() + batch.children.len();
    assert_eq!(rows, 2005);
}

#[test]
fn a_cut_sends_parts_as_success_and_the_last_part_keeps_the_application_status_and_data() {
    let (client, sink) = memory_client("bulk");
    with_client(&client, || {
        let t = transaction!("Job", "import");
        error!(&Timeout);
        t.add_data("file", "a.csv");
        let batch = transaction!("Batch", "b1");
        batch.set_status("PARTIAL");
        for i in 0..4100 {
            event!("Row", format!("r{i}"));
        }
        t.add_data("rows", 4100);
    });
    let trees = sent_trees(&client, &sink);
    assert_eq!(trees.len(), 3);
    // CAT's truncateAndFlush: the parts sent before the end are copies with status "0" (the
    // server skips them anyway, as their last child is `RemoteCall/Next`).
    for part in &trees[..2] {
        let root = part.root.as_transaction().unwrap();
        assert_eq!(root.status, "0");
        let batch = root.children.iter().find(|m| m.name() == "b1").unwrap();
        assert_eq!(batch.status(), "0");
        assert_eq!(root.children.last().unwrap().name(), "Next");
    }
    // The last part is the one counted: it says the job failed.
    let last = trees[2].root.as_transaction().unwrap();
    assert_eq!(last.status, "ERROR");
    assert_eq!(last.data, "file=a.csv&rows=4100");
    let batch = last.children[0].as_transaction().unwrap();
    assert_eq!(batch.status, "PARTIAL");
    assert_eq!(last.children.last().unwrap().name(), "TotalDuration");
}
