//! `GET /admin/webhooks` and `POST /admin/webhooks/{id}/retry`: what the
//! webhook outbox holds, and sending a message again now (SPEC section 11).

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::json;

use super::extract::{AdminAuth, NoParameters, Query};
use super::routes::Routes;
use super::{ApiError, AppState};
use crate::webhooks::outbox;

pub(super) fn routes() -> Routes {
    Routes::new().get("/admin/webhooks", webhooks_list).route(
        "post",
        "/admin/webhooks/{id}/retry",
        post(webhook_retry),
    )
}

fn unavailable(e: crate::history::HistoryError) -> ApiError {
    tracing::warn!(error.cause_chain = %crate::history::describe(&e), "cannot read the webhook outbox");
    ApiError::HistoryUnavailable("the webhook database cannot answer right now; retry shortly")
}

async fn webhooks_list(
    State(state): State<AppState>,
    _: AdminAuth,
    _: Query<NoParameters>,
) -> Result<Response, ApiError> {
    let pool = state.history.database().await.map_err(unavailable)?;
    let counts = outbox::counts(&pool).await.map_err(unavailable)?;
    let messages = outbox::recent(&pool, 100).await.map_err(unavailable)?;
    let endpoints: Vec<_> = state
        .partners
        .as_ref()
        .map(|registry| registry.load().endpoints())
        .unwrap_or_default()
        .into_iter()
        .map(|e| {
            let count = |status: &str| {
                counts
                    .iter()
                    .filter(|(endpoint, s, _)| *endpoint == e.id && s == status)
                    .map(|(_, _, n)| n)
                    .sum::<u64>()
            };
            json!({
                "partner": e.partner,
                "url": e.shown_url(),
                "events": e.events.iter().map(|ev| ev.as_str()).collect::<Vec<_>>(),
                "enabled": state.webhooks.is_enabled(&e.id),
                "counts": {"pending": count("pending"), "delivered": count("delivered"), "failed": count("failed")},
            })
        })
        .collect();
    Ok(Json(json!({"endpoints": endpoints, "messages": messages})).into_response())
}

/// The `{id}` of a message route; one that is not UTF-8 names no message.
struct MessageId(String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for MessageId {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        Path::<String>::from_request_parts(parts, state)
            .await
            .map(|Path(id)| Self(id))
            .map_err(|_| ApiError::NotFound("no webhook message with that id".into()))
    }
}

async fn webhook_retry(
    State(state): State<AppState>,
    _: AdminAuth,
    _: Query<NoParameters>,
    MessageId(id): MessageId,
) -> Result<Response, ApiError> {
    let pool = state.history.database().await.map_err(unavailable)?;
    let not_found = || {
        ApiError::NotFound(format!(
            "no webhook message {:?}",
            id.chars().take(64).collect::<String>()
        ))
    };
    if outbox::get(&pool, &id)
        .await
        .map_err(unavailable)?
        .is_none()
    {
        return Err(not_found());
    }
    if !state.webhooks.retry_now(&id).await.map_err(unavailable)? {
        // An attempt holds it right now.
        return Err(ApiError::Overloaded);
    }
    let message = outbox::get(&pool, &id)
        .await
        .map_err(unavailable)?
        .ok_or_else(not_found)?;
    Ok(Json(message).into_response())
}
