//! Inserting into the many small sorted lists a report keeps (minute rows, minute-histogram
//! buckets, keyed entries) without `Vec`'s doubling.
//!
//! A report holds hundreds of thousands of these lists (one set per machine, type and
//! name), most of them short, and they only ever grow during an hour. Doubling leaves a
//! quarter of the memory unused on average, and a first push reserves room for four rows.
//! A full list grows by one element: the allocator rounds every block up to its size class
//! (mimalloc's are an eighth apart), so most of these reallocations grow in place, and the
//! list holds no slack of its own beyond the class's. Growing by a quarter kept a tenth of
//! every list unused on top of that: with trees spread over 30 minutes, 8 % of the
//! transaction reports' bytes (`memory_by_report`) and 9 MiB of the collector's RSS.
//! The minute lists are the exception ([`insert_doubling`]): what they cost is not their
//! slack but the allocator's pages they leave behind.

/// Inserts `item` at `pos` (as `Vec::insert`), growing a full `list` by one element.
pub(crate) fn insert_frugal<T>(list: &mut Vec<T>, pos: usize, item: T) {
    insert_growing(list, pos, item, |capacity| capacity + 1);
}

/// Inserts `item` at `pos` (as `Vec::insert`), doubling a full `list`: for the minute lists
/// (one entry per minute a name is seen), which every name grows in step, a row each minute.
///
/// Grown one element at a time, those lists passed through every small size class together,
/// and the few that stopped in each class (names gone quiet) kept all of its pages: over a
/// 30-minute spread the collector's heap had pages of 160-byte blocks a ninth used. Doubled,
/// they pass through a few classes: 5 MiB more requested (slack) and 8-18 MiB less RSS at the
/// end of that run (BENCHMARKS, eleventh session).
pub(crate) fn insert_doubling<T>(list: &mut Vec<T>, pos: usize, item: T) {
    insert_growing(list, pos, item, |capacity| {
        (capacity + 1).next_power_of_two()
    });
}

/// Inserts `item` at `pos`, first growing a full `list` to `grown(capacity)` elements.
#[inline(always)]
fn insert_growing<T>(list: &mut Vec<T>, pos: usize, item: T, grown: impl Fn(usize) -> usize) {
    if list.len() == list.capacity() {
        let capacity = list.capacity();
        list.reserve_exact(grown(capacity) - capacity);
    }
    list.insert(pos, item);
}

/// A list that takes 8 bytes while empty, where a `Vec` takes 24, for the lists most report
/// entries never fill (a name's failure statuses and failed-message IDs: most names never
/// fail). Allocated with its first element, grown by [`insert_frugal`]. In JSON it is the
/// list it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::box_collection)] // the point: one thin pointer while empty
pub(crate) struct ThinList<T>(Option<Box<Vec<T>>>);

impl<T> Default for ThinList<T> {
    fn default() -> Self {
        ThinList(None)
    }
}

impl<T> ThinList<T> {
    /// Inserts `item` at `pos` (as `Vec::insert`), allocating the list if it is empty.
    pub(crate) fn insert(&mut self, pos: usize, item: T) {
        insert_frugal(self.0.get_or_insert_with(Box::default), pos, item);
    }

    pub(crate) fn as_mut_slice(&mut self) -> &mut [T] {
        self.0.as_deref_mut().map_or(&mut [], Vec::as_mut_slice)
    }

    /// Removes the last element (the allocation stays).
    pub(crate) fn pop(&mut self) -> Option<T> {
        self.0.as_deref_mut().and_then(Vec::pop)
    }
}

impl<T> std::ops::Deref for ThinList<T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        self.0.as_deref().map_or(&[], Vec::as_slice)
    }
}

impl<T> From<Vec<T>> for ThinList<T> {
    fn from(list: Vec<T>) -> Self {
        ThinList((!list.is_empty()).then(|| Box::new(list)))
    }
}

impl<T: serde::Serialize> serde::Serialize for ThinList<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        (**self).serialize(serializer)
    }
}

impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for ThinList<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Vec::<T>::deserialize(deserializer).map(ThinList::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thin_list_is_one_pointer_until_its_first_element_and_a_plain_list_in_json() {
        let mut list: ThinList<u32> = ThinList::default();
        assert_eq!(std::mem::size_of_val(&list), 8);
        assert!(list.is_empty());
        assert_eq!(serde_json::to_string(&list).unwrap(), "[]");
        list.insert(0, 7);
        list.insert(0, 5);
        list.as_mut_slice()[1] += 1;
        assert_eq!(*list, [5, 8]);
        let json = serde_json::to_string(&list).unwrap();
        assert_eq!(json, "[5,8]");
        assert_eq!(serde_json::from_str::<ThinList<u32>>(&json).unwrap(), list);
        assert_eq!(
            serde_json::from_str::<ThinList<u32>>("[]").unwrap(),
            ThinList::default()
        );
    }

    #[test]
    fn inserts_keep_order_and_slack_stays_under_a_third() {
        let mut list: Vec<u64> = Vec::new();
        for i in (0..1000u64).rev() {
            let pos = list.binary_search(&i).unwrap_err();
            insert_frugal(&mut list, pos, i);
            assert!(
                list.capacity() <= list.len() + list.len() / 3 + 1,
                "{}",
                list.len()
            );
        }
        assert!(list.iter().copied().eq(0..1000));
        let mut one: Vec<[u8; 24]> = Vec::new();
        insert_frugal(&mut one, 0, [0; 24]);
        assert_eq!(one.capacity(), 1);
    }

    #[test]
    fn doubling_inserts_keep_order_and_grow_by_powers_of_two() {
        let mut list: Vec<u64> = Vec::new();
        let mut grown = Vec::new();
        // The minutes of an hour, in the order a name might be seen in them.
        for i in 0..60u64 {
            let minute = (i * 37) % 60;
            let pos = list.binary_search(&minute).unwrap_err();
            let before = list.capacity();
            insert_doubling(&mut list, pos, minute);
            assert_eq!(list.capacity(), list.len().next_power_of_two());
            if list.capacity() != before {
                grown.push(list.capacity());
            }
        }
        assert!(list.iter().copied().eq(0..60));
        assert_eq!(grown, [1, 2, 4, 8, 16, 32, 64]);
    }
}
