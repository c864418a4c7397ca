//! `ocelot rebuild-reports --hour YYYYMMDDHH`: an hour's reports counted again from the
//! trees the store keeps (`ocelot_collector::rebuild_hour`), with the server stopped, or
//! by the running server, which the command then asks (`rebuild_requests.rs`).
//!
//! For an hour a crash or kill -9 left incomplete (its reports continued from a checkpoint
//! that lacked the last minute's trees; the State page says so), for the reports of a kind a
//! later release added, for hours stored before it, and for an hour to be counted under
//! changed settings. Only a sealed hour: an open one is still counted by the server, which
//! would carry its own counts over the rebuilt ones.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use ocelot_collector::{rebuild_hour, CollectorConfig, RebuildOptions, Rebuilt};
use ocelot_protocol::MILLIS_PER_HOUR;
use ocelot_store::Store;

use crate::config::Config;
use crate::rebuild_requests::{ask_server, Request};
use crate::serve::{
    analyzer_config, decode_options, lock_data_dir_as, store_config, DataDirInUse, Taker,
};

/// What `rebuild-reports` was asked.
#[derive(Debug, Clone)]
pub(crate) struct RebuildArgs {
    pub(crate) hour: String,
    pub(crate) domains: Vec<String>,
    pub(crate) dry_run: bool,
    /// Rebuild a domain even when the store holds fewer of its trees than were received.
    pub(crate) force: bool,
    pub(crate) config: Option<PathBuf>,
    pub(crate) data: Option<PathBuf>,
}

/// Why the data directory is taken, for the refusal a held directory gives (not printed
/// here: the command then asks the server holding it).
const WHY_STOPPED: &str = "a running server would write its own counts over the rebuilt reports";

/// Rebuilds and returns what to print.
pub(crate) fn run(args: &RebuildArgs) -> anyhow::Result<String> {
    let mut config = Config::load(args.config.as_deref())?;
    if let Some(data) = &args.data {
        config.store.dir.clone_from(data);
    }
    let dir = config.store.dir.clone();
    anyhow::ensure!(
        dir.is_dir(),
        "the data directory {} does not exist (give --data, or the --config the server runs with)",
        dir.display()
    );
    let (hour, now_ms) = sealed_hour(&args.hour, config.collector.previous_hour_grace_minutes)?;
    let _lock = match lock_data_dir_as(&dir, Taker::Tool(WHY_STOPPED)) {
        Ok(lock) => lock,
        Err(error) => {
            // A running server: it rebuilds when asked (`rebuild_requests.rs`).
            let Some(in_use) = error.downcast_ref::<DataDirInUse>() else {
                return Err(error);
            };
            let request = Request {
                hour: args.hour.clone(),
                domains: args.domains.clone(),
                dry_run: args.dry_run,
                force: args.force,
            };
            return ask_server(&dir, &request, &in_use.holder);
        }
    };
    let store = Store::open(store_config(&config))
        .with_context(|| format!("opening the store in {}", dir.display()))?;
    let collector = CollectorConfig {
        analyzer: analyzer_config(&config),
        decode: decode_options(&config),
        ..CollectorConfig::default()
    };
    let options = RebuildOptions {
        domains: args.domains.clone(),
        dry_run: args.dry_run,
        keep_if_fewer: !args.force,
    };
    let rebuilt = rebuild_hour(&store, &collector, hour, &options, now_ms)
        .with_context(|| format!("rebuilding the reports of hour {}", args.hour));
    store.shutdown();
    let rebuilt = rebuilt?;
    Ok(summary(&args.hour, &rebuilt, &args.domains, args.dry_run))
}

/// The hour `label` (`YYYYMMDDHH`) names, and the time now, if it is sealed by now (see
/// [`ensure_sealed`]; `grace_minutes`: the server's previous-hour grace).
pub(crate) fn sealed_hour(label: &str, grace_minutes: u64) -> anyhow::Result<(u64, u64)> {
    let hour = ocelot_alert::parse_hour_label(label).with_context(|| format!("--hour {label}"))?;
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    ensure_sealed(label, hour, grace_minutes, now_ms)?;
    Ok((hour, now_ms))
}

/// Refuses an hour a server may still count: one not begun, or open until its seal.
fn ensure_sealed(label: &str, hour: u64, grace_minutes: u64, now_ms: u64) -> anyhow::Result<()> {
    anyhow::ensure!(
        hour * MILLIS_PER_HOUR <= now_ms,
        "hour {label} has not begun (it is {} UTC now): nothing can have been stored in it",
        utc_minute(now_ms)
    );
    // Sealed at the end of the previous-hour grace; a minute more for the seal to be written.
    let sealed_ms = (hour + 1) * MILLIS_PER_HOUR + (grace_minutes + 1) * 60_000;
    anyhow::ensure!(
        now_ms >= sealed_ms,
        "hour {label} is still open (a server counts its trees until {} UTC and continues it from its checkpoint at a start): rebuild it once it is sealed",
        utc_minute(sealed_ms)
    );
    Ok(())
}

/// `2026-12-07 14:04`.
fn utc_minute(ms: u64) -> String {
    let label = ocelot_analyzer::hour_label(ms / MILLIS_PER_HOUR);
    format!(
        "{}-{}-{} {}:{:02}",
        &label[0..4],
        &label[4..6],
        &label[6..8],
        &label[8..10],
        ms % MILLIS_PER_HOUR / 60_000
    )
}

/// What the command prints: the trees counted per domain beside what the State report says
/// the domain sent, each domain asked for that has no tree (a typo looks like an empty
/// hour otherwise), then what was written.
pub(crate) fn summary(hour: &str, rebuilt: &Rebuilt, asked: &[String], dry_run: bool) -> String {
    let mut out = String::new();
    let total = rebuilt.total_trees();
    let _ = writeln!(
        out,
        "Hour {hour}: {total} {} counted from the store ({} frames read in it and the hours beside it).",
        if total == 1 { "tree" } else { "trees" },
        rebuilt.frames_read
    );
    let width = rebuilt.trees.keys().map(String::len).max().unwrap_or(0);
    for (domain, trees) in &rebuilt.trees {
        let received = match rebuilt.received.get(domain) {
            Some(received) => format!("{received} received by the State report"),
            None => "not in the State report".to_owned(),
        };
        let _ = writeln!(out, "  {domain:<width$}  {trees:>10}  ({received})");
    }
    let mut missing: Vec<&str> = (asked.iter())
        .filter(|domain| !rebuilt.trees.contains_key(*domain))
        .map(String::as_str)
        .collect();
    missing.dedup();
    if !missing.is_empty() {
        let _ = writeln!(
            out,
            "No stored tree of {} in this hour: is the name right? (the boards list the domains)",
            missing.join(", ")
        );
    }
    if rebuilt.undecodable > 0 {
        let _ = writeln!(
            out,
            "{} stored frames could not be decoded and are left out.",
            rebuilt.undecodable
        );
    }
    if rebuilt.damaged_blocks > 0 {
        let _ = writeln!(
            out,
            "{} damaged blocks of the store were stepped over; their trees are left out.",
            rebuilt.damaged_blocks
        );
    }
    if !rebuilt.kept.is_empty() {
        let _ = writeln!(
            out,
            "{} the reports of {}: the store holds fewer of their trees than the State report says were received (it dropped some, or they had no message ID), so rebuilt ones would count less than the ones they replace; --force rebuilds them anyway.",
            if dry_run { "Would keep" } else { "Kept" },
            rebuilt.kept.join(", ")
        );
    }
    if dry_run {
        out.push_str("Dry run: nothing written.\n");
    } else if total == 0 {
        out.push_str("No stored tree in this hour: no report rewritten.\n");
    } else if rebuilt.marked_rebuilt {
        let _ = writeln!(
            out,
            "Wrote {} reports; the State report marks the hour rebuilt.",
            rebuilt.reports_written
        );
    } else if rebuilt.state_found && !rebuilt.kept.is_empty() {
        let _ = writeln!(
            out,
            "Wrote {} reports; the State report is not marked rebuilt: some domains were kept.",
            rebuilt.reports_written
        );
    } else if rebuilt.state_found {
        // `--domain` named some of the hour's domains: the others may still lack trees.
        let _ = writeln!(
            out,
            "Wrote {} reports; the State report is not marked rebuilt: not every domain of the hour was rebuilt (leave out --domain to rebuild them all).",
            rebuilt.reports_written
        );
    } else {
        let _ = writeln!(
            out,
            "Wrote {} reports; the hour has no State report to mark rebuilt (none is made: an empty one would say the collector was down all the hour).",
            rebuilt.reports_written
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_names_each_domain_beside_what_it_sent() {
        let mut rebuilt = Rebuilt {
            frames_read: 12,
            reports_written: 7,
            marked_rebuilt: true,
            ..Rebuilt::default()
        };
        rebuilt.trees.insert("gateway".into(), 10);
        rebuilt.trees.insert("shop".into(), 1);
        rebuilt.received.insert("gateway".into(), 8);
        let text = summary("2026120713", &rebuilt, &[], false);
        assert!(
            text.starts_with("Hour 2026120713: 11 trees counted"),
            "{text}"
        );
        assert!(
            text.contains("gateway          10  (8 received by the State report)"),
            "{text}"
        );
        assert!(
            text.contains("shop              1  (not in the State report)"),
            "{text}"
        );
        assert!(text.ends_with("Wrote 7 reports; the State report marks the hour rebuilt.\n"));
        assert!(summary("2026120713", &rebuilt, &[], true).ends_with("Dry run: nothing written.\n"));
        rebuilt.marked_rebuilt = false;
        assert!(summary("2026120713", &rebuilt, &[], false)
            .ends_with("Wrote 7 reports; the hour has no State report to mark rebuilt (none is made: an empty one would say the collector was down all the hour).\n"));
    }

    /// Finding: `--domain app-0` on an hour with a State report said "the hour has no State
    /// report to mark rebuilt", right below the State report's counts: the mark waits for
    /// every domain, which is what to say.
    #[test]
    fn a_rebuild_of_some_domains_says_why_the_state_report_is_not_marked() {
        let mut rebuilt = Rebuilt {
            reports_written: 4,
            state_found: true,
            ..Rebuilt::default()
        };
        rebuilt.trees.insert("shop".into(), 3);
        rebuilt.received.insert("shop".into(), 3);
        let text = summary("2026120713", &rebuilt, &["shop".to_owned()], false);
        assert!(
            text.ends_with(
                "Wrote 4 reports; the State report is not marked rebuilt: not every domain of \
                 the hour was rebuilt (leave out --domain to rebuild them all).\n"
            ),
            "{text}"
        );
        assert!(!text.contains("no State report"), "{text}");
    }

    #[test]
    fn the_summary_names_a_domain_asked_for_with_no_tree() {
        let mut rebuilt = Rebuilt::default();
        rebuilt.trees.insert("shop".into(), 3);
        let asked = ["shop".to_owned(), "shpo".to_owned()];
        let text = summary("2026120713", &rebuilt, &asked, true);
        assert!(
            text.contains("No stored tree of shpo in this hour"),
            "{text}"
        );
        let text = summary("2026120713", &rebuilt, &asked[..1], true);
        assert!(!text.contains("No stored tree of"), "{text}");
    }

    #[test]
    fn an_hour_not_begun_is_not_called_open() {
        let now = 498_703 * MILLIS_PER_HOUR + 2 * 60_000;
        let later = ensure_sealed("2026112210", 498_706, 3, now).unwrap_err();
        assert!(
            later
                .to_string()
                .starts_with("hour 2026112210 has not begun"),
            "{later}"
        );
        let open = ensure_sealed("2026112207", 498_703, 3, now).unwrap_err();
        assert!(open.to_string().contains("is still open"), "{open}");
        let just_closed = ensure_sealed("2026112206", 498_702, 3, now).unwrap_err();
        assert!(
            just_closed.to_string().contains("is still open"),
            "{just_closed}"
        );
        ensure_sealed("2026112205", 498_701, 3, now).unwrap();
    }

    #[test]
    fn minutes_are_written_in_utc() {
        assert_eq!(
            utc_minute(498_703 * MILLIS_PER_HOUR + 4 * 60_000),
            "2026-11-22 07:04"
        );
    }
}
