//! The note a board shows when its report filed messages under `OTHERS` because a
//! cardinality cap was reached (the report's `folded`): how many, which caps there are and
//! the setting that moves one, and which `OTHERS` rows of the board hold them.
//!
//! An operator needs to know, because a folded name's figures are no longer its own: a
//! client that puts order numbers into transaction names gets 200 names a type and one
//! `OTHERS` row for the rest. The report counts the messages folded, each once, but not
//! which cap folded them (that would mean keeping the keys the caps are there to drop), so
//! the note names every cap of its report and links the `OTHERS` rows the board shows,
//! which say where. No note when nothing folded.

use maud::{html, Markup};
use ocelot_analyzer::{AnalyzerConfig, OTHERS};

use crate::board::{format_count, Board};

/// The reports whose boards note folding, each with its own caps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FoldedReport {
    Transactions,
    Events,
    Problems,
    Metrics,
    Matrix,
}

impl FoldedReport {
    /// What the report's `folded` counts, one of them.
    fn counted(self) -> &'static str {
        match self {
            FoldedReport::Transactions => "transaction",
            FoldedReport::Events => "event",
            FoldedReport::Problems => "problem",
            FoldedReport::Metrics => "metric record",
            FoldedReport::Matrix => "request",
        }
    }

    /// The keys a message of this report may be folded by.
    fn keys(self) -> &'static str {
        match self {
            FoldedReport::Transactions => "machine, type, name or status code",
            FoldedReport::Events | FoldedReport::Problems => "machine, type or name",
            FoldedReport::Metrics => "metric name",
            FoldedReport::Matrix => "type or name",
        }
    }

    /// The caps of one hour that fold this report's keys, as `config` sets them.
    fn caps(self, config: &AnalyzerConfig) -> String {
        let machines = counted(config.max_machines_per_domain as u64, "machine");
        let types = counted(config.max_types_per_machine as u64, "type");
        let names = counted(config.max_names_per_type as u64, "name");
        match self {
            FoldedReport::Transactions => format!(
                "{machines} a domain, {types} a machine, {names} a type and {} a name",
                counted(config.max_status_codes as u64, "status code"),
            ),
            FoldedReport::Events => {
                format!("{machines} a domain, {types} a machine and {names} a type")
            }
            FoldedReport::Problems => format!(
                "{machines} a domain, {types} a category on each machine and {names} a type"
            ),
            FoldedReport::Metrics => {
                format!(
                    "{} a domain",
                    counted(config.max_metric_names as u64, "metric name")
                )
            }
            FoldedReport::Matrix => format!("{names} a type"),
        }
    }

    /// Whether the hour's entry budget over all domains
    /// ([`AnalyzerConfig::max_entries_per_hour`]) bounds this report.
    fn budgeted(self) -> bool {
        self != FoldedReport::Metrics
    }
}

/// `1 name`, `200 names`.
fn counted(n: u64, what: &str) -> String {
    let plural = if n == 1 { "" } else { "s" };
    format!("{} {what}{plural}", format_count(n))
}

/// A row under `OTHERS` the board shows, to link from the note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OthersRow {
    /// What it is: "names of URL", "machine OTHERS".
    pub(crate) label: String,
    /// Where the board shows it.
    pub(crate) href: String,
}

/// The rows under `OTHERS` in a Transaction or Event view of `board`: each type holding a
/// name `OTHERS` (its names folded), the type `OTHERS` (the machine's types folded) and,
/// over all machines, the machine `OTHERS`. `types` are each type's name and its names.
pub(crate) fn others_rows<'a, N: 'a>(
    board: &Board,
    ips: &[String],
    types: impl IntoIterator<Item = (&'a str, &'a [N])>,
    name_of: impl Fn(&N) -> &str,
) -> Vec<OthersRow> {
    let mut rows = Vec::new();
    let mut others_type = false;
    for (type_, names) in types {
        if type_ == OTHERS {
            others_type = true;
        } else if names.iter().any(|n| name_of(n) == OTHERS) {
            rows.push(OthersRow {
                label: format!("names of {type_}"),
                href: board.url(&[("type", type_), ("name", OTHERS)]),
            });
        }
    }
    if others_type {
        rows.push(OthersRow {
            label: format!("type {OTHERS}"),
            href: board.url(&[("type", OTHERS)]),
        });
    }
    rows.extend(others_machine(board, ips));
    rows
}

/// The machine `OTHERS`, when `board` shows all machines and the domain has it.
pub(crate) fn others_machine(board: &Board, ips: &[String]) -> Option<OthersRow> {
    (board.ip.is_none() && ips.iter().any(|ip| ip == OTHERS)).then(|| OthersRow {
        label: format!("machine {OTHERS}"),
        href: board.url(&[("ip", OTHERS)]),
    })
}

/// The note for `folded` messages of `report` on `board`, empty when nothing folded (the
/// domain `OTHERS`, which holds the domains past the cap, always has one). `rows` are the
/// board's rows under `OTHERS` ([`others_rows`]).
pub(crate) fn folded_note(
    board: &Board,
    config: &AnalyzerConfig,
    report: FoldedReport,
    folded: u64,
    rows: &[OthersRow],
) -> Markup {
    let others_domain = board.domain == OTHERS;
    if folded == 0 && !others_domain {
        return html! {};
    }
    let period = board.unit();
    html! {
        div.folded-note role="note" {
            @if folded > 0 {
                p {
                    strong { (counted(folded, report.counted())) }
                    " of this " (period) @if folded == 1 { " was" } @else { " were" }
                    " counted under " code { (OTHERS) }
                    " instead of their own " (report.keys()) ": a cap was reached."
                    @if let Some(ip) = &board.ip {
                        " The count is of every machine, not only " code { (ip) } "."
                    }
                }
            }
            @if others_domain {
                p {
                    "Domains past the cap of " (format_count(config.max_domains as u64))
                    " an hour are counted under this domain, " code { (OTHERS) } "."
                }
            }
            p.hint {
                "Fixed caps per hour: " (report.caps(config))
                @if report.budgeted() {
                    "; and a budget of " (format_count(config.max_entries_per_hour as u64))
                    " machines, types and names over all domains together ("
                    code { "max_report_entries_per_hour" } " in ocelot.toml's " code { "[collector]" } ")"
                }
                ". What folds is still counted, under " code { (OTHERS) } ". "
                "Usually a client puts IDs or parameters into names: give such messages one name "
                "and put the ID in their data."
            }
            @if !rows.is_empty() {
                p.hint {
                    "Under " code { (OTHERS) } " here: "
                    @for (i, row) in rows.iter().enumerate() {
                        @if i > 0 { ", " }
                        a href=(row.href) { (row.label) }
                    }
                }
            }
        }
    }
}
