//! Ocelot's web server (`ocelot-web`): the axum router with the dashboards, LogView, the
//! JSON API and CAT's `/cat/s/router` endpoint.
//!
//! Not written yet: see issues "Web UI" and "Collector and analyzers" (JSON API).
