//! `POST /admin/refresh`: a sync now, through the sync task's single flight.
//! 404 unless `ADMIN_TOKEN` is set; 401 without the right bearer token.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;

use super::extract::{AdminAuth, Query, RefreshQuery};
use super::routes::Routes;
use super::{ApiError, AppState};

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
    Query(RefreshQuery { accept_shrink }): Query<RefreshQuery>,
) -> Result<Response, ApiError> {
    let Some(sync) = &state.sync else {
        // Demo mode: the catalog is built in, there is nothing to fetch.
        let report = crate::sync::SyncReport {
            outcome: crate::catalog::Outcome::Demo,
            plan_count: state.store.catalog().map_or(0, |c| c.len()),
            dropped: 0,
            message: None,
        };
        return Ok(Json(report).into_response());
    };
    // A follower asks the leader and answers once it has what that made.
    if let (Some(fleet), crate::sync::Role::Follower) = (&state.fleet, state.role()) {
        let synced = fleet
            .request_refresh(state.config.request_timeout)
            .await
            .ok_or(ApiError::Overloaded)?;
        let outcome =
            crate::catalog::Outcome::parse(&synced.outcome).unwrap_or(crate::catalog::Outcome::Ok);
        let report = crate::sync::SyncReport {
            outcome,
            plan_count: state.store.catalog().map_or(0, |c| c.len()),
            dropped: 0,
            message: None,
        };
        return Ok(Json(report).into_response());
    }
    let report = sync
        .refresh(accept_shrink)
        .await
        .ok_or(ApiError::Overloaded)?;
    Ok(Json(report).into_response())
}
