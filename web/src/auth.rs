//! Optional authentication: a bearer token for `/api/...`, HTTP basic auth for pages.
//!
//! Applied as a layer over every route except CAT's router endpoint (clients cannot log
//! in). Secrets are compared in constant time. Non-goals: sessions, users, roles; put a
//! reverse proxy in front for those.

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::layout::error_page;
use crate::state::{AppState, AuthConfig, BasicCredentials};

/// The realm browsers show in their login prompt.
const BASIC_CHALLENGE: &str = "Basic realm=\"Ocelot\", charset=\"UTF-8\"";

/// The middleware: lets the request through or answers 401.
pub(crate) async fn require_auth(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    // `/api` itself too: it got the pages' HTML 401 and Basic challenge.
    let is_api = crate::api::is_api_path(request.uri().path());
    match check(&state.auth, is_api, request.headers()) {
        Ok(()) => next.run(request).await,
        Err(()) if is_api => (
            [(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"))],
            ApiError::Unauthorized,
        )
            .into_response(),
        Err(()) => (
            StatusCode::UNAUTHORIZED,
            [(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(BASIC_CHALLENGE),
            )],
            error_page(
                401,
                "Please log in",
                "This Ocelot server needs a user name and password.",
                "",
            ),
        )
            .into_response(),
    }
}

/// Whether `headers` satisfy `auth` for a page (`is_api == false`) or API request.
fn check(auth: &AuthConfig, is_api: bool, headers: &HeaderMap) -> Result<(), ()> {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok());
    let basic_ok = |creds: &BasicCredentials| {
        given
            .and_then(|g| credentials_of(g, "Basic"))
            .is_some_and(|b64| constant_time_eq(b64.as_bytes(), basic_token(creds).as_bytes()))
    };
    let bearer_ok = |token: &str| {
        given
            .and_then(|g| credentials_of(g, "Bearer"))
            .is_some_and(|t| constant_time_eq(t.as_bytes(), token.as_bytes()))
    };
    let allowed = if is_api {
        match (&auth.api_token, &auth.basic) {
            (None, None) => true,
            (token, basic) => {
                token.as_deref().is_some_and(bearer_ok) || basic.as_ref().is_some_and(basic_ok)
            }
        }
    } else {
        auth.basic.as_ref().is_none_or(basic_ok)
    };
    if allowed {
        Ok(())
    } else {
        Err(())
    }
}

/// The credentials of an `Authorization` value of `scheme`: the scheme is matched without
/// regard to case (RFC 9110 §11.1: some clients and proxies send `bearer`), then one or
/// more spaces, then the credentials (trimmed).
fn credentials_of<'a>(value: &'a str, scheme: &str) -> Option<&'a str> {
    let (given, rest) = value.split_once(' ')?;
    given
        .eq_ignore_ascii_case(scheme)
        .then(|| rest.trim())
        .filter(|credentials| !credentials.is_empty())
}

/// Equal-length inputs take the same time whatever their content, so response timing does
/// not reveal how much of a guess was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `base64(user:password)`, what a browser sends after `Basic `.
fn basic_token(creds: &BasicCredentials) -> String {
    base64_encode(format!("{}:{}", creds.username, creds.password).as_bytes())
}

/// Standard base64 with padding. Twenty lines instead of a dependency: we only encode the
/// configured credentials and compare, never decode what a client sends.
fn base64_encode(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> shift) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The startup warning for a server anyone on the network can read, if this is one: on a
/// non-loopback address, pages without basic-auth credentials are open (and the API too
/// when no token is set either).
pub(crate) fn exposure_warning(addr: std::net::SocketAddr, auth: &AuthConfig) -> Option<String> {
    if addr.ip().is_loopback() || auth.basic.is_some() {
        return None;
    }
    let what = if auth.api_token.is_some() {
        "the web pages (LogView shows whole message trees)"
    } else {
        "the web pages and the JSON API"
    };
    Some(format!(
        "the web server listens on {addr}, which is not a loopback address, and no basic-auth \
         credentials are configured: anyone who can reach this address can read {what}. \
         Configure credentials, or listen on 127.0.0.1."
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_encode_matches_rfc_4648_vectors() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in cases {
            assert_eq!(base64_encode(plain.as_bytes()), encoded);
        }
        assert_eq!(
            basic_token(&BasicCredentials::new("Aladdin", "open sesame")),
            "QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
    }

    #[test]
    fn exposure_warning_fires_for_open_pages_on_non_loopback_addresses() {
        let open = AuthConfig::default();
        assert!(exposure_warning("0.0.0.0:8080".parse().unwrap(), &open).is_some());
        assert!(exposure_warning("127.0.0.1:8080".parse().unwrap(), &open).is_none());
        assert!(exposure_warning("[::1]:8080".parse().unwrap(), &open).is_none());
        let token_only = AuthConfig {
            api_token: Some("t".into()),
            basic: None,
        };
        let warning = exposure_warning("0.0.0.0:8080".parse().unwrap(), &token_only).unwrap();
        assert!(warning.contains("web pages") && !warning.contains("JSON API"));
        let locked = AuthConfig {
            api_token: None,
            basic: Some(BasicCredentials::new("u", "p")),
        };
        assert!(exposure_warning("0.0.0.0:8080".parse().unwrap(), &locked).is_none());
    }

    #[test]
    fn constant_time_eq_compares_content_and_length() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
