//! `GET /metrics` (Prometheus text or OpenMetrics) and `GET /openapi.json`.

use std::sync::LazyLock;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::pages::respond::StaticBody;
use super::routes::Routes;
use super::{AppState, openapi};
use crate::metrics::Format;

/// `/metrics`: polled by scrapers, so never behind the client limits.
pub(super) fn metrics_routes() -> Routes {
    Routes::new()
        .get("/metrics", metrics_show)
        .map_router(|r| r.route_layer(super::edge::compression()))
}

/// `/openapi.json`: made once, compressed at most once per encoding.
pub(super) fn document_routes() -> Routes {
    Routes::new().get("/openapi.json", openapi_show)
}

/// Prometheus text by default; OpenMetrics when the scraper asks for it
/// (Prometheus does, in its `Accept`), so a browser still shows plain text.
async fn metrics_show(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let format = if headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"))
    {
        Format::OpenMetrics
    } else {
        Format::Text
    };
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(format.content_type()),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (header::VARY, HeaderValue::from_static("accept")),
        ],
        state.metrics.render(format),
    )
        .into_response()
}

static OPENAPI: LazyLock<[StaticBody; 2]> = LazyLock::new(|| {
    [false, true].map(|admin| {
        let document =
            serde_json::to_vec_pretty(&openapi::document(admin)).expect("static document");
        StaticBody::new(document, "application/json", 3600)
    })
});

async fn openapi_show(State(state): State<AppState>, headers: HeaderMap) -> Response {
    OPENAPI[usize::from(state.config.admin_token.is_some())].respond(&state, &headers)
}
