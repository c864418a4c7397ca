//! The report boards (issue 6): home, transaction, event, problem, heartbeat, metric and
//! state pages over real CAT C client frames and generated traffic, called without a socket.

mod common;

use axum::http::StatusCode;
use common::*;

async fn page(uri: &str, status: StatusCode) -> String {
    let response = get(report_app(), uri).await;
    assert_eq!(response.status(), status, "GET {uri}");
    assert!(header(&response, "content-type").starts_with("text/html"));
    text(response).await
}

/// The position of `needle` in `html`, which must contain it.
fn at(html: &str, needle: &str) -> usize {
    html.find(needle)
        .unwrap_or_else(|| panic!("{needle} not in page"))
}

#[tokio::test]
async fn home_lists_every_domain_of_the_current_hour_failing_ones_first() {
    let html = page("/", StatusCode::OK).await;
    for domain in ["app-0", "app-1", "catgen"] {
        assert!(html.contains(&format!(">{domain}</a>")), "{domain}");
    }
    // The script domain's one request failed (100 %); catgen's URL request did not.
    assert!(at(&html, "&lt;script&gt;alert(1)&lt;/script&gt;</a>") < at(&html, ">catgen</a>"));
    assert!(html.contains(r#"class="badge fail">failing"#));
    assert!(html.contains("<svg class=\"sparkline\""));
    assert!(html.contains("/t?domain=catgen&amp;hour=2026112207&amp;type=URL"));
}

#[tokio::test]
async fn home_without_reports_says_so_instead_of_failing() {
    let response = get(app(), "/").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(text(response).await.contains("No data in this hour"));
}

#[tokio::test]
async fn transaction_board_defaults_to_the_first_domain_and_lists_its_types() {
    let html = page("/t", StatusCode::OK).await;
    // Domains sort as strings: "<script>..." comes before "app-0".
    assert!(html.contains("Transactions <span class=\"domain\">&lt;script&gt;"));
    let html = page("/t?domain=catgen&hour=current", StatusCode::OK).await;
    for type_ in ["URL", "Service", "Job", "Unicode.事务"] {
        assert!(html.contains(&format!(">{type_}</a>")), "{type_}");
    }
    for column in ["P50", "P95", "P99", "P999", "Std", "TPS", "Fail %"] {
        assert!(html.contains(&format!(">{column}")), "{column}");
    }
    assert!(
        html.contains(r#"<option value="192.0.2.2">"#),
        "machine selector"
    );
    assert!(html.contains(r#"<option value="All" selected>All machines"#));
}

#[tokio::test]
async fn a_failing_name_links_its_failed_message_to_logview_and_charts_its_minutes() {
    let html = page(
        "/t?domain=catgen&hour=2026112207&type=Service&name=PaymentService.pay",
        StatusCode::OK,
    )
    .await;
    assert!(html.contains(r#"id="name-detail""#));
    assert!(html.contains(&format!(r#"href="/m/{FAILED_ID}""#)));
    // Each drawn wide and narrow; the stylesheet shows the one that fits. Three charts of
    // the minutes and the duration distribution.
    assert_eq!(html.matches("<svg class=\"chart wide\"").count(), 4);
    assert_eq!(html.matches("<svg class=\"chart narrow\"").count(), 4);
    assert!(html.contains("Transactions per minute") && html.contains("Failures per minute"));
    assert!(
        html.contains(">P95</text>"),
        "a name's duration chart has its P95 line"
    );
    assert!(html.contains("<code>ERROR</code>"), "failure statuses");
}

#[tokio::test]
async fn columns_sort_on_the_server_and_unknown_columns_are_a_400() {
    let by_name = page(
        "/t?domain=app-0&hour=current&type=URL&sort=name",
        StatusCode::OK,
    )
    .await;
    assert!(at(&by_name, ">/api/cart/{num}</a>") < at(&by_name, ">/health/{num}</a>"));
    // Names sort A to Z, and the header says so.
    assert!(by_name.contains(r#"aria-sort="ascending""#));
    assert!(by_name.contains("Name ▴</a>"));
    let by_p95 = page(
        "/t?domain=app-0&hour=current&type=URL&sort=p95",
        StatusCode::OK,
    )
    .await;
    assert!(by_p95.contains("P95 ▾</a>"));
    assert!(by_p95.contains(r#"aria-sort="descending""#));
    let html = page("/t?domain=app-0&sort=nonsense", StatusCode::BAD_REQUEST).await;
    assert!(html.contains("“sort”"));
}

#[tokio::test]
async fn bad_parameters_give_a_friendly_400_page_never_a_500() {
    for uri in [
        "/t?hour=yesterday",
        "/e?hour=2026023007",
        "/p?hour=1",
        "/h?hour=x",
        "/metric?hour=x",
        "/state?hour=x",
        "/?hour=x",
    ] {
        let html = page(uri, StatusCode::BAD_REQUEST).await;
        assert!(html.contains("“hour”"), "{uri}");
        assert!(
            html.contains(r#"<form class="search""#),
            "{uri} is in the layout"
        );
    }
}

#[tokio::test]
async fn an_unknown_domain_or_empty_hour_keeps_the_navigation_with_a_404() {
    let html = page("/t?domain=nosuch&hour=current", StatusCode::NOT_FOUND).await;
    assert!(html.contains("has no report"));
    assert!(html.contains(r#"<form class="selectors""#));
    let html = page("/p?hour=2020010100", StatusCode::NOT_FOUND).await;
    assert!(html.contains("No domain sent data"));
    assert!(html.contains("Current hour"));
}

#[tokio::test]
async fn hour_navigation_links_the_previous_hour_and_back() {
    let html = page("/t?domain=app-1", StatusCode::OK).await;
    assert!(html.contains(&format!(
        r#"href="/t?domain=app-1&amp;hour={PAST_HOUR_LABEL}" rel="prev""#
    )));
    assert!(
        !html.contains(r#"rel="next""#),
        "no next hour after the current one"
    );
    let past = page(
        &format!("/t?domain=app-1&hour={PAST_HOUR_LABEL}"),
        StatusCode::OK,
    )
    .await;
    assert!(past.contains(r#"href="/t?domain=app-1&amp;hour=current" rel="next""#));
    assert!(past.contains("2026-11-22 06:00 UTC"));
    // The type and name shown go along; before the first hour with data there is no link.
    let named = page("/t?domain=app-1&type=URL&name=%2Fa", StatusCode::OK).await;
    assert!(
        named.contains(&format!(
            r#"href="/t?domain=app-1&amp;hour={PAST_HOUR_LABEL}&amp;type=URL&amp;name=%2Fa" rel="prev""#
        )),
        "{named}"
    );
    let hours = get_json(report_app(), "/api/hours", 200).await;
    let first = hours["hours"][0].as_str().unwrap();
    let earliest = text(get(report_app(), &format!("/t?hour={first}")).await).await;
    assert!(earliest.contains("hour-nav"), "{earliest}");
    assert!(
        !earliest.contains(r#"rel="prev""#),
        "no hour with data before the first"
    );
}

#[tokio::test]
async fn links_to_the_current_hour_name_it_current_so_they_stay_live() {
    // "Next hour" from the hour before the current one, and "Current hour", open the live
    // hour: a tab left open past the top of the hour and reloaded shows the new hour, not
    // the one that has ended.
    let past = page(
        &format!("/t?domain=app-1&hour={PAST_HOUR_LABEL}&type=URL"),
        StatusCode::OK,
    )
    .await;
    assert!(
        past.contains(
            r#"href="/t?domain=app-1&amp;hour=current&amp;type=URL" rel="next">Next hour →"#
        ),
        "{past}"
    );
    assert!(past.contains(r#"href="/t?domain=app-1&amp;hour=current&amp;type=URL">Current hour"#));
    assert!(!past.contains(&format!("hour={HOUR_LABEL}&amp;type=URL\"")));
    // The hour before is still named by its label.
    let live = page("/t?domain=app-1&hour=current", StatusCode::OK).await;
    assert!(live.contains(&format!(
        r#"href="/t?domain=app-1&amp;hour={PAST_HOUR_LABEL}" rel="prev""#
    )));
}

#[tokio::test]
async fn a_future_hour_says_it_has_not_begun_and_links_only_the_current_hour() {
    // Two hours after the current one: no "Next hour", and no "Previous hour" either
    // (that would be the next hour, as empty); the way back is the current hour.
    let html = page("/t?domain=app-1&hour=2026112209", StatusCode::NOT_FOUND).await;
    assert!(html.contains("This hour has not begun"), "{html}");
    assert!(html.contains("it is 2026-11-22 07:00 UTC now"), "{html}");
    assert!(!html.contains(r#"rel="next""#), "{html}");
    assert!(!html.contains(r#"rel="prev""#), "{html}");
    assert!(html.contains(r#"href="/t?domain=app-1&amp;hour=current">Go to the current hour"#));
    assert!(html.contains(r#"href="/t?domain=app-1&amp;hour=current">Current hour"#));
    // A future day likewise: no "Previous day" into another future day.
    let html = page("/t?domain=app-1&day=20261130", StatusCode::NOT_FOUND).await;
    assert!(html.contains("This day has not begun"), "{html}");
    assert!(
        !html.contains(r#"rel="prev""#) && !html.contains(r#"rel="next""#),
        "{html}"
    );
    assert!(html.contains(r#"href="/t?domain=app-1&amp;day=20261122">Go to today"#));
}

/// Reports with data in the hours 03:00, 05:00 and 07:00 (the current one) of 2026-11-22,
/// none at 04:00 or 06:00.
fn app_with_gaps() -> axum::Router {
    use ocelot_protocol::sample::SampleTrees;
    let mut reports = ocelot_web::MemoryReports::new(NOW_MS);
    for hour in [HOUR - 4, HOUR - 2, HOUR] {
        let start_ms = hour * 3_600_000;
        let mut samples = SampleTrees::new(hour, 1, 3, start_ms);
        for i in 0..10 {
            samples.now_ms = start_ms + i * 60_000;
            reports.add_tree(&samples.tree());
        }
    }
    ocelot_web::router(
        ocelot_web::AppState::new(std::sync::Arc::new(lookup()))
            .with_reports(std::sync::Arc::new(reports)),
    )
}

#[tokio::test]
async fn an_empty_past_hour_says_it_has_no_data_and_links_the_hours_around_it_that_have() {
    let app = app_with_gaps();
    // "Next hour" from 03:00 steps into the gap at 04:00, which says so and leads back.
    let response = get(app.clone(), "/t?hour=2026112203").await;
    assert_eq!(response.status(), StatusCode::OK);
    let from = text(response).await;
    assert!(
        from.contains(r#"hour=2026112204" rel="next">Next hour →"#),
        "{from}"
    );
    let response = get(app.clone(), "/t?hour=2026112204&type=URL").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let html = text(response).await;
    assert!(html.contains("No data in this hour"), "{html}");
    assert!(
        html.contains("No domain sent data in the hour of 2026-11-22 04:00 UTC."),
        "{html}"
    );
    assert!(
        html.contains(r#"<a href="/t?hour=2026112203&amp;type=URL">← 2026-11-22 03:00 UTC</a>, the last hour with data before this one"#),
        "{html}"
    );
    assert!(
        html.contains(r#"<a href="/t?hour=2026112205&amp;type=URL">2026-11-22 05:00 UTC →</a>, the next hour with data"#),
        "{html}"
    );
    assert!(html.contains(r#"<a href="/t?hour=current&amp;type=URL">Go to the current hour</a>"#));
    // The gap just before the current hour: the current hour is the next with data, and
    // is linked once, as the current hour.
    let html = text(get(app, "/e?hour=2026112206").await).await;
    assert!(
        html.contains(r#"<a href="/e?hour=2026112205">← 2026-11-22 05:00 UTC</a>"#),
        "{html}"
    );
    assert!(!html.contains("the next hour with data"), "{html}");
    assert!(html.contains(r#"<a href="/e?hour=current">Go to the current hour</a>"#));
}

#[tokio::test]
async fn home_of_a_past_or_future_hour_without_data_says_so_as_the_boards_do() {
    let app = app_with_gaps();
    let gap = html_page(app.clone(), "/?hour=2026112204", StatusCode::NOT_FOUND).await;
    assert!(gap.contains("No data in this hour"), "{gap}");
    assert!(
        gap.contains("No domain sent data in the hour of 2026-11-22 04:00 UTC."),
        "{gap}"
    );
    assert!(!gap.contains("Point a CAT client"), "no onboarding: {gap}");
    assert!(
        gap.contains(r#"<a href="/?hour=2026112203">← 2026-11-22 03:00 UTC</a>"#),
        "{gap}"
    );
    assert!(
        gap.contains(r#"<a href="/?hour=2026112205">2026-11-22 05:00 UTC →</a>"#),
        "{gap}"
    );
    let future = html_page(app.clone(), "/?hour=2030010100", StatusCode::NOT_FOUND).await;
    assert!(future.contains("This hour has not begun"), "{future}");
    assert!(!future.contains("Point a CAT client"), "{future}");
    // The boards answer the same for those hours.
    let board = html_page(app.clone(), "/state?hour=2026112204", StatusCode::NOT_FOUND).await;
    assert!(board.contains("No data in this hour"), "{board}");
    let board = html_page(app.clone(), "/t?hour=2030010100", StatusCode::NOT_FOUND).await;
    assert!(board.contains("This hour has not begun"), "{board}");
    // An hour with data is listed as before, and the live hour without any invites clients.
    let past = ok_page(app, "/?hour=2026112205").await;
    assert!(past.contains("Health"), "{past}");
    let live = ok_page(
        app_of(ocelot_web::MemoryReports::new(NOW_MS)),
        "/?hour=current",
    )
    .await;
    assert!(live.contains("Point a CAT client"), "{live}");
}

#[tokio::test]
async fn event_board_lists_types_then_names_with_sample_links() {
    let html = page("/e?domain=catgen&hour=current", StatusCode::OK).await;
    assert!(html.contains(">Error</a>"));
    let html = page("/e?domain=catgen&hour=current&type=Error", StatusCode::OK).await;
    assert!(html.contains(">RuntimeException</a>"));
    assert!(html.contains("Events per minute"));
    assert!(html.contains("class=\"msg-link failed\""));
}

#[tokio::test]
async fn problem_board_groups_by_category_with_minutes_and_samples() {
    let html = page("/p?domain=catgen", StatusCode::OK).await;
    assert!(html.contains(r#"id="error""#));
    assert!(html.contains("error per minute"));
    assert!(html.contains(&format!(r#"href="/m/{FAILED_ID}""#)));
    let app = page("/p?domain=app-0", StatusCode::OK).await;
    assert!(
        at(&app, r#"id="error""#) < at(&app, r#"id="long-call""#),
        "error comes first"
    );
}

#[tokio::test]
async fn heartbeat_page_charts_every_series_of_the_machine() {
    let html = page("/h?domain=catgen", StatusCode::OK).await;
    assert!(html.contains("system.process.load.1min"));
    assert!(html.matches("<svg class=\"chart\"").count() >= 5);
    assert!(!html.contains("All machines"), "heartbeats do not add up");
    // The captured heartbeat is at 07:08, the fixture's clock at 07:40: the machine is
    // said to be silent, not only drawn with gaps.
    assert!(
        html.contains("No heartbeat since 07:08 UTC (31 minutes): the machine may be down"),
        "{html}"
    );
}

#[tokio::test]
async fn metric_and_state_pages_show_their_figures() {
    let html = page("/metric?domain=catgen", StatusCode::OK).await;
    assert!(html.contains("<table class=\"report\""));
    // The charts sit in a panel under a heading, as on every other page.
    let (_, charts) = html
        .split_once("<section class=\"panel metric-charts\"><h2>Per minute")
        .expect("a panel of the metrics' charts");
    assert!(charts.contains("<svg class=\"chart"), "{charts}");
    let html = page("/state", StatusCode::OK).await;
    assert!(html.contains("Trees received per minute"));
    assert!(html.contains(&format!(">{}</span>", 27 + 1 + SAMPLE_TREES)));
}

#[tokio::test]
async fn boards_of_reports_few_domains_have_open_on_a_domain_that_has_one() {
    // The hour's first domain (the markup one) sent no heartbeat, metric or edge.
    for path in ["/h", "/metric", "/d"] {
        let html = page(path, StatusCode::OK).await;
        assert!(html.contains("<table") || html.contains("chart"), "{path}");
        assert!(!html.contains("No dependencies"), "{path}");
    }
    // Asked for by name, a domain that sent data but no metric is shown, with a 200
    // saying so (see `a_domain_without_metrics_or_events_says_so_and_links_those_with_some`).
    let evil = "%3Cscript%3Ealert(1)%3C%2Fscript%3E";
    let html = page(&format!("/metric?domain={evil}"), StatusCode::OK).await;
    assert!(html.contains("logged no business metrics"));
}

#[tokio::test]
async fn the_dependency_page_lists_what_a_domain_calls_and_who_calls_it() {
    let html = page("/d?domain=catgen", StatusCode::OK).await;
    for text in [
        "Depends on",
        "jdbc:mysql://db1:3306/orders",
        "Called by",
        "payment-gateway",
    ] {
        assert!(html.contains(text), "{text}");
    }
    // The charts have a panel and a heading, as on the other pages.
    let charts = html
        .split("<section class=\"panel edge-charts\">")
        .nth(1)
        .expect("a panel of charts");
    let charts = &charts[..charts.find("</section>").unwrap()];
    assert!(
        charts.starts_with("<h2>Calls per minute<span class=\"count\">"),
        "{charts}"
    );
    assert_eq!(
        charts.matches("<figure class=\"chart-box\">").count(),
        html.matches("<figure").count(),
        "every chart in it"
    );
    assert!(charts.contains("<tspan class=\"chart-unit\"> (calls)</tspan>"));
    // A domain without edges (the hand-made markup tree's) says where edges come from.
    let html = page(
        "/d?domain=%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        StatusCode::OK,
    )
    .await;
    assert!(html.contains("No dependencies") && html.contains("SQL.Database"));
}

/// `shop` in [`HOUR`]: machine 10.0.0.1 queries one database, 10.0.0.2 another, and
/// 10.0.0.3 logs an event that names none.
fn machines_with_their_own_edges() -> ocelot_web::MemoryReports {
    use ocelot_protocol::{Header, Leaf, Message, MessageTree, Transaction};
    let ts = HOUR * 3_600_000 + 60_000;
    let tree = |ip: &str, seq: u64, event: Leaf| {
        let mut call = Transaction::new("SQL", "select", ts);
        call.children.push(Message::Event(event));
        let mut root = Transaction::new("URL", "/orders", ts);
        root.children.push(Message::Transaction(call));
        let header = Header {
            domain: "shop".into(),
            ip_address: ip.into(),
            message_id: format!("shop-0a000001-{HOUR}-{seq}"),
            ..Header::default()
        };
        MessageTree::new(header, Message::Transaction(root))
    };
    let mut reports = ocelot_web::MemoryReports::new(NOW_MS);
    for (seq, (ip, type_, name)) in [
        ("10.0.0.1", "SQL.Database", "jdbc:mysql://one/orders"),
        ("10.0.0.2", "SQL.Database", "jdbc:mysql://two/orders"),
        ("10.0.0.3", "Cache", "get"),
    ]
    .into_iter()
    .enumerate()
    {
        let event = Leaf::new(type_, name, "0", ts, "");
        reports.add_tree(&tree(ip, seq as u64, event));
    }
    reports
}

/// `/d?domain=shop&ip=10.0.0.2` (a CAT-style link, or an old one) showed every machine's
/// edges under "machine 10.0.0.2". The edges are kept per machine: the page shows that
/// machine's, as `/api/dependency` does, and says so when it has none.
#[tokio::test]
async fn the_dependency_page_of_a_machine_shows_that_machines_edges() {
    let page = |uri: &str, status| {
        let app = app_of(machines_with_their_own_edges());
        let uri = uri.to_owned();
        async move { html_page(app, &uri, status).await }
    };
    let html = page("/d?domain=shop&ip=10.0.0.2", StatusCode::OK).await;
    assert!(html.contains("jdbc:mysql://two/orders"), "{html}");
    assert!(!html.contains("jdbc:mysql://one/orders"), "{html}");
    assert!(
        html.contains(r#"<option value="10.0.0.2" selected>10.0.0.2</option>"#),
        "a machine selector: {html}"
    );
    for uri in ["/d?domain=shop", "/d?domain=shop&ip=All"] {
        let html = page(uri, StatusCode::OK).await;
        assert!(
            html.contains("jdbc:mysql://one/orders") && html.contains("jdbc:mysql://two/orders"),
            "{uri}"
        );
    }
    let html = page("/d?domain=shop&ip=10.0.0.3", StatusCode::OK).await;
    assert!(
        html.contains("Machine <code>10.0.0.3</code> of shop logged no event naming"),
        "{html}"
    );
    assert!(
        html.contains(r#"<a href="/d?domain=shop&amp;hour=2026112207">Show all machines</a>"#),
        "{html}"
    );
    let html = page("/d?domain=shop&ip=10.9.9.9", StatusCode::NOT_FOUND).await;
    assert!(html.contains("No machine 10.9.9.9"), "{html}");
    // The JSON API answers the same.
    let json = get_json(
        app_of(machines_with_their_own_edges()),
        "/api/dependency?domain=shop&hour=current&ip=10.0.0.2",
        200,
    )
    .await;
    let targets: Vec<&str> = (json["dependencies"].as_array().unwrap().iter())
        .map(|e| e["target"].as_str().unwrap())
        .collect();
    assert_eq!(targets, ["jdbc:mysql://two/orders"]);
}

#[tokio::test]
async fn domains_and_names_with_markup_are_escaped_on_every_board() {
    let evil = "%3Cscript%3Ealert(1)%3C%2Fscript%3E";
    for path in ["/", "/t", "/e", "/p", "/h", "/metric", "/d", "/state"] {
        // The script domain sent no heartbeat or metric: those pages are 404s, escaped too.
        let response = get(report_app(), &format!("{path}?domain={evil}&hour=current")).await;
        assert!(matches!(response.status().as_u16(), 200 | 404), "{path}");
        assert!(!text(response).await.contains("<script>"), "{path}");
    }
    let html = page(
        &format!("/t?domain={evil}&type={evil}&name={evil}"),
        StatusCode::OK,
    )
    .await;
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!html.contains("<script>alert"));
}

/// `value` percent-encoded for a query string.
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Failing requests of `gateway` on machine 10.0.1.1 (each logs a failed `Error` event),
/// a few good ones, one with a duration metric, and a domain `quiet` that logs no event.
fn gateway_app() -> axum::Router {
    use ocelot_protocol::{Header, Leaf, Message, MessageTree, Transaction};
    let tree = |domain: &str, seq: u64, name: &str, failed: bool| {
        let ts = HOUR * 3_600_000 + seq * 1_000;
        let mut root = Transaction::new("URL", name, ts);
        root.duration_us = 20_000 + seq * 100;
        if failed {
            root.status = "500".to_owned();
            root.children.push(Message::Event(Leaf::new(
                "Error", "Timeout", "ERROR", ts, "",
            )));
        }
        MessageTree::new(
            Header {
                domain: domain.to_owned(),
                ip_address: "10.0.1.1".to_owned(),
                message_id: format!("{domain}-0a000101-{HOUR}-{seq}"),
                ..Header::default()
            },
            Message::Transaction(root),
        )
    };
    let mut reports = ocelot_web::MemoryReports::new(NOW_MS);
    for seq in 0..15 {
        reports.add_tree(&tree("gateway", seq, "/api/order/create", true));
    }
    for seq in 15..18 {
        reports.add_tree(&tree("gateway", seq, "/api/order/pay", seq != 17));
    }
    let mut timed = tree("gateway", 18, "/api/order/list", false);
    if let Message::Transaction(root) = &mut timed.root {
        root.children.push(Message::Metric(Leaf::new(
            "",
            "order.render",
            "T",
            HOUR * 3_600_000 + 18_000,
            "12.5",
        )));
    }
    reports.add_tree(&timed);
    reports.add_tree(&tree("quiet", 1, "/ping", false));
    ocelot_web::router(
        ocelot_web::AppState::new(std::sync::Arc::new(lookup()))
            .with_reports(std::sync::Arc::new(reports)),
    )
}

async fn gateway_page(uri: &str, status: StatusCode) -> String {
    let response = get(gateway_app(), uri).await;
    assert_eq!(response.status(), status, "GET {uri}");
    text(response).await
}

#[tokio::test]
async fn the_selector_form_keeps_type_name_and_sort_unless_the_domain_changes() {
    let view = get_json(
        report_app(),
        "/api/transaction?domain=app-0&hour=current&type=URL",
        200,
    )
    .await;
    let name = view["types"][0]["names"][0]["name"].as_str().unwrap();
    let name_q = encode(name);
    let html = page(
        &format!("/t?domain=app-0&hour=current&type=URL&name={name_q}&sort=p95"),
        StatusCode::OK,
    )
    .await;
    let form = &html[at(&html, r#"<form class="selectors""#)..];
    let form = &form[..at(form, "</form>")];
    for (key, value) in [
        ("type", "URL"),
        ("name", name),
        ("sort", "p95"),
        ("from", "app-0"),
    ] {
        let value = value.replace('&', "&amp;").replace('"', "&quot;");
        assert!(
            form.contains(&format!(
                r#"<input type="hidden" name="{key}" value="{value}">"#
            )),
            "{key} in {form}"
        );
    }
    // What the form sends when the machine changes: the same name, on that machine.
    let same = page(
        &format!(
            "/t?domain=app-0&hour={HOUR_LABEL}&ip=10.0.0.2&type=URL&name={name_q}&sort=p95&from=app-0"
        ),
        StatusCode::OK,
    )
    .await;
    assert!(same.contains(r#"id="name-detail""#), "the name is kept");
    assert!(same.contains(r#"<option value="10.0.0.2" selected>"#));
    assert!(same.contains("P95 ▾</a>"), "the sort is kept");
    // When the domain changes: its types, on all its machines (types, names and machines
    // are the old domain's); the sort column applies to any domain.
    let other = page(
        &format!(
            "/t?domain=app-1&hour={HOUR_LABEL}&ip=10.0.0.2&type=URL&name={name_q}&sort=p95&from=app-0"
        ),
        StatusCode::OK,
    )
    .await;
    assert!(!other.contains(r#"id="name-detail""#), "{other}");
    assert!(other.contains(">Types<"));
    assert!(other.contains(r#"<option value="All" selected>"#));
    assert!(other.contains("P95 ▾</a>"));
    // Nothing to carry, nothing hidden.
    let plain = page("/t?domain=app-0&hour=current", StatusCode::OK).await;
    assert!(!plain.contains(r#"type="hidden""#));
}

#[tokio::test]
async fn failure_links_say_when_they_are_a_sample_of_the_failures() {
    let html = gateway_page(
        "/t?domain=gateway&hour=current&type=URL&name=%2Fapi%2Forder%2Fcreate",
        StatusCode::OK,
    )
    .await;
    assert!(html.contains(">10 of 15 failed</a>"), "{html}");
    assert!(html.contains("<h3>Failed: the last 10 of 15</h3>"));
    assert!(html.contains("keeps the newest failed message IDs"));
    assert!(!html.contains("failed ×"));
    // Every failure kept: no "of".
    let html = gateway_page(
        "/t?domain=gateway&hour=current&type=URL&name=%2Fapi%2Forder%2Fpay",
        StatusCode::OK,
    )
    .await;
    assert!(html.contains(">2 failed</a>"));
    assert!(html.contains("<h3>Failed (2)</h3>"));
    // The event board labels its failed events the same way.
    let html = gateway_page(
        "/e?domain=gateway&hour=current&type=Error&name=Timeout",
        StatusCode::OK,
    )
    .await;
    assert!(html.contains(">10 of 17 failed</a>"), "{html}");
    assert!(html.contains("<h3>Failed: the last 10 of 17</h3>"));
}

#[tokio::test]
async fn a_domain_without_metrics_or_events_says_so_and_links_those_with_some() {
    // app-0 sent plenty, but no `M` record: a 200 that says so and links catgen's metrics.
    let html = page("/metric?domain=app-0&hour=current", StatusCode::OK).await;
    assert!(
        html.contains("app-0 logged no business metrics (M records) in the hour of"),
        "{html}"
    );
    assert!(html.contains(&format!(
        r#"href="/metric?domain=catgen&amp;hour={HOUR_LABEL}">catgen</a>"#
    )));
    assert!(!html.contains("has no report"));
    // A domain with transactions and no event, on the event board; the domains with
    // events are linked.
    let html = gateway_page("/e?domain=quiet", StatusCode::OK).await;
    assert!(html.contains("quiet logged no events"), "{html}");
    assert!(html.contains(&format!(
        r#"href="/e?domain=gateway&amp;hour={HOUR_LABEL}">gateway</a>"#
    )));
    // A domain without edges, on the dependency page.
    let html = gateway_page("/d?domain=quiet", StatusCode::OK).await;
    assert!(html.contains("No dependencies") && html.contains("SQL.Database"));
    assert!(html.contains("No domain did."));
    // A domain with no data at all stays a 404, and in the current hour it does not send
    // the user to the current hour.
    let html = page("/metric?domain=nosuch&hour=current", StatusCode::NOT_FOUND).await;
    assert!(html.contains("has no report"));
    assert!(!html.contains("go to the current hour"));
    let html = page(
        &format!("/metric?domain=nosuch&hour={PAST_HOUR_LABEL}"),
        StatusCode::NOT_FOUND,
    )
    .await;
    assert!(html.contains("go to the current hour"));
}

#[tokio::test]
async fn a_problem_type_filter_is_shown_with_a_link_back_and_an_empty_one_names_it() {
    let all = gateway_page("/p?domain=gateway", StatusCode::OK).await;
    // Each entry's type opens the board filtered to it, at its category.
    assert!(
        all.contains(&format!(
            r#"<td class="name"><a href="/p?domain=gateway&amp;hour={HOUR_LABEL}&amp;type=URL#error">URL</a></td>"#
        )),
        "{all}"
    );
    assert!(all.contains(">Error</a></td>"), "{all}");
    assert!(!all.contains("All types"), "no filter, no crumb: {all}");

    let url = gateway_page("/p?domain=gateway&type=URL", StatusCode::OK).await;
    assert!(
        url.contains(&format!(
            r#"<a href="/p?domain=gateway&amp;hour={HOUR_LABEL}">All types</a><span class="sep">›</span><span class="current">URL</span>"#
        )),
        "the filter is named, with the way back: {url}"
    );
    assert!(!url.contains(">Error</a></td>"), "only URL entries: {url}");

    // A type the domain has no problem of: named, not "nothing failed in the hour".
    let none = gateway_page(
        "/p?domain=gateway&type=nosuch&long_ms=long-url:3000",
        StatusCode::OK,
    )
    .await;
    assert!(none.contains("No problems of type “nosuch”"), "{none}");
    assert!(!none.contains("Nothing failed"), "{none}");
    let before = &none[..at(&none, "\">Show every type")];
    let back = &before[before.rfind("<a href=").unwrap()..];
    assert!(
        back.contains(&format!(
            r#"href="/p?domain=gateway&amp;hour={HOUR_LABEL}&amp;long_ms="#
        )),
        "the way back keeps the thresholds and drops the type: {back}"
    );
    assert!(!back.contains("type="), "{back}");
}

#[tokio::test]
async fn an_unknown_machine_is_a_404_with_a_link_to_all_machines() {
    for path in ["/t", "/e", "/p"] {
        let html = page(
            &format!("{path}?domain=app-0&hour=current&ip=1.2.3.4&type=URL"),
            StatusCode::NOT_FOUND,
        )
        .await;
        assert!(html.contains("No machine 1.2.3.4"), "{path}: {html}");
        assert!(
            html.contains(&format!(
                r#"href="{path}?domain=app-0&amp;hour={HOUR_LABEL}&amp;type=URL">Show all machines</a>"#
            )),
            "{path}"
        );
        // The selector names the machine asked for, as the subtitle does.
        assert!(
            html.contains(r#"<option value="1.2.3.4" selected>"#),
            "{path}"
        );
        assert!(!html.contains(r#"<option value="All" selected>"#), "{path}");
    }
    // A known machine is fine.
    page("/t?domain=app-0&hour=current&ip=10.0.0.2", StatusCode::OK).await;
    page("/e?domain=app-0&hour=current&ip=10.0.0.2", StatusCode::OK).await;
    page("/p?domain=app-0&hour=current&ip=10.0.0.2", StatusCode::OK).await;
}

/// The header cells and the cells of the first body row of the `n`th `table.report`.
fn header_and_row(html: &str, n: usize) -> (Vec<String>, usize) {
    let table = html.split("<table class=\"report").nth(n + 1).unwrap();
    let table = &table[..at(table, "</table>")];
    let thead = &table[at(table, "<thead>") + "<thead>".len()..at(table, "</thead>")];
    let headers = thead
        .split("<th")
        .skip(1)
        .map(|th| th[..at(th, "</th>")].to_owned())
        .collect();
    let tbody = &table[at(table, "<tbody>")..];
    let row = &tbody[..at(tbody, "</tr>")];
    (headers, row.matches("<td").count())
}

#[tokio::test]
async fn table_headers_sort_what_they_say_and_line_up_with_their_cells() {
    let types = page("/t?domain=app-0&hour=current", StatusCode::OK).await;
    let (headers, cells) = header_and_row(&types, 0);
    assert_eq!(headers.len(), cells, "{headers:?}");
    assert!(headers[0].contains(">Type</a>"), "{}", headers[0]);
    assert!(headers.iter().any(|h| h.contains(">P90</a>")), "P90");
    let names = page("/t?domain=app-0&hour=current&type=URL", StatusCode::OK).await;
    let (headers, cells) = header_and_row(&names, 0);
    assert_eq!(headers.len(), cells, "{headers:?}");
    assert!(headers[0].contains(">Name</a>"));
    let p50 = headers.iter().position(|h| h.contains(">P50<")).unwrap();
    assert!(headers[p50 + 1].contains(">P90<") && headers[p50 + 2].contains(">P95<"));
    // The message links neither sort nor sit right-aligned over left-aligned links.
    let messages = headers.last().unwrap();
    assert!(messages.ends_with(">Messages"), "{messages}");
    assert!(!messages.contains("class=\"num\"") && !messages.contains("<a"));
    page(
        "/t?domain=app-0&hour=current&type=URL&sort=samples",
        StatusCode::BAD_REQUEST,
    )
    .await;
    let by_p90 = page(
        "/t?domain=app-0&hour=current&type=URL&sort=p90",
        StatusCode::OK,
    )
    .await;
    assert!(by_p90.contains("P90 ▾</a>"));
    // The event board: a types table headed "Type", a Messages column that does not sort.
    let events = page("/e?domain=app-0&hour=current", StatusCode::OK).await;
    let (headers, cells) = header_and_row(&events, 0);
    assert_eq!(headers.len(), cells);
    assert!(headers[0].contains(">Type</a>"));
    let events = page(
        "/e?domain=app-0&hour=current&type=Exception",
        StatusCode::OK,
    )
    .await;
    let (headers, cells) = header_and_row(&events, 0);
    assert_eq!(headers.len(), cells);
    assert!(headers.last().unwrap().ends_with(">Messages"));
}

#[tokio::test]
async fn durations_carry_their_unit_and_rates_say_they_are_hour_averages() {
    let html = page("/d?domain=catgen", StatusCode::OK).await;
    assert!(html.contains("Durations in milliseconds."));
    assert!(html.contains(">TPS (hour avg)</th>"));
    // A duration metric's sum and mean are milliseconds; a count's are not.
    let html = gateway_page("/metric?domain=gateway", StatusCode::OK).await;
    assert!(html.contains(">12.5 ms</td>"), "{html}");
    let html = page("/metric?domain=catgen", StatusCode::OK).await;
    assert!(!html.contains(" ms</td>"));
    let html = page("/t?domain=app-0&hour=current&type=URL", StatusCode::OK).await;
    assert!(html.contains(">TPS (hour avg)</a>"));
    assert!(html.contains("averaged over the hour"));
    let html = page("/e?domain=app-0&hour=current", StatusCode::OK).await;
    assert!(html.contains(">Per second (hour avg)</a>"));
}

#[tokio::test]
async fn the_state_page_shows_the_last_minute_rate_beside_the_hour_average() {
    // 40 minutes into the hour: minute 39 is the last to have ended; its 15 generated
    // trees (one every 4 s) are 0.25 a second.
    let html = page("/state", StatusCode::OK).await;
    assert!(html.contains("Trees / s (hour avg)"));
    let minute = &html[at(&html, "Trees / s (07:39)")..];
    assert!(
        minute[..at(minute, "</div>")].contains(">0.25</span>"),
        "{minute}"
    );
    // A past hour has no "last minute".
    let html = page(&format!("/state?hour={PAST_HOUR_LABEL}"), StatusCode::OK).await;
    assert!(html.contains("Trees / s (hour avg)") && !html.contains("Trees / s (06:"));
}

/// A type with more names than a board shows (a client putting IDs into names on many
/// machines): the table stops at 10 000 rows in the chosen order and says how many more
/// there are; a name left out still opens by its URL.
#[tokio::test]
async fn a_type_with_more_names_than_a_board_shows_is_cut_and_says_so() {
    use std::sync::Arc;

    use ocelot_protocol::{Header, Message, MessageTree, Transaction};
    use ocelot_web::{router, AppState, MemoryLookup, MemoryReports};
    const HOUR_START_MS: u64 = 498_703 * 3_600_000;
    let config = ocelot_analyzer::AnalyzerConfig {
        max_names_per_type: 20_000,
        ..ocelot_analyzer::AnalyzerConfig::default()
    };
    let mut reports = MemoryReports::with_config(HOUR_START_MS + 59 * 60_000, config);
    let names = 10_050u64;
    for n in 0..names {
        let mut root = Transaction::new("Service", format!("user-{n:05}"), HOUR_START_MS);
        root.duration_us = 1_000 + n;
        let header = Header {
            domain: "ids".into(),
            ip_address: "10.0.0.1".into(),
            message_id: format!("ids-0a000001-498703-{n}"),
            ..Header::default()
        };
        reports.add_tree(&MessageTree::new(header, Message::Transaction(root)));
    }
    let app = router(AppState::new(Arc::new(MemoryLookup::new())).with_reports(Arc::new(reports)));
    let html = text(
        get(
            app.clone(),
            "/t?domain=ids&hour=current&type=Service&sort=max",
        )
        .await,
    )
    .await;
    assert_eq!(html.matches("<td class=\"name\">").count(), 10_000);
    assert!(
        html.contains("10,000 names in this order; 50 more are left out"),
        "note"
    );
    // Slowest first: the 50 fastest are the ones left out.
    assert!(html.contains(">user-10049</a>"));
    assert!(!html.contains(">user-00049</a>"));
    let html = text(
        get(
            app,
            "/t?domain=ids&hour=current&type=Service&sort=max&name=user-00049",
        )
        .await,
    )
    .await;
    assert!(
        html.contains("<h2>user-00049"),
        "the detail of a name left out"
    );
    // Below the cap, no note.
    let small = text(get(report_app(), "/t?domain=catgen&hour=current&type=URL").await).await;
    assert!(!small.contains("left out"));
}

/// One tree of `domain` on machine 10.0.0.1 at minute 1 of the hour, rooted in `root`.
fn tree_of(domain: &str, seq: u64, root: ocelot_protocol::Message) -> ocelot_protocol::MessageTree {
    ocelot_protocol::MessageTree::new(
        ocelot_protocol::Header {
            domain: domain.into(),
            ip_address: "10.0.0.1".into(),
            message_id: format!("{domain}-0a000001-{HOUR}-{seq}"),
            ..ocelot_protocol::Header::default()
        },
        root,
    )
}

#[tokio::test]
async fn client_values_too_small_to_chart_still_give_metric_and_heartbeat_pages() {
    use ocelot_protocol::{Leaf, Message, Transaction};
    let ts = HOUR * 3_600_000 + 60_000;
    let mut reports = ocelot_web::MemoryReports::new(NOW_MS);
    // The smallest positive f64 a client can write: a chart's axis of it once panicked.
    let mut root = Transaction::new("URL", "/tiny", ts);
    root.children.push(Message::Metric(Leaf::new(
        "", "tiny.sum", "S", ts, "5e-324",
    )));
    reports.add_tree(&tree_of("tiny", 1, Message::Transaction(root)));
    let xml = r#"<status><extension id="x"><extensionDetail id="tiny" value="1e-323"/></extension></status>"#;
    let heartbeat = Leaf::new("Heartbeat", "10.0.0.1", "0", ts, xml);
    reports.add_tree(&tree_of("tiny", 2, Message::Heartbeat(heartbeat)));
    let app = app_of(reports);
    for uri in ["/metric?domain=tiny", "/h?domain=tiny"] {
        let response = get(app.clone(), uri).await;
        assert_eq!(response.status(), StatusCode::OK, "GET {uri}");
        assert!(
            text(response).await.contains("<svg class=\"chart\""),
            "{uri}"
        );
    }
}

#[tokio::test]
async fn a_domain_with_more_edges_than_a_page_holds_charts_the_busiest_and_cuts_its_table() {
    use ocelot_protocol::{Leaf, Message, Transaction};
    let ts = HOUR * 3_600_000 + 60_000;
    let mut reports = ocelot_web::MemoryReports::new(NOW_MS);
    // One client, 51 call types of 200 targets each: 10,200 edges. Each target of `K0` is
    // called twice, the rest once, so `K0`'s are the busiest.
    let mut root = Transaction::new("URL", "/fan-out", ts);
    for k in 0..51 {
        let mut call = Transaction::new(format!("K{k}"), "call", ts);
        for n in 0..200 {
            let event = || Leaf::new(format!("K{k}.app"), format!("t{k}-{n:03}"), "0", ts, "");
            call.children.push(Message::Event(event()));
            if k == 0 {
                call.children.push(Message::Event(event()));
            }
        }
        root.children.push(Message::Transaction(call));
    }
    reports.add_tree(&tree_of("fan", 1, Message::Transaction(root)));
    let response = get(app_of(reports), "/d?domain=fan").await;
    assert_eq!(response.status(), StatusCode::OK);
    let html = text(response).await;
    assert!(html.len() < 20_000_000, "{} bytes", html.len());
    assert_eq!(html.matches("<svg class=\"chart\"").count(), 100);
    assert!(html.contains("Charts of the 100 busiest of 10,200 edges."));
    assert!(html.contains(r#"aria-label="K0 t0-099 (calls)""#));
    assert!(!html.contains(r#"aria-label="K0 t0-100 (calls)""#));
    assert_eq!(html.matches("<td class=\"name\">").count(), 10_000);
    assert!(html.contains("The first 10,000 edges in this order; 200 more are left out."));
    assert!(html.contains("<h2>Depends on<span class=\"count\">10200</span>"));
}

#[tokio::test]
async fn a_problem_category_with_more_entries_than_a_board_shows_is_cut_and_says_so() {
    use ocelot_protocol::{Message, Transaction};
    let ts = HOUR * 3_600_000 + 60_000;
    let mut reports = ocelot_web::MemoryReports::new(NOW_MS);
    // One client, 51 failing types of 200 names each: 10,200 error entries.
    let mut root = Transaction::new("URL", "/all-fail", ts);
    for k in 0..51 {
        for n in 0..200 {
            let mut t = Transaction::new(format!("T{k}"), format!("n{n}"), ts);
            t.status = "ERROR".into();
            root.children.push(Message::Transaction(t));
        }
    }
    reports.add_tree(&tree_of("broken", 1, Message::Transaction(root)));
    let response = get(app_of(reports), "/p?domain=broken").await;
    assert_eq!(response.status(), StatusCode::OK);
    let html = text(response).await;
    let error = &html[at(&html, "id=\"error\"")..];
    let error = &error[..at(error, "</section>")];
    assert_eq!(error.matches("<td class=\"spark\">").count(), 10_000);
    assert!(error.contains("The first 10,000 entries in this order; 200 more are left out."));
    assert!(
        error.contains("10200 entries"),
        "the count is of every entry"
    );
}

/// Many machines each sending up to the per-machine type cap (100, CAT's): over "All"
/// machines the transaction and event boards' type tables stop at 10 000 rows in the chosen
/// order and say how many more there are, while the heading counts every type.
#[tokio::test]
async fn type_tables_over_many_machines_are_cut_and_say_so() {
    use ocelot_protocol::{Header, Leaf, Message, MessageTree, Transaction};
    let ts = HOUR * 3_600_000 + 60_000;
    let mut reports = ocelot_web::MemoryReports::new(NOW_MS);
    // 101 machines x 100 transaction types and 100 event types of their own: 10,100 each.
    for machine in 0..101u64 {
        let mut root = Transaction::new(format!("T{machine:03}-00"), "run", ts);
        for k in 0..100 {
            if k > 0 {
                let t = Transaction::new(format!("T{machine:03}-{k:02}"), "run", ts);
                root.children.push(Message::Transaction(t));
            }
            let event = Leaf::new(format!("E{machine:03}-{k:02}"), "seen", "0", ts, "");
            root.children.push(Message::Event(event));
        }
        let ip = [10, 0, machine / 256, machine % 256];
        let header = Header {
            domain: "wide".into(),
            ip_address: format!("{}.{}.{}.{}", ip[0], ip[1], ip[2], ip[3]),
            message_id: format!(
                "wide-{:02x}{:02x}{:02x}{:02x}-{HOUR}-1",
                ip[0], ip[1], ip[2], ip[3]
            ),
            ..Header::default()
        };
        reports.add_tree(&MessageTree::new(header, Message::Transaction(root)));
    }
    let app = app_of(reports);
    for (board, prefix) in [("/t", "T"), ("/e", "E")] {
        let uri = format!("{board}?domain=wide&hour=current");
        let response = get(app.clone(), &uri).await;
        assert_eq!(response.status(), StatusCode::OK, "GET {uri}");
        let html = text(response).await;
        assert_eq!(html.matches("<td class=\"name\">").count(), 10_000, "{uri}");
        assert!(
            html.contains("The first 10,000 types in this order; 100 more are left out."),
            "{uri}: note"
        );
        assert!(
            html.contains("<h2>Types<span class=\"count\">10100</span>"),
            "{uri}: the heading counts every type"
        );
        // Equal counts sort by type: the last machine's types are the ones left out.
        assert!(html.contains(&format!(">{prefix}099-99</a>")), "{uri}");
        assert!(!html.contains(&format!(">{prefix}100-00</a>")), "{uri}");
    }
    // Below the cap, no note.
    for uri in [
        "/t?domain=catgen&hour=current",
        "/e?domain=catgen&hour=current",
    ] {
        assert!(
            !text(get(report_app(), uri).await)
                .await
                .contains("left out"),
            "{uri}"
        );
    }
}

/// Metric names as clients write them: spaces, `#`, `%`, quotes, markup, non-ASCII, and two
/// names one of which is the other percent-encoded.
const AWKWARD_METRIC_NAMES: [&str; 8] = [
    "order total",
    "a b",
    "a%20b",
    "#hash",
    "50%",
    "say \"hi\"",
    "<b>x</b>",
    "延迟.毫秒",
];

/// `s` as a browser reads it from an attribute or text: maud's four escapes undone.
fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The fragment of a link `#s` as the URL parser keeps it: controls, space, `"`, `<`, `>`,
/// `` ` `` and non-ASCII percent-encoded, the rest (`%` and `#` too) as written (WHATWG URL,
/// the fragment percent-encode set).
fn url_fragment(s: &str) -> String {
    let mut out = String::new();
    for byte in s.bytes() {
        if byte <= b' ' || byte >= 0x7f || matches!(byte, b'"' | b'<' | b'>' | b'`') {
            out.push_str(&format!("%{byte:02X}"));
        } else {
            out.push(char::from(byte));
        }
    }
    out
}

/// `s` with every `%XX` turned back into its byte, read as UTF-8.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
            Some(byte) if bytes[i] == b'%' => {
                out.push(byte);
                i += 3;
            }
            _ => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Which of `ids` a link to `fragment` scrolls to: the first id equal to the fragment as
/// written or, failing that, to the fragment percent-decoded (HTML, "find a potential
/// indicated element").
fn indicated(fragment: &str, ids: &[String]) -> Option<usize> {
    let decoded = percent_decode(fragment);
    ids.iter()
        .position(|id| *id == fragment)
        .or_else(|| ids.iter().position(|id| *id == decoded))
}

/// Every name in the metric table links to its own chart, whatever the name holds: each
/// chart's id is a valid HTML id (no whitespace), and the link reaches it as a browser
/// follows it.
#[tokio::test]
async fn metric_links_reach_their_own_chart_whatever_the_name_holds() {
    use ocelot_protocol::{Leaf, Message, Transaction};
    let ts = HOUR * 3_600_000 + 60_000;
    let mut reports = ocelot_web::MemoryReports::new(NOW_MS);
    let mut root = Transaction::new("URL", "/report", ts);
    for name in AWKWARD_METRIC_NAMES {
        root.children
            .push(Message::Metric(Leaf::new("", name, "C", ts, "1")));
    }
    reports.add_tree(&tree_of("metrics", 1, Message::Transaction(root)));
    let response = get(app_of(reports), "/metric?domain=metrics").await;
    assert_eq!(response.status(), StatusCode::OK);
    let html = text(response).await;
    // Rows: the link's target and the name it shows.
    let rows: Vec<(String, String)> = html
        .split("<td class=\"name\"><a href=\"")
        .skip(1)
        .map(|row| {
            let (href, rest) = row.split_once("\">").unwrap();
            let name = &rest[..at(rest, "</a>")];
            (unescape(href), unescape(name))
        })
        .collect();
    // Charts: their id and markup.
    let charts: Vec<(String, &str)> = html
        .split("<figure ")
        .skip(1)
        .map(|chart| {
            let id = &chart[at(chart, "id=\"") + 4..];
            let id = &id[..at(id, "\"")];
            (unescape(id), &chart[..at(chart, "</figure>")])
        })
        .collect();
    assert_eq!(rows.len(), AWKWARD_METRIC_NAMES.len());
    assert_eq!(charts.len(), AWKWARD_METRIC_NAMES.len());
    let ids: Vec<String> = charts.iter().map(|(id, _)| id.clone()).collect();
    for id in &ids {
        assert!(
            !id.is_empty() && !id.contains(|c: char| c.is_ascii_whitespace()),
            "{id:?} is not a valid id"
        );
    }
    for (href, name) in &rows {
        let fragment = href.strip_prefix('#').expect("an in-page link");
        let target = indicated(&url_fragment(fragment), &ids)
            .unwrap_or_else(|| panic!("the link of {name:?} ({href:?}) reaches no chart"));
        let (id, chart) = &charts[target];
        let title = maud::html! { (name) ": count per minute" }.into_string();
        assert!(
            chart.contains(&title),
            "the link of {name:?} reaches the chart {id:?}"
        );
    }
}

#[tokio::test]
async fn picking_a_type_or_name_keeps_the_sort_and_sorting_keeps_the_name() {
    let hour = format!("domain=app-0&amp;hour={HOUR_LABEL}");
    for (board, api) in [("/t", "/api/transaction"), ("/e", "/api/event")] {
        let view = get_json(
            report_app(),
            &format!("{api}?domain=app-0&hour=current"),
            200,
        )
        .await;
        let type_ = view["types"][0]["type"].as_str().unwrap();
        let name = view["types"][0]["names"][0]["name"].as_str().unwrap();
        let (type_q, name_q) = (encode(type_), encode(name));
        let at_type = format!("{hour}&amp;type={type_q}");
        // The types sorted by failures: the type picked lists its names the same way.
        let types = page(
            &format!("{board}?domain=app-0&hour=current&sort=fail"),
            StatusCode::OK,
        )
        .await;
        assert!(
            types.contains(&format!(r#"href="{board}?{at_type}&amp;sort=fail""#)),
            "{board}: the type links keep the sort"
        );
        let names = page(
            &format!("{board}?domain=app-0&hour=current&type={type_q}&sort=fail"),
            StatusCode::OK,
        )
        .await;
        assert!(
            names.contains(&format!(
                r#"href="{board}?{at_type}&amp;sort=fail&amp;name={name_q}""#
            )) || names.contains(&format!(
                r#"href="{board}?{at_type}&amp;name={name_q}&amp;sort=fail""#
            )),
            "{board}: the name links keep the sort"
        );
        // A name picked: its table's sort links keep it, and the crumbs keep the sort.
        let detail = page(
            &format!("{board}?domain=app-0&hour=current&type={type_q}&name={name_q}&sort=fail"),
            StatusCode::OK,
        )
        .await;
        assert!(
            detail.contains(&format!(
                r#"href="{board}?{at_type}&amp;name={name_q}&amp;sort=count""#
            )),
            "{board}: sorting keeps the name"
        );
        assert!(
            detail.contains(&format!(
                r#"href="{board}?{hour}&amp;sort=fail">All types<"#
            )),
            "{board}: the crumbs keep the sort"
        );
        // Without a sort asked for, the links stay as they were.
        let plain = page(
            &format!("{board}?domain=app-0&hour=current&type={type_q}"),
            StatusCode::OK,
        )
        .await;
        assert!(!plain.contains("sort=&amp;") && !plain.contains("&amp;sort=\""));
        assert!(plain.contains(&format!(r#"href="{board}?{hour}">All types<"#)));
    }
}

#[tokio::test]
async fn home_cards_open_every_board_at_the_hour_shown() {
    let past = page(&format!("/?hour={PAST_HOUR_LABEL}"), StatusCode::OK).await;
    // A card for each board of the nav bar but the alerts, which are of no hour.
    for board in ["/t", "/e", "/p", "/h", "/metric", "/d", "/state"] {
        assert!(
            past.contains(&format!(
                r#"<a class="card" href="{board}?hour={PAST_HOUR_LABEL}">"#
            )),
            "{board}: {past}"
        );
    }
    // The current hour's cards follow the clock.
    let current = page("/", StatusCode::OK).await;
    assert!(current.contains(r#"<a class="card" href="/t">"#));
}

#[tokio::test]
async fn a_duration_metric_has_no_mean_in_minutes_without_a_sample() {
    let html = gateway_page("/metric?domain=gateway&hour=current", StatusCode::OK).await;
    assert!(
        html.contains("order.render: mean per minute<tspan class=\"chart-unit\"> (ms)</tspan>"),
        "{html}"
    );
    assert!(html.contains("<title>:00: 12.5 ms</title>"), "{html}");
    assert!(
        !html.contains("<title>:01: 0 ms</title>"),
        "no bar says a minute without samples took 0 ms"
    );
}

/// CAT's Java client logs a `RemoteCall` event with an empty name on every remote call, and
/// a tree may carry an empty transaction type: their rows show "(empty)", and their links
/// (`name=`, `type=`) open them instead of leading back to the list.
#[tokio::test]
async fn messages_logged_with_an_empty_name_or_type_have_rows_that_open() {
    use ocelot_protocol::{Header, Leaf, Message, MessageTree, Transaction};
    let mut reports = ocelot_web::MemoryReports::new(NOW_MS);
    let mut root = Transaction::new("URL", "/pay", NOW_MS - 60_000);
    root.duration_us = 3_000;
    root.children.push(Message::Event(Leaf::new(
        "RemoteCall",
        "",
        "0",
        NOW_MS - 60_000,
        "shop-0a000001-498703-2",
    )));
    let mut untyped = Transaction::new("", "job", NOW_MS - 60_000);
    untyped.duration_us = 1_000;
    root.children.push(Message::Transaction(untyped));
    let header = Header {
        domain: "shop".into(),
        ip_address: "10.0.0.1".into(),
        message_id: "shop-0a000001-498703-1".into(),
        ..Header::default()
    };
    reports.add_tree(&MessageTree::new(header, Message::Transaction(root)));

    let types = ok_page(app_of(reports.clone()), "/e?domain=shop&hour=current").await;
    assert!(types.contains(">RemoteCall</a>"), "{types}");
    let names = ok_page(
        app_of(reports.clone()),
        "/e?domain=shop&hour=current&type=RemoteCall",
    )
    .await;
    assert!(names.contains("(empty)</em></a>"), "{names}");
    assert!(
        names.contains("type=RemoteCall&amp;name=\""),
        "the empty name's link keeps name=: {names}"
    );
    let name = ok_page(
        app_of(reports.clone()),
        "/e?domain=shop&hour=current&type=RemoteCall&name=",
    )
    .await;
    assert!(
        name.contains(r#"<span class="current"><em class="empty""#),
        "the name's own section: {name}"
    );

    let types = ok_page(app_of(reports.clone()), "/t?domain=shop&hour=current").await;
    assert!(
        types.contains("&amp;type=\""),
        "the empty type's link: {types}"
    );
    let untyped = ok_page(app_of(reports), "/t?domain=shop&hour=current&type=").await;
    assert!(
        untyped.contains(">job</a>"),
        "the empty type's names: {untyped}"
    );
}
