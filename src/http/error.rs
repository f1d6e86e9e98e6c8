//! The one HTTP error type. Every error leaves as
//! `{"error": {"code", "message", "parameter"?}}`; 5xx bodies are opaque and
//! their detail is only logged, inside the request span.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::query::QueryError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400 `invalid_parameter`: a value that does not parse or is out of range.
    #[error("{message}")]
    InvalidParameter {
        parameter: Option<String>,
        message: String,
    },
    /// 400 `unknown_parameter`: a query parameter the route does not take.
    #[error("{message}")]
    UnknownParameter { parameter: String, message: String },
    /// 400 `unknown_ref`: a well-formed ref that no registered partner owns.
    #[error("ref {0:?} does not belong to any partner")]
    UnknownRef(String),
    /// 401 `unauthorized`.
    #[error("a valid bearer token is required")]
    Unauthorized,
    /// 404 `not_found`.
    #[error("{0}")]
    NotFound(String),
    /// 410 `history_expired`: `/changes` since a version older than the
    /// history kept (`HISTORY_RETENTION`).
    #[error("{0}")]
    HistoryExpired(String),
    /// 405 `method_not_allowed`.
    #[error("method not allowed on this route")]
    MethodNotAllowed,
    /// 414 `invalid_parameter`: the request target is longer than the limit.
    #[error("the request URI is longer than {0} bytes")]
    UriTooLong(usize),
    /// 413 `invalid_parameter`: a request body (an MCP message) over the limit.
    #[error("the request body is larger than {0} bytes")]
    BodyTooLarge(usize),
    /// 408 `request_timeout`: the request body did not arrive within
    /// `CLIENT_BODY_TIMEOUT`.
    #[error("the request body did not arrive in time")]
    BodyTimeout,
    /// 400 `invalid_parameter`: the request body broke off or is malformed
    /// at the HTTP level.
    #[error("the request body could not be read")]
    BodyUnreadable,
    /// 429 `rate_limited`, with `Retry-After`.
    #[error("too many requests; retry after {0} s")]
    RateLimited(u64),
    /// 503 `catalog_unavailable`, with `Retry-After`: no catalog has loaded yet.
    #[error("the plan catalog has not been loaded yet; retry shortly")]
    CatalogUnavailable,
    /// 503 `history_unavailable`, with `Retry-After`: the history database
    /// cannot answer, or the version in use is not recorded yet (an answer
    /// then would be incomplete).
    #[error("{0}")]
    HistoryUnavailable(&'static str),
    /// 503 `rates_unavailable`, with `Retry-After`: a display currency was
    /// asked for before any exchange rates were loaded.
    #[error("exchange rates have not been loaded yet; retry shortly, or ask for currency=USD")]
    RatesUnavailable,
    /// 503 `overloaded`: shed under load or timed out; safe to retry.
    #[error("the server is busy; retry shortly")]
    Overloaded,
    /// 500 `internal_error`: the cause is logged with its chain, never sent.
    #[error("internal error")]
    Internal(#[source] BoxError),
}

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl ApiError {
    /// A 500 whose cause is kept for the log.
    pub fn internal(cause: impl Into<BoxError>) -> Self {
        Self::Internal(cause.into())
    }
}

/// What an error answer says, `{"error": {code, message, parameter?}}`.
/// Every error response also carries it as an extension, so an in-process
/// caller (an MCP tool calling its route) reads it without parsing JSON.
#[derive(Clone, Debug, Serialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Clone, Debug, Serialize)]
pub struct ErrorDetail {
    pub code: &'static str,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameter: Option<String>,
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::InvalidParameter { .. } | Self::UnknownParameter { .. } | Self::UnknownRef(_) => {
                StatusCode::BAD_REQUEST
            }
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::HistoryExpired(_) => StatusCode::GONE,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::UriTooLong(_) => StatusCode::URI_TOO_LONG,
            Self::BodyTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::BodyUnreadable => StatusCode::BAD_REQUEST,
            Self::CatalogUnavailable
            | Self::HistoryUnavailable(_)
            | Self::RatesUnavailable
            | Self::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Every code [`code`](Self::code) can return (for the OpenAPI document).
    pub const CODES: [&'static str; 14] = [
        "invalid_parameter",
        "unknown_parameter",
        "unknown_ref",
        "unauthorized",
        "not_found",
        "history_expired",
        "method_not_allowed",
        "request_timeout",
        "rate_limited",
        "catalog_unavailable",
        "history_unavailable",
        "rates_unavailable",
        "overloaded",
        "internal_error",
    ];

    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidParameter { .. }
            | Self::UriTooLong(_)
            | Self::BodyTooLarge(_)
            | Self::BodyUnreadable => "invalid_parameter",
            Self::UnknownParameter { .. } => "unknown_parameter",
            Self::UnknownRef(_) => "unknown_ref",
            Self::Unauthorized => "unauthorized",
            Self::NotFound(_) => "not_found",
            Self::HistoryExpired(_) => "history_expired",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::BodyTimeout => "request_timeout",
            Self::RateLimited(_) => "rate_limited",
            Self::CatalogUnavailable => "catalog_unavailable",
            Self::HistoryUnavailable(_) => "history_unavailable",
            Self::RatesUnavailable => "rates_unavailable",
            Self::Overloaded => "overloaded",
            Self::Internal(_) => "internal_error",
        }
    }

    /// The query parameter at fault, when one is.
    pub fn parameter(&self) -> Option<&str> {
        match self {
            Self::InvalidParameter { parameter, .. } => parameter.as_deref(),
            Self::UnknownParameter { parameter, .. } => Some(parameter),
            Self::UnknownRef(_) => Some("ref"),
            _ => None,
        }
    }

    /// The body this error is answered with.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                code: self.code(),
                message: self.to_string(),
                parameter: self.parameter().map(str::to_owned),
            },
        }
    }

    pub fn not_found_route() -> Self {
        Self::NotFound("no such route".into())
    }
}

impl From<QueryError> for ApiError {
    fn from(e: QueryError) -> Self {
        match e {
            QueryError::Invalid { parameter, message } => Self::InvalidParameter {
                parameter: Some(parameter),
                message,
            },
            QueryError::Unknown { parameter, message } => {
                Self::UnknownParameter { parameter, message }
            }
        }
    }
}

/// A history database that cannot answer: logged with its (scrubbed)
/// cause, answered 503 `history_unavailable`.
impl From<crate::history::HistoryError> for ApiError {
    fn from(error: crate::history::HistoryError) -> Self {
        tracing::error!(error.cause_chain = %crate::history::describe(&error), "history database unavailable");
        Self::HistoryUnavailable("the history database cannot answer right now; retry shortly")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Self::Internal(_) = &self {
            tracing::error!(
                error.cause_chain = %crate::telemetry::cause_chain(&self),
                "request failed"
            );
        }
        let body = self.body();
        let mut response = (self.status(), Json(&body)).into_response();
        response.extensions_mut().insert(body);
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        let retry_after = match self {
            Self::RateLimited(secs) => Some(secs.max(1)),
            Self::CatalogUnavailable
            | Self::HistoryUnavailable(_)
            | Self::RatesUnavailable
            | Self::Overloaded => Some(5),
            _ => None,
        };
        if let Some(secs) = retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if matches!(self, Self::Unauthorized) {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body_of(error: ApiError) -> (StatusCode, serde_json::Value) {
        let response = error.into_response();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    /// One value of every variant. The exhaustive `match` stops compiling
    /// when a variant is added and not listed here, so `CODES` (the OpenAPI
    /// enum) cannot miss a code.
    fn every_variant() -> Vec<ApiError> {
        let all = vec![
            ApiError::InvalidParameter {
                parameter: None,
                message: String::new(),
            },
            ApiError::UnknownParameter {
                parameter: String::new(),
                message: String::new(),
            },
            ApiError::UnknownRef(String::new()),
            ApiError::Unauthorized,
            ApiError::NotFound(String::new()),
            ApiError::HistoryExpired(String::new()),
            ApiError::MethodNotAllowed,
            ApiError::UriTooLong(1),
            ApiError::BodyTooLarge(1),
            ApiError::BodyTimeout,
            ApiError::BodyUnreadable,
            ApiError::RateLimited(1),
            ApiError::CatalogUnavailable,
            ApiError::HistoryUnavailable(""),
            ApiError::RatesUnavailable,
            ApiError::Overloaded,
            ApiError::internal("x"),
        ];
        for error in &all {
            match error {
                ApiError::InvalidParameter { .. }
                | ApiError::UnknownParameter { .. }
                | ApiError::UnknownRef(_)
                | ApiError::Unauthorized
                | ApiError::NotFound(_)
                | ApiError::HistoryExpired(_)
                | ApiError::MethodNotAllowed
                | ApiError::UriTooLong(_)
                | ApiError::BodyTooLarge(_)
                | ApiError::BodyTimeout
                | ApiError::BodyUnreadable
                | ApiError::RateLimited(_)
                | ApiError::CatalogUnavailable
                | ApiError::HistoryUnavailable(_)
                | ApiError::RatesUnavailable
                | ApiError::Overloaded
                | ApiError::Internal(_) => {}
            }
        }
        all
    }

    #[test]
    fn every_code_is_listed_and_every_listed_code_is_used() {
        let used: std::collections::BTreeSet<&str> =
            every_variant().iter().map(ApiError::code).collect();
        let listed: std::collections::BTreeSet<&str> = ApiError::CODES.into_iter().collect();
        assert_eq!(used, listed);
        assert_eq!(listed.len(), ApiError::CODES.len(), "no code listed twice");
    }

    /// In-process callers (MCP tools) read the same error the client gets.
    #[tokio::test]
    async fn every_error_response_carries_its_body() {
        for error in every_variant() {
            let response = error.into_response();
            let carried =
                serde_json::to_value(response.extensions().get::<ErrorBody>().unwrap()).unwrap();
            let bytes = axum::body::to_bytes(response.into_body(), 4096)
                .await
                .unwrap();
            let sent: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(carried, sent);
        }
    }

    #[tokio::test]
    async fn internal_errors_are_opaque() {
        let detail = "upstream http://cmg/feed?key=SECRET exploded at src/x.rs:42";
        let (status, body) = body_of(ApiError::internal(detail)).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body["error"]["code"], "internal_error");
        assert!(!body.to_string().contains("SECRET") && !body.to_string().contains("x.rs"));
    }

    #[test]
    fn internal_errors_keep_their_cause_chain() {
        let cause = std::io::Error::other("disk on fire");
        let chain = crate::telemetry::cause_chain(&ApiError::internal(cause));
        assert_eq!(chain, "internal error: disk on fire");
    }

    #[tokio::test]
    async fn parameter_errors_name_the_parameter() {
        let (status, body) = body_of(ApiError::UnknownRef("zz".into())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"]["parameter"], "ref");
        let (_, body) = body_of(ApiError::NotFound("no such route".into())).await;
        assert!(body["error"].get("parameter").is_none());
    }
}
