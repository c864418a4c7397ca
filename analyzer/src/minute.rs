//! Which minute of its hour a timestamp falls in.

/// Milliseconds in a minute.
pub(crate) const MILLIS_PER_MINUTE: u64 = 60_000;

/// Milliseconds in an hour.
const MILLIS_PER_HOUR: u64 = 60 * MILLIS_PER_MINUTE;

/// Minute of the hour, `0..60`, of an epoch-milliseconds timestamp (CAT:
/// `(timestamp / 60000) % 60`).
pub(crate) fn minute_of(timestamp_ms: u64) -> u8 {
    ((timestamp_ms / MILLIS_PER_MINUTE) % 60) as u8
}

/// Which minute of its report's hour each message of one tree counts in.
///
/// A tree belongs to the hour its root started in. A message of the tree stamped inside
/// that hour counts at its own minute. One stamped outside it counts at the root's minute:
/// a long request's call that ran past the hour's end, and a child whose client clock was
/// hours off, both belong to the request, and putting them at minute 0 or 59 made a spike
/// at the hour's edge. (CAT's `timestamp / 60000 % 60` put them at the same minute of the
/// wrong hour.)
#[derive(Debug, Clone, Copy)]
pub(crate) struct TreeMinutes {
    /// The hour's first millisecond ([`hour_start_ms`]).
    hour_start_ms: u64,
    /// The root's timestamp, whose minute is worked out only for a message outside the
    /// hour (rare): a tree pays nothing for it.
    root_timestamp_ms: u64,
}

impl TreeMinutes {
    /// The minutes of a tree whose root is stamped `root_timestamp_ms` (`None`: a tree
    /// without messages), counted in the hour starting at `hour_start_ms`.
    pub(crate) fn of_root(hour_start_ms: u64, root_timestamp_ms: Option<u64>) -> Self {
        TreeMinutes {
            hour_start_ms,
            root_timestamp_ms: root_timestamp_ms.unwrap_or(hour_start_ms),
        }
    }

    /// The minute a message stamped `timestamp_ms` counts in, `0..60`. Inside the hour:
    /// one subtraction, one compare and one division a message, no more than the clamp
    /// into the hour took before.
    #[inline]
    pub(crate) fn of(&self, timestamp_ms: u64) -> u8 {
        // A timestamp before the hour's start wraps to a huge offset: outside too.
        let offset = timestamp_ms.wrapping_sub(self.hour_start_ms);
        if offset < MILLIS_PER_HOUR {
            (offset / MILLIS_PER_MINUTE) as u8
        } else {
            self.root_minute()
        }
    }

    /// The root's minute. The collector files a tree under its root's hour; a root of
    /// another hour (from a caller that did not) counts at this hour's nearest edge,
    /// minute 0 or 59.
    #[cold]
    #[inline(never)]
    fn root_minute(&self) -> u8 {
        let offset = (self.root_timestamp_ms)
            .saturating_sub(self.hour_start_ms)
            .min(MILLIS_PER_HOUR - 1);
        (offset / MILLIS_PER_MINUTE) as u8
    }
}

/// The first millisecond of `hour` (hours since the epoch).
pub(crate) fn hour_start_ms(hour: u64) -> u64 {
    hour.saturating_mul(MILLIS_PER_HOUR)
}

/// Finds or inserts the entry for `minute` in a list kept sorted by minute.
///
/// Two guesses before the binary search, each one compare: live traffic records into the
/// current minute, which is the last entry; and a name seen in every minute so far holds
/// minute `m` at index `m` (replayed or late trees land there).
pub(crate) fn minute_entry<T>(
    list: &mut Vec<T>,
    minute: u8,
    minute_of_entry: impl Fn(&T) -> u8,
    new: impl FnOnce() -> T,
) -> &mut T {
    let dense = usize::from(minute);
    let pos = if list.last().is_some_and(|e| minute_of_entry(e) == minute) {
        list.len() - 1
    } else if list
        .get(dense)
        .is_some_and(|e| minute_of_entry(e) == minute)
    {
        dense
    } else {
        match list.binary_search_by_key(&minute, minute_of_entry) {
            Ok(pos) => pos,
            Err(pos) => {
                crate::frugal_vec::insert_doubling(list, pos, new());
                pos
            }
        }
    };
    &mut list[pos]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_outside_the_hour_counts_at_its_roots_minute() {
        let start = 498_703 * MILLIS_PER_HOUR;
        let root = start + 30 * MILLIS_PER_MINUTE + 5_000;
        let minutes = TreeMinutes::of_root(start, Some(root));
        assert_eq!(minutes.of(root), 30);
        // Inside the hour: its own minute, to the hour's first and last millisecond.
        assert_eq!(minutes.of(start), 0);
        assert_eq!(minutes.of(start + 7 * MILLIS_PER_MINUTE), 7);
        assert_eq!(minutes.of(start + MILLIS_PER_HOUR - 1), 59);
        // Outside it, however far: the root's.
        for outside in [
            start - 1,
            start - 3 * MILLIS_PER_HOUR,
            start + MILLIS_PER_HOUR,
            start + 2 * MILLIS_PER_HOUR,
            0,
            u64::MAX,
        ] {
            assert_eq!(minutes.of(outside), 30, "{outside}");
        }
        // A root of another hour counts at this one's nearest edge, and so do the
        // messages outside the hour with it.
        let late_root = TreeMinutes::of_root(start, Some(start + MILLIS_PER_HOUR + 5));
        assert_eq!(late_root.of(start - 1), 59);
        assert_eq!(TreeMinutes::of_root(start, Some(0)).of(u64::MAX), 0);
        assert_eq!(TreeMinutes::of_root(start, None).of(start + 61_000), 1);
    }

    #[test]
    fn minute_entry_keeps_minutes_sorted_whatever_the_guesses() {
        let mut list: Vec<(u8, u32)> = Vec::new();
        for minute in [5, 5, 0, 59, 1, 5, 2, 3, 4, 0, 59, 30] {
            minute_entry(&mut list, minute, |&(m, _)| m, || (minute, 0)).1 += 1;
        }
        assert_eq!(
            list,
            [
                (0, 2),
                (1, 1),
                (2, 1),
                (3, 1),
                (4, 1),
                (5, 3),
                (30, 1),
                (59, 2)
            ]
        );
    }
}
