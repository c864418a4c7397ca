//! Bounded lists of sample message IDs (links from a report to LogView).

/// Appends `id` unless it is empty, already listed, or the list holds `max` IDs.
pub(crate) fn push_capped(ids: &mut Vec<String>, id: &str, max: usize) {
    if id.is_empty() || ids.len() >= max || ids.iter().any(|known| known == id) {
        return;
    }
    ids.push(id.to_owned());
}

/// Appends the IDs of `other` in order, as [`push_capped`] does one by one.
pub(crate) fn merge_capped(ids: &mut Vec<String>, other: &[String], max: usize) {
    for id in other {
        push_capped(ids, id, max);
    }
}
