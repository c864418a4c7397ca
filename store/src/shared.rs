//! State shared by the store handle, its writer threads and its retention thread.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::config::StoreConfig;
use crate::layout::Layout;
use crate::stats::Counters;

pub(crate) struct Shared {
    pub(crate) config: StoreConfig,
    pub(crate) layout: Layout,
    pub(crate) counters: Counters,
    /// Hours below this are outside retention: not written, not looked up.
    pub(crate) oldest_hour: AtomicU64,
    logged: [AtomicBool; LogOnce::COUNT],
}

/// Problems logged once per store (they are counted every time).
#[derive(Debug, Clone, Copy)]
pub(crate) enum LogOnce {
    WriteFailed = 0,
    IndexWriteFailed,
    OpenFailed,
    DataFileFull,
    CorruptRead,
    RecoveryFailed,
    RetentionFailed,
}

impl LogOnce {
    const COUNT: usize = 7;
}

impl Shared {
    pub(crate) fn new(config: StoreConfig) -> Shared {
        Shared {
            layout: Layout::new(config.dir.clone()),
            config,
            counters: Counters::default(),
            oldest_hour: AtomicU64::new(0),
            logged: Default::default(),
        }
    }

    pub(crate) fn oldest_hour(&self) -> u64 {
        self.oldest_hour.load(Ordering::Relaxed)
    }

    /// Logs `message` at warn level the first time `what` happens.
    pub(crate) fn warn_once(&self, what: LogOnce, message: impl FnOnce() -> String) {
        if !self.logged[what as usize].swap(true, Ordering::Relaxed) {
            tracing::warn!(target: "ocelot_store", "{} (further occurrences are only counted)", message());
        }
    }
}
