//! `GET /trips`: the cheapest ways to cover a multi-country itinerary.

use super::extract::{CatalogView, Query};
use super::respond::{self, PageKey};
use super::{ApiError, AppState, shapes};
use crate::trips::TripQuery;
use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/trips", get(trips_quote))
}

async fn trips_quote(
    State(state): State<AppState>,
    Query(query): Query<TripQuery>,
    view: CatalogView,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let who = respond::attribute(&state, query.ref_code.clone(), &headers)?;
    let canonical = query.canonical();
    let ref_code = who.ref_code.as_ref();
    let key = PageKey {
        route: "trips",
        query: &canonical,
        ref_code,
        with_catalog_block: true,
    };
    Ok(respond::page(&state, &headers, &view, key, || {
        let plan = query.run(&view.catalog);
        shapes::trip_quote(&view.catalog, &query, &plan, ref_code)
    }))
}
