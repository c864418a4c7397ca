//! The home page. For now a starting point: find a message by ID and see what the
//! server offers; the per-domain health table lands with the report boards.

use axum::routing::get;
use axum::Router;
use maud::{html, Markup};

use crate::layout::page;
use crate::state::AppState;

/// The routes of this module.
pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/", get(home))
}

async fn home() -> Markup {
    page(
        "Home",
        "/",
        html! {
            section.hero {
                h1 { "What is slow, what fails, and one request in detail" }
                p.lead {
                    "Ocelot collects message trees from CAT clients and the Ocelot SDK. "
                    "Paste a message ID into the search box to open its LogView: every "
                    "transaction on a shared time axis, with statuses, durations and data."
                }
            }
            section.cards {
                a.card href="/t" { h2 { "Transactions" } p { "Counts, failures and percentiles per type and name." } }
                a.card href="/p" { h2 { "Problems" } p { "Errors, long URLs, long SQL, grouped by category." } }
                a.card href="/h" { h2 { "Heartbeats" } p { "CPU, memory and threads of every machine." } }
                a.card href="/cat/s/router?op=json" { h2 { "Client router" } p { "What CAT clients are told to connect to." } }
            }
        },
    )
}
