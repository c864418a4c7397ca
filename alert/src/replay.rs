//! [`replay`]: what rules would have fired on stored reports, and when, so they can be
//! tuned before they page anyone. Runs the live [`Engine`] over past minutes; nothing is
//! sent.

use std::fmt::Write;
use std::path::Path;

use crate::engine::Engine;
use crate::error::AlertError;
use crate::evaluator::AlertEvent;
use crate::report_history::{ReportHistory, StoreHistory};
use crate::rules::RuleSet;
use crate::time::{parse_hour_label, MinuteLabel, MINUTES_PER_HOUR};

/// Evaluates `rules` over every minute of the hours `from_hour..=to_hour` (hour indexes,
/// see [`crate::parse_hour_label`]) and returns the events in time order.
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
/// [`format_events`].
pub fn replay_command(
    rules_file: &Path,
    data_dir: &Path,
    from: &str,
    to: &str,
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
    let events = replay(&rules, &history, from_hour, to_hour);
    let mut out = format!(
        "{} rules over {} to {} (UTC), {} events\n",
        rules.rules().len(),
        MinuteLabel(from_hour * MINUTES_PER_HOUR),
        MinuteLabel((to_hour + 1) * MINUTES_PER_HOUR - 1),
        events.len()
    );
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
