//! [`RateLimitedLog`]: a misbehaving client sending garbage a thousand times a second must not
//! flood the log; the first lines of each interval get through, then one line carries the
//! count of what was held back.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Lets through the first `burst` events of each `interval` and counts the rest.
///
/// One per call site (a `static`) caps that site's lines whatever their source; one per
/// connection caps each client on its own. The lock is taken only on the error path, never
/// per good frame. Only `std`, so it can move to any crate (e.g. the collector's
/// per-connection warnings) as is.
///
/// ```text
/// static BAD_FRAME_LOG: RateLimitedLog = RateLimitedLog::new(10, Duration::from_secs(10));
/// BAD_FRAME_LOG.log(|suppressed| tracing::warn!(%peer, %err, suppressed, "bad frame"));
/// ```
#[derive(Debug)]
pub(crate) struct RateLimitedLog {
    burst: u64,
    interval: Duration,
    window: Mutex<Window>,
}

/// One limiter's state: the current interval and what it let through and held back.
#[derive(Debug, Default)]
pub(crate) struct Window {
    /// When the current interval began (`None` before the first event).
    started: Option<Instant>,
    /// Events let through in this interval.
    logged: u64,
    /// Events held back since the last one let through.
    suppressed: u64,
}

impl Window {
    /// The decision for an event at `now`, at most `burst` per `interval`: `Some(suppressed)`
    /// to log it, `None` to hold it back (counted).
    pub(crate) fn check(&mut self, now: Instant, burst: u64, interval: Duration) -> Option<u64> {
        let expired = self
            .started
            .is_none_or(|started| now.saturating_duration_since(started) >= interval);
        if expired {
            self.started = Some(now);
            self.logged = 0;
        }
        if self.logged < burst {
            self.logged += 1;
            Some(std::mem::take(&mut self.suppressed))
        } else {
            self.suppressed += 1;
            None
        }
    }

    /// Whether the interval begun by the last event let through has passed at `now`.
    pub(crate) fn is_over(&self, now: Instant, interval: Duration) -> bool {
        self.started
            .is_none_or(|started| now.saturating_duration_since(started) >= interval)
    }

    /// Takes the count of events held back so far (then reported elsewhere).
    pub(crate) fn take_suppressed(&mut self) -> u64 {
        std::mem::take(&mut self.suppressed)
    }
}

impl RateLimitedLog {
    /// At most `burst` lines per `interval` (a `burst` of 0 behaves as 1).
    pub(crate) const fn new(burst: u64, interval: Duration) -> RateLimitedLog {
        RateLimitedLog {
            burst: if burst == 0 { 1 } else { burst },
            interval,
            window: Mutex::new(Window {
                started: None,
                logged: 0,
                suppressed: 0,
            }),
        }
    }

    /// Calls `emit(suppressed)` if this event may be logged now, where `suppressed` is how
    /// many events were held back since the last one logged (put it in the line); else
    /// counts the event.
    pub(crate) fn log(&self, emit: impl FnOnce(u64)) {
        if let Some(suppressed) = self.check_at(Instant::now()) {
            emit(suppressed);
        }
    }

    /// The decision for an event at `now`: `Some(suppressed)` to log it, `None` to hold it
    /// back (counted).
    pub(crate) fn check_at(&self, now: Instant) -> Option<u64> {
        // A poisoned lock only means another thread panicked mid-update of two counters:
        // the counts may be off by one, which is fine for a log limiter.
        let mut w = self.window.lock().unwrap_or_else(|p| p.into_inner());
        w.check(now, self.burst, self.interval)
    }

    /// Starts afresh, as before the first event: for a problem that went away (and was said
    /// to), so that its return is logged at once, not when the interval ends.
    pub(crate) fn reset(&self) {
        let mut w = self.window.lock().unwrap_or_else(|p| p.into_inner());
        w.started = None;
        w.logged = 0;
        w.suppressed = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_logs_the_burst_then_one_line_per_interval_with_the_suppressed_count() {
        let limit = RateLimitedLog::new(3, Duration::from_secs(10));
        let t0 = Instant::now();
        // 1000 events in the first second: 3 logged, 997 held back.
        let decisions: Vec<Option<u64>> = (0..1000)
            .map(|i| limit.check_at(t0 + Duration::from_millis(i)))
            .collect();
        assert_eq!(decisions[..3], [Some(0), Some(0), Some(0)]);
        assert!(decisions[3..].iter().all(Option::is_none));
        // Still inside the interval: held back.
        assert_eq!(limit.check_at(t0 + Duration::from_secs(9)), None);
        // The next interval: the first line carries everything held back so far.
        assert_eq!(limit.check_at(t0 + Duration::from_secs(10)), Some(998));
        assert_eq!(limit.check_at(t0 + Duration::from_secs(11)), Some(0));
        // Reset (the problem went away): the next event is logged at once.
        limit.reset();
        assert_eq!(limit.check_at(t0 + Duration::from_secs(11)), Some(0));
    }

    #[test]
    fn log_calls_the_emitter_only_when_allowed() {
        static LIMIT: RateLimitedLog = RateLimitedLog::new(2, Duration::from_secs(3600));
        let mut emitted = 0;
        for _ in 0..50 {
            LIMIT.log(|_suppressed| emitted += 1);
        }
        assert_eq!(emitted, 2);
    }
}
