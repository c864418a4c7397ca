//! What the collector tells the operator in its log: a restart continuing an hour, an hour
//! sealed. The workers log on their own threads, so this test binary installs one global
//! subscriber that keeps every line; each test reads the lines of its own hour.

use std::sync::{Arc, Mutex, OnceLock};

use ocelot_collector::{Collector, CollectorConfig, ManualClock};
use ocelot_store::{Store, StoreConfig};

/// Every line logged in this test binary so far.
fn logged() -> &'static Buffer {
    static LOGGED: OnceLock<Buffer> = OnceLock::new();
    LOGGED.get_or_init(|| {
        let buffer = Buffer::default();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .with_writer(buffer.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
        buffer
    })
}

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

impl<'w> tracing_subscriber::fmt::MakeWriter<'w> for Buffer {
    type Writer = Buffer;
    fn make_writer(&'w self) -> Buffer {
        self.clone()
    }
}

impl Buffer {
    /// The lines holding `text`.
    fn lines_with(&self, text: &str) -> Vec<String> {
        let all = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
        all.lines()
            .filter(|l| l.contains(text))
            .map(str::to_owned)
            .collect()
    }

    /// The lines holding `message` about `hour`.
    fn lines(&self, message: &str, hour: u64) -> Vec<String> {
        let text = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
        text.lines()
            .filter(|l| l.contains(message) && l.contains(&format!(" hour={hour} ")))
            .map(str::to_owned)
            .collect()
    }
}

/// A store in `dir` that keeps these tests' fixed hours: retention goes by the real clock.
fn open_store(dir: &std::path::Path) -> Store {
    Store::open(StoreConfig {
        retention_days: 0,
        ..StoreConfig::new(dir)
    })
    .unwrap()
}

/// Three analyzer threads, so an hour's domains are spread over several workers.
fn config() -> CollectorConfig {
    CollectorConfig {
        background_ticks: false,
        analyzer_threads: 3,
        // What the restarts here say, without a rebuild's lines from a thread of its own
        // (collector/tests/rebuild.rs tests those).
        rebuild_incomplete_hours: false,
        ..CollectorConfig::default()
    }
}

/// A URL tree of `domain` stamped `ts_ms`, its message ID in the hour of `ts_ms`.
fn tree_at(domain: &str, seq: u64, ts_ms: u64) -> bytes::Bytes {
    use ocelot_protocol::{nt1, Header, Message, MessageTree, Transaction};
    let mut t = Transaction::new("URL", "/home", ts_ms);
    t.duration_us = 5_000;
    let header = Header {
        domain: domain.into(),
        ip_address: "10.0.0.1".into(),
        message_id: format!("{domain}-0a000001-{}-{seq}", ts_ms / 3_600_000),
        ..Header::default()
    };
    nt1::encode_to_bytes(&MessageTree::new(header, Message::Transaction(t)))
}

const DOMAINS: [&str; 6] = ["cart", "shop", "pay", "search", "auth", "mail"];

/// A collector and store on `dir` at `now_ms`, with one tree of each of [`DOMAINS`] taken.
fn started_with_a_tree_per_domain(dir: &std::path::Path, now_ms: u64) -> (Collector, Store) {
    let store = open_store(dir);
    let collector = Collector::start(
        config(),
        Some(store.clone()),
        Arc::new(ManualClock::new(now_ms)),
    );
    for (seq, domain) in DOMAINS.iter().enumerate() {
        collector
            .ingest(tree_at(domain, seq as u64, now_ms))
            .unwrap();
    }
    (collector, store)
}

/// After a `kill -9`, the restart logged "continuing the hour from its checkpoint" once per
/// worker (three lines, `reports=10/5/1`), with no time: nothing told which trees the
/// reports lack. Now one line per hour says the checkpoint's time (UTC) and age, and that
/// the trees after it are in the store, not in the reports.
#[test]
fn a_restart_logs_once_per_hour_which_checkpoint_it_continues_and_what_the_reports_lack() {
    let logged = logged();
    let hour = 498_650;
    let now_ms = hour * 3_600_000 + 20 * 60_000;
    let dir = tempfile::tempdir().unwrap();
    {
        let (collector, store) = started_with_a_tree_per_domain(dir.path(), now_ms);
        collector.checkpoint_now();
        store.crash_for_tests();
    }
    let store = open_store(dir.path());
    let clock = Arc::new(ManualClock::new(now_ms + 60_000));
    let collector = Collector::start(config(), Some(store.clone()), clock.clone());
    // The line comes once every worker has parsed its part of the checkpoint.
    collector.checkpoint_now();
    let lines = logged.lines("continuing the hour from its checkpoint", hour);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    let line = &lines[0];
    assert!(line.contains(" WARN "), "the reports lack trees: {line}");
    assert_eq!(collector.stats().hours_restored_incomplete, 1);
    for part in [
        "hour_utc=2026-11-20 02:00:00 UTC",
        "checkpoint_age_s=",
        "domains=6",
        "trees received after the checkpoint, up to the stop, are in the store but not in the hour's reports",
    ] {
        assert!(line.contains(part), "{part}: {line}");
    }
    // The checkpoint's time is when its files were written, by the real clock.
    let checkpoint = line.split("checkpoint=").nth(1).unwrap();
    assert!(
        checkpoint.len() > 23 && checkpoint[..23].ends_with(" UTC"),
        "{line}"
    );
    // The hour's State report says so too, for the State page: the start at :21.
    clock.set(now_ms + 2 * 60_000);
    collector.tick();
    collector.checkpoint_now();
    let state = store
        .read_report(hour, ocelot_collector::STATE_DOMAIN, "state")
        .unwrap()
        .unwrap();
    let state: ocelot_analyzer::StateReport = serde_json::from_slice(&state).unwrap();
    let view = state.view(&Default::default());
    assert_eq!(
        (view.started_minutes, view.restored_incomplete),
        (vec![20, 21], 1)
    );
    collector.shutdown();
    store.shutdown();
}

/// A `kill -9` before the hour's first checkpoint: the restart found no checkpoint, said
/// nothing and counted nothing, though the stored trees are not in the reports.
#[test]
fn a_restart_after_a_crash_before_the_hours_first_checkpoint_says_its_reports_lack_trees() {
    let logged = logged();
    let hour = 498_660;
    let now_ms = hour * 3_600_000 + 20 * 60_000;
    let dir = tempfile::tempdir().unwrap();
    {
        let (_collector, store) = started_with_a_tree_per_domain(dir.path(), now_ms);
        store.flush().unwrap();
        store.crash_for_tests();
    }
    let store = open_store(dir.path());
    let collector = Collector::start(
        config(),
        Some(store.clone()),
        Arc::new(ManualClock::new(now_ms + 60_000)),
    );
    let lines = logged.lines("no checkpoint", hour);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(lines[0].contains(" WARN "), "{}", lines[0]);
    assert_eq!(collector.stats().hours_restored_incomplete, 1);
    collector.shutdown();
    store.shutdown();

    // A start in an hour without trees has nothing to say.
    let empty = tempfile::tempdir().unwrap();
    let store = open_store(empty.path());
    let collector = Collector::start(
        config(),
        Some(store.clone()),
        Arc::new(ManualClock::new(now_ms)),
    );
    assert_eq!(collector.stats().hours_restored_incomplete, 0);
    collector.shutdown();
    store.shutdown();
}

/// A collector started at `now_ms` on `dir`, given a tree per domain, and stopped cleanly.
fn stop_cleanly(dir: &std::path::Path, now_ms: u64) {
    let (collector, store) = started_with_a_tree_per_domain(dir, now_ms);
    assert_eq!(collector.shutdown(), Vec::new());
    store.shutdown();
}

/// The collector started again on `dir` a minute after [`stop_cleanly`], told the stop was
/// clean, once it has parsed its checkpoints.
fn restart_after_a_clean_stop(dir: &std::path::Path, now_ms: u64) -> (Collector, Store) {
    let store = open_store(dir);
    let collector = Collector::start(
        CollectorConfig {
            after_clean_stop: true,
            ..config()
        },
        Some(store.clone()),
        Arc::new(ManualClock::new(now_ms + 60_000)),
    );
    collector.checkpoint_now();
    (collector, store)
}

/// After a clean stop (its final checkpoint written after the last tree), the restart said
/// all the same that trees after the checkpoint were not in the hour's reports.
#[test]
fn a_restart_after_a_clean_stop_says_nothing_is_missing() {
    let logged = logged();
    let hour = 498_655;
    let now_ms = hour * 3_600_000 + 20 * 60_000;
    let dir = tempfile::tempdir().unwrap();
    stop_cleanly(dir.path(), now_ms);
    let (collector, store) = restart_after_a_clean_stop(dir.path(), now_ms);
    let lines = logged.lines("continuing the hour from its checkpoint", hour);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    let line = &lines[0];
    assert!(
        line.contains("written by a clean stop: nothing is missing from the hour's reports"),
        "{line}"
    );
    assert!(line.contains(" INFO "), "{line}");
    assert!(!line.contains("not in the hour's reports"), "{line}");
    assert_eq!(collector.stats().hours_restored_incomplete, 0);
    collector.shutdown();
    store.shutdown();
}

/// Finding: a crash, a restart, a clean stop and a start again in one hour: the last start
/// said "nothing is missing from the hour's reports", which still lacked the trees the
/// crash left out (its State report said so).
#[test]
fn a_clean_restart_after_a_crash_in_the_hour_does_not_say_nothing_is_missing() {
    let logged = logged();
    let hour = 498_665;
    let now_ms = hour * 3_600_000 + 20 * 60_000;
    let dir = tempfile::tempdir().unwrap();
    {
        let (collector, store) = started_with_a_tree_per_domain(dir.path(), now_ms);
        collector.checkpoint_now();
        store.flush().unwrap();
        store.crash_for_tests();
    }
    let store = open_store(dir.path());
    let collector = Collector::start(
        config(),
        Some(store.clone()),
        Arc::new(ManualClock::new(now_ms + 30_000)),
    );
    collector.checkpoint_now();
    assert_eq!(collector.shutdown(), Vec::new());
    store.shutdown();
    let (collector, store) = restart_after_a_clean_stop(dir.path(), now_ms);
    let lines = logged.lines("written by a clean stop", hour);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    let line = &lines[0];
    assert!(!line.contains("nothing is missing"), "{line}");
    assert!(
        line.contains("an earlier crash in the hour left its reports without the trees"),
        "{line}"
    );
    assert!(line.contains(" WARN "), "{line}");
    assert!(line.contains("incomplete_minutes=:20"), "{line}");
    assert_eq!(collector.stats().hours_restored_incomplete, 1);
    collector.shutdown();
    store.shutdown();
}

/// Sealing an hour logged nothing: an operator could not tell from the log that an hour's
/// final reports were written. Now one line per hour (not one per worker) says so, with
/// its domains and reports.
#[test]
fn sealing_an_hour_logs_one_line_with_its_domains_and_reports() {
    let logged = logged();
    let hour = 498_660;
    let now_ms = hour * 3_600_000 + 20 * 60_000;
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let clock = Arc::new(ManualClock::new(now_ms));
    let collector = Collector::start(config(), Some(store.clone()), clock.clone());
    for (seq, domain) in DOMAINS.iter().enumerate() {
        collector
            .ingest(tree_at(domain, seq as u64, now_ms))
            .unwrap();
    }
    collector.checkpoint_now();
    assert_eq!(logged.lines("sealed an hour", hour), Vec::<String>::new());
    // Past the next hour's grace period: the hour is sealed.
    clock.set((hour + 1) * 3_600_000 + 5 * 60_000);
    collector.tick();
    // Waits for the tick's checkpoint too: each worker takes them in order.
    collector.checkpoint_now();
    let lines = logged.lines("sealed an hour", hour);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    let line = &lines[0];
    assert!(line.contains("domains=6"), "{line}");
    assert!(line.contains("hour_utc=2026-11-20 12:00:00 UTC"), "{line}");
    let reports: usize = line
        .split("reports=")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    // At least each domain's Transaction report.
    assert!(reports >= DOMAINS.len(), "{line}");
    assert_eq!(collector.stats().hours_sealed, 1);
    // Checkpoints after it say nothing more of it.
    collector.checkpoint_now();
    assert_eq!(logged.lines("sealed an hour", hour).len(), 1);
    collector.shutdown();
    store.shutdown();
}

/// Trees dropped because an analyzer thread's queue was full were counted on `/metrics`
/// and the State page, and never said in the log, where every other loss has its warning:
/// 4117 of 8000 trees went so without a line. Now the collector's tick warns at once, with
/// how many, which queue and what to raise.
#[test]
fn trees_dropped_at_a_full_queue_are_said_in_the_log() {
    let logged = logged();
    let now_ms = 498_665 * 3_600_000 + 20 * 60_000;
    let collector = Collector::start(
        CollectorConfig {
            analyzer_threads: 1,
            worker_queue_trees: 3,
            ..config()
        },
        None,
        Arc::new(ManualClock::new(now_ms)),
    );
    collector.with_workers_held_for_tests(|| {
        for seq in 0..10 {
            collector.ingest(tree_at("queued", seq, now_ms)).unwrap();
        }
        collector.tick();
    });
    let lines = logged.lines_with("because a queue was full");
    assert_eq!(lines.len(), 1, "{lines:#?}");
    let line = &lines[0];
    assert!(line.contains(" WARN "), "{line}");
    assert!(
        line.contains("dropped 7 trees since the start because a queue was full (analyzer-0 7;"),
        "{line}"
    );
    assert!(line.contains("collector.worker_queue_trees"), "{line}");
    // Said again only once a minute has passed, and only with new drops.
    collector.tick();
    assert_eq!(logged.lines_with("because a queue was full").len(), 1);
    collector.shutdown();
}

/// A clean stop, then one checkpoint damaged: the start said "nothing is missing from the
/// hour's reports" (INFO), and the next line that this very report "starts from zero". The
/// hour's line now comes once the checkpoints are parsed: a warning naming the report that
/// starts from zero, and the hour is counted as restored incomplete (for `/metrics`).
#[test]
fn a_restart_after_a_clean_stop_with_a_damaged_checkpoint_says_what_starts_from_zero() {
    let logged = logged();
    let hour = 498_670;
    let now_ms = hour * 3_600_000 + 20 * 60_000;
    let dir = tempfile::tempdir().unwrap();
    stop_cleanly(dir.path(), now_ms);
    let report = dir
        .path()
        .join(hour.to_string())
        .join("shop")
        .join("reports")
        .join("transaction.report");
    std::fs::write(&report, "{not json").unwrap();
    let (collector, store) = restart_after_a_clean_stop(dir.path(), now_ms);
    let lines = logged.lines("continuing the hour from its checkpoint", hour);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    let line = &lines[0];
    assert!(line.contains(" WARN "), "{line}");
    assert!(!line.contains("nothing is missing"), "{line}");
    assert!(
        line.contains("1 report could not be used and starts from zero"),
        "{line}"
    );
    assert!(line.contains("(shop/transaction; kept aside"), "{line}");
    assert_eq!(collector.stats().hours_restored_incomplete, 1);
    collector.shutdown();
    store.shutdown();
}

/// Report writes that failed (a full disk) were warned about, and when they worked again
/// nothing said so: the last line stayed "writing a report failed". The store says "store
/// writes work again" of its own; now the workers say it of reports, once a checkpoint has
/// written every report again.
#[test]
fn report_writes_that_work_again_are_said_to() {
    let logged = logged();
    let hour = 498_675;
    let now_ms = hour * 3_600_000 + 20 * 60_000;
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(dir.path());
    let collector = Collector::start(
        CollectorConfig {
            analyzer_threads: 1,
            ..config()
        },
        Some(store.clone()),
        Arc::new(ManualClock::new(now_ms)),
    );
    // A file where the domain's reports folder goes: its report writes fail.
    let domain_dir = dir.path().join(hour.to_string()).join("blocked");
    std::fs::create_dir_all(&domain_dir).unwrap();
    std::fs::write(domain_dir.join("reports"), b"in the way").unwrap();
    collector.ingest(tree_at("blocked", 1, now_ms)).unwrap();
    collector.checkpoint_now();
    let failed = logged.lines("writing a report failed", hour);
    assert!(
        failed.iter().any(|l| l.contains("domain=\"blocked\"")),
        "{failed:#?}"
    );
    assert!(logged.lines_with("report writes work again").is_empty());
    std::fs::remove_file(domain_dir.join("reports")).unwrap();
    collector.checkpoint_now();
    let again = logged.lines_with("report writes work again");
    assert_eq!(again.len(), 1, "{again:#?}");
    assert!(
        again[0].contains(" INFO ") && again[0].contains("worker=\"analyzer-0\""),
        "{}",
        again[0]
    );
    // Said once, not at every checkpoint after.
    collector.checkpoint_now();
    assert_eq!(logged.lines_with("report writes work again").len(), 1);
    // Failing again is said at once: the five minutes' limit began anew with the recovery
    // (the log's last word stayed "work again" for minutes while every checkpoint failed).
    std::fs::remove_dir_all(domain_dir.join("reports")).unwrap();
    std::fs::write(domain_dir.join("reports"), b"in the way").unwrap();
    collector.checkpoint_now();
    assert_eq!(
        logged.lines("writing a report failed", hour).len(),
        failed.len() + 1
    );
    collector.shutdown();
    store.shutdown();
}

/// The State report of `hour` as stored, viewed (`None` without one).
fn stored_state(store: &Store, hour: u64) -> Option<ocelot_analyzer::StateView> {
    let bytes = store
        .read_report(hour, ocelot_collector::STATE_DOMAIN, "state")
        .unwrap()?;
    let state: ocelot_analyzer::StateReport = serde_json::from_slice(&bytes).unwrap();
    Some(state.view(&Default::default()))
}

/// A kill -9 after a checkpoint at :50, and a restart after the hour closed (at hh+1:10):
/// the hour kept its checkpoint as its reports, short of the trees taken after it, and
/// nothing said so (no warning, nothing counted, the State page without its note). It is
/// now told as an open hour continued from its checkpoint is.
#[test]
fn a_restart_after_the_crashed_hour_closed_says_its_reports_lack_trees() {
    let logged = logged();
    let hour = 498_680;
    let crash_ms = hour * 3_600_000 + 50 * 60_000;
    let dir = tempfile::tempdir().unwrap();
    {
        let (collector, store) = started_with_a_tree_per_domain(dir.path(), crash_ms);
        collector.checkpoint_now();
        store.crash_for_tests();
    }
    let store = open_store(dir.path());
    let restart_ms = (hour + 1) * 3_600_000 + 10 * 60_000;
    let collector = Collector::start(
        config(),
        Some(store.clone()),
        Arc::new(ManualClock::new(restart_ms)),
    );
    let lines = logged.lines("the hour closed while the collector was down", hour);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(lines[0].contains(" WARN "), "{}", lines[0]);
    assert!(lines[0].contains(r#"last_sample=":50""#), "{}", lines[0]);
    assert_eq!(collector.stats().hours_restored_incomplete, 1);
    let view = stored_state(&store, hour).unwrap();
    assert_eq!(view.restored_incomplete, 1);
    assert_eq!(view.started_minutes, [50], "the crashed run's start only");
    collector.shutdown();
    store.shutdown();

    // Once marked, a later start (the next hour's State report shows a run past the
    // hour's grace) does not count it again.
    let store = open_store(dir.path());
    let collector = Collector::start(
        config(),
        Some(store.clone()),
        Arc::new(ManualClock::new(restart_ms + 3_600_000)),
    );
    assert_eq!(
        logged
            .lines("the hour closed while the collector was down", hour)
            .len(),
        1
    );
    assert_eq!(stored_state(&store, hour).unwrap().restored_incomplete, 1);
    collector.shutdown();
    store.shutdown();
}

/// An hour sealed by the run that then crashed is complete: a restart after its grace says
/// nothing of it, though the crash came seconds after the seal (before the next sample
/// was due: the seal takes one of its own, so the next hour's State report shows it).
#[test]
fn a_restart_after_a_crash_says_nothing_of_an_hour_sealed_before_the_crash() {
    let logged = logged();
    let hour = 498_685;
    let now_ms = hour * 3_600_000 + 50 * 60_000;
    // Sampled at hh+1:02:58, sealed at hh+1:03:00 (no sample due), killed.
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open_store(dir.path());
        let clock = Arc::new(ManualClock::new(now_ms));
        let collector = Collector::start(config(), Some(store.clone()), clock.clone());
        collector.ingest(tree_at("shop", 1, now_ms)).unwrap();
        let next = (hour + 1) * 3_600_000;
        clock.set(next + 2 * 60_000 + 58_000);
        collector.tick();
        clock.set(next + 3 * 60_000);
        collector.tick();
        collector.checkpoint_now();
        store.crash_for_tests();
    }
    let store = open_store(dir.path());
    let collector = Collector::start(
        config(),
        Some(store.clone()),
        Arc::new(ManualClock::new((hour + 2) * 3_600_000 + 10 * 60_000)),
    );
    assert!(logged
        .lines("the hour closed while the collector was down", hour)
        .is_empty());
    assert_eq!(stored_state(&store, hour).unwrap().restored_incomplete, 0);
    collector.shutdown();
    store.shutdown();
}

/// A restart in the grace (hh+1:01) after a crash in the hour continues the hour from its
/// checkpoint: the hour marked incomplete in its State report was the new one, complete,
/// and the hour lacking trees showed nothing.
#[test]
fn a_restart_in_the_grace_marks_the_hour_it_continued_not_the_new_one() {
    let hour = 498_690;
    let crash_ms = hour * 3_600_000 + 50 * 60_000;
    let dir = tempfile::tempdir().unwrap();
    {
        let (collector, store) = started_with_a_tree_per_domain(dir.path(), crash_ms);
        collector.checkpoint_now();
        store.crash_for_tests();
    }
    let store = open_store(dir.path());
    let restart_ms = (hour + 1) * 3_600_000 + 60_000;
    let clock = Arc::new(ManualClock::new(restart_ms));
    let collector = Collector::start(config(), Some(store.clone()), clock.clone());
    // Parsed, then a sample carries the mark.
    collector.checkpoint_now();
    clock.set(restart_ms + 20_000);
    collector.tick();
    collector.checkpoint_now();
    assert_eq!(collector.stats().hours_restored_incomplete, 1);
    let crashed = stored_state(&store, hour).unwrap();
    assert_eq!(crashed.restored_incomplete, 1);
    let new = stored_state(&store, hour + 1).unwrap();
    assert_eq!((new.started_minutes, new.restored_incomplete), (vec![1], 0));
    collector.shutdown();
    store.shutdown();
}
