//! `GET /healthz` (liveness: the process serves) and `GET /readyz` (readiness:
//! a catalog is loaded, fresh or from the snapshot). Neither ever asks upstream.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::AppState;
use super::pages::shapes;
use super::routes::Routes;

pub(super) fn routes() -> Routes {
    Routes::new()
        .get("/healthz", health_live)
        .get("/readyz", health_ready)
}

async fn health_live() -> Response {
    no_store((StatusCode::OK, Json(json!({"status": "ok"}))).into_response())
}

async fn health_ready(State(state): State<AppState>) -> Response {
    let view = state.store.view();
    let body = shapes::readiness(view.catalog.as_deref(), &view.status, state.role());
    let mut response = (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response();
    if view.catalog.is_none() {
        *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    }
    no_store(response)
}

fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
