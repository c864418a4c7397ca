//! [`ViewQuery`]: what a JSON API request selects from a report, and shared view figures.

/// What to show of a report.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ViewQuery<'a> {
    /// One machine's figures, or `None` for all machines merged (the API's `ip=All`).
    pub ip: Option<&'a str>,
    /// Only this type (transaction and event views), or `None` for every type.
    pub type_: Option<&'a str>,
    /// Seconds the hour has run by the server's clock: elapsed seconds for the current
    /// hour, 0 for one that has not begun, 3600 for a past one, the seconds of the day
    /// that have run for a merged daily report (of the week or month for one of those,
    /// whose views divide by the part of it on days with data instead: see
    /// `TransactionDay::span_view`). `tps = count / elapsed_seconds`, except
    /// that a view holding data dated in a minute that has not begun by then (the
    /// collector takes the next hour's trees from :57) divides by the seconds through
    /// that minute.
    pub elapsed_seconds: f64,
    /// At most this many names per type (transaction and event views), or `None` for every
    /// name. A type then lists its busiest names (by count; ties by name) in its usual
    /// order and says how many it left out, while its own figures still cover every name.
    /// The names are picked from their counts before any of their figures are built: the
    /// left-out names cost no view and no JSON (merging the machines, which the counts
    /// need, still costs what it does).
    pub max_names: Option<usize>,
    /// A name asked for by name, or `None`: listed even past `max_names` (it may not be
    /// among the busiest), and in a transaction view the one name whose view carries its
    /// duration distribution ([`crate::TransactionNameView::distribution`]), which no other
    /// name's does. Not a filter: the view lists it besides the busiest.
    pub keep_name: Option<&'a str>,
}

impl ViewQuery<'_> {
    /// The `ip` selector with `All` (any case) meaning every machine.
    pub(crate) fn machine(&self) -> Option<&str> {
        self.ip.filter(|ip| !ip.eq_ignore_ascii_case("all"))
    }
}

/// Which of a type's names a view keeps under `max_names`, given each name's count in the
/// view's order (by name, so a position breaks ties as the name would): `None` when every
/// name is kept, else whether each position is. The busiest names by count, found with a
/// selection (linear on average), not a sort of them all.
///
/// `keep` is the position of a name kept besides the busiest ([`ViewQuery::keep_name`]).
pub(crate) fn busiest_names(
    counts: Vec<u64>,
    max_names: Option<usize>,
    keep: Option<usize>,
) -> Option<Vec<bool>> {
    let max = max_names.filter(|&max| max < counts.len())?;
    let mut order: Vec<usize> = (0..counts.len()).collect();
    if max > 0 {
        order.select_nth_unstable_by(max - 1, |&a, &b| counts[b].cmp(&counts[a]).then(a.cmp(&b)));
    }
    let mut kept = vec![false; counts.len()];
    for &i in &order[..max] {
        kept[i] = true;
    }
    if let Some(keep) = keep.filter(|&keep| keep < kept.len()) {
        kept[keep] = true;
    }
    Some(kept)
}

/// The position of `name` among `names` (a type's names in view order), for
/// [`busiest_names`]'s `keep`.
pub(crate) fn keep_position<'n>(
    mut names: impl Iterator<Item = &'n str>,
    name: Option<&str>,
) -> Option<usize> {
    let name = name?;
    names.position(|n| n == name)
}

/// What a view's rows are: minutes of an hour (an hour's report), or, in a merged report
/// whose rows [`crate::Span::row_of`] keyed, hours of a day or days of a week or month.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rows {
    /// Minutes of the hour.
    Minutes,
    /// Hours from this hour index (a day's first).
    HoursFrom(u64),
    /// Days from this day index (a week's or month's first).
    DaysFrom(u64),
}

/// A view's rows as [`Rows`] says they are: `(minutes, hours, days)`, two of them empty.
pub(crate) type SplitRows<M, H, D> = (Vec<M>, Vec<H>, Vec<D>);

impl Rows {
    /// `minute_rows` (rows keyed as minutes) kept as minutes, or read as hours of the day
    /// (`in_day`) or days of the week or month (`in_span`): every kind's views list them
    /// under `minutes`, `hours` or `days`.
    pub(crate) fn split<M, H, D>(
        self,
        minute_rows: impl IntoIterator<Item = M>,
        in_day: impl Fn(M, u64) -> H,
        in_span: impl Fn(M, u64) -> D,
    ) -> SplitRows<M, H, D> {
        let rows = minute_rows.into_iter();
        match self {
            Rows::Minutes => (rows.collect(), Vec::new(), Vec::new()),
            Rows::HoursFrom(first_hour) => (
                Vec::new(),
                rows.map(|m| in_day(m, first_hour)).collect(),
                Vec::new(),
            ),
            Rows::DaysFrom(first_day) => (
                Vec::new(),
                Vec::new(),
                rows.map(|m| in_span(m, first_day)).collect(),
            ),
        }
    }

    /// The seconds a view of these rows divides its rates by, given
    /// [`ViewQuery::elapsed_seconds`] and its newest row with data: see [`rate_seconds`]. A
    /// week's or month's `elapsed_seconds` are already those of its days with data
    /// (`Day::rate_seconds`, which counts a day not begun by its first minute), taken as
    /// they are: a row's place in the span says nothing of them.
    pub(crate) fn rate_seconds(self, elapsed_seconds: f64, newest_row: Option<u8>) -> f64 {
        match self {
            Rows::DaysFrom(_) => elapsed_seconds,
            rows => rate_seconds(elapsed_seconds, newest_row, rows.row_seconds()),
        }
    }

    /// How long one row is: a minute, an hour or a day.
    pub(crate) fn row_seconds(self) -> f64 {
        match self {
            Rows::Minutes => SECONDS_PER_MINUTE,
            Rows::HoursFrom(_) => SECONDS_PER_HOUR,
            Rows::DaysFrom(_) => SECONDS_PER_DAY,
        }
    }
}

/// For `skip_serializing_if`: a count of names left out is written only when some were.
pub(crate) fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Seconds in a minute: the least a row with data covers, and the length of an hour
/// view's rows.
pub(crate) const SECONDS_PER_MINUTE: f64 = 60.0;
/// The length of a day view's rows, which are hours.
pub(crate) const SECONDS_PER_HOUR: f64 = 3600.0;
/// The length of a week's or month's rows, which are days.
pub(crate) const SECONDS_PER_DAY: f64 = 86_400.0;

/// The seconds a view's rates divide by: [`ViewQuery::elapsed_seconds`], or, when the
/// view's newest row with data (`newest_row`: a minute, `row_seconds` 60, or an hour of a
/// day's view, 3600) has not begun by then, the seconds through that row's first minute.
///
/// The collector takes the next hour's trees from :57, and a client's clock may run
/// ahead: an hour that has not begun, or has run a second, may already hold trees. Divided
/// by the second or less the clock gives it, a handful of trees read as thousands a
/// second; they were made over a minute at least. Data of a row under way leaves the
/// elapsed time as it is.
pub(crate) fn rate_seconds(elapsed_seconds: f64, newest_row: Option<u8>, row_seconds: f64) -> f64 {
    match newest_row.map(|row| f64::from(row) * row_seconds) {
        Some(row_start) if row_start >= elapsed_seconds => row_start + SECONDS_PER_MINUTE,
        _ => elapsed_seconds,
    }
}

/// Count per second over `elapsed_seconds` (0 when nothing has elapsed).
pub fn tps(count: u64, elapsed_seconds: f64) -> f64 {
    if elapsed_seconds > 0.0 {
        count as f64 / elapsed_seconds
    } else {
        0.0
    }
}

/// `100 * fail / count`, 0 for no messages.
pub(crate) fn fail_percent(fail: u64, count: u64) -> f64 {
    if count == 0 {
        0.0
    } else {
        100.0 * fail as f64 / count as f64
    }
}

/// The API's hour label `YYYYMMDDHH` (UTC) of an hour index (`epoch_ms / 3_600_000`).
pub fn hour_label(hour: u64) -> String {
    let days = (hour / 24) as i64;
    let (year, month, day) = civil_from_days(days);
    format!("{year:04}{month:02}{day:02}{:02}", hour % 24)
}

/// Hours in a UTC day: a day index is `hour / HOURS_PER_DAY`.
pub const HOURS_PER_DAY: u64 = 24;

/// The API's day label `YYYYMMDD` (UTC) of a day index (`epoch_ms / 86_400_000`, or
/// `hour / 24`).
pub fn day_label(day: u64) -> String {
    let mut label = hour_label(day.saturating_mul(HOURS_PER_DAY));
    label.truncate(8);
    label
}

/// Howard Hinnant's `civil_from_days`: days since 1970-01-01 to (year, month, day).
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hour_labels_are_utc_calendar_hours() {
        // The captured frames: 2026-11-22 07:xx UTC is hour 498703.
        assert_eq!(hour_label(498_703), "2026112207");
        assert_eq!(hour_label(0), "1970010100");
        // 2024-02-29 23:00 UTC.
        assert_eq!(hour_label(1_709_247_600_000 / 3_600_000), "2024022923");
    }

    #[test]
    fn day_labels_are_the_utc_date_of_the_day() {
        assert_eq!(day_label(498_703 / 24), "20261122");
        assert_eq!(day_label(0), "19700101");
    }

    #[test]
    fn the_busiest_names_are_kept_and_ties_go_to_the_first_name() {
        assert_eq!(busiest_names(vec![5, 1, 9], None, None), None);
        assert_eq!(busiest_names(vec![5, 1, 9], Some(3), None), None);
        assert_eq!(
            busiest_names(vec![5, 1, 9], Some(2), None),
            Some(vec![true, false, true])
        );
        assert_eq!(
            busiest_names(vec![3, 7, 3, 3], Some(2), None),
            Some(vec![true, true, false, false])
        );
        assert_eq!(
            busiest_names(vec![3, 7], Some(0), None),
            Some(vec![false, false])
        );
        // A name to keep comes on top of the busiest.
        assert_eq!(
            busiest_names(vec![3, 7, 3, 3], Some(2), Some(3)),
            Some(vec![true, true, false, true])
        );
        assert_eq!(
            busiest_names(vec![3, 7, 3], Some(2), Some(1)),
            Some(vec![true, true, false])
        );
    }

    #[test]
    fn rates_cover_at_least_the_minute_of_data_the_clock_has_not_reached() {
        // An hour that has not begun, with trees of its first minute: one minute.
        assert_eq!(rate_seconds(0.0, Some(0), SECONDS_PER_MINUTE), 60.0);
        // Trees dated minutes ahead of the clock count through their minute.
        assert_eq!(rate_seconds(1.0, Some(4), SECONDS_PER_MINUTE), 300.0);
        assert_eq!(rate_seconds(2410.0, Some(41), SECONDS_PER_MINUTE), 2520.0);
        // The minute under way, or an older one, leaves the clock's seconds as they are.
        assert_eq!(rate_seconds(1.0, Some(0), SECONDS_PER_MINUTE), 1.0);
        assert_eq!(rate_seconds(2410.0, Some(40), SECONDS_PER_MINUTE), 2410.0);
        assert_eq!(rate_seconds(3600.0, Some(59), SECONDS_PER_MINUTE), 3600.0);
        assert_eq!(rate_seconds(0.0, None, SECONDS_PER_MINUTE), 0.0);
        // A day's rows are hours: a day that has not begun holds at least a minute.
        assert_eq!(rate_seconds(0.0, Some(0), SECONDS_PER_HOUR), 60.0);
        assert_eq!(rate_seconds(19_800.0, Some(6), SECONDS_PER_HOUR), 21_660.0);
        assert_eq!(rate_seconds(19_800.0, Some(5), SECONDS_PER_HOUR), 19_800.0);
    }

    #[test]
    fn tps_is_zero_before_any_time_elapsed() {
        assert_eq!(tps(10, 0.0), 0.0);
        assert_eq!(tps(7200, 3600.0), 2.0);
    }
}
