//! Opt-in CORS for the JSON API, so that a browser-side client (a Grafana datasource in
//! browser mode) on another origin can read it: [`AppState::with_cors_allow_origins`]
//! lists the origins allowed (`*` for any); with none, the API answers as before and
//! browsers keep other origins out.
//!
//! For `/api` and `/api/...` only: the pages are for people on this origin. A preflight
//! (`OPTIONS` with `Access-Control-Request-Method`) from an allowed origin gets a 204
//! allowing `GET` and `HEAD` with an `Authorization` header, before the login check:
//! browsers send no credentials with a preflight. Every API answer to an allowed origin,
//! 401s and 400s too, carries `Access-Control-Allow-Origin`, so the client can read
//! what went wrong. Credentials are never allowed (`Access-Control-Allow-Credentials`):
//! the API's bearer token is sent as a header the page sets, not as a cookie.
//!
//! [`AppState::with_cors_allow_origins`]: crate::AppState::with_cors_allow_origins

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::api::is_api_path;
use crate::state::AppState;

/// The origin entry that allows any origin.
pub(crate) const ANY_ORIGIN: &str = "*";

/// How long a browser may reuse a preflight's answer: ten minutes, Chromium's own cap.
const PREFLIGHT_MAX_AGE_SECS: &str = "600";

/// The middleware: answers allowed preflights for the API and marks its answers to
/// allowed origins; everything else goes on untouched.
pub(crate) async fn api_cors(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let origins = &state.cors_allow_origins;
    if origins.is_empty() || !is_api_path(request.uri().path()) {
        return next.run(request).await;
    }
    let allowed = request
        .headers()
        .get(header::ORIGIN)
        .and_then(|origin| allow_origin(origins, origin));
    let preflight = request.method() == Method::OPTIONS
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut response = match (&allowed, preflight) {
        (Some(_), true) => {
            let mut response = StatusCode::NO_CONTENT.into_response();
            let headers = response.headers_mut();
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("GET, HEAD"),
            );
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static("Authorization"),
            );
            headers.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static(PREFLIGHT_MAX_AGE_SECS),
            );
            response
        }
        _ => next.run(request).await,
    };
    // The answer depends on the origin: caches must not hand one origin's to another.
    response
        .headers_mut()
        .append(header::VARY, HeaderValue::from_static("Origin"));
    if let Some(allowed) = allowed {
        response
            .headers_mut()
            .insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allowed);
    }
    response
}

/// The `Access-Control-Allow-Origin` for `origin`: `*` when any origin is allowed, the
/// origin itself when it is listed (compared without regard to case, as hosts are), else
/// `None`.
fn allow_origin(origins: &[String], origin: &HeaderValue) -> Option<HeaderValue> {
    if origins.iter().any(|o| o == ANY_ORIGIN) {
        return Some(HeaderValue::from_static(ANY_ORIGIN));
    }
    let given = origin.to_str().ok()?;
    (origins.iter())
        .any(|o| o.trim_end_matches('/').eq_ignore_ascii_case(given))
        .then(|| origin.clone())
}
