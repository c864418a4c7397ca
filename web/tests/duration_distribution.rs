//! A transaction name's duration distribution (CAT's power-of-two buckets): charted on the
//! transaction board's one-name view, of an hour and of a day, and given by the JSON API for
//! the name asked for by `name=`.

mod common;

use axum::Router;
use common::{app_of, get_json, ok_page, HOUR, HOUR_LABEL, NOW_MS};
use ocelot_protocol::{Header, Message, MessageTree, Transaction};
use ocelot_web::MemoryReports;
use serde_json::{json, Value};

/// An hour of the same UTC day, three hours before [`HOUR`].
const EARLIER_HOUR: u64 = HOUR - 3;
const DAY_LABEL: &str = "20261122";

/// A `URL` transaction of `duration_us` from machine `ip` in minute 1 of `hour`.
fn tree(ip: &str, hour: u64, seq: u64, name: &str, duration_us: u64) -> MessageTree {
    let mut root = Transaction::new("URL", name, hour * 3_600_000 + 60_000 + seq);
    root.duration_us = duration_us;
    MessageTree::new(
        Header {
            domain: "shop".to_owned(),
            ip_address: ip.to_owned(),
            message_id: format!("shop-0a000001-{hour}-{seq}"),
            ..Header::default()
        },
        Message::Transaction(root),
    )
}

/// `/pay` took 0.5, 3 and 3 ms on one machine and 100 and 70 000 ms on another in
/// [`HOUR`], and 3 ms once in [`EARLIER_HOUR`]; `/other`, busier, 2 ms six times.
fn app() -> Router {
    let mut reports = MemoryReports::new(NOW_MS);
    let pay = [
        ("10.0.0.1", HOUR, 500),
        ("10.0.0.1", HOUR, 3_000),
        ("10.0.0.1", HOUR, 3_000),
        ("10.0.0.2", HOUR, 100_000),
        ("10.0.0.2", HOUR, 70_000_000),
        ("10.0.0.1", EARLIER_HOUR, 3_000),
    ];
    for (seq, (ip, hour, duration_us)) in pay.into_iter().enumerate() {
        reports.add_tree(&tree(ip, hour, seq as u64, "/pay", duration_us));
    }
    for seq in 100..106 {
        reports.add_tree(&tree("10.0.0.1", HOUR, seq, "/other", 2_000));
    }
    app_of(reports)
}

/// The page's duration distribution panel.
fn distribution_panel(html: &str) -> &str {
    let start = html
        .find(r#"<section class="panel" id="duration-distribution">"#)
        .unwrap_or_else(|| panic!("no distribution panel: {html}"));
    let panel = &html[start..];
    &panel[..panel.find("</section>").expect("the panel ends")]
}

#[tokio::test]
async fn a_names_board_charts_its_distribution_from_its_first_to_its_last_bucket_with_data() {
    let uri = format!("/t?domain=shop&hour={HOUR_LABEL}&type=URL&name=%2Fpay");
    let html = ok_page(app(), &uri).await;
    let panel = distribution_panel(&html);
    assert!(panel.contains("<h2>Duration distribution</h2>"), "{panel}");
    // Drawn wide and narrow (for phones); the title says what the bars count.
    assert_eq!(panel.matches(r#"<svg class="chart wide""#).count(), 1);
    assert_eq!(panel.matches(r#"<svg class="chart narrow""#).count(), 1);
    assert_eq!(
        panel
            .matches(r#"aria-label="Transactions by duration in ms""#)
            .count(),
        2
    );
    assert!(
        !panel.contains("(count)") && !panel.contains(" count<"),
        "{panel}"
    );
    // Up to 1 ms through slower than 65 536 ms: all 18 buckets, in each drawing.
    assert_eq!(panel.matches(r#"class="chart-bar""#).count(), 2 * 18);
    for tooltip in [
        "<title>up to 1 ms: 1 transaction</title>",
        "<title>over 2 ms, up to 4 ms: 2 transactions</title>",
        "<title>over 4 ms, up to 8 ms: 0 transactions</title>",
        "<title>over 64 ms, up to 128 ms: 1 transaction</title>",
        "<title>over 65,536 ms: 1 transaction</title>",
    ] {
        assert_eq!(panel.matches(tooltip).count(), 2, "{tooltip} in {panel}");
    }
    assert!(
        panel.contains(">&gt;65,536</text>"),
        "the last bar is labelled"
    );

    // One machine: only its buckets, up to 1 ms through up to 4 ms.
    let html = ok_page(app(), &format!("{uri}&ip=10.0.0.1")).await;
    let panel = distribution_panel(&html);
    assert_eq!(panel.matches(r#"class="chart-bar""#).count(), 2 * 3);
    assert_eq!(
        panel
            .matches("<title>up to 1 ms: 1 transaction</title>")
            .count(),
        2
    );
    assert_eq!(panel.matches("up to 4 ms: 2 transactions").count(), 2);
    assert!(!panel.contains("over 65,536 ms:"), "{panel}");

    // A type's view has none.
    let html = ok_page(app(), &format!("/t?domain=shop&hour={HOUR_LABEL}&type=URL")).await;
    assert!(!html.contains("duration-distribution"));
}

#[tokio::test]
async fn a_names_day_board_charts_the_distribution_of_the_whole_day() {
    let uri = format!("/t?domain=shop&day={DAY_LABEL}&type=URL&name=%2Fpay");
    let html = ok_page(app(), &uri).await;
    let panel = distribution_panel(&html);
    // The earlier hour's 3 ms with the two of this hour.
    assert_eq!(
        panel
            .matches("over 2 ms, up to 4 ms: 3 transactions")
            .count(),
        2,
        "{panel}"
    );
    assert_eq!(panel.matches(r#"class="chart-bar""#).count(), 2 * 18);
}

/// `(upToMs, count)` of the buckets with transactions of `name` in `json`'s first type.
fn non_empty(json: &Value, name: &str) -> Vec<(Value, u64)> {
    let name = json["types"][0]["names"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {json}"));
    let buckets = name["distribution"].as_array().unwrap();
    assert_eq!(buckets.len(), 18, "every bucket: {buckets:?}");
    buckets
        .iter()
        .filter(|b| b["count"] != 0)
        .map(|b| (b["upToMs"].clone(), b["count"].as_u64().unwrap()))
        .collect()
}

#[tokio::test]
async fn the_api_gives_the_distribution_of_the_name_asked_for_and_of_no_other() {
    let base = format!("/api/transaction?domain=shop&hour={HOUR_LABEL}&type=URL");
    let json = get_json(app(), &format!("{base}&name=/pay"), 200).await;
    assert_eq!(
        non_empty(&json, "/pay"),
        [
            (json!(1), 1),
            (json!(4), 2),
            (json!(128), 1),
            (Value::Null, 1)
        ]
    );
    let names = json["types"][0]["names"].as_array().unwrap();
    let pay = names.iter().find(|n| n["name"] == "/pay").unwrap();
    assert_eq!(pay["distribution"][0], json!({"upToMs": 1, "count": 1}));
    assert_eq!(pay["distribution"][16]["upToMs"], 65_536);

    // Without `name=`, no name has one.
    let json = get_json(app(), &base, 200).await;
    for name in json["types"][0]["names"].as_array().unwrap() {
        assert!(name.get("distribution").is_none(), "{name}");
    }

    // The name asked for is listed alone, whatever the `limit`; the type still counts
    // every name.
    for limit in ["", "&limit=1"] {
        let json = get_json(app(), &format!("{base}{limit}&name=/pay"), 200).await;
        let listed: Vec<&str> = json["types"][0]["names"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["name"].as_str().unwrap())
            .collect();
        assert_eq!(listed, ["/pay"], "{limit}");
        assert_eq!(json["types"][0]["namesLeftOut"], 1, "{limit}");
        assert_eq!(json["types"][0]["count"], 5 + 6, "{limit}");
    }

    // One machine's, and the day's.
    let json = get_json(app(), &format!("{base}&name=/pay&ip=10.0.0.2"), 200).await;
    assert_eq!(
        non_empty(&json, "/pay"),
        [(json!(128), 1), (Value::Null, 1)]
    );
    let uri = format!("/api/transaction?domain=shop&day={DAY_LABEL}&type=URL&name=/pay");
    let json = get_json(app(), &uri, 200).await;
    assert_eq!(
        non_empty(&json, "/pay"),
        [
            (json!(1), 1),
            (json!(4), 3),
            (json!(128), 1),
            (Value::Null, 1)
        ]
    );
}

#[tokio::test]
async fn a_name_without_its_type_is_a_400_naming_the_name() {
    for uri in [
        format!("/api/transaction?domain=shop&hour={HOUR_LABEL}&name=/pay"),
        format!("/api/transaction?domain=shop&day={DAY_LABEL}&name=/pay"),
        format!("/api/event?domain=shop&hour={HOUR_LABEL}&name=get"),
    ] {
        let json = get_json(app(), &uri, 400).await;
        let error = json["error"].as_str().unwrap();
        assert!(error.contains("“name”"), "{uri}: {error}");
    }
    // An empty one without a type is no name, as every `name=` was before the API read it.
    let uri = format!("/api/transaction?domain=shop&hour={HOUR_LABEL}&name=");
    let json = get_json(app(), &uri, 200).await;
    assert!(json["types"].as_array().is_some_and(|t| !t.is_empty()));
}
