//! `ocelot`: the one binary. A thin CLI that wires the crates together.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod decode;

/// Ocelot: real-time application monitoring, wire-compatible with CAT clients.
#[derive(Debug, Parser)]
#[command(name = "ocelot", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the trees in files of length-prefixed CAT frames (NT1 or PT1) as JSON, one per line.
    Decode {
        /// Zone of PT1 wall-clock times, as +HH:MM or -HH:MM (CAT servers assume +08:00).
        #[arg(long, default_value = "+08:00", value_parser = decode::parse_utc_offset)]
        pt1_timezone: i32,
        /// Files holding one or more frames back to back.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Decode {
            pt1_timezone,
            files,
        } => decode::run(&files, pt1_timezone),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            let _ = writeln!(std::io::stderr(), "ocelot: {err:#}");
            ExitCode::FAILURE
        }
    }
}
