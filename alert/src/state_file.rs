//! [`StateFile`]: the alert state that outlives a restart of `ocelot serve`, one JSON file
//! in the data directory (`<data>/alerts/state.json`; docs/alerting.md, "State across
//! restarts"). Without it, every deploy would start each rule `ok` with an empty log: an
//! incident still going on would fire and page again, its suppression window forgotten,
//! and the Alerts page would lose what happened before.
//!
//! Design constraints:
//! - Written whole and atomically: a temporary file beside it, fsync, rename, fsync of the
//!   folder. A crash leaves the old file or the new one, never half of one.
//! - Written only when something changed (a rule's state, an event or an attempt), by the
//!   thread that evaluates ([`crate::Alerting::save_state`]), never on an async worker.
//! - The file is input, not an invariant: one that cannot be read or parsed (or has a
//!   format version this build does not know) is moved aside to `state.json.corrupt` and
//!   alerting starts fresh. Never a panic.
//! - State is restored only into the same rule: same id and same definition. An edited
//!   rule starts `ok`. The state of a rule that is gone (or edited) is kept aside for
//!   [`ABSENT_RULE_KEEP_MS`], at most [`MAX_ABSENT_RULES`] of them: one start with a wrong
//!   rules file must not make every incident still going on page again once the file is
//!   fixed.
//!
//! Non-goal: the counters (they count what this process saw, as Prometheus counters do).

use std::fs::{self, File};
use std::io::{self, Read as _, Write as _};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::alert_log::{AlertLog, NotificationAttempt};
use crate::engine::{Engine, SavedRule};
use crate::evaluator::AlertEvent;

/// The format version this build writes and reads. Version changes: 1, the first.
pub const STATE_FORMAT_VERSION: u32 = 1;

/// A state file larger than this is not read (it is moved aside like a corrupt one). The
/// log keeps 1000 events and 1000 attempts, an event at most 60 minutes of values: a few
/// MB, far below this, so a bigger file is not one this build wrote, and reading it whole
/// at start could take the memory the collector needs.
pub(crate) const MAX_STATE_FILE_BYTES: u64 = 64 << 20;

/// How long the state of a rule no longer in the rule set is kept: a day, long enough to
/// notice a wrong rules file and fix it; a rule removed on purpose does not come back
/// weeks later with a stale incident.
pub(crate) const ABSENT_RULE_KEEP_MS: u64 = 24 * 3_600_000;

/// At most this many absent rules are kept (the newest absences): a few per rule of a
/// large rule set, so the file stays small however often the rules change.
pub(crate) const MAX_ABSENT_RULES: usize = 1_000;

/// The saved state of a rule not in the current rule set (gone, or edited), kept in case
/// it comes back unchanged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AbsentRule {
    /// Since when it has been absent, epoch ms: stamped at the first write after the start
    /// it went missing at (a start has no clock of its own here), so `None` until then.
    absent_since_ms: Option<u64>,
    /// Its state as last saved.
    rule: SavedRule,
}

/// The file as written: `version` first, so a reader can tell the format before the rest.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StateDocument {
    version: u32,
    /// When it was written, epoch ms (for people reading the file).
    saved_at_ms: u64,
    /// Every rule of the rule set when saved, in file order.
    rules: Vec<SavedRule>,
    /// The log's events, oldest first.
    events: Vec<AlertEvent>,
    /// The id of the first of `events` (the next event's when there are none): the
    /// others' follow one by one. Absent from files of builds before it: 0.
    #[serde(default)]
    first_event_id: u64,
    /// The log's notification attempts, oldest first.
    attempts: Vec<NotificationAttempt>,
    /// Events not sent yet when written (queued, or being sent), oldest first: queued
    /// again at the next start. Absent from files of builds before it: none.
    #[serde(default)]
    unsent: Vec<AlertEvent>,
    /// Saved rules not in the rule set when written, newest absence first (see
    /// [`AbsentRule`]). Absent from files of builds before it: none.
    #[serde(default)]
    absent_rules: Vec<AbsentRule>,
    /// The first minute not evaluated when written (epoch minutes): the next start
    /// evaluates the minutes from it that the process left when it was killed
    /// (`Alerting::start_after`). Absent from files of builds before it: none, nothing to
    /// evaluate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    next_minute: Option<u64>,
}

/// Just the version, read before the rest.
#[derive(Deserialize)]
struct VersionOnly {
    version: Option<u32>,
}

/// What [`crate::Alerting::restore_state`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Restored {
    /// No state file: a first start. Alerting starts fresh.
    Fresh,
    /// The state was read.
    Loaded {
        /// Rules whose state was restored (same id and definition).
        rules: usize,
        /// Saved rules not restored, changed since or gone from the rule set: their state is
        /// kept aside (for a day) and taken up if they come back unchanged.
        rules_set_aside: usize,
        /// Events put back in the log.
        events: usize,
        /// Notification attempts put back in the log.
        attempts: usize,
    },
    /// The file could not be read or parsed. Alerting starts fresh, and the next write
    /// replaces the file.
    Unreadable {
        /// The file.
        path: PathBuf,
        /// What was wrong with it.
        error: String,
        /// Where it was moved, so it is not lost; `None` when moving it failed too.
        moved_to: Option<PathBuf>,
        /// Why it could not be moved.
        move_error: Option<String>,
    },
}

/// What [`crate::Alerting::save_state`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Saved {
    /// Nothing changed since the last write, or there is no state file.
    Unchanged,
    /// The file was written.
    Written {
        /// The first successful write after failed ones.
        recovered: bool,
    },
    /// The write failed (counted in `stateWriteFailures`); alerting goes on in memory and
    /// the next change tries again.
    Failed {
        /// The file.
        path: PathBuf,
        /// Why.
        error: String,
        /// The first failure since the last successful write: the one to log.
        first: bool,
    },
}

/// The state file of one [`crate::Alerting`], and what was last written to it.
#[derive(Debug)]
pub(crate) struct StateFile {
    path: PathBuf,
    /// The rules' state as last written (or restored), serialized: written again only when
    /// it moves. Compared as JSON, not with `==`: a NaN in a minute's value or baseline is
    /// never equal to itself, which rewrote (and fsynced) the file at every tick.
    written_rules: Option<Vec<u8>>,
    /// [`AlertLog::changes`] as last written.
    written_log: u64,
    /// Saved rules not in the rule set, newest absence first, kept in case they come back.
    absent: Vec<AbsentRule>,
    /// Writes have failed since the last successful one.
    failing: bool,
    /// The first minute not evaluated, as the restored file said.
    restored_next_minute: Option<u64>,
}

impl StateFile {
    /// Reads `path` into `engine` and `log`, and keeps the path for [`StateFile::save`].
    pub(crate) fn restore(path: PathBuf, engine: &mut Engine, log: &AlertLog) -> (Self, Restored) {
        let mut file = StateFile {
            path,
            written_rules: None,
            written_log: 0,
            absent: Vec::new(),
            failing: false,
            restored_next_minute: None,
        };
        let restored = match read(&file.path) {
            Ok(None) => Restored::Fresh,
            Ok(Some(document)) => {
                file.restored_next_minute = document.next_minute;
                // The rules of the last run first, then those absent from it: a rule that
                // is back takes up its latest state.
                let saved: Vec<AbsentRule> = (document.rules.into_iter())
                    .map(|rule| AbsentRule {
                        absent_since_ms: None,
                        rule,
                    })
                    .chain(document.absent_rules)
                    .collect();
                let rules: Vec<SavedRule> = saved.iter().map(|a| a.rule.clone()).collect();
                let taken = engine.restore_rules(&rules);
                for (absent, taken) in saved.into_iter().zip(&taken) {
                    let known = file.absent.iter().any(|a| {
                        a.rule.id == absent.rule.id && a.rule.definition == absent.rule.definition
                    });
                    if !taken && !known {
                        file.absent.push(absent);
                    }
                }
                file.absent.truncate(MAX_ABSENT_RULES);
                let (events, attempts) = (document.events.len(), document.attempts.len());
                log.restore_history(
                    document.first_event_id,
                    document.events,
                    document.attempts,
                    document.unsent,
                );
                Restored::Loaded {
                    rules: taken.iter().filter(|&&t| t).count(),
                    rules_set_aside: file.absent.len(),
                    events,
                    attempts,
                }
            }
            Err(error) => {
                let aside = corrupt_path(&file.path);
                let (moved_to, move_error) = match fs::rename(&file.path, &aside) {
                    Ok(()) => (Some(aside), None),
                    Err(e) => (None, Some(e.to_string())),
                };
                Restored::Unreadable {
                    path: file.path.clone(),
                    error,
                    moved_to,
                    move_error,
                }
            }
        };
        // What the file holds now (or, fresh, what there is to hold): written again only
        // once it changes.
        file.written_rules = rules_json(
            &engine.saved_rules(),
            &file.absent,
            file.next_minute(engine),
        );
        file.written_log = log.changes();
        (file, restored)
    }

    /// The first minute not evaluated, as the file read at start said (`None`: no file,
    /// or one written before it was kept).
    pub(crate) fn restored_next_minute(&self) -> Option<u64> {
        self.restored_next_minute
    }

    /// The first minute not evaluated, to write: the engine's, or until it has one (before
    /// `Alerting::start_after`) the file's, which a write then must not lose.
    fn next_minute(&self, engine: &Engine) -> Option<u64> {
        engine.next_minute().or(self.restored_next_minute)
    }

    /// The file's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Writes the state of `engine` and `log` if it changed since the last write.
    pub(crate) fn save(&mut self, engine: &Engine, log: &AlertLog, now_ms: u64) -> Saved {
        // Absent since this run started, if not before; forgotten a day after that.
        for absent in &mut self.absent {
            absent.absent_since_ms.get_or_insert(now_ms);
        }
        self.absent.retain(|a| {
            a.absent_since_ms
                .is_none_or(|since| now_ms < since.saturating_add(ABSENT_RULE_KEEP_MS))
        });
        let rules = engine.saved_rules();
        let next_minute = self.next_minute(engine);
        let rules_now = rules_json(&rules, &self.absent, next_minute);
        let log_changes = log.changes();
        if rules_now.is_some() && self.written_rules == rules_now && self.written_log == log_changes
        {
            return Saved::Unchanged;
        }
        let (first_event_id, events, attempts) = log.history();
        let document = StateDocument {
            version: STATE_FORMAT_VERSION,
            saved_at_ms: now_ms,
            rules,
            events,
            first_event_id,
            attempts,
            unsent: log.unsent(),
            absent_rules: self.absent.clone(),
            next_minute,
        };
        let written = serde_json::to_vec_pretty(&document)
            .map_err(io::Error::other)
            .and_then(|bytes| write_atomically(&self.path, &bytes));
        match written {
            Ok(()) => {
                self.written_rules = rules_now;
                self.written_log = log_changes;
                let recovered = std::mem::replace(&mut self.failing, false);
                Saved::Written { recovered }
            }
            Err(e) => {
                log.record_state_write_failure();
                let first = !std::mem::replace(&mut self.failing, true);
                Saved::Failed {
                    path: self.path.clone(),
                    error: e.to_string(),
                    first,
                }
            }
        }
    }
}

/// The rules' state as the file holds it (NaN as `null`), absent rules and the first
/// minute not evaluated included, to tell whether it changed; `None` if it does not
/// serialize (then the document does not either).
fn rules_json(
    rules: &[SavedRule],
    absent: &[AbsentRule],
    next_minute: Option<u64>,
) -> Option<Vec<u8>> {
    serde_json::to_vec(&(rules, absent, next_minute)).ok()
}

/// The document in `path`: `None` if there is no file, `Err` (why, in words) if it cannot
/// be read or is not a state file of a version this build knows.
fn read(path: &Path) -> Result<Option<StateDocument>, String> {
    // Looked at before opening: opening a FIFO blocks until something writes to it, and
    // a device may never end. Only a regular file (or a link to one) is a state file.
    match fs::metadata(path) {
        Ok(meta) if meta.is_file() => {}
        Ok(meta) => return Err(not_a_regular_file(&meta)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read it: {e}")),
    }
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read it: {e}")),
    };
    // Read at most one byte past the limit: enough to tell the file is too large without
    // holding all of it.
    let mut bytes = Vec::new();
    file.take(MAX_STATE_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read it: {e}"))?;
    if bytes.len() as u64 > MAX_STATE_FILE_BYTES {
        return Err(format!(
            "larger than {MAX_STATE_FILE_BYTES} bytes, too large to be a state file"
        ));
    }
    let version = serde_json::from_slice::<VersionOnly>(&bytes)
        .map_err(|e| format!("not a state file: {e}"))?
        .version;
    match version {
        Some(STATE_FORMAT_VERSION) => {}
        Some(other) => {
            return Err(format!(
                "format version {other}; this build reads version {STATE_FORMAT_VERSION}"
            ))
        }
        None => return Err("not a state file: no version".to_owned()),
    }
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| format!("not a state file: {e}"))
}

/// Why a path that is not a regular file is not read, naming what it is.
fn not_a_regular_file(meta: &fs::Metadata) -> String {
    let kind = if meta.is_dir() {
        "a folder"
    } else {
        special_file_kind(&meta.file_type())
    };
    format!("not a regular file ({kind})")
}

#[cfg(unix)]
fn special_file_kind(file_type: &fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt as _;
    if file_type.is_fifo() {
        "a FIFO"
    } else if file_type.is_socket() {
        "a socket"
    } else if file_type.is_char_device() || file_type.is_block_device() {
        "a device"
    } else {
        "a special file"
    }
}

#[cfg(not(unix))]
fn special_file_kind(_file_type: &fs::FileType) -> &'static str {
    "a special file"
}

/// `state.json` -> `state.json.corrupt`.
fn corrupt_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".corrupt");
    PathBuf::from(name)
}

/// Replaces `path` with `bytes` so a crash at any point leaves either the old file or
/// the new one: write a temporary file beside it, fsync it, rename it over, fsync the
/// folder (which makes the rename itself durable).
fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    fs::create_dir_all(dir)?;
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = PathBuf::from(tmp_name);
    let written = (|| {
        // A leftover temporary file (a crash between create and rename) is removed, and
        // the new one must not exist: `create` would open a FIFO left there and block.
        match fs::remove_file(&tmp) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        let mut file = File::options().write(true).create_new(true).open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    sync_dir(dir)
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> io::Result<()> {
    // Folders cannot be opened as files elsewhere; the rename is as durable as the OS makes it.
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evaluator::AlertPhase;
    use crate::report_history::MemoryHistory;
    use crate::rules::RuleSet;
    use crate::time::MILLIS_PER_MINUTE;
    use crate::Alerting;

    const HOUR: u64 = 498_703;

    fn rules(below: f64) -> RuleSet {
        RuleSet::from_toml_str(
            &format!(
                "[[rule]]\nid = \"shop-silent\"\ndomain = \"shop\"\nreport = \"transaction\"\n\
                 measure = \"count\"\nbelow = {below:?}\nsuppress_minutes = 20\n\n\
                 [[rule]]\nid = \"cart-silent\"\ndomain = \"cart\"\nreport = \"event\"\n\
                 measure = \"count\"\nbelow = 1.0\nfor_minutes = 5\n"
            ),
            None,
        )
        .unwrap()
    }

    /// `now_ms` at which minute `m` of [`HOUR`] has settled.
    fn settled(m: u64) -> u64 {
        (HOUR * 60 + m + 1) * MILLIS_PER_MINUTE + 15_000
    }

    /// A watched hour without any report: every count is 0, so both rules see bad minutes.
    fn silent() -> MemoryHistory {
        let mut history = MemoryHistory::new();
        history.cover(HOUR);
        history
    }

    /// A watched hour in which `shop` has one request, in minute `minute`.
    fn shop_sends(minute: u64) -> MemoryHistory {
        use ocelot_protocol::{Header, Message, MessageTree, Transaction};
        let config = std::sync::Arc::new(ocelot_analyzer::AnalyzerConfig::default());
        let mut analyzer = ocelot_analyzer::TransactionAnalyzer::new(HOUR, config);
        let header = Header {
            domain: "shop".into(),
            ..Header::default()
        };
        let at = HOUR * 3_600_000 + minute * MILLIS_PER_MINUTE;
        let request = Transaction::new("URL", "/pay", at);
        analyzer.process(&MessageTree::new(header, Message::Transaction(request)));
        let mut history = silent();
        let report = analyzer.reports()["shop"].clone();
        history.insert("shop", HOUR, crate::Report::Transaction(report));
        history
    }

    /// Fires `shop-silent` at minute 10 (and leaves `cart-silent` pending), then saves.
    fn fired_and_saved(path: &Path) -> Alerting {
        let mut alerting = Alerting::new(rules(1.0));
        assert_eq!(alerting.restore_state(path), Restored::Fresh);
        let events = alerting.tick(settled(10), &silent());
        assert_eq!(events.len(), 1);
        assert!(matches!(
            alerting.save_state(settled(10)),
            Saved::Written { recovered: false }
        ));
        alerting
    }

    #[test]
    fn the_state_round_trips_through_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alerts").join("state.json");
        let before = fired_and_saved(&path);
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"version\": 1"), "{text}");

        let mut after = Alerting::new(rules(1.0));
        let restored = after.restore_state(&path);
        assert_eq!(
            restored,
            Restored::Loaded {
                rules: 2,
                rules_set_aside: 0,
                events: 1,
                attempts: 0
            }
        );
        let (old, new) = (before.engine().saved_rules(), after.engine().saved_rules());
        // The pending rule comes back with its run too.
        assert_eq!(old, new);
        assert_eq!(old[0].state.phase, AlertPhase::Firing);
        assert_eq!(before.engine().statuses()[1].phase, AlertPhase::Pending);
        assert_eq!(after.engine().statuses()[1].phase, AlertPhase::Pending);
        assert_eq!(new[1].state.run.len(), 1);
        assert!(new[1].state.last.is_some());
        let (snap_old, snap_new) = (before.log().snapshot(), after.log().snapshot());
        assert_eq!(snap_old.events, snap_new.events);
        assert_eq!(snap_new.rules[0].phase, AlertPhase::Firing);
        assert_eq!(snap_new.rules[0].last_value, Some(0.0));
        // Nothing changed since it was read: not written again.
        assert_eq!(after.save_state(settled(10)), Saved::Unchanged);
    }

    /// `/api/alerts?since=<id>` must mean the same events after a restart, also once the
    /// log has dropped its oldest ones.
    #[test]
    fn event_ids_survive_a_restart_after_the_log_dropped_its_oldest_events() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let mut before = fired_and_saved(&path);
        let fired = before.log().snapshot().events[0].clone();
        for _ in 0..crate::MAX_LOGGED_EVENTS {
            before.log().record_event(&fired);
        }
        assert!(matches!(
            before.save_state(settled(10)),
            Saved::Written { .. }
        ));
        assert_eq!(before.log().snapshot_with_event_ids().1, 2..1_002);
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.contains("\"firstEventId\": 2,"), "{text}");

        let mut after = Alerting::new(rules(1.0));
        assert!(matches!(
            after.restore_state(&path),
            Restored::Loaded { .. }
        ));
        assert_eq!(after.log().snapshot_with_event_ids().1, 2..1_002);
        assert_eq!(after.log().snapshot_with_event_ids().1, 2..1_002);
        after.log().record_event(&fired);
        assert_eq!(after.log().snapshot_with_event_ids().1, 3..1_003);

        // A file of a build before ids (no firstEventId) numbers its events from 1.
        let mut old: serde_json::Value = serde_json::from_str(&text).unwrap();
        old.as_object_mut().unwrap().remove("firstEventId");
        fs::write(&path, old.to_string()).unwrap();
        let mut older = Alerting::new(rules(1.0));
        assert!(matches!(
            older.restore_state(&path),
            Restored::Loaded { .. }
        ));
        assert_eq!(older.log().snapshot_with_event_ids().1, 1..1_001);
    }

    /// A process killed before it evaluated 00:11 and 00:12: the next start, in 00:13,
    /// evaluates them first, the pending run going on, then breaks the run (00:13 itself
    /// is never evaluated).
    #[test]
    fn a_start_evaluates_the_minutes_the_last_run_left_then_breaks_the_runs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        drop(fired_and_saved(&path));
        let saved: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        assert_eq!(saved["nextMinute"], HOUR * 60 + 11);

        let mut after = Alerting::new(rules(1.0));
        after.restore_state(&path);
        let start_ms = (HOUR * 60 + 13) * MILLIS_PER_MINUTE + 5_000;
        let events = after.start_after(start_ms, &silent());
        assert!(events.is_empty(), "{events:?}");
        let statuses = after.engine().statuses();
        assert_eq!(statuses[1].last_time, "2026-11-22T07:12Z");
        assert_eq!(
            after.engine().saved_rules()[1].state.run.len(),
            0,
            "00:13 is not evaluated: the run of 00:10 to 00:12 is broken"
        );
        assert_eq!(statuses[1].phase, AlertPhase::Ok);
        assert!(matches!(after.save_state(start_ms), Saved::Written { .. }));
        let saved: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        assert_eq!(saved["nextMinute"], HOUR * 60 + 14);

        // A file without it (a build before it) starts as before: nothing to evaluate.
        let mut older = Alerting::new(rules(1.0));
        let mut document = saved;
        document.as_object_mut().unwrap().remove("nextMinute");
        fs::write(&path, serde_json::to_vec(&document).unwrap()).unwrap();
        older.restore_state(&path);
        assert!(older
            .start_after(start_ms + 3_600_000, &silent())
            .is_empty());
        assert_eq!(older.engine().statuses()[1].last_time, "2026-11-22T07:12Z");
    }

    #[test]
    fn a_changed_rule_does_not_take_up_the_saved_state() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        fired_and_saved(&path);
        // `shop-silent` now has another threshold; `cart-silent` is unchanged.
        let mut after = Alerting::new(rules(2.0));
        assert_eq!(
            after.restore_state(&path),
            Restored::Loaded {
                rules: 1,
                rules_set_aside: 1,
                events: 1,
                attempts: 0
            }
        );
        let statuses = after.engine().statuses();
        assert_eq!(statuses[0].phase, AlertPhase::Ok);
        assert_eq!(statuses[0].last_time, "");
        assert_eq!(statuses[1].last_time, "2026-11-22T07:10Z");
        // It fires again as a new rule would, notified (no suppression window of its own).
        let events = after.tick(settled(11), &silent());
        assert_eq!(events.len(), 1);
        assert!(!events[0].suppressed);

        // A rule that is gone is set aside with it.
        let mut after = Alerting::new(only_cart());
        assert!(matches!(
            after.restore_state(&path),
            Restored::Loaded {
                rules: 1,
                rules_set_aside: 1,
                ..
            }
        ));
    }

    /// `cart-silent` alone, as in [`rules`].
    fn only_cart() -> RuleSet {
        RuleSet::from_toml_str(
            "[[rule]]\nid = \"cart-silent\"\ndomain = \"cart\"\nreport = \"event\"\n\
             measure = \"count\"\nbelow = 1.0\nfor_minutes = 5\n",
            None,
        )
        .unwrap()
    }

    /// One start with a wrong rules file (five real rules missing from it) dropped their
    /// saved state: once the file was fixed, incidents still going on fired and paged
    /// again as new ones.
    #[test]
    fn a_rule_missing_from_one_start_takes_up_its_state_when_it_is_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        fired_and_saved(&path);

        // Started with a file that lacks `shop-silent`, which runs a few minutes.
        let mut wrong = Alerting::new(only_cart());
        assert!(matches!(
            wrong.restore_state(&path),
            Restored::Loaded {
                rules: 1,
                rules_set_aside: 1,
                ..
            }
        ));
        wrong.engine_mut().start_after(settled(11));
        for minute in 12..15 {
            wrong.tick(settled(minute), &silent());
            assert!(!matches!(
                wrong.save_state(settled(minute)),
                Saved::Failed { .. }
            ));
        }
        wrong.stop(settled(14), std::time::Duration::ZERO);

        // The file fixed: `shop-silent` is firing still, as saved before the wrong start,
        // and its incident goes on without a new event.
        let mut fixed = Alerting::new(rules(1.0));
        assert!(matches!(
            fixed.restore_state(&path),
            Restored::Loaded {
                rules: 2,
                rules_set_aside: 0,
                ..
            }
        ));
        assert_eq!(fixed.engine().statuses()[0].phase, AlertPhase::Firing);
        fixed.engine_mut().start_after(settled(15));
        assert_eq!(fixed.tick(settled(17), &silent()), vec![]);
        assert_eq!(fixed.engine().statuses()[0].phase, AlertPhase::Firing);
    }

    #[test]
    fn a_rule_absent_for_a_day_is_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        fired_and_saved(&path);
        let mut wrong = Alerting::new(only_cart());
        wrong.restore_state(&path);
        // Absent since the first write after the start.
        wrong.save_state(settled(12));
        let text = fs::read_to_string(&path).unwrap();
        assert!(
            text.contains(&format!("\"absentSinceMs\": {}", settled(12))),
            "{text}"
        );
        let restored = || {
            let mut fixed = Alerting::new(rules(1.0));
            let restored = fixed.restore_state(&path);
            (restored, fixed.engine().statuses()[0].phase)
        };
        // Kept until a day has passed.
        let day_later = settled(12) + ABSENT_RULE_KEEP_MS;
        assert_eq!(wrong.save_state(day_later - 1), Saved::Unchanged);
        assert!(matches!(
            restored(),
            (Restored::Loaded { rules: 2, .. }, AlertPhase::Firing)
        ));
        assert!(matches!(wrong.save_state(day_later), Saved::Written { .. }));
        assert!(matches!(
            restored(),
            (
                Restored::Loaded {
                    rules: 1,
                    rules_set_aside: 0,
                    ..
                },
                AlertPhase::Ok
            )
        ));
    }

    #[test]
    fn at_most_so_many_absent_rules_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let mut alerting = fired_and_saved(&path);
        let shop = alerting.engine().saved_rules()[0].clone();
        // A file with more absent rules than are kept, e.g. written by hand.
        let absent: Vec<AbsentRule> = (0..MAX_ABSENT_RULES + 5)
            .map(|i| AbsentRule {
                absent_since_ms: Some(settled(10)),
                rule: SavedRule {
                    id: format!("old-{i}"),
                    ..shop.clone()
                },
            })
            .collect();
        let mut document: StateDocument =
            serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
        document.absent_rules = absent;
        fs::write(&path, serde_json::to_vec(&document).unwrap()).unwrap();
        drop(alerting);
        alerting = Alerting::new(rules(1.0));
        assert!(matches!(
            alerting.restore_state(&path),
            Restored::Loaded {
                rules: 2,
                rules_set_aside: MAX_ABSENT_RULES,
                ..
            }
        ));
    }

    #[test]
    fn a_corrupt_file_is_moved_aside_and_alerting_starts_fresh() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        for bad in [
            &b"{\"version\": 1, \"rules\": [tr"[..],
            b"\x00\xff not json",
            b"{\"version\": 99, \"rules\": []}",
            b"{\"rules\": []}",
            b"{\"version\": 1, \"savedAtMs\": 0, \"rules\": [{\"id\": 5}], \"events\": [], \"attempts\": []}",
        ] {
            fs::write(&path, bad).unwrap();
            let mut alerting = Alerting::new(rules(1.0));
            let restored = alerting.restore_state(&path);
            let Restored::Unreadable {
                path: named,
                moved_to,
                error,
                ..
            } = restored
            else {
                panic!("{restored:?}");
            };
            assert_eq!(named, path);
            assert!(!error.is_empty());
            let aside = dir.path().join("state.json.corrupt");
            assert_eq!(moved_to.as_deref(), Some(aside.as_path()));
            assert_eq!(fs::read(&aside).unwrap(), bad);
            assert!(!path.exists());
            // Fresh: nothing firing, nothing logged; the next change writes a good file.
            assert!(alerting.log().snapshot().events.is_empty());
            assert_eq!(alerting.engine().statuses()[0].phase, AlertPhase::Ok);
            assert_eq!(alerting.tick(settled(10), &silent()).len(), 1);
            assert!(matches!(
                alerting.save_state(settled(10)),
                Saved::Written { .. }
            ));
            assert_eq!(
                Alerting::new(rules(1.0)).restore_state(&path),
                Restored::Loaded {
                    rules: 2,
                    rules_set_aside: 0,
                    events: 1,
                    attempts: 0
                }
            );
        }
    }

    #[test]
    fn a_file_too_large_to_be_a_state_file_is_moved_aside_unread() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        fired_and_saved(&path);
        // A good document padded past the limit (whitespace is valid JSON): not read.
        let mut file = fs::OpenOptions::new().append(true).open(&path).unwrap();
        let padding = vec![b' '; 1 << 20];
        while file.metadata().unwrap().len() <= MAX_STATE_FILE_BYTES {
            file.write_all(&padding).unwrap();
        }
        drop(file);
        let mut alerting = Alerting::new(rules(1.0));
        let restored = alerting.restore_state(&path);
        let Restored::Unreadable {
            error, moved_to, ..
        } = restored
        else {
            panic!("{restored:?}");
        };
        assert!(error.contains("too large"), "{error}");
        assert_eq!(moved_to, Some(dir.path().join("state.json.corrupt")));
        assert_eq!(alerting.engine().statuses()[0].phase, AlertPhase::Ok);
    }

    /// Makes a FIFO at `path` (no `unsafe` `mkfifo(3)` call: the coreutils command).
    #[cfg(unix)]
    fn make_fifo(path: &Path) {
        let status = std::process::Command::new("mkfifo")
            .arg(path)
            .status()
            .expect("running mkfifo");
        assert!(status.success());
    }

    /// Runs `f` on a thread of its own: a call that blocks fails the test instead of
    /// hanging it.
    fn without_blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || tx.send(f()).unwrap());
        rx.recv_timeout(std::time::Duration::from_secs(30))
            .expect("blocked on the state file")
    }

    #[cfg(unix)]
    #[test]
    fn a_state_file_that_is_a_fifo_is_moved_aside_without_opening_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        make_fifo(&path);
        let (alerting, restored) = without_blocking({
            let path = path.clone();
            move || {
                let mut alerting = Alerting::new(rules(1.0));
                let restored = alerting.restore_state(path);
                (alerting, restored)
            }
        });
        let Restored::Unreadable {
            error, moved_to, ..
        } = restored
        else {
            panic!("{restored:?}");
        };
        assert_eq!(error, "not a regular file (a FIFO)");
        let aside = dir.path().join("state.json.corrupt");
        assert_eq!(moved_to.as_deref(), Some(aside.as_path()));
        assert!(!path.exists());
        // The next write puts a regular file in its place.
        let mut alerting = alerting;
        alerting.tick(settled(10), &silent());
        assert!(matches!(
            alerting.save_state(settled(10)),
            Saved::Written { .. }
        ));
        assert!(fs::metadata(&path).unwrap().is_file());
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_left_at_the_temporary_path_does_not_block_the_write() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let mut alerting = Alerting::new(rules(1.0));
        assert_eq!(alerting.restore_state(&path), Restored::Fresh);
        make_fifo(&dir.path().join("state.json.tmp"));
        alerting.tick(settled(10), &silent());
        let saved = without_blocking(move || alerting.save_state(settled(10)));
        assert_eq!(saved, Saved::Written { recovered: false });
        assert!(fs::metadata(&path).unwrap().is_file());
        assert!(!dir.path().join("state.json.tmp").exists());
        assert!(matches!(
            Alerting::new(rules(1.0)).restore_state(&path),
            Restored::Loaded { events: 1, .. }
        ));
    }

    #[test]
    fn a_firing_rule_restored_stays_firing_without_a_new_event_then_resolves() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        fired_and_saved(&path);

        // The restart: minutes 11 to 14 were not watched; the first watched minute is 15.
        let mut alerting = Alerting::new(rules(1.0));
        alerting.restore_state(&path);
        alerting.engine_mut().start_after(settled(14) - 20_000);
        assert_eq!(alerting.tick(settled(15), &silent()), vec![]);
        assert_eq!(alerting.engine().statuses()[0].phase, AlertPhase::Firing);

        // Traffic is back: resolved, with the incident's start from before the restart, and
        // notified.
        let events = alerting.tick(settled(16), &shop_sends(16));
        assert_eq!(events.len(), 1);
        let resolved = &events[0];
        assert_eq!(resolved.kind, crate::AlertKind::Resolved);
        assert_eq!(resolved.started_minute, HOUR * 60 + 10);
        assert!(!resolved.suppressed);

        // Bad again at 17, inside the 20 minutes since the notified fire at 10: recorded,
        // not sent.
        let events = alerting.tick(settled(17), &silent());
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].kind, crate::AlertKind::Fired);
        assert!(events[0].suppressed);
    }

    #[test]
    fn a_write_failure_is_counted_reported_once_and_alerting_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("alerts");
        let path = blocker.join("state.json");
        let mut alerting = Alerting::new(rules(1.0));
        assert_eq!(alerting.restore_state(&path), Restored::Fresh);
        // The state file's folder becomes a file: every write fails.
        fs::write(&blocker, b"").unwrap();
        alerting.tick(settled(10), &silent());
        let Saved::Failed {
            first, path: named, ..
        } = alerting.save_state(settled(10))
        else {
            panic!("the write did not fail");
        };
        assert!(first);
        assert_eq!(named, path);
        alerting.tick(settled(11), &silent());
        assert!(matches!(
            alerting.save_state(settled(11)),
            Saved::Failed { first: false, .. }
        ));
        assert_eq!(alerting.log().snapshot().counters.state_write_failures, 2);
        assert_eq!(alerting.engine().statuses()[0].phase, AlertPhase::Firing);

        fs::remove_file(&blocker).unwrap();
        assert_eq!(
            alerting.save_state(settled(11)),
            Saved::Written { recovered: true }
        );
        assert!(path.exists());
    }

    #[test]
    fn a_rule_whose_last_minute_is_nan_is_not_written_again_every_tick() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let mut alerting = Alerting::new(rules(1.0));
        assert_eq!(alerting.restore_state(&path), Restored::Fresh);
        let history = silent();
        alerting.tick(settled(10), &history);
        // A last minute whose value and baseline are NaN (no input makes one today; the
        // state file must not depend on that).
        let engine = alerting.engine_mut();
        let mut saved = engine.saved_rules();
        let last = saved[0].state.last.as_mut().unwrap();
        (last.value, last.baseline) = (Some(f64::NAN), Some(f64::NAN));
        assert_eq!(engine.restore_rules(&saved), [true, true]);
        assert!(matches!(
            alerting.save_state(settled(10)),
            Saved::Written { .. }
        ));
        // Later ticks in the same minute change nothing: the file is not written (and
        // fsynced) again each time just because NaN is not equal to itself.
        for _ in 0..3 {
            alerting.tick(settled(10) + 5_000, &history);
            assert_eq!(alerting.save_state(settled(10) + 5_000), Saved::Unchanged);
        }
        // The next minute is a change again.
        alerting.tick(settled(11), &history);
        assert!(matches!(
            alerting.save_state(settled(11)),
            Saved::Written { .. }
        ));
    }
}
