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
        // A tree names the same edge again and again (every SQL transaction logs its
        // database): consecutive calls of one edge in one minute are added up first and
        // looked up once.
        let mut pending = Calls::of(first.0, first.1);
        for (edge, parent) in edges {
            if !pending.take(edge, parent) {
                pending.add_to(report, config, &mut folded);
                pending = Calls::of(edge, parent);
            }
        }
        pending.add_to(report, config, &mut folded);
        report.folded += folded;
    }
}

/// Calls of one edge in one minute, not yet added to the report.
struct Calls<'a> {
    edge: (&'a str, &'a str),
    minute: u8,
    count: u64,
    fail: u64,
    sum_us: u64,
    max_us: u64,
}

impl<'a> Calls<'a> {
    fn of(edge: (&'a str, &'a str), call: &MessageView<'_>) -> Self {
        let duration_us = counted_duration(call.duration_us);
        Calls {
            edge,
            minute: minute_of(call.timestamp_ms),
            count: 1,
            fail: u64::from(!call.is_success()),
            sum_us: duration_us,
            max_us: duration_us,
        }
    }

    /// Adds `call` if it is of the same edge and minute.
    fn take(&mut self, edge: (&str, &str), call: &MessageView<'_>) -> bool {
        if edge != self.edge || minute_of(call.timestamp_ms) != self.minute {
            return false;
        }
        let duration_us = counted_duration(call.duration_us);
        self.count += 1;
        self.fail += u64::from(!call.is_success());
        self.sum_us = self.sum_us.saturating_add(duration_us);
        self.max_us = self.max_us.max(duration_us);
        true
    }

    fn add_to(&self, report: &mut DependencyReport, config: &AnalyzerConfig, folded: &mut u64) {
        let (kind, target) = self.edge;
        report
            .kinds
            .capped_entry(
                kind,
                config.max_types_per_machine,
                config.max_key_chars,
                folded,
            )
            .targets
            .capped_entry(
                target,
                config.max_names_per_type,
                config.max_key_chars,
                folded,
            )
            .record_calls(self.minute, self.count, self.fail, self.sum_us, self.max_us);
    }
}
