//! The Prometheus registry of one application instance (`GET /metrics`).
//!
//! Built on `prometheus-client`: each [`Metrics`] owns its own [`Registry`], so
//! test apps in one process never share counters (a global recorder would mix
//! them). What the sync measures is defined beside it
//! ([`SyncMetrics`]) and registered here; the
//! catalog gauges are read from the store at scrape time. Every label set is
//! bounded: routes are matched route templates (or `unmatched`), methods a
//! fixed list, outcomes and reasons enums, partners the registry's ids.

use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::extract::MatchedPath;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeLabelSet, EncodeLabelValue, EncodeMetric, LabelValueEncoder,
};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::catalog::CatalogStore;
use crate::markets::RatesStore;
use crate::sync::SyncMetrics;

/// Request latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// The exposition formats `/metrics` can answer in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text 0.0.4: what curl, browsers and older scrapers get.
    Text,
    /// OpenMetrics 1.0, for scrapers that ask for it in `Accept`.
    OpenMetrics,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Text => prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
            Self::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

/// The matched route template, or `unmatched`. Holds axum's [`MatchedPath`]
/// (an `Arc<str>`), so labelling a request copies no text.
#[derive(Clone, Debug)]
pub struct RouteLabel(Option<MatchedPath>);

impl RouteLabel {
    pub fn new(route: Option<MatchedPath>) -> Self {
        Self(route)
    }

    fn as_str(&self) -> &str {
        self.0.as_ref().map_or("unmatched", MatchedPath::as_str)
    }
}

impl PartialEq for RouteLabel {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for RouteLabel {}

impl Hash for RouteLabel {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl EncodeLabelValue for RouteLabel {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        EncodeLabelValue::encode(&self.as_str(), encoder)
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    route: RouteLabel,
    method: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PartnerLabel {
    partner: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RoleLabel {
    role: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EncodingLabel {
    encoding: &'static str,
}

pub struct Metrics {
    registry: Registry,
    http_requests: Family<HttpLabels, Counter>,
    http_duration: Family<HttpLabels, Histogram>,
    partner_requests: Family<PartnerLabel, Counter>,
    /// Requests answered 503 `overloaded`, by `shed` (at capacity) or
    /// `timeout`. Rate-limited requests need no counter of their own: they
    /// are `http_requests_total{status="429"}`.
    overloaded: Family<ReasonLabel, Counter>,
    /// Cached pages compressed, by encoding. Each page is compressed at most
    /// once per encoding; a rate close to the request rate means misses.
    compressions: Family<EncodingLabel, Counter>,
    /// The sync role: 1 for the current one.
    role: Family<RoleLabel, prometheus_client::metrics::gauge::Gauge>,
}

impl Metrics {
    /// A registry holding the HTTP metrics, `sync`'s metrics and the gauges
    /// of `store`'s catalog.
    pub fn new(store: Arc<CatalogStore>, sync: &SyncMetrics) -> Self {
        let mut registry = Registry::default();
        let http_requests = Family::<HttpLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by matched route, method and status",
            http_requests.clone(),
        );
        let http_duration =
            Family::<HttpLabels, Histogram>::new_with_constructor(|| Histogram::new(BUCKETS));
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by matched route, method and status",
            http_duration.clone(),
        );
        sync.register(&mut registry);
        registry.register_collector(Box::new(CatalogGauges(store)));
        let partner_requests = Family::<PartnerLabel, Counter>::default();
        registry.register(
            "cmg_partner_requests",
            "Catalog requests served per registered partner",
            partner_requests.clone(),
        );
        let overloaded = Family::<ReasonLabel, Counter>::default();
        registry.register(
            "cmg_overloaded",
            "Requests answered 503 overloaded, by reason",
            overloaded.clone(),
        );
        let compressions = Family::<EncodingLabel, Counter>::default();
        registry.register(
            "cmg_page_compressions",
            "Cached pages compressed, by encoding (each page at most once per encoding)",
            compressions.clone(),
        );
        // The sync role (SPEC section 13): `single` until a fleet elects.
        let role = Family::<RoleLabel, prometheus_client::metrics::gauge::Gauge>::default();
        for (name, value) in [("leader", 0), ("follower", 0), ("single", 1)] {
            role.get_or_create(&RoleLabel { role: name }).set(value);
        }
        registry.register(
            "cmg_sync_role",
            "The instance's sync role: 1 for the current one (leader, follower or single)",
            role.clone(),
        );
        // Known label values start at zero, so a rate() has a baseline.
        for reason in ["shed", "timeout"] {
            overloaded.get_or_create_owned(&ReasonLabel { reason });
        }
        for encoding in ["gzip", "br"] {
            compressions.get_or_create_owned(&EncodingLabel { encoding });
        }
        Self {
            registry,
            http_requests,
            http_duration,
            partner_requests,
            overloaded,
            compressions,
            role,
        }
    }

    /// Keeps `cmg_sync_role` on the fleet role as it changes.
    pub fn follow_role(&self, mut roles: tokio::sync::watch::Receiver<crate::sync::Role>) {
        let family = self.role.clone();
        let set = move |current: crate::sync::Role| {
            for role in crate::sync::Role::ALL {
                family
                    .get_or_create(&RoleLabel {
                        role: role.as_str(),
                    })
                    .set(i64::from(role == current));
            }
        };
        set(*roles.borrow_and_update());
        tokio::spawn(async move {
            while roles.changed().await.is_ok() {
                set(*roles.borrow_and_update());
            }
        });
    }

    /// Registers the click log's metrics (SPEC section 10).
    pub fn with_clicks(mut self, clicks: &crate::clicks::ClickMetrics) -> Self {
        clicks.register(&mut self.registry);
        self
    }

    /// Registers the age of the display-currency rates in force (SPEC
    /// section 12), for alerting on rates that stopped coming.
    pub fn with_rates(mut self, rates: Arc<RatesStore>) -> Self {
        self.registry
            .register_collector(Box::new(RatesGauges(rates)));
        self
    }

    /// Registers the webhook sender's metrics (SPEC section 11).
    pub fn with_webhooks(mut self, webhooks: &crate::webhooks::deliver::WebhookMetrics) -> Self {
        webhooks.register(&mut self.registry);
        self
    }

    pub fn record_http(
        &self,
        route: RouteLabel,
        method: &'static str,
        status: u16,
        latency: Duration,
    ) {
        let labels = HttpLabels {
            route,
            method,
            status,
        };
        self.http_requests.get_or_create(&labels).inc();
        self.http_duration
            .get_or_create(&labels)
            .observe(latency.as_secs_f64());
    }

    /// Counts a request served for a registered partner (ids only, never raw refs).
    pub fn record_partner(&self, partner_id: &str) {
        let labels = PartnerLabel {
            partner: partner_id.to_owned(),
        };
        self.partner_requests.get_or_create(&labels).inc();
    }

    /// Counts a cached page compressed with `encoding` (`gzip` or `br`).
    pub fn record_compression(&self, encoding: &'static str) {
        self.compressions
            .get_or_create(&EncodingLabel { encoding })
            .inc();
    }

    /// Counts a request refused by load shedding or the request timeout.
    pub fn record_overloaded(&self, timed_out: bool) {
        let reason = if timed_out { "timeout" } else { "shed" };
        self.overloaded.get_or_create(&ReasonLabel { reason }).inc();
    }

    /// The exposition in `format`.
    pub fn render(&self, format: Format) -> String {
        let mut out = String::with_capacity(8 * 1024);
        let written = match format {
            Format::Text => {
                prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry)
            }
            Format::OpenMetrics => {
                prometheus_client::encoding::text::encode(&mut out, &self.registry)
            }
        };
        // Writing into a String cannot fail; our own encoders return Ok.
        debug_assert!(written.is_ok());
        out
    }
}

/// The catalog gauges, read from the store on each scrape (never stale).
struct CatalogGauges(Arc<CatalogStore>);

impl std::fmt::Debug for CatalogGauges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CatalogGauges")
    }
}

impl Collector for CatalogGauges {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let view = self.0.view();
        let now = SystemTime::now();
        let mut gauge =
            |name: &str, help: &str, value: i64| encode_gauge(&mut encoder, name, help, value);
        let plans = view.catalog.as_ref().map_or(0, |c| c.len());
        gauge(
            "cmg_catalog_plans",
            "Plans in the catalog being served.",
            i64::try_from(plans).unwrap_or(i64::MAX),
        )?;
        if let Some(catalog) = &view.catalog {
            let age = now.duration_since(catalog.updated_at()).unwrap_or_default();
            gauge(
                "cmg_catalog_age_seconds",
                "Age of the catalog being served.",
                seconds(age),
            )?;
        }
        gauge(
            "cmg_catalog_stale",
            "1 when the last refresh failed or the catalog came from a snapshot.",
            i64::from(view.status.stale),
        )?;
        if let Some(at) = view.status.last_success {
            let since_epoch = at
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default();
            gauge(
                "cmg_catalog_last_success_timestamp_seconds",
                "When the last sync succeeded.",
                seconds(since_epoch),
            )?;
        }
        Ok(())
    }
}

/// `cmg_rates_age_seconds`: since 00:00 UTC of the day the rates in force
/// are for; absent without rates. The ECB publishes on business days
/// around 16:00 CET, so up to about 3.7 days is normal (a long weekend).
struct RatesGauges(Arc<RatesStore>);

impl std::fmt::Debug for RatesGauges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RatesGauges")
    }
}

impl Collector for RatesGauges {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(rates) = self.0.get() else {
            return Ok(());
        };
        let Ok(day) = humantime::parse_rfc3339(&format!("{}T00:00:00Z", rates.date())) else {
            return Ok(());
        };
        let age = SystemTime::now().duration_since(day).unwrap_or_default();
        encode_gauge(
            &mut encoder,
            "cmg_rates_age_seconds",
            "Seconds since the start (00:00 UTC) of the day the display-currency rates in force are for.",
            seconds(age),
        )
    }
}

/// One gauge computed at scrape time.
fn encode_gauge(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: i64,
) -> Result<(), std::fmt::Error> {
    let gauge = ConstGauge::new(value);
    let metric = encoder.encode_descriptor(name, help, None, gauge.metric_type())?;
    gauge.encode(metric)
}

fn seconds(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Outcome;

    fn metrics() -> (Metrics, SyncMetrics) {
        let sync = SyncMetrics::default();
        (Metrics::new(Arc::new(CatalogStore::new()), &sync), sync)
    }

    #[test]
    fn histograms_are_cumulative_and_labels_bounded() {
        let (m, sync) = metrics();
        m.record_http(
            RouteLabel::new(None),
            "GET",
            404,
            Duration::from_micros(300),
        );
        m.record_http(RouteLabel::new(None), "GET", 404, Duration::from_millis(30));
        sync.record_outcome(Outcome::Unauthorized);
        let text = m.render(Format::Text);
        for needle in [
            "# TYPE http_requests_total counter",
            "http_requests_total{route=\"unmatched\",method=\"GET\",status=\"404\"} 2",
            "le=\"0.0005\"} 1",
            "le=\"0.05\"} 2",
            "cmg_sync_total{outcome=\"unauthorized\"} 1",
            "cmg_sync_total{outcome=\"ok\"} 0",
            "cmg_catalog_plans 0",
            "cmg_catalog_stale 0",
            "cmg_overloaded_total{reason=\"timeout\"} 0",
        ] {
            assert!(text.contains(needle), "{needle} in\n{text}");
        }
        assert!(!text.contains("# EOF"), "the classic format has no EOF");
        assert!(
            !text.contains("cmg_catalog_age_seconds"),
            "no catalog, no age"
        );
    }

    #[test]
    fn the_rates_age_counts_from_their_day() {
        let (m, _) = metrics();
        let rates = Arc::new(RatesStore::new());
        let m = m.with_rates(rates.clone());
        assert!(!m.render(Format::Text).contains("cmg_rates_age_seconds"));
        let builtin = crate::markets::Rates::builtin();
        let day = humantime::parse_rfc3339(&format!("{}T00:00:00Z", builtin.date())).unwrap();
        rates.publish(builtin);
        let text = m.render(Format::Text);
        let shown: u64 = text
            .lines()
            .find_map(|l| l.strip_prefix("cmg_rates_age_seconds "))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{text}"));
        let expected = SystemTime::now().duration_since(day).unwrap().as_secs();
        assert!(shown.abs_diff(expected) <= 1, "{shown} vs {expected}");
    }

    #[test]
    fn openmetrics_ends_with_eof() {
        let (m, _) = metrics();
        let text = m.render(Format::OpenMetrics);
        assert!(text.ends_with("# EOF\n"), "{text}");
        assert!(text.contains("# TYPE cmg_sync counter"), "{text}");
    }

    #[test]
    fn apps_do_not_share_counters() {
        let (a, _) = metrics();
        let (b, _) = metrics();
        a.record_overloaded(true);
        assert!(
            a.render(Format::Text)
                .contains("cmg_overloaded_total{reason=\"timeout\"} 1")
        );
        assert!(
            b.render(Format::Text)
                .contains("cmg_overloaded_total{reason=\"timeout\"} 0")
        );
    }
}
