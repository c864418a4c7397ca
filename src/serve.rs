//! `ocelot serve`: collector, web server and store in one process.

use std::net::SocketAddrV4;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use ocelot_collector::{Collector, CollectorConfig, SystemClock};
use ocelot_protocol::DecodeOptions;
use ocelot_store::{Store, StoreConfig};
use ocelot_web::{AppState, AuthConfig, BasicCredentials, CatRouterConfig};
use tokio::net::TcpListener;

use crate::alerts;
use crate::config::Config;
use crate::demo;
use crate::health;
use crate::lookup::StoreLookup;
use crate::rebuild_requests;
use crate::reports::CollectorReports;
use crate::telemetry::{self, Telemetry};

/// Longest a clean shutdown may take before the process exits anyway.
const SHUTDOWN_BOUND: Duration = Duration::from_secs(20);
// Alerting waits for the collector's final write, then for its notifications: both fit.
const _: () = assert!(
    alerts::FLUSH_WAIT_AT_STOP.as_secs() + alerts::NOTIFY_AT_STOP_WAIT.as_secs()
        < SHUTDOWN_BOUND.as_secs()
);
/// How long the web server may take to finish its requests once the data is safe.
const WEB_DRAIN_BOUND: Duration = Duration::from_secs(3);

/// What `serve` was asked on the command line (overrides the config file).
#[derive(Debug, Default)]
pub(crate) struct ServeArgs {
    pub(crate) config: Option<PathBuf>,
    pub(crate) data: Option<PathBuf>,
    pub(crate) collector_listen: Option<std::net::SocketAddr>,
    pub(crate) web_listen: Option<std::net::SocketAddr>,
    pub(crate) demo: bool,
}

/// Where `--demo` keeps its data unless `--data` is given: not the production default
/// (nor `store.dir`), so that a later `ocelot serve` in the same folder does not show the
/// demo's services for days.
pub(crate) const DEMO_DATA_DIR: &str = "ocelot-demo-data";

impl ServeArgs {
    /// The configuration a start uses: the file (`--config`, else `./ocelot.toml` when
    /// present), then the flags over it; `--demo` without `--data` keeps its data in
    /// [`DEMO_DATA_DIR`].
    fn config(&self) -> anyhow::Result<Config> {
        let mut config = Config::load(self.config.as_deref())?;
        match &self.data {
            Some(dir) => config.store.dir = dir.clone(),
            None if self.demo => config.store.dir = PathBuf::from(DEMO_DATA_DIR),
            None => {}
        }
        if let Some(addr) = self.collector_listen {
            config.collector.listen = addr;
        }
        if let Some(addr) = self.web_listen {
            config.web.listen = addr;
        }
        let (collector, web) = (config.collector.listen, config.web.listen);
        // One port for both would fail at the second bind, after --check-config said valid.
        let overlap = collector.ip() == web.ip()
            || collector.ip().is_unspecified()
            || web.ip().is_unspecified();
        if collector.port() == web.port() && collector.port() != 0 && overlap {
            anyhow::bail!(
                "the collector ({collector}) and the web server ({web}) cannot listen on one \
                 port: give them different ports"
            );
        }
        Ok(config)
    }
}

/// `ocelot serve --check-config`: everything a start checks before it opens a port or the
/// data directory (the configuration, `web.advertise`, the alert rules), with the start's
/// own messages and warnings, then what the server would use. An error is the start's
/// error (exit 1); nothing is bound, created or written.
pub(crate) fn check_config(args: ServeArgs) -> anyhow::Result<()> {
    let config = args.config()?;
    let dir = &config.store.dir;
    if dir.exists() && !dir.is_dir() {
        anyhow::bail!("the data directory {} is not a directory", dir.display());
    }
    let routers = advertised_collectors(&config, config.collector.listen)?;
    let rules = active_rules(&config, args.demo)?;
    // The start's warnings, in its order.
    if let Some(rules) = &rules {
        alerts::warn_of_short_retention(rules, config.store.retention_days);
    }
    warn_of_no_login(config.web.listen, !config.web.username.is_empty());
    for warning in router_warnings(
        &routers,
        config.collector.listen,
        config.web.listen,
        is_this_hosts,
    ) {
        tracing::warn!("{warning}");
    }
    let source = Config::source(args.config.as_deref()).map_or_else(
        || "none (the defaults)".to_owned(),
        |p| absolute(&p).display().to_string(),
    );
    let router = if routers.is_empty() {
        format!(
            "the collector port {} on the address each client reached the web port on",
            config.collector.listen.port()
        )
    } else {
        routers.iter().map(|r| format!("{r};")).collect()
    };
    say(&format!(
        "The configuration is valid: ocelot {}",
        crate::LONG_VERSION
    ));
    say(&format!("  config file  {source}"));
    say(&format!("  collector    {}", config.collector.listen));
    say(&format!("  web          {}", config.web.listen));
    say(&format!("  router       {router}"));
    say(&format!("  data in      {}", absolute(dir).display()));
    say(&format!(
        "  alert rules  {}",
        rules_text(&config, args.demo, rules.as_ref())
    ));
    Ok(())
}

pub(crate) fn run(args: ServeArgs) -> anyhow::Result<()> {
    let config = args.config()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(config.collector.io_threads)
        .enable_all()
        .thread_name("ocelot-io")
        .build()
        .context("starting the async runtime")?;
    let web_runtime = web_runtime(config.web.nice)?;
    let served = runtime.block_on(serve(config, args.demo, web_runtime.handle().clone()));
    // Not dropped: a drop waits for every blocking task, for good. Past `SHUTDOWN_BOUND`
    // the final flush may still be on one (a disk that does not answer), and with the
    // runtime's tasks gone (the second Ctrl-C's listener among them) nothing would end
    // the process.
    runtime.shutdown_background();
    web_runtime.shutdown_background();
    served
}

/// The web server's own runtime, its threads (workers and blocking ones) at niceness
/// `nice`: a page is tens of milliseconds of CPU (merging a report's machines, rendering),
/// and on a machine the collector keeps busy, pages requested back to back took the CPU
/// that the analyzers and the store writer needed, and trees were dropped. At a higher
/// niceness the pages wait instead; with a core to spare they run as fast as before. The
/// collector's sockets stay on the main runtime at the process's own niceness.
fn web_runtime(nice: i32) -> anyhow::Result<tokio::runtime::Runtime> {
    let niceness = web_niceness(nice);
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("ocelot-web")
        .on_thread_start(move || set_this_threads_niceness(niceness))
        .build()
        .context("starting the web server's runtime")
}

/// The niceness of the web threads: `nice` above the calling thread's (the process's),
/// at most 19; `None` when `nice` is 0 or the platform has no per-thread niceness. Taken
/// once, as an absolute value: a thread inherits its creator's niceness, and the runtime
/// starts its blocking threads from its (already niced) workers, so "`nice` more" on each
/// thread's start would push those to 19.
fn web_niceness(nice: i32) -> Option<i32> {
    if nice == 0 {
        return None;
    }
    #[cfg(target_os = "linux")]
    {
        let process = rustix::process::getpriority_process(Some(rustix::thread::gettid()));
        Some(process.unwrap_or(0).saturating_add(nice).min(19))
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}

/// Sets the calling thread's niceness (Linux: niceness is per thread). Raising it needs no
/// privilege; a failure (a seccomp profile, say) is logged and the thread runs at the
/// niceness it has.
fn set_this_threads_niceness(niceness: Option<i32>) {
    let Some(_niceness) = niceness else {
        return;
    };
    #[cfg(target_os = "linux")]
    {
        let thread = Some(rustix::thread::gettid());
        if let Err(e) = rustix::process::setpriority_process(thread, _niceness) {
            tracing::warn!(error = %e, "could not lower a web thread's priority (web.nice)");
        }
    }
}

async fn serve(config: Config, with_demo: bool, web: tokio::runtime::Handle) -> anyhow::Result<()> {
    let dir = config.store.dir.clone();
    if dir.exists() && !dir.is_dir() {
        anyhow::bail!("the data directory {} is not a directory", dir.display());
    }
    let created = !dir.exists();
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("creating the data directory {}", dir.display()))?;
    // Taken before the store recovers or rewrites anything, held until the server stopped.
    let lock = match lock_data_dir(&dir) {
        Ok(lock) => lock,
        Err(e) => {
            // A full disk fails the lock file's write: the new directory goes again.
            if created {
                remove_unused_data_dir(&dir);
            }
            return Err(e);
        }
    };
    if !created {
        warn_about_foreign_entries(&dir);
    }
    let after_clean_stop = after_clean_stop(&dir, lock.last_pid, lock.last_start);
    let served = serve_locked(config, with_demo, after_clean_stop, web).await;
    if served.is_err() && created {
        // While the lock is held: no other server can have started on it meanwhile.
        remove_unused_data_dir(&dir);
    }
    drop(lock);
    served
}

/// Removes the data directory a failed `serve` made, when it holds nothing but the lock
/// file: a start that failed (a collector port in use, say) left a new directory with only
/// `.lock` in it at every try. Anything else in it (a report, the demo's marks) keeps it,
/// and a directory that was there before the start is never removed.
fn remove_unused_data_dir(dir: &Path) {
    let only_lock = std::fs::read_dir(dir).is_ok_and(|mut entries| {
        entries.all(|entry| entry.is_ok_and(|entry| entry.file_name() == LOCK_FILE))
    });
    if only_lock {
        let _ = std::fs::remove_file(dir.join(LOCK_FILE));
        // Not `remove_dir_all`: whatever appeared since the look keeps the directory.
        let _ = std::fs::remove_dir(dir);
    }
}

/// What Ocelot writes in a data directory besides the store's hour folders: the lock, the
/// clean-stop marker, the alert state (`alerts::state_path`), the demo's marks and the
/// rebuild requests of `ocelot rebuild-reports`.
const OWN_ENTRIES: [&str; 5] = [
    LOCK_FILE,
    CLEAN_STOP_MARKER,
    "alerts",
    "demo-marks",
    rebuild_requests::FOLDER,
];

/// Warns when a data directory that was there before the start holds what Ocelot does not
/// write there, beside or in the hour folders: `--data` (or `store.dir`, "." say) naming a
/// folder used for something else, or a file copied into an hour. Not refused: Ocelot leaves such entries alone (retention deletes only the hour
/// folders the store wrote), but the operator should know.
fn warn_about_foreign_entries(dir: &Path) {
    let foreign = foreign_entries(dir);
    if let Some(first) = foreign.first() {
        tracing::warn!(
            dir = %dir.display(),
            entries = foreign.len(),
            "the data directory holds files or folders Ocelot did not write (\"{first}\"{}): \
             is --data (store.dir) the right directory? Ocelot leaves them alone",
            if foreign.len() > 1 { ", ..." } else { "" }
        );
    }
}

/// The entries of `dir` that are neither [`OWN_ENTRIES`] nor named like the store's hour
/// folders, and those in an hour folder that are not domain folders (all the store writes
/// there), as `<hour>/<name>`; sorted. Domain folders are not looked into: what the store
/// writes there is its own business, and a walk of every file would slow the start.
fn foreign_entries(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut foreign = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if OWN_ENTRIES.contains(&name.as_str()) {
            continue;
        }
        if ocelot_store::parse_hour_folder(&name).is_none() {
            foreign.push(name);
            continue;
        }
        // Not followed: the store does not take a symlink for an hour folder either.
        if !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let Ok(inside) = std::fs::read_dir(entry.path()) else {
            continue;
        };
        for inner in inside.flatten() {
            let inner_name = inner.file_name().to_string_lossy().into_owned();
            let domain_folder = inner.file_type().is_ok_and(|t| t.is_dir())
                && ocelot_store::validate_name("domain", &inner_name).is_ok();
            if !domain_folder {
                foreign.push(format!("{name}/{inner_name}"));
            }
        }
    }
    foreign.sort();
    foreign
}

/// The store's settings from the configuration.
pub(crate) fn store_config(config: &Config) -> StoreConfig {
    let mut store_config = StoreConfig::new(&config.store.dir);
    store_config.compression_level = config.store.compression_level;
    store_config.retention_days = config.store.retention_days;
    // Whole bytes of a size in GiB (`as` saturates: no cap is larger than u64).
    store_config.max_disk_bytes = (config.store.max_disk_gib * (1u64 << 30) as f64) as u64;
    store_config.queue_capacity = config.store.queue_frames;
    store_config.queue_bytes = config.store.queue_mib.saturating_mul(1 << 20);
    store_config.writer_threads = config.store.writer_threads;
    store_config.max_domains_per_hour = config.store.max_domains_per_hour;
    store_config.max_index_files_per_domain_hour = config.store.max_index_files_per_domain_hour;
    store_config
}

/// How frames are decoded (the PT1 zone) from the configuration.
pub(crate) fn decode_options(config: &Config) -> DecodeOptions {
    DecodeOptions {
        pt1_utc_offset_seconds: config.collector.pt1_utc_offset_seconds,
    }
}

/// The analyzers' caps and thresholds from the configuration.
pub(crate) fn analyzer_config(config: &Config) -> Arc<ocelot_analyzer::AnalyzerConfig> {
    Arc::new(ocelot_analyzer::AnalyzerConfig {
        max_entries_per_hour: config.collector.max_report_entries_per_hour,
        ..ocelot_analyzer::AnalyzerConfig::default()
    })
}

/// The data directory's lock file (see [`lock_data_dir`]).
const LOCK_FILE: &str = ".lock";

/// Left in the data directory by a stop whose final flush wrote every report: the open
/// hours' checkpoints then hold every tree taken, and the next start tells the collector,
/// so its log says the hours it continues miss nothing. A crash, a `kill -9` or a failed
/// flush leaves none, and a start removes it before it takes a tree, so a crash after
/// that is not taken for a clean stop. It names the pid of the server that wrote it (see
/// [`after_clean_stop`]) and its build, for whoever reads it.
const CLEAN_STOP_MARKER: &str = ".clean-stop";

/// The first line of [`CLEAN_STOP_MARKER`].
const CLEAN_STOP_TEXT: &str =
    "ocelot serve stopped cleanly: its final checkpoint holds every tree it took";

/// The text of [`CLEAN_STOP_MARKER`] written by the server of process `pid`.
fn clean_stop_text(pid: u32) -> String {
    format!(
        "{CLEAN_STOP_TEXT}\npid {pid}\nbuild {}\n",
        crate::LONG_VERSION
    )
}

/// Whether the last server on `dir` stopped cleanly: its [`CLEAN_STOP_MARKER`] is there,
/// written by the server that last took the directory. A build older than the marker
/// neither removes nor writes it: after a rollback to one, the marker of the newer build's
/// stop stayed, and if the older build was then killed, the next start trusted it and said
/// nothing was missing. Every build since the lock writes its pid in `.lock` at its start,
/// so a later start shows as a lock file written after the marker (`last_start`, its
/// modification time before this start), or holding another pid than the marker names
/// (`last_pid`; a container's server is pid 1 at every start, hence the time too). A
/// marker naming no pid (written before markers named one) is judged by the time alone.
fn after_clean_stop(dir: &Path, last_pid: Option<u32>, last_start: Option<SystemTime>) -> bool {
    let path = dir.join(CLEAN_STOP_MARKER);
    let Ok(text) = std::fs::read_to_string(&path) else {
        return false;
    };
    let stopped = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
    let pid = text
        .lines()
        .find_map(|line| line.strip_prefix("pid "))
        .and_then(|pid| pid.trim().parse::<u32>().ok());
    let started_since = matches!((last_start, stopped), (Some(start), Some(stop)) if start > stop);
    let other_pid = pid.is_some() && last_pid != pid;
    if !started_since && !other_pid {
        return true;
    }
    let stopped_by = pid.map_or_else(String::new, |pid| format!(" (pid {pid})"));
    let since = last_pid.map_or_else(
        || "a server".to_owned(),
        |pid| format!("a server (pid {pid})"),
    );
    tracing::warn!(
        path = %path.display(),
        "the marker of the last clean stop{stopped_by} is still in the data directory, but \
         {since} took the directory after it without removing it (a build older than the \
         marker, after a rollback?): how that server stopped is unknown, so the open hours \
         are continued as after a crash"
    );
    false
}

/// Everything of `serve` once the data directory is taken.
async fn serve_locked(
    config: Config,
    with_demo: bool,
    after_clean_stop: bool,
    web: tokio::runtime::Handle,
) -> anyhow::Result<()> {
    let dir = &config.store.dir;
    raise_open_file_limit();
    let store = Store::open(store_config(&config))
        .with_context(|| format!("opening the store in {}", config.store.dir.display()))?;

    let decode = decode_options(&config);
    // One configuration for the analyzers and the pages that name its caps.
    let analyzer = analyzer_config(&config);
    let collector_config = CollectorConfig {
        max_frame_bytes: config.collector.max_frame_bytes,
        max_connections: config.collector.max_connections,
        worker_queue_trees: config.collector.worker_queue_trees,
        worker_queue_bytes: config.collector.worker_queue_mib.saturating_mul(1 << 20),
        partial_frame_bytes: config.collector.partial_frame_mib.saturating_mul(1 << 20),
        partial_frame_timeout: Duration::from_secs(config.collector.partial_frame_timeout_secs),
        analyzer_threads: config.collector.analyzer_threads,
        previous_hour_grace_minutes: config.collector.previous_hour_grace_minutes,
        next_hour_early_minutes: config.collector.next_hour_early_minutes,
        checkpoint_interval: Duration::from_secs(config.collector.checkpoint_interval_secs.max(1)),
        analyzer: analyzer.clone(),
        decode,
        sealed_report_cache_bytes: config.web.sealed_report_cache_mib.saturating_mul(1 << 20),
        after_clean_stop,
        rebuild_incomplete_hours: config.collector.rebuild_incomplete_hours,
        ..CollectorConfig::default()
    };
    let rebuild_config = collector_config.clone();
    let collector = Collector::start(collector_config, Some(store.clone()), Arc::new(SystemClock));

    let collector_listener = TcpListener::bind(config.collector.listen)
        .await
        .with_context(|| format!("binding the collector port {}", config.collector.listen))?;
    let collector_addr = collector_listener.local_addr()?;
    // Bound here (so a taken port fails the start), served on the web runtime.
    let web_listener = TcpListener::bind(config.web.listen)
        .await
        .with_context(|| format!("binding the web port {}", config.web.listen))?
        .into_std()?;
    let web_addr = web_listener.local_addr()?;

    let state = web_state(
        &config,
        &store,
        &collector,
        analyzer,
        decode,
        collector_addr,
    )?;

    // `ocelot rebuild-reports` run beside this server asks it through the data directory.
    let stop_rebuilds = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let days = state.days.clone();
    rebuild_requests::serve_requests(
        rebuild_requests::Server {
            data_dir: dir.clone(),
            store: store.clone(),
            config: rebuild_config,
            rebuilt: Box::new(move |hour| days.forget_hour(hour)),
        },
        stop_rebuilds.clone(),
    )
    .context("starting the thread that answers rebuild requests")?;

    // Before the collector serves: a start that fails here must not have read trees that
    // its clients then count as sent.
    let rules = active_rules(&config, with_demo)?;
    let rules_text = rules_text(&config, with_demo, rules.as_ref());
    // The demo's services too: starting them can fail (its mark directory, its threads).
    // Their trees wait in the listen backlog until the collector serves.
    let demo = if with_demo {
        let local = std::net::SocketAddr::from(([127, 0, 0, 1], collector_addr.port()));
        Some(demo::Demo::start(local, &config.demo, &config.store.dir)?)
    } else {
        None
    };
    // And before the lines that say it runs: whoever reads them may stop it at once.
    let mut signals = StopSignals::listen().context("listening for Ctrl-C, TERM and HUP")?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    // From here trees are taken, and the last stop's checkpoints no longer hold them all.
    match std::fs::remove_file(dir.join(CLEAN_STOP_MARKER)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(e)
                .with_context(|| format!("removing {}", dir.join(CLEAN_STOP_MARKER).display()));
        }
        _ => {}
    }
    let collector_task = tokio::spawn(ocelot_collector::run(
        collector_listener,
        collector.clone(),
        stopped(stop_rx.clone()),
    ));
    // Sent once the collector's final reports are written: alerting then evaluates the
    // minutes it had not yet from them.
    let (flushed_tx, flushed_rx) = tokio::sync::oneshot::channel::<()>();
    let (alert_log, alert_task) = match rules {
        Some(rules) => {
            let (log, task) = alerts::start(
                rules,
                collector.clone(),
                store.clone(),
                &config.store.dir,
                config.store.retention_days,
                board_url(config.web.listen).as_deref(),
                stopped(stop_rx.clone()),
                async move {
                    // A dropped sender (the collector's stop failed) ends the wait too.
                    let _ = flushed_rx.await;
                },
            )?;
            (log, Some(task))
        }
        None => (ocelot_alert::AlertLog::new(), None),
    };
    let web_stats = Arc::new(ocelot_web::ServeStats::default());
    let web_limits = ocelot_web::ServeLimits {
        max_connections: config.web.max_connections,
        write_timeout: Duration::from_secs(config.web.write_timeout_secs),
        max_answer_bytes_in_flight: usize::try_from(
            config.web.answer_mib_in_flight.saturating_mul(1 << 20),
        )
        .unwrap_or(usize::MAX),
        ..ocelot_web::ServeLimits::default()
    };
    let telemetry = Arc::new(
        Telemetry::new(
            collector.clone(),
            store.clone(),
            Duration::from_secs(config.collector.checkpoint_interval_secs.max(1)),
        )
        .with_alert_figures(Box::new(alerts::AlertFigures(alert_log.clone())))
        .with_day_cache(state.days.clone())
        .with_web_server(web_stats.clone()),
    );
    let has_login = state.auth.basic.is_some();
    warn_of_no_login(web_addr, has_login);
    for warning in router_warnings(
        &state.cat_router.routers,
        collector_addr,
        web_addr,
        is_this_hosts,
    ) {
        tracing::warn!("{warning}");
    }
    // /metrics sits beside the pages, outside their login, as the router endpoint does:
    // scrapers and `ocelot status` send no credentials, and it names no domain or message.
    // The banner on every page and the State page's "Saving now" read what this samples.
    let health = ocelot_web::SharedHealth::new();
    tokio::spawn(health::sample_until(
        health.clone(),
        collector.clone(),
        alert_log.clone(),
        Duration::from_secs(config.collector.checkpoint_interval_secs.max(1)),
        stopped(stop_rx.clone()),
    ));
    let state = state.with_alerts(alert_log).with_health(health);
    let app = ocelot_web::router(state).merge(telemetry::routes(telemetry));
    let web_stop = stopped(stop_rx.clone());
    let web_task = web.spawn(async move {
        // Registered with the web runtime's reactor, which then drives its connections.
        let web_listener = TcpListener::from_std(web_listener)?;
        ocelot_web::serve_counted(web_listener, app, web_limits, web_stats, web_stop).await
    });

    let url = format!(
        "http://{}:{}",
        if web_addr.ip().is_unspecified() {
            "127.0.0.1".to_owned()
        } else {
            web_addr.ip().to_string()
        },
        web_addr.port()
    );
    say(&format!("Ocelot is running: open {url}"));
    let port = web_addr.port();
    say(&format!(
        "  collector on {collector_addr} (CAT clients: point client.xml at this host, http-port {port})"
    ));
    if web_addr.ip().is_loopback() {
        // Clients ask the router on the web port for the collectors: on a loopback address
        // only applications on this machine can.
        say(&format!(
            "  the web port listens on {} only: for CAT clients on other machines set web.listen \
             (--web-listen 0.0.0.0:{port}){}",
            web_addr.ip(),
            // Credentials are asked for only while there are none.
            if has_login { "" } else { " and credentials" }
        ));
    }
    // Absolute: relative paths in the configuration are taken from the working directory,
    // not the file's, and a service started without one writes where an operator may not
    // look.
    let data_dir = absolute(&config.store.dir);
    say(&format!(
        "  data in {} (blocks: gzip level {}, {})",
        data_dir.display(),
        config.store.compression_level,
        ocelot_store::deflate_engine(config.store.compression_level)
    ));
    if !config.alert.rules.as_os_str().is_empty() {
        say(&format!(
            "  alert rules from {}",
            absolute(&config.alert.rules).display()
        ));
    }
    if with_demo {
        say("  demo services are sending traffic; dashboards fill within a minute");
        if config.alert.rules.as_os_str().is_empty() {
            say(&format!(
                "  alert rules: {rules_text}, tuned to the demo's traffic (alert.rules replaces them)"
            ));
        }
    }
    say("  Ctrl-C to stop");
    tracing::info!(
        version = crate::VERSION,
        commit = crate::COMMIT,
        %collector_addr,
        %web_addr,
        data_dir = %data_dir.display(),
        rules = %rules_text,
        "ocelot serving"
    );

    signals.stop().await;
    stop_rebuilds.store(true, std::sync::atomic::Ordering::Relaxed);
    say_and_log(
        tracing::Level::INFO,
        "Stopping: draining queues, flushing blocks, checkpointing the open hour... (Ctrl-C again to stop at once)",
    );
    // A second Ctrl-C ends the process without waiting for the flush, as a kill -9 would:
    // the store recovers at the next start, and the open hour continues from its last
    // checkpoint.
    tokio::spawn(async move {
        signals.stop_at_once().await;
        say_and_log(
            tracing::Level::WARN,
            "Stopped at once: the open hour's reports since its last checkpoint are lost; the store recovers at the next start.",
        );
        std::process::exit(EXIT_STOPPED_AT_ONCE);
    });
    // Trees that failed to store before the stop, so the final flush's own can be told.
    let trees_failed_before = trees_not_stored(&collector.stats());
    let shutdown = async {
        if let Some(demo) = demo {
            tokio::task::spawn_blocking(move || demo.stop()).await.ok();
        }
        let _ = stop_tx.send(true);
        // Alerting sends its queued notifications while the collector flushes, then
        // evaluates the minutes left from its final reports and writes its state.
        let alerts_stopped = async {
            if let Some(task) = alert_task {
                let _ = task.await;
            }
        };
        // The reports the collector's final write could not store, by hour and domain.
        let collector_stopped = async {
            let _ = collector_task.await;
            let c = collector.clone();
            let s = store.clone();
            tokio::task::spawn_blocking(move || {
                let unwritten = c.shutdown();
                let _ = flushed_tx.send(());
                s.shutdown();
                unwritten
            })
            .await
            .unwrap_or_default()
        };
        let ((), unwritten) = tokio::join!(alerts_stopped, collector_stopped);
        unwritten
    };
    let Ok(unwritten) = tokio::time::timeout(SHUTDOWN_BOUND, shutdown).await else {
        anyhow::bail!("shutdown did not finish within {SHUTDOWN_BOUND:?}");
    };
    // Every tree is on disk now. The web server finishes the requests in flight, but a
    // client that never completes its request must not hold the exit (or fail it).
    let web_abort = web_task.abort_handle();
    if tokio::time::timeout(WEB_DRAIN_BOUND, web_task)
        .await
        .is_err()
    {
        web_abort.abort();
        tracing::warn!("closed web connections still open after {WEB_DRAIN_BOUND:?}");
    }
    let stats = collector.stats();
    let final_failures = WriteFailures {
        unwritten,
        trees: trees_not_stored(&stats).saturating_sub(trees_failed_before),
    };
    if let Some(lost) = final_failures.describe() {
        // Not "Stopped cleanly": reports the hours counted are gone (each named, so the
        // operator knows which), and a supervisor (systemd, Kubernetes) should see a
        // failed stop.
        // Says why too: the warnings about failed writes are held back for minutes at a
        // time, so those above may be of an earlier, already resolved failure.
        anyhow::bail!("{}", failed_stop(&lost, &stats));
    }
    // Every open hour's reports now hold every tree taken: the next start may say so.
    let marker = config.store.dir.join(CLEAN_STOP_MARKER);
    if let Err(e) = std::fs::write(&marker, clean_stop_text(std::process::id())) {
        tracing::warn!(path = %marker.display(), error = %e, "cannot mark the stop clean; the next start will say the reports may lack trees");
    }
    let level = if stats.trees_lost() == 0 {
        tracing::Level::INFO
    } else {
        tracing::Level::WARN
    };
    say_and_log(level, &stop_summary(&stats));
    Ok(())
}

/// Warns when the web UI at `web_addr` is reachable from other machines without a login
/// (a start, and `serve --check-config`).
fn warn_of_no_login(web_addr: std::net::SocketAddr, has_login: bool) {
    if !web_addr.ip().is_loopback() && !has_login {
        tracing::warn!(
            %web_addr,
            "the web UI is reachable from other machines without a login: set web.username and web.password"
        );
    }
}

/// The alert rules a start runs: the rules file's, else the demo's built-in ones with
/// `--demo` (so its Alerts page shows rules at work), else none.
fn active_rules(config: &Config, with_demo: bool) -> anyhow::Result<Option<ocelot_alert::RuleSet>> {
    Ok(if !config.alert.rules.as_os_str().is_empty() {
        Some(alerts::load_rules(&config.alert.rules)?)
    } else if with_demo {
        Some(demo::alert_rules())
    } else {
        None
    })
}

/// The rules [`active_rules`] gave, for the log: `/abs/rules.toml (3 rules)`,
/// `demo (4 built in)` or `none`. The demo's log said `rules_file=none` while its rules
/// fired.
fn rules_text(config: &Config, with_demo: bool, rules: Option<&ocelot_alert::RuleSet>) -> String {
    let count = rules.map_or(0, |r| r.rules().len());
    if !config.alert.rules.as_os_str().is_empty() {
        let plural = if count == 1 { "" } else { "s" };
        format!(
            "{} ({count} rule{plural})",
            absolute(&config.alert.rules).display()
        )
    } else if with_demo {
        format!("demo ({count} built in)")
    } else {
        "none".to_owned()
    }
}

/// The last line of a stop whose final flush wrote everything: "cleanly" only when no tree
/// was dropped since the start. The count is what `/metrics`' `ocelot_dropped_trees_total`
/// adds up to over every stage and reason, trees outside the hour window and those without
/// a message ID included: it once left those out, and a server that had dropped trees for
/// a wrong client clock said "Stopped cleanly.". The stages and reasons are named here:
/// `/metrics` is gone once the server has stopped.
fn stop_summary(stats: &ocelot_collector::StatsSnapshot) -> String {
    let mut summary = match drops_since_start(stats) {
        None => "Stopped cleanly.".to_owned(),
        Some(drops) => format!("Stopped. The final flush wrote everything, but {drops}."),
    };
    let duplicates = stats
        .store_drops
        .get(ocelot_store::DropReason::Duplicate.as_str())
        .copied()
        .unwrap_or(0);
    if duplicates > 0 {
        // Not among the drops, since a client that sends a tree again loses nothing; but a
        // different tree under an ID already used is not stored, so say what happens.
        let trees = if duplicates == 1 { "tree" } else { "trees" };
        summary.push_str(&format!(
            " The store also refused {duplicates} {trees} sent under a message ID already \
             stored: counted in the reports but not stored (that ID's LogView shows the first \
             tree)."
        ));
    }
    summary
}

/// The error of a stop whose final flush lost `lost`, with the run's losses, as a clean
/// stop gives them (the flush's own are a part): it once gave only the flush's.
fn failed_stop(lost: &str, stats: &ocelot_collector::StatsSnapshot) -> String {
    match drops_since_start(stats) {
        Some(drops) => format!("stopped, but the final flush failed: {lost}. In all, {drops}."),
        None => format!("stopped, but the final flush failed: {lost}."),
    }
}

/// `N trees were dropped since the start, by stage and reason: ...`; `None` for none.
fn drops_since_start(stats: &ocelot_collector::StatsSnapshot) -> Option<String> {
    let dropped = stats.trees_lost();
    if dropped == 0 {
        return None;
    }
    let by_reason: Vec<String> = losses_by_reason(stats)
        .into_iter()
        .map(|(reason, n)| format!("{reason} {n}"))
        .collect();
    let trees = if dropped == 1 {
        "tree was"
    } else {
        "trees were"
    };
    Some(format!(
        "{dropped} {trees} dropped since the start, by stage and reason: {} (a tree the store \
         and an analyzer both dropped counts twice)",
        by_reason.join(", ")
    ))
}

/// The trees lost since the start, labelled as `/metrics`' `ocelot_dropped_trees_total`
/// labels them (`stage reason`, and the worker for a worker's drops), only those that
/// counted: they add up to [`ocelot_collector::StatsSnapshot::trees_lost`], so the store's
/// duplicates are left out.
fn losses_by_reason(stats: &ocelot_collector::StatsSnapshot) -> Vec<(String, u64)> {
    let duplicate = ocelot_store::DropReason::Duplicate.as_str();
    let mut losses = vec![("collector out_of_window".to_owned(), stats.out_of_window)];
    for (worker, w) in &stats.workers {
        losses.push((
            format!("worker queue_full ({worker})"),
            w.dropped_queue_full,
        ));
        losses.push((
            format!("worker hour_sealed ({worker})"),
            w.dropped_hour_sealed,
        ));
    }
    losses.push(("store no_message_id".to_owned(), stats.no_message_id));
    for (reason, n) in &stats.store_drops {
        if *reason != duplicate {
            losses.push((format!("store {reason}"), *n));
        }
    }
    // The store counts its refusals by reason; the collector's own count of them is only
    // larger without a store to ask.
    let by_store: u64 = stats.store_drops.values().sum();
    losses.push((
        "store refused".to_owned(),
        stats.store_dropped.saturating_sub(by_store),
    ));
    losses.retain(|(_, n)| *n > 0);
    losses
}

/// `path` made absolute against the working directory, as the process resolves it (symbolic
/// links kept); as given if the working directory cannot be read.
fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}

/// Prints a line for the operator on stdout. A stdout nobody reads any more (`ocelot serve
/// | tee log` where Ctrl-C also ended `tee`, a closed terminal) is no reason to stop: with
/// `println!` that panic came just before the final checkpoint, and the open hour was lost.
fn say(line: &str) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}

/// A line of the stop: said on stdout for a person, as the start-up lines are, and logged
/// at `level`, so a log system reading stderr (`--log-format json`) sees when and how the
/// server stopped; it only saw the server go quiet. Not logged when both streams are a
/// terminal: a person would read every line twice.
fn say_and_log(level: tracing::Level, line: &str) {
    say(line);
    // On a terminal showing both streams the log line would repeat what was just said.
    use std::io::IsTerminal as _;
    if std::io::stdout().is_terminal() && std::io::stderr().is_terminal() {
        return;
    }
    match level {
        tracing::Level::ERROR => tracing::error!("{line}"),
        tracing::Level::WARN => tracing::warn!("{line}"),
        _ => tracing::info!("{line}"),
    }
}

/// Trees the store could not write (`io_error`), since the start.
fn trees_not_stored(stats: &ocelot_collector::StatsSnapshot) -> u64 {
    stats
        .store_drops
        .get(ocelot_store::DropReason::IoError.as_str())
        .copied()
        .unwrap_or(0)
}

/// Domains of one hour named, at most, in what the final flush lost; the rest are counted.
const LOST_NAMED_MAX: usize = 10;

/// What the final flush failed to write: the reports the collector's last write left
/// unwritten (by hour and domain), and trees the store could not write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct WriteFailures {
    unwritten: Vec<ocelot_collector::UnwrittenReports>,
    trees: u64,
}

impl WriteFailures {
    /// What was lost, for the operator, naming each hour (as the data directory and the
    /// UTC clock name it) and its domains; `None` when nothing failed.
    fn describe(&self) -> Option<String> {
        let mut lost = Vec::new();
        // Hour by hour, oldest first (the list comes sorted by hour).
        let mut hours: Vec<(u64, bool, Vec<&str>)> = Vec::new();
        for u in &self.unwritten {
            match hours.last_mut() {
                Some((hour, sealed, domains)) if *hour == u.hour && *sealed == u.sealed => {
                    domains.push(&u.domain);
                }
                _ => hours.push((u.hour, u.sealed, vec![&u.domain])),
            }
        }
        for (hour, sealed, domains) in &hours {
            let what = if *sealed {
                "the final reports of the sealed hour"
            } else {
                "the reports since the last checkpoint of the open hour"
            };
            let after = if *sealed {
                " (the store keeps at most its last checkpoint)"
            } else {
                ""
            };
            lost.push(format!(
                "{what} {hour} ({}) are lost for {}{after}",
                crate::status::hour_utc(*hour),
                bounded_list(domains, "domain", LOST_NAMED_MAX)
            ));
        }
        if let Some(first) = self.unwritten.first() {
            lost.push(format!(
                "the first report write failed with: {}",
                first.error
            ));
        }
        if self.trees > 0 {
            lost.push(format!(
                "{} trees could not be stored (store write errors: a full or read-only disk?)",
                self.trees
            ));
        }
        (!lost.is_empty()).then(|| lost.join("; "))
    }
}

/// `domain a, b` or `domains a, b, c and 4 more`: at most `max` names.
fn bounded_list(names: &[&str], what: &str, max: usize) -> String {
    let plural = if names.len() == 1 { "" } else { "s" };
    let named = names[..names.len().min(max)].join(", ");
    match names.len().checked_sub(max).filter(|&more| more > 0) {
        Some(more) => format!("{what}{plural} {named} and {more} more"),
        None => format!("{what}{plural} {named}"),
    }
}

fn web_state(
    config: &Config,
    store: &Store,
    collector: &Collector,
    analyzer: Arc<ocelot_analyzer::AnalyzerConfig>,
    decode: DecodeOptions,
    collector_addr: std::net::SocketAddr,
) -> anyhow::Result<AppState> {
    let collector_port = collector_addr.port();
    let routers = advertised_collectors(config, collector_addr)?;
    let auth = AuthConfig {
        api_token: Some(config.web.api_token.clone()).filter(|t| !t.is_empty()),
        basic: (!config.web.username.is_empty())
            .then(|| BasicCredentials::new(&config.web.username, &config.web.password)),
    };
    let lookup = Arc::new(StoreLookup {
        store: store.clone(),
        decode,
    });
    let reports = Arc::new(CollectorReports::new(collector.clone(), analyzer));
    Ok(AppState::new(lookup)
        .with_reports(reports)
        .with_day_cache_bytes(config.web.day_cache_mib.saturating_mul(1 << 20))
        // CAT writes its report addresses' dates in the zone its clients write PT1 times in.
        .with_cat_utc_offset_seconds(config.collector.pt1_utc_offset_seconds)
        .with_cat_router(CatRouterConfig {
            routers,
            collector_port,
            sample: config.web.router_sample,
            block: config.web.router_block,
            ..CatRouterConfig::default()
        })
        .with_cors_allow_origins(config.web.cors_allow_origin.iter().cloned())
        .with_auth(auth))
}

/// The collectors `/cat/s/router` advertises, in order: `web.advertise`, else the
/// collector's own address when it listens on one IPv4 address; empty when the router
/// answers with the collector port on the address each client reached the web port on.
fn advertised_collectors(
    config: &Config,
    collector_addr: std::net::SocketAddr,
) -> anyhow::Result<Vec<SocketAddrV4>> {
    let mut routers = config
        .web
        .advertise
        .iter()
        .map(|a| {
            a.parse::<SocketAddrV4>()
                .with_context(|| format!("web.advertise: {a:?} is not an IPv4 ip:port"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    // A collector bound to one IPv4 address is only reachable there: advertise it rather
    // than the address the client reached the web server on.
    if let (true, std::net::SocketAddr::V4(addr)) = (routers.is_empty(), collector_addr) {
        if !addr.ip().is_unspecified() {
            routers.push(addr);
        }
    }
    Ok(routers)
}

/// What a start (and `--check-config`) warns about where the router sends CAT clients,
/// given the `routers` it advertises ([`advertised_collectors`]), where the collector and
/// the web port listen, and which IPv4 addresses are this host's (`is_this_hosts`).
///
/// Ocelot is one node: CAT clients (Java, C, and our SDK) send to the first collector of
/// the list they can reach, so further entries are standbys, not load sharing, and nodes
/// share nothing, so what another node takes is shown on its pages only. And a web port
/// other machines reach that advertises a loopback collector tells their clients to send
/// to themselves.
fn router_warnings(
    routers: &[SocketAddrV4],
    collector: std::net::SocketAddr,
    web: std::net::SocketAddr,
    is_this_hosts: impl Fn(std::net::Ipv4Addr) -> bool,
) -> Vec<String> {
    let mut warnings = Vec::new();
    if !web.ip().is_loopback() {
        if let Some(loopback) = routers.iter().find(|r| r.ip().is_loopback()) {
            warnings.push(format!(
                "the web port {web} is reachable from other machines, but its router tells CAT \
                 clients to send to {loopback}, a loopback address: a client on another machine \
                 would send its trees to itself. Give the collector a routable address \
                 (collector.listen, e.g. 0.0.0.0:{}) or list one in web.advertise",
                collector.port()
            ));
        }
    }
    // Which entries are this node's collector: its port, and its address (any of this
    // host's when it listens on all). Unknown with an ephemeral port.
    if routers.is_empty() || collector.port() == 0 {
        return warnings;
    }
    let ours = |r: &SocketAddrV4| {
        r.port() == collector.port()
            && match collector.ip() {
                std::net::IpAddr::V4(ip) if !ip.is_unspecified() => *r.ip() == ip,
                ip if ip.is_unspecified() => is_this_hosts(*r.ip()),
                _ => false,
            }
    };
    let list: String = routers.iter().map(|r| format!("{r};")).collect();
    const SEE: &str = "every node needs the same web.advertise and the same web port \
                       (docs/operations.md, \"One node or several\")";
    match routers.iter().position(ours) {
        Some(0) if routers.len() > 1 => {
            let others: Vec<String> = routers[1..].iter().map(ToString::to_string).collect();
            warnings.push(format!(
                "web.advertise also lists {}: CAT clients send to the first collector they can \
                 reach, this one, so the others take trees only while it is unreachable \
                 (failover, not load sharing), and what they take is not shown on this node's \
                 pages; {SEE}",
                others.join(", ")
            ));
        }
        Some(0) => {}
        Some(_) => warnings.push(format!(
            "this node's collector is not first in web.advertise ({list}): CAT clients send \
             to {} while they can reach it, so this node takes trees only while it is \
             unreachable (a standby), and each node's pages show only what it took; {SEE}",
            routers[0]
        )),
        None => warnings.push(format!(
            "web.advertise ({list}) does not list this node's collector ({collector}): CAT \
             clients that ask this node's router send their trees to those collectors, and \
             this node's pages do not show them; {SEE}"
        )),
    }
    warnings
}

/// Whether `ip` is one of this host's addresses: only those can be bound (a UDP socket on
/// an ephemeral port, closed at once; nothing listens).
fn is_this_hosts(ip: std::net::Ipv4Addr) -> bool {
    ip.is_loopback() || std::net::UdpSocket::bind((ip, 0)).is_ok()
}

/// Exit code after a second Ctrl-C (128 + SIGINT, as a shell reports an interrupt).
const EXIT_STOPPED_AT_ONCE: i32 = 130;

/// The signals that stop the server: Ctrl-C (SIGINT), TERM, and HUP when it runs in a
/// terminal, listened for from before it says it runs until it exits. Listening all along,
/// rather than from each wait on, means no signal falls between two listeners: one sent
/// right after the "running" lines does not meet the default action (the process ended
/// without its final checkpoint), and a second Ctrl-C counts however soon it follows the
/// first.
#[cfg(unix)]
struct StopSignals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
    hangup: tokio::signal::unix::Signal,
    /// Whether a HUP stops the server: in a terminal it means the terminal closed. Without
    /// one (systemd, `nohup`, a container) it is a request to reload, and a stop there looked
    /// like a success to the service manager (exit 0), which did not restart it.
    hangup_stops: bool,
}

#[cfg(unix)]
impl StopSignals {
    fn listen() -> std::io::Result<StopSignals> {
        use std::io::IsTerminal as _;
        use tokio::signal::unix::{signal, SignalKind};
        Ok(StopSignals {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
            hangup: signal(SignalKind::hangup())?,
            hangup_stops: std::io::stdin().is_terminal()
                || std::io::stdout().is_terminal()
                || std::io::stderr().is_terminal(),
        })
    }

    /// Resolves on Ctrl-C, TERM, or HUP in a terminal. HUP there (a closed terminal):
    /// without a handler it would end the process before the final checkpoint.
    async fn stop(&mut self) {
        loop {
            tokio::select! {
                _ = self.interrupt.recv() => return,
                _ = self.terminate.recv() => return,
                Some(()) = self.hangup.recv() => {
                    if self.hangup_stops {
                        return;
                    }
                    tracing::warn!("SIGHUP ignored: Ocelot has nothing to reload (restart it to read its configuration again; TERM stops it)");
                }
            }
        }
    }

    /// Resolves on the next Ctrl-C: a person's "now". Not on TERM: `timeout`, and
    /// supervisors that signal the process and then its group, send it twice, and a second
    /// one stopped at once without the final checkpoint (a service manager that will not
    /// wait sends SIGKILL). Not on HUP: a closed terminal may send it twice (the kernel to
    /// the foreground job, and the shell to its jobs).
    async fn stop_at_once(&mut self) {
        loop {
            let signal = tokio::select! {
                _ = self.interrupt.recv() => return,
                Some(()) = self.terminate.recv() => "A TERM",
                Some(()) = self.hangup.recv() => "A hangup",
            };
            say_and_log(
                tracing::Level::INFO,
                &format!(
                    "{signal} does not stop at once: still stopping (Ctrl-C to stop at once)."
                ),
            );
        }
    }
}

/// Without unix signals: Ctrl-C only, listened for at each wait.
#[cfg(not(unix))]
struct StopSignals;

#[cfg(not(unix))]
impl StopSignals {
    fn listen() -> std::io::Result<StopSignals> {
        Ok(StopSignals)
    }

    async fn stop(&mut self) {
        let _ = tokio::signal::ctrl_c().await;
    }

    async fn stop_at_once(&mut self) {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Raises the soft limit on open files to the hard one, as servers that hold many files and
/// sockets do (the Go runtime and the JVM do it by default): the store sizes the files it
/// keeps open from this limit, and the usual soft limit of 1024 is low for a thousand
/// domains and their connections. Where it cannot, the server runs within the limit it has.
fn raise_open_file_limit() {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let limit = getrlimit(Resource::Nofile);
    // The hard limit, but no more than a million (some systems say "unlimited", which
    // `setrlimit` refuses for open files).
    let wanted = limit.maximum.unwrap_or(u64::MAX).min(1 << 20);
    let Some(current) = limit.current.filter(|&current| current < wanted) else {
        return;
    };
    match setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(wanted),
            maximum: limit.maximum,
        },
    ) {
        Ok(()) => tracing::info!(from = current, to = wanted, "raised the open-file limit"),
        Err(e) => tracing::warn!(limit = current, error = %e, "cannot raise the open-file limit"),
    }
}

/// Takes the data directory for this process: a second server on the same directory would
/// run recovery on the live server's open files and write its own checkpoints over them.
/// Opening the lock file for writing also proves the directory writable, so a server that
/// could store nothing says so at once instead of running and dropping every tree. The
/// lock (`flock`) goes with the process, however it ends.
///
/// The directory itself is locked too: a cleanup that deleted `.lock` let a second server
/// lock a new file of that name and run on the first one's files.
fn lock_data_dir(dir: &Path) -> anyhow::Result<DataDirLock> {
    lock_data_dir_as(dir, Taker::Server)
}

/// Who takes the data directory ([`lock_data_dir_as`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Taker {
    /// `ocelot serve`: writes its pid in the lock file (the last server on the directory,
    /// as [`after_clean_stop`] reads it).
    Server,
    /// A command that writes to the store while no server runs (`ocelot rebuild-reports`):
    /// leaves the lock file as the last server wrote it, so that server's clean stop still
    /// counts at the next start.
    Tool(&'static str),
}

/// Why [`lock_data_dir_as`] failed when another process holds the directory (a running
/// server, or a tool such as `ocelot rebuild-reports`), told apart from other failures.
#[derive(Debug)]
pub(crate) struct DataDirInUse {
    /// Who holds it, as far as its lock file says (`pid 1234`).
    pub(crate) holder: String,
    message: String,
}

impl std::fmt::Display for DataDirInUse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DataDirInUse {}

/// [`lock_data_dir`] for `taker`.
pub(crate) fn lock_data_dir_as(dir: &Path, taker: Taker) -> anyhow::Result<DataDirLock> {
    use std::io::{Read as _, Seek as _, Write as _};
    let in_use = |holder: &str| {
        match taker {
        Taker::Server => format!(
            "the data directory {} is in use by another ocelot serve ({holder}); give each server its own --data",
            dir.display()
        ),
        Taker::Tool(why) => format!(
            "the data directory {} is in use by a running ocelot serve ({holder}): stop it first ({why})",
            dir.display()
        ),
    }
    };
    let folder = std::fs::File::open(dir)
        .with_context(|| format!("opening the data directory {}", dir.display()))?;
    if let Err(e) = rustix::fs::flock(
        &folder,
        rustix::fs::FlockOperation::NonBlockingLockExclusive,
    ) {
        if e == rustix::io::Errno::WOULDBLOCK {
            let holder = std::fs::read_to_string(dir.join(LOCK_FILE)).unwrap_or_default();
            let holder = match holder.trim() {
                "" => "its .lock file is gone or empty".to_owned(),
                pid => format!("pid {pid}"),
            };
            return Err(anyhow::Error::new(DataDirInUse {
                message: in_use(&holder),
                holder,
            }));
        }
        return Err(std::io::Error::from(e))
            .with_context(|| format!("locking the data directory {}", dir.display()));
    }
    let path = dir.join(LOCK_FILE);
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        // Named: the directory may be writable and the file not (one left by a run as
        // another user, root say), and "the data directory is not writable" sent
        // operators to check the directory's mode.
        .with_context(|| {
            format!(
                "the data directory {} is not writable: opening {}",
                dir.display(),
                path.display()
            )
        })?;
    if let Err(e) = rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
        if e == rustix::io::Errno::WOULDBLOCK {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = format!("pid {}", holder.trim());
            return Err(anyhow::Error::new(DataDirInUse {
                message: in_use(&holder),
                holder,
            }));
        }
        return Err(std::io::Error::from(e)).with_context(|| format!("locking {}", path.display()));
    }
    // The server that took the directory last, and when, before this start writes over it.
    let mut last = String::new();
    let _ = file.read_to_string(&mut last);
    let last_pid = last.trim().parse().ok();
    let last_start = file.metadata().and_then(|m| m.modified()).ok();
    if taker != Taker::Server {
        return Ok(DataDirLock {
            _folder: folder,
            _file: file,
            last_pid,
            last_start,
        });
    }
    let pid = std::process::id();
    (|| {
        file.set_len(0)?;
        file.rewind()?;
        writeln!(file, "{pid}")
    })()
    .with_context(|| {
        format!(
            "the data directory {} is not writable: writing {}",
            dir.display(),
            path.display()
        )
    })?;
    Ok(DataDirLock {
        _folder: folder,
        _file: file,
        last_pid,
        last_start,
    })
}

/// The data directory taken by this process ([`lock_data_dir`]) until dropped.
pub(crate) struct DataDirLock {
    _folder: std::fs::File,
    _file: std::fs::File,
    /// The pid the lock file held before this start: the last server to take the directory.
    last_pid: Option<u32>,
    /// When that server took it (the lock file's modification time before this start).
    last_start: Option<SystemTime>,
}

/// The web UI's address for links in notifications, from where it listens: a wildcard
/// address is this host's loopback (set `board_url` in the rules for other readers); an
/// ephemeral port (0) is not known yet, so none.
fn board_url(listen: std::net::SocketAddr) -> Option<String> {
    if listen.port() == 0 {
        return None;
    }
    let ip = match listen.ip() {
        ip if ip.is_unspecified() && ip.is_ipv4() => "127.0.0.1".to_owned(),
        ip if ip.is_unspecified() => "[::1]".to_owned(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        ip => ip.to_string(),
    };
    Some(format!("http://{ip}:{}", listen.port()))
}

#[cfg(test)]
mod write_failures_tests {
    use ocelot_collector::UnwrittenReports;

    use super::WriteFailures;

    fn unwritten(hour: u64, domain: &str, sealed: bool) -> UnwrittenReports {
        UnwrittenReports {
            hour,
            domain: domain.to_owned(),
            sealed,
            error: format!("I/O error on /data/{hour}/{domain}/reports: No space left on device"),
        }
    }

    /// A failed stop names what is lost: each hour (as the data directory and the clock
    /// name it) with its domains, a sealed hour apart from the open one. It used to say
    /// only how many report writes failed, and "the open hour" even when a sealed hour's
    /// final reports were the ones lost.
    #[test]
    fn a_failed_stop_names_the_hours_and_domains_whose_reports_are_lost() {
        let failures = WriteFailures {
            unwritten: vec![
                unwritten(498_702, "cart", true),
                unwritten(498_702, "shop", true),
                unwritten(498_703, "shop", false),
            ],
            trees: 2,
        };
        assert_eq!(
            failures.describe().unwrap(),
            "the final reports of the sealed hour 498702 (2026-11-22 06:00 UTC) are lost for \
             domains cart, shop (the store keeps at most its last checkpoint); the reports \
             since the last checkpoint of the open hour 498703 (2026-11-22 07:00 UTC) are lost \
             for domain shop; the first report write failed with: I/O error on \
             /data/498702/cart/reports: No space left on device; 2 trees could not be stored \
             (store write errors: a full or read-only disk?)"
        );
        assert_eq!(WriteFailures::default().describe(), None);
    }

    #[test]
    fn a_failed_stop_names_ten_domains_of_an_hour_and_counts_the_rest() {
        let failures = WriteFailures {
            unwritten: (0..13)
                .map(|i| unwritten(498_703, &format!("app-{i:02}"), false))
                .collect(),
            trees: 0,
        };
        let text = failures.describe().unwrap();
        assert!(
            text.contains(
                "for domains app-00, app-01, app-02, app-03, app-04, app-05, \
                 app-06, app-07, app-08, app-09 and 3 more"
            ),
            "{text}"
        );
    }
}

#[cfg(test)]
mod stop_summary_tests {
    use std::sync::Arc;

    use ocelot_collector::{Collector, CollectorConfig, ManualClock};
    use ocelot_store::{Store, StoreConfig};

    use super::{failed_stop, stop_summary};
    use crate::telemetry::Telemetry;

    /// Trees stamped five hours ago are dropped (out of the hour window) and counted on
    /// `/metrics`; the stop used to leave them out and say "Stopped cleanly.".
    #[test]
    fn a_stop_after_drops_counts_what_metrics_counts_and_is_not_called_clean() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(StoreConfig::new(dir.path())).unwrap();
        let now_ms = 498_703 * 3_600_000 + 600_000;
        let collector = Collector::start(
            CollectorConfig {
                background_ticks: false,
                ..Default::default()
            },
            Some(store.clone()),
            Arc::new(ManualClock::new(now_ms)),
        );
        assert_eq!(stop_summary(&collector.stats()), "Stopped cleanly.");
        let old_ms = now_ms - 5 * 3_600_000;
        for seq in 0..3 {
            let header = ocelot_protocol::Header {
                domain: "shop".into(),
                ip_address: "10.0.0.1".into(),
                message_id: format!("shop-0a000001-{}-{seq}", old_ms / 3_600_000),
                ..Default::default()
            };
            let root = ocelot_protocol::Transaction::new("URL", "/", old_ms);
            let tree = ocelot_protocol::MessageTree::new(
                header,
                ocelot_protocol::Message::Transaction(root),
            );
            collector
                .ingest(ocelot_protocol::nt1::encode_to_bytes(&tree))
                .unwrap();
        }
        let telemetry = Telemetry::new(
            collector.clone(),
            store.clone(),
            std::time::Duration::from_secs(60),
        );
        let metrics = telemetry.render();
        let scrape =
            prometheus_parse::Scrape::parse(metrics.lines().map(|l| Ok(l.to_owned()))).unwrap();
        let on_metrics: f64 = scrape
            .samples
            .iter()
            .filter(|s| s.metric == "ocelot_dropped_trees_total")
            .map(|s| match s.value {
                prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Untyped(v) => v,
                _ => 0.0,
            })
            .sum();
        assert_eq!(on_metrics, 3.0, "{metrics}");
        collector.shutdown();
        store.shutdown();
        let summary = stop_summary(&collector.stats());
        assert!(!summary.contains("cleanly"), "{summary}");
        assert!(
            summary.contains("but 3 trees were dropped since the start"),
            "{summary}"
        );
        // `/metrics` is gone after the stop: the summary names the reasons itself.
        assert!(
            summary.contains("by stage and reason: collector out_of_window 3 ("),
            "{summary}"
        );
        assert!(!summary.contains("/metrics"), "{summary}");
        // A stop whose final flush failed gives the run's losses too, not only the flush's.
        let failed = failed_stop("2 trees could not be stored", &collector.stats());
        assert!(
            failed.starts_with("stopped, but the final flush failed: 2 trees could not be stored. In all, 3 trees were dropped since the start, by stage and reason: collector out_of_window 3 ("),
            "{failed}"
        );
    }

    /// Two different trees sent under one message ID are both counted in the reports and
    /// only the first is stored: the stop summary said the store's duplicates "lose no
    /// tree".
    #[test]
    fn a_stop_after_duplicate_ids_says_the_second_tree_is_counted_but_not_stored() {
        let dir = tempfile::tempdir().unwrap();
        // Retention goes by the real clock: keep the test's fixed hour.
        let store = Store::open(StoreConfig {
            retention_days: 0,
            ..StoreConfig::new(dir.path())
        })
        .unwrap();
        let now_ms = 498_703 * 3_600_000 + 600_000;
        let collector = Collector::start(
            CollectorConfig {
                background_ticks: false,
                ..Default::default()
            },
            Some(store.clone()),
            Arc::new(ManualClock::new(now_ms)),
        );
        for name in ["/first", "/second"] {
            let header = ocelot_protocol::Header {
                domain: "shop".into(),
                ip_address: "10.0.0.1".into(),
                message_id: "shop-0a000001-498703-7".into(),
                ..Default::default()
            };
            let root = ocelot_protocol::Transaction::new("URL", name, now_ms);
            let tree = ocelot_protocol::MessageTree::new(
                header,
                ocelot_protocol::Message::Transaction(root),
            );
            collector
                .ingest(ocelot_protocol::nt1::encode_to_bytes(&tree))
                .unwrap();
        }
        collector.shutdown();
        store.shutdown();
        let summary = stop_summary(&collector.stats());
        assert!(summary.starts_with("Stopped cleanly. "), "{summary}");
        assert!(!summary.contains("lose no tree"), "{summary}");
        assert!(
            summary.contains(
                "refused 1 tree sent under a message ID already stored: counted in the \
                 reports but not stored (that ID's LogView shows the first tree)."
            ),
            "{summary}"
        );
    }
}

#[cfg(test)]
mod web_state_tests {
    use std::io::{Read, Write};
    use std::sync::Arc;

    use ocelot_collector::{Collector, CollectorConfig, ManualClock};
    use ocelot_protocol::DecodeOptions;
    use ocelot_store::{Store, StoreConfig};

    use super::web_state;
    use crate::config::Config;

    /// A CAT alarm mail's link names its server's local hour: the web server reads it in
    /// the zone the collector reads CAT's PT1 times in, not in UTC.
    #[tokio::test]
    async fn cat_report_addresses_are_read_in_the_pt1_zone() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(StoreConfig::new(dir.path())).unwrap();
        let collector = Collector::start(
            CollectorConfig {
                background_ticks: false,
                ..Default::default()
            },
            Some(store.clone()),
            Arc::new(ManualClock::new(498_703 * 3_600_000)),
        );
        let mut config = Config::default();
        config.collector.pt1_utc_offset_seconds = 28_800;
        let state = web_state(
            &config,
            &store,
            &collector,
            Arc::default(),
            DecodeOptions::default(),
            "127.0.0.1:2280".parse().unwrap(),
        )
        .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = ocelot_web::router(state);
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        let response = tokio::task::spawn_blocking(move || {
            let mut stream = std::net::TcpStream::connect(addr).unwrap();
            stream
                .write_all(
                    b"GET /cat/r/t?domain=gateway&date=2026120719 HTTP/1.1\r\n\
                      Host: 127.0.0.1\r\nConnection: close\r\n\r\n",
                )
                .unwrap();
            let mut response = String::new();
            stream.read_to_string(&mut response).unwrap();
            response
        })
        .await
        .unwrap();
        server.abort();
        collector.shutdown();
        store.shutdown();
        assert!(
            response.contains("location: /t?domain=gateway&hour=2026120711\r\n"),
            "{response}"
        );
    }
}

#[cfg(test)]
mod board_url_tests {
    use super::board_url;

    #[test]
    fn notifications_link_where_the_web_ui_listens() {
        let url = |addr: &str| board_url(addr.parse().unwrap());
        assert_eq!(
            url("10.0.0.5:9090").as_deref(),
            Some("http://10.0.0.5:9090")
        );
        assert_eq!(
            url("0.0.0.0:8080").as_deref(),
            Some("http://127.0.0.1:8080")
        );
        assert_eq!(url("[::]:8080").as_deref(), Some("http://[::1]:8080"));
        assert_eq!(
            url("[fd00::5]:8080").as_deref(),
            Some("http://[fd00::5]:8080")
        );
        assert_eq!(url("127.0.0.1:0"), None);
    }
}

#[cfg(test)]
mod data_dir_tests {
    use super::foreign_entries;

    /// `--data` naming a reused folder: its first start deleted the user's numbered
    /// folders, and nothing said the folder held anything else. The start now warns,
    /// naming what Ocelot does not write there.
    #[test]
    fn what_ocelot_does_not_write_in_the_data_directory_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path();
        for ours in ["alerts", "demo-marks", "498703"] {
            std::fs::create_dir(path.join(ours)).unwrap();
        }
        for ours in [".lock", ".clean-stop"] {
            std::fs::write(path.join(ours), "").unwrap();
        }
        assert!(foreign_entries(path).is_empty());
        assert!(crate::alerts::state_path(path).starts_with(path.join("alerts")));
        std::fs::create_dir(path.join("photos")).unwrap();
        std::fs::write(path.join("readme.txt"), "").unwrap();
        std::fs::create_dir(path.join("0123")).unwrap();
        assert_eq!(foreign_entries(path), ["0123", "photos", "readme.txt"]);
    }

    /// A file in an hour folder said nothing at start, where one beside the hour folders
    /// did: the store writes only domain folders there.
    #[test]
    fn what_ocelot_does_not_write_in_an_hour_folder_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path();
        let hour = path.join("498703");
        std::fs::create_dir_all(hour.join("shop").join("reports")).unwrap();
        std::fs::write(hour.join("shop").join("messages.dat"), "").unwrap();
        assert!(foreign_entries(path).is_empty());
        std::fs::write(hour.join("notes.txt"), "").unwrap();
        std::fs::write(hour.join("order-service"), "").unwrap(); // a domain's name, a file
        std::fs::create_dir(hour.join(".cache")).unwrap(); // no domain's name
        std::fs::write(path.join("readme.txt"), "").unwrap();
        assert_eq!(
            foreign_entries(path),
            [
                "498703/.cache",
                "498703/notes.txt",
                "498703/order-service",
                "readme.txt"
            ]
        );
    }
}

#[cfg(test)]
mod router_warnings_tests {
    use std::net::{Ipv4Addr, SocketAddrV4};

    use super::router_warnings;

    fn addrs(list: &[&str]) -> Vec<SocketAddrV4> {
        list.iter().map(|a| a.parse().unwrap()).collect()
    }

    /// This host's addresses, for the tests: loopback and 10.0.0.5.
    fn here(ip: Ipv4Addr) -> bool {
        ip.is_loopback() || ip == Ipv4Addr::new(10, 0, 0, 5)
    }

    fn warnings(routers: &[&str], collector: &str, web: &str) -> Vec<String> {
        router_warnings(
            &addrs(routers),
            collector.parse().unwrap(),
            web.parse().unwrap(),
            here,
        )
    }

    /// A CAT operator lists every node in `web.advertise` as CAT's router lists its
    /// consumers, expecting the load shared: clients take the first they reach, so the
    /// others are standbys whose trees this node never shows.
    #[test]
    fn other_nodes_in_web_advertise_are_said_to_be_standbys_not_shares() {
        let list = ["10.0.0.5:2280", "10.0.0.6:2280", "10.0.0.7:2280"];
        let first = warnings(&list, "0.0.0.0:2280", "0.0.0.0:8080");
        assert_eq!(first.len(), 1, "{first:?}");
        assert!(
            first[0].starts_with(
                "web.advertise also lists 10.0.0.6:2280, 10.0.0.7:2280: CAT clients send to \
                 the first collector they can reach, this one, so the others take trees only \
                 while it is unreachable (failover, not load sharing)"
            ),
            "{first:?}"
        );
        assert!(
            first[0].contains("every node needs the same web.advertise and the same web port"),
            "{first:?}"
        );
        // On the second node of the same list: a standby.
        let second = warnings(&list, "10.0.0.6:2280", "10.0.0.6:8080");
        assert_eq!(second.len(), 1, "{second:?}");
        assert!(
            second[0].starts_with(
                "this node's collector is not first in web.advertise \
                 (10.0.0.5:2280;10.0.0.6:2280;10.0.0.7:2280;): CAT clients send to \
                 10.0.0.5:2280 while they can reach it"
            ),
            "{second:?}"
        );
        // A list without this node sends its clients elsewhere.
        let none = warnings(&["10.0.0.9:2280"], "0.0.0.0:2280", "127.0.0.1:8080");
        assert_eq!(none.len(), 1, "{none:?}");
        assert!(
            none[0].contains("does not list this node's collector (0.0.0.0:2280)"),
            "{none:?}"
        );
        // This node alone, by any of its addresses, or no list: nothing to say.
        for (list, collector) in [
            (&["10.0.0.5:2280"][..], "0.0.0.0:2280"),
            (&["127.0.0.1:2280"][..], "127.0.0.1:2280"),
            (&[][..], "0.0.0.0:2280"),
        ] {
            assert!(
                warnings(list, collector, "127.0.0.1:8080").is_empty(),
                "{list:?}"
            );
        }
    }

    /// Finding: `--collector-listen 127.0.0.1:2280 --web-listen 0.0.0.0:8080` advertised
    /// 127.0.0.1 to remote clients, which then send to themselves, with no warning.
    #[test]
    fn a_web_port_others_reach_advertising_a_loopback_collector_is_warned() {
        let loopback = warnings(&["127.0.0.1:2280"], "127.0.0.1:2280", "0.0.0.0:8080");
        assert_eq!(loopback.len(), 1, "{loopback:?}");
        assert!(
            loopback[0].starts_with(
                "the web port 0.0.0.0:8080 is reachable from other machines, but its router \
                 tells CAT clients to send to 127.0.0.1:2280, a loopback address"
            ),
            "{loopback:?}"
        );
        // Only this machine's clients ask a loopback web port: they can reach loopback.
        assert!(warnings(&["127.0.0.1:2280"], "127.0.0.1:2280", "127.0.0.1:8080").is_empty());
        assert!(warnings(&["10.0.0.5:2280"], "0.0.0.0:2280", "0.0.0.0:8080").is_empty());
    }
}

#[cfg(test)]
mod lock_tests {
    use super::{lock_data_dir, LOCK_FILE};

    /// Finding: a `.lock` another user owns (left by a run as root) in a directory the
    /// server may write was told as "the data directory is not writable", naming no file.
    /// (Tests may run as root, who may open anything: a folder stands in for the file.)
    #[test]
    fn a_lock_file_that_cannot_be_opened_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let lock = dir.path().join(LOCK_FILE);
        std::fs::create_dir(&lock).unwrap();
        let Err(err) = lock_data_dir(dir.path()) else {
            panic!("a folder for .lock was taken as the lock file");
        };
        let text = format!("{err:#}");
        assert!(
            text.starts_with(&format!(
                "the data directory {} is not writable: opening {}: ",
                dir.path().display(),
                lock.display()
            )),
            "{text}"
        );
    }
}

#[cfg(test)]
mod clean_stop_tests {
    use super::{after_clean_stop, clean_stop_text, CLEAN_STOP_MARKER};

    /// A rollback to a build that neither removes nor writes `.clean-stop` left the newer
    /// build's marker in place; after that build was killed, the next start trusted it and
    /// said nothing was missing. The marker names its writer's pid, which must be the last
    /// one to take the directory.
    #[test]
    fn a_clean_stop_marker_counts_only_if_no_other_server_ran_since() {
        let dir = tempfile::tempdir().unwrap();
        let hour = std::time::Duration::from_secs(3600);
        let stopped = std::time::SystemTime::now() - hour;
        let (before, after) = (Some(stopped - hour), Some(stopped + hour));
        assert!(!after_clean_stop(dir.path(), Some(41), before));
        let marker = dir.path().join(CLEAN_STOP_MARKER);
        let write = |text: &str| {
            std::fs::write(&marker, text).unwrap();
            let file = std::fs::File::options().write(true).open(&marker).unwrap();
            file.set_modified(stopped).unwrap();
        };
        write(&clean_stop_text(41));
        // The stopping server took the directory before it stopped.
        assert!(after_clean_stop(dir.path(), Some(41), before));
        // Another server took it since and left the marker: an older build.
        assert!(!after_clean_stop(dir.path(), Some(97), before));
        // A container's server is pid 1 at every start: the time tells.
        assert!(!after_clean_stop(dir.path(), Some(41), after));
        // A marker of a build that named no pid is judged by the time alone.
        write("ocelot serve stopped cleanly: its final checkpoint holds every tree it took\n");
        assert!(after_clean_stop(dir.path(), Some(97), before));
        assert!(!after_clean_stop(dir.path(), Some(97), after));
        assert!(clean_stop_text(41).contains(&format!("build {}\n", crate::LONG_VERSION)));
    }
}

#[cfg(test)]
mod serve_args_tests {
    use std::path::PathBuf;

    use super::{rules_text, ServeArgs, DEMO_DATA_DIR};
    use crate::config::Config;

    /// The demo wrote into `./ocelot-data`, production's default, and a later `ocelot
    /// serve` there showed the demo's services for a week.
    #[test]
    fn the_demo_keeps_its_data_apart_unless_data_is_given() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("ocelot.toml");
        std::fs::write(&config, "[store]\ndir = \"/srv/ocelot\"\n").unwrap();
        let args = |demo: bool, data: Option<&str>| ServeArgs {
            config: Some(config.clone()),
            data: data.map(PathBuf::from),
            demo,
            ..ServeArgs::default()
        };
        let dir_of = |args: ServeArgs| args.config().unwrap().store.dir;
        assert_eq!(dir_of(args(true, None)), PathBuf::from(DEMO_DATA_DIR));
        assert_eq!(dir_of(args(true, Some("d"))), PathBuf::from("d"));
        assert_eq!(dir_of(args(false, None)), PathBuf::from("/srv/ocelot"));
        assert_eq!(dir_of(args(false, Some("d"))), PathBuf::from("d"));
        assert_ne!(DEMO_DATA_DIR, Config::default().store.dir.to_str().unwrap());
    }

    /// `--check-config` said valid, and the start then failed at the second bind.
    #[test]
    fn the_collector_and_the_web_server_on_one_port_are_refused() {
        let args = |collector: &str, web: &str| ServeArgs {
            collector_listen: Some(collector.parse().unwrap()),
            web_listen: Some(web.parse().unwrap()),
            ..ServeArgs::default()
        };
        for (collector, web) in [
            ("127.0.0.1:29944", "127.0.0.1:29944"),
            ("0.0.0.0:29944", "127.0.0.1:29944"),
            ("127.0.0.1:29944", "0.0.0.0:29944"),
        ] {
            let err = args(collector, web).config().unwrap_err().to_string();
            assert!(err.contains("cannot listen on one port"), "{err}");
        }
        for (collector, web) in [
            ("127.0.0.1:29944", "127.0.0.1:29945"),
            ("127.0.0.1:29944", "127.0.0.2:29944"),
            ("127.0.0.1:0", "127.0.0.1:0"),
        ] {
            args(collector, web).config().unwrap();
        }
    }

    /// The demo logged `rules_file=none` while its four built-in rules fired.
    #[test]
    fn the_log_names_the_rules_at_work() {
        let config = Config::default();
        let demo = crate::demo::alert_rules();
        let n = demo.rules().len();
        assert!(n > 0);
        assert_eq!(
            rules_text(&config, true, Some(&demo)),
            format!("demo ({n} built in)")
        );
        assert_eq!(rules_text(&config, false, None), "none");
        let mut with_file = Config::default();
        with_file.alert.rules = PathBuf::from("/etc/ocelot/rules.toml");
        assert_eq!(
            rules_text(&with_file, true, Some(&demo)),
            format!("/etc/ocelot/rules.toml ({n} rules)")
        );
    }
}
