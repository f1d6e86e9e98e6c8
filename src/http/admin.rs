//! `POST /admin/refresh`: a sync now, through the sync task's single flight.
//! 404 unless `ADMIN_TOKEN` is set; 401 without the right bearer token.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;

use super::extract::{AdminAuth, FromQuery, Query};
use super::routes::Routes;
use super::{ApiError, AppState};
use crate::query::params::{QueryError, parse_pairs};

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

/// `?accept_shrink=true|false`: exactly the boolean the OpenAPI document
/// declares (a client that writes anything else learns it at once).
struct RefreshQuery {
    accept_shrink: bool,
}

impl FromQuery for RefreshQuery {
    fn from_query(raw: Option<&str>) -> Result<Self, QueryError> {
        let mut accept_shrink = false;
        for (_, value) in parse_pairs(raw, &["accept_shrink"])? {
            accept_shrink = match value.as_str() {
                "true" => true,
                "false" => false,
                _ => {
                    return Err(QueryError::invalid(
                        "accept_shrink",
                        "accept_shrink must be true or false",
                    ));
                }
            };
        }
        Ok(Self { accept_shrink })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_shrink_is_a_strict_boolean() {
        let parse = |raw: &str| RefreshQuery::from_query(Some(raw)).map(|q| q.accept_shrink);
        assert_eq!(parse(""), Ok(false));
        assert_eq!(parse("accept_shrink=true"), Ok(true));
        assert_eq!(parse("accept_shrink=false"), Ok(false));
        for bad in [
            "accept_shrink=",
            "accept_shrink",
            "accept_shrink=yes",
            "accept_shrink=TRUE",
        ] {
            assert!(
                matches!(parse(bad), Err(QueryError::Invalid { ref parameter, .. }) if parameter == "accept_shrink"),
                "{bad}"
            );
        }
        assert!(matches!(parse("force=1"), Err(QueryError::Unknown { .. })));
    }
}
