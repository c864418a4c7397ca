//! The day view (`day=YYYYMMDD`, CAT's history mode) of the transaction and event boards
//! and their JSON API, over reports of several hours of one UTC day.

mod common;

use axum::http::StatusCode;
use axum::Router;
use common::{app_of, get_json, html_page as page};
use ocelot_protocol::{Header, Leaf, Message, MessageTree, Transaction};
use ocelot_web::MemoryReports;
use serde_json::Value;

/// 2026-11-22 UTC.
const DAY: u64 = 498_703 / 24;
const DAY_LABEL: &str = "20261122";
const DAY_START_MS: u64 = DAY * 86_400_000;
/// Now: the next day, 10:00, so the day has run all its 86 400 s.
const LATER_MS: u64 = DAY_START_MS + 86_400_000 + 10 * 3_600_000;

/// The day's traffic of `shop`: `(hour of the day, machine, transactions, duration µs)`.
/// Durations differ a hundredfold between hours, so the day's P95 is far from any
/// average of the hours' P95s.
const HOURS: [(u64, &str, u64, u64); 3] = [
    (1, "10.0.0.1", 200, 2_000),
    (9, "10.0.0.2", 100, 20_000),
    (17, "10.0.0.1", 30, 900_000),
];

/// One `URL /pay` transaction at `timestamp_ms` holding a `Cache get` event; every tenth
/// fails (transaction and event).
fn tree(domain: &str, ip: &str, seq: u64, timestamp_ms: u64, duration_us: u64) -> MessageTree {
    let failed = seq % 10 == 0;
    let status = if failed { "ERROR" } else { "0" };
    let mut root = Transaction::new("URL", "/pay", timestamp_ms);
    root.duration_us = duration_us;
    root.status = status.to_owned();
    root.children.push(Message::Event(Leaf::new(
        "Cache",
        "get",
        status,
        timestamp_ms,
        "",
    )));
    let hour = timestamp_ms / 3_600_000;
    MessageTree::new(
        Header {
            domain: domain.to_owned(),
            ip_address: ip.to_owned(),
            message_id: format!("{domain}-0a000001-{hour}-{seq}"),
            ..Header::default()
        },
        Message::Transaction(root),
    )
}

/// `shop`'s trees of [`HOURS`], each at `hour_start_ms(hour)` plus a few seconds.
fn shop_trees(hour_start_ms: impl Fn(u64) -> u64) -> Vec<MessageTree> {
    let mut trees = Vec::new();
    let mut seq = 0;
    for (hour, ip, n, duration_us) in HOURS {
        for i in 0..n {
            seq += 1;
            trees.push(tree(
                "shop",
                ip,
                seq,
                hour_start_ms(hour) + i * 5_000,
                duration_us,
            ));
        }
    }
    trees
}

/// [`HOURS`] of `shop` on [`DAY`], plus `old` on the day before, seen at `now_ms`.
fn day_reports(now_ms: u64) -> MemoryReports {
    let mut reports = MemoryReports::new(now_ms);
    reports.add_trees(&shop_trees(|hour| DAY_START_MS + hour * 3_600_000));
    reports.add_tree(&tree("old", "10.0.0.9", 1, DAY_START_MS - 3_600_000, 1_000));
    reports
}

fn day_app() -> Router {
    app_of(day_reports(LATER_MS))
}

fn hour_label(hour_of_day: u64) -> String {
    format!("{DAY_LABEL}{hour_of_day:02}")
}

#[tokio::test]
async fn the_day_api_sums_the_hours_and_its_percentiles_are_those_of_all_the_trees() {
    let uri = format!("/api/transaction?domain=shop&day={DAY_LABEL}");
    let json = get_json(day_app(), &uri, 200).await;
    assert_eq!(json["day"], DAY_LABEL);
    assert_eq!(
        json["hours"],
        serde_json::json!([hour_label(1), hour_label(9), hour_label(17)])
    );
    assert_eq!(json["ips"], serde_json::json!(["10.0.0.1", "10.0.0.2"]));
    let url = &json["types"][0];
    let pay = &url["names"][0];
    assert_eq!(url["count"], 330);
    assert_eq!(url["fail"], 33);
    assert_eq!(pay["count"], 330);
    // TPS over the whole (past) day.
    assert_eq!(url["tps"].as_f64().unwrap(), 330.0 / 86_400.0);

    // One report of every tree: all put in one hour of a reference source.
    let reference_hour_ms = DAY_START_MS + 20 * 3_600_000;
    let mut reference = MemoryReports::new(LATER_MS);
    reference.add_trees(&shop_trees(|_| reference_hour_ms));
    let uri = format!("/api/transaction?domain=shop&hour={}", hour_label(20));
    let one = get_json(app_of(reference), &uri, 200).await;
    let one = &one["types"][0];
    for figure in [
        "count", "fail", "min", "max", "avg", "std", "p50", "p90", "p95", "p99", "p999",
    ] {
        assert_eq!(url[figure], one[figure], "{figure}");
        assert_eq!(pay[figure], one[figure], "{figure} of the name");
    }
    // 30 of 330 (9 %) took 900 ms: the union's P95 is there. The hours' P95s (2, 20 and
    // 900 ms) averaged by count, as CAT merges them, would say about 96 ms.
    let p95 = url["p95"].as_f64().unwrap();
    assert!((p95 - 900.0).abs() < 9.0, "{p95}");
    let hourly: Vec<f64> = url["hours"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["p95"].as_f64().unwrap())
        .collect();
    let averaged = (hourly[0] * 200.0 + hourly[1] * 100.0 + hourly[2] * 30.0) / 330.0;
    assert!(averaged < 100.0, "{averaged}");
}

#[tokio::test]
async fn the_day_api_has_one_row_per_hour_with_data_and_no_minutes() {
    let uri = format!("/api/transaction?domain=shop&day={DAY_LABEL}");
    let json = get_json(day_app(), &uri, 200).await;
    let url = &json["types"][0];
    let rows: Vec<(String, u64, u64)> = url["hours"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["hour"].as_str().unwrap().to_owned(),
                h["count"].as_u64().unwrap(),
                h["fail"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (hour_label(1), 200, 20),
            (hour_label(9), 100, 10),
            (hour_label(17), 30, 3)
        ]
    );
    for (row, want_ms) in url["hours"]
        .as_array()
        .unwrap()
        .iter()
        .zip([2.0, 20.0, 900.0])
    {
        let p95 = row["p95"].as_f64().unwrap();
        assert!((p95 - want_ms).abs() / want_ms < 0.01, "{row}");
        assert_eq!(row["avg"].as_f64().unwrap(), want_ms);
    }
    let pay = &url["names"][0];
    assert_eq!(pay["hours"], url["hours"]);
    assert_eq!(pay["minutes"], serde_json::json!([]));
    // Message IDs come from the merged hours: they open in LogView.
    assert_eq!(
        pay["sampleMessageId"],
        format!("shop-0a000001-{}-1", DAY * 24 + 1)
    );
    assert!(pay["slowestMessageId"]
        .as_str()
        .unwrap()
        .starts_with(&format!("shop-0a000001-{}-", DAY * 24 + 17)));
    assert_eq!(pay["failMessageIds"].as_array().unwrap().len(), 10);

    // One machine: only its hours.
    let uri = format!("/api/transaction?domain=shop&day={DAY_LABEL}&ip=10.0.0.2");
    let one = get_json(day_app(), &uri, 200).await;
    assert_eq!(one["types"][0]["count"], 100);
    assert_eq!(one["types"][0]["hours"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn today_counts_tps_over_the_seconds_it_has_run() {
    // 18:00 on the day: 64 800 s have run, and the trees of hour 17 are in the last hour.
    let now_ms = DAY_START_MS + 18 * 3_600_000;
    let uri = format!("/api/transaction?domain=shop&day={DAY_LABEL}");
    let json = get_json(app_of(day_reports(now_ms)), &uri, 200).await;
    assert_eq!(json["types"][0]["tps"].as_f64().unwrap(), 330.0 / 64_800.0);
    let uri = format!("/api/event?domain=shop&day={DAY_LABEL}");
    let json = get_json(app_of(day_reports(now_ms)), &uri, 200).await;
    assert_eq!(json["types"][0]["tps"].as_f64().unwrap(), 330.0 / 64_800.0);
    // `day=current` is today, as `hour=current` is this hour.
    let uri = "/api/transaction?domain=shop&day=current";
    let json = get_json(app_of(day_reports(now_ms)), uri, 200).await;
    assert_eq!(json["day"], DAY_LABEL);
    assert_eq!(json["types"][0]["count"], 330);
}

#[tokio::test]
async fn the_event_day_api_adds_up_the_hours_with_hourly_rows() {
    let uri = format!("/api/event?domain=shop&day={DAY_LABEL}");
    let json = get_json(day_app(), &uri, 200).await;
    assert_eq!(json["day"], DAY_LABEL);
    let cache = &json["types"][0];
    assert_eq!(
        (cache["type"].as_str(), cache["count"].as_u64()),
        (Some("Cache"), Some(330))
    );
    assert_eq!(cache["fail"], 33);
    let counts: Vec<u64> = cache["hours"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["count"].as_u64().unwrap())
        .collect();
    assert_eq!(counts, [200, 100, 30]);
    assert_eq!(cache["names"][0]["minutes"], serde_json::json!([]));
    assert_eq!(cache["names"][0]["hours"], cache["hours"]);
}

#[tokio::test]
async fn day_parameters_are_checked_and_a_day_without_data_is_a_404() {
    let app = day_app();
    let both = format!(
        "/api/transaction?domain=shop&hour={}&day={DAY_LABEL}",
        hour_label(1)
    );
    let json = get_json(app.clone(), &both, 400).await;
    let error = json["error"].as_str().unwrap();
    assert!(
        error.contains("“hour”") && error.contains("“day”"),
        "{error}"
    );
    let json = get_json(app.clone(), "/api/event?domain=shop&day=2026-11-22", 400).await;
    assert!(json["error"].as_str().unwrap().contains("“day”"), "{json}");
    let json = get_json(app.clone(), "/api/transaction?day=20261122", 400).await;
    assert!(json["error"].as_str().unwrap().contains("domain"), "{json}");
    // `old` sent nothing that day; nobody sent anything the day after.
    let json = get_json(app.clone(), "/api/transaction?domain=old&day=20261122", 404).await;
    assert!(
        json["error"].as_str().unwrap().contains("20261122"),
        "{json}"
    );
    get_json(app.clone(), "/api/event?domain=shop&day=20261123", 404).await;
    let unknown = format!("/api/transaction?domain=shop&day={DAY_LABEL}&ip=10.9.9.9");
    get_json(app.clone(), &unknown, 404).await;
    // Reports shown an hour at a time refuse a day rather than show some hour.
    let json = get_json(app.clone(), "/api/heartbeat?domain=shop&day=20261122", 400).await;
    assert!(json["error"].as_str().unwrap().contains("“day”"), "{json}");
    page(
        app.clone(),
        "/h?domain=shop&day=20261122",
        StatusCode::BAD_REQUEST,
    )
    .await;
    let both = format!("/t?domain=shop&hour={}&day={DAY_LABEL}", hour_label(1));
    page(app.clone(), &both, StatusCode::BAD_REQUEST).await;
    page(
        app.clone(),
        "/e?domain=shop&day=22112026x",
        StatusCode::BAD_REQUEST,
    )
    .await;
    // A board of a day without data keeps its navigation, as for an hour.
    let html = page(app, "/t?domain=shop&day=20261101", StatusCode::NOT_FOUND).await;
    assert!(html.contains(r#"<form class="selectors""#));
    assert!(html.contains("the day of 2026-11-01 UTC"), "{html}");
}

#[tokio::test]
async fn the_day_board_shows_the_day_and_its_links_keep_the_day() {
    let app = day_app();
    let html = page(
        app.clone(),
        &format!("/t?domain=shop&day={DAY_LABEL}"),
        StatusCode::OK,
    )
    .await;
    assert!(html.contains("2026-11-22 UTC"));
    assert!(html.contains("whole day"));
    assert!(html.contains("TPS (day avg)"));
    assert!(html.contains(&format!(
        r#"href="/t?domain=shop&amp;day={DAY_LABEL}&amp;type=URL""#
    )));
    assert!(html.contains(&format!(
        r#"href="/t?domain=shop&amp;day={DAY_LABEL}&amp;sort=p95""#
    )));
    // The selector picks days; the navigation goes a day back and forth, and to hours.
    assert!(html.contains(r#"<select name="day">"#));
    assert!(!html.contains(r#"<select name="hour">"#));
    assert!(
        html.contains(r#"rel="prev">← Previous day"#),
        "the day before has data"
    );
    assert!(html.contains(r#"href="/t?domain=shop&amp;day=20261123" rel="next""#));
    assert!(html.contains(&format!(
        r#"href="/t?domain=shop&amp;hour={}""#,
        hour_label(17)
    )));

    let uri = format!("/t?domain=shop&day={DAY_LABEL}&type=URL&name=%2Fpay&ip=10.0.0.1&sort=p95");
    let html = page(app.clone(), &uri, StatusCode::OK).await;
    assert!(html.contains("Transactions per hour"));
    assert!(html.contains("Duration per hour"));
    assert!(!html.contains("per minute"));
    assert!(html.contains("17:00: 30</title>"), "hour 17's bar");
    assert!(html.contains(&format!(
        r#"href="/t?domain=shop&amp;day={DAY_LABEL}&amp;ip=10.0.0.1&amp;type=URL&amp;sort=p95&amp;name=%2Fpay""#
    )));
    assert!(html.contains(&format!(
        r#"href="/t?domain=shop&amp;day={DAY_LABEL}&amp;ip=10.0.0.1&amp;type=URL&amp;name=%2Fpay&amp;sort=count""#
    )));
    assert!(
        html.contains(r#"<option value="10.0.0.2">"#),
        "machines of the whole day"
    );
    assert!(html.contains(&format!(r#"href="/m/shop-0a000001-{}-1""#, DAY * 24 + 1)));
    // 230 of machine 10.0.0.1's transactions.
    assert!(html.contains(">230<"), "{html}");

    // The hour board links its day, keeping what it shows.
    let uri = format!("/t?domain=shop&hour={}&type=URL", hour_label(9));
    let html = page(app.clone(), &uri, StatusCode::OK).await;
    assert!(html.contains(&format!(
        r#"href="/t?domain=shop&amp;day={DAY_LABEL}&amp;type=URL""#
    )));
}

#[tokio::test]
async fn the_event_day_board_counts_the_day_and_charts_it_by_hour() {
    let uri = format!("/e?domain=shop&day={DAY_LABEL}&type=Cache");
    let html = page(day_app(), &uri, StatusCode::OK).await;
    assert!(html.contains("Events per hour"));
    assert!(html.contains("Per second (day avg)"));
    assert!(html.contains(">330<"), "the day's count");
    assert!(html.contains(&format!(
        r#"href="/e?domain=shop&amp;day={DAY_LABEL}&amp;type=Cache&amp;name=get""#
    )));
    let uri = format!("/e?domain=old&day={DAY_LABEL}");
    let html = page(day_app(), &uri, StatusCode::NOT_FOUND).await;
    assert!(
        html.contains("has no report in the day of 2026-11-22 UTC"),
        "{html}"
    );
    let json: Value = get_json(day_app(), "/api/hours", 200).await;
    assert_eq!(json["hours"].as_array().unwrap().len(), 4);
}

/// At 23:58 the collector already takes the next day's first trees: the day view of a
/// day that has not begun counts its rates over the minute its data covers at least, not
/// over the 1 s the clock gave it (which read 30 trees as 30 a second).
#[tokio::test]
async fn a_day_that_has_not_begun_counts_tps_over_its_first_minute_at_least() {
    let mut reports = MemoryReports::new(DAY_START_MS - 2 * 60_000);
    for seq in 1..=30 {
        reports.add_tree(&tree(
            "shop",
            "10.0.0.1",
            seq,
            DAY_START_MS + seq * 1_000,
            1_000,
        ));
    }
    for kind in ["transaction", "event"] {
        let uri = format!("/api/{kind}?domain=shop&day={DAY_LABEL}");
        let json = get_json(app_of(reports.clone()), &uri, 200).await;
        assert_eq!(json["types"][0]["tps"].as_f64().unwrap(), 0.5, "{json}");
    }
}
