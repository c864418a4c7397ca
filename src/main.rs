//! `ocelot`: the one binary. A thin CLI that wires the crates together.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use crate::logging::LogFormat;

mod alerts;
mod config;
mod decode;
mod demo;
mod health;
mod http;
mod loadgen;
mod logging;
mod lookup;
mod rebuild;
mod rebuild_requests;
mod reports;
mod serve;
mod status;
mod telemetry;

/// The package's version (Cargo.toml).
pub(crate) const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The git commit the binary was built from: a short hash, `+dirty` when tracked files
/// differed from it, `unknown` when built without git (build.rs).
pub(crate) const COMMIT: &str = env!("OCELOT_COMMIT");
/// What `--version` prints after the name, and the start-up log line and `ocelot status`
/// show: builds of one version told apart by their commit.
pub(crate) const LONG_VERSION: &str =
    concat!(env!("CARGO_PKG_VERSION"), " (", env!("OCELOT_COMMIT"), ")");

/// See the `mimalloc` line in Cargo.toml for why the binary does not use the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Ocelot: real-time application monitoring, wire-compatible with CAT clients.
#[derive(Debug, Parser)]
#[command(name = "ocelot", version = LONG_VERSION, about, long_about = None)]
struct Cli {
    /// Log format on stderr (filter with RUST_LOG, e.g. RUST_LOG=ocelot=debug).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the collector (:2280), the web UI (:8080) and the store in one process.
    Serve {
        /// Also run simulated services sending traffic, so the dashboards fill at once. Their
        /// data goes to ./ocelot-demo-data (not store.dir) unless --data is given.
        #[arg(long)]
        demo: bool,
        /// Check the configuration and the alert rules as a start would, print what the
        /// server would use and warn about, and exit: 0 when it would start, 1 (with the
        /// start's message) when not. Opens no port and does not touch the data directory.
        #[arg(long)]
        check_config: bool,
        /// Configuration file (default: ./ocelot.toml if present; see ocelot.example.toml).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Data directory (overrides store.dir; default ./ocelot-data, ./ocelot-demo-data
        /// with --demo).
        #[arg(long)]
        data: Option<PathBuf>,
        /// Collector address (overrides collector.listen; default 0.0.0.0:2280).
        #[arg(long, value_parser = config::parse_listen)]
        collector_listen: Option<SocketAddr>,
        /// Web address (overrides web.listen; default 127.0.0.1:8080).
        #[arg(long, value_parser = config::parse_listen)]
        web_listen: Option<SocketAddr>,
    },
    /// Print the trees in files (or standard input) of length-prefixed CAT frames (NT1 or PT1)
    /// as JSON, one per line, each as soon as its frame has been read.
    Decode {
        /// Zone of PT1 wall-clock times, as +HH:MM or -HH:MM (CAT servers assume +08:00).
        // Hyphen values: `-05:00` is a zone west of UTC, not a flag.
        #[arg(
            long,
            default_value = "+08:00",
            value_parser = decode::parse_utc_offset,
            allow_hyphen_values = true
        )]
        pt1_timezone: i32,
        /// Files holding one or more frames back to back; `-`, or no file, reads standard
        /// input (e.g. `nc -l 2280 | ocelot decode`).
        files: Vec<PathBuf>,
    },
    /// Send realistic trees to a collector and report the achieved rate.
    Loadgen {
        /// Collector address.
        #[arg(long, default_value = "127.0.0.1:2280")]
        target: SocketAddr,
        /// Trees per second in total (0: as fast as possible).
        #[arg(long, default_value_t = 0)]
        rate: u64,
        /// Trees to send in total.
        #[arg(long, default_value_t = 100_000)]
        trees: u64,
        /// Connections to send them over.
        #[arg(long, default_value_t = 4)]
        connections: usize,
        /// Distinct domains.
        #[arg(long, default_value_t = 10)]
        domains: usize,
        /// Distinct root names per domain.
        #[arg(long, default_value_t = 50)]
        names: u64,
        /// Client machines (IPs) per domain, split between the connections; at least one per
        /// connection. Without it, each connection is 8 machines of its own.
        #[arg(long)]
        machines: Option<u32>,
        /// Fill data fields as real clients do (full SQL, URLs with query strings, user
        /// agents, stack traces): about 1.4 KB a tree instead of 580 bytes.
        #[arg(long)]
        full_data: bool,
        /// Messages per tree as MIN-MAX (e.g. 5-30), drawn evenly per tree; without it, 3 to
        /// 30 with most near 9.
        #[arg(long, value_parser = loadgen::parse_message_range)]
        messages: Option<(u64, u64)>,
        /// Web address of the server: the run waits (up to 30 s) until the collector has read
        /// what it sent and prints what it says it received and dropped, and each domain's
        /// message IDs continue after the trees the collector already has this hour.
        #[arg(long)]
        web: Option<String>,
        /// Also time gzip level 1 of the same bytes on one core (the benchmark's yardstick).
        #[arg(long)]
        gzip_baseline: bool,
        /// Stamp the trees evenly over the last this many minutes of the current hour instead
        /// of with their send time: a short run then fills the reports as an hour of traffic
        /// would (one entry per name and minute), which is what memory figures should see.
        #[arg(long, default_value_t = 0)]
        spread_minutes: u64,
        /// Uneven domains: domain i sends in proportion to 1/(i+1)^S (Zipf; 1 is a typical
        /// skew, 0 even).
        #[arg(long, default_value_t = 0.0, value_parser = loadgen::parse_skew)]
        domain_skew: f64,
    },
    /// Alert rules: `ocelot alert replay` shows what rules would have fired on stored reports.
    Alert {
        #[command(subcommand)]
        command: AlertCommand,
    },
    /// Summarise a running server's health; exit 1 when it is dropping data, turning
    /// connections away, not saving reports or not delivering alerts, 2 when unreachable.
    Status {
        /// The server's web address: http://host, with a :port and a /path if needed (the path when a reverse proxy
        /// serves it under one); without a scheme, http:// is meant, and a ?query is ignored.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        url: String,
    },
    /// Count a sealed hour's reports again from the trees the store keeps, and write them
    /// over the stored ones: for an hour a crash left incomplete, or one stored before a
    /// report kind existed. A server running on the data directory is asked to do it.
    RebuildReports {
        /// The hour, YYYYMMDDHH (UTC).
        #[arg(long)]
        hour: String,
        /// Only this domain's reports (repeat for more; default: every domain).
        #[arg(long = "domain")]
        domains: Vec<String>,
        /// Count and print, write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Rebuild a domain even when the store holds fewer of its trees than the State
        /// report says were received (by default its reports are kept: rebuilt ones would
        /// count less than the ones they replace).
        #[arg(long)]
        force: bool,
        /// Configuration file the server runs with (its store, caps and PT1 zone; default:
        /// ./ocelot.toml if present).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Data directory (overrides store.dir; default ./ocelot-data).
        #[arg(long)]
        data: Option<PathBuf>,
    },
    /// Print a stored tree by its message ID, as JSON (opens the data directory read-only: safe beside a running server).
    Lookup {
        /// The message ID, e.g. gateway-0a000101-498703-42.
        id: String,
        /// Configuration file whose store.dir to read (default: ./ocelot.toml if present).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Data directory (overrides store.dir; default ./ocelot-data).
        #[arg(long)]
        data: Option<PathBuf>,
        /// Zone of PT1 wall-clock times, as +HH:MM or -HH:MM (default: the config's
        /// collector.pt1_utc_offset_seconds, +08:00 unless set).
        // Hyphen values: `-05:00` is a zone west of UTC, not a flag.
        #[arg(long, value_parser = decode::parse_utc_offset, allow_hyphen_values = true)]
        pt1_timezone: Option<i32>,
    },
}

#[derive(Debug, Subcommand)]
enum AlertCommand {
    /// Evaluate rules against stored reports and print what would have fired, and when.
    Replay {
        /// The rules file (docs/alerting.md).
        #[arg(long)]
        rules: PathBuf,
        /// First hour, YYYYMMDDHH (UTC).
        #[arg(long)]
        from: String,
        /// Last hour, YYYYMMDDHH (UTC).
        #[arg(long)]
        to: String,
        /// Configuration file whose store.dir to read (default: ./ocelot.toml if present).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Data directory (overrides store.dir; default ./ocelot-data).
        #[arg(long)]
        data: Option<PathBuf>,
    },
}

/// The data directory a read-only command opens: `--data`, else the configuration's
/// `store.dir` (as `serve` finds its configuration), so that it reads what the server writes.
fn data_dir(config: Option<&std::path::Path>, data: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    match data {
        Some(data) => Ok(data),
        None => Ok(config::Config::load(config)?.store.dir),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(cli.log_format);
    let result = match cli.command {
        Command::Serve {
            demo,
            check_config,
            config,
            data,
            collector_listen,
            web_listen,
        } => {
            let args = serve::ServeArgs {
                config,
                data,
                collector_listen,
                web_listen,
                demo,
            };
            if check_config {
                serve::check_config(args)
            } else {
                serve::run(args)
            }
            .map(|()| ExitCode::SUCCESS)
        }
        Command::Decode {
            pt1_timezone,
            files,
        } => decode::run(&files, pt1_timezone),
        Command::Loadgen {
            target,
            rate,
            trees,
            connections,
            domains,
            names,
            machines,
            full_data,
            messages,
            web,
            gzip_baseline,
            spread_minutes,
            domain_skew,
        } => loadgen::run(loadgen::LoadgenArgs {
            target,
            rate,
            trees,
            connections,
            domains,
            names,
            machines,
            full_data,
            messages,
            web,
            gzip_baseline,
            spread_minutes,
            domain_skew,
        })
        .map(|()| ExitCode::SUCCESS),
        Command::Status { url } => status::run(&url),
        Command::Alert {
            command:
                AlertCommand::Replay {
                    rules,
                    from,
                    to,
                    config,
                    data,
                },
        } => data_dir(config.as_deref(), data)
            .and_then(|data| {
                ocelot_alert::replay_command(&rules, &data, &from, &to).map_err(anyhow::Error::from)
            })
            .and_then(|text| print_all(&text)),
        Command::RebuildReports {
            hour,
            domains,
            dry_run,
            force,
            config,
            data,
        } => rebuild::run(&rebuild::RebuildArgs {
            hour,
            domains,
            dry_run,
            force,
            config,
            data,
        })
        .and_then(|text| print_all(&text)),
        Command::Lookup {
            id,
            config,
            data,
            pt1_timezone,
        } => config::Config::load(config.as_deref()).and_then(|config| {
            // The server's own zone, so that the times printed are the ones its pages show.
            let zone = pt1_timezone.unwrap_or(config.collector.pt1_utc_offset_seconds);
            lookup::run(
                &id,
                &data.unwrap_or(config.store.dir),
                ocelot_protocol::DecodeOptions {
                    pt1_utc_offset_seconds: zone,
                },
            )
        }),
    };
    match result {
        Ok(code) => code,
        // The reader of our output went away (`ocelot lookup ... | head`): not an error.
        Err(err) if is_stdout_closed(&err) => ExitCode::SUCCESS,
        Err(err) => {
            logging::fatal(cli.log_format, &error_text(&err));
            ExitCode::FAILURE
        }
    }
}

/// Writes a command's whole answer to standard output: success, unless stdout fails.
fn print_all(text: &str) -> anyhow::Result<ExitCode> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .context(WritingStdout)?;
    Ok(ExitCode::SUCCESS)
}

/// `err` and its causes, joined by ": " as `{err:#}` joins them, but without a cause that
/// the text so far already ends with: errors such as `StoreError::Io` print their source
/// themselves (so that a log line has the reason) and also return it as their source, which
/// would otherwise print "Permission denied (os error 13)" twice.
fn error_text(err: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in err.chain() {
        let cause = cause.to_string();
        if text.ends_with(&cause) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&cause);
    }
    text
}

/// The context of a failed write to standard output. [`is_stdout_closed`] looks for it: a
/// broken pipe is quiet only there, where it means the reader of our output went away.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WritingStdout;

impl std::fmt::Display for WritingStdout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("writing to standard output")
    }
}

/// Whether `err` is a write to standard output that found the reader gone. Only then: a
/// broken pipe elsewhere, such as loadgen's connection that a stopping collector closed, is
/// an error to say (it exited 0 and said nothing).
fn is_stdout_closed(err: &anyhow::Error) -> bool {
    err.downcast_ref::<WritingStdout>().is_some() && is_broken_pipe(err)
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    use std::io::ErrorKind::BrokenPipe;
    err.chain().any(|cause| {
        let io = cause.downcast_ref::<std::io::Error>().map(|e| e.kind());
        // JSON written straight to stdout fails as a serde_json error holding the I/O one.
        let json = || {
            cause
                .downcast_ref::<serde_json::Error>()
                .and_then(serde_json::Error::io_error_kind)
        };
        io.or_else(json) == Some(BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::error_text;

    #[test]
    fn an_error_that_prints_its_source_does_not_print_it_twice() {
        /// Prints its source and returns it, as `StoreError::Io` does.
        #[derive(Debug)]
        struct Read {
            path: &'static str,
            source: std::io::Error,
        }
        impl std::fmt::Display for Read {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "reading {}: {}", self.path, self.source)
            }
        }
        impl std::error::Error for Read {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.source)
            }
        }
        let denied = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        let reason = denied.to_string();
        let err = anyhow::Error::new(Read {
            path: "/data/x.idx",
            source: denied,
        })
        .context("looking up the message");
        assert_eq!(
            error_text(&err),
            format!("looking up the message: reading /data/x.idx: {reason}")
        );
        // Causes that do not repeat are all kept, as `{:#}` keeps them.
        let plain = anyhow::anyhow!("no space")
            .context("writing")
            .context("saving");
        assert_eq!(error_text(&plain), format!("{plain:#}"));
    }
}
