//! Bounded lists of sample message IDs (links from a report to LogView).

use crate::frugal_vec::ThinList;
use crate::sample_id::{SampleId, TreeId};

/// A name's failed-message IDs (up to 10, oldest first), allocated with the first (most
/// names never fail).
pub(crate) type FailIds = ThinList<SampleId>;

/// Appends `id` unless it is empty (one already listed moves to the end); when `max` IDs are
/// kept, the oldest goes. The newest failures are the ones worth opening: someone chasing a
/// failure at :50 wants one from :50, not the hour's first ten.
pub(crate) fn push_newest(ids: &mut FailIds, id: &TreeId<'_>, max: usize) {
    if !id.is_empty() {
        merge_newest(ids, std::slice::from_ref(id.sample()), max);
    }
}

/// Merges `other`'s IDs into `ids` as if `other`'s failures came after: [`push_newest`]
/// one by one, so a merge of two halves of an hour keeps what the whole hour would. The
/// list is the `max` distinct IDs seen last, ordered by when each was last seen: a function
/// of the whole sequence, so merges in any grouping agree (the "All" view merges machines
/// in pairs), even when one ID is listed on two machines.
pub(crate) fn merge_newest(ids: &mut FailIds, other: &[SampleId], max: usize) {
    for id in other {
        if id.is_empty() || max == 0 {
            continue;
        }
        if let Some(at) = ids.iter().position(|kept| kept == id) {
            ids.as_mut_slice()[at..].rotate_left(1);
            continue;
        }
        if ids.len() < max {
            ids.insert(ids.len(), id.clone());
        } else {
            let kept = ids.as_mut_slice();
            kept.rotate_left(1);
            if let Some(last) = kept.last_mut() {
                last.clone_from(id);
            }
        }
    }
}

/// The IDs as the views show them.
pub(crate) fn texts(ids: &[SampleId]) -> Vec<String> {
    ids.iter().map(ToString::to_string).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_failed_ids_are_kept_once_in_order_and_serialize_as_a_list() {
        let mut ids = FailIds::default();
        for text in [
            "a-c0a8010a-1-1",
            "",
            "a-c0a8010a-1-2",
            "a-c0a8010a-1-1",
            "x",
            "y",
        ] {
            push_newest(&mut ids, &TreeId::new(text), 3);
        }
        // The repeated ID moved to the end when seen again, so it outlives `-2`.
        assert_eq!(texts(&ids), ["a-c0a8010a-1-1", "x", "y"]);
        let json = serde_json::to_string(&ids).unwrap();
        assert_eq!(json, r#"["a-c0a8010a-1-1","x","y"]"#);
        assert_eq!(serde_json::from_str::<FailIds>(&json).unwrap(), ids);
    }

    proptest::proptest! {
        /// Lists of a few machines merged one after another, or in pairs as the "All" view
        /// merges them, keep what one list of every failure in order would: IDs repeat
        /// across the lists (a tree's ID on two machines, or merged hours).
        #[test]
        fn merges_in_any_grouping_keep_what_one_list_would(
            lists in proptest::collection::vec(proptest::collection::vec(0u8..6, 0..8), 1..6),
            max in 1usize..4,
        ) {
            let ids = |list: &[u8]| {
                let mut ids = FailIds::default();
                for n in list {
                    push_newest(&mut ids, &TreeId::new(&format!("d-c0a8010a-1-{n}")), max);
                }
                ids
            };
            let all: Vec<u8> = lists.concat();
            let parts: Vec<FailIds> = lists.iter().map(|l| ids(l)).collect();
            let mut sequential = FailIds::default();
            for part in &parts {
                merge_newest(&mut sequential, part, max);
            }
            let mut map: crate::sorted_map::SortedMap<FailIds> = Default::default();
            for (i, part) in parts.iter().enumerate() {
                *map.capped_entry(&format!("{i:02}"), usize::MAX, 10, &mut 0) = part.clone();
            }
            let paired = map
                .one_or_merged(None, |a, b| merge_newest(a, b, max))
                .unwrap()
                .into_owned();
            proptest::prop_assert_eq!(texts(&sequential), texts(&ids(&all)));
            proptest::prop_assert_eq!(texts(&paired), texts(&ids(&all)));
        }
    }

    #[test]
    fn a_merge_keeps_what_one_list_of_both_would() {
        let list = |texts: &[&str]| {
            let mut ids = FailIds::default();
            for text in texts {
                push_newest(&mut ids, &TreeId::new(text), 5);
            }
            ids
        };
        let mut first_half = list(&["a1", "a2", "a3", "a4"]);
        merge_newest(&mut first_half, &list(&["b1", "b2", "a4"]), 5);
        assert_eq!(
            texts(&first_half),
            texts(&list(&["a1", "a2", "a3", "a4", "b1", "b2", "a4"]))
        );
        // `a4` failed again after `b2`: it is the newest.
        assert_eq!(texts(&first_half), ["a2", "a3", "b1", "b2", "a4"]);
    }
}
