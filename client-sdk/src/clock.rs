//! Per-thread wall clock in microseconds from one cheap counter read.
//!
//! A transaction needs an epoch start time and a duration, so reading `SystemTime` and
//! `Instant` at start and end would cost four clock reads; on the VMs we measure on,
//! `clock_gettime` costs about 54 ns each. Each thread instead anchors the wall clock to a TSC
//! reading once (`fastant`, the clock fastrace uses; it falls back to the OS clock where the
//! TSC is unusable) and derives epoch microseconds from one counter read afterwards.
//!
//! The first root a thread starts once its anchor is older than [`REANCHOR_AFTER`] re-reads
//! the wall clock, so a step of the system clock (NTP correcting a VM) reaches the timestamps,
//! and the hour in the message IDs, of every thread however rarely it starts a root (the
//! heartbeat thread: one a minute). Only at a root:
//! re-anchoring inside a tree would put a step between a transaction's start and end. The age
//! check is one more counter read per root (not per message) compared with a deadline fixed
//! when the anchor was taken; counting roots between checks instead left quiet threads on a
//! stale anchor for hours.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long an anchor is trusted before the wall clock is read again.
const REANCHOR_AFTER: Duration = Duration::from_secs(60);

/// The wall clock as this thread reads it: the anchor and when it goes stale.
#[derive(Clone, Copy)]
struct Anchored {
    anchor: fastant::Anchor,
    /// From this counter reading on, the next root re-anchors.
    stale_at: fastant::Instant,
}

/// One thread's clock.
pub(crate) struct Clock {
    anchored: Option<Anchored>,
    /// Added to every reading; tests move time to hour boundaries with it.
    pub(crate) offset_us: i64,
    /// [`REANCHOR_AFTER`], shorter in tests.
    reanchor_after: Duration,
}

fn epoch_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

impl Clock {
    pub(crate) const fn new() -> Self {
        Clock {
            anchored: None,
            offset_us: 0,
            reanchor_after: REANCHOR_AFTER,
        }
    }

    /// Epoch microseconds now.
    pub(crate) fn now_us(&mut self) -> u64 {
        let anchor = match &self.anchored {
            Some(anchored) => anchored.anchor,
            None => self.reanchor(),
        };
        (fastant::Instant::now().as_unix_nanos(&anchor) / 1000)
            .saturating_add_signed(self.offset_us)
    }

    /// Re-reads the wall clock if the anchor is stale; called when a root starts.
    pub(crate) fn refresh(&mut self) {
        if self
            .anchored
            .is_none_or(|a| fastant::Instant::now() >= a.stale_at)
        {
            self.reanchor();
        }
    }

    fn reanchor(&mut self) -> fastant::Anchor {
        let anchor = fastant::Anchor::new();
        let taken = fastant::Instant::now();
        // `checked_add` only fails some centuries of uptime from now: then never stale.
        let stale_at = taken.checked_add(self.reanchor_after).unwrap_or(taken);
        self.anchored = Some(Anchored { anchor, stale_at });
        anchor
    }
}

/// Epoch milliseconds now, for code off the hot path.
pub(crate) fn now_ms() -> u64 {
    epoch_us() / 1000
}

/// Stands in for a wait too long for an `Instant` to hold.
const FAR_FUTURE: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// `now + wait`, or a century on when that does not fit in an `Instant`: a timeout or interval
/// of `Duration::MAX` given by the application means "no limit", not a panic.
pub(crate) fn instant_after(now: Instant, wait: Duration) -> Instant {
    now.checked_add(wait)
        .or_else(|| now.checked_add(FAR_FUTURE))
        .unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Clock {
        pub(crate) fn reanchoring_after(reanchor_after: Duration) -> Self {
            Clock {
                reanchor_after,
                ..Clock::new()
            }
        }

        /// When the anchor goes stale; each re-anchoring moves it on.
        pub(crate) fn stale_at(&self) -> Option<fastant::Instant> {
            self.anchored.map(|a| a.stale_at)
        }

        /// How old the anchor is (capped at the age that makes it stale).
        fn anchor_age(&self) -> Duration {
            let stale_at = self.anchored.expect("anchored").stale_at;
            let left = stale_at.saturating_duration_since(fastant::Instant::now());
            self.reanchor_after.saturating_sub(left)
        }
    }

    /// A thread that starts few roots (the heartbeat thread: one a minute; a worker of a quiet
    /// service) must still re-read the wall clock once its anchor is older than
    /// `reanchor_after`, so that a corrected system clock reaches its timestamps.
    #[test]
    fn a_thread_starting_few_roots_rereads_the_wall_clock_once_the_anchor_is_stale() {
        let max_age = Duration::from_millis(50);
        let mut clock = Clock::reanchoring_after(max_age);
        clock.refresh();
        // One root now, the next once the anchor is stale.
        std::thread::sleep(max_age + Duration::from_millis(20));
        clock.refresh();
        assert!(
            clock.anchor_age() < max_age,
            "a root started with a stale anchor kept it ({:?} old)",
            clock.anchor_age()
        );
    }

    /// The same with the real `REANCHOR_AFTER`, as the heartbeat thread sees it.
    #[test]
    #[ignore = "sleeps REANCHOR_AFTER (61 s)"]
    fn a_thread_starting_one_root_a_minute_rereads_the_wall_clock() {
        let mut clock = Clock::new();
        clock.refresh();
        std::thread::sleep(REANCHOR_AFTER + Duration::from_secs(1));
        clock.refresh();
        assert!(
            clock.anchor_age() < REANCHOR_AFTER,
            "a root started with a {:?}-old anchor kept it",
            clock.anchor_age()
        );
    }

    /// Roots started while the anchor is fresh keep it: the wall clock is not read per root.
    #[test]
    fn roots_started_within_the_anchor_age_keep_the_anchor() {
        let mut clock = Clock::reanchoring_after(Duration::from_secs(3600));
        clock.refresh();
        let stale_at = clock.anchored.unwrap().stale_at;
        for _ in 0..3 {
            clock.refresh();
        }
        assert_eq!(clock.anchored.unwrap().stale_at, stale_at);
    }

    #[test]
    fn the_clock_follows_the_wall_clock_and_moves_forward() {
        let mut clock = Clock::new();
        let a = clock.now_us();
        std::thread::sleep(Duration::from_millis(5));
        let b = clock.now_us();
        assert!(b >= a + 4_000, "{a} -> {b}");
        assert!(b.abs_diff(epoch_us()) < 50_000, "{b} vs {}", epoch_us());
    }
}
