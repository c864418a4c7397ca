//! [`TransactionAnalyzer`]: counts every transaction of every tree into per-domain reports.

use ocelot_protocol::{MessageTree, TreeView};

use super::report::{TransactionMachine, TransactionName, TransactionReport, MAX_FAIL_MESSAGE_IDS};
use crate::analyzer::Analyzer;
use crate::batch::{parse_transaction_batch, TransactionBatch};
use crate::cardinality::type_name_entry;
use crate::config::AnalyzerConfig;
use crate::message_ids::push_newest;
use crate::sample_id::TreeId;
use crate::transaction_walk::{for_each_counted_transaction, CountedTransaction};
use crate::tree_counter::MachineCounter;

/// The transaction reports of one hour, one per domain.
pub type TransactionAnalyzer = Analyzer<TransactionReport>;

impl TransactionAnalyzer {
    /// Counts the transactions of `tree`: all of them, nested ones too, normalised as CAT
    /// does (see `transaction_walk`), batch data expanded.
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
            for_each_counted_transaction(tree, |counted| counter.count(&counted, message_id));
        });
    }

    /// Runs `count` with the counter of `tree`'s transactions: its domain's report and
    /// machine, found once.
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

/// Counts one tree's transactions into its machine's entries.
pub(crate) type TreeCounter<'a> = MachineCounter<'a, TransactionMachine>;

impl TreeCounter<'_> {
    /// Counts one transaction of the tree; batch data that does not parse is dropped and
    /// counted instead.
    pub(crate) fn count(&mut self, counted: &CountedTransaction<'_>, message_id: &TreeId<'_>) {
        // Batch data is rare (a client's aggregator tree): parsed out of line, and before
        // the name is looked up, so that a dropped batch leaves no empty name. One lookup
        // for both kinds keeps it inlined here.
        let batch = match counted.transaction.data.starts_with('@') {
            false => None,
            true => match parse_batch(counted.transaction.data) {
                Some(batch) => Some(batch),
                None => {
                    self.malformed_batches += 1;
                    return;
                }
            },
        };
        let mut folds = 0;
        let name = type_name_entry(
            &mut self.machine.types,
            |t| &mut t.names,
            [counted.transaction.type_, &counted.name],
            self.config,
            &mut folds,
            self.entries_left,
        );
        let minute = self.minutes.of(counted.transaction.timestamp_ms);
        match batch {
            None => record(name, counted, minute, message_id, self.config, &mut folds),
            Some(batch) => record_batch(name, &batch, minute),
        }
        self.folded.note(folds);
    }
}

/// Batch data (`@...`) parsed, boxed so that the common path carries a pointer, not the
/// batch; `None` when it does not parse.
#[cold]
#[inline(never)]
fn parse_batch(data: &str) -> Option<Box<TransactionBatch>> {
    parse_transaction_batch(data)?.ok().map(Box::new)
}

/// CAT's processBatchTransaction: totals as sent, the bucketed durations into the
/// histogram. Unlike CAT we also estimate their sum of squares, so std is an estimate
/// instead of wrong.
#[cold]
#[inline(never)]
fn record_batch(name: &mut TransactionName, batch: &TransactionBatch, minute: u8) {
    name.minutes.add(
        minute,
        batch.count,
        batch.fail,
        batch.sum_ms.saturating_mul(1000),
    );
    for &(duration_ms, n) in &batch.durations {
        let duration_us = duration_ms.saturating_mul(1000);
        name.minute_durations.record_n(minute, duration_us, n);
        name.stats.add_extremes(duration_us, n);
    }
    name.stats.add_sum2(batch.sum_of_squares_us2());
    // No sample, failure or slowest link: the tree is the client's aggregator
    // (`System/TransactionAggregator`), a summary of many requests, none of which it
    // shows (CAT's batch path keeps no IDs either).
}

fn record(
    name: &mut TransactionName,
    counted: &CountedTransaction<'_>,
    minute: u8,
    message_id: &TreeId<'_>,
    config: &AnalyzerConfig,
    folded: &mut u64,
) {
    let transaction = counted.transaction;
    let duration_us = counted.duration_us;
    let failed = !transaction.is_success();
    name.record(minute, duration_us, failed);
    if failed {
        name.status_codes.add(
            transaction.status,
            1,
            config.max_status_codes,
            config.max_key_chars.min(128),
            folded,
        );
        push_newest(
            &mut name.fail_message_ids,
            message_id,
            transaction.timestamp_ms,
            MAX_FAIL_MESSAGE_IDS,
        );
    } else if name.sample_message_id.is_empty() {
        name.sample_message_id = message_id.sample().clone();
    }
    note_slowest(name, duration_us, message_id);
}

/// Keeps `message_id` as the slowest of `name` when it is at least as slow (ties go to the
/// later message, as in CAT). A tree without an ID leaves both alone, so `slowest_us` stays
/// 0 while there is no slowest ID and the check needs no look at the ID.
fn note_slowest(name: &mut TransactionName, duration_us: u64, message_id: &TreeId<'_>) {
    if duration_us >= name.slowest_us && !message_id.is_empty() {
        name.slowest_us = duration_us;
        name.slowest_message_id.clone_from(message_id.sample());
    }
}
