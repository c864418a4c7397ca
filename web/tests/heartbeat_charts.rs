//! The heartbeat page charts what a machine's series say: totals as their increase per
//! minute, system series first, all-zero series in a line instead of charts.

mod common;

use std::sync::Arc;

use ocelot_protocol::{Header, Leaf, Message, MessageTree};
use ocelot_web::{router, AppState, MemoryReports};

const HOUR: u64 = common::HOUR;
const HOUR_START_MS: u64 = HOUR * 3_600_000;

/// The heartbeat our SDK sends (client-sdk/src/heartbeat.rs) at `minute`: CPU time, bytes
/// and trees sent only grow; memory and threads go up and down; drops stay 0.
fn sdk_heartbeat(minute: u64) -> MessageTree {
    let details = [
        ("system.process", "cpu.time.ms", 5_000 + minute * 6_000),
        (
            "system.process",
            "memory.rss.bytes",
            40_000_000 + minute % 3 * 1_000_000,
        ),
        ("system.process", "threads", 30 + minute % 2),
        ("system.process", "fds.open", 37),
        ("ocelot.client", "trees.produced", minute * 200),
        ("ocelot.client", "trees.sent", minute * 200),
        ("ocelot.client", "trees.dropped.queue_full", 0),
        ("ocelot.client", "trees.dropped.send_failed", 0),
        ("ocelot.client", "queue.depth", 0),
        ("ocelot.client", "bytes.sent", minute * 70_000),
        ("ocelot.client", "send.failures", 0),
    ];
    let mut xml = String::from("<status>");
    for extension in ["system.process", "ocelot.client"] {
        xml.push_str(&format!("<extension id=\"{extension}\">"));
        for (_, id, value) in details.iter().filter(|d| d.0 == extension) {
            xml.push_str(&format!("<extensionDetail id=\"{id}\" value=\"{value}\"/>"));
        }
        xml.push_str("</extension>");
    }
    xml.push_str("</status>");
    let ts = HOUR_START_MS + minute * 60_000 + 5_000;
    MessageTree::new(
        Header {
            domain: "sdk-app".to_owned(),
            hostname: "sdk-1".to_owned(),
            ip_address: "10.0.9.1".to_owned(),
            ..Header::default()
        },
        Message::Heartbeat(Leaf::new("Heartbeat", "10.0.9.1", "0", ts, xml)),
    )
}

async fn heartbeat_page() -> String {
    let mut reports = MemoryReports::new(common::NOW_MS);
    for minute in 0..40 {
        reports.add_tree(&sdk_heartbeat(minute));
    }
    let app = router(AppState::new(Arc::new(common::lookup())).with_reports(Arc::new(reports)));
    let response = common::get(app, "/h?domain=sdk-app").await;
    assert_eq!(response.status(), 200);
    common::text(response).await
}

/// The chart titles, in page order.
fn titles(html: &str) -> Vec<&str> {
    html.split("<svg class=\"chart\"")
        .skip(1)
        .map(|svg| {
            let label = svg.split("aria-label=\"").nth(1).unwrap();
            let label = &label[..label.find('"').unwrap()];
            // The label ends with the unit the drawn title is followed by.
            match svg.split("<tspan class=\"chart-unit\">").nth(1) {
                Some(unit) => label
                    .strip_suffix(&unit[..unit.find('<').unwrap()])
                    .unwrap_or(label),
                None => label,
            }
        })
        .collect()
}

#[tokio::test]
async fn sdk_heartbeats_chart_system_series_first_and_totals_per_minute() {
    let html = heartbeat_page().await;
    assert_eq!(
        titles(&html),
        [
            "system.process.cpu.time.ms as CPU",
            "system.process.memory.rss.bytes",
            "system.process.threads",
            "system.process.fds.open",
            "ocelot.client.bytes.sent /min",
            "ocelot.client.trees.produced /min",
            "ocelot.client.trees.sent /min",
        ]
    );
    // 6 000 ms of CPU a minute is 10 % of a core; 70 000 bytes a minute is 68.4 KiB.
    assert!(html.contains("as CPU at :07: 10%</title>"), "{html}");
    assert!(html.contains("bytes.sent /min at :07: 68.4 KiB</title>"));
}

/// The unit a chart's title is followed by.
fn unit_of<'a>(html: &'a str, title: &str) -> &'a str {
    let svg = html
        .split("<svg class=\"chart\"")
        .find(|svg| svg.contains(&format!("aria-label=\"{title} (")))
        .unwrap_or_else(|| panic!("a chart of {title}"));
    let unit = svg
        .split("<tspan class=\"chart-unit\">")
        .nth(1)
        .unwrap_or_else(|| panic!("no unit on {title}: {svg}"));
    &unit[..unit.find('<').unwrap()]
}

#[tokio::test]
async fn memory_is_charted_in_mib_and_other_charts_say_their_unit() {
    let html = heartbeat_page().await;
    // 41 000 000 bytes of RSS at minute 7 (7 % 3 = 1): 39.1 MiB.
    assert_eq!(unit_of(&html, "system.process.memory.rss.bytes"), " (MiB)");
    assert!(
        html.contains("system.process.memory.rss.bytes at :07: 39.1 MiB</title>"),
        "{html}"
    );
    assert!(html.contains(">40</text>"), "a round tick of MiB");
    assert_eq!(unit_of(&html, "system.process.cpu.time.ms as CPU"), " (%)");
    assert_eq!(unit_of(&html, "ocelot.client.bytes.sent /min"), " (KiB)");
}

#[tokio::test]
async fn series_that_stay_0_all_hour_are_named_instead_of_charted() {
    let html = heartbeat_page().await;
    let note = html
        .split("zero-series")
        .nth(1)
        .expect("a note on zero series");
    let note = &note[..note.find("</p>").unwrap()];
    for name in [
        "ocelot.client.queue.depth",
        "ocelot.client.send.failures",
        "ocelot.client.trees.dropped.queue_full",
        "ocelot.client.trees.dropped.send_failed",
    ] {
        assert!(
            note.contains(&format!("<code>{name}</code>")),
            "{name} in {note}"
        );
    }
    assert!(!titles(&html).iter().any(|t| t.contains("dropped")));
}

#[tokio::test]
async fn heartbeat_charts_are_drawn_at_grid_size() {
    let html = heartbeat_page().await;
    assert!(html.contains("<div class=\"charts grid\">"));
    assert_eq!(
        html.matches("viewBox=\"0 0 380 180\"").count(),
        titles(&html).len()
    );
}

/// A machine the domain does not have answers 404 with a way back, as the other boards do;
/// it used to be a 200 "No heartbeats" page, as if the machine were known and quiet.
#[tokio::test]
async fn an_unknown_machine_is_a_404_with_a_link_to_the_domains_machines() {
    let mut reports = MemoryReports::new(common::NOW_MS);
    reports.add_tree(&sdk_heartbeat(1));
    let app = router(AppState::new(Arc::new(common::lookup())).with_reports(Arc::new(reports)));
    let response = common::get(app, "/h?domain=sdk-app&ip=10.9.9.9").await;
    assert_eq!(response.status(), 404);
    let html = common::text(response).await;
    assert!(html.contains("No machine 10.9.9.9"), "{html}");
    assert!(
        html.contains(r#"href="/h?domain=sdk-app&amp;hour=2026112207">Show the first machine<"#),
        "{html}"
    );
}
