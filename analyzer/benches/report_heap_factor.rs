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
//! spread evenly over the hour (so every minute row is there, as in a sealed report), and
//! for each domain a heartbeat a minute from 8 machines and 20 metric names of each kind
//! (the load generator sends neither). Each
//! domain's report is written as JSON, then parsed under a counting allocator
//! (`stats_alloc`): the bytes requested and not freed (allocator overhead not included).
#![allow(missing_docs)]

use std::alloc::System;
use std::sync::Arc;

use ocelot_analyzer::{AnalyzerConfig, DomainReports, HourAnalyzers};
use ocelot_protocol::sample::SampleTrees;
use ocelot_protocol::{Header, Leaf, Message, MessageTree};
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
    // The load generator sends no heartbeats or metrics: a heartbeat a minute from each of
    // 8 machines per domain (CAT's Java layout with an extension), and 20 metric names per
    // domain, each of the three kinds, reported every minute by each machine.
    for domain in 0..domains {
        let domain = format!("app-{domain}");
        for machine in 0..8u64 {
            let ip = format!("10.0.0.{}", machine + 1);
            for minute in 0..60u64 {
                let at = start_ms + minute * 60_000 + 20_000;
                let tree = |seq: u64, message: Message| {
                    let header = Header {
                        domain: domain.clone(),
                        ip_address: ip.clone(),
                        message_id: format!("{domain}-0a00000{}-{HOUR}-{seq}", machine + 1),
                        ..Header::default()
                    };
                    MessageTree::new(header, message)
                };
                let xml = heartbeat_xml(minute * 8 + machine);
                let heartbeat = Leaf::new("Heartbeat", &ip, "0", at, &xml);
                analyzers.process(&tree(minute * 100, Message::Heartbeat(heartbeat)));
                for name in 0..20u64 {
                    let (status, data) =
                        [("C", "3"), ("S", "12.5"), ("T", "40")][name as usize % 3];
                    let metric = Leaf::new("", format!("metric.{name}"), status, at, data);
                    analyzers.process(&tree(minute * 100 + 1 + name, Message::Metric(metric)));
                }
            }
        }
    }
    measure("transaction", analyzers.transaction.reports());
    measure("event", analyzers.event.reports());
    measure("problem", analyzers.problem.reports());
    measure("heartbeat", analyzers.heartbeat.reports());
    measure("metric", analyzers.metric.reports());
}

/// A heartbeat's status as CAT's Java client lays it out, with an extension of details;
/// `n` varies the figures.
fn heartbeat_xml(n: u64) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<status timestamp="2026-12-07 06:00:20.000">
   <runtime start-time="1765087200000" up-time="{up}" java-version="17.0.15" user-name="app"/>
   <os name="Linux" arch="amd64" available-processors="4" system-load-average="{load}" process-time="{cpu}" total-physical-memory="25165824000" free-physical-memory="{free}" committed-virtual-memory="4294967296" total-swap-space="0" free-swap-space="0"/>
   <disk><disk-volume id="/" total="270582939648" free="{disk}" usable="{disk}"/><disk-volume id="/data" total="1099511627776" free="{disk}" usable="{disk}"/></disk>
   <memory max="2147483648" total="1073741824" free="{heap}" heap-usage="{heap}" non-heap-usage="123456789"><gc name="G1 Young Generation" count="{gc}" time="{gct}"/><gc name="G1 Old Generation" count="1" time="120"/></memory>
   <thread count="{threads}" daemon-count="40" peek-count="90" total-started-count="{started}" cat-thread-count="6" pigeon-thread-count="0" http-thread-count="{http}"/>
   <message produced="{produced}" overflowed="0" bytes="{bytes}"/>
   <extension id="System"><extensionDetail id="LoadAverage" value="{load}"/><extensionDetail id="FreePhysicalMemory" value="{free}"/><extensionDetail id="FreeSwapSpaceSize" value="0"/></extension>
   <extension id="GC"><extensionDetail id="G1YoungCount" value="{gc}"/><extensionDetail id="G1YoungTime" value="{gct}"/></extension>
   <extension id="FrameworkThread"><extensionDetail id="HttpThread" value="{http}"/><extensionDetail id="CatThread" value="6"/></extension>
</status>"#,
        up = 60_000 * (n + 1),
        load = 0.25 + (n % 40) as f64 / 10.0,
        cpu = 1_000_000 * (n + 1),
        free = 10_000_000_000 - n * 1_000_000,
        disk = 200_000_000_000 - n * 4096,
        heap = 500_000_000 + n * 12_345,
        gc = 10 + n,
        gct = 300 + 7 * n,
        threads = 60 + n % 30,
        started = 200 + n,
        http = 20 + n % 10,
        produced = 1_000 * (n + 1),
        bytes = 650_000 * (n + 1),
    )
}
