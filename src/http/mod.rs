//! The HTTP surface: [`router`] merges one module per resource and wraps them in
//! the edge policy. Handlers only read prepared data from the current
//! catalog; nothing here parses upstream JSON or talks to upstream.
//!
//! Four rooms, as the tree shows them:
//!
//! * **Resource routes**, one module per resource, each returning its
//!   [`Routes`]: `plans` (and the mirror), `countries` (and `/regions`),
//!   `trips`, `export`, `history`, `atom`, `clicks`, `webhooks`, `admin`,
//!   `health`, `ops`, `ui`; with what they share: `extract` (typed query,
//!   partner, market, catalog view, admin auth) and `error` (the one error
//!   type).
//! * **`pages/`**, the page pipeline: `respond` (ETag, 304, `Cache-Control`,
//!   the one responder), `cache` (rendered pages by catalog content and
//!   query), `encoding` (each page compressed once per encoding), `shapes`
//!   (every JSON shape) and `stream` (large bodies rendered while sent).
//! * **`edge/`**, the policy every request meets before a handler: the layer
//!   stack, fallbacks, request ids, the URI bound, per-group limits
//!   (concurrency, timeout, rate, body), metrics and CORS.
//! * **Adapters** to other protocols: `mcp/` (the tools over the catalog
//!   routes), `openapi` (the document) and `routes` (the route list both
//!   the router and the OpenAPI test are built from).

mod admin;
mod atom;
mod clicks;
mod countries;
mod edge;
pub mod error;
mod export;
mod extract;
mod health;
mod history;
mod mcp;
pub mod openapi;
mod ops;
pub mod pages;
mod plans;
mod routes;
mod trips;
mod ui;
mod webhooks;

use std::sync::Arc;

use arc_swap::ArcSwap;
use axum::Router;

pub use error::ApiError;
pub use pages::cache::ResponseCache;
pub use routes::Route;

use edge::Policy;
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
    /// Clicks on `/go` links: buffered, written in batches, reported.
    pub clicks: Arc<crate::clicks::ClickLog>,
    /// The webhook sender (`/admin/webhooks`).
    pub webhooks: Arc<crate::webhooks::deliver::Sender>,
    /// The fleet this replica belongs to (SPEC section 13); `None` when it
    /// syncs for itself.
    pub fleet: Option<Arc<crate::fleet::Fleet>>,
    /// The exchange rates in force, for display currencies.
    pub rates: Arc<crate::markets::RatesStore>,
    /// Rendered response bodies keyed by catalog content and normalised query,
    /// so a repeated query costs one lookup.
    pub responses: Arc<ResponseCache>,
}

impl AppState {
    /// Who syncs: `single`, or the fleet role of this replica.
    pub fn role(&self) -> crate::sync::Role {
        self.fleet
            .as_ref()
            .map_or(crate::sync::Role::Single, |f| f.role())
    }

    /// What the plans of a response made for `partner` link to: its ref, and
    /// `/go` under `PUBLIC_URL` when that is set.
    fn links<'a>(&'a self, partner: &'a extract::Partner) -> crate::catalog::Links<'a> {
        crate::catalog::Links::new(partner.ref_code.as_ref(), self.config.public_url.as_deref())
    }
}

/// The catalog searches, which the MCP tools also call in-process.
fn catalog_routes() -> Routes {
    Routes::new()
        .merge(plans::routes())
        .merge(countries::routes())
        .merge(trips::routes())
        .merge(export::routes())
}

/// What clients call besides the catalog searches: history, the OpenAPI
/// document and the UI. These and the catalog routes pass the client limits.
fn client_routes() -> Routes {
    catalog_routes()
        .merge(history::routes())
        .merge(atom::routes())
        .merge(clicks::routes())
        .merge(clicks::report_routes())
        .merge(ops::document_routes())
        .merge(ui::routes())
}

/// What orchestrators and scrapers poll: never behind the client limits.
fn probe_routes() -> Routes {
    health::routes().merge(ops::metrics_routes())
}

/// Every documented route: the catalog, history, health, admin, ops and UI.
fn api_routes() -> Routes {
    client_routes()
        .merge(admin::routes())
        .merge(webhooks::routes())
        .merge(probe_routes())
}

/// What the router serves besides `/mcp` (a protocol endpoint, described by
/// MCP's own `tools/list`, not by OpenAPI). `POST /admin/refresh` answers 404
/// unless `ADMIN_TOKEN` is set.
pub fn served_routes() -> Vec<Route> {
    api_routes().served().to_vec()
}

/// The whole application router. Each group carries its own limits: the
/// client routes and `/mcp` the rate limit, their body limit (16 KiB of
/// stray body; an MCP message up to 1 MiB), the concurrency limit and
/// `REQUEST_TIMEOUT`; the admin refresh the same without the timeout (it
/// waits for its sync); the probes and `/metrics` none.
pub fn router(state: AppState) -> Router {
    let tools = catalog_routes()
        .into_router()
        .fallback(edge::not_found)
        .with_state(state.clone());
    let limits = edge::Limits::new(&state);
    let clients = limits.apply(client_routes().into_router(), Policy::NO_BODY);
    let mcp = limits.apply(
        mcp::router(state.clone(), tools),
        Policy {
            timeout: true,
            max_body: mcp::MAX_BODY,
        },
    );
    let admin = limits.apply(
        admin::routes().merge(webhooks::routes()).into_router(),
        Policy {
            timeout: false,
            ..Policy::NO_BODY
        },
    );
    let routes = clients
        .merge(mcp)
        .merge(admin)
        .merge(probe_routes().into_router())
        .fallback(edge::not_found)
        .method_not_allowed_fallback(edge::method_not_allowed)
        .with_state(state.clone());
    edge::stack(routes, state)
}
