//! [`ProblemAnalyzer`]: finds errors and long executions in every tree.

use std::collections::BTreeMap;
use std::sync::Arc;

use ocelot_protocol::{Leaf, Message, MessageTree};

use super::report::{
    ProblemMachine, ProblemReport, ERROR, LONG_CACHE, LONG_CALL, LONG_SERVICE, LONG_SQL, LONG_URL,
    MAX_PROBLEM_MESSAGE_IDS,
};
use crate::cardinality::capped_entry_with;
use crate::config::{AnalyzerConfig, LongThresholds};
use crate::minute::minute_of;
use crate::sample_id::TreeId;
use crate::transaction_walk::for_each_counted_transaction_and_event;
use crate::walk::walk;

/// Event types whose failures are errors (CAT's plexus `errorType`).
const ERROR_EVENT_TYPES: [&str; 3] = ["Error", "Exception", "RuntimeException"];

/// The problem reports of one hour, one per domain.
#[derive(Debug, Clone)]
pub struct ProblemAnalyzer {
    hour: u64,
    config: Arc<AnalyzerConfig>,
    reports: BTreeMap<String, ProblemReport>,
}

/// The long-execution category of a transaction type and its threshold in ms.
fn long_category(type_: &str, thresholds: &LongThresholds) -> Option<(&'static str, u64)> {
    match type_ {
        "URL" => Some((LONG_URL, thresholds.url_ms)),
        "SQL" => Some((LONG_SQL, thresholds.sql_ms)),
        "Call" | "PigeonCall" => Some((LONG_CALL, thresholds.call_ms)),
        "Service" | "PigeonService" => Some((LONG_SERVICE, thresholds.service_ms)),
        _ if type_.starts_with("Cache.") => Some((LONG_CACHE, thresholds.cache_ms)),
        _ => None,
    }
}

impl ProblemAnalyzer {
    /// An analyzer for `hour` with no data.
    pub fn new(hour: u64, config: Arc<AnalyzerConfig>) -> Self {
        Self::from_reports(hour, config, BTreeMap::new())
    }

    /// Continues an hour from checkpointed reports.
    pub fn from_reports(
        hour: u64,
        config: Arc<AnalyzerConfig>,
        reports: BTreeMap<String, ProblemReport>,
    ) -> Self {
        ProblemAnalyzer {
            hour,
            config,
            reports,
        }
    }

    /// The hour this analyzer covers.
    pub fn hour(&self) -> u64 {
        self.hour
    }

    /// The reports so far, by domain.
    pub fn reports(&self) -> &BTreeMap<String, ProblemReport> {
        &self.reports
    }

    /// Takes the reports out (sealing an hour).
    pub fn into_reports(self) -> BTreeMap<String, ProblemReport> {
        self.reports
    }

    /// Records the problems of `tree`: failed transactions and failed error events
    /// (`error`), and transactions at or over their type's long threshold (`long-*`).
    pub fn process(&mut self, tree: &MessageTree) {
        let config = &*self.config;
        let hour = self.hour;
        let mut folded = 0;
        // A `match` on `get_mut`: one lookup on a hit (`capped_entry_with` costs two, see
        // there), and every known domain hits.
        let report = match self.reports.get_mut(tree.header.domain.as_str()) {
            Some(report) => report,
            None => capped_entry_with(
                &mut self.reports,
                &tree.header.domain,
                config.max_domains,
                config.max_key_chars,
                &mut folded,
                |domain| ProblemReport::new(domain, hour),
            ),
        };
        let thresholds = config.long_thresholds_for(&tree.header.domain);
        let machine = report.machines.capped_entry(
            &tree.header.ip_address,
            config.max_machines_per_domain,
            config.max_key_chars,
            &mut folded,
        );
        let message_id = TreeId::new(tree.header.message_id().unwrap_or(""));
        let mut add = |category: &str, type_: &str, name: &str, timestamp_ms: u64| {
            add_problem(
                machine,
                config,
                &mut folded,
                [category, type_, name],
                minute_of(timestamp_ms),
                &message_id,
            );
        };
        // Transactions first, then error events, as CAT adds them (the order decides which
        // key folds when a cap is reached). Failed error events are rare, so the walk over
        // the transactions notes whether a second walk is needed at all.
        let is_error = |e: &Leaf| !e.is_success() && ERROR_EVENT_TYPES.contains(&e.type_.as_str());
        let mut any_error_event = false;
        for_each_counted_transaction_and_event(
            tree,
            |counted| {
                let t = counted.transaction;
                if !t.is_success() && !t.data.starts_with('@') {
                    add(ERROR, &t.type_, &counted.name, t.timestamp_ms);
                }
                if let Some((category, threshold_ms)) = long_category(&t.type_, thresholds) {
                    if counted.duration_us / 1000 >= threshold_ms {
                        add(category, &t.type_, &counted.name, t.timestamp_ms);
                    }
                }
            },
            |e| any_error_event |= is_error(e),
        );
        // A lone event root (no transaction) is not walked above.
        if any_error_event || !matches!(tree.root, Message::Transaction(_)) {
            walk(&tree.root, |message, _| {
                if let Message::Event(e) = message {
                    if is_error(e) {
                        add(ERROR, &e.type_, &e.name, e.timestamp_ms);
                    }
                }
            });
        }
        report.folded += folded;
    }
}

fn add_problem(
    machine: &mut ProblemMachine,
    config: &AnalyzerConfig,
    folded: &mut u64,
    [category, type_, name]: [&str; 3],
    minute: u8,
    message_id: &TreeId<'_>,
) {
    let category =
        machine
            .categories
            .capped_entry(category, usize::MAX, config.max_key_chars, folded);
    let type_ = category.types.capped_entry(
        type_,
        config.max_types_per_machine,
        config.max_key_chars,
        folded,
    );
    let entry = type_.names.capped_entry(
        name,
        config.max_names_per_type,
        config.max_key_chars,
        folded,
    );
    entry.record(minute, 1);
    entry
        .sample_message_ids
        .push_capped(message_id.sample(), MAX_PROBLEM_MESSAGE_IDS);
}
