//! [`ReceivedCounts`]: trees and bytes received per domain and minute, counted on the
//! socket threads for the State report.
//!
//! The State worker used to take every batch only to add these up: about 0.3 us a tree of
//! a core (wakeups, a loop over the trees), and under overload its own queue dropped
//! trees, so the State report undercounted exactly when it mattered. Now `dispatch` adds a
//! batch's trees here under one lock, whatever the workers' queues do, and the State
//! worker moves the sums into its report before it answers, checkpoints or samples.

use std::collections::BTreeMap;
use std::sync::Mutex;

use hashbrown::HashMap;
use ocelot_analyzer::OTHERS;

use crate::worker::TreeItem;

/// Distinct domains kept per minute between two drains; more are added under `OTHERS`
/// (the State report folds past its own cap of a thousand anyway).
const MAX_PENDING_DOMAINS: usize = 10_000;

/// `(trees, bytes)` by domain (foldhash: this is looked up for every tree), for one
/// `(hour, minute start ms)`.
pub(crate) type Received = BTreeMap<(u64, u64), HashMap<String, (u64, u64)>>;

/// Counts waiting for the State worker.
#[derive(Debug, Default)]
pub(crate) struct ReceivedCounts {
    pending: Mutex<Received>,
}

impl ReceivedCounts {
    /// Adds every tree of a batch: its hour, the minute it arrived, its domain as sent.
    pub(crate) fn add(&self, trees: &[TreeItem]) {
        if trees.is_empty() {
            return;
        }
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        for item in trees {
            let minute_ms = item.received_ms - item.received_ms % 60_000;
            let domains = pending.entry((item.hour, minute_ms)).or_default();
            let domain = item.scan.domain(&item.frame);
            let bytes = item.frame.len() as u64;
            if let Some(sums) = domains.get_mut(domain.as_ref()) {
                add(sums, bytes);
                continue;
            }
            let key = if domains.len() >= MAX_PENDING_DOMAINS {
                OTHERS.to_owned()
            } else {
                domain.into_owned()
            };
            add(domains.entry(key).or_default(), bytes);
        }
    }

    /// Everything counted since the last call.
    pub(crate) fn take(&self) -> Received {
        std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

fn add(sums: &mut (u64, u64), bytes: u64) {
    sums.0 = sums.0.saturating_add(1);
    sums.1 = sums.1.saturating_add(bytes);
}
