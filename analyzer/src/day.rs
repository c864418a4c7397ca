//! [`Day`]: what a day of one report kind holds, shared by [`crate::TransactionDay`],
//! [`crate::EventDay`] and [`crate::ProblemDay`]: the UTC day, the hours added, and the
//! hours' reports merged, each hour first folded into one row per entry keyed by its hour
//! of the day ([`HourlyReport::folded_into_hour_of_day`]), twice: per machine, and with
//! each hour's machines merged first, for the "All" view.
//!
//! Why fold first: an hour's rows are its minutes, and minute rows of different hours
//! would add up by minute of the hour, which means nothing; rows keyed by hour of the day
//! add up into the day's hourly series, at most 24 per entry. Why merge each hour's
//! machines first for "All": merging the machines' whole days instead would merge them in
//! key order, so what keeps the newest (failures) or the first (samples) of something would
//! follow the machines' keys, not the hours. Each kind's day adds its own view on top.
//!
//! A limit of folding: an hour of a transaction name becomes one row of the kind a minute
//! has, whose count saturates at 4 294 967 295 and whose failures at 67 108 863. A name
//! with more failures than that in one hour over all its machines (18 600 a second) shows
//! that many in the day; the hour view, counted per minute, does not saturate there.

use crate::view_query::{day_label, hour_label, HOURS_PER_DAY};

/// A report kind a [`Day`] merges: one domain's report of one hour, kept per minute.
pub(crate) trait HourlyReport {
    /// An empty report of `domain` at hour index `hour`.
    fn empty(domain: String, hour: u64) -> Self;
    /// The report's hour index.
    fn hour_index(&self) -> u64;
    /// This report with each entry's minute rows folded into one row keyed by the hour of
    /// the day (0..24) in place of a minute.
    fn folded_into_hour_of_day(&self) -> Self;
    /// Adds `other` (a report of the same domain) to this one.
    fn merge_from(&mut self, other: &Self);
    /// This report with every machine merged into one, as the hour's "All" view merges
    /// them.
    fn all_machines(&self) -> Self;
}

/// `impl HourlyReport` for a report with inherent `new`, `hour`, `by_hour_of_day`, `merge`
/// and `machines_merged`.
macro_rules! hourly_report {
    ($report:ty) => {
        impl $crate::day::HourlyReport for $report {
            fn empty(domain: String, hour: u64) -> Self {
                <$report>::new(domain, hour)
            }
            fn hour_index(&self) -> u64 {
                self.hour()
            }
            fn folded_into_hour_of_day(&self) -> Self {
                self.by_hour_of_day()
            }
            fn merge_from(&mut self, other: &Self) {
                self.merge(other)
            }
            fn all_machines(&self) -> Self {
                self.machines_merged()
            }
        }
    };
}
pub(crate) use hourly_report;

/// One domain's reports of kind `R` over one UTC day, merged hour by hour.
#[derive(Debug, Clone, Default)]
pub(crate) struct Day<R> {
    day: u64,
    /// The hours added, ascending.
    hours: Vec<u64>,
    /// The hours merged per machine, rows keyed by hour of the day (its hour is the
    /// day's first): what a view of one machine reads.
    report: R,
    /// The same with each hour's machines merged (into one keyed by the empty string)
    /// before the hour joins the day: what a view of all machines reads.
    all: R,
}

impl<R: HourlyReport> Day<R> {
    /// No hour yet of `domain` on `day` (a day index: `hour / 24`).
    pub(crate) fn new(domain: String, day: u64) -> Self {
        let first_hour = day.saturating_mul(HOURS_PER_DAY);
        Day {
            day,
            hours: Vec::new(),
            all: R::empty(domain.clone(), first_hour),
            report: R::empty(domain, first_hour),
        }
    }

    /// Adds the report of one hour of the day, or returns `false` and leaves out a report
    /// of another day. A second report of an hour adds to the first. What keeps "the
    /// first" of something (sample message IDs) keeps the day's first when the hours come
    /// in order, as the web's day view adds them; what keeps the newest, the latest.
    pub(crate) fn add_hour(&mut self, report: &R) -> bool {
        let hour = report.hour_index();
        if hour / HOURS_PER_DAY != self.day {
            return false;
        }
        let folded = report.folded_into_hour_of_day();
        self.all.merge_from(&folded.all_machines());
        self.report.merge_from(&folded);
        if let Err(at) = self.hours.binary_search(&hour) {
            self.hours.insert(at, hour);
        }
        true
    }

    /// The hours added, ascending.
    pub(crate) fn hours(&self) -> &[u64] {
        &self.hours
    }

    /// The merged report per machine, its rows keyed by hour of the day: its machines
    /// are the day's.
    pub(crate) fn report(&self) -> &R {
        &self.report
    }

    /// What a view of `machine` reads (`None`: all machines, each hour's merged first).
    pub(crate) fn report_of(&self, machine: Option<&str>) -> &R {
        match machine {
            Some(_) => &self.report,
            None => &self.all,
        }
    }

    /// The day's first hour index: a row keyed `h` is hour `first_hour() + h`.
    pub(crate) fn first_hour(&self) -> u64 {
        self.day.saturating_mul(HOURS_PER_DAY)
    }

    /// `YYYYMMDD` (UTC).
    pub(crate) fn label(&self) -> String {
        day_label(self.day)
    }

    /// The hours added as `YYYYMMDDHH`.
    pub(crate) fn hour_labels(&self) -> Vec<String> {
        self.hours.iter().map(|&h| hour_label(h)).collect()
    }
}
