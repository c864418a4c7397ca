//! The query parameters each JSON endpoint takes, checked in one place before any handler
//! runs. A parameter an endpoint does not take is a 400 naming it and the ones it takes:
//! a misspelled `typ=` silently ignored gave every type with a 200, which a dashboard
//! shows as the filtered figure. The pages stay lenient (a bookmark with a stale
//! parameter still opens); only `/api/...` answers are read by programs.
//!
//! Each endpoint lists what it takes and what it reads only to refuse with its own words
//! (a `limit=` where every entry is listed, a `day=` where only hours are shown): those
//! reach the handler, whose 400 says why. `_` passes everywhere: it is the cache-busting
//! parameter some HTTP clients add on their own.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::cat_report_urls::cat_date_as_hour;
use crate::error::{form_decode, ApiError};
use crate::state::AppState;

/// The parameters the transaction and event views take.
const REPORT_VIEW: &[&str] = &[
    "domain", "hour", "day", "week", "month", "ip", "type", "name", "limit",
];
/// Read by the hour-only endpoints just to refuse them with their own words.
const NOT_HOURS: &[&str] = &["day", "week", "month", "limit"];

/// What one endpoint reads from its query.
struct Endpoint {
    /// The path, or a prefix of paths ending in `/` (`/api/message/`).
    path: &'static str,
    /// The parameters it takes, in the order a 400 names them.
    takes: &'static [&'static str],
    /// The parameters its handler reads only to answer a 400 of its own.
    refuses: &'static [&'static str],
}

const ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        path: "/api/hours",
        takes: &[],
        refuses: &[],
    },
    Endpoint {
        path: "/api/domains",
        takes: &["hour"],
        refuses: &["day", "week", "month"],
    },
    Endpoint {
        path: "/api/transaction",
        takes: REPORT_VIEW,
        refuses: &[],
    },
    Endpoint {
        path: "/api/event",
        takes: REPORT_VIEW,
        refuses: &[],
    },
    Endpoint {
        path: "/api/problem",
        takes: &["domain", "hour", "day", "week", "month", "ip", "type"],
        refuses: &["limit"],
    },
    Endpoint {
        path: "/api/heartbeat",
        takes: &["domain", "hour", "ip"],
        refuses: NOT_HOURS,
    },
    Endpoint {
        path: "/api/metric",
        // `ip` only as `All`: the handler refuses a machine.
        takes: &["domain", "hour", "name", "ip"],
        refuses: &["type", "day", "week", "month", "limit"],
    },
    Endpoint {
        path: "/api/dependency",
        takes: &["domain", "hour", "ip", "type"],
        refuses: NOT_HOURS,
    },
    Endpoint {
        path: "/api/matrix",
        // `ip` only as `All`: the handler refuses a machine.
        takes: &["domain", "hour", "type", "name", "ip"],
        refuses: NOT_HOURS,
    },
    Endpoint {
        path: "/api/state",
        takes: &["hour"],
        refuses: NOT_HOURS,
    },
    Endpoint {
        path: "/api/alerts",
        takes: &["since"],
        refuses: &[],
    },
    Endpoint {
        path: "/api/message/",
        takes: &[],
        refuses: &[],
    },
    Endpoint {
        path: "/api/trace",
        takes: &["id"],
        refuses: &[],
    },
];

/// The parameter every endpoint lets pass (see the module docs).
const CACHE_BUSTER: &str = "_";

/// The middleware: a JSON 400 for a parameter the endpoint does not take, else the
/// request goes on. Paths that are no endpoint go on too (they answer a JSON 404).
pub(crate) async fn check_api_params(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    let endpoint = ENDPOINTS.iter().find(|e| match e.path.strip_suffix('/') {
        Some(_) => path.starts_with(e.path),
        None => path == e.path,
    });
    let query = request.uri().query().unwrap_or_default();
    if let Some(endpoint) = endpoint {
        if let Some((param, value)) = first_not_taken(endpoint, query) {
            return refusal(&state, endpoint, &param, &value);
        }
    }
    next.run(request).await
}

/// The first parameter of `query` `endpoint` does not take, decoded, with its value.
/// Names or values that are not UTF-8 go on: the query extractor names them.
fn first_not_taken(endpoint: &Endpoint, query: &str) -> Option<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .filter_map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            Some((form_decode(name).ok()?, form_decode(value).ok()?))
        })
        .find(|(name, _)| {
            let name = name.as_str();
            name != CACHE_BUSTER
                && !endpoint.takes.contains(&name)
                && !endpoint.refuses.contains(&name)
        })
}

/// The 400 for `param` (given as `value`) on `endpoint`, naming it and those it takes,
/// with a hint for the parameters other pages take.
fn refusal(state: &AppState, endpoint: &Endpoint, param: &str, value: &str) -> Response {
    let path = endpoint.path.trim_end_matches('/');
    let takes = match endpoint.takes {
        [] => "takes no parameters".to_owned(),
        takes => format!("takes {}", takes.join(", ")),
    };
    let hint = match param {
        "date" => Some(date_hint(state, value)),
        "long_ms" => Some(
            "the problem board's long_ms= is not taken here: an entry's count raised to a \
             threshold would no longer be the sum of its minutes; each long entry lists its \
             durations to count from any bound."
                .to_owned(),
        ),
        "sort" => Some(
            "the API lists types and names by name (problems by category, type and name); \
             sort them in the client."
                .to_owned(),
        ),
        "compare" => Some(
            "comparing with earlier hours is the boards' chart; ask for those hours with \
             hour= instead."
                .to_owned(),
        ),
        "category" => {
            Some("entries are not filtered by category: read each entry's “category”.".to_owned())
        }
        _ => None,
    };
    let error = match hint {
        Some(hint) => format!("bad parameter “{param}”: {hint} {path} {takes}."),
        None => format!("bad parameter “{param}”: {path} does not take it; it {takes}."),
    };
    ApiError::NotTaken {
        message: error,
        param: param.to_owned(),
        takes: endpoint.takes,
    }
    .into_response()
}

/// Why `date=` is refused: CAT's report addresses write it in CAT's zone, and the API's
/// hours are UTC; the same value would name another hour. Names the `hour=` it is when
/// read as `/cat/r/...` reads it.
fn date_hint(state: &AppState, value: &str) -> String {
    let converted = cat_date_as_hour(value, state.cat_utc_offset_seconds)
        .map(|(zone, hour)| format!(" (date={value} at {zone} is hour={hour})"))
        .unwrap_or_default();
    format!(
        "date= is CAT's form, read in CAT's time zone on /cat/r/...; here use \
         hour=YYYYMMDDHH (UTC){converted}."
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(path: &str) -> &'static Endpoint {
        ENDPOINTS.iter().find(|e| e.path == path).unwrap()
    }

    #[test]
    fn taken_refused_and_cache_busting_parameters_pass_and_others_are_named() {
        let transaction = endpoint("/api/transaction");
        assert_eq!(first_not_taken(transaction, ""), None);
        assert_eq!(
            first_not_taken(transaction, "domain=a&hour=current&type=URL&_=17&&"),
            None
        );
        assert_eq!(
            first_not_taken(transaction, "domain=a&typ=URL&foo=bar"),
            Some(("typ".to_owned(), "URL".to_owned()))
        );
        assert_eq!(
            first_not_taken(endpoint("/api/problem"), "limit=3"),
            None,
            "the handler refuses it in its own words"
        );
        assert_eq!(
            first_not_taken(endpoint("/api/state"), "hour=current&domain"),
            Some(("domain".to_owned(), String::new()))
        );
        assert_eq!(
            first_not_taken(transaction, "domain=%FF&b%FFd=1"),
            None,
            "not UTF-8: left to the extractor, which says so"
        );
        assert_eq!(
            first_not_taken(transaction, "my+type=1"),
            Some(("my type".to_owned(), "1".to_owned()))
        );
    }
}
