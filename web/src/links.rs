//! URLs between pages. Message IDs carry the domain, which may hold any printable ASCII
//! (`/`, `?`, `#`, spaces), so IDs are percent-encoded before they go into a path.

use std::fmt::Write as _;

/// `s` percent-encoded for use as one path segment or query value: everything but the
/// RFC 3986 unreserved characters (`A-Z a-z 0-9 - . _ ~`) is encoded, byte by byte.
pub(crate) fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    write_component(&mut out, s);
    out
}

/// Appends `s` percent-encoded (see [`encode_component`]) to `out`.
pub(crate) fn write_component(out: &mut String, s: &str) {
    for byte in s.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            write!(out, "%{byte:02X}").expect("writing to a String cannot fail");
        }
    }
}

/// A string spliced into markup percent-encoded, without an intermediate `String`: big
/// tables write one link per row. The output holds only unreserved characters and `%XX`,
/// so it needs no HTML escaping.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Encoded<'a>(pub(crate) &'a str);

impl maud::Render for Encoded<'_> {
    fn render_to(&self, buffer: &mut String) {
        write_component(buffer, self.0);
    }
}

/// The id of an element that in-page links (`#<id>`) jump to, made of `prefix` and `key`.
/// Keys are client data (spaces, `#`, `%`, quotes, any Unicode), so `key` is
/// percent-encoded as [`encode_component`] does: the id holds only unreserved characters and
/// `%XX`, so it is a valid id (no whitespace) that needs no HTML escaping, distinct keys give
/// distinct ids, and the URL parser leaves the fragment `#<id>` as written, which browsers
/// match to an id before they try it percent-decoded (HTML, "find a potential indicated
/// element"). An id holding the key as it is would break that: the link of `a b` would
/// reach the element of `a%20b`.
pub(crate) fn anchor_id(prefix: &str, key: &str) -> String {
    let mut id = String::with_capacity(prefix.len() + key.len());
    id.push_str(prefix);
    write_component(&mut id, key);
    id
}

/// The LogView page of a message ID.
pub(crate) fn logview_url(id: &str) -> String {
    format!("/m/{}", encode_component(id))
}

/// The trace page of a message ID: its tree with the trees linked to it.
pub(crate) fn trace_url(id: &str) -> String {
    format!("/trace/{}", encode_component(id))
}

/// The JSON of the trace of a message ID.
pub(crate) fn api_trace_url(id: &str) -> String {
    format!("/api/trace?id={}", encode_component(id))
}

/// The JSON of a message ID's tree.
pub(crate) fn api_message_url(id: &str) -> String {
    format!("/api/message/{}", encode_component(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logview_url_keeps_ordinary_ids_readable() {
        assert_eq!(
            logview_url("shop-c0a8010a-498703-42"),
            "/m/shop-c0a8010a-498703-42"
        );
    }

    #[test]
    fn encoded_splices_write_the_same_as_encode_component() {
        let id = "a/b?c#d e<>&\"-7f000001-1-2";
        assert_eq!(
            maud::html! { (Encoded(id)) }.into_string(),
            encode_component(id)
        );
    }

    #[test]
    fn anchor_ids_are_valid_and_distinct_for_any_key() {
        let keys = [
            "a b",
            "a%20b",
            "#x",
            "50%",
            "say \"hi\"",
            "<b>",
            "延迟",
            "error",
        ];
        let ids: Vec<String> = keys.iter().map(|key| anchor_id("metric-", key)).collect();
        for id in &ids {
            assert!(
                id.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b)),
                "{id}"
            );
        }
        let distinct: std::collections::BTreeSet<&String> = ids.iter().collect();
        assert_eq!(distinct.len(), keys.len());
        assert_eq!(anchor_id("metric-", "a b"), "metric-a%20b");
        assert_eq!(
            anchor_id("", "long-url"),
            "long-url",
            "plain keys stay readable"
        );
    }

    #[test]
    fn logview_url_encodes_path_breaking_characters_of_domains() {
        assert_eq!(
            logview_url("a/b?c#d e-7f000001-1-2"),
            "/m/a%2Fb%3Fc%23d%20e-7f000001-1-2"
        );
        assert_eq!(encode_component("é"), "%C3%A9");
    }
}
