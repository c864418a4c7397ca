//! How handlers fail: [`ApiError`] answers JSON (`{"error":"..","code":"..","message":".."}`),
//! [`PageError`] answers a friendly HTML page. Bad input maps to 4xx with a message saying
//! what was wrong; internal failures map to 500 with a generic message while the detail
//! goes to the log, except damaged data (a stored report or tree that cannot be read), a
//! 500 that says so: "something went wrong" sent people looking for a bug, and an empty
//! answer read as "no traffic".
//!
//! An API error's `code` is for programs, and stays as it is: a client tells "nothing was
//! sent that hour" (`no_data`) from a typo (`not_found`, `bad_parameter`) without parsing
//! English. `message` is for people and may be reworded. `error` holds the same text as
//! `message`: it was the only field before the other two, and clients read it.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::layout::error_page;

/// What the user sees instead of the detail of an internal failure.
const INTERNAL_MESSAGE: &str = "Something went wrong on the server; the details are in its log.";

/// Lines about internal failures let through per [`INTERNAL_LOG_INTERVAL`], pages and API
/// together; the rest are counted, and the next line says how many were held back. A
/// damaged stored tree fails every lookup of it: a crawler or a page reloading it logged
/// an ERROR line per request (110 lookups, 110 lines), and the store warns of the damage
/// itself, throttled.
const INTERNAL_LOG_BURST: u64 = 5;
/// See [`INTERNAL_LOG_BURST`].
const INTERNAL_LOG_INTERVAL: Duration = Duration::from_secs(60);

/// The current interval of [`log_internal`]: when it began, lines let through, lines held
/// back since the last one let through. The collector's `RateLimitedLog` does the same for
/// its warnings; this crate does not depend on the collector.
static INTERNAL_LOG: Mutex<(Option<Instant>, u64, u64)> = Mutex::new((None, 0, 0));

/// Calls `emit(suppressed)` if an internal failure may be logged now (see
/// [`INTERNAL_LOG_BURST`]), else counts it.
fn log_internal(emit: impl FnOnce(u64)) {
    let now = Instant::now();
    let allowed = {
        // Poisoned only by a panic between two counter updates: a count off by one.
        let mut window = INTERNAL_LOG.lock().unwrap_or_else(|e| e.into_inner());
        let (started, logged, suppressed) = &mut *window;
        if started.is_none_or(|s| now.saturating_duration_since(s) >= INTERNAL_LOG_INTERVAL) {
            *started = Some(now);
            *logged = 0;
        }
        if *logged < INTERNAL_LOG_BURST {
            *logged += 1;
            Some(std::mem::take(suppressed))
        } else {
            *suppressed += 1;
            None
        }
    };
    if let Some(suppressed) = allowed {
        emit(suppressed);
    }
}

/// A failed JSON API request. Each variant answers one status and one `code`
/// ([`ApiError::code`]); README.md lists the codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ApiError {
    /// The request was malformed (400, `bad_parameter`).
    BadRequest(String),
    /// A parameter the endpoint does not take (400, `bad_parameter`): the body also names
    /// it (`param`) and lists those it takes (`takes`).
    NotTaken {
        /// What was wrong, for people.
        message: String,
        /// The parameter refused.
        param: String,
        /// The parameters the endpoint takes.
        takes: &'static [&'static str],
    },
    /// The credentials are missing or wrong (401, `unauthorized`).
    Unauthorized,
    /// Nothing was recorded for what was asked: an hour or day without data (or not begun),
    /// a domain without a report in it (404, `no_data`).
    NoData(String),
    /// Something the request names is not there: a machine, type, name or metric of a
    /// report (404, `not_found`).
    NotFound(String),
    /// An id names nothing this server has: a message ID with no stored tree, an alert
    /// event id (`since=`) past the newest the log gave (404, `unknown_id`).
    UnknownId(String),
    /// No API endpoint has this path (404, `unknown_endpoint`).
    UnknownEndpoint,
    /// The endpoint exists, not for this method (405, `method_not_allowed`).
    MethodNotAllowed(String),
    /// The server failed; the string is logged, never sent (500, `internal`).
    Internal(String),
    /// A stored report cannot be read (damaged or missing): 500, `unreadable_report`; the
    /// string is sent and logged.
    UnreadableReport(String),
    /// A stored tree cannot be read (damaged or missing): 500, `unreadable_tree`; the
    /// string is sent and logged.
    UnreadableTree(String),
    /// The answers being sent hold the server's whole answer budget (503, `busy`): try
    /// again in a few seconds.
    Busy,
}

impl ApiError {
    /// The machine-readable `code` of the answer: stable, unlike the message.
    pub(crate) fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) | ApiError::NotTaken { .. } => "bad_parameter",
            ApiError::Unauthorized => "unauthorized",
            ApiError::NoData(_) => "no_data",
            ApiError::NotFound(_) => "not_found",
            ApiError::UnknownId(_) => "unknown_id",
            ApiError::UnknownEndpoint => "unknown_endpoint",
            ApiError::MethodNotAllowed(_) => "method_not_allowed",
            ApiError::Internal(_) => "internal",
            ApiError::UnreadableReport(_) => "unreadable_report",
            ApiError::UnreadableTree(_) => "unreadable_tree",
            ApiError::Busy => "busy",
        }
    }
}

/// An API error's body. `error` repeats `message` (see the module docs).
#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    code: &'static str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    param: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    takes: Option<&'static [&'static str]>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = self.code();
        let (status, message) = match &self {
            ApiError::BadRequest(m) => (StatusCode::BAD_REQUEST, m.as_str()),
            ApiError::NotTaken { message, .. } => (StatusCode::BAD_REQUEST, message.as_str()),
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "missing or wrong credentials"),
            ApiError::NoData(m) | ApiError::NotFound(m) | ApiError::UnknownId(m) => {
                (StatusCode::NOT_FOUND, m.as_str())
            }
            ApiError::UnknownEndpoint => (StatusCode::NOT_FOUND, "no such API endpoint"),
            ApiError::MethodNotAllowed(m) => (StatusCode::METHOD_NOT_ALLOWED, m.as_str()),
            ApiError::Internal(detail) => {
                log_internal(|suppressed| {
                    tracing::error!(%detail, suppressed, "API request failed");
                });
                (StatusCode::INTERNAL_SERVER_ERROR, INTERNAL_MESSAGE)
            }
            ApiError::UnreadableReport(message) | ApiError::UnreadableTree(message) => {
                log_internal(|suppressed| {
                    tracing::error!(detail = %message, suppressed, "API request failed");
                });
                (StatusCode::INTERNAL_SERVER_ERROR, message.as_str())
            }
            ApiError::Busy => (
                StatusCode::SERVICE_UNAVAILABLE,
                "The server is busy sending other large answers; try again in a few seconds.",
            ),
        };
        let (param, takes) = match &self {
            ApiError::NotTaken { param, takes, .. } => (Some(param.as_str()), Some(*takes)),
            _ => (None, None),
        };
        let body = ErrorBody {
            error: message,
            code,
            message,
            param,
            takes,
        };
        (status, Json(body)).into_response()
    }
}

/// A failed page request, rendered as a page in the common layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PageError {
    /// Bad parameters (400): a title, what was wrong, and the search box prefill.
    BadRequest {
        /// Headline.
        title: String,
        /// What was wrong with the input.
        detail: String,
        /// Text to put back into the search box, so the user can fix it.
        search: String,
    },
    /// Nothing there (404).
    NotFound {
        /// Headline.
        title: String,
        /// What was looked for.
        detail: String,
        /// Text to put back into the search box.
        search: String,
    },
    /// The server failed; the string is logged, never shown (500).
    Internal(String),
    /// Stored data cannot be read (damaged or missing): 500, the detail shown and logged.
    Unreadable {
        /// Headline.
        title: String,
        /// What cannot be read, and why.
        detail: String,
        /// Text to put back into the search box.
        search: String,
    },
}

impl PageError {
    /// A 400 page about bad parameters.
    pub(crate) fn bad_request(detail: impl Into<String>) -> Self {
        PageError::BadRequest {
            title: "That request did not make sense".to_owned(),
            detail: detail.into(),
            search: String::new(),
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, markup) = match self {
            PageError::BadRequest {
                title,
                detail,
                search,
            } => (
                StatusCode::BAD_REQUEST,
                error_page(400, &title, &detail, &search),
            ),
            PageError::NotFound {
                title,
                detail,
                search,
            } => (
                StatusCode::NOT_FOUND,
                error_page(404, &title, &detail, &search),
            ),
            PageError::Internal(detail) => {
                log_internal(|suppressed| {
                    tracing::error!(%detail, suppressed, "page request failed");
                });
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    error_page(500, "Server error", INTERNAL_MESSAGE, ""),
                )
            }
            PageError::Unreadable {
                title,
                detail,
                search,
            } => {
                log_internal(|suppressed| {
                    tracing::error!(%detail, suppressed, "page request failed");
                });
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    error_page(500, &title, &detail, &search),
                )
            }
        };
        (status, markup).into_response()
    }
}

/// `Query<T>` for pages: a query string that does not fit `T`, or whose text is not UTF-8
/// ([`NotUtf8Param`]), gives a friendly 400 page instead of axum's plain-text rejection.
#[derive(Debug, Clone)]
pub(crate) struct PageQuery<T>(pub(crate) T);

impl<T, S> FromRequestParts<S> for PageQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(bad) = NotUtf8Param::find(parts.uri.query().unwrap_or_default()) {
            return Err(PageError::BadRequest {
                title: format!("The “{}” parameter is not right", bad.param),
                detail: bad.message(),
                search: String::new(),
            });
        }
        let LossyQuery(value) = LossyQuery::from_request_parts(parts, state).await?;
        Ok(PageQuery(value))
    }
}

/// [`PageQuery`] without the UTF-8 check: text that is not UTF-8 reads as U+FFFD. Only for
/// CAT's router endpoint, whose answer depends on no parameter's text but `op`'s (clients
/// send their domain along, and a client should get its routes whatever that holds).
#[derive(Debug, Clone)]
pub(crate) struct LossyQuery<T>(pub(crate) T);

impl<T, S> FromRequestParts<S> for LossyQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(LossyQuery(value)),
            Err(rejection) => Err(QueryProblem::of(&rejection).into()),
        }
    }
}

/// Why `Query<T>` could not read a query string, in our words rather than serde's.
///
/// Our query types are structs of optional strings (and one map), so the one way to fail
/// is a parameter given twice (`domain=a&domain=b`): serde takes one value per field and
/// does not pick one. Anything else gets serde's text, should a new type bring it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct QueryProblem {
    /// The parameter at fault, when the failure names one.
    param: Option<String>,
    /// What is wrong.
    message: String,
}

impl QueryProblem {
    fn of(rejection: &QueryRejection) -> Self {
        // serde's text is the rejection's source; its own text adds axum's "Failed to
        // deserialize query string: " in front.
        let serde_text = std::error::Error::source(rejection)
            .map_or_else(|| rejection.body_text(), ToString::to_string);
        Self::from_serde_text(&serde_text)
    }

    fn from_serde_text(serde_text: &str) -> Self {
        // serde words a repeated field so (`de::Error::duplicate_field`), the same in
        // every version of serde 1.
        let twice = serde_text
            .strip_prefix("duplicate field `")
            .and_then(|rest| rest.strip_suffix('`'));
        match twice {
            Some(param) => QueryProblem {
                param: Some(param.to_owned()),
                message: format!("bad parameter “{param}”: it is given twice; give it once."),
            },
            None => QueryProblem {
                param: None,
                message: format!("the query parameters are not valid: {serde_text}"),
            },
        }
    }
}

impl From<QueryProblem> for ApiError {
    fn from(problem: QueryProblem) -> Self {
        ApiError::BadRequest(problem.message)
    }
}

impl From<QueryProblem> for PageError {
    fn from(problem: QueryProblem) -> Self {
        match problem.param {
            Some(param) => PageError::BadRequest {
                title: format!("The “{param}” parameter is not right"),
                detail: problem.message,
                search: String::new(),
            },
            None => PageError::bad_request(problem.message),
        }
    }
}

/// `Query<T>` for the JSON API: as [`PageQuery`], answering a JSON 400.
#[derive(Debug, Clone)]
pub(crate) struct ApiQuery<T>(pub(crate) T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(bad) = NotUtf8Param::find(parts.uri.query().unwrap_or_default()) {
            return Err(ApiError::BadRequest(bad.message()));
        }
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(ApiQuery(value)),
            Err(rejection) => Err(QueryProblem::of(&rejection).into()),
        }
    }
}

/// A query parameter whose name or value is not UTF-8 once percent-decoded (`domain=%FF`).
///
/// axum's `Query` decodes such bytes to U+FFFD without a word, so `domain=%FF` read as the
/// domain "\u{FFFD}", which no report has: a 404 that hid what was wrong. The query is
/// checked first, as `application/x-www-form-urlencoded` decodes it (`+` is a space, `%`
/// not followed by two hex digits stays as it is).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NotUtf8Param {
    /// The parameter's name, decoded; as given when the name itself is not UTF-8.
    pub(crate) param: String,
}

impl NotUtf8Param {
    /// The first parameter of `query` (the part after `?`) that is not UTF-8 text.
    pub(crate) fn find(query: &str) -> Option<Self> {
        query
            .split('&')
            .filter(|pair| !pair.is_empty())
            .find_map(|pair| {
                let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
                let Ok(param) = form_decode(name) else {
                    return Some(name.to_owned());
                };
                form_decode(value).is_err().then_some(param)
            })
            .map(|param| NotUtf8Param { param })
    }

    pub(crate) fn message(&self) -> String {
        format!(
            "bad parameter “{}”: its %XX escapes do not decode to UTF-8 text.",
            self.param
        )
    }
}

/// One name or value of a form-encoded query, decoded; `Err` when the bytes are not UTF-8.
pub(crate) fn form_decode(text: &str) -> Result<String, ()> {
    let mut bytes = Vec::with_capacity(text.len());
    let mut rest = text.as_bytes();
    while let Some((&byte, tail)) = rest.split_first() {
        let escaped = (byte == b'%')
            .then(|| tail.get(..2))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(decoded) => {
                bytes.push(decoded);
                rest = &tail[2..];
            }
            None => {
                bytes.push(if byte == b'+' { b' ' } else { byte });
                rest = tail;
            }
        }
    }
    String::from_utf8(bytes).map_err(drop)
}

/// The fallback for every unknown path.
pub(crate) async fn not_found_page() -> PageError {
    PageError::NotFound {
        title: "Page not found".to_owned(),
        detail: "There is no page at this address.".to_owned(),
        search: String::new(),
    }
}

/// The fallback for a known path asked with a method it does not take: under `/api/` a
/// JSON 405 like every other API error, elsewhere a short page saying so (an empty body
/// left a client guessing).
pub(crate) async fn method_not_allowed(
    method: axum::http::Method,
    uri: axum::http::Uri,
) -> Response {
    if crate::api::is_api_path(uri.path()) {
        ApiError::MethodNotAllowed(format!(
            "{method} is not allowed here; the API reads with GET"
        ))
        .into_response()
    } else {
        let detail = format!("{method} is not allowed here: this address is read with GET.");
        let markup = error_page(405, "Method not allowed", &detail, "");
        (StatusCode::METHOD_NOT_ALLOWED, markup).into_response()
    }
}

/// The fallback for unknown paths under `/api/`: a JSON 404 rather than a page.
pub(crate) async fn api_not_found() -> ApiError {
    ApiError::UnknownEndpoint
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts the ERROR events of the thread it is the default of.
    struct CountErrors(std::sync::Arc<std::sync::atomic::AtomicUsize>);

    impl tracing::Subscriber for CountErrors {
        fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
            tracing::span::Id::from_u64(1)
        }
        fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
        fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
        fn event(&self, event: &tracing::Event<'_>) {
            if *event.metadata().level() == tracing::Level::ERROR {
                self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
        fn enter(&self, _: &tracing::span::Id) {}
        fn exit(&self, _: &tracing::span::Id) {}
    }

    /// 110 lookups of trees in a damaged block answered 110 times 500 and logged 110 ERROR
    /// lines. The answers stay; the lines are a few a minute.
    #[test]
    fn internal_failures_answer_every_time_and_log_a_few_lines_a_minute() {
        let errors = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let subscriber = CountErrors(errors.clone());
        tracing::subscriber::with_default(subscriber, || {
            // Another test's thread may have cached the callsites as never logged before
            // this subscriber existed.
            tracing::callsite::rebuild_interest_cache();
            for i in 0..110 {
                let error = if i % 2 == 0 {
                    ApiError::Internal("corrupt block at address 48".to_owned()).into_response()
                } else {
                    PageError::Internal("corrupt block at address 48".to_owned()).into_response()
                };
                assert_eq!(error.status(), StatusCode::INTERNAL_SERVER_ERROR);
            }
        });
        // Other tests of this binary may have taken some of the minute's lines.
        let logged = errors.load(std::sync::atomic::Ordering::Relaxed) as u64;
        assert!(logged <= INTERNAL_LOG_BURST, "{logged} lines");
    }

    fn find(query: &str) -> Option<String> {
        NotUtf8Param::find(query).map(|bad| bad.param)
    }

    #[test]
    fn queries_of_utf8_text_pass() {
        for query in [
            "",
            "domain=shop&hour=current",
            "name=%2Forder%2F%7Bnum%7D",
            "name=caf%C3%A9&type=URL+Call",
            "a=50%&b=%zz&c=%F",
            "&&flag&x=",
        ] {
            assert_eq!(find(query), None, "{query}");
        }
    }

    #[test]
    fn query_problems_other_than_a_repeated_parameter_keep_serdes_text() {
        let problem = QueryProblem::from_serde_text("limit: invalid digit found in string");
        assert_eq!(problem.param, None);
        assert_eq!(
            problem.message,
            "the query parameters are not valid: limit: invalid digit found in string"
        );
    }

    #[test]
    fn the_first_parameter_that_is_not_utf8_is_named() {
        assert_eq!(find("domain=%FF").as_deref(), Some("domain"));
        assert_eq!(find("hour=current&name=a%C3%28b").as_deref(), Some("name"));
        assert_eq!(find("ip=%E0%80&domain=%FF").as_deref(), Some("ip"));
        assert_eq!(find("my+type=%FF").as_deref(), Some("my type"));
        assert_eq!(find("%FF=1").as_deref(), Some("%FF"), "a bad name as given");
    }
}
