//! `GET /countries`: every covered country with its plan count and lowest price.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;

use super::extract::{CatalogView, NoParameters, Query};
use super::respond::{self, PageKey};
use super::routes::Routes;
use super::{ApiError, AppState, shapes};

pub(super) fn routes() -> Routes {
    Routes::new().get("/countries", countries_list)
}

async fn countries_list(
    State(state): State<AppState>,
    _: Query<NoParameters>,
    view: CatalogView,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let key = PageKey {
        route: "countries",
        query: "",
        links: crate::catalog::Links::default(),
        with_catalog_block: true,
    };
    Ok(respond::page(&state, &headers, &view, key, || {
        shapes::countries(&view.catalog)
    }))
}
