//! The problem board shows a long-execution entry's count per duration bucket (CAT's
//! `duration` elements), per entry and per category, in the hour and the day; error
//! entries have none. `long_ms=` raises a long category's threshold: its entries count their
//! buckets at or over it, and the chips link it.

mod common;

use axum::http::StatusCode;
use common::{app_of, get, ok_page as page, text};
use ocelot_analyzer::{AnalyzerConfig, LongThresholds};
use ocelot_protocol::{Header, Message, MessageTree, Transaction};
use ocelot_web::MemoryReports;

/// 2026-11-22 UTC, hour 07:00 and the day.
const HOUR: u64 = 498_703;
const HOUR_LABEL: &str = "2026112207";
const DAY_LABEL: &str = "20261122";
/// Now: the next day, so every hour of the day has ended.
const LATER_MS: u64 = (HOUR / 24 + 1) * 86_400_000 + 3_600_000;

/// `(name, duration ms, status)` of the URL requests of `shop` in an hour: `/search` slow
/// in three of CAT's URL buckets (1, 2 and 5 s), `/report` in one, `/pay` failed and fast.
const REQUESTS: [(&str, u64, &str); 9] = [
    ("/search", 1_200, "0"),
    ("/search", 1_900, "0"),
    ("/search", 1_000, "0"),
    ("/search", 2_500, "0"),
    ("/search", 2_999, "0"),
    ("/search", 6_000, "0"),
    ("/report", 3_100, "0"),
    ("/pay", 20, "ERROR"),
    ("/pay", 30, "ERROR"),
];

/// [`REQUESTS`] in `hour` (one a second from its start), on machine 10.0.0.1.
fn trees(hour: u64) -> Vec<MessageTree> {
    (REQUESTS.iter().enumerate())
        .map(|(seq, &(name, duration_ms, status))| {
            let mut root = Transaction::new("URL", name, hour * 3_600_000 + seq as u64 * 1_000);
            root.duration_us = duration_ms * 1_000;
            root.status = status.to_owned();
            MessageTree::new(
                Header {
                    domain: "shop".to_owned(),
                    ip_address: "10.0.0.1".to_owned(),
                    message_id: format!("shop-0a000001-{hour}-{seq}"),
                    ..Header::default()
                },
                Message::Transaction(root),
            )
        })
        .collect()
}

/// The markup of the problem category section `id`, up to the next section.
fn category<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no category {id}: {html}"));
    let rest = &html[start..];
    &rest[..rest.find("</section>").unwrap_or(rest.len())]
}

/// The row of `name` in a category's table.
fn row<'a>(section: &'a str, name: &str) -> &'a str {
    let cell = format!("<td class=\"name\">{name}</td>");
    let start = section
        .find(&cell)
        .unwrap_or_else(|| panic!("no row {name}: {section}"));
    let rest = &section[start..];
    &rest[..rest.find("</tr>").unwrap()]
}

/// A chip of a bucket: the range it counts and its count, as shown.
fn chip(range: &str, count: &str) -> String {
    format!("<span class=\"bound\">{range}</span> {count}</a>")
}

/// The subtitle of a category section.
fn hint(section: &str) -> &str {
    let hint = &section[section.find("<p class=\"hint\">").unwrap()..];
    &hint[..hint.find("</p>").unwrap()]
}

/// The count cell of a row.
fn count(row: &str) -> &str {
    let cell = &row[row.find("<td class=\"num\">").unwrap() + "<td class=\"num\">".len()..];
    &cell[..cell.find("</td>").unwrap()]
}

#[tokio::test]
async fn long_entries_show_their_count_per_duration_bucket_and_errors_none() {
    let mut reports = MemoryReports::new(LATER_MS);
    reports.add_trees(&trees(HOUR));
    let html = page(
        app_of(reports),
        &format!("/p?domain=shop&hour={HOUR_LABEL}"),
    )
    .await;

    let long = category(&html, "long-url");
    assert!(long.contains(">Took</th>"), "a duration column: {long}");
    // 1 000-1 999 ms: three; 2 000-2 999 ms: two; 5 000 ms and over: one. The chips say
    // so as ranges: "≥1 s 3" read as "three took 1 s or more", while six did.
    let search = row(long, "/search");
    for (range, count) in [("1–2 s", "3"), ("2–3 s", "2"), ("≥5 s", "1")] {
        assert!(search.contains(&chip(range, count)), "{range}: {search}");
    }
    assert!(!search.contains("3–5 s"), "no empty bucket: {search}");
    assert!(row(long, "/report").contains(&chip("3–5 s", "1")));
    assert!(
        search.contains("3 took 1 s or more, less than 2 s"),
        "{search}"
    );
    // The category's buckets, all its entries together, beside what it means.
    let hint = hint(long);
    for (range, count) in [
        ("1–2 s", "3"),
        ("2–3 s", "2"),
        ("3–5 s", "1"),
        ("≥5 s", "1"),
    ] {
        assert!(hint.contains(&chip(range, count)), "{range}: {hint}");
    }

    // Errors take no time bucket: no column, no chip. The hint says a failed request with
    // an Error event counts twice ("error 116" read as 116 failures, for 58).
    let errors = category(&html, "error");
    assert!(
        errors.contains("counts twice, once as its transaction and once as its event"),
        "{errors}"
    );
    assert!(errors.contains("<td class=\"name\">/pay</td>"), "{errors}");
    assert!(!errors.contains(">Took</th>") && !errors.contains("class=\"bucket\""));
}

#[tokio::test]
async fn the_day_board_adds_up_each_bucket_over_the_hours() {
    let mut reports = MemoryReports::new(LATER_MS);
    reports.add_trees(&trees(HOUR));
    reports.add_trees(&trees(HOUR + 2));
    let html = page(app_of(reports), &format!("/p?domain=shop&day={DAY_LABEL}")).await;
    let search = row(category(&html, "long-url"), "/search");
    for (range, count) in [("1–2 s", "6"), ("2–3 s", "4"), ("≥5 s", "2")] {
        assert!(search.contains(&chip(range, count)), "{range}: {search}");
    }
}

#[tokio::test]
async fn a_configured_threshold_is_the_first_bucket_and_the_categorys_hint() {
    let config = AnalyzerConfig {
        long_thresholds: LongThresholds {
            url_ms: 1_500,
            ..LongThresholds::default()
        },
        ..AnalyzerConfig::default()
    };
    let mut reports = MemoryReports::with_config(LATER_MS, config);
    reports.add_trees(&trees(HOUR));
    let html = page(
        app_of(reports),
        &format!("/p?domain=shop&hour={HOUR_LABEL}"),
    )
    .await;
    let long = category(&html, "long-url");
    assert!(
        long.contains("URL transactions that took 1,500 ms or longer"),
        "the source's threshold, not CAT's default: {long}"
    );
    // 1 000 and 1 200 ms are not long any more; 1 900 ms is in the first bucket, 1.5 s.
    let search = row(long, "/search");
    assert!(search.contains(&chip("1.5–2 s", "1")), "{search}");
    assert!(search.contains(&chip("2–3 s", "2")), "{search}");
}

#[tokio::test]
async fn a_raised_threshold_counts_the_buckets_at_or_over_it_and_hides_the_rest() {
    let mut reports = MemoryReports::new(LATER_MS);
    reports.add_trees(&trees(HOUR));
    let board = format!("/p?domain=shop&hour={HOUR_LABEL}");
    let html = page(app_of(reports), &format!("{board}&long_ms=long-url:3000")).await;

    let long = category(&html, "long-url");
    assert!(
        hint(long).starts_with("<p class=\"hint\">URL transactions that took 3 s or longer"),
        "{long}"
    );
    // /search: 6 000 ms only; /report: 3 100 ms.
    assert_eq!(count(row(long, "/search")), "1");
    assert_eq!(count(row(long, "/report")), "1");
    assert!(long.contains("<h2><span class=\"badge neutral\">long-url</span> 2<span"));
    assert!(
        html.contains("long-url <span class=\"count\">2</span>"),
        "the pill"
    );
    // What the counts cannot split, said rather than shown wrong.
    assert!(
        long.contains("are of all long executions of the entries shown"),
        "{long}"
    );
    assert!(long.contains("long-url per minute, all long executions of the entries shown"));
    // Errors keep their count; the hour's total adds the raised counts.
    assert_eq!(count(row(category(&html, "error"), "/pay")), "2");
    assert!(html.contains("4 problems in all"), "2 long + 2 errors");

    // Chips link the threshold; the way back drops it; both keep the board.
    let search = row(long, "/search");
    let href = board.replace('&', "&amp;");
    let to_five = format!("href=\"{href}&amp;long_ms=long-url%3A5000#long-url\"");
    assert!(search.contains(&to_five), "{search}");
    assert!(
        long.contains(&format!(
            "class=\"clear-threshold\" href=\"{href}#long-url\""
        )),
        "{long}"
    );
    assert!(
        search.contains("class=\"bucket under\""),
        "1 s and 2 s not counted"
    );
    // The hour navigation and the selector form keep it.
    assert!(html.contains("&amp;long_ms=long-url%3A3000\" rel=\"next\">"));
    assert!(html.contains("<input type=\"hidden\" name=\"long_ms\" value=\"long-url:3000\">"));

    // A threshold above every execution of an entry hides it, and says how many.
    let mut reports = MemoryReports::new(LATER_MS);
    reports.add_trees(&trees(HOUR));
    let html = page(app_of(reports), &format!("{board}&long_ms=long-url:5000")).await;
    let long = category(&html, "long-url");
    assert!(!long.contains("<td class=\"name\">/report</td>"), "{long}");
    assert!(
        long.contains("1 entry with none that long is hidden."),
        "{long}"
    );
}

#[tokio::test]
async fn the_day_board_raises_the_threshold_over_the_summed_buckets() {
    let mut reports = MemoryReports::new(LATER_MS);
    reports.add_trees(&trees(HOUR));
    reports.add_trees(&trees(HOUR + 2));
    let html = page(
        app_of(reports),
        &format!("/p?domain=shop&day={DAY_LABEL}&long_ms=long-url:2000"),
    )
    .await;
    let long = category(&html, "long-url");
    // 2 000-2 999 ms twice an hour and 6 000 ms once, in two hours.
    assert_eq!(count(row(long, "/search")), "6");
    assert_eq!(count(row(long, "/report")), "2");
    assert!(long.contains("the per-hour shapes"), "{long}");
}

#[tokio::test]
async fn a_bad_long_threshold_is_a_400_naming_the_parameter() {
    for bad in ["long-url:3s", "long-url:-1", "error:100", "nonsense"] {
        let mut reports = MemoryReports::new(LATER_MS);
        reports.add_trees(&trees(HOUR));
        let uri = format!("/p?domain=shop&hour={HOUR_LABEL}&long_ms={bad}");
        let response = get(app_of(reports), &uri).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{uri}");
        let html = text(response).await;
        assert!(html.contains("“long_ms”"), "{uri}: {html}");
    }
}

#[tokio::test]
async fn a_threshold_under_the_recorded_one_says_nothing_shorter_is_known() {
    // What `/cat/r/p?...&urlThreshold=50` redirects to: URL executions are recorded from
    // 1 000 ms (CAT's default), so the six long ones of /search count as without it.
    let mut reports = MemoryReports::new(LATER_MS);
    reports.add_trees(&trees(HOUR));
    let board = format!("/p?domain=shop&hour={HOUR_LABEL}");
    let html = page(app_of(reports), &format!("{board}&long_ms=long-url:50")).await;
    let long = category(&html, "long-url");
    assert!(
        hint(long).contains("URL transactions that took 1,000 ms or longer (none shorter is recorded: the 50 ms asked for is under that)"),
        "{long}"
    );
    assert!(
        long.contains("nothing is known of those from the 50 ms asked for up to 1 s"),
        "{long}"
    );
    assert_eq!(count(row(long, "/search")), "6");
    assert!(!long.contains("all long executions of the entries shown"));

    // An hour without long URLs still gets the section, to say so.
    let mut reports = MemoryReports::new(LATER_MS);
    let fast: Vec<MessageTree> = (trees(HOUR).into_iter())
        .filter(|tree| matches!(&tree.root, Message::Transaction(t) if t.name == "/pay"))
        .collect();
    reports.add_trees(&fast);
    let html = page(app_of(reports), &format!("{board}&long_ms=long-url:50")).await;
    let long = category(&html, "long-url");
    assert!(
        long.contains("None took 1 s or longer in the hour of 2026-11-22 07:00 UTC."),
        "{long}"
    );
    assert!(!long.contains("<table"), "{long}");
    // Raising it over nothing says nothing: no section of an empty category.
    let mut reports = MemoryReports::new(LATER_MS);
    reports.add_trees(&fast);
    let html = page(app_of(reports), &format!("{board}&long_ms=long-url:3000")).await;
    assert!(!html.contains("id=\"long-url\""), "{html}");
}

/// Home's "Problems 609" read as 609 errors while most were long executions: errors and
/// long executions are columns of their own, each saying in its tooltip what it counts.
#[tokio::test]
async fn home_labels_the_error_and_long_columns_for_what_they_count() {
    let mut reports = MemoryReports::new(LATER_MS);
    reports.add_trees(&trees(HOUR));
    let html = page(app_of(reports), &format!("/?hour={HOUR_LABEL}")).await;
    assert!(html.contains(">Errors</th>"), "{html}");
    assert!(html.contains(">Long executions</th>"), "{html}");
    assert!(html.contains("They did not fail."), "{html}");
    // Two failed /pay, seven slow /search and /report.
    assert!(html.contains("#error\">2</a>"), "{html}");
    assert!(
        html.contains(&format!("hour={HOUR_LABEL}\">7</a>")),
        "{html}"
    );
}
