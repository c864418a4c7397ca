//! [`HourAnalyzers`]: the six domain-keyed analyzers of one hour, fed the same trees.
//!
//! The collector keeps one per analyzer thread and open hour, the web crate's in-memory
//! source one per hour; both feed every tree to all six and list the domains of any.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use ocelot_protocol::nt1::{Keep, HEADER_DOMAIN, HEADER_IP_ADDRESS, HEADER_MESSAGE_ID};
use ocelot_protocol::{MessageKind, MessageTree, TreeView};

use crate::dependency::{edge_call, is_edge_event, Parents};
use crate::matrix::{is_entry_type, RequestCalls};
use crate::sample_id::{ParsedId, TreeId};
use crate::transaction_walk::{for_each_counted, Counted};
use crate::{
    AnalyzerConfig, EventAnalyzer, EventReport, HeartbeatAnalyzer, HeartbeatReport, MatrixAnalyzer,
    MatrixReport, MetricAnalyzer, MetricReport, ProblemAnalyzer, ProblemReport,
    TransactionAnalyzer, TransactionReport,
};

/// The Transaction, Event, Problem, Heartbeat, Metric and Matrix analyzers of one hour (the
/// Event report keeps the dependency edges too).
#[derive(Debug, Clone)]
pub struct HourAnalyzers {
    /// Transactions by domain.
    pub transaction: TransactionAnalyzer,
    /// Events by domain.
    pub event: EventAnalyzer,
    /// Problems by domain.
    pub problem: ProblemAnalyzer,
    /// Heartbeats by domain.
    pub heartbeat: HeartbeatAnalyzer,
    /// Business metrics by domain.
    pub metric: MetricAnalyzer,
    /// Requests and the calls they made, by domain.
    pub matrix: MatrixAnalyzer,
    /// The list [`Self::process`] views each tree in, kept for its allocation.
    view: TreeView<'static>,
}

/// Reports of one hour by kind and domain, as checkpoints restore them
/// ([`HourAnalyzers::from_reports`]).
#[derive(Debug, Clone, Default)]
pub struct HourReports {
    /// Transaction reports by domain.
    pub transaction: BTreeMap<String, TransactionReport>,
    /// Event reports by domain.
    pub event: BTreeMap<String, EventReport>,
    /// Problem reports by domain.
    pub problem: BTreeMap<String, ProblemReport>,
    /// Heartbeat reports by domain.
    pub heartbeat: BTreeMap<String, HeartbeatReport>,
    /// Metric reports by domain.
    pub metric: BTreeMap<String, MetricReport>,
    /// Matrix reports by domain.
    pub matrix: BTreeMap<String, MatrixReport>,
}

impl HourAnalyzers {
    /// Analyzers of `hour` with no data.
    pub fn new(hour: u64, config: &Arc<AnalyzerConfig>) -> Self {
        Self::from_reports(hour, config, HourReports::default())
    }

    /// Continues `hour` from reports (a checkpoint).
    pub fn from_reports(hour: u64, config: &Arc<AnalyzerConfig>, reports: HourReports) -> Self {
        HourAnalyzers {
            transaction: TransactionAnalyzer::from_reports(
                hour,
                config.clone(),
                reports.transaction,
            ),
            event: EventAnalyzer::from_reports(hour, config.clone(), reports.event),
            problem: ProblemAnalyzer::from_reports(hour, config.clone(), reports.problem),
            heartbeat: HeartbeatAnalyzer::from_reports(hour, config.clone(), reports.heartbeat),
            metric: MetricAnalyzer::from_reports(hour, config.clone(), reports.metric),
            matrix: MatrixAnalyzer::from_reports(hour, config.clone(), reports.matrix),
            view: TreeView::default(),
        }
    }

    /// Whether each budgeted report has spent its entries for the hour
    /// ([`AnalyzerConfig::max_entries_per_hour`]), in the order of [`Self::BUDGETED`].
    pub fn spent_entry_budgets(&self) -> [bool; 4] {
        [
            self.transaction.entries_exhausted(),
            self.event.entries_exhausted(),
            self.problem.entries_exhausted(),
            self.matrix.entries_exhausted(),
        ]
    }

    /// The reports an entry budget bounds, as [`Self::spent_entry_budgets`] lists them.
    pub const BUDGETED: [&'static str; 4] = ["transaction", "event", "problem", "matrix"];

    /// Counts `tree` in every report.
    ///
    /// One walk feeds the Transaction, Event and Problem reports (walking the tree once per
    /// report cost about as much as the counting), and they share the tree's parsed ID. The
    /// Heartbeat and Metric analyzers, which look only for messages of their kind, run when
    /// the walk saw one: most trees hold neither. The Matrix report adds up the calls of a
    /// tree whose root is an entry transaction in the same walk (the root comes last). A
    /// tree with another root than a transaction goes to each analyzer on its own. An event
    /// that may name a dependency (`SQL.Database`, `<type>.app`) is counted with the
    /// transaction it sat in.
    pub fn process(&mut self, tree: &MessageTree) {
        let mut view = std::mem::take(&mut self.view).recycle();
        view.fill(tree);
        self.process_view(&view);
        self.view = view.recycle();
    }

    /// [`Self::process`] for a tree as a [`TreeView`] (what the collector decodes frames
    /// into: see `nt1::decode_view`).
    pub fn process_view(&mut self, tree: &TreeView<'_>) {
        self.process_view_parsed(tree, None);
    }

    /// [`Self::process_view`] for a tree whose message ID the caller parsed already
    /// ([`ParsedId`]; `None` to let the reports parse it).
    pub fn process_view_parsed(&mut self, tree: &TreeView<'_>, parsed: Option<ParsedId>) {
        let message_id = TreeId::of_parsed(tree, parsed);
        if tree
            .root()
            .is_none_or(|root| root.kind != MessageKind::Transaction)
        {
            self.transaction.process_with_id(tree, &message_id);
            self.event.process_with_id(tree, &message_id);
            self.problem.process_with_id(tree, &message_id);
            self.heartbeat.process_view(tree);
            self.metric.process_view(tree);
            return;
        }
        let (mut heartbeat, mut metric) = (false, false);
        let request = tree.root().is_some_and(|root| is_entry_type(root.type_));
        let mut parents = Parents::default();
        let mut calls = RequestCalls::default();
        self.transaction.count_tree(tree, |transactions| {
            self.event.count_tree(tree, |events| {
                self.problem.count_tree(tree, |problems| {
                    for_each_counted(tree, |counted| match counted {
                        Counted::Transaction(transaction) => {
                            transactions.count(&transaction, &message_id);
                            problems.count(&transaction, &message_id);
                            if request {
                                let domain = tree.domain;
                                (self.matrix).count(domain, &transaction, &mut calls, &message_id);
                            }
                        }
                        Counted::Event(event, index) => {
                            let call = if is_edge_event(event) {
                                edge_call(tree, index, &mut parents)
                            } else {
                                None
                            };
                            events.count(event, &message_id, call);
                            problems.note_event(event);
                        }
                        Counted::Other(other) => match other.kind {
                            MessageKind::Heartbeat => heartbeat = true,
                            MessageKind::Metric => metric = true,
                            _ => {}
                        },
                    });
                    problems.count_error_events(tree, &message_id);
                });
            });
        });
        if heartbeat {
            self.heartbeat.process_view(tree);
        }
        if metric {
            self.metric.process_view(tree);
        }
    }

    /// What the reports read of a tree, for `nt1::decode_body_into_keeping`: three header
    /// fields (domain, client IP, message ID) and the data fields [`Self::reads_data`]
    /// names. The collector decodes the rest as empty strings: the store keeps every byte.
    pub const KEEP: Keep = Keep {
        header: HEADER_DOMAIN | HEADER_IP_ADDRESS | HEADER_MESSAGE_ID,
        data: Self::reads_data,
    };

    /// Whether any report reads a message's data field, given the message's kind, type and
    /// data: heartbeats' status XML, metrics' values, batch data (`@count;fail;...`) and a
    /// truncated tree's `TruncatedTransaction` total. SQL text, URLs and stack traces are
    /// most of a tree's bytes, and no report reads them.
    #[inline]
    pub fn reads_data(kind: MessageKind, type_: &str, data: &[u8]) -> bool {
        match kind {
            MessageKind::Heartbeat | MessageKind::Metric => true,
            MessageKind::Trace => false,
            MessageKind::Transaction | MessageKind::Event => {
                data.first() == Some(&b'@')
                    || (kind == MessageKind::Event && type_ == "TruncatedTransaction")
            }
        }
    }

    /// Adds reports read back from the store into the hour, each merged into its domain's
    /// live report of the same kind: a sealed hour opened again because the clock went
    /// back into it continues from what it had (see the collector's workers).
    pub fn add_reports(&mut self, reports: HourReports) {
        self.transaction.add_reports(reports.transaction);
        self.event.add_reports(reports.event);
        self.problem.add_reports(reports.problem);
        self.heartbeat.add_reports(reports.heartbeat);
        self.metric.add_reports(reports.metric);
        self.matrix.add_reports(reports.matrix);
    }

    /// The domains with a report of any kind, sorted.
    pub fn domains(&self) -> Vec<String> {
        let mut domains = BTreeSet::new();
        domains.extend(self.transaction.reports().keys());
        domains.extend(self.event.reports().keys());
        domains.extend(self.problem.reports().keys());
        domains.extend(self.heartbeat.reports().keys());
        domains.extend(self.metric.reports().keys());
        domains.extend(self.matrix.reports().keys());
        domains.into_iter().map(str::to_owned).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::OTHERS;
    use ocelot_protocol::Message;

    #[test]
    fn every_tree_reaches_every_report_and_a_restore_continues_them() {
        let hour = 498_703;
        let config = Arc::new(AnalyzerConfig::default());
        let mut samples =
            ocelot_protocol::sample::SampleTrees::new(5, 3, 10, hour * 3_600_000 + 60_000);
        let mut analyzers = HourAnalyzers::new(hour, &config);
        for _ in 0..300 {
            analyzers.process(&samples.tree());
        }
        let domains = analyzers.domains();
        assert_eq!(domains.len(), 3, "{domains:?}");
        assert!(domains.is_sorted());
        let restored = HourAnalyzers::from_reports(
            hour,
            &config,
            HourReports {
                transaction: analyzers.transaction.reports().clone().into_map(),
                event: analyzers.event.reports().clone().into_map(),
                ..HourReports::default()
            },
        );
        assert_eq!(restored.domains(), domains);
        assert_eq!(
            restored.transaction.reports(),
            analyzers.transaction.reports()
        );
    }

    /// A sealed hour opened again reads its stored reports back into the live hour: the
    /// trees counted before the seal and after it make the reports of all of them.
    #[test]
    fn stored_reports_added_to_a_live_hour_make_the_reports_of_all_its_trees() {
        let hour = 498_703;
        let config = Arc::new(AnalyzerConfig::default());
        let mut samples =
            ocelot_protocol::sample::SampleTrees::new(5, 3, 10, hour * 3_600_000 + 60_000);
        let trees: Vec<MessageTree> = (0..400).map(|_| samples.tree()).collect();
        let mut all = HourAnalyzers::new(hour, &config);
        let (mut sealed, mut live) = (all.clone(), all.clone());
        for (i, tree) in trees.iter().enumerate() {
            all.process(tree);
            if i < 250 { &mut sealed } else { &mut live }.process(tree);
        }
        live.add_reports(HourReports {
            transaction: sealed.transaction.reports().clone().into_map(),
            event: sealed.event.reports().clone().into_map(),
            problem: sealed.problem.reports().clone().into_map(),
            heartbeat: sealed.heartbeat.reports().clone().into_map(),
            metric: sealed.metric.reports().clone().into_map(),
            matrix: sealed.matrix.reports().clone().into_map(),
        });
        assert_eq!(live.domains(), all.domains());
        let counts = |a: &HourAnalyzers| -> Vec<(String, u64, u64)> {
            a.transaction
                .reports()
                .iter()
                .map(|(domain, report)| {
                    let view = report.view(&crate::ViewQuery::default());
                    let events = a.event.reports().get(domain).map_or(0, |r| {
                        let view = r.view(&crate::ViewQuery::default());
                        view.types.iter().map(|t| t.count).sum()
                    });
                    let count = view.types.iter().map(|t| t.figures.count).sum();
                    (domain.to_owned(), count, events)
                })
                .collect()
        };
        assert_eq!(counts(&live), counts(&all));
        assert!(counts(&all).iter().all(|(_, count, _)| *count > 0));
        // Figures alike; the sample IDs are the first of each half's trees, not the hour's.
        let matrix = |a: &HourAnalyzers| -> Vec<String> {
            let reports = a.matrix.reports();
            (reports.values())
                .flat_map(|r| r.view(&crate::ViewQuery::default()).names)
                .map(|n| {
                    let calls = n.calls.iter();
                    let calls = calls.map(|c| (c.count, c.min_per_request, c.max_per_request));
                    let calls: Vec<_> = calls.collect();
                    format!("{} {} {} {calls:?}", n.type_, n.name, n.count)
                })
                .collect()
        };
        assert_eq!(matrix(&live), matrix(&all));
        assert!(!matrix(&all).is_empty());
    }

    #[test]
    fn a_tree_the_collector_filed_under_others_counts_as_folded_in_every_report() {
        // The collector applies the hour's domain cap over all its analyzer threads and
        // hands a tree past it over with `OTHERS` as its domain: no analyzer's own cap
        // folds it, yet each of its messages is filed under `OTHERS`.
        use crate::test_support::{transaction, tree, HOUR_START_MS};
        use ocelot_protocol::Leaf;
        let hour = 498_703;
        let mut analyzers = HourAnalyzers::new(hour, &Arc::new(AnalyzerConfig::default()));
        let ts = HOUR_START_MS + 60_000;
        // Failed and slow: an error and a long-url problem.
        let mut root = transaction("URL", "/pay", ts, 2_000_000, "ERROR");
        root.children
            .push(Message::Event(Leaf::new("RemoteCall", "x", "0", ts, "")));
        root.children
            .push(Message::Metric(Leaf::new("", "orders", "C", ts, "1")));
        root.children.push(Message::Heartbeat(Leaf::new(
            "Heartbeat",
            "10.0.0.1",
            "0",
            ts,
            "<status/>",
        )));
        analyzers.process(&tree(OTHERS, "10.0.0.1", "", root));
        let folded = [
            analyzers.transaction.reports()[OTHERS].folded(),
            analyzers.event.reports()[OTHERS].folded(),
            analyzers.problem.reports()[OTHERS].folded(),
            analyzers.metric.reports()[OTHERS].folded(),
            analyzers.heartbeat.reports()[OTHERS].folded,
        ];
        assert_eq!(folded, [1, 1, 2, 1, 1]);
    }

    #[test]
    fn the_hours_entry_budget_bounds_each_report_and_keeps_every_count() {
        use crate::test_support::{transaction, tree, HOUR_START_MS};
        use ocelot_protocol::Leaf;
        let hour = 498_703;
        let budget = 60;
        let config = Arc::new(AnalyzerConfig {
            max_entries_per_hour: budget,
            ..AnalyzerConfig::default()
        });
        let mut analyzers = HourAnalyzers::new(hour, &config);
        // 200 machines, each with names of its own: far more entries than the budget.
        let (machines, trees_per_machine) = (200, 5);
        for m in 0..machines {
            for i in 0..trees_per_machine {
                let ts = HOUR_START_MS + 60_000;
                let mut root = transaction("URL", &format!("/user/{m}/{i}"), ts, 2_000, "500");
                root.children.push(Message::Event(Leaf::new(
                    "Exception",
                    format!("Error{m}.{i}"),
                    "ERROR",
                    ts,
                    "",
                )));
                let ip = format!("10.1.{}.{}", m / 250, m % 250);
                analyzers.process(&tree("shop", &ip, "", root));
            }
        }
        let sent = (machines * trees_per_machine) as u64;
        let transactions = &analyzers.transaction.reports()["shop"];
        let events = &analyzers.event.reports()["shop"];
        let problems = &analyzers.problem.reports()["shop"];
        // Spent, then only `OTHERS` keys, at most one per map that existed: the machine
        // map, and each machine's type and name maps.
        for held in [
            transactions.entry_count(),
            events.entry_count(),
            problems.entry_count(),
        ] {
            assert!(held >= budget && held <= 2 * budget, "{held} entries held");
        }
        assert!(analyzers.transaction.entries_exhausted());
        assert!(analyzers.event.entries_exhausted());
        assert!(analyzers.problem.entries_exhausted());
        let all = crate::ViewQuery {
            elapsed_seconds: 3600.0,
            ..crate::ViewQuery::default()
        };
        let view = transactions.view(&all);
        let count: u64 = view.types.iter().map(|t| t.figures.count).sum();
        let fail: u64 = view.types.iter().map(|t| t.figures.fail).sum();
        assert_eq!((count, fail), (sent, sent));
        assert!(
            view.ips.contains(&crate::OTHERS.to_owned()),
            "{:?}",
            view.ips.len()
        );
        let events_seen: u64 = events.view(&all).types.iter().map(|t| t.count).sum();
        assert_eq!(events_seen, sent);
        let problems_seen: u64 = problems.view(&all).problems.iter().map(|p| p.count).sum();
        assert_eq!(
            problems_seen,
            2 * sent,
            "each tree: a failed URL and an exception"
        );
        assert!(transactions.folded() > 0);
        // A restart continues the spent budget from what the checkpoint holds.
        let restored = HourAnalyzers::from_reports(
            hour,
            &config,
            HourReports {
                transaction: analyzers.transaction.reports().clone().into_map(),
                ..HourReports::default()
            },
        );
        assert!(restored.transaction.entries_exhausted());
        assert!(!restored.event.entries_exhausted());
    }

    /// Trees whose data every report reads: batch transactions and events, a truncated
    /// tree's total, a failure with a stack trace, a metric and a heartbeat.
    fn trees_with_data_that_counts() -> Vec<MessageTree> {
        use crate::test_support::{transaction, tree, HOUR_START_MS};
        use ocelot_protocol::{Leaf, Message};
        let ts = HOUR_START_MS + 90_000;
        let mut batch = transaction("SQL", "select", ts, 0, "0");
        batch.data = "@3;1;150;40,2|70,1".into();
        let mut root = transaction("URL", "/api", ts, 5_000, "ERROR");
        root.data = "uid=7&page=2".into();
        root.children.push(Message::Transaction(batch));
        for (type_, name, status, data) in [
            ("RemoteCall", "batch", "0", "@5;2"),
            (
                "Exception",
                "java.io.IOException",
                "ERROR",
                "java.io.IOException\n\tat A.b(A.java:1)",
            ),
            ("TruncatedTransaction", "TotalDuration", "0", "2468000"),
        ] {
            root.children
                .push(Message::Event(Leaf::new(type_, name, status, ts, data)));
        }
        let mut with_metric = transaction("URL", "/pay", ts, 900, "0");
        with_metric
            .children
            .push(Message::Metric(Leaf::new("", "orders", "S,C", ts, "3,120")));
        let heartbeat = MessageTree::new(
            crate::test_support::header("shop", "10.0.0.2", "shop-0a000002-498703-9"),
            Message::Heartbeat(Leaf::new(
                "Heartbeat",
                "10.0.0.2",
                "0",
                ts,
                "<status><memory max=\"100\" total=\"80\"/></status>",
            )),
        );
        vec![
            tree("shop", "10.0.0.1", "shop-0a000001-498703-1", root),
            tree("shop", "10.0.0.1", "shop-0a000001-498703-2", with_metric),
            heartbeat,
        ]
    }

    #[test]
    fn reports_are_the_same_when_only_the_data_they_read_is_decoded() {
        use ocelot_protocol::nt1;
        let hour = 498_703;
        let config = Arc::new(AnalyzerConfig::default());
        let mut trees = crate::test_support::binary_frames();
        trees.extend(trees_with_data_that_counts());
        for full_data in [false, true] {
            let mut samples = ocelot_protocol::sample::SampleTrees::new(
                9,
                3,
                20,
                crate::test_support::HOUR_START_MS + 60_000,
            );
            if full_data {
                samples = samples.full_data();
            }
            trees.extend((0..400).map(|_| samples.tree()));
        }
        let mut all = HourAnalyzers::new(hour, &config);
        let mut lean = HourAnalyzers::new(hour, &config);
        let mut viewed = HourAnalyzers::new(hour, &config);
        // As the collector feeds them: with the message ID its socket thread parsed.
        let mut parsed = HourAnalyzers::new(hour, &config);
        let mut scratch = MessageTree::default();
        let mut view = TreeView::default();
        let mut skipped = 0;
        for tree in &trees {
            let mut frame = Vec::new();
            nt1::encode(tree, &mut frame);
            let body = &frame[4..];
            all.process(&nt1::decode_body(body).unwrap());
            nt1::decode_body_into_keeping(body, &mut scratch, HourAnalyzers::KEEP).unwrap();
            skipped += usize::from(scratch != *tree);
            lean.process(&scratch);
            let mut v = std::mem::take(&mut view).recycle();
            nt1::decode_view(body, HourAnalyzers::KEEP.data, &mut v).unwrap();
            viewed.process_view(&v);
            let id = v
                .message_id()
                .and_then(ocelot_protocol::MessageIdRef::parse_canonical)
                .and_then(|parts| ParsedId::from_canonical(&parts));
            parsed.process_view_parsed(&v, id);
            view = v.recycle();
        }
        assert!(
            skipped > 500,
            "most trees carry data no report reads: {skipped}"
        );
        assert_eq!(lean.transaction.reports(), all.transaction.reports());
        assert_eq!(lean.event.reports(), all.event.reports());
        assert_eq!(lean.problem.reports(), all.problem.reports());
        assert_eq!(lean.heartbeat.reports(), all.heartbeat.reports());
        assert_eq!(lean.metric.reports(), all.metric.reports());
        assert_eq!(viewed.transaction.reports(), all.transaction.reports());
        assert_eq!(viewed.event.reports(), all.event.reports());
        assert_eq!(viewed.problem.reports(), all.problem.reports());
        assert_eq!(viewed.heartbeat.reports(), all.heartbeat.reports());
        assert_eq!(viewed.metric.reports(), all.metric.reports());
        assert_eq!(lean.matrix.reports(), all.matrix.reports());
        assert_eq!(viewed.matrix.reports(), all.matrix.reports());
        assert_eq!(parsed.matrix.reports(), all.matrix.reports());
        assert_eq!(parsed.transaction.reports(), all.transaction.reports());
        assert_eq!(parsed.event.reports(), all.event.reports());
        assert_eq!(parsed.problem.reports(), all.problem.reports());
        let shop = &all.transaction.reports()["shop"];
        assert!(
            format!("{shop:?}").contains("select"),
            "the batch was counted"
        );
        assert!(!all.heartbeat.reports().is_empty() && !all.metric.reports().is_empty());
    }

    /// Every kind of tree the analyzers treat apart: captured frames, batch and truncated
    /// data, lone event, heartbeat and metric roots, truncated fragments, failures.
    fn trees_of_every_kind() -> Vec<MessageTree> {
        use crate::test_support::{header, transaction, tree, HOUR_START_MS};
        use ocelot_protocol::Leaf;
        let ts = HOUR_START_MS + 600_000;
        let mut trees = crate::test_support::binary_frames();
        trees.extend(trees_with_data_that_counts());
        let lone = |root: Message| {
            MessageTree::new(header("shop", "10.0.0.3", "shop-0a000003-498703-1"), root)
        };
        trees.push(lone(Message::Event(Leaf::new(
            "Error",
            "java.lang.NullPointerException",
            "ERROR",
            ts,
            "",
        ))));
        trees.push(lone(Message::Metric(Leaf::new("", "orders", "C", ts, "4"))));
        trees.push(lone(Message::Event(Leaf::new(
            "Exception",
            "Timeout",
            "0",
            ts,
            "",
        ))));
        let mut fragment = transaction("Service", "order.create", ts, 70_000_000, "ERROR");
        fragment.children.push(Message::Transaction(transaction(
            "SQL", "insert", ts, 900_000, "0",
        )));
        fragment
            .children
            .push(Message::Event(Leaf::new("RemoteCall", "Next", "0", ts, "")));
        trees.push(tree("shop", "10.0.0.3", "shop-0a000003-498703-2", fragment));
        let mut samples = ocelot_protocol::sample::SampleTrees::new(11, 4, 40, ts);
        trees.extend((0..300).map(|_| samples.tree()));
        trees
    }

    fn assert_one_walk_counts_like_each_analyzer(trees: &[MessageTree], config: AnalyzerConfig) {
        let hour = 498_703;
        let config = Arc::new(config);
        let mut together = HourAnalyzers::new(hour, &config);
        let mut apart = HourAnalyzers::new(hour, &config);
        for tree in trees {
            together.process(tree);
            apart.transaction.process(tree);
            apart.event.process(tree);
            apart.problem.process(tree);
            apart.heartbeat.process(tree);
            apart.metric.process(tree);
            apart.matrix.process(tree);
        }
        assert_eq!(together.transaction.reports(), apart.transaction.reports());
        assert_eq!(together.event.reports(), apart.event.reports());
        assert_eq!(together.problem.reports(), apart.problem.reports());
        assert_eq!(together.heartbeat.reports(), apart.heartbeat.reports());
        assert_eq!(together.metric.reports(), apart.metric.reports());
        assert_eq!(together.matrix.reports(), apart.matrix.reports());
    }

    #[test]
    fn one_walk_counts_what_each_analyzer_counts_on_its_own() {
        let trees = trees_of_every_kind();
        assert_one_walk_counts_like_each_analyzer(&trees, AnalyzerConfig::default());
        // Small caps: which key folds into `OTHERS` depends on the order keys arrive in.
        let tight = AnalyzerConfig {
            max_types_per_machine: 3,
            max_names_per_type: 4,
            max_entries_per_hour: 12,
            ..AnalyzerConfig::default()
        };
        assert_one_walk_counts_like_each_analyzer(&trees, tight);
    }

    proptest::proptest! {
        #[test]
        fn one_walk_counts_like_each_analyzer_on_any_samples(samples in crate::test_support::samples()) {
            let trees = crate::test_support::trees_of(&samples);
            let tight = AnalyzerConfig {
                max_names_per_type: 3,
                ..AnalyzerConfig::default()
            };
            assert_one_walk_counts_like_each_analyzer(&trees, tight);
        }
    }
}
