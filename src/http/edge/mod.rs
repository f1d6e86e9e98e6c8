//! The middleware stack, outermost first: request id, tracing span (path only,
//! never the query: a client may send `key`), metrics by matched route, the
//! URI bound, panic catching and CORS ([`stack`], on every route); then, on
//! the routes clients call but not on the probes and `/metrics` ([`Limits`]):
//! per-IP rate limit, the request body read (bounded by the route's limit,
//! within `CLIENT_BODY_TIMEOUT`), load shedding, the concurrency limit and
//! the timeout.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
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

use crate::config::CorsOrigins;
use crate::http::{ApiError, AppState};
use crate::metrics::{Metrics, RouteLabel};

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

/// What the routes that clients call share: one concurrency limit, one rate
/// limiter. The health probes and `/metrics` never pass through it, so an
/// orchestrator sees a healthy process as healthy whatever clients do.
#[derive(Clone)]
pub(in crate::http) struct Limits {
    metrics: Arc<Metrics>,
    rate_limiter: Option<Arc<RateLimiter>>,
    concurrency: Arc<tokio::sync::Semaphore>,
    timeout: Duration,
    body_timeout: Duration,
}

/// A timeout that never fires (a century).
const NEVER: Duration = Duration::from_secs(100 * 365 * 86_400);

/// What one route group allows.
#[derive(Clone, Copy)]
pub(in crate::http) struct Policy {
    /// `REQUEST_TIMEOUT` applies (an admin refresh waits for its sync
    /// instead, which `UPSTREAM_TIMEOUT` bounds).
    pub timeout: bool,
    /// The largest request body the group's routes read.
    pub max_body: usize,
}

impl Policy {
    /// Routes that read no body: a few KiB of stray body are read and
    /// ignored, more is refused.
    pub const NO_BODY: Self = Self {
        timeout: true,
        max_body: 16 << 10,
    };
}

impl Limits {
    pub(in crate::http) fn new(state: &AppState) -> Self {
        Self {
            metrics: state.metrics.clone(),
            rate_limiter: state.config.rate_limit_per_minute.map(|per_minute| {
                Arc::new(RateLimiter::new(
                    per_minute,
                    state.config.trust_forwarded_for,
                ))
            }),
            concurrency: Arc::new(tokio::sync::Semaphore::new(
                state.config.max_concurrent_requests,
            )),
            timeout: state.config.request_timeout,
            body_timeout: state.config.client_body_timeout,
        }
    }

    /// Rate limit, the body read (before a request takes a slot: a body that
    /// dribbles in holds its connection, bounded per address, but never a
    /// slot), load shedding, the shared concurrency limit and, as `policy`
    /// says, `REQUEST_TIMEOUT`.
    pub(in crate::http) fn apply<S>(&self, routes: Router<S>, policy: Policy) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        let metrics = self.metrics.clone();
        routes.layer(
            ServiceBuilder::new()
                // Absent, not just idle, when rate limiting is off.
                .option_layer(
                    self.rate_limiter
                        .clone()
                        .map(|limiter| middleware::from_fn_with_state(limiter, rate_limit)),
                )
                .layer(middleware::from_fn_with_state(
                    (self.body_timeout, policy.max_body),
                    read_body,
                ))
                .layer(HandleErrorLayer::new(move |error: tower::BoxError| {
                    let response = overloaded(&metrics, &error);
                    async move { response }
                }))
                .layer(tower::load_shed::LoadShedLayer::new())
                .layer(tower::limit::GlobalConcurrencyLimitLayer::with_semaphore(
                    self.concurrency.clone(),
                ))
                // Always a layer (tower's `Either` needs one error type on
                // both sides); without REQUEST_TIMEOUT it never fires.
                .layer(tower::timeout::TimeoutLayer::new(if policy.timeout {
                    self.timeout
                } else {
                    NEVER
                })),
        )
    }
}

/// Reads a request's body whole, at most `max_body` bytes, within
/// `CLIENT_BODY_TIMEOUT`. Too large (announced or counted) is a JSON 413,
/// too slow a JSON 408; both close the connection, since the unread rest
/// would make it unusable.
async fn read_body(
    State((timeout, max_body)): State<(Duration, usize)>,
    request: Request,
    next: Next,
) -> Response {
    use http_body::Body as _;
    use http_body_util::BodyExt;

    if request.body().is_end_stream() {
        return next.run(request).await;
    }
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max_body as u64) {
        return closing(ApiError::BodyTooLarge(max_body));
    }
    let (parts, mut body) = request.into_parts();
    let read = async {
        let mut buffer = bytes::BytesMut::new();
        while let Some(frame) = body.frame().await {
            let Ok(data) = frame.map_err(|_| ApiError::BodyUnreadable)?.into_data() else {
                continue;
            };
            if buffer.len() + data.len() > max_body {
                return Err(ApiError::BodyTooLarge(max_body));
            }
            buffer.extend_from_slice(&data);
        }
        Ok(buffer.freeze())
    };
    match tokio::time::timeout(timeout, read).await {
        Ok(Ok(bytes)) => {
            next.run(Request::from_parts(parts, axum::body::Body::from(bytes)))
                .await
        }
        Ok(Err(error)) => closing(error),
        Err(_) => closing(ApiError::BodyTimeout),
    }
}

/// An error answer after which the connection is closed (HTTP/1.1; hyper
/// leaves the header out of HTTP/2, where the stream simply ends).
fn closing(error: ApiError) -> Response {
    let mut response = error.into_response();
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// On-the-fly compression for the routes that do not serve cached pages
/// (OpenAPI, the page and widget, metrics, MCP answers); catalog pages arrive
/// already encoded (see `encoding`), so their bodies are not wrapped.
pub(in crate::http) fn compression() -> CompressionLayer<impl Predicate> {
    CompressionLayer::new()
        .quality(tower_http::CompressionLevel::Fastest)
        .compress_when(DefaultPredicate::new().and(SizeAbove::new(
            crate::http::pages::encoding::MIN_COMPRESS as u16,
        )))
}

/// `HandleErrorLayer` target: load shedding and timeouts become JSON 503s,
/// counted by reason.
fn overloaded(metrics: &Metrics, error: &tower::BoxError) -> ApiError {
    let timed_out = error.is::<tower::timeout::error::Elapsed>();
    if timed_out {
        tracing::warn!("request timed out (REQUEST_TIMEOUT)");
    } else {
        tracing::warn!(error.cause_chain = %error, "request shed");
    }
    metrics.record_overloaded(timed_out);
    ApiError::Overloaded
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

/// `per_minute` requests per client address, as `governor`'s GCRA: a burst
/// of `per_minute`, then one every `60 s / per_minute`.
struct RateLimiter {
    limiter: governor::DefaultKeyedRateLimiter<IpAddr>,
    clock: governor::clock::DefaultClock,
    trust_forwarded_for: bool,
    /// Checks since idle addresses were last forgotten.
    checks: std::sync::atomic::AtomicU32,
}

/// How often the limiter forgets addresses whose allowance is full again
/// (their state says nothing any more): keeps its memory bounded by the
/// clients of the last minute or so.
const FORGET_EVERY: u32 = 4096;

impl RateLimiter {
    fn new(per_minute: u32, trust_forwarded_for: bool) -> Self {
        let per_minute = std::num::NonZeroU32::new(per_minute.max(1)).expect("at least one");
        Self {
            limiter: governor::RateLimiter::keyed(governor::Quota::per_minute(per_minute)),
            clock: governor::clock::DefaultClock::default(),
            trust_forwarded_for,
            checks: std::sync::atomic::AtomicU32::new(0),
        }
    }

    /// `Ok` to proceed, or the whole seconds until the next request is allowed.
    fn check(&self, client: IpAddr) -> Result<(), u64> {
        use governor::clock::Clock;
        if self
            .checks
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            % FORGET_EVERY
            == 0
        {
            self.limiter.retain_recent();
        }
        self.limiter.check_key(&client).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
        })
    }

    fn client(&self, request: &Request) -> Option<IpAddr> {
        client_address(
            request.headers(),
            request.extensions(),
            self.trust_forwarded_for,
        )
    }
}

/// The client's address, keyed as the per-address limits key it: the
/// peer, or behind a trusted proxy the last `X-Forwarded-For` entry.
pub(in crate::http) fn client_address(
    headers: &axum::http::HeaderMap,
    extensions: &axum::http::Extensions,
    trust_forwarded_for: bool,
) -> Option<IpAddr> {
    {
        if trust_forwarded_for {
            let forwarded = headers
                .get_all("x-forwarded-for")
                .iter()
                // Several lines are one list (RFC 9110); a proxy such as
                // HAProxy appends its own line, so the rightmost entry of
                // the last line is the address the trusted proxy saw, and
                // everything before it the client may have written itself.
                .next_back()
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.rsplit(',').next())
                .and_then(|v| v.trim().parse().ok());
            if forwarded.is_some() {
                return forwarded;
            }
        }
        extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
    }
}

async fn rate_limit(
    State(limiter): State<Arc<RateLimiter>>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(client) = limiter.client(&request) {
        if let Err(retry_after) = limiter.check(client) {
            return ApiError::RateLimited(retry_after).into_response();
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;
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
