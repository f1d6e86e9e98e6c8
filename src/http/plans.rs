//! `GET /plans`, `GET /plans/{packageCode}` and the upstream-shaped mirror
//! `GET /api/products/aggregator`.

use axum::Router;
use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use bytes::Bytes;

use super::extract::{CatalogView, Query, RefOnly};
use super::respond::{self, JSON, Payload};
use super::{ApiError, AppState, shapes};
use crate::query::PlanQuery;
use crate::referral::RefCode;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/plans", get(plans_list))
        .route("/plans/{packageCode}", get(plans_show))
        .route("/api/products/aggregator", get(aggregator_mirror))
}

async fn plans_list(
    State(state): State<AppState>,
    Query(query): Query<PlanQuery>,
    CatalogView { catalog, status }: CatalogView,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let who = respond::attribute(&state, query.ref_code.clone(), &headers)?;
    let canonical = query.canonical();
    let ref_code = who.ref_code.as_ref();
    let etag = respond::etag(&catalog, status.stale, "plans", &canonical, ref_code);
    let max_age = respond::max_age(&state, &status);
    Ok(respond::cached(
        &state,
        &headers,
        &etag,
        max_age,
        JSON,
        || {
            let key = format!("plans|{canonical}|{}", ref_code.map_or("", RefCode::as_str));
            let page = state.responses.get_with(&catalog, &state.store, &key, || {
                let selection = query.run(&catalog);
                Bytes::from(shapes::plan_page(&catalog, &selection, &query, ref_code))
            });
            Payload::Page(page, shapes::catalog_block(&catalog, &status))
        },
    ))
}

async fn plans_show(
    State(state): State<AppState>,
    code: Result<Path<String>, PathRejection>,
    Query(RefOnly(explicit)): Query<RefOnly>,
    CatalogView { catalog, status }: CatalogView,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Path(code) = code.map_err(|_| ApiError::InvalidParameter {
        parameter: Some("packageCode".into()),
        message: "packageCode is not valid UTF-8".into(),
    })?;
    let who = respond::attribute(&state, explicit, &headers)?;
    let index = catalog.index_of(&code).ok_or_else(|| {
        ApiError::NotFound(format!("no plan with packageCode {:?}", truncate(&code)))
    })?;
    let ref_code = who.ref_code.as_ref();
    let etag = respond::etag(&catalog, status.stale, "plan", &code, ref_code);
    let max_age = respond::max_age(&state, &status);
    Ok(respond::cached(
        &state,
        &headers,
        &etag,
        max_age,
        JSON,
        || {
            let mut out = Vec::with_capacity(512);
            catalog.write_plan(&mut out, index, ref_code, false);
            Payload::Plain(Body::from(out))
        },
    ))
}

async fn aggregator_mirror(
    State(state): State<AppState>,
    Query(RefOnly(explicit)): Query<RefOnly>,
    CatalogView { catalog, status }: CatalogView,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let who = respond::attribute(&state, explicit, &headers)?;
    let ref_code = who.ref_code.as_ref();
    let etag = respond::etag(&catalog, false, "mirror", "", ref_code);
    let max_age = respond::max_age(&state, &status);
    Ok(respond::cached(
        &state,
        &headers,
        &etag,
        max_age,
        JSON,
        || {
            let key = format!("mirror|{}", ref_code.map_or("", RefCode::as_str));
            let page = state.responses.get_with(&catalog, &state.store, &key, || {
                let mut out = Vec::with_capacity(catalog.len() * 420 + 128);
                catalog.write_feed(&mut out, ref_code, &[]);
                Bytes::from(out)
            });
            Payload::Page(page, Bytes::new())
        },
    ))
}

fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
}
