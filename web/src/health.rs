//! The server's own health in the chrome of every page: a banner under the nav bar while
//! alerts fire or the server fails to keep what it receives, and a count on the nav's
//! "Alerts" link.
//!
//! This crate does not know the collector or the store. Whoever runs it (the `ocelot`
//! binary) samples them and the alert log now and then into a [`SharedHealth`] in
//! [`AppState`]; a page only reads the last sample, so the banner costs no report query and
//! no counting per request. With no sample (`ocelot-web` on its own, its tests) pages show
//! no banner.
//!
//! The layout (`layout.rs`) renders pages without the state, so the sample reaches it
//! through a task-local set around each request ([`with_health`], a middleware inside the
//! login: a page that asks for credentials says nothing of the server).

use std::sync::{Arc, RwLock};

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use maud::{html, Markup};

use crate::board::format_count;
use crate::state::AppState;
use crate::time::format_utc_ms;

/// Firing rules the banner names; past this it says how many more.
const NAMED_RULES_MAX: usize = 3;

/// What the server knows of its own health at one moment: the figures `ocelot status`
/// reads from `/metrics`, judged by whoever took the sample.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerHealth {
    /// When the sample was taken, epoch ms: ages on the pages are measured to it.
    pub at_ms: u64,
    /// When the server started, epoch ms.
    pub started_ms: u64,
    /// Ids of the alert rules firing now.
    pub firing: Vec<String>,
    /// When the open hours were last written whole (a good checkpoint), epoch ms; 0 before
    /// the first.
    pub last_checkpoint_ms: u64,
    /// How often a checkpoint is due, in ms.
    pub checkpoint_interval_ms: u64,
    /// Report writes (checkpoints and sealed hours) that failed since the start.
    pub report_write_errors: u64,
    /// Whether reports are not being saved now: a write failed since the last good
    /// checkpoint, or that checkpoint is overdue.
    pub reports_not_saved: bool,
    /// Why the store fails to write trees now, with the trees refused for each reason
    /// lately (`io_error`, `data_file_full`); empty while it writes.
    pub store_failing: Vec<(String, u64)>,
    /// Trees lost lately at other stages (out of the hour window, queues full, ...); 0
    /// when none were.
    pub trees_dropped_lately: u64,
    /// How far back "lately" reaches, in ms.
    pub lately_ms: u64,
    /// The store's last failure, as one line: what it was doing, the file, the OS error
    /// (`writing a block to /data/498703/shop/messages.dat: No space left on device (os
    /// error 28)`); `None` while none happened since the start.
    pub last_store_error: Option<String>,
    /// When [`ServerHealth::last_store_error`] happened, epoch ms.
    pub last_store_error_ms: u64,
}

impl ServerHealth {
    /// Whether anything is wrong: the pages show a banner.
    pub fn is_troubled(&self) -> bool {
        !self.firing.is_empty()
            || self.reports_not_saved
            || !self.store_failing.is_empty()
            || self.trees_dropped_lately > 0
    }

    /// When the reports were last saved whole: the last good checkpoint, or the start.
    fn saved_until_ms(&self) -> u64 {
        if self.last_checkpoint_ms > 0 {
            self.last_checkpoint_ms
        } else {
            self.started_ms
        }
    }
}

/// The last [`ServerHealth`] sampled, shared by the sampler and the pages. Cheap to clone.
/// Empty until the first [`SharedHealth::set`].
#[derive(Debug, Clone, Default)]
pub struct SharedHealth(Arc<RwLock<Option<Arc<ServerHealth>>>>);

impl SharedHealth {
    /// Nothing sampled yet.
    pub fn new() -> Self {
        SharedHealth::default()
    }

    /// Replaces the sample the pages show.
    pub fn set(&self, health: ServerHealth) {
        // A panic elsewhere while holding the lock leaves a whole `Option` behind.
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(health));
    }

    /// The last sample, if any.
    pub fn get(&self) -> Option<Arc<ServerHealth>> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

tokio::task_local! {
    /// The health the pages of the request being served show.
    static PAGE_HEALTH: SharedHealth;
}

/// Middleware: the pages rendered for this request read `state.health`.
pub(crate) async fn with_health(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    PAGE_HEALTH.scope(state.health, next.run(request)).await
}

/// The sample for the page being rendered: `None` outside a request, or with none taken.
pub(crate) fn page_health() -> Option<Arc<ServerHealth>> {
    PAGE_HEALTH.try_with(SharedHealth::get).ok().flatten()
}

/// The nav's "Alerts" label: with the count of rules firing.
pub(crate) fn alerts_label(health: Option<&ServerHealth>) -> String {
    match health.map_or(0, |h| h.firing.len()) {
        0 => "Alerts".to_owned(),
        n => format!("Alerts ({n})"),
    }
}

/// `17:02 UTC`.
fn clock_minute(ms: u64) -> String {
    let in_day = ms % 86_400_000;
    format!("{:02}:{:02} UTC", in_day / 3_600_000, in_day / 60_000 % 60)
}

/// `45 s`, `12 min`, `3 h 5 min`.
pub(crate) fn format_age(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..=119 => format!("{s} s"),
        120..=7_199 => format!("{} min", s / 60),
        _ => format!("{} h {} min", s / 3600, s / 60 % 60),
    }
}

/// The store's last failure and when, e.g. `at 17:02 UTC (40 s ago): writing a block to
/// ...`; `None` when there was none.
fn last_store_error(health: &ServerHealth) -> Option<String> {
    let error = health.last_store_error.as_deref()?;
    let at = health.last_store_error_ms;
    Some(format!(
        "at {} ({} ago): {error}",
        clock_minute(at),
        format_age(health.at_ms.saturating_sub(at))
    ))
}

/// Where a banner line about saving sends the reader for the file and the error.
const SEE_THE_LOG: &str = "The server's log names the file and the error";

/// The banner: one line per trouble, each linking where to look. Empty when all is well.
pub(crate) fn banner(health: &ServerHealth) -> Markup {
    if !health.is_troubled() {
        return html! {};
    }
    let firing = &health.firing;
    let named = firing.iter().take(NAMED_RULES_MAX);
    let more = firing.len().saturating_sub(NAMED_RULES_MAX);
    let saved = health.saved_until_ms();
    let lately = format_age(health.lately_ms);
    let saving_trouble = health.reports_not_saved || !health.store_failing.is_empty();
    let last_error = last_store_error(health).filter(|_| saving_trouble);
    // The file and the error are named on a line of their own when the store kept them.
    let see_the_log = if last_error.is_some() {
        ""
    } else {
        SEE_THE_LOG
    };
    html! {
        div.health-banner role="status" {
            @if !firing.is_empty() {
                p.health-alerts {
                    a href="/alerts" {
                        strong { (firing.len()) @if firing.len() == 1 { " alert firing" } @else { " alerts firing" } }
                    }
                    ": "
                    @for (i, id) in named.enumerate() {
                        @if i > 0 { ", " }
                        span.rule { (id) }
                    }
                    @if more > 0 { " and " (more) " more" }
                }
            }
            @if health.reports_not_saved {
                p.health-trouble {
                    strong { "Reports not saved since " (clock_minute(saved)) }
                    " (" (format_age(health.at_ms.saturating_sub(saved))) " ago"
                    @if health.last_checkpoint_ms == 0 { ": no good checkpoint since the start" }
                    "; " (format_count(health.report_write_errors)) " report writes failed since the start). "
                    @if !see_the_log.is_empty() { (see_the_log) "; " }
                    a href="/state" { "State" } " has more."
                }
            }
            @if !health.store_failing.is_empty() {
                p.health-trouble {
                    strong { "Store failing: " }
                    @for (i, (reason, n)) in health.store_failing.iter().enumerate() {
                        @if i > 0 { ", " }
                        (format_count(*n)) " trees not written (" (reason) ")"
                    }
                    " in the last " (lately) "."
                    @if !see_the_log.is_empty() { " " (see_the_log) "." }
                }
            }
            @if let Some(last_error) = &last_error {
                p.health-trouble {
                    strong { "Last store error " } (last_error)
                }
            }
            @if health.trees_dropped_lately > 0 {
                p.health-trouble {
                    strong { "Dropping trees: " }
                    (format_count(health.trees_dropped_lately)) " lost in the last " (lately) "; "
                    a href="/state" { "State" } " shows where."
                }
            }
        }
    }
}

/// The State page's lines on saving: the last good checkpoint's age and the failed report
/// writes. Nothing without a sample.
pub(crate) fn saving_facts(health: Option<&ServerHealth>) -> Markup {
    let Some(h) = health else {
        return html! {};
    };
    let saving_trouble =
        h.last_store_error.is_some() && (h.reports_not_saved || !h.store_failing.is_empty());
    let checkpoint = if h.last_checkpoint_ms > 0 {
        format!(
            "{} ago ({})",
            format_age(h.at_ms.saturating_sub(h.last_checkpoint_ms)),
            format_utc_ms(h.last_checkpoint_ms)
        )
    } else {
        format!(
            "none since the start, {} ago",
            format_age(h.at_ms.saturating_sub(h.started_ms))
        )
    };
    html! {
        section.panel.saving {
            h2 { "Saving now" }
            dl.facts {
                div { dt { "Last good checkpoint" } dd class=[h.reports_not_saved.then_some("fail")] { (checkpoint) } }
                div { dt { "Checkpoint due every" } dd { (format_age(h.checkpoint_interval_ms)) } }
                div { dt { "Report writes failed" } dd class=[(h.report_write_errors > 0).then_some("fail")] {
                    (format_count(h.report_write_errors)) " since the start"
                } }
                div { dt { "Store" } dd class=[(!h.store_failing.is_empty()).then_some("fail")] {
                    @if h.store_failing.is_empty() { "writing" } @else {
                        "failing: "
                        @for (i, (reason, n)) in h.store_failing.iter().enumerate() {
                            @if i > 0 { ", " }
                            (format_count(*n)) " trees not written (" (reason) ")"
                        }
                        " in the last " (format_age(h.lately_ms))
                    }
                } }
                div { dt { "Last store error" } dd class=[saving_trouble.then_some("fail")] {
                    @match &h.last_store_error {
                        Some(error) => {
                            (error) " (" (format_age(h.at_ms.saturating_sub(h.last_store_error_ms))) " ago, "
                            (format_utc_ms(h.last_store_error_ms)) ")"
                        }
                        None => { "none since the start" }
                    }
                } }
            }
            p.hint { "The server as it is now, whatever hour is shown; sampled every few seconds. The store keeps its last failure; the server's log has every one." }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn healthy() -> ServerHealth {
        ServerHealth {
            at_ms: 1_796_664_480_000,              // 2026-12-07 17:28 UTC
            started_ms: 1_796_662_380_000,         // 16:53 UTC
            last_checkpoint_ms: 1_796_664_470_000, // 10 s before
            checkpoint_interval_ms: 60_000,
            lately_ms: 300_000,
            ..ServerHealth::default()
        }
    }

    #[test]
    fn a_healthy_server_shows_no_banner() {
        assert_eq!(banner(&healthy()).into_string(), "");
        assert_eq!(alerts_label(Some(&healthy())), "Alerts");
        assert_eq!(alerts_label(None), "Alerts");
    }

    #[test]
    fn the_banner_names_a_few_firing_rules_and_counts_the_rest() {
        let mut h = healthy();
        h.firing = ["a", "b", "c", "d", "e"].map(str::to_owned).to_vec();
        let html = banner(&h).into_string();
        assert!(
            html.contains(r#"<a href="/alerts"><strong>5 alerts firing</strong></a>"#),
            "{html}"
        );
        assert!(
            html.contains(r#"<span class="rule">c</span> and 2 more"#),
            "{html}"
        );
        assert!(!html.contains(">d<"), "{html}");
        assert_eq!(alerts_label(Some(&h)), "Alerts (5)");
        h.firing.truncate(1);
        assert!(banner(&h).into_string().contains("1 alert firing"));
    }

    #[test]
    fn the_banner_says_since_when_reports_are_not_saved_and_what_the_store_and_queues_lose() {
        let mut h = healthy();
        h.last_checkpoint_ms = 1_796_664_120_000; // 17:22 UTC, 6 min before the sample
        h.reports_not_saved = true;
        h.report_write_errors = 12;
        h.store_failing = vec![("io_error".to_owned(), 6_339)];
        h.trees_dropped_lately = 40;
        let html = banner(&h).into_string();
        assert!(
            html.contains("<strong>Reports not saved since 17:22 UTC</strong> (6 min ago; 12 report writes failed since the start)"),
            "{html}"
        );
        assert!(
            html.contains("<strong>Store failing: </strong>6,339 trees not written (io_error) in the last 5 min"),
            "{html}"
        );
        assert!(
            html.contains("<strong>Dropping trees: </strong>40 lost in the last 5 min"),
            "{html}"
        );
        // Never checkpointed: since the start.
        h.last_checkpoint_ms = 0;
        let html = banner(&h).into_string();
        assert!(
            html.contains(
                "since 16:53 UTC</strong> (35 min ago: no good checkpoint since the start"
            ),
            "{html}"
        );
    }

    #[test]
    fn the_state_page_facts_give_the_checkpoint_age_and_failed_writes() {
        assert_eq!(saving_facts(None).into_string(), "");
        let mut h = healthy();
        h.report_write_errors = 3;
        let html = saving_facts(Some(&h)).into_string();
        assert!(
            html.contains("<dd>10 s ago (2026-12-07 17:27:50.000 UTC)</dd>"),
            "{html}"
        );
        assert!(
            html.contains(r#"<dd class="fail">3 since the start</dd>"#),
            "{html}"
        );
        assert!(html.contains("<dd>writing</dd>"), "{html}");
    }

    /// The banner said "the server's log names the file and the error": whoever reads the
    /// page may not have the log. It names the store's last failure itself.
    #[test]
    fn the_banner_and_the_state_page_name_the_stores_last_error() {
        let mut h = healthy();
        h.last_store_error = Some(
            "writing a block to /data/498703/shop/messages.dat: No space left on device (os error 28)"
                .to_owned(),
        );
        // 17:27 UTC. An old error while all is well: no banner, but the State page has it.
        h.last_store_error_ms = h.at_ms - 40_000;
        assert_eq!(banner(&h).into_string(), "");
        let html = saving_facts(Some(&h)).into_string();
        assert!(
            html.contains("<dd>writing a block to /data/498703/shop/messages.dat: No space left on device (os error 28) (40 s ago, 2026-12-07 17:27:20.000 UTC)</dd>"),
            "{html}"
        );
        h.store_failing = vec![("io_error".to_owned(), 12)];
        h.reports_not_saved = true;
        let html = banner(&h).into_string();
        assert!(
            html.contains("<strong>Last store error </strong>at 17:27 UTC (40 s ago): writing a block to /data/498703/shop/messages.dat: No space left on device (os error 28)"),
            "{html}"
        );
        assert!(!html.contains("log names the file"), "{html}");
        assert!(saving_facts(Some(&h))
            .into_string()
            .contains(r#"<dd class="fail">writing a block to"#));
        // Nothing kept (an older server, say): the log it is.
        h.last_store_error = None;
        let html = banner(&h).into_string();
        assert!(
            html.contains("The server's log names the file and the error"),
            "{html}"
        );
        assert!(!html.contains("Last store error"), "{html}");
        assert!(saving_facts(Some(&h))
            .into_string()
            .contains("<dd>none since the start</dd>"));
    }

    #[test]
    fn ages_read_in_the_largest_fitting_unit() {
        assert_eq!(format_age(0), "0 s");
        assert_eq!(format_age(119_999), "119 s");
        assert_eq!(format_age(120_000), "2 min");
        assert_eq!(format_age(7_260_000), "2 h 1 min");
    }
}
