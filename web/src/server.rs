//! Assembling the app ([`router`]) and serving it ([`run`], [`serve`]).
//!
//! We serve connections with hyper ourselves rather than with `axum::serve`, which sets no
//! deadline on a request's headers: a client that sent half a request held its connection
//! (and a file descriptor, shared with the collector) for good.

use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::http::Request;
use axum::routing::any;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tower::ServiceExt;

use crate::auth::{exposure_warning, require_auth};
use crate::error::{api_not_found, method_not_allowed, not_found_page};
use crate::security_headers::add_security_headers;
use crate::state::AppState;
use crate::{
    alerts_page, api, cat_report_urls, cat_router, dependency_page, event_board, heartbeat_page,
    home, layout, logview, metric_page, problem_board, state_page, transaction_board,
};

/// How long a client may take to send a request's headers. The clock also runs while a
/// kept-alive connection waits for its next request, so an idle connection closes after it
/// too. Browsers and CAT clients send their headers at once; ten seconds leaves room for a
/// slow link and frees a slot held by a client that never finishes.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections served at once. A few people's browsers and the CAT clients' short router
/// calls need far fewer; the cap keeps a flood of connections from taking the file
/// descriptors the collector and the store need. Beyond it, new connections wait in the
/// listen backlog until a slot frees.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;

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
}

impl Default for ServeLimits {
    fn default() -> Self {
        ServeLimits {
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_connection_lifetime: DEFAULT_MAX_CONNECTION_LIFETIME,
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
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

/// The whole web app: pages, API and CAT's router endpoint.
///
/// Page and API modules each contribute a `routes()` sub-router; everything except the
/// router endpoint sits behind the optional authentication layer. To add a page, write a
/// module with `pub(crate) fn routes() -> Router<AppState>` and merge it below.
pub fn router(state: AppState) -> Router {
    let protected = Router::new()
        .merge(home::routes())
        .merge(logview::routes())
        .merge(cat_report_urls::routes())
        .merge(api::routes())
        .merge(transaction_board::routes())
        .merge(event_board::routes())
        .merge(problem_board::routes())
        .merge(heartbeat_page::routes())
        .merge(metric_page::routes())
        .merge(dependency_page::routes())
        .merge(state_page::routes())
        .merge(alerts_page::routes())
        // Unknown API paths answer JSON; more specific `/api/...` routes win over this.
        .route("/api/{*path}", any(api_not_found))
        // The wildcard takes no empty path: the API's root is unknown as well, in JSON.
        .route("/api", any(api_not_found))
        .route("/api/", any(api_not_found))
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
        .layer(axum::middleware::from_fn(add_security_headers));
    // The router endpoint stays bare: CAT clients read at most 2047 bytes of it.
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
/// has not sent a request's headers within `limits.header_read_timeout` is disconnected,
/// and at most `limits.max_connections` are served at once.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ServeLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let slots = Arc::new(Semaphore::new(
        limits.max_connections.clamp(1, Semaphore::MAX_PERMITS),
    ));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        // A slot before the connection: while every slot is taken, newcomers wait in the
        // listen backlog and hold no file descriptor of ours.
        let slot = tokio::select! {
            _ = &mut shutdown => break,
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
        };
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
        let connection = serve_connection(
            stream,
            remote,
            app.clone(),
            limits.header_read_timeout,
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
/// (then after the request in progress). `_slot` frees its place when this returns.
async fn serve_connection(
    stream: TcpStream,
    remote: SocketAddr,
    app: Router,
    header_read_timeout: Duration,
    mut stop: watch::Receiver<bool>,
    _slot: OwnedSemaphorePermit,
) {
    let addrs = ClientAddrs::of(&stream, remote);
    let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(addrs));
        app.clone().oneshot(request)
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout);
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
    // A client that went away or timed out is routine, not worth more than a debug line.
    if let Err(e) = result {
        tracing::debug!(%remote, error = %e, "web connection ended with an error");
    }
}
