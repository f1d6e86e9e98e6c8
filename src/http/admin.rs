//! `POST /admin/refresh`: a sync now, through the sync task's single flight.
//! 404 unless `ADMIN_TOKEN` is set; 401 without the right bearer token.

use axum::Json;
use axum::extract::{RawQuery, State};

use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::json;

use super::extract::AdminAuth;
use super::routes::Routes;
use super::{ApiError, AppState};
use crate::config::values;
use crate::query::{QueryError, parse_pairs};

pub(super) fn routes() -> Routes {
    Routes::new().route(
        "post",
        "/admin/refresh",
        post(admin_refresh).fallback(admin_other_method),
    )
}

/// Without `ADMIN_TOKEN` the admin route does not exist, whatever the method.
async fn admin_other_method(State(state): State<AppState>) -> ApiError {
    if state.config.admin_token.is_some() {
        ApiError::MethodNotAllowed
    } else {
        ApiError::not_found_route()
    }
}

async fn admin_refresh(
    State(state): State<AppState>,
    _: AdminAuth,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let pairs = parse_pairs(raw.as_deref(), &["accept_shrink"])?;
    // A bare `?accept_shrink` means yes; otherwise the same words as the flags.
    let accept_shrink = match pairs.first().map(|(_, v)| v.as_str()) {
        None => false,
        Some("") => true,
        Some(v) => values::flag(v).map_err(|reason| QueryError::Invalid {
            parameter: "accept_shrink".into(),
            message: format!("accept_shrink: {reason}"),
        })?,
    };
    let Some(sync) = &state.sync else {
        // Demo mode: the catalog is built in, there is nothing to fetch.
        let plans = state.store.catalog().map_or(0, |c| c.len());
        return Ok(
            Json(json!({"outcome": "demo", "planCount": plans, "dropped": 0})).into_response(),
        );
    };
    let report = sync
        .refresh(accept_shrink)
        .await
        .ok_or(ApiError::Overloaded)?;
    Ok(Json(report).into_response())
}
