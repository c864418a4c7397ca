//! Per-thread wall clock in microseconds from one cheap counter read.
//!
//! A transaction needs an epoch start time and a duration, so reading `SystemTime` and
//! `Instant` at start and end would cost four clock reads; on the VMs we measure on,
//! `clock_gettime` costs about 54 ns each. Each thread instead anchors the wall clock to a TSC
//! reading once (`fastant`, the clock fastrace uses; it falls back to the OS clock where the
//! TSC is unusable) and derives epoch microseconds from one counter read afterwards. The
//! anchor is refreshed at most every [`REANCHOR_AFTER`] (checked every
//! [`REFRESH_CHECK_EVERY`] roots), so NTP corrections reach the timestamps soon.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long an anchor is trusted before the wall clock is read again.
const REANCHOR_AFTER: Duration = Duration::from_secs(60);

/// Checking the anchor's age costs a counter read, so it is checked every this many roots.
const REFRESH_CHECK_EVERY: u32 = 1024;

/// One thread's clock.
pub(crate) struct Clock {
    /// When the anchor was taken, and the anchor.
    anchor: Option<(fastant::Instant, fastant::Anchor)>,
    /// Added to every reading; tests move time to hour boundaries with it.
    pub(crate) offset_us: i64,
    /// Roots started since the anchor's age was last checked.
    roots: u32,
}

fn epoch_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

impl Clock {
    pub(crate) const fn new() -> Self {
        Clock {
            anchor: None,
            offset_us: 0,
            roots: 0,
        }
    }

    /// Epoch microseconds now.
    pub(crate) fn now_us(&mut self) -> u64 {
        let anchor = match &self.anchor {
            Some((_, anchor)) => *anchor,
            None => self.reanchor(),
        };
        (fastant::Instant::now().as_unix_nanos(&anchor) / 1000)
            .saturating_add_signed(self.offset_us)
    }

    /// Re-reads the wall clock if the anchor is stale; called when a root starts.
    pub(crate) fn refresh(&mut self) {
        self.roots += 1;
        if self.roots < REFRESH_CHECK_EVERY && self.anchor.is_some() {
            return;
        }
        self.roots = 0;
        if self
            .anchor
            .is_none_or(|(taken, _)| taken.elapsed() > REANCHOR_AFTER)
        {
            self.reanchor();
        }
    }

    fn reanchor(&mut self) -> fastant::Anchor {
        let anchor = fastant::Anchor::new();
        self.anchor = Some((fastant::Instant::now(), anchor));
        anchor
    }
}

/// Epoch milliseconds now, for code off the hot path.
pub(crate) fn now_ms() -> u64 {
    epoch_us() / 1000
}

#[cfg(test)]
mod tests {
    use super::*;

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
