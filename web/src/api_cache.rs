//! `Cache-Control` on the JSON API's answers. A report of an hour (day, week, month) that
//! is over for good, sealed by the collector, never changes: its answer may be reused for
//! [`FINAL_MAX_AGE_SECS`], so a dashboard of thirty panels refreshing every few seconds
//! does not rebuild the same sealed hours each time. Everything else (the open hour,
//! `current`, lists, alerts, errors) is `no-cache`: always asked again.

use axum::extract::{Query, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use ocelot_protocol::MILLIS_PER_HOUR;

use crate::api::is_api_path;
use crate::day_cache::FINAL_AFTER_MS;
use crate::selection::ReportParams;
use crate::state::AppState;

/// How long a sealed period's answer may be reused: five minutes. It never changes; the
/// bound only lets a deleted hour (retention) or a restarted server's answer be seen.
const FINAL_MAX_AGE_SECS: u64 = 300;

/// The middleware, for API paths: `max-age` on a 200 for a period that is over for good, else
/// `no-cache`.
pub(crate) async fn api_cache_control(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if !is_api_path(request.uri().path()) {
        return next.run(request).await;
    }
    let final_period = Query::<ReportParams>::try_from_uri(request.uri())
        .ok()
        .and_then(|Query(params)| params.period(state.reports.now_ms(), false).ok())
        .and_then(|period| period.hours().end.checked_mul(MILLIS_PER_HOUR))
        .and_then(|end_ms| end_ms.checked_add(FINAL_AFTER_MS))
        .is_some_and(|final_from| final_from <= state.reports.now_ms());
    let mut response = next.run(request).await;
    let value = if final_period && response.status() == StatusCode::OK {
        HeaderValue::from_str(&format!("max-age={FINAL_MAX_AGE_SECS}"))
            .expect("digits are a valid header value")
    } else {
        HeaderValue::from_static("no-cache")
    };
    response.headers_mut().insert(header::CACHE_CONTROL, value);
    response
}
