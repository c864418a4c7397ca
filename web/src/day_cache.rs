//! [`DayCache`]: whole past days of a domain, merged once and kept, so that a week or month
//! view (168 to 744 hours) merges at most seven or thirty-one kept days and the hours of
//! the days still running, and a past day viewed again is not merged again.
//!
//! Only a day that is over for good is kept: its last hour ended more than
//! [`FINAL_AFTER_MS`] ago, so the collector has sealed it (the previous hour is taken until
//! :03 by default, `collector.previous_hour_grace_minutes`, at most 59) and its reports
//! no longer change. A day is kept per view scope (the transaction views ask for one
//! machine or type, and a day merged for one is not the other's), within a byte budget
//! (`web.day_cache_mib`) estimated from the entries each day holds; the days used least
//! recently go first. Hours that the store's retention deletes later stay in a kept day
//! until it is evicted, as a page already open would show them.
//!
//! Two requests for the same day at once may both merge it; the second replaces the
//! first's copy. Nothing waits on another request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ocelot_analyzer::{EventDay, MatrixDay, ProblemDay, TransactionDay};

/// How long after a day's end it is kept: an hour, past any previous-hour grace.
pub(crate) const FINAL_AFTER_MS: u64 = 3_600_000;

const DAY_MS: u64 = 86_400_000;

/// Whether day `day` (a day index) ended long enough before `now_ms` to be kept.
pub(crate) fn day_is_final(day: u64, now_ms: u64) -> bool {
    // A day whose end cannot be written in epoch ms never ends.
    day.checked_add(1)
        .and_then(|next| next.checked_mul(DAY_MS))
        .and_then(|end| end.checked_add(FINAL_AFTER_MS))
        .is_some_and(|kept_from| kept_from <= now_ms)
}

/// A kind of day kept.
pub(crate) trait KeptDay: Send + Sync + Sized + 'static {
    /// Which kind, in the key.
    const KIND: Kind;
    /// The day in the cache's value.
    fn wrap(day: Arc<Self>) -> Kept;
    /// The day of this kind in `kept`, if it is one.
    fn unwrap(kept: &Kept) -> Option<Arc<Self>>;
    /// Its estimated heap bytes.
    fn bytes(&self) -> usize;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    Transaction,
    Event,
    Problem,
    Matrix,
}

impl Kind {
    /// The report kind's name, for the log.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Transaction => "transaction",
            Kind::Event => "event",
            Kind::Problem => "problem",
            Kind::Matrix => "matrix",
        }
    }
}

/// A kept day of any kind.
#[derive(Clone)]
pub(crate) enum Kept {
    Transaction(Arc<TransactionDay>),
    Event(Arc<EventDay>),
    Problem(Arc<ProblemDay>),
    Matrix(Arc<MatrixDay>),
}

macro_rules! kept_day {
    ($day:ty, $variant:ident) => {
        impl KeptDay for $day {
            const KIND: Kind = Kind::$variant;
            fn wrap(day: Arc<Self>) -> Kept {
                Kept::$variant(day)
            }
            fn unwrap(kept: &Kept) -> Option<Arc<Self>> {
                match kept {
                    Kept::$variant(day) => Some(day.clone()),
                    _ => None,
                }
            }
            fn bytes(&self) -> usize {
                self.approx_bytes()
            }
        }
    };
}
kept_day!(TransactionDay, Transaction);
kept_day!(EventDay, Event);
kept_day!(ProblemDay, Problem);
kept_day!(MatrixDay, Matrix);

/// What a kept day is found by: its kind, domain, day index and the view's scope (one
/// machine, one type; `None`: all).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct DayKey {
    pub(crate) kind: Kind,
    pub(crate) domain: String,
    pub(crate) day: u64,
    pub(crate) ip: Option<String>,
    pub(crate) type_: Option<String>,
}

struct Entry {
    day: Kept,
    bytes: usize,
    /// When it was last used, in [`Inner::clock`] ticks.
    used: u64,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<DayKey, Entry>,
    bytes: usize,
    clock: u64,
    stats: DayCacheStats,
}

/// What a [`DayCache`] did since start, and holds (`/metrics`: `ocelot_day_cache_*`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DayCacheStats {
    /// Days asked for and found kept.
    pub hits: u64,
    /// Days merged from their hours and kept.
    pub kept: u64,
    /// Kept days dropped to stay within the budget.
    pub evictions: u64,
    /// Days kept now.
    pub days: u64,
    /// Their estimated heap bytes.
    pub bytes: u64,
}

/// Past days kept merged, within a byte budget (0: none kept).
#[derive(Default)]
pub struct DayCache {
    budget: usize,
    inner: Mutex<Inner>,
}

impl DayCache {
    /// A cache of at most `budget` estimated bytes (0 keeps nothing).
    pub(crate) fn new(budget: usize) -> Self {
        DayCache {
            budget,
            inner: Mutex::default(),
        }
    }

    /// Whether days are kept at all.
    pub(crate) fn enabled(&self) -> bool {
        self.budget > 0
    }

    /// The kept day of `key`, marked as used.
    pub(crate) fn get<D: KeptDay>(&self, key: &DayKey) -> Option<Arc<D>> {
        let mut inner = self.lock();
        inner.clock += 1;
        let clock = inner.clock;
        let entry = inner.entries.get_mut(key)?;
        entry.used = clock;
        let day = D::unwrap(&entry.day)?;
        inner.stats.hits += 1;
        Some(day)
    }

    /// Keeps `day` as `key`'s, dropping the days used least recently past the budget. A
    /// day larger than the whole budget is not kept.
    pub(crate) fn put<D: KeptDay>(&self, key: DayKey, day: Arc<D>) {
        let bytes = day.bytes();
        if bytes > self.budget {
            return;
        }
        let mut inner = self.lock();
        inner.clock += 1;
        let used = inner.clock;
        let entry = Entry {
            day: D::wrap(day),
            bytes,
            used,
        };
        if let Some(old) = inner.entries.insert(key, entry) {
            inner.bytes -= old.bytes;
        }
        inner.bytes += bytes;
        inner.stats.kept += 1;
        while inner.bytes > self.budget {
            let Some(oldest) = (inner.entries.iter())
                .min_by_key(|(_, e)| e.used)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some(gone) = inner.entries.remove(&oldest) {
                inner.bytes -= gone.bytes;
                inner.stats.evictions += 1;
            }
        }
    }

    /// Drops every kept day that holds `hour` (an hour index), of any kind, domain and
    /// scope: its reports were written again (`ocelot rebuild-reports` beside a running
    /// server), and a kept day would go on showing the old ones.
    pub fn forget_hour(&self, hour: u64) {
        let day = hour / 24;
        let mut inner = self.lock();
        let mut freed = 0;
        inner.entries.retain(|key, entry| {
            let keep = key.day != day;
            if !keep {
                freed += entry.bytes;
            }
            keep
        });
        inner.bytes -= freed;
    }

    /// What it did since start, and holds.
    pub fn stats(&self) -> DayCacheStats {
        let inner = self.lock();
        DayCacheStats {
            days: inner.entries.len() as u64,
            bytes: inner.bytes as u64,
            ..inner.stats
        }
    }

    /// Days kept and their estimated bytes.
    #[cfg(test)]
    pub(crate) fn held(&self) -> (usize, usize) {
        let inner = self.lock();
        (inner.entries.len(), inner.bytes)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves the map consistent (each step is whole).
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl std::fmt::Debug for DayCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = self.lock();
        f.debug_struct("DayCache")
            .field("budget", &self.budget)
            .field("days", &inner.entries.len())
            .field("bytes", &inner.bytes)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(day: u64) -> DayKey {
        DayKey {
            kind: Kind::Event,
            domain: "shop".into(),
            day,
            ip: None,
            type_: None,
        }
    }

    /// An event day of `names` `Cache` names on one machine.
    fn day(day: u64, names: usize) -> Arc<EventDay> {
        use ocelot_analyzer::{AnalyzerConfig, EventAnalyzer};
        use ocelot_protocol::{Header, Leaf, Message, MessageTree, Transaction};
        let hour = day * 24;
        let mut analyzer = EventAnalyzer::new(hour, Arc::new(AnalyzerConfig::default()));
        for n in 0..names {
            let ts = hour * 3_600_000;
            let mut root = Transaction::new("URL", "/a", ts);
            root.children.push(Message::Event(Leaf::new(
                "Cache",
                format!("get{n}"),
                "0",
                ts,
                "",
            )));
            let header = Header {
                domain: "shop".to_owned(),
                ip_address: "10.0.0.1".to_owned(),
                message_id: format!("shop-0a000001-{hour}-{n}"),
                ..Header::default()
            };
            analyzer.process(&MessageTree::new(header, Message::Transaction(root)));
        }
        let report = analyzer.into_reports().remove("shop").expect("a report");
        let mut merged = EventDay::new("shop", day);
        assert!(merged.add_hour(&report));
        Arc::new(merged)
    }

    #[test]
    fn a_day_is_final_an_hour_after_it_ends() {
        let end = 20_000 * DAY_MS + DAY_MS;
        assert!(!day_is_final(20_000, end));
        assert!(!day_is_final(20_000, end + FINAL_AFTER_MS - 1));
        assert!(day_is_final(20_000, end + FINAL_AFTER_MS));
        assert!(!day_is_final(u64::MAX, u64::MAX));
    }

    #[test]
    fn a_rebuilt_hour_drops_the_kept_days_that_hold_it() {
        let size = day(1, 10).approx_bytes();
        let cache = DayCache::new(size * 4);
        cache.put(key(1), day(1, 10));
        cache.put(key(2), day(2, 10));
        cache.forget_hour(2 * 24 + 23);
        assert!(cache.get::<EventDay>(&key(2)).is_none());
        assert!(cache.get::<EventDay>(&key(1)).is_some());
        assert_eq!(cache.held(), (1, size));
    }

    #[test]
    fn the_days_used_least_recently_go_first_past_the_budget() {
        let size = day(1, 10).approx_bytes();
        let cache = DayCache::new(size * 2);
        cache.put(key(1), day(1, 10));
        cache.put(key(2), day(2, 10));
        assert!(cache.get::<EventDay>(&key(1)).is_some());
        cache.put(key(3), day(3, 10));
        assert!(
            cache.get::<EventDay>(&key(2)).is_none(),
            "day 2 was used least recently"
        );
        assert!(cache.get::<EventDay>(&key(1)).is_some());
        assert!(cache.get::<EventDay>(&key(3)).is_some());
        assert_eq!(cache.held(), (2, size * 2));
        let stats = cache.stats();
        assert_eq!((stats.kept, stats.evictions, stats.days), (3, 1, 2));
        assert_eq!((stats.hits, stats.bytes), (3, (size * 2) as u64));
        // Another kind under the same key is not this one.
        assert!(cache.get::<ProblemDay>(&key(1)).is_none());
        // Larger than the budget: not kept, nothing evicted for it.
        cache.put(key(4), day(4, 100));
        assert_eq!(cache.held(), (2, size * 2));
        let off = DayCache::new(0);
        assert!(!off.enabled());
        off.put(key(1), day(1, 1));
        assert_eq!(off.held().0, 0);
    }
}
