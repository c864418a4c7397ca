//! The day view (`day=YYYYMMDD`) of the problem board and `/api/problem`, over reports of
//! several hours of one UTC day from two machines.

mod common;

use axum::http::StatusCode;
use axum::Router;
use common::{app_of, get_json, html_page as page};
use ocelot_protocol::{Header, Leaf, Message, MessageTree, Transaction};
use ocelot_web::MemoryReports;
use serde_json::{json, Value};

/// 2026-11-22 UTC.
const DAY: u64 = 498_703 / 24;
const DAY_LABEL: &str = "20261122";
const DAY_START_MS: u64 = DAY * 86_400_000;
/// Now: the next day, 10:00.
const LATER_MS: u64 = DAY_START_MS + 86_400_000 + 10 * 3_600_000;
/// Sample message IDs an hour keeps per entry (CAT's 60).
const MAX_SAMPLES: usize = 60;

/// One request of `shop` in an hour of the day.
#[derive(Clone, Copy)]
enum Request {
    /// `URL /pay` failed: an `error` problem.
    FailedPay,
    /// `URL /pay` took 250 ms and ran `SQL select` for 150 ms: a `long-sql` problem.
    SlowSelect,
    /// `URL /ok` with a failed `Exception NullPointer` event: an `error` problem.
    Exception,
}

/// `shop`'s day: `(hour of the day, machine, request, how many)`.
const TRAFFIC: [(u64, &str, Request, u64); 6] = [
    (1, "10.0.0.1", Request::FailedPay, 50),
    (1, "10.0.0.1", Request::SlowSelect, 5),
    (9, "10.0.0.2", Request::FailedPay, 20),
    (9, "10.0.0.2", Request::Exception, 4),
    (17, "10.0.0.1", Request::FailedPay, 30),
    (17, "10.0.0.1", Request::SlowSelect, 7),
];

fn tree(ip: &str, seq: u64, timestamp_ms: u64, request: Request) -> MessageTree {
    let hour = timestamp_ms / 3_600_000;
    let mut root = Transaction::new(
        "URL",
        if matches!(request, Request::Exception) {
            "/ok"
        } else {
            "/pay"
        },
        timestamp_ms,
    );
    root.duration_us = 2_000;
    root.status = "0".to_owned();
    match request {
        Request::FailedPay => root.status = "ERROR".to_owned(),
        Request::SlowSelect => {
            root.duration_us = 250_000;
            let mut sql = Transaction::new("SQL", "select", timestamp_ms);
            sql.duration_us = 150_000;
            sql.status = "0".to_owned();
            root.children.push(Message::Transaction(sql));
        }
        Request::Exception => root.children.push(Message::Event(Leaf::new(
            "Exception",
            "NullPointer",
            "ERROR",
            timestamp_ms,
            "",
        ))),
    }
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

/// [`TRAFFIC`]'s trees, each hour's at `hour_start_ms(hour)` plus ten seconds apiece;
/// sequence numbers count up over the day.
fn shop_trees(hour_start_ms: impl Fn(u64) -> u64) -> Vec<MessageTree> {
    let mut trees = Vec::new();
    let mut seq = 0;
    let mut next_in_hour = std::collections::BTreeMap::new();
    for (hour, ip, request, n) in TRAFFIC {
        let offset = next_in_hour.entry(hour).or_insert(0u64);
        for _ in 0..n {
            seq += 1;
            trees.push(tree(
                ip,
                seq,
                hour_start_ms(hour) + *offset * 10_000,
                request,
            ));
            *offset += 1;
        }
    }
    trees
}

/// [`TRAFFIC`] on [`DAY`], plus `old`, whose one failure is on the day before.
fn day_reports() -> MemoryReports {
    let mut reports = MemoryReports::new(LATER_MS);
    reports.add_trees(&shop_trees(|hour| DAY_START_MS + hour * 3_600_000));
    let mut root = Transaction::new("URL", "/old", DAY_START_MS - 3_600_000);
    root.status = "ERROR".to_owned();
    reports.add_tree(&MessageTree::new(
        Header {
            domain: "old".to_owned(),
            ip_address: "10.0.0.9".to_owned(),
            message_id: format!("old-0a000009-{}-1", DAY * 24 - 1),
            ..Header::default()
        },
        Message::Transaction(root),
    ));
    reports
}

fn day_app() -> Router {
    app_of(day_reports())
}

fn hour_label(hour_of_day: u64) -> String {
    format!("{DAY_LABEL}{hour_of_day:02}")
}

/// `(category, type, name, count)` of every entry of a view.
fn entries(view: &Value) -> Vec<(String, String, String, u64)> {
    view["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["category"].as_str().unwrap().to_owned(),
                p["type"].as_str().unwrap().to_owned(),
                p["name"].as_str().unwrap().to_owned(),
                p["count"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// The entry of `category` and `name`.
fn entry<'a>(view: &'a Value, category: &str, name: &str) -> &'a Value {
    view["problems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["category"] == category && p["name"] == name)
        .unwrap_or_else(|| panic!("no {category} {name} in {view}"))
}

/// An entry's hourly series as `(hour, count)`.
fn hourly(entry: &Value) -> Vec<(String, u64)> {
    entry["hours"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["hour"].as_str().unwrap().to_owned(),
                h["count"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn the_day_api_counts_each_entry_over_all_its_hours() {
    let uri = format!("/api/problem?domain=shop&day={DAY_LABEL}");
    let day = get_json(day_app(), &uri, 200).await;
    assert_eq!(day["domain"], "shop");
    assert_eq!(day["day"], DAY_LABEL);
    assert_eq!(
        day["hours"],
        json!([hour_label(1), hour_label(9), hour_label(17)])
    );
    assert_eq!(day["ips"], json!(["10.0.0.1", "10.0.0.2"]));
    let pay = entry(&day, "error", "/pay");
    assert_eq!(pay["count"], 50 + 20 + 30);
    assert_eq!(entry(&day, "long-sql", "select")["count"], 5 + 7);
    // CAT's duration buckets: a 150 ms query is in the 100 ms one; errors have none.
    assert_eq!(
        entry(&day, "long-sql", "select")["durations"],
        json!([{"ms": 100, "count": 5 + 7}])
    );
    assert!(pay.get("durations").is_none(), "{pay}");
    assert_eq!(entry(&day, "error", "NullPointer")["count"], 4);
    assert_eq!(day["folded"], 0, "nothing reached a cap");

    // Every entry and count is that of one report of all the trees (put in one hour).
    let mut reference = MemoryReports::new(LATER_MS);
    reference.add_trees(&shop_trees(|_| DAY_START_MS + 20 * 3_600_000));
    let uri = format!("/api/problem?domain=shop&hour={}", hour_label(20));
    let one = get_json(app_of(reference), &uri, 200).await;
    assert_eq!(entries(&day), entries(&one));
}

#[tokio::test]
async fn the_day_api_has_one_row_per_hour_with_data_and_no_minutes() {
    let uri = format!("/api/problem?domain=shop&day={DAY_LABEL}");
    let day = get_json(day_app(), &uri, 200).await;
    let pay = entry(&day, "error", "/pay");
    assert_eq!(
        hourly(pay),
        [
            (hour_label(1), 50),
            (hour_label(9), 20),
            (hour_label(17), 30)
        ]
    );
    assert_eq!(pay["minutes"], json!([]));
    assert_eq!(
        hourly(entry(&day, "long-sql", "select")),
        [(hour_label(1), 5), (hour_label(17), 7)]
    );
    assert_eq!(
        hourly(entry(&day, "error", "NullPointer")),
        [(hour_label(9), 4)]
    );

    // An hour's view keeps its shape: minutes, no `hours`.
    let uri = format!("/api/problem?domain=shop&hour={}", hour_label(1));
    let hour = get_json(day_app(), &uri, 200).await;
    assert_eq!(hour["hour"], hour_label(1));
    assert!(hour.get("day").is_none() && hour.get("hours").is_none());
    let pay = entry(&hour, "error", "/pay");
    let mut keys: Vec<&str> = pay
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "category",
            "count",
            "minutes",
            "name",
            "sampleMessageIds",
            "type"
        ]
    );
    let per_minute: u64 = pay["minutes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["count"].as_u64().unwrap())
        .sum();
    assert_eq!(per_minute, 50);
}

#[tokio::test]
async fn a_machine_or_a_type_narrows_the_day() {
    let uri = format!("/api/problem?domain=shop&day={DAY_LABEL}&ip=10.0.0.2");
    let one = get_json(day_app(), &uri, 200).await;
    assert_eq!(
        entries(&one),
        [
            ("error".into(), "Exception".into(), "NullPointer".into(), 4),
            ("error".into(), "URL".into(), "/pay".into(), 20),
        ]
    );
    assert_eq!(hourly(entry(&one, "error", "/pay")), [(hour_label(9), 20)]);
    assert_eq!(one["ips"], json!(["10.0.0.1", "10.0.0.2"]), "every machine");

    let uri = format!("/api/problem?domain=shop&day={DAY_LABEL}&ip=10.0.0.1");
    let other = get_json(day_app(), &uri, 200).await;
    assert_eq!(
        hourly(entry(&other, "error", "/pay")),
        [(hour_label(1), 50), (hour_label(17), 30)]
    );

    let uri = format!("/api/problem?domain=shop&day={DAY_LABEL}&type=SQL");
    let sql = get_json(day_app(), &uri, 200).await;
    assert_eq!(
        entries(&sql),
        [("long-sql".into(), "SQL".into(), "select".into(), 12)]
    );

    let uri = format!("/api/problem?domain=shop&day={DAY_LABEL}&ip=10.9.9.9");
    let json = get_json(day_app(), &uri, 404).await;
    let error = json["error"].as_str().unwrap();
    assert!(
        error.contains("10.9.9.9") && error.contains(DAY_LABEL),
        "{error}"
    );
}

#[tokio::test]
async fn sample_ids_are_the_days_first_up_to_what_an_hour_keeps() {
    let id = |hour_of_day: u64, seq: u64| format!("shop-0a000001-{}-{seq}", DAY * 24 + hour_of_day);
    // Machine 10.0.0.1: hour 1's 50 failures (sequence 1-50), then hour 17's 30 (80-109),
    // of which the first 10 fill the 60.
    let uri = format!("/api/problem?domain=shop&day={DAY_LABEL}&ip=10.0.0.1");
    let day = get_json(day_app(), &uri, 200).await;
    let samples: Vec<String> = entry(&day, "error", "/pay")["sampleMessageIds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_str().unwrap().to_owned())
        .collect();
    let want: Vec<String> = (1..=50)
        .map(|seq| id(1, seq))
        .chain((80..90).map(|seq| id(17, seq)))
        .collect();
    assert_eq!(samples.len(), MAX_SAMPLES);
    assert_eq!(samples, want);
    // All machines: the day's first, whichever machine sent them (hour 1's 50 of
    // 10.0.0.1, then hour 9's of 10.0.0.2, sequence 56-75), not 10.0.0.1's whole day.
    let uri = format!("/api/problem?domain=shop&day={DAY_LABEL}");
    let day = get_json(day_app(), &uri, 200).await;
    let samples: Vec<String> = entry(&day, "error", "/pay")["sampleMessageIds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_str().unwrap().to_owned())
        .collect();
    let want: Vec<String> = (1..=50)
        .map(|seq| id(1, seq))
        .chain((56..66).map(|seq| id(9, seq)))
        .collect();
    assert_eq!(samples, want);
    // Fewer than an hour keeps: all of them, in order.
    let uri = format!("/api/problem?domain=shop&day={DAY_LABEL}&type=SQL");
    let sql = get_json(day_app(), &uri, 200).await;
    let samples = sql["problems"][0]["sampleMessageIds"].as_array().unwrap();
    assert_eq!(samples.len(), 12);
    assert_eq!(samples[0], id(1, 51));
    assert_eq!(samples[11], id(17, 116));
}

#[tokio::test]
async fn day_parameters_are_checked_as_for_the_transaction_day() {
    let app = day_app();
    let both = format!(
        "/api/problem?domain=shop&hour={}&day={DAY_LABEL}",
        hour_label(1)
    );
    let json = get_json(app.clone(), &both, 400).await;
    let error = json["error"].as_str().unwrap();
    assert!(
        error.contains("“hour”") && error.contains("“day”"),
        "{error}"
    );
    let json = get_json(app.clone(), "/api/problem?domain=shop&day=2026-11-22", 400).await;
    assert!(json["error"].as_str().unwrap().contains("“day”"), "{json}");
    let json = get_json(app.clone(), "/api/problem?day=20261122", 400).await;
    assert!(json["error"].as_str().unwrap().contains("domain"), "{json}");
    // `old` sent nothing that day; nobody sent anything the day after.
    let json = get_json(app.clone(), "/api/problem?domain=old&day=20261122", 404).await;
    assert!(
        json["error"].as_str().unwrap().contains("20261122"),
        "{json}"
    );
    get_json(app.clone(), "/api/problem?domain=shop&day=20261123", 404).await;

    let both = format!("/p?domain=shop&hour={}&day={DAY_LABEL}", hour_label(1));
    let html = page(app.clone(), &both, StatusCode::BAD_REQUEST).await;
    assert!(html.contains("“day”"));
    page(
        app.clone(),
        "/p?domain=shop&day=22112026x",
        StatusCode::BAD_REQUEST,
    )
    .await;
    // A board of a day without data keeps its navigation.
    let html = page(
        app.clone(),
        "/p?domain=shop&day=20261101",
        StatusCode::NOT_FOUND,
    )
    .await;
    assert!(html.contains(r#"<form class="selectors""#));
    assert!(html.contains("the day of 2026-11-01 UTC"), "{html}");
    let uri = format!("/p?domain=old&day={DAY_LABEL}");
    let html = page(app.clone(), &uri, StatusCode::NOT_FOUND).await;
    assert!(
        html.contains("has no report in the day of 2026-11-22 UTC"),
        "{html}"
    );
    // A machine the day does not have.
    let uri = format!("/p?domain=shop&day={DAY_LABEL}&ip=10.9.9.9");
    let html = page(app, &uri, StatusCode::NOT_FOUND).await;
    assert!(html.contains("No machine 10.9.9.9"), "{html}");
    assert!(html.contains(&format!(
        r#"href="/p?domain=shop&amp;day={DAY_LABEL}">Show all machines</a>"#
    )));
}

#[tokio::test]
async fn the_day_board_charts_each_category_by_hour_and_keeps_the_day() {
    let app = day_app();
    let html = page(
        app.clone(),
        &format!("/p?domain=shop&day={DAY_LABEL}"),
        StatusCode::OK,
    )
    .await;
    assert!(html.contains("2026-11-22 UTC") && html.contains("whole day"));
    assert!(html.contains("error per hour") && html.contains("long-sql per hour"));
    assert!(!html.contains("per minute"), "{html}");
    assert!(html.contains("<th>Per hour</th>"));
    // Hour 1's errors: 50 failed /pay; hour 17's long SQL: 7.
    assert!(html.contains("<title>01:00: 50</title>"), "{html}");
    assert!(html.contains("<title>17:00: 7</title>"), "{html}");
    assert!(html.contains(">100<"), "the day's /pay count");
    assert!(html.contains("116 problems in all"), "{html}");
    assert!(html.contains(&format!(r#"href="/m/shop-0a000001-{}-1""#, DAY * 24 + 1)));
    // Days in the selector and the navigation, and back to the hours.
    assert!(html.contains(r#"<select name="day">"#));
    assert!(!html.contains(r#"<select name="hour">"#));
    assert!(html.contains(r#"rel="prev">← Previous day"#));
    assert!(html.contains(r#"href="/p?domain=shop&amp;day=20261123" rel="next""#));
    assert!(html.contains(&format!(
        r#"href="/p?domain=shop&amp;hour={}""#,
        hour_label(17)
    )));
    assert!(html.contains(r#"<option value="10.0.0.2">"#));

    // One machine: its problems of the day, and the links keep it.
    let uri = format!("/p?domain=shop&day={DAY_LABEL}&ip=10.0.0.2");
    let html = page(app.clone(), &uri, StatusCode::OK).await;
    assert!(html.contains("24 problems in all"), "{html}");
    assert!(!html.contains("long-sql"));
    assert!(html.contains(&format!(
        r#"href="/p?domain=shop&amp;hour={}&amp;ip=10.0.0.2""#,
        hour_label(17)
    )));
    assert!(html.contains(r#"href="/p?domain=shop&amp;day=20261123&amp;ip=10.0.0.2" rel="next""#));

    // The hour board links its day, keeping the machine.
    let uri = format!("/p?domain=shop&hour={}&ip=10.0.0.2", hour_label(9));
    let html = page(app, &uri, StatusCode::OK).await;
    assert!(html.contains("error per minute"));
    assert!(html.contains(&format!(
        r#"href="/p?domain=shop&amp;day={DAY_LABEL}&amp;ip=10.0.0.2""#
    )));
}
