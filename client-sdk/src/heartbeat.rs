//! The heartbeat thread: once per interval a `System/Status` transaction holding a
//! `Heartbeat/<ip>` whose data is CAT's `<status>` XML (reference 1.7). When it starts, an
//! Event `Reboot/<ip>`, as CAT's Java client logs one at start: the Event report's `Reboot`
//! type counts the restarts of each machine.
//!
//! Extensions: `system.process` (CPU time, RSS, threads, open file descriptors, read from
//! `/proc/self`; absent on other systems) and `ocelot.client` (the SDK's own counters). The
//! collector's heartbeat report reads every `<extensionDetail id=.. value=..>`.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::time::Duration;

use crossbeam_channel::{RecvTimeoutError, Sender};

use crate::client::{with_client, Client};
use crate::record::Kind;
use crate::stats::{DropReason, Stats};
use crate::tree_builder::with_state;

/// Starts the thread; dropping the returned sender stops it.
pub(crate) fn spawn(client: &Client, every: Duration) -> Option<Sender<()>> {
    let (stop_tx, stop_rx) = crossbeam_channel::bounded::<()>(0);
    let weak = client.downgrade();
    std::thread::Builder::new()
        .name("ocelot-heartbeat".to_owned())
        .spawn(move || {
            if let Some(client) = weak.upgrade() {
                send_reboot(&client);
            }
            // Only a timeout means "time for the next heartbeat"; a dropped sender means stop.
            while let Err(RecvTimeoutError::Timeout) =
                stop_rx.recv_timeout(next_beat_in(crate::clock::now_ms(), every))
            {
                let Some(client) = weak.upgrade() else { break };
                send_heartbeat(&client);
            }
        })
        .ok()?;
    Some(stop_tx)
}

/// Second of the minute CAT's Java client sends its heartbeat at.
const BEAT_PHASE_MS: u64 = 20_000;

/// How long from `now_ms` to the next heartbeat: on the wall clock's `every` grid shifted to
/// second :20, as CAT's Java client sends them, so each minute's chart gets its heartbeat
/// from the middle of the minute, one per minute, whatever second the process started at.
/// An interval past `u64::MAX` ms (the app's "never", some 584 million years) counts as
/// that many: cut to 64 bits instead, it could wrap to any interval, a minute or a millisecond.
fn next_beat_in(now_ms: u64, every: Duration) -> Duration {
    let every_ms = u64::try_from(every.as_millis()).unwrap_or(u64::MAX).max(1);
    let into = now_ms.wrapping_add(every_ms - BEAT_PHASE_MS % every_ms) % every_ms;
    Duration::from_millis(every_ms - into)
}

/// Records the `Reboot/<ip>` event tree of a client that just started.
fn send_reboot(client: &Client) {
    let ip = client.ip().to_string();
    with_client(client, || crate::event!("Reboot", ip));
}

/// Records one `System/Status` tree for `client`, from the calling thread.
pub fn send_heartbeat(client: &Client) {
    let xml = status_xml(&ProcessStatus::read(), &client.stats());
    let ip = client.ip().to_string();
    with_client(client, || {
        let _status = crate::transaction!("System", "Status");
        with_state(|s| {
            s.log(
                Kind::Heartbeat,
                Cow::Borrowed("Heartbeat"),
                Cow::Owned(ip),
                Cow::Borrowed(ocelot_protocol::SUCCESS),
                xml,
            );
        });
    });
}

/// What `/proc/self` says about this process.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct ProcessStatus {
    pub(crate) cpu_time_ms: Option<u64>,
    pub(crate) rss_bytes: Option<u64>,
    pub(crate) threads: Option<u64>,
    pub(crate) open_fds: Option<u64>,
}

/// Linux reports CPU time in clock ticks; `USER_HZ` is 100 on every mainstream architecture.
const TICKS_PER_SECOND: u64 = 100;

impl ProcessStatus {
    pub(crate) fn read() -> Self {
        let mut status = ProcessStatus::default();
        if let Ok(stat) = std::fs::read_to_string("/proc/self/stat") {
            // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
            if let Some((_, rest)) = stat.rsplit_once(") ") {
                let fields: Vec<&str> = rest.split_whitespace().collect();
                let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
                if let (Some(user), Some(system)) = (ticks(11), ticks(12)) {
                    status.cpu_time_ms = Some((user + system) * 1000 / TICKS_PER_SECOND);
                }
            }
        }
        if let Ok(text) = std::fs::read_to_string("/proc/self/status") {
            for line in text.lines() {
                let value = |prefix: &str| {
                    line.strip_prefix(prefix)
                        .and_then(|v| v.split_whitespace().next())
                        .and_then(|v| v.parse::<u64>().ok())
                };
                if let Some(kb) = value("VmRSS:") {
                    status.rss_bytes = Some(kb * 1024);
                }
                if let Some(n) = value("Threads:") {
                    status.threads = Some(n);
                }
            }
        }
        if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
            status.open_fds = Some(dir.count() as u64);
        }
        status
    }
}

/// CAT's `<status>` document with our two extensions.
pub(crate) fn status_xml(process: &ProcessStatus, stats: &Stats) -> String {
    let mut xml = String::with_capacity(1024);
    xml.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<status>\n");
    xml.push_str("  <extension id=\"system.process\">\n");
    for (id, value) in [
        ("cpu.time.ms", process.cpu_time_ms),
        ("memory.rss.bytes", process.rss_bytes),
        ("threads", process.threads),
        ("fds.open", process.open_fds),
    ] {
        if let Some(value) = value {
            detail(&mut xml, id, value);
        }
    }
    xml.push_str("  </extension>\n  <extension id=\"ocelot.client\">\n");
    detail(&mut xml, "trees.produced", stats.produced);
    detail(&mut xml, "trees.sent", stats.sent);
    detail(&mut xml, "trees.aggregated", stats.aggregated);
    for reason in DropReason::ALL {
        let what = if reason.counts_trees() {
            "trees"
        } else {
            "metrics"
        };
        let id = format!("{what}.dropped.{}", reason.as_str());
        detail(&mut xml, &id, stats.dropped(reason));
    }
    detail(&mut xml, "queue.depth", stats.queue_depth);
    detail(&mut xml, "queue.bytes", stats.queued_bytes);
    detail(&mut xml, "bytes.sent", stats.sent_bytes);
    detail(&mut xml, "send.failures", stats.send_failures);
    xml.push_str("  </extension>\n</status>\n");
    xml
}

fn detail(xml: &mut String, id: &str, value: u64) {
    let _ = writeln!(xml, "    <extensionDetail id=\"{id}\" value=\"{value}\"/>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heartbeats_fall_on_second_20_of_the_minute() {
        let minute = Duration::from_secs(60);
        let at = |m: u64, s: u64, ms: u64| 498_703 * 3_600_000 + m * 60_000 + s * 1000 + ms;
        // Started at :05: the first at :20, fifteen seconds on.
        assert_eq!(next_beat_in(at(7, 5, 0), minute), Duration::from_secs(15));
        // Started at :50: the next minute's :20.
        assert_eq!(next_beat_in(at(7, 50, 0), minute), Duration::from_secs(30));
        // Woken a little early or late: the same :20, or the next one.
        assert_eq!(
            next_beat_in(at(7, 19, 990), minute),
            Duration::from_millis(10)
        );
        assert_eq!(next_beat_in(at(7, 20, 0), minute), minute);
        assert_eq!(
            next_beat_in(at(7, 20, 5), minute),
            Duration::from_millis(59_995)
        );
        // Other intervals keep to their grid, shifted the same way; never zero.
        let ten = Duration::from_secs(10);
        assert_eq!(next_beat_in(at(7, 3, 0), ten), Duration::from_secs(7));
        assert_eq!(next_beat_in(0, Duration::ZERO), Duration::from_millis(1));
    }

    /// Intervals whose milliseconds do not fit in 64 bits are as long as they can be, never
    /// a wrapped short one: this one's milliseconds are 2^64 + 60 000, which `as u64` made a
    /// heartbeat a minute.
    #[test]
    fn a_huge_interval_saturates_instead_of_wrapping() {
        let now_ms = 498_703 * 3_600_000 + 7 * 60_000;
        let a_century = Duration::from_secs(100 * 365 * 24 * 3600);
        for every in [
            Duration::new(18_446_744_073_709_611, 616_000_000),
            Duration::from_secs(u64::MAX / 2),
            Duration::from_secs(u64::MAX / 1000 + 1),
            Duration::MAX,
        ] {
            let wait = next_beat_in(now_ms, every);
            assert!(wait > a_century, "{every:?} waits {wait:?}");
        }
        // The largest interval that fits is kept as it is.
        let fits = Duration::from_millis(u64::MAX);
        assert!(next_beat_in(now_ms, fits) > a_century);
    }

    #[test]
    fn process_status_is_read_from_proc_self() {
        let status = ProcessStatus::read();
        if std::path::Path::new("/proc/self/stat").exists() {
            assert!(status.rss_bytes.unwrap() > 0);
            assert!(status.threads.unwrap() >= 1);
            assert!(status.open_fds.unwrap() >= 3);
            assert!(status.cpu_time_ms.is_some());
        }
    }

    #[test]
    fn status_xml_lists_process_and_client_details() {
        let process = ProcessStatus {
            cpu_time_ms: Some(1234),
            rss_bytes: Some(4096),
            threads: Some(7),
            open_fds: Some(12),
        };
        let stats = Stats {
            produced: 10,
            sent: 8,
            dropped_queue_full: 2,
            ..Stats::default()
        };
        let xml = status_xml(&process, &stats);
        assert!(xml.contains("<extension id=\"system.process\">"));
        assert!(xml.contains("<extensionDetail id=\"cpu.time.ms\" value=\"1234\"/>"));
        assert!(xml.contains("<extensionDetail id=\"threads\" value=\"7\"/>"));
        assert!(xml.contains("<extensionDetail id=\"trees.dropped.queue_full\" value=\"2\"/>"));
        assert!(xml.contains("<extensionDetail id=\"trees.sent\" value=\"8\"/>"));
        assert!(
            xml.contains("<extensionDetail id=\"metrics.dropped.metric_names_full\" value=\"0\"/>")
        );
    }
}
