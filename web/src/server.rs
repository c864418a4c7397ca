//! Assembling the app ([`router`]) and serving it ([`run`]).

use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use axum::extract::connect_info::Connected;
use axum::routing::any;
use axum::serve::IncomingStream;
use axum::Router;
use tokio::net::TcpListener;

use crate::auth::{exposure_warning, require_auth};
use crate::error::{api_not_found, method_not_allowed, not_found_page};
use crate::security_headers::add_security_headers;
use crate::state::AppState;
use crate::{
    alerts_page, api, cat_report_urls, cat_router, dependency_page, event_board, heartbeat_page,
    home, layout, logview, metric_page, problem_board, state_page, transaction_board,
};

/// Both ends of a client's TCP connection, available to handlers as
/// `ConnectInfo<ClientAddrs>` when served by [`run`].
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

impl Connected<IncomingStream<'_, TcpListener>> for ClientAddrs {
    fn connect_info(stream: IncomingStream<'_, TcpListener>) -> Self {
        let unknown = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0));
        ClientAddrs {
            local: stream.io().local_addr().unwrap_or(unknown),
            remote: *stream.remote_addr(),
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

/// Serves [`router`] on `listener` until `shutdown` resolves, then finishes the requests in
/// flight and returns.
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
    let app = router(state).into_make_service_with_connect_info::<ClientAddrs>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
