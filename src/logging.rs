//! Logs: `tracing` events on stderr, one line each, as text or JSON, filtered by `RUST_LOG`;
//! and [`RateLimitedLog`] for errors that can repeat thousands of times a second.
//!
//! Design constraints: logging must never become the bottleneck a misbehaving client can
//! drive. A client sending garbage 1000 times a second gets its first few lines logged per
//! interval; the rest are counted, and the next line logged says how many were suppressed.
//! The counters in `/metrics` stay exact either way: logs explain, metrics count.

use std::io::IsTerminal as _;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

/// The filter when `RUST_LOG` is unset: our own info lines, no dependency chatter below warn.
pub(crate) const DEFAULT_FILTER: &str = "info";

/// How log lines are written (`--log-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum LogFormat {
    /// One human-readable line per event.
    Text,
    /// One JSON object per event, fields flattened to the top level.
    Json,
}

/// Installs the global subscriber: stderr, `format`, filtered by `RUST_LOG` (else
/// [`DEFAULT_FILTER`]). A `RUST_LOG` that does not parse is reported on stderr and the
/// default is used, rather than silently logging nothing. Calling it twice keeps the first.
pub(crate) fn init(format: LogFormat) {
    let filter = match std::env::var("RUST_LOG") {
        Ok(spec) if !spec.trim().is_empty() => EnvFilter::try_new(&spec).unwrap_or_else(|err| {
            eprintln!("ocelot: ignoring RUST_LOG={spec:?} ({err}); using {DEFAULT_FILTER:?}");
            EnvFilter::new(DEFAULT_FILTER)
        }),
        _ => EnvFilter::new(DEFAULT_FILTER),
    };
    let ansi = std::io::stderr().is_terminal();
    let _ =
        tracing::subscriber::set_global_default(subscriber(format, filter, std::io::stderr, ansi));
}

/// The subscriber [`init`] installs, writing to `writer` (tests pass a buffer).
fn subscriber<W>(
    format: LogFormat,
    filter: EnvFilter,
    writer: W,
    ansi: bool,
) -> Box<dyn tracing::Subscriber + Send + Sync>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    match format {
        LogFormat::Text => Box::new(builder.with_ansi(ansi).finish()),
        LogFormat::Json => Box::new(
            builder
                .json()
                .flatten_event(true)
                .with_current_span(true)
                .with_span_list(false)
                .finish(),
        ),
    }
}

/// Lets through the first `burst` events of each `interval` and counts the rest.
///
/// One per call site (a `static`) caps that site's lines whatever their source; one per
/// connection caps each client on its own. The lock is taken only on the error path, never
/// per good frame. Only `std`, so it can move to any crate (e.g. the collector's
/// per-connection warnings) as is.
///
/// ```ignore
/// static BAD_FRAME_LOG: RateLimitedLog = RateLimitedLog::new(10, Duration::from_secs(10));
/// BAD_FRAME_LOG.log(|suppressed| tracing::warn!(%peer, %err, suppressed, "bad frame"));
/// ```
#[derive(Debug)]
pub(crate) struct RateLimitedLog {
    burst: u64,
    interval: Duration,
    window: Mutex<Window>,
}

#[derive(Debug)]
struct Window {
    /// When the current interval began (`None` before the first event).
    started: Option<Instant>,
    /// Events let through in this interval.
    logged: u64,
    /// Events held back since the last one let through.
    suppressed: u64,
}

impl RateLimitedLog {
    /// At most `burst` lines per `interval` (a `burst` of 0 behaves as 1).
    pub(crate) const fn new(burst: u64, interval: Duration) -> RateLimitedLog {
        RateLimitedLog {
            burst: if burst == 0 { 1 } else { burst },
            interval,
            window: Mutex::new(Window {
                started: None,
                logged: 0,
                suppressed: 0,
            }),
        }
    }

    /// Calls `emit(suppressed)` if this event may be logged now, where `suppressed` is how
    /// many events were held back since the last one logged (put it in the line); else
    /// counts the event.
    pub(crate) fn log(&self, emit: impl FnOnce(u64)) {
        if let Some(suppressed) = self.check_at(Instant::now()) {
            emit(suppressed);
        }
    }

    /// The decision for an event at `now`: `Some(suppressed)` to log it, `None` to hold it
    /// back (counted).
    pub(crate) fn check_at(&self, now: Instant) -> Option<u64> {
        // A poisoned lock only means another thread panicked mid-update of two counters:
        // the counts may be off by one, which is fine for a log limiter.
        let mut w = self.window.lock().unwrap_or_else(|p| p.into_inner());
        let expired = w
            .started
            .is_none_or(|started| now.saturating_duration_since(started) >= self.interval);
        if expired {
            w.started = Some(now);
            w.logged = 0;
        }
        if w.logged < self.burst {
            w.logged += 1;
            Some(std::mem::take(&mut w.suppressed))
        } else {
            w.suppressed += 1;
            None
        }
    }

    /// Events held back and not yet reported; resets the count. Call it when the source
    /// goes away (a connection closes) to log the tail: `if n > 0 { warn!(suppressed = n, ..) }`.
    pub(crate) fn take_suppressed(&self) -> u64 {
        let mut w = self.window.lock().unwrap_or_else(|p| p.into_inner());
        std::mem::take(&mut w.suppressed)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// A `MakeWriter` over a shared buffer.
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'w> MakeWriter<'w> for Buffer {
        type Writer = Buffer;
        fn make_writer(&'w self) -> Buffer {
            self.clone()
        }
    }

    impl Buffer {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    fn capture(format: LogFormat, filter: &str, events: impl FnOnce()) -> String {
        let buffer = Buffer::default();
        let subscriber = subscriber(format, EnvFilter::new(filter), buffer.clone(), false);
        tracing::subscriber::with_default(subscriber, events);
        buffer.text()
    }

    #[test]
    fn json_format_writes_one_object_per_event_with_fields_at_the_top() {
        let out = capture(LogFormat::Json, "info", || {
            tracing::warn!(peer = "127.0.0.1:5000", suppressed = 3u64, "bad frame");
            tracing::info!("second\nline");
        });
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 2, "{out}");
        let first: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(first["level"], "WARN");
        assert_eq!(first["message"], "bad frame");
        assert_eq!(first["peer"], "127.0.0.1:5000");
        assert_eq!(first["suppressed"], 3);
        let second: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
        assert_eq!(second["message"], "second\nline");
    }

    #[test]
    fn text_format_writes_one_line_per_event_and_the_filter_drops_lower_levels() {
        let out = capture(LogFormat::Text, "warn", || {
            tracing::info!("hidden");
            tracing::warn!(reason = "unknown_magic", "bad frame");
        });
        assert_eq!(out.lines().count(), 1, "{out}");
        assert!(out.contains("WARN"), "{out}");
        assert!(out.contains("bad frame reason=\"unknown_magic\""), "{out}");
        assert!(!out.contains("hidden"));
    }

    #[test]
    fn a_flood_logs_the_burst_then_one_line_per_interval_with_the_suppressed_count() {
        let limit = RateLimitedLog::new(3, Duration::from_secs(10));
        let t0 = Instant::now();
        // 1000 events in the first second: 3 logged, 997 held back.
        let decisions: Vec<Option<u64>> = (0..1000)
            .map(|i| limit.check_at(t0 + Duration::from_millis(i)))
            .collect();
        assert_eq!(decisions[..3], [Some(0), Some(0), Some(0)]);
        assert!(decisions[3..].iter().all(Option::is_none));
        // Still inside the interval: held back.
        assert_eq!(limit.check_at(t0 + Duration::from_secs(9)), None);
        // The next interval: the first line carries everything held back so far.
        assert_eq!(limit.check_at(t0 + Duration::from_secs(10)), Some(998));
        assert_eq!(limit.check_at(t0 + Duration::from_secs(11)), Some(0));
    }

    #[test]
    fn take_suppressed_reports_the_tail_once() {
        let limit = RateLimitedLog::new(1, Duration::from_secs(60));
        let t0 = Instant::now();
        assert_eq!(limit.check_at(t0), Some(0));
        assert_eq!(limit.check_at(t0), None);
        assert_eq!(limit.check_at(t0), None);
        assert_eq!(limit.take_suppressed(), 2);
        assert_eq!(limit.take_suppressed(), 0);
    }

    #[test]
    fn log_emits_through_tracing_only_when_allowed() {
        static LIMIT: RateLimitedLog = RateLimitedLog::new(2, Duration::from_secs(3600));
        let out = capture(LogFormat::Json, "info", || {
            for _ in 0..50 {
                LIMIT.log(|suppressed| tracing::warn!(suppressed, "garbage from client"));
            }
        });
        assert_eq!(out.lines().count(), 2, "{out}");
        assert_eq!(LIMIT.take_suppressed(), 48);
    }
}
