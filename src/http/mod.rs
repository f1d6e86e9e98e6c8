//! The HTTP surface: [`router`] merges one module per resource and wraps them in
//! the middleware stack. Handlers only read prepared data from the current
//! catalog; nothing here parses upstream JSON or talks to upstream.

mod admin;
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
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use axum::Router;
use bytes::Bytes;

pub use error::ApiError;
pub use routes::Route;

use routes::Routes;

use crate::catalog::sync::SyncHandle;
use crate::catalog::{Catalog, CatalogStore};
use crate::config::Config;
use crate::metrics::Metrics;
use crate::referral::PartnerRegistry;

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

/// Rendered bodies of catalog responses, bounded by total size. Keys carry the
/// catalog version, and the first request that sees a new catalog drops every
/// entry of the old one, so a sync never leaves dead pages in memory.
pub struct ResponseCache {
    cache: moka::sync::Cache<String, Arc<encoding::Page>>,
    version: AtomicU64,
}

impl ResponseCache {
    pub fn new(max_bytes: u64) -> Self {
        Self {
            cache: moka::sync::Cache::builder()
                .max_capacity(max_bytes)
                // Counted with room for the compressed forms made later
                // (JSON compresses 5-10 times; both forms add under half).
                .weigher(|key: &String, page: &Arc<encoding::Page>| {
                    u32::try_from(key.len() + page.identity().len() * 3 / 2).unwrap_or(u32::MAX)
                })
                .time_to_idle(Duration::from_secs(600))
                .build(),
            version: AtomicU64::new(0),
        }
    }

    /// The body cached under `key` for `catalog`, rendering it on a miss.
    /// `current` is the catalog being served now: a request still holding
    /// the previous one must not flush the new one's pages.
    pub fn get_with(
        &self,
        catalog: &Catalog,
        current: &CatalogStore,
        key: &str,
        render: impl FnOnce() -> Bytes,
    ) -> Arc<encoding::Page> {
        let version = catalog.content_hash();
        if self.version.load(Ordering::Relaxed) != version
            && current
                .catalog()
                .is_some_and(|c| c.content_hash() == version)
            && self.version.swap(version, Ordering::Relaxed) != version
        {
            self.cache.invalidate_all();
        }
        self.cache.get_with(format!("{version:x}|{key}"), || {
            Arc::new(encoding::Page::new(render()))
        })
    }
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

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;
    use crate::catalog::Outcome;
    use crate::catalog::synthetic;

    #[test]
    fn a_request_on_the_previous_catalog_does_not_flush_the_current_pages() {
        let store = CatalogStore::new();
        let old = Catalog::from_plans("t", synthetic::plans(10, 1), SystemTime::now());
        let new = Arc::new(Catalog::from_plans(
            "t",
            synthetic::plans(12, 1),
            SystemTime::now(),
        ));
        store.publish(new.clone(), Outcome::Ok, SystemTime::now());
        let cache = ResponseCache::new(1 << 20);

        let page = cache.get_with(&new, &store, "k", || Bytes::from_static(b"new"));
        assert_eq!(page.identity(), "new");
        // A reader that loaded the old catalog before the swap finishes late.
        let late = cache.get_with(&old, &store, "k", || Bytes::from_static(b"old"));
        assert_eq!(late.identity(), "old", "keys carry the version");
        cache.cache.run_pending_tasks();
        let again = cache.get_with(&new, &store, "k", || panic!("the current page was flushed"));
        assert_eq!(again.identity(), "new");
    }
}
