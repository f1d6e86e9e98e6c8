//! The limits of the routes clients call (never the probes and `/metrics`):
//! the per-address rate limit (`governor`'s keyed GCRA), the request body
//! read (bounded by the route's limit, within `CLIENT_BODY_TIMEOUT`), load
//! shedding, the concurrency limit and `REQUEST_TIMEOUT` (tower's timeout,
//! told apart from shedding in the metrics).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tower::ServiceBuilder;

use crate::http::{ApiError, AppState};
use crate::metrics::Metrics;

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

/// `HandleErrorLayer` target: load shedding and timeouts become JSON 503s,
/// counted by reason.
pub(super) fn overloaded(metrics: &Metrics, error: &tower::BoxError) -> ApiError {
    let timed_out = error.is::<tower::timeout::error::Elapsed>();
    if timed_out {
        tracing::warn!("request timed out (REQUEST_TIMEOUT)");
    } else {
        tracing::warn!(error.cause_chain = %error, "request shed");
    }
    metrics.record_overloaded(timed_out);
    ApiError::Overloaded
}

/// `per_minute` requests per client address, as `governor`'s GCRA: a burst
/// of `per_minute`, then one every `60 s / per_minute`.
pub(super) struct RateLimiter {
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
    pub(super) fn new(per_minute: u32, trust_forwarded_for: bool) -> Self {
        let per_minute = std::num::NonZeroU32::new(per_minute.max(1)).expect("at least one");
        Self {
            limiter: governor::RateLimiter::keyed(governor::Quota::per_minute(per_minute)),
            clock: governor::clock::DefaultClock::default(),
            trust_forwarded_for,
            checks: std::sync::atomic::AtomicU32::new(0),
        }
    }

    /// `Ok` to proceed, or the whole seconds until the next request is allowed.
    pub(super) fn check(&self, client: IpAddr) -> Result<(), u64> {
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
