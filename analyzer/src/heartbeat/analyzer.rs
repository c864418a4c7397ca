//! [`HeartbeatAnalyzer`]: parses heartbeat `<status>` documents into per-minute series.

use std::collections::BTreeMap;
use std::sync::Arc;

use ocelot_protocol::{MessageKind, MessageTree, TreeView};

use super::report::HeartbeatReport;
use super::status_xml::parse_status;
use crate::cardinality::capped_entry;
use crate::config::AnalyzerConfig;
use crate::domain_reports::DomainReports;
use crate::minute::{hour_start_ms, TreeMinutes};
use crate::tree_counter::FoldedMessages;

/// The heartbeat reports of one hour, one per domain.
#[derive(Debug, Clone)]
pub struct HeartbeatAnalyzer {
    hour: u64,
    config: Arc<AnalyzerConfig>,
    reports: DomainReports<HeartbeatReport>,
}

impl HeartbeatAnalyzer {
    /// An analyzer for `hour` with no data.
    pub fn new(hour: u64, config: Arc<AnalyzerConfig>) -> Self {
        Self::from_reports(hour, config, BTreeMap::new())
    }

    /// Continues an hour from checkpointed reports.
    pub fn from_reports(
        hour: u64,
        config: Arc<AnalyzerConfig>,
        reports: BTreeMap<String, HeartbeatReport>,
    ) -> Self {
        HeartbeatAnalyzer {
            hour,
            config,
            reports: reports.into(),
        }
    }

    /// Adds reports read back from the store (a sealed hour opened again), each merged
    /// into its domain's live report.
    pub fn add_reports(&mut self, reports: BTreeMap<String, HeartbeatReport>) {
        for (domain, report) in reports {
            self.reports.add(&domain, report, HeartbeatReport::merge);
        }
    }

    /// The hour this analyzer covers.
    pub fn hour(&self) -> u64 {
        self.hour
    }

    /// The reports so far, by domain.
    pub fn reports(&self) -> &DomainReports<HeartbeatReport> {
        &self.reports
    }

    /// Takes the reports out (sealing an hour).
    pub fn into_reports(self) -> BTreeMap<String, HeartbeatReport> {
        self.reports.into_map()
    }

    /// Records every heartbeat of type `heartbeat` (any case) in `tree`. Trees without one
    /// cost a walk and nothing else.
    pub fn process(&mut self, tree: &MessageTree) {
        self.process_view(&TreeView::of(tree));
    }

    /// [`Self::process`] for a tree as a [`TreeView`].
    pub fn process_view(&mut self, tree: &TreeView<'_>) {
        let is_heartbeat = |m: &&ocelot_protocol::MessageView<'_>| {
            m.kind == MessageKind::Heartbeat && m.type_.eq_ignore_ascii_case("heartbeat")
        };
        if !tree.messages.iter().any(|m| is_heartbeat(&m)) {
            return;
        }
        let heartbeats = tree.messages.iter().filter(is_heartbeat);
        let config = &*self.config;
        let hour = self.hour;
        // As the other reports count: a heartbeat stamped outside the hour of its tree's
        // root (a long request's, a skewed clock's) at the root's minute.
        let minutes =
            TreeMinutes::of_root(hour_start_ms(hour), tree.root().map(|r| r.timestamp_ms));
        let mut tree_folds = 0;
        let report = self
            .reports
            .of_domain(tree.domain, config, &mut tree_folds, |domain| {
                HeartbeatReport::new(domain, hour)
            });
        let machine = capped_entry(
            &mut report.machines,
            tree.ip_address,
            config.max_machines_per_domain,
            config.max_key_chars,
            &mut tree_folds,
        );
        // Heartbeats, each once, filed under an `OTHERS` domain or machine or with values
        // left out for the series cap.
        let mut folded = FoldedMessages::of_tree(tree.domain, tree_folds);
        for heartbeat in heartbeats {
            let Some(series) = parse_status(heartbeat.data) else {
                report.malformed += 1;
                machine.malformed += 1;
                continue;
            };
            let values = machine
                .minutes
                .entry(minutes.of(heartbeat.timestamp_ms))
                .or_default();
            let mut left_out = 0;
            for (name, value) in series {
                if values.len() >= config.max_heartbeat_series && !values.contains_key(&name) {
                    left_out += 1;
                    continue;
                }
                values.insert(name, value);
            }
            folded.note(left_out);
        }
        report.folded += folded.messages;
    }
}
