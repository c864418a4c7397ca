//! A whole UTC day of a domain (`day=`, CAT's "history" mode) for the transaction and event
//! boards and their JSON API: the day's hours fetched one at a time from the
//! [`ReportSource`] (live for the open hour, stored for sealed ones) and merged into an
//! [`ocelot_analyzer::TransactionDay`] or [`ocelot_analyzer::EventDay`].
//!
//! Design constraints: an hour's report is dropped once it is merged, so a day costs the
//! merged day plus one hour, never 24 hours at once; each hour is folded and merged off the
//! async workers ([`heavy`]); a transaction hour is asked for as the view needs it
//! ([`ReportSource::transaction_for`]: one machine, one type), so a live hour copies only
//! that. Non-goal: caching. A day is merged again on every request, as an hour is viewed.

use ocelot_analyzer::{day_label, hour_label, EventDay, TransactionDay};

use crate::cpu::heavy;
use crate::hour::hours_of_day;
use crate::report_source::ReportSource;

/// The hours of `day` in which `domain` has a report of any kind, ascending.
pub(crate) async fn hours_of_domain(source: &dyn ReportSource, domain: &str, day: u64) -> Vec<u64> {
    let in_day = hours_of_day(day);
    let mut hours = Vec::new();
    for hour in source.hours().await {
        if in_day.contains(&hour) && source.domains(hour).await.iter().any(|d| d == domain) {
            hours.push(hour);
        }
    }
    hours
}

/// The transactions of `domain` over `hours` of `day`, as a view of machine `ip` and type
/// `type_` (`None`: all) reads them.
pub(crate) async fn transaction_day(
    source: &dyn ReportSource,
    domain: &str,
    day: u64,
    hours: &[u64],
    ip: Option<&str>,
    type_: Option<&str>,
) -> TransactionDay {
    let mut merged = TransactionDay::new(domain, day);
    for &hour in hours {
        let report = source
            .transaction_for(
                domain.to_owned(),
                hour,
                ip.map(str::to_owned),
                type_.map(str::to_owned),
            )
            .await;
        if let Some(report) = report {
            let added = heavy(|| merged.add_hour(&report));
            warn_unless(added, "transaction", report.hour(), hour, day);
        }
    }
    merged
}

/// The events of `domain` over `hours` of `day`.
pub(crate) async fn event_day(
    source: &dyn ReportSource,
    domain: &str,
    day: u64,
    hours: &[u64],
) -> EventDay {
    let mut merged = EventDay::new(domain, day);
    for &hour in hours {
        if let Some(report) = source.event(domain.to_owned(), hour).await {
            let added = heavy(|| merged.add_hour(&report));
            warn_unless(added, "event", report.hour(), hour, day);
        }
    }
    merged
}

/// A source that answers an hour with another hour's report is broken; the day leaves that
/// report out and says so in the log rather than miscounting.
fn warn_unless(added: bool, kind: &str, labelled: u64, asked: u64, day: u64) {
    if !added {
        tracing::warn!(
            kind,
            asked = %hour_label(asked),
            labelled = %hour_label(labelled),
            day = %day_label(day),
            "a report of another day was left out of a day view"
        );
    }
}
