//! The home page's sparklines draw only complete minutes of the current hour, and none of
//! the minutes before the collector started.

mod common;

use std::sync::Arc;

use ocelot_protocol::sample::SampleTrees;
use ocelot_web::{router, AppState, MemoryReports};

const HOUR_START_MS: u64 = common::HOUR * 3_600_000;

/// The home page with a tree every 4 s from the start of the hour until `now_ms`.
async fn home_at(now_ms: u64) -> String {
    let mut reports = MemoryReports::new(now_ms);
    let mut samples = SampleTrees::new(42, 1, 5, HOUR_START_MS);
    for at in (HOUR_START_MS..now_ms).step_by(4_000) {
        samples.now_ms = at;
        reports.add_tree(&samples.tree());
    }
    let app = router(AppState::new(Arc::new(common::lookup())).with_reports(Arc::new(reports)));
    let response = common::get(app, "/").await;
    assert_eq!(response.status(), 200);
    common::text(response).await
}

/// The point count of the first sparkline, or None if it has no line.
fn sparkline_points(html: &str) -> Option<usize> {
    let spark = html.split("<svg class=\"sparkline\"").nth(1)?;
    let spark = &spark[..spark.find("</svg>").unwrap()];
    let points = spark.split("points=\"").nth(1)?;
    Some(points[..points.find('"').unwrap()].split(' ').count())
}

#[tokio::test]
async fn mid_minute_the_line_ends_at_the_last_complete_minute() {
    // 02:30: minutes 0 and 1 are complete; minute 2 is half counted and left out.
    let html = home_at(HOUR_START_MS + 150_000).await;
    assert_eq!(sparkline_points(&html), Some(2), "{html}");
}

#[tokio::test]
async fn in_the_first_minute_there_is_no_line_yet() {
    let html = home_at(HOUR_START_MS + 30_000).await;
    assert!(html.contains("<td class=\"spark\">"));
    assert_eq!(sparkline_points(&html), None);
    assert!(html.contains("still under way"));
}

#[tokio::test]
async fn a_past_hour_shows_all_sixty_minutes() {
    let mut reports = MemoryReports::new(HOUR_START_MS + 3_600_000 + 600_000);
    let mut samples = SampleTrees::new(42, 1, 5, HOUR_START_MS);
    for at in (HOUR_START_MS..HOUR_START_MS + 3_600_000).step_by(10_000) {
        samples.now_ms = at;
        reports.add_tree(&samples.tree());
    }
    let app = router(AppState::new(Arc::new(common::lookup())).with_reports(Arc::new(reports)));
    let html =
        common::text(common::get(app, &format!("/?hour={}", common::HOUR_LABEL)).await).await;
    assert_eq!(sparkline_points(&html), Some(60), "{html}");
}

/// A collector started at 10:05 (its State report sampled every 10 s from then), with
/// traffic from then on: minutes 0-9 are not drawn as zero but left out.
#[tokio::test]
async fn the_minutes_before_the_collector_started_are_left_out_not_drawn_as_zero() {
    let started_ms = HOUR_START_MS + 10 * 60_000 + 5_000;
    let now_ms = HOUR_START_MS + 20 * 60_000 + 30_000;
    let mut reports = MemoryReports::new(now_ms);
    let mut samples = SampleTrees::new(42, 1, 5, started_ms);
    for at in (started_ms..now_ms).step_by(4_000) {
        samples.now_ms = at;
        reports.add_tree(&samples.tree());
    }
    for at in (started_ms..now_ms).step_by(10_000) {
        reports
            .state_mut(common::HOUR)
            .record_queue_depth(at, "analyzer-0", 0);
    }
    let app = router(AppState::new(Arc::new(common::lookup())).with_reports(Arc::new(reports)));
    let html = common::text(common::get(app, "/").await).await;
    // Minutes 10 to 19: ten points, the first at minute 10 of the 20 shown (x = 1 + 118 *
    // 10 / 19), none at x = 1.
    assert_eq!(sparkline_points(&html), Some(10), "{html}");
    assert!(html.contains(r#"points="63.1,"#), "{html}");
}

/// Before its first sample, nothing to draw: a dash that says why.
#[tokio::test]
async fn a_collector_started_after_the_minutes_shown_draws_no_line() {
    let now_ms = HOUR_START_MS + 5 * 60_000 + 30_000;
    let mut reports = MemoryReports::new(now_ms);
    let mut samples = SampleTrees::new(42, 1, 5, now_ms - 20_000);
    reports.add_tree(&samples.tree());
    reports
        .state_mut(common::HOUR)
        .record_queue_depth(now_ms - 20_000, "analyzer-0", 0);
    let app = router(AppState::new(Arc::new(common::lookup())).with_reports(Arc::new(reports)));
    let html = common::text(common::get(app, "/").await).await;
    assert_eq!(sparkline_points(&html), None);
    assert!(html.contains("not running in the minutes shown"), "{html}");
}
