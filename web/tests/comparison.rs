//! The comparison of an hour with the same hour a day and a week earlier (`compare=on`) on
//! the transaction and event boards: over reports of the hour, the same hour the day before
//! and the week before, with different counts and durations in the same minute.

mod common;

use axum::http::StatusCode;
use axum::Router;
use common::{app_of, html_page, ok_page};
use ocelot_protocol::{Header, Leaf, Message, MessageTree, Transaction};
use ocelot_web::MemoryReports;

/// 2026-11-22 07:00 UTC, and its label.
const HOUR: u64 = 498_703;
const HOUR_LABEL: &str = "2026112207";
/// Now: 40 minutes into [`HOUR`].
const NOW_MS: u64 = HOUR * 3_600_000 + 40 * 60_000;

/// `shop`'s traffic: `(hours before HOUR, machine, name, minute, transactions, duration µs)`.
/// Each transaction holds one `Cache get` event, so events count as transactions do.
const TRAFFIC: [(u64, &str, &str, u64, u64, u64); 6] = [
    (0, "10.0.0.1", "/pay", 5, 3, 10_000),
    (0, "10.0.0.1", "/other", 5, 1, 1_000),
    (24, "10.0.0.1", "/pay", 5, 7, 40_000),
    (24, "10.0.0.2", "/pay", 6, 2, 40_000),
    (7 * 24, "10.0.0.2", "/pay", 5, 11, 250_000),
    // Two days before: never drawn.
    (48, "10.0.0.1", "/pay", 5, 5, 90_000),
];

fn tree(ip: &str, name: &str, seq: u64, timestamp_ms: u64, duration_us: u64) -> MessageTree {
    let mut root = Transaction::new("URL", name, timestamp_ms);
    root.duration_us = duration_us;
    root.children.push(Message::Event(Leaf::new(
        "Cache",
        name,
        "0",
        timestamp_ms,
        "",
    )));
    let hour = timestamp_ms / 3_600_000;
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

fn app() -> Router {
    let mut reports = MemoryReports::new(NOW_MS);
    let mut seq = 0;
    for (hours_before, ip, name, minute, n, duration_us) in TRAFFIC {
        let minute_ms = (HOUR - hours_before) * 3_600_000 + minute * 60_000;
        for i in 0..n {
            seq += 1;
            reports.add_tree(&tree(ip, name, seq, minute_ms + i * 1_000, duration_us));
        }
    }
    app_of(reports)
}

/// The SVG drawings of the chart titled `title` on `page`: wide, then narrow.
fn drawings(page: &str, title: &str) -> [String; 2] {
    let svgs: Vec<String> = page
        .split("<svg ")
        .skip(1)
        .filter(|svg| svg.contains(&format!(r#"aria-label="{title} ("#)))
        .map(|svg| format!("<svg {}", &svg[..svg.find("</svg>").unwrap()]))
        .collect();
    let [wide, narrow] = <[String; 2]>::try_from(svgs).expect("two drawings");
    assert!(wide.starts_with(r#"<svg class="chart wide""#), "{wide}");
    assert!(
        narrow.starts_with(r#"<svg class="chart narrow""#),
        "{narrow}"
    );
    [wide, narrow]
}

/// The tooltips of a drawing's points and bars.
fn tooltips(svg: &str) -> Vec<&str> {
    svg.split("<title>")
        .skip(1)
        .map(|rest| &rest[..rest.find("</title>").unwrap()])
        .collect()
}

fn uri(query: &str) -> String {
    format!("/t?domain=shop&hour={HOUR_LABEL}&{query}")
}

#[tokio::test]
async fn a_names_charts_draw_yesterday_and_a_week_ago_in_both_drawings() {
    let page = ok_page(app(), &uri("type=URL&name=/pay&compare=on")).await;
    for svg in drawings(&page, "Transactions per minute") {
        let tips = tooltips(&svg);
        assert!(tips.contains(&":05: 3"), "the hour's own bar: {tips:?}");
        assert!(tips.contains(&"yesterday at :05: 7"), "{tips:?}");
        assert!(tips.contains(&"yesterday at :06: 2"), "{tips:?}");
        assert!(tips.contains(&"a week ago at :05: 11"), "{tips:?}");
        assert!(tips.contains(&"a week ago at :06: 0"), "{tips:?}");
        // Dashed, in the legend, and drawn once each.
        assert_eq!(svg.matches(r#"class="legend-sample""#).count(), 2, "{svg}");
        assert!(svg.contains(">yesterday</text>") && svg.contains(">a week ago</text>"));
        assert_eq!(svg.matches("stroke-dasharray").count(), 4, "{svg}");
    }
    for svg in drawings(&page, "Duration per minute") {
        let tips = tooltips(&svg);
        assert!(tips.contains(&"avg at :05: 10 ms"), "{tips:?}");
        assert!(tips.contains(&"avg yesterday at :05: 40 ms"), "{tips:?}");
        assert!(tips.contains(&"avg a week ago at :05: 250 ms"), "{tips:?}");
        assert!(
            !tips
                .iter()
                .any(|tip| tip.starts_with("avg yesterday at :07")),
            "a minute without transactions is a gap: {tips:?}"
        );
        // The hour's own series stay solid and in front: drawn last.
        let own = svg.find(r#"class="series" "#).expect("the hour's own line");
        let earlier = svg.rfind(r#"class="series earlier""#).unwrap();
        assert!(earlier < own, "{svg}");
        assert!(svg.contains(">avg yesterday</text>"), "{svg}");
    }
    // Failures are not compared; two days before is never drawn.
    let [failures, _] = drawings(&page, "Failures per minute");
    assert!(!failures.contains("yesterday"));
    assert!(!page.contains(": 5</title>") && !page.contains(" 90 ms"));
}

#[tokio::test]
async fn a_types_charts_add_up_its_names_in_the_earlier_hours() {
    let page = ok_page(app(), &uri("type=URL&compare=on")).await;
    let [wide, narrow] = drawings(&page, "Transactions per minute");
    for svg in [&wide, &narrow] {
        let tips = tooltips(svg);
        assert!(tips.contains(&":05: 4"), "{tips:?}");
        assert!(tips.contains(&"yesterday at :05: 7"), "{tips:?}");
        assert!(tips.contains(&"a week ago at :05: 11"), "{tips:?}");
    }
    let [durations, _] = drawings(&page, "Duration per minute");
    assert!(tooltips(&durations).contains(&"avg yesterday at :05: 40 ms"));
}

#[tokio::test]
async fn earlier_hours_without_the_selection_draw_nothing() {
    // `/other` was not called before: nothing to draw, and one quiet word that says so.
    let page = ok_page(app(), &uri("type=URL&name=/other&compare=on")).await;
    let [wide, narrow] = drawings(&page, "Transactions per minute");
    for svg in [wide, narrow] {
        assert!(!svg.contains("yesterday") && !svg.contains("a week ago"));
        assert!(!svg.contains("legend-sample") && !svg.contains("stroke-dasharray"));
        assert!(svg.contains(r#"viewBox="0 0 "#));
    }
    assert!(page.contains("no data the same hour yesterday or a week ago"));
    // Machine 10.0.0.1 had `/pay` yesterday but not a week ago: yesterday only, no word.
    let page = ok_page(app(), &uri("ip=10.0.0.1&type=URL&name=/pay&compare=on")).await;
    let [wide, _] = drawings(&page, "Transactions per minute");
    let tips = tooltips(&wide);
    assert!(tips.contains(&"yesterday at :05: 7"), "{tips:?}");
    assert!(!tips
        .iter()
        .any(|tip| tip.starts_with("yesterday at :06: 2")));
    assert!(!wide.contains("a week ago"));
    assert!(!page.contains("no data the same hour"));
    // A week before, the domain has no reports a day or a week earlier.
    let page = ok_page(app(), "/t?domain=shop&hour=2026111507&type=URL&compare=on").await;
    assert!(page.contains(">:05: 11<"), "the week before's own bars");
    assert!(!page.contains("legend-sample"));
    assert!(page.contains("no data the same hour yesterday or a week ago"));
}

#[tokio::test]
async fn the_comparison_is_off_by_default_and_a_link_turns_it_on_keeping_the_selection() {
    let page = ok_page(app(), &uri("ip=10.0.0.1&type=URL&name=/pay&sort=avg")).await;
    let [wide, narrow] = drawings(&page, "Transactions per minute");
    assert!(!wide.contains("yesterday") && !narrow.contains("yesterday"));
    assert!(wide.contains(r#"viewBox="0 0 640 220""#));
    let on = format!(
        "/t?domain=shop&amp;hour={HOUR_LABEL}&amp;ip=10.0.0.1&amp;type=URL&amp;name=%2Fpay&amp;sort=avg&amp;compare=on"
    );
    assert!(page.contains(&format!(r#"href="{on}""#)), "{page}");
    assert!(page.contains("Compare with yesterday and a week ago"));

    let page = ok_page(app(), &on.replace("&amp;", "&")).await;
    let off = format!(
        "/t?domain=shop&amp;hour={HOUR_LABEL}&amp;ip=10.0.0.1&amp;type=URL&amp;name=%2Fpay&amp;sort=avg\""
    );
    assert!(page.contains(&format!(r#"href="{off}>Hide"#)), "{page}");
    // The comparison stays on from hour to hour, in the selector form and from name to name.
    assert!(page.contains(
        r#"hour=2026112206&amp;ip=10.0.0.1&amp;type=URL&amp;name=%2Fpay&amp;sort=avg&amp;compare=on" rel="prev""#
    ));
    assert!(page.contains(r#"<input type="hidden" name="compare" value="on">"#));
    assert!(
        page.contains("sort=avg&amp;compare=on&amp;name=%2Fother"),
        "{page}"
    );
}

#[tokio::test]
async fn the_day_view_and_the_types_table_have_no_comparison_and_bad_values_are_a_400() {
    let page = ok_page(app(), "/t?domain=shop&day=20261122&type=URL&compare=on").await;
    assert!(!page.contains("yesterday") && !page.contains("legend-sample"));
    // Its "Hour view" link turns it back on.
    assert!(page.contains("type=URL&amp;compare=on"), "{page}");
    let page = ok_page(app(), &uri("compare=on")).await;
    assert!(!page.contains("legend-sample") && !page.contains("Hide yesterday"));
    // Its types' links keep it.
    assert!(page.contains("type=URL&amp;compare=on\""), "{page}");
    let page = ok_page(app(), &uri("type=URL&name=/pay&compare=off")).await;
    assert!(page.contains("Compare with yesterday and a week ago"));
    for path in ["/t", "/e"] {
        let bad = format!("{path}?domain=shop&hour={HOUR_LABEL}&type=URL&compare=yes");
        let page = html_page(app(), &bad, StatusCode::BAD_REQUEST).await;
        assert!(page.contains("compare") && page.contains("yes"), "{page}");
    }
}

#[tokio::test]
async fn the_event_board_compares_its_counts() {
    let uri = format!("/e?domain=shop&hour={HOUR_LABEL}&type=Cache&name=/pay&compare=on");
    let page = ok_page(app(), &uri).await;
    for svg in drawings(&page, "Events per minute") {
        let tips = tooltips(&svg);
        assert!(tips.contains(&":05: 3"), "{tips:?}");
        assert!(tips.contains(&"yesterday at :05: 7"), "{tips:?}");
        assert!(tips.contains(&"a week ago at :05: 11"), "{tips:?}");
        assert_eq!(svg.matches(r#"class="legend-sample""#).count(), 2);
    }
    let [failures, _] = drawings(&page, "Failed events per minute");
    assert!(!failures.contains("yesterday"));
    assert!(page.contains("Hide yesterday and a week ago"));
    // A type adds up its names; off by default, with the link to turn it on.
    let uri = format!("/e?domain=shop&hour={HOUR_LABEL}&type=Cache&compare=on");
    let [wide, _] = drawings(&ok_page(app(), &uri).await, "Events per minute");
    assert!(tooltips(&wide).contains(&":05: 4"));
    assert!(tooltips(&wide).contains(&"yesterday at :05: 7"));
    let page = ok_page(app(), &uri.replace("&compare=on", "&sort=fail")).await;
    assert!(!page.contains("legend-sample"));
    assert!(
        page.contains("type=Cache&amp;sort=fail&amp;compare=on"),
        "{page}"
    );
    let uri = format!("/e?domain=shop&hour={HOUR_LABEL}&type=Cache&name=/other&compare=on");
    let page = ok_page(app(), &uri).await;
    assert!(!page.contains("legend-sample"));
    assert!(page.contains("no data the same hour yesterday or a week ago"));
}
