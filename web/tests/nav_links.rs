//! The navigation bar keeps what the page shows, as CAT's does: from a domain's report of an
//! hour, another report opens on the same domain and hour (day, week, month where the
//! report has them), and the same machine where it has machines.

mod common;

use common::*;

/// The `href` of the nav link labelled `label` in `html`.
fn nav_link<'a>(html: &'a str, label: &str) -> &'a str {
    let (_, nav) = html
        .split_once(r#"<nav class="mainnav""#)
        .expect("a main navigation");
    let (nav, _) = nav.split_once("</nav>").expect("the navigation ends");
    let end = nav
        .find(&format!(">{label}</a>"))
        .unwrap_or_else(|| panic!("no nav link {label}: {nav}"));
    let start = nav[..end].rfind("href=\"").expect("an href") + "href=\"".len();
    let href = &nav[start..end];
    &href[..href.find('"').expect("the href ends")]
}

#[tokio::test]
async fn nav_links_of_a_board_keep_its_domain_hour_and_machine() {
    let api = format!("/api/transaction?domain=app-0&hour={PAST_HOUR_LABEL}");
    let view = get_json(report_app(), &api, 200).await;
    let ip = view["ips"][0].as_str().expect("a machine").to_owned();
    let uri = format!("/t?domain=app-0&hour={PAST_HOUR_LABEL}&ip={ip}&type=URL&sort=p95");
    let html = ok_page(report_app(), &uri).await;
    let hour = format!("hour={PAST_HOUR_LABEL}");
    for (label, path, machine) in [
        ("Transactions", "/t", true),
        ("Events", "/e", true),
        ("Problems", "/p", true),
        ("Heartbeats", "/h", true),
        ("Metrics", "/metric", false),
        ("Dependencies", "/d", false),
        ("State", "/state", false),
    ] {
        let ip = if machine {
            format!("&amp;ip={ip}")
        } else {
            String::new()
        };
        assert_eq!(
            nav_link(&html, label),
            format!("{path}?domain=app-0&amp;{hour}{ip}"),
            "{label}"
        );
    }
    assert_eq!(nav_link(&html, "Home"), format!("/?{hour}"));
    assert_eq!(nav_link(&html, "Alerts"), "/alerts");
}

#[tokio::test]
async fn nav_links_of_a_day_board_keep_the_day_where_the_target_has_days() {
    let html = ok_page(report_app(), "/e?domain=app-0&day=20261122").await;
    for (label, path) in [("Transactions", "/t"), ("Events", "/e"), ("Problems", "/p")] {
        assert_eq!(
            nav_link(&html, label),
            format!("{path}?domain=app-0&amp;day=20261122"),
            "{label}"
        );
    }
    // The others open the day's "Hour view": today's is the current hour, left out so the
    // link follows the clock.
    assert_eq!(nav_link(&html, "Heartbeats"), "/h?domain=app-0");
    assert_eq!(nav_link(&html, "Home"), "/");
}

#[tokio::test]
async fn nav_links_of_the_heartbeats_and_state_keep_the_domain_for_the_way_back() {
    let uri = format!("/h?domain=catgen&hour={HOUR_LABEL}");
    let html = html_page(report_app(), &uri, axum::http::StatusCode::OK).await;
    assert_eq!(nav_link(&html, "Problems"), "/p?domain=catgen");
    let uri = format!("/state?domain=catgen&hour={PAST_HOUR_LABEL}");
    let html = ok_page(report_app(), &uri).await;
    assert_eq!(
        nav_link(&html, "Transactions"),
        format!("/t?domain=catgen&amp;hour={PAST_HOUR_LABEL}")
    );
}

#[tokio::test]
async fn nav_links_of_pages_without_a_domain_are_bare_or_keep_the_hour() {
    let html = ok_page(report_app(), &format!("/?hour={PAST_HOUR_LABEL}")).await;
    assert_eq!(
        nav_link(&html, "Transactions"),
        format!("/t?hour={PAST_HOUR_LABEL}")
    );
    let html = ok_page(report_app(), "/alerts").await;
    for (label, path) in [
        ("Home", "/"),
        ("Transactions", "/t"),
        ("Metrics", "/metric"),
    ] {
        assert_eq!(nav_link(&html, label), path, "{label}");
    }
}
