//! `ocelot rebuild-reports` beside a running server: the command asks, the server rebuilds.
//!
//! The command needs the store to itself (`rebuild.rs`), which a running server holds. So
//! when the data directory is taken, the command leaves a request file in
//! `<data>/rebuild-requests/` and waits; the server looks there every second, rebuilds the
//! hour with its own settings on a thread of low priority (as it rebuilds an hour a crash
//! left incomplete), drops the merged days its pages keep of that hour, and answers with a
//! file of what it printed, or of why it could not. No port and no login are involved:
//! whoever may write the data directory may already rewrite its reports.
//!
//! Files, by the request's name `<hour>-<pid>-<nanos>`: `.request` (written whole, then
//! renamed in), `.running` (the server took it), then `.done` or `.failed` (the answer,
//! which the command reads and removes). A server that stops mid-rebuild leaves `.running`;
//! the command sees the data directory freed and says so, and the next start answers it as
//! failed. Answers nobody took are removed after a day.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use ocelot_collector::{rebuild_hour, CollectorConfig, RebuildOptions};
use ocelot_store::Store;
use serde::{Deserialize, Serialize};

use crate::rebuild::{sealed_hour, summary};
use crate::serve::{lock_data_dir_as, Taker};

/// The folder of requests and answers, in the data directory.
pub(crate) const FOLDER: &str = "rebuild-requests";
/// How often the server looks for requests.
const POLL: Duration = Duration::from_secs(1);
/// How long the command waits for the server to take its request: a server that has not
/// in that time is not looking (an older release, or a tool holding the directory).
const TAKE_WITHIN: Duration = Duration::from_secs(15);
/// Answers older than this are removed at the server's start: their command is gone.
const STALE_ANSWER: Duration = Duration::from_secs(24 * 3600);

/// One request, as written in its file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Request {
    /// `YYYYMMDDHH`, as given on the command line.
    pub(crate) hour: String,
    pub(crate) domains: Vec<String>,
    pub(crate) dry_run: bool,
    /// Rebuild a domain even when the store holds fewer of its trees than were received.
    #[serde(default)]
    pub(crate) force: bool,
}

/// Asks the server holding `data_dir` (`holder`: how its lock was described) to rebuild,
/// and waits for its answer: the text to print, or why it failed.
pub(crate) fn ask_server(
    data_dir: &Path,
    request: &Request,
    holder: &str,
) -> anyhow::Result<String> {
    let folder = data_dir.join(FOLDER);
    std::fs::create_dir_all(&folder).with_context(|| format!("creating {}", folder.display()))?;
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let name = format!("{}-{}-{nanos}", request.hour, std::process::id());
    let path = |ext: &str| folder.join(format!("{name}.{ext}"));
    let text = serde_json::to_vec(request)?;
    write_whole(&path("request"), &text)?;
    let started = Instant::now();
    let mut checked_alive = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(100));
        if let Some(answer) = take_answer(&path("done"))? {
            return Ok(answered(&answer, holder));
        }
        if let Some(answer) = take_answer(&path("failed"))? {
            anyhow::bail!("the running server ({holder}) could not rebuild: {answer}");
        }
        if started.elapsed() >= TAKE_WITHIN && path("request").exists() {
            // Not taken: withdrawn, unless the server takes it at this very moment.
            if std::fs::remove_file(path("request")).is_ok() {
                anyhow::bail!(
                    "the data directory {} is in use ({holder}), which did not take the rebuild request within {}s: a server older than this command does not, nor does another `ocelot rebuild-reports` holding the directory; stop it and run the command again",
                    data_dir.display(),
                    TAKE_WITHIN.as_secs()
                );
            }
        }
        if checked_alive.elapsed() >= Duration::from_secs(2) {
            checked_alive = Instant::now();
            // The directory freed: the server stopped without answering.
            if let Ok(_lock) = lock_data_dir_as(data_dir, Taker::Tool("")) {
                if let Some(answer) = take_answer(&path("done"))? {
                    return Ok(answered(&answer, holder));
                }
                let _ = std::fs::remove_file(path("request"));
                anyhow::bail!(
                    "the server ({holder}) stopped before answering the rebuild request: run the command again (now without a server, it rebuilds by itself)"
                );
            }
        }
    }
}

/// What the command prints of the server's answer: it, and who counted.
fn answered(answer: &str, holder: &str) -> String {
    format!("{answer}(Counted by the running server, {holder}.)\n")
}

/// Writes `bytes` to `path` whole: to a temporary name first, then renamed in, so a reader
/// never sees half of it.
fn write_whole(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let partial = path.with_extension("partial");
    std::fs::write(&partial, bytes)
        .and_then(|()| std::fs::rename(&partial, path))
        .with_context(|| format!("writing {}", path.display()))
}

/// The answer at `path`, removed, if there is one.
fn take_answer(path: &Path) -> anyhow::Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let _ = std::fs::remove_file(path);
            Ok(Some(text))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// What the server's side needs.
pub(crate) struct Server {
    pub(crate) data_dir: PathBuf,
    pub(crate) store: Store,
    pub(crate) config: CollectorConfig,
    /// Told the hour rebuilt, to drop what it keeps of it (the pages' merged days).
    pub(crate) rebuilt: Box<dyn Fn(u64) + Send>,
}

/// Answers requests on a thread of its own, of low priority, until `stop` is set.
pub(crate) fn serve_requests(server: Server, stop: Arc<AtomicBool>) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("ocelot-rebuild-requests".to_owned())
        .spawn(move || {
            ocelot_collector::lower_this_threads_priority();
            let folder = server.data_dir.join(FOLDER);
            answer_left_over(&folder);
            while !stop.load(Ordering::Relaxed) {
                for name in pending(&folder) {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    answer(&server, &folder, &name);
                }
                std::thread::sleep(POLL);
            }
        })
        .map(drop)
}

/// Requests waiting in `folder`, oldest first (by name: hour, pid, time).
fn pending(folder: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(folder) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let path = e.path();
            (path.extension() == Some(OsStr::new("request")))
                .then(|| path.file_stem()?.to_str().map(str::to_owned))
                .flatten()
        })
        .collect();
    names.sort();
    names
}

/// At the start: a request a stopped server was working on is answered as failed, and
/// answers nobody took for a day are removed.
fn answer_left_over(folder: &Path) {
    let Ok(entries) = std::fs::read_dir(folder) else {
        return;
    };
    for entry in entries.filter_map(|e| e.ok()) {
        let path = entry.path();
        match path.extension().and_then(OsStr::to_str) {
            Some("running") => {
                let _ = write_whole(
                    &path.with_extension("failed"),
                    b"the server stopped before the rebuild finished; run the command again",
                );
                let _ = std::fs::remove_file(&path);
            }
            Some("done" | "failed") => {
                let old = (entry.metadata().and_then(|m| m.modified()).ok())
                    .and_then(|modified| modified.elapsed().ok())
                    .is_some_and(|age| age >= STALE_ANSWER);
                if old {
                    let _ = std::fs::remove_file(&path);
                }
            }
            _ => {}
        }
    }
}

/// Takes the request `name`, rebuilds, and answers.
fn answer(server: &Server, folder: &Path, name: &str) {
    let path = |ext: &str| folder.join(format!("{name}.{ext}"));
    // Taken by renaming: a command that withdrew it meanwhile wins.
    if std::fs::rename(path("request"), path("running")).is_err() {
        return;
    }
    let result = std::fs::read(path("running"))
        .context("reading the request")
        .and_then(|bytes| serde_json::from_slice::<Request>(&bytes).context("reading the request"))
        .and_then(|request| rebuild(server, &request));
    let (ext, text) = match result {
        Ok(text) => ("done", text),
        Err(error) => {
            tracing::warn!(
                request = name,
                error = format!("{error:#}"),
                "cannot rebuild an hour as asked"
            );
            ("failed", format!("{error:#}"))
        }
    };
    if let Err(error) = write_whole(&path(ext), text.as_bytes()) {
        tracing::warn!(
            request = name,
            error = format!("{error:#}"),
            "cannot answer a rebuild request"
        );
    }
    let _ = std::fs::remove_file(path("running"));
}

/// Rebuilds as `request` asks; the text the command prints.
fn rebuild(server: &Server, request: &Request) -> anyhow::Result<String> {
    let (hour, now_ms) = sealed_hour(&request.hour, server.config.previous_hour_grace_minutes)?;
    let options = RebuildOptions {
        domains: request.domains.clone(),
        dry_run: request.dry_run,
        keep_if_fewer: !request.force,
    };
    let rebuilt = rebuild_hour(&server.store, &server.config, hour, &options, now_ms)
        .with_context(|| format!("rebuilding the reports of hour {}", request.hour))?;
    if !request.dry_run && rebuilt.reports_written > 0 {
        (server.rebuilt)(hour);
        tracing::info!(
            hour,
            trees = rebuilt.total_trees(),
            reports = rebuilt.reports_written,
            "rebuilt an hour's reports from the trees in the store, as `ocelot rebuild-reports` asked"
        );
    }
    Ok(summary(
        &request.hour,
        &rebuilt,
        &request.domains,
        request.dry_run,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server's side on a store in `dir`, counting the hours it was told rebuilt.
    fn server(dir: &Path) -> (Server, Arc<std::sync::Mutex<Vec<u64>>>) {
        let store = Store::open(ocelot_store::StoreConfig {
            retention_days: 0,
            ..ocelot_store::StoreConfig::new(dir)
        })
        .unwrap();
        let told = Arc::new(std::sync::Mutex::new(Vec::new()));
        let told_too = told.clone();
        let server = Server {
            data_dir: dir.to_owned(),
            store,
            config: CollectorConfig::default(),
            rebuilt: Box::new(move |hour| told_too.lock().unwrap().push(hour)),
        };
        (server, told)
    }

    #[test]
    fn a_request_is_answered_with_what_the_command_prints() {
        let dir = tempfile::tempdir().unwrap();
        let (server, told) = server(dir.path());
        let _held = lock_data_dir_as(dir.path(), Taker::Server).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        serve_requests(server, stop.clone()).unwrap();
        let request = Request {
            hour: "2026112207".into(),
            domains: vec!["shop".into()],
            dry_run: false,
            force: false,
        };
        let text = ask_server(dir.path(), &request, "pid 7").unwrap();
        assert!(
            text.starts_with("Hour 2026112207: 0 trees counted"),
            "{text}"
        );
        assert!(
            text.contains("No stored tree of shop in this hour"),
            "{text}"
        );
        assert!(
            text.ends_with("(Counted by the running server, pid 7.)\n"),
            "{text}"
        );
        assert!(
            told.lock().unwrap().is_empty(),
            "nothing written, nothing to forget"
        );

        // What the server refuses comes back as the command's error.
        let open = Request {
            hour: "2999010100".into(),
            ..request
        };
        let error = ask_server(dir.path(), &open, "pid 7").unwrap_err();
        let error = format!("{error:#}");
        assert!(
            error.starts_with(
                "the running server (pid 7) could not rebuild: hour 2999010100 has not begun"
            ),
            "{error}"
        );
        stop.store(true, Ordering::Relaxed);
        let left: Vec<_> = std::fs::read_dir(dir.path().join(FOLDER))
            .unwrap()
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }

    #[test]
    fn a_request_a_stopped_server_was_on_is_answered_as_failed_at_the_next_start() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join(FOLDER);
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(folder.join("2026112207-1-2.running"), b"{}").unwrap();
        std::fs::write(folder.join("2026112207-1-3.done"), b"fresh").unwrap();
        answer_left_over(&folder);
        let failed = std::fs::read_to_string(folder.join("2026112207-1-2.failed")).unwrap();
        assert!(failed.starts_with("the server stopped before"), "{failed}");
        assert!(!folder.join("2026112207-1-2.running").exists());
        assert!(
            folder.join("2026112207-1-3.done").exists(),
            "an answer of today is kept"
        );
    }

    #[test]
    fn a_server_that_stops_without_answering_is_said_so() {
        let dir = tempfile::tempdir().unwrap();
        let request = Request {
            hour: "2026112207".into(),
            domains: Vec::new(),
            dry_run: true,
            force: false,
        };
        // Nobody holds the directory: the command learns within seconds that no server will answer.
        let error = ask_server(dir.path(), &request, "pid 7").unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("the server (pid 7) stopped before answering"),
            "{error}"
        );
        let left: Vec<_> = std::fs::read_dir(dir.path().join(FOLDER))
            .unwrap()
            .collect();
        assert!(left.is_empty(), "the request is withdrawn: {left:?}");
    }
}
