//! Ocelot's web server (`ocelot-web`): what a person sees. Server-rendered pages (the report
//! boards and LogView), the JSON API and CAT's `/cat/s/router` endpoint, all on one axum
//! [`Router`](axum::Router).
//!
//! Where it sits: the collector feeds the store and the analyzers; this crate reads from
//! them through small traits ([`MessageLookup`] for stored trees, [`ReportSource`] for the
//! hourly reports) so it never depends on the collector and its handlers can be tested
//! without a socket.
//!
//! * [`router`] builds the whole app from an [`AppState`]; [`run`] serves it on a listener
//!   until a shutdown future resolves ([`serve`] serves any router, within [`ServeLimits`]:
//!   a deadline on each request's headers and on each write of an answer, a cap on
//!   connections and on the bytes of the answers being sent).
//! * Boards: home `/` (domain health), `/t` transactions, `/e` events, `/p` problems, `/h`
//!   heartbeats, `/metric`, `/d` dependencies, `/matrix` (the calls each request makes),
//!   `/state`, `/alerts`; LogView `/m/{id}` and the trace page `/trace/{id}` (the trees of
//!   a request across services on one waterfall).
//!   Transactions, events and problems also show a whole UTC day (`day=YYYYMMDD`, on their
//!   boards and API). JSON: `/api/{hours, domains, transaction, event, problem, heartbeat,
//!   metric, dependency, matrix, state, alerts}`, `/api/message/{id}` and `/api/trace?id=`.
//!   CAT's addresses redirect to ours: its report pages (`/cat/r/t`, `/cat/r/e`, `/cat/r/p`,
//!   `/cat/r/h`, `/cat/r/matrix` and others, their dates read in CAT's zone:
//!   [`AppState::with_cat_utc_offset_seconds`]) and its LogView (`/cat/r/m/{id}`); the
//!   boards and the API refuse CAT's `date=`, naming `hour=` (UTC): the same value would
//!   name another hour than on `/cat/r/...`.
//! * Every page shares one layout with a message-ID search box and a nav bar whose links
//!   keep the domain, period and machine shown, as CAT's do; CSS, icons and the one
//!   optional script are compiled into the binary (no CDN, works offline). Under the nav,
//!   a banner says when alerts fire or the server is not saving what it receives, from a
//!   [`SharedHealth`] sample the server's runner fills (none: no banner).
//! * Every string from a message is HTML-escaped (maud escapes all `(..)` splices), and a
//!   page shows control characters (from a message or a parameter) written out as `\u{..}`.
//!
//! ```
//! use std::sync::Arc;
//! use ocelot_web::{router, AppState, MemoryLookup, MemoryReports};
//!
//! let reports = MemoryReports::new(1_795_333_200_000);
//! let state = AppState::new(Arc::new(MemoryLookup::new())).with_reports(Arc::new(reports));
//! let app: axum::Router = router(state);
//! # drop(app);
//! ```

mod alerts_page;
mod api;
mod api_cache;
mod api_params;
mod auth;
mod board;
mod cat_report_urls;
mod cat_router;
mod chart;
mod comparison;
mod cors;
mod cpu;
mod daily;
mod day;
mod day_cache;
mod dependency_page;
mod error;
mod event_board;
mod folded_note;
mod gzip;
mod health;
mod heartbeat_page;
mod home;
mod hour;
mod layout;
mod links;
mod logview;
mod lookup;
mod matrix_page;
mod metric_page;
mod problem_board;
mod report_source;
mod security_headers;
mod selection;
mod server;
mod state;
mod state_page;
mod time;
mod trace;
mod transaction_board;
mod write_deadline;

pub use day_cache::{DayCache, DayCacheStats};
pub use gzip::gzip_answers;
pub use health::{ServerHealth, SharedHealth};
pub use logview::older_than_kept;
pub use lookup::{MemoryLookup, MessageLookup, StoredTree};
pub use report_source::{BoxFuture, MemoryReports, ReportSource};
pub use server::{
    router, run, serve, serve_counted, ClientAddrs, ServeLimits, ServeStats, ServeStatsSnapshot,
    DEFAULT_DRAIN_TIMEOUT, DEFAULT_HEADER_READ_TIMEOUT, DEFAULT_MAX_ANSWER_BYTES_IN_FLIGHT,
    DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_CONNECTION_LIFETIME, DEFAULT_WRITE_TIMEOUT,
};
pub use state::{AppState, AuthConfig, BasicCredentials, CatRouterConfig, DEFAULT_COLLECTOR_PORT};
