//! Heap a parsed report takes per byte of its stored JSON, by report kind (not a timing
//! bench): the factors the collector's cache of sealed reports estimates their size by
//! (`collector/src/sealed_reports.rs`, `heap_estimate`).
//!
//! ```sh
//! cargo bench -p ocelot-analyzer --bench report_heap_factor                 # 1 group, 10 domains
//! OCELOT_PROBE="4 400000 5 400" cargo bench -p ocelot-analyzer --bench report_heap_factor
//! ```
//!
//! `OCELOT_PROBE` is "groups trees domains names": the load generator's trees for `groups`
//! groups of 8 client machines, `domains` domains with about `names` root names each,
//! spread evenly over the hour (so every minute row is there, as in a sealed report). Each
//! domain's report is written as JSON, then parsed under a counting allocator
//! (`stats_alloc`): the bytes requested and not freed (allocator overhead not included).
#![allow(missing_docs)]

use std::alloc::System;
use std::sync::Arc;

use ocelot_analyzer::{AnalyzerConfig, DomainReports, HourAnalyzers};
use ocelot_protocol::sample::SampleTrees;
use serde::de::DeserializeOwned;
use serde::Serialize;
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const HOUR: u64 = 498_703;

/// Prints the JSON and heap bytes of `reports` and their ratio, with the lowest and highest
/// ratio of one domain.
fn measure<R: Serialize + DeserializeOwned>(kind: &str, reports: &DomainReports<R>) {
    if reports.is_empty() {
        println!("{kind}: no reports");
        return;
    }
    let (mut json_bytes, mut heap_bytes) = (0usize, 0isize);
    let (mut lowest, mut highest) = (f64::MAX, 0f64);
    for (_, report) in reports.iter() {
        let json = serde_json::to_vec(report).expect("reports serialize");
        let region = Region::new(GLOBAL);
        let parsed: R = serde_json::from_slice(&json).expect("reports parse");
        let change = region.change();
        let heap = change.bytes_allocated as isize - change.bytes_deallocated as isize;
        drop(parsed);
        json_bytes += json.len();
        heap_bytes += heap;
        let factor = heap as f64 / json.len() as f64;
        lowest = lowest.min(factor);
        highest = highest.max(factor);
    }
    let mib = |b: f64| b / 1_048_576.0;
    println!(
        "{kind}: {} reports, JSON {:.2} MiB, parsed {:.2} MiB: {:.2} heap bytes per JSON byte \
         ({lowest:.2} to {highest:.2})",
        reports.len(),
        mib(json_bytes as f64),
        mib(heap_bytes as f64),
        heap_bytes as f64 / json_bytes as f64,
    );
}

fn main() {
    let probe = std::env::var("OCELOT_PROBE").unwrap_or_else(|_| "1 200000 10 400".to_owned());
    let args: Vec<u64> = probe
        .split_whitespace()
        .map(|a| a.parse().expect("OCELOT_PROBE: four numbers"))
        .collect();
    let [groups, trees, domains, names] = args[..] else {
        panic!("OCELOT_PROBE: groups trees domains names");
    };
    let start_ms = HOUR * 3_600_000;
    let mut analyzers = HourAnalyzers::new(HOUR, &Arc::new(AnalyzerConfig::default()));
    let per_group = trees / groups;
    for group in 0..groups {
        let mut samples = SampleTrees::new(group + 1, domains as usize, names, start_ms)
            .for_client_group(group as u8)
            .distinct_names();
        for i in 0..per_group {
            samples.now_ms = start_ms + i * 3_600_000 / per_group;
            analyzers.process(&samples.tree());
        }
    }
    measure("transaction", analyzers.transaction.reports());
    measure("event", analyzers.event.reports());
    measure("problem", analyzers.problem.reports());
    measure("heartbeat", analyzers.heartbeat.reports());
    measure("metric", analyzers.metric.reports());
}
