//! `GET /trips`: the cheapest ways to cover a multi-country itinerary.

use super::extract::{CatalogView, Query};
use super::respond::{self, JSON, Payload};
use super::{ApiError, AppState, shapes};
use crate::referral::RefCode;
use crate::trips::TripQuery;
use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use bytes::Bytes;

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/trips", get(trips_quote))
}

async fn trips_quote(
    State(state): State<AppState>,
    Query(query): Query<TripQuery>,
    CatalogView { catalog, status }: CatalogView,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let who = respond::attribute(&state, query.ref_code.clone(), &headers)?;
    let canonical = query.canonical();
    let ref_code = who.ref_code.as_ref();
    let etag = respond::etag(&catalog, status.stale, "trips", &canonical, ref_code);
    let max_age = respond::max_age(&state, &status);
    Ok(respond::cached(
        &state,
        &headers,
        &etag,
        max_age,
        JSON,
        || {
            let key = format!("trips|{canonical}|{}", ref_code.map_or("", RefCode::as_str));
            let page = state.responses.get_with(&catalog, &state.store, &key, || {
                let plan = query.run(&catalog);
                Bytes::from(shapes::trip_quote(&catalog, &query, &plan, ref_code))
            });
            Payload::Page(page, shapes::catalog_block(&catalog, &status))
        },
    ))
}
