//! Per-thread wall clock in microseconds from one monotonic read.
//!
//! `SystemTime::now()` and `Instant::now()` are both vDSO calls on Linux, but a transaction
//! needs a start timestamp (epoch) and a duration (monotonic). Reading both twice per
//! transaction doubles the cost, so each thread anchors an epoch time to an `Instant` once and
//! derives epoch microseconds from `Instant::elapsed` afterwards. The anchor is refreshed at
//! most every [`REANCHOR_AFTER`] (checked every [`REFRESH_CHECK_EVERY`] roots), so NTP
//! corrections reach the timestamps soon.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long an anchor is trusted before the wall clock is read again.
const REANCHOR_AFTER: Duration = Duration::from_secs(60);

/// One thread's clock.
#[derive(Debug, Default)]
pub(crate) struct Clock {
    anchor: Option<(Instant, u64)>,
    /// Added to every reading; tests move time to hour boundaries with it.
    pub(crate) offset_us: i64,
    /// Roots started since the anchor's age was last checked.
    roots: u32,
}

/// Checking the anchor's age costs a clock read, so it is checked every this many roots.
const REFRESH_CHECK_EVERY: u32 = 1024;

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
        let (instant, epoch) = match self.anchor {
            Some(anchor) => anchor,
            None => self.reanchor(),
        };
        let elapsed = u64::try_from(instant.elapsed().as_micros()).unwrap_or(u64::MAX);
        epoch
            .saturating_add(elapsed)
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
            .is_none_or(|(instant, _)| instant.elapsed() > REANCHOR_AFTER)
        {
            self.reanchor();
        }
    }

    fn reanchor(&mut self) -> (Instant, u64) {
        let anchor = (Instant::now(), epoch_us());
        self.anchor = Some(anchor);
        anchor
    }
}

/// Epoch milliseconds now, for code off the hot path.
pub(crate) fn now_ms() -> u64 {
    epoch_us() / 1000
}
