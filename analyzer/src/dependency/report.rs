//! [`DependencyReport`]: one domain's edges in one hour, and the [`DependencyView`] the
//! JSON API returns.

use serde::{Deserialize, Serialize};

use crate::minute::minute_entry;
use crate::sorted_map::SortedMap;
use crate::view_query::{fail_percent, hour_label, tps, ViewQuery};

/// The edges of one domain in one hour (per domain, not per machine, as CAT keeps it).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DependencyReport {
    pub(crate) domain: String,
    pub(crate) hour: u64,
    /// By kind: `Database`, or the type of the transaction the edge event sat in (`Call`,
    /// `PigeonCall`, `Service`, `PigeonService`, ...).
    pub(crate) kinds: SortedMap<DependencyKind>,
    /// Calls counted under `OTHERS` because a cap was reached.
    pub(crate) folded: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct DependencyKind {
    /// By target: a database, a called service's domain, or a caller's domain.
    pub(crate) targets: SortedMap<DependencyEdge>,
}

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

    fn merge(&mut self, other: &DependencyEdge) {
        self.max_us = self.max_us.max(other.max_us);
        for m in &other.minutes {
            self.add(m.0, m.1, m.2, m.3);
        }
    }
}

impl DependencyKind {
    fn merge(&mut self, other: &DependencyKind) {
        self.targets
            .merge_with(&other.targets, DependencyEdge::merge);
    }
}

impl DependencyReport {
    /// An empty report for `domain` and `hour`.
    pub fn new(domain: impl Into<String>, hour: u64) -> Self {
        DependencyReport {
            domain: domain.into(),
            hour,
            ..DependencyReport::default()
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

    /// Calls counted under `OTHERS` because a cap was reached.
    pub fn folded(&self) -> u64 {
        self.folded
    }

    /// Adds `other` to this report (another collector's share, or another hour).
    pub fn merge(&mut self, other: &DependencyReport) {
        if self.domain.is_empty() {
            self.domain.clone_from(&other.domain);
        }
        if self.hour == 0 {
            self.hour = other.hour;
        }
        self.folded = self.folded.saturating_add(other.folded);
        self.kinds.merge_with(&other.kinds, DependencyKind::merge);
    }

    /// What `GET /api/dependency` returns (`query.type_` selects one kind; `ip` is ignored:
    /// dependencies are per domain).
    pub fn view(&self, query: &ViewQuery<'_>) -> DependencyView {
        let avg_ms = |count: u64, sum_us: u64| {
            if count == 0 {
                0.0
            } else {
                sum_us as f64 / count as f64 / 1000.0
            }
        };
        let mut dependencies = Vec::new();
        for (kind, k) in self.kinds.iter() {
            if query.type_.is_some_and(|wanted| wanted != kind) {
                continue;
            }
            for (target, edge) in k.targets.iter() {
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
                dependencies.push(DependencyEdgeView {
                    type_: kind.to_owned(),
                    target: target.to_owned(),
                    role: role_of(kind),
                    count,
                    fail,
                    fail_percent: fail_percent(fail, count),
                    avg: avg_ms(count, sum_us),
                    max: edge.max_us as f64 / 1000.0,
                    tps: tps(count, query.elapsed_seconds),
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
                });
            }
        }
        DependencyView {
            domain: self.domain.clone(),
            hour: hour_label(self.hour),
            dependencies,
        }
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
