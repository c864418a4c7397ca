//! What a report request selects, shared by the JSON API and the boards: the query
//! parameters (`domain`, `hour` (CAT's `date` is refused), `ip`, `type`, `name`, `sort`, `limit`,
//! `long_ms`) and their checks.
//!
//! Every parameter arrives as an optional string, so deserializing a query never fails on
//! a value; each is then checked here and a bad one is named in the 400 answer.

use std::collections::BTreeMap;

use ocelot_analyzer::{Span, HOURS_PER_DAY};
use ocelot_protocol::MILLIS_PER_HOUR;
use serde::Deserialize;

use crate::error::{ApiError, PageError};
use crate::hour::{hours_of_day, parse_day_label, parse_hour, CURRENT};

/// The machine selector meaning "every machine merged".
pub(crate) const ALL_MACHINES: &str = "All";

/// The query parameters of the report endpoints and boards, unchecked. An empty value
/// counts as absent, except for `type` and `name`: CAT's clients log messages with an empty
/// name (the Java client's `RemoteCall` event of every remote call) and sometimes an empty
/// type, and `type=`/`name=` select those. And except for the period (`hour`, `date`,
/// `day`, `week`, `month`): an empty one is a 400 naming it, since taking it as absent
/// would show another period than the one a script meant (or ask for `hour` when `week=`
/// was given).
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct ReportParams {
    /// The application.
    pub(crate) domain: Option<String>,
    /// `YYYYMMDDHH` (UTC) or `current`.
    pub(crate) hour: Option<String>,
    /// CAT's name for `hour` (its report URLs say `date=2026112207`), in CAT's zone: a 400
    /// here ([`date_refused`]), read only on `/cat/r/...`.
    pub(crate) date: Option<String>,
    /// `YYYYMMDD` (UTC): a whole day instead of an hour (transactions, events and problems).
    pub(crate) day: Option<String>,
    /// `YYYYMMDD` (UTC), any day of the week: the week (Saturday to Friday) that holds it.
    pub(crate) week: Option<String>,
    /// `YYYYMM` (UTC): a calendar month.
    pub(crate) month: Option<String>,
    /// A machine IP or `All`.
    pub(crate) ip: Option<String>,
    /// A transaction or event type.
    #[serde(rename = "type")]
    pub(crate) type_: Option<String>,
    /// A transaction or event name.
    pub(crate) name: Option<String>,
    /// A column to sort a board by.
    pub(crate) sort: Option<String>,
    /// At most this many names per type in a transaction or event answer of the JSON API.
    pub(crate) limit: Option<String>,
    /// Raised long-execution thresholds of the problem board: `long-url:3000,long-sql:500`
    /// ([`LongMinimums`]).
    pub(crate) long_ms: Option<String>,
    /// `on`: the transaction and event boards' per-minute charts of a type or a name also
    /// draw the same minutes a day and a week earlier ([`ReportParams::compare`]).
    pub(crate) compare: Option<String>,
}

/// The `compare=` value that turns the comparison with earlier hours on.
pub(crate) const COMPARE_ON: &str = "on";

/// Names per type the JSON API lists without a `limit=`: as many as a board's table shows
/// ([`crate::board::MAX_TABLE_ROWS`]). A domain on a thousand machines can have hundreds of
/// thousands of names in its "All" view, each with up to 60 minute rows: hundreds of
/// megabytes of JSON, all built in memory first.
pub(crate) const DEFAULT_NAME_LIMIT: usize = 10_000;

/// The largest `limit=`: ten times the default, some 100 MB of JSON at most per type of
/// busy names, so one request cannot ask for an unbounded answer.
pub(crate) const MAX_NAME_LIMIT: usize = 100_000;

fn present(value: Option<&String>) -> Option<&str> {
    value.map(String::as_str).filter(|v| !v.is_empty())
}

/// A period parameter's value: `None` when absent, a 400 naming `param` when empty.
fn period_value<'v>(
    param: &'static str,
    value: Option<&'v String>,
) -> Result<Option<&'v str>, BadParam> {
    match value.map(String::as_str) {
        Some("") => Err(BadParam {
            param,
            detail: format!(
                "“{param}” is empty: give a value, or leave the parameter out for the default."
            ),
        }),
        value => Ok(value),
    }
}

impl ReportParams {
    pub(crate) fn domain(&self) -> Option<&str> {
        present(self.domain.as_ref())
    }

    /// The machine: `None` for all of them (absent, empty or `All` in any case).
    pub(crate) fn ip(&self) -> Option<&str> {
        present(self.ip.as_ref()).filter(|ip| !ip.eq_ignore_ascii_case(ALL_MACHINES))
    }

    /// A 400 for a machine (an `ip=` other than `All`) where a report is of the whole
    /// domain: business metrics are summed over the domain's machines (CAT's Business
    /// report) and keep none to pick. Figures of the whole domain under a machine's name
    /// would read as that machine's.
    pub(crate) fn whole_domain(&self) -> Result<(), BadParam> {
        match self.ip() {
            Some(ip) => Err(BadParam {
                param: "ip",
                detail: format!(
                    "a metric report is of the whole domain, not per machine: leave out “ip” \
                     (or give “All”) instead of “{ip}”."
                ),
            }),
            None => Ok(()),
        }
    }

    /// The type, `Some("")` for the empty type (see [`ReportParams`]).
    pub(crate) fn type_(&self) -> Option<&str> {
        self.type_.as_deref()
    }

    /// The name, `Some("")` for the empty name (see [`ReportParams`]).
    pub(crate) fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    pub(crate) fn sort(&self) -> Option<&str> {
        present(self.sort.as_ref())
    }

    /// The `compare=` as given, unchecked: see [`ReportParams::compare`].
    pub(crate) fn compare_param(&self) -> Option<&str> {
        present(self.compare.as_ref())
    }

    /// Whether the charts compare the hour with the same hour a day and a week earlier
    /// (`compare=on`); absent, empty or `off`, they do not. Off by default: each earlier
    /// hour is one more report to read (from the store, parsed whole, for a sealed hour).
    pub(crate) fn compare(&self) -> Result<bool, BadParam> {
        match self.compare_param() {
            None | Some("off") => Ok(false),
            Some(COMPARE_ON) => Ok(true),
            Some(raw) => Err(BadParam {
                param: "compare",
                detail: format!(
                    "“{raw}” is not a comparison setting: write “{COMPARE_ON}” to draw the same \
                     hour a day and a week earlier, or “off”."
                ),
            }),
        }
    }

    /// The `long_ms=` as given, unchecked: see [`ReportParams::long_minimums`].
    pub(crate) fn long_ms(&self) -> Option<&str> {
        present(self.long_ms.as_ref())
    }

    /// The names per type a JSON answer lists (`limit=`): [`DEFAULT_NAME_LIMIT`] when
    /// absent, else a whole number from 1 to [`MAX_NAME_LIMIT`].
    pub(crate) fn name_limit(&self) -> Result<usize, BadParam> {
        let Some(raw) = present(self.limit.as_ref()) else {
            return Ok(DEFAULT_NAME_LIMIT);
        };
        raw.parse::<usize>()
            .ok()
            .filter(|limit| (1..=MAX_NAME_LIMIT).contains(limit))
            .ok_or_else(|| BadParam {
                param: "limit",
                detail: format!(
                    "“{raw}” is not a number of names: write a whole number from 1 to \
                     {MAX_NAME_LIMIT} (the default is {DEFAULT_NAME_LIMIT})."
                ),
            })
    }

    /// The raised long-execution thresholds (`long_ms=`): comma-separated
    /// `<category>:<ms>` pairs, each category one of [`LONG_CATEGORIES`] at most once, each
    /// threshold a whole number of ms; absent or empty, none.
    pub(crate) fn long_minimums(&self) -> Result<LongMinimums, BadParam> {
        let mut minimums = LongMinimums::default();
        let Some(raw) = present(self.long_ms.as_ref()) else {
            return Ok(minimums);
        };
        let bad = |detail: String| BadParam {
            param: "long_ms",
            detail,
        };
        for pair in raw.split(',') {
            let Some((category, ms)) = pair.split_once(':') else {
                return Err(bad(format!(
                    "“{pair}” is not a category and a threshold: write <category>:<ms>, \
                     e.g. long-url:3000, several separated by commas."
                )));
            };
            let Some(category) = LONG_CATEGORIES.iter().find(|c| **c == category) else {
                return Err(bad(format!(
                    "“{category}” is not a long-execution category; use one of {}.",
                    LONG_CATEGORIES.join(", ")
                )));
            };
            let Ok(ms) = ms.parse::<u64>() else {
                return Err(bad(format!(
                    "“{ms}” is not a number of milliseconds for {category}: write a whole \
                     number, 0 or more (e.g. {category}:3000)."
                )));
            };
            if minimums.0.insert(category, ms).is_some() {
                return Err(bad(format!("{category} is given twice.")));
            }
        }
        Ok(minimums)
    }

    /// The hour selected (`hour=`): absent means `current` when `default_current`, else an
    /// error.
    pub(crate) fn hour(&self, now_ms: u64, default_current: bool) -> Result<u64, BadParam> {
        match self.hour_param()? {
            Some((param, raw)) => parse_hour(raw, now_ms).ok_or_else(|| BadParam {
                param,
                detail: format!(
                    "“{raw}” is not an hour: write YYYYMMDDHH in UTC (e.g. 2026112207) or \
                     “{CURRENT}”."
                ),
            }),
            None if default_current => Ok(now_ms / ocelot_protocol::MILLIS_PER_HOUR),
            None => Err(BadParam::missing("hour")),
        }
    }

    /// Whether an hour is given as `hour=` (an empty one too: reading it is a 400), or as
    /// CAT's `date=` (a 400 too).
    pub(crate) fn has_hour(&self) -> bool {
        self.hour.is_some() || self.date.is_some()
    }

    /// The parameter giving the hour and its value. An empty `hour=` is a 400, and so is
    /// CAT's `date=` ([`date_refused`]).
    fn hour_param(&self) -> Result<Option<(&'static str, &str)>, BadParam> {
        if self.date.is_some() {
            return Err(date_refused());
        }
        Ok(period_value("hour", self.hour.as_ref())?.map(|hour| ("hour", hour)))
    }
}

/// The problem categories of long executions, whose entries count per duration bucket.
pub(crate) const LONG_CATEGORIES: [&str; 5] = [
    "long-url",
    "long-service",
    "long-call",
    "long-sql",
    "long-cache",
];

/// The problem board's raised long-execution thresholds (`long_ms=`), in ms per category:
/// an entry of a category with one counts only its duration buckets at or over it (CAT's
/// Problem page has `urlThreshold`, `sqlThreshold`, ... for this).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct LongMinimums(BTreeMap<&'static str, u64>);

impl LongMinimums {
    /// The threshold raised for `category`, if any.
    pub(crate) fn get(&self, category: &str) -> Option<u64> {
        self.0.get(category).copied()
    }

    /// The `long_ms=` value of these thresholds with `category`'s set to `ms`.
    pub(crate) fn with(&self, category: &'static str, ms: u64) -> String {
        let mut changed = self.clone();
        changed.0.insert(category, ms);
        changed.to_param()
    }

    /// The `long_ms=` value of these thresholds without `category`'s: `""` when none is
    /// left (URL builders leave empty values out).
    pub(crate) fn without(&self, category: &str) -> String {
        let mut changed = self.clone();
        changed.0.remove(category);
        changed.to_param()
    }

    fn to_param(&self) -> String {
        let pairs: Vec<String> = (self.0.iter())
            .map(|(category, ms)| format!("{category}:{ms}"))
            .collect();
        pairs.join(",")
    }
}

/// What a report request covers: one hour, a whole UTC day (`day=`), or a week or month
/// of days (`week=`, `month=`), as indices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Period {
    /// An hour index.
    Hour(u64),
    /// A day index (`hour / 24`).
    Day(u64),
    /// A week or a month ([`Span::Week`], [`Span::Month`]; a day is [`Period::Day`]).
    Span(Span),
}

impl Period {
    /// The hours the period spans.
    pub(crate) fn hours(self) -> std::ops::Range<u64> {
        match self {
            Period::Hour(hour) => hour..hour + 1,
            Period::Day(day) => hours_of_day(day),
            Period::Span(span) => span.hours(),
        }
    }

    /// The days merged: `None` for an hour.
    pub(crate) fn span(self) -> Option<Span> {
        match self {
            Period::Hour(_) => None,
            Period::Day(day) => Some(Span::Day(day)),
            Period::Span(span) => Some(span),
        }
    }
}

/// The parameters that select days instead of an hour, in the order a 400 names them.
const DAY_PARAMS: [&str; 3] = ["day", "week", "month"];

impl ReportParams {
    /// The period selected: `day=`, `week=`, `month=` or `hour=` (absent: as
    /// [`ReportParams::hour`]); two of them together are a 400.
    pub(crate) fn period(&self, now_ms: u64, default_current: bool) -> Result<Period, BadParam> {
        let mut given: Vec<(&'static str, &str)> = Vec::new();
        for (param, value) in DAY_PARAMS
            .into_iter()
            .zip([&self.day, &self.week, &self.month])
        {
            if let Some(value) = period_value(param, value.as_ref())? {
                given.push((param, value));
            }
        }
        let Some(&(param, raw)) = given.first() else {
            return self.hour(now_ms, default_current).map(Period::Hour);
        };
        if let Some(&(other, _)) = given.get(1) {
            return Err(BadParam {
                param: other,
                detail: format!("give one of “{param}” and “{other}”, not both."),
            });
        }
        if let Some((hour_param, _)) = self.hour_param()? {
            return Err(BadParam {
                param,
                detail: format!(
                    "give “{hour_param}” (one hour) or “{param}” (a whole {param}), not both."
                ),
            });
        }
        let today = now_ms / MILLIS_PER_HOUR / HOURS_PER_DAY;
        let current = raw.eq_ignore_ascii_case(CURRENT);
        let parsed = match param {
            "day" if current => Some(Period::Day(today)),
            "day" => parse_day_label(raw).map(Period::Day),
            "week" if current => Some(Period::Span(Span::week_of(today))),
            "week" => parse_day_label(raw).map(|day| Period::Span(Span::week_of(day))),
            _ if current => Some(Period::Span(Span::month_of(today))),
            _ => (raw.len() == 6)
                .then(|| parse_day_label(&format!("{raw}01")))
                .flatten()
                .map(|day| Period::Span(Span::month_of(day))),
        };
        parsed.ok_or_else(|| BadParam {
            param,
            detail: match param {
                "day" => format!(
                    "“{raw}” is not a day: write YYYYMMDD in UTC (e.g. 20261122), or current."
                ),
                "week" => format!(
                    "“{raw}” is not a week: write any of its days as YYYYMMDD in UTC (weeks run \
                     from Saturday to Friday, e.g. 20261121), or current."
                ),
                _ => format!(
                    "“{raw}” is not a month: write YYYYMM in UTC (e.g. 202611), or current."
                ),
            },
        })
    }

    /// A 400 for a `day=`, `week=` or `month=` (an empty one too) where only hours are
    /// offered.
    pub(crate) fn hours_only(&self) -> Result<(), BadParam> {
        let given = DAY_PARAMS
            .into_iter()
            .zip([&self.day, &self.week, &self.month])
            .find(|(_, value)| value.is_some());
        match given {
            Some((param, _)) => Err(BadParam {
                param,
                detail: "this report is shown an hour at a time: give “hour”; the day, week \
                         and month views are on transactions, events and problems."
                    .to_owned(),
            }),
            None => Ok(()),
        }
    }
}

/// The 400 for CAT's `date=` on a board or the API. CAT's report addresses
/// (`/cat/r/t?date=..`) write it in CAT's zone (+08:00 in most deployments) and are read
/// so; our hours are UTC. Taking it as UTC here gave an hour 8 hours away from the one the
/// same value names there, with a 200: a CAT script that swapped the path read the wrong
/// hour. Refused rather than read in CAT's zone, so that nobody who relied on either
/// reading gets another hour without a word.
pub(crate) fn date_refused() -> BadParam {
    BadParam {
        param: "date",
        detail: "date= is CAT's form, read in CAT's time zone on /cat/r/... (e.g. \
                 /cat/r/t?domain=..&date=..); here use hour=YYYYMMDDHH (UTC)."
            .to_owned(),
    }
}

/// A parameter that is missing or malformed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BadParam {
    /// The parameter's name.
    pub(crate) param: &'static str,
    /// What is wrong with it.
    pub(crate) detail: String,
}

impl BadParam {
    pub(crate) fn missing(param: &'static str) -> Self {
        BadParam {
            param,
            detail: format!("the parameter “{param}” is required."),
        }
    }

    pub(crate) fn message(&self) -> String {
        format!("bad parameter “{}”: {}", self.param, self.detail)
    }
}

impl From<BadParam> for ApiError {
    fn from(bad: BadParam) -> Self {
        ApiError::BadRequest(bad.message())
    }
}

impl From<BadParam> for PageError {
    fn from(bad: BadParam) -> Self {
        PageError::BadRequest {
            title: format!("The “{}” parameter is not right", bad.param),
            detail: bad.message(),
            search: String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(query: &str) -> ReportParams {
        serde_urlencoded_like(query)
    }

    /// The same parsing axum's `Query` does.
    fn serde_urlencoded_like(query: &str) -> ReportParams {
        let uri: axum::http::Uri = format!("/x?{query}").parse().unwrap();
        axum::extract::Query::<ReportParams>::try_from_uri(&uri)
            .unwrap()
            .0
    }

    #[test]
    fn all_and_empty_machine_selectors_mean_every_machine() {
        assert_eq!(params("ip=All").ip(), None);
        assert_eq!(params("ip=all").ip(), None);
        assert_eq!(params("ip=").ip(), None);
        assert_eq!(params("ip=10.0.0.1").ip(), Some("10.0.0.1"));
    }

    #[test]
    fn bad_hours_name_the_parameter() {
        let err = params("hour=yesterday").hour(0, true).unwrap_err();
        assert_eq!(err.param, "hour");
        assert!(err.message().contains("yesterday"));
        assert_eq!(params("").hour(0, false).unwrap_err().param, "hour");
        assert_eq!(params("").hour(7_200_000, true), Ok(2));
    }

    #[test]
    fn cats_date_is_refused_naming_hour_in_utc() {
        for query in [
            "date=2026112207",
            "date=",
            "hour=2026112207&date=2026112206",
            "date=2026112207&day=20261122",
        ] {
            let err = params(query).period(0, true).unwrap_err();
            assert_eq!(err.param, "date", "{query}");
            assert!(
                err.message().contains("hour=YYYYMMDDHH (UTC)")
                    && err.message().contains("/cat/r/"),
                "{query}: {}",
                err.message()
            );
        }
        assert_eq!(
            params("date=2026112207").hour(0, true).unwrap_err().param,
            "date"
        );
    }

    #[test]
    fn the_comparison_is_off_unless_asked_for_and_rejects_other_values() {
        assert_eq!(params("").compare(), Ok(false));
        assert_eq!(params("compare=").compare(), Ok(false));
        assert_eq!(params("compare=off").compare(), Ok(false));
        assert_eq!(params("compare=on").compare(), Ok(true));
        for bad in ["1", "ON", "yes", "x"] {
            let err = params(&format!("compare={bad}")).compare().unwrap_err();
            assert_eq!(err.param, "compare");
            assert!(err.message().contains(bad), "{}", err.message());
        }
    }

    #[test]
    fn the_name_limit_defaults_and_rejects_zero_junk_and_too_many() {
        assert_eq!(params("").name_limit(), Ok(DEFAULT_NAME_LIMIT));
        assert_eq!(params("limit=").name_limit(), Ok(DEFAULT_NAME_LIMIT));
        assert_eq!(params("limit=3").name_limit(), Ok(3));
        assert_eq!(params("limit=100000").name_limit(), Ok(MAX_NAME_LIMIT));
        for bad in ["0", "-1", "ten", "1.5", "100001", "99999999999999999999999"] {
            let err = params(&format!("limit={bad}")).name_limit().unwrap_err();
            assert_eq!(err.param, "limit");
            assert!(err.message().contains(bad), "{}", err.message());
        }
    }

    #[test]
    fn current_is_today_in_any_case_as_it_is_this_hour() {
        let now_ms = 498_703 * MILLIS_PER_HOUR + 60_000;
        for current in ["current", "CURRENT", "Current"] {
            assert_eq!(
                params(&format!("hour={current}")).period(now_ms, false),
                Ok(Period::Hour(498_703)),
                "{current}"
            );
            assert_eq!(
                params(&format!("day={current}")).period(now_ms, false),
                Ok(Period::Day(498_703 / 24)),
                "{current}"
            );
        }
    }

    #[test]
    fn a_day_is_an_alternative_to_an_hour_not_a_companion() {
        assert_eq!(
            params("day=20261122").period(0, true),
            Ok(Period::Day(498_703 / 24))
        );
        assert_eq!(
            params("hour=2026112207").period(0, true),
            Ok(Period::Hour(498_703))
        );
        let both = params("hour=2026112207&day=20261122")
            .period(0, true)
            .unwrap_err();
        assert!(both.message().contains("“hour”") && both.message().contains("“day”"));
        let bad = params("day=2026-11-22").period(0, true).unwrap_err();
        assert_eq!(bad.param, "day");
        assert!(bad.message().contains("2026-11-22"));
        assert_eq!(
            params("day=20261122").hours_only().unwrap_err().param,
            "day"
        );
        assert_eq!(Period::Day(1).hours(), 24..48);
    }

    #[test]
    fn an_empty_period_parameter_is_a_400_naming_it_not_an_absent_one() {
        for param in ["hour", "day", "week", "month"] {
            let query = format!("{param}=");
            for default_current in [true, false] {
                let err = params(&query)
                    .period(7_200_000, default_current)
                    .unwrap_err();
                assert_eq!(err.param, param, "{query}");
                assert!(
                    err.message().contains("empty"),
                    "{query}: {}",
                    err.message()
                );
            }
        }
        // The hour alone, as the hour-only endpoints read it.
        assert_eq!(params("hour=").hour(0, true).unwrap_err().param, "hour");
        assert!(params("hour=").has_hour());
        assert_eq!(params("week=").hours_only().unwrap_err().param, "week");
        // Beside a good one, the empty one is named too.
        let err = params("day=20261122&week=").period(0, true).unwrap_err();
        assert_eq!(err.param, "week");
    }

    #[test]
    fn a_week_is_any_of_its_days_and_a_month_is_yyyymm() {
        // 2026-11-22 is a Sunday: its week began on Saturday the 21st.
        let week = Span::week_of(498_703 / 24);
        assert_eq!(
            params("week=20261122").period(0, true),
            Ok(Period::Span(week))
        );
        assert_eq!(
            params("week=20261121").period(0, true),
            Ok(Period::Span(week))
        );
        let now_ms = 498_703 * MILLIS_PER_HOUR;
        assert_eq!(
            params("week=current").period(now_ms, true),
            Ok(Period::Span(week))
        );
        let november = Span::month_of(498_703 / 24);
        assert_eq!(
            params("month=202611").period(0, true),
            Ok(Period::Span(november))
        );
        assert_eq!(
            params("month=Current").period(now_ms, true),
            Ok(Period::Span(november))
        );
        assert_eq!(Period::Span(november).hours(), november.hours());
        for (query, param, says) in [
            ("month=20261122", "month", "20261122"),
            ("month=202613", "month", "202613"),
            ("week=2026-11-22", "week", "Saturday"),
            ("day=20261122&week=20261122", "week", "“day”"),
            ("week=20261122&month=202611", "month", "“week”"),
            ("hour=2026112207&month=202611", "month", "“hour”"),
            ("date=2026112207&week=20261122", "date", "hour=YYYYMMDDHH"),
        ] {
            let err = params(query).period(0, true).unwrap_err();
            assert_eq!(err.param, param, "{query}");
            assert!(err.message().contains(says), "{query}: {}", err.message());
        }
        assert_eq!(
            params("month=202611").hours_only().unwrap_err().param,
            "month"
        );
        assert_eq!(
            params("week=20261122").hours_only().unwrap_err().param,
            "week"
        );
    }

    #[test]
    fn long_thresholds_are_category_ms_pairs_and_keep_each_other() {
        assert_eq!(params("").long_minimums(), Ok(LongMinimums::default()));
        assert_eq!(
            params("long_ms=").long_minimums(),
            Ok(LongMinimums::default())
        );
        let two = params("long_ms=long-url:3000,long-sql:0")
            .long_minimums()
            .unwrap();
        assert_eq!(two.get("long-url"), Some(3_000));
        assert_eq!(two.get("long-sql"), Some(0));
        assert_eq!(two.get("long-call"), None);
        assert_eq!(
            two.with("long-url", 5_000),
            "long-sql:0,long-url:5000",
            "one category changed, the other kept"
        );
        assert_eq!(two.without("long-sql"), "long-url:3000");
        assert_eq!(two.without("long-url").as_str(), "long-sql:0");
        assert_eq!(LongMinimums::default().without("long-url"), "");
    }

    #[test]
    fn bad_long_thresholds_name_the_parameter_and_the_value() {
        for (bad, quoted) in [
            ("long-url:3s", "3s"),
            ("long-url:-1", "-1"),
            ("long-url:", "“”"),
            ("error:100", "error"),
            ("long-urls:100", "long-urls"),
            ("3000", "3000"),
            ("long-url:1000,long-url:2000", "twice"),
            (
                "long-url:99999999999999999999999",
                "99999999999999999999999",
            ),
        ] {
            let err = params(&format!("long_ms={bad}"))
                .long_minimums()
                .unwrap_err();
            assert_eq!(err.param, "long_ms", "{bad}");
            assert!(err.message().contains(quoted), "{bad}: {}", err.message());
        }
    }
}
