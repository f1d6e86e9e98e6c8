//! `GET /countries`: every covered country with its plan count and lowest price.

use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use bytes::Bytes;

use super::extract::{CatalogView, NoParameters, Query};
use super::respond::{self, JSON, Payload};
use super::{ApiError, AppState, shapes};

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/countries", get(countries_list))
}

async fn countries_list(
    State(state): State<AppState>,
    _: Query<NoParameters>,
    CatalogView { catalog, status }: CatalogView,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let etag = respond::etag(&catalog, false, "countries", "", None);
    let max_age = respond::max_age(&state, &status);
    Ok(respond::cached(
        &state,
        &headers,
        &etag,
        max_age,
        JSON,
        || {
            let page = state
                .responses
                .get_with(&catalog, &state.store, "countries", || {
                    Bytes::from(shapes::countries(&catalog))
                });
            Payload::Page(page, Bytes::new())
        },
    ))
}
