//! Gzip for the pages' and the API's answers, for a client that sends
//! `Accept-Encoding: gzip`. A busy domain's `/api/transaction` with its names is megabytes
//! of JSON, which gzip makes about a tenth as large.
//!
//! Design constraints:
//! - The compressed answer is one buffer of known length, so the server's answer budget
//!   (`server.rs`, `AnswerBudget::hold`, which runs after this) counts the bytes it really
//!   holds: the compressed ones. A streaming encoder (tower-http's `CompressionLayer`)
//!   gives a body of unknown length, which the budget lets through uncounted. Buffering
//!   costs nothing extra: our answers are rendered whole before they are sent.
//! - Only answers of known length (of [`MIN_GZIP_BYTES`] or more) and of a text type are
//!   compressed; anything already encoded, streamed, or binary goes as it is.
//! - CAT's router endpoint is not behind this layer: CAT clients read it raw.
//! - Gzip at level 2 ([`GZIP_LEVEL`]): the CPU is the collector's too.
//!
//! Non-goals: brotli or zstd (gzip is what every client takes), ranges.

use std::io::Write as _;

use axum::body::{Body, HttpBody as _};
use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use flate2::write::GzEncoder;
use flate2::Compression;

use crate::cpu::heavy;

/// The gzip level. A domain's `/api/transaction` of 10 000 names (3.9 MB of JSON) went to
/// 1/7 of its size at level 1 (zlib-rs's quick strategy) in 5 ms, 1/11 at level 2 in 8 ms,
/// and 1/11.6 at level 6, the usual default, in 66 ms (release build, this project's
/// 2-core machine): level 2 gives nearly all of the saving for an eighth of the time.
const GZIP_LEVEL: u32 = 2;

/// Answers smaller than this go uncompressed: they fit in a packet or two either way,
/// and gzip's header and the CPU would cost more than the bytes saved.
const MIN_GZIP_BYTES: u64 = 1024;

/// The middleware: gzips the answer when the request accepts it and the answer is worth it
/// (of a text type, of known length and 1 KiB or more, not encoded already), and says
/// `Vary: Accept-Encoding` on every answer that depends on it. The web app has it; the
/// binary puts it on `/metrics` too.
pub async fn gzip_answers(request: Request, next: Next) -> Response {
    let accepted = accepts_gzip(request.headers());
    let response = next.run(request).await;
    if !compressible(&response) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    // A shared cache must not hand the gzipped answer to a client that did not ask for it
    // (sealed hours' answers may be kept five minutes: `api_cache.rs`), nor the other way.
    add_vary_accept_encoding(&mut parts.headers);
    if !accepted {
        return Response::from_parts(parts, body);
    }
    let plain = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(plain) => plain,
        Err(e) => {
            tracing::error!(error = %e, "web server: an answer's body failed");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let compressed = heavy(|| gzip(&plain));
    drop(plain);
    parts.headers.remove(header::CONTENT_LENGTH);
    parts
        .headers
        .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    Response::from_parts(parts, Body::from(compressed))
}

/// Whether `response` is worth compressing: a body of known length, at least
/// [`MIN_GZIP_BYTES`], of a text type, and not encoded already.
fn compressible(response: &Response) -> bool {
    let headers = response.headers();
    let long_enough = (response.body().size_hint().exact()).is_some_and(|n| n >= MIN_GZIP_BYTES);
    long_enough
        && !headers.contains_key(header::CONTENT_ENCODING)
        && (headers.get(header::CONTENT_TYPE))
            .and_then(|value| value.to_str().ok())
            .is_some_and(is_text)
}

/// Whether a `Content-Type` is text that gzip shrinks: pages, JSON, CSS, scripts, SVG.
/// Images and fonts are compressed already. `/metrics` (OpenMetrics text) is 16 KB a
/// scrape, and Prometheus always asks for gzip.
fn is_text(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence.starts_with("text/")
        || essence.ends_with("+json")
        || essence.ends_with("+xml")
        || matches!(
            essence.as_str(),
            "application/json"
                | "application/javascript"
                | "application/xml"
                | "application/openmetrics-text"
        )
}

/// Whether `Accept-Encoding` takes gzip: `gzip` (or `x-gzip`) with a weight above zero,
/// or else `*` with one. No header, or `identity` alone, takes no encoding (RFC 9110
/// 12.5.3). A weight that does not parse counts as zero: when unsure, send it plain.
fn accepts_gzip(headers: &HeaderMap) -> bool {
    let mut gzip = None;
    let mut any = None;
    let codings = (headers.get_all(header::ACCEPT_ENCODING).iter())
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','));
    for coding in codings {
        let mut params = coding.split(';');
        let name = params.next().unwrap_or_default().trim();
        let weight = params
            .find_map(|param| {
                let (key, value) = param.split_once('=')?;
                key.trim()
                    .eq_ignore_ascii_case("q")
                    .then(|| value.trim().parse::<f32>().unwrap_or(0.0))
            })
            .unwrap_or(1.0);
        let takes = weight > 0.0;
        if name.eq_ignore_ascii_case("gzip") || name.eq_ignore_ascii_case("x-gzip") {
            gzip = Some(takes);
        } else if name == "*" {
            any = Some(takes);
        }
    }
    gzip.or(any).unwrap_or(false)
}

/// Adds `accept-encoding` to `Vary`, unless it is there already (or `Vary: *`).
fn add_vary_accept_encoding(headers: &mut HeaderMap) {
    let listed = (headers.get_all(header::VARY).iter())
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .any(|name| name == "*" || name.eq_ignore_ascii_case("accept-encoding"));
    if !listed {
        headers.append(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
}

/// `plain` gzipped at [`GZIP_LEVEL`].
fn gzip(plain: &[u8]) -> Vec<u8> {
    // JSON of reports compresses to about a tenth: start there and let it grow.
    let capacity = plain.len() / 8;
    let mut encoder = GzEncoder::new(Vec::with_capacity(capacity), Compression::new(GZIP_LEVEL));
    encoder
        .write_all(plain)
        .expect("writing into a Vec does not fail");
    encoder.finish().expect("writing into a Vec does not fail")
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;

    use super::*;

    fn accept(values: &[&str]) -> bool {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(
                header::ACCEPT_ENCODING,
                HeaderValue::from_str(value).unwrap(),
            );
        }
        accepts_gzip(&headers)
    }

    #[test]
    fn gzip_is_taken_when_listed_with_a_weight_above_zero_or_under_a_star() {
        for taken in [
            &["gzip"][..],
            &["gzip, deflate, br"],
            &["br;q=1.0, GZIP;q=0.5"],
            &["x-gzip"],
            &["*"],
            &["deflate", "gzip"],
            &["gzip ; q=0.001"],
        ] {
            assert!(accept(taken), "{taken:?}");
        }
        for refused in [
            &[][..],
            &["identity"],
            &["br, deflate"],
            &["gzip;q=0"],
            &["gzip;q=0.000, *"],
            &["*;q=0"],
            &["gzip;q=nonsense"],
            &[""],
        ] {
            assert!(!accept(refused), "{refused:?}");
        }
    }

    #[test]
    fn text_types_are_compressed_and_binary_ones_are_not() {
        for text in [
            "application/json",
            "text/html; charset=utf-8",
            "text/css",
            "application/javascript",
            "image/svg+xml",
            "Application/JSON",
        ] {
            assert!(is_text(text), "{text}");
        }
        for binary in ["image/png", "font/woff2", "application/octet-stream", ""] {
            assert!(!is_text(binary), "{binary}");
        }
    }

    #[test]
    fn gzip_roundtrips() {
        let plain = br#"{"name":"user-00001","count":1}"#.repeat(100);
        let mut back = Vec::new();
        let compressed = gzip(&plain);
        flate2::bufread::GzDecoder::new(&compressed[..])
            .take(1 << 20)
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, plain);
    }
}
