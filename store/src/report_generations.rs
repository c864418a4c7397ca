//! [`ReportGenerations`]: a number per hour that changes whenever a report of the hour may
//! have changed on disk, so that a reader keeping parsed reports can tell a kept one from a
//! rewritten one without looking at the file.
//!
//! Design constraints: no lock and no allocation (read on every cached page view, bumped
//! on every report write); exact for the writes of this process, the only writer of its
//! folder ([`crate::Store::open`]). A [`crate::Store::open_read_only`] handle never sees
//! another process's writes here, so readers over one must not cache by it. Non-goal: a
//! number per report. Hours share [`SLOTS`] counters, so a write to one hour also changes
//! the number of the hours a multiple of `SLOTS` away: a reader then reads such an hour
//! again, which costs time, never correctness.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters: 1024 hours is six weeks, longer than retention usually keeps, so the hour
/// being written (the open ones, every checkpoint) rarely shares its counter with an hour
/// a reader keeps.
const SLOTS: usize = 1024;

/// Per hour (by slot), how many times its reports were written, set aside or deleted.
pub(crate) struct ReportGenerations {
    slots: Box<[AtomicU64]>,
}

impl ReportGenerations {
    pub(crate) fn new() -> Self {
        ReportGenerations {
            slots: (0..SLOTS).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    fn slot(&self, hour: u64) -> &AtomicU64 {
        &self.slots[(hour % SLOTS as u64) as usize]
    }

    /// The generation of `hour` now. Read it before reading a report: a report read after
    /// it is at least as new as that generation.
    pub(crate) fn of(&self, hour: u64) -> u64 {
        self.slot(hour).load(Ordering::SeqCst)
    }

    /// Says that a report of `hour` changed. Call it once the change is on disk (after the
    /// rename), so that a reader that sees the new generation also reads the new file.
    pub(crate) fn bump(&self, hour: u64) {
        self.slot(hour).fetch_add(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bump_changes_its_hour_and_hours_a_multiple_of_the_slots_away_only() {
        let generations = ReportGenerations::new();
        let hour = 498_703;
        let before = [hour, hour + 1, hour + SLOTS as u64].map(|h| generations.of(h));
        generations.bump(hour);
        assert_ne!(generations.of(hour), before[0]);
        assert_eq!(generations.of(hour + 1), before[1]);
        assert_ne!(
            generations.of(hour + SLOTS as u64),
            before[2],
            "sharing a slot reads again"
        );
    }
}
