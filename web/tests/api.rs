//! The JSON API over the hourly reports (issue 4's "JSON API"), called without a socket.

mod common;

use axum::http::StatusCode;
use common::*;
use serde_json::Value;

fn find<'a>(items: &'a Value, key: &str, value: &str) -> &'a Value {
    items
        .as_array()
        .unwrap()
        .iter()
        .find(|item| item[key] == value)
        .unwrap_or_else(|| panic!("no {key}={value} in {items}"))
}

#[tokio::test]
async fn transaction_report_of_real_frames_has_figures_ids_and_minutes() {
    let uri = format!("/api/transaction?domain=catgen&hour={HOUR_LABEL}");
    let json = get_json(report_app(), &uri, 200).await;
    assert_eq!(json["domain"], "catgen");
    assert_eq!(json["hour"], HOUR_LABEL);
    assert_eq!(json["ips"], serde_json::json!(["192.0.2.2"]));
    let url = find(&json["types"], "type", "URL");
    assert_eq!(url["count"], 1);
    let create = find(&url["names"], "name", "/api/order/create");
    assert_eq!(create["count"], 1);
    assert_eq!(create["fail"], 0);
    // 20 ms, within the histogram's 1 %.
    for figure in ["min", "max", "avg", "p50", "p95", "p99", "p999"] {
        let ms = create[figure].as_f64().unwrap();
        assert!((ms - 20.0).abs() <= 0.2, "{figure} = {ms}");
    }
    assert_eq!(create["minutes"].as_array().unwrap().len(), 1);
    let service = find(&json["types"], "type", "Service");
    let pay = find(&service["names"], "name", "PaymentService.pay");
    assert_eq!(pay["fail"], 1);
    assert_eq!(pay["failPercent"], 100.0);
    assert_eq!(pay["failMessageIds"], serde_json::json!([FAILED_ID]));
    assert_eq!(pay["slowestMessageId"], FAILED_ID);
    assert_eq!(json["folded"], 0, "no cap reached");
}

#[tokio::test]
async fn transaction_tps_of_the_current_hour_divides_by_the_seconds_it_has_run() {
    let json = get_json(
        report_app(),
        "/api/transaction?domain=app-0&hour=current&type=URL",
        200,
    )
    .await;
    assert_eq!(json["hour"], HOUR_LABEL, "current is the hour of now");
    let types = json["types"].as_array().unwrap();
    assert_eq!(types.len(), 1, "type filter keeps only URL");
    let count = types[0]["count"].as_f64().unwrap();
    assert!(count > 100.0, "about half of {SAMPLE_TREES} trees: {count}");
    let tps = types[0]["tps"].as_f64().unwrap();
    assert!((tps - count / 2400.0).abs() < 1e-9, "{tps} vs {count}/2400");
}

#[tokio::test]
async fn a_past_hour_counts_tps_over_the_whole_hour() {
    let json = get_json(
        report_app(),
        &format!("/api/transaction?domain=app-1&hour={PAST_HOUR_LABEL}"),
        200,
    )
    .await;
    let t = &json["types"][0];
    assert!(t["count"].as_u64().unwrap() > 0);
    assert_eq!(
        t["tps"].as_f64().unwrap(),
        t["count"].as_f64().unwrap() / 3600.0
    );
}

#[tokio::test]
async fn one_machine_or_all_machines_can_be_selected() {
    let all = get_json(
        report_app(),
        "/api/transaction?domain=app-0&hour=current",
        200,
    )
    .await;
    let ips = all["ips"].as_array().unwrap();
    assert!(
        ips.len() > 1,
        "generated traffic comes from several machines"
    );
    let all_count: u64 = all["types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["count"].as_u64().unwrap())
        .sum();
    let mut per_machine = 0;
    for ip in ips {
        let uri = format!(
            "/api/transaction?domain=app-0&hour=current&ip={}",
            ip.as_str().unwrap()
        );
        let one = get_json(report_app(), &uri, 200).await;
        per_machine += one["types"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["count"].as_u64().unwrap())
            .sum::<u64>();
    }
    assert_eq!(per_machine, all_count, "All is the sum of the machines");
    let explicit = get_json(
        report_app(),
        "/api/transaction?domain=app-0&hour=current&ip=All",
        200,
    )
    .await;
    assert_eq!(explicit, all);
}

#[tokio::test]
async fn event_report_has_the_same_shape_with_counts_and_minutes() {
    let json = get_json(report_app(), "/api/event?domain=catgen&hour=current", 200).await;
    let error = find(&json["types"], "type", "Error");
    let name = find(&error["names"], "name", "RuntimeException");
    assert_eq!(name["count"], 1);
    assert_eq!(name["fail"], 1);
    assert!(name["tps"].is_f64());
    assert_eq!(name["minutes"][0]["count"], 1);
    // The captured frames' 300 `Item` and 2100 `I` event names, past 200 names a type:
    // the events filed under `OTHERS`.
    assert_eq!(json["folded"], 100 + 1900);
}

#[tokio::test]
async fn problem_report_lists_errors_with_sample_ids() {
    let json = get_json(report_app(), "/api/problem?domain=catgen&hour=current", 200).await;
    let problems = json["problems"].as_array().unwrap();
    let pay = problems
        .iter()
        .find(|p| p["category"] == "error" && p["name"] == "PaymentService.pay")
        .unwrap_or_else(|| panic!("{json}"));
    assert_eq!(pay["count"], 1);
    assert_eq!(pay["sampleMessageIds"], serde_json::json!([FAILED_ID]));
    assert!(!pay["minutes"].as_array().unwrap().is_empty());
    assert_eq!(json["folded"], 0, "no cap reached: {json}");
}

#[tokio::test]
async fn heartbeat_report_has_per_minute_values_of_the_machine() {
    let json = get_json(
        report_app(),
        "/api/heartbeat?domain=catgen&hour=current&ip=192.0.2.2",
        200,
    )
    .await;
    assert_eq!(json["ips"], serde_json::json!(["192.0.2.2"]));
    let minutes = json["minutes"].as_array().unwrap();
    assert!(!minutes.is_empty());
    assert!(minutes[0]["values"]
        .as_object()
        .is_some_and(|v| !v.is_empty()));
    assert_eq!(json["folded"], 0, "{json}");
    assert_eq!(json["malformed"], 0, "{json}");
}

#[tokio::test]
async fn metric_and_state_reports_answer_for_the_hour() {
    let metric = get_json(report_app(), "/api/metric?domain=catgen&hour=current", 200).await;
    assert!(
        !metric["metrics"].as_array().unwrap().is_empty(),
        "{metric}"
    );
    assert_eq!(metric["folded"], 0, "no cap reached: {metric}");
    // "All" machines is what a metric report is of.
    let all = get_json(
        report_app(),
        "/api/metric?domain=catgen&hour=current&ip=All",
        200,
    )
    .await;
    assert_eq!(all, metric);
    let state = get_json(report_app(), "/api/state?hour=current", 200).await;
    // 27 real frames, the script tree and the generated ones fall into this hour.
    assert_eq!(state["trees"], 27 + 1 + SAMPLE_TREES);
    assert!(state["domains"]["catgen"]["trees"].as_u64().unwrap() >= 26);
}

#[tokio::test]
async fn the_dependency_report_lists_databases_and_callers_with_their_calls() {
    let json = get_json(
        report_app(),
        "/api/dependency?domain=catgen&hour=current",
        200,
    )
    .await;
    let edges = json["dependencies"].as_array().unwrap();
    let edge = |type_: &str, target: &str| {
        edges
            .iter()
            .find(|e| e["type"] == type_ && e["target"] == target)
            .unwrap_or_else(|| panic!("no {type_} -> {target} in {json}"))
    };
    let db = edge("Database", "jdbc:mysql://db1:3306/orders");
    assert_eq!(db["role"], "caller");
    assert!(db["count"].as_u64().unwrap() >= 1);
    assert!(db["avg"].as_f64().unwrap() > 0.0 && db["max"].as_f64() >= db["avg"].as_f64());
    let caller = edge("PigeonService", "payment-gateway");
    assert_eq!(caller["role"], "callee");
    assert_eq!(caller["failPercent"], 100.0, "S02 failed: {caller}");
    let only = get_json(
        report_app(),
        "/api/dependency?domain=catgen&hour=current&type=Database",
        200,
    )
    .await;
    assert!(only["dependencies"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["type"] == "Database"));
    // The machine the edges were seen on has them, as the report does.
    let machine = get_json(
        report_app(),
        "/api/dependency?domain=catgen&hour=current&ip=192.0.2.2",
        200,
    )
    .await;
    assert_eq!(machine["dependencies"], json["dependencies"], "one machine");
    get_json(
        report_app(),
        "/api/dependency?domain=nosuch&hour=current",
        404,
    )
    .await;
    get_json(report_app(), "/api/dependency?hour=current", 400).await;
}

#[tokio::test]
async fn domains_and_hours_list_what_has_data() {
    let json = get_json(report_app(), "/api/domains", 200).await;
    let domains = json["domains"].as_array().unwrap();
    for domain in ["app-0", "app-1", "catgen", "<script>alert(1)</script>"] {
        assert!(domains.iter().any(|d| d == domain), "{domain} in {json}");
    }
    let hours = get_json(report_app(), "/api/hours", 200).await;
    let labels = hours["hours"].as_array().unwrap();
    assert_eq!(labels.len(), 4, "{hours}");
    assert!(labels.iter().any(|h| h == PAST_HOUR_LABEL) && labels.iter().any(|h| h == HOUR_LABEL));
    assert_eq!(hours["current"], HOUR_LABEL);
    let past = get_json(report_app(), "/api/domains?hour=2020010100", 200).await;
    assert_eq!(past["domains"], serde_json::json!([]));
}

#[tokio::test]
async fn unknown_domains_hours_and_machines_are_json_404s() {
    for uri in [
        "/api/transaction?domain=nosuch&hour=current",
        "/api/transaction?domain=catgen&hour=2026112205",
        "/api/event?domain=catgen&hour=2026112205",
        "/api/problem?domain=nosuch&hour=current",
        "/api/heartbeat?domain=catgen&hour=current&ip=10.9.9.9",
        "/api/transaction?domain=catgen&hour=current&ip=10.9.9.9",
        "/api/metric?domain=nosuch&hour=current",
        "/api/state?hour=2026112205",
        // Every report that has machines says so for one it does not have.
        "/api/event?domain=catgen&hour=current&ip=unknown",
        "/api/problem?domain=catgen&hour=current&ip=unknown",
        "/api/dependency?domain=catgen&hour=current&ip=unknown",
        // The API's root is an unknown path under it like any other, not the HTML page.
        "/api",
        "/api/",
        "/api/nosuch",
    ] {
        let json = get_json(report_app(), uri, 404).await;
        assert!(
            json["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{uri}"
        );
    }
}

/// `name=` was no filter: a name the type does not have answered 200 with every name
/// listed, and a type the report does not have `"types":[]`, as if none were sent.
#[tokio::test]
async fn types_and_names_not_in_the_report_are_404s_naming_them() {
    for (uri, says) in [
        (
            "/api/transaction?domain=catgen&hour=current&type=URL&name=X",
            "no name “X” of type “URL” in domain “catgen” in hour 2026112207",
        ),
        (
            "/api/event?domain=catgen&hour=current&type=RemoteCall&name=X",
            "no name “X” of type “RemoteCall”",
        ),
        (
            "/api/transaction?domain=catgen&hour=current&type=NoSuchType",
            "no type “NoSuchType” in domain “catgen”",
        ),
        (
            "/api/event?domain=catgen&hour=current&type=NoSuchType&name=X",
            "no type “NoSuchType”",
        ),
        // The empty type is a type like any other (CAT's clients log some), here absent.
        (
            "/api/transaction?domain=catgen&hour=current&type=",
            "no empty type (“”)",
        ),
        (
            "/api/transaction?domain=catgen&day=20261122&type=URL&name=X",
            "no name “X” of type “URL” in domain “catgen” on day 20261122",
        ),
        (
            "/api/event?domain=catgen&week=20261122&type=NoSuchType",
            "no type “NoSuchType” in domain “catgen” in week 20261121",
        ),
        (
            "/api/transaction?domain=catgen&hour=current&ip=192.0.2.2&type=URL&name=X",
            "on machine 192.0.2.2",
        ),
    ] {
        let json = get_json(report_app(), uri, 404).await;
        let error = json["error"].as_str().unwrap();
        assert!(error.contains(says), "{uri}: {error}");
    }
}

/// `name=` listed every name besides the one asked for.
#[tokio::test]
async fn a_name_asked_for_is_listed_alone_in_its_type() {
    let names_of = |json: &Value| -> Vec<String> {
        let types = json["types"].as_array().unwrap();
        assert_eq!(types.len(), 1, "{json}");
        (types[0]["names"].as_array().unwrap().iter())
            .map(|n| n["name"].as_str().unwrap().to_owned())
            .collect()
    };
    for period in ["hour=current", "day=current", "week=current"] {
        let base = format!("/api/transaction?domain=app-0&{period}&type=URL");
        let all = names_of(&get_json(report_app(), &base, 200).await);
        assert!(all.len() > 1, "{period}: {all:?}");
        let uri = format!("{base}&name={}", all[1]);
        let json = get_json(report_app(), &uri, 200).await;
        assert_eq!(names_of(&json), [all[1].clone()], "{uri}");
        assert_eq!(json["types"][0]["namesLeftOut"], all.len() - 1, "{uri}");
    }
}

#[tokio::test]
async fn malformed_or_missing_parameters_are_400s_naming_the_parameter() {
    for (uri, param) in [
        ("/api/transaction?domain=catgen&hour=yesterday", "hour"),
        ("/api/transaction?domain=catgen&hour=2026133107", "hour"),
        ("/api/transaction?domain=catgen", "hour"),
        ("/api/transaction?hour=current", "domain"),
        ("/api/event?hour=current&domain=", "domain"),
        ("/api/state", "hour"),
        ("/api/domains?hour=26", "hour"),
        // `limit` bounds names per type of transactions and events only: elsewhere it is
        // not silently ignored, malformed (as /api/transaction says) or not.
        ("/api/problem?domain=catgen&hour=current&limit=abc", "limit"),
        ("/api/problem?domain=catgen&day=20261122&limit=5", "limit"),
        ("/api/heartbeat?domain=catgen&hour=current&limit=5", "limit"),
        (
            "/api/dependency?domain=catgen&hour=current&limit=5",
            "limit",
        ),
        // A metric report has no machines to pick.
        ("/api/metric?domain=catgen&hour=current&ip=192.0.2.2", "ip"),
    ] {
        let json = get_json(report_app(), uri, 400).await;
        let error = json["error"].as_str().unwrap();
        assert!(error.contains(&format!("“{param}”")), "{uri}: {error}");
    }
}

/// An empty period was taken as absent: `week=` then asked for “hour”, and `day=` showed
/// the current hour instead of a day.
#[tokio::test]
async fn an_empty_period_is_a_400_naming_it() {
    for (uri, param) in [
        ("/api/transaction?domain=catgen&week=", "week"),
        ("/api/transaction?domain=catgen&hour=current&day=", "day"),
        ("/api/event?domain=catgen&month=", "month"),
        ("/api/problem?domain=catgen&hour=", "hour"),
        ("/api/domains?hour=", "hour"),
    ] {
        let json = get_json(report_app(), uri, 400).await;
        let error = json["error"].as_str().unwrap();
        assert!(
            error.contains(&format!("“{param}” is empty")),
            "{uri}: {error}"
        );
    }
    // Where only hours are shown, a day (empty or not) is refused as such.
    let json = get_json(report_app(), "/api/state?day=", 400).await;
    assert!(json["error"].as_str().unwrap().contains("“day”"), "{json}");
    let html = html_page(
        report_app(),
        "/t?domain=catgen&week=",
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(html.contains("“week” is empty"), "{html}");
}

/// A value that is not UTF-8 once percent-decoded is malformed, not an unknown name: it
/// was read as "\u{FFFD}" and answered 404.
#[tokio::test]
async fn query_values_that_are_not_utf8_are_400s_naming_the_parameter() {
    for (uri, param) in [
        ("/api/transaction?domain=%FF&hour=current", "domain"),
        ("/api/event?domain=catgen&hour=current&type=%FF", "type"),
        ("/api/problem?domain=catgen&hour=current&ip=%FF", "ip"),
        ("/api/heartbeat?domain=%FF&hour=current", "domain"),
        ("/api/metric?domain=%FF&hour=current", "domain"),
        ("/api/dependency?domain=%FF&hour=current", "domain"),
        ("/api/state?hour=current&domain=%FF", "domain"),
        (
            "/api/transaction?domain=catgen&hour=current&type=URL&name=a%FFb",
            "name",
        ),
        ("/api/transaction?domain=catgen&hour=current&%FF=1", "%FF"),
    ] {
        let json = get_json(report_app(), uri, 400).await;
        let error = json["error"].as_str().unwrap();
        assert!(error.contains(&format!("“{param}”")), "{uri}: {error}");
        assert!(error.contains("UTF-8"), "{uri}: {error}");
    }
}

/// serde said "Failed to deserialize query string: duplicate field `domain`".
#[tokio::test]
async fn a_parameter_given_twice_is_a_400_naming_it() {
    for (uri, param) in [
        ("/api/transaction?domain=a&domain=b&hour=current", "domain"),
        ("/api/event?domain=catgen&hour=current&hour=current", "hour"),
        ("/api/problem?domain=catgen&type=URL&type=SQL", "type"),
        ("/api/state?hour=&hour=current", "hour"),
    ] {
        let json = get_json(report_app(), uri, 400).await;
        let error = json["error"].as_str().unwrap();
        assert_eq!(
            error,
            format!("bad parameter “{param}”: it is given twice; give it once."),
            "{uri}"
        );
    }
}

#[tokio::test]
async fn report_api_sits_behind_the_configured_api_token() {
    use axum::body::Body;
    use axum::http::Request;
    use std::sync::Arc;
    use tower::ServiceExt;

    let app = ocelot_web::router(
        ocelot_web::AppState::new(Arc::new(lookup()))
            .with_reports(Arc::new(reports()))
            .with_auth(ocelot_web::AuthConfig {
                api_token: Some("s3cret".into()),
                basic: None,
            }),
    );
    let uri = "/api/transaction?domain=catgen&hour=current";
    assert_eq!(get(app.clone(), uri).await.status().as_u16(), 401);
    let request = Request::get(uri)
        .header("authorization", "Bearer s3cret")
        .body(Body::empty())
        .unwrap();
    assert_eq!(app.oneshot(request).await.unwrap().status().as_u16(), 200);
}

/// Domain `ids` at [`HOUR`]: `Service` transactions (each with a `Cache` event of the same
/// name) named `user-00000` to `user-10049`, one message each but two for `user-10048`
/// and three for `user-10049`: more names than the API lists by default.
fn many_names_app() -> axum::Router {
    use std::sync::Arc;

    use ocelot_protocol::{Header, Leaf, Message, MessageTree, Transaction};
    use ocelot_web::{router, AppState, MemoryLookup, MemoryReports};
    let start_ms = HOUR * 3_600_000;
    let config = ocelot_analyzer::AnalyzerConfig {
        max_names_per_type: 20_000,
        ..ocelot_analyzer::AnalyzerConfig::default()
    };
    let mut reports = MemoryReports::with_config(NOW_MS, config);
    let mut id = 0;
    for n in 0..10_050u64 {
        let messages = match n {
            10_048 => 2,
            10_049 => 3,
            _ => 1,
        };
        for _ in 0..messages {
            id += 1;
            let name = format!("user-{n:05}");
            let mut root = Transaction::new("Service", name.clone(), start_ms);
            root.duration_us = 1_000 + n;
            root.children
                .push(Message::Event(Leaf::new("Cache", name, "0", start_ms, "")));
            let header = Header {
                domain: "ids".into(),
                ip_address: "10.0.0.1".into(),
                message_id: format!("ids-0a000001-498703-{id}"),
                ..Header::default()
            };
            reports.add_tree(&MessageTree::new(header, Message::Transaction(root)));
        }
    }
    router(AppState::new(Arc::new(MemoryLookup::new())).with_reports(Arc::new(reports)))
}

fn names_of(t: &Value) -> Vec<&str> {
    t["names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn a_type_lists_its_busiest_10_000_names_by_default_and_says_how_many_are_left_out() {
    let app = many_names_app();
    for (endpoint, type_) in [("transaction", "Service"), ("event", "Cache")] {
        for period in [format!("hour={HOUR_LABEL}"), "day=20261122".to_owned()] {
            let uri = format!("/api/{endpoint}?domain=ids&{period}");
            let json = get_json(app.clone(), &uri, 200).await;
            let t = find(&json["types"], "type", type_);
            let names = names_of(t);
            assert_eq!(names.len(), 10_000, "{uri}");
            assert_eq!(t["namesLeftOut"], 50, "{uri}");
            // The busiest two, then the first 9 998 of the equally busy ones by name;
            // still sorted by name.
            assert!(names.is_sorted(), "{uri}");
            assert_eq!(names[0], "user-00000");
            assert_eq!(names[9_997], "user-09997");
            assert_eq!(names[9_998..], ["user-10048", "user-10049"], "{uri}");
            // The type's own figures cover every name.
            assert_eq!(t["count"], 10_053, "{uri}");
        }
    }
    // A type within the limit says nothing about names left out.
    let json = get_json(
        report_app(),
        &format!("/api/transaction?domain=catgen&hour={HOUR_LABEL}"),
        200,
    )
    .await;
    for t in json["types"].as_array().unwrap() {
        assert!(t.get("namesLeftOut").is_none(), "{t}");
    }
}

#[tokio::test]
async fn limit_sets_the_names_per_type() {
    let app = many_names_app();
    for (endpoint, type_) in [("transaction", "Service"), ("event", "Cache")] {
        for period in [format!("hour={HOUR_LABEL}"), "day=20261122".to_owned()] {
            let uri = format!("/api/{endpoint}?domain=ids&{period}&limit=2");
            let json = get_json(app.clone(), &uri, 200).await;
            let t = find(&json["types"], "type", type_);
            assert_eq!(names_of(t), ["user-10048", "user-10049"], "{uri}");
            assert_eq!(t["namesLeftOut"], 10_048, "{uri}");
            assert_eq!(t["count"], 10_053, "{uri}");
            let uri = format!("/api/{endpoint}?domain=ids&{period}&limit=100000");
            let json = get_json(app.clone(), &uri, 200).await;
            let t = find(&json["types"], "type", type_);
            assert_eq!(names_of(t).len(), 10_050, "{uri}");
            assert!(t.get("namesLeftOut").is_none(), "{uri}");
        }
    }
}

#[tokio::test]
async fn a_malformed_zero_or_too_large_limit_is_a_400_naming_it() {
    for endpoint in ["transaction", "event"] {
        for period in [format!("hour={HOUR_LABEL}"), "day=20261122".to_owned()] {
            for limit in ["0", "ten", "-1", "2.5", "100001"] {
                let uri = format!("/api/{endpoint}?domain=catgen&{period}&limit={limit}");
                let json = get_json(report_app(), &uri, 400).await;
                let error = json["error"].as_str().unwrap();
                assert!(
                    error.contains("“limit”") && error.contains(limit),
                    "{uri}: {error}"
                );
            }
        }
    }
}

/// A tree of `shop` dated `timestamp_ms`: a `URL` transaction holding an `E` event.
fn shop_tree(seq: u64, timestamp_ms: u64) -> ocelot_protocol::MessageTree {
    use ocelot_protocol::{Header, Leaf, Message, MessageTree, Transaction};
    let mut root = Transaction::new("URL", "/a", timestamp_ms);
    root.children
        .push(Message::Event(Leaf::new("E", "e", "0", timestamp_ms, "")));
    MessageTree::new(
        Header {
            domain: "shop".to_owned(),
            ip_address: "10.0.0.1".to_owned(),
            message_id: format!("shop-0a000001-{HOUR}-{seq}"),
            ..Header::default()
        },
        Message::Transaction(root),
    )
}

/// The collector takes the next hour's trees from :57. At 06:58, hour 07 already holds
/// trees dated 07:00, and its rates divided them by the 1 s the clock gave an hour that
/// has not begun: 30 trees read as 30 a second. They are over their minute at least:
/// through the end of the newest minute with data.
#[tokio::test]
async fn an_hour_that_has_not_begun_counts_tps_through_its_newest_minute_with_data() {
    let start_ms = HOUR * 3_600_000;
    let mut reports = ocelot_web::MemoryReports::new(start_ms - 2 * 60_000);
    for seq in 0..30 {
        reports.add_tree(&shop_tree(seq, start_ms + seq * 1_000));
    }
    let tps_of = |json: &Value, kind: &str| {
        let t = find(&json["types"], "type", kind);
        (
            t["tps"].as_f64().unwrap(),
            t["names"][0]["tps"].as_f64().unwrap(),
        )
    };
    let app = || app_of(reports.clone());
    let uri = format!("/api/transaction?domain=shop&hour={HOUR_LABEL}");
    let json = get_json(app(), &uri, 200).await;
    assert_eq!(tps_of(&json, "URL"), (0.5, 0.5), "30 over 60 s: {json}");
    let json = get_json(
        app(),
        &format!("/api/event?domain=shop&hour={HOUR_LABEL}"),
        200,
    )
    .await;
    assert_eq!(tps_of(&json, "E"), (0.5, 0.5), "{json}");
    let json = get_json(app(), &format!("/api/state?hour={HOUR_LABEL}"), 200).await;
    assert_eq!(json["treesPerSecond"], 0.5, "{json}");
    let html = ok_page(app(), &format!("/t?domain=shop&hour={HOUR_LABEL}&type=URL")).await;
    assert!(
        html.contains(
            r#"<span class="stat-label">TPS (hour avg)</span><span class="stat-value">0.50</span>"#
        ),
        "{html}"
    );

    // A tree dated 07:04:30 (a clock ahead): 31 trees through 07:05.
    reports.add_tree(&shop_tree(30, start_ms + 270_000));
    let json = get_json(app_of(reports.clone()), &uri, 200).await;
    assert_eq!(tps_of(&json, "URL").0, 31.0 / 300.0, "{json}");

    // Once the hour runs, the clock's seconds count as before: 07:40:10 is 2410 s.
    reports.set_now_ms(start_ms + 2_410_000);
    let json = get_json(app_of(reports), &uri, 200).await;
    assert_eq!(tps_of(&json, "URL").0, 31.0 / 2410.0, "{json}");
}

/// `type=` on problems and dependencies answered 200 with an empty list for a type the
/// report does not have, as if there were none this hour; transactions and events said so.
#[tokio::test]
async fn a_problem_or_dependency_type_that_selects_nothing_is_a_404_naming_it() {
    for (uri, says) in [
        (
            "/api/problem?domain=catgen&hour=current&type=NoSuchType",
            "no problems of type “NoSuchType” in domain “catgen” in hour 2026112207",
        ),
        (
            "/api/problem?domain=catgen&hour=current&ip=192.0.2.2&type=NoSuchType",
            "in hour 2026112207 on machine 192.0.2.2",
        ),
        (
            "/api/problem?domain=catgen&day=20261122&type=NoSuchType",
            "no problems of type “NoSuchType” in domain “catgen” on day 20261122",
        ),
        (
            "/api/problem?domain=catgen&week=20261122&type=",
            "no problems of empty type (“”)",
        ),
        // CAT's Problem page calls the categories types: say what `type` picks here.
        (
            "/api/problem?domain=catgen&hour=current&type=error",
            "“error” is a problem category, and “type” picks the transaction or event type",
        ),
        (
            "/api/dependency?domain=catgen&hour=current&type=NoSuchType",
            "no dependencies of type “NoSuchType” in domain “catgen” in hour 2026112207",
        ),
    ] {
        let json = get_json(report_app(), uri, 404).await;
        let error = json["error"].as_str().unwrap();
        assert!(error.contains(says), "{uri}: {error}");
    }
    // A type the report has still lists its entries, and only them.
    let all = get_json(report_app(), "/api/problem?domain=catgen&hour=current", 200).await;
    let type_ = all["problems"][0]["type"].as_str().unwrap().to_owned();
    for period in ["hour=current", "day=20261122"] {
        let uri = format!("/api/problem?domain=catgen&{period}&type={type_}");
        let json = get_json(report_app(), &uri, 200).await;
        let problems = json["problems"].as_array().unwrap();
        assert!(!problems.is_empty() && problems.iter().all(|p| p["type"] == type_.as_str()));
    }
    get_json(
        report_app(),
        "/api/dependency?domain=catgen&hour=current&type=Database",
        200,
    )
    .await;
}

/// `ip=All` on /api/heartbeat answered the first machine's heartbeats, as if they were
/// every machine's; heartbeats do not add up, so it is a 400 naming the machines.
#[tokio::test]
async fn heartbeats_of_all_machines_are_a_400_naming_the_machines() {
    for all in ["All", "all"] {
        let uri = format!("/api/heartbeat?domain=catgen&hour=current&ip={all}");
        let json = get_json(report_app(), &uri, 400).await;
        let error = json["error"].as_str().unwrap();
        assert!(
            error.starts_with(&format!("bad parameter “ip”: “{all}” is not a machine")),
            "{error}"
        );
        assert!(error.contains("heartbeats are per machine"), "{error}");
        assert!(error.contains("this domain's are 192.0.2.2."), "{error}");
    }
    // Without `ip`, the first machine, as documented.
    let first = get_json(
        report_app(),
        "/api/heartbeat?domain=catgen&hour=current",
        200,
    )
    .await;
    assert_eq!(first["ip"], "192.0.2.2", "{first}");
}

/// `name=` on /api/metric was ignored (every metric listed), while /api/transaction lists
/// the name asked for alone; `type=` picked a metric by name, undocumented.
#[tokio::test]
async fn a_metric_name_lists_that_metric_alone_or_is_a_404() {
    let all = get_json(report_app(), "/api/metric?domain=catgen&hour=current", 200).await;
    let metrics = all["metrics"].as_array().unwrap();
    assert!(metrics.len() > 1, "{all}");
    let name = metrics[1]["name"].as_str().unwrap();
    let uri = format!("/api/metric?domain=catgen&hour=current&name={name}");
    let one = get_json(report_app(), &uri, 200).await;
    assert_eq!(one["metrics"], serde_json::json!([metrics[1]]), "{one}");
    let missing = get_json(
        report_app(),
        "/api/metric?domain=catgen&hour=current&name=no.such.metric",
        404,
    )
    .await;
    assert_eq!(
        missing["error"],
        "no metric “no.such.metric” in domain “catgen” in hour 2026112207"
    );
    let typed = get_json(
        report_app(),
        &format!("/api/metric?domain=catgen&hour=current&type={name}"),
        400,
    )
    .await;
    let error = typed["error"].as_str().unwrap();
    assert!(error.starts_with("bad parameter “type”"), "{error}");
    assert!(error.contains("metrics have names, not types"), "{error}");
}

/// The API said "no data" for an hour yet to come, where the boards say it has not begun.
#[tokio::test]
async fn an_hour_or_day_that_has_not_begun_says_so() {
    for (uri, says) in [
        (
            "/api/transaction?domain=catgen&hour=2027010100",
            "hour 2027010100 has not begun: nothing can have been sent in it yet (the current \
             hour is 2026112207)",
        ),
        (
            "/api/state?hour=2026112208",
            "hour 2026112208 has not begun",
        ),
        (
            "/api/problem?domain=catgen&day=20261123",
            "day 20261123 has not begun: nothing can have been sent in it yet (today is \
             20261122)",
        ),
        (
            "/api/event?domain=catgen&month=202612",
            "month 202612 has not begun",
        ),
        // A past hour without data has no data.
        (
            "/api/transaction?domain=catgen&hour=2026112205",
            "no data for hour 2026112205",
        ),
    ] {
        let json = get_json(report_app(), uri, 404).await;
        let error = json["error"].as_str().unwrap();
        assert!(error.contains(says), "{uri}: {error}");
    }
}

/// A misspelled or irrelevant parameter was ignored: `typ=URL` gave every type with a 200,
/// which a dashboard shows as URL's figures.
#[tokio::test]
async fn a_parameter_the_endpoint_does_not_take_is_a_400_naming_it_and_the_ones_it_takes() {
    for (uri, param, says) in [
        (
            "/api/transaction?domain=catgen&hour=current&typ=URL",
            "typ",
            "takes domain, hour, day, week, month, ip, type, name, limit",
        ),
        (
            "/api/problem?domain=catgen&hour=current&category=error",
            "category",
            "“category”",
        ),
        (
            "/api/problem?domain=catgen&hour=current&long_ms=long-url:3000",
            "long_ms",
            "durations",
        ),
        (
            "/api/transaction?domain=catgen&hour=current&sort=count",
            "sort",
            "by name",
        ),
        (
            "/api/event?domain=catgen&hour=current&compare=on",
            "compare",
            "hour=",
        ),
        (
            "/api/state?hour=current&domain=catgen",
            "domain",
            "takes hour",
        ),
        ("/api/hours?hour=abc", "hour", "takes no parameters"),
        ("/api/domains?foo=bar", "foo", "takes hour"),
        (
            "/api/heartbeat?domain=catgen&hour=current&type=URL",
            "type",
            "takes domain, hour, ip",
        ),
        ("/api/message/x?raw=1", "raw", "takes no parameters"),
    ] {
        let json = get_json(report_app(), uri, 400).await;
        let error = json["error"].as_str().unwrap();
        assert!(error.contains(&format!("“{param}”")), "{uri}: {error}");
        assert!(error.contains(says), "{uri}: {says} in {error}");
        assert_eq!(json["param"], param, "{uri}");
        assert!(json["takes"].is_array(), "{uri}: {json}");
    }
    // Refused in the handler's own words, as before.
    let json = get_json(
        report_app(),
        "/api/problem?domain=catgen&hour=current&limit=3",
        400,
    )
    .await;
    assert!(
        json["error"]
            .as_str()
            .unwrap()
            .contains("lists every entry"),
        "{json}"
    );
    // A cache-busting `_` passes.
    let uri = format!("/api/transaction?domain=catgen&hour={HOUR_LABEL}&_=1700000000");
    get_json(report_app(), &uri, 200).await;
    // The pages stay lenient: a stale bookmark parameter still opens the board.
    ok_page(report_app(), "/t?domain=catgen&typ=URL").await;
}

/// `date=` is CAT's, in CAT's zone (+08:00) on `/cat/r/...`: read as UTC here, a script
/// that swapped `/cat/r/t` for `/api/transaction` got an hour 8 hours away with a 200.
#[tokio::test]
async fn cats_date_on_the_api_is_a_400_naming_hour_in_utc() {
    let app = ocelot_web::router(
        ocelot_web::AppState::new(std::sync::Arc::new(lookup()))
            .with_reports(std::sync::Arc::new(reports()))
            .with_cat_utc_offset_seconds(28_800),
    );
    let json = get_json(
        app,
        &format!("/api/transaction?domain=catgen&date={HOUR_LABEL}"),
        400,
    )
    .await;
    let error = json["error"].as_str().unwrap();
    assert!(
        error.contains("date= is CAT's form, read in CAT's time zone on /cat/r/")
            && error.contains("here use hour=YYYYMMDDHH (UTC)")
            && error.contains("at UTC+08:00 is hour=2026112123"),
        "{error}"
    );
    for uri in [
        "/api/domains?date=2026112207",
        "/api/state?date=",
        "/api/heartbeat?domain=catgen&date=x",
    ] {
        let json = get_json(report_app(), uri, 400).await;
        assert_eq!(json["param"], "date", "{uri}: {json}");
    }
}

/// A dashboard refreshing every few seconds rebuilt sealed hours, which never change: no
/// caching header said they could be reused.
#[tokio::test]
async fn sealed_hours_may_be_reused_and_the_open_hour_may_not() {
    // Now is 40 minutes into HOUR: the hour before it ended 40 minutes ago, within the
    // collector's grace, and is not final yet; an hour later it is.
    let later = {
        let mut reports = reports();
        reports.set_now_ms(NOW_MS + 3_600_000);
        ocelot_web::router(
            ocelot_web::AppState::new(std::sync::Arc::new(lookup()))
                .with_reports(std::sync::Arc::new(reports)),
        )
    };
    let past = format!("/api/transaction?domain=app-1&hour={PAST_HOUR_LABEL}");
    for (app, uri, cache) in [
        (later.clone(), past.clone(), "max-age=300"),
        (
            later.clone(),
            "/api/problem?domain=app-1&day=20261121".to_owned(),
            "no-cache",
        ),
        (report_app(), past.clone(), "no-cache"),
        (
            later.clone(),
            "/api/transaction?domain=app-1&hour=current".to_owned(),
            "no-cache",
        ),
        (later.clone(), "/api/hours".to_owned(), "no-cache"),
        (later.clone(), format!("{past}&type=Nope"), "no-cache"),
    ] {
        let response = get(app, &uri).await;
        assert_eq!(header(&response, "cache-control"), cache, "{uri}");
    }
    assert_eq!(
        header(&get(later, "/t?domain=app-1").await, "cache-control"),
        "",
        "pages untouched"
    );
}

/// A lookup whose store cannot read anything.
struct BrokenStore;

impl ocelot_web::MessageLookup for BrokenStore {
    fn lookup(
        &self,
        _: &ocelot_protocol::MessageId,
    ) -> Result<Option<ocelot_web::StoredTree>, String> {
        Err("corrupt block at offset 48".to_owned())
    }
}

/// "No data" and a typo were both a 404 with English text: a client told them apart by
/// parsing the message. Every API error now has a stable `code` and a `message`; `error`,
/// which clients read, keeps the text.
#[tokio::test]
async fn every_api_error_has_a_stable_code_and_a_message() {
    use axum::body::Body;
    use axum::http::Request;
    use std::sync::Arc;
    use tower::ServiceExt;

    let unreadable = {
        let mut reports = reports();
        let why = "its file does not parse: EOF while parsing a value at line 1 column 1000";
        reports.set_unreadable(HOUR - 1, "app-0", "transaction", why);
        app_of(reports)
    };
    let broken_store = ocelot_web::router(ocelot_web::AppState::new(Arc::new(BrokenStore)));
    let cases = [
        (
            report_app(),
            "/api/transaction?domain=catgen&hour=nonsense",
            400,
            "bad_parameter",
        ),
        (
            report_app(),
            "/api/transaction?hour=current",
            400,
            "bad_parameter",
        ),
        (
            report_app(),
            "/api/transaction?domain=a&domain=b&hour=current",
            400,
            "bad_parameter",
        ),
        (
            report_app(),
            "/api/state?hour=current&typ=URL",
            400,
            "bad_parameter",
        ),
        (
            report_app(),
            "/api/transaction?domain=catgen&hour=2026112205",
            404,
            "no_data",
        ),
        (
            report_app(),
            "/api/transaction?domain=catgen&hour=2030010100",
            404,
            "no_data",
        ),
        (
            report_app(),
            "/api/transaction?domain=nosuch&hour=current",
            404,
            "no_data",
        ),
        (
            report_app(),
            "/api/problem?domain=nosuch&day=20261122",
            404,
            "no_data",
        ),
        (report_app(), "/api/state?hour=2026112205", 404, "no_data"),
        (
            report_app(),
            "/api/transaction?domain=catgen&hour=current&ip=10.9.9.9",
            404,
            "not_found",
        ),
        (
            report_app(),
            "/api/event?domain=catgen&hour=current&type=Nope",
            404,
            "not_found",
        ),
        (
            report_app(),
            "/api/metric?domain=catgen&hour=current&name=nope",
            404,
            "not_found",
        ),
        (
            report_app(),
            &format!("/api/message/{UNKNOWN_ID}"),
            404,
            "unknown_id",
        ),
        (report_app(), "/api/nosuch", 404, "unknown_endpoint"),
        (report_app(), "/api", 404, "unknown_endpoint"),
        (
            unreadable,
            "/api/transaction?domain=app-0&hour=2026112206",
            500,
            "unreadable_report",
        ),
        (
            broken_store,
            &format!("/api/message/{UNKNOWN_ID}"),
            500,
            "unreadable_tree",
        ),
    ];
    for (app, uri, status, code) in cases {
        let json = get_json(app, uri, status).await;
        assert_eq!(json["code"], code, "{uri}: {json}");
        let message = json["message"].as_str().unwrap_or_default();
        assert!(!message.is_empty(), "{uri}: {json}");
        assert_eq!(json["error"], message, "{uri}: the text clients read stays");
    }
    // A parameter not taken keeps naming it and those the endpoint takes.
    let json = get_json(report_app(), "/api/state?hour=current&typ=URL", 400).await;
    assert_eq!(json["param"], "typ");
    assert_eq!(json["takes"], serde_json::json!(["hour"]));

    let request = Request::post("/api/hours").body(Body::empty()).unwrap();
    let response = report_app().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    let json: Value = serde_json::from_str(&text(response).await).unwrap();
    assert_eq!(json["code"], "method_not_allowed");

    let guarded = ocelot_web::router(ocelot_web::AppState::new(Arc::new(lookup())).with_auth(
        ocelot_web::AuthConfig {
            api_token: Some("s3cret".into()),
            basic: None,
        },
    ));
    let response = get(guarded, "/api/hours").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(header(&response, "www-authenticate"), "Bearer");
    let json: Value = serde_json::from_str(&text(response).await).unwrap();
    assert_eq!(json["code"], "unauthorized");
    assert_eq!(json["error"], "missing or wrong credentials");
}

/// Past the server's answer budget the API answered a text/plain 503: the one API error
/// that was not JSON.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_answer_budget_the_api_answers_a_json_503() {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use axum::routing::get;
    use ocelot_web::{serve_counted, ServeLimits, ServeStats};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const BIG: usize = 16 << 20;
    let app = axum::Router::new()
        .route("/big", get(|| async { "x".repeat(BIG) }))
        .route("/api/big", get(|| async { "x".repeat(BIG) }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stats = Arc::new(ServeStats::default());
    let limits = ServeLimits {
        // One big answer fits, two do not.
        max_answer_bytes_in_flight: BIG * 3 / 2,
        ..ServeLimits::default()
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve_counted(listener, app, limits, stats.clone(), async {
        stopped.await.ok();
    }));

    // A client that asks for a big page and reads none of it holds the budget.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut hog = socket.connect(addr).await.unwrap();
    hog.write_all(b"GET /big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while stats.snapshot().answer_bytes_held != BIG as u64 {
        assert!(Instant::now() < deadline, "the hog's answer is never held");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    let mut refused = tokio::net::TcpStream::connect(addr).await.unwrap();
    refused
        .write_all(b"GET /api/big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), refused.read_to_end(&mut answer))
        .await
        .expect("the server closes the connection")
        .unwrap();
    let answer = String::from_utf8(answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 503"), "{head}");
    assert!(head.contains("retry-after: 2\r\n"), "{head}");
    assert!(head.contains("content-type: application/json"), "{head}");
    let json: Value = serde_json::from_str(body).unwrap();
    assert_eq!(json["code"], "busy", "{json}");

    drop(hog);
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}
