//! [`AnalyzerConfig`]: cardinality caps and problem thresholds shared by every analyzer.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The name every capped key folds into, as in CAT.
pub const OTHERS: &str = "OTHERS";

/// Limits and thresholds. `Default` gives CAT's values.
///
/// The caps bound memory per hour: a client that puts user IDs into transaction names gets
/// 200 names and an `OTHERS` entry per type, never a million entries. Every message folded
/// into `OTHERS` is still counted there, and each report counts how many of its messages
/// were folded (`folded()`: each message once, whether its domain, machine, type, name or
/// status code folded; not how many distinct keys were refused, which would need them kept).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AnalyzerConfig {
    /// Domains per hour per analyzer; more fold into the domain `OTHERS`.
    pub max_domains: usize,
    /// Machines (client IPs) per domain; more fold into the machine `OTHERS`.
    pub max_machines_per_domain: usize,
    /// Types per machine (CAT `max-type-threshold`: 100).
    pub max_types_per_machine: usize,
    /// Names per type (CAT `max-name-threshold`: 200).
    pub max_names_per_type: usize,
    /// Entries (machines, types and names together) each of the Transaction, Event and
    /// Problem reports may hold in one hour, over every domain. The caps above bound one
    /// machine; this bounds them all, so a thousand machines sending names of their own
    /// cannot take the collector's memory. Past it, new machines, types and names fold into
    /// `OTHERS` as the caps do (the collector logs it once an hour). Half a KiB or so
    /// each (a name busy all hour holds more); the collector splits the budget evenly
    /// between its analyzer threads.
    pub max_entries_per_hour: usize,
    /// Distinct status codes per transaction name (CAT: 100).
    pub max_status_codes: usize,
    /// Longer type, name and status strings are cut to this many characters (CAT: 128 for
    /// status codes, 256 for names; one limit keeps it simple).
    pub max_key_chars: usize,
    /// Heartbeat series (named values) per machine.
    pub max_heartbeat_series: usize,
    /// Metric names per domain.
    pub max_metric_names: usize,
    /// Long-execution thresholds for every domain without an override.
    pub long_thresholds: LongThresholds,
    /// Per-domain long-execution thresholds (CAT `server-config.xml <long-config>`).
    pub domain_long_thresholds: BTreeMap<String, LongThresholds>,
}

impl AnalyzerConfig {
    /// The key a report files `domain` under: cut to [`AnalyzerConfig::max_key_chars`]
    /// characters, as every analyzer cuts it (the collector shards and caps domains by it).
    pub fn domain_key<'a>(&self, domain: &'a str) -> &'a str {
        crate::cardinality::truncate_chars(domain, self.max_key_chars)
    }

    /// The key a report files a type or name under (a transaction's, an event's, a problem
    /// entry's): cut to [`AnalyzerConfig::max_key_chars`] characters, as the analyzers cut
    /// it. LogView links a tree's rows to the board under it.
    pub fn name_key<'a>(&self, name: &'a str) -> &'a str {
        crate::cardinality::truncate_chars(name, self.max_key_chars)
    }
}

impl Default for AnalyzerConfig {
    fn default() -> Self {
        AnalyzerConfig {
            max_domains: 1_000,
            max_machines_per_domain: 1_000,
            max_types_per_machine: 100,
            max_names_per_type: 200,
            max_entries_per_hour: 1_000_000,
            max_status_codes: 100,
            max_key_chars: 256,
            max_heartbeat_series: 1_000,
            max_metric_names: 1_000,
            long_thresholds: LongThresholds::default(),
            domain_long_thresholds: BTreeMap::new(),
        }
    }
}

impl AnalyzerConfig {
    /// The long-execution thresholds that apply to `domain`.
    pub fn long_thresholds_for(&self, domain: &str) -> &LongThresholds {
        self.domain_long_thresholds
            .get(domain)
            .unwrap_or(&self.long_thresholds)
    }
}

/// The smallest duration, in milliseconds, at which a transaction counts as a long-execution
/// problem: the lower bound of its category's first duration bucket. Defaults are the
/// smallest of CAT's default bucket lists (`LongExecutionProblemHandler`).
///
/// A long execution is counted in the bucket of the largest bound at or under its duration,
/// the bounds being this threshold followed by CAT's default buckets above it: URL 1000,
/// 2000, 3000, 5000; SQL and Call 100, 500, 1000, 3000, 5000; Service 50, 100, 500, 1000,
/// 3000, 5000; Cache 10, 50, 100, 500. That is CAT's rule (a threshold under the default
/// buckets adds a first bucket, as CAT's per-domain `<long-config>` does), also for a
/// threshold above the smallest default bucket, which CAT's analyzer ignores and its
/// Problem page applies when it shows the report: shorter executions are not problems, and
/// the first bucket starts at the threshold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LongThresholds {
    /// `URL` transactions (`long-url`, CAT 1000 ms).
    pub url_ms: u64,
    /// `SQL` transactions (`long-sql`, CAT 100 ms).
    pub sql_ms: u64,
    /// `Call` and `PigeonCall` transactions (`long-call`, CAT 100 ms).
    pub call_ms: u64,
    /// `Service` and `PigeonService` transactions (`long-service`, CAT 50 ms).
    pub service_ms: u64,
    /// `Cache.*` transactions (`long-cache`, CAT 10 ms).
    pub cache_ms: u64,
}

impl Default for LongThresholds {
    fn default() -> Self {
        LongThresholds {
            url_ms: 1_000,
            sql_ms: 100,
            call_ms: 100,
            service_ms: 50,
            cache_ms: 10,
        }
    }
}
