//! A resource module's routes, and the list of what they serve, made by the
//! same calls: the OpenAPI test compares the document with this list, so a
//! route added without its documentation (or the reverse) fails it.

use axum::Router;
use axum::handler::Handler;
use axum::routing::MethodRouter;

use super::AppState;

/// One routed method and path (an axum path template, as in OpenAPI).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Route {
    /// Lower case, as OpenAPI writes it.
    pub method: &'static str,
    pub path: &'static str,
}

pub(super) struct Routes {
    router: Router<AppState>,
    served: Vec<Route>,
}

impl Routes {
    pub fn new() -> Self {
        Self {
            router: Router::new(),
            served: Vec::new(),
        }
    }

    pub fn get<H, T>(self, path: &'static str, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.route("get", path, axum::routing::get(handler))
    }

    /// `method_router` serves `method` (and may have a fallback for others).
    pub fn route(
        mut self,
        method: &'static str,
        path: &'static str,
        method_router: MethodRouter<AppState>,
    ) -> Self {
        self.router = self.router.route(path, method_router);
        self.served.push(Route { method, path });
        self
    }

    /// Applies `f` to the router (e.g. a `route_layer` for these routes).
    pub fn map_router(mut self, f: impl FnOnce(Router<AppState>) -> Router<AppState>) -> Self {
        self.router = f(self.router);
        self
    }

    pub fn merge(mut self, other: Self) -> Self {
        self.router = self.router.merge(other.router);
        self.served.extend(other.served);
        self
    }

    pub fn into_router(self) -> Router<AppState> {
        self.router
    }

    pub fn served(&self) -> &[Route] {
        &self.served
    }
}
