//! The home page marks each domain whose transactions were counted under `OTHERS` because
//! a cap was reached (its overview's `folded`), with the count in a tooltip and a link to
//! its Transaction board; a domain that folded nothing has no mark.

mod common;

use std::sync::Arc;

use ocelot_analyzer::AnalyzerConfig;
use ocelot_protocol::{Header, Message, MessageTree, Transaction};
use ocelot_web::{router, AppState, MemoryReports};

const HOUR_START_MS: u64 = common::HOUR * 3_600_000;
/// Names a type keeps in these tests: small, so that five distinct names fold two.
const NAMES_KEPT: usize = 3;

fn config() -> AnalyzerConfig {
    AnalyzerConfig {
        max_names_per_type: NAMES_KEPT,
        ..AnalyzerConfig::default()
    }
}

/// A `URL /order/o<n>` transaction of `domain`, `n` seconds into the hour.
fn tree(domain: &str, n: u64) -> MessageTree {
    let ts = HOUR_START_MS + n * 1_000;
    let mut root = Transaction::new("URL", format!("/order/o{n}"), ts);
    root.duration_us = 4_000;
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

/// `ids` sends five distinct names (two fold), `fine` as many as a type keeps, under
/// [`config`], with the clock at `now_ms`.
fn reports(now_ms: u64) -> MemoryReports {
    let mut reports = MemoryReports::with_config(now_ms, config());
    for n in 0..5 {
        reports.add_tree(&tree("ids", n));
    }
    for n in 0..NAMES_KEPT as u64 {
        reports.add_tree(&tree("fine", n));
    }
    reports
}

async fn home(reports: MemoryReports, uri: &str) -> String {
    let app = router(AppState::new(Arc::new(common::lookup())).with_reports(Arc::new(reports)));
    let response = common::get(app, uri).await;
    assert_eq!(response.status(), 200, "GET {uri}");
    common::text(response).await
}

/// The markup of the Domain cell of `domain`'s row.
fn name_cell<'a>(html: &'a str, domain: &str) -> &'a str {
    let link = format!(">{domain}</a>");
    html.split("<td class=\"name\">")
        .skip(1)
        .map(|cell| &cell[..cell.find("</td>").unwrap()])
        .find(|cell| cell.contains(&link))
        .unwrap_or_else(|| panic!("no row of {domain}: {html}"))
}

/// `ids` is marked, linking to its Transaction board of the hour; `fine` is not.
fn assert_only_ids_marked(html: &str) {
    let ids = name_cell(html, "ids");
    assert!(
        ids.contains(&format!(
            "<a class=\"badge warn folded\" href=\"/t?domain=ids&amp;hour={}\" \
             title=\"2 transactions of this hour were counted under OTHERS: a cap on machines, \
             types, names or status codes was reached\">names folded</a>",
            common::HOUR_LABEL
        )),
        "{ids}"
    );
    let fine = name_cell(html, "fine");
    assert!(!fine.contains("folded"), "{fine}");
    assert_eq!(html.matches("class=\"badge warn folded\"").count(), 1);
}

#[tokio::test]
async fn a_domain_folding_names_is_marked_on_the_home_page_of_the_current_hour() {
    let html = home(reports(HOUR_START_MS + 600_000), "/").await;
    assert_only_ids_marked(&html);
}

#[tokio::test]
async fn a_domain_folding_names_is_marked_on_the_home_page_of_a_past_hour() {
    let html = home(
        reports(HOUR_START_MS + 3_600_000 + 600_000),
        &format!("/?hour={}", common::HOUR_LABEL),
    )
    .await;
    assert_only_ids_marked(&html);
}

#[tokio::test]
async fn a_single_folded_transaction_is_counted_in_the_singular() {
    let mut reports = reports(HOUR_START_MS + 600_000);
    // `fine` past its cap by one name.
    reports.add_tree(&tree("fine", NAMES_KEPT as u64));
    let html = home(reports, "/").await;
    let fine = name_cell(&html, "fine");
    assert!(
        fine.contains("title=\"1 transaction of this hour was counted under OTHERS"),
        "{fine}"
    );
}

#[tokio::test]
async fn the_domain_others_is_marked_as_holding_the_domains_past_the_cap() {
    let config = AnalyzerConfig {
        max_domains: 1,
        ..AnalyzerConfig::default()
    };
    let mut reports = MemoryReports::with_config(HOUR_START_MS + 600_000, config);
    reports.add_tree(&tree("first", 0));
    reports.add_tree(&tree("second", 1));
    reports.add_tree(&tree("third", 2));
    let html = home(reports, "/").await;
    let others = name_cell(&html, "OTHERS");
    assert!(others.contains(">domains folded</a>"), "{others}");
    assert!(
        others.contains(
            "title=\"2 transactions of this hour came from domains past the cap, counted under \
             this domain\""
        ),
        "{others}"
    );
    assert!(!name_cell(&html, "first").contains("folded"));
}
