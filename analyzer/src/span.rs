//! [`Span`]: the days a history view merges, as CAT's `reportType` names them (`day`,
//! `week`, `month`), and how each hour of them folds into one row of the merged report.
//!
//! A day's rows are its 24 hours; a week's and a month's rows are their days (at most 31),
//! so a name costs at most 31 rows whatever the span. Weeks run from Saturday to Friday, as
//! CAT's weekly reports do (built on Saturdays from the seven days before); months are
//! calendar months in UTC.

use std::ops::Range;

use crate::view_query::{civil_from_days, day_label, HOURS_PER_DAY};

/// Day index 2 (1970-01-03) was a Saturday: weeks start on days `2 + 7k`.
const FIRST_SATURDAY: u64 = 2;
/// 9999-12-31, the last day a label can name: later indices are taken as it.
const LAST_DAY: u64 = 2_932_896;
/// Seconds in a UTC day.
const SECONDS_PER_DAY: f64 = 86_400.0;

/// The days a history view covers.
///
/// ```
/// use ocelot_analyzer::Span;
///
/// let day = 498_703 / 24; // 2026-11-22, a Sunday
/// assert_eq!(Span::week_of(day).label(), "20261121");
/// assert_eq!(Span::month_of(day).label(), "202611");
/// assert_eq!(Span::month_of(day).day_count(), 30);
/// assert_eq!(Span::week_of(day).row_of(day * 24 + 5), Some(1));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Span {
    /// One UTC day, by its index (`hour / 24`): rows are its hours.
    Day(u64),
    /// Seven days from a Saturday (its day index): rows are days.
    Week(u64),
    /// A calendar month, by its first day's index: rows are days.
    Month(u64),
}

impl Span {
    /// The week (Saturday to Friday) that holds `day`. The first two days, 1970-01-01 and
    /// 02 (a Thursday and a Friday), are the tail of a week that began before 1970: a week
    /// of two days, `Week(0)`, whose next is the first whole one.
    pub fn week_of(day: u64) -> Span {
        match day.checked_sub(FIRST_SATURDAY) {
            Some(since_first) => Span::Week(day - since_first % 7),
            None => Span::Week(0),
        }
    }

    /// The calendar month that holds `day` (days past the year 9999 are taken as its last).
    pub fn month_of(day: u64) -> Span {
        let day = day.min(LAST_DAY);
        let (_, _, of_month) = civil_from_days(day as i64);
        Span::Month(day - u64::from(of_month - 1))
    }

    /// The span's first day index.
    pub fn first_day(self) -> u64 {
        match self {
            Span::Day(day) | Span::Week(day) | Span::Month(day) => day,
        }
    }

    /// How many days the span has: 1, 7, or the month's 28 to 31.
    pub fn day_count(self) -> u64 {
        match self {
            Span::Day(_) => 1,
            Span::Week(first) if first < FIRST_SATURDAY => FIRST_SATURDAY - first,
            Span::Week(_) => 7,
            Span::Month(first) => {
                let (year, month, _) = civil_from_days(first.min(LAST_DAY) as i64);
                days_in_month(year, month)
            }
        }
    }

    /// The hour indices the span covers.
    pub fn hours(self) -> Range<u64> {
        let start = self.first_day().saturating_mul(HOURS_PER_DAY);
        start..start.saturating_add(self.day_count() * HOURS_PER_DAY)
    }

    /// Seconds in the whole span (a past span's elapsed time).
    pub fn seconds(self) -> f64 {
        self.day_count() as f64 * SECONDS_PER_DAY
    }

    /// Whether the merged report's rows are hours (a day) rather than days.
    pub fn rows_are_hours(self) -> bool {
        matches!(self, Span::Day(_))
    }

    /// The row that `hour` folds into: its hour of the day in a day, its day of the span in
    /// a week or month; `None` for an hour outside the span.
    pub fn row_of(self, hour: u64) -> Option<u8> {
        let hours = self.hours();
        if !hours.contains(&hour) {
            return None;
        }
        let offset = hour - hours.start;
        let row = if self.rows_are_hours() {
            offset
        } else {
            offset / HOURS_PER_DAY
        };
        u8::try_from(row).ok()
    }

    /// `YYYYMMDD` of a day and of a week's first day, `YYYYMM` of a month (UTC).
    pub fn label(self) -> String {
        let mut label = day_label(self.first_day());
        if let Span::Month(_) = self {
            label.truncate(6);
        }
        label
    }

    /// The span before this one of the same kind (`None` before 1970).
    pub fn previous(self) -> Option<Span> {
        let first = self.first_day();
        match self {
            Span::Day(_) => first.checked_sub(1).map(Span::Day),
            Span::Week(_) => first.checked_sub(1).map(Span::week_of),
            Span::Month(_) => first.checked_sub(1).map(Span::month_of),
        }
    }

    /// The span after this one of the same kind.
    pub fn next(self) -> Span {
        let after = self.first_day().saturating_add(self.day_count());
        match self {
            Span::Day(_) => Span::Day(after),
            Span::Week(_) => Span::Week(after),
            Span::Month(_) => Span::Month(after),
        }
    }

    /// `day`, `week` or `month`: CAT's `reportType`, and the API's parameter.
    pub fn kind(self) -> &'static str {
        match self {
            Span::Day(_) => "day",
            Span::Week(_) => "week",
            Span::Month(_) => "month",
        }
    }
}

fn days_in_month(year: i64, month: u32) -> u64 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-11-22, a Sunday.
    const DAY: u64 = 498_703 / 24;

    #[test]
    fn weeks_run_from_saturday_to_friday() {
        // 2026-11-21 was a Saturday.
        for day in DAY - 1..DAY + 6 {
            assert_eq!(
                Span::week_of(day),
                Span::Week(DAY - 1),
                "{}",
                day_label(day)
            );
        }
        assert_eq!(
            Span::week_of(DAY + 6),
            Span::Week(DAY + 6),
            "the next Saturday"
        );
        assert_eq!(
            Span::week_of(DAY - 2),
            Span::Week(DAY - 8),
            "the Friday before"
        );
        assert_eq!(Span::Week(DAY - 1).label(), "20261121");
        assert_eq!(Span::Week(DAY - 1).next(), Span::Week(DAY + 6));
        assert_eq!(Span::Week(DAY - 1).previous(), Some(Span::Week(DAY - 8)));
        assert_eq!(
            Span::week_of(0),
            Span::Week(0),
            "no Saturday before 1970-01-03"
        );
    }

    #[test]
    fn months_are_calendar_months_of_their_length() {
        let november = Span::month_of(DAY);
        assert_eq!(november.label(), "202611");
        assert_eq!(day_label(november.first_day()), "20261101");
        assert_eq!(november.day_count(), 30);
        assert_eq!(november.next().label(), "202612");
        assert_eq!(november.next().day_count(), 31);
        assert_eq!(
            november.previous().map(Span::label).as_deref(),
            Some("202610")
        );
        // 2024 is a leap year, 2100 is not.
        let feb_2024 = Span::month_of(november.first_day() - 1000);
        assert_eq!(
            (feb_2024.label(), feb_2024.day_count()),
            ("202402".into(), 29)
        );
        let mar_2100 = Span::Month(47_541); // 2100-03-01
        assert_eq!(mar_2100.label(), "210003");
        assert_eq!(mar_2100.previous().map(Span::day_count), Some(28));
        assert_eq!(Span::Month(0).previous(), None);
    }

    #[test]
    fn huge_indices_do_not_overflow() {
        for day in [u64::MAX, u64::MAX - 1, i64::MAX as u64, i64::MAX as u64 + 5] {
            for span in [Span::Day(day), Span::week_of(day), Span::month_of(day)] {
                let _ = (span.hours(), span.label(), span.day_count(), span.seconds());
                let _ = (span.next(), span.previous(), span.row_of(u64::MAX));
            }
        }
        assert_eq!(Span::month_of(u64::MAX).label(), "999912");
        assert_eq!(Span::Month(u64::MAX).day_count(), 31);
    }

    #[test]
    fn hours_fold_into_hours_of_a_day_and_days_of_a_week_or_month() {
        let day = Span::Day(DAY);
        assert_eq!(day.row_of(DAY * 24), Some(0));
        assert_eq!(day.row_of(DAY * 24 + 23), Some(23));
        assert_eq!(day.row_of(DAY * 24 + 24), None);
        let week = Span::week_of(DAY);
        assert_eq!(week.row_of(DAY * 24 - 24), Some(0), "Saturday");
        assert_eq!(week.row_of(DAY * 24 + 23), Some(1), "Sunday's last hour");
        assert_eq!(week.row_of(week.hours().end), None);
        let month = Span::month_of(DAY);
        assert_eq!(month.row_of(month.hours().end - 1), Some(29), "the 30th");
        assert_eq!(month.hours().end - month.hours().start, 30 * 24);
        assert_eq!(month.seconds(), 30.0 * 86_400.0);
        assert_eq!(
            (day.kind(), week.kind(), month.kind()),
            ("day", "week", "month")
        );
    }
}
