//! The edge policy. Here, the layer stack every route meets, outermost
//! first: request id, tracing span (path only, never the query: a client may
//! send `key`), metrics by matched route, the URI bound, panic catching and
//! CORS ([`stack`]); the fallbacks; on-the-fly compression for uncached
//! answers. In `limits`, what each client route group carries on top
//! ([`Limits`], never on the probes and `/metrics`): per-IP rate limit, the
//! request body read (bounded by the route's limit, within
//! `CLIENT_BODY_TIMEOUT`), load shedding, the concurrency limit and the
//! timeout.

use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::compression::predicate::{DefaultPredicate, Predicate, SizeAbove};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use crate::config::CorsOrigins;
use crate::http::{ApiError, AppState};
use crate::metrics::RouteLabel;

mod limits;

pub(in crate::http) use limits::{Limits, Policy, client_address};

pub(in crate::http) async fn not_found() -> ApiError {
    ApiError::not_found_route()
}

pub(in crate::http) async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// The layers every route gets, probes included.
pub(in crate::http) fn stack(routes: Router, state: AppState) -> Router {
    let x_request_id = HeaderName::from_static("x-request-id");
    // One `layer` call: each `Router::layer` boxes the route service again, and
    // every box adds a heap future and its moves to every request.
    routes.layer(
        ServiceBuilder::new()
            .layer(middleware::from_fn(sanitize_request_id))
            .layer(SetRequestIdLayer::new(x_request_id.clone(), RequestIds))
            .layer(
                TraceLayer::new_for_http()
                    .make_span_with(|request: &Request| {
                        let id = request
                            .headers()
                            .get("x-request-id")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("");
                        tracing::info_span!(
                            "request",
                            method = %request.method(),
                            path = %request.uri().path(),
                            request_id = %id,
                        )
                    })
                    // A 503 before the first catalog is expected, and real 5xx
                    // are logged where they happen, with their cause.
                    .on_failure(()),
            )
            .layer(PropagateRequestIdLayer::new(x_request_id))
            .layer(SetResponseHeaderLayer::if_not_present(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ))
            .layer(middleware::from_fn_with_state(
                state.clone(),
                record_metrics,
            ))
            .layer(middleware::from_fn(bound_uri))
            .layer(CatchPanicLayer::custom(
                |_panic: Box<dyn std::any::Any + Send>| {
                    ApiError::internal("a request handler panicked").into_response()
                },
            ))
            .layer(cors(&state)),
    )
}

/// On-the-fly compression for the answers made per request that are not
/// pages (metrics, MCP answers). Catalog and history pages and the static
/// bodies (finder, widget, OpenAPI) arrive already encoded, each compressed
/// at most once (see `pages::encoding`), so their bodies are not wrapped.
pub(in crate::http) fn compression() -> CompressionLayer<impl Predicate> {
    CompressionLayer::new()
        .quality(tower_http::CompressionLevel::Fastest)
        .compress_when(DefaultPredicate::new().and(SizeAbove::new(
            crate::http::pages::encoding::MIN_COMPRESS as u16,
        )))
}

/// Request ids: 128 random bits, hex. Unguessable (not sequential), so an id
/// says nothing about traffic volume and cannot be predicted.
#[derive(Clone, Default)]
struct RequestIds;

impl MakeRequestId for RequestIds {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        let id = format!("{:032x}", fastrand::u128(..));
        HeaderValue::from_str(&id).ok().map(RequestId::new)
    }
}

/// A client's own `x-request-id` is kept only when it is 1-64 characters of
/// `A-Z a-z 0-9 . _ -` (SPEC section 3); anything else (too long, spaces,
/// quotes that could forge log fields) is dropped so a fresh id is made.
pub(in crate::http) fn acceptable_request_id(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    (1..=64).contains(&bytes.len())
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// The first thing every request meets: a client's `x-request-id` is kept
/// only when acceptable.
async fn sanitize_request_id(mut request: Request, next: Next) -> Response {
    let headers = request.headers_mut();
    let mut values = headers.get_all("x-request-id").iter();
    let keep = match (values.next(), values.next()) {
        (Some(one), None) => acceptable_request_id(one),
        (None, _) => true,
        _ => false,
    };
    if !keep {
        headers.remove("x-request-id");
    }
    next.run(request).await
}

/// Longest request target accepted; longer ones get a JSON 414.
pub const MAX_URI: usize = 8 * 1024;

async fn bound_uri(request: Request, next: Next) -> Response {
    let length = request
        .uri()
        .path_and_query()
        .map_or(0, |p| p.as_str().len());
    if length > MAX_URI {
        return ApiError::UriTooLong(MAX_URI).into_response();
    }
    next.run(request).await
}

/// Counts requests and latency by matched route template (never the raw URI).
async fn record_metrics(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    // MatchedPath is an Arc<str>: cloning it does not copy the route.
    let route = request.extensions().get::<MatchedPath>().cloned();
    let method = bounded_method(request.method());
    let response = next.run(request).await;
    state.metrics.record_http(
        RouteLabel::new(route),
        method,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

fn bounded_method(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::OPTIONS => "OPTIONS",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        _ => "OTHER",
    }
}

/// CORS for `CORS_ALLOW_ORIGINS` and, when configured, partners' origins.
/// Credentials are never allowed.
fn cors(state: &AppState) -> CorsLayer {
    let layer = CorsLayer::new()
        // POST and DELETE and the MCP headers serve browser-based MCP
        // clients (`/mcp`); credentials are never allowed.
        .allow_methods([
            Method::GET,
            Method::HEAD,
            Method::OPTIONS,
            Method::POST,
            Method::DELETE,
        ])
        .allow_headers([
            header::IF_NONE_MATCH,
            header::CONTENT_TYPE,
            header::ACCEPT,
            HeaderName::from_static("x-request-id"),
            HeaderName::from_static("mcp-protocol-version"),
            HeaderName::from_static("mcp-session-id"),
            HeaderName::from_static("last-event-id"),
        ])
        .expose_headers([
            header::ETAG,
            header::RETRY_AFTER,
            HeaderName::from_static("x-request-id"),
            HeaderName::from_static("mcp-session-id"),
        ])
        .max_age(Duration::from_secs(3600));
    match &state.config.cors_allow_origins {
        CorsOrigins::Any => layer.allow_origin(AllowOrigin::any()),
        CorsOrigins::List(list) => {
            let list = list.clone();
            let partners = state.partners.clone();
            layer.allow_origin(AllowOrigin::predicate(move |origin, _| {
                let Ok(origin) = origin.to_str() else {
                    return false;
                };
                let origin = origin.to_ascii_lowercase();
                list.contains(&origin)
                    || partners
                        .as_ref()
                        .is_some_and(|p| p.load().by_origin(&origin).is_some())
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;
    use std::sync::Arc;

    use axum::error_handling::HandleErrorLayer;

    use super::limits::{RateLimiter, overloaded};
    use super::*;
    use crate::metrics::Metrics;
    use axum::body::Body;
    use axum::routing::get;
    use tower::ServiceExt;

    #[test]
    fn the_rate_limit_allows_a_burst_then_one_per_interval_per_address() {
        let limiter = RateLimiter::new(2, false);
        let (a, b): (IpAddr, IpAddr) = (
            "203.0.113.1".parse().unwrap(),
            "203.0.113.2".parse().unwrap(),
        );
        assert_eq!(limiter.check(a), Ok(()));
        assert_eq!(limiter.check(a), Ok(()));
        // Two a minute: the next one is 30 s away (rounded up to whole seconds).
        let wait = limiter.check(a).unwrap_err();
        assert!((29..=30).contains(&wait), "{wait}");
        assert_eq!(
            limiter.check(b),
            Ok(()),
            "another address has its own allowance"
        );
        let sixty = RateLimiter::new(60, false);
        for _ in 0..60 {
            assert_eq!(sixty.check(a), Ok(()));
        }
        assert_eq!(sixty.check(a), Err(1));
    }

    #[tokio::test]
    async fn a_request_past_the_timeout_is_a_json_503_counted_as_a_timeout() {
        let metrics = Arc::new(Metrics::new(
            Arc::new(crate::catalog::CatalogStore::new()),
            &crate::sync::SyncMetrics::default(),
        ));
        let slow = || async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            "done"
        };
        let handled = metrics.clone();
        let app = Router::new().route("/plans", get(slow)).layer(
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(move |error: tower::BoxError| {
                    let response = overloaded(&handled, &error);
                    async move { response }
                }))
                .layer(tower::load_shed::LoadShedLayer::new())
                .layer(tower::timeout::TimeoutLayer::new(Duration::from_millis(50))),
        );
        let call = |path: &str| {
            app.clone()
                .oneshot(Request::get(path).body(Body::empty()).unwrap())
        };
        let timed_out = call("/plans").await.unwrap();
        assert_eq!(timed_out.status(), 503);
        let body = axum::body::to_bytes(timed_out.into_body(), 1024)
            .await
            .unwrap();
        assert!(String::from_utf8_lossy(&body).contains("overloaded"));
        let text = metrics.render(crate::metrics::Format::Text);
        assert!(text.contains("reason=\"timeout\"} 1"), "{text}");
        assert!(
            text.contains("reason=\"shed\"} 0"),
            "a timeout is not counted as shed"
        );
    }

    #[test]
    fn request_ids_are_kept_only_when_short_and_plain() {
        for good in ["a", "abc-DEF_1.2", &"x".repeat(64)] {
            assert!(
                acceptable_request_id(&HeaderValue::from_str(good).unwrap()),
                "{good}"
            );
        }
        for bad in [
            "",
            &"x".repeat(65),
            "a b",
            "x}: status=200 FORGED",
            "ä",
            "a\"b",
        ] {
            let ok = HeaderValue::from_str(bad).is_ok_and(|v| acceptable_request_id(&v));
            assert!(!ok, "{bad}");
        }
    }
}
