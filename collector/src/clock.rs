//! Time as an input: the collector never reads the system clock directly.

use std::sync::atomic::{AtomicU64, Ordering};

/// Where the collector gets "now" from.
pub trait Clock: Send + Sync + 'static {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;
}

/// The real clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    }
}

/// A clock tests set by hand.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicU64);

impl ManualClock {
    /// A clock showing `now_ms`.
    pub fn new(now_ms: u64) -> Self {
        ManualClock(AtomicU64::new(now_ms))
    }

    /// Moves the clock to `now_ms`.
    pub fn set(&self, now_ms: u64) {
        self.0.store(now_ms, Ordering::SeqCst);
    }

    /// Moves the clock forward.
    pub fn advance(&self, ms: u64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// `2026-11-22 07:42:05 UTC`: an epoch-milliseconds time as log lines show it.
pub(crate) fn utc(timestamp_ms: u64) -> String {
    let label = ocelot_analyzer::hour_label(timestamp_ms / 3_600_000);
    // `YYYYMMDDHH`, the year as long as it takes.
    let (date, hour) = label.split_at(label.len() - 2);
    let (year, month_day) = date.split_at(date.len() - 4);
    let (month, day) = month_day.split_at(2);
    let seconds = timestamp_ms / 1000 % 3600;
    format!(
        "{year}-{month}-{day} {hour}:{:02}:{:02} UTC",
        seconds / 60,
        seconds % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_spells_out_date_and_time() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        let ms = 498_703 * 3_600_000 + 42 * 60_000 + 5_999;
        assert_eq!(utc(ms), "2026-11-22 07:42:05 UTC");
    }
}
