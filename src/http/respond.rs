//! What every catalog-derived response shares: the catalog-or-503 check, the
//! referral code a request resolves to, `ETag`/`304` and `Cache-Control`.

use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::SystemTime;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use super::{ApiError, AppState};
use crate::catalog::{Catalog, SyncStatus};
use crate::referral::RefCode;

/// The current catalog, or 503 `catalog_unavailable` before the first one.
pub(super) fn catalog(state: &AppState) -> Result<Arc<Catalog>, ApiError> {
    state.store.catalog().ok_or(ApiError::CatalogUnavailable)
}

/// The referral code a request resolves to, and the partner it belongs to.
#[derive(Debug, Default)]
pub(super) struct Attribution {
    pub ref_code: Option<RefCode>,
    pub partner: Option<String>,
}

/// An explicit `ref` wins; without one, a registered partner origin supplies
/// its partner's ref. With a registry, a ref nobody owns is `unknown_ref`.
pub(super) fn attribute(
    state: &AppState,
    explicit: Option<RefCode>,
    headers: &HeaderMap,
) -> Result<Attribution, ApiError> {
    let Some(partners) = &state.partners else {
        return Ok(Attribution {
            ref_code: explicit,
            partner: None,
        });
    };
    let registry = partners.load();
    let attribution = match explicit {
        Some(code) => {
            let partner = registry
                .by_ref(&code)
                .ok_or_else(|| ApiError::UnknownRef(code.to_string()))?;
            Attribution {
                partner: Some(partner.id.clone()),
                ref_code: Some(code),
            }
        }
        None => headers
            .get(header::ORIGIN)
            .and_then(|o| o.to_str().ok())
            .and_then(|o| registry.by_origin(o))
            .map(|p| Attribution {
                ref_code: Some(p.ref_code.clone()),
                partner: Some(p.id.clone()),
            })
            .unwrap_or_default(),
    };
    if let Some(id) = &attribution.partner {
        state.metrics.record_partner(id);
    }
    Ok(attribution)
}

/// A strong validator for a response derived from `catalog`: equal catalog
/// content, route, normalised query, ref and staleness give equal ETags.
pub(super) fn etag(
    catalog: &Catalog,
    stale: bool,
    route: &str,
    query: &str,
    ref_code: Option<&RefCode>,
) -> String {
    let mut hasher = std::hash::DefaultHasher::new();
    (
        catalog.version(),
        stale,
        route,
        query,
        ref_code.map(RefCode::as_str),
    )
        .hash(&mut hasher);
    format!("\"{:016x}\"", hasher.finish())
}

/// Seconds a client may cache a catalog response: never past the next sync.
pub(super) fn max_age(state: &AppState, status: &SyncStatus) -> u64 {
    const CAP: u64 = 300;
    if state.demo {
        return CAP;
    }
    status
        .next_sync_at
        .and_then(|at| at.duration_since(SystemTime::now()).ok())
        .map_or(0, |d| d.as_secs().min(CAP))
}

fn matches_if_none_match(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim())
        .any(|t| t == "*" || t.strip_prefix("W/").unwrap_or(t) == etag)
}

/// A JSON (or other) body with its validators, or `304` when the client has it.
pub(super) fn cached(
    headers: &HeaderMap,
    etag: &str,
    max_age: u64,
    content_type: &'static str,
    body: impl FnOnce() -> Bytes,
) -> Response {
    let etag_value = HeaderValue::from_str(etag).expect("hex ETags are valid headers");
    let cache_control = HeaderValue::from_str(&format!("public, max-age={max_age}"))
        .expect("a number is a valid header");
    if matches_if_none_match(headers, etag) {
        return (
            StatusCode::NOT_MODIFIED,
            [
                (header::ETAG, etag_value),
                (header::CACHE_CONTROL, cache_control),
            ],
        )
            .into_response();
    }
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::ETAG, etag_value),
            (header::CACHE_CONTROL, cache_control),
        ],
        body(),
    )
        .into_response()
}

/// Appends `"catalog":{updatedAt, ageSeconds, stale, planCount}`.
pub(super) fn write_catalog_meta(out: &mut Vec<u8>, catalog: &Catalog, status: &SyncStatus) {
    let updated_at = humantime::format_rfc3339_seconds(catalog.updated_at());
    let age = SystemTime::now()
        .duration_since(catalog.updated_at())
        .unwrap_or_default()
        .as_secs();
    let meta = format!(
        "\"catalog\":{{\"updatedAt\":\"{updated_at}\",\"ageSeconds\":{age},\"stale\":{},\"planCount\":{}}}",
        status.stale,
        catalog.len()
    );
    out.extend_from_slice(meta.as_bytes());
}

pub(super) const JSON: &str = "application/json";
