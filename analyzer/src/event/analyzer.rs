//! [`EventAnalyzer`]: counts every event of every tree into per-domain reports.

use ocelot_protocol::{MessageKind, MessageTree, MessageView, TreeView};

use super::report::{EventMachine, EventReport, MAX_FAIL_MESSAGE_IDS};
use crate::analyzer::Analyzer;
use crate::batch::parse_event_batch;
use crate::cardinality::type_name_entry;
use crate::dependency::{edge_call, Parents};
use crate::message_ids::push_newest;
use crate::sample_id::TreeId;
use crate::transaction_walk::counted_duration;
use crate::tree_counter::MachineCounter;

/// The event reports of one hour, one per domain.
pub type EventAnalyzer = Analyzer<EventReport>;

impl EventAnalyzer {
    /// Counts every event of `tree` once; batch data `@count;fail` adds those counts, and
    /// batch data that does not parse is dropped and counted
    /// ([`EventReport::malformed_batches`]).
    pub fn process(&mut self, tree: &MessageTree) {
        self.process_view(&TreeView::of(tree));
    }

    /// [`Self::process`] for a tree as a [`TreeView`].
    pub fn process_view(&mut self, tree: &TreeView<'_>) {
        self.process_with_id(tree, &TreeId::of(tree));
    }

    /// [`Self::process_view`] with the tree's ID, which the reports of one tree share (it
    /// is parsed at most once, when the first of them keeps it).
    pub(crate) fn process_with_id(&mut self, tree: &TreeView<'_>, message_id: &TreeId<'_>) {
        self.count_tree(tree, |counter| {
            let mut parents = Parents::default();
            for (i, event) in tree.messages.iter().enumerate() {
                if event.kind == MessageKind::Event {
                    counter.count(event, message_id, edge_call(tree, i, &mut parents));
                }
            }
        });
    }

    /// Runs `count` with the counter of `tree`'s events: its domain's report and machine,
    /// found once.
    /// (A closure, not a returned counter: the lookup's `match` on `get_mut` compiles only
    /// where the reference stays local, NLL problem case 3.)
    pub(crate) fn count_tree<R>(
        &mut self,
        tree: &TreeView<'_>,
        count: impl FnOnce(&mut TreeCounter<'_>) -> R,
    ) -> R {
        count(&mut MachineCounter::of_tree(
            &mut self.reports,
            &self.config,
            self.hour,
            tree,
            &mut self.entries_left,
        ))
    }
}

/// Counts one tree's events into its machine's entries.
pub(crate) type TreeCounter<'a> = MachineCounter<'a, EventMachine>;

impl TreeCounter<'_> {
    /// Counts one event of the tree; `call` is the transaction it sat in when the event
    /// names a dependency ([`edge_call`]), whose call the edge counts. Batch data that does
    /// not parse is dropped and counted instead.
    pub(crate) fn count(
        &mut self,
        event: &MessageView<'_>,
        message_id: &TreeId<'_>,
        call: Option<&MessageView<'_>>,
    ) {
        // Batch data is rare (a client's aggregator tree): parsed out of line, and before
        // the name is looked up, so that a dropped batch leaves no empty name.
        let batch = match event.data.starts_with('@') {
            false => None,
            true => match parse_batch(event.data) {
                Some(batch) => Some(batch),
                None => {
                    self.malformed_batches += 1;
                    return;
                }
            },
        };
        let minutes = self.minutes;
        let mut folds = 0;
        let name = type_name_entry(
            &mut self.machine.types,
            |t| &mut t.names,
            [event.type_, event.name],
            self.config,
            &mut folds,
            self.entries_left,
        );
        self.folded.note(folds);
        let (count, fail) = batch.unwrap_or((1, u64::from(!event.is_success())));
        name.record(minutes.of(event.timestamp_ms), count, fail);
        // A batch event (a client's `System/EventAggregator`) sits in no call of its own: its
        // enclosing transaction is the aggregator's root, of duration 0, so it would count
        // one call of 0 ms per tally as a dependency.
        if let Some(call) = call.filter(|_| batch.is_none()) {
            let duration_us = counted_duration(call.duration_us);
            name.edge.get_or_insert_with(Box::default).record_calls(
                minutes.of(call.timestamp_ms),
                1,
                u64::from(!call.is_success()),
                duration_us,
                duration_us,
            );
        }
        if batch.is_some() {
            // The client's aggregator tree (`System/EventAggregator`): a summary, no
            // request to link to (CAT's batch path keeps no IDs either).
            return;
        }
        if fail > 0 {
            push_newest(
                &mut name.fail_message_ids,
                message_id,
                event.timestamp_ms,
                MAX_FAIL_MESSAGE_IDS,
            );
        } else if name.sample_message_id.is_empty() {
            name.sample_message_id = message_id.sample().clone();
        }
    }
}

/// Batch data (`@count;fail`) parsed; `None` when it does not parse.
#[cold]
#[inline(never)]
fn parse_batch(data: &str) -> Option<(u64, u64)> {
    parse_event_batch(data)?.ok()
}
