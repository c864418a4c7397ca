//! The State page counts drops as `/metrics` and `ocelot status` do: trees out of the hour
//! window are dropped (lost), trees the store refused for a duplicate ID are not (shown
//! apart, as not stored). `/api/state` tells them apart the same way.

mod common;

use common::*;

/// The figure card labelled `label`: its value, and whether it is marked bad.
fn stat<'a>(html: &'a str, label: &str) -> Option<(&'a str, bool)> {
    let at = html.find(&format!("<span class=\"stat-label\">{label}</span>"))?;
    let card = &html[html[..at].rfind("<div class=\"stat")?..];
    let bad = card.starts_with("<div class=\"stat bad\"");
    let value = card.split_once("<span class=\"stat-value\">")?.1;
    Some((value.split_once("</span>")?.0, bad))
}

/// The State page of [`HOUR`] after `record` adds to its State report.
async fn state_page(record: impl FnOnce(&mut ocelot_analyzer::StateReport, u64)) -> String {
    let mut reports = reports();
    record(reports.state_mut(HOUR), HOUR * 3_600_000 + 60_000);
    ok_page(app_of(reports), &format!("/state?hour={HOUR_LABEL}")).await
}

/// The same run showed "Out of window 31" beside "Dropped 0" and "No tree was dropped".
#[tokio::test]
async fn out_of_window_trees_are_counted_among_the_dropped_ones() {
    let html = state_page(|state, at_ms| state.record_out_of_window(at_ms, 31)).await;
    assert_eq!(stat(&html, "Dropped"), Some(("31", true)), "{html}");
    assert_eq!(stat(&html, "Out of window"), None, "listed among the drops");
    assert!(!html.contains("No tree was dropped"), "{html}");
    let drops = &html[html.find("<h2>Drops</h2>").unwrap()..];
    let drops = &drops[..drops.find("</section>").unwrap()];
    assert!(
        drops.contains("<td>collector</td><td>out_of_window</td><td class=\"num\">31</td>"),
        "{drops}"
    );
}

/// A run with 2 500 duplicates showed "Dropped 2,500" (while `ocelot status` did not fail
/// for them), and the Drops table headed the stage "Analyzer".
#[tokio::test]
async fn duplicates_are_shown_as_not_stored_apart_from_the_drops() {
    let html = state_page(|state, at_ms| {
        state.record_drops(at_ms, "store", "duplicate", 2_500);
        state.record_drops(at_ms, "analyzer-0", "queue_full", 3);
        state.record_out_of_window(at_ms, 31);
    })
    .await;
    assert_eq!(stat(&html, "Dropped"), Some(("34", true)), "{html}");
    assert_eq!(
        stat(&html, "Not stored (duplicate ID)"),
        Some(("2,500", false)),
        "{html}"
    );
    let drops = &html[html.find("<h2>Drops</h2>").unwrap()..];
    let drops = &drops[..drops.find("</section>").unwrap()];
    assert!(drops.contains("<th>Stage</th><th>Reason</th>"), "{drops}");
    assert!(
        drops.contains("<td>worker (analyzer-0)</td><td>queue_full</td><td class=\"num\">3</td>"),
        "{drops}"
    );
    assert!(!drops.contains("<td>duplicate</td>"), "{drops}");
    assert!(
        drops.contains(
            "2,500 not stored (duplicate ID): trees sent under a message ID already stored"
        ),
        "{drops}"
    );
    // Duplicates alone: nothing dropped.
    let html = state_page(|state, at_ms| state.record_drops(at_ms, "store", "duplicate", 5)).await;
    assert_eq!(stat(&html, "Dropped"), Some(("0", false)), "{html}");
    assert!(html.contains("No tree was dropped."), "{html}");
}

/// `/api/state` gave only `drops`, 2 503 here with the 2 500 duplicates among them, while
/// the State page said 34 dropped and 2 500 not stored. Its `lost` and `duplicates` say
/// what the page says; `drops` and the rows by stage and reason stay as they were.
#[tokio::test]
async fn the_api_tells_lost_trees_from_duplicates_as_the_page_does() {
    let mut reports = reports();
    let at_ms = HOUR * 3_600_000 + 60_000;
    let state = reports.state_mut(HOUR);
    state.record_drops(at_ms, "store", "duplicate", 2_500);
    state.record_drops(at_ms, "analyzer-0", "queue_full", 3);
    state.record_out_of_window(at_ms, 31);
    state.record_drops(at_ms + 60_000, "store", "duplicate", 7);
    let json = get_json(
        app_of(reports),
        &format!("/api/state?hour={HOUR_LABEL}"),
        200,
    )
    .await;
    assert_eq!(
        (&json["drops"], &json["lost"], &json["duplicates"]),
        (
            &serde_json::json!(2_510),
            &serde_json::json!(34),
            &serde_json::json!(2_507)
        ),
        "{json}"
    );
    assert_eq!(json["outOfWindow"], 31);
    let minute = |m: u64| {
        (json["minutes"].as_array().unwrap().iter())
            .find(|row| row["minute"] == m)
            .unwrap_or_else(|| panic!("minute {m} in {json}"))
    };
    let (first, second) = (minute(1), minute(2));
    assert_eq!(
        (&first["lost"], &first["duplicates"]),
        (&34.into(), &2_500.into())
    );
    assert_eq!(
        first["drops"]["store"]["duplicate"], 2_500,
        "rows as before"
    );
    assert_eq!(
        (&second["lost"], &second["duplicates"]),
        (&0.into(), &7.into())
    );
}
