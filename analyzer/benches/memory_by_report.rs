//! Heap held by each report kind after the load generator's trees (not a timing bench).
//!
//! ```sh
//! cargo bench -p ocelot-analyzer --bench memory_by_report              # 4 groups, 4 M trees
//! OCELOT_PROBE="1 4000000 30" cargo bench -p ocelot-analyzer --bench memory_by_report
//! ```
//!
//! `OCELOT_PROBE` is "groups trees spread_minutes": the trees `ocelot loadgen --domains 50
//! --names 400` sends, for `groups` groups of 8 client machines (one per loadgen
//! connection), stamped at 150 k trees/s from minute 1 or, with `spread_minutes`, evenly
//! over that many minutes. Each tree goes to all five analyzers of one hour; a counting
//! allocator (`stats_alloc`) attributes the bytes requested (allocator overhead not
//! included) to the analyzer that requested them.
#![allow(missing_docs)]

use std::alloc::System;
use std::sync::Arc;

use ocelot_analyzer::{AnalyzerConfig, HourAnalyzers};
use ocelot_protocol::sample::SampleTrees;
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Bytes allocated and not freed since `region` started (`stats_alloc` counts a
/// reallocation's growth as allocated and its shrinking as freed).
fn live_bytes(region: &Region<'_, System>) -> isize {
    let change = region.change();
    change.bytes_allocated as isize - change.bytes_deallocated as isize
}

const HOUR: u64 = 498_703;

fn main() {
    let probe = std::env::var("OCELOT_PROBE").unwrap_or_else(|_| "4 4000000 0".to_owned());
    let args: Vec<u64> = probe
        .split_whitespace()
        .map(|a| a.parse().expect("OCELOT_PROBE: three numbers"))
        .collect();
    let [groups, trees, spread_minutes] = args[..] else {
        panic!("OCELOT_PROBE: groups trees spread_minutes");
    };
    let start_ms = HOUR * 3_600_000 + 60_000;
    let mut analyzers = HourAnalyzers::new(HOUR, &Arc::new(AnalyzerConfig::default()));
    let mut bytes = [0isize; 5];
    let per_group = trees / groups;
    for group in 0..groups {
        let mut samples = SampleTrees::new(group + 1, 50, 400, start_ms)
            .for_client_group(group as u8)
            .distinct_names();
        for i in 0..per_group {
            samples.now_ms = start_ms
                + if spread_minutes > 0 {
                    i * spread_minutes * 60_000 / per_group
                } else {
                    i * 1000 * groups / 150_000
                };
            let tree = samples.tree();
            let mut measure = |slot: usize, process: &mut dyn FnMut()| {
                let region = Region::new(GLOBAL);
                process();
                bytes[slot] += live_bytes(&region);
            };
            measure(0, &mut || analyzers.transaction.process(&tree));
            measure(1, &mut || analyzers.event.process(&tree));
            measure(2, &mut || analyzers.problem.process(&tree));
            measure(3, &mut || analyzers.heartbeat.process(&tree));
            measure(4, &mut || analyzers.metric.process(&tree));
        }
    }
    let mib = |b: isize| b as f64 / 1_048_576.0;
    println!(
        "{groups} group(s) of 8 machines, {trees} trees, spread over {spread_minutes} minute(s): \
         transaction {:.1} MiB, event {:.1}, problem {:.1}, heartbeat {:.1}, metric {:.1}",
        mib(bytes[0]),
        mib(bytes[1]),
        mib(bytes[2]),
        mib(bytes[3]),
        mib(bytes[4])
    );
}
