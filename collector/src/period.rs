//! Which hour a tree belongs to, and whether that hour is still open.
//!
//! A tree belongs to the hour of its root timestamp. The current hour is open; the previous
//! one stays open for a grace period after the hour turns (late clients, clock skew), and
//! the next one opens a few minutes early. Anything else is out of window: counted, not kept.

use ocelot_protocol::{hour_of, MILLIS_PER_HOUR};

const MILLIS_PER_MINUTE: u64 = 60_000;

/// A tree whose hour is not open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutOfWindow {
    /// The tree's hour.
    pub hour: u64,
    /// The current hour.
    pub current: u64,
}

/// The hour a tree with root timestamp `timestamp_ms` is counted in at time `now_ms`.
pub fn accept_hour(
    now_ms: u64,
    timestamp_ms: u64,
    previous_grace_minutes: u64,
    next_early_minutes: u64,
) -> Result<u64, OutOfWindow> {
    let current = hour_of(now_ms);
    let hour = hour_of(timestamp_ms);
    let into_hour = now_ms % MILLIS_PER_HOUR;
    let open = hour == current
        || (hour + 1 == current && into_hour < previous_grace_minutes * MILLIS_PER_MINUTE)
        || (hour == current + 1
            && into_hour >= MILLIS_PER_HOUR - next_early_minutes * MILLIS_PER_MINUTE);
    if open {
        Ok(hour)
    } else {
        Err(OutOfWindow { hour, current })
    }
}

/// Whether `hour` is finished and past its grace period at `now_ms`: time to seal it.
pub(crate) fn is_due_for_sealing(hour: u64, now_ms: u64, previous_grace_minutes: u64) -> bool {
    now_ms >= (hour + 1) * MILLIS_PER_HOUR + previous_grace_minutes * MILLIS_PER_MINUTE
}

/// The last hour past its grace period at `now_ms` (every hour up to it is due for
/// sealing), if any is.
pub(crate) fn last_hour_due_for_sealing(now_ms: u64, previous_grace_minutes: u64) -> Option<u64> {
    let grace_ms = previous_grace_minutes.saturating_mul(MILLIS_PER_MINUTE);
    hour_of(now_ms.saturating_sub(grace_ms)).checked_sub(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: u64 = 498_703;
    fn at(hour: u64, minute: u64, second: u64) -> u64 {
        hour * MILLIS_PER_HOUR + minute * MILLIS_PER_MINUTE + second * 1000
    }

    #[test]
    fn the_current_hour_is_always_open() {
        assert_eq!(accept_hour(at(H, 30, 0), at(H, 0, 0), 3, 3), Ok(H));
        assert_eq!(accept_hour(at(H, 0, 0), at(H, 59, 59), 3, 3), Ok(H));
    }

    #[test]
    fn the_previous_hour_is_open_until_three_minutes_past() {
        assert_eq!(accept_hour(at(H + 1, 2, 59), at(H, 59, 0), 3, 3), Ok(H));
        assert_eq!(
            accept_hour(at(H + 1, 3, 0), at(H, 59, 0), 3, 3),
            Err(OutOfWindow {
                hour: H,
                current: H + 1
            })
        );
    }

    #[test]
    fn the_next_hour_opens_at_minute_fifty_seven() {
        assert!(accept_hour(at(H, 56, 59), at(H + 1, 0, 1), 3, 3).is_err());
        assert_eq!(accept_hour(at(H, 57, 0), at(H + 1, 0, 1), 3, 3), Ok(H + 1));
    }

    #[test]
    fn trees_from_far_away_hours_are_out_of_window() {
        assert!(accept_hour(at(H, 30, 0), at(H - 5, 0, 0), 3, 3).is_err());
        assert!(accept_hour(at(H, 30, 0), 4_102_444_800_123, 3, 3).is_err());
        assert!(accept_hour(at(H, 30, 0), 0, 3, 3).is_err());
    }

    #[test]
    fn an_hour_is_sealed_after_its_grace_period() {
        assert!(!is_due_for_sealing(H, at(H + 1, 2, 59), 3));
        assert!(is_due_for_sealing(H, at(H + 1, 3, 0), 3));
    }

    #[test]
    fn the_last_hour_due_for_sealing_agrees_with_is_due_for_sealing() {
        assert_eq!(last_hour_due_for_sealing(at(H + 1, 2, 59), 3), Some(H - 1));
        assert_eq!(last_hour_due_for_sealing(at(H + 1, 3, 0), 3), Some(H));
        assert_eq!(last_hour_due_for_sealing(at(0, 30, 0), 3), None);
        for now in [at(H + 1, 2, 59), at(H + 1, 3, 0), at(H + 4, 0, 0)] {
            let last = last_hour_due_for_sealing(now, 3).unwrap();
            assert!(is_due_for_sealing(last, now, 3) && !is_due_for_sealing(last + 1, now, 3));
        }
    }
}
