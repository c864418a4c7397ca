//! Bounded lists of sample message IDs (links from a report to LogView).

use crate::frugal_vec::ThinList;
use crate::sample_id::{SampleId, TreeId};

/// A name's failed-message IDs (up to 10), allocated with the first (most names never fail).
pub(crate) type FailIds = ThinList<SampleId>;

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
        ids.insert(ids.len(), id);
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
        let mut merged = FailIds::default();
        merge_capped(&mut merged, &ids, 2);
        assert_eq!(texts(&merged), ["a-c0a8010a-1-1", "a-c0a8010a-1-2"]);
    }
}
