//! [`DependencyAnalyzer`]: the edges of every tree, from the events that name them.

use std::collections::BTreeMap;
use std::sync::Arc;

use ocelot_protocol::{MessageKind, MessageTree, MessageView, TreeView};

use super::report::DependencyReport;
use crate::config::AnalyzerConfig;
use crate::domain_reports::DomainReports;
use crate::minute::minute_of;
use crate::transaction_walk::counted_duration;

/// The dependency kind of a database edge (CAT's `Database:<db>`).
pub(crate) const DATABASE: &str = "Database";

/// The dependency reports of one hour, one per domain.
#[derive(Debug, Clone)]
pub struct DependencyAnalyzer {
    hour: u64,
    config: Arc<AnalyzerConfig>,
    reports: DomainReports<DependencyReport>,
}

/// Whether `event` may name an edge: `SQL.Database`, or a `<type>.app` event (which names
/// one when its transaction is of that type). Checked for every event of every tree, so
/// only the type's end is looked at; [`edge_of`] decides.
#[inline]
pub(crate) fn is_edge_event(event: &MessageView<'_>) -> bool {
    event.type_.ends_with(".app") || event.type_ == "SQL.Database"
}

/// The edge `event` names, given the transaction it sits in: `(kind, target)`.
///
/// * `SQL.Database` in any transaction: the database (CAT's Java client logs the JDBC URL).
/// * `<K>.app` in a transaction of type `K`: the other side of the call, named by the
///   client. Under `Call`/`PigeonCall` it is the service called, under
///   `Service`/`PigeonService` the caller; the kind is `K` either way, so the view can tell
///   them apart. Clients mix the two spellings of a family (CAT's C client logs
///   `PigeonService.app` inside a `Service` transaction), so either member's event counts
///   in either member's transaction.
fn edge_of<'a>(event: &MessageView<'a>, parent: &MessageView<'a>) -> Option<(&'a str, &'a str)> {
    if event.name.is_empty() {
        return None;
    }
    if event.type_ == "SQL.Database" {
        return Some((DATABASE, event.name));
    }
    let kind = event.type_.strip_suffix(".app")?;
    let family = |t: &str| match t {
        "Call" | "PigeonCall" => Some("call"),
        "Service" | "PigeonService" => Some("service"),
        _ => None,
    };
    let belongs =
        kind == parent.type_ || family(kind).is_some_and(|f| family(parent.type_) == Some(f));
    (belongs && !kind.is_empty()).then_some((kind, event.name))
}

impl DependencyAnalyzer {
    /// An analyzer for `hour` with no data.
    pub fn new(hour: u64, config: Arc<AnalyzerConfig>) -> Self {
        Self::from_reports(hour, config, BTreeMap::new())
    }

    /// Continues an hour from checkpointed reports.
    pub fn from_reports(
        hour: u64,
        config: Arc<AnalyzerConfig>,
        reports: BTreeMap<String, DependencyReport>,
    ) -> Self {
        DependencyAnalyzer {
            hour,
            config,
            reports: reports.into(),
        }
    }

    /// The hour this analyzer covers.
    pub fn hour(&self) -> u64 {
        self.hour
    }

    /// The reports so far, by domain.
    pub fn reports(&self) -> &DomainReports<DependencyReport> {
        &self.reports
    }

    /// Takes the reports out (sealing an hour).
    pub fn into_reports(self) -> BTreeMap<String, DependencyReport> {
        self.reports.into_map()
    }

    /// Counts every edge of `tree`: each edge event adds its transaction (count, failure,
    /// duration, minute) to the edge it names.
    pub fn process(&mut self, tree: &MessageTree) {
        self.process_view(&TreeView::of(tree));
    }

    /// [`Self::process`] for a tree as a [`TreeView`].
    pub fn process_view(&mut self, tree: &TreeView<'_>) {
        let events: Vec<usize> = (0..tree.messages.len())
            .filter(|&i| {
                let m = &tree.messages[i];
                m.kind == MessageKind::Event && is_edge_event(m)
            })
            .collect();
        if !events.is_empty() {
            self.count_edges(tree, &events);
        }
    }

    /// Counts the edges named by the events at `events` (positions in `tree.messages`,
    /// ascending, each an event for which [`is_edge_event`] holds): what
    /// `HourAnalyzers` gathers in its one walk of a tree.
    pub(crate) fn count_edges(&mut self, tree: &TreeView<'_>, events: &[usize]) {
        let messages = &tree.messages;
        let mut edges = events.iter().filter_map(|&i| {
            let event = messages.get(i)?;
            if event.depth == 0 {
                return None;
            }
            // The event's transaction: the nearest message before it one level up (the
            // view is the tree depth first), usually the one just before.
            let parent = messages[..i]
                .iter()
                .rev()
                .find(|m| m.depth + 1 == event.depth)
                .filter(|m| m.kind == MessageKind::Transaction)?;
            edge_of(event, parent).map(|edge| (edge, parent))
        });
        let Some(first) = edges.next() else {
            return;
        };
        let config = &*self.config;
        let hour = self.hour;
        let mut folded = 0;
        let report = self
            .reports
            .of_domain(tree.domain, config, &mut folded, |domain| {
                DependencyReport::new(domain, hour)
            });
        for ((kind, target), parent) in std::iter::once(first).chain(edges) {
            let edge = report
                .kinds
                .capped_entry(
                    kind,
                    config.max_types_per_machine,
                    config.max_key_chars,
                    &mut folded,
                )
                .targets
                .capped_entry(
                    target,
                    config.max_names_per_type,
                    config.max_key_chars,
                    &mut folded,
                );
            edge.record(
                minute_of(parent.timestamp_ms),
                !parent.is_success(),
                counted_duration(parent.duration_us),
            );
        }
        report.folded += folded;
    }
}
