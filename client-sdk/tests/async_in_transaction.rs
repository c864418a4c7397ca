//! `in_transaction` carries a tree through `.await`s while a multi-threaded runtime moves the
//! task between worker threads; `#[transaction]` wraps sync and async functions.

mod support;

use std::time::Duration;

use ocelot_client::{event, in_transaction, transaction, with_client};
use support::{memory_client, runtime, sent_trees};

#[ocelot_client::attr::transaction(type = "SQL", name = "OrderDao.load")]
async fn load_order(id: u64) -> Result<u64, std::io::Error> {
    tokio::task::yield_now().await;
    event!("SQL.Database", "orders");
    if id == 0 {
        return Err(std::io::Error::other("no such order"));
    }
    Ok(id * 2)
}

#[ocelot_client::attr::transaction]
fn price(id: u64) -> u64 {
    event!("Price", "computed");
    id + 1
}

#[test]
fn a_tree_survives_awaits_on_a_multi_threaded_runtime() {
    let (client, sink) = memory_client("async-service");
    let runtime = runtime(2);
    let tasks: Vec<_> = (0..20u64)
        .map(|i| {
            let future = with_client(&client, || {
                in_transaction("URL", format!("/api/order/{i}"), async move {
                    event!("Step", "start");
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    let doubled = load_order(i + 1).await.unwrap();
                    tokio::task::yield_now().await;
                    let priced = price(doubled);
                    {
                        let _t = transaction!("Cache", "put");
                    }
                    event!("Step", "end");
                    priced
                })
            });
            runtime.spawn(future)
        })
        .collect();
    for (i, task) in tasks.into_iter().enumerate() {
        assert_eq!(runtime.block_on(task).unwrap(), (i as u64 + 1) * 2 + 1);
    }
    let trees = sent_trees(&client, &sink);
    assert_eq!(trees.len(), 20);
    for tree in &trees {
        assert_eq!(tree.root.type_(), "URL");
        let children: Vec<(&str, &str)> = tree
            .root
            .children()
            .iter()
            .map(|m| (m.type_(), m.name()))
            .collect();
        assert_eq!(
            children,
            vec![
                ("Step", "start"),
                ("SQL", "OrderDao.load"),
                ("Method", "async_in_transaction::price"),
                ("Cache", "put"),
                ("Step", "end"),
            ],
            "{}",
            tree.root.name()
        );
        let sql = &tree.root.children()[1];
        assert_eq!(sql.children()[0].name(), "orders");
        let root = tree.root.as_transaction().unwrap();
        assert!(
            root.duration_us >= 2_000,
            "root lasted {} us",
            root.duration_us
        );
    }
}

#[test]
fn a_dropped_future_ends_its_transaction_as_cancelled() {
    let (client, sink) = memory_client("async-service");
    let runtime = runtime(2);
    let future = with_client(&client, || {
        in_transaction("URL", "/slow", async {
            event!("Step", "start");
            tokio::time::sleep(Duration::from_secs(60)).await;
        })
    });
    runtime.block_on(async {
        let _ = tokio::time::timeout(Duration::from_millis(5), future).await;
    });
    let trees = sent_trees(&client, &sink);
    assert_eq!(trees.len(), 1);
    assert_eq!(trees[0].root.status(), "Cancelled");
    assert_eq!(trees[0].root.children()[0].name(), "start");
}

#[test]
fn a_timed_out_nested_future_ends_cancelled_and_the_outer_one_continues_beside_it() {
    let (client, sink) = memory_client("async-service");
    let runtime = runtime(2);
    let outer = with_client(&client, || {
        in_transaction("URL", "/outer", async {
            let slow = in_transaction("RPC", "slow-call", async {
                event!("Step", "sent");
                tokio::time::sleep(Duration::from_secs(60)).await;
            });
            let timed_out = tokio::time::timeout(Duration::from_millis(10), slow).await;
            assert!(timed_out.is_err());
            event!("After", "timeout-handled");
            tokio::time::sleep(Duration::from_millis(100)).await;
            let _t = transaction!("Cache", "fallback");
        })
    });
    runtime.block_on(runtime.spawn(outer)).unwrap();
    let trees = sent_trees(&client, &sink);
    assert_eq!(trees.len(), 1);
    let children: Vec<(&str, &str, &str)> = trees[0]
        .root
        .children()
        .iter()
        .map(|m| (m.type_(), m.name(), m.status()))
        .collect();
    assert_eq!(
        children,
        [
            ("RPC", "slow-call", "Cancelled"),
            ("After", "timeout-handled", "0"),
            ("Cache", "fallback", "0"),
        ]
    );
    let slow = trees[0].root.children()[0].as_transaction().unwrap();
    assert_eq!(slow.children.len(), 1);
    // Ended when the timeout dropped it, not when the outer transaction ended 100 ms later.
    assert!(slow.duration_us < 90_000, "lasted {} us", slow.duration_us);
    assert_eq!(trees[0].root.status(), "0");
}

#[test]
fn the_attribute_records_sync_functions_as_their_own_trees() {
    let (client, sink) = memory_client("sync-service");
    let value = with_client(&client, || price(41));
    assert_eq!(value, 42);
    let trees = sent_trees(&client, &sink);
    assert_eq!(trees[0].root.type_(), "Method");
    assert_eq!(trees[0].root.name(), "async_in_transaction::price");
    assert_eq!(trees[0].root.children()[0].name(), "computed");
}

#[ocelot_client::attr::transaction(type = "Service", name = "parse")]
fn parse_quantity(text: &str) -> Result<u32, std::num::ParseIntError> {
    if text.is_empty() {
        return Ok(0);
    }
    let n: u32 = text.parse()?;
    Ok(n)
}

#[ocelot_client::attr::transaction(type = "Service", name = "quote")]
fn quote(text: &str) -> Result<u32, Box<dyn std::error::Error + Send + Sync>> {
    if text == "missing" {
        return Err(Box::new(std::io::Error::from(std::io::ErrorKind::NotFound)));
    }
    if text.is_empty() {
        return Err("no quantity".into());
    }
    Ok(text.parse::<u32>()?)
}

#[ocelot_client::attr::transaction(type = "Service", name = "quote")]
async fn quote_async(text: &str) -> Result<u32, Box<dyn std::error::Error + Send + Sync>> {
    if text == "missing" {
        return Err(Box::new(std::io::Error::from(std::io::ErrorKind::NotFound)));
    }
    Ok(text.parse::<u32>()?)
}

/// Borrowed returns keep their elided lifetimes under the attribute.
#[ocelot_client::attr::transaction(type = "Service", name = "word")]
fn first_word(text: &str) -> &str {
    text.split(' ').next().unwrap_or_default()
}

/// An error type without `Debug`: the attribute still fails the transaction.
struct Opaque;

#[ocelot_client::attr::transaction(type = "Service", name = "opaque")]
fn opaque(fail: bool) -> Result<(), Opaque> {
    if fail {
        Err(Opaque)
    } else {
        Ok(())
    }
}

#[test]
fn a_boxed_error_fails_its_transaction_with_the_type_inside() {
    let (client, sink) = memory_client("attr-boxed");
    with_client(&client, || {
        assert_eq!(quote("3").ok(), Some(3));
        assert!(quote("x").is_err());
        assert!(quote("missing").is_err());
        assert!(quote("").is_err());
        assert!(opaque(true).is_err());
        assert!(opaque(false).is_ok());
        assert_eq!(first_word("cart items"), "cart");
    });
    let runtime = runtime(1);
    let failed = with_client(&client, || {
        in_transaction("URL", "/api/quote", async {
            (
                quote_async("missing").await.is_err(),
                quote_async("y").await.is_err(),
            )
        })
    });
    assert_eq!(runtime.block_on(failed), (true, true));
    let trees = sent_trees(&client, &sink);
    let statuses: Vec<&str> = trees.iter().map(|t| t.root.status()).collect();
    assert_eq!(
        statuses,
        [
            "0",
            "ParseIntError",
            "io::Error",
            // A boxed message has no type inside to name.
            "Box<dyn Error + Send + Sync>",
            "Opaque",
            "0",
            "0",
            "0",
        ]
    );
    let async_calls: Vec<&str> = trees[7]
        .root
        .children()
        .iter()
        .map(|m| m.status())
        .collect();
    assert_eq!(async_calls, ["io::Error", "ParseIntError"]);
}

#[test]
fn a_function_returning_err_fails_its_transaction_with_the_error_type() {
    let (client, sink) = memory_client("attr-service");
    let runtime = runtime(1);
    with_client(&client, || {
        assert_eq!(parse_quantity("12"), Ok(12));
        assert_eq!(parse_quantity(""), Ok(0));
        assert!(parse_quantity("x").is_err());
    });
    let failed_async = with_client(&client, || {
        in_transaction("URL", "/api/order/0", async {
            load_order(0).await.is_err()
        })
    });
    assert!(runtime.block_on(failed_async));
    let trees = sent_trees(&client, &sink);
    let statuses: Vec<&str> = trees[..3].iter().map(|t| t.root.status()).collect();
    // The short name, as for a boxed one above.
    assert_eq!(statuses, ["0", "0", "ParseIntError"]);
    let load = &trees[3].root.children()[0];
    assert_eq!(load.name(), "OrderDao.load");
    assert_eq!(load.status(), "io::Error");
}

/// An HTTP handler's error as axum's examples write it: a status code and a message.
#[derive(Debug)]
struct StatusCode(#[allow(dead_code)] u16);

#[ocelot_client::attr::transaction(type = "URL", name = "/api/cart")]
fn cart(fail: bool) -> Result<(), (StatusCode, String)> {
    if fail {
        return Err((StatusCode(404), "no cart".to_owned()));
    }
    Ok(())
}

#[ocelot_client::attr::transaction(type = "URL", name = "/api/cart")]
fn cart_with_generic_part(fail: bool) -> Result<(), (StatusCode, Vec<String>)> {
    if fail {
        return Err((StatusCode(400), vec!["qty".to_owned()]));
    }
    Ok(())
}

/// An error that is a tuple (axum's `(StatusCode, String)`) was named by cutting its type
/// name at the last `::`, which gave the status `String)`.
#[test]
fn a_tuple_error_is_named_by_the_short_names_of_its_parts() {
    let (client, sink) = memory_client("attr-tuple");
    with_client(&client, || {
        assert!(cart(true).is_err());
        assert!(cart_with_generic_part(true).is_err());
    });
    let trees = sent_trees(&client, &sink);
    let statuses: Vec<&str> = trees.iter().map(|t| t.root.status()).collect();
    assert_eq!(statuses, ["(StatusCode, String)", "(StatusCode, Vec)"]);
}

/// A handler as `in_transaction` middleware runs it: nested work, awaits on other workers,
/// then an HTTP status.
async fn handler(code: u16) -> u16 {
    in_transaction("SQL", "OrderDao.load", async {
        tokio::time::sleep(Duration::from_millis(1)).await;
    })
    .await;
    tokio::task::yield_now().await;
    code
}

/// An `in_transaction` middleware gave no way to mark its own URL transaction failed on a
/// 5xx (or add the status code as data): no handle, no "current transaction".
/// `current_transaction()` is that transaction after the handler returns; a handle taken
/// before the handler's awaits still works after them, and does nothing once it has ended.
#[test]
fn a_middleware_sets_the_status_and_data_of_its_own_transaction_after_the_handler() {
    use ocelot_client::current_transaction;

    let (client, sink) = memory_client("middleware");
    let runtime = runtime(2);
    assert_eq!(with_client(&client, current_transaction), None);
    let requests: Vec<_> = [200, 503]
        .into_iter()
        .map(|code| {
            let future = with_client(&client, || {
                in_transaction("URL", format!("/api/order/{code}"), async move {
                    let url = current_transaction().unwrap();
                    let code = handler(code).await;
                    url.add_data("status", code);
                    if code >= 500 {
                        current_transaction().unwrap().set_status(code.to_string());
                    }
                    url
                })
            });
            runtime.spawn(future)
        })
        .collect();
    for request in requests {
        let url = runtime.block_on(request).unwrap();
        // Ended with its future: the handle changes nothing now.
        assert!(!url.is_recording());
        url.set_status("late");
    }
    let trees = sent_trees(&client, &sink);
    let mut summary: Vec<(&str, &str, &str, &str)> = trees
        .iter()
        .map(|t| {
            let child = &t.root.children()[0];
            (
                t.root.name(),
                t.root.status(),
                t.root.data(),
                child.status(),
            )
        })
        .collect();
    // The two requests ran at once: either may arrive first.
    summary.sort_unstable();
    assert_eq!(
        summary,
        [
            ("/api/order/200", "0", "status=200", "0"),
            ("/api/order/503", "503", "status=503", "0"),
        ]
    );
}
