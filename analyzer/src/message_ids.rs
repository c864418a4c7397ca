//! Bounded lists of sample message IDs (links from a report to LogView).

use serde::{Deserialize, Serialize};

use crate::frugal_vec::insert_frugal;
use crate::sample_id::{SampleId, TreeId};

/// A name's failed-message IDs (up to 10), allocated with the first. Most (machine, type,
/// name) entries never fail, and an empty `Vec` is 24 bytes where this is 8. In JSON it is
/// the list it holds, so checkpoints do not change.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "Vec<SampleId>", into = "Vec<SampleId>")]
#[allow(clippy::box_collection)] // the point: 8 bytes while empty, where a `Vec` takes 24
pub(crate) struct FailIds(Option<Box<Vec<SampleId>>>);

impl From<Vec<SampleId>> for FailIds {
    fn from(ids: Vec<SampleId>) -> Self {
        FailIds((!ids.is_empty()).then(|| Box::new(ids)))
    }
}

impl From<FailIds> for Vec<SampleId> {
    fn from(ids: FailIds) -> Self {
        ids.0.map(|ids| *ids).unwrap_or_default()
    }
}

impl std::ops::Deref for FailIds {
    type Target = [SampleId];

    fn deref(&self) -> &[SampleId] {
        self.0.as_deref().map_or(&[], Vec::as_slice)
    }
}

/// Appends `id` unless it is empty, already listed, or the list holds `max` IDs.
pub(crate) fn push_capped(ids: &mut FailIds, id: &TreeId<'_>, max: usize) {
    if id.is_empty() || ids.len() >= max {
        return;
    }
    push_kept(ids, id.sample().clone(), max);
}

/// Appends the IDs of `other` in order, as [`push_capped`] does one by one.
pub(crate) fn merge_capped(ids: &mut FailIds, other: &[SampleId], max: usize) {
    for id in other {
        push_kept(ids, id.clone(), max);
    }
}

fn push_kept(ids: &mut FailIds, id: SampleId, max: usize) {
    if !id.is_empty() && ids.len() < max && !ids.contains(&id) {
        let list = ids.0.get_or_insert_with(Box::default);
        insert_frugal(list, list.len(), id);
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
    fn failed_ids_are_kept_once_in_order_up_to_the_cap_and_serialize_as_a_list() {
        let mut ids = FailIds::default();
        assert_eq!(std::mem::size_of_val(&ids), 8, "a name that never fails");
        assert_eq!(serde_json::to_string(&ids).unwrap(), "[]");
        for text in [
            "a-c0a8010a-1-1",
            "",
            "a-c0a8010a-1-2",
            "a-c0a8010a-1-1",
            "x",
            "y",
        ] {
            push_capped(&mut ids, &TreeId::new(text), 3);
        }
        assert_eq!(texts(&ids), ["a-c0a8010a-1-1", "a-c0a8010a-1-2", "x"]);
        let json = serde_json::to_string(&ids).unwrap();
        assert_eq!(json, r#"["a-c0a8010a-1-1","a-c0a8010a-1-2","x"]"#);
        assert_eq!(serde_json::from_str::<FailIds>(&json).unwrap(), ids);
        assert_eq!(
            serde_json::from_str::<FailIds>("[]").unwrap(),
            FailIds::default()
        );
        let mut merged = FailIds::default();
        merge_capped(&mut merged, &ids, 2);
        assert_eq!(texts(&merged), ["a-c0a8010a-1-1", "a-c0a8010a-1-2"]);
    }
}
