//! [`ProblemReport`]: domain -> machine -> category -> type -> name problem counts of one
//! hour, and the [`ProblemView`] the JSON API returns.

use serde::{Deserialize, Serialize};

use crate::minute::minute_entry;
use crate::sample_ids::SampleIds;
use crate::sorted_map::SortedMap;
use crate::view_query::{day_label, hour_label, Rows, ViewQuery};

/// Sample message IDs kept per problem entry (CAT: 60).
pub(crate) const MAX_PROBLEM_MESSAGE_IDS: usize = 60;

/// The error category: failed transactions and failed `Error`/`Exception`/
/// `RuntimeException` events.
pub(crate) const ERROR: &str = "error";
/// `URL` transactions over the long-url threshold.
pub(crate) const LONG_URL: &str = "long-url";
/// `SQL` transactions over the long-sql threshold.
pub(crate) const LONG_SQL: &str = "long-sql";
/// `Call`/`PigeonCall` transactions over the long-call threshold.
pub(crate) const LONG_CALL: &str = "long-call";
/// `Service`/`PigeonService` transactions over the long-service threshold.
pub(crate) const LONG_SERVICE: &str = "long-service";
/// `Cache.*` transactions over the long-cache threshold.
pub(crate) const LONG_CACHE: &str = "long-cache";
/// What the names of the long-execution categories start with.
const LONG_PREFIX: &str = "long-";

/// All problems of one domain in one hour.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProblemReport {
    pub(crate) domain: String,
    pub(crate) hour: u64,
    /// Keyed by client IP.
    pub(crate) machines: SortedMap<ProblemMachine>,
    /// Problems counted under an `OTHERS` key because a cap was reached (domain, machine,
    /// type or name), each once.
    pub(crate) folded: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct ProblemMachine {
    pub(crate) categories: SortedMap<ProblemCategory>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct ProblemCategory {
    pub(crate) types: SortedMap<ProblemType>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct ProblemType {
    pub(crate) names: SortedMap<ProblemEntry>,
}

/// One (category, type, name).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct ProblemEntry {
    /// Sorted by minute; the entry's count is their sum.
    pub(crate) minutes: Vec<ProblemMinute>,
    pub(crate) sample_message_ids: SampleIds,
    /// A long-execution entry's count per duration bucket (CAT's `duration` elements),
    /// sorted by bucket; empty for errors. Checkpoints written before buckets were kept
    /// have none: their counts stand, unsplit.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) durations: Vec<LongBucket>,
}

/// A long-execution bucket: its lower bound in ms ([`crate::LongThresholds`]) and how many
/// executions fell in it. Checkpoints keep the `(ms, count)` pair.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "(u64, u64)", into = "(u64, u64)")]
pub(crate) struct LongBucket {
    pub(crate) ms: u64,
    pub(crate) count: u64,
}

impl From<(u64, u64)> for LongBucket {
    fn from((ms, count): (u64, u64)) -> Self {
        LongBucket { ms, count }
    }
}

impl From<LongBucket> for (u64, u64) {
    fn from(b: LongBucket) -> Self {
        (b.ms, b.count)
    }
}

/// A minute and its count in 8 bytes (a problem entry exists per machine, category, type
/// and name, and most hold a minute or two). Checkpoints keep the `(minute, count)` pair.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "(u8, u64)", into = "(u8, u64)")]
pub(crate) struct ProblemMinute(u64);

/// Low bits of [`ProblemMinute`] that hold the count (it saturates there); the minute is
/// above them.
const PROBLEM_COUNT_BITS: u32 = 58;
const PROBLEM_COUNT_MAX: u64 = (1 << PROBLEM_COUNT_BITS) - 1;

impl From<(u8, u64)> for ProblemMinute {
    fn from((minute, count): (u8, u64)) -> Self {
        ProblemMinute(
            u64::from(minute.min(63)) << PROBLEM_COUNT_BITS | count.min(PROBLEM_COUNT_MAX),
        )
    }
}

impl From<ProblemMinute> for (u8, u64) {
    fn from(m: ProblemMinute) -> Self {
        (m.minute(), m.count())
    }
}

impl ProblemMinute {
    pub(crate) fn minute(self) -> u8 {
        (self.0 >> PROBLEM_COUNT_BITS) as u8
    }

    pub(crate) fn count(self) -> u64 {
        self.0 & PROBLEM_COUNT_MAX
    }

    fn add(&mut self, count: u64) {
        *self = (self.minute(), self.count().saturating_add(count)).into();
    }
}

impl ProblemEntry {
    pub(crate) fn record(&mut self, minute: u8, count: u64) {
        minute_entry(
            &mut self.minutes,
            minute,
            |m| m.minute(),
            || (minute, 0).into(),
        )
        .add(count);
    }

    /// Adds `count` executions to the bucket that starts at `ms`.
    pub(crate) fn record_duration(&mut self, ms: u64, count: u64) {
        let bucket = match self.durations.binary_search_by_key(&ms, |b| b.ms) {
            Ok(pos) => &mut self.durations[pos],
            Err(pos) => {
                // At most one per bucket of the category (seven at most): no slack kept.
                crate::frugal_vec::insert_frugal(&mut self.durations, pos, (ms, 0).into());
                &mut self.durations[pos]
            }
        };
        bucket.count = bucket.count.saturating_add(count);
    }

    /// Problems of this entry over the hour.
    pub(crate) fn count(&self) -> u64 {
        self.minutes
            .iter()
            .fold(0u64, |total, m| total.saturating_add(m.count()))
    }

    fn merge(&mut self, other: &ProblemEntry) {
        for theirs in &other.minutes {
            self.record(theirs.minute(), theirs.count());
        }
        self.sample_message_ids
            .merge_capped(&other.sample_message_ids, MAX_PROBLEM_MESSAGE_IDS);
        for theirs in &other.durations {
            self.record_duration(theirs.ms, theirs.count);
        }
    }
}

impl ProblemType {
    fn merge(&mut self, other: &ProblemType) {
        self.names.merge_with(&other.names, ProblemEntry::merge);
    }
}

impl ProblemCategory {
    fn merge(&mut self, other: &ProblemCategory) {
        self.types.merge_with(&other.types, ProblemType::merge);
    }
}

impl ProblemMachine {
    fn merge(&mut self, other: &ProblemMachine) {
        self.categories
            .merge_with(&other.categories, ProblemCategory::merge);
    }
}

crate::tree_counter::machine_report!(ProblemReport, ProblemMachine);
// A day's entry keeps up to 60 sample message IDs of 32 bytes and up to 24 rows.
crate::day::hourly_report!(ProblemReport, day_entry_bytes = 2560);

impl ProblemReport {
    /// An empty report for `domain` and `hour`.
    pub fn new(domain: impl Into<String>, hour: u64) -> Self {
        ProblemReport {
            domain: domain.into(),
            hour,
            ..ProblemReport::default()
        }
    }

    /// The domain.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The hour index.
    pub fn hour(&self) -> u64 {
        self.hour
    }

    /// The machines (client IPs) seen.
    pub fn ips(&self) -> impl Iterator<Item = &str> {
        self.machines.keys()
    }

    /// How many problems were counted under an `OTHERS` key (domain, machine, type or
    /// name) because a cap was reached, each once however many of its keys folded.
    pub fn folded(&self) -> u64 {
        self.folded
    }

    /// Adds `other` to this report.
    pub fn merge(&mut self, other: &ProblemReport) {
        if self.domain.is_empty() {
            self.domain.clone_from(&other.domain);
        }
        if self.hour == 0 {
            self.hour = other.hour;
        }
        self.folded = self.folded.saturating_add(other.folded);
        self.machines
            .merge_with(&other.machines, ProblemMachine::merge);
    }

    /// Machines, types and names held ([`crate::AnalyzerConfig::max_entries_per_hour`]).
    pub(crate) fn entry_count(&self) -> usize {
        let types = |c: &ProblemCategory| {
            c.types.len() + c.types.values().map(|t| t.names.len()).sum::<usize>()
        };
        self.machines
            .values()
            .map(|m| 1 + m.categories.values().map(types).sum::<usize>())
            .sum()
    }

    /// Problems of every machine, category, type and name: the view's counts summed,
    /// without building the view.
    pub fn total_count(&self) -> u64 {
        self.count_of(|_| true)
    }

    /// Errors ([`ProblemReport::total_count`] of the `error` category): failed
    /// transactions and failed `Error`/`Exception`/`RuntimeException` events.
    pub fn error_count(&self) -> u64 {
        self.count_of(|category| category == ERROR)
    }

    /// Long executions ([`ProblemReport::total_count`] of the `long-*` categories): slow
    /// URLs, SQL, calls, services and caches. These did not fail; they took long.
    pub fn long_count(&self) -> u64 {
        self.count_of(|category| category.starts_with(LONG_PREFIX))
    }

    /// Problems of the categories `wanted` takes, every machine, type and name.
    fn count_of(&self, wanted: impl Fn(&str) -> bool) -> u64 {
        let mut total = 0u64;
        for machine in self.machines.values() {
            for (_, category) in machine.categories.iter().filter(|(name, _)| wanted(name)) {
                for t in category.types.values() {
                    for entry in t.names.values() {
                        total = total.saturating_add(entry.count());
                    }
                }
            }
        }
        total
    }

    /// What `GET /api/problem` returns (`query.type_` filters by problem type).
    pub fn view(&self, query: &ViewQuery<'_>) -> ProblemView {
        ProblemView {
            domain: self.domain.clone(),
            hour: hour_label(self.hour),
            ips: self.machines.keys().map(str::to_owned).collect(),
            problems: self.entry_views(query, Rows::Minutes),
            folded: self.folded,
        }
    }

    /// The entries a view shows. For a report of [`ProblemReport::in_row`] rows, `rows`
    /// says what they are: an entry's rows are then listed as `hours` of a day or `days` of
    /// a week or month instead of `minutes`.
    pub(crate) fn entry_views(&self, query: &ViewQuery<'_>, rows: Rows) -> Vec<ProblemEntryView> {
        let merged = self
            .machines
            .one_or_merged(query.machine(), ProblemMachine::merge);
        let machine = merged.as_deref();
        let mut problems = Vec::new();
        for (category, c) in machine.iter().flat_map(|m| m.categories.iter()) {
            for (type_, t) in c.types.iter() {
                if query.type_.is_some_and(|wanted| wanted != type_) {
                    continue;
                }
                for (name, entry) in t.names.iter() {
                    let minute_rows = entry.minutes.iter().map(|m| ProblemMinuteView {
                        minute: m.minute(),
                        count: m.count(),
                    });
                    let (minutes, hours, days) = rows.split(
                        minute_rows,
                        ProblemMinuteView::in_day,
                        ProblemMinuteView::in_span,
                    );
                    problems.push(ProblemEntryView {
                        category: category.to_owned(),
                        type_: type_.to_owned(),
                        name: name.to_owned(),
                        count: entry.count(),
                        minutes,
                        hours,
                        days,
                        durations: (entry.durations.iter())
                            .map(|b| ProblemDurationView {
                                ms: b.ms,
                                count: b.count,
                            })
                            .collect(),
                        sample_message_ids: entry.sample_message_ids.texts(),
                    });
                }
            }
        }
        problems
    }

    /// This report with each entry's minutes folded into one row keyed `row` (an hour of
    /// the day, or a day of a week or month) in place of a minute: what a day, week or
    /// month of reports keeps of each hour ([`crate::ProblemDay`]; see
    /// [`crate::TransactionReport`]'s twin for why). Sample message IDs stay as the hour
    /// kept them (its first ones).
    pub(crate) fn in_row(&self, row: u8) -> ProblemReport {
        let machines = self.machines.map_values(|_, machine| ProblemMachine {
            categories: machine.categories.map_values(|_, c| ProblemCategory {
                types: c.types.map_values(|_, t| ProblemType {
                    names: t.names.map_values(|_, entry| {
                        let count = entry.count();
                        ProblemEntry {
                            minutes: if count > 0 {
                                vec![(row, count).into()]
                            } else {
                                Vec::new()
                            },
                            sample_message_ids: entry.sample_message_ids.clone(),
                            durations: entry.durations.clone(),
                        }
                    }),
                }),
            }),
        });
        ProblemReport {
            domain: self.domain.clone(),
            hour: self.hour,
            machines,
            folded: self.folded,
        }
    }

    /// This report with every machine merged into one (keyed by the empty string): what
    /// the "All" view of the hour reads, and what a day merges hour by hour for its own, so
    /// its samples are the day's first hours', not the first machine's whole day (see
    /// [`crate::TransactionReport`]'s twin).
    pub(crate) fn machines_merged(&self) -> ProblemReport {
        let machines = self
            .machines
            .one_or_merged(None, ProblemMachine::merge)
            .map(|all| SortedMap::single("", all.into_owned()))
            .unwrap_or_default();
        ProblemReport {
            domain: self.domain.clone(),
            hour: self.hour,
            machines,
            folded: self.folded,
        }
    }
}

impl ProblemMinuteView {
    /// This row, read as day `minute` of the week or month that starts on `first_day`.
    fn in_span(self, first_day: u64) -> ProblemDateView {
        ProblemDateView {
            day: day_label(first_day.saturating_add(u64::from(self.minute))),
            count: self.count,
        }
    }

    /// This row, read as hour `minute` of the day that starts at hour `day_start`.
    fn in_day(self, day_start: u64) -> ProblemHourView {
        ProblemHourView {
            hour: hour_label(day_start + u64::from(self.minute)),
            count: self.count,
        }
    }
}

/// `GET /api/problem`: `{"domain","hour","ips":[..],"problems":[..],"folded"}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProblemView {
    /// The domain.
    pub domain: String,
    /// `YYYYMMDDHH` (UTC).
    pub hour: String,
    /// Every machine of the report.
    pub ips: Vec<String>,
    /// Sorted by category, type, name.
    pub problems: Vec<ProblemEntryView>,
    /// Problems of the hour (every machine's, whatever `ip` picks) counted under an
    /// `OTHERS` key because a cap was reached, each once ([`ProblemReport::folded`]).
    pub folded: u64,
}

/// One problem entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProblemEntryView {
    /// `error`, `long-url`, `long-sql`, `long-call`, `long-service` or `long-cache`.
    pub category: String,
    /// The transaction or event type.
    #[serde(rename = "type")]
    pub type_: String,
    /// The transaction or event name.
    pub name: String,
    /// Occurrences.
    pub count: u64,
    /// Minutes with occurrences, ascending; empty in a day's view, whose rows are `hours`.
    pub minutes: Vec<ProblemMinuteView>,
    /// In a day's view ([`crate::ProblemDayView`]), the hours with occurrences, ascending;
    /// empty (and not serialized) in an hour's.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hours: Vec<ProblemHourView>,
    /// In a week's or month's view ([`crate::ProblemSpanView`]), the days with
    /// occurrences, ascending; empty (and not serialized) otherwise.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub days: Vec<ProblemDateView>,
    /// For a `long-*` entry, its occurrences per duration bucket, ascending (CAT's
    /// `duration` elements, which its Problem page filters with `urlThreshold` and the
    /// like); empty (and not serialized) for errors.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub durations: Vec<ProblemDurationView>,
    /// Up to 60 message IDs: the first ones kept of the hour (of the day).
    pub sample_message_ids: Vec<String>,
}

/// One minute of one problem entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProblemMinuteView {
    /// Minute of the hour.
    pub minute: u8,
    /// Occurrences.
    pub count: u64,
}

/// One duration bucket of a long-execution entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProblemDurationView {
    /// The bucket's lower bound in ms: the entry's executions that took at least this long
    /// and less than the next bucket's bound (see [`crate::LongThresholds`]).
    pub ms: u64,
    /// Occurrences.
    pub count: u64,
}

/// One day of a week or month of one problem entry ([`crate::ProblemSpanView`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProblemDateView {
    /// `YYYYMMDD` (UTC).
    pub day: String,
    /// Occurrences.
    pub count: u64,
}

/// One hour of a day of one problem entry ([`crate::ProblemDayView`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProblemHourView {
    /// `YYYYMMDDHH` (UTC).
    pub hour: String,
    /// Occurrences.
    pub count: u64,
}
