//! What every handler can reach: [`AppState`] and the configuration it carries.
//!
//! To give handlers something new (the analyzers' reports, the collector's health), add a
//! field here and a `with_..` builder; handlers read it through `State<AppState>`.

use std::fmt;
use std::net::SocketAddrV4;
use std::sync::Arc;

use crate::lookup::MessageLookup;
use crate::report_source::{MemoryReports, ReportSource};

/// CAT's port for client TCP traffic, advertised by the router unless configured otherwise.
pub const DEFAULT_COLLECTOR_PORT: u16 = 2280;

/// Shared state of the web app. Cheap to clone: everything sits behind an `Arc`.
#[derive(Clone)]
pub struct AppState {
    /// Finds stored trees for LogView and `/api/message/{id}`.
    pub lookup: Arc<dyn MessageLookup>,
    /// The hourly reports the boards and the JSON API show.
    pub reports: Arc<dyn ReportSource>,
    /// What `/cat/s/router` tells clients.
    pub cat_router: Arc<CatRouterConfig>,
    /// Credentials for pages and the API; none by default.
    pub auth: Arc<AuthConfig>,
    /// The alert evaluator's log, shown on `/alerts` and `GET /api/alerts` (empty: no rules).
    pub alerts: ocelot_alert::AlertLog,
    /// The home page's rows, reused for a few seconds.
    pub(crate) home_rows: Arc<crate::home::HomeRows>,
    /// Past days merged once, for the day, week and month views (none kept by default).
    pub days: Arc<crate::day_cache::DayCache>,
    /// The zone of the dates in CAT's report addresses (`/cat/r/t?date=..`), seconds east
    /// of UTC: 0 (UTC) by default.
    pub(crate) cat_utc_offset_seconds: i32,
    /// The server's own health, as last sampled by whoever runs the collector: the banner
    /// on every page and the State page's "Saving now" (nothing while never sampled).
    pub health: crate::health::SharedHealth,
    /// The origins whose browser pages may read the JSON API (CORS), `*` for any; none
    /// by default ([`AppState::with_cors_allow_origins`]).
    pub(crate) cors_allow_origins: Arc<[String]>,
}

impl AppState {
    /// State with no reports (an empty [`MemoryReports`]), the default router answer and
    /// no authentication.
    pub fn new(lookup: Arc<dyn MessageLookup>) -> Self {
        AppState {
            lookup,
            reports: Arc::new(MemoryReports::default()),
            alerts: ocelot_alert::AlertLog::new(),
            cat_router: Arc::new(CatRouterConfig::default()),
            auth: Arc::new(AuthConfig::default()),
            home_rows: Arc::default(),
            days: Arc::default(),
            cat_utc_offset_seconds: 0,
            health: crate::health::SharedHealth::default(),
            cors_allow_origins: Arc::new([]),
        }
    }

    /// Reads the dates of CAT's report addresses (`/cat/r/t?date=2026120719`, from CAT's
    /// alarm mails and bookmarks) in this zone, seconds east of UTC: a CAT server writes
    /// them in its local time (+08:00, 28800, in most deployments), our boards take UTC.
    #[must_use]
    pub fn with_cat_utc_offset_seconds(mut self, seconds: i32) -> Self {
        self.cat_utc_offset_seconds = seconds;
        self
    }

    /// Lets browser pages of these origins (`https://grafana.example.com`, or `*` for any)
    /// read the JSON API: preflights answered, `Access-Control-Allow-Origin` on its
    /// answers (see the `cors` module). Empty, as by default: no cross-origin reads.
    #[must_use]
    pub fn with_cors_allow_origins(mut self, origins: impl IntoIterator<Item = String>) -> Self {
        self.cors_allow_origins = origins.into_iter().collect();
        self
    }

    /// Keeps past days merged for the day, week and month views, within about `bytes`
    /// (estimated from the entries they hold; 0 keeps none). A week or month then merges
    /// its past days once, not their 24 hours on every request.
    #[must_use]
    pub fn with_day_cache_bytes(mut self, bytes: u64) -> Self {
        let bytes = usize::try_from(bytes).unwrap_or(usize::MAX);
        self.days = Arc::new(crate::day_cache::DayCache::new(bytes));
        self
    }

    /// Shows the health samples put into `health` ([`SharedHealth::set`]) on every page.
    ///
    /// [`SharedHealth::set`]: crate::SharedHealth::set
    #[must_use]
    pub fn with_health(mut self, health: crate::health::SharedHealth) -> Self {
        self.health = health;
        self
    }

    /// Shows this alert log on `/alerts` and `GET /api/alerts`.
    #[must_use]
    pub fn with_alerts(mut self, alerts: ocelot_alert::AlertLog) -> Self {
        self.alerts = alerts;
        self
    }

    /// Replaces the source of reports.
    #[must_use]
    pub fn with_reports(mut self, reports: Arc<dyn ReportSource>) -> Self {
        self.reports = reports;
        self
    }

    /// Replaces the router configuration.
    #[must_use]
    pub fn with_cat_router(mut self, config: CatRouterConfig) -> Self {
        self.cat_router = Arc::new(config);
        self
    }

    /// Replaces the authentication configuration.
    #[must_use]
    pub fn with_auth(mut self, auth: AuthConfig) -> Self {
        self.auth = Arc::new(auth);
        self
    }
}

impl fmt::Debug for AppState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppState")
            .field("cat_router", &self.cat_router)
            .field("auth", &self.auth)
            .field("cat_utc_offset_seconds", &self.cat_utc_offset_seconds)
            .field("cors_allow_origins", &self.cors_allow_origins)
            .finish_non_exhaustive()
    }
}

/// What `GET /cat/s/router` answers (CAT 3.1.0 semantics, reference section 4.2).
#[derive(Debug, Clone, PartialEq)]
pub struct CatRouterConfig {
    /// Collector addresses to advertise, in order. Empty means: `collector_port` on the
    /// local IPv4 address the client reached this web server on. IPv4 only, because the C
    /// client accepts nothing else.
    pub routers: Vec<SocketAddrV4>,
    /// The collector's TCP port, used when `routers` is empty.
    pub collector_port: u16,
    /// Client-side sampling rate in (0, 1]. Never 0: the C client divides by it.
    pub sample: f64,
    /// `true` tells clients to stop sending.
    pub block: bool,
    /// `;`-separated type prefixes the Java client batches as atomic trees.
    pub start_transaction_types: String,
    /// `;`-separated type names the Java client batches as atomic trees.
    pub match_transaction_types: String,
}

impl Default for CatRouterConfig {
    fn default() -> Self {
        CatRouterConfig {
            routers: Vec::new(),
            collector_port: DEFAULT_COLLECTOR_PORT,
            sample: 1.0,
            block: false,
            start_transaction_types: String::new(),
            match_transaction_types: String::new(),
        }
    }
}

/// Optional authentication. The router endpoint is always open: CAT clients cannot log in.
///
/// * Pages need `basic` credentials when set.
/// * `/api/...` accepts the bearer `api_token` or the `basic` credentials, and is open only
///   when neither is set.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct AuthConfig {
    /// Token for `Authorization: Bearer <token>` on the JSON API.
    pub api_token: Option<String>,
    /// User and password for HTTP basic auth on pages (and the API).
    pub basic: Option<BasicCredentials>,
}

impl AuthConfig {
    /// Whether any credential is configured.
    pub fn is_enabled(&self) -> bool {
        self.api_token.is_some() || self.basic.is_some()
    }
}

impl fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print secrets into logs.
        f.debug_struct("AuthConfig")
            .field("api_token", &self.api_token.as_ref().map(|_| "<set>"))
            .field("basic", &self.basic)
            .finish()
    }
}

/// A user name and password for HTTP basic auth.
#[derive(Clone, PartialEq, Eq)]
pub struct BasicCredentials {
    /// The user name.
    pub username: String,
    /// The password.
    pub password: String,
}

impl BasicCredentials {
    /// Credentials from a user name and password.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        BasicCredentials {
            username: username.into(),
            password: password.into(),
        }
    }
}

impl fmt::Debug for BasicCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BasicCredentials")
            .field("username", &self.username)
            .field("password", &"<set>")
            .finish()
    }
}
