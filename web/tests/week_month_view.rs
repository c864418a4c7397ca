//! The week and month views (`week=`, `month=`: CAT's weekly and monthly history reports)
//! of the transaction, event and problem boards and their JSON API, over hours of several
//! days.

mod common;

use axum::http::StatusCode;
use axum::Router;
use common::{app_of, get_json, html_page as page};
use ocelot_protocol::{Header, Leaf, Message, MessageTree, Transaction};
use ocelot_web::MemoryReports;

/// 2026-11-22 UTC, a Sunday: its week runs from Saturday 2026-11-21 to Friday the 27th.
const DAY: u64 = 498_703 / 24;
const DAY_START_MS: u64 = DAY * 86_400_000;
const DAY_MS: u64 = 86_400_000;
/// Now: 2026-12-02 10:00, after the week and the month of November.
const LATER_MS: u64 = DAY_START_MS + 10 * DAY_MS + 10 * 3_600_000;

/// `shop`'s traffic: `(days after DAY, hour of the day, transactions, duration µs)`. The
/// Saturday, the Sunday twice, the Friday, and the next Saturday (the next week, the same
/// month).
const TRAFFIC: [(i64, u64, u64, u64); 5] = [
    (-1, 3, 200, 2_000),
    (0, 1, 100, 20_000),
    (0, 20, 50, 20_000),
    (5, 23, 30, 900_000),
    (6, 0, 40, 5_000),
];

/// One `URL /pay` transaction holding a `Cache get` event; every tenth fails (both).
fn tree(seq: u64, timestamp_ms: u64, duration_us: u64) -> MessageTree {
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
            domain: "shop".to_owned(),
            ip_address: "10.0.0.1".to_owned(),
            message_id: format!("shop-0a000001-{hour}-{seq}"),
            ..Header::default()
        },
        Message::Transaction(root),
    )
}

fn app() -> Router {
    let mut reports = MemoryReports::new(LATER_MS);
    let mut seq = 0;
    for (day, hour, n, duration_us) in TRAFFIC {
        let start = (DAY_START_MS as i64 + day * DAY_MS as i64) as u64 + hour * 3_600_000;
        for i in 0..n {
            seq += 1;
            reports.add_tree(&tree(seq, start + i * 1_000, duration_us));
        }
    }
    app_of(reports)
}

#[tokio::test]
async fn the_week_api_has_one_row_per_day_and_the_percentiles_of_all_its_trees() {
    let json = get_json(app(), "/api/transaction?domain=shop&week=20261122", 200).await;
    assert_eq!(json["period"], "week");
    assert_eq!(
        (json["from"].as_str(), json["to"].as_str()),
        (Some("20261121"), Some("20261127"))
    );
    assert_eq!(
        json["days"],
        serde_json::json!(["20261121", "20261122", "20261127"])
    );
    let url = &json["types"][0];
    assert_eq!(
        url["count"], 380,
        "the next Saturday's 40 are another week's"
    );
    // Over the three days with data, not the seven of the week.
    assert_eq!(url["tps"].as_f64(), Some(380.0 / (3.0 * 86_400.0)));
    let days: Vec<(String, u64)> = (url["days"].as_array().unwrap().iter())
        .map(|d| {
            (
                d["day"].as_str().unwrap().to_owned(),
                d["count"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        days,
        [
            ("20261121".into(), 200),
            ("20261122".into(), 150),
            ("20261127".into(), 30)
        ]
    );
    assert!(url.get("hours").is_none() && url["names"][0].get("hours").is_none());
    // 30 of 380 (7.9 %) took 900 ms: the week's P95 is theirs, not an average of days'.
    let p95 = url["p95"].as_f64().unwrap();
    assert!((p95 - 900.0).abs() < 9.0, "{p95}");
    let same = get_json(app(), "/api/transaction?domain=shop&week=20261127", 200).await;
    assert_eq!(same["types"], json["types"], "any day of the week names it");
}

#[tokio::test]
async fn the_month_api_covers_the_calendar_month_for_events_and_problems_too() {
    let json = get_json(app(), "/api/event?domain=shop&month=202611", 200).await;
    assert_eq!(json["period"], "month");
    assert_eq!(json["label"], "202611");
    assert_eq!(
        (json["from"].as_str(), json["to"].as_str()),
        (Some("20261101"), Some("20261130"))
    );
    let cache = &json["types"][0];
    assert_eq!(
        (cache["type"].as_str(), cache["count"].as_u64()),
        (Some("Cache"), Some(420))
    );
    assert_eq!(cache["days"].as_array().unwrap().len(), 4);
    assert_eq!(cache["days"][3]["day"], "20261128");
    assert_eq!(cache["days"][3]["count"], 40);

    // Now is in December, whose month has no data; this week began on Saturday the 28th.
    let json = get_json(app(), "/api/problem?domain=shop&month=current", 404).await;
    assert!(
        json["error"].as_str().unwrap().contains("month 202612"),
        "{json}"
    );
    let json = get_json(app(), "/api/problem?domain=shop&week=current", 200).await;
    assert_eq!(json["days"], serde_json::json!(["20261128"]));
    let json = get_json(app(), "/api/problem?domain=shop&week=20261121", 200).await;
    let errors = (json["problems"].as_array().unwrap().iter())
        .find(|p| p["category"] == "error" && p["type"] == "URL")
        .expect("failed URLs");
    assert_eq!(errors["count"], 38);
    assert_eq!(errors["days"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn week_and_month_parameters_are_checked() {
    for (uri, param) in [
        ("/api/transaction?domain=shop&week=2026-11-22", "week"),
        ("/api/transaction?domain=shop&month=20261122", "month"),
        (
            "/api/transaction?domain=shop&day=20261122&month=202611",
            "month",
        ),
        (
            "/api/event?domain=shop&hour=2026112201&week=20261122",
            "week",
        ),
        ("/api/heartbeat?domain=shop&month=202611", "month"),
    ] {
        let json = get_json(app(), uri, 400).await;
        assert!(
            json["error"].as_str().unwrap().contains(param),
            "{uri}: {json}"
        );
    }
    let json = get_json(app(), "/api/transaction?domain=shop&month=202610", 404).await;
    assert!(
        json["error"].as_str().unwrap().contains("month 202610"),
        "{json}"
    );
    let json = get_json(
        app(),
        "/api/transaction?domain=shop&week=20261122&ip=10.9.9.9",
        404,
    )
    .await;
    assert!(
        json["error"].as_str().unwrap().contains("10.9.9.9"),
        "{json}"
    );
}

#[tokio::test]
async fn the_week_board_charts_and_lists_the_days_and_walks_the_weeks() {
    let html = page(
        app(),
        "/t?domain=shop&week=20261122&type=URL&name=/pay",
        StatusCode::OK,
    )
    .await;
    assert!(
        html.contains("2026-11-21 to 2026-11-27 UTC"),
        "the week's title"
    );
    assert!(html.contains("whole week"));
    assert!(html.contains("TPS (avg over days with data)"));
    assert!(html.contains("Transactions per day"), "the daily chart");
    // Each day links to its own board, hour by hour.
    assert!(html.contains("day=20261121"), "{html}");
    assert!(html.contains("2026-11-27"));
    // The next week has data and has ended: "Next week"; an earlier one has none.
    assert!(html.contains("week=20261128") && html.contains("Next week"));
    assert!(!html.contains("Previous week"));
    // The next week is this week: one link to it, not two.
    assert!(!html.contains("This week") && html.contains("month=202611"));
    let html = page(app(), "/t?domain=shop&week=20261115", StatusCode::NOT_FOUND).await;
    assert!(html.contains("This week") && html.contains("week=20261128"));
    let html = page(app(), "/t?domain=shop&week=20261122", StatusCode::OK).await;
    assert!(
        html.contains("daily charts"),
        "the types' hint says what a type shows"
    );
}

#[tokio::test]
async fn the_month_boards_of_events_and_problems_show_days() {
    let html = page(
        app(),
        "/e?domain=shop&month=202611&type=Cache",
        StatusCode::OK,
    )
    .await;
    assert!(html.contains("November 2026 UTC") && html.contains("whole month"));
    assert!(
        html.contains("Events per day") && html.contains("Per second (avg over days with data)")
    );
    let html = page(app(), "/p?domain=shop&month=202611", StatusCode::OK).await;
    assert!(
        html.contains("error per day") && html.contains("Per day"),
        "{html}"
    );
    // A month with no data says so, with the way back.
    let html = page(app(), "/t?domain=shop&month=202610", StatusCode::NOT_FOUND).await;
    assert!(html.contains("No data in this month") && html.contains("November 2026 UTC"));
    // The hour boards link the week and the month of their hour.
    let html = page(app(), "/t?domain=shop&hour=2026112201", StatusCode::OK).await;
    assert!(html.contains("week=20261121") && html.contains("month=202611"));
}

#[tokio::test]
async fn a_charts_days_end_today_or_at_the_last_day_with_data() {
    // This week began on Saturday 2026-11-28 (its data); now is Wednesday 2026-12-02.
    let html = page(app(), "/p?domain=shop&week=current", StatusCode::OK).await;
    let bar = |day: &str| format!(">{day}<");
    assert!(
        html.contains(&bar("11-28")) && html.contains(&bar("12-02")),
        "{html}"
    );
    assert!(
        !html.contains(&bar("12-03")) && !html.contains(&bar("12-04")),
        "no future days"
    );
    let html = page(
        app(),
        "/t?domain=shop&week=current&type=URL",
        StatusCode::OK,
    )
    .await;
    assert!(html.contains(&bar("12-02")) && !html.contains(&bar("12-03")));
}

#[tokio::test]
async fn a_week_or_month_says_how_many_days_have_data_and_from_when_the_store_has_any() {
    // Now is 2026-12-02; the store's first hour is 2026-11-21 03:00, as if retention had
    // deleted the month's first twenty days.
    let html = page(app(), "/t?domain=shop&month=202611", StatusCode::OK).await;
    assert!(html.contains("4 of 30 days with data"), "{html}");
    assert!(
        html.contains("The store holds no data before 2026-11-21 03:00 UTC")
            && html.contains("store.retention_days"),
        "{html}"
    );
    assert!(html.contains("Rates average over the days with data"));
    // This week so far (Saturday 28th to Wednesday 2nd): the store has every day of it, so
    // its empty days are the domain's quiet ones, and nothing is said of retention.
    let html = page(app(), "/e?domain=shop&week=current", StatusCode::OK).await;
    assert!(html.contains("1 of 5 days with data"), "{html}");
    assert!(!html.contains("The store holds no data"), "{html}");
    // Nor when the store begins an hour or two into the span.
    let html = page(app(), "/t?domain=shop&week=20261121", StatusCode::OK).await;
    assert!(html.contains("3 of 7 days with data"), "{html}");
    assert!(!html.contains("The store holds no data"), "{html}");
    // A day's board has its hours for that.
    let html = page(app(), "/t?domain=shop&day=20261122", StatusCode::OK).await;
    assert!(!html.contains("days with data"));
}

#[tokio::test]
async fn a_weeks_day_and_hour_links_go_where_the_domain_has_data() {
    // This week's data is all on Saturday the 28th; today (the 2nd) has none.
    let html = page(app(), "/t?domain=shop&week=current", StatusCode::OK).await;
    assert!(
        html.contains(r#"class="button day-link" href="/t?domain=shop&amp;day=20261128""#),
        "{html}"
    );
    assert!(
        html.contains(r#"class="button hour-link" href="/t?domain=shop&amp;hour=2026112800""#),
        "{html}"
    );
    page(app(), "/t?domain=shop&day=20261128", StatusCode::OK).await;
    // A past week keeps its last day with data.
    let html = page(app(), "/p?domain=shop&week=20261121", StatusCode::OK).await;
    assert!(
        html.contains(r#"class="button day-link" href="/p?domain=shop&amp;day=20261127""#),
        "{html}"
    );
}

#[tokio::test]
async fn short_durations_and_slow_rates_are_shown_escaped_and_never_as_zero() {
    // Four transactions of a microsecond on Saturday 2026-11-28; now is Wednesday 10:00.
    let mut reports = MemoryReports::new(LATER_MS);
    let saturday_ms = DAY_START_MS + 6 * DAY_MS + 3_600_000;
    for seq in 1..=4 {
        reports.add_tree(&tree(seq, saturday_ms + seq * 1_000, 1));
    }
    let html = page(
        app_of(reports),
        "/t?domain=shop&week=current",
        StatusCode::OK,
    )
    .await;
    assert!(html.contains(r#"<td class="num">&lt;0.01</td>"#), "{html}");
    assert!(!html.contains("<0."), "a raw '<' in the text: {html}");
    // 4 over the one day with data: 0.0000463 a second.
    assert!(html.contains(r#"<td class="num">0.000046</td>"#), "{html}");
    assert!(!html.contains(">0.0000<"), "{html}");
}

/// A domain that began sending in a week or month still running had its rate divided by
/// every second since the span began: a service deployed on the Monday read as a fraction of
/// its traffic all week. The rate is over the days with data, today up to now, on the
/// boards and in the JSON API alike.
#[tokio::test]
async fn a_running_week_or_month_rates_over_its_days_with_data_today_up_to_now() {
    // Now is Wednesday 2026-12-02 10:00; this week began on Saturday the 28th. `shop` sent
    // 30 transactions on Monday the 30th and 72 today from 08:00.
    let mut reports = MemoryReports::new(LATER_MS);
    let monday_ms = DAY_START_MS + 8 * DAY_MS + 5 * 3_600_000;
    let today_ms = DAY_START_MS + 10 * DAY_MS + 8 * 3_600_000;
    let mut seq = 0;
    for (start_ms, n) in [(monday_ms, 30), (today_ms, 72)] {
        for i in 0..n {
            seq += 1;
            reports.add_tree(&tree(seq, start_ms + i * 1_000, 5_000));
        }
    }
    let app = || app_of(reports.clone());
    // Monday whole and today's ten hours, not the four days and ten hours since Saturday.
    let week_seconds = 86_400.0 + 10.0 * 3600.0;
    for uri in [
        "/api/transaction?domain=shop&week=current",
        "/api/event?domain=shop&week=current",
    ] {
        let json = get_json(app(), uri, 200).await;
        assert_eq!(
            json["days"],
            serde_json::json!(["20261130", "20261202"]),
            "{uri}"
        );
        let tps = json["types"][0]["tps"].as_f64();
        assert_eq!(tps, Some(102.0 / week_seconds), "{uri}: {json}");
    }
    // December so far has data today only: ten hours, not the day and ten hours since the 1st.
    let json = get_json(app(), "/api/transaction?domain=shop&month=current", 200).await;
    assert_eq!(
        json["types"][0]["tps"].as_f64(),
        Some(72.0 / 36_000.0),
        "{json}"
    );
    // The board shows the same rate (0.00083 a second) and says what it is over.
    let html = page(app(), "/t?domain=shop&week=current", StatusCode::OK).await;
    assert!(html.contains(r#"<td class="num">0.00083</td>"#), "{html}");
    assert!(html.contains("TPS (avg over days with data)"), "{html}");
    assert!(html.contains("2 of 5 days with data"), "{html}");
    let html = page(app(), "/e?domain=shop&month=current", StatusCode::OK).await;
    assert!(html.contains(r#"<td class="num">0.0020</td>"#), "{html}");
    assert!(
        html.contains("Per second (avg over days with data)"),
        "{html}"
    );
}
