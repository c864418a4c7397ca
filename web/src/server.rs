//! Assembling the app ([`router`]) and serving it ([`run`], [`serve`]).
//!
//! We serve connections with hyper ourselves rather than with `axum::serve`, which sets no
//! deadline on a request's headers: a client that sent half a request held its connection
//! (and a file descriptor, shared with the collector) for good.
//!
//! What a connection can hold is bounded three ways: a deadline on each request's headers
//! (hyper's), a deadline on each write of an answer ([`WriteDeadline`]: a client that reads
//! nothing is closed), and a budget for the bytes of the answers being sent, all connections
//! together ([`AnswerBudget`]: past it, a large answer is refused with 503). Board pages are
//! megabytes each; without the last two, 300 clients that asked for one and never read it
//! held 2.8 GB. [`ServeStats`] counts each of them, for `/metrics`.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes, HttpBody as _};
use axum::extract::ConnectInfo;
use axum::http::{header, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tower::ServiceExt;

use crate::write_deadline::WriteDeadline;

use crate::auth::{exposure_warning, require_auth};
use crate::error::{api_not_found, method_not_allowed, not_found_page, ApiError};
use crate::security_headers::add_security_headers;
use crate::state::AppState;
use crate::{
    alerts_page, api, cat_report_urls, cat_router, dependency_page, event_board, heartbeat_page,
    home, layout, logview, metric_page, problem_board, state_page, trace, transaction_board,
};

/// How long a client may take to send a request's headers. The clock also runs while a
/// kept-alive connection waits for its next request, so an idle connection closes after it
/// too. Browsers and CAT clients send their headers at once; ten seconds leaves room for a
/// slow link and frees a slot held by a client that never finishes.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections served at once. A few people's browsers and the CAT clients' short router
/// calls need far fewer; the cap keeps a flood of connections from taking the file
/// descriptors the collector and the store need. Beyond it, new connections wait in the
/// listen backlog until a slot frees (counted and logged: [`ServeStats`]).
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;

/// How long a write of an answer may wait for the client to read before the connection is
/// closed. A browser reads as fast as the page arrives; a client that read nothing for
/// this long has stopped, and its answer is memory held for nothing.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// Bytes of answers being sent, all connections together, before large answers are
/// refused with 503 (see [`ServeLimits::max_answer_bytes_in_flight`]). A busy domain's
/// board is 2-3 MiB: about a hundred at once, far more than a team looks at together.
pub const DEFAULT_MAX_ANSWER_BYTES_IN_FLIGHT: usize = 256 << 20;

/// Answers up to this size are sent without taking from the answer budget: the router
/// endpoint, API errors and small pages still answer while the budget is spent, and 1024
/// connections hold 16 MiB of them at most.
const SMALL_ANSWER_BYTES: u64 = 16 << 10;

/// What a client refused for the answer budget is told to wait: answers in flight are sent
/// (or their clients closed by the write timeout) in seconds.
const BUSY_RETRY_AFTER_SECS: &str = "2";

/// At most one line per this long for each kind of connection trouble, with the count of
/// those held back: a flood of slow clients must not flood the log.
const TROUBLE_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// How long to wait before accepting again after a failed accept (out of file
/// descriptors, say), instead of spinning; the warning is logged once per such wait.
const ACCEPT_RETRY_DELAY: Duration = Duration::from_secs(1);

/// How long one connection is served at most, however busy. The header timeout only runs
/// while a request is awaited: a client that sends requests and never reads the answers
/// would otherwise hold its slot (and a stop) for as long as it likes. Pages and API
/// answers take milliseconds; a browser simply opens a new connection after this.
pub const DEFAULT_MAX_CONNECTION_LIFETIME: Duration = Duration::from_secs(300);

/// How long a stop waits for the connections' requests in flight before it closes them.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Limits on the connections [`serve`] takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeLimits {
    /// How long a client may take to send a request's headers, or to start its next
    /// request on a kept-alive connection; then the connection is closed.
    pub header_read_timeout: Duration,
    /// Connections served at once (at least one).
    pub max_connections: usize,
    /// How long one connection is served at most ([`DEFAULT_MAX_CONNECTION_LIFETIME`]).
    pub max_connection_lifetime: Duration,
    /// How long a stop lets requests in flight finish ([`DEFAULT_DRAIN_TIMEOUT`]).
    pub drain_timeout: Duration,
    /// How long a write of an answer may make no progress before the connection is closed
    /// ([`DEFAULT_WRITE_TIMEOUT`]).
    pub write_timeout: Duration,
    /// Bytes of answers being sent at once, all connections together
    /// ([`DEFAULT_MAX_ANSWER_BYTES_IN_FLIGHT`]). An answer over 16 KiB that does not fit is
    /// dropped and replaced by a 503 with `Retry-After`; one larger than the whole budget
    /// is sent when nothing else is.
    pub max_answer_bytes_in_flight: usize,
}

impl Default for ServeLimits {
    fn default() -> Self {
        ServeLimits {
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_connection_lifetime: DEFAULT_MAX_CONNECTION_LIFETIME,
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
            write_timeout: DEFAULT_WRITE_TIMEOUT,
            max_answer_bytes_in_flight: DEFAULT_MAX_ANSWER_BYTES_IN_FLIGHT,
        }
    }
}

/// Both ends of a client's TCP connection, available to handlers as
/// `ConnectInfo<ClientAddrs>` when served by [`run`] or [`serve`].
///
/// The router endpoint needs the *local* end: it advertises the collector on the address
/// the client reached this server on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddrs {
    /// Our address as the client dialled it.
    pub local: SocketAddr,
    /// The client's address.
    pub remote: SocketAddr,
}

impl ClientAddrs {
    fn of(stream: &TcpStream, remote: SocketAddr) -> Self {
        let unknown = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0));
        ClientAddrs {
            local: stream.local_addr().unwrap_or(unknown),
            remote,
        }
    }
}

/// What [`serve_counted`] did with its connections, for `/metrics`. Each kind of trouble is
/// also logged, at most one line per 10 s with the count held back.
#[derive(Debug, Default)]
pub struct ServeStats {
    connections_open: AtomicU64,
    connections_total: AtomicU64,
    slots_full: AtomicU64,
    write_timeouts: AtomicU64,
    answers_refused: AtomicU64,
    answer_bytes_held: AtomicU64,
    slots_full_log: TroubleLog,
    write_timeout_log: TroubleLog,
    answers_refused_log: TroubleLog,
}

/// The figures of [`ServeStats`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServeStatsSnapshot {
    /// Connections being served.
    pub connections_open: u64,
    /// Connections served since start.
    pub connections_total: u64,
    /// Connections that found every slot (`max_connections`) taken and waited for one to
    /// free (those behind them wait in the listen backlog, uncounted).
    pub slots_full: u64,
    /// Connections closed because the client read nothing of its answer for the write
    /// timeout.
    pub write_timeouts: u64,
    /// Answers refused with 503 because the answers being sent held the whole budget.
    pub answers_refused: u64,
    /// Bytes of answers being sent now, from the budget.
    pub answer_bytes_held: u64,
}

impl ServeStats {
    /// The figures now.
    pub fn snapshot(&self) -> ServeStatsSnapshot {
        ServeStatsSnapshot {
            connections_open: self.connections_open.load(Relaxed),
            connections_total: self.connections_total.load(Relaxed),
            slots_full: self.slots_full.load(Relaxed),
            write_timeouts: self.write_timeouts.load(Relaxed),
            answers_refused: self.answers_refused.load(Relaxed),
            answer_bytes_held: self.answer_bytes_held.load(Relaxed),
        }
    }

    fn note_slots_full(&self, max_connections: usize) {
        self.slots_full.fetch_add(1, Relaxed);
        self.slots_full_log.log(|held_back| {
            tracing::warn!(max_connections, held_back, "web server: every connection slot is busy (web.max_connections); new connections wait until one frees");
        });
    }

    pub(crate) fn note_write_timeout(&self, remote: SocketAddr, timeout: Duration) {
        self.write_timeouts.fetch_add(1, Relaxed);
        self.write_timeout_log.log(|held_back| {
            tracing::warn!(%remote, ?timeout, held_back, "web server: the client read nothing of its answer within web.write_timeout_secs; closing the connection");
        });
    }

    fn note_answer_refused(&self, remote: SocketAddr, bytes: u64) {
        self.answers_refused.fetch_add(1, Relaxed);
        self.answers_refused_log.log(|held_back| {
            let held = self.answer_bytes_held.load(Relaxed);
            tracing::warn!(%remote, bytes, held, held_back, "web server: answers being sent hold web.answer_mib_in_flight; answering 503 instead");
        });
    }
}

/// One line per [`TROUBLE_LOG_INTERVAL`], with how many were held back since the last.
#[derive(Debug, Default)]
struct TroubleLog {
    last: Mutex<Option<Instant>>,
    held_back: AtomicU64,
}

impl TroubleLog {
    fn log(&self, emit: impl FnOnce(u64)) {
        let now = Instant::now();
        {
            let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
            if last.is_some_and(|t| now.saturating_duration_since(t) < TROUBLE_LOG_INTERVAL) {
                self.held_back.fetch_add(1, Relaxed);
                return;
            }
            *last = Some(now);
        }
        emit(self.held_back.swap(0, Relaxed));
    }
}

/// The bytes of the answers being sent, all connections together, in KiB permits (a
/// semaphore takes at most `u32::MAX` at once).
#[derive(Debug, Clone)]
struct AnswerBudget {
    kib: Arc<Semaphore>,
    total_kib: u32,
    stats: Arc<ServeStats>,
}

impl AnswerBudget {
    fn new(bytes: usize, stats: Arc<ServeStats>) -> Self {
        let total_kib = u32::try_from(bytes.div_ceil(1024))
            .unwrap_or(u32::MAX)
            .clamp(1, u32::try_from(Semaphore::MAX_PERMITS).unwrap_or(u32::MAX));
        AnswerBudget {
            kib: Arc::new(Semaphore::new(total_kib as usize)),
            total_kib,
            stats,
        }
    }

    /// `response` holding its share of the budget until its last byte is sent or its
    /// connection dropped; or a 503 if the budget is spent (JSON for an `api` path). Answers
    /// of unknown length (streamed) and small ones go as they are. A gzipped answer
    /// (`gzip.rs`) is whole and of known length, so its compressed bytes are counted.
    async fn hold(&self, response: Response, remote: SocketAddr, api: bool) -> Response {
        let Some(bytes) = response.body().size_hint().exact() else {
            return response;
        };
        if bytes <= SMALL_ANSWER_BYTES {
            return response;
        }
        let kib = u32::try_from(bytes.div_ceil(1024))
            .unwrap_or(u32::MAX)
            .min(self.total_kib);
        let Ok(permit) = self.kib.clone().try_acquire_many_owned(kib) else {
            // Dropped now: waiting for room would hold it all the same.
            drop(response);
            self.stats.note_answer_refused(remote, bytes);
            return busy(api);
        };
        let (parts, body) = response.into_parts();
        let body = match axum::body::to_bytes(body, usize::MAX).await {
            Ok(body) => body,
            Err(e) => {
                tracing::error!(%remote, error = %e, "web server: an answer's body failed");
                return StatusCode::INTERNAL_SERVER_ERROR.into_response();
            }
        };
        self.stats
            .answer_bytes_held
            .fetch_add(body.len() as u64, Relaxed);
        // hyper keeps the body's bytes queued (not copied: see `writev` in
        // `serve_connection`) until they are written, so the permit goes with the last
        // reference to them, however long the client takes to read.
        let held = HeldAnswer {
            body,
            _permit: permit,
            stats: self.stats.clone(),
        };
        Response::from_parts(parts, Body::from(Bytes::from_owner(held)))
    }
}

/// An answer's bytes and the budget they hold.
struct HeldAnswer {
    body: Bytes,
    _permit: OwnedSemaphorePermit,
    stats: Arc<ServeStats>,
}

impl AsRef<[u8]> for HeldAnswer {
    fn as_ref(&self) -> &[u8] {
        &self.body
    }
}

impl Drop for HeldAnswer {
    fn drop(&mut self) {
        self.stats
            .answer_bytes_held
            .fetch_sub(self.body.len() as u64, Relaxed);
    }
}

/// The answer when the answer budget is spent: JSON on the API, as its other errors.
fn busy(api: bool) -> Response {
    let retry = [(header::RETRY_AFTER, BUSY_RETRY_AFTER_SECS)];
    if api {
        return (retry, ApiError::Busy).into_response();
    }
    (
        StatusCode::SERVICE_UNAVAILABLE,
        retry,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "The server is busy sending other large answers; try again in a few seconds.\n",
    )
        .into_response()
}

/// The whole web app: pages, API and CAT's router endpoint.
///
/// Page and API modules each contribute a `routes()` sub-router; everything except the
/// router endpoint sits behind the optional authentication layer. To add a page, write a
/// module with `pub(crate) fn routes() -> Router<AppState>` and merge it below.
pub fn router(state: AppState) -> Router {
    let protected = Router::new()
        .merge(home::routes())
        .merge(logview::routes())
        .merge(trace::routes())
        .merge(cat_report_urls::routes())
        .merge(api::routes())
        .merge(transaction_board::routes())
        .merge(event_board::routes())
        .merge(problem_board::routes())
        .merge(heartbeat_page::routes())
        .merge(metric_page::routes())
        .merge(dependency_page::routes())
        .merge(crate::matrix_page::routes())
        .merge(state_page::routes())
        .merge(alerts_page::routes())
        // Unknown API paths answer JSON; more specific `/api/...` routes win over this.
        .route("/api/{*path}", any(api_not_found))
        // The wildcard takes no empty path: the API's root is unknown as well, in JSON.
        .route("/api", any(api_not_found))
        .route("/api/", any(api_not_found))
        // Sealed periods' API answers may be reused a while; the rest not.
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::api_cache::api_cache_control,
        ))
        // A parameter an endpoint does not take is a 400 before its handler runs.
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::api_params::check_api_params,
        ))
        // Inside the login: a page asking for credentials says nothing of the server.
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::health::with_health,
        ))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            require_auth,
        ));
    // Assets stay open so the login and error pages are styled; they hold no data.
    let pages = Router::new()
        .merge(protected)
        .merge(layout::routes())
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(not_found_page)
        // Outside the login: a browser's preflight carries no credentials.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::cors::api_cors,
        ))
        .layer(axum::middleware::from_fn(add_security_headers))
        // Outermost, so it compresses the final answer, which the budget then counts.
        .layer(axum::middleware::from_fn(crate::gzip::gzip_answers));
    // The router endpoint stays bare (and never gzipped): CAT clients read at most 2047
    // bytes of it.
    Router::new()
        .merge(pages)
        .merge(cat_router::routes())
        .with_state(state)
}

/// Serves [`router`] on `listener` with the [default limits](ServeLimits::default) until
/// `shutdown` resolves, then finishes the requests in flight and returns.
///
/// Warns loudly when the listener is reachable from other machines and no credentials
/// are configured.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let addr = listener.local_addr()?;
    if let Some(warning) = exposure_warning(addr, &state.auth) {
        tracing::warn!("{warning}");
    }
    tracing::info!(%addr, "web server listening");
    serve(listener, router(state), ServeLimits::default(), shutdown).await
}

/// Serves `app` (HTTP/1) on `listener` until `shutdown` resolves; then stops accepting,
/// lets every connection finish the request it is on, and returns.
///
/// Handlers find the connection's addresses as `ConnectInfo<ClientAddrs>`. A client that
/// has not sent a request's headers within `limits.header_read_timeout`, or has read
/// nothing of its answer for `limits.write_timeout`, is disconnected; at most
/// `limits.max_connections` are served at once, and the answers being sent hold at most
/// `limits.max_answer_bytes_in_flight` (larger ones are refused with 503).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ServeLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    serve_counted(listener, app, limits, Arc::default(), shutdown).await
}

/// [`serve`], counting what it does with its connections in `stats`.
pub async fn serve_counted(
    listener: TcpListener,
    app: Router,
    limits: ServeLimits,
    stats: Arc<ServeStats>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let slots = Arc::new(Semaphore::new(
        limits.max_connections.clamp(1, Semaphore::MAX_PERMITS),
    ));
    let budget = AnswerBudget::new(limits.max_answer_bytes_in_flight, stats.clone());
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, remote) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // A client gone before we took its connection is no trouble of ours.
                    if !matches!(
                        e.kind(),
                        io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
                    ) {
                        tracing::warn!(error = %e, "web server: accept failed");
                        tokio::time::sleep(ACCEPT_RETRY_DELAY).await;
                    }
                    continue;
                }
            },
        };
        // While every slot is taken, this connection waits for one (counted: idle or slow
        // clients holding every slot delay everyone else), and the newcomers behind it
        // wait in the listen backlog, holding no file descriptor of ours.
        let slot = match slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                stats.note_slots_full(limits.max_connections);
                tokio::select! {
                    _ = &mut shutdown => break,
                    slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
                }
            }
        };
        let connection = serve_connection(
            stream,
            remote,
            app.clone(),
            limits,
            budget.clone(),
            stop_rx.clone(),
            slot,
        );
        let lifetime = limits.max_connection_lifetime;
        connections.spawn(async move {
            if tokio::time::timeout(lifetime, connection).await.is_err() {
                tracing::debug!(%remote, "web connection closed at its lifetime bound");
            }
        });
        // Reap finished connection tasks so the set does not grow without bound.
        while connections.try_join_next().is_some() {}
    }
    // New connections are refused from here on, while the open ones finish their
    // requests, for as long as the drain timeout allows.
    drop(listener);
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(limits.drain_timeout, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            connections = connections.len(),
            "web server: connections still busy at the end of the stop's drain time are closed"
        );
        connections.shutdown().await;
    }
    Ok(())
}

/// Serves one connection until the client closes it, it breaks, or `stop` turns true
/// (then after the request in progress). `_slot` frees its place when this returns or is
/// dropped (at the connection's lifetime bound).
async fn serve_connection(
    stream: TcpStream,
    remote: SocketAddr,
    app: Router,
    limits: ServeLimits,
    budget: AnswerBudget,
    mut stop: watch::Receiver<bool>,
    _slot: OwnedSemaphorePermit,
) {
    let addrs = ClientAddrs::of(&stream, remote);
    let _open = Open::count(budget.stats.clone());
    let stream = WriteDeadline::new(stream, limits.write_timeout, remote, budget.stats.clone());
    let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(addrs));
        let app = app.clone();
        let budget = budget.clone();
        async move {
            let api = crate::api::is_api_path(request.uri().path());
            let response = app.oneshot(request).await?;
            Ok::<_, Infallible>(budget.hold(response, remote, api).await)
        }
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        // Answers' bytes are queued as they are, not copied into hyper's buffer, so an
        // answer's budget is held exactly as long as its bytes (see `AnswerBudget::hold`).
        .writev(true);
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    // The borrow `wait_for` returns must not live across an await: the task must be `Send`.
    let stopped = async move {
        let _ = stop.wait_for(|stop| *stop).await;
    };
    let result = tokio::select! {
        result = connection.as_mut() => result,
        () = stopped => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    // A client that went away or timed out is routine, not worth more than a debug line
    // (a client that stopped reading is counted and logged by `WriteDeadline`).
    if let Err(e) = result {
        tracing::debug!(%remote, error = %e, "web connection ended with an error");
    }
}

/// Counts a connection as open for as long as it lives, however its task ends.
struct Open(Arc<ServeStats>);

impl Open {
    fn count(stats: Arc<ServeStats>) -> Open {
        stats.connections_open.fetch_add(1, Relaxed);
        stats.connections_total.fetch_add(1, Relaxed);
        Open(stats)
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0.connections_open.fetch_sub(1, Relaxed);
    }
}
