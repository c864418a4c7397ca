//! [`EventReport`]: domain -> machine -> type -> name counts of one hour, and the
//! [`EventView`] the JSON API returns.

use serde::{Deserialize, Serialize};

use crate::dependency::{DependencyEdge, DependencyView};

use crate::message_ids::{merge_newest, texts, FailIds};
use crate::minute::minute_entry;
use crate::open_minute::{MinuteFigures, MinuteList, OpenMinute, MINUTE_BITS};
use crate::sample_id::SampleId;
use crate::sorted_map::SortedMap;
use crate::view_query::{
    busiest_names, day_label, fail_percent, hour_label, is_zero, keep_position, tps, Rows,
    ViewQuery,
};

/// Failure message IDs kept per name (as for transactions).
pub(crate) const MAX_FAIL_MESSAGE_IDS: usize = 10;

/// All events of one domain in one hour.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EventReport {
    pub(crate) domain: String,
    pub(crate) hour: u64,
    /// Keyed by client IP.
    pub(crate) machines: SortedMap<EventMachine>,
    /// Events counted under an `OTHERS` key because a cap was reached (domain, machine,
    /// type or name), each once; a batch (`@...`) message is one.
    pub(crate) folded: u64,
    /// Batch messages (`@...` data) dropped because their data did not parse. Not written
    /// while 0, so checkpoints without any stay as they were.
    #[serde(skip_serializing_if = "is_zero")]
    pub(crate) malformed_batches: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct EventMachine {
    pub(crate) types: SortedMap<EventType>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct EventType {
    pub(crate) names: SortedMap<EventName>,
}

/// In this order (`repr(C)`): what a successful event touches (the totals, the sample ID's
/// text, the open minute's row) comes first, within 64 bytes of the entry with its key.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[repr(C)]
pub(crate) struct EventName {
    pub(crate) count: u64,
    pub(crate) fail: u64,
    pub(crate) sample_message_id: SampleId,
    pub(crate) minutes: EventMinutes,
    pub(crate) fail_message_ids: FailIds,
    /// For an event that names a dependency (`SQL.Database`, `<type>.app`): the calls of
    /// the transactions it sat in. The Dependency view reads these; keeping them here
    /// costs an edge no lookup of its own (the event's entry is at hand).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) edge: Option<Box<DependencyEdge>>,
}

/// One minute of one event name. Checkpoints write it as `[minute, count, fail]` and read
/// that or the object form written before 2026-12-05.
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize)]
#[serde(default)]
pub(crate) struct EventMinute {
    pub(crate) minute: u8,
    pub(crate) count: u64,
    pub(crate) fail: u64,
}

impl Serialize for EventMinute {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        (self.minute, self.count, self.fail).serialize(serializer)
    }
}

/// An event name's minutes: the newest one's in the entry (see [`OpenMinute`]), the others
/// in a list.
pub(crate) type EventMinutes = OpenMinute<EventMinute, Vec<EventMinute>>;

impl EventMinutes {
    /// Adds `count` events, `fail` of them failed, to `minute`'s row.
    pub(crate) fn add(&mut self, minute: u8, count: u64, fail: u64) {
        self.add_row(EventMinute {
            minute,
            count,
            fail,
        });
    }
}

/// The open row: minute in the top 6 bits, then 26 bits of failures and 32 of count.
const OPEN_MINUTE_SHIFT: u32 = 64 - MINUTE_BITS;
const OPEN_FAIL_SHIFT: u32 = 32;
const OPEN_FAIL_MAX: u64 = (1 << (OPEN_MINUTE_SHIFT - OPEN_FAIL_SHIFT)) - 1;
const OPEN_COUNT_MAX: u64 = (1 << OPEN_FAIL_SHIFT) - 1;

impl MinuteFigures for EventMinute {
    fn minute(&self) -> u8 {
        self.minute
    }

    fn plus(self, other: Self) -> Self {
        EventMinute {
            minute: self.minute,
            count: self.count.saturating_add(other.count),
            fail: self.fail.saturating_add(other.fail),
        }
    }

    fn pack(&self) -> Option<u64> {
        let word =
            u64::from(self.minute) << OPEN_MINUTE_SHIFT | self.fail << OPEN_FAIL_SHIFT | self.count;
        (self.minute < 60
            && self.count <= OPEN_COUNT_MAX
            && self.fail <= OPEN_FAIL_MAX
            && word != 0)
            .then_some(word)
    }

    fn unpack(word: u64) -> Self {
        EventMinute {
            minute: (word >> OPEN_MINUTE_SHIFT) as u8,
            count: word & OPEN_COUNT_MAX,
            fail: (word >> OPEN_FAIL_SHIFT) & OPEN_FAIL_MAX,
        }
    }

    fn plus_packed(&self, word: u64) -> Option<u64> {
        let minute = word >> OPEN_MINUTE_SHIFT << OPEN_MINUTE_SHIFT;
        let count = (word & OPEN_COUNT_MAX).saturating_add(self.count);
        let fail = ((word >> OPEN_FAIL_SHIFT) & OPEN_FAIL_MAX).saturating_add(self.fail);
        (count <= OPEN_COUNT_MAX && fail <= OPEN_FAIL_MAX)
            .then_some(minute | fail << OPEN_FAIL_SHIFT | count)
    }
}

impl MinuteList<EventMinute> for Vec<EventMinute> {
    fn last_minute(&self) -> Option<u8> {
        self.last().map(|m| m.minute)
    }

    fn add(&mut self, row: EventMinute) {
        let m = minute_entry(
            self,
            row.minute,
            |m| m.minute,
            || EventMinute {
                minute: row.minute,
                ..EventMinute::default()
            },
        );
        *m = m.plus(row);
    }

    fn rows(&self) -> impl Iterator<Item = EventMinute> + '_ {
        self.iter().copied()
    }
}

impl EventName {
    /// Adds `count` events, `fail` of them failed, at `minute`.
    pub(crate) fn record(&mut self, minute: u8, count: u64, fail: u64) {
        self.count = self.count.saturating_add(count);
        self.fail = self.fail.saturating_add(fail);
        self.minutes.add(minute, count, fail);
    }

    fn merge(&mut self, other: &EventName) {
        self.count = self.count.saturating_add(other.count);
        self.fail = self.fail.saturating_add(other.fail);
        self.minutes.merge(&other.minutes);
        if self.sample_message_id.is_empty() {
            self.sample_message_id.clone_from(&other.sample_message_id);
        }
        merge_newest(
            &mut self.fail_message_ids,
            &other.fail_message_ids,
            MAX_FAIL_MESSAGE_IDS,
        );
        if let Some(edge) = &other.edge {
            self.edge.get_or_insert_with(Box::default).merge(edge);
        }
    }
}

impl EventType {
    fn merge(&mut self, other: &EventType) {
        self.names.merge_with(&other.names, EventName::merge);
    }
}

impl EventMachine {
    fn merge(&mut self, other: &EventMachine) {
        self.types.merge_with(&other.types, EventType::merge);
    }
}

crate::tree_counter::machine_report!(EventReport, EventMachine, malformed_batches);
// A day's name keeps its counts, up to 24 rows and up to ten failure IDs.
crate::day::hourly_report!(EventReport, day_entry_bytes = 512);

impl EventReport {
    /// An empty report for `domain` and `hour`.
    pub fn new(domain: impl Into<String>, hour: u64) -> Self {
        EventReport {
            domain: domain.into(),
            hour,
            ..EventReport::default()
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

    /// How many events were counted under an `OTHERS` key (domain, machine, type or
    /// name) because a cap was reached, each once however many of its keys folded:
    /// messages as received, so a batch (`@...`) message is one.
    pub fn folded(&self) -> u64 {
        self.folded
    }

    /// How many batch messages (`@count;fail` data, from sampling clients) were dropped
    /// because their data did not parse: neither counted as one plain event nor expanded.
    pub fn malformed_batches(&self) -> u64 {
        self.malformed_batches
    }

    /// Adds `other` to this report.
    pub fn merge(&mut self, other: &EventReport) {
        if self.domain.is_empty() {
            self.domain.clone_from(&other.domain);
        }
        if self.hour == 0 {
            self.hour = other.hour;
        }
        self.folded = self.folded.saturating_add(other.folded);
        self.malformed_batches = self
            .malformed_batches
            .saturating_add(other.malformed_batches);
        self.machines
            .merge_with(&other.machines, EventMachine::merge);
    }

    /// What `GET /api/dependency` returns: the edges named by this domain's events
    /// (`query.type_` selects one kind, `query.ip` one machine; all machines added up
    /// otherwise).
    pub fn dependencies(&self, query: &ViewQuery<'_>) -> DependencyView {
        let wanted = query.machine();
        let edges = self
            .machines
            .iter()
            .filter(|(ip, _)| wanted.is_none_or(|w| w == *ip))
            .flat_map(|(_, machine)| machine.types.iter())
            .flat_map(|(type_, t)| {
                t.names
                    .iter()
                    .filter_map(move |(name, n)| Some((type_, name, n.edge.as_deref()?)))
            });
        crate::dependency::view_of(&self.domain, self.hour, edges, query)
    }

    /// Machines, types and names held ([`crate::AnalyzerConfig::max_entries_per_hour`]).
    pub(crate) fn entry_count(&self) -> usize {
        self.machines
            .values()
            .map(|m| 1 + m.types.len() + m.types.values().map(|t| t.names.len()).sum::<usize>())
            .sum()
    }

    /// What `GET /api/event` returns.
    pub fn view(&self, query: &ViewQuery<'_>) -> EventView {
        EventView {
            domain: self.domain.clone(),
            hour: hour_label(self.hour),
            ips: self.machines.keys().map(str::to_owned).collect(),
            types: self.type_views(query, Rows::Minutes),
            folded: self.folded,
            malformed_batches: self.malformed_batches,
        }
    }

    /// The types a view shows. For a report of [`EventReport::in_row`] rows, `rows` says
    /// what they are: a name's and a type's rows are then listed as `hours` of a day or
    /// `days` of a week or month instead of `minutes`.
    pub(crate) fn type_views(&self, query: &ViewQuery<'_>, rows: Rows) -> Vec<EventTypeView> {
        let merged = self
            .machines
            .one_or_merged(query.machine(), EventMachine::merge);
        let machine = merged.as_deref();
        let shown = || {
            (machine.into_iter())
                .flat_map(|m| m.types.iter())
                .filter(|(type_, _)| query.type_.is_none_or(|wanted| wanted == *type_))
        };
        // One span of time for every rate the view shows (see `rate_seconds`).
        let newest_row = (shown().flat_map(|(_, t)| t.names.values()))
            .filter_map(|n| n.minutes.last_minute())
            .max();
        let elapsed = rows.rate_seconds(query.elapsed_seconds, newest_row);
        shown()
            .map(|(type_, t)| {
                // Saturating, as each name's are: batch counts are the client's.
                let count = t
                    .names
                    .values()
                    .fold(0u64, |c, n| c.saturating_add(n.count));
                let fail = t.names.values().fold(0u64, |f, n| f.saturating_add(n.fail));
                let kept = busiest_names(
                    t.names.values().map(|n| n.count).collect(),
                    query.max_names,
                    keep_position(t.names.keys(), query.keep_name),
                );
                let names_left_out = kept
                    .as_ref()
                    .map_or(0, |kept| kept.iter().filter(|&&k| !k).count() as u64);
                let names = t
                    .names
                    .iter()
                    .enumerate()
                    .filter(|&(i, _)| kept.as_ref().is_none_or(|kept| kept[i]))
                    .map(|(_, (name, n))| {
                        let minute_rows = n.minutes.iter().map(|m| EventMinuteView {
                            minute: m.minute,
                            count: m.count,
                            fail: m.fail,
                        });
                        let (minutes, hours, days) = rows.split(
                            minute_rows,
                            EventMinuteView::in_day,
                            EventMinuteView::in_span,
                        );
                        EventNameView {
                            name: name.to_owned(),
                            count: n.count,
                            fail: n.fail,
                            fail_percent: fail_percent(n.fail, n.count),
                            tps: tps(n.count, elapsed),
                            sample_message_id: n.sample_message_id.to_string(),
                            fail_message_ids: texts(&n.fail_message_ids),
                            minutes,
                            hours,
                            days,
                        }
                    })
                    .collect();
                // Its names' minutes add up to the type's unless some are left out.
                let (minutes, hours, days) = match rows {
                    Rows::Minutes if names_left_out == 0 => Default::default(),
                    _ => rows.split(
                        t.minute_views(),
                        EventMinuteView::in_day,
                        EventMinuteView::in_span,
                    ),
                };
                EventTypeView {
                    type_: type_.to_owned(),
                    count,
                    fail,
                    fail_percent: fail_percent(fail, count),
                    tps: tps(count, elapsed),
                    minutes,
                    hours,
                    days,
                    names,
                    names_left_out,
                }
            })
            .collect()
    }

    /// This report with each name's minutes folded into one row keyed `row` (an hour of
    /// the day, or a day of a week or month) in place of a minute, and without dependency
    /// edges: what a day, week or month of reports keeps of each hour ([`crate::EventDay`];
    /// see [`crate::TransactionReport`]'s twin for why).
    pub(crate) fn in_row(&self, row: u8) -> EventReport {
        let machines = self.machines.map_values(|_, machine| EventMachine {
            types: machine.types.map_values(|_, t| EventType {
                names: t.names.map_values(|_, n| {
                    let mut minutes = EventMinutes::default();
                    if n.count > 0 || n.fail > 0 {
                        minutes.add(row, n.count, n.fail);
                    }
                    EventName {
                        count: n.count,
                        fail: n.fail,
                        sample_message_id: n.sample_message_id.clone(),
                        minutes,
                        fail_message_ids: n.fail_message_ids.clone(),
                        edge: None,
                    }
                }),
            }),
        });
        EventReport {
            domain: self.domain.clone(),
            hour: self.hour,
            machines,
            folded: self.folded,
            malformed_batches: self.malformed_batches,
        }
    }

    /// This report with every machine merged into one (keyed by the empty string): what
    /// the "All" view of the hour reads, and what a day merges hour by hour for its own
    /// (see [`crate::TransactionReport`]'s twin).
    pub(crate) fn machines_merged(&self) -> EventReport {
        let machines = self
            .machines
            .one_or_merged(None, EventMachine::merge)
            .map(|all| SortedMap::single("", all.into_owned()))
            .unwrap_or_default();
        EventReport {
            domain: self.domain.clone(),
            hour: self.hour,
            machines,
            folded: self.folded,
            malformed_batches: self.malformed_batches,
        }
    }
}

impl EventType {
    /// The type's minute rows, all its names added up.
    fn minute_views(&self) -> Vec<EventMinuteView> {
        let mut rows: std::collections::BTreeMap<u8, (u64, u64)> = Default::default();
        for n in self.names.values() {
            for m in n.minutes.iter() {
                let row = rows.entry(m.minute).or_default();
                row.0 = row.0.saturating_add(m.count);
                row.1 = row.1.saturating_add(m.fail);
            }
        }
        rows.into_iter()
            .map(|(minute, (count, fail))| EventMinuteView {
                minute,
                count,
                fail,
            })
            .collect()
    }
}

impl EventMinuteView {
    /// This row, read as day `minute` of the week or month that starts on `first_day`.
    fn in_span(self, first_day: u64) -> EventDateView {
        EventDateView {
            day: day_label(first_day.saturating_add(u64::from(self.minute))),
            count: self.count,
            fail: self.fail,
        }
    }

    /// This row, read as hour `minute` of the day that starts at hour `day_start`.
    fn in_day(self, day_start: u64) -> EventHourView {
        EventHourView {
            hour: hour_label(day_start + u64::from(self.minute)),
            count: self.count,
            fail: self.fail,
        }
    }
}

/// `GET /api/event`: `{"domain","hour","ips":[..],"types":[..],"folded",
/// "malformedBatches"}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventView {
    /// The domain.
    pub domain: String,
    /// `YYYYMMDDHH` (UTC).
    pub hour: String,
    /// Every machine of the report.
    pub ips: Vec<String>,
    /// Per type, sorted by type.
    pub types: Vec<EventTypeView>,
    /// Events of the hour (every machine's, whatever `ip` picks) counted under an
    /// `OTHERS` key because a cap was reached, each once ([`EventReport::folded`]).
    pub folded: u64,
    /// Batch messages of the hour (every machine's) dropped because their data did not
    /// parse ([`EventReport::malformed_batches`]).
    pub malformed_batches: u64,
}

/// One event type with its names.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventTypeView {
    /// The type.
    #[serde(rename = "type")]
    pub type_: String,
    /// Events.
    pub count: u64,
    /// Events whose status is not `"0"`.
    pub fail: u64,
    /// `100 * fail / count`.
    pub fail_percent: f64,
    /// Events per second.
    pub tps: f64,
    /// In an hour's view with names left out ([`ViewQuery::max_names`]), the minutes with
    /// events, all names added up (the listed names no longer add up to the type);
    /// otherwise empty and not serialized.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub minutes: Vec<EventMinuteView>,
    /// In a day's view ([`crate::EventDayView`]), the hours with events; empty (and not
    /// serialized) in an hour's.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hours: Vec<EventHourView>,
    /// In a week's or month's view ([`crate::EventSpanView`]), the days with events;
    /// empty (and not serialized) otherwise.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub days: Vec<EventDateView>,
    /// Per name, sorted by name: every name, or with [`ViewQuery::max_names`] the busiest.
    pub names: Vec<EventNameView>,
    /// Names not listed because of [`ViewQuery::max_names`] (counted in the type's figures
    /// all the same); not serialized when 0.
    #[serde(skip_serializing_if = "is_zero")]
    pub names_left_out: u64,
}

/// One event name.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventNameView {
    /// The name.
    pub name: String,
    /// Events.
    pub count: u64,
    /// Failed events.
    pub fail: u64,
    /// `100 * fail / count`.
    pub fail_percent: f64,
    /// Events per second.
    pub tps: f64,
    /// A successful event's message ID.
    pub sample_message_id: String,
    /// Up to 10 failed events' message IDs.
    pub fail_message_ids: Vec<String>,
    /// Minutes with events, ascending; empty in a day's view, whose rows are `hours`.
    pub minutes: Vec<EventMinuteView>,
    /// In a day's view, the hours with events, ascending; empty (and not serialized) in an
    /// hour's.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hours: Vec<EventHourView>,
    /// In a week's or month's view, the days with events, ascending; empty (and not
    /// serialized) otherwise.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub days: Vec<EventDateView>,
}

/// One minute of one event name.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventMinuteView {
    /// Minute of the hour.
    pub minute: u8,
    /// Events.
    pub count: u64,
    /// Failed events.
    pub fail: u64,
}

/// One day of a week or month of an event type or name ([`crate::EventSpanView`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventDateView {
    /// `YYYYMMDD` (UTC).
    pub day: String,
    /// Events.
    pub count: u64,
    /// Failed events.
    pub fail: u64,
}

/// One hour of a day of an event type or name ([`crate::EventDayView`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventHourView {
    /// `YYYYMMDDHH` (UTC).
    pub hour: String,
    /// Events.
    pub count: u64,
    /// Failed events.
    pub fail: u64,
}
