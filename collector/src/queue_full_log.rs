//! [`QueueFullLog`]: says in the log that trees are being dropped at a full queue (an
//! analyzer thread's, or the store's writers'), which is otherwise seen only on `/metrics`
//! and the State page, while every other kind of loss has its warning.
//!
//! The drops happen on the socket threads, a batch at a time; counting them there for a
//! line would add work to the hot path. The collector's clock thread reads the counters
//! instead, once a second ([`crate::Collector::tick`]), and warns at the first drop and then
//! at most once per [`QUEUE_FULL_WARN_EVERY`], each line with the trees dropped since the
//! one before, queue by queue.

use std::time::Duration;

/// Least time between two warnings about full queues: often enough to see that an overload
/// goes on, rarely enough that it does not fill the log.
pub(crate) const QUEUE_FULL_WARN_EVERY: Duration = Duration::from_secs(60);

/// The counts of trees dropped at full queues at the last warning, and when it was logged.
#[derive(Debug, Default)]
pub(crate) struct QueueFullLog {
    /// When the last warning was logged, by the collector's clock (`None`: not yet).
    told_ms: Option<u64>,
    /// Per queue (analyzer threads by name, then "store"), the drops counted up to it.
    told: Vec<(&'static str, u64)>,
}

impl QueueFullLog {
    /// Given the drops counted so far per queue (`dropped`: name and count, in a fixed
    /// order) at `now_ms`, logs a warning when some were dropped since the last one and
    /// that was [`QUEUE_FULL_WARN_EVERY`] ago (or there was none).
    pub(crate) fn tick(&mut self, now_ms: u64, dropped: &[(&'static str, u64)]) {
        if let Some(line) = self.check(now_ms, dropped) {
            tracing::warn!("{line}");
        }
    }

    /// The line to log now, if any (see [`QueueFullLog::tick`]).
    fn check(&mut self, now_ms: u64, dropped: &[(&'static str, u64)]) -> Option<String> {
        let every_ms = QUEUE_FULL_WARN_EVERY.as_millis() as u64;
        // A clock stepped back counts as due, as the checkpoints do.
        let due = self
            .told_ms
            .is_none_or(|told| now_ms < told || now_ms - told >= every_ms);
        if !due {
            return None;
        }
        let since: Vec<(&'static str, u64)> = dropped
            .iter()
            .map(|&(queue, n)| {
                let before = self
                    .told
                    .iter()
                    .find(|(q, _)| *q == queue)
                    .map_or(0, |(_, n)| *n);
                (queue, n.saturating_sub(before))
            })
            .filter(|&(_, n)| n > 0)
            .collect();
        if since.is_empty() {
            return None;
        }
        let when = match self.told_ms {
            Some(told) if now_ms >= told => {
                format!("in the last {} s", (now_ms - told) / 1000)
            }
            _ => "since the start".to_owned(),
        };
        self.told_ms = Some(now_ms);
        self.told = dropped.to_vec();
        let total: u64 = since.iter().map(|(_, n)| n).sum();
        let by_queue: Vec<String> = since.iter().map(|(q, n)| format!("{q} {n}")).collect();
        let store = since.iter().any(|(q, _)| *q == STORE_QUEUE);
        let analyzers = since.iter().any(|(q, _)| *q != STORE_QUEUE);
        let mut raise = Vec::new();
        if analyzers {
            raise.push(
                "collector.worker_queue_trees or collector.worker_queue_mib (bursts), or \
                 collector.analyzer_threads, for the analyzer threads",
            );
        }
        if store {
            raise.push("store.queue_frames or store.writer_threads for the store");
        }
        Some(format!(
            "dropped {total} trees {when} because a queue was full ({}; counted on /metrics \
             as reason queue_full): the server cannot keep up; raise {}. Said again at most \
             every {} s while it goes on",
            by_queue.join(", "),
            raise.join("; "),
            QUEUE_FULL_WARN_EVERY.as_secs()
        ))
    }
}

/// The name of the store's queue in [`QueueFullLog`]'s lines, as `/metrics` labels its stage.
pub(crate) const STORE_QUEUE: &str = "store";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_are_said_at_once_then_once_a_minute_with_the_count_since_the_last_line() {
        let mut log = QueueFullLog::default();
        assert_eq!(log.check(0, &[("analyzer-0", 0), (STORE_QUEUE, 0)]), None);
        let first = log
            .check(1_000, &[("analyzer-0", 40), (STORE_QUEUE, 0)])
            .unwrap();
        assert!(
            first.starts_with(
                "dropped 40 trees since the start because a queue was full (analyzer-0 40;"
            ),
            "{first}"
        );
        assert!(
            first.contains("collector.worker_queue_trees") && !first.contains("store.queue_frames")
        );
        // Within the minute: counted, not said.
        assert_eq!(
            log.check(30_000, &[("analyzer-0", 90), (STORE_QUEUE, 5)]),
            None
        );
        let next = log
            .check(61_000, &[("analyzer-0", 100), (STORE_QUEUE, 7)])
            .unwrap();
        assert!(
            next.starts_with("dropped 67 trees in the last 60 s because a queue was full (analyzer-0 60, store 7;"),
            "{next}"
        );
        assert!(next.contains("store.queue_frames"), "{next}");
        // Nothing dropped since: nothing said, and the next drop is said at once.
        assert_eq!(
            log.check(200_000, &[("analyzer-0", 100), (STORE_QUEUE, 7)]),
            None
        );
        assert!(log
            .check(200_500, &[("analyzer-0", 100), (STORE_QUEUE, 8)])
            .is_some());
    }
}
