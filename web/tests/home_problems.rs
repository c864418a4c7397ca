//! Home shows each domain's errors and long executions apart: one "problems" figure made a
//! domain with no error and 500 slow requests look like one with 500 failures.

mod common;

use std::sync::Arc;

use ocelot_protocol::{Header, Message, MessageTree, Transaction};
use ocelot_web::{router, AppState, MemoryReports};

const HOUR_START_MS: u64 = common::HOUR * 3_600_000;

/// A `URL` request of `domain`, the `n`th of the hour, taking `duration_ms`, failed or not.
fn request(domain: &str, n: u64, duration_ms: u64, failed: bool) -> MessageTree {
    let mut root = Transaction::new("URL", "/search", HOUR_START_MS + n * 1_000);
    root.duration_us = duration_ms * 1_000;
    if failed {
        root.status = "ERROR".to_owned();
    }
    MessageTree::new(
        Header {
            domain: domain.to_owned(),
            ip_address: "10.0.0.1".to_owned(),
            message_id: format!("{domain}-0a000001-{}-{n}", common::HOUR),
            ..Header::default()
        },
        Message::Transaction(root),
    )
}

/// The Errors and Long executions cells of `domain`'s row, as shown.
fn problem_cells<'a>(html: &'a str, domain: &str) -> (&'a str, &'a str) {
    let row = html
        .split("<tr")
        .find(|row| row.contains(&format!(">{domain}</a>")))
        .unwrap_or_else(|| panic!("no row of {domain}: {html}"));
    let cell = |class: &str| {
        let start = row
            .find(&format!("<td class=\"num {class}\">"))
            .unwrap_or_else(|| panic!("no {class} cell: {row}"));
        let cell = &row[start..];
        &cell[..cell.find("</td>").unwrap() + "</td>".len()]
    };
    (cell("errors"), cell("long"))
}

#[tokio::test]
async fn a_slow_domain_without_errors_is_not_shown_as_failing() {
    let mut reports = MemoryReports::new(common::NOW_MS);
    // `slow`: 500 requests over the 1 s long-url threshold, none failed.
    for n in 0..500 {
        reports.add_tree(&request("slow", n, 1_500, false));
    }
    // `broken`: 3 fast requests, all failed.
    for n in 0..3 {
        reports.add_tree(&request("broken", n, 5, true));
    }
    let app = router(AppState::new(Arc::new(common::lookup())).with_reports(Arc::new(reports)));
    let response = common::get(app, "/").await;
    assert_eq!(response.status(), 200);
    let html = common::text(response).await;
    let problems = |domain: &str| format!("/p?domain={domain}&amp;hour={}", common::HOUR_LABEL);

    let (errors, long) = problem_cells(&html, "slow");
    assert_eq!(
        errors,
        format!(
            "<td class=\"num errors\"><a href=\"{}#error\">0</a></td>",
            problems("slow")
        )
    );
    assert_eq!(
        long,
        format!(
            "<td class=\"num long\"><a href=\"{}\">500</a></td>",
            problems("slow")
        )
    );
    let (errors, long) = problem_cells(&html, "broken");
    assert!(errors.contains(">3</a>"), "{errors}");
    assert!(long.contains(">0</a>"), "{long}");
    // The failing domain comes first, the slow one is not marked failing.
    assert!(
        html.find(">broken</a>").unwrap() < html.find(">slow</a>").unwrap(),
        "{html}"
    );
    let slow_name = html
        .split("<td class=\"name\">")
        .find(|cell| cell.contains(">slow</a>"))
        .unwrap();
    let slow_name = &slow_name[..slow_name.find("</td>").unwrap()];
    assert!(!slow_name.contains("failing"), "{slow_name}");
}
