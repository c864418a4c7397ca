//! [`MetricReport`]: business metrics of one domain in one hour, per name and minute, and
//! the [`MetricView`] the JSON API returns.

use serde::{Deserialize, Serialize};

use crate::minute::minute_entry;
use crate::sorted_map::SortedMap;
use crate::view_query::{hour_label, ViewQuery};

/// All metrics of one domain in one hour (CAT's business report: per domain, not per
/// machine).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MetricReport {
    pub(crate) domain: String,
    pub(crate) hour: u64,
    pub(crate) items: SortedMap<MetricItem>,
    /// Metric records counted under an `OTHERS` domain or name because a cap was reached,
    /// each once.
    pub(crate) folded: u64,
    /// Metric records with an unknown status or malformed data: not a finite number, or a
    /// count that is negative or too large (ignored, as in CAT).
    pub(crate) ignored: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct MetricItem {
    /// The status of the latest record: `C`, `T`, `S` or `S,C` (CAT's
    /// `BusinessAnalyzer` sets the item's type from every record, so the last one seen
    /// wins). See [`MetricItem::note_kind`].
    pub(crate) kind: MetricKind,
    /// The timestamp of the record `kind` came from. Checkpoints written before it was kept
    /// read it as 0: older than any record, so the next record's status replaces theirs.
    pub(crate) kind_at_ms: u64,
    /// Sorted by minute.
    pub(crate) minutes: Vec<MetricMinute>,
}

/// What a metric record's data measures, by CAT's status letters (cat-design 1.8). Kept
/// as its status text in checkpoints, as the `String` it replaced was; any other text
/// (none was ever stored) reads as no kind.
///
/// In the order of the status texts, which [`MetricItem::note_kind`] breaks ties by.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub(crate) enum MetricKind {
    /// No record yet.
    #[default]
    None,
    /// `C`: a count (data = the count, empty = 1).
    Count,
    /// `S`: a sum (count 1).
    Sum,
    /// `S,C`: a count and a sum (data `count,sum`).
    SumAndCount,
    /// `T`: a duration (count 1).
    Duration,
}

impl MetricKind {
    /// The kind of a record's status, if it is one of CAT's.
    pub(crate) fn of_status(status: &str) -> Option<MetricKind> {
        match status {
            "C" => Some(MetricKind::Count),
            "S" => Some(MetricKind::Sum),
            "S,C" => Some(MetricKind::SumAndCount),
            "T" => Some(MetricKind::Duration),
            _ => None,
        }
    }

    /// The status text: `C`, `S`, `S,C`, `T`, or empty for none.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            MetricKind::None => "",
            MetricKind::Count => "C",
            MetricKind::Sum => "S",
            MetricKind::SumAndCount => "S,C",
            MetricKind::Duration => "T",
        }
    }
}

impl From<String> for MetricKind {
    fn from(status: String) -> Self {
        MetricKind::of_status(&status).unwrap_or_default()
    }
}

impl From<MetricKind> for String {
    fn from(kind: MetricKind) -> Self {
        kind.as_str().to_owned()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct MetricMinute {
    pub(crate) minute: u8,
    pub(crate) count: u64,
    pub(crate) sum: f64,
}

impl MetricItem {
    pub(crate) fn record(&mut self, minute: u8, count: u64, sum: f64) {
        let m = minute_entry(
            &mut self.minutes,
            minute,
            |m| m.minute,
            || MetricMinute {
                minute,
                ..MetricMinute::default()
            },
        );
        m.count = m.count.saturating_add(count);
        m.sum = saturating_sum(m.sum, sum);
    }

    /// Takes `kind` as the item's if its record, at `timestamp_ms`, is the latest seen.
    /// "Latest" is by timestamp, not by arrival, so that it means the same whichever order
    /// machines, hours and checkpoints are merged in: the kind is that of the record with
    /// the greatest `(timestamp_ms, kind)`, a max over everything added, as the counts are
    /// a sum. For one client, which sends its records in time order, that is CAT's last one
    /// seen; two kinds of one millisecond are told apart by their status text alone (CAT
    /// keeps whichever it happened to process last).
    #[inline]
    pub(crate) fn note_kind(&mut self, timestamp_ms: u64, kind: MetricKind) {
        if (timestamp_ms, kind) > (self.kind_at_ms, self.kind) {
            self.kind = kind;
            self.kind_at_ms = timestamp_ms;
        }
    }

    fn merge(&mut self, other: &MetricItem) {
        self.note_kind(other.kind_at_ms, other.kind);
        for m in &other.minutes {
            self.record(m.minute, m.count, m.sum);
        }
    }
}

impl MetricReport {
    /// An empty report for `domain` and `hour`.
    pub fn new(domain: impl Into<String>, hour: u64) -> Self {
        MetricReport {
            domain: domain.into(),
            hour,
            ..MetricReport::default()
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

    /// Records counted under an `OTHERS` domain or name because a cap was reached, each
    /// once (ignored records are not counted here but in [`MetricReport::ignored`]).
    pub fn folded(&self) -> u64 {
        self.folded
    }

    /// Records ignored for an unknown status or malformed data (the view's `malformed`).
    pub fn ignored(&self) -> u64 {
        self.ignored
    }

    /// Adds `other` to this report.
    pub fn merge(&mut self, other: &MetricReport) {
        if self.domain.is_empty() {
            self.domain.clone_from(&other.domain);
        }
        if self.hour == 0 {
            self.hour = other.hour;
        }
        self.folded = self.folded.saturating_add(other.folded);
        self.ignored = self.ignored.saturating_add(other.ignored);
        self.items.merge_with(&other.items, MetricItem::merge);
    }

    /// What `GET /api/metric` returns (`query.type_` selects one metric name; `ip` is
    /// ignored: metrics are per domain).
    pub fn view(&self, query: &ViewQuery<'_>) -> MetricView {
        let avg = |count: u64, sum: f64| if count == 0 { 0.0 } else { sum / count as f64 };
        let metrics = self
            .items
            .iter()
            .filter(|(name, _)| query.type_.is_none_or(|wanted| wanted == *name))
            .map(|(name, item)| {
                let count = (item.minutes.iter()).fold(0u64, |c, m| c.saturating_add(m.count));
                let sum = item.minutes.iter().map(|m| m.sum).fold(0.0, saturating_sum);
                MetricItemView {
                    name: name.to_owned(),
                    kind: item.kind.as_str().to_owned(),
                    count,
                    sum,
                    avg: avg(count, sum),
                    minutes: item
                        .minutes
                        .iter()
                        .map(|m| MetricMinuteView {
                            minute: m.minute,
                            count: m.count,
                            sum: m.sum,
                            avg: avg(m.count, m.sum),
                        })
                        .collect(),
                }
            })
            .collect();
        MetricView {
            domain: self.domain.clone(),
            hour: hour_label(self.hour),
            metrics,
            folded: self.folded,
            malformed: self.ignored,
        }
    }
}

/// `GET /api/metric`: `{"domain","hour","metrics":[{"name","kind","count","sum","avg",
/// "minutes":[{"minute","count","sum","avg"}]}],"folded","malformed"}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricView {
    /// The domain.
    pub domain: String,
    /// `YYYYMMDDHH` (UTC).
    pub hour: String,
    /// Per metric name, sorted by name.
    pub metrics: Vec<MetricItemView>,
    /// Records of the hour counted under an `OTHERS` domain or name because a cap was
    /// reached, each once ([`MetricReport::folded`]).
    pub folded: u64,
    /// Records of the hour ignored for an unknown status or malformed data
    /// ([`MetricReport::ignored`]), as `/api/heartbeat` counts malformed heartbeats.
    pub malformed: u64,
}

/// One metric over the hour.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricItemView {
    /// The metric key.
    pub name: String,
    /// `C` (count), `T` (duration), `S` (sum) or `S,C` (count and sum): the status of the
    /// latest record, as CAT keeps the last one seen (a name whose client changed kind
    /// shows the new one).
    pub kind: String,
    /// Total count.
    pub count: u64,
    /// Total sum (for `C` metrics, the count).
    pub sum: f64,
    /// `sum / count`.
    pub avg: f64,
    /// Minutes with records, ascending.
    pub minutes: Vec<MetricMinuteView>,
}

/// One minute of one metric.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricMinuteView {
    /// Minute of the hour.
    pub minute: u8,
    /// Count.
    pub count: u64,
    /// Sum.
    pub sum: f64,
    /// `sum / count`.
    pub avg: f64,
}

/// `a + b`, held at the largest finite value instead of overflowing to infinity: JSON has
/// no infinity (serde writes `null`), so an infinite sum would make the report's checkpoint
/// unreadable at the next start, and the API's figure `null`.
fn saturating_sum(a: f64, b: f64) -> f64 {
    let sum = a + b;
    if sum.is_infinite() {
        f64::MAX.copysign(sum)
    } else {
        sum
    }
}
