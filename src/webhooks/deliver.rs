//! The sender: claims due messages from the outbox, signs them (Standard
//! Webhooks 1.0), POSTs them through a client that follows no redirect and
//! connects only to the addresses its resolver checked, and stores each
//! attempt's outcome with the next attempt's time.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

use super::Endpoint;
use super::outbox::{self, Claimed, Finished};
use crate::history::{History, HistoryError};

/// The registry's endpoints, swapped on reload; shared with the history
/// write that makes messages.
pub type Endpoints = Arc<ArcSwap<Vec<Endpoint>>>;

/// Retries after the first attempt (SPEC section 11).
pub const SCHEDULE: [Duration; 7] = [
    Duration::from_secs(5),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(5 * 3600),
    Duration::from_secs(10 * 3600),
    Duration::from_secs(10 * 3600),
];
/// Deliveries in flight at most, in all and per endpoint: a slow receiver
/// holds two slots, never the others'.
const IN_FLIGHT: usize = 16;
const PER_ENDPOINT: usize = 2;
/// How often the outbox is polled.
const POLL: Duration = Duration::from_millis(500);
/// Bytes of a receiver's answer kept with an attempt.
const KEPT_RESPONSE: usize = 1024;

#[derive(Clone, Debug)]
pub struct SenderSettings {
    pub timeout: Duration,
    pub allow_private: bool,
    pub schedule: Vec<Duration>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

/// Attempts by outcome and the oldest pending message's age.
#[derive(Clone, Debug, Default)]
pub struct WebhookMetrics {
    attempts: Family<OutcomeLabel, Counter>,
    oldest_pending: Gauge,
}

impl WebhookMetrics {
    pub fn register(&self, registry: &mut Registry) {
        for outcome in ["delivered", "retry", "failed", "refused"] {
            self.attempts.get_or_create_owned(&OutcomeLabel { outcome });
        }
        registry.register(
            "cmg_webhook_attempts",
            "Webhook delivery attempts by outcome (delivered, retry, failed, refused: an address not allowed)",
            self.attempts.clone(),
        );
        registry.register(
            "cmg_webhook_oldest_pending_seconds",
            "Age of the oldest webhook message not delivered yet (0 when none)",
            self.oldest_pending.clone(),
        );
    }
}

pub struct Sender {
    history: Arc<History>,
    endpoints: Endpoints,
    /// Endpoints that answered 410, until the registry is reloaded.
    disabled: Mutex<HashSet<String>>,
    client: reqwest::Client,
    settings: SenderSettings,
    all: Arc<Semaphore>,
    per_endpoint: Mutex<HashMap<String, Arc<Semaphore>>>,
    metrics: WebhookMetrics,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Whether webhooks may connect to `ip` without `WEBHOOK_ALLOW_PRIVATE`:
/// not loopback, private, link-local, unique-local, unspecified, shared
/// (carrier-grade NAT), broadcast or multicast space.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || (a == 100 && (64..128).contains(&b)))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80)
        }
    }
}

/// Resolves, then keeps only the addresses webhooks may reach: the client
/// connects to what this returned, so a name that resolves differently a
/// moment later (DNS rebinding) cannot slip past the check.
struct GuardedResolver {
    allow_private: bool,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = found
                .into_iter()
                .filter(|a| allow_private || is_public(a.ip()))
                .collect();
            if allowed.is_empty() {
                return Err(Box::new(Refused) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[derive(Debug)]
struct Refused;

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the address is loopback, private or link-local (WEBHOOK_ALLOW_PRIVATE is off)")
    }
}

impl std::error::Error for Refused {}

impl Sender {
    pub fn new(
        history: Arc<History>,
        endpoints: Endpoints,
        settings: SenderSettings,
        metrics: WebhookMetrics,
    ) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(settings.timeout)
            .user_agent(concat!("cmg-feed-proxy/", env!("CARGO_PKG_VERSION")))
            .dns_resolver(Arc::new(GuardedResolver {
                allow_private: settings.allow_private,
            }))
            .build()?;
        Ok(Self {
            history,
            endpoints,
            disabled: Mutex::new(HashSet::new()),
            client,
            settings,
            all: Arc::new(Semaphore::new(IN_FLIGHT)),
            per_endpoint: Mutex::new(HashMap::new()),
            metrics,
        })
    }

    /// After a registry reload: endpoints disabled by a 410 are enabled again.
    pub fn registry_reloaded(&self) {
        self.disabled.lock().expect("poisoned").clear();
    }

    pub fn is_enabled(&self, endpoint: &str) -> bool {
        !self.disabled.lock().expect("poisoned").contains(endpoint)
    }

    fn lease_ms(&self) -> i64 {
        self.settings.timeout.as_millis() as i64 + 1000
    }

    /// Polls the outbox until `stop`.
    pub fn spawn(self: &Arc<Self>, mut stop: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
        let sender = self.clone();
        tokio::spawn(async move {
            let mut quiet = false;
            loop {
                match sender.poll_once().await {
                    Ok(()) => quiet = false,
                    Err(e) if !quiet => {
                        quiet = true;
                        tracing::warn!(error.cause_chain = %crate::history::describe(&e), "cannot read the webhook outbox; retrying");
                    }
                    Err(_) => {}
                }
                tokio::select! {
                    _ = tokio::time::sleep(POLL) => {}
                    _ = stop.wait_for(|s| *s) => return,
                }
            }
        })
    }

    async fn poll_once(self: &Arc<Self>) -> Result<(), HistoryError> {
        let pool = self.history.database().await?;
        let oldest = outbox::oldest_pending(&pool).await?;
        self.metrics
            .oldest_pending
            .set(oldest.map_or(0, |at| (now_ms() - at).max(0) / 1000));
        let free = self.all.available_permits();
        // Nothing pending: no write at all (an idle SQLite file stays free
        // for other writers, an idle PostgreSQL untouched).
        if free == 0 || oldest.is_none() {
            return Ok(());
        }
        let claimed = outbox::claim(
            &pool,
            self.history.is_postgres(),
            now_ms(),
            self.lease_ms(),
            free,
        )
        .await?;
        for message in claimed {
            let slot = self.slots(&message.endpoint);
            match slot {
                Some(permits) => {
                    let sender = self.clone();
                    tokio::spawn(async move {
                        let _permits = permits;
                        if let Err(e) = sender.attempt(&message).await {
                            tracing::warn!(error.cause_chain = %crate::history::describe(&e), "cannot store a webhook attempt");
                        }
                    });
                }
                // Its endpoint is busy: give it back for a later poll.
                None => outbox::release(&pool, &message.id).await?,
            }
        }
        Ok(())
    }

    fn slots(&self, endpoint: &str) -> Option<(OwnedSemaphorePermit, OwnedSemaphorePermit)> {
        let per = self
            .per_endpoint
            .lock()
            .expect("poisoned")
            .entry(endpoint.to_owned())
            .or_insert_with(|| Arc::new(Semaphore::new(PER_ENDPOINT)))
            .clone();
        let one = per.try_acquire_owned().ok()?;
        let all = self.all.clone().try_acquire_owned().ok()?;
        Some((one, all))
    }

    /// Sends `id` now (the admin's retry) and returns once the attempt is
    /// stored; `false` when it does not exist or an attempt holds it.
    pub async fn retry_now(&self, id: &str) -> Result<bool, HistoryError> {
        let pool = self.history.database().await?;
        match outbox::claim_one(&pool, id, now_ms(), self.lease_ms()).await? {
            Some(message) => {
                self.attempt(&message).await?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// One attempt of a claimed message, stored with its outcome.
    async fn attempt(&self, message: &Claimed) -> Result<(), HistoryError> {
        let endpoints = self.endpoints.load();
        let endpoint = endpoints.iter().find(|e| e.id == message.endpoint);
        let started = Instant::now();
        let outcome = match endpoint {
            None => Finished {
                status: "failed",
                next_attempt_at: 0,
                http_status: None,
                error: Some("the endpoint is no longer in the registry".into()),
                duration_ms: 0,
                response: None,
            },
            Some(e) if !self.is_enabled(&e.id) => Finished {
                status: "failed",
                next_attempt_at: 0,
                http_status: None,
                error: Some("the endpoint answered 410 Gone and is disabled".into()),
                duration_ms: 0,
                response: None,
            },
            Some(endpoint) => self.send(endpoint, message, started).await,
        };
        let label = match (outcome.status, outcome.error.as_deref()) {
            ("delivered", _) => "delivered",
            (_, Some(e)) if e.contains("WEBHOOK_ALLOW_PRIVATE") => "refused",
            ("pending", _) => "retry",
            _ => "failed",
        };
        self.metrics
            .attempts
            .get_or_create(&OutcomeLabel { outcome: label })
            .inc();
        let pool = self.history.database().await?;
        outbox::finish(&pool, &message.id, now_ms(), &outcome).await?;
        if outcome.http_status == Some(410) {
            if let Some(endpoint) = endpoint {
                self.disabled
                    .lock()
                    .expect("poisoned")
                    .insert(endpoint.id.clone());
                tracing::warn!(partner = %endpoint.partner, url = %endpoint.shown_url(), "webhook endpoint answered 410 Gone: disabled until the registry is reloaded");
                outbox::fail_endpoint(&pool, &endpoint.id, "the endpoint answered 410 Gone")
                    .await?;
            }
        }
        Ok(())
    }

    async fn send(&self, endpoint: &Endpoint, message: &Claimed, started: Instant) -> Finished {
        let timestamp = now_ms() / 1000;
        let signature = endpoint
            .key
            .sign(&message.id, timestamp, message.body.as_bytes());
        // An IP literal is never resolved: check it here.
        let literal = match endpoint.url.host() {
            Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            _ => None,
        };
        let result = if literal.is_some_and(|ip| !self.settings.allow_private && !is_public(ip)) {
            Err(Refused.to_string())
        } else {
            let sent = self
                .client
                .post(endpoint.url.clone())
                .header("content-type", "application/json")
                .header("webhook-id", &message.id)
                .header("webhook-timestamp", timestamp.to_string())
                .header("webhook-signature", signature)
                .body(message.body.clone())
                .send()
                .await;
            match sent {
                Ok(response) => Ok(response),
                Err(e) => Err(describe_send_error(&e)),
            }
        };
        let attempt = message.attempts + 1;
        let retry_at = |after: Duration| {
            let jitter = 0.9 + fastrand::f64() * 0.2;
            now_ms() + (after.as_millis() as f64 * jitter) as i64
        };
        let next = self.settings.schedule.get(attempt as usize - 1).copied();
        match result {
            Ok(response) => {
                let status = response.status();
                let retry_after = response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                let mut kept = Vec::new();
                let mut response = response;
                while kept.len() < KEPT_RESPONSE {
                    match tokio::time::timeout(Duration::from_secs(1), response.chunk()).await {
                        Ok(Ok(Some(chunk))) => kept.extend_from_slice(&chunk),
                        _ => break,
                    }
                }
                kept.truncate(KEPT_RESPONSE);
                let text = (!kept.is_empty()).then(|| String::from_utf8_lossy(&kept).into_owned());
                let duration_ms = started.elapsed().as_millis() as i64;
                let code = status.as_u16();
                if status.is_success() {
                    return Finished {
                        status: "delivered",
                        next_attempt_at: 0,
                        http_status: Some(code),
                        error: None,
                        duration_ms,
                        response: text,
                    };
                }
                let (status_text, next_at) = match (code, next) {
                    (410, _) | (_, None) => ("failed", 0),
                    (429 | 503, Some(after)) => {
                        let honoured = retry_after.filter(|r| *r > after).unwrap_or(after);
                        ("pending", retry_at(honoured))
                    }
                    (_, Some(after)) => ("pending", retry_at(after)),
                };
                Finished {
                    status: status_text,
                    next_attempt_at: next_at,
                    http_status: Some(code),
                    error: Some(format!("answered {code}")),
                    duration_ms,
                    response: text,
                }
            }
            Err(error) => Finished {
                status: if next.is_some() { "pending" } else { "failed" },
                next_attempt_at: next.map_or(0, retry_at),
                http_status: None,
                error: Some(error),
                duration_ms: started.elapsed().as_millis() as i64,
                response: None,
            },
        }
    }
}

/// The class of a failed send, without the URL (it may hold a token).
fn describe_send_error(e: &reqwest::Error) -> String {
    let mut source: Option<&dyn std::error::Error> = Some(e);
    while let Some(s) = source {
        if s.downcast_ref::<Refused>().is_some() {
            return Refused.to_string();
        }
        source = s.source();
    }
    if e.is_timeout() {
        "timed out (WEBHOOK_TIMEOUT)".into()
    } else if e.is_connect() {
        "could not connect".into()
    } else if e.is_redirect() {
        "redirected (redirects are not followed)".into()
    } else {
        "request failed".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_local_addresses_are_not_public() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in [
            "8.8.8.8",
            "1.1.1.1",
            "2606:4700::1111",
            "172.32.0.1",
            "100.128.0.1",
        ] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }
}
