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

/// The main navigation: path and label. Pages pass their path to highlight it.
pub(crate) const NAV: [(&str, &str); 9] = [
    ("/", "Home"),
    ("/t", "Transactions"),
    ("/e", "Events"),
    ("/p", "Problems"),
    ("/h", "Heartbeats"),
    ("/metric", "Metrics"),
    ("/d", "Dependencies"),
    ("/state", "State"),
    ("/alerts", "Alerts"),
];

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

/// A whole HTML page: `title` goes into `<title>` and the heading, `active` is the nav
/// path to highlight (`""` for none), `content` is the page body.
pub(crate) fn page(title: &str, active: &str, content: Markup) -> Markup {
    page_with_search(title, active, "", content)
}

/// Like [`page`], with `search` prefilled in the search box.
pub(crate) fn page_with_search(title: &str, active: &str, search: &str, content: Markup) -> Markup {
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Ocelot" }
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
                        @for (path, label) in NAV {
                            a href=(path) class=[(path == active).then_some("active")] { (label) }
                        }
                    }
                    (search_form(search))
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
        title,
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
        let html = page("Events", "/e", html! { p { "hi" } }).into_string();
        assert!(html.contains(r#"<a href="/e" class="active">Events</a>"#));
        assert!(html.contains(r#"<a href="/t">Transactions</a>"#));
        assert!(html.contains(r#"action="/search""#));
        assert!(html.contains("<title>Events · Ocelot</title>"));
    }

    #[test]
    fn page_links_only_embedded_assets() {
        let html = page("x", "", html! {}).into_string();
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
