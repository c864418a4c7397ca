//! [`EventAnalyzer`]: counts every event of every tree into per-domain reports.

use std::collections::BTreeMap;
use std::sync::Arc;

use ocelot_protocol::{Message, MessageTree};

use super::report::{EventReport, MAX_FAIL_MESSAGE_IDS};
use crate::batch::parse_event_batch;
use crate::cardinality::capped_entry_with;
use crate::config::AnalyzerConfig;
use crate::message_ids::push_capped;
use crate::minute::minute_of;
use crate::sample_id::TreeId;
use crate::walk::walk;

/// The event reports of one hour, one per domain.
#[derive(Debug, Clone)]
pub struct EventAnalyzer {
    hour: u64,
    config: Arc<AnalyzerConfig>,
    reports: BTreeMap<String, EventReport>,
}

impl EventAnalyzer {
    /// An analyzer for `hour` with no data.
    pub fn new(hour: u64, config: Arc<AnalyzerConfig>) -> Self {
        Self::from_reports(hour, config, BTreeMap::new())
    }

    /// Continues an hour from checkpointed reports.
    pub fn from_reports(
        hour: u64,
        config: Arc<AnalyzerConfig>,
        reports: BTreeMap<String, EventReport>,
    ) -> Self {
        EventAnalyzer {
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
    pub fn reports(&self) -> &BTreeMap<String, EventReport> {
        &self.reports
    }

    /// Takes the reports out (sealing an hour).
    pub fn into_reports(self) -> BTreeMap<String, EventReport> {
        self.reports
    }

    /// Counts every event of `tree` once; batch data `@count;fail` adds those counts.
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
                |domain| EventReport::new(domain, hour),
            ),
        };
        let machine = report.machines.capped_entry(
            &tree.header.ip_address,
            config.max_machines_per_domain,
            config.max_key_chars,
            &mut folded,
        );
        let message_id = TreeId::new(tree.header.message_id().unwrap_or(""));
        walk(&tree.root, |message, _| {
            let Message::Event(event) = message else {
                return;
            };
            let type_ = machine.types.capped_entry(
                &event.type_,
                config.max_types_per_machine,
                config.max_key_chars,
                &mut folded,
            );
            let name = type_.names.capped_entry(
                &event.name,
                config.max_names_per_type,
                config.max_key_chars,
                &mut folded,
            );
            let (count, fail) = match parse_event_batch(&event.data) {
                Some(batch) => batch,
                None => (1, u64::from(!event.is_success())),
            };
            name.record(minute_of(event.timestamp_ms), count, fail);
            if fail > 0 {
                push_capped(
                    &mut name.fail_message_ids,
                    &message_id,
                    MAX_FAIL_MESSAGE_IDS,
                );
            } else if name.sample_message_id.is_empty() {
                name.sample_message_id = message_id.sample().clone();
            }
        });
        report.folded += folded;
    }
}
