//! [`DomainShards`]: which domains get reports of their own in an hour, and which analyzer
//! thread keeps each.
//!
//! **The cap.** The analyzers cap domains per hour (`AnalyzerConfig::max_domains`; more
//! fold into `OTHERS`). With domains spread over several analyzer threads, no thread sees
//! them all, so the collector applies the cap before it picks the thread: the first
//! `max_domains` domains of an hour are admitted, the trees of any later one go to the
//! thread that keeps `OTHERS`, filed under it. One `OTHERS` report per hour, as with a
//! single analyzer.
//!
//! **The placement.** A domain stays on one thread for the whole hour (its reports live
//! there), but traffic is rarely even: a gateway domain may send ten times what a batch job
//! sends. Placing domains by a hash of their names put the two busiest on one thread often
//! enough that this thread dropped trees while the other had time to spare. So each hour is
//! planned from the one before: its domains, heaviest first, each go to the thread with the
//! least planned load (longest processing time first, within 4/3 of the best split). A
//! domain the plan does not know goes to the thread with the least load so far, planned or
//! counted. Loads are tree counts, fed by the State worker as it drains `ReceivedCounts`
//! (a few seconds late, which is fine for a plan). After a restart, the hour's restored
//! domains are placed the same way by what its restored State report says they sent, and
//! a process started after the hour before was sealed plans from that hour's State report.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;

use ocelot_analyzer::OTHERS;

/// Where the trees of a domain go in an hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Placement {
    /// The analyzer shard that keeps the domain's reports (or `OTHERS`'s, when folded).
    pub(crate) shard: usize,
    /// Over the cap: the trees are filed under `OTHERS`.
    pub(crate) folded: bool,
}

/// The admitted domains of the open hours and their threads.
#[derive(Debug)]
pub(crate) struct DomainShards {
    max_domains: usize,
    shards: usize,
    hours: Mutex<BTreeMap<u64, HourShards>>,
    /// How many times hours were forgotten: a connection that keeps the answers it got
    /// ([`DomainShards::admit`]) drops them when this changes, since a forgotten hour the
    /// clock goes back into is placed afresh.
    forgotten: AtomicU64,
}

#[derive(Debug)]
struct HourShards {
    /// Every placed key: the admitted domains, and `OTHERS` once a domain folded.
    domains: HashMap<String, Placed>,
    /// Admitted domains (`OTHERS` not counted), against the cap.
    admitted: usize,
    /// From the hour before: the shard of each domain it had.
    plan: HashMap<String, usize>,
    /// Planned trees per shard.
    planned: Vec<u64>,
    /// Trees counted per shard this hour.
    counted: Vec<u64>,
    /// Only what a sealed hour's domains sent, kept to plan the next hour: no thread keeps
    /// its reports any more.
    sealed: bool,
}

#[derive(Debug, Clone, Copy)]
struct Placed {
    shard: usize,
    trees: u64,
}

/// Hours kept: the current one, the previous in its grace period and the next from :57.
const HOURS_KEPT: u64 = 3;

impl DomainShards {
    pub(crate) fn new(max_domains: usize, shards: usize) -> Self {
        DomainShards {
            max_domains,
            shards: shards.max(1),
            hours: Mutex::new(BTreeMap::new()),
            forgotten: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, HourShards>> {
        self.hours.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Where the trees of `domain` (already cut to the analyzers' key length) go in `hour`,
    /// admitting and placing it while the hour has room.
    pub(crate) fn admit(&self, hour: u64, domain: &str) -> Placement {
        let mut hours = self.lock();
        let state = self.hour_mut(&mut hours, hour);
        if let Some(placed) = state.domains.get(domain) {
            return Placement {
                shard: placed.shard,
                folded: false,
            };
        }
        // A domain sent as `OTHERS` is filed there too, without counting as folded.
        if domain != OTHERS && state.admitted < self.max_domains {
            state.admitted += 1;
            return Placement {
                shard: state.place(domain),
                folded: false,
            };
        }
        let shard = match state.domains.get(OTHERS) {
            Some(placed) => placed.shard,
            None => state.place(OTHERS),
        };
        Placement {
            shard,
            folded: domain != OTHERS,
        }
    }

    /// Changes whenever hours are forgotten: the answers of [`DomainShards::admit`] hold
    /// until then. (Hours are forgotten when the clock moves past them, long before it
    /// could come back into one, so a relaxed read sees the change in time.)
    pub(crate) fn forgotten(&self) -> u64 {
        self.forgotten.load(Relaxed)
    }

    /// The shard that keeps `domain`'s reports in `hour`, if the domain has any there.
    pub(crate) fn shard_of(&self, hour: u64, domain: &str) -> Option<usize> {
        let hours = self.lock();
        let state = hours.get(&hour).filter(|state| !state.sealed)?;
        state.domains.get(domain).map(|p| p.shard)
    }

    /// Every domain placed in `hour` while it is open (`OTHERS` too, once a domain folded).
    pub(crate) fn placed(&self, hour: u64) -> Vec<String> {
        let hours = self.lock();
        match hours.get(&hour).filter(|state| !state.sealed) {
            Some(state) => state.domains.keys().cloned().collect(),
            None => Vec::new(),
        }
    }

    /// Remembers what each domain sent in `hour`, an hour already sealed (read back from
    /// its State report at start), so that the hour after it is planned from those loads
    /// even when this process never saw it. Does nothing if the hour is known already.
    pub(crate) fn remember_sealed<'a>(
        &self,
        hour: u64,
        sent: impl IntoIterator<Item = (&'a str, u64)>,
    ) {
        let mut hours = self.lock();
        if hours.contains_key(&hour) {
            return;
        }
        let mut state = HourShards::planned_from(None, self.shards);
        state.sealed = true;
        for (domain, trees) in sent {
            state
                .domains
                .insert(domain.to_owned(), Placed { shard: 0, trees });
        }
        hours.insert(hour, state);
    }

    /// Admits and places domains that already have reports in `hour` (restored from a
    /// checkpoint), each with the trees it sent in the hour so far, so a restart keeps them
    /// apart whatever arrives first and their reports go on where they left off. They are
    /// placed as an hour is planned (heaviest first on the least loaded shard) and count
    /// against the cap; a domain with reports is placed even past it (the cap was lowered
    /// across the restart), so nothing restored is lost.
    pub(crate) fn admit_existing<'a>(
        &self,
        hour: u64,
        domains: impl IntoIterator<Item = (&'a str, u64)>,
    ) {
        let mut domains: Vec<(&str, u64)> = domains.into_iter().collect();
        domains.sort_unstable_by(heaviest_first);
        let mut hours = self.lock();
        let state = self.hour_mut(&mut hours, hour);
        for (domain, trees) in domains {
            if state.domains.contains_key(domain) {
                continue;
            }
            if domain != OTHERS {
                state.admitted += 1;
            }
            state.place_weighted(domain, trees);
        }
    }

    /// Adds `trees` to what `domain` sent in `hour` (its load, for placing later domains
    /// this hour and every domain next hour). A domain without a placement of its own
    /// folded into `OTHERS` (the hour was full), so its trees count there.
    pub(crate) fn count(&self, hour: u64, domain: &str, trees: u64) {
        let mut hours = self.lock();
        let Some(state) = hours.get_mut(&hour) else {
            return;
        };
        let placed = match state.domains.get_mut(domain) {
            Some(placed) => placed,
            None => match state.domains.get_mut(OTHERS) {
                Some(others) => others,
                None => return,
            },
        };
        placed.trees = placed.trees.saturating_add(trees);
        let shard = placed.shard;
        state.counted[shard] = state.counted[shard].saturating_add(trees);
    }

    /// The state of `hour`, planned from the hour before when it is first needed.
    fn hour_mut<'h>(
        &self,
        hours: &'h mut BTreeMap<u64, HourShards>,
        hour: u64,
    ) -> &'h mut HourShards {
        if !hours.contains_key(&hour) {
            // A new hour: forget the ones no tree can reach any more.
            let before = hours.len();
            hours.retain(|h, _| h + HOURS_KEPT > hour);
            if hours.len() < before {
                self.forgotten.fetch_add(1, Relaxed);
            }
            let previous = hour.checked_sub(1).and_then(|h| hours.get(&h));
            let state = HourShards::planned_from(previous, self.shards);
            hours.insert(hour, state);
        }
        hours.get_mut(&hour).expect("inserted above")
    }
}

impl HourShards {
    /// An hour whose domains are planned from `previous`'s loads: heaviest first, each on
    /// the shard with the least planned load so far.
    fn planned_from(previous: Option<&HourShards>, shards: usize) -> Self {
        let mut plan = HashMap::new();
        let mut planned = vec![0u64; shards];
        if let Some(previous) = previous {
            let mut loads: Vec<(&String, u64)> = previous
                .domains
                .iter()
                .map(|(domain, placed)| (domain, placed.trees))
                .collect();
            loads.sort_unstable_by(heaviest_first);
            for (domain, trees) in loads {
                let shard = least(&planned);
                // A domain that sent nothing still counts one, so idle domains spread too.
                planned[shard] = planned[shard].saturating_add(trees.max(1));
                plan.insert(domain.clone(), shard);
            }
        }
        HourShards {
            domains: HashMap::new(),
            admitted: 0,
            plan,
            planned,
            counted: vec![0; shards],
            sealed: false,
        }
    }

    /// Places `domain`, which has no placement yet: its planned shard, or else the shard
    /// with the least load so far (planned or counted, whichever is more), which then
    /// carries one tree more so that a burst of new domains spreads out before any counts
    /// arrive.
    fn place(&mut self, domain: &str) -> usize {
        self.place_weighted(domain, 0)
    }

    /// [`HourShards::place`] for a domain known to have sent `trees` already (a restored
    /// one): the plan is not asked, the load so far decides, and the trees count as its
    /// load from then on.
    fn place_weighted(&mut self, domain: &str, trees: u64) -> usize {
        let planned = if trees == 0 {
            self.plan.get(domain).copied()
        } else {
            None
        };
        let shard = match planned {
            Some(shard) => shard,
            None => {
                let loads: Vec<u64> = self
                    .planned
                    .iter()
                    .zip(&self.counted)
                    .map(|(&p, &c)| p.max(c))
                    .collect();
                let shard = least(&loads);
                if trees == 0 {
                    self.planned[shard] = self.planned[shard].saturating_add(1);
                }
                shard
            }
        };
        self.domains
            .insert(domain.to_owned(), Placed { shard, trees });
        self.counted[shard] = self.counted[shard].saturating_add(trees);
        shard
    }
}

/// Orders `(domain, trees)` heaviest first; ties by name, so a plan does not depend on hash
/// order.
fn heaviest_first<D: Ord>(a: &(D, u64), b: &(D, u64)) -> std::cmp::Ordering {
    b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0))
}

/// The first index of the smallest value.
fn least(loads: &[u64]) -> usize {
    loads
        .iter()
        .enumerate()
        .min_by_key(|&(i, &load)| (load, i))
        .map_or(0, |(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_domains_of_an_hour_are_admitted_and_later_ones_fold() {
        let cap = DomainShards::new(2, 1);
        assert!(!cap.admit(10, "a").folded);
        assert!(!cap.admit(10, "b").folded);
        assert!(cap.admit(10, "c").folded);
        assert!(
            !cap.admit(10, "a").folded,
            "an admitted domain stays admitted"
        );
        assert!(!cap.admit(11, "c").folded, "each hour has its own room");
        cap.admit_existing(12, [("x", 0), ("y", 0), ("z", 0)]);
        assert!(!cap.admit(12, "y").folded);
        assert!(
            !cap.admit(12, "z").folded,
            "a restored domain keeps its reports, past the cap too"
        );
        assert!(
            cap.admit(12, "w").folded,
            "restored domains count against the cap"
        );
        assert_eq!(
            cap.shard_of(12, "w"),
            None,
            "a folded domain has no reports"
        );
        assert_eq!(cap.shard_of(12, OTHERS), Some(0));
    }

    #[test]
    fn old_hours_are_forgotten() {
        let cap = DomainShards::new(1, 2);
        cap.admit(10, "a");
        cap.admit(20, "b");
        assert_eq!(cap.lock().len(), 1);
        assert_eq!(cap.shard_of(10, "a"), None);
    }

    #[test]
    fn new_domains_spread_over_the_shards_before_any_counts() {
        let shards = DomainShards::new(100, 4);
        let mut per_shard = [0; 4];
        for i in 0..20 {
            let placement = shards.admit(10, &format!("d{i}"));
            assert!(!placement.folded);
            per_shard[placement.shard] += 1;
        }
        assert_eq!(per_shard, [5, 5, 5, 5]);
    }

    #[test]
    fn a_domain_stays_on_its_shard_for_the_hour_whatever_the_loads_do() {
        let shards = DomainShards::new(100, 2);
        let first = shards.admit(10, "busy").shard;
        shards.count(10, "busy", 1_000_000);
        for _ in 0..3 {
            assert_eq!(shards.admit(10, "busy").shard, first);
        }
        assert_eq!(shards.shard_of(10, "busy"), Some(first));
        // Later domains avoid the loaded shard.
        for i in 0..5 {
            assert_ne!(shards.admit(10, &format!("quiet{i}")).shard, first);
        }
    }

    #[test]
    fn the_next_hour_is_planned_from_the_loads_of_this_one() {
        // The first hour has no loads to go by: domains spread by number, and the two that
        // turn out heavy share a shard. Next hour they are apart and the loads even.
        let shards = DomainShards::new(100, 2);
        for domain in ["gateway", "filler", "orders"] {
            shards.admit(10, domain);
        }
        assert_eq!(
            shards.shard_of(10, "gateway"),
            shards.shard_of(10, "orders")
        );
        let jobs: Vec<String> = (0..10).map(|i| format!("job{i}")).collect();
        let traffic: Vec<(&str, u64)> = [("gateway", 500_000), ("orders", 400_000), ("filler", 0)]
            .into_iter()
            .chain(jobs.iter().map(|job| (job.as_str(), 10_000)))
            .collect();
        for &(domain, trees) in &traffic {
            shards.admit(10, domain);
            shards.count(10, domain, trees);
        }
        let mut load = [0u64; 2];
        for &(domain, trees) in &traffic {
            load[shards.admit(11, domain).shard] += trees;
        }
        assert_ne!(
            shards.shard_of(11, "gateway"),
            shards.shard_of(11, "orders")
        );
        let (high, low) = (load[0].max(load[1]), load[0].min(load[1]));
        assert!(high - low <= 2 * 10_000, "{load:?}");
    }

    #[test]
    fn restored_domains_are_placed_by_what_they_sent() {
        let shards = DomainShards::new(100, 2);
        shards.admit_existing(
            10,
            [
                ("small-a", 100),
                ("big", 1_000),
                ("small-b", 100),
                ("small-c", 100),
            ],
        );
        let big = shards.shard_of(10, "big").unwrap();
        for small in ["small-a", "small-b", "small-c"] {
            assert_ne!(shards.shard_of(10, small), Some(big), "{small}");
        }
        // A new domain goes where the load is least: with the small ones.
        assert_ne!(shards.admit(10, "new").shard, big);
    }

    #[test]
    fn a_sealed_hour_remembered_at_start_plans_the_next_and_routes_nothing() {
        let shards = DomainShards::new(100, 2);
        shards.remember_sealed(9, [("gateway", 500), ("orders", 400), ("a", 50), ("b", 50)]);
        assert_eq!(
            shards.shard_of(9, "gateway"),
            None,
            "no thread keeps a sealed hour"
        );
        let gateway = shards.admit(10, "gateway").shard;
        assert_ne!(shards.admit(10, "orders").shard, gateway);
        assert_eq!(shards.admit(10, "a").shard, shards.admit(10, "b").shard);
    }

    #[test]
    fn folded_domains_share_the_others_shard_and_others_is_placed_once() {
        let shards = DomainShards::new(1, 3);
        shards.admit(10, "a");
        let b = shards.admit(10, "b");
        let c = shards.admit(10, "c");
        assert!(b.folded && c.folded);
        assert_eq!(b.shard, c.shard);
        assert_eq!(shards.shard_of(10, OTHERS), Some(b.shard));
        let others = shards.admit(10, OTHERS);
        assert_eq!(others.shard, b.shard);
        assert!(!others.folded, "a domain sent as OTHERS is not a fold");
    }
}
