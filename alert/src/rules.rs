//! The rule file: [`AlertConfig`] as written in TOML, validated into a [`RuleSet`].
//!
//! Design constraint: every mistake is caught at load with a message naming the rule and
//! what would be accepted. CAT's most common alerting complaint is a rule that silently
//! never fires (a misspelt type, a measure the report does not have), so unknown keys are
//! errors too (`deny_unknown_fields`), not ignored. The format is documented, with an
//! example, in docs/alerting.md.

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::baseline::BaselineConfig;
use crate::email::EmailConfig;
use crate::error::AlertError;
use crate::notify::WebhookConfig;

/// Where alerts link to when `board_url` is not set: the web UI's default address.
pub const DEFAULT_BOARD_URL: &str = "http://127.0.0.1:8080";

/// A minute is evaluated this long after it ended, so trees that started in it but arrived
/// late (long transactions, client send intervals) are counted. CAT's clients flush within a
/// second or two; 10 s leaves room without delaying alerts noticeably.
pub const DEFAULT_SETTLE_SECONDS: u64 = 10;

/// The longest `settle_seconds`: a minute evaluated later than an hour after it ended is
/// no alert any more.
pub const MAX_SETTLE_SECONDS: u64 = 3_600;

/// Re-fires of a rule within this many minutes of its last notification are recorded but
/// not sent (CAT's `suspendMinute` is typically 30 too).
pub const DEFAULT_SUPPRESS_MINUTES: u32 = 30;

/// The report a rule reads. The names are the store's report names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReportKind {
    /// `TransactionReport`.
    Transaction,
    /// `EventReport`.
    Event,
    /// `ProblemReport`.
    Problem,
    /// `MetricReport`.
    Metric,
    /// `HeartbeatReport`: per machine, not added up across machines.
    Heartbeat,
}

impl ReportKind {
    /// Every kind, in the order shown in messages.
    pub const ALL: [ReportKind; 5] = [
        ReportKind::Transaction,
        ReportKind::Event,
        ReportKind::Problem,
        ReportKind::Metric,
        ReportKind::Heartbeat,
    ];

    /// The name in rule files and in the store (`transaction`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            ReportKind::Transaction => "transaction",
            ReportKind::Event => "event",
            ReportKind::Problem => "problem",
            ReportKind::Metric => "metric",
            ReportKind::Heartbeat => "heartbeat",
        }
    }

    /// The measures this report has per minute.
    pub fn measures(self) -> &'static [Measure] {
        match self {
            ReportKind::Transaction => &[
                Measure::Count,
                Measure::Fail,
                Measure::FailPercent,
                Measure::Avg,
                Measure::P95,
            ],
            ReportKind::Event => &[Measure::Count, Measure::Fail, Measure::FailPercent],
            ReportKind::Problem => &[Measure::Count],
            ReportKind::Metric => &[Measure::Value, Measure::Count, Measure::Sum, Measure::Avg],
            ReportKind::Heartbeat => &[Measure::Value, Measure::Heartbeats],
        }
    }

    fn parse(text: &str) -> Option<ReportKind> {
        ReportKind::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

impl fmt::Display for ReportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What number of a minute a rule looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Measure {
    /// Messages (transaction, event), occurrences (problem) or records (metric).
    Count,
    /// Failed messages (status not `"0"`).
    Fail,
    /// `100 * fail / count`; no value in a minute without messages.
    FailPercent,
    /// Mean duration in ms (transaction), or `sum / count` (metric).
    Avg,
    /// 95th percentile duration in ms; needs a `name` (per-minute histograms are per name).
    P95,
    /// A metric's sum.
    Sum,
    /// A metric's value as CAT plots it: the count of `C` metrics, the mean of `T`
    /// (durations), the sum of `S` and `S,C`. A heartbeat figure's value, as sent.
    Value,
    /// Whether a machine sent a heartbeat in the minute: 1, else 0 (CAT's clients send
    /// one a minute).
    Heartbeats,
}

impl Measure {
    /// The name in rule files.
    pub fn as_str(self) -> &'static str {
        match self {
            Measure::Count => "count",
            Measure::Fail => "fail",
            Measure::FailPercent => "failPercent",
            Measure::Avg => "avg",
            Measure::P95 => "p95",
            Measure::Sum => "sum",
            Measure::Value => "value",
            Measure::Heartbeats => "heartbeats",
        }
    }
}

impl fmt::Display for Measure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a rule watches: one series per rule. Without `type`, every type of the report is
/// added up; without `name`, every name of the type. Heartbeats do not add up across
/// machines: a heartbeat rule without `ip` watches each machine as a series of its own,
/// whose scope names the machine.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Scope {
    /// The domain (application).
    pub domain: String,
    /// The report.
    pub report: ReportKind,
    /// Transaction or event type; problem type (the transaction or event type that failed).
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    /// Transaction, event or problem name as the report shows it (after the analyzer's
    /// normalization, e.g. `/order/{num}`); the metric key for metric rules; the
    /// heartbeat figure's key for heartbeat rules (`memory.heap-usage`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The machine (client IP) of a heartbeat rule's series.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.domain, self.report)?;
        if let Some(ip) = &self.ip {
            write!(f, " {ip}")?;
        }
        if let Some(type_) = &self.type_ {
            write!(f, " {type_}")?;
        }
        if let Some(name) = &self.name {
            write!(f, " {name}")?;
        }
        Ok(())
    }
}

/// Which side of the baseline is bad.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Above the baseline (a spike).
    Above,
    /// Below the baseline (a drop).
    Below,
    /// Either side.
    Both,
}

/// When a minute is bad.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(
    rename_all = "camelCase",
    rename_all_fields = "camelCase",
    tag = "kind"
)]
pub enum Condition {
    /// A static threshold: bad when `value > above` or `value < below`.
    Threshold {
        /// Upper limit, exclusive.
        above: Option<f64>,
        /// Lower limit, exclusive.
        below: Option<f64>,
    },
    /// Deviation from the baseline of that minute of the day: bad when the value is off by
    /// more than both margins (CAT's `AscPer` + `AscVal`, `DescPer` + `DescVal`).
    Baseline {
        /// Which side.
        direction: Direction,
        /// Relative margin: `|value - baseline| > baseline * margin_percent / 100`.
        margin_percent: f64,
        /// Absolute margin: `|value - baseline| > margin_absolute`; keeps a baseline of 2
        /// from firing on 5.
        margin_absolute: f64,
    },
}

impl Condition {
    /// Whether `value` is bad given the minute's `baseline`. No value (a minute without
    /// messages for ratio measures, or no report) and, for baseline rules, no baseline
    /// (no history) are never bad.
    pub fn is_breached(&self, value: Option<f64>, baseline: Option<f64>) -> bool {
        let Some(value) = value else {
            return false;
        };
        match *self {
            Condition::Threshold { above, below } => {
                above.is_some_and(|limit| value > limit) || below.is_some_and(|limit| value < limit)
            }
            Condition::Baseline {
                direction,
                margin_percent,
                margin_absolute,
            } => {
                let Some(baseline) = baseline else {
                    return false;
                };
                let off = |high: f64, low: f64| {
                    off_by_more(high, low, baseline, margin_percent, margin_absolute)
                };
                let (up, down) = (off(value, baseline), off(baseline, value));
                match direction {
                    Direction::Above => up,
                    Direction::Below => down,
                    Direction::Both => up || down,
                }
            }
        }
    }

    /// Whether the condition needs a baseline.
    pub fn uses_baseline(&self) -> bool {
        matches!(self, Condition::Baseline { .. })
    }
}

/// Whether `high - low` is above both `|baseline| * margin_percent / 100` and
/// `margin_absolute`. Near +-`f64::MAX` (a metric's sums saturate there) the difference or
/// the relative margin overflows to infinity, and a baseline of `f64::MAX` is never off by
/// "more than inf": then the comparison is made at half scale, where finite figures do not
/// overflow. Everyday figures take the plain way, so their edge cases stay as they were.
fn off_by_more(
    high: f64,
    low: f64,
    baseline: f64,
    margin_percent: f64,
    margin_absolute: f64,
) -> bool {
    let difference = high - low;
    let relative = baseline.abs() * margin_percent / 100.0;
    if difference.is_finite() && relative.is_finite() {
        return difference > relative && difference > margin_absolute;
    }
    let difference = high / 2.0 - low / 2.0;
    let relative = baseline.abs() / 200.0 * margin_percent;
    difference > relative && difference > margin_absolute / 2.0
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Condition::Threshold { above, below } => match (above, below) {
                (Some(a), Some(b)) => write!(f, "above {a} or below {b}"),
                (Some(a), None) => write!(f, "above {a}"),
                (None, Some(b)) => write!(f, "below {b}"),
                (None, None) => f.write_str("never"),
            },
            Condition::Baseline {
                direction,
                margin_percent,
                margin_absolute,
            } => {
                let side = match direction {
                    Direction::Above => "above",
                    Direction::Below => "below",
                    Direction::Both => "off",
                };
                // A margin left at 0 is no margin: not said (`and 0` read as a second
                // condition).
                match (margin_percent > 0.0, margin_absolute > 0.0) {
                    (true, true) => write!(
                        f,
                        "{side} baseline by more than {margin_percent}% and {margin_absolute}"
                    ),
                    (true, false) => {
                        write!(f, "{side} baseline by more than {margin_percent}%")
                    }
                    (false, true) => write!(f, "{side} baseline by more than {margin_absolute}"),
                    (false, false) => write!(f, "{side} baseline"),
                }
            }
        }
    }
}

/// One validated rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    /// Unique name, used in notifications and logs.
    pub id: String,
    /// What is watched.
    pub scope: Scope,
    /// Which number.
    pub measure: Measure,
    /// When a minute is bad.
    pub condition: Condition,
    /// Consecutive bad minutes before the alert fires (1: the first bad minute).
    pub for_minutes: u32,
    /// Consecutive good minutes before a firing alert resolves.
    pub resolve_minutes: u32,
    /// A new incident firing within this many minutes of the last notified one is
    /// recorded but not notified, nor is its resolution.
    pub suppress_minutes: u32,
    /// Names of `[[webhook]]` and `[[email]]` targets.
    pub notify: Vec<String>,
}

impl Rule {
    /// Whether the rule watches each machine of its domain as a series of its own, with a
    /// state of its own: a heartbeat rule without `ip` (heartbeats do not add up across
    /// machines).
    pub fn per_machine(&self) -> bool {
        self.scope.report == ReportKind::Heartbeat && self.scope.ip.is_none()
    }
}

/// The rule file as written (see docs/alerting.md). Embeddable as a section of a larger
/// config file; [`RuleSet::from_config`] validates it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertConfig {
    /// Base URL of the web UI, for links in notifications (default [`DEFAULT_BOARD_URL`]).
    pub board_url: Option<String>,
    /// Seconds after a minute ends before it is evaluated (default
    /// [`DEFAULT_SETTLE_SECONDS`]).
    pub settle_seconds: Option<u64>,
    /// How baselines are built.
    #[serde(default)]
    pub baseline: BaselineConfig,
    /// Notification targets, `[[webhook]]` tables.
    #[serde(default, rename = "webhook")]
    pub webhooks: Vec<WebhookConfig>,
    /// Mail targets, `[[email]]` tables (sent with the `smtp` feature only).
    #[serde(default, rename = "email")]
    pub emails: Vec<EmailConfig>,
    /// The rules, `[[rule]]` tables.
    #[serde(default, rename = "rule")]
    pub rules: Vec<RuleConfig>,
}

/// One `[[rule]]` table as written; strings are checked by [`RuleSet::from_config`].
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// Unique rule name.
    pub id: Option<String>,
    /// The domain.
    pub domain: Option<String>,
    /// `transaction`, `event`, `problem` or `metric`.
    pub report: Option<String>,
    /// Optional type.
    #[serde(rename = "type")]
    pub type_: Option<String>,
    /// Optional name (the metric key for metric rules, the figure's key for heartbeat
    /// rules).
    pub name: Option<String>,
    /// Heartbeat rules: the one machine (client IP) to watch; without it, each machine.
    pub ip: Option<String>,
    /// `count`, `fail`, `failPercent`, `avg`, `p95`, `sum`, `value`, `heartbeats`.
    pub measure: Option<String>,
    /// Static threshold: bad above this.
    pub above: Option<f64>,
    /// Static threshold: bad below this.
    pub below: Option<f64>,
    /// Baseline rule: `above`, `below` or `both`.
    pub baseline: Option<String>,
    /// Baseline rule: relative margin in percent (default 0).
    pub margin_percent: Option<f64>,
    /// Baseline rule: absolute margin (default 0).
    pub margin_absolute: Option<f64>,
    /// Consecutive bad minutes to fire (default 1).
    pub for_minutes: Option<u32>,
    /// Consecutive good minutes to resolve (default 1).
    pub resolve_minutes: Option<u32>,
    /// Suppression window in minutes (default [`DEFAULT_SUPPRESS_MINUTES`]).
    pub suppress_minutes: Option<u32>,
    /// Target names to notify (default: none, the alert is only recorded).
    #[serde(default)]
    pub notify: Vec<String>,
}

/// The most a rule file may hold: thousands of rules fit in far less.
const MAX_RULE_FILE_BYTES: u64 = 4 << 20;

/// Reads a rule file as UTF-8 text, refusing one over [`MAX_RULE_FILE_BYTES`]: a mistyped
/// `--rules /dev/zero` grew until memory ran out, and `/dev/urandom` was read for ever.
fn read_rule_file(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_RULE_FILE_BYTES + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_RULE_FILE_BYTES {
        return Err(std::io::Error::other(format!(
            "larger than {} MiB: not a rule file",
            MAX_RULE_FILE_BYTES >> 20
        )));
    }
    String::from_utf8(bytes).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// Validated rules plus the settings they are evaluated with.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleSet {
    pub(crate) rules: Vec<Rule>,
    pub(crate) baseline: BaselineConfig,
    pub(crate) webhooks: Vec<WebhookConfig>,
    pub(crate) emails: Vec<EmailConfig>,
    pub(crate) board_url: String,
    /// Whether the file set `board_url` (else it is [`DEFAULT_BOARD_URL`] until the server
    /// says where it listens: [`RuleSet::default_board_url`]).
    pub(crate) board_url_set: bool,
    pub(crate) settle_ms: u64,
}

impl RuleSet {
    /// Parses and validates a rule file's text. With `known_domains`, a rule naming any
    /// other domain is rejected (pass the store's and collector's domains).
    pub fn from_toml_str(
        text: &str,
        known_domains: Option<&[String]>,
    ) -> Result<RuleSet, AlertError> {
        let config: AlertConfig = toml::from_str(text).map_err(|e| AlertError::Toml {
            path: None,
            message: e.to_string(),
        })?;
        RuleSet::from_config(config, known_domains)
    }

    /// Reads, parses and validates a rule file.
    pub fn load(path: &Path, known_domains: Option<&[String]>) -> Result<RuleSet, AlertError> {
        let text = read_rule_file(path).map_err(|source| AlertError::Read {
            path: path.to_owned(),
            source,
        })?;
        RuleSet::from_toml_str(&text, known_domains).map_err(|e| match e {
            AlertError::Toml { message, .. } => AlertError::Toml {
                path: Some(path.to_owned()),
                message,
            },
            other => other,
        })
    }

    /// Validates an already parsed config.
    pub fn from_config(
        config: AlertConfig,
        known_domains: Option<&[String]>,
    ) -> Result<RuleSet, AlertError> {
        config.baseline.validate()?;
        let settle_seconds = config.settle_seconds.unwrap_or(DEFAULT_SETTLE_SECONDS);
        if settle_seconds > MAX_SETTLE_SECONDS {
            return Err(AlertError::config(
                "settle_seconds",
                format!(
                    "at most {MAX_SETTLE_SECONDS} (a minute is evaluated this long after it ends)"
                ),
            ));
        }
        if config
            .board_url
            .as_deref()
            .is_some_and(|url| url.trim().is_empty())
        {
            return Err(AlertError::config(
                "board_url",
                "is empty: leave it out to link to where the web UI listens",
            ));
        }
        // Links are the board URL with a path after it: without a scheme they are not
        // links in a chat message or a mail, and nothing else would say so.
        if let Some(url) = config.board_url.as_deref().filter(|url| {
            let url = url.trim().to_ascii_lowercase();
            !(url.starts_with("http://") || url.starts_with("https://"))
        }) {
            return Err(AlertError::config(
                "board_url",
                format!("{url:?} is not an http:// or https:// URL (e.g. \"http://{url}\")"),
            ));
        }
        let mut webhook_names = Vec::new();
        for webhook in &config.webhooks {
            webhook.validate()?;
            if webhook_names.contains(&webhook.name) {
                return Err(AlertError::config(
                    format!("webhook \"{}\"", webhook.name),
                    "two targets have this name",
                ));
            }
            webhook_names.push(webhook.name.clone());
        }
        for email in &config.emails {
            email.validate()?;
            if webhook_names.contains(&email.name) {
                return Err(AlertError::config(
                    format!("email \"{}\"", email.name),
                    "two targets have this name",
                ));
            }
            webhook_names.push(email.name.clone());
        }
        let mut rules: Vec<Rule> = Vec::with_capacity(config.rules.len());
        for (position, raw) in config.rules.into_iter().enumerate() {
            let rule = validate_rule(raw, position, known_domains, &webhook_names)?;
            if rules.iter().any(|r| r.id == rule.id) {
                return Err(AlertError::rule(&rule.id, "two rules have this id"));
            }
            rules.push(rule);
        }
        let board_url_set = config.board_url.is_some();
        let board_url = config
            .board_url
            .unwrap_or_else(|| DEFAULT_BOARD_URL.to_owned())
            .trim_end_matches('/')
            .to_owned();
        Ok(RuleSet {
            rules,
            baseline: config.baseline,
            webhooks: config.webhooks,
            emails: config.emails,
            board_url,
            board_url_set,
            settle_ms: settle_seconds * 1000,
        })
    }

    /// The rules, in file order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The baseline settings.
    pub fn baseline(&self) -> &BaselineConfig {
        &self.baseline
    }

    /// The notification targets.
    pub fn webhooks(&self) -> &[WebhookConfig] {
        &self.webhooks
    }

    /// The mail targets.
    pub fn emails(&self) -> &[EmailConfig] {
        &self.emails
    }

    /// The web UI's base URL used in links.
    pub fn board_url(&self) -> &str {
        &self.board_url
    }

    /// Links to `url` (where the server's web UI listens) unless the file set `board_url`.
    pub fn default_board_url(mut self, url: &str) -> RuleSet {
        if !self.board_url_set {
            url.trim_end_matches('/').clone_into(&mut self.board_url);
        }
        self
    }

    /// Milliseconds after a minute's end before it is evaluated.
    pub fn settle_ms(&self) -> u64 {
        self.settle_ms
    }

    /// Days of stored reports the baselines read: the largest `days_back` plus the day
    /// itself, or 0 without baseline rules. A store whose `retention_days` is not 0 and
    /// below this deletes the history baselines need; warn or raise it at start.
    pub fn history_days_needed(&self) -> u32 {
        if self.rules.iter().any(|r| r.condition.uses_baseline()) {
            self.baseline
                .days_back
                .iter()
                .max()
                .map_or(0, |d| d.saturating_add(1))
        } else {
            0
        }
    }

    /// The rules whose domain is not in `known` (to warn about at start, when the store
    /// may not have seen every domain yet; [`RuleSet::load`] with `known_domains` rejects
    /// them instead).
    pub fn rules_with_unknown_domains(&self, known: &[String]) -> Vec<&Rule> {
        self.rules
            .iter()
            .filter(|r| !known.contains(&r.scope.domain))
            .collect()
    }

    /// The domains the rules watch, sorted, without duplicates.
    pub fn domains(&self) -> Vec<String> {
        let mut domains: Vec<String> = self.rules.iter().map(|r| r.scope.domain.clone()).collect();
        domains.sort();
        domains.dedup();
        domains
    }
}

fn validate_rule(
    raw: RuleConfig,
    position: usize,
    known_domains: Option<&[String]>,
    webhook_names: &[String],
) -> Result<Rule, AlertError> {
    let id = raw
        .id
        .filter(|id| !id.trim().is_empty())
        .ok_or_else(|| AlertError::rule(&format!("#{}", position + 1), "missing `id`"))?;
    let fail = |message: String| AlertError::rule(&id, message);
    let domain = raw
        .domain
        .ok_or_else(|| fail("missing `domain`".to_owned()))?;
    // The collector refuses trees of a domain the store cannot name a report after, so
    // such a rule would read an empty report forever (and its `below` conditions fire).
    match ocelot_store::validate_name("domain", &domain) {
        Ok(()) => {}
        Err(ocelot_store::StoreError::InvalidName { reason, .. }) => {
            return Err(fail(format!(
                "`domain` {reason}: no report can have such a domain"
            )))
        }
        Err(other) => return Err(fail(format!("`domain`: {other}"))),
    }
    if let Some(known) = known_domains {
        if !known.contains(&domain) {
            let mut list = known.to_vec();
            list.sort();
            return Err(fail(format!(
                "unknown domain \"{domain}\" (known domains: {})",
                if list.is_empty() {
                    "none yet".to_owned()
                } else {
                    list.join(", ")
                }
            )));
        }
    }
    let report_text = raw.report.ok_or_else(|| {
        fail("missing `report` (one of transaction, event, problem, metric, heartbeat)".to_owned())
    })?;
    let report = ReportKind::parse(&report_text).ok_or_else(|| {
        fail(format!(
            "unknown report \"{report_text}\" (expected one of transaction, event, problem, metric, heartbeat)"
        ))
    })?;
    let measure_text = raw
        .measure
        .ok_or_else(|| fail("missing `measure`".to_owned()))?;
    let allowed = report.measures();
    let names = allowed
        .iter()
        .map(|m| m.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let measure = allowed
        .iter()
        .copied()
        .find(|m| m.as_str() == measure_text)
        .ok_or_else(|| {
            let why = if measure_text == "p99" && report == ReportKind::Transaction {
                " (p99 is kept per hour only; per minute the report has a histogram for p95)"
            } else {
                ""
            };
            fail(format!(
                "unknown measure \"{measure_text}\" for the {report} report{why} (expected one of {names})"
            ))
        })?;
    // An empty `type` or `name` is not "any": it selects the entries named "", of which
    // there are none, so counts read 0 and `below` rules fire.
    if raw.type_.as_deref().is_some_and(is_blank) {
        return Err(fail(
            "`type` is empty: it would match no type; leave it out to add up every type".to_owned(),
        ));
    }
    if raw.name.as_deref().is_some_and(is_blank) {
        return Err(fail(if report == ReportKind::Metric {
            "`name` is empty: metric rules need the metric key".to_owned()
        } else if report == ReportKind::Heartbeat {
            "`name` is empty: heartbeat rules name the figure's key as the heartbeat board shows it"
                .to_owned()
        } else {
            "`name` is empty: it would match no name; leave it out to add up every name".to_owned()
        }));
    }
    if measure == Measure::P95 && (raw.type_.is_none() || raw.name.is_none()) {
        fail_if(
            true,
            &fail,
            "measure p95 needs a `type` and a `name`: per-minute percentiles exist per type and name and cannot be added up",
        )?;
    }
    if report == ReportKind::Metric {
        fail_if(
            raw.type_.is_some(),
            &fail,
            "metric rules take no `type`; the metric key is `name`",
        )?;
        fail_if(
            raw.name.is_none(),
            &fail,
            "metric rules need `name`, the metric key",
        )?;
    }
    if report == ReportKind::Heartbeat {
        check_heartbeat_scope(
            measure,
            raw.type_.is_some(),
            raw.name.is_some(),
            raw.ip.as_deref(),
        )
        .map_err(&fail)?;
    } else {
        fail_if(
            raw.ip.is_some(),
            &fail,
            "`ip` picks the machine of heartbeat rules only (the other reports add up every machine)",
        )?;
    }
    let condition = match (raw.above, raw.below, raw.baseline) {
        (None, None, None) => {
            return Err(fail(
                "no condition: set `above` and/or `below`, or `baseline = \"above\"|\"below\"|\"both\"`"
                    .to_owned(),
            ))
        }
        (above, below, None) => {
            fail_if(
                raw.margin_percent.is_some() || raw.margin_absolute.is_some(),
                &fail,
                "`margin_percent` and `margin_absolute` apply to baseline rules only",
            )?;
            for limit in above.iter().chain(below.iter()) {
                fail_if(!limit.is_finite(), &fail, "thresholds must be finite numbers")?;
            }
            if let (Some(a), Some(b)) = (above, below) {
                // `value > a || value < b` with `a <= b` holds for every value (but `a` when
                // they are equal): a band needs room between its limits.
                fail_if(
                    a <= b,
                    &fail,
                    "`above` must be greater than `below`: otherwise every value (but at most one) is bad",
                )?;
            }
            check_reachable(report, measure, above, below).map_err(&fail)?;
            Condition::Threshold { above, below }
        }
        (None, None, Some(direction)) => {
            if report == ReportKind::Heartbeat {
                check_heartbeat_baseline(measure, raw.ip.is_some()).map_err(&fail)?;
            }
            let direction = match direction.as_str() {
                "above" => Direction::Above,
                "below" => Direction::Below,
                "both" => Direction::Both,
                other => {
                    return Err(fail(format!(
                        "unknown baseline direction \"{other}\" (expected above, below or both)"
                    )))
                }
            };
            let margin_percent = raw.margin_percent.unwrap_or(0.0);
            let margin_absolute = raw.margin_absolute.unwrap_or(0.0);
            fail_if(
                !(valid_margin(margin_percent) && valid_margin(margin_absolute)),
                &fail,
                "margins must be finite and not negative",
            )?;
            // `baseline - value > baseline * margin_percent / 100` needs a negative value
            // once the margin is 100% or more: a drop to 0 is a drop of 100%, not more.
            if direction == Direction::Below
                && margin_percent >= 100.0
                && never_negative(report, measure)
            {
                return Err(fail(format!(
                    "`baseline = \"below\"` with `margin_percent = {margin_percent}` can never fire: \
                     {measure} is never negative, and a drop to 0 is 100% below the baseline, not more"
                )));
            }
            Condition::Baseline {
                direction,
                margin_percent,
                margin_absolute,
            }
        }
        _ => {
            return Err(fail(
                "a rule is either a threshold (`above`/`below`) or a baseline rule, not both"
                    .to_owned(),
            ))
        }
    };
    let for_minutes = raw.for_minutes.unwrap_or(1);
    let resolve_minutes = raw.resolve_minutes.unwrap_or(1);
    fail_if(
        for_minutes == 0 || resolve_minutes == 0,
        &fail,
        "`for_minutes` and `resolve_minutes` must be at least 1",
    )?;
    fail_if(
        for_minutes > 60 || resolve_minutes > 60,
        &fail,
        "`for_minutes` and `resolve_minutes` are at most 60",
    )?;
    for (i, target) in raw.notify.iter().enumerate() {
        if raw.notify[..i].contains(target) {
            return Err(fail(format!(
                "notifies \"{target}\" twice (each event would be sent twice)"
            )));
        }
        if !webhook_names.contains(target) {
            return Err(fail(format!(
                "notifies unknown target \"{target}\" (declared: {})",
                if webhook_names.is_empty() {
                    "none".to_owned()
                } else {
                    webhook_names.join(", ")
                }
            )));
        }
    }
    Ok(Rule {
        scope: Scope {
            domain,
            report,
            type_: raw.type_,
            name: raw.name,
            ip: raw.ip,
        },
        measure,
        condition,
        for_minutes,
        resolve_minutes,
        suppress_minutes: raw.suppress_minutes.unwrap_or(DEFAULT_SUPPRESS_MINUTES),
        notify: raw.notify,
        id,
    })
}

/// Checks a heartbeat rule's `type`, `name` and `ip`: heartbeats have no type; `value`
/// reads one figure (`name`, its key), `heartbeats` none; `ip`, if set, is one machine.
fn check_heartbeat_scope(
    measure: Measure,
    has_type: bool,
    has_name: bool,
    ip: Option<&str>,
) -> Result<(), String> {
    if has_type {
        return Err("heartbeat rules take no `type`; the figure's key is `name`".to_owned());
    }
    match measure {
        Measure::Heartbeats if has_name => {
            return Err(
                "`measure = \"heartbeats\"` counts a machine's heartbeats, not a figure: leave out `name`"
                    .to_owned(),
            )
        }
        Measure::Value if !has_name => {
            return Err(
                "heartbeat rules on `value` need `name`, the figure's key as the heartbeat board shows it (e.g. `memory.heap-usage`)"
                    .to_owned(),
            )
        }
        _ => {}
    }
    match ip {
        Some(ip) if is_blank(ip) => {
            Err("`ip` is empty: leave it out to watch every machine".to_owned())
        }
        Some(ip) if ip.eq_ignore_ascii_case("all") || ip == ocelot_analyzer::OTHERS => Err(format!(
            "`ip = \"{ip}\"` is not a machine: leave out `ip` to watch every machine, each on its own"
        )),
        _ => Ok(()),
    }
}

/// Checks that a heartbeat rule can take a baseline: a figure of one named machine. A
/// baseline is built per rule from past days, and the machines of a domain come and go;
/// `heartbeats` is 1 in every minute a machine is up, so a baseline says nothing a
/// threshold does not.
fn check_heartbeat_baseline(measure: Measure, has_ip: bool) -> Result<(), String> {
    if measure == Measure::Heartbeats {
        return Err(
            "`measure = \"heartbeats\"` takes a threshold, not a baseline: `below = 1` fires on a minute without a heartbeat"
                .to_owned(),
        );
    }
    if !has_ip {
        return Err(
            "baseline heartbeat rules need `ip`: a baseline is built per rule, not per machine; use `above`/`below` to watch every machine"
                .to_owned(),
        );
    }
    Ok(())
}

/// Whether a `type` or `name` is empty (or only spaces): no report entry is keyed so.
fn is_blank(text: &str) -> bool {
    text.trim().is_empty()
}

/// Checks that each threshold can be crossed by the measure, and not always crossed:
/// counts, durations and percentages are never negative, and a percentage never exceeds
/// 100, so `below = 0` or a failPercent `above = 100` would be a rule that never fires,
/// and `above = -1` (or a failPercent `below = 101`) one that fires on every value.
fn check_reachable(
    report: ReportKind,
    measure: Measure,
    above: Option<f64>,
    below: Option<f64>,
) -> Result<(), String> {
    let never_negative = never_negative(report, measure);
    if let Some(limit) = below.filter(|&b| never_negative && b <= 0.0) {
        let hint = if matches!(
            measure,
            Measure::Count | Measure::Fail | Measure::Heartbeats
        ) {
            " (`below = 1` fires on a minute with none)"
        } else {
            ""
        };
        return Err(format!(
            "`below = {limit}` can never fire: {measure} is never negative{hint}"
        ));
    }
    if measure == Measure::Heartbeats {
        if let Some(limit) = above {
            return Err(format!(
                "`above = {limit}` does not apply to heartbeats: a machine counts 1 in a minute \
                 with a heartbeat and 0 without (`below = 1` fires on a silent one)"
            ));
        }
        if let Some(limit) = below.filter(|&b| b > 1.0) {
            return Err(format!(
                "`below = {limit}` always fires: heartbeats is at most 1 (`below = 1` fires on a minute without one)"
            ));
        }
    }
    if let Some(limit) = above.filter(|&a| measure == Measure::FailPercent && a >= 100.0) {
        return Err(format!(
            "`above = {limit}` can never fire: failPercent is at most 100"
        ));
    }
    if let Some(limit) = above.filter(|&a| never_negative && a < 0.0) {
        return Err(format!(
            "`above = {limit}` always fires: {measure} is never negative (`above = 0` fires on any)"
        ));
    }
    if let Some(limit) = below.filter(|&b| measure == Measure::FailPercent && b > 100.0) {
        return Err(format!(
            "`below = {limit}` always fires: failPercent is at most 100"
        ));
    }
    Ok(())
}

/// Whether `measure` of `report` is never below 0. Metric sums, means and values may be
/// negative; everything else is a count, a duration or a percentage.
fn never_negative(report: ReportKind, measure: Measure) -> bool {
    match measure {
        Measure::Count
        | Measure::Fail
        | Measure::FailPercent
        | Measure::P95
        | Measure::Heartbeats => true,
        Measure::Avg => report != ReportKind::Metric,
        Measure::Sum | Measure::Value => false,
    }
}

fn valid_margin(margin: f64) -> bool {
    margin.is_finite() && margin >= 0.0
}

fn fail_if(
    bad: bool,
    fail: &impl Fn(String) -> AlertError,
    message: &str,
) -> Result<(), AlertError> {
    if bad {
        Err(fail(message.to_owned()))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULE: &str = r#"
        [[rule]]
        id = "pay-errors"
        domain = "shop"
        report = "transaction"
        type = "URL"
        name = "/pay"
        measure = "failPercent"
        above = 5.0
        for_minutes = 3
    "#;

    fn error_of(text: &str, domains: Option<&[String]>) -> String {
        RuleSet::from_toml_str(text, domains)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn a_baseline_near_f64_max_is_still_left_behind() {
        let condition = |direction, margin_percent| Condition::Baseline {
            direction,
            margin_percent,
            margin_absolute: 5.0,
        };
        let max = Some(f64::MAX);
        // 30% of MAX is finite, but MAX x 30 overflowed to inf before the / 100.
        let below = condition(Direction::Below, 30.0);
        assert!(below.is_breached(Some(0.0), max));
        assert!(!below.is_breached(Some(f64::MAX * 0.8), max));
        // MAX - -MAX overflows: still far above.
        let above = condition(Direction::Above, 150.0);
        assert!(above.is_breached(max, Some(-f64::MAX)));
        assert!(!above.is_breached(max, Some(f64::MAX / 2.0)));
        assert!(condition(Direction::Both, 30.0).is_breached(Some(-f64::MAX), max));
        // A relative margin past the whole range is never exceeded.
        assert!(!condition(Direction::Above, 1e300).is_breached(max, Some(-f64::MAX)));
    }

    #[test]
    fn a_rule_file_too_large_is_refused_at_once() {
        let err = RuleSet::load(Path::new("/dev/zero"), None).unwrap_err();
        assert!(err.to_string().contains("larger than 4 MiB"), "{err}");
    }

    #[test]
    fn a_threshold_rule_loads_with_defaults() {
        let set = RuleSet::from_toml_str(RULE, None).unwrap();
        let rule = &set.rules()[0];
        assert_eq!(rule.scope.to_string(), "shop transaction URL /pay");
        assert_eq!(rule.measure, Measure::FailPercent);
        assert_eq!(
            rule.condition,
            Condition::Threshold {
                above: Some(5.0),
                below: None
            }
        );
        assert_eq!((rule.for_minutes, rule.resolve_minutes), (3, 1));
        assert_eq!(rule.suppress_minutes, DEFAULT_SUPPRESS_MINUTES);
        assert_eq!(set.board_url(), DEFAULT_BOARD_URL);
        let set = set.default_board_url("http://10.0.0.5:9090/");
        assert_eq!(
            set.board_url(),
            "http://10.0.0.5:9090",
            "no board_url in the file"
        );
        let set = RuleSet::from_toml_str(
            &format!("board_url = \"https://ocelot.example\"\n{RULE}"),
            None,
        )
        .unwrap()
        .default_board_url("http://10.0.0.5:9090");
        assert_eq!(
            set.board_url(),
            "https://ocelot.example",
            "the file's own wins"
        );
        assert_eq!(set.settle_ms(), DEFAULT_SETTLE_SECONDS * 1000);
    }

    #[test]
    fn baseline_rules_say_how_many_days_of_history_the_store_must_keep() {
        assert_eq!(
            RuleSet::from_toml_str(RULE, None)
                .unwrap()
                .history_days_needed(),
            0
        );
        let text = RULE.replace("above = 5.0", "baseline = \"both\"");
        let set = RuleSet::from_toml_str(&text, None).unwrap();
        assert_eq!(set.history_days_needed(), 29);
        let unknown = set.rules_with_unknown_domains(&["billing".to_owned()]);
        assert_eq!(unknown[0].id, "pay-errors");
        // The farthest look-back day a `u32` holds: more history than any store keeps, not
        // an overflow (nor, wrapped, none at all).
        let text = format!(
            "[baseline]\ndays_back = [{}]\nweights = [1]\n{text}",
            u32::MAX
        );
        let set = RuleSet::from_toml_str(&text, None).unwrap();
        assert_eq!(set.history_days_needed(), u32::MAX);
    }

    #[test]
    fn an_unknown_domain_is_rejected_when_domains_are_known() {
        let known = vec!["billing".to_owned(), "cat".to_owned()];
        assert_eq!(
            error_of(RULE, Some(&known)),
            "rule \"pay-errors\": unknown domain \"shop\" (known domains: billing, cat)"
        );
        let known = vec!["shop".to_owned()];
        assert!(RuleSet::from_toml_str(RULE, Some(&known)).is_ok());
    }

    #[test]
    fn an_unknown_measure_is_rejected_with_the_accepted_ones() {
        let text = RULE.replace("failPercent", "p98");
        assert_eq!(
            error_of(&text, None),
            "rule \"pay-errors\": unknown measure \"p98\" for the transaction report \
             (expected one of count, fail, failPercent, avg, p95)"
        );
        let text = RULE.replace("failPercent", "p99");
        assert!(error_of(&text, None).contains("p99 is kept per hour only"));
        let text = RULE
            .replace("transaction", "event")
            .replace("failPercent", "avg");
        assert!(error_of(&text, None).contains("unknown measure \"avg\" for the event report"));
    }

    #[test]
    fn an_unknown_report_is_rejected() {
        let text = RULE.replace("\"transaction\"", "\"transactions\"");
        assert_eq!(
            error_of(&text, None),
            "rule \"pay-errors\": unknown report \"transactions\" \
             (expected one of transaction, event, problem, metric, heartbeat)"
        );
    }

    #[test]
    fn a_misspelt_key_is_an_error_not_a_rule_that_never_fires() {
        let text = RULE.replace("for_minutes", "for_minute");
        let message = error_of(&text, None);
        assert!(message.contains("unknown field `for_minute`"), "{message}");
    }

    #[test]
    fn contradictory_or_missing_conditions_are_rejected() {
        let both = RULE.replace("above = 5.0", "above = 5.0\nbaseline = \"above\"");
        assert!(error_of(&both, None).contains("not both"));
        let none = RULE.replace("above = 5.0", "");
        assert!(error_of(&none, None).contains("no condition"));
        let direction = RULE.replace("above = 5.0", "baseline = \"up\"");
        assert!(error_of(&direction, None).contains("unknown baseline direction \"up\""));
        let band = RULE.replace("above = 5.0", "above = 1.0\nbelow = 2.0");
        assert!(error_of(&band, None).contains("every value (but at most one) is bad"));
    }

    #[test]
    fn a_band_with_equal_limits_is_rejected() {
        // `value > 5 || value < 5`: every value but 5 would be bad.
        let band = RULE.replace("above = 5.0", "above = 5.0\nbelow = 5.0");
        assert_eq!(
            error_of(&band, None),
            "rule \"pay-errors\": `above` must be greater than `below`: \
             otherwise every value (but at most one) is bad"
        );
        let band = RULE.replace("above = 5.0", "above = 5.5\nbelow = 5.0");
        assert!(RuleSet::from_toml_str(&band, None).is_ok());
    }

    #[test]
    fn an_empty_type_or_name_is_rejected_not_read_as_every_one() {
        let text = RULE.replace("type = \"URL\"", "type = \"\"");
        assert_eq!(
            error_of(&text, None),
            "rule \"pay-errors\": `type` is empty: it would match no type; \
             leave it out to add up every type"
        );
        let text = RULE.replace("name = \"/pay\"", "name = \" \"");
        assert_eq!(
            error_of(&text, None),
            "rule \"pay-errors\": `name` is empty: it would match no name; \
             leave it out to add up every name"
        );
        let metric = "[[rule]]\nid = \"m\"\ndomain = \"shop\"\nreport = \"metric\"\nname = \"\"\nmeasure = \"value\"\nabove = 1.0";
        assert_eq!(
            error_of(metric, None),
            "rule \"m\": `name` is empty: metric rules need the metric key"
        );
    }

    #[test]
    fn a_domain_no_report_can_have_is_rejected() {
        let text = RULE.replace("domain = \"shop\"", "domain = \"\"");
        assert_eq!(
            error_of(&text, None),
            "rule \"pay-errors\": `domain` is empty: no report can have such a domain"
        );
        let text = RULE.replace("domain = \"shop\"", "domain = \"shop/eu\"");
        assert_eq!(
            error_of(&text, None),
            "rule \"pay-errors\": `domain` contains a path separator: \
             no report can have such a domain"
        );
        let text = RULE.replace("domain = \"shop\"", "");
        assert_eq!(
            error_of(&text, None),
            "rule \"pay-errors\": missing `domain`"
        );
    }

    #[test]
    fn thresholds_the_measure_can_never_cross_are_rejected() {
        let below = |measure: &str, limit: &str| {
            RULE.replace("failPercent", measure)
                .replace("above = 5.0", &format!("below = {limit}"))
        };
        assert_eq!(
            error_of(&below("count", "0.0"), None),
            "rule \"pay-errors\": `below = 0` can never fire: count is never negative \
             (`below = 1` fires on a minute with none)"
        );
        assert!(error_of(&below("p95", "-1.0"), None).contains("p95 is never negative"));
        assert!(RuleSet::from_toml_str(&below("count", "1.0"), None).is_ok());
        assert!(RuleSet::from_toml_str(&below("avg", "0.5"), None).is_ok());
        let above = RULE.replace("above = 5.0", "above = 100.0");
        assert_eq!(
            error_of(&above, None),
            "rule \"pay-errors\": `above = 100` can never fire: failPercent is at most 100"
        );
        assert!(RuleSet::from_toml_str(&RULE.replace("5.0", "99.5"), None).is_ok());
        // A metric's sum or value may be negative: a floor at 0 can fire.
        let metric = "[[rule]]\nid = \"m\"\ndomain = \"shop\"\nreport = \"metric\"\nname = \"balance\"\nmeasure = \"sum\"\nbelow = 0.0";
        assert!(RuleSet::from_toml_str(metric, None).is_ok());
        let count = metric.replace("\"sum\"", "\"count\"");
        assert!(error_of(&count, None).contains("count is never negative"));
    }

    #[test]
    fn thresholds_every_value_of_the_measure_crosses_are_rejected() {
        let above = |measure: &str, limit: &str| {
            RULE.replace("failPercent", measure)
                .replace("above = 5.0", &format!("above = {limit}"))
        };
        // A count is never below 0: `above = -1` fired on every minute, 0 included.
        assert_eq!(
            error_of(&above("count", "-1.0"), None),
            "rule \"pay-errors\": `above = -1` always fires: count is never negative \
             (`above = 0` fires on any)"
        );
        assert!(error_of(&above("p95", "-0.5"), None).contains("p95 is never negative"));
        assert!(RuleSet::from_toml_str(&above("count", "0.0"), None).is_ok());
        let below = RULE.replace("above = 5.0", "below = 100.5");
        assert_eq!(
            error_of(&below, None),
            "rule \"pay-errors\": `below = 100.5` always fires: failPercent is at most 100"
        );
        assert!(
            RuleSet::from_toml_str(&RULE.replace("above = 5.0", "below = 100.0"), None).is_ok()
        );
        // A metric's sum may be negative: a limit below 0 can be crossed or not.
        let metric = "[[rule]]\nid = \"m\"\ndomain = \"shop\"\nreport = \"metric\"\nname = \"balance\"\nmeasure = \"sum\"\nabove = -1.0";
        assert!(RuleSet::from_toml_str(metric, None).is_ok());
    }

    #[test]
    fn a_baseline_condition_says_only_the_margins_it_has() {
        let condition = |percent: f64, absolute: f64| {
            Condition::Baseline {
                direction: Direction::Above,
                margin_percent: percent,
                margin_absolute: absolute,
            }
            .to_string()
        };
        assert_eq!(
            condition(50.0, 5.0),
            "above baseline by more than 50% and 5"
        );
        assert_eq!(condition(50.0, 0.0), "above baseline by more than 50%");
        assert_eq!(condition(0.0, 5.0), "above baseline by more than 5");
        assert_eq!(condition(0.0, 0.0), "above baseline");
    }

    #[test]
    fn a_drop_of_100_percent_or_more_below_the_baseline_is_rejected() {
        // "Traffic drops by 100%" is a drop to 0, which is not *more* than 100% below the
        // baseline: such a rule loaded and could never fire.
        let drop = |measure: &str, margin: &str| {
            RULE.replace("failPercent", measure).replace(
                "above = 5.0",
                &format!("baseline = \"below\"\nmargin_percent = {margin}"),
            )
        };
        assert_eq!(
            error_of(&drop("count", "100.0"), None),
            "rule \"pay-errors\": `baseline = \"below\"` with `margin_percent = 100` can never \
             fire: count is never negative, and a drop to 0 is 100% below the baseline, not more"
        );
        assert!(error_of(&drop("p95", "150.0"), None).contains("can never fire"));
        assert!(RuleSet::from_toml_str(&drop("count", "99.0"), None).is_ok());
        // Above (or either side) a margin of 100% or more is a spike to more than double.
        let both = drop("count", "100.0").replace("\"below\"", "\"both\"");
        assert!(RuleSet::from_toml_str(&both, None).is_ok());
    }

    #[test]
    fn notifying_a_target_twice_is_rejected() {
        let text = format!(
            "[[webhook]]\nname = \"ops\"\nurl = \"http://127.0.0.1:9/\"\n{}",
            RULE.replace("for_minutes = 3", "notify = [\"ops\", \"ops\"]")
        );
        assert_eq!(
            error_of(&text, None),
            "rule \"pay-errors\": notifies \"ops\" twice (each event would be sent twice)"
        );
    }

    #[test]
    fn an_empty_board_url_is_rejected() {
        let text = format!("board_url = \"\"\n{RULE}");
        assert_eq!(
            error_of(&text, None),
            "board_url: is empty: leave it out to link to where the web UI listens"
        );
    }

    /// `board_url = "ocelot.internal:8080"` was taken, and every notification linked to
    /// `ocelot.internal:8080/t?...`, which no chat or mail client opens.
    #[test]
    fn a_board_url_without_a_scheme_is_rejected() {
        let text = format!("board_url = \"ocelot.internal:8080\"\n{RULE}");
        assert_eq!(
            error_of(&text, None),
            "board_url: \"ocelot.internal:8080\" is not an http:// or https:// URL \
             (e.g. \"http://ocelot.internal:8080\")"
        );
        for url in ["http://ocelot.internal:8080", "HTTPS://ocelot.example/"] {
            let text = format!("board_url = \"{url}\"\n{RULE}");
            assert!(RuleSet::from_toml_str(&text, None).is_ok(), "{url}");
        }
    }

    #[test]
    fn p95_without_a_type_and_name_and_metric_rules_without_a_key_are_rejected() {
        let text = RULE
            .replace("name = \"/pay\"", "")
            .replace("failPercent", "p95");
        assert!(error_of(&text, None).contains("p95 needs a `type` and a `name`"));
        // A name alone is not enough: a domain that calls a service it also serves has the
        // name under two types (`Call` and `Service`).
        let untyped = RULE
            .replace("type = \"URL\"", "")
            .replace("failPercent", "p95");
        assert!(error_of(&untyped, None).contains("p95 needs a `type` and a `name`"));
        let metric = "[[rule]]\nid = \"m\"\ndomain = \"shop\"\nreport = \"metric\"\nmeasure = \"value\"\nabove = 1.0";
        assert!(error_of(metric, None).contains("metric rules need `name`"));
    }

    #[test]
    fn notifying_an_undeclared_webhook_is_rejected() {
        let text = RULE.replace("for_minutes = 3", "notify = [\"ops\"]");
        assert_eq!(
            error_of(&text, None),
            "rule \"pay-errors\": notifies unknown target \"ops\" (declared: none)"
        );
    }

    #[test]
    fn notification_retries_and_waits_are_bounded_at_load() {
        let hook = |setting: &str| {
            format!("[[webhook]]\nname = \"ops\"\nurl = \"http://127.0.0.1:9/\"\n{setting}\n{RULE}")
        };
        assert!(RuleSet::from_toml_str(&hook("retries = 10"), None).is_ok());
        // u32::MAX retries would overflow the attempt count (no attempt at all, unrecorded);
        // anything large holds the notification thread for days.
        assert_eq!(
            error_of(&hook("retries = 4294967295"), None),
            "webhook \"ops\": `retries` is at most 10"
        );
        assert_eq!(
            error_of(&hook("timeout_ms = 3600000"), None),
            "webhook \"ops\": `timeout_ms` is at most 60000"
        );
        assert_eq!(
            error_of(&hook("retry_backoff_ms = 86400000"), None),
            "webhook \"ops\": `retry_backoff_ms` is at most 60000"
        );
    }

    /// `url = "http://a b/"` loaded, and the webhook was looked up as `a b` at every
    /// alert: a host that cannot be is refused at load, naming the webhook.
    #[test]
    fn a_webhook_host_with_a_space_or_a_non_ascii_letter_is_rejected_at_load() {
        let hook = |url: &str| format!("[[webhook]]\nname = \"ops\"\nurl = \"{url}\"\n{RULE}");
        assert_eq!(
            error_of(&hook("http://a b/"), None),
            "webhook \"ops\": http://a b/: host \"a b\" holds ' ', which a host name cannot"
        );
        assert!(error_of(&hook("http://h\u{e9}te.example/"), None).contains("xn-- (punycode)"));
        // A path with a space or a non-ASCII letter loads: it is percent-encoded when sent.
        assert!(
            RuleSet::from_toml_str(&hook("http://127.0.0.1:29994/my hook/\u{fc}"), None).is_ok()
        );
    }

    #[test]
    fn a_settle_time_past_an_hour_is_rejected_not_overflowed() {
        let text = format!("settle_seconds = 9223372036854775807\n{RULE}");
        assert_eq!(
            error_of(&text, None),
            "settle_seconds: at most 3600 (a minute is evaluated this long after it ends)"
        );
        let text = format!("settle_seconds = 3600\n{RULE}");
        assert_eq!(
            RuleSet::from_toml_str(&text, None).unwrap().settle_ms(),
            3_600_000
        );
    }

    #[test]
    fn duplicate_rule_ids_are_rejected() {
        let text = format!("{RULE}\n{RULE}");
        assert_eq!(
            error_of(&text, None),
            "rule \"pay-errors\": two rules have this id"
        );
    }

    #[test]
    fn rules_serialize_in_the_apis_camel_case() {
        let text = RULE.replace("above = 5.0", "baseline = \"both\"\nmargin_percent = 50.0");
        let set = RuleSet::from_toml_str(&text, None).unwrap();
        let json = serde_json::to_value(&set.rules()[0]).unwrap();
        assert_eq!(json["condition"]["kind"], "baseline");
        assert_eq!(json["condition"]["marginPercent"], 50.0);
        assert_eq!(json["forMinutes"], 3);
        assert_eq!(json["scope"]["type"], "URL");
        assert_eq!(json["measure"], "failPercent");
    }

    #[test]
    fn baseline_conditions_need_both_margins_exceeded() {
        let condition = Condition::Baseline {
            direction: Direction::Above,
            margin_percent: 50.0,
            margin_absolute: 5.0,
        };
        assert!(condition.is_breached(Some(16.0), Some(10.0)));
        assert!(
            !condition.is_breached(Some(15.0), Some(10.0)),
            "50 % exactly is not more"
        );
        assert!(
            !condition.is_breached(Some(4.0), Some(2.0)),
            "absolute margin not exceeded"
        );
        assert!(!condition.is_breached(Some(1.0), Some(10.0)), "wrong side");
        assert!(
            !condition.is_breached(Some(100.0), None),
            "no baseline, no alert"
        );
        assert!(
            !condition.is_breached(None, Some(10.0)),
            "no value, no alert"
        );
        let both = Condition::Baseline {
            direction: Direction::Both,
            margin_percent: 50.0,
            margin_absolute: 0.0,
        };
        assert!(both.is_breached(Some(4.0), Some(10.0)));
        assert!(both.is_breached(Some(16.0), Some(10.0)));
    }
}
