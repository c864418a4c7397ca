//! The Transaction, Event, Problem and Metric boards say how many messages of their report
//! were counted under `OTHERS` because a cap was reached (the report's `folded`), name the
//! caps the reports were counted under, and link the `OTHERS` rows; nothing when nothing
//! folded.

mod common;

use common::{app_of, get_json, ok_page as page, report_app};
use ocelot_analyzer::AnalyzerConfig;
use ocelot_protocol::{Header, Leaf, Message, MessageTree, Transaction};
use ocelot_web::MemoryReports;

/// 2026-11-22 07:00 UTC.
const HOUR: u64 = 498_703;
const HOUR_LABEL: &str = "2026112207";
const DAY_LABEL: &str = "20261122";
/// Now: the next hour.
const LATER_MS: u64 = (HOUR + 1) * 3_600_000 + 60_000;
/// Names a type and metric names a domain keep in these tests: small, so that five
/// distinct names fold two.
const NAMES_KEPT: usize = 3;
/// Distinct names of each kind `ids` sends (one tree each).
const NAMES_SENT: u64 = 5;

/// The caps of these tests: [`NAMES_KEPT`] names a type and metric names a domain, one
/// machine a domain.
fn config() -> AnalyzerConfig {
    AnalyzerConfig {
        max_names_per_type: NAMES_KEPT,
        max_metric_names: NAMES_KEPT,
        max_machines_per_domain: 1,
        max_entries_per_hour: 5_000,
        ..AnalyzerConfig::default()
    }
}

/// Tree `n` of `ids`, a client that puts IDs into names: `URL /order/o<n>` (not a number,
/// which the report would name `{num}`) failed after
/// 1.5 s (an error and a long-url problem), with a `Cache` event `key-<n>` and a metric
/// `m-<n>`, on `ip`.
fn tree(n: u64, ip: &str) -> MessageTree {
    let ts = HOUR * 3_600_000 + n * 1_000;
    let mut root = Transaction::new("URL", format!("/order/o{n}"), ts);
    root.duration_us = 1_500_000;
    root.status = "ERROR".to_owned();
    (root.children).push(Message::Event(Leaf::new(
        "Cache",
        format!("key-{n}"),
        "0",
        ts,
        "",
    )));
    (root.children).push(Message::Metric(Leaf::new(
        "",
        format!("m-{n}"),
        "C",
        ts,
        "1",
    )));
    MessageTree::new(
        Header {
            domain: "ids".to_owned(),
            ip_address: ip.to_owned(),
            message_id: format!("ids-0a000001-{HOUR}-{n}"),
            ..Header::default()
        },
        Message::Transaction(root),
    )
}

/// `ids`' [`NAMES_SENT`] trees on machine 10.0.0.1, under [`config`].
fn ids_reports() -> MemoryReports {
    let mut reports = MemoryReports::with_config(LATER_MS, config());
    for n in 0..NAMES_SENT {
        reports.add_tree(&tree(n, "10.0.0.1"));
    }
    reports
}

/// The note's markup, which must be there.
fn note(html: &str) -> &str {
    let start = html
        .find("<div class=\"folded-note\" role=\"note\">")
        .unwrap_or_else(|| panic!("no note: {html}"));
    let rest = &html[start..];
    &rest[..rest.find("</div>").unwrap()]
}

#[tokio::test]
async fn each_board_says_how_many_messages_folded_under_which_caps_and_where() {
    let app = app_of(ids_reports());
    let hour = format!("domain=ids&hour={HOUR_LABEL}");
    // The API's figures are the notes': two of five names past the cap of three.
    let api = |kind: &str| format!("/api/{kind}?{hour}");
    assert_eq!(
        get_json(app.clone(), &api("transaction"), 200).await["folded"],
        2
    );
    assert_eq!(get_json(app.clone(), &api("event"), 200).await["folded"], 2);
    // Each failed, long request is two problems: two folded in `error`, two in `long-url`.
    assert_eq!(
        get_json(app.clone(), &api("problem"), 200).await["folded"],
        4
    );
    assert_eq!(
        get_json(app.clone(), &api("metric"), 200).await["folded"],
        2
    );

    let html = page(app.clone(), &format!("/t?{hour}")).await;
    let t = note(&html);
    assert!(
        t.contains(
            "<strong>2 transactions</strong> of this hour were counted under <code>OTHERS</code>"
        ),
        "{t}"
    );
    // The caps of the source's configuration, not CAT's defaults, and the setting that
    // moves the budget.
    assert!(
        t.contains(
            "1 machine a domain, 100 types a machine, 3 names a type and 100 status codes a name"
        ),
        "{t}"
    );
    assert!(
        t.contains("a budget of 5,000 machines, types and names over all domains together"),
        "{t}"
    );
    assert!(
        t.contains("<code>max_report_entries_per_hour</code>"),
        "{t}"
    );
    assert!(
        t.contains(&format!(
            "<a href=\"/t?domain=ids&amp;hour={HOUR_LABEL}&amp;type=URL&amp;name=OTHERS\">names of URL</a>"
        )),
        "the OTHERS row is linked: {t}"
    );

    let html = page(app.clone(), &format!("/e?{hour}")).await;
    let e = note(&html);
    assert!(e.contains("<strong>2 events</strong>"), "{e}");
    assert!(e.contains(">names of Cache</a>"), "{e}");

    let html = page(app.clone(), &format!("/p?{hour}")).await;
    let p = note(&html);
    assert!(p.contains("<strong>4 problems</strong>"), "{p}");
    assert!(
        p.contains("<a href=\"#error\">error</a>, <a href=\"#long-url\">long-url</a>"),
        "{p}"
    );

    let html = page(app.clone(), &format!("/metric?{hour}")).await;
    let m = note(&html);
    assert!(m.contains("<strong>2 metric records</strong>"), "{m}");
    assert!(m.contains("3 metric names a domain"), "{m}");
    assert!(
        !m.contains("max_report_entries_per_hour"),
        "no budget for metrics: {m}"
    );
    assert!(
        m.contains("<a href=\"#metric-OTHERS\">metric OTHERS</a>"),
        "{m}"
    );
}

#[tokio::test]
async fn the_note_counts_the_day_and_every_machine() {
    let mut reports = ids_reports();
    // A second machine past the cap of one: its trees fold as a whole, each message once.
    reports.add_tree(&tree(NAMES_SENT, "10.0.0.2"));
    let app = app_of(reports);

    let html = page(app.clone(), &format!("/t?domain=ids&hour={HOUR_LABEL}")).await;
    let t = note(&html);
    assert!(t.contains("<strong>3 transactions</strong>"), "{t}");
    assert!(
        t.contains(&format!(
            "<a href=\"/t?domain=ids&amp;hour={HOUR_LABEL}&amp;ip=OTHERS\">machine OTHERS</a>"
        )),
        "{t}"
    );

    // One machine's board: the count is the report's, of every machine, and says so.
    let html = page(
        app.clone(),
        &format!("/e?domain=ids&hour={HOUR_LABEL}&ip=10.0.0.1"),
    )
    .await;
    let e = note(&html);
    assert!(e.contains("<strong>3 events</strong>"), "{e}");
    assert!(
        e.contains("of every machine, not only <code>10.0.0.1</code>"),
        "{e}"
    );
    assert!(
        !e.contains("machine OTHERS"),
        "another machine's row is not on this board: {e}"
    );

    for board in ["t", "e", "p"] {
        let html = page(app.clone(), &format!("/{board}?domain=ids&day={DAY_LABEL}")).await;
        assert!(
            note(&html).contains("of this day were counted under"),
            "/{board}"
        );
    }
}

#[tokio::test]
async fn boards_of_reports_that_folded_nothing_have_no_note() {
    let mut reports = MemoryReports::with_config(LATER_MS, config());
    for n in 0..NAMES_KEPT as u64 {
        reports.add_tree(&tree(n, "10.0.0.1"));
    }
    let app = app_of(reports);
    for board in ["t", "e", "p", "metric"] {
        let html = page(
            app.clone(),
            &format!("/{board}?domain=ids&hour={HOUR_LABEL}"),
        )
        .await;
        assert!(!html.contains("folded-note"), "/{board}: {html}");
    }
}

#[tokio::test]
async fn real_cat_frames_past_the_name_cap_are_noted_on_the_event_board() {
    // The captured frames' `Item` and `I` events have more names than CAT's 200 a type.
    let html = page(report_app(), "/e?domain=catgen&hour=current").await;
    let e = note(&html);
    assert!(e.contains("<strong>2,000 events</strong>"), "{e}");
    assert!(
        e.contains("1,000 machines a domain, 100 types a machine and 200 names a type"),
        "{e}"
    );
    assert!(
        e.contains(">names of I</a>") && e.contains(">names of Item</a>"),
        "{e}"
    );
    // Its transactions folded nothing.
    let html = page(report_app(), "/t?domain=catgen&hour=current").await;
    assert!(!html.contains("folded-note"));
}

#[tokio::test]
async fn the_domain_others_says_it_holds_the_domains_past_the_cap() {
    let config = AnalyzerConfig {
        max_domains: 1,
        ..AnalyzerConfig::default()
    };
    let mut reports = MemoryReports::with_config(LATER_MS, config);
    for (n, domain) in ["first", "second"].into_iter().enumerate() {
        let mut tree = tree(n as u64, "10.0.0.1");
        tree.header.domain = domain.to_owned();
        reports.add_tree(&tree);
    }
    let app = app_of(reports);
    let html = page(app.clone(), &format!("/t?domain=OTHERS&hour={HOUR_LABEL}")).await;
    let t = note(&html);
    // One tree of one transaction: a singular count.
    assert!(
        t.contains("<strong>1 transaction</strong> of this hour was counted under"),
        "{t}"
    );
    assert!(
        t.contains(
            "Domains past the cap of 1 an hour are counted under this domain, <code>OTHERS</code>."
        ),
        "{t}"
    );
    // The domain kept under its own name folded nothing.
    let html = page(app, &format!("/t?domain=first&hour={HOUR_LABEL}")).await;
    assert!(!html.contains("folded-note"));
}
