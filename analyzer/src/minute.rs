//! Which minute of its hour a timestamp falls in.

/// Milliseconds in a minute.
pub(crate) const MILLIS_PER_MINUTE: u64 = 60_000;

/// Minute of the hour, `0..60`, of an epoch-milliseconds timestamp (CAT:
/// `(timestamp / 60000) % 60`).
pub(crate) fn minute_of(timestamp_ms: u64) -> u8 {
    ((timestamp_ms / MILLIS_PER_MINUTE) % 60) as u8
}

/// Finds or inserts the entry for `minute` in a list kept sorted by minute.
pub(crate) fn minute_entry<T>(
    list: &mut Vec<T>,
    minute: u8,
    minute_of_entry: impl Fn(&T) -> u8,
    new: impl FnOnce() -> T,
) -> &mut T {
    let pos = match list.binary_search_by_key(&minute, minute_of_entry) {
        Ok(pos) => pos,
        Err(pos) => {
            list.insert(pos, new());
            pos
        }
    };
    &mut list[pos]
}
