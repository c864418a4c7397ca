//! Bounded lists of sample message IDs (links from a report to LogView).

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::frugal_vec::ThinList;
use crate::sample_id::{SampleId, TreeId};

/// A name's failed-message IDs (up to 10, oldest first), allocated with the first (most
/// names never fail).
pub(crate) type FailIds = ThinList<TimedId>;

/// A failed message's ID and the message's own time: what orders a name's failures, so
/// that the newest are the newest in time, not the last to arrive (late trees) nor those of
/// the machine merged last (the "All" view merges machines in key order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TimedId {
    timestamp_ms: u64,
    id: SampleId,
}

/// Checkpoints write `[timestamp_ms, "id"]`; a plain `"id"` (written before the time was
/// kept) reads as the oldest.
impl Serialize for TimedId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        (self.timestamp_ms, &self.id).serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for TimedId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            Timed(u64, SampleId),
            Plain(SampleId),
        }
        Ok(match Form::deserialize(deserializer)? {
            Form::Timed(timestamp_ms, id) => TimedId { timestamp_ms, id },
            Form::Plain(id) => TimedId {
                timestamp_ms: 0,
                id,
            },
        })
    }
}

/// Keeps `id`, of a failed message at `timestamp_ms`, among the `max` newest (by time;
/// among equal times, the later seen is the newer). An ID already listed keeps its newest
/// time. A failure older than all of a full list is dropped before its ID is even read.
pub(crate) fn push_newest(ids: &mut FailIds, id: &TreeId<'_>, timestamp_ms: u64, max: usize) {
    if !id.is_empty() && !older_than_all(ids, timestamp_ms, max) {
        keep_newest(ids, timestamp_ms, id.sample(), max);
    }
}

/// Merges `other`'s IDs into `ids` as if `other`'s failures were seen after (which matters
/// only among equal times): [`push_newest`] one by one. The list is the `max` distinct IDs
/// of the newest failures, ordered by time: a function of all the failures, so merges in
/// any grouping agree (the "All" view merges machines in pairs), even when one ID is listed
/// on two machines.
pub(crate) fn merge_newest(ids: &mut FailIds, other: &[TimedId], max: usize) {
    for theirs in other {
        if !theirs.id.is_empty() && !older_than_all(ids, theirs.timestamp_ms, max) {
            keep_newest(ids, theirs.timestamp_ms, &theirs.id, max);
        }
    }
}

/// Whether a failure at `timestamp_ms` would not be kept: `ids` is full and holds only
/// newer ones.
fn older_than_all(ids: &FailIds, timestamp_ms: u64, max: usize) -> bool {
    max == 0 || (ids.len() >= max && ids.first().is_some_and(|o| timestamp_ms < o.timestamp_ms))
}

fn keep_newest(ids: &mut FailIds, timestamp_ms: u64, id: &SampleId, max: usize) {
    if let Some(at) = ids.iter().position(|kept| kept.id == *id) {
        if timestamp_ms < ids[at].timestamp_ms {
            return;
        }
        ids.as_mut_slice()[at..].rotate_left(1);
        ids.pop();
    }
    // After every kept failure of the same time: it is seen later.
    let at = ids.partition_point(|kept| kept.timestamp_ms <= timestamp_ms);
    let timed = TimedId {
        timestamp_ms,
        id: id.clone(),
    };
    if ids.len() < max {
        ids.insert(at, timed);
    } else if at > 0 {
        // Full: the oldest goes, the ones before `at` move down one.
        let kept = ids.as_mut_slice();
        kept[..at].rotate_left(1);
        kept[at - 1] = timed;
    }
}

/// The IDs as the views show them.
pub(crate) fn texts(ids: &[TimedId]) -> Vec<String> {
    ids.iter().map(|timed| timed.id.to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_failed_ids_by_time_are_kept_once_in_order_and_serialize_as_pairs() {
        let mut ids = FailIds::default();
        for (text, timestamp_ms) in [
            ("a-c0a8010a-1-1", 10),
            ("", 50),
            ("a-c0a8010a-1-2", 20),
            ("a-c0a8010a-1-1", 30),
            ("x", 40),
            ("late", 5),
            ("y", 40),
            ("a-c0a8010a-1-1", 1),
        ] {
            push_newest(&mut ids, &TreeId::new(text), timestamp_ms, 3);
        }
        // The repeated ID keeps its newest time (30), so it outlives `-2`; the late tree
        // (5) and the repeat's older time (1) change nothing; `y` ties with `x`, seen after.
        assert_eq!(texts(&ids), ["a-c0a8010a-1-1", "x", "y"]);
        let json = serde_json::to_string(&ids).unwrap();
        assert_eq!(json, r#"[[30,"a-c0a8010a-1-1"],[40,"x"],[40,"y"]]"#);
        assert_eq!(serde_json::from_str::<FailIds>(&json).unwrap(), ids);
        // Checkpoints written before the time was kept: their IDs are the oldest.
        let mut old: FailIds = serde_json::from_str(r#"["b-c0a8010a-1-7","z"]"#).unwrap();
        assert_eq!(texts(&old), ["b-c0a8010a-1-7", "z"]);
        push_newest(&mut old, &TreeId::new("w"), 1, 2);
        assert_eq!(texts(&old), ["z", "w"]);
    }

    proptest::proptest! {
        /// Lists of a few machines merged one after another, or in pairs as the "All" view
        /// merges them, keep what one list of every failure in order would, and that is the
        /// newest `max` distinct IDs by time (later seen among equal times): IDs repeat
        /// across the lists (a tree's ID on two machines, or merged hours), times repeat and
        /// come out of order (late trees).
        #[test]
        fn merges_in_any_grouping_keep_the_newest_by_time(
            lists in proptest::collection::vec(
                proptest::collection::vec((0u8..6, 0u64..5), 0..8),
                1..6,
            ),
            max in 1usize..4,
        ) {
            let ids = |list: &[(u8, u64)]| {
                let mut ids = FailIds::default();
                for (n, timestamp_ms) in list {
                    let id = format!("d-c0a8010a-1-{n}");
                    push_newest(&mut ids, &TreeId::new(&id), *timestamp_ms, max);
                }
                ids
            };
            let all: Vec<(u8, u64)> = lists.concat();
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
            // The model: each ID at its newest (time, position), the last `max` of those.
            let mut newest: Vec<((u64, usize), u8)> = Vec::new();
            for (position, &(n, timestamp_ms)) in all.iter().enumerate() {
                let key = (timestamp_ms, position);
                match newest.iter_mut().find(|(_, m)| *m == n) {
                    Some(seen) if seen.0 .0 <= timestamp_ms => seen.0 = key,
                    Some(_) => {}
                    None => newest.push((key, n)),
                }
            }
            newest.sort_unstable();
            let model: Vec<String> = newest[newest.len().saturating_sub(max)..]
                .iter()
                .map(|(_, n)| format!("d-c0a8010a-1-{n}"))
                .collect();
            proptest::prop_assert_eq!(&texts(&ids(&all)), &model);
            proptest::prop_assert_eq!(&texts(&sequential), &model);
            proptest::prop_assert_eq!(texts(&paired), model);
        }
    }

    #[test]
    fn a_merge_keeps_what_one_list_of_both_would() {
        let list = |texts: &[(&str, u64)]| {
            let mut ids = FailIds::default();
            for &(text, timestamp_ms) in texts {
                push_newest(&mut ids, &TreeId::new(text), timestamp_ms, 5);
            }
            ids
        };
        let first = [("a1", 1), ("a2", 2), ("a3", 3), ("a4", 4)];
        let second = [("b1", 5), ("b2", 6), ("a4", 7)];
        let mut first_half = list(&first);
        merge_newest(&mut first_half, &list(&second), 5);
        let both: Vec<(&str, u64)> = first.into_iter().chain(second).collect();
        assert_eq!(texts(&first_half), texts(&list(&both)));
        // `a4` failed again after `b2`: it is the newest.
        assert_eq!(texts(&first_half), ["a2", "a3", "b1", "b2", "a4"]);
        // Merged the other way round, the times still order them.
        let mut second_half = list(&second);
        merge_newest(&mut second_half, &list(&first), 5);
        assert_eq!(texts(&second_half), texts(&first_half));
    }
}
