//! Inserting into the many small sorted lists a report keeps (minute rows, minute-histogram
//! buckets, keyed entries) without `Vec`'s doubling.
//!
//! A report holds hundreds of thousands of these lists (one set per machine, type and
//! name), most of them short, and they only ever grow during an hour. Doubling leaves a
//! quarter of the memory unused on average, and a first push reserves room for four rows
//! (96 bytes for one minute row of 24). Growing by a quarter, from one, keeps the slack near
//! a tenth; the extra reallocations are few (a list reaches 60 minute rows in 15 steps) and
//! cheap next to the insert's own shift.

/// Inserts `item` at `pos` (as `Vec::insert`), growing `list` by about a quarter when full.
pub(crate) fn insert_frugal<T>(list: &mut Vec<T>, pos: usize, item: T) {
    if list.len() == list.capacity() {
        list.reserve_exact(list.len() / 4 + 1);
    }
    list.insert(pos, item);
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
