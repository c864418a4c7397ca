//! How CAT's reports name what they count, where a client needs the same rule: the SDK's
//! sampling aggregator must name a transaction it adds up as the collector's Transaction
//! report names it (reference 6.2), or the aggregated counts would land under other names.

use std::borrow::Cow;

/// The longest domain a collector takes, in bytes. The store names a folder after it; real
/// CAT domains are short app names, and 128 stays far below file system limits (255).
pub const MAX_DOMAIN_BYTES: usize = 128;

/// What is wrong with `domain` as a collector takes it, or `None`: 1 to
/// [`MAX_DOMAIN_BYTES`] bytes of printable ASCII (0x20..=0x7e, CAT's `DomainValidator`
/// range) except `/` and `\`, not starting with `.` (no `.`, `..`, hidden or temporary
/// folder names). The collector refuses a tree whose domain fails it; the SDK checks its
/// own domain with it, so the two cannot disagree.
pub fn domain_problem(domain: &str) -> Option<&'static str> {
    if domain.is_empty() {
        Some("is empty")
    } else if domain.len() > MAX_DOMAIN_BYTES {
        Some("is longer than 128 bytes")
    } else if domain.starts_with('.') {
        Some("starts with '.'")
    } else if domain.bytes().any(|b| b == b'/' || b == b'\\') {
        Some("contains a path separator")
    } else if domain.bytes().any(|b| !(0x20..=0x7e).contains(&b)) {
        Some("contains a byte outside printable ASCII")
    } else {
        None
    }
}

/// `/order/123/x` -> `/order/{num}/x`: every segment after a `/` made only of
/// `0-9 . - ,` becomes `{num}` (the report does this to a tree's first URL transaction,
/// when no `System/UploadMetric*` transaction comes before it).
/// As in CAT's `UrlParser.format`, the text before the first `/` is kept as it is.
#[inline]
pub fn normalize_url(name: &str) -> Cow<'_, str> {
    let numeric_byte = |b: &u8| matches!(b, b'0'..=b'9' | b'.' | b'-' | b',');
    let numeric = |s: &str| !s.is_empty() && s.bytes().all(|b| numeric_byte(&b));
    // Every tree's URL root comes here and most names have no numeric segment: decide in
    // one pass over the bytes (`all` stops at a segment's first letter); only a name that
    // changes allocates.
    let any_numeric = name
        .as_bytes()
        .split(|&b| b == b'/')
        .skip(1)
        .any(|segment| !segment.is_empty() && segment.iter().all(numeric_byte));
    if !any_numeric {
        return Cow::Borrowed(name);
    }
    let segments: Vec<&str> = name
        .split('/')
        .enumerate()
        .map(|(i, s)| if i > 0 && numeric(s) { "{num}" } else { s })
        .collect();
    Cow::Owned(segments.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_url_segments_become_placeholders() {
        assert_eq!(normalize_url("/order/123/x"), "/order/{num}/x");
        assert_eq!(normalize_url("/a/1.5,2-3/b/"), "/a/{num}/b/");
        assert_eq!(normalize_url("/api/v2/order"), "/api/v2/order");
        assert_eq!(normalize_url("/7"), "/{num}");
        assert_eq!(normalize_url("/-/"), "/{num}/");
        assert_eq!(normalize_url("//a1"), "//a1");
        assert!(matches!(normalize_url("/plain"), Cow::Borrowed(_)));
        assert!(matches!(
            normalize_url("/api/endpoint-17"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn the_text_before_the_first_slash_is_kept_as_cat_keeps_it() {
        // CAT's `UrlParser.format` rewrites only a segment that follows a `/`: a name
        // without a leading slash (a host, a bare number) keeps its first segment.
        assert_eq!(normalize_url("7"), "7");
        assert_eq!(normalize_url("10.0.0.1/api/42"), "10.0.0.1/api/{num}");
        assert!(matches!(normalize_url("10.0.0.1/api"), Cow::Borrowed(_)));
    }
}
