//! [`MatrixReport`]: the entry transactions of one domain in one hour and the calls their
//! requests made, and the [`MatrixView`] the JSON API returns.

use serde::{Deserialize, Serialize};

use crate::sample_id::{SampleId, TreeId};
use crate::sorted_map::SortedMap;
use crate::view_query::{hour_label, ViewQuery};

/// The Matrix report of one domain in one hour (CAT's is the whole domain's too: no
/// machines).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MatrixReport {
    pub(crate) domain: String,
    pub(crate) hour: u64,
    /// By the root's type (`URL`, `Service`, `PigeonService`).
    pub(crate) types: SortedMap<MatrixType>,
    /// Requests counted under an `OTHERS` domain, type or name because a cap was reached.
    pub(crate) folded: u64,
}

/// The entries of one root type.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct MatrixType {
    pub(crate) names: SortedMap<MatrixName>,
}

/// The requests of one entry (a root's type and name) and the calls they made.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct MatrixName {
    /// Requests.
    pub(crate) count: u64,
    /// Their time, µs.
    pub(crate) sum_us: u64,
    /// A request's message ID: the first one seen that had an ID (CAT's `url`).
    pub(crate) sample: SampleId,
    pub(crate) call: Calls,
    pub(crate) sql: Calls,
    pub(crate) cache: Calls,
}

/// The calls of one kind that the requests of an entry made (CAT's `Ratio`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct Calls {
    /// The fewest one request made (0 while the entry has no request, and when a request
    /// made none).
    pub(crate) min: u64,
    /// The most one request made.
    pub(crate) max: u64,
    /// The first request that made `max` calls; none while `max` is 0.
    pub(crate) max_sample: SampleId,
    /// Calls in all.
    pub(crate) count: u64,
    /// Their time, µs.
    pub(crate) sum_us: u64,
}

/// The kinds of call the report counts, by transaction type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CallKind {
    /// `Call` and `PigeonCall`: remote calls the request made (CAT's `isRpcClient`).
    Call,
    /// `SQL`.
    Sql,
    /// `Cache.<kind>` (`Cache.redis`, `Cache.memcached`, ...).
    Cache,
}

impl CallKind {
    /// Every kind, in the order views list them.
    pub(crate) const ALL: [CallKind; 3] = [CallKind::Call, CallKind::Sql, CallKind::Cache];

    /// The kind of a transaction of `type_`, if it is a call the report counts.
    #[inline]
    pub(crate) fn of(type_: &str) -> Option<CallKind> {
        match type_ {
            "Call" | "PigeonCall" => Some(CallKind::Call),
            "SQL" => Some(CallKind::Sql),
            _ if type_.starts_with("Cache.") => Some(CallKind::Cache),
            _ => None,
        }
    }

    /// CAT's name of the kind (its ratio's ID): `Call`, `SQL`, `Cache`.
    pub(crate) fn label(self) -> &'static str {
        match self {
            CallKind::Call => "Call",
            CallKind::Sql => "SQL",
            CallKind::Cache => "Cache",
        }
    }
}

/// The calls of each kind one request made: `(count, sum_us)` by [`CallKind`].
pub(crate) type RequestCounts = [(u64, u64); 3];

impl MatrixName {
    pub(crate) fn calls(&self, kind: CallKind) -> &Calls {
        match kind {
            CallKind::Call => &self.call,
            CallKind::Sql => &self.sql,
            CallKind::Cache => &self.cache,
        }
    }

    fn calls_mut(&mut self, kind: CallKind) -> &mut Calls {
        match kind {
            CallKind::Call => &mut self.call,
            CallKind::Sql => &mut self.sql,
            CallKind::Cache => &mut self.cache,
        }
    }

    /// Counts one request that took `duration_us` and made `calls`.
    pub(crate) fn record(
        &mut self,
        duration_us: u64,
        calls: &RequestCounts,
        message_id: &TreeId<'_>,
    ) {
        let first = self.count == 0;
        self.count = self.count.saturating_add(1);
        self.sum_us = self.sum_us.saturating_add(duration_us);
        if self.sample.is_empty() && !message_id.is_empty() {
            self.sample = message_id.sample().clone();
        }
        for (kind, &(count, sum_us)) in CallKind::ALL.into_iter().zip(calls) {
            let c = self.calls_mut(kind);
            c.min = if first { count } else { c.min.min(count) };
            // The first request to make the most keeps it, as in CAT (and as merging a
            // report of earlier requests with one of later ones does).
            if count > c.max {
                c.max = count;
                c.max_sample = message_id.sample().clone();
            }
            c.count = c.count.saturating_add(count);
            c.sum_us = c.sum_us.saturating_add(sum_us);
        }
    }

    pub(crate) fn merge(&mut self, other: &MatrixName) {
        if other.count == 0 {
            return;
        }
        if self.count == 0 {
            self.clone_from(other);
            return;
        }
        self.count = self.count.saturating_add(other.count);
        self.sum_us = self.sum_us.saturating_add(other.sum_us);
        if self.sample.is_empty() {
            self.sample.clone_from(&other.sample);
        }
        for kind in CallKind::ALL {
            let (c, o) = (self.calls_mut(kind), other.calls(kind));
            c.min = c.min.min(o.min);
            if o.max > c.max {
                c.max = o.max;
                c.max_sample.clone_from(&o.max_sample);
            }
            c.count = c.count.saturating_add(o.count);
            c.sum_us = c.sum_us.saturating_add(o.sum_us);
        }
    }
}

// A day's name keeps four sample IDs of 32 bytes and three call kinds, twice: a span
// keeps a copy for its "All" view.
crate::day::hourly_report!(MatrixReport, day_entry_bytes = 512);

impl MatrixReport {
    /// An empty report for `domain` and `hour`.
    pub fn new(domain: impl Into<String>, hour: u64) -> Self {
        MatrixReport {
            domain: domain.into(),
            hour,
            ..MatrixReport::default()
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

    /// Requests counted under an `OTHERS` domain, type or name because a cap was reached,
    /// each once.
    pub fn folded(&self) -> u64 {
        self.folded
    }

    /// Types and names held: what the report spends of the hour's entry budget.
    pub(crate) fn entry_count(&self) -> usize {
        self.types.len() + self.types.values().map(|t| t.names.len()).sum::<usize>()
    }

    /// The report as a day, week or month holds an hour of it: the same, since it keeps no
    /// rows by minute to fold (`_row` is the hour's row of the span).
    pub(crate) fn in_row(&self, _row: u8) -> MatrixReport {
        self.clone()
    }

    /// The report with its machines merged: itself, as it keeps none apart.
    pub(crate) fn machines_merged(&self) -> MatrixReport {
        self.clone()
    }

    /// The report's machines: none (it is the whole domain's).
    pub(crate) fn ips(&self) -> impl Iterator<Item = &str> {
        std::iter::empty()
    }

    /// Adds `other` to this report (another machine's collector, another hour, a
    /// checkpoint read back).
    pub fn merge(&mut self, other: &MatrixReport) {
        if self.domain.is_empty() {
            self.domain.clone_from(&other.domain);
        }
        if self.hour == 0 {
            self.hour = other.hour;
        }
        self.folded = self.folded.saturating_add(other.folded);
        self.types.merge_with(&other.types, |mine, theirs| {
            mine.names.merge_with(&theirs.names, MatrixName::merge);
        });
    }

    /// What `GET /api/matrix` returns: every entry, by type then name (`query.type_`
    /// selects one type; `ip` is ignored: the report is the whole domain's).
    pub fn view(&self, query: &ViewQuery<'_>) -> MatrixView {
        MatrixView {
            domain: self.domain.clone(),
            hour: hour_label(self.hour),
            names: self.name_views(query),
            folded: self.folded,
        }
    }

    /// Every entry, by type then name (`query.type_` selects one type): what every view
    /// lists, of an hour or of a span merged.
    pub(crate) fn name_views(&self, query: &ViewQuery<'_>) -> Vec<MatrixNameView> {
        let ms = |us: u64| us as f64 / 1000.0;
        let per = |a: f64, b: u64| if b == 0 { 0.0 } else { a / b as f64 };
        (self.types.iter())
            .filter(|(type_, _)| query.type_.is_none_or(|wanted| wanted == *type_))
            .flat_map(|(type_, t)| t.names.iter().map(move |(name, n)| (type_, name, n)))
            .map(|(type_, name, n)| MatrixNameView {
                type_: type_.to_owned(),
                name: name.to_owned(),
                count: n.count,
                avg: per(ms(n.sum_us), n.count),
                sum: ms(n.sum_us),
                sample: n.sample.to_string(),
                calls: CallKind::ALL
                    .into_iter()
                    .map(|kind| {
                        let c = n.calls(kind);
                        MatrixCallsView {
                            kind: kind.label(),
                            count: c.count,
                            per_request: per(c.count as f64, n.count),
                            min_per_request: c.min,
                            max_per_request: c.max,
                            max_sample: c.max_sample.to_string(),
                            sum: ms(c.sum_us),
                            avg: per(ms(c.sum_us), c.count),
                            time_percent: per(100.0 * c.sum_us as f64, n.sum_us),
                        }
                    })
                    .collect(),
            })
            .collect()
    }
}

/// `GET /api/matrix`: `{"domain","hour","names":[{"type","name","count","avg","sum",
/// "sample","calls":[{"kind","count","perRequest","minPerRequest","maxPerRequest",
/// "maxSample","sum","avg","timePercent"}]}],"folded"}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MatrixView {
    /// The domain.
    pub domain: String,
    /// `YYYYMMDDHH` (UTC).
    pub hour: String,
    /// Every entry transaction, by type then name.
    pub names: Vec<MatrixNameView>,
    /// Requests of the hour counted under an `OTHERS` domain, type or name because a cap
    /// was reached ([`MatrixReport::folded`]).
    pub folded: u64,
}

/// One entry transaction over the hour.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MatrixNameView {
    /// The root's type: `URL`, `Service` or `PigeonService`.
    #[serde(rename = "type")]
    pub type_: String,
    /// The root's name, as the Transaction report names it.
    pub name: String,
    /// Requests.
    pub count: u64,
    /// Mean request time, ms.
    pub avg: f64,
    /// All requests' time, ms.
    pub sum: f64,
    /// A request's message ID (empty if none had one).
    pub sample: String,
    /// The calls the requests made: `Call`, `SQL`, `Cache`, in that order.
    pub calls: Vec<MatrixCallsView>,
}

/// The calls of one kind the requests of an entry made.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MatrixCallsView {
    /// `Call` (`Call` and `PigeonCall` transactions), `SQL` or `Cache` (`Cache.*`).
    pub kind: &'static str,
    /// Calls in all.
    pub count: u64,
    /// Calls per request, on average.
    pub per_request: f64,
    /// The fewest calls one request made.
    pub min_per_request: u64,
    /// The most calls one request made.
    pub max_per_request: u64,
    /// The message ID of the first request that made the most (empty when none made any).
    pub max_sample: String,
    /// The calls' time, ms.
    pub sum: f64,
    /// Mean call time, ms.
    pub avg: f64,
    /// The calls' time as a share of the requests' time, in percent. Calls made in
    /// parallel, or nested in one another, can add up to more than 100.
    pub time_percent: f64,
}
