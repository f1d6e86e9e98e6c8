//! `GET /changes` (the change feed) and `GET /plans/{packageCode}/history`
//! (price history with the EU "lowest price in 30 days"). Both read the
//! history database; ETags are a hash of the body, so replicas sharing one
//! PostgreSQL give equal tags for equal answers.

use std::time::SystemTime;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use bytes::Bytes;

use super::extract::{CatalogView, FromQuery, NoParameters, PackageCode, Query};
use super::pages::respond::{self, JSON, Payload};
use super::pages::shapes;
use super::routes::Routes;
use super::{ApiError, AppState};
use crate::history::{self, Change};
use crate::query::QueryError;
use crate::query::changes::{ChangesQuery, Cursor};

pub(super) fn routes() -> Routes {
    Routes::new()
        .get("/changes", changes_list)
        .get("/plans/{packageCode}/history", history_show)
}

impl FromQuery for ChangesQuery {
    fn from_query(raw: Option<&str>) -> Result<Self, QueryError> {
        ChangesQuery::parse(raw)
    }
}

/// The version in use has no recorded changes yet (the database was slow
/// or down when it came): answering now would skip them.
pub(super) fn require_recorded(view: &CatalogView) -> Result<(), ApiError> {
    if view.catalog.is_recorded() {
        Ok(())
    } else {
        Err(ApiError::HistoryUnavailable(
            "the current catalog version is not recorded yet; retry shortly",
        ))
    }
}

async fn changes_list(
    State(state): State<AppState>,
    Query(query): Query<ChangesQuery>,
    view: CatalogView,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    require_recorded(&view)?;
    let current = view.catalog.version();
    if query.since > current {
        return Err(ApiError::InvalidParameter {
            parameter: Some("since".into()),
            message: format!(
                "since {} is above the current version {current}",
                query.since
            ),
        });
    }
    if query.since < current {
        let oldest = state.history.oldest_kept().await?;
        if !history::changes_kept_after(query.since, oldest) {
            let kept = oldest.map_or("no version is kept".to_owned(), |(v, _)| {
                format!("the oldest kept version is {v}")
            });
            return Err(ApiError::HistoryExpired(format!(
                "changes after version {} are no longer kept; {kept}",
                query.since
            )));
        }
    }
    let page = state
        .history
        .changes(
            query.since,
            current,
            query.after.as_ref().map(|(v, c)| (*v, c.as_str())),
            query.limit,
        )
        .await?;
    let next = page
        .more
        .then(|| page.changes.last())
        .flatten()
        .map(|c: &Change| {
            Cursor {
                since: query.since,
                version: c.version,
                package_code: c.package_code.clone(),
            }
            .encode()
        });
    let bytes = shapes::changes_page(query.since, current, &page.changes, next);
    Ok(body_response(&state, &view, &headers, bytes, JSON))
}

async fn history_show(
    State(state): State<AppState>,
    PackageCode(code): PackageCode,
    _: Query<NoParameters>,
    view: CatalogView,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    require_recorded(&view)?;
    let prices = state.history.prices(&code).await?;
    if prices.is_empty() {
        let shown: String = code.chars().take(64).collect();
        return Err(ApiError::NotFound(format!(
            "no price history for packageCode {shown:?}"
        )));
    }
    let lowest = history::lowest_price_30d(&prices, SystemTime::now());
    let bytes = shapes::price_history(&code, &prices, lowest);
    Ok(body_response(&state, &view, &headers, bytes, JSON))
}

/// A body with a weak ETag derived from its bytes. It is read from the
/// database on every request, but the same body served again is not
/// compressed again: its page (and compressed forms) is kept in the
/// response cache under its hash.
pub(super) fn body_response(
    state: &AppState,
    view: &CatalogView,
    headers: &HeaderMap,
    bytes: Vec<u8>,
    content_type: &'static str,
) -> Response {
    let hash = xxhash_rust::xxh3::xxh3_64(&bytes);
    let etag = format!("W/\"{hash:016x}\"");
    let max_age = respond::max_age(state, &view.status);
    respond::cached(state, headers, &etag, max_age, content_type, || {
        Payload::Page(state.responses.get_with(
            &view.catalog,
            &state.store,
            format_args!("body|{content_type}|{hash:016x}"),
            || Bytes::from(bytes),
        ))
    })
}
