//! State shared by the store handle, its writer threads and its retention thread.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use crate::config::StoreConfig;
use crate::layout::Layout;
use crate::stats::Counters;

pub(crate) struct Shared {
    pub(crate) config: StoreConfig,
    pub(crate) layout: Layout,
    pub(crate) counters: Counters,
    /// Hours below this are outside retention: not written, not looked up.
    pub(crate) oldest_hour: AtomicU64,
    /// When the store was opened: the clock of the warnings below.
    opened: Instant,
    /// Per problem, the second (since `opened`) after which it may be logged again.
    log_after: [AtomicU64; Warned::COUNT],
    /// Per problem, the occurrences not logged since it last was.
    unlogged: [AtomicU64; Warned::COUNT],
    /// Per problem, whether it was logged and has not been said to be over since
    /// ([`Shared::went_well`]).
    warned: [AtomicBool; Warned::COUNT],
    /// Per problem, how many files (or domain-hours) it holds failing now, all writers
    /// together: a success elsewhere says "work again" only when none is left.
    failing: [AtomicU64; Warned::COUNT],
    /// Bumped when a writer finds a data file changed from outside and starts it again
    /// (see [`Shared::files_changed`]).
    files_changed: AtomicU64,
    /// The domains given files in each recent hour, against `max_domains_per_hour` (all
    /// writer threads together; asked only when a writer opens a domain-hour).
    domains: Mutex<BTreeMap<u64, HashSet<String>>>,
    /// The newest hour whose domains [`Shared::admit_domain`] has forgotten, if any: such
    /// an hour is counted again from its folder.
    forgotten_through: AtomicU64,
}

/// Hours whose domains [`Shared::admit_domain`] remembers: the collector stores the
/// current hour, the previous one in its grace period and the next one from :57.
const DOMAIN_HOURS_KEPT: usize = 4;

/// [`Shared::forgotten_through`] while no hour has been forgotten.
const NOTHING_FORGOTTEN: u64 = u64::MAX;

/// Between two warnings of the same problem: often enough that the log says a disk is still
/// full, rarely enough that a failing disk does not flood it.
const WARN_EVERY_SECS: u64 = 300;

/// After a logged problem is over ([`Shared::went_well`]), the soonest it is logged again
/// when it comes back: a disk that fills again a minute later is said so, and one that
/// sits at the edge of full, failing and working in turn, logs two lines every half minute.
const WARN_AGAIN_AFTER_OVER_SECS: u64 = 30;

/// Problems logged at most once per [`WARN_EVERY_SECS`] each (they are counted every time).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Warned {
    WriteFailed = 0,
    IndexWriteFailed,
    OpenFailed,
    DataFileFull,
    CorruptRead,
    RetentionFailed,
    DomainCap,
    IndexFileCap,
    SizeCapUnmet,
}

impl Warned {
    const COUNT: usize = 9;
}

impl Shared {
    pub(crate) fn new(mut config: StoreConfig) -> Shared {
        // Index positions are `seq * 6`: past the limit they overflow.
        config.max_seq = config.max_seq.min(crate::config::MAX_SEQ_LIMIT);
        Shared {
            layout: Layout::new(config.dir.clone()),
            config,
            counters: Counters::default(),
            oldest_hour: AtomicU64::new(0),
            opened: Instant::now(),
            log_after: Default::default(),
            unlogged: Default::default(),
            warned: Default::default(),
            failing: Default::default(),
            files_changed: AtomicU64::new(0),
            domains: Mutex::new(BTreeMap::new()),
            forgotten_through: AtomicU64::new(NOTHING_FORGOTTEN),
        }
    }

    /// Whether `domain` may have files in `hour`: it has already, or the hour has fewer
    /// than `max_domains_per_hour` domains. Message IDs name the domain a tree is filed
    /// under, and a client chooses them: without a cap, IDs naming a new domain each would
    /// make a folder and files each, until the disk ran out of inodes.
    pub(crate) fn admit_domain(&self, hour: u64, domain: &str) -> bool {
        let mut hours = self.domains.lock().unwrap_or_else(|e| e.into_inner());
        let forgotten = self.forgotten_through.load(Ordering::Relaxed);
        // An hour forgotten before (an older one than those kept, which IDs may name) is
        // counted from the domain folders it has, or each time it came back it would take
        // a whole cap of new domains again.
        let domains = hours.entry(hour).or_insert_with(|| {
            if forgotten == NOTHING_FORGOTTEN || hour > forgotten {
                return HashSet::new();
            }
            crate::recovery::read_dir(&self.layout.hour_dir(hour))
                .unwrap_or_default()
                .into_iter()
                .filter(|name| crate::layout::validate_name("domain", name).is_ok())
                .collect()
        });
        let admitted = domains.contains(domain)
            || (domains.len() < self.config.max_domains_per_hour
                && domains.insert(domain.to_owned()));
        // The oldest other than `hour`: an old hour that IDs keep naming stays while they do,
        // rather than having its folders listed again for each of them.
        while let Some(oldest) = (hours.len() > DOMAIN_HOURS_KEPT)
            .then(|| hours.keys().copied().find(|&h| h != hour))
            .flatten()
        {
            hours.remove(&oldest);
            let through = match self.forgotten_through.load(Ordering::Relaxed) {
                NOTHING_FORGOTTEN => oldest,
                forgotten => forgotten.max(oldest),
            };
            self.forgotten_through.store(through, Ordering::Relaxed);
        }
        admitted
    }

    pub(crate) fn oldest_hour(&self) -> u64 {
        self.oldest_hour.load(Ordering::Relaxed)
    }

    /// Logs `message` at warn level the first time `what` happens, and again at most every
    /// [`WARN_EVERY_SECS`] while it goes on, saying how often it happened in between.
    pub(crate) fn warn_throttled(&self, what: Warned, message: impl FnOnce() -> String) {
        let now_secs = self.opened.elapsed().as_secs();
        if let Some(unlogged) = self.may_warn(what, now_secs) {
            if unlogged == 0 {
                tracing::warn!(target: "ocelot_store", "{} (counted; said again at most every {WARN_EVERY_SECS} s while it goes on)", message());
            } else {
                tracing::warn!(target: "ocelot_store", "{} (still: {unlogged} more times since the last warning)", message());
            }
        }
    }

    /// Says that `what` is over (`message`, with the failures not logged since the last
    /// warning) if it was logged and not said over since; then it may be logged again
    /// [`WARN_AGAIN_AFTER_OVER_SECS`] from now instead of at the end of its
    /// [`WARN_EVERY_SECS`]. One load when nothing was wrong: callers call it on success.
    pub(crate) fn went_well(&self, what: Warned, message: impl FnOnce() -> String) {
        let now_secs = self.opened.elapsed().as_secs();
        if let Some(unlogged) = self.over(what, now_secs) {
            tracing::info!(target: "ocelot_store", "{} ({unlogged} more failures since the last warning)", message());
        }
    }

    /// Notes that a data file was deleted, replaced or cut from outside and is written
    /// again from an address the reader may hold a block of the old file for: the reader
    /// forgets its cached blocks at its next lookup.
    pub(crate) fn files_changed(&self) {
        self.files_changed.fetch_add(1, Ordering::Relaxed);
    }

    /// How many times [`Shared::files_changed`] was called.
    pub(crate) fn files_changed_count(&self) -> u64 {
        self.files_changed.load(Ordering::Relaxed)
    }

    /// Notes that one more file (or domain-hour) fails with `what`.
    pub(crate) fn start_failing(&self, what: Warned) {
        self.failing[what as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Notes that a file (or domain-hour) noted by [`Shared::start_failing`] no longer
    /// fails, or is no longer kept.
    pub(crate) fn stop_failing(&self, what: Warned) {
        let _ =
            self.failing[what as usize]
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }

    /// [`Shared::went_well`], but only when no file noted as failing with `what` is left:
    /// one index file that writes again while another still fails is no recovery.
    pub(crate) fn went_well_everywhere(&self, what: Warned, message: impl FnOnce() -> String) {
        if self.failing[what as usize].load(Ordering::Relaxed) == 0 {
            self.went_well(what, message);
        }
    }

    /// Whether `what` was logged and is now over, at `now_secs`, and if so how many times it
    /// happened unlogged since its last warning.
    fn over(&self, what: Warned, now_secs: u64) -> Option<u64> {
        let i = what as usize;
        if !self.warned[i].load(Ordering::Relaxed) || !self.warned[i].swap(false, Ordering::Relaxed)
        {
            return None;
        }
        self.log_after[i].fetch_min(now_secs + WARN_AGAIN_AFTER_OVER_SECS, Ordering::Relaxed);
        Some(self.unlogged[i].swap(0, Ordering::Relaxed))
    }

    /// Whether `what`, happening at `now_secs`, is to be logged, and if so how many times it
    /// happened unlogged before; otherwise counts it as unlogged.
    fn may_warn(&self, what: Warned, now_secs: u64) -> Option<u64> {
        let i = what as usize;
        let after = self.log_after[i].load(Ordering::Relaxed);
        let due = now_secs >= after;
        if due
            && self.log_after[i]
                .compare_exchange(
                    after,
                    now_secs + WARN_EVERY_SECS,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok()
        {
            self.warned[i].store(true, Ordering::Relaxed);
            return Some(self.unlogged[i].swap(0, Ordering::Relaxed));
        }
        self.unlogged[i].fetch_add(1, Ordering::Relaxed);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_problem_that_goes_on_is_logged_again_every_few_minutes_with_its_count() {
        let shared = Shared::new(StoreConfig::new("unused"));
        let what = Warned::WriteFailed;
        assert_eq!(shared.may_warn(what, 0), Some(0), "the first time");
        for second in 1..100 {
            assert_eq!(shared.may_warn(what, second), None);
        }
        assert_eq!(shared.may_warn(what, WARN_EVERY_SECS - 1), None);
        assert_eq!(
            shared.may_warn(what, WARN_EVERY_SECS),
            Some(100),
            "again, with the times in between"
        );
        assert_eq!(shared.may_warn(what, WARN_EVERY_SECS + 1), None);
        // Another problem has its own clock.
        assert_eq!(shared.may_warn(Warned::OpenFailed, 7), Some(0));
    }

    /// A disk that fills again a minute after it worked again is said so then, not at the
    /// end of the first warning's five minutes; and "over" is said once per warning.
    #[test]
    fn a_problem_that_was_over_is_logged_again_when_it_comes_back() {
        let shared = Shared::new(StoreConfig::new("unused"));
        let what = Warned::WriteFailed;
        assert_eq!(shared.over(what, 0), None, "nothing was wrong");
        assert_eq!(shared.may_warn(what, 10), Some(0));
        assert_eq!(shared.may_warn(what, 11), None);
        assert_eq!(
            shared.over(what, 20),
            Some(1),
            "over, with the failure unlogged"
        );
        assert_eq!(shared.over(what, 21), None, "said once");
        assert_eq!(
            shared.may_warn(what, 40),
            None,
            "not at once: the edge of full"
        );
        assert_eq!(
            shared.may_warn(what, 20 + WARN_AGAIN_AFTER_OVER_SECS),
            Some(1)
        );
        // Without a warning since, a success says nothing.
        assert_eq!(shared.over(what, 100), Some(0));
        assert_eq!(shared.over(what, 101), None);
        assert_eq!(shared.over(Warned::OpenFailed, 102), None);
    }
}
