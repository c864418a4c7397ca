//! LogView pages, the message JSON API and the ways to reach them (search, CAT's path).

mod common;

use axum::http::StatusCode;
use common::*;

#[tokio::test]
async fn logview_shows_a_real_failing_tree_with_status_and_data() {
    let response = get(app(), &format!("/m/{FAILED_ID}")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(header(&response, "content-type").starts_with("text/html"));
    let html = text(response).await;
    assert!(html.contains("PaymentService.pay"));
    assert!(html.contains(r#"<span class="badge fail" title="failure">ERROR</span>"#));
    assert!(html.contains("This request failed"));
    assert!(html.contains(r#"class="row transaction failed""#));
    assert!(
        html.contains(r#"class="bar""#),
        "transactions get waterfall bars"
    );
    assert!(html.contains("catgen"));
}

#[tokio::test]
async fn logview_links_the_callee_from_the_remote_call_event() {
    let html = text(get(app(), &format!("/m/{CALLER_ID}")).await).await;
    assert!(html.contains(&format!(
        r#"<a class="remote-link" href="/m/{CALLEE_ID}">callee →</a>"#
    )));
}

#[tokio::test]
async fn logview_links_parent_and_root_trees() {
    let html = text(get(app(), &format!("/m/{CALLEE_ID}")).await).await;
    assert!(html.contains(&format!(r#"<a class="parent-link" href="/m/{CALLER_ID}">"#)));
    assert!(html.contains(&format!(r#"<a class="root-link" href="/m/{CALLER_ID}">"#)));
}

#[tokio::test]
async fn logview_links_transactions_to_their_row_on_the_transaction_board() {
    let html = text(get(app(), &format!("/m/{FAILED_ID}")).await).await;
    let root_row = r#"href="/t?domain=catgen&amp;hour=2026112207&amp;type=Service&amp;name=PaymentService.pay""#;
    assert!(
        html.matches(root_row).count() >= 2,
        "from the summary and from the root's row: {html}"
    );
}

#[tokio::test]
async fn logview_of_a_tree_without_parent_says_none() {
    let html = text(get(app(), &format!("/m/{FAILED_ID}")).await).await;
    assert!(!html.contains("parent-link"));
    assert!(html.contains(r#"<span class="muted">none</span>"#));
}

#[tokio::test]
async fn logview_escapes_markup_from_every_message_field() {
    let response = get(app(), &format!("/m/{SCRIPT_ID}")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let html = text(response).await;
    assert!(!html.contains("<script>"), "raw script tag in page");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
}

#[tokio::test]
async fn logview_of_an_unknown_id_is_a_friendly_404() {
    let response = get(app(), &format!("/m/{UNKNOWN_ID}")).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let html = text(response).await;
    assert!(html.contains("No such message"));
    assert!(html.contains("10.0.0.1"), "explains whose ID it is: {html}");
    assert!(
        html.contains(&format!(r#"value="{UNKNOWN_ID}""#)),
        "prefills the search box"
    );
}

#[tokio::test]
async fn logview_of_a_malformed_id_is_a_friendly_400() {
    let response = get(app(), "/m/not-an-id").await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let html = text(response).await;
    assert!(html.contains("Not a message ID"));
    assert!(html.contains("is not a message ID"));
}

#[tokio::test]
async fn logview_of_an_id_with_escaped_markup_in_the_path_stays_escaped() {
    let response = get(app(), "/m/%3Cscript%3Ealert(1)%3C%2Fscript%3E").await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let html = text(response).await;
    assert!(!html.contains("<script>"));
}

#[tokio::test]
async fn api_message_returns_the_tree_as_json() {
    let response = get(app(), &format!("/api/message/{CALLER_ID}")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(header(&response, "content-type").starts_with("application/json"));
    let json: serde_json::Value = serde_json::from_str(&text(response).await).unwrap();
    assert_eq!(json["header"]["messageId"], CALLER_ID);
    assert_eq!(json["root"]["type"], "Call");
    assert_eq!(json["root"]["children"][1]["type"], "RemoteCall");
    assert_eq!(json["root"]["children"][1]["data"], CALLEE_ID);
}

/// `/api/message` answers the JSON `ocelot lookup` prints: with the tree's format, and an
/// absent parent, root or session token as "" whichever format wrote it (PT1 writes the
/// word `null`, NT1 nothing).
#[tokio::test]
async fn api_message_gives_the_format_and_absent_ids_as_empty_in_either_format() {
    use std::sync::Arc;

    use ocelot_protocol::{decode_frame, DecodeOptions, WireFormat};
    use ocelot_web::{router, AppState, MemoryLookup};
    let path = format!(
        "{}/../protocol/tests/data/cat-c-client/text/0001.bin",
        env!("CARGO_MANIFEST_DIR")
    );
    let pt1 = decode_frame(&std::fs::read(path).unwrap(), &DecodeOptions::default()).unwrap();
    assert_eq!(
        pt1.header.parent_message_id, "null",
        "as the C client wrote it"
    );
    let pt1_id = pt1.header.message_id.clone();
    let lookup = MemoryLookup::from_trees([real_tree(2)]);
    lookup.insert_as(WireFormat::Pt1, pt1);
    let app = router(AppState::new(Arc::new(lookup)));
    for (id, format) in [(pt1_id.as_str(), "PT1"), (FAILED_ID, "NT1")] {
        let json = get_json(app.clone(), &format!("/api/message/{id}"), 200).await;
        assert_eq!(json["format"], format, "{json}");
        let header = &json["header"];
        assert_eq!(header["messageId"], id, "{json}");
        for key in ["parentMessageId", "rootMessageId", "sessionToken"] {
            assert_eq!(header[key], "", "{format} {key}: {json}");
        }
    }
    let html = ok_page(app, &format!("/m/{pt1_id}")).await;
    assert!(
        html.contains(r#"<dt>Parent</dt><dd><span class="muted">none</span>"#),
        "{html}"
    );
}

#[tokio::test]
async fn api_message_answers_json_errors_for_unknown_and_malformed_ids() {
    let unknown = get(app(), &format!("/api/message/{UNKNOWN_ID}")).await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let json: serde_json::Value = serde_json::from_str(&text(unknown).await).unwrap();
    assert!(json["error"].as_str().unwrap().contains(UNKNOWN_ID));

    let malformed = get(app(), "/api/message/nope").await;
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
    let json: serde_json::Value = serde_json::from_str(&text(malformed).await).unwrap();
    assert!(json["error"].as_str().unwrap().contains("not a message ID"));
}

#[tokio::test]
async fn cat_logview_path_redirects_to_logview() {
    let response = get(app(), &format!("/cat/r/m/{FAILED_ID}")).await;
    assert!(response.status().is_redirection());
    assert_eq!(header(&response, "location"), format!("/m/{FAILED_ID}"));
}

#[tokio::test]
async fn cat_logview_links_with_the_id_as_a_parameter_redirect_to_logview() {
    for uri in [
        format!("/cat/r/m?messageId={FAILED_ID}"),
        format!("/cat/r/m?domain=catgen&messageId={FAILED_ID}&waterfall=true"),
        format!("/cat/r/model/logview/catgen/CURRENT?op=xml&messageId={FAILED_ID}"),
    ] {
        let response = get(app(), &uri).await;
        assert!(response.status().is_redirection(), "{uri}");
        assert_eq!(
            header(&response, "location"),
            format!("/m/{FAILED_ID}"),
            "{uri}"
        );
    }
    // An ID whose domain breaks paths stays one path segment.
    let response = get(app(), "/cat/r/m?messageId=a%2Fb%3Fc-7f000001-1-2").await;
    assert_eq!(header(&response, "location"), "/m/a%2Fb%3Fc-7f000001-1-2");
}

#[tokio::test]
async fn cat_logview_links_without_a_valid_id_are_a_friendly_400() {
    for (uri, says) in [
        ("/cat/r/m", "No message ID in this link"),
        ("/cat/r/m?messageId=", "No message ID in this link"),
        (
            "/cat/r/model/logview/catgen/CURRENT?op=xml",
            "No message ID in this link",
        ),
        ("/cat/r/m?messageId=hello", "is not a message ID"),
        (
            "/cat/r/m?messageId=%3Cscript%3E-1-2-3",
            "is not a message ID",
        ),
        ("/cat/r/m?messageId=a&messageId=b", "is given twice"),
    ] {
        let response = get(app(), uri).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{uri}");
        let html = text(response).await;
        assert!(html.contains(says), "{uri}: {html}");
        assert!(html.contains("<form"), "{uri}: the page has the search box");
        assert!(!html.contains("<script>"), "{uri}");
    }
}

#[tokio::test]
async fn search_redirects_a_valid_id_to_its_logview() {
    let response = get(app(), &format!("/search?id=+{FAILED_ID}+")).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(header(&response, "location"), format!("/m/{FAILED_ID}"));
}

#[tokio::test]
async fn search_percent_encodes_ids_whose_domain_breaks_paths() {
    let response = get(app(), "/search?id=a%2Fb%3Fc-7f000001-1-2").await;
    assert_eq!(header(&response, "location"), "/m/a%2Fb%3Fc-7f000001-1-2");
}

#[tokio::test]
async fn search_takes_the_id_out_of_a_pasted_logview_link() {
    for link in [
        format!("http://cat.example/cat/r/m/{FAILED_ID}"),
        format!("https://cat.example/cat/r/m/{FAILED_ID}?domain=catgen#top"),
        format!("http://127.0.0.1:8080/m/{FAILED_ID}"),
        format!("/m/{FAILED_ID}"),
        format!("http://cat.example:8080/cat/r/m?messageId={FAILED_ID}"),
        format!("http://cat.example:8080/cat/r/m?domain=catgen&messageId={FAILED_ID}"),
        format!("http://cat.example:2281/cat/r/model/logview/catgen/CURRENT?op=xml&messageId={FAILED_ID}"),
    ] {
        let uri = format!("/search?id={}", urlencode(&link));
        let response = get(app(), &uri).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{link}");
        assert_eq!(
            header(&response, "location"),
            format!("/m/{FAILED_ID}"),
            "{link}"
        );
    }
}

/// `s` as a query value (what a browser's form submission sends).
fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn search_for_a_link_that_names_no_message_is_a_400_not_a_lookup_of_the_whole_link() {
    // Parsed from the right, each of these is a well-formed ID whose domain is the rest
    // of the link: read as a link, none names a message.
    for link in [
        "http://cat.example/cat/r/m?messageId=nope&domain=shop-0a000001-498703-42".to_owned(),
        "http://cat.example/cat/r/home?domain=shop-0a000001-498703-42".to_owned(),
        format!("/m/x%zz-{FAILED_ID}"),
    ] {
        let uri = format!("/search?id={}", urlencode(&link));
        let response = get(app(), &uri).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{link}");
        let html = text(response).await;
        assert!(
            html.contains("No message ID in this link"),
            "{link}: {html}"
        );
    }
}

#[tokio::test]
async fn search_for_nothing_or_garbage_is_a_friendly_400() {
    for uri in ["/search", "/search?id=", "/search?id=hello"] {
        let response = get(app(), uri).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{uri}");
        let html = text(response).await;
        assert!(
            html.contains("<form"),
            "{uri}: the page still has the search box"
        );
    }
}

/// A store whose every lookup fails as a damaged data file does.
struct BrokenStore;

impl ocelot_web::MessageLookup for BrokenStore {
    fn lookup(
        &self,
        _id: &ocelot_protocol::MessageId,
    ) -> Result<Option<ocelot_web::StoredTree>, String> {
        Err(
            "corrupt block at address 8 of /data/secret/498703/shop/messages.dat: block \
             inflates to 1678 bytes, header says 65395"
                .to_owned(),
        )
    }
}

/// A lookup into damaged store files answered "Something went wrong", as if a bug: it
/// says the stored tree cannot be read and which file and block, without the server's
/// folders. Still a 500.
#[tokio::test]
async fn a_failing_store_says_what_is_damaged_without_the_servers_folders() {
    let app = ocelot_web::router(ocelot_web::AppState::new(std::sync::Arc::new(BrokenStore)));
    let damage = "…/498703/shop/messages.dat: block inflates to 1678 bytes";
    let page = get(app.clone(), &format!("/m/{FAILED_ID}")).await;
    assert_eq!(page.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let html = text(page).await;
    assert!(
        html.contains("cannot be read") && html.contains(damage),
        "{html}"
    );
    assert!(!html.contains("/data/secret") && !html.contains("Something went wrong"));
    let api = get(app, &format!("/api/message/{FAILED_ID}")).await;
    assert_eq!(api.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body: serde_json::Value = serde_json::from_str(&text(api).await).unwrap();
    let error = body["error"].as_str().unwrap();
    assert!(
        error.contains(FAILED_ID) && error.contains(damage),
        "{error}"
    );
    assert!(!error.contains("/data/secret"));
}

#[tokio::test]
async fn logview_of_a_huge_tree_draws_its_first_rows_and_links_the_raw_json() {
    use std::sync::Arc;

    use ocelot_protocol::{Header, Leaf, Message, MessageTree, Transaction};
    use ocelot_web::{router, AppState, MemoryLookup};
    // A frame of a client that logs an event per item of a big batch: 10,050 messages.
    let id = "batch-0a000001-498703-1";
    let ts = 498_703 * 3_600_000;
    let mut root = Transaction::new("Job", "import", ts);
    for n in 0..10_049 {
        root.children.push(Message::Event(Leaf::new(
            "Item",
            format!("i{n}"),
            "0",
            ts,
            "",
        )));
    }
    let header = Header {
        domain: "batch".into(),
        message_id: id.into(),
        ..Header::default()
    };
    let lookup = MemoryLookup::from_trees([MessageTree::new(header, Message::Transaction(root))]);
    let app = router(AppState::new(Arc::new(lookup)));
    let response = get(app, &format!("/m/{id}")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let html = text(response).await;
    assert_eq!(html.matches("<tr class=\"row ").count(), 10_000);
    assert!(html.contains(">i9998</span>") && !html.contains(">i9999</span>"));
    assert!(html.contains(&format!(
        "The first 10,000 of 10,050 messages; <a href=\"/api/message/{id}\">the raw JSON</a> has every one."
    )));
    // A tree that fits has no note.
    let html = text(get(common::app(), &format!("/m/{FAILED_ID}")).await).await;
    assert!(!html.contains("left-out"));
}

/// The web app over `trees`, both stored (LogView) and counted (boards).
fn app_over(trees: &[ocelot_protocol::MessageTree]) -> axum::Router {
    use std::sync::Arc;

    use ocelot_web::{router, AppState, MemoryLookup, MemoryReports};
    let mut reports = MemoryReports::new(NOW_MS);
    reports.add_trees(trees);
    let lookup = MemoryLookup::from_trees(trees.iter().cloned());
    router(AppState::new(Arc::new(lookup)).with_reports(Arc::new(reports)))
}

/// A tree of domain `shop` in [`HOUR`] with the ID `shop-7f000001-498703-{seq}`.
fn shop_tree(seq: u32, root: ocelot_protocol::Transaction) -> ocelot_protocol::MessageTree {
    use ocelot_protocol::{Header, Message, MessageTree};
    let header = Header {
        domain: "shop".into(),
        message_id: format!("shop-7f000001-498703-{seq}"),
        ..Header::default()
    };
    MessageTree::new(header, Message::Transaction(root))
}

/// The `href`s of the page's board-row links, `&amp;` unescaped.
fn board_links(html: &str) -> Vec<String> {
    html.split(r#"class="board-link" href=""#)
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap().replace("&amp;", "&"))
        .collect()
}

#[tokio::test]
async fn a_name_longer_than_the_analyzer_keeps_links_to_the_row_it_is_counted_under() {
    use ocelot_protocol::Transaction;
    let long = "Q".repeat(300);
    let mut root = Transaction::new("Service", long.clone(), HOUR * 3_600_000 + 1_000);
    root.duration_us = 5_000;
    let app = app_over(&[shop_tree(1, root)]);
    let html = ok_page(app.clone(), "/m/shop-7f000001-498703-1").await;
    let links = board_links(&html);
    assert!(!links.is_empty(), "{html}");
    for link in links {
        assert!(
            link.contains(&format!("name={}&", "Q".repeat(256)))
                || link.ends_with(&"Q".repeat(256)),
            "{link}"
        );
        assert!(!link.contains(&"Q".repeat(257)), "{link}");
        let board = ok_page(app.clone(), &link).await;
        assert!(!board.contains("No name"), "{link}: {board}");
        assert!(board.contains(&"Q".repeat(256)), "{link}");
    }
}

#[tokio::test]
async fn the_root_of_a_truncated_fragment_is_not_linked_to_a_board_row_it_does_not_have() {
    use ocelot_protocol::{Leaf, Message, Transaction};
    let ts = HOUR * 3_600_000 + 1_000;
    let mut root = Transaction::new("Job", "bulk-import", ts);
    let mut sql = Transaction::new("SQL", "ImportDao.insert", ts + 1);
    sql.duration_us = 2_000;
    root.children.push(Message::Transaction(sql));
    root.children.push(Message::Event(Leaf::new(
        "RemoteCall",
        "Next",
        "0",
        ts + 5,
        "shop-7f000001-498703-3",
    )));
    let app = app_over(&[shop_tree(2, root)]);
    let html = ok_page(app.clone(), "/m/shop-7f000001-498703-2").await;
    let links = board_links(&html);
    assert_eq!(
        links,
        ["/t?domain=shop&hour=2026112207&type=SQL&name=ImportDao.insert"],
        "the counted child only: {html}"
    );
    assert!(
        html.contains("not counted: a fragment of a longer tree"),
        "says why the root has no row: {html}"
    );
    let board = ok_page(app, &links[0]).await;
    assert!(!board.contains("No name"), "{board}");
}

#[tokio::test]
async fn logview_shows_durations_of_hours_in_hours_and_zeros_alike() {
    use ocelot_protocol::{Message, Transaction};
    let ts = HOUR * 3_600_000 + 1_000;
    let mut root = Transaction::new("Job", "nightly", ts);
    root.duration_us = 2 * 3_600_000_000;
    root.children
        .push(Message::Transaction(Transaction::new("Cache", "get", ts)));
    let app = app_over(&[shop_tree(4, root)]);
    let html = ok_page(app, "/m/shop-7f000001-498703-4").await;
    assert!(
        html.contains(r#"<span class="duration-big">2 h 0 min</span>"#),
        "{html}"
    );
    assert!(!html.contains("120 min"), "{html}");
    // The zero-duration row writes its zeros one way: start and duration alike.
    let zero_row = html
        .split(r#"<tr class="row transaction">"#)
        .find(|row| row.contains(">get</span>"))
        .unwrap();
    assert!(
        zero_row.contains(r#"<td class="col-start">+0</td><td class="col-duration">0</td>"#),
        "{zero_row}"
    );
    assert!(zero_row.contains(r#"title="Cache get: 0""#), "{zero_row}");
}

#[tokio::test]
async fn a_metrics_kind_is_labelled_not_shown_as_a_status() {
    use ocelot_protocol::{Leaf, Message, Transaction};
    let ts = HOUR * 3_600_000 + 1_000;
    let mut root = Transaction::new("URL", "/pay", ts);
    root.children
        .push(Message::Metric(Leaf::new("", "order.count", "C", ts, "1")));
    root.children.push(Message::Metric(Leaf::new(
        "",
        "order.amount",
        "S,C",
        ts,
        "1,20",
    )));
    let app = app_over(&[shop_tree(5, root)]);
    let html = ok_page(app, "/m/shop-7f000001-498703-5").await;
    assert!(
        !html.contains(r#"<span class="badge neutral">C</span>"#),
        "{html}"
    );
    assert!(html.contains(">kind: count</span>"), "{html}");
    assert!(html.contains(">kind: sum and count</span>"), "{html}");
}

/// The app over the stored trees of [`lookup`] and `reports`.
fn app_with_reports(reports: ocelot_web::MemoryReports) -> axum::Router {
    use std::sync::Arc;
    ocelot_web::router(
        ocelot_web::AppState::new(Arc::new(lookup())).with_reports(Arc::new(reports)),
    )
}

/// Boards link the sample IDs of trees the reports counted; a tree the store then dropped
/// (its queue full, a failed write) is not found. The State report of the ID's hour counts
/// those drops, so the 404 says the tree may be one of them, on the page and in the API.
#[tokio::test]
async fn an_unknown_id_in_an_hour_with_store_drops_says_the_store_may_have_dropped_it() {
    let mut reports = reports();
    let minute_ms = HOUR * 3_600_000 + 60_000;
    let state = reports.state_mut(HOUR);
    state.record_drops(minute_ms, "store", "queue_full", 7);
    state.record_drops(minute_ms + 60_000, "store", "io_error", 2);
    // Neither loses a tree under an ID, nor does an analyzer's drop.
    state.record_drops(minute_ms, "store", "duplicate", 5);
    state.record_drops(minute_ms, "store", "no_message_id", 4);
    state.record_drops(minute_ms, "analyzer-0", "queue_full", 3);
    let said = "The collector's State report counts 9 trees of any domain that the store \
                dropped in that hour without storing them (7 queue_full, 2 io_error): this \
                tree may be one of them.";
    let html = html_page(
        app_with_reports(reports.clone()),
        &format!("/m/{UNKNOWN_ID}"),
        StatusCode::NOT_FOUND,
    )
    .await;
    assert!(html.contains(said), "{html}");
    let json = get_json(
        app_with_reports(reports),
        &format!("/api/message/{UNKNOWN_ID}"),
        404,
    )
    .await;
    let error = json["error"].as_str().unwrap();
    assert!(error.starts_with("no stored tree has the ID"), "{error}");
    assert!(error.contains(said), "{error}");
}

/// A tree sent after its hour closed is dropped as out of window and counted in the hour
/// it came in; the 404 named only the store's drops of its own hour, or nothing.
#[tokio::test]
async fn an_unknown_id_says_trees_that_came_after_their_hour_were_dropped() {
    let mut reports = reports();
    let next_hour_ms = (HOUR + 1) * 3_600_000 + 5 * 60_000;
    reports
        .state_mut(HOUR + 1)
        .record_out_of_window(next_hour_ms, 3);
    let said = "3 trees of any domain came outside their hour's window (after the hour had \
                closed, or too early) around that hour and were dropped (out_of_window): this \
                tree may be one of them. It may also not have arrived yet";
    let json = get_json(
        app_with_reports(reports),
        &format!("/api/message/{UNKNOWN_ID}"),
        404,
    )
    .await;
    let error = json["error"].as_str().unwrap();
    assert!(error.contains(said), "{error}");
}

/// Without drops in its hour, the 404 gives the usual reasons; before every hour kept, it
/// says retention deleted the hour.
#[tokio::test]
async fn an_unknown_id_says_when_its_hour_is_older_than_every_hour_kept() {
    let html = html_page(
        app_with_reports(reports()),
        &format!("/m/{UNKNOWN_ID}"),
        StatusCode::NOT_FOUND,
    )
    .await;
    assert!(html.contains("may have been sampled out"), "{html}");
    assert!(!html.contains("dropped"), "{html}");
    let old = "shop-0a000001-400000-7";
    let html = html_page(
        app_with_reports(reports()),
        &format!("/m/{old}"),
        StatusCode::NOT_FOUND,
    )
    .await;
    assert!(
        html.contains("That hour is older than every hour this server keeps (the oldest is"),
        "{html}"
    );
    assert!(html.contains("retention deletes old hours"), "{html}");
    let json = get_json(
        app_with_reports(reports()),
        &format!("/api/message/{old}"),
        404,
    )
    .await;
    assert!(
        json["error"].as_str().unwrap().contains("retention"),
        "{json}"
    );
}

/// A type keeps 200 names an hour on each machine (CAT's cap): later names are counted
/// under `OTHERS`, in arrival order, which the tree alone cannot tell. LogView links each
/// transaction to the row the hour's report of its machine has it under.
#[tokio::test]
async fn a_name_past_the_names_cap_links_to_the_others_row_it_is_counted_under() {
    use ocelot_protocol::{Header, Message, MessageTree, Transaction};
    let ts = HOUR * 3_600_000 + 1_000;
    // Nest/n0 holds n1, which holds n2, and so on: the analyzer meets them in that order.
    let mut inner: Option<Transaction> = None;
    for n in (0..300).rev() {
        let mut t = Transaction::new("Nest", format!("n{n}"), ts);
        t.children.extend(inner.take().map(Message::Transaction));
        inner = Some(t);
    }
    let header = Header {
        domain: "shop".into(),
        ip_address: "10.0.0.7".into(),
        message_id: "shop-0a000007-498703-1".into(),
        ..Header::default()
    };
    let tree = MessageTree::new(header, Message::Transaction(inner.unwrap()));
    let app = app_over(&[tree]);
    let html = ok_page(app.clone(), "/m/shop-0a000007-498703-1").await;
    let links = board_links(&html);
    let row = |name: &str| format!("/t?domain=shop&hour=2026112207&type=Nest&name={name}");
    // The summary's board row, then one link per transaction. The analyzer counts the
    // root last (its duration may come from the tree's last event), so n1 to n200 take the
    // 200 names and n201 to n299, then n0, fold.
    assert_eq!(links.len(), 301, "{html}");
    assert_eq!(links[0], row("OTHERS"), "the root, n0");
    assert_eq!(links[1], row("OTHERS"), "the root's row");
    for n in [1, 199, 200] {
        assert_eq!(links[1 + n], row(&format!("n{n}")));
    }
    for n in [201, 250, 299] {
        assert_eq!(links[1 + n], row("OTHERS"), "n{n}");
    }
    assert!(
        html.contains("Counted under OTHERS on the transaction board"),
        "the folded rows say why: {html}"
    );
    for link in [row("n200"), row("OTHERS")] {
        let board = ok_page(app.clone(), &link).await;
        assert!(!board.contains("No name"), "{link}: {board}");
    }
}

/// The types and machines caps fold too: a type past the cap is counted under the type
/// `OTHERS` (its names kept there, up to the names cap), and a machine past the machines cap
/// under the machine `OTHERS`, whose rows then decide.
#[tokio::test]
async fn types_and_machines_past_their_caps_link_to_the_rows_they_are_counted_under() {
    use std::sync::Arc;

    use ocelot_analyzer::AnalyzerConfig;
    use ocelot_protocol::{Header, Message, MessageTree, Transaction};
    use ocelot_web::{router, AppState, MemoryLookup, MemoryReports};
    let ts = HOUR * 3_600_000 + 1_000;
    let tree = |ip: &str, seq: u32, root: &str, children: &[(&str, &str)]| {
        let mut root = Transaction::new("Job", root, ts);
        for (type_, name) in children {
            root.children
                .push(Message::Transaction(Transaction::new(*type_, *name, ts)));
        }
        let header = Header {
            domain: "shop".into(),
            ip_address: ip.into(),
            message_id: format!("shop-0a000001-498703-{seq}"),
            ..Header::default()
        };
        MessageTree::new(header, Message::Transaction(root))
    };
    let trees = [
        // SQL and Cache take the machine's two types; the root's Job folds (roots count last).
        tree(
            "10.0.0.1",
            1,
            "a",
            &[
                ("SQL", "q1"),
                ("SQL", "q2"),
                ("SQL", "q3"),
                ("Cache", "get"),
            ],
        ),
        // Two more machines: both fold into the machine OTHERS, whose SQL fills with x and y.
        tree("10.0.0.2", 2, "b", &[("SQL", "x"), ("SQL", "y")]),
        tree("10.0.0.3", 3, "c", &[("SQL", "z")]),
    ];
    let config = AnalyzerConfig {
        max_machines_per_domain: 1,
        max_types_per_machine: 2,
        max_names_per_type: 2,
        ..AnalyzerConfig::default()
    };
    let mut reports = MemoryReports::with_config(NOW_MS, config);
    reports.add_trees(&trees);
    let lookup = MemoryLookup::from_trees(trees.iter().cloned());
    let app = router(AppState::new(Arc::new(lookup)).with_reports(Arc::new(reports)));
    let row = |type_: &str, name: &str| {
        format!("/t?domain=shop&hour=2026112207&type={type_}&name={name}")
    };
    let html = ok_page(app.clone(), "/m/shop-0a000001-498703-1").await;
    let links = board_links(&html);
    assert_eq!(
        links[1..],
        [
            row("OTHERS", "a"),
            row("SQL", "q1"),
            row("SQL", "q2"),
            row("SQL", "OTHERS"),
            row("Cache", "get"),
        ],
        "{html}"
    );
    let html = ok_page(app.clone(), "/m/shop-0a000001-498703-3").await;
    let links = board_links(&html);
    assert_eq!(
        links[1..],
        [row("Job", "c"), row("SQL", "OTHERS")],
        "{html}"
    );
    for link in [row("OTHERS", "a"), row("SQL", "OTHERS"), row("Job", "c")] {
        let board = ok_page(app.clone(), &link).await;
        assert!(!board.contains("No name"), "{link}: {board}");
    }
}

/// The `href` of the nav link labelled `label` in `html`, `&amp;` read as `&`.
fn nav_href(html: &str, label: &str) -> String {
    let nav = html.split_once(r#"<nav class="mainnav""#).unwrap().1;
    let nav = nav.split_once("</nav>").unwrap().0;
    let end = nav.find(&format!(">{label}</a>")).unwrap();
    let start = nav[..end].rfind("href=\"").unwrap() + "href=\"".len();
    nav[start..end]
        .split('"')
        .next()
        .unwrap()
        .replace("&amp;", "&")
}

/// From LogView, "Heartbeats" and "Dependencies" opened the first domain of the current
/// hour, the host's IP was plain text, and the board row had no machine: "which machine,
/// and is it healthy?" took a detour through a board.
#[tokio::test]
async fn logview_keeps_the_trees_domain_and_hour_and_links_its_machine() {
    let html = text(get(app(), &format!("/m/{FAILED_ID}")).await).await;
    for (label, path) in [
        ("Transactions", "/t"),
        ("Heartbeats", "/h"),
        ("Dependencies", "/d"),
    ] {
        assert_eq!(
            nav_href(&html, label),
            format!("{path}?domain=catgen&hour=2026112207"),
            "{label}"
        );
    }
    let host = html.split_once("<dt>Host</dt>").unwrap().1;
    let host = &host[..host.find("</dd>").unwrap()].replace("&amp;", "&");
    assert!(
        host.contains(
            r#"<a class="machine-link" href="/h?domain=catgen&hour=2026112207&ip=192.0.2.2""#
        ),
        "the IP opens its heartbeats of the hour: {host}"
    );
    assert!(
        host.contains(r#"href="/t?domain=catgen&hour=2026112207&ip=192.0.2.2" title="Transactions of this machine in the hour">transactions</a>"#),
        "{host}"
    );
    let row = html.split_once("<dt>Board row</dt>").unwrap().1;
    let row = &row[..row.find("</dd>").unwrap()].replace("&amp;", "&");
    assert!(
        row.contains(r#"href="/t?domain=catgen&hour=2026112207&ip=192.0.2.2&type=Service&name=PaymentService.pay" title="The same row, of this machine only">this machine</a>"#),
        "{row}"
    );
}
