//! [`UpMinutes`]: which minutes of some hours the collector was running in, from its State
//! reports ([`ReportHistory::state`]). A minute without messages while it ran is a quiet
//! minute (counts 0); a minute it was down is no data, and the reports cannot tell the two
//! apart: both have no records.
//!
//! The collector samples its own figures every few seconds while it runs, so a minute it
//! ran in has a sample ([`ocelot_analyzer::StateReport::sampled_minutes`]), and it takes
//! one as it starts, marking that minute as a start
//! ([`ocelot_analyzer::StateReport::started_minutes`]). A minute counts as up when it and
//! the minutes either side have a sample and it is not a start: the first and last minute
//! of a run are partial (a server started at 03:24:09 counted 51 s of 03:24, which would
//! read as a drop), and the live engine never evaluates them either. Live evaluation
//! starts at the minute after the collector's start (`Engine::start_after`), which is
//! exactly the minute after the one marked: a start at 11:59:58 evaluates 12:00, and a
//! stop and restart within 12:08 evaluates neither run's 12:08, though both sampled it.
//! Reports written before starts were marked have none: there the minute before the
//! first sample tells the start, and a start in a minute's last seconds (its first sample
//! in the next minute) reads one minute late.
//!
//! A neighbour that cannot be known does not count against a minute, which is then judged
//! by its own sample (and its other neighbour's):
//! - a minute after the newest one that can have a sample (`newest_minute`: in a replay up
//!   to now the last minute stored whole, live the last complete minute): the newest minute
//!   is not partial for lack of a later one, whose sample is not stored yet because it is
//!   now;
//! - a minute of an hour without a State report that the source watched
//!   ([`ReportHistory::covers`]): an hour stored before the collector kept State reports
//!   (which counts as up throughout), or an open hour read from the running collector, whose
//!   State report the live source does not hand over (see `Overlay`'s `state`).
//!
//! A baseline's look-back days lie in the past however recent they are, so they are read
//! with the State reports as stored ([`UpMinutes::read_past`]), the open hour's checkpoint
//! included: yesterday's 23:59 is judged by today's 00:00 sample, live as in a replay, and
//! read as down when the collector stopped in its last seconds. Only without a checkpoint
//! of today's first hour yet is 23:59 judged by its own sample.
//!
//! A minute of an hour the source did not watch at all, in the past, had no sample: the
//! collector was not running then.
//!
//! Non-goal: telling down minutes in data stored before the collector kept a State report.
//! An hour without one counts as up throughout, as every hour did before.

use std::sync::Arc;

use ocelot_analyzer::StateReport;

use crate::report_history::ReportHistory;
use crate::time::MINUTES_PER_HOUR;

/// Which minutes of the hours read the collector was up in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UpMinutes {
    /// The epoch minute `up[0]` stands for.
    first_minute: u64,
    up: Vec<bool>,
}

/// A State report's minutes, bit `m` for minute `m` of the hour.
#[derive(Debug, Clone, Copy)]
struct Sampled {
    /// Minutes with a sample.
    taken: u64,
    /// Minutes the collector started in.
    started: u64,
}

/// What is known of a minute's sample, as the neighbour of a minute being judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sample {
    Taken,
    Missing,
    /// Not known: the minute has not been stored whole yet, or its hour was watched but its
    /// State report is not at hand. It does not count against its neighbour.
    Unknown,
}

impl UpMinutes {
    /// Reads the State reports of the hours `first_hour..=last_hour` (and, where the edge
    /// hours have one, of the hours either side), each once. `newest_minute` is the newest
    /// minute that can have a sample (`None`: all minutes read are in the past and stored):
    /// later minutes do not count against their neighbours (see the module docs).
    pub(crate) fn read(
        history: &dyn ReportHistory,
        first_hour: u64,
        last_hour: u64,
        newest_minute: Option<u64>,
    ) -> Self {
        Self::read_from(
            history,
            |hour| history.state(hour),
            first_hour,
            last_hour,
            newest_minute,
        )
    }

    /// [`UpMinutes::read`] for hours in the past (a baseline's look-back days): the State
    /// reports as stored ([`ReportHistory::stored_state`]), also of the hour after them if
    /// it is an open hour the live source watches, so that live and replay judge the last
    /// minute of the day before alike.
    pub(crate) fn read_past(history: &dyn ReportHistory, first_hour: u64, last_hour: u64) -> Self {
        Self::read_from(
            history,
            |hour| history.stored_state(hour),
            first_hour,
            last_hour,
            None,
        )
    }

    fn read_from(
        history: &dyn ReportHistory,
        state_of: impl Fn(u64) -> Option<Arc<StateReport>>,
        first_hour: u64,
        last_hour: u64,
        newest_minute: Option<u64>,
    ) -> Self {
        let sampled = |hour: u64| -> Option<Sampled> {
            let state = state_of(hour)?;
            Some(Sampled {
                taken: minute_bits(state.sampled_minutes()),
                started: minute_bits(state.started_minutes()),
            })
        };
        // The hours read with one either side (`None`: there is no hour before hour 0).
        let hours: Vec<Option<u64>> = std::iter::once(first_hour.checked_sub(1))
            .chain((first_hour..=last_hour).map(Some))
            .chain(std::iter::once(last_hour.checked_add(1)))
            .collect();
        let last = hours.len() - 1;
        let mut states: Vec<Option<Sampled>> = vec![None; hours.len()];
        for (i, hour) in hours.iter().enumerate().take(last).skip(1) {
            states[i] = hour.and_then(sampled);
        }
        // The hours either side matter only next to an hour that has a State report.
        if states[1].is_some() {
            states[0] = hours[0].and_then(sampled);
        }
        if states[last - 1].is_some() {
            states[last] = hours[last].and_then(sampled);
        }
        // Per hour without a State report next to one that has it, whether the source
        // watched it (its minutes' samples are then unknown, not missing).
        let watched: Vec<bool> = (0..hours.len())
            .map(|i| {
                let beside_state = (i > 0 && states[i - 1].is_some())
                    || states.get(i + 1).is_some_and(Option::is_some);
                states[i].is_none()
                    && beside_state
                    && hours[i].is_some_and(|hour| history.covers(hour))
            })
            .collect();
        let minutes = MINUTES_PER_HOUR as usize;
        // The sample of minute `m` of `hours[i]`.
        let sample = |i: usize, m: usize| -> Sample {
            let Some(hour) = hours[i] else {
                return Sample::Missing;
            };
            let minute = hour * MINUTES_PER_HOUR + m as u64;
            match states[i] {
                _ if newest_minute.is_some_and(|newest| minute > newest) => Sample::Unknown,
                Some(bits) if (bits.taken >> m) & 1 == 1 => Sample::Taken,
                Some(_) => Sample::Missing,
                None if watched[i] => Sample::Unknown,
                None => Sample::Missing,
            }
        };
        let mut up = Vec::with_capacity((last - 1) * minutes);
        for (i, &state) in states.iter().enumerate().take(last).skip(1) {
            for m in 0..minutes {
                let Some(bits) = state else {
                    up.push(true);
                    continue;
                };
                let before = if m == 0 {
                    sample(i - 1, minutes - 1)
                } else {
                    sample(i, m - 1)
                };
                let after = if m == minutes - 1 {
                    sample(i + 1, 0)
                } else {
                    sample(i, m + 1)
                };
                up.push(
                    (bits.taken >> m) & 1 == 1
                        && (bits.started >> m) & 1 == 0
                        && before != Sample::Missing
                        && after != Sample::Missing,
                );
            }
        }
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

/// Minutes of an hour as bits, bit `m` for minute `m`.
fn minute_bits(minutes: impl Iterator<Item = u8>) -> u64 {
    minutes
        .filter(|&m| u64::from(m) < MINUTES_PER_HOUR)
        .fold(0, |bits, m| bits | 1 << m)
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
        let up = UpMinutes::read(&history, HOUR, HOUR, None);
        assert_eq!(up_list(&up, HOUR), (0..9).chain(51..60).collect::<Vec<_>>());
    }

    #[test]
    fn a_start_minute_is_down_and_the_minute_after_it_up_however_late_the_start() {
        let mut history = MemoryHistory::new();
        history.insert_state(state(HOUR + 1, 0..60));
        // Started at 00:09:58: its first sample, taken at once, is in 00:09.
        let mut started = state(HOUR, 9..60);
        started.record_start(HOUR * 3_600_000 + 9 * 60_000 + 58_000);
        history.insert_state(started);
        let up = UpMinutes::read(&history, HOUR, HOUR, None);
        assert_eq!(up_list(&up, HOUR), (10..60).collect::<Vec<_>>());
    }

    #[test]
    fn a_minute_sampled_by_a_run_that_stopped_in_it_and_the_next_run_is_down() {
        let mut history = MemoryHistory::new();
        history.insert_state(state(HOUR - 1, 0..60));
        history.insert_state(state(HOUR + 1, 0..60));
        // Stopped at 00:08:40 (its last sample then), started again at 00:08:50.
        let mut restarted = state(HOUR, 0..60);
        restarted.record_start(HOUR * 3_600_000 + 8 * 60_000 + 50_000);
        history.insert_state(restarted);
        let up = UpMinutes::read(&history, HOUR, HOUR, None);
        let expected: Vec<u64> = (0..60).filter(|&m| m != 8).collect();
        assert_eq!(up_list(&up, HOUR), expected);
    }

    #[test]
    fn an_hour_without_a_state_report_is_up_throughout_and_reads_as_down_beside_one() {
        let mut history = MemoryHistory::new();
        // Started during minute 0 of HOUR, after an hour without any State report; stopped
        // during minute 59 of HOUR + 1, before HOUR + 2 had one.
        history.insert_state(state(HOUR, 0..60));
        history.insert_state(state(HOUR + 1, 0..60));
        let up = UpMinutes::read(&history, HOUR - 1, HOUR + 2, None);
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
        let alone = UpMinutes::read(&history, HOUR, HOUR, None);
        assert_eq!(up_list(&alone, HOUR), (1..60).collect::<Vec<_>>());
        assert!(alone.contains(HOUR * 60 - 1) && alone.contains((HOUR + 1) * 60));
    }

    #[test]
    fn the_newest_minute_stored_is_up_though_the_next_has_no_sample_yet() {
        let mut history = MemoryHistory::new();
        history.insert_state(state(HOUR - 1, 0..60));
        // Now is 00:32: the store's State report has samples up to 00:30 (stored whole),
        // 00:31's is not written yet.
        history.insert_state(state(HOUR, 0..31));
        let now = UpMinutes::read(&history, HOUR, HOUR, Some(HOUR * 60 + 30));
        assert_eq!(up_list(&now, HOUR), (0..31).collect::<Vec<_>>());
        // Read later, with the minutes after it stored, the collector stopped during 00:30.
        let later = UpMinutes::read(&history, HOUR, HOUR, None);
        assert_eq!(up_list(&later, HOUR), (0..30).collect::<Vec<_>>());
        // At 00:59 the next minute is the next hour's, not stored yet either.
        history.insert_state(state(HOUR, 0..60));
        let now = UpMinutes::read(&history, HOUR, HOUR, Some(HOUR * 60 + 59));
        assert_eq!(up_list(&now, HOUR), (0..60).collect::<Vec<_>>());
    }

    #[test]
    fn a_minute_beside_a_watched_hour_without_a_state_report_is_judged_by_its_own_sample() {
        let mut history = MemoryHistory::new();
        history.insert_state(state(HOUR, 0..60));
        // HOUR - 1 and HOUR + 1 have no State report. Not watched, the collector was not
        // running then: 00:00 and 00:59 are partial.
        let up = UpMinutes::read(&history, HOUR, HOUR, None);
        assert_eq!(up_list(&up, HOUR), (1..59).collect::<Vec<_>>());
        // Watched (stored before State reports were kept, or the open hour of a running
        // collector): their samples are unknown, not missing.
        history.cover(HOUR - 1);
        history.cover(HOUR + 1);
        let up = UpMinutes::read(&history, HOUR, HOUR, None);
        assert_eq!(up_list(&up, HOUR), (0..60).collect::<Vec<_>>());
        // Inside the hours read too.
        let up = UpMinutes::read(&history, HOUR - 1, HOUR + 1, None);
        assert_eq!(up_list(&up, HOUR), (0..60).collect::<Vec<_>>());
        // A watched hour's State report, where there is one, is read all the same.
        history.insert_state(state(HOUR + 1, 1..60));
        let up = UpMinutes::read(&history, HOUR, HOUR, None);
        assert_eq!(up_list(&up, HOUR), (0..59).collect::<Vec<_>>());
    }
}
