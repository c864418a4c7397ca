//! `ocelot status [--url http://127.0.0.1:8080]`: a running server's health at a glance.
//!
//! Scrapes `/metrics` twice, [`SCRAPE_GAP`] apart, and prints uptime, rates, drops by
//! reason, connections, the open hour, checkpoint age, disk use and (when the server reports
//! them) alerts firing and notifications given up. For scripts and cron the exit code says
//! it all:
//! - 0: healthy.
//! - [`EXIT_UNHEALTHY`] (1) when any drop or decode-error counter moved between the scrapes,
//!   or the server dropped trees within [`RECENT_S`] (its `ocelot_last_drop_age_seconds`:
//!   drops come in bursts, and a second between two scrapes mostly falls between them); or
//!   the collector refused or evicted a connection between them (every slot busy: its
//!   client may have lost trees, which no server counter sees); or a report write failed
//!   between them, or the last good checkpoint is overdue (reports not saved: a full disk,
//!   say; checkpoints come a minute apart, so the second scrape rarely sees one fail); or an
//!   alert notification was given up (or its sending panicked) between them or within
//!   [`RECENT_S`] (someone was not paged).
//! - [`EXIT_UNREACHABLE`] (2) when there is no Ocelot answering at the URL.
//!
//! "Dropped" means lost, as on `/metrics` (`ocelot_dropped_trees`) and the State page: out
//! of the hour window, dropped by a worker, or not stored. A tree the store refused for a
//! duplicate ID is not lost (the reports count it, the ID finds the first tree): it is
//! shown apart, as "not stored", and never fails the status. Nor does a connection gone
//! before a whole length prefix (the decode error `closed_in_length_prefix`: a port scan,
//! a health check), shown apart as a probe, or a frame that holds no tree (`metric_bag`,
//! `empty`: real clients send them), shown apart as skipped.
//!
//! It reads the exposition text with a small parser of its own (sample lines only: names,
//! labels, values), cross-checked in tests against `prometheus-parse` on real `/metrics`
//! output, so the binary carries no parser dependency.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use ocelot_collector::HARMLESS_DECODE_REASONS;

use crate::telemetry::BUILD_INFO;
use crate::telemetry::{
    ALERTS_FIRING, ALERT_LAST_GIVEN_UP_AGE, ALERT_NOTIFICATIONS_GIVEN_UP,
    ALERT_NOTIFICATION_FAILURES, ALERT_NOTIFICATION_PANICS, ALERT_TARGET_NOTIFICATIONS_GIVEN_UP,
    CHECKPOINT_AGE, CHECKPOINT_INTERVAL, CONNECTIONS_EVICTED, CONNECTIONS_OPEN,
    CONNECTIONS_REFUSED, CPU_SECONDS, DECODE_ERRORS, DROPPED_TREES, DUPLICATE_TREES,
    ENTRY_BUDGETS_SPENT, FRAMES_RECEIVED, HOURS_REBUILT, HOURS_RESTORED_INCOMPLETE, HOURS_SEALED,
    LAST_DROP_AGE, OPEN_HOUR, RECEIVED_BYTES, REPORT_WRITE_ERRORS, RESIDENT_MEMORY,
    SEALED_HOURS_ABANDONED, STORE_COMPRESSION_RATIO, STORE_DISK_BYTES, STORE_DISK_CAP_BYTES,
    STORE_HOURS, STORE_LAST_ERROR, STORE_LAST_ERROR_INFO, TREES_ACCEPTED, UPTIME,
};

/// Exit code of an unhealthy server: dropping data, turning connections away, not saving
/// its reports, or not delivering alert notifications (the module docs list each case).
pub(crate) const EXIT_UNHEALTHY: u8 = 1;
/// Exit code when the URL does not answer with Ocelot's `/metrics`.
pub(crate) const EXIT_UNREACHABLE: u8 = 2;

/// Time between the two scrapes: long enough for a rate, short enough to wait for.
const SCRAPE_GAP: Duration = Duration::from_secs(1);

/// How recent a drop (or a notification given up) makes the status fail although no
/// counter moved between the scrapes: longer than the gap between two runs from cron
/// (every 5 to 15 minutes), so that each one fails at least one of them.
const RECENT_S: f64 = 900.0;

/// Beyond two checkpoint intervals, how late the last good checkpoint may be before the
/// reports count as not saved: room for a worker busy writing a large hour.
const CHECKPOINT_SLACK_S: f64 = 30.0;

/// Runs `ocelot status` against `url` (`http://host:port`), printing the summary on stdout
/// (or why the server could not be checked on stderr).
pub(crate) fn run(url: &str) -> anyhow::Result<ExitCode> {
    use std::io::Write as _;
    let status = check(url, SCRAPE_GAP);
    if status.code == EXIT_UNREACHABLE {
        crate::logging::problem("status", status.text.trim_end());
    } else {
        // Not `print!`, which panics when the reader has gone (`ocelot status | head -3`).
        let mut out = std::io::stdout().lock();
        out.write_all(status.text.as_bytes())
            .and_then(|()| out.flush())
            .context(crate::WritingStdout)?;
    }
    Ok(ExitCode::from(status.code))
}

/// What `ocelot status` prints and exits with.
#[derive(Debug)]
struct Status {
    text: String,
    code: u8,
}

/// Two scrapes `gap` apart, summarised.
fn check(url: &str, gap: Duration) -> Status {
    let first = match scrape(url) {
        Ok(samples) => samples,
        Err(err) => return unreachable(url, &err),
    };
    let first_at = Instant::now();
    std::thread::sleep(gap);
    let second = match scrape(url) {
        Ok(samples) => samples,
        Err(err) => return unreachable(url, &err),
    };
    let summary = Summary::new(&first, &second, first_at.elapsed());
    Status {
        text: summary.render(url),
        code: summary.exit_code(),
    }
}

fn unreachable(url: &str, err: &anyhow::Error) -> Status {
    let mut text = format!(
        "cannot read {}: {err:#}\n",
        crate::http::url_of(url, "/metrics")
    );
    // The collector's port reads the request as a frame, finds a bad length and closes:
    // an easy port to mix up with the web port, where `/metrics` is.
    let not_http = err.chain().any(|e| {
        e.is::<crate::http::NotHttp>()
            || e.downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::ConnectionReset)
    });
    if not_http {
        text.push_str(
            "  Not an HTTP server: is this the collector's port (CAT clients' TCP port, 2280 by \
             default)? /metrics is on the web port (web.listen, 8080 by default).\n",
        );
    }
    Status {
        text,
        code: EXIT_UNREACHABLE,
    }
}

/// One `/metrics` answer, which must be Ocelot's.
fn scrape(url: &str) -> anyhow::Result<Samples> {
    let body = crate::http::get(url, "/metrics")?;
    let samples = Samples::parse(&body);
    if samples.value(UPTIME, &[]).is_none() {
        anyhow::bail!("the answer has no {UPTIME}: not an Ocelot server?");
    }
    Ok(samples)
}

/// One sample line: `name{label="value",...} value [timestamp]`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sample {
    pub(crate) name: String,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) value: f64,
}

/// The sample lines of an exposition text; comments and lines that do not parse are skipped.
#[derive(Debug, Default)]
pub(crate) struct Samples(pub(crate) Vec<Sample>);

impl Samples {
    /// Every sample line of `body`.
    pub(crate) fn parse(body: &str) -> Samples {
        Samples(body.lines().filter_map(parse_sample).collect())
    }

    /// The value of the first sample named `name` whose labels include `labels`.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.0
            .iter()
            .find(|s| {
                s.name == name
                    && labels
                        .iter()
                        .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|s| s.value)
    }

    /// A counter's value: its sample carries `_total`.
    fn counter(&self, family: &str) -> Option<f64> {
        self.value(&format!("{family}_total"), &[])
    }

    /// Every sample named `name`.
    fn family<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Sample> + 'a {
        self.0.iter().filter(move |s| s.name == name)
    }
}

/// `None` for comments, blank lines and lines that do not parse.
fn parse_sample(line: &str) -> Option<Sample> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let name_end = line.find(['{', ' ', '\t'])?;
    let name = &line[..name_end];
    let mut rest = &line[name_end..];
    let mut labels = BTreeMap::new();
    if let Some(after_brace) = rest.strip_prefix('{') {
        rest = after_brace;
        loop {
            rest = rest.trim_start_matches([',', ' ']);
            if let Some(after) = rest.strip_prefix('}') {
                rest = after;
                break;
            }
            let (key, after_key) = rest.split_once("=\"")?;
            let (value, after_value) = unescape_label_value(after_key)?;
            labels.insert(key.trim().to_owned(), value);
            rest = after_value;
        }
    }
    let value = rest.split_whitespace().next()?.parse::<f64>().ok()?;
    Some(Sample {
        name: name.to_owned(),
        labels,
        value,
    })
}

/// Reads a label value up to its closing quote: `\\`, `\"` and `\n` escaped.
fn unescape_label_value(s: &str) -> Option<(String, &str)> {
    let mut value = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((value, &s[i + 1..])),
            '\\' => match chars.next()?.1 {
                'n' => value.push('\n'),
                other => value.push(other),
            },
            c => value.push(c),
        }
    }
    None
}

/// One drop or decode-error series in the summary.
#[derive(Debug, PartialEq)]
struct DropRow {
    /// e.g. `worker queue_full (transaction)` or `decode unknown_magic`.
    what: String,
    total: f64,
    /// Increase between the two scrapes.
    moved: f64,
}

/// The figures `ocelot status` shows, from two scrapes `elapsed` apart.
#[derive(Debug)]
struct Summary {
    /// `0.1.0 (abc1234)`, from `ocelot_build_info` (absent from servers that do not say).
    build: Option<String>,
    uptime_s: f64,
    open_hour: Option<u64>,
    frames_per_s: f64,
    trees_per_s: f64,
    bytes_per_s: f64,
    connections_open: f64,
    checkpoint_age_s: Option<f64>,
    /// Seconds between checkpoints (absent from servers that do not say).
    checkpoint_interval_s: Option<f64>,
    hours_sealed: f64,
    disk_bytes: Option<f64>,
    disk_cap_bytes: Option<f64>,
    disk_hours: Option<f64>,
    /// The store's last failure since the server started, as `/metrics` gives it: when
    /// (epoch seconds), and `what path: error`.
    store_last_error: Option<(f64, String)>,
    compression_ratio: Option<f64>,
    resident_bytes: Option<f64>,
    cpu_percent: Option<f64>,
    alerts_firing: Option<f64>,
    /// Alert notifications (absent from servers that do not report alerts).
    notifications: Option<Notifications>,
    drops: Vec<DropRow>,
    /// Trees the store refused for a duplicate ID since start: not lost, not among `drops`.
    duplicates: f64,
    /// Decode errors that lose nothing, by reason, since start
    /// ([`HARMLESS_DECODE_REASONS`]: connections gone before a whole length prefix, port
    /// scans and health checks; frames that hold no tree, metric bags and header-only
    /// frames): not among `drops`.
    harmless: BTreeMap<String, f64>,
    /// Seconds since the server last dropped a tree (absent: none since its start, or a
    /// server that does not say).
    last_drop_age_s: Option<f64>,
    /// Connections the collector closed, as rows of the drops table (`connection refused`,
    /// `connection evicted`): counted in connections, not trees.
    connections_closed: Vec<DropRow>,
    /// Failed report writes (checkpoints, seals): since start, and between the scrapes.
    report_write_errors: (f64, f64),
    /// Sealed hours given up unwritten (their reports lost) since start.
    sealed_hours_abandoned: f64,
    /// Open hours this start continued from checkpoints lacking trees (after a kill -9).
    hours_restored_incomplete: f64,
    hours_rebuilt: f64,
    /// Reports that spent their hour's entry budget since start (new keys fold into OTHERS).
    entry_budgets_spent: f64,
    elapsed: Duration,
}

/// Alert notifications that did not reach their target, from the alert figures.
#[derive(Debug, Default)]
struct Notifications {
    /// Given up after the last retry (panics included): since start, and between the
    /// scrapes.
    given_up: (f64, f64),
    /// Whose sending panicked: since start, and between the scrapes.
    panics: (f64, f64),
    /// Failed attempts, each retry counted, since start.
    failures: f64,
    /// The targets with notifications given up since start, and how many.
    given_up_by_target: Vec<(String, f64)>,
    /// Seconds since a notification was last given up (absent: none).
    last_given_up_age_s: Option<f64>,
}

impl Notifications {
    /// `None` when the server does not report alert notifications.
    fn new(first: &Samples, second: &Samples) -> Option<Notifications> {
        let since_start_and_moved = |family: &str| {
            let now = second.counter(family).unwrap_or(0.0);
            let before = first.counter(family).unwrap_or(0.0);
            (now, (now - before).max(0.0))
        };
        second.counter(ALERT_NOTIFICATIONS_GIVEN_UP)?;
        Some(Notifications {
            given_up: since_start_and_moved(ALERT_NOTIFICATIONS_GIVEN_UP),
            panics: since_start_and_moved(ALERT_NOTIFICATION_PANICS),
            failures: second.counter(ALERT_NOTIFICATION_FAILURES).unwrap_or(0.0),
            given_up_by_target: second
                .family(&format!("{ALERT_TARGET_NOTIFICATIONS_GIVEN_UP}_total"))
                .filter(|s| s.value > 0.0)
                .filter_map(|s| Some((s.labels.get("target")?.clone(), s.value)))
                .collect(),
            last_given_up_age_s: second.value(ALERT_LAST_GIVEN_UP_AGE, &[]),
        })
    }

    /// Whether a notification was given up (or panicked) between the scrapes.
    fn failing_now(&self) -> bool {
        self.given_up.1 > 0.0 || self.panics.1 > 0.0
    }

    /// Seconds since a notification was last given up, when within [`RECENT_S`].
    fn given_up_recently(&self) -> Option<f64> {
        self.last_given_up_age_s.filter(|&age| age <= RECENT_S)
    }
}

impl Summary {
    fn new(first: &Samples, second: &Samples, elapsed: Duration) -> Summary {
        let seconds = elapsed.as_secs_f64().max(1e-3);
        let rate = |family: &str| {
            let now = second.counter(family).unwrap_or(0.0);
            let before = first.counter(family).unwrap_or(0.0);
            (now - before).max(0.0) / seconds
        };
        let mut drops = Vec::new();
        // Servers before `ocelot_duplicate_trees` counted duplicates among the drops.
        let mut duplicates = second.counter(DUPLICATE_TREES).unwrap_or(0.0);
        let mut harmless: BTreeMap<String, f64> = BTreeMap::new();
        for (family, stage_of) in [(DROPPED_TREES, None), (DECODE_ERRORS, Some("decode"))] {
            let name = format!("{family}_total");
            for sample in second.family(&name) {
                let label = |k: &str| sample.labels.get(k).map_or("", String::as_str);
                if stage_of.is_none() && (label("stage"), label("reason")) == ("store", "duplicate")
                {
                    duplicates += sample.value;
                    continue;
                }
                if stage_of.is_some() && HARMLESS_DECODE_REASONS.contains(&label("reason")) {
                    *harmless.entry(label("reason").to_owned()).or_default() += sample.value;
                    continue;
                }
                let before = first
                    .family(&name)
                    .find(|s| s.labels == sample.labels)
                    .map_or(0.0, |s| s.value);
                let mut what =
                    format!("{} {}", stage_of.unwrap_or(label("stage")), label("reason"));
                if let Some(worker) = sample.labels.get("worker") {
                    let _ = write!(what, " ({worker})");
                }
                drops.push(DropRow {
                    what,
                    total: sample.value,
                    moved: (sample.value - before).max(0.0),
                });
            }
        }
        // Refused at once (every slot busy) or evicted (silent, closed for a newcomer):
        // what their clients had to send may be lost, or sent again; the server cannot tell.
        let connections_closed = [
            (CONNECTIONS_REFUSED, "refused"),
            (CONNECTIONS_EVICTED, "evicted"),
        ]
        .into_iter()
        .filter_map(|(family, reason)| {
            let total = second.counter(family)?;
            let before = first.counter(family).unwrap_or(0.0);
            Some(DropRow {
                what: format!("connection {reason}"),
                total,
                moved: (total - before).max(0.0),
            })
        })
        .collect();
        let write_errors = |samples: &Samples| -> f64 {
            samples
                .family(&format!("{REPORT_WRITE_ERRORS}_total"))
                .map(|s| s.value)
                .sum()
        };
        let report_write_errors = (
            write_errors(second),
            (write_errors(second) - write_errors(first)).max(0.0),
        );
        let build = second.family(BUILD_INFO).next().map(|s| {
            let label = |k: &str| s.labels.get(k).map_or("unknown", String::as_str);
            format!("{} ({})", label("version"), label("commit"))
        });
        Summary {
            build,
            uptime_s: second.value(UPTIME, &[]).unwrap_or(0.0),
            open_hour: second.value(OPEN_HOUR, &[]).map(|h| h as u64),
            frames_per_s: rate(FRAMES_RECEIVED),
            trees_per_s: rate(TREES_ACCEPTED),
            bytes_per_s: rate(RECEIVED_BYTES),
            connections_open: second.value(CONNECTIONS_OPEN, &[]).unwrap_or(0.0),
            checkpoint_age_s: second.value(CHECKPOINT_AGE, &[]),
            checkpoint_interval_s: second.value(CHECKPOINT_INTERVAL, &[]),
            hours_sealed: second.counter(HOURS_SEALED).unwrap_or(0.0),
            disk_bytes: second.value(STORE_DISK_BYTES, &[]),
            disk_cap_bytes: second.value(STORE_DISK_CAP_BYTES, &[]),
            disk_hours: second.value(STORE_HOURS, &[]),
            store_last_error: second.value(STORE_LAST_ERROR, &[]).map(|at_s| {
                let info = second.family(STORE_LAST_ERROR_INFO).next();
                let label = |k: &str| {
                    info.and_then(|s| s.labels.get(k))
                        .map_or("", String::as_str)
                };
                let what = [label("what"), label("path")]
                    .into_iter()
                    .filter(|t| !t.is_empty())
                    .collect::<Vec<_>>()
                    .join(" ");
                (at_s, format!("{what}: {}", label("error")))
            }),
            compression_ratio: second.value(STORE_COMPRESSION_RATIO, &[]),
            resident_bytes: second.value(RESIDENT_MEMORY, &[]),
            cpu_percent: second
                .counter(CPU_SECONDS)
                .zip(first.counter(CPU_SECONDS))
                .map(|(now, before)| (now - before).max(0.0) / seconds * 100.0),
            alerts_firing: second.value(ALERTS_FIRING, &[]),
            notifications: Notifications::new(first, second),
            drops,
            duplicates,
            harmless,
            last_drop_age_s: second.value(LAST_DROP_AGE, &[]),
            connections_closed,
            report_write_errors,
            sealed_hours_abandoned: second
                .family(&format!("{SEALED_HOURS_ABANDONED}_total"))
                .map(|s| s.value)
                .sum(),
            entry_budgets_spent: second.counter(ENTRY_BUDGETS_SPENT).unwrap_or(0.0),
            hours_restored_incomplete: second.counter(HOURS_RESTORED_INCOMPLETE).unwrap_or(0.0),
            hours_rebuilt: second.counter(HOURS_REBUILT).unwrap_or(0.0),
            elapsed,
        }
    }

    fn dropping(&self) -> bool {
        self.drops.iter().any(|d| d.moved > 0.0)
    }

    /// Seconds since the server last dropped a tree, when that is within [`RECENT_S`].
    fn dropped_recently(&self) -> Option<f64> {
        self.last_drop_age_s.filter(|&age| age <= RECENT_S)
    }

    /// Whether the collector refused or evicted a connection between the scrapes.
    fn closing_connections(&self) -> bool {
        self.connections_closed.iter().any(|d| d.moved > 0.0)
    }

    /// Whether a report write failed between the scrapes, or the last good checkpoint is
    /// overdue: the open hour is not being saved.
    fn not_saving(&self) -> bool {
        self.report_write_errors.1 > 0.0 || self.checkpoint_overdue().is_some()
    }

    /// Seconds without a good checkpoint (since the start when there was none), when that
    /// is past two intervals and [`CHECKPOINT_SLACK_S`].
    fn checkpoint_overdue(&self) -> Option<f64> {
        let interval = self.checkpoint_interval_s?;
        let age = self.checkpoint_age_s.unwrap_or(self.uptime_s);
        (age > 2.0 * interval + CHECKPOINT_SLACK_S).then_some(age)
    }

    /// Whether an alert notification was given up between the scrapes or recently.
    fn not_notifying(&self) -> bool {
        self.notifications
            .as_ref()
            .is_some_and(|n| n.failing_now() || n.given_up_recently().is_some())
    }

    fn exit_code(&self) -> u8 {
        if self.dropping()
            || self.dropped_recently().is_some()
            || self.closing_connections()
            || self.not_saving()
            || self.not_notifying()
        {
            EXIT_UNHEALTHY
        } else {
            0
        }
    }

    fn render(&self, url: &str) -> String {
        let mut out = String::new();
        let hour = self.open_hour.map_or_else(
            || "unknown".to_owned(),
            |h| format!("{h} ({})", hour_utc(h)),
        );
        let _ = writeln!(out, "Ocelot at {url}");
        let build = self
            .build
            .as_deref()
            .unwrap_or("not reported by this server");
        let _ = writeln!(out, "  build        {build}");
        let _ = writeln!(out, "  uptime       {}", duration(self.uptime_s));
        let _ = writeln!(out, "  open hour    {hour}");
        let _ = writeln!(
            out,
            "  ingest       {:.1} frames/s, {:.1} trees/s, {}/s, {} open",
            self.frames_per_s,
            self.trees_per_s,
            bytes(self.bytes_per_s),
            count(self.connections_open, "connection")
        );
        let checkpoint = self
            .checkpoint_age_s
            .map_or_else(|| "not yet".to_owned(), |s| format!("{} ago", duration(s)));
        let _ = writeln!(
            out,
            "  checkpoint   {checkpoint}, {} sealed",
            count(self.hours_sealed, "hour")
        );
        if let Some(disk) = self.disk_bytes {
            // The blocks the files take, as `du` counts them: sparse index files' lengths
            // once said 17.4 GiB where du said 40 MB.
            let _ = write!(out, "  disk         {}", bytes(disk));
            if let Some(cap) = self.disk_cap_bytes {
                let _ = write!(out, " of a {} cap", bytes(cap));
            }
            if let Some(hours) = self.disk_hours {
                let _ = write!(out, " in {}", count(hours, "hour"));
            }
            if let Some(ratio) = self.compression_ratio {
                let _ = write!(out, ", compression {ratio:.1}x");
            }
            out.push('\n');
        }
        if let Some((at_s, what)) = &self.store_last_error {
            // Past, not failing now: a failing store shows in the drops.
            let _ = writeln!(out, "  store error  {what} (last, at {})", time_utc(*at_s));
        }
        if let (Some(rss), Some(cpu)) = (self.resident_bytes, self.cpu_percent) {
            let _ = writeln!(out, "  process      {} resident, {cpu:.1}% CPU", bytes(rss));
        }
        match self.alerts_firing {
            Some(n) => {
                let _ = writeln!(out, "  alerts       {n} firing");
            }
            None => {
                let _ = writeln!(out, "  alerts       not reported by this server");
            }
        }
        if let Some(n) = &self.notifications {
            if n.given_up.0 > 0.0 || n.failures > 0.0 || n.last_given_up_age_s.is_some() {
                let _ = write!(
                    out,
                    "  notify       {} given up since start (+{} between the scrapes)",
                    n.given_up.0, n.given_up.1
                );
                if !n.given_up_by_target.is_empty() {
                    let targets: Vec<String> = n
                        .given_up_by_target
                        .iter()
                        .map(|(target, count)| format!("{target} {count}"))
                        .collect();
                    let _ = write!(out, ", to {}", targets.join(", "));
                }
                if n.panics.0 > 0.0 {
                    let _ = write!(out, "; {} panicked while sending", n.panics.0);
                }
                let _ = write!(out, "; {} failed attempts", n.failures);
                if let Some(age) = n.last_given_up_age_s {
                    let _ = write!(out, "; last given up {} ago", duration(age));
                }
                out.push('\n');
            }
        }
        let seen: Vec<&DropRow> = self
            .drops
            .iter()
            .chain(&self.connections_closed)
            .filter(|d| d.total > 0.0)
            .collect();
        if seen.is_empty() {
            let _ = writeln!(out, "  drops        none");
        } else {
            let _ = writeln!(
                out,
                "  drops        {:<40} {:>12} {:>10}",
                "stage reason (worker)",
                "total",
                format!("last {:.1}s", self.elapsed.as_secs_f64())
            );
            for d in &seen {
                let _ = writeln!(
                    out,
                    "               {:<40} {:>12} {:>10}",
                    d.what,
                    d.total,
                    format!("+{}", d.moved)
                );
            }
            if self.connections_closed.iter().any(|d| d.total > 0.0) {
                let _ = writeln!(
                    out,
                    "               (connections, not trees: every slot was busy \
                     (collector.max_connections); what their clients had to send may be lost)"
                );
            }
        }
        if let Some(age) = self.last_drop_age_s {
            let _ = writeln!(out, "  last drop    {} ago", duration(age));
        }
        if self.duplicates > 0.0 {
            // Not a drop: nothing is lost, as on /metrics and the State page.
            let _ = writeln!(
                out,
                "  not stored   {} sent under a message ID already stored (duplicate ID): \
                 counted in the reports, not stored; the ID finds the first tree",
                count(self.duplicates, "tree")
            );
        }
        // Not drops: no client sent a tree there.
        for (reason, &n) in &self.harmless {
            if n <= 0.0 {
                continue;
            }
            let _ = match reason.as_str() {
                "closed_in_length_prefix" => writeln!(
                    out,
                    "  probes       {} closed before a whole length prefix since start (port \
                     scans, health checks): nothing lost",
                    count(n, "connection")
                ),
                "metric_bag" => writeln!(
                    out,
                    "  skipped      {} since start (CAT 4.0 clients send them between their \
                     trees; not read): no tree in them, nothing lost",
                    count(n, "metric bag")
                ),
                "empty" => writeln!(
                    out,
                    "  skipped      {} since start (Java 3.x clients send them for a tree they \
                     have not got): nothing lost",
                    count(n, "header-only frame")
                ),
                other => writeln!(
                    out,
                    "  skipped      {n} decode errors {other} since start: nothing lost"
                ),
            };
        }
        if self.report_write_errors.0 > 0.0 {
            let _ = writeln!(
                out,
                "  reports      {} report writes failed since start (+{} between the scrapes)",
                self.report_write_errors.0, self.report_write_errors.1
            );
        }
        if self.sealed_hours_abandoned > 0.0 {
            let _ = writeln!(
                out,
                "  reports      {} sealed hours given up unwritten since start: their reports \
                 since the last checkpoint are lost",
                self.sealed_hours_abandoned
            );
        }
        if self.hours_restored_incomplete > 0.0 {
            // Past, not failing now: no effect on the exit code.
            let rebuilt = if self.hours_rebuilt >= self.hours_restored_incomplete {
                "; rebuilt from the trees in the store since, once sealed".to_owned()
            } else if self.hours_rebuilt > 0.0 {
                format!(
                    "; {} rebuilt from the trees in the store since, once sealed",
                    self.hours_rebuilt
                )
            } else {
                "; rebuilt from the store once sealed, unless collector.rebuild_incomplete_hours is off"
                    .to_owned()
            };
            let _ = writeln!(
                out,
                "  reports      {} left by a crash or kill -9 with checkpoints lacking trees \
                 (continued from them at start, or closed while the collector was down): their \
                 reports count less than was received; the trees are in the store{rebuilt}",
                count(self.hours_restored_incomplete, "hour")
            );
        }
        if self.entry_budgets_spent > 0.0 {
            // Not a loss (every message is still counted, under OTHERS), but names are.
            let _ = writeln!(
                out,
                "  folding      {} reports spent their hour's entry budget since start: new \
                 machines, types and names went to OTHERS (collector.max_report_entries_per_hour)",
                self.entry_budgets_spent
            );
        }
        if self.report_write_errors.1 > 0.0 {
            let _ = writeln!(
                out,
                "REPORTS NOT SAVED: report writes failed between the two scrapes (disk full? see the server's log)"
            );
        } else if let Some(age) = self.checkpoint_overdue() {
            let _ = writeln!(
                out,
                "REPORTS NOT SAVED: no good checkpoint for {} (one is due every {}): report writes fail or a worker is stuck (disk full? see the server's log)",
                duration(age),
                duration(self.checkpoint_interval_s.unwrap_or_default())
            );
        }
        if self.dropping() {
            let _ = writeln!(
                out,
                "DROPPING DATA: drop counters moved between the two scrapes"
            );
        } else if let Some(age) = self.dropped_recently() {
            let _ = writeln!(
                out,
                "DROPPED DATA RECENTLY: trees were dropped {} ago (within the last {}; by stage \
                 and reason, since the start: the totals above)",
                duration(age),
                duration(RECENT_S)
            );
        }
        if self.closing_connections() {
            let _ = writeln!(
                out,
                "CONNECTIONS CLOSED: the collector refused or evicted connections between the two scrapes (every slot busy: raise collector.max_connections?); their clients may have lost trees"
            );
        }
        if let Some(n) = self.notifications.as_ref().filter(|_| self.not_notifying()) {
            let targets: Vec<&str> = n
                .given_up_by_target
                .iter()
                .map(|(target, _)| target.as_str())
                .collect();
            let to = if targets.is_empty() {
                String::new()
            } else {
                format!(" (to {})", targets.join(", "))
            };
            let when = match n.given_up_recently() {
                Some(age) if !n.failing_now() => {
                    format!(
                        "{} ago (within the last {})",
                        duration(age),
                        duration(RECENT_S)
                    )
                }
                _ => "between the two scrapes".to_owned(),
            };
            let _ = writeln!(
                out,
                "ALERTS NOT DELIVERED: notifications were given up {when}{to}: their targets were \
                 not told (see the Alerts page and the server's log)"
            );
        }
        if self.exit_code() == 0 {
            let recent = match self.last_drop_age_s {
                Some(_) => format!(" or in the last {}", duration(RECENT_S)),
                None => String::new(),
            };
            let _ = writeln!(out, "OK: nothing dropped between the two scrapes{recent}");
        }
        out
    }
}

/// `1 hour`, `3 hours`: a count with its noun.
fn count(n: f64, noun: &str) -> String {
    if n == 1.0 {
        format!("{n} {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// `3723.0` -> `1h 02m 03s`.
fn duration(seconds: f64) -> String {
    let s = seconds.max(0.0) as u64;
    match (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60) {
        (0, 0, 0, sec) => format!("{sec}s"),
        (0, 0, min, sec) => format!("{min}m {sec:02}s"),
        (0, h, min, sec) => format!("{h}h {min:02}m {sec:02}s"),
        (d, h, min, _) => format!("{d}d {h:02}h {min:02}m"),
    }
}

/// `1536.0` -> `1.5 KiB`.
fn bytes(n: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n.max(0.0);
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{value:.0} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Epoch seconds -> `2026-11-22 07:04:05 UTC`.
fn time_utc(epoch_s: f64) -> String {
    let s = epoch_s.max(0.0) as u64;
    let hour = hour_utc(s / 3600);
    let day_and_hour = hour.strip_suffix(":00 UTC").unwrap_or(&hour);
    format!("{day_and_hour}:{:02}:{:02} UTC", s / 60 % 60, s % 60)
}

/// Hour index -> `2026-11-22 07:00 UTC` (days to civil date: Howard Hinnant's algorithm).
pub(crate) fn hour_utc(hour: u64) -> String {
    let days = (hour / 24) as i64;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:00 UTC", hour % 24)
}

#[cfg(test)]
mod tests {
    use std::io::{Read as _, Write as _};
    use std::net::TcpListener;

    use super::*;

    /// A scrape of a healthy server, as `/metrics` writes it.
    const FIRST: &str = r#"# HELP ocelot_frames_received Frames received, good or bad.
# TYPE ocelot_frames_received counter
ocelot_frames_received_total 1000
# TYPE ocelot_received_bytes counter
ocelot_received_bytes_total 2048000
# TYPE ocelot_trees_accepted counter
ocelot_trees_accepted_total 990
# TYPE ocelot_decode_errors counter
ocelot_decode_errors_total{reason="unknown_magic"} 10
# TYPE ocelot_dropped_trees counter
ocelot_dropped_trees_total{stage="collector",reason="out_of_window"} 0
ocelot_dropped_trees_total{stage="worker",reason="queue_full",worker="transaction"} 0
ocelot_dropped_trees_total{stage="store",reason="io_error"} 0
# TYPE ocelot_connections_open gauge
ocelot_connections_open 3
# TYPE ocelot_hours_sealed counter
ocelot_hours_sealed_total 2
ocelot_open_hour 498703
ocelot_checkpoint_age_seconds 12.5
ocelot_store_disk_bytes 52428800
ocelot_store_hours 3
ocelot_store_compression_ratio 6.25
ocelot_uptime_seconds 7390.2
ocelot_build_info{version="0.1.0",commit="6c61f69"} 1
ocelot_process_resident_memory_bytes 104857600
ocelot_process_cpu_seconds_total 10.0
# EOF
"#;

    /// Two seconds later: 400 more frames, 200 trees, nothing dropped.
    fn healthy_second() -> String {
        FIRST
            .replace("received_total 1000", "received_total 1400")
            .replace("bytes_total 2048000", "bytes_total 2867200")
            .replace("accepted_total 990", "accepted_total 1190")
            .replace("cpu_seconds_total 10.0", "cpu_seconds_total 10.5")
            .replace(
                "ocelot_uptime_seconds 7390.2",
                "ocelot_uptime_seconds 7392.2",
            )
    }

    /// Like `healthy_second`, but a worker's queue overflowed 7 times.
    fn dropping_second() -> String {
        healthy_second().replace(
            "queue_full\",worker=\"transaction\"} 0",
            "queue_full\",worker=\"transaction\"} 7",
        )
    }

    /// Serves `bodies` in order, one per connection, on 127.0.0.1; 404 when `bodies` is
    /// `None`. Returns the base URL.
    fn serve(bodies: Vec<Option<String>>) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            for body in bodies {
                let (mut stream, _) = listener.accept().unwrap();
                let mut request = Vec::new();
                let mut byte = [0u8; 1];
                while !request.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap() == 1 {
                    request.push(byte[0]);
                }
                assert!(request.starts_with(b"GET /metrics HTTP/1.0\r\n"));
                let answer = match body {
                    Some(body) => format!(
                        "HTTP/1.0 200 OK\r\nContent-Type: {}\r\nContent-Length: {}\r\n\r\n{body}",
                        crate::telemetry::CONTENT_TYPE,
                        body.len()
                    ),
                    None => "HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_owned(),
                };
                stream.write_all(answer.as_bytes()).unwrap();
            }
        });
        url
    }

    #[test]
    fn a_healthy_server_gets_a_summary_and_exit_code_zero() {
        let url = serve(vec![Some(FIRST.to_owned()), Some(healthy_second())]);
        let status = check(&url, Duration::from_millis(10));
        assert_eq!(status.code, 0, "{}", status.text);
        assert!(status.text.starts_with(&format!("Ocelot at {url}\n")));
        assert!(
            status.text.contains("uptime       2h 03m 12s"),
            "{}",
            status.text
        );
        assert!(status
            .text
            .contains("open hour    498703 (2026-11-22 07:00 UTC)"));
        assert!(status.text.contains("3 connections open"));
        assert!(
            status.text.contains("decode unknown_magic"),
            "{}",
            status.text
        );
        assert!(status.text.contains("OK: nothing dropped"));
    }

    #[test]
    fn hours_restored_without_some_trees_are_said_but_do_not_fail_the_check() {
        let restored = |body: &str| {
            body.replace(
                "ocelot_hours_sealed_total 2",
                "ocelot_hours_sealed_total 2\nocelot_hours_restored_incomplete_total 1",
            )
        };
        let url = serve(vec![
            Some(restored(FIRST)),
            Some(restored(&healthy_second())),
        ]);
        let status = check(&url, Duration::from_millis(10));
        assert_eq!(status.code, 0, "{}", status.text);
        assert!(
            status.text.contains(
                "reports      1 hour left by a crash or kill -9 with checkpoints lacking trees"
            ),
            "{}",
            status.text
        );
        assert!(
            status
                .text
                .contains("rebuilt from the store once sealed, unless"),
            "{}",
            status.text
        );
        // Once rebuilt, said so.
        let rebuilt = |body: &str| format!("{}\nocelot_hours_rebuilt_total 1\n", restored(body));
        let url = serve(vec![Some(rebuilt(FIRST)), Some(rebuilt(&healthy_second()))]);
        let status = check(&url, Duration::from_millis(10));
        assert!(
            status
                .text
                .contains("rebuilt from the trees in the store since, once sealed"),
            "{}",
            status.text
        );
    }

    #[test]
    fn a_drop_counter_that_moved_gives_exit_code_one() {
        let url = serve(vec![Some(FIRST.to_owned()), Some(dropping_second())]);
        let status = check(&url, Duration::from_millis(10));
        assert_eq!(status.code, EXIT_UNHEALTHY, "{}", status.text);
        assert!(status.text.contains("worker queue_full (transaction)"));
        assert!(status.text.contains("+7"), "{}", status.text);
        assert!(status.text.contains("DROPPING DATA"));
    }

    /// The store's last failure was on the pages only: `ocelot status` reads `/metrics`,
    /// which had none of it.
    #[test]
    fn the_stores_last_error_is_shown() {
        let second = healthy_second().replace(
            "# TYPE ocelot_dropped_trees",
            "ocelot_store_last_error_timestamp_seconds 1763795045.5\nocelot_store_last_error_info{what=\"writing a block\",path=\"/data/498703/shop/messages.dat\",error=\"No space left on device (os error 28)\"} 1\n# TYPE ocelot_dropped_trees",
        );
        let summary = Summary::new(
            &Samples::parse(FIRST),
            &Samples::parse(&second),
            Duration::from_secs(2),
        );
        let text = summary.render("http://x");
        assert_eq!(summary.exit_code(), 0, "{text}");
        assert!(
            text.contains("store error  writing a block /data/498703/shop/messages.dat: No space left on device (os error 28) (last, at 2025-11-22 07:04:05 UTC)"),
            "{text}"
        );
        let text = Summary::new(
            &Samples::parse(FIRST),
            &Samples::parse(&healthy_second()),
            Duration::from_secs(2),
        )
        .render("http://x");
        assert!(!text.contains("store error"), "{text}");
    }

    /// Metric bags (CAT 4.0) and header-only frames (Java 3.x) hold no tree; the docs say
    /// they are skipped, not errors, yet `ocelot status` said DROPPING DATA when their
    /// counts moved.
    #[test]
    fn frames_that_hold_no_tree_are_shown_apart_and_are_not_drops() {
        let with = |body: &str, n: u32| {
            body.replace(
                "# TYPE ocelot_dropped_trees",
                &format!(
                    "ocelot_decode_errors_total{{reason=\"metric_bag\"}} {n}\nocelot_decode_errors_total{{reason=\"empty\"}} {n}\n# TYPE ocelot_dropped_trees"
                ),
            )
        };
        let summary = Summary::new(
            &Samples::parse(&with(FIRST, 1)),
            &Samples::parse(&with(&healthy_second(), 5)),
            Duration::from_secs(2),
        );
        let text = summary.render("http://x");
        assert_eq!(summary.exit_code(), 0, "{text}");
        assert!(
            text.contains("skipped      5 metric bags since start"),
            "{text}"
        );
        assert!(
            text.contains("skipped      5 header-only frames since start"),
            "{text}"
        );
        assert!(text.contains("OK: nothing dropped"), "{text}");
    }

    #[test]
    fn a_decode_error_series_that_appears_between_scrapes_counts_as_dropping() {
        let second = healthy_second().replace(
            "# TYPE ocelot_dropped_trees",
            "ocelot_decode_errors_total{reason=\"frame_too_long\"} 1\n# TYPE ocelot_dropped_trees",
        );
        let summary = Summary::new(
            &Samples::parse(FIRST),
            &Samples::parse(&second),
            Duration::from_secs(2),
        );
        assert_eq!(summary.exit_code(), EXIT_UNHEALTHY);
    }

    /// A port scan or a TCP health check that wrote a byte or two and closed made `ocelot
    /// status` say "DROPPING DATA": nothing a client sent as a tree was lost. It is shown
    /// apart; a connection closed inside a frame still fails the check.
    #[test]
    fn a_connection_gone_before_a_length_prefix_is_shown_apart_and_is_not_a_drop() {
        let with = |body: &str, reason: &str, n: u32| {
            body.replace(
                "# TYPE ocelot_dropped_trees",
                &format!(
                    "ocelot_decode_errors_total{{reason=\"{reason}\"}} {n}\n# TYPE ocelot_dropped_trees"
                ),
            )
        };
        let summary = Summary::new(
            &Samples::parse(&with(FIRST, "closed_in_length_prefix", 1)),
            &Samples::parse(&with(&healthy_second(), "closed_in_length_prefix", 3)),
            Duration::from_secs(2),
        );
        let text = summary.render("http://x");
        assert_eq!(summary.exit_code(), 0, "{text}");
        assert!(
            text.contains("probes       3 connections closed before a whole length prefix"),
            "{text}"
        );
        assert!(!text.contains("decode closed_in_length_prefix"), "{text}");
        assert!(text.contains("OK: nothing dropped"), "{text}");
        let summary = Summary::new(
            &Samples::parse(FIRST),
            &Samples::parse(&with(&healthy_second(), "closed_mid_frame", 1)),
            Duration::from_secs(2),
        );
        let text = summary.render("http://x");
        assert_eq!(summary.exit_code(), EXIT_UNHEALTHY, "{text}");
        assert!(text.contains("decode closed_mid_frame"), "{text}");
    }

    #[test]
    fn failing_report_writes_give_exit_code_one_though_nothing_is_dropped() {
        // A full disk: every checkpoint fails, no tree is dropped.
        let failing = |n: u32| {
            healthy_second().replace(
                "# TYPE ocelot_dropped_trees",
                &format!("ocelot_report_write_errors_total{{worker=\"analyzer-0\"}} {n}\n# TYPE ocelot_dropped_trees"),
            )
        };
        let summary = Summary::new(
            &Samples::parse(&failing(3)),
            &Samples::parse(&failing(5)),
            Duration::from_secs(2),
        );
        assert_eq!(summary.exit_code(), EXIT_UNHEALTHY);
        let text = summary.render("http://x");
        assert!(
            text.contains("5 report writes failed since start (+2"),
            "{text}"
        );
        assert!(text.contains("REPORTS NOT SAVED"), "{text}");
        assert!(!text.contains("OK: nothing dropped"), "{text}");
        assert!(!text.contains("given up"), "{text}");
        // A disk full for hours: the oldest unwritten sealed hour was given up.
        let abandoned = failing(5).replace(
            "# TYPE ocelot_dropped_trees",
            "ocelot_sealed_hours_abandoned_total{worker=\"analyzer-0\"} 1\n# TYPE ocelot_dropped_trees",
        );
        let text = Summary::new(
            &Samples::parse(&failing(3)),
            &Samples::parse(&abandoned),
            Duration::from_secs(2),
        )
        .render("http://x");
        assert!(text.contains("1 sealed hours given up unwritten"), "{text}");
        // Failures long ago, none now: healthy, with the count shown.
        let settled = Summary::new(
            &Samples::parse(&failing(5)),
            &Samples::parse(&failing(5)),
            Duration::from_secs(2),
        );
        assert_eq!(settled.exit_code(), 0);
        assert!(settled.render("http://x").contains("OK: nothing dropped"));
    }

    #[test]
    fn an_overdue_checkpoint_gives_exit_code_one_though_no_write_failed_between_the_scrapes() {
        // A full disk: checkpoints a minute apart all fail, the scrapes a second apart see
        // no failure happen, but the last good checkpoint grows old (or never came).
        let with = |figures: &str| {
            let text = healthy_second().replace(
                "ocelot_checkpoint_age_seconds 12.5\n",
                &format!("ocelot_checkpoint_interval_seconds 60\n{figures}"),
            );
            Summary::new(
                &Samples::parse(FIRST),
                &Samples::parse(&text),
                Duration::from_secs(2),
            )
        };
        for (figures, overdue) in [
            ("ocelot_checkpoint_age_seconds 12.5\n", false),
            ("ocelot_checkpoint_age_seconds 150\n", false),
            ("ocelot_checkpoint_age_seconds 151\n", true),
            // None yet: counted from the start (7392 s ago in `healthy_second`).
            ("", true),
        ] {
            let summary = with(figures);
            let text = summary.render("http://x");
            assert_eq!(
                summary.exit_code() == EXIT_UNHEALTHY,
                overdue,
                "{figures}: {text}"
            );
            assert_eq!(
                text.contains("REPORTS NOT SAVED: no good checkpoint for"),
                overdue,
                "{text}"
            );
            assert_eq!(text.contains("OK: nothing dropped"), !overdue, "{text}");
        }
        assert!(with("")
            .render("http://x")
            .contains("for 2h 03m 12s (one is due every 1m 00s)"));
        // Just started: no checkpoint yet is no news.
        let starting = healthy_second()
            .replace(
                "ocelot_checkpoint_age_seconds 12.5\n",
                "ocelot_checkpoint_interval_seconds 60\n",
            )
            .replace("ocelot_uptime_seconds 7392.2", "ocelot_uptime_seconds 40");
        let summary = Summary::new(
            &Samples::parse(FIRST),
            &Samples::parse(&starting),
            Duration::from_secs(2),
        );
        assert_eq!(summary.exit_code(), 0, "{}", summary.render("http://x"));
    }

    /// A connection refused (every slot busy) or evicted loses what its client had to send,
    /// which no tree counter sees: neither was among the drops, and a status with clients
    /// turned away said "OK: nothing dropped".
    #[test]
    fn refused_and_evicted_connections_are_shown_with_the_drops_and_give_exit_code_one() {
        let with = |refused: u32, evicted: u32| {
            healthy_second().replace(
                "# TYPE ocelot_dropped_trees",
                &format!(
                    "ocelot_connections_refused_total {refused}\n\
                     ocelot_connections_evicted_total {evicted}\n# TYPE ocelot_dropped_trees"
                ),
            )
        };
        let summary = Summary::new(
            &Samples::parse(&with(2, 1)),
            &Samples::parse(&with(5, 1)),
            Duration::from_secs(2),
        );
        assert_eq!(summary.exit_code(), EXIT_UNHEALTHY);
        let text = summary.render("http://x");
        let row = |what: &str| {
            text.lines()
                .find(|line| line.trim_start().starts_with(what))
                .map(|line| line.split_whitespace().collect::<Vec<_>>())
        };
        assert_eq!(
            row("connection refused"),
            Some(vec!["connection", "refused", "5", "+3"]),
            "{text}"
        );
        assert_eq!(
            row("connection evicted"),
            Some(vec!["connection", "evicted", "1", "+0"]),
            "{text}"
        );
        assert!(text.contains("(connections, not trees"), "{text}");
        assert!(text.contains("CONNECTIONS CLOSED"), "{text}");
        assert!(
            !text.contains("DROPPING DATA"),
            "no tree counter moved: {text}"
        );
        assert!(!text.contains("OK: nothing dropped"), "{text}");
        // Refusals long ago, none now: healthy, with the counts shown.
        let settled = Summary::new(
            &Samples::parse(&with(5, 1)),
            &Samples::parse(&with(5, 1)),
            Duration::from_secs(2),
        );
        assert_eq!(settled.exit_code(), 0);
        let text = settled.render("http://x");
        assert!(text.contains("connection refused"), "{text}");
        assert!(text.contains("OK: nothing dropped"), "{text}");
    }

    /// Drops come in bursts (a full queue for a few seconds, a disk full for a minute):
    /// two scrapes a second apart mostly fall between them, and the status said OK while
    /// the server was dropping. The server dates its last drop; a recent one fails the
    /// status though no counter moved between the scrapes.
    #[test]
    fn a_recent_drop_gives_exit_code_one_though_no_counter_moved_between_the_scrapes() {
        let dropped = |age_s: f64| {
            let with_age = |text: String| {
                text.replace(
                    "queue_full\",worker=\"transaction\"} 0",
                    "queue_full\",worker=\"transaction\"} 7",
                )
                .replace(
                    "# TYPE ocelot_connections_open",
                    &format!(
                        "ocelot_last_drop_age_seconds {age_s}\n# TYPE ocelot_connections_open"
                    ),
                )
            };
            Summary::new(
                &Samples::parse(&with_age(FIRST.to_owned())),
                &Samples::parse(&with_age(healthy_second())),
                Duration::from_secs(2),
            )
        };
        let recent = dropped(42.0);
        let text = recent.render("http://x");
        assert_eq!(recent.exit_code(), EXIT_UNHEALTHY, "{text}");
        assert!(text.contains("  last drop    42s ago"), "{text}");
        assert!(
            text.contains("DROPPED DATA RECENTLY: trees were dropped 42s ago"),
            "{text}"
        );
        assert!(text.contains("worker queue_full (transaction)"), "{text}");
        assert!(!text.contains("OK: nothing dropped"), "{text}");
        // Long ago: healthy, and the drop's age and totals still shown.
        let settled = dropped(3600.0);
        let text = settled.render("http://x");
        assert_eq!(settled.exit_code(), 0, "{text}");
        assert!(text.contains("  last drop    1h 00m 00s ago"), "{text}");
        assert!(
            text.contains("OK: nothing dropped between the two scrapes or in the last 15m 00s"),
            "{text}"
        );
    }

    /// Alert figures of a server whose webhook `dead` gave up `given_up` notifications,
    /// `panics` of them by a panic, the last `age_s` seconds ago; `None`: none given up.
    fn with_notifications(text: &str, given_up: u32, panics: u32, age_s: Option<f64>) -> String {
        let age = age_s.map_or_else(String::new, |age| {
            format!("ocelot_alert_last_notification_given_up_age_seconds {age}\n")
        });
        text.replace(
            "# EOF",
            &format!(
                "ocelot_alerts_firing 1\n\
                 ocelot_alert_notification_failures_total {failures}\n\
                 ocelot_alert_notifications_given_up_total {given_up}\n\
                 ocelot_alert_notification_panics_total {panics}\n\
                 ocelot_alert_target_notifications_given_up_total{{target=\"dead\",channel=\"webhook\"}} {given_up}\n\
                 ocelot_alert_target_notifications_given_up_total{{target=\"ops\",channel=\"webhook\"}} 0\n\
                 {age}# EOF",
                failures = 2 * given_up,
            ),
        )
    }

    /// After webhooks were given up, status printed only "alerts 1 firing" and "OK:
    /// nothing dropped", and exited 0: nobody was paged, and the status said all was well.
    #[test]
    fn notifications_given_up_are_shown_by_target_and_give_exit_code_one() {
        let summary = |first: String, second: String| {
            Summary::new(
                &Samples::parse(&first),
                &Samples::parse(&second),
                Duration::from_secs(2),
            )
        };
        // Given up between the scrapes.
        let now = summary(
            with_notifications(FIRST, 0, 0, None),
            with_notifications(&healthy_second(), 1, 0, Some(0.5)),
        );
        let text = now.render("http://x");
        assert_eq!(now.exit_code(), EXIT_UNHEALTHY, "{text}");
        assert!(
            text.contains(
                "  notify       1 given up since start (+1 between the scrapes), to dead 1; \
                 2 failed attempts; last given up 0s ago\n"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "ALERTS NOT DELIVERED: notifications were given up between the two scrapes (to dead)"
            ),
            "{text}"
        );
        assert!(!text.contains("OK:"), "{text}");
        // Given up five minutes ago: no counter moves, the status still fails.
        let recent = summary(
            with_notifications(FIRST, 1, 0, Some(298.0)),
            with_notifications(&healthy_second(), 1, 0, Some(300.0)),
        );
        let text = recent.render("http://x");
        assert_eq!(recent.exit_code(), EXIT_UNHEALTHY, "{text}");
        assert!(
            text.contains("given up 5m 00s ago (within the last 15m 00s) (to dead)"),
            "{text}"
        );
        // A panic while sending is given up too, and said.
        let panicked = summary(
            with_notifications(FIRST, 1, 0, Some(3600.0)),
            with_notifications(&healthy_second(), 2, 1, Some(0.0)),
        );
        let text = panicked.render("http://x");
        assert_eq!(panicked.exit_code(), EXIT_UNHEALTHY, "{text}");
        assert!(text.contains("; 1 panicked while sending;"), "{text}");
        // Long ago: healthy, the totals still shown.
        let settled = summary(
            with_notifications(FIRST, 1, 0, Some(3600.0)),
            with_notifications(&healthy_second(), 1, 0, Some(3602.0)),
        );
        let text = settled.render("http://x");
        assert_eq!(settled.exit_code(), 0, "{text}");
        assert!(text.contains("last given up 1h 00m 02s ago"), "{text}");
        assert!(text.contains("OK: nothing dropped"), "{text}");
        // None given up: no line.
        let quiet = summary(
            with_notifications(FIRST, 0, 0, None),
            with_notifications(&healthy_second(), 0, 0, None),
        );
        let text = quiet.render("http://x");
        assert_eq!(quiet.exit_code(), 0, "{text}");
        assert!(!text.contains("notify"), "{text}");
    }

    /// What the alert figures write on `/metrics` is what status reads: a log with a
    /// webhook given up, through `AlertFigures`, fails the status and names the webhook.
    #[test]
    fn status_reads_the_alert_figures_a_server_writes() {
        use ocelot_alert::{AlertKind, AlertLog, NotificationAttempt};

        let log = AlertLog::new();
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        for (attempt, gave_up) in [(1, false), (2, true)] {
            log.record_attempt(NotificationAttempt {
                at_ms: now_ms,
                rule: "shop-silent".into(),
                kind: AlertKind::Fired,
                minute: now_ms / 60_000,
                target: "pager \"east\"".into(),
                channel: "webhook".into(),
                attempt,
                ok: false,
                status: Some(500),
                error: Some("HTTP 500".into()),
                elapsed_ms: 1,
                gave_up,
            });
        }
        let mut registry = prometheus_client::registry::Registry::default();
        registry.register_collector(Box::new(crate::alerts::AlertFigures(log)));
        let mut figures = String::new();
        prometheus_client::encoding::text::encode(&mut figures, &registry).unwrap();
        let second = healthy_second().replace("# EOF\n", &figures);
        let summary = Summary::new(
            &Samples::parse(FIRST),
            &Samples::parse(&second),
            Duration::from_secs(2),
        );
        let text = summary.render("http://x");
        assert_eq!(summary.exit_code(), EXIT_UNHEALTHY, "{text}");
        assert!(
            text.contains("1 given up since start (+1 between the scrapes), to pager \"east\" 1; 2 failed attempts"),
            "{text}"
        );
    }

    /// The same run told three stories: `/metrics` counted 2 500 duplicates among the
    /// dropped trees, status listed them with the drops. Out-of-window trees are dropped
    /// (lost); duplicates are not stored but not lost: shown apart, never failing.
    #[test]
    fn out_of_window_trees_are_drops_and_duplicates_are_shown_apart_as_not_stored() {
        let with = |text: &str, out_of_window: u32, duplicates: u32| {
            text.replace(
                "reason=\"out_of_window\"} 0",
                &format!("reason=\"out_of_window\"}} {out_of_window}"),
            )
            .replace(
                "# TYPE ocelot_connections_open",
                &format!(
                    "ocelot_duplicate_trees_total {duplicates}\n# TYPE ocelot_connections_open"
                ),
            )
        };
        let summary = Summary::new(
            &Samples::parse(&with(FIRST, 31, 1000)),
            &Samples::parse(&with(&healthy_second(), 31, 2500)),
            Duration::from_secs(2),
        );
        let text = summary.render("http://x");
        assert_eq!(
            summary.exit_code(),
            0,
            "duplicates moved, nothing lost: {text}"
        );
        assert!(text.contains("collector out_of_window"), "{text}");
        assert!(!text.contains("store duplicate"), "{text}");
        assert!(
            text.contains(
                "  not stored   2500 trees sent under a message ID already stored (duplicate ID)"
            ),
            "{text}"
        );
        // A server from before `ocelot_duplicate_trees` counted them among the drops.
        let old = |n: u32| {
            healthy_second().replace(
                "# TYPE ocelot_connections_open",
                &format!(
                    "ocelot_dropped_trees_total{{stage=\"store\",reason=\"duplicate\"}} {n}\n\
                     # TYPE ocelot_connections_open"
                ),
            )
        };
        let summary = Summary::new(
            &Samples::parse(&old(1)),
            &Samples::parse(&old(2)),
            Duration::from_secs(2),
        );
        let text = summary.render("http://x");
        assert_eq!(summary.exit_code(), 0, "{text}");
        assert!(text.contains("  not stored   2 trees sent under"), "{text}");
        assert!(!text.contains("store duplicate"), "{text}");
    }

    #[test]
    fn a_spent_entry_budget_is_shown_and_is_not_a_drop() {
        let spent = healthy_second().replace(
            "# TYPE ocelot_dropped_trees",
            "ocelot_report_entry_budgets_spent_total 3\n# TYPE ocelot_dropped_trees",
        );
        let summary = Summary::new(
            &Samples::parse(FIRST),
            &Samples::parse(&spent),
            Duration::from_secs(2),
        );
        assert_eq!(summary.exit_code(), 0);
        let text = summary.render("http://x");
        assert!(
            text.contains("folding      3 reports spent their hour's entry budget"),
            "{text}"
        );
        assert!(text.contains("OK: nothing dropped"), "{text}");
    }

    /// `--url 127.0.0.1:PORT` exited 2 ("unreachable") with the server up, and
    /// `--url http://HOST:PORT/?x=1` asked for `/?x=1/metrics`.
    #[test]
    fn a_url_without_a_scheme_or_with_a_query_reads_the_servers_metrics() {
        let url = serve(vec![Some(FIRST.to_owned()), Some(healthy_second())]);
        let bare = url.strip_prefix("http://").unwrap();
        let status = check(bare, Duration::from_millis(10));
        assert_eq!(status.code, 0, "{}", status.text);
        let url = serve(vec![Some(FIRST.to_owned()), Some(healthy_second())]);
        let status = check(&format!("{url}/?x=1"), Duration::from_millis(10));
        assert_eq!(status.code, 0, "{}", status.text);
    }

    #[test]
    fn an_unreachable_server_gives_exit_code_two() {
        let closed = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", closed.local_addr().unwrap());
        drop(closed);
        let status = check(&url, Duration::from_millis(10));
        assert_eq!(status.code, EXIT_UNREACHABLE);
        assert!(status.text.contains("cannot read"), "{}", status.text);
    }

    #[test]
    fn a_server_without_ocelot_metrics_gives_exit_code_two() {
        let url = serve(vec![None]);
        assert_eq!(check(&url, Duration::ZERO).code, EXIT_UNREACHABLE);
        let url = serve(vec![Some("some_other_metric 1\n".to_owned())]);
        let status = check(&url, Duration::ZERO);
        assert_eq!(status.code, EXIT_UNREACHABLE);
        assert!(
            status.text.contains("not an Ocelot server"),
            "{}",
            status.text
        );
    }

    #[test]
    fn the_summary_shows_rates_over_the_measured_gap() {
        let summary = Summary::new(
            &Samples::parse(FIRST),
            &Samples::parse(&healthy_second()),
            Duration::from_secs(2),
        );
        let text = summary.render("http://127.0.0.1:8080");
        let expected = "\
Ocelot at http://127.0.0.1:8080
  build        0.1.0 (6c61f69)
  uptime       2h 03m 12s
  open hour    498703 (2026-11-22 07:00 UTC)
  ingest       200.0 frames/s, 100.0 trees/s, 400.0 KiB/s, 3 connections open
  checkpoint   12s ago, 2 hours sealed
  disk         50.0 MiB in 3 hours, compression 6.2x
  process      100.0 MiB resident, 25.0% CPU
  alerts       not reported by this server
";
        assert!(text.starts_with(expected), "{text}");
        assert!(text.contains("decode unknown_magic"));
        assert!(text.ends_with("OK: nothing dropped between the two scrapes\n"));
        // With a size cap, the disk line names it.
        let capped = format!(
            "{}\nocelot_store_disk_cap_bytes 1073741824\n",
            healthy_second()
        );
        let text = Summary::new(
            &Samples::parse(FIRST),
            &Samples::parse(&capped),
            Duration::from_secs(2),
        )
        .render("http://127.0.0.1:8080");
        assert!(
            text.contains(
                "  disk         50.0 MiB of a 1.0 GiB cap in 3 hours, compression 6.2x\n"
            ),
            "{text}"
        );
    }

    /// "in 1 hours", "1 hours sealed", "1 connections open": counts of one are singular.
    #[test]
    fn counts_of_one_are_singular() {
        let one = |text: &str| {
            text.replace("ocelot_store_hours 3", "ocelot_store_hours 1")
                .replace("ocelot_hours_sealed_total 2", "ocelot_hours_sealed_total 1")
                .replace("ocelot_connections_open 3", "ocelot_connections_open 1")
        };
        let summary = Summary::new(
            &Samples::parse(&one(FIRST)),
            &Samples::parse(&one(&healthy_second())),
            Duration::from_secs(2),
        );
        let text = summary.render("http://127.0.0.1:8080");
        for part in [
            ", 1 connection open\n",
            ", 1 hour sealed\n",
            "MiB in 1 hour,",
        ] {
            assert!(text.contains(part), "{part}: {text}");
        }
    }

    /// `ocelot status` pointed at the collector's port said only "malformed HTTP answer":
    /// the collector reads the request as a frame of a bad length and closes. It now asks
    /// whether this is the collector's port, and names the web port.
    #[test]
    fn status_pointed_at_the_collector_port_says_which_port_it_may_be() {
        use std::sync::Arc;

        use ocelot_collector::{Collector, CollectorConfig, ManualClock};

        let collector = Collector::start(
            CollectorConfig {
                background_ticks: false,
                ..Default::default()
            },
            None,
            Arc::new(ManualClock::new(498_703 * 3_600_000)),
        );
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let served = collector.clone();
        let server = std::thread::spawn(move || {
            runtime.block_on(ocelot_collector::run(listener, served, async {
                let _ = stopped.await;
            }))
        });
        let status = check(&url, Duration::ZERO);
        let _ = stop.send(());
        server.join().unwrap().unwrap();
        collector.shutdown();
        assert_eq!(status.code, EXIT_UNREACHABLE, "{}", status.text);
        assert!(
            status.text.contains("is this the collector's port")
                && status.text.contains("/metrics is on the web port"),
            "{}",
            status.text
        );
    }

    #[test]
    fn status_reads_a_live_metrics_endpoint_and_sees_a_flood_of_garbage_as_decode_errors() {
        use std::sync::Arc;

        use ocelot_collector::{Collector, CollectorConfig, ManualClock};
        use ocelot_store::{Store, StoreConfig};

        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(StoreConfig::new(dir.path())).unwrap();
        let now_ms = 498_703 * 3_600_000 + 600_000;
        let clock = Arc::new(ManualClock::new(now_ms));
        let collector = Collector::start(
            CollectorConfig {
                background_ticks: false,
                ..Default::default()
            },
            Some(store.clone()),
            clock.clone(),
        );
        let telemetry = Arc::new(crate::telemetry::Telemetry::new(
            collector.clone(),
            store.clone(),
            Duration::from_secs(60),
        ));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = crate::telemetry::routes(telemetry);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = std::thread::spawn(move || {
            runtime.block_on(async move {
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await
                    .unwrap();
            })
        });

        let quiet = check(&url, Duration::from_millis(50));
        assert_eq!(quiet.code, 0, "{}", quiet.text);
        assert!(quiet.text.contains("open hour    498703"), "{}", quiet.text);
        // Which build answers: every build said 0.1.0, whatever its commit.
        let build = format!("  build        {} ({})\n", crate::VERSION, crate::COMMIT);
        assert!(quiet.text.contains(&build), "{}", quiet.text);

        // Garbage keeps arriving for as long as status watches.
        let flooding = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let flood = {
            let collector = collector.clone();
            let flooding = flooding.clone();
            std::thread::spawn(move || {
                while flooding.load(std::sync::atomic::Ordering::Relaxed) {
                    let garbage = bytes::Bytes::from_static(b"\x00\x00\x00\x04XXXX");
                    let _ = collector.ingest(garbage);
                    std::thread::sleep(Duration::from_millis(2));
                }
            })
        };
        let flooded = check(&url, Duration::from_millis(50));
        flooding.store(false, std::sync::atomic::Ordering::Relaxed);
        flood.join().unwrap();
        assert_eq!(flooded.code, EXIT_UNHEALTHY, "{}", flooded.text);
        assert!(
            flooded.text.contains("decode unknown_magic"),
            "{}",
            flooded.text
        );

        // A drop over before status looks (a tree two hours old, out of the window), dated
        // by the State sample that sees it: status still fails.
        let old_ms = now_ms - 2 * 3_600_000;
        let header = ocelot_protocol::Header {
            domain: "shop".into(),
            ip_address: "10.0.0.1".into(),
            message_id: format!("shop-0a000001-{}-1", old_ms / 3_600_000),
            ..Default::default()
        };
        let root = ocelot_protocol::Transaction::new("URL", "/", old_ms);
        let tree =
            ocelot_protocol::MessageTree::new(header, ocelot_protocol::Message::Transaction(root));
        collector
            .ingest(ocelot_protocol::nt1::encode_to_bytes(&tree))
            .unwrap();
        clock.set(now_ms + 30_000);
        collector.tick();
        clock.set(now_ms + 60_000);
        let after = check(&url, Duration::from_millis(50));
        assert_eq!(after.code, EXIT_UNHEALTHY, "{}", after.text);
        assert!(
            after
                .text
                .contains("DROPPED DATA RECENTLY: trees were dropped 30s ago"),
            "{}",
            after.text
        );

        // A drop just before status looks, which no State sample has dated yet (they come
        // every 10 s): status said "OK: nothing dropped". Its first scrape dates it.
        let mut again = tree;
        again.header.message_id = format!("shop-0a000001-{}-2", old_ms / 3_600_000);
        collector
            .ingest(ocelot_protocol::nt1::encode_to_bytes(&again))
            .unwrap();
        clock.set(now_ms + 65_000);
        let just_after = check(&url, Duration::from_millis(50));
        assert_eq!(just_after.code, EXIT_UNHEALTHY, "{}", just_after.text);
        assert!(
            just_after
                .text
                .contains("DROPPED DATA RECENTLY: trees were dropped 0s ago"),
            "{}",
            just_after.text
        );

        let _ = stop.send(());
        server.join().unwrap();
        collector.shutdown();
        store.shutdown();
    }

    #[test]
    fn sample_lines_parse_with_escaped_labels_and_timestamps() {
        let samples = Samples::parse(
            "# HELP x y\nx_total{a=\"q\\\"uote\",b=\"back\\\\slash\\n\"} 3 1700000000000\ny 1.5e3\n\
             bad line\nz{unterminated=\"} 1\n",
        );
        assert_eq!(samples.0.len(), 2);
        assert_eq!(samples.0[0].labels["a"], "q\"uote");
        assert_eq!(samples.0[0].labels["b"], "back\\slash\n");
        assert_eq!(samples.value("x_total", &[("a", "q\"uote")]), Some(3.0));
        assert_eq!(samples.value("y", &[]), Some(1500.0));
    }

    #[test]
    fn hours_print_as_utc_dates() {
        assert_eq!(hour_utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(hour_utc(498_703), "2026-11-22 07:00 UTC");
        assert_eq!(hour_utc(24 * 11_016 + 23), "2000-02-29 23:00 UTC");
    }
}
