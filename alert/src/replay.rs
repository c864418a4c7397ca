//! [`replay`]: what rules would have fired on stored reports, and when, so they can be
//! tuned before they page anyone. Runs the live [`Engine`] over past minutes; nothing is
//! sent. Minutes the collector was not running in, by its stored State reports, are not
//! evaluated: the live server, down, did not evaluate them either, and their empty counts
//! would fire every `below` rule.

use std::fmt::Write;
use std::path::Path;

use crate::engine::Engine;
use crate::error::AlertError;
use crate::evaluator::AlertEvent;
use crate::report_history::{ReportHistory, StoreHistory};
use crate::rules::RuleSet;
use crate::time::{parse_hour_label, MinuteLabel, MINUTES_PER_HOUR};

/// Evaluates `rules` over every minute of the hours `from_hour..=to_hour` (hour indexes,
/// see [`crate::parse_hour_label`]) that the collector was running in
/// ([`ReportHistory::state`]) and returns the events in time order.
pub fn replay(
    rules: &RuleSet,
    history: &dyn ReportHistory,
    from_hour: u64,
    to_hour: u64,
) -> Vec<AlertEvent> {
    if to_hour < from_hour {
        return Vec::new();
    }
    let mut engine = Engine::new(rules.clone());
    engine.evaluate_minutes(
        from_hour * MINUTES_PER_HOUR,
        (to_hour + 1) * MINUTES_PER_HOUR - 1,
        history,
    )
}

/// `ocelot alert replay --rules FILE --from YYYYMMDDHH --to YYYYMMDDHH --data DIR`: reads
/// the store folder's reports without opening the store ([`StoreHistory::open`]: safe next
/// to a running server), loads the rules checking their domains against every domain the
/// folder has reports for, replays and returns the text to print: a header line, then
/// [`format_events`]. Minutes not stored whole yet (see `last_stored_minute`) are left
/// out of the range.
pub fn replay_command(
    rules_file: &Path,
    data_dir: &Path,
    from: &str,
    to: &str,
) -> Result<String, AlertError> {
    replay_command_at(rules_file, data_dir, from, to, now_minute())
}

/// [`replay_command`] at `now_minute` (epoch minutes).
fn replay_command_at(
    rules_file: &Path,
    data_dir: &Path,
    from: &str,
    to: &str,
    now_minute: u64,
) -> Result<String, AlertError> {
    let from_hour = parse_hour_label(from)?;
    let to_hour = parse_hour_label(to)?;
    if to_hour < from_hour {
        return Err(AlertError::BadRange(format!(
            "--to {to} is before --from {from}"
        )));
    }
    let history = StoreHistory::open(data_dir)?;
    let known = history.known_domains()?;
    let rules = RuleSet::load(rules_file, Some(&known))?;
    let first = from_hour * MINUTES_PER_HOUR;
    let asked_last = (to_hour + 1) * MINUTES_PER_HOUR - 1;
    let stored = last_stored_minute(now_minute);
    let last = asked_last.min(stored);
    let events = if last < first {
        Vec::new()
    } else {
        Engine::new(rules.clone()).evaluate_until(first, last, Some(stored), &history)
    };
    let mut out = format!(
        "{} rules over {} to {} (UTC), {} events\n",
        rules.rules().len(),
        MinuteLabel(first),
        MinuteLabel(asked_last),
        events.len()
    );
    if last < asked_last {
        let _ = writeln!(
            out,
            "(minutes after {} are not stored whole yet: not replayed)",
            MinuteLabel(stored)
        );
    }
    out.push_str(&format_events(&events));
    if history.read_errors() > 0 {
        let _ = writeln!(
            out,
            "warning: {} stored reports could not be read and counted as missing",
            history.read_errors()
        );
    }
    Ok(out)
}

/// The current minute by this machine's clock (epoch minutes).
fn now_minute() -> u64 {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    u64::try_from(ms / 60_000).unwrap_or(u64::MAX)
}

/// The last minute a running server's stored reports hold whole at `now_minute`: it
/// checkpoints the open hour every minute, so the minute before the current one may be
/// written only in part. Later minutes of an open hour are not stored yet, and replaying
/// them as empty would fire every `below` rule at the end.
fn last_stored_minute(now_minute: u64) -> u64 {
    now_minute.saturating_sub(2)
}

/// One line per event, for `ocelot alert replay`:
/// `2026-11-22T10:22Z  FIRED     pay-spike  shop transaction URL /pay  count=50 baseline=10  (above baseline by more than 100% and 5 for 3 minutes, since 2026-11-22T10:20Z)`.
pub fn format_events(events: &[AlertEvent]) -> String {
    let number = |v: Option<f64>| match v {
        Some(v) if v.fract() == 0.0 && v.abs() < 1e15 => format!("{v:.0}"),
        Some(v) => format!("{v:.2}"),
        None => "-".to_owned(),
    };
    let mut out = String::new();
    for e in events {
        let _ = write!(
            out,
            "{}  {:<9} {}  {}  {}={}",
            e.time,
            e.kind.to_string(),
            e.rule,
            e.scope,
            e.measure,
            number(e.value)
        );
        if e.baseline.is_some() {
            let _ = write!(out, " baseline={}", number(e.baseline));
        }
        let _ = write!(
            out,
            "  ({}, since {})",
            e.condition,
            MinuteLabel(e.started_minute)
        );
        if e.suppressed {
            out.push_str(" [suppressed]");
        }
        out.push('\n');
    }
    if events.is_empty() {
        out.push_str("no alerts\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use ocelot_analyzer::{
        hour_label, AnalyzerConfig, StateReport, TransactionAnalyzer, STATE_DOMAIN,
        STATE_REPORT_NAME,
    };
    use ocelot_protocol::{Header, Message, MessageTree, Transaction};
    use ocelot_store::{Store, StoreConfig};

    use super::*;
    use crate::report_history::Report;

    const HOUR: u64 = 498_703;

    #[test]
    fn a_replay_up_to_now_evaluates_the_newest_minute_stored_whole() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let store = Store::open(StoreConfig {
            retention_days: 0,
            ..StoreConfig::new(&data)
        })
        .unwrap();
        // Now is 00:32 of HOUR. /pay was requested 6 times a minute up to 00:29, then not.
        let mut analyzer = TransactionAnalyzer::new(HOUR, Arc::new(AnalyzerConfig::default()));
        for minute in 0..30 {
            for i in 0..6 {
                let t = Transaction::new("URL", "/pay", HOUR * 3_600_000 + minute * 60_000 + i);
                let header = Header {
                    domain: "shop".into(),
                    ip_address: "10.0.0.1".into(),
                    ..Header::default()
                };
                analyzer.process(&MessageTree::new(header, Message::Transaction(t)));
            }
        }
        let report = Report::Transaction(analyzer.reports()["shop"].clone());
        store
            .write_report(HOUR, "shop", "transaction", &report.to_json())
            .unwrap();
        // The collector ran throughout; its last checkpoint has samples up to 00:30 (the
        // newest minute stored whole), not yet 00:31's.
        for (hour, minutes) in [(HOUR - 1, 0..60), (HOUR, 0..31)] {
            let mut state = StateReport::new(hour);
            for minute in minutes {
                state.record_queue_depth(hour * 3_600_000 + minute * 60_000, "analyzer-0", 0);
            }
            let bytes = serde_json::to_vec(&state).unwrap();
            store
                .write_report(hour, STATE_DOMAIN, STATE_REPORT_NAME, &bytes)
                .unwrap();
        }
        drop(store);
        let rules = dir.path().join("rules.toml");
        std::fs::write(
            &rules,
            "[[rule]]\nid = \"floor\"\ndomain = \"shop\"\nreport = \"transaction\"\n\
             measure = \"count\"\nbelow = 1.0\n",
        )
        .unwrap();
        let label = hour_label(HOUR);
        let out = replay_command_at(&rules, &data, &label, &label, HOUR * 60 + 32).unwrap();
        // 00:30 is the newest minute stored whole, sampled: up, and without a request.
        let fired = format!("{}  FIRED", MinuteLabel(HOUR * 60 + 30));
        assert!(out.contains(&fired), "{out}");
        assert!(out.contains("not stored whole yet"), "{out}");
    }
}
