//! CAT's report addresses, redirected to our boards so that CAT's alarm mails and people's
//! bookmarks keep working: `/cat/r/t` (Transaction) to `/t`, `/cat/r/e` (Event) to `/e`,
//! `/cat/r/p` (Problem) to `/p`, `/cat/r/h` (Heartbeat) to `/h` (reference section 9),
//! `/cat/r/dependency` to `/d`, `/cat/r/state` to `/state`, and `/cat/r/home` (or a bare
//! `/cat` or `/cat/r`) to the home page.
//!
//! CAT's parameters become ours where one means the same:
//!
//! * `domain`, `ip` (CAT's `All` is ours too), `type` and `name` (transactions and events)
//!   are kept as they are. On CAT's Problem page `type` is a category (`error`,
//!   `long-url`, ...), which our board shows as a section: it becomes the section's anchor
//!   (`#long-url`), where our `type=` (the failed or slow transaction's type) would have
//!   shown nothing.
//! * `date=YYYYMMDDHH` becomes `hour=`; CAT reads a bare `YYYYMMDD` as the day's first hour.
//! * CAT's history mode (`op=history..`, or a `reportType` of `day`, `week` or `month`)
//!   becomes our day view, `day=YYYYMMDD` of the date (today without one), on the boards
//!   that have one (transactions, events, problems); `reportType=week` becomes the week
//!   that holds the date (`week=YYYYMMDD`), `reportType=month` its month (`month=YYYYMM`).
//!   The heartbeat page shows hours only, so there it is the date's hour.
//! * The Problem page's `urlThreshold`, `serviceThreshold`, `callThreshold`, `sqlThreshold`
//!   and `cacheThreshold` become our `long_ms=long-url:..,..`.
//!
//! The others (`op`'s graph and group views, `sort`, `queryname`, `show`, `group`,
//! `status`, `xml`, `step`, `startDate`/`endDate`) have no equivalent and are dropped: the
//! board shows its default view. A `date` that is no date is a 400 naming it.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::response::Redirect;
use axum::routing::get;
use axum::Router;
use ocelot_analyzer::{day_label, HOURS_PER_DAY};
use ocelot_protocol::MILLIS_PER_HOUR;

use crate::board::build_url;
use crate::error::{PageError, PageQuery};
use crate::hour::{parse_day_label, parse_hour_label};
use crate::selection::BadParam;
use crate::state::AppState;

/// A CAT report page and the board it becomes.
#[derive(Debug, Clone, Copy)]
struct CatPage {
    /// Our board's path.
    board: &'static str,
    /// The parameters kept as they are.
    kept: &'static [&'static str],
    /// Whether the board has a day view (`day=`).
    days: bool,
    /// Whether CAT's long-execution thresholds apply (the Problem page).
    thresholds: bool,
}

const TRANSACTION: CatPage = CatPage {
    board: "/t",
    kept: &["domain", "ip", "type", "name"],
    days: true,
    thresholds: false,
};
const EVENT: CatPage = CatPage {
    board: "/e",
    ..TRANSACTION
};
const PROBLEM: CatPage = CatPage {
    board: "/p",
    kept: &["domain", "ip"],
    days: true,
    thresholds: true,
};
const HEARTBEAT: CatPage = CatPage {
    board: "/h",
    kept: &["domain", "ip"],
    days: false,
    thresholds: false,
};
/// CAT's home page, and a bare `/cat` or `/cat/r` (the server's address as people give it).
const HOME: CatPage = CatPage {
    board: "/",
    kept: &[],
    days: false,
    thresholds: false,
};
/// CAT's State report of its own servers: ours of the collector.
const STATE: CatPage = CatPage {
    board: "/state",
    ..HOME
};
const DEPENDENCY: CatPage = CatPage {
    board: "/d",
    kept: &["domain"],
    ..HOME
};

/// CAT's Problem page thresholds (ms) and the long-execution categories they raise.
const THRESHOLDS: [(&str, &str); 5] = [
    ("urlThreshold", "long-url"),
    ("serviceThreshold", "long-service"),
    ("callThreshold", "long-call"),
    ("sqlThreshold", "long-sql"),
    ("cacheThreshold", "long-cache"),
];

/// CAT's query, every parameter as a string.
type CatQuery = BTreeMap<String, String>;

/// The routes of this module.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/cat/r/t", get(|s, q| redirect(TRANSACTION, s, q)))
        .route("/cat/r/e", get(|s, q| redirect(EVENT, s, q)))
        .route("/cat/r/p", get(|s, q| redirect(PROBLEM, s, q)))
        .route("/cat/r/h", get(|s, q| redirect(HEARTBEAT, s, q)))
        .route("/cat/r/home", get(|s, q| redirect(HOME, s, q)))
        .route("/cat/r/state", get(|s, q| redirect(STATE, s, q)))
        .route("/cat/r/dependency", get(|s, q| redirect(DEPENDENCY, s, q)))
        .route("/cat", get(|s, q| redirect(HOME, s, q)))
        .route("/cat/", get(|s, q| redirect(HOME, s, q)))
        .route("/cat/r", get(|s, q| redirect(HOME, s, q)))
        .route("/cat/r/", get(|s, q| redirect(HOME, s, q)))
}

async fn redirect(
    page: CatPage,
    State(state): State<AppState>,
    PageQuery(query): PageQuery<CatQuery>,
) -> Result<Redirect, PageError> {
    let today = state.reports.now_ms() / MILLIS_PER_HOUR / HOURS_PER_DAY;
    let url = board_url(page, &query, today)?;
    // Temporary: a history address without a date names today's day, which a browser
    // would otherwise keep for good.
    Ok(Redirect::temporary(&url))
}

/// A parameter's value, `None` when absent or blank.
fn value<'q>(query: &'q CatQuery, key: &str) -> Option<&'q str> {
    query.get(key).map(|v| v.trim()).filter(|v| !v.is_empty())
}

/// Our board's address for a CAT report page's query; `today` is the day index of now.
fn board_url(page: CatPage, query: &CatQuery, today: u64) -> Result<String, BadParam> {
    let mut params: Vec<(&str, String)> = (page.kept.iter())
        .filter_map(|&key| Some((key, value(query, key)?.to_owned())))
        .collect();
    params.extend(period(page, query, today)?);
    if page.thresholds {
        let raised: Vec<String> = (THRESHOLDS.iter())
            .filter_map(|(cat, ours)| Some(format!("{ours}:{}", value(query, cat)?)))
            .collect();
        params.push(("long_ms", raised.join(",")));
    }
    // CAT's Problem `type` is a category: our board's section of it. Another value is
    // taken as a transaction or event type, as our `type=` is.
    let mut section = None;
    if page.thresholds {
        match value(query, "type") {
            Some(category) if PROBLEM_CATEGORIES.contains(&category) => section = Some(category),
            Some(type_) => params.push(("type", type_.to_owned())),
            None => {}
        }
    }
    let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let url = build_url(page.board, &params);
    Ok(match section {
        Some(category) => format!("{url}#{}", crate::links::anchor_id("", category)),
        None => url,
    })
}

/// CAT's problem types (`ProblemType.java`): the categories CAT's Problem page's `type`
/// names.
const PROBLEM_CATEGORIES: [&str; 8] = [
    "error",
    "failure",
    "heartbeat",
    "long-url",
    "long-sql",
    "long-call",
    "long-service",
    "long-cache",
];

/// The period a CAT query selects, as our parameter and its value; `None` for the current
/// hour.
fn period(
    page: CatPage,
    query: &CatQuery,
    today: u64,
) -> Result<Option<(&'static str, String)>, BadParam> {
    let report_type = value(query, "reportType").map(str::to_ascii_lowercase);
    let history = value(query, "op").is_some_and(|op| op.starts_with("history"))
        || report_type
            .as_deref()
            .is_some_and(|t| ["day", "week", "month"].contains(&t));
    let day_view = history && page.days;
    // Our parameter for a history view of the day `YYYYMMDD`, and its value.
    let days_of = |day: &str| match report_type.as_deref() {
        Some("week") => ("week", day.to_owned()),
        Some("month") => ("month", day[..6].to_owned()),
        _ => ("day", day.to_owned()),
    };
    let Some(date) = value(query, "date") else {
        return Ok(day_view.then(|| days_of(&day_label(today))));
    };
    // CAT's `yyyyMMddHH`, or `yyyyMMdd` for the day's first hour.
    let hour = match date.len() {
        10 => parse_hour_label(date).map(|_| date.to_owned()),
        8 => parse_day_label(date).map(|_| format!("{date}00")),
        _ => None,
    }
    .ok_or_else(|| BadParam {
        param: "date",
        detail: format!(
            "“{date}” is not one of CAT's dates: write YYYYMMDDHH in UTC (e.g. 2026112207), \
             or YYYYMMDD for a day."
        ),
    })?;
    Ok(Some(if day_view {
        days_of(&hour[..8])
    } else {
        ("hour", hour)
    }))
}
