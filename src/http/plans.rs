//! `GET /plans`, `GET /plans/{packageCode}` and the upstream-shaped mirror
//! `GET /api/products/aggregator`.

use axum::Router;
use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use bytes::Bytes;

use super::respond::{self, JSON, Payload};
use super::{ApiError, AppState};
use crate::query::{PlanQuery, parse_pairs, parse_ref};
use crate::referral::RefCode;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/plans", get(plans_list))
        .route("/plans/{packageCode}", get(plans_show))
        .route("/api/products/aggregator", get(aggregator_mirror))
}

/// The ref named in a query that only takes `ref` (and the ignored `key`).
fn ref_only(raw: Option<&str>) -> Result<Option<RefCode>, ApiError> {
    let pairs = parse_pairs(raw, &["ref"])?;
    Ok(match pairs.first() {
        Some((_, value)) => Some(parse_ref(value)?),
        None => None,
    })
}

async fn plans_list(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let query = PlanQuery::parse(raw.as_deref())?;
    let catalog = respond::catalog(&state)?;
    let who = respond::attribute(&state, query.ref_code.clone(), &headers)?;
    let status = state.store.status();
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
                let mut out = Vec::with_capacity(64 + selection.page.len() * 420);
                out.extend_from_slice(b"{\"plans\":[");
                for (n, &i) in selection.page.iter().enumerate() {
                    if n > 0 {
                        out.push(b',');
                    }
                    catalog.write_plan(&mut out, i, ref_code, false);
                }
                let tail = format!(
                    "],\"total\":{},\"limit\":{},\"offset\":{},",
                    selection.total, query.limit, query.offset
                );
                out.extend_from_slice(tail.as_bytes());
                Bytes::from(out)
            });
            Payload::Page(page, respond::catalog_meta_tail(&catalog, &status))
        },
    ))
}

async fn plans_show(
    State(state): State<AppState>,
    code: Result<Path<String>, PathRejection>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Path(code) = code.map_err(|_| ApiError::InvalidParameter {
        parameter: Some("packageCode".into()),
        message: "packageCode is not valid UTF-8".into(),
    })?;
    let explicit = ref_only(raw.as_deref())?;
    let catalog = respond::catalog(&state)?;
    let who = respond::attribute(&state, explicit, &headers)?;
    let index = catalog.index_of(&code).ok_or_else(|| {
        ApiError::NotFound(format!("no plan with packageCode {:?}", truncate(&code)))
    })?;
    let status = state.store.status();
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
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let explicit = ref_only(raw.as_deref())?;
    let catalog = respond::catalog(&state)?;
    let who = respond::attribute(&state, explicit, &headers)?;
    let status = state.store.status();
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
