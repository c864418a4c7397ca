//! [`DomainReports`]: one analyzer's reports of an hour, by domain.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Serialize, Serializer};

use crate::sorted_map::SortedMap;

/// An analyzer's reports by domain, in domain order: `get`, `keys`, `iter` and indexing by
/// domain, read as the `BTreeMap<String, _>` it replaced was.
///
/// Every tree looks its domain up once per report kind. A `BTreeMap` searches each node key
/// by key, which came to about eight `memcmp` calls per lookup with 25 domains per analyzer
/// thread (six percent of the analyzers' instructions); this map finds a domain with one
/// hash and one compare (see `SortedMap`).
#[derive(Clone, PartialEq)]
pub struct DomainReports<R>(SortedMap<R>);

impl<R> Default for DomainReports<R> {
    fn default() -> Self {
        DomainReports(SortedMap::default())
    }
}

impl<R: fmt::Debug> fmt::Debug for DomainReports<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<R> DomainReports<R> {
    /// The report of `domain`.
    pub fn get(&self, domain: &str) -> Option<&R> {
        self.0.get(domain)
    }

    /// The domains, sorted.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.keys()
    }

    /// The reports in domain order.
    pub fn values(&self) -> impl Iterator<Item = &R> {
        self.0.values()
    }

    /// `(domain, report)` in domain order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &R)> {
        self.0.iter()
    }

    /// How many domains have a report.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no domain has a report.
    pub fn is_empty(&self) -> bool {
        self.0.len() == 0
    }

    /// Adds `report` as `domain`'s, merged into the one there is: a stored report read back
    /// into a live hour. Never folds.
    pub(crate) fn add(&mut self, domain: &str, report: R, merge: impl FnOnce(&mut R, &R)) {
        self.0.insert_or_merge(domain, report, merge);
    }

    /// Merges `reports` read back from the store (a sealed hour opened again) into the live
    /// ones, and takes the entries the merges added from `entries_left`, the hour's
    /// budget: an entry both had counts once, as a restore counts it.
    pub(crate) fn add_within_budget(
        &mut self,
        reports: BTreeMap<String, R>,
        merge: impl Fn(&mut R, &R),
        entry_count: impl Fn(&R) -> usize,
        entries_left: &mut usize,
    ) {
        for (domain, report) in reports {
            let held = |r: &Self| r.get(&domain).map_or(0, &entry_count);
            let before = held(self);
            self.add(&domain, report, &merge);
            let added = held(self).saturating_sub(before);
            *entries_left = entries_left.saturating_sub(added);
        }
    }

    /// The reports as an owned map (sealing an hour, writing a checkpoint).
    pub fn into_map(self) -> BTreeMap<String, R> {
        self.0
            .into_entries()
            .map(|(k, v)| (k.to_string(), v))
            .collect()
    }

    /// The report of a tree's `domain`, made with `new` on demand, under `config`'s caps:
    /// the domain cut to `max_key_chars`, and past `max_domains` a new domain's trees go
    /// to the `OTHERS` report, counted in `folded`.
    #[inline]
    pub(crate) fn of_domain(
        &mut self,
        domain: &str,
        config: &crate::config::AnalyzerConfig,
        folded: &mut u64,
        new: impl FnOnce(&str) -> R,
    ) -> &mut R {
        self.capped_entry_with(
            domain,
            config.max_domains,
            config.max_key_chars,
            folded,
            new,
        )
    }

    #[inline]
    fn capped_entry_with(
        &mut self,
        domain: &str,
        max_domains: usize,
        max_chars: usize,
        folded: &mut u64,
        new: impl FnOnce(&str) -> R,
    ) -> &mut R {
        self.0
            .capped_entry_with(domain, max_domains, max_chars, folded, new)
    }
}

impl<R> From<BTreeMap<String, R>> for DomainReports<R> {
    fn from(map: BTreeMap<String, R>) -> Self {
        DomainReports(SortedMap::from_map(map))
    }
}

impl<R> std::ops::Index<&str> for DomainReports<R> {
    type Output = R;

    /// The report of `domain`; panics if there is none, as `BTreeMap` indexing does.
    fn index(&self, domain: &str) -> &R {
        self.get(domain)
            .unwrap_or_else(|| panic!("no report for domain {domain:?}"))
    }
}

/// A JSON object keyed by domain, as the `BTreeMap` was.
impl<R: Serialize> Serialize for DomainReports<R> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_like_the_btreemap_it_came_from_and_goes_back_to_it() {
        let map: BTreeMap<String, u32> = [("shop", 1), ("auth", 2), ("zeta", 3)]
            .map(|(k, v)| (k.to_owned(), v))
            .into();
        let reports = DomainReports::from(map.clone());
        assert_eq!(reports.len(), 3);
        assert!(!reports.is_empty());
        assert_eq!(reports.get("auth"), Some(&2));
        assert_eq!(reports["zeta"], 3);
        assert!(reports.get("nope").is_none());
        assert!(reports.keys().eq(["auth", "shop", "zeta"]));
        assert!(reports
            .iter()
            .map(|(k, &v)| (k, v))
            .eq([("auth", 2), ("shop", 1), ("zeta", 3)]));
        assert_eq!(
            serde_json::to_string(&reports).unwrap(),
            serde_json::to_string(&map).unwrap()
        );
        assert_eq!(reports.into_map(), map);
    }

    #[test]
    fn new_domains_past_the_cap_fold_into_others() {
        let mut reports: DomainReports<u32> = DomainReports::default();
        let mut folded = 0;
        for domain in ["a", "b", "c", "a"] {
            *reports.capped_entry_with(domain, 2, 100, &mut folded, |_| 0) += 1;
        }
        assert!(reports.keys().eq(["OTHERS", "a", "b"]));
        assert_eq!(reports.get("a"), Some(&2));
        assert_eq!(reports.get(crate::config::OTHERS), Some(&1));
        assert_eq!(folded, 1);
    }
}
