//! [`Day`]: what a day, week or month ([`Span`]) of one report kind holds, shared by
//! [`crate::TransactionDay`], [`crate::EventDay`] and [`crate::ProblemDay`]: the span, the
//! hours added, and the hours' reports merged, each hour first folded into one row per
//! entry keyed by its row of the span ([`Span::row_of`]: its hour of the day in a day, its
//! day in a week or month), twice: per machine, and with each hour's machines merged
//! first, for the "All" view.
//!
//! Why fold first: an hour's rows are its minutes, and minute rows of different hours
//! would add up by minute of the hour, which means nothing; rows keyed by hour of the day
//! add up into the day's hourly series, at most 24 per entry (and a week's or month's
//! daily series, at most 31). Why merge each hour's
//! machines first for "All": merging the machines' whole days instead would merge them in
//! key order, so what keeps the newest (failures) or the first (samples) of something would
//! follow the machines' keys, not the hours. Each kind's day adds its own view on top.
//!
//! A limit of folding: an hour of a transaction name becomes one row of the kind a minute
//! has, whose count saturates at 4 294 967 295 and whose failures at 67 108 863. A name
//! with more failures than that in one hour over all its machines (18 600 a second) shows
//! that many in the day; the hour view, counted per minute, does not saturate there. A
//! week's or month's row is a whole day, where the same caps hold per day: 67 million
//! failures of one name in a day (777 a second over all its machines) or 4.3 billion calls
//! (49 700 a second) is where its week or month undercounts. Rows of 64-bit counts would
//! lift that for every hour's report too (a minute row is 16 bytes), so they are not used.

use serde::Serialize;

use crate::span::Span;
use crate::view_query::{
    day_label, hour_label, Rows, ViewQuery, HOURS_PER_DAY, SECONDS_PER_DAY, SECONDS_PER_MINUTE,
};

/// A report kind of one domain and one hour, kept per minute: what an
/// [`crate::Analyzer`] keeps per domain and a [`Day`] merges. Public only so that those
/// public types can name it as a bound: this module is private, so no one outside the
/// crate can name or implement it.
pub trait HourlyReport {
    /// An empty report of `domain` at hour index `hour`.
    fn empty(domain: String, hour: u64) -> Self;
    /// The report's hour index.
    fn hour_index(&self) -> u64;
    /// This report with each entry's minute rows folded into one row keyed `row` (an hour
    /// of the day, or a day of a week or month) in place of a minute.
    fn folded_into_row(&self, row: u8) -> Self;
    /// Adds `other` (a report of the same domain) to this one.
    fn merge_from(&mut self, other: &Self);
    /// This report with every machine merged into one, as the hour's "All" view merges
    /// them.
    fn all_machines(&self) -> Self;
    /// The report's domain.
    fn domain_name(&self) -> &str;
    /// The report's machines, in order.
    fn machine_ips(&self) -> impl Iterator<Item = &str>;
    /// Machines, types and names (or categories) held: what a kept day's size is
    /// estimated from.
    fn entries(&self) -> usize;
    /// A generous estimate of the heap bytes one entry of a merged day holds
    /// ([`Day::approx_bytes`]).
    const DAY_ENTRY_BYTES: usize;
}

/// `impl HourlyReport` for a report with inherent `new`, `hour`, `in_row`, `merge`,
/// `machines_merged`, `domain`, `ips` and `entry_count`, and its `DAY_ENTRY_BYTES`.
macro_rules! hourly_report {
    ($report:ty, day_entry_bytes = $bytes:expr) => {
        impl $crate::day::HourlyReport for $report {
            const DAY_ENTRY_BYTES: usize = $bytes;
            fn empty(domain: String, hour: u64) -> Self {
                <$report>::new(domain, hour)
            }
            fn hour_index(&self) -> u64 {
                self.hour()
            }
            fn folded_into_row(&self, row: u8) -> Self {
                self.in_row(row)
            }
            fn merge_from(&mut self, other: &Self) {
                self.merge(other)
            }
            fn all_machines(&self) -> Self {
                self.machines_merged()
            }
            fn domain_name(&self) -> &str {
                self.domain()
            }
            fn machine_ips(&self) -> impl Iterator<Item = &str> {
                self.ips()
            }
            fn entries(&self) -> usize {
                self.entry_count()
            }
        }
    };
}
pub(crate) use hourly_report;

/// One domain's reports of kind `R` over one UTC day, week or month, merged hour by hour.
/// Each kind names it ([`crate::TransactionDay`], [`crate::EventDay`],
/// [`crate::ProblemDay`], [`crate::MatrixDay`]) and adds its views.
#[derive(Debug, Clone)]
pub struct Day<R> {
    span: Span,
    /// The hours added, ascending.
    hours: Vec<u64>,
    /// The hours merged per machine, rows keyed by [`Span::row_of`] (its hour is the
    /// span's first): what a view of one machine reads.
    report: R,
    /// The same with each hour's machines merged (into one keyed by the empty string)
    /// before the hour joins the day: what a view of all machines reads.
    all: R,
}

impl<R> Day<R> {
    /// The span merged.
    pub fn span(&self) -> Span {
        self.span
    }

    /// The hours added, ascending.
    pub fn hours(&self) -> &[u64] {
        &self.hours
    }
}

impl<R: HourlyReport> Day<R> {
    /// No hour yet of `domain` on `day` (a day index: `hour / 24`).
    pub fn new(domain: impl Into<String>, day: u64) -> Self {
        Day::over(domain, Span::Day(day))
    }

    /// No hour yet of `domain` in `span`: a day, or a week or month whose rows are days
    /// (CAT's weekly and monthly reports).
    pub fn over(domain: impl Into<String>, span: Span) -> Self {
        let domain = domain.into();
        let first_hour = span.hours().start;
        Day {
            span,
            hours: Vec::new(),
            all: R::empty(domain.clone(), first_hour),
            report: R::empty(domain, first_hour),
        }
    }

    /// Adds the report of one hour of the span (its `hour`), or returns `false` and leaves
    /// out a report of an hour outside it. Add each hour once, in order: a second report of
    /// an hour (another collector's, say) adds to the first, and what keeps "the first" of
    /// something (sample message IDs) keeps the span's first when the hours come in order,
    /// as the web's views add them; what keeps the newest, the latest.
    pub fn add_hour(&mut self, report: &R) -> bool {
        let hour = report.hour_index();
        let Some(row) = self.span.row_of(hour) else {
            return false;
        };
        let folded = report.folded_into_row(row);
        self.all.merge_from(&folded.all_machines());
        self.report.merge_from(&folded);
        if let Err(at) = self.hours.binary_search(&hour) {
            self.hours.insert(at, hour);
        }
        true
    }

    /// Adds `day`, one whole day of the same domain merged on its own (made with
    /// [`Day::new`] and its hours), as that day's row of this week or month; or returns
    /// `false` and leaves out a day outside the span, or anything when this is itself a
    /// day. The same as adding that day's hours one by one: a row is the fold of the day's
    /// hours, and folding the day's hourly rows sums the same figures. Add days (and any
    /// hours added directly) in order, so what keeps the first or the newest keeps the
    /// span's. What lets a week or month reuse days merged once (the web keeps past days).
    pub fn add_day(&mut self, day: &Day<R>) -> bool {
        let (Span::Day(_), Span::Week(_) | Span::Month(_)) = (day.span, self.span) else {
            return false;
        };
        let Some(row) = self.span.row_of(day.span.hours().start) else {
            return false;
        };
        self.report.merge_from(&day.report.folded_into_row(row));
        self.all.merge_from(&day.all.folded_into_row(row));
        for &hour in &day.hours {
            if let Err(at) = self.hours.binary_search(&hour) {
                self.hours.insert(at, hour);
            }
        }
        true
    }

    /// `query` as a week's or month's view reads it: its rates over the days with data
    /// ([`Day::rate_seconds`]) instead of the whole span. A day's view divides by the
    /// seconds of the day that have run, as the query gives them.
    pub(crate) fn rate_query<'q>(&self, query: &ViewQuery<'q>) -> ViewQuery<'q> {
        match self.span {
            Span::Day(_) => *query,
            Span::Week(_) | Span::Month(_) => ViewQuery {
                elapsed_seconds: self.rate_seconds(query.elapsed_seconds),
                ..*query
            },
        }
    }

    /// The seconds a week's or month's rates divide by, given `elapsed_seconds`, the
    /// seconds of the span that have run: those of its days with data (an hour added), each
    /// as far as it has run. A past day counts whole, today up to now, a day not begun (the
    /// collector takes the next day's first trees from 23:57) by its first minute, as
    /// [`crate::view_query::rate_seconds`] counts a row not begun, and a day without data
    /// not at all: a service deployed on a Wednesday has its week's rate over the days it
    /// ran, not diluted by the days before it (nor by days past the store's retention).
    pub(crate) fn rate_seconds(&self, elapsed_seconds: f64) -> f64 {
        let first = self.span.first_day();
        let mut days: Vec<u64> = self.hours.iter().map(|h| h / HOURS_PER_DAY).collect();
        days.dedup();
        days.into_iter()
            .map(|day| {
                let run = elapsed_seconds - day.saturating_sub(first) as f64 * SECONDS_PER_DAY;
                if run > 0.0 {
                    run.min(SECONDS_PER_DAY)
                } else {
                    SECONDS_PER_MINUTE
                }
            })
            .sum()
    }

    /// Machines, types and names held, per machine and for "All" together.
    pub(crate) fn entries(&self) -> usize {
        self.report.entries() + self.all.entries()
    }

    /// A generous estimate of the heap bytes held, from the entries kept: what a cache of
    /// merged days budgets by.
    pub fn approx_bytes(&self) -> usize {
        self.entries().saturating_mul(R::DAY_ENTRY_BYTES)
    }

    /// The machines seen in any hour of the span.
    pub fn ips(&self) -> impl Iterator<Item = &str> {
        self.report.machine_ips()
    }

    /// The merged report per machine, its rows keyed by [`Span::row_of`]: its machines
    /// are the span's.
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

    /// How the views label the rows: hours from the day's first, or days from the span's.
    pub(crate) fn rows(&self) -> Rows {
        match self.span {
            Span::Day(_) => Rows::HoursFrom(self.span.hours().start),
            Span::Week(first) | Span::Month(first) => Rows::DaysFrom(first),
        }
    }

    /// `YYYYMMDD` of a day or a week's first day, `YYYYMM` of a month (UTC).
    pub(crate) fn label(&self) -> String {
        self.span.label()
    }

    /// What every kind's week or month view starts with.
    pub(crate) fn span_head(&self) -> SpanHead {
        let span = self.span;
        SpanHead {
            domain: self.report.domain_name().to_owned(),
            period: span.kind(),
            label: span.label(),
            from: day_label(span.first_day()),
            to: day_label(span.first_day().saturating_add(span.day_count() - 1)),
            days: self.day_labels(),
            ips: self.ips().map(str::to_owned).collect(),
        }
    }

    /// The days of the span with an hour added, as `YYYYMMDD`.
    pub(crate) fn day_labels(&self) -> Vec<String> {
        let mut days: Vec<u64> = self.hours.iter().map(|h| h / HOURS_PER_DAY).collect();
        days.dedup();
        days.into_iter().map(day_label).collect()
    }

    /// The hours added as `YYYYMMDDHH`.
    pub(crate) fn hour_labels(&self) -> Vec<String> {
        self.hours.iter().map(|&h| hour_label(h)).collect()
    }
}

/// The fields a week's or month's view of any kind starts with (`GET /api/transaction`,
/// `/api/event` or `/api/problem` with `week=` or `month=`): `{"domain","period","label",
/// "from","to","days":[..],"ips":[..]}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SpanHead {
    /// The domain.
    pub domain: String,
    /// `week` or `month` (`day` for a day merged this way).
    pub period: &'static str,
    /// The week's first day `YYYYMMDD`, or the month `YYYYMM` (UTC).
    pub label: String,
    /// The span's first day, `YYYYMMDD`.
    pub from: String,
    /// The span's last day, `YYYYMMDD`.
    pub to: String,
    /// The days of the span merged (those with a report of the domain), `YYYYMMDD`.
    pub days: Vec<String>,
    /// Every machine seen in the span.
    pub ips: Vec<String>,
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use ocelot_protocol::{Leaf, Message};

    use crate::config::AnalyzerConfig;
    use crate::span::Span;
    use crate::test_support::{transaction, tree};
    use crate::{EventDay, HourAnalyzers, MatrixDay, ProblemDay, TransactionDay};

    #[test]
    fn each_kind_estimates_a_days_size_at_its_own_bytes_per_entry() {
        let hour = 498_703;
        let mut analyzers = HourAnalyzers::new(hour, &Arc::new(AnalyzerConfig::default()));
        let mut root = transaction("URL", "/a", hour * 3_600_000, 9_000_000, "ERROR");
        let event = Leaf::new("Cache", "get", "0", hour * 3_600_000, "");
        root.children.push(Message::Event(event));
        analyzers.process(&tree("shop", "10.0.0.1", "shop-0a000001-1-1", root));
        let day = hour / 24;

        // Machine, type and name, per machine and for "All".
        let mut transactions = TransactionDay::new("shop", day);
        assert!(transactions.add_hour(&analyzers.transaction.reports()["shop"]));
        assert_eq!(transactions.approx_bytes(), 6 * 2048);
        let mut events = EventDay::new("shop", day);
        assert!(events.add_hour(&analyzers.event.reports()["shop"]));
        assert_eq!(events.approx_bytes(), 6 * 512);
        // Machine, then type and name of the error and of the long URL, twice.
        let mut problems = ProblemDay::new("shop", day);
        assert!(problems.add_hour(&analyzers.problem.reports()["shop"]));
        assert_eq!(problems.approx_bytes(), 10 * 2560);
        // Type and name, twice.
        let mut matrix = MatrixDay::over("shop", Span::Day(day));
        assert!(matrix.add_hour(&analyzers.matrix.reports()["shop"]));
        assert_eq!(matrix.approx_bytes(), 4 * 512);
    }
}
