//! With two rules firing, Home, the nav and the boards said nothing of it, and no page
//! said that reports were not being saved (only `ocelot status` and `/metrics` did). Every
//! page now carries the server's health as last sampled: a banner under the nav, and a
//! count on the nav's "Alerts" link; the State page says when reports were last saved.

mod common;

use std::sync::Arc;

use axum::http::StatusCode;
use common::*;
use ocelot_web::{router, AppState, AuthConfig, BasicCredentials, ServerHealth, SharedHealth};

/// At 07:40 on [`HOUR`] (the reports' "now"): two rules firing, no good checkpoint for 12
/// minutes, the store refusing trees for a disk error.
fn troubled() -> ServerHealth {
    ServerHealth {
        at_ms: NOW_MS,
        started_ms: NOW_MS - 3_600_000,
        firing: vec!["payment-errors".to_owned(), "order-create-slow".to_owned()],
        last_checkpoint_ms: NOW_MS - 12 * 60_000,
        checkpoint_interval_ms: 60_000,
        report_write_errors: 11,
        reports_not_saved: true,
        store_failing: vec![("io_error".to_owned(), 6_339)],
        trees_dropped_lately: 0,
        lately_ms: 300_000,
        last_store_error: Some(
            "writing a block to /data/498703/catgen/messages.dat: No space left on device (os error 28)"
                .to_owned(),
        ),
        last_store_error_ms: NOW_MS - 60_000,
    }
}

fn state_with(health: &SharedHealth) -> AppState {
    AppState::new(Arc::new(lookup()))
        .with_reports(Arc::new(reports()))
        .with_health(health.clone())
}

const PAGES: [&str; 6] = [
    "/",
    "/t?domain=catgen",
    "/h?domain=catgen",
    "/alerts",
    "/state",
    "/m/catgen-c0000202-498703-10028",
];

#[tokio::test]
async fn every_page_shows_firing_alerts_and_a_server_not_saving_its_reports() {
    let health = SharedHealth::new();
    health.set(troubled());
    let state = state_with(&health);
    for uri in PAGES {
        let html = ok_page(router(state.clone()), uri).await;
        let banner = html
            .split_once(r#"<div class="health-banner" role="status">"#)
            .unwrap_or_else(|| panic!("no banner on {uri}: {html}"))
            .1;
        let banner = &banner[..banner.find("</div>").unwrap()];
        assert!(
            banner.contains(r#"<a href="/alerts"><strong>2 alerts firing</strong></a>: <span class="rule">payment-errors</span>, <span class="rule">order-create-slow</span>"#),
            "{uri}: {banner}"
        );
        assert!(
            banner.contains("<strong>Reports not saved since 07:28 UTC</strong> (12 min ago; 11 report writes failed since the start)"),
            "{uri}: {banner}"
        );
        assert!(
            banner.contains("6,339 trees not written (io_error) in the last 5 min"),
            "{uri}: {banner}"
        );
        assert!(
            banner.contains("Last store error </strong>at 07:39 UTC (60 s ago): writing a block to /data/498703/catgen/messages.dat: No space left on device"),
            "{uri}: {banner}"
        );
        assert!(
            html.contains(">Alerts (2)</a>"),
            "the nav counts the rules firing on {uri}"
        );
    }
    // A page for a request that cannot be answered carries it too.
    let html = html_page(
        router(state.clone()),
        "/m/shop-0a000001-498703-999",
        StatusCode::NOT_FOUND,
    )
    .await;
    assert!(html.contains("2 alerts firing"), "{html}");
    // The JSON API is not a page.
    let json = text(get(router(state), "/api/domains").await).await;
    assert!(!json.contains("firing"), "{json}");
}

#[tokio::test]
async fn the_banner_follows_the_latest_sample_and_goes_once_all_is_well() {
    let health = SharedHealth::new();
    let app = router(state_with(&health));
    // Never sampled (`ocelot-web` on its own): no banner, a plain nav link.
    let html = ok_page(app.clone(), "/").await;
    assert!(!html.contains("health-banner"), "{html}");
    assert!(html.contains(">Alerts</a>"), "{html}");
    health.set(troubled());
    assert!(ok_page(app.clone(), "/").await.contains("2 alerts firing"));
    health.set(ServerHealth {
        firing: Vec::new(),
        reports_not_saved: false,
        store_failing: Vec::new(),
        ..troubled()
    });
    let html = ok_page(app, "/").await;
    assert!(!html.contains("health-banner"), "{html}");
    assert!(html.contains(">Alerts</a>"), "{html}");
}

#[tokio::test]
async fn pages_served_without_a_health_sample_show_no_banner() {
    for uri in PAGES {
        let html = ok_page(report_app(), uri).await;
        assert!(!html.contains("health-banner"), "{uri}: {html}");
        assert!(!html.contains("Saving now"), "{uri}: {html}");
    }
}

#[tokio::test]
async fn the_login_page_says_nothing_of_the_servers_health() {
    let health = SharedHealth::new();
    health.set(troubled());
    let state = state_with(&health).with_auth(AuthConfig {
        api_token: None,
        basic: Some(BasicCredentials::new("ops", "secret")),
    });
    let html = html_page(router(state), "/", StatusCode::UNAUTHORIZED).await;
    assert!(html.contains("Please log in"), "{html}");
    assert!(
        !html.contains("firing") && !html.contains("health-banner"),
        "{html}"
    );
}

#[tokio::test]
async fn the_state_page_gives_the_last_good_checkpoint_and_failed_report_writes() {
    let health = SharedHealth::new();
    health.set(troubled());
    let app = router(state_with(&health));
    let html = ok_page(app.clone(), &format!("/state?hour={HOUR_LABEL}")).await;
    let saving = &html[html.find("<h2>Saving now</h2>").expect("Saving now")..];
    let saving = &saving[..saving.find("</section>").unwrap()];
    assert!(
        saving.contains(
            r#"<dt>Last good checkpoint</dt><dd class="fail">12 min ago (2026-11-22 07:28:00.000 UTC)</dd>"#
        ),
        "{saving}"
    );
    assert!(
        saving.contains(r#"<dt>Report writes failed</dt><dd class="fail">11 since the start</dd>"#),
        "{saving}"
    );
    assert!(
        saving.contains("failing: 6,339 trees not written (io_error) in the last 5 min"),
        "{saving}"
    );
    // A past hour's page is about that hour: the server's state now is not on it.
    let html = ok_page(app, &format!("/state?hour={PAST_HOUR_LABEL}")).await;
    assert!(!html.contains("Saving now"), "{html}");
}
