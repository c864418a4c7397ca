//! [`DomainCap`]: which domains get reports of their own in an hour.
//!
//! The analyzers cap domains per hour (`AnalyzerConfig::max_domains`; more fold into
//! `OTHERS`). With domains spread over several analyzer threads, no thread sees them all, so
//! the collector applies the cap before it picks the thread: the first `max_domains`
//! domains of an hour are admitted, the trees of any later one go to the thread that owns
//! `OTHERS`, filed under it. One `OTHERS` report per hour, as with a single analyzer.

use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;

/// The admitted domains of the open hours.
#[derive(Debug)]
pub(crate) struct DomainCap {
    max_domains: usize,
    hours: Mutex<BTreeMap<u64, HashSet<String>>>,
}

/// Hours kept: the current one, the previous in its grace period and the next from :57.
const HOURS_KEPT: u64 = 3;

impl DomainCap {
    pub(crate) fn new(max_domains: usize) -> Self {
        DomainCap {
            max_domains,
            hours: Mutex::new(BTreeMap::new()),
        }
    }

    /// Whether `domain` (already cut to the analyzers' key length) has reports of its own in
    /// `hour`, admitting it while the hour has room.
    pub(crate) fn admit(&self, hour: u64, domain: &str) -> bool {
        let mut hours = self.hours.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(admitted) = hours.get(&hour) {
            if admitted.contains(domain) {
                return true;
            }
        } else {
            // A new hour: forget the ones no tree can reach any more.
            hours.retain(|h, _| h + HOURS_KEPT > hour);
        }
        let admitted = hours.entry(hour).or_default();
        if admitted.len() >= self.max_domains {
            return false;
        }
        admitted.insert(domain.to_owned());
        true
    }

    /// Admits domains that already have reports in `hour` (restored from a checkpoint), so a
    /// restart keeps them apart whatever arrives first.
    pub(crate) fn admit_existing<'a>(&self, hour: u64, domains: impl IntoIterator<Item = &'a str>) {
        let mut hours = self.hours.lock().unwrap_or_else(|e| e.into_inner());
        let admitted = hours.entry(hour).or_default();
        for domain in domains {
            if admitted.len() < self.max_domains {
                admitted.insert(domain.to_owned());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_domains_of_an_hour_are_admitted_and_later_ones_fold() {
        let cap = DomainCap::new(2);
        assert!(cap.admit(10, "a"));
        assert!(cap.admit(10, "b"));
        assert!(!cap.admit(10, "c"));
        assert!(cap.admit(10, "a"), "an admitted domain stays admitted");
        assert!(cap.admit(11, "c"), "each hour has its own room");
        cap.admit_existing(12, ["x", "y", "z"]);
        assert!(cap.admit(12, "y"));
        assert!(
            !cap.admit(12, "z"),
            "restored domains count against the cap too"
        );
    }

    #[test]
    fn old_hours_are_forgotten() {
        let cap = DomainCap::new(1);
        assert!(cap.admit(10, "a"));
        assert!(cap.admit(20, "b"));
        assert_eq!(cap.hours.lock().unwrap().len(), 1);
    }
}
