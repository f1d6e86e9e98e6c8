//! The middleware stack, outermost first: request id, tracing span (path only,
//! never the query: a client may send `key`), metrics by matched route, panic
//! catching, CORS, compression, per-IP rate limit, load shedding and timeout.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
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

use super::{ApiError, AppState};
use crate::config::CorsOrigins;
use crate::metrics::Metrics;

pub(super) async fn not_found() -> ApiError {
    ApiError::not_found_route()
}

pub(super) async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

pub(super) fn stack(routes: Router, state: AppState) -> Router {
    let x_request_id = HeaderName::from_static("x-request-id");
    let rate_limiter = state.settings.rate_limit_per_minute.map(|per_minute| {
        Arc::new(RateLimiter::new(
            per_minute,
            state.settings.trust_forwarded_for,
        ))
    });
    let timeout = state.settings.request_timeout;
    // One `layer` call: each `Router::layer` boxes the route service again, and
    // every box adds a heap future and its moves to every request.
    routes.layer(
        ServiceBuilder::new()
            .layer(SetRequestIdLayer::new(
                x_request_id.clone(),
                RequestIds::default(),
            ))
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
            .layer(CatchPanicLayer::custom(
                |_panic: Box<dyn std::any::Any + Send>| {
                    tracing::error!("a request handler panicked");
                    ApiError::Internal("handler panicked".into()).into_response()
                },
            ))
            .layer(cors(&state))
            // Catalog pages arrive already encoded (see `encoding`); this
            // covers the rest (OpenAPI, widget, MCP answers), tiny bodies
            // excepted.
            .layer(
                CompressionLayer::new()
                    .quality(tower_http::CompressionLevel::Fastest)
                    .compress_when(
                        DefaultPredicate::new()
                            .and(SizeAbove::new(super::encoding::MIN_COMPRESS as u16)),
                    ),
            )
            // Absent, not just idle, when rate limiting is off.
            .option_layer(
                rate_limiter.map(|limiter| middleware::from_fn_with_state(limiter, rate_limit)),
            )
            .layer(HandleErrorLayer::new({
                let metrics = state.metrics.clone();
                move |error: tower::BoxError| {
                    let response = overloaded(&metrics, &error);
                    async move { response }
                }
            }))
            .layer(tower::load_shed::LoadShedLayer::new())
            .layer(tower::limit::GlobalConcurrencyLimitLayer::new(
                state.settings.max_concurrent_requests,
            ))
            .layer(tower::timeout::TimeoutLayer::new(timeout)),
    )
}

/// `HandleErrorLayer` target: load shedding and timeouts become JSON 503s,
/// counted by reason.
fn overloaded(metrics: &Metrics, error: &tower::BoxError) -> ApiError {
    let timed_out = error.is::<tower::timeout::error::Elapsed>();
    if timed_out {
        tracing::warn!("request timed out");
    } else {
        tracing::warn!(error.cause_chain = %error, "request shed");
    }
    metrics.record_overloaded(timed_out);
    ApiError::Overloaded
}

/// Request ids: a per-process random prefix and a counter; cheap and unique.
#[derive(Clone)]
struct RequestIds {
    prefix: u32,
    next: Arc<AtomicU64>,
}

impl Default for RequestIds {
    fn default() -> Self {
        Self {
            prefix: fastrand::u32(..),
            next: Arc::new(AtomicU64::new(1)),
        }
    }
}

impl MakeRequestId for RequestIds {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let id = format!("{:08x}-{n:012x}", self.prefix);
        HeaderValue::from_str(&id).ok().map(RequestId::new)
    }
}

/// Counts requests and latency by matched route template (never the raw URI).
async fn record_metrics(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    // MatchedPath is an Arc<str>: cloning it does not copy the route.
    let route = request.extensions().get::<MatchedPath>().cloned();
    let method = bounded_method(request.method());
    let response = next.run(request).await;
    state.metrics.record_http(
        route.as_ref().map_or("unmatched", MatchedPath::as_str),
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
        .allow_methods([Method::GET, Method::HEAD, Method::OPTIONS])
        .allow_headers([
            header::IF_NONE_MATCH,
            header::CONTENT_TYPE,
            HeaderName::from_static("x-request-id"),
        ])
        .expose_headers([
            header::ETAG,
            header::RETRY_AFTER,
            HeaderName::from_static("x-request-id"),
        ])
        .max_age(Duration::from_secs(3600));
    match &state.settings.cors_allow_origins {
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

/// A token bucket per client: `per_minute` requests, refilled continuously.
struct RateLimiter {
    per_minute: u32,
    trust_forwarded_for: bool,
    buckets: moka::sync::Cache<IpAddr, Arc<Mutex<Bucket>>>,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

impl RateLimiter {
    fn new(per_minute: u32, trust_forwarded_for: bool) -> Self {
        Self {
            per_minute,
            trust_forwarded_for,
            // Bounded: an idle client's bucket is full again after a minute anyway.
            buckets: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_idle(Duration::from_secs(120))
                .build(),
        }
    }

    /// `Ok` to proceed, or the seconds until a token is available.
    fn check(&self, client: IpAddr) -> Result<(), u64> {
        let capacity = f64::from(self.per_minute);
        let per_sec = capacity / 60.0;
        let bucket = self.buckets.get_with(client, || {
            Arc::new(Mutex::new(Bucket {
                tokens: capacity,
                at: Instant::now(),
            }))
        });
        let mut bucket = bucket.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        bucket.tokens =
            (bucket.tokens + now.duration_since(bucket.at).as_secs_f64() * per_sec).min(capacity);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - bucket.tokens) / per_sec).ceil() as u64)
        }
    }

    fn client(&self, request: &Request) -> Option<IpAddr> {
        if self.trust_forwarded_for {
            let forwarded = request
                .headers()
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(',').next())
                .and_then(|v| v.trim().parse().ok());
            if forwarded.is_some() {
                return forwarded;
            }
        }
        request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
    }
}

/// Routes that orchestrators and scrapers poll are never rate limited.
const UNLIMITED: &[&str] = &["/healthz", "/readyz", "/metrics"];

async fn rate_limit(
    State(limiter): State<Arc<RateLimiter>>,
    request: Request,
    next: Next,
) -> Response {
    if !UNLIMITED.contains(&request.uri().path()) {
        if let Some(client) = limiter.client(&request) {
            if let Err(retry_after) = limiter.check(client) {
                return ApiError::RateLimited(retry_after).into_response();
            }
        }
    }
    next.run(request).await
}
