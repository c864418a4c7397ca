//! How handlers fail: [`ApiError`] answers JSON (`{"error":".."}`), [`PageError`] answers
//! a friendly HTML page. Bad input maps to 4xx with a message saying what was wrong;
//! internal failures map to 500 with a generic message while the detail goes to the log.

use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;

use crate::layout::error_page;

/// What the user sees instead of the detail of an internal failure.
const INTERNAL_MESSAGE: &str = "Something went wrong on the server; the details are in its log.";

/// A failed JSON API request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ApiError {
    /// The request was malformed (400).
    BadRequest(String),
    /// Nothing there (404).
    NotFound(String),
    /// The endpoint exists, not for this method (405).
    MethodNotAllowed(String),
    /// The server failed; the string is logged, never sent (500).
    Internal(String),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            ApiError::BadRequest(m) => (StatusCode::BAD_REQUEST, m),
            ApiError::NotFound(m) => (StatusCode::NOT_FOUND, m),
            ApiError::MethodNotAllowed(m) => (StatusCode::METHOD_NOT_ALLOWED, m),
            ApiError::Internal(detail) => {
                tracing::error!(%detail, "API request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    INTERNAL_MESSAGE.to_owned(),
                )
            }
        };
        (status, Json(serde_json::json!({ "error": message }))).into_response()
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
                tracing::error!(%detail, "page request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    error_page(500, "Server error", INTERNAL_MESSAGE, ""),
                )
            }
        };
        (status, markup).into_response()
    }
}

/// `Query<T>` for pages: a query string that does not fit `T` gives a friendly 400 page
/// instead of axum's plain-text rejection.
#[derive(Debug, Clone)]
pub(crate) struct PageQuery<T>(pub(crate) T);

impl<T, S> FromRequestParts<S> for PageQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(PageQuery(value)),
            Err(rejection) => Err(PageError::bad_request(query_problem(&rejection))),
        }
    }
}

fn query_problem(rejection: &QueryRejection) -> String {
    format!(
        "The query parameters are not valid: {}",
        rejection.body_text()
    )
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
/// JSON 405 like every other API error, elsewhere the bare status.
pub(crate) async fn method_not_allowed(
    method: axum::http::Method,
    uri: axum::http::Uri,
) -> Response {
    if uri.path().starts_with("/api/") {
        ApiError::MethodNotAllowed(format!(
            "{method} is not allowed here; the API reads with GET"
        ))
        .into_response()
    } else {
        StatusCode::METHOD_NOT_ALLOWED.into_response()
    }
}

/// The fallback for unknown paths under `/api/`: a JSON 404 rather than a page.
pub(crate) async fn api_not_found() -> ApiError {
    ApiError::NotFound("no such API endpoint".to_owned())
}
