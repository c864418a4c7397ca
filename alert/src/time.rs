//! Minutes, hours and days as plain numbers, and their UTC labels.
//!
//! The evaluator counts in *epoch minutes* (`epoch_ms / 60_000`): minute `m` lies in hour
//! `m / 60` (the store's hour index) and day `m / 1440`. Days are UTC days, so "the same
//! minute of the day" of the baseline is the same UTC clock time.

use std::fmt;

use crate::error::AlertError;

/// Milliseconds in a minute.
pub const MILLIS_PER_MINUTE: u64 = 60_000;
/// Minutes in an hour.
pub const MINUTES_PER_HOUR: u64 = 60;
/// Minutes in a day: the length of a baseline series.
pub const MINUTES_PER_DAY: u64 = 1_440;

/// Days since 1970-01-01 of a civil date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let mp = (i64::from(month) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of days since 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// The hour index (`epoch_ms / 3_600_000`) of a `YYYYMMDDHH` label (UTC), the format of
/// the web API's `date` and of `ocelot alert replay --from/--to`.
pub fn parse_hour_label(label: &str) -> Result<u64, AlertError> {
    let bad = || AlertError::BadHourLabel(label.to_owned());
    if label.len() != 10 || !label.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let field = |range: std::ops::Range<usize>| label[range].parse::<u32>().map_err(|_| bad());
    let (year, month, day, hour) = (field(0..4)?, field(4..6)?, field(6..8)?, field(8..10)?);
    if !(1..=12).contains(&month) || day == 0 || hour > 23 {
        return Err(bad());
    }
    let days = days_from_civil(i64::from(year), month, day);
    // Reject 20260231: it would silently mean March 3rd.
    if civil_from_days(days) != (i64::from(year), month, day) || days < 0 {
        return Err(bad());
    }
    Ok(days as u64 * 24 + u64::from(hour))
}

/// An epoch minute shown as `2026-11-22T08:15Z`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinuteLabel(pub u64);

impl fmt::Display for MinuteLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (year, month, day) = civil_from_days((self.0 / MINUTES_PER_DAY) as i64);
        let minute_of_day = self.0 % MINUTES_PER_DAY;
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}Z",
            minute_of_day / 60,
            minute_of_day % 60
        )
    }
}

/// `MinuteLabel(minute).to_string()`.
pub(crate) fn minute_label(minute: u64) -> String {
    MinuteLabel(minute).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hour_labels_parse_to_the_analyzers_hour_index() {
        assert_eq!(parse_hour_label("2026112207").unwrap(), 498_703);
        assert_eq!(parse_hour_label("1970010100").unwrap(), 0);
        let hour = parse_hour_label("2024022923").unwrap();
        assert_eq!(ocelot_analyzer::hour_label(hour), "2024022923");
    }

    #[test]
    fn impossible_hour_labels_are_rejected() {
        for bad in [
            "2026022900",
            "2026111",
            "2026112224",
            "2026130100",
            "20261122ab",
        ] {
            assert!(parse_hour_label(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn minute_labels_are_utc_clock_times() {
        assert_eq!(
            MinuteLabel(498_703 * 60 + 15).to_string(),
            "2026-11-22T07:15Z"
        );
    }
}
