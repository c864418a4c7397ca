//! [`ReusedCopies`]: copies of live reports that cost their analyzer thread a while to make,
//! kept for a moment and handed to the next readers of the same view.
//!
//! A board or API query of an open hour is answered on the analyzer thread that keeps the
//! domain, with a copy, and that thread takes no tree meanwhile. For most domains the copy
//! is well under a millisecond. For a domain on a thousand machines it is tens of
//! milliseconds, and a dashboard reloaded by several people (or a script) would keep the
//! thread from its trees long enough for its queue to fill. So a copy that took at least
//! [`CopyReuse::from`] is kept for [`CopyReuse::factor`] times what it took, and readers of
//! the same view meanwhile share it (an `Arc`, not another copy): copying then takes at
//! most one part in `factor` of the thread's time per view, however often the view is asked
//! for. The cost is staleness in
//! proportion: a view that took 80 ms to copy may be up to 4 s old (at the default 50), on
//! boards whose finest step is a minute. Cheap copies are never reused, so a small domain's
//! board is always current.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::worker::{ReportKind, Scope};

/// When a live report's copy is reused (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CopyReuse {
    /// Copies that took the analyzer thread at least this much CPU time are kept.
    pub from: Duration,
    /// ... for this many times what they took.
    pub factor: u32,
}

impl Default for CopyReuse {
    fn default() -> Self {
        CopyReuse {
            from: Duration::from_millis(2),
            factor: 50,
        }
    }
}

impl CopyReuse {
    /// How long a copy that took `cost` is kept, `None` if it is not.
    fn keep_for(self, cost: Duration) -> Option<Duration> {
        (cost >= self.from && self.factor > 0).then(|| cost.saturating_mul(self.factor))
    }
}

/// Copies kept at most: a few big domains' views. A copy is a whole report at worst (tens
/// of megabytes for a domain on a thousand machines).
const KEPT: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ViewKey {
    kind: ReportKind,
    hour: u64,
    domain: String,
    ip: Option<String>,
    type_: Option<String>,
}

struct Kept {
    /// The report, shared with every reader it answered (an `Arc<R>` of the view's kind).
    report: Arc<dyn Any + Send + Sync>,
    until: Instant,
}

/// The kept copies (see the module docs).
pub(crate) struct ReusedCopies {
    reuse: CopyReuse,
    kept: Mutex<HashMap<ViewKey, Kept>>,
}

impl ReusedCopies {
    pub(crate) fn new(reuse: CopyReuse) -> Self {
        ReusedCopies {
            reuse,
            kept: Mutex::new(HashMap::new()),
        }
    }

    fn key(kind: ReportKind, hour: u64, domain: &str, scope: &Scope) -> ViewKey {
        ViewKey {
            kind,
            hour,
            domain: domain.to_owned(),
            ip: scope.ip.clone(),
            type_: scope.type_.clone(),
        }
    }

    /// A kept copy of the view, if one is still fresh: shared, not copied again.
    pub(crate) fn get<R: Any + Send + Sync>(
        &self,
        kind: ReportKind,
        hour: u64,
        domain: &str,
        scope: &Scope,
    ) -> Option<Arc<R>> {
        let kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        let copy = kept.get(&Self::key(kind, hour, domain, scope))?;
        if Instant::now() >= copy.until {
            return None;
        }
        copy.report.clone().downcast::<R>().ok()
    }

    /// Keeps `report`, a copy that took its analyzer thread `cost`, if that was long enough.
    pub(crate) fn offer<R: Any + Send + Sync>(
        &self,
        kind: ReportKind,
        hour: u64,
        domain: &str,
        scope: &Scope,
        report: &Arc<R>,
        cost: Duration,
    ) {
        let Some(keep_for) = self.reuse.keep_for(cost) else {
            return;
        };
        let now = Instant::now();
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        kept.retain(|_, copy| copy.until > now);
        if kept.len() >= KEPT {
            // Full of fresh copies: the one that would go first makes room.
            if let Some(first) = kept
                .iter()
                .min_by_key(|(_, copy)| copy.until)
                .map(|(key, _)| key.clone())
            {
                kept.remove(&first);
            }
        }
        kept.insert(
            Self::key(kind, hour, domain, scope),
            Kept {
                report: report.clone(),
                until: now + keep_for,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_copies_that_took_long_enough_are_kept_in_proportion() {
        let reuse = CopyReuse::default();
        assert_eq!(reuse.keep_for(Duration::from_micros(300)), None);
        assert_eq!(
            reuse.keep_for(Duration::from_millis(80)),
            Some(Duration::from_secs(4))
        );
        let never = CopyReuse { factor: 0, ..reuse };
        assert_eq!(never.keep_for(Duration::from_secs(1)), None);
    }
}
