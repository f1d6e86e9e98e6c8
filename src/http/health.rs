//! `GET /healthz` (liveness: the process serves) and `GET /readyz` (readiness:
//! a catalog is loaded, fresh or from the snapshot). Neither ever asks upstream.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::AppState;
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
    let catalog = state.store.catalog();
    let status = state.store.status();
    let last_refresh = status.last_refresh.map(|r| {
        json!({
            "at": humantime::format_rfc3339_seconds(r.at).to_string(),
            "outcome": r.outcome.as_str(),
        })
    });
    let response = match catalog {
        Some(catalog) => (
            StatusCode::OK,
            Json(json!({
                "status": "ready",
                "planCount": catalog.len(),
                "version": catalog.version(),
                "updatedAt": humantime::format_rfc3339_seconds(catalog.updated_at()).to_string(),
                "stale": status.stale,
                "lastRefresh": last_refresh,
            })),
        )
            .into_response(),
        None => {
            let mut response = (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({
                    "status": "starting",
                    "planCount": 0,
                    "updatedAt": null,
                    "lastRefresh": last_refresh,
                    "error": {
                        "code": "catalog_unavailable",
                        "message": "the plan catalog has not been loaded yet",
                    },
                })),
            )
                .into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            response
        }
    };
    no_store(response)
}

fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
