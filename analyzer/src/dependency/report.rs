//! [`DependencyEdge`]: one edge's calls in one hour (kept in the Event report's entry of
//! the event naming it), and the [`DependencyView`] the JSON API returns.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::edge_kind;
use crate::minute::minute_entry;
use crate::view_query::{
    fail_percent, hour_label, rate_seconds, tps, ViewQuery, SECONDS_PER_MINUTE,
};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct DependencyEdge {
    /// The slowest call (µs).
    pub(crate) max_us: u64,
    /// Sorted by minute; only minutes with calls.
    pub(crate) minutes: Vec<DependencyMinute>,
}

/// Checkpoints write a minute as `[minute, count, fail, sum_us]`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct DependencyMinute(u8, u64, u64, u64);

impl DependencyMinute {
    fn minute(&self) -> u8 {
        self.0
    }
}

impl DependencyEdge {
    /// Adds `count` calls of `minute`, `fail` of them failed, taking `sum_us` in all and
    /// `max_us` the longest.
    pub(crate) fn record_calls(
        &mut self,
        minute: u8,
        count: u64,
        fail: u64,
        sum_us: u64,
        max_us: u64,
    ) {
        self.add(minute, count, fail, sum_us);
        self.max_us = self.max_us.max(max_us);
    }

    fn add(&mut self, minute: u8, count: u64, fail: u64, sum_us: u64) {
        let m = minute_entry(&mut self.minutes, minute, DependencyMinute::minute, || {
            DependencyMinute(minute, 0, 0, 0)
        });
        m.1 = m.1.saturating_add(count);
        m.2 = m.2.saturating_add(fail);
        m.3 = m.3.saturating_add(sum_us);
    }

    pub(crate) fn merge(&mut self, other: &DependencyEdge) {
        self.max_us = self.max_us.max(other.max_us);
        for m in &other.minutes {
            self.add(m.0, m.1, m.2, m.3);
        }
    }
}

/// The view of `edges` (an edge event's type, its name, its figures; several entries of one
/// edge, from several machines, are added up), for `GET /api/dependency`.
pub(crate) fn view_of<'a>(
    domain: &str,
    hour: u64,
    edges: impl Iterator<Item = (&'a str, &'a str, &'a DependencyEdge)>,
    query: &ViewQuery<'_>,
) -> DependencyView {
    let mut merged: BTreeMap<(&str, &str), DependencyEdge> = BTreeMap::new();
    for (event_type, target, edge) in edges {
        let kind = edge_kind(event_type);
        if query.type_.is_some_and(|wanted| wanted != kind) {
            continue;
        }
        merged.entry((kind, target)).or_default().merge(edge);
    }
    let avg_ms = |count: u64, sum_us: u64| {
        if count == 0 {
            0.0
        } else {
            sum_us as f64 / count as f64 / 1000.0
        }
    };
    // One span of time for every rate the view shows (see `rate_seconds`).
    let newest_row = (merged.values())
        .filter_map(|edge| edge.minutes.last().map(DependencyMinute::minute))
        .max();
    let elapsed = rate_seconds(query.elapsed_seconds, newest_row, SECONDS_PER_MINUTE);
    let dependencies = merged
        .into_iter()
        .map(|((kind, target), edge)| {
            let (count, fail, sum_us) =
                edge.minutes
                    .iter()
                    .fold((0u64, 0u64, 0u64), |(c, f, s), m| {
                        (
                            c.saturating_add(m.1),
                            f.saturating_add(m.2),
                            s.saturating_add(m.3),
                        )
                    });
            DependencyEdgeView {
                type_: kind.to_owned(),
                target: target.to_owned(),
                role: role_of(kind),
                count,
                fail,
                fail_percent: fail_percent(fail, count),
                avg: avg_ms(count, sum_us),
                max: edge.max_us as f64 / 1000.0,
                tps: tps(count, elapsed),
                minutes: edge
                    .minutes
                    .iter()
                    .map(|m| DependencyMinuteView {
                        minute: m.0,
                        count: m.1,
                        fail: m.2,
                        avg: avg_ms(m.1, m.3),
                    })
                    .collect(),
            }
        })
        .collect();
    DependencyView {
        domain: domain.to_owned(),
        hour: hour_label(hour),
        dependencies,
    }
}

/// Which side of the edge the domain is on: a service's callers are named under the
/// service's type (`Service`, `PigeonService`: the domain is called), everything else
/// (databases, `Call`, `PigeonCall`) is something the domain calls.
fn role_of(kind: &str) -> &'static str {
    if kind.ends_with("Service") {
        "callee"
    } else {
        "caller"
    }
}

/// `GET /api/dependency`: `{"domain","hour","dependencies":[{"type","target","role",
/// "count","fail","failPercent","avg","max","tps","minutes":[{"minute","count","fail",
/// "avg"}]}]}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DependencyView {
    /// The domain.
    pub domain: String,
    /// `YYYYMMDDHH` (UTC).
    pub hour: String,
    /// Every edge, by kind then target.
    pub dependencies: Vec<DependencyEdgeView>,
}

/// One edge over the hour.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DependencyEdgeView {
    /// `Database`, or the calling transaction's type (`Call`, `PigeonCall`, `Service`, ...).
    #[serde(rename = "type")]
    pub type_: String,
    /// The database, the service called, or (for a `callee` edge) the caller.
    pub target: String,
    /// `caller`: the domain calls `target`; `callee`: `target` calls the domain.
    pub role: &'static str,
    /// Calls.
    pub count: u64,
    /// Failed calls (the transaction's status was not `0`).
    pub fail: u64,
    /// `100 * fail / count`.
    pub fail_percent: f64,
    /// Mean duration, ms.
    pub avg: f64,
    /// Slowest call, ms.
    pub max: f64,
    /// Calls per second over the hour so far.
    pub tps: f64,
    /// Minutes with calls, ascending.
    pub minutes: Vec<DependencyMinuteView>,
}

/// One minute of one edge.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DependencyMinuteView {
    /// Minute of the hour.
    pub minute: u8,
    /// Calls.
    pub count: u64,
    /// Failed calls.
    pub fail: u64,
    /// Mean duration, ms.
    pub avg: f64,
}
