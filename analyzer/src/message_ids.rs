//! Bounded lists of sample message IDs (links from a report to LogView).

use crate::frugal_vec::insert_frugal;
use crate::sample_id::{SampleId, TreeId};

/// Appends `id` unless it is empty, already listed, or the list holds `max` IDs.
pub(crate) fn push_capped(ids: &mut Vec<SampleId>, id: &TreeId<'_>, max: usize) {
    if id.is_empty() || ids.len() >= max {
        return;
    }
    push_kept(ids, id.sample().clone(), max);
}

/// Appends the IDs of `other` in order, as [`push_capped`] does one by one.
pub(crate) fn merge_capped(ids: &mut Vec<SampleId>, other: &[SampleId], max: usize) {
    for id in other {
        push_kept(ids, id.clone(), max);
    }
}

fn push_kept(ids: &mut Vec<SampleId>, id: SampleId, max: usize) {
    if !id.is_empty() && ids.len() < max && !ids.contains(&id) {
        insert_frugal(ids, ids.len(), id);
    }
}

/// The IDs as the views show them.
pub(crate) fn texts(ids: &[SampleId]) -> Vec<String> {
    ids.iter().map(ToString::to_string).collect()
}
