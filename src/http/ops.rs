//! `GET /metrics` (Prometheus text) and `GET /openapi.json`.

use std::sync::LazyLock;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;

use super::{AppState, openapi};

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/metrics", get(metrics_show))
        .route("/openapi.json", get(openapi_show))
        .route_layer(super::middleware::compression())
}

async fn metrics_show(State(state): State<AppState>) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        state.metrics.render(&state.store),
    )
        .into_response()
}

static OPENAPI: LazyLock<[Bytes; 2]> = LazyLock::new(|| {
    [false, true].map(|admin| {
        Bytes::from(serde_json::to_vec_pretty(&openapi::document(admin)).expect("static document"))
    })
});

async fn openapi_show(State(state): State<AppState>) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            ),
        ],
        OPENAPI[usize::from(state.admin_token.is_some())].clone(),
    )
        .into_response()
}
