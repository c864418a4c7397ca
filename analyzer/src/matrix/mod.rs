//! The Matrix report (cat-design 6.5, CAT's `MatrixAnalyzer`): per domain and entry
//! transaction (a tree's root of type `URL`, `Service` or `PigeonService`, by type and
//! name), how many requests and their time, and for each kind of call a request makes
//! inside its tree (`Call`/`PigeonCall`, `SQL`, `Cache.*` transactions, at any depth): the
//! fewest and the most calls one request made, which request made the most, and the calls
//! and their time in all. It is the N+1 query finder: "this URL makes 12 SQL calls a
//! request, 40 % of its time; the worst request made 300, here is its ID".
//!
//! Types are matched as CAT and the Problem report match them: exactly, case and all.
//!
//! Where it differs from CAT, and why:
//! * Entries are keyed by type and name. CAT keys by name alone and keeps the type of the
//!   last request, so a `URL` and a `Service` of one name were one row.
//! * The fewest calls is the true minimum, requests without any call included. CAT takes
//!   a 0 in its minimum for "not set yet", so its minimum depended on the order requests
//!   came in.
//! * Names are those the Transaction report gives the root (a URL's numeric path segments
//!   as `{num}`), so a row is the Transaction board's row of the same request. A truncated
//!   tree's fragments are skipped as that report skips them: the last part counts as the
//!   request, with the calls it holds and the whole request's duration when the client
//!   sent it.
//! * Names are capped per type as the Transaction report caps them (and spend the hour's
//!   entry budget); the requests folded into `OTHERS` are counted in the report's
//!   `folded`. CAT kept the 400 busiest names when it wrote the report and folded the rest
//!   there, with their counts only.
//!
//! No minute rows: the report is small (three call kinds per name) and merges across
//! machines and hours by adding up; a day, week or month ([`MatrixDay`]) is its hours
//! added up.

mod analyzer;
mod day;
mod report;
#[cfg(test)]
mod tests;

pub use analyzer::MatrixAnalyzer;
pub(crate) use analyzer::{is_entry_type, RequestCalls};
pub use day::{MatrixDay, MatrixDayView, MatrixSpanView};
pub use report::{MatrixCallsView, MatrixNameView, MatrixReport, MatrixView};
