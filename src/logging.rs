//! Logs: `tracing` events on stderr, one line each, as text or JSON, filtered by `RUST_LOG`
//! (the collector rate-limits its per-connection warnings with its own `RateLimitedLog`).
//!
//! Design constraints: logging must never become the bottleneck a misbehaving client can
//! drive. A client sending garbage 1000 times a second gets its first few lines logged per
//! interval; the rest are counted, and the next line logged says how many were suppressed.
//! The counters in `/metrics` stay exact either way: logs explain, metrics count.
//!
//! One event is one line: in the text format, control characters in messages and field
//! values (a newline in a rule ID from the rules file, say) are written escaped, as `\n`.

use std::fmt;
use std::io::{IsTerminal as _, Write as _};

use tracing_subscriber::field::{RecordFields, VisitOutput as _};
use tracing_subscriber::fmt::format::{DefaultVisitor, Writer};
use tracing_subscriber::fmt::{FormatFields, MakeWriter};
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
            // Not `eprintln!`, which panics (exit 101) when stderr is a closed pipe.
            let _ = writeln!(
                std::io::stderr(),
                "ocelot: ignoring RUST_LOG={spec:?} ({err}); using {DEFAULT_FILTER:?}"
            );
            EnvFilter::new(DEFAULT_FILTER)
        }),
        _ => EnvFilter::new(DEFAULT_FILTER),
    };
    let ansi = std::io::stderr().is_terminal();
    let _ = FORMAT.set(format);
    let _ =
        tracing::subscriber::set_global_default(subscriber(format, filter, std::io::stderr, ansi));
}

/// Says why a command failed, its last word on stderr. In the text format `ocelot: <why>`,
/// for a person; with `--log-format json` an ERROR event like every other line, so a log
/// system reading the JSON sees why the server did not start, or did not stop cleanly (a
/// plain line there was not an event). A `RUST_LOG` that hides errors does not hide this:
/// the plain line is written then.
pub(crate) fn fatal(format: LogFormat, why: &str) {
    if format == LogFormat::Json && tracing::enabled!(tracing::Level::ERROR) {
        tracing::error!("{why}");
        return;
    }
    // Not `eprintln!`, which panics (exit 101) when stderr is a closed pipe.
    let _ = writeln!(std::io::stderr(), "ocelot: {why}");
}

/// The format [`init`] was given: what [`problem`] writes in.
static FORMAT: std::sync::OnceLock<LogFormat> = std::sync::OnceLock::new();

/// Says on stderr what kept a command from doing what it was asked (`ocelot status` found no
/// server, `ocelot lookup` no tree, `ocelot decode` a bad frame), in the format [`init`]
/// was given: `ocelot <command>: <why>` for a person, or an ERROR event as [`fatal`] writes
/// one, so that a log system reading `--log-format json` gets no plain line among the JSON.
pub(crate) fn problem(command: &str, why: &str) {
    problem_in(*FORMAT.get().unwrap_or(&LogFormat::Text), command, why);
}

fn problem_in(format: LogFormat, command: &str, why: &str) {
    if format == LogFormat::Json && tracing::enabled!(tracing::Level::ERROR) {
        tracing::error!(command, "{why}");
        return;
    }
    // Not `eprintln!`, which panics (exit 101) when stderr is a closed pipe.
    let _ = writeln!(std::io::stderr(), "ocelot {command}: {why}");
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
        LogFormat::Text => Box::new(builder.with_ansi(ansi).fmt_fields(OneLineFields).finish()),
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

/// The text format's fields, as tracing writes them, with control characters escaped. A
/// `%` field (Display) was written raw, so a value with a newline split the event over two
/// lines, the second one looking like an event of its own. Field names are no longer in
/// italics on a terminal: the escaping would escape the terminal's codes too.
struct OneLineFields;

impl<'writer> FormatFields<'writer> for OneLineFields {
    fn format_fields<R: RecordFields>(
        &self,
        mut writer: Writer<'writer>,
        fields: R,
    ) -> fmt::Result {
        let mut escaped = EscapeControl(&mut writer);
        let mut visitor = DefaultVisitor::new(Writer::new(&mut escaped), true);
        fields.record(&mut visitor);
        visitor.finish()
    }
}

/// Writes to the inner writer with control characters escaped (`\n`, `\u{1b}`).
struct EscapeControl<'a, W>(&'a mut W);

impl<W: fmt::Write> fmt::Write for EscapeControl<'_, W> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let mut rest = text;
        while let Some(at) = rest.find(char::is_control) {
            self.0.write_str(&rest[..at])?;
            let control = rest[at..].chars().next().expect("found at this index");
            write!(self.0, "{}", control.escape_default())?;
            rest = &rest[at + control.len_utf8()..];
        }
        self.0.write_str(rest)
    }
}

#[cfg(test)]
pub(crate) mod tests {
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

    /// The log lines `events` writes, in `format`, filtered by `filter` (other modules'
    /// tests use it too).
    pub(crate) fn capture(format: LogFormat, filter: &str, events: impl FnOnce()) -> String {
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

    /// With `--log-format json`, a failed start (or stop) was a plain `ocelot: ..` line
    /// among the JSON ones.
    #[test]
    fn a_fatal_error_is_a_json_error_event_in_the_json_format() {
        let why = "binding the collector port 127.0.0.1:2280: Address already in use";
        let out = capture(LogFormat::Json, "info", || fatal(LogFormat::Json, why));
        let event: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(event["level"], "ERROR");
        assert_eq!(event["message"], why);
        // In the text format it stays the plain line for a person, not a log event.
        let out = capture(LogFormat::Text, "info", || fatal(LogFormat::Text, why));
        assert_eq!(out, "");
    }

    #[test]
    fn a_commands_problem_is_a_json_error_event_naming_the_command_in_the_json_format() {
        let why = "cannot read http://127.0.0.1:9/metrics: connection refused";
        let out = capture(LogFormat::Json, "info", || {
            problem_in(LogFormat::Json, "status", why);
        });
        let event: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(event["level"], "ERROR");
        assert_eq!(event["command"], "status");
        assert_eq!(event["message"], why);
        // In the text format it is the plain `ocelot status: ..` line, not a log event.
        let out = capture(LogFormat::Text, "info", || {
            problem_in(LogFormat::Text, "status", why);
        });
        assert_eq!(out, "");
    }

    #[test]
    fn text_format_escapes_control_characters_so_an_event_stays_one_line() {
        let out = capture(LogFormat::Text, "info", || {
            let rule = "r\"1\nWARN forged";
            tracing::info!(rule = %rule, to = ?"a\tb", "alert fired\r\n\u{1b}[2J");
        });
        assert_eq!(out.lines().count(), 1, "{out}");
        assert!(
            // tracing writes an escape in a message as \x1b itself.
            out.contains(r#"alert fired\r\n\x1b[2J rule=r"1\nWARN forged to="a\tb""#),
            "{out}"
        );
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
}
