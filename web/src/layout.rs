//! The page frame every HTML page shares: header, navigation, the message-ID search box,
//! and the embedded stylesheet and icon.
//!
//! Design constraints: no CDN, no web fonts, no JavaScript needed to read a page; assets
//! are `include_str!`ed so the binary works offline.

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use maud::{html, Markup, PreEscaped, DOCTYPE};

use ocelot_analyzer::{hour_label, Span};

use crate::board::build_url;
use crate::state::AppState;

/// The stylesheet, compiled into the binary.
const STYLESHEET: &str = include_str!("../assets/ocelot.css");
/// The boards' optional script, compiled into the binary.
const BOARD_SCRIPT: &str = include_str!("../assets/board.js");
/// Where the script is served.
const BOARD_SCRIPT_PATH: &str = "/assets/board.js";
/// The icon, compiled into the binary (an SVG, so no favicon.ico request fails).
const FAVICON: &str = include_str!("../assets/favicon.svg");
/// Where the stylesheet is served. The version query lets browsers cache it for long.
const STYLESHEET_PATH: &str = "/assets/ocelot.css";
/// Where the icon is served.
const FAVICON_PATH: &str = "/assets/favicon.svg";
/// Assets never change within one binary; a day of caching spares repeat requests.
const ASSET_CACHE_CONTROL: &str = "public, max-age=86400";

/// The main navigation: path, label, and what the link keeps of the page it is on. Pages
/// pass their path to highlight it.
const NAV: [(&str, &str, Keeps); 10] = [
    ("/", "Home", Keeps::Hour),
    ("/t", "Transactions", Keeps::DomainPeriodAndMachine),
    ("/e", "Events", Keeps::DomainPeriodAndMachine),
    ("/p", "Problems", Keeps::DomainPeriodAndMachine),
    ("/h", "Heartbeats", Keeps::DomainAndMachine),
    // Metrics are the whole domain's: `/metric` answers a machine with a 400.
    ("/metric", "Metrics", Keeps::Domain),
    ("/d", "Dependencies", Keeps::Domain),
    // The whole domain's, as metrics are.
    ("/matrix", "Matrix", Keeps::Domain),
    // The collector's, not a domain's; the domain rides along so that the way back to a
    // board shows the same domain.
    ("/state", "State", Keeps::Domain),
    (ALERTS_PATH, "Alerts", Keeps::Nothing),
];

/// The Alerts page: its nav link counts the rules firing.
const ALERTS_PATH: &str = "/alerts";

/// The class of the nav's Alerts link: `active` on its page, `firing` while rules fire.
fn nav_class(active: bool, firing: bool) -> Option<&'static str> {
    match (active, firing) {
        (true, true) => Some("active firing"),
        (true, false) => Some("active"),
        (false, true) => Some("firing"),
        (false, false) => None,
    }
}

/// What a nav link takes from the report page it is on, as CAT's navigation does: from a
/// domain's transactions of an hour, "Heartbeats" opens that domain's heartbeats of that
/// hour, not another domain's of the current hour. A target that shows hours only gets
/// the hour of a board of days ([`Shown::hour`]).
#[derive(Debug, Clone, Copy)]
enum Keeps {
    /// Nothing: the alerts are of no hour.
    Nothing,
    /// The hour: a page of every domain.
    Hour,
    /// The domain and the hour.
    Domain,
    /// The domain, the hour and the machine: a board with a machine selector.
    DomainAndMachine,
    /// The domain, the period (the hour, or the day, week or month) and the machine.
    DomainPeriodAndMachine,
}

/// A page's title, and on a report page what it shows, which the nav links keep
/// ([`Keeps`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct PageTitle {
    /// The text of `<title>`, before " · Ocelot".
    pub(crate) text: String,
    /// What the page shows, for the nav links.
    pub(crate) shows: Shown,
}

impl PageTitle {
    /// A title of a page that shows no domain or period: its nav links are bare.
    pub(crate) fn plain(text: &str) -> Self {
        PageTitle {
            text: text.to_owned(),
            shows: Shown::default(),
        }
    }
}

/// The domain, period and machine a report page shows. Empty, the nav links are bare.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Shown {
    /// The domain, `""` for none.
    pub(crate) domain: String,
    /// The hour, `None` for the current one: links leave it out, so that a page left open
    /// past the top of the hour still leads to the live hour, as its home cards do. On a
    /// board of days, the hour its "Hour view" opens, for the boards of hours only.
    pub(crate) hour: Option<u64>,
    /// The days shown, on a board of a day, week or month.
    pub(crate) span: Option<Span>,
    /// The machine, `None` for all.
    pub(crate) ip: Option<String>,
}

impl Shown {
    /// The nav link to `path`, keeping what `keeps` says of this page.
    fn link(&self, path: &str, keeps: Keeps) -> String {
        let hour = self.hour.map(hour_label).unwrap_or_default();
        let (days, machine) = match keeps {
            Keeps::Nothing => return path.to_owned(),
            Keeps::Hour => return build_url(path, &[("hour", &hour)]),
            Keeps::Domain => (false, false),
            Keeps::DomainAndMachine => (false, true),
            Keeps::DomainPeriodAndMachine => (true, true),
        };
        let (period, label) = match self.span {
            Some(span) if days => (span.kind(), span.label()),
            _ => ("hour", hour),
        };
        let ip = self.ip.as_deref().filter(|_| machine).unwrap_or_default();
        // Empty values (no domain, the current hour, all machines) are left out.
        build_url(
            path,
            &[("domain", &self.domain), (period, &label), ("ip", ip)],
        )
    }
}

/// Routes for the embedded assets.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route(STYLESHEET_PATH, get(stylesheet))
        .route(FAVICON_PATH, get(favicon))
        .route(BOARD_SCRIPT_PATH, get(board_script))
}

async fn board_script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, ASSET_CACHE_CONTROL),
        ],
        BOARD_SCRIPT,
    )
}

async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, ASSET_CACHE_CONTROL),
        ],
        STYLESHEET,
    )
}

async fn favicon() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, ASSET_CACHE_CONTROL),
        ],
        FAVICON,
    )
}

/// A whole HTML page: `title` goes into `<title>` and its nav links keep what it shows,
/// `active` is the nav path to highlight (`""` for none), `content` is the page body.
pub(crate) fn page(title: &PageTitle, active: &str, content: Markup) -> Markup {
    page_of(title, active, "", content)
}

/// A page with `search` prefilled in the search box.
pub(crate) fn page_with_search(
    title: &PageTitle,
    active: &str,
    search: &str,
    content: Markup,
) -> Markup {
    page_of(title, active, search, content)
}

fn page_of(title: &PageTitle, active: &str, search: &str, content: Markup) -> Markup {
    let shows = &title.shows;
    // The server's health as last sampled (none outside a request, or never sampled).
    let health = crate::health::page_health();
    let health = health.as_deref();
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title.text) " · Ocelot" }
                link rel="stylesheet" href=(STYLESHEET_PATH);
                link rel="icon" type="image/svg+xml" href=(FAVICON_PATH);
                script src=(BOARD_SCRIPT_PATH) defer {}
            }
            body {
                header.topbar {
                    a.brand href="/" {
                        img src=(FAVICON_PATH) alt="" width="28" height="28";
                        span { "Ocelot" }
                    }
                    nav.mainnav aria-label="Reports" {
                        @for (path, label, keeps) in NAV {
                            @if path == ALERTS_PATH {
                                a href=(shows.link(path, keeps))
                                    class=[nav_class(path == active, health.is_some_and(|h| !h.firing.is_empty()))] {
                                    (crate::health::alerts_label(health))
                                }
                            } @else {
                                a href=(shows.link(path, keeps)) class=[(path == active).then_some("active")] { (label) }
                            }
                        }
                    }
                    (search_form(search))
                }
                @if let Some(health) = health {
                    (crate::health::banner(health))
                }
                main.content {
                    (content)
                }
                footer.footer {
                    "Ocelot · CAT-compatible monitoring · "
                    a href="/cat/s/router?op=json" { "router" }
                }
            }
        }
    };
    PreEscaped(show_control_characters(page.into_string()))
}

/// `html` with every control character but tab, line feed and carriage return written out
/// as `\u{..}` (NUL as `\u{0}`).
///
/// Pages echo what they are given: a parameter (`type=%00`) in a heading, an error message,
/// the search box or a form field, and a message's type, name or data. Raw, such a character
/// shows as nothing (a browser drops NUL, or reads it as U+FFFD in an attribute), so
/// `type=a%00b` read as "ab"; written out, the page says what it was asked. Our templates
/// hold none and URLs are percent-encoded, so each one replaced came from such text, and
/// `\u{..}` needs no escaping in text or in an attribute value. The trade-off: a hidden form
/// field carrying one now carries its escape, so submitting the form asks for that text
/// (HTML cannot carry a NUL back in any case).
fn show_control_characters(html: String) -> String {
    // Bytes first: control characters are bytes below 0x20, 0x7F, or U+0080..U+009F, whose
    // UTF-8 is 0xC2 then 0x80..0x9F (every page's "·" is 0xC2 0xB7, which is not one).
    let bytes = html.as_bytes();
    let suspect = |(i, &b): (usize, &u8)| {
        (b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r'))
            || b == 0x7F
            || (b == 0xC2
                && bytes
                    .get(i + 1)
                    .is_some_and(|next| (0x80..0xA0).contains(next)))
    };
    if !bytes.iter().enumerate().any(suspect) {
        return html;
    }
    let mut shown = String::with_capacity(html.len() + 16);
    for c in html.chars() {
        if c.is_control() && !matches!(c, '\t' | '\n' | '\r') {
            shown.extend(c.escape_unicode());
        } else {
            shown.push(c);
        }
    }
    shown
}

/// The message-ID search box (GET `/search?id=`).
fn search_form(value: &str) -> Markup {
    html! {
        form.search role="search" method="get" action="/search" {
            label.visually-hidden for="search-id" { "Message ID" }
            input #search-id type="search" name="id" value=(value)
                placeholder="Find a message by ID"
                autocomplete="off" spellcheck="false" required;
            button type="submit" { "Find" }
        }
    }
}

/// A page for a request that cannot be answered: a big status line, what happened, and
/// where to go next.
pub(crate) fn error_page(status: u16, title: &str, detail: &str, search: &str) -> Markup {
    page_with_search(
        &PageTitle::plain(title),
        "",
        search,
        html! {
            section.error-card {
                p.error-status { (status) }
                h1 { (title) }
                p.error-detail { (detail) }
                p {
                    "Paste a message ID into the search box above, or go back to the "
                    a href="/" { "home page" } "."
                }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_highlights_the_active_nav_entry_and_has_a_search_box() {
        let html = page(&PageTitle::plain("Events"), "/e", html! { p { "hi" } }).into_string();
        assert!(html.contains(r#"<a href="/e" class="active">Events</a>"#));
        assert!(html.contains(r#"<a href="/t">Transactions</a>"#));
        assert!(html.contains(r#"action="/search""#));
        assert!(html.contains("<title>Events · Ocelot</title>"));
    }

    #[test]
    fn nav_links_keep_what_each_target_shows_of_the_page() {
        let shows = |span, ip: Option<&str>| Shown {
            domain: "a b".to_owned(),
            hour: Some(498_703),
            span,
            ip: ip.map(str::to_owned),
        };
        let hour = shows(None, Some("10.0.0.1"));
        let links: Vec<String> = (NAV.iter())
            .map(|(path, _, keeps)| hour.link(path, *keeps))
            .collect();
        assert_eq!(
            links,
            [
                "/?hour=2026112207",
                "/t?domain=a%20b&hour=2026112207&ip=10.0.0.1",
                "/e?domain=a%20b&hour=2026112207&ip=10.0.0.1",
                "/p?domain=a%20b&hour=2026112207&ip=10.0.0.1",
                "/h?domain=a%20b&hour=2026112207&ip=10.0.0.1",
                "/metric?domain=a%20b&hour=2026112207",
                "/d?domain=a%20b&hour=2026112207",
                "/matrix?domain=a%20b&hour=2026112207",
                "/state?domain=a%20b&hour=2026112207",
                "/alerts",
            ]
        );
        // A week: the boards of days keep it, the others open its "Hour view" hour.
        let week = shows(Some(Span::week_of(498_703 / 24)), None);
        assert_eq!(week.link("/e", NAV[2].2), "/e?domain=a%20b&week=20261121");
        assert_eq!(week.link("/h", NAV[4].2), "/h?domain=a%20b&hour=2026112207");
        // The current hour is left out; a page of no domain keeps none.
        let current = Shown::default();
        assert_eq!(current.link("/", NAV[0].2), "/");
        assert_eq!(current.link("/t", NAV[1].2), "/t");
    }

    #[test]
    fn page_links_only_embedded_assets() {
        let html = page(&PageTitle::plain("x"), "", html! {}).into_string();
        assert!(!html.contains("http://") && !html.contains("https://"));
    }

    #[test]
    fn control_characters_are_written_out_and_other_text_is_kept() {
        let shown = |text: &str| show_control_characters(text.to_owned());
        assert_eq!(shown("a\0b"), "a\\u{0}b");
        assert_eq!(shown("\u{1b}[31m\u{7f}\u{85}"), "\\u{1b}[31m\\u{7f}\\u{85}");
        for kept in ["line\none\ttab\r", "café · ©\u{a0}€", "<p>plain</p>", ""] {
            assert_eq!(shown(kept), kept);
        }
    }

    #[test]
    fn error_page_shows_control_characters_it_echoes() {
        let html = error_page(400, "Bad \u{1}", "“a\0b” is bad", "a\0b").into_string();
        assert!(!html.contains(['\0', '\u{1}']), "{html}");
        assert!(
            html.contains("<title>Bad \\u{1} · Ocelot</title>"),
            "{html}"
        );
        assert!(html.contains("“a\\u{0}b” is bad"), "{html}");
        assert!(html.contains(r#"value="a\u{0}b""#), "{html}");
    }

    #[test]
    fn error_page_escapes_the_prefilled_search() {
        let html = error_page(400, "Bad", "d", "\"><script>").into_string();
        assert!(!html.contains("<script>"));
        assert!(html.contains("&quot;&gt;&lt;script&gt;"));
    }
}
