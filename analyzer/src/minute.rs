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

/// The minute of `hour` (hours since the epoch) that a message of one of its trees counts
/// in. A tree belongs to the hour its root started in, but a long request's later messages
/// may fall past the hour's end (or a skewed clock's before its start): they count at the
/// nearest edge, minute 59 (or 0), not at the same minute of another hour (CAT's
/// `timestamp / 60000 % 60` put a call at 07:00:05 at 06:00, before its request began).
///
/// `hour_start_ms` is the hour's first millisecond ([`hour_start_ms`]): one subtraction and
/// one division a message, fewer than `minute_of`'s division and remainder.
pub(crate) fn minute_in_hour(timestamp_ms: u64, hour_start_ms: u64) -> u8 {
    let offset = timestamp_ms
        .saturating_sub(hour_start_ms)
        .min(MILLIS_PER_HOUR - 1);
    (offset / MILLIS_PER_MINUTE) as u8
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
