//! `ocelot.toml`: every setting with its default. See ocelot.example.toml for the annotated file.

use std::net::SocketAddr;

/// The largest `collector.max_frame_bytes` taken: 256 MiB, what CAT's clients send at most.
const MAX_FRAME_BYTES_SETTING: u64 = 256 << 20;
/// The smallest `store.max_disk_gib` but 0 (none): 1 MiB. A smaller one is a slip (below a
/// byte it would round to 0, no cap at all).
const MIN_DISK_GIB: f64 = 1.0 / 1024.0;

/// What follows a parse error about an address: the form an address takes (a host name
/// such as `localhost` reads as valid and is refused with only "invalid socket address").
pub(crate) fn address_hint(error: &str) -> &'static str {
    if error.contains("invalid socket address") {
        " (an address is an IP and a port, such as 0.0.0.0:2280 or 127.0.0.1:8080: host names such as localhost are not taken)"
    } else {
        ""
    }
}

/// Parses a `--collector-listen` or `--web-listen` address, saying what form it takes.
pub(crate) fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    text.parse()
        .map_err(|err: std::net::AddrParseError| format!("{err}{}", address_hint(&err.to_string())))
}
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::Deserialize;

/// The whole configuration file. Every field has a default, so an empty file (or none) works.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct Config {
    pub(crate) collector: CollectorSection,
    pub(crate) web: WebSection,
    pub(crate) store: StoreSection,
    pub(crate) demo: DemoSection,
    pub(crate) alert: AlertSection,
}

/// `[alert]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct AlertSection {
    /// The alert rules file (docs/alerting.md); empty: no rules.
    pub(crate) rules: PathBuf,
}

/// `[collector]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct CollectorSection {
    /// Where CAT clients send frames.
    pub(crate) listen: SocketAddr,
    /// Largest accepted frame body in bytes.
    pub(crate) max_frame_bytes: usize,
    /// Connections served at once.
    pub(crate) max_connections: usize,
    /// MiB of frames still arriving, all connections together, before one holding a large
    /// unfinished frame is closed.
    pub(crate) partial_frame_mib: u64,
    /// Seconds a connection inside a frame may go without finishing one or bringing 64 KiB.
    pub(crate) partial_frame_timeout_secs: u64,
    /// Trees queued per report worker before drops.
    pub(crate) worker_queue_trees: usize,
    /// MiB of frames queued for all report workers together before drops.
    pub(crate) worker_queue_mib: u64,
    /// Analyzer threads (domains are spread over them).
    pub(crate) analyzer_threads: usize,
    /// Threads reading the collector's connections (the async runtime's workers).
    pub(crate) io_threads: usize,
    /// Seconds between checkpoints of the open hour's reports.
    pub(crate) checkpoint_interval_secs: u64,
    /// Whether an hour a crash left incomplete has its reports rebuilt from the store's
    /// trees once sealed.
    pub(crate) rebuild_incomplete_hours: bool,
    /// Minutes after the hour during which the previous hour still accepts trees.
    pub(crate) previous_hour_grace_minutes: u64,
    /// Minutes before the hour from which the next hour accepts trees.
    pub(crate) next_hour_early_minutes: u64,
    /// Zone of PT1 wall-clock times, seconds east of UTC (CAT: +08:00 = 28800).
    pub(crate) pt1_utc_offset_seconds: i32,
    /// Machines, types and names each report kind may hold per hour, all domains together
    /// (`AnalyzerConfig::max_entries_per_hour`).
    pub(crate) max_report_entries_per_hour: usize,
}

impl Default for CollectorSection {
    fn default() -> Self {
        CollectorSection {
            listen: "0.0.0.0:2280".parse().expect("valid literal"),
            max_frame_bytes: ocelot_protocol::DEFAULT_MAX_FRAME_BYTES,
            max_connections: ocelot_collector::DEFAULT_MAX_CONNECTIONS,
            partial_frame_mib: ocelot_collector::DEFAULT_PARTIAL_FRAME_BYTES >> 20,
            partial_frame_timeout_secs: ocelot_collector::DEFAULT_PARTIAL_FRAME_TIMEOUT.as_secs(),
            worker_queue_trees: ocelot_collector::DEFAULT_WORKER_QUEUE_TREES,
            worker_queue_mib: ocelot_collector::DEFAULT_WORKER_QUEUE_BYTES >> 20,
            analyzer_threads: ocelot_collector::default_analyzer_threads(),
            io_threads: default_io_threads(),
            checkpoint_interval_secs: 60,
            rebuild_incomplete_hours: true,
            previous_hour_grace_minutes: 3,
            next_hour_early_minutes: 3,
            pt1_utc_offset_seconds: 8 * 3600,
            max_report_entries_per_hour: ocelot_analyzer::AnalyzerConfig::default()
                .max_entries_per_hour,
        }
    }
}

/// Default `collector.io_threads`: one per four cores, at least one. Reading sockets and
/// checking frames is about a fifth of what a tree costs the collector (BENCHMARKS.md), so
/// one thread keeps up with the analyzers of four cores; on two cores a second one only
/// competed with the analyzers and the store writer for the CPU (more trees dropped at
/// 300 k/s in six alternated pairs of eight, twenty-third session).
pub(crate) fn default_io_threads() -> usize {
    std::thread::available_parallelism()
        .map_or(1, usize::from)
        .div_ceil(4)
}

/// `[web]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct WebSection {
    /// Where the UI, the JSON API and `/cat/s/router` listen.
    pub(crate) listen: SocketAddr,
    /// Collector addresses `/cat/s/router` advertises (`ip:port`, IPv4). Empty: the
    /// collector's address when it listens on one IPv4 address, else the collector's port on
    /// the address the client reached the web server on.
    pub(crate) advertise: Vec<String>,
    /// Bearer token required by `/api/*` (empty: none).
    pub(crate) api_token: String,
    /// Origins whose browser pages may read `/api/*` (CORS), `"*"` for any (empty: none).
    pub(crate) cors_allow_origin: Vec<String>,
    /// Basic-auth user for pages (empty: none).
    pub(crate) username: String,
    /// Basic-auth password for pages.
    pub(crate) password: String,
    /// The sampling ratio `/cat/s/router` gives clients, in (0, 1].
    pub(crate) router_sample: f64,
    /// Whether `/cat/s/router` tells clients to send nothing.
    pub(crate) router_block: bool,
    /// How much the web server's threads yield to the collector's (Linux nice, 0 to 19):
    /// pages are built at this niceness, so a CPU that cannot serve both takes trees first.
    pub(crate) nice: i32,
    /// MiB of parsed sealed reports kept for pages (estimated heap size; 0: none).
    pub(crate) sealed_report_cache_mib: u64,
    /// MiB of past days kept merged for the day, week and month views (estimated; 0:
    /// none).
    pub(crate) day_cache_mib: u64,
    /// Connections the web server serves at once.
    pub(crate) max_connections: usize,
    /// Seconds a client may read nothing of its answer before it is disconnected.
    pub(crate) write_timeout_secs: u64,
    /// MiB of answers being sent at once before large ones are refused with 503.
    pub(crate) answer_mib_in_flight: u64,
}

impl Default for WebSection {
    fn default() -> Self {
        WebSection {
            listen: "127.0.0.1:8080".parse().expect("valid literal"),
            advertise: Vec::new(),
            api_token: String::new(),
            cors_allow_origin: Vec::new(),
            username: String::new(),
            password: String::new(),
            router_sample: 1.0,
            router_block: false,
            nice: DEFAULT_WEB_NICE,
            sealed_report_cache_mib: ocelot_collector::DEFAULT_SEALED_REPORT_CACHE_BYTES >> 20,
            day_cache_mib: DEFAULT_DAY_CACHE_MIB,
            max_connections: ocelot_web::DEFAULT_MAX_CONNECTIONS,
            write_timeout_secs: ocelot_web::DEFAULT_WRITE_TIMEOUT.as_secs(),
            answer_mib_in_flight: (ocelot_web::DEFAULT_MAX_ANSWER_BYTES_IN_FLIGHT >> 20) as u64,
        }
    }
}

/// Past days kept merged: a domain of 8 machines and 400 names is about 3 MiB a day by
/// the estimate, so a week of the twenty domains most looked at fits.
const DEFAULT_DAY_CACHE_MIB: u64 = 64;

/// The kernel weighs a nice-10 thread 110 against a nice-0 one's 1024: against busy collector
/// threads a page gets a small share of the CPU; with a core to spare, all it needs.
const DEFAULT_WEB_NICE: i32 = 10;

/// The store's queue: 150 000 frames (about 100 MiB of ~600-byte frames, shared with the
/// analyzers' queues) is half a second at 300 k trees/s, enough to ride out a writer that
/// lost its core for a while (see `DEFAULT_WORKER_QUEUE_TREES`).
const DEFAULT_QUEUE_FRAMES: usize = 150_000;

/// `[store]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct StoreSection {
    /// The data directory: message files, indexes, reports.
    pub(crate) dir: PathBuf,
    /// gzip level for message blocks (1 = fastest).
    pub(crate) compression_level: u32,
    /// Hours older than this many days are deleted.
    pub(crate) retention_days: u32,
    /// The most the store may hold on disk, GiB; past it the oldest hours are deleted
    /// (0: no cap).
    pub(crate) max_disk_gib: f64,
    /// Frames waiting for the store writer before new ones are refused (counted).
    pub(crate) queue_frames: usize,
    /// MiB of frames waiting for each store writer before new ones are refused (counted).
    pub(crate) queue_mib: u64,
    /// Store writer threads (domains are spread over them).
    pub(crate) writer_threads: usize,
    /// Domains whose trees are stored per hour (by the message ID's domain).
    pub(crate) max_domains_per_hour: usize,
    /// Index files (clients: IP, or IP and pid) per domain-hour.
    pub(crate) max_index_files_per_domain_hour: usize,
}

impl Default for StoreSection {
    fn default() -> Self {
        StoreSection {
            dir: PathBuf::from("ocelot-data"),
            compression_level: 1,
            retention_days: 7,
            max_disk_gib: 0.0,
            queue_frames: DEFAULT_QUEUE_FRAMES,
            queue_mib: ocelot_store::DEFAULT_QUEUE_BYTES >> 20,
            writer_threads: 1,
            max_domains_per_hour: ocelot_store::DEFAULT_MAX_DOMAINS_PER_HOUR,
            max_index_files_per_domain_hour: ocelot_store::DEFAULT_MAX_INDEX_FILES_PER_DOMAIN_HOUR,
        }
    }
}

/// `[demo]`: the simulated services of `ocelot serve --demo`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct DemoSection {
    /// Gateway requests per second, roughly.
    pub(crate) requests_per_second: u32,
    /// Seconds between the simulated services' heartbeats.
    pub(crate) heartbeat_secs: u64,
}

impl Default for DemoSection {
    fn default() -> Self {
        DemoSection {
            requests_per_second: 20,
            heartbeat_secs: 20,
        }
    }
}

impl Config {
    /// The file [`Config::load`] reads: `path`, else `./ocelot.toml` when it exists; `None`
    /// for the defaults.
    pub(crate) fn source(path: Option<&Path>) -> Option<PathBuf> {
        match path {
            Some(p) => Some(p.to_owned()),
            None => Some(PathBuf::from("ocelot.toml")).filter(|default| default.exists()),
        }
    }

    /// Reads `path`, or `./ocelot.toml` when it exists, or the defaults.
    pub(crate) fn load(path: Option<&Path>) -> anyhow::Result<Config> {
        let Some(path) = Config::source(path) else {
            return Ok(Config::default());
        };
        let text =
            read_small_file(&path).with_context(|| format!("reading config {}", path.display()))?;
        let config: Config = toml::from_str(&text)
            .map_err(|err| anyhow::anyhow!("{}{}", err, address_hint(&err.to_string())))
            .with_context(|| format!("parsing config {}", path.display()))?;
        config
            .check()
            .with_context(|| format!("checking config {}", path.display()))?;
        Ok(config)
    }

    /// Refuses values that parse but cannot work (a queue of 0 trees drops every tree, a
    /// level of 42 is silently level 9, no analyzer thread is silently one), naming the
    /// setting and what it takes.
    pub(crate) fn check(&self) -> anyhow::Result<()> {
        let c = &self.collector;
        let s = &self.store;
        let max_threads = ocelot_collector::MAX_ANALYZER_THREADS as u64;
        let w = &self.web;
        let ranges: [(&str, u64, u64, u64); 23] = [
            // CAT's own clients send at most 256 MiB; the store keeps at most 16 MiB.
            (
                "collector.max_frame_bytes",
                c.max_frame_bytes as u64,
                1,
                MAX_FRAME_BYTES_SETTING,
            ),
            // The connection slots are a semaphore, which cannot hold more permits.
            (
                "collector.max_connections",
                c.max_connections as u64,
                1,
                tokio::sync::Semaphore::MAX_PERMITS as u64,
            ),
            (
                "collector.partial_frame_mib",
                c.partial_frame_mib,
                1,
                u64::MAX >> 20,
            ),
            (
                "collector.partial_frame_timeout_secs",
                c.partial_frame_timeout_secs,
                1,
                3600,
            ),
            (
                "web.max_connections",
                w.max_connections as u64,
                1,
                tokio::sync::Semaphore::MAX_PERMITS as u64,
            ),
            ("web.write_timeout_secs", w.write_timeout_secs, 1, 3600),
            // The budget counts KiB in a semaphore: at most u32::MAX of them at once.
            (
                "web.answer_mib_in_flight",
                w.answer_mib_in_flight,
                1,
                u64::from(u32::MAX) >> 10,
            ),
            (
                "collector.worker_queue_trees",
                c.worker_queue_trees as u64,
                1,
                u64::MAX,
            ),
            (
                "collector.worker_queue_mib",
                c.worker_queue_mib,
                1,
                u64::MAX,
            ),
            (
                "collector.analyzer_threads",
                c.analyzer_threads as u64,
                1,
                max_threads,
            ),
            ("collector.io_threads", c.io_threads as u64, 1, 64),
            (
                "collector.checkpoint_interval_secs",
                c.checkpoint_interval_secs,
                1,
                3600,
            ),
            (
                "collector.previous_hour_grace_minutes",
                c.previous_hour_grace_minutes,
                0,
                59,
            ),
            (
                "collector.next_hour_early_minutes",
                c.next_hour_early_minutes,
                0,
                59,
            ),
            (
                "store.compression_level",
                u64::from(s.compression_level),
                0,
                9,
            ),
            (
                "collector.max_report_entries_per_hour",
                c.max_report_entries_per_hour as u64,
                1_000,
                u64::MAX,
            ),
            ("store.queue_frames", s.queue_frames as u64, 1, u64::MAX),
            // The largest frame must fit.
            ("store.queue_mib", s.queue_mib, 16, u64::MAX),
            ("store.writer_threads", s.writer_threads as u64, 1, 64),
            // The demo's pace: 0 would be no traffic, or a heartbeat every instant.
            (
                "demo.requests_per_second",
                u64::from(self.demo.requests_per_second),
                1,
                u64::MAX,
            ),
            ("demo.heartbeat_secs", self.demo.heartbeat_secs, 1, u64::MAX),
            (
                "store.max_domains_per_hour",
                s.max_domains_per_hour as u64,
                1,
                u64::MAX,
            ),
            (
                "store.max_index_files_per_domain_hour",
                s.max_index_files_per_domain_hour as u64,
                1,
                u64::MAX,
            ),
        ];
        for (name, value, min, max) in ranges {
            if !(min..=max).contains(&value) {
                // A bound no one would reach ("1 to 2305843009213693951") says less than
                // the side the value fell off.
                let range = if max >= 1 << 40 && value < min {
                    format!("at least {min}")
                } else if max >= 1 << 40 {
                    format!("at most {max}")
                } else {
                    format!("{min} to {max}")
                };
                anyhow::bail!("{name} = {value}: it takes {range}");
            }
        }
        // A size in GiB, fractions too (0.5 for a small disk); 0 for none.
        let cap = self.store.max_disk_gib;
        if !(cap.is_finite() && (cap == 0.0 || cap >= MIN_DISK_GIB)) {
            anyhow::bail!(
                "store.max_disk_gib = {cap}: it takes a number of GiB from {MIN_DISK_GIB} (1 MiB), 0 for no cap"
            );
        }
        // 0 would make CAT's C client divide by zero, and above 1 means nothing.
        let sample = self.web.router_sample;
        if !(sample > 0.0 && sample <= 1.0) {
            anyhow::bail!("web.router_sample = {sample}: it takes a number above 0, at most 1");
        }
        // Zones run from UTC-12 to UTC+14 (taken as 14 hours either way): seconds outside
        // (milliseconds, say) would put every PT1 tree months away, out of the hour window,
        // and drop it.
        let offset = self.collector.pt1_utc_offset_seconds;
        if !(-50_400..=50_400).contains(&offset) {
            anyhow::bail!(
                "collector.pt1_utc_offset_seconds = {offset}: it takes -50400 to 50400 (UTC-14:00 to UTC+14:00)"
            );
        }
        // A negative nice would need privileges, and would put pages before trees.
        let nice = self.web.nice;
        if !(0..=19).contains(&nice) {
            anyhow::bail!("web.nice = {nice}: it takes 0 to 19");
        }
        // An empty path is the current directory to some calls and no path to others: the
        // first checkpoint of every domain-hour failed to sync its new folders.
        if self.store.dir.as_os_str().is_empty() {
            anyhow::bail!(
                "store.dir is empty: give the data directory, e.g. \"ocelot-data\" (\".\" for the current one)"
            );
        }
        // An origin is scheme://host[:port]: a path or a trailing slash never matches what
        // browsers send, and would leave the setting silently doing nothing.
        for origin in &self.web.cors_allow_origin {
            let host = (origin.strip_prefix("https://"))
                .or_else(|| origin.strip_prefix("http://"))
                .filter(|host| !host.is_empty() && !host.contains('/'));
            if origin != "*" && host.is_none() {
                anyhow::bail!(
                    "web.cors_allow_origin has \"{origin}\": give origins as http(s)://host[:port] (no path), or \"*\" for any"
                );
            }
        }
        // Half a login is no login: a password alone would be ignored (pages open), a user
        // name alone would let in whoever knows it.
        match (self.web.username.is_empty(), self.web.password.is_empty()) {
            (true, false) => anyhow::bail!(
                "web.password is set but web.username is empty, so there would be no login: set both, or neither"
            ),
            (false, true) => anyhow::bail!(
                "web.username is set but web.password is empty: set a password, or remove the username for no login"
            ),
            _ => {}
        }
        Ok(())
    }
}

/// The most a configuration file may hold: far more than any real one.
const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// Reads a configuration file as UTF-8 text, refusing one over [`MAX_CONFIG_BYTES`]: a
/// mistyped `--config /dev/zero` (or a disk) grew until memory ran out, and `/dev/urandom`
/// was read for ever. A pipe (`--config <(...)`) is read as a file is.
fn read_small_file(path: &Path) -> anyhow::Result<String> {
    use std::io::Read;
    let file = std::fs::File::open(path)?;
    let mut bytes = Vec::new();
    file.take(MAX_CONFIG_BYTES + 1).read_to_end(&mut bytes)?;
    anyhow::ensure!(
        bytes.len() as u64 <= MAX_CONFIG_BYTES,
        "larger than {} MiB: not a configuration file",
        MAX_CONFIG_BYTES >> 20
    );
    Ok(String::from_utf8(bytes)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_config_parses_and_matches_the_defaults() {
        let text = include_str!("../ocelot.example.toml");
        let parsed: Config = toml::from_str(text).unwrap();
        parsed.check().unwrap();
        // Every value the example shows is the default it claims to be (the whole config,
        // not a few fields: a changed default must change the example too).
        assert_eq!(format!("{parsed:#?}"), format!("{:#?}", Config::default()));
    }

    #[test]
    fn values_that_cannot_work_are_errors_naming_the_setting_and_its_range() {
        assert!(Config::default().check().is_ok());
        // A size cap in whole or fractional GiB.
        for (text, cap) in [("20", 20.0), ("0.5", 0.5)] {
            let config: Config =
                toml::from_str(&format!("[store]\nmax_disk_gib = {text}")).unwrap();
            assert_eq!(config.store.max_disk_gib, cap);
            config.check().unwrap();
        }
        for (text, named) in [
            (
                "[store]\nmax_disk_gib = -1.0",
                "store.max_disk_gib = -1: it takes a number of GiB from 0.0009765625 (1 MiB), 0 for no cap",
            ),
            (
                "[store]\nmax_disk_gib = 1e-12",
                "store.max_disk_gib = 0.000000000001: it takes a number of GiB from 0.0009765625 (1 MiB), 0 for no cap",
            ),
            (
                "[collector]\nworker_queue_trees = 0",
                "collector.worker_queue_trees = 0: it takes at least 1",
            ),
            (
                "[collector]\nanalyzer_threads = 0",
                "collector.analyzer_threads = 0: it takes 1 to 16",
            ),
            (
                "[demo]\nrequests_per_second = 0",
                "demo.requests_per_second = 0: it takes at least 1",
            ),
            (
                "[demo]\nheartbeat_secs = 0",
                "demo.heartbeat_secs = 0: it takes at least 1",
            ),
            (
                "[collector]\nio_threads = 0",
                "collector.io_threads = 0: it takes 1 to 64",
            ),
            (
                "[collector]\nmax_connections = 0",
                "collector.max_connections",
            ),
            (
                "[collector]\nprevious_hour_grace_minutes = 90",
                "previous_hour_grace_minutes = 90: it takes 0 to 59",
            ),
            (
                "[store]\ncompression_level = 42",
                "store.compression_level = 42: it takes 0 to 9",
            ),
            ("[store]\nwriter_threads = 0", "store.writer_threads"),
            (
                "[collector]\npartial_frame_timeout_secs = 0",
                "collector.partial_frame_timeout_secs = 0: it takes 1 to 3600",
            ),
            ("[web]\nmax_connections = 0", "web.max_connections"),
            (
                "[web]\nwrite_timeout_secs = 0",
                "web.write_timeout_secs = 0: it takes 1 to 3600",
            ),
            (
                "[web]\nanswer_mib_in_flight = 0",
                "web.answer_mib_in_flight",
            ),
            ("[web]\nnice = -5", "web.nice = -5: it takes 0 to 19"),
            ("[web]\nnice = 20", "web.nice = 20"),
            (
                "[web]\nrouter_sample = 0.0",
                "web.router_sample = 0: it takes",
            ),
            ("[web]\nrouter_sample = 1.5", "web.router_sample = 1.5"),
            (
                "[web]\ncors_allow_origin = [\"grafana.local\"]",
                "web.cors_allow_origin has \"grafana.local\"",
            ),
            (
                "[web]\ncors_allow_origin = [\"https://grafana.local/\"]",
                "give origins as http(s)://host[:port]",
            ),
            (
                "[web]\npassword = \"s3cret\"",
                "web.password is set but web.username is empty",
            ),
            (
                "[web]\nusername = \"ops\"",
                "web.username is set but web.password is empty",
            ),
            (
                "[collector]\npt1_utc_offset_seconds = 28800000",
                "collector.pt1_utc_offset_seconds = 28800000: it takes -50400 to 50400",
            ),
            (
                "[collector]\nmax_report_entries_per_hour = 10",
                "collector.max_report_entries_per_hour = 10: it takes at least 1000",
            ),
            ("[store]\ndir = \"\"", "store.dir is empty"),
        ] {
            let config: Config = toml::from_str(text).unwrap();
            let err = config.check().unwrap_err().to_string();
            assert!(err.contains(named), "{text}: {err}");
        }
    }

    /// The collector's connection slots are a tokio semaphore, which panics when made with
    /// more than `Semaphore::MAX_PERMITS`: in the accept task, after the server said it runs,
    /// so the collector port took connections and never served one.
    #[test]
    fn max_connections_is_refused_above_what_the_collector_can_serve() {
        let config: Config =
            toml::from_str("[collector]\nmax_connections = 9223372036854775807").unwrap();
        let err = config.check().unwrap_err().to_string();
        assert!(
            err.contains("collector.max_connections = 9223372036854775807: it takes at most "),
            "{err}"
        );
        let mut config = Config::default();
        config.collector.max_connections = tokio::sync::Semaphore::MAX_PERMITS;
        config.check().unwrap();
        let _ = tokio::sync::Semaphore::new(config.collector.max_connections.max(1));
    }

    #[test]
    fn a_bound_no_one_reaches_is_left_out_of_the_message() {
        for (text, said) in [
            (
                "[collector]\nmax_connections = 0",
                "collector.max_connections = 0: it takes at least 1",
            ),
            (
                "[web]\nmax_connections = 0",
                "web.max_connections = 0: it takes at least 1",
            ),
            (
                "[collector]\npartial_frame_mib = 0",
                "collector.partial_frame_mib = 0: it takes at least 1",
            ),
            (
                "[store]\nqueue_mib = 8",
                "store.queue_mib = 8: it takes at least 16",
            ),
            (
                "[collector]\nmax_frame_bytes = 4000000000",
                "collector.max_frame_bytes = 4000000000: it takes 1 to 268435456",
            ),
        ] {
            let config: Config = toml::from_str(text).unwrap();
            let err = config.check().unwrap_err().to_string();
            assert_eq!(err, said, "{text}");
        }
    }

    #[test]
    fn a_host_name_for_an_address_is_refused_saying_what_an_address_is() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ocelot.toml");
        std::fs::write(&path, "[collector]\nlisten = \"localhost:2280\"\n").unwrap();
        let err = format!("{:#}", Config::load(Some(&path)).unwrap_err());
        assert!(err.contains("an address is an IP and a port"), "{err}");
        let err = parse_listen("localhost:29962").unwrap_err();
        assert!(
            err.contains("host names such as localhost are not taken"),
            "{err}"
        );
        assert_eq!(
            parse_listen("127.0.0.1:29962"),
            Ok("127.0.0.1:29962".parse().unwrap())
        );
    }

    #[test]
    fn a_file_too_large_for_a_configuration_is_refused_at_once() {
        let err = Config::load(Some(Path::new("/dev/zero"))).unwrap_err();
        assert!(format!("{err:#}").contains("larger than 1 MiB"), "{err:#}");
        let dir = tempfile::tempdir().unwrap();
        let err = Config::load(Some(dir.path())).unwrap_err();
        assert!(format!("{err:#}").contains("reading config"), "{err:#}");
        let big = dir.path().join("big.toml");
        std::fs::write(&big, vec![b'#'; (MAX_CONFIG_BYTES + 1) as usize]).unwrap();
        let err = Config::load(Some(&big)).unwrap_err();
        assert!(format!("{err:#}").contains("larger than 1 MiB"), "{err:#}");
    }

    #[test]
    fn an_unknown_setting_is_an_error_naming_it() {
        let err = toml::from_str::<Config>("[store]\nretention = 3\n").unwrap_err();
        assert!(err.to_string().contains("retention"), "{err}");
    }
}
