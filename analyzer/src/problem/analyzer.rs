//! [`ProblemAnalyzer`]: finds errors and long executions in every tree.

use ocelot_protocol::{MessageKind, MessageTree, MessageView, TreeView};

use super::report::{
    ProblemEntry, ProblemMachine, ProblemReport, ERROR, LONG_CACHE, LONG_CALL, LONG_SERVICE,
    LONG_SQL, LONG_URL, MAX_PROBLEM_MESSAGE_IDS,
};
use crate::analyzer::Analyzer;
use crate::cardinality::type_name_entry;
use crate::config::{AnalyzerConfig, LongThresholds};
use crate::sample_id::TreeId;
use crate::transaction_walk::{for_each_counted, Counted, CountedTransaction};
use crate::tree_counter::MachineCounter;

/// Event types whose failures are errors (CAT's plexus `errorType`).
const ERROR_EVENT_TYPES: [&str; 3] = ["Error", "Exception", "RuntimeException"];

/// The problem reports of one hour, one per domain.
pub type ProblemAnalyzer = Analyzer<ProblemReport>;

/// CAT's default long-execution buckets in ms, per category
/// (`LongExecutionProblemHandler`).
const URL_BUCKETS_MS: &[u64] = &[1_000, 2_000, 3_000, 5_000];
const SQL_BUCKETS_MS: &[u64] = &[100, 500, 1_000, 3_000, 5_000];
const CALL_BUCKETS_MS: &[u64] = &[100, 500, 1_000, 3_000, 5_000];
const SERVICE_BUCKETS_MS: &[u64] = &[50, 100, 500, 1_000, 3_000, 5_000];
const CACHE_BUCKETS_MS: &[u64] = &[10, 50, 100, 500];

/// The long-execution categories: which transaction types each takes.
#[derive(Debug, Clone, Copy)]
enum LongCategory {
    Url,
    Sql,
    Call,
    Service,
    Cache,
}

impl LongCategory {
    /// The category of a transaction type, if it has one.
    #[inline]
    fn of(type_: &str) -> Option<LongCategory> {
        match type_ {
            "URL" => Some(LongCategory::Url),
            "SQL" => Some(LongCategory::Sql),
            "Call" | "PigeonCall" => Some(LongCategory::Call),
            "Service" | "PigeonService" => Some(LongCategory::Service),
            _ if type_.starts_with("Cache.") => Some(LongCategory::Cache),
            _ => None,
        }
    }

    /// Its threshold in ms: the shortest duration that is a long execution.
    #[inline]
    fn threshold_ms(self, thresholds: &LongThresholds) -> u64 {
        match self {
            LongCategory::Url => thresholds.url_ms,
            LongCategory::Sql => thresholds.sql_ms,
            LongCategory::Call => thresholds.call_ms,
            LongCategory::Service => thresholds.service_ms,
            LongCategory::Cache => thresholds.cache_ms,
        }
    }

    /// The report's name of the category, and CAT's default buckets for it.
    fn name_and_buckets_ms(self) -> (&'static str, &'static [u64]) {
        match self {
            LongCategory::Url => (LONG_URL, URL_BUCKETS_MS),
            LongCategory::Sql => (LONG_SQL, SQL_BUCKETS_MS),
            LongCategory::Call => (LONG_CALL, CALL_BUCKETS_MS),
            LongCategory::Service => (LONG_SERVICE, SERVICE_BUCKETS_MS),
            LongCategory::Cache => (LONG_CACHE, CACHE_BUCKETS_MS),
        }
    }
}

/// The lower bounds (ms) of the duration buckets of the long category named `category`
/// (`long-url`, ...) for a domain counted with `thresholds`, ascending: its threshold, then
/// CAT's default buckets over it. A bucket holds the executions from its bound up to the
/// next one's, so a view can name each as a range. `None` for no long category.
pub fn long_buckets_ms(category: &str, thresholds: &LongThresholds) -> Option<Vec<u64>> {
    let all = [
        LongCategory::Url,
        LongCategory::Sql,
        LongCategory::Call,
        LongCategory::Service,
        LongCategory::Cache,
    ];
    let long = all
        .into_iter()
        .find(|c| c.name_and_buckets_ms().0 == category)?;
    let threshold_ms = long.threshold_ms(thresholds);
    let defaults = long.name_and_buckets_ms().1;
    let over = defaults.iter().copied().filter(|&ms| ms > threshold_ms);
    Some(std::iter::once(threshold_ms).chain(over).collect())
}

/// The bucket (its lower bound in ms) of a long execution of `duration_ms` (at or over
/// `threshold_ms`): CAT's `computeLongDuration`, the largest of its default buckets at or
/// under the duration, with the threshold as the first bucket ([`LongThresholds`]).
fn long_bucket_ms(duration_ms: u64, threshold_ms: u64, buckets_ms: &[u64]) -> u64 {
    let default =
        (buckets_ms.iter().rev()).find(|&&bucket| bucket > threshold_ms && bucket <= duration_ms);
    default.copied().unwrap_or(threshold_ms)
}

impl ProblemAnalyzer {
    /// Records the problems of `tree`: failed transactions and failed error events
    /// (`error`), and transactions at or over their type's long threshold (`long-*`).
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
            for_each_counted(tree, |counted| match counted {
                Counted::Transaction(transaction) => counter.count(&transaction, message_id),
                Counted::Event(event, _) => counter.note_event(event),
                Counted::Other(_) => {}
            });
            counter.count_error_events(tree, message_id);
        });
    }

    /// Runs `count` with the counter of `tree`'s problems: its domain's report, thresholds
    /// and machine, found once.
    /// (A closure, not a returned counter: the lookup's `match` on `get_mut` compiles only
    /// where the reference stays local, NLL problem case 3.)
    pub(crate) fn count_tree<R>(
        &mut self,
        tree: &TreeView<'_>,
        count: impl FnOnce(&mut TreeCounter<'_>) -> R,
    ) -> R {
        let thresholds = self.config.long_thresholds_for(tree.domain);
        count(&mut TreeCounter {
            counter: MachineCounter::of_tree(
                &mut self.reports,
                &self.config,
                self.hour,
                tree,
                &mut self.entries_left,
            ),
            thresholds,
            any_error_event: false,
        })
    }
}

/// Counts one tree's problems into its machine's entries: transactions first (as they
/// come, [`TreeCounter::count`]), then error events ([`TreeCounter::count_error_events`]),
/// as CAT adds them (the order decides which key folds when a cap is reached).
pub(crate) struct TreeCounter<'a> {
    counter: MachineCounter<'a, ProblemMachine>,
    thresholds: &'a LongThresholds,
    /// Whether an event seen so far is an error: failed error events are rare, so the
    /// walk over the transactions notes whether a second walk is needed at all.
    any_error_event: bool,
}

fn is_error(e: &MessageView<'_>) -> bool {
    e.kind == MessageKind::Event && !e.is_success() && ERROR_EVENT_TYPES.contains(&e.type_)
}

impl TreeCounter<'_> {
    /// Counts one transaction of the tree: an error if it failed, a long one past its
    /// type's threshold.
    pub(crate) fn count(&mut self, counted: &CountedTransaction<'_>, message_id: &TreeId<'_>) {
        let t = counted.transaction;
        if !t.is_success() && !t.data.starts_with('@') {
            self.add([ERROR, t.type_, &counted.name], t.timestamp_ms, message_id);
        }
        if let Some(category) = LongCategory::of(t.type_) {
            let duration_ms = counted.duration_us / 1000;
            let threshold_ms = category.threshold_ms(self.thresholds);
            if duration_ms >= threshold_ms {
                self.add_long(category, duration_ms, threshold_ms, counted, message_id);
            }
        }
    }

    /// Counts a long execution in its entry and bucket. Out of line: most transactions are
    /// not long, and [`TreeCounter::count`], which sees every one, stays small.
    #[inline(never)]
    fn add_long(
        &mut self,
        category: LongCategory,
        duration_ms: u64,
        threshold_ms: u64,
        counted: &CountedTransaction<'_>,
        message_id: &TreeId<'_>,
    ) {
        let t = counted.transaction;
        let (name, buckets_ms) = category.name_and_buckets_ms();
        let entry = self.add([name, t.type_, &counted.name], t.timestamp_ms, message_id);
        entry.record_duration(long_bucket_ms(duration_ms, threshold_ms, buckets_ms), 1);
    }

    /// Notes an event of the tree, seen in the walk over its transactions.
    pub(crate) fn note_event(&mut self, event: &MessageView<'_>) {
        self.any_error_event |= is_error(event);
    }

    /// After the transactions: the tree's failed error events, walked only if one was noted
    /// or the root is not a transaction (a lone event root is not walked with them).
    pub(crate) fn count_error_events(&mut self, tree: &TreeView<'_>, message_id: &TreeId<'_>) {
        let transaction_root = tree
            .root()
            .is_some_and(|root| root.kind == MessageKind::Transaction);
        if !self.any_error_event && transaction_root {
            return;
        }
        for e in &tree.messages {
            if is_error(e) {
                self.add([ERROR, e.type_, e.name], e.timestamp_ms, message_id);
            }
        }
    }

    fn add(
        &mut self,
        key: [&str; 3],
        timestamp_ms: u64,
        message_id: &TreeId<'_>,
    ) -> &mut ProblemEntry {
        let counter = &mut self.counter;
        let mut folds = 0;
        let entry = add_problem(
            counter.machine,
            counter.config,
            &mut folds,
            counter.entries_left,
            key,
            counter.minutes.of(timestamp_ms),
            message_id,
        );
        counter.folded.note(folds);
        entry
    }
}

fn add_problem<'m>(
    machine: &'m mut ProblemMachine,
    config: &AnalyzerConfig,
    folded: &mut u64,
    entries_left: &mut usize,
    [category, type_, name]: [&str; 3],
    minute: u8,
    message_id: &TreeId<'_>,
) -> &'m mut ProblemEntry {
    let category =
        machine
            .categories
            .capped_entry(category, usize::MAX, config.max_key_chars, folded);
    let entry = type_name_entry(
        &mut category.types,
        |t| &mut t.names,
        [type_, name],
        config,
        folded,
        entries_left,
    );
    entry.record(minute, 1);
    // A busy entry's list is full within minutes; past that the tree's ID is not parsed.
    let ids = &mut entry.sample_message_ids;
    if !message_id.is_empty() && !ids.is_full(MAX_PROBLEM_MESSAGE_IDS) {
        ids.push_capped(message_id.sample(), MAX_PROBLEM_MESSAGE_IDS);
    }
    entry
}
