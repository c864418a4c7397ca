//! Where the boards and the JSON API get their reports: the [`ReportSource`] trait,
//! implemented over the collector by the binary (live reports of open hours, stored ones of
//! sealed hours) and by [`MemoryReports`] for tests, demos, the browser fixture and benches.
//!
//! The trait returns boxed futures rather than using `async fn` so it stays object safe:
//! [`AppState`](crate::AppState) holds an `Arc<dyn ReportSource>`.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, LazyLock};

use ocelot_analyzer::{
    AnalyzerConfig, DomainOverview, EventReport, HeartbeatReport, HourAnalyzers, MatrixReport,
    MetricReport, ProblemReport, StateReport, TransactionReport,
};
use ocelot_protocol::{hour_of, nt1, MessageTree, LENGTH_PREFIX_BYTES};

/// A boxed, sendable future: what [`ReportSource`] methods return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The hourly reports the boards and the JSON API show. `hour` is an hour index
/// (`epoch_ms / 3_600_000`).
pub trait ReportSource: Send + Sync {
    /// Now, epoch ms (the current hour and tps of the current hour derive from it).
    fn now_ms(&self) -> u64;
    /// Hours with a report (stored or open), and the current hour, ascending: the hours
    /// the boards' hour lists and `/api/hours` offer. An hour the store holds messages of
    /// but no report (a tree is filed under its message ID's hour, counted in its
    /// timestamp's) is not one: every board and API would answer 404 for it.
    fn hours(&self) -> BoxFuture<'_, Vec<u64>>;
    /// Domains with a report in `hour`, sorted.
    fn domains(&self, hour: u64) -> BoxFuture<'_, Vec<String>>;
    /// The transaction report of `domain` in `hour`, if any.
    fn transaction(
        &self,
        domain: String,
        hour: u64,
    ) -> BoxFuture<'_, Option<Arc<TransactionReport>>>;
    /// The transaction report of `domain` in `hour` for a view of machine `ip` (`None`:
    /// every machine) and type `type_` (`None`: every type). A source may leave out what
    /// that view does not read (the collector's live reports do: the analyzer thread then
    /// copies less); by default it is the whole report.
    fn transaction_for(
        &self,
        domain: String,
        hour: u64,
        ip: Option<String>,
        type_: Option<String>,
    ) -> BoxFuture<'_, Option<Arc<TransactionReport>>> {
        let _ = (ip, type_);
        self.transaction(domain, hour)
    }
    /// What the home page shows of `domain` in `hour`: its entry transactions, how many
    /// transactions were folded into `OTHERS` and its problem count ([`DomainOverview`]). By default built from the whole reports; the collector's
    /// live reports copy only that much.
    fn overview(&self, domain: String, hour: u64) -> BoxFuture<'_, DomainOverview> {
        Box::pin(async move {
            let transactions = self.transaction(domain.clone(), hour).await;
            let problems = self.problem(domain, hour).await;
            DomainOverview::of(transactions.as_deref(), problems.as_deref())
        })
    }
    /// The event report of `domain` in `hour`, if any.
    fn event(&self, domain: String, hour: u64) -> BoxFuture<'_, Option<Arc<EventReport>>>;
    /// The problem report of `domain` in `hour`, if any.
    fn problem(&self, domain: String, hour: u64) -> BoxFuture<'_, Option<Arc<ProblemReport>>>;
    /// The heartbeat report of `domain` in `hour`, if any.
    fn heartbeat(&self, domain: String, hour: u64) -> BoxFuture<'_, Option<Arc<HeartbeatReport>>>;
    /// The metric report of `domain` in `hour`, if any.
    fn metric(&self, domain: String, hour: u64) -> BoxFuture<'_, Option<Arc<MetricReport>>>;
    /// The Matrix report of `domain` in `hour`, if any. By default none: a source that
    /// keeps no Matrix reports.
    fn matrix(&self, domain: String, hour: u64) -> BoxFuture<'_, Option<Arc<MatrixReport>>> {
        let _ = (domain, hour);
        ready(None)
    }
    /// The collector's own report of `hour`, if any.
    fn state(&self, hour: u64) -> BoxFuture<'_, Option<Arc<StateReport>>>;
    /// Why the stored `kind` report (its name: `transaction`, `event`, `problem`,
    /// `heartbeat`, `metric` or `matrix`) of `domain` in `hour` cannot be read, asked by a page or
    /// the API that got no report: its file is damaged, names another domain or hour, or
    /// is missing while the domain's other reports of the hour are there. `None` when the
    /// domain just has no such report (it logged nothing of the kind), which the pages
    /// call "no data". By default `None`: a source that cannot lose a report.
    fn unreadable(
        &self,
        kind: &'static str,
        domain: String,
        hour: u64,
    ) -> BoxFuture<'_, Option<String>> {
        let _ = (kind, domain, hour);
        ready(None)
    }
    /// The caps and long-execution thresholds the reports are counted under: the boards
    /// name them (how many names a type keeps before the rest fold into `OTHERS`, where a
    /// long execution starts). By default CAT's, [`AnalyzerConfig::default`].
    fn analyzer_config(&self) -> &AnalyzerConfig {
        &DEFAULT_ANALYZER_CONFIG
    }
}

/// What [`ReportSource::analyzer_config`] answers for a source that does not say.
static DEFAULT_ANALYZER_CONFIG: LazyLock<AnalyzerConfig> = LazyLock::new(AnalyzerConfig::default);

/// The analyzers and the State report of one hour.
#[derive(Debug, Clone)]
struct Hour {
    analyzers: HourAnalyzers,
    state: Option<StateReport>,
}

impl Hour {
    fn new(hour: u64, config: &Arc<AnalyzerConfig>) -> Self {
        Hour {
            analyzers: HourAnalyzers::new(hour, config),
            state: None,
        }
    }
}

/// Reports held in memory, built by feeding analyzers with trees: each tree goes to the
/// analyzers of the hour of its root timestamp, and is counted in that hour's
/// [`StateReport`] with its NT1 size.
///
/// ```
/// use ocelot_protocol::sample::SampleTrees;
/// use ocelot_web::{MemoryReports, ReportSource};
///
/// let now_ms = 1_795_331_315_581;
/// let mut samples = SampleTrees::new(1, 2, 10, now_ms - 60_000);
/// let mut reports = MemoryReports::new(now_ms);
/// for _ in 0..100 {
///     reports.add_tree(&samples.tree());
/// }
/// assert_eq!(reports.now_ms(), now_ms);
/// ```
#[derive(Debug, Clone)]
pub struct MemoryReports {
    now_ms: u64,
    config: Arc<AnalyzerConfig>,
    hours: BTreeMap<u64, Hour>,
    /// Reports that cannot be read, by hour, domain and kind: why.
    unreadable: BTreeMap<(u64, String, &'static str), String>,
}

impl Default for MemoryReports {
    /// No reports, and the system clock's now.
    fn default() -> Self {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        MemoryReports::new(now_ms)
    }
}

impl MemoryReports {
    /// No reports yet; `now_ms` is what [`ReportSource::now_ms`] answers.
    pub fn new(now_ms: u64) -> Self {
        MemoryReports::with_config(now_ms, AnalyzerConfig::default())
    }

    /// Like [`MemoryReports::new`] with analyzer settings (caps, long thresholds).
    pub fn with_config(now_ms: u64, config: AnalyzerConfig) -> Self {
        MemoryReports {
            now_ms,
            config: Arc::new(config),
            hours: BTreeMap::new(),
            unreadable: BTreeMap::new(),
        }
    }

    /// Moves the clock.
    pub fn set_now_ms(&mut self, now_ms: u64) {
        self.now_ms = now_ms;
    }

    /// Feeds `tree` to every analyzer of its root's hour and counts it in that hour's
    /// state report.
    pub fn add_tree(&mut self, tree: &MessageTree) {
        let timestamp_ms = tree.root.timestamp_ms();
        let hour = hour_of(timestamp_ms);
        let config = &self.config;
        let reports = self
            .hours
            .entry(hour)
            .or_insert_with(|| Hour::new(hour, config));
        reports.analyzers.process(tree);
        let mut frame = Vec::new();
        nt1::encode(tree, &mut frame);
        let bytes = (frame.len() + LENGTH_PREFIX_BYTES) as u64;
        reports
            .state
            .get_or_insert_with(|| StateReport::new(hour))
            .record_trees(timestamp_ms, &tree.header.domain, 1, bytes);
    }

    /// Feeds every tree of `trees` (see [`MemoryReports::add_tree`]).
    pub fn add_trees<'a>(&mut self, trees: impl IntoIterator<Item = &'a MessageTree>) {
        for tree in trees {
            self.add_tree(tree);
        }
    }

    /// The state report of `hour`, created empty when missing, to record drops, decode
    /// errors and the like.
    pub fn state_mut(&mut self, hour: u64) -> &mut StateReport {
        let config = &self.config;
        self.hours
            .entry(hour)
            .or_insert_with(|| Hour::new(hour, config))
            .state
            .get_or_insert_with(|| StateReport::new(hour))
    }

    /// Makes the `kind` report of `domain` in `hour` one that cannot be read (`why`), as a
    /// damaged stored report is: the report methods answer `None` for it and
    /// [`ReportSource::unreadable`] answers `why`. The domain is listed in the hour.
    pub fn set_unreadable(&mut self, hour: u64, domain: &str, kind: &'static str, why: &str) {
        let config = &self.config;
        self.hours
            .entry(hour)
            .or_insert_with(|| Hour::new(hour, config));
        let key = (hour, domain.to_owned(), kind);
        self.unreadable.insert(key, why.to_owned());
    }

    fn hour(&self, hour: u64) -> Option<&Hour> {
        self.hours.get(&hour)
    }

    /// The `kind` report of `domain` in `hour` unless it is set unreadable.
    fn readable<R: Clone>(
        &self,
        kind: &'static str,
        domain: &str,
        hour: u64,
        reports: impl FnOnce(&HourAnalyzers) -> &ocelot_analyzer::DomainReports<R>,
    ) -> Option<Arc<R>> {
        if (self.unreadable).contains_key(&(hour, domain.to_owned(), kind)) {
            return None;
        }
        let analyzers = &self.hour(hour)?.analyzers;
        reports(analyzers).get(domain).cloned().map(Arc::new)
    }
}

/// A ready future of `value`.
fn ready<'a, T: Send + 'a>(value: T) -> BoxFuture<'a, T> {
    Box::pin(std::future::ready(value))
}

impl ReportSource for MemoryReports {
    fn now_ms(&self) -> u64 {
        self.now_ms
    }

    fn hours(&self) -> BoxFuture<'_, Vec<u64>> {
        ready(self.hours.keys().copied().collect())
    }

    fn domains(&self, hour: u64) -> BoxFuture<'_, Vec<String>> {
        let mut domains = (self.hour(hour))
            .map(|h| h.analyzers.domains())
            .unwrap_or_default();
        let lost = (self.unreadable.keys()).filter(|(h, _, _)| *h == hour);
        domains.extend(lost.map(|(_, domain, _)| domain.clone()));
        domains.sort();
        domains.dedup();
        ready(domains)
    }

    fn transaction(
        &self,
        domain: String,
        hour: u64,
    ) -> BoxFuture<'_, Option<Arc<TransactionReport>>> {
        ready(self.readable("transaction", &domain, hour, |a| a.transaction.reports()))
    }

    fn event(&self, domain: String, hour: u64) -> BoxFuture<'_, Option<Arc<EventReport>>> {
        ready(self.readable("event", &domain, hour, |a| a.event.reports()))
    }

    fn problem(&self, domain: String, hour: u64) -> BoxFuture<'_, Option<Arc<ProblemReport>>> {
        ready(self.readable("problem", &domain, hour, |a| a.problem.reports()))
    }

    fn heartbeat(&self, domain: String, hour: u64) -> BoxFuture<'_, Option<Arc<HeartbeatReport>>> {
        ready(self.readable("heartbeat", &domain, hour, |a| a.heartbeat.reports()))
    }

    fn metric(&self, domain: String, hour: u64) -> BoxFuture<'_, Option<Arc<MetricReport>>> {
        ready(self.readable("metric", &domain, hour, |a| a.metric.reports()))
    }

    fn matrix(&self, domain: String, hour: u64) -> BoxFuture<'_, Option<Arc<MatrixReport>>> {
        ready(self.readable("matrix", &domain, hour, |a| a.matrix.reports()))
    }

    fn state(&self, hour: u64) -> BoxFuture<'_, Option<Arc<StateReport>>> {
        ready(self.hour(hour).and_then(|h| h.state.clone().map(Arc::new)))
    }

    fn unreadable(
        &self,
        kind: &'static str,
        domain: String,
        hour: u64,
    ) -> BoxFuture<'_, Option<String>> {
        ready(self.unreadable.get(&(hour, domain, kind)).cloned())
    }

    fn analyzer_config(&self) -> &AnalyzerConfig {
        &self.config
    }
}

/// What a page or the API says of a stored report that cannot be read (`why`, from
/// [`ReportSource::unreadable`]), in place of "no data".
pub(crate) fn unreadable_message(kind: &str, domain: &str, period: &str, why: &str) -> String {
    format!(
        "The stored {kind} report of {domain} for {period} cannot be read (damaged or \
         missing; see the server's log): {why}."
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use ocelot_protocol::{Header, Leaf, Message, Transaction};

    const HOUR: u64 = 498_703;
    const HOUR_START_MS: u64 = HOUR * 3_600_000;

    fn tree(domain: &str, timestamp_ms: u64) -> MessageTree {
        let mut root = Transaction::new("URL", "/a", timestamp_ms);
        root.children
            .push(Message::Event(Leaf::new("E", "e", "0", timestamp_ms, "")));
        MessageTree::new(
            Header {
                domain: domain.to_owned(),
                ip_address: "10.0.0.1".to_owned(),
                message_id: format!("{domain}-0a000001-{}-1", hour_of(timestamp_ms)),
                ..Header::default()
            },
            Message::Transaction(root),
        )
    }

    fn block_on<T>(future: BoxFuture<'_, T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(future)
    }

    #[test]
    fn trees_go_to_the_reports_of_their_root_hour() {
        let mut reports = MemoryReports::new(HOUR_START_MS + 5);
        reports.add_trees(&[
            tree("shop", HOUR_START_MS + 10),
            tree("api", HOUR_START_MS + 20),
            tree("shop", HOUR_START_MS - 10),
        ]);
        assert_eq!(block_on(reports.hours()), vec![HOUR - 1, HOUR]);
        assert_eq!(block_on(reports.domains(HOUR)), vec!["api", "shop"]);
        assert_eq!(block_on(reports.domains(HOUR - 1)), vec!["shop"]);
        assert!(block_on(reports.domains(HOUR + 1)).is_empty());
        let shop = block_on(reports.transaction("shop".to_owned(), HOUR)).unwrap();
        assert_eq!(shop.hour(), HOUR);
        assert!(block_on(reports.event("shop".to_owned(), HOUR)).is_some());
        assert!(block_on(reports.transaction("nosuch".to_owned(), HOUR)).is_none());
        assert!(block_on(reports.heartbeat("shop".to_owned(), HOUR)).is_none());
    }

    #[test]
    fn every_tree_is_counted_in_the_state_report_of_its_hour() {
        let mut reports = MemoryReports::new(HOUR_START_MS);
        reports.add_tree(&tree("shop", HOUR_START_MS + 61_000));
        reports.add_tree(&tree("shop", HOUR_START_MS + 62_000));
        reports
            .state_mut(HOUR)
            .record_drops(HOUR_START_MS + 1, "problem", "queue_full", 3);
        let view = block_on(reports.state(HOUR))
            .unwrap()
            .view(&Default::default());
        assert_eq!(view.trees, 2);
        assert!(view.bytes > 2 * 4, "frame sizes include the length prefix");
        assert_eq!(view.drops, 3);
        assert!(block_on(reports.state(HOUR + 1)).is_none());
    }
}
