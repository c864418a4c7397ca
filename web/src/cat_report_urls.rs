//! CAT's report addresses, redirected to our boards so that CAT's alarm mails and people's
//! bookmarks keep working: `/cat/r/t` (Transaction) to `/t`, `/cat/r/e` (Event) to `/e`,
//! `/cat/r/p` (Problem) to `/p`, `/cat/r/h` (Heartbeat) to `/h` (reference section 9),
//! `/cat/r/dependency` to `/d`, `/cat/r/matrix` to `/matrix`, `/cat/r/state` to `/state`,
//! and `/cat/r/home` (or a bare `/cat` or `/cat/r`) to the home page.
//!
//! CAT's parameters become ours where one means the same:
//!
//! * `domain`, `ip` (CAT's `All` is ours too), `type` and `name` (transactions and events)
//!   are kept as they are. On CAT's Problem page `type` is a category (`error`,
//!   `long-url`, ...), which our board shows as a section: it becomes the section's anchor
//!   (`#long-url`), where our `type=` (the failed or slow transaction's type) would have
//!   shown nothing.
//! * `date=YYYYMMDDHH` becomes `hour=`; CAT reads a bare `YYYYMMDD` as the day's first hour.
//!   CAT writes its dates in its server's local time (+08:00 in most deployments) and our
//!   hours are UTC: the date is read at [`AppState::with_cat_utc_offset_seconds`] (`ocelot
//!   serve`: `collector.pt1_utc_offset_seconds`, the zone of CAT's clients too), so
//!   `date=2026120719` at +08:00 is `hour=2026120711`. An offset of a part of an hour
//!   (+05:30) gives the UTC hour the local hour starts in.
//! * CAT's history mode (`op=history..`, or a `reportType` of `day`, `week` or `month`)
//!   becomes our day view, `day=YYYYMMDD` of the date (today without one), on the boards
//!   that have one (transactions, events, problems); `reportType=week` becomes the week
//!   that holds the date (`week=YYYYMMDD`), `reportType=month` its month (`month=YYYYMM`).
//!   The date's calendar day is kept as written, whatever its hour: our UTC day of the same
//!   date is the one that shares most hours with CAT's local day (all but the offset's,
//!   for offsets up to 12 hours). The heartbeat page shows hours only, so there it is the
//!   date's hour.
//! * `step=N` (CAT's ← and → arrows) moves the date by N hours, or in history mode by N
//!   days, weeks or months; without a date, from now.
//! * The Problem page's `urlThreshold`, `serviceThreshold`, `callThreshold`, `sqlThreshold`
//!   and `cacheThreshold` become our `long_ms=long-url:..,..`.
//! * CAT's switches for a report as data, for scripts (`xml=true`, `op=xml`, `op=json`,
//!   `forceDownload=xml`), are a 400 that names our JSON API's address of the report (in
//!   the body and a `Link` header): a script must not get an HTML board with a 200. The
//!   body is JSON (`{"error","api"}`) when the client accepts JSON, else the error page.
//!
//! The others (`op`'s graph and group views, `sort`, `queryname`, `show`, `group`,
//! `status`, `startDate`/`endDate`) have no equivalent and are dropped: the board shows its
//! default view. A `date` that is no date, or a `step` that is no whole number, is a 400
//! naming it.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Json;
use axum::Router;
use ocelot_analyzer::{day_label, hour_label, HOURS_PER_DAY};
use ocelot_protocol::MILLIS_PER_HOUR;

use crate::board::build_url;
use crate::error::{PageError, PageQuery};
use crate::hour::{parse_day_label, parse_hour_label, CURRENT};
use crate::selection::BadParam;
use crate::state::AppState;

/// A CAT report page and the board it becomes.
#[derive(Debug, Clone, Copy)]
struct CatPage {
    /// Our board's path.
    board: &'static str,
    /// The JSON API's path of the same report, named when XML is asked for.
    api: &'static str,
    /// The parameters kept as they are.
    kept: &'static [&'static str],
    /// Whether the board has a day view (`day=`).
    days: bool,
    /// Whether CAT's long-execution thresholds apply (the Problem page).
    thresholds: bool,
}

const TRANSACTION: CatPage = CatPage {
    board: "/t",
    api: "/api/transaction",
    kept: &["domain", "ip", "type", "name"],
    days: true,
    thresholds: false,
};
const EVENT: CatPage = CatPage {
    board: "/e",
    api: "/api/event",
    ..TRANSACTION
};
const PROBLEM: CatPage = CatPage {
    board: "/p",
    api: "/api/problem",
    kept: &["domain", "ip"],
    days: true,
    thresholds: true,
};
const HEARTBEAT: CatPage = CatPage {
    board: "/h",
    api: "/api/heartbeat",
    kept: &["domain", "ip"],
    days: false,
    thresholds: false,
};
/// CAT's home page, and a bare `/cat` or `/cat/r` (the server's address as people give it).
const HOME: CatPage = CatPage {
    board: "/",
    api: "/api/domains",
    kept: &[],
    days: false,
    thresholds: false,
};
/// CAT's State report of its own servers: ours of the collector.
const STATE: CatPage = CatPage {
    board: "/state",
    api: "/api/state",
    ..HOME
};
const DEPENDENCY: CatPage = CatPage {
    board: "/d",
    api: "/api/dependency",
    kept: &["domain"],
    ..HOME
};
/// The whole domain's, as CAT's: its `ip` has nothing to pick.
const MATRIX: CatPage = CatPage {
    board: "/matrix",
    api: "/api/matrix",
    kept: &["domain"],
    days: true,
    thresholds: false,
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
        .route("/cat/r/t", get(|s, h, q| redirect(TRANSACTION, s, h, q)))
        .route("/cat/r/e", get(|s, h, q| redirect(EVENT, s, h, q)))
        .route("/cat/r/p", get(|s, h, q| redirect(PROBLEM, s, h, q)))
        .route("/cat/r/h", get(|s, h, q| redirect(HEARTBEAT, s, h, q)))
        .route("/cat/r/home", get(|s, h, q| redirect(HOME, s, h, q)))
        .route("/cat/r/state", get(|s, h, q| redirect(STATE, s, h, q)))
        .route(
            "/cat/r/dependency",
            get(|s, h, q| redirect(DEPENDENCY, s, h, q)),
        )
        .route("/cat/r/matrix", get(|s, h, q| redirect(MATRIX, s, h, q)))
        .route("/cat", get(|s, h, q| redirect(HOME, s, h, q)))
        .route("/cat/", get(|s, h, q| redirect(HOME, s, h, q)))
        .route("/cat/r", get(|s, h, q| redirect(HOME, s, h, q)))
        .route("/cat/r/", get(|s, h, q| redirect(HOME, s, h, q)))
}

async fn redirect(
    page: CatPage,
    State(state): State<AppState>,
    headers: HeaderMap,
    PageQuery(query): PageQuery<CatQuery>,
) -> Result<Response, PageError> {
    let clock = CatClock {
        now_hour: state.reports.now_ms() / MILLIS_PER_HOUR,
        utc_offset_seconds: state.cat_utc_offset_seconds,
    };
    match board_url(page, &query, clock) {
        // Temporary: a history address without a date names today's day, which a browser
        // would otherwise keep for good.
        Ok(url) => Ok(Redirect::temporary(&url).into_response()),
        Err(CatRefusal::Param(bad)) => Err(bad.into()),
        Err(CatRefusal::Format(refused)) => Ok(refused.answer(&headers)),
    }
}

/// Why a CAT address is not redirected: a bad parameter, or a report asked for as data.
enum CatRefusal {
    Param(BadParam),
    Format(DataFormat),
}

impl From<BadParam> for CatRefusal {
    fn from(bad: BadParam) -> Self {
        CatRefusal::Param(bad)
    }
}

/// A CAT report asked for as data (`xml=true`, `op=xml`, ...), and our JSON API's address
/// of it.
struct DataFormat {
    /// The 400 naming the switch and the address.
    bad: BadParam,
    /// The JSON API's address of the report.
    api: String,
}

impl DataFormat {
    /// The 400: JSON when the client accepts JSON (a script), else the error page; the
    /// API's address also in a `Link` header, for a client that reads neither.
    fn answer(self, headers: &HeaderMap) -> Response {
        let wants_json = (headers.get_all(header::ACCEPT).iter())
            .filter_map(|value| value.to_str().ok())
            .any(|accept| accept.to_ascii_lowercase().contains("json"));
        let link = HeaderValue::from_str(&format!(
            "<{}>; rel=\"alternate\"; type=\"application/json\"",
            self.api
        ))
        .ok();
        let mut response = if wants_json {
            let body = serde_json::json!({ "error": self.bad.message(), "api": self.api });
            (StatusCode::BAD_REQUEST, Json(body)).into_response()
        } else {
            PageError::from(self.bad).into_response()
        };
        if let Some(link) = link {
            response.headers_mut().insert(header::LINK, link);
        }
        response
    }
}

/// A parameter's value, `None` when absent or blank.
fn value<'q>(query: &'q CatQuery, key: &str) -> Option<&'q str> {
    query.get(key).map(|v| v.trim()).filter(|v| !v.is_empty())
}

/// Now, and the zone CAT's dates are written in.
#[derive(Debug, Clone, Copy)]
struct CatClock {
    /// The hour index of now.
    now_hour: u64,
    /// CAT's zone, seconds east of UTC.
    utc_offset_seconds: i32,
}

/// Our board's address for a CAT report page's query.
fn board_url(page: CatPage, query: &CatQuery, clock: CatClock) -> Result<String, CatRefusal> {
    let mut params: Vec<(&str, String)> = (page.kept.iter())
        .filter_map(|&key| Some((key, value(query, key)?.to_owned())))
        .collect();
    params.extend(period(page, query, clock)?);
    refuse_data_format(page, query, &params).map_err(CatRefusal::Format)?;
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

/// CAT's switches for a report as data: `xml=true` (any value but `false`), `op=xml`,
/// `op=json`, `forceDownload=xml` (any value but `false`).
fn data_format_switch(query: &CatQuery) -> Option<(&'static str, &str)> {
    let on = |param: &'static str| {
        value(query, param)
            .filter(|v| !v.eq_ignore_ascii_case("false"))
            .map(|v| (param, v))
    };
    on("xml").or_else(|| on("forceDownload")).or_else(|| {
        value(query, "op")
            .filter(|op| op.eq_ignore_ascii_case("xml") || op.eq_ignore_ascii_case("json"))
            .map(|op| ("op", op))
    })
}

/// A 400 for CAT's report as data ([`data_format_switch`]): we serve neither XML nor CAT's
/// JSON here, and the board's HTML with a 200 would look like an answer to a script. It
/// names the JSON API's address of the report, with the parameters the board would get
/// (`params`) and `hour=current` for the current hour (the API has no default hour).
fn refuse_data_format(
    page: CatPage,
    query: &CatQuery,
    params: &[(&str, String)],
) -> Result<(), DataFormat> {
    let Some((param, switch)) = data_format_switch(query) else {
        return Ok(());
    };
    let mut params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let periods = ["hour", "day", "week", "month"];
    if !params.iter().any(|(k, _)| periods.contains(k)) {
        params.push(("hour", CURRENT));
    }
    let api = build_url(page.api, &params);
    Err(DataFormat {
        bad: BadParam {
            param,
            detail: format!(
                "{param}={switch} asks for the report as data; Ocelot serves no XML reports \
                 (nor CAT's JSON) at /cat/r/...: this one is JSON at {api}"
            ),
        },
        api,
    })
}

/// CAT's `step`: how many hours (days, weeks, months in history mode) to move the date by;
/// 0 when absent.
fn step(query: &CatQuery) -> Result<i64, BadParam> {
    let Some(raw) = value(query, "step") else {
        return Ok(0);
    };
    // An i32 of steps, even of weeks (7 days), added to a day or hour index stays well
    // inside an i64.
    raw.parse::<i32>().map(i64::from).map_err(|_| BadParam {
        param: "step",
        detail: format!(
            "“{raw}” is not a number of periods to move by: write a whole number, e.g. -1 or 1."
        ),
    })
}

/// `UTC+08:00`, `UTC-05:30`, or `UTC` of an offset in seconds east of UTC.
fn zone_name(utc_offset_seconds: i32) -> String {
    if utc_offset_seconds == 0 {
        return "UTC".to_owned();
    }
    let sign = if utc_offset_seconds < 0 { '-' } else { '+' };
    let minutes = utc_offset_seconds.unsigned_abs() / 60;
    format!("UTC{sign}{:02}:{:02}", minutes / 60, minutes % 60)
}

/// The period a CAT query selects, as our parameter and its value; `None` for the current
/// hour.
fn period(
    page: CatPage,
    query: &CatQuery,
    clock: CatClock,
) -> Result<Option<(&'static str, String)>, BadParam> {
    let report_type = value(query, "reportType").map(str::to_ascii_lowercase);
    let history = value(query, "op").is_some_and(|op| op.starts_with("history"))
        || report_type
            .as_deref()
            .is_some_and(|t| ["day", "week", "month"].contains(&t));
    let step = step(query)?;
    // The date's hour index as if its local time were UTC.
    let local_hour = value(query, "date")
        .map(|date| parse_cat_date(date, clock.utc_offset_seconds))
        .transpose()?;
    let moved_out = || BadParam {
        param: "step",
        detail: format!("{step} moves the date out of the years we show (1970 on)."),
    };
    if history && page.days {
        // History views keep CAT's calendar date; without one, our (UTC) today.
        let day = local_hour.unwrap_or(clock.now_hour) / HOURS_PER_DAY;
        let moved = match report_type.as_deref() {
            Some("week") => ("week", step_days(day, step.checked_mul(7))),
            Some("month") => ("month", step_month(day, step)),
            _ => ("day", step_days(day, Some(step))),
        };
        return match moved {
            (param, Some(label)) => Ok(Some((param, label))),
            (_, None) => Err(moved_out()),
        };
    }
    let hour = match local_hour {
        Some(local) => Some(
            utc_hour(local, clock.utc_offset_seconds).ok_or_else(|| BadParam {
                param: "date",
                detail: format!(
                    "it is before 1970 in UTC ({} here).",
                    zone_name(clock.utc_offset_seconds)
                ),
            })?,
        ),
        None => (step != 0).then_some(clock.now_hour),
    };
    hour.map(|hour| {
        let moved = hour.checked_add_signed(step).ok_or_else(moved_out)?;
        Ok(("hour", hour_label(moved)))
    })
    .transpose()
}

/// CAT's `yyyyMMddHH`, or `yyyyMMdd` for the day's first hour: its hour index as if the
/// local time were UTC.
fn parse_cat_date(date: &str, utc_offset_seconds: i32) -> Result<u64, BadParam> {
    match date.len() {
        10 => parse_hour_label(date),
        8 => parse_day_label(date).map(|day| day * HOURS_PER_DAY),
        _ => None,
    }
    .ok_or_else(|| BadParam {
        param: "date",
        detail: format!(
            "“{date}” is not one of CAT's dates: write YYYYMMDDHH in CAT's zone, {} \
             (e.g. 2026112207), or YYYYMMDD for a day.",
            zone_name(utc_offset_seconds)
        ),
    })
}

/// CAT's `date=` as `/cat/r/...` reads it at `utc_offset_seconds`: the zone's name and
/// the UTC hour's label (`UTC+08:00`, `2026120709` for `2026120717`); `None` when it is no
/// CAT date. For the API's 400 about `date=`, which names the `hour=` to give instead.
pub(crate) fn cat_date_as_hour(date: &str, utc_offset_seconds: i32) -> Option<(String, String)> {
    let local = parse_cat_date(date.trim(), utc_offset_seconds).ok()?;
    let hour = utc_hour(local, utc_offset_seconds)?;
    Some((zone_name(utc_offset_seconds), hour_label(hour)))
}

/// The UTC hour index of the local hour `local_hour` (its index as if local time were UTC)
/// at `utc_offset_seconds`: the hour its start falls in; `None` before 1970.
fn utc_hour(local_hour: u64, utc_offset_seconds: i32) -> Option<u64> {
    const SECONDS_PER_HOUR: i64 = 3600;
    let local_seconds = i64::try_from(local_hour)
        .ok()?
        .checked_mul(SECONDS_PER_HOUR)?;
    let utc_seconds = local_seconds.checked_sub(i64::from(utc_offset_seconds))?;
    u64::try_from(utc_seconds.div_euclid(SECONDS_PER_HOUR)).ok()
}

/// The label of the day `days` after `day`; `None` when that is before 1970 or `days`
/// overflowed.
fn step_days(day: u64, days: Option<i64>) -> Option<String> {
    day.checked_add_signed(days?).map(day_label)
}

/// The `YYYYMM` label of the month `months` after the one holding `day`; `None` before
/// 1970.
fn step_month(day: u64, months: i64) -> Option<String> {
    let label = day_label(day);
    let year: i64 = label[..4].parse().ok()?;
    let month: i64 = label[4..6].parse().ok()?;
    let index = (year * 12 + month - 1).checked_add(months)?;
    let (year, month) = (index.div_euclid(12), index.rem_euclid(12) + 1);
    (year >= 1970).then(|| format!("{year:04}{month:02}"))
}
