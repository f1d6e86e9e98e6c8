//! `GET /countries`: every covered country with its plan count and lowest price.

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use bytes::Bytes;
use serde::Serialize;

use super::respond::{self, JSON, Payload};
use super::{ApiError, AppState};
use crate::query::parse_pairs;

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/countries", get(countries_list))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Country<'a> {
    code: &'a str,
    name: &'a str,
    plan_count: usize,
    min_price: f64,
}

async fn countries_list(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    parse_pairs(raw.as_deref(), &[])?;
    let catalog = respond::catalog(&state)?;
    let status = state.store.status();
    let etag = respond::etag(&catalog, false, "countries", "", None);
    let max_age = respond::max_age(&state, &status);
    Ok(respond::cached(
        &state,
        &headers,
        &etag,
        max_age,
        JSON,
        || {
            Payload::Page(
                state
                    .responses
                    .get_with(&catalog, &state.store, "countries", || {
                        let rows: Vec<Country> = catalog
                            .countries()
                            .iter()
                            .map(|c| Country {
                                code: c.code.as_str(),
                                name: &c.name,
                                plan_count: c.plan_count,
                                min_price: c.min_price,
                            })
                            .collect();
                        Bytes::from(serde_json::to_vec(&rows).expect("plain data serialises"))
                    }),
                Bytes::new(),
            )
        },
    ))
}
