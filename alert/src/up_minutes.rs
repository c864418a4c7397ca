//! [`UpMinutes`]: which minutes of some hours the collector was running in, from its State
//! reports ([`ReportHistory::state`]). A minute without messages while it ran is a quiet
//! minute (counts 0); a minute it was down is no data, and the reports cannot tell the two
//! apart: both have no records.
//!
//! The collector samples its own figures every few seconds while it runs, so a minute it
//! ran in has a sample ([`ocelot_analyzer::StateReport::sampled_minutes`]). A minute counts
//! as up when it and the minutes either side have one: the first and last minute of a run
//! are partial (a server started at 03:24:09 counted 51 s of 03:24, which would read as a
//! drop), and the live engine never evaluates them either (it starts at the next whole
//! minute, and a stopped one evaluates nothing). A neighbouring minute in an hour without a
//! State report had no sample (the collector was not running then).
//!
//! Non-goal: telling down minutes in data stored before the collector kept a State report.
//! An hour without one counts as up throughout, as every hour did before.

use crate::report_history::ReportHistory;
use crate::time::MINUTES_PER_HOUR;

/// Which minutes of the hours read the collector was up in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UpMinutes {
    /// The epoch minute `up[0]` stands for.
    first_minute: u64,
    up: Vec<bool>,
}

/// A State report's sampled minutes, bit `m` for minute `m` of the hour.
type Sampled = u64;

impl UpMinutes {
    /// Reads the State reports of the hours `first_hour..=last_hour` (and, where the edge
    /// hours have one, of the hours either side), each once.
    pub(crate) fn read(history: &dyn ReportHistory, first_hour: u64, last_hour: u64) -> Self {
        let sampled = |hour: u64| -> Option<Sampled> {
            let state = history.state(hour)?;
            Some(
                state
                    .sampled_minutes()
                    .filter(|&m| u64::from(m) < MINUTES_PER_HOUR)
                    .fold(0, |bits, m| bits | 1 << m),
            )
        };
        let hours: Vec<Option<Sampled>> = (first_hour..=last_hour).map(sampled).collect();
        // The hours either side matter only next to an hour that has a State report.
        let before = match hours.first() {
            Some(Some(_)) => first_hour.checked_sub(1).and_then(sampled),
            _ => None,
        };
        let after = match hours.last() {
            Some(Some(_)) => last_hour.checked_add(1).and_then(sampled),
            _ => None,
        };
        let minutes = MINUTES_PER_HOUR as usize;
        // Sampled or not, per minute, with one minute of the hour before and after; a
        // minute of an hour without a State report reads as not sampled.
        let mut flags = Vec::with_capacity(hours.len() * minutes + 2);
        let sampled_at = |bits: Option<Sampled>, m: usize| bits.is_some_and(|b| (b >> m) & 1 == 1);
        flags.push(sampled_at(before, minutes - 1));
        for &bits in &hours {
            flags.extend((0..minutes).map(|m| sampled_at(bits, m)));
        }
        flags.push(sampled_at(after, 0));
        let up = hours
            .iter()
            .enumerate()
            .flat_map(|(h, bits)| {
                let flags = &flags;
                (0..minutes).map(move |m| {
                    let i = 1 + h * minutes + m;
                    bits.is_none() || (flags[i - 1] && flags[i] && flags[i + 1])
                })
            })
            .collect();
        UpMinutes {
            first_minute: first_hour * MINUTES_PER_HOUR,
            up,
        }
    }

    /// Whether the collector was up in the epoch minute `minute`. Minutes outside the
    /// hours read count as up: nothing is known of them.
    pub(crate) fn contains(&self, minute: u64) -> bool {
        minute
            .checked_sub(self.first_minute)
            .and_then(|i| self.up.get(usize::try_from(i).ok()?))
            .copied()
            .unwrap_or(true)
    }
}

#[cfg(test)]
mod tests {
    use ocelot_analyzer::StateReport;

    use super::*;
    use crate::report_history::MemoryHistory;

    const HOUR: u64 = 498_703;

    /// A State report of `hour` with a sample in each of `minutes`.
    fn state(hour: u64, minutes: impl IntoIterator<Item = u64>) -> StateReport {
        let mut state = StateReport::new(hour);
        for m in minutes {
            state.record_queue_depth(hour * 3_600_000 + m * 60_000 + 5_000, "transaction", 0);
        }
        state
    }

    fn up_list(up: &UpMinutes, hour: u64) -> Vec<u64> {
        (0..60).filter(|m| up.contains(hour * 60 + m)).collect()
    }

    #[test]
    fn minutes_without_a_sample_and_the_partial_minutes_around_them_are_down() {
        let mut history = MemoryHistory::new();
        // Down from 10 to 49 (no samples), up around it.
        history.insert_state(state(HOUR, (0..10).chain(50..60)));
        history.insert_state(state(HOUR - 1, 0..60));
        history.insert_state(state(HOUR + 1, 0..60));
        let up = UpMinutes::read(&history, HOUR, HOUR);
        assert_eq!(up_list(&up, HOUR), (0..9).chain(51..60).collect::<Vec<_>>());
    }

    #[test]
    fn an_hour_without_a_state_report_is_up_throughout_and_reads_as_down_beside_one() {
        let mut history = MemoryHistory::new();
        // Started during minute 0 of HOUR, after an hour without any State report; stopped
        // during minute 59 of HOUR + 1, before HOUR + 2 had one.
        history.insert_state(state(HOUR, 0..60));
        history.insert_state(state(HOUR + 1, 0..60));
        let up = UpMinutes::read(&history, HOUR - 1, HOUR + 2);
        assert_eq!(
            up_list(&up, HOUR - 1),
            (0..60).collect::<Vec<_>>(),
            "unknown"
        );
        assert_eq!(up_list(&up, HOUR), (1..60).collect::<Vec<_>>());
        assert_eq!(up_list(&up, HOUR + 1), (0..59).collect::<Vec<_>>());
        assert_eq!(
            up_list(&up, HOUR + 2),
            (0..60).collect::<Vec<_>>(),
            "unknown"
        );
        // Read one hour at a time, the neighbours are read all the same.
        let alone = UpMinutes::read(&history, HOUR, HOUR);
        assert_eq!(up_list(&alone, HOUR), (1..60).collect::<Vec<_>>());
        assert!(alone.contains(HOUR * 60 - 1) && alone.contains((HOUR + 1) * 60));
    }
}
