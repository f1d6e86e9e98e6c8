//! What every catalog-derived response shares: `ETag`/`304`,
//! `Cache-Control`, the response cache and compressed pages.

use std::sync::Arc;
use std::time::SystemTime;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use super::encoding::{Encoding, Page};
use crate::catalog::{Catalog, Links, SyncStatus};
use crate::http::extract::{CatalogView, FromQuery, Market, Partner, Query};
use crate::http::{ApiError, AppState};
use crate::referral::RefCode;

/// A weak validator for a response derived from `catalog`: equal catalog
/// content, route, normalised query, ref and staleness give equal ETags, on
/// every replica and release (xxh3 is fixed by its specification).
/// Weak because the body is served in several encodings, and because bodies
/// that differ only in `updatedAt` (the same content and version fetched
/// again after a restart) are equivalent: the tag stays stable across
/// restarts. The version is part of it, so a 304 never confirms a body that
/// shows another version.
pub(in crate::http) fn etag(
    catalog: &Catalog,
    stale: bool,
    route: &str,
    query: &str,
    links: Links<'_>,
) -> String {
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    // The version too: the body shows it, and it can change for the same
    // content (a provisional number replaced once recorded).
    hasher.update(&catalog.content_hash().to_le_bytes());
    hasher.update(&catalog.version().to_le_bytes());
    hasher.update(&[u8::from(stale)]);
    let ref_code = links.ref_code.map_or("", RefCode::as_str);
    let (currency, rate_date) = display_key(links);
    for part in [
        route,
        query,
        ref_code,
        links.click_base.unwrap_or(""),
        currency,
        rate_date,
    ] {
        hasher.update(part.as_bytes());
        hasher.update(&[0]);
    }
    format!("W/\"{:016x}\"", hasher.digest())
}

/// What a page's display prices depend on: the currency and the rates' date.
fn display_key<'a>(links: Links<'a>) -> (&'a str, &'a str) {
    links
        .display
        .map_or(("", ""), |d| (d.currency(), d.rate_date().unwrap_or("")))
}

/// Seconds a client may cache a catalog response: never past the next sync.
pub(in crate::http) fn max_age(state: &AppState, status: &SyncStatus) -> u64 {
    const CAP: u64 = 300;
    if state.config.is_demo() {
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
        .any(|t| t == "*" || weak(t) == weak(etag))
}

/// The opaque part of an entity tag (`If-None-Match` compares weakly).
fn weak(tag: &str) -> &str {
    tag.strip_prefix("W/").unwrap_or(tag)
}

/// What identifies a cached catalog page: the route, its normalised query and
/// the ref; `with_catalog_block` when the body ends with the `catalog` block
/// (then staleness is part of the tag too).
pub(in crate::http) struct PageKey<'a> {
    pub route: &'static str,
    pub query: &'a str,
    pub links: Links<'a>,
    pub with_catalog_block: bool,
}

/// The one responder for "a cached catalog page": ETag and 304,
/// `Cache-Control`, and the page from the response cache (rendered on a
/// miss, the `catalog` block included when the shape has one) in the
/// negotiated encoding.
pub(in crate::http) fn page(
    state: &AppState,
    headers: &HeaderMap,
    view: &CatalogView,
    key: PageKey<'_>,
    render: impl FnOnce() -> Vec<u8>,
) -> Response {
    let CatalogView { catalog, status } = view;
    let stale = key.with_catalog_block && status.stale;
    let etag = etag(catalog, stale, key.route, key.query, key.links);
    cached(state, headers, &etag, max_age(state, status), JSON, || {
        let (currency, rate_date) = display_key(key.links);
        // What the `catalog` block shows beyond the content (whose hash
        // prefixes every key) is in the key: a page is the same bytes for
        // as long as it is cached. The block itself is rendered on a miss.
        let (version, shown_stale, updated_at) = if key.with_catalog_block {
            (
                catalog.version(),
                status.stale,
                catalog.updated_at_rfc3339(),
            )
        } else {
            (0, false, "")
        };
        let cache_key = format_args!(
            "{}|{}|{}|{currency}|{rate_date}|{version}|{shown_stale}|{updated_at}",
            key.route,
            key.query,
            key.links.ref_code.map_or("", RefCode::as_str),
        );
        Payload::Page(
            state
                .responses
                .get_with(catalog, &state.store, cache_key, || {
                    let mut body = render();
                    if key.with_catalog_block {
                        let block = super::shapes::catalog_block(catalog, status);
                        body.extend_from_slice(block.as_bytes());
                    }
                    Bytes::from(body)
                }),
        )
    })
}

/// A route's typed query whose answer is a cached page closed by the
/// `catalog` block: `/plans` and `/trips`.
pub(in crate::http) trait SearchQuery: FromQuery + Send + 'static {
    /// Names the route in ETags and cache keys.
    const ROUTE: &'static str;
    /// Everything that shapes the answer except the ref, normalised.
    fn canonical(&self) -> String;
    /// The page up to and including `"catalog":`; the block follows.
    fn render(&self, catalog: &Catalog, links: Links<'_>) -> Vec<u8>;
}

/// The handler of a [`SearchQuery`] route: the query, the partner it is
/// made for, then the cached page.
pub(in crate::http) async fn search<Q: SearchQuery>(
    State(state): State<AppState>,
    Query(query): Query<Q>,
    partner: Partner,
    market: Market,
    view: CatalogView,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let canonical = query.canonical();
    let links = state.links(&partner).with_display(market.display.as_ref());
    let key = PageKey {
        route: Q::ROUTE,
        query: &canonical,
        links,
        with_catalog_block: true,
    };
    Ok(page(&state, &headers, &view, key, || {
        query.render(&view.catalog, links)
    }))
}

/// What a cached response sends.
pub(in crate::http) enum Payload {
    /// A page sent in the best encoding the client accepts, each form made
    /// once (see [`super::encoding`]).
    Page(Arc<Page>),
    /// A small body sent as it is.
    Plain(Body),
    /// A body made while it is sent, already in this encoding.
    Streamed(Body, Encoding),
}

/// A JSON (or other) body with its validators, or `304` when the client has
/// it. Every answer varies by `Accept-Encoding`, the 304 included.
pub(in crate::http) fn cached(
    state: &AppState,
    headers: &HeaderMap,
    etag: &str,
    max_age: u64,
    content_type: &'static str,
    body: impl FnOnce() -> Payload,
) -> Response {
    let etag_value = HeaderValue::from_str(etag).expect("hex ETags are valid headers");
    let cache_control = HeaderValue::from_str(&format!(
        "public, max-age={max_age}, stale-while-revalidate=60, stale-if-error=86400"
    ))
    .expect("a number is a valid header");
    let vary = (header::VARY, HeaderValue::from_static("accept-encoding"));
    if matches_if_none_match(headers, etag) {
        return (
            StatusCode::NOT_MODIFIED,
            [
                (header::ETAG, etag_value),
                (header::CACHE_CONTROL, cache_control),
                vary,
            ],
        )
            .into_response();
    }
    let (body, encoding) = match body() {
        Payload::Plain(body) => (body, Encoding::Identity),
        Payload::Streamed(body, encoding) => (body, encoding),
        Payload::Page(page) => {
            let encoding = page.encoding_for(Encoding::acceptable(headers));
            let bytes = page.get(encoding, || {
                if let Some(token) = encoding.header() {
                    state.metrics.record_compression(token);
                }
            });
            (Body::from(bytes), encoding)
        }
    };
    let mut response = (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::ETAG, etag_value),
            (header::CACHE_CONTROL, cache_control),
            vary,
        ],
        body,
    )
        .into_response();
    if let Some(name) = encoding.header() {
        response
            .headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static(name));
    }
    response
}

/// A large body made while it is sent (the whole-catalog mirror): validators
/// and `304` as for cached pages, then the body `make` streams in the
/// encoding negotiated, or identity when every compression slot is taken
/// (compressing a whole catalog is CPU work a burst of clients must not
/// multiply).
pub(in crate::http) fn streamed(
    state: &AppState,
    headers: &HeaderMap,
    etag: &str,
    max_age: u64,
    content_type: &'static str,
    make: impl FnOnce(Encoding, Option<tokio::sync::OwnedSemaphorePermit>) -> Body,
) -> Response {
    let mut encoding = Encoding::acceptable(headers);
    let permit = match encoding {
        Encoding::Identity => None,
        _ => STREAM_COMPRESSION.clone().try_acquire_owned().ok(),
    };
    if permit.is_none() {
        encoding = Encoding::Identity;
    }
    cached(state, headers, etag, max_age, content_type, || {
        if let Some(token) = encoding.header() {
            state.metrics.record_compression(token);
        }
        Payload::Streamed(make(encoding, permit), encoding)
    })
}

/// A body that never changes while the process runs (the finder page, the
/// widget, the OpenAPI document): validated by its hash, compressed at most
/// once per encoding like a cached page.
pub(in crate::http) struct StaticBody {
    page: Arc<Page>,
    etag: String,
    content_type: &'static str,
    max_age: u64,
}

impl StaticBody {
    pub(in crate::http) fn new(
        body: impl Into<Bytes>,
        content_type: &'static str,
        max_age: u64,
    ) -> Self {
        let body = body.into();
        Self {
            etag: format!("W/\"{:016x}\"", xxhash_rust::xxh3::xxh3_64(&body)),
            page: Arc::new(Page::new(body)),
            content_type,
            max_age,
        }
    }

    pub(in crate::http) fn respond(&self, state: &AppState, headers: &HeaderMap) -> Response {
        cached(
            state,
            headers,
            &self.etag,
            self.max_age,
            self.content_type,
            || Payload::Page(self.page.clone()),
        )
    }
}

/// Whole-catalog bodies compressed at once, at most: two per core.
static STREAM_COMPRESSION: std::sync::LazyLock<Arc<tokio::sync::Semaphore>> =
    std::sync::LazyLock::new(|| {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Arc::new(tokio::sync::Semaphore::new(cores * 2))
    });

pub(in crate::http) const JSON: &str = "application/json";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_etag_covers_the_version_shown() {
        let catalog = Catalog::from_plans(
            "CMG",
            crate::catalog::synthetic::plans(5, 1),
            SystemTime::UNIX_EPOCH,
        );
        catalog.set_provisional(1);
        let provisional = etag(&catalog, false, "plans", "", Links::default());
        catalog.set_version(2);
        let recorded = etag(&catalog, false, "plans", "", Links::default());
        assert_ne!(
            provisional, recorded,
            "a 304 would confirm a body showing 1"
        );
        assert_eq!(
            recorded,
            etag(&catalog, false, "plans", "", Links::default())
        );
        assert_ne!(
            recorded,
            etag(&catalog, true, "plans", "", Links::default())
        );
    }
}
