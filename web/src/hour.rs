//! Hours as the API and the boards name them: `YYYYMMDDHH` in UTC (CAT's `date=` form), or
//! `current`. Internally an hour is an index, `epoch_ms / 3_600_000`. Days likewise:
//! `YYYYMMDD` in UTC, a day index `hour / 24`.

use ocelot_analyzer::{day_label, Span, HOURS_PER_DAY};
use ocelot_protocol::MILLIS_PER_HOUR;

/// The word for "the hour we are in" in `hour=` parameters.
pub(crate) const CURRENT: &str = "current";

/// Days since 1970-01-01 of a civil date (Howard Hinnant's `days_from_civil`), for dates
/// from 1970 on.
fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year / 400;
    let yoe = year - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(year: u64, month: u64) -> u64 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        _ => 31,
    }
}

/// The hour index of a `YYYYMMDDHH` label, or `None` when it is not one (wrong length,
/// not digits, no such date, before 1970).
pub(crate) fn parse_hour_label(label: &str) -> Option<u64> {
    if label.len() != 10 || !label.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let field = |range: std::ops::Range<usize>| label[range].parse::<u64>().ok();
    let (year, month, day, hour) = (field(0..4)?, field(4..6)?, field(6..8)?, field(8..10)?);
    let valid = year >= 1970
        && (1..=12).contains(&month)
        && (1..=days_in_month(year, month)).contains(&day)
        && hour < 24;
    valid.then(|| days_from_civil(year, month, day) * 24 + hour)
}

/// The day index of a `YYYYMMDD` label, or `None` when it is not one.
pub(crate) fn parse_day_label(label: &str) -> Option<u64> {
    if label.len() != 8 || !label.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    parse_hour_label(&format!("{label}00")).map(|hour| hour / HOURS_PER_DAY)
}

/// The hours of `day`.
pub(crate) fn hours_of_day(day: u64) -> std::ops::Range<u64> {
    let start = day.saturating_mul(HOURS_PER_DAY);
    start..start.saturating_add(HOURS_PER_DAY)
}

/// Seconds `span` (a day, week or month) has run at `now_ms`: the whole span once it is
/// over, at least 1 once it has begun, 0 before, as [`elapsed_seconds`] for an hour.
pub(crate) fn span_elapsed_seconds(span: Span, now_ms: u64) -> f64 {
    let hours = span.hours();
    let start_ms = hours.start.saturating_mul(MILLIS_PER_HOUR);
    let length_ms = (hours.end - hours.start).saturating_mul(MILLIS_PER_HOUR);
    seconds_run(start_ms, length_ms, now_ms)
}

/// Seconds of the period of `length_ms` from `start_ms` that have run at `now_ms`: all of
/// them once it is past; at least 1 once it has begun, so a fresh period shows a rate
/// instead of dividing by zero; 0 before it begins. A view's rates divide by this, or
/// through the minute of its data when that runs ahead of the clock (the collector takes
/// the next hour's trees from :57): see `ocelot_analyzer::ViewQuery::elapsed_seconds`.
fn seconds_run(start_ms: u64, length_ms: u64, now_ms: u64) -> f64 {
    if now_ms >= start_ms.saturating_add(length_ms) {
        length_ms as f64 / 1000.0
    } else if now_ms < start_ms {
        0.0
    } else {
        ((now_ms - start_ms) as f64 / 1000.0).max(1.0)
    }
}

/// `2026-11-21 to 2026-11-27 UTC` of a week, `November 2026 UTC` of a month, the day's
/// title of a day: a span as people read it.
pub(crate) fn span_title(span: Span) -> String {
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    match span {
        Span::Day(day) => day_title(day),
        Span::Week(first) => {
            let last = first.saturating_add(span.day_count() - 1);
            let (from, to) = (day_label(first), day_label(last));
            format!(
                "{}-{}-{} to {}-{}-{} UTC",
                &from[0..4],
                &from[4..6],
                &from[6..8],
                &to[0..4],
                &to[4..6],
                &to[6..8]
            )
        }
        Span::Month(first) => {
            let label = day_label(first);
            let month = label[4..6].parse::<usize>().unwrap_or(1);
            format!("{} {} UTC", MONTHS[month.clamp(1, 12) - 1], &label[0..4])
        }
    }
}

/// `2026-11-22 UTC`: a day as people read it.
pub(crate) fn day_title(day: u64) -> String {
    let label = day_label(day);
    format!("{}-{}-{} UTC", &label[0..4], &label[4..6], &label[6..8])
}

/// The hour a `hour=` value names: `current` (any case) or `YYYYMMDDHH`.
pub(crate) fn parse_hour(value: &str, now_ms: u64) -> Option<u64> {
    if value.eq_ignore_ascii_case(CURRENT) {
        Some(now_ms / MILLIS_PER_HOUR)
    } else {
        parse_hour_label(value)
    }
}

/// Seconds `hour` has run at `now_ms`: all 3600 for past hours, at least 1 for the
/// current one, 0 for one that has not begun ([`seconds_run`]).
pub(crate) fn elapsed_seconds(hour: u64, now_ms: u64) -> f64 {
    seconds_run(
        hour.saturating_mul(MILLIS_PER_HOUR),
        MILLIS_PER_HOUR,
        now_ms,
    )
}

/// `2026-11-22 07:00 UTC`: an hour as people read it.
///
/// The label is cut from its end: month, day and hour are two digits each, the year is
/// whatever comes before them. A year past 9999 (a client's timestamp, shown by LogView)
/// has more than four digits and would otherwise shift every field.
pub(crate) fn hour_title(hour: u64) -> String {
    let label = ocelot_analyzer::hour_label(hour);
    let (year, rest) = label.split_at(label.len() - 6);
    format!(
        "{year}-{}-{} {}:00 UTC",
        &rest[0..2],
        &rest[2..4],
        &rest[4..6]
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use ocelot_analyzer::hour_label;

    #[test]
    fn hour_labels_parse_back_to_their_hour() {
        for hour in [0, 1, 498_703, 474_263, 1_000_000] {
            assert_eq!(parse_hour_label(&hour_label(hour)), Some(hour), "{hour}");
        }
        assert_eq!(parse_hour_label("2026112207"), Some(498_703));
    }

    #[test]
    fn impossible_hour_labels_are_rejected() {
        for bad in [
            "",
            "current",
            "202611220",
            "20261122077",
            "2026132207",
            "2026113107",
            "2026112224",
            "2025022907",
            "1969123123",
            "2026-11-22",
            "+026112207",
        ] {
            assert_eq!(parse_hour_label(bad), None, "{bad}");
        }
        assert_eq!(
            parse_hour_label("2024022907").map(hour_label),
            Some("2024022907".to_owned())
        );
    }

    #[test]
    fn current_means_the_hour_of_now() {
        let now_ms = 498_703 * MILLIS_PER_HOUR + 5;
        assert_eq!(parse_hour("current", now_ms), Some(498_703));
        assert_eq!(parse_hour("CURRENT", now_ms), Some(498_703));
    }

    #[test]
    fn elapsed_seconds_is_the_whole_hour_for_past_hours_and_the_run_time_for_now() {
        let start_ms = 498_703 * MILLIS_PER_HOUR;
        assert_eq!(elapsed_seconds(498_702, start_ms), 3600.0);
        assert_eq!(elapsed_seconds(498_703, start_ms + 90_000), 90.0);
        assert_eq!(elapsed_seconds(498_703, start_ms), 1.0);
        assert_eq!(elapsed_seconds(498_704, start_ms), 0.0, "not begun");
    }

    #[test]
    fn day_labels_parse_back_to_their_day_and_bad_ones_do_not() {
        assert_eq!(parse_day_label("20261122"), Some(498_703 / 24));
        assert_eq!(parse_day_label(&day_label(20_779)), Some(20_779));
        for bad in [
            "",
            "2026112",
            "2026112207",
            "20261131",
            "19691231",
            "2026-11-2",
        ] {
            assert_eq!(parse_day_label(bad), None, "{bad}");
        }
        assert_eq!(day_title(498_703 / 24), "2026-11-22 UTC");
        assert_eq!(hours_of_day(1), 24..48);
    }

    #[test]
    fn a_day_has_run_all_its_seconds_once_past_and_the_elapsed_ones_today() {
        let start_ms = 20_779 * 86_400_000;
        assert_eq!(span_elapsed_seconds(Span::Day(20_778), start_ms), 86_400.0);
        let today = Span::Day(20_779);
        assert_eq!(span_elapsed_seconds(today, start_ms + 7_200_000), 7_200.0);
        assert_eq!(span_elapsed_seconds(today, start_ms), 1.0);
        assert_eq!(
            span_elapsed_seconds(Span::Day(20_780), start_ms),
            0.0,
            "not begun"
        );
        // 2026-11-21 (a Saturday) to 27: a day and two hours run on Sunday 02:00.
        let week = Span::week_of(20_779);
        assert_eq!(
            span_elapsed_seconds(week, start_ms + 7_200_000),
            86_400.0 + 7_200.0
        );
        assert_eq!(
            span_elapsed_seconds(week, start_ms + 30 * 86_400_000),
            7.0 * 86_400.0
        );
        let november = Span::month_of(20_779);
        assert_eq!(span_elapsed_seconds(november, u64::MAX), 30.0 * 86_400.0);
        assert_eq!(span_title(week), "2026-11-21 to 2026-11-27 UTC");
        assert_eq!(span_title(november), "November 2026 UTC");
        assert_eq!(span_title(today), "2026-11-22 UTC");
    }

    #[test]
    fn hour_title_spells_out_the_utc_hour() {
        assert_eq!(hour_title(498_703), "2026-11-22 07:00 UTC");
        assert_eq!(hour_title(0), "1970-01-01 00:00 UTC");
    }

    /// Roots carry the client's timestamp, so LogView may name an hour past the year 9999:
    /// its year gets a fifth digit and the rest stays in place.
    #[test]
    fn hour_title_of_a_year_past_9999_keeps_every_field_in_place() {
        let year_10000 = parse_hour_label("9999123123").expect("a valid hour") + 1;
        assert_eq!(hour_title(year_10000), "10000-01-01 00:00 UTC");
        assert_eq!(
            hour_title(year_10000 + 24 * 31 + 5),
            "10000-02-01 05:00 UTC"
        );
        let last = hour_title(u64::MAX / MILLIS_PER_HOUR);
        assert!(
            last.ends_with(" UTC") && last.split('-').count() == 3,
            "{last}"
        );
    }
}
