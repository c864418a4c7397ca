//! [`RateLimitedLog`]: the SDK's few warnings about its own setup, written to stderr.
//!
//! The SDK has no logger of its own and must not pull one into the host, yet some problems
//! would otherwise be invisible: an address that is not a collector's, a host name that does
//! not resolve. Those go to stderr, prefixed `ocelot-client:` (or, with the `tracing`
//! feature and a subscriber, to `tracing` as warnings of target `ocelot_client`), the first
//! time and then at most once per [`LOG_EVERY`] per kind, with a count of what was held
//! back, so a collector that stays down cannot flood the host's logs.

use std::time::{Duration, Instant};

/// At most one line per kind of problem this often.
pub(crate) const LOG_EVERY: Duration = Duration::from_secs(60);

/// The target of the SDK's warnings as `tracing` events: [`crate::tracing_layer`] does not
/// record them as CAT events.
#[cfg(feature = "tracing")]
pub(crate) const TARGET: &str = "ocelot_client";

/// Writes one warning: as a `tracing` event (target [`TARGET`]) when the `tracing` feature
/// is on and the thread has a subscriber, so that it reaches the host's own logs the way
/// its other warnings do; else to stderr, prefixed `ocelot-client:`.
pub(crate) fn warn(line: &str) {
    #[cfg(feature = "tracing")]
    {
        let subscribed =
            tracing::dispatcher::get_default(|d| !d.is::<tracing::subscriber::NoSubscriber>());
        if subscribed {
            tracing::warn!(target: "ocelot_client", "{line}");
            return;
        }
    }
    eprintln!("ocelot-client: {line}");
}

/// One kind of problem's log line, rate-limited.
#[derive(Debug, Default)]
pub(crate) struct RateLimitedLog {
    last: Option<Instant>,
    held_back: u64,
}

impl RateLimitedLog {
    /// Writes `line` to stderr unless a line of this kind was written less than
    /// [`LOG_EVERY`] ago. Returns whether it was written.
    pub(crate) fn log(&mut self, line: impl FnOnce() -> String) -> bool {
        let now = Instant::now();
        if self
            .last
            .is_some_and(|last| now.duration_since(last) < LOG_EVERY)
        {
            self.held_back += 1;
            return false;
        }
        let line = line();
        if self.held_back > 0 {
            warn(&format!(
                "{line} ({} more like it in the last minute)",
                self.held_back
            ));
        } else {
            warn(&line);
        }
        self.last = Some(now);
        self.held_back = 0;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_line_within_the_interval_is_held_back() {
        let mut log = RateLimitedLog::default();
        assert!(log.log(|| "first".to_owned()));
        assert!(!log.log(|| unreachable!("not even formatted")));
        assert_eq!(log.held_back, 1);
    }
}
