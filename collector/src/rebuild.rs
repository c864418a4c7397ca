//! [`rebuild_hour`]: an hour's reports counted again from the trees the store keeps.
//!
//! Why: the reports of an hour are counted live and checkpointed every minute, so a crash or
//! kill -9 leaves an hour's reports without the trees received between the last checkpoint
//! and the stop (the State report marks such an hour). The store has those trees: every
//! tree it was handed, filed by message ID. Counting the hour again from them gives reports
//! that lack nothing the store has; it also fills the reports of a kind added in a later
//! release (Matrix) for hours stored before, and applies changed thresholds (long-SQL and
//! the like) to a past hour.
//!
//! What it reads: a tree counts in the hour of its root's timestamp, as the collector
//! counts it, while the store files it by its message ID's hour (made when the tree ended,
//! by the client's clock), so the hour before and the hour after are read too and only the
//! trees whose root falls in the hour are counted. The store keeps the first tree of a
//! message ID only, and none of those it dropped (a full queue, a full disk): a rebuilt
//! report counts a duplicate ID once and lacks what the store lacks, where the live one
//! counted them. The State report (what the collector received and dropped) is the
//! collector's own and is not rebuilt; it is marked rebuilt, which clears its marks of a
//! restart from an incomplete checkpoint.
//!
//! Only for an hour no collector holds open: the caller makes sure no server runs on the
//! store (`ocelot rebuild-reports` takes the data directory's lock), as a live collector
//! would overwrite the rebuilt reports at its next checkpoint, and would keep serving the
//! ones it had parsed before.

use std::collections::BTreeMap;

use ocelot_analyzer::{HourAnalyzers, StateReport};
use ocelot_protocol::{decode_frame, hour_of, scan_frame};
use ocelot_store::{Store, StoreError};

use crate::config::CollectorConfig;
use crate::worker::ReportKind;
use crate::{MAX_MESSAGES_PER_TREE, STATE_DOMAIN};

/// What [`rebuild_hour`] counts and writes.
#[derive(Debug, Clone, Default)]
pub struct RebuildOptions {
    /// The domains whose reports are rebuilt (header domains, as the reports are filed);
    /// all when empty.
    pub domains: Vec<String>,
    /// Count and write nothing.
    pub dry_run: bool,
    /// Keep a domain's reports when the store holds fewer of its trees than the hour's
    /// State report says were received (the store dropped some that the reports counted:
    /// a full queue, trees without a message ID): what an automatic rebuild does, which
    /// must never make reports worse than the checkpoint it replaces.
    pub keep_if_fewer: bool,
}

/// What [`rebuild_hour`] counted, and wrote unless it was a dry run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rebuilt {
    /// Trees counted into the hour's reports, by domain (the tree's header domain, as the
    /// reports are filed).
    pub trees: BTreeMap<String, u64>,
    /// Trees each domain sent in the hour by its State report, where it has one: what the
    /// collector received, which the live reports counted less their drops.
    pub received: BTreeMap<String, u64>,
    /// Domains whose reports were kept as they were ([`RebuildOptions::keep_if_fewer`]).
    pub kept: Vec<String>,
    /// Frames read from the store in the hour and the ones around it.
    pub frames_read: u64,
    /// Frames the store holds that could not be decoded (a store written by a release that
    /// accepted what this one does not), left out.
    pub undecodable: u64,
    /// Blocks of the store's files stepped over as damaged (their trees left out).
    pub damaged_blocks: u64,
    /// Reports written (none in a dry run).
    pub reports_written: usize,
    /// Whether the hour has a State report (what `received` comes from, and what is
    /// marked rebuilt): without `marked_rebuilt`, tells "no report to mark" from "not
    /// every domain rebuilt".
    pub state_found: bool,
    /// Whether the hour's State report was marked rebuilt (not when a domain's reports were
    /// kept, nothing was counted, or the hour has no State report to mark).
    pub marked_rebuilt: bool,
}

/// Counts `hour`'s reports again from the trees the store keeps (see the module's docs),
/// under `config`'s analyzer caps and thresholds and PT1 zone, and unless
/// `options.dry_run`, writes them over the stored ones and marks the hour's State report
/// rebuilt at `now_ms` (when no domain's reports were kept, and the hour has one). Reports of a domain with no
/// tree in the store are left as they are; when no tree is counted at all, nothing is
/// written.
pub fn rebuild_hour(
    store: &Store,
    config: &CollectorConfig,
    hour: u64,
    options: &RebuildOptions,
    now_ms: u64,
) -> Result<Rebuilt, RebuildError> {
    let only = &options.domains[..];
    let mut rebuilt = Rebuilt::default();
    let mut analyzers = HourAnalyzers::new(hour, &config.analyzer);
    let wanted = |domain: &str| only.is_empty() || only.iter().any(|d| d == domain);
    for filed in [hour.checked_sub(1), Some(hour), hour.checked_add(1)]
        .into_iter()
        .flatten()
    {
        for id_domain in store.tree_domains(filed)? {
            let read = store.for_each_frame(filed, &id_domain, |frame| {
                let Ok(scan) = scan_frame(frame, &config.decode) else {
                    rebuilt.undecodable += 1;
                    return;
                };
                if hour_of(scan.root_timestamp_ms()) != hour
                    || scan.message_count() > MAX_MESSAGES_PER_TREE
                {
                    return;
                }
                let domain = scan.domain(frame);
                let key = config.analyzer.domain_key(&domain);
                if !wanted(key) {
                    return;
                }
                match decode_frame(frame, &config.decode) {
                    Ok(tree) => {
                        *rebuilt.trees.entry(key.to_owned()).or_default() += 1;
                        analyzers.process(&tree);
                    }
                    Err(_) => rebuilt.undecodable += 1,
                }
            })?;
            rebuilt.frames_read += read.frames;
            rebuilt.damaged_blocks += read.damaged_blocks;
        }
    }
    let state = read_state(store, hour);
    rebuilt.state_found = state.is_some();
    if let Some(state) = &state {
        rebuilt.received = (state.trees_by_domain().into_iter())
            .filter(|(domain, _)| wanted(domain))
            .collect();
    }
    if options.keep_if_fewer {
        rebuilt.kept = (rebuilt.received.iter())
            .filter(|(domain, &received)| {
                rebuilt.trees.get(*domain).copied().unwrap_or(0) < received
            })
            .map(|(domain, _)| domain.clone())
            .collect();
    }
    // Nothing counted (an hour the store holds no tree of, or domains it has none of):
    // nothing to write, and the State report is left unmarked, as nothing was rebuilt.
    if options.dry_run || rebuilt.trees.is_empty() {
        return Ok(rebuilt);
    }
    let mut written = 0;
    let kept = rebuilt.kept.clone();
    let mut write = |kind: ReportKind, domain: &str, bytes: serde_json::Result<Vec<u8>>| {
        // A domain folded into `OTHERS` has its trees under their own names.
        if (!rebuilt.trees.contains_key(domain) && domain != ocelot_analyzer::OTHERS)
            || kept.iter().any(|k| k == domain)
        {
            return Ok(());
        }
        store.write_report(hour, domain, kind.name(), &bytes?)?;
        written += 1;
        Ok::<(), RebuildError>(())
    };
    for (domain, r) in analyzers.transaction.reports().iter() {
        write(ReportKind::Transaction, domain, serde_json::to_vec(r))?;
    }
    for (domain, r) in analyzers.event.reports().iter() {
        write(ReportKind::Event, domain, serde_json::to_vec(r))?;
    }
    for (domain, r) in analyzers.problem.reports().iter() {
        write(ReportKind::Problem, domain, serde_json::to_vec(r))?;
    }
    for (domain, r) in analyzers.heartbeat.reports().iter() {
        write(ReportKind::Heartbeat, domain, serde_json::to_vec(r))?;
    }
    for (domain, r) in analyzers.metric.reports().iter() {
        write(ReportKind::Metric, domain, serde_json::to_vec(r))?;
    }
    for (domain, r) in analyzers.matrix.reports().iter() {
        write(ReportKind::Matrix, domain, serde_json::to_vec(r))?;
    }
    rebuilt.reports_written = written;
    if !rebuilt.kept.is_empty() {
        // Still short of what was received: not said rebuilt.
        return Ok(rebuilt);
    }
    // An hour without a State report (stored before the collector kept one, or its file
    // lost) gets none: an empty one would say the collector was down all the hour, so alert
    // replay would skip every minute of it and the State page would show nothing received.
    let Some(mut state) = state else {
        return Ok(rebuilt);
    };
    // Only some domains rebuilt (`--domain`): the others may still lack trees.
    let every_domain = only.is_empty()
        || state
            .trees_by_domain()
            .keys()
            .all(|domain| only.iter().any(|d| d == domain));
    if !every_domain {
        return Ok(rebuilt);
    }
    state.record_rebuilt(now_ms);
    store.write_report(
        hour,
        STATE_DOMAIN,
        ReportKind::State.name(),
        &serde_json::to_vec(&state)?,
    )?;
    rebuilt.marked_rebuilt = true;
    Ok(rebuilt)
}

/// Why [`rebuild_hour`] stopped.
#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    /// Reading the trees or writing a report failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A report could not be written as JSON.
    #[error("cannot write a report as JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// The hour's stored State report, if it has one that parses.
fn read_state(store: &Store, hour: u64) -> Option<StateReport> {
    let bytes = store
        .read_report(hour, STATE_DOMAIN, ReportKind::State.name())
        .ok()??;
    serde_json::from_slice(&bytes).ok()
}

impl Rebuilt {
    /// Trees counted in all.
    pub fn total_trees(&self) -> u64 {
        self.trees.values().sum()
    }
}
