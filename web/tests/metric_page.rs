//! The Metric page says how many of a domain's metric records could not be read (the
//! API's `malformed`), rather than that the domain logged none, and answers a machine with
//! the 400 the API gives: a metric report is of the whole domain.

mod common;

use axum::http::StatusCode;
use common::*;
use ocelot_protocol::{Header, Leaf, Message, MessageTree, Transaction};
use ocelot_web::MemoryReports;

/// What the page and the API say of unread records, after the count.
const UNREAD: &str = "could not be read (malformed or of a kind not supported: the kinds \
                      read are C (count), T (duration), S (sum) and S,C (sum and count))";

/// A tree of `domain` logging one metric record per `(name, status, data)`.
fn tree(domain: &str, seq: u64, records: &[(&str, &str, &str)]) -> MessageTree {
    let ts = HOUR * 3_600_000 + seq * 1_000;
    let mut root = Transaction::new("URL", "/pay", ts);
    for (name, status, data) in records {
        (root.children).push(Message::Metric(Leaf::new("", *name, *status, ts, *data)));
    }
    MessageTree::new(
        Header {
            domain: domain.to_owned(),
            ip_address: "10.0.0.1".to_owned(),
            message_id: format!("{domain}-0a000001-{HOUR}-{seq}"),
            ..Header::default()
        },
        Message::Transaction(root),
    )
}

/// `bad-app`, whose two records are of a kind we do not read and malformed; `mixed-app`,
/// with one good record and one of an unknown kind; `good-app`, with one good record.
fn app() -> axum::Router {
    let mut reports = MemoryReports::new(NOW_MS);
    reports.add_tree(&tree(
        "bad-app",
        1,
        &[("orders", "X", "1"), ("amount", "S", "lots")],
    ));
    reports.add_tree(&tree(
        "mixed-app",
        2,
        &[("orders", "C", "2"), ("gauge", "G", "7")],
    ));
    reports.add_tree(&tree("good-app", 3, &[("orders", "C", "1")]));
    app_of(reports)
}

#[tokio::test]
async fn a_domain_whose_metric_records_were_all_unreadable_says_so_not_that_it_logged_none() {
    let api = get_json(app(), "/api/metric?domain=bad-app&hour=current", 200).await;
    assert_eq!(api["malformed"], 2, "{api}");
    let html = ok_page(app(), "/metric?domain=bad-app&hour=current").await;
    assert!(!html.contains("logged no business metrics"), "{html}");
    assert!(
        html.contains(&format!("2 metric records {UNREAD}.")),
        "{html}"
    );
    // The domains with readable ones are still a click away.
    assert!(
        html.contains(&format!(
            r#"<a href="/metric?domain=good-app&amp;hour={HOUR_LABEL}">good-app</a>"#
        )),
        "{html}"
    );
}

#[tokio::test]
async fn unreadable_records_beside_readable_ones_are_counted_in_a_note() {
    let html = ok_page(app(), "/metric?domain=mixed-app&hour=current").await;
    let (_, note) = html
        .split_once(r#"<div class="folded-note unread-note" role="note">"#)
        .expect("a note of the unread records");
    assert!(
        note.contains(&format!("1 metric record {UNREAD}")),
        "{note}"
    );
    assert!(html.contains(">orders</a>"), "the readable one is shown");
    // None unread, no note.
    let html = ok_page(app(), "/metric?domain=good-app&hour=current").await;
    assert!(!html.contains("unread-note"), "{html}");
}

#[tokio::test]
async fn a_machine_is_a_400_on_the_metric_page_as_in_the_api() {
    let uri = "/metric?domain=good-app&hour=current&ip=1.2.3.4";
    let api = get_json(app(), &uri.replace("/metric", "/api/metric"), 400).await;
    assert!(
        api.to_string()
            .contains("a metric report is of the whole domain"),
        "{api}"
    );
    let html = html_page(app(), uri, StatusCode::BAD_REQUEST).await;
    assert!(
        html.contains("a metric report is of the whole domain, not per machine"),
        "{html}"
    );
    assert!(!html.contains("machine <code>1.2.3.4"), "{html}");
    assert!(!html.contains("ip=1.2.3.4"), "{html}");
    // "All" machines is what the page shows.
    ok_page(app(), "/metric?domain=good-app&hour=current&ip=All").await;
}

/// In the hour under way a chart ends at the minute in progress (minute 40 here): the
/// minutes still to come had bars of 0, which read as "nothing logged then".
#[tokio::test]
async fn a_chart_of_the_current_hour_has_no_bars_for_minutes_to_come() {
    let html = ok_page(app(), "/metric?domain=good-app&hour=current").await;
    let (_, charts) = html.split_once("metric-charts").expect("the charts' panel");
    let bars = charts.matches("<rect class=\"chart-bar").count();
    assert_eq!(bars, 41, "minutes 0 to 40");
    assert!(charts.contains("(minute in progress)"), "{charts}");
}
