//! [`MatrixAnalyzer`]: counts every request (a tree whose root is an entry transaction)
//! and the calls made inside it into per-domain reports.

use ocelot_protocol::{MessageKind, MessageTree, TreeView};

use super::report::{CallKind, MatrixReport, RequestCounts};
use crate::analyzer::Analyzer;
use crate::sample_id::TreeId;
use crate::transaction_walk::{for_each_counted_transaction, CountedTransaction};
use crate::tree_counter::FoldedMessages;

/// Whether a root of `type_` is a request the Matrix report counts: `URL`, `Service` or
/// `PigeonService` (CAT's `MatrixAnalyzer`), matched exactly.
#[inline]
pub(crate) fn is_entry_type(type_: &str) -> bool {
    matches!(type_, "URL" | "Service" | "PigeonService")
}

/// The calls of one request, added up while its tree is walked (on the stack: nothing is
/// allocated per message).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RequestCalls(RequestCounts);

impl RequestCalls {
    /// Notes a transaction of the request's tree, of `type_`, that took `duration_us`.
    #[inline]
    fn note(&mut self, type_: &str, duration_us: u64) {
        if let Some(kind) = CallKind::of(type_) {
            let (count, sum_us) = &mut self.0[kind as usize];
            *count += 1;
            *sum_us = sum_us.saturating_add(duration_us);
        }
    }
}

/// The Matrix reports of one hour, one per domain.
pub type MatrixAnalyzer = Analyzer<MatrixReport>;

impl MatrixAnalyzer {
    /// Counts `tree` if its root is an entry transaction (`URL`, `Service`,
    /// `PigeonService`): one request, and the `Call`/`PigeonCall`, `SQL` and `Cache.*`
    /// transactions at any depth below it.
    pub fn process(&mut self, tree: &MessageTree) {
        self.process_view(&TreeView::of(tree));
    }

    /// [`Self::process`] for a tree as a [`TreeView`].
    pub fn process_view(&mut self, tree: &TreeView<'_>) {
        self.process_with_id(tree, &TreeId::of(tree));
    }

    /// [`Self::process_view`] with the tree's ID, shared with the other reports.
    pub(crate) fn process_with_id(&mut self, tree: &TreeView<'_>, message_id: &TreeId<'_>) {
        let counts = tree
            .root()
            .is_some_and(|root| root.kind == MessageKind::Transaction && is_entry_type(root.type_));
        if !counts {
            return;
        }
        let mut calls = RequestCalls::default();
        for_each_counted_transaction(tree, |counted| {
            self.count(tree.domain, &counted, &mut calls, message_id);
        });
    }

    /// Counts one transaction of a tree whose root is an entry transaction, as the walk
    /// (`transaction_walk`) gives them: the calls first, then the root, with the calls
    /// added up in `calls`.
    #[inline]
    pub(crate) fn count(
        &mut self,
        domain: &str,
        counted: &CountedTransaction<'_>,
        calls: &mut RequestCalls,
        message_id: &TreeId<'_>,
    ) {
        if counted.transaction.depth > 0 {
            calls.note(counted.transaction.type_, counted.duration_us);
        } else {
            self.record(domain, counted, calls, message_id);
        }
    }

    /// Counts the request whose root is `root`, and its calls.
    fn record(
        &mut self,
        domain: &str,
        root: &CountedTransaction<'_>,
        calls: &RequestCalls,
        message_id: &TreeId<'_>,
    ) {
        let config = &*self.config;
        let hour = self.hour;
        let mut domain_folds = 0;
        let report = self
            .reports
            .of_domain(domain, config, &mut domain_folds, |domain| {
                MatrixReport::new(domain, hour)
            });
        let mut folds = 0;
        let entries_left = &mut self.entries_left;
        let type_ = report.types.budgeted_entry(
            root.transaction.type_,
            config.max_types_per_machine,
            config.max_key_chars,
            &mut folds,
            entries_left,
        );
        let name = type_.names.budgeted_entry(
            &root.name,
            config.max_names_per_type,
            config.max_key_chars,
            &mut folds,
            entries_left,
        );
        name.record(root.duration_us, &calls.0, message_id);
        let mut folded = FoldedMessages::of_tree(domain, domain_folds);
        folded.note(folds);
        report.folded += folded.messages;
    }
}
