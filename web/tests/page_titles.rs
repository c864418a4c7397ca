//! A report page's title names its period, so that the browser tabs of one board at two
//! hours (days, weeks, months) tell apart.

mod common;

use common::*;

/// The text of `html`'s `<title>`.
fn title(html: &str) -> &str {
    let (_, rest) = html.split_once("<title>").expect("a title");
    rest.split_once("</title>").expect("the title ends").0
}

#[tokio::test]
async fn board_titles_name_the_domain_and_the_period() {
    for (uri, expected) in [
        (
            format!("/t?domain=catgen&hour={HOUR_LABEL}"),
            "Transactions · catgen · 2026-11-22 07:00 · Ocelot",
        ),
        (
            format!("/t?domain=app-0&hour={PAST_HOUR_LABEL}"),
            "Transactions · app-0 · 2026-11-22 06:00 · Ocelot",
        ),
        (
            "/t?domain=app-0&day=20261122".to_owned(),
            "Transactions · app-0 · 2026-11-22 · Ocelot",
        ),
        (
            "/e?domain=app-0&week=20261122".to_owned(),
            "Events · app-0 · 2026-11-21 to 2026-11-27 · Ocelot",
        ),
        (
            "/p?domain=app-0&month=202611".to_owned(),
            "Problems · app-0 · November 2026 · Ocelot",
        ),
        (
            "/h?domain=catgen".to_owned(),
            "Heartbeats · catgen · 2026-11-22 07:00 · Ocelot",
        ),
        (
            "/metric?domain=catgen".to_owned(),
            "Metrics · catgen · 2026-11-22 07:00 · Ocelot",
        ),
        (
            format!("/state?hour={PAST_HOUR_LABEL}"),
            "Collector state · 2026-11-22 06:00 · Ocelot",
        ),
        (
            format!("/?hour={PAST_HOUR_LABEL}"),
            "Home · 2026-11-22 06:00 · Ocelot",
        ),
    ] {
        let html = ok_page(report_app(), &uri).await;
        assert_eq!(title(&html), expected, "{uri}");
    }
}

#[tokio::test]
async fn a_board_of_an_hour_without_data_still_names_the_hour() {
    let html = html_page(
        report_app(),
        "/t?domain=catgen&hour=2026112201",
        axum::http::StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(
        title(&html),
        "Transactions · catgen · 2026-11-22 01:00 · Ocelot"
    );
}

#[tokio::test]
async fn a_logview_title_names_the_tree_and_its_message_id() {
    let html = ok_page(app(), &format!("/m/{FAILED_ID}")).await;
    assert_eq!(
        title(&html),
        format!("Service PaymentService.pay · {FAILED_ID} · Ocelot")
    );
}
