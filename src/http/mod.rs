//! The HTTP surface: [`router`] merges one module per resource and wraps them in
//! the middleware stack. Handlers only read prepared data from the current
//! catalog; nothing here parses upstream JSON or talks to upstream.

mod admin;
mod cache;
mod countries;
pub mod encoding;
pub mod error;
mod extract;
mod health;
mod history;
mod mcp;
mod middleware;
pub mod openapi;
mod ops;
mod plans;
mod respond;
mod routes;
mod shapes;
mod trips;
mod ui;

use std::sync::Arc;

use arc_swap::ArcSwap;
use axum::Router;

pub use cache::ResponseCache;
pub use error::ApiError;
pub use routes::Route;

use routes::Routes;

use crate::catalog::CatalogStore;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::referral::PartnerRegistry;
use crate::sync::SyncHandle;

/// Shared state of every handler. Each part is its own `Arc`, held
/// explicitly (no `Deref` to a bag of fields), and the configuration is the
/// parsed [`Config`] itself rather than copies of its fields.
#[derive(Clone)]
pub struct AppState {
    /// The settings the process started with.
    pub config: Arc<Config>,
    /// The current catalog and sync status.
    pub store: Arc<CatalogStore>,
    /// Catalog versions, changes and price history (`/changes`, `/history`).
    pub history: Arc<crate::history::History>,
    pub metrics: Arc<Metrics>,
    /// The partner registry, when `PARTNERS_FILE` is set; swapped on reload.
    pub partners: Option<Arc<ArcSwap<PartnerRegistry>>>,
    /// Asks the sync task for a refresh; `None` in demo mode.
    pub sync: Option<SyncHandle>,
    /// Rendered response bodies keyed by catalog version and normalised query,
    /// so a repeated query costs one lookup.
    pub responses: Arc<ResponseCache>,
}

/// The catalog searches, which the MCP tools also call in-process.
fn catalog_routes() -> Routes {
    Routes::new()
        .merge(plans::routes())
        .merge(countries::routes())
        .merge(trips::routes())
}

/// Every documented route: the catalog, history, health, admin, ops and UI.
fn api_routes() -> Routes {
    catalog_routes()
        .merge(history::routes())
        .merge(health::routes())
        .merge(admin::routes())
        .merge(ops::routes())
        .merge(ui::routes())
}

/// What the router serves besides `/mcp` (a protocol endpoint, described by
/// MCP's own `tools/list`, not by OpenAPI). `POST /admin/refresh` answers 404
/// unless `ADMIN_TOKEN` is set.
pub fn served_routes() -> Vec<Route> {
    api_routes().served().to_vec()
}

/// The whole application router.
pub fn router(state: AppState) -> Router {
    let tools = catalog_routes()
        .into_router()
        .fallback(middleware::not_found)
        .with_state(state.clone());
    let routes = api_routes()
        .into_router()
        .merge(mcp::router(state.clone(), tools))
        .fallback(middleware::not_found)
        .method_not_allowed_fallback(middleware::method_not_allowed)
        .with_state(state.clone());
    middleware::stack(routes, state)
}
