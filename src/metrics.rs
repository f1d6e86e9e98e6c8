//! A small Prometheus registry. Every label set is bounded: routes are the
//! matched route templates (or `unmatched`), outcomes and drop reasons are
//! enums, partners are the ids in the registry.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use crate::catalog::sync::Outcome;
use crate::catalog::{CatalogStore, DropCounts, DropReason};

const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];
const FETCH_BUCKETS: [f64; 8] = [0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

#[derive(Clone, Debug, Default)]
struct Histogram {
    counts: Vec<u64>,
    /// Kept in whole nanoseconds: a float sum would print noise such as
    /// `0.00019138600000000001`.
    sum_nanos: u128,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, buckets: &[f64], elapsed: Duration) {
        let value = elapsed.as_secs_f64();
        if self.counts.is_empty() {
            self.counts = vec![0; buckets.len()];
        }
        for (slot, bound) in self.counts.iter_mut().zip(buckets) {
            if value <= *bound {
                *slot += 1;
            }
        }
        self.sum_nanos += elapsed.as_nanos();
        self.count += 1;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str, buckets: &[f64]) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (count, bound) in self.counts.iter().zip(buckets) {
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {count}");
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}",
            self.count
        );
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let sum = crate::numbers::round_to(self.sum_nanos as f64 / 1e9, 9);
        let _ = writeln!(out, "{name}_sum{braces} {sum}");
        let _ = writeln!(out, "{name}_count{braces} {}", self.count);
    }
}

/// (method, status) -> latency histogram, for one route.
type ByStatus = HashMap<(&'static str, u16), Histogram>;

#[derive(Default)]
pub struct Metrics {
    /// route -> (method, status) -> latency histogram. Nested so that a
    /// request looks its route up by `&str`, allocating only the first time.
    http: Mutex<HashMap<String, ByStatus>>,
    syncs: [AtomicU64; Outcome::ALL.len()],
    dropped: [AtomicU64; DropReason::ALL.len()],
    fetch: Mutex<Histogram>,
    fetch_bytes: AtomicU64,
    partner_requests: Mutex<BTreeMap<String, u64>>,
    /// Requests answered 503 `overloaded`: [shed at capacity, timed out].
    overloaded: [AtomicU64; 2],
    /// Cached pages compressed: [gzip, br]. Each page is compressed at most
    /// once per encoding; a rate close to the request rate means misses.
    compressions: [AtomicU64; 2],
}

impl Metrics {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn record_http(&self, route: &str, method: &'static str, status: u16, latency: Duration) {
        let mut http = self.http.lock().unwrap_or_else(|e| e.into_inner());
        let by_status = match http.get_mut(route) {
            Some(map) => map,
            None => http.entry(route.to_owned()).or_default(),
        };
        by_status
            .entry((method, status))
            .or_default()
            .observe(&BUCKETS, latency);
    }

    pub fn record_sync(&self, outcome: Outcome) {
        let i = Outcome::ALL.iter().position(|o| *o == outcome).unwrap_or(0);
        self.syncs[i].fetch_add(1, Ordering::Relaxed);
    }

    pub fn record_dropped(&self, counts: &DropCounts) {
        for (i, reason) in DropReason::ALL.iter().enumerate() {
            self.dropped[i].fetch_add(counts.get(*reason), Ordering::Relaxed);
        }
    }

    pub fn record_fetch(&self, elapsed: Duration, bytes: usize) {
        self.fetch
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .observe(&FETCH_BUCKETS, elapsed);
        self.fetch_bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// Counts a request served for a registered partner (ids only, never raw refs).
    pub fn record_partner(&self, partner_id: &str) {
        let mut map = self
            .partner_requests
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        match map.get_mut(partner_id) {
            Some(n) => *n += 1,
            None => {
                map.insert(partner_id.to_owned(), 1);
            }
        }
    }

    /// Counts a request refused by load shedding or the request timeout.
    /// (Rate-limited requests need no counter of their own: they are
    /// `http_requests_total{status="429"}`.)
    pub fn record_compression(&self, encoding: crate::http::encoding::Encoding) {
        use crate::http::encoding::Encoding;
        let slot = match encoding {
            Encoding::Identity => return,
            Encoding::Gzip => 0,
            Encoding::Brotli => 1,
        };
        self.compressions[slot].fetch_add(1, Ordering::Relaxed);
    }

    pub fn record_overloaded(&self, timed_out: bool) {
        self.overloaded[usize::from(timed_out)].fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus text exposition.
    pub fn render(&self, store: &CatalogStore) -> String {
        let mut out = String::with_capacity(8 * 1024);
        out.push_str(
            "# HELP http_requests_total HTTP requests by matched route, method and status.\n",
        );
        out.push_str("# TYPE http_requests_total counter\n");
        let http: BTreeMap<(String, &str, u16), Histogram> = self
            .http
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .flat_map(|(route, map)| {
                map.iter().map(move |((method, status), h)| {
                    ((route.clone(), *method, *status), h.clone())
                })
            })
            .collect();
        for ((route, method, status), h) in &http {
            let _ = writeln!(
                out,
                "http_requests_total{{route=\"{}\",method=\"{method}\",status=\"{status}\"}} {}",
                escape(route),
                h.count
            );
        }
        out.push_str("# HELP http_request_duration_seconds HTTP request latency by matched route, method and status.\n");
        out.push_str("# TYPE http_request_duration_seconds histogram\n");
        for ((route, method, status), h) in &http {
            let labels = format!(
                "route=\"{}\",method=\"{method}\",status=\"{status}\"",
                escape(route)
            );
            h.render(&mut out, "http_request_duration_seconds", &labels, &BUCKETS);
        }

        out.push_str("# HELP cmg_sync_total Catalog refresh attempts by outcome.\n");
        out.push_str("# TYPE cmg_sync_total counter\n");
        for (i, outcome) in Outcome::ALL.iter().enumerate() {
            let _ = writeln!(
                out,
                "cmg_sync_total{{outcome=\"{}\"}} {}",
                outcome.as_str(),
                self.syncs[i].load(Ordering::Relaxed)
            );
        }
        out.push_str(
            "# HELP cmg_plans_dropped_total Upstream plans dropped during validation, by reason.\n",
        );
        out.push_str("# TYPE cmg_plans_dropped_total counter\n");
        for (i, reason) in DropReason::ALL.iter().enumerate() {
            let _ = writeln!(
                out,
                "cmg_plans_dropped_total{{reason=\"{}\"}} {}",
                reason.as_str(),
                self.dropped[i].load(Ordering::Relaxed)
            );
        }
        out.push_str(
            "# HELP cmg_upstream_fetch_duration_seconds Time to fetch the upstream feed body.\n",
        );
        out.push_str("# TYPE cmg_upstream_fetch_duration_seconds histogram\n");
        self.fetch
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .render(
                &mut out,
                "cmg_upstream_fetch_duration_seconds",
                "",
                &FETCH_BUCKETS,
            );
        out.push_str("# HELP cmg_upstream_fetch_bytes_total Bytes of feed bodies received.\n");
        out.push_str("# TYPE cmg_upstream_fetch_bytes_total counter\n");
        let _ = writeln!(
            out,
            "cmg_upstream_fetch_bytes_total {}",
            self.fetch_bytes.load(Ordering::Relaxed)
        );

        let catalog = store.catalog();
        let status = store.status();
        let now = SystemTime::now();
        out.push_str("# HELP cmg_catalog_plans Plans in the catalog being served.\n");
        out.push_str("# TYPE cmg_catalog_plans gauge\n");
        let _ = writeln!(
            out,
            "cmg_catalog_plans {}",
            catalog.as_ref().map_or(0, |c| c.len())
        );
        out.push_str("# HELP cmg_catalog_age_seconds Age of the catalog being served.\n");
        out.push_str("# TYPE cmg_catalog_age_seconds gauge\n");
        if let Some(c) = &catalog {
            let age = now.duration_since(c.updated_at()).unwrap_or_default();
            let _ = writeln!(out, "cmg_catalog_age_seconds {}", age.as_secs());
        }
        out.push_str("# HELP cmg_catalog_stale 1 when the last refresh failed or the catalog came from a snapshot.\n");
        out.push_str("# TYPE cmg_catalog_stale gauge\n");
        let _ = writeln!(out, "cmg_catalog_stale {}", u8::from(status.stale));
        out.push_str(
            "# HELP cmg_catalog_last_success_timestamp_seconds When the last sync succeeded.\n",
        );
        out.push_str("# TYPE cmg_catalog_last_success_timestamp_seconds gauge\n");
        if let Some(at) = status.last_success {
            let secs = at
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "cmg_catalog_last_success_timestamp_seconds {}",
                secs.as_secs()
            );
        }

        out.push_str(
            "# HELP cmg_partner_requests_total Catalog requests served per registered partner.\n",
        );
        out.push_str("# TYPE cmg_partner_requests_total counter\n");
        for (id, n) in self
            .partner_requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "cmg_partner_requests_total{{partner=\"{}\"}} {n}",
                escape(id)
            );
        }
        out.push_str("# HELP cmg_overloaded_total Requests answered 503 overloaded, by reason.\n");
        out.push_str("# TYPE cmg_overloaded_total counter\n");
        for (i, reason) in ["shed", "timeout"].iter().enumerate() {
            let _ = writeln!(
                out,
                "cmg_overloaded_total{{reason=\"{reason}\"}} {}",
                self.overloaded[i].load(Ordering::Relaxed)
            );
        }
        out.push_str("# HELP cmg_page_compressions_total Cached pages compressed, by encoding (each page at most once per encoding).\n");
        out.push_str("# TYPE cmg_page_compressions_total counter\n");
        for (i, encoding) in ["gzip", "br"].iter().enumerate() {
            let _ = writeln!(
                out,
                "cmg_page_compressions_total{{encoding=\"{encoding}\"}} {}",
                self.compressions[i].load(Ordering::Relaxed)
            );
        }
        out
    }
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative() {
        let m = Metrics::new();
        m.record_http("/plans", "GET", 200, Duration::from_micros(300));
        m.record_http("/plans", "GET", 200, Duration::from_millis(30));
        m.record_sync(Outcome::Unauthorized);
        let text = m.render(&CatalogStore::new());
        assert!(
            text.contains("http_requests_total{route=\"/plans\",method=\"GET\",status=\"200\"} 2")
        );
        assert!(text.contains("le=\"0.0005\"} 1"));
        assert!(text.contains("le=\"0.05\"} 2"));
        assert!(text.contains("cmg_sync_total{outcome=\"unauthorized\"} 1"));
        assert!(text.contains("cmg_catalog_plans 0"));
    }
}
