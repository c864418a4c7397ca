//! [`OpenMinute`]: a name's per-minute rows, with the newest minute's row kept in the name's
//! entry.
//!
//! Live traffic adds every message to the newest minute. At the end of a list of its own,
//! that row was one more cache miss per message, after the entry's; packed into 8 bytes in
//! the entry, it sits in a line the message reads anyway. Older minutes (late trees) and
//! rows whose figures outgrow the packed form go to the list. Readers see one sorted list
//! ([`OpenMinute::iter`]), two are equal when their rows are, and checkpoints keep the plain
//! list of rows.

use std::marker::PhantomData;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One minute's figures.
pub(crate) trait MinuteFigures: Copy {
    /// Which minute (`0..60`).
    fn minute(&self) -> u8;
    /// `self` and `other`, a row of the same minute, together.
    fn plus(self, other: Self) -> Self;
    /// The row in 8 bytes, never 0, with the minute in the top [`MINUTE_BITS`] bits, if its
    /// figures fit.
    fn pack(&self) -> Option<u64>;
    /// The row [`MinuteFigures::pack`] made `word` of.
    fn unpack(word: u64) -> Self;
    /// `word`, a packed row of this row's minute, with this row added, if the sum still
    /// packs. What nearly every message does: a row type may do it on the packed word.
    fn plus_packed(&self, word: u64) -> Option<u64> {
        Self::unpack(word).plus(*self).pack()
    }
}

/// Bits at the top of a packed row that hold its minute.
pub(crate) const MINUTE_BITS: u32 = 6;

fn packed_minute(word: u64) -> u8 {
    (word >> (64 - MINUTE_BITS)) as u8
}

/// Rows sorted by minute, one per minute.
pub(crate) trait MinuteList<R>: Default {
    /// The last row's minute.
    fn last_minute(&self) -> Option<u8>;
    /// Adds `row` to its minute's row, made on demand.
    fn add(&mut self, row: R);
    /// The rows in minute order.
    fn rows(&self) -> impl Iterator<Item = R> + '_;
}

/// Rows of type `R`: the newest minute's packed in the entry, the others in an `L`.
#[derive(Debug, Clone, Default)]
#[repr(C)]
pub(crate) struct OpenMinute<R, L> {
    /// The newest minute's row ([`MinuteFigures::pack`]), or 0 for none. Its minute is at least
    /// every listed row's; it may equal the last one's after a row outgrew the packed form
    /// (readers add the two).
    open: u64,
    list: L,
    row: PhantomData<R>,
}

impl<R: MinuteFigures, L: MinuteList<R>> OpenMinute<R, L> {
    /// Adds `row` to its minute's row.
    pub(crate) fn add_row(&mut self, row: R) {
        if self.open != 0 && packed_minute(self.open) == row.minute() {
            if let Some(word) = row.plus_packed(self.open) {
                self.open = word;
                return;
            }
        }
        let open = (self.open != 0).then(|| R::unpack(self.open));
        let newest = match open {
            Some(open) => Some(open.minute()),
            None => self.list.last_minute(),
        };
        if newest.is_some_and(|newest| row.minute() < newest) {
            // A late tree: an older minute than the open one.
            self.list.add(row);
            return;
        }
        // A new minute, or the open row outgrew the packed form: the open row joins the
        // list, and this one opens if it fits.
        if let Some(open) = open {
            self.open = 0;
            self.list.add(open);
        }
        match row.pack() {
            Some(word) => self.open = word,
            None => self.list.add(row),
        }
    }

    /// The newest row's minute, `None` for no rows.
    pub(crate) fn last_minute(&self) -> Option<u8> {
        let open = (self.open != 0).then(|| packed_minute(self.open));
        open.max(self.list.last_minute())
    }

    /// The rows in minute order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = R> + '_ {
        let mut open = (self.open != 0).then(|| R::unpack(self.open));
        let mut rows = self.list.rows().peekable();
        std::iter::from_fn(move || match rows.next() {
            // The open row adds to the list's last row when they share a minute.
            Some(row) if rows.peek().is_none() => match open.filter(|o| o.minute() == row.minute())
            {
                Some(o) => {
                    open = None;
                    Some(row.plus(o))
                }
                None => Some(row),
            },
            Some(row) => Some(row),
            None => open.take(),
        })
    }

    /// Adds every row of `other`.
    pub(crate) fn merge(&mut self, other: &Self) {
        for row in other.iter() {
            self.add_row(row);
        }
    }
}

impl<R: MinuteFigures + PartialEq, L: MinuteList<R>> PartialEq for OpenMinute<R, L> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl<R: MinuteFigures + Serialize, L: MinuteList<R>> Serialize for OpenMinute<R, L> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

impl<'de, R: MinuteFigures + Deserialize<'de>, L: MinuteList<R>> Deserialize<'de>
    for OpenMinute<R, L>
{
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut rows = OpenMinute {
            open: 0,
            list: L::default(),
            row: PhantomData,
        };
        for row in Vec::<R>::deserialize(deserializer)? {
            if row.minute() < 60 {
                rows.add_row(row);
            }
        }
        Ok(rows)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    /// `(minute, big, bits)` of `n` adds as live traffic makes them: mostly the current
    /// minute, sometimes the next one or a late tree's older minute; one in fifty `big`
    /// (batch figures past any packed form); `bits` random for the caller's figures.
    /// Deterministic per `seed`.
    pub(crate) fn live_minutes(seed: u64, n: usize) -> impl Iterator<Item = (u8, bool, u64)> {
        let mut rng = seed | 1;
        let mut minute = 0u8;
        (0..n).map(move |_| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            minute = match rng % 20 {
                0 => (minute + 1).min(59),
                1 => (rng >> 8) as u8 % (minute + 1),
                _ => minute,
            };
            (minute, (rng >> 16) % 50 == 0, rng >> 24)
        })
    }
}
