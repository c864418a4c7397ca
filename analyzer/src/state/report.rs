//! [`StateReport`]: the collector's own per-minute figures for one hour, and the
//! [`StateView`] the JSON API returns.
//!
//! The collector owns one `StateReport` per hour and calls the `record_*` methods with the
//! current time (it has the clock; this crate does not). Everything is per minute of that
//! timestamp. Keyed maps (domains, reasons, analyzers, queues) are capped at
//! [`MAX_STATE_KEYS`] keys, then fold into `OTHERS`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::cardinality::{capped_entry, merge_maps};
use crate::minute::minute_of;
use crate::sorted_map::SortedMap;
use crate::view_query::{hour_label, is_zero, rate_seconds, tps, ViewQuery, SECONDS_PER_MINUTE};
use ocelot_protocol::MILLIS_PER_HOUR;

/// Keys per map per minute (domains sending, decode-error reasons, ...).
pub const MAX_STATE_KEYS: usize = 1_000;

/// The domain under which the collector files its own State report in the store.
pub const STATE_DOMAIN: &str = "ocelot";

/// The State report's name in the store (`<hour>/ocelot/reports/state.report`).
pub const STATE_REPORT_NAME: &str = "state";

/// Longest key kept (longer ones are cut).
const MAX_KEY_CHARS: usize = 256;

/// The stage and reason the store records a tree under when it refuses it for a message ID
/// stored before (`ocelot_store::DropReason::Duplicate`). Such a tree is not lost: the
/// reports counted it and its ID finds the first tree; it is only not stored again. So the
/// State page, `/metrics` (`ocelot_duplicate_trees_total`), `ocelot status` and the view's
/// `lost` count it apart.
pub const DUPLICATE_DROP: DropKey<'static> = ("store", "duplicate");

/// The stage and reason the out-of-window trees (counted apart in the report) are listed
/// under among the lost ones, as `/metrics` labels them.
pub const OUT_OF_WINDOW_DROP: DropKey<'static> = ("collector", "out_of_window");

/// A drop's stage (`collector`, `store` or a report worker's name) and reason.
pub type DropKey<'a> = (&'a str, &'a str);

/// The trees lost by stage and reason (the out-of-window ones first, as
/// [`OUT_OF_WINDOW_DROP`]), and apart from them the trees not stored for a duplicate ID
/// ([`DUPLICATE_DROP`]): what every figure of lost trees is added up from.
fn split_drops(
    drops: &BTreeMap<String, BTreeMap<String, u64>>,
    out_of_window: u64,
) -> (Vec<(DropKey<'_>, u64)>, u64) {
    let mut lost = Vec::new();
    let mut duplicates = 0u64;
    if out_of_window > 0 {
        lost.push((OUT_OF_WINDOW_DROP, out_of_window));
    }
    for (stage, reasons) in drops {
        for (reason, n) in reasons {
            let key = (stage.as_str(), reason.as_str());
            if key == DUPLICATE_DROP {
                duplicates = duplicates.saturating_add(*n);
            } else {
                lost.push((key, *n));
            }
        }
    }
    (lost, duplicates)
}

/// `split_drops`' lost trees as (not in the reports, not in the store). A tree goes to the
/// store and to one report worker, and each may drop it (a full queue each): one tree can
/// be lost to both, or to one and kept by the other, so the stages do not add up to trees.
/// Out-of-window trees are lost to both.
fn lost_parts(lost: &[(DropKey<'_>, u64)]) -> (u64, u64) {
    let (mut reports, mut store) = (0u64, 0u64);
    for &((stage, _), n) in lost {
        match stage {
            "store" => store = store.saturating_add(n),
            "collector" => {
                reports = reports.saturating_add(n);
                store = store.saturating_add(n);
            }
            _ => reports = reports.saturating_add(n),
        }
    }
    (reports, store)
}

/// The collector's figures for one hour.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StateReport {
    pub(crate) hour: u64,
    pub(crate) minutes: BTreeMap<u8, StateMinute>,
    /// When the hour's other reports were last rebuilt from the stored trees
    /// ([`StateReport::record_rebuilt`]), epoch ms; 0 (left out of the JSON) when never.
    #[serde(skip_serializing_if = "is_zero")]
    pub(crate) rebuilt_ms: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct StateMinute {
    /// Domain -> trees and bytes received.
    /// Hash-indexed: the State worker adds every tree here, and a `BTreeMap`'s string
    /// compares were most of its time.
    pub(crate) domains: SortedMap<Received>,
    /// Reason -> malformed frames.
    pub(crate) decode_errors: BTreeMap<String, u64>,
    /// Analyzer (or `store`) -> reason -> dropped trees.
    pub(crate) drops: BTreeMap<String, BTreeMap<String, u64>>,
    /// Queue -> deepest depth seen.
    pub(crate) queue_depths: BTreeMap<String, u64>,
    /// Trees outside the accepted hours.
    pub(crate) out_of_window: u64,
    /// Analyzer -> processing time.
    pub(crate) processing: BTreeMap<String, Processing>,
    /// Largest resident set size seen.
    pub(crate) rss_bytes: u64,
    /// The collector started in this minute ([`StateReport::record_start`]). Left out of
    /// the JSON when false, as in reports written before it was kept.
    #[serde(skip_serializing_if = "is_false")]
    pub(crate) started: bool,
    /// Open hours the collector continued from checkpoints lacking trees (after a crash or
    /// kill -9), counted once their reports were parsed: in a start's minute or just after.
    #[serde(skip_serializing_if = "is_zero")]
    pub(crate) restored_incomplete: u64,
}

fn is_false(value: &bool) -> bool {
    !*value
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct Received {
    pub(crate) trees: u64,
    pub(crate) bytes: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct Processing {
    pub(crate) count: u64,
    pub(crate) total_us: u64,
    pub(crate) max_us: u64,
}

fn add(map: &mut BTreeMap<String, u64>, key: &str, n: u64) {
    let mut folded = 0;
    let v = capped_entry(map, key, MAX_STATE_KEYS, MAX_KEY_CHARS, &mut folded);
    *v = v.saturating_add(n);
}

impl StateMinute {
    fn merge(&mut self, other: &StateMinute) {
        self.domains.merge_with(&other.domains, |a, b| {
            a.trees = a.trees.saturating_add(b.trees);
            a.bytes = a.bytes.saturating_add(b.bytes);
        });
        merge_maps(&mut self.decode_errors, &other.decode_errors, |a, b| {
            *a = a.saturating_add(*b);
        });
        merge_maps(&mut self.drops, &other.drops, |a, b| {
            merge_maps(a, b, |x, y| *x = x.saturating_add(*y));
        });
        merge_maps(&mut self.queue_depths, &other.queue_depths, |a, b| {
            *a = (*a).max(*b);
        });
        self.out_of_window = self.out_of_window.saturating_add(other.out_of_window);
        merge_maps(&mut self.processing, &other.processing, |a, b| {
            a.count = a.count.saturating_add(b.count);
            a.total_us = a.total_us.saturating_add(b.total_us);
            a.max_us = a.max_us.max(b.max_us);
        });
        self.rss_bytes = self.rss_bytes.max(other.rss_bytes);
        self.started |= other.started;
        self.restored_incomplete = self
            .restored_incomplete
            .saturating_add(other.restored_incomplete);
    }
}

impl StateReport {
    /// An empty report for `hour`.
    pub fn new(hour: u64) -> Self {
        StateReport {
            hour,
            minutes: BTreeMap::new(),
            rebuilt_ms: 0,
        }
    }

    /// The hour index.
    pub fn hour(&self) -> u64 {
        self.hour
    }

    /// Trees received per domain over the hour's minutes (domains as the State report keys
    /// them, cut to its longest key).
    pub fn trees_by_domain(&self) -> BTreeMap<String, u64> {
        let mut trees = BTreeMap::new();
        for minute in self.minutes.values() {
            for (domain, received) in minute.domains.iter() {
                let sum: &mut u64 = trees.entry(domain.to_owned()).or_default();
                *sum = sum.saturating_add(received.trees);
            }
        }
        trees
    }

    /// The minutes of the hour in which the collector took a sample of its own figures,
    /// ascending. The collector samples every few seconds while it runs and each sample
    /// records every queue's depth, 0 included, so a minute missing here is one it was not
    /// running in. Trees alone do not mark a minute: a tree of this hour received early in
    /// the next one is recorded at this hour's last minute (see `minute`).
    pub fn sampled_minutes(&self) -> impl Iterator<Item = u8> + '_ {
        self.minutes
            .iter()
            .filter(|(_, m)| !m.queue_depths.is_empty())
            .map(|(minute, _)| *minute)
    }

    /// The minutes of the hour in which the collector started, ascending: it watched only
    /// part of them (see [`StateReport::record_start`]). Reports written before starts
    /// were kept have none.
    pub fn started_minutes(&self) -> impl Iterator<Item = u8> + '_ {
        self.minutes
            .iter()
            .filter(|(_, m)| m.started)
            .map(|(minute, _)| *minute)
    }

    /// The minutes of the hour marked by [`StateReport::record_restored_incomplete`],
    /// ascending: a start's minute, or the hour's last when the start came after the hour.
    pub fn restored_incomplete_minutes(&self) -> impl Iterator<Item = u8> + '_ {
        self.minutes
            .iter()
            .filter(|(_, m)| m.restored_incomplete > 0)
            .map(|(minute, _)| *minute)
    }

    /// The minute `now_ms` falls in, or the edge of this hour nearest to it: a tree of this
    /// hour received in the next one's first minutes (its grace) or the last minutes of the
    /// one before (from :57) is shown at the hour's last or first minute, not at the same
    /// minute of another hour (where it drew traffic before the server had started).
    fn minute(&mut self, now_ms: u64) -> &mut StateMinute {
        let start = self.hour.saturating_mul(MILLIS_PER_HOUR);
        let at = now_ms.clamp(start, start.saturating_add(MILLIS_PER_HOUR - 1));
        self.minutes.entry(minute_of(at)).or_default()
    }

    /// `trees` decoded trees of `domain` totalling `bytes` frame bytes arrived.
    pub fn record_trees(&mut self, now_ms: u64, domain: &str, trees: u64, bytes: u64) {
        let mut folded = 0;
        let received = self.minute(now_ms).domains.capped_entry(
            domain,
            MAX_STATE_KEYS,
            MAX_KEY_CHARS,
            &mut folded,
        );
        received.trees = received.trees.saturating_add(trees);
        received.bytes = received.bytes.saturating_add(bytes);
    }

    /// `n` frames failed to decode for `reason` (e.g. `frame_too_large`, `bad_magic`).
    pub fn record_decode_errors(&mut self, now_ms: u64, reason: &str, n: u64) {
        add(&mut self.minute(now_ms).decode_errors, reason, n);
    }

    /// `n` trees were dropped for `analyzer` (or `store`) because of `reason`
    /// (e.g. `queue_full`).
    pub fn record_drops(&mut self, now_ms: u64, analyzer: &str, reason: &str, n: u64) {
        let mut folded = 0;
        let reasons = capped_entry(
            &mut self.minute(now_ms).drops,
            analyzer,
            MAX_STATE_KEYS,
            MAX_KEY_CHARS,
            &mut folded,
        );
        add(reasons, reason, n);
    }

    /// `queue` held `depth` items; the minute keeps the deepest. Record every queue at each
    /// sample, empty ones too: [`StateReport::sampled_minutes`] goes by them.
    pub fn record_queue_depth(&mut self, now_ms: u64, queue: &str, depth: u64) {
        let mut folded = 0;
        let deepest = capped_entry(
            &mut self.minute(now_ms).queue_depths,
            queue,
            MAX_STATE_KEYS,
            MAX_KEY_CHARS,
            &mut folded,
        );
        *deepest = (*deepest).max(depth);
    }

    /// The collector started at `now_ms`: its minute was watched only in part. Alerting
    /// evaluates from the minute after it, live and in replay alike (a minute sampled by a
    /// process that stopped in it and by the one that started next is still partial).
    /// Record it with the start's own sample, so the start minute has a sample too.
    pub fn record_start(&mut self, now_ms: u64) {
        self.minute(now_ms).started = true;
    }

    /// The collector continued `n` open hours from checkpoints lacking trees.
    pub fn record_restored_incomplete(&mut self, now_ms: u64, n: u64) {
        let minute = self.minute(now_ms);
        minute.restored_incomplete = minute.restored_incomplete.saturating_add(n);
    }

    /// The hour's other reports were rebuilt from the trees the store keeps at `now_ms`
    /// (`ocelot rebuild-reports`): they no longer lack the trees a crash left out of them,
    /// so the hour's marks of a restart from an incomplete checkpoint are cleared.
    pub fn record_rebuilt(&mut self, now_ms: u64) {
        self.rebuilt_ms = now_ms;
        for minute in self.minutes.values_mut() {
            minute.restored_incomplete = 0;
        }
    }

    /// When the hour's other reports were last rebuilt from the stored trees, epoch ms.
    pub fn rebuilt_ms(&self) -> Option<u64> {
        (self.rebuilt_ms > 0).then_some(self.rebuilt_ms)
    }

    /// `n` trees fell outside the accepted hours.
    pub fn record_out_of_window(&mut self, now_ms: u64, n: u64) {
        let minute = self.minute(now_ms);
        minute.out_of_window = minute.out_of_window.saturating_add(n);
    }

    /// `analyzer` spent `duration_us` on `trees` trees.
    pub fn record_processing(&mut self, now_ms: u64, analyzer: &str, trees: u64, duration_us: u64) {
        let mut folded = 0;
        let p = capped_entry(
            &mut self.minute(now_ms).processing,
            analyzer,
            MAX_STATE_KEYS,
            MAX_KEY_CHARS,
            &mut folded,
        );
        p.count = p.count.saturating_add(trees);
        p.total_us = p.total_us.saturating_add(duration_us);
        p.max_us = p.max_us.max(duration_us);
    }

    /// The process's resident set size was `bytes`; the minute keeps the largest.
    pub fn record_rss(&mut self, now_ms: u64, bytes: u64) {
        let minute = self.minute(now_ms);
        minute.rss_bytes = minute.rss_bytes.max(bytes);
    }

    /// Adds `other` (another collector's, or a checkpoint's) to this report.
    pub fn merge(&mut self, other: &StateReport) {
        if self.hour == 0 {
            self.hour = other.hour;
        }
        for (minute, theirs) in &other.minutes {
            self.minutes.entry(*minute).or_default().merge(theirs);
        }
        self.rebuilt_ms = self.rebuilt_ms.max(other.rebuilt_ms);
    }

    /// The seconds of the hour the collector has run, given the seconds of it that have
    /// elapsed: from its first minute with a sample on, so a collector started at :58 has
    /// its two minutes' trees over two minutes, not over the hour. Minutes are the
    /// collector's clock's: the trees of an hour that has not begun (taken from :57 of the
    /// one before) are filed at its first minute. A stop and restart within the hour is
    /// counted as run.
    fn running_seconds(&self, elapsed_seconds: f64) -> f64 {
        let seconds = rate_seconds(
            elapsed_seconds,
            self.minutes.keys().next_back().copied(),
            SECONDS_PER_MINUTE,
        );
        let first = self.minutes.keys().next().copied().unwrap_or(0);
        (seconds - f64::from(first) * SECONDS_PER_MINUTE).max(SECONDS_PER_MINUTE)
    }

    /// What `GET /api/state` returns. `query.elapsed_seconds` gives `treesPerSecond`; `ip`
    /// and `type_` are ignored.
    pub fn view(&self, query: &ViewQuery<'_>) -> StateView {
        let mut total = StateMinute::default();
        for minute in self.minutes.values() {
            total.merge(minute);
        }
        let trees = total.domains.values().map(|r| r.trees).sum();
        let (lost, duplicates) = split_drops(&total.drops, total.out_of_window);
        let (lost_to_reports, lost_to_store) = lost_parts(&lost);
        StateView {
            hour: hour_label(self.hour),
            trees,
            bytes: total.domains.values().map(|r| r.bytes).sum(),
            trees_per_second: tps(trees, self.running_seconds(query.elapsed_seconds)),
            decode_errors: total.decode_errors.values().sum(),
            drops: total.drops.values().flat_map(|r| r.values()).sum(),
            lost: lost_to_reports.max(lost_to_store),
            lost_to_reports,
            lost_to_store,
            duplicates,
            out_of_window: total.out_of_window,
            rss_bytes: total.rss_bytes,
            started_minutes: self.started_minutes().collect(),
            restored_incomplete: total.restored_incomplete,
            restored_incomplete_minutes: self.restored_incomplete_minutes().collect(),
            rebuilt_ms: self.rebuilt_ms,
            domains: total
                .domains
                .iter()
                .map(|(d, r)| (d.to_owned(), received_view(r)))
                .collect(),
            minutes: self
                .minutes
                .iter()
                .map(|(minute, m)| {
                    let (lost, duplicates) = split_drops(&m.drops, m.out_of_window);
                    let (to_reports, to_store) = lost_parts(&lost);
                    StateMinuteView {
                        minute: *minute,
                        trees: m.domains.values().map(|r| r.trees).sum(),
                        bytes: m.domains.values().map(|r| r.bytes).sum(),
                        domains: m
                            .domains
                            .iter()
                            .map(|(d, r)| (d.to_owned(), received_view(r)))
                            .collect(),
                        decode_errors: m.decode_errors.clone(),
                        drops: m.drops.clone(),
                        lost: to_reports.max(to_store),
                        duplicates,
                        queue_depths: m.queue_depths.clone(),
                        out_of_window: m.out_of_window,
                        processing: m
                            .processing
                            .iter()
                            .map(|(a, p)| {
                                let view = ProcessingView {
                                    trees: p.count,
                                    avg_ms: p.total_us as f64 / p.count.max(1) as f64 / 1000.0,
                                    max_ms: p.max_us as f64 / 1000.0,
                                };
                                (a.clone(), view)
                            })
                            .collect(),
                        rss_bytes: m.rss_bytes,
                    }
                })
                .collect(),
        }
    }
}

fn received_view(r: &Received) -> ReceivedView {
    ReceivedView {
        trees: r.trees,
        bytes: r.bytes,
    }
}

/// `GET /api/state`: the hour's totals and its minutes.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StateView {
    /// `YYYYMMDDHH` (UTC).
    pub hour: String,
    /// Trees received.
    pub trees: u64,
    /// Frame bytes received.
    pub bytes: u64,
    /// Trees per second over the seconds of the hour the collector has run (from its first
    /// minute with a sample).
    pub trees_per_second: f64,
    /// Malformed frames.
    pub decode_errors: u64,
    /// Trees dropped by any report worker or the store, the store's duplicates among them
    /// (kept as it was for existing readers: `lost` and `duplicates` tell them apart).
    pub drops: u64,
    /// Trees lost, each once: the larger of `lost_to_reports` and `lost_to_store`, so never
    /// more than were received and out of the window. It once added every stage up, and a
    /// tree dropped by both the store and its report worker counted twice (20,000 trees
    /// received, 34,796 lost). Which of the two a tree lost is in those parts.
    pub lost: u64,
    /// Trees not counted in the reports: out of the hour window, or dropped by a report
    /// worker (`ocelot_dropped_trees_total` of the `worker` and `collector` stages).
    pub lost_to_reports: u64,
    /// Trees not stored, so not findable by their ID: out of the hour window, or dropped by
    /// the store for any reason but a duplicate ID (`ocelot_dropped_trees_total` of the
    /// `store` and `collector` stages). One tree may be in both parts.
    pub lost_to_store: u64,
    /// Trees the store refused for a message ID stored before ([`DUPLICATE_DROP`]):
    /// counted in the reports and findable by the ID, only not stored again; not lost.
    pub duplicates: u64,
    /// Trees outside the accepted hours.
    pub out_of_window: u64,
    /// Largest resident set size seen.
    pub rss_bytes: u64,
    /// The minutes in which the collector started, ascending: it watched the hour from
    /// the first.
    pub started_minutes: Vec<u8>,
    /// Times a start found the hour's checkpoints lacking trees (after a crash or kill -9)
    /// and continued it from them, or found it closed with them as its reports: the
    /// reports count less than was received.
    pub restored_incomplete: u64,
    /// The minutes [`StateView::restored_incomplete`] was recorded in, ascending: the
    /// start's own, or one just after it (reports written before the mark took the
    /// start's minute), or the hour's last for an hour that closed before the start.
    pub restored_incomplete_minutes: Vec<u8>,
    /// When the hour's other reports were last rebuilt from the stored trees
    /// (`ocelot rebuild-reports`), epoch ms; 0 when never (left out of the JSON then).
    #[serde(skip_serializing_if = "is_zero")]
    pub rebuilt_ms: u64,
    /// Per domain over the hour.
    pub domains: BTreeMap<String, ReceivedView>,
    /// Minutes with any figure, ascending.
    pub minutes: Vec<StateMinuteView>,
}

/// Trees and bytes received.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReceivedView {
    /// Trees.
    pub trees: u64,
    /// Frame bytes.
    pub bytes: u64,
}

/// One minute of the collector.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StateMinuteView {
    /// Minute of the hour.
    pub minute: u8,
    /// Trees received.
    pub trees: u64,
    /// Frame bytes received.
    pub bytes: u64,
    /// Per domain.
    pub domains: BTreeMap<String, ReceivedView>,
    /// Reason -> malformed frames.
    pub decode_errors: BTreeMap<String, u64>,
    /// Report worker (or `store`) -> reason -> dropped trees, the store's duplicates among
    /// them.
    pub drops: BTreeMap<String, BTreeMap<String, u64>>,
    /// Trees lost in the minute, as [`StateView::lost`].
    pub lost: u64,
    /// Trees not stored for a duplicate ID in the minute, as [`StateView::duplicates`].
    pub duplicates: u64,
    /// Queue -> deepest depth.
    pub queue_depths: BTreeMap<String, u64>,
    /// Trees outside the accepted hours.
    pub out_of_window: u64,
    /// Analyzer -> processing time.
    pub processing: BTreeMap<String, ProcessingView>,
    /// Largest resident set size.
    pub rss_bytes: u64,
}

impl StateMinuteView {
    /// The trees this minute lost, by stage and reason, the out-of-window ones first (as
    /// [`OUT_OF_WINDOW_DROP`]) and the duplicates left out. A tree the store and its report
    /// worker both dropped is under each: they add up to drops, not to
    /// [`StateMinuteView::lost`].
    pub fn lost_by_reason(&self) -> Vec<(DropKey<'_>, u64)> {
        split_drops(&self.drops, self.out_of_window).0
    }
}

/// How long an analyzer took.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcessingView {
    /// Trees processed.
    pub trees: u64,
    /// Mean time per tree (ms).
    pub avg_ms: f64,
    /// Longest single recorded duration (ms).
    pub max_ms: f64,
}
