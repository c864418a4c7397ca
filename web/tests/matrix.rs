//! The Matrix board (`/matrix`), its JSON (`/api/matrix`) and CAT's `/cat/r/matrix`: per
//! request of a domain, the calls it made, so that a URL making hundreds of SQL calls at its
//! worst stands out with a link to that request.

mod common;

use axum::http::StatusCode;
use common::*;
use ocelot_analyzer::AnalyzerConfig;
use ocelot_protocol::{Header, Leaf, Message, MessageTree, Transaction};
use ocelot_web::MemoryReports;

/// A request of `shop`: a root `type_`/`name` of 20 ms making `sql` SQL calls of 1 ms and
/// one cache call, with message ID sequence `seq`.
fn request(type_: &str, name: &str, sql: usize, seq: u64) -> MessageTree {
    request_in(HOUR, type_, name, sql, seq)
}

/// [`request`] in `hour`.
fn request_in(hour: u64, type_: &str, name: &str, sql: usize, seq: u64) -> MessageTree {
    let ts = hour * 3_600_000 + 60_000 + seq;
    let mut root = Transaction::new(type_, name, ts);
    root.duration_us = 20_000;
    for _ in 0..sql {
        let mut t = Transaction::new("SQL", "OrderDao.find", ts);
        t.duration_us = 1_000;
        t.children.push(Message::Event(Leaf::new(
            "SQL.Database",
            "jdbc:mysql://db1/orders",
            "0",
            ts,
            "",
        )));
        root.children.push(Message::Transaction(t));
    }
    let mut cache = Transaction::new("Cache.redis", "order:get", ts);
    cache.duration_us = 500;
    root.children.push(Message::Transaction(cache));
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

fn id(seq: u64) -> String {
    format!("shop-0a000001-{HOUR}-{seq}")
}

/// The captured C-client trees (domain `catgen`: a URL with an SQL and a cache call, two
/// Services without calls), `shop`'s `/orders` requests making 2, 300 and 4 SQL calls and a
/// `Service`, and `batch`, whose only root is a job (no request).
fn matrix_reports(config: AnalyzerConfig) -> MemoryReports {
    let mut reports = MemoryReports::with_config(NOW_MS, config);
    for n in 1..=29 {
        reports.add_tree(&real_tree(n));
    }
    for (seq, sql) in [(1, 2), (2, 300), (3, 4)] {
        reports.add_tree(&request("URL", "/orders", sql, seq));
    }
    reports.add_tree(&request("Service", "order.create", 1, 4));
    let mut job = request("Job", "nightly", 3, 5);
    job.header.domain = "batch".to_owned();
    job.header.message_id = format!("batch-0a000001-{HOUR}-5");
    reports.add_tree(&job);
    reports
}

fn app() -> axum::Router {
    app_of(matrix_reports(AnalyzerConfig::default()))
}

/// The `<tr>` of the row naming `name` in `html`.
fn row<'a>(html: &'a str, name: &str) -> &'a str {
    let at = html
        .find(&format!(">{name}</a>"))
        .unwrap_or_else(|| panic!("no row {name}: {html}"));
    let start = html[..at].rfind("<tr>").unwrap();
    let end = at + html[at..].find("</tr>").unwrap();
    &html[start..end]
}

#[tokio::test]
async fn the_board_shows_how_many_calls_each_request_made_and_links_the_worst() {
    let html = ok_page(app(), "/matrix?domain=shop&hour=current").await;
    assert!(html.contains("<title>Matrix"), "{html}");
    // A table per root type.
    assert!(html.contains(r#"id="matrix-URL""#) && html.contains(r#"id="matrix-Service""#));
    let orders = row(&html, "/orders");
    // The name opens its row on the Transaction board, and one of its requests.
    assert!(
        orders.contains(&format!(
            r#"href="/t?domain=shop&amp;hour={HOUR_LABEL}&amp;type=URL&amp;name=%2Forders""#
        )),
        "{orders}"
    );
    assert!(
        orders.contains(&format!(r#"href="/m/{}""#, id(1))),
        "{orders}"
    );
    // Three requests, 20 ms each; no remote calls; SQL 102 a request, 2 to 300, the 300
    // linking to the request that made them; 306 ms of 60 is 510 % (the calls of the
    // hand-made requests overlap, as parallel calls would).
    assert!(orders.contains(">3</td>"), "{orders}");
    assert!(orders.contains(">0–0</td>"), "{orders}");
    assert!(orders.contains(">102</td>"), "{orders}");
    assert!(
        orders.contains(&format!(
            r#"2–<a class="msg-link max" href="/m/{}" title="{}">300</a>"#,
            id(2),
            id(2)
        )),
        "{orders}"
    );
    assert!(orders.contains(">510.0%</td>"), "{orders}");
    // The cache: one call a request, 0.5 of 20 ms.
    assert!(orders.contains(">2.50%</td>"), "{orders}");
}

#[tokio::test]
async fn the_board_reads_the_captured_c_client_requests() {
    let html = ok_page(app(), &format!("/matrix?domain=catgen&hour={HOUR_LABEL}")).await;
    let url = row(&html, "/api/order/create");
    // S01: one SQL and one cache call, each linking to the request.
    let link = r#"<a class="msg-link max" href="/m/catgen-c0000202-498703-10027""#;
    assert_eq!(url.matches(link).count(), 2, "{url}");
    let service = row(&html, "PaymentService.pay");
    assert!(service.contains(">0–0</td>"), "{service}");
    assert!(!service.contains("msg-link max"), "{service}");
    // S09a's root is a Call: the callee's Service is the request.
    assert!(html.contains(">OrderService.query</a>"));
    assert!(!html.contains(r#"id="matrix-Call""#));
}

#[tokio::test]
async fn the_api_answers_every_figure_of_the_report() {
    let api = get_json(app(), "/api/matrix?domain=shop&hour=current", 200).await;
    assert_eq!(api["domain"], "shop");
    assert_eq!(api["hour"], HOUR_LABEL);
    assert_eq!(api["folded"], 0);
    let names = api["names"].as_array().unwrap();
    assert_eq!(names.len(), 2, "{api}");
    let orders = &names[1];
    assert_eq!(orders["type"], "URL");
    assert_eq!(orders["name"], "/orders");
    assert_eq!(orders["count"], 3);
    assert_eq!(orders["avg"], 20.0);
    assert_eq!(orders["sample"], id(1));
    let kinds: Vec<&str> = (orders["calls"].as_array().unwrap().iter())
        .map(|c| c["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["Call", "SQL", "Cache"]);
    let sql = &orders["calls"][1];
    assert_eq!(sql["count"], 306);
    assert_eq!(sql["perRequest"], 102.0);
    assert_eq!(sql["minPerRequest"], 2);
    assert_eq!(sql["maxPerRequest"], 300);
    assert_eq!(sql["maxSample"], id(2));
    assert_eq!(sql["sum"], 306.0);
    assert_eq!(sql["avg"], 1.0);
    assert_eq!(sql["timePercent"], 510.0);
    // One type, one name.
    let services = get_json(
        app(),
        "/api/matrix?domain=shop&hour=current&type=Service",
        200,
    )
    .await;
    assert_eq!(services["names"].as_array().unwrap().len(), 1);
    let one = get_json(
        app(),
        "/api/matrix?domain=shop&hour=current&name=%2Forders",
        200,
    )
    .await;
    assert_eq!(one["names"][0]["name"], "/orders");
    let none = get_json(
        app(),
        "/api/matrix?domain=shop&hour=current&type=PigeonService",
        404,
    )
    .await;
    assert!(
        none["error"].as_str().unwrap().contains("PigeonService"),
        "{none}"
    );
    // A domain that served no request: an empty list, not a 404 (it sent trees).
    let batch = get_json(app(), "/api/matrix?domain=batch&hour=current", 200).await;
    assert_eq!(batch["names"], serde_json::json!([]));
}

#[tokio::test]
async fn the_api_and_the_board_refuse_a_machine() {
    let body = get_json(
        app(),
        "/api/matrix?domain=shop&hour=current&ip=10.0.0.1",
        400,
    )
    .await;
    assert!(
        body["error"].as_str().unwrap().contains("whole domain"),
        "{body}"
    );
    get_json(app(), "/api/matrix?domain=shop&hour=current&ip=All", 200).await;
    get_json(app(), "/api/matrix?domain=shop&hour=current&limit=5", 400).await;
    let body = get_json(app(), "/api/matrix?domain=shop&hour=current&sort=max", 400).await;
    assert_eq!(body["param"], "sort");
    get_json(app(), "/api/matrix?domain=nosuch&hour=current", 404).await;
    let html = html_page(
        app(),
        "/matrix?domain=shop&ip=10.0.0.1",
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(html.contains("whole domain"), "{html}");
}

#[tokio::test]
async fn a_domain_that_served_no_request_says_so_and_links_those_that_did() {
    let html = ok_page(app(), "/matrix?domain=batch&hour=current").await;
    assert!(html.contains("No requests"), "{html}");
    assert!(
        html.contains(&format!(
            r#"<a href="/matrix?domain=shop&amp;hour={HOUR_LABEL}">shop</a>"#
        )),
        "{html}"
    );
    // Without a domain the board opens the first that has requests, not `batch`.
    let html = ok_page(app(), "/matrix?hour=current").await;
    assert!(
        html.contains(r#"<span class="domain">catgen</span>"#),
        "{html}"
    );
}

#[tokio::test]
async fn names_past_the_cap_are_counted_in_a_note_that_links_their_row() {
    let config = AnalyzerConfig {
        max_names_per_type: 1,
        ..AnalyzerConfig::default()
    };
    let mut reports = matrix_reports(config);
    reports.add_tree(&request("URL", "/other", 1, 9));
    let app = app_of(reports);
    let html = ok_page(app.clone(), "/matrix?domain=shop&hour=current").await;
    assert!(html.contains("<strong>1 request</strong>"), "{html}");
    assert!(
        html.contains(r##"<a href="#matrix-URL">names of URL</a>"##),
        "{html}"
    );
    assert!(html.contains(">OTHERS</a>"), "{html}");
    let api = get_json(app, "/api/matrix?domain=shop&hour=current", 200).await;
    assert_eq!(api["folded"], 1);
}

#[tokio::test]
async fn a_report_that_cannot_be_read_is_a_500_that_says_so() {
    let mut reports = matrix_reports(AnalyzerConfig::default());
    reports.set_unreadable(HOUR, "batch", "matrix", "its file does not parse");
    let app = app_of(reports);
    let html = html_page(
        app.clone(),
        "/matrix?domain=batch&hour=current",
        StatusCode::INTERNAL_SERVER_ERROR,
    )
    .await;
    assert!(html.contains("The stored matrix report of batch"), "{html}");
    let body = get_json(app, "/api/matrix?domain=batch&hour=current", 500).await;
    assert!(
        body["error"].as_str().unwrap().contains("does not parse"),
        "{body}"
    );
}

#[tokio::test]
async fn cat_matrix_addresses_open_the_board_or_name_the_api() {
    let response = get(app(), "/cat/r/matrix?domain=shop&ip=All&date=2026112207").await;
    assert_eq!(response.status(), StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(
        header(&response, "location"),
        "/matrix?domain=shop&hour=2026112207"
    );
    let response = get(app(), "/cat/r/matrix?domain=shop&forceDownload=xml").await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(header(&response, "link").contains("/api/matrix?domain=shop&hour=current"));
}

#[tokio::test]
async fn the_nav_links_the_board_of_the_domain_and_hour_shown() {
    // The domain and hour, not the machine: the report has none.
    let uri = format!("/t?domain=shop&hour={PAST_HOUR_LABEL}&ip=10.0.0.1");
    let html = html_page(app(), &uri, StatusCode::NOT_FOUND).await;
    assert!(
        html.contains(&format!(
            r#"<a href="/matrix?domain=shop&amp;hour={PAST_HOUR_LABEL}">Matrix</a>"#
        )),
        "{html}"
    );
    let html = ok_page(app(), "/matrix?domain=shop&hour=current").await;
    assert!(html.contains(r#"class="active">Matrix</a>"#), "{html}");
}

/// `shop`'s `/orders` requests over two hours of 2026-11-22: one making 2 SQL calls in the
/// hour before [`HOUR`] and two making 300 and 4 in it.
fn two_hours() -> axum::Router {
    let mut reports = MemoryReports::new(NOW_MS);
    reports.add_tree(&request_in(HOUR - 1, "URL", "/orders", 2, 1));
    reports.add_tree(&request_in(HOUR, "URL", "/orders", 300, 2));
    reports.add_tree(&request_in(HOUR, "URL", "/orders", 4, 3));
    app_of(reports)
}

#[tokio::test]
async fn a_day_week_or_month_adds_up_its_hours_requests() {
    let day = get_json(two_hours(), "/api/matrix?domain=shop&day=20261122", 200).await;
    assert_eq!(day["day"], "20261122");
    assert_eq!(
        day["hours"],
        serde_json::json!(["2026112206", "2026112207"])
    );
    let orders = &day["names"][0];
    assert_eq!(
        (orders["name"].as_str(), orders["count"].as_u64()),
        (Some("/orders"), Some(3))
    );
    // The first request of the day is the sample; the fewest and the most SQL calls are
    // over both hours, the most linking to the request that made them.
    assert_eq!(orders["sample"], format!("shop-0a000001-{}-1", HOUR - 1));
    let sql = &orders["calls"][1];
    assert_eq!(
        (sql["kind"].as_str(), sql["count"].as_u64()),
        (Some("SQL"), Some(306))
    );
    assert_eq!(
        (sql["minPerRequest"].as_u64(), sql["maxPerRequest"].as_u64()),
        (Some(2), Some(300))
    );
    assert_eq!(sql["maxSample"], id(2));

    let week = get_json(two_hours(), "/api/matrix?domain=shop&week=20261121", 200).await;
    assert_eq!(
        (week["period"].as_str(), week["label"].as_str()),
        (Some("week"), Some("20261121"))
    );
    assert_eq!(week["days"], serde_json::json!(["20261122"]));
    assert_eq!(week["names"], day["names"]);
    let month = get_json(two_hours(), "/api/matrix?domain=shop&month=202611", 200).await;
    assert_eq!(month["names"], day["names"]);

    // A type or name asked for that the span lacks is a 404 naming the span; a day without
    // data is a 404 too.
    let none = get_json(
        two_hours(),
        "/api/matrix?domain=shop&day=20261122&type=Service",
        404,
    )
    .await;
    assert!(
        none["error"].as_str().unwrap().contains("day 20261122"),
        "{none}"
    );
    let one = get_json(
        two_hours(),
        "/api/matrix?domain=shop&day=20261122&name=/orders",
        200,
    )
    .await;
    assert_eq!(one["names"].as_array().unwrap().len(), 1);
    get_json(two_hours(), "/api/matrix?domain=shop&day=20261120", 404).await;
    get_json(
        two_hours(),
        "/api/matrix?domain=shop&day=20261122&hour=current",
        400,
    )
    .await;
}

#[tokio::test]
async fn the_day_board_shows_the_day_and_its_names_open_the_transaction_day() {
    let html = ok_page(two_hours(), "/matrix?domain=shop&day=20261122").await;
    assert!(html.contains("whole day"), "{html}");
    let orders = row(&html, "/orders");
    assert!(
        orders
            .contains(r#"href="/t?domain=shop&amp;day=20261122&amp;type=URL&amp;name=%2Forders""#),
        "{orders}"
    );
    assert!(orders.contains(">3</td>"), "{orders}");
    assert!(orders.contains(">102</td>"), "{orders}");
    // The hour board has the links to the whole day, week and month.
    let html = ok_page(two_hours(), "/matrix?domain=shop&hour=current").await;
    assert!(
        html.contains(r#"href="/matrix?domain=shop&amp;day=20261122""#),
        "{html}"
    );
    // A week of a domain that served no request says so.
    let mut reports = MemoryReports::new(NOW_MS);
    let mut job = request("Job", "nightly", 3, 5);
    job.header.domain = "batch".to_owned();
    reports.add_tree(&job);
    reports.add_tree(&request("URL", "/orders", 1, 6));
    let html = ok_page(app_of(reports), "/matrix?domain=batch&week=20261121").await;
    assert!(html.contains("No requests"), "{html}");
    assert!(
        html.contains(r#"<a href="/matrix?domain=shop&amp;week=20261121">shop</a>"#),
        "{html}"
    );
}
